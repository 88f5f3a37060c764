//! Lifecycle checks end to end (spec environment-file §7, commands `start` and
//! `stop`): each check type (`tcp`, `http`, `exec`, `rexec`, `sleep`) passing
//! and failing through `maestro start` on the local engine; service- and
//! instance-level lists both run; `pre-start`, `running`, `pre-stop` and
//! `stopped` checks run at the right moment; a failing `running` check
//! aborts the containers not yet begun; a container that dies during its
//! `running` checks fails the start at once, with its last log lines. A
//! container whose `running` checks fail is left on its engine, stopped.
//!
//! No test measures how long a start took: a start that should end early
//! (before a long wait it must not wait out) is given less time than that
//! wait ([`maestro_within`]), and a wait that must be waited is seen in the
//! engine's own event times.
//!
//! Every container is named `ck-…` and removed by a [`Cleanup`] guard made
//! before anything starts.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::engine_support::{
    argv, assert_code, assert_stopped, error_line, events, first_event, free_port, head,
    line_of_spaced, local, maestro_timed, maestro_within, now_nanos, running, secs, IDLE, IMAGE,
};
use crate::testbed::{docker, inspect, testbed, Cleanup};
use crate::util::{Dir, Output};

/// Serves `/www` with busybox httpd on port 8080; the index page says
/// `hello from $CONTAINER_NAME`. Exits at once on SIGTERM.
const SERVE: &[&str] = &[
    "sh",
    "-c",
    "trap 'exit 0' TERM; mkdir -p /www; echo \"hello from $CONTAINER_NAME\" > /www/index.html; httpd -f -p 8080 -h /www & wait",
];

/// One instance of a service on the local ship.
struct Instance<'a> {
    name: &'a str,
    command: &'a [&'a str],
    /// The named port `web`, 8080 inside, published on this port.
    port: Option<u16>,
    /// The instance's `lifecycle` as a YAML flow map, e.g. `{running: [...]}`.
    lifecycle: &'a str,
}

/// One service with its instances.
struct Service<'a> {
    name: &'a str,
    requires: &'a [&'a str],
    /// The service's `lifecycle` as a YAML flow map, or "".
    lifecycle: &'a str,
    instances: Vec<Instance<'a>>,
}

/// Writes a one-ship environment (the local engine) and returns its path.
fn environment(dir: &Dir, name: &str, services: &[Service]) -> PathBuf {
    let mut text = head(name, &[("local", testbed().local_ship())]);
    for s in services {
        text.push_str(&format!("  {}:\n    image: {IMAGE}\n", s.name));
        if !s.requires.is_empty() {
            text.push_str(&format!("    requires: [{}]\n", s.requires.join(", ")));
        }
        if !s.lifecycle.is_empty() {
            text.push_str(&format!("    lifecycle: {}\n", s.lifecycle));
        }
        text.push_str("    instances:\n");
        for i in &s.instances {
            text.push_str(&format!(
                "      {}:\n        ship: local\n        stop_timeout: 2\n        command: {}\n",
                i.name,
                argv(i.command)
            ));
            if let Some(port) = i.port {
                text.push_str(&format!("        ports: {{web: \"8080:{port}\"}}\n"));
            }
            if !i.lifecycle.is_empty() {
                text.push_str(&format!("        lifecycle: {}\n", i.lifecycle));
            }
        }
    }
    dir.write("maestro.yaml", text)
}

/// A single-service, single-instance environment.
fn one_container(
    dir: &Dir,
    name: &str,
    command: &[&str],
    port: Option<u16>,
    lifecycle: &str,
) -> PathBuf {
    environment(
        dir,
        name,
        &[Service {
            name: "svc",
            requires: &[],
            lifecycle: "",
            instances: vec![Instance {
                name,
                command,
                port,
                lifecycle,
            }],
        }],
    )
}

/// `exec` check YAML running `sh -c SCRIPT` locally.
fn exec_check(script: &str, attempts: u32) -> String {
    format!(
        "{{type: exec, command: {}, attempts: {attempts}}}",
        argv(&["sh", "-c", script])
    )
}

