//! `[server]`: the client-facing listener. Only a restart applies it.

use std::net::SocketAddr;
use std::time::Duration;

use super::defaults::*;
use super::keys::{Changes, Key};
use super::reader::{Reader, usize_of};
use super::tls::{self, ServerTls};

/// The `[server]` keys.
pub mod key {
    use super::Key;

    pub const LISTEN: Key = Key::new("server.listen");
    pub const PATH_PREFIX: Key = Key::new("server.path_prefix");
    pub const MAX_CONNECTIONS: Key = Key::new("server.max_connections");
    pub const HEADER_READ_TIMEOUT: Key = Key::new("server.header_read_timeout");
    pub const IDLE_TIMEOUT: Key = Key::new("server.idle_timeout");
    pub const WRITE_TIMEOUT: Key = Key::new("server.write_timeout");
    pub const MAX_HEADER_BYTES: Key = Key::new("server.max_header_bytes");
    pub const SHUTDOWN_GRACE: Key = Key::new("server.shutdown_grace");
    pub const WORKERS: Key = Key::new("server.workers");
    pub const TLS_CERT_FILE: Key = Key::new("server.tls_cert_file");
    pub const TLS_KEY_FILE: Key = Key::new("server.tls_key_file");
    pub const TLS_CLIENT_CA_FILE: Key = Key::new("server.tls_client_ca_file");
    pub const TLS_CLIENT_IDENTITY: Key = Key::new("server.tls_client_identity");
    pub const TLS_HANDSHAKE_TIMEOUT: Key = Key::new("server.tls_handshake_timeout");
    pub const TLS_RELOAD_INTERVAL: Key = Key::new("server.tls_reload_interval");
    /// Every key of the section (a unit test holds it to what is read).
    pub const ALL: &[Key] = &[
        LISTEN,
        PATH_PREFIX,
        MAX_CONNECTIONS,
        HEADER_READ_TIMEOUT,
        IDLE_TIMEOUT,
        WRITE_TIMEOUT,
        MAX_HEADER_BYTES,
        SHUTDOWN_GRACE,
        WORKERS,
        TLS_CERT_FILE,
        TLS_KEY_FILE,
        TLS_CLIENT_CA_FILE,
        TLS_CLIENT_IDENTITY,
        TLS_HANDSHAKE_TIMEOUT,
        TLS_RELOAD_INTERVAL,
    ];
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
    /// Reads the section, recording what is wrong with it.
    pub(super) fn read(r: &mut Reader<'_>) -> ServerConfig {
        let listen = r.socket_addr(key::LISTEN, DEFAULT_LISTEN);
        let path_prefix = r.string(key::PATH_PREFIX, DEFAULT_PATH_PREFIX);
        let path_prefix = path_prefix.trim_end_matches('/').to_owned();
        if !path_prefix.is_empty() && !path_prefix.starts_with('/') {
            r.problem(format!(
                "{} `{path_prefix}` must start with `/`",
                key::PATH_PREFIX
            ));
        }
        let max_connections = r.count(key::MAX_CONNECTIONS, DEFAULT_MAX_CONNECTIONS);
        if max_connections == 0 {
            r.problem(format!("{} must be at least 1", key::MAX_CONNECTIONS));
        }
        ServerConfig {
            listen,
            path_prefix,
            max_connections: usize_of(max_connections),
            header_read_timeout: r.positive(key::HEADER_READ_TIMEOUT, DEFAULT_HEADER_READ_TIMEOUT),
            idle_timeout: r.positive(key::IDLE_TIMEOUT, DEFAULT_SERVER_IDLE_TIMEOUT),
            write_timeout: r.positive(key::WRITE_TIMEOUT, DEFAULT_WRITE_TIMEOUT),
            max_header_bytes: usize_of(r.bytes(key::MAX_HEADER_BYTES, DEFAULT_MAX_HEADER_BYTES)),
            shutdown_grace: r.duration(key::SHUTDOWN_GRACE, DEFAULT_SHUTDOWN_GRACE),
            workers: match usize_of(r.count(key::WORKERS, DEFAULT_WORKERS)) {
                0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
                n => n,
            },
            tls: read_tls(r),
            tls_handshake_timeout: r
                .positive(key::TLS_HANDSHAKE_TIMEOUT, DEFAULT_TLS_HANDSHAKE_TIMEOUT),
            tls_reload_interval: r.duration(key::TLS_RELOAD_INTERVAL, DEFAULT_TLS_RELOAD_INTERVAL),
        }
    }

