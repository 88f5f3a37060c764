//! Where each replica runs: the ships declared under the top-level
//! `x-maestro`, a service's `x-maestro: {ships}` (a list the replicas are
//! spread over in turn, or replica number → ship), or Swarm's
//! `deploy.placement.constraints: [node.hostname == SHIP]`; without any of
//! them, over every declared ship in turn, or on the default ship when the
//! file declares none.

use serde_json::{Map, Value as Json};

use super::mapper::{shares_with, Mapper};
use crate::yaml::Node;

/// The top-level `x-maestro` keys, passed to the environment as written.
pub(super) const TOP_KEYS: &[&str] = &["ships", "ship_defaults", "registries", "audit", "proxy"];

/// The environment's own keys given under the top-level `x-maestro`.
pub(super) fn top_level(m: &mut Mapper) -> Vec<(String, Node)> {
    let Some(x) = m.project.x_maestro() else {
        return Vec::new();
    };
    let at = m.at_top("x-maestro");
    let Some(entries) = x.as_object() else {
        m.error(
            None,
            "x-maestro",
            format!(
                "expected a mapping of maestro's keys ({})",
                TOP_KEYS.join(", ")
            ),
        );
        return Vec::new();
    };
    let mut out = Vec::new();
    for (key, value) in entries {
        if TOP_KEYS.contains(&key.as_str()) {
            out.push((key.clone(), at.json(value)));
        } else {
            m.error(
                None,
                &format!("x-maestro/{key}"),
                format!(
                    "unknown key `{key}`; expected one of {}",
                    TOP_KEYS.join(", ")
                ),
            );
        }
    }
    out
}

/// The ships the top-level `x-maestro` declares, in order.
pub(super) fn declared(m: &Mapper) -> Vec<String> {
    m.project
        .x_maestro()
        .and_then(|x| x.get("ships"))
        .and_then(Json::as_object)
        .map(|s| s.keys().cloned().collect())
        .unwrap_or_default()
}

/// The ship of each replica (`None` each: the default ship), or `None`
/// after an error. A service sharing another's container (`network_mode`,
/// `pid` or `ipc` as `service:X`) runs where X's first container runs.
pub(super) fn ships(
    m: &mut Mapper,
    name: &str,
    svc: &Map<String, Json>,
    replicas: usize,
) -> Option<Vec<Option<String>>> {
    let declared = declared(m);
    let Some(chosen) = chosen(m, name, svc, replicas, &declared)? else {
        return Some(vec![None; replicas]);
    };
    for (i, ship) in chosen.iter().enumerate() {
        if !declared.contains(ship) {
            let known = if declared.is_empty() {
                "none are declared; add them under the top-level x-maestro/ships".to_string()
            } else {
                format!("the ships are {}", declared.join(", "))
            };
            m.error(
                Some(name),
                &format!("services/{name}"),
                format!(
                    "replica {} is placed on the unknown ship `{ship}`; {known}",
                    i + 1
                ),
            );
            return None;
        }
    }
    if let Some((key, other)) = shares_with(svc) {
        let theirs = first_ship(m, other, 8);
        if let Some((i, ship)) = chosen
            .iter()
            .enumerate()
            .find(|(_, s)| theirs.as_ref().is_some_and(|t| t != *s))
        {
            m.error(
                Some(name),
                &format!("services/{name}/{key}"),
                format!(
                    "replica {} is placed on `{ship}`, but it shares the container of `{other}`, which runs on `{}`; place it there (or leave its placement out)",
                    i + 1,
                    theirs.unwrap_or_default()
                ),
            );
            return None;
        }
    }
    Some(chosen.into_iter().map(Some).collect())
}

/// The placement written for the service (its own, a constraint, the
/// service it shares a container with, every declared ship in turn), or
/// `None` for the default ship.
fn chosen(
    m: &mut Mapper,
    name: &str,
    svc: &Map<String, Json>,
    replicas: usize,
    declared: &[String],
) -> Option<Option<Vec<String>>> {
    if let Some(spec) = svc.get("x-maestro").and_then(|x| x.get("ships")) {
        return Some(Some(from_spec(m, name, spec, replicas)?));
    }
    if let Some(ship) = constraint(m, name, svc)? {
        return Some(Some(vec![ship; replicas]));
    }
    if let Some(ship) = shares_with(svc).and_then(|(_, other)| first_ship(m, other, 8)) {
        return Some(Some(vec![ship; replicas]));
    }
    if declared.is_empty() {
        return Some(None);
    }
    Some(Some(
        (0..replicas)
            .map(|i| declared[i % declared.len()].clone())
            .collect(),
    ))
}

