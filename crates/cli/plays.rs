//! The engine commands: `status`, `plan`, `up`, `start`, `stop`, `kill`,
//! `restart`, `rollback`, `clean`, `pull` and `logs`, run on a small async
//! runtime; the work is in `maestro-plays`, this module only renders.

use std::io::Write;
use std::time::{Duration, Instant};

use maestro_config::{Container, Environment};
use maestro_plays::decide::drift::Action;
use maestro_plays::decide::plan::Op;
use maestro_plays::decide::rollout::BatchPlace;
use maestro_plays::observe::status::{ContainerState, Status, StatusRow};
use maestro_plays::session::converge::{
    self, Orphan, OrphanFate, Planned, Recreates, Unplanned, Verdict,
};
use maestro_plays::session::{self, AfterStep, SessionOptions, SessionReport};
use maestro_plays::{Fleet, Outcome, PlayKind, PlayOptions};

use crate::output::Failure;
use crate::render::{Palette, PlayView, Table};

use crate::runtime;

/// Resolves at the first Ctrl-C; a second one ends the process at once,
/// naming the containers it leaves in flight and the step each was at.
async fn interrupted(in_flight: InFlight) {
    if tokio::signal::ctrl_c().await.is_err() {
        return std::future::pending().await;
    }
    eprintln!(
        "\nInterrupted: no new work will begin; waiting for the calls in flight (Ctrl-C again to quit now)."
    );
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            let left = in_flight.describe();
            if left.is_empty() {
                eprintln!("Interrupted again: quitting.");
            } else {
                eprintln!(
                    "Interrupted again: quitting; these containers were in flight and may be left half-done (run `maestro status` to see them):"
                );
                for line in left {
                    eprintln!("  {line}");
                }
            }
            std::process::exit(130);
        }
    });
}

/// The containers a play is acting on right now and the step each is at,
/// kept for the message of a second Ctrl-C (which cannot wait for the play).
#[derive(Clone, Default)]
struct InFlight(std::sync::Arc<std::sync::Mutex<InFlightMap>>);

/// Play index → (`NAME on ship SHIP`, the step it is at).
type InFlightMap = std::collections::BTreeMap<usize, (String, String)>;

impl InFlight {
    fn update(&self, change: impl FnOnce(&mut InFlightMap)) {
        if let Ok(mut map) = self.0.lock() {
            change(&mut map);
        }
    }

