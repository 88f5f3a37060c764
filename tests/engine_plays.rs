//! The plays end to end against the real engines of the test bed (spec
//! commands.md, environment-file.md §3, §5, §6): the environment inside
//! running containers equals `maestro dump`, on both ships; a container on
//! ship2 reaches one on the local ship through its `*_HOST`/`*_PORT`
//! variables only; start, stop and restart order read from the engine's own
//! timestamps; a rolling restart; `--only-if-changed`; the selection options;
//! `start` of running and stopped containers (`--reuse`); a container that
//! exits at once aborts its dependents; `clean`; `logs`; `status` with a ship
//! cut off.
//!
//! Every container is named `pl-<test>-…` and removed by a [`Cleanup`] guard
//! made before anything starts. Tests that touch ship2 hold `use_ships()`
//! (the cut test holds `cut_ships()`).

use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::engine_support::{
    assert_line, build_image, container_id, events, exists, finished_at, free_port, head, image_id,
    instance, last_event, line_of, local, maestro, maestro_within, now_nanos, running, secs,
    service, ship2, started_at, Event, RemoveImages, IDLE, IMAGE,
};
use crate::testbed::{
    cut_ships, docker, env_inside, inspect, testbed, testbed_script, use_ships, Cleanup, Heal,
};
use crate::util::{Dir, Output};

// ------------------------------------------------------------------ helpers

/// A port to publish on ship2 (its own network namespace, which only tests
/// holding the ships use): picked at random in 30000..50000.
fn ship2_port(salt: u32) -> u16 {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let mixed = nanos ^ std::process::id().wrapping_mul(2_654_435_761) ^ salt.wrapping_mul(40_503);
    30000 + (mixed % 20000) as u16
}

/// `maestro dump` as JSON.
fn dump(file: &Path) -> serde_json::Value {
    let out = maestro(file, &["dump"]);
    out.assert_success();
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("dump is not JSON: {e}\n{}", out.report()))
}

/// `maestro dump`'s `containers.NAME.env`.
fn dumped_env(dump: &serde_json::Value, name: &str) -> BTreeMap<String, String> {
    let env = dump["containers"][name]["env"]
        .as_object()
        .unwrap_or_else(|| panic!("dump has no containers.{name}.env:\n{dump:#}"));
    env.iter()
        .map(|(k, v)| {
            let v = v
                .as_str()
                .unwrap_or_else(|| panic!("containers.{name}.env.{k} is not a string: {v}"));
            (k.clone(), v.to_owned())
        })
        .collect()
}

/// Asserts that every time of `earlier` is before every time of `later`.
fn assert_all_before(what: &str, earlier: &[(&str, i128)], later: &[(&str, i128)]) {
    for (a, ta) in earlier {
        for (b, tb) in later {
            assert!(
                ta < tb,
                "{what}: {a} at {:.6} is not before {b} at {:.6}\nearlier: {earlier:?}\nlater: {later:?}",
                secs(*ta),
                secs(*tb)
            );
        }
    }
}

fn times(names: &[&'static str], f: impl Fn(&str) -> i128) -> Vec<(&'static str, i128)> {
    names.iter().map(|n| (*n, f(n))).collect()
}

/// Removes containers from the local engine (between sub-cases).
fn remove_local(names: &[&str]) {
    let _ = Command::new("docker")
        .args(["-H", &local(), "rm", "-f", "-v"])
        .args(names)
        .output();
}

/// Which of `names` exist on the local engine.
fn existing_local<'a>(names: &[&'a str]) -> Vec<&'a str> {
    let host = local();
    names.iter().copied().filter(|n| exists(&host, n)).collect()
}

/// Kills and reaps a spawned process when dropped.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

// ------------------------------------------------------ 1. env equality

/// Compares the environment read inside a running container with what
/// `maestro dump` says it gets.
fn assert_env_matches(host: &str, name: &str, expected: &BTreeMap<String, String>) {
    let mut inside: HashMap<String, String> = env_inside(host, name);
    // Added by the image or the engine, not by maestro:
    let path = inside.remove("PATH");
    let home = inside.remove("HOME");
    let hostname = inside.remove("HOSTNAME");
    for key in ["PATH", "HOME", "HOSTNAME"] {
        assert!(
            !expected.contains_key(key),
            "the test environment should not set {key}"
        );
    }
    let image_env = docker(
        host,
        &["image", "inspect", "-f", "{{json .Config.Env}}", IMAGE],
    );
    let image_env: Vec<String> = serde_json::from_str(image_env.trim()).expect("image env JSON");
    let image_path = image_env
        .iter()
        .find_map(|e| e.strip_prefix("PATH=").map(str::to_owned));
    assert_eq!(path, image_path, "{name}: PATH is not the image's");
    assert_eq!(home.as_deref(), Some("/root"), "{name}: HOME");
    assert_eq!(
        hostname.as_deref(),
        Some(name),
        "{name}: the hostname is the instance name (no net mode)"
    );
    let inside: BTreeMap<String, String> = inside.into_iter().collect();
    assert_eq!(
        &inside, expected,
        "{name}: env inside the container (left) differs from `maestro dump` (right)"
    );
}

