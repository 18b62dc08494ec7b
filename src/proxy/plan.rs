//! One decision for an image read, made the same way whoever parsed the
//! request: the hit path (raw header lines) and hyper (a `HeaderMap`)
//! both ask [`Proxy::plan`] and obey the [`ReadPlan`] it returns. It takes
//! only [`Forwarded`] headers: the rule "judge the request as the upstream
//! will see it" is a type, not a comment.

use std::sync::Arc;
use std::time::Instant;

use http::{HeaderValue, Method};

use super::{Proxy, Settings};
use crate::cache::entry::Entry;
use crate::cache::freshness::Staleness;
use crate::cache::key::CacheKey;
use crate::cache::outcome::CacheOutcome;
use crate::cache::policy;
use crate::cache::status;
use crate::error::ProxyError;
use crate::metrics::RouteLabel;
use crate::principal::signing::{self, SignatureCheck};
use crate::request_headers::{Forwarded, HeaderLookup, UnderscoreHeaders};
use crate::route::{self, ImageId, Route};
use crate::tls::ClientCert;

/// What to do for a bodiless `GET` of an image.
pub enum ReadPlan {
    /// The request asked not to use the cache: forward it.
    Bypass,
    /// A fresh entry for this caller: answer from it.
    Fresh(FreshHit),
    /// Past its freshness, within `stale_while_revalidate`: answer from it
    /// and refresh it in the background.
    Revalidate(CacheKey, Arc<Entry>),
    /// Ask the upstream (joining a fill in flight); `fallback` is a stale
    /// entry to serve if that fails.
    Fetch {
        key: CacheKey,
        fallback: Option<Arc<Entry>>,
    },
}

/// A fresh entry for this caller, and what to say about it.
pub struct FreshHit {
    /// The entry: stored header lines and body.
    pub entry: Arc<Entry>,
    /// What the cache did (a hit, with the freshness left).
    pub outcome: CacheOutcome,
    /// Its `Age` value.
    pub age: HeaderValue,
    /// Header lines dropped for a `_` in their names (counted, not sent).
    pub underscored: usize,
}

impl FreshHit {
    fn new(entry: Arc<Entry>, now: Instant, underscored: usize) -> FreshHit {
        let age = entry.age(now);
        FreshHit {
            outcome: CacheOutcome::Hit {
                ttl: entry.freshness.ttl_seconds(age),
            },
            age: status::age(age.as_secs()),
            underscored,
            entry,
        }
    }
}

impl Proxy {
    /// The plan for a bodiless `GET` of `image_id` with these headers,
    /// this signature and this client certificate, under these settings,
    /// at `now`.
    pub(super) async fn plan<H: HeaderLookup + ?Sized>(
        &self,
        settings: &Settings,
        image_id: ImageId,
        headers: Forwarded<'_, H>,
        signature: &SignatureCheck,
        client_cert: Option<&ClientCert>,
        now: Instant,
    ) -> ReadPlan {
        if policy::bypass_reason(headers.get()).is_some() {
            return ReadPlan::Bypass;
        }
        let principal = self
            .shared
            .principals
            .resolve(signature, headers.get())
            .await;
        let names = &settings.cache.identity_headers;
        let cert = client_cert.map(ClientCert::as_bytes);
        let Some(identity) = principal.identity(headers.get(), names, cert) else {
            return ReadPlan::Bypass;
        };
        let (key, stored) = self.lookup(settings, image_id, identity).await;
        let Some(entry) = stored else {
            return ReadPlan::Fetch {
                key,
                fallback: None,
            };
        };
        match entry.staleness(now) {
            Staleness::Fresh { .. } => {
                ReadPlan::Fresh(FreshHit::new(entry, now, headers.underscored()))
            }
            Staleness::Revalidate => ReadPlan::Revalidate(key, entry),
            Staleness::IfError => ReadPlan::Fetch {
                key,
                fallback: Some(entry),
            },
            Staleness::Expired => ReadPlan::Fetch {
                key,
                fallback: None,
            },
        }
    }

    /// For the hit path: the fresh entry that answers a bodiless `GET` of
    /// `path` (as the client sent it, listen prefix included) with these
    /// raw header lines on a connection with this client certificate;
    /// `None` for anything the full path must do.
    pub async fn fresh_hit(
        &self,
        path: &str,
        headers: &[httparse::Header<'_>],
        client_cert: Option<&ClientCert>,
    ) -> Option<FreshHit> {
        let full_path = path;
        let path = route::strip_prefix(path, &self.shared.path_prefix)?;
        let Route::ImageRead(image_id) = route::classify(&Method::GET, path, None) else {
            return None;
        };
        let settings = self.shared.settings.load();
        let headers = Forwarded::check(headers, settings.cache.underscore_headers)?;
        let line = signing::RequestLine {
            method: "GET",
            path: full_path,
            query: None,
            authority: None,
        };
        let signature = self.shared.principals.signing().check(
            line,
            headers.get(),
            signing::Body::Empty,
            std::time::SystemTime::now(),
        );
        match self
            .plan(
                &settings,
                image_id,
                headers,
                &signature,
                client_cert,
                self.shared.clock.now(),
            )
            .await
        {
            // Counted only when answered here: otherwise hyper checks
            // (and counts) the request again.
            ReadPlan::Fresh(hit) => {
                self.shared.metrics.record_signature(&signature);
                Some(hit)
            }
            _ => None,
        }
    }

    /// Counts a hit the hit path served, as `handle` counts responses.
    pub fn record_fresh_hit(&self, hit: &FreshHit) {
        let metrics = &self.shared.metrics;
        metrics.record_request(RouteLabel::ImageRead, Some(hit.outcome), 200);
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
