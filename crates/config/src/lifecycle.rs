//! Lifecycle checks (§7) as configuration: service and instance lists
//! concatenated per state, each check validated against its container.

use indexmap::IndexMap;

use crate::keys;
use crate::model::{Check, Container, EnvFrom, HttpOptions, HttpPort, Lifecycle, Protocol};
use crate::pyfmt;
use crate::reader::{get_set, show, KeyPath, Reader};
use crate::yaml::{Node, Value};

const STATES: &[&str] = &["pre-start", "running", "pre-stop", "stopped"];
const TYPES: &[&str] = &["tcp", "http", "exec", "rexec", "sleep", "healthy"];
/// Attempts, one a second, of a `tcp` check (its `max_wait`) and of an
/// `exec` or `rexec` check (its `attempts`): MaestroNG's
/// `RetryingLifecycleHelper.DEFAULT_MAX_ATTEMPTS`.
const DEFAULT_ATTEMPTS: u32 = 180;
/// Seconds an `http` check keeps trying (MaestroNG's `DEFAULT_MAX_WAIT`).
const DEFAULT_HTTP_MAX_WAIT: u32 = 300;

/// Builds the container's lifecycle from the service's and the instance's lists.
pub fn build(r: &mut Reader, sources: &[(&Node, String)], container: &Container) -> Lifecycle {
    let mut out = Lifecycle::default();
    for (node, path) in sources {
        for (k, v) in r.map(node, path).unwrap_or(&[]) {
            let Some(state) = r.key(k, path) else {
                continue;
            };
            let spath = format_args!("{path}/{state}");
            let list = match state.as_str() {
                "pre-start" => &mut out.pre_start,
                "running" => &mut out.running,
                "pre-stop" => &mut out.pre_stop,
                "stopped" => &mut out.stopped,
                _ => {
                    r.error(
                        k,
                        path,
                        format!(
                            "unknown lifecycle state `{state}`; expected one of: {}",
                            STATES.join(", ")
                        ),
                    );
                    continue;
                }
            };
            let items = match &v.value {
                Value::Seq(items) => items.as_slice(),
                Value::Null => &[],
                _ => {
                    r.expected(v, &spath, "a list of checks");
                    continue;
                }
            };
            for (i, item) in items.iter().enumerate() {
                if let Some(check) = check(r, item, &format_args!("{spath}[{i}]"), container) {
                    list.push(check);
                }
            }
        }
    }
    out
}

fn check(r: &mut Reader, node: &Node, path: &KeyPath, c: &Container) -> Option<Check> {
    let Value::Map(m) = &node.value else {
        r.expected(node, path, "a check like {type: tcp, port: NAME}");
        return None;
    };
    let kind = check_type(r, node, m, path)?;
    let given = CheckKeys {
        m,
        node,
        path,
        kind,
    };
    match kind {
        "tcp" => tcp_check(r, &given, c),
        "http" => http_check(r, &given, c),
        "exec" => exec_check(r, &given),
        "healthy" => {
            r.unknown_keys(m, path, keys::CHECK_HEALTHY);
            Some(Check::Healthy {
                max_wait: given.count(r, "max_wait", 300),
            })
        }
        "rexec" => {
            r.unknown_keys(m, path, keys::CHECK_REXEC);
            let command = given.command(r)?;
            Some(Check::Rexec {
                command,
                attempts: given.count(r, "attempts", DEFAULT_ATTEMPTS),
            })
        }
        _ => {
            r.unknown_keys(m, path, keys::CHECK_SLEEP);
            let n = given.required(r, "wait", "seconds to wait")?;
            Some(Check::Sleep {
                wait: r.seconds(n, &format_args!("{path}/wait"))?,
            })
        }
    }
}

/// The check's `type`, one of [`TYPES`].
fn check_type<'m>(
    r: &mut Reader,
    node: &Node,
    m: &'m [(Node, Node)],
    path: &KeyPath,
) -> Option<&'m str> {
    match get_set(m, "type") {
        Some(t) => match t.as_str() {
            Some(k) if TYPES.contains(&k) => Some(k),
            _ => {
                r.error(
                    t,
                    &format_args!("{path}/type"),
                    format!(
                        "unknown check type {}; expected one of: {}",
                        show(t),
                        TYPES.join(", ")
                    ),
                );
                None
            }
        },
        None => {
            r.error(
                node,
                path,
                format!("missing required key `type` (one of: {})", TYPES.join(", ")),
            );
            None
        }
    }
}

