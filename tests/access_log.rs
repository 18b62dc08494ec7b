//! The access event and the WARN lines as an operator reads them, from
//! the `imgcache` binary's stderr: every field there, escaped once,
//! times as integers, the request id a person can follow (the client's,
//! the upstream's, or one made and sent upstream), no credential, and
//! upstream failures that cannot flood the log. Plus the request-duration
//! histogram, read from `/metrics`.

mod binary;
mod common;

use std::process::Child;
use std::sync::mpsc::Receiver;
use std::time::{Duration, Instant};

use binary::*;
use common::*;

const UA: &str = "openstacksdk/4.0 \"quoted\" keystoneauth1";

/// Stops the proxy and returns every log line it wrote.
fn stop(mut child: Child, lines: &Receiver<String>) -> Vec<String> {
    sigterm(&child);
    let _ = child.wait();
    lines.iter().collect()
}

/// The request ids of the access lines among `logs`, sorted (workers
/// hand their lines to the writer in no promised order).
fn logged_ids(logs: &[String]) -> Vec<String> {
    let mut ids: Vec<String> = json_access(logs)
        .iter()
        .map(|l| l["request_id"].as_str().unwrap_or_default().to_owned())
        .collect();
    ids.sort();
    ids
}

fn sorted<const N: usize>(mut ids: [String; N]) -> Vec<String> {
    ids.sort();
    ids.to_vec()
}

/// The access lines among `logs`, parsed (JSON mode), in the order
/// written.
fn json_access(logs: &[String]) -> Vec<serde_json::Value> {
    logs.iter()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["target"] == "imgcache::access")
        .collect()
}

fn is_glance_id(id: &str) -> bool {
    id.len() == 40 && id.starts_with("req-") && uuid::Uuid::parse_str(&id[4..]).is_ok()
}

/// JSON lines: the path a plain string (not quoted twice), times
/// integers (µs), the client's address, its user agent, the principal's
/// kind, and a miss's upstream time; the token nowhere.
#[tokio::test]
async fn json_access_lines_carry_every_field_typed() {
    let sample = start_sample().await;
    let upstream = sample.url();
    let env = [("IMGCACHE_LOG_FORMAT", "json")];
    let (child, addr, _, lines) = spawn_logging_with(&loopback_args(&upstream), "info", &env);
    let url = format!("http://{addr}/v2/images/{EXAMPLE_IMAGE_ID}");
    for _ in 0..2 {
        let reply = get(&url, &[("x-auth-token", TOKEN_A), ("user-agent", UA)]).await;
        assert_eq!(reply.status, 200);
    }
    let logs = stop(child, &lines);
    let access = json_access(&logs);
    assert_eq!(access.len(), 2, "{logs:#?}");
    for line in &access {
        assert_eq!(line["path"], format!("/v2/images/{EXAMPLE_IMAGE_ID}"));
        assert_eq!(line["query"], "-");
        assert_eq!(line["method"], "GET");
        assert_eq!(line["user_agent"], UA);
        assert_eq!(line["principal"], "token");
        assert!(line["total_us"].is_u64(), "{line}");
        assert!(line["upstream_us"].is_u64(), "{line}");
        assert!(line["bytes"].as_u64().unwrap_or(0) > 0, "{line}");
        let client = line["client"].as_str().unwrap_or_default();
        assert!(client.starts_with("127.0.0.1:"), "{line}");
        assert!(line["request_id"].as_str().is_some_and(|id| !id.is_empty()));
    }
    let is_hit = |l: &&serde_json::Value| l["cache"].as_str().is_some_and(|c| c.contains("; hit"));
    let hit = access.iter().find(is_hit).expect("the hit");
    let miss = access.iter().find(|l| !is_hit(l)).expect("the miss");
    assert!(miss["upstream_us"].as_u64().unwrap_or(0) > 0, "{miss}");
    assert_eq!(miss["upstream_status"], 200);
    assert_eq!(hit["upstream_us"], 0, "{hit}");
    for line in &logs {
        assert!(!line.contains(TOKEN_A), "token leaked: {line}");
    }
}

