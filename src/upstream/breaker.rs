//! The circuit breaker for image-read fills: it opens only on evidence
//! that the upstream is unwell for everyone, never on what one caller can
//! produce.
//!
//! What it hears: only fills the proxy shaped itself (a well-formed
//! `GET /v2/images/{id}`), never forwarded requests, lists or writes. What
//! counts as a failure: only the upstream's own — a connect error, a
//! timeout, an exchange broken before the response, 502/503/504. A 500 or
//! a 4xx is an answer, not an outage; a `Retry-After` is addressed to one
//! caller (`super::backoff`), never evidence against the upstream.
//!
//! When it opens: within the last `window`, at least `min_failures`
//! failures, at least half of all fills failed, and either the failures
//! came from at least `min_principals` distinct principals and
//! [`MIN_IMAGES`] distinct images, or `min_failures` of them were connect
//! errors (a refused connection says nothing about who asked). A single
//! caller — one principal, or one image id — can therefore never open it,
//! and as long as others' fills succeed, no amount of failures of one
//! caller tips the ratio for everybody.
//!
//! Open: fills are held back for `cooldown`, then one probe goes; its
//! outcome closes or re-opens. Pure state over `Instant`s so every
//! transition is unit-tested without a clock.

use std::collections::VecDeque;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Longest `Retry-After` honoured: an upstream asking for hours is more
/// likely wrong than right, and the probe will tell.
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(300);

/// Distinct image ids the failures must span (unless they are connect
/// errors): a single broken image record never opens the breaker.
pub const MIN_IMAGES: usize = 2;

/// Fills remembered in the window, whatever the rate: enough for the
/// ratio to mean something, bounded so a miss storm costs no memory.
const MAX_EVENTS: usize = 1024;

/// The breaker's state, for metrics and `/healthz`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    /// Fills flow.
    Closed,
    /// Fills are held back until `until`.
    Open { until: Instant },
    /// One probe is allowed, or in flight since `probing` (a probe that
    /// never reports — answered from Redis, never sent — is replaced
    /// after a cool-down).
    HalfOpen { probing: Option<Instant> },
}

impl State {
    /// `closed`, `half-open` or `open`.
    pub fn as_str(&self) -> &'static str {
        match self {
            State::Closed => "closed",
            State::HalfOpen { .. } => "half-open",
            State::Open { .. } => "open",
        }
    }
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

/// How an upstream failure showed, as the breaker sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failure {
    /// No connection could be made: nothing the caller sent played a part.
    Connect,
    /// No answer (headers or body) within the response timeout.
    Timeout,
    /// The exchange broke before a whole response arrived.
    Broken,
    /// 502, 503 or 504 from the upstream (or a gateway in front of it).
    Status(u16),
    /// 429/503 with `Retry-After`: the upstream asked the caller to wait.
    /// It holds that caller back, and is never evidence against the
    /// upstream: a caller with several credentials over its quota would
    /// otherwise look like many callers.
    BackOff(Duration),
}

/// How a fill's upstream exchange ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// An answer: any status but 502/503/504 (and a 429 without
    /// `Retry-After`, which is one caller's problem).
    Success,
    /// The upstream's failure.
    Failure(Failure),
}

/// Who a fill was for, as two hashes: enough to count distinct callers
/// and images, nothing to identify them by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Caller {
    /// The cache identity's hash (one per principal).
    pub principal: u64,
    /// The image id's hash.
    pub image: u64,
}

/// The breaker's knobs (`[upstream] breaker_*`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Policy {
    /// Failures in the window needed to open; 0 disables the breaker.
    pub min_failures: u32,
    /// Distinct principals the failures must come from.
    pub min_principals: u32,
    /// How far back failures are counted.
    pub window: Duration,
    /// How long fills are held back once it opens.
    pub cooldown: Duration,
}

/// One fill's outcome, remembered for the window.
#[derive(Clone, Copy, Debug)]
struct Event {
    at: Instant,
    caller: Caller,
    failure: Option<Failure>,
}

struct Inner {
    state: State,
    events: VecDeque<Event>,
}

