//! A service's `instances`: each one's ship, image and environment, and the
//! sections of the container it describes (ports, volumes, links, network,
//! how it runs), read into a draft for the cross-checks that follow.
//! Imports the leaves and the sections an instance is made of (`env`,
//! `volumes`, `links`, `network`, `runtime`, `hooks` to refuse an
//! instance's hooks, proxy and deploy), never `services` or later.

use std::collections::BTreeSet;

use indexmap::IndexMap;

use super::context::Context;
use super::drafts::{ContainerDraft, ServiceDraft};
use super::entries::{named_entries, overlay};
use super::{env, hooks, links, network, runtime, volumes};
use crate::keys::INSTANCE as INSTANCE_KEYS;
use crate::model::{Container, ContainerEnv, Lifecycle, PortMapping, SecretMount, Ship};
use crate::ports;
use crate::reader::{get_set, unknown, KeyPath, Reader};
use crate::yaml::{Node, Value};

pub(super) fn instance<'n>(
    r: &mut Reader,
    service: &ServiceDraft<'n>,
    name: &str,
    node: &'n Node,
    cx: &Context,
) -> Option<ContainerDraft<'n>> {
    let path = format_args!("services/{}/instances/{name}", service.name);
    let entries = instance_entries(r, node, &path, cx.ships)?;
    let ship = ship_of(r, node, entries, &path, cx.ships)?;
    let image = match get_set(entries, "image") {
        Some(n) => r.name(n, &format_args!("{path}/image"), "an image name")?,
        None => service.image.clone()?,
    };
    let env = env::instance_env(r, entries, &path, cx.reads);
    let ports = port_map(r, service, entries, &path);
    let storage = volumes::storage(r, node, entries, &path, cx.schema);
    let (links, link_nodes) = links::links(r, entries, &path);
    let command = get_set(entries, "command")
        .or_else(|| get_set(entries, "cmd"))
        .and_then(|n| crate::reader::command(r, n, &format_args!("{path}/command")));
    let extra_hosts = network::extra_hosts(r, entries, &path, cx.ships);
    let network_mode = network::network_mode(r, entries, &path);
    let hostname = match network_mode {
        Some(_) => None,
        None => Some(name.to_string()),
    };
    let mut run = runtime::run_settings(r, service, entries, &path);
    hooks::refuse_on_instance(r, entries, &path, &service.name);
    let read_only = run.options.read_only;
    run.options.secrets = secrets(r, service, (entries, &path), cx, (name, &env, read_only));
    let lifecycle_nodes = lifecycle_nodes(service, entries, &path);
    let container = Container {
        name: name.to_string(),
        service: service.name.clone(),
        ship,
        image,
        env: ContainerEnv::default(),
        ports,
        volumes: storage.volumes,
        container_volumes: storage.container_volumes,
        volumes_from: storage.volumes_from,
        links,
        command,
        workdir: text(r, entries, &path, "workdir"),
        username: text(r, entries, &path, "username"),
        privileged: run.privileged,
        cap_add: list(r, entries, &path, "cap_add"),
        cap_drop: list(r, entries, &path, "cap_drop"),
        security_opt: list(r, entries, &path, "security_opt"),
        extra_hosts,
        network_mode,
        hostname,
        dns: network::dns(r, get_set(entries, "dns"), &format_args!("{path}/dns")),
        restart: run.restart,
        stop_timeout: run.stop_timeout,
        limits: run.limits,
        ulimits: run.ulimits,
        log_config: run.log_config,
        labels: run.labels,
        lifecycle: Lifecycle::default(),
        options: Box::new(run.options),
    };
    Some(ContainerDraft {
        container,
        node,
        env,
        volumes_from_nodes: storage.volumes_from_nodes,
        link_nodes,
        lifecycle_nodes,
    })
}

/// The secrets the container `name` receives: the instance's `secrets`,
/// else its service's, checked against its own variables (`env`) and its
/// `read_only`.
fn secrets(
    r: &mut Reader,
    service: &ServiceDraft,
    (entries, path): (&[(Node, Node)], &KeyPath),
    cx: &Context,
    (name, env, read_only): (&str, &env::RawEnv, bool),
) -> Vec<SecretMount> {
    let own = get_set(entries, "secrets")
        .map(|n| crate::secrets::mounts(r, n, &format_args!("{path}/secrets"), &cx.secrets));
    let Some(mounts) = own.as_ref().or(service.secrets.as_ref()) else {
        return Vec::new();
    };
    let is_set = |var: &str| env::is_set(&service.env, env, var);
    crate::secrets::check_container(r, mounts, name, is_set, read_only);
    mounts.iter().map(|m| m.mount.clone()).collect()
}

