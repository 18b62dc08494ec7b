//! `PATCH /v2/images/{id}` with Glance's json-patch media types.
//!
//! Changes apply to a copy and are committed only when all succeed, as
//! Glance saves the image once at the end. A new extension property goes
//! after the existing ones (before the core fields), where Glance prints it
//! (fixture 04).

use http::header::CONTENT_TYPE;
use http::{Response, StatusCode};
use serde_json::{Map, Value};

use super::access::{Ctx, modify_owned};
use super::body::SampleBody;
use super::errors::GlanceError;
use super::images::touch;
use super::response;

const PATCH_V21: &str = "application/openstack-images-v2.1-json-patch";
const PATCH_V20: &str = "application/openstack-images-v2.0-json-patch";

/// Set by the server; a patch may not change them.
const READ_ONLY: [&str; 14] = [
    "id",
    "created_at",
    "updated_at",
    "status",
    "checksum",
    "os_hash_algo",
    "os_hash_value",
    "size",
    "virtual_size",
    "direct_url",
    "self",
    "file",
    "schema",
    "stores",
];
/// Core attributes a patch may change but not remove.
const CORE: [&str; 11] = [
    "name",
    "visibility",
    "protected",
    "disk_format",
    "container_format",
    "min_ram",
    "min_disk",
    "owner",
    "tags",
    "os_hidden",
    "locations",
];

#[derive(Clone, Copy, PartialEq, Eq)]
enum Op {
    Add,
    Replace,
    Remove,
}

struct Change {
    op: Op,
    field: String,
    value: Value,
}

/// Applies a json-patch document; 200 with the updated image.
pub fn patch(ctx: &Ctx<'_>, id: &str, body: &[u8]) -> Result<Response<SampleBody>, GlanceError> {
    let content_type = ctx
        .headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let media = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    if media != PATCH_V21 && media != PATCH_V20 {
        return Err(GlanceError::unsupported_patch_type(content_type));
    }
    apply_document(ctx, id, body, media == PATCH_V20)
}

/// Applies a json-patch document (v2.1 form, or v2.0 when `v20`) to an
/// image the caller owns; 200 with the updated image. IMS's
/// `PATCH /v2/cloudimages/{id}` comes here too.
pub fn apply_document(
    ctx: &Ctx<'_>,
    id: &str,
    body: &[u8],
    v20: bool,
) -> Result<Response<SampleBody>, GlanceError> {
    let changes = parse_changes(body, v20)?;
    modify_owned(ctx, id, "modify_image", |record| {
        let mut fields = record.fields.clone();
        for change in changes {
            apply(&mut fields, change, v20)?;
        }
        record.fields = fields;
        touch(record);
        Ok(())
    })?;
    let body = ctx.shared.store.read(id, |_, body| body.clone());
    body.map(response::json)
        .ok_or_else(|| GlanceError::image_not_found(id))
}

fn bad_request(msg: impl Into<String>) -> GlanceError {
    GlanceError::new(StatusCode::BAD_REQUEST, msg)
}

/// Parses v2.1 (`{"op": "add", "path": …}`) or v2.0 (`{"add": path}`) changes.
fn parse_changes(body: &[u8], v20: bool) -> Result<Vec<Change>, GlanceError> {
    let Ok(Value::Array(items)) = serde_json::from_slice::<Value>(body) else {
        return Err(bad_request(
            "Request body must be a JSON array of operation objects.",
        ));
    };
    items
        .into_iter()
        .map(|item| parse_change(item, v20))
        .collect()
}

fn parse_change(item: Value, v20: bool) -> Result<Change, GlanceError> {
    let Value::Object(mut obj) = item else {
        return Err(bad_request("Operations must be JSON objects."));
    };
    let (op_name, path) = if v20 {
        let found = ["add", "replace", "remove"]
            .into_iter()
            .find(|k| obj.contains_key(*k));
        let op = found.ok_or_else(|| bad_request("Unable to find operation in change."))?;
        (op.to_owned(), obj.remove(op))
    } else {
        let op = obj
            .get("op")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        (op, obj.remove("path"))
    };
    let op = match op_name.as_str() {
        "add" => Op::Add,
        "replace" => Op::Replace,
        "remove" => Op::Remove,
        _ => return Err(bad_request(format!("Invalid operation: `{op_name}`."))),
    };
    let path = path
        .and_then(|p| p.as_str().map(str::to_owned))
        .unwrap_or_default();
    let field = top_level_field(&path)
        .ok_or_else(|| bad_request(format!("Invalid JSON pointer for this resource: '{path}'")))?;
    let value = match (op, obj.remove("value")) {
        (Op::Remove, _) => Value::Null,
        (_, Some(value)) => value,
        (_, None) => {
            return Err(bad_request(
                "Operation \"add\" or \"replace\" requires a member named \"value\".",
            ));
        }
    };
    Ok(Change { op, field, value })
}

/// `/field` → `field`, with JSON-pointer escapes undone.
fn top_level_field(path: &str) -> Option<String> {
    let name = path.strip_prefix('/')?;
    (!name.is_empty() && !name.contains('/')).then(|| name.replace("~1", "/").replace("~0", "~"))
}

