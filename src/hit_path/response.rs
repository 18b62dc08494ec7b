//! Writing a fresh hit's response head: the status line, the entry's
//! stored header lines as they are, the per-response headers. The same
//! headers a hit gets through hyper (`proxy::respond::hit`). The body is
//! not copied: it goes out from the entry's own buffer, after the head,
//! in the same `writev`.

use std::cell::RefCell;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::error::ProxyError;
use crate::proxy::FreshHit;

/// Appends the response head for `hit` to `out`, with this request's id;
/// `closing` adds `connection: close` (the server is draining).
pub fn write_head(out: &mut Vec<u8>, hit: &FreshHit, request_id: &[u8], closing: bool) {
    let entry = &hit.entry;
    out.extend_from_slice(b"HTTP/1.1 200 OK\r\n");
    out.extend_from_slice(entry.headers.as_bytes());
    line(out, b"cache-status", hit.outcome.header_value().as_bytes());
    line(out, b"x-openstack-request-id", request_id);
    line(out, b"age", hit.age.as_bytes());
    if closing {
        line(out, b"connection", b"close");
    }
    with_date(|date| line(out, b"date", date));
    out.extend_from_slice(b"\r\n");
}

/// Appends a whole response for one of the proxy's own errors (its JSON
/// body included), announcing that the connection closes.
pub fn write_error(out: &mut Vec<u8>, err: &ProxyError) {
    let status = err.status();
    let body = err.body();
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(status.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(status.canonical_reason().unwrap_or("Error").as_bytes());
    out.extend_from_slice(b"\r\n");
    line(out, b"content-type", b"application/json");
    line(out, b"content-length", body.len().to_string().as_bytes());
    line(out, b"connection", b"close");
    with_date(|date| line(out, b"date", date));
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(&body);
}

fn line(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// The `Date` value (IMF-fixdate) for now, formatted once per second per
/// thread, as hyper caches its own.
fn with_date<R>(f: impl FnOnce(&[u8]) -> R) -> R {
    thread_local! {
        static DATE: RefCell<(u64, String)> = const { RefCell::new((u64::MAX, String::new())) };
    }
    let now = SystemTime::now();
    let second = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    DATE.with(|cell| {
        let mut cached = cell.borrow_mut();
        if cached.0 != second {
            *cached = (second, httpdate::fmt_http_date(now));
        }
        f(cached.1.as_bytes())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use bytes::Bytes;
    use http::{HeaderMap, HeaderValue};

    use crate::cache::entry::Entry;
    use crate::cache::freshness::Freshness;

    fn hit() -> FreshHit {
        let mut upstream = HeaderMap::new();
        upstream.insert("content-type", HeaderValue::from_static("application/json"));
        let freshness = Freshness {
            lifetime: Duration::from_secs(60),
            stale_while_revalidate: Duration::ZERO,
            stale_if_error: Duration::ZERO,
        };
        let body = Bytes::from_static(b"{\"id\": \"a\"}");
        let entry = Entry::new(
            &upstream,
            body,
            freshness,
            (0, 0),
            Instant::now(),
            Duration::ZERO,
        );
        FreshHit {
            entry: Arc::new(entry),
            outcome: crate::cache::outcome::CacheOutcome::Hit { ttl: 60 },
            age: HeaderValue::from_static("0"),
            underscored: 0,
            principal: crate::proxy::PrincipalKind::Anonymous,
        }
    }

    /// A response httparse reads back: status, every header once, the
    /// body after the head and as long as Content-Length says.
    #[test]
    fn a_whole_response() {
        let mut out = Vec::new();
        let hit = hit();
        write_head(&mut out, &hit, b"req-client", false);
        out.extend_from_slice(&hit.entry.body);
        let mut headers = [httparse::EMPTY_HEADER; 16];
        let mut response = httparse::Response::new(&mut headers);
        let httparse::Status::Complete(len) = response.parse(&out).expect("parses") else {
            panic!("incomplete head");
        };
        assert_eq!(response.code, Some(200));
        let get = |name: &str| {
            let found: Vec<&[u8]> = response
                .headers
                .iter()
                .filter(|h| h.name == name)
                .map(|h| h.value)
                .collect();
            assert_eq!(found.len(), 1, "{name}: {found:?}");
            String::from_utf8_lossy(found[0]).into_owned()
        };
        assert_eq!(get("content-type"), "application/json");
        assert_eq!(get("content-length"), "11");
        assert_eq!(get("etag").len(), 34);
        assert_eq!(get("cache-status"), "imgcache; hit; ttl=60");
        assert_eq!(get("x-openstack-request-id"), "req-client");
        assert_eq!(get("age"), "0");
        assert!(httpdate::parse_http_date(&get("date")).is_ok());
        assert!(response.headers.iter().all(|h| h.name != "connection"));
        assert_eq!(&out[len..], b"{\"id\": \"a\"}");
    }

    /// The id given goes out; a draining server says it will close.
    #[test]
    fn id_and_closing() {
        let mut out = Vec::new();
        let id = crate::request_id::RequestId::generate();
        write_head(&mut out, &hit(), id.as_bytes(), true);
        let text = String::from_utf8_lossy(&out);
        assert!(text.contains("\r\nx-openstack-request-id: req-"), "{text}");
        assert!(text.contains("\r\nconnection: close\r\n"), "{text}");
    }
}
