//! The fleet tier's counters (`imgcache_l2_*`).

use prometheus_client::metrics::counter::Counter;
use prometheus_client::registry::Registry;

/// The fleet tier's counters (`imgcache_l2_*`).
#[derive(Default)]
pub(super) struct L2Counters {
    pub(super) hits: Counter,
    pub(super) misses: Counter,
    pub(super) errors: Counter,
    pub(super) lock_waits: Counter,
    pub(super) invalidations_received: Counter,
}

impl L2Counters {
    pub(super) fn register(&self, registry: &mut Registry) {
        registry.register(
            "l2_hits",
            "Fills answered from the shared Redis tier",
            self.hits.clone(),
        );
        registry.register(
            "l2_misses",
            "Fills the shared Redis tier could not answer",
            self.misses.clone(),
        );
        registry.register(
            "l2_errors",
            "Redis calls that failed or timed out",
            self.errors.clone(),
        );
        registry.register(
            "l2_lock_waits",
            "Polls while another instance filled the same key",
            self.lock_waits.clone(),
        );
        registry.register(
            "l2_invalidations_received",
            "Invalidation messages received from the fleet",
            self.invalidations_received.clone(),
        );
    }
}
