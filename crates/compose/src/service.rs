//! One service of one file, key by key, into Compose v2's normalized form.
//! `extends` is left to the loader, which merges the result onto its base.

use std::path::Path;

use serde_json::{json, Map, Value as Json};

use crate::convert::{to_json, FileCtx};
use crate::error::ComposeError;
use crate::session::{RefKind, Session};
use crate::yaml::{Node, Value};
use crate::{mounts, ports};

/// Keys read as one string.
const STRINGS: &[&str] = &[
    "cgroup",
    "cgroup_parent",
    "container_name",
    "cpuset",
    "domainname",
    "hostname",
    "image",
    "ipc",
    "isolation",
    "mac_address",
    "network_mode",
    "pid",
    "platform",
    "pull_policy",
    "restart",
    "runtime",
    "stop_signal",
    "user",
    "userns_mode",
    "uts",
    "volume_driver",
    "working_dir",
];
/// Keys read as a boolean; `false` is left out as Compose v2 leaves it out,
/// except `init`, which it prints either way.
const BOOLS: &[&str] = &[
    "init",
    "oom_kill_disable",
    "privileged",
    "read_only",
    "stdin_open",
    "tty",
    "use_api_socket",
];
const INTS: &[&str] = &[
    "cpu_count",
    "cpu_period",
    "cpu_quota",
    "cpu_rt_period",
    "cpu_rt_runtime",
    "cpu_shares",
    "oom_score_adj",
    "pids_limit",
    "scale",
    "mem_swappiness",
];
const FLOATS: &[&str] = &["cpus", "cpu_percent"];
/// Byte sizes, printed as strings of bytes.
const SIZES: &[&str] = &["mem_limit", "mem_reservation", "memswap_limit", "shm_size"];
/// A string or a list of strings.
const STRING_LISTS: &[&str] = &["dns", "dns_search", "tmpfs"];
const LISTS: &[&str] = &[
    "cap_add",
    "cap_drop",
    "device_cgroup_rules",
    "dns_opt",
    "external_links",
    "group_add",
    "links",
    "profiles",
    "security_opt",
    "volumes_from",
];
/// Kept as written.
const PASSTHROUGH: &[&str] = &[
    "blkio_config",
    "credential_spec",
    "develop",
    "gpus",
    "post_start",
    "pre_stop",
    "storage_opt",
    "attach",
    "provider",
];

/// Which key a service may have; for messages.
const ALL_HINT: &str = "see docs/compose.md for the keys maestro reads";

pub fn normalize(
    s: &mut Session,
    fc: &FileCtx,
    name: &str,
    node: &Node,
    path: &str,
) -> Result<Map<String, Json>, ComposeError> {
    let entries = match &node.value {
        Value::Null => return Ok(Map::new()),
        Value::Map(m) => m,
        _ => return Err(fc.expected(node, path, "a mapping of service keys")),
    };
    let mut out = Map::new();
    for (key, knode, v) in entries {
        let p = format!("{path}/{key}");
        if v.tag.as_deref() == Some("reset") {
            out.insert(key.clone(), json!({ crate::merge::RESET: true }));
            continue;
        }
        let value = match value(s, fc, name, key, knode, v, &p)? {
            Some(value) => value,
            None => continue,
        };
        let value = if v.tag.as_deref() == Some("override") {
            json!({ crate::merge::OVERRIDE: value })
        } else {
            value
        };
        out.insert(key.clone(), value);
    }
    Ok(out)
}