    /// `NAME on SHIP: STEP`, in the play's order.
    fn describe(&self) -> Vec<String> {
        self.0
            .lock()
            .map(|map| {
                map.values()
                    .map(|(who, step)| format!("{who}: {step}"))
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// Passes a play's events on to `inner`, keeping [`InFlight`] up to date.
struct Tracked<'a> {
    inner: &'a dyn maestro_plays::Observer,
    containers: &'a [&'a Container],
    in_flight: InFlight,
}

impl maestro_plays::Observer for Tracked<'_> {
    fn begin(&self, index: usize) {
        if let Some(c) = self.containers.get(index) {
            let who = format!("{} on ship {}", c.name, c.ship);
            self.in_flight.update(|map| {
                map.insert(index, (who, "begun".into()));
            });
        }
        self.inner.begin(index);
    }

    fn progress(&self, index: usize, text: &str) {
        self.in_flight.update(|map| {
            if let Some(entry) = map.get_mut(&index) {
                entry.1 = text.to_owned();
            }
        });
        self.inner.progress(index, text);
    }

    fn finish(&self, index: usize, outcome: &Outcome, elapsed: Duration) {
        self.in_flight.update(|map| {
            map.remove(&index);
        });
        self.inner.finish(index, outcome, elapsed);
    }
}

pub fn status(
    env: &Environment,
    containers: &[&Container],
    full: bool,
    show_hosts: bool,
    concurrency: Option<usize>,
    json: bool,
) -> Result<(), Failure> {
    let fleet = Fleet::new(env);
    let status: Status = runtime()?.block_on(maestro_plays::observe::status::status(
        env,
        &fleet,
        containers,
        full,
        concurrency,
    ));
    if json {
        return status_json(env, containers, &status);
    }
    status_table(env, containers, &status, full, show_hosts);
    warn_hosts_down(&status.rows);
    untrusted(&status.rows)
}

/// `status`'s table: a line per container (its ship by name, or by address
/// with `show_hosts`), with its image and ports under it when `full`, and
/// whether its ship's proxy routes to it when its service is behind the
/// proxy; then a line per ship's proxy and what it routes to.
fn status_table(
    env: &Environment,
    containers: &[&Container],
    status: &Status,
    full: bool,
    show_hosts: bool,
) {
    let ship_name = |ship: &str| {
        if show_hosts {
            env.ships
                .get(ship)
                .map(|s| s.ip.clone())
                .unwrap_or_default()
        } else {
            ship.to_owned()
        }
    };
    let ship_label = |c: &Container| ship_name(&c.ship);
    let table = Table::new(containers, ship_label);
    let palette = Palette::for_stdout();
    let id_width = 7
        + 1
        + containers
            .iter()
            .map(|c| c.image_tag().len())
            .max()
            .unwrap_or(6);
    let mut out = std::io::stdout().lock();
    let _ = writeln!(
        out,
        "{}",
        palette.bold(&table.header(&format!("{:<id_width$}  STATUS", "CONTAINER")))
    );
    for (i, (c, row)) in containers.iter().zip(&status.rows).enumerate() {
        let (id, state) = state_cells(c, &row.state, palette);
        let routing = crate::proxy::routing_suffix(row.routing, palette);
        let _ = writeln!(
            out,
            "{}",
            table.row(
                i + 1,
                c,
                &ship_label(c),
                &format!("{id:<id_width$}  {state}{routing}")
            )
        );
        if full {
            full_lines(&mut out, row, palette);
        }
    }
    crate::proxy::write_proxies(&mut out, &status.proxies, ship_name, palette);
}

/// A container's CONTAINER and STATUS cells: `TAG:ID` as MaestroNG writes
/// it (the image's tag, then the container's id cut to 7 characters), or
/// `-`; and its state, coloured.
fn state_cells(c: &Container, state: &ContainerState, palette: Palette) -> (String, String) {
    let tag_id = |id: &str| format!("{}:{}", c.image_tag(), short_id(id));
    match state {
        ContainerState::Running { id, since } => (
            tag_id(id),
            palette.green(&match since {
                Some(s) => format!("running for {s}"),
                None => "running".into(),
            }),
        ),
        ContainerState::Stopped {
            id,
            since,
            exit_code,
            never_started,
        } => (
            tag_id(id),
            palette.red(&match (since, never_started) {
                (_, true) => "down (created, never started)".to_owned(),
                (Some(s), false) => format!("down for {s} (exit status {exit_code})"),
                (None, false) => format!("down (exit status {exit_code})"),
            }),
        ),
        ContainerState::Restarting {
            id,
            exit_code,
            restarts,
        } => (
            tag_id(id),
            palette.red(&format!(
                "restarting (exit status {exit_code}; {restarts} restarts so far)"
            )),
        ),
        ContainerState::Absent => ("-".into(), palette.blue("down")),
        ContainerState::HostDown(_) => ("-".into(), palette.red("host down")),
        ContainerState::Error(e) => ("-".into(), palette.red(&format!("error: {e}"))),
        ContainerState::Untrusted(_) => ("-".into(), palette.red("host key refused")),
    }
}

/// `status --full`'s lines under a container: its image, and each port with
/// whether it is open.
fn full_lines(out: &mut impl Write, row: &StatusRow, palette: Palette) {
    if let Some(image) = &row.image {
        let _ = writeln!(
            out,
            "        image: {image} ({})",
            row.image_id.as_deref().unwrap_or("?")
        );
    }
    for port in &row.ports {
        let state = match port.open {
            Some(true) => palette.green("open"),
            Some(false) => palette.red("closed"),
            None => "not checked".into(),
        };
        let _ = writeln!(out, "        port {}: {} {state}", port.name, port.external);
    }
}

/// Why each unreachable ship is down, once per ship, on stderr.
fn warn_hosts_down(rows: &[StatusRow]) {
    let mut said = std::collections::BTreeSet::new();
    for row in rows {
        if let ContainerState::HostDown(reason) = &row.state {
            if said.insert(reason.clone()) {
                eprintln!("WARNING: {reason}");
            }
        }
    }
}

/// A ship whose SSH host key was refused fails the command (exit 1), with
/// the first refusal as its one error line.
fn untrusted(rows: &[StatusRow]) -> Result<(), Failure> {
    let mut refused: Vec<&String> = Vec::new();
    for row in rows {
        if let ContainerState::Untrusted(reason) = &row.state {
            if !refused.contains(&reason) {
                refused.push(reason);
            }
        }
    }
    match refused.as_slice() {
        [] => Ok(()),
        [one] => Err(Failure::Failed((*one).clone())),
        [first, rest @ ..] => Err(Failure::Failed(format!(
            "{first} (and the host keys of {} more ships were refused)",
            rest.len()
        ))),
    }
}

pub fn play(
    env: &Environment,
    containers: &[&Container],
    kind: PlayKind,
    options: PlayOptions,
    json: bool,
) -> Result<(), Failure> {
    play_session(env, containers, kind, options, AfterStep::Nothing, json)
}

/// Runs a play session (the library's: lock, auditors, the play, `after`,
/// release) and renders it: the live view or the `--json` document, the
/// after-step's lines, the summary; then the verdict.
pub fn play_session(
    env: &Environment,
    containers: &[&Container],
    kind: PlayKind,
    options: PlayOptions,
    after: AfterStep,
    json: bool,
) -> Result<(), Failure> {
    if containers.is_empty() && !json {
        println!("Nothing to {}.", kind.name());
    }
    let without_lock = crate::lock::no_lock_asked();
    if without_lock && session::takes_lock(env, kind) {
        eprintln!(
            "WARNING: {} is set: playing without the deploy lock of environment {}.",
            crate::lock::NO_LOCK,
            env.name
        );
    }
    let options = SessionOptions {
        kind,
        play: options,
        without_lock,
        command_line: crate::lock::command_line(kind.name()),
        after,
    };
    let fleet = Fleet::new(env);
    let started = Instant::now();
    let runtime = runtime()?;
    let (report, quiet) = if json {
        let quiet = QuietView::new(containers.len());
        let report = run_tracked(&runtime, env, &fleet, containers, &options, &quiet)?;
        (report, Some(quiet))
    } else {
        // MaestroNG numbers a restart's rows as `status` does, though it
        // acts on dependents first; a stop's and a kill's in their order.
        let numbers = if matches!(kind, PlayKind::Restart | PlayKind::Rollback) {
            maestro_plays::decide::selection::forward_numbers(env, containers)
        } else {
            (1..=containers.len()).collect()
        };
        let view = PlayView::new(containers, numbers);
        let report = run_tracked(&runtime, env, &fleet, containers, &options, &view)?;
        drop(view);
        (report, None)
    };
    crate::lock::warn_audit(&report.audit_errors);
    if let Some(e) = &report.release_error {
        eprintln!("WARNING: could not release the deploy lock: {e}");
    }
    let extra = render_after(&report, after, json);
    match &quiet {
        Some(quiet) => print_play_json(env, containers, kind, &report.play, quiet, &extra)?,
        None => {
            let took = format!("{:.1}s", started.elapsed().as_secs_f64());
            println!("{} in {took}.", report.play.summary(kind));
        }
    }
    match report.failure(kind, containers) {
        Some(why) => Err(Failure::Failed(why)),
        None => Ok(()),
    }
}

/// What `--json` adds after the play (`up`: the orphans; `clean`: the
/// objects), the after-step's lines printed on the way without `--json`.
#[derive(Default)]
struct After {
    orphans: Option<serde_json::Value>,
    objects: Option<serde_json::Value>,
    /// Why the after-step failed.
    error: Option<String>,
}

fn render_after(report: &SessionReport, after: AfterStep, json: bool) -> After {
    let mut extra = After {
        error: report.after_error.clone(),
        ..After::default()
    };
    if let Some(orphans) = &report.orphans {
        if after == (AfterStep::Orphans { remove: false }) {
            for e in &orphans.lookup_errors {
                eprintln!("WARNING: cannot look for orphans: {e}");
            }
        }
        extra.orphans = Some(orphan_rows(orphans, json));
    }
    if let Some(objects) = &report.objects {
        extra.objects = Some(object_rows(objects, json));
    }
    extra
}

/// The orphans' rows for `--json`, each said on a line without it.
fn orphan_rows(report: &converge::OrphanReport, json: bool) -> serde_json::Value {
    let mut rows = Vec::new();
    for (o, fate) in &report.orphans {
        let (action, error) = match fate {
            OrphanFate::Removed => ("removed", None),
            OrphanFate::Failed(e) => ("failed", Some(e.to_string())),
            OrphanFate::Left => ("none", None),
        };
        if !json {
            match fate {
                OrphanFate::Removed => {
                    println!("  orphan {} on ship {}: removed", o.name, o.ship)
                }
                OrphanFate::Left => println!(
                    "  orphan {} on ship {} is not in the file; `up --remove-orphans` removes it",
                    o.name, o.ship
                ),
                OrphanFate::Failed(_) => {}
            }
        }
        rows.push(serde_json::json!({
            "name": o.name, "ship": o.ship, "running": o.running,
            "action": action, "error": error,
        }));
    }
    serde_json::Value::Array(rows)
}

/// The networks' and volumes' rows for `--json`, each said on a line without it.
fn object_rows(done: &[maestro_plays::act::objects::Cleaned], json: bool) -> serde_json::Value {
    let mut rows = Vec::new();
    for c in done {
        let (text, error) = match &c.outcome {
            Ok(fate) => (fate.to_string(), None),
            Err(e) => ("failed".to_owned(), Some(e.to_string())),
        };
        if !json {
            println!("  {} {} on ship {}: {text}", c.kind, c.name, c.ship);
        }
        rows.push(serde_json::json!({
            "kind": c.kind, "name": c.name, "ship": c.ship,
            "action": text, "error": error,
        }));
    }
    serde_json::Value::Array(rows)
}

/// Runs the session with `view` told of each container (and the
/// containers in flight kept for a second Ctrl-C), Ctrl-C interrupting it.
fn run_tracked(
    runtime: &tokio::runtime::Runtime,
    env: &Environment,
    fleet: &Fleet,
    containers: &[&Container],
    options: &SessionOptions,
    view: &dyn maestro_plays::Observer,
) -> Result<SessionReport, Failure> {
    let in_flight = InFlight::default();
    let tracked = Tracked {
        inner: view,
        containers,
        in_flight: in_flight.clone(),
    };
    runtime
        .block_on(session::run_session(
            env,
            fleet,
            containers,
            options,
            &tracked,
            interrupted(in_flight),
        ))
        .map_err(|e| Failure::Failed(e.to_string()))
}

pub fn logs(
    env: &Environment,
    container: &Container,
    follow: bool,
    lines: Option<u64>,
) -> Result<(), Failure> {
    let fleet = Fleet::new(env);
    let print = |line: &maestro_engine::LogLine| {
        let mut out = std::io::stdout().lock();
        writeln!(out, "{}", line.text)
            .and_then(|_| out.flush())
            .is_ok()
    };
    let result = runtime()?.block_on(async {
        if follow {
            maestro_plays::direct::logs::follow(&fleet, container, lines, print).await
        } else {
            maestro_plays::direct::logs::tail(&fleet, container, lines, print).await
        }
    });
    result.map_err(|e| Failure::Failed(e.to_string()))
}

/// Records only how long each container took, for `--json`.
struct QuietView {
    elapsed: std::sync::Mutex<Vec<f64>>,
}

impl QuietView {
    fn new(n: usize) -> QuietView {
        QuietView {
            elapsed: std::sync::Mutex::new(vec![0.0; n]),
        }
    }
}

impl maestro_plays::Observer for QuietView {
    fn begin(&self, _index: usize) {}
    fn progress(&self, _index: usize, _text: &str) {}
    fn finish(&self, index: usize, _outcome: &Outcome, elapsed: Duration) {
        if let Ok(mut list) = self.elapsed.lock() {
            if let Some(slot) = list.get_mut(index) {
                *slot = elapsed.as_secs_f64();
            }
        }
    }
}

fn print_json(value: &serde_json::Value) -> Result<(), Failure> {
    crate::output::print_json(value)
}

fn print_play_json(
    env: &Environment,
    containers: &[&Container],
    kind: PlayKind,
    report: &maestro_plays::PlayReport,
    quiet: &QuietView,
    after: &After,
) -> Result<(), Failure> {
    let elapsed = quiet.elapsed.lock().map(|l| l.clone()).unwrap_or_default();
    let rows: Vec<serde_json::Value> = containers
        .iter()
        .zip(&report.outcomes)
        .enumerate()
        .map(|(i, (c, outcome))| {
            let (action, state, detail, error) = match outcome {
                Outcome::Done(done) => (done.action, Some(done.state), done.text.clone(), None),
                Outcome::Failed(why) => ("failed", None, String::new(), Some(why.to_string())),
                Outcome::Aborted { left, .. } => ("aborted", None, left.clone(), None),
            };
            let operations: Vec<String> = report
                .performed
                .get(i)
                .map(|ops| ops.iter().map(|op| op.name()).collect())
                .unwrap_or_default();
            serde_json::json!({
                "name": c.name,
                "service": c.service,
                "ship": c.ship,
                "action": action,
                "state": state,
                "detail": detail,
                "error": error,
                "elapsed": (elapsed.get(i).copied().unwrap_or(0.0) * 1000.0).round() / 1000.0,
                "operations": operations,
            })
        })
        .collect();
    let mut document = serde_json::json!({
        "command": kind.name(),
        "environment": env.name,
        "ok": report.succeeded() && after.error.is_none(),
        "interrupted": report.interrupted,
        "containers": rows,
    });
    if let Some(orphans) = &after.orphans {
        document["orphans"] = orphans.clone();
    }
    if let Some(objects) = &after.objects {
        document["objects"] = objects.clone();
    }
    print_json(&document)
}

/// `plan`: what `up` would do, one line per container; exit 3 when anything
/// would change, 1 when it cannot tell (a container could not be compared, or
/// the orphans could not be looked for).
pub fn plan(
    env: &Environment,
    containers: &[&Container],
    whole: bool,
    concurrency: Option<usize>,
    options: PlayOptions,
    json: bool,
) -> Result<(), Failure> {
    let fleet = Fleet::new(env);
    let runtime = runtime()?;
    let options = PlayOptions {
        concurrency,
        ..options
    };
    let (snapshot, up_plan) = runtime
        .block_on(converge::plan_up(env, &fleet, containers, &options, whole))
        .map_err(|e| Failure::Failed(e.to_string()))?;
    let actions = converge::planned(containers, &snapshot, &up_plan);
    let (orphans, orphan_errors) = if whole {
        converge::orphans_in(env, &snapshot)
    } else {
        (Vec::new(), Vec::new())
    };
    let summary = converge::summarize(containers, &actions, &orphans, &orphan_errors);
    let found = PlanFound {
        containers,
        blast: converge::recreates(env, containers, &actions),
        actions,
        batches: up_plan.batches,
        orphans,
        orphan_errors,
    };
    if json {
        plan_json(env, &found, summary.changes)?;
    } else {
        plan_table(&found, &summary.line);
    }
    match summary.verdict {
        Verdict::NothingToDo => Ok(()),
        Verdict::Changes => Err(Failure::Status(3)),
        Verdict::CannotTell(message) => Err(Failure::Failed(message)),
    }
}

/// What `plan` found, for its JSON document or its table.
struct PlanFound<'a> {
    containers: &'a [&'a Container],
    /// What `up` would do to each container, in `containers` order.
    actions: Vec<Result<Planned, Unplanned>>,
    /// The rollout batch of each container, when `up` rolls.
    batches: Vec<Option<usize>>,
    orphans: Vec<Orphan>,
    /// The ships where the orphans could not be looked for, and why.
    orphan_errors: Vec<String>,
    /// What `up` would recreate, service by service.
    blast: Option<Recreates>,
}

