//! Glance timestamps (`2018-09-06T15:17:33Z`) without a date crate.

use std::time::{SystemTime, UNIX_EPOCH};

/// The current UTC time as Glance writes `created_at` / `updated_at`.
pub fn now_timestamp() -> String {
    // A clock before 1970 is a broken host; 1970 is as good an answer as any.
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    format_timestamp(secs)
}

/// The current UTC time with milliseconds, as IMS writes a job's
/// `begin_time` (`2024-11-06T06:19:43.195Z`).
pub fn now_timestamp_millis() -> String {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let seconds = format_timestamp(since.as_secs());
    let whole = seconds.trim_end_matches('Z');
    format!("{whole}.{:03}Z", since.subsec_millis())
}

/// Formats seconds since the Unix epoch as `YYYY-MM-DDTHH:MM:SSZ`.
pub fn format_timestamp(unix_secs: u64) -> String {
    let days = unix_secs / 86_400;
    let rem = unix_secs % 86_400;
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to (year, month, day), Howard Hinnant's algorithm
/// restricted to dates after the epoch.
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Known instants format as Glance would print them.
    #[test]
    fn formats_known_instants() {
        assert_eq!(format_timestamp(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_timestamp(1_536_247_053), "2018-09-06T15:17:33Z");
        assert_eq!(format_timestamp(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(format_timestamp(4_102_444_799), "2099-12-31T23:59:59Z");
    }

    /// Millisecond timestamps have IMS's shape.
    #[test]
    fn millis_shape() {
        let now = now_timestamp_millis();
        assert_eq!(now.len(), "2024-11-06T06:19:43.195Z".len());
        assert!(now.ends_with('Z') && now.as_bytes()[19] == b'.');
    }
}
