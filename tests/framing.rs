//! What clients send that is not a plain request, over raw sockets: a
//! missing `Host`, a malformed or oversized head, a method that is not a
//! write, and a client that never reads its responses. Each gets the same
//! answer on the hit path and on a connection already handed to hyper.

mod common;

use std::time::Duration;

use common::wire::{Conn, Wire, alice_get, served_once_there_is_room};
use common::*;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpSocket;

/// A connection the hit path has handed to hyper: its first request is a
/// bypass, answered through the full path.
async fn handed_off(proxy: &ProxyHandle) -> Conn {
    let mut conn = Conn::open(proxy.addr).await;
    conn.send(&alice_get(EXAMPLE_IMAGE_ID, "Cache-Control: no-cache\r\n"))
        .await;
    let bypass = conn.response().await;
    assert_eq!(bypass.outcome(), BYPASS);
    conn
}

/// The proxy's JSON error body with this status.
fn assert_json_error(reply: &Wire, status: u16, mentions: &str) {
    assert_eq!(reply.status, status, "{reply:?}");
    assert_eq!(reply.header("content-type"), "application/json");
    let body: serde_json::Value = serde_json::from_slice(&reply.body).expect("JSON body");
    assert_eq!(body["error"]["code"], status);
    let message = body["error"]["message"].as_str().expect("message");
    assert!(message.contains(mentions), "{message}");
}

/// An HTTP/1.1 request without `Host` is 400 (RFC 9112 §3.2) with the
/// JSON body, never a cache hit: on a fresh connection (the hit path) and
/// on one hyper serves. HTTP/1.0 needs no `Host`.
#[tokio::test]
async fn http11_without_host_is_400_on_both_paths() {
    let sample = start_sample().await;
    let proxy = start_proxy(&sample.url()).await;
    get_image(&proxy, EXAMPLE_IMAGE_ID).await;
    assert!(is_hit(get_image(&proxy, EXAMPLE_IMAGE_ID).await.outcome()));
    let no_host =
        format!("GET /v2/images/{EXAMPLE_IMAGE_ID} HTTP/1.1\r\nX-Auth-Token: {TOKEN_A}\r\n\r\n");

    let mut fresh = Conn::open(proxy.addr).await;
    fresh.send(no_host.as_bytes()).await;
    assert_json_error(&fresh.response().await, 400, "Host");

    let mut hyper = handed_off(&proxy).await;
    hyper.send(no_host.as_bytes()).await;
    assert_json_error(&hyper.response().await, 400, "Host");

    let mut old = Conn::open(proxy.addr).await;
    old.send(
        format!("GET /v2/images/{EXAMPLE_IMAGE_ID} HTTP/1.0\r\nX-Auth-Token: {TOKEN_A}\r\n\r\n")
            .as_bytes(),
    )
    .await;
    assert_eq!(old.response().await.status, 200);
}

/// A head that is not HTTP/1 gets 400 with the JSON body and the
/// connection closes; one past `server.max_header_bytes` gets 431 with
/// the JSON body, also when it outgrows hyper's own read buffer (where
/// hyper would answer a bare 431).
#[tokio::test]
async fn malformed_and_oversized_heads_get_json_errors() {
    let sample = start_sample().await;
    let proxy = start_proxy(&sample.url()).await;
    for (head, status, mentions) in [
        (
            b"GET /v2/images/a HTTP/1.1\r\nHost: x\r\nBad Name: x\r\n\r\n".to_vec(),
            400,
            "malformed",
        ),
        (b"GET /v2/images/a HTTP/9.9\r\n\r\n".to_vec(), 400, "HTTP/1"),
        (
            format!(
                "GET /a HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
                "a".repeat(40 << 10)
            )
            .into_bytes(),
            431,
            "larger than",
        ),
        (
            format!(
                "POST /a HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n",
                "a".repeat(300 << 10)
            )
            .into_bytes(),
            431,
            "larger than",
        ),
    ] {
        let mut conn = Conn::open(proxy.addr).await;
        // The server may answer before it has read everything.
        let _ = conn.stream.write_all(&head).await;
        assert_json_error(&conn.response().await, status, mentions);
        assert!(
            conn.closed().await,
            "the connection closes after a {status}"
        );
    }
}

