//! One access event per request, written when the response body is done
//! (so `bytes` and `latency` cover the whole transfer). Only the method and
//! the path are logged: never headers, so never a token.

use std::time::Instant;

use http::{Method, Uri};

use crate::cache::outcome::CacheOutcome;

/// Longest path written to the log; absurd paths are cut, not echoed whole.
const MAX_LOGGED_PATH: usize = 256;

/// The record of one request; written to the `imgcache::access` target
/// when dropped.
pub struct AccessLog {
    method: Method,
    uri: Uri,
    started: Instant,
    status: u16,
    outcome: Option<CacheOutcome>,
    upstream_status: Option<u16>,
    bytes: u64,
    aborted: bool,
}

impl AccessLog {
    /// Starts a record for a request received at `started`.
    pub fn new(method: Method, uri: Uri, started: Instant) -> Self {
        AccessLog {
            method,
            uri,
            started,
            status: 0,
            outcome: None,
            upstream_status: None,
            bytes: 0,
            aborted: false,
        }
    }

    /// Fills in what the response said.
    pub fn respond(
        &mut self,
        status: u16,
        outcome: Option<CacheOutcome>,
        upstream_status: Option<u16>,
    ) {
        self.status = status;
        self.outcome = outcome;
        self.upstream_status = upstream_status;
    }

    /// Counts body bytes sent.
    pub fn add_bytes(&mut self, n: usize) {
        self.bytes += n as u64;
    }

    /// The body failed part-way: the client got an aborted response.
    pub fn mark_aborted(&mut self) {
        self.aborted = true;
    }
}

impl Drop for AccessLog {
    fn drop(&mut self) {
        let path = self.uri.path();
        let path = match path.char_indices().nth(MAX_LOGGED_PATH) {
            Some((cut, _)) => &path[..cut],
            None => path,
        };
        let cache = self.outcome.map(|outcome| outcome.header_value());
        let cache = cache.as_ref().and_then(|v| v.to_str().ok()).unwrap_or("-");
        tracing::info!(
            target: "imgcache::access",
            method = %self.method,
            path = ?path,
            status = self.status,
            cache,
            upstream_status = self.upstream_status.unwrap_or(0),
            latency_ms = self.started.elapsed().as_secs_f64() * 1000.0,
            bytes = self.bytes,
            aborted = self.aborted,
        );
    }
}
