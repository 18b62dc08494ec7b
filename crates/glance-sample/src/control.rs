//! The state tests and benchmarks steer and inspect: counters, latency,
//! faults, uWSGI's drops, throttles, stores, jobs, the catalogue, and what
//! the last requests carried.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, StatusCode};
use serde_json::Value;

use super::backends::Backends;
use super::counters::Counters;
use super::faults::{Fault, FaultSwitch};
use super::jobs::{Jobs, Outcome};
use super::store::Store;
use super::throttle::{Throttle, Throttles};
use super::uwsgi::Uwsgi;

/// A finished upload (`PUT /v2/images/{id}/file`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Upload {
    /// The image the data went to.
    pub image_id: String,
    /// How many bytes arrived.
    pub bytes: u64,
    /// SHA-256 of the data, lower-case hex.
    pub sha256_hex: String,
}

/// Everything the service shares between connections.
#[derive(Default)]
pub(crate) struct Shared {
    /// The image catalogue.
    pub(crate) store: Store,
    /// The fault currently injected.
    pub(crate) faults: FaultSwitch,
    /// Requests seen.
    pub(crate) counters: Counters,
    /// uWSGI's drops.
    pub(crate) uwsgi: Uwsgi,
    /// Throttled tokens.
    pub(crate) throttles: Throttles,
    /// Import tasks and IMS jobs.
    pub(crate) jobs: Jobs,
    /// Known stores and staged data.
    pub(crate) backends: Backends,
    latency_nanos: AtomicU64,
    last_headers: Mutex<Option<HeaderMap>>,
    last_body: Mutex<Option<Bytes>>,
    last_upload: Mutex<Option<Upload>>,
}

/// Stores `value` in a slot; a poisoned slot is overwritten all the same.
fn put<T>(slot: &Mutex<Option<T>>, value: T) {
    *slot.lock().unwrap_or_else(PoisonError::into_inner) = Some(value);
}

fn get<T: Clone>(slot: &Mutex<Option<T>>) -> Option<T> {
    slot.lock().unwrap_or_else(PoisonError::into_inner).clone()
}

impl Shared {
    /// The delay to apply before answering a `/v2` request.
    pub(crate) fn latency(&self) -> Duration {
        Duration::from_nanos(self.latency_nanos.load(Ordering::Relaxed))
    }

    /// Remembers the headers of the latest request.
    pub(crate) fn record_headers(&self, headers: &HeaderMap) {
        put(&self.last_headers, headers.clone());
    }

    /// Remembers the body of the latest JSON write.
    pub(crate) fn record_body(&self, body: Bytes) {
        put(&self.last_body, body);
    }

    /// Remembers the latest finished upload.
    pub(crate) fn record_upload(&self, upload: Upload) {
        put(&self.last_upload, upload);
    }
}

/// A handle on a running (or not yet running) sample service's state.
/// Cheap to clone; every clone sees the same service.
#[derive(Clone)]
pub struct SampleControl {
    /// The state shared with the running service.
    pub(crate) shared: Arc<Shared>,
}

impl SampleControl {
    /// Requests seen for exactly this method and path (no query string).
    pub fn requests(&self, method: &str, path: &str) -> u64 {
        self.shared.counters.get(method, path)
    }

    /// All requests seen (control requests excluded).
    pub fn total_requests(&self) -> u64 {
        self.shared.counters.total()
    }

    /// Forgets every request count.
    pub fn reset_counts(&self) {
        self.shared.counters.reset();
    }

    /// Delay before answering every `/v2` request (zero: none).
    pub fn set_latency(&self, d: Duration) {
        let nanos = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        self.shared.latency_nanos.store(nanos, Ordering::Relaxed);
    }

    /// Sets one top-level field of an image (kept in place if present,
    /// appended otherwise); false if there is no such image.
    pub fn set_image_field(&self, id: &str, field: &str, value: Value) -> bool {
        let result: Option<Result<(), ()>> = self.shared.store.modify(id, |record| {
            record.fields.insert(field.to_owned(), value);
            Ok(())
        });
        result.is_some()
    }

    /// The current stored representation of an image (jobs due by now
    /// ended first, as for a request).
    pub fn image(&self, id: &str) -> Option<Value> {
        self.shared.jobs.settle(&self.shared.store);
        self.shared.store.value(id)
    }

    /// Inserts or replaces an image: a JSON object with a string `"id"`,
    /// stored as given (owner, visibility, status, size…). Anything else is
    /// ignored (and logged).
    pub fn insert_image(&self, image: Value) {
        if !self.shared.store.insert(image) {
            tracing::warn!("sample: insert_image needs a JSON object with a string \"id\"");
        }
    }

