//! The single engine operations of a plan, one function each (pull, checks,
//! remove, create, start, confirm, stop, kill, the image comparison, and the
//! follow-ups of a failure: stop if still up, the last log lines), run by
//! the executor on one container through its ship's engine; each returns
//! `Ok` or a typed [`Failure`]. They decide nothing the plan does not say.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use maestro_config::{Check, Container, Environment, Retry, Ship};
use maestro_engine::models::ContainerInspectResponse;
use maestro_engine::{Engine, EngineError, PullProgress};
use tokio::sync::OnceCell;
use tokio::time::Instant;

use crate::act::checks::{self, CheckTarget, TargetError};
use crate::act::failure::Failure;
use crate::act::registry::{self, PullFailure};
use crate::decide::plan::{Creation, Delivery, Stage};
use crate::trace;

/// What the operations of one play share: the pulls and logins done so
/// far, so that several containers of one image on one ship pull it once
/// (the first pull's result is every one's), a login is done once per
/// ship, registry and user, and credentials are looked up once per
/// registry. Per play, never per process.
#[derive(Default)]
pub(crate) struct Shared {
    pulls: Mutex<HashMap<(String, String), Arc<PullOnce>>>,
    logins: Mutex<HashSet<(String, String, String)>>,
    /// Credentials found so far, by registry (helpers for different
    /// registries run at once; one registry's helper runs once).
    credentials: registry::CredentialCache,
    /// Networks and volumes made so far, by ship.
    objects: crate::act::objects::Once,
}

/// One pull of one image on one ship: its result, once it is done.
type PullOnce = OnceCell<Result<(), PullFailure>>;

impl Shared {
    fn pull_cell(&self, ship: &str, image: &str) -> Arc<PullOnce> {
        match self.pulls.lock() {
            Ok(mut pulls) => pulls
                .entry((ship.to_owned(), image.to_owned()))
                .or_default()
                .clone(),
            Err(_) => Arc::default(),
        }
    }

    fn logged_in(&self, login: &(String, String, String)) -> bool {
        self.logins
            .lock()
            .map(|l| l.contains(login))
            .unwrap_or(false)
    }

    fn remember_login(&self, login: (String, String, String)) {
        if let Ok(mut l) = self.logins.lock() {
            l.insert(login);
        }
    }
}

/// Everything one container's operations need.
pub(crate) struct Ctx<'a> {
    pub env: &'a Environment,
    pub container: &'a Container,
    pub shared: &'a Shared,
    pub engine: Arc<Engine>,
    pub progress: Box<dyn Fn(&str) + Send + Sync + 'a>,
}

/// How long a started container without `running` checks must stay up
/// before it counts as started, so that one failing at once (a bad command
/// line, a missing file) fails the play before its dependents are created.
/// It lies on the dependency chain (dependents wait for it), so it is kept
/// short: a process that dies of its configuration does so within
/// milliseconds of its start; later deaths are what `running` checks are
/// for. Counted from the start call, and at least [`SETTLE_AFTER`] after
/// the engine's answer (a real engine answers once the process runs).
const SETTLE: Duration = Duration::from_millis(40);
const SETTLE_AFTER: Duration = Duration::from_millis(25);

/// How many log lines a failed start shows.
const LOG_LINES_ON_FAILURE: u64 = 15;

impl Ctx<'_> {
    fn ship(&self) -> Result<&Ship, Failure> {
        self.env
            .ships
            .get(&self.container.ship)
            .ok_or_else(|| Failure::NoShip(self.container.ship.clone()))
    }

    async fn run_checks(&self, state: &'static str, list: &[Check]) -> Result<(), Failure> {
        if list.is_empty() {
            return Ok(());
        }
        (self.progress)(&format!("running its `{state}` checks"));
        let target = EngineTarget {
            engine: self.engine.clone(),
            name: self.container.name.clone(),
        };
        checks::run_checks(list, self.container, self.ship()?, &target)
            .await
            .map_err(|failure| Failure::Check {
                stage: state,
                failure,
            })
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
    ) -> Pin<Box<dyn Future<Output = Result<Option<checks::Health>, TargetError>> + Send + '_>>
    {
        Box::pin(async move {
            let found = self
                .engine
                .inspect_container_state(&self.name)
                .await?
                .ok_or_else(|| TargetError::Gone(self.name.clone()))?;
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
    ) -> Pin<Box<dyn Future<Output = Result<i64, TargetError>> + Send + 'a>> {
        Box::pin(async move {
            let output = self.engine.exec(&self.name, command).await?;
            Ok(output.exit_code)
        })
    }
}

pub(crate) fn is_running(found: &ContainerInspectResponse) -> bool {
    found
        .state
        .as_ref()
        .and_then(|s| s.running)
        .unwrap_or(false)
}

