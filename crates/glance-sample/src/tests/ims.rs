//! IMS's native write APIs as seen through `GET /v2/images/{id}` (issue
//! "coherence"): synchronous updates and tags, asynchronous registration
//! and member batches with their jobs.

use http::{Method, StatusCode};
use serde_json::{Value, json};

use super::super::{EXAMPLE_IMAGE_ID, PRIVATE_IMAGE_ID, QUEUED_IMAGE_ID, SHARED_IMAGE_ID};
use super::{Answer, Harness, TOKEN_A, TOKEN_ADMIN, TOKEN_B, TOKEN_C};

/// Sends `body` as JSON; `null` sends no body at all (a body on a GET or
/// DELETE would poison the pooled connection, as uWSGI does).
async fn send(h: &Harness, method: Method, path: &str, token: &str, body: Value) -> Answer {
    let body = if body.is_null() {
        String::new()
    } else {
        body.to_string()
    };
    h.send(method, path, &[("x-auth-token", token)], body).await
}

fn detail(id: &str) -> String {
    format!("/v2/images/{id}")
}

async fn job(h: &Harness, project: &str, id: &str, token: &str) -> Answer {
    h.get(&format!("/v1/{project}/jobs/{id}"), token).await
}

/// PATCH /v2/cloudimages/{id} answers the image as GET shows it; a member
/// is refused (403) and nothing changes; a non-active image is IMS's 400.
#[tokio::test]
async fn cloudimages_patch_updates_the_image() {
    let h = Harness::demo().await;
    let path = format!("/v2/cloudimages/{PRIVATE_IMAGE_ID}");
    let ops = json!([
        {"op": "replace", "path": "/name", "value": "renamed"},
        {"op": "replace", "path": "/__description", "value": "new words"},
        {"op": "replace", "path": "/min_ram", "value": 1024},
        {"op": "add", "path": "/__support_kvm", "value": "true"}
    ]);
    let patched = send(&h, Method::PATCH, &path, TOKEN_A, ops).await;
    assert_eq!(patched.status, StatusCode::OK);
    let shown = h.get(&detail(PRIVATE_IMAGE_ID), TOKEN_A).await;
    assert_eq!(patched.body, shown.body);
    let image = shown.json();
    assert_eq!(
        (image["name"].as_str(), image["min_ram"].as_u64()),
        (Some("renamed"), Some(1024))
    );
    assert_eq!(image["__support_kvm"], "true");
    let rename = json!([{"op": "replace", "path": "/name", "value": "mine"}]);
    let member = send(
        &h,
        Method::PATCH,
        &format!("/v2/cloudimages/{SHARED_IMAGE_ID}"),
        TOKEN_B,
        rename.clone(),
    )
    .await;
    assert_eq!(member.status, StatusCode::FORBIDDEN);
    assert_eq!(
        h.get(&detail(SHARED_IMAGE_ID), TOKEN_B).await.json()["name"],
        "debian-12-shared"
    );
    assert_eq!(
        send(&h, Method::PATCH, &path, TOKEN_B, rename.clone())
            .await
            .status,
        StatusCode::NOT_FOUND
    );
    let queued = send(
        &h,
        Method::PATCH,
        &format!("/v2/cloudimages/{QUEUED_IMAGE_ID}"),
        TOKEN_ADMIN,
        rename,
    )
    .await;
    assert_eq!(queued.status, StatusCode::BAD_REQUEST);
    assert_eq!(queued.json()["error"]["code"], "IMG.0001");
}

