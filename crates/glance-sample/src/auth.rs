//! Who is asking, and what they may see: Glance behind keystonemiddleware
//! (a token) or behind a trusted front end (`X-Identity-Status` headers).
//!
//! Headers are read as a WSGI Glance reads them ([`Environ`]: `-` and `_`
//! alike, any case, repeated lines joined with `,`), through the names and
//! legacy aliases keystonemiddleware and oslo.context accept, first present
//! wins: the token from `X-Auth-Token` else `X-Storage-Token`; the project
//! from `X-Project-Id` else `X-Tenant-Id` else `X-Tenant`; the user from
//! `X-User-Id` else `X-User`; the roles from `X-Roles` else `X-Role`.
//!
//! Tokens are fake and self-describing: `user:project:roles`, roles
//! comma-separated, the whole value possibly percent-encoded (as
//! python-glanceclient sends it).

use http::HeaderMap;
use percent_encoding::percent_decode_str;

use super::environ::{Environ, Var};
use super::store::Record;

/// Where keystonemiddleware takes the user token from
/// (`_request.py`: `headers.get('X-Auth-Token', headers.get('X-Storage-Token'))`).
const TOKEN: &[&str] = &["HTTP_X_AUTH_TOKEN", "HTTP_X_STORAGE_TOKEN"];
/// oslo.context `_ENVIRON_HEADERS['project_id']`.
const PROJECT: &[&str] = &["HTTP_X_PROJECT_ID", "HTTP_X_TENANT_ID", "HTTP_X_TENANT"];
/// oslo.context `_ENVIRON_HEADERS['user_id']`.
const USER: &[&str] = &["HTTP_X_USER_ID", "HTTP_X_USER"];
/// oslo.context: `environ.get('HTTP_X_ROLES', environ.get('HTTP_X_ROLE'))`.
const ROLES: &[&str] = &["HTTP_X_ROLES", "HTTP_X_ROLE"];
const IDENTITY_STATUS: &str = "HTTP_X_IDENTITY_STATUS";

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

/// Reads the caller from the request headers, as a WSGI Glance would.
///
/// An explicit `X-Identity-Status` other than `Confirmed` and a malformed
/// token are rejected outright; a token, when present, wins over trusted
/// headers, as keystonemiddleware would overwrite them.
pub fn authenticate(headers: &HeaderMap) -> Result<Caller, Unauthenticated> {
    let environ = Environ::of(headers);
    let status = environ.get(IDENTITY_STATUS);
    if status.is_some_and(|s| {
        !s.text()
            .is_some_and(|t| t.eq_ignore_ascii_case("confirmed"))
    }) {
        return Err(Unauthenticated);
    }
    if let Some(token) = environ.first(TOKEN) {
        // Several lines joined make a value Keystone never issued: it
        // refuses it, and keystonemiddleware answers 401.
        return match token.text() {
            Some(raw) if token.lines() == 1 => parse_token(raw),
            _ => Err(Unauthenticated),
        };
    }
    let project = environ.first(PROJECT).and_then(Var::text);
    match (status, project) {
        (Some(_), Some(project)) if !project.is_empty() => Ok(Caller {
            user: environ.first(USER).and_then(Var::text).map(str::to_owned),
            project: project.to_owned(),
            roles: split_roles(environ.first(ROLES).and_then(Var::text).unwrap_or("")),
        }),
        _ => Err(Unauthenticated),
    }
}

