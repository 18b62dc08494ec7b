//! Glance's interoperable image import (`POST /v2/images/{id}/import`) as
//! Glance 33 runs it: an `api_image_import` task that answers 202 at once
//! and changes the image when it ends (issue "coherence").
//!
//! At the start the image takes the task's lock (`os_glance_import_task`),
//! lists the target stores in `os_glance_importing_to_stores` and drops
//! them from `os_glance_failed_import` (both sorted, comma-separated, as
//! `_ImportActions.merge_store_list` writes them); `glance-direct` and
//! `web-download` turn it `importing`, `copy-image` leaves it `active`.
//! When the task ends each store moves from the importing list to
//! `stores` (or, on failure, to `os_glance_failed_import`), the image is
//! `active` (a failed non-copy import goes back to `queued`), and the lock
//! is removed; the two lists stay, possibly empty.

use http::{Response, StatusCode};
use serde_json::{Map, Value, json};

use super::access::{Ctx, forbidden};
use super::body::SampleBody;
use super::errors::GlanceError;
use super::files::add_store;
use super::images::touch;
use super::jobs::{Kind, NewJob, Outcome};
use super::patch::set_property;
use super::received::Received;
use super::response;
use super::store::{Record, Store};

type Answer = Result<Response<SampleBody>, GlanceError>;

const TASK_LOCK: &str = "os_glance_import_task";
const IMPORTING: &str = "os_glance_importing_to_stores";
const FAILED: &str = "os_glance_failed_import";

/// The import methods Glance enables by default.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Method {
    GlanceDirect,
    WebDownload,
    CopyImage,
}

/// A validated import request.
#[derive(Debug, PartialEq, Eq)]
struct Request {
    method: Method,
    uri: Option<String>,
    /// `stores` as given; None when absent.
    stores: Option<Vec<String>>,
    all_stores: bool,
}

fn bad_request(msg: impl Into<String>) -> GlanceError {
    GlanceError::new(StatusCode::BAD_REQUEST, msg)
}

fn conflict(msg: impl Into<String>) -> GlanceError {
    GlanceError::new(StatusCode::CONFLICT, msg)
}

/// The request body, checked as Glance's deserializer
/// (`_validate_import_body`) checks it.
fn parse_request(body: &[u8]) -> Result<Request, GlanceError> {
    let Ok(Value::Object(body)) = serde_json::from_slice::<Value>(body) else {
        return Err(bad_request("Malformed JSON in request body."));
    };
    let method = body
        .get("method")
        .ok_or_else(|| bad_request("Import request requires a 'method' field."))?;
    let name = method
        .get("name")
        .ok_or_else(|| bad_request("Import request requires a 'name' field."))?;
    let method_kind = match name.as_str() {
        Some("glance-direct") => Method::GlanceDirect,
        Some("web-download") => Method::WebDownload,
        Some("copy-image") => Method::CopyImage,
        _ => return Err(bad_request(format!("Unknown import method name '{name}'."))),
    };
    for flag in ["all_stores_must_succeed", "all_stores"] {
        if body.get(flag).is_some_and(|v| !v.is_boolean()) {
            return Err(bad_request(format!("'{flag}' must be boolean value only")));
        }
    }
    let stores = match body.get("stores") {
        None => None,
        Some(Value::Array(list)) => Some(
            list.iter()
                .map(|s| s.as_str().map(str::to_owned))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| bad_request("'stores' must be a list of store ids"))?,
        ),
        Some(_) => return Err(bad_request("'stores' must be a list of store ids")),
    };
    Ok(Request {
        method: method_kind,
        uri: method.get("uri").and_then(Value::as_str).map(str::to_owned),
        stores,
        all_stores: body.get("all_stores") == Some(&Value::Bool(true)),
    })
}

/// `POST /v2/images/{id}/import`: 202 with an empty body, the task
/// started; Glance's 400 / 403 / 404 / 409 otherwise.
pub fn import(ctx: &Ctx<'_>, id: &str, body: &[u8]) -> Answer {
    let request = parse_request(body)?;
    let header_store = ctx
        .headers
        .get("x-image-meta-store")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let result = ctx.shared.store.modify(id, |record| {
        if !ctx.caller.can_see(record) {
            return Err(GlanceError::image_not_found(id));
        }
        check_status(record, request.method)?;
        let stores = targets(ctx, record, &request, header_store.as_deref())?;
        if stores.is_empty() && request.method == Method::CopyImage {
            // To all stores of an image already in all of them: done.
            return Ok(());
        }
        start(ctx, record, id, request.method, stores);
        Ok(())
    });
    result.unwrap_or_else(|| Err(GlanceError::image_not_found(id)))?;
    Ok(response::empty(StatusCode::ACCEPTED))
}

