//! The Redis tier keys on the principal: a token scope or an access key
//! fills once for a fleet of instances sharing Redis.

mod common;

use common::keystone::{FakeKeystone, alice_token};
use common::redis::TestRedis;
use common::sdk::*;
use common::wire::on_new_connection;
use common::*;
use imgcache::config::Share;

/// Two instances sharing Redis: token A fills on one, token B of the same
/// scope finds the entry on the other, without an upstream request.
#[tokio::test]
async fn a_token_scope_fills_once_for_the_fleet() {
    let Some(redis) = TestRedis::acquire().await else {
        eprintln!("SKIPPED: no Redis for the fleet test");
        return;
    };
    let sample = start_sample().await;
    let keystone = FakeKeystone::start().await;
    let [one, two] = two_instances(
        TestProxy::new(&sample.url())
            .keystone(&keystone.url(), Share::User)
            .redis(&redis),
    )
    .await;
    let fill = get_image_as(&one, PRIVATE_IMAGE_ID, &alice_token(0)).await;
    assert_eq!(fill.outcome(), STORED);
    let shared = get_image_as(&two, PRIVATE_IMAGE_ID, &alice_token(1)).await;
    assert!(
        matches!(shared.outcome(), Some(CacheOutcome::SharedHit { .. })),
        "{shared:?}"
    );
    assert_eq!(shared.body, fill.body);
    assert_eq!(image_gets(&sample, PRIVATE_IMAGE_ID), 1);
    let other = get_image_as(&two, PRIVATE_IMAGE_ID, "carol:project-a:member").await;
    assert_eq!(other.outcome(), STORED, "another user: {other:?}");
}

/// Two instances sharing Redis: a verified signed read fills on one, the
/// same access key signing again finds it on the other; the upstream is
/// asked once.
#[tokio::test]
async fn an_access_key_fills_once_for_the_fleet() {
    let Some(redis) = TestRedis::acquire().await else {
        eprintln!("SKIPPED: no Redis for the fleet test");
        return;
    };
    let (upstream, url) = image_upstream("").await;
    let key = key_a();
    let [one, two] = two_instances(TestProxy::new(&url).signing(&[&key]).redis(&redis)).await;
    let path = image_path(IMAGE);
    let fill = on_new_connection(one.addr, &sdk_get(&key, PROJECT, &path, ago(5))).await;
    assert_eq!(fill.outcome(), STORED);
    let shared = on_new_connection(two.addr, &sdk_get(&key, PROJECT, &path, ago(1))).await;
    assert!(
        matches!(shared.outcome(), Some(CacheOutcome::SharedHit { .. })),
        "{shared:?}"
    );
    assert_eq!(upstream.heads().len(), 1);
}

/// Two instances of `proxy`.
async fn two_instances(proxy: TestProxy) -> [ProxyHandle; 2] {
    let mut fleet = proxy.start_many(2).await;
    let two = fleet.pop().expect("two");
    [fleet.pop().expect("one"), two]
}