/// Asserts a failed play: exit status 1, an `ERROR:` line on stderr naming
/// the container and containing `needle`, and no panic.
fn assert_failed(out: &Output, container: &str, needle: &str) {
    assert_code(out, 1);
    let error = error_line(out);
    assert!(
        error.contains(container),
        "the error does not name {container}\n{}",
        out.report()
    );
    assert!(
        error.contains(needle),
        "the error does not say `{needle}`\n{}",
        out.report()
    );
}

/// A start that succeeded: exit 0, the container's line says `started`, it
/// runs on the engine.
fn assert_started(out: &Output, name: &str) {
    out.assert_success();
    assert!(
        line_of_spaced(out, name).contains("started"),
        "{name} is not reported started\n{}",
        out.report()
    );
    assert!(
        out.stdout().contains("start: 1 done in"),
        "no summary line\n{}",
        out.report()
    );
    assert!(running(&local(), name), "{name} does not run on the engine");
}

// ---------------------------------------------------------------- tcp

#[test]
fn tcp_check_passes_once_the_published_port_accepts() {
    let name = "ck-tcp-ok";
    let _cleanup = Cleanup::new(&[name]);
    let dir = Dir::new();
    let port = free_port();
    let file = one_container(
        &dir,
        name,
        SERVE,
        Some(port),
        "{running: [{type: tcp, port: web, max_wait: 30}]}",
    );
    let (out, _) = maestro_timed(&file, &["start"]);
    assert_started(&out, name);
    // The check passed because something answers there now.
    std::net::TcpStream::connect((testbed().var("TESTBED_LOCAL_IP"), port))
        .expect("the checked port accepts connections");
}

#[test]
fn tcp_check_fails_when_nothing_listens() {
    let name = "ck-tcp-bad";
    let _cleanup = Cleanup::new(&[name]);
    let dir = Dir::new();
    let port = free_port();
    // The port is published, but nothing listens on 8080 inside.
    let file = one_container(
        &dir,
        name,
        IDLE,
        Some(port),
        "{running: [{type: tcp, port: web, max_wait: 2}]}",
    );
    let (out, _) = maestro_timed(&file, &["start"]);
    assert_failed(
        &out,
        name,
        &format!(
            "running check failed: tcp check on port web ({}:{port}) failed: no connection accepted after 2 attempts",
            testbed().var("TESTBED_LOCAL_IP")
        ),
    );
    assert_stopped(&local(), name, &out);
    assert!(
        line_of_spaced(&out, name).contains("failed"),
        "{}",
        out.report()
    );
    assert!(
        out.stdout().contains("start: 0 done, 1 failed in"),
        "{}",
        out.report()
    );
}

// ---------------------------------------------------------------- http

#[test]
fn http_check_passes_when_the_page_matches() {
    let name = "ck-http-ok";
    let _cleanup = Cleanup::new(&[name]);
    let dir = Dir::new();
    let port = free_port();
    let file = one_container(
        &dir,
        name,
        SERVE,
        Some(port),
        r#"{running: [{type: http, port: web, path: /index.html, match_regex: "^hello from ck-http-[a-z]+", max_wait: 30}]}"#,
    );
    let (out, _) = maestro_timed(&file, &["start"]);
    assert_started(&out, name);
}

#[test]
fn http_check_fails_on_a_missing_page() {
    let name = "ck-http-404";
    let _cleanup = Cleanup::new(&[name]);
    let dir = Dir::new();
    let port = free_port();
    let file = one_container(
        &dir,
        name,
        SERVE,
        Some(port),
        "{running: [{type: http, port: web, path: /missing.html, max_wait: 3}]}",
    );
    let (out, _) = maestro_timed(&file, &["start"]);
    assert_failed(&out, name, "running check failed: http check GET");
    assert_stopped(&local(), name, &out);
    let stderr = out.stderr();
    assert!(
        stderr.contains(&format!(
            "http://{}:{port}/missing.html",
            testbed().var("TESTBED_LOCAL_IP")
        )),
        "the error does not name the URL\n{}",
        out.report()
    );
    assert!(
        stderr.contains("404"),
        "the error does not give the status\n{}",
        out.report()
    );
}

