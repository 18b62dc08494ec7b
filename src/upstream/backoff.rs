//! Back-off scoped to whom it was asked of: a 429/503 with `Retry-After`
//! holds back the fills of the principal that received it, and nobody
//! else's. API gateways in front of IMS throttle per user or project; one
//! tenant's quota is not the fleet's.

use std::time::{Duration, Instant};

use super::breaker::MAX_RETRY_AFTER;

/// Principals remembered at once (each 24 bytes); past it the oldest
/// back-offs are forgotten first, which only means one more upstream try.
const MAX_PRINCIPALS: u64 = 100_000;

/// Principals asked to wait, by cache-identity hash, until when.
pub struct BackOffs {
    until: moka::sync::Cache<u64, Instant>,
}

impl Default for BackOffs {
    fn default() -> Self {
        BackOffs {
            until: moka::sync::Cache::builder()
                .max_capacity(MAX_PRINCIPALS)
                // A memory bound only: `until` is what is judged.
                .time_to_live(MAX_RETRY_AFTER)
                .build(),
        }
    }
}

impl BackOffs {
    /// The upstream asked `principal` to wait `wait` (capped at
    /// [`MAX_RETRY_AFTER`]) from `now`.
    pub fn hold(&self, principal: u64, wait: Duration, now: Instant) {
        self.until
            .insert(principal, now + wait.min(MAX_RETRY_AFTER));
    }

    /// How long `principal` must still wait at `now`, if at all.
    pub fn remaining(&self, principal: u64, now: Instant) -> Option<Duration> {
        let until = self.until.get(&principal)?;
        let left = until.saturating_duration_since(now);
        (!left.is_zero()).then_some(left)
    }

    /// Principals being held back now (for metrics).
    pub fn count(&self) -> u64 {
        self.until.run_pending_tasks();
        self.until.entry_count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A back-off holds its principal, nobody else, for its duration.
    #[test]
    fn holds_only_its_principal() {
        let now = Instant::now();
        let backoffs = BackOffs::default();
        backoffs.hold(1, Duration::from_secs(30), now);
        assert_eq!(
            backoffs.remaining(1, now + Duration::from_secs(10)),
            Some(Duration::from_secs(20))
        );
        assert_eq!(backoffs.remaining(2, now), None);
        assert_eq!(backoffs.remaining(1, now + Duration::from_secs(30)), None);
    }

    /// An upstream asking for hours is held to MAX_RETRY_AFTER.
    #[test]
    fn capped() {
        let now = Instant::now();
        let backoffs = BackOffs::default();
        backoffs.hold(1, Duration::from_secs(86_400), now);
        assert_eq!(backoffs.remaining(1, now), Some(MAX_RETRY_AFTER));
    }
}
