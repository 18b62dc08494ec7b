//! Prometheus metrics (prometheus-client). Per-request counters are
//! created once for every label combination, so recording is an atomic
//! increment with no hashing; state held elsewhere (cache size, breaker,
//! in-flight requests) is read at scrape time from a [`Snapshot`].
//!
//! Labels are all from small fixed sets: no image ids, identities or
//! tokens ever become labels.

use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::{Registry, Unit};

use crate::cache::outcome::{self as cache_outcome, CacheOutcome};

mod client;
mod coherence;
mod isolation;
mod l2;
mod principal;
mod snapshot;
mod tls;

use client::ClientCounters;
use coherence::CoherenceCounters;
pub use coherence::WriteResult;
use isolation::IsolationCounters;
use l2::L2Counters;
use principal::PrincipalCounters;
pub use principal::TokenValidation;
use tls::TlsCounters;

pub use snapshot::Snapshot;
use snapshot::snapshot_registry;

/// Name prefix of every metric.
const PREFIX: &str = "imgcache";

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
}

/// Response status classes (`class` label).
const STATUS_CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

/// Upstream outcome classes: a status class, or `error` for no answer.
const UPSTREAM_CLASSES: [&str; 6] = ["1xx", "2xx", "3xx", "4xx", "5xx", "error"];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: &'static str,
    cache: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ClassLabels {
    class: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabels {
    result: &'static str,
}

/// A config key, `section.key` (a fixed set, never a value).
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SettingLabels {
    setting: &'static str,
}

/// Every metric the proxy records.
pub struct Metrics {
    registry: Registry,
    /// `[route][cache label]`.
    requests: Vec<Vec<Counter>>,
    responses: Vec<Counter>,
    upstream_requests: Vec<Counter>,
    upstream_seconds: Histogram,
    invalidations: Counter,
    reloads_ok: Counter,
    reloads_failed: Counter,
    reload_not_applied: Family<SettingLabels, Counter>,
    hit_path: HitPathCounters,
    l2: L2Counters,
    client: ClientCounters,
    principals: PrincipalCounters,
    tls: TlsCounters,
    isolation: IsolationCounters,
    coherence: CoherenceCounters,
}

/// The hit path's counters (`imgcache_hit_path_*`).
#[derive(Default)]
struct HitPathCounters {
    responses: Counter,
    exchanges: Counter,
    handoffs: Counter,
}

impl HitPathCounters {
    fn register(&self, registry: &mut Registry) {
        registry.register(
            "hit_path_responses",
            "Fresh hits answered on the hit path, without hyper (also counted in requests)",
            self.responses.clone(),
        );
        registry.register(
            "hit_path_exchanges",
            "Requests hyper answered on a connection the hit path then took back",
            self.exchanges.clone(),
        );
        registry.register(
            "hit_path_handoffs",
            "Connections the hit path handed to hyper for good (HTTP/1.0, h2c, chunked bodies, Connection: close, upgrades)",
            self.handoffs.clone(),
        );
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

impl Metrics {
    /// Registers every metric, with all label combinations created.
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix(PREFIX);
        let requests = request_counters(&mut registry);
        let responses = class_family(
            &mut registry,
            "responses",
            "Client responses by status class",
            &STATUS_CLASSES,
        );
        let upstream_requests = class_family(
            &mut registry,
            "upstream_requests",
            "Upstream requests by status class (error: no answer)",
            &UPSTREAM_CLASSES,
        );
        let upstream_seconds = Histogram::new(exponential_buckets(0.001, 2.0, 15));
        registry.register_with_unit(
            "upstream_request_duration",
            "Time to the upstream's response headers",
            Unit::Seconds,
            upstream_seconds.clone(),
        );
        let invalidations = Counter::default();
        registry.register(
            "cache_invalidations",
            "Image invalidations (writes through the proxy and purges)",
            invalidations.clone(),
        );
        let (reloads_ok, reloads_failed) = reload_counters(&mut registry);
        let reload_not_applied = Family::<SettingLabels, Counter>::default();
        registry.register(
            "config_reload_not_applied",
            "Settings a reload found changed but only a restart applies, by setting",
            reload_not_applied.clone(),
        );
        let hit_path = HitPathCounters::default();
        hit_path.register(&mut registry);
        let l2 = L2Counters::default();
        l2.register(&mut registry);
        let client = ClientCounters::register(&mut registry);
        let principals = PrincipalCounters::register(&mut registry);
        let tls = TlsCounters::register(&mut registry);
        let isolation = IsolationCounters::register(&mut registry);
        let coherence = CoherenceCounters::register(&mut registry);
        let build = Info::new(vec![("version", env!("CARGO_PKG_VERSION"))]);
        registry.register("build", "Build information", build);
        Metrics {
            registry,
            requests,
            responses,
            upstream_requests,
            upstream_seconds,
            invalidations,
            reloads_ok,
            reloads_failed,
            reload_not_applied,
            hit_path,
            l2,
            client,
            principals,
            tls,
            isolation,
            coherence,
        }
    }

    /// A TLS handshake completed; `h2`: ALPN chose HTTP/2.
    pub fn record_tls_handshake(&self, h2: bool) {
        self.tls.handshake(h2);
    }

    /// A TLS handshake failed.
    pub fn record_tls_handshake_failure(&self, failure: crate::tls::HandshakeFailure) {
        self.tls.failure(failure);
    }

    /// A TLS certificate reload that swapped the certificate (`ok`) or
    /// found a bad file.
    pub fn record_tls_reload(&self, ok: bool) {
        self.tls.reload(ok);
    }

    /// A signed request, by what its signature was.
    pub fn record_signature(&self, check: &crate::principal::signing::SignatureCheck) {
        self.principals.signed(check);
    }

    /// One Keystone validation call, by its answer.
    pub fn record_token_validation(&self, answer: TokenValidation) {
        self.principals.validation(answer);
    }

    /// Request header lines with `_` in their names, dropped or folded.
    pub fn record_underscored(
        &self,
        policy: crate::request_headers::UnderscoreHeaders,
        lines: usize,
    ) {
        if lines > 0 {
            self.client.underscored(policy, lines);
        }
    }

    /// A client connection closed for not reading its responses.
    pub fn record_write_timeout(&self) {
        self.client.write_timeout();
    }

    /// A fresh hit answered on the hit path.
    pub fn record_hit_path_response(&self) {
        self.hit_path.responses.inc();
    }

    /// A request hyper answered for the hit path.
    pub fn record_hit_path_exchange(&self) {
        self.hit_path.exchanges.inc();
    }

    /// A connection handed from the hit path to hyper.
    pub fn record_hit_path_handoff(&self) {
        self.hit_path.handoffs.inc();
    }

    /// A fill answered from Redis.
    pub fn record_l2_hit(&self) {
        self.l2.hits.inc();
    }

    /// A fill Redis could not answer.
    pub fn record_l2_miss(&self) {
        self.l2.misses.inc();
    }

    /// A Redis call that failed or timed out.
    pub fn record_l2_error(&self) {
        self.l2.errors.inc();
    }

    /// One poll while another instance filled.
    pub fn record_l2_lock_wait(&self) {
        self.l2.lock_waits.inc();
    }

    /// An invalidation message from the fleet.
    pub fn record_l2_invalidation_received(&self) {
        self.l2.invalidations_received.inc();
    }

    /// Counts one client response.
    pub fn record_request(&self, route: RouteLabel, outcome: Option<CacheOutcome>, status: u16) {
        let route_index = RouteLabel::ALL
            .iter()
            .position(|r| *r == route)
            .unwrap_or(2);
        self.requests[route_index][CacheOutcome::label_index(outcome)].inc();
        self.responses[class_index(status).min(4)].inc();
    }

    /// Counts one upstream exchange: its status (`None`: no answer) and
    /// how long the response headers took.
    pub fn record_upstream(&self, status: Option<u16>, elapsed: Duration) {
        let index = status.map_or(5, class_index);
        self.upstream_requests[index].inc();
        self.upstream_seconds.observe(elapsed.as_secs_f64());
    }

    /// Counts a retry on a new connection after a dead pooled one.
    pub fn record_upstream_retry(&self, ok: bool) {
        self.isolation.retry(ok);
    }

    /// Counts an upstream back-off asked of one caller.
    pub fn record_backoff(&self) {
        self.isolation.backoff();
    }

    /// Counts a client connection refused over `server.max_connections`.
    pub fn record_connection_refused(&self) {
        self.isolation.connection_refused();
    }

    /// Counts an idle HTTP/2 connection closed.
    pub fn record_idle_closed(&self) {
        self.isolation.idle_closed();
    }

    /// Counts a token left unvalidated because Keystone was busy.
    pub fn record_validation_skipped(&self) {
        self.isolation.validation_skipped();
    }

    /// Counts an image write by how the upstream took it.
    pub fn record_write(&self, result: WriteResult) {
        self.coherence.write(result);
    }

    /// Counts an accepted write that invalidated everything.
    pub fn record_conservative_invalidation(&self) {
        self.coherence.conservative();
    }

    /// Counts an IMS job whose images are held until it ends.
    pub fn record_job_held(&self) {
        self.coherence.job_held();
    }

    /// Counts an invalidation of one image (or of everything).
    pub fn record_invalidation(&self) {
        self.invalidations.inc();
    }

    /// Counts a config reload.
    pub fn record_reload(&self, ok: bool) {
        if ok {
            self.reloads_ok.inc();
        } else {
            self.reloads_failed.inc();
        }
    }

    /// Image reads answered from the cache (fresh or stale) and in all.
    pub fn image_read_counts(&self) -> (u64, u64) {
        let reads = &self.requests[0];
        let served_from_cache = reads[0].get() + reads[1].get();
        let total = reads.iter().map(Counter::get).sum();
        (served_from_cache, total)
    }

    /// The exposition text (OpenMetrics), with the scrape-time values.
    pub fn encode(&self, snapshot: &Snapshot) -> Result<String, std::fmt::Error> {
        let mut out = String::with_capacity(8 * 1024);
        prometheus_client::encoding::text::encode_registry(&mut out, &self.registry)?;
        prometheus_client::encoding::text::encode_registry(&mut out, &snapshot_registry(snapshot))?;
        prometheus_client::encoding::text::encode_eof(&mut out)?;
        Ok(out)
    }

    /// A setting a reload found changed but could not apply
    /// (`server.workers`); a name from the config's key table.
    pub fn record_reload_not_applied(&self, setting: &'static str) {
        self.reload_not_applied
            .get_or_create(&SettingLabels { setting })
            .inc();
    }
}

fn class_family(
    registry: &mut Registry,
    name: &str,
    help: &str,
    classes: &[&'static str],
) -> Vec<Counter> {
    let family = Family::<ClassLabels, Counter>::default();
    let counters = classes
        .iter()
        .map(|class| family.get_or_create(&ClassLabels { class }).clone())
        .collect();
    registry.register(name, help, family);
    counters
}

/// Index into CACHE_LABELS for a `Cache-Status` value.
/// `imgcache_requests_total`, every (route, cache) pair created: `[route][cache]`.
fn request_counters(registry: &mut Registry) -> Vec<Vec<Counter>> {
    let family = Family::<RequestLabels, Counter>::default();
    let requests = RouteLabel::ALL
        .iter()
        .map(|route| {
            cache_outcome::LABELS
                .iter()
                .map(|cache| {
                    let labels = RequestLabels {
                        route: route.as_str(),
                        cache,
                    };
                    family.get_or_create(&labels).clone()
                })
                .collect()
        })
        .collect();
    registry.register(
        "requests",
        "Client requests by route and what the cache did",
        family,
    );
    requests
}

/// `imgcache_config_reloads_total`: (ok, error).
fn reload_counters(registry: &mut Registry) -> (Counter, Counter) {
    let reloads = Family::<ResultLabels, Counter>::default();
    let ok = reloads
        .get_or_create(&ResultLabels { result: "ok" })
        .clone();
    let failed = reloads
        .get_or_create(&ResultLabels { result: "error" })
        .clone();
    registry.register(
        "config_reloads",
        "Config reloads (SIGHUP) by result",
        reloads,
    );
    (ok, failed)
}

fn class_index(status: u16) -> usize {
    usize::from((status / 100).clamp(1, 5) - 1)
}

#[cfg(test)]
mod tests;