    /// Removes an image; false if there was none.
    pub fn remove_image(&self, id: &str) -> bool {
        self.shared.store.remove(id)
    }

    /// Replaces the current fault; `Fault::None` clears it.
    pub fn set_fault(&self, fault: Fault) {
        self.shared.faults.set(fault);
    }

    /// The fault currently set (a `FailNext` shows its remaining count).
    pub fn fault(&self) -> Fault {
        self.shared.faults.get()
    }

    /// Headers of the most recent (non-control) request.
    pub fn last_request_headers(&self) -> Option<HeaderMap> {
        get(&self.shared.last_headers)
    }

    /// Body of the most recent PATCH/POST/PUT to a JSON endpoint (not `/file`).
    pub fn last_request_body(&self) -> Option<Bytes> {
        get(&self.shared.last_body)
    }

    /// The most recent completed upload.
    pub fn last_upload(&self) -> Option<Upload> {
        get(&self.shared.last_upload)
    }

    /// Whether a request whose path has a percent-escape that is not UTF-8
    /// has its connection closed without an answer, as Glance under uWSGI
    /// does (default on).
    pub fn set_drop_undecodable_paths(&self, on: bool) {
        self.shared.uwsgi.set_drop_undecodable(on);
    }

    /// Whether an HTTP/1 connection on which a request's body went unread
    /// drops its next request without an answer, as uWSGI closes it
    /// (default on).
    pub fn set_poison_keepalive(&self, on: bool) {
        self.shared.uwsgi.set_poison_keepalive(on);
    }

    /// Requests dropped for an undecodable path.
    pub fn undecodable_drops(&self) -> u64 {
        self.shared.uwsgi.undecodable_drops()
    }

    /// Requests dropped on a poisoned keep-alive connection.
    pub fn poisoned_drops(&self) -> u64 {
        self.shared.uwsgi.poisoned_drops()
    }

    /// Every request carrying `token` in `X-Auth-Token` (as sent) answers
    /// `status` (429 or 503 are the usual) with `Retry-After:
    /// retry_after_secs` and a small JSON error body; other tokens are
    /// served. A status that is not an error status is taken as 503.
    pub fn throttle(&self, token: &str, status: u16, retry_after_secs: u32) {
        let status = StatusCode::from_u16(status)
            .ok()
            .filter(|s| s.is_client_error() || s.is_server_error())
            .unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
        let throttle = Throttle {
            status,
            retry_after_secs,
        };
        self.shared.throttles.set(token, throttle);
    }

    /// Stops throttling `token`; false if it was not throttled.
    pub fn clear_throttle(&self, token: &str) -> bool {
        self.shared.throttles.clear(token)
    }

    /// Stops throttling every token.
    pub fn clear_throttles(&self) {
        self.shared.throttles.clear_all();
    }

    /// The stores the service knows (Glance's `enabled_backends`), the
    /// default first; `["fs", "fs2"]` unless set.
    pub fn stores(&self) -> Vec<String> {
        self.shared.backends.stores()
    }

    /// Replaces the known stores; the first is the default backend.
    pub fn set_stores(&self, stores: &[&str]) {
        let stores = stores.iter().map(|s| (*s).to_owned()).collect();
        self.shared.backends.set_stores(stores);
    }

    /// How long import tasks and IMS jobs run: `Some(d)` ends them `d`
    /// after they start (default 1 s), `None` only when told
    /// ([`SampleControl::finish_tasks`]).
    pub fn set_task_delay(&self, delay: Option<Duration>) {
        self.shared.jobs.set_delay(delay);
    }

    /// Ends every running task and job successfully now; how many ended.
    pub fn finish_tasks(&self) -> usize {
        self.shared
            .jobs
            .finish(&self.shared.store, None, &Outcome::Success)
    }

    /// Ends one running task or job (a Glance task id or an IMS job id)
    /// successfully now; false if no such job is running.
    pub fn finish_task(&self, id: &str) -> bool {
        let ended = self
            .shared
            .jobs
            .finish(&self.shared.store, Some(id), &Outcome::Success);
        ended > 0
    }

    /// Makes one running task or job fail now with `reason`: an import
    /// lists its stores in `os_glance_failed_import`, an IMS job reports
    /// `FAIL` and changes nothing; false if no such job is running.
    pub fn fail_task(&self, id: &str, reason: &str) -> bool {
        let outcome = Outcome::Fail(reason.to_owned());
        self.shared
            .jobs
            .finish(&self.shared.store, Some(id), &outcome)
            > 0
    }

    /// Ids of the running tasks and jobs, oldest first (jobs due by now
    /// ended first).
    pub fn running_tasks(&self) -> Vec<String> {
        self.shared.jobs.settle(&self.shared.store);
        self.shared.jobs.running()
    }
}
