//! What the operator's side (admin API, SIGHUP) may ask of a running
//! proxy: stats, purges, readiness and config reloads.

use std::sync::Arc;

use serde_json::{Value, json};

use super::{Proxy, Settings};
use crate::config::Config;
use crate::config::units::format_duration;
use crate::metrics::{Metrics, Snapshot};
use crate::route::ImageId;
use crate::upstream::breaker::State;

use super::lifecycle::Stage;

/// What a reload did.
#[derive(Debug, Default)]
pub struct ReloadReport {
    /// The cache was emptied (identity headers or transform changed).
    pub purged: bool,
    /// Settings that changed in the file but need a restart, by name
    /// (`server.workers`), never by value.
    pub not_applied: Vec<&'static str>,
}

/// The operator's handle on a running proxy: what the admin API, SIGHUP,
/// start-up and drain may do, kept apart from the request pipeline.
#[derive(Clone)]
pub struct Operator {
    proxy: Proxy,
}

impl Proxy {
    /// The operator's handle on this proxy.
    pub fn operator(&self) -> Operator {
        Operator {
            proxy: self.clone(),
        }
    }

    /// The metrics registry.
    pub fn metrics(&self) -> &Metrics {
        &self.shared.metrics
    }

    /// The metrics registry, for what outlives a request (connections).
    pub fn metrics_handle(&self) -> Arc<Metrics> {
        self.shared.metrics.clone()
    }

    /// Drops every entry, here and (with the fleet tier) everywhere, and
    /// keeps fills in flight from storing theirs (an operator's purge, or
    /// a write whose images cannot be told).
    pub(super) async fn purge_all(&self) -> usize {
        let purged = self.drop_all_local().await;
        if let Some(fleet) = &self.shared.core.fleet {
            fleet.purge_all().await;
        }
        purged
    }

    /// Drops one image's local entries (all identities).
    pub(super) async fn drop_local(&self, id: &ImageId) -> usize {
        self.shared.metrics.record_invalidation();
        self.shared.core.cache.store.invalidate(id).await
    }

    /// Drops the whole local cache under a new settings epoch.
    pub(super) async fn drop_all_local(&self) -> usize {
        self.shared.metrics.record_invalidation();
        self.shared.core.settings.rcu(|s| Settings {
            epoch: s.epoch + 1,
            ..Settings::clone(s)
        });
        self.shared.core.cache.store.invalidate_all().await
    }
}

impl Operator {
    /// The metrics registry.
    pub fn metrics(&self) -> &Metrics {
        self.proxy.metrics()
    }

    /// The scrape-time values (pending cache maintenance applied first,
    /// so sizes are current).
    pub async fn snapshot(&self) -> Snapshot {
        let store = &self.proxy.shared.core.cache.store;
        store.settle().await;
        Snapshot {
            entries: store.entry_count(),
            bytes: store.weighted_bytes(),
            max_bytes: self.proxy.shared.fixed.cache_max_bytes,
            evictions: store.evictions(),
            upstream_in_flight: self.proxy.shared.core.upstream.in_flight() as u64,
            breaker_state: match self.proxy.shared.core.upstream.breaker_state() {
                State::Closed => 0,
                State::HalfOpen { .. } => 1,
                State::Open { .. } => 2,
            },
            principals_backed_off: self.proxy.shared.core.upstream.principals_backed_off(),
            fills_in_flight: self.proxy.shared.core.cache.flights.len() as u64,
            l2_up: self
                .proxy
                .shared
                .core
                .fleet
                .as_ref()
                .map(|fleet| fleet.is_up()),
        }
    }

    /// Drops every identity's entry of one image, here and (with the
    /// fleet tier) on every instance; returns how many were held here.
    pub async fn purge(&self, id: &str) -> usize {
        let id = ImageId::new(id);
        let purged = self.proxy.drop_local(&id).await;
        if let Some(fleet) = &self.proxy.shared.core.fleet {
            fleet.invalidate(&id).await;
        }
        purged
    }

    /// Drops every entry, here and (with the fleet tier) everywhere, and
    /// keeps fills in flight from storing theirs.
    pub async fn purge_all(&self) -> usize {
        self.proxy.purge_all().await
    }

    /// The upstream circuit breaker's state.
    pub fn breaker_state(&self) -> State {
        self.proxy.shared.core.upstream.breaker_state()
    }

    /// Marks the proxy as serving: a listener accepts connections.
    pub fn mark_serving(&self) {
        self.proxy.shared.lifecycle.serving();
    }

    /// Marks the proxy as shutting down: `/readyz` turns 503 so a load
    /// balancer stops sending new work while in-flight requests drain.
    pub fn start_draining(&self) {
        self.proxy.shared.lifecycle.draining();
    }

