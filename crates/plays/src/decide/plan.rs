//! A plan: for each container of a play, the single engine operations to run
//! on it in order, each with its cause, in at most two parts (a restart's
//! stop, then its start), and the containers each part waits for. Made by
//! [`crate::decide::reconcile`] from a snapshot, run by [`crate::act::execute`], printed
//! by `plan`: the same value in all three.

use std::sync::Arc;
use std::time::Duration;

use maestro_config::{Container, Environment, ProxyRoute};
use maestro_engine::models::{
    ContainerCreateBody, EndpointSettings, NetworkCreateRequest, VolumeCreateRequest,
};

use crate::decide::play::{Finished, PlayKind};

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
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// Pull the container's image on its ship (once per ship and image in a play).
    Pull,
    /// Run the container's checks of that stage.
    Checks(Stage),
    /// Remove the (stopped) container; with its anonymous volumes for `clean`.
    Remove { volumes: bool },
    /// Replace it: its (stopped) old container kept as `NAME.previous` for
    /// a rollback, the one kept before removed.
    KeepAsPrevious,
    /// `rollback`: the container and its kept previous one trade names.
    Swap,
    /// Remove its kept previous container (`clean --previous`).
    RemovePrevious,
    /// Create it from the file: its entry's [`Work::request`].
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
    /// After a pull: whether the image the ship now has for the container's
    /// image name differs from the one the container was created from (its
    /// entry's [`Work::runs`]; none: it differs). If it does, `then` runs;
    /// if not, `otherwise` runs and, with `else_done`, the container ends
    /// there with that outcome. The operations after it run in both cases.
    IfImageChanged(Box<Branches>),
    /// Create a network on the container's ship, before the container
    /// (once per ship and network in a play).
    CreateNetwork(Arc<ObjectRequest<NetworkCreateRequest>>),
    /// Create a named volume likewise.
    CreateVolume(Arc<ObjectRequest<VolumeCreateRequest>>),
    /// Make the ship's proxy (its network and container) when it has none,
    /// start it when stopped (once per ship in a play).
    EnsureProxy(Arc<ProxyRequest>),
    /// Start-first: rename the running container `NAME.previous` (the one
    /// kept before removed), where it goes on serving.
    KeepServingAsPrevious,
    /// Wait until the proxy's health check of the new container passes.
    ProxyHealthy(Arc<ProxyRequest>),
    /// Write the proxy's routes: each proxied instance of the ship's
    /// container as it runs now.
    ProxyRoute(Arc<ProxyRequest>),
    /// Give the previous container's in-flight requests this long.
    Drain(Duration),
    /// Watch the new container this long after its checks passed
    /// (`deploy.update_config.monitor`): its death or a crash loop fails it.
    Monitor(Duration),
    /// Stop the previous container (kept for a rollback).
    StopPrevious,
    /// After a failure before the switch: remove the new container and
    /// give the previous one, still serving, its name back.
    PutPreviousBack,
    /// After a failure of a rollback before the switch: stop the kept
    /// container brought back, and trade the names back (the one that
    /// served keeps serving under its name).
    SwapBack,
    /// A deploy hook of the container's service: its command in a one-off
    /// container of the new configuration, on the container's ship, which
    /// must exit 0.
    Hook(Arc<HookRun>),
    /// After a failure (declared in an operation's `on_failure`): stop the
    /// container if it is still up, so that a container that never passed
    /// its checks is not left running, nor one that keeps exiting
    /// restarting.
    StopIfUp,
}

/// The two branches of [`Step::IfImageChanged`] (boxed: a plan holds
/// every container's operations, and most hold none).
#[derive(Debug, Clone, PartialEq)]
pub struct Branches {
    pub then: Vec<Op>,
    pub otherwise: Vec<Op>,
    pub else_done: Option<Finished>,
}

impl Step {
    /// [`Step::IfImageChanged`] with these branches.
    pub fn if_image_changed(
        then: Vec<Op>,
        otherwise: Vec<Op>,
        else_done: Option<Finished>,
    ) -> Step {
        Step::IfImageChanged(Box::new(Branches {
            then,
            otherwise,
            else_done,
        }))
    }
}

/// When a deploy hook runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HookPhase {
    /// Before the first of the service's containers is replaced.
    PreDeploy,
    /// After the last of them passed its checks.
    PostDeploy,
}

impl HookPhase {
    /// `pre_deploy`, `post_deploy`: the key in the file.
    pub fn name(self) -> &'static str {
        match self {
            HookPhase::PreDeploy => "pre_deploy",
            HookPhase::PostDeploy => "post_deploy",
        }
    }
}

