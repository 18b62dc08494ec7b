//! The sample service over real sockets on 127.0.0.1:0, talked to with a
//! hyper-util client (or, where a connection's fate matters, raw TCP).

mod api;
mod control;
mod faults;
mod import;
mod ims;
mod transfer;
mod uwsgi;

use bytes::Bytes;
use http::{HeaderMap, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use super::{SampleHandle, SampleService};

/// A token for project-a (member role).
pub const TOKEN_A: &str = "alice:project-a:member,reader";
/// A token for project-b.
pub const TOKEN_B: &str = "bob:project-b:member";
/// A token for project-c.
pub const TOKEN_C: &str = "carol:project-c:member";
/// An admin token.
pub const TOKEN_ADMIN: &str = "root:admin-project:admin";

/// A running service and a client for it.
pub struct Harness {
    /// The running service.
    pub handle: SampleHandle,
    /// An HTTP/1.1 client.
    pub client: Client<HttpConnector, Full<Bytes>>,
}

/// A complete response.
pub struct Answer {
    /// The status.
    pub status: StatusCode,
    /// The headers, in the order received.
    pub headers: HeaderMap,
    /// The whole body.
    pub body: Bytes,
}

impl Answer {
    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("JSON body")
    }

    /// Header names in the order received.
    pub fn header_names(&self) -> Vec<String> {
        self.headers.keys().map(|k| k.as_str().to_owned()).collect()
    }
}

impl Harness {
    /// Starts `service` on 127.0.0.1:0.
    pub async fn start(service: SampleService) -> Harness {
        let handle = service.start().await.expect("bind 127.0.0.1:0");
        let client = Client::builder(TokioExecutor::new()).build_http();
        Harness { handle, client }
    }

    /// Starts the demo catalogue.
    pub async fn demo() -> Harness {
        Harness::start(SampleService::demo()).await
    }

    /// Sends a request and returns the response head with a streaming body.
    pub async fn send_streaming(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: impl Into<Bytes>,
    ) -> Result<Response<Incoming>, hyper_util::client::legacy::Error> {
        let mut req = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.handle.url()));
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        let req = req.body(Full::new(body.into())).expect("valid request");
        self.client.request(req).await
    }

    /// Sends a request and reads the whole response.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: impl Into<Bytes>,
    ) -> Answer {
        let response = self
            .send_streaming(method, path, headers, body)
            .await
            .expect("response");
        let (parts, body) = response.into_parts();
        let body = body.collect().await.expect("whole body").to_bytes();
        Answer {
            status: parts.status,
            headers: parts.headers,
            body,
        }
    }

    /// `GET path` with a token.
    pub async fn get(&self, path: &str, token: &str) -> Answer {
        self.send(Method::GET, path, &[("x-auth-token", token)], Bytes::new())
            .await
    }
}

/// One HTTP/1.1 connection driven by hand, for tests about what happens
/// to the connection itself.
pub struct RawConnection(tokio::net::TcpStream);

impl RawConnection {
    /// Connects to the service.
    pub async fn open(h: &Harness) -> RawConnection {
        let stream = tokio::net::TcpStream::connect(h.handle.addr)
            .await
            .expect("connect");
        RawConnection(stream)
    }

    /// Sends `request` (a whole HTTP/1.1 request) and reads one response:
    /// its status and body; None when the connection closes before a
    /// single response byte.
    pub async fn exchange(&mut self, request: &str) -> Option<(u16, String)> {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        // The peer may already be gone; the read below says so.
        let _ = self.0.write_all(request.as_bytes()).await;
        let mut buf = Vec::new();
        let mut chunk = [0u8; 4096];
        let head_end = loop {
            if let Some(at) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break at + 4;
            }
            let n =
                tokio::time::timeout(std::time::Duration::from_secs(5), self.0.read(&mut chunk))
                    .await
                    .expect("no hang")
                    .unwrap_or(0);
            if n == 0 {
                assert!(buf.is_empty(), "connection closed mid-response");
                return None;
            }
            buf.extend_from_slice(&chunk[..n]);
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
        let status = head[9..12].parse().expect("status code");
        let length: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length: "))
            .map_or(0, |v| v.trim().parse().expect("length"));
        while buf.len() < head_end + length {
            let n = self.0.read(&mut chunk).await.expect("body");
            assert!(n > 0, "connection closed mid-body");
            buf.extend_from_slice(&chunk[..n]);
        }
        let body = String::from_utf8_lossy(&buf[head_end..head_end + length]).into_owned();
        Some((status, body))
    }
}

/// A GET with a token and an optional body, as raw HTTP/1.1.
pub fn raw_get(path: &str, token: &str, body: &str) -> String {
    raw("GET", path, token, body)
}

/// A request with a token and a body, as raw HTTP/1.1.
pub fn raw(method: &str, path: &str, token: &str, body: &str) -> String {
    let length = if body.is_empty() {
        String::new()
    } else {
        format!("content-length: {}\r\n", body.len())
    };
    format!(
        "{method} {path} HTTP/1.1\r\nhost: sample\r\nx-auth-token: {token}\r\n{length}\r\n{body}"
    )
}