#[test]
fn http_check_fails_when_the_body_does_not_match() {
    let name = "ck-http-nomatch";
    let _cleanup = Cleanup::new(&[name]);
    let dir = Dir::new();
    let port = free_port();
    let file = one_container(
        &dir,
        name,
        SERVE,
        Some(port),
        r#"{running: [{type: http, port: web, match_regex: "goodbye", max_wait: 3}]}"#,
    );
    let (out, _) = maestro_timed(&file, &["start"]);
    assert_failed(&out, name, "running check failed: http check GET");
    assert_stopped(&local(), name, &out);
    assert!(
        out.stderr().contains("not matching `goodbye`"),
        "the error does not say the body did not match\n{}",
        out.report()
    );
}

// ---------------------------------------------------------------- exec

#[test]
fn exec_check_passes_with_the_container_environment() {
    let name = "ck-exec-ok";
    let _cleanup = Cleanup::new(&[name]);
    let dir = Dir::new();
    let seen = dir.join("seen");
    // Passes only with the container's environment; records it as well.
    let script = format!(
        "test \"$CONTAINER_NAME\" = {name} && echo \"$CONTAINER_NAME $SERVICE_NAME $MAESTRO_ENVIRONMENT_NAME\" > {}",
        seen.display()
    );
    let lifecycle = format!("{{running: [{}]}}", exec_check(&script, 3));
    let file = one_container(&dir, name, IDLE, None, &lifecycle);
    let (out, _) = maestro_timed(&file, &["start"]);
    assert_started(&out, name);
    let text = std::fs::read_to_string(&seen).expect("the exec check ran");
    assert_eq!(text.trim(), format!("{name} svc {name}"));
}

#[test]
fn exec_check_fails_after_its_attempts() {
    let name = "ck-exec-bad";
    let _cleanup = Cleanup::new(&[name]);
    let dir = Dir::new();
    let count = dir.join("count");
    let script = format!(
        "echo attempt >> {}; test \"$CONTAINER_NAME\" = someone-else",
        count.display()
    );
    let lifecycle = format!("{{running: [{}]}}", exec_check(&script, 2));
    let file = one_container(&dir, name, IDLE, None, &lifecycle);
    let (out, _) = maestro_timed(&file, &["start"]);
    assert_failed(&out, name, "running check failed: exec check");
    assert_stopped(&local(), name, &out);
    assert!(
        out.stderr().contains("no success after 2 attempts"),
        "{}",
        out.report()
    );
    let attempts = std::fs::read_to_string(&count).expect("the exec check ran");
    assert_eq!(attempts.lines().count(), 2, "attempts made: {attempts:?}");
}

// ---------------------------------------------------------------- rexec

#[test]
fn rexec_check_passes_once_the_file_exists_inside() {
    let name = "ck-rexec-ok";
    let _cleanup = Cleanup::new(&[name]);
    let dir = Dir::new();
    // /tmp/ready appears inside the container two seconds after it starts;
    // each attempt of the check leaves a line in /tmp/attempts, inside too.
    let command = [
        "sh",
        "-c",
        "trap 'exit 0' TERM; (sleep 2; touch /tmp/ready) & sleep 3600 & wait",
    ];
    let lifecycle = format!(
        "{{running: [{{type: rexec, command: {}, attempts: 20}}]}}",
        argv(&[
            "sh",
            "-c",
            "echo attempt >> /tmp/attempts; test -f /tmp/ready"
        ])
    );
    let file = one_container(&dir, name, &command, None, &lifecycle);
    let since = now_nanos();
    let (out, _) = maestro_timed(&file, &["start"]);
    assert_started(&out, name);
    let host = testbed().local_host();
    // Read before any `docker exec` of ours adds events of its own.
    let list = events(&host, name, since);
    // The check ran inside the container (its attempts are there, not here)...
    let attempts = docker(&host, &["exec", name, "cat", "/tmp/attempts"]);
    assert!(
        attempts.lines().count() >= 1 && attempts.lines().all(|l| l == "attempt"),
        "attempts inside the container: {attempts:?}"
    );
    // ... and passed only once the file was there: its last attempt, the
    // last exec the engine saw before the start ended, came 2 s or more
    // after the container started.
    let started = first_event(&list, "start", name);
    let last_exec = last_event_prefixed(&list, "exec_start", name);
    assert!(
        last_exec - started >= 2_000_000_000,
        "the check passed {:.3} s after the start, before /tmp/ready existed\n{list:#?}",
        secs(last_exec - started)
    );
    docker(&host, &["exec", name, "test", "-f", "/tmp/ready"]);
}

