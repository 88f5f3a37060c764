//! Rolling updates end to end (issue 19 item 5): `up --batch 50%`, `up
//! --per-ship` and `restart --per-ship` over a service spread across the local engine and
//! ship2, read back through the engines' own timestamps (both engines run on
//! this machine, on one clock): every container of a batch is started, and
//! past its `running` check, before the next batch's first container is
//! touched; a failing check in the first batch stops the rollout and leaves
//! the second batch's containers as they were (same id, same start time).
//!
//! Every container is named `ro-<test>-…` and removed by a [`Cleanup`] guard.

use crate::engine_support::{
    assert_code, assert_line, container_id, events, first_event, head, instance, local, maestro,
    now_nanos, rfc3339_nanos, running, service, ship2, started_at, IDLE, IMAGE,
};
use crate::testbed::{inspect, testbed, use_ships, Cleanup};
use crate::util::Dir;

/// The file: `db` (one instance, local) and `web` (four instances, the odd
/// ones local, the even ones on ship2) requiring it, with `COLOR` in web's
/// environment and `check` as web-1's `running` checks.
fn file(dir: &Dir, tag: &str, color: &str, web1_checks: &str) -> std::path::PathBuf {
    let name = |n: &str| format!("ro-{tag}-{n}");
    let web1_extra = if web1_checks.is_empty() {
        String::new()
    } else {
        format!("lifecycle: {{running: [{web1_checks}]}}")
    };
    let text = head(
        &format!("ro-{tag}"),
        &[
            ("local", testbed().local_ship()),
            ("ship2", testbed().ship2_tcp()),
        ],
    ) + &service(
        "db",
        IMAGE,
        &[],
        &[instance(&name("db-1"), "local", IDLE, "")],
    ) + &service(
        "web",
        IMAGE,
        &[
            "requires: [db]",
            &format!("env: {{COLOR: {color}}}"),
            // Each batch is held a moment by its check, so that a next
            // batch begun too early could not go unseen.
            "lifecycle: {running: [{type: sleep, wait: 1}]}",
        ],
        &[
            instance(&name("web-1"), "local", IDLE, &web1_extra),
            instance(&name("web-2"), "ship2", IDLE, ""),
            instance(&name("web-3"), "local", IDLE, ""),
            instance(&name("web-4"), "ship2", IDLE, ""),
        ],
    );
    dir.write("maestro.yaml", text)
}

fn names(tag: &str) -> Vec<String> {
    ["db-1", "web-1", "web-2", "web-3", "web-4"]
        .iter()
        .map(|n| format!("ro-{tag}-{n}"))
        .collect()
}

fn host_of(name: &str) -> String {
    if name.ends_with("-2") || name.ends_with("-4") {
        ship2()
    } else {
        local()
    }
}

/// When the engine created the container (nanoseconds).
fn created(name: &str) -> i128 {
    let found = inspect(&host_of(name), name).unwrap_or_else(|| panic!("{name} is missing"));
    let text = found["Created"].as_str().unwrap_or_default().to_owned();
    rfc3339_nanos(&text).unwrap_or_else(|| panic!("{name}: Created {text:?} is not RFC 3339"))
}

/// Asserts that every container of `first` was started before any of
/// `then` was touched (`touched`: its creation, or its stop).
fn assert_before(first: &[&String], then: &[&String], touched: impl Fn(&str) -> i128) {
    let last_start = first
        .iter()
        .map(|n| started_at(&host_of(n), n))
        .max()
        .unwrap_or_default();
    for n in then {
        let at = touched(n);
        assert!(
            last_start < at,
            "{n} was touched ({at}) before the batch before it had started ({last_start})"
        );
    }
}

