//! The simulated engine (`maestro_testkit::sim`) against the real local
//! engine: the same plays on the same environment file, once with its ship
//! on the local engine (the test bed's local ship, image
//! `maestro-test/box:1`) and once on a simulated ship, must end alike —
//! exit status, every per-container line of the output and every error
//! message, container ids and times masked — and leave containers whose
//! engine-reported state and configuration (the fields the plays read) are
//! the same. The plays: status, start with dependencies, a start that fails
//! (the container exits 3 at once, its last log lines in the error), logs,
//! restart, stop (one container ignores SIGTERM and is killed after its
//! grace period), clean.
//!
//! Known deviations are listed in `maestro_testkit::sim` and BENCHMARKS.md;
//! none of them shows in these plays. Also: maestro against a simulated
//! ship that refuses connections, answers 500, or hangs.

use std::path::Path;
use std::time::Duration;

use maestro_testkit::sim::{Fault, SimConfig, SimFleet};
use serde_json::Value;

use crate::testbed::{docker, inspect, testbed, Cleanup};
use crate::util::{Dir, Output, TestCommand};

const IMAGE: &str = "maestro-test/box:1";
const IDLE: &str = "trap 'exit 0' TERM; sleep 3600 & wait";
/// Both lines on stderr: the real engine's order between stdout and stderr
/// lines written at once is not fixed.
const FAILING: &str = "echo starting >&2; echo 'no database here' >&2; exit 3";
/// Ignores SIGTERM (a shell as PID 1 without a trap): killed after 1 s.
const STUBBORN: &str = "sleep 3600";

const NAMES: &[&str] = &[
    "simeq-db-1",
    "simeq-app-1",
    "simeq-app-2",
    "simeq-web-1",
    "simeq-bad-1",
    "simeq-stub-1",
];

/// The environment file, its one ship `box` described by `ship`.
fn environment(ship: &str, port: u16) -> String {
    let instance = |name: &str, command: &str, extra: &str| {
        format!(
            "      {name}: {{ship: box, stop_timeout: 1, command: {}{extra}}}\n",
            serde_json::json!(["sh", "-c", command])
        )
    };
    let mut text = format!("name: simeq\nships:\n  box: {ship}\nservices:\n");
    text.push_str(&format!(
        "  db:\n    image: {IMAGE}\n    env: {{ROLE: db}}\n    instances:\n"
    ));
    text.push_str(&instance(
        "simeq-db-1",
        IDLE,
        &format!(", ports: {{pg: \"5432:{port}\"}}"),
    ));
    text.push_str(&format!(
        "  app:\n    image: {IMAGE}\n    requires: [db]\n    env: {{ROLE: app, GREETING: hi there}}\n    instances:\n"
    ));
    text.push_str(&instance("simeq-app-1", IDLE, ""));
    text.push_str(&instance("simeq-app-2", IDLE, ", env: {EXTRA: '1'}"));
    text.push_str(&format!(
        "  web:\n    image: {IMAGE}\n    requires: [app]\n    instances:\n"
    ));
    text.push_str(&instance("simeq-web-1", IDLE, ""));
    text.push_str(&format!(
        "  bad:\n    image: {IMAGE}\n    requires: [db]\n    instances:\n"
    ));
    text.push_str(&instance("simeq-bad-1", FAILING, ""));
    text.push_str(&format!("  stub:\n    image: {IMAGE}\n    instances:\n"));
    text.push_str(&instance("simeq-stub-1", STUBBORN, ""));
    text
}

/// maestro on `file`, from its folder, without colour nor the caller's
/// Docker settings, nor the deploy lock (these tests count the calls of the
/// plays themselves; the lock has its own tests, tests/lock.rs).
pub fn maestro(file: &Path, args: &[&str]) -> Output {
    TestCommand::maestro()
        .current_dir(file.parent().expect("the file is in a directory"))
        .arg("-f")
        .arg(file)
        .args(args)
        .env("NO_COLOR", "1")
        .env("MAESTRO_NO_LOCK", "1")
        .env_remove("DOCKER_CONTEXT")
        .env_remove("DOCKER_HOST")
        .timeout(Duration::from_secs(120))
        .run()
}

