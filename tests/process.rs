//! The `imgcache` binary as an operator runs it: config errors, signals,
//! and the demo.

mod binary;
mod common;

use std::process::Command;
use std::time::Duration;

use binary::*;
use common::*;

/// A bad config file: exit 64 and every problem listed, not just the first.
#[test]
fn bad_config_exits_64_listing_every_problem() {
    let path = temp_file(
        "bad.toml",
        "[server]\nlisten = \"nowhere\"\n[cache]\nttl = \"soon\"\ncolour = 1\n[transform]\nmode = \"x\"\n",
    );
    let output = Command::new(BIN)
        .args(["--config", path.to_str().expect("path")])
        .env_remove("IMGCACHE_CONFIG")
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(64));
    let stderr = String::from_utf8_lossy(&output.stderr);
    for needle in [
        "server.listen",
        "cache.ttl",
        "cache.colour",
        "transform.mode",
        "4 problem(s)",
    ] {
        assert!(stderr.contains(needle), "missing {needle}: {stderr}");
    }
}

/// Environment overrides are checked too, and a missing explicit file and
/// a bad flag are usage errors (64) as well.
#[test]
fn env_and_flag_errors_exit_64() {
    let output = Command::new(BIN)
        .args(["--check-config", "--upstream", "not a url"])
        .env("IMGCACHE_CACHE_MAX_BYTES", "lots")
        .env_remove("IMGCACHE_CONFIG")
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(64));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("IMGCACHE_CACHE_MAX_BYTES") && stderr.contains("upstream.url"),
        "{stderr}"
    );

    let missing = Command::new(BIN)
        .args(["--config", "/nonexistent/imgcache.toml"])
        .output()
        .expect("run");
    assert_eq!(missing.status.code(), Some(64));
    let unknown_flag = Command::new(BIN)
        .arg("--no-such-flag")
        .output()
        .expect("run");
    assert_eq!(unknown_flag.status.code(), Some(64));
}

