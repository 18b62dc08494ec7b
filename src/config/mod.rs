//! Configuration: `config/imgcache.toml`, overridden by `IMGCACHE_*`
//! environment variables, overridden by flags. Every key has a named
//! default here and a comment in `config/imgcache.toml`.
//!
//! Loading never stops at the first problem: [`Config::from_sources`]
//! returns all of them, and `main` exits with [`EXIT_BAD_CONFIG`].

pub mod cli;
mod reader;
pub mod units;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use http::{HeaderName, Uri};

use reader::Reader;
pub use reader::{Sources, env_name};

use crate::transform::Mode;

/// `EX_USAGE` from sysexits.h: the exit code for a bad config or bad flags.
pub const EXIT_BAD_CONFIG: u8 = 64;

/// The config file used when neither `--config` nor `IMGCACHE_CONFIG` names one.
pub const DEFAULT_CONFIG_PATH: &str = "config/imgcache.toml";

pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
pub const DEFAULT_MAX_CONNECTIONS: u64 = 10_000;
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
pub const DEFAULT_MAX_HEADER_BYTES: u64 = 32 * 1024;
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(30);
/// `server.workers = 0`: one worker thread per CPU.
pub const DEFAULT_WORKERS: u64 = 0;

pub const DEFAULT_UPSTREAM: &str = "http://127.0.0.1:9292";
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
pub const DEFAULT_RESPONSE_TIMEOUT: Duration = Duration::from_secs(15);
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
pub const DEFAULT_POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(90);
pub const DEFAULT_POOL_MAX_IDLE: u64 = 256;
pub const DEFAULT_MAX_IN_FLIGHT: u64 = 512;
pub const DEFAULT_BREAKER_FAILURES: u64 = 5;
pub const DEFAULT_BREAKER_COOLDOWN: Duration = Duration::from_secs(10);

pub const DEFAULT_TTL: Duration = Duration::from_secs(300);
pub const DEFAULT_TRANSIENT_TTL: Duration = Duration::ZERO;
pub const DEFAULT_STALE_IF_ERROR: Duration = Duration::from_secs(3600);
pub const DEFAULT_STALE_WHILE_REVALIDATE: Duration = Duration::ZERO;
pub const DEFAULT_MAX_BYTES: u64 = 256 * 1024 * 1024;
pub const DEFAULT_MAX_OBJECT_BYTES: u64 = 1024 * 1024;
pub const DEFAULT_IDENTITY_HEADERS: &[&str] = &[
    "x-auth-token",
    "authorization",
    "x-identity-status",
    "x-user-id",
    "x-project-id",
    "x-tenant-id",
    "x-roles",
    "x-domain-id",
    "x-service-token",
    "cookie",
];

pub const DEFAULT_STRIP_PREFIX: &str = "__";
pub const DEFAULT_MAX_LIST_BYTES: u64 = 8 * 1024 * 1024;

pub const DEFAULT_LOG_FILTER: &str = "info";
pub const DEFAULT_REDIS_TIMEOUT: Duration = Duration::from_millis(50);
pub const DEFAULT_REDIS_LOCK_TTL: Duration = Duration::from_secs(3);
pub const DEFAULT_REDIS_POLL_INTERVAL: Duration = Duration::from_millis(20);
pub const DEFAULT_REDIS_KEY_PREFIX: &str = "imgcache:v1";
pub const DEFAULT_ADMIN_LISTEN: &str = "127.0.0.1:9090";

/// The whole, validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub server: ServerConfig,
    pub upstream: UpstreamConfig,
    pub cache: CacheConfig,
    pub transform: TransformConfig,
    pub log: LogConfig,
    pub admin: AdminConfig,
    /// The shared second tier; `None` when `redis.url` is empty.
    pub redis: Option<RedisConfig>,
}

/// `[server]`: the client-facing listener.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    /// Listen-side path prefix (`/image`), stripped before routing; "" for none.
    pub path_prefix: String,
    pub max_connections: usize,
    pub header_read_timeout: Duration,
    pub max_header_bytes: usize,
    pub shutdown_grace: Duration,
    /// Serving threads (each with its own runtime and listener).
    pub workers: usize,
}

/// `[upstream]`: the image service we front.
#[derive(Debug, Clone)]
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
    /// Consecutive failures that open the circuit breaker (0: never).
    pub breaker_failures: u32,
    /// How long image reads are held back once it opens.
    pub breaker_cooldown: Duration,
}

/// `[cache]`: what is stored and for how long.
#[derive(Debug, Clone)]
pub struct CacheConfig {
    pub ttl: Duration,
    pub transient_ttl: Duration,
    pub stale_if_error: Duration,
    pub stale_while_revalidate: Duration,
    pub max_bytes: u64,
    pub max_object_bytes: usize,
    /// Lower-cased header names whose values make up a caller's identity.
    pub identity_headers: Vec<HeaderName>,
}

/// `[transform]`: what happens to the `__` extension fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransformConfig {
    pub mode: Mode,
    pub strip_prefix: String,
    pub strip_fields: Vec<String>,
    pub keep_fields: Vec<String>,
    pub max_list_bytes: usize,
}

