//! Principals over real sockets: AK/SK-signed requests verified, cached
//! per access key and signed again for the upstream; Keystone tokens
//! keyed on the scope Keystone says they have; whatever cannot be
//! verified never answered from the cache; secrets never shown.
//!
//! Signed requests are made as Huawei's SDK makes them (`content-type`,
//! `host`, `user-agent`, `x-project-id` and `x-sdk-date` signed), with
//! the crate's own signature code; what the upstream received is read off
//! a raw upstream and verified with the crate's verifier.

mod common;

use std::time::{Duration, SystemTime};

use bytes::Bytes;
use common::keystone::FakeKeystone;
use common::raw::{RawUpstream, Script};
use common::redis::{RedisServer, available};
use common::wire::{Conn, Wire};
use common::*;
use http::{HeaderMap, HeaderName, HeaderValue, StatusCode};
use http_body_util::Full;
use hyper_util::rt::TokioExecutor;
use imgcache::config::{Config, Credential, IdentityConfig, RedisConfig, Share, SigningConfig};
use imgcache::principal::sdk_date;
use imgcache::principal::signature::{EMPTY_PAYLOAD_HASH, Signed, body_hash};
use imgcache::principal::signing::{Body, RequestLine, SignatureCheck, Signing};

/// The access keys the proxy holds, with their secrets.
const AK_A: &str = "HPUAQ7W3ZK1ALPHA0001";
const SK_A: &str = "sk-alpha-7c1d9e0f4b2a8d6e3f5a1b9c7d2e4f60";
const AK_B: &str = "HPUAQ7W3ZK1BRAVO0002";
const SK_B: &str = "sk-bravo-0e9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b";

/// The project a signed request names (`X-Project-Id`, signed).
const PROJECT: &str = "0b1ac0b5e2f34a3c9d6e7f8a9b0c1d2e";
const OTHER_PROJECT: &str = "9f8e7d6c5b4a39281706f5e4d3c2b1a0";

/// The endpoint the SDK signs for (the `Host` it sends).
const CLIENT_HOST: &str = "ims.eu-de.otc.t-systems.com";
const USER_AGENT: &str = "huaweicloud-usdk-python/3.0";
const JSON_PATCH: &str = "application/openstack-images-v2.1-json-patch";

/// The image the raw upstream serves.
const IMAGE: &str = "5c0e3f2a-8d41-4b6e-9a7c-1f2e3d4c5b6a";

/// How long a token validation is trusted in these tests.
const VALIDATION_TTL: Duration = Duration::from_secs(60);

fn key_a() -> Credential {
    Credential {
        ak: AK_A.into(),
        sk: SK_A.into(),
    }
}

fn key_b() -> Credential {
    Credential {
        ak: AK_B.into(),
        sk: SK_B.into(),
    }
}

fn image_path(id: &str) -> String {
    format!("/v2/images/{id}")
}

// ---------------------------------------------------------------------
// Signed requests, as the SDK sends them
// ---------------------------------------------------------------------

/// The header lines of a request signed as huaweicloudsdkcore signs it
/// for [`CLIENT_HOST`], in wire order, `Authorization` included.
fn sdk_headers(
    key: &Credential,
    project: &str,
    method: &str,
    target: &str,
    body: &[u8],
    signed_at: SystemTime,
) -> Vec<(String, String)> {
    let request = (method, target, body);
    sdk_headers_for(CLIENT_HOST, key, project, request, signed_at)
}

/// [`sdk_headers`] for a request `(method, target, body)` to `host`.
fn sdk_headers_for(
    host: &str,
    key: &Credential,
    project: &str,
    (method, target, body): (&str, &str, &[u8]),
    signed_at: SystemTime,
) -> Vec<(String, String)> {
    let (path, query) = split_target(target);
    let date = sdk_date::format(signed_at);
    let payload_hash = if body.is_empty() {
        EMPTY_PAYLOAD_HASH.to_owned()
    } else {
        body_hash(body)
    };
    let content_type = if method == "PATCH" {
        JSON_PATCH
    } else {
        "application/json"
    };
    let signed = Signed {
        method,
        path,
        query,
        headers: vec![
            ("content-type", content_type),
            ("host", host),
            ("user-agent", USER_AGENT),
            ("x-project-id", project),
            ("x-sdk-date", &date),
        ],
        payload_hash: &payload_hash,
        date: &date,
    };
    let signature = signed.sign(key.sk.as_bytes()).expect("a signature");
    let authorization = signed.authorization(&key.ak, &signature);
    let mut lines = vec![
        ("Host", host.to_owned()),
        ("Content-Type", content_type.to_owned()),
        ("User-Agent", USER_AGENT.to_owned()),
        ("X-Project-Id", project.to_owned()),
        ("X-Sdk-Date", date.clone()),
        ("Authorization", authorization),
    ];
    if !body.is_empty() {
        lines.push(("Content-Length", body.len().to_string()));
    }
    lines
        .into_iter()
        .map(|(name, value)| (name.to_owned(), value))
        .collect()
}

/// The request's bytes on the wire.
fn wire(method: &str, target: &str, lines: &[(String, String)], body: &[u8]) -> Vec<u8> {
    let mut bytes = format!("{method} {target} HTTP/1.1\r\n");
    for (name, value) in lines {
        bytes.push_str(&format!("{name}: {value}\r\n"));
    }
    bytes.push_str("\r\n");
    let mut bytes = bytes.into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

/// A signed `GET` of `target` by `key` for `project`, signed at `at`.
fn sdk_get(key: &Credential, project: &str, target: &str, at: SystemTime) -> Vec<u8> {
    wire(
        "GET",
        target,
        &sdk_headers(key, project, "GET", target, b"", at),
        b"",
    )
}

/// `Authorization`'s value among `lines`.
fn authorization(lines: &[(String, String)]) -> &str {
    lines
        .iter()
        .find(|(name, _)| name == "Authorization")
        .map(|(_, value)| value.as_str())
        .expect("an Authorization line")
}

fn split_target(target: &str) -> (&str, Option<&str>) {
    match target.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (target, None),
    }
}