/// `--check-config` on the shipped file succeeds without starting anything,
/// and prints the effective config as TOML (not a debug dump).
#[test]
fn check_config_accepts_the_shipped_file() {
    let output = Command::new(BIN)
        .args(["--check-config", "--config", "config/imgcache.toml"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run");
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let printed = String::from_utf8_lossy(&output.stdout);
    assert!(printed.starts_with("# configuration ok\n"), "{printed}");
    let effective: toml::Table = toml::from_str(&printed).expect("the output is TOML");
    assert!(effective["upstream"]["url"].is_str(), "{printed}");
    assert!(!printed.contains("as_read"), "{printed}");
}

/// The printed config is what the proxy runs with (env and flags applied,
/// defaults filled in), with every secret redacted wherever it was set,
/// and it reads back as a config that prints the same.
#[test]
fn check_config_prints_the_effective_config_without_secrets() {
    let path = temp_file(
        "secrets.toml",
        "[server]\nworkers = 3\n\
         [redis]\nurl = \"redis://app:url-pw-1@127.0.0.1:6379/0\"\nkey_secret = \"key-secret-2\"\n\
         [[signing.credentials]]\nak = \"AKVISIBLE\"\nsk = \"sk-secret-3\"\n",
    );
    let check = |config: &std::path::Path| {
        let output = Command::new(BIN)
            .args(["--check-config", "--config", config.to_str().expect("path")])
            .args(["--upstream", "http://127.0.0.1:9292"])
            .env_remove("IMGCACHE_CONFIG")
            .env("IMGCACHE_ADMIN_TOKEN", "admin-token-4")
            .env("IMGCACHE_IDENTITY_KEYSTONE_URL", "http://127.0.0.1:5000")
            .env("IMGCACHE_IDENTITY_SERVICE_TOKEN", "service-token-5")
            .output()
            .expect("run");
        assert_eq!(
            output.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).expect("utf-8")
    };
    let printed = check(&path);
    for secret in [
        "url-pw-1",
        "key-secret-2",
        "sk-secret-3",
        "admin-token-4",
        "service-token-5",
    ] {
        assert!(!printed.contains(secret), "{secret} shown: {printed}");
    }
    let effective: toml::Table = toml::from_str(&printed).expect("the output is TOML");
    assert_eq!(effective["server"]["workers"].as_integer(), Some(3));
    assert_eq!(
        effective["upstream"]["url"].as_str(),
        Some("http://127.0.0.1:9292")
    );
    assert_eq!(
        effective["redis"]["url"].as_str(),
        Some("redis://app:<redacted>@127.0.0.1:6379/0")
    );
    assert_eq!(effective["admin"]["token"].as_str(), Some("<redacted>"));
    assert_eq!(
        effective["identity"]["service_token"].as_str(),
        Some("<redacted>")
    );
    assert_eq!(
        effective["signing"]["credentials"][0]["ak"].as_str(),
        Some("AKVISIBLE")
    );
    // Defaults are filled in: a key the file never names is printed.
    assert!(effective["cache"]["ttl"].is_str(), "{printed}");

    // Read back, it is a valid config that prints the same.
    let again = temp_file("effective.toml", &printed);
    assert_eq!(check(&again), printed);
}

/// `--check-config | head`: a reader that goes away is not a crash (it
/// was a panic, exit 101).
#[test]
fn check_config_survives_a_closed_pipe() {
    let mut child = Command::new(BIN)
        .args(["--check-config", "--config", "config/imgcache.toml"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run");
    drop(child.stdout.take());
    let output = child.wait_with_output().expect("wait");
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// SIGTERM with a request in flight: /readyz turns 503 at once, that
/// request completes, new connections are refused, and the process exits 0.
#[tokio::test]
async fn sigterm_drains_in_flight_requests() {
    let sample = start_sample().await;
    sample.control.set_latency(Duration::from_millis(1500));
    let upstream = sample.url();
    let (mut child, addr, admin) = spawn_proxy_with_admin(&loopback_args(&upstream));
    let url = format!("http://{addr}/v2/images?limit=1");
    let in_flight = tokio::spawn(async move { get(&url, &[("x-auth-token", TOKEN_A)]).await });
    // Barrier: the upstream has the request, so it is in flight.
    eventually("the request reached the upstream", || {
        std::future::ready(sample.control.total_requests() > 0)
    })
    .await;
    sigterm(&child);
    let readyz = format!("http://{admin}/readyz");
    eventually("/readyz says 503 while draining", || async {
        let ready = get(&readyz, &[]).await;
        let draining = ready.status == 503;
        if draining {
            assert!(String::from_utf8_lossy(&ready.body).contains("shutting down"));
        }
        draining
    })
    .await;
    eventually("new connections are refused after SIGTERM", || async {
        tokio::net::TcpStream::connect(addr).await.is_err()
    })
    .await;
    let reply = in_flight.await.expect("task");
    assert_eq!(reply.status, 200, "the in-flight request completes");
    let status = tokio::task::spawn_blocking(move || child.wait())
        .await
        .expect("join")
        .expect("wait");
    assert_eq!(status.code(), Some(0));
}

/// `--demo` serves the sample catalogue through the proxy, prints curl
/// commands, and a repeated read shows a miss and then a hit.
#[cfg(feature = "demo")]
#[tokio::test]
async fn demo_shows_a_miss_then_a_hit() {
    use std::io::{BufRead, BufReader};

    let (mut child, addr) = spawn_proxy(&[
        "--demo",
        "--listen",
        "127.0.0.1:0",
        "--admin-listen",
        "127.0.0.1:0",
    ]);
    let stdout = child.stdout.take().expect("stdout");
    let printed = std::thread::spawn(move || {
        BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .take_while(|l| !l.contains("Ctrl-C"))
            .collect::<Vec<_>>()
            .join("\n")
    });
    let url = format!("http://{addr}/v2/images/{EXAMPLE_IMAGE_ID}");
    let first = get(&url, &[("x-auth-token", TOKEN_A)]).await;
    let second = get(&url, &[("x-auth-token", TOKEN_A)]).await;
    assert_eq!(first.status, 200);
    assert_eq!(first.json()["id"], EXAMPLE_IMAGE_ID);
    assert_eq!(first.outcome(), STORED);
    assert!(is_hit(second.outcome()));
    assert_eq!(first.body, second.body);
    sigterm(&child);
    let text = printed.join().expect("stdout reader");
    assert!(
        text.contains("curl") && text.contains(EXAMPLE_IMAGE_ID),
        "{text}"
    );
    let status = child.wait().expect("wait");
    assert_eq!(status.code(), Some(0));
}

/// A build without the `demo` feature refuses `--demo` as a usage error
/// (64) that says the build has no demo, instead of starting a proxy
/// (`cargo test --no-default-features --test process`, run by `.ci/run`).
#[cfg(not(feature = "demo"))]
#[test]
fn demo_is_refused_without_the_demo_feature() {
    let output = Command::new(BIN)
        .args([
            "--demo",
            "--listen",
            "127.0.0.1:0",
            "--admin-listen",
            "127.0.0.1:0",
        ])
        .output()
        .expect("run");
    assert_eq!(output.status.code(), Some(64));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("this build has no demo"), "{stderr}");
    assert!(output.stdout.is_empty());
}

/// With every log line on (debug), tokens and identity headers never
/// appear in the logs.
#[tokio::test]
async fn tokens_never_reach_the_logs() {
    let sample = start_sample().await;
    let upstream = sample.url();
    let (mut child, addr, _, lines_rx) = spawn_logging(&loopback_args(&upstream), "trace");
    let secret = "alice:project-a:member-SECRET-TOKEN-1234";
    let url = format!("http://{addr}/v2/images/{EXAMPLE_IMAGE_ID}");
    for _ in 0..2 {
        get(
            &url,
            &[
                ("x-auth-token", secret),
                ("cookie", "session=COOKIE-SECRET"),
                ("x-project-id", "PROJECT-SECRET"),
            ],
        )
        .await;
    }
    get(
        &format!("http://{addr}/v2/images/nope"),
        &[("x-auth-token", secret)],
    )
    .await;
    // Every request above came on a new connection, so the second read's
    // hit was answered on the hit path; so is this one. Both log the same
    // access event as hyper's path does.
    let raw = format!(
        "GET /v2/images/{EXAMPLE_IMAGE_ID} HTTP/1.1\r\nHost: x\r\nx-auth-token: {secret}\r\n\
         cookie: session=COOKIE-SECRET\r\nx-project-id: PROJECT-SECRET\r\n\r\n"
    );
    let answer = raw_exchange(addr, raw.as_bytes()).await;
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
    sigterm(&child);
    let _ = child.wait();
    let logs: Vec<String> = lines_rx.iter().collect();
    let hits = logs
        .iter()
        .filter(|l| l.contains("imgcache::access") && l.contains("imgcache; hit;"))
        .count();
    assert_eq!(hits, 2, "{logs:#?}");
    for line in &logs {
        for needle in ["SECRET-TOKEN", "COOKIE-SECRET", "PROJECT-SECRET"] {
            assert!(!line.contains(needle), "{needle} leaked: {line}");
        }
    }
}

/// Image ids are logged escaped: a `%0a` or `%00` in a path cannot start
/// a forged line or break one.
#[tokio::test]
async fn client_bytes_cannot_forge_log_lines() {
    let sample = start_sample().await;
    let upstream = sample.url();
    let (child, addr, _, lines_rx) = spawn_logging(&loopback_args(&upstream), "debug");
    for path in [
        "/v2/images/x%0aFORGED%20line",
        "/v2/images/y%00NUL%0d%0aFORGED",
    ] {
        send(
            http::Method::DELETE,
            &format!("http://{addr}{path}"),
            &[],
            b"",
        )
        .await;
    }
    sigterm(&child);
    let mut child = child;
    let _ = child.wait();
    let logs: Vec<String> = lines_rx.iter().collect();
    // The upstream refuses both (no token): each logs its ids once.
    let refused: Vec<&String> = logs
        .iter()
        .filter(|l| l.contains("write not accepted"))
        .collect();
    assert_eq!(refused.len(), 2, "{logs:#?}");
    assert!(refused[0].contains(r"x\nFORGED line"), "{logs:#?}");
    for line in &logs {
        assert!(!line.starts_with("FORGED"), "forged: {line:?}");
        assert!(!line.contains('\0'), "NUL in: {line:?}");
    }
}

/// Sends one request on a new connection and returns what arrives within
/// a moment (the connection stays open: keep-alive).
async fn raw_exchange(addr: std::net::SocketAddr, request: &[u8]) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    stream.write_all(request).await.expect("write");
    let mut buf = vec![0u8; 16384];
    let n = tokio::time::timeout(HANG_GUARD, stream.read(&mut buf))
        .await
        .expect("no hang")
        .expect("read");
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

/// Streams `total` bytes of a pattern as a chunked request body.
struct Upload {
    left: u64,
    chunk: bytes::Bytes,
}

impl http_body::Body for Upload {
    type Data = bytes::Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<bytes::Bytes>, Self::Error>>> {
        if self.left == 0 {
            return std::task::Poll::Ready(None);
        }
        let n = self.left.min(self.chunk.len() as u64) as usize;
        self.left -= n as u64;
        std::task::Poll::Ready(Some(Ok(http_body::Frame::data(self.chunk.slice(..n)))))
    }
}

fn rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    let kib: f64 = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
        .expect("VmRSS");
    kib / 1024.0
}

/// A 1 GiB chunked upload and a 1 GiB download stream through with the
/// proxy's RSS growing by a few MiB at most. A measurement, so ignored by
/// default: `cargo test --release --test process -- --ignored --nocapture`.
#[tokio::test]
#[ignore]
async fn one_gib_each_way_with_flat_memory() {
    const GIB: u64 = 1 << 30;
    let sample = start_sample().await;
    let upstream = sample.url();
    let (child, addr) = spawn_proxy(&loopback_args(&upstream));
    let before = rss_mib(child.id());
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<Upload>();
    let id = glance_sample::QUEUED_IMAGE_ID;
    let mut request = http::Request::new(Upload {
        left: GIB,
        chunk: bytes::Bytes::from(vec![7u8; 256 * 1024]),
    });
    *request.method_mut() = http::Method::PUT;
    *request.uri_mut() = format!("http://{addr}/v2/images/{id}/file")
        .parse()
        .expect("uri");
    request
        .headers_mut()
        .insert("x-auth-token", TOKEN_ADMIN.parse().expect("v"));
    request.headers_mut().insert(
        "content-type",
        "application/octet-stream".parse().expect("v"),
    );
    let started = std::time::Instant::now();
    let response = client.request(request).await.expect("upload answered");
    assert_eq!(response.status(), 204);
    let upload_secs = started.elapsed().as_secs_f64();
    assert_eq!(sample.control.last_upload().expect("upload").bytes, GIB);
    let after_upload = rss_mib(child.id());
    let download = client_download(addr, id).await;
    assert_eq!(download.0, GIB);
    let after_download = rss_mib(child.id());
    println!(
        "RSS MiB: {before:.1} at start, {after_upload:.1} after the 1 GiB upload ({:.0} MiB/s), {after_download:.1} after the 1 GiB download ({:.0} MiB/s)",
        1024.0 / upload_secs,
        1024.0 / download.1
    );
    assert!(after_upload - before < 16.0 && after_download - before < 16.0);
    let mut child = child;
    sigterm(&child);
    let _ = child.wait();
}

async fn client_download(addr: std::net::SocketAddr, id: &str) -> (u64, f64) {
    use http_body_util::BodyExt;
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<http_body_util::Empty<bytes::Bytes>>();
    let mut request = http::Request::new(http_body_util::Empty::new());
    *request.uri_mut() = format!("http://{addr}/v2/images/{id}/file")
        .parse()
        .expect("uri");
    request
        .headers_mut()
        .insert("x-auth-token", TOKEN_ADMIN.parse().expect("v"));
    let started = std::time::Instant::now();
    let mut body = client.request(request).await.expect("download").into_body();
    let mut total = 0u64;
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame.expect("frame").into_data() {
            total += data.len() as u64;
        }
    }
    (total, started.elapsed().as_secs_f64())
}
