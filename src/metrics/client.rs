//! What clients sent or did that the proxy corrected or cut short
//! (`imgcache_request_headers_underscored_total`,
//! `imgcache_client_write_timeouts_total`).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

use crate::request_headers::UnderscoreHeaders;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ActionLabels {
    action: &'static str,
}

/// Counters about clients.
pub(super) struct ClientCounters {
    underscored_dropped: Counter,
    underscored_folded: Counter,
    write_timeouts: Counter,
}

impl ClientCounters {
    /// Creates and registers them (every label combination present).
    pub(super) fn register(registry: &mut Registry) -> ClientCounters {
        let underscored = Family::<ActionLabels, Counter>::default();
        let dropped = underscored
            .get_or_create(&ActionLabels { action: "dropped" })
            .clone();
        let folded = underscored
            .get_or_create(&ActionLabels { action: "folded" })
            .clone();
        registry.register(
            "request_headers_underscored",
            "Request header lines whose names have `_` (a WSGI upstream reads them as the `-` spelling), by what was done",
            underscored,
        );
        let write_timeouts = Counter::default();
        registry.register(
            "client_write_timeouts",
            "Client connections closed because no byte of a response could be written for server.write_timeout",
            write_timeouts.clone(),
        );
        ClientCounters {
            underscored_dropped: dropped,
            underscored_folded: folded,
            write_timeouts,
        }
    }

    pub(super) fn underscored(&self, policy: UnderscoreHeaders, lines: usize) {
        let counter = match policy {
            UnderscoreHeaders::Drop => &self.underscored_dropped,
            UnderscoreHeaders::Fold => &self.underscored_folded,
        };
        counter.inc_by(lines as u64);
    }

    pub(super) fn write_timeout(&self) {
        self.write_timeouts.inc();
    }
}
