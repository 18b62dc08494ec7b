use super::*;

/// Recording moves the right series, and the text parses as
/// OpenMetrics with the imgcache_ prefix and unit suffixes.
#[test]
fn records_and_encodes() {
    let metrics = Metrics::new();
    metrics.record_request(
        RouteLabel::ImageRead,
        Some(CacheOutcome::Hit { ttl: 3 }),
        200,
    );
    metrics.record_request(
        RouteLabel::ImageRead,
        Some(CacheOutcome::Fetched {
            stored: true,
            collapsed: false,
        }),
        200,
    );
    metrics.record_request(RouteLabel::Other, None, 404);
    metrics.record_upstream(Some(503), Duration::from_millis(12));
    metrics.record_upstream(None, Duration::from_millis(1));
    metrics.record_invalidation();
    let text = metrics
        .encode(&Snapshot {
            entries: 3,
            bytes: 4096,
            ..Snapshot::default()
        })
        .expect("encode");
    for line in [
        "imgcache_requests_total{route=\"image_read\",cache=\"hit\"} 1",
        "imgcache_requests_total{route=\"image_read\",cache=\"miss\"} 1",
        "imgcache_requests_total{route=\"other\",cache=\"none\"} 1",
        "imgcache_responses_total{class=\"4xx\"} 1",
        "imgcache_upstream_requests_total{class=\"5xx\"} 1",
        "imgcache_upstream_requests_total{class=\"error\"} 1",
        "imgcache_upstream_request_duration_seconds_count 2",
        "imgcache_cache_invalidations_total 1",
        "imgcache_cache_entries 3",
        "imgcache_cache_bytes 4096",
        "imgcache_build_info{version=",
    ] {
        assert!(text.contains(line), "missing {line}:\n{text}");
    }
    assert!(text.ends_with("# EOF\n"));
    assert_eq!(metrics.image_read_counts(), (1, 2));
}
