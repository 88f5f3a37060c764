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

/// Services in the order `up` takes them, one after the other: a service
/// after every service it requires (more requirements, later), then by name.
pub fn service_order<'a>(
    env: &Environment,
    services: impl IntoIterator<Item = &'a str>,
) -> Vec<&'a str> {
    let mut list: Vec<&str> = services
        .into_iter()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    // A service's requirements include each of its requirements' own, so
    // their number orders every service after those it requires.
    list.sort_by_key(|s| (env.graph.requires(s).len(), *s));
    list
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
    actions: &[Result<Planned, String>],
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
    let services: Vec<(String, usize)> = service_order(env, count.keys().copied())
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

    #[test]
    fn services_come_after_what_they_require() {
        let env = env();
        assert_eq!(
            service_order(&env, ["api", "worker", "web", "db"]),
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
            })
        };
        let none = Ok(Planned {
            action: Action::None,
            state: "running",
        });
        let actions = vec![
            recreate("env WEB_INSTANCES changed"),
            Ok(Planned {
                action: Action::Create,
                state: "absent",
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
            Err("x".into()),
        ];
        assert_eq!(recreates(&env, &containers, &quiet), None);
    }
}
