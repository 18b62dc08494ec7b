//! A stored response: the body as served (already transformed), the
//! headers prepared once at fill time, and its freshness.

use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use sha2::{Digest, Sha256};

use super::freshness::{Freshness, Staleness};
use crate::hop_by_hop::is_hop_by_hop;
use crate::request_headers::HeaderLookup;

/// Upstream headers that describe one response, not the stored
/// representation: they are set anew for each response served. Hop-by-hop
/// headers are never stored either (fills strip them already; an entry
/// from the fleet's Redis may not have, and the hit path writes stored
/// lines as they are).
const PER_RESPONSE_HEADERS: &[&str] = &[
    "x-openstack-request-id",
    "date",
    "age",
    "etag",
    "content-length",
    "cache-status",
    "set-cookie",
];

/// Fixed memory cost of an entry beyond its bytes (struct, map slots,
/// moka bookkeeping), for the weigher.
const ENTRY_OVERHEAD: usize = 320;

/// One cached image representation for one identity.
#[derive(Debug)]
pub struct Entry {
    /// The body exactly as served; hits clone the `Bytes` handle only.
    pub body: Bytes,
    /// Headers to serve: upstream's end-to-end headers, `Content-Length`
    /// and our `ETag`.
    pub headers: StoredHeaders,
    /// When the response arrived.
    pub stored_at: Instant,
    /// Age the upstream reported for it (`Age`), usually zero.
    pub initial_age: Duration,
    /// Its windows.
    pub freshness: Freshness,
    /// The image's generation when the fill began (invalidation check).
    pub generation: u64,
    /// The settings epoch it was made under (purge-all / mode change).
    pub epoch: u64,
}

impl Entry {
    /// Prepares an entry from the upstream's headers and the served body.
    pub fn new(
        upstream_headers: &HeaderMap,
        body: Bytes,
        freshness: Freshness,
        stamp: (u64, u64),
        stored_at: Instant,
        initial_age: Duration,
    ) -> Entry {
        let etag = strong_etag(&body);
        let kept = upstream_headers
            .iter()
            .filter(|(name, _)| !PER_RESPONSE_HEADERS.contains(&name.as_str()))
            .filter(|(name, _)| !is_hop_by_hop(name.as_str()));
        let length = HeaderValue::from(body.len());
        let headers: Vec<_> = kept
            .chain([(&header::CONTENT_LENGTH, &length), (&header::ETAG, &etag)])
            .collect();
        let (headers, body) = StoredHeaders::encode_with_body(&headers, &body);
        let (generation, epoch) = stamp;
        Entry {
            body,
            headers,
            stored_at,
            initial_age,
            freshness,
            generation,
            epoch,
        }
    }

    /// Its strong validator over the body (kept as its stored `ETag`
    /// line, not a field of its own: entries are many, 304s are few).
    pub fn etag(&self) -> HeaderValue {
        self.headers
            .get(header::ETAG.as_str())
            .unwrap_or_else(|| HeaderValue::from_static("\"\""))
    }

    /// How old the entry is at `now`.
    pub fn age(&self, now: Instant) -> Duration {
        self.initial_age + now.saturating_duration_since(self.stored_at)
    }

    /// Where the entry stands at `now`.
    pub fn staleness(&self, now: Instant) -> Staleness {
        self.freshness.judge(self.age(now))
    }

    /// How much longer it is worth keeping at all.
    pub fn remaining_life(&self, now: Instant) -> Duration {
        self.freshness.keep_for().saturating_sub(self.age(now))
    }

    /// Approximate bytes this entry holds, for the cache's byte bound.
    pub fn weight(&self) -> usize {
        self.body.len() + self.headers.as_bytes().len() + ENTRY_OVERHEAD
    }
}

/// Stored headers as they go on the wire: `name: value\r\n` lines with
/// lower-case names, in one buffer with the body after them. One
/// allocation per entry instead of one per header value, and the hit
/// path writes the lines as they are; responses through hyper build
/// their map from them.
#[derive(Debug)]
pub struct StoredHeaders(Bytes);

impl StoredHeaders {
    /// Encodes `headers`, then `body`, into one exact-size buffer; returns
    /// the header lines and the body, both views of it. (Bodies and header
    /// values read off a connection are slices of its read buffer: kept as
    /// they are, each entry would pin a whole buffer.)
    fn encode_with_body(
        headers: &[(&HeaderName, &HeaderValue)],
        body: &[u8],
    ) -> (StoredHeaders, Bytes) {
        let lines: usize = headers
            .iter()
            .map(|(name, value)| name.as_str().len() + value.len() + 4)
            .sum();
        let mut buffer = Vec::with_capacity(lines + body.len());
        for (name, value) in headers {
            buffer.extend_from_slice(name.as_str().as_bytes());
            buffer.extend_from_slice(b": ");
            buffer.extend_from_slice(value.as_bytes());
            buffer.extend_from_slice(b"\r\n");
        }
        buffer.extend_from_slice(body);
        let buffer = Bytes::from(buffer);
        (StoredHeaders(buffer.slice(..lines)), buffer.slice(lines..))
    }

    /// The lines, ready to write into a response head.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// A map of these headers, with room for `extra` more.
    pub fn to_map(&self, extra: usize) -> HeaderMap {
        let lines = self.0.iter().filter(|b| **b == b'\n').count();
        let mut map = HeaderMap::with_capacity(lines + extra);
        for (name, value) in self.iter() {
            map.append(name, value);
        }
        map
    }

