//! One reader function per config section: each reads its keys with
//! their defaults and records what is wrong with them.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use http::HeaderName;

use super::reader::Reader;
use super::*;
use crate::cache::key::MAX_IDENTITY_HEADERS;
use crate::transform::Mode;

pub(super) fn server(r: &mut Reader<'_>) -> ServerConfig {
    let listen = socket_addr(r, "server", "listen", DEFAULT_LISTEN);
    let path_prefix = r.string("server", "path_prefix", "");
    let path_prefix = path_prefix.trim_end_matches('/').to_owned();
    if !path_prefix.is_empty() && !path_prefix.starts_with('/') {
        r.problem(format!(
            "server.path_prefix `{path_prefix}` must start with `/`"
        ));
    }
    let max_connections = r.count("server", "max_connections", DEFAULT_MAX_CONNECTIONS);
    if max_connections == 0 {
        r.problem("server.max_connections must be at least 1".to_owned());
    }
    ServerConfig {
        listen,
        path_prefix,
        max_connections: usize_of(max_connections),
        header_read_timeout: positive(
            r,
            "server",
            "header_read_timeout",
            DEFAULT_HEADER_READ_TIMEOUT,
        ),
        write_timeout: positive(r, "server", "write_timeout", DEFAULT_WRITE_TIMEOUT),
        max_header_bytes: usize_of(r.bytes("server", "max_header_bytes", DEFAULT_MAX_HEADER_BYTES)),
        shutdown_grace: r.duration("server", "shutdown_grace", DEFAULT_SHUTDOWN_GRACE),
        workers: match usize_of(r.count("server", "workers", DEFAULT_WORKERS)) {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        },
    }
}

pub(super) fn upstream(r: &mut Reader<'_>) -> UpstreamConfig {
    let url = r.string("upstream", "url", DEFAULT_UPSTREAM);
    let (origin, base_path) = match parse_upstream_url(&url) {
        Ok(parts) => parts,
        Err(message) => {
            r.problem(format!("upstream.url: {message}"));
            parse_upstream_url(DEFAULT_UPSTREAM).unwrap_or_default()
        }
    };
    let ca_file = r.string("upstream", "ca_file", "");
    let ca_file = (!ca_file.is_empty()).then(|| PathBuf::from(ca_file));
    if let Some(path) = ca_file.as_ref().filter(|p| !p.is_file()) {
        r.problem(format!(
            "upstream.ca_file `{}` is not a readable file",
            path.display()
        ));
    }
    UpstreamConfig {
        origin,
        base_path,
        ca_file,
        http2: r.boolean("upstream", "http2", false),
        connect_timeout: positive(r, "upstream", "connect_timeout", DEFAULT_CONNECT_TIMEOUT),
        response_timeout: positive(r, "upstream", "response_timeout", DEFAULT_RESPONSE_TIMEOUT),
        idle_timeout: positive(r, "upstream", "idle_timeout", DEFAULT_IDLE_TIMEOUT),
        pool_idle_timeout: r.duration("upstream", "pool_idle_timeout", DEFAULT_POOL_IDLE_TIMEOUT),
        pool_max_idle_per_host: usize_of(r.count(
            "upstream",
            "pool_max_idle_per_host",
            DEFAULT_POOL_MAX_IDLE,
        )),
        max_in_flight: usize_of(r.count("upstream", "max_in_flight", DEFAULT_MAX_IN_FLIGHT)),
        breaker_failures: u32::try_from(r.count(
            "upstream",
            "breaker_failures",
            DEFAULT_BREAKER_FAILURES,
        ))
        .unwrap_or(u32::MAX),
        breaker_cooldown: positive(r, "upstream", "breaker_cooldown", DEFAULT_BREAKER_COOLDOWN),
    }
}

pub(super) fn cache(r: &mut Reader<'_>) -> CacheConfig {
    let identity_headers = identity_headers(r);
    let underscores = r.string(
        "cache",
        "underscore_headers",
        UnderscoreHeaders::default().as_str(),
    );
    let underscore_headers = UnderscoreHeaders::parse(&underscores).unwrap_or_else(|| {
        r.problem(format!(
            "cache.underscore_headers `{underscores}` is not one of drop, fold"
        ));
        UnderscoreHeaders::default()
    });
    let max_bytes = r.bytes("cache", "max_bytes", DEFAULT_MAX_BYTES);
    if max_bytes == 0 {
        r.problem("cache.max_bytes must be more than 0".to_owned());
    }
    CacheConfig {
        ttl: r.duration("cache", "ttl", DEFAULT_TTL),
        transient_ttl: r.duration("cache", "transient_ttl", DEFAULT_TRANSIENT_TTL),
        stale_if_error: r.duration("cache", "stale_if_error", DEFAULT_STALE_IF_ERROR),
        stale_while_revalidate: r.duration(
            "cache",
            "stale_while_revalidate",
            DEFAULT_STALE_WHILE_REVALIDATE,
        ),
        max_bytes,
        max_object_bytes: usize_of(r.bytes("cache", "max_object_bytes", DEFAULT_MAX_OBJECT_BYTES)),
        identity_headers,
        underscore_headers,
    }
}

