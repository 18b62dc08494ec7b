//! Setting names. Each section file declares its keys once, in its
//! [`settings!`](super::table) table, which makes the [`Key`] consts;
//! the reader, the problems it reports and a reload's list of changed
//! settings all use those names.

use std::fmt;

/// A setting's name as the file writes it: `section.key`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Key(&'static str);

impl Key {
    /// `path` is `section.key`; anything else does not compile where the
    /// key is a const.
    pub const fn new(path: &'static str) -> Key {
        let bytes = path.as_bytes();
        let mut dots = 0;
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'.' {
                assert!(i > 0 && i + 1 < bytes.len(), "a key is section.key");
                dots += 1;
            }
            i += 1;
        }
        assert!(dots == 1, "a key is section.key");
        Key(path)
    }

    /// `section.key`.
    pub fn path(self) -> &'static str {
        self.0
    }

    /// The `[section]` it is written under.
    pub fn section(self) -> &'static str {
        self.0
            .split_once('.')
            .map_or(self.0, |(section, _)| section)
    }

    /// Its name within the section.
    pub fn name(self) -> &'static str {
        self.0.split_once('.').map_or(self.0, |(_, name)| name)
    }

    /// The environment variable that overrides it.
    pub fn env_name(self) -> String {
        super::env_name(self.section(), self.name())
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

/// When a changed key takes effect.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    /// A reload (SIGHUP) applies it.
    Reload,
    /// Only a restart does; a reload names it as not applied.
    Restart,
}

/// The keys whose values differ between two configs, in key order.
/// The settings structs fill it, one check per key (generated, so no
/// key goes unchecked).
#[derive(Debug, Default)]
pub(super) struct Changes(Vec<&'static str>);

impl Changes {
    /// Names `key` when `running` and `file` differ (once, also when two
    /// fields come from one key).
    pub fn check<T: PartialEq + ?Sized>(&mut self, key: Key, running: &T, file: &T) {
        if running != file && self.0.last() != Some(&key.path()) {
            self.0.push(key.path());
        }
    }

    /// The changed keys, as `section.key`.
    pub fn into_keys(self) -> Vec<&'static str> {
        self.0
    }
}
