//! The deploy lock of an environment, kept on the engines themselves so that
//! it holds across operators' machines: a container named
//! `maestro-lock-<environment>` on the environment's first ship (in file
//! order), never started, created from an empty image the engine makes
//! itself (`localhost/maestro-lock:latest`, nothing pulled). Creating a container by name
//! is atomic on the engine (a second creation gets 409 Conflict), so taking
//! the lock is one call; its labels say who holds it (user@host, the
//! process id for a play's run), since when, for which command and why.
//! Releasing it removes that container (by id, so never a newer holder's).
//! When the lock's ship cannot be reached the lock cannot be taken: plays
//! that change state refuse to begin.

use std::fmt;

use maestro_config::Environment;
use maestro_engine::models::ContainerCreateBody;
use maestro_engine::{Engine, EngineError};

use crate::observe::fleet::Fleet;

/// The image the lock container is created from.
// Fully qualified: Podman would look a bare name up under docker.io/library/.
const IMAGE_REPO: &str = "localhost/maestro-lock";
// `latest`: Podman's import takes no tag (it always gives `latest`).
const IMAGE_TAG: &str = "latest";

/// The labels of the lock container.
use crate::labels::{
    LOCK_COMMAND as LABEL_COMMAND, LOCK_ENVIRONMENT as LABEL_ENV, LOCK_HOLDER as LABEL_WHO,
    LOCK_HOST as LABEL_HOST, LOCK_MESSAGE as LABEL_MESSAGE, LOCK_PID as LABEL_PID,
    LOCK_SINCE as LABEL_SINCE,
};

/// Who holds (or wants) the lock.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    /// `user@host`.
    pub who: String,
    /// The machine it was taken on.
    pub host: String,
    /// The process of a play's run; `None` for a lock held until released
    /// (`maestro lock acquire`).
    pub pid: Option<u32>,
    /// Seconds since the epoch.
    pub since: i64,
    /// The command it was taken for (`start web`).
    pub command: String,
    pub message: String,
}

impl Holder {
    /// This process on this machine, for `command`; `pid`: whether the lock
    /// ends with this process (a play) or is held until released.
    pub fn me(command: &str, message: &str, pid: bool) -> Holder {
        let host = host_name();
        Holder {
            who: format!("{}@{host}", crate::session::audit::local_user()),
            host,
            pid: pid.then(std::process::id),
            since: crate::timefmt::now().floor() as i64,
            command: command.to_owned(),
            message: message.to_owned(),
        }
    }

    /// Whether the run that took it is known to be gone (same machine, its
    /// process no longer exists).
    pub fn is_dead(&self) -> bool {
        match self.pid {
            Some(pid) if self.host == host_name() => !process_exists(pid),
            _ => false,
        }
    }

    /// `alice@laptop since 2026-12-03 17:40:12 UTC (3m ago) for `start web`: MESSAGE`.
    pub fn describe(&self) -> String {
        let ago = crate::timefmt::short_duration(crate::timefmt::now() - self.since as f64);
        let mut text = format!(
            "{} since {} ({ago} ago) for `{}`",
            self.who,
            utc(self.since),
            self.command
        );
        if !self.message.is_empty() {
            text.push_str(&format!(": {}", self.message));
        }
        text
    }

    fn labels(&self, env: &str) -> std::collections::HashMap<String, String> {
        [
            (LABEL_ENV, env.to_owned()),
            (LABEL_WHO, self.who.clone()),
            (LABEL_HOST, self.host.clone()),
            (
                LABEL_PID,
                self.pid.map(|p| p.to_string()).unwrap_or_default(),
            ),
            (LABEL_SINCE, self.since.to_string()),
            (LABEL_COMMAND, self.command.clone()),
            (LABEL_MESSAGE, self.message.clone()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    }

    fn from_labels(labels: &std::collections::HashMap<String, String>) -> Holder {
        let get = |key: &str| labels.get(key).cloned().unwrap_or_default();
        Holder {
            who: get(LABEL_WHO),
            host: get(LABEL_HOST),
            pid: get(LABEL_PID).parse().ok(),
            since: get(LABEL_SINCE).parse().unwrap_or(0),
            command: get(LABEL_COMMAND),
            message: get(LABEL_MESSAGE),
        }
    }
}

/// Why the lock could not be taken, read or released.
#[derive(Debug, Clone, PartialEq)]
pub enum LockError {
    /// Someone else holds it.
    Held {
        env: String,
        ship: String,
        holder: Holder,
    },
    /// `release` without `--force` of a lock held by someone else.
    NotYours { env: String, holder: Holder },
    /// The lock's ship could not be asked.
    Engine { env: String, error: EngineError },
}

impl fmt::Display for LockError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LockError::Held { env, holder, .. } => {
                let dead = if holder.is_dead() {
                    " (that run is no longer running: `maestro lock release --force` clears it)"
                } else {
                    "; wait for it to be released, or if that run died, `maestro lock release --force`"
                };
                write!(
                    f,
                    "the deploy lock of environment {env} is held by {}{dead}",
                    holder.describe()
                )
            }
            LockError::NotYours { env, holder } => write!(
                f,
                "the deploy lock of environment {env} is held by {}, not by you; `maestro lock release --force` releases it anyway",
                holder.describe()
            ),
            LockError::Engine { env, error } => write!(
                f,
                "cannot reach the deploy lock of environment {env}: {error} (the lock lives on the first ship of the file; MAESTRO_NO_LOCK=1 goes on without it)"
            ),
        }
    }
}

