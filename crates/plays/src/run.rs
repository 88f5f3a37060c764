//! Running a play: observe the fleet once into a snapshot, decide the plan
//! from it (pure), execute the plan — the one path of every play.

use std::collections::BTreeSet;

use maestro_config::{Container, Environment};

use crate::execute;
use crate::execute::PlayReport;
use crate::fleet::Fleet;
use crate::plan::Plan;
use crate::play::{Observer, PlayKind, PlayOptions};
use crate::reconcile;
use crate::snapshot::{self, Snapshot};

/// Observes what the play needs of the fleet (one list per ship, the
/// images, and only the inspects a decision needs), then decides, without
/// I/O: the snapshot and the plan made from it.
pub async fn prepare(
    env: &Environment,
    fleet: &Fleet,
    containers: &[&Container],
    kind: PlayKind,
    options: &PlayOptions,
    ships: Option<&BTreeSet<String>>,
) -> (Snapshot, Plan) {
    let given = ships.is_some();
    let own: BTreeSet<String>;
    let ships = match ships {
        Some(ships) => ships,
        None => {
            own = containers.iter().map(|c| c.ship.clone()).collect();
            &own
        }
    };
    // Given ships are the whole fleet's, for orphans: every container of each.
    let wants = snapshot::Wants {
        everything: given,
        ..reconcile::wants(kind, options)
    };
    let mut snapshot = snapshot::observe(fleet, ships, containers, &wants).await;
    if kind.creates() {
        snapshot.objects = crate::objects::observe(fleet, env, containers).await;
    }
    let desired = reconcile::desired_hashes(env, containers, kind);
    let more = reconcile::needs_inspect(containers, &snapshot, &desired);
    if !more.is_empty() {
        snapshot::inspect_more(fleet, &mut snapshot, &more).await;
    }
    let mut plan = reconcile::reconcile(env, containers, kind, options, &snapshot, &desired);
    crate::objects::prerequisites(env, containers, &snapshot.objects, &mut plan);
    (snapshot, plan)
}

/// Runs `kind` over `containers` (already selected and ordered): observe,
/// decide, execute. `interrupt` resolves when the user asks to stop (Ctrl-C).
pub async fn run_play(
    env: &Environment,
    fleet: &Fleet,
    containers: &[&Container],
    kind: PlayKind,
    options: &PlayOptions,
    observer: &dyn Observer,
    interrupt: impl std::future::Future<Output = ()>,
) -> PlayReport {
    let (snapshot, plan) = prepare(env, fleet, containers, kind, options, None).await;
    execute::execute(
        env, fleet, containers, &plan, &snapshot, options, observer, interrupt,
    )
    .await
}