#[test]
fn env_inside_containers_equals_dump_on_both_ships() {
    let _ships = use_ships();
    let names = [
        "pl-env-db-1",
        "pl-env-api-1",
        "pl-env-api-2",
        "pl-env-cache-1",
    ];
    let _cleanup = Cleanup::new(&names);
    let dir = Dir::new();
    dir.write(
        "service.env",
        "# service-wide settings\nFROM_SERVICE_FILE=svc file value\n\nSHARED=from-service-envfile\nWITH_EQUALS=a=b=c\n",
    );
    dir.write(
        "instance.env",
        "INSTANCE_FILE=inst file value\n# a comment\nSHARED=from-instance-envfile\n",
    );
    let (sql, admin, http2) = (free_port(), free_port(), free_port());
    let (http1, mc) = (ship2_port(1), ship2_port(2));
    let mut text = head(
        "pl-env",
        &[
            ("local", testbed().local_ship()),
            ("ship2", testbed().ship2_tcp()),
        ],
    );
    text.push_str(&service(
        "db", IMAGE,
        &[
            "envfile: service.env",
            "env: {FLAG: yes, DISABLED: no, ON_WORD: on, COUNT: 42, RATIO: 1.5, LIST: [a, [b, c], d], SHARED: from-service-env, QUOTED: \"true\"}",
            &format!("ports: {{sql: \"5432:{sql}\"}}"),
        ],
        &[instance(
            "pl-env-db-1",
            "local",
            IDLE,
            &format!(
                "envfile: instance.env, env: {{SHARED: from-instance-env, INST_BOOL: false}}, ports: {{admin: \"9000:{admin}\"}}"
            ),
        )],
    ));
    text.push_str(&service(
        "api",
        IMAGE,
        &[
            "requires: [db]",
            "wants_info: [cache]",
            "env: {API_LIST: [1, 2, 3], API_MODE: fast}",
        ],
        &[
            instance(
                "pl-env-api-1",
                "ship2",
                IDLE,
                &format!("ports: {{http: \"8080:{http1}\"}}"),
            ),
            instance(
                "pl-env-api-2",
                "local",
                IDLE,
                &format!("ports: {{http: \"8080:{http2}\"}}, env: {{SERVICE_NAME: overridden}}"),
            ),
        ],
    ));
    text.push_str(&service(
        "cache",
        IMAGE,
        &[],
        &[instance(
            "pl-env-cache-1",
            "ship2",
            IDLE,
            &format!("ports: {{mc: \"11211/udp:{mc}/udp\"}}"),
        )],
    ));
    let file = dir.write("maestro.yaml", text);

    let out = maestro(&file, &["start"]);
    out.assert_success();
    let dumped = dump(&file);

    // A few values from the spec (§6), so that dump and container cannot be
    // equally wrong.
    let db = dumped_env(&dumped, "pl-env-db-1");
    for (k, v) in [
        ("FLAG", "True"),
        ("DISABLED", "False"),
        ("ON_WORD", "True"),
        ("COUNT", "42"),
        ("RATIO", "1.5"),
        ("LIST", "a b c d"),
        ("QUOTED", "true"),
        ("INST_BOOL", "False"),
        ("FROM_SERVICE_FILE", "svc file value"),
        ("INSTANCE_FILE", "inst file value"),
        ("WITH_EQUALS", "a=b=c"),
        ("SHARED", "from-instance-env"),
        ("MAESTRO_ENVIRONMENT_NAME", "pl-env"),
        ("SERVICE_NAME", "db"),
        ("CONTAINER_NAME", "pl-env-db-1"),
        ("CONTAINER_HOST_ADDRESS", "10.77.0.1"),
        ("DOCKER_IMAGE", IMAGE),
        ("DOCKER_TAG", "1"),
        ("DB_PL_ENV_DB_1_HOST", "10.77.0.1"),
        ("DB_PL_ENV_DB_1_SQL_PORT", &sql.to_string()),
        ("DB_PL_ENV_DB_1_SQL_INTERNAL_PORT", "5432"),
        ("DB_PL_ENV_DB_1_ADMIN_PORT", &admin.to_string()),
        ("DB_INSTANCES", "pl-env-db-1"),
    ] {
        assert_eq!(
            db.get(k).map(String::as_str),
            Some(v),
            "dump of pl-env-db-1: {k}"
        );
    }
    let api1 = dumped_env(&dumped, "pl-env-api-1");
    for (k, v) in [
        ("API_LIST", "1 2 3"),
        ("CONTAINER_HOST_ADDRESS", "10.77.0.2"),
        ("DB_PL_ENV_DB_1_HOST", "10.77.0.1"),
        ("DB_PL_ENV_DB_1_SQL_PORT", &sql.to_string()),
        ("CACHE_PL_ENV_CACHE_1_HOST", "10.77.0.2"),
        ("CACHE_PL_ENV_CACHE_1_MC_PORT", &mc.to_string()),
        ("API_INSTANCES", "pl-env-api-1,pl-env-api-2"),
        ("API_PL_ENV_API_2_HTTP_PORT", &http2.to_string()),
        ("API_PL_ENV_API_1_HTTP_INTERNAL_PORT", "8080"),
    ] {
        assert_eq!(
            api1.get(k).map(String::as_str),
            Some(v),
            "dump of pl-env-api-1: {k}"
        );
    }
    assert!(
        !api1.contains_key("DB_PL_ENV_DB_1_SQL_INTERNAL_PORT"),
        "INTERNAL_PORT only for the own service"
    );
    assert_eq!(
        dumped_env(&dumped, "pl-env-api-2")
            .get("SERVICE_NAME")
            .map(String::as_str),
        Some("overridden")
    );

    for (name, host) in [
        ("pl-env-db-1", local()),
        ("pl-env-api-1", ship2()),
        ("pl-env-api-2", local()),
        ("pl-env-cache-1", ship2()),
    ] {
        assert!(running(&host, name), "{name} runs on {host}");
        assert_env_matches(&host, name, &dumped_env(&dumped, name));
    }
}

