//! The sample service over real sockets on 127.0.0.1:0, talked to with a
//! hyper-util client.

mod api;
mod control;
mod faults;
mod transfer;

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