fn apply(fields: &mut Map<String, Value>, change: Change, v20: bool) -> Result<(), GlanceError> {
    let Change { op, field, value } = change;
    let name = field.as_str();
    if READ_ONLY.contains(&name) {
        return Err(GlanceError::new(
            StatusCode::FORBIDDEN,
            format!("Attribute '{name}' is read-only."),
        ));
    }
    let core = CORE.contains(&name);
    let present = fields.contains_key(name);
    let conflict = |msg: String| Err(GlanceError::new(StatusCode::CONFLICT, msg));
    match op {
        Op::Remove if core => Err(GlanceError::new(
            StatusCode::FORBIDDEN,
            format!("Property {name} may not be removed."),
        )),
        Op::Remove if !present => conflict(format!("Property {name} does not exist.")),
        Op::Remove => {
            // shift_remove: a plain remove would reorder the fields.
            fields.shift_remove(name);
            Ok(())
        }
        Op::Replace if !core && !present => conflict(format!("Property {name} does not exist.")),
        Op::Add if v20 && present => conflict(format!("Property {name} already present.")),
        Op::Add | Op::Replace => {
            validate(name, &value, core)?;
            set_property(fields, &field, value);
            Ok(())
        }
    }
}

/// Sets a field where Glance prints it: in place when present; a new
/// extension property after the existing ones (before the core fields); a
/// new core field last (`stores` comes after `schema`).
pub fn set_property(fields: &mut Map<String, Value>, name: &str, value: Value) {
    if fields.contains_key(name) || is_core_key(name) {
        fields.insert(name.to_owned(), value);
    } else {
        let at = fields
            .keys()
            .rposition(|k| !is_core_key(k))
            .map_or(0, |i| i + 1);
        fields.shift_insert(at, name.to_owned(), value);
    }
}

fn is_core_key(key: &str) -> bool {
    READ_ONLY.contains(&key) || CORE.contains(&key)
}

/// The parts of Glance's image schema a patch can break.
fn validate(name: &str, value: &Value, core: bool) -> Result<(), GlanceError> {
    let ok = match name {
        "visibility" => matches!(
            value.as_str(),
            Some("public" | "private" | "shared" | "community")
        ),
        "protected" | "os_hidden" => value.is_boolean(),
        "min_ram" | "min_disk" => value.as_u64().is_some(),
        "tags" => value
            .as_array()
            .is_some_and(|t| t.iter().all(Value::is_string)),
        "name" | "disk_format" | "container_format" => value.is_string() || value.is_null(),
        _ if core => true,
        // additionalProperties: {"type": "string"}
        _ => value.is_string(),
    };
    if ok {
        Ok(())
    } else {
        Err(bad_request(format!(
            "Provided object does not match schema 'image': {value} is not valid under the schema of '{name}'"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use glance_json::to_bytes;
    use serde_json::json;

    fn apply_all(image: Value, patch: Value) -> Result<String, StatusCode> {
        let Value::Object(mut fields) = image else {
            panic!("object")
        };
        let changes = parse_changes(patch.to_string().as_bytes(), false).map_err(|e| e.status())?;
        for change in changes {
            apply(&mut fields, change, false).map_err(|e| e.status())?;
        }
        Ok(String::from_utf8_lossy(&to_bytes(&Value::Object(fields))).into_owned())
    }

    /// Fixture 04's patch: replace in place, add after the extensions, remove.
    #[test]
    fn fixture_04_patch_keeps_glance_order() {
        let image = json!({"__a": "1", "__lazyloading": "True", "__v": "old", "virtual_env_type": "F", "name": "n", "id": "x"});
        let patch = json!([
            {"op": "replace", "path": "/__v", "value": "new"},
            {"op": "add", "path": "/__new_prop", "value": "x"},
            {"op": "remove", "path": "/__lazyloading"}
        ]);
        assert_eq!(
            apply_all(image, patch),
            Ok(r#"{"__a": "1", "__v": "new", "virtual_env_type": "F", "__new_prop": "x", "name": "n", "id": "x"}"#.into())
        );
    }

    /// Glance's refusals: read-only, core removal, missing property, types.
    #[test]
    fn refusals() {
        let image = || json!({"name": "n", "id": "x", "__a": "1"});
        let one = |op: Value| apply_all(image(), json!([op]));
        assert_eq!(
            one(json!({"op": "replace", "path": "/id", "value": "y"})),
            Err(StatusCode::FORBIDDEN)
        );
        assert_eq!(
            one(json!({"op": "remove", "path": "/name"})),
            Err(StatusCode::FORBIDDEN)
        );
        assert_eq!(
            one(json!({"op": "remove", "path": "/__b"})),
            Err(StatusCode::CONFLICT)
        );
        assert_eq!(
            one(json!({"op": "replace", "path": "/__b", "value": "v"})),
            Err(StatusCode::CONFLICT)
        );
        assert_eq!(
            one(json!({"op": "add", "path": "/__b", "value": true})),
            Err(StatusCode::BAD_REQUEST)
        );
        assert_eq!(
            one(json!({"op": "add", "path": "/a/b", "value": "v"})),
            Err(StatusCode::BAD_REQUEST)
        );
        assert_eq!(
            one(json!({"op": "move", "path": "/a", "value": "v"})),
            Err(StatusCode::BAD_REQUEST)
        );
    }

    /// The v2.0 patch format names the operation as the key.
    #[test]
    fn v20_format() {
        let changes =
            parse_changes(br#"[{"replace": "/name", "value": "m"}]"#, true).expect("parses");
        assert_eq!(changes.len(), 1);
        assert!(changes[0].op == Op::Replace && changes[0].field == "name");
    }
}