/// `plan --json`: a row per container, the orphans, and what `up` would
/// recreate.
fn plan_json(env: &Environment, found: &PlanFound, changes: bool) -> Result<(), Failure> {
    let rows: Vec<serde_json::Value> = found
        .containers
        .iter()
        .zip(&found.actions)
        .enumerate()
        .map(|(i, (c, a))| {
            let (action, state, reasons, error) = match a {
                Ok(p) => match &p.action {
                    Action::Recreate(r) => ("recreate", Some(p.state), r.clone(), None),
                    other => (other.name(), Some(p.state), Vec::new(), None),
                },
                Err(e) => ("unknown", None, Vec::new(), Some(e.to_string())),
            };
            let operations: Vec<serde_json::Value> = a
                .as_ref()
                .map(|p| p.ops.as_slice())
                .unwrap_or_default()
                .iter()
                .map(Op::to_json)
                .collect();
            serde_json::json!({
                "name": c.name, "service": c.service, "ship": c.ship,
                "state": state, "action": action, "reasons": reasons, "error": error,
                "operations": operations, "batch": found.batches.get(i).copied().flatten(),
            })
        })
        .collect();
    let orphan_rows: Vec<serde_json::Value> = found
        .orphans
        .iter()
        .map(|o| serde_json::json!({"name": o.name, "ship": o.ship, "running": o.running}))
        .collect();
    print_json(&serde_json::json!({
        "command": "plan",
        "environment": env.name,
        "changes": changes,
        "containers": rows,
        "orphans": orphan_rows,
        "recreates": found.blast.as_ref().map(|b| serde_json::json!({
            "containers": b.containers,
            "services": b.services.iter()
                .map(|(s, n)| serde_json::json!({"service": s, "containers": n}))
                .collect::<Vec<_>>(),
        })),
    }))
}

