//! TLS on the listening side: HTTP/1.1 hits over TLS answered on the hit
//! path, HTTP/2 by ALPN through hyper, client certificates required,
//! refused and keying the cache, bad handshakes closed and counted
//! without touching other connections, and certificates reloaded for new
//! connections while open ones keep theirs.

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::pki::{self, Ca, Issued};
use common::*;
use http::Request;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::{TokioExecutor, TokioIo};
use imgcache::config::{CertFiles, Config, ServerTls};
use imgcache::metrics::Snapshot;
use imgcache::proxy::Proxy;
use imgcache::tls::{Acceptor, Reloaded};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

const H1: &[&[u8]] = &[b"http/1.1"];
const H2: &[&[u8]] = &[b"h2"];

/// A proxy serving TLS with `server` (and requiring certificates from
/// `client_ca` when given), in front of the sample.
struct TlsProxy {
    handle: ProxyHandle,
    acceptor: Acceptor,
    sample: glance_sample::SampleHandle,
}

impl TlsProxy {
    async fn start(server: &Issued, client_ca: Option<&Ca>, client_identity: bool) -> TlsProxy {
        TlsProxy::start_with(server, client_ca, client_identity, |_| {}).await
    }

    async fn start_with(
        server: &Issued,
        client_ca: Option<&Ca>,
        client_identity: bool,
        tune: impl FnOnce(&mut Config),
    ) -> TlsProxy {
        let sample = start_sample().await;
        let mut config = config_for(&sample.url());
        config.server.tls = Some(ServerTls {
            cert: CertFiles {
                cert_file: server.cert_file.clone(),
                key_file: Some(server.key_file.clone()),
            },
            client_ca_file: client_ca.map(Ca::file),
            client_identity,
        });
        tune(&mut config);
        let proxy = Proxy::new(&config).expect("proxy");
        let acceptor = Acceptor::for_server(&config, proxy.metrics_handle())
            .expect("certificate loads")
            .expect("TLS on");
        let handle = start_proxy_over(config, proxy, Some(acceptor.clone())).await;
        TlsProxy {
            handle,
            acceptor,
            sample,
        }
    }

    /// The `X-Forwarded-Proto` of the latest request the upstream saw.
    fn forwarded_proto(&self) -> String {
        let headers = self
            .sample
            .control
            .last_request_headers()
            .expect("a request");
        headers["x-forwarded-proto"]
            .to_str()
            .expect("text")
            .to_owned()
    }

    async fn metric(&self, series: &str) -> f64 {
        let text = self
            .handle
            .proxy
            .metrics()
            .encode(&Snapshot::default())
            .expect("metrics");
        sample_value(&text, series)
    }
}

/// An HTTP/1.1 or HTTP/2 client on one TLS connection.
enum Client {
    H1(hyper::client::conn::http1::SendRequest<Empty<Bytes>>),
    H2(hyper::client::conn::http2::SendRequest<Empty<Bytes>>),
}

impl Client {
    /// Connects with `connector`, speaking what ALPN chose.
    async fn open(connector: &TlsConnector, addr: std::net::SocketAddr) -> (Client, String) {
        let tls = pki::connect(connector, addr).await.expect("handshake");
        let serial = pki::served_serial(&tls);
        let h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2");
        let io = TokioIo::new(tls);
        let client = if h2 {
            let (send, conn) = hyper::client::conn::http2::handshake(TokioExecutor::new(), io)
                .await
                .expect("h2");
            tokio::spawn(conn);
            Client::H2(send)
        } else {
            let (send, conn) = hyper::client::conn::http1::handshake(io).await.expect("h1");
            tokio::spawn(conn);
            Client::H1(send)
        };
        (client, serial)
    }

    /// `GET path` as `token`: status, version, `Cache-Status`.
    async fn get(&mut self, path: &str, token: &str) -> (u16, http::Version, String) {
        // HTTP/1.1 in origin form, as curl and requests send it; HTTP/2
        // needs the scheme and authority.
        let uri = match self {
            Client::H1(_) => path.to_owned(),
            Client::H2(_) => format!("https://127.0.0.1{path}"),
        };
        let request = Request::get(uri)
            .header("host", "127.0.0.1")
            .header("x-auth-token", token)
            .body(Empty::new())
            .expect("request");
        let sent = match self {
            Client::H1(send) => send.send_request(request).await,
            Client::H2(send) => send.send_request(request).await,
        };
        let response = tokio::time::timeout(HANG_GUARD, async { sent })
            .await
            .expect("no hang")
            .expect("response");
        let (parts, body) = response.into_parts();
        body.collect().await.expect("body");
        let status = parts
            .headers
            .get("cache-status")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned();
        (parts.status.as_u16(), parts.version, status)
    }
}

