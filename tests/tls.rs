//! An `https://` upstream: trusted through `upstream.ca_file`, refused
//! (502) without it, and HTTP/2 negotiated by ALPN when configured.

mod common;

use std::sync::Arc;

use bytes::Bytes;
use common::*;
use http::Response;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

/// A TLS upstream with a fresh self-signed certificate for 127.0.0.1;
/// answers every request with its HTTP version. Returns its URL and the
/// certificate's PEM file.
async fn tls_upstream() -> (String, std::path::PathBuf) {
    let certified =
        rcgen::generate_simple_self_signed(vec!["127.0.0.1".to_owned()]).expect("certificate");
    let dir = std::env::temp_dir().join(format!("imgcache-tls-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).expect("dir");
    let ca = dir.join("ca.pem");
    std::fs::write(&ca, certified.cert.pem()).expect("write");
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(certified.key_pair.serialize_der()));
    let certs = vec![CertificateDer::from(certified.cert.der().to_vec())];
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .expect("server config");
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let acceptor = TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(stream).await else {
                    return;
                };
                let service =
                    service_fn(|request: http::Request<hyper::body::Incoming>| async move {
                        let body = format!("{:?} {}", request.version(), request.uri().path());
                        Ok::<_, std::convert::Infallible>(Response::new(Full::new(Bytes::from(
                            body,
                        ))))
                    });
                let _ = auto::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(tls), service)
                    .await;
            });
        }
    });
    (format!("https://127.0.0.1:{}", addr.port()), ca)
}

/// With the upstream's CA in upstream.ca_file, requests go through TLS.
#[tokio::test]
async fn ca_file_trusts_a_private_upstream() {
    let (url, ca) = tls_upstream().await;
    let proxy = TestProxy::new(&url)
        .with(|config| config.upstream.ca_file = Some(ca))
        .start()
        .await;
    let reply = get(&proxy.url("/v2/schemas/image"), &[]).await;
    assert_eq!(reply.status, 200);
    assert_eq!(&reply.body[..], b"HTTP/1.1 /v2/schemas/image");
}

/// Without it, the unknown certificate is refused: 502, not a silent
/// downgrade.
#[tokio::test]
async fn unknown_certificates_are_refused() {
    let (url, _) = tls_upstream().await;
    let proxy = start_proxy(&url).await;
    let reply = get(&proxy.url("/v2/schemas/image"), &[]).await;
    assert_eq!(reply.status, 502);
    assert_eq!(reply.json()["error"]["code"], 502);
}

/// With upstream.http2, HTTP/2 is negotiated by ALPN over TLS.
#[tokio::test]
async fn http2_over_tls_by_alpn() {
    let (url, ca) = tls_upstream().await;
    let proxy = TestProxy::new(&url)
        .with(|config| {
            config.upstream.ca_file = Some(ca);
            config.upstream.http2 = true;
        })
        .start()
        .await;
    let reply = get(&proxy.url("/v2/schemas/image"), &[]).await;
    assert_eq!(reply.status, 200);
    assert_eq!(&reply.body[..], b"HTTP/2.0 /v2/schemas/image");
}
