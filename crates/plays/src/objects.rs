//! Networks and named volumes, the objects an environment declares beside
//! its containers: which ones a container needs, what each ship has of
//! them (observed with the snapshot), the `create network` / `create
//! volume` operations the plan puts before the containers that need them,
//! running those (once per ship and object in a play), attaching a
//! container to its networks, and `clean --networks` / `--volumes`, which
//! remove only what this environment declared and maestro made (by label),
//! never an external one, never one a container uses.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use futures_util::future::join_all;
use maestro_config::{Container, Environment};
use maestro_engine::models::{
    ContainerCreateBody, EndpointIpamConfig, EndpointSettings, Ipam, IpamConfig,
    NetworkCreateRequest, NetworkingConfig, VolumeCreateRequest,
};
use maestro_engine::{Engine, Labels};
use tokio::sync::OnceCell;

use crate::fleet::Fleet;
use crate::labels::LABEL_ENVIRONMENT;
pub use crate::labels::LABEL_NETWORKS;
use crate::plan::{Entry, ObjectRequest, Op, Step};

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

/// Puts, before the part of each container's work that creates it, the
/// creation of each network and volume it needs that its ship lacks.
pub fn prerequisites(
    env: &Environment,
    containers: &[&Container],
    objects: &Objects,
    entries: &mut [Entry],
) {
    for (c, entry) in containers.iter().zip(entries.iter_mut()) {
        let Entry::Work(work) = entry else { continue };
        if !crate::plan::creates(&work.ops) {
            continue;
        }
        let (networks, volumes) = needs(env, c);
        if networks.is_empty() && volumes.is_empty() {
            continue;
        }
        let have = match objects.ships.get(&c.ship) {
            Some(Ok(have)) => have,
            Some(Err(e)) => {
                *entry = Entry::Unknown(e.clone());
                continue;
            }
            None => continue,
        };
        let mut ops: Vec<Op> = Vec::new();
        for key in networks {
            if !have.networks.contains_key(&env.networks[key].name) {
                ops.push(Op::new(
                    Step::CreateNetwork(Arc::new(network_request(env, key))),
                    "missing on the ship",
                ));
            }
        }
        for key in volumes {
            if !have.volumes.contains_key(&env.volumes[key].name) {
                ops.push(Op::new(
                    Step::CreateVolume(Arc::new(volume_request(env, key))),
                    "missing on the ship",
                ));
            }
        }
        let at = work.split;
        work.ops.splice(at..at, ops);
    }
}

/// The container's networks in its creation request: the first as its
/// network mode (with its endpoint), every one with its aliases in a label.
pub(crate) fn apply_networks(env: &Environment, c: &Container, body: &mut ContainerCreateBody) {
    let mac = c.options.mac_address.clone();
    let Some(first) = c.options.networks.first() else {
        // Without networks, the MAC address goes to the network mode's endpoint.
        if let Some(mac) = mac {
            let mode = body
                .host_config
                .as_ref()
                .and_then(|h| h.network_mode.clone())
                .unwrap_or_else(|| "bridge".into());
            let endpoint = EndpointSettings {
                mac_address: Some(mac),
                ..Default::default()
            };
            body.networking_config = Some(NetworkingConfig {
                endpoints_config: Some(HashMap::from([(mode, endpoint)])),
            });
        }
        return;
    };
    let name = |key: &str| {
        env.networks
            .get(key)
            .map(|n| n.name.clone())
            .unwrap_or_else(|| key.to_owned())
    };
    let first_name = name(&first.network);
    if let Some(host) = body.host_config.as_mut() {
        host.network_mode = Some(first_name.clone());
    }
    body.networking_config = Some(NetworkingConfig {
        endpoints_config: Some(HashMap::from([(
            first_name,
            EndpointSettings {
                mac_address: mac,
                ..endpoint(first)
            },
        )])),
    });
    let text: Vec<String> = c
        .options
        .networks
        .iter()
        .map(|a| {
            let ip = a
                .ipv4_address
                .as_deref()
                .map(|ip| format!("@{ip}"))
                .unwrap_or_default();
            format!("{}{ip}={}", name(&a.network), a.aliases.join(","))
        })
        .collect();
    body.labels
        .get_or_insert_with(HashMap::new)
        .insert(LABEL_NETWORKS.into(), text.join(";"));
}

