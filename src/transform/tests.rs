//! The body-level entry points: when a body is rewritten, and that the
//! rewrite differs from Glance's own bytes only where the mode changed
//! something.

use serde_json::{Map, Value, json};

use super::*;
use crate::config::Config;

/// `GET /v2/images/{id}` from a real Glance 33
/// (`fixtures/glance-33/02_get_image.txt`).
const GLANCE_IMAGE: &str = r#"{"__os_type": "Linux", "__isregistered": "true", "__lazyloading": "True", "__os_bit": "64", "__platform": "CentOS", "__os_version": "CentOS 7.3 64bit", "__imagetype": "gold", "__support_kvm": "true", "__os_feature_list": "[\"onekey_resetpasswd\"]", "virtual_env_type": "FusionCompute", "name": "ims-centos7", "disk_format": "qcow2", "container_format": "bare", "visibility": "public", "size": null, "virtual_size": null, "status": "queued", "checksum": null, "protected": false, "min_ram": 1024, "min_disk": 40, "owner": "admin", "os_hidden": false, "os_hash_algo": null, "os_hash_value": null, "id": "cbffb74f-2516-414c-824c-9ec0ee8fd02b", "created_at": "2026-11-26T17:31:11Z", "updated_at": "2026-11-26T17:31:11Z", "tags": ["gold", "centos"], "self": "/v2/images/cbffb74f-2516-414c-824c-9ec0ee8fd02b", "file": "/v2/images/cbffb74f-2516-414c-824c-9ec0ee8fd02b/file", "schema": "/v2/schemas/image"}"#;

/// The list tail from `fixtures/glance-33/10_list_images.txt`.
const LIST_TAIL: &str = r#""first": "/v2/images?limit=2", "schema": "/v2/schemas/images", "next": "/v2/images?limit=2&marker=edc53bff-70ab-4510-906d-fd8453d51ba0""#;

fn config(mode: Mode) -> TransformConfig {
    TransformConfig {
        mode,
        ..Config::defaults().transform
    }
}

fn text(body: Option<Bytes>) -> Option<String> {
    body.map(|b| String::from_utf8_lossy(&b).into_owned())
}