/// Text lines: quoted, escaped strings; times whole microseconds; a
/// query logged as sent.
#[tokio::test]
async fn text_access_lines_carry_every_field() {
    let sample = start_sample().await;
    let upstream = sample.url();
    let (child, addr, _, lines) = spawn_logging(&loopback_args(&upstream), "info");
    let url = format!("http://{addr}/v2/images?limit=1");
    get(&url, &[("x-auth-token", TOKEN_A), ("user-agent", UA)]).await;
    let logs = stop(child, &lines);
    let line = logs
        .iter()
        .find(|l| l.contains("imgcache::access"))
        .expect("an access line");
    for needle in [
        r#"path="/v2/images""#,
        r#"query="limit=1""#,
        r#"user_agent="openstacksdk/4.0 \"quoted\" keystoneauth1""#,
        "principal=token",
        "client=127.0.0.1:",
        "method=GET",
        "upstream_status=200",
    ] {
        assert!(line.contains(needle), "{needle}: {line}");
    }
    for field in ["total_us=", "upstream_us="] {
        let value = line.split(field).nth(1).and_then(|r| r.split(' ').next());
        let value = value.expect("the field");
        assert!(value.parse::<u64>().is_ok(), "{field}{value}: {line}");
    }
    assert!(!line.contains(TOKEN_A), "{line}");
}

/// A sane client id (`X-Openstack-Request-Id`, else `X-Request-Id`) is
/// the request's id: sent upstream, answered, logged; on a hit too.
#[tokio::test]
async fn a_client_request_id_is_followed() {
    let sample = start_sample().await;
    let upstream = sample.url();
    let env = [("IMGCACHE_LOG_FORMAT", "json")];
    let (child, addr, _, lines) = spawn_logging_with(&loopback_args(&upstream), "info", &env);
    let url = format!("http://{addr}/v2/images/{EXAMPLE_IMAGE_ID}");
    let glance = "req-6d2c3c3e-0f0e-4a8e-9a53-4b1c2d3e4f50";
    let miss = get(
        &url,
        &[
            ("x-auth-token", TOKEN_A),
            ("x-openstack-request-id", glance),
        ],
    )
    .await;
    assert_eq!(miss.header("x-openstack-request-id"), glance);
    let sent = sample.control.last_request_headers().expect("headers");
    assert_eq!(sent["x-openstack-request-id"], glance);
    let hit = get(
        &url,
        &[("x-auth-token", TOKEN_A), ("x-request-id", "trace-42.a:b")],
    )
    .await;
    assert!(is_hit(hit.outcome()));
    assert_eq!(hit.header("x-openstack-request-id"), "trace-42.a:b");
    let logs = stop(child, &lines);
    let expected = sorted([glance.to_owned(), "trace-42.a:b".to_owned()]);
    assert_eq!(logged_ids(&logs), expected, "{logs:#?}");
}

/// An id that could break a line (a quote, a space, too long) is not
/// taken: neither answered nor logged; the request gets a made one.
#[tokio::test]
async fn an_unsafe_request_id_is_refused() {
    let sample = start_sample().await;
    let upstream = sample.url();
    let env = [("IMGCACHE_LOG_FORMAT", "json")];
    let (child, addr, _, lines) = spawn_logging_with(&loopback_args(&upstream), "info", &env);
    let url = format!("http://{addr}/v2/images/{EXAMPLE_IMAGE_ID}");
    let long = "a".repeat(65);
    let mut answered = Vec::new();
    for bad in ["bad\"id", "x y", long.as_str()] {
        let reply = get(&url, &[("x-auth-token", TOKEN_A), ("x-request-id", bad)]).await;
        let id = reply.header("x-openstack-request-id").to_owned();
        assert_ne!(id, bad);
        assert!(id.starts_with("req-"), "{id}");
        answered.push(id);
    }
    let logs = stop(child, &lines);
    answered.sort();
    assert_eq!(logged_ids(&logs), answered);
    assert!(
        !logs
            .iter()
            .any(|l| l.contains("bad\\\"id") || l.contains(&long))
    );
}

/// Without a client id: a made `req-<uuid>` is sent upstream; the
/// upstream's answer is the request's id (answered and logged). A hit
/// gets a made id of its own, different for each hit.
#[tokio::test]
async fn ids_are_made_sent_upstream_and_taken_from_it() {
    let sample = start_sample().await;
    let upstream = sample.url();
    let env = [("IMGCACHE_LOG_FORMAT", "json")];
    let (child, addr, _, lines) = spawn_logging_with(&loopback_args(&upstream), "info", &env);
    let url = format!("http://{addr}/v2/images/{EXAMPLE_IMAGE_ID}");
    let miss = get(&url, &[("x-auth-token", TOKEN_A)]).await;
    let sent = sample.control.last_request_headers().expect("headers");
    let forwarded = sent["x-openstack-request-id"].to_str().expect("ascii");
    assert!(is_glance_id(forwarded), "{forwarded}");
    let answered = miss.header("x-openstack-request-id").to_owned();
    assert!(answered.starts_with("req-"), "{answered}");
    let hits = [
        get(&url, &[("x-auth-token", TOKEN_A)]).await,
        get(&url, &[("x-auth-token", TOKEN_A)]).await,
    ];
    let hit_ids: Vec<String> = hits
        .iter()
        .map(|h| h.header("x-openstack-request-id").to_owned())
        .collect();
    assert!(hit_ids.iter().all(|id| is_glance_id(id)), "{hit_ids:?}");
    assert_ne!(hit_ids[0], hit_ids[1]);
    let logs = stop(child, &lines);
    let expected = sorted([answered, hit_ids[0].clone(), hit_ids[1].clone()]);
    assert_eq!(logged_ids(&logs), expected);
}

