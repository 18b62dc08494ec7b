//! Cache keys: the image id and the caller's identity, a SHA-256 over the
//! configured identity headers. The hash is all that is kept; header
//! values (tokens) never leave the request.

use std::fmt;

use http::HeaderName;
use sha2::{Digest, Sha256};

use crate::request_headers::HeaderLookup;
use crate::route::ImageId;

/// A caller's identity: SHA-256 over the values of the identity headers.
/// Two requests share cache entries only when every identity header is
/// equal (absent and empty differ; the order of repeated values counts).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Identity([u8; 32]);

impl Identity {
    /// Hashes the identity headers of a request. Names are matched
    /// case-insensitively (HeaderMap keys are lower case); a request with
    /// none of them gets the anonymous identity without hashing anything.
    pub fn of<H: HeaderLookup + ?Sized>(headers: &H, names: &[HeaderName]) -> Identity {
        let mut hasher: Option<Sha256> = None;
        for (position, name) in names.iter().enumerate() {
            let mut values = headers.header_values(name).peekable();
            if values.peek().is_none() {
                continue;
            }
            let hasher = hasher.get_or_insert_with(Sha256::new);
            // Position + count + length framing: no two different header
            // sets can produce the same byte stream.
            hasher.update((position as u32).to_be_bytes());
            for value in values {
                hasher.update([1]);
                hasher.update((value.len() as u32).to_be_bytes());
                hasher.update(value);
            }
            hasher.update([0]);
        }
        match hasher {
            Some(hasher) => Identity(hasher.finalize().into()),
            None => Identity::ANONYMOUS,
        }
    }

    /// The identity of a request without any identity header.
    pub const ANONYMOUS: Identity = Identity([0; 32]);

    /// The raw digest (for keyed derivations such as a shared tier's keys).
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl fmt::Debug for Identity {
    /// Only a short prefix: enough to tell identities apart in a debug
    /// session, useless for anything else.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Identity({:02x}{:02x}…)", self.0[0], self.0[1])
    }
}

/// What one cached response is stored under.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct CacheKey {
    /// The image, exactly as requested.
    pub image_id: ImageId,
    /// Whose view of it.
    pub identity: Identity,
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::{HeaderMap, HeaderValue};

    fn names() -> Vec<HeaderName> {
        crate::config::DEFAULT_IDENTITY_HEADERS
            .iter()
            .map(|n| HeaderName::from_static(n))
            .collect()
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                HeaderName::from_bytes(name.as_bytes()).expect("name"),
                HeaderValue::from_str(value).expect("value"),
            );
        }
        map
    }

    fn id(pairs: &[(&str, &str)]) -> Identity {
        Identity::of(&headers(pairs), &names())
    }

    /// Different tokens, projects or roles give different identities;
    /// non-identity headers do not matter.
    #[test]
    fn identity_headers_decide() {
        let a = id(&[("x-auth-token", "a"), ("user-agent", "curl")]);
        assert_eq!(a, id(&[("X-Auth-Token", "a"), ("user-agent", "wget")]));
        assert_ne!(a, id(&[("x-auth-token", "b")]));
        assert_ne!(a, id(&[("x-auth-token", "a"), ("x-project-id", "p")]));
        assert_ne!(
            id(&[("x-roles", "member")]),
            id(&[("x-roles", "member,admin")])
        );
        assert_ne!(a, Identity::ANONYMOUS);
    }

    /// Absent and empty differ, a value cannot slide between headers, and
    /// the order of repeated values counts.
    #[test]
    fn framing_is_unambiguous() {
        assert_eq!(id(&[]), Identity::ANONYMOUS);
        assert_ne!(id(&[("x-auth-token", "")]), Identity::ANONYMOUS);
        assert_ne!(
            id(&[("x-auth-token", "ab")]),
            id(&[("x-auth-token", "a"), ("x-auth-token", "b")])
        );
        assert_ne!(
            id(&[("x-user-id", "u"), ("x-project-id", "")]),
            id(&[("x-user-id", ""), ("x-project-id", "u")])
        );
        assert_ne!(
            id(&[("cookie", "a"), ("cookie", "b")]),
            id(&[("cookie", "b"), ("cookie", "a")])
        );
    }

    /// Debug output never shows more than two bytes of the digest.
    #[test]
    fn debug_is_short() {
        let shown = format!("{:?}", id(&[("x-auth-token", "secret-token")]));
        assert!(shown.len() < 20, "{shown}");
        assert!(!shown.contains("secret"));
    }
}
