//! The fleet tier: a shared Redis between the local moka cache and the
//! upstream, so a fleet of sidecars asks the upstream once per image and
//! identity, not once per sidecar.
//!
//! - Entries live in one Redis hash per image (field = identity digest),
//!   with a TTL of the fresh and stale windows, stored only if the image's
//!   fleet generation and the fleet epoch did not move since the fill
//!   began (a Lua script checks and writes atomically).
//! - A cold key is filled by one instance: `SET NX PX` takes a lock, the
//!   others poll for the result, and a dead holder's lock expires.
//! - Writes and purges bump the generation (or epoch), delete the hash and
//!   publish on a channel; every instance drops its local entries on
//!   receipt (see [`subscriber`]).
//! - Redis trouble never fails a request: every call is bounded by
//!   `redis.timeout`, and while Redis is down the tier is skipped
//!   ([`health`]).

pub mod codec;
mod health;
pub mod keys;
pub mod subscriber;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use redis::aio::ConnectionManager;
use redis::{AsyncCommands, Script};

use crate::config::RedisConfig;
use crate::metrics::Metrics;
use crate::route::ImageId;
use health::Health;
use keys::Keys;

/// Most identities kept per image in Redis; past it the image's hash is
/// started afresh (token rotation must not grow it without bound).
const MAX_FIELDS_PER_IMAGE: usize = 512;
/// How long a generation counter outlives the last write to its image.
const GENERATION_TTL_MS: u64 = 24 * 3600 * 1000;

const LOOKUP: &str = r"
return {redis.call('GET', KEYS[1]) or '0', redis.call('GET', KEYS[2]) or '0', redis.call('HGET', KEYS[3], ARGV[1]) or false}
";

const STORE: &str = r"
if (redis.call('GET', KEYS[1]) or '0') ~= ARGV[1] then return 0 end
if (redis.call('GET', KEYS[2]) or '0') ~= ARGV[2] then return 0 end
if redis.call('HLEN', KEYS[3]) >= tonumber(ARGV[6]) then redis.call('DEL', KEYS[3]) end
redis.call('HSET', KEYS[3], ARGV[3], ARGV[4])
local ttl = tonumber(ARGV[5])
if redis.call('PTTL', KEYS[3]) < ttl then redis.call('PEXPIRE', KEYS[3], ttl) end
return 1
";

const INVALIDATE: &str = r"
redis.call('INCR', KEYS[1])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
redis.call('DEL', KEYS[2])
redis.call('PUBLISH', ARGV[1], ARGV[2])
return 1
";

const PURGE_ALL: &str = r"
redis.call('INCR', KEYS[1])
redis.call('PUBLISH', ARGV[1], ARGV[2])
return 1
";

const UNLOCK: &str = r"
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
";

/// Invalidation messages on the channel.
pub const PURGE_ALL_MESSAGE: &str = "all";
/// Prefix of a one-image invalidation message (followed by the image id).
pub const IMAGE_MESSAGE_PREFIX: &str = "img:";

/// What a lookup found.
pub struct Lookup {
    /// The image's fleet generation and the fleet epoch, now.
    pub stamp: (u64, u64),
    /// The stored value, if any.
    pub value: Option<Vec<u8>>,
}

/// A fill lock attempt.
pub enum Lock {
    /// Ours; release it with this token.
    Acquired(String),
    /// Another instance is filling.
    Held,
    /// Redis did not answer.
    Unavailable,
}

/// The Redis tier; share it behind an `Arc`.
pub struct Fleet {
    connection: ConnectionManager,
    client: redis::Client,
    keys: Keys,
    config: RedisConfig,
    health: Health,
    metrics: Arc<Metrics>,
    scripts: Scripts,
}

struct Scripts {
    lookup: Script,
    store: Script,
    invalidate: Script,
    purge_all: Script,
    unlock: Script,
}

impl Fleet {
    /// Connects lazily: a Redis that is down at start is retried later.
    pub fn new(config: &RedisConfig, metrics: Arc<Metrics>) -> Result<Fleet, String> {
        let client =
            redis::Client::open(config.url.as_str()).map_err(|e| format!("redis.url: {e}"))?;
        let manager = redis::aio::ConnectionManagerConfig::new()
            .set_connection_timeout(Some(config.timeout.max(Duration::from_millis(200))))
            .set_response_timeout(Some(config.timeout))
            .set_number_of_retries(1);
        let connection = ConnectionManager::new_lazy_with_config(client.clone(), manager)
            .map_err(|e| format!("redis: {e}"))?;
        Ok(Fleet {
            connection,
            client,
            keys: Keys::new(&config.key_prefix, config.key_secret.as_deref()),
            config: config.clone(),
            health: Health::default(),
            metrics,
            scripts: Scripts {
                lookup: Script::new(LOOKUP),
                store: Script::new(STORE),
                invalidate: Script::new(INVALIDATE),
                purge_all: Script::new(PURGE_ALL),
                unlock: Script::new(UNLOCK),
            },
        })
    }

