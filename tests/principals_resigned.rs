//! Verified signed requests are signed again for the upstream: its own
//! `Host`, a fresh `X-Sdk-Date`, a signature over the path, query and
//! body the upstream receives (checked there with the crate's verifier);
//! over HTTP/1.1 and HTTP/2.

mod common;

use common::sdk::*;
use common::wire::{Head, on_new_connection, request_bytes};
use common::*;
use imgcache::principal::sdk_date;
use imgcache::principal::signing::SignatureCheck;

/// A verified read that misses goes upstream signed again with the same
/// credential: the upstream's own `Host`, a fresh `X-Sdk-Date`, and a
/// signature over the path the upstream receives — its base path
/// included, the proxy's listen prefix (which the client signed) not.
#[tokio::test]
async fn a_miss_is_signed_again_for_the_upstream() {
    for (prefix, base_path) in [("", ""), ("", "/base"), ("/glance", "/image")] {
        let (upstream, url) = image_upstream(base_path).await;
        let key = key_a();
        let proxy = TestProxy::new(&url)
            .signing(&[&key])
            .with(|config| config.server.path_prefix = prefix.into())
            .start()
            .await;
        let path = image_path(IMAGE);
        let signed_at = ago(10 * 60);
        let target = format!("{prefix}{path}");
        let reply =
            on_new_connection(proxy.addr, &sdk_get(&key, PROJECT, &target, signed_at)).await;
        let case = format!("prefix {prefix:?}, base path {base_path:?}");
        assert_eq!(reply.outcome(), STORED, "{case}: {reply:?}");
        let head = upstream.last_head();
        assert_eq!(head.path, format!("{base_path}{path}"), "{case}");
        assert_resigned(&head, &upstream, &key, &sdk_date::format(signed_at));
        assert_eq!(head.header("x-project-id"), PROJECT);
        let hit = on_new_connection(proxy.addr, &sdk_get(&key, PROJECT, &target, ago(1))).await;
        assert!(is_hit(hit.outcome()), "{case}: {hit:?}");
    }
}

/// An HTTP/2 client signs its `:authority` as `host`: a verified request
/// is signed again for the upstream like any other; an unverified one
/// reaches the upstream with that authority as its `Host`, as signed.
#[tokio::test]
async fn http2_signatures_cover_the_authority() {
    let (upstream, url) = image_upstream("").await;
    let key = key_a();
    let proxy = TestProxy::new(&url).signing(&[&key]).admin().start().await;
    let path = image_path(IMAGE);
    let authority = proxy.addr.to_string();
    let request = ("GET", path.as_str(), &b""[..]);
    let signed_at = ago(30);
    let good = sdk_headers_for(&authority, &key, PROJECT, request, signed_at);
    let fill = h2_get(&proxy.url(&path), &good).await;
    assert_eq!(fill.outcome(), STORED, "{fill:?}");
    let client_date = sdk_date::format(signed_at);
    assert_resigned(&upstream.last_head(), &upstream, &key, &client_date);

    let wrong_secret = wrong_secret();
    let bad = sdk_headers_for(&authority, &wrong_secret, PROJECT, request, ago(20));
    let reply = h2_get(&proxy.url(&path), &bad).await;
    assert_eq!(reply.outcome(), BYPASS, "{reply:?}");
    let head = upstream.last_head();
    assert_eq!(head.header("host"), authority, "the signed :authority");
    assert_eq!(head.header("authorization"), authorization(&bad));
    assert_eq!(signed_requests(&proxy, "verified").await, 1.0);
    assert_eq!(signed_requests(&proxy, "bad_signature").await, 1.0);
}

/// `GET` over HTTP/2 (prior knowledge) with `lines` but `Host` (the URL
/// gives the `:authority`).
async fn h2_get(url: &str, lines: &[(String, String)]) -> Reply {
    let lines: Vec<(&str, &str)> = lines
        .iter()
        .filter(|(name, _)| name != "Host")
        .map(|(name, value)| (name.as_str(), value.as_str()))
        .collect();
    h2c_get(url, &lines).await
}

/// A verified `PATCH` is signed again with the hash of its JSON body
/// (which the proxy read to verify it, by its `Content-Length`), and the
/// body reaches the upstream intact.
#[tokio::test]
async fn a_signed_write_is_signed_again_with_its_body_hash() {
    let (upstream, url) = image_upstream("").await;
    let key = key_a();
    let proxy = TestProxy::new(&url).signing(&[&key]).admin().start().await;
    let path = image_path(IMAGE);
    let body = br#"[{"op": "replace", "path": "/name", "value": "renamed"}]"#;
    let signed_at = ago(60);
    let lines = sdk_headers(&key, PROJECT, "PATCH", &path, body, signed_at);
    let reply = on_new_connection(proxy.addr, &request_bytes("PATCH", &path, &lines, body)).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(signed_requests(&proxy, "verified").await, 1.0);
    let raw = upstream.heads().pop().expect("the PATCH upstream");
    let head = Head::parse(&raw);
    assert_eq!(head.method, "PATCH");
    assert_eq!(head.header("content-length"), body.len().to_string());
    assert_eq!(head.header("content-type"), JSON_PATCH);
    // The body itself, where it came in the same read as the head.
    if let Some((_, received)) = raw.split_once("\r\n\r\n")
        && !received.is_empty()
    {
        assert_eq!(received.as_bytes(), body);
    }
    assert_eq!(head.header("host"), upstream.addr.to_string());
    assert_ne!(head.header("x-sdk-date"), sdk_date::format(signed_at));
    let check = signature(&head, &key, body);
    assert!(matches!(check, SignatureCheck::Verified(_)), "{check:?}");
    // The same head with another body does not verify: the hash is signed.
    let other = signature(&head, &key, b"[]");
    assert!(!matches!(other, SignatureCheck::Verified(_)), "{other:?}");
}

/// A verified list request is signed again over its query string, as the
/// upstream receives it.
#[tokio::test]
async fn a_signed_list_is_signed_again_with_its_query() {
    let (upstream, url) = image_upstream("").await;
    let key = key_a();
    let proxy = TestProxy::new(&url).signing(&[&key]).start().await;
    let target = "/v2/images?limit=5&name=a%20b&visibility=private";
    let signed_at = ago(30);
    let reply = on_new_connection(proxy.addr, &sdk_get(&key, PROJECT, target, signed_at)).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    let head = upstream.last_head();
    assert_eq!(head.path, "/v2/images");
    assert_eq!(
        head.query.as_deref(),
        Some("limit=5&name=a%20b&visibility=private")
    );
    assert_resigned(&head, &upstream, &key, &sdk_date::format(signed_at));
}
