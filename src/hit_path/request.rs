//! Which requests the hit path answers itself: a complete, plain HTTP/1.1
//! `GET` with no body and nothing for hyper or the full path to judge.
//! The head is parsed with `httparse`, the parser hyper itself uses, so
//! what is accepted here hyper would have accepted too; everything else
//! is handed to hyper, which answers it (or rejects it) as always.

use crate::request_headers::{Forwarded, UnderscoreHeaders};
use crate::request_headers::{content_length, head_size};

/// Header lines the hit path parses; a request with more goes to hyper.
pub const MAX_HEADERS: usize = 64;

/// Headers besides the hop-by-hop ones that send a request to the full
/// path: framing and protocol switches (hyper's job) and the validator
/// that needs a 304 (the full path makes those). Hop-by-hop headers go
/// there too (the full path strips them before judging the identity),
/// except `Connection: keep-alive`.
const FULL_PATH_HEADERS: &[&str] = &[
    "content-length",
    "expect",
    "http2-settings",
    "if-none-match",
];

/// What the bytes read so far hold. (No `Debug`: it holds tokens.)
pub enum Head<'h, 'b> {
    /// The start of a head that fits the limit: read more.
    Partial,
    /// Not HTTP/1 (nor the start of HTTP/2's preface): answered 400 with
    /// the proxy's JSON error body, then closed, as hyper would have
    /// closed it with a bare 400.
    Malformed(&'static str),
    /// Past `server.max_header_bytes` as the full path counts it: 431,
    /// with the JSON body, then closed.
    TooLarge,
    /// A plain `GET` the hit path may answer.
    Plain(PlainGet<'h, 'b>),
    /// A request hyper answers, after which the connection comes back to
    /// the hit path: its head is `len` bytes, its body `body` bytes.
    Exchange { len: usize, body: u64 },
    /// Anything else: hyper's for the rest of the connection (HTTP/1.0,
    /// h2c, a chunked body, `Connection: close` on anything but a plain
    /// `GET`, an upgrade).
    Other,
}

/// A complete, plain `GET`. (No `Debug`: it holds tokens.)
pub struct PlainGet<'h, 'b> {
    /// The request target, an absolute path without a query.
    pub path: &'b str,
    /// Its header lines.
    pub headers: &'h [httparse::Header<'b>],
    /// Bytes of the head, the final blank line included.
    pub len: usize,
    /// `Connection: close`: the connection ends with this answer.
    pub close: bool,
}

/// Reads the head at the start of `input` (at most `max_header_bytes`).
pub fn parse<'h, 'b>(
    input: &'b [u8],
    headers: &'h mut [httparse::Header<'b>],
    max_header_bytes: usize,
) -> Head<'h, 'b> {
    let mut request = httparse::Request::new(headers);
    let len = match request.parse(input) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) if input.len() <= read_buffer_size(max_header_bytes) => {
            return Head::Partial;
        }
        Ok(httparse::Status::Partial) => return Head::TooLarge,
        // More lines than the hit path parses: hyper takes up to its own
        // limit.
        Err(httparse::Error::TooManyHeaders) => return Head::Other,
        // h2c's preface is not HTTP/1: hyper's auto builder speaks it.
        Err(_) if is_h2_preface(input) => return Head::Other,
        Err(err) => return Head::Malformed(malformed(err)),
    };
    let size = head_size(
        request.method.map_or(0, str::len),
        request.path.map_or(0, str::len),
        request
            .headers
            .iter()
            .map(|h| (h.name.len(), h.value.len())),
    );
    if size > max_header_bytes {
        return Head::TooLarge;
    }
    if request
        .path
        .is_some_and(|path| http::Uri::try_from(path).is_err())
    {
        return Head::Malformed("the request target is not a valid URI");
    }
    if request.version != Some(1) {
        return Head::Other;
    }
    let headers: &'h [httparse::Header<'b>] = request.headers;
    let body = match content_length(headers) {
        Ok(body) => body.unwrap_or(0),
        Err(why) => return Head::Malformed(why),
    };
    match (request.method, request.path) {
        (Some("GET"), Some(path)) if body == 0 && is_plain_path(path) && plain_headers(headers) => {
            Head::Plain(PlainGet {
                path,
                headers,
                len,
                close: asks_to_close(headers),
            })
        }
        (Some("CONNECT"), _) => Head::Other,
        _ if exchange_headers(headers) => Head::Exchange { len, body },
        _ => Head::Other,
    }
}

