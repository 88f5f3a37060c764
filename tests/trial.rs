//! The defects a trial by a new user and an adversary found, one test each,
//! against the test bed's local engine: each fails on the build before its fix.
//!
//! Containers are named `trial-…`, the environments `trial…`.

use crate::engine_support::{
    argv, assert_code, assert_line, container_id, error_line, error_lines, exists, free_port, head,
    instance, line_of, local, maestro, running, service, IDLE, IMAGE,
};
use crate::testbed::{docker, inspect, testbed, Cleanup};
use crate::util::Dir;

/// Defect 1: an instance name that is a path (`x/../VICTIM`) is refused when
/// the file is loaded, by every command, and the container outside the
/// environment it pointed at is never reached: no exec was ever made in it.
#[test]
fn an_instance_name_that_is_a_path_is_refused_at_load_and_never_reaches_another_container() {
    let victim = "trial-victim";
    let _cleanup = Cleanup::new(&[victim]);
    let host = local();
    let mut run = vec!["run", "-d", "--name", victim, IMAGE];
    run.extend_from_slice(IDLE);
    docker(&host, &run);

    let dir = Dir::new();
    let hostile = format!("x/../{victim}");
    let file = dir.write(
        "maestro.yaml",
        format!(
            "name: trialpath\nships:\n  local: {}\nservices:\n  one:\n    image: {IMAGE}\n    instances:\n      {hostile}: {{ship: local}}\n",
            testbed().local_ship()
        ),
    );
    let expected = format!(
        "ERROR: {}:8:7: services/one/instances: `{hostile}` cannot name a container; expected two or more letters, digits, `_`, `.` or `-`, starting with a letter or digit (the engine's rule for container names)",
        file.display()
    );
    for args in [
        vec!["exec", hostile.as_str(), "--", "hostname"],
        vec!["logs", hostile.as_str()],
        vec!["status"],
        vec!["dump"],
        vec!["plan"],
        vec!["start"],
    ] {
        let out = maestro(&file, &args);
        assert_code(&out, 1);
        assert_eq!(error_line(&out), expected, "{args:?}\n{}", out.report());
        assert!(!out.stdout().contains(victim), "{args:?}\n{}", out.report());
    }

    let seen = inspect(&host, victim).expect("the victim container still exists");
    assert_eq!(seen["ExecIDs"], serde_json::Value::Null, "{seen:#}");
    assert_eq!(seen["State"]["Running"], true, "{seen:#}");
}

/// Defect 3: a ship that cannot be reached fails its own containers and
/// holds back only what depends on them; every other container starts (here
/// one that waits a second for another, long after the dead ship's failure),
/// and the run exits 1 naming the ship.
#[test]
fn a_dead_ship_stops_only_what_depends_on_it() {
    let names = [
        "trial-dead-base-1",
        "trial-dead-solo-1",
        "trial-dead-front-1",
        "trial-dead-app-1",
    ];
    let _cleanup = Cleanup::new(&names);
    let dir = Dir::new();
    let mut text = head(
        "trialdead",
        &[
            ("local", testbed().local_ship()),
            (
                "dead",
                format!(
                    "{{ip: 127.0.0.1, docker_port: {}, timeout: 2}}",
                    free_port()
                ),
            ),
        ],
    );
    text.push_str(&service(
        "base",
        IMAGE,
        &["lifecycle: {running: [{type: sleep, wait: 1}]}"],
        &[instance(names[0], "local", IDLE, "")],
    ));
    text.push_str(&service(
        "solo",
        IMAGE,
        &["requires: [base]"],
        &[instance(names[1], "local", IDLE, "")],
    ));
    text.push_str(&service(
        "front",
        IMAGE,
        &[],
        &[instance(names[2], "dead", IDLE, "")],
    ));
    text.push_str(&service(
        "app",
        IMAGE,
        &["requires: [front]"],
        &[instance(names[3], "local", IDLE, "")],
    ));
    let file = dir.write("maestro.yaml", text);
    let out = maestro(&file, &["start"]);
    assert_code(&out, 1);
    let errors = error_lines(&out);
    assert_eq!(errors.len(), 1, "{}", out.report());
    assert!(errors[0].contains("ship dead"), "{}", out.report());
    let host = local();
    assert!(running(&host, names[0]), "{}", out.report());
    assert!(running(&host, names[1]), "{}", out.report());
    assert!(!exists(&host, names[3]), "{}", out.report());
    assert_line(&out, names[2], "failed");
    assert_line(&out, names[3], "aborted");
    assert_line(&out, names[1], "started");
}

