//! The one accounting. Every response, whoever made it (hyper's service,
//! the hit path, an error the hit path answered itself), is counted and
//! logged by [`Proxy::finish`]: the request counters by route, cache
//! outcome and status, the request-duration histogram, the header lines
//! dropped for their `_`, the WARN line for a stale answer, and the
//! access event.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use http::header::HeaderName;
use http::{Method, Uri};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::{Family, MetricConstructor};
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};

use super::Proxy;
use crate::access_log::{AccessLog, Event, Inline, MAX_USER_AGENT};
use crate::cache::outcome::{self as cache_outcome, CacheOutcome};
use crate::principal::signing::SignatureCheck;
use crate::request_headers::{HeaderLookup, UnderscoreHeaders};
use crate::request_id::RequestId;
use crate::warn_limit::WarnKind;

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
    client: SocketAddr,
    user_agent: Inline<MAX_USER_AGENT>,
}

impl Arrival {
    /// The arrival of a `method` request for `uri` from `client`, when
    /// access events are logged; `uri` is only made then. The user agent
    /// is kept inline, cut.
    pub fn logged(
        method: &Method,
        uri: impl FnOnce() -> Option<Uri>,
        client: SocketAddr,
        user_agent: Option<&[u8]>,
    ) -> Option<Self> {
        if !tracing::enabled!(target: "imgcache::access", tracing::Level::INFO) {
            return None;
        }
        Some(Arrival {
            method: method.clone(),
            uri: uri()?,
            client,
            user_agent: user_agent.map_or(Inline::EMPTY, Inline::cut),
        })
    }
}

/// What kind of credentials a request carried (the access event's
/// `principal`): never the credential itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PrincipalKind {
    /// Not judged: refused before admission.
    Unknown,
    /// No credentials.
    Anonymous,
    /// A Keystone token (`X-Auth-Token` or `X-Storage-Token`).
    Token,
    /// An AK/SK signature the proxy verified.
    Signed,
    /// An AK/SK signature the proxy could not verify (forwarded as sent).
    SignedUnverified,
    /// Only a TLS client certificate.
    Certificate,
}

impl PrincipalKind {
    /// The kind of what a request carries: its signature's verdict, its
    /// headers (after the underscore policy), its client certificate.
    pub fn of<H: HeaderLookup + ?Sized>(
        headers: &H,
        signature: &SignatureCheck,
        certificate: bool,
    ) -> PrincipalKind {
        static STORAGE_TOKEN: HeaderName = HeaderName::from_static("x-storage-token");
        static AUTH_TOKEN: HeaderName = HeaderName::from_static("x-auth-token");
        match signature {
            SignatureCheck::Verified(_) => PrincipalKind::Signed,
            SignatureCheck::Unverified { .. } => PrincipalKind::SignedUnverified,
            SignatureCheck::NotSigned
                if headers.first_value(&AUTH_TOKEN).is_some()
                    || headers.first_value(&STORAGE_TOKEN).is_some() =>
            {
                PrincipalKind::Token
            }
            SignatureCheck::NotSigned if certificate => PrincipalKind::Certificate,
            SignatureCheck::NotSigned => PrincipalKind::Anonymous,
        }
    }

    /// The access event's word for it.
    pub fn as_str(self) -> &'static str {
        match self {
            PrincipalKind::Unknown => "-",
            PrincipalKind::Anonymous => "anonymous",
            PrincipalKind::Token => "token",
            PrincipalKind::Signed => "signed",
            PrincipalKind::SignedUnverified => "signed_unverified",
            PrincipalKind::Certificate => "certificate",
        }
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
    /// When the request's head was read.
    pub started: Instant,
    /// The id the response carries.
    pub request_id: RequestId,
    /// What credentials the request carried.
    pub principal: PrincipalKind,
    /// Time to the upstream's response headers, when it was asked for
    /// this request.
    pub upstream_elapsed: Option<Duration>,
}

impl Finished {
    /// A request read at `started`, with this id, not yet routed.
    pub fn new(started: Instant, request_id: RequestId) -> Finished {
        Finished {
            route: RouteLabel::Other,
            status: 0,
            outcome: None,
            upstream_status: None,
            underscored: (UnderscoreHeaders::Drop, 0),
            started,
            request_id,
            principal: PrincipalKind::Unknown,
            upstream_elapsed: None,
        }
    }
}

