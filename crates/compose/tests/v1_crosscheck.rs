//! Cross-check against Debian's docker-compose 1.29 (`docker-compose config`,
//! whose YAML output is read with the project's YAML 1.1 reader): for each
//! conformance case with a `v1-agrees` file, the key paths it lists (one per
//! line, `services/web/environment`) must be equal in docker-compose 1.29's
//! output and in ours. Only where 1.29 and Compose v2 agree are paths listed:
//! 1.29 keeps short forms (`ports: ["80:80"]`, `command` as a string) that v2
//! normalizes.

use std::path::{Path, PathBuf};
use std::process::Command;

use maestro_compose::load;
use maestro_config::yaml::{self, Node, Value as Y};
use serde_json::Value;

mod common;

fn json_of(node: &Node) -> Value {
    match &node.value {
        Y::Null => Value::Null,
        Y::Bool(b) => Value::Bool(*b),
        Y::Int(i) => i64::try_from(*i).map(Value::from).unwrap_or(Value::Null),
        Y::Float(f) => serde_json::Number::from_f64(*f)
            .map(Value::Number)
            .unwrap_or(Value::Null),
        Y::Str(s) | Y::Date(s) => Value::String(s.clone()),
        Y::Seq(items) => Value::Array(items.iter().map(json_of).collect()),
        Y::Map(entries) => Value::Object(
            entries
                .iter()
                .map(|(k, v)| {
                    (
                        k.as_str()
                            .map(str::to_string)
                            .unwrap_or_else(|| format!("{:?}", k.value)),
                        json_of(v),
                    )
                })
                .collect(),
        ),
    }
}

fn at<'v>(v: &'v Value, path: &str) -> Option<&'v Value> {
    path.split('/').try_fold(v, |v, k| v.get(k))
}

fn v1_config(dir: &Path) -> Result<Value, String> {
    let opts = common::options_for(dir);
    let mut cmd = Command::new("docker-compose");
    cmd.current_dir(dir).env_clear();
    for (k, v) in opts.environment.iter().flatten() {
        cmd.env(k, v);
    }
    cmd.env("PATH", "/usr/local/bin:/usr/bin:/bin");
    for f in &opts.files {
        cmd.arg("-f").arg(f);
    }
    for p in &opts.profiles {
        cmd.arg("--profile").arg(p);
    }
    let out = cmd
        .arg("config")
        .output()
        .map_err(|e| format!("cannot run docker-compose: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "docker-compose config failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let node = yaml::parse(&text, "docker-compose config").map_err(|e| e.to_string())?;
    Ok(json_of(&node))
}

#[test]
fn agrees_with_docker_compose_1_29() {
    let installed = Command::new("docker-compose")
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        installed,
        "docker-compose (Debian's 1.29) is not installed, so the cross-check cannot run: `apt-get install docker-compose` (.ci/run installs it)"
    );
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/conformance");
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(&root)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .collect();
    dirs.sort();
    let mut checked = 0;
    let mut failed = Vec::new();
    for dir in dirs.iter().filter(|d| d.join("v1-agrees").is_file()) {
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let ours = match load(&common::options_for(dir)) {
            Ok(p) => p.config_json(),
            Err(e) => {
                failed.push(format!("{name}: {e}"));
                continue;
            }
        };
        let theirs = match v1_config(dir) {
            Ok(v) => v,
            Err(e) => {
                failed.push(format!("{name}: {e}"));
                continue;
            }
        };
        let text = std::fs::read_to_string(dir.join("v1-agrees")).unwrap_or_default();
        for path in text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
        {
            checked += 1;
            let (a, b) = (at(&ours, path), at(&theirs, path));
            if a.is_none() || a != b {
                failed.push(format!(
                    "{name}: {path}: ours {a:?}, docker-compose 1.29's {b:?}"
                ));
            }
        }
    }
    assert!(checked > 0, "no conformance case has a v1-agrees file");
    assert!(
        failed.is_empty(),
        "{} difference(s) from docker-compose 1.29:\n{}",
        failed.len(),
        failed.join("\n")
    );
}
