//! An instance's storage: bind mounts (`volumes`, whose direction depends on
//! the schema), container-only volumes (`container_volumes`) and the
//! containers whose volumes it shares (`volumes_from`).
//! A leaf: imports no other module of the build.

use crate::model::{Container, VolumeBinding};
use crate::reader::{get_set, KeyPath, Reader};
use crate::yaml::{Node, Value};

const VOLUME_MODES: &[&str] = &[
    "ro",
    "rw",
    "z",
    "Z",
    "shared",
    "slave",
    "private",
    "rshared",
    "rslave",
    "rprivate",
    "nocopy",
    "cached",
    "delegated",
    "consistent",
];

/// An instance's volumes of every kind.
pub(super) struct Storage<'n> {
    pub(super) volumes: Vec<VolumeBinding>,
    pub(super) container_volumes: Vec<String>,
    /// Container names, each once, and where each is written.
    pub(super) volumes_from: Vec<String>,
    pub(super) volumes_from_nodes: Vec<&'n Node>,
}

/// Reads the instance's `volumes`, `container_volumes` (none also
/// bind-mounted) and `volumes_from`.
pub(super) fn storage<'n>(
    r: &mut Reader,
    node: &Node,
    entries: &'n [(Node, Node)],
    path: &KeyPath,
    schema: u8,
) -> Storage<'n> {
    let volumes = volumes(
        r,
        get_set(entries, "volumes"),
        &format_args!("{path}/volumes"),
        schema,
    );
    let container_volumes = container_volumes(r, node, entries, path, &volumes);
    let (volumes_from, volumes_from_nodes) = volumes_from(r, entries, path);
    Storage {
        volumes,
        container_volumes,
        volumes_from,
        volumes_from_nodes,
    }
}

/// The paths a container mounts a volume on.
pub(super) fn volume_targets(c: &Container) -> Vec<&String> {
    c.volumes
        .iter()
        .map(|v| &v.target)
        .chain(c.container_volumes.iter())
        .collect()
}

fn volumes(r: &mut Reader, node: Option<&Node>, path: &KeyPath, schema: u8) -> Vec<VolumeBinding> {
    let mut out: Vec<VolumeBinding> = Vec::new();
    let Some(node) = node else { return out };
    for (k, v) in r.map(node, path).unwrap_or(&[]) {
        let Some(key) = r.string(k, path) else {
            continue;
        };
        let vpath = format_args!("{path}/{key}");
        let binding = if schema == 1 {
            // Schema 1: container path → host path.
            r.string(v, &vpath).map(|host| VolumeBinding {
                host,
                target: key.clone(),
                mode: "rw".into(),
            })
        } else {
            binding(r, &key, v, &vpath)
        };
        if let Some(b) = binding {
            if let Some(other) = out.iter().find(|o| o.target == b.target) {
                r.error(
                    k,
                    &vpath,
                    format!(
                    "`{}` is mounted twice (from `{}` and `{}`); expected each container path once",
                    b.target, other.host, b.host
                ),
                );
                continue;
            }
            out.push(b);
        }
    }
    out
}

/// Schema 2: host path `host` → a container path, or `{target, mode}`.
fn binding(r: &mut Reader, host: &str, v: &Node, vpath: &KeyPath) -> Option<VolumeBinding> {
    match &v.value {
        Value::Str(target) => Some(VolumeBinding {
            host: host.to_owned(),
            target: target.clone(),
            mode: "rw".into(),
        }),
        Value::Map(m) => match get_set(m, "target") {
            Some(t) => {
                let target = r.string(t, &format_args!("{vpath}/target"));
                let mode = match get_set(m, "mode") {
                    Some(mn) => mode(r, mn, &format_args!("{vpath}/mode")),
                    None => Some("rw".into()),
                };
                match (target, mode) {
                    (Some(target), Some(mode)) => Some(VolumeBinding {
                        host: host.to_owned(),
                        target,
                        mode,
                    }),
                    _ => None,
                }
            }
            None => {
                r.error(
                    v,
                    vpath,
                    "missing required key `target` (the path inside the container)",
                );
                None
            }
        },
        _ => {
            r.expected(v, vpath, "a container path or {target: PATH, mode: ro|rw}");
            None
        }
    }
}

/// A bind mount's `mode`: options of [`VOLUME_MODES`], comma-separated.
fn mode(r: &mut Reader, mn: &Node, mpath: &KeyPath) -> Option<String> {
    r.string(mn, mpath).filter(|mode| {
        let bad: Vec<&str> = mode
            .split(',')
            .filter(|o| !VOLUME_MODES.contains(o))
            .collect();
        if bad.is_empty() {
            true
        } else {
            r.error(mn, mpath, format!(
                "unknown volume mode `{}`; expected ro or rw, optionally with z, Z, shared, slave, private, nocopy (e.g. \"ro,Z\")",
                bad.join(",")
            ));
            false
        }
    })
}

/// `container_volumes`, none of them also a bind mount's target.
fn container_volumes(
    r: &mut Reader,
    node: &Node,
    entries: &[(Node, Node)],
    path: &KeyPath,
    volumes: &[VolumeBinding],
) -> Vec<String> {
    let at = format_args!("{path}/container_volumes");
    let container_volumes = get_set(entries, "container_volumes")
        .map(|n| r.string_list(n, &at))
        .unwrap_or_default();
    for v in volumes {
        if container_volumes.contains(&v.target) {
            let node = get_set(entries, "container_volumes").unwrap_or(node);
            r.error(node, &at, format!(
                "`{}` is both bind-mounted (from `{}`) and a container-only volume; expected each target once",
                v.target, v.host
            ));
        }
    }
    container_volumes
}

/// `volumes_from`: one container name or a list, each kept once, with the
/// node it is written at.
fn volumes_from<'n>(
    r: &mut Reader,
    entries: &'n [(Node, Node)],
    path: &KeyPath,
) -> (Vec<String>, Vec<&'n Node>) {
    let Some(n) = get_set(entries, "volumes_from") else {
        return (Vec::new(), Vec::new());
    };
    let nodes: Vec<&Node> = match &n.value {
        Value::Seq(items) => items.iter().collect(),
        _ => vec![n],
    };
    let mut names = Vec::new();
    let mut kept = Vec::new();
    for (i, item) in nodes.into_iter().enumerate() {
        if let Some(s) = r.name(
            item,
            &format_args!("{path}/volumes_from[{i}]"),
            "a container name",
        ) {
            if !names.contains(&s) {
                names.push(s);
                kept.push(item);
            }
        }
    }
    (names, kept)
}
