//! A Compose project as an environment. `maestro-compose` reads the files
//! into Compose's normalized model; this module lays that model out as the
//! tree a maestro file would have given (each service with one instance
//! per replica, placed on the ships `x-maestro` declares, its `depends_on`
//! as `requires`), and the model is then built and checked like any
//! environment file's, so that every play works on it unchanged.
//!
//! Layers: `tree` (nodes marked with the service's place) and `mapper`
//! (messages) are leaves; `placement`, `container` and `resources` read
//! one part of the model each; `service` puts a service together; this
//! module makes the document and builds it.

mod container;
mod mapper;
mod placement;
mod resources;
mod service;
mod tree;

use std::collections::BTreeSet;

use maestro_compose::{ComposeError, Options, Project};
use serde_json::Value as Json;

use self::mapper::Mapper;
use self::tree::At;
use crate::error::{ConfigError, LoadError, Mark};
use crate::yaml::Node;
use crate::{Environment, Needs};

/// A Compose project and the environment maestro runs from it.
#[derive(Debug)]
pub struct Composed {
    pub environment: Environment,
    pub project: Project,
}

/// Reads the Compose files `opts` names and builds the environment.
pub fn load(opts: &Options, needs: Needs) -> Result<Composed, LoadError> {
    let project = maestro_compose::load(opts).map_err(from_compose)?;
    let environment = environment(&project, needs)?;
    Ok(Composed {
        environment,
        project,
    })
}

/// The environment of a loaded project.
pub fn environment(project: &Project, needs: Needs) -> Result<Environment, LoadError> {
    let mut m = Mapper::new(project);
    let root = document(&mut m);
    if !m.errors.is_empty() {
        return Err(LoadError { errors: m.errors });
    }
    let reads = crate::reads::Reads::load(&root, &project.directory);
    let mut env = crate::build::build(
        (&root, ""),
        &m.file,
        &project.directory,
        &reads,
        needs.environments,
    )
    .map_err(|e| LoadError {
        errors: e
            .errors
            .into_iter()
            .map(|e| in_service_file(project, e))
            .collect(),
    })?;
    let mut warnings = project_warnings(project);
    warnings.append(&mut m.warnings);
    warnings.append(&mut env.warnings);
    env.warnings = warnings;
    Ok(env)
}

/// The tree of the maestro file the project stands for.
fn document(m: &mut Mapper) -> Node {
    let top = At(Mark { line: 1, column: 1 });
    let mut entries: Vec<(String, Node)> = vec![
        ("name".into(), top.str(m.project.name.as_str())),
        ("__maestro".into(), top.map([("schema", top.int(2))])),
    ];
    entries.extend(placement::top_level(m));
    entries.extend(resources::top_level(m));
    let healthy = healthy_dependencies(m.project);
    let services: Vec<(String, Node)> = m
        .services()
        .into_iter()
        .filter_map(|name| {
            let node = service::service(m, &name, healthy.contains(&name))?;
            Some((name, node))
        })
        .collect();
    entries.push(("services".into(), top.map(services)));
    top.map(entries)
}

/// An error the model's checks found in a service's nodes, named by the
/// file that defines the service (an override's, an include's), whose
/// place the nodes carry.
fn in_service_file(project: &Project, mut e: ConfigError) -> ConfigError {
    let service = e
        .message
        .strip_prefix("services/")
        .and_then(|rest| rest.split(['/', ':']).next());
    if let Some(loc) = service.and_then(|s| project.service_locs.get(s)) {
        e.file.clone_from(&loc.file);
    }
    e
}

/// The services another waits for with `condition: service_healthy`.
fn healthy_dependencies(project: &Project) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let services = project.model.get("services").and_then(Json::as_object);
    for svc in services.into_iter().flat_map(|s| s.values()) {
        let deps = svc.get("depends_on").and_then(Json::as_object);
        for (name, dep) in deps.into_iter().flatten() {
            if dep.get("condition").and_then(Json::as_str) == Some("service_healthy") {
                out.insert(name.clone());
            }
        }
    }
    out
}

/// A Compose reader's error as the environment's.
pub fn from_compose(e: ComposeError) -> LoadError {
    LoadError::from(located(&e.loc, &e.message))
}

/// What the Compose reader warned about, as the environment's warnings.
pub fn project_warnings(project: &Project) -> Vec<ConfigError> {
    project
        .warnings
        .iter()
        .map(|w| located(&w.loc, &w.message))
        .collect()
}

fn located(loc: &maestro_compose::Loc, message: &str) -> ConfigError {
    let message = if loc.path.is_empty() {
        message.to_string()
    } else {
        format!("{}: {message}", loc.path)
    };
    ConfigError {
        file: loc.file.clone(),
        mark: loc.mark.map(|m| Mark {
            line: m.line,
            column: m.column,
        }),
        message,
    }
}