/// The time of the last event of `name` whose action starts with `prefix`
/// (`exec_start: sh -c …` events carry the command after the colon).
fn last_event_prefixed(list: &[crate::engine_support::Event], prefix: &str, name: &str) -> i128 {
    list.iter()
        .rev()
        .find(|e| e.name == name && e.action.starts_with(prefix))
        .map(|e| e.nanos)
        .unwrap_or_else(|| panic!("no `{prefix}…` event for {name} in {list:#?}"))
}

#[test]
fn rexec_check_fails_when_the_file_never_appears() {
    let name = "ck-rexec-bad";
    let _cleanup = Cleanup::new(&[name]);
    let dir = Dir::new();
    let lifecycle = format!(
        "{{running: [{{type: rexec, command: {}, attempts: 2}}]}}",
        argv(&["test", "-f", "/tmp/ready"])
    );
    let file = one_container(&dir, name, IDLE, None, &lifecycle);
    let (out, _) = maestro_timed(&file, &["start"]);
    assert_failed(&out, name, "running check failed: rexec check");
    assert_stopped(&local(), name, &out);
    assert!(
        out.stderr().contains("no success after 2 attempts"),
        "{}",
        out.report()
    );
}

// ---------------------------------------------------------------- sleep

/// The start of a container is done only when its sleep check has waited:
/// a container that requires it is created (by the engine's clock) 3 s or
/// more after it started.
#[test]
fn sleep_check_waits_before_the_start_is_done() {
    let name = "ck-sleep-ok";
    let after = "ck-sleep-after";
    let _cleanup = Cleanup::new(&[name, after]);
    let dir = Dir::new();
    let file = environment(
        &dir,
        name,
        &[
            Service {
                name: "svc",
                requires: &[],
                lifecycle: "",
                instances: vec![Instance {
                    name,
                    command: IDLE,
                    port: None,
                    lifecycle: "{running: [{type: sleep, wait: 3}]}",
                }],
            },
            Service {
                name: "after",
                requires: &["svc"],
                lifecycle: "",
                instances: vec![Instance {
                    name: after,
                    command: IDLE,
                    port: None,
                    lifecycle: "",
                }],
            },
        ],
    );
    let since = now_nanos();
    let (out, _) = maestro_timed(&file, &["start"]);
    out.assert_success();
    for container in [name, after] {
        assert!(
            line_of_spaced(&out, container).contains("started"),
            "{container} is not reported started\n{}",
            out.report()
        );
        assert!(
            running(&local(), container),
            "{container} does not run on the engine"
        );
    }
    let list = events(&testbed().local_host(), name, since);
    let started = first_event(&list, "start", name);
    let created = first_event(&list, "create", after);
    assert!(
        created - started >= 3_000_000_000,
        "{after} was created {:.3} s after {name} started, before its sleep check ended\n{list:#?}",
        secs(created - started)
    );
}

/// A sleep check always passes by itself; the container must stay up while
/// it waits, so one that dies meanwhile fails the start long before the wait.
#[test]
fn sleep_check_fails_when_the_container_dies_meanwhile() {
    let name = "ck-sleep-dies";
    let _cleanup = Cleanup::new(&[name]);
    let dir = Dir::new();
    let command = ["sh", "-c", "sleep 1; echo going-away >&2; exit 3"];
    let file = one_container(
        &dir,
        name,
        &command,
        None,
        "{running: [{type: sleep, wait: 3600}]}",
    );
    // Given a minute, not the hour of the sleep check.
    let out = maestro_within(&file, &["start"], Duration::from_secs(60));
    assert_failed(&out, name, name);
    assert_stopped(&local(), name, &out);
    assert!(
        out.stderr().contains("exit status 3"),
        "the error does not give the exit status\n{}",
        out.report()
    );
    assert!(
        format!("{}{}", out.stdout(), out.stderr()).contains("going-away"),
        "the container's last log lines are not shown\n{}",
        out.report()
    );
}

// ---------------------------------------------------------------- levels

