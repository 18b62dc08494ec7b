//! Coherence with how images really change: Glance's asynchronous import
//! tasks, IMS's own write APIs (ids in paths and bodies, asynchronous
//! jobs), and writes the upstream refused — which change nothing, here or
//! across a fleet sharing Redis.

mod common;

use std::time::Duration;

use common::redis::TestRedis;
use common::*;
use http::Method;

/// Sends a JSON write as `token`.
async fn write(proxy: &ProxyHandle, method: Method, path: &str, token: &str, body: &str) -> Reply {
    send(
        method,
        &proxy.url(path),
        &[
            ("x-auth-token", token),
            ("content-type", "application/json"),
        ],
        body.as_bytes(),
    )
    .await
}

/// Creates an image (metadata only) as alice; its id.
async fn new_image(proxy: &ProxyHandle, name: &str, disk_format: &str) -> String {
    let body = format!(
        r#"{{"name": "{name}", "disk_format": "{disk_format}", "container_format": "bare"}}"#
    );
    let created = write(proxy, Method::POST, "/v2/images", TOKEN_A, &body).await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    created.json()["id"].as_str().expect("id").to_owned()
}

/// Reads `id` twice as `token`: the second one is a hit (stored).
async fn cached(proxy: &ProxyHandle, token: &str, id: &str) -> Reply {
    let first = get_image_as(proxy, id, token).await;
    assert_eq!(first.status, 200, "{:?}", first.body);
    let second = get_image_as(proxy, id, token).await;
    assert!(is_hit(second.outcome()), "{:?}", second.outcome());
    second
}

/// Tempest's `test_image_copy_image_import` through the proxy: the
/// import answers 202 and Glance copies the active image in a background
/// task. While the task runs the image is never stored (its body says a
/// task is in flight); once it ends the new stores are read and stored.
#[tokio::test]
async fn copy_image_import_is_never_cached_mid_task() {
    let sample = start_sample().await;
    sample.control.set_task_delay(None);
    let proxy = start_proxy(&sample.url()).await;
    cached(&proxy, TOKEN_ADMIN, EXAMPLE_IMAGE_ID).await;
    let import = write(
        &proxy,
        Method::POST,
        &format!("{}/import", image_path(EXAMPLE_IMAGE_ID)),
        TOKEN_ADMIN,
        r#"{"method": {"name": "copy-image"}, "all_stores": true}"#,
    )
    .await;
    assert_eq!(import.status, 202, "{:?}", import.body);
    for _ in 0..3 {
        let during = get_image_as(&proxy, EXAMPLE_IMAGE_ID, TOKEN_ADMIN).await;
        assert_eq!(during.status, 200);
        assert!(!during.json()["os_glance_import_task"].is_null());
        let outcome = during.outcome();
        assert!(
            !is_hit(outcome)
                && !matches!(outcome, Some(CacheOutcome::Fetched { stored: true, .. })),
            "not stored while the task runs: {outcome:?}"
        );
    }
    assert_eq!(sample.control.finish_tasks(), 1);
    let after = get_image_as(&proxy, EXAMPLE_IMAGE_ID, TOKEN_ADMIN).await;
    let stores = after.json()["stores"].as_str().unwrap_or("").to_owned();
    assert!(stores.contains("fs2"), "{stores}");
    assert!(after.json()["os_glance_import_task"].is_null());
    assert_eq!(after.outcome(), STORED);
    assert!(is_hit(
        get_image_as(&proxy, EXAMPLE_IMAGE_ID, TOKEN_ADMIN)
            .await
            .outcome()
    ));
}

/// The glance-direct import: stage, import (202, `importing` with a
/// task), then active; no read in between is stored.
#[tokio::test]
async fn glance_direct_import_is_never_cached_mid_task() {
    let sample = start_sample().await;
    sample.control.set_task_delay(None);
    let proxy = start_proxy(&sample.url()).await;
    let id = new_image(&proxy, "direct", "raw").await;
    let staged = send(
        Method::PUT,
        &proxy.url(&format!("{}/stage", image_path(&id))),
        &[
            ("x-auth-token", TOKEN_A),
            ("content-type", "application/octet-stream"),
        ],
        b"image bytes",
    )
    .await;
    assert_eq!(staged.status, 204, "{:?}", staged.body);
    let import = write(
        &proxy,
        Method::POST,
        &format!("{}/import", image_path(&id)),
        TOKEN_A,
        r#"{"method": {"name": "glance-direct"}}"#,
    )
    .await;
    assert_eq!(import.status, 202, "{:?}", import.body);
    let during = get_image_as(&proxy, &id, TOKEN_A).await;
    assert_eq!(during.json()["status"], "importing");
    assert!(!is_hit(get_image_as(&proxy, &id, TOKEN_A).await.outcome()));
    sample.control.finish_tasks();
    let active = get_image_as(&proxy, &id, TOKEN_A).await;
    assert_eq!(active.json()["status"], "active");
    assert_eq!(active.outcome(), STORED);
}

