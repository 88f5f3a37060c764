//! What one play does to one container, step by step, through its ship's
//! engine: the per-container halves of start, stop, kill, restart, clean and
//! pull. Each returns the state the container was left in, or why it failed.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use maestro_config::{Check, Container, Environment, Retry, Ship};
use maestro_engine::models::ContainerInspectResponse;
use maestro_engine::{Engine, EngineError, PullProgress};

use crate::checks::{self, CheckTarget};
use crate::drift::Action;
use crate::fleet::Fleet;
use crate::play::{Finished, PlayOptions};
use crate::registry;
use crate::timefmt;
use crate::trace;

/// Everything one container's step needs.
pub(crate) struct Ctx<'a> {
    pub env: &'a Environment,
    pub fleet: &'a Fleet,
    pub container: &'a Container,
    pub options: &'a PlayOptions,
    pub progress: Box<dyn Fn(&str) + Send + Sync + 'a>,
    /// Called when the engine has accepted the container's start (its
    /// dependents may look at theirs while it settles).
    pub started: Box<dyn Fn() + Send + Sync + 'a>,
}

/// How long a started container without `running` checks must stay up
/// before it counts as started, so that one failing at once (a bad command
/// line, a missing file) fails the play before its dependents are created.
/// It lies on the dependency chain (dependents wait for it), so it is kept
/// short: a process that dies of its configuration does so within
/// milliseconds of its start; later deaths are what `running` checks are for.
const SETTLE: Duration = Duration::from_millis(50);

/// How many log lines a failed start shows.
const LOG_LINES_ON_FAILURE: u64 = 15;

impl Ctx<'_> {
    async fn engine(&self) -> Result<Arc<Engine>, String> {
        self.fleet
            .engine(&self.container.ship)
            .await
            .map_err(|e| e.to_string())
    }

    /// The engine, and the container as it has it now (`None`: absent).
    async fn look(&self) -> Result<(Arc<Engine>, Option<ContainerInspectResponse>), String> {
        let engine = self.engine().await?;
        (self.progress)("checking container");
        let found = engine
            .inspect_container(&self.container.name)
            .await
            .map_err(|e| e.to_string())?;
        Ok((engine, found))
    }

    fn ship(&self) -> Result<&Ship, String> {
        self.env
            .ships
            .get(&self.container.ship)
            .ok_or_else(|| format!("ship {} is not in the environment", self.container.ship))
    }

    async fn run_checks(
        &self,
        engine: &Arc<Engine>,
        state: &str,
        list: &[Check],
    ) -> Result<(), String> {
        if list.is_empty() {
            return Ok(());
        }
        (self.progress)(&format!("running {state} checks"));
        let target = EngineTarget {
            engine: engine.clone(),
            name: self.container.name.clone(),
        };
        checks::run_checks(list, self.container, self.ship()?, &target)
            .await
            .map_err(|failure| format!("{state} check failed: {failure}"))
    }
}

/// The engine as seen by `rexec` checks.
struct EngineTarget {
    engine: Arc<Engine>,
    name: String,
}

impl CheckTarget for EngineTarget {
    fn health(
        &self,
    ) -> Pin<Box<dyn Future<Output = Result<Option<checks::Health>, String>> + Send + '_>> {
        Box::pin(async move {
            let found = self
                .engine
                .inspect_container(&self.name)
                .await
                .map_err(|e| e.detail())?
                .ok_or_else(|| format!("{} no longer exists", self.name))?;
            let Some(health) = found.state.and_then(|s| s.health) else {
                return Ok(None);
            };
            Ok(Some(checks::Health {
                status: health
                    .status
                    .map(|s| s.to_string())
                    .unwrap_or_else(|| "starting".into()),
                log: health
                    .log
                    .unwrap_or_default()
                    .into_iter()
                    .filter_map(|entry| entry.output)
                    .collect(),
            }))
        })
    }

    fn exec_in_container<'a>(
        &'a self,
        command: &'a [String],
    ) -> Pin<Box<dyn Future<Output = Result<i64, String>> + Send + 'a>> {
        Box::pin(async move {
            self.engine
                .exec(&self.name, command)
                .await
                .map(|o| o.exit_code)
                .map_err(|e| e.detail())
        })
    }
}

