//! Image data: streamed uploads and stages (hashed and counted chunk by
//! chunk, never buffered whole: `received`) and streamed downloads of the
//! generated pattern.

use bytes::Bytes;
use http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use http::{HeaderValue, Response, StatusCode};
use hyper::body::Incoming;
use serde_json::{Map, Value, json};

use super::access::{Ctx, modify_owned, read_visible};
use super::body::{self, SampleBody};
use super::control::Upload;
use super::errors::GlanceError;
use super::images::touch;
use super::patch::set_property;
use super::received::{Received, receive};
use super::response;

type Answer = Result<Response<SampleBody>, GlanceError>;

/// What a download of an image serves.
enum Data {
    Kept(Bytes),
    Pattern(u64),
    Nothing,
}

/// `GET /v2/images/{id}/file`: the kept upload, or `size` bytes of the
/// pattern; 204 when the image has no data; 403 when deactivated.
pub fn download(ctx: &Ctx<'_>, id: &str) -> Answer {
    let data = read_visible(ctx, id, |record, _| {
        if record.status() == "deactivated" && !ctx.caller.is_admin() {
            let msg = "The requested image has been deactivated. Image data download is forbidden.";
            return Err(GlanceError::new(StatusCode::FORBIDDEN, msg));
        }
        // No location yet: Glance answers 204 (the staged data of an
        // uploading or importing image is not the image's).
        if matches!(
            record.status(),
            "queued" | "saving" | "uploading" | "importing"
        ) {
            return Ok(Data::Nothing);
        }
        Ok(
            match (
                &record.data,
                record.fields.get("size").and_then(Value::as_u64),
            ) {
                (Some(kept), _) => Data::Kept(kept.clone()),
                (None, Some(size)) => Data::Pattern(size),
                (None, None) => Data::Nothing,
            },
        )
    })??;
    Ok(match data {
        Data::Kept(bytes) => octet_stream(bytes.len() as u64, body::full(bytes)),
        Data::Pattern(size) => octet_stream(size, body::pattern_file(size)),
        Data::Nothing => response::no_content(),
    })
}

/// A download's head in fixture 09's order: type, length, request id
/// (Glance's `Content-MD5` is left out: the service keeps no MD5).
fn octet_stream(len: u64, body: SampleBody) -> Response<SampleBody> {
    let mut out = Response::new(body);
    let headers = out.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("application/octet-stream"),
    );
    headers.insert(CONTENT_LENGTH, HeaderValue::from(len));
    headers.insert(response::REQUEST_ID, response::request_id());
    out
}

/// `PUT /v2/images/{id}/file`: only into a `queued` image (409 otherwise,
/// as Glance). The image is `saving` meanwhile; afterwards `active` with
/// `size`, `os_hash_algo: "sha256"`, `os_hash_value` and `checksum: null`
/// (no MD5 here). 204.
pub async fn upload(ctx: &Ctx<'_>, id: &str, body: Incoming) -> Answer {
    modify_owned(ctx, id, "upload_image", |record| {
        if record.status() != "queued" {
            let status = record.status();
            let msg = format!("Image status transition from {status} to saving is not allowed");
            return Err(GlanceError::new(StatusCode::CONFLICT, msg));
        }
        record.fields.insert("status".into(), json!("saving"));
        Ok(())
    })?;
    let Some(received) = receive(body).await else {
        set_status(ctx, id, "queued");
        return Err(GlanceError::new(
            StatusCode::BAD_REQUEST,
            "Error reading the image data.",
        ));
    };
    let Received {
        bytes,
        sha256_hex,
        kept,
    } = received;
    // Glance with several stores records where the data went (`stores`).
    let default_store = ctx.shared.backends.default_store();
    let stored = ctx.shared.store.modify(id, |record| {
        let fields = &mut record.fields;
        fields.insert("size".into(), json!(bytes));
        fields.insert("checksum".into(), Value::Null);
        fields.insert("os_hash_algo".into(), json!("sha256"));
        fields.insert("os_hash_value".into(), json!(sha256_hex));
        fields.insert("status".into(), json!("active"));
        record.data = kept;
        if let Some(store) = default_store {
            add_store(&mut record.fields, &store);
        }
        touch(record);
        Ok::<(), GlanceError>(())
    });
    if stored.is_none() {
        // Deleted while the data was arriving.
        return Err(GlanceError::image_not_found(id));
    }
    let upload = Upload {
        image_id: id.to_owned(),
        bytes,
        sha256_hex,
    };
    ctx.shared.record_upload(upload);
    Ok(response::no_content())
}

/// `PUT /v2/images/{id}/stage` (glance-direct, step one): only into a
/// `queued` image (409 otherwise, as Glance); the image becomes
/// `uploading` with the staged `size`, and the data waits in the staging
/// area for `POST …/import`. 204.
pub async fn stage(ctx: &Ctx<'_>, id: &str, body: Incoming) -> Answer {
    modify_owned(ctx, id, "modify_image", |record| {
        if record.status() != "queued" {
            let status = record.status();
            let msg = format!("Image status transition from {status} to uploading is not allowed");
            return Err(GlanceError::new(StatusCode::CONFLICT, msg));
        }
        record.fields.insert("status".into(), json!("uploading"));
        Ok(())
    })?;
    let Some(received) = receive(body).await else {
        set_status(ctx, id, "queued");
        return Err(GlanceError::new(
            StatusCode::BAD_REQUEST,
            "Error reading the image data.",
        ));
    };
    let bytes = received.bytes;
    let staged = ctx.shared.store.modify(id, |record| {
        record.fields.insert("size".into(), json!(bytes));
        touch(record);
        Ok::<(), GlanceError>(())
    });
    if staged.is_none() {
        return Err(GlanceError::image_not_found(id));
    }
    ctx.shared.backends.stage(id, received);
    Ok(response::no_content())
}

/// Adds `store` to the comma-separated `stores` of an image (last, as
/// Glance lists its locations), unless it is there already.
pub fn add_store(fields: &mut Map<String, Value>, store: &str) {
    let mut stores: Vec<&str> = fields
        .get("stores")
        .and_then(Value::as_str)
        .map(|s| s.split(',').filter(|s| !s.is_empty()).collect())
        .unwrap_or_default();
    if stores.contains(&store) {
        return;
    }
    stores.push(store);
    let joined = stores.join(",");
    set_property(fields, "stores", json!(joined));
}

/// Puts a failed upload's image back into `status`.
fn set_status(ctx: &Ctx<'_>, id: &str, status: &str) {
    let _ = ctx.shared.store.modify(id, |record| {
        record.fields.insert("status".into(), json!(status));
        Ok::<(), ()>(())
    });
}
