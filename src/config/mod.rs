//! Configuration: `config/imgcache.toml`, overridden by `IMGCACHE_*`
//! environment variables, overridden by flags. Every key is named once
//! (`key::*` in its section's file), has a named default
//! ([`defaults`]) and a comment in `config/imgcache.toml`.
//!
//! Loading never stops at the first problem: [`Config::from_sources`]
//! returns all of them, and `main` exits with [`EXIT_BAD_CONFIG`].
//!
//! What a reload (SIGHUP) applies and what only a restart does are two
//! types, [`Reloadable`] and [`Fixed`]; [`Config::split`] puts every
//! field in one of them, and each section's `diff` names every key that
//! changed, so neither list is kept by hand.
//!
//! Layout: one file per section (`server`, `upstream`, `cache`,
//! `transform`, `log`, `admin`, `redis`) with its keys, its type, its
//! reader and its `diff`; [`keys`] (the `Key` name type), `reader`
//! (typed values out of file + env + flags), [`defaults`], [`cli`],
//! [`units`].

mod admin;
mod cache;
pub mod cli;
pub mod defaults;
mod identity;
mod identity_headers;
pub mod keys;
mod log;
mod reader;
mod redis;
mod server;
mod signing;
mod tls;
mod transform;
mod underscore_headers;
pub mod units;
mod upstream;

use reader::Reader;
pub use reader::{Sources, env_name};

pub use self::admin::AdminConfig;
pub use self::cache::CacheConfig;
pub use self::identity::{IdentityConfig, Share};
pub use self::log::LogConfig;
pub use self::redis::RedisConfig;
pub use self::server::ServerConfig;
pub use self::signing::{Credential, SigningConfig};
pub use self::tls::{CertFiles, ServerTls};
pub use self::transform::{Mode, TransformConfig};
pub use self::upstream::{UpstreamConfig, parse_upstream_url};
pub use defaults::*;
pub use identity_headers::{IdentityHeaders, MAX_IDENTITY_HEADERS};
pub use underscore_headers::UnderscoreHeaders;

/// `EX_USAGE` from sysexits.h: the exit code for a bad config or bad flags.
pub const EXIT_BAD_CONFIG: u8 = 64;

/// The config file used when neither `--config` nor `IMGCACHE_CONFIG` names one.
pub const DEFAULT_CONFIG_PATH: &str = "config/imgcache.toml";

/// The whole, validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub server: ServerConfig,
    pub upstream: UpstreamConfig,
    /// `[cache]` but `cache.max_bytes`.
    pub cache: CacheConfig,
    /// `cache.max_bytes`: the store is sized once, when it is built.
    pub cache_max_bytes: u64,
    pub transform: TransformConfig,
    pub log: LogConfig,
    pub admin: AdminConfig,
    /// The shared second tier; `None` when `redis.url` is empty.
    pub redis: Option<RedisConfig>,
    /// AK/SK credentials whose signatures are verified.
    pub signing: SigningConfig,
    /// Token validation; `None` when `identity.keystone_url` is empty.
    pub identity: Option<IdentityConfig>,
}

/// What a running proxy applies on reload (SIGHUP).
#[derive(Debug, Clone, PartialEq)]
pub struct Reloadable {
    pub cache: CacheConfig,
    pub transform: TransformConfig,
}

/// What only a restart applies: a reload names each of these keys that
/// changed, and keeps the running value.
#[derive(Debug, Clone, PartialEq)]
pub struct Fixed {
    pub server: ServerConfig,
    pub upstream: UpstreamConfig,
    pub cache_max_bytes: u64,
    pub log: LogConfig,
    pub admin: AdminConfig,
    pub redis: Option<RedisConfig>,
    pub signing: SigningConfig,
    pub identity: Option<IdentityConfig>,
}

impl Reloadable {
    /// The keys whose values differ in `file` (`section.key`).
    pub fn diff(&self, file: &Self) -> Vec<&'static str> {
        // No `..`: a new field does not compile until it is compared here.
        let Self { cache, transform } = self;
        let mut changed = cache.diff(&file.cache);
        changed.extend(transform.diff(&file.transform));
        changed
    }
}

