//! Reconcile, pure: a snapshot of the fleet, the environment, the play and
//! its options in; a [`Plan`] out — for each container its operations with
//! their causes, and whom each part waits for. No I/O: every decision of
//! every play is taken here, before anything is done.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;

use maestro_config::{Container, Environment};

use crate::decide::drift::{self, Action};
use crate::decide::plan::{
    CreateRequest, Creation, Entry, Op, Pacing, Plan, ProxyRequest, Stage, Step, Work,
};
use crate::decide::play::{Finished, PlayKind, PlayOptions};
use crate::observe::snapshot::{Seen, Snapshot, Wants};

/// What a play needs observed.
pub fn wants(kind: PlayKind, options: &PlayOptions) -> Wants {
    Wants {
        images: matches!(kind, PlayKind::Start | PlayKind::Restart | PlayKind::Up),
        everything: false,
        previous: kind == PlayKind::Rollback || (kind == PlayKind::Clean && options.clean_previous),
        ..Wants::default()
    }
}

/// The creation request of each container that `up` compares (every
/// one; `None` for other plays, which build a request only for what they
/// create): made once, compared by its spec hash, and sent as it is.
pub fn requests(
    env: &Environment,
    containers: &[&Container],
    kind: PlayKind,
    options: &PlayOptions,
) -> Vec<Option<Arc<CreateRequest>>> {
    containers
        .iter()
        .map(|c| {
            (kind == PlayKind::Up).then(|| {
                Arc::new(crate::decide::spec::create_request(
                    env,
                    c,
                    &options.secrets,
                ))
            })
        })
        .collect()
}

/// The containers whose whole description a decision needs (ship, name):
/// for `up`, those whose spec hash is not the one maestro would give them
/// (changed, or made by MaestroNG, by hand, by another version).
pub fn needs_inspect(
    containers: &[&Container],
    snapshot: &Snapshot,
    requests: &[Option<Arc<CreateRequest>>],
) -> Vec<(String, String)> {
    containers
        .iter()
        .zip(requests)
        .filter_map(|(c, request)| {
            let hash = request.as_ref()?.spec_hash();
            let seen = snapshot.seen(c).ok()??;
            (seen.spec_hash.as_deref() != hash).then(|| (c.ship.clone(), c.name.clone()))
        })
        .collect()
}

/// The plan of `kind` over `containers` (selected and ordered), with
/// `requests` (from [`requests`]): every operation the executor runs, the
/// networks and volumes to create before the containers that need them
/// included.
pub fn reconcile<'e>(
    env: &'e Environment,
    containers: &[&'e Container],
    kind: PlayKind,
    options: &PlayOptions,
    snapshot: &Snapshot,
    requests: Vec<Option<Arc<CreateRequest>>>,
) -> Plan<'e> {
    let (mut entries, actions) = entries(env, containers, kind, options, snapshot, requests);
    crate::decide::objects::prerequisites(env, containers, &snapshot.objects, &mut entries);
    let hooked = if kind == PlayKind::Up {
        crate::decide::hooks::place(env, containers, &options.secrets, &mut entries)
    } else {
        Vec::new()
    };
    let (before_start, before_stop) = if options.ignore_dependencies {
        let none = vec![Vec::new(); containers.len()];
        (none.clone(), none)
    } else {
        dependency_waits(env, containers)
    };
    if kind == PlayKind::Rollback {
        restart_dependents(containers, options, snapshot, &before_start, &mut entries);
    }
    let rolls = options.rollout.rolls_over(env, containers)
        && matches!(kind, PlayKind::Restart | PlayKind::Up);
    let (first_waits, mut second_waits) = phase_waits(
        env,
        containers,
        kind,
        options,
        rolls,
        (before_start, before_stop),
    );
    crate::decide::hooks::order(&hooked, &mut second_waits);
    let (batch_waits, batches) = if rolls {
        let batches = crate::decide::rollout::batches(env, containers, &options.rollout);
        crate::decide::rollout::waits(&batches, containers.len())
    } else {
        (
            vec![Vec::new(); containers.len()],
            vec![None; containers.len()],
        )
    };
    Plan {
        kind,
        env,
        containers: containers.to_vec(),
        pacing: Pacing {
            concurrency: options.concurrency,
            step_delay: step_delay(env, containers, options),
        },
        entries,
        first_waits,
        second_waits,
        batch_waits,
        batches,
        actions,
    }
}

/// Each container's entry, with the image it runs and (when its operations
/// create it) its creation request, made here when `requests` lacks it; and
/// what `up` decided for it.
fn entries(
    env: &Environment,
    containers: &[&Container],
    kind: PlayKind,
    options: &PlayOptions,
    snapshot: &Snapshot,
    requests: Vec<Option<Arc<CreateRequest>>>,
) -> (Vec<Entry>, Vec<Option<Action>>) {
    let mut actions = Vec::with_capacity(containers.len());
    let proxies = crate::decide::proxy::requests(env);
    let entries = containers
        .iter()
        .zip(requests)
        .map(|(c, request)| {
            let proxy = proxies
                .get(&c.ship)
                .zip(crate::decide::proxy::route_of(env, c));
            let monitor = env
                .services
                .get(&c.service)
                .and_then(|s| s.update.monitor)
                .filter(|m| *m > 0.0)
                .map(std::time::Duration::from_secs_f64);
            let (mut entry, action) = entry(
                c,
                kind,
                options,
                snapshot,
                request.as_deref(),
                (proxy, monitor),
            );
            if let Entry::Work(work) = &mut entry {
                if crate::decide::plan::creates(&work.ops) {
                    let request = match request {
                        Some(request) => Arc::unwrap_or_clone(request),
                        None => crate::decide::spec::create_request(env, c, &options.secrets),
                    };
                    work.request = Some(Arc::new(Creation::of(request)));
                }
            }
            actions.push(action);
            entry
        })
        .collect();
    (entries, actions)
}

/// Whom each container waits for in the play's first part (the stops) and
/// its second (the starts), from the waits of the dependency order
/// (`before_start`, `before_stop`): a restart or a rollback stops
/// dependents first and starts dependencies first; other plays have one
/// part, in their direction; `up` also takes a service's instances one at
/// a time.
fn phase_waits(
    env: &Environment,
    containers: &[&Container],
    kind: PlayKind,
    options: &PlayOptions,
    rolls: bool,
    (before_start, before_stop): (Vec<Vec<usize>>, Vec<Vec<usize>>),
) -> (Vec<Vec<usize>>, Vec<Vec<usize>>) {
    let (first_waits, mut second_waits) = match kind {
        PlayKind::Restart | PlayKind::Rollback => (before_stop, before_start),
        _ if kind.direction() == crate::Direction::Reverse => {
            (vec![Vec::new(); containers.len()], before_stop)
        }
        _ => (vec![Vec::new(); containers.len()], before_start),
    };
    if kind == PlayKind::Up && !options.ignore_dependencies {
        serialize_services(env, containers, &mut second_waits);
    }
    // A rollout takes the services one batch at a time in dependency
    // order, dependencies first: a restart no longer stops a service's
    // dependents before it (they stay up while it rolls), or its first
    // batch would wait for dependents that wait for it.
    let first_waits = if rolls {
        vec![Vec::new(); containers.len()]
    } else {
        first_waits
    };
    (first_waits, second_waits)
}