/// The state checks, in Glance's order (`ImagesController.import_image`).
fn check_status(record: &Record, method: Method) -> Result<(), GlanceError> {
    let status = record.status();
    match method {
        Method::CopyImage if status != "active" => Err(conflict(
            "Only images with status active can be targeted for copying",
        )),
        Method::GlanceDirect | Method::WebDownload if status == "active" => Err(conflict(
            "Image with status active cannot be target for import",
        )),
        Method::WebDownload if status != "queued" => Err(conflict(
            "Image needs to be in 'queued' state to use 'web-download' method",
        )),
        Method::GlanceDirect if status != "uploading" => Err(conflict(
            "Image needs to be staged before 'glance-direct' method can be used",
        )),
        _ => {
            for field in ["container_format", "disk_format"] {
                if record.fields.get(field).is_none_or(Value::is_null) {
                    return Err(conflict(format!("'{field}' needs to be set before import")));
                }
            }
            Ok(())
        }
    }
}

/// Policy, the task lock, and the stores to import to (`copy-image` to
/// `all_stores` leaves out the image's own; none left: nothing to do).
fn targets(
    ctx: &Ctx<'_>,
    record: &Record,
    request: &Request,
    header_store: Option<&str>,
) -> Result<Vec<String>, GlanceError> {
    match request.method {
        // Glance's default `copy_image` policy is admin only.
        Method::CopyImage if !ctx.caller.is_admin() => return Err(forbidden("copy_image")),
        Method::GlanceDirect | Method::WebDownload if !ctx.caller.owns(record) => {
            return Err(forbidden("modify_image"));
        }
        _ => {}
    }
    if let Some(Value::String(task)) = record.fields.get(TASK_LOCK)
        && ctx.shared.jobs.is_running(task)
    {
        return Err(conflict("Image has active task"));
    }
    let known = ctx.shared.backends.stores();
    let mut stores = requested_stores(request, &known, header_store)?;
    if let Some(unknown) = stores.iter().find(|s| !known.contains(s)) {
        return Err(conflict(format!("Unknown scheme '{unknown}' found in URI")));
    }
    let present = list(&record.fields, "stores");
    if request.method == Method::CopyImage {
        if request.all_stores {
            stores.retain(|s| !present.contains(s));
        } else if let Some(there) = stores.iter().find(|s| present.contains(s)) {
            return Err(bad_request(format!(
                "Image is already present at store '{there}'"
            )));
        }
    }
    if request.method == Method::WebDownload
        && !request
            .uri
            .as_deref()
            .is_some_and(|u| u.starts_with("http://") || u.starts_with("https://"))
    {
        let uri = request.uri.as_deref().unwrap_or("None");
        return Err(bad_request(format!(
            "URI for web-download does not pass filtering: {uri}"
        )));
    }
    Ok(stores)
}

/// The stores a request names (`get_stores_from_request`): all known
/// ones, the `stores` given, the `X-Image-Meta-Store` header, or the
/// default backend.
fn requested_stores(
    request: &Request,
    known: &[String],
    header_store: Option<&str>,
) -> Result<Vec<String>, GlanceError> {
    if request.all_stores {
        if request.stores.is_some() || header_store.is_some() {
            return Err(bad_request(
                "All_stores parameter can't be used with x-image-meta-store header or stores parameter",
            ));
        }
        return Ok(known.to_vec());
    }
    if let Some(given) = &request.stores {
        if header_store.is_some() {
            return Err(bad_request(
                "Stores parameter and x-image-meta-store header can't be both specified",
            ));
        }
        return Ok(given.clone());
    }
    let chosen = header_store
        .map(str::to_owned)
        .or_else(|| known.first().cloned());
    Ok(chosen.into_iter().collect())
}

/// A comma-separated store list of the image (empty entries dropped).
fn list(fields: &Map<String, Value>, key: &str) -> Vec<String> {
    fields
        .get(key)
        .and_then(Value::as_str)
        .map(|s| {
            s.split(',')
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect()
        })
        .unwrap_or_default()
}

/// `merge_store_list`: the union (or difference), sorted, comma-joined.
fn merge(fields: &mut Map<String, Value>, key: &str, stores: &[String], subtract: bool) {
    let mut merged = list(fields, key);
    if subtract {
        merged.retain(|s| !stores.contains(s));
    } else {
        merged.extend(
            stores
                .iter()
                .filter(|s| !merged.contains(s))
                .cloned()
                .collect::<Vec<_>>(),
        );
    }
    merged.sort();
    set_property(fields, key, json!(merged.join(",")));
}

