//! Extension-field transforms (`transform.mode`).

/// What the proxy does to the `__` extension fields of image bodies.
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
