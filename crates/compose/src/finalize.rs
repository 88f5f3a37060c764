//! From the merged files to the model `docker compose config --format json`
//! prints: profiles applied, references checked, the default network added,
//! env files read into `environment`, resource names filled in.

use std::path::Path;

use serde_json::{json, Map, Value as Json};

use crate::dotenv;
use crate::error::ComposeError;
use crate::load::Model;
use crate::merge;
use crate::session::{RefKind, Session};

pub fn finalize(
    session: &mut Session,
    mut model: Model,
    name: &str,
    profiles: &[String],
) -> Result<Json, ComposeError> {
    let all: Vec<String> = model.services.keys().cloned().collect();
    model.services.retain(|_, svc| active(svc, profiles));
    for svc in model.services.values_mut() {
        merge::strip_markers(svc);
    }
    check_refs(session, &model, &all)?;
    let mut uses_default = false;
    let names: Vec<String> = model.services.keys().cloned().collect();
    for sname in &names {
        let Some(Json::Object(svc)) = model.services.get_mut(sname) else {
            continue;
        };
        if !svc.contains_key("image") {
            let loc = model.service_locs.get(sname).cloned().unwrap_or_default();
            return Err(ComposeError::at(loc, format!("service `{sname}` has no `image`; maestro runs images and does not build them, so name the image to run")));
        }
        implicit_depends_on(svc);
        sort_extra_hosts(svc);
        if !svc.contains_key("network_mode") && !svc.contains_key("networks") {
            svc.insert("networks".into(), json!({"default": null}));
        }
        if svc.get("networks").and_then(|n| n.get("default")).is_some() {
            uses_default = true;
        }
        environment(session, svc)?;
        svc.entry("command").or_insert(Json::Null);
        svc.entry("entrypoint").or_insert(Json::Null);
    }
    if uses_default && !model.networks.contains_key("default") {
        model.networks.insert("default".into(), json!({"ipam": {}}));
    }
    let mut out = Map::new();
    out.insert("name".into(), json!(name));
    out.insert("services".into(), Json::Object(model.services));
    let sections = [
        ("networks", model.networks),
        ("volumes", model.volumes),
        ("secrets", model.secrets),
        ("configs", model.configs),
    ];
    for (key, mut section) in sections {
        if section.is_empty() {
            continue;
        }
        for (rname, r) in section.iter_mut() {
            merge::strip_markers(r);
            name_resource(r, rname, name);
        }
        out.insert(key.into(), Json::Object(section));
    }
    for (k, v) in model.extensions {
        out.insert(k, v);
    }
    let mut out = Json::Object(out);
    sort(&mut out);
    Ok(out)
}

/// Whether a service is active with `profiles`: it names none, or one of
/// them (`*`: all).
fn active(svc: &Json, profiles: &[String]) -> bool {
    match svc.get("profiles").and_then(Json::as_array) {
        None => true,
        Some(l) if l.is_empty() => true,
        Some(l) => profiles
            .iter()
            .any(|p| p == "*" || l.iter().any(|x| x.as_str() == Some(p))),
    }
}

/// A network, volume, secret or config without a `name` gets
/// `PROJECT_KEY` (its key alone when external).
fn name_resource(r: &mut Json, key: &str, project: &str) {
    if let Json::Object(m) = r {
        if !m.contains_key("name") {
            let external = m.get("external") == Some(&json!(true));
            let full = if external {
                key.to_owned()
            } else {
                format!("{project}_{key}")
            };
            m.insert("name".into(), json!(full));
        }
    }
}

fn check_refs(session: &Session, model: &Model, all: &[String]) -> Result<(), ComposeError> {
    for r in &session.refs {
        if !model.services.contains_key(&r.service) {
            continue;
        }
        let known = match r.kind {
            RefKind::Network => r.name == "default" || model.networks.contains_key(&r.name),
            RefKind::Volume => model.volumes.contains_key(&r.name),
            RefKind::Secret => model.secrets.contains_key(&r.name),
            RefKind::Config => model.configs.contains_key(&r.name),
            RefKind::Service => {
                if all.contains(&r.name) && !model.services.contains_key(&r.name) && r.required {
                    return Err(ComposeError::at(
                        r.loc.clone(),
                        format!("service `{}` depends on `{}`, which its profiles leave out; activate one of its profiles", r.service, r.name),
                    ));
                }
                all.contains(&r.name) || !r.required
            }
        };
        if !known {
            let hint = match r.kind {
                RefKind::Service => "define that service".to_string(),
                kind => format!("declare it under the top-level `{}s`", kind.noun()),
            };
            return Err(ComposeError::at(
                r.loc.clone(),
                format!(
                    "service `{}` refers to the undefined {} `{}`; {hint}",
                    r.service,
                    r.kind.noun(),
                    r.name
                ),
            ));
        }
    }
    Ok(())
}

