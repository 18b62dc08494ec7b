//! The request phases, in order: check → classify → (cache | invalidate)
//! → forward → respond → log. Every failure becomes a response here; the
//! service never returns an error to hyper, so a connection is never
//! dropped while a response can still be sent.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use http::{HeaderMap, Method, Request, Response, Version, header};
use hyper::body::Incoming;

use arc_swap::ArcSwap;

use crate::access_log::AccessLog;
use crate::body::ProxyBody;
use crate::cache::Cache;
use crate::cache::outcome::CacheOutcome;
use crate::cache::status::CACHE_STATUS;
use crate::clock::Clock;
use crate::config::{CacheConfig, Config, Fixed, Reloadable, TransformConfig};
use crate::error::ProxyError;
use crate::fleet::Fleet;
use crate::metrics::{Metrics, RouteLabel};
use crate::principal::Principals;
use crate::principal::signing::{self, SignatureCheck};
use crate::request_headers::head_size;
use crate::route::{self, Route};
use crate::tls;
use crate::upstream::Upstream;
use crate::upstream::headers::{rewrite_request, strip_hop_by_hop};

mod control;
mod fill;
mod fleet_events;
mod jobs;
mod lifecycle;
mod plan;
mod read;
mod reshape;
pub mod respond;
mod write;

pub use control::ReloadReport;
pub use plan::{FreshHit, ReadPlan};

/// A response plus what metrics and the access log want to know about
/// how it was made.
pub struct Answer {
    /// The response to send.
    pub response: Response<ProxyBody>,
    /// The upstream's status, when the upstream was asked.
    pub upstream_status: Option<u16>,
    /// What the cache did, when it was involved.
    pub outcome: Option<CacheOutcome>,
}

impl Answer {
    fn from_error(err: ProxyError) -> Answer {
        Answer {
            response: err.into_response(),
            upstream_status: None,
            outcome: None,
        }
    }

    /// Records what the cache did: the one place its `Cache-Status`
    /// header is set.
    pub fn with_outcome(mut self, outcome: CacheOutcome) -> Answer {
        self.response
            .headers_mut()
            .insert(CACHE_STATUS, outcome.header_value());
        self.outcome = Some(outcome);
        self
    }
}

/// The proxy service; clones share everything.
#[derive(Clone)]
pub struct Proxy {
    shared: Arc<Shared>,
}

struct Shared {
    metrics: Arc<Metrics>,
    /// The shared Redis tier, when `[redis] url` is set.
    fleet: Option<Arc<Fleet>>,
    upstream: Upstream,
    /// What freshness and the breaker are judged on (tests move it).
    clock: Clock,
    cache: Cache,
    /// AK/SK signatures and Keystone tokens turned into principals.
    principals: Principals,
    settings: ArcSwap<Settings>,
    /// The settings the proxy started with that a reload cannot change.
    fixed: Fixed,
    /// IMS jobs whose images are held out of the cache until they end.
    jobs: jobs::Jobs,
    /// Starting, serving or draining: what readiness reports.
    lifecycle: lifecycle::Lifecycle,
    path_prefix: String,
    max_header_bytes: usize,
}

/// The settings that a reload may change while requests are in flight;
/// each request works with one snapshot of them.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Starts anew when cached bodies stop being valid for everyone
    /// (purge-all, or a reload that changes keys or transforms); entries
    /// of another epoch are never served.
    pub epoch: u64,
    /// `[cache]`.
    pub cache: CacheConfig,
    /// `[transform]`.
    pub transform: TransformConfig,
}

impl Settings {
    fn of(reloadable: Reloadable, epoch: u64) -> Settings {
        let Reloadable { cache, transform } = reloadable;
        Settings {
            epoch,
            cache,
            transform,
        }
    }
}