/// One deploy hook to run: its command and the one-off container's request
/// (the service's new configuration; named when it runs).
#[derive(Debug, Clone, PartialEq)]
pub struct HookRun {
    pub service: String,
    pub phase: HookPhase,
    pub command: Vec<String>,
    pub request: CreateRequest,
}

/// What makes a ship's proxy: its network, its container, and the routes
/// it serves (every proxied service of the environment with an instance on
/// the ship).
#[derive(Debug, Clone, PartialEq)]
pub struct ProxyRequest {
    pub ship: String,
    /// The container's name (`ENV-proxy`).
    pub name: String,
    pub network: NetworkCreateRequest,
    pub body: ContainerCreateBody,
    /// The proxied instances on the ship, by service: what the proxy's
    /// routes are made of (each instance's container as it runs when the
    /// routes are written).
    pub services: Vec<ProxiedService>,
}

/// A proxied service on one ship: its route and its instances there.
#[derive(Debug, Clone, PartialEq)]
pub struct ProxiedService {
    pub service: String,
    pub route: ProxyRoute,
    pub instances: Vec<String>,
    /// Replaced start-first (the default behind the proxy), not
    /// `order: stop-first`.
    pub start_first: bool,
}

/// The request that creates a network or volume, with its key in the file.
#[derive(Debug, Clone, PartialEq)]
pub struct ObjectRequest<R> {
    pub key: String,
    /// Its name on the ship.
    pub name: String,
    pub request: R,
}

/// Everything that creates one container: the request (labels and spec
/// hash included; its `Env`, rendered from the container's variables when
/// it is sent, left out), its platform, and the networks it joins after the
/// first.
#[derive(Debug, Clone, PartialEq)]
pub struct CreateRequest {
    pub body: ContainerCreateBody,
    pub platform: Option<String>,
    /// Network name and endpoint, for each network after the first (the
    /// first is in the request).
    pub connect: Vec<(String, EndpointSettings)>,
    /// The secrets it receives, in file order.
    pub secrets: Vec<Delivery>,
}

/// A container's creation request as the executor sends it, serialized
/// once where the plan was made: a plan of thousands of creations holds
/// each as its JSON text (about a kilobyte here), not as the client
/// library's typed body (several), and renders the container's variables
/// into it only when the call goes.
#[derive(Debug, Clone, PartialEq)]
pub struct Creation {
    /// The request's JSON object without its `Env`.
    pub(crate) json: Box<str>,
    pub platform: Option<String>,
    /// Network name and endpoint, for each network after the first.
    pub connect: Vec<(String, EndpointSettings)>,
    /// The secrets it receives, in file order.
    pub secrets: Vec<Delivery>,
}

/// How a container receives one secret. The value travels only here,
/// from the play's resolved secrets to the engine; its `Debug` is `***`.
#[derive(Debug, Clone, PartialEq)]
pub struct Delivery {
    /// The secret's name.
    pub source: String,
    pub to: DeliverTo,
    /// Its value (`None`: it was not read, and the container is not made).
    pub value: Option<crate::observe::secrets::SecretValue>,
}

/// Where a secret goes in a container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliverTo {
    /// A file written into the container before it starts.
    File {
        target: String,
        uid: u32,
        gid: u32,
        mode: u32,
    },
    /// An environment variable.
    Env(String),
}

impl Step {
    /// `pull`, `pre-start checks`, `remove`, `create`… for people and `--json`.
    pub fn name(&self) -> String {
        match self {
            Step::Pull => "pull".into(),
            Step::Checks(stage) => format!("{} checks", stage.name()),
            Step::Remove { .. } => "remove".into(),
            Step::KeepAsPrevious => "keep as previous".into(),
            Step::Swap => "swap with previous".into(),
            Step::RemovePrevious => "remove previous".into(),
            Step::Create => "create".into(),
            Step::Start => "start".into(),
            Step::Confirm => "confirm".into(),
            Step::Stop => "stop".into(),
            Step::Kill => "kill".into(),
            Step::Pause(_) => "pause".into(),
            Step::IfImageChanged(_) => "if image changed".into(),
            Step::CreateNetwork(r) => format!("create network {}", r.key),
            Step::CreateVolume(r) => format!("create volume {}", r.key),
            Step::StopIfUp => "stop if still up".into(),
            Step::Hook(run) => format!("{} hook", run.phase.name()),
            Step::EnsureProxy(_) => "ensure proxy".into(),
            Step::KeepServingAsPrevious => "keep serving as previous".into(),
            Step::ProxyHealthy(_) => "proxy health check".into(),
            Step::ProxyRoute(_) => "route proxy".into(),
            Step::Drain(_) => "drain".into(),
            Step::Monitor(_) => "monitor".into(),
            Step::StopPrevious => "stop previous".into(),
            Step::PutPreviousBack => "put previous back".into(),
            Step::SwapBack => "swap back".into(),
        }
    }

