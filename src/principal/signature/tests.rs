//! The canonicalisation against vectors huaweicloudsdkcore's own `Signer`
//! produced (`tests/golden/signing/vectors.json`, made by
//! `tests/interop/signing/make_vectors.py`), and hand-made cases.

use std::time::{Duration, SystemTime};

use base64::Engine as _;
use http::{HeaderMap, HeaderName, HeaderValue, Request};
use serde::Deserialize;

use super::*;
use crate::config::{Credential, SigningConfig};
use crate::principal::sdk_date;
use crate::principal::signing::{
    self as verifier, Body, RequestLine, SignatureCheck, Signing, Unverified,
};

#[derive(Deserialize)]
struct Vector {
    name: String,
    method: String,
    target: String,
    headers: Vec<(String, String)>,
    body_b64: String,
    ak: String,
    sk: String,
    canonical_request: String,
    string_to_sign: String,
    signature: String,
    authorization: String,
}

fn vectors() -> Vec<Vector> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/golden/signing/vectors.json"
    );
    let text = std::fs::read_to_string(path).expect("the SDK's vectors");
    let vectors: Vec<Vector> = serde_json::from_str(&text).expect("vectors JSON");
    assert!(vectors.len() >= 10, "too few vectors");
    vectors
}

fn header_map(pairs: &[(String, String)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.append(
            HeaderName::from_bytes(name.as_bytes()).expect("name"),
            HeaderValue::from_bytes(value.as_bytes()).expect("value"),
        );
    }
    map
}

fn split_target(target: &str) -> (&str, Option<&str>) {
    match target.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (target, None),
    }
}

fn signing(ak: &str, sk: &str) -> Signing {
    Signing::new(&SigningConfig {
        clock_skew: Duration::from_secs(15 * 60),
        max_body_bytes: 1 << 20,
        credentials: vec![Credential {
            ak: ak.to_owned(),
            sk: sk.to_owned(),
        }],
    })
}

fn date_of(headers: &HeaderMap) -> SystemTime {
    let date = headers["x-sdk-date"].to_str().expect("date");
    sdk_date::parse(date).expect("a valid date")
}

fn body_of(bytes: &[u8]) -> Body<'_> {
    if bytes.is_empty() {
        Body::Empty
    } else {
        Body::Read(bytes)
    }
}

/// Every step of every vector matches the SDK: canonical request, string
/// to sign, signature; and the verifier accepts the request as sent.
#[test]
fn sdk_vectors() {
    for v in vectors() {
        let headers = header_map(&v.headers);
        let body = base64::engine::general_purpose::STANDARD
            .decode(&v.body_b64)
            .expect("base64 body");
        let (path, query) = split_target(&v.target);
        let auth = Authorization::parse(&v.authorization).expect("authorization");
        assert_eq!(auth.access, v.ak, "{}", v.name);
        let values: Vec<(&str, &str)> = auth
            .signed_headers
            .iter()
            .map(|name| {
                (
                    *name,
                    std::str::from_utf8(headers[*name].as_bytes()).expect("UTF-8"),
                )
            })
            .collect();
        let declared = headers
            .get(CONTENT_SHA256_HEADER)
            .map(|v| v.to_str().expect("text").to_owned());
        let hash = match payload_hash(!body.is_empty(), declared.as_deref()) {
            Some(hash) => hash.into_owned(),
            None => body_hash(&body),
        };
        let signed = Signed {
            method: &v.method,
            path,
            query,
            headers: values,
            payload_hash: &hash,
            date: headers["x-sdk-date"].to_str().expect("date"),
        };
        assert_eq!(
            signed.canonical_request(),
            v.canonical_request,
            "{}",
            v.name
        );
        assert_eq!(signed.string_to_sign(), v.string_to_sign, "{}", v.name);
        assert_eq!(
            signed.sign(v.sk.as_bytes()).as_deref(),
            Some(v.signature.as_str()),
            "{}",
            v.name
        );
        assert_eq!(
            signed.authorization(&v.ak, &v.signature),
            v.authorization,
            "{}",
            v.name
        );

        let line = RequestLine {
            method: &v.method,
            path,
            query,
            authority: None,
        };
        let check = signing(&v.ak, &v.sk).check(line, &headers, body_of(&body), date_of(&headers));
        assert!(
            matches!(check, SignatureCheck::Verified(_)),
            "{}: {check:?}",
            v.name
        );
        let wrong = signing(&v.ak, "not-the-secret").check(
            line,
            &headers,
            body_of(&body),
            date_of(&headers),
        );
        assert!(
            matches!(
                wrong,
                SignatureCheck::Unverified {
                    reason: Unverified::BadSignature,
                    ..
                }
            ),
            "{}: {wrong:?}",
            v.name
        );
    }
}

