//! SIGHUP: a good file applies what a reload can apply and names (in the
//! log and in `imgcache_config_reload_not_applied_total`) each setting
//! only a restart applies; a bad file is rejected and the running config
//! kept.

mod binary;
mod common;

use std::time::Duration;

use binary::*;
use common::*;

/// SIGHUP with a valid file changes behaviour (here: X-Roles leaves the
/// identity, which purges the cache and lets callers differing only in
/// roles share entries) without dropping an in-flight request.
#[tokio::test]
async fn sighup_applies_a_valid_file_without_dropping_requests() {
    let sample = start_sample().await;
    let path = config_file(
        "reload-ok.toml",
        &sample.url(),
        r#"["x-auth-token", "x-roles"]"#,
    );
    let (mut child, addr, admin) =
        spawn_proxy_with_admin(&["--config", path.to_str().expect("path")]);
    assert_eq!(cache_outcome(addr, "member").await, STORED);
    assert_eq!(cache_outcome(addr, "reader").await, STORED);

    sample.control.set_latency(Duration::from_millis(1000));
    let slow_url = format!("http://{addr}/v2/images?limit=1");
    let in_flight = tokio::spawn(async move { get(&slow_url, &[("x-auth-token", TOKEN_A)]).await });
    let seen = sample.control.total_requests();
    eventually("the slow request reached the upstream", || {
        std::future::ready(sample.control.total_requests() > seen)
    })
    .await;
    config_file("reload-ok.toml", &sample.url(), r#"["x-auth-token"]"#);
    sighup(&child);
    wait_for_metric(admin, "imgcache_config_reloads_total{result=\"ok\"}", 1.0).await;
    assert_eq!(
        in_flight.await.expect("task").status,
        200,
        "the in-flight request completes"
    );
    sample.control.set_latency(Duration::ZERO);

    assert_eq!(cache_outcome(addr, "member").await, STORED, "purged");
    assert!(
        is_hit(cache_outcome(addr, "reader").await),
        "roles no longer split"
    );
    sigterm(&child);
    assert_eq!(child.wait().expect("wait").code(), Some(0));
}

/// SIGHUP with a broken file: rejected, counted, the old config kept.
#[tokio::test]
async fn sighup_with_a_broken_file_keeps_the_old_config() {
    let sample = start_sample().await;
    let path = config_file(
        "reload-bad.toml",
        &sample.url(),
        r#"["x-auth-token", "x-roles"]"#,
    );
    let (mut child, addr, admin) =
        spawn_proxy_with_admin(&["--config", path.to_str().expect("path")]);
    assert_eq!(cache_outcome(addr, "member").await, STORED);
    std::fs::write(
        &path,
        "[cache]\nttl = \"soon\"\nidentity_headers = [\"x-auth-token\"]\n",
    )
    .expect("write");
    sighup(&child);
    wait_for_metric(
        admin,
        "imgcache_config_reloads_total{result=\"error\"}",
        1.0,
    )
    .await;
    assert!(is_hit(cache_outcome(addr, "member").await), "not purged");
    assert_eq!(
        cache_outcome(addr, "reader").await,
        STORED,
        "roles still split"
    );
    sigterm(&child);
    assert_eq!(child.wait().expect("wait").code(), Some(0));
}

/// SIGHUP with `server.workers` and `[redis]` keys changed: each is
/// logged and counted by its name as not applied, its secrets never
/// shown, while a reloadable change in the same file (`cache.ttl`)
/// applies and is not among them.
#[tokio::test]
async fn sighup_names_what_only_a_restart_applies() {
    let sample = start_sample().await;
    let redis = closed_port();
    let upstream = sample.url();
    let path = temp_file(
        "reload-restart.toml",
        &restart_file(
            &upstream,
            2,
            &format!("url = \"redis://127.0.0.1:{redis}\""),
        ),
    );
    let (mut child, _, admin, lines) =
        spawn_logging(&["--config", path.to_str().expect("path")], "info");
    let redis_section = format!(
        "url = \"redis://:NEW-PASSWORD@127.0.0.1:{redis}\"\nkey_secret = \"NEW-KEY-SECRET\"\n\
         timeout = \"80ms\"\n"
    );
    let file = restart_file(&upstream, 3, &redis_section);
    std::fs::write(&path, format!("{file}[cache]\nttl = \"2m\"\n")).expect("write");
    sighup(&child);
    wait_for_metric(admin, "imgcache_config_reloads_total{result=\"ok\"}", 1.0).await;

    let not_applied = [
        "server.workers",
        "redis.url",
        "redis.key_secret",
        "redis.timeout",
    ];
    let base = format!("http://{admin}");
    for (settings, count) in [
        (&not_applied[..], 1.0),
        (&["server.listen", "redis.lock_ttl", "cache.ttl"], 0.0),
    ] {
        for setting in settings {
            let series =
                format!("imgcache_config_reload_not_applied_total{{setting=\"{setting}\"}}");
            assert_eq!(metric_value(&base, &series).await, count, "{setting}");
        }
    }
    let stats = get(&format!("{base}/cache/stats"), &[]).await;
    assert_eq!(stats.json()["config"]["ttl"], "2m", "cache.ttl applied");

    sigterm(&child);
    assert_eq!(child.wait().expect("wait").code(), Some(0));
    let logs: Vec<String> = lines.iter().collect();
    assert_named_once(&logs, &not_applied);
    for secret in ["NEW-PASSWORD", "NEW-KEY-SECRET"] {
        assert!(
            !logs.iter().any(|l| l.contains(secret)),
            "{secret} leaked: {logs:#?}"
        );
    }
}

/// Each setting has exactly one "only a restart applies it" log line.
fn assert_named_once(logs: &[String], settings: &[&str]) {
    for setting in settings {
        let field = format!("setting={setting}");
        let named = logs
            .iter()
            .filter(|l| l.contains("only a restart applies it") && l.contains(&field))
            .count();
        assert_eq!(named, 1, "{setting} in {logs:#?}");
    }
}

/// A config with `workers` serving threads and a `[redis]` section
/// (`redis` holds its lines), on ephemeral loopback ports.
fn restart_file(upstream: &str, workers: u32, redis: &str) -> String {
    format!(
        "[server]\nlisten = \"127.0.0.1:0\"\nworkers = {workers}\n[admin]\nlisten = \"127.0.0.1:0\"\n\
         [upstream]\nurl = \"{upstream}\"\n[redis]\n{redis}\n"
    )
}

/// A loopback port nothing listens on: a Redis tier pointed there is
/// down, which a reload test does not mind.
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

/// Polls until a metric reaches `value` (the barrier for "the reload
/// happened").
async fn wait_for_metric(admin: std::net::SocketAddr, series: &str, value: f64) {
    let admin = format!("http://{admin}");
    let what = format!("{series} reaches {value}");
    eventually(&what, || async {
        metric_value(&admin, series).await >= value
    })
    .await;
}

/// A config file on ephemeral loopback ports in front of `upstream`.
fn config_file(name: &str, upstream: &str, identity_headers: &str) -> std::path::PathBuf {
    temp_file(
        name,
        &format!(
            "[server]\nlisten = \"127.0.0.1:0\"\n[admin]\nlisten = \"127.0.0.1:0\"\n\
             [upstream]\nurl = \"{upstream}\"\n[cache]\nidentity_headers = {identity_headers}\n"
        ),
    )
}

/// A read of the example image with `x-roles: roles`: what the cache did.
async fn cache_outcome(addr: std::net::SocketAddr, roles: &str) -> Option<CacheOutcome> {
    let url = format!("http://{addr}/v2/images/{EXAMPLE_IMAGE_ID}");
    let reply = get(&url, &[("x-auth-token", TOKEN_A), ("x-roles", roles)]).await;
    assert_eq!(reply.status, 200);
    reply.outcome()
}
