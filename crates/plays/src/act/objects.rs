//! Making and removing networks and named volumes: the plan's creations
//! (once per ship and object in a play), attaching a created container to
//! its further networks, and `clean --networks` / `--volumes`, which remove
//! only what this environment declared and maestro made (by label), never
//! an external one, never one a container uses.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use futures_util::future::join_all;
use maestro_config::{Container, Environment};
use maestro_engine::models::{EndpointSettings, NetworkCreateRequest, VolumeCreateRequest};
use maestro_engine::{Engine, EngineError};
use tokio::sync::OnceCell;

use crate::decide::plan::ObjectRequest;
use crate::labels::LABEL_ENVIRONMENT;
use crate::observe::fleet::Fleet;

/// Connects a just-created container to the networks of `connect`.
pub(crate) async fn connect_rest(
    engine: &Engine,
    name: &str,
    connect: &[(String, EndpointSettings)],
) -> Result<(), maestro_engine::EngineError> {
    for (network, endpoint) in connect {
        engine
            .connect_network(network, name, endpoint.clone())
            .await?;
    }
    Ok(())
}

/// The creations done so far in a play, so several containers of a ship
/// make each object once (the first one's result is every one's).
#[derive(Default)]
pub(crate) struct Once {
    cells: Mutex<HashMap<(String, String), Arc<Made>>>,
}

/// One creation of one object on one ship: its result, once done.
type Made = OnceCell<Result<(), maestro_engine::EngineError>>;

impl Once {
    fn cell(&self, ship: &str, what: &str) -> Arc<Made> {
        match self.cells.lock() {
            Ok(mut cells) => cells
                .entry((ship.to_owned(), what.to_owned()))
                .or_default()
                .clone(),
            Err(_) => Arc::default(),
        }
    }
}

/// Creates a network (`network`) or volume on the engine's ship, once per
/// ship and object in a play.
pub(crate) async fn create_object(
    engine: &Engine,
    once: &Once,
    request: ObjectCreate<'_>,
) -> Result<(), maestro_engine::EngineError> {
    let (kind, _, name) = request.names();
    let cell = once.cell(engine.ship(), &format!("{kind} {name}"));
    cell.get_or_init(|| async {
        match request {
            ObjectCreate::Network(r) => engine.create_network(r.request.clone()).await,
            ObjectCreate::Volume(r) => engine.create_volume(r.request.clone()).await,
        }
    })
    .await
    .clone()
}

/// A network or volume to create.
pub(crate) enum ObjectCreate<'a> {
    Network(&'a ObjectRequest<NetworkCreateRequest>),
    Volume(&'a ObjectRequest<VolumeCreateRequest>),
}

impl ObjectCreate<'_> {
    /// `network` or `volume`, its key in the file, its name on the ship.
    pub(crate) fn names(&self) -> (&'static str, &str, &str) {
        match self {
            ObjectCreate::Network(r) => ("network", &r.key, &r.name),
            ObjectCreate::Volume(r) => ("volume", &r.key, &r.name),
        }
    }
}

/// What `clean --networks` / `--volumes` did with one object.
#[derive(Debug, Clone, PartialEq)]
pub struct Cleaned {
    pub ship: String,
    /// `network` or `volume`.
    pub kind: &'static str,
    pub name: String,
    /// What became of it, or why the engine could not tell or remove it.
    pub outcome: Result<ObjectFate, EngineError>,
}

/// What became of one network or volume: `Display` gives `removed`,
/// `absent`, `kept (not made by this environment)`, `kept (in use by web-1)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ObjectFate {
    Removed,
    /// There is none of that name on the ship.
    Absent,
    /// It does not carry this environment's label.
    KeptForeign,
    /// These containers use it.
    KeptInUse(Vec<String>),
}

impl std::fmt::Display for ObjectFate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ObjectFate::Removed => f.write_str("removed"),
            ObjectFate::Absent => f.write_str("absent"),
            ObjectFate::KeptForeign => f.write_str("kept (not made by this environment)"),
            ObjectFate::KeptInUse(users) => write!(f, "kept (in use by {})", users.join(", ")),
        }
    }
}

/// Removes, on each ship with containers of `containers`, the declared,
/// non-external networks (`networks`) and volumes (`volumes`) that carry
/// this environment's label and that no container uses.
pub async fn clean(
    env: &Environment,
    fleet: &Fleet,
    containers: &[&Container],
    networks: bool,
    volumes: bool,
) -> Vec<Cleaned> {
    let ships: BTreeSet<&str> = containers.iter().map(|c| c.ship.as_str()).collect();
    let mut jobs = Vec::new();
    for ship in ships {
        if networks {
            for n in env.networks.values().filter(|n| !n.external) {
                jobs.push((ship, "network", n.name.as_str()));
            }
        }
        if volumes {
            for v in env.volumes.values().filter(|v| !v.external) {
                jobs.push((ship, "volume", v.name.as_str()));
            }
        }
    }
    join_all(jobs.into_iter().map(|(ship, kind, name)| async move {
        let outcome = clean_one(env, fleet, ship, kind, name).await;
        Cleaned {
            ship: ship.to_owned(),
            kind,
            name: name.to_owned(),
            outcome,
        }
    }))
    .await
    .into_iter()
    .filter(|c| c.outcome != Ok(ObjectFate::Absent))
    .collect()
}

async fn clean_one(
    env: &Environment,
    fleet: &Fleet,
    ship: &str,
    kind: &str,
    name: &str,
) -> Result<ObjectFate, EngineError> {
    let engine = fleet.engine(ship).await?;
    let found = if kind == "network" {
        engine.networks_named(&[name]).await
    } else {
        engine.volumes_named(&[name]).await
    }?;
    let Some(labels) = found.get(name) else {
        return Ok(ObjectFate::Absent);
    };
    if labels.get(LABEL_ENVIRONMENT) != Some(&env.name) {
        return Ok(ObjectFate::KeptForeign);
    }
    let users = engine.users_of(kind, name).await?;
    if !users.is_empty() {
        return Ok(ObjectFate::KeptInUse(users));
    }
    if kind == "network" {
        engine.remove_network(name).await?;
    } else {
        engine.remove_volume(name).await?;
    }
    Ok(ObjectFate::Removed)
}
