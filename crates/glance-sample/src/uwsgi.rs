//! Glance as uWSGI serves it: failures that take the connection down
//! instead of answering (issue "failure isolation").
//!
//! - A path whose percent-escapes do not decode to UTF-8 (`/v2/images/%ff`):
//!   Glance's paste pipeline raises on the undecodable id and uWSGI closes
//!   the socket without a response byte.
//! - A poisoned keep-alive: uWSGI closes a keep-alive connection after
//!   answering a request whose body the application did not read. Closing
//!   at once would let a client's pool notice before reusing the
//!   connection; the sample keeps it open instead and drops the *next*
//!   request on it, which is what a pool meets when the close races its
//!   reuse. HTTP/1 only: h2 has no such reuse.
//!
//! Both are on by default, as on the real thing, and switchable.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use bytes::Bytes;
use http::Version;
use http_body::Body as _;
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use percent_encoding::percent_decode_str;

/// Most of an unread body drained so that the connection stays reusable
/// until its next request; a larger one is left to hyper, which closes.
const MAX_DRAIN: usize = 1024 * 1024;

/// The uWSGI switches and what they dropped.
pub struct Uwsgi {
    drop_undecodable: AtomicBool,
    poison_keepalive: AtomicBool,
    undecodable_drops: AtomicU64,
    poisoned_drops: AtomicU64,
}

impl Default for Uwsgi {
    fn default() -> Self {
        Uwsgi {
            drop_undecodable: AtomicBool::new(true),
            poison_keepalive: AtomicBool::new(true),
            undecodable_drops: AtomicU64::new(0),
            poisoned_drops: AtomicU64::new(0),
        }
    }
}

/// One client connection as uWSGI sees it.
#[derive(Default)]
pub struct Connection {
    /// A request's body went unread: the next request is dropped.
    poisoned: AtomicBool,
}

/// Why a request is dropped without an answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The path does not percent-decode to UTF-8.
    UndecodablePath,
    /// An earlier request on the connection left its body unread.
    PoisonedKeepAlive,
}

/// Whether `path` has a percent-escape sequence that is not UTF-8.
pub fn undecodable(path: &str) -> bool {
    path.contains('%') && percent_decode_str(path).decode_utf8().is_err()
}

impl Uwsgi {
    /// Switches the undecodable-path drop.
    pub fn set_drop_undecodable(&self, on: bool) {
        self.drop_undecodable.store(on, Ordering::Relaxed);
    }

    /// Switches the poisoned keep-alive.
    pub fn set_poison_keepalive(&self, on: bool) {
        self.poison_keepalive.store(on, Ordering::Relaxed);
    }

    /// Requests dropped for an undecodable path.
    pub fn undecodable_drops(&self) -> u64 {
        self.undecodable_drops.load(Ordering::Relaxed)
    }

    /// Requests dropped on a poisoned keep-alive connection.
    pub fn poisoned_drops(&self) -> u64 {
        self.poisoned_drops.load(Ordering::Relaxed)
    }

    /// Whether a request arriving on `conn` for `path` is dropped, and
    /// why; counts the drop.
    pub fn refuse(&self, conn: &Connection, path: &str) -> Option<Refusal> {
        // The poison is spent either way: uWSGI closes the connection.
        if conn.poisoned.swap(false, Ordering::Relaxed) {
            self.poisoned_drops.fetch_add(1, Ordering::Relaxed);
            return Some(Refusal::PoisonedKeepAlive);
        }
        if self.drop_undecodable.load(Ordering::Relaxed) && undecodable(path) {
            self.undecodable_drops.fetch_add(1, Ordering::Relaxed);
            return Some(Refusal::UndecodablePath);
        }
        None
    }

    /// After answering a request whose body no handler took: drains it
    /// (so that hyper keeps the connection) and poisons the connection.
    pub async fn left_unread(&self, conn: &Connection, version: Version, body: Incoming) {
        if body.is_end_stream()
            || version >= Version::HTTP_2
            || !self.poison_keepalive.load(Ordering::Relaxed)
        {
            return;
        }
        let _drained: Option<Bytes> = Limited::new(body, MAX_DRAIN)
            .collect()
            .await
            .ok()
            .map(|c| c.to_bytes());
        conn.poisoned.store(true, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Escapes that are not UTF-8 are undecodable; valid ones and plain
    /// paths are not.
    #[test]
    fn undecodable_paths() {
        assert!(undecodable("/v2/images/%ff"));
        assert!(undecodable("/v2/images/%C3"));
        assert!(!undecodable("/v2/images/%C3%BC"));
        assert!(!undecodable("/v2/images/a%20b"));
        assert!(!undecodable("/v2/images/abc"));
        // A stray % that is no escape is left as it is, as Python does.
        assert!(!undecodable("/v2/images/100%"));
    }

    /// A poisoned connection drops exactly its next request; switches off
    /// the undecodable drop.
    #[test]
    fn poison_drops_one_request() {
        let uwsgi = Uwsgi::default();
        let conn = Connection::default();
        assert_eq!(uwsgi.refuse(&conn, "/v2/images"), None);
        conn.poisoned.store(true, Ordering::Relaxed);
        assert_eq!(
            uwsgi.refuse(&conn, "/v2/images"),
            Some(Refusal::PoisonedKeepAlive)
        );
        assert_eq!(uwsgi.refuse(&conn, "/v2/images"), None);
        assert_eq!(uwsgi.poisoned_drops(), 1);
        assert_eq!(
            uwsgi.refuse(&conn, "/v2/images/%ff"),
            Some(Refusal::UndecodablePath)
        );
        uwsgi.set_drop_undecodable(false);
        assert_eq!(uwsgi.refuse(&conn, "/v2/images/%ff"), None);
        assert_eq!(uwsgi.undecodable_drops(), 1);
    }
}
