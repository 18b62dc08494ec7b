//! Test certificates made with rcgen at run time (never committed): a
//! CA, server and client certificates it signs, written as PEM files in a
//! fresh temporary directory; and TLS clients that trust the CA.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{
    BasicConstraints, Certificate, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, SerialNumber,
};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer, ServerName};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

/// A certificate authority for one test.
pub struct Ca {
    pub cert: Certificate,
    key: KeyPair,
    /// Where its files (and those of what it signs) go.
    pub dir: PathBuf,
}

/// A certificate with its key, and their PEM files.
pub struct Issued {
    pub cert: Certificate,
    pub key: KeyPair,
    pub cert_file: PathBuf,
    pub key_file: PathBuf,
}

impl Ca {
    /// A new CA named `name`, in a new directory.
    pub fn new(name: &str) -> Ca {
        let dir =
            std::env::temp_dir().join(format!("imgcache-pki-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("dir");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        let key = KeyPair::generate().expect("key");
        let cert = params.self_signed(&key).expect("CA");
        std::fs::write(dir.join(format!("{name}.pem")), cert.pem()).expect("write");
        Ca { cert, key, dir }
    }

    /// The CA certificate's PEM file.
    pub fn file(&self) -> PathBuf {
        let name = self
            .cert
            .params()
            .distinguished_name
            .get(&DnType::CommonName)
            .map(|cn| match cn {
                rcgen::DnValue::Utf8String(s) => s.clone(),
                other => format!("{other:?}"),
            })
            .unwrap_or_default();
        self.dir.join(format!("{name}.pem"))
    }

    /// A server certificate for 127.0.0.1 and localhost with `serial`,
    /// written as `{file}.crt` (chain: leaf, then the CA) and `{file}.key`.
    pub fn server(&self, file: &str, serial: u64) -> Issued {
        self.issue(server_params(serial), file)
    }

    /// As [`Ca::server`], valid until midnight (UTC) of `(year, month,
    /// day)`.
    pub fn server_until(
        &self,
        file: &str,
        serial: u64,
        (year, month, day): (i32, u8, u8),
    ) -> Issued {
        let mut params = server_params(serial);
        params.not_after = rcgen::date_time_ymd(year, month, day);
        self.issue(params, file)
    }

    /// A client certificate for `host` (its subject and DNS name).
    pub fn client(&self, file: &str, host: &str) -> Issued {
        let mut params = CertificateParams::new(vec![host.to_owned()]).expect("params");
        params.distinguished_name.push(DnType::CommonName, host);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        self.issue(params, file)
    }

    /// A client certificate for `host` that expired in 2020.
    pub fn expired_client(&self, file: &str, host: &str) -> Issued {
        let mut params = CertificateParams::new(vec![host.to_owned()]).expect("params");
        params.distinguished_name.push(DnType::CommonName, host);
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        params.not_before = rcgen::date_time_ymd(2019, 1, 1);
        params.not_after = rcgen::date_time_ymd(2020, 1, 1);
        self.issue(params, file)
    }

    fn issue(&self, params: CertificateParams, file: &str) -> Issued {
        let key = KeyPair::generate().expect("key");
        let cert = params
            .signed_by(&key, &self.cert, &self.key)
            .expect("signed");
        let cert_file = self.dir.join(format!("{file}.crt"));
        let key_file = self.dir.join(format!("{file}.key"));
        std::fs::write(&cert_file, format!("{}{}", cert.pem(), self.cert.pem())).expect("write");
        std::fs::write(&key_file, key.serialize_pem()).expect("write");
        Issued {
            cert,
            key,
            cert_file,
            key_file,
        }
    }
}

/// A server certificate's parameters: 127.0.0.1 and localhost, `serial`.
fn server_params(serial: u64) -> CertificateParams {
    let mut params = CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
        .expect("params");
    params.serial_number = Some(SerialNumber::from(serial));
    params
        .distinguished_name
        .push(DnType::CommonName, "imgcache");
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params
}

impl Issued {
    /// When the certificate expires, in seconds since the epoch.
    pub fn not_after(&self) -> i64 {
        self.cert.params().not_after.unix_timestamp()
    }

    /// The certificate (leaf only) and key, for a rustls client.
    pub fn der(&self) -> (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>) {
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key.serialize_der()));
        (vec![CertificateDer::from(self.cert.der().to_vec())], key)
    }
}

/// A TLS client that trusts `ca` (its PEM file), offers `alpn`, and
/// presents `identity` when given.
pub fn connector(ca: &Path, alpn: &[&[u8]], identity: Option<&Issued>) -> TlsConnector {
    let mut roots = rustls::RootCertStore::empty();
    let pem = std::fs::read(ca).expect("CA file");
    for cert in rustls_pemfile_certs(&pem) {
        roots.add(cert).expect("CA");
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots);
    let mut config = match identity {
        Some(issued) => {
            let (chain, key) = issued.der();
            builder
                .with_client_auth_cert(chain, key)
                .expect("client cert")
        }
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    TlsConnector::from(Arc::new(config))
}

fn rustls_pemfile_certs(pem: &[u8]) -> Vec<CertificateDer<'static>> {
    use rustls_pki_types::pem::PemObject;
    CertificateDer::pem_slice_iter(pem)
        .collect::<Result<_, _>>()
        .expect("PEM")
}

/// Connects to `addr` and completes the client's side of the handshake
/// (under TLS 1.3 a refused client certificate shows only on first read).
pub async fn connect(
    connector: &TlsConnector,
    addr: std::net::SocketAddr,
) -> std::io::Result<TlsStream<TcpStream>> {
    let tcp = TcpStream::connect(addr).await?;
    let name = ServerName::try_from("127.0.0.1").expect("name");
    connector.connect(name, tcp).await
}

/// The serial number (hex) of the certificate a TLS connection was given.
pub fn served_serial(stream: &TlsStream<TcpStream>) -> String {
    let chain = stream
        .get_ref()
        .1
        .peer_certificates()
        .expect("server chain");
    let leaf = webpki::EndEntityCert::try_from(&chain[0]).expect("leaf");
    leaf.serial().iter().map(|b| format!("{b:02x}")).collect()
}
