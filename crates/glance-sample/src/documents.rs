//! Static documents: JSON schemas (python-glanceclient fetches
//! `/v2/schemas/image` before most commands) and the version list that SDKs
//! use for discovery.

use http::{HeaderMap, Method, Response, StatusCode};
use serde_json::{Value, json};

use super::body::SampleBody;
use super::errors::GlanceError;
use super::response;

/// `GET /v2/schemas/{image,images,member,members}`.
pub fn schema(name: &str) -> Result<Response<SampleBody>, GlanceError> {
    let doc = match name {
        "image" => image_schema(),
        "images" => json!({
            "name": "images",
            "properties": {
                "images": {"type": "array", "items": image_schema()},
                "schema": {"type": "string"},
                "first": {"type": "string"},
                "next": {"type": "string"}
            },
            "links": [
                {"rel": "first", "href": "{first}"},
                {"rel": "next", "href": "{next}"},
                {"rel": "describedby", "href": "{schema}"}
            ]
        }),
        "member" => member_schema(),
        "members" => json!({
            "name": "members",
            "properties": {"members": {"type": "array", "items": member_schema()}, "schema": {"type": "string"}},
            "links": [{"rel": "describedby", "href": "{schema}"}]
        }),
        _ => return Err(GlanceError::no_route()),
    };
    Ok(response::json(glance_json::to_bytes(&doc)))
}

fn string(description: &str) -> Value {
    json!({"type": ["null", "string"], "readOnly": false, "description": description})
}

/// A trimmed Glance image schema: the core properties, and every other
/// property a string (which is why IMS `__` fields are strings).
fn image_schema() -> Value {
    json!({
        "name": "image",
        "properties": {
            "id": {"type": "string", "readOnly": true, "pattern": "^([0-9a-fA-F]){8}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){4}-([0-9a-fA-F]){12}$"},
            "name": string("Descriptive name for the image"),
            "status": {"type": "string", "readOnly": true, "enum": ["queued", "saving", "active", "killed", "deleted", "uploading", "importing", "pending_delete", "deactivated"]},
            "visibility": {"type": "string", "enum": ["community", "public", "private", "shared"]},
            "protected": {"type": "boolean"},
            "os_hidden": {"type": "boolean"},
            "checksum": {"type": ["null", "string"], "readOnly": true, "maxLength": 32},
            "os_hash_algo": {"type": ["null", "string"], "readOnly": true, "maxLength": 64},
            "os_hash_value": {"type": ["null", "string"], "readOnly": true, "maxLength": 128},
            "owner": string("Owner of the image"),
            "size": {"type": ["null", "integer"], "readOnly": true},
            "virtual_size": {"type": ["null", "integer"], "readOnly": true},
            "container_format": string("Format of the container"),
            "disk_format": string("Format of the disk"),
            "created_at": {"type": "string", "readOnly": true},
            "updated_at": {"type": "string", "readOnly": true},
            "tags": {"type": "array", "items": {"type": "string", "maxLength": 255}},
            "min_ram": {"type": "integer"},
            "min_disk": {"type": "integer"},
            "self": {"type": "string", "readOnly": true},
            "file": {"type": "string", "readOnly": true},
            "schema": {"type": "string", "readOnly": true}
        },
        "additionalProperties": {"type": "string"},
        "links": [
            {"rel": "self", "href": "{self}"},
            {"rel": "enclosure", "href": "{file}"},
            {"rel": "describedby", "href": "{schema}"}
        ]
    })
}

fn member_schema() -> Value {
    json!({
        "name": "member",
        "properties": {
            "member_id": {"type": "string"},
            "image_id": {"type": "string"},
            "status": {"type": "string", "enum": ["pending", "accepted", "rejected"]},
            "created_at": {"type": "string"},
            "updated_at": {"type": "string"},
            "schema": {"type": "string", "readOnly": true}
        }
    })
}

/// `GET /` (300) and `GET /versions` (200): Glance's version list, with
/// links built from the request's `Host`; no authentication needed, as in
/// Glance. None for any other request.
pub fn versions(method: &Method, path: &str, headers: &HeaderMap) -> Option<Response<SampleBody>> {
    let status = match (path, method) {
        ("/", &Method::GET) => StatusCode::MULTIPLE_CHOICES,
        ("/versions", &Method::GET) => StatusCode::OK,
        _ => return None,
    };
    let host = headers
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok());
    let base = format!("http://{}/", host.unwrap_or("localhost"));
    let version = |id: &str, state: &str| json!({"id": id, "status": state, "links": [{"rel": "self", "href": format!("{base}v2/")}]});
    let doc = json!({"versions": [version("v2.16", "CURRENT"), version("v2.15", "SUPPORTED"), version("v2.0", "SUPPORTED")]});
    Some(response::with_body(
        status,
        response::APPLICATION_JSON,
        glance_json::to_bytes(&doc),
    ))
}
