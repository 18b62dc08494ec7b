//! The upstream image service: one pooled keep-alive client (HTTP/1.1, or
//! HTTP/2 when configured; TLS for `https://`), the URI rewrite onto the
//! upstream's base path, and the response timeout.

pub mod backoff;
pub mod breaker;
pub mod headers;
mod reuse;
pub(crate) mod tls;

use std::sync::Arc;
use std::time::{Duration, Instant};

use http::uri::{Authority, PathAndQuery, Scheme};
use http::{Method, Request, Response, Uri};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use backoff::BackOffs;
use breaker::{Admit, Breaker, Caller, Failure, Outcome, Policy};
use reuse::Marking;

use crate::body::{ProxyBody, SlotPermit};
use crate::clock::Clock;
use crate::config::UpstreamConfig;
use crate::config::units::format_duration;
use crate::error::ProxyError;
use crate::metrics::Metrics;
use crate::warn_limit::WarnKind;

/// TCP keepalive on upstream sockets, so dead peers are noticed.
const TCP_KEEPALIVE: Duration = Duration::from_secs(60);

type Connector = HttpsConnector<Marking<HttpConnector>>;

/// A handle on the upstream; cheap to share behind an `Arc`.
pub struct Upstream {
    /// Keep-alive connections, pooled.
    client: Client<Connector, ProxyBody>,
    /// A new connection for every request, never pooled: the one retry of
    /// a request that found a pooled connection dead.
    fresh: Client<Connector, ProxyBody>,
    scheme: Scheme,
    authority: Authority,
    base_path: String,
    response_timeout: Duration,
    idle_timeout: Duration,
    /// Caps requests waiting on the upstream; `None` when unlimited.
    in_flight: Option<Arc<Semaphore>>,
    max_in_flight: usize,
    /// Holds every caller's fills back when the upstream is unwell for all.
    breaker: Breaker,
    /// Holds one principal's fills back when the upstream asked it to wait.
    backoffs: BackOffs,
    metrics: Arc<Metrics>,
    /// What the breaker's cool-downs are measured on.
    clock: Clock,
}

/// Seconds a client is told to wait when the in-flight cap is full.
const QUEUE_FULL_RETRY_AFTER: u64 = 1;

/// Why an upstream exchange gave no response: the proxy's error for the
/// client, and how the breaker sees it (`None`: the upstream was never
/// asked, e.g. the in-flight cap was full).
#[derive(Debug)]
pub struct SendError {
    /// What the client is answered.
    pub error: ProxyError,
    /// The upstream's failure, when it was one.
    pub failure: Option<Failure>,
}

impl From<SendError> for ProxyError {
    fn from(err: SendError) -> ProxyError {
        err.error
    }
}

/// Whether an image fill may be sent now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FillAdmit {
    /// Send it.
    Go,
    /// The upstream is unwell for everyone (the breaker is open).
    HeldForAll { retry_after: Duration },
    /// The upstream asked this caller to wait.
    HeldForCaller { retry_after: Duration },
}

impl Upstream {
    /// Builds the client; fails only on a bad TLS setup.
    pub fn new(
        config: &UpstreamConfig,
        metrics: Arc<Metrics>,
        clock: Clock,
    ) -> Result<Upstream, String> {
        let scheme = config.origin.scheme().cloned().unwrap_or(Scheme::HTTP);
        let authority = config
            .origin
            .authority()
            .cloned()
            .ok_or_else(|| "upstream URL has no host".to_owned())?;
        let connector = connector(config, scheme == Scheme::HTTPS)?;
        let client =
            client_builder(config, &scheme, config.pool_max_idle_per_host).build(connector.clone());
        let fresh = client_builder(config, &scheme, 0).build(connector);
        Ok(Upstream {
            client,
            fresh,
            scheme,
            authority,
            base_path: config.base_path.clone(),
            response_timeout: config.response_timeout,
            idle_timeout: config.idle_timeout,
            in_flight: (config.max_in_flight > 0)
                .then(|| Arc::new(Semaphore::new(config.max_in_flight))),
            max_in_flight: config.max_in_flight,
            breaker: Breaker::new(Policy {
                min_failures: config.breaker_failures,
                min_principals: config.breaker_min_principals,
                window: config.breaker_window,
                cooldown: config.breaker_cooldown,
            }),
            backoffs: BackOffs::default(),
            metrics,
            clock,
        })
    }