impl std::error::Error for LockError {}

/// Where the lock of `env` lives: its first ship and the container's name.
/// `None` for an environment without ships (nothing to lock).
pub fn place(env: &Environment) -> Option<(&str, String)> {
    let ship = env.ships.keys().next()?;
    Some((ship.as_str(), container_name(&env.name)))
}

/// `maestro-lock-NAME` when NAME can be part of a container name as it is;
/// otherwise the characters it cannot hold become `-` and 8 hex digits of
/// the name's SHA-256 follow, so that names differing only in those
/// characters (`nc lock`, `nc-lock`) never share a lock.
fn container_name(env: &str) -> String {
    let fits = |c: char| c.is_ascii_alphanumeric() || "_.-".contains(c);
    if !env.is_empty() && env.chars().all(fits) {
        return format!("maestro-lock-{env}");
    }
    use sha2::{Digest, Sha256};
    let safe: String = env.chars().map(|c| if fits(c) { c } else { '-' }).collect();
    let digest = Sha256::digest(env.as_bytes());
    let hex: String = digest.iter().take(4).map(|b| format!("{b:02x}")).collect();
    format!("maestro-lock-{safe}-{hex}")
}

async fn engine_of(
    fleet: &Fleet,
    env: &Environment,
    ship: &str,
) -> Result<std::sync::Arc<Engine>, LockError> {
    fleet.engine(ship).await.map_err(|error| LockError::Engine {
        env: env.name.clone(),
        error,
    })
}

/// Takes the lock of `env` for `holder`, at once or not at all.
pub async fn acquire(fleet: &Fleet, env: &Environment, holder: &Holder) -> Result<(), LockError> {
    let Some((ship, name)) = place(env) else {
        return Ok(());
    };
    let engine = engine_of(fleet, env, ship).await?;
    let failed = |error| LockError::Engine {
        env: env.name.clone(),
        error,
    };
    let body = || ContainerCreateBody {
        image: Some(format!("{IMAGE_REPO}:{IMAGE_TAG}")),
        cmd: Some(vec!["maestro-lock".into()]),
        labels: Some(holder.labels(&env.name)),
        ..Default::default()
    };
    let created = match engine.create_container(&name, body()).await {
        Err(EngineError::Refused { status: 404, .. }) => {
            // The engine lacks the empty image: it makes it, once.
            engine
                .import_empty_image(IMAGE_REPO, IMAGE_TAG)
                .await
                .map_err(failed)?;
            engine.create_container(&name, body()).await
        }
        other => other,
    };
    match created {
        Ok(_) => Ok(()),
        Err(EngineError::Refused { status: 409, .. }) => match current(fleet, env).await? {
            // Left by a run of this user on this machine that is gone (a
            // second Ctrl-C, a kill): nobody else can be deploying with it.
            Some((id, holder)) if holder.is_dead() && holder.who == me_who() => {
                crate::trace::debug(format!(
                    "taking over the deploy lock of {} left by {}",
                    env.name,
                    holder.describe()
                ));
                engine
                    .remove_container(&id, false, true)
                    .await
                    .map_err(failed)?;
                match engine.create_container(&name, body()).await {
                    Ok(_) => Ok(()),
                    Err(EngineError::Refused { status: 409, .. }) => {
                        Err(held_now(fleet, env, ship).await)
                    }
                    Err(error) => Err(failed(error)),
                }
            }
            Some((_, holder)) => Err(LockError::Held {
                env: env.name.clone(),
                ship: ship.to_owned(),
                holder,
            }),
            // Released between the two calls, or still being created by
            // another run (the engine reserves the name before the container
            // can be inspected): try again a few times.
            None => {
                for _ in 0..20 {
                    match engine.create_container(&name, body()).await {
                        Ok(_) => return Ok(()),
                        Err(EngineError::Refused { status: 409, .. }) => {}
                        Err(error) => return Err(failed(error)),
                    }
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    if let Some((_, holder)) = current(fleet, env).await? {
                        return Err(LockError::Held {
                            env: env.name.clone(),
                            ship: ship.to_owned(),
                            holder,
                        });
                    }
                }
                Err(held_now(fleet, env, ship).await)
            }
        },
        Err(error) => Err(failed(error)),
    }
}

/// This user on this machine, as holders are named.
fn me_who() -> String {
    format!("{}@{}", crate::session::audit::local_user(), host_name())
}

