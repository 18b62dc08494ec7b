//! `[redis]`: the fleet's shared second tier. Only a restart applies it.

use std::time::Duration;

use super::defaults::*;
use super::effective::{REDACTED, redact_url_password};
use super::reader::Reader;
use super::table::settings;

settings! {
    /// `[redis]` as written.
    RedisSettings in "redis" {
        /// `single` (one server at `url`) or `cluster` (Redis Cluster,
        /// seeded from `nodes`).
        mode: string = RedisMode::default().as_str(), Restart;
        /// `redis://` or `rediss://`; empty: no shared tier (single mode).
        /// May hold a password: named in messages, never shown.
        url: string = DEFAULT_REDIS_URL, Restart;
        /// Cluster mode: seed nodes, `redis://host:port` each (any few of
        /// the cluster's; the rest is discovered). `url`, when set, is one
        /// more.
        nodes: list = DEFAULT_REDIS_NODES, Restart;
        /// ACL user to log in as (every mode). Empty: the URL's, or none.
        username: string = DEFAULT_REDIS_USERNAME, Restart;
        /// A file holding the password (a mounted secret); trailing
        /// newline dropped. At most one of it, `password_env` and a
        /// password in the URL.
        password_file: string = DEFAULT_REDIS_PASSWORD_FILE, Restart;
        /// The `IMGCACHE_…` environment variable holding the password.
        password_env: string = DEFAULT_REDIS_PASSWORD_ENV, Restart;
        /// PEM CA bundle a `rediss://` server's certificate must chain to.
        /// Empty: the system's roots.
        tls_ca_file: string = DEFAULT_REDIS_TLS_CA_FILE, Restart;
        /// Keys stored entries' names (HMAC); a secret. Empty: plain SHA-256.
        key_secret: string = DEFAULT_REDIS_KEY_SECRET, Restart;
        /// Longest wait for any one Redis call.
        timeout: positive = DEFAULT_REDIS_TIMEOUT, Restart;
        /// How long a fill lock lives if its holder dies.
        lock_ttl: positive = DEFAULT_REDIS_LOCK_TTL, Restart;
        /// How often a waiter looks for another instance's fill.
        poll_interval: positive = DEFAULT_REDIS_POLL_INTERVAL, Restart;
        /// Prefix of every key and of the invalidation channel.
        key_prefix: string = DEFAULT_REDIS_KEY_PREFIX, Restart;
    }
}

/// How the tier reaches Redis (`redis.mode`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum RedisMode {
    /// One server (or a proxy in front of several) at `redis.url`;
    /// invalidations over `PUBLISH`.
    #[default]
    Single,
    /// Redis Cluster seeded from `redis.nodes`: commands follow
    /// `MOVED`/`ASK` and topology changes; invalidations over sharded
    /// pub/sub (`SPUBLISH`, Redis 7).
    Cluster,
}

impl RedisMode {
    /// The mode `redis.mode` names.
    pub fn parse(text: &str) -> Option<RedisMode> {
        match text {
            "single" => Some(RedisMode::Single),
            "cluster" => Some(RedisMode::Cluster),
            _ => None,
        }
    }

    /// The name `redis.mode` uses.
    pub fn as_str(self) -> &'static str {
        match self {
            RedisMode::Single => "single",
            RedisMode::Cluster => "cluster",
        }
    }
}

/// `[redis]`: the fleet's shared second tier.
#[derive(Clone, PartialEq, Eq)]
pub struct RedisConfig {
    /// Single server or cluster.
    pub mode: RedisMode,
    /// `redis://…` or `rediss://…` (TLS): the server (single mode) or one
    /// more seed node (cluster mode, may be empty).
    pub url: String,
    /// Cluster mode: the seed nodes' URLs. Empty in single mode.
    pub nodes: Vec<String>,
    /// ACL user (`redis.username`), over the URLs' own.
    pub username: Option<String>,
    /// The password from `redis.password_file` or `redis.password_env`,
    /// over the URLs' own. A secret.
    pub password: Option<String>,
    /// CA bundle (PEM) for `rediss://` servers; `None`: system roots.
    pub tls_ca_file: Option<std::path::PathBuf>,
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
        let nodes: Vec<String> = self.nodes.iter().map(|n| redact_url_password(n)).collect();
        f.debug_struct("RedisConfig")
            .field("mode", &self.mode)
            .field("url", &redact_url_password(&self.url))
            .field("nodes", &nodes)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| REDACTED))
            .field("tls_ca_file", &self.tls_ca_file)
            .field("key_secret", &self.key_secret.as_ref().map(|_| REDACTED))
            .field("timeout", &self.timeout)
            .field("lock_ttl", &self.lock_ttl)
            .field("poll_interval", &self.poll_interval)
            .field("key_prefix", &self.key_prefix)
            .finish()
    }
}

