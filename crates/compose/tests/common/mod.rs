//! What the conformance tests and the docker-compose 1.29 cross-check share:
//! the options a conformance case's directory describes.

use std::collections::BTreeMap;
use std::path::Path;

use maestro_compose::Options;

fn lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .map(|t| {
            t.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

pub fn options_for(dir: &Path) -> Options {
    let mut files = vec![dir.join("compose.yaml")];
    files.extend(lines(&dir.join("files")).into_iter().map(|f| dir.join(f)));
    let mut env = BTreeMap::new();
    env.insert("HOME".to_string(), "/home/user".to_string());
    for l in lines(&dir.join("process-env")) {
        if let Some((k, v)) = l.split_once('=') {
            env.insert(k.to_string(), v.to_string());
        }
    }
    Options {
        files,
        environment: Some(env),
        profiles: lines(&dir.join("profiles")),
        ..Options::default()
    }
}
