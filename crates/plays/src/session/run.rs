//! Running a play: observe the fleet once into a snapshot, decide the plan
//! from it (pure), execute the plan — the one path of every play.

use std::collections::BTreeSet;

use maestro_config::{Container, Environment};

use crate::act::execute;
use crate::act::execute::PlayReport;
use crate::act::outcome::Observer;
use crate::decide::plan::Plan;
use crate::decide::play::{PlayKind, PlayOptions};
use crate::decide::reconcile;
use crate::observe::fleet::Fleet;
use crate::observe::snapshot::{self, Snapshot};

/// Observes what the play needs of the fleet (one list per ship, the
/// images, and only the inspects a decision needs), then decides, without
/// I/O: the snapshot and the plan made from it.
pub async fn prepare<'e>(
    env: &'e Environment,
    fleet: &Fleet,
    containers: &[&'e Container],
    kind: PlayKind,
    options: &PlayOptions,
    ships: Option<&BTreeSet<String>>,
) -> (Snapshot, Plan<'e>) {
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
        snapshot.objects = crate::observe::objects::observe(fleet, env, containers).await;
    }
    let requests = reconcile::requests(env, containers, kind, options);
    let more = reconcile::needs_inspect(containers, &snapshot, &requests);
    if !more.is_empty() {
        snapshot::inspect_more(fleet, &mut snapshot, &more).await;
    }
    let plan = reconcile::reconcile(env, containers, kind, options, &snapshot, requests);
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
    let (_, plan) = prepare(env, fleet, containers, kind, options, None).await;
    execute::execute(&plan, fleet, observer, interrupt).await
}