// --------------------------------------------------------- 2. cross-ship

#[test]
fn container_on_ship2_reaches_local_one_through_its_variables() {
    let _ships = use_ships();
    let names = ["pl-xs-srv", "pl-xs-cli"];
    let _cleanup = Cleanup::new(&names);
    let dir = Dir::new();
    let port = free_port();
    let mut text = head(
        "pl-xs",
        &[
            ("local", testbed().local_ship()),
            ("ship2", testbed().ship2_tcp()),
        ],
    );
    text.push_str(&service(
        "srv",
        IMAGE,
        &[],
        &[instance(
            "pl-xs-srv",
            "local",
            &[
                "sh",
                "-c",
                "trap 'exit 0' TERM; nc -ll -p 8080 -e echo hello-from-$CONTAINER_NAME & wait",
            ],
            &format!("ports: {{web: \"8080:{port}\"}}"),
        )],
    ));
    // The client knows nothing but its environment.
    text.push_str(&service(
        "cli", IMAGE,
        &["requires: [srv]"],
        &[instance(
            "pl-xs-cli",
            "ship2",
            &[
                "sh",
                "-c",
                "trap 'exit 0' TERM; while :; do if nc -w 2 \"$SRV_PL_XS_SRV_HOST\" \"$SRV_PL_XS_SRV_WEB_PORT\" </dev/null >/tmp/reply 2>/dev/null && [ -s /tmp/reply ]; then cp /tmp/reply /tmp/result; fi; sleep 1 & wait; done",
            ],
            "",
        )],
    ));
    let file = dir.write("maestro.yaml", text);
    let out = maestro(&file, &["start"]);
    out.assert_success();

    let env = dumped_env(&dump(&file), "pl-xs-cli");
    assert_eq!(
        env.get("SRV_PL_XS_SRV_HOST").map(String::as_str),
        Some(testbed().var("TESTBED_LOCAL_IP"))
    );
    assert_eq!(
        env.get("SRV_PL_XS_SRV_WEB_PORT").map(String::as_str),
        Some(port.to_string().as_str())
    );

    let deadline = Instant::now() + Duration::from_secs(20);
    let reply = loop {
        let out = Command::new("docker")
            .args(["-H", &ship2(), "exec", "pl-xs-cli", "cat", "/tmp/result"])
            .output()
            .expect("docker runs");
        let text = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        if out.status.success() && !text.is_empty() {
            break text;
        }
        assert!(
            Instant::now() < deadline,
            "pl-xs-cli on ship2 never reached pl-xs-srv through SRV_PL_XS_SRV_HOST/SRV_PL_XS_SRV_WEB_PORT; its logs:\n{}",
            docker(&ship2(), &["logs", "pl-xs-cli"])
        );
        std::thread::sleep(Duration::from_millis(300));
    };
    assert_eq!(reply, "hello-from-pl-xs-srv");
}

// -------------------------------------------------------------- 3. order

#[test]
fn start_stop_and_restart_follow_dependency_order() {
    let a = ["pl-ord-a-1", "pl-ord-a-2"];
    let b = ["pl-ord-b-1"];
    let c = ["pl-ord-c-1", "pl-ord-c-2"];
    let all: Vec<&str> = a.iter().chain(&b).chain(&c).copied().collect();
    let _cleanup = Cleanup::new(&all);
    let dir = Dir::new();
    let mut text = head("pl-ord", &[("local", testbed().local_ship())]);
    text.push_str(&service(
        "c",
        IMAGE,
        &["requires: [b]"],
        &c.map(|n| instance(n, "local", IDLE, "")),
    ));
    text.push_str(&service(
        "a",
        IMAGE,
        &[],
        &a.map(|n| instance(n, "local", IDLE, "")),
    ));
    text.push_str(&service(
        "b",
        IMAGE,
        &["requires: [a]"],
        &b.map(|n| instance(n, "local", IDLE, "")),
    ));
    let file = dir.write("maestro.yaml", text);
    let host = local();

    // start: every a before every b before every c.
    maestro(&file, &["start"]).assert_success();
    let start_of = |n: &str| started_at(&host, n);
    assert_all_before("start", &times(&a, start_of), &times(&b, start_of));
    assert_all_before("start", &times(&b, start_of), &times(&c, start_of));

    // stop -a: every c before every b before every a.
    maestro(&file, &["stop", "-a"]).assert_success();
    for n in &all {
        assert!(!running(&host, n), "{n} still runs after stop -a");
    }
    let finish_of = |n: &str| finished_at(&host, n);
    assert_all_before("stop", &times(&c, finish_of), &times(&b, finish_of));
    assert_all_before("stop", &times(&b, finish_of), &times(&a, finish_of));

    // restart -a of the running environment: dependents stopped first and
    // started last. The old containers are replaced, so their ends are read
    // from the engine's `die` events.
    maestro(&file, &["start"]).assert_success();
    let before = now_nanos();
    maestro(&file, &["restart", "-a"]).assert_success();
    for n in &all {
        assert!(running(&host, n), "{n} does not run after restart -a");
    }
    let list = events(&host, "pl-ord", before);
    let died = |n: &str| last_event(&list, "die", n);
    assert_all_before("restart: stops", &times(&c, died), &times(&b, died));
    assert_all_before("restart: stops", &times(&b, died), &times(&a, died));
    assert_all_before("restart: stops", &times(&c, died), &times(&a, died));
    assert_all_before(
        "restart: starts",
        &times(&a, start_of),
        &times(&b, start_of),
    );
    assert_all_before(
        "restart: starts",
        &times(&b, start_of),
        &times(&c, start_of),
    );
    assert_all_before(
        "restart: starts",
        &times(&a, start_of),
        &times(&c, start_of),
    );
    // Every container was stopped before any was started again.
    assert_all_before(
        "restart: stop before start",
        &times(&a, died),
        &times(&c, start_of),
    );
}

