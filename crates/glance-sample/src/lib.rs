//! The sample image service: an in-process fake of Glance v2 as Huawei
//! Cloud / Open Telekom Cloud IMS serves it, with fault injection. imgcache's
//! `--demo` (the default `demo` feature), its integration tests and its
//! benchmarks use it as their upstream; `imgcache-sample` runs it as a
//! process of its own (the load benchmark). The proxy itself never depends
//! on this crate: `cargo build --no-default-features` leaves it out.
//!
//! It imitates Glance 33 byte for byte where the recorded exchanges show
//! bytes (`shared/fixtures/glance-33/`): Python-style JSON, the headers
//! (`Content-Length`, `Content-Type`, `x-openstack-request-id`, nothing
//! else), webob's error bodies per `Accept`, 404 for other projects'
//! private images, `/v2.N/` aliases.
//!
//! Authentication is fake but shaped like the real thing: `X-Auth-Token:
//! user:project:roles` (percent-encoding allowed), or trusted headers
//! `X-Identity-Status: Confirmed` + `X-Project-Id` [+ `X-Roles`].
//!
//! Like Glance under uWSGI (issue "failure isolation"), on by default:
//! - a path whose percent-escapes are not UTF-8 (`/v2/images/%ff`) has
//!   its connection closed without a response byte (counted as a request,
//!   and in [`SampleControl::undecodable_drops`]);
//! - a poisoned keep-alive: after answering a request whose body no route
//!   took (a GET or DELETE with a body, a POST/PUT/PATCH to an unknown
//!   path, a request refused before routing), the HTTP/1 connection stays
//!   open and its *next* request is dropped without a byte
//!   ([`SampleControl::poisoned_drops`]);
//! - switches: [`SampleControl::set_drop_undecodable_paths`],
//!   [`SampleControl::set_poison_keepalive`], `POST /_sample/uwsgi`.
//!
//! Per-token throttling ([`SampleControl::throttle`], `POST
//! /_sample/throttle`): every request with that `X-Auth-Token` answers 429
//! or 503 with `Retry-After` and a JSON error body; other tokens are served.
//!
//! Glance 33's asynchronous import (issue "coherence"): `PUT
//! /v2/images/{id}/stage`, then `POST /v2/images/{id}/import` with
//! `glance-direct`, `web-download` or `copy-image` (`stores` or
//! `all_stores`) answers 202 and locks the image (`os_glance_import_task`,
//! `os_glance_importing_to_stores`, `os_glance_failed_import`); when the
//! task ends the stores join the image's `stores` and the lock goes. Known
//! stores default to [`DEFAULT_STORES`] ([`SampleControl::set_stores`]);
//! uploaded and imported images carry `stores` as multi-store Glance shows
//! it (after `schema`).
//!
//! IMS's native write APIs: `PATCH /v2/cloudimages/{id}`, `PUT
//! /v1/cloudimages/{id}/upload` (a job), member batches on
//! `/v1/cloudimages/members` (jobs), `GET /v1/{project_id}/jobs/{job_id}`,
//! `DELETE /v1.1/images/{id}` (200), and the tag APIs (`PUT
//! /v1/cloudimages/tags`, `/v2/{project_id}/images/{id}/tags[/action|/{key}]`).
//!
//! Tasks and jobs end [`DEFAULT_TASK_DELAY`] after they start
//! ([`SampleControl::set_task_delay`]; `None` holds them) or when told
//! ([`SampleControl::finish_tasks`], [`SampleControl::finish_task`],
//! [`SampleControl::fail_task`], `/_sample/tasks…`); a due job ends on the
//! next request or control call that looks, never behind a test's back.
//!
//! Layout:
//! - `server`: accept loop, [`SampleHandle`]
//! - `handlers`: count → uWSGI drops → latency → fault → throttle → auth
//!   → settle jobs → route (Glance's, else IMS's) → punish an untaken body;
//!   `images`, `patch`, `members`, `files`, `documents`, `import` answer
//!   the Glance routes; `ims`, `ims_members`, `ims_tags` IMS's (their
//!   shared answers and IMS's error body: `ims_answer`); `access`: what a
//!   caller may see and change (404 / 403 as Glance's policy)
//! - `routes`, `ims_routes`: path and query parsing; `request_body`: the
//!   body a route takes; `auth`: callers and visibility; `environ`: the
//!   headers as a WSGI server hands them to Glance
//! - `uwsgi`: connection drops; `throttle`: per-token answers; `jobs`:
//!   import tasks and IMS jobs; `backends`: known stores, staged data;
//!   `received`: an upload's or a stage's data, hashed as it arrives
//! - `store`: the catalogue with cached bodies; `catalogue`: demo images
//! - `errors`: webob error bodies; `response`: success shapes (JSON text
//!   as Glance writes it comes from `glance_json`, shared with imgcache's
//!   transforms); `body`: streamed and broken bodies; `pattern`: file
//!   content
//! - `control`, `control_http`, `counters`, `faults`: steering for tests
//!   (on the API's port, or on a control port of their own:
//!   [`SampleService::serve_split`])
#![forbid(unsafe_code)]