impl Proxy {
    /// Builds the proxy's upstream client and state from a config.
    pub fn new(config: &Config) -> Result<Proxy, String> {
        let metrics = Arc::new(Metrics::new());
        let fleet = match &config.redis {
            Some(redis) => Some(Arc::new(Fleet::new(redis, metrics.clone())?)),
            None => None,
        };
        let clock = Clock::default();
        let shared = Shared {
            upstream: Upstream::new(&config.upstream, metrics.clone(), clock.clone())?,
            principals: Principals::new(config, metrics.clone(), clock.clone())?,
            clock,
            fleet,
            metrics,
            cache: Cache::new(config.cache_max_bytes),
            settings: ArcSwap::from_pointee(Settings::of(config.reloadable(), 0)),
            fixed: config.fixed(),
            lifecycle: lifecycle::Lifecycle::default(),
            jobs: jobs::Jobs::default(),
            path_prefix: config.server.path_prefix.clone(),
            max_header_bytes: config.server.max_header_bytes,
        };
        let proxy = Proxy {
            shared: Arc::new(shared),
        };
        proxy.follow_fleet()?;
        Ok(proxy)
    }

    /// The clock freshness and the breaker read (tests advance it).
    pub fn clock(&self) -> &Clock {
        &self.shared.clock
    }

    /// The cache (for stats, purges and tests).
    pub fn cache(&self) -> &Cache {
        &self.shared.cache
    }

    /// Upstream requests in flight now.
    pub fn upstream_in_flight(&self) -> usize {
        self.shared.upstream.in_flight()
    }

    /// Serves one request from `client`; never fails.
    pub async fn handle(
        self,
        request: Request<Incoming>,
        client: SocketAddr,
    ) -> Result<Response<ProxyBody>, Infallible> {
        // With access logging filtered out, not even the record is made.
        let log = tracing::enabled!(target: "imgcache::access", tracing::Level::INFO).then(|| {
            AccessLog::new(
                request.method().clone(),
                request.uri().clone(),
                Instant::now(),
            )
        });
        let (route, answer) = self.route(request, client).await;
        let answer = answer.unwrap_or_else(Answer::from_error);
        let status = answer.response.status().as_u16();
        self.shared
            .metrics
            .record_request(route, answer.outcome, status);
        let Some(mut log) = log else {
            return Ok(answer.response);
        };
        log.respond(status, answer.outcome, answer.upstream_status);
        Ok(answer.response.map(|body| body.with_log(log)))
    }

    /// Checks the request, classifies it and sends it down its path;
    /// says which path it took.
    async fn route(
        &self,
        request: Request<Incoming>,
        client: SocketAddr,
    ) -> (RouteLabel, Result<Answer, ProxyError>) {
        if let Err(err) = check_request(&request, self.shared.max_header_bytes) {
            return (RouteLabel::Other, Err(err));
        }
        let (mut parts, body) = request.into_parts();
        // Before anything judges or forwards the headers: see
        // `request_headers::underscores`.
        let policy = self.shared.settings.load().cache.underscore_headers;
        let underscored = policy.apply(&mut parts.headers);
        self.shared.metrics.record_underscored(policy, underscored);
        let (signature, body) = match self.check_signature(&mut parts, body).await {
            Ok(checked) => checked,
            Err(err) => return (RouteLabel::Other, Err(err)),
        };
        let Some(path) = route::strip_prefix(parts.uri.path(), &self.shared.path_prefix) else {
            let outside = ProxyError::NotFound(format!(
                "the path is outside the configured prefix {}",
                self.shared.path_prefix
            ));
            return (RouteLabel::Other, Err(outside));
        };
        let tls = parts.extensions.remove::<tls::Peer>();
        let forward = Forward {
            tls,
            method: parts.method.clone(),
            path,
            query: parts.uri.query(),
            headers: parts.headers,
            version: parts.version,
            client,
            signature,
        };
        match route::classify(&forward.method, forward.path, forward.query) {
            // A GET with a body is not a plain image read: not ours to cache.
            Route::ImageRead(id) if http_body::Body::is_end_stream(&body) => (
                RouteLabel::ImageRead,
                self.read_image(forward, body, id).await,
            ),
            Route::ImageRead(_) | Route::Other => {
                (RouteLabel::Other, self.forward(forward, body).await)
            }
            Route::ImageList => {
                let answer = match self.forward(forward, body).await {
                    Ok(answer) => self.transform_list(answer).await,
                    Err(err) => Err(err),
                };
                (RouteLabel::Other, answer)
            }
            Route::ImageWrite(write) => (
                RouteLabel::ImageWrite,
                self.write(forward, body, write).await,
            ),
            Route::JobPoll(job) => {
                let mut forward = forward;
                if self.shared.jobs.is_pending(&job) {
                    // Its answer is read for the job's status: plain JSON.
                    forward.headers.remove(header::ACCEPT_ENCODING);
                }
                let answer = match self.forward(forward, body).await {
                    Ok(answer) => self.poll_job(answer, &job).await,
                    Err(err) => Err(err),
                };
                (RouteLabel::Other, answer)
            }
        }
    }