// ---------------------------------------------------- 4. rolling restart

#[test]
fn rolling_restart_one_at_a_time_with_step_delay() {
    let web = ["pl-roll-1", "pl-roll-2", "pl-roll-3"];
    let _cleanup = Cleanup::new(&web);
    let dir = Dir::new();
    let mut text = head("pl-roll", &[("local", testbed().local_ship())]);
    text.push_str(&service(
        "web",
        IMAGE,
        &[],
        &web.map(|n| instance(n, "local", IDLE, "")),
    ));
    let file = dir.write("maestro.yaml", text);
    let host = local();
    maestro(&file, &["start"]).assert_success();
    let old_ids: Vec<String> = web.iter().map(|n| container_id(&host, n)).collect();

    let before = now_nanos();
    let out = maestro(
        &file,
        &["restart", "-s", "web", "-c", "1", "--step-delay", "1"],
    );
    out.assert_success();
    let list = events(&host, "pl-roll", before);

    // Per instance: when its old container died, when its new one started.
    let mut windows: Vec<(&str, i128, i128)> = web
        .iter()
        .zip(&old_ids)
        .map(|(n, old)| {
            assert!(running(&host, n), "{n} does not run after the restart");
            let new = container_id(&host, n);
            assert_ne!(&new, old, "{n} was not recreated by restart");
            (*n, last_event(&list, "die", n), started_at(&host, n))
        })
        .collect();
    windows.sort_by_key(|w| w.1);
    let table: Vec<String> = windows
        .iter()
        .map(|(n, d, s)| format!("{n}: down {:.3} up {:.3}", secs(*d), secs(*s)))
        .collect();
    for w in &windows {
        assert!(w.1 < w.2, "{}: started before it died\n{table:#?}", w.0);
    }
    for pair in windows.windows(2) {
        let (prev, next) = (pair[0], pair[1]);
        assert!(
            prev.2 < next.1,
            "restart windows overlap: {} was back up at {:.3}, after {} went down at {:.3}\n{table:#?}",
            prev.0,
            secs(prev.2),
            next.0,
            secs(next.1)
        );
        let gap = next.2 - prev.2;
        assert!(
            gap >= 900_000_000,
            "{} started only {:.3}s after {} (step delay 1s)\n{table:#?}",
            next.0,
            secs(gap),
            prev.0
        );
    }
    println!("rolling restart: {table:#?}");
}

// ---------------------------------------------------- 5. only-if-changed

#[test]
fn restart_only_if_changed_skips_unchanged_and_recreates_changed() {
    const TAG: &str = "maestro-test/box:pl-changed";
    let name = "pl-oic-1";
    let _image = RemoveImages::new(&[TAG]);
    let _cleanup = Cleanup::new(&[name]);
    let host = local();
    docker(&host, &["tag", IMAGE, TAG]);
    let dir = Dir::new();
    let text = head("pl-oic", &[("local", testbed().local_ship())])
        + &format!(
            "  web:\n    image: {TAG}\n    instances:\n{}",
            instance(name, "local", IDLE, "")
        );
    let file = dir.write("maestro.yaml", text);
    maestro(&file, &["start"]).assert_success();
    let id1 = container_id(&host, name);
    let started1 = started_at(&host, name);

    // Nothing changed: kept as it is.
    let out = maestro(&file, &["restart", "--only-if-changed", name]);
    out.assert_success();
    assert_line(&out, name, "unchanged");
    assert_eq!(
        container_id(&host, name),
        id1,
        "unchanged container replaced"
    );
    assert_eq!(
        started_at(&host, name),
        started1,
        "unchanged container restarted"
    );
    assert!(running(&host, name));

    // The tag now names another image on that engine.
    let nonce = now_nanos();
    let new_image = build_image(
        &host,
        TAG,
        &format!("FROM {IMAGE}\nLABEL io.maestro.test.pl-changed=\"{nonce}\"\n"),
    );
    let old_image = image_id(&host, IMAGE);
    assert_ne!(new_image, old_image);

    let out = maestro(&file, &["restart", "--only-if-changed", name]);
    out.assert_success();
    assert!(
        !line_of(&out, name).contains("unchanged"),
        "{}",
        out.report()
    );
    let id2 = container_id(&host, name);
    assert_ne!(
        id2,
        id1,
        "changed container not recreated\n{}",
        out.report()
    );
    assert!(running(&host, name));
    let runs = inspect(&host, name).expect("it exists")["Image"]
        .as_str()
        .unwrap_or("")
        .to_owned();
    assert_eq!(
        runs, new_image,
        "the new container does not run the new image"
    );
}

