//! Keystone tokens keyed on the scope Keystone says they have (user,
//! project, roles; or project and roles with `share = "project"`), and
//! what Keystone calls invalid, revoked or expired never answered from
//! the cache.

mod common;

use std::time::Duration;

use common::keystone::{FakeKeystone, alice_token, validations};
use common::proxy::VALIDATION_TTL;
use common::*;
use imgcache::config::Share;

/// Twenty different tokens Keystone says are the same user, project and
/// roles share one entry: one upstream GET, one validation call each,
/// nineteen hits answered by the hit path.
#[tokio::test]
async fn new_tokens_of_one_scope_share_one_entry() {
    let sample = start_sample().await;
    let keystone = FakeKeystone::start().await;
    let proxy = TestProxy::new(&sample.url())
        .keystone(&keystone.url(), Share::User)
        .admin()
        .start()
        .await;
    let first = get_image_as(&proxy, PRIVATE_IMAGE_ID, &alice_token(0)).await;
    assert_eq!(first.status, 200);
    assert_eq!(first.outcome(), STORED);
    for n in 1..20 {
        let reply = get_image_as(&proxy, PRIVATE_IMAGE_ID, &alice_token(n)).await;
        assert!(is_hit(reply.outcome()), "token {n}: {reply:?}");
        assert_eq!(reply.body, first.body);
    }
    assert_eq!(image_gets(&sample, PRIVATE_IMAGE_ID), 1);
    assert_eq!(keystone.calls(), 20);
    assert_eq!(keystone.malformed_calls(), 0);
    assert_eq!(validations(&proxy, "valid").await, 20.0);
    assert_eq!(proxy.metric(HIT_PATH_RESPONSES).await, 19.0);
}

/// `share = "project"` lets two users of one project with the same roles
/// share entries; `share = "user"` (the default) does not.
#[tokio::test]
async fn share_project_shares_among_users_and_share_user_does_not() {
    let carol = "carol:project-a:member";
    for (share, gets) in [(Share::User, 2), (Share::Project, 1)] {
        let sample = start_sample().await;
        let keystone = FakeKeystone::start().await;
        let proxy = TestProxy::new(&sample.url())
            .keystone(&keystone.url(), share)
            .start()
            .await;
        let alice = get_image_as(&proxy, PRIVATE_IMAGE_ID, TOKEN_A).await;
        assert_eq!(alice.outcome(), STORED, "{share:?}");
        let reply = get_image_as(&proxy, PRIVATE_IMAGE_ID, carol).await;
        assert_eq!(reply.status, 200, "{share:?}");
        assert_eq!(is_hit(reply.outcome()), gets == 1, "{share:?}");
        assert_eq!(image_gets(&sample, PRIVATE_IMAGE_ID), gets, "{share:?}");
    }
}

/// Even with `share = "project"`, a token of another project (same role)
/// never gets the entry: the upstream answers it (Glance's 404 for a
/// private image it may not see).
#[tokio::test]
async fn a_token_of_another_project_never_gets_the_entry() {
    let sample = start_sample().await;
    let keystone = FakeKeystone::start().await;
    let proxy = TestProxy::new(&sample.url())
        .keystone(&keystone.url(), Share::Project)
        .start()
        .await;
    let alice = get_image_as(&proxy, PRIVATE_IMAGE_ID, TOKEN_A).await;
    assert_eq!(alice.status, 200);
    let bob = get_image_as(&proxy, PRIVATE_IMAGE_ID, TOKEN_B).await;
    assert_eq!(bob.status, 404, "{bob:?}");
    assert!(!is_hit(bob.outcome()), "{bob:?}");
    assert_eq!(image_gets(&sample, PRIVATE_IMAGE_ID), 2);
    assert_eq!(keystone.calls(), 2);
}

/// Fifty concurrent first requests with one new token make one
/// validation call (and one upstream GET): the others wait for it.
#[tokio::test]
async fn concurrent_first_requests_with_a_new_token_validate_once() {
    let sample = start_sample().await;
    let keystone = FakeKeystone::start().await;
    // Long enough that every request arrives while the call is out.
    keystone.set_latency(Duration::from_millis(300));
    let proxy = TestProxy::new(&sample.url())
        .keystone(&keystone.url(), Share::User)
        .start()
        .await;
    let url = proxy.url(&image_path(PRIVATE_IMAGE_ID));
    let mut tasks = Vec::new();
    for _ in 0..50 {
        let url = url.clone();
        tasks.push(tokio::spawn(async move {
            get(&url, &[("x-auth-token", TOKEN_A)]).await
        }));
    }
    for task in tasks {
        assert_eq!(task.await.expect("task").status, 200);
    }
    assert_eq!(keystone.calls(), 1);
    assert_eq!(image_gets(&sample, PRIVATE_IMAGE_ID), 1);
}

