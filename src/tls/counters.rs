//! TLS on the listening side (`imgcache_tls_handshakes_total`,
//! `imgcache_tls_handshake_failures_total`,
//! `imgcache_tls_certificate_reloads_total`) and when each listener's
//! certificate expires (`imgcache_tls_certificate_not_after_seconds`).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::{Registry, Unit};

use super::HandshakeFailure;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ProtocolLabels {
    protocol: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ListenerLabels {
    listener: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabels {
    result: &'static str,
}

/// Counters about TLS handshakes and certificates.
pub(super) struct TlsCounters {
    h2: Counter,
    http1: Counter,
    /// In [`HandshakeFailure::ALL`] order.
    failures: Vec<Counter>,
    reloads_ok: Counter,
    reloads_failed: Counter,
    /// By listener (`server`, `admin`), once its certificate is loaded.
    not_after: Family<ListenerLabels, Gauge>,
}

impl TlsCounters {
    /// Creates and registers them (every label combination present).
    pub(super) fn register(registry: &mut Registry) -> TlsCounters {
        let handshakes = Family::<ProtocolLabels, Counter>::default();
        let h2 = handshakes
            .get_or_create(&ProtocolLabels { protocol: "h2" })
            .clone();
        let http1 = handshakes
            .get_or_create(&ProtocolLabels {
                protocol: "http/1.1",
            })
            .clone();
        registry.register(
            "tls_handshakes",
            "TLS handshakes completed, by the protocol ALPN chose",
            handshakes,
        );
        let reasons = Family::<ReasonLabels, Counter>::default();
        let failures = HandshakeFailure::ALL
            .iter()
            .map(|f| {
                reasons
                    .get_or_create(&ReasonLabels { reason: f.label() })
                    .clone()
            })
            .collect();
        registry.register(
            "tls_handshake_failures",
            "TLS handshakes that failed, by reason",
            reasons,
        );
        let reloads = Family::<ResultLabels, Counter>::default();
        let reloads_ok = reloads
            .get_or_create(&ResultLabels { result: "ok" })
            .clone();
        let reloads_failed = reloads
            .get_or_create(&ResultLabels { result: "error" })
            .clone();
        registry.register(
            "tls_certificate_reloads",
            "TLS certificate reloads (SIGHUP or a change of the files), by result",
            reloads,
        );
        let not_after = Family::<ListenerLabels, Gauge>::default();
        registry.register_with_unit(
            "tls_certificate_not_after",
            "When the certificate a listener serves expires (its notAfter), in seconds since the Unix epoch",
            Unit::Seconds,
            not_after.clone(),
        );
        TlsCounters {
            h2,
            http1,
            failures,
            reloads_ok,
            reloads_failed,
            not_after,
        }
    }

    pub(super) fn handshake(&self, h2: bool) {
        if h2 { &self.h2 } else { &self.http1 }.inc();
    }

    pub(super) fn failure(&self, failure: HandshakeFailure) {
        if let Some(at) = HandshakeFailure::ALL.iter().position(|f| *f == failure) {
            self.failures[at].inc();
        }
    }

    /// The certificate `listener` serves from now expires at `not_after`
    /// (unreadable: the series is dropped rather than left stale).
    pub(super) fn certificate(&self, listener: &'static str, not_after: Option<i64>) {
        let labels = ListenerLabels { listener };
        match not_after {
            Some(at) => {
                self.not_after.get_or_create(&labels).set(at);
            }
            None => {
                self.not_after.remove(&labels);
            }
        }
    }

    pub(super) fn reload(&self, ok: bool) {
        if ok {
            &self.reloads_ok
        } else {
            &self.reloads_failed
        }
        .inc();
    }
}
