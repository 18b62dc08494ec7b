//! `cache.underscore_headers` as a value; what it does to a request is
//! `request_headers::underscores` (an impl there), so config stays on
//! the ground floor.

/// What happens to request headers whose names contain `_`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum UnderscoreHeaders {
    /// Dropped before keying and forwarding (the default).
    #[default]
    Drop,
    /// Renamed to the dash spelling (`X_Auth_Token` → `x-auth-token`),
    /// values appended to that header's, as a WSGI server joins them.
    Fold,
}

impl UnderscoreHeaders {
    /// The config spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            UnderscoreHeaders::Drop => "drop",
            UnderscoreHeaders::Fold => "fold",
        }
    }

    /// Parses the config spelling.
    pub fn parse(text: &str) -> Option<UnderscoreHeaders> {
        match text {
            "drop" => Some(UnderscoreHeaders::Drop),
            "fold" => Some(UnderscoreHeaders::Fold),
            _ => None,
        }
    }
}