impl RedisConfig {
    /// A single-server tier at `url`, other keys at their defaults.
    pub fn single(url: &str) -> RedisConfig {
        RedisConfig {
            mode: RedisMode::Single,
            url: url.to_owned(),
            nodes: Vec::new(),
            username: None,
            password: None,
            tls_ca_file: None,
            key_secret: None,
            timeout: DEFAULT_REDIS_TIMEOUT,
            lock_ttl: DEFAULT_REDIS_LOCK_TTL,
            poll_interval: DEFAULT_REDIS_POLL_INTERVAL,
            key_prefix: DEFAULT_REDIS_KEY_PREFIX.to_owned(),
        }
    }

    /// Every URL the tier connects with (the one, or the seeds).
    pub fn urls(&self) -> Vec<&str> {
        match self.mode {
            RedisMode::Single => vec![self.url.as_str()],
            RedisMode::Cluster => std::iter::once(self.url.as_str())
                .filter(|u| !u.is_empty())
                .chain(self.nodes.iter().map(String::as_str))
                .collect(),
        }
    }

    /// Builds the section from its settings, recording what is wrong;
    /// `None` when neither `redis.url` nor `redis.nodes` is set (the tier
    /// is off).
    pub(super) fn build(s: &RedisSettings, r: &mut Reader<'_>) -> Option<RedisConfig> {
        // No `..`: a key nobody builds from is an unused variable.
        let RedisSettings {
            mode,
            url,
            nodes,
            username,
            password_file,
            password_env,
            tls_ca_file,
            key_secret,
            timeout,
            lock_ttl,
            poll_interval,
            key_prefix,
        } = s;
        let url = url.trim();
        let nodes: Vec<String> = nodes.iter().map(|n| n.trim().to_owned()).collect();
        if url.is_empty() && nodes.is_empty() {
            return None;
        }
        let mode = RedisMode::parse(mode.trim()).unwrap_or_else(|| {
            r.problem(format!(
                "{} `{}` is not one of single, cluster",
                key::mode,
                mode.trim()
            ));
            RedisMode::default()
        });
        check_endpoints(mode, url, &nodes, r);
        let urls: Vec<&str> = std::iter::once(url)
            .chain(nodes.iter().map(String::as_str))
            .filter(|u| !u.is_empty())
            .collect();
        let password = password(password_file.trim(), password_env.trim(), &urls, r);
        let tls_ca_file = tls_ca(tls_ca_file.trim(), &urls, r);
        let username = username.trim();
        let key_secret = key_secret.trim();
        Some(RedisConfig {
            mode,
            url: url.to_owned(),
            nodes,
            username: (!username.is_empty()).then(|| username.to_owned()),
            password,
            tls_ca_file,
            key_secret: (!key_secret.is_empty()).then(|| key_secret.to_owned()),
            timeout: *timeout,
            lock_ttl: *lock_ttl,
            poll_interval: *poll_interval,
            key_prefix: key_prefix.clone(),
        })
    }
}

