//! Properties of the extension-field transforms over arbitrary JSON: no
//! input makes them panic, `normalize` is idempotent, fields outside the
//! mode's reach keep their values and their order, and `passthrough` is the
//! identity.

use imgcache::config::{Config, TransformConfig};
use imgcache::transform::{Mode, transform_image, transform_image_body, transform_list_body};
use proptest::prelude::*;
use serde_json::{Map, Value};

const MODES: [Mode; 4] = [Mode::Passthrough, Mode::Strip, Mode::Normalize, Mode::Typed];

/// Strings that sit on the edges of the value rules.
const ODD_STRINGS: &[&str] = &[
    "",
    " ",
    "true",
    "TRUE",
    " true ",
    "False",
    "\u{a0}false\n",
    "yes",
    "1",
    "0",
    "64",
    " 64 ",
    "+064",
    "-0",
    "64bit",
    "1e400",
    "1e-400",
    "1.50",
    "99999999999999999999",
    "NaN",
    "inf",
    "[\"onekey_resetpasswd\"]",
    "{\"b\": 1, \"a\": [2.50, {\"d\": null, \"c\": \"x\"}]}",
    "{\"a\": 1, \"a\": 2}",
    "[1e400]",
    "[123456789012345678901234567890]",
    "[\"unterminated",
    "null",
    "\"quoted\"",
    "Образ",
    "\u{1F600}",
    "\\",
    "\"",
];

/// Names: spec fields of every class, unknown `__` fields, and plain ones.
const NAMES: &[&str] = &[
    "__isregistered",
    "__lazyloading",
    "__support_kvm",
    "__os_bit",
    "__image_size",
    "__sequence_num",
    "__os_feature_list",
    "__os_version",
    "__support_xen_gpu_type",
    "__backup_id",
    "__new",
    "__",
    "___x",
    "_one",
    "id",
    "name",
    "size",
    "min_ram",
    "protected",
    "tags",
    "schema",
];

fn odd_string() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(ODD_STRINGS).prop_map(str::to_owned),
        1 => any::<String>(),
        1 => "[ +-]?[0-9]{0,25}(\\.[0-9]{0,5})?([eE][+-]?[0-9]{1,4})? ?",
    ]
}

fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(NAMES).prop_map(str::to_owned),
        1 => "(__)?[a-z_]{0,8}",
    ]
}

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        1 => Just(Value::Null),
        1 => any::<bool>().prop_map(Value::Bool),
        1 => any::<i64>().prop_map(Value::from),
        1 => any::<u64>().prop_map(Value::from),
        1 => any::<f64>().prop_map(Value::from),
        4 => odd_string().prop_map(Value::String),
    ]
}

/// Arbitrary JSON, with `__os_feature_list`-style JSON text inside strings.
fn json() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((name(), inner.clone()), 0..8)
                .prop_map(|pairs| Value::Object(pairs.into_iter().collect())),
            inner.prop_map(|v| Value::String(v.to_string())),
        ]
    })
}

/// An image: an object whose values are arbitrary JSON.
fn image() -> impl Strategy<Value = Map<String, Value>> {
    prop::collection::vec((name(), json()), 0..16).prop_map(|pairs| pairs.into_iter().collect())
}

fn strip_config() -> impl Strategy<Value = TransformConfig> {
    let names = || prop::collection::vec(prop::sample::select(NAMES).prop_map(str::to_owned), 0..3);
    (
        prop::sample::select(&["__", "_", "", "__os"][..]),
        names(),
        names(),
    )
        .prop_map(|(prefix, strip_fields, keep_fields)| TransformConfig {
            strip_prefix: prefix.to_owned(),
            strip_fields,
            keep_fields,
            ..config(Mode::Strip)
        })
}

fn config(mode: Mode) -> TransformConfig {
    TransformConfig {
        mode,
        ..Config::defaults().transform
    }
}

fn transformed(image: &Map<String, Value>, config: &TransformConfig) -> Map<String, Value> {
    let mut out = image.clone();
    transform_image(&mut out, config);
    out
}

