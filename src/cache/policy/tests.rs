use super::*;
use http::HeaderValue;

fn config() -> CacheConfig {
    crate::config::Config::defaults().cache
}

fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.append(
            HeaderName::from_bytes(name.as_bytes()).expect("name"),
            HeaderValue::from_str(value).expect("value"),
        );
    }
    map
}

const ACTIVE: &[u8] = br#"{"id": "abc", "status": "active", "name": "x"}"#;

fn judge(status: u16, pairs: &[(&str, &str)], body: &[u8]) -> Result<Freshness, NotStored> {
    let status = StatusCode::from_u16(status).expect("status");
    storable(status, &headers(pairs), body, "abc", &config())
}

/// An active image body with the requested id is stored for cache.ttl,
/// with the configured stale windows.
#[test]
fn active_image_is_stored() {
    let freshness = judge(200, &[("content-type", "application/json")], ACTIVE).expect("stored");
    assert_eq!(freshness.lifetime, config().ttl);
    assert_eq!(freshness.stale_if_error, config().stale_if_error);
}

/// Non-200 statuses are never stored.
#[test]
fn errors_are_not_stored() {
    for status in [201, 203, 204, 301, 304, 401, 403, 404, 429, 500, 503] {
        assert_eq!(judge(status, &[], ACTIVE), Err(NotStored::Status(status)));
    }
}

/// Bodies that are not the requested image are not stored.
#[test]
fn only_the_requested_image_is_stored() {
    let other = br#"{"id": "xyz", "status": "active"}"#;
    assert_eq!(judge(200, &[], other), Err(NotStored::WrongImage));
    let id_case = br#"{"id": "ABC", "status": "active"}"#;
    assert_eq!(judge(200, &[], id_case), Err(NotStored::WrongImage));
    for bad in [
        &b"<html>"[..],
        b"[]",
        b"{\"id\": 5}",
        b"{\"id\": \"abc\"",
        b"",
        b"{\"id\": \"abc\"} x",
    ] {
        assert_eq!(judge(200, &[], bad), Err(NotStored::NotAnImage), "{bad:?}");
    }
}

