//! `registries`: where images are pulled from, with their credentials and
//! how a failing pull is retried.
//! A leaf: imports no other module of the build.

use indexmap::IndexMap;

use crate::model::{Registry, Retry, Secret};
use crate::reader::{get_set, KeyPath, Reader};
use crate::yaml::{Node, Value};

pub(super) fn registries(r: &mut Reader, node: Option<&Node>) -> IndexMap<String, Registry> {
    let mut out = IndexMap::new();
    let Some(node) = node else { return out };
    for (key, value) in r.map(node, &"registries").unwrap_or(&[]) {
        let Some(name) = r.key(key, &"registries") else {
            continue;
        };
        let path = format_args!("registries/{name}");
        let Some(entries) = r.map(value, &path) else {
            continue;
        };
        r.unknown_keys(entries, &path, crate::keys::REGISTRY);
        let text = |r: &mut Reader, k: &str| {
            get_set(entries, k).and_then(|n| r.string(n, &format_args!("{path}/{k}")))
        };
        let registry = text(r, "registry").unwrap_or_else(|| name.clone());
        let username = text(r, "username");
        let password = text(r, "password").map(Secret::new);
        let email = text(r, "email");
        let retry = match get_set(entries, "retry") {
            Some(rn) => retry(r, rn, &format_args!("{path}/retry")),
            None => one_attempt(),
        };
        out.insert(
            name.clone(),
            Registry {
                name,
                registry,
                username,
                password,
                email,
                retry,
            },
        );
    }
    out
}

/// A pull tried once.
fn one_attempt() -> Retry {
    Retry {
        attempts: 1,
        when: Vec::new(),
    }
}

/// A registry's `retry`: how many attempts, on which HTTP status codes.
fn retry(r: &mut Reader, rn: &Node, rpath: &KeyPath) -> Retry {
    let mut retry = one_attempt();
    let Some(re) = r.map(rn, rpath) else {
        return retry;
    };
    r.unknown_keys(re, rpath, crate::keys::RETRY);
    if let Some(a) = get_set(re, "attempts") {
        retry.attempts = r
            .integer(a, &format_args!("{rpath}/attempts"), 1, 1000)
            .unwrap_or(1) as u32;
    }
    if let Some(w) = get_set(re, "when") {
        let items: Vec<&Node> = match &w.value {
            Value::Seq(items) => items.iter().collect(),
            _ => vec![w],
        };
        for (i, item) in items.into_iter().enumerate() {
            if let Some(code) = r.integer(item, &format_args!("{rpath}/when[{i}]"), 100, 599) {
                retry.when.push(code as u16);
            }
        }
    }
    retry
}
