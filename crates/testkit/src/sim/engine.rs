//! One simulated engine's state and the rules of each call on it, without any
//! I/O: images, containers (created → running → exited, removed), their
//! output, execs, published ports, networks and volumes (in `objects`).
//! Every method takes the current time, so the rules are tested without
//! waiting; the HTTP side ([`super::api`], [`super::server`]) only carries
//! requests in and answers out.
//!
//! A container's main process follows its command ([`super::process`]): it
//! may end on its own at a known time, which the engine applies when the
//! container is next looked at ([`Engine::settle`]). Errors carry the status
//! and message a real engine (Docker 20.10 and later) gives for the same
//! call; JSON documents carry the fields a real engine writes, in its shapes.

use std::collections::{BTreeMap, HashMap};
use std::hash::{BuildHasher, Hasher};
use std::time::{Duration, SystemTime};

use serde_json::{json, Map, Value};

use super::clock::{human_duration, rfc3339_nanos, rfc3339_or_zero, unix_seconds};
use super::process::{self, Behaviour, OnTerm};

mod objects;

use objects::{filter_map, Endpoint, Network, Volume};

/// A refusal, as the engine answers it: HTTP status and `{"message": …}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: u16,
    pub message: String,
}

impl ApiError {
    pub fn new(status: u16, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
        }
    }

    fn no_such_container(name: &str) -> ApiError {
        ApiError::new(404, format!("No such container: {name}"))
    }
}

/// What may be pulled from the (simulated) registries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pullable {
    /// Every reference.
    Any,
    /// None: every pull fails as for a repository that does not exist.
    Nothing,
    /// Only these references (normalized: `busybox:latest`).
    Only(Vec<String>),
}

impl Pullable {
    fn allows(&self, reference: &str) -> bool {
        match self {
            Pullable::Any => true,
            Pullable::Nothing => false,
            Pullable::Only(list) => list.iter().any(|r| normalize_reference(r) == reference),
        }
    }
}

/// An image the engine has.
#[derive(Debug, Clone)]
pub struct Image {
    pub id: String,
    pub tags: Vec<String>,
    pub created: SystemTime,
    pub size: u64,
    /// `Config` of the image (Cmd, Env, Entrypoint, Labels, …).
    pub config: Value,
}

/// A container's lifecycle state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Status {
    Created,
    Running,
    Exited,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Created => "created",
            Status::Running => "running",
            Status::Exited => "exited",
        }
    }
}

/// One line of a container's output.
#[derive(Debug, Clone)]
struct LogEntry {
    at: SystemTime,
    stderr: bool,
    text: String,
}

/// A published port: (host ip, host port, `8080/tcp`).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Published {
    host_ip: String,
    host_port: u16,
    container_port: String,
}

#[derive(Debug, Clone)]
struct Container {
    id: String,
    name: String,
    created: SystemTime,
    image_id: String,
    config: Value,
    host_config: Value,
    status: Status,
    started_at: Option<SystemTime>,
    finished_at: Option<SystemTime>,
    exit_code: i64,
    error: String,
    pid: u32,
    /// Bumped at each start: a pending stop only kills the run it began on.
    run: u64,
    behaviour: Behaviour,
    /// When the current run ends on its own, and with what status.
    exits_at: Option<(SystemTime, i64)>,
    logs: Vec<LogEntry>,
    published: Vec<Published>,
    ip: String,
    mounts: Vec<Value>,
    /// Its networks, the network mode's first.
    endpoints: Vec<Endpoint>,
    exec_ids: Vec<String>,
}

impl Container {
    fn running(&self) -> bool {
        self.status == Status::Running
    }

    fn argv(&self) -> Vec<String> {
        let mut argv = strings(&self.config["Entrypoint"]);
        argv.extend(strings(&self.config["Cmd"]));
        argv
    }

    fn end_run(&mut self, at: SystemTime, code: i64) {
        self.status = Status::Exited;
        self.finished_at = Some(at);
        self.exit_code = code;
        self.pid = 0;
        self.exits_at = None;
        self.published.clear();
        self.ip.clear();
        for endpoint in &mut self.endpoints {
            endpoint.ip = None;
        }
    }
}

#[derive(Debug, Clone)]
struct Exec {
    id: String,
    container_id: String,
    argv: Vec<String>,
    user: String,
    tty: bool,
    privileged: bool,
    attach: (bool, bool, bool),
    started: bool,
    /// When it ends and with what status, once started.
    ends_at: Option<(SystemTime, i64)>,
    pid: u32,
}

/// The identity an engine reports (`/version`, `Server` header).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// `Version`, e.g. `27.3.1`.
    pub engine_version: String,
    /// The newest API version served.
    pub api_version: String,
    /// The oldest API version accepted.
    pub min_api_version: String,
    /// The engine's name (`/info` `Name`), e.g. `sim-007`.
    pub name: String,
}

/// What a stop leaves to do: nothing, or kill the run once its grace ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StopOutcome {
    /// 204: stopped (or it ended on SIGTERM at once).
    Stopped,
    /// 304: it was not running.
    NotRunning,
    /// The process ignores SIGTERM: call [`Engine::finish_stop`] at `deadline`.
    Pending {
        id: String,
        run: u64,
        deadline: SystemTime,
    },
}

/// What a log read returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogChunk {
    /// Framed (or raw, with a TTY) bytes of the lines.
    pub bytes: Vec<u8>,
    /// How many lines of the log have been read up to now (for a follow).
    pub position: usize,
    /// Whether the container is still running (a follow goes on).
    pub running: bool,
    /// When the next line of the current run appears, if it is known.
    pub next_line_at: Option<SystemTime>,
}

/// Options of a log read.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogOptions {
    pub stdout: bool,
    pub stderr: bool,
    pub timestamps: bool,
    /// Only the last N lines (`None`: all).
    pub tail: Option<usize>,
}

/// The state of one simulated engine.
pub struct Engine {
    pub identity: Identity,
    pub pullable: Pullable,
    images: Vec<Image>,
    containers: HashMap<String, Container>,
    /// Container name (without `/`) → id.
    names: HashMap<String, String>,
    execs: HashMap<String, Exec>,
    /// The predefined networks first, then the others as created.
    networks: Vec<Network>,
    volumes: BTreeMap<String, Volume>,
    ids: IdSource,
    next_pid: u32,
    next_ip: u32,
    next_ephemeral: u16,
    /// Bumped on every change: waiters (wait, follow) look again.
    generation: u64,
}

impl Engine {
    /// An engine with `images` present (references like `busybox` or
    /// `maestro-test/box:1`).
    pub fn new(identity: Identity, images: &[String], pullable: Pullable, seed: u64) -> Engine {
        let now = SystemTime::now();
        let mut engine = Engine {
            identity,
            pullable,
            images: Vec::new(),
            containers: HashMap::new(),
            names: HashMap::new(),
            execs: HashMap::new(),
            networks: objects::predefined_networks(now),
            volumes: BTreeMap::new(),
            ids: IdSource::new(seed),
            next_pid: 1000,
            next_ip: 2,
            next_ephemeral: 32768,
            generation: 0,
        };
        for image in images {
            engine.add_image(image, now);
        }
        engine
    }

    /// The change counter (bumped on every change of state).
    pub fn generation(&self) -> u64 {
        self.generation
    }

    fn changed(&mut self) {
        self.generation += 1;
    }

    // ------------------------------------------------------------ images

    /// Adds (or re-tags) the image `reference`; its id is derived from the
    /// reference, so every ship has the same id for the same image.
    pub fn add_image(&mut self, reference: &str, now: SystemTime) -> String {
        let reference = normalize_reference(reference);
        let id = format!("sha256:{}", stable_hex(&reference));
        if let Some(image) = self.images.iter_mut().find(|i| i.id == id) {
            if !image.tags.contains(&reference) {
                image.tags.push(reference);
            }
            return id;
        }
        self.images.push(Image {
            id: id.clone(),
            tags: vec![reference],
            created: now - Duration::from_secs(86_400),
            size: 1_985_502,
            config: json!({
                "Hostname": "", "Domainname": "", "User": "",
                "AttachStdin": false, "AttachStdout": false, "AttachStderr": false,
                "Tty": false, "OpenStdin": false, "StdinOnce": false,
                "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
                "Cmd": ["/bin/sh"],
                "Image": "", "Volumes": null, "WorkingDir": "", "Entrypoint": null,
                "OnBuild": null, "Labels": null
            }),
        });
        self.changed();
        id
    }

    fn find_image(&self, name: &str) -> Option<&Image> {
        let reference = normalize_reference(name);
        if let Some(image) = self.images.iter().find(|i| i.tags.contains(&reference)) {
            return Some(image);
        }
        let hex = name.strip_prefix("sha256:").unwrap_or(name);
        if hex.is_empty() || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let mut found = self
            .images
            .iter()
            .filter(|i| i.id.trim_start_matches("sha256:").starts_with(hex));
        let first = found.next()?;
        found.next().is_none().then_some(first)
    }

    /// `GET /images/{name}/json`.
    pub fn inspect_image(&self, name: &str) -> Result<Value, ApiError> {
        let image = self.find_image(name).ok_or_else(|| {
            ApiError::new(404, format!("No such image: {}", image_message_name(name)))
        })?;
        Ok(json!({
            "Id": image.id,
            "RepoTags": image.tags,
            "RepoDigests": image.tags.iter()
                .map(|t| format!("{}@sha256:{}", t.rsplit_once(':').map_or(t.as_str(), |(r, _)| r), stable_hex(&format!("digest {t}"))))
                .collect::<Vec<_>>(),
            "Parent": "",
            "Comment": "",
            "Created": rfc3339_nanos(image.created),
            "DockerVersion": "",
            "Author": "",
            "Config": image.config,
            "Architecture": "amd64",
            "Os": "linux",
            "Size": image.size,
            "GraphDriver": {"Data": null, "Name": "overlay2"},
            "RootFS": {"Type": "layers", "Layers": [format!("sha256:{}", stable_hex(&format!("layer {}", image.id)))]},
            "Metadata": {"LastTagTime": "0001-01-01T00:00:00Z"}
        }))
    }

