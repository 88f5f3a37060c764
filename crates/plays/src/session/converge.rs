//! `plan` and `up`: what `up` would do to each container, read off the plan
//! the reconcile made from the snapshot (the same plan `up` runs), its blast
//! radius, and the containers of this environment the file no longer has
//! (orphans), found by maestro's environment label in the ships' lists.

use std::collections::BTreeSet;

use maestro_config::{Container, Environment};
use maestro_engine::EngineError;

use crate::decide::drift::Action;
use crate::decide::plan::{Entry, Op, Plan};
use crate::decide::play::{PlayKind, PlayOptions};
use crate::observe::fleet::Fleet;
use crate::observe::snapshot::{Seen, Snapshot};

/// What `up` would do to one container, and the state it is in now.
#[derive(Debug, Clone, PartialEq)]
pub struct Planned {
    pub action: Action,
    /// `running`, `stopped` or `absent`.
    pub state: &'static str,
    /// The operations `up` runs on it, with their causes.
    pub ops: Vec<Op>,
}

/// Why what `up` would do to a container cannot be told.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Unplanned {
    /// Its ship could not be observed.
    #[error("{0}")]
    Engine(#[from] EngineError),
    /// The plan was not made for `up`.
    #[error("not a plan of `up`")]
    NotUp,
}

/// The plan of `up` over `containers`, and the snapshot it was made from
/// (every ship of the environment observed when `whole`, for the orphans);
/// the secrets the containers receive are read for it (their digests
/// compared), and a secret that cannot be read is the error.
pub async fn plan_up<'e>(
    env: &'e Environment,
    fleet: &Fleet,
    containers: &[&'e Container],
    options: &PlayOptions,
    whole: bool,
) -> Result<(Snapshot, Plan<'e>), crate::observe::secrets::SecretError> {
    let ships: BTreeSet<String> = if whole {
        env.ships.keys().cloned().collect()
    } else {
        containers.iter().map(|c| c.ship.clone()).collect()
    };
    let values = crate::observe::secrets::resolve(env, containers).await?;
    let options = PlayOptions {
        secrets: std::sync::Arc::new(values),
        ..options.clone()
    };
    Ok(
        crate::session::run::prepare(env, fleet, containers, PlayKind::Up, &options, Some(&ships))
            .await,
    )
}

/// What `up` would do to each container (or why it could not tell), read
/// off its plan.
pub fn planned(
    containers: &[&Container],
    snapshot: &Snapshot,
    plan: &Plan<'_>,
) -> Vec<Result<Planned, Unplanned>> {
    containers
        .iter()
        .zip(plan.entries.iter().zip(&plan.actions))
        .map(|(c, (entry, action))| match (entry, action) {
            (Entry::Unknown(why), _) => Err(Unplanned::Engine(why.clone())),
            (Entry::Work(work), Some(action)) => Ok(Planned {
                action: action.clone(),
                state: match snapshot.seen(c) {
                    Ok(Some(seen)) if seen.running() => "running",
                    Ok(Some(_)) => "stopped",
                    _ => "absent",
                },
                ops: work.ops.clone(),
            }),
            (Entry::Work(_), None) => Err(Unplanned::NotUp),
        })
        .collect()
}

/// The containers a plan recreates, by service in `up`'s order: the blast
/// radius of a change (e.g. a new instance changes `<SVC>_INSTANCES` of
/// every dependent).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recreates {
    pub containers: usize,
    /// Service and how many of its containers, in the order `up` takes them.
    pub services: Vec<(String, usize)>,
}

/// What a plan recreates; `None` when nothing.
pub fn recreates(
    env: &Environment,
    containers: &[&Container],
    actions: &[Result<Planned, Unplanned>],
) -> Option<Recreates> {
    let mut count: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    for (c, a) in containers.iter().zip(actions) {
        if let Ok(Planned {
            action: Action::Recreate(_),
            ..
        }) = a
        {
            *count.entry(c.service.as_str()).or_default() += 1;
        }
    }
    if count.is_empty() {
        return None;
    }
    let services: Vec<(String, usize)> =
        crate::decide::rollout::service_order(env, count.keys().copied())
            .into_iter()
            .map(|s| (s.to_owned(), count[s]))
            .collect();
    Some(Recreates {
        containers: services.iter().map(|(_, n)| n).sum(),
        services,
    })
}

