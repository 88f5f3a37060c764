//! The model's services and containers, made from the drafts once the
//! references are checked: each service's instances and dependencies, each
//! container's environment (its own variables, then the link variables: the
//! host, ports and instances of its own service and of the services it
//! requires or wants to know of) and its lifecycle checks. Imports the
//! drafts, `env` and the dependencies `references` found.

use std::collections::HashMap;
use std::sync::Arc;

use indexmap::IndexMap;

use super::drafts::{ContainerDraft, ServiceDraft};
use super::env;
use super::references::Dependencies;
use crate::lifecycle;
use crate::model::{Container, ContainerEnv, Lifecycle, LinkVars, ProxyRoute, Service, Ship};
use crate::naming;
use crate::reader::Reader;

/// The link variables of a service: with its internal ports, and without
/// (what its dependents see).
type ServiceLinkVars = (LinkVars, LinkVars);

/// The containers of each service, by name.
pub(super) fn members_by_service<'c>(
    containers: &'c [ContainerDraft],
) -> HashMap<&'c str, Vec<&'c Container>> {
    let mut members_of: HashMap<&str, Vec<&Container>> = HashMap::new();
    for c in containers {
        members_of
            .entry(c.container.service.as_str())
            .or_default()
            .push(&c.container);
    }
    for members in members_of.values_mut() {
        members.sort_by(|a, b| a.name.cmp(&b.name));
    }
    members_of
}

/// The link variables of every service.
pub(super) fn link_vars<'d>(
    drafts: &'d [ServiceDraft],
    members_of: &HashMap<&str, Vec<&Container>>,
    ships: &IndexMap<String, Ship>,
) -> HashMap<&'d str, ServiceLinkVars> {
    let mut out = HashMap::new();
    for d in drafts {
        let members: &[&Container] = members_of
            .get(d.name.as_str())
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        out.insert(d.name.as_str(), service_link_vars(&d.name, members, ships));
    }
    out
}

/// The link variables of service `name`, whose containers are `members`.
fn service_link_vars(
    name: &str,
    members: &[&Container],
    ships: &IndexMap<String, Ship>,
) -> ServiceLinkVars {
    let mut with_internal = Vec::new();
    let mut plain = Vec::new();
    for c in members {
        let ip = ships.get(&c.ship).map(|s| s.ip.clone()).unwrap_or_default();
        let host = (naming::host_var(name, &c.name), ip);
        with_internal.push(host.clone());
        plain.push(host);
        for (pname, p) in &c.ports {
            let external = (naming::port_var(name, &c.name, pname), p.external.number());
            with_internal.push(external.clone());
            plain.push(external);
            with_internal.push((
                naming::internal_port_var(name, &c.name, pname),
                p.exposed.number(),
            ));
        }
    }
    let instances = (
        naming::instances_var(name),
        members
            .iter()
            .map(|c| c.name.as_str())
            .collect::<Vec<_>>()
            .join(","),
    );
    with_internal.push(instances.clone());
    plain.push(instances);
    (Arc::new(with_internal), Arc::new(plain))
}

/// The model's services: each with its instances (by name), what it
/// requires (declared or implied) and what it wants to know of, its proxy
/// route and its rollout.
/// `routes`: each proxied service's route.
pub(super) fn services(
    drafts: &[ServiceDraft],
    members: &HashMap<&str, Vec<&Container>>,
    dependencies: &Dependencies,
    mut routes: HashMap<String, ProxyRoute>,
) -> IndexMap<String, Service> {
    let mut services: IndexMap<String, Service> = IndexMap::new();
    for d in drafts {
        let instances: Vec<String> = members
            .get(d.name.as_str())
            .into_iter()
            .flatten()
            .map(|c| c.name.clone())
            .collect();
        let mut requires: Vec<String> = dependencies
            .graph
            .direct(&d.name)
            .map(str::to_string)
            .collect();
        requires.sort();
        services.insert(
            d.name.clone(),
            Service {
                name: d.name.clone(),
                image: d.image.clone().unwrap_or_default(),
                requires,
                wants_info: dependencies
                    .wants
                    .get(&d.name)
                    .map(|w| w.iter().cloned().collect())
                    .unwrap_or_default(),
                omit: d.omit,
                instances,
                hooks: d.hooks.clone(),
                proxy: routes.remove(&d.name),
                update: d.update.clone(),
            },
        );
    }
    services
}

/// The model's containers: each with its lifecycle checks and, as
/// `environments` says, its environment.
pub(super) fn containers(
    r: &mut Reader,
    containers: Vec<ContainerDraft>,
    (drafts, ships): (&[ServiceDraft], &IndexMap<String, Ship>),
    dependencies: &Dependencies,
    environments: crate::Environments,
) -> IndexMap<String, Container> {
    let lifecycles: Vec<Lifecycle> = containers
        .iter()
        .map(|c| lifecycle::build(r, &c.lifecycle_nodes, &c.container))
        .collect();
    let wanted: Vec<bool> = lifecycles
        .iter()
        .map(|l| match environments {
            crate::Environments::All => true,
            crate::Environments::ExecChecks => l.has_exec_check(),
            crate::Environments::None => false,
        })
        .collect();
    // The services' drafts and link variables, only when an environment
    // reads them.
    let (service_of, link_vars) = if wanted.contains(&true) {
        let members = members_by_service(&containers);
        let service_of = drafts.iter().map(|d| (d.name.as_str(), d)).collect();
        (service_of, link_vars(drafts, &members, ships))
    } else {
        (HashMap::new(), HashMap::new())
    };
    let mut out: IndexMap<String, Container> = IndexMap::with_capacity(containers.len());
    // The link variable sets of each service's containers.
    let mut link_sets: HashMap<&str, Vec<LinkVars>> = HashMap::new();
    for ((c, lifecycle), wanted) in containers.into_iter().zip(lifecycles).zip(wanted) {
        let ContainerDraft {
            mut container,
            env: raw,
            ..
        } = c;
        container.lifecycle = lifecycle;
        if wanted {
            let service: &ServiceDraft = service_of[container.service.as_str()];
            let links = link_sets
                .entry(service.name.as_str())
                .or_insert_with(|| link_sets_of(&service.name, &link_vars, dependencies))
                .clone();
            container.env = environment(&container, (&service.env, &raw), ships, links);
        }
        out.insert(container.name.clone(), container);
    }
    out
}

/// The environment of `container`: its service's variables, its own
/// (`raw`), the seeded ones, then the link variable sets.
fn environment(
    container: &Container,
    (service_env, raw): (&env::RawEnv, &env::RawEnv),
    ships: &IndexMap<String, Ship>,
    links: Vec<LinkVars>,
) -> ContainerEnv {
    let seeds = env::Seeds {
        name: &container.name,
        ship_ip: ships.get(&container.ship).map_or("", |s| s.ip.as_str()),
        image: &container.image,
    };
    ContainerEnv {
        own: env::own_values(service_env, raw, &seeds),
        links,
    }
}

/// The link variable sets a container of `service` gets, in the order they
/// apply: its own service's, then those of each service it requires or
/// wants to know of.
fn link_sets_of(
    service: &str,
    link_vars: &HashMap<&str, ServiceLinkVars>,
    dependencies: &Dependencies,
) -> Vec<LinkVars> {
    let mut sets = vec![link_vars[service].0.clone()];
    let mut deps = dependencies.graph.declared_requires(service);
    deps.extend(
        dependencies
            .wants
            .get(service)
            .into_iter()
            .flatten()
            .cloned(),
    );
    sets.extend(deps.iter().map(|dep| link_vars[dep.as_str()].1.clone()));
    sets
}
