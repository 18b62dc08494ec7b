//! `[admin]`: the operator's listener. Only a restart applies it.

use std::net::SocketAddr;

use super::defaults::*;
use super::keys::{Changes, Key};
use super::reader::Reader;
use super::tls::{self, CertFiles};

/// The `[admin]` keys.
pub mod key {
    use super::Key;

    pub const LISTEN: Key = Key::new("admin.listen");
    /// A secret: named in messages, never shown.
    pub const TOKEN: Key = Key::new("admin.token");
    pub const TLS_CERT_FILE: Key = Key::new("admin.tls_cert_file");
    pub const TLS_KEY_FILE: Key = Key::new("admin.tls_key_file");
    /// Every key of the section (a unit test holds it to what is read).
    pub const ALL: &[Key] = &[LISTEN, TOKEN, TLS_CERT_FILE, TLS_KEY_FILE];
}

/// `[admin]`: the operator's listener.
#[derive(Clone, PartialEq, Eq)]
pub struct AdminConfig {
    pub listen: SocketAddr,
    pub token: Option<String>,
    /// The admin listener's own certificate; `None`: plain HTTP.
    pub tls: Option<CertFiles>,
}

impl std::fmt::Debug for AdminConfig {
    /// The token is a secret: only whether there is one is shown.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdminConfig")
            .field("listen", &self.listen)
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("tls", &self.tls)
            .finish()
    }
}

impl AdminConfig {
    /// Reads the section, recording what is wrong with it.
    pub(super) fn read(r: &mut Reader<'_>) -> AdminConfig {
        // Tokens often come from files or secrets with a trailing newline.
        let token = r.string(key::TOKEN, DEFAULT_ADMIN_TOKEN).trim().to_owned();
        AdminConfig {
            listen: r.socket_addr(key::LISTEN, DEFAULT_ADMIN_LISTEN),
            token: (!token.is_empty()).then_some(token),
            tls: tls::cert_files(r, key::TLS_CERT_FILE, key::TLS_KEY_FILE).value(),
        }
    }

    /// The keys whose values differ in `file`.
    pub fn diff(&self, file: &Self) -> Vec<&'static str> {
        // No `..`: a new field does not compile until it is compared here.
        let Self { listen, token, tls } = self;
        let mut changes = Changes::default();
        changes.check(key::LISTEN, listen, &file.listen);
        changes.check(key::TOKEN, token, &file.token);
        let cert = |tls: &Option<CertFiles>| tls.as_ref().map(|t| t.cert_file.clone());
        let key_file = |tls: &Option<CertFiles>| tls.as_ref().and_then(|t| t.key_file.clone());
        changes.check(key::TLS_CERT_FILE, &cert(tls), &cert(&file.tls));
        changes.check(key::TLS_KEY_FILE, &key_file(tls), &key_file(&file.tls));
        changes.into_keys()
    }
}