#[test]
fn service_and_instance_level_checks_both_run() {
    let name = "ck-levels";
    let _cleanup = Cleanup::new(&[name]);
    let dir = Dir::new();
    let service_mark = dir.join("service-mark");
    let instance_mark = dir.join("instance-mark");
    let service_lifecycle = format!(
        "{{running: [{}]}}",
        exec_check(
            &format!("echo \"$CONTAINER_NAME\" >> {}", service_mark.display()),
            1
        )
    );
    let instance_lifecycle = format!(
        "{{running: [{}]}}",
        exec_check(
            &format!("echo \"$CONTAINER_NAME\" >> {}", instance_mark.display()),
            1
        )
    );
    let file = environment(
        &dir,
        name,
        &[Service {
            name: "svc",
            requires: &[],
            lifecycle: &service_lifecycle,
            instances: vec![Instance {
                name,
                command: IDLE,
                port: None,
                lifecycle: &instance_lifecycle,
            }],
        }],
    );
    let (out, _) = maestro_timed(&file, &["start"]);
    assert_started(&out, name);
    for (level, mark) in [("service", &service_mark), ("instance", &instance_mark)] {
        let text = std::fs::read_to_string(mark)
            .unwrap_or_else(|e| panic!("the {level}-level check did not run ({e})"));
        assert_eq!(text, format!("{name}\n"), "{level}-level check runs");
    }
}

#[test]
fn failing_service_level_check_fails_the_start() {
    let name = "ck-svc-fails";
    let _cleanup = Cleanup::new(&[name]);
    let dir = Dir::new();
    let service_lifecycle = format!("{{running: [{}]}}", exec_check("exit 7", 1));
    let file = environment(
        &dir,
        name,
        &[Service {
            name: "svc",
            requires: &[],
            lifecycle: &service_lifecycle,
            instances: vec![Instance {
                name,
                command: IDLE,
                port: None,
                lifecycle: "{running: [{type: sleep, wait: 1}]}",
            }],
        }],
    );
    let (out, _) = maestro_timed(&file, &["start"]);
    assert_failed(&out, name, "running check failed: exec check");
    assert_stopped(&local(), name, &out);
    assert!(
        out.stderr().contains("exit status 7"),
        "the error is not the service-level check's\n{}",
        out.report()
    );
}

#[test]
fn failing_instance_level_check_fails_the_start() {
    let name = "ck-inst-fails";
    let _cleanup = Cleanup::new(&[name]);
    let dir = Dir::new();
    let instance_lifecycle = format!("{{running: [{}]}}", exec_check("exit 9", 1));
    let file = environment(
        &dir,
        name,
        &[Service {
            name: "svc",
            requires: &[],
            lifecycle: "{running: [{type: sleep, wait: 1}]}",
            instances: vec![Instance {
                name,
                command: IDLE,
                port: None,
                lifecycle: &instance_lifecycle,
            }],
        }],
    );
    let (out, _) = maestro_timed(&file, &["start"]);
    assert_failed(&out, name, "running check failed: exec check");
    assert_stopped(&local(), name, &out);
    assert!(
        out.stderr().contains("exit status 9"),
        "the error is not the instance-level check's\n{}",
        out.report()
    );
}

// ---------------------------------------------------------------- states

/// An exec check that appends `STATE up|down` to `log`, `up` when the
/// container runs at that moment (asked of the engine).
fn state_probe(state: &str, log: &Path) -> String {
    let script = format!(
        "if docker -H {} top \"$CONTAINER_NAME\" >/dev/null 2>&1; then s=up; else s=down; fi; echo \"{state} $s\" >> {}",
        testbed().local_host(),
        log.display()
    );
    exec_check(&script, 1)
}

#[test]
fn checks_of_each_state_run_at_their_moment() {
    let name = "ck-states";
    let _cleanup = Cleanup::new(&[name]);
    let dir = Dir::new();
    let log = dir.join("log");
    let lifecycle = format!(
        "{{pre-start: [{}], running: [{}], pre-stop: [{}], stopped: [{}]}}",
        state_probe("pre-start", &log),
        state_probe("running", &log),
        state_probe("pre-stop", &log),
        state_probe("stopped", &log),
    );
    let file = one_container(&dir, name, IDLE, None, &lifecycle);
    let read = || std::fs::read_to_string(&log).unwrap_or_default();

    let (out, _) = maestro_timed(&file, &["start"]);
    assert_started(&out, name);
    assert_eq!(read(), "pre-start down\nrunning up\n", "after start");

    // Already running, but started less than its running check's window
    // (10 s) ago: its running check runs again (a run that ended mid-check
    // may have left it unchecked); no other check runs.
    let (out, _) = maestro_timed(&file, &["start"]);
    out.assert_success();
    assert!(
        line_of_spaced(&out, name).contains("up"),
        "{}",
        out.report()
    );
    assert_eq!(
        read(),
        "pre-start down\nrunning up\nrunning up\n",
        "after a second start"
    );

    let (out, _) = maestro_timed(&file, &["stop", name]);
    out.assert_success();
    assert!(
        line_of_spaced(&out, name).contains("stopped"),
        "{}",
        out.report()
    );
    assert!(!running(&local(), name), "{name} still runs after stop");
    assert_eq!(
        read(),
        "pre-start down\nrunning up\nrunning up\npre-stop up\nstopped down\n",
        "after stop"
    );
}

