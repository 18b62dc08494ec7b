//! The control API, in process and over HTTP, and the server's lifecycle.

use std::time::Duration;

use bytes::Bytes;
use http::{Method, StatusCode};
use serde_json::json;

use super::super::{EXAMPLE_IMAGE_ID, Fault, SampleService};
use super::{Harness, TOKEN_A};

/// Requests' headers are recorded (tests check what a proxy forwarded).
#[tokio::test]
async fn last_request_headers_are_recorded() {
    let h = Harness::demo().await;
    let headers = [("x-auth-token", TOKEN_A), ("x-forwarded-for", "10.0.0.1")];
    h.send(Method::GET, "/v2/images", &headers, Bytes::new())
        .await;
    let seen = h.handle.control.last_request_headers().expect("recorded");
    assert_eq!(seen["x-forwarded-for"], "10.0.0.1");
}

/// Image fields can be set, images inserted and removed, and GETs follow.
#[tokio::test]
async fn catalogue_can_be_steered() {
    let h = Harness::demo().await;
    let control = &h.handle.control;
    assert!(control.set_image_field(EXAMPLE_IMAGE_ID, "status", json!("queued")));
    assert!(!control.set_image_field("nope", "status", json!("queued")));
    let path = format!("/v2/images/{EXAMPLE_IMAGE_ID}");
    let body = h.get(&path, TOKEN_A).await.json();
    assert_eq!(body["status"], "queued");
    control.insert_image(json!({"id": "img-1", "visibility": "private", "owner": "project-a"}));
    assert_eq!(
        h.get("/v2/images/img-1", TOKEN_A).await.text(),
        r#"{"id": "img-1", "visibility": "private", "owner": "project-a"}"#
    );
    assert!(control.remove_image("img-1"));
    assert_eq!(
        h.get("/v2/images/img-1", TOKEN_A).await.status,
        StatusCode::NOT_FOUND
    );
}

/// The HTTP control endpoints: stats, reset, latency, fault; not counted.
#[tokio::test]
async fn http_control_endpoints() {
    let h = Harness::demo().await;
    let path = format!("/v2/images/{EXAMPLE_IMAGE_ID}");
    h.get(&path, TOKEN_A).await;
    h.get(&path, TOKEN_A).await;
    let stats = h
        .send(Method::GET, "/_sample/stats", &[], Bytes::new())
        .await
        .json();
    assert_eq!(stats["total"], 2);
    assert_eq!(stats["by_path"][format!("GET {path}")], 2);
    let post = |p: &'static str| h.send(Method::POST, p, &[], Bytes::new());
    assert_eq!(post("/_sample/reset").await.status, StatusCode::OK);
    assert_eq!(h.handle.control.total_requests(), 0);
    assert_eq!(post("/_sample/latency?ms=0").await.status, StatusCode::OK);
    assert_eq!(
        post("/_sample/fault?kind=fail_next&remaining=3&status=502")
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        h.handle.control.fault(),
        Fault::FailNext {
            remaining: 3,
            status: 502,
            retry_after: None
        }
    );
    assert_eq!(
        post("/_sample/fault?kind=bogus").await.status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(h.handle.control.total_requests(), 0);
}

/// Dropping the handle stops the server: new connections are refused.
#[tokio::test]
async fn dropping_the_handle_stops_the_server() {
    let handle = SampleService::demo().start().await.expect("bind");
    let addr = handle.addr;
    drop(handle);
    // The accept loop notices the drop on its next poll; wait for the
    // listener to close (bounded, so a regression fails instead of hanging).
    for _ in 0..500 {
        if tokio::net::TcpStream::connect(addr).await.is_err() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("server still accepting after its handle was dropped");
}

/// Shutdown stops accepting at once.
#[tokio::test]
async fn shutdown_closes_the_listener() {
    let handle = SampleService::demo().start().await.expect("bind");
    let addr = handle.addr;
    assert!(handle.url().starts_with("http://127.0.0.1:"));
    handle.shutdown().await;
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}
