//! The image-details cache over real sockets: hits, identity isolation,
//! what is (not) stored, coalescing, invalidation, bounds and headers.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::gated::GatedUpstream;
use common::raw::exchange;
use common::*;
use glance_sample::SampleService;
use http::Method;
use sha2::Digest;

fn etag_of(body: &[u8]) -> String {
    let digest = sha2::Sha256::digest(body);
    let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    format!("\"{hex}\"")
}

/// A miss, then a hit: one upstream request, the same body both times.
#[tokio::test]
async fn hit_after_miss_asks_the_upstream_once() {
    let sample = start_sample().await;
    let proxy = start_proxy(&sample.url()).await;
    let first = get_image(&proxy, EXAMPLE_IMAGE_ID).await;
    let second = get_image(&proxy, EXAMPLE_IMAGE_ID).await;
    assert_eq!(first.status, 200);
    assert_eq!(first.outcome(), STORED);
    assert!(is_hit(second.outcome()));
    assert_eq!(first.body, second.body);
    assert_eq!(first.header("content-type"), second.header("content-type"));
    assert_eq!(
        sample
            .control
            .requests("GET", &image_path(EXAMPLE_IMAGE_ID)),
        1
    );
}

/// A's cached private image is never served to B, to an anonymous caller,
/// or to a request differing only in X-Project-Id or X-Roles; each of
/// those is its own upstream request. Header-name case does not matter.
#[tokio::test]
async fn identity_isolation_matrix() {
    let sample = start_sample().await;
    let proxy = start_proxy(&sample.url()).await;
    let url = proxy.url(&image_path(PRIVATE_IMAGE_ID));
    let path = image_path(PRIVATE_IMAGE_ID);
    let a = get(&url, &[("x-auth-token", TOKEN_A)]).await;
    assert_eq!(a.status, 200);
    assert_eq!(a.json()["visibility"], "private");
    let again = get(&url, &[("X-AUTH-TOKEN", TOKEN_A)]).await;
    assert!(is_hit(again.outcome()), "same identity: a hit");
    assert_eq!(sample.control.requests("GET", &path), 1);

    let b = get(&url, &[("x-auth-token", TOKEN_B)]).await;
    assert_eq!(b.status, 404);
    assert_ne!(b.body, a.body);
    let anonymous = get(&url, &[]).await;
    assert_eq!(anonymous.status, 401);
    assert_eq!(sample.control.requests("GET", &path), 3);

    let variants: [&[(&str, &str)]; 4] = [
        &[("x-auth-token", TOKEN_A), ("x-project-id", "project-b")],
        &[("x-auth-token", TOKEN_A), ("x-roles", "admin")],
        &[("x-auth-token", TOKEN_A), ("x-user-id", "mallory")],
        &[("x-auth-token", TOKEN_A), ("cookie", "session=1")],
    ];
    for (n, headers) in variants.iter().enumerate() {
        let reply = get(&url, headers).await;
        assert!(
            !is_hit(reply.outcome()),
            "{headers:?} must not hit A's entry"
        );
        assert_eq!(sample.control.requests("GET", &path), 4 + n as u64);
    }
    // The trusted-header style identity (no token) is isolated the same way.
    let trusted_a = [
        ("x-identity-status", "Confirmed"),
        ("x-project-id", "project-a"),
    ];
    let trusted_b = [
        ("x-identity-status", "Confirmed"),
        ("x-project-id", "project-b"),
    ];
    assert_eq!(get(&url, &trusted_a).await.status, 200);
    assert_eq!(get(&url, &trusted_b).await.status, 404);
}

/// Error responses pass through byte for byte (status, type, body) and
/// are fetched again every time.
#[tokio::test]
async fn errors_pass_through_and_are_never_stored() {
    let sample = start_sample().await;
    let proxy = start_proxy(&sample.url()).await;
    let missing = "00000000-0000-0000-0000-000000000000";
    for accept in [Some("*/*"), Some("application/json"), None] {
        let mut headers = vec![("x-auth-token", TOKEN_A)];
        if let Some(accept) = accept {
            headers.push(("accept", accept));
        }
        let direct = get(
            &format!("{}{}", sample.url(), image_path(missing)),
            &headers,
        )
        .await;
        for _ in 0..2 {
            let proxied = get(&proxy.url(&image_path(missing)), &headers).await;
            assert_eq!(proxied.status, 404);
            assert_eq!(proxied.body, direct.body, "Accept {accept:?}");
            assert_eq!(
                proxied.header("content-type"),
                direct.header("content-type")
            );
            assert_eq!(proxied.outcome(), URI_MISS);
        }
    }
    assert_eq!(sample.control.requests("GET", &image_path(missing)), 9);
    sample.control.set_fault(Fault::FailNext {
        remaining: 2,
        status: 500,
        retry_after: None,
    });
    assert_eq!(get_image(&proxy, EXAMPLE_IMAGE_ID).await.status, 500);
    assert_eq!(get_image(&proxy, EXAMPLE_IMAGE_ID).await.status, 500);
    assert_eq!(get_image(&proxy, EXAMPLE_IMAGE_ID).await.status, 200);
}

