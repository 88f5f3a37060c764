//! The resolved, immutable model of an environment: ships, registries,
//! services, containers (instances) and auditors, every default applied and
//! every reference checked. Nothing here does I/O.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use indexmap::IndexMap;

use crate::graph::DependencyGraph;

/// A value that must never be printed: registry passwords, audit tokens.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: String) -> Self {
        Secret(value)
    }
    /// The clear value, for the one place that sends it (an engine login).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// A whole environment description.
#[derive(Debug, Clone)]
pub struct Environment {
    pub name: String,
    /// `__maestro.schema`: 1 or 2.
    pub schema: u8,
    /// The file as named by the user, for messages.
    pub source: String,
    /// Base for relative paths (envfiles).
    pub base_dir: PathBuf,
    pub ships: IndexMap<String, Ship>,
    pub registries: IndexMap<String, Registry>,
    pub services: IndexMap<String, Service>,
    /// All containers, by instance name, in file order.
    pub containers: IndexMap<String, Container>,
    pub audit: Vec<Auditor>,
    pub graph: DependencyGraph,
    /// Top-level `networks:`, by their key in the file.
    pub networks: IndexMap<String, Network>,
    /// Top-level `volumes:`, by their key in the file.
    pub volumes: IndexMap<String, NamedVolume>,
    /// Top-level `secrets:`, by name: where each value comes from (never
    /// the value, which is read by the plays that create containers).
    pub secrets: IndexMap<String, SecretDef>,
    /// The proxy's settings (top-level `proxy:`; defaults when absent).
    pub proxy: ProxySettings,
    /// Things that load but deserve a word (unknown keys, ignored values).
    pub warnings: Vec<crate::ConfigError>,
}

/// How to talk to a ship's engine API version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiVersion {
    /// Negotiate with the engine (the default).
    Auto,
    /// Exactly this version, e.g. `1.41`.
    Fixed(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshTunnel {
    pub user: String,
    pub key: String,
    pub port: u16,
}

/// A host running a Docker engine.
#[derive(Debug, Clone, PartialEq)]
pub struct Ship {
    pub name: String,
    /// Address other containers use to reach this host.
    pub ip: String,
    /// Address used to reach the engine.
    pub endpoint: String,
    pub docker_port: u16,
    pub socket_path: Option<String>,
    pub api_version: ApiVersion,
    /// Seconds for each engine call.
    pub timeout: f64,
    pub ssh_tunnel: Option<SshTunnel>,
    pub tls: bool,
    pub tls_verify: bool,
    pub tls_ca_cert: Option<String>,
    pub tls_cert: Option<String>,
    pub tls_key: Option<String>,
    pub ssl_version: Option<String>,
    /// `endpoint: ssh://[user@]host[:port]`: the engine's unix socket
    /// (`socket_path`, else `/var/run/docker.sock`) on the far side of SSH.
    pub ssh: Option<SshEndpoint>,
    /// Trust (and record) an SSH host key seen for the first time.
    pub ssh_accept_new_host_keys: bool,
    /// Seconds for the SSH connection and authentication (`ssh_timeout`);
    /// unset: `ConnectTimeout` of the SSH config, else `timeout`.
    pub ssh_timeout: Option<f64>,
    /// Where the ship came from when the file has no `ships` (the
    /// default `local` ship): `DOCKER_HOST`, a Docker context, the socket.
    pub origin: Option<String>,
}

/// An `ssh://[user@]host[:port]` endpoint, as the Docker CLI writes it;
/// `host` may be an alias of the SSH config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshEndpoint {
    pub user: Option<String>,
    pub host: String,
    pub port: Option<u16>,
}

/// The unix socket of the engine on the far side of an `ssh://` endpoint
/// when the ship names none.
pub const DEFAULT_REMOTE_SOCKET: &str = "/var/run/docker.sock";

#[derive(Debug, Clone, PartialEq)]
pub struct Retry {
    pub attempts: u32,
    /// HTTP statuses that warrant another attempt.
    pub when: Vec<u16>,
}

/// Credentials for a private registry.
#[derive(Debug, Clone, PartialEq)]
pub struct Registry {
    pub name: String,
    pub registry: String,
    pub username: Option<String>,
    pub password: Option<Secret>,
    pub email: Option<String>,
    pub retry: Retry,
}

