//! Runs a play (start, stop, kill, restart, clean, pull) over the selected
//! containers: each container begins as soon as the containers it must wait
//! for are done (those of the services it requires for start-like plays,
//! those of the services requiring it for stop-like ones) — no waves — with
//! at most `-c` containers acted on at once. When a container fails in a play
//! that aborts, the containers not yet begun are reported `aborted`; those in
//! flight finish. An interruption (Ctrl-C) aborts likewise.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures_util::future::{join_all, BoxFuture};
use maestro_config::{Container, Environment};
use tokio::sync::{watch, Semaphore, SemaphorePermit};

use crate::actions::{self, Ctx};
use crate::fleet::Fleet;

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
        }
    }

    /// Whether dependencies come first (start-like) or dependents (stop-like).
    pub fn direction(self) -> crate::Direction {
        match self {
            PlayKind::Stop | PlayKind::Kill | PlayKind::Restart => crate::Direction::Reverse,
            PlayKind::Start | PlayKind::Clean | PlayKind::Pull | PlayKind::Up => {
                crate::Direction::Forward
            }
        }
    }

    /// Whether one container's failure aborts the containers not yet begun
    /// (a stop failure does not).
    fn aborts_on_failure(self) -> bool {
        !matches!(self, PlayKind::Stop | PlayKind::Kill)
    }
}

/// Options of a play, from the command line.
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
}

/// Why a container was never (fully) acted on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AbortReason {
    /// Another container failed.
    Failure,
    /// The user interrupted the play.
    Interrupted,
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

/// How one container's part of the play ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Done: what was done and the state it was left in.
    Done(Finished),
    /// It failed; the text says why (possibly with log lines after a newline).
    Failed(String),
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
}

/// The result of a play: one outcome per container, in selection order.
#[derive(Debug, Clone)]
pub struct PlayReport {
    pub outcomes: Vec<Outcome>,
    pub interrupted: bool,
}

impl PlayReport {
    pub fn succeeded(&self) -> bool {
        !self.interrupted && self.outcomes.iter().all(Outcome::is_ok)
    }
}

/// Completion of one phase of one container: `None` pending, then `Some(ok)`.
type Gate = watch::Sender<Option<bool>>;

/// Runs `kind` over `containers` (already selected and ordered). `interrupt`
/// resolves when the user asks to stop (Ctrl-C).
pub async fn run_play(
    env: &Environment,
    fleet: &Fleet,
    containers: &[&Container],
    kind: PlayKind,
    options: &PlayOptions,
    observer: &dyn Observer,
    interrupt: impl std::future::Future<Output = ()>,
) -> PlayReport {
    let n = containers.len();
    // Who waits for whom, both ways.
    let mut before_start: Vec<Vec<usize>> = vec![Vec::new(); n];
    let mut before_stop: Vec<Vec<usize>> = vec![Vec::new(); n];
    if !options.ignore_dependencies {
        let mut by_service: HashMap<&str, Vec<usize>> = HashMap::new();
        for (i, c) in containers.iter().enumerate() {
            by_service.entry(c.service.as_str()).or_default().push(i);
        }
        // Each container waits only for the nearest services in the play
        // along direct `requires` edges (looking through services left out of
        // the play): those wait for theirs in turn, so the order is the same as
        // waiting for everything below, at a fraction of the edges.
        let mut nearest: HashMap<&str, Vec<String>> = HashMap::new();
        for c in containers.iter() {
            if nearest.contains_key(c.service.as_str()) {
                continue;
            }
            let mut found = std::collections::BTreeSet::new();
            let mut seen = std::collections::HashSet::new();
            let mut stack: Vec<String> = env.graph.direct(&c.service).map(str::to_owned).collect();
            while let Some(s) = stack.pop() {
                if s == c.service || !seen.insert(s.clone()) {
                    continue;
                }
                if by_service.contains_key(s.as_str()) {
                    found.insert(s);
                } else {
                    stack.extend(env.graph.direct(&s).map(str::to_owned));
                }
            }
            nearest.insert(c.service.as_str(), found.into_iter().collect());
        }
        for (i, c) in containers.iter().enumerate() {
            let deps = nearest.get(c.service.as_str()).cloned().unwrap_or_default();
            for dep in deps {
                if dep == c.service {
                    continue;
                }
                for &j in by_service.get(dep.as_str()).into_iter().flatten() {
                    before_start[i].push(j);
                    before_stop[j].push(i);
                }
            }
        }
    }

    if kind == PlayKind::Up && !options.ignore_dependencies {
        serialize_services(env, containers, &mut before_start);
    }

    let state = Shared {
        env,
        fleet,
        containers,
        kind,
        options,
        observer,
        slots: crate::slots(options.concurrency),
        begun: AtomicUsize::new(0),
        stop_gates: (0..n).map(|_| watch::channel(None).0).collect(),
        start_gates: (0..n).map(|_| watch::channel(None).0).collect(),
        started_gates: (0..n).map(|_| watch::channel(None).0).collect(),
        abort: watch::channel(None).0,
        before_start,
        before_stop,
    };
    let tasks = join_all((0..n).map(|i| state.container(i)));
    // Marks the play interrupted, then waits for the tasks to wind down.
    let watch_interrupt = async {
        interrupt.await;
        state.abort_with(AbortReason::Interrupted);
        std::future::pending::<Vec<Outcome>>().await
    };
    let outcomes = tokio::select! {
        outcomes = tasks => outcomes,
        never = watch_interrupt => never,
    };
    let interrupted = *state.abort.borrow() == Some(AbortReason::Interrupted);
    PlayReport {
        outcomes,
        interrupted,
    }
}

