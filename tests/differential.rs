//! Differential tests: `maestro dump` and `maestro deptree` against MaestroNG
//! 0.8.3 computed live.
//!
//! For every environment file `tests/fixtures/differential/NAME.yaml`:
//!
//! * `maestro -f NAME.yaml dump` is compared, container by container, with
//!   what MaestroNG resolves for the same file (`tests/oracle/mng_oracle.py`,
//!   run with the oracle virtualenv's Python): service, ship, image, the
//!   environment exactly as docker-py would send it, the named ports and the
//!   volume bindings. Every container must be there, omitted services'
//!   included.
//! * `maestro -f NAME.yaml deptree` and `deptree -r` must print exactly what
//!   MaestroNG's `maestro` prints.
//!
//! Where MaestroNG itself crashes or is wrong on a fixture (merge keys, blank
//! lines in envfiles, ...), the fixture has a hand-checked
//! `NAME.expected.json` beside it (same shape as the oracle's output) that is
//! used instead of the oracle, and deptree is only required to succeed; the
//! fixture's header comment says why.
//!
//! The oracle lives in a virtualenv made by `scripts/oracle-venv`
//! (`$MAESTRO_ORACLE_VENV`, default `target/oracle-venv`). Without it the
//! fixtures that need the oracle fail, saying how to make it.
//!
//! Both programs run with the same environment (see `FIXTURE_ENV`) from an
//! empty scratch directory, so that paths relative to the current directory
//! instead of the environment file's directory are caught.

use crate::util::{oracle_maestro, oracle_python, workspace_root, Dir, Output, TestCommand};
use serde_json::{Map, Value};
use std::path::{Path, PathBuf};

/// Process environment given to both maestro and MaestroNG (jinja-env.yaml
/// reads these).
const FIXTURE_ENV: &[(&str, &str)] = &[
    ("MAESTRO_DIFF_TAG", "3.4.5"),
    ("MAESTRO_DIFF_REGION", "eu-west-1"),
    ("MAESTRO_DIFF_EMPTY", ""),
];
/// Variables removed from both programs' environment.
const FIXTURE_ENV_REMOVED: &[&str] = &["MAESTRO_DIFF_UNSET"];

/// The container fields compared, in report order.
const SCALAR_FIELDS: &[&str] = &["service", "ship", "image"];
const PORT_KEYS: &[&str] = &["exposed", "external_ip", "external"];
const VOLUME_KEYS: &[&str] = &["host", "target", "mode"];

macro_rules! differential_fixtures {
    ($($test:ident => $name:literal,)*) => {
        $(
            #[test]
            fn $test() {
                check_fixture($name);
            }
        )*

        /// Every fixture file in the directory has a test above, and every
        /// test has its fixture.
        #[test]
        fn every_fixture_has_a_test() {
            let listed: Vec<&str> = vec![$($name),*];
            check_fixture_list(&listed);
        }
    };
}

differential_fixtures! {
    anchors => "anchors",
    basic => "basic",
    env_override => "env-override",
    envfile_blank_lines => "envfile-blank-lines",
    envfile_whitespace => "envfile-whitespace",
    envfiles => "envfiles",
    images_registry => "images-registry",
    jinja_env => "jinja-env",
    jinja_include => "jinja-include",
    jinja_loops => "jinja-loops",
    jinja_methods => "jinja-methods",
    many_ships => "many-ships",
    merge_keys => "merge-keys",
    names_dashes_dots => "names-dashes-dots",
    omit_restart => "omit-restart",
    ports => "ports",
    ports_service_dict => "ports-service-dict",
    ports_service_override => "ports-service-override",
    requires_transitive => "requires-transitive",
    restart_max_retry => "restart-max-retry",
    scalars => "scalars",
    schema_mapping => "schema-mapping",
    volumes_from_deps => "volumes-from-deps",
    volumes_schema1 => "volumes-schema1",
    volumes_schema2 => "volumes-schema2",
    wants_info => "wants-info",
    yaml11_bool_case => "yaml11-bool-case",
    yaml11_gotchas => "yaml11-gotchas",
    zookeeper_kafka => "zookeeper-kafka",
}

fn fixtures_dir() -> PathBuf {
    workspace_root()
        .join("tests")
        .join("fixtures")
        .join("differential")
}

fn oracle_script() -> PathBuf {
    workspace_root()
        .join("tests")
        .join("oracle")
        .join("mng_oracle.py")
}

fn missing_oracle_message() -> String {
    format!(
        "the MaestroNG oracle virtualenv is missing (looked for {}/bin/python and bin/maestro).\n\
         Create it with `scripts/oracle-venv` (set MAESTRO_ORACLE_VENV to use another \
         location); `scripts/test` does it first.",
        crate::util::oracle_venv().display()
    )
}

