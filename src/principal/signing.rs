//! AK/SK-signed requests: verified against the credentials the proxy
//! holds, and signed again, with the same credential, for the upstream.
//!
//! What is trusted: only the secret keys in `[signing]`. A request is
//! verified when its `SDK-HMAC-SHA256` signature, recomputed here over
//! the request as received, equals the one it carries (compared in
//! constant time) and its `X-Sdk-Date` is within `signing.clock_skew` of
//! the proxy's clock. Anything else is not verified and stays the
//! client's business with the upstream: forwarded as it came (its signed
//! `Host` kept), never stored, never answered from the cache.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use http::header::{self, HeaderMap, HeaderName, HeaderValue};
use http::{Request, Uri};

use super::sdk_date;
use super::signature::{self, Authorization, Signed};
use crate::config::{Credential, SigningConfig};
use crate::hop_by_hop::is_hop_by_hop;
use crate::request_headers::HeaderLookup;

/// At most this many access keys are remembered as already warned about
/// (one warning per unknown key, not one per request).
const MAX_WARNED_KEYS: usize = 1_024;

static DATE: HeaderName = HeaderName::from_static(signature::DATE_HEADER);
static CONTENT_SHA256: HeaderName = HeaderName::from_static(signature::CONTENT_SHA256_HEADER);

/// The request line facts a signature covers besides headers and body.
#[derive(Debug, Clone, Copy)]
pub struct RequestLine<'a> {
    pub method: &'a str,
    /// The path exactly as the client sent it (listen prefix included).
    pub path: &'a str,
    pub query: Option<&'a str>,
    /// The HTTP/2 `:authority`, when there is no `Host` header.
    pub authority: Option<&'a str>,
}

/// What the verifier knows of the body.
#[derive(Debug, Clone, Copy)]
pub enum Body<'a> {
    /// None at all.
    Empty,
    /// All of it.
    Read(&'a [u8]),
    /// There is one, not read (too large, or streamed).
    Unread,
}

/// Why a signed request was not verified (a metric label each).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unverified {
    /// `Authorization` is not a well-formed `SDK-HMAC-SHA256` value, a
    /// signed header is missing, repeated or hop-by-hop, or another
    /// signing scheme is used.
    Malformed,
    /// An access key the proxy holds no secret for (temporary
    /// credentials with `X-Security-Token` included).
    UnknownKey,
    /// `X-Sdk-Date` missing, unreadable or too far off.
    ClockSkew,
    /// A body the proxy did not read (larger than `signing.max_body_bytes`).
    BodyNotRead,
    /// The signature is not the request's.
    BadSignature,
}

impl Unverified {
    /// The metric label.
    pub fn label(self) -> &'static str {
        match self {
            Unverified::Malformed => "malformed",
            Unverified::UnknownKey => "unknown_key",
            Unverified::ClockSkew => "clock_skew",
            Unverified::BodyNotRead => "body_not_read",
            Unverified::BadSignature => "bad_signature",
        }
    }
}

/// A verified signature: what the proxy needs to sign the request again.
#[derive(Clone)]
pub struct Verified {
    credential: Arc<Credential>,
    /// The client's signed header names (lower-case).
    signed_headers: Arc<[HeaderName]>,
    /// The payload hash the client signed.
    payload_hash: Arc<str>,
}

impl Verified {
    /// The access key: the principal.
    pub fn access_key(&self) -> &str {
        &self.credential.ak
    }
}

impl std::fmt::Debug for Verified {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verified")
            .field("ak", &self.credential.ak)
            .finish_non_exhaustive()
    }
}

/// The outcome of looking at a request's signature.
#[derive(Debug, Clone)]
pub enum SignatureCheck {
    /// No `SDK-HMAC-SHA256` (or other signing) `Authorization`.
    NotSigned,
    /// Verified with a credential the proxy holds.
    Verified(Verified),
    /// Signed, not verified: forwarded as it came.
    Unverified {
        reason: Unverified,
        /// The signature covers `Host`: the upstream must see the
        /// client's.
        keeps_host: bool,
    },
}

impl SignatureCheck {
    /// Whether the client's `Host` must reach the upstream unchanged.
    pub fn keeps_host(&self) -> bool {
        matches!(
            self,
            SignatureCheck::Unverified {
                keeps_host: true,
                ..
            }
        )
    }
}

/// The credentials held, and the rules for judging a signature.
pub struct Signing {
    credentials: HashMap<String, Arc<Credential>>,
    clock_skew: Duration,
    max_body_bytes: u64,
    warned: Mutex<HashSet<String>>,
}