/// `links`, `network_mode`/`ipc`/`pid`/`uts`/`cgroup: service:…` and
/// `volumes_from` imply a `depends_on` (in that order, the first one written
/// winning), as compose-go's normalization adds them: `restart: true` for
/// the first two, not for `volumes_from`.
fn implicit_depends_on(svc: &mut Map<String, Json>) {
    let mut implied: Vec<(String, bool)> = Vec::new();
    for link in svc
        .get("links")
        .and_then(Json::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(l) = link.as_str() {
            implied.push((l.split(':').next().unwrap_or(l).to_string(), true));
        }
    }
    for key in ["network_mode", "ipc", "pid", "uts", "cgroup"] {
        if let Some(other) = svc
            .get(key)
            .and_then(Json::as_str)
            .and_then(|m| m.strip_prefix("service:"))
        {
            implied.push((other.to_string(), true));
        }
    }
    for from in svc
        .get("volumes_from")
        .and_then(Json::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(f) = from.as_str().filter(|f| !f.starts_with("container:")) {
            let f = f.strip_prefix("service:").unwrap_or(f);
            implied.push((f.split(':').next().unwrap_or(f).to_string(), false));
        }
    }
    if implied.is_empty() {
        return;
    }
    let deps = svc.entry("depends_on").or_insert(json!({}));
    if let Json::Object(d) = deps {
        for (name, restart) in implied {
            let dep = if restart {
                json!({"condition": "service_started", "restart": true, "required": true})
            } else {
                json!({"condition": "service_started", "required": true})
            };
            d.entry(name).or_insert(dep);
        }
    }
}

/// `extra_hosts` printed sorted, as compose-go's `HostsList` marshals them.
fn sort_extra_hosts(svc: &mut Map<String, Json>) {
    if let Some(Json::Array(hosts)) = svc.get_mut("extra_hosts") {
        hosts.sort_by(|a, b| a.as_str().cmp(&b.as_str()));
        hosts.dedup();
    }
}

/// `env_file` read into `environment` (the service's own entries win),
/// keys without a value taken from the project's environment.
fn environment(session: &Session, svc: &mut Map<String, Json>) -> Result<(), ComposeError> {
    let mut env = Map::new();
    if let Some(Json::Array(files)) = svc.remove("env_file") {
        for f in files {
            let path = f["path"].as_str().unwrap_or_default().to_string();
            if !Path::new(&path).is_file() && f["required"] == json!(false) {
                continue;
            }
            let text = std::fs::read_to_string(&path).map_err(|e| {
                ComposeError::in_file(&path, format!("cannot read the env file: {e}"))
            })?;
            for (k, v) in dotenv::parse(&text, &path, &|n| session.lookup(n))? {
                match v.or_else(|| session.lookup(&k)) {
                    Some(v) => env.insert(k, json!(v)),
                    None => env.remove(&k),
                };
            }
        }
    }
    if let Some(Json::Object(own)) = svc.remove("environment") {
        for (k, v) in own {
            let v = match v {
                Json::Null => session.lookup(&k).map_or(Json::Null, Json::String),
                other => other,
            };
            env.insert(k, v);
        }
    }
    if !env.is_empty() {
        svc.insert("environment".into(), Json::Object(env));
    }
    Ok(())
}

/// Keys in order at every level, as Compose prints mappings.
pub fn sort(v: &mut Json) {
    match v {
        Json::Object(m) => {
            let mut entries: Vec<(String, Json)> = std::mem::take(m).into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            for (k, mut x) in entries {
                sort(&mut x);
                m.insert(k, x);
            }
        }
        Json::Array(items) => items.iter_mut().for_each(sort),
        _ => {}
    }
}
