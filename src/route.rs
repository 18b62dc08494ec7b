//! Request classification, as pure functions over method, path and query:
//! an image read (cacheable), an image write (invalidates), or anything
//! else (forwarded untouched). See DESIGN.md "Request flow".

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use http::Method;
use percent_encoding::percent_decode_str;

/// An image id exactly as the client sent it (percent-decoded, never
/// case-folded: some upstream databases tell `ABC` from `abc`).
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ImageId(Arc<str>);

impl ImageId {
    /// Wraps an id.
    pub fn new(id: &str) -> Self {
        ImageId(Arc::from(id))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ImageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl fmt::Display for ImageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a request is, for the proxy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// `GET /v2[.N]/images/{id}` without a query: served from the cache.
    ImageRead(ImageId),
    /// `GET /v2[.N]/images[?…]`: forwarded; its images are transformed.
    ImageList,
    /// A write that can change what an image read returns: invalidates
    /// these ids (one, or two when dot segments make the target ambiguous).
    ImageWrite(Vec<ImageId>),
    /// Everything else: forwarded as is.
    Other,
}

/// Removes the listen-side prefix; `None` when the path is outside it.
pub fn strip_prefix<'a>(path: &'a str, prefix: &str) -> Option<&'a str> {
    if prefix.is_empty() {
        return Some(path);
    }
    let rest = path.strip_prefix(prefix)?;
    (rest.is_empty() || rest.starts_with('/')).then_some(rest)
}

/// Classifies a request whose path has had the listen prefix removed.
pub fn classify(method: &Method, path: &str, query: Option<&str>) -> Route {
    if method == Method::HEAD {
        return Route::Other;
    }
    if method == Method::GET {
        // Reads and lists have at most three segments: decode those
        // without collecting anything (this runs on every cache hit).
        let mut segments: [Cow<'_, str>; 3] = Default::default();
        let Some(count) = decode_short(path, &mut segments) else {
            return Route::Other;
        };
        let segments = &segments[..count];
        return match query {
            None => image_read(segments),
            Some(_) => image_list(segments),
        };
    }
    match decode_segments(path) {
        Some(segments) => image_write(method, &segments),
        None => Route::Other,
    }
}

/// Decodes up to `out.len()` segments into `out`; `None` when there are
/// more, or the path is not absolute UTF-8.
fn decode_short<'a>(path: &'a str, out: &mut [Cow<'a, str>]) -> Option<usize> {
    let rest = path.strip_prefix('/')?;
    let mut count = 0;
    for segment in rest.split('/') {
        let slot = out.get_mut(count)?;
        *slot = percent_decode_str(segment).decode_utf8().ok()?;
        count += 1;
    }
    Some(count)
}

/// Splits a path into percent-decoded segments; `None` if it is not an
/// absolute path or decodes to something other than UTF-8.
fn decode_segments(path: &str) -> Option<Vec<Cow<'_, str>>> {
    let rest = path.strip_prefix('/')?;
    rest.split('/')
        .map(|segment| percent_decode_str(segment).decode_utf8().ok())
        .collect()
}

/// A read is exactly `v2[.N]`, `images`, one clean id segment.
fn image_read(segments: &[Cow<'_, str>]) -> Route {
    match segments {
        [version, images] if is_api_version(version) && images == "images" => Route::ImageList,
        [version, images, id]
            if is_api_version(version) && images == "images" && is_plain_segment(id) =>
        {
            Route::ImageRead(ImageId::new(id))
        }
        _ => Route::Other,
    }
}

/// A list is exactly `v2[.N]`, `images` (with a query).
fn image_list(segments: &[Cow<'_, str>]) -> Route {
    match segments {
        [version, images] if is_api_version(version) && images == "images" => Route::ImageList,
        _ => Route::Other,
    }
}

/// A write is one of Glance's image-changing calls (DESIGN.md "Facts about
/// the upstream"), judged on the dot-segment-resolved path (what a
/// normalising upstream sees) and on the literal one (what a
/// non-normalising upstream sees). Any other method on an image path
/// (`OPTIONS`, `FOO`, a lower-case `patch`: Glance answers 405 or 404)
/// changes nothing, so it purges nothing.
fn image_write(method: &Method, segments: &[Cow<'_, str>]) -> Route {
    let literal: Vec<&str> = segments
        .iter()
        .map(|s| s.as_ref())
        .filter(|s| !s.is_empty())
        .collect();
    let resolved = resolve_dot_segments(&literal);
    let mut ids: Vec<ImageId> = Vec::new();
    for candidate in [
        write_target(method, &resolved),
        write_target(method, &literal),
    ]
    .into_iter()
    .flatten()
    {
        if !ids.iter().any(|id| id.as_str() == candidate) {
            ids.push(ImageId::new(candidate));
        }
    }
    if ids.is_empty() {
        Route::Other
    } else {
        Route::ImageWrite(ids)
    }
}

/// The image a write method changes at this path, if it is one of
/// Glance's writes.
fn write_target<'a>(method: &Method, segments: &[&'a str]) -> Option<&'a str> {
    let (version, rest) = segments.split_first()?;
    if !is_api_version(version) {
        return None;
    }
    let (id, writes) = match rest {
        ["images", id, tail @ ..] => (*id, image_write_methods(tail)),
        ["stores", _store, id] => (*id, &[Method::DELETE][..]),
        _ => return None,
    };
    (is_plain_segment(id) && writes.contains(method)).then_some(id)
}

/// The methods that change an image at `/v2/images/{id}` + `tail`.
fn image_write_methods(tail: &[&str]) -> &'static [Method] {
    const PATCH_DELETE: &[Method] = &[Method::PATCH, Method::DELETE];
    const PUT_DELETE: &[Method] = &[Method::PUT, Method::DELETE];
    const PUT: &[Method] = &[Method::PUT];
    const POST: &[Method] = &[Method::POST];
    const MEMBERS: &[Method] = &[Method::POST, Method::PUT, Method::DELETE];
    match tail {
        [] => PATCH_DELETE,
        ["tags", _tag] => PUT_DELETE,
        ["file"] | ["stage"] => PUT,
        ["import"] | ["locations"] | ["actions", "deactivate" | "reactivate"] => POST,
        ["members"] | ["members", _] => MEMBERS,
        _ => &[],
    }
}

/// RFC 3986 §5.2.4 on already-split segments.
fn resolve_dot_segments<'a>(segments: &[&'a str]) -> Vec<&'a str> {
    let mut out = Vec::with_capacity(segments.len());
    for segment in segments {
        match *segment {
            "." => {}
            ".." => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

/// `v2`, or `v2.N` with N digits (Glance's minor-version aliases).
fn is_api_version(segment: &str) -> bool {
    match segment.strip_prefix("v2") {
        Some("") => true,
        Some(minor) => minor
            .strip_prefix('.')
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())),
        None => false,
    }
}

/// An id segment that means itself: not empty, not a dot segment, and no
/// `/` smuggled in as `%2F`.
fn is_plain_segment(segment: &str) -> bool {
    !segment.is_empty() && segment != "." && segment != ".." && !segment.contains('/')
}

#[cfg(test)]
mod tests;
