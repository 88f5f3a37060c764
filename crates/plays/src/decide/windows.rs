//! How long lifecycle checks may take, pure: the pace of their attempts,
//! the least an `exec` check is given, and a list's whole window — what
//! the plan reads to tell whether a container that runs was up long enough
//! to have passed its `running` checks, and what the checks run by.

use std::time::Duration;

use maestro_config::Check;

/// The pause between the starts of two attempts.
pub const PACE: Duration = Duration::from_secs(1);

/// The least time an `exec` or `rexec` check is given, whatever its
/// `attempts`: a one-attempt check of a script that takes a few seconds
/// must not be cut short (180 attempts, the default, give 180 s).
pub const EXEC_WINDOW_FLOOR: Duration = Duration::from_secs(10);

/// The longest a list of checks may take, run one after the other: a
/// container started less than this long ago may still be in them.
pub fn window(list: &[Check]) -> Duration {
    list.iter()
        .map(|check| match check {
            Check::Tcp { max_wait, .. }
            | Check::Http { max_wait, .. }
            | Check::Healthy { max_wait } => exec_window(*max_wait),
            Check::Exec { attempts, .. } | Check::Rexec { attempts, .. } => exec_window(*attempts),
            Check::Sleep { wait } => seconds(*wait).unwrap_or(Duration::ZERO),
        })
        .fold(Duration::ZERO, Duration::saturating_add)
}

/// How long an `exec` or `rexec` check of `attempts` attempts may take.
pub fn exec_window(attempts: u32) -> Duration {
    (PACE * attempts.max(1)).max(EXEC_WINDOW_FLOOR)
}

/// A duration of `secs` seconds; `None` when negative or not a number, the
/// longest duration when too long.
pub fn seconds(secs: f64) -> Option<Duration> {
    if secs.is_nan() || secs < 0.0 {
        return None;
    }
    Some(Duration::try_from_secs_f64(secs).unwrap_or(Duration::MAX))
}
