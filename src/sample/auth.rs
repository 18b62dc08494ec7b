//! Who is asking, and what they may see: Glance behind keystonemiddleware
//! (a token) or behind a trusted front end (`X-Identity-Status` headers).
//!
//! Tokens are fake and self-describing: `user:project:roles`, roles
//! comma-separated, the whole value possibly percent-encoded (as
//! python-glanceclient sends it).

use http::HeaderMap;
use percent_encoding::percent_decode_str;

use super::store::Record;

/// An authenticated caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    /// The user id, when the credentials name one.
    pub user: Option<String>,
    /// The project (tenant) the caller acts for.
    pub project: String,
    /// Role names.
    pub roles: Vec<String>,
}

/// The request carries no usable credentials (Glance answers 401).
#[derive(Debug, PartialEq, Eq)]
pub struct Unauthenticated;

/// Reads the caller from the request headers.
///
/// An explicit `X-Identity-Status` other than `Confirmed` and a malformed
/// token are rejected outright; a well-formed token wins over trusted
/// headers, as keystonemiddleware would overwrite them.
pub fn authenticate(headers: &HeaderMap) -> Result<Caller, Unauthenticated> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let status = header("x-identity-status");
    if status.is_some_and(|s| !s.eq_ignore_ascii_case("confirmed")) {
        return Err(Unauthenticated);
    }
    if let Some(raw) = headers.get("x-auth-token") {
        return raw
            .to_str()
            .map_err(|_| Unauthenticated)
            .and_then(parse_token);
    }
    match (status, header("x-project-id").or(header("x-tenant-id"))) {
        (Some(_), Some(project)) if !project.is_empty() => Ok(Caller {
            user: header("x-user-id").map(str::to_owned),
            project: project.to_owned(),
            roles: split_roles(header("x-roles").unwrap_or("")),
        }),
        _ => Err(Unauthenticated),
    }
}

/// Parses a `user:project:roles` token, percent-decoding it first.
fn parse_token(raw: &str) -> Result<Caller, Unauthenticated> {
    let decoded = percent_decode_str(raw)
        .decode_utf8()
        .map_err(|_| Unauthenticated)?;
    let mut parts = decoded.splitn(3, ':');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(user), Some(project), Some(roles)) if !user.is_empty() && !project.is_empty() => {
            Ok(Caller {
                user: Some(user.to_owned()),
                project: project.to_owned(),
                roles: split_roles(roles),
            })
        }
        _ => Err(Unauthenticated),
    }
}

fn split_roles(roles: &str) -> Vec<String> {
    roles
        .split(',')
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .map(str::to_owned)
        .collect()
}

impl Caller {
    /// Glance's default policy: the `admin` role sees and changes everything.
    pub fn is_admin(&self) -> bool {
        self.roles.iter().any(|r| r.eq_ignore_ascii_case("admin"))
    }

    /// Whether the caller owns the image (or is admin).
    pub fn owns(&self, image: &Record) -> bool {
        self.is_admin() || image.owner() == Some(self.project.as_str())
    }

    /// Whether the image exists for this caller: public and community
    /// images for everyone, private ones for the owner, shared ones for the
    /// owner and members. Anything else is answered like a missing image.
    pub fn can_see(&self, image: &Record) -> bool {
        match image.visibility() {
            "public" | "community" => true,
            "shared" => self.owns(image) || image.has_member(&self.project),
            _ => self.owns(image),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;
    use serde_json::json;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_static(value));
        }
        map
    }

    fn record(visibility: &str, owner: &str, members: &[&str]) -> Record {
        let fields = json!({"id": "x", "visibility": visibility, "owner": owner});
        let serde_json::Value::Object(fields) = fields else {
            panic!()
        };
        Record {
            fields,
            members: members
                .iter()
                .map(|p| super::super::store::Member {
                    project: (*p).to_owned(),
                    status: "accepted".into(),
                    created_at: String::new(),
                    updated_at: String::new(),
                })
                .collect(),
            data: None,
        }
    }

    /// A percent-encoded token decodes into user, project and roles.
    #[test]
    fn percent_encoded_token() {
        let caller = authenticate(&headers(&[(
            "x-auth-token",
            "alice%3Aproject-a%3Amember%2Creader",
        )]))
        .expect("token accepted");
        assert_eq!(caller.user.as_deref(), Some("alice"));
        assert_eq!(caller.project, "project-a");
        assert_eq!(caller.roles, ["member", "reader"]);
        assert!(!caller.is_admin());
    }

    /// Trusted headers authenticate only when Confirmed with a project.
    #[test]
    fn trusted_headers() {
        let ok = headers(&[
            ("x-identity-status", "Confirmed"),
            ("x-project-id", "project-b"),
            ("x-roles", "admin"),
        ]);
        assert!(authenticate(&ok).expect("confirmed").is_admin());
        let no_project = headers(&[("x-identity-status", "Confirmed")]);
        assert_eq!(authenticate(&no_project), Err(Unauthenticated));
        let invalid = headers(&[("x-identity-status", "Invalid"), ("x-auth-token", "a:b:c")]);
        assert_eq!(authenticate(&invalid), Err(Unauthenticated));
    }

    /// Missing credentials and malformed tokens are rejected.
    #[test]
    fn rejects_missing_and_malformed() {
        assert_eq!(authenticate(&HeaderMap::new()), Err(Unauthenticated));
        for bad in ["garbage", "a:b", ":p:r", "u::r", "%ff%fe:p:r"] {
            let mut map = HeaderMap::new();
            map.insert("x-auth-token", HeaderValue::from_str(bad).expect("ascii"));
            assert_eq!(authenticate(&map), Err(Unauthenticated), "{bad}");
        }
    }

    /// Visibility rules: private to owner, shared to owner and members.
    #[test]
    fn visibility_rules() {
        let a = Caller {
            user: None,
            project: "project-a".into(),
            roles: vec![],
        };
        let b = Caller {
            user: None,
            project: "project-b".into(),
            roles: vec![],
        };
        let admin = Caller {
            user: None,
            project: "p".into(),
            roles: vec!["admin".into()],
        };
        let private = record("private", "project-a", &[]);
        assert!(a.can_see(&private) && !b.can_see(&private) && admin.can_see(&private));
        let shared = record("shared", "project-a", &["project-b"]);
        assert!(b.can_see(&shared) && !b.owns(&shared));
        let public = record("public", "project-a", &[]);
        assert!(b.can_see(&public));
    }
}