/// A group of containers from one image.
#[derive(Debug, Clone, PartialEq)]
pub struct Service {
    pub name: String,
    pub image: String,
    /// Direct hard dependencies (including those implied by `volumes_from`).
    pub requires: Vec<String>,
    pub wants_info: Vec<String>,
    pub omit: bool,
    /// Instance names, sorted.
    pub instances: Vec<String>,
    /// Commands run as one-off containers around `up`'s replacement of
    /// the service's containers.
    pub hooks: Hooks,
    /// `proxy`: the service answers behind the proxy maestro runs on each
    /// of its ships.
    pub proxy: Option<ProxyRoute>,
    /// `deploy.update_config`: how `up` and `restart` roll it out.
    pub update: UpdateConfig,
}

/// How the proxy reaches a service (a service's `proxy:`).
#[derive(Debug, Clone, PartialEq)]
pub struct ProxyRoute {
    /// Host names it answers for (none: any).
    pub hosts: Vec<String>,
    /// A path prefix it answers for (`/api`; none: every path).
    pub path_prefix: Option<String>,
    /// The container port the application listens on.
    pub app_port: u16,
    pub healthcheck: ProxyHealth,
    /// Seconds the proxy waits for a response.
    pub response_timeout: f64,
    /// Seconds the replaced container is given to finish its requests.
    pub drain_timeout: f64,
    /// Seconds a new container has to pass the proxy's health check.
    pub deploy_timeout: f64,
    pub tls: Option<ProxyTls>,
}

/// The proxy's health check of a service's containers.
#[derive(Debug, Clone, PartialEq)]
pub struct ProxyHealth {
    /// The HTTP path that answers 2xx when the container is ready (`/up`).
    pub path: String,
    /// Seconds between checks.
    pub interval: f64,
    /// Seconds a check may take.
    pub timeout: f64,
}

/// A certificate and its key, files on the operator's machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyTls {
    pub certificate: PathBuf,
    pub private_key: PathBuf,
}

/// The proxy each ship with a proxied service runs (top-level `proxy:`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxySettings {
    pub image: String,
    /// Host ports it publishes for HTTP and HTTPS.
    pub http_port: u16,
    pub https_port: u16,
}

impl Default for ProxySettings {
    /// Caddy 2's image, publishing the usual ports.
    fn default() -> ProxySettings {
        ProxySettings {
            image: "caddy:2".into(),
            http_port: 80,
            https_port: 443,
        }
    }
}

/// A service's rollout (Compose's `deploy.update_config`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UpdateConfig {
    /// At most this many of its containers at a time (`--batch` overrides).
    pub parallelism: Option<u32>,
    /// Seconds between batches (`--step-delay` overrides).
    pub delay: Option<f64>,
    /// `start-first` (the new container beside the old) or `stop-first`;
    /// unset: start-first behind the proxy, else stop-first.
    pub order: Option<UpdateOrder>,
    pub failure_action: FailureAction,
    /// Seconds a new container is watched after its checks passed.
    pub monitor: Option<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpdateOrder {
    StartFirst,
    StopFirst,
}

/// What a failed rollout does.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum FailureAction {
    /// Stop there, leaving what was done (Compose's and Swarm's default).
    #[default]
    Pause,
    /// Put back the containers it replaced, then fail.
    Rollback,
}

/// A service's deploy hooks (`hooks:`), each command a one-off container
/// of the new image with the service's configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Hooks {
    /// Before the first of the service's containers is replaced.
    pub pre_deploy: Vec<Vec<String>>,
    /// After the last of them passed its checks.
    pub post_deploy: Vec<Vec<String>>,
}

impl Hooks {
    pub fn is_empty(&self) -> bool {
        self.pre_deploy.is_empty() && self.post_deploy.is_empty()
    }
}

/// A secret of the environment (top-level `secrets:`).
#[derive(Debug, Clone, PartialEq)]
pub struct SecretDef {
    pub name: String,
    pub from: SecretFrom,
}

/// Where a secret's value comes from, on the operator's machine.
#[derive(Debug, Clone, PartialEq)]
pub enum SecretFrom {
    /// A file's contents (`file:`, relative to the environment file).
    File(PathBuf),
    /// A variable of the process running maestro (`environment:`).
    Environment(String),
    /// A command's standard output (`command:`; a string runs through
    /// `sh -c`), bounded in time.
    Command {
        argv: Vec<String>,
        /// Seconds it may take (`timeout:`, 30 by default).
        timeout: f64,
    },
}

