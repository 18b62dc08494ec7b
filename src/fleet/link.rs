//! The connection to Redis, whatever its shape: one server behind a
//! reconnecting [`ConnectionManager`], or a Redis Cluster behind the
//! crate's [`ClusterConnection`] (it follows `MOVED`/`ASK` and topology
//! changes). Both are cheap to clone and speak [`ConnectionLike`], so the
//! tier's scripts and commands run unchanged on either.

use std::time::Duration;

use redis::aio::{ConnectionLike, ConnectionManager};
use redis::cluster::{ClusterClientBuilder, ClusterConfig};
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, Pipeline, RedisFuture, Value};

use crate::config::{RedisConfig, RedisMode};

/// A connection to the tier's Redis.
#[derive(Clone)]
pub enum Link {
    /// One server.
    Single(ConnectionManager),
    /// A Redis Cluster.
    Cluster(ClusterConnection),
}

/// How long to wait to connect: never less than 200 ms (a fresh TLS
/// handshake), whatever `redis.timeout` says.
fn connect_timeout(config: &RedisConfig) -> Duration {
    config.timeout.max(Duration::from_millis(200))
}

impl Link {
    /// Connects lazily: a Redis that is down at start is retried later.
    pub fn open(config: &RedisConfig) -> Result<Link, String> {
        match config.mode {
            RedisMode::Single => {
                let client = single_client(config)?;
                let manager = redis::aio::ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(connect_timeout(config)))
                    .set_response_timeout(Some(config.timeout))
                    .set_number_of_retries(1);
                ConnectionManager::new_lazy_with_config(client, manager)
                    .map(Link::Single)
                    .map_err(|e| format!("redis: {e}"))
            }
            RedisMode::Cluster => {
                let client = cluster_builder(config)
                    .build()
                    .map_err(|e| format!("redis.nodes: {e}"))?;
                let settings = ClusterConfig::new()
                    .set_connection_timeout(connect_timeout(config))
                    .set_response_timeout(config.timeout);
                Ok(Link::Cluster(
                    client.get_pending_async_connection_with_config(settings),
                ))
            }
        }
    }
}

/// The client of a single server (the subscriber opens its own
/// connection from it).
pub fn single_client(config: &RedisConfig) -> Result<redis::Client, String> {
    redis::Client::open(config.url.as_str()).map_err(|e| format!("redis.url: {e}"))
}

/// A cluster client builder from the seed nodes, with the retries kept
/// short: a call is bounded by `redis.timeout` anyway.
pub fn cluster_builder(config: &RedisConfig) -> ClusterClientBuilder {
    ClusterClientBuilder::new(config.urls())
        .retries(2)
        .min_retry_wait(10)
        .max_retry_wait(100)
        .connection_timeout(connect_timeout(config))
        .response_timeout(config.timeout)
}

impl ConnectionLike for Link {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Link::Single(c) => c.req_packed_command(cmd),
            Link::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Link::Single(c) => c.req_packed_commands(pipeline, offset, count),
            Link::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Link::Single(c) => c.get_db(),
            Link::Cluster(c) => c.get_db(),
        }
    }
}
