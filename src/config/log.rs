//! `[log]`: where log lines go and which. Only a restart applies it.

use super::defaults::*;
use super::keys::{Changes, Key};
use super::reader::Reader;

/// The `[log]` keys.
pub mod key {
    use super::Key;

    pub const FORMAT: Key = Key::new("log.format");
    pub const FILTER: Key = Key::new("log.filter");
    /// Every key of the section (a unit test holds it to what is read).
    pub const ALL: &[Key] = &[FORMAT, FILTER];
}

/// `[log]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogConfig {
    /// `log.format = "json"`.
    pub json: bool,
    /// A tracing `EnvFilter` directive; `IMGCACHE_LOG` wins over it.
    pub filter: String,
}

impl LogConfig {
    /// Reads the section, recording what is wrong with it.
    pub(super) fn read(r: &mut Reader<'_>) -> LogConfig {
        let format = r.string(key::FORMAT, DEFAULT_LOG_FORMAT);
        let json = match format.as_str() {
            "text" => false,
            "json" => true,
            other => {
                r.problem(format!("{} `{other}` is not text or json", key::FORMAT));
                false
            }
        };
        LogConfig {
            json,
            filter: r.string(key::FILTER, DEFAULT_LOG_FILTER),
        }
    }

    /// The keys whose values differ in `file`.
    pub fn diff(&self, file: &Self) -> Vec<&'static str> {
        // No `..`: a new field does not compile until it is compared here.
        let Self { json, filter } = self;
        let mut changes = Changes::default();
        changes.check(key::FORMAT, json, &file.json);
        changes.check(key::FILTER, filter, &file.filter);
        changes.into_keys()
    }
}
