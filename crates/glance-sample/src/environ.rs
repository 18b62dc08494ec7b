//! The request headers as a WSGI Glance reads them: uWSGI and gunicorn
//! put each header in the environ under `HTTP_` + its name upper-cased
//! with `-` turned into `_`, so `X-Auth-Token`, `x_auth_token` and
//! `X_AUTH_TOKEN` are one key (`HTTP_X_AUTH_TOKEN`), and the values of
//! every line under one key are joined with `,`.
//!
//! keystonemiddleware and oslo.context then read that environ: the sample
//! authenticates from this view, so a proxy that keys on one spelling
//! while the upstream reads another shows up in the tests as it would in
//! front of the real thing.

use std::collections::HashMap;

use http::HeaderMap;

/// One environ variable: the joined value, and how many header lines
/// made it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Var {
    /// `None` when a line is not visible ASCII (`HeaderValue::to_str`
    /// refuses it): the variable is there, but nothing can read it.
    text: Option<String>,
    lines: usize,
}

impl Var {
    /// The value as text (all lines joined with `,`).
    pub fn text(&self) -> Option<&str> {
        self.text.as_deref()
    }

    /// How many header lines were joined into it.
    pub fn lines(&self) -> usize {
        self.lines
    }
}

/// The `HTTP_*` part of a WSGI environ.
#[derive(Debug, Default)]
pub struct Environ {
    vars: HashMap<String, Var>,
}

impl Environ {
    /// Builds the view. Lines of one header name are joined in wire order
    /// (a `HeaderMap` keeps each name's values in order). Lines of names
    /// that fold together (`x_auth_token` and `x-auth-token`) are joined
    /// in the order the map yields its names, which is the order each
    /// name first appeared: wire order unless the spellings interleave,
    /// close enough for a fake (a WSGI server joins strictly in wire
    /// order).
    pub fn of(headers: &HeaderMap) -> Environ {
        let mut vars: HashMap<String, Var> = HashMap::new();
        for (name, value) in headers {
            let key = format!(
                "HTTP_{}",
                name.as_str().to_ascii_uppercase().replace('-', "_")
            );
            let text = value.to_str().ok();
            match vars.get_mut(&key) {
                Some(var) => {
                    var.lines += 1;
                    var.text = match (var.text.take(), text) {
                        (Some(joined), Some(text)) => Some(format!("{joined},{text}")),
                        _ => None,
                    };
                }
                None => {
                    let text = text.map(str::to_owned);
                    vars.insert(key, Var { text, lines: 1 });
                }
            }
        }
        Environ { vars }
    }

    /// The variable `key` (`HTTP_X_AUTH_TOKEN`), if any line made it.
    pub fn get(&self, key: &str) -> Option<&Var> {
        self.vars.get(key)
    }

    /// The first of `keys` that is present, as oslo.context's
    /// `from_environ` and keystonemiddleware's `headers.get(a,
    /// headers.get(b))` pick: present wins, even when empty.
    pub fn first(&self, keys: &[&str]) -> Option<&Var> {
        keys.iter().find_map(|key| self.get(key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::{HeaderName, HeaderValue};

    fn map(pairs: &[(&str, &[u8])]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.append(
                HeaderName::from_bytes(name.as_bytes()).expect("name"),
                HeaderValue::from_bytes(value).expect("value"),
            );
        }
        headers
    }

    fn text<'a>(environ: &'a Environ, key: &str) -> Option<&'a str> {
        environ.get(key).and_then(Var::text)
    }

    /// Dash and underscore spellings in any case are one variable.
    #[test]
    fn spellings_fold_into_one_key() {
        for name in [
            "X-Auth-Token",
            "x_auth_token",
            "X_AUTH_TOKEN",
            "x-AUTH_token",
        ] {
            let environ = Environ::of(&map(&[(name, b"t")]));
            assert_eq!(text(&environ, "HTTP_X_AUTH_TOKEN"), Some("t"), "{name}");
        }
    }

    /// Repeated lines join with `,` in wire order; folded spellings join in
    /// the order their names first appeared; the line count is kept.
    #[test]
    fn repeated_lines_join_in_order() {
        let environ = Environ::of(&map(&[
            ("x-roles", b"member"),
            ("x_roles", b"admin"),
            ("X-Roles", b" reader"),
            ("x-project-id", b""),
        ]));
        let roles = environ.get("HTTP_X_ROLES").expect("present");
        assert_eq!(roles.text(), Some("member, reader,admin"));
        assert_eq!(roles.lines(), 3);
        assert_eq!(text(&environ, "HTTP_X_PROJECT_ID"), Some(""));
        assert_eq!(environ.get("HTTP_X_TENANT_ID"), None);
    }

    /// The first present key wins, even when its value is empty.
    #[test]
    fn first_present_wins() {
        let environ = Environ::of(&map(&[("x-tenant", b"b"), ("x-tenant-id", b"")]));
        let keys = ["HTTP_X_PROJECT_ID", "HTTP_X_TENANT_ID", "HTTP_X_TENANT"];
        assert_eq!(environ.first(&keys).and_then(Var::text), Some(""));
        assert!(environ.first(&["HTTP_X_ROLES", "HTTP_X_ROLE"]).is_none());
    }

    /// A line that is not visible ASCII leaves the variable present but
    /// unreadable.
    #[test]
    fn opaque_bytes_are_present_but_unreadable() {
        let environ = Environ::of(&map(&[("x-auth-token", b"a"), ("x_auth_token", b"\xff")]));
        let var = environ.get("HTTP_X_AUTH_TOKEN").expect("present");
        assert_eq!((var.text(), var.lines()), (None, 2));
    }
}
