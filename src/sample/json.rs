//! JSON text as Glance writes it.
//!
//! Glance answers with Python's `json.dumps` defaults: `", "` between items,
//! `": "` after keys, and `ensure_ascii`, so every character outside printable
//! ASCII is a `\uXXXX` escape. Clients and caches compare bytes, so the sample
//! service writes the same bytes a real Glance would.

use std::io::{self, Write};

use bytes::Bytes;
use serde_json::Value;
use serde_json::ser::{CompactFormatter, Formatter, Serializer};

/// A `serde_json` formatter producing Python `json.dumps` output.
struct PyFormatter;

impl Formatter for PyFormatter {
    fn begin_array_value<W: ?Sized + Write>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
        if first { Ok(()) } else { w.write_all(b", ") }
    }

    fn begin_object_key<W: ?Sized + Write>(&mut self, w: &mut W, first: bool) -> io::Result<()> {
        if first { Ok(()) } else { w.write_all(b", ") }
    }

    fn begin_object_value<W: ?Sized + Write>(&mut self, w: &mut W) -> io::Result<()> {
        w.write_all(b": ")
    }

    /// `ensure_ascii`: DEL and everything above it become UTF-16 escapes.
    fn write_string_fragment<W: ?Sized + Write>(&mut self, w: &mut W, s: &str) -> io::Result<()> {
        let mut run_start = 0;
        for (i, c) in s.char_indices() {
            if (' '..='~').contains(&c) {
                continue;
            }
            // Flush the run of plain ASCII before this character in one write.
            w.write_all(&s.as_bytes()[run_start..i])?;
            run_start = i + c.len_utf8();
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                write!(w, "\\u{unit:04x}")?;
            }
        }
        w.write_all(&s.as_bytes()[run_start..])
    }

    /// Python prints exponents as `e+20` / `e-05`; serde_json prints `e20` / `e-5`.
    fn write_f64<W: ?Sized + Write>(&mut self, w: &mut W, value: f64) -> io::Result<()> {
        let mut plain = Vec::with_capacity(24);
        CompactFormatter.write_f64(&mut plain, value)?;
        let text = String::from_utf8_lossy(&plain);
        match text.split_once('e') {
            None => w.write_all(text.as_bytes()),
            Some((mantissa, exp)) => {
                let (sign, digits) = match exp.strip_prefix('-') {
                    Some(d) => ('-', d),
                    None => ('+', exp.trim_start_matches('+')),
                };
                write!(w, "{mantissa}e{sign}{digits:0>2}")
            }
        }
    }
}

/// Serialises `value` the way Glance (Python `json.dumps`) does.
pub fn to_bytes(value: &Value) -> Bytes {
    let mut out = Vec::with_capacity(1024);
    let mut ser = Serializer::with_formatter(&mut out, PyFormatter);
    // Writing a `Value` into a Vec cannot fail: no I/O errors, and a Value
    // only ever holds string keys. Keep whatever was written if it ever did.
    if let Err(err) = serde::Serialize::serialize(value, &mut ser) {
        tracing::error!(%err, "serialising a JSON value failed");
    }
    Bytes::from(out)
}

/// Serialises a string as a JSON string literal, Glance style (for bodies
/// assembled by hand around pre-serialised parts).
pub fn string_literal(s: &str) -> String {
    String::from_utf8_lossy(&to_bytes(&Value::String(s.to_owned()))).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Separators and key order match Python's `json.dumps`.
    #[test]
    fn separators_and_order_are_pythons() {
        let v = json!({"b": 1, "a": [2, 3], "c": {"d": null, "e": true}, "f": []});
        assert_eq!(
            &to_bytes(&v)[..],
            br#"{"b": 1, "a": [2, 3], "c": {"d": null, "e": true}, "f": []}"#
        );
    }

    /// Nested JSON text inside a string is escaped like the fixtures show.
    #[test]
    fn nested_json_text_is_escaped() {
        let v = json!({"__os_feature_list": "[\"onekey_resetpasswd\"]"});
        assert_eq!(
            &to_bytes(&v)[..],
            br#"{"__os_feature_list": "[\"onekey_resetpasswd\"]"}"#
        );
    }

    /// Non-ASCII text is escaped as `ensure_ascii` does, with surrogate pairs.
    #[test]
    fn non_ascii_is_escaped() {
        let v = json!(["é", "😀", "\u{7f}", "a/b", "\n\u{1}"]);
        assert_eq!(
            &to_bytes(&v)[..],
            br#"["\u00e9", "\ud83d\ude00", "\u007f", "a/b", "\n\u0001"]"#
        );
    }

    /// Floats use Python's exponent spelling.
    #[test]
    fn floats_use_python_exponents() {
        assert_eq!(&to_bytes(&json!(1.5))[..], b"1.5");
        assert_eq!(&to_bytes(&json!(1e20))[..], b"1e+20");
        assert_eq!(&to_bytes(&json!(1e-7))[..], b"1e-07");
    }

    /// A string literal is quoted and escaped.
    #[test]
    fn string_literal_quotes() {
        assert_eq!(string_literal("a\"b"), r#""a\"b""#);
    }
}
