//! A play session, the whole of a state-changing command: the port clash
//! check, the deploy lock, the auditors told it begins, the play itself
//! (observe → decide → act, in run), the after-step (orphans for `up`,
//! networks and volumes for `clean`), the auditors told how it ended, the
//! lock released — one function returning a typed report; a front end
//! renders it.
//!
//! May import: everything in the crate.

pub mod audit;
pub mod converge;
pub mod lock;
pub mod revert;
pub mod run;

use maestro_config::{Container, Environment};

use crate::act::execute::PlayReport;
use crate::act::objects::Cleaned;
use crate::act::outcome::Observer;
use crate::decide::play::{PlayKind, PlayOptions};
use crate::observe::fleet::Fleet;
use crate::session::audit::{AuditError, Trail};
use crate::session::converge::OrphanReport;
use crate::session::lock::{Holder, LockError};

/// What runs after the play itself, unless it was interrupted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum AfterStep {
    #[default]
    Nothing,
    /// `up` of the whole file: look for orphans, and remove them when asked.
    Orphans { remove: bool },
    /// `clean --networks` / `--volumes`.
    Objects { networks: bool, volumes: bool },
}

/// How a session runs.
#[derive(Debug, Clone)]
pub struct SessionOptions {
    pub kind: PlayKind,
    pub play: PlayOptions,
    /// Play without the deploy lock (the operator said so, e.g. because the
    /// lock's ship is down).
    pub without_lock: bool,
    /// The command line, told to whoever finds the lock held.
    pub command_line: String,
    pub after: AfterStep,
}

