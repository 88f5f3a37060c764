//! A rollout's automatic revert (`failure_action: rollback`): when a
//! container of the rollout fails, the containers it already replaced are
//! put back (a `rollback` of those alone, in dependency order), and the
//! rest is left untouched. The rollout keeps what it replaces until it has
//! succeeded, even with `--no-keep`, which then removes them at the end.

use maestro_config::{Container, Environment, FailureAction};

use crate::act::execute::PlayReport;
use crate::act::outcome::{Observer, Outcome};
use crate::decide::play::{PlayKind, PlayOptions};
use crate::observe::fleet::Fleet;

/// What the revert did.
#[derive(Debug)]
pub struct Reverted {
    /// The containers put back (their names), in the play's order.
    pub names: Vec<String>,
    pub report: PlayReport,
}

/// Whether a failure of this play may revert it: the command line's
/// `--failure-action`, else any of its services' `failure_action`.
pub fn may_revert(env: &Environment, containers: &[&Container], options: &PlayOptions) -> bool {
    containers
        .iter()
        .any(|c| action_of(env, c, options) == FailureAction::Rollback)
}

/// What a failure of `c` does: `--failure-action`, else its service's.
fn action_of(env: &Environment, c: &Container, options: &PlayOptions) -> FailureAction {
    options.rollout.failure_action.unwrap_or_else(|| {
        env.services
            .get(&c.service)
            .map_or(FailureAction::Pause, |s| s.update.failure_action)
    })
}

/// Whether the first failed container's failure action is `rollback`.
fn reverts(
    env: &Environment,
    containers: &[&Container],
    report: &PlayReport,
    options: &PlayOptions,
) -> bool {
    !report.interrupted
        && containers
            .iter()
            .zip(&report.outcomes)
            .find(|(_, o)| matches!(o, Outcome::Failed(_)))
            .is_some_and(|(c, _)| action_of(env, c, options) == FailureAction::Rollback)
}

/// After a failed play of `kind` (`up`, `restart`): puts back what it
/// replaced when its failure action says so.
pub async fn after_failure(
    env: &Environment,
    fleet: &Fleet,
    containers: &[&Container],
    kind: PlayKind,
    report: &PlayReport,
    options: &PlayOptions,
) -> Option<Reverted> {
    if !matches!(kind, PlayKind::Up | PlayKind::Restart)
        || !reverts(env, containers, report, options)
    {
        return None;
    }
    let replaced: Vec<&Container> = containers
        .iter()
        .zip(&report.outcomes)
        .filter(|(_, o)| match o {
            Outcome::Done(done) => matches!(done.action, "recreated" | "restarted"),
            Outcome::Failed(_) => true,
            Outcome::Aborted { .. } => false,
        })
        .map(|(c, _)| *c)
        .collect();
    let back = PlayOptions {
        keep_previous: true,
        unchecked: true,
        ..options.clone()
    };
    let report = crate::run_play(
        env,
        fleet,
        &replaced,
        PlayKind::Rollback,
        &back,
        &Unseen,
        std::future::pending(),
    )
    .await;
    let names = replaced
        .iter()
        .zip(&report.outcomes)
        .filter(|(_, o)| matches!(o, Outcome::Done(d) if d.action == "rolled back"))
        .map(|(c, _)| c.name.clone())
        .collect();
    Some(Reverted { names, report })
}

/// After a successful play that kept what it replaced only for a revert
/// (`--no-keep`): removes those kept containers; the ones that could not
/// be removed, with why.
pub async fn remove_kept(
    fleet: &Fleet,
    containers: &[&Container],
    report: &PlayReport,
) -> Vec<String> {
    let mut errors = Vec::new();
    for (c, outcome) in containers.iter().zip(&report.outcomes) {
        if !matches!(outcome, Outcome::Done(d) if d.action == "recreated") {
            continue;
        }
        let kept = crate::previous::kept_name(&c.name);
        let removed = match fleet.engine(&c.ship).await {
            Ok(engine) => engine.remove_container(&kept, false, true).await,
            Err(e) => Err(e),
        };
        match removed {
            Ok(()) | Err(maestro_engine::EngineError::Refused { status: 404, .. }) => {}
            Err(e) => errors.push(format!("cannot remove {kept}: {e}")),
        }
    }
    errors
}

/// The revert's own progress is not shown container by container: its
/// outcome is said at the end.
struct Unseen;

impl Observer for Unseen {
    fn begin(&self, _: usize) {}
    fn progress(&self, _: usize, _: &str) {}
    fn finish(&self, _: usize, _: &Outcome, _: std::time::Duration) {}
}
