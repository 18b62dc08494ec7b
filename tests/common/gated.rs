//! A tiny upstream for race tests: it takes a snapshot of the image body
//! when a GET arrives, then holds the answer until the test opens the
//! gate; PATCH replaces the body at once. Tests learn when a GET has
//! arrived from a counter, never from a sleep.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{Method, Response};
use http_body_util::{BodyExt, Full};
use tokio::net::TcpListener;
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

struct State {
    body: Mutex<Bytes>,
    gets: AtomicUsize,
    arrived: Notify,
    gate: watch::Sender<bool>,
}

/// The gated upstream; dropping it stops it.
pub struct GatedUpstream {
    pub addr: SocketAddr,
    state: Arc<State>,
    task: JoinHandle<()>,
}

impl GatedUpstream {
    /// Serves `body` for any image GET; the gate starts closed.
    pub async fn start(body: &str) -> GatedUpstream {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (gate, _) = watch::channel(false);
        let state = Arc::new(State {
            body: Mutex::new(Bytes::copy_from_slice(body.as_bytes())),
            gets: AtomicUsize::new(0),
            arrived: Notify::new(),
            gate,
        });
        let task = super::serve_each(listener, state.clone(), answer);
        GatedUpstream { addr, state, task }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// GETs received so far.
    pub fn gets(&self) -> usize {
        self.state.gets.load(Ordering::SeqCst)
    }

    /// Waits until at least `n` GETs have arrived.
    pub async fn wait_for_gets(&self, n: usize) {
        loop {
            let arrived = self.state.arrived.notified();
            if self.gets() >= n {
                return;
            }
            arrived.await;
        }
    }

    /// Lets held and future GETs answer (or holds them again).
    pub fn set_gate(&self, open: bool) {
        self.state.gate.send_replace(open);
    }
}

impl Drop for GatedUpstream {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn answer(
    state: Arc<State>,
    request: http::Request<hyper::body::Incoming>,
) -> Result<Response<Full<Bytes>>, std::convert::Infallible> {
    let method = request.method().clone();
    let body = request
        .into_body()
        .collect()
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    let reply = if method == Method::PATCH {
        *state.body.lock().expect("lock") = body;
        state.body.lock().expect("lock").clone()
    } else {
        let snapshot = state.body.lock().expect("lock").clone();
        state.gets.fetch_add(1, Ordering::SeqCst);
        state.arrived.notify_waiters();
        let mut gate = state.gate.subscribe();
        let _ = gate.wait_for(|open| *open).await;
        snapshot
    };
    let mut response = Response::new(Full::new(reply));
    response
        .headers_mut()
        .insert("content-type", "application/json".parse().expect("value"));
    Ok(response)
}
