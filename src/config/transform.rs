//! `[transform]`: what happens to the `__` extension fields. A reload
//! applies it (and empties the cache when it changes).

use super::defaults::*;
use super::reader::{Reader, usize_of};
use super::table::settings;

settings! {
    /// `[transform]` as written.
    TransformSettings in "transform" {
        /// `passthrough`, `strip`, `normalize` or `typed`.
        mode: string = Mode::default().as_str(), Reload;
        /// Fields whose names start with it are extension fields.
        strip_prefix: string = DEFAULT_STRIP_PREFIX, Reload;
        /// More fields to strip, by name.
        strip_fields: list = DEFAULT_STRIP_FIELDS, Reload;
        /// Extension fields never stripped.
        keep_fields: list = DEFAULT_KEEP_FIELDS, Reload;
        /// The largest list body transformed.
        max_list_bytes: bytes = DEFAULT_MAX_LIST_BYTES, Reload;
    }
}

/// What the proxy does to the `__` extension fields of image bodies
/// (`transform.mode`; the functions are in the `transform` module).
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
    /// Builds the section from its settings, recording what is wrong.
    pub(super) fn build(s: &TransformSettings, r: &mut Reader<'_>) -> TransformConfig {
        // No `..`: a key nobody builds from is an unused variable.
        let TransformSettings {
            mode,
            strip_prefix,
            strip_fields,
            keep_fields,
            max_list_bytes,
        } = s;
        let mode = Mode::parse(mode).unwrap_or_else(|| {
            r.problem(format!(
                "{} `{mode}` is not one of passthrough, strip, normalize, typed",
                key::mode
            ));
            Mode::default()
        });
        TransformConfig {
            mode,
            strip_prefix: strip_prefix.clone(),
            strip_fields: strip_fields.clone(),
            keep_fields: keep_fields.clone(),
            max_list_bytes: usize_of(*max_list_bytes),
        }
    }
}