/// Image status decides the lifetime: transient statuses use
/// transient_ttl (0 by default: not stored), killed/deleted never.
#[test]
fn image_status_decides_lifetime() {
    let mut config = config();
    for status in [
        "queued",
        "saving",
        "uploading",
        "importing",
        "killed",
        "deleted",
        "weird",
    ] {
        let body = format!(r#"{{"id": "abc", "status": "{status}"}}"#);
        let verdict = storable(
            StatusCode::OK,
            &HeaderMap::new(),
            body.as_bytes(),
            "abc",
            &config,
        );
        assert_eq!(
            verdict,
            Err(NotStored::ImageStatus(status.into())),
            "{status}"
        );
    }
    config.transient_ttl = Duration::from_secs(7);
    let queued = br#"{"id": "abc", "status": "queued"}"#;
    let verdict = storable(StatusCode::OK, &HeaderMap::new(), queued, "abc", &config);
    assert_eq!(verdict.map(|f| f.lifetime), Ok(Duration::from_secs(7)));
    let killed = br#"{"id": "abc", "status": "killed"}"#;
    let verdict = storable(StatusCode::OK, &HeaderMap::new(), killed, "abc", &config);
    assert!(verdict.is_err());
    let deactivated = br#"{"id": "abc", "status": "deactivated"}"#;
    assert!(
        storable(
            StatusCode::OK,
            &HeaderMap::new(),
            deactivated,
            "abc",
            &config
        )
        .is_ok()
    );
}

/// An active image with an import task in flight (Glance's copy-image
/// import: the task id and the stores still copied to are set) is
/// transient: not stored by default, `transient_ttl` when set. Empty
/// markers (what Glance leaves once the task is done) change nothing.
#[test]
fn import_tasks_in_flight_are_transient() {
    let mut config = config();
    let in_flight = [
        br#"{"id": "abc", "status": "active", "os_glance_import_task": "t-1", "os_glance_importing_to_stores": "fs2"}"#.as_slice(),
        br#"{"id": "abc", "status": "active", "os_glance_import_task": "t-1"}"#,
        br#"{"id": "abc", "status": "active", "os_glance_importing_to_stores": "fs2,fs3"}"#,
    ];
    for body in in_flight {
        let verdict = storable(StatusCode::OK, &HeaderMap::new(), body, "abc", &config);
        assert_eq!(
            verdict,
            Err(NotStored::TaskInFlight),
            "{}",
            String::from_utf8_lossy(body)
        );
    }
    let done = br#"{"id": "abc", "status": "active", "os_glance_importing_to_stores": "", "os_glance_failed_import": "", "stores": "fs,fs2"}"#;
    let verdict = storable(StatusCode::OK, &HeaderMap::new(), done, "abc", &config);
    assert_eq!(verdict.map(|f| f.lifetime), Ok(config.ttl));
    config.transient_ttl = Duration::from_secs(3);
    let verdict = storable(
        StatusCode::OK,
        &HeaderMap::new(),
        in_flight[0],
        "abc",
        &config,
    );
    assert_eq!(verdict.map(|f| f.lifetime), Ok(Duration::from_secs(3)));
}

/// Upstream max-age lowers the lifetime (less the upstream's Age), never
/// raises it; no-store, no-cache, cookies, Vary and encodings prevent
/// storing.
#[test]
fn upstream_headers() {
    let lowered = judge(200, &[("cache-control", "public, max-age=60")], ACTIVE).expect("stored");
    assert_eq!(lowered.lifetime, Duration::from_secs(60));
    let aged = judge(
        200,
        &[("cache-control", "max-age=60"), ("age", "20")],
        ACTIVE,
    )
    .expect("stored");
    assert_eq!(aged.lifetime, Duration::from_secs(40));
    let raised = judge(200, &[("cache-control", "max-age=99999")], ACTIVE).expect("stored");
    assert_eq!(raised.lifetime, config().ttl);
    assert!(judge(200, &[("cache-control", "max-age=0")], ACTIVE).is_err());
    assert!(judge(200, &[("cache-control", "max-age=soon")], ACTIVE).is_err());
    assert_eq!(
        judge(200, &[("cache-control", "No-Store")], ACTIVE),
        Err(NotStored::UpstreamForbids)
    );
    assert_eq!(
        judge(200, &[("cache-control", "no-cache")], ACTIVE),
        Err(NotStored::UpstreamForbids)
    );
    assert_eq!(
        judge(200, &[("set-cookie", "a=b")], ACTIVE),
        Err(NotStored::SetsCookie)
    );
    assert_eq!(judge(200, &[("vary", "*")], ACTIVE), Err(NotStored::Varies));
    assert_eq!(
        judge(200, &[("vary", "Accept-Language")], ACTIVE),
        Err(NotStored::Varies)
    );
    assert!(judge(200, &[("vary", "Accept-Encoding, X-Auth-Token")], ACTIVE).is_ok());
    assert_eq!(
        judge(200, &[("content-encoding", "gzip")], ACTIVE),
        Err(NotStored::Encoded)
    );
}

/// Bodies past cache.max_object_bytes are not stored.
#[test]
fn size_limit() {
    let mut config = config();
    config.max_object_bytes = ACTIVE.len() - 1;
    let verdict = storable(StatusCode::OK, &HeaderMap::new(), ACTIVE, "abc", &config);
    assert_eq!(verdict, Err(NotStored::TooLarge));
}

/// Request-side bypass: no-cache, no-store, max-age=0, Pragma; tokens and
/// bearer-style schemes are cacheable (signed requests are judged by
/// `principal::signing`).
#[test]
fn bypass_rules() {
    assert_eq!(bypass_reason(&headers(&[])), None);
    assert_eq!(bypass_reason(&headers(&[("x-auth-token", "t")])), None);
    assert!(bypass_reason(&headers(&[("cache-control", "no-cache")])).is_some());
    assert!(bypass_reason(&headers(&[("cache-control", "max-age=5, No-Store")])).is_some());
    assert!(bypass_reason(&headers(&[("cache-control", "max-age=0")])).is_some());
    assert_eq!(
        bypass_reason(&headers(&[("cache-control", "max-age=60")])),
        None
    );
    assert!(bypass_reason(&headers(&[("pragma", "no-cache")])).is_some());
    assert_eq!(
        bypass_reason(&headers(&[("authorization", "Bearer abc")])),
        None
    );
    assert_eq!(
        bypass_reason(&headers(&[("authorization", "basic Zm9v")])),
        None
    );
}
