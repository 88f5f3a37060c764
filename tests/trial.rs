//! The defects a trial by a new user and an adversary found, one test each,
//! against the test bed's local engine: each fails on the build before its fix.
//!
//! Containers are named `trial-…`, the environments `trial…`.

use crate::engine_support::{assert_code, error_line, local, maestro, IDLE, IMAGE};
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
