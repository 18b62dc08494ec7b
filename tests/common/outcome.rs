//! `Cache-Status` read back as the `CacheOutcome` the proxy rendered, so
//! tests compare outcomes, not text (the text itself is pinned once, in
//! tests/cache.rs).

pub use imgcache::cache::outcome::{CacheOutcome, Failure};

/// A `Cache-Status` value parsed; a value imgcache does not send fails
/// the test (the wire format is a contract, see `CacheOutcome::from_str`).
pub fn outcome_of(value: Option<&[u8]>) -> Option<CacheOutcome> {
    let text = std::str::from_utf8(value?).expect("Cache-Status is text");
    Some(text.parse().unwrap_or_else(|e| panic!("{e}")))
}

/// Whether `outcome` is a hit (this instance's memory or the shared tier,
/// fresh or stale-while-revalidate).
pub fn is_hit(outcome: Option<CacheOutcome>) -> bool {
    matches!(
        outcome,
        Some(CacheOutcome::Hit { .. } | CacheOutcome::SharedHit { .. })
    )
}

/// `Cache-Status` of a miss that was stored.
pub const STORED: Option<CacheOutcome> = Some(CacheOutcome::Fetched {
    stored: true,
    collapsed: false,
});
/// `Cache-Status` of a request that waited for another one's stored fill.
pub const COLLAPSED: Option<CacheOutcome> = Some(CacheOutcome::Fetched {
    stored: true,
    collapsed: true,
});
/// `Cache-Status` of an answer fetched and not stored.
pub const URI_MISS: Option<CacheOutcome> = Some(CacheOutcome::Fetched {
    stored: false,
    collapsed: false,
});
/// `Cache-Status` of a request that did not use the cache.
pub const BYPASS: Option<CacheOutcome> = Some(CacheOutcome::Bypass);
