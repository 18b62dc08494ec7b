//! The accept loop: HTTP/1.1 and h2c on one listener (or two: the API and
//! the control endpoints apart), every connection in a task the loop owns,
//! so stopping the loop closes them all (stalled bodies included).

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
use super::handlers::{self, Role};
use super::uwsgi::Connection;

/// A running sample service. Dropping it stops the server as
/// [`SampleHandle::shutdown`] does, without waiting.
pub struct SampleHandle {
    /// The bound address of the image API.
    pub addr: SocketAddr,
    /// Where `/_sample/…` is answered: `addr`, unless the service was
    /// started with a control listener of its own.
    pub control_addr: SocketAddr,
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

    /// `http://CONTROL_ADDR`, the base URL of the control endpoints.
    pub fn control_url(&self) -> String {
        format!("http://{}", self.control_addr)
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

/// Starts serving on the current tokio runtime: the API on `api`, the
/// control endpoints on `control` if given, else on `api` as well.
pub(crate) fn spawn(
    shared: Arc<Shared>,
    api: TcpListener,
    control: Option<TcpListener>,
) -> SampleHandle {
    // A listener without a local address cannot come from a successful
    // bind; report the unspecified address rather than fail.
    let local = |listener: &TcpListener| {
        listener
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::from(([0, 0, 0, 0], 0)))
    };
    let addr = local(&api);
    let control_addr = control.as_ref().map_or(addr, local);
    let (stop, stopped) = oneshot::channel();
    let handle_control = SampleControl {
        shared: shared.clone(),
    };
    let task = tokio::spawn(accept_loop(shared, api, control, stopped));
    SampleHandle {
        addr,
        control_addr,
        control: handle_control,
        stop,
        task,
    }
}

async fn accept_loop(
    shared: Arc<Shared>,
    api: TcpListener,
    control: Option<TcpListener>,
    mut stopped: oneshot::Receiver<()>,
) {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    // Glance sends no Date header (fixtures); neither do we.
    builder.http1().auto_date_header(false);
    builder.http2().auto_date_header(false);
    let api_role = if control.is_some() {
        Role::Api
    } else {
        Role::Combined
    };
    let mut connections = JoinSet::new();
    loop {
        let (accepted, role) = tokio::select! {
            // A send or a dropped handle: stop either way.
            _ = &mut stopped => break,
            accepted = api.accept() => (accepted, api_role),
            accepted = accept_on(control.as_ref()) => (accepted, Role::Control),
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
        };
        match accepted {
            Ok((stream, _)) => {
                let serving = serve_connection(builder.clone(), shared.clone(), role, stream);
                connections.spawn(serving);
            }
            Err(err) => {
                // Typically EMFILE under a connection flood: back off
                // briefly instead of spinning.
                tracing::warn!(%err, "sample service accept failed");
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
    connections.shutdown().await;
}

/// Accepts on `listener`; never completes without one.
async fn accept_on(listener: Option<&TcpListener>) -> std::io::Result<(TcpStream, SocketAddr)> {
    match listener {
        Some(listener) => listener.accept().await,
        None => std::future::pending().await,
    }
}

async fn serve_connection(
    builder: auto::Builder<TokioExecutor>,
    shared: Arc<Shared>,
    role: Role,
    stream: TcpStream,
) {
    // Small JSON answers: do not let Nagle hold them back.
    let _ = stream.set_nodelay(true);
    // uWSGI's view of this connection (a poisoned keep-alive).
    let conn = Arc::new(Connection::default());
    let service = service_fn(move |req| handlers::handle(shared.clone(), role, conn.clone(), req));
    if let Err(err) = builder
        .serve_connection(TokioIo::new(stream), service)
        .await
    {
        // Clients hanging up and the Down fault end up here; not an error of ours.
        tracing::debug!(%err, "sample connection ended");
    }
}