/// A secret a container receives (a service's or instance's `secrets:`):
/// as a file, or with `as_env` as an environment variable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretMount {
    /// The name of the top-level secret.
    pub source: String,
    /// The absolute path of the file in the container (`/run/secrets/NAME`
    /// by default; a relative `target` is under `/run/secrets`).
    pub target: String,
    /// The file's owner and mode (0444 by default).
    pub uid: u32,
    pub gid: u32,
    pub mode: u32,
    /// Delivered as this environment variable instead of a file.
    pub as_env: Option<String>,
}

/// Transport protocol of a port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    Tcp,
    Udp,
}

impl Protocol {
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
        }
    }
}

/// A port or a range of ports, with its protocol: `8080/tcp`, `1234-1236/udp`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortSpec {
    pub first: u16,
    pub last: Option<u16>,
    pub protocol: Protocol,
}

impl PortSpec {
    /// The number part: `8080` or `1234-1236`.
    pub fn number(&self) -> String {
        match self.last {
            Some(last) => format!("{}-{}", self.first, last),
            None => self.first.to_string(),
        }
    }
}

impl fmt::Display for PortSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.number(), self.protocol.as_str())
    }
}

/// A named port: exposed inside the container, published on the ship.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortMapping {
    pub exposed: PortSpec,
    pub external_ip: String,
    pub external: PortSpec,
}

/// A host path (or named volume) bound into the container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumeBinding {
    pub host: String,
    pub target: String,
    pub mode: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestartPolicy {
    pub name: String,
    pub retries: u32,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Limits {
    /// Bytes.
    pub memory: Option<u64>,
    /// Bytes (memory + swap), `-1` for unlimited.
    pub swap: Option<i64>,
    /// CPU shares.
    pub cpu_shares: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ulimit {
    pub name: String,
    pub soft: i64,
    pub hard: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogConfig {
    pub driver: String,
    pub options: IndexMap<String, String>,
}

/// Where an `exec` check passes the container's environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EnvFrom {
    Env,
    Stdin,
}

/// The port an `http` check talks to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpPort {
    Named(String),
    Number(u16),
}

#[derive(Debug, Clone, PartialEq)]
pub struct HttpOptions {
    pub verify: bool,
    pub timeout: Option<f64>,
    pub headers: IndexMap<String, String>,
    pub auth: Option<(String, String)>,
}

/// One lifecycle check (§7).
#[derive(Debug, Clone, PartialEq)]
pub enum Check {
    Tcp {
        /// Name of a TCP port of the instance.
        port: String,
        /// Attempts, one a second.
        max_wait: u32,
    },
    Http {
        port: HttpPort,
        host: Option<String>,
        path: String,
        scheme: String,
        method: String,
        match_regex: Option<String>,
        max_wait: u32,
        options: Box<HttpOptions>,
    },
    Exec {
        command: Vec<String>,
        attempts: u32,
        envfrom: EnvFrom,
    },
    Rexec {
        command: Vec<String>,
        attempts: u32,
    },
    Sleep {
        wait: f64,
    },
    /// Waits for the container's Docker HEALTHCHECK to report `healthy`
    /// (an extension of maestro's; fails at once on `unhealthy`).
    Healthy {
        /// Seconds.
        max_wait: u32,
    },
}

/// A container's lifecycle states, each with its checks.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Lifecycle {
    pub pre_start: Vec<Check>,
    pub running: Vec<Check>,
    pub pre_stop: Vec<Check>,
    pub stopped: Vec<Check>,
}

impl Lifecycle {
    /// Whether any of its checks is an `exec` check (which passes the
    /// container's variables to its command).
    pub fn has_exec_check(&self) -> bool {
        self.states()
            .iter()
            .any(|(_, list)| list.iter().any(|c| matches!(c, Check::Exec { .. })))
    }

    /// The states in order, with their YAML names.
    pub fn states(&self) -> [(&'static str, &[Check]); 4] {
        [
            ("pre-start", &self.pre_start),
            ("running", &self.running),
            ("pre-stop", &self.pre_stop),
            ("stopped", &self.stopped),
        ]
    }
}

/// Link variables of one service, shared by every container that gets them.
pub type LinkVars = Arc<Vec<(String, String)>>;

/// A container's environment: its own variables, then the link variables of
/// its service and dependencies laid over them (later wins). The link
/// variables are shared between containers, so large environments stay small.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ContainerEnv {
    /// Envfiles, `env` and the seeded variables (`None`: name only).
    pub own: IndexMap<String, Option<String>>,
    /// Link variable sets, in the order they apply.
    pub links: Vec<LinkVars>,
}

