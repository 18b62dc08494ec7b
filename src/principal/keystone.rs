//! Keystone (or Huawei IAM) token validation: a token is turned into its
//! scope — user, project, domain, system, role names — once per
//! `identity.validation_ttl`, so requests can be keyed on who the token
//! stands for instead of the token string.
//!
//! What is trusted: Keystone's answer to `GET /v3/auth/tokens`, nothing
//! the client says. Invalid, expired and revoked tokens (404, or 401 when
//! the token validated itself) are remembered as invalid, by hash, so a
//! flood of the same garbage costs one call: such requests bypass the
//! cache and the upstream answers them. When Keystone cannot answer
//! (down, slow past `identity.timeout`, 5xx, 403 by policy) the raw token
//! is keyed, as without validation — never an error.
//!
//! Keystone is shared with everyone: at most
//! `identity.max_concurrent_validations` calls run at once. A token seen
//! while they are all busy is not queued behind them: its request
//! bypasses the cache ([`TokenScope::Busy`]), so a flood of new tokens
//! costs Keystone a bounded load and nobody a wait.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use http::{HeaderValue, Method, Request, StatusCode, Uri};
use http_body_util::{BodyExt, Empty, Limited};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::counters::{PrincipalCounters, TokenValidation};
use super::sdk_date;
use crate::clock::Clock;
use crate::config::{IdentityConfig, Share};
use crate::metrics::Metrics;
use crate::upstream;

/// A validation Keystone could not give is retried after this (so an
/// outage does not add `identity.timeout` to every request).
const RETRY_UNAVAILABLE: Duration = Duration::from_secs(5);

/// Most validations remembered (each ~100 bytes).
const MAX_REMEMBERED: u64 = 100_000;

/// The largest token body read (the catalog is not asked for).
const MAX_BODY_BYTES: usize = 1024 * 1024;

static SUBJECT_TOKEN: http::HeaderName = http::HeaderName::from_static("x-subject-token");
static AUTH_TOKEN: http::HeaderName = http::HeaderName::from_static("x-auth-token");

/// What a token is, as far as the proxy knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenScope {
    /// Valid: a digest of its scope (see [`scope_digest`]).
    Valid([u8; 32]),
    /// Keystone says it is not valid.
    Invalid,
    /// Keystone could not say.
    Unknown,
    /// Not asked: `identity.max_concurrent_validations` calls were
    /// already running. Asked again by the token's next request.
    Busy,
}

/// One remembered validation.
#[derive(Debug, Clone, Copy)]
struct Remembered {
    scope: TokenScope,
    /// On the proxy's clock: past this the token is validated again.
    until: Instant,
}

/// The validator and what it remembers.
pub struct Tokens {
    client: Client<HttpsConnector<HttpConnector>, Empty<Bytes>>,
    url: Uri,
    timeout: Duration,
    validation_ttl: Duration,
    share: Share,
    service_token: Option<HeaderValue>,
    /// By SHA-256 of the token: tokens themselves are never kept.
    remembered: moka::future::Cache<[u8; 32], Remembered>,
    /// Places for validation calls running at once.
    calls: tokio::sync::Semaphore,
    metrics: Arc<Metrics>,
    counters: Arc<PrincipalCounters>,
    clock: Clock,
}

impl Tokens {
    /// From `[identity]`; `ca_file` is trusted for an https Keystone.
    pub fn new(
        config: &IdentityConfig,
        ca_file: Option<&std::path::Path>,
        metrics: Arc<Metrics>,
        clock: Clock,
    ) -> Result<Tokens, String> {
        let https = config.keystone_url.scheme_str() == Some("https");
        let connector = upstream::https_connector(ca_file, config.timeout, https, false)?;
        let client = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .timer(TokioTimer::new())
            .build(connector);
        let url = format!("{}/auth/tokens?nocatalog", config.keystone_url)
            .parse()
            .map_err(|e| format!("identity.keystone_url: {e}"))?;
        let service_token = match &config.service_token {
            Some(token) => Some(
                HeaderValue::from_str(token)
                    .map_err(|_| "identity.service_token is not a header value".to_owned())?,
            ),
            None => None,
        };
        Ok(Tokens {
            client,
            url,
            timeout: config.timeout,
            validation_ttl: config.validation_ttl,
            share: config.share,
            service_token,
            remembered: moka::future::Cache::builder()
                .max_capacity(MAX_REMEMBERED)
                // A memory bound only: freshness is judged on `until`.
                .time_to_live(config.validation_ttl.max(RETRY_UNAVAILABLE))
                .build(),
            calls: tokio::sync::Semaphore::new(config.max_concurrent_validations),
            counters: metrics.counters(PrincipalCounters::register),
            metrics,
            clock,
        })
    }