    /// The upstream URI for a client path (listen prefix already removed):
    /// the upstream's base path, then the path and query verbatim.
    pub fn uri(&self, path: &str, query: Option<&str>) -> Result<Uri, ProxyError> {
        let mut target = String::with_capacity(self.base_path.len() + path.len() + 64);
        target.push_str(&self.base_path);
        target.push_str(path);
        if let Some(query) = query {
            target.push('?');
            target.push_str(query);
        }
        let path_and_query = PathAndQuery::try_from(target)
            .map_err(|_| ProxyError::BadRequest("the request target is not a valid path".into()))?;
        Uri::builder()
            .scheme(self.scheme.clone())
            .authority(self.authority.clone())
            .path_and_query(path_and_query)
            .build()
            .map_err(|_| ProxyError::BadRequest("the request target is not a valid path".into()))
    }

    /// Sends a request and waits for the response headers, at most the
    /// response timeout, after waiting (at most as long) for a place under
    /// `upstream.max_in_flight`. The response's body holds the place until
    /// it is done with.
    pub async fn send(
        &self,
        request: Request<ProxyBody>,
    ) -> Result<Response<ProxyBody>, SendError> {
        self.send_by(request, self.deadline()).await
    }

    /// When a request starting now must have its response headers.
    pub fn deadline(&self) -> tokio::time::Instant {
        tokio::time::Instant::now() + self.response_timeout
    }

    /// [`Upstream::send`] with an explicit deadline shared by the wait for
    /// a place in the queue (503 past it: the upstream was never asked)
    /// and the wait for response headers (504 past it). A bodiless GET or
    /// HEAD that failed on a pooled connection before any response byte
    /// is sent once more on a new connection.
    pub async fn send_by(
        &self,
        request: Request<ProxyBody>,
        deadline: tokio::time::Instant,
    ) -> Result<Response<ProxyBody>, SendError> {
        let permit = self
            .acquire_slot(deadline)
            .await
            .map_err(|error| SendError {
                error,
                failure: None,
            })?;
        let started = Instant::now();
        let retry = replayable(&request);
        let mut sent = tokio::time::timeout_at(deadline, self.client.request(request)).await;
        if let (Ok(Err(err)), Some(again)) = (&sent, retry)
            && !err.is_connect()
            && reuse::was_reused(err)
        {
            tracing::debug!(error = %err, "a pooled upstream connection was dead; retrying on a new one");
            sent = tokio::time::timeout_at(deadline, self.fresh.request(again)).await;
            self.metrics
                .record_upstream_retry(matches!(sent, Ok(Ok(_))));
        }
        let result = match sent {
            Ok(Ok(response)) => {
                reuse::mark_answered(response.extensions());
                // The slot is held until the body is done with: it
                // travels with the body it guards.
                let slot = permit.map(SlotPermit::new);
                Ok(response
                    .map(|incoming| ProxyBody::stream(incoming, self.idle_timeout).with_slot(slot)))
            }
            Ok(Err(err)) => Err(classify(&err)),
            Err(_) => Err(SendError {
                error: self.timeout_error(),
                failure: Some(Failure::Timeout),
            }),
        };
        let status = result.as_ref().ok().map(|r| r.status().as_u16());
        self.metrics.record_upstream(status, started.elapsed());
        warn_failure(&result);
        result
    }

    /// The 504 for a response timeout.
    pub fn timeout_error(&self) -> ProxyError {
        ProxyError::GatewayTimeout(format_duration(self.response_timeout))
    }

    async fn acquire_slot(
        &self,
        deadline: tokio::time::Instant,
    ) -> Result<Option<OwnedSemaphorePermit>, ProxyError> {
        let Some(semaphore) = &self.in_flight else {
            return Ok(None);
        };
        match tokio::time::timeout_at(deadline, semaphore.clone().acquire_owned()).await {
            Ok(Ok(permit)) => Ok(Some(permit)),
            _ => {
                // A half-open probe that never got sent must not block others.
                self.breaker.release_probe();
                Err(ProxyError::Unavailable {
                    reason: format!(
                        "{} upstream requests are in flight (upstream.max_in_flight)",
                        self.max_in_flight
                    ),
                    retry_after: QUEUE_FULL_RETRY_AFTER,
                })
            }
        }
    }

