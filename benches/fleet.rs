//! A simulated fleet: 8 imgcache instances (in this process, each with
//! its own listener and memory cache) in front of one sample image
//! service, each driven by its own Zipf stream over 10,000 ids — once
//! without the Redis tier, once with it. Prints upstream requests for
//! both, and the latency of an L1 hit, an L2 hit and a miss.
//!
//! `cargo bench --bench fleet` (needs `redis-server` on the PATH).
//! Loopback only; the redis-server it starts is stopped at the end.

#[path = "../tests/common/redis.rs"]
#[allow(dead_code)]
mod redis_server;

use std::time::{Duration, Instant};

use bytes::Bytes;
use glance_sample::{SampleService, generated_id};
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use imgcache::config::{Config, RedisConfig, parse_upstream_url};
use imgcache::proxy::Proxy;
use redis_server::RedisServer;
use tokio::net::TcpListener;

const INSTANCES: usize = 8;
const IMAGES: usize = 10_000;
const REQUESTS_PER_INSTANCE: usize = 4_000;
const CLIENTS_PER_INSTANCE: usize = 4;

type HttpClient = Client<HttpConnector, Empty<Bytes>>;

fn zipf(state: &mut u64, n: usize) -> usize {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    let u = (*state >> 11) as f64 / (1u64 << 53) as f64;
    ((n as f64).powf(u) as usize).saturating_sub(1).min(n - 1)
}

async fn start_instance(upstream: &str, redis: Option<RedisConfig>) -> String {
    let mut config = Config::defaults();
    config.server.listen = "127.0.0.1:0".parse().expect("addr");
    let (origin, base_path) = parse_upstream_url(upstream).expect("url");
    config.upstream.origin = origin;
    config.upstream.base_path = base_path;
    config.redis = redis;
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let proxy = Proxy::new(&config).expect("proxy");
    tokio::spawn(async move {
        imgcache::server::run(listener, proxy, &config.server, std::future::pending()).await;
    });
    format!("http://{addr}")
}

async fn get(client: &HttpClient, base: &str, id: &str) -> (u16, String) {
    let mut request = http::Request::new(Empty::new());
    *request.uri_mut() = format!("{base}/v2/images/{id}").parse().expect("uri");
    request.headers_mut().insert(
        "x-auth-token",
        "fleet:project-a:member".parse().expect("token"),
    );
    let response = client.request(request).await.expect("response");
    let status = response.status().as_u16();
    let cache = response
        .headers()
        .get("cache-status")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let _ = response.into_body().collect().await;
    (status, cache)
}

/// Drives every instance with its own Zipf stream; returns upstream
/// image reads made.
async fn drive(instances: &[String], sample: &glance_sample::SampleHandle) -> u64 {
    let before = sample.control.total_requests();
    let mut tasks = Vec::new();
    for (n, base) in instances.iter().enumerate() {
        for c in 0..CLIENTS_PER_INSTANCE {
            let base = base.clone();
            tasks.push(tokio::spawn(async move {
                let client: HttpClient = Client::builder(TokioExecutor::new()).build_http();
                let mut state = 0x2545_f491_4f6c_dd1d ^ ((n * 31 + c) as u64 + 1);
                for _ in 0..REQUESTS_PER_INSTANCE / CLIENTS_PER_INSTANCE {
                    let id = generated_id(zipf(&mut state, IMAGES));
                    get(&client, &base, &id).await;
                }
            }));
        }
    }
    for task in tasks {
        let _ = task.await;
    }
    sample.control.total_requests() - before
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

/// Median latency of an L1 hit, an L2 hit and a miss, 300 samples each.
async fn latencies(a: &str, b: &str) -> (Duration, Duration, Duration) {
    let client: HttpClient = Client::builder(TokioExecutor::new()).build_http();
    let (mut l1, mut l2, mut miss) = (Vec::new(), Vec::new(), Vec::new());
    for i in 0..300 {
        let id = generated_id(IMAGES + i);
        let started = Instant::now();
        let (_, cache) = get(&client, a, &id).await;
        if cache.contains("fwd=miss") {
            miss.push(started.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(2)).await; // the fill shares after answering
        let started = Instant::now();
        let (_, cache) = get(&client, b, &id).await;
        if cache.contains("detail=shared") {
            l2.push(started.elapsed());
        }
        let started = Instant::now();
        let (_, cache) = get(&client, b, &id).await;
        if cache.starts_with("imgcache; hit") && !cache.contains("shared") {
            l1.push(started.elapsed());
        }
    }
    (median(l1), median(l2), median(miss))
}

fn main() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let sample = SampleService::with_generated(IMAGES + 300).start().await.expect("sample");
        let redis = RedisServer::start().await;
        let redis_config = RedisConfig {
            key_secret: Some("bench".into()),
            timeout: Duration::from_millis(50),
            lock_ttl: Duration::from_secs(3),
            poll_interval: Duration::from_millis(5),
            key_prefix: "imgcache:bench".into(),
            ..RedisConfig::single(&redis.url())
        };
        let mut local = Vec::new();
        let mut shared = Vec::new();
        for _ in 0..INSTANCES {
            local.push(start_instance(&sample.url(), None).await);
            shared.push(start_instance(&sample.url(), Some(redis_config.clone())).await);
        }
        let without = drive(&local, &sample).await;
        let with = drive(&shared, &sample).await;
        let (l1, l2, miss) = latencies(&shared[0], &shared[1]).await;
        let total = (INSTANCES * REQUESTS_PER_INSTANCE) as u64;
        println!("\nimgcache fleet: {INSTANCES} instances × {REQUESTS_PER_INSTANCE} requests, Zipf over {IMAGES} ids, one identity\n");
        println!("| tier | upstream requests | share of requests |\n|---|---:|---:|");
        println!("| memory only (each instance alone) | {without} | {:.1}% |", 100.0 * without as f64 / total as f64);
        println!("| memory + shared Redis | {with} | {:.1}% |", 100.0 * with as f64 / total as f64);
        println!("\n| answer | median latency (loopback, one client) |\n|---|---:|");
        println!("| L1 hit (own memory) | {:.0} µs |", l1.as_secs_f64() * 1e6);
        println!("| L2 hit (Redis, then stored locally) | {:.0} µs |", l2.as_secs_f64() * 1e6);
        println!("| miss (upstream on loopback, no added latency) | {:.0} µs |", miss.as_secs_f64() * 1e6);
    });
}
