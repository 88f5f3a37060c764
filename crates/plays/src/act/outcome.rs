//! How each container's part of a play ends (done, failed with its typed
//! failure, aborted and why), and the observer a play reports to as it goes.

use std::time::Duration;

use crate::act::failure::Failure;
use crate::decide::play::Finished;

/// Why a container was never (fully) acted on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AbortReason {
    /// Another container failed.
    Failure,
    /// The user interrupted the play.
    Interrupted,
}

/// How one container's part of the play ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Done: what was done and the state it was left in.
    Done(Finished),
    /// It failed, and why (its text may have log lines after a newline).
    Failed(Failure),
    /// Not begun (or not finished) because the play was aborted; the text is
    /// the state it was left in.
    Aborted { reason: AbortReason, left: String },
}

impl Outcome {
    pub fn is_ok(&self) -> bool {
        matches!(self, Outcome::Done(_))
    }
}

/// What a play reports as it goes; implemented by the command line.
pub trait Observer: Send + Sync {
    /// The container's turn has come.
    fn begin(&self, index: usize);
    /// What the container is doing now (`pulling image 40%`, `running checks`).
    fn progress(&self, index: usize, text: &str);
    /// The container is done with.
    fn finish(&self, index: usize, outcome: &Outcome, elapsed: Duration);
    /// A deploy hook ran as an operation of the container: `failure` is
    /// why it failed (`None`: it exited 0).
    fn hook(&self, index: usize, hook: &crate::decide::plan::HookRun, failure: Option<&str>) {
        let _ = (index, hook, failure);
    }
}
