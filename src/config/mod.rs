//! Configuration: `config/imgcache.toml`, overridden by `IMGCACHE_*`
//! environment variables, overridden by flags. Every key is declared
//! once, in its section's [`table::settings!`] table (name, kind,
//! default, reload class, docs), has a named default ([`defaults`]) and
//! a comment in `config/imgcache.toml`.
//!
//! Loading never stops at the first problem: [`Config::from_sources`]
//! returns all of them, and `main` exits with [`EXIT_BAD_CONFIG`].
//!
//! Loading is two passes: every key is read into its section's settings
//! (generated from the table), then each section's typed config is built
//! from them, with the checks a value needs (`build`).
//!
//! What a reload (SIGHUP) applies and what only a restart does are two
//! types, [`Reloadable`] and [`Fixed`]; [`Config::split`] puts every
//! field in one of them. A reload names the changed keys from the
//! settings as read, by each key's declared class; a unit test holds the
//! classes to the split.
//!
//! Config is the ground floor: it imports no other module of the crate.
//! The value types it needs ([`IdentityHeaders`], [`UnderscoreHeaders`],
//! [`Mode`]) live here; certificate contents are checked at start-up.
//!
//! Layout: one file per section (`server`, `upstream`, `cache`,
//! `transform`, `log`, `admin`, `redis`, `signing`, `identity`) with its
//! table, its typed config and its `build`; `table` (the macro),
//! `settings` (all sections as read), [`keys`] (the `Key` name type),
//! `reader` (typed values out of file + env + flags), [`defaults`],
//! [`cli`], [`units`].

mod admin;
mod cache;
pub mod cli;
pub mod defaults;
mod effective;
mod identity;
mod identity_headers;
pub mod keys;
mod log;
mod reader;
mod redis;
mod server;
mod settings;
mod signing;
mod table;
mod tls;
mod transform;
mod underscore_headers;
pub mod units;
mod upstream;

use keys::Class;
use reader::Reader;
pub use reader::{Sources, env_name};
use settings::{AsRead, Settings};

pub use self::admin::AdminConfig;
pub use self::cache::CacheConfig;
pub use self::identity::{IdentityConfig, Share};
pub use self::log::LogConfig;
pub use self::redis::{RedisConfig, RedisMode};
pub use self::server::ServerConfig;
pub use self::signing::{Credential, SigningConfig};
pub use self::tls::{CertFiles, ServerTls};
pub use self::transform::{Mode, TransformConfig};
pub use self::upstream::{UpstreamConfig, parse_upstream_url};
pub use defaults::*;
pub use effective::{REDACTED, redact_url_password};
pub use identity_headers::{IdentityHeaders, MAX_IDENTITY_HEADERS};
pub use underscore_headers::UnderscoreHeaders;

/// `EX_USAGE` from sysexits.h: the exit code for a bad config or bad flags.
pub const EXIT_BAD_CONFIG: u8 = 64;

/// The config file used when neither `--config` nor `IMGCACHE_CONFIG` names one.
pub const DEFAULT_CONFIG_PATH: &str = "config/imgcache.toml";

/// The whole, validated configuration.
#[derive(Clone)]
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
    /// The settings it was built from, for a reload to compare.
    as_read: AsRead,
}

/// Every section (secrets redacted by each section's own `Debug`), not
/// the raw copy kept for reloads. `--check-config` prints
/// [`Config::effective_toml`] instead.
impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
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
            as_read: _,
        } = self;
        f.debug_struct("Config")
            .field("server", server)
            .field("upstream", upstream)
            .field("cache", cache)
            .field("cache_max_bytes", cache_max_bytes)
            .field("transform", transform)
            .field("log", log)
            .field("admin", admin)
            .field("redis", redis)
            .field("signing", signing)
            .field("identity", identity)
            .finish()
    }
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
    /// The settings it was built from.
    as_read: AsRead,
}

impl Fixed {
    /// The restart-only keys whose values differ in `file`
    /// (`section.key`): names only, so secrets (`admin.token`,
    /// `redis.url`, `redis.key_secret`) never reach a log line. A tier
    /// that is off on both sides (`[redis]`, `[identity]` without a URL)
    /// changes nothing, whatever its other keys say.
    /// What is compared is what the sources said (the settings as read),
    /// so a config changed in code after loading compares as loaded.
    pub fn diff(&self, file: &Self) -> Vec<&'static str> {
        let off = |section: &str| match section {
            "redis" => self.redis.is_none() && file.redis.is_none(),
            "identity" => self.identity.is_none() && file.identity.is_none(),
            _ => false,
        };
        let mut changed = self.as_read.0.diff(&file.as_read.0, Class::Restart);
        changed.retain(|key| !key.split_once('.').is_some_and(|(section, _)| off(section)));
        changed
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

    /// Reads every key, then builds every section, recording what is
    /// wrong.
    fn read(r: &mut Reader<'_>) -> Config {
        let s = Settings::read(r);
        let config = Config {
            server: ServerConfig::build(&s.server, r),
            upstream: UpstreamConfig::build(&s.upstream, r),
            cache: CacheConfig::build(&s.cache, r),
            cache_max_bytes: cache::max_bytes(&s.cache, r),
            transform: TransformConfig::build(&s.transform, r),
            log: LogConfig::build(&s.log, r),
            admin: AdminConfig::build(&s.admin, r),
            redis: RedisConfig::build(&s.redis, r),
            signing: SigningConfig::build(&s.signing, r),
            identity: IdentityConfig::build(&s.identity, r),
            as_read: AsRead(std::sync::Arc::new(s)),
        };
        config.cross_check(r);
        config
    }

    /// The configuration as the proxy runs with it, as TOML: every key
    /// of every section in file order, defaults filled in, secrets
    /// redacted (what `--check-config` prints).
    pub fn effective_toml(&self) -> String {
        self.as_read.0.effective_toml()
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
            as_read,
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
            as_read,
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
                server::key::listen,
                admin::key::listen,
                self.server.listen
            ));
        }
        if self.cache.max_object_bytes as u64 > self.cache_max_bytes {
            r.problem(format!(
                "{} is larger than {}",
                cache::key::max_object_bytes,
                cache::key::max_bytes
            ));
        }
    }
}

/// Every key, section by section in file order.
pub fn all_keys() -> impl Iterator<Item = keys::Key> {
    settings::SECTIONS.iter().copied().flatten().copied()
}

#[cfg(test)]
mod diff_tests;
#[cfg(test)]
mod tests;
