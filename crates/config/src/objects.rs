//! The engine objects an environment declares beside its containers, with
//! the Compose file format's names: top-level `networks:` and `volumes:`,
//! and each container's `networks:` (a list of names, or a map of name to
//! `{aliases, ipv4_address}`). Checks every reference and the clash of
//! `net` with `networks`, each with a located error.

use std::collections::BTreeSet;
use std::net::Ipv4Addr;

use indexmap::IndexMap;

use crate::model::{NamedVolume, Network, NetworkAttachment, Subnet};
use crate::reader::{get_set, KeyPath, Reader};
use crate::yaml::{Node, Value};

use crate::keys::{NETWORK as NETWORK_KEYS, VOLUME as VOLUME_KEYS};

/// A string map (`driver_opts`), values as Python would print them.
fn string_map(r: &mut Reader, node: Option<&Node>, path: &KeyPath) -> IndexMap<String, String> {
    let mut out = IndexMap::new();
    let Some(node) = node else { return out };
    for (k, v) in r.map(node, path).unwrap_or(&[]) {
        if let Some(key) = r.key(k, path) {
            out.insert(key, crate::pyfmt::env_string(&v.value).unwrap_or_default());
        }
    }
    out
}

/// `external: true` with settings that only a created object has.
fn external_with_settings(r: &mut Reader, entries: &[(Node, Node)], path: &KeyPath, what: &str) {
    for (k, _) in entries {
        let key = crate::pyfmt::key_text(&k.value);
        if !matches!(key.as_str(), "external" | "name") {
            r.error(k, path, format!(
                "`{key}` is set on an external {what}, which maestro never creates; expected only `external` and `name`"
            ));
        }
    }
}

/// The top-level `networks:` map.
pub(crate) fn networks(r: &mut Reader, node: Option<&Node>) -> IndexMap<String, Network> {
    let mut out = IndexMap::new();
    let Some(node) = node else { return out };
    for (k, v) in r.map(node, &"networks").unwrap_or(&[]) {
        let Some(key) = r.key(k, &"networks") else {
            continue;
        };
        let path = format_args!("networks/{key}");
        if !is_volume_name(&key) {
            r.error(k, &"networks", format!(
                "`{key}` is not a network name; expected letters, digits, `_`, `.` or `-`, starting with a letter or digit"
            ));
            continue;
        }
        let Some(entries) = r.map(v, &path) else {
            continue;
        };
        r.unknown_keys(entries, &path, NETWORK_KEYS);
        let text = |r: &mut Reader, k: &str| {
            get_set(entries, k).and_then(|n| r.name(n, &format_args!("{path}/{k}"), "a name"))
        };
        let flag = |r: &mut Reader, k: &str| {
            get_set(entries, k)
                .and_then(|n| r.boolean(n, &format_args!("{path}/{k}")))
                .unwrap_or(false)
        };
        let external = flag(r, "external");
        if external {
            external_with_settings(r, entries, &path, "network");
        }
        let network = Network {
            name: object_name(r, entries, &path, "network").unwrap_or_else(|| key.clone()),
            driver: text(r, "driver"),
            driver_opts: string_map(
                r,
                get_set(entries, "driver_opts"),
                &format_args!("{path}/driver_opts"),
            ),
            labels: crate::reader::labels(
                r,
                get_set(entries, "labels"),
                &format_args!("{path}/labels"),
            ),
            internal: flag(r, "internal"),
            attachable: flag(r, "attachable"),
            subnets: ipam(r, get_set(entries, "ipam"), &format_args!("{path}/ipam")),
            external,
        };
        out.insert(key, network);
    }
    out
}

/// `ipam: {config: [{subnet, gateway, ip_range}]}`.
fn ipam(r: &mut Reader, node: Option<&Node>, path: &KeyPath) -> Vec<Subnet> {
    let mut out = Vec::new();
    let Some(entries) = node.and_then(|n| r.map(n, path)) else {
        return out;
    };
    r.unknown_keys(entries, path, crate::keys::IPAM);
    let Some(config) = get_set(entries, "config") else {
        return out;
    };
    let Value::Seq(items) = &config.value else {
        r.expected(
            config,
            &format_args!("{path}/config"),
            "a list of {subnet, gateway, ip_range}",
        );
        return out;
    };
    for (i, item) in items.iter().enumerate() {
        let ip = format_args!("{path}/config[{i}]");
        let Some(m) = r.map(item, &ip) else { continue };
        r.unknown_keys(m, &ip, crate::keys::IPAM_CONFIG);
        let cidr = |r: &mut Reader, k: &str| {
            get_set(m, k).and_then(|n| {
                let text = r.string(n, &format_args!("{ip}/{k}"))?;
                let ok = text.split_once('/').is_some_and(|(a, bits)| {
                    a.parse::<std::net::IpAddr>().is_ok()
                        && bits.parse::<u8>().is_ok_and(|b| b <= 128)
                });
                if ok {
                    Some(text)
                } else {
                    r.expected(
                        n,
                        &format_args!("{ip}/{k}"),
                        "an address range as \"172.28.0.0/16\"",
                    );
                    None
                }
            })
        };
        let subnet = cidr(r, "subnet");
        let ip_range = cidr(r, "ip_range");
        let gateway =
            get_set(m, "gateway").and_then(|n| address(r, n, &format_args!("{ip}/gateway")));
        match subnet {
            Some(subnet) => out.push(Subnet {
                subnet,
                gateway,
                ip_range,
            }),
            None if get_set(m, "subnet").is_none() => r.error(
                item,
                &ip,
                "missing required key `subnet` (as \"172.28.0.0/16\")",
            ),
            None => {}
        }
    }
    out
}

