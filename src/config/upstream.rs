//! `[upstream]`: the image service we front. Only a restart applies it.

use std::path::PathBuf;
use std::time::Duration;

use http::Uri;

use super::defaults::*;
use super::keys::{Changes, Key};
use super::reader::{Reader, usize_of};

/// The `[upstream]` keys.
pub mod key {
    use super::Key;

    pub const URL: Key = Key::new("upstream.url");
    pub const CA_FILE: Key = Key::new("upstream.ca_file");
    pub const HTTP2: Key = Key::new("upstream.http2");
    pub const CONNECT_TIMEOUT: Key = Key::new("upstream.connect_timeout");
    pub const RESPONSE_TIMEOUT: Key = Key::new("upstream.response_timeout");
    pub const IDLE_TIMEOUT: Key = Key::new("upstream.idle_timeout");
    pub const POOL_IDLE_TIMEOUT: Key = Key::new("upstream.pool_idle_timeout");
    pub const POOL_MAX_IDLE_PER_HOST: Key = Key::new("upstream.pool_max_idle_per_host");
    pub const MAX_IN_FLIGHT: Key = Key::new("upstream.max_in_flight");
    pub const BREAKER_FAILURES: Key = Key::new("upstream.breaker_failures");
    pub const BREAKER_COOLDOWN: Key = Key::new("upstream.breaker_cooldown");
    pub const BREAKER_WINDOW: Key = Key::new("upstream.breaker_window");
    pub const BREAKER_MIN_PRINCIPALS: Key = Key::new("upstream.breaker_min_principals");
    /// Every key of the section (a unit test holds it to what is read).
    pub const ALL: &[Key] = &[
        URL,
        CA_FILE,
        HTTP2,
        CONNECT_TIMEOUT,
        RESPONSE_TIMEOUT,
        IDLE_TIMEOUT,
        POOL_IDLE_TIMEOUT,
        POOL_MAX_IDLE_PER_HOST,
        MAX_IN_FLIGHT,
        BREAKER_FAILURES,
        BREAKER_COOLDOWN,
        BREAKER_WINDOW,
        BREAKER_MIN_PRINCIPALS,
    ];
}

/// `[upstream]`: the image service we front.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamConfig {
    /// Scheme and authority, e.g. `https://ims.example.com`.
    pub origin: Uri,
    /// Base path (`/image`) prepended to every forwarded path; "" for none.
    pub base_path: String,
    pub ca_file: Option<PathBuf>,
    pub http2: bool,
    pub connect_timeout: Duration,
    pub response_timeout: Duration,
    pub idle_timeout: Duration,
    pub pool_idle_timeout: Duration,
    pub pool_max_idle_per_host: usize,
    pub max_in_flight: usize,
    /// Upstream failures of image fills within `breaker_window` that may
    /// open the circuit breaker (0: never; see `upstream::breaker`).
    pub breaker_failures: u32,
    /// How long image fills are held back once it opens.
    pub breaker_cooldown: Duration,
    /// How far back fill failures are counted.
    pub breaker_window: Duration,
    /// Distinct principals the failures must come from (connect errors
    /// excepted): one caller alone never opens the breaker.
    pub breaker_min_principals: u32,
}