    /// The headers, in order; values share the stored buffer.
    pub fn iter(&self) -> impl Iterator<Item = (HeaderName, HeaderValue)> + '_ {
        let mut at = 0;
        std::iter::from_fn(move || {
            loop {
                let rest = self.0.get(at..).filter(|rest| !rest.is_empty())?;
                let line_len = rest.windows(2).position(|w| w == b"\r\n")?;
                let line = at..at + line_len;
                at += line_len + 2;
                if let Some(pair) = self.parse_line(line) {
                    return Some(pair);
                }
            }
        })
    }

    /// One `name: value` line; lines were written from valid headers, so
    /// `None` only if the buffer was not made by `encode_with_body`.
    fn parse_line(&self, line: std::ops::Range<usize>) -> Option<(HeaderName, HeaderValue)> {
        let text = self.0.get(line.clone())?;
        let colon = text.iter().position(|b| *b == b':')?;
        let name = HeaderName::from_bytes(&text[..colon]).ok()?;
        let value_start = line.start + colon + 2;
        let value = HeaderValue::from_maybe_shared(self.0.slice(value_start..line.end)).ok()?;
        Some((name, value))
    }

    /// The first value of a header.
    pub fn get(&self, name: &str) -> Option<HeaderValue> {
        self.iter()
            .find(|(n, _)| n.as_str() == name)
            .map(|(_, v)| v)
    }
}

/// `"<32 hex digits>"`: the first 128 bits of SHA-256 over the body.
pub fn strong_etag(body: &[u8]) -> HeaderValue {
    let digest = Sha256::digest(body);
    let mut text = String::with_capacity(34);
    text.push('"');
    for byte in &digest[..16] {
        text.push_str(&format!("{byte:02x}"));
    }
    text.push('"');
    HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static("\"0\""))
}

/// Whether an `If-None-Match` list matches `etag` (weak comparison, as
/// RFC 9110 §13.1.2 asks for this header; `*` matches anything).
pub fn if_none_match<H: HeaderLookup + ?Sized>(headers: &H, etag: &HeaderValue) -> bool {
    let ours = etag.as_bytes();
    headers
        .header_values(&header::IF_NONE_MATCH)
        .flat_map(|v| v.split(|b| *b == b','))
        .map(|tag| tag.trim_ascii())
        .any(|tag| tag == b"*" || tag.strip_prefix(b"W/").unwrap_or(tag) == ours)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn freshness() -> Freshness {
        Freshness {
            lifetime: Duration::from_secs(60),
            stale_while_revalidate: Duration::ZERO,
            stale_if_error: Duration::from_secs(600),
        }
    }

    /// Per-response upstream headers are not stored; Content-Length and
    /// ETag describe the stored body.
    #[test]
    fn prepared_headers() {
        let mut upstream = HeaderMap::new();
        upstream.insert("content-type", HeaderValue::from_static("application/json"));
        upstream.insert("content-length", HeaderValue::from_static("999"));
        upstream.insert("x-openstack-request-id", HeaderValue::from_static("req-1"));
        upstream.insert("x-custom", HeaderValue::from_static("kept"));
        upstream.insert("transfer-encoding", HeaderValue::from_static("chunked"));
        upstream.insert("connection", HeaderValue::from_static("close"));
        let body = Bytes::from_static(b"{\"id\": \"a\"}");
        let entry = Entry::new(
            &upstream,
            body,
            freshness(),
            (1, 2),
            Instant::now(),
            Duration::ZERO,
        );
        let header = |name: &str| entry.headers.get(name);
        assert_eq!(
            header("content-length"),
            Some(HeaderValue::from_static("11"))
        );
        assert_eq!(
            header("content-type"),
            Some(HeaderValue::from_static("application/json"))
        );
        assert_eq!(header("x-custom"), Some(HeaderValue::from_static("kept")));
        assert!(header("x-openstack-request-id").is_none());
        assert!(header("transfer-encoding").is_none());
        assert!(header("connection").is_none());
        assert_eq!(header("etag"), Some(entry.etag()));
        assert_eq!(entry.etag().len(), 34);
        assert_eq!(entry.etag(), strong_etag(b"{\"id\": \"a\"}"));
        assert!(entry.weight() > 11);
    }

    /// The ETag changes with the body and If-None-Match matches it,
    /// weakly, in lists, and as `*`.
    #[test]
    fn etags() {
        let a = strong_etag(b"a");
        assert_ne!(a, strong_etag(b"b"));
        let mut headers = HeaderMap::new();
        assert!(!if_none_match(&headers, &a));
        let tag = a.to_str().expect("ascii");
        headers.insert(
            "if-none-match",
            HeaderValue::from_str(&format!("\"x\", W/{tag}")).expect("v"),
        );
        assert!(if_none_match(&headers, &a));
        headers.insert("if-none-match", HeaderValue::from_static("\"nope\""));
        assert!(!if_none_match(&headers, &a));
        headers.insert("if-none-match", HeaderValue::from_static("*"));
        assert!(if_none_match(&headers, &a));
    }

    /// Age counts from the stored time plus the upstream's Age.
    #[test]
    fn age_and_life() {
        let now = Instant::now();
        let born = now.checked_sub(Duration::from_secs(30)).unwrap_or(now);
        let entry = Entry::new(
            &HeaderMap::new(),
            Bytes::new(),
            freshness(),
            (0, 0),
            born,
            Duration::from_secs(5),
        );
        let age = entry.age(now);
        assert!(age >= Duration::from_secs(35) || born == now, "{age:?}");
        assert!(entry.remaining_life(now) <= Duration::from_secs(625));
    }
}
