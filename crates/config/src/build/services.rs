//! `services`: each service's image, environment, the ports, limits and
//! lifecycle checks its instances share, what it requires, and its
//! `instances` (each name unique across all services), its deploy `hooks`
//! and the `secrets` its instances receive, its `proxy` and `deploy`, read
//! into drafts.
//! Imports the leaves, `env`, `instances` and `network`; never
//! `references` or `finish`, which come after it.

use std::collections::HashMap;

use super::context::Context;
use super::drafts::{ContainerDraft, ServiceDraft};
use super::entries::named_entries;
use super::{env, hooks, instances, network, proxy, rollout};
use crate::keys::SERVICE as SERVICE_KEYS;
use crate::reader::{get, get_set, KeyPath, Reader};
use crate::yaml::{Node, Value};

/// Every service and every instance of the file, in file order.
pub(super) fn services<'n>(
    r: &mut Reader,
    top: &'n [(Node, Node)],
    cx: &Context,
) -> (Vec<ServiceDraft<'n>>, Vec<ContainerDraft<'n>>) {
    let mut drafts: Vec<ServiceDraft> = Vec::new();
    let mut containers: Vec<ContainerDraft> = Vec::new();
    // Each instance name, and the service that has it.
    let mut owner: HashMap<String, String> = HashMap::new();
    let Some(services_node) = get_set(top, "services") else {
        return (drafts, containers);
    };
    for (key, node) in r.map(services_node, &"services").unwrap_or(&[]) {
        let Some(sname) = r.key(key, &"services") else {
            continue;
        };
        let Some(draft) = service(r, &sname, node, cx) else {
            continue;
        };
        let path = format_args!("services/{sname}/instances");
        for (ikey, inode) in instances_node(r, node, &sname) {
            let Some(iname) = r.key(ikey, &path) else {
                continue;
            };
            if !claim_instance_name(r, ikey, &iname, &sname, &mut owner) {
                continue;
            }
            if let Some(mut c) = instances::instance(r, &draft, &iname, inode, cx) {
                network::attach(r, &mut c, node, cx.networks);
                containers.push(c);
            }
        }
        drafts.push(draft);
    }
    (drafts, containers)
}

/// The entries of the service's `instances` (none, with the error, when it
/// has none).
fn instances_node<'n>(r: &mut Reader, node: &'n Node, sname: &str) -> &'n [(Node, Node)] {
    let path = format_args!("services/{sname}");
    match get(node.as_map().unwrap_or(&[]), "instances") {
        Some(n) => r.map(n, &format_args!("{path}/instances")).unwrap_or(&[]),
        None => {
            r.error(
                node,
                &path,
                "missing required key `instances` (the service's containers)",
            );
            &[]
        }
    }
}

/// Whether `iname` (at `ikey`, in service `sname`) can name a container of
/// its own: not taken by another instance, and a name the engine accepts.
/// Records it in `owner` when it can.
fn claim_instance_name(
    r: &mut Reader,
    ikey: &Node,
    iname: &str,
    sname: &str,
    owner: &mut HashMap<String, String>,
) -> bool {
    let path = format_args!("services/{sname}/instances");
    if let Some(other) = owner.get(iname) {
        let where_ = if other == sname {
            "this service".to_string()
        } else {
            format!("service `{other}`")
        };
        r.error(ikey, &path, format!(
            "instance `{iname}` is already defined in {where_}; expected instance names unique across all services"
        ));
        return false;
    }
    if !crate::objects::is_container_name(iname) {
        r.error(ikey, &path, format!(
            "`{iname}` cannot name a container; expected two or more letters, digits, `_`, `.` or `-`, starting with a letter or digit (the engine's rule for container names)"
        ));
        return false;
    }
    owner.insert(iname.to_owned(), sname.to_owned());
    true
}

fn service<'n>(
    r: &mut Reader,
    name: &str,
    node: &'n Node,
    cx: &Context,
) -> Option<ServiceDraft<'n>> {
    let path = format_args!("services/{name}");
    let entries = r.map(node, &path)?;
    if matches!(node.value, Value::Null) {
        r.error(node, &path, "missing required keys `image` and `instances`");
        return None;
    }
    r.unknown_keys_of(
        entries,
        &path,
        &[
            SERVICE_KEYS,
            crate::keys::OPTIONS,
            crate::keys::CONTAINER_NETWORKS,
        ],
    );
    let image = match get_set(entries, "image") {
        Some(n) => r.name(n, &format_args!("{path}/image"), "an image name"),
        None => {
            r.error(
                node,
                &path,
                "missing required key `image` (the image of every instance)",
            );
            None
        }
    };
    let env = env::service_env(r, entries, &path, name, cx);
    let omit = get_set(entries, "omit")
        .and_then(|n| r.boolean(n, &format_args!("{path}/omit")))
        .unwrap_or(false);
    let secrets = get_set(entries, "secrets")
        .map(|n| crate::secrets::mounts(r, n, &format_args!("{path}/secrets"), &cx.secrets));
    let (update, order) = rollout::update_config(r, entries, &path);
    Some(ServiceDraft {
        name: name.to_string(),
        node,
        image,
        env,
        ports: named_entries(r, get_set(entries, "ports"), &format_args!("{path}/ports")),
        limits: named_entries(
            r,
            get_set(entries, "limits"),
            &format_args!("{path}/limits"),
        ),
        lifecycle: get_set(entries, "lifecycle"),
        requires: name_list(
            r,
            get_set(entries, "requires"),
            &format_args!("{path}/requires"),
        ),
        wants_info: name_list(
            r,
            get_set(entries, "wants_info"),
            &format_args!("{path}/wants_info"),
        ),
        omit,
        hooks: hooks::hooks(r, entries, &path),
        secrets,
        proxy: proxy::route(r, entries, &path, cx.base_dir),
        update,
        order,
    })
}

/// A list of names (`requires`, `wants_info`): a list, or one name.
fn name_list<'n>(
    r: &mut Reader,
    node: Option<&'n Node>,
    path: &KeyPath,
) -> Vec<(String, &'n Node)> {
    let Some(node) = node else { return Vec::new() };
    let items: Vec<&Node> = match &node.value {
        Value::Seq(items) => items.iter().collect(),
        Value::Null => Vec::new(),
        _ => vec![node],
    };
    items
        .into_iter()
        .enumerate()
        .filter_map(|(i, n)| {
            r.name(n, &format_args!("{path}[{i}]"), "a service name")
                .map(|s| (s, n))
        })
        .collect()
}
