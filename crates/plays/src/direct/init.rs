//! `maestro init`: a starter environment file, or one that describes the
//! containers already running on some ships (started by hand, `docker run`)
//! so that maestro can take them over as they are. Observing is one list and
//! one inspect per container (and per image); writing the file is pure.

use std::collections::{BTreeMap, BTreeSet};

use maestro_engine::models::{
    ContainerConfig, ContainerInspectResponse, HostConfig, ImageConfig, ImageInspect,
};
use maestro_engine::EngineError;

use crate::observe::fleet::Fleet;

/// A running container found on a ship, with its image's description.
#[derive(Debug, Clone)]
pub struct Found {
    pub ship: String,
    pub container: ContainerInspectResponse,
    pub image: Option<ImageInspect>,
}

/// The running containers of `ships` whose name `only` matches (all
/// without), in name order, leaving out maestro's own (deploy locks) and
/// containers of environments maestro runs.
pub async fn observe(
    fleet: &Fleet,
    ships: &[String],
    only: Option<&globset::GlobMatcher>,
) -> Result<Vec<Found>, EngineError> {
    let mut out = Vec::new();
    for ship in ships {
        let engine = fleet.engine(ship).await?;
        let mut names: Vec<String> = engine
            .list_containers(&[])
            .await?
            .into_iter()
            .filter(|c| c.state.map(|s| s.to_string()).as_deref() == Some("running"))
            .filter(|c| {
                let labels = c.labels.clone().unwrap_or_default();
                !labels.contains_key(crate::labels::LOCK_ENVIRONMENT)
                    && !labels.contains_key(crate::labels::LABEL_ENVIRONMENT)
            })
            .filter_map(|c| c.names.and_then(|n| n.into_iter().next()))
            .map(|n| n.trim_start_matches('/').to_owned())
            .filter(|n| only.is_none_or(|g| g.is_match(n)))
            .collect();
        names.sort();
        for name in names {
            let Some(container) = engine.inspect_container(&name).await? else {
                continue;
            };
            let image = match container.image.as_deref() {
                Some(id) => engine.inspect_image(id).await?,
                None => None,
            };
            out.push(Found {
                ship: ship.clone(),
                container,
                image,
            });
        }
    }
    Ok(out)
}

/// A commented starter file for the default ship.
pub fn starter(name: &str) -> String {
    format!(
        r#"# The environment maestro manages: `maestro plan` shows what `maestro up` would do.
# Every key is described in docs/reference.md.
name: {name}

# Without `ships`, everything runs on one ship, `local`: the engine the Docker CLI
# uses (DOCKER_HOST, else the current Docker context, else /var/run/docker.sock).
# ships:
#   vm1: {{ip: 192.0.2.10, endpoint: "ssh://deploy@192.0.2.10"}}

services:
  web:
    image: busybox:stable
    env:
      GREETING: hello
    # The start succeeds once the port accepts connections.
    lifecycle:
      running: [{{type: tcp, port: http, max_wait: 30}}]
    instances:
      web-1:
        ports: {{http: "8080:18080"}}     # container port 8080 on host port 18080
        command: sh -c 'echo "$GREETING" > /tmp/index.html; exec httpd -f -p 8080 -h /tmp'
        stop_timeout: 2
"#,
        name = yaml_str(name)
    )
}

/// Ships for the file: `(name, YAML flow mapping)`; empty for the default
/// ship alone (a file without `ships`).
pub type ShipLines = Vec<(String, String)>;

/// The environment file describing `found`: one service per group of
/// containers that share an image and a name but for a trailing number
/// (`web-1`, `web-2`), each container an instance with what the engine says
/// it was started with, beyond what its image gives it.
pub fn describe(name: &str, ships: &ShipLines, found: &[Found]) -> String {
    let mut out = String::new();
    out.push_str(
        "# Written by `maestro init --from`: the containers running on the ships named,\n",
    );
    out.push_str("# as they were started. `maestro plan` compares them with this file.\n");
    out.push_str(&format!("name: {}\n", yaml_str(name)));
    out.push_str("__maestro: {schema: 2}\n");
    if !ships.is_empty() {
        out.push_str("ships:\n");
        for (ship, spec) in ships {
            out.push_str(&format!("  {}: {spec}\n", yaml_str(ship)));
        }
    }
    let networks: BTreeSet<String> = found.iter().flat_map(user_networks).collect();
    if !networks.is_empty() {
        out.push_str("networks:\n");
        for n in &networks {
            out.push_str(&format!("  {}: {{external: true}}\n", yaml_str(n)));
        }
    }
    out.push_str("services:");
    let groups = services(found);
    if groups.is_empty() {
        out.push_str(" {}\n");
        return out;
    }
    out.push('\n');
    for (service, members) in &groups {
        out.push_str(&format!("  {}:\n", yaml_str(service)));
        let image = members[0]
            .container
            .config
            .as_ref()
            .and_then(|c| c.image.clone());
        out.push_str(&format!(
            "    image: {}\n",
            yaml_str(&image.unwrap_or_default())
        ));
        out.push_str("    instances:\n");
        for f in members {
            out.push_str(&instance(f, !ships.is_empty()));
        }
    }
    out
}