fn image_path() -> String {
    format!("/v2/images/{EXAMPLE_IMAGE_ID}")
}

/// A fresh hit over TLS with HTTP/1.1 (ALPN) is answered by the hit path,
/// on the same keep-alive connection as the miss that stored it; the
/// miss tells the upstream the client came over https.
#[tokio::test]
async fn h1_hits_over_tls_take_the_hit_path() {
    let ca = Ca::new("ca");
    let proxy = TlsProxy::start(&ca.server("server", 1), None, false).await;
    let connector = pki::connector(&ca.file(), H1, None);
    let (mut client, _) = Client::open(&connector, proxy.handle.addr).await;
    let (status, version, cache) = client.get(&image_path(), TOKEN_A).await;
    assert_eq!((status, version), (200, http::Version::HTTP_11));
    assert_eq!(cache, "imgcache; fwd=miss; stored");
    assert_eq!(proxy.forwarded_proto(), "https");
    let (status, _, cache) = client.get(&image_path(), TOKEN_A).await;
    assert_eq!(status, 200);
    assert!(cache.starts_with("imgcache; hit"), "{cache}");
    assert_eq!(proxy.metric("imgcache_hit_path_responses_total").await, 1.0);
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
    let (status, version, _) = client.get(&image_path(), TOKEN_A).await;
    assert_eq!((status, version), (200, http::Version::HTTP_2));
    assert_eq!(proxy.forwarded_proto(), "https");
    let (_, _, cache) = client.get(&image_path(), TOKEN_A).await;
    assert!(cache.starts_with("imgcache; hit"), "{cache}");
    assert_eq!(proxy.metric("imgcache_hit_path_responses_total").await, 0.0);
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
        image_path()
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
    let path = image_path();
    assert_eq!(a.get(&path, TOKEN_A).await.2, "imgcache; fwd=miss; stored");
    assert_eq!(b.get(&path, TOKEN_A).await.2, "imgcache; fwd=miss; stored");
    assert!(a.get(&path, TOKEN_A).await.2.starts_with("imgcache; hit"));
    assert!(b.get(&path, TOKEN_A).await.2.starts_with("imgcache; hit"));
    assert_eq!(proxy.metric("imgcache_hit_path_responses_total").await, 1.0);
    // The same host again, on a new connection, finds its entry.
    let again = pki::connector(&ca.file(), H1, Some(&host_a));
    let (mut again, _) = Client::open(&again, proxy.handle.addr).await;
    assert!(
        again
            .get(&path, TOKEN_A)
            .await
            .2
            .starts_with("imgcache; hit")
    );
}

/// Sends `bytes` on a new TCP connection (then closes its side when
/// `hang_up`) and says whether the proxy closed the connection.
async fn closed_after(addr: std::net::SocketAddr, bytes: &[u8], hang_up: bool) -> bool {
    let mut tcp = TcpStream::connect(addr).await.expect("connect");
    tcp.write_all(bytes).await.expect("write");
    if hang_up {
        tcp.shutdown().await.expect("shutdown");
    }
    let mut sink = Vec::new();
    // An alert or nothing, then EOF (or a reset): never an HTTP answer.
    match tokio::time::timeout(HANG_GUARD, tcp.read_to_end(&mut sink)).await {
        Ok(_) => !sink.starts_with(b"HTTP/"),
        Err(_) => false,
    }
}

/// A ClientHello of a client that speaks TLS 1.0 only (no
/// supported_versions extension).
fn tls10_client_hello() -> Vec<u8> {
    let mut body = vec![0x03, 0x01];
    body.extend_from_slice(&[7u8; 32]);
    body.push(0); // session id
    body.extend_from_slice(&[0x00, 0x04, 0x00, 0x2f, 0x00, 0x35]); // AES-CBC suites
    body.extend_from_slice(&[0x01, 0x00]); // null compression
    let mut handshake = vec![0x01, 0x00];
    handshake.extend_from_slice(&(body.len() as u16).to_be_bytes());
    handshake.extend_from_slice(&body);
    let mut record = vec![0x16, 0x03, 0x01];
    record.extend_from_slice(&(handshake.len() as u16).to_be_bytes());
    record.extend_from_slice(&handshake);
    record
}

