//! From *things* (service or instance names) to the ordered containers a
//! command acts on: services expanded, `omit` honoured, dependencies added
//! with `-d` (or by default with no things), `-C`/`-S` filters applied, and
//! the result ordered so that every container comes after what it depends on
//! (start-like plays) or after what depends on it (stop-like plays).

use std::collections::{BTreeSet, HashMap};
use std::fmt;

use globset::{GlobBuilder, GlobMatcher};
use maestro_config::{Container, Environment};

/// Which way dependencies point for a play.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Dependencies first (start, pull, status, clean).
    Forward,
    /// Dependents first (stop, kill, restart).
    Reverse,
}

/// What the command line asked for.
#[derive(Debug, Clone, Default)]
pub struct Selection {
    pub things: Vec<String>,
    /// Service names may be expanded to their instances (`-s`; implied for
    /// start-like commands).
    pub expand_services: bool,
    /// Also take what the things depend on (or what depends on them).
    pub with_dependencies: bool,
    /// Include services marked `omit` when no things are named (`status`).
    pub include_omitted: bool,
    pub container_filter: Option<String>,
    pub ship_filter: Option<String>,
}

/// Why a selection cannot be made; the text is the message for the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SelectError {
    /// A name that is neither, with the names close to it.
    Unknown {
        name: String,
        close: Vec<String>,
    },
    ServiceNotExpanded(String),
    BadPattern {
        flag: &'static str,
        pattern: String,
        why: String,
    },
}

impl fmt::Display for SelectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SelectError::Unknown { name, close } => write!(
                f,
                "{name} is neither a service nor a container{}",
                maestro_config::suggest::did_you_mean(name, close.iter().map(String::as_str))
            ),
            SelectError::ServiceNotExpanded(name) => {
                write!(
                    f,
                    "{name} is a service but --expand-services was not specified"
                )
            }
            SelectError::BadPattern { flag, pattern, why } => {
                write!(f, "invalid {flag} pattern `{pattern}`: {why}")
            }
        }
    }
}

impl std::error::Error for SelectError {}

impl SelectError {
    /// `name` names neither a service nor a container of `env`; the error
    /// keeps the names close to it.
    pub fn unknown(env: &Environment, name: &str) -> SelectError {
        let known = env
            .services
            .keys()
            .chain(env.containers.keys())
            .map(String::as_str);
        SelectError::Unknown {
            name: name.to_owned(),
            close: maestro_config::suggest::close_names(name, known)
                .into_iter()
                .map(str::to_owned)
                .collect(),
        }
    }
}

pub fn matcher(
    flag: &'static str,
    pattern: &Option<String>,
) -> Result<Option<GlobMatcher>, SelectError> {
    let Some(pattern) = pattern else {
        return Ok(None);
    };
    GlobBuilder::new(pattern)
        .literal_separator(false)
        .backslash_escape(false)
        .build()
        .map(|g| Some(g.compile_matcher()))
        .map_err(|e| SelectError::BadPattern {
            flag,
            pattern: pattern.clone(),
            why: e.kind().to_string(),
        })
}

