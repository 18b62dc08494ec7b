//! The client-facing listener: accept loop with a connection cap, the hit
//! path first, then HTTP/1.1 and h2c on one port (hyper-util `auto`),
//! header read timeout, and a graceful drain on shutdown.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};

use crate::body::ProxyBody;
use crate::config::ServerConfig;
use crate::hit_path::{self, Outcome, Rewind};
use crate::proxy::Proxy;

/// hyper's own read buffer: larger than `max_header_bytes` so that the
/// proxy, not hyper, judges oversized headers and answers 431 with a JSON
/// body; past this hyper answers a bare 431 by itself.
const READ_BUFFER_FACTOR: usize = 4;
const MIN_READ_BUFFER: usize = 64 * 1024;
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
    let hits = proxy.clone();
    let handler = move |request, peer| proxy.clone().handle(request, peer);
    accept_loop(listener, handler, Some(hits), config, shutdown).await;
}

/// The accept loop for any handler (the admin API), every connection
/// served by hyper.
pub async fn serve<H, F>(
    listener: TcpListener,
    handler: H,
    config: &ServerConfig,
    shutdown: impl Future<Output = ()>,
) where
    H: Fn(Request<Incoming>, SocketAddr) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Result<Response<ProxyBody>, Infallible>> + Send + 'static,
{
    accept_loop(listener, handler, None, config, shutdown).await;
}

async fn accept_loop<H, F>(
    listener: TcpListener,
    handler: H,
    hits: Option<Proxy>,
    config: &ServerConfig,
    shutdown: impl Future<Output = ()>,
) where
    H: Fn(Request<Incoming>, SocketAddr) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Result<Response<ProxyBody>, Infallible>> + Send + 'static,
{
    let builder = Arc::new(connection_builder(config));
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
        let handler = handler.clone();
        let service = service_fn(move |request| handler(request, peer));
        let builder = builder.clone();
        // Taken now, before any shutdown: the drain then waits for this
        // connection too, whichever path it is on.
        let watcher = graceful.watcher();
        let hits = hits.clone();
        let (timeout, stopped) = (config.header_read_timeout, stopped.clone());
        tokio::spawn(async move {
            let io = match hits {
                Some(proxy) => match hit_path::serve(stream, &proxy, timeout, stopped).await {
                    Outcome::Closed => return drop(permit),
                    Outcome::HandOff(io) => io,
                },
                None => Rewind::new(stream, Bytes::new()),
            };
            let connection = builder.serve_connection(TokioIo::new(io), service);
            if let Err(err) = watcher.watch(connection.into_owned()).await {
                tracing::debug!(%peer, %err, "connection ended with an error");
            }
            drop(permit);
        });
    }
    drop(listener);
    let _ = stop.send(true);
    drain(graceful, config.shutdown_grace).await;
}

/// Lets in-flight requests finish, at most `grace`.
async fn drain(graceful: GracefulShutdown, grace: Duration) {
    tracing::info!(grace = ?grace, "shutting down: draining connections");
    tokio::select! {
        () = graceful.shutdown() => tracing::info!("all connections closed"),
        () = tokio::time::sleep(grace) => tracing::warn!("grace period over; closing remaining connections"),
    }
}

fn connection_builder(config: &ServerConfig) -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    let read_buffer = (config.max_header_bytes * READ_BUFFER_FACTOR).max(MIN_READ_BUFFER);
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(config.header_read_timeout)
        .keep_alive(true)
        .max_buf_size(read_buffer)
        .max_headers(MAX_HEADER_LINES);
    // hyper's default vectored writes: fresh hits no longer come this way
    // (the hit path writes them flat, in one buffer), and for the bodies
    // that do, queueing chunks beats copying them into one buffer.
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_header_list_size(u32::try_from(read_buffer).unwrap_or(u32::MAX));
    builder
}

/// Accept errors are mostly EMFILE/ENFILE: give the system a moment.
async fn backoff_after_accept_error() {
    tokio::time::sleep(Duration::from_millis(50)).await;
}
