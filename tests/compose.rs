//! Compose files as input, end to end (issue 30): a Compose application —
//! `db` with a health check, a named volume and a secret, placed on ship2;
//! `web`, three replicas spread over the local engine and ship2, waiting
//! for db with `condition: service_healthy`, rolled out with
//! `deploy.update_config: {parallelism: 1, order: start-first}` — started by
//! `maestro up` across both ships in dependency order (the engines' own
//! event times), each replica reading db's address and port from its
//! environment; a new web image rolled one replica at a time; `plan` on the
//! unchanged file exiting 0. And the same file started on one host by
//! Debian's docker-compose 1.29, so a team can keep one file.
//!
//! Projects are named `cp-<test>`; containers are removed by guards.

use std::path::PathBuf;
use std::process::Command;

use crate::engine_support::{
    assert_code, build_image, events, first_event, local, maestro, now_nanos, rfc3339_nanos, ship2,
    started_at, RemoveImages, IMAGE,
};
use crate::testbed::{docker, inspect, testbed, use_ships, Cleanup};
use crate::util::Dir;

const SECRET: &str = "compose-secret-7Q7Q";

/// The application's Compose file, `web` running `web_image`; db publishes
/// `port` on ship2.
fn compose(dir: &Dir, project: &str, web_image: &str, port: u16) -> PathBuf {
    let text = format!("name: {project}\n") + &body(web_image, port);
    dir.write("db_password.txt", SECRET);
    dir.write("compose.yaml", text)
}

