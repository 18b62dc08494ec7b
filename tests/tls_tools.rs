//! The binary over TLS with the clients operators use: curl (`--cacert`,
//! HTTP/1.1 and `--http2`), `openssl s_client -alpn h2`, python-requests
//! with `verify=` and `cert=` for client certificates, and a SIGHUP that
//! swaps the certificate for new connections. A test whose tool is not
//! installed says so and passes (CI installs them all).

mod binary;
mod common;

use std::path::Path;
use std::process::{Child, Command, Stdio};

use binary::*;
use common::pki::{self, Ca, Issued};
use common::*;

/// Whether `tool` runs here; if not, the test is skipped with a note.
fn have(tool: &str, probe: &[&str]) -> bool {
    let found = Command::new(tool)
        .args(probe)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        eprintln!("skipped: {tool} is not installed");
    }
    found
}

/// The binary in front of `upstream` with TLS from `server` and, when
/// given, client certificates from `client_ca` keying the cache.
fn spawn_tls(upstream: &str, server: &Issued, client_ca: Option<&Ca>) -> (Running, String, String) {
    let mut toml = format!(
        // Only SIGHUP reloads here: the file watcher has its own test.
        "[server]\ntls_cert_file = \"{}\"\ntls_key_file = \"{}\"\ntls_reload_interval = 0\n",
        server.cert_file.display(),
        server.key_file.display()
    );
    if let Some(ca) = client_ca {
        toml.push_str(&format!(
            "tls_client_ca_file = \"{}\"\ntls_client_identity = true\n",
            ca.file().display()
        ));
    }
    let config = server.cert_file.with_file_name("imgcache.toml");
    std::fs::write(&config, toml).expect("config");
    let mut args = vec!["--config", config.to_str().expect("path")];
    args.extend(loopback_args(upstream));
    let (child, addr, admin) = spawn_proxy_with_admin(&args);
    (
        Running(child),
        format!("https://127.0.0.1:{}", addr.port()),
        format!("http://{admin}"),
    )
}

/// Runs `curl` with `args`; returns its stdout (it must succeed).
fn curl(args: &[&str]) -> String {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "20"])
        .args(args)
        .output()
        .expect("curl");
    assert!(
        out.status.success(),
        "curl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The running binary; killed and waited for when dropped, also when a
/// test fails half-way (a `kill` that finds it gone is no new panic).
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn stop(running: Running) {
    drop(running);
}

/// curl --cacert over HTTP/1.1 gets a miss then a hit (the second
/// answered on the fast path), and curl --http2 speaks HTTP/2.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curl_over_http1_and_http2() {
    if !have("curl", &["--version"]) {
        return;
    }
    let sample = start_sample().await;
    let ca = Ca::new("ca");
    let (child, url, admin) = spawn_tls(&sample.url(), &ca.server("server", 1), None);
    let image = format!("{url}/v2/images/{EXAMPLE_IMAGE_ID}");
    let cacert = ca.file();
    let cacert = cacert.to_str().expect("path");
    let token = format!("x-auth-token: {TOKEN_A}");
    let status = "%{http_version} %{http_code}\\n";
    let both = curl(&[
        "--cacert",
        cacert,
        "--http1.1",
        "-H",
        &token,
        "-o",
        "/dev/null",
        "-w",
        status,
        &image,
        "-o",
        "/dev/null",
        &image,
    ]);
    assert_eq!(both, "1.1 200\n1.1 200\n", "two requests on one connection");
    let h2 = curl(&[
        "--cacert",
        cacert,
        "--http2",
        "-H",
        &token,
        "-o",
        "/dev/null",
        "-w",
        "%{http_version}",
        &image,
    ]);
    assert_eq!(h2, "2");
    assert_eq!(metric_value(&admin, HIT_PATH_RESPONSES).await, 1.0);
    assert_eq!(
        metric_value(&admin, "imgcache_tls_handshakes_total{protocol=\"h2\"}").await,
        1.0
    );
    stop(child);
}

/// `openssl s_client -alpn h2` is told h2; with only http/1.1 offered it
/// is told that.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openssl_shows_the_negotiated_protocol() {
    if !have("openssl", &["version"]) {
        return;
    }
    let sample = start_sample().await;
    let ca = Ca::new("ca");
    let (child, url, _) = spawn_tls(&sample.url(), &ca.server("server", 1), None);
    let connect = url.trim_start_matches("https://").to_owned();
    for (offer, expected) in [
        ("h2", "ALPN protocol: h2"),
        ("http/1.1", "ALPN protocol: http/1.1"),
    ] {
        let out = Command::new("openssl")
            .args(["s_client", "-connect", &connect, "-alpn", offer, "-CAfile"])
            .arg(ca.file())
            .stdin(Stdio::null())
            .output()
            .expect("openssl");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains(expected), "{offer}: {text}");
        assert!(text.contains("Verify return code: 0 (ok)"), "{text}");
    }
    stop(child);
}

