//! TLS on the listening side: HTTP/1.1 hits over TLS answered on the hit
//! path, HTTP/2 by ALPN through hyper, client certificates required,
//! refused and keying the cache, and the admin listener's own certificate.
//! (Bad handshakes: tests/tls_handshakes.rs; reloads: tests/tls_reload.rs.)

mod common;

use common::pki::{self, Ca, Issued};
use common::tls_proxy::*;
use common::*;
use imgcache::config::{CertFiles, Config};
use imgcache::tls::Acceptor;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// A fresh hit over TLS with HTTP/1.1 (ALPN) is answered by the hit path,
/// on the same keep-alive connection as the miss that stored it; the
/// miss tells the upstream the client came over https.
#[tokio::test]
async fn h1_hits_over_tls_take_the_hit_path() {
    let ca = Ca::new("ca");
    let proxy = TlsProxy::start(&ca.server("server", 1), None, false).await;
    let connector = pki::connector(&ca.file(), H1, None);
    let (mut client, _) = Client::open(&connector, proxy.handle.addr).await;
    let (status, version, cache) = client.get(&image_path(EXAMPLE_IMAGE_ID), TOKEN_A).await;
    assert_eq!((status, version), (200, http::Version::HTTP_11));
    assert_eq!(cache, STORED);
    assert_eq!(proxy.forwarded_proto(), "https");
    let (status, _, cache) = client.get(&image_path(EXAMPLE_IMAGE_ID), TOKEN_A).await;
    assert_eq!(status, 200);
    assert!(is_hit(cache), "{cache:?}");
    assert_eq!(proxy.metric(HIT_PATH_RESPONSES).await, 1.0);
    assert_eq!(
        proxy
            .metric("imgcache_tls_handshakes_total{protocol=\"http/1.1\"}")
            .await,
        1.0
    );
}

/// A client that chooses h2 by ALPN speaks HTTP/2, served (hits too) by
/// hyper, not the hit path.
#[tokio::test]
async fn h2_by_alpn_is_served_by_hyper() {
    let ca = Ca::new("ca");
    let proxy = TlsProxy::start(&ca.server("server", 1), None, false).await;
    let connector = pki::connector(&ca.file(), H2, None);
    let (mut client, _) = Client::open(&connector, proxy.handle.addr).await;
    let (status, version, _) = client.get(&image_path(EXAMPLE_IMAGE_ID), TOKEN_A).await;
    assert_eq!((status, version), (200, http::Version::HTTP_2));
    assert_eq!(proxy.forwarded_proto(), "https");
    let (_, _, cache) = client.get(&image_path(EXAMPLE_IMAGE_ID), TOKEN_A).await;
    assert!(is_hit(cache), "{cache:?}");
    assert_eq!(proxy.metric(HIT_PATH_RESPONSES).await, 0.0);
    assert_eq!(
        proxy
            .metric("imgcache_tls_handshakes_total{protocol=\"h2\"}")
            .await,
        1.0
    );
}

/// Whether a request on a fresh connection with `identity` gets an
/// answer (under TLS 1.3 a refused certificate shows on the first read).
async fn answered(proxy: &TlsProxy, ca: &Ca, identity: Option<&Issued>) -> bool {
    let connector = pki::connector(&ca.file(), H1, identity);
    let Ok(mut tls) = pki::connect(&connector, proxy.handle.addr).await else {
        return false;
    };
    let request = format!(
        "GET {} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        image_path(EXAMPLE_IMAGE_ID)
    );
    if tls.write_all(request.as_bytes()).await.is_err() {
        return false;
    }
    let mut reply = Vec::new();
    let read = tokio::time::timeout(HANG_GUARD, tls.read_to_end(&mut reply))
        .await
        .expect("no hang");
    read.is_ok() && reply.starts_with(b"HTTP/1.1 ")
}

