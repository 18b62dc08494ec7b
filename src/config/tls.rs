//! TLS on the listening side: the files a listener's certificate comes
//! from (`server.tls_*`, `admin.tls_*`). The keys are flat (`tls_` in
//! their section) because a key is `section.key`; their environment
//! variables read as nested ones would (`IMGCACHE_SERVER_TLS_CERT_FILE`).
//!
//! Only that the files are there is checked here; their contents are
//! parsed at start-up (`app::load`, with these problems in the same
//! list) and again on every certificate reload. A path that is not a
//! file is a problem and reads as unset, so start-up does not report it
//! a second time.

use std::path::PathBuf;

use super::keys::Key;
use super::reader::Reader;

/// A certificate chain and its private key, as PEM files. The key may be
/// in the chain's own file (one PEM with both, as HAProxy's `crt`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertFiles {
    pub cert_file: PathBuf,
    /// `None`: the key is in `cert_file`.
    pub key_file: Option<PathBuf>,
}

impl CertFiles {
    /// The file the private key is read from.
    pub fn key_path(&self) -> &std::path::Path {
        self.key_file.as_deref().unwrap_or(&self.cert_file)
    }
}

/// `server.tls_*`: TLS on the client-facing listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerTls {
    pub cert: CertFiles,
    /// With it, clients must present a certificate signed by one of
    /// these CAs.
    pub client_ca_file: Option<PathBuf>,
    /// The client certificate's names are part of the cache identity.
    pub client_identity: bool,
}

/// A file setting as read: a bad path is neither unset nor usable.
#[derive(Debug)]
pub(super) enum FileSetting<T = PathBuf> {
    Unset,
    /// Set, but not a readable file (a problem is recorded).
    Bad,
    File(T),
}

impl<T> FileSetting<T> {
    /// Whether the setting says anything (a bad path does).
    pub(super) fn is_set(&self) -> bool {
        !matches!(self, FileSetting::Unset)
    }

    /// The usable value.
    pub(super) fn value(self) -> Option<T> {
        match self {
            FileSetting::File(value) => Some(value),
            FileSetting::Unset | FileSetting::Bad => None,
        }
    }
}

/// Reads a certificate/key pair of keys. An empty key file means the
/// key is in the certificate file.
pub(super) fn cert_files(
    r: &mut Reader<'_>,
    (cert, cert_path): (Key, &str),
    (key, key_path): (Key, &str),
) -> FileSetting<CertFiles> {
    let cert_file = file(r, cert, cert_path);
    let key_file = file(r, key, key_path);
    match (cert_file, key_file) {
        (FileSetting::Unset, key_file) => {
            if key_file.is_set() {
                r.problem(format!("{key} is set but {cert} is not"));
            }
            FileSetting::Unset
        }
        (FileSetting::Bad, _) | (_, FileSetting::Bad) => FileSetting::Bad,
        (FileSetting::File(cert_file), key_file) => FileSetting::File(CertFiles {
            cert_file,
            key_file: key_file.value(),
        }),
    }
}

/// An optional file path; a path that is not a file is a problem.
pub(super) fn file(r: &mut Reader<'_>, key: Key, text: &str) -> FileSetting {
    if text.is_empty() {
        return FileSetting::Unset;
    }
    let path = PathBuf::from(text);
    if !path.is_file() {
        r.problem(format!("{key} `{}` is not a readable file", path.display()));
        return FileSetting::Bad;
    }
    FileSetting::File(path)
}

#[cfg(test)]
mod tests {
    use super::super::{Config, Sources};

    fn sources(file: &str, env: &[(&str, &str)]) -> Sources {
        let env = env.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned()));
        Sources {
            file: file.parse().expect("test TOML"),
            ..Sources::default()
        }
        .with_env(env)
    }
    /// TLS keys that make no sense alone are all reported: a key file
    /// without a certificate, a client CA without a certificate, client
    /// identity without a client CA, a path that is not a file.
    #[test]
    fn tls_problems_at_once() {
        let file = r#"
            [server]
            tls_key_file = "/nonexistent/key.pem"
            tls_client_ca_file = "/nonexistent/ca.pem"
            [admin]
            tls_key_file = "/nonexistent/admin.pem"
        "#;
        let problems = Config::from_sources(&sources(
            file,
            &[("IMGCACHE_SERVER_TLS_CLIENT_IDENTITY", "true")],
        ))
        .expect_err("invalid");
        let all = problems.join("\n");
        for needle in [
            "server.tls_key_file is set but server.tls_cert_file is not",
            "server.tls_client_ca_file needs server.tls_cert_file",
            "`/nonexistent/ca.pem` is not a readable file",
            "admin.tls_key_file is set but admin.tls_cert_file is not",
        ] {
            assert!(all.contains(needle), "missing {needle:?} in:\n{all}");
        }
        let identity_alone = sources("", &[("IMGCACHE_SERVER_TLS_CLIENT_IDENTITY", "true")]);
        let problems = Config::from_sources(&identity_alone).expect_err("invalid");
        assert!(
            problems[0].contains("needs server.tls_client_ca_file"),
            "{problems:?}"
        );
    }
}
