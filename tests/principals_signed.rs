//! Signed requests over real sockets, as Huawei's SDK sends them
//! (tests/common/sdk.rs): a verified signature uses the cache, under its
//! access key and project; one the proxy cannot verify never does — it
//! reaches the upstream as the client signed it, counted by reason.

mod common;

use std::time::SystemTime;

use common::sdk::*;
use common::wire::{Conn, Head, on_new_connection, request_bytes};
use common::*;
use imgcache::config::Credential;
use imgcache::principal::signing::SignatureCheck;

/// A verified signed read is cached under its access key: the same key
/// signing again (a new `X-Sdk-Date`, so a new signature) hits, on a new
/// connection (answered by the hit path) and on the kept-alive one that
/// filled; the upstream is asked once.
#[tokio::test]
async fn verified_signed_reads_hit_per_access_key() {
    let (upstream, url) = image_upstream("").await;
    let key = key_a();
    let proxy = TestProxy::new(&url).signing(&[&key]).admin().start().await;
    let path = image_path(IMAGE);

    let mut kept = Conn::open(proxy.addr).await;
    let fill = kept
        .round_trip(&sdk_get(&key, PROJECT, &path, ago(30)))
        .await;
    assert_eq!(fill.status, 200, "{fill:?}");
    assert_eq!(fill.outcome(), STORED);

    let fresh = on_new_connection(proxy.addr, &sdk_get(&key, PROJECT, &path, ago(20))).await;
    assert!(is_hit(fresh.outcome()), "{fresh:?}");
    assert_eq!(fresh.body, fill.body);
    assert_eq!(
        proxy.metric(HIT_PATH_RESPONSES).await,
        1.0,
        "the hit path answered"
    );

    let again = kept
        .round_trip(&sdk_get(&key, PROJECT, &path, ago(10)))
        .await;
    assert!(is_hit(again.outcome()), "{again:?}");
    assert_eq!(proxy.metric(HIT_PATH_RESPONSES).await, 2.0);

    assert_eq!(upstream.heads().len(), 1, "one GET upstream");
    // Judged (and counted) once each: the fill's verdict, reached by the
    // hit path's admission, went along to hyper through the exchange.
    assert_eq!(signed_requests(&proxy, "verified").await, 3.0);
}

/// After a verified fill, requests for the same image whose signature the
/// proxy cannot verify — a tampered signature, the wrong secret, a
/// 16-minute-old `X-Sdk-Date`, an access key it does not hold, a broken
/// `Authorization` — are never answered from the cache: each is forwarded
/// (bypass) with the client's own `Host` and `Authorization`, so the
/// upstream judges the signature the client made, and each is counted
/// under its reason.
#[tokio::test]
async fn unverifiable_signatures_bypass_and_reach_the_upstream_as_signed() {
    let (upstream, url) = image_upstream("").await;
    let key = key_a();
    let proxy = TestProxy::new(&url).signing(&[&key]).admin().start().await;
    let path = image_path(IMAGE);
    let fill = on_new_connection(proxy.addr, &sdk_get(&key, PROJECT, &path, ago(5))).await;
    assert_eq!(fill.outcome(), STORED);

    let good = |at| sdk_headers(&key, PROJECT, "GET", &path, b"", at);
    let mut tampered = good(ago(3));
    let last = tampered.iter_mut().find(|(n, _)| n == "Authorization");
    let value = &mut last.expect("Authorization").1;
    let flipped = if value.ends_with('0') { '1' } else { '0' };
    value.pop();
    value.push(flipped);
    let wrong_secret = wrong_secret();
    let unknown = Credential {
        ak: "HPUAQ7W3ZK1UNKNOWN99".into(),
        sk: SK_A.into(),
    };
    let mut broken = good(ago(3));
    for (name, value) in broken.iter_mut() {
        if name == "Authorization" {
            *value = format!("SDK-HMAC-SHA256 Access={AK_A}, Signature=00ff");
        }
    }
    let cases = [
        ("tampered signature", tampered),
        (
            "wrong secret",
            sdk_headers(&wrong_secret, PROJECT, "GET", &path, b"", ago(3)),
        ),
        ("16 minutes old", good(ago(16 * 60))),
        (
            "unknown access key",
            sdk_headers(&unknown, PROJECT, "GET", &path, b"", ago(3)),
        ),
        ("malformed", broken),
    ];
    for (n, (what, lines)) in cases.iter().enumerate() {
        let reply = on_new_connection(proxy.addr, &request_bytes("GET", &path, lines, b"")).await;
        assert_eq!(reply.status, 200, "{what}: {reply:?}");
        assert_eq!(reply.outcome(), BYPASS, "{what}");
        assert_eq!(upstream.heads().len(), n + 2, "{what}: forwarded");
        let head = upstream.last_head();
        assert_eq!(
            head.header("host"),
            CLIENT_HOST,
            "{what}: the client's Host"
        );
        assert_eq!(
            head.header("authorization"),
            authorization(lines),
            "{what}: the client's Authorization"
        );
    }
    for (result, count) in [
        ("verified", 1.0),
        ("bad_signature", 2.0),
        ("clock_skew", 1.0),
        ("unknown_key", 1.0),
        ("malformed", 1.0),
        ("body_not_read", 0.0),
    ] {
        assert_eq!(signed_requests(&proxy, result).await, count, "{result}");
    }
    assert_eq!(proxy.metric(HIT_PATH_RESPONSES).await, 0.0);
}

