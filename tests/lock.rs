//! The deploy lock end to end (issue 19 item 1): kept on the environment's
//! first ship as the container `maestro-lock-<env>`. Two concurrent
//! `start`s: one runs, the other is refused at once naming the holder; a
//! `kill -9`ed run leaves a lock that `lock status` shows as dead and
//! `lock release --force` clears; `lock acquire -m` refuses plays with its
//! message until released, while read-only commands go on; the audit trail
//! hears of each lock and release.
//!
//! Containers are named `lock-…`, the environments `lock…`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::engine_support::{
    argv, assert_code, error_line, exists, head, instance, local, maestro, running, service, IDLE,
    IMAGE,
};
use crate::testbed::{testbed, Cleanup};
use crate::util::{Dir, TestCommand};

/// An environment whose one container's `running` check waits until the
/// file `gate` exists, so a `start` holds the lock until the test opens it;
/// with a log auditor writing to `audit.log`.
fn gated(dir: &Dir, env: &str, name: &str) -> (PathBuf, PathBuf) {
    let gate = dir.join("gate");
    let wait = format!("while [ ! -e {} ]; do sleep 0.1; done", gate.display());
    let check = format!(
        "lifecycle: {{running: [{{type: exec, command: {}}}]}}",
        argv(&["sh", "-c", &wait])
    );
    let mut text = head(env, &[("local", testbed().local_ship())]);
    text = text.replace(
        "services:\n",
        &format!(
            "audit:\n  - {{type: log, file: {}}}\nservices:\n",
            dir.join("audit.log").display()
        ),
    );
    text.push_str(&service(
        "gated",
        IMAGE,
        &[&check],
        &[instance(name, "local", IDLE, "")],
    ));
    (dir.write("maestro.yaml", text), gate)
}

/// `maestro -f FILE ARGS…` in the background.
fn spawn(file: &Path, args: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_maestro"))
        .arg("-f")
        .arg(file)
        .args(args)
        .env("NO_COLOR", "1")
        .env_remove("MAESTRO_NO_LOCK")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("maestro runs")
}

