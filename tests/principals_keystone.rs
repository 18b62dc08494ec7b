//! Keystone failing — down, slow, erroring, refusing the service token —
//! is no answer: the request is served as without validation and keyed
//! on the raw token, counted `unavailable`; only a refusal of the token
//! itself makes it invalid (bypass).

mod common;

use std::time::Duration;

use common::keystone::{FakeKeystone, alice_token, closed_keystone_url, validations};
use common::*;
use http::StatusCode;
use imgcache::config::Share;

/// With `identity.service_token` set, a 401 from Keystone says the
/// service token was refused, not the user's token: no answer (the raw
/// token is keyed), never `invalid`.
#[tokio::test]
async fn a_refused_service_token_keys_the_raw_token() {
    let sample = start_sample().await;
    let keystone = FakeKeystone::requiring_service_token("svc-right").await;
    let proxy = TestProxy::new(&sample.url())
        .keystone(&keystone.url(), Share::User)
        .with_identity(|identity| identity.service_token = Some("svc-wrong".into()))
        .admin()
        .start()
        .await;
    let fill = get_image_as(&proxy, PRIVATE_IMAGE_ID, TOKEN_A).await;
    assert_eq!(fill.outcome(), STORED, "{fill:?}");
    let again = get_image_as(&proxy, PRIVATE_IMAGE_ID, TOKEN_A).await;
    assert!(is_hit(again.outcome()), "{again:?}");
    assert_eq!(validations(&proxy, "unavailable").await, 1.0);
    assert_eq!(validations(&proxy, "invalid").await, 0.0);
    assert_eq!(keystone.calls(), 1);
}

/// Keystone down (nothing listening): the request is answered by the
/// upstream as without validation — no error — counted `unavailable`,
/// and keyed on the raw token: the same token then hits, another token
/// of the same scope does not. Keystone is asked again after 5 s.
#[tokio::test]
async fn keystone_down_keys_the_raw_token() {
    let sample = start_sample().await;
    let keystone_url = closed_keystone_url().await;
    let proxy = TestProxy::new(&sample.url())
        .keystone(&keystone_url, Share::User)
        .admin()
        .start()
        .await;
    let first = get_image_as(&proxy, PRIVATE_IMAGE_ID, TOKEN_A).await;
    assert_eq!(first.status, 200, "{first:?}");
    assert_eq!(first.outcome(), STORED);
    assert_eq!(validations(&proxy, "unavailable").await, 1.0);
    let again = get_image_as(&proxy, PRIVATE_IMAGE_ID, TOKEN_A).await;
    assert!(is_hit(again.outcome()), "{again:?}");
    assert_eq!(
        validations(&proxy, "unavailable").await,
        1.0,
        "not retried yet"
    );
    let other = get_image_as(&proxy, PRIVATE_IMAGE_ID, &alice_token(1)).await;
    assert_eq!(other.outcome(), STORED, "{other:?}");
    assert_eq!(image_gets(&sample, PRIVATE_IMAGE_ID), 2);
    assert_eq!(validations(&proxy, "unavailable").await, 2.0, "a new token");
    proxy.proxy.clock().advance(Duration::from_secs(5));
    let later = get_image_as(&proxy, PRIVATE_IMAGE_ID, TOKEN_A).await;
    assert!(is_hit(later.outcome()), "{later:?}");
    assert_eq!(validations(&proxy, "unavailable").await, 3.0, "retried");
}

/// Keystone slower than `identity.timeout`: the request does not wait
/// for it — it completes (long before Keystone would answer) as without
/// validation, counted `unavailable`.
#[tokio::test]
async fn a_slow_keystone_falls_back_to_the_raw_token() {
    let sample = start_sample().await;
    let keystone = FakeKeystone::start().await;
    keystone.set_latency(Duration::from_secs(120));
    let proxy = TestProxy::new(&sample.url())
        .keystone(&keystone.url(), Share::User)
        .with_identity(|identity| identity.timeout = Duration::from_millis(200))
        .admin()
        .start()
        .await;
    let reply = tokio::time::timeout(
        Duration::from_secs(15),
        get_image_as(&proxy, PRIVATE_IMAGE_ID, TOKEN_A),
    )
    .await
    .expect("answered without waiting for Keystone");
    assert_eq!(reply.status, 200);
    assert_eq!(reply.outcome(), STORED);
    assert_eq!(validations(&proxy, "unavailable").await, 1.0);
    assert_eq!(keystone.calls(), 1);
}

/// Keystone's statuses: a 5xx is no answer (the raw token is keyed, the
/// request is served and cached as without validation); a 401 to a token
/// validating itself says the token is invalid (bypass).
#[tokio::test]
async fn keystone_errors_key_the_raw_token_and_refusals_bypass() {
    let sample = start_sample().await;
    let keystone = FakeKeystone::start().await;
    let proxy = TestProxy::new(&sample.url())
        .keystone(&keystone.url(), Share::User)
        .admin()
        .start()
        .await;
    keystone.set_status(Some(StatusCode::SERVICE_UNAVAILABLE));
    let down = alice_token(1);
    let fill = get_image_as(&proxy, PRIVATE_IMAGE_ID, &down).await;
    assert_eq!(fill.outcome(), STORED, "{fill:?}");
    let hit = get_image_as(&proxy, PRIVATE_IMAGE_ID, &down).await;
    assert!(is_hit(hit.outcome()), "{hit:?}");
    assert_eq!(validations(&proxy, "unavailable").await, 1.0);
    keystone.set_status(Some(StatusCode::UNAUTHORIZED));
    let refused = alice_token(2);
    for _ in 0..2 {
        let reply = get_image_as(&proxy, PRIVATE_IMAGE_ID, &refused).await;
        assert_eq!(reply.outcome(), BYPASS, "{reply:?}");
    }
    assert_eq!(validations(&proxy, "invalid").await, 1.0);
    assert_eq!(image_gets(&sample, PRIVATE_IMAGE_ID), 3);
}
