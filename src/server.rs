//! The client-facing listener: accept loop with a connection cap, TLS
//! when configured (the handshake runs in the connection's own task), the
//! hit path first for HTTP/1.1, then HTTP/1.1, h2c and h2 (by ALPN) on one
//! port (hyper-util `auto`), header read timeout, and a graceful drain on
//! shutdown.

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
use tokio::sync::{Semaphore, watch};

use crate::body::ProxyBody;
use crate::config::ServerConfig;
use crate::hit_path::{self, Outcome, Protocol, Rewind};
use crate::proxy::Proxy;
use crate::tls::{self, Acceptor};
use crate::write_timeout::WriteTimeout;

/// Most header lines in one HTTP/1 request.
const MAX_HEADER_LINES: usize = 200;

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
    let hits = proxy.clone();
    let handler = move |request, peer| proxy.clone().handle(request, peer);
    accept_loop(listener, handler, Some(hits), tls, config, shutdown).await;
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
    accept_loop(listener, handler, None, tls, config, shutdown).await;
}

async fn accept_loop<H, F>(
    listener: TcpListener,
    handler: H,
    hits: Option<Proxy>,
    tls: Option<Acceptor>,
    config: &ServerConfig,
    shutdown: impl Future<Output = ()>,
) where
    H: Fn(Request<Incoming>, SocketAddr) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Result<Response<ProxyBody>, Infallible>> + Send + 'static,
{
    let builders = Arc::new(Builders::new(config));
    let metrics = hits.as_ref().map(Proxy::metrics_handle);
    let permits = Arc::new(Semaphore::new(config.max_connections));
    let graceful = GracefulShutdown::new();
    // Tells connections still on the hit path to wind down; hyper's are
    // told by `graceful`.
    let (stop, stopped) = watch::channel(false);
    tokio::pin!(shutdown);
    loop {
        // Wait for a free slot before accepting, so excess connections
        // queue in the kernel backlog instead of costing us memory.
        let permit = tokio::select! {
            permit = permits.clone().acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
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
            tls: None,
        };
        let (handler, hits, tls) = (handler.clone(), hits.clone(), tls.clone());
        tokio::spawn(async move {
            match tls {
                None => connection.serve(stream, hits, handler).await,
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
        let hits = if accepted.h2 { None } else { hits };
        self.serve(accepted.stream, hits, handler).await;
    }

    /// Serves the connection to its end: on the hit path first (when
    /// `hits` is given), then with hyper if the hit path hands it over.
    async fn serve<S, H, F>(self, stream: S, hits: Option<Proxy>, handler: H)
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
        H: Fn(Request<Incoming>, SocketAddr) -> F + Clone + Send + Sync + 'static,
        F: Future<Output = Result<Response<ProxyBody>, Infallible>> + Send + 'static,
    {
        let service = connection_service(handler, self.peer, self.tls.clone());
        let (io, protocol) = match hits {
            Some(proxy) => {
                let serving = hit_path::Serving {
                    proxy: &proxy,
                    peer: self.peer,
                    http1: &self.builders.http1,
                    header_read_timeout: self.header_read_timeout,
                    tls: self.tls.as_ref(),
                };
                match hit_path::serve(stream, serving, self.stopped.clone()).await {
                    Outcome::Closed => return,
                    Outcome::HandOff(io, protocol) => (io, protocol),
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
                let connection = builders.auto.serve_connection(io, service);
                self.watcher.watch(connection.into_owned()).await
            }
        };
        if let Err(err) = ended {
            tracing::debug!(peer = %self.peer, %err, "connection ended with an error");
        }
    }
}

/// The hyper service of one connection: `handler`, with what TLS told
/// about the client in each request's extensions (the way hyper carries
/// per-connection facts).
fn connection_service<H, F>(
    handler: H,
    peer: SocketAddr,
    tls: Option<tls::Peer>,
) -> impl Service<Request<Incoming>, Response = Response<ProxyBody>, Error = Infallible, Future = F>
+ Clone
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
        handler(request, peer)
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
        auto.http2()
            .timer(TokioTimer::new())
            .max_header_list_size(u32::try_from(read_buffer).unwrap_or(u32::MAX));
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