/// The file without its `name` (Compose 1.29 does not know the key; the
/// project is named on its command line).
fn body(web_image: &str, port: u16) -> String {
    format!(
        "x-maestro:
  ships:
    local: {local}
    ship2: {ship2}
services:
  db:
    image: {IMAGE}
    command: [sh, -c, \"trap 'exit 0' TERM; touch /tmp/ready; sleep 3600 & wait\"]
    ports: ['{port}:5432']
    healthcheck:
      test: test -f /tmp/ready
      interval: 1s
      retries: 30
    volumes: [dbdata:/data]
    secrets: [db_password]
    x-maestro: {{ships: [ship2]}}
  web:
    image: {web_image}
    command: [sh, -c, \"trap 'exit 0' TERM; sleep 3600 & wait\"]
    depends_on:
      db: {{condition: service_healthy}}
    secrets: [db_password]
    deploy:
      replicas: 3
      update_config: {{parallelism: 1, order: start-first}}
    x-maestro: {{ships: [local, ship2]}}
volumes:
  dbdata: {{}}
secrets:
  db_password:
    file: ./db_password.txt
",
        local = testbed().local_ship(),
        ship2 = testbed().ship2_tcp(),
    )
}

/// The replicas' names and the engine each runs on (round-robin over
/// local, ship2).
fn webs(project: &str) -> Vec<(String, String)> {
    (1..=3)
        .map(|n| {
            let host = if n == 2 { ship2() } else { local() };
            (format!("{project}-web-{n}"), host)
        })
        .collect()
}

fn created(host: &str, name: &str) -> i128 {
    let c = inspect(host, name).unwrap_or_else(|| panic!("{name} is missing"));
    rfc3339_nanos(c["Created"].as_str().unwrap_or_default()).expect("Created is RFC 3339")
}

fn image_of(host: &str, name: &str) -> String {
    inspect(host, name)
        .and_then(|c| c["Config"]["Image"].as_str().map(str::to_owned))
        .unwrap_or_default()
}

fn env_of(host: &str, name: &str) -> Vec<String> {
    inspect(host, name)
        .and_then(|c| c["Config"]["Env"].as_array().cloned())
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect()
}

/// Removes the project's named volume from ship2 at the end.
struct RemoveVolume(String);
impl Drop for RemoveVolume {
    fn drop(&mut self) {
        let _ = Command::new("docker")
            .args(["-H", &ship2(), "volume", "rm", "-f", &self.0])
            .output();
    }
}

#[test]
fn a_compose_application_runs_across_two_ships_and_rolls_one_replica_at_a_time() {
    let _ships = use_ships();
    let project = "cp-ships";
    let tag = "maestro-test/box:compose-2";
    let _images = RemoveImages::new(&[tag]);
    let mut names: Vec<String> = webs(project).into_iter().map(|(n, _)| n).collect();
    names.push(format!("{project}-db-1"));
    let _cleanup = Cleanup::new(&names);
    let _volume = RemoveVolume(format!("{project}_dbdata"));
    let dir = Dir::new();
    let file = compose(&dir, project, IMAGE, 25433);
    let db = format!("{project}-db-1");

    let since = now_nanos();
    let out = maestro(&file, &["up"]);
    assert_code(&out, 0);
    // db became healthy on ship2 before any replica was created.
    let healthy = first_event(
        &events(&ship2(), project, since),
        "health_status: healthy",
        &db,
    );
    for (name, host) in webs(project) {
        assert!(
            created(&host, &name) > healthy,
            "{name} was created before db was healthy\n{}",
            out.report()
        );
        let env = env_of(&host, &name);
        let has = |v: &str| env.iter().any(|e| e == v);
        assert!(has("DB_CP_SHIPS_DB_1_HOST=10.77.0.2"), "{name}: {env:?}");
        assert!(has("DB_CP_SHIPS_DB_1_5432_PORT=25433"), "{name}: {env:?}");
        let secret = docker(&host, &["exec", &name, "cat", "/run/secrets/db_password"]);
        assert_eq!(secret, SECRET, "{name}");
        let labels = &inspect(&host, &name).expect("exists")["Config"]["Labels"];
        assert_eq!(labels["com.docker.compose.project"], project);
        assert_eq!(labels["com.docker.compose.service"], "web");
    }
    let mounts = &inspect(&ship2(), &db).expect("db exists")["Mounts"];
    assert!(
        mounts.to_string().contains(&format!("{project}_dbdata")),
        "{mounts}"
    );
    assert_code(&maestro(&file, &["plan"]), 0);

    // A new web image: one replica at a time, each new one created after
    // the one before it started.
    for host in [local(), ship2()] {
        build_image(&host, tag, &format!("FROM {IMAGE}\nLABEL compose-test=2\n"));
    }
    let changed = compose(&dir, project, tag, 25433);
    let out = maestro(&changed, &["up"]);
    assert_code(&out, 0);
    let mut rolled: Vec<(i128, i128, String)> = webs(project)
        .into_iter()
        .map(|(name, host)| {
            assert_eq!(image_of(&host, &name), tag, "{name}\n{}", out.report());
            (created(&host, &name), started_at(&host, &name), name)
        })
        .collect();
    rolled.sort();
    for pair in rolled.windows(2) {
        assert!(
            pair[1].0 > pair[0].1,
            "{} was created before {} had started\n{}",
            pair[1].2,
            pair[0].2,
            out.report()
        );
    }
    assert_code(&maestro(&changed, &["plan"]), 0);
    assert_code(&maestro(&changed, &["stop", "-a"]), 0);
}

/// `maestro config` prints Compose's model; `dump` maestro's view of it.
#[test]
fn config_prints_the_model_and_dump_the_containers() {
    let dir = Dir::new();
    let file = compose(&dir, "cp-config", IMAGE, 25434);
    let out = maestro(&file, &["config"]);
    assert_code(&out, 0);
    let model: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    assert_eq!(model["name"], "cp-config");
    assert_eq!(model["services"]["web"]["deploy"]["replicas"], 3);
    assert_eq!(
        model["services"]["web"]["depends_on"]["db"]["condition"],
        "service_healthy"
    );
    let out = maestro(&file, &["dump"]);
    assert_code(&out, 0);
    let text = out.stdout();
    for name in ["cp-config-web-1", "cp-config-web-3", "cp-config-db-1"] {
        assert!(text.contains(name), "{name} not in dump: {text}");
    }
}

/// Without `-f`, a directory holding only `compose.yaml` is read as
/// Compose, said on stderr.
#[test]
fn a_directory_with_only_a_compose_file_is_read_as_compose() {
    let dir = Dir::new();
    compose(&dir, "cp-found", IMAGE, 25435);
    let out = crate::util::TestCommand::maestro()
        .arg("deptree")
        .current_dir(dir.path())
        .env_remove("DOCKER_CONTEXT")
        .env_remove("DOCKER_HOST")
        .timeout(std::time::Duration::from_secs(60))
        .run();
    assert_code(&out, 0);
    assert!(
        out.stderr()
            .contains("reading the Compose file compose.yaml"),
        "{}",
        out.report()
    );
    assert!(out.stdout().contains("web"), "{}", out.report());
}

/// The same file on one host with Debian's docker-compose 1.29: it starts
/// both services (its own names, `PROJECT_SERVICE_N`), db healthy.
#[test]
fn docker_compose_starts_the_same_file_on_one_host() {
    let project = "cpside";
    let dir = Dir::new();
    dir.write("db_password.txt", SECRET);
    let file = dir.write("compose.yaml", body(IMAGE, 25436));
    let compose_cmd = |args: &[&str]| {
        Command::new("docker-compose")
            .args(["-H", &local(), "-p", project, "-f"])
            .arg(&file)
            .args(args)
            .current_dir(dir.path())
            .env_remove("DOCKER_CONTEXT")
            .output()
            .expect("docker-compose runs (apt install docker-compose)")
    };
    struct Down<'a>(&'a dyn Fn(&[&str]) -> std::process::Output);
    impl Drop for Down<'_> {
        fn drop(&mut self) {
            let _ = (self.0)(&["down", "-v", "--timeout", "1"]);
        }
    }
    let _down = Down(&compose_cmd);
    let out = compose_cmd(&["up", "-d"]);
    assert!(
        out.status.success(),
        "docker-compose up: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let running = docker(
        &local(),
        &[
            "ps",
            "--filter",
            &format!("label=com.docker.compose.project={project}"),
            "--format",
            "{{.Names}} {{.Status}}",
        ],
    );
    let lines: Vec<&str> = running.lines().collect();
    assert_eq!(lines.len(), 4, "{running}");
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("cpside_db_1") && l.contains("healthy")),
        "{running}"
    );
}

