//! The `dump` of maestro's additions to the file: a container's options
//! with Compose's names (its secrets among them), a service's hooks, proxy
//! route and rollout, the declared networks, volumes and secrets (where
//! each value comes from, never a value) and the proxy's settings. Each is
//! written only when the file uses it, so a MaestroNG file dumps as before.

use serde_json::{json, Value};

use crate::model::{
    ContainerOptions, Environment, FailureAction, Hooks, ProxyRoute, ProxySettings, SecretFrom,
    SecretMount, UpdateConfig, UpdateOrder,
};

/// A container's options, by their keys in the file (unset ones left out).
pub(crate) fn options(o: &ContainerOptions) -> Option<Value> {
    if *o == ContainerOptions::default() {
        return None;
    }
    let all = json!({
        "entrypoint": o.entrypoint, "tmpfs": o.tmpfs, "read_only": o.read_only,
        "init": o.init, "stop_signal": o.stop_signal, "stop_grace_period": o.stop_grace_period,
        "shm_size": o.shm_size, "sysctls": o.sysctls,
        "devices": o.devices.iter().map(|d| format!("{}:{}:{}", d.host, d.container, d.permissions)).collect::<Vec<_>>(),
        "gpus": o.gpus.iter().map(|g| json!({
            "driver": g.driver, "count": g.count, "device_ids": g.device_ids,
            "capabilities": g.capabilities, "options": g.options,
        })).collect::<Vec<_>>(),
        "healthcheck": o.healthcheck.as_ref().map(|h| json!({
            "test": h.test, "interval": h.interval, "timeout": h.timeout,
            "retries": h.retries, "start_period": h.start_period,
        })),
        "pid": o.pid, "ipc": o.ipc, "group_add": o.group_add, "pids_limit": o.pids_limit,
        "cpuset": o.cpuset, "mac_address": o.mac_address, "platform": o.platform,
        "networks": o.networks.iter().map(|a| json!({
            "network": a.network, "aliases": a.aliases, "ipv4_address": a.ipv4_address,
        })).collect::<Vec<_>>(),
        "secrets": o.secrets.iter().map(secret_mount).collect::<Vec<_>>(),
    });
    let kept = all
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(_, v)| !matches!(v, Value::Null | Value::Bool(false)))
        .filter(|(_, v)| !v.as_array().is_some_and(Vec::is_empty))
        .filter(|(_, v)| !v.as_object().is_some_and(serde_json::Map::is_empty))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    Some(Value::Object(kept))
}

/// The top-level `networks`, when there are any.
pub(crate) fn networks(env: &Environment) -> Option<Value> {
    (!env.networks.is_empty()).then(|| {
        env.networks
            .iter()
            .map(|(k, n)| {
                let subnets: Vec<Value> = n
                    .subnets
                    .iter()
                    .map(|s| json!({"subnet": s.subnet, "gateway": s.gateway, "ip_range": s.ip_range}))
                    .collect();
                let v = json!({
                    "name": n.name, "driver": n.driver, "driver_opts": n.driver_opts,
                    "labels": n.labels, "internal": n.internal, "attachable": n.attachable,
                    "subnets": subnets, "external": n.external,
                });
                (k.clone(), v)
            })
            .collect()
    })
}

/// The top-level `volumes`, when there are any.
pub(crate) fn volumes(env: &Environment) -> Option<Value> {
    (!env.volumes.is_empty()).then(|| {
        env.volumes
            .iter()
            .map(|(k, v)| {
                let v = json!({
                    "name": v.name, "driver": v.driver, "driver_opts": v.driver_opts,
                    "labels": v.labels, "external": v.external,
                });
                (k.clone(), v)
            })
            .collect()
    })
}

/// A secret a container receives: as a file (its path, owner and mode), or
/// as a variable.
fn secret_mount(m: &SecretMount) -> Value {
    match &m.as_env {
        Some(var) => json!({"source": m.source, "as_env": var}),
        None => json!({
            "source": m.source, "target": m.target, "uid": m.uid, "gid": m.gid,
            "mode": format!("{:04o}", m.mode),
        }),
    }
}

/// A service's hooks, when it has any.
pub(crate) fn hooks(h: &Hooks) -> Option<Value> {
    (!h.is_empty()).then(|| json!({"pre_deploy": h.pre_deploy, "post_deploy": h.post_deploy}))
}

/// The top-level `secrets`, when there are any: where each value comes
/// from (the file's path, the variable's name, the command), never a value.
pub(crate) fn secrets(env: &Environment) -> Option<Value> {
    (!env.secrets.is_empty()).then(|| {
        env.secrets
            .iter()
            .map(|(k, s)| {
                let v = match &s.from {
                    SecretFrom::File(path) => json!({"file": path.display().to_string()}),
                    SecretFrom::Environment(var) => json!({"environment": var}),
                    SecretFrom::Command { argv, timeout } => {
                        json!({"command": argv, "timeout": timeout})
                    }
                };
                (k.clone(), v)
            })
            .collect()
    })
}

/// A service's proxy route, when it has one.
pub(crate) fn proxy_route(route: Option<&ProxyRoute>) -> Option<Value> {
    let p = route?;
    Some(json!({
        "hosts": p.hosts, "path_prefix": p.path_prefix, "app_port": p.app_port,
        "healthcheck": {
            "path": p.healthcheck.path, "interval": p.healthcheck.interval,
            "timeout": p.healthcheck.timeout,
        },
        "response_timeout": p.response_timeout, "drain_timeout": p.drain_timeout,
        "deploy_timeout": p.deploy_timeout,
        "ssl": p.tls.as_ref().map(|t| json!({
            "certificate_pem": t.certificate.display().to_string(),
            "private_key_pem": t.private_key.display().to_string(),
        })),
    }))
}

/// A service's `deploy.update_config`, when it is not the default.
pub(crate) fn update_config(u: &UpdateConfig) -> Option<Value> {
    (*u != UpdateConfig::default()).then(|| {
        json!({
            "parallelism": u.parallelism, "delay": u.delay,
            "order": u.order.map(|o| match o {
                UpdateOrder::StartFirst => "start-first",
                UpdateOrder::StopFirst => "stop-first",
            }),
            "failure_action": match u.failure_action {
                FailureAction::Pause => "pause",
                FailureAction::Rollback => "rollback",
            },
            "monitor": u.monitor,
        })
    })
}

/// The proxy's settings, when a service is proxied or the file sets them.
pub(crate) fn proxy_settings(env: &Environment) -> Option<Value> {
    let used = env.services.values().any(|s| s.proxy.is_some());
    let p = &env.proxy;
    (used || *p != ProxySettings::default())
        .then(|| json!({"image": p.image, "http_port": p.http_port, "https_port": p.https_port}))
}
