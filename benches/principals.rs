//! What a principal costs per request: verifying an AK/SK signature as
//! Huawei's SDK makes it, signing a miss again for the upstream, and the
//! principal's cache identity; and the whole hit-path decision for a
//! signed read (`Proxy::plan_plain_get`: admission with the signature check, then the plan).
//!
//! `cargo bench --bench principals`

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use criterion::{Criterion, criterion_group, criterion_main};
use glance_sample::SampleService;
use http::{HeaderMap, HeaderName, HeaderValue, Request};
use imgcache::cache::entry::Entry;
use imgcache::cache::freshness::Freshness;
use imgcache::cache::key::{CacheKey, IdentityHeaders};
use imgcache::config::{Config, Credential, DEFAULT_IDENTITY_HEADERS, SigningConfig};
use imgcache::principal::Principal;
use imgcache::principal::sdk_date;
use imgcache::principal::signature::{EMPTY_PAYLOAD_HASH, Signed};
use imgcache::principal::signing::{self, Body, RequestLine, SignatureCheck, Signing};
use imgcache::proxy::{HitPathPlan, Proxy};
use imgcache::route::ImageId;

const ID: &str = "bc6bed6e-ba3a-4447-afcc-449174a3eb52";
const AK: &str = "HPUAEXAMPLEAK0000000";
const SK: &str = "example-secret-key-0123456789abcdefghijklm";
/// What huaweicloudsdkcore 3.1 sends as its User-Agent.
const USER_AGENT: &str = "huaweicloud-usdk-python/3.0; os/Linux##1_SMP_PREEMPT_DYNAMIC@0#x86_64 \
     python/3.11.7 impl/CPython; app/00000000-0000-4000-8000-000000000000";

fn path() -> String {
    format!("/v2/images/{ID}")
}

/// The headers of an SDK `glance_show_image` call, signed at `date`.
fn sdk_headers(date: &str) -> HeaderMap {
    let signed_values = [
        ("content-type", "application/json"),
        ("host", "127.0.0.1:8080"),
        ("user-agent", USER_AGENT),
        ("x-project-id", "0123456789abcdef0123456789abcdef"),
        ("x-sdk-date", date),
    ];
    let path = path();
    let signed = Signed {
        method: "GET",
        path: &path,
        query: None,
        headers: signed_values.to_vec(),
        payload_hash: EMPTY_PAYLOAD_HASH,
        date,
    };
    let signature = signed.sign(SK.as_bytes()).expect("signs");
    let mut headers = HeaderMap::new();
    for (name, value) in signed_values.iter().chain(&[
        ("accept", "*/*"),
        ("accept-encoding", "gzip, deflate"),
        ("connection", "keep-alive"),
    ]) {
        headers.insert(
            HeaderName::from_static(name),
            HeaderValue::from_str(value).expect("value"),
        );
    }
    headers.insert(
        "authorization",
        HeaderValue::from_str(&signed.authorization(AK, &signature)).expect("value"),
    );
    headers
}

fn signing_config() -> SigningConfig {
    SigningConfig {
        clock_skew: Duration::from_secs(15 * 60),
        max_body_bytes: 1 << 20,
        credentials: vec![Credential {
            ak: AK.into(),
            sk: SK.into(),
        }],
    }
}

fn line(path: &str) -> RequestLine<'_> {
    RequestLine {
        method: "GET",
        path,
        query: None,
        authority: None,
    }
}

fn bench_signature(c: &mut Criterion) {
    let verifier = Signing::new(&signing_config());
    let now = SystemTime::now();
    let headers = sdk_headers(&sdk_date::format(now));
    let path = path();
    c.bench_function("signing/verify_sdk_get", |b| {
        b.iter(|| {
            let check = verifier.check(
                line(black_box(&path)),
                black_box(&headers),
                Body::Empty,
                now,
            );
            assert!(matches!(check, SignatureCheck::Verified(_)));
        })
    });
    let SignatureCheck::Verified(verified) =
        verifier.check(line(&path), &headers, Body::Empty, now)
    else {
        panic!("verifies");
    };
    c.bench_function("signing/resign_for_upstream", |b| {
        b.iter(|| {
            let mut request = Request::new(());
            *request.uri_mut() =
                "http://ims.example:9292/v2/images/bc6bed6e-ba3a-4447-afcc-449174a3eb52"
                    .parse()
                    .expect("uri");
            *request.headers_mut() = headers.clone();
            signing::resign(&mut request, &verified, now);
            black_box(request)
        })
    });
    let names = IdentityHeaders::new(
        DEFAULT_IDENTITY_HEADERS
            .iter()
            .map(|n| HeaderName::from_static(n))
            .collect(),
    )
    .expect("fits");
    let principal = Principal::AccessKey(AK.into());
    c.bench_function("identity/access_key_principal", |b| {
        b.iter(|| black_box(principal.identity(black_box(&headers), &names, None)))
    });
}

/// The hit path's whole decision for an SDK read: route, header checks,
/// signature verification, principal identity, lookup, freshness.
fn bench_signed_plan(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let mut config = Config::defaults();
    config.signing = signing_config();
    let now = SystemTime::now();
    let headers = sdk_headers(&sdk_date::format(now));
    let proxy = runtime.block_on(async {
        let proxy = Proxy::new(&config).expect("proxy");
        let identity = Principal::AccessKey(AK.into())
            .identity(&headers, &config.cache.identity_headers, None)
            .expect("an identity");
        let image = SampleService::demo()
            .control()
            .image(glance_sample::EXAMPLE_IMAGE_ID)
            .expect("the example image");
        let mut upstream = HeaderMap::new();
        upstream.insert("content-type", HeaderValue::from_static("application/json"));
        let entry = Entry::new(
            &upstream,
            bytes::Bytes::from(image.to_string()),
            Freshness {
                lifetime: Duration::from_secs(3600),
                stale_while_revalidate: Duration::ZERO,
                stale_if_error: Duration::ZERO,
            },
            (0, 0),
            std::time::Instant::now(),
            Duration::ZERO,
        );
        let key = CacheKey {
            image_id: ImageId::new(ID),
            identity,
        };
        proxy.cache().store.insert(key, Arc::new(entry), 0).await;
        proxy
    });
    let mut head = format!("GET {} HTTP/1.1\r\n", path());
    for (name, value) in headers.iter() {
        head.push_str(&format!("{name}: {}\r\n", value.to_str().expect("text")));
    }
    head.push_str("\r\n");
    let mut lines = [httparse::EMPTY_HEADER; 16];
    let mut request = httparse::Request::new(&mut lines);
    request.parse(head.as_bytes()).expect("a request head");
    let raw = request.headers;
    let path = path();
    c.bench_function("plan/fresh_hit_signed_sdk_read", |b| {
        b.to_async(&runtime).iter(|| async {
            let plan = proxy
                .plan_plain_get(black_box(&path), black_box(raw), None)
                .await;
            assert!(matches!(plan, HitPathPlan::Answer(_)));
        })
    });
}

criterion_group!(benches, bench_signature, bench_signed_plan);
criterion_main!(benches);
