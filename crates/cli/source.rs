//! Which description a command reads: the maestro file `-f` names (the
//! last, as MaestroNG read a repeated `-f`), the Compose files it names
//! (every one a Compose file: merged in order), or, without `-f`,
//! `./maestro.yaml`, else the Compose file of the current directory (with
//! its `compose.override.yaml`, as Compose reads it), said on stderr.

use std::path::{Path, PathBuf};

use maestro_config::compose::{file_kind, FileKind};

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

/// Chooses from the `-f` values, looking in `dir` when there are none
/// (`announce`: saying on stderr which Compose file is read then). Compose
/// files and maestro files together are refused: they do not merge.
pub fn choose(files: &[PathBuf], dir: &Path, announce: bool) -> Result<Description, String> {
    if files.is_empty() {
        return Ok(found_in(dir, announce));
    }
    let kinds: Vec<FileKind> = files
        .iter()
        .map(|f| match f == Path::new("-") {
            true => FileKind::Maestro,
            false => file_kind(f),
        })
        .collect();
    let compose = kinds.iter().position(|k| *k == FileKind::Compose);
    let maestro = kinds.iter().position(|k| *k == FileKind::Maestro);
    match (compose, maestro, files.last()) {
        (Some(c), Some(m), _) if files.len() > 1 => Err(format!(
            "{} is a Compose file and {} a maestro file; several -f are merged only when all are Compose files (for maestro files the last -f is read)",
            files[c].display(),
            files[m].display()
        )),
        (Some(_), _, _) => Ok(Description::Compose(files.to_vec())),
        (None, _, Some(last)) => Ok(Description::Maestro(last.clone())),
        (None, _, None) => Ok(Description::Maestro(PathBuf::from(DEFAULT_FILE))),
    }
}

fn found_in(dir: &Path, announce: bool) -> Description {
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
    if !announce {
        return Description::Compose(files);
    }
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
        assert_eq!(
            choose(&[], &d, true).expect("chosen"),
            Description::Maestro("maestro.yaml".into())
        );
        let d = dir_with("b", &[("docker-compose.yml", ""), ("compose.yml", "")]);
        assert_eq!(
            choose(&[], &d, true).expect("chosen"),
            Description::Compose(vec!["compose.yml".into()])
        );
        let d = dir_with("c", &[("compose.yaml", ""), ("compose.override.yaml", "")]);
        assert_eq!(
            choose(&[], &d, true).expect("chosen"),
            Description::Compose(vec!["compose.yaml".into(), "compose.override.yaml".into()])
        );
        let d = dir_with("d", &[]);
        assert_eq!(
            choose(&[], &d, true).expect("chosen"),
            Description::Maestro("maestro.yaml".into())
        );
    }

    #[test]
    fn several_f_are_merged_only_when_all_are_compose_files() {
        let d = dir_with(
            "e",
            &[("a.yaml", "name: x\nships: {}\n"), ("compose.yaml", "")],
        );
        let (a, c) = (d.join("a.yaml"), d.join("compose.yaml"));
        let prod = d.join("compose.prod.yaml");
        let ships = d.join("ships.yaml");
        std::fs::write(&ships, "x-maestro: {ships: {vm1: {ip: 10.0.0.1}}}\n").expect("write");
        assert_eq!(
            choose(&[c.clone(), prod.clone(), ships.clone()], &d, true),
            Ok(Description::Compose(vec![c.clone(), prod, ships]))
        );
        let mixed = choose(&[c, a.clone()], &d, true).expect_err("refused");
        assert!(mixed.contains("is a Compose file and"), "{mixed}");
        assert_eq!(
            choose(std::slice::from_ref(&a), &d, true),
            Ok(Description::Maestro(a))
        );
        assert_eq!(
            choose(&["-".into()], &d, true),
            Ok(Description::Maestro("-".into()))
        );
    }
}
