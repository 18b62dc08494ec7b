//! `/_sample/…`: the control endpoints for a sample service running in
//! another process (the load benchmark). Not counted, no authentication.
//! On the API's port by default; on a port of their own when the service
//! is started split (`imgcache --demo`), so a proxy in front of the API
//! cannot reach them.
//!
//! - `GET /_sample/stats` → `{"total": N, "by_path": {"GET /v2/images/<id>": n, …},
//!   "untracked": n, "images": n}` (`untracked`: requests beyond the key cap)
//! - `POST /_sample/reset` → forget the counts
//! - `POST /_sample/latency?ms=N`
//! - `POST /_sample/fault?kind=none|down|wrong_id|invalid_json|reset_mid_body|
//!   stall_body|error_rate&permille=N|fail_next&remaining=N&status=S[&retry_after=N]|huge&bytes=N`

use std::collections::HashMap;
use std::time::Duration;

use http::{Method, Response, StatusCode};
use serde_json::{Map, Value, json};

use super::body::SampleBody;
use super::control::{SampleControl, Shared};
use super::faults;
use super::response::{self, APPLICATION_JSON};
use super::routes;

/// Answers a control request; `rest` is the path after `/_sample/`.
pub fn handle(
    shared: &std::sync::Arc<Shared>,
    method: &Method,
    rest: &str,
    query: Option<&str>,
) -> Response<SampleBody> {
    let control = SampleControl {
        shared: shared.clone(),
    };
    let params: HashMap<String, String> = routes::parse_query(query).into_iter().collect();
    match (method, rest) {
        (&Method::GET, "stats") => answer(StatusCode::OK, stats(shared)),
        (&Method::POST, "reset") => {
            control.reset_counts();
            ok()
        }
        (&Method::POST, "latency") => match params.get("ms").map(|ms| ms.parse::<u64>()) {
            Some(Ok(ms)) => {
                control.set_latency(Duration::from_millis(ms));
                ok()
            }
            _ => error(
                StatusCode::BAD_REQUEST,
                "ms must be a number of milliseconds",
            ),
        },
        (&Method::POST, "fault") => match faults::parse(&params) {
            Ok(fault) => {
                control.set_fault(fault);
                ok()
            }
            Err(msg) => error(StatusCode::BAD_REQUEST, &msg),
        },
        _ => error(StatusCode::NOT_FOUND, "no such control endpoint"),
    }
}

fn stats(shared: &Shared) -> Value {
    let by_path: Map<String, Value> = shared
        .counters
        .snapshot()
        .into_iter()
        .map(|(key, n)| (key, json!(n)))
        .collect();
    json!({
        "total": shared.counters.total(),
        "by_path": by_path,
        "untracked": shared.counters.untracked(),
        "images": shared.store.len(),
    })
}

fn answer(status: StatusCode, doc: Value) -> Response<SampleBody> {
    response::with_body(status, APPLICATION_JSON, glance_json::to_bytes(&doc))
}

fn ok() -> Response<SampleBody> {
    answer(StatusCode::OK, json!({"ok": true}))
}

fn error(status: StatusCode, msg: &str) -> Response<SampleBody> {
    answer(status, json!({"error": msg}))
}
