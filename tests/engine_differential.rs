//! Engine differential: the same environment started once by MaestroNG 0.8.3
//! and once by maestro gives containers whose engine-reported configuration
//! is identical, apart from maestro's own labels (`io.maestro.*`).
//!
//! The environment (`tests/fixtures/engine/differential.yaml`) has five
//! containers: four on the local engine (unix socket) and one on ship2 (plain
//! TCP). Between them they use env values of every kind, plain, udp, mapped
//! and address-bound ports, host volumes with modes, container volumes,
//! `volumes_from`, links, restart policies, `net: host` and `net: none` (the
//! hostname rule), a string command, workdir, user, memory/swap/CPU limits,
//! ulimits, dns, extra hosts (by address and by ship), labels (map and list),
//! capabilities, a security option and a json-file log driver with options.
//!
//! MaestroNG runs `start` on the file; every container is inspected on its
//! engine and removed; maestro runs `start` on the same file; every container
//! is inspected again. Then, for each container, the fields named in
//! `CONFIG_FIELDS` and `HOST_CONFIG_FIELDS` are compared after normalizing
//! (see `normalize`), followed by every other field of `Config` and
//! `HostConfig`. All differences are listed before the test fails.
//!
//! Normalization, and why it changes nothing the engine acts on:
//! * an absent field, `null`, `[]` and `{}` are all "none" (MaestroNG sends
//!   `VolumesFrom: []` and `Binds: []` where maestro sends nothing);
//! * lists whose order the engine ignores are sorted (env, binds, extra hosts,
//!   ulimits, capabilities, links, security options); `Dns` keeps its order;
//! * a hostname equal to the container's own short id (the engine's default
//!   when no hostname is sent, as with `net: none`) is shown as `<own id>`;
//! * maestro's own `io.maestro.*` labels are dropped;
//! * a list label `key=value`: MaestroNG (docker-py) makes a label *named*
//!   `key=value` with an empty value; maestro makes label `key` with value
//!   `value`, a documented difference (docs/maestrong.md).
//!   MaestroNG's labels are turned into what maestro documents before the
//!   comparison, so that maestro is still held to that exact result.
//!
//! Needs the test bed (`scripts/testbed`) and the oracle virtualenv
//! (`scripts/oracle-venv`); without it the tests fail, saying how to make it.

use crate::testbed::{inspect, testbed, use_ships, Cleanup};
use crate::util::{oracle_maestro, oracle_venv, workspace_root, Dir, Output, TestCommand};
use serde_json::{Map, Value};
use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

const FIXTURE: &str = "tests/fixtures/engine/differential.yaml";

#[derive(Clone, Copy, Debug)]
enum Ship {
    Local,
    Ship2,
}

/// Every container of the fixture, and the ship it runs on.
const CONTAINERS: &[(&str, Ship)] = &[
    ("df-db1", Ship::Local),
    ("df-db2", Ship::Ship2),
    ("df-web1", Ship::Local),
    ("df-hostnet", Ship::Local),
    ("df-nonet", Ship::Local),
];

/// `Config` fields compared first, in report order.
const CONFIG_FIELDS: &[&str] = &[
    "Env",
    "Cmd",
    "Hostname",
    "WorkingDir",
    "User",
    "ExposedPorts",
    "Volumes",
    "Labels",
];

/// `HostConfig` fields compared first, in report order.
const HOST_CONFIG_FIELDS: &[&str] = &[
    "PortBindings",
    "Binds",
    "VolumesFrom",
    "Links",
    "RestartPolicy",
    "NetworkMode",
    "Memory",
    "MemorySwap",
    "CpuShares",
    "Ulimits",
    "Dns",
    "ExtraHosts",
    "CapAdd",
    "CapDrop",
    "Privileged",
    "SecurityOpt",
    "LogConfig",
];

/// Fields whose order the engine ignores: compared sorted.
const UNORDERED: &[&str] = &[
    "Env",
    "Binds",
    "VolumesFrom",
    "Links",
    "Ulimits",
    "ExtraHosts",
    "CapAdd",
    "CapDrop",
    "SecurityOpt",
];

/// Time limit of each program's `start` (no lifecycle checks to wait for).
const START_TIMEOUT: Duration = Duration::from_secs(180);

fn host_of(ship: Ship) -> String {
    match ship {
        Ship::Local => testbed().local_host(),
        Ship::Ship2 => testbed().ship2_host(),
    }
}

/// The fixture with the test bed's ships and `dir`'s paths filled in.
fn environment_file(dir: &Dir) -> std::path::PathBuf {
    let bed = testbed();
    for sub in ["ro", "rw", "two"] {
        std::fs::create_dir_all(dir.join(sub)).expect("volume directory");
    }
    std::fs::write(dir.join("ro/hello.txt"), "hello\n").expect("volume file");
    let template = std::fs::read_to_string(workspace_root().join(FIXTURE))
        .unwrap_or_else(|e| panic!("cannot read {FIXTURE}: {e}"));
    let text = template
        .replace("@LOCAL_SHIP@", &bed.local_ship())
        .replace("@SHIP2_SHIP@", &bed.ship2_tcp())
        .replace("@SHIP2_IP@", bed.var("TESTBED_SHIP2_IP"))
        .replace("@DIR@", &dir.path().display().to_string());
    dir.write("environment.yaml", text)
}

