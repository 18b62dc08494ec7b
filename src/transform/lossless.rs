//! Parsing JSON text only when re-encoding it loses nothing.
//!
//! serde_json (built without `arbitrary_precision`) reads an integer beyond
//! `u64`/`i64` or an over-precise decimal as the nearest `f64`, and keeps
//! only the last of duplicate object keys. Re-encoding such text would
//! silently change it, so text like that counts as "does not parse": it is
//! left exactly as received, both for `__os_feature_list` and for whole
//! bodies (which are then served as received).

use serde_json::{Number, Value};

use super::literal;

/// `text` parsed, or `None` if it is not JSON or would not survive being
/// re-encoded (see the module doc).
pub fn parse(text: &str) -> Option<Value> {
    let value = serde_json::from_str(text).ok()?;
    faithful(text, &value).then_some(value)
}

/// Whether `value`, parsed from `text`, holds everything `text` says: every
/// number literal reads back as the same decimal value, and no object key
/// was dropped as a duplicate.
pub fn faithful(text: &str, value: &Value) -> bool {
    scan(text) == Some(key_count(value))
}

/// The number of object keys in `text` (valid JSON), or `None` if one of
/// its number literals would not survive. A key is a string followed by
/// `:`; `"` and `\` are ASCII, so a byte scan cannot mistake a UTF-8
/// continuation byte for them.
fn scan(text: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut keys = 0;
    let mut i = 0;
    while let Some(&byte) = bytes.get(i) {
        match byte {
            b'"' => {
                i = string_end(bytes, i + 1);
                let next = bytes[i.min(bytes.len())..]
                    .iter()
                    .find(|b| !b.is_ascii_whitespace());
                if next == Some(&b':') {
                    keys += 1;
                }
            }
            b'-' | b'0'..=b'9' => {
                let start = i;
                while bytes
                    .get(i)
                    .is_some_and(|b| matches!(b, b'+' | b'-' | b'.' | b'e' | b'E' | b'0'..=b'9'))
                {
                    i += 1;
                }
                if !number_survives(text.get(start..i)?) {
                    return None;
                }
            }
            _ => i += 1,
        }
    }
    Some(keys)
}

/// The index just past the closing quote of the string whose contents
/// start at `i`.
fn string_end(bytes: &[u8], mut i: usize) -> usize {
    while let Some(&byte) = bytes.get(i) {
        match byte {
            b'\\' => i += 2,
            b'"' => return i + 1,
            _ => i += 1,
        }
    }
    i
}

/// Whether serde_json reads the JSON number `literal` without losing any
/// of its value: integers that fit `i64`/`u64` always do; anything read as
/// an `f64` must be the same decimal value.
fn number_survives(literal: &str) -> bool {
    match serde_json::from_str::<Number>(literal) {
        Ok(number) => match number.as_f64() {
            Some(value) if number.is_f64() => literal::same_decimal(literal, value),
            _ => true,
        },
        Err(_) => false,
    }
}

/// The number of keys in every object inside `value`. serde_json's
/// recursion limit (128) bounds the depth of any parsed value.
fn key_count(value: &Value) -> usize {
    match value {
        Value::Object(map) => map.len() + map.values().map(key_count).sum::<usize>(),
        Value::Array(items) => items.iter().map(key_count).sum(),
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Ordinary JSON text parses, keys and numbers intact.
    #[test]
    fn ordinary_text_parses() {
        let text = r#"{"b": [1, -2, 0.5, 1e3, "x\"y:"], "a": {"c": null}, "k\\": true}"#;
        assert_eq!(
            parse(text),
            Some(json!({"b": [1, -2, 0.5, 1000.0, "x\"y:"], "a": {"c": null}, "k\\": true}))
        );
        assert_eq!(
            parse(r#"["onekey_resetpasswd"]"#),
            Some(json!(["onekey_resetpasswd"]))
        );
        assert_eq!(parse(" 18446744073709551615 "), Some(json!(u64::MAX)));
    }

    /// Text that is not JSON, or would lose a number or a key, is refused.
    #[test]
    fn lossy_text_is_refused() {
        for text in [
            "",
            "not json",
            "[1,]",
            r#"{"a": 1, "a": 2}"#,
            r#"[{"a": {"b": 1, "b": 1}}]"#,
            "[123456789012345678901234567890]",
            "[0.1000000000000000000001]",
            "[1e400]",
            "[1e-400]",
        ] {
            assert_eq!(parse(text), None, "{text}");
        }
    }

    /// Keys are counted only where a string is followed by a colon,
    /// including colons inside string values that are not keys.
    #[test]
    fn keys_are_strings_before_colons() {
        assert_eq!(scan(r#"{"a" : "b:c", "d":["e", ":"]}"#), Some(2));
        assert_eq!(scan(r#""\\""#), Some(0));
    }
}
