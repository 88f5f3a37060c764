//! From the YAML tree to the validated [`Environment`]: a shape check per
//! section (each error located and named by its path), then the cross-field
//! checks (references, ships, cycles), then the computed environments.
//! Pure: the files it needs were read beforehand by the load step
//! ([`Reads`]). This module runs the sections in order; each section of the
//! file is read by its own module.
//!
//! The modules form layers, each importing only the ones before it:
//! - leaves: `context` (what services are read against), `entries` (named
//!   entries and their overlay), and the sections that need nothing of the
//!   others: `document`, `registries`, `ships`, `volumes`, `links`,
//!   `hooks` (a service's deploy hooks), `proxy` (a service's route and
//!   the top-level proxy settings), `rollout` (a service's `deploy`);
//! - `env` (a container's own variables), then `drafts` (a service's and an
//!   instance's drafts);
//! - `network` and `runtime`, then `instances`, then `services` (the
//!   section readers, each making drafts);
//! - `references` and `routes` (the cross-checks of the drafts), then
//!   `finish` (the model's services and containers).

mod context;
mod document;
mod drafts;
mod entries;
mod env;
mod finish;
mod hooks;
mod instances;
mod links;
mod network;
mod proxy;
mod references;
mod registries;
mod rollout;
mod routes;
mod runtime;
mod services;
mod ships;
mod volumes;

use std::path::Path;

use self::context::Context;
use crate::model::*;
use crate::reader::{get_set, Reader};
use crate::reads::Reads;
use crate::yaml::Node;

/// Builds the model from the parsed document, with the files `reads` holds.
/// `environments`: whose environments (own variables and link variables)
/// are computed; commands that read none of them (`status`, `logs`,
/// `lock`, `deptree`, `exec`), or only those its `exec` checks pass
/// (`stop`, `kill`, `clean`, `pull`, `rollback`), skip that work.
/// `document`: the parsed tree and the text it was read from.
pub fn build(
    document: (&Node, &str),
    file: &str,
    base_dir: &Path,
    reads: &Reads,
    environments: crate::Environments,
) -> Result<Environment, crate::LoadError> {
    let mut r = Reader::new(file);
    let env = build_in(&mut r, document, file, base_dir, reads, environments);
    if !r.errors.is_empty() || env.is_none() {
        r.errors.sort_by_key(|e| e.mark.map(|m| (m.line, m.column)));
        r.errors.dedup();
        return Err(crate::LoadError { errors: r.errors });
    }
    let mut env = env.expect("checked above");
    env.warnings = r.warnings;
    Ok(env)
}

