//! What operators watch: every series the Grafana dashboard
//! (`deploy/grafana/imgcache.json`) and the alerting rules
//! (`deploy/prometheus/alerts.yaml`) query is one the proxy exports, and
//! the SRE series behave: process metrics, open client connections by
//! protocol, certificate expiry, Keystone validation latency.

mod common;

use std::collections::BTreeSet;
use std::future::pending;

use common::keystone::FakeKeystone;
use common::pki::{self, Ca, Issued};
use common::redis::TestRedis;
use common::tls_proxy::*;
use common::wire::{Conn, alice_get};
use common::*;
use imgcache::config::Share;
use tokio::net::TcpListener;

/// The Grafana dashboard, as shipped.
const DASHBOARD: &str = include_str!("../deploy/grafana/imgcache.json");

/// The alerting rules, as shipped.
const ALERTS: &str = include_str!("../deploy/prometheus/alerts.yaml");

/// Open client connections of one protocol (plain or TLS).
fn connections(protocol: &str, tls: bool) -> String {
    format!("imgcache_client_connections{{protocol=\"{protocol}\",tls=\"{tls}\"}}")
}

/// Starts the admin API of `proxy` on 127.0.0.1:0; its base URL.
async fn admin_of(proxy: &imgcache::proxy::Proxy) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let admin = imgcache::admin::Admin::new(proxy.operator(), None);
    tokio::spawn(admin.serve(listener, pending()));
    format!("http://{addr}")
}

/// The `/metrics` text of the admin API at `admin`.
async fn scrape(admin: &str) -> String {
    let reply = get(&format!("{admin}/metrics"), &[]).await;
    assert_eq!(reply.status, 200);
    String::from_utf8(reply.body.to_vec()).expect("UTF-8")
}

/// The sample names of an exposition (`imgcache_requests_total`,
/// `…_bucket`, `process_open_fds`, …).
fn sample_names(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter(|line| !line.starts_with('#') && !line.is_empty())
        .filter_map(|line| line.split(['{', ' ']).next())
        .map(str::to_owned)
        .collect()
}

/// The metric names in a PromQL expression: `imgcache_…` and `process_…`
/// identifiers not inside a longer name.
fn metric_names(expr: &str) -> BTreeSet<String> {
    let is_name = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_';
    let mut names = BTreeSet::new();
    for prefix in ["imgcache_", "process_"] {
        for (at, _) in expr.match_indices(prefix) {
            let before = expr[..at].chars().next_back();
            if before.is_some_and(|c| is_name(c) || c.is_ascii_uppercase()) {
                continue;
            }
            let rest = &expr[at..];
            let end = rest.find(|c: char| !is_name(c)).unwrap_or(rest.len());
            names.insert(rest[..end].to_owned());
        }
    }
    names
}

/// Every `expr` of the dashboard's panels and variables.
fn dashboard_exprs() -> Vec<String> {
    fn walk(value: &serde_json::Value, found: &mut Vec<String>) {
        match value {
            serde_json::Value::Object(map) => {
                for (key, value) in map {
                    match (key.as_str(), value) {
                        ("expr" | "query" | "definition", serde_json::Value::String(text)) => {
                            found.push(text.clone())
                        }
                        _ => walk(value, found),
                    }
                }
            }
            serde_json::Value::Array(items) => items.iter().for_each(|v| walk(v, found)),
            _ => {}
        }
    }
    let dashboard: serde_json::Value = serde_json::from_str(DASHBOARD).expect("dashboard JSON");
    let mut found = Vec::new();
    walk(&dashboard, &mut found);
    found
}

/// Every `expr:` of the alerting rules, block scalars (`expr: |`) whole.
fn alert_exprs() -> Vec<String> {
    let mut found = Vec::new();
    let mut block: Option<(usize, String)> = None;
    for line in ALERTS.lines() {
        let indent = line.len() - line.trim_start().len();
        if let Some((expr_indent, text)) = &mut block {
            if line.trim().is_empty() || indent > *expr_indent {
                text.push_str(line);
                text.push('\n');
                continue;
            }
            found.push(std::mem::take(text));
            block = None;
        }
        if let Some(rest) = line.trim_start().strip_prefix("expr:") {
            match rest.trim() {
                "|" | "|-" | ">" | ">-" => block = Some((indent, String::new())),
                inline => found.push(inline.to_owned()),
            }
        }
    }
    found.extend(block.map(|(_, text)| text));
    found
}

