//! IMS's key/value image tags, written into Glance's `tags` list so that
//! `GET /v2/images/{id}` shows them at once (they are synchronous: 204).
//!
//! IMS's reference shows how tags are sent (`"tag": "key.value"` to
//! `PUT /v1/cloudimages/tags`, `{"key", "value"}` objects elsewhere) but
//! not how they appear in Glance's `tags`; the sample writes the form the
//! v1 API takes: `key.value`, or `key` alone for an empty value (which is
//! also what Glance's own `PUT /v2/images/{id}/tags/{tag}` adds). A tag's
//! key is the text before its first `.`; adding a key replaces the tag
//! that has it, in place.

use http::StatusCode;
use serde_json::{Map, Value, json};

use super::access::{Ctx, modify_owned, read_visible};
use super::errors::GlanceError;
use super::images::{set_tags, tags};
use super::ims_answer::{ImsAnswer, ImsError, format_error, json_object};
use super::response;

/// `key.value` (or `key`) as the Glance tag string.
fn encode(key: &str, value: &str) -> String {
    if value.is_empty() {
        key.to_owned()
    } else {
        format!("{key}.{value}")
    }
}

/// A Glance tag string as (key, value).
fn decode(tag: &str) -> (&str, &str) {
    tag.split_once('.').unwrap_or((tag, ""))
}

/// `{"key": k, "value": v}` with a non-empty key, or IMS's 400.
fn key_value(tag: Option<&Value>) -> Result<(String, String), ImsError> {
    let key = tag.and_then(|t| t.get("key")).and_then(Value::as_str);
    let value = tag.and_then(|t| t.get("value")).and_then(Value::as_str);
    match (key, value) {
        (Some(k), v) if !k.is_empty() => Ok((k.to_owned(), v.unwrap_or("").to_owned())),
        _ => Err(format_error("A tag needs a non-empty key and a value.")),
    }
}

/// Adds or replaces (by key) tags on an image the caller owns.
fn upsert(ctx: &Ctx<'_>, image: &str, add: &[(String, String)]) -> Result<(), GlanceError> {
    modify_owned(ctx, image, "modify_image", |record| {
        let mut list = tags(record);
        for (key, value) in add {
            let tag = Value::String(encode(key, value));
            let same_key = |t: &Value| t.as_str().is_some_and(|t| decode(t).0 == key);
            match list.iter().position(same_key) {
                Some(at) => list[at] = tag,
                None => list.push(tag),
            }
        }
        set_tags(record, list);
        Ok(())
    })
}

/// Removes the tags with these keys; with `must_exist`, a missing key is
/// a 404 and nothing changes.
fn remove(
    ctx: &Ctx<'_>,
    image: &str,
    keys: &[String],
    must_exist: bool,
) -> Result<(), GlanceError> {
    modify_owned(ctx, image, "modify_image", |record| {
        let mut list = tags(record);
        let has = |t: &Value, key: &String| t.as_str().is_some_and(|t| decode(t).0 == key);
        if must_exist && let Some(missing) = keys.iter().find(|k| !list.iter().any(|t| has(t, k))) {
            let msg = format!("Tag {missing} not found.");
            return Err(GlanceError::new(StatusCode::NOT_FOUND, msg));
        }
        list.retain(|t| !keys.iter().any(|k| has(t, k)));
        set_tags(record, list);
        Ok(())
    })
}

fn done() -> ImsAnswer {
    Ok(response::no_content())
}

/// `PUT /v1/cloudimages/tags` with `{"image_id", "tag": "key.value"}` or
/// `{"image_id", "image_tag": {"key", "value"}}`: 204.
pub fn put_v1(ctx: &Ctx<'_>, body: &[u8]) -> ImsAnswer {
    let request = json_object(body)?;
    let Some(image) = request.get("image_id").and_then(Value::as_str) else {
        return Err(format_error("image_id is required."));
    };
    let (key, value) = match (request.get("tag"), request.get("image_tag")) {
        (Some(Value::String(tag)), None) if !decode(tag).0.is_empty() => {
            let (k, v) = decode(tag);
            (k.to_owned(), v.to_owned())
        }
        (None, Some(object)) => key_value(Some(object))?,
        _ => return Err(format_error("Give either tag (key.value) or image_tag.")),
    };
    upsert(ctx, image, &[(key, value)])?;
    done()
}

/// `POST /v2/{project_id}/images/{image_id}/tags` with `{"tag": {"key",
/// "value"}}`: 204.
pub fn add(ctx: &Ctx<'_>, image: &str, body: &[u8]) -> ImsAnswer {
    let request = json_object(body)?;
    let tag = key_value(request.get("tag"))?;
    upsert(ctx, image, &[tag])?;
    done()
}

/// `POST /v2/{project_id}/images/{image_id}/tags/action` with
/// `{"action": "create"|"delete", "tags": [{"key", "value"}…]}`: 204;
/// deleting a missing key is no error.
pub fn batch(ctx: &Ctx<'_>, image: &str, body: &[u8]) -> ImsAnswer {
    let request: Map<String, Value> = json_object(body)?;
    let list = request.get("tags").and_then(Value::as_array);
    let Some(list) = list.filter(|l| !l.is_empty()) else {
        return Err(format_error("tags must be a non-empty list."));
    };
    let tags = list
        .iter()
        .map(|t| key_value(Some(t)))
        .collect::<Result<Vec<_>, _>>()?;
    match request.get("action").and_then(Value::as_str) {
        Some("create") => upsert(ctx, image, &tags)?,
        Some("delete") => {
            let keys: Vec<String> = tags.into_iter().map(|(k, _)| k).collect();
            remove(ctx, image, &keys, false)?;
        }
        _ => return Err(format_error("action must be create or delete.")),
    }
    done()
}

/// `DELETE /v2/{project_id}/images/{image_id}/tags/{key}`: 204, or 404
/// when the image has no such key.
pub fn delete(ctx: &Ctx<'_>, image: &str, key: &str) -> ImsAnswer {
    remove(ctx, image, &[key.to_owned()], true)?;
    done()
}

/// `GET /v2/{project_id}/images/{image_id}/tags`: `{"tags": [{"key",
/// "value"}…]}`.
pub fn list(ctx: &Ctx<'_>, image: &str) -> ImsAnswer {
    let pairs = read_visible(ctx, image, |record, _| {
        tags(record)
            .iter()
            .filter_map(Value::as_str)
            .map(|t| {
                let (key, value) = decode(t);
                json!({"key": key, "value": value})
            })
            .collect::<Vec<_>>()
    })?;
    Ok(response::json(glance_json::to_bytes(
        &json!({"tags": pairs}),
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Tags encode as `key.value` and decode at the first dot.
    #[test]
    fn tag_strings() {
        assert_eq!(encode("k", "v"), "k.v");
        assert_eq!(encode("k", ""), "k");
        assert_eq!(decode("aaaa.1111"), ("aaaa", "1111"));
        assert_eq!(decode("a.b.c"), ("a", "b.c"));
        assert_eq!(decode("gold"), ("gold", ""));
        assert!(key_value(Some(&json!({"key": "", "value": "v"}))).is_err());
        assert_eq!(
            key_value(Some(&json!({"key": "k"}))).expect("value optional"),
            ("k".to_owned(), String::new())
        );
    }
}
