//! Observing for `plan` and `up`: what `up` would do to each container (one
//! snapshot per container: the container and the ship's current image for
//! its name), and the containers of this environment that the file no
//! longer has (orphans), found by maestro's environment label.

use std::collections::BTreeSet;

use futures_util::future::join_all;
use maestro_config::{Container, Environment};

use crate::drift::{self, Action};
use crate::fleet::Fleet;
use crate::spec::{self, LABEL_ENVIRONMENT};

/// What `up` would do to one container, and the state it is in now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Planned {
    pub action: Action,
    /// `running`, `stopped` or `absent`.
    pub state: &'static str,
}

/// What `up` would do to each container (or why the engine could not tell).
pub async fn plan(
    env: &Environment,
    fleet: &Fleet,
    containers: &[&Container],
    concurrency: Option<usize>,
) -> Vec<Result<Planned, String>> {
    let slots = crate::slots(concurrency);
    join_all(containers.iter().map(|c| async {
        let _permit = slots.acquire().await.ok();
        let engine = fleet.engine(&c.ship).await.map_err(|e| e.to_string())?;
        let (observed, image) = tokio::join!(
            engine.inspect_container(&c.name),
            engine.inspect_image(&c.image)
        );
        let observed = observed.map_err(|e| e.to_string())?;
        let image = image.map_err(|e| e.to_string())?;
        let body = spec::create_body(env, c);
        let state = match &observed {
            None => "absent",
            Some(found) if found.state.as_ref().and_then(|s| s.running) == Some(true) => "running",
            Some(_) => "stopped",
        };
        Ok(Planned {
            action: drift::decide(&body, observed.as_ref(), image.as_ref()),
            state,
        })
    }))
    .await
}

/// A container labelled with this environment's name that the file does
/// not describe (any more).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Orphan {
    pub ship: String,
    pub name: String,
    pub running: bool,
}

/// The orphans on every ship, and the ships that could not be asked.
pub async fn orphans(env: &Environment, fleet: &Fleet) -> (Vec<Orphan>, Vec<String>) {
    let label = format!("{LABEL_ENVIRONMENT}={}", env.name);
    let found = join_all(env.ships.keys().map(|ship| {
        let label = label.clone();
        async move {
            let engine = fleet.engine(ship).await.map_err(|e| e.to_string())?;
            let list = engine
                .list_containers(&[label])
                .await
                .map_err(|e| e.to_string())?;
            Ok::<_, String>((ship.clone(), list))
        }
    }))
    .await;
    let mut lists = Vec::new();
    let mut errors = Vec::new();
    for result in found {
        match result {
            Ok(listed) => lists.push(listed),
            Err(e) => errors.push(e),
        }
    }
    // The ids each ship's engine has: two ships may name one engine.
    let ids_of: std::collections::HashMap<&str, BTreeSet<&str>> = lists
        .iter()
        .map(|(ship, list)| {
            let ids = list.iter().filter_map(|s| s.id.as_deref()).collect();
            (ship.as_str(), ids)
        })
        .collect();
    let mut seen = BTreeSet::new();
    let mut orphans = Vec::new();
    for (ship, list) in &lists {
        for summary in list {
            let name = summary
                .names
                .as_ref()
                .and_then(|n| n.first())
                .map(|n| n.trim_start_matches('/').to_owned())
                .unwrap_or_default();
            let id = summary.id.as_deref().unwrap_or_default();
            if name.is_empty() || !seen.insert(id.to_owned()) {
                continue;
            }
            if let Some(wanted) = env.containers.get(&name) {
                // In the file, and on its own ship (or on an engine its own
                // ship shares): not an orphan. Moved to a ship whose engine
                // was asked and does not have it: the one left behind is.
                let moved = wanted.ship != *ship
                    && ids_of
                        .get(wanted.ship.as_str())
                        .is_some_and(|ids| !ids.contains(id));
                if !moved {
                    continue;
                }
            }
            orphans.push(Orphan {
                ship: ship.clone(),
                name,
                running: summary.state.as_ref().map(|s| s.to_string()).as_deref()
                    == Some("running"),
            });
        }
    }
    orphans.sort_by(|a, b| (&a.ship, &a.name).cmp(&(&b.ship, &b.name)));
    (orphans, errors)
}

/// Stops (10 s grace) and removes an orphan, keeping its volumes.
pub async fn remove_orphan(fleet: &Fleet, orphan: &Orphan) -> Result<(), String> {
    let engine = fleet
        .engine(&orphan.ship)
        .await
        .map_err(|e| e.to_string())?;
    if orphan.running {
        engine
            .stop_container(&orphan.name, 10)
            .await
            .map_err(|e| e.to_string())?;
    }
    engine
        .remove_container(&orphan.name, false, false)
        .await
        .map_err(|e| e.to_string())
}