#[test]
fn failing_pre_start_check_leaves_the_container_uncreated() {
    let name = "ck-prestart-bad";
    let _cleanup = Cleanup::new(&[name]);
    let dir = Dir::new();
    let lifecycle = format!("{{pre-start: [{}]}}", exec_check("exit 5", 2));
    let file = one_container(&dir, name, IDLE, None, &lifecycle);
    let (out, _) = maestro_timed(&file, &["start"]);
    assert_failed(&out, name, "pre-start check failed: exec check");
    assert!(
        inspect(&testbed().local_host(), name).is_none(),
        "{name} was created although its pre-start check failed"
    );
}

// ---------------------------------------------------------------- abort and death

#[test]
fn failing_running_check_aborts_the_containers_not_yet_begun() {
    let a = "ck-abort-a";
    let b = "ck-abort-b";
    let _cleanup = Cleanup::new(&[a, b]);
    let dir = Dir::new();
    let port = free_port();
    let file = environment(
        &dir,
        "ck-abort",
        &[
            Service {
                name: "b",
                requires: &["a"],
                lifecycle: "",
                instances: vec![Instance {
                    name: b,
                    command: IDLE,
                    port: None,
                    lifecycle: "",
                }],
            },
            Service {
                name: "a",
                requires: &[],
                lifecycle: "{running: [{type: tcp, port: web, max_wait: 3}]}",
                instances: vec![Instance {
                    name: a,
                    command: IDLE,
                    port: Some(port),
                    lifecycle: "",
                }],
            },
        ],
    );
    let (out, _) = maestro_timed(&file, &["start"]);
    assert_failed(&out, a, "running check failed: tcp check on port web");
    assert_stopped(&local(), a, &out);
    assert!(
        line_of_spaced(&out, a).contains("failed"),
        "{}",
        out.report()
    );
    assert!(
        line_of_spaced(&out, b).contains("aborted"),
        "{}",
        out.report()
    );
    assert!(
        out.stdout()
            .contains("start: 0 done, 1 failed, 1 aborted in"),
        "{}",
        out.report()
    );
    assert!(
        inspect(&testbed().local_host(), b).is_none(),
        "{b} was created although the start was aborted before it"
    );
}

#[test]
fn container_dying_during_running_checks_fails_at_once() {
    let name = "ck-dies";
    let _cleanup = Cleanup::new(&[name]);
    let dir = Dir::new();
    let port = free_port();
    let command = ["sh", "-c", "sleep 1; echo dying >&2; exit 4"];
    let file = one_container(
        &dir,
        name,
        &command,
        Some(port),
        "{running: [{type: tcp, port: web, max_wait: 3600}]}",
    );
    // Given a minute, not the hour of the check's max_wait.
    let out = maestro_within(&file, &["start"], Duration::from_secs(60));
    assert_failed(&out, name, name);
    assert_stopped(&local(), name, &out);
    assert!(
        out.stderr().contains("exit status 4"),
        "the error does not give the exit status\n{}",
        out.report()
    );
    assert!(
        line_of_spaced(&out, name).contains("failed")
            && out.stdout().lines().any(|l| l.trim() == "| dying"),
        "the container's line does not show its last log lines\n{}",
        out.report()
    );
    // The error itself (stderr, where it goes when stdout is not read)
    // shows them too: it announces "its last log lines:".
    assert!(
        out.stderr().contains("dying"),
        "the error does not show the container's last log lines\n{}",
        out.report()
    );
}
