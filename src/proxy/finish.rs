//! The one accounting. Every response, whoever made it (hyper's service,
//! the hit path, an error the hit path answered itself), is counted and
//! logged by [`Proxy::finish`]: the request counters by route, cache
//! outcome and status, the header lines dropped for their `_`, and the
//! access event.

use std::time::Instant;

use http::{Method, Uri};

use super::Proxy;
use crate::access_log::AccessLog;
use crate::cache::outcome::CacheOutcome;
use crate::metrics::RouteLabel;
use crate::request_headers::UnderscoreHeaders;

/// A request as it arrived, kept for its access event (only made when
/// access events are logged at all).
pub struct Arrival {
    method: Method,
    uri: Uri,
    at: Instant,
}

impl Arrival {
    /// The arrival of a `method` request for `uri` at `at`, when access
    /// events are logged; `uri` is only made then.
    pub fn logged(method: &Method, uri: impl FnOnce() -> Option<Uri>, at: Instant) -> Option<Self> {
        if !tracing::enabled!(target: "imgcache::access", tracing::Level::INFO) {
            return None;
        }
        Some(Arrival {
            method: method.clone(),
            uri: uri()?,
            at,
        })
    }
}

/// What is known about a response once it is made.
pub struct Finished {
    pub route: RouteLabel,
    pub status: u16,
    /// What the cache did, when it was involved.
    pub outcome: Option<CacheOutcome>,
    /// The upstream's status, when the upstream was asked.
    pub upstream_status: Option<u16>,
    /// Header lines with `_` in their names, and what the policy did
    /// with them (they were not forwarded as sent).
    pub underscored: (UnderscoreHeaders, usize),
}

impl Proxy {
    /// Counts a response and starts its access event (written when the
    /// returned record is dropped, once its body has been sent).
    pub fn finish(&self, finished: &Finished, arrival: Option<Arrival>) -> Option<AccessLog> {
        let metrics = &self.shared.metrics;
        metrics.record_request(finished.route, finished.outcome, finished.status);
        let (policy, lines) = finished.underscored;
        metrics.record_underscored(policy, lines);
        let Arrival { method, uri, at } = arrival?;
        let mut log = AccessLog::new(method, uri, at);
        log.respond(finished.status, finished.outcome, finished.upstream_status);
        Some(log)
    }
}
