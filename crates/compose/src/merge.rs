//! Merging normalized services and resources as the Compose Specification
//! merges files (and `extends` merges a service onto its base): mappings key
//! by key, scalars replaced, most lists appended; `command`, `entrypoint` and
//! `healthcheck.test` replaced; `ports`, `volumes`, `secrets`, `configs`
//! unique by their key; `!reset` and `!override` honoured. A leaf.

use serde_json::{Map, Value as Json};

/// The marker a `!reset` value leaves in a file's model until merged.
pub const RESET: &str = "\u{0}reset";
/// The wrapper a `!override` value leaves in a file's model until merged.
pub const OVERRIDE: &str = "\u{0}override";

/// Lists whose items are kept once each.
const UNIQUE_VALUES: &[&str] = &[
    "cap_add",
    "cap_drop",
    "device_cgroup_rules",
    "dns",
    "dns_opt",
    "dns_search",
    "expose",
    "external_links",
    "extra_hosts",
    "group_add",
    "links",
    "profiles",
    "security_opt",
    "tmpfs",
    "volumes_from",
    "env_file",
];

fn marker(v: &Json, which: &str) -> bool {
    v.as_object()
        .is_some_and(|m| m.len() == 1 && m.contains_key(which))
}

/// Merges `over` onto `base`, one service's keys.
pub fn service(base: &mut Map<String, Json>, over: Map<String, Json>) {
    for (k, v) in over {
        if marker(&v, RESET) {
            base.remove(&k);
            continue;
        }
        if let Some(inner) = v
            .as_object()
            .filter(|_| marker(&v, OVERRIDE))
            .and_then(|m| m.get(OVERRIDE))
        {
            base.insert(k, inner.clone());
            continue;
        }
        let Some(old) = base.get_mut(&k) else {
            base.insert(k, v);
            continue;
        };
        match k.as_str() {
            "command" | "entrypoint" => *old = v,
            x if x.starts_with("x-") => *old = v,
            "logging" => logging(old, v),
            "healthcheck" => {
                if let (Some(o), Json::Object(n)) = (old.as_object_mut(), v) {
                    for (hk, hv) in n {
                        o.insert(hk, hv);
                    }
                }
            }
            "ports" => unique_by(old, v, port_key),
            "volumes" => unique_by(old, v, |p| {
                p.get("target").map(Json::to_string).unwrap_or_default()
            }),
            "secrets" | "configs" => unique_by(old, v, |p| {
                let target = p.get("target").and_then(Json::as_str);
                let source = p.get("source").and_then(Json::as_str).unwrap_or_default();
                target.map_or_else(|| format!("/{source}"), str::to_string)
            }),
            x if UNIQUE_VALUES.contains(&x) => unique_by(old, v, Json::to_string),
            _ => value(old, v),
        }
    }
}

/// A port's identity when merging, as compose-go's: host IP (`0.0.0.0`
/// when not written), published port, target and protocol.
fn port_key(p: &Json) -> String {
    let text = |k: &str| match p.get(k) {
        Some(Json::String(s)) => s.clone(),
        Some(Json::Null) | None => String::new(),
        Some(other) => other.to_string(),
    };
    let host = match text("host_ip") {
        h if h.is_empty() => "0.0.0.0".to_string(),
        h => h,
    };
    let protocol = match text("protocol") {
        p if p.is_empty() => "tcp".to_string(),
        p => p,
    };
    format!("{host}:{}:{}/{protocol}", text("published"), text("target"))
}

/// `logging`: merged key by key when both name the same driver (or one
/// names none); a different driver replaces the whole mapping.
fn logging(old: &mut Json, over: Json) {
    let driver = |v: &Json| v.get("driver").cloned();
    match (driver(old), driver(&over)) {
        (Some(a), Some(b)) if a != b => *old = over,
        _ => value(old, over),
    }
}

/// Appends the items of `over` whose key no item of `base` has; an item
/// with the key of one in `base` replaces it in place.
fn unique_by(base: &mut Json, over: Json, key: impl Fn(&Json) -> String) {
    let (Some(items), Json::Array(new)) = (base.as_array_mut(), over) else {
        return;
    };
    for item in new {
        let k = key(&item);
        match items.iter_mut().find(|i| key(i) == k) {
            Some(slot) => *slot = item,
            None => items.push(item),
        }
    }
}

/// The general rule: mappings merged key by key, lists appended, anything
/// else replaced; a null over a value keeps the value.
pub fn value(base: &mut Json, over: Json) {
    match (base, over) {
        (Json::Object(b), Json::Object(o)) => {
            for (k, v) in o {
                if marker(&v, RESET) {
                    b.remove(&k);
                    continue;
                }
                if k.starts_with("x-") {
                    b.insert(k, v);
                    continue;
                }
                match b.get_mut(&k) {
                    Some(old) => value(old, v),
                    None => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (Json::Array(b), Json::Array(o)) => b.extend(o),
        (_, Json::Null) => {}
        (b, o) => *b = o,
    }
}

/// Removes the markers a file's model may still hold (a `!reset` with
/// nothing under it, an `!override` with nothing to override).
pub fn strip_markers(v: &mut Json) {
    if let Json::Object(m) = v {
        m.retain(|_, x| !marker(x, RESET));
        for x in m.values_mut() {
            if marker(x, OVERRIDE) {
                let inner = x.get(OVERRIDE).cloned().unwrap_or(Json::Null);
                *x = inner;
            }
            strip_markers(x);
        }
    } else if let Json::Array(items) = v {
        items.iter_mut().for_each(strip_markers);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn rules() {
        let mut base = json!({"command": ["a"], "dns": ["1.1.1.1"], "ports": [{"target": 80, "published": "8080"}],
            "environment": {"A": "1", "B": "2"}, "volumes": [{"target": "/w", "source": "foo"}]})
        .as_object()
        .cloned()
        .unwrap_or_default();
        let over = json!({"command": ["b"], "dns": ["8.8.8.8", "1.1.1.1"], "ports": [{"target": 80, "published": "8080"}, {"target": 443}],
            "environment": {"B": "3"}, "volumes": [{"target": "/w", "source": "bar"}]});
        service(&mut base, over.as_object().cloned().unwrap_or_default());
        assert_eq!(
            Json::Object(base),
            json!({"command": ["b"], "dns": ["1.1.1.1", "8.8.8.8"], "ports": [{"target": 80, "published": "8080"}, {"target": 443}],
                "environment": {"A": "1", "B": "3"}, "volumes": [{"target": "/w", "source": "bar"}]})
        );
    }
}
