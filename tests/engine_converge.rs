//! `plan`, `up` (and `start --converge`), the `healthy` check, `--json`,
//! orphans, shell completions and the man page, end to end against the real
//! engines of the test bed (issue 8):
//!
//! - after `up`, a changed env of one instance makes `plan` show exactly that
//!   container as `recreate (env COLOR changed)`; `up` recreates only it (the
//!   others keep their container id and start time, read from the engine);
//!   `plan` then has nothing to do;
//! - an image rebuilt under the same tag is `image updated`;
//! - a HEALTHCHECK gates the dependents: healthy lets them start (after it
//!   became healthy, by the engine's clock), unhealthy fails the play with
//!   the probe's output and aborts them;
//! - `--json` of status, plan, start, stop, kill, restart, clean, pull, up;
//! - orphans listed by `plan`, reported by `up`, removed by
//!   `up --remove-orphans`;
//! - `completions bash|zsh|fish` and `manpage`.
//!
//! Every container is named `cv-<test>-…` and removed by a [`Cleanup`] guard
//! made before anything starts; tests that use ship2 hold `use_ships()`.

use std::collections::BTreeMap;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use crate::engine_support::{
    assert_code, assert_stopped, build_image, container_id, events_without_exec, exists,
    first_event, head, image_id, instance, line_of, local, maestro, maestro_within, now_nanos,
    running, secs, service, ship2, started_at, RemoveImages, IDLE, IMAGE,
};
use crate::testbed::{docker, env_inside, inspect, testbed, use_ships, Cleanup};
use crate::util::{Dir, Output, TestCommand};

// ------------------------------------------------------------------ helpers

/// The whole of stdout as one JSON document.
fn json_of(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("stdout is not one JSON document: {e}\n{}", out.report()))
}

/// What a table line says after the `#`, name, service and ship columns.
fn last_column(line: &str) -> String {
    let mut rest = line.trim_start();
    for _ in 0..4 {
        let end = rest
            .find(char::is_whitespace)
            .unwrap_or_else(|| panic!("too few columns in {line:?}"));
        rest = rest[end..].trim_start();
    }
    rest.trim_end().to_owned()
}

/// Asserts what `plan` (text) says for each container: exactly `expected`.
fn assert_plan_text(out: &Output, expected: &[(&str, &str)]) {
    for (name, action) in expected {
        let said = last_column(&line_of(out, name));
        assert_eq!(&said, action, "plan's action for {name}\n{}", out.report());
    }
}

/// Asserts what a play (text) says for each container, up to the `(0.3s)`
/// it took.
fn assert_play_text(out: &Output, expected: &[(&str, &str)]) {
    for (name, text) in expected {
        let said = last_column(&line_of(out, name));
        let without_time = match said.rfind(" (") {
            Some(i) if said.ends_with("s)") => said[..i].to_owned(),
            _ => said.clone(),
        };
        assert_eq!(
            &without_time,
            text,
            "what the play says for {name}\n{}",
            out.report()
        );
    }
}

/// The image id a container runs.
fn container_image(host: &str, name: &str) -> String {
    inspect(host, name)
        .and_then(|c| c["Image"].as_str().map(str::to_owned))
        .unwrap_or_else(|| panic!("{name} does not exist on {host}"))
}

// ------------------------------------------------------ JSON expectations

/// The expected name, service and ship of each container of a JSON document.
type Who<'a> = (&'a str, &'a str, &'a str);

/// Checks the document's `command`, `environment` and `containers`: exactly
/// the `who` containers (any order), each with its service and ship and the
/// fields every row carries (`name`, `service`, `ship`, `state`, `action`,
/// `error`). Returns the rows by name.
fn rows<'v>(
    doc: &'v Value,
    command: &str,
    environment: &str,
    who: &[Who],
) -> BTreeMap<String, &'v Value> {
    assert_eq!(doc["command"], command, "command of {doc:#}");
    assert_eq!(doc["environment"], environment, "environment of {doc:#}");
    let list = doc["containers"]
        .as_array()
        .unwrap_or_else(|| panic!("no containers array in {doc:#}"));
    assert_eq!(list.len(), who.len(), "number of containers in {doc:#}");
    let mut by_name = BTreeMap::new();
    for row in list {
        // `plan`'s `state` is checked on its own, at the end of the JSON
        // test, so that its absence does not hide the rest.
        for key in ["name", "service", "ship", "state", "action", "error"]
            .into_iter()
            .filter(|k| command != "plan" || *k != "state")
        {
            assert!(
                row.get(key).is_some(),
                "{command}: a container row has no `{key}`: {row:#}"
            );
        }
        let name = row["name"]
            .as_str()
            .unwrap_or_else(|| panic!("name is not a string: {row:#}"));
        assert!(
            by_name.insert(name.to_owned(), row).is_none(),
            "{command}: {name} is listed twice in {doc:#}"
        );
    }
    for (name, service, ship) in who {
        let row = by_name
            .get(*name)
            .unwrap_or_else(|| panic!("{command}: {name} is missing from {doc:#}"));
        assert_eq!(row["service"], *service, "{command}: service of {name}");
        assert_eq!(row["ship"], *ship, "{command}: ship of {name}");
    }
    by_name
}

/// A successful play's JSON: exit 0, `ok` true, not interrupted, and every
/// container with `action`, `state` as given, no error and a time taken.
fn assert_play_json(
    out: &Output,
    command: &str,
    environment: &str,
    who: &[Who],
    action: &str,
    state: &str,
) -> Value {
    assert_code(out, 0);
    let doc = json_of(out);
    assert_eq!(doc["ok"], true, "{command} --json: ok\n{}", out.report());
    assert_eq!(doc["interrupted"], false, "{command} --json: interrupted");
    for (name, row) in rows(&doc, command, environment, who) {
        assert_eq!(
            row["action"],
            action,
            "{command} --json: action of {name}\n{}",
            out.report()
        );
        assert_eq!(
            row["state"],
            state,
            "{command} --json: state of {name}\n{}",
            out.report()
        );
        assert!(
            row["error"].is_null(),
            "{command} --json: error of {name}\n{}",
            out.report()
        );
        assert!(
            row["elapsed"].as_f64().is_some_and(|s| s >= 0.0),
            "{command} --json: elapsed of {name}: {row:#}"
        );
    }
    doc
}

