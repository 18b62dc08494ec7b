//! The admin API over real sockets: metrics, health, readiness, stats,
//! purges and the admin token.

mod common;

use common::*;
use http::Method;

async fn scrape(admin: &str) -> String {
    let reply = get(&format!("{admin}/metrics"), &[]).await;
    assert_eq!(reply.status, 200);
    assert!(
        reply
            .header("content-type")
            .starts_with("application/openmetrics-text")
    );
    String::from_utf8(reply.body.to_vec()).expect("utf-8")
}

/// Every line of the exposition is a comment or `series value`, names are
/// prefixed (`imgcache_`, or `process_` for the process series every
/// Prometheus client exports under that name), and it ends with `# EOF`.
fn assert_valid_exposition(text: &str) {
    assert!(text.ends_with("# EOF\n"), "no EOF marker");
    let prefixed = |name: &str| name.starts_with("imgcache_") || name.starts_with("process_");
    for line in text.lines() {
        if line.starts_with('#') {
            let name = ["# HELP ", "# TYPE ", "# UNIT "]
                .iter()
                .find_map(|comment| line.strip_prefix(comment));
            assert!(name.is_some_and(prefixed) || line == "# EOF", "{line}");
            continue;
        }
        let (series, value) = line.rsplit_once(' ').expect("series and value");
        assert!(prefixed(series), "{line}");
        assert!(value.parse::<f64>().is_ok(), "{line}");
        if let Some(labels) = series.split_once('{').map(|(_, l)| l) {
            assert!(labels.ends_with('}'), "{line}");
        }
    }
}

/// Metrics move as traffic flows (a hit moves the hit counter, a purge
/// moves invalidations), parse as valid exposition text, and never carry
/// a token or an image id.
#[tokio::test]
async fn metrics_follow_traffic() {
    let sample = start_sample().await;
    let proxy = TestProxy::new(&sample.url()).admin().start().await;
    let admin = proxy.admin_url();
    let before = scrape(admin).await;
    assert_valid_exposition(&before);
    let hits = "imgcache_requests_total{route=\"image_read\",cache=\"hit\"}";
    let misses = "imgcache_requests_total{route=\"image_read\",cache=\"miss\"}";
    let invalidations = "imgcache_cache_invalidations_total";
    get_image(&proxy, EXAMPLE_IMAGE_ID).await;
    get_image(&proxy, EXAMPLE_IMAGE_ID).await;
    let after = scrape(admin).await;
    assert_valid_exposition(&after);
    assert_eq!(
        sample_value(&after, hits) - sample_value(&before, hits),
        1.0
    );
    assert_eq!(
        sample_value(&after, misses) - sample_value(&before, misses),
        1.0
    );
    assert_eq!(sample_value(&after, "imgcache_cache_entries"), 1.0);
    assert!(sample_value(&after, "imgcache_cache_bytes") > 500.0);
    assert!(sample_value(&after, "imgcache_upstream_request_duration_seconds_count") >= 1.0);
    assert_eq!(
        sample_value(&after, "imgcache_upstream_requests_total{class=\"2xx\"}"),
        1.0
    );
    let purge = send(
        Method::DELETE,
        &format!("{admin}/cache/images/{EXAMPLE_IMAGE_ID}"),
        &[],
        b"",
    )
    .await;
    assert_eq!(purge.status, 200);
    let purged = scrape(admin).await;
    assert_eq!(
        sample_value(&purged, invalidations) - sample_value(&after, invalidations),
        1.0
    );
    assert_eq!(sample_value(&purged, "imgcache_cache_entries"), 0.0);
    for secret in [TOKEN_A, "alice", EXAMPLE_IMAGE_ID] {
        assert!(!purged.contains(secret), "{secret} leaked into metrics");
    }
}

