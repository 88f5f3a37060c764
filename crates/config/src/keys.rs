//! Every key the loader accepts, by section: the lists the loader checks a
//! file's keys against (an unknown one is warned about), kept in one place
//! so that the reference (docs/reference.md) can be checked against them.

/// The top level of an environment file.
pub const TOP: &[&str] = &[
    "name",
    "schema",
    "ship_defaults",
    "ships",
    "services",
    "registries",
    "audit",
    "networks",
    "volumes",
    "secrets",
    "proxy",
];
/// The top-level `proxy` (the proxy each ship with a proxied service runs).
pub const PROXY_SETTINGS: &[&str] = &["image", "http_port", "https_port"];
/// A ship (and `ship_defaults`).
pub const SHIP: &[&str] = &[
    "ip",
    "endpoint",
    "docker_port",
    "socket_path",
    "api_version",
    "timeout",
    "ssh_tunnel",
    "tls",
    "tls_verify",
    "tls_ca_cert",
    "tls_cert",
    "tls_key",
    "ssl_version",
    "ssh_accept_new_host_keys",
    "ssh_timeout",
];
/// A ship's `ssh_tunnel`.
pub const SSH_TUNNEL: &[&str] = &["user", "key", "port"];
/// A registry.
pub const REGISTRY: &[&str] = &["registry", "username", "password", "email", "retry"];
/// A registry's `retry`.
pub const RETRY: &[&str] = &["attempts", "when"];
/// A service (besides the container options and `networks`).
pub const SERVICE: &[&str] = &[
    "image",
    "instances",
    "requires",
    "wants_info",
    "omit",
    "env",
    "envfile",
    "lifecycle",
    "limits",
    "ports",
    "hooks",
    "proxy",
    "deploy",
];
/// A service's `hooks`.
pub const HOOKS: &[&str] = &["pre_deploy", "post_deploy"];
/// A service's `proxy` (Kamal's names where they fit).
pub const PROXY: &[&str] = &[
    "host",
    "hosts",
    "path_prefix",
    "app_port",
    "healthcheck",
    "response_timeout",
    "drain_timeout",
    "deploy_timeout",
    "ssl",
];
/// A service's `proxy.healthcheck`.
pub const PROXY_HEALTHCHECK: &[&str] = &["path", "interval", "timeout"];
/// A service's `proxy.ssl`.
pub const PROXY_SSL: &[&str] = &["certificate_pem", "private_key_pem"];
/// A service's `deploy` (Compose's), the key maestro reads.
pub const DEPLOY: &[&str] = &["update_config"];
/// Compose's other keys of `deploy`, accepted and warned about as ignored.
pub const DEPLOY_IGNORED: &[&str] = &[
    "replicas",
    "resources",
    "restart_policy",
    "placement",
    "rollback_config",
    "labels",
    "mode",
    "endpoint_mode",
];
/// A service's `deploy.update_config` (Compose's names).
pub const UPDATE_CONFIG: &[&str] = &["parallelism", "delay", "order", "failure_action", "monitor"];
/// An instance (besides the container options and `networks`).
pub const INSTANCE: &[&str] = &[
    "ship",
    "image",
    "ports",
    "volumes",
    "container_volumes",
    "volumes_from",
    "links",
    "env",
    "envfile",
    "command",
    "cmd",
    "workdir",
    "username",
    "privileged",
    "cap_add",
    "cap_drop",
    "security_opt",
    "extra_hosts",
    "net",
    "dns",
    "restart",
    "stop_timeout",
    "limits",
    "ulimits",
    "log_driver",
    "log_opt",
    "labels",
    "lifecycle",
    "lxc_conf",
];
/// `restart` as a mapping.
pub const RESTART: &[&str] = &["name", "retries", "maximum_retry_count"];
/// `limits` (others are warned about as unknown limits).
pub const LIMITS: &[&str] = &["memory", "swap", "cpu"];
/// The container options (Compose's names), on services and instances alike.
pub const OPTIONS: &[&str] = &[
    "entrypoint",
    "tmpfs",
    "read_only",
    "init",
    "stop_signal",
    "stop_grace_period",
    "shm_size",
    "sysctls",
    "devices",
    "gpus",
    "healthcheck",
    "pid",
    "ipc",
    "group_add",
    "pids_limit",
    "cpuset",
    "mac_address",
    "platform",
    "secrets",
];
/// One device request of `gpus`.
pub const GPU: &[&str] = &["driver", "count", "device_ids", "capabilities", "options"];
/// `healthcheck`.
pub const HEALTHCHECK: &[&str] = &[
    "test",
    "interval",
    "timeout",
    "retries",
    "start_period",
    "disable",
];
/// What a service or an instance reads besides: the networks it joins.
pub const CONTAINER_NETWORKS: &[&str] = &["networks"];
/// One network of a container's `networks` mapping.
pub const ATTACHMENT: &[&str] = &["aliases", "ipv4_address"];
/// A top-level network.
pub const NETWORK: &[&str] = &[
    "name",
    "driver",
    "driver_opts",
    "labels",
    "internal",
    "attachable",
    "ipam",
    "external",
];
/// A network's `ipam`.
pub const IPAM: &[&str] = &["config", "driver"];
/// One entry of `ipam.config`.
pub const IPAM_CONFIG: &[&str] = &["subnet", "gateway", "ip_range"];
/// A top-level named volume.
pub const VOLUME: &[&str] = &["name", "driver", "driver_opts", "labels", "external"];
/// A top-level secret (Compose's `file` and `environment`, maestro's
/// `command` and `timeout`, which may also be under `x-maestro`).
pub const SECRET: &[&str] = &["file", "environment", "command", "timeout", "x-maestro"];
/// A top-level secret's `x-maestro`.
pub const SECRET_X_MAESTRO: &[&str] = &["command", "timeout"];
/// One secret of a container's `secrets` in the long form (maestro's
/// `as_env` may also be under `x-maestro`).
pub const SECRET_MOUNT: &[&str] = &[
    "source",
    "target",
    "uid",
    "gid",
    "mode",
    "as_env",
    "x-maestro",
];
/// The `x-maestro` of one secret of a container's `secrets`.
pub const SECRET_MOUNT_X_MAESTRO: &[&str] = &["as_env"];
/// Lifecycle checks by type.
pub const CHECK_TCP: &[&str] = &["type", "port", "max_wait"];
pub const CHECK_HTTP: &[&str] = &[
    "type",
    "port",
    "host",
    "path",
    "scheme",
    "method",
    "match_regex",
    "max_wait",
    "requests_options",
];
pub const CHECK_EXEC: &[&str] = &["type", "command", "attempts", "envfrom"];
pub const CHECK_HEALTHY: &[&str] = &["type", "max_wait"];
pub const CHECK_REXEC: &[&str] = &["type", "command", "attempts"];
pub const CHECK_SLEEP: &[&str] = &["type", "wait"];
/// An http check's `requests_options`.
pub const REQUESTS_OPTIONS: &[&str] = &["verify", "timeout", "headers", "auth"];
/// Every auditor's keys.
pub const AUDIT_COMMON: &[&str] = &["type", "level", "ignore_errors"];
/// Auditors by type, besides the common keys.
pub const AUDIT_LOG: &[&str] = &["file"];
pub const AUDIT_HTTP: &[&str] = &["endpoint", "method", "headers", "timeout", "payload"];
pub const AUDIT_EXEC: &[&str] = &["script", "args"];
pub const AUDIT_SLACK: &[&str] = &["channel", "token", "name", "icon", "endpoint"];
pub const AUDIT_HIPCHAT: &[&str] = &["room", "token", "name"];

