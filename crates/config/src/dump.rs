//! The `dump` document: the fully resolved environment as JSON, secrets shown
//! as `***`; and the `dump --config` document, masked the same way.

use serde_json::{json, Map, Value};

use crate::model::*;

fn checks(list: &[Check]) -> Value {
    Value::Array(
        list.iter()
            .map(|c| match c {
                Check::Tcp { port, max_wait } => json!({"type": "tcp", "port": port, "max_wait": max_wait}),
                Check::Http { port, host, path, scheme, method, match_regex, max_wait, options } => json!({
                    "type": "http",
                    "port": match port { HttpPort::Named(n) => json!(n), HttpPort::Number(n) => json!(n) },
                    "host": host, "path": path, "scheme": scheme, "method": method,
                    "match_regex": match_regex, "max_wait": max_wait,
                    "requests_options": {
                        "verify": options.verify, "timeout": options.timeout, "headers": masked_headers(&options.headers),
                        "auth": options.auth.as_ref().map(|(u, _)| json!([u, "***"])),
                    },
                }),
                Check::Exec { command, attempts, envfrom } => json!({
                    "type": "exec", "command": command, "attempts": attempts,
                    "envfrom": match envfrom { EnvFrom::Env => "env", EnvFrom::Stdin => "stdin" },
                }),
                Check::Rexec { command, attempts } => json!({"type": "rexec", "command": command, "attempts": attempts}),
                Check::Sleep { wait } => json!({"type": "sleep", "wait": wait}),
                Check::Healthy { max_wait } => json!({"type": "healthy", "max_wait": max_wait}),
            })
            .collect(),
    )
}

fn port_json(p: &PortMapping) -> Value {
    json!({"exposed": p.exposed.to_string(), "external_ip": p.external_ip, "external": p.external.to_string()})
}

/// A container's final environment, sorted by name, serialized from
/// borrowed strings (environments can hold millions of entries).
struct SortedEnv<'a>(Vec<(&'a str, Option<&'a str>)>);

impl<'a> SortedEnv<'a> {
    fn of(c: &'a Container) -> Self {
        SortedEnv(c.env.sorted())
    }
}

impl serde::Serialize for SortedEnv<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

/// A container as streamed by `dump`: its settings, with the environment
/// written right after the image.
struct ContainerDoc<'a>(&'a Container);

impl serde::Serialize for ContainerDoc<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let Value::Object(fields) = settings(self.0) else {
            return s.serialize_none();
        };
        let mut map = s.serialize_map(Some(fields.len() + 1))?;
        for (k, v) in &fields {
            map.serialize_entry(k, v)?;
            if k == "image" {
                map.serialize_entry("env", &SortedEnv::of(self.0))?;
            }
        }
        map.end()
    }
}

/// Every setting of a container but its environment.
fn settings(c: &Container) -> Value {
    let mut volumes: Vec<&VolumeBinding> = c.volumes.iter().collect();
    volumes.sort_by(|a, b| (&a.target, &a.host).cmp(&(&b.target, &b.host)));
    let lifecycle: Map<String, Value> = c
        .lifecycle
        .states()
        .iter()
        .filter(|(_, list)| !list.is_empty())
        .map(|(state, list)| (state.to_string(), checks(list)))
        .collect();
    let mut out = json!({
        "service": c.service,
        "ship": c.ship,
        "image": c.image,
        "ports": c.ports.iter().map(|(k, p)| (k.clone(), port_json(p))).collect::<Map<String, Value>>(),
        "volumes": volumes.iter().map(|v| json!({"host": v.host, "target": v.target, "mode": v.mode})).collect::<Vec<_>>(),
        "container_volumes": c.container_volumes,
        "volumes_from": c.volumes_from,
        "links": c.links,
        "command": c.command,
        "workdir": c.workdir,
        "user": c.username,
        "privileged": c.privileged,
        "cap_add": c.cap_add,
        "cap_drop": c.cap_drop,
        "security_opt": c.security_opt,
        "extra_hosts": c.extra_hosts,
        "network_mode": c.network_mode,
        "hostname": c.hostname,
        "dns": c.dns,
        "restart": {"name": c.restart.name, "retries": c.restart.retries},
        "stop_timeout": c.stop_timeout,
        "limits": {"memory": c.limits.memory, "swap": c.limits.swap, "cpu_shares": c.limits.cpu_shares},
        "ulimits": c.ulimits.iter().map(|u| json!({"name": u.name, "soft": u.soft, "hard": u.hard})).collect::<Vec<_>>(),
        "log_config": c.log_config.as_ref().map(|l| json!({"driver": l.driver, "options": l.options})),
        "labels": c.labels,
        "lifecycle": lifecycle,
    });
    if let (Some(map), Some(options)) =
        (out.as_object_mut(), crate::dump_extras::options(&c.options))
    {
        map.insert("options".into(), options);
    }
    out
}

