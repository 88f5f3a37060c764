//! Service `volumes` (short `SOURCE:TARGET[:OPTIONS]` and long form) in
//! Compose v2's long form, bind sources made absolute; `devices`.

use serde_json::{json, Map, Value as Json};

use crate::convert::{to_json, FileCtx};
use crate::error::ComposeError;
use crate::session::{RefKind, Session};
use crate::yaml::{Node, Value};

pub fn volumes(
    s: &mut Session,
    fc: &FileCtx,
    service: &str,
    node: &Node,
    path: &str,
) -> Result<Json, ComposeError> {
    let home = s.lookup("HOME");
    let mut out = Vec::new();
    for (i, item) in fc.seq(node, path)?.iter().enumerate() {
        let p = format!("{path}[{i}]");
        let v = match &item.value {
            Value::Str(text) => short(fc, item, &p, text, home.as_deref())?,
            Value::Map(_) => long(fc, item, &p, home.as_deref())?,
            _ => return Err(fc.expected(item, &p, "a volume string or a mapping")),
        };
        if v["type"] == "volume" {
            if let Some(src) = v.get("source").and_then(Json::as_str) {
                s.refer(service, RefKind::Volume, src, fc.loc(item, &p));
            }
        }
        out.push(v);
    }
    Ok(Json::Array(out))
}

fn is_path(source: &str) -> bool {
    source.starts_with('/') || source.starts_with('.') || source.starts_with('~')
}

fn short(
    fc: &FileCtx,
    node: &Node,
    path: &str,
    text: &str,
    home: Option<&str>,
) -> Result<Json, ComposeError> {
    let parts: Vec<&str> = text.split(':').collect();
    let (source, target, options) = match parts.as_slice() {
        [t] => ("", *t, ""),
        [s, t] => (*s, *t, ""),
        [s, t, o] => (*s, *t, *o),
        _ => {
            return Err(fc.err(
                node,
                path,
                format!("invalid volume `{text}`; expected [SOURCE:]TARGET[:OPTIONS]"),
            ))
        }
    };
    if target.is_empty() || (!source.is_empty() && source.trim().is_empty()) {
        return Err(fc.err(
            node,
            path,
            format!("invalid volume `{text}`; expected [SOURCE:]TARGET[:OPTIONS]"),
        ));
    }
    let bind_source = !source.is_empty() && is_path(source);
    let mut m = Map::new();
    m.insert(
        "type".into(),
        json!(if bind_source { "bind" } else { "volume" }),
    );
    if bind_source {
        m.insert("source".into(), json!(fc.host_path(source, home)));
    } else if !source.is_empty() {
        m.insert("source".into(), json!(source));
    }
    m.insert("target".into(), json!(target));
    let mut bind = Map::new();
    let mut volume = Map::new();
    if bind_source {
        bind.insert("create_host_path".into(), json!(true));
    }
    for opt in options.split(',').filter(|o| !o.is_empty()) {
        match opt {
            "ro" => {
                m.insert("read_only".into(), json!(true));
            }
            "rw" => {}
            "z" | "Z" => {
                bind.insert("selinux".into(), json!(opt));
            }
            "nocopy" => {
                volume.insert("nocopy".into(), json!(true));
            }
            "shared" | "rshared" | "slave" | "rslave" | "private" | "rprivate" => {
                bind.insert("propagation".into(), json!(opt));
            }
            "cached" | "delegated" | "consistent" => {
                m.insert("consistency".into(), json!(opt));
            }
            _ => {
                return Err(fc.err(node, path, format!("unknown volume option `{opt}` in `{text}`; expected ro, rw, z, Z, nocopy or a propagation mode")))
            }
        }
    }
    if bind_source {
        m.insert("bind".into(), Json::Object(bind));
    } else {
        m.insert("volume".into(), Json::Object(volume));
    }
    Ok(Json::Object(m))
}

