//! The one executor: runs any [`Plan`] over the fleet. Each container's
//! part begins as soon as the containers it waits for are done with (no
//! waves), with at most `-c` containers acted on at once, a pause between
//! containers (`--step-delay`), and its operations one after the other.
//! When a container fails in a play that aborts, the containers not yet
//! begun are reported `aborted`; those in flight finish. An interruption
//! (Ctrl-C) aborts likewise. It reports each container's outcome and the
//! operations it performed, in plan order.

use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use futures_util::future::{join_all, BoxFuture};
use maestro_config::Container;
use tokio::sync::{watch, Notify, Semaphore, SemaphorePermit};

use crate::act::failure::Failure;
use crate::act::objects::ObjectCreate;
use crate::act::ops::{self, Ctx};
use crate::act::outcome::{AbortReason, Observer, Outcome};
use crate::decide::plan::{Entry, Op, Plan, Step, Work};
use crate::decide::play::{Finished, PlayKind};
use crate::observe::fleet::Fleet;

/// Completion of one part of one container: pending, then done, well or
/// not. A few words each: a play has two per container, and every waiting
/// container waits on one gate at a time.
#[derive(Default)]
struct Gate {
    /// [`PENDING`], [`OK`] or [`FAILED`].
    state: AtomicU8,
    opened: Notify,
}

const PENDING: u8 = 0;
const OK: u8 = 1;
const FAILED: u8 = 2;

impl Gate {
    /// `None` while pending, then whether the part went well.
    fn get(&self) -> Option<bool> {
        match self.state.load(Ordering::Acquire) {
            PENDING => None,
            state => Some(state == OK),
        }
    }

    fn open(&self, ok: bool) {
        self.state
            .store(if ok { OK } else { FAILED }, Ordering::Release);
        self.opened.notify_waiters();
    }

    /// Resolves once the gate is open.
    async fn opened(&self) {
        loop {
            let notified = self.opened.notified();
            tokio::pin!(notified);
            // Registered before the state is read: an opening in between
            // is not missed.
            notified.as_mut().enable();
            if self.get().is_some() {
                return;
            }
            notified.await;
        }
    }
}

/// Runs exactly `plan`'s operations over its containers, through `fleet`,
/// telling `observer`. `interrupt` resolves when the user asks to stop
/// (Ctrl-C).
pub async fn execute(
    plan: &Plan<'_>,
    fleet: &Fleet,
    observer: &dyn Observer,
    interrupt: impl std::future::Future<Output = ()>,
) -> PlayReport {
    let n = plan.containers.len();
    let state = Executor {
        fleet,
        plan,
        observer,
        shared: ops::Shared::default(),
        proxies: Default::default(),
        slots: crate::slots(plan.pacing.concurrency),
        begun: AtomicUsize::new(0),
        first_gates: (0..n).map(|_| Gate::default()).collect(),
        done_gates: (0..n).map(|_| Gate::default()).collect(),
        abort: watch::channel(None).0,
        performed: (0..n).map(|_| Mutex::new(Vec::new())).collect(),
        began_at: (0..n).map(|_| Mutex::new(None)).collect(),
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
    let performed = state
        .performed
        .into_iter()
        .map(|m| m.into_inner().unwrap_or_default())
        .collect();
    PlayReport {
        outcomes,
        interrupted,
        performed,
    }
}

struct Executor<'a> {
    fleet: &'a Fleet,
    plan: &'a Plan<'a>,
    observer: &'a dyn Observer,
    shared: ops::Shared,
    proxies: crate::act::proxy::Ships,
    slots: Semaphore,
    begun: AtomicUsize,
    /// Opened when a container's first part is done with (a restart's stop).
    first_gates: Vec<Gate>,
    /// Opened when a container is done with.
    done_gates: Vec<Gate>,
    abort: watch::Sender<Option<AbortReason>>,
    performed: Vec<Mutex<Vec<Step>>>,
    /// When each container began (its time is counted from then, not
    /// from the wait for the containers before it).
    began_at: Vec<Mutex<Option<Instant>>>,
}

