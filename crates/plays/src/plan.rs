//! A plan: for each container of a play, the single engine operations to run
//! on it in order, each with its cause, in at most two parts (a restart's
//! stop, then its start), and the containers each part waits for. Made by
//! [`crate::reconcile`] from a snapshot, run by [`crate::execute`], printed
//! by `plan`: the same value in all three.

use std::time::Duration;

use crate::play::{Finished, PlayKind};

/// What `up` does to one container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// No container of that name: create and start it.
    Create,
    /// It differs from the file: replace it. The reasons, for people.
    Recreate(Vec<String>),
    /// Same configuration, but not running: start it.
    Start,
    /// Nothing to do.
    None,
}

impl Action {
    /// `create`, `recreate (env X changed; image updated)`, `start`, `none`.
    pub fn describe(&self) -> String {
        match self {
            Action::Create => "create".into(),
            Action::Recreate(reasons) => format!("recreate ({})", reasons.join("; ")),
            Action::Start => "start".into(),
            Action::None => "none".into(),
        }
    }

    /// The one-word name (`create`, `recreate`, `start`, `none`).
    pub fn name(&self) -> &'static str {
        match self {
            Action::Create => "create",
            Action::Recreate(_) => "recreate",
            Action::Start => "start",
            Action::None => "none",
        }
    }

    pub fn changes_something(&self) -> bool {
        !matches!(self, Action::None)
    }
}

/// Which of a container's lifecycle checks an operation runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    PreStart,
    Running,
    PreStop,
    Stopped,
}

impl Stage {
    pub fn name(self) -> &'static str {
        match self {
            Stage::PreStart => "pre-start",
            Stage::Running => "running",
            Stage::PreStop => "pre-stop",
            Stage::Stopped => "stopped",
        }
    }
}

/// One operation on one container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Pull the container's image on its ship (once per ship and image in a play).
    Pull,
    /// Run the container's checks of that stage.
    Checks(Stage),
    /// Remove the (stopped) container; with its anonymous volumes for `clean`.
    Remove { volumes: bool },
    /// Replace it: its (stopped) old container kept as `NAME.previous` for
    /// a rollback, the one kept before removed — or, with
    /// `only_if_image_changed` and the old one running the image the ship
    /// has now (a restart onto the same image), removed like [`Step::Remove`].
    Retire { only_if_image_changed: bool },
    /// `rollback`: the container and its kept previous one trade names.
    Swap,
    /// Remove its kept previous container (`clean --previous`).
    RemovePrevious,
    /// Create it from the file.
    Create,
    /// Start it.
    Start,
    /// Confirm it is up: not exited, not crash-looping, after a short settle
    /// when it has no `running` checks to watch it.
    Confirm,
    /// Stop it (SIGTERM, then its grace period).
    Stop,
    /// Kill it (SIGKILL).
    Kill,
    /// Wait between its stop and its start (`--stop-start-delay`).
    Pause(Duration),
    /// After a pull: go on only if the image the ship now has for the
    /// container's image name differs from the one the container runs (or
    /// it does not exist); otherwise skip the next `else_skip` operations,
    /// or, with `else_done`, end there with that outcome.
    IfImageChanged {
        else_skip: usize,
        else_done: Option<Finished>,
    },
    /// Create the network (its key in the file) on the container's ship,
    /// before the container (once per ship and network in a play).
    CreateNetwork(String),
    /// Create the named volume (its key in the file) likewise.
    CreateVolume(String),
}

impl Step {
    /// `pull`, `pre-start checks`, `remove`, `create`… for people and `--json`.
    pub fn name(&self) -> String {
        match self {
            Step::Pull => "pull".into(),
            Step::Checks(stage) => format!("{} checks", stage.name()),
            Step::Remove { .. } => "remove".into(),
            Step::Retire { .. } => "keep as previous".into(),
            Step::Swap => "swap with previous".into(),
            Step::RemovePrevious => "remove previous".into(),
            Step::Create => "create".into(),
            Step::Start => "start".into(),
            Step::Confirm => "confirm".into(),
            Step::Stop => "stop".into(),
            Step::Kill => "kill".into(),
            Step::Pause(_) => "pause".into(),
            Step::IfImageChanged { .. } => "if image changed".into(),
            Step::CreateNetwork(name) => format!("create network {name}"),
            Step::CreateVolume(name) => format!("create volume {name}"),
        }
    }

    /// Whether it changes anything on the engine.
    pub fn changes(&self) -> bool {
        matches!(
            self,
            Step::Pull
                | Step::Remove { .. }
                | Step::Retire { .. }
                | Step::Swap
                | Step::RemovePrevious
                | Step::Create
                | Step::Start
                | Step::Stop
                | Step::Kill
                | Step::CreateNetwork(_)
                | Step::CreateVolume(_)
        )
    }
}

/// An operation and why it is there (`missing`, `env FOO changed`, `stopped`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Op {
    pub step: Step,
    pub cause: String,
}

impl Op {
    pub fn new(step: Step, cause: impl Into<String>) -> Op {
        Op {
            step,
            cause: cause.into(),
        }
    }
}

/// What the play does to one container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Work {
    pub ops: Vec<Op>,
    /// `ops[..split]` is the first part (a restart's stop), `ops[split..]`
    /// the second; most plays have only the second.
    pub split: usize,
    /// How it ends when every operation succeeded.
    pub done: Finished,
    /// The state it is left in when the play is aborted between the parts.
    pub left_between: &'static str,
}

impl Work {
    /// Nothing to do: it ends as `done` (once the containers it waits for have).
    pub fn nothing(done: Finished) -> Work {
        Work {
            ops: Vec::new(),
            split: 0,
            done,
            left_between: "untouched",
        }
    }
}

/// One container's entry in a plan.
#[derive(Debug, Clone, PartialEq)]
pub enum Entry {
    Work(Work),
    /// It could not be decided (its ship could not be observed): the
    /// container fails when its turn comes, with this error.
    Unknown(maestro_engine::EngineError),
}

impl Entry {
    pub fn ops(&self) -> &[Op] {
        match self {
            Entry::Work(w) => &w.ops,
            Entry::Unknown(_) => &[],
        }
    }
}

/// The plan of a play, one entry per container in selection order.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub kind: PlayKind,
    pub entries: Vec<Entry>,
    /// For each container, those whose first part must be done before its
    /// first part begins (a restart's dependents, stopped first).
    pub first_waits: Vec<Vec<usize>>,
    /// For each container, those that must be done with before its second
    /// part begins (dependencies for start-like plays, dependents for
    /// stop-like ones; for `up`, also every container of the service before).
    pub second_waits: Vec<Vec<usize>>,
    /// For each container, those that must be done with before its first
    /// operation of any part: the batch before its own, in a rollout.
    pub batch_waits: Vec<Vec<usize>>,
    /// In a rollout, the number (from 1) of each container's batch.
    pub batches: Vec<Option<usize>>,
    /// `up`: what was decided for each container, from the snapshot.
    pub actions: Vec<Option<Action>>,
}

impl Plan {
    /// Whether it changes anything on any engine.
    pub fn changes_something(&self) -> bool {
        self.entries
            .iter()
            .any(|e| e.ops().iter().any(|op| op.step.changes()))
    }
}
