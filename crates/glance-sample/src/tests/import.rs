//! Glance 33's asynchronous import: 202 at once, the image changed when
//! the task ends (issue "coherence").

use std::time::Duration;

use bytes::Bytes;
use http::{Method, StatusCode};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::super::pattern::hex;
use super::super::{EXAMPLE_IMAGE_ID, QUEUED_IMAGE_ID};
use super::{Answer, Harness, TOKEN_A, TOKEN_ADMIN, TOKEN_B};

fn import_path(id: &str) -> String {
    format!("/v2/images/{id}/import")
}

async fn import(h: &Harness, id: &str, token: &str, body: Value) -> Answer {
    let auth = [("x-auth-token", token)];
    h.send(Method::POST, &import_path(id), &auth, body.to_string())
        .await
}

async fn image(h: &Harness, id: &str) -> Value {
    h.get(&format!("/v2/images/{id}"), TOKEN_ADMIN).await.json()
}

/// copy-image answers 202 with an empty body; the image stays active,
/// locked by a task and importing to the store; when the task ends the
/// store is in `stores`, the lists are empty and the lock is gone.
#[tokio::test]
async fn copy_image_lands_when_the_task_ends() {
    let h = Harness::demo().await;
    h.handle.control.set_task_delay(None);
    let body = json!({"method": {"name": "copy-image"}, "stores": ["fs2"]});
    let accepted = import(&h, EXAMPLE_IMAGE_ID, TOKEN_ADMIN, body.clone()).await;
    assert_eq!(accepted.status, StatusCode::ACCEPTED);
    assert_eq!(
        (
            accepted.body.len(),
            accepted.headers["content-length"].to_str().unwrap_or("")
        ),
        (0, "0")
    );
    let during = image(&h, EXAMPLE_IMAGE_ID).await;
    let task = during["os_glance_import_task"]
        .as_str()
        .expect("locked")
        .to_owned();
    assert!(uuid::Uuid::parse_str(&task).is_ok());
    assert_eq!(during["os_glance_importing_to_stores"], "fs2");
    assert_eq!(during["os_glance_failed_import"], "");
    assert_eq!(during["status"], "active");
    assert!(during.get("stores").is_none());
    let again = import(&h, EXAMPLE_IMAGE_ID, TOKEN_ADMIN, body).await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert_eq!(
        h.handle.control.running_tasks(),
        std::slice::from_ref(&task)
    );
    assert!(h.handle.control.finish_task(&task));
    let after = image(&h, EXAMPLE_IMAGE_ID).await;
    assert_eq!(after["stores"], "fs2");
    assert_eq!(after["os_glance_importing_to_stores"], "");
    assert_eq!(after["os_glance_failed_import"], "");
    assert!(after.get("os_glance_import_task").is_none());
    assert_eq!(after["status"], "active");
    let text = h
        .get(&format!("/v2/images/{EXAMPLE_IMAGE_ID}"), TOKEN_A)
        .await
        .text();
    assert!(
        text.ends_with(r#""status": "active", "stores": "fs2"}"#),
        "{text}"
    );
}

/// all_stores copies to every store the image is not in; a failed task
/// lists its stores in os_glance_failed_import and drops the lock.
#[tokio::test]
async fn all_stores_and_failure() {
    let h = Harness::demo().await;
    h.handle.control.set_task_delay(None);
    let all = json!({"method": {"name": "copy-image"}, "all_stores": true});
    assert_eq!(
        import(&h, EXAMPLE_IMAGE_ID, TOKEN_ADMIN, all.clone())
            .await
            .status,
        StatusCode::ACCEPTED
    );
    let during = image(&h, EXAMPLE_IMAGE_ID).await;
    assert_eq!(during["os_glance_importing_to_stores"], "fs,fs2");
    let task = during["os_glance_import_task"]
        .as_str()
        .expect("locked")
        .to_owned();
    assert!(h.handle.control.fail_task(&task, "boom"));
    let failed = image(&h, EXAMPLE_IMAGE_ID).await;
    assert_eq!(failed["os_glance_failed_import"], "fs,fs2");
    assert_eq!(failed["os_glance_importing_to_stores"], "");
    assert!(failed.get("os_glance_import_task").is_none());
    assert!(failed.get("stores").is_none());
    // Retrying clears the failed list for the stores retried.
    assert_eq!(
        import(&h, EXAMPLE_IMAGE_ID, TOKEN_ADMIN, all).await.status,
        StatusCode::ACCEPTED
    );
    assert_eq!(
        image(&h, EXAMPLE_IMAGE_ID).await["os_glance_failed_import"],
        ""
    );
    assert_eq!(h.handle.control.finish_tasks(), 1);
    assert_eq!(image(&h, EXAMPLE_IMAGE_ID).await["stores"], "fs,fs2");
    let nothing_left = json!({"method": {"name": "copy-image"}, "all_stores": true});
    let noop = import(&h, EXAMPLE_IMAGE_ID, TOKEN_ADMIN, nothing_left).await;
    assert_eq!(noop.status, StatusCode::ACCEPTED);
    assert!(h.handle.control.running_tasks().is_empty());
}

/// Glance's refusals: unknown method 400, unknown image 404, non-admin
/// copy 403, wrong state 409, unknown store 409, store already there 400.
#[tokio::test]
async fn import_refusals() {
    let h = Harness::demo().await;
    let copy = |stores: &[&str]| json!({"method": {"name": "copy-image"}, "stores": stores});
    let cases = [
        (
            EXAMPLE_IMAGE_ID,
            TOKEN_ADMIN,
            json!({"method": {"name": "bogus"}}),
            StatusCode::BAD_REQUEST,
        ),
        (
            EXAMPLE_IMAGE_ID,
            TOKEN_ADMIN,
            json!({}),
            StatusCode::BAD_REQUEST,
        ),
        (
            "00000000-0000-4000-8000-000000000999",
            TOKEN_ADMIN,
            copy(&["fs"]),
            StatusCode::NOT_FOUND,
        ),
        (
            EXAMPLE_IMAGE_ID,
            TOKEN_B,
            copy(&["fs"]),
            StatusCode::FORBIDDEN,
        ),
        (
            QUEUED_IMAGE_ID,
            TOKEN_ADMIN,
            copy(&["fs"]),
            StatusCode::CONFLICT,
        ),
        (
            EXAMPLE_IMAGE_ID,
            TOKEN_ADMIN,
            json!({"method": {"name": "glance-direct"}}),
            StatusCode::CONFLICT,
        ),
        (
            EXAMPLE_IMAGE_ID,
            TOKEN_ADMIN,
            copy(&["fs9"]),
            StatusCode::CONFLICT,
        ),
        (
            QUEUED_IMAGE_ID,
            TOKEN_ADMIN,
            json!({"method": {"name": "glance-direct"}}),
            StatusCode::CONFLICT,
        ),
        (
            QUEUED_IMAGE_ID,
            TOKEN_ADMIN,
            json!({"method": {"name": "web-download"}}),
            StatusCode::BAD_REQUEST,
        ),
    ];
    for (id, token, body, status) in cases {
        assert_eq!(
            import(&h, id, token, body.clone()).await.status,
            status,
            "{body}"
        );
    }
    assert!(
        image(&h, EXAMPLE_IMAGE_ID)
            .await
            .get("os_glance_import_task")
            .is_none()
    );
    h.handle.control.set_task_delay(None);
    assert_eq!(
        import(&h, EXAMPLE_IMAGE_ID, TOKEN_ADMIN, copy(&["fs"]))
            .await
            .status,
        StatusCode::ACCEPTED
    );
    h.handle.control.finish_tasks();
    let twice = import(&h, EXAMPLE_IMAGE_ID, TOKEN_ADMIN, copy(&["fs"])).await;
    assert_eq!(twice.status, StatusCode::BAD_REQUEST);
}

/// glance-direct: stage (uploading, size), import (importing, locked),
/// then active with the staged data, its hash and the default store.
#[tokio::test]
async fn glance_direct_stages_then_imports() {
    let h = Harness::demo().await;
    h.handle.control.set_task_delay(None);
    let auth = [("x-auth-token", TOKEN_A)];
    let created = h
        .send(
            Method::POST,
            "/v2/images",
            &auth,
            r#"{"name": "direct", "container_format": "bare", "disk_format": "raw"}"#,
        )
        .await
        .json();
    let id = created["id"].as_str().expect("id").to_owned();
    let not_staged = import(
        &h,
        &id,
        TOKEN_A,
        json!({"method": {"name": "glance-direct"}}),
    )
    .await;
    assert_eq!(not_staged.status, StatusCode::CONFLICT);
    let stage = format!("/v2/images/{id}/stage");
    assert_eq!(
        h.send(Method::PUT, &stage, &auth, "hello").await.status,
        StatusCode::NO_CONTENT
    );
    let staged = h.get(&format!("/v2/images/{id}"), TOKEN_A).await.json();
    assert_eq!(
        (staged["status"].as_str(), staged["size"].as_u64()),
        (Some("uploading"), Some(5))
    );
    assert_eq!(
        h.send(Method::PUT, &stage, &auth, "again").await.status,
        StatusCode::CONFLICT
    );
    let accepted = import(
        &h,
        &id,
        TOKEN_A,
        json!({"method": {"name": "glance-direct"}}),
    )
    .await;
    assert_eq!(accepted.status, StatusCode::ACCEPTED);
    let importing = h.get(&format!("/v2/images/{id}"), TOKEN_A).await.json();
    assert_eq!(importing["status"], "importing");
    assert_eq!(importing["os_glance_importing_to_stores"], "fs");
    assert!(importing["os_glance_import_task"].is_string());
    let file = h.get(&format!("/v2/images/{id}/file"), TOKEN_A).await;
    assert_eq!(file.status, StatusCode::NO_CONTENT);
    assert_eq!(h.handle.control.finish_tasks(), 1);
    let active = h.get(&format!("/v2/images/{id}"), TOKEN_A).await.json();
    assert_eq!(active["status"], "active");
    assert_eq!(active["stores"], "fs");
    assert_eq!(
        active["os_hash_value"],
        hex(&Sha256::digest(b"hello")).as_str()
    );
    assert!(active.get("os_glance_import_task").is_none());
    assert_eq!(
        h.get(&format!("/v2/images/{id}/file"), TOKEN_A).await.body,
        "hello"
    );
}

/// web-download turns a queued image importing, then active when its task
/// ends after the configured delay (here none at all).
#[tokio::test]
async fn web_download_ends_after_the_delay() {
    let h = Harness::demo().await;
    h.handle.control.set_task_delay(Some(Duration::ZERO));
    let web = json!({"method": {"name": "web-download", "uri": "https://example.test/a.qcow2"}});
    assert_eq!(
        import(&h, QUEUED_IMAGE_ID, TOKEN_ADMIN, web).await.status,
        StatusCode::ACCEPTED
    );
    // The task is due at once: the next look sees it ended.
    let after = image(&h, QUEUED_IMAGE_ID).await;
    assert_eq!(after["status"], "active");
    assert_eq!(after["stores"], "fs");
    assert_eq!(after["size"], 0);
}

/// The HTTP control endpoints hold, list and finish tasks, and set the
/// known stores.
#[tokio::test]
async fn http_task_controls() {
    let h = Harness::demo().await;
    let post = |path: &'static str| h.send(Method::POST, path, &[], Bytes::new());
    assert_eq!(
        post("/_sample/tasks?delay=manual").await.status,
        StatusCode::OK
    );
    assert_eq!(
        post("/_sample/stores?ids=a,b,c").await.status,
        StatusCode::OK
    );
    let body = json!({"method": {"name": "copy-image"}, "stores": ["c"]});
    assert_eq!(
        import(&h, EXAMPLE_IMAGE_ID, TOKEN_ADMIN, body).await.status,
        StatusCode::ACCEPTED
    );
    let listed = h
        .send(Method::GET, "/_sample/tasks", &[], Bytes::new())
        .await
        .json();
    assert_eq!(listed["stores"], json!(["a", "b", "c"]));
    assert_eq!(listed["running"].as_array().map(Vec::len), Some(1));
    let finished = post("/_sample/tasks/finish").await.json();
    assert_eq!(finished["finished"], 1);
    assert_eq!(image(&h, EXAMPLE_IMAGE_ID).await["stores"], "c");
    assert_eq!(
        post("/_sample/tasks/fail?id=nope").await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        post("/_sample/tasks?delay_ms=x").await.status,
        StatusCode::BAD_REQUEST
    );
}

/// With no stores configured (single-store Glance) images carry no
/// `stores`, and glance-direct still imports.
#[tokio::test]
async fn single_store_glance_has_no_stores_field() {
    let h = Harness::demo().await;
    h.handle.control.set_stores(&[]);
    h.handle.control.set_task_delay(None);
    let auth = [("x-auth-token", TOKEN_A)];
    let body = r#"{"name": "one", "container_format": "bare", "disk_format": "raw"}"#;
    let created = h.send(Method::POST, "/v2/images", &auth, body).await.json();
    let id = created["id"].as_str().expect("id").to_owned();
    let stage = format!("/v2/images/{id}/stage");
    assert_eq!(
        h.send(Method::PUT, &stage, &auth, "x").await.status,
        StatusCode::NO_CONTENT
    );
    let direct = json!({"method": {"name": "glance-direct"}});
    assert_eq!(
        import(&h, &id, TOKEN_A, direct).await.status,
        StatusCode::ACCEPTED
    );
    assert_eq!(h.handle.control.finish_tasks(), 1);
    let active = h.get(&format!("/v2/images/{id}"), TOKEN_A).await.json();
    assert_eq!(active["status"], "active");
    assert!(active.get("stores").is_none());
}
