//! Drift: how a container on its engine differs from what the environment
//! file asks for, and what `up` must do about it — create, recreate (with
//! the reasons: `env GREETING changed`, `ports changed`, `image updated`),
//! start, or nothing. Deciding is pure: it compares the creation request
//! maestro would send (and its spec-hash label) with what the engine reports.

use std::collections::{BTreeMap, BTreeSet};

use maestro_engine::models::{ContainerCreateBody, ContainerInspectResponse, ImageInspect};
use serde_json::Value;

use crate::decide::spec::{
    is_empty, LABEL_SECRETS, LABEL_SPEC_HASH, MAESTRO_LABEL_PREFIX, SPEC_HASH_VERSION,
};

pub use crate::decide::plan::Action;

/// The variables maestro gives `c` itself rather than the file: its name,
/// environment, service, ship address and image, and the link variables.
pub fn contract(c: &maestro_config::Container) -> BTreeSet<&str> {
    const SEEDED: &[&str] = &[
        "MAESTRO_ENVIRONMENT_NAME",
        "SERVICE_NAME",
        "CONTAINER_NAME",
        "CONTAINER_HOST_ADDRESS",
        "DOCKER_IMAGE",
        "DOCKER_TAG",
    ];
    let mut out: BTreeSet<&str> = SEEDED.iter().copied().collect();
    for set in &c.env.links {
        out.extend(set.iter().map(|(k, _)| k.as_str()));
    }
    out
}

/// Decides what to do with a container, given the request maestro would
/// send (`desired`, labels included), what the engine has under that name
/// (`observed`), and the ship's current image for the container's image name.
/// `contract`: the variables maestro gives the container itself (its name,
/// its ship's address, the link variables), not the file's: a container made
/// by hand (`docker run`, taken over with `maestro init --from`) lacks them,
/// and that alone is no reason to recreate it.
pub fn decide(
    desired: &ContainerCreateBody,
    observed: Option<&ContainerInspectResponse>,
    image: Option<&ImageInspect>,
    contract: &BTreeSet<&str>,
) -> Action {
    let Some(observed) = observed else {
        return Action::Create;
    };
    let desired_hash = desired
        .labels
        .as_ref()
        .and_then(|l| l.get(LABEL_SPEC_HASH))
        .cloned();
    let observed_hash = observed
        .config
        .as_ref()
        .and_then(|c| c.labels.as_ref())
        .and_then(|l| l.get(LABEL_SPEC_HASH))
        .cloned();
    let mut reasons = Vec::new();
    if desired_hash != observed_hash {
        reasons = differences(desired, observed, image, contract);
        // Two hashes of this version that differ while no field does: a
        // setting changed that the field comparison does not name. A
        // container without one (made by MaestroNG, by hand, by an older
        // maestro) is judged by its fields alone, and adopted when they match.
        let comparable = |h: &Option<String>| {
            h.as_deref()
                .is_some_and(|h| h.starts_with(&format!("{SPEC_HASH_VERSION}:")))
        };
        if reasons.is_empty() && comparable(&observed_hash) && comparable(&desired_hash) {
            reasons.push("configuration changed".into());
        }
    }
    if let (Some(image), Some(running_image)) = (image, observed.image.as_deref()) {
        if image.id.as_deref().is_some_and(|id| id != running_image)
            && !reasons.iter().any(|r| r.starts_with("image"))
        {
            reasons.push("image updated".into());
        }
    }
    if !reasons.is_empty() {
        return Action::Recreate(reasons);
    }
    let running = observed
        .state
        .as_ref()
        .and_then(|s| s.running)
        .unwrap_or(false);
    if running {
        Action::None
    } else {
        Action::Start
    }
}

fn json<T: serde::Serialize>(value: &T) -> Value {
    serde_json::to_value(value).unwrap_or(Value::Null)
}

fn same(a: &Value, b: &Value) -> bool {
    (is_empty(a) && is_empty(b)) || a == b
}

fn env_map(list: &Value) -> BTreeMap<String, String> {
    list.as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(|entry| match entry.split_once('=') {
            Some((k, v)) => (k.to_owned(), v.to_owned()),
            None => (entry.to_owned(), String::new()),
        })
        .collect()
}

