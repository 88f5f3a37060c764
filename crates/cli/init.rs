//! `maestro init [--from SHIP…] [--name NAME] [--force]`: writes a starter
//! environment file, or one describing the containers running on the ships
//! named, to the file `-f` names (`maestro.yaml` by default; `-`: stdout).

use std::path::Path;

use maestro_config::{Environment, Source};
use maestro_plays::direct::init::ShipLines;
use maestro_plays::Fleet;

use crate::output::{self, Failure};

/// What `maestro init` was asked.
pub struct Init<'a> {
    pub from: &'a [String],
    pub only: Option<&'a str>,
    pub name: Option<&'a str>,
    pub force: bool,
}

pub fn init(file: &Path, ask: &Init) -> Result<(), Failure> {
    let Init {
        from,
        only,
        name,
        force,
    } = *ask;
    let to_stdout = file == Path::new("-");
    if !to_stdout && file.exists() && !force {
        return Err(Failure::Failed(format!(
            "{} already exists; `maestro init --force` overwrites it, or `-f FILE` names another file",
            file.display()
        )));
    }
    let base_dir = base_dir(file);
    let name = match name {
        Some(n) => n.to_owned(),
        None => default_name(&base_dir),
    };
    let text = if from.is_empty() {
        maestro_plays::direct::init::starter(&name)
    } else {
        described(&name, from, only, &base_dir)?
    };
    if to_stdout {
        return output::print(&text);
    }
    std::fs::write(file, &text)
        .map_err(|e| Failure::Failed(format!("cannot write {}: {e}", file.display())))?;
    let what = if from.is_empty() {
        "a starter environment".to_owned()
    } else {
        format!("the running containers of {}", from.join(", "))
    };
    eprintln!(
        "Wrote {} ({what}); `maestro -f {} plan` compares it with the engines.",
        file.display(),
        file.display()
    );
    Ok(())
}

/// The folder the file is in (relative paths in it resolve from there).
fn base_dir(file: &Path) -> std::path::PathBuf {
    let parent = file.parent().filter(|p| !p.as_os_str().is_empty());
    let dir = parent.map_or_else(|| Path::new(".").to_path_buf(), Path::to_path_buf);
    std::fs::canonicalize(&dir).unwrap_or(dir)
}

/// The folder's name, as an environment name (`shop`), else `maestro`.
fn default_name(dir: &Path) -> String {
    let name: String = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "_.-".contains(c) {
                c
            } else {
                '-'
            }
        })
        .collect();
    if name.trim_matches('-').is_empty() {
        "maestro".into()
    } else {
        name
    }
}

/// The file describing the running containers of the ships `from`:
/// `local` (the engine the Docker CLI would use) or an engine address
/// (`tcp://HOST:PORT`, `ssh://[USER@]HOST[:PORT]`, `unix:///PATH`).
fn described(
    name: &str,
    from: &[String],
    only: Option<&str>,
    base_dir: &Path,
) -> Result<String, Failure> {
    let only = maestro_plays::decide::selection::matcher("--only", &only.map(str::to_owned))
        .map_err(|e| Failure::Usage(e.to_string()))?;
    let mut ships: ShipLines = Vec::new();
    for spec in from.iter().filter(|s| *s != "local") {
        ships.push(ship_line(spec)?);
    }
    // `local` alone is a file without `ships`; beside others, the default
    // ship written out as a file without `ships` would have it.
    let only_local = ships.is_empty();
    if !only_local && from.iter().any(|s| s == "local") {
        let plain = environment(&Vec::new(), base_dir)?;
        if let Some(local) = plain.ships.get("local") {
            ships.insert(0, ("local".into(), local_line(local)));
        }
    }
    let env = environment(&ships, base_dir)?;
    let names: Vec<String> = if only_local {
        vec!["local".into()]
    } else {
        ships.iter().map(|(n, _)| n.clone()).collect()
    };
    let fleet = Fleet::new(&env);
    let runtime = crate::runtime()?;
    let found = runtime
        .block_on(maestro_plays::direct::init::observe(
            &fleet,
            &names,
            only.as_ref(),
        ))
        .map_err(|e| Failure::Failed(e.to_string()))?;
    Ok(maestro_plays::direct::init::describe(name, &ships, &found))
}

/// `(name, {ip, endpoint})` for an engine address.
fn ship_line(address: &str) -> Result<(String, String), Failure> {
    let Some((scheme, rest)) = address.split_once("://") else {
        return Err(Failure::Failed(format!(
            "`{address}` is neither `local` nor an engine address; expected `local`, tcp://HOST:PORT, ssh://[USER@]HOST[:PORT] or unix:///PATH"
        )));
    };
    let host = match scheme {
        "unix" => "127.0.0.1".to_owned(),
        "tcp" | "ssh" => {
            let after_user = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
            let host = after_user.split(['/', ':']).next().unwrap_or_default();
            if host.is_empty() {
                return Err(Failure::Failed(format!(
                    "`{address}` names no host; expected {scheme}://HOST…"
                )));
            }
            host.to_owned()
        }
        _ => {
            return Err(Failure::Failed(format!(
                "`{address}`: unknown scheme `{scheme}`; expected tcp://, ssh:// or unix://"
            )))
        }
    };
    let name: String = host
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '-'
            }
        })
        .collect();
    let quote = |s: &str| serde_json::to_string(s).unwrap_or_default();
    Ok((
        name,
        format!("{{ip: {}, endpoint: {}}}", quote(&host), quote(address)),
    ))
}

/// The default ship as a line of `ships:`.
fn local_line(ship: &maestro_config::Ship) -> String {
    let quote = |s: &str| serde_json::to_string(s).unwrap_or_default();
    match &ship.socket_path {
        Some(path) => format!("{{ip: {}, socket_path: {}}}", quote(&ship.ip), quote(path)),
        None => format!(
            "{{ip: {}, endpoint: {}, docker_port: {}}}",
            quote(&ship.ip),
            quote(&ship.endpoint),
            ship.docker_port
        ),
    }
}

/// An environment of the ships alone, to reach their engines (none: the
/// default ship `local`).
fn environment(ships: &ShipLines, base_dir: &Path) -> Result<Environment, Failure> {
    let mut text = String::from("name: init\n");
    if !ships.is_empty() {
        text.push_str("ships:\n");
        for (name, spec) in ships {
            text.push_str(&format!("  {name}: {spec}\n"));
        }
    }
    text.push_str("services: {}\n");
    let source = Source {
        name: "<init>".into(),
        base_dir: base_dir.to_path_buf(),
        text,
    };
    maestro_config::load(&source, &maestro_config::process_env()).map_err(Failure::from)
}