/// Resolves a selection into ordered containers.
pub fn select<'e>(
    env: &'e Environment,
    sel: &Selection,
    direction: Direction,
) -> Result<Vec<&'e Container>, SelectError> {
    let container_filter = matcher("--container-filter", &sel.container_filter)?;
    let ship_filter = matcher("--ship-filter", &sel.ship_filter)?;
    let (things, expand, with_deps) = if sel.things.is_empty() {
        let names = env
            .services
            .values()
            .filter(|s| sel.include_omitted || !s.omit)
            .map(|s| s.name.clone())
            .collect::<Vec<_>>();
        (names, true, sel.with_dependencies)
    } else {
        (
            sel.things.clone(),
            sel.expand_services,
            sel.with_dependencies,
        )
    };

    let mut chosen: BTreeSet<&str> = BTreeSet::new();
    for thing in &things {
        if let Some(c) = env.containers.get(thing) {
            chosen.insert(&c.name);
        } else if let Some(s) = env.services.get(thing) {
            if !expand {
                return Err(SelectError::ServiceNotExpanded(thing.clone()));
            }
            chosen.extend(s.instances.iter().map(String::as_str));
        } else {
            return Err(SelectError::unknown(env, thing));
        }
    }

    if with_deps {
        let services: BTreeSet<&str> = chosen
            .iter()
            .map(|c| env.containers[*c].service.as_str())
            .collect();
        // The related services gathered first, so that each one's
        // instances are added once, not once per service relating to it.
        let mut related_all: BTreeSet<String> = BTreeSet::new();
        for service in services {
            related_all.extend(match direction {
                Direction::Forward => env.graph.requires(service),
                Direction::Reverse => env.graph.needed_for(service),
            });
        }
        for other in &related_all {
            if let Some(s) = env.services.get(other) {
                chosen.extend(s.instances.iter().map(String::as_str));
            }
        }
    }

    let kept: Vec<&Container> = chosen
        .into_iter()
        .map(|name| &env.containers[name])
        .filter(|c| {
            container_filter
                .as_ref()
                .is_none_or(|m| m.is_match(&c.name))
        })
        .filter(|c| ship_filter.as_ref().is_none_or(|m| m.is_match(&c.ship)))
        .collect();
    Ok(order(env, kept, direction))
}

/// Orders containers (given sorted by name) so each comes after every
/// selected container of the services it depends on, in passes like
/// MaestroNG: each pass takes, in name order, every container whose
/// dependencies are already placed.
pub fn order<'e>(
    env: &'e Environment,
    containers: Vec<&'e Container>,
    direction: Direction,
) -> Vec<&'e Container> {
    let mut remaining_per_service: HashMap<&str, usize> = HashMap::new();
    for c in &containers {
        *remaining_per_service.entry(c.service.as_str()).or_default() += 1;
    }
    let deps: HashMap<&str, Vec<String>> = remaining_per_service
        .keys()
        .map(|s| {
            let related = match direction {
                Direction::Forward => env.graph.requires(s),
                Direction::Reverse => env.graph.needed_for(s),
            };
            let related: Vec<String> = related
                .into_iter()
                .filter(|r| r != s && remaining_per_service.contains_key(r.as_str()))
                .collect();
            (*s, related)
        })
        .collect();
    let mut ordered = Vec::with_capacity(containers.len());
    let mut pending = containers;
    while !pending.is_empty() {
        let before = ordered.len();
        let mut waiting = Vec::new();
        for c in pending {
            let ready = deps[c.service.as_str()]
                .iter()
                .all(|d| remaining_per_service[d.as_str()] == 0);
            if ready {
                if let Some(n) = remaining_per_service.get_mut(c.service.as_str()) {
                    *n -= 1;
                }
                ordered.push(c);
            } else {
                waiting.push(c);
            }
        }
        if ordered.len() == before {
            // No progress means a cycle, which loading already rejects; keep
            // the rest in name order rather than loop.
            ordered.extend(waiting);
            break;
        }
        pending = waiting;
    }
    ordered
}

