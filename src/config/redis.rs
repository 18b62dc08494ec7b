//! `[redis]`: the fleet's shared second tier. Only a restart applies it.

use std::time::Duration;

use super::defaults::*;
use super::reader::Reader;
use super::table::settings;

settings! {
    /// `[redis]` as written.
    RedisSettings in "redis" {
        /// `redis://` or `rediss://`; empty: no shared tier. May hold a
        /// password: named in messages, never shown.
        url: string = DEFAULT_REDIS_URL, Restart;
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

impl RedisConfig {
    /// Builds the section from its settings, recording what is wrong;
    /// `None` when `redis.url` is empty (the tier is off).
    pub(super) fn build(s: &RedisSettings, r: &mut Reader<'_>) -> Option<RedisConfig> {
        // No `..`: a key nobody builds from is an unused variable.
        let RedisSettings {
            url,
            key_secret,
            timeout,
            lock_ttl,
            poll_interval,
            key_prefix,
        } = s;
        let url = url.trim();
        if url.is_empty() {
            return None;
        }
        if !(url.starts_with("redis://") || url.starts_with("rediss://")) {
            r.problem(format!(
                "{} must start with redis:// or rediss://",
                key::url
            ));
        }
        let key_secret = key_secret.trim();
        Some(RedisConfig {
            url: url.to_owned(),
            key_secret: (!key_secret.is_empty()).then(|| key_secret.to_owned()),
            timeout: *timeout,
            lock_ttl: *lock_ttl,
            poll_interval: *poll_interval,
            key_prefix: key_prefix.clone(),
        })
    }
}
