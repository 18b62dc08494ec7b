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

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{CertificateParams, DnType, KeyPair};

    /// A certificate for `host` signed by a fixed CA key, with `serial`.
    fn cert(
        ca: &(rcgen::Certificate, KeyPair),
        host: &str,
        serial: u64,
    ) -> CertificateDer<'static> {
        let mut params = CertificateParams::new(vec![host.to_owned()]).expect("params");
        params.distinguished_name.push(DnType::CommonName, host);
        params.serial_number = Some(serial.into());
        let key = KeyPair::generate().expect("key");
        let cert = params.signed_by(&key, &ca.0, &ca.1).expect("signed");
        CertificateDer::from(cert.der().to_vec())
    }

    fn ca(name: &str) -> (rcgen::Certificate, KeyPair) {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let key = KeyPair::generate().expect("key");
        (params.self_signed(&key).expect("CA"), key)
    }

    /// A renewed certificate (new key, new serial) of the same host keeps
    /// its identity; another host's, or the same name from another CA,
    /// does not share it.
    #[test]
    fn identity_follows_issuer_subject_and_names() {
        let (ours, theirs) = (ca("ca"), ca("other"));
        let of = |der: CertificateDer<'static>| ClientCert::of_chain(&[der]).expect("parses");
        let host_a = of(cert(&ours, "host-a.example", 1));
        assert_eq!(host_a, of(cert(&ours, "host-a.example", 2)), "renewed");
        assert_ne!(host_a, of(cert(&ours, "host-b.example", 3)), "another host");
        assert_ne!(host_a, of(cert(&theirs, "host-a.example", 1)), "another CA");
        assert!(ClientCert::of_chain(&[]).is_none());
    }
}
