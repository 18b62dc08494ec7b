//! The client-facing listener: accept loop with one connection budget
//! for the process (past it a connection is closed at once, not queued
//! out of sight), TLS when configured (the handshake runs in the
//! connection's own task), the hit path first for HTTP/1.1, then
//! HTTP/1.1, h2c and h2 (by ALPN) on one port (hyper-util `auto`), a
//! bounded idle life on every protocol (header read timeout between
//! HTTP/1 requests; GOAWAY after `server.idle_timeout` without an open
//! HTTP/2 stream; keep-alive PINGs for dead peers), and a graceful drain
//! on shutdown.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::{Service, service_fn};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, watch};

use crate::body::ProxyBody;
use crate::config::ServerConfig;
use crate::hit_path::{self, Outcome, Protocol, Rewind};
use crate::metrics::Metrics;
use crate::proxy::Proxy;
use crate::tls::{self, Acceptor};
use crate::write_timeout::WriteTimeout;

mod open;

use open::{OpenConnections, OpenGuard, Speaks};

/// Most header lines in one HTTP/1 request.
const MAX_HEADER_LINES: usize = 200;

/// Most concurrent streams one HTTP/2 client may open (nginx's
/// `http2_max_concurrent_streams` is 128).
const MAX_CONCURRENT_STREAMS: u32 = 128;

/// Streams an HTTP/2 client may reset before the server accepted them,
/// pending at once: past it the connection is closed (the "rapid reset"
/// attack, CVE-2023-44487; hyper's default, stated).
const MAX_PENDING_RESET_STREAMS: usize = 20;

/// How long an idle HTTP/2 connection told to go away (GOAWAY) may take
/// to close before it is dropped: a peer that answers nothing must not
/// hold its place.
const IDLE_CLOSE_GRACE: Duration = Duration::from_secs(5);

/// How often a rejected connection is logged at most.
const REFUSED_LOG_INTERVAL: Duration = Duration::from_secs(10);

/// The process's one budget of client connections
/// (`server.max_connections`), shared by every worker's listener: a full
/// worker does not leave its connections queued while another has room.
#[derive(Clone)]
pub struct Budget(Arc<Semaphore>);

impl Budget {
    /// At most `max` connections at once.
    pub fn new(max: usize) -> Budget {
        Budget(Arc::new(Semaphore::new(max)))
    }

    /// A place, if one is free now.
    fn take(&self) -> Option<OwnedSemaphorePermit> {
        self.0.clone().try_acquire_owned().ok()
    }
}

/// Serves `proxy` on `listener` until `shutdown` completes, then stops
/// accepting and gives in-flight requests `server.shutdown_grace` to end.
/// Connections start on the hit path and move to hyper when they need it.
pub async fn run(
    listener: TcpListener,
    proxy: Proxy,
    config: &ServerConfig,
    shutdown: impl Future<Output = ()>,
) {
    run_with(listener, proxy, config, None, shutdown).await;
}

/// As [`run`], over TLS when `tls` is given: HTTP/1.1 connections (ALPN
/// `http/1.1` or none) start on the hit path as plain ones do; `h2` ones
/// go to hyper.
pub async fn run_with(
    listener: TcpListener,
    proxy: Proxy,
    config: &ServerConfig,
    tls: Option<Acceptor>,
    shutdown: impl Future<Output = ()>,
) {
    let budget = Budget::new(config.max_connections);
    run_within(listener, proxy, config, tls, budget, shutdown).await;
}

/// As [`run_with`], within a connection budget shared with other
/// listeners (the workers').
pub async fn run_within(
    listener: TcpListener,
    proxy: Proxy,
    config: &ServerConfig,
    tls: Option<Acceptor>,
    budget: Budget,
    shutdown: impl Future<Output = ()>,
) {
    proxy.operator().mark_serving();
    let hits = proxy.clone();
    let handler = move |request, peer| proxy.clone().handle(request, peer);
    let metrics = hits.metrics_handle();
    let limits = Limits {
        budget,
        open: Some(metrics.counters(OpenConnections::register)),
        metrics: Some(metrics),
    };
    accept_loop(listener, handler, Some(hits), tls, config, limits, shutdown).await;
}

/// What bounds a listener's connections, and where refusals are counted.
struct Limits {
    budget: Budget,
    metrics: Option<Arc<Metrics>>,
    /// Where open connections are counted (the proxy's listener only).
    open: Option<Arc<OpenConnections>>,
}

/// The accept loop for any handler (the admin API), every connection
/// served by hyper, over TLS when `tls` is given.
pub async fn serve<H, F>(
    listener: TcpListener,
    handler: H,
    config: &ServerConfig,
    tls: Option<Acceptor>,
    shutdown: impl Future<Output = ()>,
) where
    H: Fn(Request<Incoming>, SocketAddr) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Result<Response<ProxyBody>, Infallible>> + Send + 'static,
{
    let limits = Limits {
        budget: Budget::new(config.max_connections),
        metrics: None,
        open: None,
    };
    accept_loop(listener, handler, None, tls, config, limits, shutdown).await;
}

