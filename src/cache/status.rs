//! `Cache-Status` values (RFC 9211), spelled exactly as DESIGN.md shows.

use http::HeaderValue;

/// The header name.
pub const CACHE_STATUS: &str = "cache-status";

/// Served from the cache while fresh; `ttl` is the freshness left.
pub fn hit(ttl: i64) -> HeaderValue {
    HeaderValue::from_str(&format!("imgcache; hit; ttl={ttl}"))
        .unwrap_or_else(|_| HeaderValue::from_static("imgcache; hit"))
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

/// A stale copy served because the refresh failed with `upstream_status`
/// (or the proxy's own 502/504 when the upstream never answered).
pub fn stale(upstream_status: u16) -> HeaderValue {
    HeaderValue::from_str(&format!(
        "imgcache; fwd=stale; fwd-status={upstream_status}"
    ))
    .unwrap_or_else(|_| HeaderValue::from_static("imgcache; fwd=stale"))
}
