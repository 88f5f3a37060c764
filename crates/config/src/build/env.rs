//! A container's own environment variables: the service's and then the
//! instance's `envfile` (files, read by the load step, and inline mappings)
//! and `env`, then the variables maestro seeds (names of the environment,
//! service, container, its host address and image).
//! Imports only `context`.

use indexmap::IndexMap;

use super::context::Context;
use crate::model::image_tag;
use crate::pyfmt;
use crate::reader::{get_set, KeyPath, Reader};
use crate::reads::Reads;
use crate::yaml::{Node, Value};

/// An environment variable value before rendering: a YAML value or an envfile string.
pub(super) type RawEnv = IndexMap<String, Value>;

/// The service's variables, which each of its instances starts from.
pub(super) fn service_env(
    r: &mut Reader,
    entries: &[(Node, Node)],
    path: &KeyPath,
    name: &str,
    cx: &Context,
) -> RawEnv {
    let mut env = RawEnv::new();
    env_sources(r, &mut env, entries, path, cx.reads);
    env.insert(
        "MAESTRO_ENVIRONMENT_NAME".into(),
        Value::Str(cx.env_name.to_string()),
    );
    env.insert("SERVICE_NAME".into(), Value::Str(name.to_string()));
    env
}

/// Who a container is, for the variables seeded into its environment.
pub(super) struct Seeds<'a> {
    pub(super) name: &'a str,
    pub(super) ship_ip: &'a str,
    pub(super) image: &'a str,
}

/// The variables maestro seeds into every container, after its own.
const SEEDED: [&str; 4] = [
    "CONTAINER_NAME",
    "CONTAINER_HOST_ADDRESS",
    "DOCKER_IMAGE",
    "DOCKER_TAG",
];

/// An instance's own variables: its envfiles and env, laid over its
/// service's only when its environment is computed ([`own_values`]).
pub(super) fn instance_env(
    r: &mut Reader,
    entries: &[(Node, Node)],
    path: &KeyPath,
    reads: &Reads,
) -> RawEnv {
    let mut env = RawEnv::new();
    env_sources(r, &mut env, entries, path, reads);
    env
}

/// Whether `var` is one of a container's variables: its service's
/// (`service_env`), its instance's (`instance_env`) or a seeded one.
pub(super) fn is_set(service_env: &RawEnv, instance_env: &RawEnv, var: &str) -> bool {
    instance_env.contains_key(var) || service_env.contains_key(var) || SEEDED.contains(&var)
}

/// The variables as the container gets them (`None`: a name without a
/// value): the service's, then the instance's, then the seeds.
pub(super) fn own_values(
    service_env: &RawEnv,
    instance_env: &RawEnv,
    seeds: &Seeds,
) -> IndexMap<String, Option<String>> {
    let mut out = IndexMap::with_capacity(service_env.len() + instance_env.len() + SEEDED.len());
    for (k, v) in service_env.iter().chain(instance_env) {
        out.insert(k.clone(), pyfmt::env_string(v));
    }
    let [name, ip, image, tag] = SEEDED.map(String::from);
    out.insert(name, Some(seeds.name.to_string()));
    out.insert(ip, Some(seeds.ship_ip.to_string()));
    out.insert(image, Some(seeds.image.to_string()));
    out.insert(tag, Some(image_tag(seeds.image).to_string()));
    out
}

/// Adds the envfiles, then `env`, of a service's or an instance's `entries`
/// to `out` (later wins).
fn env_sources(
    r: &mut Reader,
    out: &mut RawEnv,
    entries: &[(Node, Node)],
    path: &KeyPath,
    reads: &Reads,
) {
    if let Some(node) = get_set(entries, "envfile") {
        envfiles(r, out, node, &format_args!("{path}/envfile"), reads);
    }
    if let Some(node) = get_set(entries, "env") {
        let maps: Vec<&Node> = match &node.value {
            Value::Seq(items) => items.iter().collect(),
            _ => vec![node],
        };
        for m in maps {
            let Some(entries) = r.map(m, &format_args!("{path}/env")) else {
                continue;
            };
            for (k, v) in entries {
                let Some(key) = env_key(r, k, &format_args!("{path}/env")) else {
                    continue;
                };
                warn_nested_env(r, v, &format_args!("{path}/env/{key}"));
                out.insert(key, v.value.clone());
            }
        }
    }
}

