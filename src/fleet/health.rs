//! Whether Redis is usable right now. Failures mark it down (logged once
//! per change); while down, calls are skipped except one probe per
//! back-off interval, so a dead Redis costs a request nothing.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

const FIRST_BACKOFF: Duration = Duration::from_millis(250);
const MAX_BACKOFF: Duration = Duration::from_secs(10);

/// Up/down state with probe back-off.
pub struct Health {
    up: AtomicBool,
    retry: Mutex<Retry>,
}

struct Retry {
    next_probe: Instant,
    backoff: Duration,
}

impl Default for Health {
    fn default() -> Self {
        Health {
            up: AtomicBool::new(true),
            retry: Mutex::new(Retry {
                next_probe: Instant::now(),
                backoff: FIRST_BACKOFF,
            }),
        }
    }
}

impl Health {
    /// Whether Redis was usable at the last call.
    pub fn is_up(&self) -> bool {
        self.up.load(Ordering::Relaxed)
    }

    /// Whether to try a call now: always while up; while down, once per
    /// back-off interval (that call is the probe).
    pub fn should_try(&self) -> bool {
        if self.is_up() {
            return true;
        }
        let mut retry = self.retry.lock().unwrap_or_else(PoisonError::into_inner);
        let now = Instant::now();
        if now < retry.next_probe {
            return false;
        }
        retry.next_probe = now + retry.backoff;
        retry.backoff = (retry.backoff * 2).min(MAX_BACKOFF);
        true
    }

    /// A call succeeded.
    pub fn succeeded(&self) {
        if !self.up.swap(true, Ordering::Relaxed) {
            let mut retry = self.retry.lock().unwrap_or_else(PoisonError::into_inner);
            retry.backoff = FIRST_BACKOFF;
            tracing::info!("redis is reachable again: the shared tier is back");
        }
    }

    /// A call failed or timed out.
    pub fn failed(&self, why: &str) {
        if self.up.swap(false, Ordering::Relaxed) {
            let mut retry = self.retry.lock().unwrap_or_else(PoisonError::into_inner);
            retry.next_probe = Instant::now() + FIRST_BACKOFF;
            retry.backoff = FIRST_BACKOFF;
            tracing::warn!(%why, "redis unavailable: going on with the local cache and the upstream");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Down → calls skipped until the back-off passes → one probe; a
    /// success brings it back up.
    #[test]
    fn probes_with_backoff() {
        let health = Health::default();
        assert!(health.should_try());
        health.failed("boom");
        assert!(!health.is_up());
        assert!(!health.should_try(), "skipped right after a failure");
        std::thread::sleep(FIRST_BACKOFF);
        assert!(health.should_try(), "one probe");
        assert!(!health.should_try(), "only one");
        health.succeeded();
        assert!(health.is_up() && health.should_try());
    }
}