// ---------------------------------------------------------- 6. selection

#[test]
fn selection_options_pick_the_right_containers() {
    let a = ["pl-sel-a-1", "pl-sel-a-2"];
    let b = ["pl-sel-b-1", "pl-sel-b-2"];
    let all = ["pl-sel-a-1", "pl-sel-a-2", "pl-sel-b-1", "pl-sel-b-2"];
    let _cleanup = Cleanup::new(&all);
    let dir = Dir::new();
    // Two ships on the same (local) engine, so that -S has something to pick.
    let mut text = head(
        "pl-sel",
        &[
            ("local", testbed().local_ship()),
            ("other", testbed().local_ship()),
        ],
    );
    text.push_str(&service(
        "a",
        IMAGE,
        &[],
        &[
            instance(a[0], "local", IDLE, ""),
            instance(a[1], "other", IDLE, ""),
        ],
    ));
    text.push_str(&service(
        "b",
        IMAGE,
        &["requires: [a]"],
        &[
            instance(b[0], "local", IDLE, ""),
            instance(b[1], "other", IDLE, ""),
        ],
    ));
    let file = dir.write("maestro.yaml", text);
    let host = local();
    let case = |args: &[&str], expected: &[&str]| {
        remove_local(&all);
        let out = maestro(&file, args);
        out.assert_success();
        assert_eq!(
            existing_local(&all),
            expected,
            "`maestro {}` created the wrong containers\n{}",
            args.join(" "),
            out.report()
        );
        for n in expected {
            assert!(running(&host, n), "{n} does not run after {args:?}");
        }
    };

    // A service name without -d: only that service.
    case(&["start", "b"], &b);
    // -d: and what it depends on.
    case(&["start", "-d", "b"], &all);
    // An instance name.
    case(&["start", "pl-sel-b-2"], &["pl-sel-b-2"]);
    // -C: a container name glob (no things: everything, then filtered).
    case(
        &["start", "-C", "pl-sel-*-2"],
        &["pl-sel-a-2", "pl-sel-b-2"],
    );
    // -S: a ship name glob.
    case(&["start", "-S", "other"], &["pl-sel-a-2", "pl-sel-b-2"]);
    case(&["start", "-S", "loc*", "-C", "*-b-*"], &["pl-sel-b-1"]);

    // -c 1: one container at a time, in dependency order.
    remove_local(&all);
    let before = now_nanos();
    maestro(&file, &["start", "-c", "1"]).assert_success();
    let list: Vec<Event> = events(&host, "pl-sel", before)
        .into_iter()
        .filter(|e| e.action == "create" || e.action == "start")
        .collect();
    let sequence: Vec<String> = list
        .iter()
        .map(|e| format!("{} {}", e.action, e.name))
        .collect();
    assert_eq!(list.len(), 8, "{sequence:#?}");
    for pair in list.chunks(2) {
        assert!(
            pair[0].action == "create" && pair[1].action == "start" && pair[0].name == pair[1].name,
            "with -c 1 containers were created/started interleaved: {sequence:#?}"
        );
    }
    let order: Vec<&str> = list.iter().step_by(2).map(|e| e.name.as_str()).collect();
    for x in &a {
        for y in &b {
            let (px, py) = (
                order.iter().position(|n| n == x),
                order.iter().position(|n| n == y),
            );
            assert!(px < py, "{y} started before {x}: {sequence:#?}");
        }
    }

    // stop: service names need -s; -d adds what depends on the things.
    let out = maestro(&file, &["stop", "a"]);
    assert_ne!(out.code(), Some(0), "{}", out.report());
    assert!(
        out.stderr()
            .contains("a is a service but --expand-services was not specified"),
        "{}",
        out.report()
    );
    let out = maestro(&file, &["stop", "pl-sel-a-1"]);
    out.assert_success();
    assert!(!running(&host, "pl-sel-a-1"));
    for n in ["pl-sel-a-2", "pl-sel-b-1", "pl-sel-b-2"] {
        assert!(running(&host, n), "{n} was stopped by `stop pl-sel-a-1`");
    }
    let out = maestro(&file, &["stop", "-d", "pl-sel-a-2"]);
    out.assert_success();
    for n in ["pl-sel-a-2", "pl-sel-b-1", "pl-sel-b-2"] {
        assert!(
            !running(&host, n),
            "{n} still runs after `stop -d pl-sel-a-2`\n{}",
            out.report()
        );
    }
    maestro(&file, &["start"]).assert_success();
    let out = maestro(&file, &["stop", "-s", "b"]);
    out.assert_success();
    for n in &b {
        assert!(!running(&host, n), "{n} still runs after `stop -s b`");
    }
    for n in &a {
        assert!(running(&host, n), "{n} was stopped by `stop -s b`");
    }

    // Usage errors (this one exits 1, as MaestroNG).
    let out = maestro(&file, &["stop"]);
    assert_eq!(out.code(), Some(1), "{}", out.report());
    assert!(
        out.stderr()
            .contains("No services or containers specified for stop, and --all not set."),
        "{}",
        out.report()
    );
    for args in [
        &["start", "pl-sel-nope"][..],
        &["stop", "pl-sel-nope"],
        &["status", "pl-sel-nope"],
    ] {
        let out = maestro(&file, args);
        assert_eq!(out.code(), Some(1), "{}", out.report());
        assert!(
            out.stderr()
                .contains("pl-sel-nope is neither a service nor a container"),
            "{}",
            out.report()
        );
    }
    // Nothing was touched by the failed commands.
    for n in &a {
        assert!(running(&host, n), "{n}");
    }
}

