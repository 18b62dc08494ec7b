//! Shared test harness: the sample upstream, the proxy, a raw scriptable
//! upstream for broken HTTP, and a small client — all on 127.0.0.1:0.
#![allow(dead_code, unused_imports)]

pub mod gated;
pub mod keystone;
pub mod pki;
pub mod raw;
pub mod redis;
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
use imgcache::config::{Config, parse_upstream_url};
use imgcache::proxy::Proxy;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use glance_sample::{
    EXAMPLE_IMAGE_ID, Fault, PRIVATE_IMAGE_ID, QUEUED_IMAGE_ID, SHARED_IMAGE_ID,
};

/// A token the sample accepts: user alice in project-a.
pub const TOKEN_A: &str = "alice:project-a:member";
/// A token of another project.
pub const TOKEN_B: &str = "bob:project-b:member";
/// An admin token.
pub const TOKEN_ADMIN: &str = "root:admin:admin";

/// Hang guard for awaits in tests (not a timing assertion: only stops a
/// broken test from hanging CI).
pub const HANG_GUARD: Duration = Duration::from_secs(20);

/// Starts the demo sample image service.
pub async fn start_sample() -> SampleHandle {
    SampleService::demo().start().await.expect("sample starts")
}

/// A running proxy; dropping it stops the server task.
pub struct ProxyHandle {
    pub addr: SocketAddr,
    pub proxy: Proxy,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl ProxyHandle {
    /// `http://127.0.0.1:PORT{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Stops accepting and drains (the test config's short grace).
    pub async fn shutdown(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for ProxyHandle {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// The default config, on ephemeral ports, in front of `upstream`.
pub fn config_for(upstream: &str) -> Config {
    let mut config = Config::defaults();
    config.server.listen = "127.0.0.1:0".parse().expect("addr");
    config.admin.listen = "127.0.0.1:0".parse().expect("addr");
    config.server.shutdown_grace = Duration::from_secs(5);
    let (origin, base_path) = parse_upstream_url(upstream).expect("upstream url");
    config.upstream.origin = origin;
    config.upstream.base_path = base_path;
    config
}

/// Starts the proxy in front of `upstream` with the default test config.
pub async fn start_proxy(upstream: &str) -> ProxyHandle {
    start_proxy_with(config_for(upstream)).await
}

/// Starts the proxy with a given config.
pub async fn start_proxy_with(config: Config) -> ProxyHandle {
    let proxy = Proxy::new(&config).expect("proxy");
    start_proxy_over(config, proxy, None).await
}

/// Starts `proxy` (made from `config`), over TLS when `tls` is given.
pub async fn start_proxy_over(
    config: Config,
    proxy: Proxy,
    tls: Option<imgcache::tls::Acceptor>,
) -> ProxyHandle {
    let listener = TcpListener::bind(config.server.listen).await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (tx, rx) = oneshot::channel::<()>();
    let serving = proxy.clone();
    let server_config = config.server.clone();
    let task = tokio::spawn(async move {
        imgcache::server::run_with(listener, serving, &server_config, tls, async {
            let _ = rx.await;
        })
        .await;
    });
    ProxyHandle {
        addr,
        proxy,
        shutdown: Some(tx),
        task: Some(task),
    }
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

/// Sends a request and reads the whole response.
pub async fn send(method: Method, url: &str, headers: &[(&str, &str)], body: &[u8]) -> Reply {
    let mut request = Request::new(Full::new(Bytes::copy_from_slice(body)));
    *request.method_mut() = method;
    *request.uri_mut() = url.parse().expect("url");
    for (name, value) in headers {
        request.headers_mut().append(
            HeaderName::from_bytes(name.as_bytes()).expect("name"),
            HeaderValue::from_str(value).expect("value"),
        );
    }
    let response = tokio::time::timeout(HANG_GUARD, client().request(request))
        .await
        .expect("no hang")
        .expect("response");
    read(response).await
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

/// Starts the admin API for a running proxy on 127.0.0.1:0; returns its
/// base URL. It stops when the test's runtime ends.
pub async fn start_admin(proxy: &ProxyHandle, token: Option<&str>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let admin = imgcache::admin::Admin::new(proxy.proxy.operator(), token);
    tokio::spawn(admin.serve(listener, std::future::pending()));
    format!("http://{addr}")
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
