//! The container options with Compose's names (`tmpfs`, `healthcheck`,
//! `gpus`…) in the three places a setting lives: the creation request, the
//! normalized spec that is hashed, and the field comparison that names a
//! drift (`tmpfs changed`). Pure.

use std::collections::{BTreeMap, HashMap};

use maestro_config::ContainerOptions;
use maestro_engine::models::{
    ContainerCreateBody, DeviceMapping, DeviceRequest, HealthConfig, HostConfig,
};
use serde_json::Value;

pub use crate::labels::LABEL_PLATFORM;

fn i64_of(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn non_empty<T>(items: Vec<T>) -> Option<Vec<T>> {
    (!items.is_empty()).then_some(items)
}

/// Sets the options on the request (labels included: the platform's).
pub(crate) fn apply(o: &ContainerOptions, body: &mut ContainerCreateBody) {
    body.entrypoint = o.entrypoint.clone();
    body.stop_signal = o.stop_signal.clone();
    body.stop_timeout = o.stop_grace_period.map(i64::from);
    body.healthcheck = o.healthcheck.as_ref().map(|h| HealthConfig {
        test: non_empty(h.test.clone()),
        interval: h.interval.map(i64_of),
        timeout: h.timeout.map(i64_of),
        retries: h.retries,
        start_period: h.start_period.map(i64_of),
        start_interval: None,
    });
    if let Some(platform) = &o.platform {
        body.labels
            .get_or_insert_with(HashMap::new)
            .insert(LABEL_PLATFORM.into(), platform.clone());
    }
    let host = body.host_config.get_or_insert_with(HostConfig::default);
    host.tmpfs = (!o.tmpfs.is_empty()).then(|| o.tmpfs.clone().into_iter().collect());
    host.readonly_rootfs = o.read_only.then_some(true);
    host.init = o.init;
    host.shm_size = o.shm_size.map(i64_of);
    host.sysctls = (!o.sysctls.is_empty()).then(|| o.sysctls.clone().into_iter().collect());
    host.devices = non_empty(
        o.devices
            .iter()
            .map(|d| DeviceMapping {
                path_on_host: Some(d.host.clone()),
                path_in_container: Some(d.container.clone()),
                cgroup_permissions: Some(d.permissions.clone()),
            })
            .collect(),
    );
    host.device_requests = non_empty(
        o.gpus
            .iter()
            .map(|g| DeviceRequest {
                driver: g.driver.clone(),
                count: g.count,
                device_ids: non_empty(g.device_ids.clone()),
                capabilities: Some(vec![g.capabilities.clone()]),
                options: (!g.options.is_empty()).then(|| g.options.clone().into_iter().collect()),
            })
            .collect(),
    );
    host.pid_mode = o.pid.clone();
    host.ipc_mode = o.ipc.clone();
    host.group_add = non_empty(o.group_add.clone());
    host.pids_limit = o.pids_limit;
    host.cpuset_cpus = o.cpuset.clone();
}

/// The options' part of the normalized spec, under the file's names.
pub(crate) fn hashed(json: &Value) -> Vec<(&'static str, Value)> {
    let host = &json["HostConfig"];
    vec![
        ("entrypoint", json["Entrypoint"].clone()),
        ("stop_signal", json["StopSignal"].clone()),
        ("stop_grace_period", json["StopTimeout"].clone()),
        ("healthcheck", canonical(&json["Healthcheck"])),
        ("platform", json["Labels"][LABEL_PLATFORM].clone()),
        ("mac_address", Value::from(wanted_mac(json))),
        (
            "networks",
            json["Labels"][crate::labels::LABEL_NETWORKS].clone(),
        ),
        ("tmpfs", canonical(&host["Tmpfs"])),
        ("read_only", host["ReadonlyRootfs"].clone()),
        ("init", host["Init"].clone()),
        ("shm_size", host["ShmSize"].clone()),
        ("sysctls", canonical(&host["Sysctls"])),
        ("devices", canonical(&host["Devices"])),
        ("gpus", canonical(&host["DeviceRequests"])),
        ("pid", host["PidMode"].clone()),
        ("ipc", host["IpcMode"].clone()),
        ("group_add", sorted(&host["GroupAdd"])),
        ("pids_limit", host["PidsLimit"].clone()),
        ("cpuset", host["CpusetCpus"].clone()),
    ]
}

/// Objects with sorted keys, recursively.
fn canonical(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let sorted: BTreeMap<&String, Value> =
                map.iter().map(|(k, v)| (k, canonical(v))).collect();
            Value::Object(sorted.into_iter().map(|(k, v)| (k.clone(), v)).collect())
        }
        Value::Array(items) => Value::Array(items.iter().map(canonical).collect()),
        other => other.clone(),
    }
}

