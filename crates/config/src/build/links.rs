//! An instance's `links`: the containers it links to, each with its alias
//! (the target checked by `references`, the link variables made by
//! `finish`). A leaf: imports no other module of the build.

use indexmap::IndexMap;

use crate::reader::{get_set, KeyPath, Reader};
use crate::yaml::Node;

/// The instance's `links`: target container to alias (the target's own name
/// when none is given), and the key node of each target.
pub(super) fn links<'n>(
    r: &mut Reader,
    entries: &'n [(Node, Node)],
    path: &KeyPath,
) -> (IndexMap<String, String>, Vec<(&'n Node, String)>) {
    let at = format_args!("{path}/links");
    let mut links = IndexMap::new();
    let mut link_nodes = Vec::new();
    let Some(n) = get_set(entries, "links") else {
        return (links, link_nodes);
    };
    for (k, v) in r.map(n, &at).unwrap_or(&[]) {
        let Some(target) = r.key(k, &at) else {
            continue;
        };
        let alias = if v.is_null() {
            Some(target.clone())
        } else {
            r.name(v, &format_args!("{at}/{target}"), "an alias")
        };
        if let Some(alias) = alias {
            links.insert(target.clone(), alias);
            link_nodes.push((k, target));
        }
    }
    (links, link_nodes)
}