fn value(
    s: &mut Session,
    fc: &FileCtx,
    service: &str,
    key: &str,
    knode: &Node,
    v: &Node,
    p: &str,
) -> Result<Option<Json>, ComposeError> {
    let k = key;
    let json = if STRINGS.contains(&k) {
        let text = fc.string(v, p)?;
        if matches!(k, "network_mode" | "ipc" | "pid" | "uts" | "cgroup") {
            if let Some(other) = text.strip_prefix("service:") {
                s.refer(service, RefKind::Service, other, fc.loc(v, p));
            }
        }
        if k == "pull_policy" && text == "if_not_present" {
            // compose-go's normalization: the old name of `missing`.
            return Ok(Some(json!("missing")));
        }
        json!(text)
    } else if BOOLS.contains(&k) {
        let b = fc.boolean(v, p)?;
        if !b && k != "init" {
            return Ok(None);
        }
        json!(b)
    } else if INTS.contains(&k) {
        json!(fc.integer(v, p)?)
    } else if FLOATS.contains(&k) {
        fc.number(v, p)?
    } else if SIZES.contains(&k) {
        json!(fc.bytes(v, p)?.to_string())
    } else if STRING_LISTS.contains(&k) {
        json!(fc.string_or_list(v, p)?)
    } else if LISTS.contains(&k) {
        let items = fc.strings(v, p)?;
        if k == "links" || k == "volumes_from" {
            for item in &items {
                let target = match k {
                    "links" => item.split(':').next().unwrap_or(item),
                    _ => item
                        .strip_prefix("service:")
                        .unwrap_or(item)
                        .split(':')
                        .next()
                        .unwrap_or(item),
                };
                if !item.starts_with("container:") {
                    s.refer(service, RefKind::Service, target, fc.loc(v, p));
                }
            }
        }
        json!(items)
    } else if PASSTHROUGH.contains(&k) {
        if k == "develop" {
            s.warn(
                fc.loc(knode, p),
                "`develop` is kept in the model but maestro does not watch files",
            );
        }
        to_json(v)
    } else if k.starts_with("x-") {
        to_json(v)
    } else {
        match special(s, fc, service, k, knode, v, p)? {
            Some(j) => j,
            None => return Ok(None),
        }
    };
    Ok(Some(json))
}

fn special(
    s: &mut Session,
    fc: &FileCtx,
    service: &str,
    k: &str,
    knode: &Node,
    v: &Node,
    p: &str,
) -> Result<Option<Json>, ComposeError> {
    Ok(Some(match k {
        "build" => {
            return Err(fc.err(knode, p, "maestro does not build images: build the image and push it to a registry first, then name it with `image`"));
        }
        "extends" => return Ok(None),
        "command" | "entrypoint" => command(fc, v, p)?,
        "environment" => {
            let mut m = Map::new();
            for (key, value) in fc.key_values(v, p)? {
                m.insert(key, value.map_or(Json::Null, Json::String));
            }
            Json::Object(m)
        }
        "env_file" => env_files(fc, v, p)?,
        "labels" | "annotations" | "sysctls" => fc.labels(v, p)?,
        "label_file" => {
            return Err(fc.err(
                knode,
                p,
                "`label_file` is not supported; write the labels under `labels`",
            ))
        }
        "extra_hosts" => extra_hosts(fc, v, p)?,
        "ports" => ports::ports(fc, v, p)?,
        "expose" => ports::expose(fc, v, p)?,
        "volumes" => mounts::volumes(s, fc, service, v, p)?,
        "devices" => mounts::devices(fc, v, p)?,
        "networks" => networks(s, fc, service, v, p)?,
        "depends_on" => depends_on(s, fc, service, v, p)?,
        "healthcheck" => healthcheck(fc, v, p)?,
        "stop_grace_period" => json!(fc.duration(v, p)?),
        "logging" => logging(fc, v, p)?,
        "ulimits" => ulimits(fc, v, p)?,
        "secrets" | "configs" => objects(s, fc, service, k, v, p)?,
        "deploy" => deploy(fc, v, p)?,
        _ => {
            return Err(fc.err(knode, p, format!("unknown service key `{k}`; {ALL_HINT}")));
        }
    }))
}

fn command(fc: &FileCtx, v: &Node, p: &str) -> Result<Json, ComposeError> {
    Ok(match &v.value {
        Value::Null => Json::Null,
        Value::Str(text) => {
            let words = shlex::split(text).ok_or_else(|| {
                fc.err(
                    v,
                    p,
                    format!("cannot split `{text}` into words (an unclosed quote?)"),
                )
            })?;
            json!(words)
        }
        Value::Seq(_) => json!(fc.strings(v, p)?),
        _ => return Err(fc.expected(v, p, "a string or a list of strings")),
    })
}

/// `env_file` as a list of `{path, required}`; the files are read once all
/// files are merged.
fn env_files(fc: &FileCtx, v: &Node, p: &str) -> Result<Json, ComposeError> {
    let items: Vec<&Node> = match &v.value {
        Value::Seq(items) => items.iter().collect(),
        _ => vec![v],
    };
    let mut out = Vec::new();
    for (i, item) in items.into_iter().enumerate() {
        let ip = if matches!(v.value, Value::Seq(_)) {
            format!("{p}[{i}]")
        } else {
            p.to_string()
        };
        let (path, required) = match &item.value {
            Value::Map(_) => {
                let path = item
                    .get("path")
                    .ok_or_else(|| fc.err(item, &ip, "an env_file in long form needs `path`"))?;
                let required = match item.get("required") {
                    Some(r) => fc.boolean(r, &format!("{ip}/required"))?,
                    None => true,
                };
                (fc.string(path, &format!("{ip}/path"))?, required)
            }
            _ => (fc.string(item, &ip)?, true),
        };
        let abs = fc.host_path(&path, None);
        if required && !Path::new(&abs).is_file() {
            return Err(fc.err(
                item,
                &ip,
                format!("env file {abs} not found; create it or mark it `required: false`"),
            ));
        }
        out.push(json!({"path": abs, "required": required}));
    }
    Ok(Json::Array(out))
}

