//! `[upstream]`: the image service we front. Only a restart applies it.

use std::path::PathBuf;
use std::time::Duration;

use http::Uri;

use super::defaults::*;
use super::reader::{Reader, usize_of};
use super::table::settings;

settings! {
    /// `[upstream]` as written.
    UpstreamSettings in "upstream" {
        /// The image service: scheme, host, port and base path.
        url: string = DEFAULT_UPSTREAM, Restart;
        /// Extra CA certificates (PEM) for https upstreams; empty: none.
        ca_file: string = DEFAULT_CA_FILE, Restart;
        /// Speak HTTP/2 to the upstream.
        http2: boolean = DEFAULT_HTTP2, Restart;
        /// Longest a connection may take to open.
        connect_timeout: positive = DEFAULT_CONNECT_TIMEOUT, Restart;
        /// Longest wait for response headers.
        response_timeout: positive = DEFAULT_RESPONSE_TIMEOUT, Restart;
        /// Longest pause while a response body streams.
        idle_timeout: positive = DEFAULT_IDLE_TIMEOUT, Restart;
        /// How long an idle pooled connection is kept.
        pool_idle_timeout: duration = DEFAULT_POOL_IDLE_TIMEOUT, Restart;
        /// Idle pooled connections kept per host.
        pool_max_idle_per_host: count = DEFAULT_POOL_MAX_IDLE, Restart;
        /// Upstream requests at once.
        max_in_flight: count = DEFAULT_MAX_IN_FLIGHT, Restart;
        /// Fill failures within the window that may open the breaker; 0: never.
        breaker_failures: count = DEFAULT_BREAKER_FAILURES, Restart;
        /// How long fills are held back once it opens.
        breaker_cooldown: positive = DEFAULT_BREAKER_COOLDOWN, Restart;
        /// How far back fill failures are counted.
        breaker_window: positive = DEFAULT_BREAKER_WINDOW, Restart;
        /// Distinct principals the failures must come from.
        breaker_min_principals: count = DEFAULT_BREAKER_MIN_PRINCIPALS, Restart;
    }
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
    /// Builds the section from its settings, recording what is wrong.
    pub(super) fn build(s: &UpstreamSettings, r: &mut Reader<'_>) -> UpstreamConfig {
        // No `..`: a key nobody builds from is an unused variable.
        let UpstreamSettings {
            url,
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
        } = s;
        let (origin, base_path) = match parse_upstream_url(url) {
            Ok(parts) => parts,
            Err(message) => {
                r.problem(format!("{}: {message}", key::url));
                parse_upstream_url(DEFAULT_UPSTREAM).unwrap_or_default()
            }
        };
        let ca_file = (!ca_file.is_empty()).then(|| PathBuf::from(ca_file));
        if let Some(path) = ca_file.as_ref().filter(|p| !p.is_file()) {
            r.problem(format!(
                "{} `{}` is not a readable file",
                key::ca_file,
                path.display()
            ));
        }
        if *breaker_min_principals == 0 {
            r.problem(format!(
                "{} must be at least 1 (turn the breaker off with {} = 0)",
                key::breaker_min_principals,
                key::breaker_failures
            ));
        }
        UpstreamConfig {
            origin,
            base_path,
            ca_file,
            http2: *http2,
            connect_timeout: *connect_timeout,
            response_timeout: *response_timeout,
            idle_timeout: *idle_timeout,
            pool_idle_timeout: *pool_idle_timeout,
            pool_max_idle_per_host: usize_of(*pool_max_idle_per_host),
            max_in_flight: usize_of(*max_in_flight),
            breaker_failures: u32::try_from(*breaker_failures).unwrap_or(u32::MAX),
            breaker_cooldown: *breaker_cooldown,
            breaker_window: *breaker_window,
            breaker_min_principals: u32::try_from(*breaker_min_principals).unwrap_or(u32::MAX),
        }
    }
}

/// Splits `https://host:port/base` into the origin and the base path.
pub fn parse_upstream_url(url: &str) -> Result<(Uri, String), String> {
    check_url_authority(url)?;
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

/// What a service URL's authority must not be, checked before anything
/// echoes the URL: credentials (`user:password@`: Glance, IMS and Keystone
/// take tokens or signatures, and a URL is printed at start-up and by
/// `--check-config`), or a port past 65535 (a typo that would otherwise
/// fail only at the first request).
pub fn check_url_authority(url: &str) -> Result<(), String> {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.contains('@') {
        return Err("must not carry credentials (user:password@); they would be printed wherever the URL is".into());
    }
    let port = authority
        .rsplit_once(':')
        .map(|(_, port)| port)
        .filter(|port| !port.contains(']'));
    if let Some(port) = port {
        match port.parse::<u32>() {
            Ok(1..=65535) => {}
            _ => return Err(format!("has port `{port}`, not one from 1 to 65535")),
        }
    }
    Ok(())
}
