//! A listener's certificate material read from its PEM files and made
//! into a rustls server config: TLS 1.2 and 1.3 (ring), ALPN `h2` and
//! `http/1.1`, client certificates required when a client CA is set.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::RootCertStore;
use rustls::server::WebPkiClientVerifier;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use sha2::{Digest, Sha256};

use crate::config::{CertFiles, ServerTls};
use crate::pem::read_pem_certs;

use super::not_after::not_after;

/// ALPN protocols offered, in the server's order of preference.
const ALPN: [&[u8]; 2] = [b"h2", b"http/1.1"];

/// TLS 1.3 session tickets sent after a full handshake: one per
/// connection a client may resume (rustls' default is 2, curl and Python
/// use one).
const TLS13_TICKETS: usize = 2;

/// Sessions remembered for resumption (rustls' default is 256: an edge
/// with thousands of clients would resume few of them).
const SESSION_CACHE: usize = 4096;

/// Where a listener's certificate comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Files {
    pub cert: CertFiles,
    pub client_ca_file: Option<PathBuf>,
}

impl Files {
    /// The client-facing listener's files.
    pub fn of_server(tls: &ServerTls) -> Files {
        Files {
            cert: tls.cert.clone(),
            client_ca_file: tls.client_ca_file.clone(),
        }
    }

    /// The admin listener's files (no client certificates).
    pub fn of_admin(cert: &CertFiles) -> Files {
        Files {
            cert: cert.clone(),
            client_ca_file: None,
        }
    }

    /// Every file, once.
    fn paths(&self) -> Vec<&Path> {
        let mut paths = vec![self.cert.cert_file.as_path()];
        paths.extend(self.cert.key_file.as_deref());
        paths.extend(self.client_ca_file.as_deref());
        paths
    }

    /// A digest over every file's bytes: equal digests, nothing to reload.
    pub fn fingerprint(&self) -> Result<[u8; 32], String> {
        let mut hasher = Sha256::new();
        for path in self.paths() {
            let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
            hasher.update((bytes.len() as u64).to_be_bytes());
            hasher.update(bytes);
        }
        Ok(hasher.finalize().into())
    }
}

/// A loaded certificate: the rustls config that serves it, and what to
/// say about it in logs.
pub struct Material {
    pub config: Arc<rustls::ServerConfig>,
    /// The leaf certificate's serial number, in hex.
    pub serial: String,
    /// When the leaf certificate expires, in seconds since the epoch
    /// (`None`: its validity could not be read).
    pub not_after: Option<i64>,
}

/// Reads the files and builds the server config; the error names the
/// file and what is wrong with it.
pub fn load(files: &Files) -> Result<Material, String> {
    let chain = read_pem_certs(&files.cert.cert_file)?;
    let key = read_key(files.cert.key_path())?;
    let serial = chain.first().map(serial_of).unwrap_or_default();
    let not_after = chain.first().and_then(|leaf| not_after(leaf));
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let versions = [&rustls::version::TLS13, &rustls::version::TLS12];
    let builder = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&versions)
        .map_err(|e| format!("TLS setup: {e}"))?;
    let builder = match &files.client_ca_file {
        None => builder.with_no_client_auth(),
        Some(path) => {
            let verifier = client_verifier(path, provider)?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder.with_single_cert(chain, key).map_err(|e| {
        format!(
            "{} and {}: {e}",
            files.cert.cert_file.display(),
            files.cert.key_path().display()
        )
    })?;
    config.alpn_protocols = ALPN.iter().map(|p| p.to_vec()).collect();
    config.send_tls13_tickets = TLS13_TICKETS;
    config.session_storage = rustls::server::ServerSessionMemoryCache::new(SESSION_CACHE);
    Ok(Material {
        config: Arc::new(config),
        serial,
        not_after,
    })
}

/// Requires a client certificate signed by one of the CAs in `path`.
fn client_verifier(
    path: &Path,
    provider: Arc<rustls::crypto::CryptoProvider>,
) -> Result<Arc<dyn rustls::server::danger::ClientCertVerifier>, String> {
    let mut roots = RootCertStore::empty();
    for cert in read_pem_certs(path)? {
        roots
            .add(cert)
            .map_err(|e| format!("{}: not a CA certificate: {e}", path.display()))?;
    }
    WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
        .build()
        .map_err(|e| format!("{}: {e}", path.display()))
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, String> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| match e {
        rustls_pki_types::pem::Error::NoItemsFound => {
            format!("{}: no PEM private key in it", path.display())
        }
        e => format!("{}: {e}", path.display()),
    })
}

/// The serial number of a certificate, in hex ("" if it does not parse).
fn serial_of(cert: &CertificateDer<'_>) -> String {
    webpki::EndEntityCert::try_from(cert)
        .map(|cert| cert.serial().iter().map(|b| format!("{b:02x}")).collect())
        .unwrap_or_default()
}
