//! From a resolved [`Container`] to the exact creation request sent to its
//! engine: every setting of the model, plus maestro's own labels (environment,
//! service, instance, and a hash of the request for drift detection). Pure.

use std::collections::{BTreeMap, HashMap};

use maestro_config::{Container, Environment, PortSpec};
use maestro_engine::models::{
    ContainerCreateBody, HostConfig, HostConfigLogConfig, PortBinding, ResourcesUlimits,
    RestartPolicy, RestartPolicyNameEnum,
};
use sha2::{Digest, Sha256};

use crate::decide::plan::{CreateRequest, Creation, DeliverTo, Delivery};
use crate::observe::secrets::SecretValues;
use maestro_engine::FileToPut;

pub use crate::labels::{
    LABEL_ENVIRONMENT, LABEL_INSTANCE, LABEL_SECRETS, LABEL_SERVICE, LABEL_SPEC_HASH,
    MAESTRO_LABEL_PREFIX,
};

/// The creation request for `container`, labels and hash included.
pub fn create_body(env: &Environment, container: &Container) -> ContainerCreateBody {
    let mut body = labelled_body(env, container, Some(env_list(container)));
    let hash = spec_hash(&body);
    if let Some(labels) = body.labels.as_mut() {
        labels.insert(LABEL_SPEC_HASH.into(), hash);
    }
    body
}

/// The request with maestro's labels but its spec hash, with `env`.
fn labelled_body(
    env: &Environment,
    container: &Container,
    variables: Option<Vec<String>>,
) -> ContainerCreateBody {
    let mut body = bare_body(env, container, variables);
    crate::decide::objects::apply_networks(env, container, &mut body);
    let labels = body.labels.get_or_insert_with(HashMap::new);
    labels.insert(LABEL_ENVIRONMENT.into(), env.name.clone());
    labels.insert(LABEL_SERVICE.into(), container.service.clone());
    labels.insert(LABEL_INSTANCE.into(), container.name.clone());
    body
}

/// Everything that creates `container`: the request (its spec hash the
/// one [`create_body`] gives, taken without rendering its variables; its
/// `Env` left to be rendered from the model when it is sent, so that a plan
/// of thousands of creations does not hold thousands of environments), its
/// platform, and the networks it joins after the first.
/// `secrets`: the play's resolved secrets, of which the container's are
/// delivered (their digests labelled, and so in the spec hash).
pub fn create_request(
    env: &Environment,
    container: &Container,
    secrets: &SecretValues,
) -> CreateRequest {
    let mut body = labelled_body(env, container, None);
    let deliveries = deliveries(container, secrets);
    if !deliveries.is_empty() {
        if let Some(labels) = body.labels.as_mut() {
            labels.insert(LABEL_SECRETS.into(), secrets_label(&deliveries, secrets));
        }
    }
    let hash = spec_hash_with_env(&body, container);
    if let Some(labels) = body.labels.as_mut() {
        labels.insert(LABEL_SPEC_HASH.into(), hash);
    }
    let mut connect = crate::decide::objects::connects(env, container);
    if crate::decide::proxy::route_of(env, container).is_some() {
        connect.push(crate::decide::proxy::connect(env));
    }
    CreateRequest {
        body,
        platform: container.options.platform.clone(),
        connect,
        secrets: deliveries,
    }
}

/// How `container` receives each of its secrets, with the values read.
fn deliveries(container: &Container, secrets: &SecretValues) -> Vec<Delivery> {
    container
        .options
        .secrets
        .iter()
        .map(|m| Delivery {
            source: m.source.clone(),
            to: match &m.as_env {
                Some(var) => DeliverTo::Env(var.clone()),
                None => DeliverTo::File {
                    target: m.target.clone(),
                    uid: m.uid,
                    gid: m.gid,
                    mode: m.mode,
                },
            },
            value: secrets.get(&m.source).map(|r| r.value.clone()),
        })
        .collect()
}

