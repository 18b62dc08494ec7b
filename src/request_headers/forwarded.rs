//! Request headers as the upstream will see them. The cache's decisions
//! (bypass, identity) take only [`Forwarded`] headers, so both paths key
//! on what the upstream reads: without hop-by-hop headers (those named in
//! `Connection` included), with `_` names dropped or already folded.

use http::HeaderMap;

use super::{HeaderLookup, UnderscoreHeaders, has_underscore};
use crate::hop_by_hop::{is_hop_by_hop, strip_hop_by_hop};

/// Headers the upstream would see, checked or made so. (No `Debug`: they
/// hold tokens.)
#[derive(Clone, Copy)]
pub struct Forwarded<'a, H: ?Sized> {
    headers: &'a H,
    underscored: usize,
}

impl<H: ?Sized> Forwarded<'_, H> {
    /// The headers.
    pub fn get(&self) -> &H {
        self.headers
    }

    /// Lines with `_` in their names, which are not forwarded (counted
    /// where the request is answered).
    pub fn underscored(&self) -> usize {
        self.underscored
    }
}

impl<'a> Forwarded<'a, HeaderMap> {
    /// Strips what is not forwarded from a request whose `_` names were
    /// already dropped or folded (`Proxy::route` does that first).
    pub fn strip(headers: &'a mut HeaderMap) -> Self {
        strip_hop_by_hop(headers);
        Forwarded {
            headers,
            underscored: 0,
        }
    }
}

impl<'a, 'b> Forwarded<'a, [httparse::Header<'b>]> {
    /// Raw header lines that need no change to be what the upstream sees:
    /// no hop-by-hop header but `Connection: keep-alive` or `close` (which
    /// name no other header), and no `_` name that `policy` would rename. `None`
    /// otherwise: the full path prepares such a request.
    pub fn check(headers: &'a [httparse::Header<'b>], policy: UnderscoreHeaders) -> Option<Self> {
        let mut underscored = 0;
        for header in headers {
            if header.name.eq_ignore_ascii_case("connection") {
                if !names_no_header(header.value) {
                    return None;
                }
            } else if is_hop_by_hop(header.name) {
                return None;
            } else if has_underscore(header.name) {
                underscored += 1;
            }
        }
        if underscored > 0 && policy == UnderscoreHeaders::Fold {
            return None;
        }
        Some(Forwarded {
            headers,
            underscored,
        })
    }
}

/// Raw lines as the upstream will see them: those with `_` in their
/// names are not forwarded (the only policy that lets them through
/// unchanged drops them), so nothing judges them either.
impl<'b> HeaderLookup for Forwarded<'_, [httparse::Header<'b>]> {
    fn header_values<'a>(
        &'a self,
        name: &'a http::HeaderName,
    ) -> impl Iterator<Item = &'a [u8]> + 'a {
        let hidden = self.underscored > 0 && has_underscore(name.as_str());
        self.headers.header_values(name).filter(move |_| !hidden)
    }

    fn names(&self) -> impl Iterator<Item = &str> {
        let hidden = self.underscored > 0;
        self.headers
            .iter()
            .map(|header| header.name)
            .filter(move |name| !(hidden && has_underscore(name)))
    }
}

/// `Connection: keep-alive` (python-requests, i.e. glanceclient and
/// openstacksdk, sends it on every request) or `Connection: close`
/// (one-shot clients, Tempest): they name no other header, so nothing in
/// the request changes when hop-by-hop headers are stripped.
fn names_no_header(value: &[u8]) -> bool {
    value
        .split(|b| *b == b',')
        .map(<[u8]>::trim_ascii)
        .filter(|token| !token.is_empty())
        .all(|token| {
            token.eq_ignore_ascii_case(b"keep-alive") || token.eq_ignore_ascii_case(b"close")
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines<'b>(pairs: &[(&'b str, &'b str)]) -> Vec<httparse::Header<'b>> {
        pairs
            .iter()
            .map(|(name, value)| httparse::Header {
                name,
                value: value.as_bytes(),
            })
            .collect()
    }

    /// Raw lines pass as they are only when nothing needs removing or
    /// renaming; dropped `_` names are counted.
    #[test]
    fn raw_lines() {
        let drop = UnderscoreHeaders::Drop;
        for connection in ["keep-alive", "close", "keep-alive, close"] {
            let plain = lines(&[
                ("Host", "x"),
                ("Connection", connection),
                ("X-Auth-Token", "t"),
            ]);
            assert!(Forwarded::check(&plain, drop).is_some(), "{connection}");
        }
        for hop in [
            ("Connection", "x-auth-token"),
            ("Connection", "close, x-roles"),
            ("TE", "trailers"),
            ("Keep-Alive", "5"),
        ] {
            let head = lines(&[("Host", "x"), hop]);
            assert!(Forwarded::check(&head, drop).is_none(), "{hop:?}");
        }
        let underscored = lines(&[("X_Auth_Token", "t"), ("x_roles", "admin")]);
        let checked = Forwarded::check(&underscored, drop).expect("dropped: fine as is");
        assert_eq!(checked.underscored(), 2);
        assert!(Forwarded::check(&underscored, UnderscoreHeaders::Fold).is_none());
    }

    /// A map is stripped of hop-by-hop headers and those `Connection` names.
    #[test]
    fn maps_are_stripped() {
        let mut map = HeaderMap::new();
        map.insert("connection", "x-roles".parse().expect("v"));
        map.insert("x-roles", "admin".parse().expect("v"));
        map.insert("x-auth-token", "t".parse().expect("v"));
        let forwarded = Forwarded::strip(&mut map);
        let names: Vec<&str> = forwarded.get().keys().map(|k| k.as_str()).collect();
        assert_eq!(names, ["x-auth-token"]);
    }
}