    /// `GET /images/json`: every image, or those matching `reference` (a
    /// name, `name:tag`, with `*` wildcards in the last path component).
    pub fn list_images(&self, reference: Option<&str>) -> Value {
        let mut list: Vec<&Image> = self
            .images
            .iter()
            .filter(|image| {
                reference
                    .is_none_or(|pattern| image.tags.iter().any(|t| reference_matches(pattern, t)))
            })
            .collect();
        list.sort_by_key(|image| std::cmp::Reverse(image.created));
        Value::Array(
            list.into_iter()
                .map(|image| {
                    json!({
                        "Containers": -1,
                        "Created": unix_seconds(image.created),
                        "Id": image.id,
                        "Labels": image.config.get("Labels").cloned().unwrap_or(Value::Null),
                        "ParentId": "",
                        "RepoDigests": [],
                        "RepoTags": image.tags,
                        "SharedSize": -1,
                        "Size": image.size,
                    })
                })
                .collect(),
        )
    }

    /// `POST /images/create?fromImage=…&tag=…`: the progress messages of a
    /// pull (the image is present afterwards), or a refusal as for a
    /// repository that does not exist.
    pub fn pull(
        &mut self,
        from_image: &str,
        tag: &str,
        now: SystemTime,
    ) -> Result<Vec<Value>, ApiError> {
        if from_image.is_empty() {
            return Err(ApiError::new(400, "invalid reference format"));
        }
        let reference = if tag.is_empty() {
            normalize_reference(from_image)
        } else if tag.starts_with("sha256:") {
            format!("{from_image}@{tag}")
        } else {
            normalize_reference(&format!("{from_image}:{tag}"))
        };
        let (repository, tag_part) = match reference.rsplit_once(':') {
            Some((r, t)) if !t.contains('/') => (r.to_owned(), t.to_owned()),
            _ => (reference.clone(), "latest".to_owned()),
        };
        if !self.pullable.allows(&reference) {
            return Err(ApiError::new(
                404,
                format!(
                    "pull access denied for {repository}, repository does not exist or may require 'docker login': denied: requested access to the resource is denied"
                ),
            ));
        }
        let present = self.find_image(&reference).is_some();
        let layer = stable_hex(&format!("layer {reference}"))[..12].to_owned();
        let digest = format!("sha256:{}", stable_hex(&format!("digest {reference}")));
        let total = 1_048_576;
        let mut messages =
            vec![json!({"status": format!("Pulling from {repository}"), "id": tag_part})];
        if present {
            messages.push(json!({"status": format!("Digest: {digest}")}));
            messages
                .push(json!({"status": format!("Status: Image is up to date for {reference}")}));
        } else {
            messages.extend([
                json!({"status": "Pulling fs layer", "progressDetail": {}, "id": layer}),
                json!({"status": "Downloading", "progressDetail": {"current": total / 2, "total": total}, "progress": "[=========================>                         ]  524.3kB/1.049MB", "id": layer}),
                json!({"status": "Downloading", "progressDetail": {"current": total, "total": total}, "progress": "[==================================================>]  1.049MB/1.049MB", "id": layer}),
                json!({"status": "Verifying Checksum", "progressDetail": {}, "id": layer}),
                json!({"status": "Download complete", "progressDetail": {}, "id": layer}),
                json!({"status": "Extracting", "progressDetail": {"current": total, "total": total}, "progress": "[==================================================>]  1.049MB/1.049MB", "id": layer}),
                json!({"status": "Pull complete", "progressDetail": {}, "id": layer}),
                json!({"status": format!("Digest: {digest}")}),
                json!({"status": format!("Status: Downloaded newer image for {reference}")}),
            ]);
            self.add_image(&reference, now);
        }
        Ok(messages)
    }

    // -------------------------------------------------------- containers

    /// The id of the container `name` (full id, name, or unique id prefix).
    fn lookup(&self, name: &str) -> Result<String, ApiError> {
        if self.containers.contains_key(name) {
            return Ok(name.to_owned());
        }
        let bare = name.strip_prefix('/').unwrap_or(name);
        if let Some(id) = self.names.get(bare) {
            return Ok(id.clone());
        }
        if !name.is_empty() && name.bytes().all(|b| b.is_ascii_hexdigit()) {
            let mut found = self.containers.keys().filter(|id| id.starts_with(name));
            if let Some(first) = found.next() {
                if found.next().is_some() {
                    return Err(ApiError::new(
                        404,
                        format!("Multiple IDs found with provided prefix: {name}"),
                    ));
                }
                return Ok(first.clone());
            }
        }
        Err(ApiError::no_such_container(name))
    }

    /// Applies what happened by `now` to container `id`: its process ended
    /// on its own (and `AutoRemove` took it away).
    fn settle_one(&mut self, id: &str, now: SystemTime) {
        let Some(c) = self.containers.get_mut(id) else {
            return;
        };
        let Some((at, code)) = c.exits_at else {
            return;
        };
        if c.status != Status::Running || at > now {
            return;
        }
        c.end_run(at, code);
        let auto_remove = c.host_config["AutoRemove"].as_bool() == Some(true);
        let name = c.name.clone();
        if auto_remove {
            self.containers.remove(id);
            self.names.remove(&name);
        }
        self.changed();
    }

    /// Applies what happened by `now` to every container.
    pub fn settle(&mut self, now: SystemTime) {
        let due: Vec<String> = self
            .containers
            .values()
            .filter(|c| c.running() && c.exits_at.is_some_and(|(at, _)| at <= now))
            .map(|c| c.id.clone())
            .collect();
        for id in due {
            self.settle_one(&id, now);
        }
    }

    /// The id of `name`, settled to `now`.
    fn settled(&mut self, name: &str, now: SystemTime) -> Result<String, ApiError> {
        let id = self.lookup(name)?;
        self.settle_one(&id, now);
        self.lookup(name)
    }

    /// `POST /containers/create?name=…`.
    pub fn create(
        &mut self,
        name: Option<&str>,
        body: &[u8],
        now: SystemTime,
    ) -> Result<Value, ApiError> {
        let body: Value = if body.iter().all(u8::is_ascii_whitespace) {
            Value::Null
        } else {
            serde_json::from_slice(body).map_err(|e| ApiError::new(400, json_error(&e)))?
        };
        let Some(request) = body.as_object().filter(|o| !o.is_empty()) else {
            return Err(ApiError::new(
                400,
                "Config cannot be empty in order to create a container",
            ));
        };
        let name = match name.filter(|n| !n.is_empty()) {
            Some(name) => {
                let bare = name.strip_prefix('/').unwrap_or(name);
                if !valid_name(bare) {
                    return Err(ApiError::new(
                        400,
                        format!("Invalid container name ({name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"),
                    ));
                }
                if let Some(other) = self.names.get(bare) {
                    return Err(ApiError::new(
                        409,
                        format!(
                            "Conflict. The container name \"/{bare}\" is already in use by container \"{other}\". You have to remove (or rename) that container to be able to reuse that name."
                        ),
                    ));
                }
                bare.to_owned()
            }
            None => format!("sim_container_{}", self.ids.next_u64() % 1_000_000),
        };
        let image_name = request.get("Image").and_then(Value::as_str).unwrap_or("");
        let image = self
            .find_image(image_name)
            .ok_or_else(|| {
                ApiError::new(
                    404,
                    format!("No such image: {}", image_message_name(image_name)),
                )
            })?
            .clone();

        let empty_host = Value::Object(Map::new());
        let host_request = request.get("HostConfig").unwrap_or(&empty_host);
        // Links name existing containers; the engine records them as
        // `/target:/name/alias`.
        let mut links = Vec::new();
        for link in strings(&host_request["Links"]) {
            let (target, alias) = link.split_once(':').unwrap_or((&link, &link));
            let target_id = self.lookup(target).map_err(|e| {
                ApiError::new(
                    400,
                    format!("could not get container for {target}: {}", e.message),
                )
            })?;
            let target_name = self
                .containers
                .get(&target_id)
                .map_or(target, |c| c.name.as_str());
            links.push(format!("/{target_name}:/{name}/{alias}"));
        }

        let id = self.ids.hex64();
        let config = merge_config(request, &image.config, image_name, &id);
        let mut host_config = default_host_config();
        if let (Some(into), Some(from)) = (host_config.as_object_mut(), host_request.as_object()) {
            for (key, value) in from {
                into.insert(key.clone(), value.clone());
            }
            if into
                .get("NetworkMode")
                .and_then(Value::as_str)
                .is_none_or(str::is_empty)
            {
                into.insert("NetworkMode".into(), "bridge".into());
            }
            if into["RestartPolicy"]["Name"]
                .as_str()
                .is_none_or(str::is_empty)
            {
                into.insert(
                    "RestartPolicy".into(),
                    json!({"Name": "no", "MaximumRetryCount": 0}),
                );
            }
            into.insert(
                "Links".into(),
                if links.is_empty() {
                    Value::Null
                } else {
                    json!(links)
                },
            );
        }
        let mode = host_config["NetworkMode"]
            .as_str()
            .unwrap_or("bridge")
            .to_owned();
        let endpoints = self.endpoints_at_create(&mode, request.get("NetworkingConfig"))?;
        let volumes = objects::named_volumes(&host_config);
        for volume in volumes.iter().filter(|v| !self.volumes.contains_key(*v)) {
            objects::check_volume_name(volume)?;
        }
        for volume in &volumes {
            self.ensure_volume(volume, now)?;
        }
        let mounts = mounts(&config, &host_config, &mut self.ids);
        let container = Container {
            id: id.clone(),
            name: name.clone(),
            created: now,
            image_id: image.id.clone(),
            behaviour: process::behaviour(&[]),
            config,
            host_config,
            status: Status::Created,
            started_at: None,
            finished_at: None,
            exit_code: 0,
            error: String::new(),
            pid: 0,
            run: 0,
            exits_at: None,
            logs: Vec::new(),
            published: Vec::new(),
            ip: String::new(),
            mounts,
            endpoints,
            exec_ids: Vec::new(),
        };
        self.containers.insert(id.clone(), container);
        self.names.insert(name, id.clone());
        self.changed();
        Ok(json!({"Id": id, "Warnings": []}))
    }

