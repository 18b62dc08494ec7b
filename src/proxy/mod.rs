//! The request phases, in order: check → classify → (cache | invalidate)
//! → forward → respond → log. Every failure becomes a response here; the
//! service never returns an error to hyper, so a connection is never
//! dropped while a response can still be sent.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use http::{HeaderMap, Method, Request, Response, Version, header};
use http_body::Body as _;
use hyper::body::Incoming;

use arc_swap::ArcSwap;

use crate::body::ProxyBody;
use crate::cache::Cache;
use crate::cache::outcome::{CacheOutcome, Failure};
use crate::cache::status::CACHE_STATUS;
use crate::clock::Clock;
use crate::config::{CacheConfig, Config, Fixed, Reloadable, TransformConfig};
use crate::error::ProxyError;
use crate::fleet::Fleet;
use crate::metrics::Metrics;
use crate::principal::Principals;
use crate::principal::signing::{self, SignatureCheck};
use crate::request_headers::{content_length, head_size};
use crate::request_id::{self, RequestId};
use crate::route::Route;
use crate::tls;
use crate::upstream::Upstream;
use crate::upstream::headers::{rewrite_request, strip_hop_by_hop};

mod admit;
mod control;
mod fill;
mod finish;
mod fleet_events;
mod jobs;
mod lifecycle;
mod plan;
mod read;
mod reshape;
pub mod respond;
mod write;

use admit::Head;

pub use admit::Verdict;
pub use control::{Operator, ReloadReport};
pub use finish::{Arrival, Finished, PrincipalKind, RequestCounters, RouteLabel};
pub use plan::{FreshHit, HitPathPlan, ReadPlan};

/// A response plus what metrics and the access log want to know about
/// how it was made.
pub struct Answer {
    /// The response to send.
    pub response: Response<ProxyBody>,
    /// The upstream's status, when the upstream was asked.
    pub upstream_status: Option<u16>,
    /// What the cache did, when it was involved.
    pub outcome: Option<CacheOutcome>,
    /// Time to the upstream's response headers, when it was asked for
    /// this request.
    pub upstream_elapsed: Option<Duration>,
}

impl Answer {
    fn from_error(err: ProxyError) -> Answer {
        Answer {
            response: err.into_response(),
            upstream_status: None,
            outcome: None,
            upstream_elapsed: None,
        }
    }

    /// An image read the proxy answers with its own error: when the
    /// cache had nothing to answer with and the upstream failed or was
    /// not asked, the answer says so in `Cache-Status` (a client tells
    /// the proxy's 502 from Glance's). Errors about the request itself
    /// are not the cache's and stay errors.
    fn from_read_error(err: ProxyError) -> Result<Answer, ProxyError> {
        let failure = match &err {
            ProxyError::BadGateway(_) => Failure::UpstreamError,
            ProxyError::GatewayTimeout(_) => Failure::UpstreamTimeout,
            ProxyError::Unavailable { .. } => Failure::HeldBack,
            ProxyError::Throttled { .. } => Failure::Throttled,
            ProxyError::BadRequest(_)
            | ProxyError::TooLarge(_)
            | ProxyError::HeadersTooLarge(_)
            | ProxyError::NotFound(_) => return Err(err),
        };
        Ok(Answer::from_error(err).with_outcome(CacheOutcome::Failed(failure)))
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
    /// The store, the upstream, the fleet tier, the clock and the settings:
    /// what fills share with the requests that wait for them.
    core: Arc<Core>,
    metrics: Arc<Metrics>,
    /// What the finish step counts.
    requests: Arc<RequestCounters>,
    /// AK/SK signatures and Keystone tokens turned into principals.
    principals: Principals,
    /// The settings the proxy started with that a reload cannot change.
    fixed: Fixed,
    /// IMS jobs whose images are held out of the cache until they end.
    jobs: jobs::Jobs,
    /// Starting, serving or draining: what readiness reports.
    lifecycle: lifecycle::Lifecycle,
    path_prefix: String,
    max_header_bytes: usize,
}

/// What a fill works with (and no more of the proxy): where entries are
/// stored, whom to ask, the fleet tier, the clock, and the settings.
struct Core {
    cache: Cache,
    upstream: Upstream,
    /// The shared Redis tier, when `[redis] url` is set.
    fleet: Option<Arc<Fleet>>,
    /// What freshness and the breaker are judged on (tests move it).
    clock: Clock,
    settings: ArcSwap<Settings>,
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
        let principals = Principals::new(config, metrics.clone(), clock.clone())?;
        let core = Core {
            upstream: Upstream::new(&config.upstream, metrics.clone(), clock.clone())?,
            clock,
            fleet,
            cache: Cache::new(config.cache_max_bytes),
            settings: ArcSwap::from_pointee(Settings::of(config.reloadable(), 0)),
        };
        let shared = Shared {
            core: Arc::new(core),
            principals,
            requests: metrics.counters(RequestCounters::register),
            metrics,
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
        &self.shared.core.clock
    }