/// The [`LABEL_SECRETS`] label: for each delivery, the secret's name, where
/// it goes and its value's digest (`unread` when it was not read).
fn secrets_label(deliveries: &[Delivery], secrets: &SecretValues) -> String {
    let items: Vec<serde_json::Value> = deliveries
        .iter()
        .map(|d| {
            let digest = secrets
                .get(&d.source)
                .map_or("unread", |r| r.digest.as_str());
            let mut item = serde_json::json!({"secret": d.source, "digest": digest});
            match &d.to {
                DeliverTo::Env(var) => item["env"] = var.as_str().into(),
                DeliverTo::File {
                    target,
                    uid,
                    gid,
                    mode,
                } => {
                    item["target"] = target.as_str().into();
                    item["mode"] = format!("{mode:04o}").into();
                    item["owner"] = format!("{uid}:{gid}").into();
                }
            }
            item
        })
        .collect();
    serde_json::Value::Array(items).to_string()
}

/// The variables a container is created with: its own, and the secrets it
/// receives as variables (in place of its own of the same name).
fn variables(container: &Container, secrets: &[Delivery]) -> Vec<String> {
    let mut vars = env_list(container);
    for d in secrets {
        if let (DeliverTo::Env(var), Some(value)) = (&d.to, &d.value) {
            vars.retain(|v| v.split('=').next() != Some(var.as_str()));
            vars.push(format!("{var}={}", String::from_utf8_lossy(value.expose())));
        }
    }
    vars
}

/// The secrets `secrets` delivers as files, to write into the created
/// container before it starts.
pub fn files(secrets: &[Delivery]) -> Vec<FileToPut<'_>> {
    secrets
        .iter()
        .filter_map(|d| match (&d.to, &d.value) {
            (
                DeliverTo::File {
                    target,
                    uid,
                    gid,
                    mode,
                },
                Some(value),
            ) => Some(FileToPut {
                path: target,
                uid: *uid,
                gid: *gid,
                mode: *mode,
                contents: value.expose(),
            }),
            _ => None,
        })
        .collect()
}

impl Creation {
    /// `request` serialized (its `Env`, if any, left out).
    pub fn of(request: CreateRequest) -> Creation {
        let CreateRequest {
            mut body,
            platform,
            connect,
            secrets,
        } = request;
        body.env = None;
        // A body of strings, numbers and string-keyed maps always serializes.
        let json = serde_json::to_string(&body).unwrap_or_else(|_| "{}".into());
        Creation {
            json: json.into_boxed_str(),
            platform,
            connect,
            secrets,
        }
    }

    /// The whole request's JSON, its `Env` rendered from `container`'s
    /// variables (and the secrets it receives as variables): the same
    /// object as [`CreateRequest::with_env`]'s.
    pub fn body(&self, container: &Container) -> Vec<u8> {
        let vars = variables(container, &self.secrets);
        let rest = self.json.strip_prefix('{').unwrap_or("}");
        let mut out = Vec::with_capacity(
            self.json.len() + 16 + vars.iter().map(|v| v.len() + 3).sum::<usize>(),
        );
        out.extend_from_slice(br#"{"Env":"#);
        // A list of strings always serializes.
        let _ = serde_json::to_writer(&mut out, &vars);
        if rest != "}" {
            out.push(b',');
        }
        out.extend_from_slice(rest.as_bytes());
        out
    }
}

impl CreateRequest {
    /// The whole request, its `Env` rendered from `container`'s variables
    /// (and the secrets it receives as variables).
    pub fn with_env(&self, container: &Container) -> ContainerCreateBody {
        let mut body = self.body.clone();
        body.env = Some(variables(container, &self.secrets));
        body
    }

    /// The secrets it delivers as files, to write into the created
    /// container before it starts.
    pub fn files(&self) -> Vec<FileToPut<'_>> {
        files(&self.secrets)
    }

    /// The spec hash in its labels.
    pub fn spec_hash(&self) -> Option<&str> {
        self.body
            .labels
            .as_ref()
            .and_then(|l| l.get(LABEL_SPEC_HASH))
            .map(String::as_str)
    }
}