fn sorted_strings(v: &Value) -> Vec<String> {
    let mut out: Vec<String> = v
        .as_array()
        .into_iter()
        .flatten()
        .map(|x| match x {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
        .collect();
    out.sort();
    out
}

/// `{"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}]}` as comparable text.
fn port_set(v: &Value) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    if let Some(map) = v.as_object() {
        for (exposed, bindings) in map {
            let list = bindings.as_array().cloned().unwrap_or_default();
            if list.is_empty() {
                out.insert(exposed.clone());
            }
            for b in list {
                let ip = b.get("HostIp").and_then(Value::as_str).unwrap_or("");
                let ip = if ip.is_empty() { "0.0.0.0" } else { ip };
                let port = b.get("HostPort").and_then(Value::as_str).unwrap_or("");
                out.insert(format!("{exposed}>{ip}:{port}"));
            }
        }
    }
    out
}

/// `/db-1:/web-1/db` (as engines report links) → `db-1:db`.
fn link(text: &str) -> String {
    match text.split_once(':') {
        Some((name, alias)) => format!(
            "{}:{}",
            name.trim_start_matches('/'),
            alias.rsplit('/').next().unwrap_or(alias)
        ),
        None => text.to_owned(),
    }
}

/// The same log driver, and every option asked for with the value asked
/// for (the engine adds its daemon's default options to the container's).
fn same_logging(want: &Value, have: &Value) -> bool {
    let driver = |v: &Value| v["Type"].as_str().unwrap_or("").to_owned();
    if driver(want) != driver(have) {
        return false;
    }
    want["Config"]
        .as_object()
        .into_iter()
        .flatten()
        .all(|(k, v)| have["Config"].get(k) == Some(v))
}

/// What Podman adds to every container's `Config.Env`.
const PODMAN_ENV: &[&str] = &["container", "HOME", "HOSTNAME", "TERM"];

/// An image reference as Docker Hub names it: without `docker.io/` and
/// `library/`, with the `latest` tag when none is given.
fn image_ref(name: &str) -> String {
    let name = name.strip_prefix("docker.io/").unwrap_or(name);
    let name = name.strip_prefix("library/").unwrap_or(name);
    let last = name.rsplit('/').next().unwrap_or(name);
    if last.contains(':') || last.contains('@') {
        name.to_owned()
    } else {
        format!("{name}:latest")
    }
}

/// The readable differences between the desired request and the container,
/// by group of settings, in this order: image, environment, command and
/// simple settings, labels, ports, volumes, links, the rest of the host
/// configuration, then the options with Compose's names.
pub fn differences(
    desired: &ContainerCreateBody,
    observed: &ContainerInspectResponse,
    image: Option<&ImageInspect>,
    contract: &BTreeSet<&str>,
) -> Vec<String> {
    let sides = Sides::new(desired, observed, image);
    let mut reasons = Vec::new();
    image_name(&sides, &mut reasons);
    environment(&sides, contract, &mut reasons);
    secrets(&sides, &mut reasons);
    command_and_settings(&sides, observed, &mut reasons);
    labels(&sides, &mut reasons);
    if port_set(&sides.want_host()["PortBindings"]) != port_set(&sides.have_host()["PortBindings"])
    {
        reasons.push("ports changed".into());
    }
    volumes(&sides, &mut reasons);
    links(&sides, &mut reasons);
    resources_and_privileges(&sides, &mut reasons);
    restart_network_and_logging(&sides, &mut reasons);
    reasons.extend(crate::decide::options::differences(
        &sides.want,
        &sides.have,
    ));
    reasons
}

/// The two sides compared, as JSON, with the image's own configuration and
/// what kind of container the observed one is.
struct Sides {
    /// The creation request.
    want: Value,
    /// The container's inspection.
    have: Value,
    /// The `Config` of the image's inspection (`Null` without one).
    image: Value,
    /// Run by Podman, which marks its containers with `container=podman`
    /// and adds variables and settings of its own: not the file's to name.
    podman: bool,
    /// Made by neither maestro (its labels) nor MaestroNG (its variables).
    by_hand: bool,
    /// The ship's image for the name is not the one the container runs:
    /// a variable the old image set is no difference of the file's.
    image_changed: bool,
}

impl Sides {
    fn new(
        desired: &ContainerCreateBody,
        observed: &ContainerInspectResponse,
        image: Option<&ImageInspect>,
    ) -> Sides {
        let have = json(observed);
        let image_changed = match (
            image.and_then(|i| i.id.as_deref()),
            observed.image.as_deref(),
        ) {
            (Some(now), Some(runs)) => now != runs,
            _ => false,
        };
        let image = image.map(json).unwrap_or(Value::Null)["Config"].clone();
        let have_env = env_map(&have["Config"]["Env"]);
        let podman = have_env.get("container").map(String::as_str) == Some("podman");
        let by_hand = !have_env.contains_key("MAESTRO_ENVIRONMENT_NAME")
            && !have["Config"]["Labels"]
                .as_object()
                .is_some_and(|l| l.keys().any(|k| k.starts_with(MAESTRO_LABEL_PREFIX)));
        Sides {
            want: json(desired),
            have,
            image,
            podman,
            by_hand,
            image_changed,
        }
    }

    fn have_config(&self) -> &Value {
        &self.have["Config"]
    }

    fn want_host(&self) -> &Value {
        &self.want["HostConfig"]
    }

    fn have_host(&self) -> &Value {
        &self.have["HostConfig"]
    }
}

/// The image name (Podman reports `maestro-test/box:1` as
/// `docker.io/maestro-test/box:1`).
fn image_name(s: &Sides, reasons: &mut Vec<String>) {
    if let (Some(w), Some(h)) = (s.want["Image"].as_str(), s.have_config()["Image"].as_str()) {
        if image_ref(w) != image_ref(h) {
            reasons.push(format!("image changed ({h} → {w})"));
        }
    }
}

/// The environment, variable by variable: the image's own variables, those
/// Podman adds, and (on a container made by hand) those of the `contract`
/// aside.
fn environment(s: &Sides, contract: &BTreeSet<&str>, reasons: &mut Vec<String>) {
    // Secrets given as variables are compared by their digests (`secrets`).
    let secret_vars: BTreeSet<String> = secret_items(&s.want["Labels"])
        .into_iter()
        .chain(secret_items(&s.have_config()["Labels"]))
        .filter_map(|item| item["env"].as_str().map(str::to_owned))
        .collect();
    let mut want_env = env_map(&s.want["Env"]);
    let mut have_env = env_map(&s.have_config()["Env"]);
    want_env.retain(|k, _| !secret_vars.contains(k));
    have_env.retain(|k, _| !secret_vars.contains(k));
    let image_env = env_map(&s.image["Env"]);
    for (k, v) in &want_env {
        match have_env.get(k) {
            Some(h) if h == v => {}
            Some(_) => reasons.push(format!("env {k} changed")),
            None if s.by_hand && contract.contains(k.as_str()) => {}
            None => reasons.push(format!("env {k} added")),
        }
    }
    // After an image update, a variable the file does not set may be the
    // old image's own: the container is replaced for the image anyway.
    if s.image_changed {
        return;
    }
    for (k, v) in &have_env {
        if !want_env.contains_key(k)
            && image_env.get(k) != Some(v)
            && !(s.podman && PODMAN_ENV.contains(&k.as_str()))
        {
            reasons.push(format!("env {k} removed"));
        }
    }
}

/// The items of a secrets label (see `spec::create_request`) in `labels`.
fn secret_items(labels: &Value) -> Vec<Value> {
    labels[LABEL_SECRETS]
        .as_str()
        .and_then(|text| serde_json::from_str::<Vec<Value>>(text).ok())
        .unwrap_or_default()
}

/// The secrets, by name: added, removed, changed (another digest: its value
/// was rotated) or delivered elsewhere. Nothing of a value is in a label.
fn secrets(s: &Sides, reasons: &mut Vec<String>) {
    let by_name = |labels: &Value| -> BTreeMap<String, Value> {
        secret_items(labels)
            .into_iter()
            .filter_map(|item| Some((item["secret"].as_str()?.to_owned(), item)))
            .collect()
    };
    let want = by_name(&s.want["Labels"]);
    let have = by_name(&s.have_config()["Labels"]);
    for (name, item) in &want {
        match have.get(name) {
            None => reasons.push(format!("secret {name} added")),
            Some(old) if old["digest"] != item["digest"] => {
                reasons.push(format!("secret {name} changed"))
            }
            Some(old) if old != item => reasons.push(format!("secret {name} moved")),
            Some(_) => {}
        }
    }
    for name in have.keys().filter(|n| !want.contains_key(*n)) {
        reasons.push(format!("secret {name} removed"));
    }
}

/// The command and simple settings, only when the file sets them. A
/// container made by hand has the engine's default host name (its short
/// id) where maestro's default is its name.
fn command_and_settings(s: &Sides, observed: &ContainerInspectResponse, reasons: &mut Vec<String>) {
    let have_config = s.have_config();
    let default_hostname = s.by_hand
        && s.want["Hostname"].as_str()
            == observed.name.as_deref().map(|n| n.trim_start_matches('/'))
        && have_config["Hostname"].as_str().is_some_and(|h| {
            observed
                .id
                .as_deref()
                .is_some_and(|id| !h.is_empty() && id.starts_with(h))
        });
    for (key, what) in [
        ("Cmd", "command"),
        ("Hostname", "hostname"),
        ("User", "user"),
        ("WorkingDir", "workdir"),
    ] {
        if key == "Hostname" && default_hostname {
            continue;
        }
        if !s.want[key].is_null() && !same(&s.want[key], &have_config[key]) {
            reasons.push(format!("{what} changed"));
        }
    }
}

/// The labels, maestro's own aside (a container MaestroNG made has none of
/// them), the image's own aside.
fn labels(s: &Sides, reasons: &mut Vec<String>) {
    // MaestroNG made a list label `key=value` a label named so, with no
    // value; maestro makes it `key: value`: the same label, both ways.
    let labels = |v: &Value| -> BTreeMap<String, String> {
        v.as_object()
            .into_iter()
            .flatten()
            .filter(|(k, _)| !k.starts_with(MAESTRO_LABEL_PREFIX))
            .map(|(k, v)| {
                let value = v.as_str().unwrap_or("");
                match k.split_once('=') {
                    Some((key, inline)) if value.is_empty() => (key.to_owned(), inline.to_owned()),
                    _ => (k.clone(), value.to_owned()),
                }
            })
            .collect()
    };
    let image_labels = labels(&s.image["Labels"]);
    let mut have_labels = labels(&s.have_config()["Labels"]);
    have_labels.retain(|k, v| image_labels.get(k) != Some(v));
    let mut want_labels = labels(&s.want["Labels"]);
    want_labels.retain(|k, v| image_labels.get(k) != Some(v));
    if want_labels != have_labels {
        reasons.push("labels changed".into());
    }
}

/// The volumes: bind mounts and anonymous volumes (the image's own aside).
fn volumes(s: &Sides, reasons: &mut Vec<String>) {
    let (want_host, have_host) = (s.want_host(), s.have_host());
    let image_volumes: BTreeSet<String> = s.image["Volumes"]
        .as_object()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    let volume_keys = |v: &Value| -> BTreeSet<String> {
        match v {
            Value::Object(m) => m.keys().cloned().collect(),
            Value::Array(a) => a
                .iter()
                .filter_map(|x| x.as_str().map(str::to_owned))
                .collect(),
            _ => BTreeSet::new(),
        }
    };
    // `docker run -v` lists a bind's target among the volumes of neither
    // the container nor its request, and leaves the default mode out.
    let binds = |v: &Value| -> Vec<String> {
        let mut list: Vec<String> = sorted_strings(v)
            .into_iter()
            .map(|b| match b.strip_suffix(":rw") {
                Some(plain) if s.by_hand => plain.to_owned(),
                _ => b,
            })
            .collect();
        list.sort();
        list
    };
    let bind_targets: BTreeSet<String> = if s.by_hand {
        sorted_strings(&want_host["Binds"])
            .iter()
            .filter_map(|b| b.split(':').nth(1).map(str::to_owned))
            .collect()
    } else {
        BTreeSet::new()
    };
    let volumes = |v: &Value| -> BTreeSet<String> {
        volume_keys(v)
            .into_iter()
            .filter(|k| !image_volumes.contains(k) && !bind_targets.contains(k))
            .collect()
    };
    if binds(&want_host["Binds"]) != binds(&have_host["Binds"])
        || volumes(&s.want["Volumes"]) != volumes(&s.have_config()["Volumes"])
    {
        reasons.push("volumes changed".into());
    }
}

/// The links, as engines rewrite them.
fn links(s: &Sides, reasons: &mut Vec<String>) {
    let links = |v: &Value| -> Vec<String> {
        let mut l: Vec<String> = sorted_strings(v).iter().map(|s| link(s)).collect();
        l.sort();
        l
    };
    if links(&s.want_host()["Links"]) != links(&s.have_host()["Links"]) {
        reasons.push("links changed".into());
    }
}

/// Limits, ulimits, name resolution, capabilities and security options,
/// and shared volumes.
fn resources_and_privileges(s: &Sides, reasons: &mut Vec<String>) {
    let (want_host, have_host) = (s.want_host(), s.have_host());
    for (keys, what) in [
        (&["Memory", "CpuShares"][..], "limits"),
        (&["Ulimits"][..], "ulimits"),
        (&["Dns"][..], "dns"),
        (&["ExtraHosts"][..], "extra hosts"),
        (&["CapAdd", "CapDrop"][..], "capabilities"),
        (&["Privileged"][..], "privileged"),
        (&["VolumesFrom"][..], "volumes_from"),
    ] {
        // Podman gives every container its default ulimits.
        if s.podman && what == "ulimits" && is_empty(&want_host["Ulimits"]) {
            continue;
        }
        if keys.iter().any(|k| !same(&want_host[k], &have_host[k])) {
            reasons.push(format!("{what} changed"));
        }
    }
    if crate::decide::options::security_differs(want_host, have_host) {
        reasons.push("security options changed".into());
    }
    // Swap left unset is the engine's to choose (twice the memory).
    let limits = "limits changed";
    if !is_empty(&want_host["MemorySwap"])
        && !same(&want_host["MemorySwap"], &have_host["MemorySwap"])
        && !reasons.iter().any(|r| r == limits)
    {
        reasons.push(limits.into());
    }
}

/// The restart policy, the network mode and the logging.
fn restart_network_and_logging(s: &Sides, reasons: &mut Vec<String>) {
    let (want_host, have_host) = (s.want_host(), s.have_host());
    let restart = |v: &Value| {
        let name = v["Name"].as_str().unwrap_or("");
        let name = if name.is_empty() { "no" } else { name };
        (
            name.to_owned(),
            v["MaximumRetryCount"].as_i64().unwrap_or(0),
        )
    };
    if restart(&want_host["RestartPolicy"]) != restart(&have_host["RestartPolicy"]) {
        reasons.push("restart policy changed".into());
    }
    let mode = |v: &Value| {
        let m = v.as_str().unwrap_or("");
        if m.is_empty() || m == "default" {
            "bridge".to_owned()
        } else {
            m.to_owned()
        }
    };
    if mode(&want_host["NetworkMode"]) != mode(&have_host["NetworkMode"]) {
        reasons.push("network mode changed".into());
    }
    if !want_host["LogConfig"].is_null()
        && !same_logging(&want_host["LogConfig"], &have_host["LogConfig"])
    {
        reasons.push("logging changed".into());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use maestro_config::{load, Environment, Source};
    use maestro_engine::models::{ContainerConfig, ContainerState, HostConfig};

    fn env(text: &str) -> Environment {
        let src = Source {
            name: "t.yaml".into(),
            base_dir: ".".into(),
            text: text.into(),
        };
        load(&src, &Default::default()).expect("valid environment")
    }

    const ENV: &str = "
name: t
ships: {a: {ip: 10.0.0.1}}
services:
  web:
    image: box:1
    env: {GREETING: hello}
    instances:
      web-1: {ship: a, ports: {http: '80:8080'}, command: sleep 100, restart: always}
";

    /// What an engine would report for a container created from `body`.
    fn as_created(body: &ContainerCreateBody, running: bool) -> ContainerInspectResponse {
        let mut env = body.env.clone().unwrap_or_default();
        env.push("PATH=/bin".into());
        let host = body.host_config.clone().unwrap_or_default();
        ContainerInspectResponse {
            id: Some("abc".into()),
            image: Some("sha256:one".into()),
            config: Some(ContainerConfig {
                image: body.image.clone(),
                env: Some(env),
                cmd: body.cmd.clone(),
                hostname: body.hostname.clone(),
                labels: body.labels.clone(),
                ..Default::default()
            }),
            host_config: Some(HostConfig {
                network_mode: Some("default".into()),
                ..host
            }),
            state: Some(ContainerState {
                running: Some(running),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn image(id: &str) -> ImageInspect {
        ImageInspect {
            id: Some(id.into()),
            config: Some(maestro_engine::models::ImageConfig {
                env: Some(vec!["PATH=/bin".into()]),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    /// `observed` as another tool (MaestroNG, an older maestro) made it:
    /// maestro's labels gone, or its hash of an older version.
    fn relabelled(
        mut observed: ContainerInspectResponse,
        hash: Option<&str>,
    ) -> ContainerInspectResponse {
        if let Some(labels) = observed.config.as_mut().and_then(|c| c.labels.as_mut()) {
            labels.retain(|k, _| !k.starts_with(MAESTRO_LABEL_PREFIX));
            if let Some(h) = hash {
                labels.insert(LABEL_SPEC_HASH.into(), h.into());
            }
        }
        observed
    }

    /// A container made by hand (`docker run`) has none of maestro's
    /// variables and the engine's default host name: adopted as it is, but
    /// only for those; a variable of the file it lacks still counts.
    #[test]
    fn a_container_made_by_hand_is_not_drifted_for_what_maestro_adds() {
        let e = env(ENV);
        let c = &e.containers["web-1"];
        let body = crate::decide::spec::create_body(&e, c);
        let contract = contract(c);
        let mut by_hand = relabelled(as_created(&body, true), None);
        by_hand.id = Some("0123456789abcdef".into());
        by_hand.name = Some("/web-1".into());
        if let Some(config) = by_hand.config.as_mut() {
            config.hostname = Some("0123456789ab".into());
            if let Some(env) = config.env.as_mut() {
                env.retain(|v| v.starts_with("GREETING=") || v.starts_with("PATH="));
            }
        }
        let current = Some(image("sha256:one"));
        assert_eq!(
            decide(&body, Some(&by_hand), current.as_ref(), &contract),
            Action::None
        );
        // Without the contract (or as MaestroNG's, which has the variables),
        // the missing variables are reasons.
        let Action::Recreate(reasons) =
            decide(&body, Some(&by_hand), current.as_ref(), &BTreeSet::new())
        else {
            panic!("a recreate")
        };
        assert!(
            reasons.contains(&"env CONTAINER_NAME added".to_owned()),
            "{reasons:?}"
        );
        // The file's own variable missing is drift, by hand or not.
        if let Some(env) = by_hand.config.as_mut().and_then(|c| c.env.as_mut()) {
            env.retain(|v| !v.starts_with("GREETING="));
        }
        assert_eq!(
            decide(&body, Some(&by_hand), current.as_ref(), &contract),
            Action::Recreate(vec!["env GREETING added".into()])
        );
    }

    /// Memory and swap changed together are one reason, not two.
    #[test]
    fn limits_changed_is_said_once() {
        let e = env(ENV);
        let body = crate::decide::spec::create_body(&e, &e.containers["web-1"]);
        let mut want = body.clone();
        if let Some(host) = want.host_config.as_mut() {
            host.memory = Some(256 * 1024 * 1024);
            host.memory_swap = Some(512 * 1024 * 1024);
        }
        if let Some(labels) = want.labels.as_mut() {
            labels.insert(LABEL_SPEC_HASH.into(), "2:changed".into());
        }
        let running = as_created(&body, true);
        let Action::Recreate(reasons) = decide(
            &want,
            Some(&running),
            Some(&image("sha256:one")),
            &BTreeSet::new(),
        ) else {
            panic!("a recreate")
        };
        let limits = reasons.iter().filter(|r| *r == "limits changed").count();
        assert_eq!(limits, 1, "{reasons:?}");
    }

    #[test]
    fn containers_made_by_maestrong_or_an_older_maestro_are_adopted() {
        let e = env(ENV);
        let body = crate::decide::spec::create_body(&e, &e.containers["web-1"]);
        let current = Some(image("sha256:one"));
        let foreign = relabelled(as_created(&body, true), None);
        assert_eq!(
            decide(&body, Some(&foreign), current.as_ref(), &BTreeSet::new()),
            Action::None
        );
        let stopped = relabelled(as_created(&body, false), None);
        assert_eq!(
            decide(&body, Some(&stopped), current.as_ref(), &BTreeSet::new()),
            Action::Start
        );
        let older = relabelled(as_created(&body, true), Some(&"ab".repeat(32)));
        assert_eq!(
            decide(&body, Some(&older), current.as_ref(), &BTreeSet::new()),
            Action::None
        );
        // Adopted only when the fields match: a changed variable still counts.
        let mut drifted = foreign.clone();
        if let Some(env) = drifted.config.as_mut().and_then(|c| c.env.as_mut()) {
            env.retain(|v| !v.starts_with("GREETING="));
            env.push("GREETING=bye".into());
        }
        assert_eq!(
            decide(&body, Some(&drifted), current.as_ref(), &BTreeSet::new()),
            Action::Recreate(vec!["env GREETING changed".into()])
        );
        // A hash of this version that differs, with no field to name: recreated.
        let unnamed = relabelled(
            as_created(&body, true),
            Some(&format!("2:{}", "cd".repeat(32))),
        );
        assert_eq!(
            decide(&body, Some(&unnamed), current.as_ref(), &BTreeSet::new()),
            Action::Recreate(vec!["configuration changed".into()])
        );
    }

    #[test]
    fn absent_running_and_stopped_containers() {
        let e = env(ENV);
        let body = crate::decide::spec::create_body(&e, &e.containers["web-1"]);
        assert_eq!(decide(&body, None, None, &BTreeSet::new()), Action::Create);
        let running = as_created(&body, true);
        assert_eq!(
            decide(
                &body,
                Some(&running),
                Some(&image("sha256:one")),
                &BTreeSet::new()
            ),
            Action::None
        );
        let stopped = as_created(&body, false);
        assert_eq!(
            decide(
                &body,
                Some(&stopped),
                Some(&image("sha256:one")),
                &BTreeSet::new()
            ),
            Action::Start
        );
    }

    #[test]
    fn what_podman_adds_to_a_container_is_not_a_reason() {
        let before = env(ENV);
        let old = crate::decide::spec::create_body(&before, &before.containers["web-1"]);
        let mut running = as_created(&old, true);
        if let Some(config) = running.config.as_mut() {
            config.image = Some("docker.io/box:1".into());
            if let Some(env) = config.env.as_mut() {
                for extra in [
                    "container=podman",
                    "HOME=/root",
                    "HOSTNAME=web-1",
                    "TERM=xterm",
                ] {
                    env.push(extra.into());
                }
            }
        }
        if let Some(host) = running.host_config.as_mut() {
            host.ulimits = Some(vec![maestro_engine::models::ResourcesUlimits {
                name: Some("RLIMIT_NOFILE".into()),
                soft: Some(1024),
                hard: Some(1024),
            }]);
        }
        let after = env(&ENV.replace("hello", "bonjour"));
        let new = crate::decide::spec::create_body(&after, &after.containers["web-1"]);
        assert_eq!(
            decide(
                &new,
                Some(&running),
                Some(&image("sha256:one")),
                &BTreeSet::new()
            ),
            Action::Recreate(vec!["env GREETING changed".into()])
        );
        // The same variables on another engine are the container's own.
        if let Some(env) = running.config.as_mut().and_then(|c| c.env.as_mut()) {
            env.retain(|v| v != "container=podman");
        }
        let Action::Recreate(reasons) = decide(
            &new,
            Some(&running),
            Some(&image("sha256:one")),
            &BTreeSet::new(),
        ) else {
            panic!("a recreate")
        };
        assert!(
            reasons.contains(&"env TERM removed".to_owned()),
            "{reasons:?}"
        );
        assert!(
            reasons.contains(&"ulimits changed".to_owned()),
            "{reasons:?}"
        );
        assert_eq!(image_ref("busybox"), "busybox:latest");
        assert_eq!(image_ref("docker.io/library/busybox:1"), "busybox:1");
        assert_eq!(image_ref("127.0.0.1:5000/box"), "127.0.0.1:5000/box:latest");
    }

    #[test]
    fn a_changed_variable_is_named() {
        let before = env(ENV);
        let old = crate::decide::spec::create_body(&before, &before.containers["web-1"]);
        let running = as_created(&old, true);
        let after = env(&ENV.replace("hello", "bonjour"));
        let new = crate::decide::spec::create_body(&after, &after.containers["web-1"]);
        assert_eq!(
            decide(
                &new,
                Some(&running),
                Some(&image("sha256:one")),
                &BTreeSet::new()
            ),
            Action::Recreate(vec!["env GREETING changed".into()])
        );
    }

    #[test]
    fn ports_command_and_restart_changes_are_named() {
        let before = env(ENV);
        let old = crate::decide::spec::create_body(&before, &before.containers["web-1"]);
        let running = as_created(&old, true);
        let after = env(&ENV
            .replace("'80:8080'", "'80:9090'")
            .replace("sleep 100", "sleep 200")
            .replace("restart: always", "restart: no"));
        let new = crate::decide::spec::create_body(&after, &after.containers["web-1"]);
        let Action::Recreate(reasons) = decide(
            &new,
            Some(&running),
            Some(&image("sha256:one")),
            &BTreeSet::new(),
        ) else {
            panic!("expected a recreate");
        };
        // The published port is also in the service's link variables.
        assert_eq!(
            reasons,
            [
                "env WEB_WEB_1_HTTP_PORT changed",
                "command changed",
                "ports changed",
                "restart policy changed"
            ]
        );
    }

    #[test]
    fn a_rebuilt_image_under_the_same_tag_is_an_update() {
        let e = env(ENV);
        let body = crate::decide::spec::create_body(&e, &e.containers["web-1"]);
        let running = as_created(&body, true);
        assert_eq!(
            decide(
                &body,
                Some(&running),
                Some(&image("sha256:two")),
                &BTreeSet::new()
            ),
            Action::Recreate(vec!["image updated".into()])
        );
    }

    #[test]
    fn engine_rewritten_links_compare_equal() {
        assert_eq!(link("/db-1:/web-1/db"), "db-1:db");
        assert_eq!(link("db-1:db"), "db-1:db");
    }

    /// A secret's digest in the label, never its value: a rotated value
    /// recreates for `secret NAME changed`, a variable secret is not also
    /// an `env` difference, and the value is in no reason nor label.
    #[test]
    fn a_rotated_secret_recreates_by_its_digest_alone() {
        use crate::observe::secrets::{digest, Resolved, SecretValue, SecretValues};
        use maestro_config::SecretMount;
        let e = env(ENV);
        let mut c = e.containers["web-1"].clone();
        let mount = |source: &str, as_env: Option<&str>| SecretMount {
            source: source.into(),
            target: format!("/run/secrets/{source}"),
            uid: 0,
            gid: 0,
            mode: 0o444,
            as_env: as_env.map(str::to_owned),
        };
        c.options.secrets = vec![mount("db_pw", None), mount("api_key", Some("API_KEY"))];
        let values = |pw: &str, key: &str| {
            let one = |name: &str, v: &str| {
                let resolved = Resolved {
                    value: SecretValue::new(v.as_bytes().to_vec()),
                    digest: digest(&e.name, name, v.as_bytes()),
                };
                (name.to_owned(), resolved)
            };
            SecretValues {
                by_name: [one("db_pw", pw), one("api_key", key)]
                    .into_iter()
                    .collect(),
            }
        };
        let old = crate::decide::spec::create_request(&e, &c, &values("hunter2", "k-one"));
        let same = crate::decide::spec::create_request(&e, &c, &values("hunter2", "k-one"));
        let new = crate::decide::spec::create_request(&e, &c, &values("hunter3", "k-one"));
        let label = old.body.labels.as_ref().map(|l| l[LABEL_SECRETS].clone());
        let label = label.unwrap_or_default();
        assert!(
            label.contains("/run/secrets/db_pw") && !label.contains("hunter2"),
            "{label}"
        );
        assert_eq!(old.spec_hash(), same.spec_hash());
        assert_ne!(
            old.spec_hash(),
            new.spec_hash(),
            "a rotated value changes the hash"
        );
        let old_body = old.with_env(&c);
        assert!(old_body.env.iter().flatten().any(|v| v == "API_KEY=k-one"));
        let running = as_created(&old_body, true);
        let contract = contract(&e.containers["web-1"]);
        let img = image("sha256:one");
        let want = new.with_env(&c);
        assert_eq!(
            decide(&want, Some(&running), Some(&img), &contract),
            Action::Recreate(vec!["secret db_pw changed".into()])
        );
        let rotated_key = crate::decide::spec::create_request(&e, &c, &values("hunter2", "k-two"));
        let reasons = match decide(
            &rotated_key.with_env(&c),
            Some(&running),
            Some(&img),
            &contract,
        ) {
            Action::Recreate(r) => r,
            other => panic!("{other:?}"),
        };
        assert_eq!(reasons, vec!["secret api_key changed".to_owned()]);
        assert_eq!(
            decide(&same.with_env(&c), Some(&running), Some(&img), &contract),
            Action::None
        );
        c.options.secrets.pop();
        let fewer = crate::decide::spec::create_request(&e, &c, &values("hunter2", "k-one"));
        let reasons = match decide(&fewer.with_env(&c), Some(&running), Some(&img), &contract) {
            Action::Recreate(r) => r,
            other => panic!("{other:?}"),
        };
        assert_eq!(reasons, vec!["secret api_key removed".to_owned()]);
    }

    /// A new image that sets another value of a variable the old image set
    /// (`ENV VERSION=…`) is an image update, not a removed variable.
    #[test]
    fn an_old_images_own_variable_is_not_a_removal_after_an_update() {
        let e = env(ENV);
        let c = &e.containers["web-1"];
        let body = crate::decide::spec::create_body(&e, c);
        let mut running = as_created(&body, true);
        if let Some(env) = running.config.as_mut().and_then(|c| c.env.as_mut()) {
            env.push("VERSION=1".into());
        }
        let mut changed = running.clone();
        if let Some(labels) = changed.config.as_mut().and_then(|c| c.labels.as_mut()) {
            labels.insert(LABEL_SPEC_HASH.into(), "2:older".into());
        }
        assert_eq!(
            decide(
                &body,
                Some(&changed),
                Some(&image("sha256:two")),
                &contract(c)
            ),
            Action::Recreate(vec!["configuration changed".into(), "image updated".into()])
        );
        assert_eq!(
            decide(
                &body,
                Some(&changed),
                Some(&image("sha256:one")),
                &contract(c)
            ),
            Action::Recreate(vec!["env VERSION removed".into()]),
            "the same image: the variable is the container's own"
        );
    }
}
