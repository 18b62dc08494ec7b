//! The image-read path: bypass → lookup → (hit | stale | coalesced fill)
//! → respond.

use std::sync::Arc;
use std::time::Duration;

use http::{HeaderMap, header};

use super::fill::{Fill, caller};
use super::plan::ReadPlan;
use super::respond;
use super::{Answer, Forward, Proxy, Settings};
use crate::body::ProxyBody;
use crate::cache::entry::Entry;
use crate::cache::flight::Joined;
use crate::cache::key::{CacheKey, Identity};
use crate::cache::outcome::CacheOutcome;
use crate::cache::{Fetched, FetchedKind, FlightKey};
use crate::error::ProxyError;
use crate::request_headers::Forwarded;
use crate::route::ImageId;
use crate::upstream::FillAdmit;

/// Extra time a waiter gives the fill beyond the response timeout, so the
/// fill's own timeout (a clean 504 for everyone) fires first.
const WAIT_GRACE: Duration = Duration::from_millis(100);

/// What a stored entry can still do for this request.
enum Cached {
    /// Nothing: fetch.
    Nothing,
    /// A stale entry to serve if the upstream fails.
    FallBack(Arc<Entry>),
}

impl Proxy {
    /// `GET /v2/images/{id}`: answered as [`Proxy::plan`] says.
    pub(super) async fn read_image(
        &self,
        mut forward: Forward<'_>,
        body: ProxyBody,
        image_id: ImageId,
    ) -> Result<Answer, ProxyError> {
        // A guard, not an Arc clone: no shared refcount on a hit.
        let settings = self.shared.core.settings.load();
        let now = self.shared.core.clock.now();
        let signature = forward.signature.clone();
        let client_cert = forward.tls.as_ref().and_then(|t| t.client_cert.clone());
        let headers = Forwarded::strip(&mut forward.headers);
        let (key, cached) = match self
            .plan(
                &settings,
                image_id,
                headers,
                &signature,
                client_cert.as_ref(),
                now,
            )
            .await
        {
            ReadPlan::Bypass => {
                // Not cached, but still an image representation: transformed.
                let answer = self.forward(forward, body).await?;
                let answer = self.transform_image_answer(answer).await?;
                return Ok(answer.with_outcome(CacheOutcome::Bypass));
            }
            ReadPlan::Fresh(hit) => return Ok(respond::fresh(&hit, &forward.headers)),
            ReadPlan::Revalidate(key, entry) => {
                let settings = arc_swap::Guard::into_inner(settings);
                self.refresh_in_background(&forward, key, settings);
                return Ok(respond::hit(&entry, now, &forward.headers));
            }
            ReadPlan::Fetch {
                key,
                fallback: Some(entry),
            } => (key, Cached::FallBack(entry)),
            ReadPlan::Fetch {
                key,
                fallback: None,
            } => (key, Cached::Nothing),
        };
        // Held back: for everyone while the upstream is unwell for
        // everyone (the breaker), or for this caller alone while the
        // upstream asked it to wait. A stale copy answers if there is one.
        let held = match self.shared.core.upstream.admit_fill(caller(&key)) {
            FillAdmit::Go => None,
            FillAdmit::HeldForAll { retry_after } => Some((
                503,
                ProxyError::Unavailable {
                    reason:
                        "the upstream is failing for many callers; image reads are held back (circuit breaker open)"
                            .into(),
                    retry_after: retry_after.as_secs().max(1),
                },
            )),
            FillAdmit::HeldForCaller { retry_after } => Some((
                429,
                ProxyError::Throttled {
                    retry_after: retry_after.as_secs().max(1),
                },
            )),
        };
        if let Some((status, err)) = held {
            return match cached {
                Cached::FallBack(entry) => {
                    Ok(respond::stale(&entry, now, status, &forward.headers))
                }
                Cached::Nothing => Err(err),
            };
        }
        let settings = arc_swap::Guard::into_inner(settings);
        self.fill_and_wait(forward, key, settings, cached).await
    }

    /// This caller's key for an image, and the entry stored under it for
    /// the current settings, whatever its freshness.
    pub(super) async fn lookup(
        &self,
        settings: &Settings,
        image_id: ImageId,
        identity: Identity,
    ) -> (CacheKey, Option<Arc<Entry>>) {
        let key = CacheKey { image_id, identity };
        let entry = self.shared.core.cache.store.get(&key, settings.epoch).await;
        (key, entry)
    }

    /// Starts a fill nobody waits for, unless one is already in flight.
    fn refresh_in_background(&self, forward: &Forward<'_>, key: CacheKey, settings: Arc<Settings>) {
        if self.shared.core.upstream.admit_fill(caller(&key)) != FillAdmit::Go {
            return;
        }
        let flight_key = flight_key(&forward.headers, key);
        let Joined::Leader(guard) = self.shared.core.cache.flights.join(&flight_key) else {
            return;
        };
        if let Ok((fill, request)) =
            Fill::new(self.shared.core.clone(), forward, flight_key.key, settings)
        {
            tokio::spawn(fill.run(request, guard));
        }
    }

