//! Soak under faults: imgcache (the release binary, as a process) in
//! front of the sample image service with a 10% upstream error rate and
//! one full outage in the middle, driven at full speed by 64 keep-alive
//! clients over a Zipf mix of image ids. Prints one table: requests,
//! statuses, stale answers (during the outage too), wrong bodies (a 200
//! whose `id` is not the one asked for) and the proxy's RSS over time.
//!
//! `cargo bench --bench soak` (5 minutes) or `cargo bench --bench soak --
//! --seconds 60`. Loopback only; every process it starts is stopped.

use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use glance_sample::{Fault, SampleService, generated_id};
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

const IMAGES: usize = 2_000;
const CLIENTS: usize = 64;
const ERROR_PERMILLE: u32 = 100;

#[derive(Default)]
struct Tally {
    requests: AtomicU64,
    ok: AtomicU64,
    stale: AtomicU64,
    stale_in_outage: AtomicU64,
    status_4xx: AtomicU64,
    status_502: AtomicU64,
    status_503: AtomicU64,
    status_504: AtomicU64,
    status_other: AtomicU64,
    wrong_bodies: AtomicU64,
    client_errors: AtomicU64,
}

fn seconds_from_args() -> u64 {
    let args: Vec<String> = std::env::args().collect();
    args.windows(2)
        .find(|w| w[0] == "--seconds")
        .and_then(|w| w[1].parse().ok())
        .unwrap_or(300)
}

