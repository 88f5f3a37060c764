//! The top of the file: its shape, `__maestro.schema`, the environment's
//! `name`, `ship_provider`, and the keys MaestroNG took that mean nothing to
//! today's engines (warned about wherever they are set).
//! A leaf: imports no other module of the build.

use crate::pyfmt;
use crate::reader::{get, get_set, show, Reader};
use crate::yaml::{Node, Value};

/// The entries of the top-level mapping; `None` (with the error) when the
/// file is empty or not a mapping.
pub(super) fn top_entries<'n>(r: &mut Reader, root: &'n Node) -> Option<&'n [(Node, Node)]> {
    match &root.value {
        Value::Map(entries) => Some(entries.as_slice()),
        Value::Null => {
            r.error(
                root,
                &"environment",
                "the file is empty; expected a mapping with `name`, `ships` and `services`",
            );
            None
        }
        _ => {
            r.expected(
                root,
                &"environment",
                "a mapping with `name`, `ships` and `services`",
            );
            None
        }
    }
}

/// The schema the file says (`__maestro.schema`), 1 when it says none.
pub(super) fn schema(r: &mut Reader, top: &[(Node, Node)]) -> u8 {
    match get_set(top, "__maestro")
        .and_then(|m| r.map(m, &"__maestro"))
        .and_then(|m| get_set(m, "schema"))
    {
        None => 1,
        Some(node) => schema_value(r, node),
    }
}

/// The environment's `name` (empty, with the error, when it has none).
pub(super) fn name(r: &mut Reader, root: &Node, top: &[(Node, Node)]) -> String {
    match get_set(top, "name") {
        Some(node) => r
            .name(node, &"name", "the environment's name")
            .unwrap_or_default(),
        None => {
            r.error(
                root,
                &"environment",
                "missing required key `name` (the environment's name)",
            );
            String::new()
        }
    }
}

/// `ship_provider`, when given, must be MaestroNG's only one: `static`.
pub(super) fn check_ship_provider(r: &mut Reader, top: &[(Node, Node)]) {
    if let Some(node) = get_set(top, "ship_provider") {
        if node.as_str() != Some("static") {
            r.error(
                node,
                &"ship_provider",
                format!("unknown ship provider {}; expected \"static\"", show(node)),
            );
        }
    }
}

/// Keys MaestroNG passed on that mean nothing to today's engines, and why.
const OBSOLETE_KEYS: &[(&str, &str)] = &[
    (
        "lxc_conf",
        "it configured Docker's LXC execution driver, which Docker 1.10 removed",
    ),
    (
        "ssl_version",
        "the TLS version to an engine is negotiated (1.2 or 1.3, what engines speak today)",
    ),
];

/// Warns once per key of [`OBSOLETE_KEYS`] that the file sets (an instance's
/// `lxc_conf`, a ship's or `ship_defaults`' `ssl_version`), at its first
/// place, counting the others: MaestroNG took them silently, and they are
/// still accepted.
pub(super) fn obsolete_keys(r: &mut Reader, top: &[(Node, Node)]) {
    fn entries(node: Option<&Node>) -> &[(Node, Node)] {
        node.and_then(Node::as_map).unwrap_or(&[])
    }
    /// `key`'s key node in `map`, when it is set.
    fn set<'n>(map: &'n [(Node, Node)], key: &str) -> Option<&'n Node> {
        map.iter()
            .find(|(k, v)| k.as_str() == Some(key) && !v.is_null())
            .map(|(k, _)| k)
    }
    // (key, where it is set, the path of the mapping holding it)
    let mut found: Vec<(&str, &Node, String)> = Vec::new();
    if let Some(k) = set(entries(get(top, "ship_defaults")), "ssl_version") {
        found.push(("ssl_version", k, "ship_defaults".into()));
    }
    for (name, ship) in entries(get(top, "ships")) {
        if let Some(k) = set(entries(Some(ship)), "ssl_version") {
            let path = format!("ships/{}", pyfmt::key_text(&name.value));
            found.push(("ssl_version", k, path));
        }
    }
    for (sname, service) in entries(get(top, "services")) {
        for (iname, instance) in entries(get(entries(Some(service)), "instances")) {
            if let Some(k) = set(entries(Some(instance)), "lxc_conf") {
                let path = format!(
                    "services/{}/instances/{}",
                    pyfmt::key_text(&sname.value),
                    pyfmt::key_text(&iname.value)
                );
                found.push(("lxc_conf", k, path));
            }
        }
    }
    found.sort_by_key(|(_, node, _)| (node.mark.line, node.mark.column));
    let mut warned: Vec<&str> = Vec::new();
    for (key, node, path) in &found {
        if warned.contains(key) {
            continue;
        }
        warned.push(key);
        let count = found.iter().filter(|(k, _, _)| k == key).count();
        let why = OBSOLETE_KEYS
            .iter()
            .find(|(k, _)| k == key)
            .map_or("", |(_, why)| why);
        let others = match count - 1 {
            0 => String::new(),
            1 => " (also set in 1 other place)".to_owned(),
            n => format!(" (also set in {n} other places)"),
        };
        r.warn(node, path, format!("`{key}` is ignored: {why}{others}"));
    }
}