/// The services: containers grouped by name without a trailing number and
/// by image; a name shared by containers of different images is the
/// container's own.
fn services(found: &[Found]) -> BTreeMap<String, Vec<&Found>> {
    let image = |f: &Found| f.container.config.as_ref().and_then(|c| c.image.clone());
    let mut images: BTreeMap<String, BTreeSet<Option<String>>> = BTreeMap::new();
    for f in found {
        images
            .entry(base(&name_of(f)))
            .or_default()
            .insert(image(f));
    }
    let mut out: BTreeMap<String, Vec<&Found>> = BTreeMap::new();
    for f in found {
        let name = name_of(f);
        let b = base(&name);
        let service = if images[&b].len() == 1 { b } else { name };
        out.entry(service).or_default().push(f);
    }
    out
}

fn name_of(f: &Found) -> String {
    f.container
        .name
        .as_deref()
        .unwrap_or_default()
        .trim_start_matches('/')
        .to_owned()
}

/// `web-1` → `web`; `db_2` → `db`; `cache` → `cache`.
fn base(name: &str) -> String {
    let trimmed = name.trim_end_matches(|c: char| c.is_ascii_digit());
    match trimmed.strip_suffix(['-', '_', '.']) {
        Some(b) if trimmed.len() < name.len() && !b.is_empty() => b.to_owned(),
        _ => name.to_owned(),
    }
}

/// The networks a container joined that are neither the engine's own nor
/// its default.
fn user_networks(f: &Found) -> Vec<String> {
    let mode = host_config(f).network_mode.clone().unwrap_or_default();
    if matches!(mode.as_str(), "host" | "none") || mode.starts_with("container:") {
        return Vec::new();
    }
    f.container
        .network_settings
        .as_ref()
        .and_then(|s| s.networks.as_ref())
        .map(|n| {
            n.keys()
                .filter(|k| !matches!(k.as_str(), "bridge" | "host" | "none" | "default"))
                .cloned()
                .collect()
        })
        .unwrap_or_default()
}

fn host_config(f: &Found) -> HostConfig {
    f.container.host_config.clone().unwrap_or_default()
}

/// One instance's lines: its settings that are neither the engine's nor its
/// image's defaults, in the file's usual order.
fn instance(f: &Found, with_ship: bool) -> String {
    let config = f.container.config.clone().unwrap_or_default();
    let image = f
        .image
        .as_ref()
        .and_then(|i| i.config.clone())
        .unwrap_or_default();
    let host = host_config(f);
    let mut lines: Vec<String> = Vec::new();
    if with_ship {
        lines.push(format!("ship: {}", yaml_str(&f.ship)));
    }
    lines.extend(entrypoint_and_command(&config, &image));
    lines.extend(env(&config, &image));
    lines.extend(ports(&host));
    lines.extend(volumes(&host));
    lines.extend(workdir_and_user(&config, &image));
    lines.extend(restart(&host));
    lines.extend(labels(&config, &image));
    lines.extend(networking(f, &host));
    block(&name_of(f), lines)
}

/// The instance `name` with its `lines` under it (`{}` without any).
fn block(name: &str, lines: Vec<String>) -> String {
    let mut out = format!("      {}:", yaml_str(name));
    if lines.is_empty() {
        out.push_str(" {}\n");
        return out;
    }
    out.push('\n');
    for line in lines {
        out.push_str("        ");
        out.push_str(&line);
        out.push('\n');
    }
    out
}

