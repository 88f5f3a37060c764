//! `maestro run` end to end on the local engine: a one-off container of a
//! service gets the service's variables (link variables included), passes
//! its stdout, stderr and exit status on, and is removed (or kept with
//! `--keep`); `--ship` names a ship with the service; a one-off running
//! meanwhile is neither shown by `status` nor removed by `up
//! --remove-orphans`.
//!
//! Containers are named `run-…` (one-offs `SERVICE-run-XXXXXX`, found by
//! their environment's label), the environments `run…`.

use std::time::{Duration, Instant};

use crate::engine_support::{
    assert_code, error_line, head, instance, local, maestro, service, IDLE, IMAGE,
};
use crate::testbed::{docker, testbed, Cleanup};
use crate::util::Dir;

/// Removes every container labelled as environment `env`'s, on the local
/// engine, when created and when dropped (one-offs have random names).
struct OneOffs(String);

impl OneOffs {
    fn new(env: &str) -> OneOffs {
        let guard = OneOffs(env.to_owned());
        guard.remove_all();
        guard
    }

    fn remove_all(&self) {
        for name in of_environment(&self.0) {
            let _ = std::process::Command::new("docker")
                .args(["-H", &local(), "rm", "-f", "-v", &name])
                .output();
        }
    }
}

impl Drop for OneOffs {
    fn drop(&mut self) {
        self.remove_all();
    }
}

/// The names of the containers (running or not) labelled as `env`'s.
fn of_environment(env: &str) -> Vec<String> {
    let filter = format!("label=io.maestro.environment={env}");
    docker(
        &local(),
        &["ps", "-a", "--filter", &filter, "--format", "{{.Names}}"],
    )
    .lines()
    .map(str::to_owned)
    .collect()
}

/// The one-offs (running or not) of environment `env`.
fn one_offs(env: &str) -> Vec<String> {
    let filter = format!("label=io.maestro.environment={env}");
    docker(
        &local(),
        &[
            "ps",
            "-a",
            "--filter",
            &filter,
            "--filter",
            "label=io.maestro.oneoff=true",
            "--format",
            "{{.Names}}",
        ],
    )
    .lines()
    .map(str::to_owned)
    .collect()
}

/// An environment `name` on the local engine (and `other`, a second name
/// for it): `db` (its instance `db`, publishing a port) and `web`
/// requiring it (its instance `web`), both idle.
fn two_services(name: &str, db: &str, web: &str) -> String {
    let mut text = head(
        name,
        &[
            ("local", testbed().local_ship()),
            ("other", testbed().local_ship()),
        ],
    );
    let port = crate::engine_support::free_port();
    text.push_str(&service(
        "db",
        IMAGE,
        &[],
        &[instance(
            db,
            "local",
            IDLE,
            &format!("ports: {{pg: \"5432:{port}\"}}"),
        )],
    ));
    text.push_str(&service(
        "web",
        IMAGE,
        &["requires: [db]", "env: {GREETING: hello}"],
        &[instance(web, "local", IDLE, "")],
    ));
    text
}

#[test]
fn run_passes_on_the_output_and_status_and_leaves_nothing() {
    let env = "runout";
    let _oneoffs = OneOffs::new(env);
    let dir = Dir::new();
    let file = dir.write(
        "maestro.yaml",
        two_services(env, "run-out-db-1", "run-out-web-1"),
    );
    let script = "echo $DB_RUN_OUT_DB_1_HOST $GREETING; echo to-err >&2; exit 3";
    let out = maestro(&file, &["run", "web", "--", "sh", "-c", script]);
    assert_code(&out, 3);
    let ip = testbed().var("TESTBED_LOCAL_IP");
    assert_eq!(out.stdout(), format!("{ip} hello\n"), "{}", out.report());
    assert!(
        out.stderr().lines().any(|l| l == "to-err"),
        "{}",
        out.report()
    );
    assert!(!out.stderr().contains("ERROR"), "{}", out.report());
    assert_eq!(of_environment(env), Vec::<String>::new(), "left behind");

    // Success is 0; the image's entrypoint and the service's variables stay.
    let out = maestro(
        &file,
        &["run", "web", "--", "sh", "-c", "test -n \"$GREETING\""],
    );
    assert_code(&out, 0);
    assert_eq!(of_environment(env), Vec::<String>::new(), "left behind");
}

#[test]
fn run_keep_leaves_the_one_off_labelled_as_such() {
    let env = "runkeep";
    let _oneoffs = OneOffs::new(env);
    let dir = Dir::new();
    let file = dir.write(
        "maestro.yaml",
        two_services(env, "run-keep-db-1", "run-keep-web-1"),
    );
    let out = maestro(
        &file,
        &["run", "--keep", "web", "--", "sh", "-c", "echo kept"],
    );
    assert_code(&out, 0);
    assert_eq!(out.stdout(), "kept\n", "{}", out.report());
    let kept = one_offs(env);
    assert_eq!(kept.len(), 1, "{kept:?}");
    let name = &kept[0];
    let suffix = name.strip_prefix("web-run-").unwrap_or_default();
    assert!(
        suffix.len() == 6 && suffix.chars().all(|c| c.is_ascii_hexdigit()),
        "{name}"
    );
    let found = crate::testbed::inspect(&local(), name).expect("kept");
    let labels = &found["Config"]["Labels"];
    assert_eq!(labels["io.maestro.service"], "web");
    assert_eq!(labels["io.maestro.oneoff"], "true");
    assert!(labels.get("io.maestro.instance").is_none(), "{labels}");
    assert!(labels.get("io.maestro.spec-hash").is_none(), "{labels}");
    assert_eq!(found["HostConfig"]["RestartPolicy"]["Name"], "no");
    assert_eq!(found["State"]["Running"], false);
}