impl ContainerEnv {
    /// The final variables, in first-definition order, later sources winning.
    /// Keyed with a fast hash (the order is the map's own, not the hash's):
    /// a container created renders all its variables through this, 26 MiB
    /// of names on the simulated fleet's file.
    pub fn resolved(&self) -> IndexMap<&str, Option<&str>, foldhash::fast::RandomState> {
        let mut out: IndexMap<&str, Option<&str>, foldhash::fast::RandomState> =
            IndexMap::with_capacity_and_hasher(
                self.own.len() + self.links.iter().map(|l| l.len()).sum::<usize>(),
                foldhash::fast::RandomState::default(),
            );
        for (k, v) in &self.own {
            out.insert(k, v.as_deref());
        }
        for set in &self.links {
            for (k, v) in set.iter() {
                out.insert(k, Some(v));
            }
        }
        out
    }

    /// The final variables sorted by name (later sources winning), without
    /// hashing: one stable sort of every definition, keeping the last of each
    /// name. What `dump` writes.
    pub fn sorted(&self) -> Vec<(&str, Option<&str>)> {
        let mut all: Vec<(&str, Option<&str>)> =
            Vec::with_capacity(self.own.len() + self.links.iter().map(|l| l.len()).sum::<usize>());
        all.extend(self.own.iter().map(|(k, v)| (k.as_str(), v.as_deref())));
        for set in &self.links {
            all.extend(set.iter().map(|(k, v)| (k.as_str(), Some(v.as_str()))));
        }
        // Stable: among equal names the later definition stays later.
        all.sort_by(|a, b| a.0.cmp(b.0));
        let mut out: Vec<(&str, Option<&str>)> = Vec::with_capacity(all.len());
        for item in all {
            match out.last_mut() {
                Some(last) if last.0 == item.0 => *last = item,
                _ => out.push(item),
            }
        }
        out
    }

    /// One variable's final value (`Some(None)`: present without a value).
    pub fn get(&self, key: &str) -> Option<Option<&str>> {
        for set in self.links.iter().rev() {
            if let Some((_, v)) = set.iter().rev().find(|(k, _)| k == key) {
                return Some(Some(v));
            }
        }
        self.own.get(key).map(|v| v.as_deref())
    }
}

/// A service instance: one container on one ship, fully resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct Container {
    pub name: String,
    pub service: String,
    pub ship: String,
    pub image: String,
    /// The exact environment the container receives.
    pub env: ContainerEnv,
    pub ports: IndexMap<String, PortMapping>,
    pub volumes: Vec<VolumeBinding>,
    pub container_volumes: Vec<String>,
    pub volumes_from: Vec<String>,
    pub links: IndexMap<String, String>,
    pub command: Option<Vec<String>>,
    pub workdir: Option<String>,
    pub username: Option<String>,
    pub privileged: bool,
    pub cap_add: Vec<String>,
    pub cap_drop: Vec<String>,
    pub security_opt: Vec<String>,
    pub extra_hosts: IndexMap<String, String>,
    pub network_mode: Option<String>,
    /// The instance name, unless a network mode is set.
    pub hostname: Option<String>,
    pub dns: Vec<String>,
    pub restart: RestartPolicy,
    /// Seconds between SIGTERM and SIGKILL.
    pub stop_timeout: u32,
    pub limits: Limits,
    pub ulimits: Vec<Ulimit>,
    pub log_config: Option<LogConfig>,
    pub labels: IndexMap<String, String>,
    pub lifecycle: Lifecycle,
    /// The options under Compose's names (`tmpfs`, `healthcheck`…).
    pub options: Box<ContainerOptions>,
}

/// A user-defined network (top-level `networks:`), made on each ship that
/// has a container attached to it (unless `external`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Network {
    /// The engine's name for it (`name:`, else its key).
    pub name: String,
    pub driver: Option<String>,
    pub driver_opts: IndexMap<String, String>,
    pub labels: IndexMap<String, String>,
    pub internal: bool,
    pub attachable: bool,
    pub subnets: Vec<Subnet>,
    /// Made by someone else: used, never created nor removed.
    pub external: bool,
}

/// One `ipam.config` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subnet {
    pub subnet: String,
    pub gateway: Option<String>,
    pub ip_range: Option<String>,
}

/// A named volume (top-level `volumes:`), made on each ship that has a
/// container mounting it (unless `external`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamedVolume {
    /// The engine's name for it (`name:`, else its key).
    pub name: String,
    pub driver: Option<String>,
    pub driver_opts: IndexMap<String, String>,
    pub labels: IndexMap<String, String>,
    pub external: bool,
}

