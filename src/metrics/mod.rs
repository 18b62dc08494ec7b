//! Prometheus metrics (prometheus-client). Per-request counters are
//! created once for every label combination, so recording is an atomic
//! increment with no hashing; state held elsewhere (cache size, breaker,
//! in-flight requests) is read at scrape time from a [`Snapshot`].
//!
//! The process series (`process_resident_memory_bytes`, …) are the
//! usual ones of Prometheus' client libraries, unprefixed, read at scrape
//! time too.
//!
//! Labels are all from small fixed sets: no image ids, identities or
//! tokens ever become labels.
//!
//! This is the ground floor: it imports no subsystem. A subsystem whose
//! counters carry its own labels (TLS, principals, the request pipeline)
//! owns them and registers them here with [`Metrics::counters`].

use std::any::Any;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::{Registry, Unit};

mod client;
mod coherence;
mod isolation;
mod l2;
mod process;
mod snapshot;

use client::ClientCounters;
use coherence::CoherenceCounters;
pub use coherence::WriteResult;
use isolation::IsolationCounters;
use l2::L2Counters;

pub use snapshot::Snapshot;
use snapshot::snapshot_registry;

/// Name prefix of every metric.
const PREFIX: &str = "imgcache";

/// Response status classes (`class` label).
const STATUS_CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

/// Upstream outcome classes: a status class, or `error` for no answer.
const UPSTREAM_CLASSES: [&str; 6] = ["1xx", "2xx", "3xx", "4xx", "5xx", "error"];

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
    /// Locked only while a subsystem registers and while a scrape encodes.
    registry: Mutex<Registry>,
    /// The counters subsystems registered, one of each type.
    owned: Mutex<Vec<Arc<dyn Any + Send + Sync>>>,
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
            "Connections the hit path handed to hyper for good (HTTP/1.0, h2c, chunked bodies, Connection: close on anything but a plain GET, upgrades)",
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
        let isolation = IsolationCounters::register(&mut registry);
        let coherence = CoherenceCounters::register(&mut registry);
        let build = Info::new(vec![("version", env!("CARGO_PKG_VERSION"))]);
        registry.register("build", "Build information", build);
        Metrics {
            registry: Mutex::new(registry),
            owned: Mutex::default(),
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
            isolation,
            coherence,
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

    /// Counts one client response by its status class.
    pub fn record_response(&self, status: u16) {
        self.responses[class_index(status).min(4)].inc();
    }

    /// A subsystem's counters, made and registered by `register` the first
    /// time they are asked for; every later call (the server's and the
    /// admin listener's TLS, say) shares the same ones.
    pub fn counters<T: Any + Send + Sync>(
        &self,
        register: impl FnOnce(&mut Registry) -> T,
    ) -> Arc<T> {
        let mut owned = self.owned.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(found) = owned.iter().find_map(|c| c.clone().downcast::<T>().ok()) {
            return found;
        }
        let mut registry = self.registry.lock().unwrap_or_else(PoisonError::into_inner);
        let made = Arc::new(register(&mut registry));
        owned.push(made.clone());
        made
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

    /// The exposition text (OpenMetrics), with the scrape-time values and
    /// the process's own series (`process_*`, read from `/proc/self` now).
    pub fn encode(&self, snapshot: &Snapshot) -> Result<String, std::fmt::Error> {
        let mut out = String::with_capacity(8 * 1024);
        let registry = self.registry.lock().unwrap_or_else(PoisonError::into_inner);
        prometheus_client::encoding::text::encode_registry(&mut out, &registry)?;
        prometheus_client::encoding::text::encode_registry(&mut out, &snapshot_registry(snapshot))?;
        prometheus_client::encoding::text::encode_registry(&mut out, &process::process_registry())?;
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

/// 0 for 1xx … 4 for 5xx.
pub fn class_index(status: u16) -> usize {
    usize::from((status / 100).clamp(1, 5) - 1)
}

#[cfg(test)]
mod tests;