/// The breaker.
pub struct Breaker {
    policy: Policy,
    inner: Mutex<Inner>,
}

impl Breaker {
    /// A closed breaker with this policy.
    pub fn new(policy: Policy) -> Breaker {
        Breaker {
            policy,
            inner: Mutex::new(Inner {
                state: State::Closed,
                events: VecDeque::new(),
            }),
        }
    }

    /// The current state.
    pub fn state(&self) -> State {
        self.lock().state
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Whether an image read may go to the upstream at `now`.
    pub fn admit(&self, now: Instant) -> Admit {
        let mut inner = self.lock();
        match inner.state {
            State::Closed => Admit::Yes,
            State::Open { until } if now < until => Admit::No {
                retry_after: until - now,
            },
            State::HalfOpen {
                probing: Some(since),
            } if now < since + self.policy.cooldown => Admit::No {
                retry_after: since + self.policy.cooldown - now,
            },
            State::Open { .. } | State::HalfOpen { .. } => {
                inner.state = State::HalfOpen { probing: Some(now) };
                Admit::Probe
            }
        }
    }

    /// Records how a fill for `caller` ended; returns the new state if it
    /// changed (for a log line).
    pub fn record(&self, outcome: Outcome, caller: Caller, now: Instant) -> Option<State> {
        if self.policy.min_failures == 0 {
            return None;
        }
        let mut inner = self.lock();
        let before = inner.state;
        let after = match (before, outcome) {
            (State::Closed, _) => {
                inner.remember(Event {
                    at: now,
                    caller,
                    failure: match outcome {
                        Outcome::Success => None,
                        Outcome::Failure(failure) => Some(failure),
                    },
                });
                inner.forget_before(now.checked_sub(self.policy.window));
                if matches!(outcome, Outcome::Failure(_)) && self.policy.is_met(&inner.events) {
                    State::Open {
                        until: now + self.policy.cooldown,
                    }
                } else {
                    State::Closed
                }
            }
            // Fills sent before it opened end while it is open: the
            // probe after the cool-down decides, not they.
            (State::Open { .. }, _) => before,
            (State::HalfOpen { .. }, Outcome::Success) => State::Closed,
            // One caller asked to wait: says nothing of the others.
            (State::HalfOpen { .. }, Outcome::Failure(Failure::BackOff(_))) => {
                State::HalfOpen { probing: None }
            }
            (State::HalfOpen { .. }, Outcome::Failure(_)) => State::Open {
                until: now + self.policy.cooldown,
            },
        };
        if after != before {
            if matches!(after, State::Open { .. } | State::Closed) {
                // A new period starts with no evidence carried over.
                inner.events.clear();
            }
            inner.state = after;
        }
        (std::mem::discriminant(&before) != std::mem::discriminant(&after)).then_some(after)
    }

    /// A probe admitted by [`Breaker::admit`] that was never sent must
    /// not leave the breaker half-open forever.
    pub fn release_probe(&self) {
        let mut inner = self.lock();
        if let State::HalfOpen { probing: Some(_) } = inner.state {
            inner.state = State::HalfOpen { probing: None };
        }
    }
}

impl Inner {
    fn remember(&mut self, event: Event) {
        if self.events.len() == MAX_EVENTS {
            self.events.pop_front();
        }
        self.events.push_back(event);
    }