/// Takes the lock and marks the import as under way; the task's end is
/// left to the job registry.
fn start(ctx: &Ctx<'_>, record: &mut Record, id: &str, method: Method, stores: Vec<String>) {
    let staged = match method {
        Method::GlanceDirect => ctx.shared.backends.take_staged(id),
        _ => None,
    };
    let (image_id, targets) = (id.to_owned(), stores.clone());
    let task = ctx.shared.jobs.start(NewJob {
        kind: Kind::GlanceImport,
        project: ctx.caller.project.clone(),
        entities: super::jobs::Entities::None,
        finish: Box::new(move |store, task, outcome| {
            finish(store, &image_id, task, method, &targets, staged, outcome);
        }),
    });
    let fields = &mut record.fields;
    set_property(fields, TASK_LOCK, json!(task));
    if method != Method::CopyImage {
        fields.insert("status".into(), json!("importing"));
    }
    merge(fields, IMPORTING, &stores, false);
    merge(fields, FAILED, &stores, true);
    touch(record);
}

/// The task's end: data in place, lists updated, lock dropped. A task
/// that lost its lock (or its image) changes nothing.
fn finish(
    store: &Store,
    id: &str,
    task: &str,
    method: Method,
    stores: &[String],
    staged: Option<Received>,
    outcome: &Outcome,
) {
    let _ = store.modify(id, |record| {
        if record.fields.get(TASK_LOCK).and_then(Value::as_str) != Some(task) {
            return Err(());
        }
        let fields = &mut record.fields;
        merge(fields, IMPORTING, stores, true);
        match outcome {
            Outcome::Success => {
                for store in stores {
                    add_store(fields, store);
                }
                if method != Method::CopyImage {
                    let data = staged.unwrap_or_else(nothing_received);
                    fields.insert("size".into(), json!(data.bytes));
                    fields.insert("checksum".into(), Value::Null);
                    fields.insert("os_hash_algo".into(), json!("sha256"));
                    fields.insert("os_hash_value".into(), json!(data.sha256_hex));
                    fields.insert("status".into(), json!("active"));
                    record.data = data.kept;
                }
            }
            Outcome::Fail(_) => {
                merge(fields, FAILED, stores, false);
                if method != Method::CopyImage {
                    fields.insert("status".into(), json!("queued"));
                }
            }
        }
        record.fields.shift_remove(TASK_LOCK);
        touch(record);
        Ok(())
    });
}

/// What web-download "downloads": the sample fetches nothing.
fn nothing_received() -> Received {
    Received {
        bytes: 0,
        sha256_hex: super::pattern::pattern_sha256(0),
        kept: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(body: &str) -> Result<Request, StatusCode> {
        parse_request(body.as_bytes()).map_err(|e| e.status())
    }

    /// Bodies are checked as Glance's deserializer checks them.
    #[test]
    fn request_validation() {
        let copy = parse(r#"{"method": {"name": "copy-image"}, "stores": ["fs2"]}"#).expect("ok");
        assert_eq!(copy.method, Method::CopyImage);
        assert_eq!(copy.stores, Some(vec!["fs2".to_owned()]));
        let all = parse(r#"{"method": {"name": "copy-image"}, "all_stores": true}"#).expect("ok");
        assert!(all.all_stores && all.stores.is_none());
        let web = parse(r#"{"method": {"name": "web-download", "uri": "http://x/y"}}"#);
        assert_eq!(web.expect("ok").uri.as_deref(), Some("http://x/y"));
        for bad in [
            "not json",
            "{}",
            r#"{"method": {}}"#,
            r#"{"method": {"name": "glance-download"}}"#,
            r#"{"method": {"name": "copy-image"}, "all_stores": "yes"}"#,
            r#"{"method": {"name": "copy-image"}, "stores": "fs"}"#,
        ] {
            assert_eq!(parse(bad), Err(StatusCode::BAD_REQUEST), "{bad}");
        }
    }

    /// Store lists merge sorted and without duplicates, and subtract.
    #[test]
    fn store_lists_merge_sorted() {
        let mut fields = Map::new();
        let stores = |v: &[&str]| v.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        merge(&mut fields, IMPORTING, &stores(&["fs2", "fs"]), false);
        assert_eq!(fields[IMPORTING], "fs,fs2");
        merge(&mut fields, IMPORTING, &stores(&["fs", "fs3"]), false);
        assert_eq!(fields[IMPORTING], "fs,fs2,fs3");
        merge(&mut fields, IMPORTING, &stores(&["fs", "fs2", "fs3"]), true);
        assert_eq!(fields[IMPORTING], "");
        merge(&mut fields, FAILED, &stores(&["fs"]), true);
        assert_eq!(fields[FAILED], "");
    }
}
