//! `[server]`: the client-facing listener. Only a restart applies it.

use std::net::SocketAddr;
use std::time::Duration;

use super::defaults::*;
use super::keys::{Changes, Key};
use super::reader::{Reader, usize_of};

/// The `[server]` keys.
pub mod key {
    use super::Key;

    pub const LISTEN: Key = Key::new("server.listen");
    pub const PATH_PREFIX: Key = Key::new("server.path_prefix");
    pub const MAX_CONNECTIONS: Key = Key::new("server.max_connections");
    pub const HEADER_READ_TIMEOUT: Key = Key::new("server.header_read_timeout");
    pub const WRITE_TIMEOUT: Key = Key::new("server.write_timeout");
    pub const MAX_HEADER_BYTES: Key = Key::new("server.max_header_bytes");
    pub const SHUTDOWN_GRACE: Key = Key::new("server.shutdown_grace");
    pub const WORKERS: Key = Key::new("server.workers");
    /// Every key of the section (a unit test holds it to what is read).
    pub const ALL: &[Key] = &[
        LISTEN,
        PATH_PREFIX,
        MAX_CONNECTIONS,
        HEADER_READ_TIMEOUT,
        WRITE_TIMEOUT,
        MAX_HEADER_BYTES,
        SHUTDOWN_GRACE,
        WORKERS,
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
    /// A client connection on which no response byte could be written
    /// for this long is closed.
    pub write_timeout: Duration,
    pub max_header_bytes: usize,
    pub shutdown_grace: Duration,
    /// Serving threads (each with its own runtime and listener).
    pub workers: usize,
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
            write_timeout: r.positive(key::WRITE_TIMEOUT, DEFAULT_WRITE_TIMEOUT),
            max_header_bytes: usize_of(r.bytes(key::MAX_HEADER_BYTES, DEFAULT_MAX_HEADER_BYTES)),
            shutdown_grace: r.duration(key::SHUTDOWN_GRACE, DEFAULT_SHUTDOWN_GRACE),
            workers: match usize_of(r.count(key::WORKERS, DEFAULT_WORKERS)) {
                0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
                n => n,
            },
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
            write_timeout,
            max_header_bytes,
            shutdown_grace,
            workers,
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
        changes.check(key::WRITE_TIMEOUT, write_timeout, &file.write_timeout);
        changes.check(
            key::MAX_HEADER_BYTES,
            max_header_bytes,
            &file.max_header_bytes,
        );
        changes.check(key::SHUTDOWN_GRACE, shutdown_grace, &file.shutdown_grace);
        changes.check(key::WORKERS, workers, &file.workers);
        changes.into_keys()
    }
}
