//! Time as a Docker engine writes it: RFC 3339 with nanoseconds (Go's
//! `time.RFC3339Nano`, trailing zeros dropped), the zero time of a container
//! never started or never stopped, Unix seconds for container lists, and Go's
//! `units.HumanDuration` for the `Status` column of a list (`Up 5 minutes`).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// What an engine writes for a time that never happened (`StartedAt` of a
/// container never started).
pub const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// `2026-11-24T17:00:40.288711347Z`: UTC, nanoseconds with trailing zeros
/// dropped (none at all on a whole second), as Go's `RFC3339Nano` formats.
pub fn rfc3339_nanos(at: SystemTime) -> String {
    let since = at.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO);
    let secs = since.as_secs();
    let nanos = since.subsec_nanos();
    let days = (secs / 86_400) as i64;
    let rest = secs % 86_400;
    let (year, month, day) = civil_from_days(days);
    let mut text = format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    );
    if nanos > 0 {
        let fraction = format!("{nanos:09}");
        text.push('.');
        text.push_str(fraction.trim_end_matches('0'));
    }
    text.push('Z');
    text
}

/// `rfc3339_nanos` of a time that may never have happened.
pub fn rfc3339_or_zero(at: Option<SystemTime>) -> String {
    at.map_or_else(|| ZERO_TIME.to_owned(), rfc3339_nanos)
}

/// Seconds since the Unix epoch (a container list's `Created`).
pub fn unix_seconds(at: SystemTime) -> i64 {
    at.duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// Year, month, day of a day count since 1970-01-01 (Howard Hinnant's
/// `civil_from_days`).
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

/// Go's `units.HumanDuration`: `Less than a second`, `About a minute`,
/// `5 minutes`, `About an hour`, `3 hours`, `2 days`, `3 weeks`, …
pub fn human_duration(d: Duration) -> String {
    let seconds = d.as_secs();
    if seconds < 1 {
        return "Less than a second".into();
    }
    if seconds == 1 {
        return "1 second".into();
    }
    if seconds < 60 {
        return format!("{seconds} seconds");
    }
    let minutes = seconds / 60;
    if minutes == 1 {
        return "About a minute".into();
    }
    if minutes < 60 {
        return format!("{minutes} minutes");
    }
    let hours = (d.as_secs_f64() / 3600.0).round() as u64;
    if hours == 1 {
        return "About an hour".into();
    }
    if hours < 48 {
        return format!("{hours} hours");
    }
    if hours < 24 * 7 * 2 {
        return format!("{} days", hours / 24);
    }
    if hours < 24 * 30 * 2 {
        return format!("{} weeks", hours / 24 / 7);
    }
    if hours < 24 * 365 * 2 {
        return format!("{} months", hours / 24 / 30);
    }
    format!("{} years", hours / 24 / 365)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64, nanos: u32) -> SystemTime {
        UNIX_EPOCH + Duration::new(secs, nanos)
    }

    #[test]
    fn formats_like_go_rfc3339_nano() {
        assert_eq!(rfc3339_nanos(at(0, 0)), "1970-01-01T00:00:00Z");
        assert_eq!(
            rfc3339_nanos(at(1_795_539_640, 288_711_347)),
            "2026-11-24T17:00:40.288711347Z"
        );
        assert_eq!(
            rfc3339_nanos(at(1_795_539_640, 353_168_000)),
            "2026-11-24T17:00:40.353168Z"
        );
        // A leap day and the end of a year.
        assert_eq!(rfc3339_nanos(at(951_782_400, 0)), "2000-02-29T00:00:00Z");
        assert_eq!(
            rfc3339_nanos(at(1_704_067_199, 500_000_000)),
            "2023-12-31T23:59:59.5Z"
        );
        assert_eq!(rfc3339_or_zero(None), ZERO_TIME);
        assert_eq!(unix_seconds(at(1_795_539_639, 985_771_763)), 1_795_539_639);
    }

    #[test]
    fn durations_read_like_docker_ps() {
        let s = Duration::from_secs;
        assert_eq!(
            human_duration(Duration::from_millis(300)),
            "Less than a second"
        );
        assert_eq!(human_duration(s(1)), "1 second");
        assert_eq!(human_duration(s(59)), "59 seconds");
        assert_eq!(human_duration(s(61)), "About a minute");
        assert_eq!(human_duration(s(5 * 60)), "5 minutes");
        assert_eq!(human_duration(s(3600)), "About an hour");
        assert_eq!(human_duration(s(5 * 3600)), "5 hours");
        assert_eq!(human_duration(s(3 * 86_400)), "3 days");
        assert_eq!(human_duration(s(20 * 86_400)), "2 weeks");
        assert_eq!(human_duration(s(90 * 86_400)), "3 months");
        assert_eq!(human_duration(s(800 * 86_400)), "2 years");
    }
}
