//! Secrets end to end (issue 29 item 1), on the local engine and ship2: a
//! secret from a file, one from maestro's environment and one from a
//! command are readable at `/run/secrets/NAME` in containers on both ships;
//! none of their values is in the engines' inspect output (environment,
//! labels, command, entrypoint, mounts), `dump`, `dump -c`, `plan --json`,
//! the debug trace, the audit trail or the error of a failing command;
//! a rotated value recreates exactly the containers that receive it, for
//! that reason; the command runs for the plays that create or compare
//! containers and never for `status`, `logs` or `stop`.
//!
//! Containers are named `sc-…` and removed by a [`Cleanup`] guard.

use std::path::{Path, PathBuf};

use crate::engine_support::{
    assert_code, container_id, head, instance, line_of, local, q, service, ship2, IDLE, IMAGE,
};
use crate::testbed::{docker, testbed, use_ships, Cleanup};
use crate::util::{Dir, Output, TestCommand};

const FILE_VALUE: &str = "file-secret-AAAA1111";
const ENV_VALUE: &str = "env-secret-BBBB2222";
const CMD_VALUE: &str = "cmd-secret-CCCC3333";
const AS_ENV_VALUE: &str = "as-env-secret-DDDD4444";
const FAILING_VALUE: &str = "leaked-EEEE5555";
const ROTATED_VALUE: &str = "file-secret-rotated-FFFF6666";

/// The environment `sc-NAME`: db (local, no secrets) and web (web-1 local,
/// web-2 on ship2) receiving the four secrets; a log auditor at debug level
/// writing to `audit.log`; `command` is the command secret's shell text.
fn file(dir: &Dir, name: &str, command: &str) -> PathBuf {
    let n = |s: &str| format!("sc-{name}-{s}");
    let count = dir.join("count");
    let audit = dir.join("audit.log");
    let mut text = head(
        &format!("sc-{name}"),
        &[
            ("local", testbed().local_ship()),
            ("ship2", testbed().ship2_tcp()),
        ],
    );
    text += &service("db", IMAGE, &[], &[instance(&n("db-1"), "local", IDLE, "")]);
    text += &service(
        "web",
        IMAGE,
        &[
            "requires: [db]",
            "secrets: [file_pw, env_pw, {source: cmd_pw, mode: 0440}, {source: api_key, as_env: API_KEY}]",
        ],
        &[
            instance(&n("web-1"), "local", IDLE, ""),
            instance(&n("web-2"), "ship2", IDLE, ""),
        ],
    );
    text += &format!(
        "secrets:\n  file_pw: {{file: pw.txt}}\n  env_pw: {{environment: SC_TEST_ENV_SECRET}}\n  cmd_pw: {{command: {}}}\n  api_key: {{command: {}}}\n",
        q(&format!("echo run >> {}; {command}", count.display())),
        q(&printing(AS_ENV_VALUE)),
    );
    text += &format!(
        "audit:\n  - {{type: log, file: {}, level: debug}}\n",
        audit.display()
    );
    dir.write("pw.txt", FILE_VALUE);
    dir.write("maestro.yaml", text)
}

/// A shell command printing `value` whose own text does not hold it whole
/// (as `op read op://…` does not hold the password it prints).
fn printing(value: &str) -> String {
    let (a, b) = value.split_at(value.len() / 2);
    format!("printf %s%s {a} {b}")
}

fn names(name: &str) -> Vec<String> {
    ["db-1", "web-1", "web-2"]
        .iter()
        .map(|s| format!("sc-{name}-{s}"))
        .collect()
}

/// `maestro -f FILE ARGS…` with the environment secret's variable set.
fn run(file: &Path, args: &[&str], debug: bool) -> Output {
    let mut command = TestCommand::maestro();
    command
        .arg("-f")
        .arg(file)
        .args(args)
        .env("NO_COLOR", "1")
        .env("SC_TEST_ENV_SECRET", ENV_VALUE)
        .env_remove("DOCKER_CONTEXT")
        .env_remove("DOCKER_HOST")
        .current_dir(file.parent().expect("in a directory"))
        .timeout(std::time::Duration::from_secs(120));
    command.env("HOME", crate::testbed::ssh_home());
    if debug {
        command.env("MAESTRO_LOG", "debug");
    }
    command.run()
}

fn host_of(name: &str) -> String {
    if name.ends_with("web-2") {
        ship2()
    } else {
        local()
    }
}

/// `cat PATH` in `name`, through the docker CLI.
fn cat(name: &str, path: &str) -> String {
    docker(&host_of(name), &["exec", name, "cat", path])
}

/// How many times the command secret ran so far.
fn runs(dir: &Dir) -> usize {
    std::fs::read_to_string(dir.join("count"))
        .map(|t| t.lines().count())
        .unwrap_or(0)
}

fn assert_no_value(what: &str, text: &str, values: &[&str]) {
    for v in values {
        assert!(
            !text.contains(v),
            "{what} shows the secret value {v}:\n{text}"
        );
    }
}

