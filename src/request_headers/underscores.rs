//! Header names with `_`: what a WSGI upstream reads as the dash spelling.
//!
//! uWSGI, gunicorn and mod_wsgi fold `-` and `_` in header names into one
//! environ key (`X_Auth_Token` and `X-Auth-Token` both become
//! `HTTP_X_AUTH_TOKEN`), so to Glance, keystonemiddleware and oslo.context
//! `X_Auth_Token` *is* the token. A proxy that forwards such a header but
//! keys its cache on the dash spelling only would serve one caller's
//! private image to another. So such headers never reach the upstream or
//! the key as they came: by default they are dropped (nginx's
//! `underscores_in_headers off`), or, with `fold`, renamed to the dash
//! spelling before anything judges the request, so what is forwarded and
//! what is keyed are the same headers.

use std::collections::HashSet;
use std::sync::Mutex;

use http::{HeaderMap, HeaderName};

pub use crate::config::UnderscoreHeaders;

/// The policy at work on a request (the value type is config's).
impl UnderscoreHeaders {
    /// Applies the policy to a request's headers; returns how many header
    /// lines had a `_` in their name.
    pub fn apply(self, headers: &mut HeaderMap) -> usize {
        if !headers.keys().any(|name| has_underscore(name.as_str())) {
            return 0;
        }
        let underscored: Vec<HeaderName> = headers
            .keys()
            .filter(|name| has_underscore(name.as_str()))
            .cloned()
            .collect();
        let mut lines = 0;
        for name in underscored {
            note_once(name.as_str(), self);
            let http::header::Entry::Occupied(entry) = headers.entry(&name) else {
                continue;
            };
            let (_, values) = entry.remove_entry_mult();
            let values: Vec<_> = values.collect();
            lines += values.len();
            if self == UnderscoreHeaders::Fold {
                let Ok(dashed) = HeaderName::from_bytes(name.as_str().replace('_', "-").as_bytes())
                else {
                    continue;
                };
                for value in values {
                    headers.append(&dashed, value);
                }
            }
        }
        lines
    }
}

/// Whether a header name has a `_` in it.
pub fn has_underscore(name: &str) -> bool {
    name.as_bytes().contains(&b'_')
}

/// Most distinct names logged; past that, no more (clients choose names,
/// and a set they can grow without bound is a memory leak).
const MAX_NOTED: usize = 1024;

/// Logs each name once per process, at debug, escaped (`?`): a client
/// chose it.
fn note_once(name: &str, policy: UnderscoreHeaders) {
    static NOTED: Mutex<Option<HashSet<String>>> = Mutex::new(None);
    let Ok(mut noted) = NOTED.lock() else {
        return;
    };
    let noted = noted.get_or_insert_with(HashSet::new);
    if noted.len() < MAX_NOTED && noted.insert(name.to_owned()) {
        tracing::debug!(
            header = ?name,
            action = policy.as_str(),
            "request header with `_` in its name: a WSGI upstream reads it as the `-` spelling"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

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

    fn values<'a>(headers: &'a HeaderMap, name: &str) -> Vec<&'a str> {
        headers
            .get_all(name)
            .iter()
            .map(|v| v.to_str().expect("text"))
            .collect()
    }

    /// Drop removes every line whose name has `_`, in any case, and
    /// leaves the rest alone.
    #[test]
    fn drop_removes_underscored_names() {
        let mut headers = map(&[
            ("X_Auth_Token", "a"),
            ("x-auth-token", "b"),
            ("x_project_ID", "p"),
            ("x_project_ID", "q"),
            ("accept", "*/*"),
        ]);
        assert_eq!(UnderscoreHeaders::Drop.apply(&mut headers), 3);
        assert_eq!(values(&headers, "x-auth-token"), ["b"]);
        assert!(headers.keys().all(|k| !has_underscore(k.as_str())));
        assert_eq!(headers.len(), 2);
    }

    /// Fold renames to the dash spelling and appends after the dash
    /// spelling's own values, in order: what is forwarded is what is keyed.
    #[test]
    fn fold_joins_into_the_dash_spelling() {
        let mut headers = map(&[
            ("x-auth-token", "b"),
            ("X_Auth_Token", "a"),
            ("X_Auth_Token", "c"),
            ("x_roles", "member"),
        ]);
        assert_eq!(UnderscoreHeaders::Fold.apply(&mut headers), 3);
        assert_eq!(values(&headers, "x-auth-token"), ["b", "a", "c"]);
        assert_eq!(values(&headers, "x-roles"), ["member"]);
        assert!(headers.keys().all(|k| !has_underscore(k.as_str())));
    }

    /// Requests without such names are not touched (and cost one scan).
    #[test]
    fn plain_requests_are_untouched() {
        let mut headers = map(&[("x-auth-token", "a"), ("accept", "*/*")]);
        let before = headers.clone();
        for policy in [UnderscoreHeaders::Drop, UnderscoreHeaders::Fold] {
            assert_eq!(policy.apply(&mut headers), 0);
            assert_eq!(headers, before);
        }
    }
}
