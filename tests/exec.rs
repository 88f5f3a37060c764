//! `maestro exec` end to end (issue 19 item 3): in one container the
//! command's exit status, output streams and input are passed on, and with a
//! terminal it gets a TTY; in a service's instances spread over the local
//! engine (unix socket), ship2 (SSH tunnel) and ship3 (TLS) it runs in every
//! one, each output line prefixed with the container's name, and a failure
//! names the container; unknown things, stopped containers and unreachable
//! ships each fail with one sentence.
//!
//! Containers are named `exec-…`, the environments `exec…`.

use std::time::Duration;

use crate::engine_support::{
    assert_code, error_line, error_lines, free_port, head, instance, local, maestro,
    maestro_within, service, IDLE, IMAGE,
};
use crate::testbed::{docker, testbed, use_ships, Cleanup};
use crate::util::{Dir, TestCommand};

/// `maestro -f FILE exec ARGS…` with `input` on its stdin.
fn exec_with_input(file: &std::path::Path, args: &[&str], input: &str) -> crate::util::Output {
    let mut command = TestCommand::maestro();
    command
        .arg("-f")
        .arg(file)
        .args(args)
        .env("NO_COLOR", "1")
        .env_remove("DOCKER_HOST")
        .env("HOME", crate::testbed::ssh_home())
        .stdin(input)
        .timeout(Duration::from_secs(60));
    command.run()
}

#[test]
fn exec_in_one_container_passes_on_its_status_streams_and_input() {
    let names = ["exec-one-1"];
    let _cleanup = Cleanup::new(&names);
    let dir = Dir::new();
    let mut text = head("execone", &[("local", testbed().local_ship())]);
    text.push_str(&service(
        "one",
        IMAGE,
        &[],
        &[instance(names[0], "local", IDLE, "")],
    ));
    let file = dir.write("maestro.yaml", text);
    maestro(&file, &["start"]).assert_success();

    let out = maestro(
        &file,
        &[
            "exec",
            names[0],
            "--",
            "sh",
            "-c",
            "echo to-out; echo to-err >&2; exit 3",
        ],
    );
    assert_code(&out, 3);
    assert_eq!(out.stdout(), "to-out\n", "{}", out.report());
    assert!(out.stderr().contains("to-err"), "{}", out.report());
    assert!(!out.stderr().contains("ERROR"), "{}", out.report());

    // Input goes to the command, end of input included (`cat` ends).
    let out = exec_with_input(
        &file,
        &[
            "exec",
            names[0],
            "--",
            "sh",
            "-c",
            "cat > /tmp/got; wc -l < /tmp/got",
        ],
        "one\ntwo\n",
    );
    assert_code(&out, 0);
    assert_eq!(out.stdout().trim(), "2", "{}", out.report());
    let inside = docker(&local(), &["exec", names[0], "cat", "/tmp/got"]);
    assert_eq!(inside, "one\ntwo\n");

    // Without a terminal the command has none.
    let out = maestro(&file, &["exec", names[0], "--", "tty"]);
    assert_code(&out, 1);
    assert!(out.stdout().contains("not a tty"), "{}", out.report());
}

#[test]
fn exec_with_a_terminal_gives_the_command_a_tty_and_passes_keys() {
    let names = ["exec-tty-1"];
    let _cleanup = Cleanup::new(&names);
    let dir = Dir::new();
    let mut text = head("exectty", &[("local", testbed().local_ship())]);
    text.push_str(&service(
        "tty",
        IMAGE,
        &[],
        &[instance(names[0], "local", IDLE, "")],
    ));
    let file = dir.write("maestro.yaml", text);
    maestro(&file, &["start"]).assert_success();
    // util-linux `script` runs maestro on a pseudo-terminal; what is typed
    // goes through maestro's raw terminal to the command's TTY.
    let line = format!(
        "{} -f {} exec {} -- sh",
        env!("CARGO_BIN_EXE_maestro"),
        file.display(),
        names[0]
    );
    let out = TestCommand::new("script")
        .args(["-q", "-e", "-c", &line, "/dev/null"])
        .env("NO_COLOR", "1")
        .stdin("tty; echo answer-$((6*7))\nexit 7\n")
        .timeout(Duration::from_secs(60))
        .run();
    assert_code(&out, 7);
    let stdout = out.stdout();
    assert!(stdout.contains("/dev/pts/"), "no TTY\n{}", out.report());
    assert!(stdout.contains("answer-42"), "{}", out.report());
}

