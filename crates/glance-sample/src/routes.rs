//! Glance v2 paths as pure functions: which resource a path names, which
//! methods it allows, and query strings the way Python's `urllib` reads and
//! writes them.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};

/// A Glance v2 resource.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Route<'a> {
    /// `/v2/images`
    Images,
    /// `/v2/images/{id}`
    Image(&'a str),
    /// `/v2/images/{id}/file`
    File(&'a str),
    /// `/v2/images/{id}/stage` (glance-direct's data)
    Stage(&'a str),
    /// `/v2/images/{id}/import`
    Import(&'a str),
    /// `/v2/images/{id}/tags/{tag}` (tag percent-decoded)
    Tag(&'a str, String),
    /// `/v2/images/{id}/actions/{action}`
    Action(&'a str, &'a str),
    /// `/v2/images/{id}/members`
    Members(&'a str),
    /// `/v2/images/{id}/members/{member}`
    Member(&'a str, &'a str),
    /// `/v2/schemas/{name}`
    Schema(&'a str),
    /// Under `/v2` but no such resource.
    Unknown,
}

impl Route<'_> {
    /// The `Allow` list Glance sends with a 405 for this resource.
    pub fn allow(&self) -> &'static str {
        match self {
            Route::Images | Route::Members(_) => "GET, POST",
            Route::Image(_) => "GET, PATCH, DELETE",
            Route::File(_) => "GET, PUT",
            Route::Stage(_) => "PUT",
            Route::Import(_) => "POST",
            Route::Tag(..) => "PUT, DELETE",
            Route::Action(..) => "POST",
            Route::Member(..) => "GET, PUT, DELETE",
            Route::Schema(_) | Route::Unknown => "GET",
        }
    }
}

/// The part of `path` after `/v2` or `/v2.N`; None when it is not a v2 path.
pub fn strip_version(path: &str) -> Option<&str> {
    let rest = path.strip_prefix("/v2")?;
    let rest = match rest.strip_prefix('.') {
        Some(minor) => {
            let digits = minor.bytes().take_while(u8::is_ascii_digit).count();
            if digits == 0 {
                return None;
            }
            &minor[digits..]
        }
        None => rest,
    };
    (rest.is_empty() || rest.starts_with('/')).then_some(rest)
}

/// The resource a v2 path names (None: not a v2 path at all).
pub fn parse(path: &str) -> Option<Route<'_>> {
    let rest = strip_version(path)?;
    let segments: Vec<&str> = rest.split('/').skip(1).collect();
    let nonempty = |s: &&str| !s.is_empty();
    Some(match segments.as_slice() {
        ["images"] => Route::Images,
        ["images", id] if nonempty(id) => Route::Image(id),
        ["images", id, "file"] if nonempty(id) => Route::File(id),
        ["images", id, "stage"] if nonempty(id) => Route::Stage(id),
        ["images", id, "import"] if nonempty(id) => Route::Import(id),
        ["images", id, "tags", tag] if nonempty(id) && nonempty(tag) => Route::Tag(id, decode(tag)),
        ["images", id, "actions", action] if nonempty(id) => Route::Action(id, action),
        ["images", id, "members"] if nonempty(id) => Route::Members(id),
        ["images", id, "members", m] if nonempty(id) && nonempty(m) => Route::Member(id, m),
        ["schemas", name] => Route::Schema(name),
        _ => Route::Unknown,
    })
}

/// Percent-decodes one path segment or query component (lossy UTF-8).
fn decode(s: &str) -> String {
    percent_decode_str(s).decode_utf8_lossy().into_owned()
}

/// `key=value` pairs of a query string, in order, decoded as
/// `urllib.parse.parse_qsl` does (`+` is a space; blank values kept).
pub fn parse_query(query: Option<&str>) -> Vec<(String, String)> {
    let Some(query) = query else {
        return Vec::new();
    };
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (decode(&k.replace('+', " ")), decode(&v.replace('+', " ")))
        })
        .collect()
}

/// What `quote_plus` leaves alone: letters, digits and `_.-~`.
const QUERY_COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'_')
    .remove(b'.')
    .remove(b'-')
    .remove(b'~');

/// Encodes pairs as Python's `urlencode` does.
pub fn encode_query(pairs: &[(String, String)]) -> String {
    let enc = |s: &str| {
        utf8_percent_encode(s, QUERY_COMPONENT)
            .to_string()
            .replace("%20", "+")
    };
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Versioned aliases map onto the same resources; other prefixes do not.
    #[test]
    fn version_aliases() {
        assert_eq!(parse("/v2/images/abc"), Some(Route::Image("abc")));
        assert_eq!(parse("/v2.1/images/abc"), Some(Route::Image("abc")));
        assert_eq!(parse("/v2.16/images"), Some(Route::Images));
        assert_eq!(parse("/v2./images"), None);
        assert_eq!(parse("/v20/images"), None);
        assert_eq!(parse("/v1/images"), None);
        assert_eq!(parse("/v2"), Some(Route::Unknown));
    }

    /// Sub-resources of an image are told apart.
    #[test]
    fn image_subresources() {
        assert_eq!(parse("/v2/images/a/file"), Some(Route::File("a")));
        assert_eq!(
            parse("/v2/images/a/tags/x%20y"),
            Some(Route::Tag("a", "x y".into()))
        );
        assert_eq!(
            parse("/v2/images/a/actions/deactivate"),
            Some(Route::Action("a", "deactivate"))
        );
        assert_eq!(parse("/v2/images/a/stage"), Some(Route::Stage("a")));
        assert_eq!(parse("/v2/images/a/import"), Some(Route::Import("a")));
        assert_eq!(parse("/v2/images/a/members"), Some(Route::Members("a")));
        assert_eq!(
            parse("/v2/images/a/members/p"),
            Some(Route::Member("a", "p"))
        );
        assert_eq!(parse("/v2/schemas/image"), Some(Route::Schema("image")));
        assert_eq!(parse("/v2/images/"), Some(Route::Unknown));
        assert_eq!(parse("/v2/images/a/b"), Some(Route::Unknown));
    }

    /// Queries decode like parse_qsl and encode like urlencode.
    #[test]
    fn query_round_trip() {
        let pairs = parse_query(Some("name=a+b%2Fc&limit=2&&flag"));
        assert_eq!(
            pairs,
            [
                ("name".into(), "a b/c".into()),
                ("limit".into(), "2".into()),
                ("flag".into(), String::new())
            ]
        );
        assert_eq!(encode_query(&pairs), "name=a+b%2Fc&limit=2&flag=");
    }
}
