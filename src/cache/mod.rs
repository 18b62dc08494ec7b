//! The image-details cache (docs/design.md "What is stored"): keys per identity,
//! entries with their own freshness, a bounded moka store, per-image
//! generations for invalidation, and coalescing of concurrent misses.
//!
//! The HTTP side of it (what to forward, what to answer) is in
//! `proxy::read`; this module holds state and pure decisions.

pub mod entry;
pub mod flight;
pub mod freshness;
pub mod generation;
pub mod key;
pub mod outcome;
pub mod policy;
pub mod status;
pub mod store;

use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, StatusCode};

use crate::error::ProxyError;
use entry::Entry;
use flight::Flights;
use key::CacheKey;
use store::Store;

/// Coalescing key: the cache key plus the request's `Accept`, because the
/// upstream's *error* bodies depend on it (HTML, JSON or text), and a
/// follower must get exactly what the upstream would have told it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct FlightKey {
    /// Image and identity.
    pub key: CacheKey,
    /// The request's `Accept`, verbatim.
    pub accept: Option<HeaderValue>,
}

/// What a fill ended with, shared by every request that waited for it.
#[derive(Debug)]
pub struct Fetched {
    /// The upstream's status (0 when it never answered).
    pub upstream_status: u16,
    /// The upstream's `x-openstack-request-id`, for the leader's response.
    pub request_id: Option<HeaderValue>,
    /// Time to the upstream's response headers (the leader's upstream time).
    pub upstream_elapsed: Option<std::time::Duration>,
    /// The result.
    pub kind: FetchedKind,
}

impl Fetched {
    /// A fill that ended in the proxy's own error.
    pub fn failed(err: ProxyError) -> Fetched {
        Fetched {
            upstream_status: 0,
            request_id: None,
            upstream_elapsed: None,
            kind: FetchedKind::Failed(err),
        }
    }
}

/// The result of a fill.
#[derive(Debug)]
pub enum FetchedKind {
    /// A cacheable image: serve the entry. `stored` is false when a write
    /// overtook the fill, so it was served to its waiters but not kept.
    /// `shared` when it came from the fleet's Redis tier, not the upstream.
    Entry {
        entry: Arc<Entry>,
        stored: bool,
        shared: bool,
    },
    /// A whole upstream response that was not stored: pass it on as is.
    Passed {
        status: StatusCode,
        headers: HeaderMap,
        body: Bytes,
    },
    /// The body was too large to hold for sharing: every waiter forwards
    /// its own request instead.
    TooLarge,
    /// The upstream failed: every waiter gets this error.
    Failed(ProxyError),
}

/// The cache's shared state.
pub struct Cache {
    /// Stored entries.
    pub store: Store,
    /// Fills in flight.
    pub flights: Flights<FlightKey, Arc<Fetched>>,
}

impl Cache {
    /// An empty cache bounded to `max_bytes`.
    pub fn new(max_bytes: u64) -> Cache {
        Cache {
            store: Store::new(max_bytes),
            flights: Flights::default(),
        }
    }
}