#[test]
fn exec_on_a_service_runs_in_every_instance_over_every_transport() {
    let _ships = use_ships();
    let bed = testbed();
    let names = ["exec-svc-1", "exec-svc-2", "exec-svc-3"];
    let _cleanup = Cleanup::new(&names);
    let dir = Dir::new();
    let mut text = head(
        "execsvc",
        &[
            ("local", bed.local_ship()),
            ("ssh2", bed.ship2_ssh()),
            ("tls3", bed.ship3_tls()),
        ],
    );
    text.push_str(&service(
        "svc",
        IMAGE,
        &[],
        &[
            instance(names[0], "local", IDLE, ""),
            instance(names[1], "ssh2", IDLE, ""),
            instance(names[2], "tls3", IDLE, ""),
        ],
    ));
    let file = dir.write("maestro.yaml", text);
    maestro(&file, &["start"]).assert_success();
    let hosts = [bed.local_host(), bed.ship2_host(), bed.ship3_host()];

    let mark =
        "echo mark-$CONTAINER_NAME > /tmp/mark; cat /tmp/mark; echo warn-$CONTAINER_NAME >&2";
    let out = maestro(&file, &["exec", "svc", "--", "sh", "-c", mark]);
    assert_code(&out, 0);
    for (name, host) in names.iter().zip(&hosts) {
        let prefix = format!("{name} | ");
        assert!(
            out.stdout()
                .lines()
                .any(|l| l == format!("{prefix}mark-{name}")),
            "no `{prefix}mark-{name}` line\n{}",
            out.report()
        );
        assert!(
            out.stderr()
                .lines()
                .any(|l| l == format!("{prefix}warn-{name}")),
            "no `{prefix}warn-{name}` line on stderr\n{}",
            out.report()
        );
        let inside = docker(host, &["exec", name, "cat", "/tmp/mark"]);
        assert_eq!(inside.trim(), format!("mark-{name}"), "on {host}");
    }

    // At once (-c 3), failing in two: exit 1, naming both and their status.
    let fail = "test $CONTAINER_NAME = exec-svc-1 || exit 4";
    let out = maestro(&file, &["exec", "-c", "3", "svc", "--", "sh", "-c", fail]);
    assert_code(&out, 1);
    let errors = error_lines(&out);
    assert_eq!(errors.len(), 1, "{}", out.report());
    let error = &errors[0];
    for needle in [
        "2 of 3",
        "exec-svc-2 (exit status 4)",
        "exec-svc-3 (exit status 4)",
    ] {
        assert!(error.contains(needle), "`{needle}` not in {error:?}");
    }
    assert!(!error.contains("exec-svc-1 ("), "{error:?}");
}

#[test]
fn exec_fails_in_one_sentence_for_unknown_stopped_and_unreachable() {
    let names = ["exec-bad-1", "exec-bad-far-1"];
    let _cleanup = Cleanup::new(&names);
    let dir = Dir::new();
    let closed = free_port();
    let mut text = head(
        "execbad",
        &[
            ("local", testbed().local_ship()),
            (
                "far",
                format!("{{ip: 127.0.0.1, docker_port: {closed}, timeout: 2}}"),
            ),
        ],
    );
    text.push_str(&service(
        "bad",
        IMAGE,
        &[],
        &[instance(names[0], "local", IDLE, "")],
    ));
    text.push_str(&service(
        "far",
        IMAGE,
        &[],
        &[instance(names[1], "far", IDLE, "")],
    ));
    let file = dir.write("maestro.yaml", text);

    let out = maestro(&file, &["exec", "nobody", "--", "true"]);
    assert_code(&out, 1);
    assert!(
        error_line(&out).contains("nobody is neither a service nor a container"),
        "{}",
        out.report()
    );

    let out = maestro(&file, &["exec", names[0], "--", "true"]);
    assert_code(&out, 1);
    let line = error_line(&out);
    assert!(
        line.contains("exec-bad-1 does not exist on ship local")
            && line.contains("maestro start exec-bad-1"),
        "{}",
        out.report()
    );

    maestro(&file, &["start", "bad"]).assert_success();
    maestro(&file, &["stop", names[0]]).assert_success();
    let out = maestro(&file, &["exec", names[0], "--", "true"]);
    assert_code(&out, 1);
    assert!(
        error_line(&out).contains("exec-bad-1 is not running on ship local"),
        "{}",
        out.report()
    );

    let out = maestro_within(
        &file,
        &["exec", names[1], "--", "true"],
        Duration::from_secs(30),
    );
    assert_code(&out, 1);
    let line = error_line(&out);
    assert!(
        line.contains("ship far") && line.contains(&closed.to_string()),
        "{}",
        out.report()
    );
    assert_eq!(error_lines(&out).len(), 1, "{}", out.report());

    let out = maestro(&file, &["exec", names[0]]);
    assert_code(&out, 2);
}