/// A container labelled with this environment's name that the file does
/// not describe (any more).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Orphan {
    pub ship: String,
    pub name: String,
    pub running: bool,
}

/// The orphans on every ship, and the ships that could not be asked
/// (listing each ship's containers once more: after a play).
pub async fn orphans(env: &Environment, fleet: &Fleet) -> (Vec<Orphan>, Vec<String>) {
    let ships: BTreeSet<String> = env.ships.keys().cloned().collect();
    let wants = crate::observe::snapshot::Wants {
        everything: true,
        ..Default::default()
    };
    let snapshot = crate::observe::snapshot::observe(fleet, &ships, &[], &wants).await;
    orphans_in(env, &snapshot)
}

/// The orphans in a snapshot of every ship, and the ships that could not
/// be asked: containers labelled with this environment's name that the
/// file does not describe, or describes on another ship whose engine does
/// not have them (an instance moved: the one left behind).
pub fn orphans_in(env: &Environment, snapshot: &Snapshot) -> (Vec<Orphan>, Vec<String>) {
    let mut lists: Vec<(&String, Vec<(&String, &Seen)>)> = Vec::new();
    let mut errors = Vec::new();
    let mut ships: Vec<&String> = snapshot.ships.keys().collect();
    ships.sort();
    for ship in ships {
        match &snapshot.ships[ship] {
            Ok(view) => {
                let mut mine: Vec<(&String, &Seen)> = view
                    .containers
                    .iter()
                    .filter(|(_, seen)| seen.environment.as_deref() == Some(env.name.as_str()))
                    // A one-off (`maestro run`) is nobody's instance and
                    // goes away by itself: never an orphan.
                    .filter(|(_, seen)| !seen.one_off)
                    .collect();
                mine.sort_by(|a, b| a.0.cmp(b.0));
                lists.push((ship, mine));
            }
            Err(e) => errors.push(e.to_string()),
        }
    }
    // The ids each ship's engine has: two ships may name one engine.
    let ids_of: std::collections::HashMap<&str, BTreeSet<&str>> = lists
        .iter()
        .map(|(ship, list)| {
            let ids = list.iter().map(|(_, s)| s.id.as_str()).collect();
            (ship.as_str(), ids)
        })
        .collect();
    let mut seen_ids = BTreeSet::new();
    let mut orphans = Vec::new();
    for (ship, list) in &lists {
        for (name, seen) in list {
            if !seen_ids.insert(seen.id.as_str()) {
                continue;
            }
            // A kept previous container of an instance the file still has
            // is there for a rollback, not an orphan.
            if crate::previous::instance_of(name).is_some_and(|i| env.containers.contains_key(i)) {
                continue;
            }
            if let Some(wanted) = env.containers.get(name.as_str()) {
                // In the file, and on its own ship (or on an engine its own
                // ship shares): not an orphan. Moved to a ship whose engine
                // was asked and does not have it: the one left behind is.
                let moved = wanted.ship != **ship
                    && ids_of
                        .get(wanted.ship.as_str())
                        .is_some_and(|ids| !ids.contains(seen.id.as_str()));
                if !moved {
                    continue;
                }
            }
            orphans.push(Orphan {
                ship: (*ship).clone(),
                name: (*name).clone(),
                running: seen.running(),
            });
        }
    }
    orphans.sort_by(|a, b| (&a.ship, &a.name).cmp(&(&b.ship, &b.name)));
    (orphans, errors)
}

/// Stops (10 s grace) and removes an orphan, keeping its volumes.
pub async fn remove_orphan(fleet: &Fleet, orphan: &Orphan) -> Result<(), EngineError> {
    let engine = fleet.engine(&orphan.ship).await?;
    if orphan.running {
        engine.stop_container(&orphan.name, 10).await?;
    }
    engine.remove_container(&orphan.name, false, false).await
}

/// What became of an orphan after `up`.
#[derive(Debug, Clone, PartialEq)]
pub enum OrphanFate {
    /// Left as it is (plain `up` only mentions it).
    Left,
    Removed,
    Failed(EngineError),
}

