//! Running the `imgcache` binary as an operator does: spawned with
//! flags, on ephemeral loopback ports, stopped by signals.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_imgcache");

/// A file in a fresh temp directory.
pub fn temp_file(name: &str, contents: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("imgcache-test-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let path = dir.join(name);
    std::fs::write(&path, contents).expect("write");
    path
}

/// Flags for a proxy on ephemeral loopback ports in front of `upstream`.
pub fn loopback_args(upstream: &str) -> [&str; 6] {
    [
        "--listen",
        "127.0.0.1:0",
        "--admin-listen",
        "127.0.0.1:0",
        "--upstream",
        upstream,
    ]
}

/// Starts the binary with `args` and waits for its "listening" log line;
/// returns the child and the proxy's address.
pub fn spawn_proxy(args: &[&str]) -> (Child, std::net::SocketAddr) {
    let (child, addr, _) = spawn_proxy_with_admin(args);
    (child, addr)
}

/// Like [`spawn_proxy`], also returning the admin API's address.
pub fn spawn_proxy_with_admin(
    args: &[&str],
) -> (Child, std::net::SocketAddr, std::net::SocketAddr) {
    let (child, addr, admin, _) = spawn_logging(args, "info");
    (child, addr, admin)
}

/// Starts the binary with `args` at log level `level` and waits for its
/// "listening" log line; returns the child, the proxy's and the admin
/// API's addresses, and every log line after that one as it comes.
pub fn spawn_logging(
    args: &[&str],
    level: &str,
) -> (
    Child,
    std::net::SocketAddr,
    std::net::SocketAddr,
    std::sync::mpsc::Receiver<String>,
) {
    spawn_logging_with(args, level, &[])
}

/// Like [`spawn_logging`], with more environment variables
/// (`IMGCACHE_LOG_FORMAT=json`: the "listening" line is read as JSON).
pub fn spawn_logging_with(
    args: &[&str],
    level: &str,
    env: &[(&str, &str)],
) -> (
    Child,
    std::net::SocketAddr,
    std::net::SocketAddr,
    std::sync::mpsc::Receiver<String>,
) {
    let mut child = Command::new(BIN)
        .args(args)
        .envs(env.iter().copied())
        .env("IMGCACHE_LOG", level)
        .env_remove("IMGCACHE_CONFIG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn imgcache");
    let stderr = child.stderr.take().expect("stderr");
    let mut lines = BufReader::new(stderr).lines();
    let field = |line: &str, name: &str| -> std::net::SocketAddr {
        let rest = line.split(name).nth(1).expect("field");
        rest.split_whitespace()
            .next()
            .expect("address")
            .parse()
            .expect("socket address")
    };
    let (addr, admin) = loop {
        let line = lines.next().expect("a log line").expect("utf-8");
        if line.contains(" listen=") {
            break (field(&line, " listen="), field(&line, " admin="));
        }
        if let Ok(json) = serde_json::from_str::<serde_json::Value>(&line)
            && let (Some(listen), Some(admin)) = (json["listen"].as_str(), json["admin"].as_str())
        {
            break (
                listen.parse().expect("address"),
                admin.parse().expect("address"),
            );
        }
    };
    // Keep draining stderr so the child never blocks on a full pipe,
    // also when nobody reads the lines.
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in lines.map_while(Result::ok) {
            let _ = sender.send(line);
        }
    });
    (child, addr, admin, receiver)
}

pub fn sighup(child: &Child) {
    signal(child, "HUP");
}

pub fn sigterm(child: &Child) {
    signal(child, "TERM");
}

/// Sends a signal with the shell's builtin `kill` (no procps needed).
pub fn signal(child: &Child, name: &str) {
    let status = Command::new("sh")
        .args(["-c", &format!("kill -{name} {}", child.id())])
        .status()
        .expect("sh");
    assert!(status.success());
}