fn exit_code(found: &ContainerInspectResponse) -> i64 {
    found.state.as_ref().and_then(|s| s.exit_code).unwrap_or(-1)
}

/// The container's checks of `stage`; for `running` checks, the container
/// is watched meanwhile: a death or a crash loop fails them too.
pub(crate) async fn checks(ctx: &Ctx<'_>, stage: Stage) -> Result<(), Failure> {
    let c = ctx.container;
    let list = match stage {
        Stage::PreStart => &c.lifecycle.pre_start,
        Stage::Running => &c.lifecycle.running,
        Stage::PreStop => &c.lifecycle.pre_stop,
        Stage::Stopped => &c.lifecycle.stopped,
    };
    if stage != Stage::Running {
        return ctx.run_checks(stage.name(), list).await;
    }
    tokio::select! {
        result = ctx.run_checks("running", list) => result,
        died = watch_for_death(&ctx.engine, &c.name) => Err(died),
    }
}

/// Removes the container (`volumes`: its anonymous volumes too).
pub(crate) async fn remove(ctx: &Ctx<'_>, volumes: bool) -> Result<(), Failure> {
    (ctx.progress)(if volumes {
        "removing container"
    } else {
        "removing the old container"
    });
    ctx.engine
        .remove_container(&ctx.container.name, volumes, false)
        .await
        .map_err(Failure::from)
}

/// Replaces the (stopped) container: kept as `NAME.previous` for a
/// rollback, the one kept before removed.
pub(crate) async fn keep_as_previous(ctx: &Ctx<'_>) -> Result<(), Failure> {
    let name = &ctx.container.name;
    let kept = crate::previous::kept_name(name);
    (ctx.progress)("keeping the old container as the previous one");
    ctx.engine
        .remove_container(&kept, false, false)
        .await
        .map_err(|error| Failure::KeptNotRemoved {
            kept: kept.clone(),
            error,
        })?;
    ctx.engine.rename_container(name, &kept).await?;
    Ok(())
}

/// `rollback`: the container and its kept previous one trade names (the
/// current one, if any, becomes the previous one).
pub(crate) async fn swap(ctx: &Ctx<'_>) -> Result<(), Failure> {
    let name = &ctx.container.name;
    let kept = crate::previous::kept_name(name);
    let aside = crate::previous::swapping_name(name);
    (ctx.progress)("putting the previous container back");
    let engine = &ctx.engine;
    let had_current = engine.rename_container(name, &aside).await?;
    if !engine.rename_container(&kept, name).await? {
        if had_current {
            engine.rename_container(&aside, name).await?;
        }
        return Err(Failure::KeptGone {
            kept,
            name: name.clone(),
        });
    }
    if had_current {
        engine.rename_container(&aside, &kept).await?;
    }
    Ok(())
}

/// Removes the container's kept previous one (`clean --previous`).
pub(crate) async fn remove_previous(ctx: &Ctx<'_>) -> Result<(), Failure> {
    (ctx.progress)("removing the previous container");
    let kept = crate::previous::kept_name(&ctx.container.name);
    ctx.engine.remove_container(&kept, true, false).await?;
    Ok(())
}

/// Creates the container with the plan's request, then joins it to its
/// networks after the first.
pub(crate) async fn create(ctx: &Ctx<'_>, request: &Creation) -> Result<(), Failure> {
    (ctx.progress)("creating container");
    let name = &ctx.container.name;
    if let Some(unread) = request.secrets.iter().find(|d| d.value.is_none()) {
        return Err(Failure::SecretUnread {
            name: name.clone(),
            secret: unread.source.clone(),
        });
    }
    ctx.engine
        .create_container_json(name, request.platform.as_deref(), || {
            request.body(ctx.container)
        })
        .await?;
    // Boxed, as most creations deliver no file and join one network: a
    // creation waiting for its engine call holds pointers.
    if !request.secrets.is_empty() {
        Box::pin(put_secret_files(&ctx.engine, name, &request.secrets)).await?;
    }
    if !request.connect.is_empty() {
        Box::pin(crate::act::objects::connect_rest(
            &ctx.engine,
            name,
            &request.connect,
        ))
        .await?;
    }
    Ok(())
}

/// Writes the secrets `request` delivers as files into the container just
/// created as `name`; when that fails, the container is removed, so that
/// no container stays that would start without them.
pub(crate) async fn put_secret_files(
    engine: &Engine,
    name: &str,
    secrets: &[Delivery],
) -> Result<(), Failure> {
    let files = crate::decide::spec::files(secrets);
    if files.is_empty() {
        return Ok(());
    }
    if let Err(error) = engine.put_files(name, &files).await {
        // Best effort: the failure says what matters either way.
        let _ = engine.remove_container(name, true, true).await;
        return Err(Failure::SecretsNotWritten {
            name: name.to_owned(),
            error,
        });
    }
    Ok(())
}