#[test]
fn ignore_dependencies_leaves_out_omitted_dependencies_and_does_not_wait() {
    let names = ["pl-ign-a-1", "pl-ign-b-1"];
    let _cleanup = Cleanup::new(&names);
    let dir = Dir::new();
    let mut text = head("pl-ign", &[("local", testbed().local_ship())]);
    // `a` is omitted and takes 3 s to be up (a `running` sleep check).
    text.push_str(&service(
        "a",
        IMAGE,
        &[
            "omit: true",
            "lifecycle: {running: [{type: sleep, wait: 3}]}",
        ],
        &[instance(names[0], "local", IDLE, "")],
    ));
    text.push_str(&service(
        "b",
        IMAGE,
        &["requires: [a]"],
        &[instance(names[1], "local", IDLE, "")],
    ));
    let file = dir.write("maestro.yaml", text);
    let host = local();

    // No things: b, and a as its dependency; b waits for a to be up.
    remove_local(&names);
    maestro(&file, &["start"]).assert_success();
    assert_eq!(existing_local(&names), names);
    let gap = started_at(&host, names[1]) - started_at(&host, names[0]);
    assert!(
        gap >= 3_000_000_000,
        "b started {:.3}s after a, before a's 3 s running check passed",
        secs(gap)
    );

    // -i, no things: the omitted dependency is left out.
    remove_local(&names);
    maestro(&file, &["start", "-i"]).assert_success();
    assert_eq!(existing_local(&names), [names[1]]);

    // -i with both named: b does not wait for a.
    remove_local(&names);
    maestro(&file, &["start", "-i", "a", "b"]).assert_success();
    assert_eq!(existing_local(&names), names);
    let gap = started_at(&host, names[1]) - started_at(&host, names[0]);
    assert!(
        gap < 3_000_000_000,
        "with -i, b started {:.3}s after a: it waited for a's 3 s running check",
        secs(gap)
    );
}

// ------------------------------------------------ 7. start and --reuse

#[test]
fn start_keeps_running_reuses_with_reuse_and_recreates_otherwise() {
    let name = "pl-reuse-1";
    let _cleanup = Cleanup::new(&[name]);
    let dir = Dir::new();
    let text = head("pl-reuse", &[("local", testbed().local_ship())])
        + &service("svc", IMAGE, &[], &[instance(name, "local", IDLE, "")]);
    let file = dir.write("maestro.yaml", text);
    let host = local();

    maestro(&file, &["start"]).assert_success();
    let id1 = container_id(&host, name);
    let started1 = started_at(&host, name);

    // Already running: nothing done.
    let out = maestro(&file, &["start"]);
    out.assert_success();
    assert_line(&out, name, "up for");
    assert_eq!(container_id(&host, name), id1);
    assert_eq!(started_at(&host, name), started1);

    // Stopped, --reuse: the same container again.
    maestro(&file, &["stop", name]).assert_success();
    assert!(!running(&host, name));
    let out = maestro(&file, &["start", "--reuse"]);
    out.assert_success();
    assert_line(&out, name, "started");
    assert_eq!(
        container_id(&host, name),
        id1,
        "--reuse made a new container"
    );
    assert!(running(&host, name));
    assert!(started_at(&host, name) > started1);

    // Stopped, plain start: a new container.
    maestro(&file, &["stop", name]).assert_success();
    let out = maestro(&file, &["start"]);
    out.assert_success();
    assert_line(&out, name, "started");
    assert_ne!(
        container_id(&host, name),
        id1,
        "start kept the stopped container"
    );
    assert!(running(&host, name));
}

// ------------------------------------------- 8. a container that exits