/// Whether `name` (a histogram's with its suffix) is in the scrape.
fn exported(name: &str, names: &BTreeSet<String>) -> bool {
    names.contains(name)
}

/// The scrape finders: names are taken from code, not from prose, and
/// histogram suffixes kept as written.
#[test]
fn metric_names_are_read_from_expressions() {
    let expr = r#"histogram_quantile(0.9, sum by (le) (rate(imgcache_a_bucket{x="y"}[5m]))) / my_process_x + process_open_fds"#;
    let names: Vec<String> = metric_names(expr).into_iter().collect();
    assert_eq!(names, ["imgcache_a_bucket", "process_open_fds"]);
    let scraped: BTreeSet<String> = ["imgcache_request_duration_seconds_bucket".to_owned()].into();
    assert!(exported(
        "imgcache_request_duration_seconds_bucket",
        &scraped
    ));
    assert!(!exported(
        "imgcache_request_duration_seconds_total",
        &scraped
    ));
    assert!(alert_exprs().len() >= 10, "{:?}", alert_exprs());
    assert!(dashboard_exprs().len() >= 30);
}

/// A TLS proxy with Keystone and (when there is one) Redis, after a miss,
/// a hit and a token validation, exports every series the dashboard and
/// the alerts query; so the dashboard shows no empty panel for a typo.
#[tokio::test]
async fn dashboard_and_alerts_query_only_exported_series() {
    let keystone = FakeKeystone::start().await;
    let redis = TestRedis::acquire().await;
    let ca = Ca::new("ca");
    let server = ca.server("server", 1);
    let keystone_url = keystone.url();
    let redis_config = redis.as_ref().map(TestRedis::config);
    let proxy = TlsProxy::start_with(&server, None, false, move |config| {
        config.identity = Some(common::proxy::identity(&keystone_url, Share::User));
        config.redis = redis_config;
    })
    .await;
    let admin = admin_of(&proxy.handle.proxy).await;
    let connector = pki::connector(&ca.file(), H1, None);
    let (mut client, _) = Client::open(&connector, proxy.handle.addr).await;
    for _ in 0..2 {
        let (status, _, _) = client.get(&image_path(EXAMPLE_IMAGE_ID), TOKEN_A).await;
        assert_eq!(status, 200);
    }
    let names = sample_names(&scrape(&admin).await);
    // Only with the fleet tier configured is its health exported.
    let excused: &[&str] = if redis.is_none() {
        eprintln!("no Redis here: imgcache_l2_up not checked");
        &["imgcache_l2_up"]
    } else {
        &[]
    };
    let queried: BTreeSet<String> = dashboard_exprs()
        .iter()
        .chain(alert_exprs().iter())
        .flat_map(|expr| metric_names(expr))
        .collect();
    assert!(queried.len() > 30, "{queried:?}");
    let missing: Vec<&String> = queried
        .iter()
        .filter(|name| !exported(name, &names) && !excused.contains(&name.as_str()))
        .collect();
    assert!(
        missing.is_empty(),
        "queried but not exported: {missing:?}\nexported: {names:?}"
    );
}

/// The process series are there and plausible: memory and descriptors
/// in use, a start time in the past.
#[cfg(target_os = "linux")]
#[tokio::test]
async fn process_series_are_plausible() {
    let sample = start_sample().await;
    let proxy = TestProxy::new(&sample.url()).admin().start().await;
    let text = scrape(proxy.admin_url()).await;
    let value = |series: &str| sample_value(&text, series);
    assert!(value("process_resident_memory_bytes") > 0.0, "{text}");
    assert!(value("process_virtual_memory_bytes") >= value("process_resident_memory_bytes"));
    assert!(value("process_open_fds") > 0.0);
    assert!(value("process_max_fds") >= value("process_open_fds"));
    assert!(text.contains("process_cpu_seconds_total "));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("after 1970")
        .as_secs_f64();
    let started = value("process_start_time_seconds");
    assert!(started > 0.0 && started <= now + 1.0, "{started} vs {now}");
}