/// `text` with what differs between two engines masked: container ids (12 or
/// 64 hex digits, or 7 after a tag as in `status`'s `TAG:ID`) become `<id>`, durations (`0.1s`, `3s`, `120ms`, `2m`)
/// become `<t>`; trailing blanks go.
fn masked(text: &str) -> String {
    let mut lines = Vec::new();
    for line in text.lines() {
        let words: Vec<String> = line
            .split(' ')
            .map(|word| {
                let core = word.trim_matches(|c: char| "():,;.".contains(c));
                let start = word.find(core).unwrap_or(0);
                let (head, tail) = (&word[..start], &word[start + core.len()..]);
                let is_id = |s: &str| {
                    (s.len() == 12 || s.len() == 64) && s.bytes().all(|b| b.is_ascii_hexdigit())
                };
                let replaced = if is_id(core) {
                    "<id>".to_owned()
                } else if let Some((_, rest)) = core.split_once(':').filter(|(id, _)| is_id(id)) {
                    format!("<id>:{rest}")
                } else if let Some((tag, _)) = core
                    .rsplit_once(':')
                    .filter(|(_, id)| id.len() == 7 && id.bytes().all(|b| b.is_ascii_hexdigit()))
                {
                    format!("{tag}:<id>")
                } else if is_duration(core) {
                    "<t>".to_owned()
                } else {
                    core.to_owned()
                };
                format!("{head}{replaced}{tail}")
            })
            .collect();
        lines.push(words.join(" ").trim_end().to_owned());
    }
    lines.join("\n")
}

/// The masked text with the per-container lines (`  3.  name …` and the
/// lines that continue them) in order of their number: containers that run
/// at once finish in any order.
fn canonical(text: &str) -> String {
    let mut head = Vec::new();
    let mut groups: Vec<(u64, Vec<&str>)> = Vec::new();
    let mut tail = Vec::new();
    for line in text.lines() {
        let number = line
            .trim_start()
            .split_once(". ")
            .and_then(|(n, _)| n.parse::<u64>().ok());
        match number {
            Some(n) => groups.push((n, vec![line])),
            None if line.starts_with("    ") && !groups.is_empty() && tail.is_empty() => {
                if let Some(group) = groups.last_mut() {
                    group.1.push(line);
                }
            }
            None if groups.is_empty() => head.push(line),
            None => tail.push(line),
        }
    }
    groups.sort_by_key(|g| g.0);
    let mut out: Vec<&str> = head;
    out.extend(groups.into_iter().flat_map(|g| g.1));
    out.extend(tail);
    out.join("\n")
}

fn is_duration(word: &str) -> bool {
    let digits = word.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let unit = &word[digits.len()..];
    !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        && matches!(unit, "ms" | "s" | "m" | "h" | "d")
}

/// One engine's run: every play's exit status and masked output, and the
/// engine's view of each container after each play.
#[derive(Debug, PartialEq)]
struct Step {
    play: String,
    code: Option<i32>,
    stdout: String,
    stderr: String,
    containers: Vec<(String, Value)>,
}