/// The refusal naming whoever holds the lock now.
async fn held_now(fleet: &Fleet, env: &Environment, ship: &str) -> LockError {
    match current(fleet, env).await {
        Ok(Some((_, holder))) => LockError::Held {
            env: env.name.clone(),
            ship: ship.to_owned(),
            holder,
        },
        Ok(None) => LockError::Engine {
            env: env.name.clone(),
            error: EngineError::Refused {
                ship: ship.to_owned(),
                action: "take the deploy lock".into(),
                status: 409,
                message: "the lock was taken and released meanwhile; try again".into(),
            },
        },
        Err(e) => e,
    }
}

/// The lock's container id and holder, when it is held.
pub async fn current(
    fleet: &Fleet,
    env: &Environment,
) -> Result<Option<(String, Holder)>, LockError> {
    let Some((ship, name)) = place(env) else {
        return Ok(None);
    };
    let engine = engine_of(fleet, env, ship).await?;
    let found = engine
        .inspect_container(&name)
        .await
        .map_err(|error| LockError::Engine {
            env: env.name.clone(),
            error,
        })?;
    Ok(found.map(|c| {
        let labels = c.config.and_then(|k| k.labels).unwrap_or_default();
        (c.id.unwrap_or(name), Holder::from_labels(&labels))
    }))
}

/// Releases the lock of `env`: when `me` is given, only if it is theirs
/// (the same user@host, and the same run: the same process for a play's,
/// none for one held until released); without,
/// whoever holds it (`--force`). The holder it had, `None` when it was free.
pub async fn release(
    fleet: &Fleet,
    env: &Environment,
    me: Option<&Holder>,
) -> Result<Option<Holder>, LockError> {
    let Some((ship, _)) = place(env) else {
        return Ok(None);
    };
    let Some((id, holder)) = current(fleet, env).await? else {
        return Ok(None);
    };
    if let Some(me) = me {
        let mine = holder.who == me.who && holder.pid == me.pid;
        if !mine {
            return Err(LockError::NotYours {
                env: env.name.clone(),
                holder,
            });
        }
    }
    let engine = engine_of(fleet, env, ship).await?;
    engine
        .remove_container(&id, false, true)
        .await
        .map_err(|error| LockError::Engine {
            env: env.name.clone(),
            error,
        })?;
    Ok(Some(holder))
}

/// This machine's name.
fn host_name() -> String {
    #[cfg(unix)]
    {
        let mut buffer = [0u8; 256];
        // SAFETY: gethostname writes at most `len` bytes into the buffer.
        let rc = unsafe { libc::gethostname(buffer.as_mut_ptr().cast(), buffer.len()) };
        if rc == 0 {
            let end = buffer.iter().position(|b| *b == 0).unwrap_or(buffer.len());
            let name = String::from_utf8_lossy(&buffer[..end]).into_owned();
            if !name.is_empty() {
                return name;
            }
        }
    }
    std::env::var("HOSTNAME").unwrap_or_else(|_| "unknown".into())
}

/// Whether a process of this id exists on this machine.
fn process_exists(pid: u32) -> bool {
    #[cfg(unix)]
    {
        let Ok(pid) = libc::pid_t::try_from(pid) else {
            return false;
        };
        // SAFETY: signal 0 only checks that the process exists.
        let rc = unsafe { libc::kill(pid, 0) };
        rc == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
    }
    #[cfg(not(unix))]
    {
        let _ = pid;
        true
    }
}

/// `2026-12-03 17:40:12 UTC`.
fn utc(seconds: i64) -> String {
    let days = seconds.div_euclid(86_400);
    let rest = seconds.rem_euclid(86_400);
    // H. Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_differ_only_in_characters_a_container_name_cannot_hold_get_their_own_lock() {
        assert_eq!(container_name("nc-lock"), "maestro-lock-nc-lock");
        assert_eq!(container_name("shop_2.b"), "maestro-lock-shop_2.b");
        let spaced = container_name("nc lock");
        assert!(spaced.starts_with("maestro-lock-nc-lock-"), "{spaced}");
        assert_eq!(spaced.len(), "maestro-lock-nc-lock-".len() + 8);
        assert_ne!(spaced, container_name("nc/lock"));
        assert_ne!(spaced, container_name("nc-lock"));
        assert_eq!(spaced, container_name("nc lock"), "stable");
    }

    #[test]
    fn times_are_shown_in_utc() {
        assert_eq!(utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc(1_796_317_212), "2026-12-03 17:00:12 UTC");
        assert_eq!(utc(951_782_400), "2000-02-29 00:00:00 UTC");
    }

    #[test]
    fn holders_survive_their_labels() {
        let me = Holder::me("start web", "deploying 1.2", true);
        assert_eq!(Holder::from_labels(&me.labels("shop")), me);
        assert!(!me.is_dead(), "this process runs");
        let gone = Holder {
            pid: Some(u32::MAX - 1),
            ..me.clone()
        };
        assert!(gone.is_dead());
        let manual = Holder { pid: None, ..me };
        assert!(!manual.is_dead());
        assert!(manual.describe().contains("for `start web`: deploying 1.2"));
    }
}