/// `cache.identity_headers`: header names, lower-cased, without repeats.
fn identity_headers(r: &mut Reader<'_>) -> IdentityHeaders {
    let mut names = Vec::new();
    for name in r.list("cache", "identity_headers", DEFAULT_IDENTITY_HEADERS) {
        let lowered = name.trim().to_ascii_lowercase();
        if lowered.contains('_') {
            r.problem(format!(
                "cache.identity_headers: `{name}` has a `_`: such headers never reach the \
                 upstream as sent (cache.underscore_headers); name the `-` spelling"
            ));
            continue;
        }
        match HeaderName::from_bytes(lowered.as_bytes()) {
            Ok(header) => names.push(header),
            Err(_) => r.problem(format!(
                "cache.identity_headers: `{name}` is not a header name"
            )),
        }
    }
    IdentityHeaders::new(names).unwrap_or_else(|| {
        r.problem(format!(
            "cache.identity_headers names more than {MAX_IDENTITY_HEADERS} headers"
        ));
        IdentityHeaders::none()
    })
}

pub(super) fn transform(r: &mut Reader<'_>) -> TransformConfig {
    let mode = r.string("transform", "mode", Mode::Passthrough.as_str());
    let mode = Mode::parse(&mode).unwrap_or_else(|| {
        r.problem(format!(
            "transform.mode `{mode}` is not one of passthrough, strip, normalize, typed"
        ));
        Mode::Passthrough
    });
    let strip_prefix = r.string("transform", "strip_prefix", DEFAULT_STRIP_PREFIX);
    TransformConfig {
        mode,
        strip_prefix,
        strip_fields: r.list("transform", "strip_fields", &[]),
        keep_fields: r.list("transform", "keep_fields", &[]),
        max_list_bytes: usize_of(r.bytes("transform", "max_list_bytes", DEFAULT_MAX_LIST_BYTES)),
    }
}

pub(super) fn log(r: &mut Reader<'_>) -> LogConfig {
    let format = r.string("log", "format", "text");
    let json = match format.as_str() {
        "text" => false,
        "json" => true,
        other => {
            r.problem(format!("log.format `{other}` is not text or json"));
            false
        }
    };
    LogConfig {
        json,
        filter: r.string("log", "filter", DEFAULT_LOG_FILTER),
    }
}

pub(super) fn admin(r: &mut Reader<'_>) -> AdminConfig {
    // Tokens often come from files or secrets with a trailing newline.
    let token = r.string("admin", "token", "").trim().to_owned();
    AdminConfig {
        listen: socket_addr(r, "admin", "listen", DEFAULT_ADMIN_LISTEN),
        token: (!token.is_empty()).then_some(token),
    }
}

pub(super) fn redis(r: &mut Reader<'_>) -> Option<RedisConfig> {
    let url = r.string("redis", "url", "").trim().to_owned();
    let key_secret = r.string("redis", "key_secret", "").trim().to_owned();
    let config = RedisConfig {
        key_secret: (!key_secret.is_empty()).then_some(key_secret),
        timeout: positive(r, "redis", "timeout", DEFAULT_REDIS_TIMEOUT),
        lock_ttl: positive(r, "redis", "lock_ttl", DEFAULT_REDIS_LOCK_TTL),
        poll_interval: positive(r, "redis", "poll_interval", DEFAULT_REDIS_POLL_INTERVAL),
        key_prefix: r.string("redis", "key_prefix", DEFAULT_REDIS_KEY_PREFIX),
        url,
    };
    if config.url.is_empty() {
        return None;
    }
    if !(config.url.starts_with("redis://") || config.url.starts_with("rediss://")) {
        r.problem("redis.url must start with redis:// or rediss://".to_owned());
    }
    Some(config)
}

fn socket_addr(r: &mut Reader<'_>, section: &str, key: &str, default: &str) -> SocketAddr {
    let text = r.string(section, key, default);
    text.parse().unwrap_or_else(|_| {
        r.problem(format!(
            "{section}.{key} `{text}` is not an address such as 127.0.0.1:8080"
        ));
        SocketAddr::from(([127, 0, 0, 1], 0))
    })
}

/// A duration that must not be zero (a zero timeout would fail every request).
fn positive(r: &mut Reader<'_>, section: &str, key: &str, default: Duration) -> Duration {
    let value = r.duration(section, key, default);
    if value.is_zero() {
        r.problem(format!("{section}.{key} must be more than 0"));
        return default;
    }
    value
}

fn usize_of(n: u64) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}
