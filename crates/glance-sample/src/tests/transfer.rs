//! Streamed image data: uploads hashed chunk by chunk, downloads generated
//! chunk by chunk.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use serde_json::json;
use sha2::{Digest, Sha256};

use super::super::body::{SampleBody, pattern_file};
use super::super::pattern::{hex, pattern_sha256};
use super::super::{PRIVATE_IMAGE_ID, SampleService};
use super::{Harness, TOKEN_A};

const QUEUED_ID: &str = "11111111-2222-4333-8444-555555555555";

/// A body that hides its length, so the client sends it chunked.
struct Chunked(SampleBody);

impl Body for Chunked {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        Pin::new(&mut self.0).poll_frame(cx)
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::default()
    }
}

fn queued_image() -> serde_json::Value {
    json!({"id": QUEUED_ID, "name": "upload-target", "visibility": "private",
           "owner": "project-a", "status": "queued", "size": null})
}

/// Uploads `size` pattern bytes chunked, then downloads them back; both
/// sides are hashed incrementally.
async fn round_trip(size: u64) {
    let h = Harness::start(SampleService::demo()).await;
    h.handle.control.insert_image(queued_image());
    upload(&h, size).await;
    download(&h, size).await;
}

/// Uploads `size` pattern bytes with chunked transfer encoding.
async fn upload(h: &Harness, size: u64) {
    let client = Client::builder(TokioExecutor::new()).build_http::<Chunked>();
    let url = format!("{}/v2/images/{QUEUED_ID}/file", h.handle.url());
    let req = Request::put(&url)
        .header("x-auth-token", TOKEN_A)
        .header("content-type", "application/octet-stream")
        .body(Chunked(pattern_file(size)))
        .expect("request");
    let response = client.request(req).await.expect("upload answered");
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let expected = pattern_sha256(size);
    let upload = h.handle.control.last_upload().expect("upload recorded");
    assert_eq!((upload.image_id.as_str(), upload.bytes), (QUEUED_ID, size));
    assert_eq!(upload.sha256_hex, expected);
    let image = h.handle.control.image(QUEUED_ID).expect("image");
    assert_eq!(
        (image["status"].clone(), image["size"].clone()),
        (json!("active"), json!(size))
    );
    assert_eq!(image["os_hash_value"], expected.as_str());
}

/// Downloads the image back, hashing as the chunks arrive.
async fn download(h: &Harness, size: u64) {
    let expected = pattern_sha256(size);
    let path = format!("/v2/images/{QUEUED_ID}/file");
    let download = h
        .send_streaming(
            Method::GET,
            &path,
            &[("x-auth-token", TOKEN_A)],
            Bytes::new(),
        )
        .await;
    let download = download.expect("download answered");
    assert_eq!(
        download.headers()["content-type"],
        "application/octet-stream"
    );
    assert_eq!(
        download.headers()["content-length"],
        size.to_string().as_str()
    );
    let mut body = download.into_body();
    let (mut hasher, mut received) = (Sha256::new(), 0u64);
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame.expect("frame").into_data() {
            received += data.len() as u64;
            hasher.update(&data);
        }
    }
    assert_eq!((received, hex(&hasher.finalize())), (size, expected));
}

/// 64 MiB goes up chunked and comes back intact.
#[tokio::test]
async fn streamed_upload_and_download() {
    round_trip(64 * 1024 * 1024 + 7).await;
}

/// 1 GiB goes up chunked and comes back intact (slow in debug builds:
/// `cargo test --release -- --ignored`).
#[tokio::test]
#[ignore]
async fn one_gib_round_trip() {
    round_trip(1 << 30).await;
}

/// A small upload is kept and served back as sent.
#[tokio::test]
async fn small_upload_is_served_back() {
    let h = Harness::demo().await;
    h.handle.control.insert_image(queued_image());
    let path = format!("/v2/images/{QUEUED_ID}/file");
    let auth = [("x-auth-token", TOKEN_A)];
    let put = h.send(Method::PUT, &path, &auth, "hello world").await;
    assert_eq!(put.status, StatusCode::NO_CONTENT);
    assert_eq!(h.handle.control.last_upload().expect("upload").bytes, 11);
    let again = h.send(Method::PUT, &path, &auth, "again").await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert_eq!(
        h.send(Method::GET, &path, &auth, Bytes::new()).await.body,
        "hello world"
    );
    // A file upload is not a JSON body.
    assert!(h.handle.control.last_request_body().is_none());
}

/// The private demo image downloads as 256 KiB of pattern matching its
/// advertised hash.
#[tokio::test]
async fn demo_image_download_matches_its_hash() {
    let h = Harness::demo().await;
    let a = h
        .get(&format!("/v2/images/{PRIVATE_IMAGE_ID}/file"), TOKEN_A)
        .await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.body.len(), 262_144);
    let image = h.handle.control.image(PRIVATE_IMAGE_ID).expect("image");
    assert_eq!(
        image["os_hash_value"],
        hex(&Sha256::digest(&a.body)).as_str()
    );
}
