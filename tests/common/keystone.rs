//! A fake Keystone for token validation on 127.0.0.1:0: it answers
//! `GET /v3/auth/tokens?nocatalog` for the sample's self-describing
//! tokens (`user:project:roles`, as `glance_sample` reads them), so a
//! token Keystone validates is one the sample serves as the same caller.
//! Tests count its calls, revoke tokens, slow it down or make it fail.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode};
use http_body_util::Full;
use hyper::body::Incoming;
use imgcache::principal::sdk_date;
use percent_encoding::percent_decode_str;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// How long a token is valid unless a test says otherwise.
const TOKEN_LIFETIME: Duration = Duration::from_secs(3600);

#[derive(Default)]
struct State {
    /// Validation calls received (well-formed or not).
    calls: AtomicUsize,
    /// Calls that were not `GET /v3/auth/tokens?nocatalog` with both
    /// token headers (answered 400).
    malformed: AtomicUsize,
    revoked: Mutex<HashSet<String>>,
    /// Tokens that expire sooner than [`TOKEN_LIFETIME`].
    expiring: Mutex<HashMap<String, Duration>>,
    latency: Mutex<Duration>,
    /// Every call answered with this status instead.
    status: Mutex<Option<StatusCode>>,
    /// When set, `X-Auth-Token` must be this (else 401); when not, it must
    /// be the token validated (a token validating itself).
    service_token: Option<String>,
}

/// A token of the sample's alice in project-a, spelled `n` ways: Keystone
/// and the sample read the same user, project and roles in each.
pub fn alice_token(n: usize) -> String {
    format!("{}{}", super::TOKEN_A, ",".repeat(n))
}

/// `http://127.0.0.1:PORT/v3` where nothing listens.
pub async fn closed_keystone_url() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    format!("http://{addr}/v3")
}

/// `imgcache_token_validations_total{result}` of `proxy` (admin started).
pub async fn validations(proxy: &super::ProxyHandle, result: &str) -> f64 {
    let series = format!("imgcache_token_validations_total{{result=\"{result}\"}}");
    proxy.metric(&series).await
}

/// The fake Keystone; dropping it stops accepting.
pub struct FakeKeystone {
    pub addr: SocketAddr,
    state: Arc<State>,
    task: JoinHandle<()>,
}

impl FakeKeystone {
    /// Tokens validate themselves.
    pub async fn start() -> FakeKeystone {
        FakeKeystone::start_with(None).await
    }

    /// Only callers presenting `service_token` may validate tokens.
    pub async fn requiring_service_token(service_token: &str) -> FakeKeystone {
        FakeKeystone::start_with(Some(service_token.to_owned())).await
    }

    async fn start_with(service_token: Option<String>) -> FakeKeystone {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let state = Arc::new(State {
            service_token,
            ..State::default()
        });
        let task = super::serve_each(listener, state.clone(), answer);
        FakeKeystone { addr, state, task }
    }

    /// The v3 root: `http://127.0.0.1:PORT/v3`.
    pub fn url(&self) -> String {
        format!("http://{}/v3", self.addr)
    }

    /// Validation calls so far.
    pub fn calls(&self) -> usize {
        self.state.calls.load(Ordering::SeqCst)
    }

    /// Calls that were not a well-formed validation request.
    pub fn malformed_calls(&self) -> usize {
        self.state.malformed.load(Ordering::SeqCst)
    }

    /// From now on `token` is answered 404, as Keystone answers a revoked one.
    pub fn revoke(&self, token: &str) {
        self.state
            .revoked
            .lock()
            .expect("lock")
            .insert(token.to_owned());
    }

    /// `token`'s `expires_at` is `after` from the moment it is validated.
    pub fn expire_in(&self, token: &str, after: Duration) {
        self.state
            .expiring
            .lock()
            .expect("lock")
            .insert(token.to_owned(), after);
    }

    /// Every answer is held this long first.
    pub fn set_latency(&self, latency: Duration) {
        *self.state.latency.lock().expect("lock") = latency;
    }