/// Runs `program` on the fixture with the shared environment, from `cwd`.
fn command(program: &Path, cwd: &Dir) -> TestCommand {
    let mut command = TestCommand::new(program);
    command.current_dir(cwd.path());
    for (key, value) in FIXTURE_ENV {
        command.env(key, value);
    }
    for key in FIXTURE_ENV_REMOVED {
        command.env_remove(key);
    }
    command
}

fn maestro_binary() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_maestro"))
}

fn parse_json(output: &Output, what: &str) -> Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "{what}: stdout is not one JSON document ({e})\n{}",
            output.report()
        )
    })
}

/// `maestro -f FIXTURE dump`, parsed.
fn run_dump(fixture: &Path, cwd: &Dir) -> Value {
    let output = command(maestro_binary(), cwd)
        .arg("-f")
        .arg(fixture)
        .arg("dump")
        .run();
    assert!(
        output.success(),
        "`maestro dump` failed on fixture {}\n{}",
        fixture.display(),
        output.report()
    );
    parse_json(&output, "maestro dump")
}

fn check_fixture(name: &str) {
    let fixture = fixtures_dir().join(format!("{name}.yaml"));
    assert!(fixture.exists(), "missing fixture {}", fixture.display());
    let expected_file = fixtures_dir().join(format!("{name}.expected.json"));
    let uses_expected_file = expected_file.exists();
    let cwd = Dir::new();

    // What MaestroNG says (or what it should have said).
    let (expected, source) = if uses_expected_file {
        let text = std::fs::read_to_string(&expected_file)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", expected_file.display()));
        let value: Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{} is not valid JSON: {e}", expected_file.display()));
        (value, format!("{name}.expected.json"))
    } else {
        let Some(python) = oracle_python() else {
            panic!("{}", missing_oracle_message());
        };
        let output = command(&python, &cwd)
            .arg(oracle_script())
            .arg(&fixture)
            .run();
        if output.code() == Some(3) {
            panic!(
                "MaestroNG cannot load fixture {name}.yaml: {}\n\
                 If that is a MaestroNG bug, give the fixture a hand-checked {name}.expected.json \
                 and explain why in its header comment.",
                output.stdout().trim()
            );
        }
        assert!(
            output.success(),
            "the oracle failed on {name}.yaml\n{}",
            output.report()
        );
        (parse_json(&output, "oracle"), "MaestroNG".to_string())
    };

    let mut problems = Vec::new();
    // `dump` without names covers every container, omitted services included
    // (MaestroNG's own debugging `dump` left those out).
    let ours = run_dump(&fixture, &cwd);
    compare_containers(&ours, &expected, &source, &mut problems);

    // The dependency tree, plain and recursive.
    for recursive in [false, true] {
        let mut args = vec![
            "-f".into(),
            fixture.clone().into_os_string(),
            "deptree".into(),
        ];
        if recursive {
            args.push("-r".into());
        }
        let label = if recursive { "deptree -r" } else { "deptree" };
        let our_tree = command(maestro_binary(), &cwd).args(&args).run();
        if !our_tree.success() {
            problems.push(format!("`maestro {label}` failed:\n{}", our_tree.report()));
            continue;
        }
        if uses_expected_file {
            // MaestroNG cannot load this fixture; nothing to compare with.
            continue;
        }
        let mng = oracle_maestro().expect("oracle presence checked above");
        let their_tree = command(&mng, &cwd).args(&args).run();
        if !their_tree.success() {
            problems.push(format!(
                "MaestroNG's `maestro {label}` failed:\n{}",
                their_tree.report()
            ));
            continue;
        }
        if our_tree.stdout() != their_tree.stdout() {
            problems.push(format!(
                "`{label}` output differs:\n{}",
                text_diff(&our_tree.stdout(), &their_tree.stdout(), &source)
            ));
        }
    }

    if !problems.is_empty() {
        panic!(
            "differential fixture {name}.yaml: {} difference(s) between maestro and {source}:\n\n{}\n",
            problems.len(),
            problems.join("\n\n")
        );
    }
}

fn show(value: Option<&Value>) -> String {
    match value {
        None => "(absent)".to_string(),
        Some(value) => value.to_string(),
    }
}

