//! The accept loop: HTTP/1.1 and h2c on one listener, every connection in a
//! task the loop owns, so stopping the loop closes them all (stalled bodies
//! included).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::{JoinHandle, JoinSet};

use super::control::{SampleControl, Shared};
use super::handlers;

/// A running sample service. Dropping it stops the server as
/// [`SampleHandle::shutdown`] does, without waiting.
pub struct SampleHandle {
    /// The bound address.
    pub addr: SocketAddr,
    /// Steers and inspects the running service.
    pub control: SampleControl,
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

impl SampleHandle {
    /// `http://ADDR`, the base URL of the service.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Stops accepting, closes every connection, and waits until done.
    pub async fn shutdown(self) {
        let SampleHandle { stop, task, .. } = self;
        // The loop may already be gone (it ends only when told); either way
        // it is stopping.
        let _ = stop.send(());
        if let Err(err) = task.await {
            tracing::warn!(%err, "sample service task ended abnormally");
        }
    }
}

/// Starts serving `listener` on the current tokio runtime.
pub(crate) fn spawn(shared: Arc<Shared>, listener: TcpListener) -> SampleHandle {
    // A listener without a local address cannot come from a successful
    // bind; report the unspecified address rather than fail.
    let addr = listener
        .local_addr()
        .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)));
    let (stop, stopped) = oneshot::channel();
    let control = SampleControl {
        shared: shared.clone(),
    };
    let task = tokio::spawn(accept_loop(shared, listener, stopped));
    SampleHandle {
        addr,
        control,
        stop,
        task,
    }
}

async fn accept_loop(
    shared: Arc<Shared>,
    listener: TcpListener,
    mut stopped: oneshot::Receiver<()>,
) {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    // Glance sends no Date header (fixtures); neither do we.
    builder.http1().auto_date_header(false);
    builder.http2().auto_date_header(false);
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            // A send or a dropped handle: stop either way.
            _ = &mut stopped => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    connections.spawn(serve_connection(builder.clone(), shared.clone(), stream));
                }
                Err(err) => {
                    // Typically EMFILE under a connection flood: back off
                    // briefly instead of spinning.
                    tracing::warn!(%err, "sample service accept failed");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            },
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
    connections.shutdown().await;
}

async fn serve_connection(
    builder: auto::Builder<TokioExecutor>,
    shared: Arc<Shared>,
    stream: TcpStream,
) {
    // Small JSON answers: do not let Nagle hold them back.
    let _ = stream.set_nodelay(true);
    let service = service_fn(move |req| handlers::handle(shared.clone(), req));
    if let Err(err) = builder
        .serve_connection(TokioIo::new(stream), service)
        .await
    {
        // Clients hanging up and the Down fault end up here; not an error of ours.
        tracing::debug!(%err, "sample connection ended");
    }
}