/// A list that is a set, its items as strings, sorted.
pub(crate) fn sorted(v: &Value) -> Value {
    let mut items: Vec<String> = v
        .as_array()
        .into_iter()
        .flatten()
        .map(|x| {
            x.as_str()
                .map(str::to_owned)
                .unwrap_or_else(|| x.to_string())
        })
        .collect();
    items.sort();
    Value::from(items)
}

/// Both unset (or at their zero), or equal once canonical.
fn same(a: &Value, b: &Value) -> bool {
    (is_empty(a) && is_empty(b)) || canonical(a) == canonical(b)
}

/// An object without its unset members (an engine reports `"DeviceIDs":
/// null` where the request left it out).
fn without_empty(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(_, x)| !is_empty(x))
                .map(|(k, x)| (k.clone(), without_empty(x)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(without_empty).collect()),
        other => other.clone(),
    }
}

/// The options that differ between the request (`want`) and the inspected
/// container (`have`), by their names in the file: those of the container's
/// configuration, then those of its host configuration. Settings an image
/// or a daemon fills in by default (entrypoint, stop signal, shm size, ipc
/// mode, healthcheck) count only when the file sets them.
pub(crate) fn differences(want: &Value, have: &Value) -> Vec<String> {
    config_differences(want, have)
        .into_iter()
        .chain(host_differences(want, have))
        .filter(|(_, differs)| *differs)
        .map(|(name, _)| format!("{name} changed"))
        .collect()
}

/// Set in the request and not the same in the container.
fn set_and_differs(w: &Value, h: &Value) -> bool {
    !w.is_null() && !same(w, h)
}

