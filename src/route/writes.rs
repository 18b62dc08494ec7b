//! The write table: every call of Glance v2 and of IMS's own API that
//! changes what `GET /v2/images/{id}` returns, where it names its images
//! (the path, or the JSON body) and whether it is asynchronous (answers a
//! job id and changes the images when the job runs). README
//! "Invalidation" lists the same table with its sources.
//!
//! A write is judged on the dot-segment-resolved path (what a normalising
//! upstream sees) and on the literal one (what a non-normalising upstream
//! sees). Any other method on an image path (`OPTIONS`, `FOO`, a
//! lower-case `patch`: the upstream answers 405 or 404) changes nothing,
//! so it purges nothing.

use std::borrow::Cow;

use http::Method;

use super::{ImageId, Route, decode_segments, is_api_version, is_plain_segment};

/// A write, as far as the cache is concerned.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Write {
    /// Images named in the path (one, or two when dot segments make the
    /// target ambiguous).
    pub ids: Vec<ImageId>,
    /// Images named in the request's JSON body instead.
    pub body: Option<BodyIds>,
    /// The upstream answers `{"job_id": …}` and changes the images when
    /// the job runs.
    pub asynchronous: bool,
}

/// Where in a JSON request body a write names its images.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyIds {
    /// `{"images": ["id", …]}`: IMS's member batch calls.
    ImagesArray,
    /// `{"image_id": "id"}`: IMS's `PUT /v1/cloudimages/tags`.
    ImageIdField,
}

impl BodyIds {
    /// The ids in `body`; `None` when the body is not JSON of the
    /// expected shape (the caller then invalidates conservatively).
    pub fn read(self, body: &[u8]) -> Option<Vec<ImageId>> {
        let value: serde_json::Value = serde_json::from_slice(body).ok()?;
        match self {
            BodyIds::ImagesArray => value
                .get("images")?
                .as_array()?
                .iter()
                .map(|id| id.as_str().filter(|id| !id.is_empty()).map(ImageId::new))
                .collect(),
            BodyIds::ImageIdField => value
                .get("image_id")?
                .as_str()
                .filter(|id| !id.is_empty())
                .map(|id| vec![ImageId::new(id)]),
        }
    }
}

/// Classifies a non-GET request by its decoded path segments.
pub(super) fn classify(method: &Method, segments: &[Cow<'_, str>]) -> Route {
    let literal: Vec<&str> = segments
        .iter()
        .map(|s| s.as_ref())
        .filter(|s| !s.is_empty())
        .collect();
    let resolved = resolve_dot_segments(&literal);
    let mut write: Option<Write> = None;
    for target in [target(method, &resolved), target(method, &literal)]
        .into_iter()
        .flatten()
    {
        let merged = write.get_or_insert_with(|| Write {
            ids: Vec::new(),
            body: target.body,
            asynchronous: target.asynchronous,
        });
        merged.asynchronous |= target.asynchronous;
        merged.body = merged.body.or(target.body);
        if let Some(id) = target.id
            && !merged.ids.iter().any(|known| known.as_str() == id)
        {
            merged.ids.push(ImageId::new(id));
        }
    }
    match write {
        Some(write) => Route::ImageWrite(write),
        None => Route::Other,
    }
}

/// What one reading of a path names.
struct Target<'a> {
    id: Option<&'a str>,
    body: Option<BodyIds>,
    asynchronous: bool,
}

impl<'a> Target<'a> {
    fn path(id: &'a str) -> Option<Target<'a>> {
        is_plain_segment(id).then_some(Target {
            id: Some(id),
            body: None,
            asynchronous: false,
        })
    }

    fn body(ids: BodyIds, asynchronous: bool) -> Option<Target<'a>> {
        Some(Target {
            id: None,
            body: Some(ids),
            asynchronous,
        })
    }

    fn asynchronous(mut self) -> Target<'a> {
        self.asynchronous = true;
        self
    }
}

/// The images a write method changes at this path, if it is a write.
fn target<'a>(method: &Method, segments: &[&'a str]) -> Option<Target<'a>> {
    let (version, rest) = segments.split_first()?;
    match *version {
        "v1" => ims_v1(method, rest),
        "v1.1" => match rest {
            // The legacy native delete (IMS: "abandoned, not recommended").
            ["images", id] if method == Method::DELETE => Target::path(id),
            _ => None,
        },
        v2 if is_api_version(v2) => glance_v2(method, rest).or_else(|| ims_v2(method, rest)),
        _ => None,
    }
}

/// Glance v2's image-changing calls (Glance API reference).
fn glance_v2<'a>(method: &Method, rest: &[&'a str]) -> Option<Target<'a>> {
    let (id, writes) = match rest {
        ["images", id, tail @ ..] => (*id, image_write_methods(tail)),
        ["stores", _store, id] => (*id, &[Method::DELETE][..]),
        _ => return None,
    };
    writes.contains(method).then(|| Target::path(id)).flatten()
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

/// IMS's own v2 calls: "Updating Image Information" and the image tag
/// calls under a project id.
fn ims_v2<'a>(method: &Method, rest: &[&'a str]) -> Option<Target<'a>> {
    match (method, rest) {
        (&Method::PATCH, ["cloudimages", id]) => Target::path(id),
        (&Method::POST, [_, "images", id, "tags"])
        | (&Method::POST, [_, "images", id, "tags", "action"])
        | (&Method::DELETE, [_, "images", id, "tags", _]) => Target::path(id),
        _ => None,
    }
}

/// IMS's v1 calls: registering an image file (asynchronous), the member
/// batch calls (asynchronous, ids in the body), the v1 tag call (id in
/// the body) and Huawei Cloud's batch tag delete.
fn ims_v1<'a>(method: &Method, rest: &[&'a str]) -> Option<Target<'a>> {
    match (method, rest) {
        (&Method::PUT, ["cloudimages", id, "upload"]) => Target::path(id).map(Target::asynchronous),
        (&Method::POST | &Method::PUT | &Method::DELETE, ["cloudimages", "members"]) => {
            Target::body(BodyIds::ImagesArray, true)
        }
        (&Method::PUT, ["cloudimages", "tags"]) => Target::body(BodyIds::ImageIdField, false),
        (&Method::DELETE, [_project, "cloudimages", id, "tags", "delete"]) => Target::path(id),
        _ => None,
    }
}

/// A poll of an IMS job: `GET /v1/{project_id}/jobs/{job_id}` or
/// `GET /v1/cloudimages/job/{job_id}`.
pub(super) fn job_poll(path: &str) -> Route {
    let Some(segments) = decode_segments(path) else {
        return Route::Other;
    };
    match segments.iter().map(|s| s.as_ref()).collect::<Vec<&str>>()[..] {
        ["v1", _, "jobs", job] | ["v1", "cloudimages", "job", job] if is_plain_segment(job) => {
            Route::JobPoll(job.to_owned())
        }
        _ => Route::Other,
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
