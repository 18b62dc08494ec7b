//! The identity a client certificate gives a connection, when
//! `server.tls_client_identity` is on: the certificate's issuer, subject
//! and names (DNS and URI SANs). A renewed certificate for the same host
//! keeps its identity (and its cache entries); two hosts with different
//! subjects or names never share one.

use std::sync::Arc;

use rustls_pki_types::CertificateDer;

/// A verified client certificate's identity, as bytes for the cache key
/// (each part length-framed, so no two certificates run together). It is
/// carried in a request's extensions; no `Debug` of the bytes (they are
/// only names, but logs have no use for them).
#[derive(Clone, PartialEq, Eq)]
pub struct ClientCert(Arc<[u8]>);

impl std::fmt::Debug for ClientCert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClientCert(..)")
    }
}

impl ClientCert {
    /// The identity of the leaf of a chain the handshake verified; `None`
    /// if there is none or it does not parse (the handshake would have
    /// refused it).
    pub fn of_chain(chain: &[CertificateDer<'_>]) -> Option<ClientCert> {
        let leaf = webpki::EndEntityCert::try_from(chain.first()?).ok()?;
        let mut bytes = Vec::with_capacity(256);
        let mut part = |tag: u8, value: &[u8]| {
            bytes.push(tag);
            bytes.extend_from_slice(&(value.len() as u32).to_be_bytes());
            bytes.extend_from_slice(value);
        };
        part(b'I', leaf.issuer());
        part(b'S', leaf.subject());
        let mut names: Vec<&str> = leaf.valid_dns_names().collect();
        names.sort_unstable();
        for name in names {
            part(b'D', name.as_bytes());
        }
        let mut uris: Vec<&str> = leaf.valid_uri_names().collect();
        uris.sort_unstable();
        for uri in uris {
            part(b'U', uri.as_bytes());
        }
        Some(ClientCert(bytes.into()))
    }

    /// The bytes the cache identity is made from.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
}
