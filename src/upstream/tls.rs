//! TLS for `https://` upstreams: rustls with the ring provider, trusting
//! the system roots, the webpki roots and `upstream.ca_file`.

use std::path::Path;
use std::sync::Arc;

use crate::pem::read_pem_certs;

use rustls::RootCertStore;

/// Builds the client TLS config; ALPN is set by the connector builder.
pub fn client_config(ca_file: Option<&Path>) -> Result<rustls::ClientConfig, String> {
    let mut roots = RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    // A broken system store must not stop the proxy: the webpki roots and
    // the configured CA file still apply.
    let native = rustls_native_certs::load_native_certs();
    for cert in native.certs {
        let _ = roots.add(cert);
    }
    if let Some(path) = ca_file {
        for cert in read_pem_certs(path)? {
            roots
                .add(cert)
                .map_err(|e| format!("{}: bad CA certificate: {e}", path.display()))?;
        }
    }
    with_roots(roots)
}

/// A TLS config for a plain-http upstream: the connector type needs one,
/// but it is never used, so no roots are loaded.
pub fn client_config_without_roots() -> Result<rustls::ClientConfig, String> {
    with_roots(RootCertStore::empty())
}

fn with_roots(roots: RootCertStore) -> Result<rustls::ClientConfig, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth())
}
