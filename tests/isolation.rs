//! Failure isolation: one caller's bad requests, one tenant's throttling
//! or one idle connection never degrade anyone else. The circuit breaker
//! opens only when the upstream fails for many callers; back-off is
//! scoped to the caller the upstream asked; a stale copy is never a way
//! around a refusal; readiness means "I can serve".

mod common;

use std::time::Duration;

use common::*;

/// A proxy whose breaker opens on 3 failures within 10 s (2 principals, 2 ids)
/// and cools down for 1 s.
fn breaker(upstream: &str) -> TestProxy {
    TestProxy::new(upstream).with(|config| {
        config.upstream.breaker_failures = 3;
        config.upstream.breaker_window = Duration::from_secs(10);
        config.upstream.breaker_min_principals = 2;
        config.upstream.breaker_cooldown = Duration::from_secs(1);
    })
}

/// The next `n` image reads of the sample answer `status` (with
/// `Retry-After` when given).
fn fail_next(sample: &glance_sample::SampleHandle, n: u32, status: u16, retry_after: Option<u32>) {
    sample.control.set_fault(Fault::FailNext {
        remaining: n,
        status,
        retry_after,
    });
}

/// Three 502s on fills of two principals and three images: the upstream
/// is failing for more than one caller.
async fn fail_for_many(proxy: &ProxyHandle, sample: &glance_sample::SampleHandle) {
    fail_next(sample, 3, 502, None);
    for (token, id) in [
        (TOKEN_A, EXAMPLE_IMAGE_ID),
        (TOKEN_B, PRIVATE_IMAGE_ID),
        (TOKEN_A, SHARED_IMAGE_ID),
    ] {
        assert_eq!(get_image_as(proxy, id, token).await.status, 502);
    }
}