/// The fields of a container's inspect document the plays read (and a few
/// more a real engine fills in from the request), with what differs between
/// engines left out.
fn essentials(doc: &Value) -> Value {
    let pick = |pointer: &str| doc.pointer(pointer).cloned().unwrap_or(Value::Null);
    let mut env: Vec<String> = pick("/Config/Env")
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_owned)
        .collect();
    env.sort();
    let mut labels = pick("/Config/Labels");
    // Labels the image itself carries would differ; the box image has none.
    if labels.is_null() {
        labels = Value::Object(Default::default());
    }
    let published = pick("/NetworkSettings/Ports")
        .as_object()
        .map(|ports| {
            ports
                .iter()
                .map(|(port, bindings)| {
                    let host_ports: Vec<String> = bindings
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|b| b["HostPort"].as_str().map(str::to_owned))
                        .collect();
                    (
                        port.clone(),
                        host_ports.first().cloned().unwrap_or_default(),
                    )
                })
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    serde_json::json!({
        "Name": pick("/Name"),
        "State.Status": pick("/State/Status"),
        "State.Running": pick("/State/Running"),
        "State.ExitCode": pick("/State/ExitCode"),
        "State.StartedAt is set": pick("/State/StartedAt").as_str().is_some_and(|t| !t.starts_with("0001")),
        "State.FinishedAt is set": pick("/State/FinishedAt").as_str().is_some_and(|t| !t.starts_with("0001")),
        "Path": pick("/Path"),
        "Args": pick("/Args"),
        "Config.Image": pick("/Config/Image"),
        "Config.Cmd": pick("/Config/Cmd"),
        "Config.Entrypoint": pick("/Config/Entrypoint"),
        "Config.Env": env,
        "Config.Hostname": pick("/Config/Hostname"),
        "Config.Labels": labels,
        "Config.ExposedPorts": pick("/Config/ExposedPorts"),
        "Config.Tty": pick("/Config/Tty"),
        "HostConfig.PortBindings": pick("/HostConfig/PortBindings"),
        "HostConfig.RestartPolicy": pick("/HostConfig/RestartPolicy"),
        "HostConfig.Binds": pick("/HostConfig/Binds"),
        "HostConfig.Links": pick("/HostConfig/Links"),
        "HostConfig.Privileged": pick("/HostConfig/Privileged"),
        "NetworkSettings.Ports (published)": published,
        "Image is an id": pick("/Image").as_str().is_some_and(|i| i.starts_with("sha256:")),
    })
}

/// The plays, in order.
const PLAYS: &[&[&str]] = &[
    &["status"],
    &["start", "web", "-d"],
    &["status"],
    &["start", "bad"],
    &["status"],
    &["logs", "simeq-bad-1"],
    &["logs", "-n", "1", "simeq-bad-1"],
    &["start", "stub"],
    &["restart", "simeq-app-1", "simeq-app-2"],
    &["status"],
    &["stop", "-a"],
    &["status"],
    &["start", "db"],
    &["clean"],
    &["status"],
    &["stop", "-a"],
    &["clean"],
    &["status"],
];

/// Runs every play against the engine `host` (for `docker -H`) through the
/// environment file `file`.
fn run_plays(file: &Path, host: &str) -> Vec<Step> {
    let mut steps = Vec::new();
    for play in PLAYS {
        let out = maestro(file, play);
        let containers = NAMES
            .iter()
            .filter_map(|name| inspect(host, name).map(|doc| (name.to_string(), essentials(&doc))))
            .collect();
        steps.push(Step {
            play: play.join(" "),
            code: out.code(),
            stdout: canonical(&masked(&out.stdout())),
            stderr: canonical(&masked(&out.stderr())),
            containers,
        });
    }
    steps
}

