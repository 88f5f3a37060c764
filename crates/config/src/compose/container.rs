//! A service's container settings in maestro's keys: the same for every
//! replica. Keys maestro has no use for are warned about, once per
//! service, naming the key.

use serde_json::{Map, Value as Json};

use super::mapper::Mapper;
use super::tree::At;
use crate::yaml::Node;

/// Keys whose value the environment reads as Compose wrote it.
const SAME: &[&str] = &[
    "command",
    "entrypoint",
    "restart",
    "privileged",
    "cap_add",
    "cap_drop",
    "security_opt",
    "dns",
    "read_only",
    "init",
    "stop_signal",
    "stop_grace_period",
    "sysctls",
    "gpus",
    "group_add",
    "pids_limit",
    "cpuset",
    "mac_address",
    "platform",
    "ulimits",
    "shm_size",
];

/// Keys read elsewhere (the service, its replicas, its networks).
const ELSEWHERE: &[&str] = &[
    "image",
    "depends_on",
    "deploy",
    "scale",
    "container_name",
    "labels",
    "profiles",
    "networks",
    "network_mode",
    "secrets",
    "configs",
    "links",
];

/// Why maestro leaves a key alone.
fn ignored(key: &str) -> Option<&'static str> {
    Some(match key {
        "hostname" => "maestro names each container's host after the container",
        "expose" => "ports are published with `ports`; containers of one network reach each other's ports without it",
        "tty" | "stdin_open" | "attach" => "maestro's containers run detached without a terminal (use `maestro exec` or `run`)",
        "external_links" | "volumes_from" | "dns_search" | "dns_opt" | "domainname"
        | "cgroup" | "cgroup_parent" | "uts" | "userns_mode" | "runtime" | "isolation"
        | "oom_kill_disable" | "oom_score_adj" | "mem_swappiness" | "mem_reservation" | "cpus"
        | "cpu_count" | "cpu_percent" | "cpu_period" | "cpu_quota" | "cpu_rt_period"
        | "cpu_rt_runtime" | "blkio_config" | "storage_opt" | "credential_spec"
        | "annotations" | "device_cgroup_rules" | "volume_driver" | "pull_policy"
        | "post_start" | "pre_stop" | "use_api_socket" | "provider" | "develop" => {
            "maestro does not set it on the containers it creates"
        }
        _ => return None,
    })
}

/// The container keys of `svc`, for each replica's instance.
pub(super) fn keys(
    m: &mut Mapper,
    name: &str,
    svc: &Map<String, Json>,
    at: At,
) -> Vec<(String, Node)> {
    let mut out: Vec<(String, Node)> = Vec::new();
    let mut limits: Vec<(String, Node)> = Vec::new();
    let mut tmpfs: Vec<String> = strings(svc.get("tmpfs"));
    for (key, value) in svc {
        let path = format!("services/{name}/{key}");
        match key.as_str() {
            k if SAME.contains(&k) => {
                if !value.is_null() {
                    out.push((key.clone(), at.json(value)));
                }
            }
            k if ELSEWHERE.contains(&k) || k.starts_with("x-") || k == "tmpfs" => {}
            "environment" => out.push(("env".into(), environment(value, at))),
            "user" => out.push(("username".into(), at.json(value))),
            "pid" | "ipc" => {
                let mode = m.container_mode(value.as_str().unwrap_or(""));
                out.push((key.clone(), at.str(mode)));
            }
            "working_dir" => out.push(("workdir".into(), at.json(value))),
            "ports" => out.extend(ports(m, name, value, at)),
            "volumes" => out.extend(volumes(m, name, value, at, &mut tmpfs)),
            "healthcheck" => out.push(("healthcheck".into(), healthcheck(m, name, value, at))),
            "extra_hosts" => out.push(("extra_hosts".into(), extra_hosts(m, name, value, at))),
            "devices" => out.push(("devices".into(), devices(value, at))),
            "logging" => {
                if value.get("driver").is_none_or(Json::is_null) && value.get("options").is_some() {
                    m.warn(
                        Some(name),
                        &path,
                        "`options` without `driver` are ignored; name the driver they are for",
                    );
                }
                out.extend(logging(value, at));
            }
            "mem_limit" => limits.push(("memory".into(), bytes(value, at))),
            "memswap_limit" => limits.push(("swap".into(), bytes(value, at))),
            "cpu_shares" => limits.push(("cpu".into(), at.json(value))),
            k => match ignored(k) {
                Some(why) => m.warn(Some(name), &path, format!("is ignored: {why}")),
                None => m.warn(Some(name), &path, "is ignored: maestro does not read it"),
            },
        }
    }
    let deploy_memory = svc
        .get("deploy")
        .and_then(|d| d.get("resources"))
        .and_then(|r| r.get("limits"))
        .and_then(|l| l.get("memory"));
    if let (Some(mem), false) = (deploy_memory, limits.iter().any(|(k, _)| k == "memory")) {
        limits.push(("memory".into(), bytes(mem, at)));
    }
    if !limits.is_empty() {
        out.push(("limits".into(), at.map(limits)));
    }
    if !tmpfs.is_empty() {
        out.push(("tmpfs".into(), at.strs(tmpfs)));
    }
    out
}