    /// Upstream requests in flight now (waiting for headers or streaming
    /// a body).
    pub fn in_flight(&self) -> usize {
        self.in_flight
            .as_ref()
            .map_or(0, |s| self.max_in_flight - s.available_permits())
    }

    /// Whether a fill for `caller` may be sent now: held back while the
    /// upstream asked this caller to wait, or while it is unwell for
    /// everyone (the circuit breaker).
    pub fn admit_fill(&self, caller: Caller) -> FillAdmit {
        let now = self.clock.now();
        if let Some(retry_after) = self.backoffs.remaining(caller.principal, now) {
            return FillAdmit::HeldForCaller { retry_after };
        }
        match self.breaker.admit(now) {
            Admit::Yes | Admit::Probe => FillAdmit::Go,
            Admit::No { retry_after } => FillAdmit::HeldForAll { retry_after },
        }
    }

    /// A probe admitted by [`Upstream::admit_fill`] that was not sent.
    pub fn release_probe(&self) {
        self.breaker.release_probe();
    }

    /// How a fill for `caller` ended: feeds the breaker, and holds the
    /// caller back when the upstream asked it to wait.
    pub fn record_fill(&self, caller: Caller, outcome: Outcome) {
        let now = self.clock.now();
        if let Outcome::Failure(Failure::BackOff(wait)) = outcome {
            self.backoffs.hold(caller.principal, wait, now);
            self.metrics.record_backoff();
            tracing::info!(
                retry_after_s = wait.as_secs(),
                "the upstream asked one caller to back off; only its fills are held back"
            );
        }
        let Some(state) = self.breaker.record(outcome, caller, now) else {
            return;
        };
        match state {
            breaker::State::Open { until } => crate::warn_limited!(
                WarnKind::Breaker,
                state = "open",
                cooldown_s = until.saturating_duration_since(now).as_secs(),
                "circuit breaker open: the upstream is failing for many callers; image fills are held back"
            ),
            breaker::State::Closed => crate::warn_limited!(
                WarnKind::Breaker,
                state = "closed",
                "circuit breaker closed: image fills flow again"
            ),
            breaker::State::HalfOpen { .. } => {}
        }
    }

    /// The breaker's state.
    pub fn breaker_state(&self) -> breaker::State {
        self.breaker.state()
    }

    /// Principals held back by an upstream `Retry-After` now.
    pub fn principals_backed_off(&self) -> u64 {
        self.backoffs.count()
    }

    /// How long a body stream in either direction may stall.
    pub fn idle_timeout(&self) -> Duration {
        self.idle_timeout
    }

    /// How long the upstream has to send response headers.
    pub fn response_timeout(&self) -> Duration {
        self.response_timeout
    }
}

/// A WARN line (at most one a second per kind) for an upstream that gave
/// no answer or a 5xx. What is said is the cause, never a header.
fn warn_failure(result: &Result<Response<ProxyBody>, SendError>) {
    match result {
        Ok(response) if response.status().is_server_error() => crate::warn_limited!(
            WarnKind::UpstreamStatus,
            status = response.status().as_u16(),
            "the upstream answered with a server error"
        ),
        Ok(_) => {}
        Err(SendError {
            error,
            failure: Some(failure),
        }) => {
            let kind = match failure {
                Failure::Connect => WarnKind::UpstreamConnect,
                Failure::Timeout => WarnKind::UpstreamTimeout,
                _ => WarnKind::UpstreamBroken,
            };
            crate::warn_limited!(kind, error = %error, "the upstream failed");
        }
        Err(_) => {}
    }
}

/// Whether the upstream at `origin` accepts a TCP connection within
/// `timeout`: asked once at start-up, so that an upstream down from the
/// start is a WARN line before the first request finds out.
pub async fn reachable(origin: &Uri, timeout: Duration) -> Result<(), String> {
    let host = origin.host().unwrap_or("localhost");
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let https = origin.scheme() == Some(&Scheme::HTTPS);
    let port = origin.port_u16().unwrap_or(if https { 443 } else { 80 });
    let connect = tokio::net::TcpStream::connect((host, port));
    match tokio::time::timeout(timeout, connect).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(err)) => Err(err.to_string()),
        Err(_) => Err(format!("no connection within {}", format_duration(timeout))),
    }
}

