//! WARN lines that a flood cannot turn into a flood of lines: each kind
//! (an upstream connect error, a timeout, a 5xx, a stale answer, a
//! breaker change) writes at most one line per second; the lines it
//! held back are counted and the count rides on its next line
//! (`suppressed=N`). Two atomics per kind, no lock: cheap enough to ask
//! on every failure.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

/// What a rate-limited WARN line is about (its `kind` field).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WarnKind {
    /// No connection to the upstream could be made.
    UpstreamConnect,
    /// The upstream sent no response headers within the response timeout.
    UpstreamTimeout,
    /// The upstream broke the exchange before a response.
    UpstreamBroken,
    /// The upstream answered 5xx.
    UpstreamStatus,
    /// A stale copy was served because the upstream could not be asked
    /// or failed.
    StaleServed,
    /// The circuit breaker opened or closed.
    Breaker,
}

impl WarnKind {
    const ALL: [WarnKind; 6] = [
        WarnKind::UpstreamConnect,
        WarnKind::UpstreamTimeout,
        WarnKind::UpstreamBroken,
        WarnKind::UpstreamStatus,
        WarnKind::StaleServed,
        WarnKind::Breaker,
    ];

    /// The `kind` field's value.
    pub fn as_str(self) -> &'static str {
        match self {
            WarnKind::UpstreamConnect => "upstream_connect",
            WarnKind::UpstreamTimeout => "upstream_timeout",
            WarnKind::UpstreamBroken => "upstream_broken",
            WarnKind::UpstreamStatus => "upstream_5xx",
            WarnKind::StaleServed => "stale_served",
            WarnKind::Breaker => "breaker",
        }
    }
}

/// One kind's state: the second of its last line, and the lines held
/// back since.
struct Gate {
    /// Seconds since [`epoch`] of the last line, plus one (0: never).
    last: AtomicU64,
    suppressed: AtomicU64,
}

impl Gate {
    const fn new() -> Gate {
        Gate {
            last: AtomicU64::new(0),
            suppressed: AtomicU64::new(0),
        }
    }

    /// Whether a line may be written in second `now`: `Some(held back
    /// since the last line)`, or `None` (counted as held back).
    fn pass(&self, now: u64) -> Option<u64> {
        let stamp = now + 1;
        let last = self.last.load(Ordering::Relaxed);
        let free = last < stamp
            && self
                .last
                .compare_exchange(last, stamp, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok();
        if free {
            Some(self.suppressed.swap(0, Ordering::Relaxed))
        } else {
            self.suppressed.fetch_add(1, Ordering::Relaxed);
            None
        }
    }
}

static GATES: [Gate; WarnKind::ALL.len()] = [const { Gate::new() }; WarnKind::ALL.len()];

fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

/// Whether a WARN line of `kind` may be written now: `Some(n)` with the
/// lines of that kind held back since its last one, or `None`.
pub fn pass(kind: WarnKind) -> Option<u64> {
    GATES[kind as usize].pass(epoch().elapsed().as_secs())
}

/// Writes a WARN line of `kind` (with `kind` and `suppressed` fields),
/// unless one of that kind was written this second.
#[macro_export]
macro_rules! warn_limited {
    ($kind:expr, $($rest:tt)+) => {{
        let kind: $crate::warn_limit::WarnKind = $kind;
        if let Some(suppressed) = $crate::warn_limit::pass(kind) {
            tracing::warn!(kind = kind.as_str(), suppressed, $($rest)+);
        }
    }};
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One line per second; the lines held back are counted and reported
    /// with the next one, then the count starts again.
    #[test]
    fn one_line_per_second_with_the_count() {
        let gate = Gate::new();
        assert_eq!(gate.pass(0), Some(0));
        for _ in 0..99 {
            assert_eq!(gate.pass(0), None);
        }
        assert_eq!(gate.pass(1), Some(99));
        assert_eq!(gate.pass(1), None);
        assert_eq!(gate.pass(5), Some(1));
        assert_eq!(gate.pass(6), Some(0));
    }

    /// Kinds do not hold each other back.
    #[test]
    fn kinds_are_apart() {
        let names: std::collections::HashSet<_> =
            WarnKind::ALL.iter().map(|k| k.as_str()).collect();
        assert_eq!(names.len(), WarnKind::ALL.len());
        for (i, kind) in WarnKind::ALL.iter().enumerate() {
            assert_eq!(*kind as usize, i);
        }
    }
}
