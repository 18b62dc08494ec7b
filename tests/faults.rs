//! Under faults: stale-if-error, stale-while-revalidate, the in-flight
//! cap, broken upstream responses and bad clients (the circuit breaker
//! and the rest of failure isolation: tests/isolation.rs).
//! Each case drives real sockets and checks status, Cache-Status, body
//! integrity and that nothing wrong is stored.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::gated::GatedUpstream;
use common::raw::{RawUpstream, Script, exchange};
use common::*;

/// A proxy whose entries go stale after 300 ms and are kept for an hour.
fn stale_proxy(upstream: &str) -> TestProxy {
    TestProxy::new(upstream).with(|config| {
        config.cache.ttl = Duration::from_millis(300);
        config.cache.stale_if_error = Duration::from_secs(3600);
        config.upstream.breaker_failures = 0;
    })
}

/// Lets an entry of `stale_proxy` go stale: the proxy's clock moves on.
fn let_it_go_stale(proxy: &ProxyHandle) {
    proxy.proxy.clock().advance(Duration::from_millis(400));
}

/// A stale entry is served when the refresh fails: with the upstream's
/// 5xx/429 status, or the proxy's 502 (connection dropped) and 504
/// (timeout), each in `fwd-status`, with an Age.
#[tokio::test]
async fn stale_if_error_covers_every_kind_of_failure() {
    let sample = start_sample().await;
    let proxy = stale_proxy(&sample.url())
        .with(|config| config.upstream.response_timeout = Duration::from_millis(500))
        .start()
        .await;
    let fresh = get_image(&proxy, EXAMPLE_IMAGE_ID).await;
    let cases = [
        (
            Fault::FailNext {
                remaining: 1,
                status: 503,
                retry_after: None,
            },
            503,
        ),
        (
            Fault::FailNext {
                remaining: 1,
                status: 500,
                retry_after: None,
            },
            500,
        ),
        (
            Fault::FailNext {
                remaining: 1,
                status: 429,
                retry_after: None,
            },
            429,
        ),
        (Fault::Down, 502),
        (Fault::StallBody, 504),
    ];
    for (fault, code) in cases {
        let_it_go_stale(&proxy);
        sample.control.set_fault(fault.clone());
        let reply = get_image(&proxy, EXAMPLE_IMAGE_ID).await;
        assert_eq!(reply.status, 200, "{fault:?}");
        assert_eq!(reply.body, fresh.body, "{fault:?}: the stale copy, whole");
        let stale = CacheOutcome::Stale {
            upstream_status: code,
        };
        assert_eq!(reply.outcome(), Some(stale), "{fault:?}");
        let age: u64 = reply.header("age").parse().expect("Age on a stale answer");
        assert!(age < 60, "{age}");
        sample.control.set_fault(Fault::None);
    }
    let_it_go_stale(&proxy);
    let refreshed = get_image(&proxy, EXAMPLE_IMAGE_ID).await;
    assert_eq!(refreshed.outcome(), STORED);
}

/// With nothing cached to fall back on, the proxy's own 502 and 504 on an
/// image read say so in `Cache-Status` (`detail=`), so a client tells
/// them from Glance's; an error Glance itself answers passes through as
/// an uncached miss. Nothing is stored either way.
#[tokio::test]
async fn the_proxys_own_errors_on_image_reads_carry_cache_status() {
    let sample = start_sample().await;
    let proxy = TestProxy::new(&sample.url())
        .with(|config| {
            config.upstream.response_timeout = Duration::from_millis(500);
            config.upstream.breaker_failures = 0;
        })
        .start()
        .await;
    let cases = [
        (
            Fault::Down,
            502,
            Some(CacheOutcome::Failed(Failure::UpstreamError)),
        ),
        (
            Fault::StallBody,
            504,
            Some(CacheOutcome::Failed(Failure::UpstreamTimeout)),
        ),
        (
            Fault::FailNext {
                remaining: 1,
                status: 503,
                retry_after: None,
            },
            503,
            URI_MISS,
        ),
    ];
    for (fault, code, outcome) in cases {
        sample.control.set_fault(fault.clone());
        let reply = get_image(&proxy, EXAMPLE_IMAGE_ID).await;
        assert_eq!(reply.status, code, "{fault:?}");
        assert_eq!(reply.outcome(), outcome, "{fault:?}");
        sample.control.set_fault(Fault::None);
    }
    assert_eq!(
        get_image(&proxy, EXAMPLE_IMAGE_ID).await.outcome(),
        STORED,
        "no error was stored"
    );
}