fn ago(seconds: u64) -> SystemTime {
    SystemTime::now() - Duration::from_secs(seconds)
}

/// One request on a new connection (the hit path reads it first).
async fn on_new_connection(addr: std::net::SocketAddr, request: &[u8]) -> Wire {
    let mut conn = Conn::open(addr).await;
    on(&mut conn, request).await
}

/// One request on `conn`.
async fn on(conn: &mut Conn, request: &[u8]) -> Wire {
    conn.send(request).await;
    conn.response().await
}

// ---------------------------------------------------------------------
// What the upstream received
// ---------------------------------------------------------------------

/// An image object the cache stores, from an upstream that records every
/// request head (one connection each: `Connection: close`).
async fn image_upstream(base_path: &str) -> (RawUpstream, String) {
    let body = serde_json::json!({
        "id": IMAGE,
        "name": "signed-image",
        "status": "active",
        "visibility": "private",
        "owner": PROJECT,
    })
    .to_string();
    let reply = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    );
    let upstream = RawUpstream::start(Script::Reply(reply.into_bytes())).await;
    let url = format!("{}{base_path}", upstream.url());
    (upstream, url)
}

/// A request head as the upstream received it.
struct Head {
    method: String,
    path: String,
    query: Option<String>,
    headers: HeaderMap,
}

impl Head {
    fn parse(raw: &str) -> Head {
        let mut lines = [httparse::EMPTY_HEADER; 64];
        let mut request = httparse::Request::new(&mut lines);
        let parsed = request.parse(raw.as_bytes()).expect("a request head");
        assert!(parsed.is_complete(), "{raw}");
        let target = request.path.expect("a target").to_owned();
        let (path, query) = split_target(&target);
        let mut headers = HeaderMap::new();
        for line in request.headers.iter() {
            headers.append(
                HeaderName::from_bytes(line.name.as_bytes()).expect("name"),
                HeaderValue::from_bytes(line.value).expect("value"),
            );
        }
        Head {
            method: request.method.expect("a method").to_owned(),
            path: path.to_owned(),
            query: query.map(str::to_owned),
            headers,
        }
    }

    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// The signature as a verifier holding `key` judges it (with a one
    /// minute skew: a re-signed request is signed now).
    fn signature(&self, key: &Credential, body: &[u8]) -> SignatureCheck {
        let signing = Signing::new(&SigningConfig {
            clock_skew: Duration::from_secs(60),
            max_body_bytes: 1 << 20,
            credentials: vec![key.clone()],
        });
        let line = RequestLine {
            method: &self.method,
            path: &self.path,
            query: self.query.as_deref(),
            authority: None,
        };
        let body = if body.is_empty() {
            Body::Empty
        } else {
            Body::Read(body)
        };
        signing.check(line, &self.headers, body, SystemTime::now())
    }
}

/// The last head the upstream received.
fn last_head(upstream: &RawUpstream) -> Head {
    Head::parse(upstream.heads().last().expect("a request upstream"))
}

/// Asserts `head` was signed again for the upstream at `upstream_addr`
/// with `key`: its own `Host`, a fresh `X-Sdk-Date` (not `client_date`)
/// and a signature that verifies over what it received.
fn assert_resigned(head: &Head, upstream: &RawUpstream, key: &Credential, client_date: &str) {
    assert_eq!(head.header("host"), upstream.addr.to_string(), "Host");
    let date = head.header("x-sdk-date");
    assert_ne!(date, client_date, "the client's X-Sdk-Date was kept");
    let signed_at = sdk_date::parse(date).expect("an X-Sdk-Date");
    assert!(
        sdk_date::distance(signed_at, SystemTime::now()) < Duration::from_secs(60),
        "X-Sdk-Date {date} is not now"
    );
    let auth = head.header("authorization");
    assert!(
        auth.starts_with(&format!("SDK-HMAC-SHA256 Access={}, ", key.ak)),
        "{auth}"
    );
    let check = head.signature(key, b"");
    assert!(
        matches!(check, SignatureCheck::Verified(_)),
        "{check:?} for {} {}?{:?} {:?}",
        head.method,
        head.path,
        head.query,
        head.headers
    );
}

// ---------------------------------------------------------------------
// Proxies and metrics
// ---------------------------------------------------------------------

/// The test config in front of `upstream`, holding `keys`.
fn signing_config(upstream: &str, keys: &[&Credential]) -> Config {
    let mut config = config_for(upstream);
    config.signing.credentials = keys.iter().map(|key| (*key).clone()).collect();
    config
}

fn identity(keystone_url: &str, share: Share) -> IdentityConfig {
    IdentityConfig {
        keystone_url: keystone_url.parse().expect("keystone url"),
        validation_ttl: VALIDATION_TTL,
        timeout: Duration::from_secs(2),
        share,
        service_token: None,
        // Far above what these tests send at once: the cap has its own
        // test (tests/isolation.rs).
        max_concurrent_validations: 64,
    }
}

/// The test config in front of `upstream`, validating tokens at `keystone_url`.
fn token_config(upstream: &str, keystone_url: &str, share: Share) -> Config {
    let mut config = config_for(upstream);
    config.identity = Some(identity(keystone_url, share));
    config
}