fn entry(
    c: &Container,
    kind: PlayKind,
    options: &PlayOptions,
    snapshot: &Snapshot,
    request: Option<&CreateRequest>,
    (proxy, monitor): (Option<Proxied<'_>>, Option<std::time::Duration>),
) -> (Entry, Option<Action>) {
    let seen = match snapshot.seen(c) {
        Ok(seen) => seen,
        Err(e) => return (Entry::Unknown(e.clone()), None),
    };
    let image = match snapshot.image(c) {
        Ok(image) => image,
        Err(e) => return (Entry::Unknown(e.clone()), None),
    };
    let image_id = image.and_then(|i| i.id.as_deref());
    let look = Look {
        c,
        seen,
        image_present: image.is_some() || !crate::decide::reconcile::wants(kind, options).images,
        image_id,
        previous: snapshot.previous(c).ok().flatten(),
        options,
        proxy,
        monitor,
    };
    let (mut work, action) = match kind {
        PlayKind::Start => (look.start(), None),
        PlayKind::Stop => (look.halt(false), None),
        PlayKind::Kill => (look.halt(true), None),
        PlayKind::Clean => (look.clean(), None),
        // Decided with the others' (its dependencies rolled back or not).
        PlayKind::Rollback => (look.rollback(), None),
        PlayKind::Pull => {
            let pulled = Finished::new("pulled", "unchanged", "pulled");
            (Work::of(vec![Op::new(Step::Pull, "pull")], pulled), None)
        }
        PlayKind::Restart => (look.restart(), None),
        PlayKind::Up => {
            let action = decide_up(c, seen, snapshot, request);
            (look.up(&action), Some(action))
        }
    };
    // What `if image changed` compares with.
    work.runs = seen.and_then(|s| s.image_id.clone());
    (Entry::Work(work), action)
}

/// What `up` does to a container: by its spec hash when it matches (the
/// list says it), else field by field against its whole description.
fn decide_up(
    c: &Container,
    seen: Option<&Seen>,
    snapshot: &Snapshot,
    request: Option<&CreateRequest>,
) -> Action {
    let Some(seen) = seen else {
        return Action::Create;
    };
    let Some(request) = request else {
        return Action::Recreate(vec!["its creation request was not made".into()]);
    };
    let hash = request.spec_hash();
    let image = snapshot.image(c).ok().flatten();
    if seen.spec_hash.is_some() && seen.spec_hash.as_deref() == hash {
        let updated = match (image.and_then(|i| i.id.as_deref()), &seen.image_id) {
            (Some(now), Some(runs)) => now != runs,
            _ => false,
        };
        return if updated {
            Action::Recreate(vec!["image updated".into()])
        } else if seen.running() {
            Action::None
        } else {
            Action::Start
        };
    }
    match snapshot.inspected(c) {
        Some(found) => {
            let body = request.with_env(c);
            drift::decide(&body, Some(found), image, &drift::contract(c))
        }
        // Not inspected (its ship failed meanwhile): say so plainly.
        None => Action::Recreate(vec!["its description could not be read".into()]),
    }
}

/// One container as the snapshot has it, and the play's options.
struct Look<'a> {
    c: &'a Container,
    seen: Option<&'a Seen>,
    /// Its kept previous container, when the play looked for it.
    previous: Option<&'a Seen>,
    image_present: bool,
    image_id: Option<&'a str>,
    options: &'a PlayOptions,
    /// Behind the ship's proxy: its request, and the service's route.
    proxy: Option<Proxied<'a>>,
    /// How long a replacement is watched after its checks passed.
    monitor: Option<std::time::Duration>,
}

/// The pause between containers: `--step-delay`, else the longest
/// `deploy.update_config.delay` of the play's services.
fn step_delay(
    env: &Environment,
    containers: &[&Container],
    options: &PlayOptions,
) -> std::time::Duration {
    if !options.step_delay.is_zero() {
        return options.step_delay;
    }
    let longest = containers
        .iter()
        .filter_map(|c| env.services.get(&c.service)?.update.delay)
        .fold(0.0_f64, f64::max);
    std::time::Duration::from_secs_f64(longest.max(0.0))
}

/// Whether `c`'s service is replaced start-first behind the proxy.
fn start_first(request: &ProxyRequest, c: &Container) -> bool {
    request
        .services
        .iter()
        .any(|s| s.service == c.service && s.start_first)
}

/// A proxied container's ship's proxy request and its service's route.
type Proxied<'a> = (&'a Arc<ProxyRequest>, &'a maestro_config::ProxyRoute);