#[test]
fn secrets_reach_containers_on_two_ships_as_files_and_nowhere_else() {
    let _ships = use_ships();
    let all = names("two");
    let _cleanup = Cleanup::new(&all);
    let dir = Dir::new();
    let file = file(&dir, "two", &printing(CMD_VALUE));
    let values = [FILE_VALUE, ENV_VALUE, CMD_VALUE, AS_ENV_VALUE];

    let plan = run(&file, &["plan", "--json"], false);
    assert_code(&plan, 3);
    assert_eq!(runs(&dir), 1, "plan reads the command secret once");
    let up = run(&file, &["up"], true);
    assert_code(&up, 0);
    assert_eq!(runs(&dir), 2, "up reads the command secret once");
    for web in &all[1..] {
        assert_eq!(cat(web, "/run/secrets/file_pw"), FILE_VALUE, "{web}");
        assert_eq!(cat(web, "/run/secrets/env_pw"), ENV_VALUE, "{web}");
        assert_eq!(cat(web, "/run/secrets/cmd_pw"), CMD_VALUE, "{web}");
        let ls = docker(
            &host_of(web),
            &["exec", web, "ls", "-ln", "/run/secrets/cmd_pw"],
        );
        assert!(ls.starts_with("-r--r-----"), "mode 0440: {ls}");
        let env = docker(&host_of(web), &["exec", web, "sh", "-c", "echo $API_KEY"]);
        assert_eq!(env.trim(), AS_ENV_VALUE);
        let inspect = docker(&host_of(web), &["inspect", web]);
        assert_no_value(&format!("docker inspect {web}"), &inspect, &values[..3]);
        assert!(inspect.contains("io.maestro.secrets"), "{inspect}");
    }
    let dump = run(&file, &["dump", "-c"], false);
    assert_code(&dump, 0);
    for (what, out) in [
        ("plan --json", &plan),
        ("up (debug)", &up),
        ("dump -c", &dump),
    ] {
        assert_no_value(what, &out.stdout(), &values);
        assert_no_value(what, &out.stderr(), &values);
    }
    assert!(
        dump.stdout().contains("cmd_pw"),
        "dump names the secrets: {}",
        dump.stdout()
    );
    let audit = std::fs::read_to_string(dir.join("audit.log")).unwrap_or_default();
    assert!(!audit.is_empty(), "the auditor wrote");
    assert_no_value("the audit trail", &audit, &values);

    // status, logs and stop read no secret.
    for args in [&["status"][..], &["logs", &all[1]], &["stop", "-a"]] {
        let out = run(&file, args, false);
        assert_code(&out, 0);
    }
    assert_eq!(runs(&dir), 2, "status, logs and stop run no secret command");
}

#[test]
fn a_rotated_secret_recreates_only_the_containers_that_receive_it() {
    let _ships = use_ships();
    let all = names("rot");
    let _cleanup = Cleanup::new(&all);
    let dir = Dir::new();
    let file = file(&dir, "rot", &printing(CMD_VALUE));
    assert_code(&run(&file, &["up"], false), 0);
    let before: Vec<String> = all.iter().map(|n| container_id(&host_of(n), n)).collect();
    assert_code(&run(&file, &["plan"], false), 0);

    dir.write("pw.txt", ROTATED_VALUE);
    let plan = run(&file, &["plan"], false);
    assert_code(&plan, 3);
    assert!(
        line_of(&plan, &all[0]).contains("none"),
        "{}",
        plan.report()
    );
    for web in &all[1..] {
        let line = line_of(&plan, web);
        assert!(line.contains("recreate (secret file_pw changed)"), "{line}");
    }
    assert_no_value("plan", &plan.stdout(), &[FILE_VALUE, ROTATED_VALUE]);
    assert_code(&run(&file, &["up"], false), 0);
    let after: Vec<String> = all.iter().map(|n| container_id(&host_of(n), n)).collect();
    assert_eq!(before[0], after[0], "db receives no secret: kept");
    for i in 1..3 {
        assert_ne!(before[i], after[i], "{} was recreated", all[i]);
        assert_eq!(cat(&all[i], "/run/secrets/file_pw"), ROTATED_VALUE);
    }
}

#[test]
fn a_failing_secret_command_stops_the_play_without_showing_the_value() {
    let all = names("fail");
    let _cleanup = Cleanup::new(&all);
    let dir = Dir::new();
    let file = file(
        &dir,
        "fail",
        &format!(
            "{}; echo; echo 'vault: permission denied' >&2; exit 2",
            printing(FAILING_VALUE)
        ),
    );
    let out = run(&file, &["up"], true);
    assert_code(&out, 1);
    let stderr = out.stderr();
    assert!(
        stderr.contains(
            "secret cmd_pw: its command failed (exit status: 2): vault: permission denied"
        ),
        "{}",
        out.report()
    );
    assert_no_value("the failure", &stderr, &[FAILING_VALUE]);
    assert_no_value("the failure", &out.stdout(), &[FAILING_VALUE]);
    for n in &all {
        let listed = docker(&local(), &["ps", "-aq", "--filter", &format!("name=^{n}$")]);
        assert!(listed.trim().is_empty(), "{n} was created");
    }
}
