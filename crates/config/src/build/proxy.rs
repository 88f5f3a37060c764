//! The proxy's keys: a service's `proxy` (its route: host names, a path
//! prefix, the application's port, the health check, the timeouts and a
//! certificate from files; Kamal's names where they fit), read into a draft
//! whose `app_port` the cross-checks resolve, and the top-level `proxy`
//! (the image and the host ports of the proxy each ship runs).
//! A leaf: imports no other module of the build.

use std::path::Path;

use crate::keys::{PROXY, PROXY_HEALTHCHECK, PROXY_SETTINGS, PROXY_SSL};
use crate::model::{ProxyHealth, ProxyRoute, ProxySettings, ProxyTls};
use crate::reader::{get_set, KeyPath, Reader};
use crate::yaml::{Node, Value};

/// The health check's path, interval and timeout when unset.
pub(super) const DEFAULT_HEALTH_PATH: &str = "/up";
pub(super) const DEFAULT_HEALTH_INTERVAL: f64 = 1.0;
pub(super) const DEFAULT_HEALTH_TIMEOUT: f64 = 5.0;
/// `response_timeout` and `drain_timeout` when unset.
pub(super) const DEFAULT_RESPONSE_TIMEOUT: f64 = 30.0;
pub(super) const DEFAULT_DRAIN_TIMEOUT: f64 = 30.0;
/// `deploy_timeout` when unset: how long a new container has to pass the
/// health check.
pub(super) const DEFAULT_DEPLOY_TIMEOUT: f64 = 30.0;
/// The longest of the proxy's durations, in seconds.
const MAX_SECONDS: f64 = 3600.0;
/// What `app_port` is, as messages say it.
const APP_PORT: &str =
    "the container port the application listens on: a name of the service's `ports` or a number";

/// The application's port as written: a name of the instances' `ports`,
/// or a number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum AppPort {
    Name(String),
    Number(u16),
}

/// A service's `proxy`, its `app_port` not yet resolved (the route's is 0
/// until then).
pub(super) struct ProxyDraft<'n> {
    pub(super) route: ProxyRoute,
    pub(super) app_port: AppPort,
    /// The `proxy` mapping, and its `app_port`'s value.
    pub(super) node: &'n Node,
    pub(super) app_port_node: &'n Node,
}

/// The service's `proxy` (at `path`, the service's), when it is set and
/// valid; `proxy: false` is none.
pub(super) fn route<'n>(
    r: &mut Reader,
    entries: &'n [(Node, Node)],
    path: &KeyPath,
    base_dir: &Path,
) -> Option<ProxyDraft<'n>> {
    let node = get_set(entries, "proxy")?;
    let at = format_args!("{path}/proxy");
    let m = match &node.value {
        Value::Bool(false) => return None,
        Value::Bool(true) => {
            r.error(node, &at, format!(
                "`proxy: true` is not enough: `app_port` is required ({APP_PORT}); expected a mapping such as {{app_port: 8080}}"
            ));
            return None;
        }
        Value::Map(m) => m.as_slice(),
        _ => {
            r.expected(node, &at, "a mapping with at least `app_port`");
            return None;
        }
    };
    r.unknown_keys(m, &at, PROXY);
    let hosts = hosts(r, m, &at);
    let path_prefix = match get_set(m, "path_prefix") {
        Some(n) => absolute_path(r, n, &format_args!("{at}/path_prefix"), "\"/api\"").map(Some),
        None => Some(None),
    };
    let healthcheck = health(r, m, &at);
    let response_timeout = seconds(r, m, &at, "response_timeout", DEFAULT_RESPONSE_TIMEOUT);
    let drain_timeout = seconds(r, m, &at, "drain_timeout", DEFAULT_DRAIN_TIMEOUT);
    let deploy_timeout = seconds(r, m, &at, "deploy_timeout", DEFAULT_DEPLOY_TIMEOUT);
    let tls = tls(r, m, &at, base_dir);
    if let (Some(Some(_)), Some(h)) = (&tls, &hosts) {
        if h.is_empty() {
            r.error(
                get_set(m, "ssl").unwrap_or(node),
                &format_args!("{at}/ssl"),
                "the proxy chooses a certificate by host name; expected `host` or `hosts` beside `ssl`",
            );
            return None;
        }
    }
    let (app_port, app_port_node) = app_port(r, node, m, &at)?;
    Some(ProxyDraft {
        route: ProxyRoute {
            hosts: hosts?,
            path_prefix: path_prefix?,
            app_port: 0,
            healthcheck: healthcheck?,
            response_timeout: response_timeout?,
            drain_timeout: drain_timeout?,
            deploy_timeout: deploy_timeout?,
            tls: tls?,
        },
        app_port,
        node,
        app_port_node,
    })
}

