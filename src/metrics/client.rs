//! What clients did that the proxy cut short
//! (`imgcache_client_write_timeouts_total`).

use prometheus_client::metrics::counter::Counter;
use prometheus_client::registry::Registry;

/// Counters about clients.
pub(super) struct ClientCounters {
    write_timeouts: Counter,
}

impl ClientCounters {
    /// Creates and registers them (every label combination present).
    pub(super) fn register(registry: &mut Registry) -> ClientCounters {
        let write_timeouts = Counter::default();
        registry.register(
            "client_write_timeouts",
            "Client connections closed because no byte of a response could be written for server.write_timeout",
            write_timeouts.clone(),
        );
        ClientCounters { write_timeouts }
    }

    pub(super) fn write_timeout(&self) {
        self.write_timeouts.inc();
    }
}