fn endpoint(a: &maestro_config::NetworkAttachment) -> EndpointSettings {
    EndpointSettings {
        aliases: (!a.aliases.is_empty()).then(|| a.aliases.clone()),
        ipam_config: a.ipv4_address.as_ref().map(|ip| EndpointIpamConfig {
            ipv4_address: Some(ip.clone()),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// The networks after the first that a container joins once created:
/// each one's name on the ship and the container's endpoint in it.
pub(crate) fn connects(env: &Environment, c: &Container) -> Vec<(String, EndpointSettings)> {
    c.options
        .networks
        .iter()
        .skip(1)
        .map(|a| {
            let name = env
                .networks
                .get(&a.network)
                .map_or_else(|| a.network.clone(), |n| n.name.clone());
            (name, endpoint(a))
        })
        .collect()
}

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

fn labels<'a>(
    env: &Environment,
    own: impl IntoIterator<Item = (&'a String, &'a String)>,
) -> HashMap<String, String> {
    let mut out: HashMap<String, String> = own
        .into_iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    out.insert(LABEL_ENVIRONMENT.into(), env.name.clone());
    out
}

/// The request that creates network `key` (declared in the file).
fn network_request(env: &Environment, key: &str) -> ObjectRequest<NetworkCreateRequest> {
    let n = &env.networks[key];
    let request = NetworkCreateRequest {
        name: n.name.clone(),
        driver: n.driver.clone(),
        internal: Some(n.internal),
        attachable: Some(n.attachable),
        options: Some(n.driver_opts.clone().into_iter().collect()),
        labels: Some(labels(env, &n.labels)),
        ipam: (!n.subnets.is_empty()).then(|| Ipam {
            config: Some(
                n.subnets
                    .iter()
                    .map(|s| IpamConfig {
                        subnet: Some(s.subnet.clone()),
                        gateway: s.gateway.clone(),
                        ip_range: s.ip_range.clone(),
                        ..Default::default()
                    })
                    .collect(),
            ),
            ..Default::default()
        }),
        ..Default::default()
    };
    ObjectRequest {
        key: key.to_owned(),
        name: n.name.clone(),
        request,
    }
}

/// The request that creates volume `key` (declared in the file).
fn volume_request(env: &Environment, key: &str) -> ObjectRequest<VolumeCreateRequest> {
    let v = &env.volumes[key];
    let request = VolumeCreateRequest {
        name: Some(v.name.clone()),
        driver: v.driver.clone(),
        driver_opts: Some(v.driver_opts.clone().into_iter().collect()),
        labels: Some(labels(env, &v.labels)),
        ..Default::default()
    };
    ObjectRequest {
        key: key.to_owned(),
        name: v.name.clone(),
        request,
    }
}

/// Creates a network (`network`) or volume on the engine's ship, once per
/// ship and object in a play.
pub(crate) async fn create_object(
    engine: &Engine,
    once: &Once,
    request: ObjectCreate<'_>,
) -> Result<(), maestro_engine::EngineError> {
    let (kind, name) = match &request {
        ObjectCreate::Network(r) => ("network", &r.name),
        ObjectCreate::Volume(r) => ("volume", &r.name),
    };
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

/// What `clean --networks` / `--volumes` did with one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cleaned {
    pub ship: String,
    /// `network` or `volume`.
    pub kind: &'static str,
    pub name: String,
    /// `removed`, `kept (in use by web-1)`, `kept (not made by this environment)`…
    pub outcome: Result<String, String>,
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
    .filter(|c| c.outcome.as_deref() != Ok("absent"))
    .collect()
}

async fn clean_one(
    env: &Environment,
    fleet: &Fleet,
    ship: &str,
    kind: &str,
    name: &str,
) -> Result<String, String> {
    let engine = fleet.engine(ship).await.map_err(|e| e.to_string())?;
    let found = if kind == "network" {
        engine.networks_named(&[name]).await
    } else {
        engine.volumes_named(&[name]).await
    }
    .map_err(|e| e.to_string())?;
    let Some(labels) = found.get(name) else {
        return Ok("absent".into());
    };
    if labels.get(LABEL_ENVIRONMENT) != Some(&env.name) {
        return Ok("kept (not made by this environment)".into());
    }
    let users = engine
        .users_of(kind, name)
        .await
        .map_err(|e| e.to_string())?;
    if !users.is_empty() {
        return Ok(format!("kept (in use by {})", users.join(", ")));
    }
    let removed = if kind == "network" {
        engine.remove_network(name).await
    } else {
        engine.remove_volume(name).await
    };
    removed
        .map(|()| "removed".into())
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::play::{PlayKind, PlayOptions};
    use crate::snapshot::{ShipView, Snapshot};

    fn env() -> Environment {
        let source = maestro_config::Source {
            name: "t.yaml".into(),
            base_dir: ".".into(),
            text: "
name: t
ships: {a: {ip: 10.0.0.1}}
networks: {front: {}, back: {}, outside: {external: true}}
volumes: {data: {}, made: {}}
services:
  web:
    image: box:1
    networks: [front, back, outside]
    instances:
      web-1: {ship: a, volumes: {/d: data, /m: made, /x: undeclared}}
"
            .into(),
        };
        maestro_config::load(&source, &Default::default()).expect("valid")
    }

    #[test]
    fn the_plan_creates_only_the_missing_declared_objects_first() {
        let env = env();
        let containers: Vec<&Container> = env.containers.values().collect();
        let have = ShipObjects {
            networks: HashMap::from([("back".to_owned(), Labels::new())]),
            volumes: HashMap::from([("made".to_owned(), Labels::new())]),
        };
        let snapshot = Snapshot {
            ships: HashMap::from([("a".to_owned(), Ok(ShipView::default()))]),
            objects: Objects {
                ships: HashMap::from([("a".to_owned(), Ok(have))]),
            },
        };
        let options = PlayOptions::default();
        let plan = crate::reconcile::reconcile(
            &env,
            &containers,
            PlayKind::Start,
            &options,
            &snapshot,
            vec![None],
        );
        let steps: Vec<Step> = plan.entries[0]
            .ops()
            .iter()
            .map(|op| op.step.clone())
            .collect();
        // The objects first (the image missing, a pull follows), once each.
        assert_eq!(
            steps[..3].iter().map(Step::name).collect::<Vec<_>>(),
            ["create network front", "create volume data", "pull"]
        );
        let objects = steps
            .iter()
            .filter(|s| matches!(s, Step::CreateNetwork(_) | Step::CreateVolume(_)))
            .count();
        assert_eq!(objects, 2, "{steps:?}");
        assert!(steps.contains(&Step::Create), "{steps:?}");
    }

    #[test]
    fn a_ship_whose_objects_could_not_be_read_makes_the_container_unknown() {
        let env = env();
        let containers: Vec<&Container> = env.containers.values().collect();
        let refused = maestro_engine::EngineError::Refused {
            ship: "a".into(),
            action: "list networks".into(),
            status: 500,
            message: "refused".into(),
        };
        let snapshot = Snapshot {
            ships: HashMap::from([("a".to_owned(), Ok(ShipView::default()))]),
            objects: Objects {
                ships: HashMap::from([("a".to_owned(), Err(refused.clone()))]),
            },
        };
        let options = PlayOptions::default();
        let plan = crate::reconcile::reconcile(
            &env,
            &containers,
            PlayKind::Start,
            &options,
            &snapshot,
            vec![None],
        );
        assert_eq!(plan.entries[0], Entry::Unknown(refused));
    }

    #[test]
    fn the_first_network_is_the_mode_and_every_one_is_in_the_label() {
        let env = env();
        let body = crate::spec::create_body(&env, &env.containers["web-1"]);
        let host = body.host_config.as_ref().expect("host config");
        assert_eq!(host.network_mode.as_deref(), Some("front"));
        let labels = body.labels.as_ref().expect("labels");
        assert_eq!(labels[LABEL_NETWORKS], "front=;back=;outside=");
    }
}