/// Each option of the container's configuration (the process, its
/// healthcheck, platform, MAC address and networks), with whether it differs.
fn config_differences(want: &Value, have: &Value) -> [(&'static str, bool); 7] {
    let (wc, hc) = (want, &have["Config"]);
    // The engine fills in what the file leaves out from the image's check.
    let health_differs = without_empty(&wc["Healthcheck"])
        .as_object()
        .into_iter()
        .flatten()
        .any(|(k, v)| hc["Healthcheck"][k] != *v);
    let label = |v: &Value, name: &str| v["Labels"][name].as_str().unwrap_or("").to_owned();
    [
        (
            "entrypoint",
            set_and_differs(&wc["Entrypoint"], &hc["Entrypoint"]),
        ),
        (
            "stop_signal",
            set_and_differs(&wc["StopSignal"], &hc["StopSignal"]),
        ),
        (
            "stop_grace_period",
            set_and_differs(&wc["StopTimeout"], &hc["StopTimeout"]),
        ),
        ("healthcheck", health_differs),
        (
            "platform",
            label(wc, LABEL_PLATFORM) != label(hc, LABEL_PLATFORM),
        ),
        (
            "mac_address",
            wanted_mac(want).is_some_and(|mac| !has_mac(have, &mac)),
        ),
        (
            "networks",
            label(wc, crate::labels::LABEL_NETWORKS) != label(hc, crate::labels::LABEL_NETWORKS),
        ),
    ]
}

/// Each option of the host configuration (mounts, kernel settings, devices,
/// namespaces, groups and limits), with whether it differs.
fn host_differences(want: &Value, have: &Value) -> [(&'static str, bool); 12] {
    let (wh, hh) = (&want["HostConfig"], &have["HostConfig"]);
    // Podman says `private` for the default namespace, Docker nothing.
    let pid_mode = |v: &Value| match v.as_str() {
        Some("private") | None => Value::Null,
        Some(_) => v.clone(),
    };
    let pids = |v: &Value| v.as_i64().filter(|n| *n > 0).unwrap_or(0);
    // Podman gives every container its default limit (2,048) when none is
    // asked for: only a limit the file sets counts there.
    let podman = have["Config"]["Env"]
        .as_array()
        .is_some_and(|env| env.iter().any(|v| v.as_str() == Some("container=podman")));
    let unset_on_podman = podman && pids(&wh["PidsLimit"]) == 0;
    [
        ("tmpfs", !same(&wh["Tmpfs"], &hh["Tmpfs"])),
        (
            "read_only",
            !same(&wh["ReadonlyRootfs"], &hh["ReadonlyRootfs"]),
        ),
        ("init", !same(&wh["Init"], &hh["Init"])),
        ("shm_size", set_and_differs(&wh["ShmSize"], &hh["ShmSize"])),
        ("sysctls", !same(&wh["Sysctls"], &hh["Sysctls"])),
        ("devices", !same(&wh["Devices"], &hh["Devices"])),
        (
            "gpus",
            without_empty(&wh["DeviceRequests"]) != without_empty(&hh["DeviceRequests"])
                && !(is_empty(&wh["DeviceRequests"]) && is_empty(&hh["DeviceRequests"])),
        ),
        (
            "pid",
            !same(&pid_mode(&wh["PidMode"]), &pid_mode(&hh["PidMode"])),
        ),
        ("ipc", set_and_differs(&wh["IpcMode"], &hh["IpcMode"])),
        (
            "group_add",
            sorted(&wh["GroupAdd"]) != sorted(&hh["GroupAdd"]),
        ),
        (
            "pids_limit",
            !unset_on_podman && pids(&wh["PidsLimit"]) != pids(&hh["PidsLimit"]),
        ),
        ("cpuset", !same(&wh["CpusetCpus"], &hh["CpusetCpus"])),
    ]
}

/// Whether the security options differ, beyond the `label=disable` an
/// engine adds to a container sharing the host's PID or IPC namespace.
pub(crate) fn security_differs(want_host: &Value, have_host: &Value) -> bool {
    let host_ns = ["PidMode", "IpcMode"]
        .iter()
        .any(|k| have_host[k].as_str() == Some("host"));
    let wanted = sorted(&want_host["SecurityOpt"]);
    let mut have = sorted(&have_host["SecurityOpt"]);
    if host_ns
        && !wanted
            .as_array()
            .is_some_and(|w| w.contains(&Value::from("label=disable")))
    {
        have = Value::from(
            have.as_array()
                .into_iter()
                .flatten()
                .filter(|v| v.as_str() != Some("label=disable"))
                .cloned()
                .collect::<Vec<_>>(),
        );
    }
    !same(&wanted, &have)
}

/// The MAC address the request gives an endpoint, if any.
fn wanted_mac(body: &Value) -> Option<String> {
    body["NetworkingConfig"]["EndpointsConfig"]
        .as_object()?
        .values()
        .find_map(|e| e["MacAddress"].as_str().map(str::to_owned))
}

/// Whether the container has `mac` (at the top, as engines before API
/// 1.44 report it, or on one of its networks).
fn has_mac(have: &Value, mac: &str) -> bool {
    have["Config"]["MacAddress"].as_str() == Some(mac)
        || have["NetworkSettings"]["Networks"]
            .as_object()
            .into_iter()
            .flatten()
            .any(|(_, n)| n["MacAddress"].as_str() == Some(mac))
}

/// null, "", 0, false, [] and {} (a setting left at its default).
pub(crate) fn is_empty(v: &serde_json::Value) -> bool {
    use serde_json::Value;
    match v {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(options: &str) -> Value {
        let source = maestro_config::Source {
            name: "t.yaml".into(),
            base_dir: ".".into(),
            text: format!(
                "name: t\nships: {{a: {{ip: 10.0.0.1}}}}\nservices:\n  s:\n    image: b\n    instances:\n      s-1: {{ship: a, {options}}}\n"
            ),
        };
        let env = maestro_config::load(&source, &Default::default()).expect("valid");
        serde_json::to_value(crate::decide::spec::create_body(
            &env,
            &env.containers["s-1"],
        ))
        .unwrap_or_default()
    }

    /// What an engine reports for a container made from `body`.
    fn as_created(body: &Value) -> Value {
        let mut config = body.clone();
        if let Some(m) = config.as_object_mut() {
            m.remove("HostConfig");
        }
        serde_json::json!({"Config": config, "HostConfig": body["HostConfig"]})
    }

    const ALL: &str = "entrypoint: [sh], tmpfs: /run, read_only: true, init: true, stop_signal: SIGINT, stop_grace_period: 2s, shm_size: 1m, sysctls: {a.b: 1}, devices: [/dev/zero], gpus: all, healthcheck: {test: 'true'}, pid: host, ipc: shareable, group_add: [1], pids_limit: 5, cpuset: '0', platform: linux/amd64";

    #[test]
    fn a_container_made_from_the_request_has_no_differences() {
        let want = body(ALL);
        assert_eq!(differences(&want, &as_created(&want)), Vec::<String>::new());
    }

    #[test]
    fn a_healthcheck_without_test_keeps_the_images_and_is_no_drift() {
        let want = body("healthcheck: {interval: 5s}");
        let mut have = as_created(&want);
        have["Config"]["Healthcheck"]["Test"] = serde_json::json!(["CMD-SHELL", "image's"]);
        assert_eq!(differences(&want, &have), Vec::<String>::new());
    }

    #[test]
    fn podmans_default_pid_namespace_and_pids_limit_are_no_drift() {
        let want = body("init: true");
        let mut have = as_created(&want);
        have["HostConfig"]["PidMode"] = serde_json::json!("private");
        have["HostConfig"]["PidsLimit"] = serde_json::json!(2048);
        have["Config"]["Env"] = serde_json::json!(["container=podman"]);
        assert_eq!(differences(&want, &have), Vec::<String>::new());
        // A limit the file sets still counts, and on Docker any limit does.
        let limited = body("pids_limit: 5");
        let mut have = as_created(&limited);
        have["HostConfig"]["PidsLimit"] = serde_json::json!(2048);
        have["Config"]["Env"] = serde_json::json!(["container=podman"]);
        assert_eq!(differences(&limited, &have), ["pids_limit changed"]);
        let mut docker = as_created(&want);
        docker["HostConfig"]["PidsLimit"] = serde_json::json!(2048);
        assert_eq!(differences(&want, &docker), ["pids_limit changed"]);
    }

    #[test]
    fn each_changed_option_is_named() {
        let have = as_created(&body(ALL));
        for (old, new, name) in [
            ("tmpfs: /run", "tmpfs: /tmp", "tmpfs"),
            ("pids_limit: 5", "pids_limit: 6", "pids_limit"),
            ("gpus: all", "gpus: 1", "gpus"),
            ("platform: linux/amd64", "platform: linux/arm64", "platform"),
            (
                "healthcheck: {test: 'true'}",
                "healthcheck: {test: 'false'}",
                "healthcheck",
            ),
        ] {
            let want = body(&ALL.replace(old, new));
            assert_eq!(
                differences(&want, &have),
                [format!("{name} changed")],
                "{new}"
            );
        }
    }
}
