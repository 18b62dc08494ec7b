//! What one access line says, and its two spellings: text (as `tracing`'s
//! own format writes a line) and JSON (every value its JSON type, strings
//! escaped once). Times are whole microseconds.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::time::{Duration, SystemTime};

use http::{Method, Uri};

use super::time::{rfc3339, write_rfc3339};
use crate::cache::outcome::CacheOutcome;
use crate::request_id::RequestId;

/// Longest path (and query) written to the log; absurd ones are cut.
const MAX_LOGGED_PATH: usize = 256;

/// Longest `User-Agent` kept; longer ones are cut.
pub const MAX_USER_AGENT: usize = 128;

/// A short run of bytes kept inline (no allocation), cut at `N`.
#[derive(Clone, Copy)]
pub struct Inline<const N: usize> {
    len: u16,
    bytes: [u8; N],
}

impl<const N: usize> Inline<N> {
    /// Nothing.
    pub const EMPTY: Self = Inline {
        len: 0,
        bytes: [0; N],
    };

    /// The first `N` bytes of `value`.
    pub fn cut(value: &[u8]) -> Self {
        let len = value.len().min(N);
        let mut bytes = [0u8; N];
        bytes[..len].copy_from_slice(&value[..len]);
        Inline {
            len: len as u16,
            bytes,
        }
    }

    /// The bytes as text; what is not UTF-8 (or was cut mid-character)
    /// becomes U+FFFD.
    fn text(&self) -> std::borrow::Cow<'_, str> {
        String::from_utf8_lossy(&self.bytes[..usize::from(self.len)])
    }

    fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// One access event: who asked what, what they got, how long it took.
pub struct Event {
    pub request_id: RequestId,
    pub client: SocketAddr,
    pub method: Method,
    pub uri: Uri,
    pub user_agent: Inline<MAX_USER_AGENT>,
    pub status: u16,
    /// What the cache did, when it was involved.
    pub outcome: Option<CacheOutcome>,
    /// What kind of credentials the request carried (never the secret).
    pub principal: &'static str,
    /// The upstream's status (0: not asked).
    pub upstream_status: u16,
    /// Time to the upstream's response headers (zero: not asked).
    pub upstream: Duration,
    /// Body bytes sent.
    pub bytes: u64,
    /// The body failed part-way.
    pub aborted: bool,
}

/// An event with its end: when it was written and how long it took.
pub(super) struct Record {
    pub at: SystemTime,
    pub total: Duration,
    pub event: Event,
}

impl Record {
    /// The path, cut at [`MAX_LOGGED_PATH`] characters.
    fn path(&self) -> &str {
        cut(self.event.uri.path())
    }

    /// The query (cut), or `-`.
    fn query(&self) -> &str {
        self.event.uri.query().map_or("-", cut)
    }

    fn user_agent(&self) -> std::borrow::Cow<'_, str> {
        match self.event.user_agent.is_empty() {
            true => "-".into(),
            false => self.event.user_agent.text(),
        }
    }

    /// The `Cache-Status` value, or `-`.
    fn cache(&self) -> Option<http::HeaderValue> {
        self.event.outcome.map(CacheOutcome::header_value)
    }

    /// The event through `tracing`, on the caller's thread (no writer:
    /// tests, libraries). Strings go in as `&str`: quoted and escaped by
    /// the text format, plain JSON strings in the JSON one.
    pub fn trace(&self) {
        let e = &self.event;
        tracing::info!(
            target: "imgcache::access",
            request_id = e.request_id.as_str(),
            client = %e.client,
            method = e.method.as_str(),
            path = self.path(),
            query = self.query(),
            user_agent = &*self.user_agent(),
            status = e.status,
            cache = cache_text(self.cache().as_ref()),
            principal = e.principal,
            upstream_status = e.upstream_status,
            bytes = e.bytes,
            total_us = micros(self.total),
            upstream_us = micros(e.upstream),
            aborted = e.aborted,
        );
    }

    /// One text line, as `tracing`'s own format writes it: strings
    /// quoted and escaped, so no byte a client sent can start a line of
    /// its own. (The request id and the address need no quotes.)
    pub fn text(&self, out: &mut String) {
        let e = &self.event;
        let cache = self.cache();
        write_rfc3339(out, self.at);
        let _ = writeln!(
            out,
            "  INFO imgcache::access: request_id={} client={} method={} path={:?} query={:?} user_agent={:?} status={} cache={:?} principal={} upstream_status={} bytes={} total_us={} upstream_us={} aborted={}",
            e.request_id.as_str(),
            e.client,
            e.method,
            self.path(),
            self.query(),
            self.user_agent(),
            e.status,
            cache_text(cache.as_ref()),
            e.principal,
            e.upstream_status,
            e.bytes,
            micros(self.total),
            micros(e.upstream),
            e.aborted,
        );
    }

    /// One JSON line: every value its JSON type, strings escaped once.
    pub fn json(&self, out: &mut String) {
        let e = &self.event;
        let line = serde_json::json!({
            "timestamp": rfc3339(self.at),
            "level": "INFO",
            "target": "imgcache::access",
            "request_id": e.request_id.as_str(),
            "client": e.client.to_string(),
            "method": e.method.as_str(),
            "path": self.path(),
            "query": self.query(),
            "user_agent": self.user_agent(),
            "status": e.status,
            "cache": cache_text(self.cache().as_ref()),
            "principal": e.principal,
            "upstream_status": e.upstream_status,
            "bytes": e.bytes,
            "total_us": micros(self.total),
            "upstream_us": micros(e.upstream),
            "aborted": e.aborted,
        });
        let _ = writeln!(out, "{line}");
    }
}