    /// Joins (or leads) the fill for this key and answers with its outcome.
    async fn fill_and_wait(
        &self,
        forward: Forward<'_>,
        key: CacheKey,
        settings: Arc<Settings>,
        cached: Cached,
    ) -> Result<Answer, ProxyError> {
        let flight_key = flight_key(&forward.headers, key);
        let (mut receiver, led) = match self.shared.core.cache.flights.join(&flight_key) {
            Joined::Leader(guard) => {
                let receiver = guard.subscribe();
                let key = flight_key.key.clone();
                let (fill, request) = Fill::new(self.shared.core.clone(), &forward, key, settings)?;
                tokio::spawn(fill.run(request, guard));
                (receiver, true)
            }
            Joined::Follower(receiver) => (receiver, false),
        };
        let wait = self.shared.core.upstream.response_timeout() + WAIT_GRACE;
        let fetched = match tokio::time::timeout(wait, receiver.wait_for(Option::is_some)).await {
            Ok(Ok(outcome)) => outcome.clone(),
            Ok(Err(_)) => None,
            Err(_) => None,
        };
        let fetched = fetched.unwrap_or_else(|| {
            Arc::new(Fetched::failed(self.shared.core.upstream.timeout_error()))
        });
        if let Some(answer) = self
            .fall_back(&fetched, &cached, &flight_key.key, &forward.headers)
            .await
        {
            return Ok(answer);
        }
        self.answer_fetched(forward, &fetched, led).await
    }

    /// With a stale entry at hand: serve it if the refresh failed; drop it
    /// if the upstream says the image is gone or no longer visible.
    async fn fall_back(
        &self,
        fetched: &Fetched,
        cached: &Cached,
        key: &CacheKey,
        request: &HeaderMap,
    ) -> Option<Answer> {
        let Cached::FallBack(entry) = cached else {
            return None;
        };
        let failed_with = match &fetched.kind {
            FetchedKind::Failed(err) => Some(err.status().as_u16()),
            FetchedKind::Passed { status, .. } if is_refresh_failure(status.as_u16()) => {
                Some(status.as_u16())
            }
            FetchedKind::Passed { status, .. } if is_gone(status.as_u16()) => {
                self.shared.core.cache.store.remove(key).await;
                None
            }
            _ => None,
        };
        let now = self.shared.core.clock.now();
        failed_with.map(|code| respond::stale(entry, now, code, request))
    }

    /// Answers from a fill's outcome.
    async fn answer_fetched(
        &self,
        forward: Forward<'_>,
        fetched: &Fetched,
        led: bool,
    ) -> Result<Answer, ProxyError> {
        let request = &forward.headers;
        let leader = led.then_some(fetched);
        match &fetched.kind {
            FetchedKind::Entry {
                entry,
                shared: true,
                ..
            } if led => Ok(respond::shared_hit(
                entry,
                self.shared.core.clock.now(),
                request,
            )),
            FetchedKind::Entry { entry, stored, .. } => {
                let outcome = CacheOutcome::Fetched {
                    stored: *stored,
                    collapsed: !led,
                };
                let upstream = match led {
                    true => respond::Upstream::Led(fetched),
                    false => respond::Upstream::Joined(fetched),
                };
                Ok(respond::from_entry(entry, outcome, None, request, upstream))
            }
            FetchedKind::Passed {
                status,
                headers,
                body,
            } => {
                let outcome = CacheOutcome::Fetched {
                    stored: false,
                    collapsed: !led,
                };
                Ok(respond::passed(*status, headers, body, outcome, leader))
            }
            FetchedKind::TooLarge => {
                let answer = self.forward(forward, ProxyBody::empty()).await?;
                Ok(answer.with_outcome(CacheOutcome::Fetched {
                    stored: false,
                    collapsed: false,
                }))
            }
            FetchedKind::Failed(err) => Err(err.clone()),
        }
    }
}

/// The coalescing key of a request.
fn flight_key(request: &HeaderMap, key: CacheKey) -> FlightKey {
    FlightKey {
        accept: request.get(header::ACCEPT).cloned(),
        key,
    }
}

/// Upstream answers after which a stale copy is better than the answer.
fn is_refresh_failure(status: u16) -> bool {
    status == 429 || status >= 500
}

/// Upstream answers that mean the caller may no longer have the image:
/// never hidden behind a stale copy.
fn is_gone(status: u16) -> bool {
    matches!(status, 401 | 403 | 404 | 410)
}
