//! Glance under uWSGI: connections closed without an answer, and one
//! throttled token among served ones (issue "failure isolation").

use bytes::Bytes;
use http::{Method, StatusCode};

use super::super::EXAMPLE_IMAGE_ID;
use super::{Harness, RawConnection, TOKEN_A, TOKEN_B, raw, raw_get};

fn detail() -> String {
    format!("/v2/images/{EXAMPLE_IMAGE_ID}")
}

/// A path whose escape is not UTF-8 gets no response byte and a closed
/// connection, yet counts as a request; switched off, it is a 404.
#[tokio::test]
async fn undecodable_path_closes_without_answer() {
    let h = Harness::demo().await;
    let mut conn = RawConnection::open(&h).await;
    assert_eq!(
        conn.exchange(&raw_get("/v2/images/%ff", TOKEN_A, "")).await,
        None
    );
    assert_eq!(h.handle.control.requests("GET", "/v2/images/%ff"), 1);
    assert_eq!(h.handle.control.undecodable_drops(), 1);
    let valid = h.get("/v2/images/%C3%BC", TOKEN_A).await;
    assert_eq!(valid.status, StatusCode::NOT_FOUND);
    h.handle.control.set_drop_undecodable_paths(false);
    let mut conn = RawConnection::open(&h).await;
    let answered = conn.exchange(&raw_get("/v2/images/%ff", TOKEN_A, "")).await;
    assert_eq!(answered.map(|(status, _)| status), Some(404));
    assert_eq!(h.handle.control.undecodable_drops(), 1);
}

/// A GET with a body is answered, the connection stays open, and the next
/// request on it is dropped without a byte; a new connection is served.
#[tokio::test]
async fn unread_body_poisons_the_next_request() {
    let h = Harness::demo().await;
    let mut conn = RawConnection::open(&h).await;
    let first = conn.exchange(&raw_get(&detail(), TOKEN_A, "{}")).await;
    assert_eq!(first.map(|(status, _)| status), Some(200));
    assert_eq!(conn.exchange(&raw_get(&detail(), TOKEN_A, "")).await, None);
    assert_eq!(h.handle.control.poisoned_drops(), 1);
    assert_eq!(h.handle.control.requests("GET", &detail()), 2);
    let mut fresh = RawConnection::open(&h).await;
    let served = fresh.exchange(&raw_get(&detail(), TOKEN_A, "")).await;
    assert_eq!(served.map(|(status, _)| status), Some(200));
    assert_eq!(
        fresh
            .exchange(&raw_get(&detail(), TOKEN_A, ""))
            .await
            .map(|a| a.0),
        Some(200)
    );
}

/// A POST to an unknown path (body unread) poisons too; a POST whose
/// route reads the body, or a switched-off service, does not.
#[tokio::test]
async fn unknown_write_poisons_known_write_does_not() {
    let h = Harness::demo().await;
    let mut conn = RawConnection::open(&h).await;
    let unknown = conn
        .exchange(&raw("POST", "/v2/nothing", TOKEN_A, "{}"))
        .await;
    assert_eq!(unknown.map(|(status, _)| status), Some(404));
    assert_eq!(conn.exchange(&raw_get(&detail(), TOKEN_A, "")).await, None);
    let mut conn = RawConnection::open(&h).await;
    let created = conn
        .exchange(&raw("POST", "/v2/images", TOKEN_A, r#"{"name": "n"}"#))
        .await;
    assert_eq!(created.map(|(status, _)| status), Some(201));
    assert_eq!(
        conn.exchange(&raw_get(&detail(), TOKEN_A, ""))
            .await
            .map(|a| a.0),
        Some(200)
    );
    h.handle.control.set_poison_keepalive(false);
    let mut conn = RawConnection::open(&h).await;
    assert!(
        conn.exchange(&raw_get(&detail(), TOKEN_A, "{}"))
            .await
            .is_some()
    );
    assert!(
        conn.exchange(&raw_get(&detail(), TOKEN_A, ""))
            .await
            .is_some()
    );
    assert_eq!(h.handle.control.poisoned_drops(), 1);
}

/// A throttled token gets its status, Retry-After and a JSON body on
/// every path; another token is served; clearing ends it.
#[tokio::test]
async fn throttled_token_only() {
    let h = Harness::demo().await;
    h.handle.control.throttle(TOKEN_B, 429, 7);
    for path in [detail(), "/v2/images".to_owned()] {
        let limited = h.get(&path, TOKEN_B).await;
        assert_eq!(limited.status, StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(limited.headers["retry-after"], "7");
        assert_eq!(limited.headers["content-type"], "application/json");
        assert_eq!(limited.json()["code"], "429 Too Many Requests");
    }
    assert_eq!(h.get(&detail(), TOKEN_A).await.status, StatusCode::OK);
    assert!(h.handle.control.clear_throttle(TOKEN_B));
    assert_eq!(h.get(&detail(), TOKEN_B).await.status, StatusCode::OK);
}

/// A control request without a token.
async fn control(h: &Harness, method: Method, path: &str) -> super::Answer {
    h.send(method, path, &[], Bytes::new()).await
}

/// The HTTP control endpoints set and clear throttles and the uWSGI
/// switches, and stats report the drops.
#[tokio::test]
async fn http_controls_for_uwsgi_and_throttles() {
    let h = Harness::demo().await;
    let set = control(
        &h,
        Method::POST,
        &format!("/_sample/throttle?token={TOKEN_A}&status=503&retry_after=3"),
    )
    .await;
    assert_eq!(set.status, StatusCode::OK);
    let limited = h.get(&detail(), TOKEN_A).await;
    assert_eq!(
        (limited.status, limited.headers["retry-after"].to_str().ok()),
        (StatusCode::SERVICE_UNAVAILABLE, Some("3"))
    );
    assert_eq!(
        control(&h, Method::DELETE, "/_sample/throttle")
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(h.get(&detail(), TOKEN_A).await.status, StatusCode::OK);
    let bad = control(&h, Method::POST, "/_sample/throttle?token=x&status=200").await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    let off = control(
        &h,
        Method::POST,
        "/_sample/uwsgi?undecodable_path=off&poison_keepalive=off",
    )
    .await;
    assert_eq!(off.status, StatusCode::OK);
    assert_eq!(
        h.get("/v2/images/%ff", TOKEN_A).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        control(&h, Method::POST, "/_sample/uwsgi?undecodable_path=on")
            .await
            .status,
        StatusCode::OK
    );
    let mut conn = RawConnection::open(&h).await;
    assert_eq!(
        conn.exchange(&raw_get("/v2/images/%fe", TOKEN_A, "")).await,
        None
    );
    assert_eq!(
        control(&h, Method::POST, "/_sample/uwsgi?bogus=1")
            .await
            .status,
        StatusCode::BAD_REQUEST
    );
    let stats = control(&h, Method::GET, "/_sample/stats").await.json();
    assert_eq!(stats["dropped"]["undecodable_path"], 1);
    assert_eq!(stats["dropped"]["poisoned_keepalive"], 0);
}