/// The non-`__` fields of `map`, in order.
fn plain_fields(map: &Map<String, Value>) -> Vec<(&String, &Value)> {
    map.iter()
        .filter(|(name, _)| !name.starts_with("__"))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// No byte string makes a body transform panic, in any mode.
    #[test]
    fn arbitrary_bytes_never_panic(body in prop::collection::vec(any::<u8>(), 0..256)) {
        for mode in MODES {
            let _ = transform_image_body(&body, &config(mode));
            let _ = transform_list_body(&body, &config(mode));
        }
    }

    /// No JSON value makes a transform panic, as a map, an image body or a
    /// list body; whatever comes out is JSON again.
    #[test]
    fn arbitrary_json_never_panics(doc in json(), image in image()) {
        for mode in MODES {
            let config = config(mode);
            let _ = transformed(&image, &config);
            let body = serde_json::to_vec(&doc).unwrap_or_default();
            if let Some(out) = transform_image_body(&body, &config) {
                prop_assert!(serde_json::from_slice::<Value>(&out).is_ok());
            }
            let list = serde_json::json!({"images": [doc.clone(), image.clone()], "next": "x"});
            let body = serde_json::to_vec(&list).unwrap_or_default();
            if let Some(out) = transform_list_body(&body, &config) {
                prop_assert!(serde_json::from_slice::<Value>(&out).is_ok());
            }
        }
    }

    /// normalize then normalize equals normalize, on maps and on bodies
    /// (a normalized body needs no further change).
    #[test]
    fn normalize_is_idempotent(image in image()) {
        let config = config(Mode::Normalize);
        let once = transformed(&image, &config);
        prop_assert_eq!(&transformed(&once, &config), &once);
        let body = serde_json::to_vec(&Value::Object(image)).unwrap_or_default();
        if let Some(once) = transform_image_body(&body, &config) {
            prop_assert_eq!(transform_image_body(&once, &config), None);
        }
    }

    /// normalize and typed keep every name in place and never touch a
    /// non-`__` field; normalize keeps every value's JSON type.
    #[test]
    fn normalize_and_typed_touch_only_extension_values(image in image()) {
        for mode in [Mode::Normalize, Mode::Typed] {
            let out = transformed(&image, &config(mode));
            prop_assert!(out.keys().eq(image.keys()));
            prop_assert_eq!(plain_fields(&out), plain_fields(&image));
        }
        let out = transformed(&image, &config(Mode::Normalize));
        for (before, after) in image.values().zip(out.values()) {
            prop_assert_eq!(before.is_string(), after.is_string());
            if !before.is_string() {
                prop_assert_eq!(before, after);
            }
        }
    }

    /// strip removes exactly the fields the config names, keeps the order
    /// and the values of the rest.
    #[test]
    fn strip_removes_only_what_config_says(image in image(), config in strip_config()) {
        let out = transformed(&image, &config);
        let want: Vec<(&String, &Value)> = image
            .iter()
            .filter(|(name, _)| {
                let name = name.as_str();
                config.keep_fields.iter().any(|k| k == name)
                    || !((!config.strip_prefix.is_empty() && name.starts_with(&config.strip_prefix))
                        || config.strip_fields.iter().any(|s| s == name))
            })
            .collect();
        prop_assert_eq!(out.iter().collect::<Vec<_>>(), want);
    }

    /// passthrough is the identity on maps, and never rewrites a body.
    #[test]
    fn passthrough_is_identity(image in image()) {
        let config = config(Mode::Passthrough);
        prop_assert_eq!(&transformed(&image, &config), &image);
        let body = serde_json::to_vec(&Value::Object(image)).unwrap_or_default();
        prop_assert_eq!(transform_image_body(&body, &config), None);
        let list = format!("{{\"images\": [{}]}}", String::from_utf8_lossy(&body));
        prop_assert_eq!(transform_list_body(list.as_bytes(), &config), None);
    }
}