/// `__maestro.schema`: `1`, `2`, or the mapping form `{version: 2}`.
/// MaestroNG tests only `schema == 1`, so it reads every mapping as schema 2,
/// whatever its `version` says; a mapping means 2 here too, with a warning
/// when its `version` is not 2.
fn schema_value(r: &mut Reader, node: &Node) -> u8 {
    const PATH: &str = "__maestro/schema";
    match &node.value {
        Value::Int(1) => 1,
        Value::Int(2) => 2,
        Value::Map(entries) => {
            let version = get_set(entries, "version");
            if version.is_none_or(|v| v.value != Value::Int(2)) {
                let (at, found) = match version {
                    Some(v) => (v, format!("`version: {}`", show(v))),
                    None => (node, "no `version`".to_owned()),
                };
                r.warn(at, &PATH, format!(
                    "a mapping with {found} is read as schema 2, as MaestroNG reads any mapping here; write `schema: 1` for schema 1, or `version: 2`"
                ));
            }
            2
        }
        _ => {
            r.expected(node, &PATH, "1, 2 or {version: 2}");
            1
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::build::tests::load;

    /// Host path -> container path under schema 2; the other way round under 1.
    const SCHEMA_VOLUMES: &str = "name: t
ships: {s1: {ip: 10.0.0.1}}
services:
  files:
    image: f
    instances:
      files-1:
        ship: s1
        volumes: {/srv/files: /files}
";

    #[test]
    fn schema_in_the_mapping_form_means_schema_2() {
        let env = load(&format!(
            "__maestro:\n  schema: {{version: 2}}\n{SCHEMA_VOLUMES}"
        ))
        .expect("the mapping form is accepted");
        assert_eq!(env.schema, 2);
        let v = &env.containers["files-1"].volumes[0];
        assert_eq!(
            (v.host.as_str(), v.target.as_str()),
            ("/srv/files", "/files")
        );
        assert!(env.warnings.is_empty(), "{:?}", env.warnings);

        let env = load(&format!("__maestro: {{schema: 1}}\n{SCHEMA_VOLUMES}")).expect("schema 1");
        let v = &env.containers["files-1"].volumes[0];
        assert_eq!(
            (env.schema, v.host.as_str(), v.target.as_str()),
            (1, "/files", "/srv/files")
        );
    }

    /// MaestroNG compares the value with 1 only, so any mapping is schema 2,
    /// `{version: 1}` included: the same here, said in a located warning.
    #[test]
    fn a_schema_mapping_without_version_2_is_schema_2_with_a_warning() {
        for (schema, at, found) in [
            ("{version: 1}", "t.yaml:2:21:", "`version: 1`"),
            ("{version: \"2\"}", "t.yaml:2:21:", "`version: \"2\"`"),
            ("{other: 2}", "t.yaml:2:11:", "no `version`"),
        ] {
            let env = load(&format!("__maestro:\n  schema: {schema}\n{SCHEMA_VOLUMES}"))
                .unwrap_or_else(|e| panic!("{schema}: {e}"));
            assert_eq!(env.schema, 2, "{schema}");
            assert_eq!(env.containers["files-1"].volumes[0].host, "/srv/files");
            assert_eq!(env.warnings.len(), 1, "{schema}: {:?}", env.warnings);
            let text = env.warnings[0].to_string();
            assert!(text.starts_with(at), "{schema}: {text}");
            assert!(text.contains(found), "{schema}: {text}");
            assert!(text.contains("read as schema 2"), "{schema}: {text}");
        }
    }

    /// Keys MaestroNG took that today's engines have no use for: one located
    /// warning each, at the first place, however many places set it.
    #[test]
    fn obsolete_keys_warn_once_each() {
        let env = load(
            "name: t
ship_defaults: {ssl_version: TLSv1}
ships:
  s1: {ip: 10.0.0.1, ssl_version: TLSv1_2}
  s2: {ip: 10.0.0.2}
services:
  web:
    image: nginx
    instances:
      web-1: {ship: s1, lxc_conf: {lxc.utsname: web}}
      web-2: {ship: s2, lxc_conf: {lxc.utsname: web}}
      web-3: {ship: s2, lxc_conf: {lxc.utsname: web}}
      web-4: {ship: s2, lxc_conf: null}
",
        )
        .expect("still a valid file");
        let warnings: Vec<String> = env.warnings.iter().map(ToString::to_string).collect();
        assert_eq!(
            warnings,
            [
                "t.yaml:2:17: ship_defaults: `ssl_version` is ignored: the TLS version to an engine is negotiated (1.2 or 1.3, what engines speak today) (also set in 1 other place)",
                "t.yaml:10:25: services/web/instances/web-1: `lxc_conf` is ignored: it configured Docker's LXC execution driver, which Docker 1.10 removed (also set in 2 other places)",
            ]
        );
        assert_eq!(env.ships["s1"].ssl_version.as_deref(), Some("TLSv1_2"));

        let env = load("name: t\nships: {s1: {ip: 10.0.0.1}}\nservices: {}\n").expect("valid");
        assert!(env.warnings.is_empty(), "{:?}", env.warnings);
    }
}
