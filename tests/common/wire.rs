//! A raw HTTP/1.1 client connection: bytes written exactly as given
//! (names keep their spelling, repeated lines stay separate), responses
//! read off the wire.

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use http::{HeaderMap, HeaderName, HeaderValue};
use imgcache::cache::outcome::CacheOutcome;

use super::HANG_GUARD;

/// One response as read off the wire.
#[derive(Debug)]
pub struct Wire {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Wire {
    /// What the cache did, read back from `Cache-Status`.
    pub fn outcome(&self) -> Option<CacheOutcome> {
        let value = self
            .headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("cache-status"));
        super::outcome_of(value.map(|(_, v)| v.as_bytes()))
    }

    pub fn header(&self, name: &str) -> &str {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map_or("", |(_, v)| v.as_str())
    }

    /// Header names, lower case and sorted, without those whose value is
    /// per response.
    pub fn stable_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .headers
            .iter()
            .map(|(n, _)| n.to_ascii_lowercase())
            .collect();
        names.sort();
        names
    }
}

/// A raw HTTP/1.1 client connection.
pub struct Conn {
    pub stream: TcpStream,
    pub buf: Vec<u8>,
}

impl Conn {
    pub async fn open(addr: SocketAddr) -> Conn {
        Conn {
            stream: TcpStream::connect(addr).await.expect("connect"),
            buf: Vec::new(),
        }
    }

    pub async fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.expect("write");
    }

    pub async fn fill(&mut self) -> bool {
        let mut chunk = [0u8; 16384];
        match tokio::time::timeout(HANG_GUARD, self.stream.read(&mut chunk)).await {
            Ok(Ok(0)) | Ok(Err(_)) => false,
            Ok(Ok(n)) => {
                self.buf.extend_from_slice(&chunk[..n]);
                true
            }
            Err(_) => panic!("no answer within the hang guard"),
        }
    }

    /// Reads one whole response (Content-Length framed, as ours are).
    pub async fn response(&mut self) -> Wire {
        self.try_response().await.expect("closed before a response")
    }

    /// Reads one whole response; `None` when the connection is closed
    /// before any of it arrives.
    pub async fn try_response(&mut self) -> Option<Wire> {
        loop {
            let mut headers = [httparse::EMPTY_HEADER; 32];
            let mut parsed = httparse::Response::new(&mut headers);
            if let httparse::Status::Complete(head) = parsed.parse(&self.buf).expect("valid head") {
                let status = parsed.code.expect("status");
                let headers: Vec<(String, String)> = parsed
                    .headers
                    .iter()
                    .map(|h| {
                        let value = String::from_utf8_lossy(h.value).into_owned();
                        (h.name.to_owned(), value)
                    })
                    .collect();
                let length: usize = headers
                    .iter()
                    .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
                    .map_or(0, |(_, v)| v.parse().expect("length"));
                while self.buf.len() < head + length {
                    assert!(self.fill().await, "closed mid-body");
                }
                let body = self.buf[head..head + length].to_vec();
                self.buf.drain(..head + length);
                return Some(Wire {
                    status,
                    headers,
                    body,
                });
            }
            if !self.fill().await {
                assert!(self.buf.is_empty(), "closed mid-head");
                return None;
            }
        }
    }

    /// Whether the server closes the connection (reads until EOF).
    pub async fn closed(&mut self) -> bool {
        !self.fill().await && self.buf.is_empty()
    }
}

impl Conn {
    /// Sends one request and reads its response.
    pub async fn round_trip(&mut self, request: &[u8]) -> Wire {
        self.send(request).await;
        self.response().await
    }
}

/// One request on a new connection (the hit path reads it first).
pub async fn on_new_connection(addr: SocketAddr, request: &[u8]) -> Wire {
    Conn::open(addr).await.round_trip(request).await
}

/// Sends `request` on a new connection until one is served (a connection
/// past `server.max_connections` is closed at once, with no answer).
pub async fn served_once_there_is_room(addr: SocketAddr, request: &[u8]) -> Wire {
    tokio::time::timeout(HANG_GUARD, async {
        loop {
            let mut conn = Conn::open(addr).await;
            // A refused connection may already be closed when we write.
            let _ = conn.stream.write_all(request).await;
            if let Some(reply) = conn.try_response().await {
                return reply;
            }
            // Polling for a free place: nothing tells when one is freed.
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("served within the hang guard")
}

/// `GET` of image `id` as alice (`TOKEN_A`) over HTTP/1.1, with `extra`
/// header lines (each ending in `\r\n`).
pub fn alice_get(id: &str, extra: &str) -> Vec<u8> {
    let token = super::TOKEN_A;
    format!("GET /v2/images/{id} HTTP/1.1\r\nHost: x\r\nX-Auth-Token: {token}\r\n{extra}\r\n")
        .into_bytes()
}

/// A request's bytes: the request line, `lines` in order and spelled as
/// given, then `body`.
pub fn request_bytes(
    method: &str,
    target: &str,
    lines: &[(String, String)],
    body: &[u8],
) -> Vec<u8> {
    let mut head = format!("{method} {target} HTTP/1.1\r\n");
    for (name, value) in lines {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    let mut bytes = head.into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

/// `target` as its path and query.
pub fn split_target(target: &str) -> (&str, Option<&str>) {
    match target.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (target, None),
    }
}

/// A request head as an upstream received it.
pub struct Head {
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    pub headers: HeaderMap,
}

impl Head {
    /// Parses a whole request head (as `RawUpstream` records them).
    pub fn parse(raw: &str) -> Head {
        let mut lines = [httparse::EMPTY_HEADER; 64];
        let mut request = httparse::Request::new(&mut lines);
        let parsed = request.parse(raw.as_bytes()).expect("a request head");
        assert!(parsed.is_complete(), "{raw}");
        let target = request.path.expect("a target").to_owned();
        let (path, query) = split_target(&target);
        let mut headers = HeaderMap::new();
        for line in request.headers.iter() {
            headers.append(
                HeaderName::from_bytes(line.name.as_bytes()).expect("name"),
                HeaderValue::from_bytes(line.value).expect("value"),
            );
        }
        Head {
            method: request.method.expect("a method").to_owned(),
            path: path.to_owned(),
            query: query.map(str::to_owned),
            headers,
        }
    }

    /// A header as text ("" when absent).
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }
}