/// A mapping as an environment value becomes its Python text
/// (`{'b': 'c'}`), as MaestroNG made it: kept, but said, since it is
/// rarely what was meant (a list is joined with spaces, a documented form).
fn warn_nested_env(r: &mut Reader, value: &Node, path: &KeyPath) {
    if !matches!(value.value, Value::Map(_)) {
        return;
    }
    let text = pyfmt::env_string(&value.value).unwrap_or_default();
    r.warn(
        value,
        path,
        format!(
            "a mapping as an environment value is passed as its Python text `{text}`, as MaestroNG did; quote the value if that is what you mean, or write the variables one by one"
        ),
    );
}

/// One env file, a list of them (nested lists too), or inline mappings
/// among them, in order as MaestroNG read them. The files' contents are the
/// load step's (see [`Reads`]).
fn envfiles(r: &mut Reader, out: &mut RawEnv, node: &Node, path: &KeyPath, reads: &Reads) {
    match &node.value {
        Value::Seq(items) => {
            for item in items {
                envfiles(r, out, item, path, reads);
            }
        }
        Value::Map(entries) => {
            for (k, v) in entries {
                if let Some(key) = env_key(r, k, path) {
                    warn_nested_env(r, v, &format_args!("{path}/{key}"));
                    out.insert(key, v.value.clone());
                }
            }
        }
        Value::Null => {}
        _ => {
            let Some(name) = r.name(node, path, "the path of an env file") else {
                return;
            };
            match reads.env_file(&name) {
                Some(Ok(vars)) => {
                    for (k, v) in vars {
                        out.insert(k.clone(), Value::Str(v.clone()));
                    }
                }
                Some(Err(why)) => {
                    r.error(node, path, format!("cannot use env file `{name}`: {why}"))
                }
                // The load step reads every env file the document names.
                None => r.error(
                    node,
                    path,
                    format!("cannot use env file `{name}`: it was not read before the build"),
                ),
            }
        }
    }
}

fn env_key(r: &mut Reader, node: &Node, path: &KeyPath) -> Option<String> {
    match &node.value {
        Value::Str(s) if !s.is_empty() && !s.contains('=') => Some(s.clone()),
        Value::Int(_) | Value::Float(_) | Value::Bool(_) => Some(pyfmt::str_of(&node.value)),
        _ => {
            r.expected(node, path, "a variable name (without `=`)");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::build::tests::load;

    /// A mapping as an env value keeps MaestroNG's meaning (its Python
    /// text) but is warned about, located.
    #[test]
    fn a_nested_env_value_is_kept_and_warned_about() {
        let env = load(
            "name: t
ships: {s1: {ip: 10.0.0.1}}
services:
  web:
    image: nginx
    env: {A: {b: c}, B: plain}
    instances:
      web-1: {ship: s1, env: {D: {e: 1}, C: [1, 2]}}
",
        )
        .expect("still a valid file");
        let warnings: Vec<String> = env.warnings.iter().map(ToString::to_string).collect();
        assert_eq!(
            warnings,
            [
                "t.yaml:6:14: services/web/env/A: a mapping as an environment value is passed as its Python text `{'b': 'c'}`, as MaestroNG did; quote the value if that is what you mean, or write the variables one by one",
                "t.yaml:8:34: services/web/instances/web-1/env/D: a mapping as an environment value is passed as its Python text `{'e': 1}`, as MaestroNG did; quote the value if that is what you mean, or write the variables one by one",
            ]
        );
        let web = &env.containers["web-1"];
        assert_eq!(web.env.resolved().get("A"), Some(&Some("{'b': 'c'}")));
    }
}
