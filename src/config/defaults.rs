//! Every setting's default, named once, grouped by section;
//! `config/imgcache.toml` writes the same values (a unit test holds them
//! equal).

use std::time::Duration;

// [server]
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
/// Empty: no prefix.
pub const DEFAULT_PATH_PREFIX: &str = "";
pub const DEFAULT_MAX_CONNECTIONS: u64 = 10_000;
pub const DEFAULT_HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// nginx's `keepalive_timeout` is 75 s; an HTTP/2 connection without a
/// stream holds a `max_connections` place for nothing.
pub const DEFAULT_SERVER_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// nginx's `send_timeout` default.
pub const DEFAULT_WRITE_TIMEOUT: Duration = Duration::from_secs(60);
pub const DEFAULT_MAX_HEADER_BYTES: u64 = 32 * 1024;
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(30);
/// `server.workers = 0`: one worker thread per CPU.
pub const DEFAULT_WORKERS: u64 = 0;
pub const DEFAULT_TLS_CLIENT_IDENTITY: bool = false;
/// As `header_read_timeout`: a handshake is the first thing a slowloris
/// client would drag out (nginx's `ssl_handshake_timeout` is 60 s).
pub const DEFAULT_TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How often certificate files are checked for a change.
pub const DEFAULT_TLS_RELOAD_INTERVAL: Duration = Duration::from_secs(5);

// [upstream]
pub const DEFAULT_UPSTREAM: &str = "http://127.0.0.1:9292";
/// Empty: only the system store and the webpki roots.
pub const DEFAULT_CA_FILE: &str = "";
pub const DEFAULT_HTTP2: bool = false;
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
pub const DEFAULT_RESPONSE_TIMEOUT: Duration = Duration::from_secs(15);
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// Below the shortest keep-alive timeout common upstreams use (Apache's
/// 5 s): a connection the upstream is about to close is not reused.
pub const DEFAULT_POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(4);
pub const DEFAULT_POOL_MAX_IDLE: u64 = 256;
pub const DEFAULT_MAX_IN_FLIGHT: u64 = 512;
pub const DEFAULT_BREAKER_FAILURES: u64 = 5;
pub const DEFAULT_BREAKER_COOLDOWN: Duration = Duration::from_secs(10);
pub const DEFAULT_BREAKER_WINDOW: Duration = Duration::from_secs(10);
/// Two: a single caller never opens the breaker (a one-client sidecar may
/// set 1; connect errors open it whoever saw them).
pub const DEFAULT_BREAKER_MIN_PRINCIPALS: u64 = 2;

// [cache]
pub const DEFAULT_TTL: Duration = Duration::from_secs(300);
pub const DEFAULT_TRANSIENT_TTL: Duration = Duration::ZERO;
pub const DEFAULT_STALE_IF_ERROR: Duration = Duration::from_secs(3600);
pub const DEFAULT_STALE_WHILE_REVALIDATE: Duration = Duration::ZERO;
pub const DEFAULT_MAX_BYTES: u64 = 256 * 1024 * 1024;
pub const DEFAULT_MAX_OBJECT_BYTES: u64 = 1024 * 1024;
/// IMS member and registration jobs take seconds to minutes.
pub const DEFAULT_JOB_HOLD: Duration = Duration::from_secs(600);
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

// [transform]
pub const DEFAULT_STRIP_PREFIX: &str = "__";
pub const DEFAULT_STRIP_FIELDS: &[&str] = &[];
pub const DEFAULT_KEEP_FIELDS: &[&str] = &[];
pub const DEFAULT_MAX_LIST_BYTES: u64 = 8 * 1024 * 1024;

// [log]
pub const DEFAULT_LOG_FORMAT: &str = "text";
pub const DEFAULT_LOG_FILTER: &str = "info";

// [admin]
pub const DEFAULT_ADMIN_LISTEN: &str = "127.0.0.1:9090";
/// Empty: the admin API asks for no token.
pub const DEFAULT_ADMIN_TOKEN: &str = "";

// [redis]
/// Empty: no shared tier.
pub const DEFAULT_REDIS_URL: &str = "";
/// Empty: not a cluster.
pub const DEFAULT_REDIS_NODES: &[&str] = &[];
/// Empty: the URL's user, or none.
pub const DEFAULT_REDIS_USERNAME: &str = "";
/// Empty: the URL's password, or none.
pub const DEFAULT_REDIS_PASSWORD_FILE: &str = "";
pub const DEFAULT_REDIS_PASSWORD_ENV: &str = "";
/// Empty: the system's root certificates.
pub const DEFAULT_REDIS_TLS_CA_FILE: &str = "";
/// Empty: stored keys are plain SHA-256.
pub const DEFAULT_REDIS_KEY_SECRET: &str = "";
pub const DEFAULT_REDIS_TIMEOUT: Duration = Duration::from_millis(50);
pub const DEFAULT_REDIS_LOCK_TTL: Duration = Duration::from_secs(3);
pub const DEFAULT_REDIS_POLL_INTERVAL: Duration = Duration::from_millis(20);
pub const DEFAULT_REDIS_KEY_PREFIX: &str = "imgcache:v1";

// [signing]
/// API Gateway refuses an `X-Sdk-Date` more than 15 minutes off.
pub const DEFAULT_SIGNING_CLOCK_SKEW: Duration = Duration::from_secs(15 * 60);
/// Signed bodies hashed to verify (JSON writes are far smaller).
pub const DEFAULT_SIGNING_MAX_BODY_BYTES: u64 = 1024 * 1024;

// [identity]
/// Empty: tokens are keyed as they are, not validated.
pub const DEFAULT_IDENTITY_KEYSTONE_URL: &str = "";
/// keystonemiddleware's `token_cache_time`.
pub const DEFAULT_IDENTITY_VALIDATION_TTL: Duration = Duration::from_secs(300);
/// A validation slower than this keys the raw token instead.
pub const DEFAULT_IDENTITY_TIMEOUT: Duration = Duration::from_secs(2);
pub const DEFAULT_IDENTITY_SHARE: &str = "user";
/// Sized for one Keystone worker: one call in progress, one queued.
pub const DEFAULT_IDENTITY_MAX_CONCURRENT_VALIDATIONS: u64 = 2;