#[test]
fn container_exiting_at_once_fails_start_and_aborts_dependents() {
    let names = ["pl-boom-1", "pl-boom-dep-1", "pl-boom-dep-2"];
    let _cleanup = Cleanup::new(&names);
    let dir = Dir::new();
    let mut text = head("pl-boom", &[("local", testbed().local_ship())]);
    text.push_str(&service(
        "boom",
        IMAGE,
        &[],
        &[instance(
            names[0],
            "local",
            &["sh", "-c", "echo boom >&2; exit 3"],
            "",
        )],
    ));
    text.push_str(&service(
        "dep",
        IMAGE,
        &["requires: [boom]"],
        &[
            instance(names[1], "local", IDLE, ""),
            instance(names[2], "local", IDLE, ""),
        ],
    ));
    let file = dir.write("maestro.yaml", text);
    let out = maestro(&file, &["start"]);
    assert_eq!(out.code(), Some(1), "{}", out.report());
    let stderr = out.stderr();
    let error = stderr
        .lines()
        .find(|l| l.starts_with("ERROR: "))
        .unwrap_or_else(|| panic!("no ERROR line\n{}", out.report()));
    assert!(error.contains(names[0]), "{}", out.report());
    assert!(
        stderr.contains("boom"),
        "its last log lines are not shown\n{}",
        out.report()
    );
    assert!(!stderr.contains("panicked"), "{}", out.report());
    assert_line(&out, names[0], "failed");
    let host = local();
    for n in &names[1..] {
        assert_line(&out, n, "aborted");
        assert!(!exists(&host, n), "{n} was created although aborted");
    }
    assert!(
        out.stdout()
            .contains("start: 0 done, 1 failed, 2 aborted in"),
        "{}",
        out.report()
    );
}