fn is_running(found: &ContainerInspectResponse) -> bool {
    found
        .state
        .as_ref()
        .and_then(|s| s.running)
        .unwrap_or(false)
}

fn started_at(found: &ContainerInspectResponse) -> Option<String> {
    found
        .state
        .as_ref()
        .and_then(|s| s.started_at.as_deref())
        .and_then(timefmt::since)
}

fn exit_code(found: &ContainerInspectResponse) -> i64 {
    found.state.as_ref().and_then(|s| s.exit_code).unwrap_or(-1)
}

/// What a start finds before it acts (read only), kept small since a whole
/// layer of containers may hold one while their dependencies settle.
pub(crate) struct StartLook {
    engine: Arc<Engine>,
    existing: Option<Existing>,
    /// Whether the engine has the image (its error is reported only when
    /// the image is needed).
    image_present: Result<bool, EngineError>,
}

/// The container a start found: running (since when), or not.
enum Existing {
    Running { since: Option<String> },
    NotRunning,
}

/// The read-only half of a start. The image is looked at alongside the
/// container (one round trip instead of two on the dependency chain); its
/// answer is unused when the container runs.
pub(crate) async fn look_for_start(ctx: &Ctx<'_>) -> Result<StartLook, String> {
    let c = ctx.container;
    let engine = ctx.engine().await?;
    (ctx.progress)("checking container");
    let (existing, image) = tokio::join!(
        engine.inspect_container(&c.name),
        engine.inspect_image(&c.image)
    );
    let existing = existing.map_err(|e| e.to_string())?.map(|found| {
        if is_running(&found) {
            Existing::Running {
                since: started_at(&found),
            }
        } else {
            Existing::NotRunning
        }
    });
    Ok(StartLook {
        engine,
        existing,
        image_present: image.map(|found| found.is_some()),
    })
}

/// `start` for one container: nothing when it runs; otherwise a stopped
/// container is replaced by a new one, unless `reuse` keeps it.
pub(crate) async fn start(ctx: &Ctx<'_>, reuse: bool) -> Result<Finished, String> {
    let look = look_for_start(ctx).await?;
    start_after_look(ctx, look, reuse).await
}

