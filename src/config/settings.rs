//! Every section's settings as read (see [`super::table`]): what the
//! typed config is built from, and what a reload compares, key by key.

use std::fmt;
use std::sync::Arc;

use super::admin::AdminSettings;
use super::cache::CacheSettings;
use super::identity::IdentitySettings;
use super::keys::{Changes, Class, Key};
use super::log::LogSettings;
use super::reader::Reader;
use super::redis::RedisSettings;
use super::server::ServerSettings;
use super::signing::SigningSettings;
use super::transform::TransformSettings;
use super::upstream::UpstreamSettings;
use super::{admin, cache, identity, log, redis, server, signing, transform, upstream};

/// The sections, in file order.
#[derive(Clone, PartialEq)]
pub(super) struct Settings {
    pub server: ServerSettings,
    pub upstream: UpstreamSettings,
    pub cache: CacheSettings,
    pub transform: TransformSettings,
    pub log: LogSettings,
    pub admin: AdminSettings,
    pub redis: RedisSettings,
    pub signing: SigningSettings,
    pub identity: IdentitySettings,
}

impl Settings {
    /// Reads every key of every section.
    pub fn read(r: &mut Reader<'_>) -> Settings {
        Settings {
            server: ServerSettings::read(r),
            upstream: UpstreamSettings::read(r),
            cache: CacheSettings::read(r),
            transform: TransformSettings::read(r),
            log: LogSettings::read(r),
            admin: AdminSettings::read(r),
            redis: RedisSettings::read(r),
            signing: SigningSettings::read(r),
            identity: IdentitySettings::read(r),
        }
    }

    /// The keys of `class` whose values differ in `file`, in file order.
    pub fn diff(&self, file: &Settings, class: Class) -> Vec<&'static str> {
        // No `..`: a new section does not compile until it is compared.
        let Settings {
            server,
            upstream,
            cache,
            transform,
            log,
            admin,
            redis,
            signing,
            identity,
        } = self;
        let mut changes = Changes::default();
        server.diff(&file.server, class, &mut changes);
        upstream.diff(&file.upstream, class, &mut changes);
        cache.diff(&file.cache, class, &mut changes);
        transform.diff(&file.transform, class, &mut changes);
        log.diff(&file.log, class, &mut changes);
        admin.diff(&file.admin, class, &mut changes);
        redis.diff(&file.redis, class, &mut changes);
        signing.diff(&file.signing, class, &mut changes);
        identity.diff(&file.identity, class, &mut changes);
        changes.into_keys()
    }

    /// Every section as TOML, in file order, secrets redacted.
    pub fn effective_toml(&self) -> String {
        let Settings {
            server,
            upstream,
            cache,
            transform,
            log,
            admin,
            redis,
            signing,
            identity,
        } = self;
        let sections = [
            server.effective(),
            upstream.effective(),
            cache.effective(),
            transform.effective(),
            log.effective(),
            admin.effective(),
            redis.effective(),
            signing.effective(),
            identity.effective(),
        ];
        let mut out = String::new();
        for (at, keys) in sections.iter().enumerate() {
            if at > 0 {
                out.push('\n');
            }
            super::effective::write_section(&mut out, keys);
        }
        out
    }
}

/// Every section's keys, in file order.
pub(super) const SECTIONS: &[&[Key]] = &[
    server::key::ALL,
    upstream::key::ALL,
    cache::key::ALL,
    transform::key::ALL,
    log::key::ALL,
    admin::key::ALL,
    redis::key::ALL,
    signing::key::ALL,
    identity::key::ALL,
];

/// Every key with its reload class, in file order.
#[cfg(test)]
pub(super) fn classes() -> impl Iterator<Item = (Key, Class)> {
    [
        ServerSettings::CLASSES,
        UpstreamSettings::CLASSES,
        CacheSettings::CLASSES,
        TransformSettings::CLASSES,
        LogSettings::CLASSES,
        AdminSettings::CLASSES,
        RedisSettings::CLASSES,
        SigningSettings::CLASSES,
        IdentitySettings::CLASSES,
    ]
    .into_iter()
    .flatten()
    .copied()
}

/// The settings a config was built from, carried along for a reload to
/// compare; shared, and never printed (they hold secrets as written).
#[derive(Clone, PartialEq)]
pub(super) struct AsRead(pub(super) Arc<Settings>);

impl fmt::Debug for AsRead {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AsRead { .. }")
    }
}