/// `plan`'s table: a line per container with what `up` would do to it, then
/// the orphans, what `up` would recreate (where there is more than the one
/// line to see), and the `summary` line.
fn plan_table(found: &PlanFound, summary: &str) {
    let table = Table::new(found.containers, |c| c.ship.clone());
    let palette = Palette::for_stdout();
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{}", palette.bold(&table.header("ACTION")));
    let services: Vec<&str> = found
        .containers
        .iter()
        .map(|c| c.service.as_str())
        .collect();
    let places = maestro_plays::decide::rollout::places(&found.batches, &services);
    for (i, (c, a)) in found.containers.iter().zip(&found.actions).enumerate() {
        let place = places.get(i).copied().flatten();
        let text = action_cell(c, a, place, palette);
        let _ = writeln!(out, "{}", table.row(i + 1, c, &c.ship, &text));
    }
    for o in &found.orphans {
        let _ = writeln!(
            out,
            "  orphan: {} on ship {} ({}; not in the file: `up --remove-orphans` removes it)",
            o.name,
            o.ship,
            if o.running { "running" } else { "stopped" }
        );
    }
    for e in &found.orphan_errors {
        let _ = writeln!(out, "  orphans: {}", palette.red(&format!("unknown: {e}")));
    }
    // The blast radius, where there is more than the one line to see.
    if let Some(b) = found.blast.as_ref().filter(|b| b.containers > 1) {
        let by_service: Vec<String> = b
            .services
            .iter()
            .map(|(s, n)| format!("{s}: {n}"))
            .collect();
        let _ = writeln!(
            out,
            "  recreates: {} containers of {} service{} ({}); `up` takes one service at a time, in that order",
            b.containers,
            b.services.len(),
            if b.services.len() == 1 { "" } else { "s" },
            by_service.join(", ")
        );
    }
    let _ = writeln!(out, "{summary}");
}

