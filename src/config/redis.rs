//! `[redis]`: the fleet's shared second tier. Only a restart applies it.

use std::time::Duration;

use super::defaults::*;
use super::keys::{Changes, Key};
use super::reader::Reader;

/// The `[redis]` keys.
pub mod key {
    use super::Key;

    /// May hold a password: named in messages, never shown.
    pub const URL: Key = Key::new("redis.url");
    /// A secret: named in messages, never shown.
    pub const KEY_SECRET: Key = Key::new("redis.key_secret");
    pub const TIMEOUT: Key = Key::new("redis.timeout");
    pub const LOCK_TTL: Key = Key::new("redis.lock_ttl");
    pub const POLL_INTERVAL: Key = Key::new("redis.poll_interval");
    pub const KEY_PREFIX: Key = Key::new("redis.key_prefix");
    /// Every key of the section (a unit test holds it to what is read).
    pub const ALL: &[Key] = &[
        URL,
        KEY_SECRET,
        TIMEOUT,
        LOCK_TTL,
        POLL_INTERVAL,
        KEY_PREFIX,
    ];
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
    /// Reads the section, recording what is wrong with it; `None` when
    /// `redis.url` is empty (the tier is off).
    pub(super) fn read(r: &mut Reader<'_>) -> Option<RedisConfig> {
        let url = r.string(key::URL, DEFAULT_REDIS_URL).trim().to_owned();
        let key_secret = r.string(key::KEY_SECRET, DEFAULT_REDIS_KEY_SECRET);
        let key_secret = key_secret.trim().to_owned();
        let config = RedisConfig {
            key_secret: (!key_secret.is_empty()).then_some(key_secret),
            timeout: r.positive(key::TIMEOUT, DEFAULT_REDIS_TIMEOUT),
            lock_ttl: r.positive(key::LOCK_TTL, DEFAULT_REDIS_LOCK_TTL),
            poll_interval: r.positive(key::POLL_INTERVAL, DEFAULT_REDIS_POLL_INTERVAL),
            key_prefix: r.string(key::KEY_PREFIX, DEFAULT_REDIS_KEY_PREFIX),
            url,
        };
        if config.url.is_empty() {
            return None;
        }
        if !(config.url.starts_with("redis://") || config.url.starts_with("rediss://")) {
            r.problem(format!(
                "{} must start with redis:// or rediss://",
                key::URL
            ));
        }
        Some(config)
    }

    /// The tier turned off: no URL, no secret, every other key at its
    /// default.
    fn off() -> RedisConfig {
        RedisConfig {
            url: DEFAULT_REDIS_URL.to_owned(),
            key_secret: None,
            timeout: DEFAULT_REDIS_TIMEOUT,
            lock_ttl: DEFAULT_REDIS_LOCK_TTL,
            poll_interval: DEFAULT_REDIS_POLL_INTERVAL,
            key_prefix: DEFAULT_REDIS_KEY_PREFIX.to_owned(),
        }
    }

    /// The keys whose values differ in `file`; a tier that is off reads
    /// as `RedisConfig::off`, so turning it on names `redis.url` and
    /// every key set away from its default.
    pub fn diff_tier(running: Option<&Self>, file: Option<&Self>) -> Vec<&'static str> {
        let off = RedisConfig::off();
        running.unwrap_or(&off).diff(file.unwrap_or(&off))
    }

    /// The keys whose values differ in `file`.
    pub fn diff(&self, file: &Self) -> Vec<&'static str> {
        // No `..`: a new field does not compile until it is compared here.
        let Self {
            url,
            key_secret,
            timeout,
            lock_ttl,
            poll_interval,
            key_prefix,
        } = self;
        let mut changes = Changes::default();
        changes.check(key::URL, url, &file.url);
        changes.check(key::KEY_SECRET, key_secret, &file.key_secret);
        changes.check(key::TIMEOUT, timeout, &file.timeout);
        changes.check(key::LOCK_TTL, lock_ttl, &file.lock_ttl);
        changes.check(key::POLL_INTERVAL, poll_interval, &file.poll_interval);
        changes.check(key::KEY_PREFIX, key_prefix, &file.key_prefix);
        changes.into_keys()
    }
}