/// The token as sent (before percent-decoding), from the header
/// keystonemiddleware reads; None without one or when it is unreadable.
pub fn raw_token(headers: &HeaderMap) -> Option<String> {
    let environ = Environ::of(headers);
    environ.first(TOKEN).and_then(Var::text).map(str::to_owned)
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

    /// Header lines in wire order, names spelled as given.
    fn lines(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                http::HeaderName::from_bytes(name.as_bytes()).expect("name"),
                HeaderValue::from_str(value).expect("value"),
            );
        }
        map
    }

    fn project(pairs: &[(&str, &str)]) -> Result<String, Unauthenticated> {
        authenticate(&lines(pairs)).map(|caller| caller.project)
    }

    /// `_` and `-` are one name in any case, as in a WSGI environ: an
    /// underscored token or trusted header authenticates.
    #[test]
    fn underscore_spellings_are_read() {
        for name in [
            "X_Auth_Token",
            "x_AUTH_token",
            "X-AUTH-TOKEN",
            "x-auth_token",
        ] {
            assert_eq!(
                project(&[(name, "u:project-a:r")]),
                Ok("project-a".into()),
                "{name}"
            );
        }
        let trusted = [
            ("X-Identity-Status", "Confirmed"),
            ("X_Project_Id", "project-b"),
        ];
        assert_eq!(project(&trusted), Ok("project-b".into()));
        let status = [("x_identity_status", "Invalid"), ("x-auth-token", "u:p:r")];
        assert_eq!(project(&status), Err(Unauthenticated));
    }

    /// The token comes from X-Auth-Token, else X-Storage-Token; a present
    /// X-Auth-Token wins even when empty or bad.
    #[test]
    fn storage_token_is_the_fallback() {
        assert_eq!(project(&[("X-Storage-Token", "u:p-s:r")]), Ok("p-s".into()));
        let both = [("X-Storage-Token", "u:p-s:r"), ("X-Auth-Token", "u:p-a:r")];
        assert_eq!(project(&both), Ok("p-a".into()));
        for auth in ["", "garbage"] {
            let shadowed = [("X-Auth-Token", auth), ("X-Storage-Token", "u:p-s:r")];
            assert_eq!(project(&shadowed), Err(Unauthenticated), "{auth:?}");
        }
    }

    /// Project from X-Project-Id, else X-Tenant-Id, else X-Tenant; user
    /// from X-User-Id, else X-User; roles from X-Roles, else X-Role. The
    /// first present name wins, even when empty.
    #[test]
    fn oslo_context_aliases() {
        let trusted = |extra: &[(&'static str, &'static str)]| {
            let mut pairs = vec![("X-Identity-Status", "Confirmed")];
            pairs.extend_from_slice(extra);
            authenticate(&lines(&pairs))
        };
        let tenant = trusted(&[("X-Tenant", "t"), ("X-User", "u"), ("X-Role", "admin")]);
        let caller = tenant.expect("legacy names");
        assert_eq!(
            (caller.project.as_str(), caller.user.as_deref()),
            ("t", Some("u"))
        );
        assert!(caller.is_admin());
        let order = trusted(&[("X-Tenant", "t"), ("X-Tenant-Id", "ti"), ("X-User", "u")]);
        assert_eq!(order.map(|c| c.project), Ok("ti".into()));
        let first = trusted(&[
            ("X-Tenant-Id", "ti"),
            ("X-Project-Id", "p"),
            ("X-User-Id", "id"),
        ]);
        let first = first.expect("project id");
        assert_eq!(
            (first.project.as_str(), first.user.as_deref()),
            ("p", Some("id"))
        );
        let empty_project = trusted(&[("X-Project-Id", ""), ("X-Tenant", "t")]);
        assert_eq!(empty_project, Err(Unauthenticated));
        let empty_roles = trusted(&[("X-Project-Id", "p"), ("X-Roles", ""), ("X-Role", "admin")]);
        assert!(!empty_roles.expect("project").is_admin());
    }

    /// Repeated lines are joined with `,`: roles add up, a project becomes
    /// one no image has, and a joined token is not one Keystone issued.
    #[test]
    fn repeated_lines_are_joined() {
        let roles = [
            ("X-Identity-Status", "Confirmed"),
            ("X-Project-Id", "p"),
            ("X-Roles", "member"),
            ("x_roles", "admin"),
        ];
        let caller = authenticate(&lines(&roles)).expect("trusted");
        assert_eq!(caller.roles, ["member", "admin"]);
        let projects = [
            ("X-Identity-Status", "Confirmed"),
            ("X-Project-Id", "a"),
            ("X_Project_Id", "b"),
        ];
        assert_eq!(project(&projects), Ok("a,b".into()));
        for tokens in [
            [("X-Auth-Token", "u:p:r"), ("X-Auth-Token", "u:p:r")],
            [("X-Auth-Token", "u:p:r"), ("X_Auth_Token", "v:q:s")],
            [("X-Auth-Token", "u:p:r"), ("x_auth_token", "")],
        ] {
            assert_eq!(project(&tokens), Err(Unauthenticated), "{tokens:?}");
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