impl Look<'_> {
    fn running(&self) -> bool {
        self.seen.is_some_and(Seen::running)
    }

    fn checks(&self, stage: Stage, ops: &mut Vec<Op>, cause: &str) {
        if self.options.unchecked {
            return;
        }
        let list = match stage {
            Stage::PreStart => &self.c.lifecycle.pre_start,
            Stage::Running => &self.c.lifecycle.running,
            Stage::PreStop => &self.c.lifecycle.pre_stop,
            Stage::Stopped => &self.c.lifecycle.stopped,
        };
        if !list.is_empty() {
            ops.push(if stage == Stage::Running {
                running_checks(cause)
            } else {
                Op::new(Step::Checks(stage), cause)
            });
        }
    }

    /// The pull a start needs, if any: `-r`, or an image the ship lacks.
    fn pull(&self, ops: &mut Vec<Op>) -> bool {
        if self.options.refresh_images {
            ops.push(Op::new(Step::Pull, "-r: refresh the image"));
            true
        } else if !self.image_present {
            ops.push(Op::new(Step::Pull, "image missing on the ship"));
            true
        } else {
            false
        }
    }

    /// Creating and starting (after any stop): pre-start checks, the pull
    /// (before anything is removed, so a failed pull loses nothing), the old
    /// container removed unless reused, create, start, confirm, checks.
    #[allow(clippy::too_many_arguments)]
    fn start_ops(
        &self,
        ops: &mut Vec<Op>,
        exists: bool,
        reuse: bool,
        pulled: bool,
        why: &str,
        replaced: Op,
    ) {
        self.checks(Stage::PreStart, ops, why);
        if !reuse && !pulled {
            self.pull(ops);
        }
        if !reuse {
            if exists {
                ops.push(replaced);
            }
            ops.push(Op::new(Step::Create, why));
        }
        ops.push(Op::new(Step::Start, why));
        ops.push(confirm());
        self.checks(Stage::Running, ops, "started");
    }

    /// Why a running container's `running` checks are run again before
    /// what waits for it: it started less than their window ago, so a run
    /// that ended meanwhile (killed, a second Ctrl-C) may have left it
    /// unchecked. `None`: not running, no checks, or up for longer.
    fn recheck(&self) -> Option<String> {
        let seen = self.seen.filter(|s| s.running())?;
        let list = &self.c.lifecycle.running;
        if list.is_empty() {
            return None;
        }
        let window = crate::decide::windows::window(list);
        match seen.up_for_at_least() {
            Some(up) if up >= window => None,
            Some(up) => Some(format!(
                "up for {}s, less than its running checks' window of {}s: not known to have passed them",
                up.as_secs(),
                window.as_secs()
            )),
            None => Some("its running checks are not known to have passed".into()),
        }
    }

    /// A running container's checks run again ([`Look::recheck`]), or nothing.
    fn up_already(&self, text: String) -> Work {
        match self.recheck() {
            Some(why) => Work::of(
                vec![running_checks(&why)],
                Finished::new("checked", "running", format!("{text}, checked again")),
            ),
            None => Work::nothing(Finished::new("none", "running", text)),
        }
    }

    fn start(&self) -> Work {
        if let Some(seen) = self.seen.filter(|s| s.running()) {
            let text = match seen.since() {
                Some(since) => format!("up for {since}"),
                None => "up".into(),
            };
            return self.up_already(text);
        }
        let exists = self.seen.is_some();
        let reuse = self.options.reuse && exists;
        let why = if exists { "stopped" } else { "missing" };
        let mut ops = Vec::new();
        self.start_ops(&mut ops, exists, reuse, false, why, removed());
        Work::of(ops, Finished::new("started", "running", "started"))
    }

    /// `up` of a container behind the proxy: a running one replaced start
    /// first (cut over), one created or started brought behind the proxy
    /// once healthy; `None`: nothing to do with the proxy (up to date).
    fn up_proxied(&self, action: &Action, (request, route): Proxied<'_>) -> Option<Work> {
        let done = |action: &'static str, text: String| Finished::new(action, "running", text);
        let mut ops = Vec::new();
        let (why, finished) = match action {
            Action::None => return None,
            Action::Recreate(reasons) if self.running() && start_first(request, self.c) => {
                let why = reasons.join("; ");
                self.pull(&mut ops);
                self.cut_over(&mut ops, (request, route), &why);
                let text = format!("recreated ({why}), cut over behind the proxy");
                return Some(Work::of(ops, done("recreated", text)));
            }
            Action::Recreate(reasons) => (reasons.join("; "), "recreated"),
            Action::Create => ("missing".to_owned(), "created"),
            Action::Start => ("stopped".to_owned(), "started"),
        };
        let (ensure, after) = crate::decide::proxy::join(request, route);
        let mut work = self.up_plain(action);
        work.ops.insert(0, ensure);
        work.ops.extend(after);
        work.done = done(finished, format!("{finished} ({why}), behind the proxy"));
        Some(work)
    }

    fn stop_ops(&self, ops: &mut Vec<Op>, kill: bool, why: &str) {
        if kill {
            ops.push(Op::new(Step::Kill, why));
        } else {
            self.checks(Stage::PreStop, ops, why);
            ops.push(Op::new(Step::Stop, why));
        }
        self.checks(Stage::Stopped, ops, "stopped");
    }

    fn halt(&self, kill: bool) -> Work {
        match self.seen {
            None => Work::nothing(Finished::new("none", "absent", "absent")),
            Some(seen) if !seen.running() => {
                Work::nothing(Finished::new("none", "stopped", "down"))
            }
            Some(_) => {
                let mut ops = Vec::new();
                self.stop_ops(&mut ops, kill, "running");
                let done = if kill {
                    Finished::new("killed", "stopped", "killed")
                } else {
                    Finished::new("stopped", "stopped", "stopped")
                };
                Work::of(ops, done)
            }
        }
    }

    fn clean(&self) -> Work {
        let mut work = match self.seen {
            None => Work::nothing(Finished::new("none", "absent", "absent")),
            Some(seen) if seen.running() => {
                Work::nothing(Finished::new("skipped", "running", "skipped (running)"))
            }
            Some(_) => Work::of(
                vec![Op::new(Step::Remove { volumes: true }, "stopped")],
                Finished::new("removed", "absent", "removed"),
            ),
        };
        // `--previous`: its kept previous container too (never running
        // unless started by hand: then the engine refuses, nothing lost).
        if self.options.clean_previous && self.previous.is_some() {
            work.ops.push(Op::new(
                Step::RemovePrevious,
                "--previous: a previous container is kept",
            ));
            if work.done.action == "none" || work.done.action == "skipped" {
                let text = format!("{}; previous removed", work.done.text);
                work.done = Finished::new("removed", work.done.state, text);
            } else {
                work.done.text = "removed, and its previous".into();
            }
        }
        work
    }

    /// `restart`: a pull first when asked or needed (so the downtime is only
    /// stop and start), `--only-if-changed` leaving a container that runs
    /// the current image, then the stop, then the start.
    fn restart(&self) -> Work {
        if let Some(proxy) = self
            .proxy
            .filter(|(r, _)| self.running() && start_first(r, self.c))
        {
            return self.restart_proxied(proxy);
        }
        let mut ops = Vec::new();
        let pulled = match self.pull_unless_unchanged(&mut ops) {
            Ok(pulled) => pulled,
            Err(unchanged) => return Work::nothing(unchanged),
        };
        if self.running() {
            self.stop_ops(&mut ops, false, "restart");
        }
        let split = ops.len();
        if !self.options.stop_start_delay.is_zero() {
            ops.push(Op::new(
                Step::Pause(self.options.stop_start_delay),
                "--stop-start-delay",
            ));
        }
        let exists = self.seen.is_some();
        // Kept for a rollback only when the new one runs another image.
        let replaced = if !self.options.keep_previous || self.runs_current_image() && !pulled {
            removed()
        } else {
            self.retired(pulled)
        };
        self.start_ops(
            &mut ops,
            exists,
            self.options.reuse && exists,
            true,
            "restart",
            replaced,
        );
        self.monitored(&mut ops, vec![stop_if_up("it died while watched")]);
        Work {
            split,
            left_between: "stopped, not started again",
            ..Work::of(ops, Finished::new("restarted", "running", "restarted"))
        }
    }

    /// How a replaced container goes: kept as the previous one (unless
    /// `--no-keep`), with `only_if_image_changed` only when a pull may
    /// have changed the image.
    fn retired(&self, only_if_image_changed: bool) -> Op {
        if !self.options.keep_previous {
            return removed();
        }
        let kept = Op::new(
            Step::KeepAsPrevious,
            "replaced by a new one; kept for a rollback",
        );
        if !only_if_image_changed {
            return kept;
        }
        Op::new(
            Step::if_image_changed(
                vec![kept],
                vec![Op::new(
                    Step::Remove { volumes: false },
                    "replaced by a new one of the same image (nothing to roll back to)",
                )],
                None,
            ),
            "pulled: kept for a rollback only if the image changed",
        )
    }

    /// `rollback`: the kept previous container put back in place of the
    /// current one (stopped first), started and checked; nothing to do
    /// without one (unless a dependency is rolled back: see
    /// [`restart_dependents`]).
    fn rollback(&self) -> Work {
        if let (Some(_), Some(proxy), true) = (self.previous, self.proxy, self.running()) {
            return self.rollback_proxied(proxy);
        }
        let Some(_) = self.previous else {
            return Work::nothing(Finished::new(
                "none",
                if self.running() {
                    "running"
                } else {
                    "unchanged"
                },
                "nothing to roll back to",
            ));
        };
        let mut ops = Vec::new();
        if self.running() {
            self.stop_ops(&mut ops, false, "rollback");
        }
        let split = ops.len();
        ops.push(Op::new(Step::Swap, "a previous container is kept"));
        self.checks(Stage::PreStart, &mut ops, "rollback");
        ops.push(Op::new(Step::Start, "rollback"));
        ops.push(confirm());
        self.checks(Stage::Running, &mut ops, "started");
        Work {
            split,
            left_between: "stopped, not started again",
            ..Work::of(ops, Finished::new("rolled back", "running", "rolled back"))
        }
    }

    /// The watch of a replacement after its checks (`monitor`), with its
    /// failure's `follow_up`.
    fn monitored(&self, ops: &mut Vec<Op>, follow_up: Vec<Op>) {
        if let (Some(time), false) = (self.monitor, self.options.unchecked) {
            ops.push(
                Op::new(Step::Monitor(time), "deploy.update_config.monitor").on_failure(follow_up),
            );
        }
    }

    /// A running container's start-first replacement behind the proxy
    /// (after any pull), `why` it is replaced: see [`crate::decide::proxy`].
    fn cut_over(&self, ops: &mut Vec<Op>, (request, route): Proxied<'_>, why: &str) {
        let cut = crate::decide::proxy::cutover(request, route, why);
        ops.extend(cut.before);
        self.checks(Stage::PreStart, ops, why);
        let back = crate::decide::proxy::put_back;
        ops.push(Op::new(Step::Create, why).on_failure(back()));
        ops.push(Op::new(Step::Start, why).on_failure(back()));
        let mut confirm = confirm();
        confirm.on_failure.extend(back());
        ops.push(confirm);
        if !self.c.lifecycle.running.is_empty() && !self.options.unchecked {
            let mut checks = running_checks("started");
            checks.on_failure.extend(back());
            ops.push(checks);
        }
        self.monitored(ops, back());
        ops.extend(cut.after);
    }

    /// A restart's pull (`-r`, or a missing image) and, with
    /// `--only-if-changed` on a running container, its end when the image
    /// is the one it runs: whether it pulled, or the work of a container
    /// left as it is (how it ends).
    fn pull_unless_unchanged(&self, ops: &mut Vec<Op>) -> Result<bool, Finished> {
        let unchanged = Finished::new(
            "none",
            "running",
            "unchanged (already runs the current image)",
        );
        let pulled = self.pull(ops);
        if self.options.only_if_changed && self.running() {
            if pulled {
                ops.push(Op::new(
                    Step::if_image_changed(Vec::new(), Vec::new(), Some(unchanged)),
                    "--only-if-changed",
                ));
            } else if self.runs_current_image() {
                return Err(unchanged);
            }
        }
        Ok(pulled)
    }

    /// `restart` of a running container behind the proxy (replaced
    /// start-first): cut over onto a new container of the same
    /// configuration (with `-r`, of the image just pulled; with
    /// `--only-if-changed`, only when that image changed).
    fn restart_proxied(&self, proxy: Proxied<'_>) -> Work {
        let mut ops = Vec::new();
        if let Err(unchanged) = self.pull_unless_unchanged(&mut ops) {
            return Work::nothing(unchanged);
        }
        self.cut_over(&mut ops, proxy, "restart");
        Work::of(
            ops,
            Finished::new("restarted", "running", "restarted behind the proxy"),
        )
    }

    /// `rollback` of a running container behind the proxy, start first: the
    /// kept one takes the name and is started beside it, must pass its
    /// checks and the proxy's, then the proxy sends it the requests, the
    /// other drains and is stopped (kept, so that a rollback undoes the
    /// rollback). A failure before the switch gives the names back.
    fn rollback_proxied(&self, (request, route): Proxied<'_>) -> Work {
        let back = || {
            vec![Op::new(
                Step::SwapBack,
                "the kept container failed before the proxy sent it anything",
            )]
        };
        let mut ops = vec![
            Op::new(Step::EnsureProxy(request.clone()), "the proxy serves the ship"),
            Op::new(
                Step::Swap,
                "a previous container is kept; the current one serves until it passed the proxy's health check",
            ),
        ];
        self.checks(Stage::PreStart, &mut ops, "rollback");
        ops.push(Op::new(Step::Start, "rollback").on_failure(back()));
        let mut confirm = confirm();
        confirm.on_failure.extend(back());
        ops.push(confirm);
        if !self.c.lifecycle.running.is_empty() && !self.options.unchecked {
            let mut checks = running_checks("started");
            checks.on_failure.extend(back());
            ops.push(checks);
        }
        let cut = crate::decide::proxy::cutover(request, route, "rollback");
        let mut after = cut.after;
        if let Some(gate) = after.first_mut() {
            gate.on_failure = back();
        }
        ops.extend(after);
        Work::of(
            ops,
            Finished::new("rolled back", "running", "rolled back behind the proxy"),
        )
    }

    /// A dependent of a rolled-back container: restarted as it is (stop,
    /// start), after its dependencies are back.
    fn restart_in_place(&self, why: &str) -> Work {
        let mut ops = Vec::new();
        if self.running() {
            self.stop_ops(&mut ops, false, why);
        }
        let split = ops.len();
        self.checks(Stage::PreStart, &mut ops, why);
        ops.push(Op::new(Step::Start, why));
        ops.push(confirm());
        self.checks(Stage::Running, &mut ops, "started");
        Work {
            split,
            left_between: "stopped, not started again",
            ..Work::of(ops, Finished::new("restarted", "running", "restarted"))
        }
    }

    fn runs_current_image(&self) -> bool {
        match (self.seen.and_then(|s| s.image_id.as_deref()), self.image_id) {
            (Some(runs), Some(now)) => runs == now,
            _ => false,
        }
    }

    /// `up`: what the decision takes. A pull (`-r`, or a missing image) comes
    /// first, and a container whose configuration matches is recreated only
    /// if the pulled image differs from the one it runs.
    fn up(&self, action: &Action) -> Work {
        if let Some(proxy) = self.proxy {
            if let Some(work) = self.up_proxied(action, proxy) {
                return work;
            }
        }
        self.up_plain(action)
    }

    fn up_plain(&self, action: &Action) -> Work {
        let mut ops = Vec::new();
        let done = |action: &'static str, text: String| Finished::new(action, "running", text);
        match action {
            Action::Create => {
                self.start_ops(&mut ops, false, false, false, "missing", removed());
                return Work::of(ops, done("created", "created".into()));
            }
            Action::Recreate(reasons) => {
                let pulled = self.pull(&mut ops);
                let why = reasons.join("; ");
                if self.running() {
                    self.stop_ops(&mut ops, false, &why);
                }
                self.start_ops(&mut ops, true, false, pulled, &why, self.retired(false));
                self.monitored(&mut ops, vec![stop_if_up("it died while watched")]);
                let text = format!("recreated ({why})");
                return Work::of(ops, done("recreated", text));
            }
            Action::None | Action::Start => {}
        }
        let pulled = self.pull(&mut ops);
        if matches!(action, Action::Start) {
            // Start it as it is; after a pull, replaced first when the image
            // the ship now has differs from the one it was created from.
            self.checks(Stage::PreStart, &mut ops, "stopped");
            if pulled {
                ops.push(Op::new(
                    Step::if_image_changed(
                        vec![self.retired(false), Op::new(Step::Create, "image updated")],
                        Vec::new(),
                        None,
                    ),
                    "pulled",
                ));
            }
            ops.push(Op::new(Step::Start, "stopped"));
            ops.push(confirm());
            self.checks(Stage::Running, &mut ops, "started");
            return Work::of(ops, done("started", "started".into()));
        }
        let up_to_date = done("none", "up to date".into());
        if !pulled {
            if let Some(why) = self.recheck() {
                ops.push(running_checks(&why));
                return Work::of(ops, done("checked", "up to date, checked again".into()));
            }
            return Work::of(ops, up_to_date);
        }
        // After the pull: recreated if the image changed, else left alone.
        ops.push(Op::new(
            Step::if_image_changed(Vec::new(), Vec::new(), Some(up_to_date)),
            "pulled",
        ));
        if self.running() {
            self.stop_ops(&mut ops, false, "image updated");
        }
        self.start_ops(
            &mut ops,
            true,
            false,
            true,
            "image updated",
            self.retired(false),
        );
        Work::of(ops, done("recreated", "recreated (image updated)".into()))
    }
}