/// Passthrough never rewrites, whatever the body.
#[test]
fn passthrough_never_rewrites() {
    let config = config(Mode::Passthrough);
    assert_eq!(transform_image_body(GLANCE_IMAGE.as_bytes(), &config), None);
    let list = format!(r#"{{"images": [{GLANCE_IMAGE}], {LIST_TAIL}}}"#);
    assert_eq!(transform_list_body(list.as_bytes(), &config), None);
    let mut image: Map<String, Value> = serde_json::from_str(GLANCE_IMAGE).unwrap_or_default();
    let before = image.clone();
    transform_image(&mut image, &config);
    assert_eq!(image, before);
}

/// Normalize on Glance's bytes changes exactly one value: the rest of the
/// body is byte-identical to the upstream's.
#[test]
fn normalize_changes_only_what_it_must() {
    let got = text(transform_image_body(
        GLANCE_IMAGE.as_bytes(),
        &config(Mode::Normalize),
    ));
    let want = GLANCE_IMAGE.replace(r#""__lazyloading": "True""#, r#""__lazyloading": "true""#);
    assert_eq!(got, Some(want));
}

/// Strip removes the `__` fields and nothing else, in Glance's spelling.
#[test]
fn strip_removes_extension_fields() {
    let got = text(transform_image_body(
        GLANCE_IMAGE.as_bytes(),
        &config(Mode::Strip),
    ));
    let start = GLANCE_IMAGE
        .find(r#""virtual_env_type""#)
        .unwrap_or_default();
    assert_eq!(got, Some(format!("{{{}", &GLANCE_IMAGE[start..])));
}

/// Typed changes the classed values and keeps every field in place.
#[test]
fn typed_types_values_in_place() {
    let got = text(transform_image_body(
        GLANCE_IMAGE.as_bytes(),
        &config(Mode::Typed),
    ));
    let want = GLANCE_IMAGE
        .replace(r#""__isregistered": "true""#, r#""__isregistered": true"#)
        .replace(r#""__lazyloading": "True""#, r#""__lazyloading": true"#)
        .replace(r#""__os_bit": "64""#, r#""__os_bit": 64"#)
        .replace(r#""__support_kvm": "true""#, r#""__support_kvm": true"#)
        .replace(
            r#""__os_feature_list": "[\"onekey_resetpasswd\"]""#,
            r#""__os_feature_list": ["onekey_resetpasswd"]"#,
        );
    assert_eq!(got, Some(want));
}

/// A body with nothing to change, or that is not a JSON object, or that
/// could not be re-encoded without loss, is served as received (`None`).
#[test]
fn bodies_served_as_received() {
    let canonical = r#"{"id": "x", "__os_bit": "64", "__isregistered": "true"}"#;
    assert_eq!(
        transform_image_body(canonical.as_bytes(), &config(Mode::Normalize)),
        None
    );
    let no_extensions = r#"{"id": "x", "min_ram": 0}"#;
    for mode in [Mode::Strip, Mode::Normalize, Mode::Typed] {
        let config = config(mode);
        assert_eq!(
            transform_image_body(no_extensions.as_bytes(), &config),
            None
        );
        for body in [
            &b""[..],
            b"not json",
            b"[{\"__os_bit\": \"64\"}]",
            b"\"__os_bit\"",
            b"{\"__os_bit\": \"64\"",
            b"{\"__os_bit\": \"64\", \"size\": 123456789012345678901234567890}",
            b"{\"__os_bit\": \"64\", \"__os_bit\": \" 64 \"}",
            b"{\"__os_bit\": \"\xff\"}",
        ] {
            assert_eq!(
                transform_image_body(body, &config),
                None,
                "{mode:?} {body:?}"
            );
        }
    }
}

/// A pretty-printed body that changes comes back in Glance's one-line style.
#[test]
fn changed_bodies_use_glance_style() {
    let body = "{\n  \"__os_bit\": \" 64\",\n  \"name\": \"caf\u{e9}\"\n}\n";
    let got = text(transform_image_body(
        body.as_bytes(),
        &config(Mode::Normalize),
    ));
    assert_eq!(
        got.as_deref(),
        Some(r#"{"__os_bit": "64", "name": "caf\u00e9"}"#)
    );
}

/// In a list, each image is transformed and the other top-level fields
/// keep their bytes; non-object elements are left alone.
#[test]
fn list_transforms_each_image() {
    let plain = r#"{"id": "y", "tags": []}"#;
    let body = format!(r#"{{"images": [{GLANCE_IMAGE}, {plain}, "odd", 7], {LIST_TAIL}}}"#);
    let got = text(transform_list_body(
        body.as_bytes(),
        &config(Mode::Normalize),
    ));
    let want = body.replace(r#""__lazyloading": "True""#, r#""__lazyloading": "true""#);
    assert_eq!(got, Some(want));
}

/// Lists that are not `{"images": [...]}`, that need no change, or that are
/// over `max_list_bytes` are served as received.
#[test]
fn lists_served_as_received() {
    let config = config(Mode::Typed);
    let unchanged = format!(r#"{{"images": [{{"id": "y"}}], {LIST_TAIL}}}"#);
    assert_eq!(transform_list_body(unchanged.as_bytes(), &config), None);
    for body in [
        r#"{"images": {"__os_bit": "64"}}"#,
        r#"{"image": [{"__os_bit": "64"}]}"#,
        r#"[{"__os_bit": "64"}]"#,
        "{",
    ] {
        assert_eq!(
            transform_list_body(body.as_bytes(), &config),
            None,
            "{body}"
        );
    }
    let list = format!(r#"{{"images": [{GLANCE_IMAGE}], {LIST_TAIL}}}"#);
    assert!(transform_list_body(list.as_bytes(), &config).is_some());
    let small = TransformConfig {
        max_list_bytes: list.len() - 1,
        ..config
    };
    assert_eq!(transform_list_body(list.as_bytes(), &small), None);
}

/// `transform_image` applies the configured mode to a map in place, and
/// strip's config (prefix, extra names, allowlist) is honoured.
#[test]
fn transform_image_in_place() {
    let mut image = match json!({"__os_bit": "64", "id": "x", "__platform": "CentOS", "size": 1}) {
        Value::Object(map) => map,
        _ => unreachable!(),
    };
    let strip = TransformConfig {
        strip_fields: vec!["size".to_owned()],
        keep_fields: vec!["__platform".to_owned()],
        ..config(Mode::Strip)
    };
    transform_image(&mut image, &strip);
    assert_eq!(
        Value::Object(image),
        json!({"id": "x", "__platform": "CentOS"})
    );
}

/// The config spellings of the modes round-trip.
#[test]
fn mode_spellings_round_trip() {
    for mode in [Mode::Passthrough, Mode::Strip, Mode::Normalize, Mode::Typed] {
        assert_eq!(Mode::parse(mode.as_str()), Some(mode));
    }
    assert_eq!(Mode::parse(" typed "), Some(Mode::Typed));
    assert_eq!(Mode::parse("Typed"), None);
}

/// Deep nesting neither overflows the stack nor gets rewritten: serde_json
/// refuses more than 128 levels, so such a body (or feature list) is left
/// as received.
#[test]
fn deep_nesting_is_left_alone() {
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let body = format!(r#"{{"__os_bit": " 64", "x": {deep}}}"#);
    assert_eq!(
        transform_image_body(body.as_bytes(), &config(Mode::Typed)),
        None
    );
    let nested = format!("{}{}", "[".repeat(200), "]".repeat(200));
    let body = serde_json::to_vec(&json!({"__os_feature_list": nested})).unwrap_or_default();
    for mode in [Mode::Normalize, Mode::Typed] {
        assert_eq!(transform_image_body(&body, &config(mode)), None, "{mode:?}");
    }
}
