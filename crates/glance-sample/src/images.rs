//! The image collection and the small image writes: list, create, delete,
//! tags and the deactivate/reactivate actions.

use bytes::{BufMut, Bytes, BytesMut};
use http::{Response, StatusCode};
use serde_json::{Map, Value, json};

use super::access::{Ctx, forbidden, modify_owned};
use super::body::SampleBody;
use super::clock;
use super::errors::GlanceError;
use super::response;
use super::routes;
use super::store::Record;

type Answer = Result<Response<SampleBody>, GlanceError>;

/// Glance's default page size and its `api_limit_max`.
const DEFAULT_LIMIT: usize = 20;
const MAX_LIMIT: usize = 1000;

/// `GET /v2/images`: visible images in a stable order, `limit`/`marker`
/// paging and exact `name=` / `status=` filters, with Glance's `first` and
/// `next` links (`next` only when more images follow).
pub fn list(ctx: &Ctx<'_>, query: Option<&str>) -> Answer {
    let mut params = routes::parse_query(query);
    let param = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let limit = match param("limit") {
        Some(v) => v
            .parse::<usize>()
            .map_err(|_| bad_request("limit param must be an integer"))?,
        None => DEFAULT_LIMIT,
    }
    .min(MAX_LIMIT);
    let (marker, name, status) = (param("marker"), param("name"), param("status"));
    let page = ctx
        .shared
        .store
        .page(marker.as_deref(), limit, |r: &Record| {
            ctx.caller.can_see(r)
                && name
                    .as_deref()
                    .is_none_or(|n| r.fields.get("name").and_then(Value::as_str) == Some(n))
                && status.as_deref().is_none_or(|s| r.status() == s)
        })
        .map_err(|_| {
            bad_request(&format!(
                "marker {} could not be found",
                marker.unwrap_or_default()
            ))
        })?;

    params.retain(|(k, _)| k != "marker");
    let mut first = String::from("/v2/images");
    if !params.is_empty() {
        first = format!("{first}?{}", routes::encode_query(&params));
    }
    let next = page.next_marker.map(|m| {
        params.push(("marker".into(), m));
        format!("/v2/images?{}", routes::encode_query(&params))
    });
    Ok(response::json(list_body(
        &page.bodies,
        &first,
        next.as_deref(),
    )))
}

/// `{"images": [...], "first": ..., "schema": ..., "next": ...}` assembled
/// around the cached image bodies.
fn list_body(images: &[Bytes], first: &str, next: Option<&str>) -> Bytes {
    let size: usize = images.iter().map(|b| b.len() + 2).sum();
    let mut out = BytesMut::with_capacity(size + 256);
    out.put_slice(b"{\"images\": [");
    for (i, body) in images.iter().enumerate() {
        if i > 0 {
            out.put_slice(b", ");
        }
        out.put_slice(body);
    }
    out.put_slice(b"], \"first\": ");
    out.put_slice(glance_json::string_literal(first).as_bytes());
    out.put_slice(b", \"schema\": \"/v2/schemas/images\"");
    if let Some(next) = next {
        out.put_slice(b", \"next\": ");
        out.put_slice(glance_json::string_literal(next).as_bytes());
    }
    out.put_slice(b"}");
    out.freeze()
}

fn bad_request(msg: &str) -> GlanceError {
    GlanceError::new(StatusCode::BAD_REQUEST, msg)
}

/// `POST /v2/images`: a new queued image owned by the caller, 201.
pub fn create(ctx: &Ctx<'_>, body: &[u8]) -> Answer {
    let Ok(Value::Object(given)) = serde_json::from_slice::<Value>(body) else {
        return Err(bad_request("Body expected in request."));
    };
    let id = match given.get("id") {
        Some(Value::String(id)) => id.clone(),
        Some(_) => return Err(bad_request("id must be a string")),
        None => uuid::Uuid::new_v4().to_string(),
    };
    if ctx.shared.store.read(&id, |_, _| ()).is_some() {
        let msg = format!("Image with identifier {id} already exists!");
        return Err(GlanceError::new(StatusCode::CONFLICT, msg));
    }
    let image = new_image(&id, &ctx.caller.project, given);
    let bytes = glance_json::to_bytes(&image);
    ctx.shared.store.insert(image);
    Ok(response::with_body(
        StatusCode::CREATED,
        response::APPLICATION_JSON,
        bytes,
    ))
}

