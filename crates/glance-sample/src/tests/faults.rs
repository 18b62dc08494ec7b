//! Fault injection as a proxy would meet it.

use std::time::Duration;

use bytes::Bytes;
use http::{Method, StatusCode};
use http_body_util::BodyExt;

use super::super::{EXAMPLE_IMAGE_ID, Fault};
use super::{Harness, TOKEN_A};

fn detail() -> String {
    format!("/v2/images/{EXAMPLE_IMAGE_ID}")
}

/// FailNext fails exactly N detail GETs with the status and Retry-After,
/// then the image is served again.
#[tokio::test]
async fn fail_next_then_recovers() {
    let h = Harness::demo().await;
    h.handle.control.set_fault(Fault::FailNext {
        remaining: 2,
        status: 503,
        retry_after: Some(7),
    });
    for _ in 0..2 {
        let a = h.get(&detail(), TOKEN_A).await;
        assert_eq!(a.status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(a.headers["retry-after"], "7");
        assert_eq!(a.headers["content-type"], "application/json");
        assert_eq!(a.json()["code"], "503 Service Unavailable");
    }
    assert_eq!(h.get(&detail(), TOKEN_A).await.status, StatusCode::OK);
    assert_eq!(h.handle.control.requests("GET", &detail()), 3);
}

/// ErrorRate at 1000‰ fails every detail GET but not lists.
#[tokio::test]
async fn error_rate_hits_details_only() {
    let h = Harness::demo().await;
    h.handle
        .control
        .set_fault(Fault::ErrorRate { permille: 1000 });
    assert_eq!(
        h.get(&detail(), TOKEN_A).await.status,
        StatusCode::SERVICE_UNAVAILABLE
    );
    assert_eq!(h.get("/v2/images", TOKEN_A).await.status, StatusCode::OK);
    h.handle.control.set_fault(Fault::ErrorRate { permille: 0 });
    assert_eq!(h.get(&detail(), TOKEN_A).await.status, StatusCode::OK);
}

/// Down closes connections without an answer, yet counts the requests;
/// control endpoints keep working so the fault can be cleared.
#[tokio::test]
async fn down_drops_connections_but_counts() {
    let h = Harness::demo().await;
    h.handle.control.set_fault(Fault::Down);
    let result = h
        .send_streaming(
            Method::GET,
            "/v2/images",
            &[("x-auth-token", TOKEN_A)],
            Bytes::new(),
        )
        .await;
    assert!(result.is_err(), "expected a dropped connection");
    assert_eq!(h.handle.control.requests("GET", "/v2/images"), 1);
    let cleared = h
        .send(Method::POST, "/_sample/fault?kind=none", &[], Bytes::new())
        .await;
    assert_eq!(cleared.status, StatusCode::OK);
    assert_eq!(h.get("/v2/images", TOKEN_A).await.status, StatusCode::OK);
}

/// WrongId answers another image; InvalidJson answers truncated JSON.
#[tokio::test]
async fn wrong_id_and_invalid_json() {
    let h = Harness::demo().await;
    h.handle.control.set_fault(Fault::WrongId);
    let other = h.get(&detail(), TOKEN_A).await;
    assert_eq!(other.status, StatusCode::OK);
    assert_ne!(other.json()["id"], EXAMPLE_IMAGE_ID);
    h.handle.control.set_fault(Fault::InvalidJson);
    let broken = h.get(&detail(), TOKEN_A).await;
    assert_eq!(broken.headers["content-type"], "application/json");
    assert_eq!(
        broken.text(),
        format!("{{\"id\": \"{EXAMPLE_IMAGE_ID}\", \"name\": ")
    );
    assert!(serde_json::from_slice::<serde_json::Value>(&broken.body).is_err());
}

/// ResetMidBody announces the full length, sends half, then breaks.
#[tokio::test]
async fn reset_mid_body_breaks_the_body() {
    let h = Harness::demo().await;
    h.handle.control.set_fault(Fault::ResetMidBody);
    let response = h
        .send_streaming(
            Method::GET,
            &detail(),
            &[("x-auth-token", TOKEN_A)],
            Bytes::new(),
        )
        .await
        .expect("head arrives");
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.into_body().collect().await.is_err());
}

/// StallBody sends part of the body and then nothing; shutting the server
/// down closes the stalled connection instead of hanging.
#[tokio::test]
async fn stall_body_stalls_until_shutdown() {
    let h = Harness::demo().await;
    h.handle.control.set_fault(Fault::StallBody);
    let response = h
        .send_streaming(
            Method::GET,
            &detail(),
            &[("x-auth-token", TOKEN_A)],
            Bytes::new(),
        )
        .await
        .expect("head arrives");
    let mut body = response.into_body();
    let first = body.frame().await.expect("a frame").expect("data");
    assert!(first.data_ref().is_some_and(|d| !d.is_empty()));
    let stalled = tokio::time::timeout(Duration::from_millis(100), body.frame()).await;
    assert!(stalled.is_err(), "the body should stall");
    h.handle.shutdown().await;
    let after = tokio::time::timeout(Duration::from_secs(5), body.frame()).await;
    assert!(
        matches!(after, Ok(Some(Err(_)) | None)),
        "shutdown should break the body"
    );
}

/// Huge answers a valid JSON object of the requested id and size.
#[tokio::test]
async fn huge_body_has_requested_size() {
    let h = Harness::demo().await;
    h.handle.control.set_fault(Fault::Huge {
        bytes: 5 * 1024 * 1024,
    });
    let a = h.get(&detail(), TOKEN_A).await;
    assert_eq!(a.body.len(), 5 * 1024 * 1024);
    assert_eq!(a.headers["content-length"], "5242880");
    assert_eq!(a.json()["id"], EXAMPLE_IMAGE_ID);
}

/// Latency delays /v2 answers by at least the configured time.
#[tokio::test]
async fn latency_delays_answers() {
    let h = Harness::demo().await;
    h.handle.control.set_latency(Duration::from_millis(50));
    let started = std::time::Instant::now();
    assert_eq!(h.get(&detail(), TOKEN_A).await.status, StatusCode::OK);
    assert!(started.elapsed() >= Duration::from_millis(50));
}
