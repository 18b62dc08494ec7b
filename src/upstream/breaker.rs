//! A circuit breaker for image reads: after `failures` consecutive upstream
//! failures (or an upstream `Retry-After`), stop sending image reads for a
//! cool-down, then let one probe through. Pure state over `Instant`s so
//! every transition is unit-tested without a clock.

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Longest `Retry-After` honoured: an upstream asking for hours is more
/// likely wrong than right, and the probe will tell.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(300);

/// The breaker's state, for metrics and `/readyz`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// Reads flow; `failures` in a row so far.
    Closed { failures: u32 },
    /// Reads are held back until `until`.
    Open { until: Instant },
    /// One probe is allowed (or in flight).
    HalfOpen { probing: bool },
}

/// What an image read may do now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admit {
    /// Go ahead.
    Yes,
    /// Go ahead: you are the probe that decides whether to close.
    Probe,
    /// Do not send: serve stale or answer 503 with this Retry-After.
    No { retry_after: Duration },
}

/// How an upstream exchange ended, as the breaker sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Any answer below 500 other than 429.
    Success,
    /// Connect error, timeout, broken response, 5xx.
    Failure,
    /// The upstream asked us to back off (429/503 with Retry-After).
    BackOff(Duration),
}

/// The breaker.
pub struct Breaker {
    threshold: u32,
    cooldown: Duration,
    state: Mutex<State>,
}

impl Breaker {
    /// Opens after `threshold` consecutive failures (0 disables it), for
    /// `cooldown` each time.
    pub fn new(threshold: u32, cooldown: Duration) -> Breaker {
        Breaker {
            threshold,
            cooldown,
            state: Mutex::new(State::Closed { failures: 0 }),
        }
    }

    /// The current state.
    pub fn state(&self) -> State {
        *self.lock()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether an image read may go to the upstream at `now`.
    pub fn admit(&self, now: Instant) -> Admit {
        let mut state = self.lock();
        match *state {
            State::Closed { .. } => Admit::Yes,
            State::Open { until } if now < until => Admit::No {
                retry_after: until - now,
            },
            State::Open { .. } | State::HalfOpen { probing: false } => {
                *state = State::HalfOpen { probing: true };
                Admit::Probe
            }
            State::HalfOpen { probing: true } => Admit::No {
                retry_after: self.cooldown,
            },
        }
    }

    /// Records how an exchange ended; returns the new state if it changed
    /// (for a log line).
    pub fn record(&self, outcome: Outcome, now: Instant) -> Option<State> {
        let mut state = self.lock();
        let before = *state;
        *state = match (outcome, before) {
            (Outcome::BackOff(wait), _) => State::Open {
                until: now + wait.min(MAX_RETRY_AFTER),
            },
            (Outcome::Success, _) => State::Closed { failures: 0 },
            (Outcome::Failure, _) if self.threshold == 0 => State::Closed { failures: 0 },
            (Outcome::Failure, State::Closed { failures }) if failures + 1 < self.threshold => {
                State::Closed {
                    failures: failures + 1,
                }
            }
            (Outcome::Failure, State::Open { until }) => State::Open { until },
            (Outcome::Failure, _) => State::Open {
                until: now + self.cooldown,
            },
        };
        let changed = std::mem::discriminant(&before) != std::mem::discriminant(&*state)
            || matches!((before, *state), (State::Open { until: a }, State::Open { until: b }) if a != b);
        changed.then_some(*state)
    }

    /// A probe that never reached the upstream (cancelled before sending)
    /// must not leave the breaker half-open forever.
    pub fn release_probe(&self) {
        let mut state = self.lock();
        if *state == (State::HalfOpen { probing: true }) {
            *state = State::HalfOpen { probing: false };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const COOLDOWN: Duration = Duration::from_secs(10);

    fn opened(breaker: &Breaker, now: Instant) {
        for _ in 0..3 {
            breaker.record(Outcome::Failure, now);
        }
    }

    /// Closed: reads flow; failures below the threshold keep it closed,
    /// a success resets the count.
    #[test]
    fn closed_counts_consecutive_failures() {
        let now = Instant::now();
        let breaker = Breaker::new(3, COOLDOWN);
        assert_eq!(breaker.admit(now), Admit::Yes);
        breaker.record(Outcome::Failure, now);
        breaker.record(Outcome::Failure, now);
        assert_eq!(breaker.state(), State::Closed { failures: 2 });
        breaker.record(Outcome::Success, now);
        breaker.record(Outcome::Failure, now);
        breaker.record(Outcome::Failure, now);
        assert_eq!(breaker.admit(now), Admit::Yes);
    }

    /// Closed → open at the threshold: reads are refused with the time
    /// left of the cool-down.
    #[test]
    fn opens_at_the_threshold() {
        let now = Instant::now();
        let breaker = Breaker::new(3, COOLDOWN);
        opened(&breaker, now);
        assert_eq!(
            breaker.state(),
            State::Open {
                until: now + COOLDOWN
            }
        );
        let later = now + Duration::from_secs(4);
        assert_eq!(
            breaker.admit(later),
            Admit::No {
                retry_after: Duration::from_secs(6)
            }
        );
    }

    /// Open → half-open after the cool-down: exactly one probe passes;
    /// others are refused while it is in flight.
    #[test]
    fn half_open_lets_one_probe_through() {
        let now = Instant::now();
        let breaker = Breaker::new(3, COOLDOWN);
        opened(&breaker, now);
        let after = now + COOLDOWN;
        assert_eq!(breaker.admit(after), Admit::Probe);
        assert_eq!(breaker.state(), State::HalfOpen { probing: true });
        assert!(matches!(breaker.admit(after), Admit::No { .. }));
        breaker.release_probe();
        assert_eq!(breaker.admit(after), Admit::Probe);
    }

    /// Half-open → closed when the probe succeeds; → open again when it
    /// fails.
    #[test]
    fn probe_result_decides() {
        let now = Instant::now();
        let breaker = Breaker::new(3, COOLDOWN);
        opened(&breaker, now);
        let after = now + COOLDOWN;
        assert_eq!(breaker.admit(after), Admit::Probe);
        assert_eq!(
            breaker.record(Outcome::Success, after),
            Some(State::Closed { failures: 0 })
        );
        assert_eq!(breaker.admit(after), Admit::Yes);

        opened(&breaker, after);
        let probe_time = after + COOLDOWN;
        assert_eq!(breaker.admit(probe_time), Admit::Probe);
        breaker.record(Outcome::Failure, probe_time);
        assert_eq!(
            breaker.state(),
            State::Open {
                until: probe_time + COOLDOWN
            }
        );
    }

    /// An upstream Retry-After opens the breaker for that long (capped).
    #[test]
    fn retry_after_opens_for_its_duration() {
        let now = Instant::now();
        let breaker = Breaker::new(3, COOLDOWN);
        breaker.record(Outcome::BackOff(Duration::from_secs(30)), now);
        assert_eq!(
            breaker.admit(now),
            Admit::No {
                retry_after: Duration::from_secs(30)
            }
        );
        breaker.record(Outcome::BackOff(Duration::from_secs(86_400)), now);
        assert_eq!(
            breaker.state(),
            State::Open {
                until: now + MAX_RETRY_AFTER
            }
        );
    }

    /// A threshold of 0 disables the breaker.
    #[test]
    fn zero_threshold_never_opens() {
        let now = Instant::now();
        let breaker = Breaker::new(0, COOLDOWN);
        for _ in 0..100 {
            breaker.record(Outcome::Failure, now);
        }
        assert_eq!(breaker.admit(now), Admit::Yes);
    }
}
