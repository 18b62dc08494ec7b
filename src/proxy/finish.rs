//! The one accounting. Every response, whoever made it (hyper's service,
//! the hit path, an error the hit path answered itself), is counted and
//! logged by [`Proxy::finish`]: the request counters by route, cache
//! outcome and status, the header lines dropped for their `_`, and the
//! access event.

use std::time::Instant;

use http::{Method, Uri};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

use super::Proxy;
use crate::access_log::AccessLog;
use crate::cache::outcome::{self as cache_outcome, CacheOutcome};
use crate::request_headers::UnderscoreHeaders;

/// Which path a request took (`route` label).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RouteLabel {
    ImageRead,
    ImageWrite,
    Other,
}

impl RouteLabel {
    const ALL: [RouteLabel; 3] = [
        RouteLabel::ImageRead,
        RouteLabel::ImageWrite,
        RouteLabel::Other,
    ];

    fn as_str(self) -> &'static str {
        match self {
            RouteLabel::ImageRead => "image_read",
            RouteLabel::ImageWrite => "image_write",
            RouteLabel::Other => "other",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

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
        self.shared.metrics.record_response(finished.status);
        self.shared.requests.record(finished);
        let Arrival { method, uri, at } = arrival?;
        let mut log = AccessLog::new(method, uri, at);
        log.respond(finished.status, finished.outcome, finished.upstream_status);
        Some(log)
    }
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: &'static str,
    cache: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ActionLabels {
    action: &'static str,
}

/// The finish step's counters: `imgcache_requests_total{route,cache}`
/// (every pair created up front, so counting is one increment) and
/// `imgcache_request_headers_underscored_total{action}`.
pub struct RequestCounters {
    /// `[route][cache label]`.
    requests: Vec<Vec<Counter>>,
    underscored_dropped: Counter,
    underscored_folded: Counter,
}

impl RequestCounters {
    /// Creates and registers them.
    pub fn register(registry: &mut Registry) -> RequestCounters {
        let family = Family::<RequestLabels, Counter>::default();
        let requests = RouteLabel::ALL
            .iter()
            .map(|route| {
                cache_outcome::LABELS
                    .iter()
                    .map(|cache| {
                        let route = route.as_str();
                        family
                            .get_or_create(&RequestLabels { route, cache })
                            .clone()
                    })
                    .collect()
            })
            .collect();
        registry.register(
            "requests",
            "Client requests by route and what the cache did",
            family,
        );
        let underscored = Family::<ActionLabels, Counter>::default();
        // Each guard is let go before the next series is made (creating one
        // takes the family's write lock).
        let underscored_dropped = underscored
            .get_or_create(&ActionLabels { action: "dropped" })
            .clone();
        let underscored_folded = underscored
            .get_or_create(&ActionLabels { action: "folded" })
            .clone();
        registry.register(
            "request_headers_underscored",
            "Request header lines whose names have `_` (a WSGI upstream reads them as the `-` spelling), by what was done",
            underscored,
        );
        RequestCounters {
            requests,
            underscored_dropped,
            underscored_folded,
        }
    }

    fn record(&self, finished: &Finished) {
        let route = &self.requests[finished.route.index()];
        route[CacheOutcome::label_index(finished.outcome)].inc();
        let (policy, lines) = finished.underscored;
        if lines > 0 {
            let counter = match policy {
                UnderscoreHeaders::Drop => &self.underscored_dropped,
                UnderscoreHeaders::Fold => &self.underscored_folded,
            };
            counter.inc_by(lines as u64);
        }
    }

    /// Image reads answered from the cache (fresh or stale) and in all.
    pub fn image_read_counts(&self) -> (u64, u64) {
        let reads = &self.requests[RouteLabel::ImageRead.index()];
        let served_from_cache = reads[0].get() + reads[1].get();
        let total = reads.iter().map(Counter::get).sum();
        (served_from_cache, total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::{Metrics, Snapshot};

    fn finished(route: RouteLabel, outcome: Option<CacheOutcome>, underscored: usize) -> Finished {
        Finished {
            route,
            status: 200,
            outcome,
            upstream_status: None,
            underscored: (UnderscoreHeaders::Drop, underscored),
        }
    }

    /// Each response moves its (route, cache) series and the underscored
    /// lines; the hit ratio the stats report reads the same counters.
    #[test]
    fn counts_by_route_and_outcome() {
        let metrics = Metrics::new();
        let counters = metrics.counters(RequestCounters::register);
        let hit = Some(CacheOutcome::Hit { ttl: 3 });
        let miss = Some(CacheOutcome::Fetched {
            stored: true,
            collapsed: false,
        });
        counters.record(&finished(RouteLabel::ImageRead, hit, 2));
        counters.record(&finished(RouteLabel::ImageRead, miss, 0));
        counters.record(&finished(RouteLabel::Other, None, 0));
        let text = metrics.encode(&Snapshot::default()).expect("encode");
        for line in [
            "imgcache_requests_total{route=\"image_read\",cache=\"hit\"} 1",
            "imgcache_requests_total{route=\"image_read\",cache=\"miss\"} 1",
            "imgcache_requests_total{route=\"other\",cache=\"none\"} 1",
            "imgcache_request_headers_underscored_total{action=\"dropped\"} 2",
        ] {
            assert!(text.contains(line), "missing {line}:\n{text}");
        }
        assert_eq!(counters.image_read_counts(), (1, 2));
    }
}