/// IMS's "Updating Image Information": a rename through
/// `PATCH /v2/cloudimages/{id}` is read at once.
#[tokio::test]
async fn ims_update_invalidates() {
    let sample = start_sample().await;
    let proxy = start_proxy(&sample.url()).await;
    cached(&proxy, TOKEN_A, PRIVATE_IMAGE_ID).await;
    let patched = write(
        &proxy,
        Method::PATCH,
        &format!("/v2/cloudimages/{PRIVATE_IMAGE_ID}"),
        TOKEN_A,
        r#"[{"op": "replace", "path": "/name", "value": "renamed-by-ims"}]"#,
    )
    .await;
    assert_eq!(patched.status, 200, "{:?}", patched.body);
    let after = get_image_as(&proxy, PRIVATE_IMAGE_ID, TOKEN_A).await;
    assert!(!is_hit(after.outcome()));
    assert_eq!(after.json()["name"], "renamed-by-ims");
}

/// IMS's tag calls: the v1 call names its image in the body, the v2
/// calls in the path; each is read at once.
#[tokio::test]
async fn ims_tag_calls_invalidate() {
    let sample = start_sample().await;
    let proxy = start_proxy(&sample.url()).await;
    let tag_calls = [
        (
            Method::PUT,
            "/v1/cloudimages/tags".to_owned(),
            format!(r#"{{"image_id": "{PRIVATE_IMAGE_ID}", "tag": "team.blue"}}"#),
            "team.blue",
        ),
        (
            Method::POST,
            format!("/v2/project-a/images/{PRIVATE_IMAGE_ID}/tags"),
            r#"{"tag": {"key": "env", "value": "prod"}}"#.to_owned(),
            "env.prod",
        ),
        (
            Method::POST,
            format!("/v2/project-a/images/{PRIVATE_IMAGE_ID}/tags/action"),
            r#"{"action": "create", "tags": [{"key": "tier", "value": "gold"}]}"#.to_owned(),
            "tier.gold",
        ),
    ];
    for (method, path, body, tag) in tag_calls {
        cached(&proxy, TOKEN_A, PRIVATE_IMAGE_ID).await;
        let answer = write(&proxy, method.clone(), &path, TOKEN_A, &body).await;
        assert!(
            answer.status.is_success(),
            "{method} {path}: {:?}",
            answer.body
        );
        let after = get_image_as(&proxy, PRIVATE_IMAGE_ID, TOKEN_A).await;
        assert!(!is_hit(after.outcome()), "{method} {path}");
        let tags = after.json()["tags"].to_string();
        assert!(tags.contains(tag), "{method} {path}: {tags}");
    }
    cached(&proxy, TOKEN_A, PRIVATE_IMAGE_ID).await;
    let deleted = send(
        Method::DELETE,
        &proxy.url(&format!("/v2/project-a/images/{PRIVATE_IMAGE_ID}/tags/env")),
        &[("x-auth-token", TOKEN_A)],
        b"",
    )
    .await;
    assert!(deleted.status.is_success(), "{:?}", deleted.body);
    let after = get_image_as(&proxy, PRIVATE_IMAGE_ID, TOKEN_A).await;
    assert!(!is_hit(after.outcome()));
    assert!(!after.json()["tags"].to_string().contains("env.prod"));
}

/// The legacy `DELETE /v1.1/images/{id}`: the image is gone at once.
#[tokio::test]
async fn ims_legacy_delete_invalidates() {
    let sample = start_sample().await;
    let proxy = start_proxy(&sample.url()).await;
    cached(&proxy, TOKEN_A, PRIVATE_IMAGE_ID).await;
    let deleted = send(
        Method::DELETE,
        &proxy.url(&format!("/v1.1/images/{PRIVATE_IMAGE_ID}")),
        &[("x-auth-token", TOKEN_A)],
        b"",
    )
    .await;
    assert!(deleted.status.is_success(), "{:?}", deleted.body);
    assert_eq!(
        get_image_as(&proxy, PRIVATE_IMAGE_ID, TOKEN_A).await.status,
        404
    );
}

/// Removing a member through IMS's asynchronous batch call: accepted at
/// once (`{"job_id"}`), done when the job runs. While it runs the image
/// is not stored for anyone, so once the job has ended (seen on the
/// client's own poll) the removed member is refused at once — not served
/// the copy for a TTL.
#[tokio::test]
async fn ims_member_jobs_hold_their_images_until_they_end() {
    let sample = start_sample().await;
    sample.control.set_task_delay(None);
    let proxy = TestProxy::new(&sample.url()).admin().start().await;
    cached(&proxy, TOKEN_B, SHARED_IMAGE_ID).await;
    let removal = write(
        &proxy,
        Method::DELETE,
        "/v1/cloudimages/members",
        TOKEN_A,
        &format!(r#"{{"images": ["{SHARED_IMAGE_ID}"], "projects": ["project-b"]}}"#),
    )
    .await;
    assert_eq!(removal.status, 200, "{:?}", removal.body);
    let job = removal.json()["job_id"]
        .as_str()
        .expect("job_id")
        .to_owned();
    // The job has not run: bob still sees the image, uncached.
    for _ in 0..2 {
        let during = get_image_as(&proxy, SHARED_IMAGE_ID, TOKEN_B).await;
        assert_eq!(during.status, 200);
        assert!(!is_hit(during.outcome()), "held while the job runs");
    }
    let poll = |proxy: &ProxyHandle| {
        let url = proxy.url(&format!("/v1/project-a/jobs/{job}"));
        async move { get(&url, &[("x-auth-token", TOKEN_A)]).await }
    };
    assert_eq!(poll(&proxy).await.json()["status"], "RUNNING");
    assert!(!is_hit(
        get_image_as(&proxy, SHARED_IMAGE_ID, TOKEN_B)
            .await
            .outcome()
    ));
    sample.control.finish_tasks();
    assert_eq!(poll(&proxy).await.json()["status"], "SUCCESS");
    assert_eq!(
        get_image_as(&proxy, SHARED_IMAGE_ID, TOKEN_B).await.status,
        404
    );
    // Released: the owner's reads are stored again.
    get_image_as(&proxy, SHARED_IMAGE_ID, TOKEN_A).await;
    assert!(is_hit(
        get_image_as(&proxy, SHARED_IMAGE_ID, TOKEN_A)
            .await
            .outcome()
    ));
    assert_eq!(proxy.metric("imgcache_jobs_held_total").await, 1.0);
}

/// Nobody polls the job: the images are held for `cache.job_hold`, then
/// invalidated again and released.
#[tokio::test]
async fn an_unwatched_job_is_released_after_job_hold() {
    let sample = start_sample().await;
    sample.control.set_task_delay(None);
    let job_hold = Duration::from_millis(300);
    let proxy = TestProxy::new(&sample.url())
        .with(|config| config.cache.job_hold = job_hold)
        .start()
        .await;
    let written = tokio::time::Instant::now();
    let added = write(
        &proxy,
        Method::POST,
        "/v1/cloudimages/members",
        TOKEN_A,
        &format!(r#"{{"images": ["{PRIVATE_IMAGE_ID}"], "projects": ["project-b"]}}"#),
    )
    .await;
    assert_eq!(added.status, 200, "{:?}", added.body);
    get_image_as(&proxy, PRIVATE_IMAGE_ID, TOKEN_A).await;
    assert!(!is_hit(
        get_image_as(&proxy, PRIVATE_IMAGE_ID, TOKEN_A)
            .await
            .outcome()
    ));
    // Released once the hold's timer has run: a read is stored again.
    let proxy = &proxy;
    eventually("the images are released", || async move {
        get_image_as(proxy, PRIVATE_IMAGE_ID, TOKEN_A).await;
        is_hit(
            get_image_as(proxy, PRIVATE_IMAGE_ID, TOKEN_A)
                .await
                .outcome(),
        )
    })
    .await;
    assert!(written.elapsed() >= job_hold, "released before job_hold");
}

/// Registering an image file (`PUT /v1/cloudimages/{id}/upload`, a job):
/// held until the job ends, then read active.
#[tokio::test]
async fn ims_registration_is_held_until_its_job_ends() {
    let sample = start_sample().await;
    sample.control.set_task_delay(None);
    let proxy = start_proxy(&sample.url()).await;
    let id = new_image(&proxy, "registered", "qcow2").await;
    let registered = write(
        &proxy,
        Method::PUT,
        &format!("/v1/cloudimages/{id}/upload"),
        TOKEN_A,
        r#"{"image_url": "bucket:disk.qcow2"}"#,
    )
    .await;
    assert_eq!(registered.status, 200, "{:?}", registered.body);
    let job = registered.json()["job_id"]
        .as_str()
        .expect("job")
        .to_owned();
    assert!(!is_hit(get_image_as(&proxy, &id, TOKEN_A).await.outcome()));
    sample.control.finish_tasks();
    let polled = get(
        &proxy.url(&format!("/v1/project-a/jobs/{job}")),
        &[("x-auth-token", TOKEN_A)],
    )
    .await;
    assert_eq!(polled.json()["status"], "SUCCESS");
    let active = get_image_as(&proxy, &id, TOKEN_A).await;
    assert_eq!(active.json()["status"], "active");
    assert!(is_hit(get_image_as(&proxy, &id, TOKEN_A).await.outcome()));
}

/// A chunked member body (no length declared) is read for its ids all
/// the same: only the image it names is invalidated.
#[tokio::test]
async fn a_chunked_member_body_is_read_for_its_ids() {
    let sample = start_sample().await;
    let proxy = TestProxy::new(&sample.url()).admin().start().await;
    cached(&proxy, TOKEN_A, PRIVATE_IMAGE_ID).await;
    cached(&proxy, TOKEN_B, EXAMPLE_IMAGE_ID).await;
    let body = format!(r#"{{"images": ["{PRIVATE_IMAGE_ID}"], "projects": ["project-c"]}}"#);
    let mut conn = common::wire::Conn::open(proxy.addr).await;
    let request = format!(
        "POST /v1/cloudimages/members HTTP/1.1\r\nHost: x\r\nX-Auth-Token: {TOKEN_A}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{body}\r\n0\r\n\r\n",
        body.len()
    );
    conn.send(request.as_bytes()).await;
    assert_eq!(conn.response().await.status, 200);
    assert!(!is_hit(
        get_image_as(&proxy, PRIVATE_IMAGE_ID, TOKEN_A)
            .await
            .outcome()
    ));
    assert!(is_hit(
        get_image_as(&proxy, EXAMPLE_IMAGE_ID, TOKEN_B)
            .await
            .outcome()
    ));
    let conservative = proxy
        .metric("imgcache_invalidations_conservative_total")
        .await;
    assert_eq!(conservative, 0.0);
}

/// An accepted write whose images the proxy cannot take from its body
/// (here: more than it will track) invalidates every entry, counted.
#[tokio::test]
async fn a_body_naming_too_many_images_invalidates_everything() {
    let upstream = common::raw::RawUpstream::start(common::raw::Script::Reply(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 15\r\n\r\n{\"job_id\": \"j\"}".to_vec(),
    ))
    .await;
    let proxy = TestProxy::new(&upstream.url()).admin().start().await;
    let ids: Vec<String> = (0..1001).map(|n| format!("\"image-{n}\"")).collect();
    let body = format!(r#"{{"images": [{}], "projects": ["p"]}}"#, ids.join(","));
    let accepted = write(
        &proxy,
        Method::POST,
        "/v1/cloudimages/members",
        TOKEN_A,
        &body,
    )
    .await;
    assert_eq!(accepted.status, 200, "{:?}", accepted.body);
    let conservative = proxy
        .metric("imgcache_invalidations_conservative_total")
        .await;
    assert_eq!(conservative, 1.0);
}

/// A malformed member body is refused by the upstream: nothing changes.
#[tokio::test]
async fn a_malformed_write_body_refused_changes_nothing() {
    let sample = start_sample().await;
    let proxy = start_proxy(&sample.url()).await;
    cached(&proxy, TOKEN_A, PRIVATE_IMAGE_ID).await;
    let refused = write(
        &proxy,
        Method::POST,
        "/v1/cloudimages/members",
        TOKEN_A,
        r#"{"images": "not-a-list"}"#,
    )
    .await;
    assert_eq!(refused.status, 400, "{:?}", refused.body);
    assert!(is_hit(
        get_image_as(&proxy, PRIVATE_IMAGE_ID, TOKEN_A)
            .await
            .outcome()
    ));
}

/// Writes the upstream refuses (401, 403, 404, 409, 5xx) or never
/// answers (connection reset) leave every entry in place on two
/// instances sharing Redis; an accepted write still invalidates on both.
#[tokio::test]
async fn only_accepted_writes_invalidate_across_the_fleet() {
    let Some(redis) = TestRedis::acquire().await else {
        return;
    };
    let sample = start_sample().await;
    let fleet = TestProxy::new(&sample.url())
        .redis(&redis)
        .start_many(2)
        .await;
    // A third instance, sharing the same Redis, in front of an upstream
    // that fails every write with a 500, then one that drops them.
    let mut broken = Vec::new();
    for script in [
        common::raw::Script::Reply(
            b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 0\r\n\r\n".to_vec(),
        ),
        common::raw::Script::Close,
    ] {
        let upstream = common::raw::RawUpstream::start(script).await;
        let proxy = TestProxy::new(&upstream.url()).redis(&redis).start().await;
        broken.push((proxy, upstream));
    }
    let image = |id: &str| image_path(id);
    for proxy in &fleet {
        cached(proxy, TOKEN_A, PRIVATE_IMAGE_ID).await;
    }
    type Refusal<'a> = (Method, String, Vec<(&'a str, &'a str)>, &'a str, u16);
    let refusals: Vec<Refusal<'_>> = vec![
        (Method::DELETE, image(PRIVATE_IMAGE_ID), vec![], "", 401),
        (
            Method::DELETE,
            image(PRIVATE_IMAGE_ID),
            vec![("x-identity-status", "Invalid")],
            "",
            401,
        ),
        (
            Method::PATCH,
            image(PRIVATE_IMAGE_ID),
            vec![("x-auth-token", TOKEN_B)],
            r#"[{"op": "replace", "path": "/name", "value": "x"}]"#,
            404,
        ),
        (
            Method::PUT,
            format!("{}/file", image(PRIVATE_IMAGE_ID)),
            vec![("x-auth-token", TOKEN_A)],
            "bytes",
            409,
        ),
    ];
    for (method, path, headers, body, expected) in refusals {
        let mut headers = headers;
        headers.push((
            "content-type",
            "application/openstack-images-v2.1-json-patch",
        ));
        let reply = send(
            method.clone(),
            &fleet[0].url(&path),
            &headers,
            body.as_bytes(),
        )
        .await;
        assert_eq!(reply.status, expected, "{method} {path}: {:?}", reply.body);
        for proxy in &fleet {
            assert!(
                is_hit(
                    get_image_as(proxy, PRIVATE_IMAGE_ID, TOKEN_A)
                        .await
                        .outcome()
                ),
                "kept after a {expected}"
            );
        }
    }
    let forbidden = send(
        Method::DELETE,
        &fleet[1].url(&image(EXAMPLE_IMAGE_ID)),
        &[("x-auth-token", TOKEN_B)],
        b"",
    )
    .await;
    assert!(
        matches!(forbidden.status.as_u16(), 403 | 404),
        "{:?}",
        forbidden.status
    );
    for (proxy, _) in &broken {
        let reply = send(
            Method::DELETE,
            &proxy.url(&image(PRIVATE_IMAGE_ID)),
            &[("x-auth-token", TOKEN_A)],
            b"",
        )
        .await;
        assert!(reply.status.is_server_error(), "{:?}", reply.status);
    }
    for proxy in &fleet {
        assert!(is_hit(
            get_image_as(proxy, PRIVATE_IMAGE_ID, TOKEN_A)
                .await
                .outcome()
        ));
    }
    let accepted = send(
        Method::PATCH,
        &fleet[0].url(&image(PRIVATE_IMAGE_ID)),
        &[
            ("x-auth-token", TOKEN_A),
            (
                "content-type",
                "application/openstack-images-v2.1-json-patch",
            ),
        ],
        br#"[{"op": "replace", "path": "/name", "value": "accepted"}]"#,
    )
    .await;
    assert_eq!(accepted.status, 200, "{:?}", accepted.body);
    let fleet = &fleet;
    eventually("the accepted write reached both instances", || async move {
        let misses = [
            get_image_as(&fleet[0], PRIVATE_IMAGE_ID, TOKEN_A).await,
            get_image_as(&fleet[1], PRIVATE_IMAGE_ID, TOKEN_A).await,
        ];
        misses.iter().all(|r| r.json()["name"] == "accepted")
    })
    .await;
}

/// A member accepting a share through IMS's batch status call
/// (`PUT /v1/cloudimages/members`, a job): the image is held until the
/// job ends, then read as the member now sees it.
#[tokio::test]
async fn ims_member_status_job_holds_the_image() {
    let sample = start_sample().await;
    sample.control.set_task_delay(None);
    let proxy = start_proxy(&sample.url()).await;
    cached(&proxy, TOKEN_B, SHARED_IMAGE_ID).await;
    let accepted = write(
        &proxy,
        Method::PUT,
        "/v1/cloudimages/members",
        TOKEN_B,
        &format!(
            r#"{{"images": ["{SHARED_IMAGE_ID}"], "project_id": "project-b", "status": "accepted"}}"#
        ),
    )
    .await;
    assert_eq!(accepted.status, 200, "{:?}", accepted.body);
    let job = accepted.json()["job_id"]
        .as_str()
        .expect("job_id")
        .to_owned();
    for _ in 0..2 {
        assert!(!is_hit(
            get_image_as(&proxy, SHARED_IMAGE_ID, TOKEN_B)
                .await
                .outcome()
        ));
    }
    sample.control.finish_tasks();
    let polled = get(
        &proxy.url(&format!("/v1/project-b/jobs/{job}")),
        &[("x-auth-token", TOKEN_B)],
    )
    .await;
    assert_eq!(polled.json()["status"], "SUCCESS");
    get_image_as(&proxy, SHARED_IMAGE_ID, TOKEN_B).await;
    assert!(is_hit(
        get_image_as(&proxy, SHARED_IMAGE_ID, TOKEN_B)
            .await
            .outcome()
    ));
}

/// A member body larger than the proxy reads (1 MiB) is refused with 413
/// and never forwarded: the proxy would not know what it changes.
#[tokio::test]
async fn an_oversized_write_body_is_refused() {
    let sample = start_sample().await;
    let proxy = start_proxy(&sample.url()).await;
    cached(&proxy, TOKEN_A, PRIVATE_IMAGE_ID).await;
    let padding = " ".repeat(1024 * 1024 + 1);
    let body =
        format!(r#"{{"images": ["{PRIVATE_IMAGE_ID}"], "projects": ["project-c"]}}{padding}"#);
    let refused = write(
        &proxy,
        Method::POST,
        "/v1/cloudimages/members",
        TOKEN_A,
        &body,
    )
    .await;
    assert_eq!(refused.status, 413);
    assert_eq!(refused.json()["error"]["code"], 413);
    assert_eq!(
        sample.control.requests("POST", "/v1/cloudimages/members"),
        0,
        "never forwarded"
    );
    assert!(is_hit(
        get_image_as(&proxy, PRIVATE_IMAGE_ID, TOKEN_A)
            .await
            .outcome()
    ));
}

/// A client that hangs up once its write has gone out does not keep the
/// write from invalidating: the proxy follows it to its answer.
#[tokio::test]
async fn a_write_whose_client_hung_up_still_invalidates() {
    let sample = start_sample().await;
    let proxy = start_proxy(&sample.url()).await;
    cached(&proxy, TOKEN_A, PRIVATE_IMAGE_ID).await;
    sample.control.set_latency(Duration::from_millis(300));
    let body = r#"[{"op": "replace", "path": "/name", "value": "after-hang-up"}]"#;
    let request = format!(
        "PATCH /v2/images/{PRIVATE_IMAGE_ID} HTTP/1.1\r\nHost: x\r\nX-Auth-Token: {TOKEN_A}\r\nContent-Type: application/openstack-images-v2.1-json-patch\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    let mut conn = common::wire::Conn::open(proxy.addr).await;
    conn.send(request.as_bytes()).await;
    // Gone once the upstream has the write, before it answers (300 ms).
    let path = image_path(PRIVATE_IMAGE_ID);
    let sample = &sample;
    eventually("the write reached the upstream", || {
        std::future::ready(sample.control.requests("PATCH", &path) == 1)
    })
    .await;
    drop(conn);
    eventually("the upstream applied the write", || {
        let image = sample.control.image(PRIVATE_IMAGE_ID);
        std::future::ready(image.is_some_and(|i| i["name"] == "after-hang-up"))
    })
    .await;
    sample.control.set_latency(Duration::ZERO);
    let proxy = &proxy;
    eventually("the cached copy was invalidated", || async move {
        let after = get_image_as(proxy, PRIVATE_IMAGE_ID, TOKEN_A).await;
        after.json()["name"] == "after-hang-up"
    })
    .await;
}