    /// `POST /containers/{name}/start`: `Ok(true)` started (204), `Ok(false)`
    /// already running (304).
    pub fn start(&mut self, name: &str, now: SystemTime) -> Result<bool, ApiError> {
        let id = self.settled(name, now)?;
        let Some(c) = self.containers.get(&id) else {
            return Err(ApiError::no_such_container(name));
        };
        if c.running() {
            return Ok(false);
        }
        // Linked containers must run.
        for link in strings(&c.host_config["Links"]) {
            let (target, alias) = link.split_once(':').unwrap_or((&link, ""));
            let running = self
                .lookup(target)
                .ok()
                .and_then(|t| self.containers.get(&t))
                .is_some_and(Container::running);
            if !running {
                return Err(ApiError::new(
                    500,
                    format!("Cannot link to a non running container: {target} AS {alias}"),
                ));
            }
        }
        // Published ports: only those the container exposes, each host port
        // once per engine.
        let exposed: Vec<String> = c.config["ExposedPorts"]
            .as_object()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default();
        let mut wanted = Vec::new();
        if let Some(bindings) = c.host_config["PortBindings"].as_object() {
            for (port, list) in bindings {
                if !exposed.contains(port) {
                    continue;
                }
                for binding in list.as_array().into_iter().flatten() {
                    let host_ip = binding["HostIp"].as_str().unwrap_or("").to_owned();
                    let host_port = binding["HostPort"].as_str().unwrap_or("");
                    let host_port = match host_port.split('-').next().unwrap_or("").parse::<u16>() {
                        Ok(p) if p > 0 => p,
                        _ => 0,
                    };
                    wanted.push(Published {
                        host_ip,
                        host_port,
                        container_port: port.clone(),
                    });
                }
            }
        }
        let proto = |p: &Published| {
            p.container_port
                .rsplit('/')
                .next()
                .unwrap_or("tcp")
                .to_owned()
        };
        let taken: Vec<(String, u16, String)> = self
            .containers
            .values()
            .filter(|other| other.running() && other.id != id)
            .flat_map(|other| {
                other
                    .published
                    .iter()
                    .map(|p| (p.host_ip.clone(), p.host_port, proto(p)))
            })
            .collect();
        for p in &wanted {
            if p.host_port == 0 {
                continue;
            }
            let clash = taken.iter().any(|(ip, port, pr)| {
                *port == p.host_port
                    && *pr == proto(p)
                    && (ip.is_empty() || p.host_ip.is_empty() || *ip == p.host_ip)
            });
            if clash {
                let ip = if p.host_ip.is_empty() {
                    "0.0.0.0"
                } else {
                    &p.host_ip
                };
                let message = format!(
                    "driver failed programming external connectivity on endpoint {} ({}): Bind for {ip}:{} failed: port is already allocated",
                    c.name,
                    self.ids.peek_hex64(),
                    p.host_port
                );
                if let Some(c) = self.containers.get_mut(&id) {
                    c.exit_code = 128;
                    c.error = message.clone();
                }
                self.changed();
                return Err(ApiError::new(500, message));
            }
        }
        // Its networks must (still) exist; each user network gives it an address.
        if let Err(error) = self.assign_addresses(&id) {
            if let Some(c) = self.containers.get_mut(&id) {
                c.exit_code = 128;
                c.error = error.message.clone();
            }
            self.changed();
            return Err(error);
        }
        for p in &mut wanted {
            if p.host_port == 0 {
                p.host_port = self.next_ephemeral;
                self.next_ephemeral = if self.next_ephemeral >= 60999 {
                    32768
                } else {
                    self.next_ephemeral + 1
                };
            }
        }
        let pid = self.next_pid;
        self.next_pid = self.next_pid.wrapping_add(7).max(1000);
        let ip = format!("172.17.{}.{}", self.next_ip / 254, self.next_ip % 254 + 1);
        self.next_ip = (self.next_ip + 1) % (254 * 254);
        let Some(c) = self.containers.get_mut(&id) else {
            return Err(ApiError::no_such_container(name));
        };
        let behaviour = process::behaviour(&c.argv());
        c.status = Status::Running;
        c.started_at = Some(now);
        c.finished_at = c.finished_at.or(None);
        c.exit_code = 0;
        c.error.clear();
        c.pid = pid;
        c.run += 1;
        c.exits_at = behaviour.exits.map(|(after, code)| (now + after, code));
        c.logs.extend(behaviour.output.iter().map(|line| LogEntry {
            at: now + line.after,
            stderr: line.stderr,
            text: line.text.clone(),
        }));
        c.behaviour = behaviour;
        c.published = wanted;
        c.ip = ip;
        self.changed();
        // A process that ends at once has ended by the time anyone looks.
        self.settle_one(&id, now);
        Ok(true)
    }

    /// `POST /containers/{name}/stop?t=…` (`grace`: `t`, else the
    /// container's `StopTimeout`, else 10 s).
    pub fn stop(
        &mut self,
        name: &str,
        grace: Option<i64>,
        now: SystemTime,
    ) -> Result<StopOutcome, ApiError> {
        let id = self.settled(name, now)?;
        let Some(c) = self.containers.get_mut(&id) else {
            return Err(ApiError::no_such_container(name));
        };
        if !c.running() {
            return Ok(StopOutcome::NotRunning);
        }
        match c.behaviour.on_term {
            OnTerm::Exit(code) => {
                c.end_run(now, code);
                self.after_exit(&id);
                Ok(StopOutcome::Stopped)
            }
            OnTerm::Ignore => {
                let grace = grace
                    .or_else(|| c.config["StopTimeout"].as_i64())
                    .unwrap_or(10);
                // A negative grace waits for the process, however long.
                let grace = u64::try_from(grace).unwrap_or(u64::from(u32::MAX));
                Ok(StopOutcome::Pending {
                    id: id.clone(),
                    run: c.run,
                    deadline: now + Duration::from_secs(grace),
                })
            }
        }
    }

    /// The rest of a stop whose process ignored SIGTERM: once `deadline`
    /// has passed, the run `run` (if still going) is killed. `Ok(true)` when
    /// the stop is over, `Ok(false)` when the deadline is still ahead.
    pub fn finish_stop(
        &mut self,
        id: &str,
        run: u64,
        deadline: SystemTime,
        now: SystemTime,
    ) -> Result<bool, ApiError> {
        let Ok(full) = self.settled(id, now) else {
            return Ok(true);
        };
        let Some(c) = self.containers.get_mut(&full) else {
            return Ok(true);
        };
        if !c.running() || c.run != run {
            return Ok(true);
        }
        if now < deadline {
            return Ok(false);
        }
        c.end_run(now, 137);
        self.after_exit(&full);
        Ok(true)
    }

    /// When the current run of container `id` ends on its own.
    pub fn exits_at(&self, id: &str) -> Option<SystemTime> {
        self.containers.get(id)?.exits_at.map(|(at, _)| at)
    }

    /// After a run ended by a signal: `AutoRemove`, and a change.
    fn after_exit(&mut self, id: &str) {
        if let Some(c) = self.containers.get(id) {
            if c.host_config["AutoRemove"].as_bool() == Some(true) {
                let name = c.name.clone();
                self.containers.remove(id);
                self.names.remove(&name);
            }
        }
        self.changed();
    }

    /// `POST /containers/{name}/kill?signal=…`.
    pub fn kill(&mut self, name: &str, signal: &str, now: SystemTime) -> Result<(), ApiError> {
        let id = self.settled(name, now)?;
        let signal = signal.trim();
        let number = signal_number(signal)
            .ok_or_else(|| ApiError::new(400, format!("Invalid signal: {signal}")))?;
        let Some(c) = self.containers.get_mut(&id) else {
            return Err(ApiError::no_such_container(name));
        };
        if !c.running() {
            return Err(ApiError::new(
                409,
                format!(
                    "Cannot kill container: {name}: Container {} is not running",
                    c.id
                ),
            ));
        }
        match (number, c.behaviour.on_term) {
            (9, _) => c.end_run(now, 137),
            (15, OnTerm::Exit(code)) => c.end_run(now, code),
            _ => return Ok(()),
        }
        self.after_exit(&id);
        Ok(())
    }

    /// `DELETE /containers/{name}?v=…&force=…`.
    pub fn remove(&mut self, name: &str, force: bool, now: SystemTime) -> Result<(), ApiError> {
        let id = self.settled(name, now)?;
        let Some(c) = self.containers.get_mut(&id) else {
            return Err(ApiError::no_such_container(name));
        };
        if c.running() {
            if !force {
                return Err(ApiError::new(
                    409,
                    format!(
                        "You cannot remove a running container {id}. Stop the container before attempting removal or force remove"
                    ),
                ));
            }
            c.end_run(now, 137);
        }
        let name = c.name.clone();
        let execs = std::mem::take(&mut c.exec_ids);
        self.containers.remove(&id);
        self.names.remove(&name);
        for exec in execs {
            self.execs.remove(&exec);
        }
        self.changed();
        Ok(())
    }

    /// `POST /containers/{name}/rename?name=TO`: the container's new name
    /// (409 when another container has it, 400 when it is not a name).
    pub fn rename(&mut self, name: &str, to: &str, now: SystemTime) -> Result<(), ApiError> {
        let id = self.settled(name, now)?;
        let bare = to.strip_prefix('/').unwrap_or(to);
        if !valid_name(bare) {
            return Err(ApiError::new(
                400,
                format!(
                    "Invalid container name ({to}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
                ),
            ));
        }
        if let Some(other) = self.names.get(bare) {
            return Err(ApiError::new(
                409,
                format!(
                    "Conflict. The container name \"/{bare}\" is already in use by container \"{other}\". You have to remove (or rename) that container to be able to reuse that name."
                ),
            ));
        }
        let Some(c) = self.containers.get_mut(&id) else {
            return Err(ApiError::no_such_container(name));
        };
        let old = std::mem::replace(&mut c.name, bare.to_owned());
        self.names.remove(old.trim_start_matches('/'));
        self.names.insert(bare.to_owned(), id);
        self.changed();
        Ok(())
    }