/// The canonical URI and query as the SDK builds them.
#[test]
fn canonical_forms() {
    assert_eq!(canonical_uri("/v2/images/abc"), "/v2/images/abc/");
    assert_eq!(canonical_uri("/v2/images/abc/"), "/v2/images/abc/");
    assert_eq!(canonical_uri("/"), "/");
    assert_eq!(
        canonical_uri("/a%20b/c~d/%E2%82%AC"),
        "/a%20b/c~d/%E2%82%AC/"
    );
    // `unquote` first: an encoded slash splits like a plain one.
    assert_eq!(canonical_uri("/a%2Fb"), "/a/b/");
    assert_eq!(canonical_uri("/a%2fb!'()*"), "/a/b%21%27%28%29%2A/");
    assert_eq!(canonical_query(""), "");
    assert_eq!(canonical_query("b=2&a=1&a=&c"), "a=&a=1&b=2&c=");
    assert_eq!(canonical_query("name=a%20b&limit=2"), "limit=2&name=a%20b");
    assert_eq!(canonical_query("x=a+b&&y=%7e"), "x=a%2Bb&y=~");
}

/// A well-formed value parses; anything else is refused.
#[test]
fn authorization_values() {
    let auth = Authorization::parse(
        "SDK-HMAC-SHA256 Access=AK1, SignedHeaders=host;x-sdk-date, Signature=ab12",
    )
    .expect("parses");
    assert_eq!(auth.access, "AK1");
    assert_eq!(auth.signed_headers, ["host", "x-sdk-date"]);
    assert!(auth.signs_host());
    for bad in [
        "Bearer x",
        "SDK-HMAC-SHA256",
        "SDK-HMAC-SHA256 Access=AK1, Signature=ab",
        "SDK-HMAC-SHA256 Access=, SignedHeaders=host, Signature=ab",
        "SDK-HMAC-SHA256 Access=AK1, SignedHeaders=Host, Signature=ab",
        "SDK-HMAC-SHA256 Access=AK1, Access=AK2, SignedHeaders=host, Signature=ab",
        "SDK-HMAC-SHA256 Access=AK1, SignedHeaders=host;;x, Signature=ab",
    ] {
        assert!(Authorization::parse(bad).is_err(), "{bad}");
    }
}

const AK: &str = "AKTEST";
const SK: &str = "secret-key";

/// A GET of an image signed as the SDK signs it, at `date`.
fn signed_get(path: &str, host: &str, date: &str, sk: &str) -> HeaderMap {
    let mut headers = HeaderMap::new();
    headers.insert("host", HeaderValue::from_str(host).expect("host"));
    headers.insert("x-sdk-date", HeaderValue::from_str(date).expect("date"));
    headers.insert("x-project-id", HeaderValue::from_static("proj-a"));
    headers.insert("content-type", HeaderValue::from_static("application/json"));
    let signed = Signed {
        method: "GET",
        path,
        query: None,
        headers: vec![
            ("content-type", "application/json"),
            ("host", host),
            ("x-project-id", "proj-a"),
            ("x-sdk-date", date),
        ],
        payload_hash: EMPTY_PAYLOAD_HASH,
        date,
    };
    let signature = signed.sign(sk.as_bytes()).expect("signs");
    let value = signed.authorization(AK, &signature);
    headers.insert(
        "authorization",
        HeaderValue::from_str(&value).expect("value"),
    );
    headers
}

fn get_line(path: &str) -> RequestLine<'_> {
    RequestLine {
        method: "GET",
        path,
        query: None,
        authority: None,
    }
}

