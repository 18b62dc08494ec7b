//! What the cache did for one request, as one typed value: it becomes the
//! `Cache-Status` header ([`CacheOutcome::header_value`]), the `cache`
//! label of `imgcache_requests_total` ([`CacheOutcome::label`]) and the
//! access event's `cache` field — each in exactly one place, never read
//! back off a response.

use std::fmt;

use http::HeaderValue;

use super::status;

/// The cache's part in an answer (RFC 9211 `Cache-Status`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CacheOutcome {
    /// Served from this instance's memory; `ttl` is the freshness left in
    /// seconds (negative: stale, served while one request refreshes it).
    Hit { ttl: i64 },
    /// Fetched by another instance, found in the fleet's Redis tier.
    SharedHit { ttl: i64 },
    /// A stale copy, served because the refresh failed with this status.
    Stale { upstream_status: u16 },
    /// Fetched from the upstream: `stored` or not (not cacheable), for
    /// this request or for another one this one waited for (`collapsed`).
    Fetched { stored: bool, collapsed: bool },
    /// The request asked not to use the cache.
    Bypass,
}

/// The `cache` label values, in the order the metrics keep them; the
/// last is for requests that did not touch the cache.
pub const LABELS: [&str; 7] = [
    "hit",
    "stale",
    "miss",
    "collapsed",
    "uri_miss",
    "bypass",
    "none",
];

impl CacheOutcome {
    /// The `Cache-Status` value.
    pub fn header_value(self) -> HeaderValue {
        match self {
            CacheOutcome::Hit { ttl } => status::hit(ttl),
            CacheOutcome::SharedHit { ttl } => status::shared_hit(ttl),
            CacheOutcome::Stale { upstream_status } => status::stale(upstream_status),
            CacheOutcome::Fetched {
                stored: true,
                collapsed: false,
            } => status::MISS_STORED,
            CacheOutcome::Fetched {
                stored: true,
                collapsed: true,
            } => status::MISS_COLLAPSED,
            CacheOutcome::Fetched {
                stored: false,
                collapsed: false,
            } => status::URI_MISS,
            CacheOutcome::Fetched {
                stored: false,
                collapsed: true,
            } => status::URI_MISS_COLLAPSED,
            CacheOutcome::Bypass => status::BYPASS,
        }
    }

    /// Its index in [`LABELS`] (`None`: the cache was not involved).
    pub fn label_index(outcome: Option<CacheOutcome>) -> usize {
        match outcome {
            Some(CacheOutcome::Hit { .. } | CacheOutcome::SharedHit { .. }) => 0,
            Some(CacheOutcome::Stale { .. }) => 1,
            Some(CacheOutcome::Fetched {
                collapsed: true, ..
            }) => 3,
            Some(CacheOutcome::Fetched { stored: true, .. }) => 2,
            Some(CacheOutcome::Fetched { stored: false, .. }) => 4,
            Some(CacheOutcome::Bypass) => 5,
            None => 6,
        }
    }

    /// Its `cache` label.
    pub fn label(outcome: Option<CacheOutcome>) -> &'static str {
        LABELS[CacheOutcome::label_index(outcome)]
    }
}

impl fmt::Display for CacheOutcome {
    /// The `Cache-Status` text (what the access event shows).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let value = self.header_value();
        f.write_str(value.to_str().unwrap_or("imgcache"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every outcome renders as docs/design.md spells it and counts under the
    /// label the metrics have always used for it.
    #[test]
    fn rendering_and_labels() {
        let cases = [
            (
                CacheOutcome::Hit { ttl: 241 },
                "imgcache; hit; ttl=241",
                "hit",
            ),
            (
                CacheOutcome::Hit { ttl: -3 },
                "imgcache; hit; ttl=-3",
                "hit",
            ),
            (
                CacheOutcome::SharedHit { ttl: 9 },
                "imgcache; hit; ttl=9; detail=shared",
                "hit",
            ),
            (
                CacheOutcome::Stale {
                    upstream_status: 503,
                },
                "imgcache; fwd=stale; fwd-status=503",
                "stale",
            ),
            (
                CacheOutcome::Fetched {
                    stored: true,
                    collapsed: false,
                },
                "imgcache; fwd=miss; stored",
                "miss",
            ),
            (
                CacheOutcome::Fetched {
                    stored: true,
                    collapsed: true,
                },
                "imgcache; fwd=miss; collapsed",
                "collapsed",
            ),
            (
                CacheOutcome::Fetched {
                    stored: false,
                    collapsed: false,
                },
                "imgcache; fwd=uri-miss",
                "uri_miss",
            ),
            (
                CacheOutcome::Fetched {
                    stored: false,
                    collapsed: true,
                },
                "imgcache; fwd=uri-miss; collapsed",
                "collapsed",
            ),
            (CacheOutcome::Bypass, "imgcache; fwd=bypass", "bypass"),
        ];
        for (outcome, text, label) in cases {
            assert_eq!(outcome.header_value(), text);
            assert_eq!(outcome.to_string(), text);
            assert_eq!(CacheOutcome::label(Some(outcome)), label, "{text}");
        }
        assert_eq!(CacheOutcome::label(None), "none");
    }
}
