use super::*;

/// Recording moves the right series, and the text parses as
/// OpenMetrics with the imgcache_ prefix and unit suffixes.
#[test]
fn records_and_encodes() {
    let metrics = Metrics::new();
    metrics.record_response(200);
    metrics.record_response(404);
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
}

/// A subsystem's counters are registered once, however many of its
/// parts ask for them, and are encoded with everything else.
#[test]
fn subsystem_counters_are_registered_once() {
    struct Widgets(Counter);
    fn register(registry: &mut Registry) -> Widgets {
        let made = Counter::default();
        registry.register("widgets", "Widgets made", made.clone());
        Widgets(made)
    }
    let metrics = Metrics::new();
    let first = metrics.counters(register);
    let second = metrics.counters(register);
    first.0.inc();
    second.0.inc();
    let text = metrics.encode(&Snapshot::default()).expect("encode");
    assert_eq!(text.matches("# TYPE imgcache_widgets counter").count(), 1);
    assert!(text.contains("imgcache_widgets_total 2"), "{text}");
}