/// `maestro config` prints, for every conformance case of the Compose
/// reader (`crates/compose/tests/conformance`), the model Compose v2 prints
/// (`expected.json`): the command line reads the same files, the case's
/// process environment (and nothing of the caller's) and its profiles.
#[test]
fn maestro_config_prints_each_conformance_cases_model() {
    let root = crate::util::workspace_root().join("crates/compose/tests/conformance");
    let lines = |p: PathBuf| -> Vec<String> {
        std::fs::read_to_string(p)
            .unwrap_or_default()
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(str::to_owned)
            .collect()
    };
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&root)
        .expect("the conformance cases")
        .flatten()
        .map(|e| e.path())
        .collect();
    cases.sort();
    assert!(cases.len() >= 40, "{} cases", cases.len());
    let mut failed = Vec::new();
    for dir in &cases {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_maestro"));
        cmd.env_clear().env("HOME", "/home/user").current_dir(dir);
        for kv in lines(dir.join("process-env")) {
            if let Some((k, v)) = kv.split_once('=') {
                cmd.env(k, v);
            }
        }
        let profiles = lines(dir.join("profiles"));
        if !profiles.is_empty() {
            cmd.env("COMPOSE_PROFILES", profiles.join(","));
        }
        cmd.args(["-f", "compose.yaml"]);
        for f in lines(dir.join("files")) {
            cmd.args(["-f", &f]);
        }
        let out = cmd.arg("config").output().expect("maestro runs");
        let expected_text = std::fs::read_to_string(dir.join("expected.json"))
            .expect("expected.json")
            .replace("$DIR", &dir.to_string_lossy());
        let expected: serde_json::Value = serde_json::from_str(&expected_text).expect("JSON");
        match serde_json::from_slice::<serde_json::Value>(&out.stdout) {
            Ok(got) if got == expected && out.status.success() => {}
            Ok(got) => failed.push(format!(
                "{}: printed {got:#}\nexpected {expected:#}",
                dir.display()
            )),
            Err(e) => failed.push(format!(
                "{}: {e}; stderr: {}",
                dir.display(),
                String::from_utf8_lossy(&out.stderr)
            )),
        }
    }
    assert!(failed.is_empty(), "{}", failed.join("\n\n"));
}

/// A bad Compose file, a bad placement and `config` on a maestro file:
/// one located sentence each, exit 1, nothing run.
#[test]
fn bad_compose_files_get_located_errors() {
    let dir = Dir::new();
    let bad_port = dir.write(
        "compose.yaml",
        "services:\n  web:\n    image: box\n    ports: ['80:http']\n",
    );
    let out = maestro(&bad_port, &["plan"]);
    assert_code(&out, 1);
    assert!(
        out.stderr()
            .contains("compose.yaml:4:13: services/web/ports[0]: invalid port"),
        "{}",
        out.report()
    );
    let bad_ship = dir.write(
        "docker-compose.yml",
        "x-maestro:\n  ships: {vm1: {ip: 10.0.0.1}}\nservices:\n  web:\n    image: box\n    x-maestro: {ships: [vm2]}\n",
    );
    let out = maestro(&bad_ship, &["status"]);
    assert_code(&out, 1);
    assert!(
        out.stderr().contains("docker-compose.yml:4:3: services/web: replica 1 is placed on the unknown ship `vm2`; the ships are vm1"),
        "{}",
        out.report()
    );
    let maestro_file = dir.write(
        "maestro.yaml",
        "name: m\nservices:\n  web: {image: box, instances: {web-1: {}}}\n",
    );
    let out = maestro(&maestro_file, &["config"]);
    assert_code(&out, 1);
    assert!(
        out.stderr().contains("use `maestro dump`"),
        "{}",
        out.report()
    );
}
