//! The effective configuration as TOML, for `--check-config`: every key
//! of every section with the value the proxy runs with (file, env and
//! flags applied, defaults filled in), in file order, so the output can
//! be read, diffed and fed back as a config file.
//!
//! Secrets never show. Which keys hold one is a naming rule, not a list
//! to keep up to date: a key named `sk`, or ending in `token`, `secret`
//! or `password` (at any depth: inside `[[signing.credentials]]` too) is
//! written as [`REDACTED`]; a URL's password (`redis://user:pw@host`)
//! is replaced the same way, the user and host kept.

use std::fmt::Write as _;
use std::net::SocketAddr;
use std::time::Duration;

use super::keys::Key;
use super::units::format_duration;

/// What a secret prints as.
pub const REDACTED: &str = "<redacted>";

/// A setting's value as TOML.
pub(super) trait Effective {
    fn effective(&self) -> toml::Value;
}

impl Effective for String {
    fn effective(&self) -> toml::Value {
        toml::Value::String(self.clone())
    }
}

impl Effective for Duration {
    fn effective(&self) -> toml::Value {
        toml::Value::String(format_duration(*self))
    }
}

impl Effective for u64 {
    fn effective(&self) -> toml::Value {
        // TOML integers are i64; a larger count is written as a string
        // rather than wrapped.
        match i64::try_from(*self) {
            Ok(n) => toml::Value::Integer(n),
            Err(_) => toml::Value::String(self.to_string()),
        }
    }
}

impl Effective for bool {
    fn effective(&self) -> toml::Value {
        toml::Value::Boolean(*self)
    }
}

impl Effective for Vec<String> {
    fn effective(&self) -> toml::Value {
        toml::Value::Array(self.iter().map(|s| s.effective()).collect())
    }
}

impl Effective for SocketAddr {
    fn effective(&self) -> toml::Value {
        toml::Value::String(self.to_string())
    }
}

impl Effective for Vec<(usize, toml::Table)> {
    fn effective(&self) -> toml::Value {
        toml::Value::Array(
            self.iter()
                .map(|(_, table)| toml::Value::Table(table.clone()))
                .collect(),
        )
    }
}

/// Whether a key (or a field of a table under one) holds a secret.
pub fn is_secret(name: &str) -> bool {
    name == "sk"
        || name.ends_with("token")
        || name.ends_with("secret")
        || name.ends_with("password")
}

/// `value` with every secret in it replaced by [`REDACTED`].
pub fn redact(name: &str, value: toml::Value) -> toml::Value {
    match value {
        toml::Value::String(s) if is_secret(name) && !s.is_empty() => {
            toml::Value::String(REDACTED.to_owned())
        }
        toml::Value::String(s) => toml::Value::String(redact_url_password(&s)),
        toml::Value::Array(items) => {
            toml::Value::Array(items.into_iter().map(|v| redact(name, v)).collect())
        }
        toml::Value::Table(table) => toml::Value::Table(
            table
                .into_iter()
                .map(|(field, v)| {
                    let v = redact(&field, v);
                    (field, v)
                })
                .collect(),
        ),
        _ if is_secret(name) => toml::Value::String(REDACTED.to_owned()),
        other => other,
    }
}

/// `scheme://user:password@host…` with the password replaced; any other
/// text unchanged.
pub fn redact_url_password(text: &str) -> String {
    let Some((scheme, rest)) = text.split_once("://") else {
        return text.to_owned();
    };
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = &rest[..authority_end];
    let Some((userinfo, host)) = authority.rsplit_once('@') else {
        return text.to_owned();
    };
    let Some((user, _password)) = userinfo.split_once(':') else {
        return text.to_owned();
    };
    format!(
        "{scheme}://{user}:{REDACTED}@{host}{}",
        &rest[authority_end..]
    )
}

/// Writes `[section]` and its keys, in the order given, redacted.
pub(super) fn write_section(out: &mut String, keys: &[(Key, toml::Value)]) {
    let Some((first, _)) = keys.first() else {
        return;
    };
    let _ = writeln!(out, "[{}]", first.section());
    for (key, value) in keys {
        let value = redact(key.name(), value.clone());
        let _ = writeln!(out, "{} = {value}", key.name());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Secret names by the rule, and names that only look close.
    #[test]
    fn secret_names_follow_the_rule() {
        for name in ["token", "service_token", "key_secret", "sk", "password"] {
            assert!(is_secret(name), "{name}");
        }
        for name in ["sk_file", "sk_env", "ak", "url", "tokens_seen", "listen"] {
            assert!(!is_secret(name), "{name}");
        }
    }

    /// A URL keeps its user and host; only the password goes.
    #[test]
    fn url_passwords_are_replaced() {
        assert_eq!(
            redact_url_password("redis://app:hunter2@cache:6379/0"),
            "redis://app:<redacted>@cache:6379/0"
        );
        assert_eq!(
            redact_url_password("rediss://:hunter2@cache"),
            "rediss://:<redacted>@cache"
        );
        assert_eq!(
            redact_url_password("redis://cache:6379"),
            "redis://cache:6379"
        );
        assert_eq!(redact_url_password("not a url"), "not a url");
    }

    /// Secrets inside tables of a list are found by their field names.
    #[test]
    fn secrets_inside_tables_are_redacted() {
        let table: toml::Table =
            toml::from_str("ak = \"AK1\"\nsk = \"s3cret\"\nsk_file = \"/run/sk\"").expect("toml");
        let redacted = redact(
            "credentials",
            toml::Value::Array(vec![toml::Value::Table(table)]),
        );
        let text = redacted.to_string();
        assert!(text.contains("AK1"), "{text}");
        assert!(text.contains("/run/sk"), "{text}");
        assert!(!text.contains("s3cret"), "{text}");
    }
}
