//! A cache fill: one upstream request for a key, run in its own task with
//! its own timeout, so a waiter that hangs up cancels nothing for the
//! others. Its outcome goes to every waiter; a storable image is stored.

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, LengthLimitError, Limited};

mod fleet;

use fleet::FleetLookup;

use super::{Core, Forward, Settings};
use crate::body::ProxyBody;
use crate::cache::entry::Entry;
use crate::cache::flight::FlightGuard;
use crate::cache::key::CacheKey;
use crate::cache::{Fetched, FetchedKind, FlightKey, policy};
use crate::error::ProxyError;
use crate::transform::{self, Mode};
use crate::upstream::breaker::{Caller, Failure, Outcome};
use crate::upstream::fill_outcome;
use crate::upstream::headers::{REQUEST_ID, strip_hop_by_hop};

/// Bodies up to this size are held for sharing among waiters even when
/// larger than `cache.max_object_bytes` (then shared, not stored).
const MIN_SHARE_BUFFER: usize = 4 * 1024 * 1024;

/// Request headers a fill does not forward: it wants the whole,
/// unencoded representation to judge and store, whatever this one client
/// asked for (conditionals are answered by the proxy from the entry).
const NOT_FORWARDED_ON_FILL: &[HeaderName] = &[
    header::ACCEPT_ENCODING,
    header::IF_NONE_MATCH,
    header::IF_MODIFIED_SINCE,
    header::IF_MATCH,
    header::IF_UNMODIFIED_SINCE,
    header::RANGE,
    header::IF_RANGE,
];

/// One fill, ready to run.
pub(super) struct Fill {
    /// Only what a fill works with, not the whole proxy.
    core: Arc<Core>,
    key: CacheKey,
    settings: Arc<Settings>,
    /// The image's generation when the fill began, and the settings epoch
    /// it works under: a write or purge after this point makes the result
    /// unstorable.
    stamp: (u64, u64),
}

impl Fill {
    /// Prepares the fill and its upstream request from the leader's request.
    pub(super) fn new(
        core: Arc<Core>,
        forward: &Forward<'_>,
        key: CacheKey,
        settings: Arc<Settings>,
    ) -> Result<(Fill, Request<ProxyBody>), ProxyError> {
        let stamp = (core.cache.store.generation(&key.image_id), settings.epoch);
        let mut headers = forward.headers.clone();
        for name in NOT_FORWARDED_ON_FILL {
            headers.remove(name);
        }
        let copy = Forward {
            method: Method::GET,
            path: forward.path,
            query: None,
            headers,
            version: forward.version,
            client: forward.client,
            signature: forward.signature.clone(),
            tls: forward.tls.clone(),
        };
        let request = copy.into_request(&core.upstream, ProxyBody::empty())?;
        let fill = Fill {
            core,
            key,
            settings,
            stamp,
        };
        Ok((fill, request))
    }

    /// Runs the fill to its end and hands the outcome to every waiter.
    pub(super) async fn run(
        self,
        request: Request<ProxyBody>,
        guard: FlightGuard<FlightKey, Arc<Fetched>>,
    ) {
        let deadline = self.core.upstream.deadline();
        let mut shared_fill = None;
        // A held image (an IMS job runs) is asked of the upstream, not of
        // the fleet: another instance may have stored it before the job.
        let held = self.core.cache.store.is_held(&self.key.image_id);
        if let Some(fleet) = self.core.fleet.clone().filter(|_| !held) {
            let transform = &self.settings.transform;
            let clock = &self.core.clock;
            match fleet::consult(fleet, &self.key, transform, self.stamp, clock, deadline).await {
                FleetLookup::Found(entry) => {
                    return guard.finish(Arc::new(self.adopt(entry).await));
                }
                FleetLookup::Fetch(state) => shared_fill = state,
            }
        }
        let fetched = Arc::new(self.fetch(request, deadline).await);
        guard.finish(fetched.clone());
        // The local waiters have their answer; now share it with the fleet.
        if let Some(state) = shared_fill {
            let stored = match &fetched.kind {
                FetchedKind::Entry {
                    entry,
                    stored: true,
                    ..
                } => Some(entry.as_ref()),
                _ => None,
            };
            state
                .complete(&self.key.image_id, stored, self.core.clock.now())
                .await;
        }
    }

    /// Stores an entry another instance fetched, found in Redis.
    async fn adopt(&self, entry: Arc<Entry>) -> Fetched {
        let epoch = self.core.settings.load().epoch;
        let stored = self
            .core
            .cache
            .store
            .insert(self.key.clone(), entry.clone(), epoch)
            .await;
        Fetched {
            upstream_status: 0,
            request_id: None,
            upstream_elapsed: None,
            kind: FetchedKind::Entry {
                entry,
                stored,
                shared: true,
            },
        }
    }

    /// The whole exchange, headers and body, within one response timeout;
    /// how it went is told to the upstream's breaker and back-offs.
    async fn fetch(&self, request: Request<ProxyBody>, deadline: tokio::time::Instant) -> Fetched {
        let (fetched, outcome) = self.exchange(request, deadline).await;
        if let Some(outcome) = outcome {
            self.core.upstream.record_fill(caller(&self.key), outcome);
        }
        fetched
    }

