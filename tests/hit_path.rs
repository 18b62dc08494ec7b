//! The hit path (fresh hits written from prepared bytes before hyper sees
//! the connection) over raw sockets: it answers exactly as the full path
//! would, hands a connection to hyper mid-stream without losing a byte,
//! keeps identities apart, and honours the header read timeout and drain.

mod common;

use std::time::Duration;

use common::wire::{Conn, alice_get};
use common::*;

/// A hit on the hit path carries what a hit through hyper carries (same
/// headers, body and ETag), pipelined requests are answered in order, and
/// the hit path's counter shows it answered them.
#[tokio::test]
async fn hits_match_the_full_path() {
    let sample = start_sample().await;
    let proxy = TestProxy::new(&sample.url()).admin().start().await;
    assert_eq!(get_image(&proxy, EXAMPLE_IMAGE_ID).await.status, 200);

    let mut conn = Conn::open(proxy.addr).await;
    // python-requests (glanceclient, openstacksdk) sends `Connection:
    // keep-alive`: still the hit path's.
    let mut two = alice_get(
        EXAMPLE_IMAGE_ID,
        "X-Openstack-Request-Id: req-mine\r\nConnection: keep-alive\r\n",
    );
    two.extend(alice_get(EXAMPLE_IMAGE_ID, ""));
    conn.send(&two).await;
    let first = conn.response().await;
    let second = conn.response().await;
    // A `Connection` header naming another header sends the request to
    // hyper: its hit is the reference.
    let mut reference = Conn::open(proxy.addr).await;
    reference
        .send(&alice_get(
            EXAMPLE_IMAGE_ID,
            "Connection: keep-alive, X-Unused\r\n",
        ))
        .await;
    let reference = reference.response().await;

    for wire in [&first, &second, &reference] {
        assert_eq!(wire.status, 200);
        assert!(is_hit(wire.outcome()), "{wire:?}");
        assert_eq!(wire.body, reference.body);
        assert_eq!(wire.header("etag"), reference.header("etag"));
        assert_eq!(
            wire.header("content-type"),
            reference.header("content-type")
        );
        assert_eq!(wire.stable_names(), reference.stable_names());
        assert!(httpdate::parse_http_date(wire.header("date")).is_ok());
        assert!(wire.header("age").parse::<u64>().is_ok());
    }
    assert_eq!(first.header("x-openstack-request-id"), "req-mine");
    let fresh = second.header("x-openstack-request-id");
    assert!(fresh.starts_with("req-") && fresh.len() == 40, "{fresh}");
    assert_eq!(proxy.metric(HIT_PATH_RESPONSES).await, 2.0);
    // The fill and the reference: hyper answered them, and the
    // connections came back (nothing was handed over for good).
    assert_eq!(proxy.metric("imgcache_hit_path_exchanges_total").await, 2.0);
    assert_eq!(proxy.metric("imgcache_hit_path_handoffs_total").await, 0.0);
    let hits = "imgcache_requests_total{route=\"image_read\",cache=\"hit\"}";
    assert_eq!(proxy.metric(hits).await, 3.0);
}

/// A miss in the middle of a connection hands it to hyper with the bytes
/// already read: every request on it is answered, in order, and the
/// upstream is asked once.
#[tokio::test]
async fn a_miss_hands_the_connection_to_hyper() {
    let sample = start_sample().await;
    let proxy = start_proxy(&sample.url()).await;
    assert_eq!(get_image(&proxy, EXAMPLE_IMAGE_ID).await.status, 200);
    let before = sample.control.total_requests();

    let mut conn = Conn::open(proxy.addr).await;
    conn.send(&alice_get(EXAMPLE_IMAGE_ID, "")).await;
    assert!(is_hit(conn.response().await.outcome()));
    // A miss pipelined with a hit behind it: both must come back.
    let mut pair = alice_get(SHARED_IMAGE_ID, "");
    pair.extend(alice_get(EXAMPLE_IMAGE_ID, ""));
    conn.send(&pair).await;
    let miss = conn.response().await;
    assert_eq!(miss.status, 200);
    assert!(
        matches!(
            miss.outcome(),
            Some(CacheOutcome::Fetched { stored: true, .. })
        ),
        "{miss:?}"
    );
    assert!(String::from_utf8_lossy(&miss.body).contains(SHARED_IMAGE_ID));
    let hit = conn.response().await;
    assert!(is_hit(hit.outcome()), "{hit:?}");
    assert!(String::from_utf8_lossy(&hit.body).contains(EXAMPLE_IMAGE_ID));
    assert_eq!(sample.control.total_requests() - before, 1);
}