    /// `POST /containers/{name}/wait?condition=…`: `Ok(Some(reply))` when
    /// the condition holds now, `Ok(None)` to look again after the next
    /// change (or when [`Engine::next_deadline`] passes). `began`: the
    /// container's [`Engine::run_state`] when the wait began.
    pub fn wait(
        &mut self,
        name: &str,
        condition: &str,
        began: (u64, bool),
        now: SystemTime,
    ) -> Result<Option<Value>, ApiError> {
        if !matches!(condition, "" | "not-running" | "next-exit" | "removed") {
            return Err(ApiError::new(
                400,
                format!("invalid condition: \"{condition}\""),
            ));
        }
        let id = match self.settled(name, now) {
            Ok(id) => id,
            Err(e) if e.status == 404 && condition == "removed" => {
                return Ok(Some(json!({"Error": null, "StatusCode": 0})));
            }
            Err(e) => return Err(e),
        };
        let Some(c) = self.containers.get(&id) else {
            return Err(ApiError::no_such_container(name));
        };
        let (run0, running0) = began;
        let done = match condition {
            "next-exit" => !c.running() && (c.run > run0 || (running0 && c.run == run0)),
            "removed" => false,
            _ => !c.running(),
        };
        Ok(done.then(|| json!({"Error": null, "StatusCode": c.exit_code})))
    }

    /// The run counter of `name` (0 before its first start) and whether it runs.
    pub fn run_state(&mut self, name: &str, now: SystemTime) -> Result<(u64, bool), ApiError> {
        let id = self.settled(name, now)?;
        Ok(self
            .containers
            .get(&id)
            .map_or((0, false), |c| (c.run, c.running())))
    }

    /// The earliest time something is due to happen on its own (a process
    /// ending, a line of output appearing, an exec ending).
    pub fn next_deadline(&self) -> Option<SystemTime> {
        let exits = self
            .containers
            .values()
            .filter_map(|c| c.exits_at.map(|(at, _)| at));
        let execs = self
            .execs
            .values()
            .filter_map(|e| e.ends_at.map(|(at, _)| at));
        exits.chain(execs).min()
    }

    /// `GET /containers/{name}/logs`: the lines visible at `now` from
    /// `position` on (a follow passes the position it got last time).
    pub fn logs(
        &mut self,
        name: &str,
        options: &LogOptions,
        position: Option<usize>,
        now: SystemTime,
    ) -> Result<LogChunk, ApiError> {
        if !options.stdout && !options.stderr {
            return Err(ApiError::new(
                400,
                "Bad parameters: you must choose at least one stream",
            ));
        }
        let id = self.settled(name, now)?;
        let Some(c) = self.containers.get(&id) else {
            return Err(ApiError::no_such_container(name));
        };
        let tty = c.config["Tty"].as_bool() == Some(true);
        let visible: Vec<(usize, &LogEntry)> = c
            .logs
            .iter()
            .enumerate()
            .filter(|(_, l)| {
                l.at <= now
                    && if l.stderr {
                        options.stderr
                    } else {
                        options.stdout
                    }
            })
            .collect();
        let selected: Vec<&(usize, &LogEntry)> = match position {
            Some(from) => visible.iter().filter(|(i, _)| *i >= from).collect(),
            None => {
                let skip = options.tail.map_or(0, |n| visible.len().saturating_sub(n));
                visible.iter().skip(skip).collect()
            }
        };
        let mut bytes = Vec::new();
        for (_, line) in &selected {
            let mut text = String::new();
            if options.timestamps {
                text.push_str(&rfc3339_nanos(line.at));
                text.push(' ');
            }
            text.push_str(&line.text);
            text.push('\n');
            if tty {
                bytes.extend_from_slice(text.as_bytes());
            } else {
                bytes.push(if line.stderr { 2 } else { 1 });
                bytes.extend_from_slice(&[0, 0, 0]);
                bytes.extend_from_slice(
                    &u32::try_from(text.len()).unwrap_or(u32::MAX).to_be_bytes(),
                );
                bytes.extend_from_slice(text.as_bytes());
            }
        }
        let position = c.logs.iter().take_while(|l| l.at <= now).count();
        let next_line_at = c.logs.iter().map(|l| l.at).filter(|at| *at > now).min();
        Ok(LogChunk {
            bytes,
            position,
            running: c.running(),
            next_line_at,
        })
    }

    /// `GET /containers/{name}/json`.
    pub fn inspect(&mut self, name: &str, now: SystemTime) -> Result<Value, ApiError> {
        let id = self.settled(name, now)?;
        let c = self
            .containers
            .get(&id)
            .ok_or_else(|| ApiError::no_such_container(name))?;
        let argv = c.argv();
        let (path, args) = match argv.split_first() {
            Some((path, args)) => (path.clone(), args.to_vec()),
            None => (String::new(), Vec::new()),
        };
        let dir = format!("/var/lib/docker/containers/{id}");
        Ok(json!({
            "Id": c.id,
            "Created": rfc3339_nanos(c.created),
            "Path": path,
            "Args": args,
            "State": {
                "Status": c.status.as_str(),
                "Running": c.running(),
                "Paused": false,
                "Restarting": false,
                "OOMKilled": false,
                "Dead": false,
                "Pid": c.pid,
                "ExitCode": c.exit_code,
                "Error": c.error,
                "StartedAt": rfc3339_or_zero(c.started_at),
                "FinishedAt": rfc3339_or_zero(c.finished_at),
            },
            "Image": c.image_id,
            "ResolvConfPath": format!("{dir}/resolv.conf"),
            "HostnamePath": format!("{dir}/hostname"),
            "HostsPath": format!("{dir}/hosts"),
            "LogPath": format!("{dir}/{id}-json.log"),
            "Name": format!("/{}", c.name),
            "RestartCount": 0,
            "Driver": "overlay2",
            "Platform": "linux",
            "MountLabel": "",
            "ProcessLabel": "",
            "AppArmorProfile": "",
            "ExecIDs": if c.exec_ids.is_empty() { Value::Null } else { json!(c.exec_ids) },
            "HostConfig": c.host_config,
            "GraphDriver": {"Data": null, "Name": "overlay2"},
            "Mounts": c.mounts,
            "Config": c.config,
            "NetworkSettings": network_settings(self, c),
        }))
    }

    /// `GET /containers/json?all=…&filters=…`: newest first.
    pub fn list(&mut self, all: bool, filters: &Filters, now: SystemTime) -> Value {
        self.settle(now);
        let mut list: Vec<&Container> = self
            .containers
            .values()
            .filter(|c| all || c.running())
            .filter(|c| filters.matches(c))
            .collect();
        list.sort_by(|a, b| b.created.cmp(&a.created).then(b.id.cmp(&a.id)));
        Value::Array(
            list.into_iter()
                .map(|c| {
                    let status = match c.status {
                        Status::Created => "Created".to_owned(),
                        Status::Running => format!(
                            "Up {}",
                            human_duration(
                                c.started_at
                                    .and_then(|s| now.duration_since(s).ok())
                                    .unwrap_or_default()
                            )
                        ),
                        Status::Exited => format!(
                            "Exited ({}) {} ago",
                            c.exit_code,
                            human_duration(
                                c.finished_at
                                    .and_then(|s| now.duration_since(s).ok())
                                    .unwrap_or_default()
                            )
                        ),
                    };
                    let ports: Vec<Value> = c
                        .published
                        .iter()
                        .map(|p| {
                            let (private, kind) = p
                                .container_port
                                .split_once('/')
                                .unwrap_or((&p.container_port, "tcp"));
                            json!({
                                "IP": if p.host_ip.is_empty() { "0.0.0.0" } else { &p.host_ip },
                                "PrivatePort": private.parse::<u16>().unwrap_or(0),
                                "PublicPort": p.host_port,
                                "Type": kind,
                            })
                        })
                        .collect();
                    json!({
                        "Id": c.id,
                        "Names": [format!("/{}", c.name)],
                        "Image": c.config["Image"],
                        "ImageID": c.image_id,
                        "Command": shell_join(&c.argv()),
                        "Created": unix_seconds(c.created),
                        "Ports": ports,
                        "Labels": c.config["Labels"].as_object().cloned().unwrap_or_default(),
                        "State": c.status.as_str(),
                        "Status": status,
                        "HostConfig": {"NetworkMode": c.host_config["NetworkMode"]},
                        "NetworkSettings": {"Networks": network_settings(self, c)["Networks"]},
                        "Mounts": c.mounts,
                    })
                })
                .collect(),
        )
    }

    /// Name, state and exit code of every container (for the control API).
    pub fn summary(&mut self, now: SystemTime) -> Vec<(String, Status, i64)> {
        self.settle(now);
        let mut out: Vec<(String, Status, i64)> = self
            .containers
            .values()
            .map(|c| (c.name.clone(), c.status, c.exit_code))
            .collect();
        out.sort();
        out
    }

    /// How many containers, how many running, how many images.
    pub fn counts(&mut self, now: SystemTime) -> (usize, usize, usize) {
        self.settle(now);
        let running = self.containers.values().filter(|c| c.running()).count();
        (self.containers.len(), running, self.images.len())
    }

    // ------------------------------------------------------------- execs

    /// `POST /containers/{name}/exec`.
    pub fn exec_create(
        &mut self,
        name: &str,
        body: &[u8],
        now: SystemTime,
    ) -> Result<Value, ApiError> {
        let id = self.settled(name, now)?;
        let request: Value =
            serde_json::from_slice(body).map_err(|e| ApiError::new(400, json_error(&e)))?;
        let argv = strings(&request["Cmd"]);
        if argv.is_empty() {
            return Err(ApiError::new(400, "No exec command specified"));
        }
        let Some(c) = self.containers.get_mut(&id) else {
            return Err(ApiError::no_such_container(name));
        };
        if !c.running() {
            return Err(ApiError::new(409, format!("Container {id} is not running")));
        }
        let exec_id = self.ids.hex64();
        c.exec_ids.push(exec_id.clone());
        self.execs.insert(
            exec_id.clone(),
            Exec {
                id: exec_id.clone(),
                container_id: id,
                argv,
                user: request["User"].as_str().unwrap_or("").to_owned(),
                tty: request["Tty"].as_bool().unwrap_or(false),
                privileged: request["Privileged"].as_bool().unwrap_or(false),
                attach: (
                    request["AttachStdin"].as_bool().unwrap_or(false),
                    request["AttachStdout"].as_bool().unwrap_or(false),
                    request["AttachStderr"].as_bool().unwrap_or(false),
                ),
                started: false,
                ends_at: None,
                pid: 0,
            },
        );
        self.changed();
        Ok(json!({"Id": exec_id}))
    }