/// `text` cut at [`MAX_LOGGED_PATH`] characters.
fn cut(text: &str) -> &str {
    match text.char_indices().nth(MAX_LOGGED_PATH) {
        Some((at, _)) => &text[..at],
        None => text,
    }
}

fn cache_text(value: Option<&http::HeaderValue>) -> &str {
    value.and_then(|v| v.to_str().ok()).unwrap_or("-")
}

/// Whole microseconds: an integer, no float noise.
fn micros(d: Duration) -> u64 {
    u64::try_from(d.as_micros()).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(uri: &str, user_agent: &[u8]) -> Record {
        Record {
            at: SystemTime::UNIX_EPOCH + Duration::from_micros(1_796_678_183_032_203),
            total: Duration::from_nanos(701_999),
            event: Event {
                request_id: RequestId::parse(b"req-1").expect("id"),
                client: "192.0.2.7:40000".parse().expect("addr"),
                method: Method::GET,
                uri: uri.parse().expect("uri"),
                user_agent: Inline::cut(user_agent),
                status: 200,
                outcome: None,
                principal: "token",
                upstream_status: 0,
                upstream: Duration::ZERO,
                bytes: 1234,
                aborted: false,
            },
        }
    }

    /// A text line: one line whatever the path or user agent holds,
    /// escaped; times in whole microseconds.
    #[test]
    fn text_lines_escape_what_clients_send() {
        let mut out = String::new();
        record("/v2/images/x%0aFORGED?a=1", b"ua\nFORGED \"q\"").text(&mut out);
        assert_eq!(out.lines().count(), 1);
        for needle in [
            r#"path="/v2/images/x%0aFORGED""#,
            r#"query="a=1""#,
            r#"user_agent="ua\nFORGED \"q\"""#,
            "request_id=req-1 client=192.0.2.7:40000 method=GET",
            "total_us=701 upstream_us=0",
            "principal=token",
            r#"cache="-""#,
        ] {
            assert!(out.contains(needle), "{needle}: {out}");
        }
        assert!(
            out.starts_with("2026-12-07T21:16:23.032203Z  INFO"),
            "{out}"
        );
    }

    /// A JSON line: the path a plain string (not quoted twice), times
    /// integers, every field there.
    #[test]
    fn json_lines_are_typed() {
        let mut out = String::new();
        record("/v2/images/abc", b"curl/8").json(&mut out);
        let line: serde_json::Value = serde_json::from_str(out.trim()).expect("json");
        assert_eq!(line["path"], "/v2/images/abc");
        assert_eq!(line["query"], "-");
        assert_eq!(line["total_us"], 701);
        assert!(line["total_us"].is_u64());
        assert_eq!(line["upstream_us"], 0);
        assert_eq!(line["status"], 200);
        assert_eq!(line["request_id"], "req-1");
        assert_eq!(line["client"], "192.0.2.7:40000");
        assert_eq!(line["user_agent"], "curl/8");
        assert_eq!(line["principal"], "token");
        assert_eq!(line["target"], "imgcache::access");
    }

    /// User agents are cut, and bytes that are not UTF-8 do not break the
    /// line.
    #[test]
    fn user_agents_are_cut() {
        let long = vec![b'a'; 1000];
        assert_eq!(
            Inline::<MAX_USER_AGENT>::cut(&long).text().len(),
            MAX_USER_AGENT
        );
        let mut out = String::new();
        record("/", b"\xff\xfe").json(&mut out);
        let line: serde_json::Value = serde_json::from_str(out.trim()).expect("json");
        assert_eq!(line["user_agent"], "\u{fffd}\u{fffd}");
    }
}