    /// The cache (for stats, purges and tests).
    pub fn cache(&self) -> &Cache {
        &self.shared.core.cache
    }

    /// Upstream requests in flight now.
    pub fn upstream_in_flight(&self) -> usize {
        self.shared.core.upstream.in_flight()
    }

    /// Serves one request from `client`; never fails.
    pub async fn handle(
        self,
        mut request: Request<Incoming>,
        client: SocketAddr,
    ) -> Result<Response<ProxyBody>, Infallible> {
        let started = Instant::now();
        let client_id = RequestId::of_client(request.headers());
        let arrival = Arrival::logged(
            request.method(),
            || Some(request.uri().clone()),
            client,
            request
                .headers()
                .get(header::USER_AGENT)
                .map(|v| v.as_bytes()),
        );
        let known = request.extensions_mut().remove::<Verdict>();
        let id = client_id.unwrap_or_else(RequestId::generate);
        let mut finished = Finished::new(started, id);
        let answer = self
            .route(request, client, known, &mut finished)
            .await
            .unwrap_or_else(Answer::from_error);
        let Answer {
            mut response,
            upstream_status,
            outcome,
            upstream_elapsed,
        } = answer;
        finished.status = response.status().as_u16();
        finished.outcome = outcome;
        finished.upstream_status = upstream_status;
        finished.upstream_elapsed = upstream_elapsed;
        finished.request_id = answer_id(client_id, id, response.headers_mut());
        match self.finish(&finished, arrival) {
            Some(log) => Ok(response.map(|body| body.with_log(log))),
            None => Ok(response),
        }
    }

    /// Admits the request and sends it down its path, noting in
    /// `finished` which path it took.
    async fn route(
        &self,
        request: Request<Incoming>,
        client: SocketAddr,
        known: Option<Verdict>,
        finished: &mut Finished,
    ) -> Result<Answer, ProxyError> {
        let max_header_bytes = self.shared.max_header_bytes;
        if header_bytes(&request) > max_header_bytes {
            return Err(ProxyError::HeadersTooLarge(max_header_bytes));
        }
        let (mut parts, body) = request.into_parts();
        // Before anything judges or forwards the headers: see
        // `request_headers::underscores`.
        let policy = self.shared.core.settings.load().cache.underscore_headers;
        finished.underscored = (policy, policy.apply(&mut parts.headers));
        // A body the signature hashes is read before it is judged.
        let judged = known.is_none();
        let (read, body) = self.read_body(&parts.headers, body, judged).await?;
        let empty = body.is_end_stream();
        let payload = match (&read, empty) {
            (_, true) => signing::Body::Empty,
            (Some(bytes), _) => signing::Body::Read(bytes),
            (None, false) => signing::Body::Unread,
        };
        let authority = parts.uri.authority().map(|a| a.as_str());
        let head = Head {
            method: &parts.method,
            path: parts.uri.path(),
            query: parts.uri.query(),
            authority,
            version: parts.version,
            headers: &parts.headers,
        };
        let admitted = self.admit(&head, payload, known)?;
        let tls = parts.extensions.remove::<tls::Peer>();
        let certificate = tls.as_ref().is_some_and(|t| t.client_cert.is_some());
        finished.principal = PrincipalKind::of(&parts.headers, &admitted.signature, certificate);
        if admitted.signature.keeps_host() {
            keep_authority_as_host(&mut parts.headers, authority);
        }
        // The upstream logs the same id (Glance: as the global request
        // id, when it is in Glance's `req-<uuid>` form). A client's own
        // header, sane or not, goes as it came.
        if !parts.headers.contains_key(&request_id::OPENSTACK) {
            let id = finished.request_id.header_value();
            parts.headers.insert(request_id::OPENSTACK.clone(), id);
        }
        let forward = Forward {
            tls,
            method: parts.method.clone(),
            path: admitted.path,
            query: parts.uri.query(),
            headers: parts.headers,
            version: parts.version,
            client,
            signature: admitted.signature,
        };
        match admitted.route {
            // A GET with a body is not a plain image read: not ours to cache.
            Route::ImageRead(id) if empty => {
                finished.route = RouteLabel::ImageRead;
                self.read_image(forward, body, id)
                    .await
                    .or_else(Answer::from_read_error)
            }
            Route::ImageRead(_) | Route::Other => self.forward(forward, body).await,
            Route::ImageList => {
                let answer = self.forward(forward, body).await?;
                self.transform_list(answer).await
            }
            Route::ImageWrite(write) => {
                finished.route = RouteLabel::ImageWrite;
                self.write(forward, body, write).await
            }
            Route::JobPoll(job) => {
                let mut forward = forward;
                if self.shared.jobs.is_pending(&job) {
                    // Its answer is read for the job's status: plain JSON.
                    forward.headers.remove(header::ACCEPT_ENCODING);
                }
                let answer = self.forward(forward, body).await?;
                self.poll_job(answer, &job).await
            }
        }
    }

