//! The connection to Redis, whatever its shape: one server behind a
//! reconnecting [`ConnectionManager`], or a Redis Cluster behind the
//! crate's [`ClusterConnection`] (it follows `MOVED`/`ASK` and topology
//! changes). Both are cheap to clone and speak [`ConnectionLike`], so the
//! tier's scripts and commands run unchanged on either.

use std::time::Duration;

use redis::aio::{ConnectionLike, ConnectionManager};
use redis::cluster::{ClusterClientBuilder, ClusterConfig};
use redis::cluster_async::ClusterConnection;
use redis::{Cmd, IntoConnectionInfo, Pipeline, RedisFuture, TlsCertificates, Value};

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
                let client = cluster_builder(config)?
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
/// connection from it), with `redis.username`/password and CA applied.
pub fn single_client(config: &RedisConfig) -> Result<redis::Client, String> {
    // The crate's message never holds the URL: safe to show.
    let info = config
        .url
        .as_str()
        .into_connection_info()
        .map_err(|e| format!("redis.url: {e}"))?;
    let mut login = info.redis_settings().clone();
    if let Some(username) = &config.username {
        login = login.set_username(username);
    }
    if let Some(password) = &config.password {
        login = login.set_password(password);
    }
    let info = info.set_redis_settings(login);
    match ca(config)? {
        Some(certificates) => redis::Client::build_with_tls(info, certificates),
        None => redis::Client::open(info),
    }
    .map_err(|e| format!("redis.url: {e}"))
}

/// The CA bundle as the crate takes it, if one is configured.
fn ca(config: &RedisConfig) -> Result<Option<TlsCertificates>, String> {
    let Some(path) = &config.tls_ca_file else {
        return Ok(None);
    };
    let pem = std::fs::read(path)
        .map_err(|e| format!("redis.tls_ca_file: cannot read {}: {e}", path.display()))?;
    Ok(Some(TlsCertificates {
        client_tls: None,
        root_cert: Some(pem),
    }))
}

/// A cluster client builder from the seed nodes, with the retries kept
/// short: a call is bounded by `redis.timeout` anyway.
pub fn cluster_builder(config: &RedisConfig) -> Result<ClusterClientBuilder, String> {
    let mut builder = ClusterClientBuilder::new(config.urls());
    if let Some(username) = &config.username {
        builder = builder.username(username);
    }
    if let Some(password) = &config.password {
        builder = builder.password(password);
    }
    if let Some(certificates) = ca(config)? {
        builder = builder.certs(certificates);
    }
    Ok(builder
        .retries(2)
        .min_retry_wait(10)
        .max_retry_wait(100)
        .connection_timeout(connect_timeout(config))
        .response_timeout(config.timeout))
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