/// `http://127.0.0.1:PORT/v3` where nothing listens.
async fn closed_keystone_url() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    format!("http://{addr}/v3")
}

async fn signed_requests(admin: &str, result: &str) -> f64 {
    let series = format!("imgcache_signed_requests_total{{result=\"{result}\"}}");
    metric_value(admin, &series).await
}

async fn validations(admin: &str, result: &str) -> f64 {
    let series = format!("imgcache_token_validations_total{{result=\"{result}\"}}");
    metric_value(admin, &series).await
}

async fn hit_path_responses(admin: &str) -> f64 {
    metric_value(admin, "imgcache_hit_path_responses_total").await
}

/// `GET` of an image with `token` (a new connection each time).
async fn get_with_token(proxy: &ProxyHandle, id: &str, token: &str) -> Reply {
    get(&proxy.url(&image_path(id)), &[("x-auth-token", token)]).await
}

fn upstream_gets(sample: &glance_sample::SampleHandle, id: &str) -> u64 {
    sample.control.requests("GET", &image_path(id))
}

/// A token of the sample's alice in project-a, spelled `n` ways: Keystone
/// and the sample read the same user, project and roles in each.
fn alice_token(n: usize) -> String {
    format!("{TOKEN_A}{}", ",".repeat(n))
}

const STORED: &str = "imgcache; fwd=miss; stored";
const BYPASS: &str = "imgcache; fwd=bypass";

fn is_hit(cache_status: &str) -> bool {
    cache_status.starts_with("imgcache; hit; ttl=")
}

// ---------------------------------------------------------------------
// 1. Verified signatures use the cache
// ---------------------------------------------------------------------

/// A verified signed read is cached under its access key: the same key
/// signing again (a new `X-Sdk-Date`, so a new signature) hits, on a new
/// connection (answered by the hit path) and on the kept-alive one that
/// filled; the upstream is asked once.
#[tokio::test]
async fn verified_signed_reads_hit_per_access_key() {
    let (upstream, url) = image_upstream("").await;
    let key = key_a();
    let proxy = start_proxy_with(signing_config(&url, &[&key])).await;
    let admin = start_admin(&proxy, None).await;
    let path = image_path(IMAGE);

    let mut kept = Conn::open(proxy.addr).await;
    let fill = on(&mut kept, &sdk_get(&key, PROJECT, &path, ago(30))).await;
    assert_eq!(fill.status, 200, "{fill:?}");
    assert_eq!(fill.header("cache-status"), STORED);

    let fresh = on_new_connection(proxy.addr, &sdk_get(&key, PROJECT, &path, ago(20))).await;
    assert!(is_hit(fresh.header("cache-status")), "{fresh:?}");
    assert_eq!(fresh.body, fill.body);
    assert_eq!(
        hit_path_responses(&admin).await,
        1.0,
        "the hit path answered"
    );

    let again = on(&mut kept, &sdk_get(&key, PROJECT, &path, ago(10))).await;
    assert!(is_hit(again.header("cache-status")), "{again:?}");
    assert_eq!(hit_path_responses(&admin).await, 2.0);

    assert_eq!(upstream.heads().len(), 1, "one GET upstream");
    assert_eq!(signed_requests(&admin, "verified").await, 3.0);
}

// ---------------------------------------------------------------------
// 2. Unverifiable signatures bypass the cache
// ---------------------------------------------------------------------

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
    let proxy = start_proxy_with(signing_config(&url, &[&key])).await;
    let admin = start_admin(&proxy, None).await;
    let path = image_path(IMAGE);
    let fill = on_new_connection(proxy.addr, &sdk_get(&key, PROJECT, &path, ago(5))).await;
    assert_eq!(fill.header("cache-status"), STORED);

    let good = |at| sdk_headers(&key, PROJECT, "GET", &path, b"", at);
    let mut tampered = good(ago(3));
    let last = tampered.iter_mut().find(|(n, _)| n == "Authorization");
    let value = &mut last.expect("Authorization").1;
    let flipped = if value.ends_with('0') { '1' } else { '0' };
    value.pop();
    value.push(flipped);
    let wrong_secret = Credential {
        ak: AK_A.into(),
        sk: "not-the-secret".into(),
    };
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
        let reply = on_new_connection(proxy.addr, &wire("GET", &path, lines, b"")).await;
        assert_eq!(reply.status, 200, "{what}: {reply:?}");
        assert_eq!(reply.header("cache-status"), BYPASS, "{what}");
        assert_eq!(upstream.heads().len(), n + 2, "{what}: forwarded");
        let head = last_head(&upstream);
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
        assert_eq!(signed_requests(&admin, result).await, count, "{result}");
    }
    assert_eq!(hit_path_responses(&admin).await, 0.0);
}