/// The row number (from 1) of each of `containers` in dependency order,
/// as `status` numbers them: for plays that act on dependents first but
/// number their rows as MaestroNG's `restart` does.
pub fn forward_numbers(env: &Environment, containers: &[&Container]) -> Vec<usize> {
    let mut by_name = containers.to_vec();
    by_name.sort_by(|a, b| a.name.cmp(&b.name));
    let positions: HashMap<&str, usize> = order(env, by_name, Direction::Forward)
        .into_iter()
        .enumerate()
        .map(|(i, c)| (c.name.as_str(), i + 1))
        .collect();
    containers
        .iter()
        .enumerate()
        .map(|(i, c)| positions.get(c.name.as_str()).copied().unwrap_or(i + 1))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use maestro_config::{load, Source};
    use std::collections::BTreeMap;

    fn env(text: &str) -> Environment {
        let src = Source {
            name: "t.yaml".into(),
            base_dir: ".".into(),
            text: text.into(),
        };
        load(&src, &BTreeMap::new()).expect("valid environment")
    }

    const ENV: &str = "
name: t
ships: {a: {ip: 10.0.0.1}, b: {ip: 10.0.0.2}}
services:
  db: {image: db, instances: {db-1: {ship: a}, db-2: {ship: b}}}
  cache: {image: c, instances: {cache-1: {ship: b}}}
  web: {image: w, requires: [db, cache], instances: {web-2: {ship: a}, web-1: {ship: b}}}
  lb: {image: l, requires: [web], instances: {lb-1: {ship: a}}}
  tools: {image: t, omit: true, instances: {tools-1: {ship: a}}}
";

    fn names(list: Vec<&Container>) -> Vec<&str> {
        list.into_iter().map(|c| c.name.as_str()).collect()
    }

    #[test]
    fn everything_in_dependency_order() {
        let e = env(ENV);
        let sel = Selection {
            with_dependencies: true,
            ..Default::default()
        };
        assert_eq!(
            names(select(&e, &sel, Direction::Forward).unwrap()),
            ["cache-1", "db-1", "db-2", "web-1", "web-2", "lb-1"]
        );
        assert_eq!(
            names(select(&e, &sel, Direction::Reverse).unwrap()),
            ["lb-1", "web-1", "web-2", "cache-1", "db-1", "db-2"]
        );
        let status = Selection {
            include_omitted: true,
            ..Default::default()
        };
        assert!(names(select(&e, &status, Direction::Forward).unwrap()).contains(&"tools-1"));
    }

    #[test]
    fn with_dependencies_adds_what_is_needed() {
        let e = env(ENV);
        let sel = Selection {
            things: vec!["web-1".into()],
            with_dependencies: true,
            ..Default::default()
        };
        assert_eq!(
            names(select(&e, &sel, Direction::Forward).unwrap()),
            ["cache-1", "db-1", "db-2", "web-1"]
        );
        let sel = Selection {
            things: vec!["db-2".into()],
            with_dependencies: true,
            ..Default::default()
        };
        assert_eq!(
            names(select(&e, &sel, Direction::Reverse).unwrap()),
            ["lb-1", "web-1", "web-2", "db-2"]
        );
    }

    #[test]
    fn services_need_expansion_for_stop_like_commands() {
        let e = env(ENV);
        let sel = Selection {
            things: vec!["web".into()],
            ..Default::default()
        };
        assert_eq!(
            select(&e, &sel, Direction::Reverse)
                .unwrap_err()
                .to_string(),
            "web is a service but --expand-services was not specified"
        );
        let sel = Selection {
            things: vec!["nope".into()],
            expand_services: true,
            ..Default::default()
        };
        assert_eq!(
            select(&e, &sel, Direction::Forward)
                .unwrap_err()
                .to_string(),
            "nope is neither a service nor a container"
        );
    }

    #[test]
    fn unknown_names_say_which_are_close() {
        let e = env(ENV);
        let sel = Selection {
            things: vec!["wbe".into()],
            expand_services: true,
            ..Default::default()
        };
        assert_eq!(
            select(&e, &sel, Direction::Forward)
                .unwrap_err()
                .to_string(),
            "wbe is neither a service nor a container; did you mean web?"
        );
    }

    #[test]
    fn filters() {
        let e = env(ENV);
        let sel = Selection {
            with_dependencies: true,
            ship_filter: Some("b".into()),
            ..Default::default()
        };
        assert_eq!(
            names(select(&e, &sel, Direction::Forward).unwrap()),
            ["cache-1", "db-2", "web-1"]
        );
        let sel = Selection {
            container_filter: Some("*-[!1]".into()),
            ..Default::default()
        };
        assert_eq!(
            names(select(&e, &sel, Direction::Forward).unwrap()),
            ["db-2", "web-2"]
        );
    }

    #[test]
    fn dependents_first_are_numbered_as_status_numbers_them() {
        let env = env(ENV);
        let sel = Selection {
            expand_services: true,
            ..Selection::default()
        };
        let reverse = select(&env, &sel, Direction::Reverse).expect("selects");
        let forward = select(&env, &sel, Direction::Forward).expect("selects");
        let numbers = forward_numbers(&env, &reverse);
        for (c, n) in reverse.iter().zip(&numbers) {
            assert_eq!(forward[n - 1].name, c.name);
        }
    }
}
