//! The image-read path: bypass → lookup → (hit | coalesced fill) → respond.

use std::sync::Arc;
use std::time::{Duration, Instant};

use http::header;

use super::fill::Fill;
use super::respond;
use super::{Answer, Forward, Proxy, Settings};
use crate::body::ProxyBody;
use crate::cache::flight::Joined;
use crate::cache::key::{CacheKey, Identity};
use crate::cache::status::{self, CACHE_STATUS};
use crate::cache::{FetchedKind, FlightKey, policy};
use crate::error::ProxyError;
use crate::route::ImageId;
use crate::upstream::headers::strip_hop_by_hop;

/// Extra time a waiter gives the fill beyond the response timeout, so the
/// fill's own timeout (a clean 504 for everyone) fires first.
const WAIT_GRACE: Duration = Duration::from_millis(100);

impl Proxy {
    /// `GET /v2/images/{id}`: answered from the cache when it can be.
    pub(super) async fn read_image(
        &self,
        mut forward: Forward<'_>,
        body: ProxyBody,
        image_id: ImageId,
    ) -> Result<Answer, ProxyError> {
        if policy::bypass_reason(&forward.headers).is_some() {
            let mut answer = self.forward(forward, body).await?;
            answer
                .response
                .headers_mut()
                .insert(CACHE_STATUS, status::BYPASS);
            return Ok(answer);
        }
        // The identity is judged on what the upstream will see: headers
        // named in `Connection` are not forwarded, so they must not count.
        strip_hop_by_hop(&mut forward.headers);
        let settings = self.shared.settings.load_full();
        let identity = Identity::of(&forward.headers, &settings.cache.identity_headers);
        let key = CacheKey { image_id, identity };
        if let Some(entry) = self.shared.cache.store.get(&key).await {
            let now = Instant::now();
            if respond::is_fresh(&entry, now) {
                return Ok(respond::hit(&entry, now, &forward.headers));
            }
        }
        self.fill_and_wait(forward, key, settings).await
    }

    /// Joins (or leads) the fill for this key and answers with its outcome.
    async fn fill_and_wait(
        &self,
        forward: Forward<'_>,
        key: CacheKey,
        settings: Arc<Settings>,
    ) -> Result<Answer, ProxyError> {
        let flight_key = FlightKey {
            accept: forward.headers.get(header::ACCEPT).cloned(),
            key,
        };
        let flight_key = &flight_key;
        let (mut receiver, led) = match self.shared.cache.flights.join(flight_key) {
            Joined::Leader(guard) => {
                let receiver = guard.subscribe();
                let key = flight_key.key.clone();
                let (fill, request) = Fill::new(self.shared.clone(), &forward, key, settings)?;
                tokio::spawn(fill.run(request, guard));
                (receiver, true)
            }
            Joined::Follower(receiver) => (receiver, false),
        };
        let wait = self.shared.upstream.response_timeout() + WAIT_GRACE;
        let fetched = match tokio::time::timeout(wait, receiver.wait_for(Option::is_some)).await {
            Ok(Ok(outcome)) => outcome.clone(),
            Ok(Err(_)) => None,
            Err(_) => return Err(self.timeout_error()),
        };
        let Some(fetched) = fetched else {
            return Err(ProxyError::BadGateway("the fill was abandoned".into()));
        };
        let request = &forward.headers;
        let follower_id = (!led).then(|| respond::request_id_for(request));
        let upstream_status = Some(fetched.upstream_status);
        match &fetched.kind {
            FetchedKind::Entry { entry, stored } => {
                let cache_status = match (stored, led) {
                    (true, true) => status::MISS_STORED,
                    (true, false) => status::MISS_COLLAPSED,
                    (false, true) => status::URI_MISS,
                    (false, false) => status::URI_MISS_COLLAPSED,
                };
                let request_id = follower_id
                    .or_else(|| fetched.request_id.clone())
                    .unwrap_or_else(|| respond::request_id_for(request));
                Ok(respond::from_entry(
                    entry,
                    cache_status,
                    None,
                    request,
                    request_id,
                    upstream_status,
                ))
            }
            FetchedKind::Passed {
                status,
                headers,
                body,
            } => {
                let cache_status = if led {
                    status::URI_MISS
                } else {
                    status::URI_MISS_COLLAPSED
                };
                Ok(respond::passed(
                    *status,
                    headers,
                    body,
                    cache_status,
                    follower_id,
                ))
            }
            FetchedKind::TooLarge => {
                let mut answer = self.forward(forward, ProxyBody::empty()).await?;
                answer
                    .response
                    .headers_mut()
                    .insert(CACHE_STATUS, status::URI_MISS);
                Ok(answer)
            }
            FetchedKind::Failed(err) => Err(err.clone()),
        }
    }

    fn timeout_error(&self) -> ProxyError {
        let timeout = self.shared.upstream.response_timeout();
        ProxyError::GatewayTimeout(crate::config::units::format_duration(timeout))
    }
}
