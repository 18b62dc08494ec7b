//! Extension-field modes through the proxy: image details (stored and
//! not), lists, PATCH answers; errors untouched; a mode change never
//! serves a body of the old mode.

mod common;

use std::sync::Arc;

use common::gated::GatedUpstream;
use common::*;
use http::Method;
use imgcache::transform::Mode;
use serde_json::Value;
use sha2::Digest;

async fn proxy_in(mode: Mode, upstream: &str) -> ProxyHandle {
    TestProxy::new(upstream)
        .with(|config| config.transform.mode = mode)
        .start()
        .await
}

fn golden(name: &str) -> Value {
    let path = format!(
        "{}/tests/golden/transform/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_slice(&std::fs::read(path).expect("golden file")).expect("golden JSON")
}

/// Each mode turns the spec's example image into its golden output, on
/// the miss and on the hit; Content-Length and ETag describe the body
/// served.
#[tokio::test]
async fn image_details_in_every_mode() {
    for (mode, name) in [
        (Mode::Passthrough, "passthrough"),
        (Mode::Strip, "strip"),
        (Mode::Normalize, "normalize"),
        (Mode::Typed, "typed"),
    ] {
        let sample = start_sample().await;
        let proxy = proxy_in(mode, &sample.url()).await;
        let miss = get_image(&proxy, EXAMPLE_IMAGE_ID).await;
        let hit = get_image(&proxy, EXAMPLE_IMAGE_ID).await;
        assert_eq!(miss.json(), golden(name), "{name}");
        assert_eq!(
            hit.body, miss.body,
            "{name}: hits serve the stored transformed bytes"
        );
        assert!(is_hit(hit.outcome()));
        assert_eq!(hit.header("content-length"), hit.body.len().to_string());
        let digest = sha2::Sha256::digest(&hit.body);
        let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hit.header("etag"), format!("\"{hex}\""));
    }
}

/// Typed mode converts; strip removes; an image not stored (queued) is
/// transformed too.
#[tokio::test]
async fn unstored_images_are_transformed_too() {
    let sample = start_sample().await;
    let proxy = proxy_in(Mode::Typed, &sample.url()).await;
    let queued = get(
        &proxy.url(&format!("/v2/images/{QUEUED_IMAGE_ID}")),
        &[("x-auth-token", TOKEN_ADMIN)],
    )
    .await;
    assert_eq!(queued.outcome(), URI_MISS);
    let body = queued.json();
    assert_eq!(body["__isregistered"], Value::Bool(true));
    assert_eq!(body["__lazyloading"], Value::Bool(true));
    assert_eq!(body["__os_bit"], Value::from(64));
    assert_eq!(
        body["__os_feature_list"],
        serde_json::json!(["onekey_resetpasswd"])
    );
    assert_eq!(
        queued.header("content-length"),
        queued.body.len().to_string()
    );
}

/// Each image of a list is transformed; pagination fields are untouched.
#[tokio::test]
async fn lists_are_transformed_per_image() {
    let sample = start_sample().await;
    let direct = get(
        &format!("{}/v2/images?limit=3", sample.url()),
        &[("x-auth-token", TOKEN_ADMIN)],
    )
    .await;
    let proxy = proxy_in(Mode::Strip, &sample.url()).await;
    let list = get(
        &proxy.url("/v2/images?limit=3"),
        &[("x-auth-token", TOKEN_ADMIN)],
    )
    .await;
    let (direct, list_json) = (direct.json(), list.json());
    for field in ["first", "next", "schema"] {
        assert_eq!(list_json[field], direct[field], "{field}");
    }
    let images = list_json["images"].as_array().expect("images");
    assert_eq!(images.len(), 3);
    for (image, original) in images
        .iter()
        .zip(direct["images"].as_array().expect("images"))
    {
        assert_eq!(image["id"], original["id"]);
        assert!(
            image
                .as_object()
                .expect("object")
                .keys()
                .all(|k| !k.starts_with("__"))
        );
    }
    assert_eq!(list.header("content-length"), list.body.len().to_string());
}

/// A list larger than transform.max_list_bytes passes through untouched.
#[tokio::test]
async fn large_lists_pass_through() {
    let sample = start_sample().await;
    let proxy = TestProxy::new(&sample.url())
        .with(|config| {
            config.transform.mode = Mode::Strip;
            config.transform.max_list_bytes = 100;
        })
        .start()
        .await;
    let direct = get(
        &format!("{}/v2/images?limit=3", sample.url()),
        &[("x-auth-token", TOKEN_ADMIN)],
    )
    .await;
    let list = get(
        &proxy.url("/v2/images?limit=3"),
        &[("x-auth-token", TOKEN_ADMIN)],
    )
    .await;
    assert_eq!(list.json()["images"], direct.json()["images"]);
}

