//! One Compose service as a maestro service: its replicas as instances
//! named `PROJECT-SERVICE-N` (or its `container_name`), each on its ship,
//! labelled as Compose labels its containers; `depends_on` as `requires`
//! (so each container gets its dependencies' link variables and starts
//! after them); a `healthy` check on a service others wait for with
//! `condition: service_healthy`; maestro's own service keys from its
//! `x-maestro`.

use serde_json::{Map, Value as Json};

use super::mapper::Mapper;
use super::tree::At;
use super::{container, placement, resources};
use crate::yaml::Node;

/// The service keys a service's `x-maestro` may give.
const X_KEYS: &[&str] = &["ships", "proxy", "hooks", "lifecycle", "omit", "wants_info"];

/// The service, or `None` after an error.
pub(super) fn service(m: &mut Mapper, name: &str, healthy: bool) -> Option<Node> {
    let svc = m.service(name)?;
    let at = m.at_service(name);
    let replicas = replicas(m, name, svc)?;
    let ships = placement::ships(m, name, svc, replicas)?;
    let names = instance_names(m, name, svc, replicas)?;
    let keys = container::keys(m, name, svc, at);
    let networks = networks(m, name, svc, at);
    let secrets = resources::mounts(svc, at);
    let labels = labels(svc);

    let mut instances = Vec::new();
    for (i, (iname, ship)) in names.iter().zip(ships).enumerate() {
        let mut entries: Vec<(String, Node)> = Vec::new();
        if let Some(ship) = ship {
            entries.push(("ship".into(), at.str(ship)));
        }
        entries.extend(keys.iter().cloned());
        entries.extend(networks.iter().cloned());
        if let Some(s) = &secrets {
            entries.push(("secrets".into(), s.clone()));
        }
        let mut own = labels.clone();
        own.extend(compose_labels(m, name, i + 1));
        entries.push((
            "labels".into(),
            at.map(own.into_iter().map(|(k, v)| (k, at.str(v)))),
        ));
        instances.push((iname.clone(), at.map(entries)));
    }
    let mut entries = vec![
        (
            "image".to_string(),
            at.json(svc.get("image").unwrap_or(&Json::Null)),
        ),
        ("instances".to_string(), at.map(instances)),
    ];
    entries.extend(requires(m, svc, at));
    entries.extend(deploy(m, name, svc, at));
    entries.extend(maestro_keys(m, name, svc, at, healthy));
    Some(at.map(entries))
}

/// `deploy.replicas`, else `scale`, else 1.
fn replicas(m: &mut Mapper, name: &str, svc: &Map<String, Json>) -> Option<usize> {
    let (path, value) = match (
        svc.get("deploy").and_then(|d| d.get("replicas")),
        svc.get("scale"),
    ) {
        (Some(r), _) => ("deploy/replicas", r),
        (None, Some(s)) => ("scale", s),
        (None, None) => return Some(1),
    };
    match value.as_u64() {
        Some(n) if (1..=10_000).contains(&n) => Some(n as usize),
        _ => {
            m.error(
                Some(name),
                &format!("services/{name}/{path}"),
                format!("expected a number of replicas from 1 to 10000, found {value}; leave a service out with `profiles`"),
            );
            None
        }
    }
}

/// `PROJECT-SERVICE-N` as Compose names replicas; a `container_name` for a
/// service of one replica.
fn instance_names(
    m: &mut Mapper,
    name: &str,
    svc: &Map<String, Json>,
    replicas: usize,
) -> Option<Vec<String>> {
    if let Some(fixed) = svc.get("container_name").and_then(Json::as_str) {
        if replicas > 1 {
            m.error(
                Some(name),
                &format!("services/{name}/container_name"),
                format!("a container name is one container's, but the service has {replicas} replicas; remove `container_name`"),
            );
            return None;
        }
        return Some(vec![fixed.to_string()]);
    }
    let project = &m.project.name;
    Some(
        (1..=replicas)
            .map(|n| format!("{project}-{name}-{n}"))
            .collect(),
    )
}

/// The labels Compose puts on a service's container, so that Compose on
/// one ship still recognises what maestro made.
fn compose_labels(m: &Mapper, service: &str, number: usize) -> Vec<(String, String)> {
    let dir = m.project.directory.to_string_lossy().into_owned();
    vec![
        ("com.docker.compose.project".into(), m.project.name.clone()),
        ("com.docker.compose.service".into(), service.to_string()),
        (
            "com.docker.compose.container-number".into(),
            number.to_string(),
        ),
        ("com.docker.compose.oneoff".into(), "False".into()),
        ("com.docker.compose.project.working_dir".into(), dir),
    ]
}

fn labels(svc: &Map<String, Json>) -> Vec<(String, String)> {
    svc.get("labels")
        .and_then(Json::as_object)
        .into_iter()
        .flatten()
        .map(|(k, v)| {
            (
                k.clone(),
                v.as_str().map(str::to_string).unwrap_or_default(),
            )
        })
        .collect()
}

