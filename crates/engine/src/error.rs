//! Errors of one engine connection, each a readable sentence naming the ship,
//! what was being done and, where there is one, the fix.

use std::error::Error as StdError;
use std::fmt;

/// What went wrong while talking to a ship's engine.
#[derive(Debug, Clone, PartialEq)]
pub enum EngineError {
    /// The ship's settings cannot be used (unreadable certificate, bad key…).
    Config { ship: String, message: String },
    /// The ship's SSH server presented a host key that is not trusted
    /// (unknown, changed, revoked): nothing was sent to it.
    HostKey { ship: String, message: String },
    /// The engine could not be reached at all.
    Unreachable {
        ship: String,
        address: String,
        reason: String,
    },
    /// The engine did not answer within the ship's timeout.
    Timeout {
        ship: String,
        action: String,
        seconds: f64,
    },
    /// The engine answered with an error.
    Refused {
        ship: String,
        action: String,
        status: u16,
        message: String,
    },
    /// The engine does not accept the API version asked for.
    Version {
        ship: String,
        requested: String,
        message: String,
    },
    /// The SSH tunnel to the ship could not be opened.
    Ssh {
        ship: String,
        address: String,
        reason: String,
    },
    /// The engine answered, but its streamed answer broke off midway.
    Cut {
        ship: String,
        action: String,
        reason: String,
    },
    /// The engine's reply made no sense (bad JSON).
    Protocol {
        ship: String,
        action: String,
        reason: String,
    },
    /// The engine's answer (or one message of a streamed answer) was larger
    /// than maestro reads: it was refused before it could fill the memory.
    TooLarge {
        ship: String,
        action: String,
        mib: u64,
        streamed: bool,
    },
    /// A name that cannot be put into a request's path as one segment
    /// (empty, or only dots): nothing was sent.
    BadName {
        ship: String,
        action: String,
        name: String,
    },
}

impl EngineError {
    /// True when the ship itself is out of reach (as opposed to an engine
    /// that answered with an error): `status` shows such ships as `host down`.
    pub fn is_host_down(&self) -> bool {
        matches!(
            self,
            EngineError::Unreachable { .. } | EngineError::Timeout { .. } | EngineError::Ssh { .. }
        )
    }

    /// The HTTP status of an engine refusal.
    pub fn status(&self) -> Option<u16> {
        match self {
            EngineError::Refused { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The ship this error is about.
    pub fn ship(&self) -> &str {
        match self {
            EngineError::Config { ship, .. }
            | EngineError::HostKey { ship, .. }
            | EngineError::Unreachable { ship, .. }
            | EngineError::Timeout { ship, .. }
            | EngineError::Refused { ship, .. }
            | EngineError::Version { ship, .. }
            | EngineError::Ssh { ship, .. }
            | EngineError::Cut { ship, .. }
            | EngineError::Protocol { ship, .. }
            | EngineError::TooLarge { ship, .. }
            | EngineError::BadName { ship, .. } => ship,
        }
    }

    /// The error without the leading `ship X: `, for lines already naming the ship.
    pub fn detail(&self) -> String {
        let full = self.to_string();
        let prefix = format!("ship {}: ", self.ship());
        full.strip_prefix(&prefix)
            .map(str::to_owned)
            .unwrap_or(full)
    }
}

impl fmt::Display for EngineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EngineError::Config { ship, message } | EngineError::HostKey { ship, message } => {
                write!(f, "ship {ship}: {message}")
            }
            EngineError::Unreachable {
                ship,
                address,
                reason,
            } => write!(
                f,
                "ship {ship}: cannot reach the Docker engine at {address}: {reason}"
            ),
            EngineError::Timeout {
                ship,
                action,
                seconds,
            } => write!(
                f,
                "ship {ship}: the Docker engine did not answer within {} while trying to {action}; check the host or raise the ship's `timeout`",
                seconds_text(*seconds)
            ),
            EngineError::Refused {
                ship,
                action,
                status,
                message,
            } => match message.trim() {
                "" => write!(f, "ship {ship}: could not {action}: the engine answered HTTP {status}"),
                message => write!(f, "ship {ship}: could not {action}: {message}"),
            },
            EngineError::Version {
                ship,
                requested,
                message,
            } => write!(
                f,
                "ship {ship}: the engine refuses API version {requested} ({}); remove `api_version` from the ship (maestro negotiates) or set a version the engine supports",
                message.trim()
            ),
            EngineError::Ssh {
                ship,
                address,
                reason,
            } => write!(f, "ship {ship}: cannot reach the engine over SSH at {address}: {reason}"),
            EngineError::Cut {
                ship,
                action,
                reason,
            } => write!(
                f,
                "ship {ship}: the engine's answer broke off midway while trying to {action} ({reason}); try again"
            ),
            EngineError::Protocol {
                ship,
                action,
                reason,
            } => write!(
                f,
                "ship {ship}: could not {action}: unexpected reply from the engine: {reason}"
            ),
            EngineError::TooLarge {
                ship,
                action,
                mib,
                streamed,
            } => write!(
                f,
                "ship {ship}: {} to `{action}` is larger than {mib} MiB, more than a Docker engine sends; check that the ship's address leads to a Docker engine",
                if *streamed { "one message of the engine's answer" } else { "the engine's answer" }
            ),
            EngineError::BadName { ship, action, name } => write!(
                f,
                "ship {ship}: cannot {action}: `{name}` is not a name the engine can be asked about (it would change the request's path); nothing was sent"
            ),
        }
    }
}

impl StdError for EngineError {}

/// `5 s`, `2.5 s`.
pub(crate) fn seconds_text(seconds: f64) -> String {
    if seconds.fract() == 0.0 {
        format!("{} s", seconds as i64)
    } else {
        format!("{seconds} s")
    }
}

/// The innermost cause of an error chain, which is the readable part of
/// hyper's and std's errors ("Connection refused (os error 111)").
pub(crate) fn root_cause(error: &(dyn StdError + 'static)) -> String {
    let mut current = error;
    let mut text = current.to_string();
    while let Some(source) = current.source() {
        current = source;
        let next = current.to_string();
        if !next.is_empty() {
            text = next;
        }
    }
    tidy_os_error(&text)
}

/// `Connection refused (os error 111)` → `connection refused`.
fn tidy_os_error(text: &str) -> String {
    let base = match text.rfind(" (os error ") {
        Some(i) if text.ends_with(')') => &text[..i],
        _ => text,
    };
    let mut chars = base.chars();
    match chars.next() {
        Some(first) if chars.clone().next().is_some_and(|c| c.is_lowercase()) => {
            first.to_lowercase().chain(chars).collect()
        }
        _ => base.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn os_errors_read_as_plain_words() {
        assert_eq!(
            tidy_os_error("Connection refused (os error 111)"),
            "connection refused"
        );
        assert_eq!(tidy_os_error("No such file"), "no such file");
        assert_eq!(tidy_os_error("TLS error"), "TLS error");
    }

    #[test]
    fn messages_name_ship_and_fix() {
        let e = EngineError::Timeout {
            ship: "vm1".into(),
            action: "inspect container web-1".into(),
            seconds: 5.0,
        };
        assert_eq!(e.to_string(), "ship vm1: the Docker engine did not answer within 5 s while trying to inspect container web-1; check the host or raise the ship's `timeout`");
        assert!(e.is_host_down());
        assert!(e.detail().starts_with("the Docker engine"));
    }
}