/// python-requests with verify=<ca> and cert=(crt, key): each host's
/// certificate is its own cache identity; without a certificate the
/// handshake is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_requests_with_client_certificates() {
    if !have("python3", &["-c", "import requests"]) {
        return;
    }
    let sample = start_sample().await;
    let ca = Ca::new("ca");
    let (child, url, admin) = spawn_tls(&sample.url(), &ca.server("server", 1), Some(&ca));
    let image = format!("{url}/v2/images/{EXAMPLE_IMAGE_ID}");
    let host_a = ca.client("a", "host-a.example");
    let host_b = ca.client("b", "host-b.example");
    let get = |cert: Option<&Issued>| python_get(&image, &ca.file(), cert);
    assert_eq!(get(Some(&host_a)), "200 imgcache; fwd=miss; stored");
    assert_eq!(get(Some(&host_b)), "200 imgcache; fwd=miss; stored");
    assert!(get(Some(&host_a)).starts_with("200 imgcache; hit"));
    assert!(get(None).starts_with("error"), "no certificate");
    assert_eq!(
        metric_value(
            &admin,
            "imgcache_tls_handshake_failures_total{reason=\"no_certificate\"}"
        )
        .await,
        1.0
    );
    stop(child);
}

/// One GET with python-requests: `status cache-status`, or `error ...`.
fn python_get(url: &str, ca: &Path, cert: Option<&Issued>) -> String {
    let cert = cert.map_or("None".to_owned(), |c| {
        format!(
            "({:?}, {:?})",
            c.cert_file.display().to_string(),
            c.key_file.display().to_string()
        )
    });
    let script = format!(
        "import requests\n\
         try:\n    r = requests.get({url:?}, verify={ca:?}, cert={cert}, headers={{'X-Auth-Token': {TOKEN_A:?}}}, timeout=20)\n    print(r.status_code, r.headers.get('Cache-Status'))\n\
         except Exception as e:\n    print('error', type(e).__name__)\n",
        ca = ca.display().to_string(),
    );
    let out = Command::new("python3")
        .args(["-c", &script])
        .output()
        .expect("python3");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// SIGHUP to the running binary: a new connection gets the new
/// certificate (its serial changes) while a keep-alive connection opened
/// before goes on working; then a bad file is rejected and the new
/// certificate stays.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_swaps_the_certificate() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let sample = start_sample().await;
    let ca = Ca::new("ca");
    let server = ca.server("server", 1);
    let (child, url, admin) = spawn_tls(&sample.url(), &server, None);
    let addr: std::net::SocketAddr = url.trim_start_matches("https://").parse().expect("addr");
    let connector = pki::connector(&ca.file(), &[b"http/1.1"], None);
    let mut old = pki::connect(&connector, addr).await.expect("handshake");
    assert_eq!(pki::served_serial(&old), "01");

    let renewed = ca.server("renewed", 2);
    std::fs::copy(&renewed.cert_file, &server.cert_file).expect("copy");
    std::fs::copy(&renewed.key_file, &server.key_file).expect("copy");
    sighup(&child.0);
    eventually("the new certificate is served", || async {
        let new = pki::connect(&connector, addr).await.expect("handshake");
        pki::served_serial(&new) == "02"
    })
    .await;

    let request = format!(
        "GET /v2/images/{EXAMPLE_IMAGE_ID} HTTP/1.1\r\nHost: x\r\n\
         X-Auth-Token: {TOKEN_A}\r\nConnection: close\r\n\r\n"
    );
    old.write_all(request.as_bytes()).await.expect("write");
    let mut reply = Vec::new();
    old.read_to_end(&mut reply).await.expect("read");
    assert!(
        reply.starts_with(b"HTTP/1.1 200"),
        "the old connection works: {}",
        String::from_utf8_lossy(&reply)
    );

    std::fs::write(&server.key_file, "garbage").expect("write");
    sighup(&child.0);
    let series = "imgcache_tls_certificate_reloads_total{result=\"error\"}";
    eventually("the broken key is rejected", || async {
        metric_value(&admin, series).await >= 1.0
    })
    .await;
    let after = pki::connect(&connector, addr).await.expect("handshake");
    assert_eq!(
        pki::served_serial(&after),
        "02",
        "the running certificate stays"
    );
    stop(child);
}
