//! Reads typed settings out of the layered sources (file < env < flags),
//! collecting every problem instead of stopping at the first.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::keys::Key;
use super::units::{parse_bytes, parse_duration};

/// Environment variables that are not `IMGCACHE_<SECTION>_<KEY>` settings.
const NON_SETTING_ENV: &[&str] = &["IMGCACHE_LOG", "IMGCACHE_CONFIG"];

/// The raw inputs a [`super::Config`] is built from.
#[derive(Debug, Default, Clone)]
pub struct Sources {
    /// The parsed config file, if any.
    pub file: toml::Table,
    /// Where `file` came from, for messages.
    pub file_name: Option<PathBuf>,
    /// `IMGCACHE_*` environment variables (tests pass an in-memory map).
    pub env: BTreeMap<String, String>,
    /// Values from command-line flags, keyed by `(section, key)`.
    pub flags: BTreeMap<(String, String), String>,
}

impl Sources {
    /// Keeps only the `IMGCACHE_*` variables of an environment.
    pub fn with_env(mut self, env: impl IntoIterator<Item = (String, String)>) -> Self {
        self.env = env
            .into_iter()
            .filter(|(name, _)| name.starts_with("IMGCACHE_"))
            .collect();
        self
    }
}

/// One setting's raw value and where it came from.
enum Raw<'a> {
    Toml(&'a toml::Value, String),
    Text(&'a str, String),
}

/// Reads settings one by one; each reader method returns the default when
/// the value is absent or bad, and records the problem.
pub struct Reader<'a> {
    sources: &'a Sources,
    problems: Vec<String>,
    read: BTreeSet<Key>,
    /// `IMGCACHE_…` variables a setting names (secrets held in the
    /// environment): read, so not typos.
    named_env: BTreeSet<String>,
}

impl<'a> Reader<'a> {
    /// Starts reading; a non-table section in the file is reported at once.
    pub fn new(sources: &'a Sources) -> Self {
        let mut reader = Reader {
            sources,
            problems: Vec::new(),
            read: BTreeSet::new(),
            named_env: BTreeSet::new(),
        };
        for (name, value) in &sources.file {
            if !value.is_table() {
                reader.problem(format!("{}: `{name}` must be a [section]", reader.file()));
            }
        }
        reader
    }

    /// Records a problem found outside the typed getters (cross-field checks).
    pub fn problem(&mut self, message: String) {
        self.problems.push(message);
    }

    fn file(&self) -> String {
        self.sources
            .file_name
            .as_ref()
            .map_or_else(|| "config".to_owned(), |p| p.display().to_string())
    }

    /// The keys read so far.
    #[cfg(test)]
    pub fn keys_read(&self) -> &BTreeSet<Key> {
        &self.read
    }

