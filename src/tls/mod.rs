//! TLS on the listening side (rustls, ring): the handshake with its
//! timeout, ALPN (`h2` for hyper, `http/1.1` for the hit path), optional
//! client certificates, failures counted by reason, and certificates
//! reloaded without a restart (SIGHUP, or a change of the files).
//!
//! Every connection takes the config that is current when it starts, so
//! a reload reaches new connections and leaves open ones on the
//! certificate they began with.

mod client_cert;
mod counters;
mod failure;
mod material;
mod not_after;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwap;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::server::TlsStream;

pub use client_cert::ClientCert;

/// The TLS side of a client connection, in the extensions of every
/// request that came over TLS (its absence means plain HTTP): the
/// upstream is told `X-Forwarded-Proto: https`, and the client
/// certificate, when it keys the cache, reaches the cache key.
#[derive(Debug, Clone, Default)]
pub struct Peer {
    /// The certificate's identity, with `server.tls_client_identity`.
    pub client_cert: Option<ClientCert>,
}
pub use failure::HandshakeFailure;
pub use material::Files;

use crate::config::Config;
use crate::metrics::Metrics;
use counters::TlsCounters;

/// What a completed handshake gives the server.
pub struct Accepted<S> {
    pub stream: TlsStream<S>,
    /// The client chose HTTP/2 by ALPN.
    pub h2: bool,
    pub peer: Peer,
}

/// A listener's TLS side; clones share the current certificate.
#[derive(Clone)]
pub struct Acceptor {
    shared: Arc<Shared>,
}

struct Shared {
    files: Files,
    current: ArcSwap<rustls::ServerConfig>,
    /// What the files were when last looked at.
    seen: Mutex<Seen>,
    handshake_timeout: Duration,
    client_identity: bool,
    /// Shared by every listener's acceptor.
    counters: Arc<TlsCounters>,
    /// `server` or `admin`, for log lines.
    listener: &'static str,
}

/// The files as last read: the digest the current config was made from,
/// and the last problem reported (a file that stays bad is logged once,
/// not at every check).
struct Seen {
    loaded: [u8; 32],
    problem: Option<String>,
}

/// What a reload did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reloaded {
    /// The files are as they were.
    Unchanged,
    /// New connections get this certificate (its serial, in hex).
    Swapped { serial: String },
}

impl Acceptor {
    /// Loads the certificate from `files`; the error says which file is
    /// wrong and how.
    pub fn new(
        files: Files,
        handshake_timeout: Duration,
        client_identity: bool,
        metrics: Arc<Metrics>,
        listener: &'static str,
    ) -> Result<Acceptor, String> {
        let fingerprint = files.fingerprint()?;
        let material = material::load(&files)?;
        tracing::info!(listener, serial = %material.serial, "TLS certificate loaded");
        let counters = metrics.counters(TlsCounters::register);
        counters.certificate(listener, material.not_after);
        Ok(Acceptor {
            shared: Arc::new(Shared {
                files,
                current: ArcSwap::new(material.config),
                seen: Mutex::new(Seen {
                    loaded: fingerprint,
                    problem: None,
                }),
                handshake_timeout,
                client_identity,
                counters,
                listener,
            }),
        })
    }

    /// The client-facing listener's acceptor, when `server.tls_cert_file`
    /// is set.
    pub fn for_server(config: &Config, metrics: Arc<Metrics>) -> Result<Option<Acceptor>, String> {
        let Some(tls) = &config.server.tls else {
            return Ok(None);
        };
        let files = Files::of_server(tls);
        let timeout = config.server.tls_handshake_timeout;
        Acceptor::new(files, timeout, tls.client_identity, metrics, "server").map(Some)
    }

    /// The admin listener's acceptor, when `admin.tls_cert_file` is set.
    pub fn for_admin(config: &Config, metrics: Arc<Metrics>) -> Result<Option<Acceptor>, String> {
        let Some(cert) = &config.admin.tls else {
            return Ok(None);
        };
        let files = Files::of_admin(cert);
        let timeout = config.server.tls_handshake_timeout;
        Acceptor::new(files, timeout, false, metrics, "admin").map(Some)
    }

