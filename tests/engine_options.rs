//! The container options with Compose's names (issue 18 item 3), end to end
//! on the test bed's local engine: each reaches the engine (read back from
//! `docker inspect`), and changing any one makes `plan` name it as the
//! reason for a recreate. `gpus` on an engine without GPUs: the container
//! is created with its device request (the start fails, as the engine
//! says), and a changed request is named too.
//!
//! Containers are named `opt-…` and removed by a [`Cleanup`] guard.

use crate::engine_support::{assert_code, line_of, local, maestro, IMAGE};
use crate::testbed::{docker, inspect, testbed, Cleanup};
use crate::util::Dir;

/// Every option set, on one instance of service `svc` (container `opt-all`).
const OPTIONS: &[(&str, &str)] = &[
    ("entrypoint", "[sh, -c]"),
    ("tmpfs", "['/scratch:size=1m']"),
    ("read_only", "true"),
    ("init", "true"),
    ("stop_signal", "SIGINT"),
    ("stop_grace_period", "3s"),
    ("shm_size", "32m"),
    ("sysctls", "{net.core.somaxconn: '1024'}"),
    ("devices", "['/dev/zero:/dev/opt-zero:r']"),
    (
        "healthcheck",
        "{test: 'true', interval: 5s, timeout: 2s, retries: 2, start_period: 1s}",
    ),
    ("pid", "host"),
    ("ipc", "shareable"),
    ("group_add", "['4321']"),
    ("pids_limit", "100"),
    ("cpuset", "'0'"),
    ("platform", "linux/amd64"),
    ("mac_address", "'02:42:ac:11:fe:99'"),
];

/// The same options, each changed to another value.
const CHANGED: &[(&str, &str)] = &[
    ("entrypoint", "[/bin/sh, -c]"),
    ("tmpfs", "['/scratch:size=2m']"),
    ("read_only", "false"),
    ("init", "false"),
    ("stop_signal", "SIGTERM"),
    ("stop_grace_period", "4s"),
    ("shm_size", "16m"),
    ("sysctls", "{net.core.somaxconn: '2048'}"),
    ("devices", "['/dev/zero:/dev/opt-zero:rw']"),
    (
        "healthcheck",
        "{test: 'true', interval: 6s, timeout: 2s, retries: 2, start_period: 1s}",
    ),
    ("pid", "null"),
    ("ipc", "private"),
    ("group_add", "['4322']"),
    ("pids_limit", "200"),
    ("cpuset", "'0-1'"),
    ("platform", "linux/386"),
    ("mac_address", "'02:42:ac:11:fe:98'"),
];

/// A file of one container `name`, in an environment of its own (the
/// tests run at once, and each play takes its environment's deploy lock).
fn file_with(name: &str, options: &[(&str, &str)]) -> String {
    let ship = testbed().local_ship();
    let mut text = format!(
        "name: {name}-env\nships:\n  local: {ship}\nservices:\n  svc:\n    image: {IMAGE}\n    instances:\n      {name}:\n        ship: local\n        command: ['exec sleep 300']\n"
    );
    for (key, value) in options {
        text.push_str(&format!("        {key}: {value}\n"));
    }
    text
}

#[test]
fn every_option_reaches_the_engine_and_a_change_is_the_reason_for_a_recreate() {
    let _clean = Cleanup::new(&["opt-all"]);
    let dir = Dir::new();
    let file = dir.write("maestro.yaml", file_with("opt-all", OPTIONS));
    let out = maestro(&file, &["up"]);
    assert_code(&out, 0);
    let c = inspect(&local(), "opt-all").expect("opt-all exists");
    let (config, host) = (&c["Config"], &c["HostConfig"]);
    assert_eq!(config["Entrypoint"], serde_json::json!(["sh", "-c"]));
    assert_eq!(host["Tmpfs"], serde_json::json!({"/scratch": "size=1m"}));
    assert_eq!(host["ReadonlyRootfs"], true);
    assert_eq!(host["Init"], true);
    assert_eq!(config["StopSignal"], "SIGINT");
    assert_eq!(config["StopTimeout"], 3);
    assert_eq!(host["ShmSize"], 32 * 1024 * 1024);
    assert_eq!(
        host["Sysctls"],
        serde_json::json!({"net.core.somaxconn": "1024"})
    );
    assert_eq!(
        host["Devices"],
        serde_json::json!([{"PathOnHost": "/dev/zero", "PathInContainer": "/dev/opt-zero", "CgroupPermissions": "r"}])
    );
    let health = &config["Healthcheck"];
    assert_eq!(health["Test"], serde_json::json!(["CMD-SHELL", "true"]));
    assert_eq!(health["Interval"], 5_000_000_000_i64);
    assert_eq!(health["Timeout"], 2_000_000_000_i64);
    assert_eq!(health["Retries"], 2);
    assert_eq!(health["StartPeriod"], 1_000_000_000_i64);
    assert_eq!(host["PidMode"], "host");
    assert_eq!(host["IpcMode"], "shareable");
    assert_eq!(host["GroupAdd"], serde_json::json!(["4321"]));
    assert_eq!(host["PidsLimit"], 100);
    assert_eq!(host["CpusetCpus"], "0");
    assert_eq!(c["Platform"], "linux");
    assert_eq!(
        c["NetworkSettings"]["Networks"]["bridge"]["MacAddress"],
        "02:42:ac:11:fe:99"
    );
    // Inside: the root file system is read-only, the tmpfs is writable.
    let inside = docker(
        &local(),
        &[
            "exec",
            "opt-all",
            "sh",
            "-c",
            "touch /x 2>&1; touch /scratch/y && echo wrote",
        ],
    );
    assert!(inside.contains("Read-only file system"), "{inside}");
    assert!(inside.contains("wrote"), "{inside}");

    let out = maestro(&file, &["plan"]);
    assert_code(&out, 0);
    for (key, value) in CHANGED {
        let options: Vec<(&str, &str)> = OPTIONS
            .iter()
            .map(|(k, v)| if k == key { (*k, *value) } else { (*k, *v) })
            .collect();
        let file = dir.write("maestro.yaml", file_with("opt-all", &options));
        let out = maestro(&file, &["plan"]);
        assert_code(&out, 3);
        let line = line_of(&out, "opt-all");
        assert!(
            line.trim_end()
                .ends_with(&format!("recreate ({key} changed)")),
            "changing {key} to {value}: {line}\n{}",
            out.report()
        );
    }
}

#[test]
fn a_gpu_request_reaches_the_engine_and_a_change_is_named() {
    let _clean = Cleanup::new(&["opt-gpu"]);
    let dir = Dir::new();
    let file = dir.write("maestro.yaml", file_with("opt-gpu", &[("gpus", "all")]));
    let out = maestro(&file, &["up"]);
    // No GPU on the test bed: the engine creates the container, refuses the start.
    assert_code(&out, 1);
    let c = inspect(&local(), "opt-gpu").expect("opt-gpu was created");
    let requests = &c["HostConfig"]["DeviceRequests"];
    assert_eq!(requests[0]["Count"], -1, "{requests}");
    assert_eq!(requests[0]["Capabilities"], serde_json::json!([["gpu"]]));
    let file = dir.write("maestro.yaml", file_with("opt-gpu", &[("gpus", "1")]));
    let out = maestro(&file, &["plan"]);
    assert_code(&out, 3);
    let line = line_of(&out, "opt-gpu");
    assert!(
        line.trim_end().ends_with("recreate (gpus changed)"),
        "{line}\n{}",
        out.report()
    );
}
