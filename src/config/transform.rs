//! `[transform]`: what happens to the `__` extension fields. A reload
//! applies it (and empties the cache when it changes).

use super::defaults::*;
use super::keys::{Changes, Key};
use super::reader::{Reader, usize_of};

/// The `[transform]` keys.
pub mod key {
    use super::Key;

    pub const MODE: Key = Key::new("transform.mode");
    pub const STRIP_PREFIX: Key = Key::new("transform.strip_prefix");
    pub const STRIP_FIELDS: Key = Key::new("transform.strip_fields");
    pub const KEEP_FIELDS: Key = Key::new("transform.keep_fields");
    pub const MAX_LIST_BYTES: Key = Key::new("transform.max_list_bytes");
    /// Every key of the section (a unit test holds it to what is read).
    pub const ALL: &[Key] = &[
        MODE,
        STRIP_PREFIX,
        STRIP_FIELDS,
        KEEP_FIELDS,
        MAX_LIST_BYTES,
    ];
}

/// What the proxy does to the `__` extension fields of image bodies
/// (`transform.mode`; the functions are in [`crate::transform`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// Bytes as received.
    #[default]
    Passthrough,
    /// Remove extension fields.
    Strip,
    /// Canonical string values; names and JSON types kept.
    Normalize,
    /// JSON booleans, numbers and objects instead of strings.
    Typed,
}

impl Mode {
    /// Parses the config spelling.
    pub fn parse(text: &str) -> Option<Mode> {
        match text.trim() {
            "passthrough" => Some(Mode::Passthrough),
            "strip" => Some(Mode::Strip),
            "normalize" => Some(Mode::Normalize),
            "typed" => Some(Mode::Typed),
            _ => None,
        }
    }

    /// The config spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Passthrough => "passthrough",
            Mode::Strip => "strip",
            Mode::Normalize => "normalize",
            Mode::Typed => "typed",
        }
    }
}

/// `[transform]`: what happens to the `__` extension fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransformConfig {
    pub mode: Mode,
    pub strip_prefix: String,
    pub strip_fields: Vec<String>,
    pub keep_fields: Vec<String>,
    pub max_list_bytes: usize,
}

impl TransformConfig {
    /// Reads the section, recording what is wrong with it.
    pub(super) fn read(r: &mut Reader<'_>) -> TransformConfig {
        let mode = r.string(key::MODE, Mode::default().as_str());
        let mode = Mode::parse(&mode).unwrap_or_else(|| {
            r.problem(format!(
                "{} `{mode}` is not one of passthrough, strip, normalize, typed",
                key::MODE
            ));
            Mode::default()
        });
        TransformConfig {
            mode,
            strip_prefix: r.string(key::STRIP_PREFIX, DEFAULT_STRIP_PREFIX),
            strip_fields: r.list(key::STRIP_FIELDS, DEFAULT_STRIP_FIELDS),
            keep_fields: r.list(key::KEEP_FIELDS, DEFAULT_KEEP_FIELDS),
            max_list_bytes: usize_of(r.bytes(key::MAX_LIST_BYTES, DEFAULT_MAX_LIST_BYTES)),
        }
    }

    /// The keys whose values differ in `file`.
    pub fn diff(&self, file: &Self) -> Vec<&'static str> {
        // No `..`: a new field does not compile until it is compared here.
        let Self {
            mode,
            strip_prefix,
            strip_fields,
            keep_fields,
            max_list_bytes,
        } = self;
        let mut changes = Changes::default();
        changes.check(key::MODE, mode, &file.mode);
        changes.check(key::STRIP_PREFIX, strip_prefix, &file.strip_prefix);
        changes.check(key::STRIP_FIELDS, strip_fields, &file.strip_fields);
        changes.check(key::KEEP_FIELDS, keep_fields, &file.keep_fields);
        changes.check(key::MAX_LIST_BYTES, max_list_bytes, &file.max_list_bytes);
        changes.into_keys()
    }
}
