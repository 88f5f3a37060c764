//! An instance's networking: the engine networks it joins (`networks`, its
//! own or its service's), its network mode (`net`), its `extra_hosts` (an
//! address, or a ship's) and its `dns` servers.
//! Imports only `drafts` (the container it attaches to networks).

use std::collections::BTreeSet;

use indexmap::IndexMap;

use super::drafts::ContainerDraft;
use crate::model::{Network, Ship};
use crate::pyfmt;
use crate::reader::{get_set, show, unknown, Item, KeyPath, Reader};
use crate::yaml::{Node, Value};

/// The container's `networks` (the instance's, else its service's).
pub(super) fn attach(
    r: &mut Reader,
    c: &mut ContainerDraft,
    service_node: &Node,
    networks: &IndexMap<String, Network>,
) {
    let me = &c.container;
    let instance = c.node.as_map().unwrap_or(&[]);
    let at = format_args!("services/{}/instances/{}", me.service, me.name);
    let (node, path) = match get_set(instance, "networks") {
        Some(n) => (n, format!("{at}/networks")),
        None => match get_set(service_node.as_map().unwrap_or(&[]), "networks") {
            Some(n) => (n, format!("services/{}/networks", me.service)),
            None => return,
        },
    };
    let net = get_set(instance, "net").map(|n| (n, format!("{at}/net")));
    c.container.options.networks = crate::objects::attachments(r, node, &path, networks, net);
}

/// `extra_hosts`: host name to an address, or to `{ship: NAME}` (the ship's `ip`).
pub(super) fn extra_hosts(
    r: &mut Reader,
    entries: &[(Node, Node)],
    path: &KeyPath,
    ships: &IndexMap<String, Ship>,
) -> IndexMap<String, String> {
    let at = format_args!("{path}/extra_hosts");
    let mut out = IndexMap::new();
    let Some(n) = get_set(entries, "extra_hosts") else {
        return out;
    };
    for (k, v) in r.map(n, &at).unwrap_or(&[]) {
        let Some(host) = r.key(k, &at) else {
            continue;
        };
        let hpath = format_args!("{at}/{host}");
        if let Some(a) = extra_host_address(r, v, &hpath, ships) {
            out.insert(host, a);
        }
    }
    out
}

fn extra_host_address(
    r: &mut Reader,
    v: &Node,
    hpath: &KeyPath,
    ships: &IndexMap<String, Ship>,
) -> Option<String> {
    match &v.value {
        Value::Map(m) => match get_set(m, "ship") {
            Some(sn) => {
                let s = r.name(sn, &format_args!("{hpath}/ship"), "a ship name")?;
                match ships.get(&s) {
                    Some(ship) => Some(ship.ip.clone()),
                    None => {
                        let known: BTreeSet<&str> = ships.keys().map(String::as_str).collect();
                        r.error(
                            sn,
                            &format_args!("{hpath}/ship"),
                            unknown("ship", &s, &known),
                        );
                        None
                    }
                }
            }
            None => {
                r.expected(v, hpath, "an address or {ship: NAME}");
                None
            }
        },
        Value::Str(s) => Some(s.clone()),
        _ => {
            r.expected(v, hpath, "an address or {ship: NAME}");
            None
        }
    }
}

/// `net`: bridge, host, none or container:NAME (NAME checked later, once
/// every container is known).
pub(super) fn network_mode(
    r: &mut Reader,
    entries: &[(Node, Node)],
    path: &KeyPath,
) -> Option<String> {
    let at = format_args!("{path}/net");
    let n = get_set(entries, "net")?;
    let net = r.string(n, &at)?;
    let ok = matches!(net.as_str(), "bridge" | "host" | "none")
        || net
            .strip_prefix("container:")
            .is_some_and(|c| !c.is_empty());
    if !ok {
        r.error(
            n,
            &at,
            format!(
                "unknown network mode {}; expected bridge, host, none or container:NAME",
                show(n)
            ),
        );
    }
    Some(net)
}

/// `dns`: one DNS server's IP address, or a list of them.
pub(super) fn dns(r: &mut Reader, node: Option<&Node>, path: &KeyPath) -> Vec<String> {
    let Some(node) = node else {
        return Vec::new();
    };
    let items: Vec<(&Node, Item)> = match &node.value {
        Value::Null => return Vec::new(),
        Value::Seq(items) => items
            .iter()
            .enumerate()
            .map(|(i, item)| (item, Item(path, Some(i))))
            .collect(),
        _ => vec![(node, Item(path, None))],
    };
    let mut out = Vec::new();
    for (item, at) in items {
        match &item.value {
            Value::Str(s) if s.trim().parse::<std::net::IpAddr>().is_ok() => {
                out.push(s.trim().to_owned())
            }
            other => {
                let shown = pyfmt::str_of(other);
                r.error(
                    item,
                    &at,
                    format!(
                        "`{shown}` is not an IP address; expected a DNS server's address (e.g. 10.0.0.2), or a list of them"
                    ),
                );
            }
        }
    }
    out
}
