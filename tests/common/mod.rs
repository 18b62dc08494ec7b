//! Shared test harness, all on 127.0.0.1:0: the sample upstream, a small
//! client, waiting without sleeping, and (modules)
//!
//! - `proxy`: the proxy under test, built with `TestProxy`;
//! - `outcome`: `Cache-Status` read back as a `CacheOutcome`;
//! - `wire`: raw HTTP/1.1 requests and responses, request heads parsed;
//! - `raw`, `gated`, `keystone`: scripted upstreams and a fake Keystone;
//! - `sdk`: requests signed as Huawei's SDK signs them;
//! - `redis`: the Redis a fleet test uses;
//! - `pki`, `tls_proxy`: certificates and a TLS-serving proxy.
//!
//! Each test binary compiles all of it and uses some: unused items are
//! allowed here, not in the tests.
#![allow(dead_code, unused_imports)]

pub mod gated;
pub mod keystone;
pub mod outcome;
pub mod pki;
pub mod proxy;
pub mod raw;
pub mod redis;
pub mod sdk;
pub mod tls_proxy;
pub mod wire;

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use glance_sample::{SampleHandle, SampleService};
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

pub use outcome::{BYPASS, COLLAPSED, CacheOutcome, Failure, STORED, URI_MISS, is_hit, outcome_of};
pub use proxy::{ProxyHandle, TestProxy, config_for, start_proxy, start_proxy_over};

pub use glance_sample::{
    EXAMPLE_IMAGE_ID, Fault, PRIVATE_IMAGE_ID, QUEUED_IMAGE_ID, SHARED_IMAGE_ID,
};

/// A token the sample accepts: user alice in project-a.
pub const TOKEN_A: &str = "alice:project-a:member";
/// A token of another project.
pub const TOKEN_B: &str = "bob:project-b:member";
/// An admin token.
pub const TOKEN_ADMIN: &str = "root:admin:admin";

/// Fresh hits the hit path answered (the series).
pub const HIT_PATH_RESPONSES: &str = "imgcache_hit_path_responses_total";

/// Hang guard for awaits in tests (not a timing assertion: only stops a
/// broken test from hanging CI).
pub const HANG_GUARD: Duration = Duration::from_secs(20);

/// Starts the demo sample image service.
pub async fn start_sample() -> SampleHandle {
    SampleService::demo().start().await.expect("sample starts")
}

/// A plain HTTP/1.1 client with pooling.
pub fn client() -> Client<HttpConnector, Full<Bytes>> {
    Client::builder(TokioExecutor::new()).build_http()
}

/// A whole response, for assertions.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Reply {
    /// A header as text ("" when absent).
    pub fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// What the cache did, read back from `Cache-Status` (`None`: no
    /// such header).
    pub fn outcome(&self) -> Option<CacheOutcome> {
        outcome_of(self.headers.get("cache-status").map(|v| v.as_bytes()))
    }

    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body is not JSON ({e}): {:?}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }
}

/// `/v2/images/{id}`.
pub fn image_path(id: &str) -> String {
    format!("/v2/images/{id}")
}

/// Waits (bounded by [`HANG_GUARD`]) until `check` holds: for effects
/// with no event to wait on (pub/sub to another instance, a task the
/// proxy runs after answering). Polls; never a timing assertion.
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + HANG_GUARD;
    while tokio::time::Instant::now() < deadline {
        if check().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("never happened: {what}");
}

/// Sends a request and reads the whole response.
pub async fn send(method: Method, url: &str, headers: &[(&str, &str)], body: &[u8]) -> Reply {
    let request = request(method, url, headers, body);
    let response = tokio::time::timeout(HANG_GUARD, client().request(request))
        .await
        .expect("no hang")
        .expect("response");
    read(response).await
}

/// `GET` over HTTP/2 without TLS (h2c, prior knowledge); the URL gives
/// the `:authority`.
pub async fn h2c_get(url: &str, headers: &[(&str, &str)]) -> Reply {
    let h2 = Client::builder(TokioExecutor::new())
        .http2_only(true)
        .build_http::<Full<Bytes>>();
    let request = request(Method::GET, url, headers, b"");
    let response = tokio::time::timeout(HANG_GUARD, h2.request(request))
        .await
        .expect("no hang")
        .expect("an h2 response");
    assert_eq!(response.version(), http::Version::HTTP_2);
    read(response).await
}

/// A request with `headers` appended in order (repeated names stay).
fn request(
    method: Method,
    url: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Request<Full<Bytes>> {
    let mut request = Request::new(Full::new(Bytes::copy_from_slice(body)));
    *request.method_mut() = method;
    *request.uri_mut() = url.parse().expect("url");
    for (name, value) in headers {
        request.headers_mut().append(
            HeaderName::from_bytes(name.as_bytes()).expect("name"),
            HeaderValue::from_str(value).expect("value"),
        );
    }
    request
}

/// Reads a whole response.
pub async fn read(response: Response<hyper::body::Incoming>) -> Reply {
    let (parts, body) = response.into_parts();
    let body = tokio::time::timeout(HANG_GUARD, body.collect())
        .await
        .expect("no hang")
        .expect("whole body")
        .to_bytes();
    Reply {
        status: parts.status,
        headers: parts.headers,
        body,
    }
}

/// `GET` with headers.
pub async fn get(url: &str, headers: &[(&str, &str)]) -> Reply {
    send(Method::GET, url, headers, b"").await
}

/// `GET` an image as alice.
pub async fn get_image(proxy: &ProxyHandle, id: &str) -> Reply {
    get(
        &proxy.url(&format!("/v2/images/{id}")),
        &[("x-auth-token", TOKEN_A)],
    )
    .await
}

/// `GET` an image with `token` (a new connection each time: the hit
/// path reads the request first).
pub async fn get_image_as(proxy: &ProxyHandle, id: &str, token: &str) -> Reply {
    get(&proxy.url(&image_path(id)), &[("x-auth-token", token)]).await
}

/// `GET`s of an image the sample has received.
pub fn image_gets(sample: &SampleHandle, id: &str) -> u64 {
    sample.control.requests("GET", &image_path(id))
}

/// The value of one sample line (`name{labels} value`) in a metrics
/// scrape; 0 when the series is not there.
pub fn sample_value(text: &str, series: &str) -> f64 {
    text.lines()
        .find(|line| line.starts_with(series) && line[series.len()..].starts_with(' '))
        .and_then(|line| line.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

/// One series' value from the admin API at `admin` (`http://ADDR`).
pub async fn metric_value(admin: &str, series: &str) -> f64 {
    let reply = get(&format!("{admin}/metrics"), &[]).await;
    sample_value(&String::from_utf8_lossy(&reply.body), series)
}

/// Serves every connection accepted on `listener` (HTTP/1.1 and h2c) with
/// `answer(state, request)`: the accept loop of the scripted test servers
/// (`gated`, `keystone`).
pub fn serve_each<S, F, Fut>(
    listener: TcpListener,
    state: std::sync::Arc<S>,
    answer: F,
) -> JoinHandle<()>
where
    S: Send + Sync + 'static,
    F: Fn(std::sync::Arc<S>, http::Request<hyper::body::Incoming>) -> Fut
        + Copy
        + Send
        + Sync
        + 'static,
    Fut: std::future::Future<Output = Result<Response<Full<Bytes>>, std::convert::Infallible>>
        + Send
        + 'static,
{
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let state = state.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req| answer(state.clone(), req));
                let _ = hyper_util::server::conn::auto::Builder::new(
                    hyper_util::rt::TokioExecutor::new(),
                )
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                .await;
            });
        }
    })
}