/// How far a container got, for what an abort leaves it in.
struct Progress<'p> {
    permit: Option<SemaphorePermit<'p>>,
    begun: bool,
    acted: bool,
    /// When its start call was sent (for the confirm's settle).
    sent: Option<tokio::time::Instant>,
}

impl Progress<'_> {
    /// What an abort before its next part leaves the container in: as it
    /// was when nothing was done yet, else what its first part left.
    fn left(&self, reason: AbortReason, left_between: &'static str) -> Outcome {
        if self.acted {
            Outcome::Aborted {
                reason,
                left: left_between.into(),
            }
        } else {
            untouched(reason)
        }
    }
}

impl<'a> Executor<'a> {
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

    /// Waits until every gate in `which` is open, or the play is aborted:
    /// one gate after the other (each is open for good once open), so that
    /// a waiting container holds one wait, however many it waits for.
    async fn wait_for(&self, gates: &[Gate], which: &[usize]) {
        if which.iter().all(|&j| gates[j].get().is_some()) {
            return;
        }
        let all = async {
            for &j in which {
                gates[j].opened().await;
            }
        };
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
        let delay = self.plan.pacing.step_delay;
        if order > 0 && !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
    }

    fn open(&self, i: usize, ok: bool) {
        self.first_gates[i].open(ok);
        self.done_gates[i].open(ok);
    }

    /// Whether a container out of reach fails only itself and what waits
    /// for it (a play that aborts on failure and does not roll), rather
    /// than the whole play.
    fn failures_stay_local(&self) -> bool {
        self.plan.kind.aborts_on_failure() && self.plan.batch_waits.iter().all(Vec::is_empty)
    }

    /// Whether one of the containers `which`, waited for at `gates`,
    /// failed, in a play where that holds back those that wait for it.
    fn failed_among(&self, gates: &[Gate], which: &[usize]) -> bool {
        self.plan.kind.aborts_on_failure() && which.iter().any(|&j| gates[j].get() == Some(false))
    }

    /// Container `i` begins: the observer hears of it, its time starts.
    fn begin(&self, i: usize) {
        if let Ok(mut at) = self.began_at[i].lock() {
            at.get_or_insert_with(Instant::now);
        }
        self.observer.begin(i);
    }

    async fn container(&self, i: usize) -> Outcome {
        let outcome = match &self.plan.entries[i] {
            Entry::Work(work) => self.work(i, work).await,
            Entry::Unknown(why) => {
                self.wait_for(&self.done_gates, &self.plan.second_waits[i])
                    .await;
                match self.aborted() {
                    Some(reason) => untouched(reason),
                    None if self.failed_among(&self.done_gates, &self.plan.second_waits[i]) => {
                        untouched(AbortReason::Failure)
                    }
                    None => {
                        self.begin(i);
                        if why.is_host_down() && self.failures_stay_local() {
                            // Its ship is out of reach: only what waits for
                            // it is held back; the rest of the play goes on.
                            Outcome::Failed(Failure::Engine(why.clone()))
                        } else {
                            self.failed(Failure::Engine(why.clone()))
                        }
                    }
                }
            }
        };
        self.open(i, outcome.is_ok());
        let elapsed = self.began_at[i]
            .lock()
            .ok()
            .and_then(|at| at.map(|at| at.elapsed()))
            .unwrap_or_default();
        self.observer.finish(i, &outcome, elapsed);
        outcome
    }