fn address(r: &mut Reader, n: &Node, p: &KeyPath) -> Option<String> {
    let text = r.string(n, p)?;
    if text.parse::<Ipv4Addr>().is_ok() {
        Some(text)
    } else {
        r.expected(n, p, "an IPv4 address as \"172.28.0.10\"");
        None
    }
}

/// The top-level `volumes:` map.
pub(crate) fn volumes(r: &mut Reader, node: Option<&Node>) -> IndexMap<String, NamedVolume> {
    let mut out = IndexMap::new();
    let Some(node) = node else { return out };
    for (k, v) in r.map(node, &"volumes").unwrap_or(&[]) {
        let Some(key) = r.key(k, &"volumes") else {
            continue;
        };
        let path = format_args!("volumes/{key}");
        if !is_volume_name(&key) {
            r.error(k, &"volumes", format!(
                "`{key}` is not a volume name; expected letters, digits, `_`, `.` or `-`, starting with a letter or digit"
            ));
            continue;
        }
        let Some(entries) = r.map(v, &path) else {
            continue;
        };
        r.unknown_keys(entries, &path, VOLUME_KEYS);
        let external = get_set(entries, "external")
            .and_then(|n| r.boolean(n, &format_args!("{path}/external")))
            .unwrap_or(false);
        if external {
            external_with_settings(r, entries, &path, "volume");
        }
        let volume = NamedVolume {
            name: object_name(r, entries, &path, "volume").unwrap_or_else(|| key.clone()),
            driver: get_set(entries, "driver")
                .and_then(|n| r.name(n, &format_args!("{path}/driver"), "a volume driver")),
            driver_opts: string_map(
                r,
                get_set(entries, "driver_opts"),
                &format_args!("{path}/driver_opts"),
            ),
            labels: crate::reader::labels(
                r,
                get_set(entries, "labels"),
                &format_args!("{path}/labels"),
            ),
            external,
        };
        out.insert(key, volume);
    }
    out
}

/// A name the engine takes for a named volume (not a path).
/// The `name:` of a network or volume (`kind`), when set and valid.
fn object_name(
    r: &mut Reader,
    entries: &[(Node, Node)],
    path: &KeyPath,
    kind: &str,
) -> Option<String> {
    let node = get_set(entries, "name")?;
    let at = format_args!("{path}/name");
    let name = r.name(node, &at, &format!("a {kind} name"))?;
    if is_volume_name(&name) {
        return Some(name);
    }
    r.error(node, &at, format!(
        "`{name}` is not a {kind} name; expected letters, digits, `_`, `.` or `-`, starting with a letter or digit"
    ));
    None
}

/// A name the engine accepts for a container: a volume name of two or more
/// characters (`[a-zA-Z0-9][a-zA-Z0-9_.-]+`).
pub fn is_container_name(s: &str) -> bool {
    s.len() >= 2 && is_volume_name(s)
}

pub fn is_volume_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

/// A container's `networks:` (the instance's, else the service's): each a
/// declared network; `net` beside it is an error.
pub(crate) fn attachments(
    r: &mut Reader,
    node: &Node,
    path: &KeyPath,
    declared: &IndexMap<String, Network>,
    net: Option<(&Node, String)>,
) -> Vec<NetworkAttachment> {
    if let Some((n, net_path)) = net {
        r.error(n, &net_path, "`net` and `networks` are both set; expected `networks` (user-defined networks) or `net` (a network mode), not both");
        return Vec::new();
    }
    let mut out = Vec::new();
    let known: BTreeSet<&str> = declared.keys().map(String::as_str).collect();
    let named = |r: &mut Reader, n: &Node, p: &KeyPath| -> Option<String> {
        let name = r.name(n, p, "a network name")?;
        if declared.contains_key(&name) {
            Some(name)
        } else {
            r.error(
                n,
                p,
                crate::reader::unknown("network", &name, &known).replace(
                    "expected one of",
                    "declare it under the top-level `networks`, or use one of",
                ),
            );
            None
        }
    };
    match &node.value {
        Value::Seq(items) => {
            for (i, item) in items.iter().enumerate() {
                if let Some(network) = named(r, item, &format_args!("{path}[{i}]")) {
                    out.push(NetworkAttachment {
                        network,
                        aliases: Vec::new(),
                        ipv4_address: None,
                    });
                }
            }
        }
        Value::Map(entries) => {
            for (k, v) in entries {
                let Some(network) = named(r, k, path) else {
                    continue;
                };
                let np = format_args!("{path}/{network}");
                let m = r.map(v, &np).unwrap_or(&[]);
                r.unknown_keys(m, &np, crate::keys::ATTACHMENT);
                let aliases = get_set(m, "aliases")
                    .map(|a| r.string_list(a, &format_args!("{np}/aliases")))
                    .unwrap_or_default();
                let ipv4_address = get_set(m, "ipv4_address")
                    .and_then(|a| address(r, a, &format_args!("{np}/ipv4_address")));
                out.push(NetworkAttachment {
                    network,
                    aliases,
                    ipv4_address,
                });
            }
        }
        _ => r.expected(
            node,
            path,
            "a list of network names, or a mapping of name to {aliases, ipv4_address}",
        ),
    }
    let empty = match &node.value {
        Value::Seq(items) => items.is_empty(),
        Value::Map(entries) => entries.is_empty(),
        _ => false,
    };
    if empty {
        r.expected(node, path, "at least one network");
    }
    out
}
