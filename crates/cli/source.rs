//! Which description a command reads: the maestro file `-f` names (the
//! last, as MaestroNG read a repeated `-f`), the Compose files it names
//! (every one a Compose file: merged in order), or, without `-f`,
//! `./maestro.yaml`, else the Compose file of the current directory (with
//! its `compose.override.yaml`, as Compose reads it), said on stderr.

use std::path::{Path, PathBuf};

use maestro_config::compose::is_compose_file;

/// What to read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Description {
    /// A maestro (MaestroNG) environment file, or `-` for stdin.
    Maestro(PathBuf),
    /// Compose files, merged in order.
    Compose(Vec<PathBuf>),
}

/// The Compose files Compose itself looks for, in its order.
const COMPOSE_NAMES: &[&str] = &[
    "compose.yaml",
    "compose.yml",
    "docker-compose.yml",
    "docker-compose.yaml",
];

/// The default maestro file.
pub const DEFAULT_FILE: &str = "maestro.yaml";

/// Chooses from the `-f` values, looking in `dir` when there are none.
pub fn choose(files: &[PathBuf], dir: &Path) -> Description {
    if files.is_empty() {
        return found_in(dir);
    }
    let compose = files
        .iter()
        .all(|f| f != Path::new("-") && is_compose_file(f));
    match (compose, files.last()) {
        (true, _) => Description::Compose(files.to_vec()),
        (false, Some(last)) => Description::Maestro(last.clone()),
        (false, None) => Description::Maestro(PathBuf::from(DEFAULT_FILE)),
    }
}

fn found_in(dir: &Path) -> Description {
    let default = PathBuf::from(DEFAULT_FILE);
    if dir.join(&default).exists() {
        return Description::Maestro(default);
    }
    let Some(name) = COMPOSE_NAMES.iter().find(|n| dir.join(n).is_file()) else {
        return Description::Maestro(default);
    };
    let mut files = vec![PathBuf::from(name)];
    let ext = if name.ends_with(".yml") {
        "yml"
    } else {
        "yaml"
    };
    let stem = name.split('.').next().unwrap_or("compose");
    let overrides = [
        format!("{stem}.override.{ext}"),
        format!(
            "{stem}.override.{}",
            if ext == "yml" { "yaml" } else { "yml" }
        ),
    ];
    if let Some(o) = overrides.iter().find(|o| dir.join(o).is_file()) {
        files.push(PathBuf::from(o));
    }
    let shown: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
    eprintln!(
        "maestro: no {DEFAULT_FILE} here; reading the Compose file {}",
        shown.join(" and ")
    );
    Description::Compose(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir_with(name: &str, files: &[(&str, &str)]) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("maestro-source-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("dir");
        for (f, text) in files {
            std::fs::write(dir.join(f), text).expect("write");
        }
        dir
    }

    #[test]
    fn maestro_yaml_wins_then_compose_files_in_composes_order() {
        let d = dir_with("a", &[("maestro.yaml", "name: x"), ("compose.yaml", "")]);
        assert_eq!(choose(&[], &d), Description::Maestro("maestro.yaml".into()));
        let d = dir_with("b", &[("docker-compose.yml", ""), ("compose.yml", "")]);
        assert_eq!(
            choose(&[], &d),
            Description::Compose(vec!["compose.yml".into()])
        );
        let d = dir_with("c", &[("compose.yaml", ""), ("compose.override.yaml", "")]);
        assert_eq!(
            choose(&[], &d),
            Description::Compose(vec!["compose.yaml".into(), "compose.override.yaml".into()])
        );
        let d = dir_with("d", &[]);
        assert_eq!(choose(&[], &d), Description::Maestro("maestro.yaml".into()));
    }

    #[test]
    fn several_f_are_merged_only_when_all_are_compose_files() {
        let d = dir_with(
            "e",
            &[("a.yaml", "name: x\nships: {}\n"), ("compose.yaml", "")],
        );
        let (a, c) = (d.join("a.yaml"), d.join("compose.yaml"));
        let prod = d.join("compose.prod.yaml");
        assert_eq!(
            choose(&[c.clone(), prod.clone()], &d),
            Description::Compose(vec![c.clone(), prod])
        );
        assert_eq!(choose(&[c, a.clone()], &d), Description::Maestro(a.clone()));
        assert_eq!(choose(&["-".into()], &d), Description::Maestro("-".into()));
    }
}
