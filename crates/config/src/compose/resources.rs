//! The project's networks, volumes, secrets and configs as the
//! environment's: each keeps its key (services name it so) and the name
//! Compose gives it on the engine (`PROJECT_KEY`). Configs are delivered
//! like secrets (files written into the container before it starts), under
//! the name `config.KEY`.

use serde_json::{Map, Value as Json};

use super::mapper::Mapper;
use super::tree::At;
use crate::yaml::Node;

/// The name a config takes among the environment's secrets.
pub(super) fn config_name(key: &str) -> String {
    format!("config.{key}")
}

pub(super) fn top_level(m: &mut Mapper) -> Vec<(String, Node)> {
    let mut out = Vec::new();
    let model = &m.project.model;
    let at = At(crate::error::Mark { line: 1, column: 1 });
    let section = |key: &str| model.get(key).and_then(Json::as_object);
    if let Some(networks) = section("networks") {
        let entries: Vec<(String, Node)> = networks
            .iter()
            .map(|(k, n)| (k.clone(), network(m, k, n, at)))
            .collect();
        out.push(("networks".into(), at.map(entries)));
    }
    if let Some(volumes) = section("volumes") {
        let entries: Vec<(String, Node)> = volumes
            .iter()
            .map(|(k, v)| (k.clone(), volume(v, at)))
            .collect();
        out.push(("volumes".into(), at.map(entries)));
    }
    let mut secrets: Vec<(String, Node)> = Vec::new();
    for (k, s) in section("secrets").into_iter().flatten() {
        secrets.extend(secret(m, "secrets", k, s, at).map(|n| (k.clone(), n)));
    }
    for (k, c) in section("configs").into_iter().flatten() {
        secrets.extend(secret(m, "configs", k, c, at).map(|n| (config_name(k), n)));
    }
    if !secrets.is_empty() {
        out.push(("secrets".into(), at.map(secrets)));
    }
    out
}

/// Copies the keys of `from` that the environment reads as they are.
fn copy(from: &Json, keys: &[&str], at: At, out: &mut Vec<(String, Node)>) {
    for k in keys {
        if let Some(v) = from.get(*k).filter(|v| !v.is_null()) {
            out.push((k.to_string(), at.json(v)));
        }
    }
}

fn network(m: &mut Mapper, key: &str, n: &Json, at: At) -> Node {
    let mut entries = Vec::new();
    copy(n, &["name"], at, &mut entries);
    if n.get("external").and_then(Json::as_bool) == Some(true) {
        entries.push(("external".into(), at.bool(true)));
        return at.map(entries);
    }
    copy(
        n,
        &["driver", "driver_opts", "labels", "internal", "attachable"],
        at,
        &mut entries,
    );
    if let Some(ipam) = n
        .get("ipam")
        .filter(|i| i.as_object().is_some_and(|o| !o.is_empty()))
    {
        let config: Vec<Node> = ipam
            .get("config")
            .and_then(Json::as_array)
            .into_iter()
            .flatten()
            .map(|c| {
                let mut pool = Vec::new();
                copy(c, &["subnet", "gateway", "ip_range"], at, &mut pool);
                at.map(pool)
            })
            .collect();
        let mut ipam_entries = vec![("config".to_string(), at.seq(config))];
        copy(ipam, &["driver"], at, &mut ipam_entries);
        entries.push(("ipam".into(), at.map(ipam_entries)));
    }
    for ignored in ["enable_ipv6", "enable_ipv4"] {
        if n.get(ignored).is_some() {
            m.warn(
                None,
                &format!("networks/{key}/{ignored}"),
                "is ignored; maestro creates the network with the engine's defaults for it",
            );
        }
    }
    at.map(entries)
}

fn volume(v: &Json, at: At) -> Node {
    let mut entries = Vec::new();
    copy(v, &["name"], at, &mut entries);
    if v.get("external").and_then(Json::as_bool) == Some(true) {
        entries.push(("external".into(), at.bool(true)));
        return at.map(entries);
    }
    copy(v, &["driver", "driver_opts", "labels"], at, &mut entries);
    at.map(entries)
}

/// A secret (or config) and where its value comes from.
fn secret(m: &mut Mapper, section: &str, key: &str, s: &Json, at: At) -> Option<Node> {
    let path = format!("{section}/{key}");
    if s.get("external").and_then(Json::as_bool) == Some(true) {
        m.error(
            None,
            &path,
            "an external secret lives in a Swarm's store, which maestro does not use; expected `file`, `environment` or (under x-maestro) `command`",
        );
        return None;
    }
    let mut entries = Vec::new();
    copy(s, &["file", "environment", "x-maestro"], at, &mut entries);
    if let Some(content) = s.get("content").and_then(Json::as_str) {
        // A config's inline text: printed by a command run on this machine.
        entries.push((
            "x-maestro".into(),
            at.map([("command", at.strs(["printf", "%s", content]))]),
        ));
    }
    Some(at.map(entries))
}

/// A service's `secrets` and `configs` as the container's secrets.
pub(super) fn mounts(svc: &Map<String, Json>, at: At) -> Option<Node> {
    let mut out = Vec::new();
    for (section, default_dir) in [("secrets", None), ("configs", Some("/"))] {
        for item in svc
            .get(section)
            .and_then(Json::as_array)
            .into_iter()
            .flatten()
        {
            let Some(source) = item.get("source").and_then(Json::as_str) else {
                continue;
            };
            let name = match section {
                "configs" => config_name(source),
                _ => source.to_string(),
            };
            let mut entries = vec![("source".to_string(), at.str(name))];
            match (item.get("target").and_then(Json::as_str), default_dir) {
                (Some(t), _) => entries.push(("target".into(), at.str(t))),
                (None, Some(dir)) => {
                    entries.push(("target".into(), at.str(format!("{dir}{source}"))))
                }
                (None, None) => {}
            }
            for id in ["uid", "gid"] {
                if let Some(n) = item.get(id).and_then(number) {
                    entries.push((id.into(), at.int(n)));
                }
            }
            // Compose prints the mode as octal text (`"0440"`).
            match item.get("mode") {
                Some(Json::String(m)) => {
                    let digits = m.trim_start_matches('0');
                    let digits = if digits.is_empty() { "0" } else { digits };
                    entries.push(("mode".into(), at.str(format!("0o{digits}"))));
                }
                Some(Json::Number(n)) => entries.push((
                    "mode".into(),
                    at.str(format!("0o{:o}", n.as_u64().unwrap_or(0))),
                )),
                _ => {}
            }
            out.push(at.map(entries));
        }
    }
    (!out.is_empty()).then(|| at.seq(out))
}

/// A number, or a string of digits (Compose keeps `uid: "103"` a string).
fn number(v: &Json) -> Option<i128> {
    match v {
        Json::Number(n) => n.as_i64().map(i128::from),
        Json::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}