/// Where a service's first container runs, as [`ships`] would place it
/// (without its messages, which come where that service is mapped).
fn first_ship(m: &Mapper, name: &str, depth: u8) -> Option<String> {
    let svc = m.service(name)?;
    match svc.get("x-maestro").and_then(|x| x.get("ships")) {
        Some(Json::String(s)) => return Some(s.clone()),
        Some(Json::Array(items)) => return items.first()?.as_str().map(str::to_string),
        Some(Json::Object(by)) => return by.get("1")?.as_str().map(str::to_string),
        _ => {}
    }
    if let Some(ship) = hostnames(svc).next() {
        return Some(ship);
    }
    match shares_with(svc) {
        Some((_, other)) if depth > 0 => first_ship(m, other, depth - 1),
        _ => declared(m).into_iter().next(),
    }
}

/// The ships `node.hostname ==` constraints name.
fn hostnames(svc: &Map<String, Json>) -> impl Iterator<Item = String> + '_ {
    constraints(svc).filter_map(hostname)
}

/// The texts of `deploy.placement.constraints`.
fn constraints(svc: &Map<String, Json>) -> impl Iterator<Item = &str> {
    svc.get("deploy")
        .and_then(|d| d.get("placement"))
        .and_then(|p| p.get("constraints"))
        .and_then(Json::as_array)
        .into_iter()
        .flatten()
        .map(|c| c.as_str().unwrap_or(""))
}

fn hostname(constraint: &str) -> Option<String> {
    constraint
        .split_once("==")
        .filter(|(k, _)| k.trim() == "node.hostname")
        .map(|(_, v)| v.trim().to_string())
}

/// `x-maestro: {ships: …}`: a ship, a list taken in turn, or a mapping of
/// replica number → ship covering every replica.
fn from_spec(m: &mut Mapper, name: &str, spec: &Json, replicas: usize) -> Option<Vec<String>> {
    let path = format!("services/{name}/x-maestro/ships");
    let list: Vec<String> = match spec {
        Json::String(s) => vec![s.clone()],
        Json::Array(items) => {
            let names: Option<Vec<String>> = items
                .iter()
                .map(|i| i.as_str().map(str::to_string))
                .collect();
            match names {
                Some(n) if !n.is_empty() => n,
                _ => {
                    m.error(Some(name), &path, "expected a non-empty list of ship names");
                    return None;
                }
            }
        }
        Json::Object(by_replica) => return by_number(m, name, by_replica, replicas),
        _ => {
            m.error(
                Some(name),
                &path,
                "expected a ship name, a list of ships (replicas spread over them in turn) or a mapping of replica number to ship",
            );
            return None;
        }
    };
    Some(
        (0..replicas)
            .map(|i| list[i % list.len()].clone())
            .collect(),
    )
}

fn by_number(
    m: &mut Mapper,
    name: &str,
    by_replica: &Map<String, Json>,
    replicas: usize,
) -> Option<Vec<String>> {
    let path = format!("services/{name}/x-maestro/ships");
    let mut out = vec![String::new(); replicas];
    for (key, ship) in by_replica {
        let n: Option<usize> = key.parse().ok().filter(|n| (1..=replicas).contains(n));
        let (Some(n), Some(ship)) = (n, ship.as_str()) else {
            m.error(
                Some(name),
                &format!("{path}/{key}"),
                format!("expected a replica number from 1 to {replicas} mapped to a ship name"),
            );
            return None;
        };
        out[n - 1] = ship.to_string();
    }
    if let Some(missing) = out.iter().position(String::is_empty) {
        m.error(
            Some(name),
            &path,
            format!(
                "replica {} has no ship; expected every replica from 1 to {replicas} placed",
                missing + 1
            ),
        );
        return None;
    }
    Some(out)
}

/// The ship `deploy.placement.constraints` names with `node.hostname ==`;
/// other constraints are warned about and ignored.
fn constraint(m: &mut Mapper, name: &str, svc: &Map<String, Json>) -> Option<Option<String>> {
    let mut found: Option<String> = None;
    for (i, text) in constraints(svc).enumerate() {
        let path = format!("services/{name}/deploy/placement/constraints[{i}]");
        match (hostname(text), &found) {
            (Some(h), Some(f)) if &h != f => {
                m.error(
                    Some(name),
                    &path,
                    format!("a second `node.hostname ==` constraint (`{h}` after `{f}`); a replica runs on one ship"),
                );
                return None;
            }
            (Some(h), _) => found = Some(h),
            (None, _) => m.warn(
                Some(name),
                &path,
                format!("`{text}` is ignored; maestro places replicas by `node.hostname == SHIP` or `x-maestro: {{ships: […]}}`"),
            ),
        }
    }
    Some(found)
}