/// Extension properties first, then Glance's core fields (as in fixture 21).
fn new_image(id: &str, owner: &str, given: Map<String, Value>) -> Value {
    const CORE: [&str; 7] = [
        "name",
        "disk_format",
        "container_format",
        "visibility",
        "protected",
        "min_ram",
        "min_disk",
    ];
    let now = clock::now_timestamp();
    let given_or = |k: &str, default: Value| given.get(k).cloned().unwrap_or(default);
    let mut image: Map<String, Value> = given
        .iter()
        .filter(|(k, _)| !CORE.contains(&k.as_str()) && *k != "id" && *k != "tags")
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let core = json!({
        "name": given_or("name", Value::Null),
        "disk_format": given_or("disk_format", Value::Null),
        "container_format": given_or("container_format", Value::Null),
        "visibility": given_or("visibility", json!("shared")),
        "size": null, "virtual_size": null, "status": "queued", "checksum": null,
        "protected": given_or("protected", json!(false)),
        "min_ram": given_or("min_ram", json!(0)),
        "min_disk": given_or("min_disk", json!(0)),
        "owner": owner, "os_hidden": false, "os_hash_algo": null, "os_hash_value": null,
        "id": id, "created_at": now, "updated_at": now,
        "tags": given_or("tags", json!([])),
        "self": format!("/v2/images/{id}"), "file": format!("/v2/images/{id}/file"),
        "schema": "/v2/schemas/image"
    });
    if let Value::Object(core) = core {
        image.extend(core);
    }
    Value::Object(image)
}

/// Sets `updated_at` to now, in place.
pub fn touch(record: &mut Record) {
    record
        .fields
        .insert("updated_at".into(), Value::String(clock::now_timestamp()));
}

/// `DELETE /v2/images/{id}`: 204; protected images are refused (403).
pub fn delete(ctx: &Ctx<'_>, id: &str) -> Answer {
    let result = ctx.shared.store.remove_if(id, |record| {
        if !ctx.caller.can_see(record) {
            return Err(GlanceError::image_not_found(id));
        }
        if !ctx.caller.owns(record) {
            return Err(forbidden("delete_image"));
        }
        if record.fields.get("protected") == Some(&Value::Bool(true)) {
            let msg = format!("Image {id} is protected and cannot be deleted.");
            return Err(GlanceError::new(StatusCode::FORBIDDEN, msg));
        }
        Ok(())
    });
    result.unwrap_or_else(|| Err(GlanceError::image_not_found(id)))?;
    Ok(response::no_content())
}

/// The image's tags, to be written back with [`set_tags`].
pub fn tags(record: &Record) -> Vec<Value> {
    match record.fields.get("tags") {
        Some(Value::Array(list)) => list.clone(),
        _ => Vec::new(),
    }
}

/// Stores tags in place (a new `tags` field goes last) and bumps `updated_at`.
pub fn set_tags(record: &mut Record, list: Vec<Value>) {
    record.fields.insert("tags".into(), Value::Array(list));
    touch(record);
}

/// `PUT /v2/images/{id}/tags/{tag}`: 204, idempotent.
pub fn add_tag(ctx: &Ctx<'_>, id: &str, tag: &str) -> Answer {
    modify_owned(ctx, id, "modify_image", |record| {
        let mut list = tags(record);
        if !list.iter().any(|t| t.as_str() == Some(tag)) {
            list.push(Value::String(tag.to_owned()));
        }
        set_tags(record, list);
        Ok(())
    })?;
    Ok(response::no_content())
}

/// `DELETE /v2/images/{id}/tags/{tag}`: 204, or 404 if the tag is absent.
pub fn delete_tag(ctx: &Ctx<'_>, id: &str, tag: &str) -> Answer {
    modify_owned(ctx, id, "modify_image", |record| {
        let mut list = tags(record);
        let Some(pos) = list.iter().position(|t| t.as_str() == Some(tag)) else {
            return Err(GlanceError::new(
                StatusCode::NOT_FOUND,
                format!("Tag {tag} not found."),
            ));
        };
        list.remove(pos);
        set_tags(record, list);
        Ok(())
    })?;
    Ok(response::no_content())
}

/// `POST /v2/images/{id}/actions/{deactivate,reactivate}`: 204. Repeating
/// an action is a no-op; other statuses are refused (400) as in Glance.
pub fn action(ctx: &Ctx<'_>, id: &str, action: &str) -> Answer {
    let (from, to) = match action {
        "deactivate" => ("active", "deactivated"),
        "reactivate" => ("deactivated", "active"),
        _ => return Err(GlanceError::no_route()),
    };
    modify_owned(ctx, id, action, |record| {
        match record.status() {
            s if s == to => return Ok(()),
            s if s == from => {}
            other => {
                let msg = format!("Not allowed to {action} image in status '{other}'");
                return Err(bad_request(&msg));
            }
        }
        record.fields.insert("status".into(), json!(to));
        touch(record);
        Ok(())
    })?;
    Ok(response::no_content())
}