/// The version of [`spec_hash`]'s input: a hash of another version says
/// nothing either way, and the container is compared field by field.
pub const SPEC_HASH_VERSION: &str = "2";

/// `2:` and the SHA-256 (hex) of the request's normalized spec: the settings
/// maestro itself sets, by name, in a fixed order, with empty values left
/// out and lists that are sets sorted. Only those settings count, so a new
/// field in the Docker client library's requests (or a new default it
/// sends) leaves every hash as it was.
pub fn spec_hash(body: &ContainerCreateBody) -> String {
    let text = serde_json::to_string(&normalized(body)).unwrap_or_default();
    hash_text(text.as_bytes())
}

fn hash_text(text: &[u8]) -> String {
    let digest = Sha256::digest(text);
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("{SPEC_HASH_VERSION}:{hex}")
}

/// [`spec_hash`] of `body` (which has no `Env`) with `container`'s
/// variables as its `Env`: the same text hashed, the variables written into
/// it in the order of their `NAME=value` strings, without making those.
fn spec_hash_with_env(body: &ContainerCreateBody, container: &Container) -> String {
    // Without an `Env`, the body's normalized settings have no `env`.
    let fields = normalized(body);
    // By name, the last definition of each (no map built), then as strings.
    let mut vars = container.env.sorted();
    vars.sort_by(|a, b| env_order(*a, *b));
    let mut text: Vec<u8> = Vec::with_capacity(4096);
    text.push(b'{');
    let mut first = true;
    let mut env_written = vars.is_empty();
    for (key, value) in &fields {
        if !env_written && "env" < *key {
            write_env_field(&mut text, &vars, &mut first);
            env_written = true;
        }
        write_field(&mut text, key, value, &mut first);
    }
    if !env_written {
        write_env_field(&mut text, &vars, &mut first);
    }
    text.push(b'}');
    hash_text(&text)
}

/// The order of `NAME=value` (or `NAME`) strings, without making them:
/// names that differ before either ends decide it (the usual case, one
/// slice comparison); otherwise the strings' bytes are compared.
fn env_order(a: (&str, Option<&str>), b: (&str, Option<&str>)) -> std::cmp::Ordering {
    let (x, y) = (a.0.as_bytes(), b.0.as_bytes());
    let common = x.len().min(y.len());
    match x[..common].cmp(&y[..common]) {
        std::cmp::Ordering::Equal => env_string(a).cmp(env_string(b)),
        decided => decided,
    }
}

/// The bytes of `NAME=value` (or `NAME`), for ordering without making it.
fn env_string<'a>((name, value): (&'a str, Option<&'a str>)) -> impl Iterator<Item = u8> + 'a {
    let eq: Option<u8> = value.map(|_| b'=');
    name.bytes()
        .chain(eq)
        .chain(value.unwrap_or_default().bytes())
}

fn write_field(text: &mut Vec<u8>, key: &str, value: &serde_json::Value, first: &mut bool) {
    if !std::mem::take(first) {
        text.push(b',');
    }
    // Writing JSON into a vector cannot fail.
    let _ = serde_json::to_writer(&mut *text, key);
    text.push(b':');
    let _ = serde_json::to_writer(&mut *text, value);
}

fn write_env_field(text: &mut Vec<u8>, vars: &[(&str, Option<&str>)], first: &mut bool) {
    if !std::mem::take(first) {
        text.push(b',');
    }
    text.extend_from_slice(b"\"env\":[");
    let mut scratch: Vec<u8> = Vec::new();
    for (i, (name, value)) in vars.iter().enumerate() {
        if i > 0 {
            text.push(b',');
        }
        // `"NAME=value"`: NAME written as a JSON string without its closing
        // quote, then `=`, then the value's string without its opening one
        // (each escaped by serde_json, as the whole string would be).
        let _ = serde_json::to_writer(&mut *text, name);
        if let Some(value) = value {
            text.pop();
            text.push(b'=');
            scratch.clear();
            let _ = serde_json::to_writer(&mut scratch, value);
            text.extend_from_slice(scratch.get(1..).unwrap_or_default());
        }
    }
    text.push(b']');
}

