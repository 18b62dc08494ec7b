//! imgcache: a caching reverse proxy for the OpenStack Glance v2
//! image-details call (`GET /v2/images/{id}`) as Huawei Cloud / Open
//! Telekom Cloud IMS serves it.
//!
//! # Layout
//!
//! - [`config`]: file + env + flags → a validated [`config::Config`].
//! - [`server`]: the listener, connection cap, graceful drain.
//! - [`hit_path`]: fresh hits answered from prepared bytes, before hyper.
//! - [`tls`]: TLS on the listeners: handshake, ALPN, client certificates, reload.
//! - [`workers`]: thread-per-core serving with `SO_REUSEPORT` listeners.
//! - [`write_timeout`]: client connections that stop reading are closed.
//! - [`admin`]: metrics, health, readiness, stats and purges on their own port.
//! - [`proxy`]: the request phases, in order.
//! - [`cache`]: keys, entries, freshness, coalescing, invalidation.
//! - [`clock`]: the clock freshness and the breaker read (tests move it).
//! - [`fleet`]: the optional shared Redis tier across instances.
//! - [`route`]: image read / image write / other, as pure functions.
//! - [`request_headers`]: header lookup shared by hyper's and the hit path's parsers.
//! - [`upstream`]: the pooled upstream client, TLS, header rewriting.
//! - [`body`]: the body type used in both directions.
//! - [`error`]: the proxy's own errors and their statuses.
//! - [`access_log`]: one event per request.
//! - [`request_id`]: the request id a person follows through the logs.
//! - [`warn_limit`]: WARN lines at most once a second per kind.
//! - [`metrics`]: Prometheus counters, histograms and scrape-time gauges;
//!   subsystems register their own counters with it.
//! - [`hop_by_hop`], [`pem`]: facts about HTTP and PEM files everything uses.
//!
//! The ground floor ([`metrics`], [`hop_by_hop`], [`pem`], [`clock`],
//! [`route`]) imports no subsystem.
//! - [`transform`]: extension-field modes.
//! - [`telemetry`]: logging setup.
//! - [`app`]: wiring for the binary.
//! - [`demo`]: `--demo`, the sample image service (crate `glance-sample`,
//!   default feature `demo`) as the upstream.
#![forbid(unsafe_code)]

pub mod access_log;
pub mod admin;
pub mod app;
pub mod body;
pub mod cache;
pub mod clock;
pub mod config;
pub mod demo;
pub mod error;
pub mod fleet;
pub mod hit_path;
pub mod hop_by_hop;
pub mod metrics;
pub mod pem;
pub mod principal;
pub mod proxy;
pub mod request_headers;
pub mod request_id;
pub mod route;
pub mod server;
pub mod telemetry;
pub mod tls;
pub mod transform;
pub mod upstream;
pub mod warn_limit;
pub mod workers;
pub mod write_timeout;
