//! The references between sections, checked once every service and
//! instance is read: `requires` and `wants_info` name services;
//! `volumes_from`, `links` and `net: container:NAME` name containers (on the
//! same ship); and the dependencies, declared or implied by `volumes_from`,
//! have no cycle.
//! Imports only `drafts` and `volumes` (the targets a container mounts).

use std::collections::{BTreeSet, HashMap};

use super::drafts::{ContainerDraft, ServiceDraft};
use super::volumes::volume_targets;
use crate::graph::DependencyGraph;
use crate::reader::{unknown, Reader};
use crate::yaml::Node;

/// Service names to the names of other services.
type ByService = HashMap<String, BTreeSet<String>>;

/// What services need of each other.
pub(super) struct Dependencies {
    /// Declared (`requires`) and implied (`volumes_from`) dependencies.
    pub(super) graph: DependencyGraph,
    /// Each service's `wants_info`, the services that exist.
    pub(super) wants: ByService,
}

/// Checks every reference; gives the dependencies between services.
pub(super) fn check(
    r: &mut Reader,
    root: &Node,
    drafts: &[ServiceDraft],
    containers: &[ContainerDraft],
) -> Dependencies {
    let (declared, wants) = service_references(r, drafts);
    let implied = container_references(r, containers);
    let graph = DependencyGraph::new(declared, implied);
    if let Some(cycle) = graph.find_cycle() {
        let (node, path, entry) = cycle_closer(drafts, containers, &cycle, root);
        r.error(node, &path, format!(
            "`{entry}` closes the circular dependency {}; expected services to require each other without a cycle (through `requires` or `volumes_from`)",
            cycle.join(" -> ")
        ));
    }
    Dependencies { graph, wants }
}

/// Each service's `requires` and `wants_info`, each name checked to be a
/// service's (the others are left out).
fn service_references(r: &mut Reader, drafts: &[ServiceDraft]) -> (ByService, ByService) {
    let service_names: BTreeSet<&str> = drafts.iter().map(|d| d.name.as_str()).collect();
    let mut declared = ByService::new();
    let mut wants = ByService::new();
    for d in drafts {
        let mut known = |key: &str, names: &[(String, &Node)]| -> BTreeSet<String> {
            let mut out = BTreeSet::new();
            for (dep, node) in names {
                if service_names.contains(dep.as_str()) {
                    out.insert(dep.clone());
                } else {
                    r.error(
                        node,
                        &format_args!("services/{}/{key}", d.name),
                        unknown("service", dep, &service_names),
                    );
                }
            }
            out
        };
        declared.insert(d.name.clone(), known("requires", &d.requires));
        wants.insert(d.name.clone(), known("wants_info", &d.wants_info));
    }
    (declared, wants)
}

/// The containers that containers name, and where.
struct Containers<'a, 'n> {
    all: &'a [ContainerDraft<'n>],
    by_name: HashMap<String, usize>,
}

impl Containers<'_, '_> {
    fn names(&self) -> BTreeSet<&str> {
        self.by_name.keys().map(String::as_str).collect()
    }
}

/// Checks each container's `volumes_from`, `links` and `net:
/// container:NAME`; gives the dependencies between services that
/// `volumes_from` implies.
fn container_references(r: &mut Reader, containers: &[ContainerDraft]) -> ByService {
    let all = Containers {
        all: containers,
        by_name: containers
            .iter()
            .enumerate()
            .map(|(i, c)| (c.container.name.clone(), i))
            .collect(),
    };
    let mut implied = ByService::new();
    for c in containers {
        volumes_from(r, c, &all, &mut implied);
        links(r, c, &all);
        net(r, c, &all);
    }
    implied
}

fn instance_path(c: &ContainerDraft) -> String {
    let me = &c.container;
    format!("services/{}/instances/{}", me.service, me.name)
}

/// `volumes_from`: a container on the same ship, mounting nothing where `c`
/// does; its service, when another, is one `c`'s service requires.
fn volumes_from(r: &mut Reader, c: &ContainerDraft, all: &Containers, implied: &mut ByService) {
    let me = &c.container;
    let path = format_args!("{}/volumes_from", instance_path(c));
    for (other_name, node) in me.volumes_from.iter().zip(&c.volumes_from_nodes) {
        let Some(&j) = all.by_name.get(other_name) else {
            r.error(node, &path, unknown("container", other_name, &all.names()));
            continue;
        };
        let other = &all.all[j].container;
        if other.ship != me.ship {
            r.error(node, &path, format!(
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
                &path,
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
}

/// `links`: each target a container on the same ship.
fn links(r: &mut Reader, c: &ContainerDraft, all: &Containers) {
    let me = &c.container;
    let path = format_args!("{}/links", instance_path(c));
    for (node, target) in &c.link_nodes {
        match all.by_name.get(target) {
            None => r.error(node, &path, unknown("container", target, &all.names())),
            Some(&j) if all.all[j].container.ship != me.ship => r.error(node, &path, format!(
                "`{target}` is on ship `{}` but `{}` is on ship `{}`; links need both on the same ship",
                all.all[j].container.ship, me.name, me.ship
            )),
            Some(_) => {}
        }
    }
}

/// `net: container:NAME`: NAME a container.
fn net(r: &mut Reader, c: &ContainerDraft, all: &Containers) {
    let Some(net) = &c.container.network_mode else {
        return;
    };
    let Some(target) = net.strip_prefix("container:") else {
        return;
    };
    if !all.by_name.contains_key(target) {
        r.error(
            c.node.get("net").unwrap_or(c.node),
            &format_args!("{}/net", instance_path(c)),
            unknown("container", target, &all.names()),
        );
    }
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