fn strings(v: Option<&Json>) -> Vec<String> {
    match v {
        Some(Json::String(s)) => vec![s.clone()],
        Some(Json::Array(items)) => items
            .iter()
            .filter_map(|i| i.as_str().map(str::to_string))
            .collect(),
        _ => Vec::new(),
    }
}

/// Sizes are strings of bytes in the model.
fn bytes(v: &Json, at: At) -> Node {
    match v.as_str().and_then(|s| s.parse::<i128>().ok()) {
        Some(n) => at.int(n),
        None => at.json(v),
    }
}

/// `environment`: variables without a value (unset where Compose looked)
/// are left out, as Compose leaves them out of the container.
fn environment(v: &Json, at: At) -> Node {
    let entries: Vec<(String, Node)> = v
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(_, v)| !v.is_null())
        .map(|(k, v)| {
            (
                k.clone(),
                at.str(
                    v.as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| v.to_string()),
                ),
            )
        })
        .collect();
    at.map(entries)
}

/// Published ports as named ports: the long form's `name`, else the
/// container port (`5432`, `53_udp`), so that link variables read
/// `DB_APP_DB_1_5432_PORT`. A port without a published one is left to the
/// container's networks, with a warning.
fn ports(m: &mut Mapper, name: &str, v: &Json, at: At) -> Option<(String, Node)> {
    let mut named: Vec<(String, Node)> = Vec::new();
    for (i, p) in v.as_array().into_iter().flatten().enumerate() {
        let target = p.get("target").and_then(Json::as_u64).unwrap_or(0);
        let protocol = p.get("protocol").and_then(Json::as_str).unwrap_or("tcp");
        let Some(published) = p.get("published").and_then(Json::as_str) else {
            m.warn(
                Some(name),
                &format!("services/{name}/ports[{i}]"),
                format!("container port {target} has no published port and is not published; other containers of its networks reach it, and `published:` makes it reachable from other ships"),
            );
            continue;
        };
        let mut port_name = match p.get("name").and_then(Json::as_str) {
            Some(n) => n.to_string(),
            None if protocol == "tcp" => target.to_string(),
            None => format!("{target}_{protocol}"),
        };
        let base = port_name.clone();
        let mut n = 2;
        while named.iter().any(|(k, _)| *k == port_name) {
            port_name = format!("{base}_{n}");
            n += 1;
        }
        let host_ip = p.get("host_ip").and_then(Json::as_str).unwrap_or("0.0.0.0");
        let spec = at.map([
            ("exposed", at.str(format!("{target}/{protocol}"))),
            (
                "external",
                at.seq(vec![
                    at.str(host_ip),
                    at.str(format!("{published}/{protocol}")),
                ]),
            ),
        ]);
        named.push((port_name, spec));
    }
    (!named.is_empty()).then(|| ("ports".to_string(), at.map(named)))
}

/// Mounts: bind mounts and named volumes as schema 2's `volumes`
/// (source → {target, mode}), anonymous volumes as `container_volumes`,
/// tmpfs mounts added to `tmpfs`.
fn volumes(
    m: &mut Mapper,
    name: &str,
    v: &Json,
    at: At,
    tmpfs: &mut Vec<String>,
) -> Vec<(String, Node)> {
    let mut mounts: Vec<(String, Node)> = Vec::new();
    let mut anonymous: Vec<String> = Vec::new();
    for (i, vol) in v.as_array().into_iter().flatten().enumerate() {
        let path = format!("services/{name}/volumes[{i}]");
        let target = vol.get("target").and_then(Json::as_str).unwrap_or("");
        let source = vol.get("source").and_then(Json::as_str);
        match (vol.get("type").and_then(Json::as_str), source) {
            (Some("tmpfs"), _) => tmpfs.push(tmpfs_spec(vol, target)),
            (Some("volume"), None) => anonymous.push(target.to_string()),
            (Some("bind" | "volume"), Some(source)) => {
                for (dropped, why) in [
                    (vol.get("volume").and_then(|v| v.get("subpath")).is_some(), "`volume.subpath` is not supported: the whole volume would be mounted; mount a bind of the folder instead"),
                    (vol.get("bind").and_then(|b| b.get("create_host_path")).and_then(Json::as_bool) == Some(false), "`bind.create_host_path: false` is not honoured: the engine creates a missing host path"),
                ] {
                    if dropped {
                        m.warn(Some(name), &path, why);
                    }
                }
                let mode = mount_mode(vol);
                let spec = at.map([("target", at.str(target)), ("mode", at.str(mode))]);
                mounts.push((source.to_string(), spec));
            }
            (kind, _) => m.error(
                Some(name),
                &path,
                format!(
                    "a mount of type `{}` is not supported; expected bind, volume or tmpfs",
                    kind.unwrap_or("")
                ),
            ),
        }
    }
    let mut out = Vec::new();
    if !mounts.is_empty() {
        out.push(("volumes".to_string(), at.map(mounts)));
    }
    if !anonymous.is_empty() {
        out.push(("container_volumes".to_string(), at.strs(anonymous)));
    }
    out
}