/// `entrypoint:` and `command:`, where they are not the image's.
fn entrypoint_and_command(config: &ContainerConfig, image: &ImageConfig) -> Vec<String> {
    let mut lines = Vec::new();
    if config.entrypoint.is_some() && config.entrypoint != image.entrypoint {
        lines.push(format!(
            "entrypoint: {}",
            flow_list(config.entrypoint.as_deref())
        ));
    }
    if config.cmd.is_some() && config.cmd != image.cmd {
        lines.push(format!("command: {}", flow_list(config.cmd.as_deref())));
    }
    lines
}

/// `env:`, the variables the image does not set (to the same value).
fn env(config: &ContainerConfig, image: &ImageConfig) -> Vec<String> {
    let image_env: BTreeSet<&String> = image.env.iter().flatten().collect();
    let env: Vec<(&str, &str)> = config
        .env
        .iter()
        .flatten()
        .filter(|e| !image_env.contains(e))
        .filter_map(|e| e.split_once('='))
        .collect();
    if env.is_empty() {
        return Vec::new();
    }
    let mut lines = vec!["env:".to_owned()];
    for (k, v) in env {
        lines.push(format!("  {}: {}", yaml_str(k), yaml_str(v)));
    }
    lines
}

/// `workdir:` and `username:`, where they are set and not the image's.
fn workdir_and_user(config: &ContainerConfig, image: &ImageConfig) -> Vec<String> {
    let mut lines = Vec::new();
    if let Some(dir) = config.working_dir.as_deref() {
        if !dir.is_empty() && Some(dir) != image.working_dir.as_deref() {
            lines.push(format!("workdir: {}", yaml_str(dir)));
        }
    }
    if let Some(user) = config.user.as_deref() {
        if !user.is_empty() && Some(user) != image.user.as_deref() {
            lines.push(format!("username: {}", yaml_str(user)));
        }
    }
    lines
}

/// `restart:`, unless the policy is `no`.
fn restart(host: &HostConfig) -> Option<String> {
    let policy = host.restart_policy.as_ref()?;
    let name = policy.name.map(|n| n.to_string()).unwrap_or_default();
    match (name.as_str(), policy.maximum_retry_count.unwrap_or(0)) {
        ("" | "no", _) => None,
        ("on-failure", n) if n > 0 => Some(format!("restart: \"on-failure:{n}\"")),
        (name, _) => Some(format!("restart: {name}")),
    }
}

/// `labels:`, those the image does not set (to the same value).
fn labels(config: &ContainerConfig, image: &ImageConfig) -> Vec<String> {
    let image_labels = image.labels.clone().unwrap_or_default();
    let labels: Vec<(String, String)> = config
        .labels
        .clone()
        .unwrap_or_default()
        .into_iter()
        .filter(|(k, v)| image_labels.get(k) != Some(v))
        .collect();
    if labels.is_empty() {
        return Vec::new();
    }
    let mut lines = vec!["labels:".to_owned()];
    for (k, v) in labels {
        lines.push(format!("  {}: {}", yaml_str(&k), yaml_str(&v)));
    }
    lines
}

/// `net:` for the host's network or none, and `networks:` for those the
/// container joined.
fn networking(f: &Found, host: &HostConfig) -> Vec<String> {
    let mut lines = Vec::new();
    let mode = host.network_mode.clone().unwrap_or_default();
    if matches!(mode.as_str(), "host" | "none") {
        lines.push(format!("net: {mode}"));
    }
    let networks = user_networks(f);
    if !networks.is_empty() {
        let names: Vec<String> = networks.iter().map(|n| yaml_str(n)).collect();
        lines.push(format!("networks: [{}]", names.join(", ")));
    }
    lines
}

