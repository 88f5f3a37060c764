//! A container's logs from a point on (its last lines, or those since a
//! time), each line carrying the engine's own timestamp, read whole or
//! followed: what merging the logs of several containers needs.

use futures_util::Stream;

use crate::calls::log_options;
use crate::{Engine, EngineError, LogLine};

/// Which of a container's log lines to read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LogsFrom {
    /// Only the last this many lines (all with `None`).
    pub tail: Option<u64>,
    /// Only the lines since this time (seconds since the epoch).
    pub since: Option<i64>,
}

/// A log line and the time the engine took it down.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StampedLine {
    /// Nanoseconds since the epoch (0 when the engine gave no readable time).
    pub nanos: i128,
    pub line: LogLine,
}

impl Engine {
    /// The lines of `name` that `from` asks for, timestamped; those read
    /// before a failure, then the failure (if any).
    pub async fn logs_stamped(
        &self,
        name: &str,
        from: LogsFrom,
    ) -> (Vec<StampedLine>, Option<EngineError>) {
        let (lines, error) = self.logs_until_cut_with(name, options(false, from)).await;
        (lines.into_iter().map(stamped).collect(), error)
    }

    /// `name`'s lines from `from` on, as they come (follow mode), timestamped.
    pub fn follow_stamped(
        &self,
        name: &str,
        from: LogsFrom,
    ) -> impl Stream<Item = Result<StampedLine, EngineError>> + Send + 'static {
        use futures_util::StreamExt;
        self.follow_logs_with(name, options(true, from))
            .map(|item| item.map(stamped))
    }
}

fn options(follow: bool, from: LogsFrom) -> bollard::query_parameters::LogsOptions {
    let mut options = log_options(follow, from.tail);
    options.timestamps = true;
    if let Some(since) = from.since {
        options.since = i32::try_from(since.max(0)).unwrap_or(i32::MAX);
    }
    options
}

/// Splits the engine's `2026-12-03T17:00:00.123456789Z ` off a line.
fn stamped(mut line: LogLine) -> StampedLine {
    let Some((stamp, rest)) = line.text.split_once(' ') else {
        return match parse_rfc3339(&line.text) {
            // A timestamped empty line.
            Some(nanos) => StampedLine {
                nanos,
                line: LogLine {
                    stderr: line.stderr,
                    text: String::new(),
                },
            },
            None => StampedLine { nanos: 0, line },
        };
    };
    match parse_rfc3339(stamp) {
        Some(nanos) => {
            line.text = rest.to_owned();
            StampedLine { nanos, line }
        }
        None => StampedLine { nanos: 0, line },
    }
}

/// `2026-12-03T17:00:00.123456789Z` (or with a `±HH:MM` offset) in
/// nanoseconds since the epoch.
pub fn parse_rfc3339(text: &str) -> Option<i128> {
    let b = text.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> { text.get(r)?.parse().ok() };
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, s) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let mut rest = text.get(19..)?;
    let mut nanos: i128 = 0;
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        let mut value: i128 = 0;
        for (i, c) in frac.bytes().take(digits).enumerate() {
            if i < 9 {
                value = value * 10 + i128::from(c - b'0');
            }
        }
        for _ in digits.min(9)..9 {
            value *= 10;
        }
        nanos = value;
        rest = frac.get(digits..)?;
    }
    let offset: i64 = match rest {
        "Z" => 0,
        _ if rest.len() == 6 && (rest.starts_with('+') || rest.starts_with('-')) => {
            let oh: i64 = rest.get(1..3)?.parse().ok()?;
            let om: i64 = rest.get(4..6)?.parse().ok()?;
            let sign = if rest.starts_with('-') { -1 } else { 1 };
            sign * (oh * 3600 + om * 60)
        }
        _ => return None,
    };
    let yy = if mo <= 2 { y - 1 } else { y };
    let era = if yy >= 0 { yy } else { yy - 399 } / 400;
    let yoe = yy - era * 400;
    let doy = (153 * ((mo + 9) % 12) + 2) / 5 + d - 1;
    let days = era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719_468;
    let secs = days * 86_400 + h * 3600 + mi * 60 + s - offset;
    Some(i128::from(secs) * 1_000_000_000 + nanos)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_split_off_and_read() {
        let line = stamped(LogLine {
            stderr: true,
            text: "1970-01-01T00:00:01.5Z hello world".into(),
        });
        assert_eq!(line.nanos, 1_500_000_000);
        assert_eq!(line.line.text, "hello world");
        assert!(line.line.stderr);
        assert_eq!(
            parse_rfc3339("2026-12-03T17:00:00.000000001Z"),
            Some(1_796_317_200_000_000_001)
        );
        assert_eq!(parse_rfc3339("1970-01-01T01:00:00+01:00"), Some(0));
        let plain = stamped(LogLine {
            stderr: false,
            text: "no stamp here".into(),
        });
        assert_eq!(
            (plain.nanos, plain.line.text.as_str()),
            (0, "no stamp here")
        );
    }
}