/// A 200 that is not the requested image (another id, not JSON) passes
/// through as received and is not stored.
#[tokio::test]
async fn wrong_bodies_pass_through_unstored() {
    let sample = start_sample().await;
    let proxy = start_proxy(&sample.url()).await;
    for fault in [Fault::WrongId, Fault::InvalidJson] {
        sample.control.set_fault(fault.clone());
        let direct = get(
            &format!("{}{}", sample.url(), image_path(EXAMPLE_IMAGE_ID)),
            &[("x-auth-token", TOKEN_A)],
        )
        .await;
        let proxied = get_image(&proxy, EXAMPLE_IMAGE_ID).await;
        assert_eq!(proxied.status, 200, "{fault:?}");
        assert_eq!(proxied.body, direct.body, "{fault:?}");
        assert_eq!(proxied.outcome(), URI_MISS);
    }
    sample.control.set_fault(Fault::None);
    let good = get_image(&proxy, EXAMPLE_IMAGE_ID).await;
    assert_eq!(good.json()["id"], EXAMPLE_IMAGE_ID);
    assert_eq!(good.outcome(), STORED);
}

/// Images in transient statuses are not stored (transient_ttl = 0).
#[tokio::test]
async fn transient_statuses_are_not_stored() {
    let sample = start_sample().await;
    let proxy = start_proxy(&sample.url()).await;
    for _ in 0..2 {
        let reply = get(
            &proxy.url(&image_path(QUEUED_IMAGE_ID)),
            &[("x-auth-token", TOKEN_ADMIN)],
        )
        .await;
        assert_eq!(reply.status, 200);
        assert_eq!(reply.json()["status"], "queued");
        assert_eq!(reply.outcome(), URI_MISS);
    }
    assert_eq!(
        sample.control.requests("GET", &image_path(QUEUED_IMAGE_ID)),
        2
    );
    // An active image that turns killed is dropped at its next fill.
    sample
        .control
        .set_image_field(EXAMPLE_IMAGE_ID, "status", serde_json::json!("killed"));
    assert_eq!(
        get_image(&proxy, EXAMPLE_IMAGE_ID).await.outcome(),
        URI_MISS
    );
}

/// Past its TTL an entry is fetched again.
#[tokio::test]
async fn ttl_expiry_refetches() {
    let sample = start_sample().await;
    let proxy = TestProxy::new(&sample.url())
        .with(|config| {
            config.cache.ttl = Duration::from_secs(1);
            config.cache.stale_if_error = Duration::ZERO;
        })
        .start()
        .await;
    get_image(&proxy, EXAMPLE_IMAGE_ID).await;
    assert!(is_hit(get_image(&proxy, EXAMPLE_IMAGE_ID).await.outcome()));
    // The TTL runs out on the proxy's clock.
    proxy.proxy.clock().advance(Duration::from_millis(1100));
    let after = get_image(&proxy, EXAMPLE_IMAGE_ID).await;
    assert_eq!(after.outcome(), STORED);
    assert_eq!(
        sample
            .control
            .requests("GET", &image_path(EXAMPLE_IMAGE_ID)),
        2
    );
}

/// 200 concurrent cold requests for one image: one upstream request, 200
/// identical bodies, and the waiters are marked collapsed.
#[tokio::test]
async fn two_hundred_cold_requests_make_one_upstream_request() {
    let sample = start_sample().await;
    sample.control.set_latency(Duration::from_millis(200));
    let proxy = Arc::new(start_proxy(&sample.url()).await);
    let mut tasks = Vec::new();
    for _ in 0..200 {
        let proxy = proxy.clone();
        tasks.push(tokio::spawn(async move {
            get_image(&proxy, EXAMPLE_IMAGE_ID).await
        }));
    }
    let mut bodies = Vec::new();
    let mut collapsed = 0;
    for task in tasks {
        let reply = task.await.expect("task");
        assert_eq!(reply.status, 200);
        collapsed += usize::from(reply.outcome() == COLLAPSED);
        bodies.push(reply.body);
    }
    assert_eq!(
        sample
            .control
            .requests("GET", &image_path(EXAMPLE_IMAGE_ID)),
        1
    );
    assert!(bodies.iter().all(|b| *b == bodies[0]));
    assert!(
        collapsed > 0,
        "some requests waited on the first one's fill"
    );
}

