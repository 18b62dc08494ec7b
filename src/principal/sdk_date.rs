//! `X-Sdk-Date` (`%Y%m%dT%H%M%SZ`, UTC) to and from seconds since the
//! Unix epoch, by the civil-calendar arithmetic of Howard Hinnant's
//! `days_from_civil` (proleptic Gregorian, no leap seconds — as Python's
//! `datetime`).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Parses `20261201T055307Z`; `None` for anything else.
pub fn parse(text: &str) -> Option<SystemTime> {
    let bytes = text.as_bytes();
    if bytes.len() != 16 || bytes[8] != b'T' || bytes[15] != b'Z' {
        return None;
    }
    let number = |range: std::ops::Range<usize>| -> Option<i64> {
        let digits = &text[range];
        digits
            .bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| digits.parse().ok())?
    };
    let (year, month, day) = (number(0..4)?, number(4..6)?, number(6..8)?);
    let (hour, minute, second) = (number(9..11)?, number(11..13)?, number(13..15)?);
    let valid = (1..=12).contains(&month)
        && (1..=days_in_month(year, month)).contains(&day)
        && hour < 24
        && minute < 60
        && second < 60;
    if !valid {
        return None;
    }
    from_civil(year, month, day, hour * 3_600 + minute * 60 + second)
}

/// Parses the whole seconds of an ISO 8601 UTC time as Keystone writes
/// `expires_at`: `2026-12-01T07:00:00.000000Z` (fraction optional).
pub fn parse_iso8601(text: &str) -> Option<SystemTime> {
    let (seconds, rest) = text.split_at_checked(19)?;
    let fraction_ok = rest == "Z"
        || rest
            .strip_prefix('.')
            .and_then(|r| r.strip_suffix('Z'))
            .is_some_and(|digits| digits.bytes().all(|b| b.is_ascii_digit()));
    if !fraction_ok {
        return None;
    }
    // `YYYY-MM-DDTHH:MM:SS` → `YYYYMMDDTHHMMSSZ`.
    let compact: String = seconds
        .chars()
        .filter(|c| !matches!(c, '-' | ':'))
        .collect();
    parse(&format!("{compact}Z"))
}

/// The instant of a civil date plus seconds into that day.
fn from_civil(year: i64, month: i64, day: i64, second_of_day: i64) -> Option<SystemTime> {
    let seconds = days_from_civil(year, month, day) * 86_400 + second_of_day;
    let seconds = u64::try_from(seconds).ok()?;
    UNIX_EPOCH.checked_add(Duration::from_secs(seconds))
}

/// Formats a time as `X-Sdk-Date` (whole seconds, UTC).
pub fn format(time: SystemTime) -> String {
    let seconds = time
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let (days, rest) = (seconds.div_euclid(86_400), seconds.rem_euclid(86_400));
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}{month:02}{day:02}T{:02}{:02}{:02}Z",
        rest / 3_600,
        rest % 3_600 / 60,
        rest % 60
    )
}

/// How far apart two times are, whichever is later.
pub fn distance(a: SystemTime, b: SystemTime) -> Duration {
    a.duration_since(b)
        .or_else(|_| b.duration_since(a))
        .unwrap_or_default()
}

fn is_leap(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a civil date.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_from_march = (month + 9) % 12;
    let day_of_year = (153 * month_from_march + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The civil date of a day count since 1970-01-01.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let days = days + 719_468;
    let era = days.div_euclid(146_097);
    let day_of_era = days - era * 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1_460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Known instants both ways, and a round trip over every day of a
    /// few centuries' worth of samples.
    #[test]
    fn known_dates() {
        let at = |s: u64| UNIX_EPOCH + Duration::from_secs(s);
        assert_eq!(parse("19700101T000000Z"), Some(at(0)));
        assert_eq!(parse("20261201T055307Z"), Some(at(1_796_104_387)));
        assert_eq!(parse("20240229T235959Z"), Some(at(1_709_251_199)));
        assert_eq!(format(at(1_796_104_387)), "20261201T055307Z");
        for day in (0..200_000).step_by(97) {
            let time = at(day * 86_400 + 12_345);
            assert_eq!(parse(&format(time)), Some(time), "day {day}");
        }
    }

    /// Keystone's `expires_at`, with and without a fraction.
    #[test]
    fn iso8601() {
        let at = |s: u64| UNIX_EPOCH + Duration::from_secs(s);
        assert_eq!(
            parse_iso8601("2026-12-01T05:53:07.000000Z"),
            Some(at(1_796_104_387))
        );
        assert_eq!(
            parse_iso8601("2026-12-01T05:53:07Z"),
            Some(at(1_796_104_387))
        );
        for bad in [
            "2026-12-01T05:53:07",
            "2026-12-01T05:53:07+01:00",
            "2026-12-01",
            "x",
        ] {
            assert_eq!(parse_iso8601(bad), None, "{bad}");
        }
    }

    /// Anything but the exact format is refused.
    #[test]
    fn bad_dates() {
        for bad in [
            "",
            "20261201T055307",
            "2026-12-01T05:53:07Z",
            "20261301T055307Z",
            "20230229T000000Z",
            "20261201T245307Z",
            "20261201T056007Z",
            "20261201T055360Z",
            "+0261201T055307Z",
            "20261201t055307z",
        ] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }
}