/// Failures of image fills spread over callers and images open the
/// breaker: the next read of anyone gets a fast 503 with Retry-After and
/// never reaches the upstream; other paths are never held back.
#[tokio::test]
async fn breaker_opens_when_the_upstream_fails_for_many() {
    let sample = start_sample().await;
    let proxy = breaker(&sample.url()).start().await;
    fail_for_many(&proxy, &sample).await;
    let before = sample.control.total_requests();
    let held = get_image_as(&proxy, QUEUED_IMAGE_ID, TOKEN_ADMIN).await;
    assert_eq!(held.status, 503);
    assert_eq!(
        held.outcome(),
        Some(CacheOutcome::Failed(Failure::HeldBack))
    );
    let retry: u64 = held.header("retry-after").parse().expect("Retry-After");
    assert!(retry >= 1);
    assert!(
        held.json()["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("circuit breaker")
    );
    assert_eq!(
        sample.control.total_requests(),
        before,
        "held back, not sent"
    );
    let list = get(
        &proxy.url("/v2/images?limit=1"),
        &[("x-auth-token", TOKEN_A)],
    )
    .await;
    assert_eq!(list.status, 200, "only image fills are held back");
}

/// One caller's failures — any number, on any images, of every kind the
/// upstream can fail with — never open the breaker for the others.
#[tokio::test]
async fn one_caller_never_opens_the_breaker() {
    let sample = start_sample().await;
    let proxy = breaker(&sample.url()).start().await;
    fail_next(&sample, 20, 503, None);
    for id in [EXAMPLE_IMAGE_ID, PRIVATE_IMAGE_ID, SHARED_IMAGE_ID]
        .iter()
        .cycle()
        .take(20)
    {
        assert_eq!(get_image_as(&proxy, id, TOKEN_A).await.status, 503);
    }
    sample.control.set_fault(Fault::Down);
    for id in [EXAMPLE_IMAGE_ID, PRIVATE_IMAGE_ID] {
        assert_eq!(get_image_as(&proxy, id, TOKEN_A).await.status, 502);
    }
    sample.control.set_fault(Fault::None);
    let other = get_image_as(&proxy, EXAMPLE_IMAGE_ID, TOKEN_B).await;
    assert_eq!(other.status, 200, "{:?}", other.body);
    assert_eq!(other.outcome(), STORED);
}

/// Failures of many callers on one image never open it either: a broken
/// image record is that image's problem.
#[tokio::test]
async fn one_image_never_opens_the_breaker() {
    let sample = start_sample().await;
    let proxy = breaker(&sample.url()).start().await;
    fail_next(&sample, 6, 504, None);
    for token in [TOKEN_A, TOKEN_B, TOKEN_ADMIN, TOKEN_A, TOKEN_B, TOKEN_ADMIN] {
        assert_eq!(
            get_image_as(&proxy, EXAMPLE_IMAGE_ID, token).await.status,
            504
        );
    }
    assert_eq!(
        get_image_as(&proxy, PRIVATE_IMAGE_ID, TOKEN_A).await.status,
        200
    );
}

/// Forwarded requests never feed the breaker nor back anyone off:
/// lists and other paths answered 503 + Retry-After by the upstream,
/// however many and whoever sent them, leave image reads flowing.
#[tokio::test]
async fn forwarded_failures_never_open_the_breaker() {
    let upstream = common::raw::RawUpstream::start(common::raw::Script::Reply(
        b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 30\r\nContent-Length: 0\r\n\r\n"
            .to_vec(),
    ))
    .await;
    let proxy = breaker(&upstream.url()).start().await;
    let tokens = [TOKEN_A, TOKEN_B, TOKEN_ADMIN];
    for (n, token) in tokens.iter().cycle().take(12).enumerate() {
        for path in [format!("/v2/images?marker={n}"), format!("/v2/schemas/{n}")] {
            let reply = get(&proxy.url(&path), &[("x-auth-token", token)]).await;
            assert_eq!(reply.status, 503);
        }
    }
    assert_eq!(proxy.proxy.operator().breaker_state().as_str(), "closed");
    let sent = upstream.heads().len();
    get_image_as(&proxy, EXAMPLE_IMAGE_ID, TOKEN_A).await;
    assert_eq!(upstream.heads().len(), sent + 1, "the read was sent");
}

/// Open → half-open → closed: after the cool-down one probe goes through;
/// when it succeeds, reads flow again.
#[tokio::test]
async fn breaker_closes_after_a_successful_probe() {
    let sample = start_sample().await;
    let proxy = breaker(&sample.url()).start().await;
    fail_for_many(&proxy, &sample).await;
    assert_eq!(
        get_image_as(&proxy, EXAMPLE_IMAGE_ID, TOKEN_A).await.status,
        503
    );
    proxy.proxy.clock().advance(Duration::from_millis(1100));
    assert_eq!(
        get_image_as(&proxy, EXAMPLE_IMAGE_ID, TOKEN_A).await.status,
        200
    );
    assert_eq!(
        get_image_as(&proxy, PRIVATE_IMAGE_ID, TOKEN_A).await.status,
        200
    );
}

/// Half-open → open: a failed probe opens the breaker for another
/// cool-down; stale entries are served meanwhile, fresh misses get 503.
#[tokio::test]
async fn breaker_reopens_after_a_failed_probe_and_serves_stale() {
    let sample = start_sample().await;
    let proxy = breaker(&sample.url())
        .with(|config| config.cache.ttl = Duration::from_millis(100))
        .start()
        .await;
    let fresh = get_image_as(&proxy, EXAMPLE_IMAGE_ID, TOKEN_ADMIN).await;
    assert_eq!(fresh.status, 200);
    proxy.proxy.clock().advance(Duration::from_millis(150));
    fail_for_many(&proxy, &sample).await;
    let stale = get_image_as(&proxy, EXAMPLE_IMAGE_ID, TOKEN_ADMIN).await;
    assert_eq!(stale.status, 200);
    assert_eq!(stale.body, fresh.body);
    assert_eq!(
        stale.outcome(),
        Some(CacheOutcome::Stale {
            upstream_status: 503
        })
    );
    proxy.proxy.clock().advance(Duration::from_millis(1100));
    fail_next(&sample, 1, 502, None);
    let probe = get_image_as(&proxy, PRIVATE_IMAGE_ID, TOKEN_A).await;
    assert_eq!(
        probe.status, 502,
        "the probe reached the upstream and failed"
    );
    let before = sample.control.total_requests();
    assert_eq!(
        get_image_as(&proxy, PRIVATE_IMAGE_ID, TOKEN_A).await.status,
        503
    );
    assert_eq!(sample.control.total_requests(), before, "open again");
}

/// A real outage — the upstream's port closed — opens the breaker for a
/// caller alone (a refused connection says nothing about who asked), and
/// stale copies are served.
#[tokio::test]
async fn upstream_killed_opens_the_breaker_and_stale_is_served() {
    let sample = start_sample().await;
    let proxy = breaker(&sample.url())
        .with(|config| config.cache.ttl = Duration::from_millis(100))
        .start()
        .await;
    let fresh = get_image_as(&proxy, EXAMPLE_IMAGE_ID, TOKEN_A).await;
    proxy.proxy.clock().advance(Duration::from_millis(150));
    sample.shutdown().await;
    for id in [PRIVATE_IMAGE_ID, SHARED_IMAGE_ID, QUEUED_IMAGE_ID] {
        assert_eq!(get_image_as(&proxy, id, TOKEN_A).await.status, 502);
    }
    assert_eq!(proxy.proxy.operator().breaker_state().as_str(), "open");
    let stale = get_image_as(&proxy, EXAMPLE_IMAGE_ID, TOKEN_A).await;
    assert_eq!(stale.status, 200);
    assert_eq!(stale.body, fresh.body);
    assert_eq!(
        stale.outcome(),
        Some(CacheOutcome::Stale {
            upstream_status: 503
        })
    );
}

/// Every fill timing out for several callers opens the breaker too.
#[tokio::test]
async fn fills_timing_out_for_many_open_the_breaker() {
    let sample = start_sample().await;
    let proxy = breaker(&sample.url())
        .with(|config| config.upstream.response_timeout = Duration::from_millis(200))
        .start()
        .await;
    sample.control.set_latency(Duration::from_secs(5));
    for (token, id) in [
        (TOKEN_A, EXAMPLE_IMAGE_ID),
        (TOKEN_B, PRIVATE_IMAGE_ID),
        (TOKEN_ADMIN, SHARED_IMAGE_ID),
    ] {
        assert_eq!(get_image_as(&proxy, id, token).await.status, 504);
    }
    assert_eq!(proxy.proxy.operator().breaker_state().as_str(), "open");
    sample.control.set_latency(Duration::ZERO);
}

/// A 429 with Retry-After backs off the caller that received it: its
/// next miss is answered 429 with what is left of the wait and never
/// sent, or from a stale copy; another caller's fills go on.
#[tokio::test]
async fn retry_after_backs_off_only_the_caller_it_was_asked_of() {
    let sample = start_sample().await;
    let proxy = breaker(&sample.url())
        .with(|config| config.cache.ttl = Duration::from_millis(100))
        .start()
        .await;
    let fresh = get_image_as(&proxy, SHARED_IMAGE_ID, TOKEN_A).await;
    proxy.proxy.clock().advance(Duration::from_millis(150));
    fail_next(&sample, 1, 429, Some(7));
    let limited = get_image_as(&proxy, EXAMPLE_IMAGE_ID, TOKEN_A).await;
    assert_eq!(
        limited.status, 429,
        "the upstream's own answer passes through"
    );
    assert_eq!(
        limited.outcome(),
        URI_MISS,
        "the upstream's, not the proxy's"
    );
    let before = sample.control.total_requests();
    let held = get_image_as(&proxy, PRIVATE_IMAGE_ID, TOKEN_A).await;
    assert_eq!(held.status, 429);
    assert_eq!(
        held.outcome(),
        Some(CacheOutcome::Failed(Failure::Throttled))
    );
    let retry: u64 = held.header("retry-after").parse().expect("Retry-After");
    assert!((5..=7).contains(&retry), "{retry}");
    let stale = get_image_as(&proxy, SHARED_IMAGE_ID, TOKEN_A).await;
    assert_eq!(stale.status, 200);
    assert_eq!(stale.body, fresh.body);
    assert_eq!(
        stale.outcome(),
        Some(CacheOutcome::Stale {
            upstream_status: 429
        })
    );
    assert_eq!(sample.control.total_requests(), before, "alice waits");
    let other = get_image_as(&proxy, EXAMPLE_IMAGE_ID, TOKEN_B).await;
    assert_eq!(other.status, 200, "bob's fills go on");
    assert_eq!(sample.control.total_requests(), before + 1);
    assert_eq!(proxy.proxy.operator().breaker_state().as_str(), "closed");
    proxy.proxy.clock().advance(Duration::from_secs(8));
    assert_eq!(
        get_image_as(&proxy, PRIVATE_IMAGE_ID, TOKEN_A).await.status,
        200
    );
}

/// A Retry-After for several callers at once does not open the breaker:
/// one tenant over its quota with several credentials would look just
/// like that. Each is held back on its own; a caller not asked to wait
/// reads on.
#[tokio::test]
async fn retry_after_for_many_callers_never_opens_the_breaker() {
    let sample = start_sample().await;
    let proxy = breaker(&sample.url()).start().await;
    fail_next(&sample, 3, 503, Some(30));
    for (token, id) in [
        (TOKEN_A, EXAMPLE_IMAGE_ID),
        (TOKEN_B, PRIVATE_IMAGE_ID),
        ("carol:project-c:member", SHARED_IMAGE_ID),
    ] {
        assert_eq!(get_image_as(&proxy, id, token).await.status, 503);
    }
    assert_eq!(proxy.proxy.operator().breaker_state().as_str(), "closed");
    assert_eq!(
        get_image_as(&proxy, SHARED_IMAGE_ID, TOKEN_A).await.status,
        429
    );
    assert_eq!(
        get_image_as(&proxy, EXAMPLE_IMAGE_ID, TOKEN_ADMIN)
            .await
            .status,
        200
    );
}

/// A caller whose access was revoked outside the proxy cannot keep
/// reading a stale copy by making the upstream fail for himself: the
/// breaker stays closed, his read reaches the upstream, the upstream's
/// 404 is answered and the copy dropped.
#[tokio::test]
async fn a_revoked_caller_cannot_trip_his_way_to_a_stale_copy() {
    let sample = start_sample().await;
    let proxy = breaker(&sample.url())
        .with(|config| config.cache.ttl = Duration::from_millis(100))
        .start()
        .await;
    assert_eq!(
        get_image_as(&proxy, PRIVATE_IMAGE_ID, TOKEN_A).await.status,
        200
    );
    proxy.proxy.clock().advance(Duration::from_millis(150));
    // Revoked outside the proxy: the image is gone for alice.
    assert!(sample.control.remove_image(PRIVATE_IMAGE_ID));
    // His own failures: image reads the upstream fails, lists it
    // answers 500, requests it drops.
    fail_next(&sample, 10, 502, None);
    for id in [EXAMPLE_IMAGE_ID, SHARED_IMAGE_ID, QUEUED_IMAGE_ID]
        .iter()
        .cycle()
        .take(10)
    {
        get_image_as(&proxy, id, TOKEN_A).await;
    }
    for _ in 0..5 {
        get(&proxy.url("/v2/images/%ff"), &[]).await;
    }
    assert_eq!(proxy.proxy.operator().breaker_state().as_str(), "closed");
    let gone = get_image_as(&proxy, PRIVATE_IMAGE_ID, TOKEN_A).await;
    assert_eq!(gone.status, 404, "{:?}", gone.headers);
    assert_eq!(
        get_image_as(&proxy, PRIVATE_IMAGE_ID, TOKEN_A).await.status,
        404
    );
}

/// /readyz means "I can serve": 200 while the upstream is down and the
/// breaker open (serving stale is what the cache is for), 503 only while
/// draining; /healthz tells the breaker's state; both answer without
/// the admin token and to HEAD.
#[tokio::test]
async fn readiness_means_the_proxy_can_serve() {
    let sample = start_sample().await;
    let proxy = breaker(&sample.url())
        .admin_token("s3cret-admin")
        .start()
        .await;
    let admin = proxy.admin_url();
    assert_eq!(get(&format!("{admin}/readyz"), &[]).await.status, 200);
    fail_for_many(&proxy, &sample).await;
    assert_eq!(proxy.proxy.operator().breaker_state().as_str(), "open");
    let ready = get(&format!("{admin}/readyz"), &[]).await;
    assert_eq!(ready.status, 200, "{:?}", ready.body);
    let health = get(&format!("{admin}/healthz"), &[]).await;
    assert_eq!(health.status, 200);
    assert_eq!(health.json()["upstream"]["circuit_breaker"], "open");
    for probe in ["/healthz", "/readyz"] {
        let head = send(http::Method::HEAD, &format!("{admin}{probe}"), &[], b"").await;
        assert_eq!(head.status, 200, "HEAD {probe}");
        assert!(head.body.is_empty());
    }
    assert_eq!(
        get(&format!("{admin}/metrics"), &[]).await.status,
        401,
        "the token still guards the rest"
    );
    proxy.proxy.operator().start_draining();
    let draining = get(&format!("{admin}/readyz"), &[]).await;
    assert_eq!(draining.status, 503);
    assert!(
        draining.json()["reason"]
            .as_str()
            .unwrap_or("")
            .contains("draining")
    );
}

/// Before a listener accepts, the proxy is not ready.
#[tokio::test]
async fn readiness_waits_for_a_listener() {
    let sample = start_sample().await;
    let config = config_for(&sample.url());
    let proxy = imgcache::proxy::Proxy::new(&config).expect("proxy");
    let operator = proxy.operator();
    assert!(
        operator
            .readiness()
            .is_err_and(|reason| reason.contains("starting"))
    );
    let handle = start_proxy_over(config, proxy.clone(), None).await;
    eventually("a listener accepts", || {
        std::future::ready(operator.readiness().is_ok())
    })
    .await;
    assert_eq!(operator.readiness(), Ok(()));
    drop(handle);
}

/// A flood of new garbage tokens costs Keystone at most
/// `identity.max_concurrent_validations` calls at once: tokens seen while
/// they are busy bypass the cache (the upstream judges them) instead of
/// queueing, nobody gets a 504, and the same garbage again costs nothing
/// once Keystone has called it invalid.
#[tokio::test]
async fn token_validation_is_bounded() {
    use common::keystone::FakeKeystone;
    let sample = start_sample().await;
    let keystone = FakeKeystone::start().await;
    keystone.set_latency(Duration::from_millis(300));
    let proxy = TestProxy::new(&sample.url())
        .keystone(&keystone.url(), imgcache::config::Share::User)
        .with_identity(|identity| identity.max_concurrent_validations = 2)
        .admin()
        .start()
        .await;
    let flood: Vec<_> = (0..40)
        .map(|n| {
            let url = proxy.url(&image_path(EXAMPLE_IMAGE_ID));
            tokio::spawn(async move {
                let token = format!("garbage-{n}");
                get(&url, &[("x-auth-token", token.as_str())]).await.status
            })
        })
        .collect();
    let user = get_image_as(&proxy, EXAMPLE_IMAGE_ID, TOKEN_A).await;
    let mut statuses = Vec::new();
    for request in flood {
        statuses.push(request.await.expect("request"));
    }
    assert!(
        statuses.iter().all(|s| s.as_u16() == 401),
        "the upstream refused each garbage token itself: {statuses:?}"
    );
    assert_eq!(user.status, 200, "the real user is answered");
    let calls = keystone.calls();
    assert!(calls <= 3, "{calls} validations for 41 new tokens");
    let skipped = proxy
        .metric("imgcache_token_validations_skipped_total")
        .await;
    assert!(skipped >= 35.0, "{skipped}");
    // Once called invalid, the same garbage again costs no call.
    keystone.set_latency(Duration::ZERO);
    get_image_as(&proxy, EXAMPLE_IMAGE_ID, "garbage-again").await;
    let after = keystone.calls();
    for _ in 0..20 {
        assert_eq!(
            get_image_as(&proxy, EXAMPLE_IMAGE_ID, "garbage-again")
                .await
                .status,
            401
        );
    }
    assert_eq!(keystone.calls(), after, "remembered as invalid");
}

/// `GET /v2/images/%ff` (Glance's paste pipeline raises on the
/// undecodable id and uWSGI closes the socket), 5 and then 500 times
/// without credentials, while another tenant reads cached and uncached
/// images: the other tenant gets no error, the breaker stays closed and
/// /readyz stays 200.
#[tokio::test]
async fn undecodable_ids_from_one_client_hurt_nobody_else() {
    let sample = start_sample().await;
    let proxy = breaker(&sample.url()).admin().start().await;
    let admin = proxy.admin_url();
    assert_eq!(
        get_image_as(&proxy, EXAMPLE_IMAGE_ID, TOKEN_B).await.status,
        200
    );
    for attacks in [5, 500] {
        let url = proxy.url("/v2/images/%ff");
        let attacker = tokio::spawn(async move {
            for _ in 0..attacks {
                let reply = get(&url, &[]).await;
                assert_eq!(reply.status, 502, "the upstream dropped the connection");
            }
        });
        for n in 0..20 {
            // Cached, and uncached (a new identity each time: a fill).
            let cached = get_image_as(&proxy, EXAMPLE_IMAGE_ID, TOKEN_B).await;
            assert_eq!(cached.status, 200);
            let fresh_token = format!("bob{attacks}x{n}:project-b:member");
            let uncached = get_image_as(&proxy, EXAMPLE_IMAGE_ID, &fresh_token).await;
            assert_eq!(uncached.status, 200, "{:?}", uncached.body);
        }
        attacker.await.expect("attacker");
        assert_eq!(get(&format!("{admin}/readyz"), &[]).await.status, 200);
        assert_eq!(proxy.proxy.operator().breaker_state().as_str(), "closed");
    }
    assert!(
        sample.control.undecodable_drops() >= 505,
        "the attack reached Glance"
    );
}

/// The poisoned pool: after a request whose body uWSGI did not read (a
/// GET with a body, a POST to an unknown path) the upstream closes that
/// keep-alive connection, and the next request on it gets no answer.
/// One client looping such requests turns none of another client's
/// reads into errors: an idempotent request that finds its pooled
/// connection dead is retried once on a new one, and not counted as an
/// upstream failure.
#[tokio::test]
async fn a_poisoned_pool_is_not_the_next_clients_problem() {
    let sample = start_sample().await;
    let proxy = breaker(&sample.url()).admin().start().await;
    let (image, unknown) = (
        proxy.url(&image_path(EXAMPLE_IMAGE_ID)),
        proxy.url("/v2/no-such-thing"),
    );
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let attacking = stop.clone();
    let attacker = tokio::spawn(async move {
        while !attacking.load(std::sync::atomic::Ordering::Relaxed) {
            let token = [("x-auth-token", TOKEN_A)];
            send(http::Method::GET, &image, &token, b"{\"unread\": true}").await;
            send(http::Method::POST, &unknown, &token, b"{\"unread\": true}").await;
        }
    });
    let mut errors = Vec::new();
    for n in 0..150 {
        // A fill (new identity) and a forwarded bypass, in turn.
        let token = format!("carol{n}:project-b:member");
        let reply = if n % 2 == 0 {
            get_image_as(&proxy, EXAMPLE_IMAGE_ID, &token).await
        } else {
            get(
                &proxy.url(&image_path(EXAMPLE_IMAGE_ID)),
                &[("x-auth-token", &token), ("cache-control", "no-cache")],
            )
            .await
        };
        if reply.status != 200 {
            errors.push(reply.status);
        }
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    attacker.await.expect("attacker");
    assert!(errors.is_empty(), "{} errors: {errors:?}", errors.len());
    assert!(sample.control.poisoned_drops() > 0, "the pool was poisoned");
    let retried = proxy
        .metric("imgcache_upstream_retries_total{result=\"ok\"}")
        .await;
    assert!(retried > 0.0, "{retried}");
    assert_eq!(proxy.proxy.operator().breaker_state().as_str(), "closed");
}

/// An API gateway throttling one tenant (429 + Retry-After on its token
/// only): that tenant's misses are held back, the other's go on.
#[tokio::test]
async fn a_throttled_tenant_is_held_back_alone() {
    let sample = start_sample().await;
    let proxy = breaker(&sample.url()).start().await;
    sample.control.throttle(TOKEN_A, 429, 60);
    let throttled = get_image_as(&proxy, EXAMPLE_IMAGE_ID, TOKEN_A).await;
    assert_eq!(throttled.status, 429);
    let before = sample.control.total_requests();
    for id in [PRIVATE_IMAGE_ID, SHARED_IMAGE_ID] {
        let held = get_image_as(&proxy, id, TOKEN_A).await;
        assert_eq!(held.status, 429);
        assert!(
            held.header("retry-after")
                .parse::<u64>()
                .expect("Retry-After")
                > 50
        );
    }
    assert_eq!(
        sample.control.total_requests(),
        before,
        "held back, not sent"
    );
    for id in [EXAMPLE_IMAGE_ID, SHARED_IMAGE_ID] {
        assert_eq!(
            get_image_as(&proxy, id, TOKEN_B).await.status,
            200,
            "bob reads on"
        );
    }
    assert_eq!(proxy.proxy.operator().breaker_state().as_str(), "closed");
}