    /// A container's two parts: each once the containers it waits for are
    /// done with; a concurrency slot held from its first operation to its
    /// last, but never while waiting for another container. Each part's
    /// future is boxed when it begins: a play's every container waits at
    /// once, and its wait then holds a few words, not the largest state of
    /// the operations it has yet to run.
    async fn work(&self, i: usize, work: &'a Work) -> Outcome {
        let mut progress = Progress {
            permit: None,
            begun: false,
            acted: false,
            sent: None,
        };
        let (first, second) = work.ops.split_at(work.split);
        if !self.plan.batch_waits[i].is_empty() {
            self.wait_for(&self.done_gates, &self.plan.batch_waits[i])
                .await;
            if let Some(reason) = self.aborted() {
                return untouched(reason);
            }
        }
        if !self.plan.first_waits[i].is_empty() || !first.is_empty() {
            self.wait_for(&self.first_gates, &self.plan.first_waits[i])
                .await;
            if let Some(reason) = self.aborted() {
                return untouched(reason);
            }
            if self.failed_among(&self.first_gates, &self.plan.first_waits[i]) {
                return untouched(AbortReason::Failure);
            }
            if !first.is_empty() {
                match Box::pin(self.part(i, work, first, &mut progress)).await {
                    Ok(None) => {}
                    Ok(Some(done)) => return Outcome::Done(done),
                    Err(outcome) => return outcome,
                }
            }
        }
        self.first_gates[i].open(true);
        let waits = &self.plan.second_waits[i];
        if !waits.iter().all(|&j| self.done_gates[j].get().is_some()) {
            progress.permit = None;
            if progress.acted {
                self.observer
                    .progress(i, "waiting for the containers it waits for");
            }
            self.wait_for(&self.done_gates, waits).await;
        }
        if let Some(reason) = self.aborted() {
            return progress.left(reason, work.left_between);
        }
        if self.failed_among(&self.done_gates, waits) {
            return progress.left(AbortReason::Failure, work.left_between);
        }
        if second.is_empty() {
            if !progress.begun {
                self.begin(i);
            }
            return Outcome::Done(work.done.clone());
        }
        match Box::pin(self.part(i, work, second, &mut progress)).await {
            Ok(None) => Outcome::Done(work.done.clone()),
            Ok(Some(done)) => Outcome::Done(done),
            Err(outcome) => outcome,
        }
    }

