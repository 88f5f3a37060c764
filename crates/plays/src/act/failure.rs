//! Why an operation on a container failed, typed until it is printed: the
//! engine's error, a failed check, a container that would not stay up, a
//! pull the registry refused — and what the plan's follow-ups added (it was
//! stopped, its last log lines). Each says itself in one sentence (log
//! lines after a newline), the text the command line prints.

use maestro_engine::EngineError;

/// Why one container's part of a play failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Failure {
    /// The engine refused the call or could not be reached.
    #[error("{0}")]
    Engine(#[from] EngineError),
    /// A lifecycle check of that stage failed (or could not run).
    #[error("{stage} check failed: {failure}")]
    Check {
        stage: &'static str,
        failure: crate::act::checks::CheckFailure,
    },
    /// It exited right after its start.
    #[error("{name} exited with status {status} right after starting")]
    ExitedAtStart { name: String, status: i64 },
    /// It was gone right after its start.
    #[error("{name} disappeared right after starting")]
    GoneAtStart { name: String },
    /// It keeps exiting and its restart policy restarts it (`during`: while
    /// its running checks ran).
    #[error("{name} {why}{}", if *.during_checks { " during its running checks" } else { "" })]
    CrashLoop {
        name: String,
        why: String,
        during_checks: bool,
    },
    /// It stopped while its running checks ran.
    #[error("{name} died during its running checks (exit status {status})")]
    DiedDuringChecks { name: String, status: i64 },
    /// It was removed while its running checks ran.
    #[error("{name} was removed during its running checks")]
    RemovedDuringChecks { name: String },
    /// `rollback`: the kept container vanished between the two renames.
    #[error("{kept} disappeared before it could be put back; {name} is left as it was")]
    KeptGone { kept: String, name: String },
    /// The container kept before could not be removed to make room.
    #[error("cannot remove the container kept before, {kept}: {error}")]
    KeptNotRemoved { kept: String, error: EngineError },
    /// The container's ship is not in the environment.
    #[error("ship {0} is not in the environment")]
    NoShip(String),
    /// A create without a request in the plan (a plan not made by reconcile).
    #[error("{0}: the plan has no creation request for it")]
    NoRequest(String),
    /// A secret the container receives was not read for the play.
    #[error("{name}: its secret {secret} was not read; nothing was created")]
    SecretUnread { name: String, secret: String },
    /// Its secret files could not be written into it (it was removed).
    #[error("{name}: cannot write its secret files ({error}); the container was removed")]
    SecretsNotWritten { name: String, error: EngineError },
    /// A deploy hook's command exited non-zero; its last output lines.
    #[error("the {phase} hook {command} exited with status {status}; its last output lines:{}", indented(.lines))]
    HookFailed {
        phase: &'static str,
        /// The command, as a shell would read it.
        command: String,
        status: i64,
        lines: Vec<String>,
    },
    /// No free name for a hook's one-off container.
    #[error("cannot find a free name for a one-off of {0} (each one tried is taken)")]
    NoFreeName(String),
    /// A deploy hook's one-off container could not run to its end.
    #[error("the {phase} hook {command} did not run: {error}")]
    HookNotRun {
        phase: &'static str,
        command: String,
        error: Box<crate::act::oneoff::OneOffError>,
    },
    /// The new container did not pass the proxy's health check in time.
    #[error("{name} did not pass the proxy's health check (GET {path}) within {seconds}s")]
    ProxyUnhealthy {
        name: String,
        path: String,
        seconds: f64,
    },
    /// The ship's proxy could not be made or written to.
    #[error("the proxy on ship {ship}: {error}")]
    Proxy {
        ship: String,
        error: Box<maestro_proxy::ProxyError>,
    },
    /// A TLS route's certificate or key could not be read.
    #[error("the proxy route of {service}: cannot read {path}: {reason}; check `services/{service}/proxy/ssl`")]
    ProxyCertificate {
        service: String,
        path: String,
        reason: String,
    },
    /// After `failure`, the new container was removed and the previous
    /// one, still serving, took its name back.
    #[error("{failure} (the previous container was put back; it served throughout)")]
    PutBack { failure: Box<Failure> },
    /// After `failure`, the previous container could not be put back.
    #[error("{failure} (the previous container could not be put back: {})", .error.detail())]
    NotPutBack {
        failure: Box<Failure>,
        error: EngineError,
    },
    /// A login or pull failed.
    #[error("{0}")]
    Pull(#[from] crate::act::registry::PullFailure),
    /// After `failure`, the container was stopped (`so_that`: why).
    #[error("{failure} (stopped, so that {so_that})")]
    Stopped {
        failure: Box<Failure>,
        so_that: &'static str,
    },
    /// After `failure`, the container could not be stopped.
    #[error("{failure} (could not stop it: {})", .error.detail())]
    NotStopped {
        failure: Box<Failure>,
        error: EngineError,
    },
    /// `failure`, and the container's last log lines.
    #[error("{failure}; its last log lines:{}", indented(.lines))]
    WithLogs {
        failure: Box<Failure>,
        lines: Vec<String>,
    },
}

impl Failure {
    /// Whether the container was left up (a follow-up may stop it): its
    /// running checks failed, or it keeps exiting and restarting.
    pub fn left_up(&self) -> bool {
        matches!(
            self,
            Failure::Check {
                stage: "running",
                ..
            } | Failure::CrashLoop { .. }
        )
    }

    /// Why a follow-up stops it, after the sentence.
    pub(crate) fn stopped_so_that(&self) -> &'static str {
        match self {
            Failure::CrashLoop { .. } => "it does not go on restarting",
            _ => "the next start checks it again",
        }
    }

    /// Whether its sentence is followed by the container's last log lines:
    /// it would not stay up, or it failed its running checks.
    pub(crate) fn shows_logs(&self) -> bool {
        match self {
            Failure::Stopped { failure, .. } | Failure::NotStopped { failure, .. } => {
                failure.shows_logs()
            }
            Failure::Check { stage, .. } => *stage == "running",
            Failure::ExitedAtStart { .. }
            | Failure::CrashLoop { .. }
            | Failure::DiedDuringChecks { .. }
            | Failure::RemovedDuringChecks { .. } => true,
            _ => false,
        }
    }

    /// Its first line (without the log lines).
    pub fn headline(&self) -> String {
        let text = self.to_string();
        text.lines().next().unwrap_or_default().to_owned()
    }

    /// Whether the container could not be reached because its ship is down.
    pub fn is_host_down(&self) -> bool {
        matches!(self, Failure::Engine(e) if e.is_host_down())
    }
}

/// `\n    | LINE` for each line.
fn indented(lines: &[String]) -> String {
    lines.iter().map(|l| format!("\n    | {l}")).collect()
}