fn compare_containers(ours: &Value, expected: &Value, source: &str, problems: &mut Vec<String>) {
    let Some(expected) = expected.get("containers").and_then(Value::as_object) else {
        problems.push(format!("{source} has no \"containers\" map"));
        return;
    };
    let Some(ours) = ours.get("containers").and_then(Value::as_object) else {
        problems.push("`maestro dump` output has no \"containers\" map".to_string());
        return;
    };

    let mut names: Vec<&String> = expected.keys().chain(ours.keys()).collect();
    names.sort();
    names.dedup();
    for name in names {
        let (Some(mine), Some(theirs)) = (ours.get(name), expected.get(name)) else {
            problems.push(format!(
                "container `{name}`: {}",
                if ours.contains_key(name) {
                    format!("present in maestro dump, absent from {source}")
                } else {
                    format!("absent from maestro dump, present in {source}")
                }
            ));
            continue;
        };
        for field in SCALAR_FIELDS {
            if mine.get(*field) != theirs.get(*field) {
                problems.push(format!(
                    "container `{name}`, field `{field}`: maestro {} vs {source} {}",
                    show(mine.get(*field)),
                    show(theirs.get(*field))
                ));
            }
        }
        compare_maps(
            name,
            "env",
            mine.get("env"),
            theirs.get("env"),
            source,
            None,
            problems,
        );
        compare_maps(
            name,
            "ports",
            mine.get("ports"),
            theirs.get("ports"),
            source,
            Some(PORT_KEYS),
            problems,
        );
        let my_volumes = project_list(mine.get("volumes"), VOLUME_KEYS);
        let their_volumes = project_list(theirs.get("volumes"), VOLUME_KEYS);
        if my_volumes != their_volumes {
            problems.push(format!(
                "container `{name}`, field `volumes` (sorted by target, then host):\n  maestro: {}\n  {source}: {}",
                show(my_volumes.as_ref()),
                show(their_volumes.as_ref())
            ));
        }
    }
}

/// Keeps only `keys` of each object (a missing key becomes null), so that
/// extra settings in our dump do not count as differences.
fn project(value: &Value, keys: &[&str]) -> Value {
    match value.as_object() {
        Some(object) => Value::Object(
            keys.iter()
                .map(|key| {
                    (
                        key.to_string(),
                        object.get(*key).cloned().unwrap_or(Value::Null),
                    )
                })
                .collect(),
        ),
        None => value.clone(),
    }
}

fn project_list(value: Option<&Value>, keys: &[&str]) -> Option<Value> {
    value.map(|value| match value.as_array() {
        Some(items) => Value::Array(items.iter().map(|item| project(item, keys)).collect()),
        None => value.clone(),
    })
}

/// Compares two JSON maps key by key, reporting every missing, extra or
/// different entry. With `keys`, entries are objects compared on those keys.
fn compare_maps(
    container: &str,
    field: &str,
    mine: Option<&Value>,
    theirs: Option<&Value>,
    source: &str,
    keys: Option<&[&str]>,
    problems: &mut Vec<String>,
) {
    let empty = Map::new();
    let (Some(mine_map), Some(theirs_map)) = (
        mine.map_or(Some(&empty), Value::as_object),
        theirs.map_or(Some(&empty), Value::as_object),
    ) else {
        problems.push(format!(
            "container `{container}`, field `{field}`: maestro {} vs {source} {}",
            show(mine),
            show(theirs)
        ));
        return;
    };
    let mut entries: Vec<&String> = mine_map.keys().chain(theirs_map.keys()).collect();
    entries.sort();
    entries.dedup();
    let mut lines = Vec::new();
    for entry in entries {
        let a = mine_map
            .get(entry)
            .map(|v| keys.map_or_else(|| v.clone(), |k| project(v, k)));
        let b = theirs_map
            .get(entry)
            .map(|v| keys.map_or_else(|| v.clone(), |k| project(v, k)));
        if a != b {
            lines.push(format!(
                "  {entry}: maestro {} vs {source} {}",
                show(a.as_ref()),
                show(b.as_ref())
            ));
        }
    }
    if !lines.is_empty() {
        problems.push(format!(
            "container `{container}`, field `{field}`:\n{}",
            lines.join("\n")
        ));
    }
}

/// Both texts, line by line, marking the lines that differ.
fn text_diff(mine: &str, theirs: &str, source: &str) -> String {
    let a: Vec<&str> = mine.lines().collect();
    let b: Vec<&str> = theirs.lines().collect();
    let mut out = format!("  (`!` marks differing lines; left: maestro, right: {source})\n");
    for i in 0..a.len().max(b.len()) {
        let left = a.get(i).copied();
        let right = b.get(i).copied();
        let mark = if left == right { ' ' } else { '!' };
        out.push_str(&format!(
            "  {mark} {:<40} | {}\n",
            left.map_or("(none)".to_string(), |l| format!("{l:?}")),
            right.map_or("(none)".to_string(), |l| format!("{l:?}"))
        ));
    }
    if mine.ends_with('\n') != theirs.ends_with('\n') {
        out.push_str("  (the final newline differs)\n");
    }
    out
}

fn check_fixture_list(listed: &[&str]) {
    let mut on_disk: Vec<String> = std::fs::read_dir(fixtures_dir())
        .expect("read tests/fixtures/differential")
        .filter_map(|entry| {
            let name = entry.ok()?.file_name().into_string().ok()?;
            name.strip_suffix(".yaml").map(str::to_string)
        })
        .collect();
    on_disk.sort();
    let mut listed: Vec<String> = listed.iter().map(|s| s.to_string()).collect();
    listed.sort();
    assert_eq!(
        on_disk, listed,
        "the fixtures in tests/fixtures/differential (left) and the tests in \
         tests/differential.rs (right) differ"
    );
}