/// A keep-alive HTTP/1.1 connection is counted open while it is, on the
/// hit path and after hyper answered on it, and not once it closed.
#[tokio::test]
async fn open_connections_follow_a_keep_alive_connection() {
    let sample = start_sample().await;
    let proxy = TestProxy::new(&sample.url()).admin().start().await;
    let http1 = connections("http1", false);
    assert_eq!(proxy.metric(&http1).await, 0.0);
    let mut conn = Conn::open(proxy.addr).await;
    // A miss (hyper answers) then a hit (the hit path), on one connection.
    for _ in 0..2 {
        let reply = conn.round_trip(&alice_get(EXAMPLE_IMAGE_ID, "")).await;
        assert_eq!(reply.status, 200);
    }
    eventually("the connection is counted", || async {
        proxy.metric(&http1).await == 1.0
    })
    .await;
    drop(conn);
    eventually("the closed connection is not counted", || async {
        proxy.metric(&http1).await == 0.0
    })
    .await;
    assert_eq!(proxy.metric(&connections("h2", false)).await, 0.0);
}

/// HTTP/2 over TLS is counted as h2 with TLS, from the handshake to the
/// close.
#[tokio::test]
async fn open_connections_count_h2_over_tls() {
    let ca = Ca::new("ca");
    let server = ca.server("server", 1);
    let proxy = TlsProxy::start(&server, None, false).await;
    let admin = admin_of(&proxy.handle.proxy).await;
    let h2 = connections("h2", true);
    let connector = pki::connector(&ca.file(), H2, None);
    let (mut client, _) = Client::open(&connector, proxy.handle.addr).await;
    let (status, version, _) = client.get(&image_path(EXAMPLE_IMAGE_ID), TOKEN_A).await;
    assert_eq!((status, version), (200, http::Version::HTTP_2));
    eventually("the h2 connection is counted", || async {
        metric_value(&admin, &h2).await == 1.0
    })
    .await;
    drop(client);
    eventually("the closed h2 connection is not counted", || async {
        metric_value(&admin, &h2).await == 0.0
    })
    .await;
}

/// The certificate expiry series is the served certificate's notAfter,
/// at start and after a reload swapped in a renewed one.
#[tokio::test]
async fn certificate_not_after_follows_the_served_certificate() {
    let ca = Ca::new("ca");
    let server = ca.server_until("server", 1, (2031, 5, 6));
    let proxy = TlsProxy::start(&server, None, false).await;
    let series = "imgcache_tls_certificate_not_after_seconds{listener=\"server\"}";
    assert_eq!(proxy.metric(series).await, server.not_after() as f64);
    let renewed: Issued = ca.server_until("renewed", 2, (2032, 7, 8));
    std::fs::copy(&renewed.cert_file, &server.cert_file).expect("copy");
    std::fs::copy(&renewed.key_file, &server.key_file).expect("copy");
    proxy.acceptor.reload(true).expect("reloaded");
    assert_eq!(proxy.metric(series).await, renewed.not_after() as f64);
    assert_ne!(server.not_after(), renewed.not_after());
}

/// A token validation is timed: the latency histogram of valid answers
/// counts the call Keystone got.
#[tokio::test]
async fn keystone_validations_are_timed() {
    let keystone = FakeKeystone::start().await;
    let sample = start_sample().await;
    let proxy = TestProxy::new(&sample.url())
        .keystone(&keystone.url(), Share::User)
        .admin()
        .start()
        .await;
    let count = "imgcache_keystone_validation_duration_seconds_count{result=\"valid\"}";
    assert_eq!(proxy.metric(count).await, 0.0);
    let reply = get_image_as(&proxy, EXAMPLE_IMAGE_ID, TOKEN_A).await;
    assert_eq!(reply.status, 200);
    assert_eq!(keystone.calls(), 1);
    assert_eq!(proxy.metric(count).await, 1.0);
    let sum = "imgcache_keystone_validation_duration_seconds_sum{result=\"valid\"}";
    assert!(proxy.metric(sum).await > 0.0);
}