/// `status --json`: exit 0 and every container in `state`, action `none`.
fn assert_status_json(out: &Output, environment: &str, who: &[Who], state: &str) -> Value {
    assert_code(out, 0);
    let doc = json_of(out);
    for (name, row) in rows(&doc, "status", environment, who) {
        assert_eq!(
            row["state"],
            state,
            "status --json: state of {name}\n{}",
            out.report()
        );
        assert_eq!(row["action"], "none", "status --json: action of {name}");
        assert!(row["error"].is_null(), "status --json: error of {name}");
    }
    doc
}

/// `plan --json`: the exit status (3 with changes or orphans, else 0), `changes`, and each container's
/// action and reasons (`(name, action, reasons)`).
fn assert_plan_json(
    out: &Output,
    environment: &str,
    who: &[Who],
    expected: &[(&str, &str, &[&str])],
) -> Value {
    let doc = json_of(out);
    // Orphans are changes too (each test checks the list itself).
    let orphans = doc["orphans"]
        .as_array()
        .unwrap_or_else(|| panic!("plan --json: no orphans array\n{}", out.report()))
        .len();
    let changes = orphans > 0 || expected.iter().any(|(_, action, _)| *action != "none");
    assert_code(out, if changes { 3 } else { 0 });
    assert_eq!(
        doc["changes"],
        changes,
        "plan --json: changes\n{}",
        out.report()
    );
    let by_name = rows(&doc, "plan", environment, who);
    for (name, action, reasons) in expected {
        let row = by_name[*name];
        assert_eq!(
            row["action"], *action,
            "plan --json: action of {name}\n{doc:#}"
        );
        let got: Vec<&str> = row["reasons"]
            .as_array()
            .unwrap_or_else(|| panic!("plan --json: {name} has no reasons array: {row:#}"))
            .iter()
            .map(|r| r.as_str().expect("a reason is a string"))
            .collect();
        assert_eq!(got, *reasons, "plan --json: reasons of {name}\n{doc:#}");
        assert!(row["error"].is_null(), "plan --json: error of {name}");
    }
    doc
}

// ------------------------------------------- 1. one changed env variable

#[test]
fn plan_shows_one_changed_env_and_up_recreates_only_that_container() {
    let _ships = use_ships();
    let names = ["cv-env-a-1", "cv-env-b-1", "cv-env-b-2"];
    let _cleanup = Cleanup::new(&names);
    let who: [Who; 3] = [
        (names[0], "a", "local"),
        (names[1], "b", "local"),
        (names[2], "b", "ship2"),
    ];
    let dir = Dir::new();
    let file_with = |color: &str| {
        let mut text = head(
            "cv-env",
            &[
                ("local", testbed().local_ship()),
                ("ship2", testbed().ship2_tcp()),
            ],
        );
        text.push_str(&service(
            "a",
            IMAGE,
            &[],
            &[instance(names[0], "local", IDLE, "")],
        ));
        text.push_str(&service(
            "b",
            IMAGE,
            &["requires: [a]", "env: {SHAPE: round}"],
            &[
                instance(names[1], "local", IDLE, "env: {COLOR: red}"),
                instance(names[2], "ship2", IDLE, &format!("env: {{COLOR: {color}}}")),
            ],
        ));
        dir.write("maestro.yaml", text)
    };
    let file = file_with("red");
    let hosts = [local(), local(), ship2()];

    // Nothing yet: everything to create.
    let out = maestro(&file, &["plan"]);
    assert_code(&out, 3);
    assert_plan_text(
        &out,
        &[
            (names[0], "create"),
            (names[1], "create"),
            (names[2], "create"),
        ],
    );
    assert!(
        out.stdout().contains("plan: changes to apply"),
        "{}",
        out.report()
    );
    for (host, name) in hosts.iter().zip(names) {
        assert!(!exists(host, name), "plan created {name}");
    }

    let out = maestro(&file, &["up"]);
    assert_code(&out, 0);
    assert_play_text(
        &out,
        &[
            (names[0], "created"),
            (names[1], "created"),
            (names[2], "created"),
        ],
    );
    for (host, name) in hosts.iter().zip(names) {
        assert!(running(host, name), "{name} does not run after up");
    }

    // Right after up, the file and the engines agree.
    let out = maestro(&file, &["plan"]);
    assert_code(&out, 0);
    assert_plan_text(
        &out,
        &[(names[0], "none"), (names[1], "none"), (names[2], "none")],
    );
    assert!(
        out.stdout().contains("plan: nothing to do."),
        "{}",
        out.report()
    );

    let ids: Vec<String> = hosts
        .iter()
        .zip(names)
        .map(|(h, n)| container_id(h, n))
        .collect();
    let starts: Vec<i128> = hosts
        .iter()
        .zip(names)
        .map(|(h, n)| started_at(h, n))
        .collect();

    // One instance's env changes (the one on ship2).
    let file = file_with("blue");
    let out = maestro(&file, &["plan"]);
    assert_code(&out, 3);
    assert_plan_text(
        &out,
        &[
            (names[0], "none"),
            (names[1], "none"),
            (names[2], "recreate (env COLOR changed)"),
        ],
    );
    let recreates = out
        .stdout()
        .lines()
        .filter(|l| l.contains("recreate"))
        .count();
    assert_eq!(recreates, 1, "{}", out.report());
    let out = maestro(&file, &["plan", "--json"]);
    let doc = assert_plan_json(
        &out,
        "cv-env",
        &who,
        &[
            (names[0], "none", &[]),
            (names[1], "none", &[]),
            (names[2], "recreate", &["env COLOR changed"]),
        ],
    );
    assert_eq!(doc["orphans"], serde_json::json!([]), "{doc:#}");
    // plan changed nothing.
    assert_eq!(container_id(&hosts[2], names[2]), ids[2]);
    assert_eq!(env_inside(&hosts[2], names[2])["COLOR"], "red");

    let out = maestro(&file, &["up"]);
    assert_code(&out, 0);
    assert_play_text(
        &out,
        &[
            (names[0], "up to date"),
            (names[1], "up to date"),
            (names[2], "recreated (env COLOR changed)"),
        ],
    );
    for i in 0..2 {
        assert_eq!(
            container_id(&hosts[i], names[i]),
            ids[i],
            "{} was replaced by up\n{}",
            names[i],
            out.report()
        );
        assert_eq!(
            started_at(&hosts[i], names[i]),
            starts[i],
            "{} was restarted by up\n{}",
            names[i],
            out.report()
        );
        assert!(running(&hosts[i], names[i]));
    }
    assert_ne!(
        container_id(&hosts[2], names[2]),
        ids[2],
        "{} was not recreated\n{}",
        names[2],
        out.report()
    );
    assert!(running(&hosts[2], names[2]));
    let env = env_inside(&hosts[2], names[2]);
    assert_eq!(env["COLOR"], "blue", "the new container's env: {env:?}");
    assert_eq!(env["SHAPE"], "round", "the new container's env: {env:?}");

    // Nothing left to do, in text and in JSON.
    let out = maestro(&file, &["plan"]);
    assert_code(&out, 0);
    assert_plan_text(
        &out,
        &[(names[0], "none"), (names[1], "none"), (names[2], "none")],
    );
    assert!(
        out.stdout().contains("plan: nothing to do."),
        "{}",
        out.report()
    );
    let out = maestro(&file, &["plan", "--json"]);
    assert_plan_json(
        &out,
        "cv-env",
        &who,
        &[
            (names[0], "none", &[]),
            (names[1], "none", &[]),
            (names[2], "none", &[]),
        ],
    );
}

