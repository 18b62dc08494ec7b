//! `[identity]`: Keystone (or Huawei IAM) token validation, so a new
//! token of the same user, project and roles finds the entries an older
//! one filled. Only a restart applies it.

use std::time::Duration;

use http::Uri;

use super::defaults::*;
use super::reader::{Reader, usize_of};
use super::table::settings;

settings! {
    /// `[identity]` as written.
    IdentitySettings in "identity" {
        /// The Keystone v3 root; empty: tokens are keyed as they are.
        keystone_url: string = DEFAULT_IDENTITY_KEYSTONE_URL, Restart;
        /// How long a validation is trusted.
        validation_ttl: positive = DEFAULT_IDENTITY_VALIDATION_TTL, Restart;
        /// The longest a validation may take.
        timeout: positive = DEFAULT_IDENTITY_TIMEOUT, Restart;
        /// `user` or `project`: who shares entries.
        share: string = DEFAULT_IDENTITY_SHARE, Restart;
        /// A secret: named in messages, never shown. Empty: none.
        service_token: string = "", Restart;
        /// Validation calls at once.
        max_concurrent_validations: count = DEFAULT_IDENTITY_MAX_CONCURRENT_VALIDATIONS, Restart;
    }
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
    /// Builds the section from its settings, recording what is wrong;
    /// `None` when `identity.keystone_url` is empty.
    pub(super) fn build(s: &IdentitySettings, r: &mut Reader<'_>) -> Option<IdentityConfig> {
        // No `..`: a key nobody builds from is an unused variable.
        let IdentitySettings {
            keystone_url,
            validation_ttl,
            timeout,
            share,
            service_token,
            max_concurrent_validations,
        } = s;
        let share = match share.trim() {
            "user" => Share::User,
            "project" => Share::Project,
            other => {
                r.problem(format!(
                    "{} `{other}` must be \"user\" or \"project\"",
                    key::share
                ));
                Share::User
            }
        };
        if *max_concurrent_validations == 0 {
            r.problem(format!(
                "{} must be at least 1",
                key::max_concurrent_validations
            ));
        }
        let url = keystone_url.trim().trim_end_matches('/');
        if url.is_empty() {
            return None;
        }
        if let Err(why) = super::upstream::check_url_authority(url) {
            r.problem(format!("{} {why}", key::keystone_url));
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
                    key::keystone_url
                ));
                return None;
            }
        };
        let service_token = service_token.trim();
        Some(IdentityConfig {
            keystone_url,
            validation_ttl: *validation_ttl,
            timeout: *timeout,
            share,
            service_token: (!service_token.is_empty()).then(|| service_token.to_owned()),
            max_concurrent_validations: usize_of((*max_concurrent_validations).max(1)),
        })
    }
}