/// Concurrent misses that get an error share it too (and it is not kept).
#[tokio::test]
async fn coalesced_errors_reach_every_waiter() {
    let upstream = GatedUpstream::start("not json at all").await;
    let proxy = Arc::new(start_proxy(&upstream.url()).await);
    let mut tasks = Vec::new();
    for _ in 0..20 {
        let proxy = proxy.clone();
        tasks.push(tokio::spawn(async move { get_image(&proxy, "abc").await }));
    }
    upstream.wait_for_gets(1).await;
    upstream.set_gate(true);
    for task in tasks {
        let reply = task.await.expect("task");
        assert_eq!(&reply.body[..], b"not json at all");
    }
    let fetched = upstream.gets();
    assert!(
        fetched < 20,
        "waiters shared fills ({fetched} upstream requests)"
    );
    get_image(&proxy, "abc").await;
    assert_eq!(upstream.gets(), fetched + 1, "nothing was stored");
}

/// The first waiter hangs up while its miss is being filled: the fill
/// goes on, the other waiter gets it, and it is stored.
#[tokio::test]
async fn a_disconnecting_first_waiter_does_not_break_the_fill() {
    let body = r#"{"id": "abc", "status": "active", "name": "x"}"#;
    let upstream = GatedUpstream::start(body).await;
    let proxy = Arc::new(start_proxy(&upstream.url()).await);
    let first = tokio::spawn({
        let addr = proxy.addr;
        async move {
            exchange(
                addr,
                b"GET /v2/images/abc HTTP/1.1\r\nHost: x\r\nX-Auth-Token: t\r\n\r\n",
                Duration::from_millis(50),
            )
            .await
        }
    });
    upstream.wait_for_gets(1).await;
    let _ = first.await; // the raw client has hung up
    let second = tokio::spawn({
        let proxy = proxy.clone();
        async move { get(&proxy.url("/v2/images/abc"), &[("x-auth-token", "t")]).await }
    });
    // The follower joins while the gate is still closed; then the fill
    // ends.
    let flights = &proxy.proxy.cache().flights;
    eventually("the second request follows the fill", || {
        std::future::ready(flights.followed() == 1)
    })
    .await;
    upstream.set_gate(true);
    let second = second.await.expect("task");
    assert_eq!(second.status, 200);
    assert_eq!(second.outcome(), COLLAPSED);
    let third = get(&proxy.url("/v2/images/abc"), &[("x-auth-token", "t")]).await;
    assert!(is_hit(third.outcome()));
    assert_eq!(upstream.gets(), 1);
}

