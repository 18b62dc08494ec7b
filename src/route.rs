//! Request classification, as pure functions over method, path and query:
//! an image read (cacheable), an image write (invalidates: the table of
//! Glance's and IMS's writes is in [`writes`]), a poll of an IMS
//! asynchronous job, or anything else (forwarded untouched).

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
    /// the images it names once the upstream accepts it.
    ImageWrite(Write),
    /// `GET /v1/{project_id}/jobs/{job_id}` (or IMS's progress call
    /// `GET /v1/cloudimages/job/{job_id}`): forwarded; a job seen to end
    /// releases the images its write named.
    JobPoll(String),
    /// Everything else: forwarded as is.
    Other,
}

pub use writes::{BodyIds, Write};

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
            return writes::job_poll(path);
        };
        let segments = &segments[..count];
        return match query {
            None => image_read(segments),
            Some(_) => image_list(segments),
        };
    }
    match decode_segments(path) {
        Some(segments) => writes::classify(method, &segments),
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
pub(crate) fn decode_segments(path: &str) -> Option<Vec<Cow<'_, str>>> {
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

/// `v2`, or `v2.N` with N digits (Glance's minor-version aliases).
pub(crate) fn is_api_version(segment: &str) -> bool {
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
pub(crate) fn is_plain_segment(segment: &str) -> bool {
    !segment.is_empty() && segment != "." && segment != ".." && !segment.contains('/')
}

mod writes;

#[cfg(test)]
mod tests;
