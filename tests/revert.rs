//! A rollout's automatic revert end to end (issue 28 item 3), on the local
//! engine and ship2: with `deploy.update_config.failure_action: rollback`,
//! a rollout whose second container fails its checks puts back the first,
//! already replaced, and the failed one: afterwards the same containers
//! (ids) run as before, and `up` exits 1 naming the failure and the revert.
//! Without it (`--failure-action pause`), the first stays replaced.
//!
//! Containers are named `rv-<test>-…` and removed by a [`Cleanup`] guard.

use crate::engine_support::{
    assert_code, container_id, head, instance, local, maestro, running, service, ship2, IDLE, IMAGE,
};
use crate::testbed::{testbed, use_ships, Cleanup};
use crate::util::Dir;

/// `rv-NAME`: web (web-1 local, web-2 on ship2) with `COLOR`, rolled one
/// at a time, reverted on failure; `web2_check` is web-2's running check.
fn file(dir: &Dir, name: &str, color: &str, web2_check: &str) -> std::path::PathBuf {
    let n = |s: &str| format!("rv-{name}-{s}");
    let check = format!("lifecycle: {{running: [{web2_check}]}}");
    let text = head(
        &format!("rv-{name}"),
        &[
            ("local", testbed().local_ship()),
            ("ship2", testbed().ship2_tcp()),
        ],
    ) + &service(
        "web",
        IMAGE,
        &[
            &format!("env: {{COLOR: {color}}}"),
            "deploy: {update_config: {parallelism: 1, failure_action: rollback}}",
        ],
        &[
            instance(&n("web-1"), "local", IDLE, ""),
            instance(&n("web-2"), "ship2", IDLE, &check),
        ],
    );
    dir.write("maestro.yaml", text)
}

fn ids(all: &[String]) -> Vec<String> {
    vec![
        container_id(&local(), &all[0]),
        container_id(&ship2(), &all[1]),
    ]
}

#[test]
fn a_failed_rollout_puts_back_what_it_replaced() {
    let _ships = use_ships();
    let all = vec!["rv-back-web-1".to_owned(), "rv-back-web-2".to_owned()];
    let _cleanup = Cleanup::new(&all);
    let dir = Dir::new();
    let ok = "{type: sleep, wait: 0}";
    assert_code(&maestro(&file(&dir, "back", "red", ok), &["up"]), 0);
    let before = ids(&all);

    let failing = "{type: exec, command: 'false', attempts: 1}";
    let up = maestro(&file(&dir, "back", "blue", failing), &["up"]);
    assert_code(&up, 1);
    let stderr = up.stderr();
    assert!(
        stderr.contains("running check failed")
            && stderr.contains("the rollout is rolled back: rv-back-web-1, rv-back-web-2 put back"),
        "{}",
        up.report()
    );
    assert_eq!(ids(&all), before, "the same containers, put back");
    assert!(running(&local(), &all[0]) && running(&ship2(), &all[1]));

    // Told to pause instead, the first stays replaced.
    let up = maestro(
        &file(&dir, "back", "blue", failing),
        &["up", "--failure-action", "pause"],
    );
    assert_code(&up, 1);
    assert!(!up.stderr().contains("rolled back"), "{}", up.report());
    let after = ids(&all);
    assert_ne!(after[0], before[0], "web-1 was replaced and stays so");
}

/// `monitor`: a new container that dies a moment after it started (its
/// checks passed) fails the rollout within the watch, and the revert puts
/// the old one back.
#[test]
fn a_replacement_dying_while_monitored_is_put_back() {
    let all = vec!["rv-watch-web-1".to_owned()];
    let _cleanup = Cleanup::new(&all);
    let dir = Dir::new();
    let write = |command: &[&str]| {
        let text = head("rv-watch", &[("local", testbed().local_ship())])
            + &service(
                "web",
                IMAGE,
                &["deploy: {update_config: {monitor: 3s, failure_action: rollback}}"],
                &[instance(&all[0], "local", command, "")],
            );
        dir.write("maestro.yaml", text)
    };
    assert_code(&maestro(&write(IDLE), &["up"]), 0);
    let before = container_id(&local(), &all[0]);
    let up = maestro(&write(&["sh", "-c", "sleep 1; exit 7"]), &["up"]);
    assert_code(&up, 1);
    assert!(
        up.stderr().contains("exit status 7")
            && up
                .stderr()
                .contains("the rollout is rolled back: rv-watch-web-1 put back"),
        "{}",
        up.report()
    );
    assert_eq!(container_id(&local(), &all[0]), before);
    assert!(running(&local(), &all[0]));
}