/// `[log]`.
#[derive(Debug, Clone)]
pub struct LogConfig {
    pub json: bool,
    /// A tracing `EnvFilter` directive; `IMGCACHE_LOG` wins over it.
    pub filter: String,
}

/// `[redis]`: the fleet's shared second tier.
#[derive(Clone, PartialEq, Eq)]
pub struct RedisConfig {
    /// `redis://…` or `rediss://…` (TLS).
    pub url: String,
    /// Keys the names of stored entries (HMAC-SHA256) so they reveal
    /// nothing testable about tokens; `None`: plain SHA-256.
    pub key_secret: Option<String>,
    /// Longest wait for any one Redis call before going on without it.
    pub timeout: Duration,
    /// How long a fill lock lives if its holder dies.
    pub lock_ttl: Duration,
    /// How often an instance waiting on another's fill looks for it.
    pub poll_interval: Duration,
    /// Prefix of every key, and of the invalidation channel's name.
    pub key_prefix: String,
}

impl std::fmt::Debug for RedisConfig {
    /// The URL may hold a password and the key secret is a secret.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let url = match self.url.split_once('@') {
            Some((scheme_and_auth, host)) => {
                let scheme = scheme_and_auth.split("://").next().unwrap_or("redis");
                format!("{scheme}://<redacted>@{host}")
            }
            None => self.url.clone(),
        };
        f.debug_struct("RedisConfig")
            .field("url", &url)
            .field(
                "key_secret",
                &self.key_secret.as_ref().map(|_| "<redacted>"),
            )
            .field("timeout", &self.timeout)
            .field("lock_ttl", &self.lock_ttl)
            .field("poll_interval", &self.poll_interval)
            .field("key_prefix", &self.key_prefix)
            .finish()
    }
}

/// `[admin]`: the operator's listener.
#[derive(Clone)]
pub struct AdminConfig {
    pub listen: SocketAddr,
    pub token: Option<String>,
}

impl std::fmt::Debug for AdminConfig {
    /// The token is a secret: only whether there is one is shown.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminConfig")
            .field("listen", &self.listen)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl Config {
    /// Builds and validates a config; on failure returns every problem.
    pub fn from_sources(sources: &Sources) -> Result<Config, Vec<String>> {
        let mut r = Reader::new(sources);
        let config = Config {
            server: server(&mut r),
            upstream: upstream(&mut r),
            cache: cache(&mut r),
            transform: transform(&mut r),
            log: log(&mut r),
            admin: admin(&mut r),
            redis: redis(&mut r),
        };
        config.cross_check(&mut r);
        let problems = r.finish();
        if problems.is_empty() {
            Ok(config)
        } else {
            Err(problems)
        }
    }

    /// The defaults, as if no file, env or flag said anything.
    pub fn defaults() -> Config {
        match Config::from_sources(&Sources::default()) {
            Ok(config) => config,
            // The defaults are constants checked by a unit test.
            Err(problems) => unreachable!("defaults are invalid: {problems:?}"),
        }
    }

    /// Checks that need more than one setting.
    fn cross_check(&self, r: &mut Reader<'_>) {
        // Port 0 means "any free port": two of those never collide.
        if self.server.listen == self.admin.listen && self.server.listen.port() != 0 {
            r.problem(format!(
                "server.listen and admin.listen are both {}: the admin API needs its own port",
                self.server.listen
            ));
        }
        if self.cache.max_object_bytes as u64 > self.cache.max_bytes {
            r.problem("cache.max_object_bytes is larger than cache.max_bytes".to_owned());
        }
    }
}

fn server(r: &mut Reader<'_>) -> ServerConfig {
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
        max_header_bytes: usize_of(r.bytes("server", "max_header_bytes", DEFAULT_MAX_HEADER_BYTES)),
        shutdown_grace: r.duration("server", "shutdown_grace", DEFAULT_SHUTDOWN_GRACE),
        workers: match usize_of(r.count("server", "workers", DEFAULT_WORKERS)) {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        },
    }
}

fn upstream(r: &mut Reader<'_>) -> UpstreamConfig {
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

fn cache(r: &mut Reader<'_>) -> CacheConfig {
    let names = r.list("cache", "identity_headers", DEFAULT_IDENTITY_HEADERS);
    let mut identity_headers = Vec::with_capacity(names.len());
    for name in names {
        match HeaderName::from_bytes(name.trim().to_ascii_lowercase().as_bytes()) {
            Ok(header) if !identity_headers.contains(&header) => identity_headers.push(header),
            Ok(_) => {}
            Err(_) => r.problem(format!(
                "cache.identity_headers: `{name}` is not a header name"
            )),
        }
    }
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
    }
}

fn transform(r: &mut Reader<'_>) -> TransformConfig {
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

fn log(r: &mut Reader<'_>) -> LogConfig {
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

fn admin(r: &mut Reader<'_>) -> AdminConfig {
    // Tokens often come from files or secrets with a trailing newline.
    let token = r.string("admin", "token", "").trim().to_owned();
    AdminConfig {
        listen: socket_addr(r, "admin", "listen", DEFAULT_ADMIN_LISTEN),
        token: (!token.is_empty()).then_some(token),
    }
}

fn redis(r: &mut Reader<'_>) -> Option<RedisConfig> {
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

#[cfg(test)]
mod tests;
