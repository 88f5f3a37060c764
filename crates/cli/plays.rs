//! The engine commands: `status`, `start`, `stop`, `kill`, `restart`,
//! `clean`, `pull` and `logs`, run on a small async runtime; the work is in
//! `maestro-plays`, this module only renders.

use std::io::Write;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use maestro_config::{Container, Environment};
use maestro_plays::status::{ContainerState, StatusRow};
use maestro_plays::{AbortReason, Fleet, Outcome, PlayKind, PlayOptions};

use crate::output::Failure;
use crate::render::{Palette, PlayView, Table};

fn runtime() -> Result<tokio::runtime::Runtime, Failure> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::Failed(format!("cannot start the async runtime: {e}")))
}

/// Resolves at the first Ctrl-C; a second one ends the process at once.
async fn interrupted() {
    if tokio::signal::ctrl_c().await.is_err() {
        return std::future::pending().await;
    }
    eprintln!(
        "\nInterrupted: no new work will begin; waiting for the calls in flight (Ctrl-C again to quit now)."
    );
    tokio::spawn(async {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("Interrupted again: quitting; containers in flight may be left half-done.");
            std::process::exit(130);
        }
    });
}

pub fn status(
    env: &Environment,
    containers: &[&Container],
    full: bool,
    show_hosts: bool,
    concurrency: Option<usize>,
) -> Result<(), Failure> {
    let fleet = Fleet::new(env);
    let rows: Vec<StatusRow> = runtime()?.block_on(maestro_plays::status::status(
        env,
        &fleet,
        containers,
        full,
        concurrency,
    ));
    let ship_label = |c: &Container| {
        if show_hosts {
            env.ships
                .get(&c.ship)
                .map(|s| s.ip.clone())
                .unwrap_or_default()
        } else {
            c.ship.clone()
        }
    };
    let table = Table::new(containers, ship_label);
    let palette = Palette::for_stdout();
    let id_width = 12
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
    let mut host_down = false;
    for (i, (c, row)) in containers.iter().zip(&rows).enumerate() {
        let (id, state) = match &row.state {
            ContainerState::Running { id, since } => (
                format!("{id}:{}", c.image_tag()),
                palette.green(&match since {
                    Some(s) => format!("running for {s}"),
                    None => "running".into(),
                }),
            ),
            ContainerState::Stopped {
                id,
                since,
                exit_code,
            } => (
                format!("{id}:{}", c.image_tag()),
                palette.red(&match since {
                    Some(s) => format!("down for {s} (exit status {exit_code})"),
                    None => format!("down (exit status {exit_code})"),
                }),
            ),
            ContainerState::Absent => ("-".into(), palette.blue("down")),
            ContainerState::HostDown(_) => {
                host_down = true;
                ("-".into(), palette.red("host down"))
            }
            ContainerState::Error(e) => ("-".into(), palette.red(&format!("error: {e}"))),
        };
        let _ = writeln!(
            out,
            "{}",
            table.row(
                i + 1,
                c,
                &ship_label(c),
                &format!("{id:<id_width$}  {state}")
            )
        );
        if full {
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
    }
    drop(out);
    // Why each unreachable ship is down, once per ship.
    let mut said = std::collections::BTreeSet::new();
    for row in &rows {
        if let ContainerState::HostDown(reason) = &row.state {
            if said.insert(reason.clone()) {
                eprintln!("WARNING: {reason}");
            }
        }
    }
    let _ = host_down;
    Ok(())
}

#[allow(clippy::too_many_arguments)]
pub fn play(
    env: &Environment,
    containers: &[&Container],
    kind: PlayKind,
    options: PlayOptions,
) -> Result<(), Failure> {
    if containers.is_empty() {
        println!("Nothing to {}.", kind.name());
        return Ok(());
    }
    let fleet = Fleet::new(env);
    let started = Instant::now();
    let view = PlayView::new(env, containers);
    let report = runtime()?.block_on(maestro_plays::run_play(
        env,
        &fleet,
        containers,
        kind,
        &options,
        &view,
        interrupted(),
    ));
    drop(view);
    let mut done = 0;
    let mut failed = 0;
    let mut aborted = 0;
    for outcome in &report.outcomes {
        match outcome {
            Outcome::Done(_) => done += 1,
            Outcome::Failed(_) => failed += 1,
            Outcome::Aborted { .. } => aborted += 1,
        }
    }
    let took = format!("{:.1}s", started.elapsed().as_secs_f64());
    let mut summary = format!("{}: {done} done", kind.name());
    if failed > 0 {
        summary.push_str(&format!(", {failed} failed"));
    }
    if aborted > 0 {
        summary.push_str(&format!(", {aborted} aborted"));
    }
    println!("{summary} in {took}.");
    if report.interrupted {
        return Err(Failure::Failed(format!(
            "{} interrupted; each container's state is shown above",
            kind.name()
        )));
    }
    if report.succeeded() {
        return Ok(());
    }
    let first = report
        .outcomes
        .iter()
        .zip(containers)
        .find_map(|(o, c)| match o {
            Outcome::Failed(why) => Some(format!("{}: {why}", c.name)),
            _ => None,
        })
        .unwrap_or_default();
    let reason = if report.outcomes.iter().any(|o| {
        matches!(
            o,
            Outcome::Aborted {
                reason: AbortReason::Failure,
                ..
            }
        )
    }) {
        " (the containers not yet begun were aborted)"
    } else {
        ""
    };
    Err(Failure::Failed(format!(
        "{} failed for {failed} container{}{reason}; first: {first}",
        kind.name(),
        if failed == 1 { "" } else { "s" }
    )))
}

pub fn logs(
    env: &Environment,
    container: &Container,
    follow: bool,
    lines: Option<u64>,
) -> Result<(), Failure> {
    let fleet = Fleet::new(env);
    runtime()?.block_on(async {
        let engine = fleet
            .engine(&container.ship)
            .await
            .map_err(|e| Failure::Failed(e.to_string()))?;
        let name = container.name.as_str();
        if engine
            .inspect_container(name)
            .await
            .map_err(|e| Failure::Failed(e.to_string()))?
            .is_none()
        {
            return Err(Failure::Failed(format!(
                "{name} does not exist on ship {}; start it first",
                container.ship
            )));
        }
        if !follow {
            let lines = engine
                .logs(name, lines)
                .await
                .map_err(|e| Failure::Failed(e.to_string()))?;
            let mut out = std::io::stdout().lock();
            for line in lines {
                if writeln!(out, "{}", line.text).is_err() {
                    break;
                }
            }
            return Ok(());
        }
        // Follow; when the container ends, wait for it (or a new one of the
        // same name) to run again and carry on from there.
        let mut tail = lines;
        let mut seen_id: Option<String> = None;
        loop {
            let found = engine
                .inspect_container(name)
                .await
                .map_err(|e| Failure::Failed(e.to_string()))?;
            let (id, running) = match &found {
                Some(f) => (
                    f.id.clone(),
                    f.state.as_ref().and_then(|s| s.running).unwrap_or(false),
                ),
                None => (None, false),
            };
            let fresh = id.is_some() && id != seen_id;
            if running || fresh {
                let started_at = found
                    .as_ref()
                    .and_then(|f| f.state.as_ref())
                    .and_then(|s| s.started_at.clone());
                let mut stream = Box::pin(engine.follow_logs(name, tail));
                while let Some(item) = stream.next().await {
                    match item {
                        Ok(line) => {
                            let mut out = std::io::stdout().lock();
                            if writeln!(out, "{}", line.text)
                                .and_then(|_| out.flush())
                                .is_err()
                            {
                                return Ok(());
                            }
                        }
                        Err(e) => return Err(Failure::Failed(e.to_string())),
                    }
                }
                seen_id = id;
                // From now on only new output.
                tail = Some(0);
                let _ = started_at;
                // Wait for the next run.
                loop {
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    let again = engine
                        .inspect_container(name)
                        .await
                        .map_err(|e| Failure::Failed(e.to_string()))?;
                    let Some(f) = again else { continue };
                    let running = f.state.as_ref().and_then(|s| s.running).unwrap_or(false);
                    if running {
                        break;
                    }
                }
            } else {
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    })
}
