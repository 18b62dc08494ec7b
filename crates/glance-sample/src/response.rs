//! Response shapes Glance uses for successes, with its headers in its order:
//! `Content-Length`, `Content-Type`, `x-openstack-request-id`; nothing else
//! (no ETag, Cache-Control or Last-Modified).

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use http::{HeaderValue, Response, StatusCode};
use uuid::{Builder, Uuid};

use super::body::{self, SampleBody};

/// `Content-Type` of JSON bodies.
pub const APPLICATION_JSON: &str = "application/json";
/// `Content-Type` Glance puts on empty and HTML responses.
pub const TEXT_HTML: &str = "text/html; charset=UTF-8";
/// The request-id header Glance sets.
pub const REQUEST_ID: &str = "x-openstack-request-id";

/// A fresh `req-<uuid4>`.
///
/// The random bits come from a per-process seed (one `getrandom` call) mixed
/// with a counter through splitmix64: unique per process and cheap enough
/// for 100k responses a second, where a syscall per id would not be.
pub fn request_id() -> HeaderValue {
    static SEED: OnceLock<u64> = OnceLock::new();
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let seed = *SEED.get_or_init(|| Uuid::new_v4().as_u64_pair().0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let hi = splitmix64(seed ^ n.wrapping_mul(2));
    let lo = splitmix64(seed ^ n.wrapping_mul(2).wrapping_add(1));
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&hi.to_be_bytes());
    bytes[8..].copy_from_slice(&lo.to_be_bytes());
    let uuid = Builder::from_random_bytes(bytes).into_uuid();
    let mut buf = [0u8; 4 + uuid::fmt::Hyphenated::LENGTH];
    buf[..4].copy_from_slice(b"req-");
    uuid.hyphenated().encode_lower(&mut buf[4..]);
    // Always ASCII; the fallback is unreachable but keeps this panic-free.
    HeaderValue::from_bytes(&buf).unwrap_or(HeaderValue::from_static("req-unknown"))
}

/// The splitmix64 finaliser: a cheap, well-mixed 64-bit bijection.
pub fn splitmix64(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A response with the given body, length and type, plus a request id.
pub fn with_body(
    status: StatusCode,
    content_type: &'static str,
    bytes: Bytes,
) -> Response<SampleBody> {
    let len = bytes.len() as u64;
    sized(status, content_type, len, body::full(bytes))
}

/// A response whose body announces `len` bytes, plus a request id.
pub fn sized(
    status: StatusCode,
    content_type: &'static str,
    len: u64,
    body: SampleBody,
) -> Response<SampleBody> {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_LENGTH, HeaderValue::from(len));
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(REQUEST_ID, request_id());
    response
}

/// `200 OK` with a JSON body.
pub fn json(bytes: Bytes) -> Response<SampleBody> {
    with_body(StatusCode::OK, APPLICATION_JSON, bytes)
}

/// Glance's `204 No Content` (fixtures 05, 30): an HTML content type and an
/// explicit zero length, in that order.
pub fn no_content() -> Response<SampleBody> {
    empty(StatusCode::NO_CONTENT)
}

/// A bodiless answer in Glance's shape (as [`no_content`]): the import's
/// 202, IMS's 204s.
pub fn empty(status: StatusCode) -> Response<SampleBody> {
    let mut response = Response::new(body::explicit_zero());
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, HeaderValue::from_static(TEXT_HTML));
    headers.insert(CONTENT_LENGTH, HeaderValue::from(0u64));
    headers.insert(REQUEST_ID, request_id());
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Request ids are `req-` + a version-4 UUID and do not repeat.
    #[test]
    fn request_ids_are_uuid4_and_unique() {
        let a = request_id();
        let b = request_id();
        assert_ne!(a, b);
        let text = a.to_str().expect("ascii");
        let uuid = Uuid::parse_str(text.strip_prefix("req-").expect("prefix")).expect("uuid");
        assert_eq!(uuid.get_version_num(), 4);
    }
}