    fn raw(&mut self, key: Key) -> Option<Raw<'a>> {
        self.read.insert(key);
        let sources = self.sources;
        let (section, name) = (key.section(), key.name());
        if let Some(text) = sources.flags.get(&(section.to_owned(), name.to_owned())) {
            return Some(Raw::Text(text, format!("flag for {key}")));
        }
        let env_name = key.env_name();
        if let Some(text) = sources.env.get(&env_name) {
            return Some(Raw::Text(text, env_name));
        }
        let value = sources.file.get(section)?.as_table()?.get(name)?;
        Some(Raw::Toml(value, format!("{}: {key}", self.file())))
    }

    /// Reads a value through `parse`, which sees the text of string values
    /// (and of env/flag values); other TOML types go to `from_toml`.
    fn typed<T>(
        &mut self,
        key: Key,
        default: T,
        parse: impl Fn(&str) -> Result<T, String>,
        from_toml: impl Fn(&toml::Value) -> Option<Result<T, String>>,
    ) -> T {
        let (result, origin) = match self.raw(key) {
            None => return default,
            Some(Raw::Text(text, origin)) => (parse(text), origin),
            Some(Raw::Toml(toml::Value::String(text), origin)) => (parse(text), origin),
            Some(Raw::Toml(value, origin)) => match from_toml(value) {
                Some(result) => (result, origin),
                None => (Err(format!("`{value}` has the wrong type")), origin),
            },
        };
        result.unwrap_or_else(|message| {
            self.problem(format!("{origin}: {message}"));
            default
        })
    }

    /// A free-form string.
    pub fn string(&mut self, key: Key, default: &str) -> String {
        self.typed(key, default.to_owned(), |t| Ok(t.to_owned()), |_| None)
    }

    /// A duration such as `300ms`, `5s`, `2m`.
    pub fn duration(&mut self, key: Key, default: Duration) -> Duration {
        self.typed(key, default, parse_duration, |v| {
            v.as_integer()
                .filter(|n| *n == 0)
                .map(|_| Ok(Duration::ZERO))
        })
    }

    /// A byte size: an integer or a string such as `64KiB`.
    pub fn bytes(&mut self, key: Key, default: u64) -> u64 {
        self.typed(key, default, parse_bytes, |v| {
            v.as_integer()
                .map(|n| u64::try_from(n).map_err(|_| format!("`{n}` must not be negative")))
        })
    }

    /// A non-negative whole number.
    pub fn count(&mut self, key: Key, default: u64) -> u64 {
        let parse = |t: &str| {
            t.trim()
                .parse::<u64>()
                .map_err(|_| format!("`{t}` is not a whole number"))
        };
        self.typed(key, default, parse, |v| {
            v.as_integer()
                .map(|n| u64::try_from(n).map_err(|_| format!("`{n}` must not be negative")))
        })
    }

    /// `true` or `false`.
    pub fn boolean(&mut self, key: Key, default: bool) -> bool {
        let parse = |t: &str| match t.trim() {
            "true" | "1" | "yes" | "on" => Ok(true),
            "false" | "0" | "no" | "off" => Ok(false),
            other => Err(format!("`{other}` is not true or false")),
        };
        self.typed(key, default, parse, |v| v.as_bool().map(Ok))
    }

    /// A socket address such as `127.0.0.1:8080`.
    pub fn socket_addr(&mut self, key: Key, default: &str) -> SocketAddr {
        let text = self.string(key, default);
        text.parse().unwrap_or_else(|_| {
            self.problem(format!(
                "{key} `{text}` is not an address such as 127.0.0.1:8080"
            ));
            SocketAddr::from(([127, 0, 0, 1], 0))
        })
    }

    /// A duration that must not be zero (a zero timeout would fail every
    /// request).
    pub fn positive(&mut self, key: Key, default: Duration) -> Duration {
        let value = self.duration(key, default);
        if value.is_zero() {
            self.problem(format!("{key} must be more than 0"));
            return default;
        }
        value
    }

    /// An array of tables (`[[section.key]]`), file only: each with its
    /// index. Anything else there is a problem.
    pub fn tables(
        &mut self,
        key: Key,
        default: &[(usize, toml::Table)],
    ) -> Vec<(usize, toml::Table)> {
        self.read.insert(key);
        if self.sources.env.contains_key(&key.env_name()) {
            self.problem(format!(
                "{}: {key} can only be set in the config file",
                key.env_name()
            ));
        }
        let sources = self.sources;
        let Some(value) = sources
            .file
            .get(key.section())
            .and_then(|s| s.as_table())
            .and_then(|s| s.get(key.name()))
        else {
            return default.to_vec();
        };
        let Some(items) = value.as_array() else {
            self.problem(format!(
                "{}: {key} must be a list of tables ([[{key}]])",
                self.file()
            ));
            return Vec::new();
        };
        let mut tables = Vec::with_capacity(items.len());
        for (at, item) in items.iter().enumerate() {
            match item.as_table() {
                Some(table) => tables.push((at, table.clone())),
                None => self.problem(format!("{}: {key}[{at}] must be a table", self.file())),
            }
        }
        tables
    }

    /// The value of an `IMGCACHE_…` environment variable a setting names
    /// (not itself a setting).
    pub fn env_value(&mut self, name: &str) -> Option<&'a str> {
        self.named_env.insert(name.to_owned());
        self.sources.env.get(name).map(String::as_str)
    }

    /// A list of strings: a TOML array, or comma-separated text from the
    /// environment or a flag.
    pub fn list(&mut self, key: Key, default: &[&str]) -> Vec<String> {
        let default: Vec<String> = default.iter().map(|s| (*s).to_owned()).collect();
        let split = |t: &str| {
            Ok(t.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect())
        };
        self.typed(key, default, split, |v| {
            let items = v.as_array()?;
            Some(
                items
                    .iter()
                    .map(|item| {
                        item.as_str()
                            .map(str::to_owned)
                            .ok_or_else(|| format!("`{item}` in the list is not a string"))
                    })
                    .collect(),
            )
        })
    }

    /// Reports sections, keys and variables nobody read (typos), then
    /// returns every problem.
    pub fn finish(mut self) -> Vec<String> {
        self.unknown_in_file();
        self.unknown_in_env();
        self.problems
    }

    /// Sections and keys of the file that no setting names.
    fn unknown_in_file(&mut self) {
        let sources = self.sources;
        for (section, value) in &sources.file {
            let Some(table) = value.as_table() else {
                continue;
            };
            if !self.read.iter().any(|k| k.section() == section) {
                // One problem per misspelt section, however many keys it has.
                let keys: Vec<String> = table.keys().map(|k| format!("{section}.{k}")).collect();
                let keys = if keys.is_empty() {
                    String::new()
                } else {
                    format!(" ({})", keys.join(", "))
                };
                let file = self.file();
                let sections: BTreeSet<&str> = self.read.iter().map(|k| k.section()).collect();
                let hint =
                    did_you_mean(closest(section, sections.into_iter()).map(|s| format!("[{s}]")));
                self.problem(format!("{file}: unknown section `[{section}]`{keys}{hint}"));
                continue;
            }
            for key in table.keys() {
                let known = self
                    .read
                    .iter()
                    .any(|k| k.section() == section && k.name() == key);
                if !known {
                    let file = self.file();
                    let names = self.read.iter().filter(|k| k.section() == section);
                    let hint = closest(key, names.map(|k| k.name()));
                    let hint = did_you_mean(hint.map(|name| format!("{section}.{name}")));
                    self.problem(format!("{file}: unknown setting `{section}.{key}`{hint}"));
                }
            }
        }
    }

    /// A variable naming a known section but no known key is a typo, and
    /// so is one a letter or two from a setting's name
    /// (`IMGCACHE_SERVR_LISTEN`); other IMGCACHE_* names belong to
    /// scripts and are left alone.
    fn unknown_in_env(&mut self) {
        let sources = self.sources;
        let known: BTreeSet<String> = self.read.iter().map(|k| k.env_name()).collect();
        let sections: BTreeSet<String> = self
            .read
            .iter()
            .map(|k| env_name(k.section(), ""))
            .collect();
        for name in sources.env.keys() {
            let in_a_section = sections
                .iter()
                .any(|prefix| name.starts_with(prefix.as_str()));
            let not_a_setting = NON_SETTING_ENV.contains(&name.as_str())
                || is_service_link(name)
                || self.named_env.contains(name);
            if known.contains(name) || not_a_setting {
                continue;
            }
            let hint = closest(name, known.iter().map(String::as_str));
            if in_a_section || hint.is_some() {
                let hint = did_you_mean(hint);
                self.problem(format!("unknown environment variable `{name}`{hint}"));
            }
        }
    }
}