/// Defect 4: a container that was created but never started is `down`,
/// `created, never started`, with no exit status (text and JSON).
#[test]
fn a_created_container_that_never_started_says_so() {
    let name = "trial-created-1";
    let _cleanup = Cleanup::new(&[name]);
    let host = local();
    let mut create = vec!["create", "--name", name, IMAGE];
    create.extend_from_slice(IDLE);
    docker(&host, &create);
    let dir = Dir::new();
    let mut text = head("trialcreated", &[("local", testbed().local_ship())]);
    text.push_str(&service(
        "box",
        IMAGE,
        &[],
        &[instance(name, "local", IDLE, "")],
    ));
    let file = dir.write("maestro.yaml", text);
    let out = maestro(&file, &["status"]);
    assert_code(&out, 0);
    let line = line_of(&out, name);
    assert!(
        line.contains("down (created, never started)"),
        "{}",
        out.report()
    );
    assert!(!line.contains("exit status"), "{}", out.report());
    let out = maestro(&file, &["status", "--json"]);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("status --json: {e}\n{}", out.report()));
    let row = &doc["containers"][0];
    assert_eq!(row["state"], "stopped", "{doc:#}");
    assert_eq!(row["never_started"], true, "{doc:#}");
    assert_eq!(row["exit_code"], serde_json::Value::Null, "{doc:#}");
}

/// Defect 5: `status`'s CONTAINER column is `TAG:ID`, the id cut to seven
/// characters, as MaestroNG prints it (scripts parse it).
#[test]
fn status_names_a_container_by_tag_then_short_id_as_maestrong() {
    let name = "trial-tagid-1";
    let _cleanup = Cleanup::new(&[name]);
    let dir = Dir::new();
    let mut text = head("trialtagid", &[("local", testbed().local_ship())]);
    text.push_str(&service(
        "box",
        IMAGE,
        &[],
        &[instance(name, "local", IDLE, "")],
    ));
    let file = dir.write("maestro.yaml", text);
    maestro(&file, &["start"]).assert_success();
    let id = container_id(&local(), name);
    let out = maestro(&file, &["status"]);
    assert_code(&out, 0);
    let line = line_of(&out, name);
    let column = format!(" 1:{} ", &id[..7]);
    assert!(line.contains(&column), "`{column}` not in {line:?}");
    maestro(&file, &["kill", name]).assert_success();
    let line = line_of(&maestro(&file, &["status"]), name);
    assert!(line.contains(&column), "`{column}` not in {line:?}");
}