/// The ACTION cell of a container: `none` (and whether its running checks
/// run again), what `up` would do (and in which rollout batch), or why that
/// cannot be told.
fn action_cell(
    c: &Container,
    planned: &Result<Planned, Unplanned>,
    place: Option<BatchPlace>,
    palette: Palette,
) -> String {
    match planned.as_ref().map(|p| (&p.action, &p.ops)) {
        Ok((Action::None, ops)) => match ops
            .iter()
            .find(|op| matches!(op.step, maestro_plays::decide::plan::Step::Checks(_)))
        {
            // Nothing changes, but its running checks run again.
            Some(op) => format!("none; its running checks run again ({})", op.cause),
            None => "none".to_owned(),
        },
        Ok((other, ops)) => {
            let what = other.describe() + &hooks_run(ops);
            match place {
                Some(p) => palette.yellow(&format!(
                    "{what} (batch {} of {}; {}'s {} of {})",
                    p.number, p.of, c.service, p.in_service, p.of_service
                )),
                None => palette.yellow(&what),
            }
        }
        Err(e) => palette.red(&format!("unknown: {e}")),
    }
}

/// `; pre_deploy hook `migrate` first`, `; post_deploy hook `notify` after`:
/// the deploy hooks among a container's operations.
fn hooks_run(ops: &[maestro_plays::decide::plan::Op]) -> String {
    use maestro_plays::decide::plan::{HookPhase, Step};
    ops.iter()
        .filter_map(|op| match &op.step {
            Step::Hook(run) => Some(format!(
                "; {} hook `{}` {}",
                run.phase.name(),
                run.command.join(" "),
                match run.phase {
                    HookPhase::PreDeploy => "first",
                    HookPhase::PostDeploy => "after",
                }
            )),
            _ => None,
        })
        .collect()
}