/// With admin.token set, every admin call but the probes needs the
/// bearer token (the probes: tests/isolation.rs).
#[tokio::test]
async fn admin_token_is_required_when_set() {
    let sample = start_sample().await;
    let proxy = TestProxy::new(&sample.url())
        .admin_token("s3cret-admin")
        .start()
        .await;
    let admin = proxy.admin_url();
    for path in ["/metrics", "/cache/stats"] {
        let url = format!("{admin}{path}");
        assert_eq!(get(&url, &[]).await.status, 401, "{path} without a token");
        assert_eq!(
            get(&url, &[("authorization", "Bearer wrong")]).await.status,
            401
        );
        assert_eq!(
            get(&url, &[("authorization", "s3cret-admin")]).await.status,
            401
        );
        assert_eq!(
            get(&url, &[("authorization", "Bearer s3cret-admin")])
                .await
                .status,
            200,
            "{path}"
        );
    }
    let purge = send(Method::DELETE, &format!("{admin}/cache"), &[], b"").await;
    assert_eq!(purge.status, 401);
}

/// Purge by id drops every identity's entry of that image and says how
/// many; purge-all empties the cache; the next reads are misses.
#[tokio::test]
async fn purges_work_across_identities() {
    let sample = start_sample().await;
    let proxy = TestProxy::new(&sample.url()).admin().start().await;
    let admin = proxy.admin_url();
    let url = proxy.url(&format!("/v2/images/{EXAMPLE_IMAGE_ID}"));
    for token in [TOKEN_A, TOKEN_B, TOKEN_ADMIN] {
        get(&url, &[("x-auth-token", token)]).await;
    }
    get_image(&proxy, PRIVATE_IMAGE_ID).await;
    let purge = send(
        Method::DELETE,
        &format!("{admin}/cache/images/{EXAMPLE_IMAGE_ID}"),
        &[],
        b"",
    )
    .await;
    assert_eq!(purge.json(), serde_json::json!({"purged": 3}));
    for token in [TOKEN_A, TOKEN_B] {
        let after = get(&url, &[("x-auth-token", token)]).await;
        assert_eq!(after.outcome(), STORED);
    }
    assert!(is_hit(get_image(&proxy, PRIVATE_IMAGE_ID).await.outcome()));
    let all = send(Method::DELETE, &format!("{admin}/cache"), &[], b"").await;
    assert_eq!(all.json(), serde_json::json!({"purged": 3}));
    assert_eq!(get_image(&proxy, PRIVATE_IMAGE_ID).await.outcome(), STORED);
    let missing = send(
        Method::DELETE,
        &format!("{admin}/cache/images/nope"),
        &[],
        b"",
    )
    .await;
    assert_eq!(missing.json(), serde_json::json!({"purged": 0}));
}

/// /cache/stats reports counts, the hit ratio and the config summary,
/// never keys or tokens.
#[tokio::test]
async fn stats_report_counts_not_keys() {
    let sample = start_sample().await;
    let proxy = TestProxy::new(&sample.url()).admin().start().await;
    let admin = proxy.admin_url();
    for _ in 0..4 {
        get_image(&proxy, EXAMPLE_IMAGE_ID).await;
    }
    let stats = get(&format!("{admin}/cache/stats"), &[]).await;
    let body = stats.json();
    assert_eq!(body["entries"], 1);
    assert_eq!(body["image_reads"], 4);
    assert_eq!(body["served_from_cache"], 3);
    assert_eq!(body["hit_ratio"], 0.75);
    assert!(body["bytes"].as_u64().unwrap_or(0) > 0);
    assert_eq!(body["config"]["ttl"], "5m");
    assert_eq!(body["config"]["transform"]["mode"], "passthrough");
    assert_eq!(body["circuit_breaker"], "closed");
    let text = String::from_utf8_lossy(&stats.body);
    assert!(
        !text.contains(TOKEN_A) && !text.contains(EXAMPLE_IMAGE_ID),
        "{text}"
    );
}

/// Unknown paths and methods get JSON errors.
#[tokio::test]
async fn unknown_admin_calls() {
    let sample = start_sample().await;
    let proxy = TestProxy::new(&sample.url()).admin().start().await;
    let admin = proxy.admin_url();
    assert_eq!(get(&format!("{admin}/nope"), &[]).await.status, 404);
    assert_eq!(
        send(Method::POST, &format!("{admin}/metrics"), &[], b"")
            .await
            .status,
        405
    );
}
