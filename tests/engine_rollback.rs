//! Rollback end to end (issue 19 item 2), on the local engine: `up` onto a
//! new image tag keeps the replaced container, stopped, as `NAME.previous`
//! (not an orphan); `rollback` puts it back — the container runs the old
//! image again, nothing is pulled (the engine's image events), and its
//! dependent is restarted after it (container events); `plan` then shows
//! the drift from the file; `clean --previous` removes what is kept; `up
//! --no-keep` keeps nothing.
//!
//! Containers are named `rb-…` and removed by a [`Cleanup`] guard, the two
//! images by a [`RemoveImages`] guard.

use crate::engine_support::RemoveImages;
use crate::engine_support::{
    assert_code, build_image, container_id, events_without_exec, exists, first_event, head,
    instance, local, maestro, now_nanos, running, service, IDLE, IMAGE,
};
use crate::testbed::{docker, inspect, testbed, Cleanup};
use crate::util::Dir;

const DB: &str = "rb-db-1";
const WEB: &str = "rb-web-1";
const KEPT: &str = "rb-db-1.previous";

fn file(dir: &Dir, tag: &str) -> std::path::PathBuf {
    let text = head("rb-env", &[("local", testbed().local_ship())])
        + &service(
            "db",
            &format!("maestro-test/rb-app:{tag}"),
            &[],
            &[instance(DB, "local", IDLE, "")],
        )
        + &service(
            "web",
            IMAGE,
            &["requires: [db]"],
            &[instance(WEB, "local", IDLE, "")],
        );
    dir.write("maestro.yaml", text)
}

/// The image id a container was created from.
fn image_of(name: &str) -> String {
    inspect(&local(), name)
        .and_then(|c| c["Image"].as_str().map(str::to_owned))
        .unwrap_or_else(|| panic!("{name} does not exist"))
}

/// The engine's image events (pull, tag, …) since `since`.
fn image_events(since: i128) -> String {
    let from = since / 1_000_000_000 - 1;
    let until = now_nanos() / 1_000_000_000 + 1;
    docker(
        &local(),
        &[
            "events",
            "--since",
            &from.to_string(),
            "--until",
            &until.to_string(),
            "--filter",
            "type=image",
            "--format",
            "{{.Action}} {{.Actor.ID}}",
        ],
    )
}

#[test]
fn up_to_a_new_tag_then_rollback_runs_the_old_image_again_without_a_pull() {
    let _images = RemoveImages::new(&["maestro-test/rb-app:1", "maestro-test/rb-app:2"]);
    let _cleanup = Cleanup::new(&[DB, WEB, KEPT, "rb-db-1.rollback"]);
    let dir = Dir::new();
    let one = build_image(
        &local(),
        "maestro-test/rb-app:1",
        &format!("FROM {IMAGE}\nLABEL rb=1\n"),
    );
    let two = build_image(
        &local(),
        "maestro-test/rb-app:2",
        &format!("FROM {IMAGE}\nLABEL rb=2\n"),
    );
    assert_code(&maestro(&file(&dir, "1"), &["up"]), 0);
    let first_id = container_id(&local(), DB);

    // up onto :2 keeps the :1 container, stopped, as rb-db-1.previous.
    let file2 = file(&dir, "2");
    let out = maestro(&file2, &["up"]);
    assert_code(&out, 0);
    assert_eq!(image_of(DB), two, "{}", out.report());
    assert_eq!(container_id(&local(), KEPT), first_id, "{}", out.report());
    assert!(!running(&local(), KEPT), "the kept container runs");
    let planned = maestro(&file2, &["plan", "--json"]);
    assert_code(&planned, 0);
    let doc: serde_json::Value = serde_json::from_slice(&planned.stdout)
        .unwrap_or_else(|e| panic!("plan --json: {e}\n{}", planned.report()));
    assert_eq!(doc["orphans"], serde_json::json!([]), "{doc:#}");

    // rollback: the :1 container is back under its name, running; the :2
    // one is kept in its place; no pull; web restarted after db started.
    let since = now_nanos();
    let out = maestro(&file2, &["rollback"]);
    assert_code(&out, 0);
    assert_eq!(container_id(&local(), DB), first_id, "{}", out.report());
    assert_eq!(image_of(DB), one);
    assert!(
        running(&local(), DB) && running(&local(), WEB),
        "{}",
        out.report()
    );
    assert_eq!(image_of(KEPT), two);
    let pulls: Vec<String> = image_events(since)
        .lines()
        .filter(|l| l.starts_with("pull"))
        .map(str::to_owned)
        .collect();
    assert!(pulls.is_empty(), "rollback pulled: {pulls:?}");
    let events = events_without_exec(&local(), "rb-env", since);
    let db_start = first_event(&events, "start", DB);
    let web_stop = first_event(&events, "stop", WEB);
    let web_start = first_event(&events, "start", WEB);
    assert!(
        web_stop < db_start,
        "web was not stopped before db came back"
    );
    assert!(db_start < web_start, "web started before db was back");

    // The file still says :2: plan shows the drift, naming the image.
    let out = maestro(&file2, &["plan"]);
    assert_code(&out, 3);
    assert!(out.stdout().contains("recreate"), "{}", out.report());

    // clean --previous removes the kept one (only that: both others run).
    let out = maestro(&file2, &["clean", "--previous"]);
    assert_code(&out, 0);
    assert!(!exists(&local(), KEPT), "{}", out.report());
    assert!(running(&local(), DB) && running(&local(), WEB));

    // up --no-keep replaces without keeping.
    let out = maestro(&file2, &["up", "--no-keep"]);
    assert_code(&out, 0);
    assert_eq!(image_of(DB), two);
    assert!(!exists(&local(), KEPT), "{}", out.report());
}

/// Nothing kept: `rollback` changes nothing and says so.
#[test]
fn rollback_without_a_previous_container_changes_nothing() {
    let name = "rb-none-1";
    let _cleanup = Cleanup::new(&[name]);
    let dir = Dir::new();
    let text = head("rb-none", &[("local", testbed().local_ship())])
        + &service("app", IMAGE, &[], &[instance(name, "local", IDLE, "")]);
    let file = dir.write("maestro.yaml", text);
    assert_code(&maestro(&file, &["start"]), 0);
    let id = container_id(&local(), name);
    let out = maestro(&file, &["rollback"]);
    assert_code(&out, 0);
    assert!(
        out.stdout().contains("nothing to roll back to"),
        "{}",
        out.report()
    );
    assert_eq!(container_id(&local(), name), id);
    assert!(running(&local(), name));
}
