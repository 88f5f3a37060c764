//! Each directory of `tests/conformance` is a project: `compose.yaml` (and the
//! files a `files` list names, merged in order), maybe `.env`, an optional
//! `process-env` (the process environment, `KEY=value` lines; empty when
//! absent, so the host's environment never leaks in), an optional `profiles`
//! (one per line), and `expected.json`: what `docker compose config --format
//! json` prints, `$DIR` standing for the case's absolute directory. The
//! comparison is of JSON values (key order ignored).
//!
//! `tests/malformed/NAME.yaml` each fail to load; their first line is
//! `# expected-error: ` and the error, the file named as `NAME.yaml`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use maestro_compose::{load, Options};

mod common;
use common::options_for;
use serde_json::Value;

fn root(sub: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join(sub)
}

fn cases(sub: &str) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(root(sub))
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .collect();
    out.sort();
    out
}

#[test]
fn conformance() {
    let mut failed = Vec::new();
    let all = cases("conformance");
    assert!(
        all.len() >= 40,
        "expected at least 40 conformance cases, found {}",
        all.len()
    );
    for dir in all {
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let expected_text = std::fs::read_to_string(dir.join("expected.json"))
            .unwrap_or_default()
            .replace("$DIR", &dir.to_string_lossy());
        let expected: Value = match serde_json::from_str(&expected_text) {
            Ok(v) => v,
            Err(e) => {
                failed.push(format!("{name}: expected.json: {e}"));
                continue;
            }
        };
        match load(&options_for(&dir)) {
            Ok(project) if project.config_json() == expected => {}
            Ok(project) => {
                if std::env::var_os("CONFORMANCE_SHOW").is_some() {
                    let text = project
                        .to_json_pretty()
                        .replace(&*dir.to_string_lossy(), "$DIR");
                    eprintln!("== {name}\n{text}");
                }
                failed.push(format!(
                    "{name}: got\n{}\nexpected\n{}",
                    project.to_json_pretty(),
                    serde_json::to_string_pretty(&expected).unwrap_or_default()
                ))
            }
            Err(e) => failed.push(format!("{name}: {e}")),
        }
    }
    assert!(
        failed.is_empty(),
        "{} case(s) differ:\n{}",
        failed.len(),
        failed.join("\n\n")
    );
}

#[test]
fn malformed() {
    let mut failed = Vec::new();
    let all = cases("malformed");
    assert!(
        all.len() >= 20,
        "expected at least 20 malformed cases, found {}",
        all.len()
    );
    for file in all
        .iter()
        .filter(|f| f.extension().is_some_and(|e| e == "yaml"))
    {
        let name = file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let text = std::fs::read_to_string(file).unwrap_or_default();
        let Some(expected) = text
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("# expected-error: "))
        else {
            failed.push(format!(
                "{name}: the first line is not `# expected-error: …`"
            ));
            continue;
        };
        let dir = root("malformed");
        let mut env = BTreeMap::new();
        env.insert("HOME".to_string(), "/home/user".to_string());
        let opts = Options {
            files: vec![file.clone()],
            environment: Some(env),
            project_name: Some("malformed".into()),
            ..Options::default()
        };
        match load(&opts) {
            Ok(_) => failed.push(format!("{name}: loaded; expected the error {expected}")),
            Err(e) => {
                let got = e
                    .to_string()
                    .replace(&format!("{}/", dir.to_string_lossy()), "");
                if got != expected {
                    failed.push(format!("{name}:\n  got      {got}\n  expected {expected}"));
                }
            }
        }
    }
    assert!(
        failed.is_empty(),
        "{} case(s) differ:\n{}",
        failed.len(),
        failed.join("\n")
    );
}