#[test]
fn run_on_a_ship_without_the_service_names_the_ships_with_it() {
    let env = "runship";
    let _oneoffs = OneOffs::new(env);
    let dir = Dir::new();
    let file = dir.write(
        "maestro.yaml",
        two_services(env, "run-ship-db-1", "run-ship-web-1"),
    );
    let out = maestro(&file, &["run", "--ship", "other", "web", "--", "true"]);
    assert_code(&out, 1);
    let error = error_line(&out);
    assert!(
        error.contains("no instance on ship other") && error.contains("local"),
        "{}",
        out.report()
    );
    let out = maestro(&file, &["run", "--ship", "local", "web", "--", "true"]);
    assert_code(&out, 0);
    assert_eq!(of_environment(env), Vec::<String>::new(), "left behind");
}

#[test]
fn a_running_one_off_is_neither_shown_nor_removed_by_plays() {
    let env = "runplay";
    let names = ["run-play-db-1", "run-play-web-1"];
    let _cleanup = Cleanup::new(&names);
    let _oneoffs = OneOffs::new(env);
    let dir = Dir::new();
    let file = dir.write("maestro.yaml", two_services(env, names[0], names[1]));
    maestro(&file, &["start"]).assert_success();

    let background = {
        let file = file.clone();
        std::thread::spawn(move || {
            maestro(
                &file,
                &["run", "web", "--", "sh", "-c", "sleep 5; echo done"],
            )
        })
    };
    let started = Instant::now();
    let one_off = loop {
        if let Some(name) = one_offs(env).into_iter().next() {
            break name;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "no one-off appeared"
        );
        std::thread::sleep(Duration::from_millis(100));
    };

    let out = maestro(&file, &["status"]);
    assert_code(&out, 0);
    assert!(!out.stdout().contains("-run-"), "{}", out.report());
    let out = maestro(&file, &["up", "--remove-orphans"]);
    assert_code(&out, 0);
    assert!(!out.stdout().contains(&one_off), "{}", out.report());
    assert!(!out.stderr().contains(&one_off), "{}", out.report());
    assert_eq!(one_offs(env), [one_off], "up removed the one-off");

    let out = background.join().expect("the run thread ends");
    assert_code(&out, 0);
    assert_eq!(out.stdout(), "done\n", "{}", out.report());
    assert_eq!(one_offs(env), Vec::<String>::new(), "left behind");
    let mut left = of_environment(env);
    left.sort();
    assert_eq!(left, names, "only the instances are left");
}

/// The issue's own example: a one-off of web prints db's address (a link
/// variable) and the secret it receives as a file, exits 3, and leaves
/// nothing behind — while another holds the environment's deploy lock
/// (a one-off takes none).
#[test]
fn run_gets_link_variables_and_secrets_and_needs_no_lock() {
    let env = "runsecret";
    let _oneoffs = OneOffs::new(env);
    let dir = Dir::new();
    let text = two_services(env, "run-secret-db-1", "run-secret-web-1").replace(
        "env: {GREETING: hello}",
        "env: {GREETING: hello}\n    secrets: [db_password]",
    ) + "secrets:\n  db_password: {environment: RUN_TEST_DB_PASSWORD}\n";
    let file = dir.write("maestro.yaml", text);
    let locked = maestro(&file, &["lock", "acquire", "-m", "someone deploys"]);
    assert_code(&locked, 0);
    let script = "echo $DB_RUN_SECRET_DB_1_HOST; cat /run/secrets/db_password; echo; exit 3";
    let mut command = crate::util::TestCommand::maestro();
    command
        .arg("-f")
        .arg(&file)
        .args(["run", "web", "--", "sh", "-c", script])
        .env("NO_COLOR", "1")
        .env("RUN_TEST_DB_PASSWORD", "pw-from-the-vault")
        .env_remove("DOCKER_HOST")
        .env_remove("DOCKER_CONTEXT")
        .timeout(Duration::from_secs(120));
    let out = command.run();
    assert_code(&out, 3);
    let ip = testbed().var("TESTBED_LOCAL_IP");
    assert_eq!(
        out.stdout(),
        format!("{ip}\npw-from-the-vault\n"),
        "{}",
        out.report()
    );
    assert_eq!(of_environment(env), Vec::<String>::new(), "left behind");
    assert_code(&maestro(&file, &["lock", "release", "--force"]), 0);
}
