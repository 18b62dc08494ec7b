//! Per-token throttling: one caller's token answers 429 or 503 with
//! `Retry-After` on every path while other tokens are served, as an API
//! gateway's per-user rate limit does (issue "failure isolation": one
//! throttled principal must not starve the others in a shared cache).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use http::header::RETRY_AFTER;
use http::{HeaderMap, HeaderValue, Response, StatusCode};

use super::auth;
use super::body::SampleBody;
use super::errors::{Flavor, GlanceError};

/// What a throttled token gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Throttle {
    /// The status answered (429 or 503).
    pub status: StatusCode,
    /// Seconds for `Retry-After`.
    pub retry_after_secs: u32,
}

/// The throttled tokens. `armed` lets the common path skip the lock and
/// the header scan.
#[derive(Default)]
pub struct Throttles {
    armed: AtomicBool,
    by_token: Mutex<HashMap<String, Throttle>>,
}

impl Throttles {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, Throttle>> {
        // Entries are replaced whole; a poisoned map is still consistent.
        self.by_token.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Throttles `token` (as sent in `X-Auth-Token`).
    pub fn set(&self, token: &str, throttle: Throttle) {
        let mut map = self.lock();
        map.insert(token.to_owned(), throttle);
        self.armed.store(true, Ordering::Release);
    }

    /// Stops throttling `token`; false if it was not.
    pub fn clear(&self, token: &str) -> bool {
        let mut map = self.lock();
        let was = map.remove(token).is_some();
        self.armed.store(!map.is_empty(), Ordering::Release);
        was
    }

    /// Stops throttling every token.
    pub fn clear_all(&self) {
        self.lock().clear();
        self.armed.store(false, Ordering::Release);
    }

    /// The answer for a request with these headers, if its token is
    /// throttled.
    pub fn check(&self, headers: &HeaderMap) -> Option<Response<SampleBody>> {
        if !self.armed.load(Ordering::Acquire) {
            return None;
        }
        let token = auth::raw_token(headers)?;
        let throttle = *self.lock().get(&token)?;
        let msg = "Rate limit exceeded for this token (sample throttle).";
        let mut response = GlanceError::new(throttle.status, msg).render_as(Flavor::Json);
        response
            .headers_mut()
            .insert(RETRY_AFTER, HeaderValue::from(throttle.retry_after_secs));
        Some(response)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(t: &'static str) -> HeaderMap {
        let mut map = HeaderMap::new();
        map.insert("x-auth-token", HeaderValue::from_static(t));
        map
    }

    /// Only the throttled token is answered, with its status and
    /// Retry-After; clearing lets it through again.
    #[test]
    fn throttles_one_token() {
        let throttles = Throttles::default();
        assert!(throttles.check(&token("a:p:r")).is_none());
        let limit = Throttle {
            status: StatusCode::TOO_MANY_REQUESTS,
            retry_after_secs: 9,
        };
        throttles.set("a:p:r", limit);
        let answer = throttles.check(&token("a:p:r")).expect("throttled");
        assert_eq!(answer.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(answer.headers()[RETRY_AFTER], "9");
        assert!(throttles.check(&token("b:p:r")).is_none());
        assert!(throttles.check(&HeaderMap::new()).is_none());
        assert!(throttles.clear("a:p:r"));
        assert!(!throttles.clear("a:p:r"));
        assert!(throttles.check(&token("a:p:r")).is_none());
    }
}