/// `rollback`: a container of the play whose dependencies (in the play) are
/// rolled back, or restarted for that reason, is restarted as it is once
/// they are back — in dependency order, through the restart waits.
fn restart_dependents(
    containers: &[&Container],
    options: &PlayOptions,
    snapshot: &Snapshot,
    before_start: &[Vec<usize>],
    entries: &mut [Entry],
) {
    let acts = |e: &Entry| !e.ops().is_empty();
    loop {
        let mut changed = false;
        for (i, c) in containers.iter().enumerate() {
            if acts(&entries[i]) || !matches!(entries[i], Entry::Work(_)) {
                continue;
            }
            let Some(&j) = before_start[i].iter().find(|&&j| acts(&entries[j])) else {
                continue;
            };
            let Ok(seen) = snapshot.seen(c) else {
                continue;
            };
            let look = Look {
                c,
                seen,
                image_present: true,
                image_id: None,
                previous: None,
                options,
                proxy: None,
                monitor: None,
            };
            let why = format!("{} is rolled back or restarted", containers[j].name);
            entries[i] = Entry::Work(look.restart_in_place(&why));
            changed = true;
        }
        if !changed {
            break;
        }
    }
}

/// Confirming a start, and stopping the container if it keeps exiting.
fn confirm() -> Op {
    Op::new(Step::Confirm, "started").on_failure(vec![stop_if_up("it keeps exiting")])
}