/// A PATCH answer (the updated image) is transformed; the next read is
/// the new body, transformed.
#[tokio::test]
async fn patch_answers_are_transformed() {
    let sample = start_sample().await;
    let proxy = proxy_in(Mode::Normalize, &sample.url()).await;
    let url = proxy.url(&format!("/v2/images/{EXAMPLE_IMAGE_ID}"));
    let patch = br#"[{"op": "replace", "path": "/__lazyloading", "value": " TRUE "}]"#;
    let headers = [
        ("x-auth-token", TOKEN_ADMIN),
        (
            "content-type",
            "application/openstack-images-v2.1-json-patch",
        ),
    ];
    let reply = send(Method::PATCH, &url, &headers, patch).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json()["__lazyloading"], "true");
    assert_eq!(reply.header("content-length"), reply.body.len().to_string());
    let read = get_image(&proxy, EXAMPLE_IMAGE_ID).await;
    assert_eq!(read.json()["__lazyloading"], "true");
    assert_eq!(
        sample.control.image(EXAMPLE_IMAGE_ID).expect("image")["__lazyloading"],
        " TRUE "
    );
}

/// An image read that bypasses the cache is still an image: transformed.
#[tokio::test]
async fn bypassed_reads_are_transformed() {
    let sample = start_sample().await;
    let proxy = proxy_in(Mode::Typed, &sample.url()).await;
    let url = proxy.url(&format!("/v2/images/{EXAMPLE_IMAGE_ID}"));
    let reply = get(
        &url,
        &[("x-auth-token", TOKEN_A), ("cache-control", "no-cache")],
    )
    .await;
    assert_eq!(reply.outcome(), BYPASS);
    assert_eq!(reply.json()["__isregistered"], true);
    assert_eq!(reply.header("content-length"), reply.body.len().to_string());
}

/// Error bodies are never touched, in any mode.
#[tokio::test]
async fn errors_are_untouched() {
    let sample = start_sample().await;
    let proxy = proxy_in(Mode::Typed, &sample.url()).await;
    let missing = "/v2/images/00000000-0000-0000-0000-000000000000";
    for accept in ["*/*", "application/json"] {
        let headers = [("x-auth-token", TOKEN_A), ("accept", accept)];
        let direct = get(&format!("{}{missing}", sample.url()), &headers).await;
        let proxied = get(&proxy.url(missing), &headers).await;
        assert_eq!(
            (proxied.status, &proxied.body),
            (direct.status, &direct.body)
        );
    }
}

/// Changing the mode (a reload) never serves a body made under the old
/// mode: stored entries are dropped, and a fill that began before the
/// change is not stored.
#[tokio::test]
async fn a_mode_change_never_serves_old_bodies() {
    let sample = start_sample().await;
    let builder = TestProxy::new(&sample.url());
    let proxy = builder.start().await;
    let mut config = builder.config().clone();
    let plain = get_image(&proxy, EXAMPLE_IMAGE_ID).await;
    assert_eq!(plain.json()["__isregistered"], "true");
    config.transform.mode = Mode::Typed;
    let report = proxy.proxy.operator().reload(&config).await;
    assert!(report.purged);
    let typed = get_image(&proxy, EXAMPLE_IMAGE_ID).await;
    assert_eq!(typed.outcome(), STORED);
    assert_eq!(typed.json()["__isregistered"], true);

    let upstream =
        GatedUpstream::start(r#"{"id": "abc", "status": "active", "__os_bit": "64"}"#).await;
    let builder = TestProxy::new(&upstream.url());
    let proxy = Arc::new(builder.start().await);
    let mut config = builder.config().clone();
    let slow = tokio::spawn({
        let proxy = proxy.clone();
        async move { get(&proxy.url("/v2/images/abc"), &[("x-auth-token", "t")]).await }
    });
    upstream.wait_for_gets(1).await;
    config.transform.mode = Mode::Typed;
    proxy.proxy.operator().reload(&config).await;
    upstream.set_gate(true);
    let old = slow.await.expect("task");
    assert_eq!(old.json()["__os_bit"], "64", "it began under passthrough");
    let new = get(&proxy.url("/v2/images/abc"), &[("x-auth-token", "t")]).await;
    assert_eq!(
        new.json()["__os_bit"],
        64,
        "never the old mode's stored body"
    );
}