/// A container's place on a network: by the network's key in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkAttachment {
    pub network: String,
    pub aliases: Vec<String>,
    pub ipv4_address: Option<String>,
}

/// A device of the ship given to the container (`devices`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    pub host: String,
    pub container: String,
    /// Of `r`, `w`, `m` (`rwm` by default).
    pub permissions: String,
}

/// A device request (`gpus`): `count` -1 for all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GpuRequest {
    pub driver: Option<String>,
    pub count: Option<i64>,
    pub device_ids: Vec<String>,
    pub capabilities: Vec<String>,
    pub options: IndexMap<String, String>,
}

/// An inline HEALTHCHECK (`healthcheck`); durations in nanoseconds. An
/// empty `test` keeps the image's.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Healthcheck {
    pub test: Vec<String>,
    pub interval: Option<u64>,
    pub timeout: Option<u64>,
    pub start_period: Option<u64>,
    pub retries: Option<i64>,
}

/// Container options with the Compose file format's names; all unset by
/// default, so a MaestroNG file means what it meant.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContainerOptions {
    pub entrypoint: Option<Vec<String>>,
    /// Mount point → mount options (`size=64m`), possibly empty.
    pub tmpfs: IndexMap<String, String>,
    pub read_only: bool,
    pub init: Option<bool>,
    pub stop_signal: Option<String>,
    /// Seconds (`stop_grace_period`), also the container's own stop timeout.
    pub stop_grace_period: Option<u32>,
    /// Bytes.
    pub shm_size: Option<u64>,
    pub sysctls: IndexMap<String, String>,
    pub devices: Vec<Device>,
    pub gpus: Vec<GpuRequest>,
    pub healthcheck: Option<Healthcheck>,
    pub pid: Option<String>,
    pub ipc: Option<String>,
    pub group_add: Vec<String>,
    pub pids_limit: Option<i64>,
    pub cpuset: Option<String>,
    pub mac_address: Option<String>,
    /// `os/arch[/variant]`, asked of the engine when creating.
    pub platform: Option<String>,
    /// User-defined networks, in file order (`networks`).
    pub networks: Vec<NetworkAttachment>,
    /// The secrets it receives (`secrets`), in file order.
    pub secrets: Vec<SecretMount>,
}

impl Container {
    /// The image tag: what follows the last `:` unless that is part of a
    /// registry host (`host:5000/repo`); `latest` when there is none.
    pub fn image_tag(&self) -> &str {
        image_tag(&self.image)
    }
}

/// See [`Container::image_tag`].
pub fn image_tag(image: &str) -> &str {
    match image.rsplit_once(':') {
        Some((_, tag)) if !tag.contains('/') && !tag.is_empty() => tag,
        _ => "latest",
    }
}

/// Audit verbosity.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuditLevel {
    Info,
    Debug,
}

/// What an auditor does (§8).
#[derive(Debug, Clone, PartialEq)]
pub enum AuditKind {
    Log {
        file: String,
    },
    Http {
        endpoint: String,
        method: String,
        headers: IndexMap<String, String>,
        timeout: f64,
        /// The payload tree, as JSON.
        payload: serde_json::Value,
    },
    Exec {
        script: String,
        args: Vec<String>,
    },
    Slack {
        channel: String,
        token: Secret,
        name: Option<String>,
        icon: Option<String>,
        /// Where to post (configurable so it can be tested locally).
        endpoint: Option<String>,
    },
    Hipchat {
        room: String,
        token: Secret,
        name: Option<String>,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct Auditor {
    pub kind: AuditKind,
    pub level: AuditLevel,
    pub ignore_errors: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorted_and_resolved_agree_with_later_sources_winning() {
        let mut own = IndexMap::new();
        own.insert("B".to_owned(), Some("own".to_owned()));
        own.insert("A".to_owned(), None);
        own.insert("C".to_owned(), Some("c".to_owned()));
        let env = ContainerEnv {
            own,
            links: vec![
                Arc::new(vec![("B".into(), "link1".into()), ("D".into(), "d".into())]),
                Arc::new(vec![("B".into(), "link2".into())]),
            ],
        };
        let mut resolved: Vec<(&str, Option<&str>)> = env.resolved().into_iter().collect();
        resolved.sort_by(|a, b| a.0.cmp(b.0));
        assert_eq!(env.sorted(), resolved);
        assert_eq!(
            env.sorted(),
            [
                ("A", None),
                ("B", Some("link2")),
                ("C", Some("c")),
                ("D", Some("d"))
            ]
        );
    }
}