    /// Judges the request's AK/SK signature (reading a small signed body
    /// whose hash it covers) and counts the verdict; returns the body to
    /// forward. An unverified signature that covers `Host` keeps the
    /// client's: an HTTP/2 client's `:authority` becomes a `Host` header.
    async fn check_signature(
        &self,
        parts: &mut http::request::Parts,
        body: Incoming,
    ) -> Result<(SignatureCheck, ProxyBody), ProxyError> {
        let signing = self.shared.principals.signing();
        let idle = self.shared.upstream.idle_timeout();
        let length = declared_length(&parts.headers);
        let empty = http_body::Body::is_end_stream(&body);
        let (read, body) = if empty {
            (None, ProxyBody::empty())
        } else if length.is_some_and(|n| signing.wants_body(&parts.headers, n)) {
            let bytes = read_signed_body(body, idle).await?;
            (Some(bytes.clone()), ProxyBody::full(bytes))
        } else {
            (None, ProxyBody::stream(body, idle))
        };
        let payload = match (&read, empty) {
            (_, true) => signing::Body::Empty,
            (Some(bytes), _) => signing::Body::Read(bytes),
            (None, false) => signing::Body::Unread,
        };
        let line = signing::RequestLine {
            method: parts.method.as_str(),
            path: parts.uri.path(),
            query: parts.uri.query(),
            authority: parts.uri.authority().map(|a| a.as_str()),
        };
        let check = signing.check(line, &parts.headers, payload, std::time::SystemTime::now());
        self.shared.metrics.record_signature(&check);
        if check.keeps_host() && !parts.headers.contains_key(header::HOST) {
            let authority = parts.uri.authority().map(|a| a.as_str().to_owned());
            if let Some(host) = authority.and_then(|a| http::HeaderValue::from_str(&a).ok()) {
                parts.headers.insert(header::HOST, host);
            }
        }
        Ok((check, body))
    }

    /// Sends a request upstream as it is and streams the response back.
    async fn forward(&self, forward: Forward<'_>, body: ProxyBody) -> Result<Answer, ProxyError> {
        let request = forward.into_request(&self.shared.upstream, body)?;
        self.send(request).await
    }

    /// Sends an upstream request and streams the response back.
    async fn send(&self, request: Request<ProxyBody>) -> Result<Answer, ProxyError> {
        let response = self.shared.upstream.send(request).await?;
        let (mut parts, body) = response.into_parts();
        strip_hop_by_hop(&mut parts.headers);
        let upstream_status = Some(parts.status.as_u16());
        Ok(Answer {
            response: Response::from_parts(parts, body),
            upstream_status,
            outcome: None,
        })
    }
}