/// The settings of a request that maestro sets, under maestro's own names.
pub fn normalized(body: &ContainerCreateBody) -> BTreeMap<&'static str, serde_json::Value> {
    use serde_json::Value;
    let json = serde_json::to_value(body).unwrap_or(Value::Null);
    let host = &json["HostConfig"];
    let sorted = crate::decide::options::sorted;
    let keys = |v: &Value| -> Value {
        let mut items: Vec<String> = match v {
            Value::Object(m) => m.keys().cloned().collect(),
            Value::Array(a) => a
                .iter()
                .filter_map(|x| x.as_str().map(str::to_owned))
                .collect(),
            _ => Vec::new(),
        };
        items.sort();
        Value::from(items)
    };
    let labels: BTreeMap<String, Value> = json["Labels"]
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(k, _)| !k.starts_with(MAESTRO_LABEL_PREFIX))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let canonical_ports = canonical(host["PortBindings"].clone());
    let mut fields: Vec<(&'static str, Value)> = vec![
        ("image", json["Image"].clone()),
        ("env", sorted(&json["Env"])),
        ("command", json["Cmd"].clone()),
        ("hostname", json["Hostname"].clone()),
        ("user", json["User"].clone()),
        ("workdir", json["WorkingDir"].clone()),
        (
            "labels",
            serde_json::to_value(labels).unwrap_or(Value::Null),
        ),
        ("exposed", keys(&json["ExposedPorts"])),
        ("volumes", keys(&json["Volumes"])),
        ("binds", sorted(&host["Binds"])),
        ("ports", canonical_ports),
        ("links", sorted(&host["Links"])),
        ("privileged", host["Privileged"].clone()),
        ("cap_add", sorted(&host["CapAdd"])),
        ("cap_drop", sorted(&host["CapDrop"])),
        ("security_opt", host["SecurityOpt"].clone()),
        ("extra_hosts", sorted(&host["ExtraHosts"])),
        ("network_mode", host["NetworkMode"].clone()),
        ("dns", host["Dns"].clone()),
        ("restart", canonical(host["RestartPolicy"].clone())),
        ("volumes_from", host["VolumesFrom"].clone()),
        ("memory", host["Memory"].clone()),
        ("memory_swap", host["MemorySwap"].clone()),
        ("cpu_shares", host["CpuShares"].clone()),
        ("ulimits", canonical(host["Ulimits"].clone())),
        ("log_config", canonical(host["LogConfig"].clone())),
    ];
    fields.extend(crate::decide::options::hashed(&json));
    // What the secrets' label says (names, places, digests): maestro's own
    // label, but a rotated secret must change the hash.
    fields.push(("secrets", json["Labels"][LABEL_SECRETS].clone()));
    fields.into_iter().filter(|(_, v)| !is_empty(v)).collect()
}

pub(crate) use crate::decide::options::is_empty;

/// Objects with sorted keys, recursively.
fn canonical(value: serde_json::Value) -> serde_json::Value {
    match value {
        serde_json::Value::Object(map) => {
            let sorted: BTreeMap<String, serde_json::Value> =
                map.into_iter().map(|(k, v)| (k, canonical(v))).collect();
            serde_json::Value::Object(sorted.into_iter().collect())
        }
        serde_json::Value::Array(items) => {
            serde_json::Value::Array(items.into_iter().map(canonical).collect())
        }
        other => other,
    }
}

fn non_empty<T>(items: Vec<T>) -> Option<Vec<T>> {
    (!items.is_empty()).then_some(items)
}