async fn accept_loop<H, F>(
    listener: TcpListener,
    handler: H,
    hits: Option<Proxy>,
    tls: Option<Acceptor>,
    config: &ServerConfig,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) where
    H: Fn(Request<Incoming>, SocketAddr) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Result<Response<ProxyBody>, Infallible>> + Send + 'static,
{
    let builders = Arc::new(Builders::new(config));
    let metrics = limits.metrics;
    let graceful = GracefulShutdown::new();
    // Tells connections still on the hit path (and hyper's, which watch
    // for it to send GOAWAY) to wind down.
    let (stop, stopped) = watch::channel(false);
    let mut last_refusal_logged: Option<tokio::time::Instant> = None;
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    tracing::warn!(%err, "accept failed");
                    backoff_after_accept_error().await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // Past the budget the connection is closed at once: the client
        // learns now, instead of waiting in a backlog nobody drains.
        let Some(permit) = limits.budget.take() else {
            if let Some(metrics) = &metrics {
                metrics.record_connection_refused();
            }
            let now = tokio::time::Instant::now();
            if last_refusal_logged.is_none_or(|at| now - at >= REFUSED_LOG_INTERVAL) {
                last_refusal_logged = Some(now);
                tracing::warn!(
                    max_connections = config.max_connections,
                    %peer,
                    "server.max_connections are open: refusing new connections"
                );
            }
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        // Under TLS too: a client that reads nothing stalls the
        // handshake's and the records' writes alike.
        let stream = WriteTimeout::new(stream, config.write_timeout, metrics.clone());
        let connection = Connection {
            peer,
            builders: builders.clone(),
            // Taken now, before any shutdown: the drain then waits for
            // this connection too, whichever path it is on.
            watcher: graceful.watcher(),
            stopped: stopped.clone(),
            header_read_timeout: config.header_read_timeout,
            max_header_bytes: config.max_header_bytes,
            idle_timeout: config.idle_timeout,
            metrics: metrics.clone(),
            open: limits.open.clone(),
            tls: None,
        };
        let (handler, hits, tls) = (handler.clone(), hits.clone(), tls.clone());
        tokio::spawn(async move {
            match tls {
                None => connection.serve(stream, hits, handler, Speaks::Http1).await,
                Some(tls) => connection.serve_tls(&tls, stream, hits, handler).await,
            }
            drop(permit);
        });
    }
    drop(listener);
    let _ = stop.send(true);
    drain(graceful, config.shutdown_grace).await;
}

/// One accepted client connection and what serving it needs.
struct Connection {
    peer: SocketAddr,
    builders: Arc<Builders>,
    watcher: Watcher,
    stopped: watch::Receiver<bool>,
    header_read_timeout: Duration,
    /// `server.max_header_bytes`: the limit on a request head.
    max_header_bytes: usize,
    /// How long an HTTP/2 connection may stay open without a stream.
    idle_timeout: Duration,
    /// Where idle closes are counted (the proxy's listener only).
    metrics: Option<Arc<Metrics>>,
    /// Where the connection is counted open (the proxy's listener only).
    open: Option<Arc<OpenConnections>>,
    /// What TLS told about the client (`None`: plain HTTP).
    tls: Option<tls::Peer>,
}

impl Connection {
    /// Runs the TLS handshake (failures are counted by the acceptor and
    /// end the connection), then serves it: HTTP/2 by ALPN with hyper,
    /// anything else as a plain connection would be.
    async fn serve_tls<S, H, F>(
        mut self,
        tls: &Acceptor,
        stream: S,
        hits: Option<Proxy>,
        handler: H,
    ) where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
        H: Fn(Request<Incoming>, SocketAddr) -> F + Clone + Send + Sync + 'static,
        F: Future<Output = Result<Response<ProxyBody>, Infallible>> + Send + 'static,
    {
        let Some(accepted) = tls.accept(stream).await else {
            return;
        };
        self.tls = Some(accepted.peer);
        let (hits, speaks) = if accepted.h2 {
            (None, Speaks::H2)
        } else {
            (hits, Speaks::Http1)
        };
        self.serve(accepted.stream, hits, handler, speaks).await;
    }