impl Proxy {
    /// Counts a response (its duration so far included: the head is
    /// ready) and starts its access event (written when the returned
    /// record is dropped, once its body has been sent).
    pub fn finish(&self, finished: &Finished, arrival: Option<Arrival>) -> Option<AccessLog> {
        self.shared.metrics.record_response(finished.status);
        self.shared.requests.record(finished);
        if let Some(CacheOutcome::Stale { upstream_status }) = finished.outcome {
            crate::warn_limited!(
                WarnKind::StaleServed,
                upstream_status,
                "served a stale copy: the upstream failed or is held back"
            );
        }
        let Arrival {
            method,
            uri,
            client,
            user_agent,
        } = arrival?;
        let event = Event {
            request_id: finished.request_id,
            client,
            method,
            uri,
            user_agent,
            status: finished.status,
            outcome: finished.outcome,
            principal: finished.principal.as_str(),
            upstream_status: finished.upstream_status.unwrap_or(0),
            upstream: finished.upstream_elapsed.unwrap_or_default(),
            bytes: 0,
            aborted: false,
        };
        Some(AccessLog::new(event, finished.started))
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

/// Upper bounds of `imgcache_request_duration_seconds`, in seconds: from
/// 10 µs, so that hits (tens of µs) do not all fall in the first bucket.
const DURATION_BUCKETS: [f64; 19] = [
    0.000_01, 0.000_025, 0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025,
    0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

fn duration_histogram() -> Histogram {
    Histogram::new(DURATION_BUCKETS)
}

/// The finish step's counters: `imgcache_requests_total{route,cache}`
/// and `imgcache_request_duration_seconds{route,cache}` (every pair
/// created up front, so recording is an index, not a hash and a lock on
/// the family) and `imgcache_request_headers_underscored_total{action}`.
pub struct RequestCounters {
    /// `[route][cache label]`.
    requests: Vec<Vec<Counter>>,
    /// `[route][cache label]`.
    durations: Vec<Vec<Histogram>>,
    underscored_dropped: Counter,
    underscored_folded: Counter,
}

impl RequestCounters {
    /// Creates and registers them.
    pub fn register(registry: &mut Registry) -> RequestCounters {
        let family = Family::<RequestLabels, Counter>::default();
        let requests = every_pair(&family);
        registry.register(
            "requests",
            "Client requests by route and what the cache did",
            family,
        );
        let durations = duration_histograms(registry);
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
            durations,
            underscored_dropped,
            underscored_folded,
        }
    }

    fn record(&self, finished: &Finished) {
        let (route, cache) = (
            finished.route.index(),
            CacheOutcome::label_index(finished.outcome),
        );
        self.requests[route][cache].inc();
        let elapsed = finished.started.elapsed().as_secs_f64();
        self.durations[route][cache].observe(elapsed);
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

/// One series of `family` for every (route, cache) pair, made up front
/// and indexed `[route][cache]`: recording is then an array index, with
/// no label hashing or lock on the request path.
fn every_pair<M: Clone, C: MetricConstructor<M>>(
    family: &Family<RequestLabels, M, C>,
) -> Vec<Vec<M>> {
    RouteLabel::ALL
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
        .collect()
}

/// `imgcache_request_duration_seconds{route,cache}`, every pair made.
fn duration_histograms(registry: &mut Registry) -> Vec<Vec<Histogram>> {
    let family = Family::<RequestLabels, Histogram, fn() -> Histogram>::new_with_constructor(
        duration_histogram,
    );
    let histograms = every_pair(&family);
    registry.register_with_unit(
        "request_duration",
        "Time from a request's head to its response's head, by route and what the cache did",
        Unit::Seconds,
        family,
    );
    histograms
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
            underscored: (UnderscoreHeaders::Drop, underscored),
            ..Finished::new(Instant::now(), RequestId::generate())
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
            "imgcache_request_duration_seconds_count{route=\"image_read\",cache=\"hit\"} 1",
            "imgcache_request_duration_seconds_bucket{le=\"0.00001\",route=\"image_write\",cache=\"none\"} 0",
        ] {
            assert!(text.contains(line), "missing {line}:\n{text}");
        }
        assert_eq!(counters.image_read_counts(), (1, 2));
    }
}