/// A head that arrives in pieces is answered once whole.
#[tokio::test]
async fn heads_in_pieces() {
    let sample = start_sample().await;
    let proxy = start_proxy(&sample.url()).await;
    assert_eq!(get_image(&proxy, EXAMPLE_IMAGE_ID).await.status, 200);
    let request = alice_get(EXAMPLE_IMAGE_ID, "");
    let mut conn = Conn::open(proxy.addr).await;
    for piece in request.chunks(7) {
        conn.send(piece).await;
        // The behaviour under test, not an ordering: a pause between
        // writes makes each piece its own segment (nodelay or not), so
        // the hit path reads the head in pieces.
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let wire = conn.response().await;
    assert_eq!(wire.status, 200);
    assert!(is_hit(wire.outcome()), "{wire:?}");
}

/// Entries stay with their identity on the hit path: the owner's cached
/// private image is not served to another project, and header-name case
/// does not make a new identity.
#[tokio::test]
async fn identities_stay_apart() {
    let sample = start_sample().await;
    let proxy = start_proxy(&sample.url()).await;
    assert_eq!(get_image(&proxy, PRIVATE_IMAGE_ID).await.status, 200);

    let mut conn = Conn::open(proxy.addr).await;
    conn.send(
        format!("GET /v2/images/{PRIVATE_IMAGE_ID} HTTP/1.1\r\nHost: x\r\nx-auth-token: {TOKEN_B}\r\n\r\n")
            .as_bytes(),
    )
    .await;
    let other = conn.response().await;
    assert_eq!(other.status, 404, "{other:?}");
    assert!(!String::from_utf8_lossy(&other.body).contains("\"owner\""));

    let mut conn = Conn::open(proxy.addr).await;
    conn.send(
        format!("GET /v2/images/{PRIVATE_IMAGE_ID} HTTP/1.1\r\nHost: x\r\nX-AUTH-TOKEN: {TOKEN_A}\r\n\r\n")
            .as_bytes(),
    )
    .await;
    let owner = conn.response().await;
    assert_eq!(owner.status, 200);
    assert!(is_hit(owner.outcome()), "{owner:?}");
}

/// Request cache controls and validators are the full path's: a bypass
/// is forwarded, a matching If-None-Match gets a 304.
#[tokio::test]
async fn bypass_and_validators_take_the_full_path() {
    let sample = start_sample().await;
    let proxy = start_proxy(&sample.url()).await;
    let stored = get_image(&proxy, EXAMPLE_IMAGE_ID).await;
    let etag = stored.header("etag").to_owned();

    let mut conn = Conn::open(proxy.addr).await;
    conn.send(&alice_get(EXAMPLE_IMAGE_ID, "Cache-Control: no-cache\r\n"))
        .await;
    let bypass = conn.response().await;
    assert_eq!(bypass.outcome(), BYPASS);

    let mut conn = Conn::open(proxy.addr).await;
    conn.send(&alice_get(
        EXAMPLE_IMAGE_ID,
        &format!("If-None-Match: {etag}\r\n"),
    ))
    .await;
    let not_modified = conn.response().await;
    assert_eq!(not_modified.status, 304, "{not_modified:?}");
}

/// An idle connection is closed at the header read timeout, as hyper
/// closes its own.
#[tokio::test]
async fn idle_connections_time_out() {
    let sample = start_sample().await;
    let proxy = TestProxy::new(&sample.url())
        .with(|config| config.server.header_read_timeout = Duration::from_millis(300))
        .start()
        .await;
    assert_eq!(get_image(&proxy, EXAMPLE_IMAGE_ID).await.status, 200);
    let mut conn = Conn::open(proxy.addr).await;
    conn.send(&alice_get(EXAMPLE_IMAGE_ID, "")).await;
    assert_eq!(conn.response().await.status, 200);
    assert!(conn.closed().await, "the idle connection stayed open");
}

/// On shutdown an idle hit-path connection is closed and the drain does
/// not wait for it; the proxy stops.
#[tokio::test]
async fn drain_closes_idle_connections() {
    let sample = start_sample().await;
    let proxy = TestProxy::new(&sample.url())
        .with(|config| config.server.shutdown_grace = Duration::from_secs(60))
        .start()
        .await;
    assert_eq!(get_image(&proxy, EXAMPLE_IMAGE_ID).await.status, 200);
    let mut conn = Conn::open(proxy.addr).await;
    conn.send(&alice_get(EXAMPLE_IMAGE_ID, "")).await;
    assert_eq!(conn.response().await.status, 200);
    let stopped = tokio::time::timeout(HANG_GUARD, proxy.shutdown()).await;
    assert!(stopped.is_ok(), "the drain waited for an idle connection");
    assert!(conn.closed().await);
}

/// Many pipelined hits sent before any answer is read: the responses
/// outgrow the socket buffers, writes go out in parts, and every response
/// arrives whole and in order.
#[tokio::test]
async fn pipelined_flood_arrives_whole_and_in_order() {
    let sample = start_sample().await;
    let proxy = start_proxy(&sample.url()).await;
    let reference = get_image(&proxy, EXAMPLE_IMAGE_ID).await;
    // ~44 KB of requests (they fit the socket buffers while no answer
    // is read), ~0.5 MB of responses (they do not).
    const COUNT: usize = 400;
    let mut requests = Vec::new();
    for n in 0..COUNT {
        let id = format!("X-Openstack-Request-Id: req-{n}\r\n");
        requests.extend(alice_get(EXAMPLE_IMAGE_ID, &id));
    }
    let mut conn = Conn::open(proxy.addr).await;
    conn.send(&requests).await;
    for n in 0..COUNT {
        let wire = conn.response().await;
        assert_eq!(wire.status, 200);
        assert_eq!(wire.header("x-openstack-request-id"), format!("req-{n}"));
        assert_eq!(wire.body, reference.body);
    }
}

/// A request that completes after the drain began, on a connection the
/// hit path then hands to hyper (a miss), is still answered, and the
/// connection closes after it.
#[tokio::test]
async fn a_request_handed_off_during_the_drain_is_answered() {
    let sample = start_sample().await;
    // One connection allowed: a second one refused says the first was
    // accepted.
    let proxy = TestProxy::new(&sample.url())
        .with(|config| {
            config.server.shutdown_grace = Duration::from_secs(60);
            config.server.max_connections = 1;
        })
        .start()
        .await;
    let addr = proxy.addr;
    let request = alice_get(EXAMPLE_IMAGE_ID, "");
    let (start, rest) = request.split_at(12);
    let mut conn = Conn::open(addr).await;
    conn.send(start).await;
    // The order under test, each step waited for: the connection is
    // accepted, then the drain begins, then the head is completed.
    let mut second = Conn::open(addr).await;
    assert!(
        second.closed().await,
        "the first connection holds the place"
    );
    let drained = tokio::spawn(proxy.shutdown());
    eventually("the drain closes the listener", || async move {
        tokio::net::TcpStream::connect(addr).await.is_err()
    })
    .await;
    conn.send(rest).await;
    let wire = conn.response().await;
    assert_eq!(wire.status, 200, "{wire:?}");
    assert!(
        matches!(
            wire.outcome(),
            Some(CacheOutcome::Fetched { stored: true, .. })
        ),
        "{wire:?}"
    );
    assert!(conn.closed().await);
    let drained = tokio::time::timeout(HANG_GUARD, drained).await;
    assert!(matches!(drained, Ok(Ok(()))), "the drain did not finish");
}

/// `Connection: close` (one-shot clients, Tempest) does not send a fresh
/// hit to hyper: it is answered on the hit path with `connection: close`,
/// and the connection closes after it; a miss with it is hyper's for that
/// one request (an exchange, not a hand-off), and the connection closes
/// after its answer too, whatever the client sent after it.
#[tokio::test]
async fn connection_close_hits_stay_on_the_hit_path() {
    let sample = start_sample().await;
    let proxy = TestProxy::new(&sample.url()).admin().start().await;
    let mut miss = Conn::open(proxy.addr).await;
    let mut request = alice_get(EXAMPLE_IMAGE_ID, "Connection: close\r\n");
    request.extend(alice_get(EXAMPLE_IMAGE_ID, ""));
    miss.send(&request).await;
    let first = miss.response().await;
    assert_eq!(first.outcome(), STORED);
    assert!(miss.closed().await, "closed after Connection: close");
    // The miss was hyper's for one exchange (its admission's verdict went
    // along), not the connection's for good.
    assert_eq!(proxy.metric("imgcache_hit_path_exchanges_total").await, 1.0);
    assert_eq!(proxy.metric("imgcache_hit_path_handoffs_total").await, 0.0);
    let before = proxy.metric(HIT_PATH_RESPONSES).await;
    let mut hit = Conn::open(proxy.addr).await;
    let mut request = alice_get(EXAMPLE_IMAGE_ID, "Connection: close\r\n");
    // Bytes after a request that closes are not answered.
    request.extend(alice_get(EXAMPLE_IMAGE_ID, ""));
    hit.send(&request).await;
    let answer = hit.response().await;
    assert!(is_hit(answer.outcome()));
    assert_eq!(answer.header("connection"), "close");
    assert_eq!(answer.body, first.body);
    assert!(hit.closed().await, "closed after the answer");
    let after = proxy.metric(HIT_PATH_RESPONSES).await;
    assert_eq!(after, before + 1.0, "answered on the hit path");
}