/// `clean --networks` / `--volumes`: the clean play, then the objects; each
/// said on a line (in `--json`, as `objects`), a failure failing the command.
pub fn clean_objects(
    env: &Environment,
    containers: &[&Container],
    options: PlayOptions,
    (networks, volumes): (bool, bool),
    json: bool,
) -> Result<(), Failure> {
    let after = AfterStep::Objects { networks, volumes };
    play_session(env, containers, PlayKind::Clean, options, after, json)
}

/// `up` (and `start --converge`): the play, then, for the whole file, the
/// orphans. When the orphans cannot be looked for on a ship, `up
/// --remove-orphans` fails (it could not do what it was asked); plain
/// `up`, which only mentions them, warns.
pub fn up(
    env: &Environment,
    containers: &[&Container],
    whole: bool,
    options: PlayOptions,
    remove_orphans: bool,
    json: bool,
) -> Result<(), Failure> {
    let after = if whole {
        AfterStep::Orphans {
            remove: remove_orphans,
        }
    } else {
        AfterStep::Nothing
    };
    play_session(env, containers, PlayKind::Up, options, after, json)
}

fn status_json(
    env: &Environment,
    containers: &[&Container],
    status: &Status,
) -> Result<(), Failure> {
    let list: Vec<serde_json::Value> = containers
        .iter()
        .zip(&status.rows)
        .map(|(c, row)| {
            let (state, id, since, exit_code, error) = crate::render::state_fields(&row.state);
            let ports: Vec<serde_json::Value> = row
                .ports
                .iter()
                .map(
                    |p| serde_json::json!({"name": p.name, "external": p.external, "open": p.open}),
                )
                .collect();
            serde_json::json!({
                "name": c.name,
                "service": c.service,
                "ship": c.ship,
                "ship_ip": env.ships.get(&c.ship).map(|s| s.ip.clone()),
                "state": state,
                "action": "none",
                "error": error,
                "id": id,
                "since": since,
                "exit_code": exit_code,
                "never_started": matches!(row.state, ContainerState::Stopped { never_started: true, .. }),
                "image": row.image,
                "image_id": row.image_id,
                "ports": ports,
                "routed": crate::proxy::routed_json(row.routing),
            })
        })
        .collect();
    print_json(&serde_json::json!({
        "command": "status",
        "environment": env.name,
        "containers": list,
        "proxies": crate::proxy::proxies_json(&status.proxies),
    }))?;
    untrusted(&status.rows)
}

/// A container id cut to 7 characters, as MaestroNG shows it.
fn short_id(id: &str) -> &str {
    id.char_indices().nth(7).map_or(id, |(i, _)| &id[..i])
}
