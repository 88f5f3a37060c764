//! Docker's timestamps (`2026-11-24T16:14:55.123456789Z`) and the short
//! durations shown to people (`3m`, `1h`).

use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds since the epoch of an RFC 3339 timestamp in UTC (`Z` or `+00:00`);
/// `None` for Docker's zero time or anything unreadable.
pub fn parse_docker_time(text: &str) -> Option<f64> {
    let (date, rest) = text.split_once('T')?;
    let mut d = date.split('-');
    let year: i64 = d.next()?.parse().ok()?;
    let month: u32 = d.next()?.parse().ok()?;
    let day: u32 = d.next()?.parse().ok()?;
    if year < 1970 {
        return None;
    }
    let (clock, offset) = split_offset(rest)?;
    let mut t = clock.split(':');
    let hour: i64 = t.next()?.parse().ok()?;
    let minute: i64 = t.next()?.parse().ok()?;
    let second: f64 = t.next()?.parse().ok()?;
    let days = days_from_civil(year, month, day);
    Some(days as f64 * 86_400.0 + (hour * 3600 + minute * 60) as f64 + second - offset as f64)
}

fn split_offset(rest: &str) -> Option<(&str, i64)> {
    if let Some(clock) = rest.strip_suffix('Z') {
        return Some((clock, 0));
    }
    let at = rest.rfind(['+', '-'])?;
    let (clock, off) = rest.split_at(at);
    let sign = if off.starts_with('-') { -1 } else { 1 };
    let (h, m) = off[1..].split_once(':')?;
    let secs = h.parse::<i64>().ok()? * 3600 + m.parse::<i64>().ok()? * 60;
    Some((clock, sign * secs))
}

/// Days since 1970-01-01 of a civil date (proleptic Gregorian).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Now, in seconds since the epoch.
pub fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// `45s`, `3m`, `5h`, `2d`.
pub fn short_duration(seconds: f64) -> String {
    let s = seconds.max(0.0) as u64;
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m", s / 60),
        3600..=86_399 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86_400),
    }
}

/// How long ago a Docker timestamp was, shortly; `None` when unknown.
pub fn since(text: &str) -> Option<String> {
    parse_docker_time(text).map(|t| short_duration(now() - t))
}

/// A `--since` value that is none of the accepted forms; `Display` says
/// what is accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`--since {text}` is neither a duration (90s, 10m, 1h30m, 2d), a time (2026-12-03T17:00:00Z) nor seconds since the epoch")]
pub struct BadSince {
    /// The value as given (trimmed).
    pub text: String,
}

/// The start of `logs --since TEXT`, in seconds since the epoch: a duration
/// back from `now` (`90s`, `10m`, `1h30m`, `2d`), an RFC 3339 time
/// (`2026-12-03T17:00:00Z`) or seconds since the epoch (`1764781200`).
/// The error says what is accepted.
pub fn parse_since(text: &str, now: f64) -> Result<i64, BadSince> {
    let text = text.trim();
    let bad = || BadSince {
        text: text.to_owned(),
    };
    if let Ok(seconds) = text.parse::<i64>() {
        return if seconds >= 0 {
            Ok(seconds)
        } else {
            Err(bad())
        };
    }
    if let Some(at) = parse_docker_time(text) {
        return Ok(at.floor() as i64);
    }
    let mut total: u64 = 0;
    let mut number = String::new();
    for ch in text.chars() {
        if ch.is_ascii_digit() {
            number.push(ch);
            continue;
        }
        let unit: u64 = match ch {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            _ => return Err(bad()),
        };
        let n: u64 = number.parse().map_err(|_| bad())?;
        total = n
            .checked_mul(unit)
            .and_then(|t| total.checked_add(t))
            .ok_or_else(bad)?;
        number.clear();
    }
    if !number.is_empty() || text.is_empty() {
        return Err(bad());
    }
    Ok((now - total as f64).max(0.0).floor() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_reads_durations_times_and_epoch_seconds() {
        let now = 1_000_000.0;
        assert_eq!(parse_since("90s", now), Ok(999_910));
        assert_eq!(parse_since("1h30m", now), Ok(1_000_000 - 5400));
        assert_eq!(parse_since("2d", now), Ok(1_000_000 - 172_800));
        assert_eq!(parse_since("1970-01-01T00:01:00Z", now), Ok(60));
        assert_eq!(parse_since("1234", now), Ok(1234));
        for bad in ["", "10x", "m", "1h30", "-5", "yesterday"] {
            assert!(parse_since(bad, now).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn docker_times_parse() {
        assert_eq!(parse_docker_time("1970-01-01T00:00:00Z"), Some(0.0));
        assert_eq!(
            parse_docker_time("2000-03-01T00:00:01.5Z"),
            Some(951_868_801.5)
        );
        assert_eq!(
            parse_docker_time("2000-03-01T01:00:01+01:00"),
            Some(951_868_801.0)
        );
        assert_eq!(parse_docker_time("0001-01-01T00:00:00Z"), None);
        assert_eq!(parse_docker_time("junk"), None);
    }

    #[test]
    fn durations_read_shortly() {
        assert_eq!(short_duration(5.2), "5s");
        assert_eq!(short_duration(180.0), "3m");
        assert_eq!(short_duration(7200.0), "2h");
        assert_eq!(short_duration(3.0 * 86_400.0), "3d");
    }
}