/// What a file named with `-f` is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    /// A Compose file: by its name (`compose.yaml`, `docker-compose.yml`,
    /// `compose.prod.yaml`…), else by its content (a `services` mapping whose
    /// entries have no `instances`, and only Compose's top-level keys).
    Compose,
    /// Only keys both kinds have (`x-maestro`, `networks`…, no `services`):
    /// a Compose override when given beside Compose files.
    Either,
    /// Anything else, an unreadable file among them (the maestro loader
    /// then says why it cannot be read).
    Maestro,
}

/// Tells a Compose file from a maestro file.
pub fn file_kind(path: &std::path::Path) -> FileKind {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    let stem = name
        .strip_suffix(".yaml")
        .or_else(|| name.strip_suffix(".yml"));
    if let Some(stem) = stem {
        let base = stem.split('.').next().unwrap_or("");
        if base == "compose" || base == "docker-compose" {
            return FileKind::Compose;
        }
    }
    // Only a regular file of a Compose file's size is looked into: a
    // device, a pipe or a huge file is left to the maestro loader's bounds.
    let small = std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.len() <= SNIFF_BYTES);
    if !small {
        return FileKind::Maestro;
    }
    match std::fs::read_to_string(path) {
        Ok(text) => kind_of(&text),
        Err(_) => FileKind::Maestro,
    }
}

/// The largest file whose content is looked at to tell its kind.
const SNIFF_BYTES: u64 = 1024 * 1024;

/// [`file_kind`] by content.
fn kind_of(text: &str) -> FileKind {
    let Some(o) = outline(text) else {
        return FileKind::Maestro;
    };
    if o.top.is_empty() || o.foreign {
        return FileKind::Maestro;
    }
    if o.services > 0 {
        return match o.with_instances {
            0 => FileKind::Compose,
            _ => FileKind::Maestro,
        };
    }
    if o.top.iter().any(|k| k == "include") {
        return FileKind::Compose;
    }
    FileKind::Either
}

/// Whether `key` can be a top-level key of a Compose file.
fn compose_top(key: &str) -> bool {
    const COMPOSE_TOP: &[&str] = &[
        "services", "networks", "volumes", "secrets", "configs", "include", "name", "version",
    ];
    COMPOSE_TOP.contains(&key) || key.starts_with("x-")
}

/// The top-level keys of a document, how many services it has and how
/// many of them have `instances`: read from the parser's events alone
/// (aliases are not expanded, nothing is built). The reading stops at the
/// first sign of a maestro file (a top-level key Compose does not have, a
/// service with `instances`): a maestro file of thousands of containers is
/// not parsed twice.
#[derive(Default)]
struct Outline {
    top: Vec<String>,
    /// A top-level key Compose does not have was met (the last of `top`).
    foreign: bool,
    services: usize,
    with_instances: usize,
}

/// One open collection while outlining.
struct Frame {
    map: bool,
    expect_key: bool,
    key: Option<String>,
}

fn outline(text: &str) -> Option<Outline> {
    use saphyr_parser::{Event, Parser};
    let mut parser = Parser::new_from_str(text);
    let mut out = Outline::default();
    let mut stack: Vec<Frame> = Vec::new();
    let value_done = |stack: &mut Vec<Frame>| {
        if let Some(f) = stack.last_mut().filter(|f| f.map) {
            f.expect_key = true;
        }
    };
    loop {
        let (event, _) = parser.next_event()?.ok()?;
        match event {
            Event::StreamEnd => return Some(out),
            Event::MappingStart(..) | Event::SequenceStart(..) => stack.push(Frame {
                map: matches!(event, Event::MappingStart(..)),
                expect_key: true,
                key: None,
            }),
            Event::MappingEnd | Event::SequenceEnd => {
                stack.pop();
                value_done(&mut stack);
            }
            Event::Scalar(text, ..) => {
                let depth = stack.len();
                let in_services = stack.first().and_then(|f| f.key.as_deref()) == Some("services");
                match stack.last_mut() {
                    Some(f) if f.map && f.expect_key => {
                        f.expect_key = false;
                        f.key = Some(text.to_string());
                        match depth {
                            1 => {
                                out.top.push(text.to_string());
                                if !compose_top(&text) {
                                    out.foreign = true;
                                    return Some(out);
                                }
                            }
                            2 if in_services => out.services += 1,
                            3 if in_services && text == "instances" && out.services > 0 => {
                                out.with_instances += 1;
                                return Some(out);
                            }
                            _ => {}
                        }
                    }
                    _ => value_done(&mut stack),
                }
            }
            Event::Alias(_) => value_done(&mut stack),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests;