impl Fixed {
    /// The keys whose values differ in `file` (`section.key`): names
    /// only, so secrets (`admin.token`, `redis.url`, `redis.key_secret`)
    /// never reach a log line.
    pub fn diff(&self, file: &Self) -> Vec<&'static str> {
        // No `..`: a new field does not compile until it is compared here.
        let Self {
            server,
            upstream,
            cache_max_bytes,
            log,
            admin,
            redis,
            signing,
            identity,
        } = self;
        let mut changes = keys::Changes::default();
        changes.extend(server.diff(&file.server));
        changes.extend(upstream.diff(&file.upstream));
        changes.check(
            cache::key::MAX_BYTES,
            cache_max_bytes,
            &file.cache_max_bytes,
        );
        changes.extend(log.diff(&file.log));
        changes.extend(admin.diff(&file.admin));
        changes.extend(RedisConfig::diff_tier(redis.as_ref(), file.redis.as_ref()));
        changes.extend(signing.diff(&file.signing));
        changes.extend(IdentityConfig::diff_section(
            identity.as_ref(),
            file.identity.as_ref(),
        ));
        changes.into_keys()
    }
}

impl Config {
    /// Builds and validates a config; on failure returns every problem.
    pub fn from_sources(sources: &Sources) -> Result<Config, Vec<String>> {
        let (config, problems) = Config::read_all(sources);
        if problems.is_empty() {
            Ok(config)
        } else {
            Err(problems)
        }
    }

    /// Reads as far as the sources go: every setting (a bad one at its
    /// default) and every problem found. Start-up adds its own checks of
    /// the config (certificate contents) to the same list.
    pub fn read_all(sources: &Sources) -> (Config, Vec<String>) {
        let mut r = Reader::new(sources);
        let config = Config::read(&mut r);
        (config, r.finish())
    }

    /// Reads every section, recording what is wrong.
    fn read(r: &mut Reader<'_>) -> Config {
        let config = Config {
            server: ServerConfig::read(r),
            upstream: UpstreamConfig::read(r),
            cache: CacheConfig::read(r),
            cache_max_bytes: cache::max_bytes(r),
            transform: TransformConfig::read(r),
            log: LogConfig::read(r),
            admin: AdminConfig::read(r),
            redis: RedisConfig::read(r),
            signing: SigningConfig::read(r),
            identity: IdentityConfig::read(r),
        };
        config.cross_check(r);
        config
    }

    /// The defaults, as if no file, env or flag said anything.
    pub fn defaults() -> Config {
        match Config::from_sources(&Sources::default()) {
            Ok(config) => config,
            // The defaults are constants checked by a unit test.
            Err(problems) => unreachable!("defaults are invalid: {problems:?}"),
        }
    }

    /// Splits the config by when it applies. No field is left out: a new
    /// one does not compile until it is placed on one side.
    pub fn split(self) -> (Fixed, Reloadable) {
        let Config {
            server,
            upstream,
            cache,
            cache_max_bytes,
            transform,
            log,
            admin,
            redis,
            signing,
            identity,
        } = self;
        let fixed = Fixed {
            server,
            upstream,
            cache_max_bytes,
            log,
            admin,
            redis,
            signing,
            identity,
        };
        (fixed, Reloadable { cache, transform })
    }

    /// What only a restart applies.
    pub fn fixed(&self) -> Fixed {
        self.clone().split().0
    }

    /// What a reload applies.
    pub fn reloadable(&self) -> Reloadable {
        self.clone().split().1
    }

    /// Checks that need more than one setting.
    fn cross_check(&self, r: &mut Reader<'_>) {
        // Port 0 means "any free port": two of those never collide.
        if self.server.listen == self.admin.listen && self.server.listen.port() != 0 {
            r.problem(format!(
                "{} and {} are both {}: the admin API needs its own port",
                server::key::LISTEN,
                admin::key::LISTEN,
                self.server.listen
            ));
        }
        if self.cache.max_object_bytes as u64 > self.cache_max_bytes {
            r.problem(format!(
                "{} is larger than {}",
                cache::key::MAX_OBJECT_BYTES,
                cache::key::MAX_BYTES
            ));
        }
    }
}

/// Every key, section by section in file order (unit tests hold it
/// equal to the keys the reader reads).
pub fn all_keys() -> impl Iterator<Item = keys::Key> {
    [
        server::key::ALL,
        upstream::key::ALL,
        cache::key::ALL,
        transform::key::ALL,
        log::key::ALL,
        admin::key::ALL,
        redis::key::ALL,
        signing::key::ALL,
        identity::key::ALL,
    ]
    .into_iter()
    .flatten()
    .copied()
}

#[cfg(test)]
mod diff_tests;
#[cfg(test)]
mod tests;