/// The orphans after `up`: each with what became of it, the ships where
/// they could not be looked for, and why `up` must fail because of them
/// (`--remove-orphans` could not do what it was asked).
#[derive(Debug, Clone, Default)]
pub struct OrphanReport {
    pub orphans: Vec<(Orphan, OrphanFate)>,
    pub lookup_errors: Vec<String>,
    pub failure: Option<String>,
}

/// After `up` of the whole file: looks for orphans on every ship and, with
/// `remove`, stops and removes each.
pub async fn settle_orphans(env: &Environment, fleet: &Fleet, remove: bool) -> OrphanReport {
    let (orphans, lookup_errors) = orphans(env, fleet).await;
    let mut failures = Vec::new();
    if remove {
        match lookup_errors.as_slice() {
            [] => {}
            [only] => failures.push(format!("could not look for orphans to remove: {only}")),
            all => failures.push(format!(
                "could not look for orphans to remove on {} ships; first: {}",
                all.len(),
                all[0]
            )),
        }
    }
    let mut settled = Vec::new();
    let mut failed = Vec::new();
    for orphan in orphans {
        let fate = if !remove {
            OrphanFate::Left
        } else {
            match remove_orphan(fleet, &orphan).await {
                Ok(()) => OrphanFate::Removed,
                Err(e) => {
                    failed.push(format!("{}: {e}", orphan.name));
                    OrphanFate::Failed(e)
                }
            }
        };
        settled.push((orphan, fate));
    }
    if !failed.is_empty() {
        failures.push(format!("could not remove orphans: {}", failed.join("; ")));
    }
    OrphanReport {
        orphans: settled,
        lookup_errors,
        failure: (!failures.is_empty()).then(|| failures.join("; and ")),
    }
}

/// What `plan` concludes: nothing to do (exit 0), changes (exit 3), or it
/// cannot tell (exit 1, with one sentence naming the first failure).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    NothingToDo,
    Changes,
    CannotTell(String),
}

/// The verdict of a plan and its one-line summary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanSummary {
    /// Whether `up` may change something (also when it cannot be told).
    pub changes: bool,
    pub verdict: Verdict,
    /// `plan: nothing to do.`, `plan: changes to apply (`maestro up`).`…
    pub line: String,
}

/// Sums up `planned` (per container, in `containers` order), the orphans
/// and the ships whose orphans could not be looked for.
pub fn summarize(
    containers: &[&Container],
    planned: &[Result<Planned, Unplanned>],
    orphans: &[Orphan],
    orphan_errors: &[String],
) -> PlanSummary {
    // Running checks run again on a container that stays as it is (it
    // started less than their window ago) change nothing.
    let changes_ops = |ops: &[crate::decide::plan::Op]| {
        ops.iter().any(|op| {
            op.step != crate::decide::plan::Step::Checks(crate::decide::plan::Stage::Running)
        })
    };
    let known_changes = planned.iter().any(|a| {
        a.as_ref()
            .is_ok_and(|a| changes_ops(&a.ops) || a.action.changes_something())
    }) || !orphans.is_empty();
    let unknown = planned.iter().filter(|a| a.is_err()).count();
    let complete = unknown == 0 && orphan_errors.is_empty();
    let changes = known_changes || !complete;
    let missed = gaps(unknown, orphan_errors.len());
    let line = if !complete {
        if known_changes {
            format!("plan: changes to apply (`maestro up`), and maybe more: {missed}.")
        } else {
            format!("plan: cannot tell what `maestro up` would change: {missed}.")
        }
    } else if changes {
        "plan: changes to apply (`maestro up`).".to_owned()
    } else {
        "plan: nothing to do.".to_owned()
    };
    let verdict = if !complete {
        let first = containers
            .iter()
            .zip(planned)
            .find_map(|(c, a)| a.as_ref().err().map(|e| format!("{}: {e}", c.name)));
        Verdict::CannotTell(match (first, orphan_errors) {
            (None, [only]) => format!("plan: could not look for orphans: {only}"),
            (None, all) => format!(
                "plan: could not look for orphans on {} ships; first: {}",
                all.len(),
                all.first().map(String::as_str).unwrap_or_default()
            ),
            (Some(first), _) => format!("plan: {missed}; first: {first}"),
        })
    } else if changes {
        Verdict::Changes
    } else {
        Verdict::NothingToDo
    };
    PlanSummary {
        changes,
        verdict,
        line,
    }
}