/// One check's keys (`m`, of the check at `node`), with its path and type.
struct CheckKeys<'a> {
    m: &'a [(Node, Node)],
    node: &'a Node,
    path: &'a KeyPath<'a>,
    kind: &'a str,
}

impl<'a> CheckKeys<'a> {
    /// The node of `key`, which this type of check needs (`what` says why).
    fn required(&self, r: &mut Reader, key: &str, what: &str) -> Option<&'a Node> {
        let n = get_set(self.m, key);
        if n.is_none() {
            r.error(
                self.node,
                self.path,
                format!(
                    "missing required key `{key}` ({what}) for {} {} check",
                    article(self.kind),
                    self.kind
                ),
            );
        }
        n
    }

    /// A count from 1 to 1000000, `default` when not given.
    fn count(&self, r: &mut Reader, key: &str, default: u32) -> u32 {
        get_set(self.m, key)
            .and_then(|n| r.integer(n, &format_args!("{}/{key}", self.path), 1, 1_000_000))
            .map(|n| n as u32)
            .unwrap_or(default)
    }

    /// The required `command`.
    fn command(&self, r: &mut Reader) -> Option<Vec<String>> {
        let n = self.required(r, "command", "the command to run")?;
        crate::reader::command(r, n, &format_args!("{}/command", self.path))
    }

    /// The string `key`, if given.
    fn text(&self, r: &mut Reader, key: &str) -> Option<String> {
        get_set(self.m, key).and_then(|n| r.string(n, &format_args!("{}/{key}", self.path)))
    }
}

/// `tcp`: a named TCP port of the container.
fn tcp_check(r: &mut Reader, given: &CheckKeys, c: &Container) -> Option<Check> {
    let path = given.path;
    r.unknown_keys(given.m, &path, keys::CHECK_TCP);
    let pn = given.required(r, "port", "the name of a TCP port of the instance")?;
    let port = r.key(pn, &format_args!("{path}/port"))?;
    match c.ports.get(&port) {
        None => {
            r.error(
                pn,
                &format_args!("{path}/port"),
                format!(
                    "port `{port}` is not defined by `{}`; expected one of its named ports",
                    c.name
                ),
            );
            return None;
        }
        Some(p) if p.external.protocol == Protocol::Udp => {
            r.error(
                pn,
                &format_args!("{path}/port"),
                format!(
                    "port `{port}` of `{}` is udp; a tcp check needs a TCP port",
                    c.name
                ),
            );
            return None;
        }
        Some(_) => {}
    }
    Some(Check::Tcp {
        port,
        max_wait: given.count(r, "max_wait", DEFAULT_ATTEMPTS),
    })
}

/// `http`: a request to a named TCP port of the container, or a port number.
fn http_check(r: &mut Reader, given: &CheckKeys, c: &Container) -> Option<Check> {
    let path = given.path;
    r.unknown_keys(given.m, &path, keys::CHECK_HTTP);
    let pn = given.required(r, "port", "a named port or a port number")?;
    let port = http_port(r, pn, &path, c)?;
    let mut req_path = given.text(r, "path").unwrap_or_else(|| "/".into());
    if !req_path.starts_with('/') {
        req_path.insert(0, '/');
    }
    let method = given
        .text(r, "method")
        .unwrap_or_else(|| "GET".into())
        .to_uppercase();
    let options = http_options(
        r,
        get_set(given.m, "requests_options"),
        &format_args!("{path}/requests_options"),
    );
    Some(Check::Http {
        port,
        host: given.text(r, "host"),
        path: req_path,
        scheme: given.text(r, "scheme").unwrap_or_else(|| "http".into()),
        method,
        match_regex: given.text(r, "match_regex"),
        max_wait: given.count(r, "max_wait", DEFAULT_HTTP_MAX_WAIT),
        options: Box::new(options),
    })
}

/// An `http` check's `port` (at `pn`): a named TCP port, or a number.
fn http_port(r: &mut Reader, pn: &Node, path: &KeyPath, c: &Container) -> Option<HttpPort> {
    let name = pyfmt::key_text(&pn.value);
    match c.ports.get(&name) {
        Some(p) if p.external.protocol == Protocol::Udp => {
            r.error(
                pn,
                &format_args!("{path}/port"),
                format!(
                    "port `{name}` of `{}` is udp; an http check needs a TCP port",
                    c.name
                ),
            );
            None
        }
        Some(_) => Some(HttpPort::Named(name)),
        None => match &pn.value {
            Value::Int(n) if (1..=65535).contains(n) => Some(HttpPort::Number(*n as u16)),
            _ => {
                r.error(pn, &format_args!("{path}/port"), format!("port `{name}` is not defined by `{}`; expected one of its named ports or a port number", c.name));
                None
            }
        },
    }
}