/// The candidate a mistyped `name` most likely meant: at most two edits
/// away (one for short names), case aside.
fn closest<'a>(name: &str, candidates: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    let most = if name.len() <= 4 { 1 } else { 2 };
    candidates
        .map(|candidate| {
            (
                edits(&name.to_ascii_lowercase(), &candidate.to_ascii_lowercase()),
                candidate,
            )
        })
        .filter(|(distance, _)| *distance <= most)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate)
}

/// Levenshtein distance, on bytes (names are ASCII).
fn edits(a: &str, b: &str) -> usize {
    let b = b.as_bytes();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.bytes().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = (above + 1)
                .min(row[j] + 1)
                .min(diagonal + usize::from(ca != *cb));
            diagonal = above;
        }
    }
    row[b.len()]
}

/// ` (did you mean `x`?)`, or nothing.
fn did_you_mean(hint: Option<impl std::fmt::Display>) -> String {
    hint.map(|h| format!(" (did you mean `{h}`?)"))
        .unwrap_or_default()
}

/// Kubernetes injects `<SERVICE>_SERVICE_HOST`, `<SERVICE>_PORT_…` and the
/// like for every Service in the namespace; a Service named
/// `imgcache-admin` must not stop the proxy from starting.
fn is_service_link(name: &str) -> bool {
    name.contains("_SERVICE_") || name.ends_with("_PORT") || name.contains("_PORT_")
}

/// `cache.max_bytes` → `IMGCACHE_CACHE_MAX_BYTES`.
pub fn env_name(section: &str, key: &str) -> String {
    format!("IMGCACHE_{section}_{key}").to_ascii_uppercase()
}

/// A count as a `usize`, saturating (on 32-bit targets).
pub fn usize_of(n: u64) -> usize {
    usize::try_from(n).unwrap_or(usize::MAX)
}