/// `host: NAME` or `hosts: [NAME, …]` (one of them; none: any host).
fn hosts(r: &mut Reader, m: &[(Node, Node)], at: &KeyPath) -> Option<Vec<String>> {
    let (items, key): (Vec<&Node>, &str) = match (get_set(m, "host"), get_set(m, "hosts")) {
        (Some(_), Some(both)) => {
            r.error(
                both,
                &format_args!("{at}/hosts"),
                "`host` and `hosts` are both set; expected one of them",
            );
            return None;
        }
        (Some(one), None) => (vec![one], "host"),
        (None, Some(n)) => match &n.value {
            Value::Seq(items) => (items.iter().collect(), "hosts"),
            _ => (vec![n], "hosts"),
        },
        (None, None) => return Some(Vec::new()),
    };
    let listed = matches!(get_set(m, "hosts").map(|n| &n.value), Some(Value::Seq(_)));
    let mut out = Vec::new();
    let mut ok = true;
    for (i, n) in items.into_iter().enumerate() {
        let p = if listed {
            format!("{at}/{key}[{i}]")
        } else {
            format!("{at}/{key}")
        };
        match n.as_str().filter(|s| is_host_name(s)) {
            Some(name) => out.push(name.to_owned()),
            None => {
                r.expected(
                    n,
                    &p,
                    "a host name as \"app.example.com\" or \"*.example.com\" (labels of letters, digits and `-`, separated by `.`)",
                );
                ok = false;
            }
        }
    }
    ok.then_some(out)
}

/// A DNS name (labels of at most 63 letters, digits and `-`, not starting
/// or ending with `-`; at most 253 characters), maybe after a `*.`.
pub(super) fn is_host_name(s: &str) -> bool {
    let name = s.strip_prefix("*.").unwrap_or(s);
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
}

/// A path starting with `/`, without spaces or `*` (`example` shows one).
fn absolute_path(r: &mut Reader, n: &Node, p: &KeyPath, example: &str) -> Option<String> {
    match n.as_str() {
        Some(s) if s.starts_with('/') && !s.contains(|c: char| c.is_whitespace() || c == '*') => {
            Some(s.to_owned())
        }
        _ => {
            r.expected(
                n,
                p,
                &format!("a path starting with `/`, without spaces or `*`, as {example}"),
            );
            None
        }
    }
}

/// Seconds as a number or a duration, more than 0 and at most 3600: the
/// value of `key`, else `default`.
fn seconds(
    r: &mut Reader,
    m: &[(Node, Node)],
    at: &KeyPath,
    key: &str,
    default: f64,
) -> Option<f64> {
    let Some(n) = get_set(m, key) else {
        return Some(default);
    };
    match crate::options::seconds_of(n) {
        Some(s) if s > 0.0 && s <= MAX_SECONDS => Some(s),
        _ => {
            r.expected(
                n,
                &format_args!("{at}/{key}"),
                "a duration of more than 0 and at most 3600 seconds, as 30, \"30s\" or \"500ms\"",
            );
            None
        }
    }
}