/// `up` takes one service at a time, in dependency order: each container
/// also waits for every container of the service before it, so a change
/// that recreates many services' containers (a new instance changing
/// `<SVC>_INSTANCES` of all dependents) never takes them all down at once.
fn serialize_services(
    env: &Environment,
    containers: &[&Container],
    before_start: &mut [Vec<usize>],
) {
    let order = crate::converge::service_order(env, containers.iter().map(|c| c.service.as_str()));
    let position: HashMap<&str, usize> = order.iter().enumerate().map(|(i, s)| (*s, i)).collect();
    let mut by_position: Vec<Vec<usize>> = vec![Vec::new(); order.len()];
    for (i, c) in containers.iter().enumerate() {
        by_position[position[c.service.as_str()]].push(i);
    }
    for k in 1..by_position.len() {
        let (before, after) = by_position.split_at(k);
        for &i in &after[0] {
            for &j in &before[k - 1] {
                if !before_start[i].contains(&j) {
                    before_start[i].push(j);
                }
            }
        }
    }
}

struct Shared<'a> {
    env: &'a Environment,
    fleet: &'a Fleet,
    containers: &'a [&'a Container],
    kind: PlayKind,
    options: &'a PlayOptions,
    observer: &'a dyn Observer,
    slots: Semaphore,
    begun: AtomicUsize,
    stop_gates: Vec<Gate>,
    start_gates: Vec<Gate>,
    /// Opened when the engine has accepted a container's start (or when it
    /// is done with): its dependents may look at theirs while it settles.
    started_gates: Vec<Gate>,
    abort: watch::Sender<Option<AbortReason>>,
    before_start: Vec<Vec<usize>>,
    before_stop: Vec<Vec<usize>>,
}

impl<'a> Shared<'a> {
    fn abort_with(&self, reason: AbortReason) {
        self.abort.send_if_modified(|current| {
            if current.is_none() {
                *current = Some(reason);
                true
            } else {
                false
            }
        });
    }

    fn aborted(&self) -> Option<AbortReason> {
        self.abort.borrow().clone()
    }