/// `ports:` from the published ports: each named after its container port
/// (`p80`, `p53-udp`).
fn ports(host: &HostConfig) -> Vec<String> {
    let mut lines = Vec::new();
    let Some(bindings) = host.port_bindings.as_ref() else {
        return lines;
    };
    let mut sorted: Vec<_> = bindings.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(b.0));
    for (spec, list) in sorted {
        let Some(first) = list.as_ref().and_then(|l| l.first()) else {
            continue;
        };
        let (port, protocol) = spec.split_once('/').unwrap_or((spec.as_str(), "tcp"));
        let name = if protocol == "tcp" {
            format!("p{port}")
        } else {
            format!("p{port}-{protocol}")
        };
        let external = first.host_port.clone().unwrap_or_default();
        let external = if external.is_empty() {
            port.to_owned()
        } else {
            external
        };
        let suffix = if protocol == "tcp" {
            String::new()
        } else {
            format!("/{protocol}")
        };
        let value = match first.host_ip.as_deref() {
            Some(ip) if !ip.is_empty() && ip != "0.0.0.0" => format!(
                "{{exposed: \"{port}{suffix}\", external: [{}, \"{external}{suffix}\"]}}",
                yaml_str(ip)
            ),
            _ => format!("\"{port}{suffix}:{external}{suffix}\""),
        };
        lines.push(format!("  {name}: {value}"));
    }
    if !lines.is_empty() {
        lines.insert(0, "ports:".into());
    }
    lines
}

/// `volumes:` (schema 2: source → target, or → `{target, mode}`) from the
/// bind mounts and named volumes.
fn volumes(host: &HostConfig) -> Vec<String> {
    let mut lines = Vec::new();
    for bind in host.binds.iter().flatten() {
        let parts: Vec<&str> = bind.splitn(3, ':').collect();
        let (source, target, mode) = match parts.as_slice() {
            [s, t] => (*s, *t, None),
            [s, t, m] => (*s, *t, Some(*m)),
            _ => continue,
        };
        let value = match mode {
            None | Some("rw") => yaml_str(target),
            Some(m) => format!("{{target: {}, mode: {}}}", yaml_str(target), yaml_str(m)),
        };
        lines.push(format!("  {}: {value}", yaml_str(source)));
    }
    if !lines.is_empty() {
        lines.insert(0, "volumes:".into());
    }
    lines
}

/// A list as a YAML flow sequence of quoted strings.
fn flow_list(items: Option<&[String]>) -> String {
    let items: Vec<String> = items
        .unwrap_or_default()
        .iter()
        .map(|s| yaml_str(s))
        .collect();
    format!("[{}]", items.join(", "))
}

/// A string as a YAML double-quoted scalar (a JSON string is one) that the
/// file's Jinja rendering leaves as it is: `{{`, `{%` and `{#` are written
/// as Jinja expressions that print them.
fn yaml_str(s: &str) -> String {
    // Plain when YAML 1.1 reads it back as this same string.
    let plain = s.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_' || c == '/')
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_./-".contains(c))
        && !matches!(
            s.to_ascii_lowercase().as_str(),
            "y" | "yes" | "n" | "no" | "true" | "false" | "on" | "off" | "null"
        );
    if plain {
        return s.to_owned();
    }
    let quoted = serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into());
    let mut out = String::with_capacity(quoted.len());
    let mut chars = quoted.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, chars.peek()) {
            ('{', Some(&next @ ('{' | '%' | '#'))) => {
                chars.next();
                out.push_str(&format!("{{{{ '{{{next}' }}}}"));
            }
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_lose_a_trailing_number() {
        assert_eq!(base("web-1"), "web");
        assert_eq!(base("db_12"), "db");
        assert_eq!(base("cache"), "cache");
        assert_eq!(base("v2"), "v2");
        assert_eq!(base("-1"), "-1");
    }

    #[test]
    fn strings_survive_yaml_and_jinja() {
        assert_eq!(yaml_str("plain"), "plain");
        assert_eq!(yaml_str("/srv/data"), "/srv/data");
        assert_eq!(yaml_str("yes"), "\"yes\"");
        assert_eq!(yaml_str("8080"), "\"8080\"");
        assert_eq!(yaml_str("box:1"), "\"box:1\"");
        assert_eq!(yaml_str("a{{b}}"), "\"a{{ '{{' }}b}}\"");
        assert_eq!(yaml_str("{%x"), "\"{{ '{%' }}x\"");
        assert_eq!(yaml_str("q\"x"), "\"q\\\"x\"");
    }

    #[test]
    fn the_starter_file_loads() {
        let src = maestro_config::Source {
            name: "maestro.yaml".into(),
            base_dir: ".".into(),
            text: starter("shop"),
        };
        let env = maestro_config::load(&src, &Default::default()).expect("it loads");
        assert_eq!(env.name, "shop");
        assert!(env.warnings.is_empty(), "{:?}", env.warnings);
        assert_eq!(env.containers.len(), 1);
    }
}