/// `exec`: a command run in the container, its environment given as
/// variables or on standard input.
fn exec_check(r: &mut Reader, given: &CheckKeys) -> Option<Check> {
    let path = given.path;
    r.unknown_keys(given.m, &path, keys::CHECK_EXEC);
    let command = given.command(r)?;
    let envfrom = match get_set(given.m, "envfrom") {
        None => EnvFrom::Env,
        Some(n) => match n.as_str() {
            Some("env") => EnvFrom::Env,
            Some("stdin") => EnvFrom::Stdin,
            _ => {
                r.error(
                    n,
                    &format_args!("{path}/envfrom"),
                    format!("unknown envfrom {}; expected env or stdin", show(n)),
                );
                return None;
            }
        },
    };
    Some(Check::Exec {
        command,
        attempts: given.count(r, "attempts", DEFAULT_ATTEMPTS),
        envfrom,
    })
}

fn http_options(r: &mut Reader, node: Option<&Node>, path: &KeyPath) -> HttpOptions {
    let mut out = HttpOptions {
        verify: true,
        timeout: None,
        headers: IndexMap::new(),
        auth: None,
    };
    let Some(node) = node else { return out };
    let Some(m) = r.map(node, path) else {
        return out;
    };
    r.unknown_keys(m, path, keys::REQUESTS_OPTIONS);
    if let Some(n) = get_set(m, "verify") {
        out.verify = r.boolean(n, &format_args!("{path}/verify")).unwrap_or(true);
    }
    if let Some(n) = get_set(m, "timeout") {
        out.timeout = r.seconds(n, &format_args!("{path}/timeout"));
    }
    if let Some(n) = get_set(m, "headers") {
        for (k, v) in r.map(n, &format_args!("{path}/headers")).unwrap_or(&[]) {
            if let (Some(k), Some(v)) = (
                r.key(k, &format_args!("{path}/headers")),
                pyfmt::env_string(&v.value),
            ) {
                out.headers.insert(k, v);
            }
        }
    }
    if let Some(n) = get_set(m, "auth") {
        let parts = r.string_list(n, &format_args!("{path}/auth"));
        match parts.as_slice() {
            [user, pass] => out.auth = Some((user.clone(), pass.clone())),
            _ => r.expected(n, &format_args!("{path}/auth"), "[user, password]"),
        }
    }
    out
}

/// "a" or "an" before a check or auditor type.
pub(crate) fn article(word: &str) -> &'static str {
    if word.starts_with(['a', 'e', 'i', 'o', 'u']) || word == "http" {
        "an"
    } else {
        "a"
    }
}

#[cfg(test)]
mod tests {
    use crate::model::Check;

    fn running(checks: &str) -> Vec<Check> {
        let source = crate::Source {
            name: "t.yaml".into(),
            base_dir: std::path::PathBuf::from("."),
            text: format!(
                "name: t
ships: {{s1: {{ip: 10.0.0.1}}}}
services:
  web:
    image: nginx
    instances:
      web-1:
        ship: s1
        ports: {{http: 80}}
        lifecycle:
          running: {checks}
"
            ),
        };
        let env = crate::load(&source, &Default::default()).expect("a valid file");
        env.containers["web-1"].lifecycle.running.clone()
    }

    /// MaestroNG's defaults: 180 attempts a second apart for tcp, exec and
    /// rexec, 300 seconds for http.
    #[test]
    fn defaults_are_maestrongs() {
        let checks = running(
            "[{type: tcp, port: http}, {type: http, port: http}, {type: exec, command: \"true\"}, {type: rexec, command: \"true\"}]",
        );
        let got: Vec<u32> = checks
            .iter()
            .map(|c| match c {
                Check::Tcp { max_wait, .. } | Check::Http { max_wait, .. } => *max_wait,
                Check::Exec { attempts, .. } | Check::Rexec { attempts, .. } => *attempts,
                other => panic!("unexpected check {other:?}"),
            })
            .collect();
        assert_eq!(got, [180, 300, 180, 180]);
    }

    #[test]
    fn given_values_win_over_the_defaults() {
        let checks = running(
            "[{type: tcp, port: http, max_wait: 7}, {type: http, port: http, max_wait: 9}]",
        );
        assert!(
            matches!(checks[0], Check::Tcp { max_wait: 7, .. }),
            "{checks:?}"
        );
        assert!(
            matches!(checks[1], Check::Http { max_wait: 9, .. }),
            "{checks:?}"
        );
    }
}
