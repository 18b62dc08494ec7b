//! Counters of the proxy keeping one caller's trouble from others:
//! retries of dead pooled upstream connections
//! (`imgcache_upstream_retries_total{result}`), per-caller back-offs
//! (`imgcache_upstream_backoffs_total`), client connections refused over
//! `server.max_connections` (`imgcache_connections_refused_total`), idle
//! HTTP/2 connections closed (`imgcache_idle_connections_closed_total`)
//! and token validations skipped while Keystone was busy with others
//! (`imgcache_token_validations_skipped_total`).

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabels {
    result: &'static str,
}

pub(super) struct IsolationCounters {
    retries_ok: Counter,
    retries_failed: Counter,
    backoffs: Counter,
    connections_refused: Counter,
    idle_closed: Counter,
    validations_skipped: Counter,
}

impl IsolationCounters {
    /// Creates and registers them (every label present from the start).
    pub(super) fn register(registry: &mut Registry) -> IsolationCounters {
        let retries = Family::<ResultLabels, Counter>::default();
        let retries_ok = retries
            .get_or_create(&ResultLabels { result: "ok" })
            .clone();
        let retries_failed = retries
            .get_or_create(&ResultLabels { result: "failed" })
            .clone();
        registry.register(
            "upstream_retries",
            "Idempotent requests sent again on a new connection after a pooled upstream connection turned out dead, by how the retry went",
            retries,
        );
        let counter = |registry: &mut Registry, name: &str, help: &str| {
            let counter = Counter::default();
            registry.register(name, help, counter.clone());
            counter
        };
        let backoffs = counter(
            registry,
            "upstream_backoffs",
            "Upstream 429/503 answers with Retry-After to an image fill: that caller's fills are held back, nobody else's",
        );
        let connections_refused = counter(
            registry,
            "connections_refused",
            "Client connections closed at once because server.max_connections were open",
        );
        let idle_closed = counter(
            registry,
            "idle_connections_closed",
            "HTTP/2 client connections closed (GOAWAY) after server.idle_timeout without an open stream",
        );
        let validations_skipped = counter(
            registry,
            "token_validations_skipped",
            "Tokens not validated because identity.max_concurrent_validations were running: those requests bypassed the cache",
        );
        IsolationCounters {
            retries_ok,
            retries_failed,
            backoffs,
            connections_refused,
            idle_closed,
            validations_skipped,
        }
    }

    pub(super) fn retry(&self, ok: bool) {
        if ok {
            self.retries_ok.inc();
        } else {
            self.retries_failed.inc();
        }
    }

    pub(super) fn backoff(&self) {
        self.backoffs.inc();
    }

    pub(super) fn connection_refused(&self) {
        self.connections_refused.inc();
    }

    pub(super) fn idle_closed(&self) {
        self.idle_closed.inc();
    }

    pub(super) fn validation_skipped(&self) {
        self.validations_skipped.inc();
    }
}
