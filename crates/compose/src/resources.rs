//! The top-level `networks`, `volumes`, `secrets` and `configs` of one file.
//! Their `name` defaults are filled in once the project's name is known.

use serde_json::{json, Map, Value as Json};

use crate::convert::{to_json, FileCtx};
use crate::error::ComposeError;
use crate::yaml::{Node, Value};

/// The keys each kind of resource may have.
fn keys(kind: &str) -> &'static [&'static str] {
    match kind {
        "networks" => &[
            "name",
            "driver",
            "driver_opts",
            "ipam",
            "external",
            "internal",
            "attachable",
            "labels",
            "enable_ipv6",
            "enable_ipv4",
        ],
        "volumes" => &["name", "driver", "driver_opts", "external", "labels"],
        "secrets" => &[
            "name",
            "file",
            "environment",
            "external",
            "labels",
            "driver",
            "driver_opts",
            "template_driver",
        ],
        _ => &[
            "name",
            "file",
            "environment",
            "content",
            "external",
            "labels",
            "template_driver",
        ],
    }
}

pub fn section(
    fc: &FileCtx,
    kind: &str,
    node: &Node,
    home: Option<&str>,
) -> Result<Map<String, Json>, ComposeError> {
    let mut out = Map::new();
    if matches!(node.value, Value::Null) {
        return Ok(out);
    }
    for (name, _, v) in fc.map(node, kind)? {
        let p = format!("{kind}/{name}");
        out.insert(name.clone(), one(fc, kind, name, v, &p, home)?);
    }
    Ok(out)
}

fn one(
    fc: &FileCtx,
    kind: &str,
    name: &str,
    node: &Node,
    path: &str,
    home: Option<&str>,
) -> Result<Json, ComposeError> {
    let mut m = Map::new();
    let entries = match &node.value {
        Value::Null => &[][..],
        Value::Map(e) => e.as_slice(),
        _ => return Err(fc.expected(node, path, "a mapping or null")),
    };
    for (k, _, v) in entries {
        let p = format!("{path}/{k}");
        if k.starts_with("x-") {
            m.insert(k.clone(), to_json(v));
            continue;
        }
        if !keys(kind).contains(&k.as_str()) {
            return Err(fc.err(
                v,
                &p,
                format!(
                    "unknown key `{k}` in {kind}/{name}; expected one of {}",
                    keys(kind).join(", ")
                ),
            ));
        }
        let value = match k.as_str() {
            "name" | "driver" | "environment" | "content" | "template_driver" => {
                json!(fc.string(v, &p)?)
            }
            "file" => json!(fc.host_path(&fc.string(v, &p)?, home)),
            "internal" | "attachable" | "enable_ipv6" | "enable_ipv4" => json!(fc.boolean(v, &p)?),
            "driver_opts" | "labels" => fc.labels(v, &p)?,
            "external" => match &v.value {
                // The old form `external: {name: x}`: the name moves to `name`.
                Value::Map(_) => {
                    if let Some(n) = v.get("name") {
                        m.insert("name".into(), json!(fc.string(n, &format!("{p}/name"))?));
                    }
                    json!(true)
                }
                _ => json!(fc.boolean(v, &p)?),
            },
            _ => to_json(v),
        };
        if k == "external" && value == json!(false) {
            continue;
        }
        m.insert(k.clone(), value);
    }
    if kind == "networks" {
        m.entry("ipam").or_insert(json!({}));
    }
    if matches!(kind, "secrets" | "configs")
        && !["file", "environment", "content", "external"]
            .iter()
            .any(|k| m.contains_key(*k))
    {
        return Err(fc.err(
            node,
            path,
            format!("{kind}/{name} needs one of file, environment, content or external"),
        ));
    }
    Ok(Json::Object(m))
}