/// Registering an image file: 200 {"job_id"}; the image is saving and the
/// job RUNNING until it ends, then active (default store) and SUCCESS;
/// another project cannot see the job.
#[tokio::test]
async fn register_is_a_job() {
    let h = Harness::demo().await;
    h.handle.control.set_task_delay(None);
    let id = "4ca46bf1-5c61-48ff-b4f3-0ad4e5e3ba86";
    h.handle
        .control
        .insert_image(json!({"id": id, "name": "reg", "visibility": "private",
        "owner": "project-a", "status": "queued", "size": null}));
    let path = format!("/v1/cloudimages/{id}/upload");
    let bad = send(
        &h,
        Method::PUT,
        &path,
        TOKEN_A,
        json!({"image_url": "nocolon"}),
    )
    .await;
    assert_eq!(
        (bad.status, bad.json()["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("IMG.0001"))
    );
    let started = send(
        &h,
        Method::PUT,
        &path,
        TOKEN_A,
        json!({"image_url": "bucket:file.qcow2"}),
    )
    .await;
    assert_eq!(started.status, StatusCode::OK);
    let job_id = started.json()["job_id"]
        .as_str()
        .expect("job id")
        .to_owned();
    assert_eq!(h.get(&detail(id), TOKEN_A).await.json()["status"], "saving");
    let running = job(&h, "project-a", &job_id, TOKEN_A).await.json();
    assert_eq!(
        (running["status"].as_str(), running["end_time"].as_str()),
        (Some("RUNNING"), Some(""))
    );
    assert_eq!(running["job_type"], "imsNativeImportImageJob");
    assert_eq!(running["entities"]["image_id"], id);
    assert!(running["error_code"].is_null() && running["fail_reason"].is_null());
    assert_eq!(
        job(&h, "project-b", &job_id, TOKEN_B).await.status,
        StatusCode::NOT_FOUND
    );
    let again = send(
        &h,
        Method::PUT,
        &path,
        TOKEN_A,
        json!({"image_url": "bucket:file.qcow2"}),
    )
    .await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert!(h.handle.control.finish_task(&job_id));
    let active = h.get(&detail(id), TOKEN_A).await.json();
    assert_eq!(
        (active["status"].as_str(), active["stores"].as_str()),
        (Some("active"), Some("fs"))
    );
    let done = job(&h, "project-a", &job_id, TOKEN_A).await.json();
    assert_eq!(done["status"], "SUCCESS");
    assert!(done["end_time"].as_str().is_some_and(|t| t.ends_with('Z')));
}

/// Member batches change who sees an image only when their job ends: add
/// (the private image becomes shared), accept, remove.
#[tokio::test]
async fn member_batches_apply_when_the_job_ends() {
    let h = Harness::demo().await;
    h.handle.control.set_task_delay(None);
    let members = "/v1/cloudimages/members";
    let add = json!({"images": [PRIVATE_IMAGE_ID], "projects": ["project-c"]});
    let started = send(&h, Method::POST, members, TOKEN_A, add).await;
    assert_eq!(started.status, StatusCode::OK);
    let job_id = started.json()["job_id"].as_str().expect("job").to_owned();
    assert_eq!(
        h.get(&detail(PRIVATE_IMAGE_ID), TOKEN_C).await.status,
        StatusCode::NOT_FOUND
    );
    assert!(h.handle.control.finish_task(&job_id));
    let seen = h.get(&detail(PRIVATE_IMAGE_ID), TOKEN_C).await;
    assert_eq!(
        (seen.status, seen.json()["visibility"].as_str()),
        (StatusCode::OK, Some("shared"))
    );
    let results = job(&h, "project-a", &job_id, TOKEN_A).await.json();
    assert_eq!(results["job_type"], "imsAddImageMembersJob");
    assert_eq!(
        results["entities"]["results"][0],
        json!({"image_id": PRIVATE_IMAGE_ID, "project_id": "project-c", "status": "SUCCESS"})
    );
    let accept =
        json!({"images": [PRIVATE_IMAGE_ID], "project_id": "project-c", "status": "accepted"});
    assert_eq!(
        send(&h, Method::PUT, members, TOKEN_C, accept).await.status,
        StatusCode::OK
    );
    let member = format!("/v2/images/{PRIVATE_IMAGE_ID}/members/project-c");
    assert_eq!(h.get(&member, TOKEN_C).await.json()["status"], "pending");
    assert_eq!(h.handle.control.finish_tasks(), 1);
    assert_eq!(h.get(&member, TOKEN_C).await.json()["status"], "accepted");
    let remove = json!({"images": [PRIVATE_IMAGE_ID], "projects": ["project-c"]});
    assert_eq!(
        send(&h, Method::DELETE, members, TOKEN_A, remove)
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        h.get(&detail(PRIVATE_IMAGE_ID), TOKEN_C).await.status,
        StatusCode::OK
    );
    h.handle.control.finish_tasks();
    assert_eq!(
        h.get(&detail(PRIVATE_IMAGE_ID), TOKEN_C).await.status,
        StatusCode::NOT_FOUND
    );
}

/// A refused batch starts no job and changes nothing: a member cannot add
/// members (403), an invisible image is a 404, another project cannot
/// accept for the member (403), malformed bodies are IMS's 400.
#[tokio::test]
async fn refused_member_batches_change_nothing() {
    let h = Harness::demo().await;
    h.handle.control.set_task_delay(None);
    let members = "/v1/cloudimages/members";
    let cases = [
        (
            Method::POST,
            TOKEN_B,
            json!({"images": [SHARED_IMAGE_ID], "projects": ["project-c"]}),
            StatusCode::FORBIDDEN,
        ),
        (
            Method::POST,
            TOKEN_C,
            json!({"images": [PRIVATE_IMAGE_ID], "projects": ["project-c"]}),
            StatusCode::NOT_FOUND,
        ),
        (
            Method::POST,
            TOKEN_ADMIN,
            json!({"images": [EXAMPLE_IMAGE_ID], "projects": ["p"]}),
            StatusCode::FORBIDDEN,
        ),
        (
            Method::PUT,
            TOKEN_A,
            json!({"images": [SHARED_IMAGE_ID], "project_id": "project-b", "status": "rejected"}),
            StatusCode::FORBIDDEN,
        ),
        (
            Method::DELETE,
            TOKEN_B,
            json!({"images": [SHARED_IMAGE_ID], "projects": ["project-b"]}),
            StatusCode::FORBIDDEN,
        ),
        (
            Method::POST,
            TOKEN_A,
            json!({"images": PRIVATE_IMAGE_ID}),
            StatusCode::BAD_REQUEST,
        ),
    ];
    for (method, token, body, status) in cases {
        assert_eq!(
            send(&h, method, members, token, body.clone()).await.status,
            status,
            "{body}"
        );
    }
    assert!(h.handle.control.running_tasks().is_empty());
    assert_eq!(
        h.get(&detail(SHARED_IMAGE_ID), TOKEN_C).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        h.get(&detail(SHARED_IMAGE_ID), TOKEN_B).await.status,
        StatusCode::OK
    );
}

/// The legacy DELETE /v1.1/images/{id} deletes as Glance's delete,
/// protected images included (403), answering as IMS's example does:
/// 200, an empty HTML body, a request id.
#[tokio::test]
async fn legacy_delete() {
    let h = Harness::demo().await;
    let gone = send(
        &h,
        Method::DELETE,
        &format!("/v1.1/images/{PRIVATE_IMAGE_ID}"),
        TOKEN_A,
        Value::Null,
    )
    .await;
    assert_eq!(gone.status, StatusCode::OK);
    assert_eq!(
        gone.header_names(),
        ["content-type", "content-length", "x-openstack-request-id"]
    );
    assert_eq!(gone.headers["content-length"], "0");
    assert_eq!(
        h.get(&detail(PRIVATE_IMAGE_ID), TOKEN_A).await.status,
        StatusCode::NOT_FOUND
    );
    let protected = send(
        &h,
        Method::DELETE,
        &format!("/v1.1/images/{EXAMPLE_IMAGE_ID}"),
        TOKEN_ADMIN,
        Value::Null,
    )
    .await;
    assert_eq!(protected.status, StatusCode::FORBIDDEN);
    let method = send(
        &h,
        Method::GET,
        &format!("/v1.1/images/{EXAMPLE_IMAGE_ID}"),
        TOKEN_ADMIN,
        Value::Null,
    )
    .await;
    assert_eq!(method.status, StatusCode::METHOD_NOT_ALLOWED);
}

/// The queued demo image's `tags` as GET shows them.
async fn tags(h: &Harness) -> Value {
    h.get(&detail(QUEUED_IMAGE_ID), TOKEN_A).await.json()["tags"].clone()
}

/// IMS's tag APIs change Glance's `tags` at once: key.value strings,
/// replaced by key, deleted by key (404 when absent); others are refused.
#[tokio::test]
async fn ims_tags_change_glance_tags() {
    let h = Harness::demo().await;
    let v1 = json!({"image_id": QUEUED_IMAGE_ID, "tag": "aaaa.1111"});
    assert_eq!(
        send(&h, Method::PUT, "/v1/cloudimages/tags", TOKEN_ADMIN, v1)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(tags(&h).await, json!(["gold", "centos", "aaaa.1111"]));
    let base = format!("/v2/admin-project/images/{QUEUED_IMAGE_ID}/tags");
    let one = json!({"tag": {"key": "aaaa", "value": "2222"}});
    assert_eq!(
        send(&h, Method::POST, &base, TOKEN_ADMIN, one).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(tags(&h).await, json!(["gold", "centos", "aaaa.2222"]));
    let create = json!({"action": "create", "tags": [{"key": "k1", "value": "v1"}, {"key": "k2", "value": ""}]});
    let action = format!("{base}/action");
    assert_eq!(
        send(&h, Method::POST, &action, TOKEN_ADMIN, create)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        tags(&h).await,
        json!(["gold", "centos", "aaaa.2222", "k1.v1", "k2"])
    );
    let delete = json!({"action": "delete", "tags": [{"key": "k1", "value": ""}, {"key": "zz", "value": ""}]});
    assert_eq!(
        send(&h, Method::POST, &action, TOKEN_ADMIN, delete)
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        send(
            &h,
            Method::DELETE,
            &format!("{base}/k2"),
            TOKEN_ADMIN,
            Value::Null
        )
        .await
        .status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        send(
            &h,
            Method::DELETE,
            &format!("{base}/k2"),
            TOKEN_ADMIN,
            Value::Null
        )
        .await
        .status,
        StatusCode::NOT_FOUND
    );
    let listed = h.get(&base, TOKEN_A).await.json();
    assert_eq!(listed["tags"][2], json!({"key": "aaaa", "value": "2222"}));
    let refused = json!({"image_id": QUEUED_IMAGE_ID, "tag": "mine.1"});
    assert_eq!(
        send(&h, Method::PUT, "/v1/cloudimages/tags", TOKEN_A, refused)
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    let malformed = json!({"image_id": QUEUED_IMAGE_ID, "tag": {"key": "x"}});
    assert_eq!(
        send(
            &h,
            Method::PUT,
            "/v1/cloudimages/tags",
            TOKEN_ADMIN,
            malformed
        )
        .await
        .status,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(tags(&h).await, json!(["gold", "centos", "aaaa.2222"]));
}