/// The `running` checks, and stopping the container if they fail.
fn running_checks(cause: &str) -> Op {
    Op::new(Step::Checks(Stage::Running), cause)
        .on_failure(vec![stop_if_up("its running checks failed")])
}

/// The follow-up of a failed start: the container stopped if still up.
fn stop_if_up(cause: &str) -> Op {
    Op::new(Step::StopIfUp, cause)
}

/// The plain removal of a replaced container.
fn removed() -> Op {
    Op::new(Step::Remove { volumes: false }, "replaced by a new one")
}

/// Who waits for whom: for each container, the containers of the nearest
/// services in the play along `requires` (looking through services left
/// out of it) — before its start — and, the other way, its dependents —
/// before its stop. Those wait for theirs in turn, so the order is the same
/// as waiting for everything below, at a fraction of the edges.
fn dependency_waits(
    env: &Environment,
    containers: &[&Container],
) -> (Vec<Vec<usize>>, Vec<Vec<usize>>) {
    let n = containers.len();
    let mut before_start: Vec<Vec<usize>> = vec![Vec::new(); n];
    let mut before_stop: Vec<Vec<usize>> = vec![Vec::new(); n];
    let mut by_service: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, c) in containers.iter().enumerate() {
        by_service.entry(c.service.as_str()).or_default().push(i);
    }
    let mut nearest: HashMap<&str, Vec<String>> = HashMap::new();
    for c in containers {
        if nearest.contains_key(c.service.as_str()) {
            continue;
        }
        let mut found = BTreeSet::new();
        let mut seen = HashSet::new();
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
        for dep in nearest.get(c.service.as_str()).into_iter().flatten() {
            for &j in by_service.get(dep.as_str()).into_iter().flatten() {
                before_start[i].push(j);
                before_stop[j].push(i);
            }
        }
    }
    (before_start, before_stop)
}