    /// Waits until every gate in `which` is open, or the play is aborted.
    async fn wait_for(&self, gates: &[Gate], which: &[usize]) {
        let all = join_all(which.iter().map(|&j| {
            let mut rx = gates[j].subscribe();
            async move {
                let _ = rx.wait_for(Option::is_some).await;
            }
        }));
        let mut abort = self.abort.subscribe();
        tokio::select! {
            _ = all => {}
            _ = abort.wait_for(Option::is_some) => {}
        }
    }

    /// A concurrency slot; `None` when the play was aborted meanwhile.
    async fn slot(&self) -> Option<SemaphorePermit<'_>> {
        let mut abort = self.abort.subscribe();
        tokio::select! {
            permit = self.slots.acquire() => permit.ok(),
            _ = abort.wait_for(Option::is_some) => None,
        }
    }

    /// The pause between containers, for all but the first to begin.
    async fn step_delay(&self) {
        let order = self.begun.fetch_add(1, Ordering::SeqCst);
        if order > 0 && !self.options.step_delay.is_zero() {
            tokio::time::sleep(self.options.step_delay).await;
        }
    }

    fn ctx(&self, i: usize) -> Ctx<'_> {
        Ctx {
            env: self.env,
            fleet: self.fleet,
            container: self.containers[i],
            options: self.options,
            progress: Box::new(move |text: &str| self.observer.progress(i, text)),
            started: Box::new(move || {
                self.started_gates[i].send_replace(Some(true));
            }),
        }
    }

    fn open(&self, i: usize, ok: bool) {
        self.stop_gates[i].send_replace(Some(ok));
        self.start_gates[i].send_replace(Some(ok));
        self.started_gates[i].send_replace(Some(ok));
    }

    async fn container(&self, i: usize) -> Outcome {
        let started = Instant::now();
        let outcome = match self.kind {
            PlayKind::Restart => self.restart(i).await,
            PlayKind::Start => self.start(i).await,
            _ => self.single(i).await,
        };
        self.open(i, outcome.is_ok());
        self.observer.finish(i, &outcome, started.elapsed());
        outcome
    }

    fn not_begun(&self) -> Outcome {
        Outcome::Aborted {
            reason: self.aborted().unwrap_or(AbortReason::Failure),
            left: "untouched".into(),
        }
    }

    /// A container's turn: once the `gates` of the containers it `waits`
    /// for are open, a concurrency slot, then the step delay; `None` when
    /// the play is aborted first (the container is then not begun).
    async fn turn(&self, i: usize, gates: &[Gate], waits: &[usize]) -> Option<SemaphorePermit<'_>> {
        self.wait_for(gates, waits).await;
        if self.aborted().is_some() {
            return None;
        }
        let permit = self.slot().await?;
        if self.aborted().is_some() {
            return None;
        }
        self.step_delay().await;
        self.observer.begin(i);
        Some(permit)
    }

    /// The outcome of a container's action, a failure aborting the play
    /// where the play aborts on failure.
    fn concluded(&self, result: Result<Finished, String>) -> Outcome {
        match result {
            Ok(done) => Outcome::Done(done),
            Err(text) => {
                if self.kind.aborts_on_failure() {
                    self.abort_with(AbortReason::Failure);
                }
                Outcome::Failed(text)
            }
        }
    }

    /// The other plays' step for one container: its turn, then its action.
    async fn single(&self, i: usize) -> Outcome {
        let (gates, waits) = match self.kind.direction() {
            crate::Direction::Forward => (&self.start_gates, &self.before_start[i]),
            crate::Direction::Reverse => (&self.stop_gates, &self.before_stop[i]),
        };
        let Some(_permit) = self.turn(i, gates, waits).await else {
            return self.not_begun();
        };
        let ctx = self.ctx(i);
        // Boxed, so that the state of the engine calls (kilobytes) exists
        // only for the containers being acted on, not for every container
        // still waiting for its turn.
        let action: BoxFuture<'_, Result<Finished, String>> = match self.kind {
            // `start` and `restart` have their own steps ([`Shared::start`],
            // [`Shared::restart`]); the action is the same.
            PlayKind::Start | PlayKind::Restart => {
                Box::pin(actions::start(&ctx, self.options.reuse))
            }
            PlayKind::Up => Box::pin(actions::up(&ctx)),
            PlayKind::Stop => Box::pin(actions::stop(&ctx)),
            PlayKind::Kill => Box::pin(actions::kill(&ctx)),
            PlayKind::Clean => Box::pin(actions::clean(&ctx)),
            PlayKind::Pull => Box::pin(actions::pull(&ctx)),
        };
        self.concluded(action.await)
    }

    /// `start` of one container: it looks at its container and image (read
    /// only) once the engines have accepted the starts of the containers it
    /// waits for, and acts once those are done with (settled, checked), so
    /// the look is off the dependency chain. Dependents of a container that
    /// fails are aborted having only looked.
    async fn start(&self, i: usize) -> Outcome {
        let waits = &self.before_start[i];
        let Some(_permit) = self.turn(i, &self.started_gates, waits).await else {
            return self.not_begun();
        };
        let ctx = self.ctx(i);
        let deps_done = |gates: &[Gate]| waits.iter().all(|&j| gates[j].borrow().is_some());
        // Whether it is begun as any other play's step (its dependencies
        // done with): then it goes on whatever happens elsewhere.
        let begun_outright = deps_done(&self.start_gates);
        let look = Box::pin(actions::look_for_start(&ctx)).await;
        if !begun_outright {
            if !deps_done(&self.start_gates) {
                (ctx.progress)("waiting for dependencies to be started");
                self.wait_for(&self.start_gates, waits).await;
            }
            // Only looked so far: as untouched as a step not yet begun.
            if self.aborted().is_some() {
                return self.not_begun();
            }
        }
        self.concluded(match look {
            Ok(look) => Box::pin(actions::start_after_look(&ctx, look, self.options.reuse)).await,
            Err(text) => Err(text),
        })
    }

    /// Stop then start one container: its stop waits for the stops of its
    /// dependents, its start for the starts of its dependencies, so
    /// dependents are stopped first and started last. The concurrency slot is
    /// held from the stop to the start (a rolling restart with `-c 1`), but
    /// never while waiting for another container.
    async fn restart(&self, i: usize) -> Outcome {
        let Some(permit) = self.turn(i, &self.stop_gates, &self.before_stop[i]).await else {
            return self.not_begun();
        };
        let ctx = self.ctx(i);
        match Box::pin(actions::prepare_restart(&ctx)).await {
            Ok(Some(skip)) => return Outcome::Done(skip),
            Ok(None) => {}
            Err(text) => return self.concluded(Err(text)),
        }
        if let Err(text) = Box::pin(actions::stop(&ctx)).await {
            return self.concluded(Err(text));
        }
        self.stop_gates[i].send_replace(Some(true));
        if !self.options.stop_start_delay.is_zero() {
            (ctx.progress)(&format!(
                "waiting {} before starting",
                crate::timefmt::short_duration(self.options.stop_start_delay.as_secs_f64())
            ));
            tokio::time::sleep(self.options.stop_start_delay).await;
        }
        let waits = &self.before_start[i];
        let ready = waits
            .iter()
            .all(|&j| self.start_gates[j].borrow().is_some());
        let _permit = if ready {
            Some(permit)
        } else {
            drop(permit);
            (ctx.progress)("stopped; waiting for dependencies to start");
            self.wait_for(&self.start_gates, waits).await;
            if self.aborted().is_some() {
                None
            } else {
                self.slot().await
            }
        };
        if _permit.is_none() || self.aborted().is_some() {
            return Outcome::Aborted {
                reason: self.aborted().unwrap_or(AbortReason::Failure),
                left: "stopped, not started again".into(),
            };
        }
        self.concluded(
            Box::pin(actions::start(&ctx, self.options.reuse))
                .await
                .map(|done| Finished::new("restarted", done.state, "restarted")),
        )
    }
}
