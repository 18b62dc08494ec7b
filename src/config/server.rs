//! `[server]`: the client-facing listener. Only a restart applies it.

use std::net::SocketAddr;
use std::time::Duration;

use super::defaults::*;
use super::reader::{Reader, usize_of};
use super::table::settings;
use super::tls::{self, ServerTls};

settings! {
    /// `[server]` as written.
    ServerSettings in "server" {
        /// Client-facing address.
        listen: socket_addr = DEFAULT_LISTEN, Restart;
        /// Listen-side path prefix (`/image`); empty: none.
        path_prefix: string = DEFAULT_PATH_PREFIX, Restart;
        /// Most client connections at once.
        max_connections: count = DEFAULT_MAX_CONNECTIONS, Restart;
        /// Request headers must arrive within this (slowloris guard).
        header_read_timeout: positive = DEFAULT_HEADER_READ_TIMEOUT, Restart;
        /// An HTTP/2 connection without a stream this long is sent GOAWAY.
        idle_timeout: positive = DEFAULT_SERVER_IDLE_TIMEOUT, Restart;
        /// A connection no response byte could be written to this long is closed.
        write_timeout: positive = DEFAULT_WRITE_TIMEOUT, Restart;
        /// Largest request line + headers.
        max_header_bytes: bytes = DEFAULT_MAX_HEADER_BYTES, Restart;
        /// How long in-flight requests may finish after SIGTERM.
        shutdown_grace: duration = DEFAULT_SHUTDOWN_GRACE, Restart;
        /// Serving threads; 0: one per CPU.
        workers: count = DEFAULT_WORKERS, Restart;
        /// The listener's certificate chain (PEM); empty: plain HTTP.
        tls_cert_file: string = "", Restart;
        /// Its private key (PEM); empty: in the certificate file.
        tls_key_file: string = "", Restart;
        /// CAs client certificates must be signed by; empty: none asked for.
        tls_client_ca_file: string = "", Restart;
        /// The client certificate's names are part of the cache identity.
        tls_client_identity: boolean = DEFAULT_TLS_CLIENT_IDENTITY, Restart;
        /// How long a TLS handshake may take (this listener's and the admin's).
        tls_handshake_timeout: positive = DEFAULT_TLS_HANDSHAKE_TIMEOUT, Restart;
        /// How often certificate files are checked for a change; 0: SIGHUP only.
        tls_reload_interval: duration = DEFAULT_TLS_RELOAD_INTERVAL, Restart;
    }
}

/// `[server]`: the client-facing listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    /// Listen-side path prefix (`/image`), stripped before routing; "" for none.
    pub path_prefix: String,
    pub max_connections: usize,
    pub header_read_timeout: Duration,
    /// An HTTP/2 connection without an open stream for this long is told
    /// to go away (HTTP/1 keep-alive waits are bounded by
    /// `header_read_timeout`).
    pub idle_timeout: Duration,
    /// A client connection on which no response byte could be written
    /// for this long is closed.
    pub write_timeout: Duration,
    pub max_header_bytes: usize,
    pub shutdown_grace: Duration,
    /// Serving threads (each with its own runtime and listener).
    pub workers: usize,
    /// TLS on this listener; `None`: plain HTTP (and h2c).
    pub tls: Option<ServerTls>,
    /// How long a TLS handshake may take (this listener's and the admin's).
    pub tls_handshake_timeout: Duration,
    /// How often the certificate files are checked for a change; zero:
    /// only SIGHUP reloads them.
    pub tls_reload_interval: Duration,
}

impl ServerConfig {
    /// Builds the section from its settings, recording what is wrong.
    pub(super) fn build(s: &ServerSettings, r: &mut Reader<'_>) -> ServerConfig {
        // No `..`: a key nobody builds from is an unused variable.
        let ServerSettings {
            listen,
            path_prefix,
            max_connections,
            header_read_timeout,
            idle_timeout,
            write_timeout,
            max_header_bytes,
            shutdown_grace,
            workers,
            tls_cert_file: _,
            tls_key_file: _,
            tls_client_ca_file: _,
            tls_client_identity: _,
            tls_handshake_timeout,
            tls_reload_interval,
        } = s;
        let path_prefix = path_prefix.trim_end_matches('/').to_owned();
        if !path_prefix.is_empty() && !path_prefix.starts_with('/') {
            r.problem(format!(
                "{} `{path_prefix}` must start with `/`",
                key::path_prefix
            ));
        }
        if *max_connections == 0 {
            r.problem(format!("{} must be at least 1", key::max_connections));
        }
        ServerConfig {
            listen: *listen,
            path_prefix,
            max_connections: usize_of(*max_connections),
            header_read_timeout: *header_read_timeout,
            idle_timeout: *idle_timeout,
            write_timeout: *write_timeout,
            max_header_bytes: usize_of(*max_header_bytes),
            shutdown_grace: *shutdown_grace,
            workers: match usize_of(*workers) {
                0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
                n => n,
            },
            tls: build_tls(s, r),
            tls_handshake_timeout: *tls_handshake_timeout,
            tls_reload_interval: *tls_reload_interval,
        }
    }
}

/// `server.tls_*` but the timeouts: `None` when no certificate is set.
fn build_tls(s: &ServerSettings, r: &mut Reader<'_>) -> Option<ServerTls> {
    let cert = tls::cert_files(
        r,
        (key::tls_cert_file, &s.tls_cert_file),
        (key::tls_key_file, &s.tls_key_file),
    );
    let client_ca_file = tls::file(r, key::tls_client_ca_file, &s.tls_client_ca_file);
    if s.tls_client_identity && !client_ca_file.is_set() {
        r.problem(format!(
            "{} needs {}: without a client CA there is no certificate to key on",
            key::tls_client_identity,
            key::tls_client_ca_file
        ));
    }
    if client_ca_file.is_set() && !cert.is_set() {
        r.problem(format!(
            "{} needs {}: client certificates are asked for in a TLS handshake",
            key::tls_client_ca_file,
            key::tls_cert_file
        ));
    }
    Some(ServerTls {
        cert: cert.value()?,
        client_ca_file: client_ca_file.value(),
        client_identity: s.tls_client_identity,
    })
}