/// A 404 or 401 on refresh is never hidden behind the stale copy: it
/// passes through and the entry is dropped.
#[tokio::test]
async fn gone_images_are_not_served_stale() {
    let sample = start_sample().await;
    let proxy = stale_proxy(&sample.url()).start().await;
    get_image(&proxy, EXAMPLE_IMAGE_ID).await;
    let_it_go_stale(&proxy);
    let image = sample.control.image(EXAMPLE_IMAGE_ID).expect("image");
    assert!(sample.control.remove_image(EXAMPLE_IMAGE_ID));
    let gone = get_image(&proxy, EXAMPLE_IMAGE_ID).await;
    assert_eq!(gone.status, 404);
    sample.control.insert_image(image);
    sample.control.set_fault(Fault::FailNext {
        remaining: 1,
        status: 503,
        retry_after: None,
    });
    let after = get_image(&proxy, EXAMPLE_IMAGE_ID).await;
    assert_eq!(
        after.status, 503,
        "the entry was dropped: no stale copy left"
    );

    get_image(&proxy, EXAMPLE_IMAGE_ID).await;
    let_it_go_stale(&proxy);
    let anonymous_entry = get(
        &proxy.url(&image_path(EXAMPLE_IMAGE_ID)),
        &[("x-auth-token", "expired")],
    )
    .await;
    assert_eq!(
        anonymous_entry.status, 401,
        "a bad token is a 401, not a stale 200"
    );
}