    /// Serves the connection to its end: on the hit path first (when
    /// `hits` is given), then with hyper if the hit path hands it over.
    /// It is counted open, as speaking `speaks` (or h2c once its first
    /// bytes say so), until this returns.
    async fn serve<S, H, F>(self, stream: S, hits: Option<Proxy>, handler: H, speaks: Speaks)
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
        H: Fn(Request<Incoming>, SocketAddr) -> F + Clone + Send + Sync + 'static,
        F: Future<Output = Result<Response<ProxyBody>, Infallible>> + Send + 'static,
    {
        let mut open: Option<OpenGuard> = self
            .open
            .as_ref()
            .map(|gauges| gauges.open(speaks, self.tls.is_some()));
        let streams = Streams::default();
        let service = connection_service(handler, self.peer, self.tls.clone(), streams.clone());
        let (io, protocol) = match hits {
            Some(proxy) => {
                let serving = hit_path::Serving {
                    proxy: &proxy,
                    peer: self.peer,
                    http1: &self.builders.http1,
                    header_read_timeout: self.header_read_timeout,
                    tls: self.tls.as_ref(),
                    max_header_bytes: self.max_header_bytes,
                };
                match hit_path::serve(stream, serving, self.stopped.clone()).await {
                    Outcome::Closed => return,
                    Outcome::HandOff(io, protocol) => {
                        // The hit path hands over `Any` only for HTTP/2's
                        // preface: h2c.
                        if let (Protocol::Any, Some(open)) = (protocol, open.as_mut()) {
                            open.now_speaks(Speaks::H2);
                        }
                        (io, protocol)
                    }
                }
            }
            None => (Rewind::new(stream, Bytes::new()), Protocol::Any),
        };
        let io = TokioIo::new(io);
        let builders = &self.builders;
        let ended = match protocol {
            // The drain has begun, and the hit path has read a request it
            // does not answer: a graceful shutdown now would close the
            // connection before hyper reads it. Answer it, then close; the
            // watcher, held until then, keeps the drain waiting for it.
            Protocol::Http1 if *self.stopped.borrow() => {
                let ended = builders.closing.serve_connection(io, service).await;
                drop(self.watcher);
                ended.map_err(Into::into)
            }
            Protocol::Http1 => self
                .watcher
                .watch(builders.http1.serve_connection(io, service))
                .await
                .map_err(Into::into),
            Protocol::Any => {
                let connection = builders.auto.serve_connection(io, service).into_owned();
                let ended = self
                    .until_idle(connection, streams, |c| c.graceful_shutdown())
                    .await;
                drop(self.watcher);
                ended
            }
        };
        if let Err(err) = ended {
            tracing::debug!(peer = %self.peer, %err, "connection ended with an error");
        }
        drop(open);
    }
}

impl Connection {
    /// Serves an `auto` (HTTP/2 or HTTP/1) connection until it ends: told
    /// to go away (GOAWAY) once it has had no open stream for
    /// `idle_timeout`, or when shutdown begins; an idle one that does not
    /// close within [`IDLE_CLOSE_GRACE`] of that is dropped.
    async fn until_idle<C, E>(
        &self,
        connection: C,
        streams: Streams,
        go_away: fn(std::pin::Pin<&mut C>),
    ) -> Result<(), E>
    where
        C: Future<Output = Result<(), E>>,
    {
        tokio::pin!(connection);
        let idle = streams.idle_for(self.idle_timeout);
        tokio::pin!(idle);
        let mut stopped = self.stopped.clone();
        let mut closing_since_idle = false;
        let mut stopping = false;
        // Armed once the connection is told to go away for idleness.
        let give_up = tokio::time::sleep(IDLE_CLOSE_GRACE);
        tokio::pin!(give_up);
        loop {
            tokio::select! {
                ended = connection.as_mut() => return ended,
                () = &mut idle, if !closing_since_idle && !stopping => {
                    if let Some(metrics) = &self.metrics {
                        metrics.record_idle_closed();
                    }
                    tracing::debug!(peer = %self.peer, "idle connection: GOAWAY");
                    go_away(connection.as_mut());
                    closing_since_idle = true;
                    give_up.as_mut().reset(tokio::time::Instant::now() + IDLE_CLOSE_GRACE);
                }
                _ = stopped.wait_for(|stop| *stop), if !stopping => {
                    if !closing_since_idle {
                        go_away(connection.as_mut());
                    }
                    stopping = true;
                }
                // Streams the client opened before it saw the GOAWAY are
                // served to their end; only a connection with none is
                // dropped.
                () = &mut give_up, if closing_since_idle => {
                    if streams.open_now() == 0 {
                        return Ok(());
                    }
                    give_up.as_mut().reset(tokio::time::Instant::now() + IDLE_CLOSE_GRACE);
                }
            }
        }
    }
}

/// The streams (requests whose response is not yet done with) open on
/// one connection, so it can be closed once it has had none for a while.
#[derive(Clone, Default)]
struct Streams(Arc<watch::Sender<usize>>);

/// An open stream; dropping it (with the response body) closes it.
struct StreamGuard(Streams);

impl Drop for StreamGuard {
    fn drop(&mut self) {
        (self.0)
            .0
            .send_modify(|open| *open = open.saturating_sub(1));
    }
}