    /// Whether it changes anything on the engine.
    pub fn changes(&self) -> bool {
        matches!(
            self,
            Step::Pull
                | Step::Remove { .. }
                | Step::KeepAsPrevious
                | Step::Swap
                | Step::RemovePrevious
                | Step::Create
                | Step::Start
                | Step::Stop
                | Step::Kill
                | Step::CreateNetwork(_)
                | Step::CreateVolume(_)
                | Step::StopIfUp
                | Step::Hook(_)
                | Step::EnsureProxy(_)
                | Step::KeepServingAsPrevious
                | Step::ProxyRoute(_)
                | Step::StopPrevious
                | Step::PutPreviousBack
                | Step::SwapBack
        ) || matches!(self, Step::IfImageChanged(b)
            if b.then.iter().chain(&b.otherwise).any(|op| op.step.changes()))
    }
}

/// An operation and why it is there (`missing`, `env FOO changed`, `stopped`).
#[derive(Debug, Clone, PartialEq)]
pub struct Op {
    pub step: Step,
    pub cause: String,
    /// What runs when it fails, before the failure is reported.
    pub on_failure: Vec<Op>,
}

impl Op {
    pub fn new(step: Step, cause: impl Into<String>) -> Op {
        Op {
            step,
            cause: cause.into(),
            on_failure: Vec::new(),
        }
    }

    /// The same, with `ops` run when it fails.
    pub fn on_failure(mut self, ops: Vec<Op>) -> Op {
        self.on_failure = ops;
        self
    }

    /// `{op, cause}`, with `then`, `else` and `on_failure` where it has
    /// them: what `plan --json` prints of it.
    pub fn to_json(&self) -> serde_json::Value {
        let list = |ops: &[Op]| ops.iter().map(Op::to_json).collect::<Vec<_>>();
        let mut json = serde_json::json!({"op": self.step.name(), "cause": self.cause});
        if let Step::IfImageChanged(b) = &self.step {
            json["then"] = list(&b.then).into();
            json["else"] = list(&b.otherwise).into();
            if let Some(done) = &b.else_done {
                json["else_ends"] = done.text.clone().into();
            }
        }
        if let Step::Hook(run) = &self.step {
            json["command"] = run.command.clone().into();
        }
        if !self.on_failure.is_empty() {
            json["on_failure"] = list(&self.on_failure).into();
        }
        json
    }
}

/// Whether `ops` create the container (in a branch or not).
pub(crate) fn creates(ops: &[Op]) -> bool {
    ops.iter().any(|op| match &op.step {
        Step::Create => true,
        Step::IfImageChanged(b) => creates(&b.then) || creates(&b.otherwise),
        _ => false,
    })
}

/// What the play does to one container.
#[derive(Debug, Clone, PartialEq)]
pub struct Work {
    pub ops: Vec<Op>,
    /// Its creation request, for its `create` operations (built once,
    /// where the plan was made; its spec hash is the one `up` compared).
    pub request: Option<Arc<Creation>>,
    /// The image its existing container was created from, as observed, for
    /// `if image changed` (`None`: no container, or not known).
    pub runs: Option<String>,
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
        Work::of(Vec::new(), done)
    }

    /// `ops` in one part, ending as `done`, left untouched by an abort.
    pub fn of(ops: Vec<Op>, done: Finished) -> Work {
        Work {
            ops,
            request: None,
            runs: None,
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

/// How the executor paces a play (`-c`, `--step-delay`).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Pacing {
    /// At most this many containers acted on at once (`None`: unbounded).
    pub concurrency: Option<usize>,
    /// The pause between containers (after the first).
    pub step_delay: Duration,
}

/// The plan of a play, one entry per container in selection order.
#[derive(Debug, Clone)]
pub struct Plan<'e> {
    pub kind: PlayKind,
    /// The environment's configuration the operations read (the ships
    /// `exec` checks run through, the registries pulls log in to).
    pub env: &'e Environment,
    /// The container of each entry, in selection order.
    pub containers: Vec<&'e Container>,
    pub entries: Vec<Entry>,
    pub pacing: Pacing,
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

impl Plan<'_> {
    /// Whether it changes anything on any engine.
    pub fn changes_something(&self) -> bool {
        self.entries
            .iter()
            .any(|e| e.ops().iter().any(|op| op.step.changes()))
    }
}
