//! Read access to a request's headers by name, whoever parsed them: hyper
//! (a `HeaderMap`) or the hit path's own parser (`httparse` headers). The
//! cache decisions (identity, bypass, validators, request id) are written
//! once against this trait, so both paths judge a request the same way.

mod forwarded;
mod underscores;

use http::{HeaderMap, HeaderName};

pub use forwarded::Forwarded;
pub use underscores::{UnderscoreHeaders, has_underscore};

/// A request's headers, looked up by name.
pub trait HeaderLookup {
    /// The values of `name`, in the order they were sent (names match
    /// case-insensitively).
    fn header_values<'a>(&'a self, name: &'a HeaderName) -> impl Iterator<Item = &'a [u8]> + 'a;

    /// Every header name, once or more (in no promised order).
    fn names(&self) -> impl Iterator<Item = &str>;

    /// The first value of `name`.
    fn first_value<'a>(&'a self, name: &'a HeaderName) -> Option<&'a [u8]> {
        self.header_values(name).next()
    }
}

impl HeaderLookup for HeaderMap {
    fn header_values<'a>(&'a self, name: &'a HeaderName) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.get_all(name).iter().map(|value| value.as_bytes())
    }

    fn names(&self) -> impl Iterator<Item = &str> {
        self.keys().map(HeaderName::as_str)
    }
}

impl HeaderLookup for [httparse::Header<'_>] {
    fn header_values<'a>(&'a self, name: &'a HeaderName) -> impl Iterator<Item = &'a [u8]> + 'a {
        // HeaderName is lower case; what a client sent may not be.
        let name = name.as_str();
        self.iter()
            .filter(move |header| header.name.eq_ignore_ascii_case(name))
            .map(|header| header.value)
    }

    fn names(&self) -> impl Iterator<Item = &str> {
        self.iter().map(|header| header.name)
    }
}

/// The size of a request head as the proxy limits it
/// (`server.max_header_bytes`): the request line plus `name: value\r\n`
/// per header, whatever spacing and line ends the client used, so that
/// both parsers judge one request alike.
pub fn head_size(
    method_len: usize,
    target_len: usize,
    headers: impl Iterator<Item = (usize, usize)>,
) -> usize {
    let line = method_len + target_len + 12;
    line + headers.map(|(name, value)| name + value + 4).sum::<usize>()
}

/// The body length `Content-Length` announces (`None` without one). Every
/// value, comma-separated or repeated, must be the same number, as hyper
/// requires of a request; one rule for both parsers and for responses.
pub fn content_length<H: HeaderLookup + ?Sized>(headers: &H) -> Result<Option<u64>, &'static str> {
    let mut length = None;
    let values = headers
        .header_values(&http::header::CONTENT_LENGTH)
        .flat_map(|value| value.split(|b| *b == b','));
    for value in values {
        let digits = value.trim_ascii();
        let parsed = std::str::from_utf8(digits)
            .ok()
            .filter(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|d| d.parse::<u64>().ok())
            .ok_or("the Content-Length is not a number")?;
        if length.is_some_and(|known| known != parsed) {
            return Err("the Content-Length values differ");
        }
        length = Some(parsed);
    }
    Ok(length)
}

/// A header value as text when it is visible ASCII (tabs allowed), as
/// `HeaderValue::to_str` judges it.
pub fn visible_ascii(value: &[u8]) -> Option<&str> {
    let visible = value
        .iter()
        .all(|b| *b == b'\t' || (0x20..0x7f).contains(b));
    visible.then(|| std::str::from_utf8(value).ok()).flatten()
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    /// Both kinds give the same values, in order, whatever the case.
    #[test]
    fn both_kinds_agree() {
        let raw = [
            httparse::Header {
                name: "X-Auth-Token",
                value: b"a",
            },
            httparse::Header {
                name: "Host",
                value: b"h",
            },
            httparse::Header {
                name: "x-auth-token",
                value: b"b",
            },
        ];
        let mut map = HeaderMap::new();
        for header in &raw {
            map.append(
                HeaderName::from_bytes(header.name.as_bytes()).expect("name"),
                HeaderValue::from_bytes(header.value).expect("value"),
            );
        }
        let token = HeaderName::from_static("x-auth-token");
        let from_raw: Vec<&[u8]> = raw[..].header_values(&token).collect();
        let from_map: Vec<&[u8]> = map.header_values(&token).collect();
        assert_eq!(from_raw, vec![&b"a"[..], &b"b"[..]]);
        assert_eq!(from_raw, from_map);
        assert_eq!(raw[..].first_value(&http::header::HOST), Some(&b"h"[..]));
        assert_eq!(raw[..].first_value(&http::header::PRAGMA), None);
    }

    /// Text only when `HeaderValue::to_str` would give it.
    #[test]
    fn visible_ascii_matches_header_value() {
        for bytes in [&b"max-age=0"[..], b"a\tb", b"caf\xc3\xa9", b"a\x80", b""] {
            let value = HeaderValue::from_bytes(bytes).expect("value");
            assert_eq!(visible_ascii(bytes), value.to_str().ok(), "{bytes:?}");
        }
    }
}