    fn forget_before(&mut self, horizon: Option<Instant>) {
        let Some(horizon) = horizon else { return };
        while self.events.front().is_some_and(|e| e.at < horizon) {
            self.events.pop_front();
        }
    }
}

impl Policy {
    /// Whether the fills in the window show an upstream unwell for
    /// everyone (see the module docs).
    fn is_met(&self, events: &VecDeque<Event>) -> bool {
        let failed: Vec<(Caller, Failure)> = events
            .iter()
            .filter_map(|e| e.failure.map(|f| (e.caller, f)))
            .filter(|(_, f)| !matches!(f, Failure::BackOff(_)))
            .collect();
        let min = self.min_failures as usize;
        if failed.len() < min || failed.len() * 2 < events.len() {
            return false;
        }
        let connect = failed
            .iter()
            .filter(|(_, f)| *f == Failure::Connect)
            .count();
        if connect >= min {
            return true;
        }
        distinct(failed.iter().map(|(c, _)| c.principal)) >= self.min_principals as usize
            && distinct(failed.iter().map(|(c, _)| c.image)) >= MIN_IMAGES
    }
}

/// How many different values (a window holds at most [`MAX_EVENTS`]).
fn distinct(values: impl Iterator<Item = u64>) -> usize {
    let mut values: Vec<u64> = values.collect();
    values.sort_unstable();
    values.dedup();
    values.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    const COOLDOWN: Duration = Duration::from_secs(10);
    const WINDOW: Duration = Duration::from_secs(10);
    const TIMEOUT: Outcome = Outcome::Failure(Failure::Timeout);

    fn breaker() -> Breaker {
        Breaker::new(Policy {
            min_failures: 3,
            min_principals: 2,
            window: WINDOW,
            cooldown: COOLDOWN,
        })
    }

    fn caller(principal: u64, image: u64) -> Caller {
        Caller { principal, image }
    }

    /// Three failures from three principals on three images: an outage.
    fn opened(breaker: &Breaker, now: Instant) {
        for n in 0..3 {
            breaker.record(TIMEOUT, caller(n, n), now);
        }
        assert!(matches!(breaker.state(), State::Open { .. }));
    }

    /// Failures of one principal, however many and on however many
    /// images, never open it: that caller may be the cause.
    #[test]
    fn one_principal_never_opens_it() {
        let now = Instant::now();
        let breaker = breaker();
        for image in 0..500 {
            breaker.record(TIMEOUT, caller(7, image), now);
            breaker.record(Outcome::Failure(Failure::Broken), caller(7, image), now);
            breaker.record(
                Outcome::Failure(Failure::Status(502)),
                caller(7, image),
                now,
            );
        }
        assert_eq!(breaker.state(), State::Closed);
        assert_eq!(breaker.admit(now), Admit::Yes);
    }

    /// Failures of many principals on one image never open it either: a
    /// broken record is that image's problem.
    #[test]
    fn one_image_never_opens_it() {
        let now = Instant::now();
        let breaker = breaker();
        for principal in 0..500 {
            breaker.record(TIMEOUT, caller(principal, 1), now);
        }
        assert_eq!(breaker.state(), State::Closed);
    }

    /// While most fills succeed, failures spread over principals and
    /// images do not open it: the upstream is well for most callers.
    #[test]
    fn successes_keep_it_closed() {
        let now = Instant::now();
        let breaker = breaker();
        for n in 0..100 {
            breaker.record(Outcome::Success, caller(100 + n, n), now);
            breaker.record(Outcome::Success, caller(200 + n, n), now);
            breaker.record(TIMEOUT, caller(n, n), now);
        }
        assert_eq!(breaker.state(), State::Closed);
    }

    /// Spread failures at or above half of the fills open it, with the
    /// cool-down left as Retry-After.
    #[test]
    fn spread_failures_open_it() {
        let now = Instant::now();
        let breaker = breaker();
        breaker.record(Outcome::Success, caller(9, 9), now);
        breaker.record(TIMEOUT, caller(1, 1), now);
        breaker.record(Outcome::Failure(Failure::Status(503)), caller(2, 2), now);
        assert_eq!(breaker.state(), State::Closed);
        breaker.record(Outcome::Failure(Failure::Broken), caller(1, 3), now);
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

    /// Connect errors say nothing about who asked: enough of them open
    /// it even when a single principal saw them (a one-client sidecar).
    #[test]
    fn connect_errors_open_it_for_one_principal() {
        let now = Instant::now();
        let breaker = breaker();
        for _ in 0..3 {
            breaker.record(Outcome::Failure(Failure::Connect), caller(1, 1), now);
        }
        assert!(matches!(breaker.state(), State::Open { .. }));
    }

    /// Failures older than the window are forgotten.
    #[test]
    fn old_failures_are_forgotten() {
        let now = Instant::now();
        let breaker = breaker();
        breaker.record(TIMEOUT, caller(1, 1), now);
        breaker.record(TIMEOUT, caller(2, 2), now);
        let later = now + WINDOW + Duration::from_secs(1);
        breaker.record(TIMEOUT, caller(3, 3), later);
        assert_eq!(breaker.state(), State::Closed);
    }

    /// Back-offs never open it, however many callers got them: one
    /// caller with many credentials looks like many callers.
    #[test]
    fn back_offs_never_open_it() {
        let now = Instant::now();
        let wait = Outcome::Failure(Failure::BackOff(Duration::from_secs(30)));
        let breaker = breaker();
        for n in 0..50 {
            breaker.record(wait, caller(n, n), now);
        }
        assert_eq!(breaker.state(), State::Closed);
    }

    /// Open → half-open after the cool-down: exactly one probe passes;
    /// others are refused while it is in flight.
    #[test]
    fn half_open_lets_one_probe_through() {
        let now = Instant::now();
        let breaker = breaker();
        opened(&breaker, now);
        let after = now + COOLDOWN;
        assert_eq!(breaker.admit(after), Admit::Probe);
        assert_eq!(
            breaker.state(),
            State::HalfOpen {
                probing: Some(after)
            }
        );
        assert!(matches!(breaker.admit(after), Admit::No { .. }));
        breaker.release_probe();
        assert_eq!(breaker.admit(after), Admit::Probe);
    }

    /// A probe that never reports (its fill was answered from Redis, or
    /// never sent) does not leave the breaker half-open for good: after a
    /// cool-down another probe goes.
    #[test]
    fn a_lost_probe_is_replaced() {
        let now = Instant::now();
        let breaker = breaker();
        opened(&breaker, now);
        let after = now + COOLDOWN;
        assert_eq!(breaker.admit(after), Admit::Probe);
        assert!(matches!(
            breaker.admit(after + COOLDOWN / 2),
            Admit::No { .. }
        ));
        assert_eq!(breaker.admit(after + COOLDOWN), Admit::Probe);
    }

    /// Half-open → closed when the probe succeeds (with no evidence
    /// carried over); → open again when it fails.
    #[test]
    fn probe_result_decides() {
        let now = Instant::now();
        let breaker = breaker();
        opened(&breaker, now);
        let after = now + COOLDOWN;
        assert_eq!(breaker.admit(after), Admit::Probe);
        assert_eq!(
            breaker.record(Outcome::Success, caller(5, 5), after),
            Some(State::Closed)
        );
        assert_eq!(breaker.admit(after), Admit::Yes);
        breaker.record(TIMEOUT, caller(1, 1), after);
        assert_eq!(breaker.state(), State::Closed);

        opened(&breaker, after);
        let probe_time = after + COOLDOWN;
        assert_eq!(breaker.admit(probe_time), Admit::Probe);
        breaker.record(TIMEOUT, caller(1, 1), probe_time);
        assert_eq!(
            breaker.state(),
            State::Open {
                until: probe_time + COOLDOWN
            }
        );
    }

    /// Fills that end while it is open change nothing.
    #[test]
    fn open_ignores_late_outcomes() {
        let now = Instant::now();
        let breaker = breaker();
        opened(&breaker, now);
        let state = breaker.state();
        assert_eq!(breaker.record(Outcome::Success, caller(1, 1), now), None);
        assert_eq!(breaker.state(), state);
    }

    /// `min_failures = 0` disables the breaker.
    #[test]
    fn zero_failures_never_opens() {
        let now = Instant::now();
        let breaker = Breaker::new(Policy {
            min_failures: 0,
            min_principals: 1,
            window: WINDOW,
            cooldown: COOLDOWN,
        });
        for n in 0..100 {
            breaker.record(Outcome::Failure(Failure::Connect), caller(n, n), now);
        }
        assert_eq!(breaker.admit(now), Admit::Yes);
    }

    /// The window holds at most MAX_EVENTS fills.
    #[test]
    fn window_is_bounded() {
        let now = Instant::now();
        let breaker = breaker();
        for n in 0..(MAX_EVENTS as u64 * 3) {
            breaker.record(Outcome::Success, caller(n, n), now);
        }
        assert_eq!(breaker.lock().events.len(), MAX_EVENTS);
    }
}
