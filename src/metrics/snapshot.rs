//! Values read from the running proxy when Prometheus scrapes, encoded as
//! constant series of one scrape.

use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::{Registry, Unit};

use super::PREFIX;

/// Values read from the running proxy at scrape time.
#[derive(Debug, Clone, Copy, Default)]
pub struct Snapshot {
    /// Entries in the cache, all identities.
    pub entries: u64,
    /// Bytes the cache holds, as its weigher counts them.
    pub bytes: u64,
    /// `cache.max_bytes`.
    pub max_bytes: u64,
    /// Slots evicted for space.
    pub evictions: u64,
    /// Upstream requests waiting for response headers.
    pub upstream_in_flight: u64,
    /// 0 closed, 1 half-open, 2 open.
    pub breaker_state: i64,
    /// Principals held back by an upstream `Retry-After` now.
    pub principals_backed_off: u64,
    /// Fills in flight.
    pub fills_in_flight: u64,
    /// The Redis tier: `None` when off, else whether it answers.
    pub l2_up: Option<bool>,
}

/// A registry of constant values for one scrape.
pub(super) fn snapshot_registry(s: &Snapshot) -> Registry {
    let mut registry = Registry::with_prefix(PREFIX);
    let gauge = |v: u64| ConstGauge::new(i64::try_from(v).unwrap_or(i64::MAX));
    registry.register(
        "cache_entries",
        "Entries in the cache (all identities)",
        gauge(s.entries),
    );
    registry.register_with_unit(
        "cache",
        "Memory the cache holds (bodies, headers, overhead)",
        Unit::Bytes,
        gauge(s.bytes),
    );
    registry.register_with_unit(
        "cache_max",
        "cache.max_bytes",
        Unit::Bytes,
        gauge(s.max_bytes),
    );
    registry.register(
        "cache_evictions",
        "Images evicted to stay within cache.max_bytes",
        ConstCounter::new(s.evictions),
    );
    registry.register(
        "upstream_in_flight",
        "Upstream requests waiting for response headers",
        gauge(s.upstream_in_flight),
    );
    registry.register(
        "cache_fills_in_flight",
        "Cache fills in flight",
        gauge(s.fills_in_flight),
    );
    if let Some(up) = s.l2_up {
        registry.register(
            "l2_up",
            "Whether the shared Redis tier answers (1) or not (0)",
            ConstGauge::new(i64::from(up)),
        );
    }
    registry.register(
        "upstream_principals_backed_off",
        "Callers whose image fills are held back because the upstream answered them 429/503 with Retry-After",
        gauge(s.principals_backed_off),
    );
    registry.register(
        "circuit_breaker_state",
        "Circuit breaker for image reads: 0 closed, 1 half-open, 2 open",
        ConstGauge::new(s.breaker_state),
    );
    registry
}