fn extra_hosts(fc: &FileCtx, v: &Node, p: &str) -> Result<Json, ComposeError> {
    let mut out = Vec::new();
    match &v.value {
        Value::Map(entries) => {
            for (k, _, ip) in entries {
                for one in fc.string_or_list(ip, &format!("{p}/{k}"))? {
                    out.push(format!("{k}={}", unbracket(&one)));
                }
            }
        }
        _ => {
            for (i, text) in fc.strings(v, p)?.into_iter().enumerate() {
                let split = text.split_once('=').or_else(|| text.split_once(':'));
                let Some((host, ip)) = split else {
                    let item = &fc.seq(v, p)?[i];
                    return Err(fc.err(
                        item,
                        &format!("{p}[{i}]"),
                        format!("invalid extra host `{text}`; expected HOST=IP or HOST:IP"),
                    ));
                };
                for one in ip.split(',') {
                    out.push(format!("{host}={}", unbracket(one)));
                }
            }
        }
    }
    Ok(json!(out))
}

/// `[::1]` → `::1`, as compose-go cleans an extra host's address.
fn unbracket(ip: &str) -> &str {
    ip.strip_prefix('[')
        .and_then(|x| x.strip_suffix(']'))
        .filter(|x| !x.is_empty())
        .unwrap_or(ip)
}

fn networks(
    s: &mut Session,
    fc: &FileCtx,
    service: &str,
    v: &Node,
    p: &str,
) -> Result<Json, ComposeError> {
    let mut out = Map::new();
    match &v.value {
        Value::Seq(items) => {
            for (i, item) in items.iter().enumerate() {
                let ip = format!("{p}[{i}]");
                let name = fc.string(item, &ip)?;
                s.refer(service, RefKind::Network, &name, fc.loc(item, &ip));
                out.insert(name, Json::Null);
            }
        }
        Value::Map(entries) => {
            for (name, knode, cfg) in entries {
                let np = format!("{p}/{name}");
                s.refer(service, RefKind::Network, name, fc.loc(knode, &np));
                let value = match &cfg.value {
                    Value::Null => Json::Null,
                    Value::Map(fields) => {
                        let mut m = Map::new();
                        for (fk, _, fv) in fields {
                            let fp = format!("{np}/{fk}");
                            let value = match fk.as_str() {
                                "aliases" | "link_local_ips" => json!(fc.strings(fv, &fp)?),
                                "ipv4_address" | "ipv6_address" | "mac_address" | "interface_name" => json!(fc.string(fv, &fp)?),
                                "priority" | "gw_priority" => json!(fc.integer(fv, &fp)?),
                                "driver_opts" => fc.labels(fv, &fp)?,
                                x if x.starts_with("x-") => to_json(fv),
                                _ => return Err(fc.err(fv, &fp, format!("unknown key `{fk}` in a service network; expected aliases, ipv4_address, ipv6_address, link_local_ips, mac_address, priority or driver_opts"))),
                            };
                            m.insert(fk.clone(), value);
                        }
                        Json::Object(m)
                    }
                    _ => return Err(fc.expected(cfg, &np, "a mapping or null")),
                };
                out.insert(name.clone(), value);
            }
        }
        _ => return Err(fc.expected(v, p, "a list of network names or a mapping")),
    }
    Ok(Json::Object(out))
}