/// Every section, named as the reference names it.
pub const SECTIONS: &[(&str, &[&str])] = &[
    ("top level", TOP),
    ("proxy settings", PROXY_SETTINGS),
    ("ships", SHIP),
    ("ssh_tunnel", SSH_TUNNEL),
    ("registries", REGISTRY),
    ("registry retry", RETRY),
    ("services", SERVICE),
    ("hooks", HOOKS),
    ("proxy", PROXY),
    ("proxy healthcheck", PROXY_HEALTHCHECK),
    ("proxy ssl", PROXY_SSL),
    ("deploy", DEPLOY),
    ("deploy (ignored)", DEPLOY_IGNORED),
    ("update_config", UPDATE_CONFIG),
    ("instances", INSTANCE),
    ("restart", RESTART),
    ("limits", LIMITS),
    ("container options", OPTIONS),
    ("gpus", GPU),
    ("healthcheck", HEALTHCHECK),
    ("container networks", CONTAINER_NETWORKS),
    ("network attachment", ATTACHMENT),
    ("networks", NETWORK),
    ("ipam", IPAM),
    ("ipam config", IPAM_CONFIG),
    ("volumes", VOLUME),
    ("secrets", SECRET),
    ("secret x-maestro", SECRET_X_MAESTRO),
    ("container secrets", SECRET_MOUNT),
    ("container secret x-maestro", SECRET_MOUNT_X_MAESTRO),
    ("tcp check", CHECK_TCP),
    ("http check", CHECK_HTTP),
    ("exec check", CHECK_EXEC),
    ("healthy check", CHECK_HEALTHY),
    ("rexec check", CHECK_REXEC),
    ("sleep check", CHECK_SLEEP),
    ("requests_options", REQUESTS_OPTIONS),
    ("auditors", AUDIT_COMMON),
    ("log auditor", AUDIT_LOG),
    ("http auditor", AUDIT_HTTP),
    ("exec auditor", AUDIT_EXEC),
    ("slack auditor", AUDIT_SLACK),
    ("hipchat auditor", AUDIT_HIPCHAT),
];