    /// The request body to forward, and its bytes when the signature
    /// hashes them (a small signed body the proxy can verify: at most
    /// `signing.max_body_bytes`, as declared) and it is still to be judged.
    async fn read_body(
        &self,
        headers: &HeaderMap,
        body: Incoming,
        judged: bool,
    ) -> Result<(Option<bytes::Bytes>, ProxyBody), ProxyError> {
        let idle = self.shared.core.upstream.idle_timeout();
        if http_body::Body::is_end_stream(&body) {
            return Ok((None, ProxyBody::empty()));
        }
        let signing = self.shared.principals.signing();
        let length = declared_length(headers);
        if judged && length.is_some_and(|n| signing.wants_body(headers, n)) {
            let bytes = read_signed_body(body, idle).await?;
            return Ok((Some(bytes.clone()), ProxyBody::full(bytes)));
        }
        Ok((None, ProxyBody::stream(body, idle)))
    }

    /// Sends a request upstream as it is and streams the response back.
    async fn forward(&self, forward: Forward<'_>, body: ProxyBody) -> Result<Answer, ProxyError> {
        let request = forward.into_request(&self.shared.core.upstream, body)?;
        self.send(request).await
    }

    /// Sends an upstream request and streams the response back.
    async fn send(&self, request: Request<ProxyBody>) -> Result<Answer, ProxyError> {
        let asked = Instant::now();
        let response = self.shared.core.upstream.send(request).await?;
        let upstream_elapsed = Some(asked.elapsed());
        let (mut parts, body) = response.into_parts();
        strip_hop_by_hop(&mut parts.headers);
        let upstream_status = Some(parts.status.as_u16());
        Ok(Answer {
            response: Response::from_parts(parts, body),
            upstream_status,
            outcome: None,
            upstream_elapsed,
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

/// The request id a response carries, set on it: the client's own (sane)
/// id; else the upstream's answer for this request (a sane one); else
/// the one made for it (which the upstream was sent).
fn answer_id(client: Option<RequestId>, made: RequestId, headers: &mut HeaderMap) -> RequestId {
    let id = client
        .or_else(|| {
            headers
                .get(&request_id::OPENSTACK)
                .and_then(|v| RequestId::parse(v.as_bytes()))
        })
        .unwrap_or(made);
    headers.insert(request_id::OPENSTACK.clone(), id.header_value());
    id
}

/// The message's `Content-Length`, when it has a valid one.
pub(super) fn declared_length(headers: &HeaderMap) -> Option<u64> {
    content_length(headers).ok().flatten()
}

/// Reads a signed body whose signature hashes it, each chunk within `idle`.
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

/// An unverified signature that covers `Host` keeps the client's: an
/// HTTP/2 client's `:authority` becomes a `Host` header.
fn keep_authority_as_host(headers: &mut HeaderMap, authority: Option<&str>) {
    if headers.contains_key(header::HOST) {
        return;
    }
    if let Some(host) = authority.and_then(|a| http::HeaderValue::from_str(a).ok()) {
        headers.insert(header::HOST, host);
    }
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
