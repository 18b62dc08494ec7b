//! The Glance API as clients see it: bodies, headers, errors, auth, writes.

use bytes::Bytes;
use http::{Method, StatusCode};
use serde_json::json;

use super::super::{
    DEACTIVATED_IMAGE_ID, EXAMPLE_IMAGE_ID, PRIVATE_IMAGE_ID, QUEUED_IMAGE_ID, SHARED_IMAGE_ID,
    SampleService, generated_id,
};
use super::{Harness, TOKEN_A, TOKEN_ADMIN, TOKEN_B, TOKEN_C};

const PATCH_TYPE: &str = "application/openstack-images-v2.1-json-patch";

/// The spec's example image comes back as Glance would print it, with
/// exactly Glance's three headers, and the request is counted.
#[tokio::test]
async fn example_image_is_served_like_glance() {
    let h = Harness::demo().await;
    let path = format!("/v2/images/{EXAMPLE_IMAGE_ID}");
    let a = h.get(&path, TOKEN_B).await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(
        a.header_names(),
        ["content-length", "content-type", "x-openstack-request-id"]
    );
    assert_eq!(a.headers["content-type"], "application/json");
    assert_eq!(
        a.headers["content-length"],
        a.body.len().to_string().as_str()
    );
    assert!(
        a.text()
            .starts_with(r#"{"schema": "/v2/schemas/image", "min_disk": 100, "#)
    );
    assert_eq!(a.json()["__os_version"], "CentOS 7.3 64bit");
    assert_eq!(h.handle.control.requests("GET", &path), 1);
    assert_eq!(h.handle.control.total_requests(), 1);
}

/// Fixture 02's image is served byte for byte (898 bytes), also under /v2.1.
#[tokio::test]
async fn fixture_02_bytes_and_version_alias() {
    let h = Harness::demo().await;
    let a = h
        .get(&format!("/v2.1/images/{QUEUED_IMAGE_ID}"), TOKEN_A)
        .await;
    assert_eq!(a.status, StatusCode::OK);
    assert_eq!(a.headers["content-length"], "898");
    assert!(a.text().ends_with(r#""tags": ["gold", "centos"], "self": "/v2/images/cbffb74f-2516-414c-824c-9ec0ee8fd02b", "file": "/v2/images/cbffb74f-2516-414c-824c-9ec0ee8fd02b/file", "schema": "/v2/schemas/image"}"#));
    let b = h
        .get(&format!("/v2/images/{QUEUED_IMAGE_ID}"), TOKEN_A)
        .await;
    assert_eq!(a.body, b.body);
    assert_ne!(
        a.headers["x-openstack-request-id"],
        b.headers["x-openstack-request-id"]
    );
}

/// A missing image's 404 depends on Accept, as in fixtures 03 and 03c.
#[tokio::test]
async fn not_found_body_follows_accept() {
    let h = Harness::demo().await;
    let path = "/v2/images/00000000-0000-0000-0000-000000000000";
    let with_accept = |accept: &'static str| [("x-auth-token", TOKEN_A), ("accept", accept)];
    let html = h
        .send(Method::GET, path, &with_accept("*/*"), Bytes::new())
        .await;
    assert_eq!(html.status, StatusCode::NOT_FOUND);
    assert_eq!(html.headers["content-type"], "text/html; charset=UTF-8");
    assert_eq!(html.headers["content-length"], "181");
    assert!(html.headers.contains_key("x-openstack-request-id"));
    let json = h
        .send(
            Method::GET,
            path,
            &with_accept("application/json"),
            Bytes::new(),
        )
        .await;
    assert_eq!(json.headers["content-type"], "application/json");
    assert_eq!(json.json()["code"], "404 Not Found");
    let plain = h.get(path, TOKEN_A).await;
    assert_eq!(plain.headers["content-type"], "text/plain; charset=UTF-8");
    assert_eq!(
        plain.text(),
        format!(
            "404 Not Found\n\nNo image found with ID {}\n\n   ",
            &path[11..]
        )
    );
}

/// A private image is visible to its project and admin; to others it is a
/// 404 identical to a missing image (fixtures 21, 22).
#[tokio::test]
async fn private_image_is_hidden_from_other_projects() {
    let h = Harness::demo().await;
    let path = format!("/v2/images/{PRIVATE_IMAGE_ID}");
    assert_eq!(h.get(&path, TOKEN_A).await.status, StatusCode::OK);
    assert_eq!(h.get(&path, TOKEN_ADMIN).await.status, StatusCode::OK);
    let trusted = [
        ("x-identity-status", "Confirmed"),
        ("x-project-id", "project-a"),
        ("x-roles", "member"),
    ];
    assert_eq!(
        h.send(Method::GET, &path, &trusted, Bytes::new())
            .await
            .status,
        StatusCode::OK
    );
    let hidden = h.get(&path, TOKEN_B).await;
    assert_eq!(hidden.status, StatusCode::NOT_FOUND);
    let missing = h
        .get("/v2/images/921571d2-bbb6-40bf-bd55-000000000000", TOKEN_B)
        .await;
    assert_eq!(hidden.body.len(), missing.body.len());
}

/// No credentials, a malformed token or `X-Identity-Status: Invalid` give
/// fixture 29's 401: HTML whatever the Accept, no request id.
#[tokio::test]
async fn unauthenticated_requests_get_fixture_29() {
    let h = Harness::demo().await;
    let cases: [&[(&str, &str)]; 3] = [
        &[("accept", "application/json")],
        &[("x-auth-token", "not-a-token")],
        &[("x-identity-status", "Invalid")],
    ];
    for headers in cases {
        let a = h
            .send(Method::GET, "/v2/images", headers, Bytes::new())
            .await;
        assert_eq!(a.status, StatusCode::UNAUTHORIZED);
        assert_eq!(a.headers["content-length"], "358");
        assert_eq!(a.headers["content-type"], "text/html; charset=UTF-8");
        assert!(!a.headers.contains_key("x-openstack-request-id"));
    }
    let versions = h.send(Method::GET, "/", &[], Bytes::new()).await;
    assert_eq!(versions.status, StatusCode::MULTIPLE_CHOICES);
}

/// PATCH: a wrong type is fixture 04b's 415; a json-patch updates the image
/// at once, bumps `updated_at`, and its body is recorded.
#[tokio::test]
async fn patch_updates_the_image() {
    let h = Harness::demo().await;
    let path = format!("/v2/images/{QUEUED_IMAGE_ID}");
    let auth = ("x-auth-token", TOKEN_ADMIN);
    let wrong = h
        .send(
            Method::PATCH,
            &path,
            &[auth, ("content-type", "application/json")],
            "[]",
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(wrong.header_names()[0], "accept-patch");
    let patch = r#"[{"op": "replace", "path": "/__os_version", "value": "CentOS 7.6 64bit"}, {"op": "add", "path": "/__new_prop", "value": "x"}, {"op": "remove", "path": "/__lazyloading"}]"#;
    let ok = h
        .send(
            Method::PATCH,
            &path,
            &[auth, ("content-type", PATCH_TYPE)],
            patch,
        )
        .await;
    assert_eq!(ok.status, StatusCode::OK);
    assert!(ok.text().contains(
        r#""virtual_env_type": "FusionCompute", "__new_prop": "x", "name": "ims-centos7""#
    ));
    assert_ne!(ok.json()["updated_at"], "2026-11-26T17:31:11Z");
    assert_eq!(h.get(&path, TOKEN_A).await.body, ok.body);
    assert_eq!(
        h.handle.control.last_request_body().as_deref(),
        Some(patch.as_bytes())
    );
    let not_owner = h
        .send(
            Method::PATCH,
            &path,
            &[("x-auth-token", TOKEN_A), ("content-type", PATCH_TYPE)],
            patch,
        )
        .await;
    assert_eq!(not_owner.status, StatusCode::FORBIDDEN);
}

/// DELETE gives fixture 30's 204 and then fixture 31's 404; protected
/// images refuse with 403.
#[tokio::test]
async fn delete_then_not_found() {
    let h = Harness::demo().await;
    let auth = [("x-auth-token", TOKEN_ADMIN)];
    let protected = h
        .send(
            Method::DELETE,
            &format!("/v2/images/{EXAMPLE_IMAGE_ID}"),
            &auth,
            Bytes::new(),
        )
        .await;
    assert_eq!(protected.status, StatusCode::FORBIDDEN);
    let path = format!("/v2/images/{QUEUED_IMAGE_ID}");
    let deleted = h.send(Method::DELETE, &path, &auth, Bytes::new()).await;
    assert_eq!(deleted.status, StatusCode::NO_CONTENT);
    assert_eq!(
        deleted.header_names(),
        ["content-type", "content-length", "x-openstack-request-id"]
    );
    assert_eq!(
        h.get(&path, TOKEN_ADMIN).await.status,
        StatusCode::NOT_FOUND
    );
}

/// Tags and actions change what a GET returns.
#[tokio::test]
async fn tags_and_actions() {
    let h = Harness::demo().await;
    let auth = [("x-auth-token", TOKEN_ADMIN)];
    let tag = format!("/v2/images/{QUEUED_IMAGE_ID}/tags/foo");
    assert_eq!(
        h.send(Method::PUT, &tag, &auth, Bytes::new()).await.status,
        StatusCode::NO_CONTENT
    );
    let image = h
        .get(&format!("/v2/images/{QUEUED_IMAGE_ID}"), TOKEN_A)
        .await
        .json();
    assert_eq!(image["tags"], json!(["gold", "centos", "foo"]));
    assert_eq!(
        h.send(Method::DELETE, &tag, &auth, Bytes::new())
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        h.send(Method::DELETE, &tag, &auth, Bytes::new())
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    let action = |a: &str| format!("/v2/images/{DEACTIVATED_IMAGE_ID}/actions/{a}");
    assert_eq!(
        h.send(Method::POST, &action("reactivate"), &auth, Bytes::new())
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        h.handle.control.image(DEACTIVATED_IMAGE_ID).expect("image")["status"],
        "active"
    );
    assert_eq!(
        h.send(Method::POST, &action("deactivate"), &auth, Bytes::new())
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        h.handle.control.image(DEACTIVATED_IMAGE_ID).expect("image")["status"],
        "deactivated"
    );
}

/// Members of a shared image see it; other projects do not.
#[tokio::test]
async fn shared_image_members() {
    let h = Harness::demo().await;
    let path = format!("/v2/images/{SHARED_IMAGE_ID}");
    assert_eq!(h.get(&path, TOKEN_B).await.status, StatusCode::OK);
    assert_eq!(h.get(&path, TOKEN_C).await.status, StatusCode::NOT_FOUND);
    let members = format!("{path}/members");
    let owner = [("x-auth-token", TOKEN_A)];
    let added = h
        .send(Method::POST, &members, &owner, r#"{"member": "project-c"}"#)
        .await;
    assert_eq!(added.status, StatusCode::OK);
    assert_eq!(added.json()["status"], "pending");
    assert_eq!(h.get(&path, TOKEN_C).await.status, StatusCode::OK);
    let gone = h
        .send(
            Method::DELETE,
            &format!("{members}/project-c"),
            &owner,
            Bytes::new(),
        )
        .await;
    assert_eq!(gone.status, StatusCode::NO_CONTENT);
    assert_eq!(h.get(&path, TOKEN_C).await.status, StatusCode::NOT_FOUND);
}

/// Lists page with limit/marker, link `next` only when more follow, and
/// filter by name.
#[tokio::test]
async fn list_pages_and_filters() {
    let h = Harness::start(SampleService::with_generated(30)).await;
    let first = h.get("/v2/images?limit=10", TOKEN_C).await.json();
    assert_eq!(first["images"].as_array().map(Vec::len), Some(10));
    assert_eq!(first["first"], "/v2/images?limit=10");
    assert_eq!(first["schema"], "/v2/schemas/images");
    let mut next = first["next"].as_str().expect("next").to_owned();
    let mut seen = 10;
    while !next.is_empty() {
        let page = h.get(&next, TOKEN_C).await.json();
        seen += page["images"].as_array().map_or(0, Vec::len);
        next = page["next"].as_str().unwrap_or_default().to_owned();
    }
    // Every public image; the private and shared demo images are hidden.
    assert_eq!(seen, 30 + 5);
    let named = h
        .get("/v2/images?name=generated-image-7", TOKEN_C)
        .await
        .json();
    assert_eq!(named["images"][0]["id"], generated_id(7).as_str());
    assert!(named.get("next").is_none());
    let bad = h.get("/v2/images?marker=nope", TOKEN_C).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
}

/// HEAD is refused like fixture 02c; unknown paths are Glance 404s; h2c works.
#[tokio::test]
async fn head_unknown_and_h2c() {
    let h = Harness::demo().await;
    let auth = [("x-auth-token", TOKEN_A)];
    let head = h
        .send(
            Method::HEAD,
            &format!("/v2/images/{EXAMPLE_IMAGE_ID}"),
            &auth,
            Bytes::new(),
        )
        .await;
    assert_eq!(head.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(head.headers["allow"], "GET, PATCH, DELETE");
    assert_eq!(
        h.get("/v2/nothing", TOKEN_A).await.status,
        StatusCode::NOT_FOUND
    );
    let h2 = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .http2_only(true)
        .build_http::<http_body_util::Full<Bytes>>();
    let req = http::Request::get(format!("{}/v2/images/{EXAMPLE_IMAGE_ID}", h.handle.url()))
        .header("x-auth-token", TOKEN_A)
        .body(http_body_util::Full::new(Bytes::new()))
        .expect("request");
    let response = h2.request(req).await.expect("h2c response");
    assert_eq!(
        (response.status(), response.version()),
        (StatusCode::OK, http::Version::HTTP_2)
    );
}