/// Creates a network or volume the container needs (once per ship and
/// object in a play).
pub(crate) async fn create_object(
    ctx: &Ctx<'_>,
    request: crate::act::objects::ObjectCreate<'_>,
) -> Result<(), Failure> {
    let (kind, key, _) = request.names();
    (ctx.progress)(&format!("creating {kind} {key}"));
    crate::act::objects::create_object(&ctx.engine, &ctx.shared.objects, request).await?;
    Ok(())
}

/// Starts the container; when the start call was sent.
pub(crate) async fn start(ctx: &Ctx<'_>) -> Result<Instant, Failure> {
    (ctx.progress)("starting container");
    let sent = Instant::now();
    ctx.engine.start_container(&ctx.container.name).await?;
    Ok(sent)
}

/// After the start (sent at `sent`): the container is up, not exited nor
/// crash-looping. Without `running` checks it is looked at once it has
/// settled; with them at once (the checks watch it from then on).
pub(crate) async fn confirm(ctx: &Ctx<'_>, sent: Option<Instant>) -> Result<(), Failure> {
    let c = ctx.container;
    let engine = &ctx.engine;
    if c.lifecycle.running.is_empty() {
        let now = Instant::now();
        let settled = sent
            .map_or(now + SETTLE, |sent| sent + SETTLE)
            .max(now + SETTLE_AFTER);
        tokio::time::sleep_until(settled).await;
    }
    match engine.inspect_container_state(&c.name).await? {
        Some(found) if is_running(&found) => match crash_looping(&found) {
            Some(why) => Err(Failure::CrashLoop {
                name: c.name.clone(),
                why,
                during_checks: false,
            }),
            None => Ok(()),
        },
        Some(found) => Err(Failure::ExitedAtStart {
            name: c.name.clone(),
            status: exit_code(&found),
        }),
        None => Err(Failure::GoneAtStart {
            name: c.name.clone(),
        }),
    }
}

/// Stops (SIGTERM, then the grace period) or kills (SIGKILL) the container.
pub(crate) async fn halt(ctx: &Ctx<'_>, kill: bool) -> Result<(), Failure> {
    let c = ctx.container;
    if kill {
        (ctx.progress)("killing container");
        ctx.engine.kill_container(&c.name).await?;
    } else {
        (ctx.progress)("stopping container");
        ctx.engine.stop_container(&c.name, c.stop_timeout).await?;
    }
    Ok(())
}

/// Whether the image the ship has now for the container's image name
/// differs from the one the container was created from (`runs`; `None`:
/// there is no container).
pub(crate) async fn image_changed(ctx: &Ctx<'_>, runs: Option<&str>) -> Result<bool, Failure> {
    (ctx.progress)("comparing images");
    let now = ctx.engine.inspect_image(&ctx.container.image).await?;
    Ok(match (now.and_then(|i| i.id), runs) {
        (Some(now), Some(runs)) => now != runs,
        _ => true,
    })
}

/// The follow-up of `failure`: a container it left up (it failed its
/// running checks, or keeps exiting and restarting) is stopped, so that the
/// next start checks it again, or it does not go on restarting.
pub(crate) async fn stop_if_up(ctx: &Ctx<'_>, failure: Failure) -> Failure {
    if !failure.left_up() {
        return failure;
    }
    let c = ctx.container;
    let so_that = failure.stopped_so_that();
    (ctx.progress)(match failure {
        Failure::CrashLoop { .. } => "stopping it: it keeps exiting",
        _ => "stopping it: its running checks failed",
    });
    match ctx.engine.stop_container(&c.name, c.stop_timeout).await {
        Ok(()) => Failure::Stopped {
            failure: Box::new(failure),
            so_that,
        },
        Err(error) => Failure::NotStopped {
            failure: Box::new(failure),
            error,
        },
    }
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

/// Watches the container for `time` after its checks passed: its death
/// or a crash loop in that time fails it.
pub(crate) async fn monitor(ctx: &Ctx<'_>, time: Duration) -> Result<(), Failure> {
    (ctx.progress)(&format!(
        "watching it for {}",
        crate::timefmt::short_duration(time.as_secs_f64())
    ));
    tokio::select! {
        () = tokio::time::sleep(time) => {}
        failure = watch_for_death(&ctx.engine, &ctx.container.name) => return Err(failure),
    }
    // The last look, at the end of the time.
    match ctx
        .engine
        .inspect_container_state(&ctx.container.name)
        .await?
    {
        Some(found) if is_running(&found) => Ok(()),
        Some(found) => Err(Failure::DiedDuringChecks {
            status: exit_code(&found),
            name: ctx.container.name.clone(),
        }),
        None => Err(Failure::RemovedDuringChecks {
            name: ctx.container.name.clone(),
        }),
    }
}

/// Resolves when the container stops running, or starts crash-looping.
async fn watch_for_death(engine: &Engine, name: &str) -> Failure {
    let name = name.to_owned();
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        match engine.inspect_container_state(&name).await {
            Ok(Some(found)) if is_running(&found) => {
                if let Some(why) = crash_looping(&found) {
                    return Failure::CrashLoop {
                        name,
                        why,
                        during_checks: true,
                    };
                }
            }
            Ok(Some(found)) => {
                return Failure::DiedDuringChecks {
                    status: exit_code(&found),
                    name,
                }
            }
            Ok(None) => return Failure::RemovedDuringChecks { name },
            // An engine hiccup is not a death; the checks' own bounds apply.
            Err(_) => {}
        }
    }
}