/// The upstream down from the start: a WARN line at start-up; then a
/// flood of failing requests makes at most one `upstream_connect` WARN
/// line a second, the next one saying how many were held back.
#[tokio::test]
async fn upstream_failures_warn_at_most_once_a_second() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let upstream = format!("http://{}", closed.local_addr().expect("addr"));
    drop(closed);
    let (child, addr, _, lines) = spawn_logging(&loopback_args(&upstream), "info");
    let started = Instant::now();
    let url = format!("http://{addr}/v2/images?limit=1");
    for _ in 0..50 {
        let reply = get(&url, &[("x-auth-token", TOKEN_A)]).await;
        assert_eq!(reply.status, 502);
    }
    // One more failure now and then, until a line reports the held-back
    // ones (the next second's).
    let mut seen = Vec::new();
    let reported = |seen: &[String]| {
        seen.iter()
            .any(|l| l.contains("kind=\"upstream_connect\"") && !l.contains("suppressed=0"))
    };
    while !reported(&seen) && started.elapsed() < HANG_GUARD {
        get(&url, &[("x-auth-token", TOKEN_A)]).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        seen.extend(lines.try_iter());
    }
    let elapsed = started.elapsed().as_secs();
    let mut logs = stop(child, &lines);
    logs.splice(0..0, seen);
    let warns: Vec<&String> = logs
        .iter()
        .filter(|l| l.contains(" WARN ") && l.contains("kind=\"upstream_connect\""))
        .collect();
    assert!(
        !warns.is_empty() && warns.len() as u64 <= elapsed + 2,
        "{} lines in {elapsed}s: {warns:#?}",
        warns.len()
    );
    let held: u64 = warns
        .iter()
        .filter_map(|l| l.split("suppressed=").nth(1))
        .filter_map(|r| r.split(' ').next()?.parse::<u64>().ok())
        .sum();
    assert!(held >= 40, "held back {held}: {warns:#?}");
    assert!(
        logs.iter()
            .any(|l| l.contains(" WARN ") && l.contains("upstream_unreachable")),
        "no start-up warning: {logs:#?}"
    );
}

/// After a hit, `imgcache_request_duration_seconds` has the hit's series
/// with buckets down to 10 µs (where hits are seen), for Grafana's
/// `imgcache_request_duration_seconds_bucket{route,cache}`.
#[tokio::test]
async fn request_durations_have_hit_level_buckets() {
    let sample = start_sample().await;
    let proxy = TestProxy::new(&sample.url()).admin().start().await;
    get_image(&proxy, EXAMPLE_IMAGE_ID).await;
    let hit = get_image(&proxy, EXAMPLE_IMAGE_ID).await;
    assert!(is_hit(hit.outcome()));
    let reply = get(&format!("{}/metrics", proxy.admin_url()), &[]).await;
    let text = String::from_utf8_lossy(&reply.body);
    let series = |le: &str, cache: &str| {
        format!(
            "imgcache_request_duration_seconds_bucket{{le=\"{le}\",route=\"image_read\",cache=\"{cache}\"}}"
        )
    };
    for le in ["0.00001", "0.000025", "0.00005", "0.0001", "10.0", "+Inf"] {
        assert!(
            text.contains(&format!("{} ", series(le, "hit"))),
            "{le}: {text}"
        );
    }
    assert_eq!(sample_value(&text, &series("+Inf", "hit")), 1.0, "{text}");
    assert_eq!(sample_value(&text, &series("+Inf", "miss")), 1.0, "{text}");
    let count = "imgcache_request_duration_seconds_count{route=\"image_read\",cache=\"hit\"}";
    assert_eq!(sample_value(&text, count), 1.0, "{text}");
}