    /// `POST /exec/{id}/start`: the exec's output (framed), which a detached
    /// start does not send.
    pub fn exec_start(&mut self, exec_id: &str, now: SystemTime) -> Result<Vec<u8>, ApiError> {
        let pid = self.next_pid;
        self.next_pid = self.next_pid.wrapping_add(3).max(1000);
        let exec = self
            .execs
            .get_mut(exec_id)
            .ok_or_else(|| ApiError::new(404, format!("No such exec instance: {exec_id}")))?;
        if exec.started {
            return Err(ApiError::new(
                409,
                format!("Error: Exec command {exec_id} has already run"),
            ));
        }
        let container_id = exec.container_id.clone();
        let running = self
            .containers
            .get(&container_id)
            .is_some_and(Container::running);
        let Some(exec) = self.execs.get_mut(exec_id) else {
            return Err(ApiError::new(
                404,
                format!("No such exec instance: {exec_id}"),
            ));
        };
        if !running {
            return Err(ApiError::new(
                409,
                format!("Container {container_id} is not running"),
            ));
        }
        let (after, code) = process::exec_outcome(&exec.argv);
        let output = process::behaviour(&exec.argv).output;
        exec.started = true;
        exec.pid = pid;
        exec.ends_at = Some((now + after, code));
        let mut bytes = Vec::new();
        for line in output {
            let text = format!("{}\n", line.text);
            bytes.push(if line.stderr { 2 } else { 1 });
            bytes.extend_from_slice(&[0, 0, 0]);
            bytes.extend_from_slice(&u32::try_from(text.len()).unwrap_or(u32::MAX).to_be_bytes());
            bytes.extend_from_slice(text.as_bytes());
        }
        self.changed();
        Ok(bytes)
    }

    /// `GET /exec/{id}/json`.
    pub fn exec_inspect(&self, exec_id: &str, now: SystemTime) -> Result<Value, ApiError> {
        let exec = self
            .execs
            .get(exec_id)
            .ok_or_else(|| ApiError::new(404, format!("No such exec instance: {exec_id}")))?;
        let (running, exit_code) = match exec.ends_at {
            Some((at, code)) if at <= now => (false, json!(code)),
            Some(_) => (true, Value::Null),
            None => (false, Value::Null),
        };
        let (entrypoint, arguments) = match exec.argv.split_first() {
            Some((first, rest)) => (first.clone(), rest.to_vec()),
            None => (String::new(), Vec::new()),
        };
        Ok(json!({
            "ID": exec.id,
            "Running": running,
            "ExitCode": exit_code,
            "ProcessConfig": {
                "tty": exec.tty,
                "entrypoint": entrypoint,
                "arguments": arguments,
                "privileged": exec.privileged,
                "user": exec.user,
            },
            "OpenStdin": exec.attach.0,
            "OpenStderr": exec.attach.2,
            "OpenStdout": exec.attach.1,
            "CanRemove": false,
            "ContainerID": exec.container_id,
            "DetachKeys": "",
            "Pid": if exec.started { exec.pid } else { 0 },
        }))
    }
}

/// Filters of a container list (`label`, `name`, `id`, `status`,
/// `network`, `volume`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filters {
    pub labels: Vec<String>,
    pub names: Vec<String>,
    pub ids: Vec<String>,
    pub statuses: Vec<String>,
    /// Network names or id prefixes.
    pub networks: Vec<String>,
    /// Volume names, bind sources or mount destinations.
    pub volumes: Vec<String>,
}

impl Filters {
    /// From the `filters` query parameter: `{"label": ["a=b"]}` or the old
    /// `{"label": {"a=b": true}}`.
    pub fn parse(text: &str) -> Result<Filters, ApiError> {
        let map = filter_map(
            text,
            &["label", "name", "id", "status", "network", "volume"],
        )?;
        let mut filters = Filters::default();
        for (key, list) in map {
            match key.as_str() {
                "label" => filters.labels = list,
                "name" => filters.names = list,
                "id" => filters.ids = list,
                "status" => filters.statuses = list,
                "network" => filters.networks = list,
                _ => filters.volumes = list,
            }
        }
        Ok(filters)
    }

    fn matches(&self, c: &Container) -> bool {
        let labels = &c.config["Labels"];
        let labels_ok = self
            .labels
            .iter()
            .all(|filter| match filter.split_once('=') {
                Some((key, value)) => labels[key].as_str() == Some(value),
                None => labels.get(filter.as_str()).is_some(),
            });
        // Docker matches names as regular expressions; the simulator knows
        // two forms: `^/NAME$` or `^/?NAME$` (anchored, `.` escaped: one
        // name) and a plain substring.
        let names_ok = self.names.is_empty()
            || self.names.iter().any(|n| {
                match n
                    .strip_prefix("^/?")
                    .or_else(|| n.strip_prefix("^/"))
                    .and_then(|n| n.strip_suffix('$'))
                {
                    Some(exact) => c.name.trim_start_matches('/') == exact.replace("\\.", "."),
                    None => c.name.contains(n.trim_start_matches('/')),
                }
            });
        let ids_ok = self.ids.is_empty() || self.ids.iter().any(|i| c.id.starts_with(i.as_str()));
        let status_ok =
            self.statuses.is_empty() || self.statuses.iter().any(|s| s == c.status.as_str());
        let network_ok =
            self.networks.is_empty() || self.networks.iter().any(|n| objects::on_network(c, n));
        let volume_ok =
            self.volumes.is_empty() || self.volumes.iter().any(|v| objects::mounts_volume(c, v));
        labels_ok && names_ok && ids_ok && status_ok && network_ok && volume_ok
    }
}

/// Strings of a JSON array (or a lone string); anything else is empty.
fn strings(value: &Value) -> Vec<String> {
    match value {
        Value::Array(list) => list
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect(),
        Value::String(one) => vec![one.clone()],
        _ => Vec::new(),
    }
}

