//! From the YAML tree to the validated [`Environment`]: a shape check per
//! section (each error located and named by its path), then the cross-field
//! checks (references, ships, cycles), then the computed environments.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::sync::Arc;

use indexmap::IndexMap;

use crate::endpoint::Endpoint;
use crate::envfile;
use crate::graph::DependencyGraph;
use crate::lifecycle;
use crate::model::*;
use crate::naming;
use crate::ports;
use crate::pyfmt;
use crate::reader::{get, get_set, labels, parse_bytes, show, unknown, Reader};
use crate::yaml::{Node, Value};

use crate::keys::{INSTANCE as INSTANCE_KEYS, SERVICE as SERVICE_KEYS, SHIP as SHIP_KEYS};
const RESTART_POLICIES: &[&str] = &["no", "always", "on-failure", "unless-stopped"];
const VOLUME_MODES: &[&str] = &[
    "ro",
    "rw",
    "z",
    "Z",
    "shared",
    "slave",
    "private",
    "rshared",
    "rslave",
    "rprivate",
    "nocopy",
    "cached",
    "delegated",
    "consistent",
];

/// An environment variable value before rendering: a YAML value or an envfile string.
type RawEnv = IndexMap<String, Value>;

/// The parts of a service needed while its instances are built.
struct ServiceDraft<'n> {
    name: String,
    node: &'n Node,
    image: Option<String>,
    env: RawEnv,
    ports: Vec<(String, &'n Node)>,
    limits: Vec<(String, &'n Node)>,
    lifecycle: Option<&'n Node>,
    requires: Vec<(String, &'n Node)>,
    wants_info: Vec<(String, &'n Node)>,
    omit: bool,
}

/// An instance before cross-checks and environment computation.
struct ContainerDraft<'n> {
    container: Container,
    node: &'n Node,
    env: RawEnv,
    volumes_from_nodes: Vec<&'n Node>,
    link_nodes: Vec<(&'n Node, String)>,
    lifecycle_nodes: Vec<(&'n Node, String)>,
}

/// Builds the model from the parsed document.
/// `environments`: whether each container's environment (its own variables
/// and the link variables) is computed; commands that read none of it
/// (`status`, `logs`, `lock`, `deptree`, `exec`) skip that work.
pub fn build(
    root: &Node,
    file: &str,
    base_dir: &Path,
    environments: bool,
) -> Result<Environment, crate::LoadError> {
    let mut r = Reader::new(file);
    let env = build_in(&mut r, root, file, base_dir, environments);
    if !r.errors.is_empty() || env.is_none() {
        r.errors.sort_by_key(|e| e.mark.map(|m| (m.line, m.column)));
        r.errors.dedup();
        return Err(crate::LoadError { errors: r.errors });
    }
    let mut env = env.expect("checked above");
    env.warnings = r.warnings;
    Ok(env)
}

fn build_in(
    r: &mut Reader,
    root: &Node,
    file: &str,
    base_dir: &Path,
    environments: bool,
) -> Option<Environment> {
    let top = match &root.value {
        Value::Map(entries) => entries.as_slice(),
        Value::Null => {
            r.error(
                root,
                "environment",
                "the file is empty; expected a mapping with `name`, `ships` and `services`",
            );
            return None;
        }
        _ => {
            r.expected(
                root,
                "environment",
                "a mapping with `name`, `ships` and `services`",
            );
            return None;
        }
    };

    let schema = match get_set(top, "__maestro")
        .and_then(|m| r.map(m, "__maestro"))
        .and_then(|m| get_set(m, "schema"))
    {
        None => 1,
        Some(node) => schema(r, node),
    };

    let name = match get_set(top, "name") {
        Some(node) => r
            .name(node, "name", "the environment's name")
            .unwrap_or_default(),
        None => {
            r.error(
                root,
                "environment",
                "missing required key `name` (the environment's name)",
            );
            String::new()
        }
    };

    if let Some(node) = get_set(top, "ship_provider") {
        if node.as_str() != Some("static") {
            r.error(
                node,
                "ship_provider",
                format!("unknown ship provider {}; expected \"static\"", show(node)),
            );
        }
    }

    obsolete_keys(r, top);
    let registries = registries(r, get_set(top, "registries"));
    let defaults: &[(Node, Node)] = match get_set(top, "ship_defaults") {
        Some(node) => {
            let entries = r.map(node, "ship_defaults").unwrap_or(&[]);
            r.unknown_keys(entries, "ship_defaults", SHIP_KEYS);
            entries
        }
        None => &[],
    };
    let ships = match get(top, "ships") {
        Some(node) => ships(r, node, defaults),
        // No ships: one, `local`, the engine the Docker CLI would use.
        None => local_ship(r, root, defaults),
    };

    let networks = crate::objects::networks(r, get_set(top, "networks"));
    let named_volumes = crate::objects::volumes(r, get_set(top, "volumes"));

    // Services and their instances.
    let mut drafts: Vec<ServiceDraft> = Vec::new();
    let mut containers: Vec<ContainerDraft> = Vec::new();
    let mut owner: HashMap<String, (String, &Node)> = HashMap::new();
    if let Some(services_node) = get_set(top, "services") {
        for (key, node) in r.map(services_node, "services").unwrap_or(&[]) {
            let Some(sname) = r.key(key, "services") else {
                continue;
            };
            let Some(draft) = service(r, &sname, node, &name, base_dir) else {
                continue;
            };
            let path = format!("services/{sname}");
            let instances = match get(node.as_map().unwrap_or(&[]), "instances") {
                Some(n) => r.map(n, &format!("{path}/instances")).unwrap_or(&[]),
                None => {
                    r.error(
                        node,
                        &path,
                        "missing required key `instances` (the service's containers)",
                    );
                    &[]
                }
            };
            for (ikey, inode) in instances {
                let Some(iname) = r.key(ikey, &format!("{path}/instances")) else {
                    continue;
                };
                if let Some((other, _)) = owner.get(&iname) {
                    let where_ = if *other == sname {
                        "this service".to_string()
                    } else {
                        format!("service `{other}`")
                    };
                    r.error(ikey, &format!("{path}/instances"), format!(
                        "instance `{iname}` is already defined in {where_}; expected instance names unique across all services"
                    ));
                    continue;
                }
                if !crate::objects::is_container_name(&iname) {
                    r.error(ikey, &format!("{path}/instances"), format!(
                        "`{iname}` cannot name a container; expected two or more letters, digits, `_`, `.` or `-`, starting with a letter or digit (the engine's rule for container names)"
                    ));
                    continue;
                }
                owner.insert(iname.clone(), (sname.clone(), ikey));
                if let Some(mut c) = instance(r, &draft, &iname, inode, &ships, schema, base_dir) {
                    attach(r, &mut c, node, &networks);
                    containers.push(c);
                }
            }
            drafts.push(draft);
        }
    }

    // References between services.
    let service_names: BTreeSet<&str> = drafts.iter().map(|d| d.name.as_str()).collect();
    let mut declared: HashMap<String, BTreeSet<String>> = HashMap::new();
    let mut wants: HashMap<String, BTreeSet<String>> = HashMap::new();
    for d in &drafts {
        let mut known = |key: &str, names: &[(String, &Node)]| -> BTreeSet<String> {
            let mut out = BTreeSet::new();
            for (dep, node) in names {
                if service_names.contains(dep.as_str()) {
                    out.insert(dep.clone());
                } else {
                    r.error(
                        node,
                        &format!("services/{}/{key}", d.name),
                        unknown("service", dep, &service_names),
                    );
                }
            }
            out
        };
        declared.insert(d.name.clone(), known("requires", &d.requires));
        wants.insert(d.name.clone(), known("wants_info", &d.wants_info));
    }

    // volumes_from and links: same ship, no shared targets; volumes_from implies a dependency.
    let by_name: HashMap<String, usize> = containers
        .iter()
        .enumerate()
        .map(|(i, c)| (c.container.name.clone(), i))
        .collect();
    let container_names: BTreeSet<&str> = by_name.keys().map(String::as_str).collect();
    let mut implied: HashMap<String, BTreeSet<String>> = HashMap::new();
    for c in &containers {
        let me = &c.container;
        let path = format!("services/{}/instances/{}", me.service, me.name);
        for (other_name, node) in me.volumes_from.iter().zip(&c.volumes_from_nodes) {
            let Some(&j) = by_name.get(other_name) else {
                r.error(
                    node,
                    &format!("{path}/volumes_from"),
                    unknown("container", other_name, &container_names),
                );
                continue;
            };
            let other = &containers[j].container;
            if other.ship != me.ship {
                r.error(node, &format!("{path}/volumes_from"), format!(
                    "`{}` is on ship `{}` but `{}` is on ship `{}`; volumes_from needs both on the same ship",
                    other.name, other.ship, me.name, me.ship
                ));
            }
            let mine = volume_targets(me);
            let conflicts: Vec<&String> = volume_targets(other)
                .into_iter()
                .filter(|t| mine.contains(t))
                .collect();
            if !conflicts.is_empty() {
                r.error(
                    node,
                    &format!("{path}/volumes_from"),
                    format!(
                        "`{}` and `{}` both mount {}; expected no shared volume targets",
                        me.name,
                        other.name,
                        conflicts
                            .iter()
                            .map(|t| format!("`{t}`"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                );
            }
            if other.service != me.service {
                implied
                    .entry(me.service.clone())
                    .or_default()
                    .insert(other.service.clone());
            }
        }
        for (node, target) in &c.link_nodes {
            match by_name.get(target) {
                None => r.error(node, &format!("{path}/links"), unknown("container", target, &container_names)),
                Some(&j) if containers[j].container.ship != me.ship => r.error(node, &format!("{path}/links"), format!(
                    "`{target}` is on ship `{}` but `{}` is on ship `{}`; links need both on the same ship",
                    containers[j].container.ship, me.name, me.ship
                )),
                Some(_) => {}
            }
        }
        if let Some(net) = &me.network_mode {
            if let Some(target) = net.strip_prefix("container:") {
                if !by_name.contains_key(target) {
                    r.error(
                        c.node.get("net").unwrap_or(c.node),
                        &format!("{path}/net"),
                        unknown("container", target, &container_names),
                    );
                }
            }
        }
    }

    let graph = DependencyGraph::new(declared, implied);
    if let Some(cycle) = graph.find_cycle() {
        let (node, path, entry) = cycle_closer(&drafts, &containers, &cycle, root);
        r.error(node, &path, format!(
            "`{entry}` closes the circular dependency {}; expected services to require each other without a cycle (through `requires` or `volumes_from`)",
            cycle.join(" -> ")
        ));
    }

    if !r.errors.is_empty() {
        return None;
    }

    // Link variables of each service: (with internal ports, without).
    let mut members_of: HashMap<&str, Vec<&Container>> = HashMap::new();
    for c in &containers {
        members_of
            .entry(c.container.service.as_str())
            .or_default()
            .push(&c.container);
    }
    for members in members_of.values_mut() {
        members.sort_by(|a, b| a.name.cmp(&b.name));
    }
    let mut link_vars: HashMap<&str, (LinkVars, LinkVars)> = HashMap::new();
    for d in drafts.iter().filter(|_| environments) {
        let members: &[&Container] = members_of
            .get(d.name.as_str())
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        let mut with_internal = Vec::new();
        let mut plain = Vec::new();
        for c in members {
            let ip = ships.get(&c.ship).map(|s| s.ip.clone()).unwrap_or_default();
            let host = (naming::host_var(&d.name, &c.name), ip);
            with_internal.push(host.clone());
            plain.push(host);
            for (pname, p) in &c.ports {
                let external = (
                    naming::port_var(&d.name, &c.name, pname),
                    p.external.number(),
                );
                with_internal.push(external.clone());
                plain.push(external);
                with_internal.push((
                    naming::internal_port_var(&d.name, &c.name, pname),
                    p.exposed.number(),
                ));
            }
        }
        let instances = (
            naming::instances_var(&d.name),
            members
                .iter()
                .map(|c| c.name.as_str())
                .collect::<Vec<_>>()
                .join(","),
        );
        with_internal.push(instances.clone());
        plain.push(instances);
        link_vars.insert(d.name.as_str(), (Arc::new(with_internal), Arc::new(plain)));
    }

    // Final environments and lifecycle checks.
    let mut services: IndexMap<String, Service> = IndexMap::new();
    for d in &drafts {
        let instances: Vec<String> = members_of
            .get(d.name.as_str())
            .into_iter()
            .flatten()
            .map(|c| c.name.clone())
            .collect();
        let mut requires: Vec<String> = graph.direct(&d.name).map(str::to_string).collect();
        requires.sort();
        services.insert(
            d.name.clone(),
            Service {
                name: d.name.clone(),
                image: d.image.clone().unwrap_or_default(),
                requires,
                wants_info: wants
                    .get(&d.name)
                    .map(|w| w.iter().cloned().collect())
                    .unwrap_or_default(),
                omit: d.omit,
                instances,
            },
        );
    }
    let mut out: IndexMap<String, Container> = IndexMap::new();
    let mut link_sets: HashMap<String, Vec<LinkVars>> = HashMap::new();
    for c in containers {
        let ContainerDraft {
            mut container,
            env: raw,
            lifecycle_nodes,
            ..
        } = c;
        if environments {
            let own: IndexMap<String, Option<String>> = raw
                .iter()
                .map(|(k, v)| (k.clone(), pyfmt::env_string(v)))
                .collect();
            let links = link_sets
                .entry(container.service.clone())
                .or_insert_with(|| {
                    let mut sets = vec![link_vars[container.service.as_str()].0.clone()];
                    let mut deps = graph.declared_requires(&container.service);
                    deps.extend(wants.get(&container.service).into_iter().flatten().cloned());
                    sets.extend(deps.iter().map(|dep| link_vars[dep.as_str()].1.clone()));
                    sets
                })
                .clone();
            container.env = ContainerEnv { own, links };
        }
        container.lifecycle = lifecycle::build(r, &lifecycle_nodes, &container);
        out.insert(container.name.clone(), container);
    }
    if !r.errors.is_empty() {
        return None;
    }

    let audit = crate::audit::build(r, get_set(top, "audit"));

    Some(Environment {
        name,
        schema,
        source: file.to_string(),
        base_dir: base_dir.to_path_buf(),
        ships,
        registries,
        services,
        containers: out,
        audit,
        graph,
        networks,
        volumes: named_volumes,
        warnings: Vec::new(),
    })
}

/// The container's `networks` (the instance's, else its service's).
fn attach(
    r: &mut Reader,
    c: &mut ContainerDraft,
    service_node: &Node,
    networks: &IndexMap<String, Network>,
) {
    let me = &c.container;
    let instance = c.node.as_map().unwrap_or(&[]);
    let at = format!("services/{}/instances/{}", me.service, me.name);
    let (node, path) = match get_set(instance, "networks") {
        Some(n) => (n, format!("{at}/networks")),
        None => match get_set(service_node.as_map().unwrap_or(&[]), "networks") {
            Some(n) => (n, format!("services/{}/networks", me.service)),
            None => return,
        },
    };
    let net = get_set(instance, "net").map(|n| (n, format!("{at}/net")));
    c.container.options.networks = crate::objects::attachments(r, node, &path, networks, net);
}

/// Where the last edge of `cycle` (its last service needing its first) is
/// written: the `requires` entry, else the `volumes_from` entry that implies
/// it. Gives the node, its path and the entry's text.
fn cycle_closer<'n>(
    drafts: &[ServiceDraft<'n>],
    containers: &[ContainerDraft<'n>],
    cycle: &[String],
    root: &'n Node,
) -> (&'n Node, String, String) {
    let (from, to) = match cycle {
        [.., from, to] => (from.as_str(), to.as_str()),
        _ => return (root, "services".into(), cycle.join(" -> ")),
    };
    let draft = drafts.iter().find(|d| d.name == from);
    if let Some((name, node)) = draft.and_then(|d| d.requires.iter().find(|(n, _)| n == to)) {
        return (*node, format!("services/{from}/requires"), name.clone());
    }
    let service_of: HashMap<&str, &str> = containers
        .iter()
        .map(|c| (c.container.name.as_str(), c.container.service.as_str()))
        .collect();
    for c in containers.iter().filter(|c| c.container.service == from) {
        let entries = c.container.volumes_from.iter().zip(&c.volumes_from_nodes);
        for (other, node) in entries {
            if service_of.get(other.as_str()) == Some(&to) {
                let path = format!(
                    "services/{from}/instances/{}/volumes_from",
                    c.container.name
                );
                return (*node, path, other.clone());
            }
        }
    }
    let node = draft.map(|d| d.node).unwrap_or(root);
    (node, format!("services/{from}"), to.to_owned())
}

fn volume_targets(c: &Container) -> Vec<&String> {
    c.volumes
        .iter()
        .map(|v| &v.target)
        .chain(c.container_volumes.iter())
        .collect()
}

fn registries(r: &mut Reader, node: Option<&Node>) -> IndexMap<String, Registry> {
    let mut out = IndexMap::new();
    let Some(node) = node else { return out };
    for (key, value) in r.map(node, "registries").unwrap_or(&[]) {
        let Some(name) = r.key(key, "registries") else {
            continue;
        };
        let path = format!("registries/{name}");
        let Some(entries) = r.map(value, &path) else {
            continue;
        };
        r.unknown_keys(entries, &path, crate::keys::REGISTRY);
        let text = |r: &mut Reader, k: &str| {
            get_set(entries, k).and_then(|n| r.string(n, &format!("{path}/{k}")))
        };
        let registry = text(r, "registry").unwrap_or_else(|| name.clone());
        let username = text(r, "username");
        let password = text(r, "password").map(Secret::new);
        let email = text(r, "email");
        let mut retry = Retry {
            attempts: 1,
            when: Vec::new(),
        };
        if let Some(rn) = get_set(entries, "retry") {
            let rpath = format!("{path}/retry");
            if let Some(re) = r.map(rn, &rpath) {
                r.unknown_keys(re, &rpath, crate::keys::RETRY);
                if let Some(a) = get_set(re, "attempts") {
                    retry.attempts = r
                        .integer(a, &format!("{rpath}/attempts"), 1, 1000)
                        .unwrap_or(1) as u32;
                }
                if let Some(w) = get_set(re, "when") {
                    let items: Vec<&Node> = match &w.value {
                        Value::Seq(items) => items.iter().collect(),
                        _ => vec![w],
                    };
                    for (i, item) in items.into_iter().enumerate() {
                        if let Some(code) = r.integer(item, &format!("{rpath}/when[{i}]"), 100, 599)
                        {
                            retry.when.push(code as u16);
                        }
                    }
                }
            }
        }
        out.insert(
            name.clone(),
            Registry {
                name,
                registry,
                username,
                password,
                email,
                retry,
            },
        );
    }
    out
}

fn ships(r: &mut Reader, node: &Node, defaults: &[(Node, Node)]) -> IndexMap<String, Ship> {
    let mut out = IndexMap::new();
    for (key, value) in r.map(node, "ships").unwrap_or(&[]) {
        let Some(name) = r.key(key, "ships") else {
            continue;
        };
        let path = format!("ships/{name}");
        let Some(entries) = r.map(value, &path) else {
            continue;
        };
        r.unknown_keys(entries, &path, SHIP_KEYS);
        if let Some(ship) = ship(r, &name, key, entries, defaults) {
            out.insert(name, ship);
        }
    }
    out
}

/// The one ship of a file without `ships`: `local`, the engine the Docker
/// CLI would use (`DOCKER_HOST`, the current context, the local socket),
/// with `ship_defaults` applied. Its `ip` (what containers are told) is the
/// host of a `tcp://` or `ssh://` address, else 127.0.0.1.
fn local_ship(r: &mut Reader, root: &Node, defaults: &[(Node, Node)]) -> IndexMap<String, Ship> {
    let mut out = IndexMap::new();
    let host = match crate::docker_host::from_process() {
        Ok(host) => host,
        Err(why) => {
            r.error(
                root,
                "environment",
                format!(
                    "the file has no `ships`, and the default ship `local` cannot be set up: {why}"
                ),
            );
            return out;
        }
    };
    let ip = match crate::endpoint::parse(&host.url) {
        Ok(Endpoint::Ssh(e)) => e.host,
        Ok(Endpoint::Tcp { host, .. }) => host,
        Ok(Endpoint::Unix(_)) => "127.0.0.1".to_owned(),
        Ok(Endpoint::Host(_)) | Err(_) => {
            r.error(
                root,
                "environment",
                format!(
                    "the file has no `ships`, and {} says `{}`, which is not `unix:///path`, `tcp://host:port` or `ssh://[user@]host[:port]`; fix it or add `ships`",
                    host.origin, host.url
                ),
            );
            return out;
        }
    };
    let text = |v: &str| Node {
        value: Value::Str(v.to_owned()),
        mark: root.mark,
    };
    let mut entries = vec![(text("ip"), text(&ip)), (text("endpoint"), text(&host.url))];
    if host.tls_verify {
        entries.push((
            text("tls_verify"),
            Node {
                value: Value::Bool(true),
                mark: root.mark,
            },
        ));
    }
    for (k, v) in [
        ("tls_ca_cert", &host.tls_ca_cert),
        ("tls_cert", &host.tls_cert),
        ("tls_key", &host.tls_key),
    ] {
        if let Some(p) = v {
            entries.push((text(k), text(&p.display().to_string())));
        }
    }
    if let Some(mut ship) = ship(r, LOCAL_SHIP, root, &entries, defaults) {
        ship.origin = Some(host.origin);
        out.insert(LOCAL_SHIP.to_owned(), ship);
    }
    out
}

/// Keys MaestroNG passed on that mean nothing to today's engines, and why.
const OBSOLETE_KEYS: &[(&str, &str)] = &[
    (
        "lxc_conf",
        "it configured Docker's LXC execution driver, which Docker 1.10 removed",
    ),
    (
        "ssl_version",
        "the TLS version to an engine is negotiated (1.2 or 1.3, what engines speak today)",
    ),
];

/// Warns once per key of [`OBSOLETE_KEYS`] that the file sets (an instance's
/// `lxc_conf`, a ship's or `ship_defaults`' `ssl_version`), at its first
/// place, counting the others: MaestroNG took them silently, and they are
/// still accepted.
fn obsolete_keys(r: &mut Reader, top: &[(Node, Node)]) {
    fn entries(node: Option<&Node>) -> &[(Node, Node)] {
        node.and_then(Node::as_map).unwrap_or(&[])
    }
    /// `key`'s key node in `map`, when it is set.
    fn set<'n>(map: &'n [(Node, Node)], key: &str) -> Option<&'n Node> {
        map.iter()
            .find(|(k, v)| k.as_str() == Some(key) && !v.is_null())
            .map(|(k, _)| k)
    }
    // (key, where it is set, the path of the mapping holding it)
    let mut found: Vec<(&str, &Node, String)> = Vec::new();
    if let Some(k) = set(entries(get(top, "ship_defaults")), "ssl_version") {
        found.push(("ssl_version", k, "ship_defaults".into()));
    }
    for (name, ship) in entries(get(top, "ships")) {
        if let Some(k) = set(entries(Some(ship)), "ssl_version") {
            let path = format!("ships/{}", pyfmt::key_text(&name.value));
            found.push(("ssl_version", k, path));
        }
    }
    for (sname, service) in entries(get(top, "services")) {
        for (iname, instance) in entries(get(entries(Some(service)), "instances")) {
            if let Some(k) = set(entries(Some(instance)), "lxc_conf") {
                let path = format!(
                    "services/{}/instances/{}",
                    pyfmt::key_text(&sname.value),
                    pyfmt::key_text(&iname.value)
                );
                found.push(("lxc_conf", k, path));
            }
        }
    }
    found.sort_by_key(|(_, node, _)| (node.mark.line, node.mark.column));
    let mut warned: Vec<&str> = Vec::new();
    for (key, node, path) in &found {
        if warned.contains(key) {
            continue;
        }
        warned.push(key);
        let count = found.iter().filter(|(k, _, _)| k == key).count();
        let why = OBSOLETE_KEYS
            .iter()
            .find(|(k, _)| k == key)
            .map_or("", |(_, why)| why);
        let others = match count - 1 {
            0 => String::new(),
            1 => " (also set in 1 other place)".to_owned(),
            n => format!(" (also set in {n} other places)"),
        };
        r.warn(node, path, format!("`{key}` is ignored: {why}{others}"));
    }
}

/// `__maestro.schema`: `1`, `2`, or the mapping form `{version: 2}`.
/// MaestroNG tests only `schema == 1`, so it reads every mapping as schema 2,
/// whatever its `version` says; a mapping means 2 here too, with a warning
/// when its `version` is not 2.
fn schema(r: &mut Reader, node: &Node) -> u8 {
    const PATH: &str = "__maestro/schema";
    match &node.value {
        Value::Int(1) => 1,
        Value::Int(2) => 2,
        Value::Map(entries) => {
            let version = get_set(entries, "version");
            if version.is_none_or(|v| v.value != Value::Int(2)) {
                let (at, found) = match version {
                    Some(v) => (v, format!("`version: {}`", show(v))),
                    None => (node, "no `version`".to_owned()),
                };
                r.warn(at, PATH, format!(
                    "a mapping with {found} is read as schema 2, as MaestroNG reads any mapping here; write `schema: 1` for schema 1, or `version: 2`"
                ));
            }
            2
        }
        _ => {
            r.expected(node, PATH, "1, 2 or {version: 2}");
            1
        }
    }
}

/// The name of the default ship of a file without `ships`.
pub const LOCAL_SHIP: &str = "local";

fn ship(
    r: &mut Reader,
    name: &str,
    key: &Node,
    entries: &[(Node, Node)],
    defaults: &[(Node, Node)],
) -> Option<Ship> {
    let path = format!("ships/{name}");
    // A ship's own value, else the default (its path names where it came from).
    let pick = |k: &str| -> Option<(&Node, String)> {
        get_set(entries, k)
            .map(|n| (n, format!("{path}/{k}")))
            .or_else(|| get_set(defaults, k).map(|n| (n, format!("ship_defaults/{k}"))))
    };
    let ip = match get_set(entries, "ip") {
        Some(n) => r
            .name(n, &format!("{path}/ip"), "an address or host name")
            .unwrap_or_default(),
        None => {
            r.error(
                key,
                &path,
                "missing required key `ip` (the address containers use to reach this host)",
            );
            String::new()
        }
    };
    let flag =
        |r: &mut Reader, k: &str| pick(k).and_then(|(n, p)| r.boolean(n, &p)).unwrap_or(false);
    let text = |r: &mut Reader, k: &str| pick(k).and_then(|(n, p)| r.string(n, &p));
    let tls = flag(r, "tls");
    let tls_verify = flag(r, "tls_verify");
    let docker_port_node = pick("docker_port");
    let mut docker_port = match &docker_port_node {
        Some((n, p)) => r.integer(n, p, 1, 65535).unwrap_or(0) as u16,
        None if tls => 2376,
        None => 2375,
    };
    let mut socket_path = text(r, "socket_path");
    let ssh_tunnel = pick("ssh_tunnel").and_then(|(n, p)| ssh_tunnel(r, n, &p));
    let mut endpoint = ip.clone();
    let mut ssh = None;
    if let Some(n) = get_set(entries, "endpoint") {
        let p = format!("{path}/endpoint");
        let given = r.name(n, &p, "an address, host name or engine URL");
        match given.as_deref().map(crate::endpoint::parse) {
            None => {}
            Some(Err(why)) => r.error(n, &p, why.to_string()),
            Some(Ok(Endpoint::Host(host))) => endpoint = host,
            Some(Ok(Endpoint::Ssh(e))) => {
                if ssh_tunnel.is_some() {
                    r.error(n, &p, "an `ssh://` endpoint and `ssh_tunnel` both say how to reach the engine over SSH; keep one (`ssh://` reaches its unix socket, `ssh_tunnel` its TCP port)");
                }
                if tls || tls_verify {
                    r.error(n, &p, "an `ssh://` endpoint reaches the engine's unix socket, which speaks no TLS; remove `tls`/`tls_verify` (SSH already encrypts and authenticates)");
                }
                endpoint = e.host.clone();
                ssh = Some(e);
            }
            Some(Ok(Endpoint::Unix(socket))) => {
                if let Some(other) = socket_path.as_ref().filter(|s| **s != socket) {
                    r.error(n, &p, format!("`unix://{socket}` and `socket_path: {other}` name two sockets; keep one"));
                }
                endpoint = "localhost".to_owned();
                socket_path = Some(socket);
            }
            Some(Ok(Endpoint::Tcp { host, port })) => {
                if let (Some(port), Some((_, _))) = (port, &docker_port_node) {
                    if port != docker_port {
                        r.error(n, &p, format!("the endpoint's port {port} and `docker_port: {docker_port}` differ; keep one"));
                    }
                }
                if let Some(port) = port {
                    docker_port = port;
                }
                endpoint = host;
            }
        }
    }
    let api_version = match pick("api_version") {
        None => ApiVersion::Auto,
        Some((n, p)) => api_version(r, n, &p),
    };
    let timeout = pick("timeout")
        .and_then(|(n, p)| r.seconds(n, &p))
        .unwrap_or(5.0);
    let ssh_timeout = pick("ssh_timeout").and_then(|(n, p)| r.seconds(n, &p));
    let tls_ca_cert = text(r, "tls_ca_cert");
    if tls_ca_cert.is_some() && !tls_verify && ssh.is_none() {
        if let Some((n, _)) = pick("tls_ca_cert") {
            r.warn(
                n,
                &format!("{path}/tls_ca_cert"),
                format!("ship {name} has `tls_ca_cert` but not `tls_verify`, so its engine's certificate is not checked (MaestroNG's meaning); add `tls_verify: true` to check it"),
            );
        }
    }
    Some(Ship {
        name: name.to_owned(),
        ip,
        endpoint,
        docker_port,
        socket_path,
        api_version,
        timeout,
        ssh_tunnel,
        tls,
        tls_verify,
        tls_ca_cert,
        tls_cert: text(r, "tls_cert"),
        tls_key: text(r, "tls_key"),
        ssl_version: text(r, "ssl_version"),
        ssh,
        ssh_accept_new_host_keys: flag(r, "ssh_accept_new_host_keys"),
        ssh_timeout,
        origin: None,
    })
}

fn api_version(r: &mut Reader, n: &Node, p: &str) -> ApiVersion {
    match &n.value {
        Value::Str(s) if s == "auto" => ApiVersion::Auto,
        Value::Str(s) if is_api_version(s) => ApiVersion::Fixed(s.clone()),
        Value::Float(f) => {
            let text = pyfmt::float_repr(*f);
            // 1.4 in YAML means 1.40: pad a one-digit minor version.
            let text = match text.split_once('.') {
                Some((major, minor)) if minor.len() == 1 => format!("{major}.{minor}0"),
                _ => text,
            };
            ApiVersion::Fixed(text)
        }
        _ => {
            r.expected(n, p, "an API version like \"1.41\" or \"auto\"");
            ApiVersion::Auto
        }
    }
}

fn ssh_tunnel(r: &mut Reader, n: &Node, p: &str) -> Option<SshTunnel> {
    let e = r.map(n, p)?;
    r.unknown_keys(e, p, crate::keys::SSH_TUNNEL);
    let user = match get_set(e, "user") {
        Some(u) => r.name(u, &format!("{p}/user"), "a user name"),
        None => {
            r.error(n, p, "missing required key `user` (the SSH user)");
            None
        }
    };
    let key = match get_set(e, "key") {
        Some(k) => r.name(k, &format!("{p}/key"), "the path of a private key file"),
        None => {
            r.error(
                n,
                p,
                "missing required key `key` (the path of the SSH private key)",
            );
            None
        }
    };
    let port = get_set(e, "port")
        .and_then(|pn| r.integer(pn, &format!("{p}/port"), 1, 65535))
        .unwrap_or(22) as u16;
    Some(SshTunnel {
        user: user?,
        key: key?,
        port,
    })
}

fn is_api_version(s: &str) -> bool {
    match s.split_once('.') {
        Some((a, b)) => {
            !a.is_empty()
                && !b.is_empty()
                && a.bytes().all(|c| c.is_ascii_digit())
                && b.bytes().all(|c| c.is_ascii_digit())
        }
        None => false,
    }
}

/// A list of names (`requires`, `wants_info`): a list, or one name.
fn name_list<'n>(r: &mut Reader, node: Option<&'n Node>, path: &str) -> Vec<(String, &'n Node)> {
    let Some(node) = node else { return Vec::new() };
    let items: Vec<&Node> = match &node.value {
        Value::Seq(items) => items.iter().collect(),
        Value::Null => Vec::new(),
        _ => vec![node],
    };
    items
        .into_iter()
        .enumerate()
        .filter_map(|(i, n)| {
            r.name(n, &format!("{path}[{i}]"), "a service name")
                .map(|s| (s, n))
        })
        .collect()
}

/// Named entries of a mapping (ports, limits), keys as text.
fn named_entries<'n>(
    r: &mut Reader,
    node: Option<&'n Node>,
    path: &str,
) -> Vec<(String, &'n Node)> {
    let Some(node) = node else { return Vec::new() };
    r.map(node, path)
        .unwrap_or(&[])
        .iter()
        .filter_map(|(k, v)| r.key(k, path).map(|name| (name, v)))
        .collect()
}

/// Overlays `over` on `base` by name: same names replaced in place, new ones appended.
fn overlay<'n>(
    base: &[(String, &'n Node)],
    over: Vec<(String, &'n Node)>,
) -> Vec<(String, &'n Node)> {
    let mut out = base.to_vec();
    for (name, node) in over {
        match out.iter_mut().find(|(n, _)| *n == name) {
            Some(slot) => slot.1 = node,
            None => out.push((name, node)),
        }
    }
    out
}

fn service<'n>(
    r: &mut Reader,
    name: &str,
    node: &'n Node,
    env_name: &str,
    base_dir: &Path,
) -> Option<ServiceDraft<'n>> {
    let path = format!("services/{name}");
    let entries = r.map(node, &path)?;
    if matches!(node.value, Value::Null) {
        r.error(node, &path, "missing required keys `image` and `instances`");
        return None;
    }
    r.unknown_keys_of(
        entries,
        &path,
        &[
            SERVICE_KEYS,
            crate::keys::OPTIONS,
            crate::keys::CONTAINER_NETWORKS,
        ],
    );
    let image = match get_set(entries, "image") {
        Some(n) => r.name(n, &format!("{path}/image"), "an image name"),
        None => {
            r.error(
                node,
                &path,
                "missing required key `image` (the image of every instance)",
            );
            None
        }
    };
    let mut env = RawEnv::new();
    env_sources(
        r,
        &mut env,
        get_set(entries, "envfile"),
        get_set(entries, "env"),
        &path,
        base_dir,
    );
    env.insert(
        "MAESTRO_ENVIRONMENT_NAME".into(),
        Value::Str(env_name.to_string()),
    );
    env.insert("SERVICE_NAME".into(), Value::Str(name.to_string()));
    let omit = get_set(entries, "omit")
        .and_then(|n| r.boolean(n, &format!("{path}/omit")))
        .unwrap_or(false);
    Some(ServiceDraft {
        name: name.to_string(),
        node,
        image,
        env,
        ports: named_entries(r, get_set(entries, "ports"), &format!("{path}/ports")),
        limits: named_entries(r, get_set(entries, "limits"), &format!("{path}/limits")),
        lifecycle: get_set(entries, "lifecycle"),
        requires: name_list(r, get_set(entries, "requires"), &format!("{path}/requires")),
        wants_info: name_list(
            r,
            get_set(entries, "wants_info"),
            &format!("{path}/wants_info"),
        ),
        omit,
    })
}

/// Adds envfiles, then `env`, to `out` (later wins).
fn env_sources(
    r: &mut Reader,
    out: &mut RawEnv,
    envfile: Option<&Node>,
    env: Option<&Node>,
    path: &str,
    base_dir: &Path,
) {
    if let Some(node) = envfile {
        envfiles(r, out, node, &format!("{path}/envfile"), base_dir);
    }
    if let Some(node) = env {
        let maps: Vec<&Node> = match &node.value {
            Value::Seq(items) => items.iter().collect(),
            _ => vec![node],
        };
        for m in maps {
            let Some(entries) = r.map(m, &format!("{path}/env")) else {
                continue;
            };
            for (k, v) in entries {
                let Some(key) = env_key(r, k, &format!("{path}/env")) else {
                    continue;
                };
                warn_nested_env(r, v, &format!("{path}/env/{key}"));
                out.insert(key, v.value.clone());
            }
        }
    }
}

/// A mapping as an environment value becomes its Python text
/// (`{'b': 'c'}`), as MaestroNG made it: kept, but said, since it is
/// rarely what was meant (a list is joined with spaces, a documented form).
fn warn_nested_env(r: &mut Reader, value: &Node, path: &str) {
    if !matches!(value.value, Value::Map(_)) {
        return;
    }
    let text = pyfmt::env_string(&value.value).unwrap_or_default();
    r.warn(
        value,
        path,
        format!(
            "a mapping as an environment value is passed as its Python text `{text}`, as MaestroNG did; quote the value if that is what you mean, or write the variables one by one"
        ),
    );
}

/// One env file, a list of them (nested lists too), or inline mappings
/// among them, read in order as MaestroNG did.
fn envfiles(r: &mut Reader, out: &mut RawEnv, node: &Node, path: &str, base_dir: &Path) {
    match &node.value {
        Value::Seq(items) => {
            for item in items {
                envfiles(r, out, item, path, base_dir);
            }
        }
        Value::Map(entries) => {
            for (k, v) in entries {
                if let Some(key) = env_key(r, k, path) {
                    warn_nested_env(r, v, &format!("{path}/{key}"));
                    out.insert(key, v.value.clone());
                }
            }
        }
        Value::Null => {}
        _ => {
            let Some(name) = r.name(node, path, "the path of an env file") else {
                return;
            };
            match envfile::read(&base_dir.join(&name)) {
                Ok(vars) => {
                    for (k, v) in vars {
                        out.insert(k, Value::Str(v));
                    }
                }
                Err(why) => r.error(node, path, format!("cannot use env file `{name}`: {why}")),
            }
        }
    }
}

fn env_key(r: &mut Reader, node: &Node, path: &str) -> Option<String> {
    match &node.value {
        Value::Str(s) if !s.is_empty() && !s.contains('=') => Some(s.clone()),
        Value::Int(_) | Value::Float(_) | Value::Bool(_) => Some(pyfmt::str_of(&node.value)),
        _ => {
            r.expected(node, path, "a variable name (without `=`)");
            None
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn instance<'n>(
    r: &mut Reader,
    service: &ServiceDraft<'n>,
    name: &str,
    node: &'n Node,
    ships: &IndexMap<String, Ship>,
    schema: u8,
    base_dir: &Path,
) -> Option<ContainerDraft<'n>> {
    let path = format!("services/{}/instances/{name}", service.name);
    // A file without `ships` has one, `local`, where instances go by default.
    let default_ship = ships
        .values()
        .find(|s| s.origin.is_some())
        .map(|s| s.name.clone());
    let entries = match &node.value {
        Value::Map(e) => e.as_slice(),
        Value::Null if default_ship.is_some() => &[],
        Value::Null => {
            r.error(
                node,
                &path,
                "missing required key `ship` (the ship to run this container on)",
            );
            return None;
        }
        _ => {
            r.expected(node, &path, "a mapping with at least `ship`");
            return None;
        }
    };
    r.unknown_keys_of(
        entries,
        &path,
        &[
            INSTANCE_KEYS,
            crate::keys::OPTIONS,
            crate::keys::CONTAINER_NETWORKS,
        ],
    );
    let p = |k: &str| format!("{path}/{k}");
    let ship_node = get_set(entries, "ship");
    let ship = match ship_node {
        Some(n) => match r.name(n, &p("ship"), "a ship name") {
            Some(s) if ships.contains_key(&s) => s,
            Some(s) => {
                let known: BTreeSet<&str> = ships.keys().map(String::as_str).collect();
                r.error(n, &p("ship"), unknown("ship", &s, &known));
                return None;
            }
            None => return None,
        },
        None if default_ship.is_some() => default_ship.unwrap_or_default(),
        None => {
            r.error(
                node,
                &path,
                "missing required key `ship` (the ship to run this container on)",
            );
            return None;
        }
    };
    let ship_ip = ships[&ship].ip.clone();
    let image = match get_set(entries, "image") {
        Some(n) => r.name(n, &p("image"), "an image name")?,
        None => service.image.clone()?,
    };

    // Environment: the service's, then the instance's envfiles and env, then the seeds.
    let mut env = service.env.clone();
    env_sources(
        r,
        &mut env,
        get_set(entries, "envfile"),
        get_set(entries, "env"),
        &path,
        base_dir,
    );
    env.insert("CONTAINER_NAME".into(), Value::Str(name.to_string()));
    env.insert("CONTAINER_HOST_ADDRESS".into(), Value::Str(ship_ip));
    env.insert("DOCKER_IMAGE".into(), Value::Str(image.clone()));
    env.insert(
        "DOCKER_TAG".into(),
        Value::Str(image_tag(&image).to_string()),
    );

    let mut port_map = IndexMap::new();
    let instance_ports = named_entries(r, get_set(entries, "ports"), &p("ports"));
    for (pname, pnode) in overlay(&service.ports, instance_ports) {
        if let Some(m) = ports::parse(r, pnode, &format!("{}/{pname}", p("ports"))) {
            port_map.insert(pname, m);
        }
    }

    let volumes = volumes(r, get_set(entries, "volumes"), &p("volumes"), schema);
    let container_volumes = get_set(entries, "container_volumes")
        .map(|n| r.string_list(n, &p("container_volumes")))
        .unwrap_or_default();
    for v in &volumes {
        if container_volumes.contains(&v.target) {
            let at = get_set(entries, "container_volumes").unwrap_or(node);
            r.error(at, &p("container_volumes"), format!(
                "`{}` is both bind-mounted (from `{}`) and a container-only volume; expected each target once",
                v.target, v.host
            ));
        }
    }
    let (volumes_from, volumes_from_nodes) = match get_set(entries, "volumes_from") {
        Some(n) => {
            let nodes: Vec<&Node> = match &n.value {
                Value::Seq(items) => items.iter().collect(),
                _ => vec![n],
            };
            let mut names = Vec::new();
            let mut kept = Vec::new();
            for (i, item) in nodes.into_iter().enumerate() {
                if let Some(s) = r.name(
                    item,
                    &format!("{}[{i}]", p("volumes_from")),
                    "a container name",
                ) {
                    if !names.contains(&s) {
                        names.push(s);
                        kept.push(item);
                    }
                }
            }
            (names, kept)
        }
        None => (Vec::new(), Vec::new()),
    };

    let mut links = IndexMap::new();
    let mut link_nodes = Vec::new();
    if let Some(n) = get_set(entries, "links") {
        for (k, v) in r.map(n, &p("links")).unwrap_or(&[]) {
            let Some(target) = r.key(k, &p("links")) else {
                continue;
            };
            let alias = if v.is_null() {
                Some(target.clone())
            } else {
                r.name(v, &format!("{}/{target}", p("links")), "an alias")
            };
            if let Some(alias) = alias {
                links.insert(target.clone(), alias);
                link_nodes.push((k, target));
            }
        }
    }

    let command_node = get_set(entries, "command").or_else(|| get_set(entries, "cmd"));
    let command = command_node.and_then(|n| crate::reader::command(r, n, &p("command")));

    let text = |r: &mut Reader, k: &str| get_set(entries, k).and_then(|n| r.string(n, &p(k)));
    let list = |r: &mut Reader, k: &str| {
        get_set(entries, k)
            .map(|n| r.string_list(n, &p(k)))
            .unwrap_or_default()
    };

    let mut extra_hosts = IndexMap::new();
    if let Some(n) = get_set(entries, "extra_hosts") {
        for (k, v) in r.map(n, &p("extra_hosts")).unwrap_or(&[]) {
            let Some(host) = r.key(k, &p("extra_hosts")) else {
                continue;
            };
            let hpath = format!("{}/{host}", p("extra_hosts"));
            let address = match &v.value {
                Value::Map(m) => match get_set(m, "ship") {
                    Some(sn) => match r.name(sn, &format!("{hpath}/ship"), "a ship name") {
                        Some(s) => match ships.get(&s) {
                            Some(ship) => Some(ship.ip.clone()),
                            None => {
                                let known: BTreeSet<&str> =
                                    ships.keys().map(String::as_str).collect();
                                r.error(sn, &format!("{hpath}/ship"), unknown("ship", &s, &known));
                                None
                            }
                        },
                        None => None,
                    },
                    None => {
                        r.expected(v, &hpath, "an address or {ship: NAME}");
                        None
                    }
                },
                Value::Str(s) => Some(s.clone()),
                _ => {
                    r.expected(v, &hpath, "an address or {ship: NAME}");
                    None
                }
            };
            if let Some(a) = address {
                extra_hosts.insert(host, a);
            }
        }
    }

    let network_mode = text(r, "net");
    if let (Some(net), Some(n)) = (&network_mode, get_set(entries, "net")) {
        let ok = matches!(net.as_str(), "bridge" | "host" | "none")
            || net
                .strip_prefix("container:")
                .is_some_and(|c| !c.is_empty());
        if !ok {
            r.error(
                n,
                &p("net"),
                format!(
                    "unknown network mode {}; expected bridge, host, none or container:NAME",
                    show(n)
                ),
            );
        }
    }
    let hostname = if network_mode.is_some() {
        None
    } else {
        Some(name.to_string())
    };

    let restart = restart(r, get_set(entries, "restart"), &p("restart"));
    let given_timeout = get_set(entries, "stop_timeout")
        .and_then(|n| r.integer(n, &p("stop_timeout"), 0, 86_400))
        .map(|t| t as u32);
    let sources = crate::options::Sources {
        service: service.node.as_map().unwrap_or(&[]),
        service_path: format!("services/{}", service.name),
        instance: entries,
        instance_path: path.clone(),
    };
    let (options, grace) = crate::options::build(r, &sources, given_timeout);
    let stop_timeout = grace.or(given_timeout).unwrap_or(10);
    let instance_limits = named_entries(r, get_set(entries, "limits"), &p("limits"));
    let limits = limits(r, &overlay(&service.limits, instance_limits), &path);
    let ulimits = ulimits(r, get_set(entries, "ulimits"), &p("ulimits"));
    let log_config = log_config(
        r,
        get_set(entries, "log_driver"),
        get_set(entries, "log_opt"),
        &path,
    );
    let labels = labels(r, get_set(entries, "labels"), &p("labels"));
    let privileged = get_set(entries, "privileged")
        .and_then(|n| r.boolean(n, &p("privileged")))
        .unwrap_or(false);

    let mut lifecycle_nodes = Vec::new();
    if let Some(n) = service.lifecycle {
        lifecycle_nodes.push((n, format!("services/{}/lifecycle", service.name)));
    }
    if let Some(n) = get_set(entries, "lifecycle") {
        lifecycle_nodes.push((n, p("lifecycle")));
    }

    let container = Container {
        name: name.to_string(),
        service: service.name.clone(),
        ship,
        image,
        env: ContainerEnv::default(),
        ports: port_map,
        volumes,
        container_volumes,
        volumes_from,
        links,
        command,
        workdir: text(r, "workdir"),
        username: text(r, "username"),
        privileged,
        cap_add: list(r, "cap_add"),
        cap_drop: list(r, "cap_drop"),
        security_opt: list(r, "security_opt"),
        extra_hosts,
        network_mode,
        hostname,
        dns: dns(r, get_set(entries, "dns"), &p("dns")),
        restart,
        stop_timeout,
        limits,
        ulimits,
        log_config,
        labels,
        lifecycle: Lifecycle::default(),
        options: Box::new(options),
    };
    Some(ContainerDraft {
        container,
        node,
        env,
        volumes_from_nodes,
        link_nodes,
        lifecycle_nodes,
    })
}

fn volumes(r: &mut Reader, node: Option<&Node>, path: &str, schema: u8) -> Vec<VolumeBinding> {
    let mut out: Vec<VolumeBinding> = Vec::new();
    let Some(node) = node else { return out };
    for (k, v) in r.map(node, path).unwrap_or(&[]) {
        let Some(key) = r.string(k, path) else {
            continue;
        };
        let vpath = format!("{path}/{key}");
        let binding = if schema == 1 {
            // Schema 1: container path → host path.
            r.string(v, &vpath).map(|host| VolumeBinding {
                host,
                target: key.clone(),
                mode: "rw".into(),
            })
        } else {
            match &v.value {
                Value::Str(target) => Some(VolumeBinding {
                    host: key.clone(),
                    target: target.clone(),
                    mode: "rw".into(),
                }),
                Value::Map(m) => match get_set(m, "target") {
                    Some(t) => {
                        let target = r.string(t, &format!("{vpath}/target"));
                        let mode = match get_set(m, "mode") {
                            Some(mn) => r.string(mn, &format!("{vpath}/mode")).filter(|mode| {
                                let bad: Vec<&str> = mode.split(',').filter(|o| !VOLUME_MODES.contains(o)).collect();
                                if bad.is_empty() {
                                    true
                                } else {
                                    r.error(mn, &format!("{vpath}/mode"), format!(
                                        "unknown volume mode `{}`; expected ro or rw, optionally with z, Z, shared, slave, private, nocopy (e.g. \"ro,Z\")",
                                        bad.join(",")
                                    ));
                                    false
                                }
                            }),
                            None => Some("rw".into()),
                        };
                        match (target, mode) {
                            (Some(target), Some(mode)) => Some(VolumeBinding {
                                host: key.clone(),
                                target,
                                mode,
                            }),
                            _ => None,
                        }
                    }
                    None => {
                        r.error(
                            v,
                            &vpath,
                            "missing required key `target` (the path inside the container)",
                        );
                        None
                    }
                },
                _ => {
                    r.expected(v, &vpath, "a container path or {target: PATH, mode: ro|rw}");
                    None
                }
            }
        };
        if let Some(b) = binding {
            if let Some(other) = out.iter().find(|o| o.target == b.target) {
                r.error(
                    k,
                    &vpath,
                    format!(
                    "`{}` is mounted twice (from `{}` and `{}`); expected each container path once",
                    b.target, other.host, b.host
                ),
                );
                continue;
            }
            out.push(b);
        }
    }
    out
}

fn restart(r: &mut Reader, node: Option<&Node>, path: &str) -> RestartPolicy {
    let default = RestartPolicy {
        name: "no".into(),
        retries: 0,
    };
    let Some(node) = node else { return default };
    let make = |r: &mut Reader,
                name: &str,
                retries: Option<&Node>,
                at: &Node|
     -> Option<RestartPolicy> {
        if !RESTART_POLICIES.contains(&name) {
            r.error(
                at,
                path,
                format!(
                    "unknown restart policy `{name}`; expected one of: {}",
                    RESTART_POLICIES.join(", ")
                ),
            );
            return None;
        }
        let retries = match retries {
            Some(n) => match &n.value {
                Value::Int(i) if (0..=1_000_000).contains(i) => *i as u32,
                Value::Str(t) if t.trim().parse::<u32>().is_ok_and(|c| c <= 1_000_000) => {
                    t.trim().parse().unwrap_or(0)
                }
                _ => {
                    r.error(n, path, format!(
                            "invalid retry count {} in the restart policy; expected a whole number from 0 to 1000000",
                            show(n)
                        ));
                    return None;
                }
            },
            None => 0,
        };
        Some(RestartPolicy {
            name: name.to_string(),
            retries,
        })
    };
    let policy = match &node.value {
        Value::Str(s) => {
            let (name, retries) = match s.split_once(':') {
                Some((n, count)) => (n, Some(count)),
                None => (s.as_str(), None),
            };
            let retries_node = retries.map(|c| Node {
                value: Value::Str(c.to_string()),
                mark: node.mark,
            });
            make(r, name, retries_node.as_ref(), node)
        }
        Value::Map(m) => {
            r.unknown_keys(m, path, crate::keys::RESTART);
            let name = get_set(m, "name")
                .and_then(|n| r.string(n, &format!("{path}/name")))
                .unwrap_or_else(|| "no".into());
            let retries = get_set(m, "retries").or_else(|| get_set(m, "maximum_retry_count"));
            make(r, &name, retries, node)
        }
        Value::Bool(false) => Some(default.clone()),
        Value::Bool(true) => {
            r.error(node, path, format!(
                "invalid restart policy: YAML 1.1 reads an unquoted yes/on/true as a boolean; expected one of: {} (quote it, e.g. \"always\")",
                RESTART_POLICIES.join(", ")
            ));
            None
        }
        _ => {
            r.error(node, path, format!(
                "invalid restart policy {}; expected one of: {} (as \"on-failure:3\" or {{name: on-failure, retries: 3}})",
                show(node),
                RESTART_POLICIES.join(", ")
            ));
            None
        }
    };
    policy.unwrap_or(default)
}

/// `dns`: one DNS server's IP address, or a list of them.
fn dns(r: &mut Reader, node: Option<&Node>, path: &str) -> Vec<String> {
    let Some(node) = node else {
        return Vec::new();
    };
    let items: Vec<(&Node, String)> = match &node.value {
        Value::Null => return Vec::new(),
        Value::Seq(items) => items
            .iter()
            .enumerate()
            .map(|(i, item)| (item, format!("{path}[{i}]")))
            .collect(),
        _ => vec![(node, path.to_owned())],
    };
    let mut out = Vec::new();
    for (item, at) in items {
        match &item.value {
            Value::Str(s) if s.trim().parse::<std::net::IpAddr>().is_ok() => {
                out.push(s.trim().to_owned())
            }
            other => {
                let shown = pyfmt::str_of(other);
                r.error(
                    item,
                    &at,
                    format!(
                        "`{shown}` is not an IP address; expected a DNS server's address (e.g. 10.0.0.2), or a list of them"
                    ),
                );
            }
        }
    }
    out
}

fn limits(r: &mut Reader, entries: &[(String, &Node)], path: &str) -> Limits {
    let mut out = Limits::default();
    for (name, node) in entries {
        let lpath = format!("{path}/limits/{name}");
        if node.is_null() {
            continue;
        }
        let bytes = |r: &mut Reader| -> Option<i64> {
            match &node.value {
                Value::Int(i) if *i >= -1 && *i <= i64::MAX as i128 => Some(*i as i64),
                Value::Str(s) => match parse_bytes(s) {
                    Ok(b) => Some(b),
                    Err(why) => {
                        r.error(node, &lpath, format!("{why}; expected bytes, or a number with a k, m or g suffix (e.g. 512m)"));
                        None
                    }
                },
                _ => {
                    r.expected(
                        node,
                        &lpath,
                        "bytes, or a number with a k, m or g suffix (e.g. 512m)",
                    );
                    None
                }
            }
        };
        match name.as_str() {
            "memory" => {
                out.memory = match bytes(r) {
                    Some(b) if b < 0 => {
                        r.error(
                            node,
                            &lpath,
                            format!("a memory limit of {b} bytes; expected bytes, or a number with a k, m or g suffix (e.g. 512m), 0 for no limit"),
                        );
                        None
                    }
                    other => other.map(|b| b as u64),
                }
            }
            "swap" => out.swap = bytes(r),
            "cpu" => {
                out.cpu_shares = r
                    .integer(node, &lpath, 0, u32::MAX as i128)
                    .map(|c| c as u64)
            }
            _ => r.warn(
                node,
                &format!("{path}/limits"),
                format!(
                    "unknown limit `{name}` is ignored (known: {})",
                    crate::keys::LIMITS.join(", ")
                ),
            ),
        }
    }
    out
}

fn ulimits(r: &mut Reader, node: Option<&Node>, path: &str) -> Vec<Ulimit> {
    let mut out = Vec::new();
    let Some(node) = node else { return out };
    for (k, v) in r.map(node, path).unwrap_or(&[]) {
        let Some(name) = r.key(k, path) else { continue };
        let upath = format!("{path}/{name}");
        let range = (-1, i64::MAX as i128);
        match &v.value {
            Value::Int(_) => {
                if let Some(n) = r.integer(v, &upath, range.0, range.1) {
                    out.push(Ulimit {
                        name,
                        soft: n as i64,
                        hard: n as i64,
                    });
                }
            }
            Value::Map(m) => {
                let soft = get_set(m, "soft")
                    .and_then(|n| r.integer(n, &format!("{upath}/soft"), range.0, range.1));
                let hard = get_set(m, "hard")
                    .and_then(|n| r.integer(n, &format!("{upath}/hard"), range.0, range.1));
                match (soft.or(hard), hard.or(soft)) {
                    (Some(s), Some(h)) => out.push(Ulimit {
                        name,
                        soft: s as i64,
                        hard: h as i64,
                    }),
                    _ => r.expected(v, &upath, "a number, or {soft: N, hard: N}"),
                }
            }
            _ => r.expected(v, &upath, "a number, or {soft: N, hard: N}"),
        }
    }
    out
}

fn log_config(
    r: &mut Reader,
    driver: Option<&Node>,
    options: Option<&Node>,
    path: &str,
) -> Option<LogConfig> {
    let driver =
        driver.and_then(|n| r.name(n, &format!("{path}/log_driver"), "a logging driver name"));
    let mut opts = IndexMap::new();
    if let Some(n) = options {
        for (k, v) in r.map(n, &format!("{path}/log_opt")).unwrap_or(&[]) {
            if let Some(key) = r.key(k, &format!("{path}/log_opt")) {
                opts.insert(key, pyfmt::env_string(&v.value).unwrap_or_default());
            }
        }
        if driver.is_none() && !opts.is_empty() {
            r.warn(
                n,
                &format!("{path}/log_opt"),
                "log_opt without log_driver is ignored",
            );
        }
    }
    driver.map(|driver| LogConfig {
        driver,
        options: opts,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_bytes("512m"), Ok(512 * 1024 * 1024));
        assert_eq!(parse_bytes("2G"), Ok(2 * 1024 * 1024 * 1024));
        assert_eq!(parse_bytes("1k"), Ok(1024));
        assert_eq!(parse_bytes("100"), Ok(100));
        assert!(parse_bytes("1.5g").is_err());
        assert!(parse_bytes("12x").is_err());
    }

    fn load(text: &str) -> Result<Environment, crate::LoadError> {
        let source = crate::Source {
            name: "t.yaml".into(),
            base_dir: std::path::PathBuf::from("."),
            text: text.into(),
        };
        crate::load(&source, &Default::default())
    }

    /// Without environments the model is the same but for the containers'
    /// variables, and the same file errors are found.
    #[test]
    fn a_load_without_environments_skips_only_the_variables() {
        let text = "name: t
ships: {s1: {ip: 10.0.0.1}}
services:
  db: {image: pg, instances: {db-1: {ship: s1, ports: {pg: 5432}}}}
  web:
    image: nginx
    requires: [db]
    env: {A: b}
    instances: {web-1: {ship: s1}}
";
        let source = |text: &str| crate::Source {
            name: "t.yaml".into(),
            base_dir: std::path::PathBuf::from("."),
            text: text.into(),
        };
        let lean = crate::Needs {
            environments: false,
        };
        let full = load(text).expect("valid");
        let bare = crate::load_with(&source(text), &Default::default(), lean).expect("valid");
        assert!(!full.containers["web-1"].env.resolved().is_empty());
        for (name, c) in &bare.containers {
            assert!(c.env.resolved().is_empty(), "{name}");
            let mut with = full.containers[name].clone();
            with.env = Default::default();
            assert_eq!(*c, with, "{name}");
        }
        let broken = text.replace("requires: [db]", "requires: [dbb]");
        let errors = |r: Result<Environment, crate::LoadError>| -> Vec<String> {
            r.err()
                .map(|e| e.errors.iter().map(ToString::to_string).collect())
                .unwrap_or_default()
        };
        let full_errors = errors(load(&broken));
        assert!(!full_errors.is_empty());
        assert_eq!(
            errors(crate::load_with(
                &source(&broken),
                &Default::default(),
                lean
            )),
            full_errors
        );
    }

    #[test]
    fn endpoints_in_the_docker_cli_forms() {
        let env = load(
            "name: t
ship_defaults: {ssh_timeout: 7}
ships:
  a: {ip: 10.0.0.1, endpoint: \"ssh://deploy@a:2222\", socket_path: /run/docker.sock}
  b: {ip: 10.0.0.2, endpoint: \"tcp://b:2376\"}
  c: {ip: 10.0.0.3, endpoint: \"unix:///run/c.sock\", ssh_accept_new_host_keys: true}
  d: {ip: 10.0.0.4, endpoint: d.example}
services: {}
",
        )
        .expect("a valid file");
        let a = &env.ships["a"];
        let ssh = a.ssh.as_ref().expect("an ssh endpoint");
        assert_eq!(
            (ssh.user.as_deref(), ssh.host.as_str(), ssh.port),
            (Some("deploy"), "a", Some(2222))
        );
        assert_eq!(a.socket_path.as_deref(), Some("/run/docker.sock"));
        assert_eq!(a.ssh_timeout, Some(7.0));
        assert_eq!(a.ip, "10.0.0.1");
        let b = &env.ships["b"];
        assert_eq!(
            (b.endpoint.as_str(), b.docker_port, b.ssh.is_none()),
            ("b", 2376, true)
        );
        let c = &env.ships["c"];
        assert_eq!(c.socket_path.as_deref(), Some("/run/c.sock"));
        assert!(c.ssh_accept_new_host_keys);
        assert!(!a.ssh_accept_new_host_keys);
        assert_eq!(env.ships["d"].endpoint, "d.example");
        assert!(env.warnings.is_empty(), "{:?}", env.warnings);
    }

    /// Host path -> container path under schema 2; the other way round under 1.
    const SCHEMA_VOLUMES: &str = "name: t
ships: {s1: {ip: 10.0.0.1}}
services:
  files:
    image: f
    instances:
      files-1:
        ship: s1
        volumes: {/srv/files: /files}
";

    #[test]
    fn schema_in_the_mapping_form_means_schema_2() {
        let env = load(&format!(
            "__maestro:\n  schema: {{version: 2}}\n{SCHEMA_VOLUMES}"
        ))
        .expect("the mapping form is accepted");
        assert_eq!(env.schema, 2);
        let v = &env.containers["files-1"].volumes[0];
        assert_eq!(
            (v.host.as_str(), v.target.as_str()),
            ("/srv/files", "/files")
        );
        assert!(env.warnings.is_empty(), "{:?}", env.warnings);

        let env = load(&format!("__maestro: {{schema: 1}}\n{SCHEMA_VOLUMES}")).expect("schema 1");
        let v = &env.containers["files-1"].volumes[0];
        assert_eq!(
            (env.schema, v.host.as_str(), v.target.as_str()),
            (1, "/files", "/srv/files")
        );
    }

    /// MaestroNG compares the value with 1 only, so any mapping is schema 2,
    /// `{version: 1}` included: the same here, said in a located warning.
    #[test]
    fn a_schema_mapping_without_version_2_is_schema_2_with_a_warning() {
        for (schema, at, found) in [
            ("{version: 1}", "t.yaml:2:21:", "`version: 1`"),
            ("{version: \"2\"}", "t.yaml:2:21:", "`version: \"2\"`"),
            ("{other: 2}", "t.yaml:2:11:", "no `version`"),
        ] {
            let env = load(&format!("__maestro:\n  schema: {schema}\n{SCHEMA_VOLUMES}"))
                .unwrap_or_else(|e| panic!("{schema}: {e}"));
            assert_eq!(env.schema, 2, "{schema}");
            assert_eq!(env.containers["files-1"].volumes[0].host, "/srv/files");
            assert_eq!(env.warnings.len(), 1, "{schema}: {:?}", env.warnings);
            let text = env.warnings[0].to_string();
            assert!(text.starts_with(at), "{schema}: {text}");
            assert!(text.contains(found), "{schema}: {text}");
            assert!(text.contains("read as schema 2"), "{schema}: {text}");
        }
    }

    /// Keys MaestroNG took that today's engines have no use for: one located
    /// warning each, at the first place, however many places set it.
    #[test]
    fn obsolete_keys_warn_once_each() {
        let env = load(
            "name: t
ship_defaults: {ssl_version: TLSv1}
ships:
  s1: {ip: 10.0.0.1, ssl_version: TLSv1_2}
  s2: {ip: 10.0.0.2}
services:
  web:
    image: nginx
    instances:
      web-1: {ship: s1, lxc_conf: {lxc.utsname: web}}
      web-2: {ship: s2, lxc_conf: {lxc.utsname: web}}
      web-3: {ship: s2, lxc_conf: {lxc.utsname: web}}
      web-4: {ship: s2, lxc_conf: null}
",
        )
        .expect("still a valid file");
        let warnings: Vec<String> = env.warnings.iter().map(ToString::to_string).collect();
        assert_eq!(
            warnings,
            [
                "t.yaml:2:17: ship_defaults: `ssl_version` is ignored: the TLS version to an engine is negotiated (1.2 or 1.3, what engines speak today) (also set in 1 other place)",
                "t.yaml:10:25: services/web/instances/web-1: `lxc_conf` is ignored: it configured Docker's LXC execution driver, which Docker 1.10 removed (also set in 2 other places)",
            ]
        );
        assert_eq!(env.ships["s1"].ssl_version.as_deref(), Some("TLSv1_2"));

        let env = load("name: t\nships: {s1: {ip: 10.0.0.1}}\nservices: {}\n").expect("valid");
        assert!(env.warnings.is_empty(), "{:?}", env.warnings);
    }

    /// A mapping as an env value keeps MaestroNG's meaning (its Python
    /// text) but is warned about, located.
    #[test]
    fn a_nested_env_value_is_kept_and_warned_about() {
        let env = load(
            "name: t
ships: {s1: {ip: 10.0.0.1}}
services:
  web:
    image: nginx
    env: {A: {b: c}, B: plain}
    instances:
      web-1: {ship: s1, env: {D: {e: 1}, C: [1, 2]}}
",
        )
        .expect("still a valid file");
        let warnings: Vec<String> = env.warnings.iter().map(ToString::to_string).collect();
        assert_eq!(
            warnings,
            [
                "t.yaml:6:14: services/web/env/A: a mapping as an environment value is passed as its Python text `{'b': 'c'}`, as MaestroNG did; quote the value if that is what you mean, or write the variables one by one",
                "t.yaml:8:34: services/web/instances/web-1/env/D: a mapping as an environment value is passed as its Python text `{'e': 1}`, as MaestroNG did; quote the value if that is what you mean, or write the variables one by one",
            ]
        );
        let web = &env.containers["web-1"];
        assert_eq!(web.env.resolved().get("A"), Some(&Some("{'b': 'c'}")));
    }

    #[test]
    fn an_unverified_ca_warns_naming_the_ship() {
        let env = load(
            "name: t
ships:
  s1: {ip: 10.0.0.1, tls: true, tls_ca_cert: /ca.pem}
  s2: {ip: 10.0.0.2, tls: true, tls_verify: true, tls_ca_cert: /ca.pem}
services: {}
",
        )
        .expect("a valid file");
        assert_eq!(env.warnings.len(), 1, "{:?}", env.warnings);
        let text = env.warnings[0].to_string();
        assert!(text.contains("ship s1"), "{text}");
        assert!(text.contains("tls_verify: true"), "{text}");
        assert!(text.starts_with("t.yaml:3:"), "{text}");
    }
}
