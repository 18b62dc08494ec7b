//! Reading the string values of extension fields: boolean-like words and
//! number literals, and whether a number survives a trip through `f64`.
//!
//! All readers trim surrounding whitespace (Unicode `White_Space`, as
//! Python's `str.strip`) first; none accepts anything a human would have to
//! guess at (`yes`, `1`, `64bit`, `0x40`, `.5`, `inf`).

use serde_json::Number;

/// `Some(true)`/`Some(false)` for `true`/`false` in any letter case after
/// trimming; `None` for everything else, including `yes`, `no`, `1`, `0`
/// and the empty string.
pub fn boolean_like(text: &str) -> Option<bool> {
    let word = text.trim();
    if word.eq_ignore_ascii_case("true") {
        Some(true)
    } else if word.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

/// An optional `+`/`-` followed by one or more ASCII digits, nothing else.
pub fn is_integer(text: &str) -> bool {
    let digits = text.strip_prefix(['+', '-']).unwrap_or(text);
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
}

/// A decimal number literal: `[+-]digits[.digits][(e|E)[+-]digits]`.
/// Unlike JSON, a `+` sign and leading zeros are allowed (people type
/// them); `.5`, `5.`, `inf` and `NaN` are not numbers here.
pub fn is_number(text: &str) -> bool {
    let unsigned = text.strip_prefix(['+', '-']).unwrap_or(text);
    let (mantissa, exponent) = match unsigned.split_once(['e', 'E']) {
        Some((mantissa, exponent)) => (mantissa, Some(exponent)),
        None => (unsigned, None),
    };
    let (whole, fraction) = match mantissa.split_once('.') {
        Some((whole, fraction)) => (whole, Some(fraction)),
        None => (mantissa, None),
    };
    all_digits(whole) && fraction.is_none_or(all_digits) && exponent.is_none_or(is_integer)
}

fn all_digits(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit())
}

/// The JSON number for a numeric field's text, or `None` to leave the
/// string as it is. Integers become `i64` (or `u64` above `i64::MAX`);
/// beyond that they stay strings. A literal with a fraction or exponent
/// becomes an `f64` only if it is finite and its decimal value survives the
/// trip (`1.50` does, `1e400` and `0.1000000000000000000001` do not).
pub fn number_value(text: &str) -> Option<Number> {
    let text = text.trim();
    if is_integer(text) {
        if let Ok(n) = text.parse::<i64>() {
            return Some(n.into());
        }
        return text.parse::<u64>().ok().map(Number::from);
    }
    if !is_number(text) {
        return None;
    }
    let value: f64 = text.parse().ok()?;
    if !value.is_finite() || !same_decimal(text, value) {
        return None;
    }
    Number::from_f64(value)
}

/// Whether `value` is exactly the decimal number `literal` spells (a
/// literal of [`is_number`] form), judged by the shortest digits that read
/// back as `value`: `0.1` matches 0.1, `1e-400` does not match 0.
pub fn same_decimal(literal: &str, value: f64) -> bool {
    let shortest = format!("{value:e}");
    match (Decimal::parse(literal), Decimal::parse(&shortest)) {
        (Some(written), Some(stored)) => written == stored,
        _ => false,
    }
}

/// A decimal number as `± digits × 10^exponent`, with no leading or
/// trailing zeros in `digits`; zero is `digits == ""` with no sign, so
/// `-0.0` and `0` are the same number.
#[derive(Debug, PartialEq, Eq)]
struct Decimal {
    negative: bool,
    digits: String,
    exponent: i64,
}

impl Decimal {
    fn parse(literal: &str) -> Option<Decimal> {
        let (negative, unsigned) = match literal.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, literal.strip_prefix('+').unwrap_or(literal)),
        };
        let (mantissa, exponent) = match unsigned.split_once(['e', 'E']) {
            Some((mantissa, exponent)) => (mantissa, exponent.parse::<i64>().ok()?),
            None => (unsigned, 0),
        };
        let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
        let all = format!("{whole}{fraction}");
        let significant = all.trim_start_matches('0');
        let digits = significant.trim_end_matches('0');
        let trailing = i64::try_from(significant.len() - digits.len()).ok()?;
        let fraction_len = i64::try_from(fraction.len()).ok()?;
        let exponent = exponent.checked_sub(fraction_len)?.checked_add(trailing)?;
        if digits.is_empty() {
            return Some(Decimal {
                negative: false,
                digits: String::new(),
                exponent: 0,
            });
        }
        Some(Decimal {
            negative,
            digits: digits.to_owned(),
            exponent,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Only true/false, any case, trimmed, are boolean-like.
    #[test]
    fn boolean_like_words() {
        for (text, want) in [
            ("true", Some(true)),
            ("TRUE", Some(true)),
            (" True\t", Some(true)),
            ("\u{a0}false\u{a0}", Some(false)),
            ("FaLsE", Some(false)),
            ("", None),
            ("yes", None),
            ("1", None),
            ("0", None),
            ("truee", None),
            ("t rue", None),
        ] {
            assert_eq!(boolean_like(text), want, "{text:?}");
        }
    }

    /// Integer and number literal shapes.
    #[test]
    fn literal_shapes() {
        for text in ["0", "64", "+64", "-0", "007"] {
            assert!(is_integer(text) && is_number(text), "{text:?}");
        }
        for text in ["1.5", "-1.50", "1e400", "1E+5", "+0.0e-3"] {
            assert!(!is_integer(text) && is_number(text), "{text:?}");
        }
        for text in [
            "", "+", "-", "64bit", " 64", ".5", "5.", "1e", "inf", "NaN", "0x40", "1_0",
        ] {
            assert!(!is_integer(text) && !is_number(text), "{text:?}");
        }
    }

    /// Integers stay integers, in range; decimals only when they survive.
    #[test]
    fn number_values() {
        assert_eq!(number_value(" 64 "), Some(64.into()));
        assert_eq!(number_value("+064"), Some(64.into()));
        assert_eq!(number_value("-0"), Some(0.into()));
        assert_eq!(number_value("-9223372036854775808"), Some(i64::MIN.into()));
        assert_eq!(number_value("18446744073709551615"), Some(u64::MAX.into()));
        assert_eq!(number_value("18446744073709551616"), None);
        assert_eq!(number_value("-9223372036854775809"), None);
        assert_eq!(number_value("1.50"), Number::from_f64(1.5));
        assert_eq!(number_value("1e3"), Number::from_f64(1000.0));
        assert_eq!(number_value("1e400"), None);
        assert_eq!(number_value("1e-400"), None);
        assert_eq!(number_value("0.1000000000000000000001"), None);
        assert_eq!(number_value("64bit"), None);
        assert_eq!(number_value(""), None);
    }

    /// `same_decimal` compares decimal values, not spellings.
    #[test]
    fn same_decimal_compares_values() {
        assert!(same_decimal("0.1", 0.1));
        assert!(same_decimal("100.00", 100.0));
        assert!(same_decimal("1E2", 100.0));
        assert!(same_decimal("-0.0", 0.0));
        assert!(same_decimal("100000000000000000000", 1e20));
        assert!(!same_decimal("0.3", 0.1 + 0.2));
        assert!(!same_decimal("1e-400", 0.0));
        assert!(!same_decimal(
            "123456789012345678901234567890",
            1.2345678901234568e29
        ));
        assert!(!same_decimal("1e99999999999999999999", 1.0));
    }
}