    /// The scope of `token`: remembered, or validated now if a place for
    /// a call is free ([`TokenScope::Busy`] if not). Concurrent first
    /// requests with one token make one call.
    pub async fn scope(&self, token: &[u8]) -> TokenScope {
        use moka::ops::compute::{CompResult, Op};
        let key: [u8; 32] = Sha256::digest(token).into();
        let now = self.clock.now();
        let fresh = |r: &Remembered| r.until > now;
        if let Some(known) = self.remembered.get(&key).await.filter(fresh) {
            return known.scope;
        }
        // One computation per key at a time: followers of a first request
        // wait for its answer instead of calling too.
        let computed = self
            .remembered
            .entry(key)
            .and_compute_with(|current| async move {
                if current.is_some_and(|entry| fresh(entry.value())) {
                    return Op::Nop;
                }
                let Ok(_call) = self.calls.try_acquire() else {
                    return Op::Nop;
                };
                Op::Put(self.validate(token).await)
            })
            .await;
        match computed {
            CompResult::Inserted(entry)
            | CompResult::ReplacedWith(entry)
            | CompResult::Unchanged(entry)
                if fresh(entry.value()) =>
            {
                entry.into_value().scope
            }
            _ => {
                self.metrics.record_validation_skipped();
                TokenScope::Busy
            }
        }
    }

    /// Asks Keystone, and says for how long the answer holds.
    async fn validate(&self, token: &[u8]) -> Remembered {
        let started = self.clock.now();
        // Real time, whatever clock the proxy keeps: this is a latency.
        let call = Instant::now();
        let answer = tokio::time::timeout(self.timeout, self.ask(token)).await;
        let took = call.elapsed();
        let (scope, lifetime) = match answer {
            Ok(Ok((scope, expires_at))) => {
                let left = expires_at
                    .duration_since(SystemTime::now())
                    .unwrap_or_default();
                (scope, self.validation_ttl.min(left))
            }
            Ok(Err(Some(invalid))) => (invalid, self.validation_ttl),
            Ok(Err(None)) | Err(_) => (TokenScope::Unknown, RETRY_UNAVAILABLE),
        };
        let answered = match scope {
            TokenScope::Valid(_) => TokenValidation::Valid,
            TokenScope::Invalid => TokenValidation::Invalid,
            TokenScope::Unknown | TokenScope::Busy => TokenValidation::Unavailable,
        };
        self.counters.validation(answered, took);
        Remembered {
            scope,
            until: started + lifetime,
        }
    }

    /// One `GET /v3/auth/tokens`. `Err(Some(Invalid))`: Keystone says
    /// the token is not valid; `Err(None)`: no usable answer.
    async fn ask(&self, token: &[u8]) -> Result<(TokenScope, SystemTime), Option<TokenScope>> {
        let subject = HeaderValue::from_bytes(token).map_err(|_| Some(TokenScope::Invalid))?;
        let caller = self
            .service_token
            .clone()
            .unwrap_or_else(|| subject.clone());
        let mut request = Request::new(Empty::<Bytes>::new());
        *request.method_mut() = Method::GET;
        *request.uri_mut() = self.url.clone();
        let headers = request.headers_mut();
        headers.insert(AUTH_TOKEN.clone(), caller);
        headers.insert(SUBJECT_TOKEN.clone(), subject);
        headers.insert(
            http::header::ACCEPT,
            HeaderValue::from_static("application/json"),
        );
        let response = self.client.request(request).await.map_err(|err| {
            tracing::warn!(error = %err, "token validation: Keystone did not answer");
            None
        })?;
        let status = response.status();
        match status {
            StatusCode::OK => {}
            StatusCode::NOT_FOUND => return Err(Some(TokenScope::Invalid)),
            // The token was its own credential: Keystone refused it.
            StatusCode::UNAUTHORIZED if self.service_token.is_none() => {
                return Err(Some(TokenScope::Invalid));
            }
            other => {
                tracing::warn!(
                    status = other.as_u16(),
                    "token validation: Keystone refused to validate (policy or service token?); \
                     keying the raw token"
                );
                return Err(None);
            }
        }
        let body = Limited::new(response.into_body(), MAX_BODY_BYTES)
            .collect()
            .await
            .map_err(|_| None)?
            .to_bytes();
        let validated: Validated = serde_json::from_slice(&body).map_err(|err| {
            tracing::warn!(error = %err, "token validation: Keystone's answer is not a token");
            None
        })?;
        let token = validated.token;
        let expires_at = sdk_date::parse_iso8601(&token.expires_at).ok_or(None)?;
        Ok((
            TokenScope::Valid(scope_digest(&token, self.share)),
            expires_at,
        ))
    }
}

/// `{"token": {…}}`: the fields that decide what a token may see.
#[derive(Deserialize)]
struct Validated {
    token: TokenBody,
}

