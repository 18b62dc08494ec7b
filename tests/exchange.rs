//! Requests the hit path does not answer itself are answered by hyper one
//! at a time on the same connection, which then comes back: a keep-alive
//! client that misses, bypasses, writes or revalidates gets its next fresh
//! hits on the hit path, and every head on the connection is judged by it.

mod common;

use common::wire::{Conn, alice_get};
use common::*;

/// A miss, a bypass, a 304 and a write with a body on one keep-alive
/// connection, each followed by hits: every hit is answered on the hit
/// path, hyper answered the four others, nothing was handed over for good,
/// and every answer is the right one, in order.
#[tokio::test]
async fn misses_and_writes_do_not_demote_the_connection() {
    let sample = start_sample().await;
    let proxy = TestProxy::new(&sample.url()).admin().start().await;
    let mut conn = Conn::open(proxy.addr).await;

    conn.send(&alice_get(EXAMPLE_IMAGE_ID, "")).await;
    let miss = conn.response().await;
    assert_eq!(miss.outcome(), STORED);
    let etag = miss.header("etag").to_owned();

    let if_none_match = format!("If-None-Match: {etag}\r\n");
    let patch = format!(
        "PATCH /v2/images/{SHARED_IMAGE_ID} HTTP/1.1\r\nHost: x\r\nX-Auth-Token: {TOKEN_ADMIN}\r\n\
         Content-Type: application/openstack-images-v2.1-json-patch\r\nContent-Length: 2\r\n\r\n[]"
    );
    let others: [(Vec<u8>, u16); 3] = [
        (
            alice_get(EXAMPLE_IMAGE_ID, "Cache-Control: no-cache\r\n"),
            200,
        ),
        (alice_get(EXAMPLE_IMAGE_ID, &if_none_match), 304),
        (patch.into_bytes(), 200),
    ];
    for (request, status) in others {
        for _ in 0..2 {
            conn.send(&alice_get(EXAMPLE_IMAGE_ID, "")).await;
            let hit = conn.response().await;
            assert!(is_hit(hit.outcome()), "{hit:?}");
        }
        conn.send(&request).await;
        let answered = conn.response().await;
        assert_eq!(answered.status, status, "{answered:?}");
    }
    conn.send(&alice_get(EXAMPLE_IMAGE_ID, "")).await;
    assert!(is_hit(conn.response().await.outcome()));

    let value = |name: &'static str| proxy.metric(name);
    assert_eq!(value(HIT_PATH_RESPONSES).await, 7.0);
    assert_eq!(value("imgcache_hit_path_exchanges_total").await, 4.0);
    assert_eq!(value("imgcache_hit_path_handoffs_total").await, 0.0);
}

/// A miss pipelined between hits, all sent at once: hyper gets only the
/// miss's bytes, the hits behind it stay the hit path's, and the answers
/// arrive whole and in order.
#[tokio::test]
async fn pipelined_requests_around_an_exchange() {
    let sample = start_sample().await;
    let proxy = TestProxy::new(&sample.url()).admin().start().await;
    assert_eq!(get_image(&proxy, EXAMPLE_IMAGE_ID).await.status, 200);
    let mut conn = Conn::open(proxy.addr).await;
    let mut all = alice_get(EXAMPLE_IMAGE_ID, "");
    all.extend(alice_get(SHARED_IMAGE_ID, ""));
    all.extend(alice_get(EXAMPLE_IMAGE_ID, ""));
    all.extend(alice_get(EXAMPLE_IMAGE_ID, ""));
    conn.send(&all).await;
    let mut seen = Vec::new();
    for _ in 0..4 {
        let wire = conn.response().await;
        assert_eq!(wire.status, 200);
        seen.push(wire.outcome());
    }
    assert!(is_hit(seen[0]), "{seen:?}");
    assert!(
        matches!(seen[1], Some(CacheOutcome::Fetched { stored: true, .. })),
        "{seen:?}"
    );
    assert!(is_hit(seen[2]) && is_hit(seen[3]), "{seen:?}");
    assert_eq!(proxy.metric(HIT_PATH_RESPONSES).await, 3.0);
}

/// After hyper has answered a request, a malformed head on the same
/// connection still gets the proxy's JSON 400 (not hyper's bare one), and
/// an HTTP/1.1 request without `Host` the JSON 400 too.
#[tokio::test]
async fn every_head_is_judged_after_an_exchange() {
    let sample = start_sample().await;
    let proxy = start_proxy(&sample.url()).await;
    for bad in [
        &b"GET /v2/images/a HTTP/1.1\r\nHost: x\r\nBad Name: y\r\n\r\n"[..],
        b"GET /v2/images/a HTTP/1.1\r\nX-Auth-Token: t\r\n\r\n",
    ] {
        let mut conn = Conn::open(proxy.addr).await;
        conn.send(&alice_get(EXAMPLE_IMAGE_ID, "Cache-Control: no-cache\r\n"))
            .await;
        assert_eq!(conn.response().await.status, 200);
        conn.send(bad).await;
        let refused = conn.response().await;
        assert_eq!(refused.status, 400);
        assert_eq!(refused.header("content-type"), "application/json");
        let body: serde_json::Value = serde_json::from_slice(&refused.body).expect("JSON");
        assert_eq!(body["error"]["code"], 400);
    }
}

/// HTTP/1.0 stays with hyper for good, and is still answered (a hit,
/// served through hyper).
#[tokio::test]
async fn http10_stays_with_hyper() {
    let sample = start_sample().await;
    let proxy = TestProxy::new(&sample.url()).admin().start().await;
    assert_eq!(get_image(&proxy, EXAMPLE_IMAGE_ID).await.status, 200);
    let mut conn = Conn::open(proxy.addr).await;
    conn.send(
        format!("GET /v2/images/{EXAMPLE_IMAGE_ID} HTTP/1.0\r\nX-Auth-Token: {TOKEN_A}\r\n\r\n")
            .as_bytes(),
    )
    .await;
    let wire = conn.response().await;
    assert!(is_hit(wire.outcome()), "{wire:?}");
    assert_eq!(proxy.metric("imgcache_hit_path_handoffs_total").await, 1.0);
}