// ------------------------------------------- 2. an image rebuilt in place

#[test]
fn an_image_rebuilt_under_the_same_tag_is_image_updated() {
    const TAG: &str = "maestro-test/box:cv-img";
    let names = ["cv-img-web-1", "cv-img-web-2", "cv-img-other-1"];
    let images = RemoveImages::new(&[TAG]);
    let _cleanup = Cleanup::new(&names);
    let host = local();
    docker(&host, &["tag", IMAGE, TAG]);
    let dir = Dir::new();
    let text = head("cv-img", &[("local", testbed().local_ship())])
        + &service(
            "web",
            TAG,
            &[],
            &[
                instance(names[0], "local", IDLE, ""),
                instance(names[1], "local", IDLE, ""),
            ],
        )
        + &service(
            "other",
            IMAGE,
            &[],
            &[instance(names[2], "local", IDLE, "")],
        );
    let file = dir.write("maestro.yaml", text);
    let who: [Who; 3] = [
        (names[0], "web", "local"),
        (names[1], "web", "local"),
        (names[2], "other", "local"),
    ];

    let out = maestro(&file, &["up"]);
    assert_code(&out, 0);
    let out = maestro(&file, &["plan"]);
    assert_code(&out, 0);
    let old_image = image_id(&host, IMAGE);
    for n in names {
        assert_eq!(container_image(&host, n), old_image, "{n}");
    }
    let other_id = container_id(&host, names[2]);
    let other_started = started_at(&host, names[2]);

    // The tag now names another image.
    let new_image = build_image(
        &local(),
        TAG,
        &format!(
            "FROM {IMAGE}\nLABEL io.maestro.test.cv-img=\"{}\"\n",
            now_nanos()
        ),
    );
    images.add(&new_image);
    assert_ne!(new_image, old_image);

    let out = maestro(&file, &["plan"]);
    assert_code(&out, 3);
    assert_plan_text(
        &out,
        &[
            (names[0], "recreate (image updated)"),
            (names[1], "recreate (image updated)"),
            (names[2], "none"),
        ],
    );
    let out = maestro(&file, &["plan", "--json"]);
    assert_plan_json(
        &out,
        "cv-img",
        &who,
        &[
            (names[0], "recreate", &["image updated"]),
            (names[1], "recreate", &["image updated"]),
            (names[2], "none", &[]),
        ],
    );
    // plan changed nothing.
    assert_eq!(container_image(&host, names[0]), old_image);

    let out = maestro(&file, &["up"]);
    assert_code(&out, 0);
    assert_play_text(
        &out,
        &[
            (names[0], "recreated (image updated)"),
            (names[1], "recreated (image updated)"),
            (names[2], "up to date"),
        ],
    );
    for n in &names[..2] {
        assert!(running(&host, n), "{n}");
        assert_eq!(
            container_image(&host, n),
            new_image,
            "{n} does not run the rebuilt image\n{}",
            out.report()
        );
    }
    assert_eq!(container_id(&host, names[2]), other_id, "other replaced");
    assert_eq!(
        started_at(&host, names[2]),
        other_started,
        "other restarted"
    );
    assert_eq!(container_image(&host, names[2]), old_image);
    let out = maestro(&file, &["plan"]);
    assert_code(&out, 0);

    // Once more, applied with `start --converge`.
    let newer_image = build_image(
        &local(),
        TAG,
        &format!(
            "FROM {IMAGE}\nLABEL io.maestro.test.cv-img=\"{}\"\n",
            now_nanos()
        ),
    );
    images.add(&newer_image);
    assert_ne!(newer_image, new_image);
    let before = container_id(&host, names[0]);
    let out = maestro(&file, &["start", "--converge"]);
    assert_code(&out, 0);
    assert_play_text(
        &out,
        &[
            (names[0], "recreated (image updated)"),
            (names[1], "recreated (image updated)"),
            (names[2], "up to date"),
        ],
    );
    assert_ne!(container_id(&host, names[0]), before);
    for n in &names[..2] {
        assert_eq!(container_image(&host, n), newer_image, "{n}");
    }
    assert_eq!(container_id(&host, names[2]), other_id, "other replaced");
    let out = maestro(&file, &["plan"]);
    assert_code(&out, 0);
}