fn ship(s: &Ship) -> Value {
    let mut value = json!({
        "ip": s.ip, "endpoint": s.endpoint, "docker_port": s.docker_port, "socket_path": s.socket_path,
        "api_version": match &s.api_version { ApiVersion::Auto => "auto".to_string(), ApiVersion::Fixed(v) => v.clone() },
        "timeout": s.timeout,
        "ssh_tunnel": s.ssh_tunnel.as_ref().map(|t| json!({"user": t.user, "key": t.key, "port": t.port})),
        "tls": s.tls, "tls_verify": s.tls_verify, "tls_ca_cert": s.tls_ca_cert, "tls_cert": s.tls_cert,
        "tls_key": s.tls_key, "ssl_version": s.ssl_version,
    });
    // maestro's own settings, only where they are used (MaestroNG has none).
    if let Value::Object(map) = &mut value {
        if let Some(e) = &s.ssh {
            map.insert("ssh".into(), json!(e.to_string()));
        }
        if s.ssh_accept_new_host_keys {
            map.insert("ssh_accept_new_host_keys".into(), json!(true));
        }
        if let Some(t) = s.ssh_timeout {
            map.insert("ssh_timeout".into(), json!(t));
        }
        if let Some(origin) = &s.origin {
            map.insert("origin".into(), json!(origin));
        }
    }
    value
}

/// Whether a header's value is a credential: `Authorization`, `X-Api-Key`,
/// `Cookie`, anything naming a token, secret or password.
fn secret_header(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    [
        "auth",
        "token",
        "secret",
        "password",
        "key",
        "cookie",
        "signature",
    ]
    .iter()
    .any(|word| name.contains(word))
}

/// Header values that carry credentials shown as `***`.
fn masked_headers(headers: &indexmap::IndexMap<String, String>) -> Value {
    Value::Object(
        headers
            .iter()
            .map(|(k, v)| {
                let shown = if secret_header(k) { "***" } else { v.as_str() };
                (k.clone(), Value::String(shown.to_owned()))
            })
            .collect(),
    )
}

/// An auditor's URL as shown: scheme, host and port; the path and query as
/// `***`, since a webhook's path is often its secret
/// (`/services/T0/B0/XXXX`); no user or password. Not a URL at all: `***`.
fn masked_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return "***".to_owned();
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let host = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    if tail.is_empty() || tail == "/" {
        format!("{scheme}://{host}{tail}")
    } else {
        format!("{scheme}://{host}/***")
    }
}