/// A signed body larger than `signing.max_body_bytes` is not read to be
/// verified: the write goes upstream unverified, as the client signed it
/// (its `Host` and `Authorization`), counted `body_not_read`.
#[tokio::test]
async fn a_signed_body_too_large_to_read_goes_upstream_as_signed() {
    let (upstream, url) = image_upstream("").await;
    let key = key_a();
    let proxy = TestProxy::new(&url)
        .signing(&[&key])
        .with(|config| config.signing.max_body_bytes = 64)
        .admin()
        .start()
        .await;
    let path = image_path(IMAGE);
    let value = "x".repeat(100);
    let body = format!(r#"[{{"op": "replace", "path": "/name", "value": "{value}"}}]"#);
    let lines = sdk_headers(&key, PROJECT, "PATCH", &path, body.as_bytes(), ago(2));
    let reply = on_new_connection(
        proxy.addr,
        &request_bytes("PATCH", &path, &lines, body.as_bytes()),
    )
    .await;
    assert_eq!(reply.status, 200, "{reply:?}");
    let head = upstream.last_head();
    assert_eq!(head.method, "PATCH");
    assert_eq!(head.header("host"), CLIENT_HOST);
    assert_eq!(head.header("authorization"), authorization(&lines));
    assert_eq!(signed_requests(&proxy, "body_not_read").await, 1.0);
    assert_eq!(signed_requests(&proxy, "verified").await, 0.0);
}

/// Two held access keys never share an entry, and neither does one key
/// naming another `X-Project-Id`: each is its own upstream request, and
/// each then hits its own entry.
#[tokio::test]
async fn access_keys_and_projects_never_share_entries() {
    let (upstream, url) = image_upstream("").await;
    let (a, b) = (key_a(), key_b());
    let proxy = TestProxy::new(&url).signing(&[&a, &b]).start().await;
    let path = image_path(IMAGE);
    let callers = [
        ("AK-A", &a, PROJECT),
        ("AK-B", &b, PROJECT),
        ("AK-A, other project", &a, OTHER_PROJECT),
    ];
    for (n, (who, key, project)) in callers.iter().enumerate() {
        let reply = on_new_connection(proxy.addr, &sdk_get(key, project, &path, ago(9))).await;
        assert_eq!(reply.outcome(), STORED, "{who}");
        assert_eq!(upstream.heads().len(), n + 1, "{who}");
    }
    for (who, key, project) in callers {
        let reply = on_new_connection(proxy.addr, &sdk_get(key, project, &path, ago(1))).await;
        assert!(is_hit(reply.outcome()), "{who}: {reply:?}");
    }
    assert_eq!(upstream.heads().len(), 3);
}

/// Guards the helpers above: a request signed here verifies with the
/// crate's verifier as the proxy receives it, so a failure elsewhere is
/// the proxy's, not the test's signing.
#[test]
fn test_signing_matches_the_verifier() {
    let key = key_a();
    let target = "/v2/images?limit=5&name=a%20b";
    let lines = sdk_headers(&key, PROJECT, "GET", target, b"", SystemTime::now());
    let raw = String::from_utf8(request_bytes("GET", target, &lines, b"")).expect("text");
    let head = Head::parse(&raw);
    assert!(matches!(
        signature(&head, &key, b""),
        SignatureCheck::Verified(_)
    ));
    assert!(matches!(
        signature(&head, &key_b(), b""),
        SignatureCheck::Unverified { .. }
    ));
}