/// The container's `Config`: the request's, with the image's defaults for
/// what it leaves out (as the engine merges them).
fn merge_config(request: &Map<String, Value>, image: &Value, image_name: &str, id: &str) -> Value {
    let get = |key: &str| request.get(key).cloned().unwrap_or(Value::Null);
    let non_empty = |v: &Value| match v {
        Value::Null => false,
        Value::Array(a) => !a.is_empty(),
        Value::String(s) => !s.is_empty(),
        Value::Object(o) => !o.is_empty(),
        _ => true,
    };
    // Env: the request's, then the image's variables it does not set.
    let mut env = strings(&request.get("Env").cloned().unwrap_or(Value::Null));
    for entry in strings(&image["Env"]) {
        let key = entry.split('=').next().unwrap_or("");
        if !env.iter().any(|e| e.split('=').next() == Some(key)) {
            env.push(entry);
        }
    }
    let mut entrypoint = get("Entrypoint");
    let mut cmd = get("Cmd");
    if !non_empty(&entrypoint) {
        if !non_empty(&cmd) {
            cmd = image["Cmd"].clone();
        }
        if entrypoint.is_null() {
            entrypoint = image["Entrypoint"].clone();
        }
    }
    let mut labels = image["Labels"].as_object().cloned().unwrap_or_default();
    if let Some(own) = request.get("Labels").and_then(Value::as_object) {
        for (k, v) in own {
            labels.insert(k.clone(), v.clone());
        }
    }
    let mut exposed = image["ExposedPorts"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    if let Some(own) = request.get("ExposedPorts").and_then(Value::as_object) {
        for (k, v) in own {
            exposed.insert(k.clone(), v.clone());
        }
    }
    let mut volumes = image["Volumes"].as_object().cloned().unwrap_or_default();
    if let Some(own) = request.get("Volumes").and_then(Value::as_object) {
        for (k, v) in own {
            volumes.insert(k.clone(), v.clone());
        }
    }
    let or_image = |key: &str| {
        let own = get(key);
        if non_empty(&own) {
            own
        } else {
            image.get(key).cloned().unwrap_or_else(|| json!(""))
        }
    };
    let hostname = request
        .get("Hostname")
        .and_then(Value::as_str)
        .filter(|h| !h.is_empty())
        .map_or_else(|| id[..12].to_owned(), str::to_owned);
    let flag = |key: &str| request.get(key).and_then(Value::as_bool).unwrap_or(false);
    let mut config = json!({
        "Hostname": hostname,
        "Domainname": request.get("Domainname").and_then(Value::as_str).unwrap_or(""),
        "User": or_image("User"),
        "AttachStdin": flag("AttachStdin"),
        "AttachStdout": flag("AttachStdout"),
        "AttachStderr": flag("AttachStderr"),
        "Tty": flag("Tty"),
        "OpenStdin": flag("OpenStdin"),
        "StdinOnce": flag("StdinOnce"),
        "Env": env,
        "Cmd": cmd,
        "Image": image_name,
        "Volumes": if volumes.is_empty() { Value::Null } else { Value::Object(volumes) },
        "WorkingDir": or_image("WorkingDir"),
        "Entrypoint": entrypoint,
        "OnBuild": null,
        "Labels": labels,
    });
    if let Some(map) = config.as_object_mut() {
        if !exposed.is_empty() {
            map.insert("ExposedPorts".into(), Value::Object(exposed));
        }
        for key in [
            "StopSignal",
            "StopTimeout",
            "Healthcheck",
            "MacAddress",
            "Shell",
        ] {
            if let Some(v) = request.get(key).filter(|v| !v.is_null()) {
                map.insert(key.into(), v.clone());
            }
        }
    }
    config
}

/// The host configuration a real engine reports when the request sets nothing.
fn default_host_config() -> Value {
    json!({
        "Binds": null,
        "ContainerIDFile": "",
        "LogConfig": {"Type": "json-file", "Config": {}},
        "NetworkMode": "bridge",
        "PortBindings": null,
        "RestartPolicy": {"Name": "no", "MaximumRetryCount": 0},
        "AutoRemove": false,
        "VolumeDriver": "",
        "VolumesFrom": null,
        "ConsoleSize": [0, 0],
        "CapAdd": null,
        "CapDrop": null,
        "CgroupnsMode": "private",
        "Dns": null,
        "DnsOptions": null,
        "DnsSearch": null,
        "ExtraHosts": null,
        "GroupAdd": null,
        "IpcMode": "private",
        "Cgroup": "",
        "Links": null,
        "OomScoreAdj": 0,
        "PidMode": "",
        "Privileged": false,
        "PublishAllPorts": false,
        "ReadonlyRootfs": false,
        "SecurityOpt": null,
        "UTSMode": "",
        "UsernsMode": "",
        "ShmSize": 67_108_864,
        "Runtime": "runc",
        "Isolation": "",
        "CpuShares": 0,
        "Memory": 0,
        "NanoCpus": 0,
        "CgroupParent": "",
        "BlkioWeight": 0,
        "BlkioWeightDevice": null,
        "BlkioDeviceReadBps": null,
        "BlkioDeviceWriteBps": null,
        "BlkioDeviceReadIOps": null,
        "BlkioDeviceWriteIOps": null,
        "CpuPeriod": 0,
        "CpuQuota": 0,
        "CpuRealtimePeriod": 0,
        "CpuRealtimeRuntime": 0,
        "CpusetCpus": "",
        "CpusetMems": "",
        "Devices": null,
        "DeviceCgroupRules": null,
        "DeviceRequests": null,
        "MemoryReservation": 0,
        "MemorySwap": 0,
        "MemorySwappiness": null,
        "OomKillDisable": false,
        "PidsLimit": null,
        "Ulimits": null,
        "CpuCount": 0,
        "CpuPercent": 0,
        "IOMaximumIOps": 0,
        "IOMaximumBandwidth": 0,
        "MaskedPaths": ["/proc/asound", "/proc/acpi", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
                        "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware"],
        "ReadonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
    })
}

/// `Mounts`: bind mounts and named volumes from `Binds` and `Mounts`,
/// anonymous volumes from `Volumes`.
fn mounts(config: &Value, host_config: &Value, ids: &mut IdSource) -> Vec<Value> {
    let mut out = Vec::new();
    let mut bound = Vec::new();
    for bind in strings(&host_config["Binds"]) {
        let parts: Vec<&str> = bind.split(':').collect();
        let (source, destination, mode) = match parts.as_slice() {
            [s, d] => (*s, *d, ""),
            [s, d, m, ..] => (*s, *d, *m),
            _ => continue,
        };
        bound.push(destination.to_owned());
        let (kind, name) = if source.starts_with('/') {
            ("bind", None)
        } else {
            ("volume", Some(source))
        };
        let mut mount = json!({
            "Type": kind,
            "Source": if kind == "bind" { source.to_owned() } else { format!("/var/lib/docker/volumes/{source}/_data") },
            "Destination": destination,
            "Mode": mode,
            "RW": !mode.split(',').any(|m| m == "ro"),
            "Propagation": if kind == "bind" { "rprivate" } else { "" },
        });
        if let (Some(name), Some(map)) = (name, mount.as_object_mut()) {
            map.insert("Name".into(), name.into());
            map.insert("Driver".into(), "local".into());
        }
        out.push(mount);
    }
    for mount in host_config["Mounts"].as_array().into_iter().flatten() {
        let kind = mount["Type"].as_str().unwrap_or("");
        let Some(destination) = mount["Target"].as_str().filter(|t| !t.is_empty()) else {
            continue;
        };
        let source = mount["Source"].as_str().unwrap_or("");
        let rw = mount["ReadOnly"].as_bool() != Some(true);
        bound.push(destination.to_owned());
        match kind {
            "bind" => out.push(json!({
                "Type": "bind",
                "Source": source,
                "Destination": destination,
                "Mode": "",
                "RW": rw,
                "Propagation": "rprivate",
            })),
            "volume" => {
                let name = if source.is_empty() {
                    ids.hex64()
                } else {
                    source.to_owned()
                };
                out.push(json!({
                    "Type": "volume",
                    "Name": name,
                    "Source": format!("/var/lib/docker/volumes/{name}/_data"),
                    "Destination": destination,
                    "Driver": "local",
                    "Mode": "z",
                    "RW": rw,
                    "Propagation": "",
                }));
            }
            _ => {}
        }
    }
    if let Some(volumes) = config["Volumes"].as_object() {
        for path in volumes.keys().filter(|p| !bound.contains(p)) {
            let name = ids.hex64();
            out.push(json!({
                "Type": "volume",
                "Name": name,
                "Source": format!("/var/lib/docker/volumes/{name}/_data"),
                "Destination": path,
                "Driver": "local",
                "Mode": "",
                "RW": true,
                "Propagation": "",
            }));
        }
    }
    out
}

/// A container's `NetworkSettings`: its published ports, the address of
/// the default bridge at the top, and an entry per network.
fn network_settings(engine: &Engine, c: &Container) -> Value {
    let running = c.running();
    let mut ports = Map::new();
    if running {
        if let Some(exposed) = c.config["ExposedPorts"].as_object() {
            for port in exposed.keys() {
                let bindings: Vec<Value> = c
                    .published
                    .iter()
                    .filter(|p| &p.container_port == port)
                    .flat_map(|p| {
                        if p.host_ip.is_empty() {
                            vec![
                                json!({"HostIp": "0.0.0.0", "HostPort": p.host_port.to_string()}),
                                json!({"HostIp": "::", "HostPort": p.host_port.to_string()}),
                            ]
                        } else {
                            vec![json!({"HostIp": p.host_ip, "HostPort": p.host_port.to_string()})]
                        }
                    })
                    .collect();
                ports.insert(
                    port.clone(),
                    if bindings.is_empty() {
                        Value::Null
                    } else {
                        json!(bindings)
                    },
                );
            }
        }
    }
    // The top-level address is the default bridge's: none for a
    // container whose network mode is a user network.
    let on_user_network = c
        .endpoints
        .first()
        .is_some_and(|e| engine.on_user_network(e).is_some());
    let (ip, gateway, prefix, mac) = if on_user_network {
        (String::new(), String::new(), 0, String::new())
    } else {
        objects::legacy_address(c)
    };
    let networks: Map<String, Value> = c
        .endpoints
        .iter()
        .map(|e| (e.network.clone(), engine.endpoint_document(c, e)))
        .collect();
    json!({
        "Bridge": "",
        "SandboxID": "",
        "SandboxKey": "",
        "Ports": ports,
        "HairpinMode": false,
        "LinkLocalIPv6Address": "",
        "LinkLocalIPv6PrefixLen": 0,
        "SecondaryIPAddresses": null,
        "SecondaryIPv6Addresses": null,
        "EndpointID": "",
        "Gateway": gateway,
        "GlobalIPv6Address": "",
        "GlobalIPv6PrefixLen": 0,
        "IPAddress": ip,
        "IPPrefixLen": prefix,
        "IPv6Gateway": "",
        "MacAddress": mac,
        "Networks": networks,
    })
}

/// `[a-zA-Z0-9][a-zA-Z0-9_.-]+`, as the engine accepts container names.
fn valid_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    let first_ok = bytes.next().is_some_and(|b| b.is_ascii_alphanumeric());
    first_ok
        && name.len() >= 2
        && bytes.all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
}

/// `busybox` → `busybox:latest`; `docker.io/library/x:1` → `x:1`; a digest
/// reference is kept as it is.
pub fn normalize_reference(reference: &str) -> String {
    let mut name = reference.trim();
    for prefix in ["docker.io/", "index.docker.io/", "registry-1.docker.io/"] {
        if let Some(rest) = name.strip_prefix(prefix) {
            name = rest;
        }
    }
    if let Some(rest) = name.strip_prefix("library/") {
        name = rest;
    }
    if name.contains('@') {
        return name.to_owned();
    }
    let last = name.rsplit('/').next().unwrap_or(name);
    if last.contains(':') {
        name.to_owned()
    } else {
        format!("{name}:latest")
    }
}

/// The name as a "No such image" message shows it: a name without tag
/// gets `:latest`, an id is shown as given.
fn image_message_name(name: &str) -> String {
    if name.starts_with("sha256:") || name.is_empty() {
        name.to_owned()
    } else {
        normalize_reference(name)
    }
}

/// Whether image tag `tag` (`repo:tag`) matches a reference filter.
fn reference_matches(pattern: &str, tag: &str) -> bool {
    let pattern_has_tag = pattern.rsplit('/').next().is_some_and(|l| l.contains(':'));
    let (repo, _) = tag.rsplit_once(':').unwrap_or((tag, ""));
    if pattern_has_tag {
        glob(&normalize_reference(pattern), tag)
    } else {
        glob(pattern, repo) || glob(&normalize_reference(pattern), repo)
    }
}

/// `*` matches any run of characters other than `/`.
fn glob(pattern: &str, text: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == text,
        Some((head, tail)) => {
            let Some(rest) = text.strip_prefix(head) else {
                return false;
            };
            (0..=rest.len())
                .filter(|&i| rest.is_char_boundary(i) && !rest[..i].contains('/'))
                .any(|i| glob(tail, &rest[i..]))
        }
    }
}

/// The number of a signal name (`SIGKILL`, `KILL`, `9`); `None` if unknown.
fn signal_number(signal: &str) -> Option<u32> {
    if signal.is_empty() {
        return Some(9);
    }
    if let Ok(n) = signal.parse::<u32>() {
        return (1..=64).contains(&n).then_some(n);
    }
    let name = signal.strip_prefix("SIG").unwrap_or(signal);
    let n = match name {
        "HUP" => 1,
        "INT" => 2,
        "QUIT" => 3,
        "ABRT" => 6,
        "KILL" => 9,
        "USR1" => 10,
        "USR2" => 12,
        "PIPE" => 13,
        "ALRM" => 14,
        "TERM" => 15,
        "CHLD" => 17,
        "CONT" => 18,
        "STOP" => 19,
        "WINCH" => 28,
        _ => return None,
    };
    Some(n)
}

/// A JSON decoding error as Go's decoder words the common cases.
fn json_error(error: &serde_json::Error) -> String {
    if error.is_eof() {
        "unexpected EOF".into()
    } else {
        format!("invalid JSON: {error}")
    }
}

