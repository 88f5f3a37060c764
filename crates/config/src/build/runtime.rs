//! How an instance's container runs: its restart policy, stop timeout and
//! the Compose-style options (see `crate::options`), resource `limits`,
//! `ulimits`, logging, labels and `privileged`.
//! Imports only `drafts` and `entries` (the service's limits it overlays).

use indexmap::IndexMap;

use super::drafts::ServiceDraft;
use super::entries::{named_entries, overlay};
use crate::model::{ContainerOptions, Limits, LogConfig, RestartPolicy, Ulimit};
use crate::pyfmt;
use crate::reader::{get_set, labels, parse_bytes, show, KeyPath, Reader};
use crate::yaml::{Node, Value};

const RESTART_POLICIES: &[&str] = &["no", "always", "on-failure", "unless-stopped"];

/// An instance's run settings.
pub(super) struct RunSettings {
    pub(super) restart: RestartPolicy,
    pub(super) stop_timeout: u32,
    pub(super) options: ContainerOptions,
    pub(super) limits: Limits,
    pub(super) ulimits: Vec<Ulimit>,
    pub(super) log_config: Option<LogConfig>,
    pub(super) labels: IndexMap<String, String>,
    pub(super) privileged: bool,
}

/// Reads the run settings of the instance at `path` (its `entries`), the
/// options and limits laid over its service's.
pub(super) fn run_settings(
    r: &mut Reader,
    service: &ServiceDraft,
    entries: &[(Node, Node)],
    path: &KeyPath,
) -> RunSettings {
    let restart = restart(
        r,
        get_set(entries, "restart"),
        &format_args!("{path}/restart"),
    );
    let given_timeout = get_set(entries, "stop_timeout")
        .and_then(|n| r.integer(n, &format_args!("{path}/stop_timeout"), 0, 86_400))
        .map(|t| t as u32);
    let sources = crate::options::Sources {
        service: service.node.as_map().unwrap_or(&[]),
        service_path: &format_args!("services/{}", service.name),
        instance: entries,
        instance_path: path,
    };
    let (options, grace) = crate::options::build(r, &sources, given_timeout);
    let stop_timeout = grace.or(given_timeout).unwrap_or(10);
    let instance_limits = named_entries(
        r,
        get_set(entries, "limits"),
        &format_args!("{path}/limits"),
    );
    let limits = limits(r, &overlay(&service.limits, instance_limits), path);
    let ulimits = ulimits(
        r,
        get_set(entries, "ulimits"),
        &format_args!("{path}/ulimits"),
    );
    let log_config = log_config(
        r,
        get_set(entries, "log_driver"),
        get_set(entries, "log_opt"),
        path,
    );
    let labels = labels(
        r,
        get_set(entries, "labels"),
        &format_args!("{path}/labels"),
    );
    let privileged = get_set(entries, "privileged")
        .and_then(|n| r.boolean(n, &format_args!("{path}/privileged")))
        .unwrap_or(false);
    RunSettings {
        restart,
        stop_timeout,
        options,
        limits,
        ulimits,
        log_config,
        labels,
        privileged,
    }
}

fn no_restart() -> RestartPolicy {
    RestartPolicy {
        name: "no".into(),
        retries: 0,
    }
}

/// `restart`: a policy name (`"on-failure:3"`), `{name, retries}` (or
/// `maximum_retry_count`), or `false`; "no" when unset or wrong.
fn restart(r: &mut Reader, node: Option<&Node>, path: &KeyPath) -> RestartPolicy {
    let Some(node) = node else {
        return no_restart();
    };
    let policy = match &node.value {
        Value::Str(s) => {
            let (name, retries) = match s.split_once(':') {
                Some((n, count)) => (n, Some(count)),
                None => (s.as_str(), None),
            };
            let retries_node = retries.map(|c| Node {
                value: Value::Str(c.to_string()),
                mark: node.mark,
            });
            restart_policy(r, path, name, retries_node.as_ref(), node)
        }
        Value::Map(m) => {
            r.unknown_keys(m, path, crate::keys::RESTART);
            let name = get_set(m, "name")
                .and_then(|n| r.string(n, &format_args!("{path}/name")))
                .unwrap_or_else(|| "no".into());
            let retries = get_set(m, "retries").or_else(|| get_set(m, "maximum_retry_count"));
            restart_policy(r, path, &name, retries, node)
        }
        Value::Bool(false) => Some(no_restart()),
        Value::Bool(true) => {
            r.error(node, path, format!(
                "invalid restart policy: YAML 1.1 reads an unquoted yes/on/true as a boolean; expected one of: {} (quote it, e.g. \"always\")",
                RESTART_POLICIES.join(", ")
            ));
            None
        }
        _ => {
            r.error(node, path, format!(
                "invalid restart policy {}; expected one of: {} (as \"on-failure:3\" or {{name: on-failure, retries: 3}})",
                show(node),
                RESTART_POLICIES.join(", ")
            ));
            None
        }
    };
    policy.unwrap_or_else(no_restart)
}

