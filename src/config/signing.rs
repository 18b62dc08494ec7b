//! `[signing]`: the AK/SK credentials whose `SDK-HMAC-SHA256` signatures
//! the proxy verifies (and signs again for the upstream). Only a restart
//! applies it.

use std::path::Path;
use std::time::Duration;

use super::defaults::*;
use super::reader::Reader;
use super::table::settings;

settings! {
    /// `[signing]` as written.
    SigningSettings in "signing" {
        /// The most an `X-Sdk-Date` may be off the proxy's clock.
        clock_skew: positive = DEFAULT_SIGNING_CLOCK_SKEW, Restart;
        /// The largest body read to check a signature that covers it.
        max_body_bytes: bytes = DEFAULT_SIGNING_MAX_BODY_BYTES, Restart;
        /// `[[signing.credentials]]` tables of `ak` and one of `sk`,
        /// `sk_env`, `sk_file`. Secrets: named in messages, never shown.
        credentials: tables = &[], Restart;
    }
}

/// One access key and its secret.
#[derive(Clone, PartialEq, Eq)]
pub struct Credential {
    /// The access key (AK), as clients send it in `Access=`.
    pub ak: String,
    /// The secret key (SK).
    pub sk: String,
}

impl std::fmt::Debug for Credential {
    /// The secret is never shown.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credential")
            .field("ak", &self.ak)
            .field("sk", &"<redacted>")
            .finish()
    }
}

/// `[signing]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SigningConfig {
    /// The most an `X-Sdk-Date` may be off the proxy's clock (API
    /// Gateway's rule: 15 minutes).
    pub clock_skew: Duration,
    /// The largest body read to check a signature that covers it; a
    /// larger signed body is forwarded unverified.
    pub max_body_bytes: u64,
    /// The credentials held; empty: no request is verified.
    pub credentials: Vec<Credential>,
}

impl SigningConfig {
    /// Builds the section from its settings, recording what is wrong.
    pub(super) fn build(s: &SigningSettings, r: &mut Reader<'_>) -> SigningConfig {
        // No `..`: a key nobody builds from is an unused variable.
        let SigningSettings {
            clock_skew,
            max_body_bytes,
            credentials: tables,
        } = s;
        let mut credentials: Vec<Credential> = Vec::new();
        for (at, table) in tables {
            let where_ = format!("{}[{at}]", key::credentials);
            if let Some(credential) = read_credential(r, &where_, table) {
                if credentials.iter().any(|c| c.ak == credential.ak) {
                    r.problem(format!(
                        "{where_}: access key `{}` is listed twice",
                        credential.ak
                    ));
                    continue;
                }
                credentials.push(credential);
            }
        }
        SigningConfig {
            clock_skew: *clock_skew,
            max_body_bytes: *max_body_bytes,
            credentials,
        }
    }
}

/// One `[[signing.credentials]]` table; `None` (with problems recorded)
/// when it is not usable.
fn read_credential(r: &mut Reader<'_>, at: &str, table: &toml::Table) -> Option<Credential> {
    let mut problems = Vec::new();
    for name in table.keys() {
        if !matches!(name.as_str(), "ak" | "sk" | "sk_env" | "sk_file") {
            problems.push(format!("{at}: unknown setting `{name}`"));
        }
    }
    let text = |name: &str, problems: &mut Vec<String>| match table.get(name) {
        None => None,
        Some(toml::Value::String(s)) => Some(s.trim().to_owned()),
        Some(_) => {
            problems.push(format!("{at}.{name} must be a string"));
            None
        }
    };
    let ak = text("ak", &mut problems).unwrap_or_default();
    if ak.is_empty() || ak.contains([',', ' ', '=']) {
        problems.push(format!(
            "{at}.ak must be a non-empty access key without spaces, `,` or `=`"
        ));
    }
    let sources = [
        text("sk", &mut problems).map(Ok),
        text("sk_env", &mut problems).map(|name| secret_from_env(r, at, &name)),
        text("sk_file", &mut problems).map(|path| secret_from_file(at, Path::new(&path))),
    ];
    let given: Vec<Result<String, String>> = sources.into_iter().flatten().collect();
    let sk = match <[_; 1]>::try_from(given) {
        Ok([Ok(sk)]) if !sk.is_empty() => Some(sk),
        Ok([Ok(_)]) => {
            problems.push(format!("{at}: the secret key is empty"));
            None
        }
        Ok([Err(problem)]) => {
            problems.push(problem);
            None
        }
        Err(_) => {
            problems.push(format!("{at} needs exactly one of sk, sk_env and sk_file"));
            None
        }
    };
    let ok = problems.is_empty();
    for problem in problems {
        r.problem(problem);
    }
    Some(Credential { ak, sk: sk? }).filter(|_| ok)
}

/// The secret held by an `IMGCACHE_…` environment variable.
fn secret_from_env(r: &mut Reader<'_>, at: &str, name: &str) -> Result<String, String> {
    if !name.starts_with("IMGCACHE_") {
        return Err(format!("{at}.sk_env must name an IMGCACHE_… variable"));
    }
    match r.env_value(name) {
        Some(value) => Ok(value.trim().to_owned()),
        None => Err(format!("{at}.sk_env: `{name}` is not set")),
    }
}

/// The secret in a file (a mounted Kubernetes Secret), trailing newline
/// dropped. The message never quotes the file's content.
fn secret_from_file(at: &str, path: &Path) -> Result<String, String> {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_owned())
        .map_err(|e| format!("{at}.sk_file: cannot read {}: {e}", path.display()))
}
