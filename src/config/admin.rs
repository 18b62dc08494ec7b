//! `[admin]`: the operator's listener. Only a restart applies it.

use std::net::SocketAddr;

use super::defaults::*;
use super::reader::Reader;
use super::table::settings;
use super::tls::{self, CertFiles};

settings! {
    /// `[admin]` as written.
    AdminSettings in "admin" {
        /// The admin API's address.
        listen: socket_addr = DEFAULT_ADMIN_LISTEN, Restart;
        /// A secret: named in messages, never shown. Empty: no token asked.
        token: string = DEFAULT_ADMIN_TOKEN, Restart;
        /// The admin listener's certificate chain (PEM); empty: plain HTTP.
        tls_cert_file: string = "", Restart;
        /// Its private key (PEM); empty: in the certificate file.
        tls_key_file: string = "", Restart;
    }
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
    /// Builds the section from its settings, recording what is wrong.
    pub(super) fn build(s: &AdminSettings, r: &mut Reader<'_>) -> AdminConfig {
        // No `..`: a key nobody builds from is an unused variable.
        let AdminSettings {
            listen,
            token,
            tls_cert_file,
            tls_key_file,
        } = s;
        // Tokens often come from files or secrets with a trailing newline.
        let token = token.trim().to_owned();
        let cert = (key::tls_cert_file, tls_cert_file.as_str());
        AdminConfig {
            listen: *listen,
            token: (!token.is_empty()).then_some(token),
            tls: tls::cert_files(r, cert, (key::tls_key_file, tls_key_file)).value(),
        }
    }
}
