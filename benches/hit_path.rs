//! The pieces of the cache-hit path, each alone: route classification,
//! identity hashing, the cache lookup, and building the response (the hit
//! path's head in wire format, and hyper's response for comparison).
//!
//! `cargo bench --bench hit_path`

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{Criterion, criterion_group, criterion_main};
use glance_sample::{EXAMPLE_IMAGE_ID, SampleService};
use http::{HeaderMap, HeaderName, HeaderValue, Method};
use imgcache::cache::entry::Entry;
use imgcache::cache::freshness::Freshness;
use imgcache::cache::key::{CacheKey, Identity, IdentityHeaders};
use imgcache::cache::outcome::CacheOutcome;
use imgcache::cache::status;
use imgcache::cache::store::Store;
use imgcache::config::Config;
use imgcache::config::DEFAULT_IDENTITY_HEADERS;
use imgcache::hit_path::write_head;
use imgcache::proxy::{FreshHit, HitPathPlan, Proxy, respond};
use imgcache::route::{self, ImageId};

const ID: &str = "bc6bed6e-ba3a-4447-afcc-449174a3eb52";

/// A keystone-sized token and the headers a python-glanceclient sends.
fn client_headers() -> HeaderMap {
    let mut headers = HeaderMap::new();
    let token = format!("gAAAAAB{}", "x".repeat(180));
    for (name, value) in [
        ("host", "127.0.0.1:8080"),
        ("user-agent", "python-glanceclient"),
        ("accept", "*/*"),
        ("accept-encoding", "gzip, deflate"),
        ("connection", "keep-alive"),
        ("x-auth-token", token.as_str()),
    ] {
        headers.insert(
            HeaderName::from_static(name),
            HeaderValue::from_str(value).expect("value"),
        );
    }
    headers
}

fn identity_names() -> IdentityHeaders {
    IdentityHeaders::new(
        DEFAULT_IDENTITY_HEADERS
            .iter()
            .map(|n| HeaderName::from_static(n))
            .collect(),
    )
    .expect("the default list fits")
}

fn example_entry() -> Entry {
    let image = SampleService::demo()
        .control()
        .image(EXAMPLE_IMAGE_ID)
        .expect("the spec's example image");
    let body = Bytes::from(image.to_string());
    let mut upstream = HeaderMap::new();
    upstream.insert("content-type", HeaderValue::from_static("application/json"));
    let freshness = Freshness {
        lifetime: Duration::from_secs(300),
        stale_while_revalidate: Duration::ZERO,
        stale_if_error: Duration::from_secs(3600),
    };
    Entry::new(
        &upstream,
        body,
        freshness,
        (0, 0),
        Instant::now(),
        Duration::ZERO,
    )
}

fn bench_route(c: &mut Criterion) {
    let path = format!("/v2/images/{ID}");
    c.bench_function("route/classify_image_read", |b| {
        b.iter(|| route::classify(black_box(&Method::GET), black_box(&path), None))
    });
}

fn bench_identity(c: &mut Criterion) {
    let headers = client_headers();
    let names = identity_names();
    c.bench_function("identity/sha256_token", |b| {
        b.iter(|| Identity::of(black_box(&headers), black_box(&names)))
    });
    let anonymous = HeaderMap::new();
    c.bench_function("identity/anonymous", |b| {
        b.iter(|| Identity::of(black_box(&anonymous), black_box(&names)))
    });
}

fn bench_lookup(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let store = Arc::new(Store::new(256 << 20));
    let identity = Identity::of(&client_headers(), &identity_names());
    runtime.block_on(async {
        for i in 0..10_000 {
            let key = CacheKey {
                image_id: ImageId::new(&format!("{i:08}-ba3a-4447-afcc-449174a3eb52")),
                identity,
            };
            store.insert(key, Arc::new(example_entry()), 0).await;
        }
        let key = CacheKey {
            image_id: ImageId::new(ID),
            identity,
        };
        store.insert(key, Arc::new(example_entry()), 0).await;
    });
    let key = CacheKey {
        image_id: ImageId::new(ID),
        identity,
    };
    c.bench_function("cache/lookup_hit_10k_entries", |b| {
        b.to_async(&runtime).iter(|| store.get(black_box(&key), 0))
    });
}

/// The whole decision for a hit-path request: route, underscore and
/// hop-by-hop check, bypass, identity, lookup among 10,000 entries,
/// freshness (`Proxy::plan_plain_get` → `Proxy::admit` → `Proxy::plan`).
fn bench_plan(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let proxy = runtime.block_on(async {
        let proxy = Proxy::new(&Config::defaults()).expect("proxy");
        let identity = Identity::of(&client_headers(), &identity_names());
        for i in 0..10_000 {
            let key = CacheKey {
                image_id: ImageId::new(&format!("{i:08}-ba3a-4447-afcc-449174a3eb52")),
                identity,
            };
            proxy
                .cache()
                .store
                .insert(key, Arc::new(example_entry()), 0)
                .await;
        }
        let key = CacheKey {
            image_id: ImageId::new(ID),
            identity,
        };
        proxy
            .cache()
            .store
            .insert(key, Arc::new(example_entry()), 0)
            .await;
        proxy
    });
    let head = client_head();
    let mut lines = [httparse::EMPTY_HEADER; 16];
    let mut request = httparse::Request::new(&mut lines);
    request.parse(head.as_bytes()).expect("a request head");
    let path = format!("/v2/images/{ID}");
    let headers = request.headers;
    c.bench_function("plan/fresh_hit_10k_entries", |b| {
        b.to_async(&runtime).iter(|| async {
            let plan = proxy
                .plan_plain_get(black_box(&path), black_box(headers), None)
                .await;
            assert!(matches!(plan, HitPathPlan::Answer(_)));
        })
    });
}

/// The head python-glanceclient sends for an image read.
fn client_head() -> String {
    let mut head = format!("GET /v2/images/{ID} HTTP/1.1\r\n");
    for (name, value) in client_headers().iter() {
        head.push_str(&format!("{}: {}\r\n", name, value.to_str().expect("text")));
    }
    head.push_str("\r\n");
    head
}

fn bench_response(c: &mut Criterion) {
    let entry = example_entry();
    let request = client_headers();
    c.bench_function("respond/hit_through_hyper", |b| {
        b.iter(|| respond::hit(black_box(&entry), Instant::now(), black_box(&request)))
    });
    let hit = FreshHit {
        entry: Arc::new(example_entry()),
        outcome: CacheOutcome::Hit { ttl: 299 },
        age: status::age(1),
        underscored: 0,
        principal: imgcache::proxy::PrincipalKind::Anonymous,
    };
    let mut out = Vec::with_capacity(4096);
    c.bench_function("respond/hit_path_head", |b| {
        b.iter(|| {
            out.clear();
            write_head(&mut out, black_box(&hit), b"req-client", false);
            black_box(out.len())
        })
    });
    // A hit without the client's id gets a new one: what that costs.
    c.bench_function("respond/request_id_generate", |b| {
        b.iter(|| black_box(imgcache::request_id::RequestId::generate()))
    });
}

criterion_group!(
    benches,
    bench_route,
    bench_identity,
    bench_lookup,
    bench_plan,
    bench_response
);
criterion_main!(benches);