fn auditor(a: &Auditor) -> Value {
    let mut v = match &a.kind {
        AuditKind::Log { file } => json!({"type": "log", "file": file}),
        AuditKind::Http {
            endpoint,
            method,
            headers,
            timeout,
            payload,
        } => json!({
            "type": "http", "endpoint": masked_url(endpoint), "method": method, "headers": masked_headers(headers), "timeout": timeout, "payload": payload,
        }),
        AuditKind::Exec { script, args } => json!({"type": "exec", "script": script, "args": args}),
        AuditKind::Slack {
            channel,
            name,
            icon,
            endpoint,
            ..
        } => json!({
            "type": "slack", "channel": channel, "token": "***", "name": name, "icon": icon,
            "endpoint": endpoint.as_deref().map(masked_url),
        }),
        AuditKind::Hipchat { room, name, .. } => {
            json!({"type": "hipchat", "room": room, "token": "***", "name": name})
        }
    };
    v["level"] = json!(match a.level {
        AuditLevel::Info => "info",
        AuditLevel::Debug => "debug",
    });
    v["ignore_errors"] = json!(a.ignore_errors);
    v
}

/// The whole document, with `containers` in the given order. It serializes
/// one container at a time, so even a huge environment streams out in
/// little memory (`serde_json::to_writer_pretty`).
pub fn environment<'a>(env: &'a Environment, containers: &'a [&'a Container]) -> Document<'a> {
    Document { env, containers }
}

/// See [`environment`].
pub struct Document<'a> {
    env: &'a Environment,
    containers: &'a [&'a Container],
}

struct Containers<'a>(&'a [&'a Container]);

impl serde::Serialize for Containers<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for c in self.0 {
            map.serialize_entry(&c.name, &ContainerDoc(c))?;
        }
        map.end()
    }
}

impl serde::Serialize for Document<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let env = self.env;
        let mut map = s.serialize_map(None)?;
        map.serialize_entry("name", &env.name)?;
        map.serialize_entry("schema", &env.schema)?;
        map.serialize_entry(
            "ships",
            &env.ships
                .iter()
                .map(|(k, s)| (k.clone(), ship(s)))
                .collect::<Map<String, Value>>(),
        )?;
        map.serialize_entry(
            "registries",
            &env.registries
                .iter()
                .map(|(k, r)| {
                    (
                        k.clone(),
                        json!({
                            "registry": r.registry, "username": r.username,
                            "password": r.password.as_ref().map(|_| "***"), "email": r.email,
                            "retry": {"attempts": r.retry.attempts, "when": r.retry.when},
                        }),
                    )
                })
                .collect::<Map<String, Value>>(),
        )?;
        map.serialize_entry(
            "services",
            &env.services
                .iter()
                .map(|(k, s)| {
                    let mut v = json!({
                        "image": s.image, "requires": s.requires, "wants_info": s.wants_info,
                        "omit": s.omit, "instances": s.instances,
                    });
                    let extras = [
                        ("hooks", crate::dump_extras::hooks(&s.hooks)),
                        ("proxy", crate::dump_extras::proxy_route(s.proxy.as_ref())),
                        (
                            "update_config",
                            crate::dump_extras::update_config(&s.update),
                        ),
                    ];
                    for (key, extra) in extras {
                        if let (Some(map), Some(extra)) = (v.as_object_mut(), extra) {
                            map.insert(key.into(), extra);
                        }
                    }
                    (k.clone(), v)
                })
                .collect::<Map<String, Value>>(),
        )?;
        if let Some(networks) = crate::dump_extras::networks(env) {
            map.serialize_entry("networks", &networks)?;
        }
        if let Some(volumes) = crate::dump_extras::volumes(env) {
            map.serialize_entry("volumes", &volumes)?;
        }
        if let Some(secrets) = crate::dump_extras::secrets(env) {
            map.serialize_entry("secrets", &secrets)?;
        }
        if let Some(proxy) = crate::dump_extras::proxy_settings(env) {
            map.serialize_entry("proxy", &proxy)?;
        }
        map.serialize_entry("containers", &Containers(self.containers))?;
        map.serialize_entry("audit", &env.audit.iter().map(auditor).collect::<Vec<_>>())?;
        map.end()
    }
}