    /// Runs `ops` of container `i`, taking a slot (and the step delay,
    /// before its first operation) unless it holds one. `Ok(Some(done))`:
    /// it ended early that way (an image comparison).
    async fn part<'p>(
        &'p self,
        i: usize,
        work: &'a Work,
        ops: &'a [Op],
        progress: &mut Progress<'p>,
    ) -> Result<Option<Finished>, Outcome> {
        let left_between = work.left_between;
        if progress.permit.is_none() {
            let permit = self.slot().await;
            if permit.is_none() || self.aborted().is_some() {
                let reason = self.aborted().unwrap_or(AbortReason::Failure);
                return Err(progress.left(reason, left_between));
            }
            progress.permit = permit;
        }
        if !progress.begun {
            self.step_delay().await;
            progress.begun = true;
            self.begin(i);
        }
        let container = self.plan.containers[i];
        // Boxed: reaching a ship the first time (TLS, SSH) takes kilobytes
        // of state, which a part otherwise holds throughout.
        let engine = match Box::pin(self.fleet.engine(&container.ship)).await {
            Ok(engine) => engine,
            Err(e) => return Err(self.failed(Failure::Engine(e))),
        };
        let ctx = Ctx {
            env: self.plan.env,
            container,
            shared: &self.shared,
            engine,
            progress: Box::new(move |text: &str| self.observer.progress(i, text)),
        };
        match self.run_ops(&ctx, i, work, ops, &mut progress.sent).await {
            Ok(end) => {
                progress.acted = true;
                Ok(end)
            }
            Err(failure) => Err(self.failed(failure)),
        }
    }

    /// Runs `ops` one after the other (a branch's after the comparison);
    /// `Ok(Some(done))`: the container ends there, that way. A failed
    /// operation's declared follow-ups run before its failure is returned,
    /// with the container's last log lines when the failure shows them.
    fn run_ops<'s>(
        &'s self,
        ctx: &'s Ctx<'s>,
        i: usize,
        work: &'a Work,
        ops: &'a [Op],
        sent: &'s mut Option<tokio::time::Instant>,
    ) -> BoxFuture<'s, Result<Option<Finished>, Failure>>
    where
        'a: 's,
    {
        Box::pin(async move {
            for op in ops {
                self.record(i, &op.step);
                match self.run_op(ctx, i, work, &op.step, *sent).await {
                    Ok(Next::Go) => {}
                    Ok(Next::Started(at)) => *sent = Some(at),
                    Ok(Next::Branch(branch, end)) => {
                        if let Some(done) = self.run_ops(ctx, i, work, branch, sent).await? {
                            return Ok(Some(done));
                        }
                        if let Some(done) = end {
                            return Ok(Some(done.clone()));
                        }
                    }
                    Err(failure) => return Err(self.follow_up(ctx, i, op, failure).await),
                }
            }
            Ok(None)
        })
    }

    /// What a failed `op` leads to: its declared follow-ups run, each given
    /// the failure (a stop says itself in it); then the last log lines.
    async fn follow_up(&self, ctx: &Ctx<'_>, i: usize, op: &Op, failure: Failure) -> Failure {
        let mut failure = failure;
        for next in &op.on_failure {
            if next.step == Step::StopIfUp && failure.left_up() {
                self.record(i, &next.step);
                failure = ops::stop_if_up(ctx, failure).await;
            }
            if next.step == Step::PutPreviousBack {
                self.record(i, &next.step);
                failure = crate::act::proxy::put_back(ctx, failure).await;
            }
            if next.step == Step::SwapBack {
                self.record(i, &next.step);
                failure = crate::act::proxy::swap_back(ctx, failure).await;
            }
        }
        ops::with_logs(ctx, failure).await
    }

    fn record(&self, i: usize, step: &Step) {
        if let Ok(mut list) = self.performed[i].lock() {
            list.push(step.clone());
        }
    }

    /// Runs one operation. Each is boxed when it runs, so that its state
    /// (kilobytes for the engine calls of a create) takes the room of that
    /// operation, not of the largest one, and only while it runs.
    async fn run_op(
        &self,
        ctx: &Ctx<'_>,
        i: usize,
        work: &'a Work,
        step: &'a Step,
        sent: Option<tokio::time::Instant>,
    ) -> Result<Next<'a>, Failure> {
        match step {
            Step::Pull => go(ops::pull(ctx)).await,
            Step::Checks(stage) => go(ops::checks(ctx, *stage)).await,
            Step::Remove { volumes } => go(ops::remove(ctx, *volumes)).await,
            Step::KeepAsPrevious => go(ops::keep_as_previous(ctx)).await,
            Step::Swap => go(ops::swap(ctx)).await,
            Step::RemovePrevious => go(ops::remove_previous(ctx)).await,
            Step::Create => match &work.request {
                Some(request) => go(ops::create(ctx, request)).await,
                None => Err(Failure::NoRequest(ctx.container.name.clone())),
            },
            Step::CreateNetwork(r) => go(ops::create_object(ctx, ObjectCreate::Network(r))).await,
            Step::CreateVolume(r) => go(ops::create_object(ctx, ObjectCreate::Volume(r))).await,
            // Run only as a follow-up of a failure, where it is given one.
            Step::StopIfUp => Ok(Next::Go),
            Step::EnsureProxy(request) => {
                go(crate::act::proxy::ensure(ctx, &self.proxies, request)).await
            }
            Step::KeepServingAsPrevious => go(crate::act::proxy::keep_serving(ctx)).await,
            Step::ProxyHealthy(request) => go(crate::act::proxy::healthy(ctx, request)).await,
            Step::ProxyRoute(request) => {
                go(crate::act::proxy::route(ctx, &self.proxies, request)).await
            }
            Step::Monitor(time) => go(ops::monitor(ctx, *time)).await,
            Step::Drain(time) => {
                Box::pin(crate::act::proxy::drain(ctx, *time)).await;
                Ok(Next::Go)
            }
            Step::StopPrevious => go(crate::act::proxy::stop_previous(ctx)).await,
            // Run only as a follow-up of a failure, where it is given one.
            Step::PutPreviousBack | Step::SwapBack => Ok(Next::Go),
            Step::Hook(run) => {
                let ran = Box::pin(crate::act::hook::run(ctx, run)).await;
                let failure = ran.as_ref().err().map(ToString::to_string);
                self.observer.hook(i, run, failure.as_deref());
                ran.map(|()| Next::Go)
            }
            Step::Start => Box::pin(ops::start(ctx)).await.map(Next::Started),
            Step::Confirm => go(ops::confirm(ctx, sent)).await,
            Step::Stop => go(ops::halt(ctx, false)).await,
            Step::Kill => go(ops::halt(ctx, true)).await,
            Step::Pause(delay) => {
                (ctx.progress)(&format!(
                    "waiting {} before starting",
                    crate::timefmt::short_duration(delay.as_secs_f64())
                ));
                Box::pin(tokio::time::sleep(*delay)).await;
                Ok(Next::Go)
            }
            Step::IfImageChanged(b) => {
                if Box::pin(ops::image_changed(ctx, work.runs.as_deref())).await? {
                    Ok(Next::Branch(&b.then, None))
                } else {
                    Ok(Next::Branch(&b.otherwise, b.else_done.as_ref()))
                }
            }
        }
    }

    /// The outcome of a failure, aborting the play where it aborts.
    fn failed(&self, failure: Failure) -> Outcome {
        if self.plan.kind.aborts_on_failure() {
            self.abort_with(AbortReason::Failure);
        }
        Outcome::Failed(failure)
    }
}

