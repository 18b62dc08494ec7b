//! Header rewriting at the proxy boundary: hop-by-hop headers dropped in
//! both directions (RFC 9110 §7.6.1), forwarding headers added to requests.

use std::net::IpAddr;

use http::Version;
use http::header::{self, HeaderMap, HeaderName, HeaderValue};

pub use crate::hop_by_hop::{is_hop_by_hop, strip_hop_by_hop};

/// The longest `X-Openstack-Request-Id` forwarded; longer ones would be
/// rejected or truncated upstream and only confuse tracing.
pub const MAX_REQUEST_ID_LEN: usize = 64;

/// `x-openstack-request-id`, the OpenStack request-tracing header.
pub static REQUEST_ID: HeaderName = HeaderName::from_static("x-openstack-request-id");
static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
static X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");

/// Rewrites a client's request headers for the upstream: hop-by-hop out,
/// `Host` left for the client to set from the upstream URI, forwarding
/// headers added (`X-Forwarded-Proto: https` when the client came over
/// TLS: Glance builds its links from it), an over-long request id dropped.
pub fn rewrite_request(headers: &mut HeaderMap, client_ip: IpAddr, version: Version, tls: bool) {
    strip_hop_by_hop(headers);
    headers.remove(header::HOST);
    append_to_list(headers, &X_FORWARDED_FOR, &client_ip.to_string());
    let proto = if tls { "https" } else { "http" };
    headers.insert(X_FORWARDED_PROTO.clone(), HeaderValue::from_static(proto));
    append_to_list(headers, &header::VIA, via_entry(version));
    let too_long = headers
        .get(&REQUEST_ID)
        .is_some_and(|v| v.len() > MAX_REQUEST_ID_LEN);
    if too_long {
        headers.remove(&REQUEST_ID);
    }
}

/// Our `Via` entry: the protocol version we received, and our name.
fn via_entry(version: Version) -> &'static str {
    match version {
        Version::HTTP_10 => "1.0 imgcache",
        Version::HTTP_2 => "2 imgcache",
        _ => "1.1 imgcache",
    }
}

/// Appends `item` to a comma-separated list header, folding any repeated
/// header lines into one so upstreams that read only the first line see
/// the whole list.
fn append_to_list(headers: &mut HeaderMap, name: &HeaderName, item: &str) {
    let mut joined = String::new();
    for value in headers.get_all(name) {
        if let Ok(text) = value.to_str() {
            joined.push_str(text);
            joined.push_str(", ");
        }
    }
    joined.push_str(item);
    if let Ok(value) = HeaderValue::from_str(&joined) {
        headers.insert(name.clone(), value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.append(
                HeaderName::from_bytes(name.as_bytes()).expect("name"),
                HeaderValue::from_str(value).expect("value"),
            );
        }
        headers
    }

    /// The fixed hop-by-hop set and anything `Connection` names are gone;
    /// end-to-end headers stay.
    #[test]
    fn hop_by_hop_headers_are_dropped() {
        let mut headers = map(&[
            ("connection", "close, X-Custom-Hop"),
            ("connection", "x-second"),
            ("keep-alive", "timeout=5"),
            ("te", "trailers"),
            ("transfer-encoding", "chunked"),
            ("upgrade", "h2c"),
            ("proxy-authorization", "Basic Zm9v"),
            ("x-custom-hop", "1"),
            ("x-second", "2"),
            ("x-auth-token", "keep"),
            ("accept", "*/*"),
        ]);
        strip_hop_by_hop(&mut headers);
        let left: Vec<&str> = headers.keys().map(|k| k.as_str()).collect();
        assert_eq!(left, ["x-auth-token", "accept"]);
    }

    /// Forwarding headers are added (folded into existing lists), `Host`
    /// is removed, and an over-long request id is not forwarded.
    #[test]
    fn request_rewrite() {
        let long_id = "req-".to_owned() + &"a".repeat(61);
        let mut headers = map(&[
            ("host", "proxy.local"),
            ("x-forwarded-for", "10.0.0.1"),
            ("x-forwarded-for", "10.0.0.2"),
            ("via", "1.1 edge"),
            ("x-openstack-request-id", &long_id),
        ]);
        rewrite_request(
            &mut headers,
            "192.0.2.7".parse().expect("ip"),
            Version::HTTP_11,
            false,
        );
        assert!(headers.get("host").is_none());
        assert_eq!(headers["x-forwarded-for"], "10.0.0.1, 10.0.0.2, 192.0.2.7");
        assert_eq!(headers["x-forwarded-proto"], "http");
        assert_eq!(headers["via"], "1.1 edge, 1.1 imgcache");
        assert!(headers.get("x-openstack-request-id").is_none());

        let ok_id = "req-".to_owned() + &"b".repeat(60);
        let mut headers = map(&[("x-openstack-request-id", &ok_id)]);
        rewrite_request(
            &mut headers,
            "::1".parse().expect("ip"),
            Version::HTTP_2,
            true,
        );
        assert_eq!(headers["x-openstack-request-id"], ok_id.as_str());
        assert_eq!(headers["via"], "2 imgcache");
        assert_eq!(headers["x-forwarded-proto"], "https", "a TLS client");
    }
}
