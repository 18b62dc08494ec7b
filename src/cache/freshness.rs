//! How long a stored response may be served, judged from its age alone so
//! it can be tested without any clock.

use std::time::Duration;

/// The freshness windows of one stored response, fixed at fill time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Freshness {
    /// Served as a hit while younger than this.
    pub lifetime: Duration,
    /// After `lifetime`, served at once while one background request
    /// refreshes it.
    pub stale_while_revalidate: Duration,
    /// After `lifetime`, served when a refresh fails.
    pub stale_if_error: Duration,
}

/// Where an entry of a given age stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Staleness {
    /// Serve it; `remaining` is what is left of its lifetime.
    Fresh { remaining: Duration },
    /// Serve it now and refresh it in the background.
    Revalidate,
    /// Ask the upstream; serve it only if that fails.
    IfError,
    /// Useless: treat as a miss.
    Expired,
}

impl Freshness {
    /// Judges an entry that is `age` old.
    pub fn judge(&self, age: Duration) -> Staleness {
        if age < self.lifetime {
            return Staleness::Fresh {
                remaining: self.lifetime - age,
            };
        }
        let past = age - self.lifetime;
        if past < self.stale_while_revalidate {
            Staleness::Revalidate
        } else if past < self.stale_if_error {
            Staleness::IfError
        } else {
            Staleness::Expired
        }
    }

    /// How long after its birth the entry is worth keeping at all: the
    /// outer bound handed to the cache's own expiry.
    pub fn keep_for(&self) -> Duration {
        self.lifetime + self.stale_while_revalidate.max(self.stale_if_error)
    }

    /// RFC 9211 `ttl`: seconds of freshness left, negative once stale.
    pub fn ttl_seconds(&self, age: Duration) -> i64 {
        let lifetime = self.lifetime.as_secs_f64();
        (lifetime - age.as_secs_f64()).floor() as i64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const fn secs(n: u64) -> Duration {
        Duration::from_secs(n)
    }

    const WINDOWS: Freshness = Freshness {
        lifetime: secs(300),
        stale_while_revalidate: secs(10),
        stale_if_error: secs(3600),
    };

    /// Fresh, then revalidate-in-background, then stale-if-error, then
    /// expired, at the window edges.
    #[test]
    fn windows_in_order() {
        assert_eq!(
            WINDOWS.judge(secs(0)),
            Staleness::Fresh {
                remaining: secs(300)
            }
        );
        assert_eq!(
            WINDOWS.judge(secs(299)),
            Staleness::Fresh { remaining: secs(1) }
        );
        assert_eq!(WINDOWS.judge(secs(300)), Staleness::Revalidate);
        assert_eq!(WINDOWS.judge(secs(309)), Staleness::Revalidate);
        assert_eq!(WINDOWS.judge(secs(310)), Staleness::IfError);
        assert_eq!(WINDOWS.judge(secs(3899)), Staleness::IfError);
        assert_eq!(WINDOWS.judge(secs(3900)), Staleness::Expired);
        assert_eq!(WINDOWS.keep_for(), secs(3900));
    }

    /// With both stale windows off, an entry is expired at its lifetime.
    #[test]
    fn no_stale_windows() {
        let plain = Freshness {
            lifetime: secs(5),
            stale_while_revalidate: Duration::ZERO,
            stale_if_error: Duration::ZERO,
        };
        assert_eq!(plain.judge(secs(5)), Staleness::Expired);
        assert_eq!(plain.keep_for(), secs(5));
    }

    /// The Cache-Status ttl counts down and goes negative once stale.
    #[test]
    fn ttl_seconds() {
        assert_eq!(WINDOWS.ttl_seconds(Duration::from_millis(59_500)), 240);
        assert_eq!(WINDOWS.ttl_seconds(secs(300)), 0);
        assert_eq!(WINDOWS.ttl_seconds(secs(301)), -1);
    }
}
