//! Timestamps as `tracing`'s own lines write them, made without a date
//! library.

use std::fmt::Write as _;
use std::time::SystemTime;

/// Appends [`rfc3339`] of `at`; the date and time up to the second are
/// formatted once per second (the writer is one thread).
pub(super) fn write_rfc3339(out: &mut String, at: SystemTime) {
    thread_local! {
        static SECOND: std::cell::RefCell<(u64, String)> =
            const { std::cell::RefCell::new((u64::MAX, String::new())) };
    }
    let since = at
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    SECOND.with(|cell| {
        let mut cached = cell.borrow_mut();
        if cached.0 != since.as_secs() {
            let whole = rfc3339(at);
            let seconds = whole.len() - ".000000Z".len();
            *cached = (since.as_secs(), whole[..seconds].to_owned());
        }
        out.push_str(&cached.1);
    });
    let _ = write!(out, ".{:06}Z", since.subsec_micros());
}

/// `2026-12-07T21:36:23.032203Z`, as `tracing`'s own lines stamp time.
pub(super) fn rfc3339(at: SystemTime) -> String {
    let since = at
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    let secs = since.as_secs();
    let (days, rest) = (secs / 86_400, secs % 86_400);
    let (year, month, day) = civil_from_days(days as i64);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:06}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60,
        since.subsec_micros()
    )
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (Howard
/// Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// Dates as tracing writes them, across leap years and centuries.
    #[test]
    fn timestamps() {
        assert_eq!(
            rfc3339(SystemTime::UNIX_EPOCH),
            "1970-01-01T00:00:00.000000Z"
        );
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(civil_from_days(20_794), (2026, 12, 7));
        let at = SystemTime::UNIX_EPOCH + Duration::from_micros(1_796_678_183_032_203);
        assert_eq!(rfc3339(at), "2026-12-07T21:16:23.032203Z");
    }
}