/// Why a session did not play at all.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// Two containers of the play would publish one host port on one ship.
    #[error("{0}")]
    Clash(crate::decide::clash::PortClash),
    /// The deploy lock could not be taken.
    #[error("{0}")]
    Lock(#[from] LockError),
    /// An auditor without `ignore_errors` refused the announcement.
    #[error("{0}")]
    Refused(audit::Refused),
    /// A secret the containers receive could not be read (nothing was
    /// done, the lock not taken).
    #[error("{0}")]
    Secret(#[from] crate::observe::secrets::SecretError),
}

/// What a session did.
#[derive(Debug)]
pub struct SessionReport {
    pub play: PlayReport,
    /// Whether the deploy lock was taken (and released at the end).
    pub locked: bool,
    /// The lock could not be released (it was taken).
    pub release_error: Option<LockError>,
    /// What the auditors failed to hear, in order (announce, steps, end).
    pub audit_errors: Vec<AuditError>,
    /// `up` of the whole file: the orphans.
    pub orphans: Option<OrphanReport>,
    /// `clean --networks`/`--volumes`: what became of each object.
    pub objects: Option<Vec<Cleaned>>,
    /// Why the after-step failed, one sentence naming the ship.
    pub after_error: Option<String>,
    /// The failed rollout's containers put back (`failure_action: rollback`).
    pub reverted: Option<revert::Reverted>,
}

impl SessionReport {
    /// Why the command fails, in one sentence (`None`: it succeeded).
    pub fn failure(&self, kind: PlayKind, containers: &[&Container]) -> Option<String> {
        let after = self.after_error.as_deref();
        let why = self
            .play
            .failure(kind, containers, after)
            .or_else(|| after.map(str::to_owned))?;
        Some(match &self.reverted {
            None => why,
            Some(r) if r.names.is_empty() => {
                format!("{why}; the rollout is rolled back (nothing it replaced needed putting back)")
            }
            Some(r) if r.report.succeeded() => format!(
                "{why}; the rollout is rolled back: {} put back",
                r.names.join(", ")
            ),
            Some(r) => format!(
                "{why}; rolling the rollout back failed too ({} put back; run `maestro rollback` to finish)",
                if r.names.is_empty() { "none".to_owned() } else { r.names.join(", ") }
            ),
        })
    }
}

/// Runs a session of `options.kind` over `containers` (selected and
/// ordered), telling `observer`; `interrupt` resolves when the user asks
/// to stop (Ctrl-C).
pub async fn run_session(
    env: &Environment,
    fleet: &Fleet,
    containers: &[&Container],
    options: &SessionOptions,
    observer: &dyn Observer,
    interrupt: impl std::future::Future<Output = ()>,
) -> Result<SessionReport, SessionError> {
    let kind = options.kind;
    if kind.creates() {
        if let Some(clash) = crate::decide::clash::port_clash(containers) {
            return Err(SessionError::Clash(clash));
        }
    }
    let mut play_options = with_secrets(env, containers, options).await?;
    let may_revert = revert::may_revert(env, containers, &play_options)
        && matches!(kind, PlayKind::Up | PlayKind::Restart);
    let remove_kept = may_revert && !play_options.keep_previous;
    if may_revert {
        play_options.keep_previous = true;
    }
    let trail = Trail::new(env);
    let holder = take_lock(env, fleet, options).await?;
    if let Err(refused) = audit::announce(&trail, containers, kind.name()).await {
        give_back(env, fleet, holder).await;
        return Err(SessionError::Refused(refused));
    }
    let (play, mut audit_errors) = audit::run_relayed(
        env,
        fleet,
        containers,
        kind,
        &play_options,
        observer,
        &trail,
        interrupt,
    )
    .await;
    let mut report = SessionReport {
        locked: holder.is_some(),
        release_error: None,
        audit_errors: Vec::new(),
        orphans: None,
        objects: None,
        after_error: None,
        reverted: None,
        play,
    };
    if may_revert && !report.play.succeeded() {
        let reverted =
            revert::after_failure(env, fleet, containers, kind, &report.play, &play_options).await;
        report.reverted = reverted;
    } else if remove_kept && report.play.succeeded() {
        let errors = revert::remove_kept(fleet, containers, &report.play).await;
        report.after_error = (!errors.is_empty()).then(|| errors.join("; "));
    }
    if !report.play.interrupted {
        after_step(env, fleet, containers, options.after, &mut report).await;
    }
    audit_errors.extend(
        audit::conclude(
            &trail,
            containers,
            kind.name(),
            &report.play,
            report.after_error.as_deref(),
        )
        .await,
    );
    report.audit_errors = audit_errors;
    report.release_error = give_back(env, fleet, holder).await;
    Ok(report)
}

/// The play's options with the values of the secrets its containers
/// receive, when it creates containers (the others read none).
async fn with_secrets(
    env: &Environment,
    containers: &[&Container],
    options: &SessionOptions,
) -> Result<PlayOptions, crate::observe::secrets::SecretError> {
    let mut play = options.play.clone();
    if options.kind.creates() {
        let values = crate::observe::secrets::resolve(env, containers).await?;
        play.secrets = std::sync::Arc::new(values);
    }
    Ok(play)
}

/// Whether a play of `kind` takes the deploy lock: one that changes
/// containers (not `pull`), in an environment with a ship to keep it on.
pub fn takes_lock(env: &Environment, kind: PlayKind) -> bool {
    kind != PlayKind::Pull && lock::place(env).is_some()
}

/// Takes the deploy lock when the play takes it, unless told to play
/// without it; the holder to release with.
async fn take_lock(
    env: &Environment,
    fleet: &Fleet,
    options: &SessionOptions,
) -> Result<Option<Holder>, LockError> {
    if options.without_lock || !takes_lock(env, options.kind) {
        return Ok(None);
    }
    let me = Holder::me(&options.command_line, "", true);
    lock::acquire(fleet, env, &me).await?;
    crate::trace::debug(format!("took the deploy lock of {}", env.name));
    Ok(Some(me))
}

/// Releases the lock [`take_lock`] took; why it could not, if so.
async fn give_back(env: &Environment, fleet: &Fleet, holder: Option<Holder>) -> Option<LockError> {
    let me = holder?;
    match lock::release(fleet, env, Some(&me)).await {
        Ok(_) => {
            crate::trace::debug(format!("released the deploy lock of {}", env.name));
            None
        }
        Err(e) => Some(e),
    }
}

/// The orphans or the objects, after the play.
async fn after_step(
    env: &Environment,
    fleet: &Fleet,
    containers: &[&Container],
    after: AfterStep,
    report: &mut SessionReport,
) {
    match after {
        AfterStep::Nothing => {}
        AfterStep::Orphans { remove } => {
            let orphans = crate::session::converge::settle_orphans(env, fleet, remove).await;
            report.after_error = orphans.failure.clone();
            report.orphans = Some(orphans);
        }
        AfterStep::Objects { networks, volumes } => {
            let done = crate::act::objects::clean(env, fleet, containers, networks, volumes).await;
            let errors: Vec<String> = done
                .iter()
                .filter_map(|c| {
                    let e = c.outcome.as_ref().err()?;
                    Some(format!(
                        "cannot remove {} {} on ship {}: {e}",
                        c.kind, c.name, c.ship
                    ))
                })
                .collect();
            report.after_error = (!errors.is_empty()).then(|| errors.join("; "));
            report.objects = Some(done);
        }
    }
}
