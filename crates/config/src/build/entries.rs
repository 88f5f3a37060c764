//! Named entries of a mapping (a service's or an instance's `ports`,
//! `limits`) and the overlay of an instance's entries on its service's.
//! A leaf: imports no other module of the build.

use crate::reader::{KeyPath, Reader};
use crate::yaml::Node;

/// Named entries of a mapping (ports, limits), keys as text.
pub(super) fn named_entries<'n>(
    r: &mut Reader,
    node: Option<&'n Node>,
    path: &KeyPath,
) -> Vec<(String, &'n Node)> {
    let Some(node) = node else { return Vec::new() };
    r.map(node, path)
        .unwrap_or(&[])
        .iter()
        .filter_map(|(k, v)| r.key(k, path).map(|name| (name, v)))
        .collect()
}

/// Overlays `over` on `base` by name: same names replaced in place, new ones appended.
pub(super) fn overlay<'n>(
    base: &[(String, &'n Node)],
    over: Vec<(String, &'n Node)>,
) -> Vec<(String, &'n Node)> {
    let mut out = base.to_vec();
    for (name, node) in over {
        match out.iter_mut().find(|(n, _)| *n == name) {
            Some(slot) => slot.1 = node,
            None => out.push((name, node)),
        }
    }
    out
}
