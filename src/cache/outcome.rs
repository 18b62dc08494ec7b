//! What the cache did for one request, as one typed value: it becomes the
//! `Cache-Status` header ([`CacheOutcome::header_value`]), the `cache`
//! label of `imgcache_requests_total` ([`CacheOutcome::label`]) and the
//! access event's `cache` field — each in exactly one place, never read
//! back off a response. Its [`FromStr`] is for the other side of the
//! wire (clients and tests): the exact inverse of the rendering.

use std::fmt;
use std::str::FromStr;

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
    /// Nothing cached could answer and the proxy answered the read with
    /// an error of its own (the upstream unreachable or too slow, or
    /// reads held back): the client can tell it from the upstream's.
    Failed(Failure),
}

/// Why the proxy answered an image read with its own error.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failure {
    /// 502: the upstream could not be reached or broke the exchange.
    UpstreamError,
    /// 504: the upstream did not answer in time.
    UpstreamTimeout,
    /// 503: reads held back for everyone (the breaker is open, or the
    /// upstream queue is full).
    HeldBack,
    /// 429: the upstream asked this caller to wait.
    Throttled,
}

impl Failure {
    /// Every failure, for tests and tables.
    pub const ALL: [Failure; 4] = [
        Failure::UpstreamError,
        Failure::UpstreamTimeout,
        Failure::HeldBack,
        Failure::Throttled,
    ];

    /// Its `detail` parameter in `Cache-Status`.
    pub fn detail(self) -> &'static str {
        match self {
            Failure::UpstreamError => "upstream-error",
            Failure::UpstreamTimeout => "upstream-timeout",
            Failure::HeldBack => "held-back",
            Failure::Throttled => "throttled",
        }
    }
}

/// The `cache` label values, in the order the metrics keep them; the
/// last is for requests that did not touch the cache.
pub const LABELS: [&str; 8] = [
    "hit",
    "stale",
    "miss",
    "collapsed",
    "uri_miss",
    "bypass",
    "error",
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
            CacheOutcome::Failed(failure) => status::failed(failure.detail()),
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
            Some(CacheOutcome::Failed(_)) => 6,
            None => 7,
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

/// A `Cache-Status` value this proxy does not send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownOutcome(pub String);

impl fmt::Display for UnknownOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "not a Cache-Status imgcache sends: {:?}", self.0)
    }
}

impl std::error::Error for UnknownOutcome {}

impl FromStr for CacheOutcome {
    type Err = UnknownOutcome;

    /// Reads a `Cache-Status` value back. Only the exact text
    /// [`CacheOutcome::header_value`] renders is accepted, so a change to
    /// the wire format cannot pass unnoticed through a lenient parser.
    fn from_str(text: &str) -> Result<CacheOutcome, UnknownOutcome> {
        candidate(text)
            .filter(|outcome| outcome.header_value() == text)
            .ok_or_else(|| UnknownOutcome(text.to_owned()))
    }
}

/// The outcome `text` names, judged on its leading parameters; the caller
/// checks the whole text by rendering the candidate again.
fn candidate(text: &str) -> Option<CacheOutcome> {
    let mut params = text.split("; ");
    if params.next()? != "imgcache" {
        return None;
    }
    let kind = params.next()?;
    let first = params.next();
    let number = |name: &str| first?.strip_prefix(name)?.parse().ok();
    let collapsed = first == Some("collapsed");
    Some(match kind {
        "hit" if params.next() == Some("detail=shared") => CacheOutcome::SharedHit {
            ttl: number("ttl=")?,
        },
        "hit" => CacheOutcome::Hit {
            ttl: number("ttl=")?,
        },
        "fwd=stale" => CacheOutcome::Stale {
            upstream_status: number("fwd-status=").and_then(|n: i64| u16::try_from(n).ok())?,
        },
        "fwd=miss" if first.is_some_and(|p| p.starts_with("detail=")) => {
            let detail = first?.strip_prefix("detail=")?;
            CacheOutcome::Failed(
                Failure::ALL
                    .into_iter()
                    .find(|failure| failure.detail() == detail)?,
            )
        }
        "fwd=miss" => CacheOutcome::Fetched {
            stored: true,
            collapsed,
        },
        "fwd=uri-miss" => CacheOutcome::Fetched {
            stored: false,
            collapsed,
        },
        "fwd=bypass" => CacheOutcome::Bypass,
        _ => return None,
    })
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
            (
                CacheOutcome::Failed(Failure::UpstreamError),
                "imgcache; fwd=miss; detail=upstream-error",
                "error",
            ),
            (
                CacheOutcome::Failed(Failure::UpstreamTimeout),
                "imgcache; fwd=miss; detail=upstream-timeout",
                "error",
            ),
            (
                CacheOutcome::Failed(Failure::HeldBack),
                "imgcache; fwd=miss; detail=held-back",
                "error",
            ),
            (
                CacheOutcome::Failed(Failure::Throttled),
                "imgcache; fwd=miss; detail=throttled",
                "error",
            ),
        ];
        for (outcome, text, label) in cases {
            assert_eq!(outcome.header_value(), text);
            assert_eq!(outcome.to_string(), text);
            assert_eq!(CacheOutcome::label(Some(outcome)), label, "{text}");
            assert_eq!(text.parse(), Ok(outcome), "parsed back");
        }
        assert_eq!(CacheOutcome::label(None), "none");
    }

    /// Parsing is the exact inverse of rendering: anything else — other
    /// caches' values, reordered or extra parameters, other spacing — is
    /// refused, never read as the nearest outcome.
    #[test]
    fn only_rendered_values_parse() {
        for text in [
            "",
            "imgcache",
            "other; hit; ttl=5",
            "imgcache; hit",
            "imgcache; hit; ttl=x",
            "imgcache; hit; ttl=5; detail=other",
            "imgcache; hit;ttl=5",
            "imgcache; fwd=miss",
            "imgcache; fwd=miss; stored; collapsed",
            "imgcache; fwd=stale; fwd-status=70000",
            "imgcache; fwd=uri-miss; stored",
            "imgcache; fwd=bypass; stored",
            "imgcache; fwd=nonsense",
        ] {
            assert_eq!(
                text.parse::<CacheOutcome>(),
                Err(UnknownOutcome(text.to_owned())),
                "{text:?}"
            );
        }
        let shared = CacheOutcome::SharedHit { ttl: -7 };
        assert_eq!(shared.to_string().parse(), Ok(shared));
    }
}