#[test]
fn plays_end_alike_on_the_simulated_and_the_real_engine() {
    let bed = testbed();
    let _cleanup = Cleanup::new(NAMES);
    let local = bed.local_host();
    docker(&local, &["image", "inspect", "--format", "{{.Id}}", IMAGE]);
    let port = std::net::TcpListener::bind(("0.0.0.0", 0))
        .and_then(|l| l.local_addr())
        .expect("a free local port")
        .port();

    let dir = Dir::new();
    let real_file = dir.write("real/maestro.yaml", environment(&bed.local_ship(), port));
    let real = run_plays(&real_file, &local);

    let sim = SimFleet::start(SimConfig::default()).expect("the simulator starts");
    let addr = sim.addr(0).expect("one ship");
    let sim_file = dir.write(
        "sim/maestro.yaml",
        // The same `ip` as the local ship (it is in every link variable);
        // the engine is reached at `endpoint`.
        environment(
            &format!(
                "{{ip: {}, endpoint: 127.0.0.1, docker_port: {}}}",
                bed.var("TESTBED_LOCAL_IP"),
                addr.port()
            ),
            port,
        ),
    );
    let simulated = run_plays(&sim_file, &format!("tcp://{addr}"));
    drop(sim);

    // The runs must have done what the plays say, not merely fail alike.
    let started = &real[2];
    assert_eq!(
        started.code,
        Some(0),
        "status after start:\n{}",
        started.stdout
    );
    assert!(started.stdout.contains("simeq-web-1"), "{}", started.stdout);
    let failed = &real[3];
    assert_eq!(failed.code, Some(1), "{failed:#?}");
    assert!(
        failed.stderr.contains("no database here") || failed.stdout.contains("no database here"),
        "the failed start shows the container's logs: {failed:#?}"
    );
    let stopped = real.iter().find(|s| s.play == "stop -a").expect("a stop");
    let stub = stopped
        .containers
        .iter()
        .find(|(name, _)| name == "simeq-stub-1")
        .expect("the stubborn container");
    assert_eq!(
        stub.1["State.ExitCode"], 137,
        "killed after its grace period"
    );

    for step in &real {
        println!(
            "$ maestro {} -> {:?}\n{}\n{}",
            step.play, step.code, step.stdout, step.stderr
        );
    }
    for (real, simulated) in real.iter().zip(&simulated) {
        assert_eq!(
            real, simulated,
            "`maestro {}` ends differently on the real engine (left) and the simulated one (right)",
            real.play
        );
    }
    assert_eq!(real.len(), simulated.len());
}

#[test]
fn a_simulated_ship_refusing_failing_or_hanging_is_reported() {
    let sim = SimFleet::start(SimConfig {
        ships: 4,
        ..SimConfig::default()
    })
    .expect("the simulator starts");
    let dir = Dir::new();
    let mut text = String::from("name: faults\nships:\n");
    for (i, addr) in sim.addrs().iter().enumerate() {
        text.push_str(&format!(
            "  s{i}: {{ip: 127.0.0.1, docker_port: {}, timeout: 1}}\n",
            addr.port()
        ));
    }
    text.push_str(&format!(
        "services:\n  one:\n    image: {IMAGE}\n    instances:\n"
    ));
    for i in 0..4 {
        text.push_str(&format!(
            "      f-{i}: {{ship: s{i}, command: {}}}\n",
            serde_json::json!(["sh", "-c", IDLE])
        ));
    }
    let file = dir.write("maestro.yaml", text);
    maestro(&file, &["start"]).assert_success();

    assert!(sim.set_fault(1, Fault::Refuse));
    assert!(sim.set_fault(2, Fault::Error500));
    assert!(sim.set_fault(3, Fault::Hang));
    let out = maestro(&file, &["status"]);
    let stdout = out.stdout();
    let line = |name: &str| {
        stdout
            .lines()
            .find(|l| l.contains(name))
            .unwrap_or_else(|| panic!("no line for {name}:\n{}", out.report()))
            .to_owned()
    };
    assert!(line("f-0").contains("running"), "{}", out.report());
    assert!(line("f-1").contains("host down"), "{}", out.report());
    assert!(!line("f-2").contains("running"), "{}", out.report());
    assert!(line("f-3").contains("host down"), "{}", out.report());

    // Healed, every ship answers again (a refusing ship listens again).
    for i in 1..4 {
        sim.set_fault(i, Fault::None);
    }
    sim.reset_stats();
    let out = maestro(&file, &["status"]);
    assert_eq!(
        out.stdout()
            .lines()
            .filter(|l| l.contains("running"))
            .count(),
        4,
        "{}",
        out.report()
    );
    // One list per ship, no container inspected one by one.
    let stats = sim.stats();
    assert_eq!(stats.by_call.get("container list"), Some(&4), "{stats:?}");
    assert_eq!(stats.by_call.get("container inspect"), None, "{stats:?}");
}