impl UpstreamConfig {
    /// Reads the section, recording what is wrong with it.
    pub(super) fn read(r: &mut Reader<'_>) -> UpstreamConfig {
        let url = r.string(key::URL, DEFAULT_UPSTREAM);
        let (origin, base_path) = match parse_upstream_url(&url) {
            Ok(parts) => parts,
            Err(message) => {
                r.problem(format!("{}: {message}", key::URL));
                parse_upstream_url(DEFAULT_UPSTREAM).unwrap_or_default()
            }
        };
        let ca_file = r.string(key::CA_FILE, DEFAULT_CA_FILE);
        let ca_file = (!ca_file.is_empty()).then(|| PathBuf::from(ca_file));
        if let Some(path) = ca_file.as_ref().filter(|p| !p.is_file()) {
            r.problem(format!(
                "{} `{}` is not a readable file",
                key::CA_FILE,
                path.display()
            ));
        }
        let max_idle = r.count(key::POOL_MAX_IDLE_PER_HOST, DEFAULT_POOL_MAX_IDLE);
        let breaker_failures = r.count(key::BREAKER_FAILURES, DEFAULT_BREAKER_FAILURES);
        let min_principals = r.count(key::BREAKER_MIN_PRINCIPALS, DEFAULT_BREAKER_MIN_PRINCIPALS);
        if min_principals == 0 {
            r.problem(format!(
                "{} must be at least 1 (turn the breaker off with {} = 0)",
                key::BREAKER_MIN_PRINCIPALS,
                key::BREAKER_FAILURES
            ));
        }
        UpstreamConfig {
            origin,
            base_path,
            ca_file,
            http2: r.boolean(key::HTTP2, DEFAULT_HTTP2),
            connect_timeout: r.positive(key::CONNECT_TIMEOUT, DEFAULT_CONNECT_TIMEOUT),
            response_timeout: r.positive(key::RESPONSE_TIMEOUT, DEFAULT_RESPONSE_TIMEOUT),
            idle_timeout: r.positive(key::IDLE_TIMEOUT, DEFAULT_IDLE_TIMEOUT),
            pool_idle_timeout: r.duration(key::POOL_IDLE_TIMEOUT, DEFAULT_POOL_IDLE_TIMEOUT),
            pool_max_idle_per_host: usize_of(max_idle),
            max_in_flight: usize_of(r.count(key::MAX_IN_FLIGHT, DEFAULT_MAX_IN_FLIGHT)),
            breaker_failures: u32::try_from(breaker_failures).unwrap_or(u32::MAX),
            breaker_cooldown: r.positive(key::BREAKER_COOLDOWN, DEFAULT_BREAKER_COOLDOWN),
            breaker_window: r.positive(key::BREAKER_WINDOW, DEFAULT_BREAKER_WINDOW),
            breaker_min_principals: u32::try_from(min_principals).unwrap_or(u32::MAX),
        }
    }

    /// The keys whose values differ in `file`.
    pub fn diff(&self, file: &Self) -> Vec<&'static str> {
        // No `..`: a new field does not compile until it is compared here.
        let Self {
            origin,
            base_path,
            ca_file,
            http2,
            connect_timeout,
            response_timeout,
            idle_timeout,
            pool_idle_timeout,
            pool_max_idle_per_host,
            max_in_flight,
            breaker_failures,
            breaker_cooldown,
            breaker_window,
            breaker_min_principals,
        } = self;
        let mut changes = Changes::default();
        changes.check(key::URL, origin, &file.origin);
        changes.check(key::URL, base_path, &file.base_path);
        changes.check(key::CA_FILE, ca_file, &file.ca_file);
        changes.check(key::HTTP2, http2, &file.http2);
        changes.check(key::CONNECT_TIMEOUT, connect_timeout, &file.connect_timeout);
        changes.check(
            key::RESPONSE_TIMEOUT,
            response_timeout,
            &file.response_timeout,
        );
        changes.check(key::IDLE_TIMEOUT, idle_timeout, &file.idle_timeout);
        changes.check(
            key::POOL_IDLE_TIMEOUT,
            pool_idle_timeout,
            &file.pool_idle_timeout,
        );
        changes.check(
            key::POOL_MAX_IDLE_PER_HOST,
            pool_max_idle_per_host,
            &file.pool_max_idle_per_host,
        );
        changes.check(key::MAX_IN_FLIGHT, max_in_flight, &file.max_in_flight);
        changes.check(
            key::BREAKER_FAILURES,
            breaker_failures,
            &file.breaker_failures,
        );
        changes.check(
            key::BREAKER_COOLDOWN,
            breaker_cooldown,
            &file.breaker_cooldown,
        );
        changes.check(key::BREAKER_WINDOW, breaker_window, &file.breaker_window);
        changes.check(
            key::BREAKER_MIN_PRINCIPALS,
            breaker_min_principals,
            &file.breaker_min_principals,
        );
        changes.into_keys()
    }
}

/// Splits `https://host:port/base` into the origin and the base path.
pub fn parse_upstream_url(url: &str) -> Result<(Uri, String), String> {
    let uri: Uri = url.parse().map_err(|_| format!("`{url}` is not a URL"))?;
    let scheme = uri.scheme_str().unwrap_or_default();
    if scheme != "http" && scheme != "https" {
        return Err(format!("`{url}` must start with http:// or https://"));
    }
    let Some(authority) = uri.authority() else {
        return Err(format!("`{url}` has no host"));
    };
    if uri.query().is_some() {
        return Err(format!("`{url}` must not have a query string"));
    }
    let origin = Uri::builder()
        .scheme(scheme)
        .authority(authority.clone())
        .path_and_query("/")
        .build()
        .map_err(|e| format!("`{url}`: {e}"))?;
    let base_path = uri.path().trim_end_matches('/').to_owned();
    Ok((origin, base_path))
}