/// `up` takes one service at a time, in dependency order: each container
/// also waits for every container of the service before it, so a change
/// that recreates many services' containers (a new instance changing
/// `<SVC>_INSTANCES` of all dependents) never takes them all down at once.
fn serialize_services(env: &Environment, containers: &[&Container], waits: &mut [Vec<usize>]) {
    let order =
        crate::decide::rollout::service_order(env, containers.iter().map(|c| c.service.as_str()));
    let position: HashMap<&str, usize> = order.iter().enumerate().map(|(i, s)| (*s, i)).collect();
    let mut by_position: Vec<Vec<usize>> = vec![Vec::new(); order.len()];
    for (i, c) in containers.iter().enumerate() {
        by_position[position[c.service.as_str()]].push(i);
    }
    for k in 1..by_position.len() {
        let (before, after) = by_position.split_at(k);
        for &i in &after[0] {
            for &j in &before[k - 1] {
                if !waits[i].contains(&j) {
                    waits[i].push(j);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use maestro_config::{load, Source};
    use maestro_engine::models::ImageInspect;

    use super::*;
    use crate::observe::snapshot::{SeenState, ShipView};

    const FILE: &str = "
name: t
ships: {a: {ip: 10.0.0.1}, b: {ip: 10.0.0.2}}
services:
  db:
    image: box:1
    instances: {db-1: {ship: a}}
  web:
    image: box:1
    requires: [db]
    lifecycle:
      running: [{type: tcp, port: http}]
      pre-stop: [{type: exec, command: 'true'}]
    ports: {http: 80}
    instances: {web-1: {ship: a}, web-2: {ship: b}}
";

    fn env() -> Environment {
        let src = Source {
            name: "t.yaml".into(),
            base_dir: ".".into(),
            text: FILE.into(),
        };
        load(&src, &Default::default()).expect("valid")
    }

    fn seen(state: SeenState, image_id: &str, hash: Option<&str>) -> Seen {
        Seen {
            id: format!("id-{image_id}-{hash:?}"),
            state,
            status: "Up 3 minutes".into(),
            image: Some("box:1".into()),
            image_id: Some(image_id.into()),
            spec_hash: hash.map(str::to_owned),
            environment: Some("t".into()),
            one_off: false,
        }
    }

    /// A snapshot where ship a and b have `box:1` as `sha256:one` (unless
    /// `image` is `None`: missing) and the given containers.
    fn snapshot(image: Option<&str>, containers: &[(&str, &str, Seen)]) -> Snapshot {
        let mut snapshot = Snapshot::default();
        for ship in ["a", "b"] {
            let mut view = ShipView::default();
            view.images.insert(
                "box:1".into(),
                image.map(|id| {
                    Arc::new(ImageInspect {
                        id: Some(id.into()),
                        ..Default::default()
                    })
                }),
            );
            for (s, name, seen) in containers {
                if *s == ship {
                    view.containers.insert((*name).into(), seen.clone());
                }
            }
            snapshot.ships.insert(ship.into(), Ok(view));
        }
        snapshot
    }

    fn all(env: &Environment) -> Vec<&Container> {
        ["db-1", "web-1", "web-2"]
            .iter()
            .map(|n| &env.containers[*n])
            .collect()
    }

    fn steps(plan: &Plan, i: usize) -> Vec<Step> {
        plan.entries[i]
            .ops()
            .iter()
            .map(|op| op.step.clone())
            .collect()
    }

    /// The operations' names, a branch's as `if image changed then (…) else (…)`.
    fn names(plan: &Plan, i: usize) -> Vec<String> {
        fn name(op: &Op) -> String {
            match &op.step {
                Step::IfImageChanged(b) => {
                    let list = |ops: &[Op]| ops.iter().map(name).collect::<Vec<_>>().join(", ");
                    format!(
                        "if image changed then ({}) else ({})",
                        list(&b.then),
                        list(&b.otherwise)
                    )
                }
                step => step.name(),
            }
        }
        plan.entries[i].ops().iter().map(name).collect()
    }

    fn work<'p>(plan: &'p Plan, i: usize) -> &'p Work {
        match &plan.entries[i] {
            Entry::Work(w) => w,
            Entry::Unknown(why) => panic!("unknown: {why}"),
        }
    }

    fn run(kind: PlayKind, options: &PlayOptions, snap: &Snapshot) -> Plan<'static> {
        // The plan borrows the environment, as long as the test runs.
        let env: &'static Environment = Box::leak(Box::new(env()));
        let containers = all(env);
        let requests = requests(env, &containers, kind, options);
        reconcile(env, &containers, kind, options, snap, requests)
    }

    fn running() -> SeenState {
        SeenState::Running
    }

    fn stopped() -> SeenState {
        SeenState::Stopped {
            exit_code: 0,
            never_started: false,
        }
    }

    #[test]
    fn start_creates_what_is_missing_and_leaves_what_runs() {
        let snap = snapshot(
            Some("sha256:one"),
            &[("a", "db-1", seen(running(), "sha256:one", None))],
        );
        let plan = run(PlayKind::Start, &PlayOptions::default(), &snap);
        assert_eq!(steps(&plan, 0), []);
        assert_eq!(work(&plan, 0).done.text, "up for 3m");
        assert_eq!(
            steps(&plan, 1),
            [
                Step::Create,
                Step::Start,
                Step::Confirm,
                Step::Checks(Stage::Running)
            ]
        );
        assert_eq!(plan.entries[1].ops()[0].cause, "missing");
        // Dependencies first: both web containers wait for db-1.
        assert_eq!(plan.second_waits, vec![vec![], vec![0], vec![0]]);
        assert!(plan.first_waits.iter().all(Vec::is_empty));
    }

    #[test]
    fn start_pulls_a_missing_image_before_removing_the_stopped_container() {
        let snap = snapshot(None, &[("a", "db-1", seen(stopped(), "sha256:old", None))]);
        let plan = run(PlayKind::Start, &PlayOptions::default(), &snap);
        assert_eq!(
            steps(&plan, 0),
            [
                Step::Pull,
                Step::Remove { volumes: false },
                Step::Create,
                Step::Start,
                Step::Confirm
            ]
        );
        assert_eq!(plan.entries[0].ops()[0].cause, "image missing on the ship");
    }

    #[test]
    fn start_with_refresh_pulls_and_with_reuse_keeps_the_container() {
        let snap = snapshot(
            Some("sha256:one"),
            &[("a", "db-1", seen(stopped(), "sha256:one", None))],
        );
        let refresh = PlayOptions {
            refresh_images: true,
            ..Default::default()
        };
        let plan = run(PlayKind::Start, &refresh, &snap);
        assert_eq!(steps(&plan, 0)[0], Step::Pull);
        assert_eq!(plan.entries[0].ops()[0].cause, "-r: refresh the image");
        let reuse = PlayOptions {
            reuse: true,
            ..Default::default()
        };
        let plan = run(PlayKind::Start, &reuse, &snap);
        assert_eq!(steps(&plan, 0), [Step::Start, Step::Confirm]);
    }

    #[test]
    fn stop_and_kill_stop_dependents_first_with_their_checks() {
        let snap = snapshot(
            Some("sha256:one"),
            &[
                ("a", "db-1", seen(running(), "sha256:one", None)),
                ("a", "web-1", seen(running(), "sha256:one", None)),
                ("b", "web-2", seen(stopped(), "sha256:one", None)),
            ],
        );
        let plan = run(PlayKind::Stop, &PlayOptions::default(), &snap);
        assert_eq!(steps(&plan, 0), [Step::Stop]);
        assert_eq!(steps(&plan, 1), [Step::Checks(Stage::PreStop), Step::Stop]);
        assert_eq!(steps(&plan, 2), []);
        assert_eq!(work(&plan, 2).done.text, "down");
        // db-1 waits for both dependents.
        assert_eq!(plan.second_waits, vec![vec![1, 2], vec![], vec![]]);
        let plan = run(PlayKind::Kill, &PlayOptions::default(), &snap);
        assert_eq!(steps(&plan, 1), [Step::Kill]);
        assert_eq!(work(&plan, 1).done.action, "killed");
    }

    #[test]
    fn ignoring_dependencies_waits_for_nobody() {
        let snap = snapshot(Some("sha256:one"), &[]);
        let options = PlayOptions {
            ignore_dependencies: true,
            ..Default::default()
        };
        for kind in [
            PlayKind::Start,
            PlayKind::Stop,
            PlayKind::Restart,
            PlayKind::Up,
        ] {
            let plan = run(kind, &options, &snap);
            assert!(plan.second_waits.iter().all(Vec::is_empty), "{kind:?}");
            assert!(plan.first_waits.iter().all(Vec::is_empty), "{kind:?}");
        }
    }

    #[test]
    fn clean_removes_only_stopped_containers_and_pull_pulls_each() {
        let snap = snapshot(
            Some("sha256:one"),
            &[
                ("a", "db-1", seen(running(), "sha256:one", None)),
                ("a", "web-1", seen(stopped(), "sha256:one", None)),
            ],
        );
        let plan = run(PlayKind::Clean, &PlayOptions::default(), &snap);
        assert_eq!(work(&plan, 0).done.text, "skipped (running)");
        assert_eq!(steps(&plan, 1), [Step::Remove { volumes: true }]);
        assert_eq!(work(&plan, 2).done.text, "absent");
        let plan = run(PlayKind::Pull, &PlayOptions::default(), &snap);
        assert!((0..3).all(|i| steps(&plan, i) == [Step::Pull]));
    }

    #[test]
    fn restart_stops_then_starts_in_two_parts() {
        let snap = snapshot(
            Some("sha256:one"),
            &[
                ("a", "db-1", seen(running(), "sha256:one", None)),
                ("a", "web-1", seen(running(), "sha256:one", None)),
            ],
        );
        let options = PlayOptions {
            stop_start_delay: Duration::from_secs(2),
            ..Default::default()
        };
        let plan = run(PlayKind::Restart, &options, &snap);
        let db = work(&plan, 0);
        assert_eq!(db.split, 1);
        assert_eq!(
            steps(&plan, 0),
            [
                Step::Stop,
                Step::Pause(Duration::from_secs(2)),
                Step::Remove { volumes: false },
                Step::Create,
                Step::Start,
                Step::Confirm
            ]
        );
        assert_eq!(db.left_between, "stopped, not started again");
        // Dependents stop first (db-1's stop waits for theirs), and start last.
        assert_eq!(plan.first_waits, vec![vec![1, 2], vec![], vec![]]);
        assert_eq!(plan.second_waits, vec![vec![], vec![0], vec![0]]);
        // Absent web-2: nothing to stop, created.
        assert_eq!(work(&plan, 2).split, 0);
    }

    #[test]
    fn a_replaced_container_is_kept_as_the_previous_one_unless_told_not_to() {
        let keep = PlayOptions {
            keep_previous: true,
            ..Default::default()
        };
        // restart onto another image (the ship has sha256:two): kept.
        let snap = snapshot(
            Some("sha256:two"),
            &[("a", "db-1", seen(running(), "sha256:one", None))],
        );
        let plan = run(PlayKind::Restart, &keep, &snap);
        assert!(steps(&plan, 0).contains(&Step::KeepAsPrevious));
        // The same image: removed as before; after a pull (-r): decided then.
        let same = snapshot(
            Some("sha256:one"),
            &[("a", "db-1", seen(running(), "sha256:one", None))],
        );
        let plan = run(PlayKind::Restart, &keep, &same);
        assert!(steps(&plan, 0).contains(&Step::Remove { volumes: false }));
        let refresh = PlayOptions {
            refresh_images: true,
            ..keep.clone()
        };
        let plan = run(PlayKind::Restart, &refresh, &same);
        assert!(names(&plan, 0)
            .contains(&"if image changed then (keep as previous) else (remove)".to_owned()));
        // up recreating a changed container: kept; `--no-keep`: removed.
        let changed = snapshot(
            Some("sha256:one"),
            &[("a", "db-1", seen(stopped(), "sha256:one", Some("other")))],
        );
        let plan = run(PlayKind::Up, &keep, &changed);
        assert_eq!(
            steps(&plan, 0),
            [
                Step::KeepAsPrevious,
                Step::Create,
                Step::Start,
                Step::Confirm
            ]
        );
        let plan = run(PlayKind::Up, &PlayOptions::default(), &changed);
        assert_eq!(steps(&plan, 0)[0], Step::Remove { volumes: false });
    }

    #[test]
    fn rollback_swaps_back_what_is_kept_and_restarts_its_dependents() {
        let snap = snapshot(
            Some("sha256:two"),
            &[
                ("a", "db-1", seen(running(), "sha256:two", None)),
                ("a", "db-1.previous", seen(stopped(), "sha256:one", None)),
                ("a", "web-1", seen(running(), "sha256:two", None)),
                ("b", "web-2", seen(stopped(), "sha256:two", None)),
            ],
        );
        let plan = run(PlayKind::Rollback, &PlayOptions::default(), &snap);
        assert_eq!(
            steps(&plan, 0),
            [Step::Stop, Step::Swap, Step::Start, Step::Confirm]
        );
        assert_eq!(work(&plan, 0).split, 1);
        // web-1 (running) is stopped before db-1 and started after it;
        // web-2 (stopped) is started after it. Both keep their container.
        let web1 = steps(&plan, 1);
        assert_eq!(web1.first(), Some(&Step::Checks(Stage::PreStop)));
        assert!(!web1.contains(&Step::Swap) && !web1.contains(&Step::Create));
        assert!(steps(&plan, 2).contains(&Step::Start));
        assert_eq!(plan.first_waits[0], vec![1, 2]);
        assert_eq!(plan.second_waits[1], vec![0]);
        // Nothing kept anywhere: nothing to do.
        let bare = snapshot(
            Some("sha256:two"),
            &[("a", "db-1", seen(running(), "sha256:two", None))],
        );
        let plan = run(PlayKind::Rollback, &PlayOptions::default(), &bare);
        assert!((0..3).all(|i| steps(&plan, i).is_empty()));
        assert_eq!(work(&plan, 0).done.text, "nothing to roll back to");
    }

    #[test]
    fn clean_removes_the_kept_previous_containers_only_when_asked() {
        let snap = snapshot(
            Some("sha256:one"),
            &[
                ("a", "db-1", seen(running(), "sha256:one", None)),
                ("a", "db-1.previous", seen(stopped(), "sha256:one", None)),
            ],
        );
        let plan = run(PlayKind::Clean, &PlayOptions::default(), &snap);
        assert_eq!(steps(&plan, 0), []);
        let previous = PlayOptions {
            clean_previous: true,
            ..Default::default()
        };
        let plan = run(PlayKind::Clean, &previous, &snap);
        assert_eq!(steps(&plan, 0), [Step::RemovePrevious]);
        assert_eq!(
            work(&plan, 0).done.text,
            "skipped (running); previous removed"
        );
    }

    #[test]
    fn a_rolling_restart_or_up_takes_one_batch_at_a_time_dependencies_first() {
        use crate::decide::rollout::{BatchSize, Rollout};
        let snap = snapshot(
            Some("sha256:one"),
            &[
                ("a", "db-1", seen(running(), "sha256:one", None)),
                ("a", "web-1", seen(running(), "sha256:one", None)),
                ("b", "web-2", seen(running(), "sha256:one", None)),
            ],
        );
        let one = PlayOptions {
            rollout: Rollout {
                batch: Some(BatchSize::Count(1)),
                per_ship: false,
                failure_action: None,
            },
            ..Default::default()
        };
        let plan = run(PlayKind::Restart, &one, &snap);
        // db-1, then web-1, then web-2; nobody stops dependents first.
        assert_eq!(plan.batch_waits, vec![vec![], vec![0], vec![1]]);
        assert_eq!(plan.batches, vec![Some(1), Some(2), Some(3)]);
        assert!(plan.first_waits.iter().all(Vec::is_empty));
        assert_eq!(plan.second_waits, vec![vec![], vec![0], vec![0]]);
        let per_ship = PlayOptions {
            rollout: Rollout {
                batch: None,
                per_ship: true,
                failure_action: None,
            },
            ..Default::default()
        };
        let plan = run(PlayKind::Up, &per_ship, &snapshot(Some("sha256:one"), &[]));
        assert_eq!(plan.batch_waits, vec![vec![], vec![0], vec![1]]);
        // Without a rollout, nobody waits for a batch.
        let plan = run(PlayKind::Restart, &PlayOptions::default(), &snap);
        assert!(plan.batch_waits.iter().all(Vec::is_empty));
        assert!(plan.batches.iter().all(Option::is_none));
        // Plays that do not roll ignore it.
        let plan = run(PlayKind::Start, &one, &snap);
        assert!(plan.batch_waits.iter().all(Vec::is_empty));
    }

    #[test]
    fn restart_pulls_before_it_stops_and_only_if_changed_compares_images() {
        let snap = snapshot(
            Some("sha256:one"),
            &[
                ("a", "db-1", seen(running(), "sha256:one", None)),
                ("a", "web-1", seen(running(), "sha256:old", None)),
            ],
        );
        let only = PlayOptions {
            only_if_changed: true,
            ..Default::default()
        };
        let plan = run(PlayKind::Restart, &only, &snap);
        assert_eq!(steps(&plan, 0), []);
        assert_eq!(
            work(&plan, 0).done.text,
            "unchanged (already runs the current image)"
        );
        assert_eq!(steps(&plan, 1)[1], Step::Stop);
        let refresh = PlayOptions {
            only_if_changed: true,
            refresh_images: true,
            ..Default::default()
        };
        let plan = run(PlayKind::Restart, &refresh, &snap);
        let ops = steps(&plan, 0);
        assert_eq!(ops[0], Step::Pull);
        assert!(matches!(
            &ops[1],
            Step::IfImageChanged(b)
                if b.else_done.as_ref().is_some_and(|done| done.text == "unchanged (already runs the current image)")
        ));
        assert_eq!(ops[2], Step::Stop);
        // Nothing pulled again in the start part.
        assert_eq!(ops.iter().filter(|s| **s == Step::Pull).count(), 1);
        let reuse = PlayOptions {
            reuse: true,
            ..Default::default()
        };
        let plan = run(PlayKind::Restart, &reuse, &snap);
        assert_eq!(steps(&plan, 0), [Step::Stop, Step::Start, Step::Confirm]);
    }

    #[test]
    fn up_leaves_matching_containers_and_recreates_changed_ones_service_by_service() {
        let env = env();
        let containers = all(&env);
        let desired = requests(&env, &containers, PlayKind::Up, &Default::default());
        let hash = |i: usize| desired[i].as_ref().and_then(|r| r.spec_hash());
        let snap = snapshot(
            Some("sha256:one"),
            &[
                ("a", "db-1", seen(running(), "sha256:one", hash(0))),
                ("a", "web-1", seen(stopped(), "sha256:one", hash(1))),
                ("b", "web-2", seen(running(), "sha256:old", hash(2))),
            ],
        );
        assert!(needs_inspect(&containers, &snap, &desired).is_empty());
        let plan = reconcile(
            &env,
            &containers,
            PlayKind::Up,
            &PlayOptions::default(),
            &snap,
            desired.clone(),
        );
        assert_eq!(plan.actions[0], Some(Action::None));
        assert_eq!(steps(&plan, 0), []);
        assert_eq!(plan.actions[1], Some(Action::Start));
        assert_eq!(
            steps(&plan, 1),
            [Step::Start, Step::Confirm, Step::Checks(Stage::Running)]
        );
        assert_eq!(
            plan.actions[2],
            Some(Action::Recreate(vec!["image updated".into()]))
        );
        assert_eq!(
            steps(&plan, 2),
            [
                Step::Checks(Stage::PreStop),
                Step::Stop,
                Step::Remove { volumes: false },
                Step::Create,
                Step::Start,
                Step::Confirm,
                Step::Checks(Stage::Running)
            ]
        );
        assert_eq!(plan.entries[2].ops()[1].cause, "image updated");
        assert!(plan.changes_something());
    }

    #[test]
    fn up_inspects_only_containers_whose_hash_differs() {
        let env = env();
        let containers = all(&env);
        let desired = requests(&env, &containers, PlayKind::Up, &Default::default());
        let snap = snapshot(
            Some("sha256:one"),
            &[
                // Made by MaestroNG: no hash.
                ("a", "db-1", seen(running(), "sha256:one", None)),
                (
                    "a",
                    "web-1",
                    seen(
                        running(),
                        "sha256:one",
                        desired[1].as_ref().and_then(|r| r.spec_hash()),
                    ),
                ),
                ("b", "web-2", seen(running(), "sha256:one", Some("2:other"))),
            ],
        );
        assert_eq!(
            needs_inspect(&containers, &snap, &desired),
            vec![
                ("a".to_owned(), "db-1".to_owned()),
                ("b".to_owned(), "web-2".to_owned())
            ]
        );
    }

    #[test]
    fn up_with_refresh_pulls_then_recreates_only_if_the_image_changed() {
        let env = env();
        let containers = all(&env);
        let desired = requests(&env, &containers, PlayKind::Up, &Default::default());
        let snap = snapshot(
            Some("sha256:one"),
            &[
                (
                    "a",
                    "db-1",
                    seen(
                        running(),
                        "sha256:one",
                        desired[0].as_ref().and_then(|r| r.spec_hash()),
                    ),
                ),
                (
                    "a",
                    "web-1",
                    seen(
                        stopped(),
                        "sha256:one",
                        desired[1].as_ref().and_then(|r| r.spec_hash()),
                    ),
                ),
            ],
        );
        let refresh = PlayOptions {
            refresh_images: true,
            ..Default::default()
        };
        let plan = reconcile(
            &env,
            &containers,
            PlayKind::Up,
            &refresh,
            &snap,
            desired.clone(),
        );
        let db = steps(&plan, 0);
        assert_eq!(db[0], Step::Pull);
        assert!(matches!(
            &db[1],
            Step::IfImageChanged(b) if b.else_done.as_ref().is_some_and(|done| done.text == "up to date")
        ));
        assert_eq!(&db[2..4], [Step::Stop, Step::Remove { volumes: false }]);
        // Stopped web-1: remove and create are skipped unless the image changed.
        assert_eq!(
            names(&plan, 1),
            [
                "pull",
                "if image changed then (remove, create) else ()",
                "start",
                "confirm",
                "running checks"
            ]
        );
        // Missing web-2: pulled (after pre-start checks, none) and created.
        assert_eq!(steps(&plan, 2)[0], Step::Pull);
        assert_eq!(steps(&plan, 2)[1], Step::Create);
    }

    #[test]
    fn up_takes_one_service_at_a_time() {
        let snap = snapshot(Some("sha256:one"), &[]);
        let plan = run(PlayKind::Up, &PlayOptions::default(), &snap);
        assert_eq!(plan.second_waits, vec![vec![], vec![0], vec![0]]);
    }

    #[test]
    fn a_ship_that_could_not_be_observed_makes_its_containers_unknown() {
        let mut snap = snapshot(Some("sha256:one"), &[]);
        snap.ships.insert(
            "b".into(),
            Err(maestro_engine::EngineError::Unreachable {
                ship: "b".into(),
                address: "10.0.0.2:2375".into(),
                reason: "connection refused".into(),
            }),
        );
        let plan = run(PlayKind::Start, &PlayOptions::default(), &snap);
        assert!(
            matches!(&plan.entries[2], Entry::Unknown(why) if why.to_string().contains("connection refused"))
        );
        assert!(matches!(plan.entries[1], Entry::Work(_)));
    }
}
