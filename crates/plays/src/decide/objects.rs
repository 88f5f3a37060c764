//! The networks and named volumes of the plan, pure: the `create network`
//! / `create volume` operations put before the containers that need them
//! (with their requests, labelled as this environment's), and a container's
//! networks in its creation request (the first) and after it (connects).

use std::collections::HashMap;
use std::sync::Arc;

use maestro_config::{Container, Environment};
use maestro_engine::models::{
    ContainerCreateBody, EndpointIpamConfig, EndpointSettings, Ipam, IpamConfig,
    NetworkCreateRequest, NetworkingConfig, VolumeCreateRequest,
};

use crate::decide::plan::{Entry, ObjectRequest, Op, Step};
use crate::labels::{LABEL_ENVIRONMENT, LABEL_NETWORKS};
use crate::observe::objects::{needs, Objects, ShipObjects};

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
        if !crate::decide::plan::creates(&work.ops) {
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
        let missing = missing(env, c, have);
        let ops = missing
            .networks
            .into_iter()
            .map(|r| Step::CreateNetwork(Arc::new(r)))
            .chain(
                missing
                    .volumes
                    .into_iter()
                    .map(|r| Step::CreateVolume(Arc::new(r))),
            )
            .map(|step| Op::new(step, "missing on the ship"));
        let at = work.split;
        work.ops.splice(at..at, ops);
    }
}

/// The declared networks and volumes a container needs that its ship
/// lacks, with the requests that create them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Missing {
    pub networks: Vec<ObjectRequest<NetworkCreateRequest>>,
    pub volumes: Vec<ObjectRequest<VolumeCreateRequest>>,
}

/// What of the networks and volumes `c` needs its ship lacks, given what
/// the ship `have`s.
pub fn missing(env: &Environment, c: &Container, have: &ShipObjects) -> Missing {
    let (networks, volumes) = needs(env, c);
    Missing {
        networks: networks
            .into_iter()
            .filter(|key| !have.networks.contains_key(&env.networks[*key].name))
            .map(|key| network_request(env, key))
            .collect(),
        volumes: volumes
            .into_iter()
            .filter(|key| !have.volumes.contains_key(&env.volumes[*key].name))
            .map(|key| volume_request(env, key))
            .collect(),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decide::play::{PlayKind, PlayOptions};
    use crate::observe::snapshot::{ShipView, Snapshot};
    use maestro_engine::Labels;

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
        let plan = crate::decide::reconcile::reconcile(
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
        let plan = crate::decide::reconcile::reconcile(
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
        let body = crate::decide::spec::create_body(&env, &env.containers["web-1"]);
        let host = body.host_config.as_ref().expect("host config");
        assert_eq!(host.network_mode.as_deref(), Some("front"));
        let labels = body.labels.as_ref().expect("labels");
        assert_eq!(labels[LABEL_NETWORKS], "front=;back=;outside=");
    }
}
