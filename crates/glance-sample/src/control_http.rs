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
//! - `POST /_sample/uwsgi?undecodable_path=on|off&poison_keepalive=on|off`
//!   (either or both; drop counts in `stats` under `dropped`)
//! - `POST /_sample/throttle?token=T&status=429|503&retry_after=N`;
//!   `DELETE /_sample/throttle?token=T` (one), `DELETE /_sample/throttle` (all)
//! - `POST /_sample/stores?ids=fs,fs2` (the first is the default)
//! - `POST /_sample/tasks?delay_ms=N` or `?delay=manual`; `GET
//!   /_sample/tasks` → `{"running": [ids], "stores": [ids]}`;
//!   `POST /_sample/tasks/finish[?id=ID]` → `{"finished": n}`;
//!   `POST /_sample/tasks/fail?id=ID[&reason=R]`

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
        (&Method::POST, "uwsgi") => uwsgi(&control, &params),
        (&Method::POST | &Method::DELETE, "throttle") => throttle(&control, method, &params),
        (&Method::POST, "stores") => match params.get("ids") {
            Some(ids) => {
                control.set_stores(&ids.split(',').filter(|s| !s.is_empty()).collect::<Vec<_>>());
                ok()
            }
            None => error(StatusCode::BAD_REQUEST, "ids is required"),
        },
        (_, "tasks" | "tasks/finish" | "tasks/fail") => tasks(&control, method, rest, &params),
        _ => error(StatusCode::NOT_FOUND, "no such control endpoint"),
    }
}

/// `on` / `off` (also `true` / `false`, `1` / `0`).
fn switch(value: &str) -> Option<bool> {
    match value {
        "on" | "true" | "1" => Some(true),
        "off" | "false" | "0" => Some(false),
        _ => None,
    }
}

fn uwsgi(control: &SampleControl, params: &HashMap<String, String>) -> Response<SampleBody> {
    let get = |name: &str| params.get(name).map(|v| switch(v).ok_or(()));
    match (get("undecodable_path"), get("poison_keepalive")) {
        (Some(Err(())), _) | (_, Some(Err(()))) | (None, None) => error(
            StatusCode::BAD_REQUEST,
            "give undecodable_path and/or poison_keepalive as on or off",
        ),
        (undecodable, poison) => {
            if let Some(Ok(on)) = undecodable {
                control.set_drop_undecodable_paths(on);
            }
            if let Some(Ok(on)) = poison {
                control.set_poison_keepalive(on);
            }
            ok()
        }
    }
}

fn throttle(
    control: &SampleControl,
    method: &Method,
    params: &HashMap<String, String>,
) -> Response<SampleBody> {
    let token = params.get("token");
    if *method == Method::DELETE {
        match token {
            Some(token) => {
                control.clear_throttle(token);
            }
            None => control.clear_throttles(),
        }
        return ok();
    }
    let number = |name: &str, default: u32| {
        params
            .get(name)
            .map_or(Some(default), |v| v.parse::<u32>().ok())
    };
    match (token, number("status", 429), number("retry_after", 1)) {
        (Some(token), Some(status @ 400..=599), Some(secs)) => {
            control.throttle(token, u16::try_from(status).unwrap_or(503), secs);
            ok()
        }
        _ => error(
            StatusCode::BAD_REQUEST,
            "token is required; status must be an error status, retry_after seconds",
        ),
    }
}

fn tasks(
    control: &SampleControl,
    method: &Method,
    rest: &str,
    params: &HashMap<String, String>,
) -> Response<SampleBody> {
    let id = params.get("id").map(String::as_str);
    match (method, rest) {
        (&Method::GET, "tasks") => answer(
            StatusCode::OK,
            json!({"running": control.running_tasks(), "stores": control.stores()}),
        ),
        (&Method::POST, "tasks") => {
            let delay = match (params.get("delay_ms"), params.get("delay")) {
                (Some(ms), None) => ms
                    .parse::<u64>()
                    .ok()
                    .map(|ms| Some(Duration::from_millis(ms))),
                (None, Some(manual)) if manual == "manual" => Some(None),
                _ => None,
            };
            match delay {
                Some(delay) => {
                    control.set_task_delay(delay);
                    ok()
                }
                None => error(StatusCode::BAD_REQUEST, "give delay_ms=N or delay=manual"),
            }
        }
        (&Method::POST, "tasks/finish") => {
            let finished = match id {
                Some(id) => usize::from(control.finish_task(id)),
                None => control.finish_tasks(),
            };
            answer(StatusCode::OK, json!({"finished": finished}))
        }
        (&Method::POST, "tasks/fail") => {
            let reason = params
                .get("reason")
                .map_or("Injected failure (sample image service).", String::as_str);
            match id.map(|id| control.fail_task(id, reason)) {
                Some(true) => ok(),
                Some(false) => error(StatusCode::NOT_FOUND, "no such running task"),
                None => error(StatusCode::BAD_REQUEST, "id is required"),
            }
        }
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
        "dropped": {
            "undecodable_path": shared.uwsgi.undecodable_drops(),
            "poisoned_keepalive": shared.uwsgi.poisoned_drops(),
        },
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