// --------------------------------------------------- 3. health-gated start

#[test]
fn healthy_check_gates_dependents_and_unhealthy_fails_with_the_probe_output() {
    const TAG: &str = "maestro-test/box:cv-health";
    const PROBE_SAYS: &str = "cv-probe: /tmp/ok missing";
    let ok = ["cv-hok-db-1", "cv-hok-web-1"];
    let bad = ["cv-hbad-db-1", "cv-hbad-web-1"];
    let images = RemoveImages::new(&[TAG]);
    let _cleanup = Cleanup::new(&[ok[0], ok[1], bad[0], bad[1]]);
    let host = local();
    // Healthy once /tmp/ok exists; probe failures in the first 4 s do not
    // count, one failure after that makes it unhealthy.
    let id = build_image(
        &local(),
        TAG,
        &format!(
            "FROM {IMAGE}\nHEALTHCHECK --interval=1s --timeout=1s --start-period=4s --retries=1 \
             CMD test -f /tmp/ok || {{ echo \"{PROBE_SAYS}\"; exit 1; }}\n"
        ),
    );
    images.add(&id);
    let dir = Dir::new();
    let file = |env: &str, names: [&str; 2], db_command: &str, max_wait: u32| {
        let lifecycle =
            format!("lifecycle: {{running: [{{type: healthy, max_wait: {max_wait}}}]}}");
        let text = head(env, &[("local", testbed().local_ship())])
            + &service(
                "db",
                TAG,
                &[lifecycle.as_str()],
                &[instance(names[0], "local", &["sh", "-c", db_command], "")],
            )
            + &service(
                "web",
                IMAGE,
                &["requires: [db]"],
                &[instance(names[1], "local", IDLE, "")],
            );
        dir.write(format!("{env}.yaml"), text)
    };

    // Healthy after 2 s: web waits for it.
    let healthy = file(
        "cv-hok",
        ok,
        "sleep 2; touch /tmp/ok; trap 'exit 0' TERM; sleep 3600 & wait",
        30,
    );
    let since = now_nanos();
    let out = maestro(&healthy, &["up"]);
    assert_code(&out, 0);
    assert_play_text(&out, &[(ok[0], "created"), (ok[1], "created")]);
    assert!(running(&host, ok[0]) && running(&host, ok[1]));
    let list = events_without_exec(&host, "cv-hok", since);
    let db_started = started_at(&host, ok[0]);
    let db_healthy = first_event(&list, "health_status: healthy", ok[0]);
    let web_created = first_event(&list, "create", ok[1]);
    let web_started = started_at(&host, ok[1]);
    let table = format!(
        "db started {:.3}, healthy {:.3}; web created {:.3}, started {:.3}\n{list:#?}",
        secs(db_started),
        secs(db_healthy),
        secs(web_created),
        secs(web_started)
    );
    assert!(
        db_healthy - db_started >= 2_000_000_000,
        "db was healthy before /tmp/ok existed: {table}"
    );
    assert!(
        web_created >= db_healthy && web_started >= db_healthy,
        "web was created or started before db was healthy: {table}"
    );
    assert!(
        web_started - db_started >= 2_000_000_000,
        "web started {:.3}s after db: {table}",
        secs(web_started - db_started)
    );
    println!("healthy case: {table}");

    // Never healthy: the play fails as soon as the engine says so, with the
    // probe's output (given a minute, not the hour of max_wait); db is left
    // stopped, web is aborted and never created.
    let unhealthy = file(
        "cv-hbad",
        bad,
        "trap 'exit 0' TERM; sleep 3600 & wait",
        3600,
    );
    let out = maestro_within(&unhealthy, &["start"], Duration::from_secs(60));
    assert_code(&out, 1);
    let stderr = out.stderr();
    let error = stderr
        .lines()
        .find(|l| l.starts_with("ERROR: "))
        .unwrap_or_else(|| panic!("no ERROR line\n{}", out.report()));
    for needle in [bad[0], "unhealthy", PROBE_SAYS] {
        assert!(
            error.contains(needle),
            "the error does not say `{needle}`: {error}\n{}",
            out.report()
        );
    }
    let db_line = last_column(&line_of(&out, bad[0]));
    assert!(
        db_line.starts_with("failed:") && db_line.contains("unhealthy"),
        "{}",
        out.report()
    );
    assert_play_text(&out, &[(bad[1], "aborted (untouched)")]);
    assert!(
        out.stdout()
            .contains("start: 0 done, 1 failed, 1 aborted in"),
        "{}",
        out.report()
    );
    assert!(!exists(&host, bad[1]), "web was created although aborted");
    assert_stopped(&host, bad[0], &out);
}

// ------------------------------------------------------------- 4. --json