/// With a client CA, a connection needs a certificate it signed: none,
/// one from another CA and an expired one are refused in the handshake
/// and counted by reason; a good one is served.
#[tokio::test]
async fn client_certificates_are_required() {
    let ca = Ca::new("ca");
    let other = Ca::new("other");
    let proxy = TlsProxy::start(&ca.server("server", 1), Some(&ca), false).await;
    assert!(!answered(&proxy, &ca, None).await, "no certificate");
    let stranger = other.client("stranger", "stranger.example");
    assert!(!answered(&proxy, &ca, Some(&stranger)).await, "unknown CA");
    let expired = ca.expired_client("expired", "old.example");
    assert!(!answered(&proxy, &ca, Some(&expired)).await, "expired");
    let good = ca.client("good", "host-a.example");
    assert!(
        answered(&proxy, &ca, Some(&good)).await,
        "a good certificate"
    );
    for reason in ["no_certificate", "unknown_ca", "expired"] {
        let series = format!("imgcache_tls_handshake_failures_total{{reason=\"{reason}\"}}");
        assert_eq!(proxy.metric(&series).await, 1.0, "{reason}");
    }
}

/// With tls_client_identity, the certificate is part of the cache key:
/// two hosts with different certificates and equal headers never share
/// an entry; each hits its own, on the hit path and through hyper (h2).
#[tokio::test]
async fn client_identity_keys_the_cache() {
    let ca = Ca::new("ca");
    let proxy = TlsProxy::start(&ca.server("server", 1), Some(&ca), true).await;
    let host_a = ca.client("a", "host-a.example");
    let host_b = ca.client("b", "host-b.example");
    let a = pki::connector(&ca.file(), H1, Some(&host_a));
    let b = pki::connector(&ca.file(), H2, Some(&host_b));
    let (mut a, _) = Client::open(&a, proxy.handle.addr).await;
    let (mut b, _) = Client::open(&b, proxy.handle.addr).await;
    let path = image_path(EXAMPLE_IMAGE_ID);
    assert_eq!(a.get(&path, TOKEN_A).await.2, STORED);
    assert_eq!(b.get(&path, TOKEN_A).await.2, STORED);
    assert!(is_hit(a.get(&path, TOKEN_A).await.2));
    assert!(is_hit(b.get(&path, TOKEN_A).await.2));
    assert_eq!(proxy.metric(HIT_PATH_RESPONSES).await, 1.0);
    // The same host again, on a new connection, finds its entry.
    let again = pki::connector(&ca.file(), H1, Some(&host_a));
    let (mut again, _) = Client::open(&again, proxy.handle.addr).await;
    assert!(is_hit(again.get(&path, TOKEN_A).await.2));
}

/// The admin listener serves its own certificate (admin.tls_cert_file),
/// apart from the proxy's.
#[tokio::test]
async fn the_admin_listener_has_its_own_certificate() {
    let ca = Ca::new("ca");
    let proxy = TlsProxy::start(&ca.server("server", 1), None, false).await;
    let admin_cert = ca.server("admin", 9);
    let mut config = Config::defaults();
    config.admin.tls = Some(CertFiles {
        cert_file: admin_cert.cert_file.clone(),
        key_file: Some(admin_cert.key_file.clone()),
    });
    let acceptor = Acceptor::for_admin(&config, proxy.handle.proxy.metrics_handle())
        .expect("certificate loads")
        .expect("TLS on");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let admin = imgcache::admin::Admin::new(proxy.handle.proxy.operator(), None);
    tokio::spawn(admin.serve_with(listener, Some(acceptor), std::future::pending()));
    let connector = pki::connector(&ca.file(), H1, None);
    let (mut client, serial) = Client::open(&connector, addr).await;
    assert_eq!(serial, "09");
    assert_eq!(client.get("/healthz", TOKEN_A).await.0, 200);
    let (_, serial) = Client::open(&connector, proxy.handle.addr).await;
    assert_eq!(serial, "01");
}
