//! `strip`: remove extension fields (and any extra names the operator
//! lists) from an image, keeping the allowlisted ones.

use serde_json::{Map, Value};

use crate::config::TransformConfig;

/// Removes every field whose name starts with `config.strip_prefix` (an
/// empty prefix matches nothing, so only `strip_fields` apply) or equals one
/// of `config.strip_fields`, unless it equals one of `config.keep_fields`.
/// Names compare exactly, case included. The order of the remaining fields
/// is kept. Returns whether anything was removed.
pub fn apply(image: &mut Map<String, Value>, config: &TransformConfig) -> bool {
    let before = image.len();
    // `retain` keeps the order (`Map::remove` would swap the last field in).
    image.retain(|name, _| !strips(name, config));
    image.len() != before
}

/// Whether the field `name` goes.
pub fn strips(name: &str, config: &TransformConfig) -> bool {
    if config.keep_fields.iter().any(|keep| keep == name) {
        return false;
    }
    let prefixed = !config.strip_prefix.is_empty() && name.starts_with(&config.strip_prefix);
    prefixed || config.strip_fields.iter().any(|strip| strip == name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::transform::Mode;
    use serde_json::json;

    fn config(prefix: &str, strip: &[&str], keep: &[&str]) -> TransformConfig {
        TransformConfig {
            mode: Mode::Strip,
            strip_prefix: prefix.to_owned(),
            strip_fields: strip.iter().map(|s| (*s).to_owned()).collect(),
            keep_fields: keep.iter().map(|s| (*s).to_owned()).collect(),
            ..Config::defaults().transform
        }
    }

    fn image() -> Map<String, Value> {
        match json!({"id": "x", "__os_bit": "64", "name": "n", "__platform": "CentOS", "_one": "1", "size": 1})
        {
            Value::Object(map) => map,
            _ => unreachable!(),
        }
    }

    fn names(map: &Map<String, Value>) -> Vec<&str> {
        map.keys().map(String::as_str).collect()
    }

    /// The default prefix removes `__` fields only, order kept.
    #[test]
    fn default_prefix_strips_extension_fields() {
        let mut map = image();
        assert!(apply(&mut map, &config("__", &[], &[])));
        assert_eq!(names(&map), ["id", "name", "_one", "size"]);
    }

    /// `strip_fields` removes extra names; `keep_fields` wins over both.
    #[test]
    fn extra_names_and_allowlist() {
        let mut map = image();
        assert!(apply(
            &mut map,
            &config("__", &["size", "__platform"], &["__platform", "id"])
        ));
        assert_eq!(names(&map), ["id", "name", "__platform", "_one"]);
    }

    /// An empty prefix strips nothing by prefix; a custom prefix is honoured.
    #[test]
    fn empty_and_custom_prefixes() {
        let mut map = image();
        assert!(!apply(&mut map, &config("", &[], &[])));
        assert_eq!(map, image());
        assert!(apply(&mut map, &config("_", &[], &["_one"])));
        assert_eq!(names(&map), ["id", "name", "_one", "size"]);
    }

    /// Nothing to strip reports no change; names are case-sensitive.
    #[test]
    fn no_match_is_no_change() {
        let mut map = image();
        assert!(!apply(&mut map, &config("__x", &["ID", "Size"], &[])));
        assert_eq!(map, image());
    }
}