    /// Every call is answered with `status` (and an error body).
    pub fn set_status(&self, status: Option<StatusCode>) {
        *self.state.status.lock().expect("lock") = status;
    }
}

impl Drop for FakeKeystone {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn answer(
    state: Arc<State>,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, std::convert::Infallible> {
    state.calls.fetch_add(1, Ordering::SeqCst);
    let latency = *state.latency.lock().expect("lock");
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    Ok(validate(&state, &request))
}

fn validate<B>(state: &State, request: &Request<B>) -> Response<Full<Bytes>> {
    let header = |name: &str| {
        request
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let (caller, subject) = (header("x-auth-token"), header("x-subject-token"));
    let well_formed = request.method() == Method::GET
        && request.uri().path() == "/v3/auth/tokens"
        && request.uri().query() == Some("nocatalog")
        && caller.is_some();
    let Some(subject) = subject.filter(|_| well_formed) else {
        state.malformed.fetch_add(1, Ordering::SeqCst);
        return error(StatusCode::BAD_REQUEST);
    };
    if let Some(status) = *state.status.lock().expect("lock") {
        return error(status);
    }
    let allowed = match &state.service_token {
        Some(service) => caller.as_deref() == Some(service.as_str()),
        None => caller.as_deref() == Some(subject.as_str()),
    };
    if !allowed {
        return error(StatusCode::UNAUTHORIZED);
    }
    if state.revoked.lock().expect("lock").contains(&subject) {
        return error(StatusCode::NOT_FOUND);
    }
    let lifetime = state
        .expiring
        .lock()
        .expect("lock")
        .get(&subject)
        .copied()
        .unwrap_or(TOKEN_LIFETIME);
    match token_body(&subject, SystemTime::now() + lifetime) {
        Some(body) => {
            let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
            response
                .headers_mut()
                .insert("content-type", "application/json".parse().expect("value"));
            response
                .headers_mut()
                .insert("x-subject-token", subject.parse().expect("value"));
            response
        }
        None => error(StatusCode::NOT_FOUND),
    }
}

/// Keystone's answer for a sample token (`user:project:roles`, maybe
/// percent-encoded, roles comma-separated); `None` if it is not one.
fn token_body(token: &str, expires_at: SystemTime) -> Option<serde_json::Value> {
    let decoded = percent_decode_str(token).decode_utf8().ok()?;
    let mut parts = decoded.splitn(3, ':');
    let (user, project, roles) = (parts.next()?, parts.next()?, parts.next()?);
    if user.is_empty() || project.is_empty() {
        return None;
    }
    let roles: Vec<serde_json::Value> = roles
        .split(',')
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .map(|r| serde_json::json!({"id": format!("id-{r}"), "name": r}))
        .collect();
    Some(serde_json::json!({"token": {
        "methods": ["password"],
        "expires_at": iso8601(expires_at),
        "issued_at": iso8601(SystemTime::now()),
        "user": {"id": user, "name": user, "domain": {"id": "default", "name": "Default"}},
        "project": {"id": project, "name": project, "domain": {"id": "default", "name": "Default"}},
        "roles": roles,
    }}))
}

/// `2026-12-01T07:00:00.000000Z`, as Keystone writes times.
fn iso8601(time: SystemTime) -> String {
    let compact = sdk_date::format(time);
    let c = |range: std::ops::Range<usize>| &compact[range];
    format!(
        "{}-{}-{}T{}:{}:{}.000000Z",
        c(0..4),
        c(4..6),
        c(6..8),
        c(9..11),
        c(11..13),
        c(13..15)
    )
}

fn error(status: StatusCode) -> Response<Full<Bytes>> {
    let body = serde_json::json!({"error": {
        "code": status.as_u16(),
        "title": status.canonical_reason().unwrap_or(""),
        "message": "fake keystone",
    }});
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert("content-type", "application/json".parse().expect("value"));
    response
}