impl Streams {
    /// Streams open now.
    fn open_now(&self) -> usize {
        *self.0.borrow()
    }

    fn open(&self) -> StreamGuard {
        self.0.send_modify(|open| *open += 1);
        StreamGuard(self.clone())
    }

    /// Completes once no stream has been open for `idle`.
    async fn idle_for(&self, idle: Duration) {
        let mut open = self.0.subscribe();
        loop {
            if open.wait_for(|n| *n == 0).await.is_err() {
                return;
            }
            tokio::select! {
                () = tokio::time::sleep(idle) => return,
                changed = open.changed() => if changed.is_err() { return },
            }
        }
    }
}

/// A response body that keeps its stream counted open until it is done
/// with.
struct Counted {
    body: ProxyBody,
    _stream: StreamGuard,
}

impl http_body::Body for Counted {
    type Data = Bytes;
    type Error = crate::body::BoxError;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        std::pin::Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

/// The hyper service of one connection: `handler`, with what TLS told
/// about the client in each request's extensions (the way hyper carries
/// per-connection facts), each request counted as an open stream until
/// its response body is done with.
fn connection_service<H, F>(
    handler: H,
    peer: SocketAddr,
    tls: Option<tls::Peer>,
    streams: Streams,
) -> impl Service<
    Request<Incoming>,
    Response = Response<Counted>,
    Error = Infallible,
    Future = impl Future<Output = Result<Response<Counted>, Infallible>> + Send + 'static,
> + Clone
+ Send
+ 'static
where
    H: Fn(Request<Incoming>, SocketAddr) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Result<Response<ProxyBody>, Infallible>> + Send + 'static,
{
    service_fn(move |mut request: Request<Incoming>| {
        if let Some(tls) = &tls {
            request.extensions_mut().insert(tls.clone());
        }
        let stream = streams.open();
        let answered = handler(request, peer);
        async move {
            let response = answered.await?;
            Ok(response.map(|body| Counted {
                body,
                _stream: stream,
            }))
        }
    })
}

/// Lets in-flight requests finish, at most `grace`.
async fn drain(graceful: GracefulShutdown, grace: Duration) {
    tracing::info!(grace = ?grace, "shutting down: draining connections");
    tokio::select! {
        () = graceful.shutdown() => tracing::info!("all connections closed"),
        () = tokio::time::sleep(grace) => tracing::warn!("grace period over; closing remaining connections"),
    }
}

/// hyper's connection builders, set up alike: `auto` (HTTP/1.1 or h2c,
/// by the first bytes), HTTP/1 alone, and HTTP/1 for one last request.
struct Builders {
    auto: auto::Builder<TokioExecutor>,
    http1: http1::Builder,
    closing: http1::Builder,
}

impl Builders {
    fn new(config: &ServerConfig) -> Builders {
        // Larger than `max_header_bytes` so that the proxy, not hyper,
        // judges oversized headers and answers 431 with a JSON body (the
        // hit path reads a first head up to the same size).
        let read_buffer = hit_path::read_buffer_size(config.max_header_bytes);
        let mut auto = auto::Builder::new(TokioExecutor::new());
        // hyper's default vectored writes: fresh hits do not come this way
        // (the hit path writes them itself), and for the bodies that do,
        // queueing chunks beats copying them into one buffer.
        auto.http1()
            .timer(TokioTimer::new())
            .header_read_timeout(config.header_read_timeout)
            .keep_alive(true)
            .max_buf_size(read_buffer)
            .max_headers(MAX_HEADER_LINES);
        // Dead peers are found by PINGs: half the idle timeout apart, each
        // answered within as long (at least 1 s, at most 30 s).
        let ping = (config.idle_timeout / 2).clamp(Duration::from_secs(1), Duration::from_secs(30));
        auto.http2()
            .timer(TokioTimer::new())
            .max_header_list_size(u32::try_from(read_buffer).unwrap_or(u32::MAX))
            .max_concurrent_streams(MAX_CONCURRENT_STREAMS)
            .max_pending_accept_reset_streams(MAX_PENDING_RESET_STREAMS)
            .keep_alive_interval(ping)
            .keep_alive_timeout(ping);
        let mut http1 = http1::Builder::new();
        http1
            .timer(TokioTimer::new())
            .header_read_timeout(config.header_read_timeout)
            .keep_alive(true)
            .max_buf_size(read_buffer)
            .max_headers(MAX_HEADER_LINES);
        let mut closing = http1.clone();
        closing.keep_alive(false);
        Builders {
            auto,
            http1,
            closing,
        }
    }
}

/// Accept errors are mostly EMFILE/ENFILE: give the system a moment.
async fn backoff_after_accept_error() {
    tokio::time::sleep(Duration::from_millis(50)).await;
}
