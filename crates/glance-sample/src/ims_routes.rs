//! IMS's own paths (Huawei Cloud / OTC "extension APIs") as pure
//! functions, beside Glance's in `routes`. Asked only for paths Glance's
//! routes do not know, so a Glance path never lands here.

use percent_encoding::percent_decode_str;

/// An IMS resource.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ImsRoute<'a> {
    /// `/v2/cloudimages/{image_id}` (updating image information)
    CloudImage(&'a str),
    /// `/v1/cloudimages/{image_id}/upload` (registering an image file)
    Register(&'a str),
    /// `/v1/cloudimages/members` (members in batches)
    Members,
    /// `/v1/cloudimages/tags` (adding or modifying a tag)
    V1Tags,
    /// `/v1/{project_id}/jobs/{job_id}` (asynchronous job status)
    Job(&'a str),
    /// `/v1.1/images/{image_id}` (the legacy native API)
    LegacyImage(&'a str),
    /// `/v2/{project_id}/images/{image_id}/tags`
    Tags(&'a str),
    /// `/v2/{project_id}/images/{image_id}/tags/{key}` (key decoded);
    /// `POST …/tags/action` is the batch operation.
    Tag(&'a str, String),
}

impl ImsRoute<'_> {
    /// The `Allow` list for a 405.
    pub fn allow(&self) -> &'static str {
        match self {
            ImsRoute::CloudImage(_) => "PATCH",
            ImsRoute::Register(_) | ImsRoute::V1Tags => "PUT",
            ImsRoute::Members => "POST, PUT, DELETE",
            ImsRoute::Job(_) => "GET",
            ImsRoute::LegacyImage(_) => "DELETE",
            ImsRoute::Tags(_) => "GET, POST",
            ImsRoute::Tag(..) => "POST, DELETE",
        }
    }
}

/// The IMS resource a path names, if any. Project ids in paths are not
/// checked: the token says who the caller is.
pub fn parse(path: &str) -> Option<ImsRoute<'_>> {
    let segments: Vec<&str> = path.split('/').skip(1).collect();
    let id = |s: &&str| !s.is_empty();
    Some(match segments.as_slice() {
        ["v2", "cloudimages", image] if id(image) => ImsRoute::CloudImage(image),
        ["v1", "cloudimages", "members"] => ImsRoute::Members,
        ["v1", "cloudimages", "tags"] => ImsRoute::V1Tags,
        ["v1", "cloudimages", image, "upload"] if id(image) => ImsRoute::Register(image),
        ["v1", project, "jobs", job] if id(project) && id(job) => ImsRoute::Job(job),
        ["v1.1", "images", image] if id(image) => ImsRoute::LegacyImage(image),
        ["v2", project, "images", image, "tags"] if id(project) && id(image) => {
            ImsRoute::Tags(image)
        }
        ["v2", project, "images", image, "tags", key] if id(project) && id(image) && id(key) => {
            ImsRoute::Tag(
                image,
                percent_decode_str(key).decode_utf8_lossy().into_owned(),
            )
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every documented path parses; near misses do not.
    #[test]
    fn ims_paths() {
        assert_eq!(parse("/v2/cloudimages/a"), Some(ImsRoute::CloudImage("a")));
        assert_eq!(
            parse("/v1/cloudimages/a/upload"),
            Some(ImsRoute::Register("a"))
        );
        assert_eq!(parse("/v1/cloudimages/members"), Some(ImsRoute::Members));
        assert_eq!(parse("/v1/cloudimages/tags"), Some(ImsRoute::V1Tags));
        assert_eq!(parse("/v1/p/jobs/j"), Some(ImsRoute::Job("j")));
        assert_eq!(parse("/v1.1/images/a"), Some(ImsRoute::LegacyImage("a")));
        assert_eq!(parse("/v2/p/images/a/tags"), Some(ImsRoute::Tags("a")));
        assert_eq!(
            parse("/v2/p/images/a/tags/k%201"),
            Some(ImsRoute::Tag("a", "k 1".into()))
        );
        for miss in [
            "/v2/cloudimages/",
            "/v1/p/jobs/",
            "/v1.1/images",
            "/v2/p/images/a",
            "/v3/x",
        ] {
            assert_eq!(parse(miss), None, "{miss}");
        }
    }
}
