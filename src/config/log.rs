//! `[log]`: where log lines go and which. Only a restart applies it.

use super::defaults::*;
use super::reader::Reader;
use super::table::settings;

settings! {
    /// `[log]` as written.
    LogSettings in "log" {
        /// `text` or `json`.
        format: string = DEFAULT_LOG_FORMAT, Restart;
        /// A tracing `EnvFilter` directive; `IMGCACHE_LOG` wins over it.
        filter: string = DEFAULT_LOG_FILTER, Restart;
    }
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
    /// Builds the section from its settings, recording what is wrong.
    pub(super) fn build(s: &LogSettings, r: &mut Reader<'_>) -> LogConfig {
        // No `..`: a key nobody builds from is an unused variable.
        let LogSettings { format, filter } = s;
        let json = match format.as_str() {
            "text" => false,
            "json" => true,
            other => {
                r.problem(format!("{} `{other}` is not text or json", key::format));
                false
            }
        };
        check_filter(filter, r);
        LogConfig {
            json,
            filter: filter.clone(),
        }
    }
}

/// The filter logging will use — `IMGCACHE_LOG` when set, else
/// `log.filter` — must be one tracing reads: a typo used to fall back to
/// `info` without a word.
fn check_filter(filter: &str, r: &mut Reader<'_>) {
    let (name, value) = match r.env_value("IMGCACHE_LOG") {
        Some(value) => ("IMGCACHE_LOG".to_owned(), value),
        None => (key::filter.to_string(), filter),
    };
    if let Err(err) = tracing_subscriber::EnvFilter::try_new(value) {
        r.problem(format!("{name} `{value}` is not a log filter: {err}"));
    }
}