    /// Key names.
    pub fn keys(&self) -> &Keys {
        &self.keys
    }

    /// The `[redis]` settings.
    pub fn config(&self) -> &RedisConfig {
        &self.config
    }

    /// Whether Redis answered the last call.
    pub fn is_up(&self) -> bool {
        self.health.is_up()
    }

    /// Runs one Redis call within `redis.timeout`, feeding the health
    /// state; `None` when skipped, failed or late.
    async fn call<T>(&self, call: impl Future<Output = redis::RedisResult<T>>) -> Option<T> {
        if !self.health.should_try() {
            return None;
        }
        match tokio::time::timeout(self.config.timeout, call).await {
            Ok(Ok(value)) => {
                self.health.succeeded();
                Some(value)
            }
            Ok(Err(err)) => {
                self.metrics.record_l2_error();
                self.health.failed(&err.to_string());
                None
            }
            Err(_) => {
                self.metrics.record_l2_error();
                self.health.failed("timed out");
                None
            }
        }
    }

    /// The stored value of one image and identity, with the stamps a
    /// later store must match.
    pub async fn lookup(&self, id: &ImageId, field: &str) -> Option<Lookup> {
        let mut connection = self.connection.clone();
        let mut invocation = self.scripts.lookup.key(self.keys.generation(id));
        invocation
            .key(self.keys.epoch())
            .key(self.keys.image(id))
            .arg(field);
        let (generation, epoch, value): (String, String, Option<Vec<u8>>) =
            self.call(invocation.invoke_async(&mut connection)).await?;
        Some(Lookup {
            stamp: (generation.parse().unwrap_or(0), epoch.parse().unwrap_or(0)),
            value,
        })
    }

    /// Stores a value unless a write or purge happened since `stamp` was
    /// read; keeps the image's hash for at least `ttl`.
    pub async fn store(
        &self,
        id: &ImageId,
        field: &str,
        value: &[u8],
        stamp: (u64, u64),
        ttl: Duration,
    ) -> bool {
        let mut connection = self.connection.clone();
        let ttl_ms = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        let mut invocation = self.scripts.store.key(self.keys.generation(id));
        invocation
            .key(self.keys.epoch())
            .key(self.keys.image(id))
            .arg(stamp.0.to_string())
            .arg(stamp.1.to_string())
            .arg(field)
            .arg(value)
            .arg(ttl_ms)
            .arg(MAX_FIELDS_PER_IMAGE);
        let stored: Option<i64> = self.call(invocation.invoke_async(&mut connection)).await;
        stored == Some(1)
    }

    /// Tries to take the fill lock of one image and identity.
    pub async fn try_lock(&self, id: &ImageId, field: &str) -> Lock {
        let token = uuid::Uuid::new_v4().to_string();
        let ttl = u64::try_from(self.config.lock_ttl.as_millis()).unwrap_or(u64::MAX);
        let options = redis::SetOptions::default()
            .conditional_set(redis::ExistenceCheck::NX)
            .with_expiration(redis::SetExpiry::PX(ttl));
        let mut connection = self.connection.clone();
        let key = self.keys.lock(id, field);
        let set: Option<Option<String>> = self
            .call(connection.set_options(key, token.as_str(), options))
            .await;
        match set {
            Some(Some(_)) => Lock::Acquired(token),
            Some(None) => Lock::Held,
            None => Lock::Unavailable,
        }
    }

    /// Releases a fill lock if it is still ours.
    pub async fn unlock(&self, id: &ImageId, field: &str, token: &str) {
        let mut connection = self.connection.clone();
        let mut invocation = self.scripts.unlock.key(self.keys.lock(id, field));
        invocation.arg(token);
        let _: Option<i64> = self.call(invocation.invoke_async(&mut connection)).await;
    }

    /// Drops an image's entries fleet-wide and tells every instance.
    pub async fn invalidate(&self, id: &ImageId) {
        let mut connection = self.connection.clone();
        let message = format!("{IMAGE_MESSAGE_PREFIX}{id}");
        let mut invocation = self.scripts.invalidate.key(self.keys.generation(id));
        invocation
            .key(self.keys.image(id))
            .arg(self.keys.channel())
            .arg(message)
            .arg(GENERATION_TTL_MS);
        let _: Option<i64> = self.call(invocation.invoke_async(&mut connection)).await;
    }

    /// Starts a new fleet epoch (every stored entry becomes invisible)
    /// and tells every instance to drop its local cache.
    pub async fn purge_all(&self) {
        let mut connection = self.connection.clone();
        let mut invocation = self.scripts.purge_all.key(self.keys.epoch());
        invocation.arg(self.keys.channel()).arg(PURGE_ALL_MESSAGE);
        let _: Option<i64> = self.call(invocation.invoke_async(&mut connection)).await;
    }

    /// The Redis client (the subscriber opens its own connection).
    pub fn client(&self) -> &redis::Client {
        &self.client
    }

    /// The metrics the tier feeds.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }
}
