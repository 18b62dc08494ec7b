//! Configuration: `config/imgcache.toml`, overridden by `IMGCACHE_*`
//! environment variables, overridden by flags. Every key has a named
//! default here and a comment in `config/imgcache.toml`.
//!
//! Loading never stops at the first problem: [`Config::from_sources`]
//! returns all of them, and `main` exits with [`EXIT_BAD_CONFIG`].

pub mod cli;
mod reader;
mod sections;
pub mod units;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use http::Uri;

use reader::Reader;
pub use reader::{Sources, env_name};

pub use crate::cache::key::IdentityHeaders;
pub use crate::request_headers::UnderscoreHeaders;
use crate::transform::Mode;

/// `EX_USAGE` from sysexits.h: the exit code for a bad config or bad flags.
pub const EXIT_BAD_CONFIG: u8 = 64;

/// The config file used when neither `--config` nor `IMGCACHE_CONFIG` names one.
pub const DEFAULT_CONFIG_PATH: &str = "config/imgcache.toml";

pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
pub const DEFAULT_MAX_CONNECTIONS: u64 = 10_000;
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// nginx's `send_timeout` default.
pub const DEFAULT_WRITE_TIMEOUT: Duration = Duration::from_secs(60);
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
/// Every request header through which keystonemiddleware, oslo.context,
/// Glance or IMS take identity or authority, legacy aliases included
/// (keystonemiddleware 13 `auth_token/_request.py`, oslo.context 6.5
/// `context.py`; tests/interop checks the installed ones against this
/// list). A header the upstream trusts and the key ignores would let one
/// caller's entry answer another: when in doubt, a name belongs here.
pub const DEFAULT_IDENTITY_HEADERS: &[&str] = &[
    // Credentials.
    "x-auth-token",
    "x-storage-token",
    "x-service-token",
    "authorization",
    "x-security-token",
    "cookie",
    // What keystonemiddleware says about them (trusted where it runs
    // in front, or where Glance trusts a front end).
    "x-identity-status",
    "x-service-identity-status",
    "x-user-id",
    "x-user-name",
    "x-user",
    "x-user-domain-id",
    "x-user-domain-name",
    "x-project-id",
    "x-project-name",
    "x-project-domain-id",
    "x-project-domain-name",
    "x-tenant-id",
    "x-tenant-name",
    "x-tenant",
    "x-domain-id",
    "x-domain-name",
    "x-roles",
    "x-role",
    "x-is-admin-project",
    "openstack-system-scope",
    "x-service-catalog",
    // The service token's side.
    "x-service-user-id",
    "x-service-user-name",
    "x-service-user-domain-id",
    "x-service-user-domain-name",
    "x-service-project-id",
    "x-service-project-name",
    "x-service-project-domain-id",
    "x-service-project-domain-name",
    "x-service-domain-id",
    "x-service-domain-name",
    "x-service-roles",
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
    /// A client connection on which no response byte could be written
    /// for this long is closed.
    pub write_timeout: Duration,
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
    pub identity_headers: IdentityHeaders,
    /// What happens to request headers with `_` in their names.
    pub underscore_headers: UnderscoreHeaders,
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
            server: sections::server(&mut r),
            upstream: sections::upstream(&mut r),
            cache: sections::cache(&mut r),
            transform: sections::transform(&mut r),
            log: sections::log(&mut r),
            admin: sections::admin(&mut r),
            redis: sections::redis(&mut r),
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