fn depends_on(
    s: &mut Session,
    fc: &FileCtx,
    service: &str,
    v: &Node,
    p: &str,
) -> Result<Json, ComposeError> {
    let mut out = Map::new();
    match &v.value {
        Value::Seq(items) => {
            for (i, item) in items.iter().enumerate() {
                let ip = format!("{p}[{i}]");
                let name = fc.string(item, &ip)?;
                s.refer(service, RefKind::Service, &name, fc.loc(item, &ip));
                out.insert(
                    name,
                    json!({"condition": "service_started", "required": true}),
                );
            }
        }
        Value::Map(entries) => {
            for (name, knode, cfg) in entries {
                let np = format!("{p}/{name}");
                let mut m = Map::new();
                m.insert("condition".into(), json!("service_started"));
                m.insert("required".into(), json!(true));
                if let Some(fields) = cfg.as_map() {
                    for (fk, _, fv) in fields {
                        let fp = format!("{np}/{fk}");
                        match fk.as_str() {
                            "condition" => {
                                let c = fc.string(fv, &fp)?;
                                if !matches!(c.as_str(), "service_started" | "service_healthy" | "service_completed_successfully") {
                                    return Err(fc.err(fv, &fp, format!("unknown condition `{c}`; expected service_started, service_healthy or service_completed_successfully")));
                                }
                                m.insert("condition".into(), json!(c));
                            }
                            "required" => {
                                m.insert("required".into(), json!(fc.boolean(fv, &fp)?));
                            }
                            "restart" => {
                                if fc.boolean(fv, &fp)? {
                                    m.insert("restart".into(), json!(true));
                                }
                            }
                            _ => return Err(fc.err(fv, &fp, format!("unknown key `{fk}` in depends_on; expected condition, required or restart"))),
                        }
                    }
                } else if !matches!(cfg.value, Value::Null) {
                    return Err(fc.expected(
                        cfg,
                        &np,
                        "a mapping with condition, required or restart",
                    ));
                }
                s.refer(service, RefKind::Service, name, fc.loc(knode, &np));
                if m["required"] == json!(false) {
                    if let Some(last) = s.refs.last_mut() {
                        last.required = false;
                    }
                }
                out.insert(name.clone(), Json::Object(m));
            }
        }
        _ => return Err(fc.expected(v, p, "a list of service names or a mapping")),
    }
    Ok(Json::Object(out))
}

fn healthcheck(fc: &FileCtx, v: &Node, p: &str) -> Result<Json, ComposeError> {
    let mut m = Map::new();
    for (k, _, fv) in fc.map(v, p)? {
        let fp = format!("{p}/{k}");
        let value = match k.as_str() {
            "test" => match &fv.value {
                Value::Str(text) => json!(["CMD-SHELL", text]),
                _ => json!(fc.strings(fv, &fp)?),
            },
            "interval" | "timeout" | "start_period" | "start_interval" => json!(fc.duration(fv, &fp)?),
            "retries" => json!(fc.integer(fv, &fp)?),
            "disable" => {
                if !fc.boolean(fv, &fp)? {
                    continue;
                }
                json!(true)
            }
            _ => return Err(fc.err(fv, &fp, format!("unknown key `{k}` in healthcheck; expected test, interval, timeout, retries, start_period, start_interval or disable"))),
        };
        m.insert(k.clone(), value);
    }
    Ok(Json::Object(m))
}

fn logging(fc: &FileCtx, v: &Node, p: &str) -> Result<Json, ComposeError> {
    let mut m = Map::new();
    for (k, _, fv) in fc.map(v, p)? {
        let fp = format!("{p}/{k}");
        let value = match k.as_str() {
            "driver" => json!(fc.string(fv, &fp)?),
            "options" => fc.labels(fv, &fp)?,
            _ => {
                return Err(fc.err(
                    fv,
                    &fp,
                    format!("unknown key `{k}` in logging; expected driver or options"),
                ))
            }
        };
        m.insert(k.clone(), value);
    }
    Ok(Json::Object(m))
}

fn ulimits(fc: &FileCtx, v: &Node, p: &str) -> Result<Json, ComposeError> {
    let mut m = Map::new();
    for (k, _, fv) in fc.map(v, p)? {
        let fp = format!("{p}/{k}");
        let value = match &fv.value {
            Value::Map(_) => {
                let soft = fv.get("soft").ok_or_else(|| {
                    fc.err(fv, &fp, "a ulimit in long form needs `soft` and `hard`")
                })?;
                let hard = fv.get("hard").ok_or_else(|| {
                    fc.err(fv, &fp, "a ulimit in long form needs `soft` and `hard`")
                })?;
                json!({"soft": fc.integer(soft, &format!("{fp}/soft"))?, "hard": fc.integer(hard, &format!("{fp}/hard"))?})
            }
            _ => json!(fc.integer(fv, &fp)?),
        };
        m.insert(k.clone(), value);
    }
    Ok(Json::Object(m))
}

