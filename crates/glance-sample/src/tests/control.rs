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

/// Started split, the API port answers `/_sample/…` as Glance answers an
/// unknown path (401 without a token, 404 with one) and counts it; the
/// control port answers the control endpoints and nothing else; shutdown
/// closes both.
#[tokio::test]
async fn split_service_keeps_controls_off_the_api_port() {
    let handle = SampleService::demo().start_split().await.expect("bind");
    assert_ne!(handle.addr, handle.control_addr);
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<http_body_util::Full<Bytes>>();
    let send = |url: String, token: Option<&'static str>| {
        let mut req = http::Request::get(url);
        if let Some(token) = token {
            req = req.header("x-auth-token", token);
        }
        let req = req
            .body(http_body_util::Full::new(Bytes::new()))
            .expect("request");
        let pending = client.request(req);
        async move { pending.await.expect("response").status() }
    };
    let api_stats = format!("{}/_sample/stats", handle.url());
    assert_eq!(
        send(api_stats.clone(), Some(TOKEN_A)).await,
        StatusCode::NOT_FOUND
    );
    assert_eq!(send(api_stats, None).await, StatusCode::UNAUTHORIZED);
    let reset = format!("{}/_sample/reset", handle.url());
    assert_eq!(send(reset, Some(TOKEN_A)).await, StatusCode::NOT_FOUND);
    assert_eq!(
        handle.control.total_requests(),
        3,
        "counted as API requests"
    );
    let control = handle.control_url();
    assert_eq!(
        send(format!("{control}/_sample/stats"), None).await,
        StatusCode::OK
    );
    let image = format!("{control}/v2/images/{EXAMPLE_IMAGE_ID}");
    assert_eq!(send(image, Some(TOKEN_A)).await, StatusCode::NOT_FOUND);
    assert_eq!(
        handle.control.total_requests(),
        3,
        "control requests are not"
    );
    let image = format!("{}/v2/images/{EXAMPLE_IMAGE_ID}", handle.url());
    assert_eq!(send(image, Some(TOKEN_A)).await, StatusCode::OK);
    let (api, control) = (handle.addr, handle.control_addr);
    handle.shutdown().await;
    assert!(tokio::net::TcpStream::connect(api).await.is_err());
    assert!(tokio::net::TcpStream::connect(control).await.is_err());
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