/// `healthcheck: {path, interval, timeout}`, each with its default.
fn health(r: &mut Reader, m: &[(Node, Node)], at: &KeyPath) -> Option<ProxyHealth> {
    let at = format_args!("{at}/healthcheck");
    let h = match get_set(m, "healthcheck") {
        Some(n) => r.map(n, &at)?,
        None => &[],
    };
    r.unknown_keys(h, &at, PROXY_HEALTHCHECK);
    let path = match get_set(h, "path") {
        Some(n) => absolute_path(r, n, &format_args!("{at}/path"), "\"/up\""),
        None => Some(DEFAULT_HEALTH_PATH.to_owned()),
    };
    let interval = seconds(r, h, &at, "interval", DEFAULT_HEALTH_INTERVAL);
    let timeout = seconds(r, h, &at, "timeout", DEFAULT_HEALTH_TIMEOUT);
    Some(ProxyHealth {
        path: path?,
        interval: interval?,
        timeout: timeout?,
    })
}

/// `ssl: {certificate_pem, private_key_pem}`: files relative to the
/// environment file's directory (`base_dir`), not read here. `Some(None)`
/// when unset or false; `ssl: true` (automatic certificates) is an error.
fn tls(
    r: &mut Reader,
    m: &[(Node, Node)],
    at: &KeyPath,
    base_dir: &Path,
) -> Option<Option<ProxyTls>> {
    let at = format_args!("{at}/ssl");
    let Some(n) = get_set(m, "ssl") else {
        return Some(None);
    };
    let entries = match &n.value {
        Value::Bool(false) => return Some(None),
        Value::Bool(true) => {
            r.error(n, &at, "automatic certificates are the proxy's own feature, which maestro does not drive yet; expected `ssl: {certificate_pem: PATH, private_key_pem: PATH}`");
            return None;
        }
        Value::Map(entries) => entries.as_slice(),
        _ => {
            r.expected(
                n,
                &at,
                "a mapping with `certificate_pem` and `private_key_pem`",
            );
            return None;
        }
    };
    r.unknown_keys(entries, &at, PROXY_SSL);
    let mut file = |key: &str, what: &str| match get_set(entries, key) {
        Some(v) => r
            .name(v, &format_args!("{at}/{key}"), "the path of a file")
            .map(|text| base_dir.join(text)),
        None => {
            r.error(n, &at, format!("missing required key `{key}` ({what})"));
            None
        }
    };
    let certificate = file("certificate_pem", "the certificate's PEM file");
    let private_key = file("private_key_pem", "its private key's PEM file");
    Some(Some(ProxyTls {
        certificate: certificate?,
        private_key: private_key?,
    }))
}

/// `app_port` (required): a port number, or a name of the instances' ports.
fn app_port<'n>(
    r: &mut Reader,
    node: &Node,
    m: &'n [(Node, Node)],
    at: &KeyPath,
) -> Option<(AppPort, &'n Node)> {
    let Some(n) = get_set(m, "app_port") else {
        r.error(
            node,
            at,
            format!("missing required key `app_port` ({APP_PORT})"),
        );
        return None;
    };
    let number = |i: i128| u16::try_from(i).ok().filter(|p| *p > 0);
    let port = match &n.value {
        Value::Int(i) => number(*i).map(AppPort::Number),
        Value::Str(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
            s.parse::<i128>().ok().and_then(number).map(AppPort::Number)
        }
        Value::Str(s) if !s.trim().is_empty() => Some(AppPort::Name(s.clone())),
        _ => None,
    };
    if port.is_none() {
        r.expected(
            n,
            &format_args!("{at}/app_port"),
            "a name of the service's `ports`, or a port number from 1 to 65535",
        );
    }
    Some((port?, n))
}