/// The container's variables as the request's `Env` (`NAME=value`, or
/// `NAME` alone to pass the engine's own).
pub fn env_list(c: &Container) -> Vec<String> {
    c.env
        .resolved()
        .into_iter()
        .map(|(k, v)| match v {
            Some(v) => {
                let mut text = String::with_capacity(k.len() + 1 + v.len());
                text.push_str(k);
                text.push('=');
                text.push_str(v);
                text
            }
            None => k.to_owned(),
        })
        .collect()
}

/// The request from the model alone, without maestro's labels.
fn bare_body(e: &Environment, c: &Container, env: Option<Vec<String>>) -> ContainerCreateBody {
    let (exposed, bindings) = published(c);
    let mut volumes: Vec<String> = c.container_volumes.clone();
    for binding in &c.volumes {
        if !volumes.contains(&binding.target) {
            volumes.push(binding.target.clone());
        }
    }
    let mut body = ContainerCreateBody {
        image: Some(c.image.clone()),
        hostname: c.hostname.clone(),
        user: c.username.clone(),
        env,
        cmd: c.command.clone(),
        working_dir: c.workdir.clone(),
        exposed_ports: non_empty(exposed),
        volumes: non_empty(volumes),
        labels: Some(c.labels.clone().into_iter().collect()),
        host_config: Some(host_config(e, c, bindings)),
        ..Default::default()
    };
    crate::decide::options::apply(&c.options, &mut body);
    body
}

/// The container ports it exposes, and the host ports each is published on.
type Published = (Vec<String>, HashMap<String, Option<Vec<PortBinding>>>);

fn published(c: &Container) -> Published {
    let mut exposed: Vec<String> = Vec::new();
    let mut bindings: HashMap<String, Option<Vec<PortBinding>>> = HashMap::new();
    for port in c.ports.values() {
        for (inside, host_port) in port_pairs(&port.exposed, &port.external) {
            if !exposed.contains(&inside) {
                exposed.push(inside.clone());
            }
            bindings
                .entry(inside)
                .or_insert_with(|| Some(Vec::new()))
                .get_or_insert_with(Vec::new)
                .push(PortBinding {
                    host_ip: Some(port.external_ip.clone()),
                    host_port: Some(host_port),
                });
        }
    }
    (exposed, bindings)
}

/// The request's host settings: binds (a named volume by its engine name,
/// `name:`, which Compose projects prefix with the project's, not its key in
/// the file), published ports, links, privileges, network, restart policy,
/// resources and logging.
fn host_config(
    env: &Environment,
    c: &Container,
    bindings: HashMap<String, Option<Vec<PortBinding>>>,
) -> HostConfig {
    let binds: Vec<String> = c
        .volumes
        .iter()
        .map(|b| {
            let host = env.volumes.get(&b.host).map_or(&b.host, |v| &v.name);
            format!("{host}:{}:{}", b.target, b.mode)
        })
        .collect();
    fn pairs<'a>(list: impl IntoIterator<Item = (&'a String, &'a String)>) -> Vec<String> {
        list.into_iter().map(|(a, b)| format!("{a}:{b}")).collect()
    }
    HostConfig {
        binds: non_empty(binds),
        port_bindings: (!bindings.is_empty()).then_some(bindings),
        links: non_empty(pairs(&c.links)),
        privileged: Some(c.privileged),
        cap_add: non_empty(c.cap_add.clone()),
        cap_drop: non_empty(c.cap_drop.clone()),
        security_opt: non_empty(c.security_opt.clone()),
        extra_hosts: non_empty(pairs(&c.extra_hosts)),
        network_mode: c.network_mode.clone(),
        dns: non_empty(c.dns.clone()),
        restart_policy: Some(restart_policy(c)),
        volumes_from: non_empty(c.volumes_from.clone()),
        memory: c
            .limits
            .memory
            .map(|m| i64::try_from(m).unwrap_or(i64::MAX)),
        memory_swap: c.limits.swap,
        cpu_shares: c
            .limits
            .cpu_shares
            .map(|s| i64::try_from(s).unwrap_or(i64::MAX)),
        ulimits: non_empty(
            c.ulimits
                .iter()
                .map(|u| ResourcesUlimits {
                    name: Some(u.name.clone()),
                    soft: Some(u.soft),
                    hard: Some(u.hard),
                })
                .collect(),
        ),
        log_config: c.log_config.as_ref().map(|l| HostConfigLogConfig {
            typ: Some(l.driver.clone()),
            config: Some(l.options.clone().into_iter().collect()),
        }),
        ..Default::default()
    }
}

