//! Logging setup: `tracing-subscriber` with an `IMGCACHE_LOG` filter
//! (falling back to `log.filter`), text or JSON lines on stderr; access
//! events, when the filter lets them through, through their own writer
//! off the request path ([`crate::access_log`]).

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use crate::config::LogConfig;

/// Installs the global subscriber; a second call (tests) is a no-op.
pub fn init(config: &LogConfig) {
    let filter = EnvFilter::try_from_env("IMGCACHE_LOG")
        .or_else(|_| EnvFilter::try_new(&config.filter))
        .unwrap_or_else(|_| EnvFilter::new(crate::config::DEFAULT_LOG_FILTER));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    let _ = if config.json {
        builder.json().flatten_event(true).try_init()
    } else {
        builder.try_init()
    };
    if tracing::enabled!(target: "imgcache::access", tracing::Level::INFO) {
        crate::access_log::start(config.json);
    }
}