/// [`start`] once [`look_for_start`] has looked.
pub(crate) async fn start_after_look(
    ctx: &Ctx<'_>,
    look: StartLook,
    reuse: bool,
) -> Result<Finished, String> {
    let c = ctx.container;
    let StartLook {
        engine,
        existing,
        image_present,
    } = look;
    if let Some(Existing::Running { since }) = existing {
        let text = match since {
            Some(since) => format!("up for {since}"),
            None => "up".into(),
        };
        return Ok(Finished::new("none", "running", text));
    }
    ctx.run_checks(&engine, "pre-start", &c.lifecycle.pre_start)
        .await?;
    let reuse = reuse && existing.is_some();
    if !reuse {
        if existing.is_some() {
            (ctx.progress)("removing the old container");
            engine
                .remove_container(&c.name, false, false)
                .await
                .map_err(|e| e.to_string())?;
        }
        let present = image_present.map_err(|e| e.to_string())?;
        if !present || ctx.options.refresh_images {
            pull_image(ctx, &engine).await?;
        }
        (ctx.progress)("creating container");
        let body = crate::spec::create_body(ctx.env, c);
        engine
            .create_container(&c.name, body)
            .await
            .map_err(|e| e.to_string())?;
    }
    (ctx.progress)("starting container");
    engine
        .start_container(&c.name)
        .await
        .map_err(|e| e.to_string())?;
    (ctx.started)();
    let settled = tokio::time::Instant::now() + SETTLE;
    let mut after = engine
        .inspect_container(&c.name)
        .await
        .map_err(|e| e.to_string())?;
    if c.lifecycle.running.is_empty() && after.as_ref().is_some_and(is_running) {
        // Without running checks nothing else watches it: give a container
        // that fails at once a moment to do so before calling it started
        // (counted from its start, so the first look is part of the wait).
        tokio::time::sleep_until(settled).await;
        after = engine
            .inspect_container(&c.name)
            .await
            .map_err(|e| e.to_string())?;
    }
    match after {
        Some(found) if is_running(&found) => {
            if let Some(why) = crash_looping(&found) {
                let message = with_logs(&engine, &c.name, format!("{} {why}", c.name)).await;
                return Err(stop_crash_loop(ctx, &engine, message).await);
            }
        }
        Some(found) => {
            return Err(with_logs(
                &engine,
                &c.name,
                format!(
                    "{} exited with status {} right after starting",
                    c.name,
                    exit_code(&found)
                ),
            )
            .await)
        }
        None => return Err(format!("{} disappeared right after starting", c.name)),
    }
    if !c.lifecycle.running.is_empty() {
        let checks = ctx.run_checks(&engine, "running", &c.lifecycle.running);
        let death = watch_for_death(&engine, &c.name);
        tokio::select! {
            result = checks => {
                if let Err(reason) = result {
                    let message = with_logs(&engine, &c.name, reason).await;
                    // A container that never passed its checks is not left
                    // running: the next start starts it again and checks again.
                    (ctx.progress)("stopping it: its running checks failed");
                    return Err(stop_after_failure(&engine, c, message, "the next start checks it again").await);
                }
            }
            (died, looping) = death => {
                let message = with_logs(&engine, &c.name, died).await;
                if looping {
                    return Err(stop_crash_loop(ctx, &engine, message).await);
                }
                return Err(message);
            }
        }
    }
    Ok(Finished::new("started", "running", "started"))
}

/// Stops a container whose start failed and says so after `message`
/// (`so_that`: why it is stopped).
async fn stop_after_failure(
    engine: &Engine,
    c: &Container,
    message: String,
    so_that: &str,
) -> String {
    match engine.stop_container(&c.name, c.stop_timeout).await {
        Ok(()) => format!("{message}\n(stopped, so that {so_that})"),
        Err(e) => format!("{message}\n(could not stop it: {})", e.detail()),
    }
}

/// Stops a crash-looping container (its start failed with `message`) so
/// that it does not go on restarting.
async fn stop_crash_loop(ctx: &Ctx<'_>, engine: &Engine, message: String) -> String {
    (ctx.progress)("stopping it: it keeps exiting");
    stop_after_failure(
        engine,
        ctx.container,
        message,
        "it does not go on restarting",
    )
    .await
}

/// Why a container its engine calls running is not up (`None`: it is): it
/// exited and its restart policy is restarting it, a crash loop. A start
/// through the API resets the restart count, so any restart since is one.
fn crash_looping(found: &ContainerInspectResponse) -> Option<String> {
    let restarting = found
        .state
        .as_ref()
        .and_then(|s| s.restarting)
        .unwrap_or(false);
    let restarts = found.restart_count.unwrap_or(0);
    if !restarting && restarts == 0 {
        return None;
    }
    Some(if restarting {
        format!(
            "keeps exiting (last exit status {}) and its restart policy restarts it ({restarts} restarts so far)",
            exit_code(found)
        )
    } else {
        format!("keeps exiting and its restart policy restarts it ({restarts} restarts so far)")
    })
}

/// Resolves when the container stops running, or starts crash-looping:
/// a sentence, and whether it is crash-looping (still there to be stopped).
async fn watch_for_death(engine: &Engine, name: &str) -> (String, bool) {
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        match engine.inspect_container(name).await {
            Ok(Some(found)) if is_running(&found) => {
                if let Some(why) = crash_looping(&found) {
                    return (format!("{name} {why} during its running checks"), true);
                }
            }
            Ok(Some(found)) => {
                return (
                    format!(
                        "{name} died during its running checks (exit status {})",
                        exit_code(&found)
                    ),
                    false,
                )
            }
            Ok(None) => {
                return (
                    format!("{name} was removed during its running checks"),
                    false,
                )
            }
            // An engine hiccup is not a death; the checks' own bounds apply.
            Err(_) => {}
        }
    }
}

