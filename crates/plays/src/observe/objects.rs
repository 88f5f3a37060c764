//! What each ship has of the networks and named volumes an environment
//! declares beside its containers, observed with the snapshot (one list
//! per ship and kind), and which of them a container needs.

use std::collections::{BTreeSet, HashMap};

use futures_util::future::join_all;
use maestro_config::{Container, Environment};
use maestro_engine::Labels;

use crate::observe::fleet::Fleet;

/// What one ship has of the objects the play needs: name → labels.
#[derive(Debug, Clone, Default)]
pub struct ShipObjects {
    pub networks: HashMap<String, Labels>,
    pub volumes: HashMap<String, Labels>,
}

/// Per ship: what it has, or why it could not be read.
#[derive(Debug, Clone, Default)]
pub struct Objects {
    pub ships: HashMap<String, Result<ShipObjects, maestro_engine::EngineError>>,
}

/// The declared networks and volumes (by key) a container needs created:
/// those it uses that are not external.
pub fn needs<'e>(env: &'e Environment, c: &Container) -> (Vec<&'e str>, Vec<&'e str>) {
    let networks = c
        .options
        .networks
        .iter()
        .filter_map(|a| env.networks.get_key_value(&a.network))
        .filter(|(_, n)| !n.external)
        .map(|(k, _)| k.as_str())
        .collect();
    let volumes = c
        .volumes
        .iter()
        .filter_map(|b| env.volumes.get_key_value(&b.host))
        .filter(|(_, v)| !v.external)
        .map(|(k, _)| k.as_str())
        .collect();
    (networks, volumes)
}

/// Lists, on each ship, the networks and volumes `containers` need there.
pub async fn observe(fleet: &Fleet, env: &Environment, containers: &[&Container]) -> Objects {
    let mut wanted: HashMap<&str, (BTreeSet<&str>, BTreeSet<&str>)> = HashMap::new();
    for c in containers {
        let (networks, volumes) = needs(env, c);
        if networks.is_empty() && volumes.is_empty() {
            continue;
        }
        let entry = wanted.entry(c.ship.as_str()).or_default();
        entry
            .0
            .extend(networks.iter().map(|k| env.networks[*k].name.as_str()));
        entry
            .1
            .extend(volumes.iter().map(|k| env.volumes[*k].name.as_str()));
    }
    let found = join_all(
        wanted
            .into_iter()
            .map(|(ship, (networks, volumes))| async move {
                let seen = async {
                    let engine = fleet.engine(ship).await?;
                    let networks: Vec<&str> = networks.into_iter().collect();
                    let volumes: Vec<&str> = volumes.into_iter().collect();
                    Ok::<_, maestro_engine::EngineError>(ShipObjects {
                        networks: if networks.is_empty() {
                            HashMap::new()
                        } else {
                            engine.networks_named(&networks).await?
                        },
                        volumes: if volumes.is_empty() {
                            HashMap::new()
                        } else {
                            engine.volumes_named(&volumes).await?
                        },
                    })
                };
                (ship.to_owned(), seen.await)
            }),
    )
    .await;
    Objects {
        ships: found.into_iter().collect(),
    }
}