fn run_start(program: &Path, label: &str, file: &Path, cwd: &Dir) -> Output {
    let output = TestCommand::new(program)
        .current_dir(cwd.path())
        .env("NO_COLOR", "1")
        .args(["-f".as_ref(), file.as_os_str(), "start".as_ref()])
        .timeout(START_TIMEOUT)
        .run();
    assert!(
        output.success(),
        "{label} could not start the environment\n{}",
        output.report()
    );
    output
}

/// `docker inspect` of every container, in `CONTAINERS` order.
fn inspect_all(label: &str, output: &Output) -> Vec<Value> {
    CONTAINERS
        .iter()
        .map(|&(name, ship)| {
            inspect(&host_of(ship), name).unwrap_or_else(|| {
                panic!(
                    "after {label}'s start, container {name} is missing on {ship:?}\n{}",
                    output.report()
                )
            })
        })
        .collect()
}

fn is_empty(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Array(items) => items.is_empty(),
        Value::Object(map) => map.is_empty(),
        Value::String(_) | Value::Bool(_) | Value::Number(_) => false,
    }
}

fn sort_key(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// One field, normalized as the module documentation says.
fn normalize(field: &str, value: Option<&Value>, id: &str) -> Value {
    let value = match value {
        Some(v) if !is_empty(v) => v.clone(),
        _ => return Value::Null,
    };
    match (field, value) {
        (f, Value::Array(mut items)) if UNORDERED.contains(&f) => {
            items.sort_by_key(sort_key);
            Value::Array(items)
        }
        ("Hostname", Value::String(name)) if id.starts_with(&name) && name.len() == 12 => {
            Value::String("<own id>".to_owned())
        }
        ("Labels", Value::Object(labels)) => {
            let ours: Map<String, Value> = labels
                .into_iter()
                .filter(|(k, _)| !k.starts_with("io.maestro."))
                .collect();
            if ours.is_empty() {
                Value::Null
            } else {
                Value::Object(ours)
            }
        }
        (_, value) => value,
    }
}

/// MaestroNG's labels as maestro documents they should come out: a label
/// named `key=value` with an empty value (a `key=value` list entry, which
/// docker-py takes as a name) becomes label `key` = `value`.
fn maestrong_labels_as_documented(labels: Value) -> Value {
    let Value::Object(labels) = labels else {
        return labels;
    };
    let converted = labels
        .into_iter()
        .map(|(key, value)| match key.split_once('=') {
            Some((k, v)) if value == Value::String(String::new()) => {
                (k.to_owned(), Value::String(v.to_owned()))
            }
            _ => (key, value),
        })
        .collect();
    Value::Object(converted)
}

/// The compared projection of one container: (section.field, value) pairs,
/// the named fields first, then every other `Config`/`HostConfig` field of
/// either side.
fn projection(container: &Value, other: &Value, maestrong: bool) -> Vec<(String, Value)> {
    let id = container["Id"].as_str().unwrap_or_default();
    let mut out = Vec::new();
    for (section, named) in [
        ("Config", CONFIG_FIELDS),
        ("HostConfig", HOST_CONFIG_FIELDS),
    ] {
        let mine = container[section].as_object().cloned().unwrap_or_default();
        let theirs = other[section].as_object().cloned().unwrap_or_default();
        let rest: BTreeSet<&String> = mine
            .keys()
            .chain(theirs.keys())
            .filter(|k| !named.contains(&k.as_str()))
            .collect();
        let fields = named.iter().copied().chain(rest.iter().map(|k| k.as_str()));
        for field in fields {
            let mut value = normalize(field, mine.get(field), id);
            if maestrong && section == "Config" && field == "Labels" {
                value = maestrong_labels_as_documented(value);
            }
            out.push((format!("{section}.{field}"), value));
        }
    }
    out
}

fn show(value: &Value) -> String {
    match value {
        Value::Null => "(none)".to_owned(),
        other => other.to_string(),
    }
}

/// A readable account of one field's difference.
fn describe(container: &str, field: &str, theirs: &Value, ours: &Value) -> String {
    if let (Value::Array(a), Value::Array(b)) = (theirs, ours) {
        if field == "Config.Env" {
            let a: BTreeSet<String> = a.iter().map(show).collect();
            let b: BTreeSet<String> = b.iter().map(show).collect();
            return format!(
                "{container} {field}:\n  only from MaestroNG: {:?}\n  only from maestro:   {:?}",
                a.difference(&b).collect::<Vec<_>>(),
                b.difference(&a).collect::<Vec<_>>()
            );
        }
    }
    format!(
        "{container} {field}:\n  MaestroNG: {}\n  maestro:   {}",
        show(theirs),
        show(ours)
    )
}

#[test]
fn containers_match_maestrong() {
    let oracle = oracle_maestro().unwrap_or_else(|| {
        panic!(
            "the MaestroNG oracle virtualenv is missing ({}/bin/maestro); create it with \
             scripts/oracle-venv (scripts/test does it first)",
            oracle_venv().display()
        )
    });
    let _ships = use_ships();
    let names: Vec<&str> = CONTAINERS.iter().map(|(name, _)| *name).collect();
    let _cleanup = Cleanup::new(&names);
    let dir = Dir::new();
    let file = environment_file(&dir);

    let output = run_start(&oracle, "MaestroNG", &file, &dir);
    let theirs = inspect_all("MaestroNG", &output);
    // Remove MaestroNG's containers (Cleanup removes them when created).
    drop(Cleanup::new(&names));

    let maestro = Path::new(env!("CARGO_BIN_EXE_maestro"));
    let output = run_start(maestro, "maestro", &file, &dir);
    let ours = inspect_all("maestro", &output);

    let mut differences = Vec::new();
    let mut compared = 0;
    for (i, &(name, _)) in CONTAINERS.iter().enumerate() {
        let a = projection(&theirs[i], &ours[i], true);
        let b = projection(&ours[i], &theirs[i], false);
        assert_eq!(
            a.iter().map(|(f, _)| f).collect::<Vec<_>>(),
            b.iter().map(|(f, _)| f).collect::<Vec<_>>(),
            "both projections of {name} list the same fields"
        );
        for ((field, x), (_, y)) in a.iter().zip(&b) {
            compared += 1;
            if x != y {
                differences.push(describe(name, field, x, y));
            }
        }
    }
    assert!(
        differences.is_empty(),
        "{} of {compared} compared fields differ between MaestroNG's and maestro's containers:\n{}",
        differences.len(),
        differences.join("\n")
    );

    // The fixture really exercises what it claims (guards against a
    // projection that compares nothing).
    let of = |name: &str| &ours[CONTAINERS.iter().position(|(n, _)| *n == name).unwrap()];
    let db1 = of("df-db1");
    assert_eq!(db1["HostConfig"]["Memory"], 64 * 1024 * 1024);
    assert_eq!(db1["HostConfig"]["RestartPolicy"]["MaximumRetryCount"], 3);
    assert_eq!(
        db1["HostConfig"]["PortBindings"]["81/tcp"][0]["HostIp"],
        "127.0.0.1"
    );
    assert_eq!(of("df-db2")["Config"]["Labels"]["team"], "core");
    assert_eq!(of("df-web1")["HostConfig"]["VolumesFrom"][0], "df-db1");
    assert_eq!(of("df-hostnet")["HostConfig"]["NetworkMode"], "host");
}

/// The engine's id and start time of every container, in `CONTAINERS` order.
fn identities(label: &str) -> Vec<(String, String)> {
    CONTAINERS
        .iter()
        .map(|&(name, ship)| {
            let name = adopted_name(name);
            let c = inspect(&host_of(ship), &name)
                .unwrap_or_else(|| panic!("{label}: {name} is not on its engine"));
            (
                c["Id"].as_str().unwrap_or_default().to_owned(),
                c["State"]["StartedAt"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            )
        })
        .collect()
}

/// `df-db1` → `ad-db1`.
fn adopted_name(name: &str) -> String {
    name.replacen("df-", "ad-", 1)
}

/// Containers MaestroNG 0.8.3 started from a file are maestro's too: `plan`
/// on the same file finds nothing to do (exit 0), and `up` keeps every
/// container (same id, same start time on its engine).
#[test]
fn containers_started_by_maestrong_are_adopted() {
    let oracle = oracle_maestro().unwrap_or_else(|| {
        panic!(
            "the MaestroNG oracle virtualenv is missing ({}/bin/maestro); create it with scripts/oracle-venv",
            oracle_venv().display()
        )
    });
    let _ships = use_ships();
    let names: Vec<String> = CONTAINERS
        .iter()
        .map(|(name, _)| adopted_name(name))
        .collect();
    let _cleanup = Cleanup::new(&names);
    let dir = Dir::new();
    // The fixture under other names and ports, beside containers_match_maestrong.
    let text = std::fs::read_to_string(environment_file(&dir))
        .expect("the environment file")
        .replace("df-", "ad-")
        .replace("name: df", "name: ad")
        .replace("271", "273");
    let file = dir.write("adopted.yaml", text);
    run_start(&oracle, "MaestroNG", &file, &dir);
    let before = identities("after MaestroNG's start");

    let maestro = |args: &[&str]| {
        TestCommand::maestro()
            .current_dir(dir.path())
            .env("NO_COLOR", "1")
            .env_remove("DOCKER_HOST")
            .env_remove("DOCKER_CONTEXT")
            .arg("-f")
            .arg(&file)
            .args(args)
            .timeout(START_TIMEOUT)
            .run()
    };
    let plan = maestro(&["plan"]);
    assert_eq!(
        plan.code(),
        Some(0),
        "plan on MaestroNG's containers must find nothing to do\n{}",
        plan.report()
    );
    let up = maestro(&["up"]);
    assert!(up.success(), "{}", up.report());
    assert_eq!(
        identities("after maestro's up"),
        before,
        "up must keep MaestroNG's containers (ids, start times)\n{}",
        up.report()
    );
}