#[test]
fn json_output_of_every_command_carries_each_containers_fields() {
    let _ships = use_ships();
    let names = ["cv-json-a-1", "cv-json-b-1", "cv-json-b-2"];
    let failing = ["cv-jfail-boom-1", "cv-jfail-dep-1", "cv-jfail-dep-2"];
    let pulled = "cv-jpull-1";
    let mut all: Vec<&str> = names.to_vec();
    all.extend(failing);
    all.push(pulled);
    let _cleanup = Cleanup::new(&all);
    let hosts = [local(), local(), ship2()];
    let who: [Who; 3] = [
        (names[0], "a", "local"),
        (names[1], "b", "local"),
        (names[2], "b", "ship2"),
    ];
    let env = "cv-json";
    let dir = Dir::new();
    let text = head(
        env,
        &[
            ("local", testbed().local_ship()),
            ("ship2", testbed().ship2_tcp()),
        ],
    ) + &service("a", IMAGE, &[], &[instance(names[0], "local", IDLE, "")])
        + &service(
            "b",
            IMAGE,
            &["requires: [a]"],
            &[
                instance(names[1], "local", IDLE, ""),
                instance(names[2], "ship2", IDLE, ""),
            ],
        );
    let file = dir.write("maestro.yaml", text);

    // status and plan, nothing there yet.
    let doc = assert_status_json(&maestro(&file, &["status", "--json"]), env, &who, "absent");
    for row in doc["containers"].as_array().expect("rows") {
        assert!(row["id"].is_null(), "{row:#}");
    }
    let ship_ips: BTreeMap<&str, &str> = doc["containers"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| {
            (
                r["ship"].as_str().expect("ship"),
                r["ship_ip"].as_str().expect("ship_ip"),
            )
        })
        .collect();
    assert_eq!(ship_ips["local"], testbed().var("TESTBED_LOCAL_IP"));
    assert_eq!(ship_ips["ship2"], testbed().var("TESTBED_SHIP2_IP"));
    let doc = assert_plan_json(
        &maestro(&file, &["plan", "--json"]),
        env,
        &who,
        &[
            (names[0], "create", &[]),
            (names[1], "create", &[]),
            (names[2], "create", &[]),
        ],
    );
    assert_eq!(doc["orphans"], serde_json::json!([]));

    // start
    let out = maestro(&file, &["start", "--json"]);
    assert_play_json(&out, "start", env, &who, "started", "running");
    for (host, name) in hosts.iter().zip(names) {
        assert!(running(host, name), "{name}");
    }
    let doc = assert_status_json(
        &maestro(&file, &["status", "--full", "--json"]),
        env,
        &who,
        "running",
    );
    for (host, name) in hosts.iter().zip(names) {
        let row = doc["containers"]
            .as_array()
            .expect("rows")
            .iter()
            .find(|r| r["name"] == name)
            .expect("the row");
        let id = row["id"]
            .as_str()
            .unwrap_or_else(|| panic!("status --json: no id for {name}: {row:#}"));
        assert!(
            id.len() >= 12 && container_id(host, name).starts_with(id),
            "status --json: id {id} of {name} is not the engine's"
        );
        assert!(row["since"].is_string(), "status --json: since: {row:#}");
        assert_eq!(row["image"], IMAGE, "status --json: image: {row:#}");
        let image = row["image_id"]
            .as_str()
            .unwrap_or_else(|| panic!("status --full --json: no image_id: {row:#}"));
        let image = image.trim_start_matches("sha256:");
        assert!(
            image.len() >= 12
                && container_image(host, name)
                    .trim_start_matches("sha256:")
                    .starts_with(image),
            "status --json: image_id {image} of {name} is not the engine's"
        );
    }

    // up and plan: nothing to do.
    let out = maestro(&file, &["up", "--json"]);
    let doc = assert_play_json(&out, "up", env, &who, "none", "running");
    for row in doc["containers"].as_array().expect("rows") {
        assert_eq!(row["detail"], "up to date", "{row:#}");
    }
    assert_plan_json(
        &maestro(&file, &["plan", "--json"]),
        env,
        &who,
        &[
            (names[0], "none", &[]),
            (names[1], "none", &[]),
            (names[2], "none", &[]),
        ],
    );

    // restart
    let before: Vec<i128> = hosts
        .iter()
        .zip(names)
        .map(|(h, n)| started_at(h, n))
        .collect();
    let out = maestro(&file, &["restart", "-a", "--json"]);
    assert_play_json(&out, "restart", env, &who, "restarted", "running");
    for ((host, name), then) in hosts.iter().zip(names).zip(before) {
        assert!(running(host, name), "{name}");
        assert!(started_at(host, name) > then, "{name} was not restarted");
    }

    // stop, then status says stopped with the exit status.
    let out = maestro(&file, &["stop", "-a", "--json"]);
    assert_play_json(&out, "stop", env, &who, "stopped", "stopped");
    let doc = assert_status_json(&maestro(&file, &["status", "--json"]), env, &who, "stopped");
    for (host, name) in hosts.iter().zip(names) {
        assert!(!running(host, name), "{name} still runs");
        let row = doc["containers"]
            .as_array()
            .expect("rows")
            .iter()
            .find(|r| r["name"] == name)
            .expect("the row");
        let engine_code = inspect(host, name).expect("it exists")["State"]["ExitCode"].clone();
        assert_eq!(row["exit_code"], engine_code, "status --json: {row:#}");
    }

    // up starts the stopped containers again.
    let out = maestro(&file, &["up", "--json"]);
    assert_play_json(&out, "up", env, &who, "started", "running");
    for (host, name) in hosts.iter().zip(names) {
        assert!(running(host, name), "{name}");
    }

    // kill, then kill again (nothing to kill).
    let out = maestro(&file, &["kill", "-a", "--json"]);
    assert_play_json(&out, "kill", env, &who, "killed", "stopped");
    for (host, name) in hosts.iter().zip(names) {
        assert!(!running(host, name), "{name} still runs after kill");
    }
    let out = maestro(&file, &["kill", "-a", "--json"]);
    assert_play_json(&out, "kill", env, &who, "none", "stopped");

    // clean, then clean again (nothing to remove).
    let out = maestro(&file, &["clean", "--json"]);
    assert_play_json(&out, "clean", env, &who, "removed", "absent");
    for (host, name) in hosts.iter().zip(names) {
        assert!(!exists(host, name), "{name} is still there after clean");
    }
    let out = maestro(&file, &["clean", "--json"]);
    assert_play_json(&out, "clean", env, &who, "none", "absent");

    // pull from a registry that does not exist: fails cleanly.
    const MISSING: &str = "127.0.0.1:5999/none:1";
    let text = head("cv-jpull", &[("local", testbed().local_ship())])
        + &service("p", MISSING, &[], &[instance(pulled, "local", IDLE, "")]);
    let pull_file = dir.write("pull.yaml", text);
    let out = maestro(&pull_file, &["pull", "--json"]);
    assert_code(&out, 1);
    let doc = json_of(&out);
    assert_eq!(doc["ok"], false, "{}", out.report());
    assert_eq!(doc["interrupted"], false);
    let by_name = rows(&doc, "pull", "cv-jpull", &[(pulled, "p", "local")]);
    let row = by_name[pulled];
    assert_eq!(row["action"], "failed", "{row:#}");
    let error = row["error"]
        .as_str()
        .unwrap_or_else(|| panic!("pull --json: no error for {pulled}: {row:#}"));
    assert!(
        error.contains(MISSING) || error.contains("127.0.0.1:5999"),
        "pull --json: the error does not name the image or registry: {error}"
    );
    assert!(out.stderr().contains("ERROR: "), "{}", out.report());

    // A start that fails: ok false, the error, dependents aborted.
    let text = head("cv-jfail", &[("local", testbed().local_ship())])
        + &service(
            "boom",
            IMAGE,
            &[],
            &[instance(
                failing[0],
                "local",
                &["sh", "-c", "echo cv-boom-said-this >&2; exit 3"],
                "",
            )],
        )
        + &service(
            "dep",
            IMAGE,
            &["requires: [boom]"],
            &[
                instance(failing[1], "local", IDLE, ""),
                instance(failing[2], "local", IDLE, ""),
            ],
        );
    let fail_file = dir.write("fail.yaml", text);
    let out = maestro(&fail_file, &["start", "--json"]);
    assert_code(&out, 1);
    let doc = json_of(&out);
    assert_eq!(doc["ok"], false, "{}", out.report());
    let by_name = rows(
        &doc,
        "start",
        "cv-jfail",
        &[
            (failing[0], "boom", "local"),
            (failing[1], "dep", "local"),
            (failing[2], "dep", "local"),
        ],
    );
    let boom = by_name[failing[0]];
    assert_eq!(boom["action"], "failed", "{boom:#}");
    let error = boom["error"].as_str().unwrap_or("");
    assert!(
        error.contains("exited with status 3") && error.contains("cv-boom-said-this"),
        "start --json: the failed container's error: {boom:#}"
    );
    for name in &failing[1..] {
        let row = by_name[*name];
        assert_eq!(row["action"], "aborted", "{row:#}");
        assert!(row["error"].is_null(), "{row:#}");
        assert!(
            !exists(&local(), name),
            "{name} was created although aborted"
        );
    }

    // plan --json, like the other commands, carries each container's state:
    // the failed container is there, stopped (to start again), its
    // dependents are absent (to create).
    let out = maestro(&fail_file, &["plan", "--json"]);
    let who_failing: [Who; 3] = [
        (failing[0], "boom", "local"),
        (failing[1], "dep", "local"),
        (failing[2], "dep", "local"),
    ];
    let doc = assert_plan_json(
        &out,
        "cv-jfail",
        &who_failing,
        &[
            (failing[0], "start", &[]),
            (failing[1], "create", &[]),
            (failing[2], "create", &[]),
        ],
    );
    for (name, state) in [
        (failing[0], "stopped"),
        (failing[1], "absent"),
        (failing[2], "absent"),
    ] {
        let row = doc["containers"]
            .as_array()
            .expect("rows")
            .iter()
            .find(|r| r["name"] == name)
            .expect("the row");
        assert_eq!(
            row.get("state"),
            Some(&Value::from(state)),
            "plan --json: {name} carries no (or a wrong) `state`: {row:#}"
        );
    }
}

