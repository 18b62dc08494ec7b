//! Cache keys: the image id and the caller's identity, a SHA-256 over the
//! configured identity headers. The hash is all that is kept; header
//! values (tokens) never leave the request.

use std::fmt;

use http::HeaderName;
use sha2::{Digest, Sha256};

pub use crate::config::{IdentityHeaders, MAX_IDENTITY_HEADERS};
use crate::request_headers::HeaderLookup;
use crate::route::ImageId;

/// A caller's identity: SHA-256 over the values of the identity headers.
/// Two requests share cache entries only when every identity header is
/// equal (absent and empty differ; the order of repeated values counts).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Identity([u8; 32]);

impl Identity {
    /// Hashes the identity headers of a request. Names are matched
    /// case-insensitively; a request with none of them gets the anonymous
    /// identity without hashing anything. One pass over the request's
    /// names finds which identity headers it has; only those are read.
    pub fn of<H: HeaderLookup + ?Sized>(headers: &H, identity: &IdentityHeaders) -> Identity {
        let present = Present::of(headers, identity);
        if present.is_empty() {
            return Identity::ANONYMOUS;
        }
        let mut hasher = Sha256::new();
        hash_headers(&mut hasher, headers, identity, &present);
        Identity(hasher.finalize().into())
    }

    /// The identity of a verified principal: `principal` (its kind and
    /// value, each part length-framed) and every identity header but
    /// `replaced` (the credential the principal was verified from). It
    /// can never equal an identity of [`Identity::of`]: the hash input
    /// starts with a byte that input never starts with.
    pub fn of_principal<H: HeaderLookup + ?Sized>(
        headers: &H,
        identity: &IdentityHeaders,
        principal: &[&[u8]],
        replaced: &[&HeaderName],
    ) -> Identity {
        let mut present = Present::of(headers, identity);
        for name in replaced {
            if let Some(position) = identity.position(name.as_str()) {
                present.remove(position);
            }
        }
        let mut hasher = Sha256::new();
        // `of` starts with a big-endian u32 position < 256: first byte 0.
        hasher.update([0xff]);
        for part in principal {
            hasher.update((part.len() as u32).to_be_bytes());
            hasher.update(part);
        }
        hasher.update([0xff]);
        hash_headers(&mut hasher, headers, identity, &present);
        Identity(hasher.finalize().into())
    }

    /// The identity of a request without any identity header.
    pub const ANONYMOUS: Identity = Identity([0; 32]);

    /// The raw digest (for keyed derivations such as a shared tier's keys).
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

/// Which identity headers a request has: a bit per configured position.
struct Present([u64; MAX_IDENTITY_HEADERS / 64]);

impl Present {
    /// One pass over the request's names.
    fn of<H: HeaderLookup + ?Sized>(headers: &H, identity: &IdentityHeaders) -> Present {
        let mut present = Present([0; MAX_IDENTITY_HEADERS / 64]);
        for name in headers.names() {
            if let Some(position) = identity.position(name) {
                present.0[position / 64] |= 1 << (position % 64);
            }
        }
        present
    }

    fn is_empty(&self) -> bool {
        self.0.iter().all(|word| *word == 0)
    }

    fn contains(&self, position: usize) -> bool {
        self.0[position / 64] & (1 << (position % 64)) != 0
    }