/// How the breaker sees a response's status and headers: 502/503/504 are
/// the upstream's failures, a 429 or 503 with `Retry-After` asks this
/// caller to back off, anything else is an answer.
pub fn fill_outcome(status: http::StatusCode, headers: &http::HeaderMap) -> Outcome {
    let retry_after = headers
        .get(http::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    match (status.as_u16(), retry_after) {
        (429 | 503, Some(wait)) => Outcome::Failure(Failure::BackOff(wait)),
        (code @ (502..=504), _) => Outcome::Failure(Failure::Status(code)),
        _ => Outcome::Success,
    }
}

/// A copy of a bodiless GET or HEAD to send again; `None` for anything
/// that may not be repeated.
fn replayable(request: &Request<ProxyBody>) -> Option<Request<ProxyBody>> {
    let idempotent = matches!(*request.method(), Method::GET | Method::HEAD);
    if !idempotent || !http_body::Body::is_end_stream(request.body()) {
        return None;
    }
    let mut copy = Request::new(ProxyBody::empty());
    *copy.method_mut() = request.method().clone();
    *copy.uri_mut() = request.uri().clone();
    *copy.version_mut() = request.version();
    *copy.headers_mut() = request.headers().clone();
    Some(copy)
}

fn client_builder(
    config: &UpstreamConfig,
    scheme: &Scheme,
    max_idle: usize,
) -> hyper_util::client::legacy::Builder {
    let mut builder = Client::builder(TokioExecutor::new());
    builder
        .pool_idle_timeout(config.pool_idle_timeout)
        .pool_max_idle_per_host(max_idle)
        .pool_timer(TokioTimer::new())
        .timer(TokioTimer::new());
    // Plain-text HTTP/2 has no ALPN to negotiate it: prior knowledge.
    if config.http2 && *scheme == Scheme::HTTP {
        builder.http2_only(true);
    }
    builder
}

/// The upstream's connector: its TCP connections note when the upstream
/// first answers on them (see [`reuse`]).
fn connector(config: &UpstreamConfig, https: bool) -> Result<Connector, String> {
    let tcp = Marking(tcp_connector(config.connect_timeout));
    https_over(tcp, config.ca_file.as_deref(), https, config.http2)
}

/// An HTTP(S) connector as every outgoing client of the proxy uses it
/// (the upstream, Keystone): no Nagle, TCP keepalive, a connect timeout,
/// rustls trusting the system and webpki roots plus `ca_file`; `http2`
/// offers h2 by ALPN.
pub(crate) fn https_connector(
    ca_file: Option<&std::path::Path>,
    connect_timeout: Duration,
    https: bool,
    http2: bool,
) -> Result<HttpsConnector<HttpConnector>, String> {
    https_over(tcp_connector(connect_timeout), ca_file, https, http2)
}

/// TCP as every outgoing client opens it: no Nagle, TCP keepalive, a
/// connect timeout.
fn tcp_connector(connect_timeout: Duration) -> HttpConnector {
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_nodelay(true);
    http.set_connect_timeout(Some(connect_timeout));
    http.set_keepalive(Some(TCP_KEEPALIVE));
    http
}

/// rustls over `tcp`, trusting the system and webpki roots plus
/// `ca_file`; `http2` offers h2 by ALPN.
fn https_over<T>(
    tcp: T,
    ca_file: Option<&std::path::Path>,
    https: bool,
    http2: bool,
) -> Result<HttpsConnector<T>, String> {
    // Loading trust roots costs a scan of the system store: only for https.
    let tls = if https {
        tls::client_config(ca_file)?
    } else {
        tls::client_config_without_roots()?
    };
    let builder = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls)
        .https_or_http();
    let connector = if http2 {
        builder.enable_http1().enable_http2().wrap_connector(tcp)
    } else {
        builder.enable_http1().wrap_connector(tcp)
    };
    Ok(connector)
}

/// Maps a client error to the proxy's error: never echoes headers, so a
/// token cannot leak through an error message.
fn classify(err: &hyper_util::client::legacy::Error) -> SendError {
    let mut detail = String::new();
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        detail = cause.to_string();
        source = cause.source();
    }
    if err.is_connect() {
        SendError {
            error: ProxyError::BadGateway(format!("cannot connect to the upstream: {detail}")),
            failure: Some(Failure::Connect),
        }
    } else {
        SendError {
            error: ProxyError::BadGateway(format!("the upstream broke the exchange: {detail}")),
            failure: Some(Failure::Broken),
        }
    }
}