/// Waits (within the test's limit of 60 s) until `ready` holds.
fn await_that(what: &str, ready: impl Fn() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !ready() {
        assert!(Instant::now() < deadline, "never: {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The name of this machine's user@host, as the lock names its holders.
fn me() -> String {
    let out = Command::new("sh")
        .args(["-c", "echo \"${LOGNAME:-${USER:-$(id -un)}}@$(hostname)\""])
        .output()
        .expect("sh runs");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

#[test]
fn of_two_concurrent_starts_one_runs_and_the_other_is_refused_naming_the_holder() {
    let name = "lock-pair-1";
    let _cleanup = Cleanup::new(&[name, "maestro-lock-lockpair"]);
    let dir = Dir::new();
    let (file, gate) = gated(&dir, "lockpair", name);
    let host = local();

    let mut first = spawn(&file, &["start"]);
    // The first holds the lock and is in its `running` check.
    await_that("the first start runs its container", || {
        running(&host, name)
    });
    assert!(exists(&host, "maestro-lock-lockpair"));

    let second = maestro(&file, &["start", "gated"]);
    assert_code(&second, 1);
    let line = error_line(&second);
    for needle in [
        "the deploy lock of environment lockpair is held by",
        &me(),
        "for `start`",
    ] {
        assert!(line.contains(needle), "`{needle}` not in {line:?}");
    }
    // Refused while the first still runs (its check waits for the gate).
    assert!(
        first.try_wait().expect("wait").is_none(),
        "the first start ended"
    );

    std::fs::write(&gate, "").expect("the gate opens");
    let out = first.wait_with_output().expect("the first start ends");
    assert!(
        out.status.success(),
        "the first start failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !exists(&host, "maestro-lock-lockpair"),
        "the lock was not released"
    );
    // The auditors hear of the play, as before (not of its lock).
    let audit = std::fs::read_to_string(dir.join("audit.log")).expect("the audit log");
    assert!(!audit.contains("deploy lock"), "{audit}");
    assert!(audit.contains("is starting lock-pair-1."), "{audit}");
    // Free again: the next play runs.
    maestro(&file, &["stop", name]).assert_success();
}

#[test]
fn a_killed_run_leaves_a_lock_that_status_shows_and_force_release_clears() {
    let name = "lock-dead-1";
    let _cleanup = Cleanup::new(&[name, "maestro-lock-lockdead"]);
    let dir = Dir::new();
    let (file, gate) = gated(&dir, "lockdead", name);
    let host = local();

    let mut run = spawn(&file, &["start"]);
    await_that("the start runs its container", || running(&host, name));
    run.kill().expect("kill -9");
    let _ = run.wait();
    // Let the orphaned check go.
    std::fs::write(&gate, "").expect("the gate opens");

    let out = maestro(&file, &["lock", "status"]);
    out.assert_success();
    let text = out.stdout();
    assert!(
        text.contains("is held by") && text.contains(&me()) && text.contains("for `start`"),
        "{}",
        out.report()
    );
    assert!(text.contains("is no longer running"), "{}", out.report());

    // Another operator is refused, told the run is gone and how to clear it.
    let refused = TestCommand::maestro()
        .arg("-f")
        .arg(&file)
        .args(["stop", name])
        .env("LOGNAME", "someone-else")
        .env("NO_COLOR", "1")
        .run();
    assert_code(&refused, 1);
    let line = error_line(&refused);
    assert!(
        line.contains("is no longer running") && line.contains("lock release --force"),
        "{}",
        refused.report()
    );

    // Not this process's lock: a plain release refuses, --force clears it.
    let out = maestro(&file, &["lock", "release"]);
    assert_code(&out, 1);
    assert!(error_line(&out).contains("--force"), "{}", out.report());
    let out = maestro(&file, &["lock", "release", "--force"]);
    out.assert_success();
    assert!(!exists(&host, "maestro-lock-lockdead"));
    let out = maestro(&file, &["lock", "status"]);
    assert!(out.stdout().contains("is free"), "{}", out.report());
    maestro(&file, &["stop", name]).assert_success();
}

#[test]
fn an_acquired_lock_refuses_plays_with_its_message_until_released() {
    let names = ["lock-msg-1"];
    let _cleanup = Cleanup::new(&[names[0], "maestro-lock-lockmsg"]);
    let dir = Dir::new();
    let mut text = head("lockmsg", &[("local", testbed().local_ship())]).replace(
        "services:\n",
        &format!(
            "audit:\n  - {{type: log, file: {}}}\nservices:\n",
            dir.join("audit.log").display()
        ),
    );
    text.push_str(&service(
        "msg",
        IMAGE,
        &[],
        &[instance(names[0], "local", IDLE, "")],
    ));
    let file = dir.write("maestro.yaml", text);
    let host = local();

    maestro(&file, &["lock", "acquire", "-m", "migrating the db"]).assert_success();
    let again = maestro(&file, &["lock", "acquire", "-m", "me too"]);
    assert_code(&again, 1);
    for command in [
        vec!["start"],
        vec!["up"],
        vec!["restart", "-a"],
        vec!["clean"],
        vec!["kill", "-a"],
        vec!["stop", "-a"],
        vec!["rollback"],
    ] {
        let out = maestro(&file, &command);
        assert_code(&out, 1);
        let line = error_line(&out);
        assert!(
            line.contains("held by") && line.contains(": migrating the db"),
            "`{}`: {line}",
            command.join(" ")
        );
    }
    assert!(!exists(&host, names[0]), "a refused play acted");
    // Read-only commands do not wait for the lock.
    for command in [["status"], ["plan"], ["dump"], ["deptree"]] {
        let out = maestro(&file, &command);
        assert!(
            out.code() == Some(0) || out.code() == Some(3),
            "{}",
            out.report()
        );
    }
    let out = maestro(&file, &["lock", "status"]);
    assert!(
        out.stdout().contains("migrating the db"),
        "{}",
        out.report()
    );

    maestro(&file, &["lock", "release"]).assert_success();
    maestro(&file, &["start"]).assert_success();
    assert!(running(&host, names[0]));
    let out = maestro(&file, &["logs", names[0]]);
    out.assert_success();
    let audit = std::fs::read_to_string(dir.join("audit.log")).expect("the audit log");
    let lines: Vec<&str> = audit
        .lines()
        .filter(|l| l.contains("deploy lock"))
        .collect();
    assert_eq!(lines.len(), 2, "{audit}");
    assert!(
        lines[0].contains("is taking the deploy lock for lock-msg-1."),
        "{audit}"
    );
    assert!(
        lines[1].contains("is releasing the deploy lock for lock-msg-1."),
        "{audit}"
    );
}

/// Several plays started at the same moment race for the lock while its
/// container is being created: each either runs or is refused naming the
/// holder, none fails on the engine's name conflict.
#[test]
fn plays_started_at_the_same_moment_each_run_or_are_refused_naming_the_holder() {
    let name = "lock-race-1";
    let _cleanup = Cleanup::new(&[name, "maestro-lock-lockrace"]);
    let dir = Dir::new();
    let mut text = head("lockrace", &[("local", testbed().local_ship())]);
    text.push_str(&service(
        "race",
        IMAGE,
        &[],
        &[instance(name, "local", IDLE, "")],
    ));
    let file = dir.write("maestro.yaml", text);
    for round in 0..3 {
        let runs: Vec<Child> = (0..4).map(|_| spawn(&file, &["start"])).collect();
        let mut ran = 0;
        for run in runs {
            let out = run.wait_with_output().expect("a start ends");
            let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
            if out.status.success() {
                ran += 1;
            } else {
                assert_eq!(out.status.code(), Some(1), "round {round}: {stderr}");
                assert!(
                    stderr.contains("the deploy lock of environment lockrace is held by"),
                    "round {round}: {stderr}"
                );
            }
        }
        assert!(ran >= 1, "round {round}: no start ran");
        assert!(!exists(&local(), "maestro-lock-lockrace"), "round {round}");
        maestro(&file, &["kill", name]).assert_success();
    }
}