/// The policy `name` with its `retries` (the policy written at `at`).
fn restart_policy(
    r: &mut Reader,
    path: &KeyPath,
    name: &str,
    retries: Option<&Node>,
    at: &Node,
) -> Option<RestartPolicy> {
    if !RESTART_POLICIES.contains(&name) {
        r.error(
            at,
            path,
            format!(
                "unknown restart policy `{name}`; expected one of: {}",
                RESTART_POLICIES.join(", ")
            ),
        );
        return None;
    }
    let retries = match retries {
        Some(n) => retry_count(r, path, n)?,
        None => 0,
    };
    Some(RestartPolicy {
        name: name.to_string(),
        retries,
    })
}

/// A restart policy's retry count, 0 to 1000000.
fn retry_count(r: &mut Reader, path: &KeyPath, n: &Node) -> Option<u32> {
    match &n.value {
        Value::Int(i) if (0..=1_000_000).contains(i) => Some(*i as u32),
        Value::Str(t) if t.trim().parse::<u32>().is_ok_and(|c| c <= 1_000_000) => {
            Some(t.trim().parse().unwrap_or(0))
        }
        _ => {
            r.error(n, path, format!(
                    "invalid retry count {} in the restart policy; expected a whole number from 0 to 1000000",
                    show(n)
                ));
            None
        }
    }
}

fn limits(r: &mut Reader, entries: &[(String, &Node)], path: &KeyPath) -> Limits {
    let mut out = Limits::default();
    for (name, node) in entries {
        let lpath = format_args!("{path}/limits/{name}");
        if node.is_null() {
            continue;
        }
        let bytes = |r: &mut Reader| -> Option<i64> {
            match &node.value {
                Value::Int(i) if *i >= -1 && *i <= i64::MAX as i128 => Some(*i as i64),
                Value::Str(s) => match parse_bytes(s) {
                    Ok(b) => Some(b),
                    Err(why) => {
                        r.error(node, &lpath, format!("{why}; expected bytes, or a number with a k, m or g suffix (e.g. 512m)"));
                        None
                    }
                },
                _ => {
                    r.expected(
                        node,
                        &lpath,
                        "bytes, or a number with a k, m or g suffix (e.g. 512m)",
                    );
                    None
                }
            }
        };
        match name.as_str() {
            "memory" => {
                out.memory = match bytes(r) {
                    Some(b) if b < 0 => {
                        r.error(
                            node,
                            &lpath,
                            format!("a memory limit of {b} bytes; expected bytes, or a number with a k, m or g suffix (e.g. 512m), 0 for no limit"),
                        );
                        None
                    }
                    other => other.map(|b| b as u64),
                }
            }
            "swap" => out.swap = bytes(r),
            "cpu" => {
                out.cpu_shares = r
                    .integer(node, &lpath, 0, u32::MAX as i128)
                    .map(|c| c as u64)
            }
            _ => r.warn(
                node,
                &format_args!("{path}/limits"),
                format!(
                    "unknown limit `{name}` is ignored (known: {})",
                    crate::keys::LIMITS.join(", ")
                ),
            ),
        }
    }
    out
}

fn ulimits(r: &mut Reader, node: Option<&Node>, path: &KeyPath) -> Vec<Ulimit> {
    let mut out = Vec::new();
    let Some(node) = node else { return out };
    for (k, v) in r.map(node, path).unwrap_or(&[]) {
        let Some(name) = r.key(k, path) else { continue };
        let upath = format_args!("{path}/{name}");
        let range = (-1, i64::MAX as i128);
        match &v.value {
            Value::Int(_) => {
                if let Some(n) = r.integer(v, &upath, range.0, range.1) {
                    out.push(Ulimit {
                        name,
                        soft: n as i64,
                        hard: n as i64,
                    });
                }
            }
            Value::Map(m) => {
                let soft = get_set(m, "soft")
                    .and_then(|n| r.integer(n, &format_args!("{upath}/soft"), range.0, range.1));
                let hard = get_set(m, "hard")
                    .and_then(|n| r.integer(n, &format_args!("{upath}/hard"), range.0, range.1));
                match (soft.or(hard), hard.or(soft)) {
                    (Some(s), Some(h)) => out.push(Ulimit {
                        name,
                        soft: s as i64,
                        hard: h as i64,
                    }),
                    _ => r.expected(v, &upath, "a number, or {soft: N, hard: N}"),
                }
            }
            _ => r.expected(v, &upath, "a number, or {soft: N, hard: N}"),
        }
    }
    out
}

fn log_config(
    r: &mut Reader,
    driver: Option<&Node>,
    options: Option<&Node>,
    path: &KeyPath,
) -> Option<LogConfig> {
    let driver = driver.and_then(|n| {
        r.name(
            n,
            &format_args!("{path}/log_driver"),
            "a logging driver name",
        )
    });
    let mut opts = IndexMap::new();
    if let Some(n) = options {
        for (k, v) in r.map(n, &format_args!("{path}/log_opt")).unwrap_or(&[]) {
            if let Some(key) = r.key(k, &format_args!("{path}/log_opt")) {
                opts.insert(key, pyfmt::env_string(&v.value).unwrap_or_default());
            }
        }
        if driver.is_none() && !opts.is_empty() {
            r.warn(
                n,
                &format_args!("{path}/log_opt"),
                "log_opt without log_driver is ignored",
            );
        }
    }
    driver.map(|driver| LogConfig {
        driver,
        options: opts,
    })
}
