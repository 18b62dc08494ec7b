//! The admin API, on its own listener (never the proxy's port):
//! `GET /metrics`, `/healthz`, `/readyz`, `/cache/stats`, and the purges
//! `DELETE /cache/images/{id}` and `DELETE /cache`. With `admin.token`
//! set, every call but the probes (`/healthz`, `/readyz`: a kubelet or a
//! load balancer has no token, and they reveal nothing secret) needs
//! `Authorization: Bearer <token>`.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Method, Request, Response, StatusCode, header};
use hyper::body::Incoming;
use percent_encoding::percent_decode_str;
use serde_json::json;
use subtle::ConstantTimeEq;
use tokio::net::TcpListener;

use crate::body::ProxyBody;
use crate::config::ServerConfig;
use crate::proxy::Operator;
use crate::server;
use crate::tls::Acceptor;

/// OpenMetrics text, as Prometheus scrapes it.
const METRICS_CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The admin API's handler state.
#[derive(Clone)]
pub struct Admin {
    proxy: Operator,
    token: Option<Arc<[u8]>>,
}

impl Admin {
    /// An admin API over `proxy`, guarded by `token` when set.
    pub fn new(proxy: Operator, token: Option<&str>) -> Admin {
        Admin {
            proxy,
            token: token.map(|t| Arc::from(t.as_bytes())),
        }
    }

    /// Serves on `listener` until `shutdown`.
    pub async fn serve(self, listener: TcpListener, shutdown: impl Future<Output = ()>) {
        self.serve_with(listener, None, shutdown).await;
    }

    /// Serves on `listener` until `shutdown`, over TLS when `tls` is given.
    pub async fn serve_with(
        self,
        listener: TcpListener,
        tls: Option<Acceptor>,
        shutdown: impl Future<Output = ()>,
    ) {
        let config = ServerConfig {
            listen: listener
                .local_addr()
                .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 0))),
            path_prefix: String::new(),
            max_connections: 64,
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: crate::config::DEFAULT_SERVER_IDLE_TIMEOUT,
            write_timeout: crate::config::DEFAULT_WRITE_TIMEOUT,
            max_header_bytes: 16 * 1024,
            shutdown_grace: Duration::from_secs(1),
            workers: 1,
            // The acceptor, when given, holds the admin's own certificate.
            tls: None,
            tls_handshake_timeout: crate::config::DEFAULT_TLS_HANDSHAKE_TIMEOUT,
            tls_reload_interval: Duration::ZERO,
        };
        let handler = move |request, _peer| {
            let admin = self.clone();
            async move { Ok::<_, Infallible>(admin.handle(request).await) }
        };
        server::serve(listener, handler, &config, tls, shutdown).await;
    }

    /// Answers one admin request.
    pub async fn handle(&self, request: Request<Incoming>) -> Response<ProxyBody> {
        let method = request.method().clone();
        let path = request.uri().path();
        if let Some(probe) = self.probe(&method, path) {
            return probe;
        }
        if !self.authorized(&request) {
            let mut response = json_response(
                StatusCode::UNAUTHORIZED,
                &json!({"error": "admin token required"}),
            );
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            return response;
        }
        match (&method, path) {
            (&Method::GET, "/metrics") => self.metrics().await,
            (&Method::GET, "/cache/stats") => {
                json_response(StatusCode::OK, &self.proxy.stats().await)
            }
            (&Method::DELETE, "/cache") => {
                let purged = self.proxy.purge_all().await;
                tracing::info!(purged, "admin purge of the whole cache");
                json_response(StatusCode::OK, &json!({"purged": purged}))
            }
            (&Method::DELETE, _) if path.starts_with("/cache/images/") => {
                self.purge_image(path).await
            }
            (_, "/metrics" | "/cache/stats" | "/cache") => json_response(
                StatusCode::METHOD_NOT_ALLOWED,
                &json!({"error": "method not allowed"}),
            ),
            _ => json_response(
                StatusCode::NOT_FOUND,
                &json!({"error": "no such admin endpoint"}),
            ),
        }
    }

    /// The probes, open to anyone, `GET` or `HEAD` (a `HEAD` answer keeps
    /// its status and headers and drops the body); `None` for any other
    /// path.
    fn probe(&self, method: &Method, path: &str) -> Option<Response<ProxyBody>> {
        let response = match path {
            "/healthz" => json_response(StatusCode::OK, &self.proxy.health()),
            "/readyz" => self.readyz(),
            _ => return None,
        };
        Some(match *method {
            Method::GET => response,
            Method::HEAD => response.map(|_| ProxyBody::empty()),
            _ => {
                let mut refused = json_response(
                    StatusCode::METHOD_NOT_ALLOWED,
                    &json!({"error": "method not allowed"}),
                );
                refused
                    .headers_mut()
                    .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
                refused
            }
        })
    }

    /// Constant-time token check (a timing side channel must not reveal
    /// how much of a guess was right).
    fn authorized<B>(&self, request: &Request<B>) -> bool {
        let Some(token) = &self.token else {
            return true;
        };
        request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.as_bytes().strip_prefix(b"Bearer "))
            .is_some_and(|given| bool::from(given.ct_eq(token)))
    }

    fn readyz(&self) -> Response<ProxyBody> {
        let redis = self.proxy.shared_tier();
        match self.proxy.readiness() {
            Ok(()) => json_response(StatusCode::OK, &json!({"status": "ready", "redis": redis})),
            Err(reason) => json_response(
                StatusCode::SERVICE_UNAVAILABLE,
                &json!({"status": "not ready", "reason": reason, "redis": redis}),
            ),
        }
    }

    async fn metrics(&self) -> Response<ProxyBody> {
        match self.proxy.metrics().encode(&self.proxy.snapshot().await) {
            Ok(text) => {
                let mut response = Response::new(ProxyBody::full(Bytes::from(text)));
                response.headers_mut().insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static(METRICS_CONTENT_TYPE),
                );
                response
            }
            Err(_) => json_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                &json!({"error": "encoding failed"}),
            ),
        }
    }

    async fn purge_image(&self, path: &str) -> Response<ProxyBody> {
        let raw = path.trim_start_matches("/cache/images/");
        let id = percent_decode_str(raw).decode_utf8();
        match id {
            Ok(id) if !id.is_empty() && !id.contains('/') => {
                let purged = self.proxy.purge(&id).await;
                tracing::info!(image = ?id, purged, "admin purge of one image");
                json_response(StatusCode::OK, &json!({"purged": purged}))
            }
            _ => json_response(
                StatusCode::BAD_REQUEST,
                &json!({"error": "expected /cache/images/{id}"}),
            ),
        }
    }
}

fn json_response(status: StatusCode, body: &serde_json::Value) -> Response<ProxyBody> {
    let mut response = Response::new(ProxyBody::full(Bytes::from(body.to_string())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}
