//! One plan for every play, on the simulated fleet: what `plan --json`
//! prints (the plan of `up`) is what `up` then performs, operation by operation and container
//! by container, and the engines served exactly those operations (creates,
//! starts, stops, removes counted by the simulator). Also: `status` asks
//! each ship once for its list instead of inspecting each container.

use maestro_testkit::sim::{SimConfig, SimFleet};
use serde_json::Value;
use std::collections::BTreeMap;

use crate::sim_engine::maestro;
use crate::util::{Dir, Output};

const IMAGE: &str = "maestro-test/box:1";
const IDLE: &str = "trap 'exit 0' TERM; sleep 3600 & wait";

/// db <- app (on every ship) <- web; `extra` goes into web's env, `apps`
/// is how many app instances there are.
fn environment(sim: &SimFleet, apps: usize, extra: &str) -> String {
    let mut text = String::from("name: planned\nships:\n");
    for (i, addr) in sim.addrs().iter().enumerate() {
        text.push_str(&format!(
            "  s{i}: {{ip: 127.0.0.1, docker_port: {}}}\n",
            addr.port()
        ));
    }
    let command = serde_json::json!(["sh", "-c", IDLE]);
    text.push_str(&format!(
        "services:\n  db:\n    image: {IMAGE}\n    instances:\n      db-1: {{ship: s0, command: {command}}}\n"
    ));
    text.push_str(&format!(
        "  app:\n    image: {IMAGE}\n    requires: [db]\n    instances:\n"
    ));
    for i in 1..=apps {
        text.push_str(&format!(
            "      app-{i}: {{ship: s{}, command: {command}}}\n",
            i % 3
        ));
    }
    text.push_str(&format!(
        "  web:\n    image: {IMAGE}\n    requires: [app]\n    env: {{{extra}}}\n    instances:\n      web-1: {{ship: s1, command: {command}}}\n      web-2: {{ship: s2, command: {command}}}\n"
    ));
    text
}

/// Each container's operations in a `--json` document (`plan`'s are
/// objects with a cause, a play's are names).
fn operations(doc: &Value) -> BTreeMap<String, Vec<String>> {
    doc["containers"]
        .as_array()
        .expect("containers")
        .iter()
        .map(|row| {
            let ops = row["operations"]
                .as_array()
                .expect("operations")
                .iter()
                .map(|op| match op {
                    Value::String(name) => name.clone(),
                    other => other["op"].as_str().expect("op").to_owned(),
                })
                .collect();
            (row["name"].as_str().expect("name").to_owned(), ops)
        })
        .collect()
}

fn json(out: &Output) -> Value {
    serde_json::from_str(&out.stdout())
        .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}", out.report()))
}

fn count(plan: &BTreeMap<String, Vec<String>>, op: &str) -> u64 {
    plan.values().flatten().filter(|o| *o == op).count() as u64
}

#[test]
fn up_performs_exactly_the_operations_plan_printed() {
    let sim = SimFleet::start(SimConfig {
        ships: 3,
        ..SimConfig::default()
    })
    .expect("the simulator starts");
    let dir = Dir::new();
    let file = dir.write("maestro.yaml", environment(&sim, 3, "MODE: one"));
    maestro(&file, &["start"]).assert_success();
    maestro(&file, &["stop", "db-1", "app-2"]).assert_success();

    // A new app instance (on a new container; every web's APP_INSTANCES
    // changes) and a changed variable of web.
    let file = dir.write("maestro.yaml", environment(&sim, 4, "MODE: two"));
    let planned = maestro(&file, &["plan", "--json"]);
    assert_eq!(planned.code(), Some(3), "{}", planned.report());
    let planned = operations(&json(&planned));
    // Stopped, unchanged: started as it is.
    assert_eq!(planned["db-1"], ["start", "confirm"], "{planned:#?}");
    // APP_INSTANCES changed in every app and web: recreated (a stopped one
    // without a stop), the new one created.
    assert_eq!(
        planned["app-1"],
        ["stop", "keep as previous", "create", "start", "confirm"],
        "{planned:#?}"
    );
    assert_eq!(
        planned["app-2"],
        ["keep as previous", "create", "start", "confirm"],
        "{planned:#?}"
    );
    assert_eq!(
        planned["app-4"],
        ["create", "start", "confirm"],
        "{planned:#?}"
    );
    assert_eq!(
        planned["web-1"],
        ["stop", "keep as previous", "create", "start", "confirm"],
        "{planned:#?}"
    );

    sim.reset_stats();
    let up = maestro(&file, &["up", "--json"]);
    up.assert_success();
    let performed = operations(&json(&up));
    assert_eq!(performed, planned, "up performed what plan printed");
    let calls = sim.stats().by_call;
    let served = |call: &str| calls.get(call).copied().unwrap_or(0);
    assert_eq!(
        served("container create"),
        count(&planned, "create"),
        "{calls:#?}"
    );
    assert_eq!(
        served("container start"),
        count(&planned, "start"),
        "{calls:#?}"
    );
    assert_eq!(
        served("container stop"),
        count(&planned, "stop"),
        "{calls:#?}"
    );
    // Each replaced container is kept (renamed) as its previous one, the
    // one kept before (none here) removed first.
    assert_eq!(
        served("container remove"),
        count(&planned, "remove") + count(&planned, "keep as previous"),
        "{calls:#?}"
    );
    assert_eq!(
        served("container rename"),
        count(&planned, "keep as previous"),
        "{calls:#?}"
    );
    assert_eq!(served("image pull"), 0, "{calls:#?}");

    let again = maestro(&file, &["plan"]);
    assert_eq!(again.code(), Some(0), "{}", again.report());
    assert_eq!(sim.census().running, 7);
}