/// Within stale-while-revalidate a stale entry is served at once (a hit
/// with a negative ttl) and one background request refreshes it, however
/// many requests arrive meanwhile.
#[tokio::test]
async fn stale_while_revalidate_refreshes_once_in_the_background() {
    let upstream = GatedUpstream::start(r#"{"id": "abc", "status": "active", "v": 1}"#).await;
    let proxy = Arc::new(
        stale_proxy(&upstream.url())
            .with(|config| config.cache.stale_while_revalidate = Duration::from_secs(30))
            .start()
            .await,
    );
    upstream.set_gate(true);
    get(&proxy.url("/v2/images/abc"), &[("x-auth-token", "t")]).await;
    upstream.set_gate(false);
    let_it_go_stale(&proxy);
    for _ in 0..20 {
        let reply = get(&proxy.url("/v2/images/abc"), &[("x-auth-token", "t")]).await;
        assert_eq!(reply.status, 200);
        assert!(
            matches!(reply.outcome(), Some(CacheOutcome::Hit { ttl }) if ttl < 0),
            "{:?}",
            reply.outcome()
        );
    }
    upstream.wait_for_gets(2).await;
    assert_eq!(
        upstream.gets(),
        2,
        "one background refresh for twenty stale hits"
    );
    upstream.set_gate(true);
    let url = proxy.url("/v2/images/abc");
    eventually("the background refresh landed", || async {
        let reply = get(&url, &[("x-auth-token", "t")]).await;
        match reply.outcome() {
            Some(CacheOutcome::Hit { ttl }) if ttl < 0 => false,
            outcome => {
                assert!(
                    matches!(outcome, Some(CacheOutcome::Hit { .. })),
                    "{reply:?}"
                );
                true
            }
        }
    })
    .await;
}

/// With upstream.max_in_flight full (a download holds the only place
/// while its body streams), a request waits up to the response timeout
/// for a place, then gets 503 with Retry-After, never reaching the
/// upstream.
#[tokio::test]
async fn in_flight_cap_answers_503_with_retry_after() {
    let upstream = RawUpstream::start(Script::ReplyThenStall(
        b"HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\nfirst bytes".to_vec(),
    ))
    .await;
    let proxy = TestProxy::new(&upstream.url())
        .with(|config| {
            config.upstream.max_in_flight = 1;
            config.upstream.response_timeout = Duration::from_millis(500);
        })
        .start()
        .await;
    let download = client()
        .get(proxy.url("/v2/images/a/file").parse().expect("uri"))
        .await
        .expect("download headers");
    assert_eq!(download.status(), 200);
    assert_eq!(proxy.proxy.upstream_in_flight(), 1);
    let queued = get(&proxy.url("/v2/images/b"), &[]).await;
    assert_eq!(queued.status, 503);
    assert_eq!(
        queued.outcome(),
        Some(CacheOutcome::Failed(Failure::HeldBack))
    );
    assert_eq!(queued.header("retry-after"), "1");
    assert_eq!(queued.json()["error"]["code"], 503);
    assert_eq!(
        upstream.heads().len(),
        1,
        "the queued request never reached the upstream"
    );
    drop(download);
    eventually("the place is given back when the download ends", || {
        std::future::ready(proxy.proxy.upstream_in_flight() == 0)
    })
    .await;
}

/// Broken upstream answers to image reads: a clear 502, or the bytes as
/// they came; never a truncated body presented as complete; nothing
/// stored.
#[tokio::test]
async fn broken_image_responses_are_502_and_not_stored() {
    let sample = start_sample().await;
    let proxy = TestProxy::new(&sample.url())
        .with(|config| {
            config.upstream.idle_timeout = Duration::from_millis(300);
            config.upstream.breaker_failures = 0;
        })
        .start()
        .await;
    for fault in [Fault::ResetMidBody, Fault::StallBody] {
        sample.control.set_fault(fault.clone());
        let reply = get_image(&proxy, EXAMPLE_IMAGE_ID).await;
        assert_eq!(reply.status, 502, "{fault:?}");
        assert_eq!(reply.json()["error"]["code"], 502);
    }
    sample.control.set_fault(Fault::Huge {
        bytes: 6 * 1024 * 1024,
    });
    let huge = get_image(&proxy, EXAMPLE_IMAGE_ID).await;
    assert_eq!(huge.status, 200);
    assert_eq!(huge.body.len(), 6 * 1024 * 1024, "the bytes as they came");
    assert_eq!(huge.outcome(), URI_MISS);
    sample.control.set_fault(Fault::None);
    assert_eq!(proxy.proxy.cache().store.entry_count(), 0);
    let good = get_image(&proxy, EXAMPLE_IMAGE_ID).await;
    assert_eq!(good.outcome(), STORED);
}

/// `Content-Length: None` (as Glance sends after a rejected upload) on an
/// image read: 502, nothing stored.
#[tokio::test]
async fn lying_content_length_on_an_image_read_is_502() {
    let upstream = RawUpstream::start(Script::Reply(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: None\r\n\r\n{\"id\": \"abc\", \"status\": \"active\"}".to_vec(),
    ))
    .await;
    let proxy = start_proxy(&upstream.url()).await;
    let reply = get(&proxy.url("/v2/images/abc"), &[]).await;
    assert_eq!(reply.status, 502);
    let short = RawUpstream::start(Script::Reply(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n{\"id\": \"abc\", \"status\": \"active\"}".to_vec(),
    ))
    .await;
    let proxy = start_proxy(&short.url()).await;
    assert_eq!(get(&proxy.url("/v2/images/abc"), &[]).await.status, 502);
    assert_eq!(proxy.proxy.cache().store.entry_count(), 0);
}

/// Slowloris: headers that never finish are cut off at the header read
/// timeout, and the proxy keeps serving others.
#[tokio::test]
async fn slowloris_is_cut_off() {
    let sample = start_sample().await;
    let proxy = TestProxy::new(&sample.url())
        .with(|config| config.server.header_read_timeout = Duration::from_millis(300))
        .start()
        .await;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut slow = tokio::net::TcpStream::connect(proxy.addr)
        .await
        .expect("connect");
    slow.write_all(b"GET /v2/images HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        .await
        .expect("write");
    let mut buf = Vec::new();
    let read = tokio::time::timeout(HANG_GUARD, slow.read_to_end(&mut buf)).await;
    assert!(read.is_ok(), "the connection was closed");
    assert_eq!(get_image(&proxy, EXAMPLE_IMAGE_ID).await.status, 200);
}

/// Content-Length together with Transfer-Encoding: chunked wins (RFC 9112
/// §6.1), the length is dropped, and the upstream gets one well-framed
/// chunked request: proxy and upstream can never disagree on where the
/// request ends.
#[tokio::test]
async fn both_framings_are_reframed_not_smuggled() {
    let upstream = RawUpstream::start(Script::Reply(
        b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n".to_vec(),
    ))
    .await;
    let proxy = start_proxy(&upstream.url()).await;
    let attempt = b"POST /v2/images HTTP/1.1\r\nHost: x\r\nContent-Length: 40\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n";
    let raw = exchange(proxy.addr, attempt, Duration::from_secs(2)).await;
    assert!(String::from_utf8_lossy(&raw).starts_with("HTTP/1.1 201"));
    let heads = upstream.heads();
    let head = heads[0].to_ascii_lowercase();
    assert!(!head.contains("content-length"), "{head}");
    assert!(
        head.contains("transfer-encoding: chunked") || head.contains("content-length: 3"),
        "{head}"
    );
}

/// Smuggling attempts and invalid bytes get a clear 400 (or a close) and
/// never reach the upstream; the proxy keeps serving.
#[tokio::test]
async fn smuggling_and_garbage_are_refused() {
    let sample = start_sample().await;
    let proxy = start_proxy(&sample.url()).await;
    let attempts: [&[u8]; 4] = [
        b"POST /v2/images HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\nabcde",
        b"GET /v2/images HTTP/1.1\r\nHost: x\r\nX-Bad: a\x00b\r\n\r\n",
        b"GET /v2/images HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked, x\r\n\r\n",
        b"GET /v2/images HTTP/9.9\r\nHost: x\r\n\r\n",
    ];
    for attempt in attempts {
        let raw = exchange(proxy.addr, attempt, Duration::from_secs(2)).await;
        let text = String::from_utf8_lossy(&raw);
        assert!(
            text.is_empty() || text.starts_with("HTTP/1.1 4"),
            "{:?} → {text}",
            String::from_utf8_lossy(attempt)
        );
        assert!(!text.contains("HTTP/1.1 200"), "{text}");
    }
    assert_eq!(
        sample.control.total_requests(),
        0,
        "nothing reached the upstream"
    );
    let long_path = format!("/v2/images/{}", "x".repeat(100_000));
    let raw = exchange(
        proxy.addr,
        format!("GET {long_path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes(),
        Duration::from_secs(2),
    )
    .await;
    assert!(
        String::from_utf8_lossy(&raw).starts_with("HTTP/1.1 4"),
        "absurd paths get a 4xx"
    );
    assert_eq!(get_image(&proxy, EXAMPLE_IMAGE_ID).await.status, 200);
}