/// Removes the lock containers of the environment `env` when dropped.
struct LockCleanup(&'static str);

impl Drop for LockCleanup {
    fn drop(&mut self) {
        let host = local();
        let filter = format!("label=io.maestro.lock={}", self.0);
        let ids = docker(&host, &["ps", "-aq", "--filter", &filter]);
        for id in ids.split_whitespace() {
            let _ = std::process::Command::new("docker")
                .args(["-H", &host, "rm", "-f", id])
                .output();
        }
    }
}

/// Defect 6: environments whose names differ only in characters a
/// container name cannot hold (`trial lock`, `trial-lock`) have a lock each.
#[test]
fn environments_whose_names_differ_only_in_odd_characters_do_not_share_a_lock() {
    let names = ["trial-lockb-1"];
    let _cleanup = Cleanup::new(&names);
    let _locks = (LockCleanup("trial lock"), LockCleanup("trial-lock"));
    let dir = Dir::new();
    let spaced = dir.write(
        "spaced.yaml",
        format!(
            "name: trial lock\nships:\n  local: {}\nservices: {{}}\n",
            testbed().local_ship()
        ),
    );
    let mut text = head("trial-lock", &[("local", testbed().local_ship())]);
    text.push_str(&service(
        "box",
        IMAGE,
        &[],
        &[instance(names[0], "local", IDLE, "")],
    ));
    let dashed = dir.write("dashed.yaml", text);
    let out = maestro(&spaced, &["lock", "acquire", "-m", "migrating"]);
    assert_code(&out, 0);
    let out = maestro(&dashed, &["lock", "status"]);
    assert_code(&out, 0);
    assert!(!out.stdout().contains("migrating"), "{}", out.report());
    let out = maestro(&dashed, &["start"]);
    assert_code(&out, 0);
    assert!(running(&local(), names[0]), "{}", out.report());
    let out = maestro(&spaced, &["lock", "status"]);
    assert!(out.stdout().contains("migrating"), "{}", out.report());
    assert_code(&maestro(&spaced, &["lock", "release"]), 0);
    maestro(&dashed, &["kill", names[0]]).assert_success();
}

/// Defect 2: a run killed while a container's `running` checks were still
/// failing leaves it running; the next `start` checks it again before its
/// dependents (it started less than its checks' window ago): the check still
/// fails, so the dependent is not created. `plan` says the checks will run
/// again. Once the check can pass, the next start converges.
#[test]
fn a_running_container_left_unchecked_is_checked_again_before_its_dependents() {
    let names = ["trial-unchecked-a-1", "trial-unchecked-b-1"];
    let _cleanup = Cleanup::new(&names);
    let dir = Dir::new();
    let gate = dir.join("gate");
    let check = format!(
        "lifecycle: {{running: [{{type: exec, attempts: 3, command: {}}}]}}",
        argv(&["test", "-e", &gate.display().to_string()])
    );
    let mut text = head("trialunchecked", &[("local", testbed().local_ship())]);
    text.push_str(&service(
        "a",
        IMAGE,
        &[&check],
        &[instance(names[0], "local", IDLE, "")],
    ));
    text.push_str(&service(
        "b",
        IMAGE,
        &["requires: [a]"],
        &[instance(names[1], "local", IDLE, "")],
    ));
    let file = dir.write("maestro.yaml", text);
    let host = local();

    let mut run = std::process::Command::new(env!("CARGO_BIN_EXE_maestro"))
        .arg("-f")
        .arg(&file)
        .arg("start")
        .env("NO_COLOR", "1")
        .env("MAESTRO_NO_LOCK", "1")
        .env_remove("DOCKER_HOST")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("maestro runs");
    let began = std::time::Instant::now();
    while !running(&host, names[0]) {
        assert!(
            began.elapsed() < std::time::Duration::from_secs(60),
            "a never ran"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    // Killed while a's check is failing (the gate is closed).
    run.kill().expect("maestro is killed");
    let _ = run.wait();
    assert!(running(&host, names[0]));
    assert!(!exists(&host, names[1]));

    let plan = maestro(&file, &["plan"]);
    assert_code(&plan, 3);
    assert_line(&plan, names[0], "its running checks run again");

    let out = maestro(&file, &["start"]);
    assert_code(&out, 1);
    assert_line(&out, names[0], "failed");
    assert_line(&out, names[1], "aborted");
    assert!(!exists(&host, names[1]), "{}", out.report());
    assert!(error_line(&out).contains("exec check"), "{}", out.report());

    std::fs::write(&gate, "").expect("the gate opens");
    let out = maestro(&file, &["start"]);
    assert_code(&out, 0);
    assert!(running(&host, names[0]) && running(&host, names[1]));
    // Checks that would run again change nothing: `plan` has nothing to do.
    let plan = maestro(&file, &["plan"]);
    assert_code(&plan, 0);
}

/// The number of a container's row in `status`, `restart` and `rollback`
/// (`  2.  NAME …`).
fn row_number(out: &crate::util::Output, name: &str) -> String {
    line_of(out, name)
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_owned()
}

/// Defect 10: `restart` and `rollback` number rows as `status` does (as
/// MaestroNG's restart), though they act on dependents first.
#[test]
fn restart_and_rollback_number_rows_as_status_does() {
    let names = ["trial-rows-a-1", "trial-rows-b-1", "trial-rows-b-2"];
    let _cleanup = Cleanup::new(&names);
    let dir = Dir::new();
    let mut text = head("trialrows", &[("local", testbed().local_ship())]);
    text.push_str(&service(
        "a",
        IMAGE,
        &[],
        &[instance(names[0], "local", IDLE, "")],
    ));
    text.push_str(&service(
        "b",
        IMAGE,
        &["requires: [a]"],
        &[
            instance(names[1], "local", IDLE, ""),
            instance(names[2], "local", IDLE, ""),
        ],
    ));
    let file = dir.write("maestro.yaml", text);
    maestro(&file, &["start"]).assert_success();
    let status = maestro(&file, &["status"]);
    let restart = maestro(&file, &["restart", "-a"]);
    assert_code(&restart, 0);
    let rollback = maestro(&file, &["rollback", "a", "b"]);
    assert_code(&rollback, 0);
    for (i, name) in names.iter().enumerate() {
        let expected = format!("{}.", i + 1);
        assert_eq!(row_number(&status, name), expected, "{}", status.report());
        assert_eq!(row_number(&restart, name), expected, "{}", restart.report());
        assert_eq!(
            row_number(&rollback, name),
            expected,
            "{}",
            rollback.report()
        );
        assert_line(&rollback, name, "nothing to roll back to (");
    }
    maestro(&file, &["kill", "-a"]).assert_success();
}

/// Defect 12: two containers of one play that publish the same host port
/// on one ship are refused before anything is created, naming both.
#[test]
fn clashing_host_ports_of_one_play_are_refused_before_anything_is_created() {
    let names = ["trial-clash-1", "trial-clash-2"];
    let _cleanup = Cleanup::new(&names);
    let dir = Dir::new();
    let port = free_port();
    let mut text = head("trialclash", &[("local", testbed().local_ship())]);
    text.push_str(&service(
        "web",
        IMAGE,
        &[&format!("ports: {{http: '80:{port}'}}")],
        &[
            instance(names[0], "local", IDLE, ""),
            instance(names[1], "local", IDLE, ""),
        ],
    ));
    let file = dir.write("maestro.yaml", text);
    for play in ["start", "up"] {
        let out = maestro(&file, &[play]);
        assert_code(&out, 1);
        assert_eq!(
            error_line(&out),
            format!("ERROR: ship local: {} (port `http`) and {} (port `http`) both publish host port 0.0.0.0:{port}/tcp; only one can have it: give one another external port or address, or put them on different ships", names[0], names[1]),
            "{}",
            out.report()
        );
        for name in names {
            assert!(!exists(&local(), name), "{play}: {}", out.report());
        }
    }
    // One of them alone starts.
    let out = maestro(&file, &["start", names[0]]);
    assert_code(&out, 0);
    maestro(&file, &["kill", names[0]]).assert_success();
}

/// The seconds a row says a container took (`… (1.6s)`).
fn took(out: &crate::util::Output, name: &str) -> f64 {
    let line = line_of(out, name);
    line.rsplit_once('(')
        .and_then(|(_, t)| t.strip_suffix("s)"))
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(|| panic!("no time in {line:?}"))
}

/// Defect 10, the time: in a rollback, a container with nothing kept waits
/// for its dependents to be stopped (here `db`, rolled back, whose pre-stop
/// check takes 2 s); it says the time it took itself (well under a second),
/// not the time it waited (over 2 s).
#[test]
fn a_container_with_nothing_to_roll_back_says_its_own_time() {
    let names = ["trial-rbt-base-1", "trial-rbt-db-1"];
    let _images = crate::engine_support::RemoveImages::new(&[
        "maestro-test/trial-rbt:1",
        "maestro-test/trial-rbt:2",
    ]);
    let _cleanup = Cleanup::new(&names);
    let host = local();
    for tag in ["1", "2"] {
        crate::engine_support::build_image(
            &host,
            &format!("maestro-test/trial-rbt:{tag}"),
            &format!("FROM {IMAGE}\nLABEL trial-rbt={tag}\n"),
        );
    }
    let dir = Dir::new();
    let file = |tag: &str| {
        let mut text = head("trialrbt", &[("local", testbed().local_ship())]);
        text.push_str(&service(
            "base",
            IMAGE,
            &[],
            &[instance(names[0], "local", IDLE, "")],
        ));
        text.push_str(&service(
            "db",
            &format!("maestro-test/trial-rbt:{tag}"),
            &[
                "requires: [base]",
                "lifecycle: {pre-stop: [{type: sleep, wait: 2}]}",
            ],
            &[instance(names[1], "local", IDLE, "")],
        ));
        dir.write("maestro.yaml", text)
    };
    assert_code(&maestro(&file("1"), &["up"]), 0);
    assert_code(&maestro(&file("2"), &["up"]), 0);
    let out = maestro(&file("2"), &["rollback"]);
    assert_code(&out, 0);
    assert_line(&out, names[1], "rolled back");
    assert_line(&out, names[0], "nothing to roll back to");
    assert!(took(&out, names[1]) >= 2.0, "{}", out.report());
    // A margin of seconds, not a measurement: it waited over 2 s.
    assert!(took(&out, names[0]) < 1.0, "{}", out.report());
    maestro(&file("2"), &["kill", "-a"]).assert_success();
}