/// The top-level `proxy`: the image and host ports of the proxy each ship
/// with a proxied service runs (the defaults when unset).
pub(super) fn settings(r: &mut Reader, node: Option<&Node>) -> ProxySettings {
    let mut out = ProxySettings::default();
    let Some(node) = node else { return out };
    let m = r.map(node, &"proxy").unwrap_or(&[]);
    r.unknown_keys(m, &"proxy", PROXY_SETTINGS);
    if let Some(image) =
        get_set(m, "image").and_then(|n| r.name(n, &"proxy/image", "an image name"))
    {
        out.image = image;
    }
    let mut port = |key: &str| {
        let n = get_set(m, key)?;
        let p = r.integer(n, &format_args!("proxy/{key}"), 1, 65535)?;
        u16::try_from(p).ok().map(|p| (p, n))
    };
    let http = port("http_port");
    let https = port("https_port");
    if let Some((p, _)) = http {
        out.http_port = p;
    }
    if let Some((p, _)) = https {
        out.https_port = p;
    }
    if out.http_port == out.https_port {
        let (key, n) = match (https, http) {
            (Some((_, n)), _) => ("https_port", n),
            (None, Some((_, n))) => ("http_port", n),
            (None, None) => return out,
        };
        r.error(
            n,
            &format_args!("proxy/{key}"),
            format!(
                "`http_port` and `https_port` are both {}; expected two different ports",
                out.http_port
            ),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use crate::build::tests::load;
    use crate::model::{ProxyHealth, ProxyRoute, ProxySettings, ProxyTls};

    fn errors(text: &str) -> Vec<String> {
        load(text)
            .err()
            .map(|e| e.errors.iter().map(ToString::to_string).collect())
            .unwrap_or_default()
    }

    /// A file with one service `web` whose `proxy` is `proxy`.
    fn with_proxy(proxy: &str) -> String {
        format!(
            "name: t
ships: {{s1: {{ip: 10.0.0.1}}}}
services:
  web:
    image: nginx
    proxy: {proxy}
    instances: {{web-1: {{ship: s1}}}}
"
        )
    }

    fn route_of(proxy: &str) -> Option<ProxyRoute> {
        let env = load(&with_proxy(proxy)).expect("valid");
        assert!(env.warnings.is_empty(), "{:?}", env.warnings);
        env.services["web"].proxy.clone()
    }

    #[test]
    fn only_app_port_takes_every_default() {
        assert_eq!(
            route_of("{app_port: 3000}"),
            Some(ProxyRoute {
                hosts: Vec::new(),
                path_prefix: None,
                app_port: 3000,
                healthcheck: ProxyHealth {
                    path: "/up".into(),
                    interval: 1.0,
                    timeout: 5.0,
                },
                response_timeout: 30.0,
                drain_timeout: 30.0,
                deploy_timeout: 30.0,
                tls: None,
            })
        );
        assert_eq!(
            route_of("{app_port: '3000'}").map(|r| r.app_port),
            Some(3000)
        );
    }

    #[test]
    fn every_key_in_each_of_its_forms() {
        let route = route_of(
            "{hosts: [app.example.com, '*.example.com'], path_prefix: /api, app_port: 8080,
      healthcheck: {path: /health, interval: 500ms, timeout: 2}, response_timeout: 1m,
      drain_timeout: '2.5', ssl: {certificate_pem: certs/app.pem, private_key_pem: /etc/app.key}}",
        )
        .expect("a route");
        assert_eq!(route.hosts, ["app.example.com", "*.example.com"]);
        assert_eq!(route.path_prefix.as_deref(), Some("/api"));
        assert_eq!(
            route.healthcheck,
            ProxyHealth {
                path: "/health".into(),
                interval: 0.5,
                timeout: 2.0,
            }
        );
        assert_eq!((route.response_timeout, route.drain_timeout), (60.0, 2.5));
        assert_eq!(
            route.tls,
            Some(ProxyTls {
                certificate: PathBuf::from("./certs/app.pem"),
                private_key: PathBuf::from("/etc/app.key"),
            }),
            "joined with the file's directory; an absolute path stays"
        );
        let one = route_of("{host: App.Example.com, app_port: 1, healthcheck: {timeout: 3s}}")
            .expect("a route");
        assert_eq!(one.hosts, ["App.Example.com"]);
        assert_eq!(one.healthcheck.path, "/up");
        assert_eq!(one.healthcheck.timeout, 3.0);
        assert_eq!(
            route_of("{hosts: a.example, app_port: 1, ssl: false}").map(|r| (r.hosts, r.tls)),
            Some((vec!["a.example".to_owned()], None))
        );
    }

    #[test]
    fn false_or_null_is_no_proxy() {
        assert_eq!(route_of("false"), None);
        assert_eq!(route_of("null"), None);
        let env = load("name: t\nships: {s1: {ip: 10.0.0.1}}\nservices:\n  s: {image: b, instances: {s-1: {ship: s1}}}\n")
            .expect("valid");
        assert_eq!(env.services["s"].proxy, None);
        assert_eq!(env.proxy, ProxySettings::default());
    }

    #[test]
    fn dump_shows_the_route_the_rollout_and_the_settings_only_when_used() {
        let dump = |text: &str| {
            let env = load(text).expect("valid");
            let all: Vec<&crate::Container> = env.containers.values().collect();
            serde_json::to_value(crate::dump::environment(&env, &all)).expect("json")
        };
        let doc = dump(
            "name: t
ships: {s1: {ip: 10.0.0.1}}
services:
  web:
    image: nginx
    proxy: {host: a.example, app_port: 3000, ssl: {certificate_pem: a.pem, private_key_pem: a.key}}
    deploy: {update_config: {parallelism: 2, order: start-first}}
    instances: {web-1: {ship: s1}}
",
        );
        let web = &doc["services"]["web"];
        assert_eq!(
            web["proxy"],
            serde_json::json!({
                "hosts": ["a.example"], "path_prefix": null, "app_port": 3000,
                "healthcheck": {"path": "/up", "interval": 1.0, "timeout": 5.0},
                "response_timeout": 30.0, "drain_timeout": 30.0, "deploy_timeout": 30.0,
                "ssl": {"certificate_pem": "./a.pem", "private_key_pem": "./a.key"},
            })
        );
        assert_eq!(
            web["update_config"],
            serde_json::json!({
                "parallelism": 2, "delay": null, "order": "start-first",
                "failure_action": "pause", "monitor": null,
            })
        );
        assert_eq!(
            doc["proxy"],
            serde_json::json!({"image": "caddy:2", "http_port": 80, "https_port": 443})
        );
        let plain = dump("name: t\nships: {s1: {ip: 10.0.0.1}}\nservices:\n  s: {image: b, instances: {s-1: {ship: s1}}}\n");
        assert!(plain.get("proxy").is_none(), "{plain}");
        assert!(plain["services"]["s"].get("proxy").is_none());
        assert!(plain["services"]["s"].get("update_config").is_none());
    }

    #[test]
    fn host_names() {
        for ok in ["a", "app.example.com", "*.example.com", "x-1.a2.io"] {
            assert!(super::is_host_name(ok), "{ok}");
        }
        for bad in [
            "", "*.", "a..b", "-a.b", "a-.b", "a b", "a/b", "a.*.b", "a.b.", "*a.b",
        ] {
            assert!(!super::is_host_name(bad), "{bad}");
        }
        assert!(!super::is_host_name(&"a".repeat(64)));
    }

    #[test]
    fn the_top_level_settings_and_their_defaults() {
        let text = |proxy: &str| {
            format!("name: t\nships: {{s1: {{ip: 10.0.0.1}}}}\nproxy: {proxy}\nservices: {{}}\n")
        };
        let env = load(&text(
            "{image: 'caddy:2.8', http_port: 8080, https_port: '8443'}",
        ))
        .expect("valid");
        assert_eq!(
            env.proxy,
            ProxySettings {
                image: "caddy:2.8".into(),
                http_port: 8080,
                https_port: 8443,
            }
        );
        let env = load(&text("{https_port: 4443, admin: true}")).expect("valid");
        assert_eq!(
            (
                env.proxy.image.as_str(),
                env.proxy.http_port,
                env.proxy.https_port
            ),
            ("caddy:2", 80, 4443)
        );
        assert_eq!(
            env.warnings
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>(),
            ["t.yaml:3:27: proxy: unknown key `admin` is ignored"]
        );
        assert_eq!(
            errors(&text("{image: '', http_port: 0, https_port: 80}")),
            [
                "t.yaml:3:16: proxy/image: expected an image name, found a string \"\"",
                "t.yaml:3:31: proxy/http_port: expected a whole number from 1 to 65535, found an integer 0",
                "t.yaml:3:46: proxy/https_port: `http_port` and `https_port` are both 80; expected two different ports",
            ]
        );
    }

    #[test]
    fn bad_routes_are_located_errors() {
        let e = |proxy: &str| errors(&with_proxy(proxy));
        assert_eq!(
            e("true"),
            ["t.yaml:6:12: services/web/proxy: `proxy: true` is not enough: `app_port` is required (the container port the application listens on: a name of the service's `ports` or a number); expected a mapping such as {app_port: 8080}"]
        );
        assert_eq!(
            e("{hosts: [a.example]}"),
            ["t.yaml:6:12: services/web/proxy: missing required key `app_port` (the container port the application listens on: a name of the service's `ports` or a number)"]
        );
        assert_eq!(
            e("{host: a.example, hosts: [b.example], app_port: 70000, path_prefix: '/a*'}"),
            [
                "t.yaml:6:37: services/web/proxy/hosts: `host` and `hosts` are both set; expected one of them",
                "t.yaml:6:60: services/web/proxy/app_port: expected a name of the service's `ports`, or a port number from 1 to 65535, found an integer 70000",
                "t.yaml:6:80: services/web/proxy/path_prefix: expected a path starting with `/`, without spaces or `*`, as \"/api\", found a string \"/a*\"",
            ]
        );
        assert_eq!(
            e("{app_port: 1, healthcheck: {path: up, interval: 0}, drain_timeout: 2h}"),
            [
                "t.yaml:6:46: services/web/proxy/healthcheck/path: expected a path starting with `/`, without spaces or `*`, as \"/up\", found a string \"up\"",
                "t.yaml:6:60: services/web/proxy/healthcheck/interval: expected a duration of more than 0 and at most 3600 seconds, as 30, \"30s\" or \"500ms\", found an integer 0",
                "t.yaml:6:79: services/web/proxy/drain_timeout: expected a duration of more than 0 and at most 3600 seconds, as 30, \"30s\" or \"500ms\", found a string \"2h\"",
            ]
        );
        assert_eq!(
            e("{app_port: 1, host: a.example, ssl: true}"),
            ["t.yaml:6:48: services/web/proxy/ssl: automatic certificates are the proxy's own feature, which maestro does not drive yet; expected `ssl: {certificate_pem: PATH, private_key_pem: PATH}`"]
        );
        assert_eq!(
            e("{app_port: 1, ssl: {certificate_pem: a.pem, private_key_pem: a.key}}"),
            ["t.yaml:6:31: services/web/proxy/ssl: the proxy chooses a certificate by host name; expected `host` or `hosts` beside `ssl`"]
        );
        assert_eq!(
            e("{app_port: 1, host: a.example, ssl: {certificate_pem: a.pem}}"),
            ["t.yaml:6:48: services/web/proxy/ssl: missing required key `private_key_pem` (its private key's PEM file)"]
        );
        assert_eq!(
            e("[a]"),
            ["t.yaml:6:12: services/web/proxy: expected a mapping with at least `app_port`, found a list"]
        );
    }
}
