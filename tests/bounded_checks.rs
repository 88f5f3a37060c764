//! Checks that hang do not hang `start`: a `rexec` check whose command never
//! ends inside the container, and a local `exec` check whose command never
//! ends, each fail the start once the check's window closes (1 s per
//! attempt, at least 10 s), saying which attempt did not finish within how
//! long; the local command is killed, leaving no process behind.

use crate::engine_support::{argv, assert_code, error_line, head, instance, maestro, IDLE, IMAGE};
use crate::testbed::{testbed, Cleanup};
use crate::util::Dir;

fn environment(dir: &Dir, name: &str, check: &str) -> std::path::PathBuf {
    let mut text = head(&name.replace('-', ""), &[("local", testbed().local_ship())]);
    text.push_str(&format!(
        "  svc:\n    image: {IMAGE}\n    lifecycle: {{running: [{check}]}}\n    instances:\n"
    ));
    text.push_str(&instance(name, "local", IDLE, ""));
    dir.write("maestro.yaml", text)
}

#[test]
fn a_rexec_check_that_hangs_fails_the_start_when_its_window_closes() {
    let name = "bc-rexec-hung";
    let _cleanup = Cleanup::new(&[name]);
    let dir = Dir::new();
    let check = format!(
        "{{type: rexec, command: {}, attempts: 3}}",
        argv(&["sleep", "3600"])
    );
    let file = environment(&dir, name, &check);
    // `maestro` gives the play two minutes: a start that waited for the
    // command would fail that bound instead.
    let out = maestro(&file, &["start"]);
    assert_code(&out, 1);
    let error = error_line(&out);
    assert!(error.contains(name), "{}", out.report());
    assert!(
        error.contains(
            "rexec check `sleep 3600` failed: did not finish within 10 s (attempt 1 of 3)"
        ),
        "{}",
        out.report()
    );
    assert!(
        error.contains("raise its `attempts` if the command needs longer"),
        "{}",
        out.report()
    );
}

/// Processes of this machine whose command line is `argv`.
fn processes_running(argv: &[&str]) -> Vec<String> {
    let wanted: Vec<u8> = argv
        .iter()
        .flat_map(|a| [a.as_bytes(), b"\0"].concat())
        .collect();
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc")
        .expect("/proc is readable")
        .flatten()
    {
        let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
            continue;
        };
        if cmdline == wanted {
            found.push(entry.file_name().to_string_lossy().into_owned());
        }
    }
    found
}

#[test]
fn a_local_exec_check_that_hangs_fails_the_start_and_is_killed() {
    let name = "bc-exec-hung";
    let _cleanup = Cleanup::new(&[name]);
    let dir = Dir::new();
    // A number no other test sleeps, to find its processes; the shell waits
    // for a child of its own, which must go too.
    let script = "sleep 3597 & wait";
    let check = format!(
        "{{type: exec, command: {}, attempts: 2}}",
        argv(&["sh", "-c", script])
    );
    let file = environment(&dir, name, &check);
    let out = maestro(&file, &["start"]);
    assert_code(&out, 1);
    let error = error_line(&out);
    assert!(
        error.contains("failed: did not finish within 10 s (attempt 1 of 2)"),
        "{}",
        out.report()
    );
    assert_eq!(
        processes_running(&["sleep", "3597"]),
        Vec::<String>::new(),
        "the check's command outlived maestro"
    );
}