/// What `plan` could not tell: `2 containers could not be compared`, `the
/// orphans could not be looked for on 1 ship`, or both.
fn gaps(unknown: usize, orphan_errors: usize) -> String {
    let containers = (unknown > 0).then(|| {
        format!(
            "{unknown} container{} could not be compared",
            if unknown == 1 { "" } else { "s" }
        )
    });
    let orphans = (orphan_errors > 0).then(|| {
        format!(
            "the orphans could not be looked for on {orphan_errors} ship{}",
            if orphan_errors == 1 { "" } else { "s" }
        )
    });
    match (containers, orphans) {
        (Some(c), Some(o)) => format!("{c}, and {o}"),
        (Some(one), None) | (None, Some(one)) => one,
        (None, None) => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use maestro_config::{load, Source};

    fn env() -> Environment {
        let text = "
name: t
ships: {a: {ip: 10.0.0.1}}
services:
  db: {image: box, instances: {db-1: {ship: a}}}
  web: {image: box, requires: [db], instances: {web-1: {ship: a}, web-2: {ship: a}}}
  api: {image: box, requires: [web], instances: {api-1: {ship: a}}}
  worker: {image: box, requires: [db], instances: {worker-1: {ship: a}}}
";
        let src = Source {
            name: "t.yaml".into(),
            base_dir: ".".into(),
            text: text.into(),
        };
        load(&src, &Default::default()).expect("valid")
    }

    fn seen(id: &str, one_off: bool) -> crate::observe::snapshot::Seen {
        crate::observe::snapshot::Seen {
            id: id.into(),
            state: crate::observe::snapshot::SeenState::Running,
            status: "Up 3 seconds".into(),
            image: Some("box".into()),
            image_id: None,
            spec_hash: None,
            environment: Some("t".into()),
            one_off,
        }
    }

    #[test]
    fn a_one_off_is_never_an_orphan() {
        let env = env();
        let mut view = crate::observe::snapshot::ShipView::default();
        view.containers.insert("web-1".into(), seen("1", false));
        view.containers
            .insert("web-run-0a1b2c".into(), seen("2", true));
        view.containers.insert("gone-1".into(), seen("3", false));
        let snapshot = Snapshot {
            ships: std::collections::HashMap::from([("a".to_owned(), Ok(view))]),
            objects: Default::default(),
        };
        let (orphans, errors) = orphans_in(&env, &snapshot);
        assert!(errors.is_empty(), "{errors:?}");
        let names: Vec<&str> = orphans.iter().map(|o| o.name.as_str()).collect();
        assert_eq!(names, ["gone-1"]);
    }

    #[test]
    fn services_come_after_what_they_require() {
        let env = env();
        assert_eq!(
            crate::decide::rollout::service_order(&env, ["api", "worker", "web", "db"]),
            ["db", "web", "worker", "api"]
        );
    }

    #[test]
    fn the_blast_radius_counts_recreates_by_service_in_up_order() {
        let env = env();
        let names = ["api-1", "db-1", "web-1", "web-2", "worker-1"];
        let containers: Vec<&Container> = names.iter().map(|n| &env.containers[*n]).collect();
        let recreate = |why: &str| {
            Ok(Planned {
                action: Action::Recreate(vec![why.into()]),
                state: "running",
                ops: Vec::new(),
            })
        };
        let none = Ok(Planned {
            action: Action::None,
            state: "running",
            ops: Vec::new(),
        });
        let actions = vec![
            recreate("env WEB_INSTANCES changed"),
            Ok(Planned {
                action: Action::Create,
                state: "absent",
                ops: Vec::new(),
            }),
            recreate("env DB_INSTANCES changed"),
            recreate("env DB_INSTANCES changed"),
            none.clone(),
        ];
        assert_eq!(
            recreates(&env, &containers, &actions),
            Some(Recreates {
                containers: 3,
                services: vec![("web".into(), 2), ("api".into(), 1)],
            })
        );
        let quiet = vec![
            none.clone(),
            none.clone(),
            none.clone(),
            none.clone(),
            Err(Unplanned::NotUp),
        ];
        assert_eq!(recreates(&env, &containers, &quiet), None);
    }
}
