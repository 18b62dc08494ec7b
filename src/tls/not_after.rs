//! When a certificate expires: the `notAfter` of its validity, read from
//! the DER. webpki parses the validity but keeps it to itself; the field
//! sits at a fixed place in every X.509 certificate (RFC 5280 §4.1), so
//! this walks to it instead of bringing a whole X.509 parser (and its
//! parser-combinator stack) into the build for one timestamp.

/// `notAfter`, in seconds since the Unix epoch; `None` if the bytes are
/// not a certificate this can read.
pub fn not_after(der: &[u8]) -> Option<i64> {
    let (certificate, _) = element(der, SEQUENCE)?;
    let (tbs, _) = element(certificate, SEQUENCE)?;
    let mut rest = tbs;
    // version [0] EXPLICIT, absent in v1 certificates.
    if rest.first() == Some(&VERSION) {
        rest = element(rest, VERSION)?.1;
    }
    rest = element(rest, INTEGER)?.1; // serialNumber
    rest = element(rest, SEQUENCE)?.1; // signature
    rest = element(rest, SEQUENCE)?.1; // issuer
    let (validity, _) = element(rest, SEQUENCE)?;
    let (_, after_not_before) = time(validity)?;
    Some(time(after_not_before)?.0)
}

const SEQUENCE: u8 = 0x30;
const INTEGER: u8 = 0x02;
const VERSION: u8 = 0xa0;
const UTC_TIME: u8 = 0x17;
const GENERALIZED_TIME: u8 = 0x18;

/// The contents of the element at the front of `der`, which must carry
/// `tag`, and what follows it.
fn element(der: &[u8], tag: u8) -> Option<(&[u8], &[u8])> {
    let (&found, rest) = der.split_first()?;
    if found != tag {
        return None;
    }
    let (&first, mut rest) = rest.split_first()?;
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        let octets = usize::from(first & 0x7f);
        if octets == 0 || octets > 4 || rest.len() < octets {
            return None;
        }
        let (len, after) = rest.split_at(octets);
        rest = after;
        len.iter().fold(0usize, |n, b| (n << 8) | usize::from(*b))
    };
    (rest.len() >= len).then(|| rest.split_at(len))
}

/// A `Time` (UTCTime or GeneralizedTime, in DER always UTC to the
/// second) at the front of `der`, as seconds since the epoch.
fn time(der: &[u8]) -> Option<(i64, &[u8])> {
    let tag = *der.first()?;
    let year_digits = match tag {
        UTC_TIME => 2,
        GENERALIZED_TIME => 4,
        _ => return None,
    };
    let (text, rest) = element(der, tag)?;
    let text = std::str::from_utf8(text).ok()?.strip_suffix('Z')?;
    if text.len() != year_digits + 10 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let number = |at: usize, len: usize| text[at..at + len].parse::<i64>().ok();
    let mut year = number(0, year_digits)?;
    if year_digits == 2 {
        // RFC 5280: 50–99 are 19xx, 00–49 are 20xx.
        year += if year >= 50 { 1900 } else { 2000 };
    }
    let at = year_digits;
    let (month, day) = (number(at, 2)?, number(at + 2, 2)?);
    let (hour, minute, second) = (number(at + 4, 2)?, number(at + 6, 2)?, number(at + 8, 2)?);
    let days = days_from_civil(year, month, day)?;
    Some((days * 86_400 + hour * 3600 + minute * 60 + second, rest))
}

/// Days from 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> Option<i64> {
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_from_march = (month + 9) % 12;
    let day_of_year = (153 * month_from_march + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    Some(era * 146_097 + day_of_era - 719_468)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Known dates land on their epoch seconds.
    #[test]
    fn civil_dates() {
        assert_eq!(days_from_civil(1970, 1, 1), Some(0));
        assert_eq!(days_from_civil(2000, 3, 1), Some(11_017));
        assert_eq!(days_from_civil(2038, 1, 19), Some(24_855));
        assert_eq!(days_from_civil(2026, 13, 1), None);
    }

    /// Both time forms: UTCTime's two-digit years either side of 2000,
    /// GeneralizedTime past 2049.
    #[test]
    fn both_time_forms() {
        let utc = |s: &str| [&[UTC_TIME, s.len() as u8], s.as_bytes()].concat();
        let general = |s: &str| [&[GENERALIZED_TIME, s.len() as u8], s.as_bytes()].concat();
        assert_eq!(time(&utc("700101000000Z")).map(|t| t.0), Some(0));
        assert_eq!(
            time(&utc("380119031407Z")).map(|t| t.0),
            Some(2_147_483_647)
        );
        assert_eq!(
            time(&general("20500101000000Z")).map(|t| t.0),
            Some(2_524_608_000)
        );
        assert_eq!(time(&utc("3801190314Z")), None);
    }

    /// A certificate rcgen made: its `notAfter`, UTCTime and
    /// GeneralizedTime alike (rcgen's default is the year 4096).
    #[test]
    fn of_certificates() {
        let key = rcgen::KeyPair::generate().expect("key");
        let mut params =
            rcgen::CertificateParams::new(vec!["localhost".to_owned()]).expect("params");
        params.not_after = rcgen::date_time_ymd(2031, 5, 6);
        let cert = params.self_signed(&key).expect("cert");
        let expected = days_from_civil(2031, 5, 6).expect("date") * 86_400;
        assert_eq!(not_after(cert.der()), Some(expected));
        let far = rcgen::CertificateParams::new(Vec::<String>::new())
            .expect("params")
            .self_signed(&key)
            .expect("cert");
        let year_4096 = days_from_civil(4096, 1, 1).expect("date") * 86_400;
        assert_eq!(not_after(far.der()), Some(year_4096));
    }

    /// Garbage is not a certificate.
    #[test]
    fn garbage() {
        assert_eq!(not_after(b""), None);
        assert_eq!(not_after(&[0x30, 0x82, 0xff]), None);
        assert_eq!(not_after(&[0x30, 0x03, 0x30, 0x01, 0x02]), None);
    }
}