/// The password from its file or variable, if one is named; a problem
/// if both are, or one is and a URL holds a password too. Never quoted.
fn password(file: &str, env: &str, urls: &[&str], r: &mut Reader<'_>) -> Option<String> {
    if !file.is_empty() && !env.is_empty() {
        r.problem(format!(
            "{} and {}: name one",
            key::password_file,
            key::password_env
        ));
        return None;
    }
    let in_url = urls.iter().any(|u| has_password(u));
    let named = if !file.is_empty() {
        Some(key::password_file)
    } else if !env.is_empty() {
        Some(key::password_env)
    } else {
        None
    };
    if let (Some(named), true) = (named, in_url) {
        r.problem(format!(
            "{named} and a password in the URL: keep one (the URL's is shown nowhere, but lives in the config)"
        ));
    }
    let value = if !file.is_empty() {
        std::fs::read_to_string(file)
            .map(|s| s.trim_end_matches(['\r', '\n']).to_owned())
            .map_err(|e| format!("{}: cannot read {file}: {e}", key::password_file))
    } else if !env.is_empty() {
        if !env.starts_with("IMGCACHE_") {
            Err(format!(
                "{} must name an IMGCACHE_… variable",
                key::password_env
            ))
        } else {
            r.env_value(env)
                .map(|v| v.trim().to_owned())
                .ok_or_else(|| format!("{}: `{env}` is not set", key::password_env))
        }
    } else {
        return None;
    };
    match value {
        Ok(password) if !password.is_empty() => Some(password),
        Ok(_) => {
            r.problem(format!(
                "{}: the password is empty",
                named.unwrap_or(key::password_file)
            ));
            None
        }
        Err(problem) => {
            r.problem(problem);
            None
        }
    }
}

/// Whether `url` holds a password (`redis://[user]:password@host`).
fn has_password(url: &str) -> bool {
    url.split_once("://")
        .and_then(|(_, rest)| rest.rsplit_once('@'))
        .is_some_and(|(auth, _)| auth.contains(':'))
}

/// The CA file, checked to be a readable file and used only with TLS.
fn tls_ca(file: &str, urls: &[&str], r: &mut Reader<'_>) -> Option<std::path::PathBuf> {
    if file.is_empty() {
        return None;
    }
    if !urls.iter().all(|u| u.starts_with("rediss://")) {
        r.problem(format!(
            "{} is set but the Redis URLs are not rediss:// (TLS)",
            key::tls_ca_file
        ));
    }
    if let Err(e) = std::fs::read(file) {
        r.problem(format!("{}: cannot read {file}: {e}", key::tls_ca_file));
    }
    Some(std::path::PathBuf::from(file))
}

/// Each mode's endpoints, every problem recorded: single mode takes
/// `url` only; cluster mode seeds from `nodes` and `url` (when set), all
/// of one scheme. URLs are
/// named, never shown (they may hold a password).
fn check_endpoints(mode: RedisMode, url: &str, nodes: &[String], r: &mut Reader<'_>) {
    let scheme_ok = |u: &str| u.starts_with("redis://") || u.starts_with("rediss://");
    match mode {
        RedisMode::Single => {
            if url.is_empty() {
                r.problem(format!("{} is empty: single mode needs it", key::url));
            } else if !scheme_ok(url) {
                r.problem(format!(
                    "{} must start with redis:// or rediss://",
                    key::url
                ));
            }
            if !nodes.is_empty() {
                r.problem(format!("{} is for {} = \"cluster\"", key::nodes, key::mode));
            }
        }
        RedisMode::Cluster => {
            let seeds = std::iter::once(url).filter(|u| !u.is_empty());
            for (n, node) in nodes.iter().enumerate() {
                if !scheme_ok(node) {
                    r.problem(format!(
                        "{}[{n}] must start with redis:// or rediss://",
                        key::nodes
                    ));
                }
            }
            if !url.is_empty() && !scheme_ok(url) {
                r.problem(format!(
                    "{} must start with redis:// or rediss://",
                    key::url
                ));
            }
            let seeds: Vec<&str> = seeds.chain(nodes.iter().map(String::as_str)).collect();
            let tls = seeds.iter().filter(|n| n.starts_with("rediss://")).count();
            if tls != 0 && tls != seeds.len() {
                r.problem(format!(
                    "{} and {} mix redis:// and rediss://: one scheme for the cluster",
                    key::url,
                    key::nodes
                ));
            }
        }
    }
}