/// `message`, followed by the container's last log lines when there are any.
async fn with_logs(engine: &Engine, name: &str, message: String) -> String {
    match engine.logs(name, Some(LOG_LINES_ON_FAILURE)).await {
        Ok(lines) if !lines.is_empty() => {
            let mut text = format!("{message}; its last log lines:");
            for line in lines {
                text.push_str("\n    | ");
                text.push_str(&line.text);
            }
            text
        }
        _ => message,
    }
}

/// Images pulled by this process, by ship: `restart -r` pulls before it
/// stops a container, and the start that follows must not pull again (so
/// the downtime is only stop + start); several containers of one image on
/// one ship pull it once.
static PULLED: Mutex<Vec<(String, String)>> = Mutex::new(Vec::new());

/// Logins done by this process: (ship, registry, who).
static LOGGED_IN: Mutex<Vec<(String, String, String)>> = Mutex::new(Vec::new());

fn already<T: PartialEq>(list: &Mutex<Vec<T>>, item: &T) -> bool {
    list.lock().map(|l| l.contains(item)).unwrap_or(false)
}

fn remember<T: PartialEq>(list: &Mutex<Vec<T>>, item: T) {
    if let Ok(mut l) = list.lock() {
        if !l.contains(&item) {
            l.push(item);
        }
    }
}

/// Runs `call` until it succeeds, fails on a status `retry.when` does not
/// list, or `retry.attempts` are spent; between attempts it waits a second.
/// The error comes with the number of attempts made.
async fn with_retries<F, Fut>(
    ctx: &Ctx<'_>,
    what: &str,
    retry: &Retry,
    mut call: F,
) -> Result<(), (EngineError, u32)>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(), EngineError>>,
{
    let mut attempt = 1;
    loop {
        match call().await {
            Ok(()) => return Ok(()),
            Err(e) => match registry::retry_status(&e, retry) {
                Some(status) if attempt < retry.attempts => {
                    let text = format!(
                        "{what}: got {status}; retrying in 1 s (attempt {} of {})",
                        attempt + 1,
                        retry.attempts
                    );
                    trace::debug(format!("{}: {text}", ctx.container.name));
                    (ctx.progress)(&text);
                    tokio::time::sleep(Duration::from_secs(1)).await;
                    attempt += 1;
                }
                _ => return Err((e, attempt)),
            },
        }
    }
}

/// ` after N attempts` when there were several.
fn attempts_text(n: u32) -> String {
    if n > 1 {
        format!(" after {n} attempts")
    } else {
        String::new()
    }
}

/// `12.1 MB`.
fn megabytes(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1_000_000.0)
}

