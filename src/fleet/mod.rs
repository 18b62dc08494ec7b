//! The fleet tier: a shared Redis between the local moka cache and the
//! upstream, so a fleet of sidecars asks the upstream once per image and
//! identity, not once per sidecar.
//!
//! - Entries live in one Redis hash per image (field = identity digest),
//!   with a TTL of the fresh and stale windows, stored only if the image's
//!   fleet generation did not move since the fill began (a Lua script
//!   checks and writes atomically). Each entry carries the fleet epoch it
//!   was filled under; one of another epoch is a miss.
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
pub mod link;
pub mod subscriber;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use redis::Script;

use crate::config::{RedisConfig, RedisMode};
use crate::metrics::Metrics;
use crate::route::ImageId;
use health::Health;
use keys::Keys;
use link::Link;

/// Most identities kept per image in Redis; past it the image's hash is
/// started afresh (token rotation must not grow it without bound).
const MAX_FIELDS_PER_IMAGE: usize = 512;
/// How long a generation counter outlives the last write to its image.
const GENERATION_TTL_MS: u64 = 24 * 3600 * 1000;

// Every script below touches the keys of one image only (one hash tag,
// one cluster slot); the epoch has scripts of its own.

const LOOKUP: &str = r"
return {redis.call('GET', KEYS[1]) or '0', redis.call('HGET', KEYS[2], ARGV[1]) or false}
";

const STORE: &str = r"
if (redis.call('GET', KEYS[1]) or '0') ~= ARGV[1] then return 0 end
if redis.call('HLEN', KEYS[2]) >= tonumber(ARGV[5]) then redis.call('DEL', KEYS[2]) end
redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
local ttl = tonumber(ARGV[4])
if redis.call('PTTL', KEYS[2]) < ttl then redis.call('PEXPIRE', KEYS[2], ttl) end
return 1
";

const INVALIDATE: &str = r"
redis.call('INCR', KEYS[1])
redis.call('PEXPIRE', KEYS[1], ARGV[1])
redis.call('DEL', KEYS[2])
return 1
";

// The epoch is Redis's clock in ms when it was set, never going back. A
// missing epoch (never set, or lost with its node) is set to now: every
// entry stored before becomes invisible, so a lost epoch can never bring
// back entries a purge-all had voided.
const EPOCH: &str = r"
local epoch = redis.call('GET', KEYS[1])
if epoch then return epoch end
local t = redis.call('TIME')
epoch = string.format('%.0f', tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000))
redis.call('SET', KEYS[1], epoch)
return epoch
";

const PURGE_ALL: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local old = tonumber(redis.call('GET', KEYS[1]) or '0') or 0
if now <= old then now = old + 1 end
local epoch = string.format('%.0f', now)
redis.call('SET', KEYS[1], epoch)
return epoch
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
    connection: Link,
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
    epoch: Script,
    purge_all: Script,
    unlock: Script,
}

impl Fleet {
    /// Connects lazily: a Redis that is down at start is retried later.
    pub fn new(config: &RedisConfig, metrics: Arc<Metrics>) -> Result<Fleet, String> {
        Ok(Fleet {
            connection: Link::open(config)?,
            keys: Keys::new(&config.key_prefix, config.key_secret.as_deref()),
            config: config.clone(),
            health: Health::default(),
            metrics,
            scripts: Scripts {
                lookup: Script::new(LOOKUP),
                store: Script::new(STORE),
                invalidate: Script::new(INVALIDATE),
                epoch: Script::new(EPOCH),
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
    ///
    /// The epoch is read beside the image's script, not inside it (it
    /// lives in another slot), and checked against the entry's own: an
    /// entry stored under an older epoch (a fill a purge-all overtook) is
    /// a miss for every reader that read the new epoch.
    pub async fn lookup(&self, id: &ImageId, field: &str) -> Option<Lookup> {
        let mut image_connection = self.connection.clone();
        let mut epoch_connection = self.connection.clone();
        let mut invocation = self.scripts.lookup.key(self.keys.generation(id));
        invocation.key(self.keys.image(id)).arg(field);
        let epoch_invocation = self.scripts.epoch.key(self.keys.epoch());
        let read = async {
            let (image, epoch) = tokio::join!(
                invocation.invoke_async::<(String, Option<Vec<u8>>)>(&mut image_connection),
                epoch_invocation.invoke_async::<String>(&mut epoch_connection),
            );
            Ok::<_, redis::RedisError>((image?, epoch?))
        };
        let ((generation, value), epoch) = self.call(read).await?;
        Some(Lookup {
            stamp: (generation.parse().unwrap_or(0), epoch.parse().unwrap_or(0)),
            value,
        })
    }

    /// Stores a value unless a write happened since `stamp` was read;
    /// keeps the image's hash for at least `ttl`. A purge-all in between
    /// is not checked here: the value carries its epoch, which no reader
    /// of the new one accepts.
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
            .key(self.keys.image(id))
            .arg(stamp.0.to_string())
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
        let mut set_nx = redis::cmd("SET");
        set_nx
            .arg(self.keys.lock(id, field))
            .arg(token.as_str())
            .arg(options);
        let set: Option<Option<String>> = self.call(set_nx.query_async(&mut connection)).await;
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
        let mut invocation = self.scripts.invalidate.key(self.keys.generation(id));
        invocation.key(self.keys.image(id)).arg(GENERATION_TTL_MS);
        let _: Option<i64> = self.call(invocation.invoke_async(&mut connection)).await;
        // Even when the image's shard did not answer: the channel may be
        // on another, and the other instances must drop their copies.
        self.publish(&format!("{IMAGE_MESSAGE_PREFIX}{id}")).await;
    }

    /// Starts a new fleet epoch (every stored entry becomes invisible)
    /// and tells every instance to drop its local cache.
    pub async fn purge_all(&self) {
        let mut connection = self.connection.clone();
        let invocation = self.scripts.purge_all.key(self.keys.epoch());
        let _: Option<String> = self.call(invocation.invoke_async(&mut connection)).await;
        self.publish(PURGE_ALL_MESSAGE).await;
    }

    /// Tells every instance on the invalidation channel: `PUBLISH` on one
    /// server, `SPUBLISH` (sharded: only the channel's shard carries it)
    /// on a cluster. Not inside the image's script: the channel is
    /// global, the script's keys are not.
    async fn publish(&self, message: &str) {
        let mut connection = self.connection.clone();
        let command = match self.config.mode {
            RedisMode::Single => "PUBLISH",
            RedisMode::Cluster => "SPUBLISH",
        };
        let mut publish = redis::cmd(command);
        publish.arg(self.keys.channel()).arg(message);
        // Not skipped while Redis looks down (a write is rare, and one
        // dead cluster shard must not silence the channel on another):
        // tried every time, within `redis.timeout`.
        let sent = tokio::time::timeout(
            self.config.timeout,
            publish.query_async::<i64>(&mut connection),
        )
        .await;
        if !matches!(sent, Ok(Ok(_))) {
            self.metrics.record_l2_error();
        }
    }

    /// The metrics the tier feeds.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }
}