/// Whether hyper can answer this request and give the connection back:
/// the body's end is known from `Content-Length` (no chunked body), and
/// nothing asks to close or switch protocols.
fn exchange_headers(headers: &[httparse::Header<'_>]) -> bool {
    headers.iter().all(|header| {
        let name = header.name;
        if name.eq_ignore_ascii_case("connection") {
            !header.value.split(|b| *b == b',').any(|token| {
                let token = token.trim_ascii();
                token.eq_ignore_ascii_case(b"close") || token.eq_ignore_ascii_case(b"upgrade")
            })
        } else {
            !(name.eq_ignore_ascii_case("transfer-encoding")
                || name.eq_ignore_ascii_case("upgrade")
                || name.eq_ignore_ascii_case("http2-settings"))
        }
    })
}

/// Whether a `Connection` header says `close`.
fn asks_to_close(headers: &[httparse::Header<'_>]) -> bool {
    headers
        .iter()
        .filter(|h| h.name.eq_ignore_ascii_case("connection"))
        .flat_map(|h| h.value.split(|b| *b == b','))
        .any(|token| token.trim_ascii().eq_ignore_ascii_case(b"close"))
}

/// How big a head may grow while it is read: hyper's read buffer, past
/// which it would answer a bare 431 itself.
pub fn read_buffer_size(max_header_bytes: usize) -> usize {
    const FACTOR: usize = 4;
    const MIN: usize = 64 * 1024;
    (max_header_bytes * FACTOR).max(MIN)
}

/// What is wrong with a head, for the 400's message.
fn malformed(err: httparse::Error) -> &'static str {
    match err {
        httparse::Error::Version => "not an HTTP/1.0 or HTTP/1.1 request",
        httparse::Error::Token => "the method or a header name is not a token",
        httparse::Error::HeaderName => "a header name is malformed",
        httparse::Error::HeaderValue => "a header value has characters HTTP does not allow",
        _ => "the request line or headers are malformed",
    }
}

/// Whether `input` starts like HTTP/2's connection preface.
pub fn is_h2_preface(input: &[u8]) -> bool {
    const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    let common = input.len().min(PREFACE.len());
    input[..common] == PREFACE[..common]
}

/// An absolute path of RFC 3986 path characters only: no query, no
/// fragment, nothing `http::Uri` might read differently.
fn is_plain_path(path: &str) -> bool {
    path.starts_with('/')
        && path
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/-._~%!$&'()*+,;=:@".contains(&b))
}

/// None of the full path's headers, and nothing to strip before
/// forwarding (`Connection` at most saying what HTTP/1.1 means anyway).
/// (`Host` is the admission's to judge, for both paths alike.)
fn plain_headers(headers: &[httparse::Header<'_>]) -> bool {
    let full_path = |header: &httparse::Header<'_>| {
        FULL_PATH_HEADERS
            .iter()
            .any(|name| header.name.eq_ignore_ascii_case(name))
    };
    !headers.iter().any(full_path) && Forwarded::check(headers, UnderscoreHeaders::Drop).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMIT: usize = 1024;

    fn judge(input: &[u8]) -> &'static str {
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        match parse(input, &mut headers, LIMIT) {
            Head::Partial => "partial",
            Head::Plain(_) => "plain",
            Head::Other => "other",
            Head::Exchange { .. } => "exchange",
            Head::Malformed(_) => "malformed",
            Head::TooLarge => "too large",
        }
    }

    /// A plain GET is the hit path's; its path and headers are as sent.
    #[test]
    fn plain_get() {
        let input = b"GET /v2/images/abc HTTP/1.1\r\nHost: x\r\nX-Auth-Token: t\r\n\r\nGET /next";
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let Head::Plain(get) = parse(input, &mut headers, LIMIT) else {
            panic!("not plain");
        };
        assert_eq!(get.path, "/v2/images/abc");
        assert_eq!(get.headers.len(), 2);
        assert_eq!(get.headers[1].value, b"t");
        assert_eq!(&input[get.len..], b"GET /next");
    }

    /// Heads that are not complete yet wait for more bytes, up to the
    /// size of hyper's read buffer; a complete head past the limit is too
    /// large, whatever its method.
    #[test]
    fn partial_heads() {
        assert_eq!(judge(b""), "partial");
        assert_eq!(
            judge(b"GET /v2/images/abc HTTP/1.1\r\nHost: x\r\n"),
            "partial"
        );
        let long = format!("GET /{} HTTP/1.1\r\n", "a".repeat(LIMIT));
        assert_eq!(judge(long.as_bytes()), "partial");
        let endless = format!("GET /{} HTTP/1.1\r\n", "a".repeat(read_buffer_size(LIMIT)));
        assert_eq!(judge(endless.as_bytes()), "too large");
        for method in ["GET", "POST"] {
            let long = format!(
                "{method} /a HTTP/1.1\r\nX-Big: {}\r\n\r\n",
                "a".repeat(LIMIT)
            );
            assert_eq!(judge(long.as_bytes()), "too large", "{method}");
        }
    }

    /// What is not HTTP/1 is malformed (400 and close, as hyper does);
    /// h2c's preface, and more header lines than the hit path parses, are
    /// hyper's.
    #[test]
    fn malformed_heads() {
        let malformed: &[&[u8]] = &[
            b"GET /v2/images/a HTTP/1.1\r\nBad Name: x\r\n\r\n",
            b"GET /v2/images/a HTTP/1.1\r\nX: a\x00b\r\n\r\n",
            b"GET /v2/images/a HTTP/3.0\r\n\r\n",
            b"G(T / HTTP/1.1\r\n\r\n",
            b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",
        ];
        for input in malformed {
            assert_eq!(
                judge(input),
                "malformed",
                "{:?}",
                String::from_utf8_lossy(input)
            );
        }
        assert_eq!(judge(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), "other");
        assert_eq!(judge(b"PRI * HTTP/2.0\r\n"), "other");
    }

    /// The limit counts `name: value\r\n` per header, as the full path
    /// does: terse bare-LF lines cannot squeeze more headers in.
    #[test]
    fn the_limit_is_the_full_paths() {
        let mut input = String::from("GET /a HTTP/1.1\n");
        while input.len() < LIMIT - 40 {
            input.push_str(&format!("X:{}\n", "v".repeat(30)));
        }
        input.push('\n');
        assert!(input.len() <= LIMIT);
        assert_eq!(judge(input.as_bytes()), "too large");
    }

    /// Everything hyper or the full path must judge is not plain.
    #[test]
    fn the_rest_is_hypers() {
        let others: &[&[u8]] = &[
            b"POST /v2/images/a HTTP/1.1\r\nHost: x\r\n\r\n",
            b"HEAD /v2/images/a HTTP/1.1\r\nHost: x\r\n\r\n",
            b"get /v2/images/a HTTP/1.1\r\nHost: x\r\n\r\n",
            b"GET /v2/images/a HTTP/1.0\r\nHost: x\r\n\r\n",
            b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
            b"GET http://x/v2/images/a HTTP/1.1\r\nHost: x\r\n\r\n",
            b"GET /v2/images?limit=1 HTTP/1.1\r\nHost: x\r\n\r\n",
            b"GET /v2/images/a\"b HTTP/1.1\r\nHost: x\r\n\r\n",
            b"GET /v2/images/a HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
            b"GET /v2/images/a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
            b"GET /v2/images/a HTTP/1.1\r\nHost: x\r\nconnection: X-Auth-Token\r\n\r\n",
            b"GET /v2/images/a HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\nKeep-Alive: 5\r\n\r\n",
            b"GET /v2/images/a HTTP/1.1\r\nHost: x\r\nUpgrade: h2c\r\n\r\n",
            b"GET /v2/images/a HTTP/1.1\r\nHost: x\r\nIf-None-Match: \"x\"\r\n\r\n",
            b"GET /v2/images/a HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n\r\n",
        ];
        for input in others {
            let shown = String::from_utf8_lossy(input);
            assert_ne!(judge(input), "plain", "{shown:?} was taken as plain");
        }
    }

    /// A plain GET that asks to close is still the hit path's: answered,
    /// then the connection closes.
    #[test]
    fn plain_get_that_closes() {
        for (input, close) in [
            (
                &b"GET /v2/images/a HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"[..],
                true,
            ),
            (
                b"GET /v2/images/a HTTP/1.1\r\nHost: x\r\nConnection: keep-alive, Close\r\n\r\n",
                true,
            ),
            (
                b"GET /v2/images/a HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\n",
                false,
            ),
        ] {
            let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
            let Head::Plain(get) = parse(input, &mut headers, LIMIT) else {
                panic!("not plain: {:?}", String::from_utf8_lossy(input));
            };
            assert_eq!(get.close, close);
        }
    }

    /// hyper answers one request and gives the connection back when the
    /// request's end is known and nothing asks to close or switch
    /// protocols; otherwise the connection stays with hyper.
    #[test]
    fn exchanges_and_hand_offs() {
        let exchanges: &[&[u8]] = &[
            b"GET /v2/images/a HTTP/1.1\r\nHost: x\r\nIf-None-Match: \"x\"\r\n\r\n",
            b"GET /v2/images?limit=1 HTTP/1.1\r\nHost: x\r\n\r\n",
            b"POST /v2/images HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}",
            b"PATCH /v2/images/a HTTP/1.1\r\nHost: x\r\nConnection: keep-alive\r\n\r\n",
            b"GET /v2/images/a HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n\r\n",
        ];
        for input in exchanges {
            assert_eq!(
                judge(input),
                "exchange",
                "{:?}",
                String::from_utf8_lossy(input)
            );
        }
        let hand_offs: &[&[u8]] = &[
            b"GET /v2/images/a HTTP/1.0\r\n\r\n",
            b"PUT /v2/images/a/file HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n",
            b"DELETE /v2/images/a HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            b"GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n",
            b"CONNECT x:443 HTTP/1.1\r\nHost: x\r\n\r\n",
        ];
        for input in hand_offs {
            assert_eq!(
                judge(input),
                "other",
                "{:?}",
                String::from_utf8_lossy(input)
            );
        }
        let bad_length = b"POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 1, 2\r\n\r\n";
        assert_eq!(judge(bad_length), "malformed");
    }

    /// What python-requests sends is plain.
    #[test]
    fn keep_alive_is_plain() {
        for connection in [
            "keep-alive",
            "Keep-Alive",
            " keep-alive ,",
            "keep-alive, keep-alive",
        ] {
            let input =
                format!("GET /v2/images/a HTTP/1.1\r\nHost: x\r\nConnection: {connection}\r\n\r\n");
            assert_eq!(judge(input.as_bytes()), "plain", "{connection:?}");
        }
    }

    /// More header lines than the hit path parses go to hyper.
    #[test]
    fn many_headers_go_to_hyper() {
        let mut input = String::from("GET /v2/images/a HTTP/1.1\r\n");
        for n in 0..=MAX_HEADERS {
            input.push_str(&format!("X-{n}: v\r\n"));
        }
        input.push_str("\r\n");
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        assert!(matches!(
            parse(input.as_bytes(), &mut headers, 1 << 20),
            Head::Other
        ));
    }
}