// ------------------------------------------------------------- 5. orphans

#[test]
fn orphans_are_listed_by_plan_reported_by_up_and_removed_on_request() {
    let _ships = use_ships();
    let names = ["cv-orph-keep-1", "cv-orph-gone-1"];
    let _cleanup = Cleanup::new(&names);
    let dir = Dir::new();
    // Two services that know nothing of each other (an instance removed from
    // a service would change its siblings' link variables, a recreate).
    let file_of = |with_gone: bool| {
        let mut text = head(
            "cv-orph",
            &[
                ("local", testbed().local_ship()),
                ("ship2", testbed().ship2_tcp()),
            ],
        ) + &service("keep", IMAGE, &[], &[instance(names[0], "local", IDLE, "")]);
        if with_gone {
            text += &service("gone", IMAGE, &[], &[instance(names[1], "ship2", IDLE, "")]);
        }
        dir.write("maestro.yaml", text)
    };
    let file = file_of(true);
    assert_code(&maestro(&file, &["up"]), 0);
    assert!(running(&local(), names[0]) && running(&ship2(), names[1]));
    let out = maestro(&file, &["plan", "--json"]);
    let doc = assert_plan_json(
        &out,
        "cv-orph",
        &[(names[0], "keep", "local"), (names[1], "gone", "ship2")],
        &[(names[0], "none", &[]), (names[1], "none", &[])],
    );
    assert_eq!(doc["orphans"], serde_json::json!([]));
    let kept_id = container_id(&local(), names[0]);
    let orphan_id = container_id(&ship2(), names[1]);

    // The `gone` service and its instance leave the file.
    let file = file_of(false);
    let out = maestro(&file, &["plan"]);
    assert_code(&out, 3);
    assert_plan_text(&out, &[(names[0], "none")]);
    let orphan_line = line_of(&out, names[1]);
    assert!(
        orphan_line.contains("orphan")
            && orphan_line.contains("ship2")
            && orphan_line.contains("running"),
        "{}",
        out.report()
    );
    let out = maestro(&file, &["plan", "--json"]);
    let doc = assert_plan_json(
        &out,
        "cv-orph",
        &[(names[0], "keep", "local")],
        &[(names[0], "none", &[])],
    );
    // The only container left in the file has nothing to do: the orphan is
    // the change.
    assert_eq!(doc["changes"], true);
    assert_eq!(
        doc["orphans"],
        serde_json::json!([{"name": names[1], "ship": "ship2", "running": true}]),
        "{doc:#}"
    );
    // Naming things leaves orphans out.
    let out = maestro(&file, &["plan", names[0]]);
    assert_code(&out, 0);
    assert!(!out.stdout().contains(names[1]), "{}", out.report());

    // up reports it and leaves it.
    let out = maestro(&file, &["up"]);
    assert_code(&out, 0);
    assert_play_text(&out, &[(names[0], "up to date")]);
    let orphan_line = line_of(&out, names[1]);
    assert!(
        orphan_line.contains("orphan")
            && orphan_line.contains("not in the file")
            && !orphan_line.contains("removed"),
        "{}",
        out.report()
    );
    assert!(running(&ship2(), names[1]), "up touched the orphan");
    assert_eq!(container_id(&ship2(), names[1]), orphan_id);

    // up --json leaves it too; whether it reports it is checked at the end.
    let json_up = maestro(&file, &["up", "--json"]);
    assert_play_json(
        &json_up,
        "up",
        "cv-orph",
        &[(names[0], "keep", "local")],
        "none",
        "running",
    );
    assert!(running(&ship2(), names[1]), "up --json touched the orphan");

    // up --remove-orphans removes it.
    let out = maestro(&file, &["up", "--remove-orphans"]);
    assert_code(&out, 0);
    assert_play_text(&out, &[(names[0], "up to date")]);
    let orphan_line = line_of(&out, names[1]);
    assert!(orphan_line.contains("removed"), "{}", out.report());
    assert!(
        !exists(&ship2(), names[1]),
        "the orphan is still on ship2\n{}",
        out.report()
    );
    assert_eq!(container_id(&local(), names[0]), kept_id);
    assert!(running(&local(), names[0]));
    let out = maestro(&file, &["plan"]);
    assert_code(&out, 0);
    assert!(!out.stdout().contains("orphan"), "{}", out.report());

    // Like `up` and `plan --json`, `up --json` tells about the orphan (the
    // text output's orphan lines have to go somewhere in the document).
    let doc = json_of(&json_up);
    assert!(
        doc.to_string().contains(names[1]) || json_up.stderr().contains(names[1]),
        "up --json does not report the orphan {} (neither in the document nor on stderr)\n{}",
        names[1],
        json_up.report()
    );
}