/// `failure`, with the container's last log lines when it shows them and
/// there are any.
pub(crate) async fn with_logs(ctx: &Ctx<'_>, failure: Failure) -> Failure {
    if !failure.shows_logs() {
        return failure;
    }
    match ctx
        .engine
        .logs(&ctx.container.name, Some(LOG_LINES_ON_FAILURE))
        .await
    {
        Ok(lines) if !lines.is_empty() => Failure::WithLogs {
            failure: Box::new(failure),
            lines: lines.into_iter().map(|l| l.text).collect(),
        },
        _ => failure,
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

/// `12.1 MB`.
fn megabytes(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1_000_000.0)
}

/// Pulls the container's image on its ship, once per play: a second
/// container of the same image on the same ship waits for the first's pull
/// and shares its result.
pub(crate) async fn pull(ctx: &Ctx<'_>) -> Result<(), Failure> {
    let c = ctx.container;
    let cell = ctx.shared.pull_cell(&c.ship, &c.image);
    if cell.initialized() {
        trace::debug(format!(
            "{}: {} was pulled on ship {} already",
            c.name, c.image, c.ship
        ));
    }
    cell.get_or_init(|| pull_image(ctx))
        .await
        .clone()
        .map_err(Failure::Pull)
}

/// Pulls the container's image on its ship: credentials per
/// the play's [`registry::CredentialCache`], a login through the engine when there are some,
/// then the pull with them, each retried per the registry's `retry`; the
/// progress (percentage of the layers' bytes) goes to the observer.
async fn pull_image(ctx: &Ctx<'_>) -> Result<(), PullFailure> {
    let c = ctx.container;
    let engine = &ctx.engine;
    let retry = registry::retry_for(ctx.env, &c.image);
    let found = ctx.shared.credentials.resolve(ctx.env, &c.image).await;
    let host = registry::registry_host(&c.image);
    if let (Some(host), Some(creds)) = (host, &found.credentials) {
        let login = (c.ship.clone(), host.to_owned(), creds.who());
        if creds.can_log_in() && !ctx.shared.logged_in(&login) {
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
                .map_err(|(e, attempts)| {
                    let said = trace::scrub(&engine_said(&e));
                    if registry::refused_credentials(&e) {
                        PullFailure::LoginRefused {
                            host: host.to_owned(),
                            who: creds.who(),
                            from: creds.source.to_string(),
                            attempts,
                            said,
                        }
                    } else {
                        PullFailure::Login {
                            host: host.to_owned(),
                            attempts,
                            said,
                        }
                    }
                })?;
            ctx.shared.remember_login(login);
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
    let Err((e, attempts)) = result else {
        return Ok(());
    };
    let said = trace::scrub(&engine_said(&e));
    Err(match host {
        Some(host) if registry::refused_credentials(&e) => PullFailure::ImageRefused {
            host: host.to_owned(),
            image: c.image.clone(),
            attempts,
            sent: found.credentials.is_some(),
            found: found.describe(),
            said,
        },
        _ => PullFailure::Pull {
            ship: c.ship.clone(),
            image: c.image.clone(),
            attempts,
            said,
        },
    })
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

/// Pulls `container`'s image on `engine`'s ship when the ship lacks it,
/// logging in as a play's pull does; `progress` hears what happens.
pub async fn ensure_image(
    env: &Environment,
    container: &Container,
    engine: Arc<Engine>,
    progress: impl Fn(&str) + Send + Sync,
) -> Result<(), Failure> {
    if engine.inspect_image(&container.image).await?.is_some() {
        return Ok(());
    }
    let shared = Shared::default();
    let ctx = Ctx {
        env,
        container,
        shared: &shared,
        engine,
        progress: Box::new(progress),
    };
    pull(&ctx).await
}
