//! Extension-field transforms (`transform.mode`): pure functions over
//! `serde_json` values, and the two body-level entry points the proxy calls
//! at cache fill, on list responses and on `PATCH` responses.
//!
//! - `passthrough`: bytes as received.
//! - `strip` ([`strip`]): remove `transform.strip_prefix` fields and
//!   `transform.strip_fields`, except `transform.keep_fields`.
//! - `normalize` ([`normalize`]): canonical strings, names and types kept.
//! - `typed` ([`typed`]): JSON booleans, numbers and values instead of
//!   strings.
//!
//! What each `__` field means comes from the spec's field table
//! ([`fields`]). Field order is kept (serde_json's `preserve_order`), and
//! changed bodies are written as Glance writes them ([`glance_json`]), so a diff
//! between upstream and proxy output shows only what the mode changed. A
//! body that is not the expected JSON, or that serde_json could not
//! re-encode without loss (a number beyond `f64` precision, a duplicate
//! key), is served as received.

pub mod fields;
mod literal;
mod lossless;
pub mod normalize;
pub mod strip;
pub mod typed;

#[cfg(test)]
mod golden_tests;

use bytes::Bytes;
use serde_json::{Map, Value};

/// The mode is a setting: it lives with [`TransformConfig`] in
/// [`crate::config`], which this module reads and never the other way.
pub use crate::config::Mode;
use crate::config::TransformConfig;

/// Transforms one image object in place per config (no-op for Passthrough).
pub fn transform_image(image: &mut Map<String, Value>, config: &TransformConfig) {
    apply(image, config);
}

/// Applies the configured mode; returns whether `image` changed.
fn apply(image: &mut Map<String, Value>, config: &TransformConfig) -> bool {
    match config.mode {
        Mode::Passthrough => false,
        Mode::Strip => strip::apply(image, config),
        Mode::Normalize => normalize::apply(image),
        Mode::Typed => typed::apply(image),
    }
}

/// An image-details body: Some(new body bytes) when the mode changed it,
/// None when the body must be served as received (passthrough mode, not a
/// JSON object, or nothing changed).
pub fn transform_image_body(body: &[u8], config: &TransformConfig) -> Option<Bytes> {
    if config.mode == Mode::Passthrough {
        return None;
    }
    let mut image = parse_object(body)?;
    apply(&mut image, config).then(|| glance_json::to_bytes(&Value::Object(image)))
}

/// A `GET /v2/images` list body `{"images": [...], "first":…, "next":…,
/// "schema":…}`: each element of `images` transformed, every other
/// top-level field untouched; None when not such a body, or passthrough, or
/// nothing changed. Bodies over `config.max_list_bytes` are None as well
/// (the caller decides whether to warn).
pub fn transform_list_body(body: &[u8], config: &TransformConfig) -> Option<Bytes> {
    if config.mode == Mode::Passthrough || body.len() > config.max_list_bytes {
        return None;
    }
    let mut list = parse_object(body)?;
    let Some(Value::Array(images)) = list.get_mut("images") else {
        return None;
    };
    let mut changed = false;
    for image in images.iter_mut() {
        // A non-object element is not an image representation: left alone.
        if let Value::Object(image) = image {
            changed |= apply(image, config);
        }
    }
    changed.then(|| glance_json::to_bytes(&Value::Object(list)))
}

/// The body as a JSON object, if it is one and re-encoding it would lose
/// nothing.
fn parse_object(body: &[u8]) -> Option<Map<String, Value>> {
    let text = std::str::from_utf8(body).ok()?;
    match lossless::parse(text)? {
        Value::Object(map) => Some(map),
        _ => None,
    }
}

#[cfg(test)]
mod tests;