// --------------------------------------------- 6. completions and man page

#[test]
fn completions_for_three_shells_and_a_man_page() {
    let run = |args: &[&str]| {
        let out = TestCommand::maestro().args(args).env("NO_COLOR", "1").run();
        assert_code(&out, 0);
        assert!(
            out.stderr().trim().is_empty(),
            "stderr is not empty\n{}",
            out.report()
        );
        out.stdout()
    };
    let dir = Dir::new();
    for shell in ["bash", "zsh", "fish"] {
        let script = run(&["completions", shell]);
        assert!(!script.trim().is_empty(), "{shell}: empty script");
        assert!(script.contains("maestro"), "{shell}: no `maestro`");
        for sub in ["restart", "plan", "up", "status"] {
            assert!(
                script.contains(sub),
                "{shell}: the script does not mention `{sub}`"
            );
        }
        if shell == "bash" {
            let path = dir.write("maestro.bash", &script);
            let out = TestCommand::new("bash").arg("-n").arg(&path).run();
            assert!(
                out.success(),
                "bash -n rejects the script\n{}",
                out.report()
            );
        }
    }
    // Other shells than bash are syntax-checked when installed.
    for (shell, script_name) in [("zsh", "maestro.zsh"), ("fish", "maestro.fish")] {
        let installed = Command::new(shell)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success());
        if installed {
            let path = dir.write(script_name, run(&["completions", shell]));
            let out = TestCommand::new(shell).arg("-n").arg(&path).run();
            assert!(
                out.success(),
                "{shell} -n rejects the script\n{}",
                out.report()
            );
        }
    }
    // Unknown shells are a usage error.
    let out = TestCommand::maestro()
        .args(["completions", "tcsh-nope"])
        .run();
    assert_eq!(out.code(), Some(2), "{}", out.report());

    let page = run(&["manpage"]);
    assert!(
        page.starts_with(".TH") || page.starts_with(".ie"),
        "the man page does not start like roff: {:?}",
        &page[..page.len().min(80)]
    );
    assert!(page.contains(".TH maestro"), "no .TH maestro line");
    assert!(page.contains(".SH"), "no sections");
    for sub in ["restart", "plan"] {
        assert!(page.contains(sub), "the man page does not mention `{sub}`");
    }
    let man_installed = Command::new("man")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        man_installed,
        "`man --version` does not run: the rendering of the man page cannot be checked; \
         install man (e.g. `apt-get install man-db`)"
    );
    let path = dir.write("maestro.1", &page);
    let out = TestCommand::new("man")
        .arg("-l")
        .arg(&path)
        .env("MANPAGER", "cat")
        .env("PAGER", "cat")
        .env("MANWIDTH", "100")
        .env("LANG", "C.UTF-8")
        .run();
    assert!(out.success(), "man -l fails\n{}", out.report());
    let text = out.stdout();
    assert!(
        text.contains("NAME") && text.contains("maestro"),
        "man -l rendered no NAME section with `maestro`\n{}",
        out.report()
    );
    assert!(
        !text.contains(".TH") && !text.contains(".SH"),
        "man -l left roff requests unrendered\n{}",
        out.report()
    );
}