    /// The shared tier's state for `/healthz` and `/readyz`: `None` when
    /// it is off. Redis trouble does not make the proxy unready: it
    /// degrades to local-only.
    pub fn shared_tier(&self) -> Option<&'static str> {
        self.proxy.shared.core.fleet.as_ref().map(|fleet| {
            if fleet.is_up() {
                "up"
            } else {
                "down: serving from the local cache and the upstream"
            }
        })
    }

    /// `Ok` when the proxy can serve; else why not: only while starting
    /// (no listener accepts yet) or draining for shutdown. The upstream's
    /// health never makes it unready: an upstream outage is exactly when
    /// the cache must keep serving (see [`Proxy::health`]).
    pub fn readiness(&self) -> Result<(), String> {
        match self.proxy.shared.lifecycle.get() {
            Stage::Starting => Err("starting: no listener accepts connections yet".into()),
            Stage::Serving => Ok(()),
            Stage::Draining => Err("shutting down: draining in-flight requests".into()),
        }
    }

    /// `GET /healthz`: the process answers; what it knows of the upstream
    /// (breaker, callers held back) and the shared tier, for people and
    /// dashboards — never a reason to restart or unready it.
    pub fn health(&self) -> Value {
        let upstream = &self.proxy.shared.core.upstream;
        let breaker = upstream.breaker_state();
        let mut health = json!({
            "status": "ok",
            "upstream": {
                "circuit_breaker": breaker.as_str(),
                "principals_backed_off": upstream.principals_backed_off(),
                "in_flight": upstream.in_flight(),
            },
            "redis": self.shared_tier(),
        });
        if let State::Open { until } = breaker {
            let left = until.saturating_duration_since(self.proxy.shared.core.clock.now());
            health["upstream"]["next_probe_in_s"] = json!(left.as_secs() + 1);
        }
        health
    }

    /// `GET /cache/stats`: counts and the config summary; never keys or
    /// tokens.
    pub async fn stats(&self) -> Value {
        let snapshot = self.snapshot().await;
        let (from_cache, reads) = self.proxy.shared.requests.image_read_counts();
        let settings = self.proxy.shared.core.settings.load();
        let ratio = if reads == 0 {
            0.0
        } else {
            from_cache as f64 / reads as f64
        };
        let breaker = ["closed", "half-open", "open"][snapshot.breaker_state.clamp(0, 2) as usize];
        json!({
            "entries": snapshot.entries,
            "bytes": snapshot.bytes,
            "max_bytes": snapshot.max_bytes,
            "evictions": snapshot.evictions,
            "image_reads": reads,
            "served_from_cache": from_cache,
            "hit_ratio": (ratio * 10_000.0).round() / 10_000.0,
            "fills_in_flight": snapshot.fills_in_flight,
            "upstream_in_flight": snapshot.upstream_in_flight,
            "circuit_breaker": breaker,
            "config": settings_summary(&settings),
        })
    }

    /// Applies a reloaded config: its `Reloadable` part replaces the
    /// running one; each key of its `Fixed` part that differs from the
    /// running value is named (and counted) as not applied (see
    /// [`Config::split`]). The cache is emptied when the identity headers
    /// or the transform changed, so no entry made under the old ones is
    /// ever served.
    pub async fn reload(&self, config: &Config) -> ReloadReport {
        let (fixed, reloadable) = config.clone().split();
        let not_applied = self.proxy.shared.fixed.diff(&fixed);
        for setting in &not_applied {
            self.proxy.shared.metrics.record_reload_not_applied(setting);
        }
        let current = self.proxy.shared.core.settings.load_full();
        let mut next = Settings::of(reloadable, current.epoch);
        let purged = next.cache.identity_headers != current.cache.identity_headers
            || next.cache.underscore_headers != current.cache.underscore_headers
            || next.transform != current.transform;
        if purged {
            next.epoch += 1;
        }
        self.proxy.shared.core.settings.store(Arc::new(next));
        if purged {
            self.proxy.shared.core.cache.store.invalidate_all().await;
            self.proxy.shared.metrics.record_invalidation();
        }
        ReloadReport {
            purged,
            not_applied,
        }
    }
}

fn settings_summary(settings: &Settings) -> Value {
    let cache = &settings.cache;
    let transform = &settings.transform;
    json!({
        "ttl": format_duration(cache.ttl),
        "transient_ttl": format_duration(cache.transient_ttl),
        "job_hold": format_duration(cache.job_hold),
        "stale_if_error": format_duration(cache.stale_if_error),
        "stale_while_revalidate": format_duration(cache.stale_while_revalidate),
        "max_object_bytes": cache.max_object_bytes,
        "identity_headers": cache.identity_headers.names().iter().map(|h| h.as_str()).collect::<Vec<_>>(),
        "underscore_headers": cache.underscore_headers.as_str(),
        "transform": {
            "mode": transform.mode.as_str(),
            "strip_prefix": transform.strip_prefix,
            "strip_fields": transform.strip_fields,
            "keep_fields": transform.keep_fields,
            "max_list_bytes": transform.max_list_bytes,
        },
    })
}