/// A command line as `docker ps` shows it: words with spaces quoted.
fn shell_join(argv: &[String]) -> String {
    argv.iter()
        .map(|a| {
            if a.contains(' ') {
                format!("'{a}'")
            } else {
                a.clone()
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// 64 hex digits that depend only on `text` (image ids, digests).
fn stable_hex(text: &str) -> String {
    let mut out = String::with_capacity(64);
    for round in 0u64..4 {
        // FNV-1a, salted by the round, then mixed.
        let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ round.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        for b in text.bytes() {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
        out.push_str(&format!("{:016x}", splitmix(h)));
    }
    out
}

fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Random-looking ids: a per-engine seed and a counter, mixed.
struct IdSource {
    seed: u64,
    counter: u64,
}

impl IdSource {
    fn new(seed: u64) -> IdSource {
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u64(seed);
        IdSource {
            seed: hasher.finish() ^ seed,
            counter: 0,
        }
    }

    fn next_u64(&mut self) -> u64 {
        self.counter += 1;
        splitmix(self.seed ^ splitmix(self.counter))
    }

    fn hex64(&mut self) -> String {
        (0..4)
            .map(|_| format!("{:016x}", self.next_u64()))
            .collect()
    }

    /// An id without using it up (for messages that name a would-be endpoint).
    fn peek_hex64(&self) -> String {
        let mut copy = IdSource {
            seed: self.seed,
            counter: self.counter,
        };
        copy.hex64()
    }
}

/// Ids of every container (for tests).
#[cfg(test)]
impl Engine {
    fn names(&self) -> std::collections::BTreeMap<String, String> {
        self.names
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    pub(super) fn engine() -> Engine {
        Engine::new(
            Identity {
                engine_version: "27.3.1".into(),
                api_version: "1.47".into(),
                min_api_version: "1.24".into(),
                name: "sim-000".into(),
            },
            &["maestro-test/box:1".to_owned()],
            Pullable::Any,
            7,
        )
    }

    pub(super) fn t(ms: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_800_000_000) + Duration::from_millis(ms)
    }

    pub(super) fn create(e: &mut Engine, name: &str, body: Value) -> String {
        let reply = e
            .create(Some(name), body.to_string().as_bytes(), t(0))
            .unwrap();
        reply["Id"].as_str().unwrap().to_owned()
    }

    pub(super) const IDLE: &str = "trap 'exit 0' TERM; sleep 3600 & wait";

    #[test]
    fn a_container_goes_through_its_lifecycle() {
        let mut e = engine();
        let id = create(
            &mut e,
            "web-1",
            json!({"Image": "maestro-test/box:1", "Cmd": ["sh", "-c", IDLE], "Env": ["A=1"]}),
        );
        assert_eq!(id.len(), 64);
        let doc = e.inspect("web-1", t(1)).unwrap();
        assert_eq!(doc["State"]["Status"], "created");
        assert_eq!(doc["State"]["StartedAt"], "0001-01-01T00:00:00Z");
        assert_eq!(doc["Name"], "/web-1");
        assert_eq!(doc["Config"]["Hostname"], &id[..12]);
        assert_eq!(doc["Config"]["Image"], "maestro-test/box:1");
        assert_eq!(
            doc["Config"]["Env"],
            json!([
                "A=1",
                "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
            ])
        );
        assert_eq!(
            doc["Image"],
            e.inspect_image("maestro-test/box:1").unwrap()["Id"]
        );
        assert_eq!(doc["HostConfig"]["RestartPolicy"]["Name"], "no");

        assert_eq!(e.start("web-1", t(10)), Ok(true));
        assert_eq!(e.start(&id[..8], t(11)), Ok(false), "already running: 304");
        let doc = e.inspect(&id, t(12)).unwrap();
        assert_eq!(doc["State"]["Running"], true);
        assert_eq!(doc["State"]["StartedAt"], rfc3339_nanos(t(10)));
        assert!(doc["State"]["Pid"].as_u64().unwrap() > 0);

        assert_eq!(e.stop("web-1", Some(10), t(20)), Ok(StopOutcome::Stopped));
        let doc = e.inspect("web-1", t(21)).unwrap();
        assert_eq!(doc["State"]["Status"], "exited");
        assert_eq!(doc["State"]["ExitCode"], 0);
        assert_eq!(doc["State"]["FinishedAt"], rfc3339_nanos(t(20)));
        assert_eq!(e.stop("web-1", None, t(22)), Ok(StopOutcome::NotRunning));
        assert_eq!(e.kill("web-1", "SIGKILL", t(22)).unwrap_err().status, 409);

        assert_eq!(e.remove("web-1", false, t(30)), Ok(()));
        assert_eq!(
            e.inspect("web-1", t(31)).unwrap_err(),
            ApiError::new(404, "No such container: web-1")
        );
        assert_eq!(e.remove("web-1", false, t(31)).unwrap_err().status, 404);
        assert!(e.names().is_empty());
    }

    #[test]
    fn a_process_that_fails_at_once_is_exited_with_its_logs() {
        let mut e = engine();
        create(
            &mut e,
            "app-1",
            json!({"Image": "maestro-test/box:1", "Cmd": ["sh", "-c", "echo boom; echo why >&2; exit 3"]}),
        );
        assert_eq!(e.start("app-1", t(0)), Ok(true));
        let doc = e.inspect("app-1", t(0)).unwrap();
        assert_eq!(doc["State"]["Status"], "exited");
        assert_eq!(doc["State"]["ExitCode"], 3);
        let opts = LogOptions {
            stdout: true,
            stderr: true,
            timestamps: false,
            tail: Some(15),
        };
        let chunk = e.logs("app-1", &opts, None, t(1)).unwrap();
        assert_eq!(
            chunk.bytes,
            b"\x01\x00\x00\x00\x00\x00\x00\x05boom\n\x02\x00\x00\x00\x00\x00\x00\x04why\n"
        );
        assert!(!chunk.running);
        let opts = LogOptions {
            stdout: true,
            stderr: false,
            timestamps: false,
            tail: None,
        };
        assert_eq!(e.logs("app-1", &opts, None, t(1)).unwrap().bytes.len(), 13);
        let none = LogOptions::default();
        assert_eq!(e.logs("app-1", &none, None, t(1)).unwrap_err().status, 400);
        // A second run appends.
        assert_eq!(e.start("app-1", t(5)), Ok(true));
        let opts = LogOptions {
            stdout: true,
            stderr: true,
            timestamps: false,
            tail: Some(3),
        };
        assert_eq!(
            e.logs("app-1", &opts, None, t(6)).unwrap().bytes.len(),
            12 + 13 + 12
        );
    }

    #[test]
    fn a_process_ignoring_sigterm_is_killed_after_its_grace() {
        let mut e = engine();
        create(
            &mut e,
            "stubborn",
            json!({"Image": "maestro-test/box:1", "Cmd": ["sh", "-c", "sleep 3600"]}),
        );
        e.start("stubborn", t(0)).unwrap();
        let StopOutcome::Pending { id, run, deadline } =
            e.stop("stubborn", Some(1), t(100)).unwrap()
        else {
            panic!("a pending stop");
        };
        assert_eq!(deadline, t(1100));
        assert_eq!(e.finish_stop(&id, run, deadline, t(500)), Ok(false));
        assert_eq!(
            e.inspect("stubborn", t(500)).unwrap()["State"]["Running"],
            true
        );
        assert_eq!(e.finish_stop(&id, run, deadline, t(1100)), Ok(true));
        let doc = e.inspect("stubborn", t(1200)).unwrap();
        assert_eq!(doc["State"]["ExitCode"], 137);
        assert_eq!(doc["State"]["FinishedAt"], rfc3339_nanos(t(1100)));
        // SIGTERM through kill does nothing to it; SIGKILL does.
        e.start("stubborn", t(2000)).unwrap();
        e.kill("stubborn", "TERM", t(2001)).unwrap();
        assert_eq!(
            e.inspect("stubborn", t(2002)).unwrap()["State"]["Running"],
            true
        );
        assert_eq!(
            e.kill("stubborn", "FOO", t(2003)).unwrap_err(),
            ApiError::new(400, "Invalid signal: FOO")
        );
        e.kill("stubborn", "SIGKILL", t(2004)).unwrap();
        assert_eq!(
            e.inspect("stubborn", t(2005)).unwrap()["State"]["ExitCode"],
            137
        );
    }

    #[test]
    fn a_process_ends_on_its_own_when_its_time_comes() {
        let mut e = engine();
        create(
            &mut e,
            "batch",
            json!({"Image": "maestro-test/box:1", "Cmd": ["sh", "-c", "sleep 2; exit 5"]}),
        );
        e.start("batch", t(0)).unwrap();
        assert_eq!(e.next_deadline(), Some(t(2000)));
        let began = e.run_state("batch", t(500)).unwrap();
        assert_eq!(began, (1, true));
        assert_eq!(e.wait("batch", "not-running", began, t(1000)), Ok(None));
        assert_eq!(e.wait("batch", "next-exit", began, t(1000)), Ok(None));
        assert_eq!(
            e.inspect("batch", t(1999)).unwrap()["State"]["Running"],
            true
        );
        assert_eq!(
            e.wait("batch", "", began, t(2000)),
            Ok(Some(json!({"Error": null, "StatusCode": 5})))
        );
        assert_eq!(
            e.wait("batch", "next-exit", began, t(2000)),
            Ok(Some(json!({"Error": null, "StatusCode": 5})))
        );
        // Exited already: next-exit waits for another run to end.
        let began = e.run_state("batch", t(2100)).unwrap();
        assert_eq!(e.wait("batch", "next-exit", began, t(2100)), Ok(None));
        assert_eq!(e.wait("batch", "removed", began, t(2100)), Ok(None));
        assert!(e.wait("batch", "bogus", began, t(2100)).is_err());
        assert_eq!(
            e.inspect("batch", t(2500)).unwrap()["State"]["FinishedAt"],
            rfc3339_nanos(t(2000))
        );
        e.remove("batch", false, t(2600)).unwrap();
        assert_eq!(
            e.wait("batch", "removed", began, t(2700)),
            Ok(Some(json!({"Error": null, "StatusCode": 0})))
        );
    }

    #[test]
    fn refusals_read_as_a_real_engines() {
        let mut e = engine();
        create(
            &mut e,
            "one",
            json!({"Image": "maestro-test/box:1", "Cmd": ["sh", "-c", IDLE]}),
        );
        let id = e.lookup("one").unwrap();
        let conflict = e
            .create(Some("one"), br#"{"Image":"maestro-test/box:1"}"#, t(0))
            .unwrap_err();
        assert_eq!(conflict.status, 409);
        assert!(conflict
            .message
            .contains(&format!("\"/one\" is already in use by container \"{id}\"")));
        assert_eq!(
            e.create(Some("bad name"), br#"{"Image":"maestro-test/box:1"}"#, t(0))
                .unwrap_err(),
            ApiError::new(
                400,
                "Invalid container name (bad name), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
            )
        );
        assert_eq!(
            e.create(Some("x2"), br#"{"Image":"nope:1"}"#, t(0))
                .unwrap_err(),
            ApiError::new(404, "No such image: nope:1")
        );
        assert_eq!(e.create(Some("x2"), b"{}", t(0)).unwrap_err().status, 400);
        assert_eq!(
            e.create(Some("x2"), b"{\"Image\":", t(0)).unwrap_err(),
            ApiError::new(400, "unexpected EOF")
        );
        e.start("one", t(1)).unwrap();
        let running = e.remove("one", false, t(2)).unwrap_err();
        assert_eq!(running.status, 409);
        assert!(running
            .message
            .starts_with("You cannot remove a running container"));
        assert_eq!(e.remove("one", true, t(3)), Ok(()));
        assert_eq!(
            e.inspect_image("nope").unwrap_err(),
            ApiError::new(404, "No such image: nope:latest")
        );
    }

    #[test]
    fn published_ports_clash_like_on_a_real_engine() {
        let mut e = engine();
        let body = json!({"Image": "maestro-test/box:1", "Cmd": ["sh", "-c", IDLE],
                          "ExposedPorts": {"8080/tcp": {}},
                          "HostConfig": {"PortBindings": {"8080/tcp": [{"HostIp": "", "HostPort": "18081"}]}}});
        create(&mut e, "p1", body.clone());
        create(&mut e, "p2", body);
        e.start("p1", t(0)).unwrap();
        let doc = e.inspect("p1", t(1)).unwrap();
        assert_eq!(
            doc["NetworkSettings"]["Ports"]["8080/tcp"][0],
            json!({"HostIp": "0.0.0.0", "HostPort": "18081"})
        );
        let clash = e.start("p2", t(2)).unwrap_err();
        assert_eq!(clash.status, 500);
        assert!(
            clash
                .message
                .ends_with("Bind for 0.0.0.0:18081 failed: port is already allocated"),
            "{}",
            clash.message
        );
        let doc = e.inspect("p2", t(3)).unwrap();
        assert_eq!(doc["State"]["Status"], "created");
        assert_eq!(doc["State"]["ExitCode"], 128);
        e.stop("p1", None, t(4)).unwrap();
        assert_eq!(
            e.inspect("p1", t(5)).unwrap()["NetworkSettings"]["Ports"],
            json!({})
        );
        assert_eq!(e.start("p2", t(6)), Ok(true));
    }

    #[test]
    fn links_name_running_containers() {
        let mut e = engine();
        let err = e
            .create(
                Some("web"),
                br#"{"Image":"maestro-test/box:1","HostConfig":{"Links":["db:db"]}}"#,
                t(0),
            )
            .unwrap_err();
        assert_eq!(
            err,
            ApiError::new(400, "could not get container for db: No such container: db")
        );
        create(
            &mut e,
            "db",
            json!({"Image": "maestro-test/box:1", "Cmd": ["sh", "-c", IDLE]}),
        );
        create(
            &mut e,
            "web",
            json!({"Image": "maestro-test/box:1", "Cmd": ["sh", "-c", IDLE], "HostConfig": {"Links": ["db:database"]}}),
        );
        assert_eq!(
            e.inspect("web", t(1)).unwrap()["HostConfig"]["Links"],
            json!(["/db:/web/database"])
        );
        assert_eq!(
            e.start("web", t(2)).unwrap_err(),
            ApiError::new(
                500,
                "Cannot link to a non running container: /db AS /web/database"
            )
        );
        e.start("db", t(3)).unwrap();
        assert_eq!(e.start("web", t(4)), Ok(true));
    }

    #[test]
    fn images_are_inspected_listed_and_pulled() {
        let mut e = engine();
        let doc = e.inspect_image("maestro-test/box:1").unwrap();
        let id = doc["Id"].as_str().unwrap().to_owned();
        assert_eq!(
            e.inspect_image(&id).unwrap()["RepoTags"],
            json!(["maestro-test/box:1"])
        );
        assert_eq!(e.inspect_image(&id[7..19]).unwrap()["Id"], id.as_str());
        assert_eq!(e.list_images(None).as_array().unwrap().len(), 1);
        assert_eq!(
            e.list_images(Some("maestro-test/box"))
                .as_array()
                .unwrap()
                .len(),
            1
        );
        assert_eq!(
            e.list_images(Some("maestro-test/box:2"))
                .as_array()
                .unwrap()
                .len(),
            0
        );
        assert_eq!(
            e.list_images(Some("maestro-test/*"))
                .as_array()
                .unwrap()
                .len(),
            1
        );
        let progress = e.pull("busybox", "", t(0)).unwrap();
        assert_eq!(
            progress.last().unwrap()["status"],
            "Status: Downloaded newer image for busybox:latest"
        );
        assert_eq!(
            e.inspect_image("docker.io/library/busybox:latest").unwrap()["RepoTags"],
            json!(["busybox:latest"])
        );
        let again = e.pull("busybox", "latest", t(1)).unwrap();
        assert_eq!(
            again.last().unwrap()["status"],
            "Status: Image is up to date for busybox:latest"
        );
        e.pullable = Pullable::Nothing;
        assert_eq!(e.pull("nope", "1", t(2)).unwrap_err().status, 404);
        e.pullable = Pullable::Only(vec!["alpine:3".into()]);
        assert!(e.pull("alpine", "3", t(3)).is_ok());
        assert!(e.pull("alpine", "4", t(3)).is_err());
        // The same reference has the same id on every engine.
        let other = Engine::new(
            e.identity.clone(),
            &["busybox".to_owned()],
            Pullable::Any,
            99,
        );
        assert_eq!(
            other.inspect_image("busybox").unwrap()["Id"],
            e.inspect_image("busybox").unwrap()["Id"]
        );
    }

    #[test]
    fn lists_filter_by_label_and_state() {
        let mut e = engine();
        create(
            &mut e,
            "aa",
            json!({"Image": "maestro-test/box:1", "Cmd": ["sh", "-c", IDLE], "Labels": {"env": "x", "k": "1"}}),
        );
        create(
            &mut e,
            "bb",
            json!({"Image": "maestro-test/box:1", "Cmd": ["sh", "-c", IDLE], "Labels": {"env": "y"}}),
        );
        e.start("aa", t(1)).unwrap();
        let all = Filters::default();
        assert_eq!(e.list(false, &all, t(2)).as_array().unwrap().len(), 1);
        assert_eq!(e.list(true, &all, t(2)).as_array().unwrap().len(), 2);
        let by_label = Filters::parse(r#"{"label": ["env=y"]}"#).unwrap();
        let list = e.list(true, &by_label, t(2));
        assert_eq!(list[0]["Names"], json!(["/bb"]));
        assert_eq!(list[0]["State"], "created");
        assert_eq!(list[0]["Status"], "Created");
        let old_form = Filters::parse(r#"{"label": {"k": true}}"#).unwrap();
        let list = e.list(true, &old_form, t(2));
        assert_eq!(list[0]["Names"], json!(["/aa"]));
        assert_eq!(list[0]["Status"], "Up Less than a second");
        assert_eq!(
            list[0]["Command"],
            "sh -c 'trap 'exit 0' TERM; sleep 3600 & wait'"
        );
        assert!(Filters::parse(r#"{"bogus": ["x"]}"#).is_err());
    }

    #[test]
    fn execs_run_in_running_containers() {
        let mut e = engine();
        create(
            &mut e,
            "cc",
            json!({"Image": "maestro-test/box:1", "Cmd": ["sh", "-c", IDLE]}),
        );
        assert_eq!(
            e.exec_create("cc", br#"{"Cmd":["true"]}"#, t(0))
                .unwrap_err()
                .status,
            409
        );
        e.start("cc", t(1)).unwrap();
        let exec = e
            .exec_create("cc", br#"{"Cmd":["sh","-c","exit 4"]}"#, t(2))
            .unwrap();
        let exec = exec["Id"].as_str().unwrap().to_owned();
        assert_eq!(e.exec_inspect(&exec, t(2)).unwrap()["Running"], false);
        assert_eq!(
            e.exec_inspect(&exec, t(2)).unwrap()["ExitCode"],
            Value::Null
        );
        e.exec_start(&exec, t(3)).unwrap();
        let doc = e.exec_inspect(&exec, t(4)).unwrap();
        assert_eq!(doc["ExitCode"], 4);
        assert_eq!(doc["ProcessConfig"]["entrypoint"], "sh");
        assert_eq!(e.exec_start(&exec, t(5)).unwrap_err().status, 409);
        assert_eq!(
            e.exec_inspect("nope", t(5)).unwrap_err(),
            ApiError::new(404, "No such exec instance: nope")
        );
        assert_eq!(
            e.exec_create("cc", br#"{"Cmd":[]}"#, t(6))
                .unwrap_err()
                .status,
            400
        );
    }

    #[test]
    fn auto_remove_takes_an_ended_container_away() {
        let mut e = engine();
        create(
            &mut e,
            "once",
            json!({"Image": "maestro-test/box:1", "Cmd": ["true"], "HostConfig": {"AutoRemove": true}}),
        );
        e.start("once", t(0)).unwrap();
        assert_eq!(e.inspect("once", t(1)).unwrap_err().status, 404);
    }

    #[test]
    fn references_normalize_like_docker() {
        assert_eq!(normalize_reference("busybox"), "busybox:latest");
        assert_eq!(
            normalize_reference("docker.io/library/busybox:1"),
            "busybox:1"
        );
        assert_eq!(
            normalize_reference("host:5000/team/app"),
            "host:5000/team/app:latest"
        );
        assert_eq!(
            normalize_reference("host:5000/team/app:2"),
            "host:5000/team/app:2"
        );
        assert_eq!(normalize_reference("a@sha256:00"), "a@sha256:00");
        assert!(glob("team/*", "team/app"));
        assert!(!glob("team/*", "team/x/app"));
        assert!(valid_name("a-1.b_c"));
        assert!(!valid_name("-a"));
        assert!(!valid_name("a"));
    }
}