fn objects(
    s: &mut Session,
    fc: &FileCtx,
    service: &str,
    k: &str,
    v: &Node,
    p: &str,
) -> Result<Json, ComposeError> {
    let kind = if k == "secrets" {
        RefKind::Secret
    } else {
        RefKind::Config
    };
    let mut out = Vec::new();
    for (i, item) in fc.seq(v, p)?.iter().enumerate() {
        let ip = format!("{p}[{i}]");
        let entry = match &item.value {
            Value::Str(name) if kind == RefKind::Secret => {
                json!({"source": name, "target": format!("/run/secrets/{name}")})
            }
            Value::Str(name) => json!({"source": name}),
            Value::Map(fields) => {
                let mut m = Map::new();
                for (fk, _, fv) in fields {
                    let fp = format!("{ip}/{fk}");
                    let value = match fk.as_str() {
                        "source" | "target" => json!(fc.string(fv, &fp)?),
                        "uid" | "gid" => json!(fc.scalar(fv, &fp)?),
                        "mode" => json!(file_mode(fc, fv, &fp)?),
                        x if x.starts_with("x-") => to_json(fv),
                        _ => {
                            return Err(fc.err(
                                fv,
                                &fp,
                                format!(
                                    "unknown key `{fk}`; expected source, target, uid, gid or mode"
                                ),
                            ))
                        }
                    };
                    m.insert(fk.clone(), value);
                }
                let Some(source) = m.get("source").and_then(Json::as_str).map(str::to_string)
                else {
                    return Err(fc.err(
                        item,
                        &ip,
                        format!("a {} in long form needs `source`", kind.noun()),
                    ));
                };
                if kind == RefKind::Secret && !m.contains_key("target") {
                    m.insert("target".into(), json!(format!("/run/secrets/{source}")));
                }
                Json::Object(m)
            }
            _ => return Err(fc.expected(item, &ip, "a name or a mapping")),
        };
        if let Some(src) = entry["source"].as_str() {
            s.refer(service, kind, src, fc.loc(item, &ip));
        }
        out.push(entry);
    }
    Ok(Json::Array(out))
}

/// A secret's or config's `mode`: a YAML integer (`0440` is octal) or a
/// string of octal digits, printed as compose-go's `FileMode` prints it
/// (`"0440"`).
fn file_mode(fc: &FileCtx, v: &Node, p: &str) -> Result<String, ComposeError> {
    let mode = match &v.value {
        Value::Str(text) => u32::from_str_radix(text, 8).map_err(|_| {
            fc.err(
                v,
                p,
                format!("invalid mode `{text}`; expected octal digits such as 0440"),
            )
        })?,
        _ => {
            let n = fc.integer(v, p)?;
            u32::try_from(n).map_err(|_| {
                fc.err(
                    v,
                    p,
                    format!("invalid mode `{n}`; expected a file mode such as 0440"),
                )
            })?
        }
    };
    Ok(format!("0{mode:o}"))
}

/// `deploy`, kept as written with its sizes, CPUs and durations normalized.
fn deploy(fc: &FileCtx, v: &Node, p: &str) -> Result<Json, ComposeError> {
    fc.map(v, p)?;
    let mut out = to_json(v);
    // compose-go's DeployConfig holds `resources` and `placement` as structs,
    // which Go's JSON encoder prints even when empty.
    if let Json::Object(m) = &mut out {
        m.entry("resources").or_insert_with(|| json!({}));
        m.entry("placement").or_insert_with(|| json!({}));
    }
    let durations = [
        ("restart_policy", "delay"),
        ("restart_policy", "window"),
        ("update_config", "delay"),
        ("update_config", "monitor"),
        ("rollback_config", "delay"),
        ("rollback_config", "monitor"),
    ];
    for (section, key) in durations {
        if let Some(node) = v.get(section).and_then(|n| n.get(key)) {
            out[section][key] = json!(fc.duration(node, &format!("{p}/{section}/{key}"))?);
        }
    }
    if let Some(replicas) = v.get("replicas") {
        out["replicas"] = json!(fc.integer(replicas, &format!("{p}/replicas"))?);
    }
    if let Some(labels) = v.get("labels") {
        out["labels"] = fc.labels(labels, &format!("{p}/labels"))?;
    }
    for tier in ["limits", "reservations"] {
        let Some(t) = v.get("resources").and_then(|r| r.get(tier)) else {
            continue;
        };
        let tp = format!("{p}/resources/{tier}");
        if let Some(cpus) = t.get("cpus") {
            out["resources"][tier]["cpus"] = fc.number(cpus, &format!("{tp}/cpus"))?;
        }
        if let Some(mem) = t.get("memory") {
            out["resources"][tier]["memory"] =
                json!(fc.bytes(mem, &format!("{tp}/memory"))?.to_string());
        }
    }
    Ok(out)
}