/// The parsed description as JSON (`dump --config`), with every credential
/// masked as the resolved document masks it: `password` and `token` values,
/// the password of an http check's `auth`, header values named like
/// credentials (http auditors and http checks), and the path of auditor URLs.
pub fn document(root: &crate::yaml::Node) -> Value {
    let mut doc = crate::audit::to_json(root);
    mask(&mut doc);
    if let Some(Value::Array(auditors)) = doc.get_mut("audit") {
        for auditor in auditors {
            if let Some(endpoint) = auditor.get_mut("endpoint") {
                *endpoint = match endpoint {
                    Value::Null => Value::Null,
                    Value::String(url) => json!(masked_url(url)),
                    _ => json!("***"),
                };
            }
        }
    }
    doc
}

fn mask(v: &mut Value) {
    match v {
        Value::Object(map) => {
            for (k, child) in map.iter_mut() {
                match k.as_str() {
                    "password" | "token" if !child.is_null() => *child = json!("***"),
                    "auth" => match child {
                        Value::Array(parts) if parts.len() > 1 => parts[1] = json!("***"),
                        Value::Null => {}
                        other => *other = json!("***"),
                    },
                    "headers" if child.is_object() => {
                        for (name, value) in child.as_object_mut().into_iter().flatten() {
                            if secret_header(name) {
                                *value = json!("***");
                            }
                        }
                    }
                    _ => mask(child),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(mask),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credential_headers_are_masked() {
        let mut headers = indexmap::IndexMap::new();
        headers.insert("Authorization".to_owned(), "Bearer s3cr3t".to_owned());
        headers.insert("X-Api-Key".to_owned(), "k".to_owned());
        headers.insert("X-Team".to_owned(), "core".to_owned());
        assert_eq!(
            masked_headers(&headers),
            json!({"Authorization": "***", "X-Api-Key": "***", "X-Team": "core"})
        );
    }

    #[test]
    fn auditor_urls_keep_their_host_only() {
        for (url, shown) in [
            (
                "https://hooks.slack.com/services/T0/B0/XXXX",
                "https://hooks.slack.com/***",
            ),
            (
                "http://user:pw@audit:8080/in?key=k",
                "http://audit:8080/***",
            ),
            ("https://audit.example?token=t", "https://audit.example/***"),
            ("https://audit.example/", "https://audit.example/"),
            ("http://audit:8080", "http://audit:8080"),
            ("not a url/secret", "***"),
        ] {
            assert_eq!(masked_url(url), shown, "{url}");
        }
    }

    /// `dump -c` masks header values and auditor URLs as `dump` does.
    #[test]
    fn the_parsed_document_masks_headers_and_urls() {
        let root = crate::yaml::parse(
            "audit:
  - {type: http, endpoint: \"https://hooks.example/T0/XXXX\", headers: {Authorization: Bearer s3, X-Team: core}}
  - {type: slack, channel: c, token: t, endpoint: \"https://slack.example/api?x=1\"}
ships:
  s1: {ip: 10.0.0.1, endpoint: \"tcp://10.0.0.1:2375\"}
checks: [{requests_options: {headers: {X-Api-Key: 42, Accept: text/plain}}}]
",
            "t.yaml",
        )
        .expect("valid YAML");
        let doc = document(&root);
        assert_eq!(doc["audit"][0]["endpoint"], "https://hooks.example/***");
        assert_eq!(
            doc["audit"][0]["headers"],
            json!({"Authorization": "***", "X-Team": "core"})
        );
        assert_eq!(doc["audit"][1]["endpoint"], "https://slack.example/***");
        assert_eq!(doc["audit"][1]["token"], "***");
        assert_eq!(doc["ships"]["s1"]["endpoint"], "tcp://10.0.0.1:2375");
        assert_eq!(
            doc["checks"][0]["requests_options"]["headers"],
            json!({"X-Api-Key": "***", "Accept": "text/plain"})
        );
    }
}