/// The parts of a client request that are sent on.
pub(crate) struct Forward<'a> {
    pub(crate) method: Method,
    /// The path with the listen prefix removed.
    pub(crate) path: &'a str,
    pub(crate) query: Option<&'a str>,
    pub(crate) headers: HeaderMap,
    pub(crate) version: Version,
    pub(crate) client: SocketAddr,
    /// What the request's AK/SK signature was: a verified one is signed
    /// again for the upstream; an unverified one that covers `Host`
    /// keeps the client's.
    pub(crate) signature: SignatureCheck,
    /// What TLS told about the client connection (`None`: plain HTTP).
    pub(crate) tls: Option<tls::Peer>,
}

impl Forward<'_> {
    /// The upstream request: the upstream's URI, rewritten headers.
    fn into_request(
        self,
        upstream: &Upstream,
        body: ProxyBody,
    ) -> Result<Request<ProxyBody>, ProxyError> {
        let uri = upstream.uri(self.path, self.query)?;
        let mut headers = self.headers;
        let signed_host = self
            .signature
            .keeps_host()
            .then(|| headers.get(header::HOST).cloned())
            .flatten();
        let secure = self.tls.is_some();
        rewrite_request(&mut headers, self.client.ip(), self.version, secure);
        if let Some(host) = signed_host {
            headers.insert(header::HOST, host);
        }
        let mut request = Request::new(body);
        *request.method_mut() = self.method;
        *request.uri_mut() = uri;
        *request.headers_mut() = headers;
        if let SignatureCheck::Verified(verified) = &self.signature {
            signing::resign(&mut request, verified, std::time::SystemTime::now());
        }
        Ok(request)
    }
}

/// The request's `Content-Length`, when it has one valid value.
pub(super) fn declared_length(headers: &HeaderMap) -> Option<u64> {
    let mut values = headers.get_all(header::CONTENT_LENGTH).iter();
    let value = values.next()?;
    if values.next().is_some() {
        return None;
    }
    value.to_str().ok()?.trim().parse().ok()
}

/// Reads a signed body whose signature hashes it (small: at most
/// `signing.max_body_bytes`, as declared), each chunk within `idle`.
async fn read_signed_body(
    body: Incoming,
    idle: std::time::Duration,
) -> Result<bytes::Bytes, ProxyError> {
    use http_body_util::BodyExt;
    let unreadable = || ProxyError::BadRequest("the request body could not be read".into());
    match tokio::time::timeout(idle, body.collect()).await {
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        Ok(Err(_)) | Err(_) => Err(unreadable()),
    }
}

/// Rejects what cannot be forwarded: tunnels, non-path targets, headers
/// past the limit.
fn check_request(request: &Request<Incoming>, max_header_bytes: usize) -> Result<(), ProxyError> {
    if request.method() == Method::CONNECT {
        return Err(ProxyError::BadRequest("CONNECT is not supported".into()));
    }
    if !request.uri().path().starts_with('/') {
        return Err(ProxyError::BadRequest(
            "the request target must be an absolute path".into(),
        ));
    }
    if header_bytes(request) > max_header_bytes {
        return Err(ProxyError::HeadersTooLarge(max_header_bytes));
    }
    match request.headers().get_all(header::HOST).iter().count() {
        0 if request.version() == Version::HTTP_11 => {
            return Err(ProxyError::BadRequest(
                "an HTTP/1.1 request must have a Host header (RFC 9112 section 3.2)".into(),
            ));
        }
        0 | 1 => {}
        _ => return Err(ProxyError::BadRequest("more than one Host header".into())),
    }
    Ok(())
}

/// The size of the request line and headers as sent (`name: value\r\n`).
fn header_bytes<B>(request: &Request<B>) -> usize {
    let target = request
        .uri()
        .path_and_query()
        .map_or(1, |p| p.as_str().len());
    let headers = request
        .headers()
        .iter()
        .map(|(name, value)| (name.as_str().len(), value.len()));
    head_size(request.method().as_str().len(), target, headers)
}
