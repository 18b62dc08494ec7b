//! Every client connection has a bounded idle life on every protocol,
//! and `server.max_connections` is one budget for the process: idle
//! HTTP/2 connections (h2c and TLS with ALPN h2) are told to go away and
//! closed, dead peers are found by PINGs, and a connection past the
//! budget is refused at once, whatever worker it reached.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::pki::{self, Ca};
use common::tls_proxy::{H2, TlsProxy};
use common::wire::{Conn, alice_get, served_once_there_is_room};
use common::*;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The client connection preface and an empty SETTINGS frame: all an
/// idle HTTP/2 client ever sends.
const PREFACE_AND_SETTINGS: &[u8] =
    b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00";

/// A HEADERS frame on stream 1 opening `POST /v2/images` whose body never
/// comes (END_HEADERS, not END_STREAM); HPACK literals without indexing.
fn open_stream() -> Vec<u8> {
    let mut block = vec![0x83, 0x86]; // :method POST, :scheme http
    block.push(0x04); // :path, literal value
    block.push(10);
    block.extend_from_slice(b"/v2/images");
    block.push(0x01); // :authority, literal value
    block.push(1);
    block.push(b'x');
    let mut frame = Vec::new();
    frame.extend_from_slice(&(block.len() as u32).to_be_bytes()[1..]);
    frame.extend_from_slice(&[0x01, 0x04, 0, 0, 0, 1]);
    frame.extend_from_slice(&block);
    frame
}

/// Reads until the peer closes; whether a GOAWAY frame came first (a
/// frame of type 7 anywhere after the server's preface).
async fn until_closed<S: AsyncRead + Unpin>(stream: &mut S) -> Vec<u8> {
    let mut seen = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        match tokio::time::timeout(HANG_GUARD, stream.read(&mut chunk)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return seen,
            Ok(Ok(n)) => seen.extend_from_slice(&chunk[..n]),
            Err(_) => panic!("the connection is still open after the hang guard"),
        }
    }
}

/// The frame types in what a server sent.
fn frame_types(mut bytes: &[u8]) -> Vec<u8> {
    let mut types = Vec::new();
    while bytes.len() >= 9 {
        let length =
            usize::from(bytes[0]) << 16 | usize::from(bytes[1]) << 8 | usize::from(bytes[2]);
        types.push(bytes[3]);
        bytes = &bytes[(9 + length).min(bytes.len())..];
    }
    types
}

const GOAWAY: u8 = 7;

/// An HTTP/1.1 read through the proxy, on a new connection.
async fn served(addr: SocketAddr) -> u16 {
    let mut conn = Conn::open(addr).await;
    conn.send(&alice_get(EXAMPLE_IMAGE_ID, "")).await;
    conn.response().await.status
}

/// 40 h2c connections that send the preface and SETTINGS and nothing
/// else, against `max_connections = 20`: 20 are refused at once, the
/// others are told to go away (GOAWAY) once idle and closed, and new
/// requests are served.
#[tokio::test]
async fn idle_h2c_connections_are_closed_and_the_excess_refused() {
    let sample = start_sample().await;
    let proxy = TestProxy::new(&sample.url())
        .with(|config| {
            config.server.max_connections = 20;
            config.server.idle_timeout = Duration::from_millis(500);
        })
        .admin()
        .start()
        .await;
    let mut idle = Vec::new();
    for _ in 0..40 {
        let mut stream = TcpStream::connect(proxy.addr).await.expect("connect");
        // A refused connection may be closed before the preface is out.
        let _ = stream.write_all(PREFACE_AND_SETTINGS).await;
        idle.push(stream);
    }
    let mut goaways = 0;
    for stream in &mut idle {
        let sent = until_closed(stream).await;
        if frame_types(&sent).contains(&GOAWAY) {
            goaways += 1;
        }
    }
    assert_eq!(goaways, 20, "each accepted connection got a GOAWAY");
    assert_eq!(served(proxy.addr).await, 200);
    let refused = proxy.metric("imgcache_connections_refused_total").await;
    assert_eq!(refused, 20.0);
    let closed = proxy.metric("imgcache_idle_connections_closed_total").await;
    assert_eq!(closed, 20.0);
}

/// The same over TLS with ALPN h2.
#[tokio::test]
async fn idle_tls_h2_connections_are_closed() {
    let ca = Ca::new("idle-h2");
    let server = ca.server("server", 1);
    let proxy = TlsProxy::start_with(&server, None, false, |config| {
        config.server.max_connections = 4;
        config.server.idle_timeout = Duration::from_millis(500);
    })
    .await;
    let connector = pki::connector(&ca.file(), H2, None);
    let mut idle = Vec::new();
    for _ in 0..4 {
        let mut stream = pki::connect(&connector, proxy.handle.addr)
            .await
            .expect("handshake");
        assert_eq!(stream.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
        stream.write_all(PREFACE_AND_SETTINGS).await.expect("write");
        idle.push(stream);
    }
    for stream in &mut idle {
        let sent = until_closed(stream).await;
        assert!(frame_types(&sent).contains(&GOAWAY), "{sent:?}");
    }
    // Every place is free again: a new TLS connection is served.
    let (mut client, _) = common::tls_proxy::Client::open(&connector, proxy.handle.addr).await;
    let (status, _, _) = client.get(&image_path(EXAMPLE_IMAGE_ID), TOKEN_A).await;
    assert_eq!(status, 200);
}

/// A peer with a stream open that answers nothing — not even PINGs — is
/// found dead by the keep-alive PINGs and closed, long before any body
/// or write timeout would.
#[tokio::test]
async fn a_silent_h2_peer_with_an_open_stream_is_closed_by_pings() {
    let sample = start_sample().await;
    let proxy = TestProxy::new(&sample.url())
        .with(|config| config.server.idle_timeout = Duration::from_secs(2))
        .start()
        .await;
    let mut stream = TcpStream::connect(proxy.addr).await.expect("connect");
    stream
        .write_all(&[PREFACE_AND_SETTINGS, &open_stream()].concat())
        .await
        .expect("write");
    let sent = until_closed(&mut stream).await;
    const PING: u8 = 6;
    assert!(frame_types(&sent).contains(&PING), "{sent:?}");
}

/// `max_connections` is one budget for the process whatever the worker
/// count: with two workers and a budget of two, a third connection is
/// refused at once (closed, no answer), and served once one closes.
#[tokio::test]
async fn max_connections_is_one_budget_for_all_workers() {
    let sample = start_sample().await;
    let mut config = config_for(&sample.url());
    config.server.max_connections = 2;
    config.server.workers = 2;
    let listeners = imgcache::workers::bind(config.server.listen, 2).expect("bind");
    let addr = listeners[0].local_addr().expect("addr");
    let proxy = imgcache::proxy::Proxy::new(&config).expect("proxy");
    let workers = imgcache::workers::Workers::spawn(listeners, &proxy, &config.server, None)
        .expect("workers");
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut conn = Conn::open(addr).await;
        conn.send(&alice_get(EXAMPLE_IMAGE_ID, "")).await;
        assert_eq!(conn.response().await.status, 200);
        held.push(conn);
    }
    // Whichever worker the kernel gives it to, the budget is spent.
    for _ in 0..6 {
        let mut refused = Conn::open(addr).await;
        assert!(refused.closed().await, "refused at once");
    }
    drop(held.pop());
    let served = served_once_there_is_room(addr, &alice_get(EXAMPLE_IMAGE_ID, "")).await;
    assert_eq!(served.status, 200, "a freed place is used");
    workers.stop_and_join().await;
}
