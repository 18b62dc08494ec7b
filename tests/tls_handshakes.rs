//! Bad input on the TLS port: plain HTTP, a truncated handshake, a slow
//! one and a TLS 1.0-only client are each closed and counted by reason,
//! while other connections go on being served.

mod common;

use common::pki::{self, Ca};
use common::tls_proxy::*;
use common::*;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

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
    assert_eq!(
        bystander
            .get(&image_path(EXAMPLE_IMAGE_ID), TOKEN_A)
            .await
            .0,
        200
    );

    let plain = format!(
        "GET {} HTTP/1.1\r\nHost: x\r\n\r\n",
        image_path(EXAMPLE_IMAGE_ID)
    );
    assert!(
        closed_after(addr, plain.as_bytes(), false).await,
        "plain HTTP"
    );
    let hello = tls10_client_hello();
    assert!(closed_after(addr, &hello[..20], true).await, "truncated");
    assert!(closed_after(addr, &hello[..20], false).await, "slow");
    assert!(closed_after(addr, &hello, false).await, "TLS 1.0 only");

    assert_eq!(
        bystander
            .get(&image_path(EXAMPLE_IMAGE_ID), TOKEN_A)
            .await
            .0,
        200
    );
    for reason in ["not_tls", "closed", "timeout", "version"] {
        let series = format!("imgcache_tls_handshake_failures_total{{reason=\"{reason}\"}}");
        assert_eq!(proxy.metric(&series).await, 1.0, "{reason}");
    }
}