    /// The keys whose values differ in `file`.
    pub fn diff(&self, file: &Self) -> Vec<&'static str> {
        // No `..`: a new field does not compile until it is compared here.
        let Self {
            listen,
            path_prefix,
            max_connections,
            header_read_timeout,
            idle_timeout,
            write_timeout,
            max_header_bytes,
            shutdown_grace,
            workers,
            tls,
            tls_handshake_timeout,
            tls_reload_interval,
        } = self;
        let mut changes = Changes::default();
        changes.check(key::LISTEN, listen, &file.listen);
        changes.check(key::PATH_PREFIX, path_prefix, &file.path_prefix);
        changes.check(key::MAX_CONNECTIONS, max_connections, &file.max_connections);
        changes.check(
            key::HEADER_READ_TIMEOUT,
            header_read_timeout,
            &file.header_read_timeout,
        );
        changes.check(key::IDLE_TIMEOUT, idle_timeout, &file.idle_timeout);
        changes.check(key::WRITE_TIMEOUT, write_timeout, &file.write_timeout);
        changes.check(
            key::MAX_HEADER_BYTES,
            max_header_bytes,
            &file.max_header_bytes,
        );
        changes.check(key::SHUTDOWN_GRACE, shutdown_grace, &file.shutdown_grace);
        changes.check(key::WORKERS, workers, &file.workers);
        diff_tls(&mut changes, tls.as_ref(), file.tls.as_ref());
        changes.check(
            key::TLS_HANDSHAKE_TIMEOUT,
            tls_handshake_timeout,
            &file.tls_handshake_timeout,
        );
        changes.check(
            key::TLS_RELOAD_INTERVAL,
            tls_reload_interval,
            &file.tls_reload_interval,
        );
        changes.into_keys()
    }
}

/// `server.tls_*` but the timeouts: `None` when no certificate is set.
fn read_tls(r: &mut Reader<'_>) -> Option<ServerTls> {
    let cert = tls::cert_files(r, key::TLS_CERT_FILE, key::TLS_KEY_FILE);
    let client_ca_file = tls::file(r, key::TLS_CLIENT_CA_FILE);
    let client_identity = r.boolean(key::TLS_CLIENT_IDENTITY, DEFAULT_TLS_CLIENT_IDENTITY);
    if client_identity && !client_ca_file.is_set() {
        r.problem(format!(
            "{} needs {}: without a client CA there is no certificate to key on",
            key::TLS_CLIENT_IDENTITY,
            key::TLS_CLIENT_CA_FILE
        ));
    }
    if client_ca_file.is_set() && !cert.is_set() {
        r.problem(format!(
            "{} needs {}: client certificates are asked for in a TLS handshake",
            key::TLS_CLIENT_CA_FILE,
            key::TLS_CERT_FILE
        ));
    }
    Some(ServerTls {
        cert: cert.value()?,
        client_ca_file: client_ca_file.value(),
        client_identity,
    })
}

/// Names each `server.tls_*` file key that changed (TLS turned on or off
/// names every key set on the side that has it).
fn diff_tls(changes: &mut Changes, running: Option<&ServerTls>, file: Option<&ServerTls>) {
    let none = ServerTls {
        cert: tls::CertFiles {
            cert_file: Default::default(),
            key_file: None,
        },
        client_ca_file: None,
        client_identity: false,
    };
    let (running, file) = (running.unwrap_or(&none), file.unwrap_or(&none));
    // No `..`: a new field does not compile until it is compared here.
    let ServerTls {
        cert,
        client_ca_file,
        client_identity,
    } = running;
    changes.check(key::TLS_CERT_FILE, &cert.cert_file, &file.cert.cert_file);
    changes.check(key::TLS_KEY_FILE, &cert.key_file, &file.cert.key_file);
    changes.check(
        key::TLS_CLIENT_CA_FILE,
        client_ca_file,
        &file.client_ca_file,
    );
    changes.check(
        key::TLS_CLIENT_IDENTITY,
        client_identity,
        &file.client_identity,
    );
}