/// A Zipf(1)-like draw over `n` ids from a xorshift state.
fn zipf(state: &mut u64, n: usize) -> usize {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    let u = (*state >> 11) as f64 / (1u64 << 53) as f64;
    // Inverse CDF of a continuous 1/x law on [1, n]: a rank.
    ((n as f64).powf(u) as usize).saturating_sub(1).min(n - 1)
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

fn start_proxy(upstream: &str, listen: &str, admin: &str) -> Child {
    Command::new(env!("CARGO_BIN_EXE_imgcache"))
        .args([
            "--listen",
            listen,
            "--admin-listen",
            admin,
            "--upstream",
            upstream,
        ])
        .env("IMGCACHE_LOG", "warn")
        .env("IMGCACHE_CACHE_TTL", "5s")
        .env("IMGCACHE_CACHE_STALE_IF_ERROR", "1h")
        .env("IMGCACHE_UPSTREAM_BREAKER_COOLDOWN", "2s")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start imgcache")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

async fn client_loop(
    base: String,
    tally: Arc<Tally>,
    outage: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    seed: u64,
) {
    let client = Client::builder(TokioExecutor::new()).build_http::<Empty<Bytes>>();
    let mut state = seed | 1;
    while !stop.load(Ordering::Relaxed) {
        let id = generated_id(zipf(&mut state, IMAGES));
        let uri = format!("{base}/v2/images/{id}");
        let mut request = http::Request::new(Empty::new());
        *request.uri_mut() = uri.parse().expect("uri");
        request.headers_mut().insert(
            "x-auth-token",
            "soak:project-a:member".parse().expect("token"),
        );
        let response = match client.request(request).await {
            Ok(response) => response,
            Err(_) => {
                tally.client_errors.fetch_add(1, Ordering::Relaxed);
                continue;
            }
        };
        let status = response.status().as_u16();
        let stale = response
            .headers()
            .get("cache-status")
            .is_some_and(|v| v.as_bytes().windows(9).any(|w| w == b"fwd=stale"));
        let body = response.into_body().collect().await.map(|b| b.to_bytes());
        tally.requests.fetch_add(1, Ordering::Relaxed);
        count(
            &tally,
            status,
            stale,
            outage.load(Ordering::Relaxed),
            &id,
            body.ok(),
        );
    }
}

fn count(tally: &Tally, status: u16, stale: bool, in_outage: bool, id: &str, body: Option<Bytes>) {
    let slot = match status {
        200 => &tally.ok,
        400..=499 => &tally.status_4xx,
        502 => &tally.status_502,
        503 => &tally.status_503,
        504 => &tally.status_504,
        _ => &tally.status_other,
    };
    slot.fetch_add(1, Ordering::Relaxed);
    if stale {
        tally.stale.fetch_add(1, Ordering::Relaxed);
        if in_outage {
            tally.stale_in_outage.fetch_add(1, Ordering::Relaxed);
        }
    }
    if status == 200 {
        let right = body
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            .is_some_and(|v| v["id"] == id);
        if !right {
            tally.wrong_bodies.fetch_add(1, Ordering::Relaxed);
        }
    }
}

fn main() {
    let seconds = seconds_from_args();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(soak(Duration::from_secs(seconds)));
}

async fn soak(duration: Duration) {
    let sample = SampleService::with_generated(IMAGES)
        .start()
        .await
        .expect("sample");
    let (port, admin) = (free_port(), free_port());
    let mut proxy = start_proxy(
        &sample.url(),
        &format!("127.0.0.1:{port}"),
        &format!("127.0.0.1:{admin}"),
    );
    let base = format!("http://127.0.0.1:{port}");
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let tally = Arc::new(Tally::default());
    let (outage, stop) = (
        Arc::new(AtomicBool::new(false)),
        Arc::new(AtomicBool::new(false)),
    );
    sample.control.set_fault(Fault::ErrorRate {
        permille: ERROR_PERMILLE,
    });
    let mut clients = Vec::new();
    for n in 0..CLIENTS {
        let (tally, outage, stop) = (tally.clone(), outage.clone(), stop.clone());
        clients.push(tokio::spawn(client_loop(
            base.clone(),
            tally,
            outage,
            stop,
            0x9e37_79b9 * (n as u64 + 1),
        )));
    }
    let started = Instant::now();
    let mut rss = vec![(0u64, rss_kib(proxy.id()))];
    let (outage_from, outage_to) = (duration * 9 / 20, duration * 11 / 20);
    while started.elapsed() < duration {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let t = started.elapsed();
        let down = t >= outage_from && t < outage_to;
        if down != outage.swap(down, Ordering::Relaxed) {
            let fault = if down {
                Fault::Down
            } else {
                Fault::ErrorRate {
                    permille: ERROR_PERMILLE,
                }
            };
            sample.control.set_fault(fault);
            println!(
                "[{:>4}s] upstream {}",
                t.as_secs(),
                if down { "DOWN" } else { "back (10% errors)" }
            );
        }
        if t.as_secs().is_multiple_of((duration.as_secs() / 10).max(1)) {
            rss.push((t.as_secs(), rss_kib(proxy.id())));
        }
    }
    stop.store(true, Ordering::Relaxed);
    for client in clients {
        let _ = client.await;
    }
    rss.push((started.elapsed().as_secs(), rss_kib(proxy.id())));
    let upstream_requests = sample.control.total_requests();
    let _ = proxy.kill();
    let _ = proxy.wait();
    report(
        &tally,
        duration,
        (outage_from, outage_to),
        &rss,
        upstream_requests,
    );
}

fn report(
    t: &Tally,
    duration: Duration,
    outage: (Duration, Duration),
    rss: &[(u64, u64)],
    upstream: u64,
) {
    let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
    let requests = get(&t.requests);
    println!(
        "\nimgcache soak: {}s, {CLIENTS} clients, Zipf over {IMAGES} ids, {}% upstream errors, outage {}s–{}s, ttl 5s\n",
        duration.as_secs(),
        ERROR_PERMILLE / 10,
        outage.0.as_secs(),
        outage.1.as_secs()
    );
    println!("| measure | value |\n|---|---:|");
    println!("| requests answered | {requests} |");
    println!(
        "| requests/s | {:.0} |",
        requests as f64 / duration.as_secs_f64()
    );
    println!(
        "| upstream requests | {upstream} ({:.2}% of requests) |",
        100.0 * upstream as f64 / requests.max(1) as f64
    );
    println!("| 200 | {} |", get(&t.ok));
    println!("| 4xx | {} |", get(&t.status_4xx));
    println!(
        "| 502 / 503 / 504 | {} / {} / {} |",
        get(&t.status_502),
        get(&t.status_503),
        get(&t.status_504)
    );
    println!("| other statuses | {} |", get(&t.status_other));
    println!(
        "| stale served (all / during the outage) | {} / {} |",
        get(&t.stale),
        get(&t.stale_in_outage)
    );
    println!(
        "| wrong bodies (200 with another id) | {} |",
        get(&t.wrong_bodies)
    );
    println!(
        "| client-side errors (connection) | {} |",
        get(&t.client_errors)
    );
    let series: Vec<String> = rss
        .iter()
        .map(|(s, kib)| format!("{s}s {:.1}", *kib as f64 / 1024.0))
        .collect();
    println!("| proxy RSS MiB over time | {} |", series.join(", "));
}