/// The ship that a file without `ships` puts instances on by default.
fn default_ship(ships: &IndexMap<String, Ship>) -> Option<String> {
    ships
        .values()
        .find(|s| s.origin.is_some())
        .map(|s| s.name.clone())
}

/// The instance's entries (a mapping, or nothing at all when there is a
/// default ship to put it on), their unknown keys warned about.
fn instance_entries<'n>(
    r: &mut Reader,
    node: &'n Node,
    path: &KeyPath,
    ships: &IndexMap<String, Ship>,
) -> Option<&'n [(Node, Node)]> {
    let entries = given_entries(r, node, path, ships)?;
    r.unknown_keys_of(
        entries,
        path,
        &[
            INSTANCE_KEYS,
            crate::keys::OPTIONS,
            crate::keys::CONTAINER_NETWORKS,
        ],
    );
    Some(entries)
}

fn given_entries<'n>(
    r: &mut Reader,
    node: &'n Node,
    path: &KeyPath,
    ships: &IndexMap<String, Ship>,
) -> Option<&'n [(Node, Node)]> {
    match &node.value {
        Value::Map(e) => Some(e.as_slice()),
        Value::Null if default_ship(ships).is_some() => Some(&[]),
        Value::Null => {
            r.error(
                node,
                path,
                "missing required key `ship` (the ship to run this container on)",
            );
            None
        }
        _ => {
            r.expected(node, path, "a mapping with at least `ship`");
            None
        }
    }
}

/// The instance's `ship`, one of `ships`; in a file without `ships`, the
/// default one when it names none.
fn ship_of(
    r: &mut Reader,
    node: &Node,
    entries: &[(Node, Node)],
    path: &KeyPath,
    ships: &IndexMap<String, Ship>,
) -> Option<String> {
    let at = format_args!("{path}/ship");
    match get_set(entries, "ship") {
        Some(n) => match r.name(n, &at, "a ship name") {
            Some(s) if ships.contains_key(&s) => Some(s),
            Some(s) => {
                let known: BTreeSet<&str> = ships.keys().map(String::as_str).collect();
                r.error(n, &at, unknown("ship", &s, &known));
                None
            }
            None => None,
        },
        None => match default_ship(ships) {
            Some(ship) => Some(ship),
            None => {
                r.error(
                    node,
                    path,
                    "missing required key `ship` (the ship to run this container on)",
                );
                None
            }
        },
    }
}

/// The service's named ports with the instance's laid over them.
fn port_map(
    r: &mut Reader,
    service: &ServiceDraft,
    entries: &[(Node, Node)],
    path: &KeyPath,
) -> IndexMap<String, PortMapping> {
    let at = format_args!("{path}/ports");
    let mut out = IndexMap::new();
    let instance_ports = named_entries(r, get_set(entries, "ports"), &at);
    for (pname, pnode) in overlay(&service.ports, instance_ports) {
        if let Some(m) = ports::parse(r, pnode, &format_args!("{at}/{pname}")) {
            out.insert(pname, m);
        }
    }
    out
}

/// The service's lifecycle checks, then the instance's, with their paths.
fn lifecycle_nodes<'n>(
    service: &ServiceDraft<'n>,
    entries: &'n [(Node, Node)],
    path: &KeyPath,
) -> Vec<(&'n Node, String)> {
    let mut out = Vec::new();
    if let Some(n) = service.lifecycle {
        out.push((n, format!("services/{}/lifecycle", service.name)));
    }
    if let Some(n) = get_set(entries, "lifecycle") {
        out.push((n, format!("{path}/lifecycle")));
    }
    out
}

/// The instance's string `k`, if set.
fn text(r: &mut Reader, entries: &[(Node, Node)], path: &KeyPath, k: &str) -> Option<String> {
    get_set(entries, k).and_then(|n| r.string(n, &format_args!("{path}/{k}")))
}

/// The instance's string or list of strings `k`; empty if not set.
fn list(r: &mut Reader, entries: &[(Node, Node)], path: &KeyPath, k: &str) -> Vec<String> {
    get_set(entries, k)
        .map(|n| r.string_list(n, &format_args!("{path}/{k}")))
        .unwrap_or_default()
}