impl Signing {
    /// From `[signing]`.
    pub fn new(config: &SigningConfig) -> Signing {
        Signing {
            credentials: config
                .credentials
                .iter()
                .map(|c| (c.ak.clone(), Arc::new(c.clone())))
                .collect(),
            clock_skew: config.clock_skew,
            max_body_bytes: config.max_body_bytes,
            warned: Mutex::new(HashSet::new()),
        }
    }

    /// Whether the proxy should read this request's body (of
    /// `content_length` bytes) to verify it: a signature by a held key
    /// that hashes a body within `signing.max_body_bytes`.
    pub fn wants_body<H: HeaderLookup + ?Sized>(&self, headers: &H, content_length: u64) -> bool {
        if content_length == 0 || content_length > self.max_body_bytes {
            return false;
        }
        if headers.first_value(&CONTENT_SHA256).is_some() {
            return false;
        }
        self.parse(headers)
            .is_some_and(|auth| auth.is_ok_and(|a| self.credentials.contains_key(a.access)))
    }

    /// Judges a request's signature at `now`.
    pub fn check<H: HeaderLookup + ?Sized>(
        &self,
        line: RequestLine<'_>,
        headers: &H,
        body: Body<'_>,
        now: SystemTime,
    ) -> SignatureCheck {
        let Some(parsed) = self.parse(headers) else {
            return SignatureCheck::NotSigned;
        };
        let unverified = |reason, keeps_host| SignatureCheck::Unverified { reason, keeps_host };
        let auth = match parsed {
            Ok(auth) => auth,
            Err(keeps_host) => return unverified(Unverified::Malformed, keeps_host),
        };
        let keeps_host = auth.signs_host();
        match self.verify(&auth, line, headers, body, now) {
            Ok(verified) => SignatureCheck::Verified(verified),
            Err(reason) => {
                if reason == Unverified::UnknownKey {
                    self.warn_once(auth.access);
                }
                unverified(reason, keeps_host)
            }
        }
    }

    /// The request's `Authorization` if it is signed: `Ok` for a
    /// readable `SDK-HMAC-SHA256` value, `Err(signs host)` for another
    /// signing scheme or a broken value; `None` when not signed.
    fn parse<'h, H: HeaderLookup + ?Sized>(
        &self,
        headers: &'h H,
    ) -> Option<Result<Authorization<'h>, bool>> {
        let mut values = headers.header_values(&header::AUTHORIZATION);
        let value = values.next()?;
        if !is_signed_scheme(value) {
            return None;
        }
        let text = std::str::from_utf8(value).ok();
        // The SDKs always sign `Host`: an unreadable SDK-HMAC-SHA256 value
        // still goes upstream with the `Host` it was made for.
        let signs_host =
            text.is_some_and(|t| mentions_signed_host(t) || t.starts_with(signature::ALGORITHM));
        if values.next().is_some() {
            return Some(Err(signs_host));
        }
        Some(
            text.and_then(|t| Authorization::parse(t).ok())
                .ok_or(signs_host),
        )
    }

    fn verify<H: HeaderLookup + ?Sized>(
        &self,
        auth: &Authorization<'_>,
        line: RequestLine<'_>,
        headers: &H,
        body: Body<'_>,
        now: SystemTime,
    ) -> Result<Verified, Unverified> {
        let credential = self
            .credentials
            .get(auth.access)
            .ok_or(Unverified::UnknownKey)?;
        let date = single_text(headers, &DATE).ok_or(Unverified::ClockSkew)?;
        let signed_at = sdk_date::parse(date).ok_or(Unverified::ClockSkew)?;
        if sdk_date::distance(signed_at, now) > self.clock_skew {
            return Err(Unverified::ClockSkew);
        }
        let body_hash;
        let payload_hash = match body {
            // As the SDK: no body hashes empty, whatever a header says.
            Body::Empty | Body::Read([]) => signature::EMPTY_PAYLOAD_HASH,
            _ if headers.first_value(&CONTENT_SHA256).is_some() => {
                single_text(headers, &CONTENT_SHA256).ok_or(Unverified::Malformed)?
            }
            Body::Read(bytes) => {
                body_hash = signature::body_hash(bytes);
                &body_hash
            }
            Body::Unread => return Err(Unverified::BodyNotRead),
        };
        let mut names = Vec::with_capacity(auth.signed_headers.len());
        for name in &auth.signed_headers {
            if is_hop_by_hop(name) {
                return Err(Unverified::Malformed);
            }
            names.push(HeaderName::from_bytes(name.as_bytes()).map_err(|_| Unverified::Malformed)?);
        }
        let mut values = Vec::with_capacity(names.len());
        for (name, header_name) in auth.signed_headers.iter().zip(&names) {
            let value = match single_text(headers, header_name) {
                Some(value) => value,
                None if *name == "host" && headers.first_value(&header::HOST).is_none() => {
                    line.authority.ok_or(Unverified::Malformed)?
                }
                None => return Err(Unverified::Malformed),
            };
            values.push((*name, value));
        }
        let signed = Signed {
            method: line.method,
            path: line.path,
            query: line.query,
            headers: values,
            payload_hash,
            date,
        };
        if !signed.verify(credential.sk.as_bytes(), auth.signature) {
            return Err(Unverified::BadSignature);
        }
        Ok(Verified {
            credential: credential.clone(),
            signed_headers: names.into(),
            payload_hash: payload_hash.into(),
        })
    }

    /// One warning per access key the proxy holds no secret for.
    fn warn_once(&self, access_key: &str) {
        let Ok(mut warned) = self.warned.lock() else {
            return;
        };
        if warned.len() >= MAX_WARNED_KEYS || !warned.insert(access_key.to_owned()) {
            return;
        }
        tracing::warn!(
            access_key = ?access_key,
            "a request signed with an access key that is not in [[signing.credentials]]: \
             forwarded unverified and not cached; add the credential to cache its reads"
        );
    }
}

