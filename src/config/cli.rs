//! Command-line flags, and turning flags + environment + file into a
//! [`Config`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use clap::Parser;

use super::{Config, DEFAULT_CONFIG_PATH, Sources, admin, server, upstream};

/// imgcache: a caching reverse proxy for the Glance v2 image-details call.
#[derive(Debug, Parser, Default, Clone)]
#[command(name = "imgcache", version, about)]
pub struct Cli {
    /// Config file (default: $IMGCACHE_CONFIG, else config/imgcache.toml if present).
    #[arg(long, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Client-facing address, e.g. 127.0.0.1:8080 (server.listen).
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<String>,
    /// Upstream image service URL, e.g. https://ims.eu-de.otc.t-systems.com (upstream.url).
    #[arg(long, value_name = "URL")]
    pub upstream: Option<String>,
    /// Admin API address (admin.listen).
    #[arg(long, value_name = "ADDR")]
    pub admin_listen: Option<String>,
    /// Check the configuration, print it, and exit (0 if good, 64 if not).
    #[arg(long)]
    pub check_config: bool,
    /// Start an embedded sample image service and put the proxy in front of it
    /// (only in builds with the default `demo` feature).
    #[arg(long)]
    pub demo: bool,
}

impl Cli {
    /// Parses flags; a bad flag is a usage error like a bad config (exit 64).
    pub fn parse_or_exit() -> Cli {
        match Cli::try_parse() {
            Ok(cli) => cli,
            Err(err) if err.use_stderr() => {
                let _ = err.print();
                std::process::exit(i32::from(super::EXIT_BAD_CONFIG));
            }
            Err(err) => err.exit(),
        }
    }

    /// The config file to read, and whether it was asked for explicitly
    /// (a missing explicit file is an error; a missing default is not).
    fn config_path(&self, env: &BTreeMap<String, String>) -> (PathBuf, bool) {
        if let Some(path) = &self.config {
            return (path.clone(), true);
        }
        if let Some(path) = env.get("IMGCACHE_CONFIG") {
            return (PathBuf::from(path), true);
        }
        (PathBuf::from(DEFAULT_CONFIG_PATH), false)
    }

    /// Flags that override settings, keyed like the file.
    fn overrides(&self) -> BTreeMap<(String, String), String> {
        let pairs = [
            (server::key::listen, &self.listen),
            (upstream::key::url, &self.upstream),
            (admin::key::listen, &self.admin_listen),
        ];
        pairs
            .into_iter()
            .filter_map(|(key, value)| {
                let name = (key.section().to_owned(), key.name().to_owned());
                value.clone().map(|v| (name, v))
            })
            .collect()
    }

    /// Reads the file named by the flags or environment and builds the
    /// config; `env` is passed in so tests never touch the process env.
    /// Every problem is in [`Loaded::problems`], with the config as far
    /// as it could be read (an unreadable file counts as empty), so
    /// start-up can add its own checks to the same list.
    pub fn load(&self, env: impl IntoIterator<Item = (String, String)>) -> Loaded {
        let mut sources = Sources::default().with_env(env);
        let (path, explicit) = self.config_path(&sources.env);
        let mut problems = Vec::new();
        if explicit || path.exists() {
            match read_file(&path) {
                Ok(file) => sources.file = file,
                Err(unreadable) => problems.extend(unreadable),
            }
            sources.file_name = Some(path);
        }
        sources.flags = self.overrides();
        let (config, more) = Config::read_all(&sources);
        problems.extend(more);
        Loaded {
            config,
            sources,
            problems,
        }
    }
}

/// What [`Cli::load`] found.
#[derive(Debug)]
pub struct Loaded {
    /// The config; only meant to run with when `problems` is empty.
    pub config: Config,
    /// Where it came from (a reload reads the same file again).
    pub sources: Sources,
    /// Every problem with it.
    pub problems: Vec<String>,
}

/// Reads and parses a TOML file; the error names the file.
pub fn read_file(path: &Path) -> Result<toml::Table, Vec<String>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| vec![format!("{}: cannot read: {e}", path.display())])?;
    text.parse::<toml::Table>()
        .map_err(|e| vec![format!("{}: not valid TOML: {e}", path.display())])
}

/// Rebuilds a config from the same env and flags with the file read anew
/// (SIGHUP).
pub fn reload(previous: &Sources) -> Result<(Config, Sources), Vec<String>> {
    let mut sources = previous.clone();
    if let Some(path) = &previous.file_name {
        sources.file = read_file(path)?;
    }
    let config = Config::from_sources(&sources)?;
    Ok((config, sources))
}
