//! Header names with `_` (which a WSGI Glance reads as the `-` spelling)
//! never reach the upstream as sent: dropped by default on every path
//! (hit path, hyper, h2c), or folded into the `-` spelling, so that what
//! is forwarded is what is keyed.

mod common;

use common::wire::Conn;
use common::*;
use imgcache::config::UnderscoreHeaders;

/// What the sample saw last: no header name with `_`, and only alice's
/// token.
fn assert_forwarded_without_underscores(sample: &glance_sample::SampleHandle, path: &str) {
    let seen = sample.control.last_request_headers().expect("headers");
    let names: Vec<&str> = seen.keys().map(|k| k.as_str()).collect();
    assert!(names.iter().all(|n| !n.contains('_')), "{path}: {names:?}");
    let tokens: Vec<_> = seen.get_all("x-auth-token").iter().collect();
    assert_eq!(tokens, [TOKEN_A], "{path}");
}

fn request(method: &str, path: &str) -> String {
    format!(
        "{method} {path} HTTP/1.1\r\nHost: x\r\nX_Auth_Token: {TOKEN_B}\r\nX-Auth-Token: {TOKEN_A}\r\n\
         x_PROJECT_id: project-b\r\nContent-Length: 0\r\n\r\n"
    )
}

/// Dropped on a fresh connection (a cache fill), on a connection hyper
/// serves (a list, a write) and over h2c, and counted.
#[tokio::test]
async fn underscored_headers_never_reach_the_upstream() {
    let sample = start_sample().await;
    let proxy = TestProxy::new(&sample.url()).admin().start().await;
    let mut conn = Conn::open(proxy.addr).await;
    for (method, path) in [
        ("GET", format!("/v2/images/{EXAMPLE_IMAGE_ID}")),
        ("GET", "/v2/images?limit=1".to_owned()),
        ("DELETE", format!("/v2/images/{EXAMPLE_IMAGE_ID}/tags/x")),
    ] {
        conn.send(request(method, &path).as_bytes()).await;
        let reply = conn.response().await;
        assert!(reply.status < 500, "{method} {path}: {}", reply.status);
        assert_forwarded_without_underscores(&sample, &path);
    }

    let lines = [("x_auth_token", TOKEN_B), ("x-auth-token", TOKEN_A)];
    let reply = h2c_get(&proxy.url("/v2/images?limit=2"), &lines).await;
    assert_eq!(reply.status, 200);
    assert_forwarded_without_underscores(&sample, "h2c");

    let dropped = proxy
        .metric("imgcache_request_headers_underscored_total{action=\"dropped\"}")
        .await;
    assert_eq!(dropped, 7.0);
}

/// Dropped, an underscore-spelled token is no token: the upstream answers
/// the anonymous request (401), and nothing is cached for anybody.
#[tokio::test]
async fn a_dropped_token_is_no_token() {
    let sample = start_sample().await;
    let proxy = start_proxy(&sample.url()).await;
    let mut conn = Conn::open(proxy.addr).await;
    let read = format!(
        "GET /v2/images/{PRIVATE_IMAGE_ID} HTTP/1.1\r\nHost: x\r\nX_Auth_Token: {TOKEN_A}\r\n\r\n"
    );
    conn.send(read.as_bytes()).await;
    assert_eq!(conn.response().await.status, 401);
}

/// Folded, `X_Auth_Token` is forwarded as `x-auth-token` and keyed as
/// that: a later request with the `-` spelling of the same token is a hit
/// on the entry the `_` spelling filled; another token is not.
#[tokio::test]
async fn fold_forwards_what_it_keys() {
    let sample = start_sample().await;
    let proxy = TestProxy::new(&sample.url())
        .with(|config| config.cache.underscore_headers = UnderscoreHeaders::Fold)
        .admin()
        .start()
        .await;
    let mut conn = Conn::open(proxy.addr).await;
    let underscored = format!(
        "GET /v2/images/{PRIVATE_IMAGE_ID} HTTP/1.1\r\nHost: x\r\nX_Auth_Token: {TOKEN_A}\r\n\r\n"
    );
    conn.send(underscored.as_bytes()).await;
    let filled = conn.response().await;
    assert_eq!(filled.status, 200);
    assert_eq!(filled.outcome(), STORED);
    let seen = sample.control.last_request_headers().expect("headers");
    assert_eq!(seen["x-auth-token"], TOKEN_A);
    assert!(seen.keys().all(|k| !k.as_str().contains('_')));

    let dashed = get(
        &proxy.url(&format!("/v2/images/{PRIVATE_IMAGE_ID}")),
        &[("x-auth-token", TOKEN_A)],
    )
    .await;
    assert!(is_hit(dashed.outcome()), "{dashed:?}");
    let other = get(
        &proxy.url(&format!("/v2/images/{PRIVATE_IMAGE_ID}")),
        &[("x-auth-token", TOKEN_B)],
    )
    .await;
    assert_eq!(other.status, 404);
    let folded = proxy
        .metric("imgcache_request_headers_underscored_total{action=\"folded\"}")
        .await;
    assert_eq!(folded, 1.0);
}