    /// Runs the handshake on `stream` within the handshake timeout; a
    /// failure is counted by its reason (and logged at debug).
    pub async fn accept<S>(&self, stream: S) -> Option<Accepted<S>>
    where
        S: AsyncRead + AsyncWrite + Unpin,
    {
        let shared = &self.shared;
        let acceptor = tokio_rustls::TlsAcceptor::from(shared.current.load_full());
        let failure = match tokio::time::timeout(shared.handshake_timeout, acceptor.accept(stream))
            .await
        {
            Ok(Ok(stream)) => return Some(self.accepted(stream)),
            Ok(Err(err)) => {
                let failure = HandshakeFailure::of(&err);
                tracing::debug!(listener = shared.listener, %err, reason = failure.label(), "TLS handshake failed");
                failure
            }
            Err(_) => HandshakeFailure::Timeout,
        };
        shared.counters.failure(failure);
        None
    }

    fn accepted<S>(&self, stream: TlsStream<S>) -> Accepted<S> {
        let connection = stream.get_ref().1;
        let h2 = connection.alpn_protocol() == Some(b"h2");
        let client_cert = if self.shared.client_identity {
            connection
                .peer_certificates()
                .and_then(ClientCert::of_chain)
        } else {
            None
        };
        self.shared.counters.handshake(h2);
        Accepted {
            stream,
            h2,
            peer: Peer { client_cert },
        }
    }

    /// Reads the files again and, if they changed and are good, serves
    /// the new certificate to new connections. A bad file is logged and
    /// counted (once while it stays the same, unless `again`, as on
    /// SIGHUP); the running certificate stays.
    pub fn reload(&self, again: bool) -> Result<Reloaded, String> {
        let shared = &self.shared;
        let mut seen = shared.seen.lock().unwrap_or_else(|e| e.into_inner());
        let outcome = self.try_reload(&mut seen);
        match &outcome {
            Ok(Reloaded::Unchanged) => {}
            Ok(Reloaded::Swapped { serial }) => {
                shared.counters.reload(true);
                tracing::info!(listener = shared.listener, %serial, "TLS certificate reloaded; new connections get it");
            }
            Err(problem) if again || seen.problem.as_ref() != Some(problem) => {
                shared.counters.reload(false);
                tracing::error!(listener = shared.listener, %problem, "TLS certificate reload rejected; the running certificate is kept");
            }
            Err(_) => {}
        }
        seen.problem = outcome.as_ref().err().cloned();
        outcome
    }

    fn try_reload(&self, seen: &mut Seen) -> Result<Reloaded, String> {
        let shared = &self.shared;
        let fingerprint = shared.files.fingerprint()?;
        if seen.loaded == fingerprint {
            return Ok(Reloaded::Unchanged);
        }
        let material = material::load(&shared.files)?;
        shared.current.store(material.config);
        shared
            .counters
            .certificate(shared.listener, material.not_after);
        seen.loaded = fingerprint;
        Ok(Reloaded::Swapped {
            serial: material.serial,
        })
    }
}

/// Checks that the TLS files of a config load (run with the config's own
/// checks, so a bad certificate is a bad config: every problem at once,
/// exit 64).
pub fn check(config: &Config) -> Vec<String> {
    let server = config.server.tls.as_ref().map(Files::of_server);
    let admin = config.admin.tls.as_ref().map(Files::of_admin);
    [("server.tls_*", server), ("admin.tls_*", admin)]
        .into_iter()
        .filter_map(|(keys, files)| Some((keys, material::load(&files?).err()?)))
        .map(|(keys, problem)| format!("{keys}: {problem}"))
        .collect()
}

/// Reloads `acceptors` whenever their files change, checking every
/// `interval` (a zero interval: never; SIGHUP still reloads).
pub async fn watch_files(acceptors: Vec<Acceptor>, interval: Duration) {
    if interval.is_zero() || acceptors.is_empty() {
        return;
    }
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticks.tick().await;
    loop {
        ticks.tick().await;
        for acceptor in &acceptors {
            // Reading and parsing PEM files blocks: off the event loop.
            let acceptor = acceptor.clone();
            let _ = tokio::task::spawn_blocking(move || acceptor.reload(false)).await;
        }
    }
}
