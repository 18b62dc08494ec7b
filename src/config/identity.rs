//! `[identity]`: Keystone (or Huawei IAM) token validation, so a new
//! token of the same user, project and roles finds the entries an older
//! one filled. Only a restart applies it.

use std::time::Duration;

use http::Uri;

use super::defaults::*;
use super::keys::{Changes, Key};
use super::reader::{Reader, usize_of};

/// The `[identity]` keys.
pub mod key {
    use super::Key;

    pub const KEYSTONE_URL: Key = Key::new("identity.keystone_url");
    pub const VALIDATION_TTL: Key = Key::new("identity.validation_ttl");
    pub const TIMEOUT: Key = Key::new("identity.timeout");
    pub const SHARE: Key = Key::new("identity.share");
    /// A secret: named in messages, never shown.
    pub const SERVICE_TOKEN: Key = Key::new("identity.service_token");
    pub const MAX_CONCURRENT_VALIDATIONS: Key = Key::new("identity.max_concurrent_validations");
    /// Every key of the section (a unit test holds it to what is read).
    pub const ALL: &[Key] = &[
        KEYSTONE_URL,
        VALIDATION_TTL,
        TIMEOUT,
        SHARE,
        SERVICE_TOKEN,
        MAX_CONCURRENT_VALIDATIONS,
    ];
}

/// Who shares cache entries among the callers of one validated scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Share {
    /// One user in one project with the same roles (and domain).
    User,
    /// Every user of a project with the same roles (and domain).
    Project,
}

/// `[identity]`; `None` when `identity.keystone_url` is empty.
#[derive(Clone, PartialEq, Eq)]
pub struct IdentityConfig {
    /// The v3 root, e.g. `https://iam.example.com/v3`.
    pub keystone_url: Uri,
    /// How long a validation is trusted (and at most until the token expires).
    pub validation_ttl: Duration,
    /// The longest a validation may take before the raw token is keyed instead.
    pub timeout: Duration,
    pub share: Share,
    /// Sent as `X-Auth-Token` (the token validated goes in
    /// `X-Subject-Token`) where policy does not let a token validate itself.
    pub service_token: Option<String>,
    /// Validation calls running at once; a token seen while they are all
    /// busy bypasses the cache instead of waiting.
    pub max_concurrent_validations: usize,
}

impl std::fmt::Debug for IdentityConfig {
    /// The service token is a secret: only whether there is one is shown.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IdentityConfig")
            .field("keystone_url", &self.keystone_url)
            .field("validation_ttl", &self.validation_ttl)
            .field("timeout", &self.timeout)
            .field("share", &self.share)
            .field(
                "service_token",
                &self.service_token.as_ref().map(|_| "<redacted>"),
            )
            .field(
                "max_concurrent_validations",
                &self.max_concurrent_validations,
            )
            .finish()
    }
}

impl IdentityConfig {
    /// Reads the section, recording what is wrong with it.
    pub(super) fn read(r: &mut Reader<'_>) -> Option<IdentityConfig> {
        let url = r.string(key::KEYSTONE_URL, DEFAULT_IDENTITY_KEYSTONE_URL);
        let validation_ttl = r.positive(key::VALIDATION_TTL, DEFAULT_IDENTITY_VALIDATION_TTL);
        let timeout = r.positive(key::TIMEOUT, DEFAULT_IDENTITY_TIMEOUT);
        let share = match r.string(key::SHARE, DEFAULT_IDENTITY_SHARE).trim() {
            "user" => Share::User,
            "project" => Share::Project,
            other => {
                r.problem(format!(
                    "{} `{other}` must be \"user\" or \"project\"",
                    key::SHARE
                ));
                Share::User
            }
        };
        let service_token = r.string(key::SERVICE_TOKEN, "").trim().to_owned();
        let max_calls = r.count(
            key::MAX_CONCURRENT_VALIDATIONS,
            DEFAULT_IDENTITY_MAX_CONCURRENT_VALIDATIONS,
        );
        if max_calls == 0 {
            r.problem(format!(
                "{} must be at least 1",
                key::MAX_CONCURRENT_VALIDATIONS
            ));
        }
        let url = url.trim().trim_end_matches('/');
        if url.is_empty() {
            return None;
        }
        let keystone_url = match url.parse::<Uri>() {
            Ok(uri)
                if matches!(uri.scheme_str(), Some("http" | "https")) && uri.host().is_some() =>
            {
                uri
            }
            _ => {
                r.problem(format!(
                    "{} `{url}` must be an http:// or https:// URL such as https://iam.example.com/v3",
                    key::KEYSTONE_URL
                ));
                return None;
            }
        };
        Some(IdentityConfig {
            keystone_url,
            validation_ttl,
            timeout,
            share,
            service_token: (!service_token.is_empty()).then_some(service_token),
            max_concurrent_validations: usize_of(max_calls.max(1)),
        })
    }

    /// The keys whose values differ between two (maybe absent) sections.
    pub fn diff_section(running: Option<&Self>, file: Option<&Self>) -> Vec<&'static str> {
        match (running, file) {
            (None, None) => Vec::new(),
            (Some(a), Some(b)) => a.diff(b),
            _ => vec![key::KEYSTONE_URL.path()],
        }
    }

    /// The keys whose values differ in `file`.
    pub fn diff(&self, file: &Self) -> Vec<&'static str> {
        // No `..`: a new field does not compile until it is compared here.
        let Self {
            keystone_url,
            validation_ttl,
            timeout,
            share,
            service_token,
            max_concurrent_validations,
        } = self;
        let mut changes = Changes::default();
        changes.check(key::KEYSTONE_URL, keystone_url, &file.keystone_url);
        changes.check(key::VALIDATION_TTL, validation_ttl, &file.validation_ttl);
        changes.check(key::TIMEOUT, timeout, &file.timeout);
        changes.check(key::SHARE, share, &file.share);
        changes.check(key::SERVICE_TOKEN, service_token, &file.service_token);
        changes.check(
            key::MAX_CONCURRENT_VALIDATIONS,
            max_concurrent_validations,
            &file.max_concurrent_validations,
        );
        changes.into_keys()
    }
}