/// `op` boxed, its success leading to the next operation. The box is made
/// when the operation begins: what waits holds a pointer.
fn go<'f>(
    op: impl std::future::Future<Output = Result<(), Failure>> + Send + 'f,
) -> impl std::future::Future<Output = Result<Next<'static>, Failure>> + 'f {
    let op = Box::pin(op);
    async move { op.await.map(|()| Next::Go) }
}

/// What an operation leads to.
enum Next<'a> {
    Go,
    /// The start was sent then.
    Started(tokio::time::Instant),
    /// These operations run next; then, with an outcome, the container
    /// ends that way.
    Branch(&'a [Op], Option<&'a Finished>),
}

fn untouched(reason: AbortReason) -> Outcome {
    Outcome::Aborted {
        reason,
        left: "untouched".into(),
    }
}

/// The result of a play: one outcome per container, in selection order.
#[derive(Debug, Clone)]
pub struct PlayReport {
    pub outcomes: Vec<Outcome>,
    pub interrupted: bool,
    /// The operations performed on each container (begun, whether they
    /// succeeded or not), in order.
    pub performed: Vec<Vec<Step>>,
}

impl PlayReport {
    pub fn succeeded(&self) -> bool {
        !self.interrupted && self.outcomes.iter().all(Outcome::is_ok)
    }

    /// How many containers were done with, failed, and were aborted.
    pub fn counts(&self) -> (usize, usize, usize) {
        let mut counts = (0, 0, 0);
        for outcome in &self.outcomes {
            match outcome {
                Outcome::Done(_) => counts.0 += 1,
                Outcome::Failed(_) => counts.1 += 1,
                Outcome::Aborted { .. } => counts.2 += 1,
            }
        }
        counts
    }

    /// `start: 3 done, 1 failed, 2 aborted` (without the time).
    pub fn summary(&self, kind: PlayKind) -> String {
        let (done, failed, aborted) = self.counts();
        let mut summary = format!("{}: {done} done", kind.name());
        if failed > 0 {
            summary.push_str(&format!(", {failed} failed"));
        }
        if aborted > 0 {
            summary.push_str(&format!(", {aborted} aborted"));
        }
        summary
    }

    /// Why the play failed, in one sentence naming the first failure
    /// (`None`: it succeeded); `also` is what failed after it (orphans).
    pub fn failure(
        &self,
        kind: PlayKind,
        containers: &[&Container],
        also: Option<&str>,
    ) -> Option<String> {
        let also = also.map(|e| format!("; and {e}")).unwrap_or_default();
        if self.interrupted {
            return Some(format!(
                "{} interrupted; each container's state is shown above{also}",
                kind.name()
            ));
        }
        if self.succeeded() {
            return None;
        }
        let (_, failed, _) = self.counts();
        let first = self
            .outcomes
            .iter()
            .zip(containers)
            .find_map(|(o, c)| match o {
                Outcome::Failed(why) => Some(format!("{}: {why}", c.name)),
                _ => None,
            })
            .unwrap_or_default();
        let aborted = self.outcomes.iter().any(|o| {
            matches!(
                o,
                Outcome::Aborted {
                    reason: AbortReason::Failure,
                    ..
                }
            )
        });
        Some(format!(
            "{} failed for {failed} container{}{}; first: {first}{also}",
            kind.name(),
            if failed == 1 { "" } else { "s" },
            if aborted {
                " (the containers not yet begun were aborted)"
            } else {
                ""
            }
        ))
    }
}
