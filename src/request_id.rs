//! The request id a person follows from a client's error report to our
//! access line and Glance's log: the client's own when it sent a sane one
//! (`X-Openstack-Request-Id`, then `X-Request-Id`), else the upstream's
//! answer, else one made here (`req-<uuid v4>`, Glance's own form).
//!
//! "Sane" is a short run of `[A-Za-z0-9._:-]`: nothing a client sends can
//! break a log line or a header. The id lives inline (no allocation), so
//! carrying it to the access log costs a copy of 65 bytes.

use http::HeaderValue;
use http::header::HeaderName;

use crate::request_headers::HeaderLookup;

/// The longest id taken from a client or the upstream (and forwarded).
pub const MAX_LEN: usize = 64;

/// `x-openstack-request-id`, the OpenStack request-tracing header.
pub static OPENSTACK: HeaderName = HeaderName::from_static("x-openstack-request-id");
/// `x-request-id`, the common form other tools send.
pub static GENERIC: HeaderName = HeaderName::from_static("x-request-id");

/// A request id: 1 to [`MAX_LEN`] bytes of `[A-Za-z0-9._:-]`.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct RequestId {
    len: u8,
    bytes: [u8; MAX_LEN],
}

impl RequestId {
    /// `value` as an id, when it is sane.
    pub fn parse(value: &[u8]) -> Option<RequestId> {
        let sane = !value.is_empty()
            && value.len() <= MAX_LEN
            && value
                .iter()
                .all(|b| b.is_ascii_alphanumeric() || b"._:-".contains(b));
        if !sane {
            return None;
        }
        let mut bytes = [0u8; MAX_LEN];
        bytes[..value.len()].copy_from_slice(value);
        Some(RequestId {
            len: value.len() as u8,
            bytes,
        })
    }

    /// The client's id: a sane `X-Openstack-Request-Id`, else a sane
    /// `X-Request-Id`.
    pub fn of_client<H: HeaderLookup + ?Sized>(headers: &H) -> Option<RequestId> {
        let sane = |name| headers.first_value(name).and_then(RequestId::parse);
        sane(&OPENSTACK).or_else(|| sane(&GENERIC))
    }

    /// A new `req-<uuid v4>` (uuid's thread-local fast RNG: tens of ns).
    pub fn generate() -> RequestId {
        let mut bytes = [0u8; MAX_LEN];
        bytes[..4].copy_from_slice(b"req-");
        uuid::Uuid::new_v4()
            .hyphenated()
            .encode_lower(&mut bytes[4..40]);
        RequestId { len: 40, bytes }
    }

    /// The id's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }

    /// The id as text (always ASCII).
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(self.as_bytes()).unwrap_or("-")
    }

    /// The id as a header value.
    pub fn header_value(&self) -> HeaderValue {
        HeaderValue::from_bytes(self.as_bytes())
            .unwrap_or_else(|_| HeaderValue::from_static("req-unknown"))
    }
}

impl std::fmt::Debug for RequestId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderMap;

    /// Glance's form and other short safe ids are taken; anything that
    /// could break a log line or is too long is not.
    #[test]
    fn sane_ids_only() {
        let glance = "req-0b6fd9c6-7b8e-4a3e-9d55-5d3b0c0e4f11";
        assert_eq!(
            RequestId::parse(glance.as_bytes()).expect("ok").as_str(),
            glance
        );
        assert!(RequestId::parse(b"trace:abc_1.2").is_some());
        for bad in [
            &b""[..],
            b"a b",
            b"x\"y",
            b"x\ny",
            b"x\\y",
            "é".as_bytes(),
            &[b'a'; MAX_LEN + 1],
        ] {
            assert!(RequestId::parse(bad).is_none(), "{bad:?}");
        }
        assert!(RequestId::parse(&[b'a'; MAX_LEN]).is_some());
    }

    /// `X-Openstack-Request-Id` first, then `X-Request-Id`; an insane
    /// first one does not hide a sane second one.
    #[test]
    fn client_headers_in_order() {
        let mut headers = HeaderMap::new();
        assert!(RequestId::of_client(&headers).is_none());
        headers.insert("x-request-id", HeaderValue::from_static("generic-1"));
        assert_eq!(
            RequestId::of_client(&headers).expect("id").as_str(),
            "generic-1"
        );
        headers.insert("x-openstack-request-id", HeaderValue::from_static("bad id"));
        assert_eq!(
            RequestId::of_client(&headers).expect("id").as_str(),
            "generic-1"
        );
        headers.insert("x-openstack-request-id", HeaderValue::from_static("req-1"));
        assert_eq!(
            RequestId::of_client(&headers).expect("id").as_str(),
            "req-1"
        );
    }

    /// Made ids are Glance's form and differ.
    #[test]
    fn generated_ids() {
        let (a, b) = (RequestId::generate(), RequestId::generate());
        assert_ne!(a, b);
        assert!(a.as_str().starts_with("req-") && a.as_str().len() == 40);
        assert_eq!(RequestId::parse(a.as_bytes()), Some(a));
    }
}