/// A signed body larger than `signing.max_body_bytes` is not read to be
/// verified: the write goes upstream unverified, as the client signed it
/// (its `Host` and `Authorization`), counted `body_not_read`.
#[tokio::test]
async fn a_signed_body_too_large_to_read_goes_upstream_as_signed() {
    let (upstream, url) = image_upstream("").await;
    let key = key_a();
    let mut config = signing_config(&url, &[&key]);
    config.signing.max_body_bytes = 64;
    let proxy = start_proxy_with(config).await;
    let admin = start_admin(&proxy, None).await;
    let path = image_path(IMAGE);
    let value = "x".repeat(100);
    let body = format!(r#"[{{"op": "replace", "path": "/name", "value": "{value}"}}]"#);
    let lines = sdk_headers(&key, PROJECT, "PATCH", &path, body.as_bytes(), ago(2));
    let reply = on_new_connection(proxy.addr, &wire("PATCH", &path, &lines, body.as_bytes())).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    let head = last_head(&upstream);
    assert_eq!(head.method, "PATCH");
    assert_eq!(head.header("host"), CLIENT_HOST);
    assert_eq!(head.header("authorization"), authorization(&lines));
    assert_eq!(signed_requests(&admin, "body_not_read").await, 1.0);
    assert_eq!(signed_requests(&admin, "verified").await, 0.0);
}

// ---------------------------------------------------------------------
// 3. Verified requests are signed again for the upstream
// ---------------------------------------------------------------------

/// A verified read that misses goes upstream signed again with the same
/// credential: the upstream's own `Host`, a fresh `X-Sdk-Date`, and a
/// signature over the path the upstream receives — its base path
/// included, the proxy's listen prefix (which the client signed) not.
#[tokio::test]
async fn a_miss_is_signed_again_for_the_upstream() {
    for (prefix, base_path) in [("", ""), ("", "/base"), ("/glance", "/image")] {
        let (upstream, url) = image_upstream(base_path).await;
        let key = key_a();
        let mut config = signing_config(&url, &[&key]);
        config.server.path_prefix = prefix.into();
        let proxy = start_proxy_with(config).await;
        let path = image_path(IMAGE);
        let signed_at = ago(10 * 60);
        let target = format!("{prefix}{path}");
        let reply =
            on_new_connection(proxy.addr, &sdk_get(&key, PROJECT, &target, signed_at)).await;
        let case = format!("prefix {prefix:?}, base path {base_path:?}");
        assert_eq!(reply.header("cache-status"), STORED, "{case}: {reply:?}");
        let head = last_head(&upstream);
        assert_eq!(head.path, format!("{base_path}{path}"), "{case}");
        assert_resigned(&head, &upstream, &key, &sdk_date::format(signed_at));
        assert_eq!(head.header("x-project-id"), PROJECT);
        let hit = on_new_connection(proxy.addr, &sdk_get(&key, PROJECT, &target, ago(1))).await;
        assert!(is_hit(hit.header("cache-status")), "{case}: {hit:?}");
    }
}

/// An HTTP/2 client signs its `:authority` as `host`: a verified request
/// is signed again for the upstream like any other; an unverified one
/// reaches the upstream with that authority as its `Host`, as signed.
#[tokio::test]
async fn http2_signatures_cover_the_authority() {
    let (upstream, url) = image_upstream("").await;
    let key = key_a();
    let proxy = start_proxy_with(signing_config(&url, &[&key])).await;
    let admin = start_admin(&proxy, None).await;
    let path = image_path(IMAGE);
    let authority = proxy.addr.to_string();
    let request = ("GET", path.as_str(), &b""[..]);
    let signed_at = ago(30);
    let good = sdk_headers_for(&authority, &key, PROJECT, request, signed_at);
    let fill = h2_get(&proxy.url(&path), &good).await;
    assert_eq!(fill.header("cache-status"), STORED, "{fill:?}");
    let client_date = sdk_date::format(signed_at);
    assert_resigned(&last_head(&upstream), &upstream, &key, &client_date);

    let wrong_secret = Credential {
        ak: AK_A.into(),
        sk: "not-the-secret".into(),
    };
    let bad = sdk_headers_for(&authority, &wrong_secret, PROJECT, request, ago(20));
    let reply = h2_get(&proxy.url(&path), &bad).await;
    assert_eq!(reply.header("cache-status"), BYPASS, "{reply:?}");
    let head = last_head(&upstream);
    assert_eq!(head.header("host"), authority, "the signed :authority");
    assert_eq!(head.header("authorization"), authorization(&bad));
    assert_eq!(signed_requests(&admin, "verified").await, 1.0);
    assert_eq!(signed_requests(&admin, "bad_signature").await, 1.0);
}

/// `GET` over HTTP/2 (prior knowledge) with `lines` but `Host` (the URL
/// gives the `:authority`).
async fn h2_get(url: &str, lines: &[(String, String)]) -> Reply {
    let client = hyper_util::client::legacy::Client::builder(TokioExecutor::new())
        .http2_only(true)
        .build_http::<Full<Bytes>>();
    let mut request = http::Request::new(Full::default());
    *request.uri_mut() = url.parse().expect("url");
    for (name, value) in lines.iter().filter(|(n, _)| n != "Host") {
        request.headers_mut().append(
            HeaderName::from_bytes(name.as_bytes()).expect("name"),
            HeaderValue::from_str(value).expect("value"),
        );
    }
    let response = tokio::time::timeout(HANG_GUARD, client.request(request))
        .await
        .expect("no hang")
        .expect("an h2 response");
    assert_eq!(response.version(), http::Version::HTTP_2);
    read(response).await
}

/// A verified `PATCH` is signed again with the hash of its JSON body
/// (which the proxy read to verify it, by its `Content-Length`), and the
/// body reaches the upstream intact.
#[tokio::test]
async fn a_signed_write_is_signed_again_with_its_body_hash() {
    let (upstream, url) = image_upstream("").await;
    let key = key_a();
    let proxy = start_proxy_with(signing_config(&url, &[&key])).await;
    let admin = start_admin(&proxy, None).await;
    let path = image_path(IMAGE);
    let body = br#"[{"op": "replace", "path": "/name", "value": "renamed"}]"#;
    let signed_at = ago(60);
    let lines = sdk_headers(&key, PROJECT, "PATCH", &path, body, signed_at);
    let reply = on_new_connection(proxy.addr, &wire("PATCH", &path, &lines, body)).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(signed_requests(&admin, "verified").await, 1.0);
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
    let check = head.signature(&key, body);
    assert!(matches!(check, SignatureCheck::Verified(_)), "{check:?}");
    // The same head with another body does not verify: the hash is signed.
    let other = head.signature(&key, b"[]");
    assert!(!matches!(other, SignatureCheck::Verified(_)), "{other:?}");
}

/// A verified list request is signed again over its query string, as the
/// upstream receives it.
#[tokio::test]
async fn a_signed_list_is_signed_again_with_its_query() {
    let (upstream, url) = image_upstream("").await;
    let key = key_a();
    let proxy = start_proxy_with(signing_config(&url, &[&key])).await;
    let target = "/v2/images?limit=5&name=a%20b&visibility=private";
    let signed_at = ago(30);
    let reply = on_new_connection(proxy.addr, &sdk_get(&key, PROJECT, target, signed_at)).await;
    assert_eq!(reply.status, 200, "{reply:?}");
    let head = last_head(&upstream);
    assert_eq!(head.path, "/v2/images");
    assert_eq!(
        head.query.as_deref(),
        Some("limit=5&name=a%20b&visibility=private")
    );
    assert_resigned(&head, &upstream, &key, &sdk_date::format(signed_at));
}

// ---------------------------------------------------------------------
// 4. Access keys and projects stay apart
// ---------------------------------------------------------------------

/// Two held access keys never share an entry, and neither does one key
/// naming another `X-Project-Id`: each is its own upstream request, and
/// each then hits its own entry.
#[tokio::test]
async fn access_keys_and_projects_never_share_entries() {
    let (upstream, url) = image_upstream("").await;
    let (a, b) = (key_a(), key_b());
    let proxy = start_proxy_with(signing_config(&url, &[&a, &b])).await;
    let path = image_path(IMAGE);
    let callers = [
        ("AK-A", &a, PROJECT),
        ("AK-B", &b, PROJECT),
        ("AK-A, other project", &a, OTHER_PROJECT),
    ];
    for (n, (who, key, project)) in callers.iter().enumerate() {
        let reply = on_new_connection(proxy.addr, &sdk_get(key, project, &path, ago(9))).await;
        assert_eq!(reply.header("cache-status"), STORED, "{who}");
        assert_eq!(upstream.heads().len(), n + 1, "{who}");
    }
    for (who, key, project) in callers {
        let reply = on_new_connection(proxy.addr, &sdk_get(key, project, &path, ago(1))).await;
        assert!(is_hit(reply.header("cache-status")), "{who}: {reply:?}");
    }
    assert_eq!(upstream.heads().len(), 3);
}

// ---------------------------------------------------------------------
// 5. Tokens keyed on their scope
// ---------------------------------------------------------------------

/// Twenty different tokens Keystone says are the same user, project and
/// roles share one entry: one upstream GET, one validation call each,
/// nineteen hits answered by the hit path.
#[tokio::test]
async fn new_tokens_of_one_scope_share_one_entry() {
    let sample = start_sample().await;
    let keystone = FakeKeystone::start().await;
    let proxy = start_proxy_with(token_config(&sample.url(), &keystone.url(), Share::User)).await;
    let admin = start_admin(&proxy, None).await;
    let first = get_with_token(&proxy, PRIVATE_IMAGE_ID, &alice_token(0)).await;
    assert_eq!(first.status, 200);
    assert_eq!(first.header("cache-status"), STORED);
    for n in 1..20 {
        let reply = get_with_token(&proxy, PRIVATE_IMAGE_ID, &alice_token(n)).await;
        assert!(is_hit(reply.header("cache-status")), "token {n}: {reply:?}");
        assert_eq!(reply.body, first.body);
    }
    assert_eq!(upstream_gets(&sample, PRIVATE_IMAGE_ID), 1);
    assert_eq!(keystone.calls(), 20);
    assert_eq!(keystone.malformed_calls(), 0);
    assert_eq!(validations(&admin, "valid").await, 20.0);
    assert_eq!(hit_path_responses(&admin).await, 19.0);
}

/// `share = "project"` lets two users of one project with the same roles
/// share entries; `share = "user"` (the default) does not.
#[tokio::test]
async fn share_project_shares_among_users_and_share_user_does_not() {
    let carol = "carol:project-a:member";
    for (share, gets) in [(Share::User, 2), (Share::Project, 1)] {
        let sample = start_sample().await;
        let keystone = FakeKeystone::start().await;
        let proxy = start_proxy_with(token_config(&sample.url(), &keystone.url(), share)).await;
        let alice = get_with_token(&proxy, PRIVATE_IMAGE_ID, TOKEN_A).await;
        assert_eq!(alice.header("cache-status"), STORED, "{share:?}");
        let reply = get_with_token(&proxy, PRIVATE_IMAGE_ID, carol).await;
        assert_eq!(reply.status, 200, "{share:?}");
        assert_eq!(is_hit(reply.header("cache-status")), gets == 1, "{share:?}");
        assert_eq!(upstream_gets(&sample, PRIVATE_IMAGE_ID), gets, "{share:?}");
    }
}

/// Even with `share = "project"`, a token of another project (same role)
/// never gets the entry: the upstream answers it (Glance's 404 for a
/// private image it may not see).
#[tokio::test]
async fn a_token_of_another_project_never_gets_the_entry() {
    let sample = start_sample().await;
    let keystone = FakeKeystone::start().await;
    let proxy =
        start_proxy_with(token_config(&sample.url(), &keystone.url(), Share::Project)).await;
    let alice = get_with_token(&proxy, PRIVATE_IMAGE_ID, TOKEN_A).await;
    assert_eq!(alice.status, 200);
    let bob = get_with_token(&proxy, PRIVATE_IMAGE_ID, TOKEN_B).await;
    assert_eq!(bob.status, 404, "{bob:?}");
    assert!(!is_hit(bob.header("cache-status")), "{bob:?}");
    assert_eq!(upstream_gets(&sample, PRIVATE_IMAGE_ID), 2);
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
    let proxy = start_proxy_with(token_config(&sample.url(), &keystone.url(), Share::User)).await;
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
    assert_eq!(upstream_gets(&sample, PRIVATE_IMAGE_ID), 1);
}

/// A token Keystone calls invalid (404) is never answered from the cache,
/// not even from an entry of its own: every request is forwarded (and the
/// upstream judges it), and the verdict is remembered, not asked again.
#[tokio::test]
async fn an_invalid_token_is_never_answered_from_the_cache() {
    let sample = start_sample().await;
    let keystone = FakeKeystone::start().await;
    let proxy = start_proxy_with(token_config(&sample.url(), &keystone.url(), Share::User)).await;
    let admin = start_admin(&proxy, None).await;
    let fill = get_with_token(&proxy, PRIVATE_IMAGE_ID, TOKEN_A).await;
    assert_eq!(fill.header("cache-status"), STORED);
    // Same user, project and roles to the sample; revoked for Keystone.
    let invalid = alice_token(1);
    keystone.revoke(&invalid);
    for _ in 0..2 {
        let reply = get_with_token(&proxy, PRIVATE_IMAGE_ID, &invalid).await;
        assert_eq!(reply.header("cache-status"), BYPASS, "{reply:?}");
    }
    assert_eq!(upstream_gets(&sample, PRIVATE_IMAGE_ID), 3);
    assert_eq!(validations(&admin, "invalid").await, 1.0);
    assert_eq!(keystone.calls(), 2);
}

/// A token revoked after it was validated is trusted until its validation
/// is due (`identity.validation_ttl`), then bypasses the cache.
#[tokio::test]
async fn a_revoked_token_bypasses_once_its_validation_is_due() {
    let sample = start_sample().await;
    let keystone = FakeKeystone::start().await;
    let proxy = start_proxy_with(token_config(&sample.url(), &keystone.url(), Share::User)).await;
    let admin = start_admin(&proxy, None).await;
    let fill = get_with_token(&proxy, PRIVATE_IMAGE_ID, TOKEN_A).await;
    assert_eq!(fill.header("cache-status"), STORED);
    keystone.revoke(TOKEN_A);
    let remembered = get_with_token(&proxy, PRIVATE_IMAGE_ID, TOKEN_A).await;
    assert!(is_hit(remembered.header("cache-status")), "{remembered:?}");
    assert_eq!(keystone.calls(), 1);
    proxy.proxy.clock().advance(VALIDATION_TTL);
    let revoked = get_with_token(&proxy, PRIVATE_IMAGE_ID, TOKEN_A).await;
    assert_eq!(revoked.header("cache-status"), BYPASS, "{revoked:?}");
    assert_eq!(keystone.calls(), 2);
    assert_eq!(validations(&admin, "invalid").await, 1.0);
    assert_eq!(upstream_gets(&sample, PRIVATE_IMAGE_ID), 2);
}

/// A validation is trusted no longer than the token lives: a token that
/// expires before `identity.validation_ttl` is validated again once its
/// `expires_at` has passed.
#[tokio::test]
async fn a_validation_ends_when_the_token_expires() {
    let sample = start_sample().await;
    let keystone = FakeKeystone::start().await;
    keystone.expire_in(TOKEN_A, Duration::from_secs(20));
    let proxy = start_proxy_with(token_config(&sample.url(), &keystone.url(), Share::User)).await;
    get_with_token(&proxy, PRIVATE_IMAGE_ID, TOKEN_A).await;
    get_with_token(&proxy, PRIVATE_IMAGE_ID, TOKEN_A).await;
    assert_eq!(keystone.calls(), 1);
    proxy.proxy.clock().advance(Duration::from_secs(21));
    let reply = get_with_token(&proxy, PRIVATE_IMAGE_ID, TOKEN_A).await;
    assert!(is_hit(reply.header("cache-status")), "{reply:?}");
    assert_eq!(keystone.calls(), 2, "validated again after expires_at");
}

/// keystonemiddleware takes the token from `X-Storage-Token` too: a
/// token there is validated and finds the entry its scope filled. Two
/// different tokens at once are ambiguous: not validated, keyed as sent.
#[tokio::test]
async fn the_storage_token_is_validated_too() {
    let sample = start_sample().await;
    let keystone = FakeKeystone::start().await;
    let proxy = start_proxy_with(token_config(&sample.url(), &keystone.url(), Share::User)).await;
    let url = proxy.url(&image_path(PRIVATE_IMAGE_ID));
    let fill = get(&url, &[("x-auth-token", &alice_token(0))]).await;
    assert_eq!(fill.header("cache-status"), STORED);
    let storage = get(&url, &[("x-storage-token", &alice_token(1))]).await;
    assert!(is_hit(storage.header("cache-status")), "{storage:?}");
    assert_eq!(keystone.calls(), 2);
    let both = [
        ("x-auth-token", alice_token(0)),
        ("x-storage-token", alice_token(2)),
    ];
    let both: Vec<(&str, &str)> = both.iter().map(|(n, v)| (*n, v.as_str())).collect();
    let ambiguous = get(&url, &both).await;
    assert_eq!(ambiguous.header("cache-status"), STORED, "{ambiguous:?}");
    assert_eq!(keystone.calls(), 2, "not validated");
    assert_eq!(upstream_gets(&sample, PRIVATE_IMAGE_ID), 2);
}

/// With `identity.service_token` set, a 401 from Keystone says the
/// service token was refused, not the user's token: no answer (the raw
/// token is keyed), never `invalid`.
#[tokio::test]
async fn a_refused_service_token_keys_the_raw_token() {
    let sample = start_sample().await;
    let keystone = FakeKeystone::requiring_service_token("svc-right").await;
    let mut config = token_config(&sample.url(), &keystone.url(), Share::User);
    if let Some(identity) = config.identity.as_mut() {
        identity.service_token = Some("svc-wrong".into());
    }
    let proxy = start_proxy_with(config).await;
    let admin = start_admin(&proxy, None).await;
    let fill = get_with_token(&proxy, PRIVATE_IMAGE_ID, TOKEN_A).await;
    assert_eq!(fill.header("cache-status"), STORED, "{fill:?}");
    let again = get_with_token(&proxy, PRIVATE_IMAGE_ID, TOKEN_A).await;
    assert!(is_hit(again.header("cache-status")), "{again:?}");
    assert_eq!(validations(&admin, "unavailable").await, 1.0);
    assert_eq!(validations(&admin, "invalid").await, 0.0);
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
    let proxy = start_proxy_with(token_config(&sample.url(), &keystone_url, Share::User)).await;
    let admin = start_admin(&proxy, None).await;
    let first = get_with_token(&proxy, PRIVATE_IMAGE_ID, TOKEN_A).await;
    assert_eq!(first.status, 200, "{first:?}");
    assert_eq!(first.header("cache-status"), STORED);
    assert_eq!(validations(&admin, "unavailable").await, 1.0);
    let again = get_with_token(&proxy, PRIVATE_IMAGE_ID, TOKEN_A).await;
    assert!(is_hit(again.header("cache-status")), "{again:?}");
    assert_eq!(
        validations(&admin, "unavailable").await,
        1.0,
        "not retried yet"
    );
    let other = get_with_token(&proxy, PRIVATE_IMAGE_ID, &alice_token(1)).await;
    assert_eq!(other.header("cache-status"), STORED, "{other:?}");
    assert_eq!(upstream_gets(&sample, PRIVATE_IMAGE_ID), 2);
    assert_eq!(validations(&admin, "unavailable").await, 2.0, "a new token");
    proxy.proxy.clock().advance(Duration::from_secs(5));
    let later = get_with_token(&proxy, PRIVATE_IMAGE_ID, TOKEN_A).await;
    assert!(is_hit(later.header("cache-status")), "{later:?}");
    assert_eq!(validations(&admin, "unavailable").await, 3.0, "retried");
}

/// Keystone slower than `identity.timeout`: the request does not wait
/// for it — it completes (long before Keystone would answer) as without
/// validation, counted `unavailable`.
#[tokio::test]
async fn a_slow_keystone_falls_back_to_the_raw_token() {
    let sample = start_sample().await;
    let keystone = FakeKeystone::start().await;
    keystone.set_latency(Duration::from_secs(120));
    let mut config = token_config(&sample.url(), &keystone.url(), Share::User);
    if let Some(identity) = config.identity.as_mut() {
        identity.timeout = Duration::from_millis(200);
    }
    let proxy = start_proxy_with(config).await;
    let admin = start_admin(&proxy, None).await;
    let reply = tokio::time::timeout(
        Duration::from_secs(15),
        get_with_token(&proxy, PRIVATE_IMAGE_ID, TOKEN_A),
    )
    .await
    .expect("answered without waiting for Keystone");
    assert_eq!(reply.status, 200);
    assert_eq!(reply.header("cache-status"), STORED);
    assert_eq!(validations(&admin, "unavailable").await, 1.0);
    assert_eq!(keystone.calls(), 1);
}

/// Keystone's statuses: a 5xx is no answer (the raw token is keyed, the
/// request is served and cached as without validation); a 401 to a token
/// validating itself says the token is invalid (bypass).
#[tokio::test]
async fn keystone_errors_key_the_raw_token_and_refusals_bypass() {
    let sample = start_sample().await;
    let keystone = FakeKeystone::start().await;
    let proxy = start_proxy_with(token_config(&sample.url(), &keystone.url(), Share::User)).await;
    let admin = start_admin(&proxy, None).await;
    keystone.set_status(Some(StatusCode::SERVICE_UNAVAILABLE));
    let down = alice_token(1);
    let fill = get_with_token(&proxy, PRIVATE_IMAGE_ID, &down).await;
    assert_eq!(fill.header("cache-status"), STORED, "{fill:?}");
    let hit = get_with_token(&proxy, PRIVATE_IMAGE_ID, &down).await;
    assert!(is_hit(hit.header("cache-status")), "{hit:?}");
    assert_eq!(validations(&admin, "unavailable").await, 1.0);
    keystone.set_status(Some(StatusCode::UNAUTHORIZED));
    let refused = alice_token(2);
    for _ in 0..2 {
        let reply = get_with_token(&proxy, PRIVATE_IMAGE_ID, &refused).await;
        assert_eq!(reply.header("cache-status"), BYPASS, "{reply:?}");
    }
    assert_eq!(validations(&admin, "invalid").await, 1.0);
    assert_eq!(upstream_gets(&sample, PRIVATE_IMAGE_ID), 3);
}

// ---------------------------------------------------------------------
// 6. The Redis tier keys on the principal
// ---------------------------------------------------------------------

/// The Redis a test uses: `IMGCACHE_TEST_REDIS_URL`, or one of its own;
/// `None` (skip) when there is neither.
async fn test_redis() -> Option<(String, Option<RedisServer>)> {
    if let Ok(url) = std::env::var("IMGCACHE_TEST_REDIS_URL") {
        return Some((url, None));
    }
    if !available() {
        return None;
    }
    let server = RedisServer::start().await;
    Some((server.url(), Some(server)))
}

fn fleet_redis(url: &str) -> RedisConfig {
    RedisConfig {
        url: url.to_owned(),
        key_secret: Some("principals-secret".into()),
        timeout: Duration::from_millis(200),
        lock_ttl: Duration::from_secs(3),
        poll_interval: Duration::from_millis(10),
        key_prefix: format!("imgcache:test:{}", uuid::Uuid::new_v4().simple()),
    }
}

/// Two instances sharing Redis: token A fills on one, token B of the same
/// scope finds the entry on the other, without an upstream request.
#[tokio::test]
async fn a_token_scope_fills_once_for_the_fleet() {
    let Some((url, _own)) = test_redis().await else {
        eprintln!("SKIPPED: no Redis for the fleet test");
        return;
    };
    let sample = start_sample().await;
    let keystone = FakeKeystone::start().await;
    let mut config = token_config(&sample.url(), &keystone.url(), Share::User);
    config.redis = Some(fleet_redis(&url));
    let one = start_proxy_with(config.clone()).await;
    let two = start_proxy_with(config).await;
    let fill = get_with_token(&one, PRIVATE_IMAGE_ID, &alice_token(0)).await;
    assert_eq!(fill.header("cache-status"), STORED);
    let shared = get_with_token(&two, PRIVATE_IMAGE_ID, &alice_token(1)).await;
    assert!(
        shared.header("cache-status").ends_with("detail=shared"),
        "{shared:?}"
    );
    assert_eq!(shared.body, fill.body);
    assert_eq!(upstream_gets(&sample, PRIVATE_IMAGE_ID), 1);
    let other = get_with_token(&two, PRIVATE_IMAGE_ID, "carol:project-a:member").await;
    assert_eq!(
        other.header("cache-status"),
        STORED,
        "another user: {other:?}"
    );
}

/// Two instances sharing Redis: a verified signed read fills on one, the
/// same access key signing again finds it on the other; the upstream is
/// asked once.
#[tokio::test]
async fn an_access_key_fills_once_for_the_fleet() {
    let Some((redis, _own)) = test_redis().await else {
        eprintln!("SKIPPED: no Redis for the fleet test");
        return;
    };
    let (upstream, url) = image_upstream("").await;
    let key = key_a();
    let mut config = signing_config(&url, &[&key]);
    config.redis = Some(fleet_redis(&redis));
    let one = start_proxy_with(config.clone()).await;
    let two = start_proxy_with(config).await;
    let path = image_path(IMAGE);
    let fill = on_new_connection(one.addr, &sdk_get(&key, PROJECT, &path, ago(5))).await;
    assert_eq!(fill.header("cache-status"), STORED);
    let shared = on_new_connection(two.addr, &sdk_get(&key, PROJECT, &path, ago(1))).await;
    assert!(
        shared.header("cache-status").ends_with("detail=shared"),
        "{shared:?}"
    );
    assert_eq!(upstream.heads().len(), 1);
}

// ---------------------------------------------------------------------
// 7. Secrets stay secret
// ---------------------------------------------------------------------

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
    let mut config = signing_config(&url, &[&key]);
    let mut identity = identity(&keystone.url(), Share::User);
    identity.service_token = Some(service_token.into());
    config.identity = Some(identity);
    let signed_proxy = start_proxy_with(config.clone()).await;
    let signed_admin = start_admin(&signed_proxy, None).await;
    config.upstream = config_for(&sample.url()).upstream;
    let token_proxy = start_proxy_with(config).await;
    let token_admin = start_admin(&token_proxy, None).await;

    let path = image_path(IMAGE);
    for at in [ago(3), ago(1)] {
        on_new_connection(signed_proxy.addr, &sdk_get(&key, PROJECT, &path, at)).await;
    }
    assert_eq!(upstream.heads().len(), 1);
    for _ in 0..2 {
        let reply = get_with_token(&token_proxy, PRIVATE_IMAGE_ID, token).await;
        assert_eq!(reply.status, 200);
    }
    assert_eq!(
        validations(&token_admin, "valid").await,
        1.0,
        "validated with the service token"
    );
    assert_eq!(signed_requests(&signed_admin, "verified").await, 2.0);

    for admin in [&signed_admin, &token_admin] {
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

/// Guards the helpers above: a request signed here verifies with the
/// crate's verifier as the proxy receives it, so a failure elsewhere is
/// the proxy's, not the test's signing.
#[test]
fn test_signing_matches_the_verifier() {
    let key = key_a();
    let target = "/v2/images?limit=5&name=a%20b";
    let lines = sdk_headers(&key, PROJECT, "GET", target, b"", SystemTime::now());
    let raw = String::from_utf8(wire("GET", target, &lines, b"")).expect("text");
    let head = Head::parse(&raw);
    assert!(matches!(
        head.signature(&key, b""),
        SignatureCheck::Verified(_)
    ));
    assert!(matches!(
        head.signature(&key_b(), b""),
        SignatureCheck::Unverified { .. }
    ));
}