/// Each thing the signature covers, changed, stops it verifying; a date
/// past the skew, an unknown key, a repeated signed header and an unread
/// body each have their reason.
#[test]
fn tampering_is_caught() {
    let now = SystemTime::now();
    let date = sdk_date::format(now);
    let path = "/v2/images/abc";
    let verifier = signing(AK, SK);
    let check = |line, headers: &HeaderMap, body, at| verifier.check(line, headers, body, at);
    let headers = signed_get(path, "proxy:8080", &date, SK);
    assert!(matches!(
        check(get_line(path), &headers, Body::Empty, now),
        SignatureCheck::Verified(_)
    ));
    let reason = |c: SignatureCheck| match c {
        SignatureCheck::Unverified { reason, keeps_host } => {
            assert!(keeps_host);
            Some(reason)
        }
        _ => None,
    };
    assert_eq!(
        reason(check(
            get_line("/v2/images/abd"),
            &headers,
            Body::Empty,
            now
        )),
        Some(Unverified::BadSignature)
    );
    let mut other_host = headers.clone();
    other_host.insert("host", HeaderValue::from_static("upstream:9292"));
    assert_eq!(
        reason(check(get_line(path), &other_host, Body::Empty, now)),
        Some(Unverified::BadSignature)
    );
    let mut other_project = headers.clone();
    other_project.insert("x-project-id", HeaderValue::from_static("proj-b"));
    assert_eq!(
        reason(check(get_line(path), &other_project, Body::Empty, now)),
        Some(Unverified::BadSignature)
    );
    let mut repeated = headers.clone();
    repeated.append("x-project-id", HeaderValue::from_static("proj-a"));
    assert_eq!(
        reason(check(get_line(path), &repeated, Body::Empty, now)),
        Some(Unverified::Malformed)
    );
    assert_eq!(
        reason(check(get_line(path), &headers, Body::Unread, now)),
        Some(Unverified::BodyNotRead)
    );
    let wrong_sk = signed_get(path, "proxy:8080", &date, "other");
    assert_eq!(
        reason(check(get_line(path), &wrong_sk, Body::Empty, now)),
        Some(Unverified::BadSignature)
    );
    // 16 minutes either way is past API Gateway's 15.
    for skew in [16 * 60, -16 * 60] {
        let at = if skew > 0 {
            now + Duration::from_secs(skew as u64)
        } else {
            now - Duration::from_secs((-skew) as u64)
        };
        assert_eq!(
            reason(check(get_line(path), &headers, Body::Empty, at)),
            Some(Unverified::ClockSkew)
        );
    }
    assert!(matches!(
        check(
            get_line(path),
            &headers,
            Body::Empty,
            now + Duration::from_secs(14 * 60)
        ),
        SignatureCheck::Verified(_)
    ));
    let stranger = signing("OTHER", SK).check(get_line(path), &headers, Body::Empty, now);
    assert_eq!(reason(stranger), Some(Unverified::UnknownKey));
    // Not signed at all, or a bearer token: nothing to judge.
    let mut bearer = HeaderMap::new();
    bearer.insert("authorization", HeaderValue::from_static("Bearer abc"));
    assert!(matches!(
        check(get_line(path), &bearer, Body::Empty, now),
        SignatureCheck::NotSigned
    ));
    // Another signing scheme: not verifiable here, bypassed.
    let mut aws = HeaderMap::new();
    aws.insert(
        "authorization",
        HeaderValue::from_static(
            "AWS4-HMAC-SHA256 Credential=x, SignedHeaders=host;x-amz-date, Signature=y",
        ),
    );
    assert!(matches!(
        check(get_line(path), &aws, Body::Empty, now),
        SignatureCheck::Unverified {
            reason: Unverified::Malformed,
            keeps_host: true
        }
    ));
}

/// A verified request signed again for the upstream verifies there, with
/// the upstream's host, path and the same credential.
#[test]
fn resigned_requests_verify_upstream() {
    let now = SystemTime::now();
    let date = sdk_date::format(now);
    let verifier = signing(AK, SK);
    let headers = signed_get("/image/v2/images/abc", "proxy:8080", &date, SK);
    let SignatureCheck::Verified(verified) =
        verifier.check(get_line("/image/v2/images/abc"), &headers, Body::Empty, now)
    else {
        panic!("the client's request verifies");
    };
    let mut request = Request::new(());
    *request.uri_mut() = "http://ims.example:9292/base/v2/images/abc"
        .parse()
        .expect("uri");
    *request.headers_mut() = headers.clone();
    verifier::resign(&mut request, &verified, now);
    let sent = request.headers();
    assert_eq!(sent["host"], "ims.example:9292");
    assert_ne!(sent["authorization"], headers["authorization"]);
    let upstream_line = get_line("/base/v2/images/abc");
    assert!(matches!(
        verifier.check(upstream_line, sent, Body::Empty, now),
        SignatureCheck::Verified(_)
    ));
    let stranger = signing(AK, "other").check(upstream_line, sent, Body::Empty, now);
    assert!(matches!(stranger, SignatureCheck::Unverified { .. }));
}
