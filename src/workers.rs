//! Thread-per-core serving: `server.workers` threads, each running its
//! own single-threaded Tokio runtime with its own `SO_REUSEPORT` listener
//! on the same address. The kernel spreads connections over them, and a
//! connection's whole life stays on one thread: no work stealing, no
//! cross-thread wake-ups on the hit path. State (cache, upstream pool,
//! metrics, the `server.max_connections` budget) is shared; each worker
//! drains its own connections on stop.

use std::net::{SocketAddr, TcpListener as StdListener};
use std::thread::JoinHandle;

use socket2::{Domain, Protocol, Socket, Type};
use tokio::sync::watch;

use crate::config::ServerConfig;
use crate::proxy::Proxy;
use crate::server;
use crate::tls::Acceptor;

/// Accept backlog of each worker's listener.
const BACKLOG: i32 = 1024;

/// Binds `count` listeners to one address with `SO_REUSEPORT` (port 0
/// resolves once, then all share that port). A port another process
/// listens on is refused (`AddrInUse`), even when that process set
/// `SO_REUSEPORT` too: the kernel would otherwise split connections
/// between two caches.
pub fn bind(addr: SocketAddr, count: usize) -> std::io::Result<Vec<StdListener>> {
    if addr.port() != 0 {
        claim(addr)?;
    }
    let first = bind_one(addr)?;
    let addr = first.local_addr()?;
    let mut listeners = vec![first];
    for _ in 1..count.max(1) {
        listeners.push(bind_one(addr)?);
    }
    Ok(listeners)
}

/// Whether `addr` is free for us: a socket without `SO_REUSEPORT` cannot
/// bind where anyone listens (with or without it). Dropped at once; only
/// our own workers then share the port.
fn claim(addr: SocketAddr) -> std::io::Result<()> {
    let probe = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    // Not refused for connections of an earlier run still in TIME_WAIT.
    probe.set_reuse_address(true)?;
    probe.bind(&addr.into()).map_err(|err| {
        if err.kind() == std::io::ErrorKind::AddrInUse {
            std::io::Error::new(
                err.kind(),
                format!("{addr} is in use by another process (imgcache shares a port only among its own workers)"),
            )
        } else {
            err
        }
    })
}

fn bind_one(addr: SocketAddr) -> std::io::Result<StdListener> {
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(BACKLOG)?;
    Ok(socket.into())
}

/// The running worker threads.
pub struct Workers {
    threads: Vec<JoinHandle<()>>,
    stop: watch::Sender<bool>,
}

impl Workers {
    /// Starts one thread per listener, serving `proxy` (over TLS when
    /// `tls` is given; the workers share its certificate).
    pub fn spawn(
        listeners: Vec<StdListener>,
        proxy: &Proxy,
        config: &ServerConfig,
        tls: Option<Acceptor>,
    ) -> std::io::Result<Workers> {
        let (stop, stopped) = watch::channel(false);
        // One budget for the process: a full worker does not refuse (or
        // queue) while another has room.
        let budget = server::Budget::new(config.max_connections);
        let mut threads = Vec::with_capacity(listeners.len());
        for (n, listener) in listeners.into_iter().enumerate() {
            let (proxy, config, stopped) = (proxy.clone(), config.clone(), stopped.clone());
            let (tls, budget) = (tls.clone(), budget.clone());
            let thread = std::thread::Builder::new()
                .name(format!("imgcache-worker-{n}"))
                .spawn(move || run_worker(listener, proxy, &config, tls, budget, stopped))?;
            threads.push(thread);
        }
        Ok(Workers { threads, stop })
    }

    /// Tells every worker to stop accepting and drain, and waits for all.
    pub async fn stop_and_join(self) {
        let _ = self.stop.send(true);
        let threads = self.threads;
        let _ = tokio::task::spawn_blocking(move || {
            for thread in threads {
                let _ = thread.join();
            }
        })
        .await;
    }
}

fn run_worker(
    listener: StdListener,
    proxy: Proxy,
    config: &ServerConfig,
    tls: Option<Acceptor>,
    budget: server::Budget,
    mut stopped: watch::Receiver<bool>,
) {
    let mut builder = tokio::runtime::Builder::new_current_thread();
    builder.enable_all();
    // Before a worker waits for events, it offers its core to anything
    // else runnable there: the clients it just answered, when they share
    // the host (a sidecar, the load generator). A busy worker finds new
    // events at every poll and would otherwise keep the core for a whole
    // scheduler slice while their responses sit unread: p99 1.4-2.3 ms
    // instead of 7.4-7.9 ms at the same throughput (wrk -c64, 3 alternating
    // rounds). One sched_yield per poll, not per request.
    builder.on_thread_park(std::thread::yield_now);
    let runtime = match builder.build() {
        Ok(runtime) => runtime,
        Err(err) => {
            tracing::error!(%err, "cannot start a worker runtime");
            return;
        }
    };
    runtime.block_on(async move {
        let listener = match tokio::net::TcpListener::from_std(listener) {
            Ok(listener) => listener,
            Err(err) => return tracing::error!(%err, "cannot use a worker listener"),
        };
        let stop = async move {
            let _ = stopped.wait_for(|stop| *stop).await;
        };
        server::run_within(listener, proxy, config, tls, budget, stop).await;
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A port another listener holds is refused, whether or not that
    /// listener set `SO_REUSEPORT`; our own workers share theirs.
    #[test]
    fn a_port_held_elsewhere_is_refused() {
        let ours = bind("127.0.0.1:0".parse().expect("addr"), 2).expect("bind");
        let addr = ours[0].local_addr().expect("addr");
        assert_eq!(ours[1].local_addr().expect("addr"), addr);
        let again = bind(addr, 1).expect_err("a second cache on the same port");
        assert_eq!(again.kind(), std::io::ErrorKind::AddrInUse);
        assert!(again.to_string().contains("another process"), "{again}");
        drop(ours);
        let plain = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let held = plain.local_addr().expect("addr");
        assert!(bind(held, 1).is_err());
        drop(plain);
        assert!(bind(held, 2).is_ok(), "free again");
    }
}