/// An instance moved to another ship leaves its old container behind: `plan`
/// lists that one as an orphan on its old ship (the file still names the
/// instance), and `up --remove-orphans` removes it and creates the instance
/// on its new ship.
#[test]
fn an_instance_moved_to_another_ship_leaves_an_orphan_that_up_removes() {
    let _ships = use_ships();
    let name = "cv-moved-1";
    let _cleanup = Cleanup::new(&[name]);
    let dir = Dir::new();
    let file_on = |ship: &str| {
        let text = head(
            "cv-moved",
            &[
                ("local", testbed().local_ship()),
                ("ship2", testbed().ship2_tcp()),
            ],
        ) + &service("moved", IMAGE, &[], &[instance(name, ship, IDLE, "")]);
        dir.write("maestro.yaml", text)
    };
    let file = file_on("ship2");
    assert_code(&maestro(&file, &["up"]), 0);
    assert!(running(&ship2(), name));
    let old_id = container_id(&ship2(), name);

    let file = file_on("local");
    let out = maestro(&file, &["plan", "--json"]);
    assert_code(&out, 3);
    let doc = json_of(&out);
    assert_eq!(
        doc["orphans"],
        serde_json::json!([{"name": name, "ship": "ship2", "running": true}]),
        "{doc:#}"
    );
    let out = maestro(&file, &["up", "--remove-orphans"]);
    assert_code(&out, 0);
    assert!(
        !exists(&ship2(), name),
        "the container left on ship2 is still there\n{}",
        out.report()
    );
    assert!(running(&local(), name), "{}", out.report());
    assert_ne!(container_id(&local(), name), old_id);
    assert_code(&maestro(&file, &["plan"]), 0);
}

/// A new instance changes `<SVC>_INSTANCES` in every dependent's
/// environment: `plan` names each container it recreates and why, and the
/// blast radius; `up` recreates them one service at a time in dependency
/// order (db, then web, then worker: the engine's creation and start times
/// of each service's containers all come before the next service's).
#[test]
fn a_new_instance_recreates_dependents_one_service_at_a_time() {
    let names = [
        "cv-blast-db-1",
        "cv-blast-db-2",
        "cv-blast-web-1",
        "cv-blast-web-2",
        "cv-blast-worker-1",
        "cv-blast-worker-2",
    ];
    let _cleanup = Cleanup::new(&names);
    let dir = Dir::new();
    let file_with = |db_instances: usize| {
        let db: Vec<String> = names[..db_instances]
            .iter()
            .map(|n| instance(n, "local", IDLE, ""))
            .collect();
        let text = head("cv-blast", &[("local", testbed().local_ship())])
            + &service("db", IMAGE, &[], &db)
            + &service(
                "web",
                IMAGE,
                &["requires: [db]"],
                &[
                    instance(names[2], "local", IDLE, ""),
                    instance(names[3], "local", IDLE, ""),
                ],
            )
            + &service(
                "worker",
                IMAGE,
                &["requires: [db]"],
                &[
                    instance(names[4], "local", IDLE, ""),
                    instance(names[5], "local", IDLE, ""),
                ],
            );
        dir.write("maestro.yaml", text)
    };
    assert_code(&maestro(&file_with(1), &["up"]), 0);
    let file = file_with(2);
    let out = maestro(&file, &["plan", "--json"]);
    assert_code(&out, 3);
    let doc = json_of(&out);
    for row in doc["containers"].as_array().expect("containers") {
        let name = row["name"].as_str().unwrap_or_default();
        if name == names[1] {
            assert_eq!(row["action"], "create", "{row}");
        } else if name != names[0] {
            assert_eq!(row["action"], "recreate", "{row}");
            let reasons = row["reasons"].to_string();
            assert!(reasons.contains("DB_INSTANCES"), "{name}: {reasons}");
        }
    }
    let radius = &doc["recreates"];
    assert_eq!(radius["services"][0]["service"], "db", "{radius}");
    let order: Vec<&str> = radius["services"]
        .as_array()
        .expect("services")
        .iter()
        .filter_map(|s| s["service"].as_str())
        .collect();
    assert!(order.ends_with(&["web", "worker"]), "{radius}");
    let text = maestro(&file, &["plan"]);
    assert!(
        line_of(&text, "recreates:").contains("one service at a time"),
        "{}",
        text.report()
    );

    assert_code(&maestro(&file, &["up"]), 0);
    let created = |name: &str| {
        let found = inspect(&local(), name).unwrap_or_else(|| panic!("{name} is missing"));
        let text = found["Created"].as_str().unwrap_or_default().to_owned();
        crate::engine_support::rfc3339_nanos(&text)
            .unwrap_or_else(|| panic!("{name}: Created {text:?} is not RFC 3339"))
    };
    let service_of = |i: usize| match i {
        0 | 1 => "db",
        2 | 3 => "web",
        _ => "worker",
    };
    for (earlier, later) in [("db", "web"), ("web", "worker")] {
        let last_start = (0..names.len())
            .filter(|&i| service_of(i) == earlier)
            .map(|i| started_at(&local(), names[i]))
            .max()
            .unwrap_or_default();
        let first_create = (0..names.len())
            .filter(|&i| service_of(i) == later)
            .map(|i| created(names[i]))
            .min()
            .unwrap_or_default();
        assert!(
            last_start < first_create,
            "{later} was recreated before {earlier} was done ({first_create} <= {last_start})"
        );
    }
}
