//! The upstream image service: one pooled keep-alive client (HTTP/1.1, or
//! HTTP/2 when configured; TLS for `https://`), the URI rewrite onto the
//! upstream's base path, and the response timeout.

pub mod breaker;
pub mod headers;
pub(crate) mod tls;

use std::sync::Arc;
use std::time::{Duration, Instant};

use http::uri::{Authority, PathAndQuery, Scheme};
use http::{Request, Response, Uri};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use breaker::{Admit, Breaker, Outcome};

use crate::body::{ProxyBody, SlotPermit};
use crate::clock::Clock;
use crate::config::UpstreamConfig;
use crate::config::units::format_duration;
use crate::error::ProxyError;
use crate::metrics::Metrics;

/// TCP keepalive on upstream sockets, so dead peers are noticed.
const TCP_KEEPALIVE: Duration = Duration::from_secs(60);

/// A handle on the upstream; cheap to share behind an `Arc`.
pub struct Upstream {
    client: Client<HttpsConnector<HttpConnector>, ProxyBody>,
    scheme: Scheme,
    authority: Authority,
    base_path: String,
    response_timeout: Duration,
    idle_timeout: Duration,
    /// Caps requests waiting on the upstream; `None` when unlimited.
    in_flight: Option<Arc<Semaphore>>,
    max_in_flight: usize,
    breaker: Breaker,
    metrics: Arc<Metrics>,
    /// What the breaker's cool-downs are measured on.
    clock: Clock,
}

/// Seconds a client is told to wait when the in-flight cap is full.
const QUEUE_FULL_RETRY_AFTER: u64 = 1;

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
        let mut builder = Client::builder(TokioExecutor::new());
        builder
            .pool_idle_timeout(config.pool_idle_timeout)
            .pool_max_idle_per_host(config.pool_max_idle_per_host)
            .pool_timer(TokioTimer::new())
            .timer(TokioTimer::new());
        // Plain-text HTTP/2 has no ALPN to negotiate it: prior knowledge.
        if config.http2 && scheme == Scheme::HTTP {
            builder.http2_only(true);
        }
        Ok(Upstream {
            client: builder.build(connector),
            scheme,
            authority,
            base_path: config.base_path.clone(),
            response_timeout: config.response_timeout,
            idle_timeout: config.idle_timeout,
            in_flight: (config.max_in_flight > 0)
                .then(|| Arc::new(Semaphore::new(config.max_in_flight))),
            max_in_flight: config.max_in_flight,
            breaker: Breaker::new(config.breaker_failures, config.breaker_cooldown),
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
    /// `upstream.max_in_flight`. Every outcome feeds the circuit breaker.
    /// The response's body holds the place until it is done with.
    pub async fn send(
        &self,
        request: Request<ProxyBody>,
    ) -> Result<Response<ProxyBody>, ProxyError> {
        self.send_by(request, self.deadline()).await
    }

    /// When a request starting now must have its response headers.
    pub fn deadline(&self) -> tokio::time::Instant {
        tokio::time::Instant::now() + self.response_timeout
    }

    /// [`Upstream::send`] with an explicit deadline shared by the wait for
    /// a place in the queue (503 past it: the upstream was never asked)
    /// and the wait for response headers (504 past it).
    pub async fn send_by(
        &self,
        request: Request<ProxyBody>,
        deadline: tokio::time::Instant,
    ) -> Result<Response<ProxyBody>, ProxyError> {
        let permit = self.acquire_slot(deadline).await?;
        let started = Instant::now();
        let sent = tokio::time::timeout_at(deadline, self.client.request(request));
        let result = match sent.await {
            Ok(Ok(response)) => {
                // The slot is held until the body is done with: it
                // travels with the body it guards.
                let slot = permit.map(SlotPermit::new);
                Ok(response
                    .map(|incoming| ProxyBody::stream(incoming, self.idle_timeout).with_slot(slot)))
            }
            Ok(Err(err)) => Err(classify(&err)),
            Err(_) => Err(self.timeout_error()),
        };
        let status = result.as_ref().ok().map(|r| r.status().as_u16());
        self.metrics.record_upstream(status, started.elapsed());
        self.record(breaker_outcome(&result));
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

    /// Whether an image read may be sent now (the circuit breaker).
    pub fn admit_read(&self) -> Admit {
        self.breaker.admit(self.clock.now())
    }

    /// A probe admitted by [`Upstream::admit_read`] that was not sent.
    pub fn release_probe(&self) {
        self.breaker.release_probe();
    }

    /// The breaker's state.
    pub fn breaker_state(&self) -> breaker::State {
        self.breaker.state()
    }

    fn record(&self, outcome: Outcome) {
        let Some(state) = self.breaker.record(outcome, self.clock.now()) else {
            return;
        };
        match state {
            breaker::State::Open { until } => tracing::warn!(
                cooldown_s = until
                    .saturating_duration_since(self.clock.now())
                    .as_secs_f64(),
                "circuit breaker open: image reads are held back"
            ),
            breaker::State::Closed { .. } => tracing::info!("circuit breaker closed"),
            breaker::State::HalfOpen { .. } => {}
        }
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

/// How the breaker sees an exchange: 5xx and transport failures count,
/// 429/503 with `Retry-After` back off for that long.
fn breaker_outcome(result: &Result<Response<ProxyBody>, ProxyError>) -> Outcome {
    let Ok(response) = result else {
        return Outcome::Failure;
    };
    let status = response.status().as_u16();
    let retry_after = response
        .headers()
        .get(http::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs);
    match (status, retry_after) {
        (429 | 503, Some(wait)) => Outcome::BackOff(wait),
        (429, None) | (500..=599, _) => Outcome::Failure,
        _ => Outcome::Success,
    }
}

fn connector(
    config: &UpstreamConfig,
    https: bool,
) -> Result<HttpsConnector<HttpConnector>, String> {
    https_connector(
        config.ca_file.as_deref(),
        config.connect_timeout,
        https,
        config.http2,
    )
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
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_nodelay(true);
    http.set_connect_timeout(Some(connect_timeout));
    http.set_keepalive(Some(TCP_KEEPALIVE));
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
        builder.enable_http1().enable_http2().wrap_connector(http)
    } else {
        builder.enable_http1().wrap_connector(http)
    };
    Ok(connector)
}

/// Maps a client error to the proxy's error: never echoes headers, so a
/// token cannot leak through an error message.
fn classify(err: &hyper_util::client::legacy::Error) -> ProxyError {
    let mut detail = String::new();
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        detail = cause.to_string();
        source = cause.source();
    }
    if err.is_connect() {
        ProxyError::BadGateway(format!("cannot connect to the upstream: {detail}"))
    } else {
        ProxyError::BadGateway(format!("the upstream broke the exchange: {detail}"))
    }
}