/// Pulls the container's image on its ship: credentials per
/// [`registry::resolve`], a login through the engine when there are some,
/// then the pull with them, each retried per the registry's `retry`; the
/// progress (percentage of the layers' bytes) goes to the observer.
async fn pull_image(ctx: &Ctx<'_>, engine: &Engine) -> Result<(), String> {
    let c = ctx.container;
    let pulled = (c.ship.clone(), c.image.clone());
    if already(&PULLED, &pulled) {
        trace::debug(format!(
            "{}: {} was pulled on ship {} already",
            c.name, c.image, c.ship
        ));
        return Ok(());
    }
    let retry = registry::retry_for(ctx.env, &c.image);
    let found = registry::resolve(ctx.env, &c.image).await;
    let host = registry::registry_host(&c.image);
    if let (Some(host), Some(creds)) = (host, &found.credentials) {
        let login = (c.ship.clone(), host.to_owned(), creds.who());
        if creds.can_log_in() && !already(&LOGGED_IN, &login) {
            (ctx.progress)(&format!("logging in to {host}"));
            trace::debug(format!(
                "{}: logging in to registry {host} through ship {} with {} from {}",
                c.name,
                c.ship,
                creds.who(),
                creds.source
            ));
            let docker = creds.docker();
            let what = format!("logging in to {host}");
            with_retries(ctx, &what, &retry, || engine.login(&docker))
                .await
                .map_err(|(e, n)| {
                    if registry::refused_credentials(&e) {
                        format!(
                            "registry {host} refused {} from {}{}: credentials are missing or wrong (the registry said: {})",
                            creds.who(),
                            creds.source,
                            attempts_text(n),
                            trace::scrub(&engine_said(&e))
                        )
                    } else {
                        format!(
                            "could not log in to registry {host}{}: {}",
                            attempts_text(n),
                            trace::scrub(&e.detail())
                        )
                    }
                })?;
            remember(&LOGGED_IN, login);
        }
    }
    let credentials = found.credentials.as_ref().map(|c| c.docker());
    let what = format!("pulling image {}", c.image);
    let result = with_retries(ctx, &what, &retry, || {
        (ctx.progress)(&what);
        engine.pull_image(&c.image, credentials.clone(), |p: &PullProgress| {
            if let Some(pct) = (p.current.min(p.total) * 100).checked_div(p.total) {
                (ctx.progress)(&format!(
                    "pulling image {} {pct}% ({} of {})",
                    c.image,
                    megabytes(p.current.min(p.total)),
                    megabytes(p.total)
                ));
            }
        })
    })
    .await;
    match result {
        Ok(()) => {
            remember(&PULLED, pulled);
            Ok(())
        }
        Err((e, n)) => match host {
            Some(host) if registry::refused_credentials(&e) => Err(format!(
                "registry {host} refused to give {}{}: credentials are missing or wrong ({}{}; the registry said: {})",
                c.image,
                attempts_text(n),
                if found.credentials.is_some() { "sent " } else { "" },
                found.describe(),
                trace::scrub(&engine_said(&e))
            )),
            _ => Err(format!(
                "ship {}: could not pull image {}{}: {}",
                c.ship,
                c.image,
                attempts_text(n),
                trace::scrub(&engine_said(&e))
            )),
        },
    }
}

/// What the engine said (its message's first line, without the `ship X:
/// could not pull image Y:` lead), or the whole error when it did not answer.
fn engine_said(error: &EngineError) -> String {
    match error {
        EngineError::Refused { message, .. } if !message.trim().is_empty() => {
            message.trim().lines().next().unwrap_or_default().to_owned()
        }
        other => other.detail(),
    }
}

/// `pull` for one container.
pub(crate) async fn pull(ctx: &Ctx<'_>) -> Result<Finished, String> {
    let engine = ctx.engine().await?;
    pull_image(ctx, &engine).await?;
    Ok(Finished::new("pulled", "unchanged", "pulled"))
}

/// `stop` for one container.
pub(crate) async fn stop(ctx: &Ctx<'_>) -> Result<Finished, String> {
    halt(ctx, false).await
}

/// `kill` for one container.
pub(crate) async fn kill(ctx: &Ctx<'_>) -> Result<Finished, String> {
    halt(ctx, true).await
}

/// Stop (`pre-stop` checks, SIGTERM, the grace period) or kill (SIGKILL, no
/// `pre-stop`) a running container, then run its `stopped` checks.
async fn halt(ctx: &Ctx<'_>, kill: bool) -> Result<Finished, String> {
    let c = ctx.container;
    let (engine, found) = ctx.look().await?;
    let Some(found) = found else {
        return Ok(Finished::new("none", "absent", "absent"));
    };
    if !is_running(&found) {
        return Ok(Finished::new("none", "stopped", "down"));
    }
    if kill {
        (ctx.progress)("killing container");
        engine
            .kill_container(&c.name)
            .await
            .map_err(|e| e.to_string())?;
    } else {
        ctx.run_checks(&engine, "pre-stop", &c.lifecycle.pre_stop)
            .await?;
        (ctx.progress)("stopping container");
        engine
            .stop_container(&c.name, c.stop_timeout)
            .await
            .map_err(|e| e.to_string())?;
    }
    ctx.run_checks(&engine, "stopped", &c.lifecycle.stopped)
        .await?;
    Ok(if kill {
        Finished::new("killed", "stopped", "killed")
    } else {
        Finished::new("stopped", "stopped", "stopped")
    })
}