fn mount_mode(vol: &Json) -> String {
    let mut mode = vec![
        if vol.get("read_only").and_then(Json::as_bool) == Some(true) {
            "ro"
        } else {
            "rw"
        },
    ];
    let bind = vol.get("bind");
    if let Some(s) = bind.and_then(|b| b.get("selinux")).and_then(Json::as_str) {
        mode.push(if s == "Z" { "Z" } else { "z" });
    }
    if let Some(p) = bind
        .and_then(|b| b.get("propagation"))
        .and_then(Json::as_str)
    {
        mode.push(p);
    }
    if vol
        .get("volume")
        .and_then(|v| v.get("nocopy"))
        .and_then(Json::as_bool)
        == Some(true)
    {
        mode.push("nocopy");
    }
    mode.join(",")
}

fn tmpfs_spec(vol: &Json, target: &str) -> String {
    let t = vol.get("tmpfs");
    let mut opts = Vec::new();
    if let Some(size) = t.and_then(|t| t.get("size")) {
        let size = size
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| size.to_string());
        opts.push(format!("size={size}"));
    }
    if let Some(mode) = t.and_then(|t| t.get("mode")).and_then(Json::as_u64) {
        opts.push(format!("mode={mode:o}"));
    }
    if opts.is_empty() {
        target.to_string()
    } else {
        format!("{target}:{}", opts.join(","))
    }
}

fn healthcheck(m: &mut Mapper, name: &str, v: &Json, at: At) -> Node {
    let keys = [
        "test",
        "interval",
        "timeout",
        "start_period",
        "retries",
        "disable",
    ];
    let mut entries = Vec::new();
    for (k, value) in v.as_object().into_iter().flatten() {
        if keys.contains(&k.as_str()) {
            entries.push((k.clone(), at.json(value)));
        } else {
            m.warn(
                Some(name),
                &format!("services/{name}/healthcheck/{k}"),
                "is ignored: maestro does not set it on the containers it creates",
            );
        }
    }
    at.map(entries)
}

/// `HOST=IP` entries as a mapping; a host given several addresses keeps
/// its first, with a warning.
fn extra_hosts(m: &mut Mapper, name: &str, v: &Json, at: At) -> Node {
    let mut entries: Vec<(String, Node)> = Vec::new();
    for e in strings(Some(v)) {
        let Some((host, ip)) = e.split_once('=').or_else(|| e.split_once(':')) else {
            continue;
        };
        if entries.iter().any(|(h, _)| h == host) {
            m.warn(
                Some(name),
                &format!("services/{name}/extra_hosts"),
                format!("`{host}` has several addresses; maestro gives a host name one, the first"),
            );
            continue;
        }
        entries.push((host.to_string(), at.str(ip)));
    }
    at.map(entries)
}

/// `{source, target, permissions}` as `SOURCE:TARGET:PERMISSIONS`.
fn devices(v: &Json, at: At) -> Node {
    let items: Vec<String> = v
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|d| {
            let source = d.get("source")?.as_str()?;
            let target = d.get("target").and_then(Json::as_str).unwrap_or(source);
            Some(match d.get("permissions").and_then(Json::as_str) {
                Some(p) => format!("{source}:{target}:{p}"),
                None => format!("{source}:{target}"),
            })
        })
        .collect();
    at.strs(items)
}

fn logging(v: &Json, at: At) -> Vec<(String, Node)> {
    let mut out = Vec::new();
    if let Some(driver) = v.get("driver").filter(|d| !d.is_null()) {
        out.push(("log_driver".to_string(), at.json(driver)));
        if let Some(opts) = v.get("options").filter(|o| !o.is_null()) {
            out.push(("log_opt".to_string(), at.json(opts)));
        }
    }
    out
}