/// `networks` (each joined with the service's name as an alias, as
/// Compose does), or `network_mode` as `net`.
fn networks(m: &mut Mapper, name: &str, svc: &Map<String, Json>, at: At) -> Vec<(String, Node)> {
    if let Some(mode) = svc.get("network_mode").and_then(Json::as_str) {
        return vec![("net".into(), at.str(m.container_mode(mode)))];
    }
    let Some(nets) = svc.get("networks").and_then(Json::as_object) else {
        return Vec::new();
    };
    let entries: Vec<(String, Node)> = nets
        .iter()
        .map(|(net, cfg)| {
            let mut aliases = vec![name.to_string()];
            aliases.extend(
                cfg.get("aliases")
                    .and_then(Json::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(|a| a.as_str().map(str::to_string)),
            );
            let mut attach = vec![("aliases".to_string(), at.strs(aliases))];
            if let Some(ip) = cfg.get("ipv4_address").filter(|v| !v.is_null()) {
                attach.push(("ipv4_address".into(), at.json(ip)));
            }
            for k in cfg.as_object().into_iter().flatten().map(|(k, _)| k) {
                if k != "aliases" && k != "ipv4_address" {
                    m.warn(
                        Some(name),
                        &format!("services/{name}/networks/{net}/{k}"),
                        "is ignored: maestro sets a container's aliases and IPv4 address on a network",
                    );
                }
            }
            (net.clone(), at.map(attach))
        })
        .collect();
    vec![("networks".into(), at.map(entries))]
}

/// `depends_on` as `requires`.
fn requires(m: &Mapper, svc: &Map<String, Json>, at: At) -> Option<(String, Node)> {
    let deps: Vec<&String> = svc
        .get("depends_on")
        .and_then(Json::as_object)?
        .keys()
        .filter(|d| m.service(d).is_some())
        .collect();
    (!deps.is_empty()).then(|| ("requires".to_string(), at.strs(deps)))
}

/// `deploy.update_config` drives the rollout; the rest of `deploy` that
/// maestro does not read is warned about.
fn deploy(m: &mut Mapper, name: &str, svc: &Map<String, Json>, at: At) -> Option<(String, Node)> {
    let deploy = svc.get("deploy")?.as_object()?;
    let used = ["replicas", "update_config", "placement", "resources"];
    let mut ignored: Vec<String> = deploy
        .keys()
        .filter(|k| !used.contains(&k.as_str()))
        .cloned()
        .collect();
    let under = |key: &str, keep: &[&str]| -> Vec<String> {
        deploy
            .get(key)
            .and_then(Json::as_object)
            .into_iter()
            .flatten()
            .filter(|(k, _)| !keep.contains(&k.as_str()))
            .map(|(k, _)| format!("{key}/{k}"))
            .collect()
    };
    ignored.extend(under("placement", &["constraints"]));
    ignored.extend(under("resources", &["limits"]));
    let limits = deploy.get("resources").and_then(|r| r.get("limits"));
    ignored.extend(
        limits
            .and_then(Json::as_object)
            .into_iter()
            .flatten()
            .filter(|(k, _)| k.as_str() != "memory")
            .map(|(k, _)| format!("resources/limits/{k}")),
    );
    for key in ignored {
        m.warn(
            Some(name),
            &format!("services/{name}/deploy/{key}"),
            "is ignored: maestro reads `replicas`, `update_config`, `placement.constraints` and `resources.limits.memory` of `deploy`",
        );
    }
    let update = deploy.get("update_config")?;
    Some((
        "deploy".into(),
        at.map([("update_config", at.json(update))]),
    ))
}

/// The service's `x-maestro` keys, and the `healthy` check others wait on.
fn maestro_keys(
    m: &mut Mapper,
    name: &str,
    svc: &Map<String, Json>,
    at: At,
    healthy: bool,
) -> Vec<(String, Node)> {
    let x = svc.get("x-maestro").and_then(Json::as_object);
    let mut out = Vec::new();
    let mut lifecycle: Option<Node> = None;
    for (key, value) in x.into_iter().flatten() {
        match key.as_str() {
            "ships" => {}
            "lifecycle" => lifecycle = Some(at.json(value)),
            k if X_KEYS.contains(&k) => out.push((key.clone(), at.json(value))),
            _ => m.error(
                Some(name),
                &format!("services/{name}/x-maestro/{key}"),
                format!("unknown key `{key}`; expected one of {}", X_KEYS.join(", ")),
            ),
        }
    }
    if healthy {
        lifecycle = Some(with_healthy_check(lifecycle, at));
    }
    out.extend(lifecycle.map(|l| ("lifecycle".to_string(), l)));
    out
}

/// `lifecycle` with a `healthy` check among its `running` checks.
fn with_healthy_check(lifecycle: Option<Node>, at: At) -> Node {
    use crate::yaml::Value;
    let check = at.map([("type", at.str("healthy"))]);
    let mut entries = match lifecycle.map(|l| l.value) {
        Some(Value::Map(e)) => e,
        _ => Vec::new(),
    };
    match entries
        .iter_mut()
        .find(|(k, _)| k.as_str() == Some("running"))
    {
        Some((
            _,
            Node {
                value: Value::Seq(checks),
                ..
            },
        )) => checks.push(check),
        _ => entries.push((at.str("running"), at.seq(vec![check]))),
    }
    at.node(Value::Map(entries))
}
