//! JSON text as Glance writes it.
//!
//! Glance answers with Python's `json.dumps` defaults: `", "` between items,
//! `": "` after keys, and `ensure_ascii`, so every character outside printable
//! ASCII is a `\uXXXX` escape. Clients and caches compare bytes, so both the
//! sample service (`glance-sample`) and imgcache's transforms write the same
//! bytes a real Glance would: a transformed body differs from the upstream's
//! only where the mode changed something. A crate of its own so that the
//! two share it without either depending on the other.
#![forbid(unsafe_code)]

use std::io::{self, Write};

use bytes::Bytes;
use serde_json::Value;
use serde_json::ser::{Formatter, Serializer};

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

    /// Python's `repr(float)`. serde_json only hands finite values here
    /// (it writes `null` for the others itself).
    fn write_f64<W: ?Sized + Write>(&mut self, w: &mut W, value: f64) -> io::Result<()> {
        w.write_all(python_float_repr(value).as_bytes())
    }
}

/// Python's `repr(float)`: the shortest digits that read back as `value`,
/// in positional notation when the decimal exponent is in `-4..16` (`1e+16`,
/// `1000000000000000.0`, `0.0001`, `1e-05`), scientific with a signed
/// two-digit exponent otherwise.
fn python_float_repr(value: f64) -> String {
    // `{:e}` gives the same shortest round-trip digits as Python: `-1.25e-7`.
    let scientific = format!("{value:e}");
    let (mantissa, exponent) = scientific.split_once('e').unwrap_or((&scientific, "0"));
    let Ok(exponent) = exponent.parse::<i32>() else {
        return scientific;
    };
    let (sign, mantissa) = match mantissa.strip_prefix('-') {
        Some(rest) => ("-", rest),
        None => ("", mantissa),
    };
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    if !(-4..16).contains(&exponent) {
        let exp_sign = if exponent < 0 { '-' } else { '+' };
        let exp_abs = exponent.unsigned_abs();
        return format!("{sign}{mantissa}e{exp_sign}{exp_abs:02}");
    }
    if exponent < 0 {
        let zeros = "0".repeat(exponent.unsigned_abs() as usize - 1);
        return format!("{sign}0.{zeros}{digits}");
    }
    let point = exponent.unsigned_abs() as usize + 1;
    if digits.len() > point {
        format!("{sign}{}.{}", &digits[..point], &digits[point..])
    } else {
        format!("{sign}{digits:0<point$}.0")
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

    /// Floats are spelled as Python's `repr` spells them (values checked
    /// against CPython 3).
    #[test]
    fn floats_use_python_repr() {
        let cases: &[(f64, &str)] = &[
            (1.5, "1.5"),
            (1e20, "1e+20"),
            (1e-7, "1e-07"),
            (1e16, "1e+16"),
            (1.5e16, "1.5e+16"),
            (1e15, "1000000000000000.0"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (0.00012, "0.00012"),
            (0.1, "0.1"),
            (-0.25, "-0.25"),
            (-0.0, "-0.0"),
            (0.0, "0.0"),
            (64.0, "64.0"),
            (123456789.123, "123456789.123"),
            (-2.5e-300, "-2.5e-300"),
            (1.5e300, "1.5e+300"),
            (5e-324, "5e-324"),
        ];
        for &(value, want) in cases {
            assert_eq!(&to_bytes(&json!(value))[..], want.as_bytes(), "{value:e}");
        }
    }

    /// A string literal is quoted and escaped.
    #[test]
    fn string_literal_quotes() {
        assert_eq!(string_literal("a\"b"), r#""a\"b""#);
    }
}