/// A token Keystone calls invalid (404) is never answered from the cache,
/// not even from an entry of its own: every request is forwarded (and the
/// upstream judges it), and the verdict is remembered, not asked again.
#[tokio::test]
async fn an_invalid_token_is_never_answered_from_the_cache() {
    let sample = start_sample().await;
    let keystone = FakeKeystone::start().await;
    let proxy = TestProxy::new(&sample.url())
        .keystone(&keystone.url(), Share::User)
        .admin()
        .start()
        .await;
    let fill = get_image_as(&proxy, PRIVATE_IMAGE_ID, TOKEN_A).await;
    assert_eq!(fill.outcome(), STORED);
    // Same user, project and roles to the sample; revoked for Keystone.
    let invalid = alice_token(1);
    keystone.revoke(&invalid);
    for _ in 0..2 {
        let reply = get_image_as(&proxy, PRIVATE_IMAGE_ID, &invalid).await;
        assert_eq!(reply.outcome(), BYPASS, "{reply:?}");
    }
    assert_eq!(image_gets(&sample, PRIVATE_IMAGE_ID), 3);
    assert_eq!(validations(&proxy, "invalid").await, 1.0);
    assert_eq!(keystone.calls(), 2);
}

/// A token revoked after it was validated is trusted until its validation
/// is due (`identity.validation_ttl`), then bypasses the cache.
#[tokio::test]
async fn a_revoked_token_bypasses_once_its_validation_is_due() {
    let sample = start_sample().await;
    let keystone = FakeKeystone::start().await;
    let proxy = TestProxy::new(&sample.url())
        .keystone(&keystone.url(), Share::User)
        .admin()
        .start()
        .await;
    let fill = get_image_as(&proxy, PRIVATE_IMAGE_ID, TOKEN_A).await;
    assert_eq!(fill.outcome(), STORED);
    keystone.revoke(TOKEN_A);
    let remembered = get_image_as(&proxy, PRIVATE_IMAGE_ID, TOKEN_A).await;
    assert!(is_hit(remembered.outcome()), "{remembered:?}");
    assert_eq!(keystone.calls(), 1);
    proxy.proxy.clock().advance(VALIDATION_TTL);
    let revoked = get_image_as(&proxy, PRIVATE_IMAGE_ID, TOKEN_A).await;
    assert_eq!(revoked.outcome(), BYPASS, "{revoked:?}");
    assert_eq!(keystone.calls(), 2);
    assert_eq!(validations(&proxy, "invalid").await, 1.0);
    assert_eq!(image_gets(&sample, PRIVATE_IMAGE_ID), 2);
}

/// A validation is trusted no longer than the token lives: a token that
/// expires before `identity.validation_ttl` is validated again once its
/// `expires_at` has passed.
#[tokio::test]
async fn a_validation_ends_when_the_token_expires() {
    let sample = start_sample().await;
    let keystone = FakeKeystone::start().await;
    keystone.expire_in(TOKEN_A, Duration::from_secs(20));
    let proxy = TestProxy::new(&sample.url())
        .keystone(&keystone.url(), Share::User)
        .start()
        .await;
    get_image_as(&proxy, PRIVATE_IMAGE_ID, TOKEN_A).await;
    get_image_as(&proxy, PRIVATE_IMAGE_ID, TOKEN_A).await;
    assert_eq!(keystone.calls(), 1);
    proxy.proxy.clock().advance(Duration::from_secs(21));
    let reply = get_image_as(&proxy, PRIVATE_IMAGE_ID, TOKEN_A).await;
    assert!(is_hit(reply.outcome()), "{reply:?}");
    assert_eq!(keystone.calls(), 2, "validated again after expires_at");
}

/// keystonemiddleware takes the token from `X-Storage-Token` too: a
/// token there is validated and finds the entry its scope filled. Two
/// different tokens at once are ambiguous: not validated, keyed as sent.
#[tokio::test]
async fn the_storage_token_is_validated_too() {
    let sample = start_sample().await;
    let keystone = FakeKeystone::start().await;
    let proxy = TestProxy::new(&sample.url())
        .keystone(&keystone.url(), Share::User)
        .start()
        .await;
    let url = proxy.url(&image_path(PRIVATE_IMAGE_ID));
    let fill = get(&url, &[("x-auth-token", &alice_token(0))]).await;
    assert_eq!(fill.outcome(), STORED);
    let storage = get(&url, &[("x-storage-token", &alice_token(1))]).await;
    assert!(is_hit(storage.outcome()), "{storage:?}");
    assert_eq!(keystone.calls(), 2);
    let both = [
        ("x-auth-token", alice_token(0)),
        ("x-storage-token", alice_token(2)),
    ];
    let both: Vec<(&str, &str)> = both.iter().map(|(n, v)| (*n, v.as_str())).collect();
    let ambiguous = get(&url, &both).await;
    assert_eq!(ambiguous.outcome(), STORED, "{ambiguous:?}");
    assert_eq!(keystone.calls(), 2, "not validated");
    assert_eq!(image_gets(&sample, PRIVATE_IMAGE_ID), 2);
}
