//! `normalize`: canonical spellings for extension-field values, names and
//! the JSON string type kept, so every string-typed client (python-
//! glanceclient, gophertelekomcloud, Terraform) reads the body as before.

use serde_json::{Map, Value};

use super::fields::{self, FieldClass};
use super::{literal, lossless};

/// Rewrites the string values of `__` fields in place, by class:
/// boolean-like → `"true"`/`"false"`; numeric → trimmed (sign and leading
/// zeros kept, so `" +064 "` → `"+064"`); `__os_feature_list` → compact JSON
/// text with sorted keys. A value that does not read as its class, a plain
/// string and any non-string value are left exactly as they were. Applying
/// it twice gives the same result as once. Returns whether anything changed.
pub fn apply(image: &mut Map<String, Value>) -> bool {
    fields::rewrite_strings(image, |class, text| {
        canonical(class, text).map(Value::String)
    })
}

/// The canonical spelling of `text`, or `None` when it is already canonical
/// or does not read as `class`.
fn canonical(class: FieldClass, text: &str) -> Option<String> {
    let canonical = match class {
        FieldClass::BooleanLike => match literal::boolean_like(text)? {
            true => "true".to_owned(),
            false => "false".to_owned(),
        },
        FieldClass::Numeric => {
            let trimmed = text.trim();
            if !literal::is_number(trimmed) {
                return None;
            }
            trimmed.to_owned()
        }
        FieldClass::JsonText => {
            let mut value = lossless::parse(text)?;
            value.sort_all_objects();
            serde_json::to_string(&value).ok()?
        }
        FieldClass::PlainString => return None,
    };
    (canonical != text).then_some(canonical)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn normalized(name: &str, value: Value) -> (bool, Value) {
        let mut map = Map::new();
        map.insert(name.to_owned(), value);
        let changed = apply(&mut map);
        (changed, map.remove(name).unwrap_or(Value::Null))
    }

    /// Boolean-like fields get lower-case, trimmed words; others are kept.
    #[test]
    fn boolean_like_fields() {
        for (text, want) in [
            ("True", "true"),
            ("FALSE", "false"),
            (" true ", "true"),
            ("\tFalse\n", "false"),
            ("yes", "yes"),
            ("", ""),
            (" 1 ", " 1 "),
        ] {
            assert_eq!(
                normalized("__lazyloading", json!(text)).1,
                json!(want),
                "{text:?}"
            );
        }
        assert_eq!(
            normalized("__isregistered", json!("true")),
            (false, json!("true"))
        );
    }

    /// Numeric fields are trimmed when they are number literals, sign and
    /// leading zeros kept; anything else is left byte for byte.
    #[test]
    fn numeric_fields() {
        for (text, want) in [
            (" 64 ", "64"),
            ("+064", "+064"),
            (" -0 ", "-0"),
            (" 1e400 ", "1e400"),
            (" 1.50", "1.50"),
            (" 64bit ", " 64bit "),
            ("", ""),
            ("0x40", "0x40"),
        ] {
            assert_eq!(
                normalized("__os_bit", json!(text)).1,
                json!(want),
                "{text:?}"
            );
        }
        assert_eq!(
            normalized("__image_size", json!("1024")),
            (false, json!("1024"))
        );
    }

    /// `__os_feature_list` becomes compact JSON text with sorted keys,
    /// recursively; text that does not parse (or would lose data) is kept.
    #[test]
    fn feature_list() {
        let cases = [
            (r#"["onekey_resetpasswd"]"#, r#"["onekey_resetpasswd"]"#),
            (
                r#"{"onekey_resetpasswd": "true"}"#,
                r#"{"onekey_resetpasswd":"true"}"#,
            ),
            (
                r#" {"z": [ {"b": 1, "a": {"y": null, "x": 2.50}} ], "a": "é"} "#,
                r#"{"a":"é","z":[{"a":{"x":2.5,"y":null},"b":1}]}"#,
            ),
            ("[\"unterminated", "[\"unterminated"),
            ("", ""),
            (r#"{"a": 1, "a": 2}"#, r#"{"a": 1, "a": 2}"#),
            (
                "[123456789012345678901234567890]",
                "[123456789012345678901234567890]",
            ),
        ];
        for (text, want) in cases {
            assert_eq!(
                normalized("__os_feature_list", json!(text)).1,
                json!(want),
                "{text}"
            );
        }
    }

    /// Plain strings, non-string values and non-`__` fields are untouched.
    #[test]
    fn untouched_values() {
        assert_eq!(
            normalized("__os_version", json!(" TRUE ")),
            (false, json!(" TRUE "))
        );
        assert_eq!(
            normalized("__isregistered", json!(true)),
            (false, json!(true))
        );
        assert_eq!(normalized("__os_bit", json!(64)), (false, json!(64)));
        assert_eq!(
            normalized("__os_feature_list", json!(["a"])),
            (false, json!(["a"]))
        );
        assert_eq!(
            normalized("protected", json!("True")),
            (false, json!("True"))
        );
    }

    /// Unknown `__` fields follow their shape.
    #[test]
    fn unknown_fields_by_shape() {
        assert_eq!(normalized("__new", json!(" TRUE ")).1, json!("true"));
        assert_eq!(normalized("__new", json!(" 007 ")).1, json!("007"));
        assert_eq!(normalized("__new", json!(" 1.5 ")).1, json!(" 1.5 "));
        assert_eq!(normalized("__new", json!(" text ")).1, json!(" text "));
    }
}