mod access;
mod auth;
mod backends;
mod body;
mod catalogue;
mod clock;
mod control;
mod control_http;
mod counters;
mod documents;
mod environ;
mod errors;
mod faults;
mod files;
mod handlers;
mod images;
mod import;
mod ims;
mod ims_answer;
mod ims_members;
mod ims_routes;
mod ims_tags;
mod jobs;
mod members;
mod patch;
mod pattern;
mod received;
mod request_body;
mod response;
mod routes;
mod server;
mod store;
mod throttle;
mod uwsgi;

#[cfg(test)]
mod tests;

use std::sync::Arc;

pub use backends::DEFAULT_STORES;
pub use control::{SampleControl, Upload};
pub use faults::Fault;
pub use jobs::DEFAULT_DELAY as DEFAULT_TASK_DELAY;
pub use pattern::sample_file_byte;
pub use server::SampleHandle;

use control::Shared;

/// The spec's example image (public, active, protected).
pub const EXAMPLE_IMAGE_ID: &str = "bc6bed6e-ba3a-4447-afcc-449174a3eb52";
/// A private image of project `project-a` (active, with a 256 KiB file).
pub const PRIVATE_IMAGE_ID: &str = "921571d2-bbb6-40bf-bd55-5fa9cdc9c10b";
/// A shared image of `project-a`, member `project-b`.
pub const SHARED_IMAGE_ID: &str = "6a1d3c52-7f0e-4b8e-9c11-3e5f2b7d8a90";
/// A public queued image, byte for byte fixture 02's (tags `gold`, `centos`).
pub const QUEUED_IMAGE_ID: &str = "cbffb74f-2516-414c-824c-9ec0ee8fd02b";
/// A public deactivated image.
pub const DEACTIVATED_IMAGE_ID: &str = "e0b7c5a4-3d2f-4e1a-8b6c-9f8e7d6c5b4a";
/// A public image with tags `ubuntu`, `lts`, `server`.
pub const TAGGED_IMAGE_ID: &str = "2f7c9e1a-5b3d-4c8e-a6f4-1d2e3f4a5b6c";
/// A public image whose `__os_feature_list` is nested JSON text.
pub const FEATURES_IMAGE_ID: &str = "7b3e8d2c-1a4f-4e6b-b9c8-5d7a3f1e2c4b";

/// The id of the `i`-th generated image (see [`SampleService::with_generated`]).
pub fn generated_id(i: usize) -> String {
    format!("00000000-0000-4000-8000-{i:012x}")
}

/// A sample image service, not yet serving. Cheap to clone; clones share
/// one catalogue and one set of counters.
#[derive(Clone)]
pub struct SampleService {
    shared: Arc<Shared>,
}

impl SampleService {
    /// The demo catalogue: the spec's example image plus six more (private,
    /// shared, queued, deactivated, tagged, nested feature list).
    pub fn demo() -> Self {
        let shared = Arc::new(Shared::default());
        for image in catalogue::demo_images() {
            shared.store.insert(image);
        }
        for (image_id, project) in catalogue::demo_members() {
            let _ = shared.store.modify(image_id, |record| {
                record.members.push(store::Member {
                    project: project.to_owned(),
                    status: "accepted".into(),
                    created_at: "2024-03-11T08:30:00Z".into(),
                    updated_at: "2024-03-11T08:31:00Z".into(),
                });
                Ok::<(), ()>(())
            });
        }
        SampleService { shared }
    }

    /// [`SampleService::demo`] plus `n` public active images in the spec
    /// example's shape, ids [`generated_id`]`(0..n)`, listed after the demo
    /// images.
    pub fn with_generated(n: usize) -> Self {
        let service = Self::demo();
        for i in 0..n {
            let id = generated_id(i);
            service
                .shared
                .store
                .insert(catalogue::generated_image(&id, i));
        }
        service
    }

    /// Serves HTTP/1.1 and h2c on `listener` until the handle is shut down
    /// or dropped. Must be called inside a tokio runtime.
    pub fn serve(self, listener: tokio::net::TcpListener) -> SampleHandle {
        server::spawn(self.shared, listener, None)
    }

    /// Serves the image API on `api` and the control endpoints
    /// (`/_sample/…`) on `control` only: on `api` they are unknown paths,
    /// as on a real Glance, so a proxy in front of `api` cannot reach them.
    pub fn serve_split(
        self,
        api: tokio::net::TcpListener,
        control: tokio::net::TcpListener,
    ) -> SampleHandle {
        server::spawn(self.shared, api, Some(control))
    }

    /// Binds `127.0.0.1:0` and serves.
    pub async fn start(self) -> std::io::Result<SampleHandle> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        Ok(self.serve(listener))
    }

    /// Binds two ports on `127.0.0.1:0` and serves as
    /// [`SampleService::serve_split`] does (the demo's upstream).
    pub async fn start_split(self) -> std::io::Result<SampleHandle> {
        let api = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let control = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        Ok(self.serve_split(api, control))
    }

    /// Steers and inspects this service (also before it serves).
    pub fn control(&self) -> SampleControl {
        SampleControl {
            shared: self.shared.clone(),
        }
    }
}