#[test]
fn stop_and_status_read_one_list_per_ship() {
    let sim = SimFleet::start(SimConfig {
        ships: 3,
        ..SimConfig::default()
    })
    .expect("the simulator starts");
    let dir = Dir::new();
    let file = dir.write("maestro.yaml", environment(&sim, 6, "MODE: one"));
    maestro(&file, &["start"]).assert_success();

    sim.reset_stats();
    let out = maestro(&file, &["status"]);
    out.assert_success();
    assert_eq!(
        out.stdout().matches("running for").count(),
        9,
        "{}",
        out.report()
    );
    let calls = sim.stats().by_call;
    assert_eq!(calls.get("container list"), Some(&3), "{calls:#?}");
    assert_eq!(calls.get("container inspect"), None, "{calls:#?}");

    maestro(&file, &["stop", "app-1"]).assert_success();
    sim.reset_stats();
    let out = maestro(&file, &["stop", "-a", "--json"]);
    out.assert_success();
    let performed = operations(&json(&out));
    assert_eq!(performed["app-1"], Vec::<String>::new(), "already stopped");
    assert_eq!(performed["web-1"], ["stop"]);
    let calls = sim.stats().by_call;
    assert_eq!(calls.get("container stop"), Some(&8), "{calls:#?}");
    assert_eq!(calls.get("container inspect"), None, "{calls:#?}");
    assert_eq!(sim.census().exited, 9);
}

/// A closed port on this machine: bound, then let go.
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
    listener.local_addr().expect("its address").port()
}

#[test]
fn up_performs_the_planned_networks_volumes_and_a_failed_checks_declared_follow_up() {
    let sim = SimFleet::start(SimConfig::default()).expect("the simulator starts");
    let dir = Dir::new();
    let command = serde_json::json!(["sh", "-c", IDLE]);
    let text = format!(
        "name: planned-objects\nships:\n  s0: {{ip: 127.0.0.1, docker_port: {port}}}\n\
         networks:\n  front: {{}}\nvolumes:\n  data: {{}}\nservices:\n\
         \x20 db:\n    image: {IMAGE}\n    instances:\n      db-1: {{ship: s0, command: {command}, networks: [front], volumes: {{/data: data}}}}\n\
         \x20 web:\n    image: {IMAGE}\n    requires: [db]\n    instances:\n      web-1:\n        ship: s0\n        command: {command}\n        networks: [front]\n        ports: {{http: {http}}}\n        lifecycle: {{running: [{{type: tcp, port: http, max_wait: 1}}]}}\n",
        port = sim.addrs()[0].port(),
        http = closed_port(),
    );
    let file = dir.write("maestro.yaml", text);

    let planned = maestro(&file, &["plan", "--json"]);
    assert_eq!(planned.code(), Some(3), "{}", planned.report());
    let doc = json(&planned);
    let ops = operations(&doc);
    assert_eq!(
        ops["db-1"],
        [
            "create network front",
            "create volume data",
            "create",
            "start",
            "confirm"
        ],
        "{doc:#}"
    );
    assert_eq!(
        ops["web-1"],
        [
            "create network front",
            "create",
            "start",
            "confirm",
            "running checks"
        ],
        "{doc:#}"
    );
    // What follows a failure is declared in the plan.
    let web = doc["containers"]
        .as_array()
        .and_then(|rows| rows.iter().find(|r| r["name"] == "web-1"))
        .expect("web-1's row");
    let checks = &web["operations"][4];
    assert_eq!(checks["op"], "running checks", "{web:#}");
    assert_eq!(checks["on_failure"][0]["op"], "stop if still up", "{web:#}");
    assert_eq!(
        web["operations"][3]["on_failure"][0]["op"], "stop if still up",
        "confirm's follow-up: {web:#}"
    );

    sim.reset_stats();
    let up = maestro(&file, &["up", "--json"]);
    assert_eq!(up.code(), Some(1), "the tcp check fails:\n{}", up.report());
    let performed = operations(&json(&up));
    assert_eq!(performed["db-1"], ops["db-1"], "{}", up.report());
    let mut expected = ops["web-1"].clone();
    expected.push("stop if still up".into());
    assert_eq!(performed["web-1"], expected, "{}", up.report());
    let calls = sim.stats().by_call;
    let served = |call: &str| calls.get(call).copied().unwrap_or(0);
    // Both containers' `create network front` is one creation on the ship.
    assert_eq!(served("network create"), 1, "{calls:#?}");
    assert_eq!(served("volume create"), 1, "{calls:#?}");
    assert_eq!(served("container create"), 2, "{calls:#?}");
    assert_eq!(served("container stop"), 1, "{calls:#?}");
    let census = sim.census();
    assert_eq!((census.running, census.exited), (1, 1), "{census:?}");
    assert!(
        up.stdout()
            .contains("stopped, so that the next start checks it again"),
        "{}",
        up.report()
    );
}