    fn remove(&mut self, position: usize) {
        self.0[position / 64] &= !(1 << (position % 64));
    }
}

/// Hashes the values of the present identity headers, in configured order.
fn hash_headers<H: HeaderLookup + ?Sized>(
    hasher: &mut Sha256,
    headers: &H,
    identity: &IdentityHeaders,
    present: &Present,
) {
    {
        for (position, name) in identity.names().iter().enumerate() {
            if !present.contains(position) {
                continue;
            }
            // Position + count + length framing: no two different header
            // sets can produce the same byte stream.
            hasher.update((position as u32).to_be_bytes());
            for value in headers.header_values(name) {
                hasher.update([1]);
                hasher.update((value.len() as u32).to_be_bytes());
                hasher.update(value);
            }
            hasher.update([0]);
        }
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

    fn names() -> IdentityHeaders {
        IdentityHeaders::new(
            crate::config::DEFAULT_IDENTITY_HEADERS
                .iter()
                .map(|n| HeaderName::from_static(n))
                .collect(),
        )
        .expect("a short list")
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

    /// Every alias of the default list keys apart, in any case, as its
    /// own header: `X-Tenant` and `X-Role` are identity to oslo.context.
    #[test]
    fn aliases_are_identity() {
        for name in [
            "X-Storage-Token",
            "x-tenant",
            "X-Role",
            "x-user",
            "X-Service-Roles",
            "openstack-system-scope",
            "X-Is-Admin-Project",
            "x-security-token",
        ] {
            assert_ne!(id(&[(name, "v")]), Identity::ANONYMOUS, "{name}");
            assert_ne!(id(&[(name, "v")]), id(&[(name, "w")]), "{name}");
        }
        assert_ne!(id(&[("x-tenant", "p")]), id(&[("x-project-id", "p")]));
    }

    /// The lookup matches any case and nothing else; the list keeps its
    /// order and drops repeats.
    #[test]
    fn lookup_by_name() {
        let list = IdentityHeaders::new(vec![
            HeaderName::from_static("x-roles"),
            HeaderName::from_static("cookie"),
            HeaderName::from_static("x-roles"),
            HeaderName::from_static("authorization"),
        ])
        .expect("short");
        assert_eq!(list.names().len(), 3);
        assert_eq!(list.position("X-ROLES"), Some(0));
        assert_eq!(list.position("Cookie"), Some(1));
        assert_eq!(list.position("authorization"), Some(2));
        for other in ["x-role", "x-roles-", "", "cookies", "authorizatio"] {
            assert_eq!(list.position(other), None, "{other}");
        }
        let too_many = (0..=MAX_IDENTITY_HEADERS)
            .map(|n| HeaderName::from_bytes(format!("x-{n}").as_bytes()).expect("name"))
            .collect();
        assert!(IdentityHeaders::new(too_many).is_none());
    }

    /// The raw-header identity is pinned byte for byte: keys made before
    /// principals existed (and by instances without them, sharing Redis)
    /// stay the same, and a principal's identity never equals one.
    #[test]
    fn header_identity_is_pinned() {
        let headers = [("x-auth-token", "gAAAA-token"), ("x-project-id", "p1")];
        let digest: String = id(&headers)
            .as_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(
            digest,
            "2d2ee8548c311db2c766ce79464e170d62e9c26c84042d7c0f13d44a68edc395"
        );
        let principal = Identity::of_principal(
            &self::tests::headers(&headers),
            &names(),
            &[b"keystone", b"scope"],
            &[&HeaderName::from_static("x-auth-token")],
        );
        assert_ne!(principal, id(&headers));
        assert_ne!(principal, id(&[("x-project-id", "p1")]));
        // The replaced credential does not count; everything else does.
        let other_token = Identity::of_principal(
            &self::tests::headers(&[("x-auth-token", "other"), ("x-project-id", "p1")]),
            &names(),
            &[b"keystone", b"scope"],
            &[&HeaderName::from_static("x-auth-token")],
        );
        assert_eq!(principal, other_token);
        let other_project = Identity::of_principal(
            &self::tests::headers(&[("x-auth-token", "gAAAA-token"), ("x-project-id", "p2")]),
            &names(),
            &[b"keystone", b"scope"],
            &[&HeaderName::from_static("x-auth-token")],
        );
        assert_ne!(principal, other_project);
    }

    /// Debug output never shows more than two bytes of the digest.
    #[test]
    fn debug_is_short() {
        let shown = format!("{:?}", id(&[("x-auth-token", "secret-token")]));
        assert!(shown.len() < 20, "{shown}");
        assert!(!shown.contains("secret"));
    }
}