    /// The exchange, and how the breaker sees it (`None`: the upstream
    /// was never asked).
    async fn exchange(
        &self,
        request: Request<ProxyBody>,
        deadline: tokio::time::Instant,
    ) -> (Fetched, Option<Outcome>) {
        let upstream = &self.core.upstream;
        let asked = std::time::Instant::now();
        let response = match upstream.send_by(request, deadline).await {
            Ok(response) => response,
            Err(err) => {
                return (
                    Fetched::failed(err.error),
                    err.failure.map(Outcome::Failure),
                );
            }
        };
        let upstream_elapsed = Some(asked.elapsed());
        let (mut parts, body) = response.into_parts();
        strip_hop_by_hop(&mut parts.headers);
        let outcome = fill_outcome(parts.status, &parts.headers);
        let upstream_status = parts.status.as_u16();
        let request_id = parts.headers.get(&REQUEST_ID).cloned();
        let limit = self.settings.cache.max_object_bytes.max(MIN_SHARE_BUFFER);
        let read = tokio::time::timeout_at(deadline, read_body(body, limit));
        let (kind, outcome) = match read.await.unwrap_or(Err(BodyError::TimedOut)) {
            Ok(body) => {
                let received = self.core.clock.now();
                let kind = self
                    .decide(parts.status, parts.headers, body, received)
                    .await;
                (kind, outcome)
            }
            Err(BodyError::TooLarge) => (FetchedKind::TooLarge, outcome),
            Err(BodyError::TimedOut) => (
                FetchedKind::Failed(self.core.upstream.timeout_error()),
                Outcome::Failure(Failure::Timeout),
            ),
            Err(BodyError::Broken(why)) => (
                FetchedKind::Failed(ProxyError::BadGateway(format!(
                    "the upstream response body broke off: {why}"
                ))),
                Outcome::Failure(Failure::Broken),
            ),
        };
        let fetched = Fetched {
            upstream_status,
            request_id,
            upstream_elapsed,
            kind,
        };
        (fetched, Some(outcome))
    }

    /// Stores a storable image; anything else is passed on as received.
    async fn decide(
        &self,
        status: StatusCode,
        mut headers: HeaderMap,
        body: Bytes,
        received: Instant,
    ) -> FetchedKind {
        let image_id = self.key.image_id.clone();
        let cache = &self.settings.cache;
        let verdict = policy::storable(status, &headers, &body, image_id.as_str(), cache);
        let body = self.reshape(status, &mut headers, body);
        let freshness = match verdict {
            Ok(freshness) => freshness,
            Err(reason) => {
                tracing::debug!(image = ?image_id, %reason, "not stored");
                return FetchedKind::Passed {
                    status,
                    headers,
                    body,
                };
            }
        };
        let age = policy::upstream_age(&headers);
        let entry = Arc::new(Entry::new(
            &headers, body, freshness, self.stamp, received, age,
        ));
        let epoch = self.core.settings.load().epoch;
        let store = &self.core.cache.store;
        let stored = store.insert(self.key.clone(), entry.clone(), epoch).await;
        if !stored {
            tracing::debug!(image = ?image_id, "not stored: a write overtook the fill");
        }
        FetchedKind::Entry {
            entry,
            stored,
            shared: false,
        }
    }
}

impl Fill {
    /// Applies the extension-field transform to the requested image's
    /// body, stored or not: every 200 image representation the proxy
    /// returns goes through it, once, here.
    fn reshape(&self, status: StatusCode, headers: &mut HeaderMap, body: Bytes) -> Bytes {
        let config = &self.settings.transform;
        if config.mode == Mode::Passthrough
            || !policy::is_requested_image(status, headers, &body, self.key.image_id.as_str())
        {
            return body;
        }
        match transform::transform_image_body(&body, config) {
            Some(changed) => {
                headers.insert(header::CONTENT_LENGTH, HeaderValue::from(changed.len()));
                headers.remove(header::ETAG);
                changed
            }
            None => body,
        }
    }
}

enum BodyError {
    TooLarge,
    TimedOut,
    Broken(String),
}

/// Reads a whole body, at most `limit` bytes, failing if it stalls.
/// The body (which stops at the upstream idle timeout itself), at most
/// `limit` bytes of it.
async fn read_body(body: ProxyBody, limit: usize) -> Result<Bytes, BodyError> {
    let body = Limited::new(body, limit);
    match body.collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(err) if err.is::<LengthLimitError>() => Err(BodyError::TooLarge),
        Err(err) => Err(BodyError::Broken(err.to_string())),
    }
}

/// Who a fill is for, as the upstream's breaker and back-offs count
/// callers: the cache identity (one per principal) and the image.
pub(super) fn caller(key: &CacheKey) -> Caller {
    use std::hash::{Hash, Hasher};
    let identity = key.identity.as_bytes();
    let mut principal = [0u8; 8];
    principal.copy_from_slice(&identity[..8]);
    let mut image = std::collections::hash_map::DefaultHasher::new();
    key.image_id.hash(&mut image);
    Caller {
        principal: u64::from_le_bytes(principal),
        image: image.finish(),
    }
}