fn long(fc: &FileCtx, node: &Node, path: &str, home: Option<&str>) -> Result<Json, ComposeError> {
    let mut m = Map::new();
    let kind =
        match node.get("type") {
            Some(t) => fc.string(t, &format!("{path}/type"))?,
            None => return Err(fc.err(
                node,
                path,
                "a volume in long form needs `type` (volume, bind, tmpfs, npipe, cluster or image)",
            )),
        };
    for (k, _, v) in fc.map(node, path)? {
        let p = format!("{path}/{k}");
        let value = match k.as_str() {
            "type" => {
                if !matches!(kind.as_str(), "volume" | "bind" | "tmpfs" | "npipe" | "cluster" | "image") {
                    return Err(fc.err(v, &p, format!("unknown volume type `{kind}`; expected volume, bind, tmpfs, npipe, cluster or image")));
                }
                json!(kind)
            }
            "source" if kind == "bind" => json!(fc.host_path(&fc.string(v, &p)?, home)),
            "source" | "target" | "consistency" => json!(fc.string(v, &p)?),
            "read_only" => json!(fc.boolean(v, &p)?),
            "bind" => sub(fc, v, &p, &["propagation", "create_host_path", "selinux", "recursive"])?,
            "volume" => sub(fc, v, &p, &["nocopy", "subpath", "labels"])?,
            "image" => sub(fc, v, &p, &["subpath"])?,
            "tmpfs" => {
                let mut t = Map::new();
                for (tk, _, tv) in fc.map(v, &p)? {
                    let tp = format!("{p}/{tk}");
                    match tk.as_str() {
                        "size" => t.insert(tk.clone(), json!(fc.bytes(tv, &tp)?.to_string())),
                        "mode" => t.insert(tk.clone(), json!(fc.integer(tv, &tp)?)),
                        _ => return Err(fc.err(tv, &tp, format!("unknown key `{tk}` in tmpfs; expected size or mode"))),
                    };
                }
                Json::Object(t)
            }
            x if x.starts_with("x-") => to_json(v),
            _ => return Err(fc.err(v, &p, format!("unknown key `{k}` in a volume; expected type, source, target, read_only, bind, volume, tmpfs or consistency"))),
        };
        m.insert(k.clone(), value);
    }
    if !m.contains_key("target") {
        return Err(fc.err(node, path, "a volume in long form needs `target`"));
    }
    Ok(Json::Object(m))
}

/// A mapping of a few known keys, values kept as written (booleans read).
fn sub(fc: &FileCtx, node: &Node, path: &str, keys: &[&str]) -> Result<Json, ComposeError> {
    let mut out = Map::new();
    for (k, _, v) in fc.map(node, path)? {
        let p = format!("{path}/{k}");
        if !keys.contains(&k.as_str()) {
            return Err(fc.err(
                v,
                &p,
                format!("unknown key `{k}`; expected one of {}", keys.join(", ")),
            ));
        }
        let value = match k.as_str() {
            "create_host_path" | "nocopy" => json!(fc.boolean(v, &p)?),
            _ => to_json(v),
        };
        out.insert(k.clone(), value);
    }
    Ok(Json::Object(out))
}

pub fn devices(fc: &FileCtx, node: &Node, path: &str) -> Result<Json, ComposeError> {
    let mut out = Vec::new();
    for (i, item) in fc.seq(node, path)?.iter().enumerate() {
        let p = format!("{path}[{i}]");
        if item.as_map().is_some() {
            out.push(to_json(item));
            continue;
        }
        let text = fc.string(item, &p)?;
        let parts: Vec<&str> = text.split(':').collect();
        let (source, target, perms) = match parts.as_slice() {
            [s] => (*s, *s, "rwm"),
            [s, t] => (*s, *t, "rwm"),
            [s, t, m] => (*s, *t, *m),
            _ => {
                return Err(fc.err(
                    item,
                    &p,
                    format!(
                    "invalid device `{text}`; expected HOST_PATH[:CONTAINER_PATH[:PERMISSIONS]]"
                ),
                ))
            }
        };
        out.push(json!({"source": source, "target": target, "permissions": perms}));
    }
    Ok(Json::Array(out))
}