/// A container whose restart policy keeps bringing it back after it exits
/// (a crash loop): the engine calls it running, but `start` fails naming
/// the loop, stops it (so it does not go on restarting), and aborts its
/// dependents; `status` shows such a container as `restarting`.
#[test]
fn crash_looping_container_fails_start_and_status_says_restarting() {
    let names = ["pl-loop-1", "pl-loop-dep-1"];
    let _cleanup = Cleanup::new(&names);
    let dir = Dir::new();
    let mut text = head("pl-loop", &[("local", testbed().local_ship())]);
    text.push_str(&service(
        "loop",
        IMAGE,
        &[],
        &[instance(
            names[0],
            "local",
            &["sh", "-c", "echo looping >&2; exit 1"],
            "restart: always",
        )],
    ));
    text.push_str(&service(
        "dep",
        IMAGE,
        &["requires: [loop]"],
        &[instance(names[1], "local", IDLE, "")],
    ));
    let file = dir.write("maestro.yaml", text);
    let host = local();
    let out = maestro(&file, &["start"]);
    assert_eq!(out.code(), Some(1), "{}", out.report());
    let error = out
        .stderr()
        .lines()
        .find(|l| l.starts_with("ERROR: "))
        .unwrap_or_default()
        .to_owned();
    assert!(
        error.contains(names[0]) && error.contains("restart policy"),
        "{}",
        out.report()
    );
    assert!(
        out.stderr().contains("looping"),
        "no log lines\n{}",
        out.report()
    );
    assert_line(&out, names[0], "failed");
    // Why it was stopped is said on the failed row, before its log lines
    // (indented), never on a line of its own.
    assert_line(
        &out,
        names[0],
        "(stopped, so that it does not go on restarting); its last log lines:",
    );
    for line in out.stdout().lines().chain(out.stderr().lines()) {
        assert!(!line.starts_with('('), "{line:?}\n{}", out.report());
    }
    assert_line(&out, names[1], "aborted");
    assert!(!exists(&host, names[1]), "the dependent was created");
    // Stopped by maestro: it no longer runs, nor restarts.
    let found = inspect(&host, names[0]).expect("the container is kept");
    assert_eq!(found["State"]["Running"], false, "{}", out.report());
    assert_eq!(found["State"]["Restarting"], false, "{}", out.report());

    // Started by hand, it loops: status says so (text and JSON).
    docker(&host, &["start", names[0]]);
    let began = Instant::now();
    let row = loop {
        let status = maestro(&file, &["status"]);
        let row = line_of(&status, names[0]);
        if row.contains("restarting") || began.elapsed() > Duration::from_secs(20) {
            break row;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(
        row.contains("restarting (exit status 1;") && row.contains("restarts so far"),
        "{row}"
    );
    let json = maestro(&file, &["status", "--json"]);
    let doc: serde_json::Value =
        serde_json::from_str(&json.stdout()).expect("status --json is JSON");
    let states: Vec<&str> = doc["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| c["name"] == names[0])
        .filter_map(|c| c["state"].as_str())
        .collect();
    // It may be between two restarts (running) when this second look lands.
    assert!(
        states == ["restarting"] || states == ["running"],
        "{states:?}\n{}",
        json.report()
    );
}

// ------------------------------------------------------------- 9. clean

#[test]
fn clean_removes_stopped_skips_running_reports_absent() {
    let names = ["pl-cln-stopped", "pl-cln-running", "pl-cln-absent"];
    let _cleanup = Cleanup::new(&names);
    let dir = Dir::new();
    let text = head("pl-cln", &[("local", testbed().local_ship())])
        + &service(
            "svc",
            IMAGE,
            &[],
            &names.map(|n| instance(n, "local", IDLE, "")),
        );
    let file = dir.write("maestro.yaml", text);
    let host = local();
    maestro(&file, &["start", names[0], names[1]]).assert_success();
    maestro(&file, &["stop", names[0]]).assert_success();
    let running_id = container_id(&host, names[1]);
    assert!(exists(&host, names[0]) && !running(&host, names[0]));
    assert!(!exists(&host, names[2]));

    let out = maestro(&file, &["clean"]);
    out.assert_success();
    assert_line(&out, names[0], "removed");
    assert_line(&out, names[1], "skipped");
    assert_line(&out, names[2], "absent");
    assert!(
        !exists(&host, names[0]),
        "the stopped container is still there"
    );
    assert!(
        running(&host, names[1]),
        "the running container was touched"
    );
    assert_eq!(container_id(&host, names[1]), running_id);
    assert!(!exists(&host, names[2]));
}

// -------------------------------------------------------------- 10. logs

#[test]
fn logs_prints_tails_and_follows() {
    let names = ["pl-log-fixed", "pl-log-tick"];
    let _cleanup = Cleanup::new(&names);
    let dir = Dir::new();
    let text = head("pl-log", &[("local", testbed().local_ship())])
        + &service(
            "svc", IMAGE,
            &[],
            &[
                instance(
                    names[0],
                    "local",
                    &[
                        "sh",
                        "-c",
                        "for i in 1 2 3 4 5; do echo line$i; done; trap 'exit 0' TERM; sleep 3600 & wait",
                    ],
                    "",
                ),
                instance(
                    names[1],
                    "local",
                    &[
                        "sh",
                        "-c",
                        "trap 'exit 0' TERM; i=0; while :; do i=$((i+1)); echo tick$i; sleep 0.2 & wait; done",
                    ],
                    "",
                ),
            ],
        );
    let file = dir.write("maestro.yaml", text);
    maestro(&file, &["start"]).assert_success();
    let host = local();
    // Wait until the fixed lines are all written.
    let deadline = Instant::now() + Duration::from_secs(10);
    while !docker(&host, &["logs", names[0]]).contains("line5") {
        assert!(Instant::now() < deadline, "pl-log-fixed never wrote line5");
        std::thread::sleep(Duration::from_millis(100));
    }

    let lines = |out: &Output| -> Vec<String> {
        out.stdout()
            .lines()
            .map(|l| l.trim_end().to_owned())
            .filter(|l| !l.is_empty())
            .collect()
    };
    let out = maestro(&file, &["logs", names[0]]);
    out.assert_success();
    assert_eq!(
        lines(&out),
        ["line1", "line2", "line3", "line4", "line5"],
        "{}",
        out.report()
    );
    let out = maestro(&file, &["logs", "-n", "2", names[0]]);
    out.assert_success();
    assert_eq!(lines(&out), ["line4", "line5"], "{}", out.report());

    // -F: past lines, then new ones as they come.
    let tick = |l: &str| {
        l.trim()
            .strip_prefix("tick")
            .and_then(|n| n.parse::<u64>().ok())
    };
    let seen_before = docker(&host, &["logs", names[1]])
        .lines()
        .filter_map(tick)
        .max()
        .unwrap_or(0);
    let mut child = Command::new(env!("CARGO_BIN_EXE_maestro"))
        .current_dir(dir.path())
        .arg("-f")
        .arg(&file)
        .args(["logs", "-F", names[1]])
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("maestro logs -F runs");
    let stdout = child.stdout.take().expect("piped");
    let _child = KillOnDrop(child);
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut got = Vec::new();
    let mut newer = 0;
    while newer < 3 {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => {
                if tick(&line).is_some_and(|n| n > seen_before) {
                    newer += 1;
                }
                got.push(line);
            }
            Err(_) => panic!(
                "logs -F gave no new lines (ticks after tick{seen_before}) within 15 s; got {got:?}"
            ),
        }
    }
    assert!(
        got.iter().any(|l| tick(l) == Some(1)),
        "logs -F did not start with the past lines: {got:?}"
    );
}

// ---------------------------------------------------- 11. status, cut off

#[test]
fn status_with_a_ship_cut_off_reports_host_down_quickly() {
    let _ships = cut_ships();
    let names = ["pl-cut-loc-1", "pl-cut-s2-1"];
    let _cleanup = Cleanup::new(&names);
    let dir = Dir::new();
    let mut text = head(
        "pl-cut",
        &[
            ("local", testbed().local_ship()),
            (
                "ship2",
                format!(
                    "{{ip: {}, docker_port: {}, timeout: 2}}",
                    testbed().var("TESTBED_SHIP2_IP"),
                    testbed().var("TESTBED_SHIP2_PORT")
                ),
            ),
        ],
    );
    text.push_str(&service(
        "svc",
        IMAGE,
        &[],
        &[
            instance(names[0], "local", IDLE, ""),
            instance(names[1], "ship2", IDLE, ""),
        ],
    ));
    let file = dir.write("maestro.yaml", text);
    maestro(&file, &["start"]).assert_success();
    assert!(running(&local(), names[0]));
    assert!(running(&ship2(), names[1]));

    let _heal = Heal("ship2");
    testbed_script(&["cut", "ship2"]);
    // Bounded by ship2's timeout (2 s), not by the system's connect timeout
    // (minutes): a status still going after 10 s is killed and fails.
    let out = maestro_within(&file, &["status"], Duration::from_secs(10));
    println!(
        "status with ship2 cut off (exit {:?})\n{}",
        out.code(),
        out.stdout()
    );
    assert!(!out.stderr().contains("panicked"), "{}", out.report());
    assert_line(&out, names[0], "running for");
    assert_line(&out, names[1], "host down");
}
