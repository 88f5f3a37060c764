//! What a play is (start, stop, kill, restart, clean, pull, up), its
//! options, and how each container's part of it ended; the observer it
//! reports to. [`crate::session::run`] runs a play; [`crate::act::execute`] reports it.

use std::time::Duration;

/// The plays with an engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlayKind {
    Start,
    Stop,
    Kill,
    Restart,
    Clean,
    Pull,
    /// Converge on the file: create, recreate, start or leave each container.
    Up,
    /// Put the kept previous containers back (restarting their dependents).
    Rollback,
}

impl PlayKind {
    /// The command name.
    pub fn name(self) -> &'static str {
        match self {
            PlayKind::Start => "start",
            PlayKind::Stop => "stop",
            PlayKind::Kill => "kill",
            PlayKind::Restart => "restart",
            PlayKind::Clean => "clean",
            PlayKind::Pull => "pull",
            PlayKind::Up => "up",
            PlayKind::Rollback => "rollback",
        }
    }

    /// Whether dependencies come first (start-like) or dependents (stop-like).
    pub fn direction(self) -> crate::Direction {
        match self {
            PlayKind::Stop | PlayKind::Kill | PlayKind::Restart | PlayKind::Rollback => {
                crate::Direction::Reverse
            }
            PlayKind::Start | PlayKind::Clean | PlayKind::Pull | PlayKind::Up => {
                crate::Direction::Forward
            }
        }
    }

    /// Whether it may create containers (and so the networks and volumes
    /// they need).
    pub fn creates(self) -> bool {
        matches!(self, PlayKind::Start | PlayKind::Restart | PlayKind::Up)
    }

    /// Whether one container's failure aborts the containers not yet begun
    /// (a stop failure does not).
    pub(crate) fn aborts_on_failure(self) -> bool {
        !matches!(self, PlayKind::Stop | PlayKind::Kill)
    }
}

/// Options of a play, from the command line, and the secrets read for it.
#[derive(Debug, Clone, Default)]
pub struct PlayOptions {
    /// At most this many containers acted on at once (`None`: unbounded).
    pub concurrency: Option<usize>,
    /// Do not wait for dependencies.
    pub ignore_dependencies: bool,
    /// Pull images even when present (`-r`).
    pub refresh_images: bool,
    /// Keep an existing stopped container instead of recreating it.
    pub reuse: bool,
    /// Pause between containers (after the first).
    pub step_delay: Duration,
    /// Pause between the stop and the start of one container (restart).
    pub stop_start_delay: Duration,
    /// Restart only containers whose image changed.
    pub only_if_changed: bool,
    /// `restart` and `up`: batches one after the other (`--batch`,
    /// `--per-ship`).
    pub rollout: crate::decide::rollout::Rollout,
    /// `up`, `restart`: keep a replaced container as `NAME.previous` for a
    /// rollback (instead of removing it).
    pub keep_previous: bool,
    /// `clean`: also remove the kept previous containers.
    pub clean_previous: bool,
    /// Run no lifecycle checks: a revert puts back containers that ran
    /// before, whose checks the file may have changed since.
    pub unchecked: bool,
    /// The values of the secrets the containers receive, read before the
    /// play (plays that create or compare containers need them).
    pub secrets: std::sync::Arc<crate::observe::secrets::SecretValues>,
}

/// What was done to a container and the state it was left in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finished {
    /// What this play did: `started`, `stopped`, `killed`, `removed`,
    /// `restarted`, `pulled`, `skipped`, `none`…
    pub action: &'static str,
    /// The state it was left in: `running`, `stopped`, `absent`, `unchanged`.
    pub state: &'static str,
    /// The same for people (`up for 3m`, `skipped (running)`).
    pub text: String,
}

impl Finished {
    pub fn new(action: &'static str, state: &'static str, text: impl Into<String>) -> Finished {
        Finished {
            action,
            state,
            text: text.into(),
        }
    }
}