/// Plain HTTP on the TLS port, a truncated handshake, a handshake that
/// never finishes (bounded by tls_handshake_timeout) and a TLS 1.0-only
/// client are each closed and counted by reason, while a keep-alive
/// connection opened before goes on being served.
#[tokio::test]
async fn bad_handshakes_are_closed_and_counted() {
    let ca = Ca::new("ca");
    let server = ca.server("server", 1);
    let proxy = TlsProxy::start_with(&server, None, false, |config| {
        config.server.tls_handshake_timeout = Duration::from_millis(300);
    })
    .await;
    let addr = proxy.handle.addr;
    let connector = pki::connector(&ca.file(), H1, None);
    let (mut bystander, _) = Client::open(&connector, addr).await;
    assert_eq!(bystander.get(&image_path(), TOKEN_A).await.0, 200);

    let plain = format!("GET {} HTTP/1.1\r\nHost: x\r\n\r\n", image_path());
    assert!(
        closed_after(addr, plain.as_bytes(), false).await,
        "plain HTTP"
    );
    let hello = tls10_client_hello();
    assert!(closed_after(addr, &hello[..20], true).await, "truncated");
    assert!(closed_after(addr, &hello[..20], false).await, "slow");
    assert!(closed_after(addr, &hello, false).await, "TLS 1.0 only");

    assert_eq!(bystander.get(&image_path(), TOKEN_A).await.0, 200);
    for reason in ["not_tls", "closed", "timeout", "version"] {
        let series = format!("imgcache_tls_handshake_failures_total{{reason=\"{reason}\"}}");
        assert_eq!(proxy.metric(&series).await, 1.0, "{reason}");
    }
}

/// Writes `issued`'s files over `into`'s (a renewal in place).
fn replace_files(into: &Issued, issued: &Issued) {
    std::fs::copy(&issued.cert_file, &into.cert_file).expect("copy");
    std::fs::copy(&issued.key_file, &into.key_file).expect("copy");
}

/// A reload swaps the certificate new connections get (its serial
/// changes); a keep-alive connection opened before keeps working; a bad
/// file is rejected (counted) and the certificate in use stays.
#[tokio::test]
async fn reload_swaps_the_certificate_for_new_connections() {
    let ca = Ca::new("ca");
    let server = ca.server("server", 1);
    let proxy = TlsProxy::start(&server, None, false).await;
    let addr = proxy.handle.addr;
    let connector = pki::connector(&ca.file(), H1, None);
    let (mut old, serial) = Client::open(&connector, addr).await;
    assert_eq!(serial, "01");
    assert_eq!(proxy.acceptor.reload(true), Ok(Reloaded::Unchanged));

    replace_files(&server, &ca.server("renewed", 2));
    assert_eq!(
        proxy.acceptor.reload(true),
        Ok(Reloaded::Swapped {
            serial: "02".into()
        })
    );
    let (mut new, serial) = Client::open(&connector, addr).await;
    assert_eq!(serial, "02");
    assert_eq!(
        old.get(&image_path(), TOKEN_A).await.0,
        200,
        "old keeps going"
    );
    assert_eq!(new.get(&image_path(), TOKEN_A).await.0, 200);

    std::fs::write(&server.cert_file, "not a certificate").expect("write");
    let rejected = proxy.acceptor.reload(true).expect_err("a bad file");
    assert!(rejected.contains("no PEM certificate"), "{rejected}");
    let (_, serial) = Client::open(&connector, addr).await;
    assert_eq!(serial, "02", "the running certificate stays");
    let reloads = "imgcache_tls_certificate_reloads_total";
    assert_eq!(
        proxy.metric(&format!("{reloads}{{result=\"ok\"}}")).await,
        1.0
    );
    assert_eq!(
        proxy
            .metric(&format!("{reloads}{{result=\"error\"}}"))
            .await,
        1.0
    );
}

/// Without a signal, a change of the files is picked up by the watcher
/// within its interval.
#[tokio::test]
async fn a_change_of_the_files_is_picked_up() {
    let ca = Ca::new("ca");
    let server = ca.server("server", 1);
    let proxy = TlsProxy::start(&server, None, false).await;
    let watcher = tokio::spawn(imgcache::tls::watch_files(
        vec![proxy.acceptor.clone()],
        Duration::from_millis(50),
    ));
    replace_files(&server, &ca.server("renewed", 3));
    let connector = pki::connector(&ca.file(), H1, None);
    let swapped = async {
        loop {
            let (_, serial) = Client::open(&connector, proxy.handle.addr).await;
            if serial == "03" {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(HANG_GUARD, swapped)
        .await
        .expect("the new certificate is served");
    watcher.abort();
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
    let admin = imgcache::admin::Admin::new(proxy.handle.proxy.clone(), None);
    tokio::spawn(admin.serve_with(listener, Some(acceptor), std::future::pending()));
    let connector = pki::connector(&ca.file(), H1, None);
    let (mut client, serial) = Client::open(&connector, addr).await;
    assert_eq!(serial, "09");
    assert_eq!(client.get("/healthz", TOKEN_A).await.0, 200);
    let (_, serial) = Client::open(&connector, proxy.handle.addr).await;
    assert_eq!(serial, "01");
}
