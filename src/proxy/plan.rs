//! One decision for an image read, made the same way whoever parsed the
//! request: the hit path (raw header lines) and hyper (a `HeaderMap`)
//! both ask [`Proxy::plan`] and obey the [`ReadPlan`] it returns. It takes
//! only [`Forwarded`] headers: the rule "judge the request as the upstream
//! will see it" is a type, not a comment.

use std::sync::Arc;
use std::time::Instant;

use http::{HeaderValue, Method, Version};

use super::admit::{Head, Verdict};
use super::finish::{Finished, PrincipalKind, RouteLabel};
use super::{Proxy, Settings};
use crate::cache::entry::Entry;
use crate::cache::freshness::Staleness;
use crate::cache::key::CacheKey;
use crate::cache::outcome::CacheOutcome;
use crate::cache::policy;
use crate::cache::status;
use crate::principal::signing::{self, SignatureCheck};
use crate::request_headers::{Forwarded, HeaderLookup, UnderscoreHeaders};
use crate::request_id::RequestId;
use crate::route::{ImageId, Route};
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
    /// What credentials the request carried (set by the hit path's plan).
    pub principal: PrincipalKind,
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
            principal: PrincipalKind::Unknown,
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

    /// For the hit path: how to answer a plain, bodiless HTTP/1.1 `GET` of
    /// `path` (as the client sent it, listen prefix included) with these
    /// raw header lines on a connection with this client certificate. It
    /// is admitted as hyper's requests are; a fresh entry for this caller
    /// answers it, anything else is hyper's, with the admission's verdict.
    pub async fn plan_plain_get(
        &self,
        path: &str,
        headers: &[httparse::Header<'_>],
        client_cert: Option<&ClientCert>,
    ) -> HitPathPlan {
        let settings = self.shared.core.settings.load();
        let Some(forwarded) = Forwarded::check(headers, settings.cache.underscore_headers) else {
            // The full path prepares (folds, strips) these headers first.
            return HitPathPlan::Hyper(None);
        };
        let head = Head {
            method: &Method::GET,
            path,
            query: None,
            authority: None,
            version: Version::HTTP_11,
            headers: &forwarded,
        };
        // Refused: hyper's admission refuses it the same way.
        let Ok(admitted) = self.admit(&head, signing::Body::Empty, None) else {
            return HitPathPlan::Hyper(None);
        };
        let Route::ImageRead(image_id) = admitted.route else {
            return HitPathPlan::Hyper(Some(Verdict(admitted.signature)));
        };
        let now = self.shared.core.clock.now();
        let cert = client_cert;
        match self
            .plan(
                &settings,
                image_id,
                forwarded,
                &admitted.signature,
                cert,
                now,
            )
            .await
        {
            ReadPlan::Fresh(mut hit) => {
                let certificate = client_cert.is_some();
                hit.principal = PrincipalKind::of(headers, &admitted.signature, certificate);
                HitPathPlan::Answer(hit)
            }
            _ => HitPathPlan::Hyper(Some(Verdict(admitted.signature))),
        }
    }
}

/// What the hit path does with a plain `GET`.
pub enum HitPathPlan {
    /// Answers it from this fresh entry.
    Answer(FreshHit),
    /// Lets hyper answer it, with the verdict on its signature when the
    /// hit path already reached one.
    Hyper(Option<Verdict>),
}

impl FreshHit {
    /// What the finish step counts for it: a request read at `started`,
    /// answered with `request_id`.
    pub fn finished(&self, started: std::time::Instant, request_id: RequestId) -> Finished {
        Finished {
            route: RouteLabel::ImageRead,
            status: 200,
            outcome: Some(self.outcome),
            underscored: (UnderscoreHeaders::Drop, self.underscored),
            principal: self.principal,
            ..Finished::new(started, request_id)
        }
    }
}
