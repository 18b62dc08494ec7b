//! The proxy's clock for cache freshness and the circuit breaker: the
//! monotonic clock plus an offset that only tests move, so a test lets a
//! TTL or a cool-down pass by saying so instead of sleeping through it.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Cheap to clone; clones share the offset.
#[derive(Clone, Debug, Default)]
pub struct Clock {
    offset_nanos: Arc<AtomicU64>,
}

impl Clock {
    /// Now, as the cache and the breaker see it.
    pub fn now(&self) -> Instant {
        Instant::now() + Duration::from_nanos(self.offset_nanos.load(Ordering::Relaxed))
    }

    /// Moves this clock (and its clones) forward, for tests: everything
    /// stored or decided before now looks `by` older.
    pub fn advance(&self, by: Duration) {
        let nanos = u64::try_from(by.as_nanos()).unwrap_or(u64::MAX);
        self.offset_nanos.fetch_add(nanos, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Advancing moves every clone, and only forward.
    #[test]
    fn advance_moves_clones() {
        let clock = Clock::default();
        let other = clock.clone();
        let before = other.now();
        clock.advance(Duration::from_secs(90));
        assert!(other.now() >= before + Duration::from_secs(90));
    }
}