#[derive(Deserialize)]
struct TokenBody {
    expires_at: String,
    user: Named,
    #[serde(default)]
    project: Option<Named>,
    /// A domain-scoped token.
    #[serde(default)]
    domain: Option<Named>,
    /// A system-scoped token: `{"all": true}`.
    #[serde(default)]
    system: Option<serde_json::Value>,
    #[serde(default)]
    roles: Vec<Role>,
}

#[derive(Deserialize)]
struct Named {
    id: String,
    #[serde(default)]
    domain: Option<Box<Named>>,
}

#[derive(Deserialize)]
struct Role {
    name: String,
}

/// SHA-256 over the scope, each field framed by its length: the user
/// (with `share = "user"`), project and its domain, domain scope, system
/// scope and the sorted role names. Two tokens with equal digests see the
/// same images: Glance decides visibility by project (and membership),
/// and property protections and policy by roles.
fn scope_digest(token: &TokenBody, share: Share) -> [u8; 32] {
    let mut hasher = Sha256::new();
    let mut field = |tag: u8, value: &str| {
        hasher.update([tag]);
        hasher.update((value.len() as u32).to_be_bytes());
        hasher.update(value.as_bytes());
    };
    if share == Share::User {
        field(b'u', &token.user.id);
        if let Some(domain) = &token.user.domain {
            field(b'U', &domain.id);
        }
    }
    if let Some(project) = &token.project {
        field(b'p', &project.id);
        if let Some(domain) = &project.domain {
            field(b'P', &domain.id);
        }
    }
    if let Some(domain) = &token.domain {
        field(b'd', &domain.id);
    }
    if let Some(system) = &token.system {
        field(b's', &system.to_string());
    }
    let mut roles: Vec<&str> = token.roles.iter().map(|r| r.name.as_str()).collect();
    roles.sort_unstable();
    roles.dedup();
    for role in roles {
        field(b'r', role);
    }
    hasher.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(json: serde_json::Value) -> TokenBody {
        serde_json::from_value::<Validated>(serde_json::json!({ "token": json }))
            .expect("token")
            .token
    }

    fn body(user: &str, project: &str, roles: &[&str]) -> serde_json::Value {
        serde_json::json!({
            "expires_at": "2026-12-01T07:00:00.000000Z",
            "user": {"id": user, "domain": {"id": "default"}},
            "project": {"id": project, "domain": {"id": "default"}},
            "roles": roles.iter().map(|r| serde_json::json!({"id": r, "name": r})).collect::<Vec<_>>(),
            "methods": ["password"],
        })
    }

    /// Same user, project and roles (any order) share a scope; anything
    /// else that decides visibility does not. `share = "project"` drops
    /// only the user.
    #[test]
    fn scope_follows_user_project_and_roles() {
        let digest = |b, share| scope_digest(&token(b), share);
        let alice = digest(body("alice", "a", &["member", "reader"]), Share::User);
        assert_eq!(
            alice,
            digest(body("alice", "a", &["reader", "member"]), Share::User)
        );
        assert_ne!(
            alice,
            digest(body("bob", "a", &["member", "reader"]), Share::User)
        );
        assert_ne!(
            alice,
            digest(body("alice", "b", &["member", "reader"]), Share::User)
        );
        assert_ne!(alice, digest(body("alice", "a", &["member"]), Share::User));
        assert_ne!(
            alice,
            digest(
                body("alice", "a", &["member", "reader", "admin"]),
                Share::User
            )
        );
        let project = |user| digest(body(user, "a", &["member"]), Share::Project);
        assert_eq!(project("alice"), project("bob"));
        assert_ne!(
            project("alice"),
            digest(body("alice", "b", &["member"]), Share::Project)
        );
        // Field framing: a value cannot slide into the next field.
        assert_ne!(
            digest(body("ab", "c", &[]), Share::User),
            digest(body("a", "bc", &[]), Share::User)
        );
    }

    /// Domain- and system-scoped tokens differ from project-scoped ones
    /// and from each other.
    #[test]
    fn other_scopes_differ() {
        let mut domain = body("alice", "a", &["admin"]);
        domain.as_object_mut().expect("object").remove("project");
        domain["domain"] = serde_json::json!({"id": "default", "name": "Default"});
        let mut system = body("alice", "a", &["admin"]);
        system.as_object_mut().expect("object").remove("project");
        system["system"] = serde_json::json!({"all": true});
        let project = scope_digest(&token(body("alice", "a", &["admin"])), Share::User);
        let domain = scope_digest(&token(domain), Share::User);
        let system = scope_digest(&token(system), Share::User);
        assert_ne!(project, domain);
        assert_ne!(project, system);
        assert_ne!(domain, system);
    }
}
