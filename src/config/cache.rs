//! `[cache]`: what is stored and for how long. A reload applies all of
//! it but `cache.max_bytes` (the store is sized when it is built), which
//! is read here and kept apart in [`super::Config::cache_max_bytes`].

use std::time::Duration;

use http::HeaderName;

use super::defaults::*;
use super::keys::{Changes, Key};
use super::reader::{Reader, usize_of};
use super::{IdentityHeaders, MAX_IDENTITY_HEADERS, UnderscoreHeaders};

/// The `[cache]` keys.
pub mod key {
    use super::Key;

    pub const TTL: Key = Key::new("cache.ttl");
    pub const TRANSIENT_TTL: Key = Key::new("cache.transient_ttl");
    pub const STALE_IF_ERROR: Key = Key::new("cache.stale_if_error");
    pub const STALE_WHILE_REVALIDATE: Key = Key::new("cache.stale_while_revalidate");
    pub const MAX_BYTES: Key = Key::new("cache.max_bytes");
    pub const MAX_OBJECT_BYTES: Key = Key::new("cache.max_object_bytes");
    pub const IDENTITY_HEADERS: Key = Key::new("cache.identity_headers");
    pub const UNDERSCORE_HEADERS: Key = Key::new("cache.underscore_headers");
    pub const JOB_HOLD: Key = Key::new("cache.job_hold");
    /// Every key of the section (a unit test holds it to what is read).
    pub const ALL: &[Key] = &[
        TTL,
        TRANSIENT_TTL,
        STALE_IF_ERROR,
        STALE_WHILE_REVALIDATE,
        MAX_BYTES,
        MAX_OBJECT_BYTES,
        IDENTITY_HEADERS,
        UNDERSCORE_HEADERS,
        JOB_HOLD,
    ];
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
    /// Reads the section, recording what is wrong with it.
    pub(super) fn read(r: &mut Reader<'_>) -> CacheConfig {
        let identity_headers = identity_headers(r);
        let default_underscores = UnderscoreHeaders::default().as_str();
        let underscores = r.string(key::UNDERSCORE_HEADERS, default_underscores);
        let underscore_headers = UnderscoreHeaders::parse(&underscores).unwrap_or_else(|| {
            r.problem(format!(
                "{} `{underscores}` is not one of drop, fold",
                key::UNDERSCORE_HEADERS
            ));
            UnderscoreHeaders::default()
        });
        let swr = r.duration(key::STALE_WHILE_REVALIDATE, DEFAULT_STALE_WHILE_REVALIDATE);
        let max_object_bytes = r.bytes(key::MAX_OBJECT_BYTES, DEFAULT_MAX_OBJECT_BYTES);
        CacheConfig {
            ttl: r.duration(key::TTL, DEFAULT_TTL),
            transient_ttl: r.duration(key::TRANSIENT_TTL, DEFAULT_TRANSIENT_TTL),
            stale_if_error: r.duration(key::STALE_IF_ERROR, DEFAULT_STALE_IF_ERROR),
            stale_while_revalidate: swr,
            max_object_bytes: usize_of(max_object_bytes),
            identity_headers,
            underscore_headers,
            job_hold: r.positive(key::JOB_HOLD, DEFAULT_JOB_HOLD),
        }
    }

    /// The keys whose values differ in `file`.
    pub fn diff(&self, file: &Self) -> Vec<&'static str> {
        // No `..`: a new field does not compile until it is compared here.
        let Self {
            ttl,
            transient_ttl,
            stale_if_error,
            stale_while_revalidate,
            max_object_bytes,
            identity_headers,
            underscore_headers,
            job_hold,
        } = self;
        let mut changes = Changes::default();
        changes.check(key::TTL, ttl, &file.ttl);
        changes.check(key::TRANSIENT_TTL, transient_ttl, &file.transient_ttl);
        changes.check(key::STALE_IF_ERROR, stale_if_error, &file.stale_if_error);
        changes.check(
            key::STALE_WHILE_REVALIDATE,
            stale_while_revalidate,
            &file.stale_while_revalidate,
        );
        changes.check(
            key::MAX_OBJECT_BYTES,
            max_object_bytes,
            &file.max_object_bytes,
        );
        changes.check(
            key::IDENTITY_HEADERS,
            identity_headers,
            &file.identity_headers,
        );
        changes.check(
            key::UNDERSCORE_HEADERS,
            underscore_headers,
            &file.underscore_headers,
        );
        changes.check(key::JOB_HOLD, job_hold, &file.job_hold);
        changes.into_keys()
    }
}

/// `cache.max_bytes`: the store's size, which must be more than 0.
pub(super) fn max_bytes(r: &mut Reader<'_>) -> u64 {
    let max_bytes = r.bytes(key::MAX_BYTES, DEFAULT_MAX_BYTES);
    if max_bytes == 0 {
        r.problem(format!("{} must be more than 0", key::MAX_BYTES));
    }
    max_bytes
}

/// `cache.identity_headers`: header names, lower-cased, without repeats.
fn identity_headers(r: &mut Reader<'_>) -> IdentityHeaders {
    let mut names = Vec::new();
    for name in r.list(key::IDENTITY_HEADERS, DEFAULT_IDENTITY_HEADERS) {
        let lowered = name.trim().to_ascii_lowercase();
        if lowered.contains('_') {
            r.problem(format!(
                "{}: `{name}` has a `_`: such headers never reach the upstream as sent \
                 ({}); name the `-` spelling",
                key::IDENTITY_HEADERS,
                key::UNDERSCORE_HEADERS
            ));
            continue;
        }
        match HeaderName::from_bytes(lowered.as_bytes()) {
            Ok(header) => names.push(header),
            Err(_) => r.problem(format!(
                "{}: `{name}` is not a header name",
                key::IDENTITY_HEADERS
            )),
        }
    }
    IdentityHeaders::new(names).unwrap_or_else(|| {
        r.problem(format!(
            "{} names more than {MAX_IDENTITY_HEADERS} headers",
            key::IDENTITY_HEADERS
        ));
        IdentityHeaders::none()
    })
}
