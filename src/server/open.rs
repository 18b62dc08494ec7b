//! Client connections open now, by protocol and whether they came over
//! TLS (`imgcache_client_connections{protocol, tls}`): a gauge per label
//! set, raised when a connection is known to speak a protocol and lowered
//! by a guard's drop, so every way a connection ends (the hit path closing
//! it, hyper ending, a panic, a drain) takes it off.

use std::sync::Arc;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ConnectionLabels {
    protocol: &'static str,
    tls: &'static str,
}

/// What a client connection speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Speaks {
    Http1,
    H2,
}

/// The gauges, one per protocol and transport, all present from the start.
pub(super) struct OpenConnections {
    /// By `[tls][h2]`.
    gauges: [[Gauge; 2]; 2],
}

impl OpenConnections {
    /// Creates and registers them.
    pub(super) fn register(registry: &mut Registry) -> OpenConnections {
        let family = Family::<ConnectionLabels, Gauge>::default();
        let gauge = |tls: &'static str, protocol: &'static str| {
            family
                .get_or_create(&ConnectionLabels { protocol, tls })
                .clone()
        };
        let gauges = [
            [gauge("false", "http1"), gauge("false", "h2")],
            [gauge("true", "http1"), gauge("true", "h2")],
        ];
        registry.register(
            "client_connections",
            "Client connections open now, by protocol (http1, h2) and whether they came over TLS (TLS ones once the handshake is done)",
            family,
        );
        OpenConnections { gauges }
    }

    /// Counts a connection speaking `speaks` as open until the guard drops.
    pub(super) fn open(self: &Arc<Self>, speaks: Speaks, tls: bool) -> OpenGuard {
        let guard = OpenGuard {
            gauges: self.clone(),
            tls,
            speaks,
        };
        guard.gauge().inc();
        guard
    }
}

/// One open connection, counted until dropped.
pub(super) struct OpenGuard {
    gauges: Arc<OpenConnections>,
    tls: bool,
    speaks: Speaks,
}

impl OpenGuard {
    /// The connection turned out to speak `speaks` (h2c after a plain
    /// start): counted there from now.
    pub(super) fn now_speaks(&mut self, speaks: Speaks) {
        if speaks != self.speaks {
            self.gauge().dec();
            self.speaks = speaks;
            self.gauge().inc();
        }
    }

    fn gauge(&self) -> &Gauge {
        &self.gauges.gauges[usize::from(self.tls)][usize::from(self.speaks == Speaks::H2)]
    }
}

impl Drop for OpenGuard {
    fn drop(&mut self) {
        self.gauge().dec();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A guard counts its connection under the protocol it speaks now,
    /// and nowhere once dropped.
    #[test]
    fn guard_moves_and_drops() {
        let open = Arc::new(OpenConnections::register(&mut Registry::default()));
        let value = |tls: usize, h2: usize| open.gauges[tls][h2].get();
        let mut plain = open.open(Speaks::Http1, false);
        let tls = open.open(Speaks::H2, true);
        assert_eq!((value(0, 0), value(0, 1), value(1, 1)), (1, 0, 1));
        plain.now_speaks(Speaks::H2);
        assert_eq!((value(0, 0), value(0, 1)), (0, 1));
        drop(plain);
        drop(tls);
        assert_eq!(open.gauges.iter().flatten().map(Gauge::get).sum::<i64>(), 0);
    }
}