/// `clean` for one container: remove it (and its anonymous volumes) when stopped.
pub(crate) async fn clean(ctx: &Ctx<'_>) -> Result<Finished, String> {
    let c = ctx.container;
    let (engine, found) = ctx.look().await?;
    let Some(found) = found else {
        return Ok(Finished::new("none", "absent", "absent"));
    };
    if is_running(&found) {
        return Ok(Finished::new("skipped", "running", "skipped (running)"));
    }
    (ctx.progress)("removing container");
    engine
        .remove_container(&c.name, true, false)
        .await
        .map_err(|e| e.to_string())?;
    Ok(Finished::new("removed", "absent", "removed"))
}

/// Before a restart: `-r`, or an image the ship lacks, pulls the image now,
/// before the container is stopped (so the downtime is only stop + start;
/// the start that follows does not pull again), then `--only-if-changed`
/// skips the container when it already runs the ship's current image for
/// its name (the text says so).
pub(crate) async fn prepare_restart(ctx: &Ctx<'_>) -> Result<Option<Finished>, String> {
    let c = ctx.container;
    let engine = ctx.engine().await?;
    let present = if ctx.options.refresh_images {
        None
    } else {
        engine
            .inspect_image(&c.image)
            .await
            .map_err(|e| e.to_string())?
    };
    if present.is_none() {
        pull_image(ctx, &engine).await?;
    }
    if !ctx.options.only_if_changed {
        return Ok(None);
    }
    (ctx.progress)("comparing images");
    let found = engine
        .inspect_container(&c.name)
        .await
        .map_err(|e| e.to_string())?;
    let image = match present {
        Some(image) => Some(image),
        None => engine
            .inspect_image(&c.image)
            .await
            .map_err(|e| e.to_string())?,
    };
    match (found, image) {
        (Some(found), Some(image))
            if is_running(&found) && found.image.is_some() && found.image == image.id =>
        {
            Ok(Some(Finished::new(
                "none",
                "running",
                "unchanged (already runs the current image)",
            )))
        }
        _ => Ok(None),
    }
}

/// `up` for one container: compare it with the file and do only what that
/// takes (create, recreate, start, or nothing).
pub(crate) async fn up(ctx: &Ctx<'_>) -> Result<Finished, String> {
    let c = ctx.container;
    let engine = ctx.engine().await?;
    (ctx.progress)("comparing with the file");
    let mut image = engine
        .inspect_image(&c.image)
        .await
        .map_err(|e| e.to_string())?;
    if image.is_none() || ctx.options.refresh_images {
        pull_image(ctx, &engine).await?;
        image = engine
            .inspect_image(&c.image)
            .await
            .map_err(|e| e.to_string())?;
    }
    let observed = engine
        .inspect_container(&c.name)
        .await
        .map_err(|e| e.to_string())?;
    let body = crate::spec::create_body(ctx.env, c);
    match crate::drift::decide(&body, observed.as_ref(), image.as_ref()) {
        Action::None => Ok(Finished::new("none", "running", "up to date")),
        Action::Start => {
            let done = start(ctx, true).await?;
            Ok(Finished::new("started", done.state, "started"))
        }
        Action::Create => {
            let done = start(ctx, false).await?;
            Ok(Finished::new("created", done.state, "created"))
        }
        Action::Recreate(reasons) => {
            if observed.as_ref().is_some_and(is_running) {
                stop(ctx).await?;
            }
            let done = start(ctx, false).await?;
            Ok(Finished::new(
                "recreated",
                done.state,
                format!("recreated ({})", reasons.join("; ")),
            ))
        }
    }
}