/// Signs an upstream request again for its own host and the time `now`,
/// with the credential that signed the client's: the client's signed
/// headers that are still there (once), plus `Host` and `X-Sdk-Date`.
pub fn resign<B>(request: &mut Request<B>, verified: &Verified, now: SystemTime) {
    let method = request.method().as_str().to_owned();
    let uri: Uri = request.uri().clone();
    let headers: &mut HeaderMap = request.headers_mut();
    if let Some(host) = uri
        .authority()
        .and_then(|a| HeaderValue::from_str(a.as_str()).ok())
    {
        headers.insert(header::HOST, host);
    }
    let date = sdk_date::format(now);
    if let Ok(value) = HeaderValue::from_str(&date) {
        headers.insert(DATE.clone(), value);
    }
    let mut names: Vec<&HeaderName> = verified
        .signed_headers
        .iter()
        .chain([&header::HOST, &DATE])
        .collect();
    names.sort_by(|a, b| a.as_str().cmp(b.as_str()));
    names.dedup();
    let values: Vec<(&str, &str)> = names
        .iter()
        .filter_map(|name| Some((name.as_str(), single_text(&*headers, name)?)))
        .collect();
    let signed = Signed {
        method: &method,
        path: uri.path(),
        query: uri.query(),
        headers: values,
        payload_hash: &verified.payload_hash,
        date: &date,
    };
    let authorization = signed
        .sign(verified.credential.sk.as_bytes())
        .map(|signature| signed.authorization(&verified.credential.ak, &signature))
        .and_then(|value| HeaderValue::from_str(&value).ok());
    match authorization {
        Some(value) => {
            headers.insert(header::AUTHORIZATION, value);
        }
        // An access key that cannot be a header value never verified.
        None => tracing::error!("could not sign the upstream request again"),
    }
}

/// Bearer-style schemes carry a reusable credential; every other scheme
/// (`SDK-HMAC-SHA256`, `AWS4-HMAC-SHA256`, HTTP `Signature`…) signs the
/// one request.
pub fn is_signed_scheme(authorization: &[u8]) -> bool {
    let scheme = authorization
        .split(|b| *b == b' ')
        .next()
        .unwrap_or_default();
    !(scheme.eq_ignore_ascii_case(b"bearer")
        || scheme.eq_ignore_ascii_case(b"basic")
        || scheme.eq_ignore_ascii_case(b"token"))
}

/// Whether a signing scheme's `SignedHeaders=` list (as in
/// `SDK-HMAC-SHA256` and `AWS4-HMAC-SHA256`) names `host`.
fn mentions_signed_host(authorization: &str) -> bool {
    authorization.split([',', ' ']).any(|part| {
        part.trim()
            .strip_prefix("SignedHeaders=")
            .is_some_and(|list| list.split(';').any(|h| h.eq_ignore_ascii_case("host")))
    })
}

/// The one value of `name`, as text; `None` when absent, repeated or not
/// UTF-8.
fn single_text<'h, H: HeaderLookup + ?Sized>(
    headers: &'h H,
    name: &'h HeaderName,
) -> Option<&'h str> {
    let mut values = headers.header_values(name);
    let value = values.next()?;
    if values.next().is_some() {
        return None;
    }
    std::str::from_utf8(value).ok()
}
