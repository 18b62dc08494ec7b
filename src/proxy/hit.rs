//! Fresh hits for connections that write their own responses (the hit
//! path, `crate::hit_path`): the decisions `read_image` makes before it
//! answers from memory, made on borrowed request headers, without a
//! request or response object. Anything but a fresh hit is `None`, and
//! the caller hands the request to the full path.

use std::sync::Arc;
use std::time::Instant;

use http::{HeaderValue, Method};

use super::Proxy;
use crate::cache::entry::Entry;
use crate::cache::freshness::Staleness;
use crate::cache::policy;
use crate::cache::status;
use crate::error::ProxyError;
use crate::metrics::RouteLabel;
use crate::request_headers::{HeaderLookup, UnderscoreHeaders, has_underscore};
use crate::route::{self, Route};

/// A fresh entry for this caller, and what to say about it.
pub struct FreshHit {
    /// The entry: stored header lines and body.
    pub entry: Arc<Entry>,
    /// Its `Cache-Status` value.
    pub cache_status: HeaderValue,
    /// Its `Age` value.
    pub age: HeaderValue,
    /// Header lines dropped for a `_` in their names (counted, not sent).
    pub underscored: usize,
}

impl Proxy {
    /// The fresh entry that answers a bodiless `GET` of `path` (as the
    /// client sent it, listen prefix included) with these headers; `None`
    /// for anything that is not a fresh hit: another route, a bypass, a
    /// miss, a stale entry.
    ///
    /// The caller has checked what hyper and `check_request` would have:
    /// a well-formed HTTP/1.1 head within the header limit, one `Host`, no
    /// hop-by-hop headers (so the identity is judged on the headers the
    /// upstream would see, as `read_image` judges it after stripping them).
    pub async fn fresh_hit<H: HeaderLookup + ?Sized>(
        &self,
        path: &str,
        headers: &H,
    ) -> Option<FreshHit> {
        let path = route::strip_prefix(path, &self.shared.path_prefix)?;
        let Route::ImageRead(image_id) = route::classify(&Method::GET, path, None) else {
            return None;
        };
        if policy::bypass_reason(headers).is_some() {
            return None;
        }
        let settings = self.shared.settings.load();
        // Dropped `_` headers count for nothing here, as on the full path
        // (no identity header has a `_`); folded ones would have to be
        // renamed first: the full path does that.
        let underscored = headers.names().filter(|name| has_underscore(name)).count();
        if underscored > 0 && settings.cache.underscore_headers == UnderscoreHeaders::Fold {
            return None;
        }
        let entry = self.lookup(&settings, image_id, headers).await.1?;
        let now = Instant::now();
        let age = entry.age(now);
        match entry.freshness.judge(age) {
            Staleness::Fresh { .. } => Some(FreshHit {
                cache_status: status::hit(entry.freshness.ttl_seconds(age)),
                age: status::age(age.as_secs()),
                underscored,
                entry,
            }),
            _ => None,
        }
    }

    /// Counts a hit the hit path served, as `handle` counts responses.
    pub fn record_fresh_hit(&self, hit: &FreshHit) {
        let metrics = &self.shared.metrics;
        metrics.record_request(
            RouteLabel::ImageRead,
            Some(hit.cache_status.as_bytes()),
            200,
        );
        metrics.record_hit_path_response();
        metrics.record_underscored(UnderscoreHeaders::Drop, hit.underscored);
    }

    /// Counts an error the hit path answered itself (a head that is not
    /// HTTP/1, or too large), as `handle` counts responses.
    pub fn record_refused(&self, err: &ProxyError) {
        let status = err.status().as_u16();
        tracing::debug!(status, %err, "refused a request head");
        self.shared
            .metrics
            .record_request(RouteLabel::Other, None, status);
    }

    /// Counts a connection the hit path handed to hyper.
    pub fn record_hand_off(&self) {
        self.shared.metrics.record_hit_path_handoff();
    }

    /// `server.max_header_bytes`: the hit path's limit on a request head.
    pub fn max_header_bytes(&self) -> usize {
        self.shared.max_header_bytes
    }
}
