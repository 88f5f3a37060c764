//! `maestro init` end to end on the local engine: the starter file loads
//! and is never overwritten unasked; `init --from local` on containers
//! started with plain `docker run` (ports, env, a named volume, a read-only
//! bind mount, restart policies, a label) writes a file that loads, on which
//! `plan` exits 0, and `up` keeps every container (same ids); a change in the
//! file is then a reason to recreate.
//!
//! Containers are named `initt-…`.

use std::process::Command;

use crate::engine_support::{assert_code, free_port, line_of, local, IDLE, IMAGE};
use crate::testbed::{docker, inspect, Cleanup};
use crate::util::{Dir, Output, TestCommand};

fn init(dir: &Dir, args: &[&str]) -> Output {
    TestCommand::maestro()
        .current_dir(dir.path())
        .args(args)
        .env("NO_COLOR", "1")
        .env_remove("DOCKER_HOST")
        .env_remove("DOCKER_CONTEXT")
        .run()
}

#[test]
fn the_starter_file_loads_and_is_not_overwritten_unasked() {
    let dir = Dir::new();
    let out = init(&dir, &["init"]);
    assert_code(&out, 0);
    let file = dir.join("maestro.yaml");
    let text = std::fs::read_to_string(&file).expect("init wrote maestro.yaml");
    assert!(text.starts_with("# "), "a commented file: {text}");
    let dump = init(&dir, &["dump"]);
    assert_code(&dump, 0);
    assert!(dump.stderr().is_empty(), "{}", dump.report());

    std::fs::write(&file, "name: mine\nservices: {}\n").expect("the file is changed");
    let out = init(&dir, &["init"]);
    assert_code(&out, 1);
    assert!(
        out.stderr()
            .contains("maestro.yaml already exists; `maestro init --force` overwrites it"),
        "{}",
        out.report()
    );
    assert_eq!(
        std::fs::read_to_string(&file).expect("still there"),
        "name: mine\nservices: {}\n"
    );
    assert_code(&init(&dir, &["init", "--force", "--name", "shop"]), 0);
    let dump = init(&dir, &["dump"]);
    let doc: serde_json::Value = serde_json::from_slice(&dump.stdout).expect("dump is JSON");
    assert_eq!(doc["name"], "shop", "{doc:#}");
}

/// Removes a named volume when dropped.
struct RemoveVolume(&'static str);

impl Drop for RemoveVolume {
    fn drop(&mut self) {
        let _ = Command::new("docker")
            .args(["-H", &local(), "volume", "rm", "-f", self.0])
            .output();
    }
}

#[test]
fn init_from_a_ship_describes_its_containers_so_that_up_keeps_them() {
    let names = ["initt-db-1", "initt-web-1"];
    let _cleanup = Cleanup::new(&names);
    let _volume = RemoveVolume("initt-data");
    let host = local();
    let shared = Dir::new();
    let (db_port, web_port) = (free_port(), free_port());
    let mut db = vec![
        "run".to_owned(),
        "-d".into(),
        "--name".into(),
        names[0].into(),
        "-e".into(),
        "POSTGRES_DB=shop".into(),
        "-e".into(),
        "ODD={{ not jinja }} 'quoted' \"twice\"".into(),
        "-v".into(),
        "initt-data:/data".into(),
        "-p".into(),
        format!("{db_port}:5432"),
        "--restart".into(),
        "unless-stopped".into(),
        IMAGE.into(),
    ];
    db.extend(IDLE.iter().map(|s| s.to_string()));
    let db: Vec<&str> = db.iter().map(String::as_str).collect();
    docker(&host, &db);
    let bind = format!("{}:/srv:ro", shared.path().display());
    let web_publish = format!("127.0.0.1:{web_port}:8080");
    let mut web = vec![
        "run",
        "-d",
        "--name",
        names[1],
        "-e",
        "GREETING=hi",
        "-v",
        &bind,
        "-p",
        &web_publish,
        "--restart",
        "on-failure:3",
        "--label",
        "team=shop",
        IMAGE,
    ];
    web.extend_from_slice(IDLE);
    docker(&host, &web);
    let ids: Vec<String> = names
        .iter()
        .map(|n| inspect(&host, n).expect("it runs")["Id"].to_string())
        .collect();

    let dir = Dir::new();
    let out = init(&dir, &["init", "--from", "local", "--only", "initt-*"]);
    assert_code(&out, 0);
    let text = std::fs::read_to_string(dir.join("maestro.yaml")).expect("init wrote the file");
    for needle in [
        "initt-db-1",
        "initt-web-1",
        "restart: unless-stopped",
        "team: shop",
    ] {
        assert!(text.contains(needle), "`{needle}` not in\n{text}");
    }

    let dump = init(&dir, &["dump"]);
    assert_code(&dump, 0);
    assert!(dump.stderr().is_empty(), "{}", dump.report());
    let plan = init(&dir, &["plan"]);
    assert_code(&plan, 0);
    for name in names {
        assert!(line_of(&plan, name).ends_with("none"), "{}", plan.report());
    }
    let up = init(&dir, &["up"]);
    assert_code(&up, 0);
    let after: Vec<String> = names
        .iter()
        .map(|n| inspect(&host, n).expect("it still runs")["Id"].to_string())
        .collect();
    assert_eq!(ids, after, "{}", up.report());
    // The odd value came back exactly (no Jinja, no YAML quoting lost).
    let doc: serde_json::Value =
        serde_json::from_slice(&init(&dir, &["dump"]).stdout).expect("dump is JSON");
    let dumped = doc.to_string();
    assert!(
        dumped.contains(r#"ODD={{ not jinja }} 'quoted' \"twice\""#)
            || dumped.contains(r#""ODD":"{{ not jinja }} 'quoted' \"twice\"""#),
        "{doc:#}"
    );

    // A change in the file is drift again.
    let changed = text.replace("GREETING: hi", "GREETING: hello");
    assert_ne!(changed, text, "{text}");
    std::fs::write(dir.join("maestro.yaml"), changed).expect("the file is changed");
    let plan = init(&dir, &["plan"]);
    assert_code(&plan, 3);
    assert!(
        line_of(&plan, names[1]).contains("recreate (env GREETING changed)"),
        "{}",
        plan.report()
    );
}