/// `up --batch 50%` after a change to every web container: `plan` gives
/// each its batch; `up` recreates db, then web-1 and web-2, then web-3 and
/// web-4, each batch only once the one before is up (engine timestamps).
#[test]
fn up_in_batches_of_half_a_service_recreates_one_batch_after_the_other() {
    let _ships = use_ships();
    let all = names("half");
    let _cleanup = Cleanup::new(&all);
    let dir = Dir::new();
    assert_code(&maestro(&file(&dir, "half", "red", ""), &["up"]), 0);
    let changed = file(&dir, "half", "blue", "");

    let out = maestro(&changed, &["plan", "--batch", "50%", "--json"]);
    assert_code(&out, 3);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("plan --json: {e}\n{}", out.report()));
    let batch_of = |name: &str| {
        doc["containers"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|row| row["name"] == name)
            .map(|row| row["batch"].clone())
            .unwrap_or_else(|| panic!("{name} is not in the plan: {doc:#}"))
    };
    for (i, expected) in [1, 2, 2, 3, 3].iter().enumerate() {
        assert_eq!(batch_of(&all[i]), *expected, "{}: {doc:#}", all[i]);
    }
    // The text says where each batch stands in the play and in its service
    // (numbered across the play, as docs/rollout.md explains).
    let out = maestro(&changed, &["plan", "--batch", "50%"]);
    assert_code(&out, 3);
    // (db, unchanged, has no operation in its batch 1.)
    assert_line(&out, &all[0], "none");
    for (i, place) in [
        "",
        "(batch 2 of 3; web's 1 of 2)",
        "(batch 2 of 3; web's 1 of 2)",
        "(batch 3 of 3; web's 2 of 2)",
        "(batch 3 of 3; web's 2 of 2)",
    ]
    .iter()
    .enumerate()
    .skip(1)
    {
        assert_line(&out, &all[i], place);
    }

    let out = maestro(&changed, &["up", "--batch", "50%"]);
    assert_code(&out, 0);
    for n in &all {
        assert!(
            running(&host_of(n), n),
            "{n} is not running\n{}",
            out.report()
        );
    }
    let (web_first, web_then) = ([&all[1], &all[2]], [&all[3], &all[4]]);
    assert_before(&web_first, &web_then, created);
    assert_code(&maestro(&changed, &["plan"]), 0);
}

/// `restart --per-ship`: web's local containers (web-1, web-3) are
/// restarted and up before ship2's (web-2, web-4) are stopped (ship2's
/// engine events).
#[test]
fn restart_per_ship_takes_one_ship_at_a_time() {
    let _ships = use_ships();
    let all = names("ship");
    let _cleanup = Cleanup::new(&all);
    let dir = Dir::new();
    let file = file(&dir, "ship", "red", "");
    assert_code(&maestro(&file, &["start"]), 0);
    let since = now_nanos();
    let out = maestro(&file, &["restart", "--per-ship", "-s", "web"]);
    assert_code(&out, 0);
    // The old containers are gone (a restart recreates them): their stop is
    // read off ship2's events.
    let ship2_events = events(&ship2(), "ro-ship", since);
    let (local_ones, ship2_ones) = ([&all[1], &all[3]], [&all[2], &all[4]]);
    assert_before(&local_ones, &ship2_ones, |n| {
        first_event(&ship2_events, "stop", n)
    });
    for n in &all {
        assert!(
            running(&host_of(n), n),
            "{n} is not running\n{}",
            out.report()
        );
    }
}

/// `up --per-ship` after a change to every web container: the local ones
/// (web-1, web-3) are recreated and up before ship2's (web-2, web-4) are
/// created.
#[test]
fn up_per_ship_recreates_one_ship_after_the_other() {
    let _ships = use_ships();
    let all = names("upship");
    let _cleanup = Cleanup::new(&all);
    let dir = Dir::new();
    assert_code(&maestro(&file(&dir, "upship", "red", ""), &["up"]), 0);
    let changed = file(&dir, "upship", "blue", "");
    let out = maestro(&changed, &["up", "--per-ship"]);
    assert_code(&out, 0);
    let (local_ones, ship2_ones) = ([&all[1], &all[3]], [&all[2], &all[4]]);
    assert_before(&local_ones, &ship2_ones, created);
    assert_code(&maestro(&changed, &["plan"]), 0);
}

/// A `running` check that fails in the first batch of web stops the
/// rollout: the play fails naming it, and the second batch (web-3, web-4)
/// keeps its containers, running since before.
#[test]
fn a_failing_check_in_the_first_batch_leaves_the_next_batch_untouched() {
    let _ships = use_ships();
    let all = names("fail");
    let _cleanup = Cleanup::new(&all);
    let dir = Dir::new();
    assert_code(&maestro(&file(&dir, "fail", "red", ""), &["up"]), 0);
    let before: Vec<(String, i128)> = all[3..]
        .iter()
        .map(|n| (container_id(&host_of(n), n), started_at(&host_of(n), n)))
        .collect();
    let failing = "{type: rexec, command: \"false\", attempts: 1}";
    let changed = file(&dir, "fail", "blue", failing);
    let out = maestro(&changed, &["up", "--batch", "50%"]);
    assert_code(&out, 1);
    assert!(
        out.stderr().contains(&all[1]) && out.stderr().contains("running check"),
        "the failure does not name web-1's check\n{}",
        out.report()
    );
    for (n, (id, start)) in all[3..].iter().zip(&before) {
        assert_eq!(&container_id(&host_of(n), n), id, "{n} was recreated");
        assert_eq!(&started_at(&host_of(n), n), start, "{n} was restarted");
        assert!(running(&host_of(n), n), "{n} is not running");
    }
}
