//! `Cache-Status` values (RFC 9211), spelled as docs/design.md "Responses" shows.

use std::sync::OnceLock;

use http::HeaderValue;

/// The header name.
pub const CACHE_STATUS: &str = "cache-status";

/// Hits and ages up to this many seconds use prebuilt header values:
/// the hit path then allocates nothing for them.
const TABLE_SECONDS: usize = 3600;

/// A header value for a small number of seconds, from a table built once
/// (its strings live for the whole process; clones cost nothing).
fn from_table(
    table: &OnceLock<Box<[HeaderValue]>>,
    n: i64,
    text: fn(i64) -> String,
) -> HeaderValue {
    let table = table.get_or_init(|| {
        (0..=TABLE_SECONDS as i64)
            .map(|i| HeaderValue::from_static(Box::leak(text(i).into_boxed_str())))
            .collect()
    });
    match usize::try_from(n).ok().and_then(|i| table.get(i)) {
        Some(value) => value.clone(),
        None => HeaderValue::from_str(&text(n)).unwrap_or_else(|_| HeaderValue::from_static("0")),
    }
}

/// Served from the cache while fresh; `ttl` is the freshness left
/// (negative once stale).
pub fn hit(ttl: i64) -> HeaderValue {
    static TABLE: OnceLock<Box<[HeaderValue]>> = OnceLock::new();
    from_table(&TABLE, ttl, |n| format!("imgcache; hit; ttl={n}"))
}

/// An `Age` value.
pub fn age(seconds: u64) -> HeaderValue {
    static TABLE: OnceLock<Box<[HeaderValue]>> = OnceLock::new();
    from_table(&TABLE, i64::try_from(seconds).unwrap_or(i64::MAX), |n| {
        n.to_string()
    })
}

/// Not in this instance's memory but fresh in the fleet's shared tier.
pub fn shared_hit(ttl: i64) -> HeaderValue {
    HeaderValue::from_str(&format!("imgcache; hit; ttl={ttl}; detail=shared"))
        .unwrap_or_else(|_| HeaderValue::from_static("imgcache; hit; detail=shared"))
}

/// Fetched for this request and stored.
pub const MISS_STORED: HeaderValue = HeaderValue::from_static("imgcache; fwd=miss; stored");
/// Fetched for another request in flight and stored; this one waited.
pub const MISS_COLLAPSED: HeaderValue = HeaderValue::from_static("imgcache; fwd=miss; collapsed");
/// Fetched, not cacheable, not stored.
pub const URI_MISS: HeaderValue = HeaderValue::from_static("imgcache; fwd=uri-miss");
/// Fetched for another request in flight, not stored; this one waited.
pub const URI_MISS_COLLAPSED: HeaderValue =
    HeaderValue::from_static("imgcache; fwd=uri-miss; collapsed");
/// The request asked not to use the cache.
pub const BYPASS: HeaderValue = HeaderValue::from_static("imgcache; fwd=bypass");

/// Nothing cached could answer and the proxy answered with an error of
/// its own; `detail` says which ([`Failure::detail`](super::outcome::Failure::detail)).
pub fn failed(detail: &'static str) -> HeaderValue {
    HeaderValue::from_str(&format!("imgcache; fwd=miss; detail={detail}"))
        .unwrap_or_else(|_| HeaderValue::from_static("imgcache; fwd=miss"))
}

/// A stale copy served because the refresh failed with `upstream_status`
/// (or the proxy's own 502/504 when the upstream never answered).
pub fn stale(upstream_status: u16) -> HeaderValue {
    HeaderValue::from_str(&format!(
        "imgcache; fwd=stale; fwd-status={upstream_status}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("imgcache; fwd=stale"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Table and non-table values read the same.
    #[test]
    fn values() {
        assert_eq!(hit(241), "imgcache; hit; ttl=241");
        assert_eq!(hit(-3), "imgcache; hit; ttl=-3");
        assert_eq!(hit(86_400), "imgcache; hit; ttl=86400");
        assert_eq!(age(0), "0");
        assert_eq!(age(7200), "7200");
        assert_eq!(stale(503), "imgcache; fwd=stale; fwd-status=503");
    }
}
