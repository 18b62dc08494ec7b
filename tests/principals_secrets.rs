//! Secrets stay secret: access key secrets, user tokens and the service
//! token never appear in what the admin API shows.

mod common;

use common::keystone::{FakeKeystone, validations};
use common::sdk::*;
use common::wire::on_new_connection;
use common::*;
use imgcache::config::Share;

/// The secret key, a user token and the service token never appear in
/// what the admin API shows (`/cache/stats`, `/metrics`), after traffic
/// that used each of them.
#[tokio::test]
async fn secrets_never_reach_the_admin_api() {
    let service_token = "svc-token-5e1f0c9a7b3d4e2f";
    let token = "alice:project-a:member,secret-role-8d2c";
    let sample = start_sample().await;
    let keystone = FakeKeystone::requiring_service_token(service_token).await;
    let (upstream, url) = image_upstream("").await;
    let key = key_a();
    // Both hold every secret; one serves signed reads, one token reads.
    let holding_secrets = |upstream: &str| {
        TestProxy::new(upstream)
            .signing(&[&key])
            .keystone(&keystone.url(), Share::User)
            .with_identity(|identity| identity.service_token = Some(service_token.into()))
            .admin()
    };
    let signed_proxy = holding_secrets(&url).start().await;
    let token_proxy = holding_secrets(&sample.url()).start().await;

    let path = image_path(IMAGE);
    for at in [ago(3), ago(1)] {
        on_new_connection(signed_proxy.addr, &sdk_get(&key, PROJECT, &path, at)).await;
    }
    assert_eq!(upstream.heads().len(), 1);
    for _ in 0..2 {
        let reply = get_image_as(&token_proxy, PRIVATE_IMAGE_ID, token).await;
        assert_eq!(reply.status, 200);
    }
    assert_eq!(
        validations(&token_proxy, "valid").await,
        1.0,
        "validated with the service token"
    );
    assert_eq!(signed_requests(&signed_proxy, "verified").await, 2.0);

    for admin in [signed_proxy.admin_url(), token_proxy.admin_url()] {
        for page in ["/cache/stats", "/metrics"] {
            let reply = get(&format!("{admin}{page}"), &[]).await;
            assert_eq!(reply.status, 200, "{page}");
            let text = String::from_utf8_lossy(&reply.body);
            for secret in [SK_A, token, service_token, "secret-role-8d2c"] {
                assert!(!text.contains(secret), "{page} shows {secret:?}:\n{text}");
            }
        }
    }
}
