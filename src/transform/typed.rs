//! `typed`: JSON types for extension-field values, for tooling that wants
//! them. Breaks clients that decode `__` fields into string fields
//! (gophertelekomcloud, Terraform): the README says so.

use serde_json::{Map, Value};

use super::fields::{self, FieldClass};
use super::{literal, lossless};

/// Replaces the string values of `__` fields in place, by class:
/// boolean-like → JSON booleans; numeric → JSON numbers (integers as
/// integers, in `i64`/`u64` range; decimals as finite `f64`s that keep their
/// value); `__os_feature_list` → the JSON value its text holds, as is (the
/// strings inside it are not converted). A value that does not read as its
/// class, a plain string and any non-string value are left exactly as they
/// were: nothing is lost. Returns whether anything changed.
pub fn apply(image: &mut Map<String, Value>) -> bool {
    fields::rewrite_strings(image, typed)
}

/// The typed value for `text`, or `None` to leave it a string.
fn typed(class: FieldClass, text: &str) -> Option<Value> {
    match class {
        FieldClass::BooleanLike => literal::boolean_like(text).map(Value::Bool),
        FieldClass::Numeric => literal::number_value(text).map(Value::Number),
        FieldClass::JsonText => lossless::parse(text),
        FieldClass::PlainString => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn typed_value(name: &str, value: Value) -> (bool, Value) {
        let mut map = Map::new();
        map.insert(name.to_owned(), value);
        let changed = apply(&mut map);
        (changed, map.remove(name).unwrap_or(Value::Null))
    }

    /// Boolean-like strings become booleans; other words stay strings.
    #[test]
    fn boolean_like_fields() {
        assert_eq!(
            typed_value("__isregistered", json!("true")),
            (true, json!(true))
        );
        assert_eq!(
            typed_value("__lazyloading", json!("True")),
            (true, json!(true))
        );
        assert_eq!(
            typed_value("__support_kvm", json!(" FALSE ")),
            (true, json!(false))
        );
        assert_eq!(
            typed_value("__support_amd", json!("yes")),
            (false, json!("yes"))
        );
        assert_eq!(typed_value("__support_amd", json!("")), (false, json!("")));
        assert_eq!(
            typed_value("__support_amd", json!(true)),
            (false, json!(true))
        );
    }

    /// Numeric strings become numbers; integers stay integers; out of range,
    /// non-finite and non-numeric text stays the exact string.
    #[test]
    fn numeric_fields() {
        assert_eq!(typed_value("__os_bit", json!("64")), (true, json!(64)));
        assert_eq!(typed_value("__os_bit", json!(" +064 ")), (true, json!(64)));
        assert_eq!(
            typed_value("__image_size", json!("-12")),
            (true, json!(-12))
        );
        assert_eq!(
            typed_value("__image_size", json!("18446744073709551615")),
            (true, json!(u64::MAX))
        );
        assert_eq!(
            typed_value("__sequence_num", json!("1.50")),
            (true, json!(1.5))
        );
        for text in [
            "64bit",
            "",
            " 1e400 ",
            "99999999999999999999",
            "1e-400",
            "NaN",
        ] {
            assert_eq!(
                typed_value("__os_bit", json!(text)),
                (false, json!(text)),
                "{text:?}"
            );
        }
        assert_eq!(typed_value("__os_bit", json!(64)), (false, json!(64)));
    }

    /// `__os_feature_list` becomes its parsed value, inner strings as they
    /// were; text that does not parse (or would lose data) stays a string.
    #[test]
    fn feature_list() {
        let text = r#"{"onekey_resetpasswd": "True", "n": {"b": "64", "a": [1]}}"#;
        let (changed, value) = typed_value("__os_feature_list", json!(text));
        assert!(changed);
        assert_eq!(
            value,
            json!({"onekey_resetpasswd": "True", "n": {"b": "64", "a": [1]}})
        );
        let keys: Vec<&String> = value
            .as_object()
            .map(|m| m.keys().collect())
            .unwrap_or_default();
        assert_eq!(keys, ["onekey_resetpasswd", "n"], "key order as written");
        for text in ["[\"a\"", "", "{\"a\": 1, \"a\": 2}", "[1e400]"] {
            assert_eq!(
                typed_value("__os_feature_list", json!(text)),
                (false, json!(text)),
                "{text:?}"
            );
        }
    }

    /// Plain strings and non-`__` fields are never typed; unknown `__` fields
    /// follow their shape (integers only, not decimals).
    #[test]
    fn plain_and_unknown_fields() {
        assert_eq!(
            typed_value("__os_version", json!("64")),
            (false, json!("64"))
        );
        assert_eq!(
            typed_value("__backup_id", json!("007")),
            (false, json!("007"))
        );
        assert_eq!(typed_value("min_ram", json!("64")), (false, json!("64")));
        assert_eq!(typed_value("__new", json!(" True")), (true, json!(true)));
        assert_eq!(typed_value("__new", json!("-7")), (true, json!(-7)));
        assert_eq!(typed_value("__new", json!("1.5")), (false, json!("1.5")));
        assert_eq!(
            typed_value("__new", json!("99999999999999999999")),
            (false, json!("99999999999999999999"))
        );
    }
}
