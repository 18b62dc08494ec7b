//! Requests signed as Huawei's SDK (huaweicloudsdkcore) signs them —
//! `content-type`, `host`, `user-agent`, `x-project-id` and `x-sdk-date`
//! signed — with the crate's own signature code, and the crate's verifier
//! to judge what an upstream received.

use std::time::{Duration, SystemTime};

use imgcache::config::{Credential, SigningConfig};
use imgcache::principal::sdk_date;
use imgcache::principal::signature::{EMPTY_PAYLOAD_HASH, Signed, body_hash};
use imgcache::principal::signing::{Body, RequestLine, SignatureCheck, Signing};

use super::ProxyHandle;
use super::raw::{RawUpstream, Script};
use super::wire::{Head, request_bytes, split_target};

/// The access keys the proxy holds, with their secrets.
pub const AK_A: &str = "HPUAQ7W3ZK1ALPHA0001";
pub const SK_A: &str = "sk-alpha-7c1d9e0f4b2a8d6e3f5a1b9c7d2e4f60";
pub const AK_B: &str = "HPUAQ7W3ZK1BRAVO0002";
pub const SK_B: &str = "sk-bravo-0e9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b";

/// The project a signed request names (`X-Project-Id`, signed).
pub const PROJECT: &str = "0b1ac0b5e2f34a3c9d6e7f8a9b0c1d2e";
pub const OTHER_PROJECT: &str = "9f8e7d6c5b4a39281706f5e4d3c2b1a0";

/// The endpoint the SDK signs for (the `Host` it sends).
pub const CLIENT_HOST: &str = "ims.eu-de.otc.t-systems.com";
pub const USER_AGENT: &str = "huaweicloud-usdk-python/3.0";
pub const JSON_PATCH: &str = "application/openstack-images-v2.1-json-patch";

pub fn key_a() -> Credential {
    Credential {
        ak: AK_A.into(),
        sk: SK_A.into(),
    }
}

pub fn key_b() -> Credential {
    Credential {
        ak: AK_B.into(),
        sk: SK_B.into(),
    }
}

/// [`AK_A`] with another secret: what it signs does not verify.
pub fn wrong_secret() -> Credential {
    Credential {
        ak: AK_A.into(),
        sk: "not-the-secret".into(),
    }
}

/// The image [`image_upstream`] serves, owned by [`PROJECT`].
pub const IMAGE: &str = "5c0e3f2a-8d41-4b6e-9a7c-1f2e3d4c5b6a";

/// An upstream serving [`IMAGE`] (an object the cache stores) at any
/// path, recording every request head (one connection each:
/// `Connection: close`); with its URL, `base_path` appended.
pub async fn image_upstream(base_path: &str) -> (RawUpstream, String) {
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

/// `imgcache_signed_requests_total{result}` of `proxy` (admin started).
pub async fn signed_requests(proxy: &ProxyHandle, result: &str) -> f64 {
    let series = format!("imgcache_signed_requests_total{{result=\"{result}\"}}");
    proxy.metric(&series).await
}

/// `seconds` ago.
pub fn ago(seconds: u64) -> SystemTime {
    SystemTime::now() - Duration::from_secs(seconds)
}

/// The header lines of a request signed as huaweicloudsdkcore signs it
/// for [`CLIENT_HOST`], in wire order, `Authorization` included.
pub fn sdk_headers(
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
pub fn sdk_headers_for(
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

/// A signed `GET` of `target` by `key` for `project`, signed at `at`.
pub fn sdk_get(key: &Credential, project: &str, target: &str, at: SystemTime) -> Vec<u8> {
    let lines = sdk_headers(key, project, "GET", target, b"", at);
    request_bytes("GET", target, &lines, b"")
}

/// `Authorization`'s value among `lines`.
pub fn authorization(lines: &[(String, String)]) -> &str {
    lines
        .iter()
        .find(|(name, _)| name == "Authorization")
        .map(|(_, value)| value.as_str())
        .expect("an Authorization line")
}

/// The signature on `head` (over `body`) as a verifier holding `key`
/// judges it, with a one minute skew: a re-signed request is signed now.
pub fn signature(head: &Head, key: &Credential, body: &[u8]) -> SignatureCheck {
    let signing = Signing::new(&SigningConfig {
        clock_skew: Duration::from_secs(60),
        max_body_bytes: 1 << 20,
        credentials: vec![key.clone()],
    });
    let line = RequestLine {
        method: &head.method,
        path: &head.path,
        query: head.query.as_deref(),
        authority: None,
    };
    let body = if body.is_empty() {
        Body::Empty
    } else {
        Body::Read(body)
    };
    signing.check(line, &head.headers, body, SystemTime::now())
}

/// Asserts `head` was signed again for `upstream` with `key`: its own
/// `Host`, a fresh `X-Sdk-Date` (not `client_date`) and a signature that
/// verifies over what it received.
pub fn assert_resigned(head: &Head, upstream: &RawUpstream, key: &Credential, client_date: &str) {
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
    let check = signature(head, key, b"");
    assert!(
        matches!(check, SignatureCheck::Verified(_)),
        "{check:?} for {} {}?{:?} {:?}",
        head.method,
        head.path,
        head.query,
        head.headers
    );
}
