//! `[cache]`: what is stored and for how long. A reload applies all of
//! it but `cache.max_bytes` (the store is sized when it is built), which
//! is read here and kept apart in [`super::Config::cache_max_bytes`].

use std::time::Duration;

use http::HeaderName;

use super::defaults::*;
use super::reader::{Reader, usize_of};
use super::table::settings;
use super::{IdentityHeaders, MAX_IDENTITY_HEADERS, UnderscoreHeaders};

settings! {
    /// `[cache]` as written.
    CacheSettings in "cache" {
        /// How long a stored image is fresh.
        ttl: duration = DEFAULT_TTL, Reload;
        /// How long an image in a transient state (`queued`, `saving`) is.
        transient_ttl: duration = DEFAULT_TRANSIENT_TTL, Reload;
        /// How long past freshness an entry may answer when the upstream fails.
        stale_if_error: duration = DEFAULT_STALE_IF_ERROR, Reload;
        /// How long past freshness an entry answers while it is refreshed.
        stale_while_revalidate: duration = DEFAULT_STALE_WHILE_REVALIDATE, Reload;
        /// The store's size (restart only: the store is sized when built).
        max_bytes: bytes = DEFAULT_MAX_BYTES, Restart;
        /// The largest body stored.
        max_object_bytes: bytes = DEFAULT_MAX_OBJECT_BYTES, Reload;
        /// Request headers whose values make up a caller's identity.
        identity_headers: list = DEFAULT_IDENTITY_HEADERS, Reload;
        /// What happens to request headers with `_`: `drop` or `fold`.
        underscore_headers: string = UnderscoreHeaders::default().as_str(), Reload;
        /// How long images an asynchronous write names stay uncached.
        job_hold: positive = DEFAULT_JOB_HOLD, Reload;
    }
}

/// `[cache]` but `cache.max_bytes`: what is stored and for how long.
#[derive(Debug, Clone, PartialEq)]
pub struct CacheConfig {
    pub ttl: Duration,
    pub transient_ttl: Duration,
    pub stale_if_error: Duration,
    pub stale_while_revalidate: Duration,
    pub max_object_bytes: usize,
    /// Lower-cased header names whose values make up a caller's identity.
    pub identity_headers: IdentityHeaders,
    /// What happens to request headers with `_` in their names.
    pub underscore_headers: UnderscoreHeaders,
    /// How long the images an asynchronous write (an IMS job) names stay
    /// out of the cache when nobody is seen polling the job to its end.
    pub job_hold: Duration,
}

impl CacheConfig {
    /// Builds the section but `max_bytes` from its settings, recording
    /// what is wrong.
    pub(super) fn build(s: &CacheSettings, r: &mut Reader<'_>) -> CacheConfig {
        // No `..`: a key nobody builds from is an unused variable.
        let CacheSettings {
            ttl,
            transient_ttl,
            stale_if_error,
            stale_while_revalidate,
            max_bytes: _,
            max_object_bytes,
            identity_headers,
            underscore_headers,
            job_hold,
        } = s;
        let underscore_headers =
            UnderscoreHeaders::parse(underscore_headers).unwrap_or_else(|| {
                r.problem(format!(
                    "{} `{underscore_headers}` is not one of drop, fold",
                    key::underscore_headers
                ));
                UnderscoreHeaders::default()
            });
        CacheConfig {
            ttl: *ttl,
            transient_ttl: *transient_ttl,
            stale_if_error: *stale_if_error,
            stale_while_revalidate: *stale_while_revalidate,
            max_object_bytes: usize_of(*max_object_bytes),
            identity_headers: build_identity_headers(identity_headers, r),
            underscore_headers,
            job_hold: *job_hold,
        }
    }
}

/// `cache.max_bytes`: the store's size, which must be more than 0.
pub(super) fn max_bytes(s: &CacheSettings, r: &mut Reader<'_>) -> u64 {
    if s.max_bytes == 0 {
        r.problem(format!("{} must be more than 0", key::max_bytes));
    }
    s.max_bytes
}

/// `cache.identity_headers`: header names, lower-cased, without repeats.
fn build_identity_headers(listed: &[String], r: &mut Reader<'_>) -> IdentityHeaders {
    let mut names = Vec::new();
    for name in listed {
        let lowered = name.trim().to_ascii_lowercase();
        if lowered.contains('_') {
            r.problem(format!(
                "{}: `{name}` has a `_`: such headers never reach the upstream as sent \
                 ({}); name the `-` spelling",
                key::identity_headers,
                key::underscore_headers
            ));
            continue;
        }
        match HeaderName::from_bytes(lowered.as_bytes()) {
            Ok(header) => names.push(header),
            Err(_) => r.problem(format!(
                "{}: `{name}` is not a header name",
                key::identity_headers
            )),
        }
    }
    IdentityHeaders::new(names).unwrap_or_else(|| {
        r.problem(format!(
            "{} names more than {MAX_IDENTITY_HEADERS} headers",
            key::identity_headers
        ));
        IdentityHeaders::none()
    })
}