/// A fill that began before a PATCH and answers after it is not stored:
/// the next GET sees the new body.
#[tokio::test]
async fn a_fill_overtaken_by_a_write_is_not_stored() {
    let upstream = GatedUpstream::start(r#"{"id": "abc", "status": "active", "v": 1}"#).await;
    let proxy = Arc::new(start_proxy(&upstream.url()).await);
    let slow = tokio::spawn({
        let proxy = proxy.clone();
        async move { get(&proxy.url("/v2/images/abc"), &[("x-auth-token", "t")]).await }
    });
    upstream.wait_for_gets(1).await;
    let patch = send(
        Method::PATCH,
        &proxy.url("/v2/images/abc"),
        &[
            ("x-auth-token", "t"),
            (
                "content-type",
                "application/openstack-images-v2.1-json-patch",
            ),
        ],
        br#"{"id": "abc", "status": "active", "v": 2}"#,
    )
    .await;
    assert_eq!(patch.status, 200);
    upstream.set_gate(true);
    let slow = slow.await.expect("task");
    assert_eq!(slow.json()["v"], 1, "the read began before the write");
    assert_eq!(slow.outcome(), URI_MISS);
    let after = get(&proxy.url("/v2/images/abc"), &[("x-auth-token", "t")]).await;
    assert_eq!(after.json()["v"], 2);
    assert_eq!(upstream.gets(), 2);
}

/// Writes of every kind drop the image's entries for all identities.
#[tokio::test]
async fn writes_invalidate_for_all_identities() {
    let sample = start_sample().await;
    let proxy = start_proxy(&sample.url()).await;
    let path = image_path(EXAMPLE_IMAGE_ID);
    let url = proxy.url(&path);
    let writes: [(Method, String, &[u8], &str); 4] = [
        (
            Method::PATCH,
            path.clone(),
            br#"[{"op": "add", "path": "/__x", "value": "1"}]"#,
            "application/openstack-images-v2.1-json-patch",
        ),
        (
            Method::PUT,
            format!("{path}/tags/new-tag"),
            b"",
            "application/json",
        ),
        (
            Method::DELETE,
            format!("{path}/tags/new-tag"),
            b"",
            "application/json",
        ),
        (
            Method::POST,
            format!("{path}/actions/deactivate"),
            b"",
            "application/json",
        ),
    ];
    for (method, write_path, body, content_type) in writes {
        for token in [TOKEN_A, TOKEN_B] {
            get(&url, &[("x-auth-token", token)]).await;
            let hit = get(&url, &[("x-auth-token", token)]).await;
            assert!(is_hit(hit.outcome()));
        }
        let before = sample.control.requests("GET", &path);
        let headers = [
            ("x-auth-token", TOKEN_ADMIN),
            ("content-type", content_type),
        ];
        let reply = send(method.clone(), &proxy.url(&write_path), &headers, body).await;
        assert!(
            reply.status.is_success(),
            "{method} {write_path}: {}",
            reply.status
        );
        for token in [TOKEN_A, TOKEN_B] {
            let after = get(&url, &[("x-auth-token", token)]).await;
            assert!(
                !is_hit(after.outcome()),
                "{method} {write_path} invalidates"
            );
        }
        assert_eq!(sample.control.requests("GET", &path), before + 2);
    }
    // The PATCH's effect is visible at once through the proxy.
    assert_eq!(
        get(&url, &[("x-auth-token", TOKEN_A)]).await.json()["__x"],
        "1"
    );
}

/// A GET right after a PATCH through the proxy always sees the new body,
/// also with concurrent readers of the same image.
#[tokio::test]
async fn read_after_write_under_concurrent_readers() {
    let sample = start_sample().await;
    let proxy = Arc::new(start_proxy(&sample.url()).await);
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut readers = Vec::new();
    for _ in 0..4 {
        let (proxy, stop) = (proxy.clone(), stop.clone());
        readers.push(tokio::spawn(async move {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                get_image(&proxy, EXAMPLE_IMAGE_ID).await;
            }
        }));
    }
    for n in 0..30 {
        let value = format!("v{n}");
        let patch =
            format!(r#"[{{"op": "replace", "path": "/__os_version", "value": "{value}"}}]"#);
        let headers = [
            ("x-auth-token", TOKEN_ADMIN),
            (
                "content-type",
                "application/openstack-images-v2.1-json-patch",
            ),
        ];
        let reply = send(
            Method::PATCH,
            &proxy.url(&image_path(EXAMPLE_IMAGE_ID)),
            &headers,
            patch.as_bytes(),
        )
        .await;
        assert_eq!(reply.status, 200);
        let read = get_image(&proxy, EXAMPLE_IMAGE_ID).await;
        assert_eq!(read.json()["__os_version"], value.as_str(), "round {n}");
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for reader in readers {
        reader.await.expect("reader");
    }
}

/// Requests that ask to bypass the cache are forwarded, marked, and not
/// stored; they do not read the cache either.
#[tokio::test]
async fn bypass_requests_are_not_looked_up_or_stored() {
    let sample = start_sample().await;
    let proxy = start_proxy(&sample.url()).await;
    let url = proxy.url(&image_path(EXAMPLE_IMAGE_ID));
    let bypasses: [&[(&str, &str)]; 3] = [
        &[("x-auth-token", TOKEN_A), ("cache-control", "no-cache")],
        &[("x-auth-token", TOKEN_A), ("pragma", "no-cache")],
        &[
            ("x-auth-token", TOKEN_A),
            (
                "authorization",
                "SDK-HMAC-SHA256 Access=k, SignedHeaders=host, Signature=s",
            ),
        ],
    ];
    for headers in bypasses {
        let reply = get(&url, headers).await;
        assert_eq!(reply.outcome(), BYPASS, "{headers:?}");
    }
    assert_eq!(get_image(&proxy, EXAMPLE_IMAGE_ID).await.outcome(), STORED);
    let no_cache = get(&url, bypasses[0]).await;
    assert_eq!(
        no_cache.outcome(),
        BYPASS,
        "a stored entry is not used either"
    );
    assert_eq!(
        sample
            .control
            .requests("GET", &image_path(EXAMPLE_IMAGE_ID)),
        5
    );
}

/// Cache-Status, Age, ETag, If-None-Match → 304 (also on the miss that
/// stores), and x-openstack-request-id on hits. `Cache-Status` is checked
/// as text here: its wire format is a contract with clients (other tests
/// read it back as a `CacheOutcome`).
#[tokio::test]
async fn response_headers_on_the_cache_path() {
    let sample = start_sample().await;
    let proxy = start_proxy(&sample.url()).await;
    let url = proxy.url(&image_path(EXAMPLE_IMAGE_ID));
    let direct = get(
        &format!("{}{}", sample.url(), image_path(EXAMPLE_IMAGE_ID)),
        &[("x-auth-token", TOKEN_A)],
    )
    .await;
    let etag = etag_of(&direct.body);

    let miss = get(&url, &[("x-auth-token", TOKEN_A), ("if-none-match", &etag)]).await;
    assert_eq!(miss.status, 304, "a stored miss answers If-None-Match");
    assert!(miss.body.is_empty());
    assert_eq!(miss.header("etag"), etag);
    assert_eq!(miss.header("cache-status"), "imgcache; fwd=miss; stored");

    let hit = get(&url, &[("x-auth-token", TOKEN_A)]).await;
    assert_eq!(hit.status, 200);
    assert_eq!(hit.body, direct.body);
    assert_eq!(hit.header("etag"), etag);
    assert_eq!(hit.header("age"), "0");
    assert_eq!(hit.header("content-length"), direct.body.len().to_string());
    let ttl: i64 = hit
        .header("cache-status")
        .trim_start_matches("imgcache; hit; ttl=")
        .parse()
        .expect("ttl");
    assert!((295..=300).contains(&ttl), "{ttl}");
    let id = hit.header("x-openstack-request-id");
    assert!(id.starts_with("req-") && id.len() == 40, "{id}");
    let another = get(&url, &[("x-auth-token", TOKEN_A)]).await;
    assert_ne!(
        another.header("x-openstack-request-id"),
        id,
        "fresh per hit"
    );
    let own = get(
        &url,
        &[
            ("x-auth-token", TOKEN_A),
            ("x-openstack-request-id", "req-mine"),
        ],
    )
    .await;
    assert_eq!(own.header("x-openstack-request-id"), "req-mine");

    let not_modified = get(
        &url,
        &[
            ("x-auth-token", TOKEN_A),
            ("if-none-match", &format!("\"x\", {etag}")),
        ],
    )
    .await;
    assert_eq!(not_modified.status, 304);
    assert!(
        not_modified
            .header("cache-status")
            .starts_with("imgcache; hit")
    );
    let modified = get(
        &url,
        &[("x-auth-token", TOKEN_A), ("if-none-match", "\"other\"")],
    )
    .await;
    assert_eq!(modified.status, 200);
    // One direct request above, one fill through the proxy.
    assert_eq!(
        sample
            .control
            .requests("GET", &image_path(EXAMPLE_IMAGE_ID)),
        2
    );
}

/// A flood of distinct images never holds more than cache.max_bytes.
#[tokio::test]
async fn max_bytes_bounds_the_cache() {
    let sample = SampleService::with_generated(3000)
        .start()
        .await
        .expect("sample");
    let proxy = Arc::new(
        TestProxy::new(&sample.url())
            .with(|config| config.cache_max_bytes = 256 * 1024)
            .start()
            .await,
    );
    let mut tasks = Vec::new();
    for worker in 0..8 {
        let proxy = proxy.clone();
        tasks.push(tokio::spawn(async move {
            for i in (worker..3000).step_by(8) {
                let reply = get_image(&proxy, &glance_sample::generated_id(i)).await;
                assert_eq!(reply.status, 200);
            }
        }));
    }
    for task in tasks {
        task.await.expect("task");
    }
    let store = &proxy.proxy.cache().store;
    store.settle().await;
    assert!(
        store.weighted_bytes() <= 256 * 1024,
        "{} bytes held",
        store.weighted_bytes()
    );
    assert!(
        store.entry_count() < 3000,
        "{} entries",
        store.entry_count()
    );
    assert!(store.entry_count() > 50, "{} entries", store.entry_count());
}