/// Only Glance's write methods invalidate: `OPTIONS`, `FOO`, lower-case
/// `get`/`patch`/`delete` on an image (unauthenticated: Glance answers
/// 401/405) leave every cached entry of it in place. A real PATCH drops it.
#[tokio::test]
async fn other_methods_on_an_image_purge_nothing() {
    let sample = start_sample().await;
    let proxy = start_proxy(&sample.url()).await;
    let url = proxy.url(&format!("/v2/images/{EXAMPLE_IMAGE_ID}"));
    get_image(&proxy, EXAMPLE_IMAGE_ID).await;
    for method in ["OPTIONS", "FOO", "get", "patch", "delete", "PUT", "POST"] {
        let method = http::Method::from_bytes(method.as_bytes()).expect("method");
        send(method, &url, &[], b"").await;
        let again = get_image(&proxy, EXAMPLE_IMAGE_ID).await;
        assert!(
            is_hit(again.outcome()),
            "purged by a request that writes nothing: {:?}",
            again.outcome()
        );
    }
    send(
        http::Method::PATCH,
        &url,
        &[
            ("x-auth-token", TOKEN_ADMIN),
            (
                "content-type",
                "application/openstack-images-v2.1-json-patch",
            ),
        ],
        br#"[{"op": "add", "path": "/gold", "value": "yes"}]"#,
    )
    .await;
    let after = get_image(&proxy, EXAMPLE_IMAGE_ID).await;
    assert_eq!(after.outcome(), STORED);
}

/// A client that pipelines requests and never reads the answers is
/// closed once no byte could be written for `server.write_timeout`, on
/// the hit path and on a connection hyper serves; its connection slot is
/// free again (one slot here: the next client is answered).
#[tokio::test]
async fn clients_that_stop_reading_are_closed() {
    let sample = start_sample().await;
    let proxy = TestProxy::new(&sample.url())
        .with(|config| {
            config.server.write_timeout = Duration::from_millis(500);
            config.server.max_connections = 1;
        })
        .admin()
        .start()
        .await;
    {
        let mut fill = Conn::open(proxy.addr).await;
        fill.send(&alice_get(EXAMPLE_IMAGE_ID, "Connection: close\r\n"))
            .await;
        assert_eq!(fill.response().await.status, 200);
    }
    for through_hyper in [false, true] {
        let stalled = stall(&proxy, through_hyper).await;
        // The one place is the stalled connection's until the write
        // timeout closes it: until then new connections are refused.
        let next = served_once_there_is_room(proxy.addr, &alice_get(EXAMPLE_IMAGE_ID, "")).await;
        assert_eq!(next.status, 200, "hyper: {through_hyper}");
        drop(stalled);
    }
    let timeouts = proxy.metric("imgcache_client_write_timeouts_total").await;
    assert!(timeouts >= 2.0, "{timeouts}");
}

/// Opens a connection with a small receive buffer and pipelines hits on
/// it without reading; returns the writer task.
async fn stall(proxy: &ProxyHandle, through_hyper: bool) -> tokio::task::JoinHandle<()> {
    let socket = TcpSocket::new_v4().expect("socket");
    socket.set_recv_buffer_size(4096).expect("rcvbuf");
    let mut stream = socket.connect(proxy.addr).await.expect("connect");
    let mut requests = Vec::new();
    if through_hyper {
        requests.extend_from_slice(
            b"POST /v2/images HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}",
        );
    }
    let one = alice_get(EXAMPLE_IMAGE_ID, "");
    for _ in 0..20_000 {
        requests.extend_from_slice(&one);
    }
    tokio::spawn(async move {
        // Fails once the proxy closes the connection; the stream is held
        // (unread) until then.
        let _ = stream.write_all(&requests).await;
        let _ = tokio::time::timeout(HANG_GUARD, std::future::pending::<()>()).await;
    })
}
