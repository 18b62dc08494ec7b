//! Who is asking, as far as the proxy can verify it: the step between a
//! request and its cache key.
//!
//! - An AK/SK signature the proxy can verify with a credential it holds
//!   ([`signing`]) makes the access key the principal.
//! - A token Keystone validates ([`keystone`]) makes its scope (user,
//!   project, roles) the principal, so a new token of the same scope
//!   finds the entries an older one filled.
//! - Otherwise the identity headers are the key, as they are sent
//!   (`cache::key::Identity`).
//!
//! A principal replaces only the credential it was verified from (the
//! signature, the token); every other identity header a request carries
//! (`X-Project-Id`, `X-Security-Token`, `X-Service-Token`…) stays in the
//! key, so nothing the upstream reads as identity escapes it. What cannot
//! be verified — a signature that does not check out, a token Keystone
//! calls invalid — never uses the cache.

mod counters;
pub mod keystone;
pub mod sdk_date;
pub mod signature;
pub mod signing;

use std::sync::Arc;

use http::HeaderName;
use http::header;

use crate::cache::key::{Identity, IdentityHeaders};
use crate::clock::Clock;
use crate::config::Config;
use crate::metrics::Metrics;
use crate::request_headers::HeaderLookup;
use counters::PrincipalCounters;
pub use counters::TokenValidation;
use keystone::{TokenScope, Tokens};
use signing::{SignatureCheck, Signing};

static X_STORAGE_TOKEN: HeaderName = HeaderName::from_static("x-storage-token");
static X_AUTH_TOKEN: HeaderName = HeaderName::from_static("x-auth-token");

/// The headers a validated token stands in for (keystonemiddleware takes
/// the user token from either).
static TOKEN_HEADERS: [&HeaderName; 2] = [&X_AUTH_TOKEN, &X_STORAGE_TOKEN];

/// What a request's cache key is made from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// Nothing verified: the identity headers as sent.
    Headers,
    /// A verified AK/SK signature: the access key, and the identity
    /// headers but `Authorization`.
    AccessKey(Arc<str>),
    /// A validated token: its scope, and the identity headers but the
    /// token's.
    Token([u8; 32]),
    /// Not verifiable (a signature that does not check out, a token
    /// Keystone calls invalid): no cache key at all.
    Unverified,
}

/// The principal part a TLS client certificate adds to the identity.
const CLIENT_CERT: &[u8] = b"tls-client-cert";

impl Principal {
    /// The cache identity; `None` for [`Principal::Unverified`]. A
    /// client certificate's identity (`server.tls_client_identity`), when
    /// given, is one more part of it: two connections with different
    /// certificates never share an entry, whatever their headers.
    pub fn identity<H: HeaderLookup + ?Sized>(
        &self,
        headers: &H,
        names: &IdentityHeaders,
        client_cert: Option<&[u8]>,
    ) -> Option<Identity> {
        let keyed = |kind: &[u8], value: &[u8], replaced: &[&HeaderName]| match client_cert {
            Some(cert) => {
                Identity::of_principal(headers, names, &[kind, value, CLIENT_CERT, cert], replaced)
            }
            None => Identity::of_principal(headers, names, &[kind, value], replaced),
        };
        match self {
            Principal::Headers => Some(match client_cert {
                Some(cert) => Identity::of_principal(headers, names, &[CLIENT_CERT, cert], &[]),
                None => Identity::of(headers, names),
            }),
            Principal::AccessKey(ak) => Some(keyed(
                b"sdk-hmac-sha256",
                ak.as_bytes(),
                &[&header::AUTHORIZATION],
            )),
            Principal::Token(scope) => Some(keyed(b"keystone", scope, &TOKEN_HEADERS)),
            Principal::Unverified => None,
        }
    }
}

/// The configured verifiers; both optional.
pub struct Principals {
    signing: Signing,
    tokens: Option<Tokens>,
    counters: Arc<PrincipalCounters>,
}

impl Principals {
    /// From `[signing]` and `[identity]`.
    pub fn new(config: &Config, metrics: Arc<Metrics>, clock: Clock) -> Result<Principals, String> {
        let counters = metrics.counters(PrincipalCounters::register);
        let tokens = match &config.identity {
            Some(identity) => Some(Tokens::new(
                identity,
                config.upstream.ca_file.as_deref(),
                metrics,
                clock,
            )?),
            None => None,
        };
        Ok(Principals {
            signing: Signing::new(&config.signing),
            tokens,
            counters,
        })
    }

    /// Counts the verdict on a request's signature (once per request).
    pub fn count_signature(&self, check: &SignatureCheck) {
        self.counters.signed(check);
    }

    /// The signature verifier.
    pub fn signing(&self) -> &Signing {
        &self.signing
    }

    /// The principal of a request whose signature was judged `signature`.
    pub async fn resolve<H: HeaderLookup + ?Sized>(
        &self,
        signature: &SignatureCheck,
        headers: &H,
    ) -> Principal {
        match signature {
            SignatureCheck::Verified(verified) => {
                return Principal::AccessKey(verified.access_key().into());
            }
            SignatureCheck::Unverified { .. } => return Principal::Unverified,
            SignatureCheck::NotSigned => {}
        }
        let Some(tokens) = &self.tokens else {
            return Principal::Headers;
        };
        let Some(token) = single_token(headers) else {
            return Principal::Headers;
        };
        match tokens.scope(token).await {
            TokenScope::Valid(scope) => Principal::Token(scope),
            // Not cached either way: the upstream judges the token.
            TokenScope::Invalid | TokenScope::Busy => Principal::Unverified,
            TokenScope::Unknown => Principal::Headers,
        }
    }
}

/// The user token, when the request carries exactly one token value
/// (in `X-Auth-Token` or `X-Storage-Token`); two different ones are
/// ambiguous, and keyed as sent.
fn single_token<H: HeaderLookup + ?Sized>(headers: &H) -> Option<&[u8]> {
    let mut values = TOKEN_HEADERS
        .iter()
        .flat_map(|name| headers.header_values(name));
    let token = values.next()?;
    if values.next().is_some() || token.is_empty() {
        return None;
    }
    Some(token)
}