/// The sections in the order they are read (which is the order of the
/// warnings); `None` once an error stops the build.
fn build_in(
    r: &mut Reader,
    (root, text): (&Node, &str),
    file: &str,
    base_dir: &Path,
    reads: &Reads,
    environments: crate::Environments,
) -> Option<Environment> {
    let top = document::top_entries(r, root)?;
    let schema = document::schema(r, top);
    let name = document::name(r, root, top);
    document::check_ship_provider(r, top);
    document::obsolete_keys(r, top);
    let registries = registries::registries(r, get_set(top, "registries"));
    let ships = ships::ships(r, root, top, reads);
    let networks = crate::objects::networks(r, get_set(top, "networks"));
    let named_volumes = crate::objects::volumes(r, get_set(top, "volumes"));
    let declared = crate::secrets::definitions(r, get_set(top, "secrets"), base_dir);
    let proxy = proxy::settings(r, get_set(top, "proxy"));

    let context = Context {
        env_name: &name,
        ships: &ships,
        networks: &networks,
        secrets: crate::secrets::Against {
            declared: &declared,
            text,
        },
        schema,
        base_dir,
        reads,
    };
    let (drafts, containers) = services::services(r, top, &context);
    let dependencies = references::check(r, root, &drafts, &containers);
    let routes = routes::check(r, &drafts, &containers);
    if !r.errors.is_empty() {
        return None;
    }

    let members = finish::members_by_service(&containers);
    let services = finish::services(&drafts, &members, &dependencies, routes);
    let containers = finish::containers(
        r,
        containers,
        (&drafts, &ships),
        &dependencies,
        environments,
    );
    if !r.errors.is_empty() {
        return None;
    }

    let audit = crate::audit::build(r, get_set(top, "audit"));

    Some(Environment {
        name,
        schema,
        source: file.to_string(),
        base_dir: base_dir.to_path_buf(),
        ships,
        registries,
        services,
        containers,
        audit,
        graph: dependencies.graph,
        networks,
        volumes: named_volumes,
        secrets: declared.secrets,
        proxy,
        warnings: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Loads `text` as `t.yaml`, in the current directory.
    pub(super) fn load(text: &str) -> Result<Environment, crate::LoadError> {
        let source = crate::Source {
            name: "t.yaml".into(),
            base_dir: std::path::PathBuf::from("."),
            text: text.into(),
        };
        crate::load(&source, &Default::default())
    }

    /// For plays that create nothing, only the containers with an `exec`
    /// check (which passes the variables to its command) get theirs.
    #[test]
    fn a_load_for_exec_checks_computes_only_their_containers_environments() {
        let text = "name: t
ships: {s1: {ip: 10.0.0.1}}
services:
  db: {image: pg, instances: {db-1: {ship: s1, ports: {pg: 5432}}}}
  web:
    image: nginx
    requires: [db]
    env: {A: b}
    instances:
      web-1: {ship: s1, lifecycle: {stopped: [{type: exec, command: 'true'}]}}
      web-2: {ship: s1}
";
        let source = crate::Source {
            name: "t.yaml".into(),
            base_dir: std::path::PathBuf::from("."),
            text: text.into(),
        };
        let needs = crate::Needs {
            environments: crate::Environments::ExecChecks,
        };
        let full = load(text).expect("valid");
        let some = crate::load_with(&source, &Default::default(), needs).expect("valid");
        assert_eq!(
            some.containers["web-1"].env, full.containers["web-1"].env,
            "the exec check's container has all its variables, links included"
        );
        assert!(some.containers["web-1"]
            .env
            .resolved()
            .contains_key("DB_INSTANCES"));
        assert!(some.containers["web-2"].env.resolved().is_empty());
        assert!(some.containers["db-1"].env.resolved().is_empty());
    }

    /// Without environments the model is the same but for the containers'
    /// variables, and the same file errors are found.
    #[test]
    fn a_load_without_environments_skips_only_the_variables() {
        let text = "name: t
ships: {s1: {ip: 10.0.0.1}}
services:
  db: {image: pg, instances: {db-1: {ship: s1, ports: {pg: 5432}}}}
  web:
    image: nginx
    requires: [db]
    env: {A: b}
    instances: {web-1: {ship: s1}}
";
        let source = |text: &str| crate::Source {
            name: "t.yaml".into(),
            base_dir: std::path::PathBuf::from("."),
            text: text.into(),
        };
        let lean = crate::Needs {
            environments: crate::Environments::None,
        };
        let full = load(text).expect("valid");
        let bare = crate::load_with(&source(text), &Default::default(), lean).expect("valid");
        assert!(!full.containers["web-1"].env.resolved().is_empty());
        for (name, c) in &bare.containers {
            assert!(c.env.resolved().is_empty(), "{name}");
            let mut with = full.containers[name].clone();
            with.env = Default::default();
            assert_eq!(*c, with, "{name}");
        }
        let broken = text.replace("requires: [db]", "requires: [dbb]");
        let errors = |r: Result<Environment, crate::LoadError>| -> Vec<String> {
            r.err()
                .map(|e| e.errors.iter().map(ToString::to_string).collect())
                .unwrap_or_default()
        };
        let full_errors = errors(load(&broken));
        assert!(!full_errors.is_empty());
        assert_eq!(
            errors(crate::load_with(
                &source(&broken),
                &Default::default(),
                lean
            )),
            full_errors
        );
    }
}
