//! The one front door. Every request, whichever parser read it (the hit
//! path's `httparse` lines or hyper's `HeaderMap`), is admitted here once:
//! framing (no tunnels, an absolute path, one `Host`), the listen prefix,
//! the route, and the verdict on its AK/SK signature. What comes out is an
//! [`Admitted`] request that the read plan and the forwarding take; the
//! hit path keeps only what is about bytes on a socket.
//!
//! The signature is verified at most once per request: when the hit path
//! admitted a request and hyper answers it (an exchange), the verdict
//! travels with it as a [`Verdict`] in the request's extensions.

use std::time::SystemTime;

use http::{Method, Version};

use super::Proxy;
use crate::error::ProxyError;
use crate::principal::signing::{self, SignatureCheck};
use crate::request_headers::HeaderLookup;
use crate::route::{self, Route};

/// The start of a request, as either parser saw it: its line (`'a`) and
/// its headers (`'h`), borrowed apart so the headers can move on once the
/// request is admitted.
pub struct Head<'a, 'h, H: ?Sized> {
    pub method: &'a Method,
    /// The path exactly as the client sent it (listen prefix included).
    pub path: &'a str,
    pub query: Option<&'a str>,
    /// The HTTP/2 `:authority`, when the request has one.
    pub authority: Option<&'a str>,
    pub version: Version,
    /// Its headers, after the underscore policy.
    pub headers: &'h H,
}

/// A request let in: where it goes, and who signed it.
pub struct Admitted<'a> {
    /// The path with the listen prefix removed.
    pub path: &'a str,
    pub route: Route,
    /// What its AK/SK signature was (judged once, counted once).
    pub signature: SignatureCheck,
}

/// The signature verdict of a request the hit path admitted and hyper
/// then answers: put in the request's extensions so that hyper's side
/// takes it instead of verifying the same bytes again.
#[derive(Clone)]
pub struct Verdict(pub SignatureCheck);

impl Proxy {
    /// Admits a request whose body is `body` (for the signature's payload
    /// hash). `known` is the verdict the hit path already reached for these
    /// very bytes; without one the signature is judged (and counted) here.
    pub(super) fn admit<'a, H: HeaderLookup + ?Sized>(
        &self,
        head: &Head<'a, '_, H>,
        body: signing::Body<'_>,
        known: Option<Verdict>,
    ) -> Result<Admitted<'a>, ProxyError> {
        check_framing(head)?;
        let prefix = &self.shared.path_prefix;
        let Some(path) = route::strip_prefix(head.path, prefix) else {
            return Err(ProxyError::NotFound(format!(
                "the path is outside the configured prefix {prefix}"
            )));
        };
        let route = route::classify(head.method, path, head.query);
        let signature = match known {
            Some(Verdict(signature)) => signature,
            None => self.judge_signature(head, body),
        };
        Ok(Admitted {
            path,
            route,
            signature,
        })
    }

    /// Verifies the request's AK/SK signature, and counts the verdict.
    fn judge_signature<H: HeaderLookup + ?Sized>(
        &self,
        head: &Head<'_, '_, H>,
        body: signing::Body<'_>,
    ) -> SignatureCheck {
        let line = signing::RequestLine {
            method: head.method.as_str(),
            path: head.path,
            query: head.query,
            authority: head.authority,
        };
        let signing = self.shared.principals.signing();
        let check = signing.check(line, head.headers, body, SystemTime::now());
        self.shared.principals.count_signature(&check);
        check
    }
}

/// Rejects what cannot be forwarded: tunnels, targets that are not a
/// path, and a missing (HTTP/1.1) or repeated `Host`.
fn check_framing<H: HeaderLookup + ?Sized>(head: &Head<'_, '_, H>) -> Result<(), ProxyError> {
    if head.method == Method::CONNECT {
        return Err(ProxyError::BadRequest("CONNECT is not supported".into()));
    }
    if !head.path.starts_with('/') {
        return Err(ProxyError::BadRequest(
            "the request target must be an absolute path".into(),
        ));
    }
    match head.headers.header_values(&http::header::HOST).count() {
        0 if head.version == Version::HTTP_11 => Err(ProxyError::BadRequest(
            "an HTTP/1.1 request must have a Host header (RFC 9112 section 3.2)".into(),
        )),
        0 | 1 => Ok(()),
        _ => Err(ProxyError::BadRequest("more than one Host header".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head<'a>(
        method: &'a Method,
        path: &'a str,
        version: Version,
        headers: &'a [httparse::Header<'a>],
    ) -> Head<'a, 'a, [httparse::Header<'a>]> {
        Head {
            method,
            path,
            query: None,
            authority: None,
            version,
            headers,
        }
    }

    const HOST: httparse::Header<'static> = httparse::Header {
        name: "Host",
        value: b"x",
    };

    /// One `Host` on HTTP/1.1; none is fine on HTTP/1.0 and HTTP/2 (where
    /// `:authority` stands in); two never are.
    #[test]
    fn host_rules() {
        let get = Method::GET;
        let one = [HOST];
        let two = [HOST, HOST];
        let ok = |v, h: &[httparse::Header<'_>]| check_framing(&head(&get, "/a", v, h)).is_ok();
        assert!(ok(Version::HTTP_11, &one));
        assert!(!ok(Version::HTTP_11, &[]));
        assert!(ok(Version::HTTP_10, &[]));
        assert!(ok(Version::HTTP_2, &[]));
        assert!(!ok(Version::HTTP_11, &two));
        assert!(!ok(Version::HTTP_2, &two));
    }

    /// Tunnels and targets that are not a path are refused.
    #[test]
    fn tunnels_and_targets() {
        let one = [HOST];
        let connect = Method::CONNECT;
        let get = Method::GET;
        assert!(check_framing(&head(&connect, "/a", Version::HTTP_11, &one)).is_err());
        assert!(check_framing(&head(&get, "*", Version::HTTP_11, &one)).is_err());
        assert!(check_framing(&head(&get, "/", Version::HTTP_11, &one)).is_ok());
    }
}