fn restart_policy(c: &Container) -> RestartPolicy {
    let name = match c.restart.name.as_str() {
        "always" => RestartPolicyNameEnum::ALWAYS,
        "on-failure" => RestartPolicyNameEnum::ON_FAILURE,
        "unless-stopped" => RestartPolicyNameEnum::UNLESS_STOPPED,
        _ => RestartPolicyNameEnum::NO,
    };
    RestartPolicy {
        name: Some(name),
        maximum_retry_count: Some(i64::from(c.restart.retries)),
    }
}

/// Container ports and the host port each is published on. A range maps one
/// to one; one port published on a host range gets the range (the engine
/// picks a free port in it).
fn port_pairs(exposed: &PortSpec, external: &PortSpec) -> Vec<(String, String)> {
    let proto = exposed.protocol.as_str();
    match (exposed.last, external.last) {
        (Some(last), Some(ext_last)) if ext_last - external.first == last - exposed.first => {
            (exposed.first..=last)
                .zip(external.first..=ext_last)
                .map(|(i, o)| (format!("{i}/{proto}"), o.to_string()))
                .collect()
        }
        (Some(last), _) => (exposed.first..=last)
            .map(|i| (format!("{i}/{proto}"), external.number()))
            .collect(),
        (None, _) => vec![(format!("{}/{proto}", exposed.first), external.number())],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A named volume's `name:` is what the container mounts, not its key.
    #[test]
    fn named_volumes_are_bound_by_their_engine_names() {
        let env = load(
            "
name: t
ships: {a: {ip: 10.0.0.1}}
volumes: {pg: {name: corp-pg}, plain: {}}
services:
  db:
    image: box:1
    instances:
      db-1: {ship: a, volumes: {/data: pg, /p: plain, /h: /srv/h}}
",
        );
        let body = create_body(&env, &env.containers["db-1"]);
        let binds = body.host_config.and_then(|h| h.binds).unwrap_or_default();
        assert_eq!(binds, ["corp-pg:/data:rw", "plain:/p:rw", "/srv/h:/h:rw"]);
    }

    #[test]
    fn variables_are_ordered_as_their_strings() {
        let vars: Vec<(&str, Option<&str>)> = vec![
            ("A", Some("x")),
            ("A-B", Some("1")),
            ("A_B", None),
            ("AB", Some("")),
            ("A", None),
            ("B", Some("=")),
            ("", Some("v")),
            ("Ab", Some("2")),
            ("A>", Some("3")),
        ];
        let text = |(k, v): (&str, Option<&str>)| match v {
            Some(v) => format!("{k}={v}"),
            None => k.to_owned(),
        };
        for a in &vars {
            for b in &vars {
                assert_eq!(
                    env_order(*a, *b),
                    text(*a).cmp(&text(*b)),
                    "{a:?} against {b:?}"
                );
            }
        }
    }

    fn load(yaml: &str) -> Environment {
        let source = maestro_config::Source {
            name: "t.yaml".into(),
            base_dir: ".".into(),
            text: yaml.into(),
        };
        match maestro_config::load(&source, &Default::default()) {
            Ok(env) => env,
            Err(errors) => panic!("{errors:?}"),
        }
    }

    /// A plan's request carries the hash the whole request has, though it
    /// never renders its variables for it: names that are prefixes of
    /// others, characters JSON escapes, names without a value.
    #[test]
    fn a_plans_request_has_the_whole_requests_hash() {
        let env = load(ENV);
        for c in env.containers.values() {
            let whole = create_body(&env, c);
            let request = create_request(&env, c, &Default::default());
            assert_eq!(
                request.spec_hash(),
                whole
                    .labels
                    .as_ref()
                    .and_then(|l| l.get(LABEL_SPEC_HASH))
                    .map(String::as_str)
            );
            assert_eq!(request.with_env(c), whole, "{}", c.name);
        }
        let tricky = load(
            r#"
name: t
ships: {vm1: {ip: 10.0.0.1}}
services:
  web:
    image: box:1
    env: {A: 1, A-B: 2, A_B: 3, AB: "q\"u\\o\nte", "Z": "é ✓ \t", EMPTY: ""}
    instances: {web-1: {ship: vm1}}
  bare:
    image: box:1
    instances: {bare-1: {ship: vm1}}
"#,
        );
        for c in tricky.containers.values() {
            let whole = create_body(&tricky, c);
            let request = create_request(&tricky, c, &Default::default());
            let hash = whole.labels.as_ref().and_then(|l| l.get(LABEL_SPEC_HASH));
            assert_eq!(request.spec_hash(), hash.map(String::as_str), "{}", c.name);
        }
    }

    /// The plan's serialized request, its variables rendered when sent,
    /// is the same JSON object as the typed request the client library
    /// would send: every field, the variables (escapes, a secret given as
    /// a variable in place of the container's own) and a body with no
    /// other field.
    #[test]
    fn a_serialized_creation_sends_the_whole_request() {
        let env = load(ENV);
        for c in env.containers.values() {
            let mut request = create_request(&env, c, &Default::default());
            request.secrets.push(Delivery {
                source: "pw".into(),
                to: DeliverTo::Env("A".into()),
                value: Some(crate::observe::secrets::SecretValue::new(
                    b"s\"\n3".to_vec(),
                )),
            });
            let sent = Creation::of(request.clone()).body(c);
            let sent: serde_json::Value = serde_json::from_slice(&sent).expect("JSON");
            let typed = serde_json::to_value(request.with_env(c)).expect("JSON");
            assert_eq!(sent, typed, "{}", c.name);
            assert!(sent["Env"]
                .as_array()
                .is_some_and(|vars| vars.iter().any(|v| v == "A=s\"\n3")));
            assert!(sent["Labels"][LABEL_SPEC_HASH].is_string());
        }
        let bare = Creation::of(CreateRequest {
            body: Default::default(),
            platform: None,
            connect: Vec::new(),
            secrets: Vec::new(),
        });
        let c = env.containers.values().next().expect("a container");
        let sent: serde_json::Value = serde_json::from_slice(&bare.body(c)).expect("JSON");
        assert_eq!(sent["Env"][0], "A=1", "{sent}");
        assert_eq!(sent.as_object().map(|o| o.len()), Some(1), "{sent}");
    }

    const ENV: &str = r#"
__maestro: {schema: 2}
name: demo
ships:
  vm1: {ip: 10.0.0.1}
services:
  web:
    image: box:1
    env: {A: 1, FLAG: true}
    instances:
      web-1:
        ship: vm1
        ports: {http: "80:8080", dns: "53/udp", r: "1000-1001:2000-2001", one: "3000:3000-3005"}
        volumes: {/srv: /data, /ro: {target: /cfg, mode: ro}}
        container_volumes: /scratch
        restart: on-failure:3
        limits: {memory: 1g, cpu: 512}
        ulimits: {nofile: 1024}
        command: sh -c 'sleep 1'
        labels: {team: a}
"#;

    #[test]
    fn every_setting_reaches_the_request() {
        let env = load(ENV);
        let c = &env.containers["web-1"];
        let body = create_body(&env, c);
        let value = serde_json::to_value(&body).unwrap();
        assert_eq!(value["Image"], "box:1");
        assert_eq!(value["Hostname"], "web-1");
        let envs: Vec<&str> = value["Env"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        assert!(envs.contains(&"A=1"));
        assert!(envs.contains(&"FLAG=True"));
        assert!(envs.contains(&"CONTAINER_NAME=web-1"));
        assert_eq!(value["Cmd"], serde_json::json!(["sh", "-c", "sleep 1"]));
        let hc = &value["HostConfig"];
        assert_eq!(hc["PortBindings"]["80/tcp"][0]["HostPort"], "8080");
        assert_eq!(hc["PortBindings"]["80/tcp"][0]["HostIp"], "0.0.0.0");
        assert_eq!(hc["PortBindings"]["53/udp"][0]["HostPort"], "53");
        assert_eq!(hc["PortBindings"]["1001/tcp"][0]["HostPort"], "2001");
        assert_eq!(hc["PortBindings"]["3000/tcp"][0]["HostPort"], "3000-3005");
        assert_eq!(
            hc["Binds"],
            serde_json::json!(["/srv:/data:rw", "/ro:/cfg:ro"])
        );
        assert_eq!(
            hc["RestartPolicy"],
            serde_json::json!({"Name": "on-failure", "MaximumRetryCount": 3})
        );
        assert_eq!(hc["Memory"], 1024 * 1024 * 1024);
        assert_eq!(hc["CpuShares"], 512);
        assert_eq!(
            hc["Ulimits"][0],
            serde_json::json!({"Name": "nofile", "Soft": 1024, "Hard": 1024})
        );
        assert_eq!(value["Labels"]["team"], "a");
        assert_eq!(value["Labels"][LABEL_SERVICE], "web");
        assert_eq!(value["Labels"][LABEL_ENVIRONMENT], "demo");
        assert_eq!(value["Labels"][LABEL_SPEC_HASH].as_str().unwrap().len(), 66);
        let mut volumes: Vec<&str> = value["Volumes"]
            .as_object()
            .map(|m| m.keys().map(|k| k.as_str()).collect())
            .unwrap_or_else(|| {
                value["Volumes"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_str().unwrap())
                    .collect()
            });
        volumes.sort();
        assert_eq!(volumes, ["/cfg", "/data", "/scratch"]);
    }

    #[test]
    fn the_hash_follows_the_settings_and_nothing_else() {
        let a = load(ENV);
        let b = load(ENV);
        let hash = |env: &Environment| {
            create_body(env, &env.containers["web-1"]).labels.unwrap()[LABEL_SPEC_HASH].clone()
        };
        assert_eq!(
            hash(&a),
            hash(&b),
            "same file, same hash (map order must not matter)"
        );
        let changed = load(&ENV.replace("A: 1", "A: 2"));
        assert_ne!(hash(&a), hash(&changed));
    }

    #[test]
    fn the_hash_is_of_maestros_own_spec_not_of_the_library_request() {
        let env = load(ENV);
        let body = create_body(&env, &env.containers["web-1"]);
        let hash = spec_hash(&body);
        assert!(hash.starts_with("2:"), "{hash}");
        // Settings maestro does not set (a field a newer client library
        // might send, at its default or not) leave the hash as it was.
        let mut more = body.clone();
        more.tty = Some(false);
        more.domainname = Some("example.org".into());
        if let Some(h) = more.host_config.as_mut() {
            h.oom_score_adj = Some(0);
            h.cgroup = Some("x".into());
        }
        assert_eq!(spec_hash(&more), hash);
        // Order in sets does not matter; maestro's own labels do not count.
        let mut reordered = body.clone();
        if let Some(e) = reordered.env.as_mut() {
            e.reverse();
        }
        if let Some(l) = reordered.labels.as_mut() {
            l.insert("io.maestro.something".into(), "x".into());
        }
        assert_eq!(spec_hash(&reordered), hash);
        // The fields it does set count.
        let mut other = body.clone();
        other.user = Some("nobody".into());
        assert_ne!(spec_hash(&other), hash);
        assert!(normalized(&body).contains_key("env"));
        assert!(
            !normalized(&body).contains_key("privileged"),
            "false is left out"
        );
    }
}
