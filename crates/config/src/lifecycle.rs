//! Lifecycle checks (§7) as configuration: service and instance lists
//! concatenated per state, each check validated against its container.

use indexmap::IndexMap;

use crate::keys;
use crate::model::{Check, Container, EnvFrom, HttpOptions, HttpPort, Lifecycle, Protocol};
use crate::pyfmt;
use crate::reader::{get_set, show, Reader};
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
            let spath = format!("{path}/{state}");
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
                if let Some(check) = check(r, item, &format!("{spath}[{i}]"), container) {
                    list.push(check);
                }
            }
        }
    }
    out
}

fn check(r: &mut Reader, node: &Node, path: &str, c: &Container) -> Option<Check> {
    let Value::Map(m) = &node.value else {
        r.expected(node, path, "a check like {type: tcp, port: NAME}");
        return None;
    };
    let m = m.as_slice();
    let kind = match get_set(m, "type") {
        Some(t) => match t.as_str() {
            Some(k) if TYPES.contains(&k) => k,
            _ => {
                r.error(
                    t,
                    &format!("{path}/type"),
                    format!(
                        "unknown check type {}; expected one of: {}",
                        show(t),
                        TYPES.join(", ")
                    ),
                );
                return None;
            }
        },
        None => {
            r.error(
                node,
                path,
                format!("missing required key `type` (one of: {})", TYPES.join(", ")),
            );
            return None;
        }
    };
    let required = |r: &mut Reader, key: &str, what: &str| -> Option<&Node> {
        let n = get_set(m, key);
        if n.is_none() {
            r.error(
                node,
                path,
                format!(
                    "missing required key `{key}` ({what}) for {} {kind} check",
                    article(kind)
                ),
            );
        }
        n
    };
    let count = |r: &mut Reader, key: &str, default: u32| -> u32 {
        get_set(m, key)
            .and_then(|n| r.integer(n, &format!("{path}/{key}"), 1, 1_000_000))
            .map(|n| n as u32)
            .unwrap_or(default)
    };
    let command = |r: &mut Reader| -> Option<Vec<String>> {
        let n = required(r, "command", "the command to run")?;
        crate::reader::command(r, n, &format!("{path}/command"))
    };
    match kind {
        "tcp" => {
            r.unknown_keys(m, path, keys::CHECK_TCP);
            let pn = required(r, "port", "the name of a TCP port of the instance")?;
            let port = r.key(pn, &format!("{path}/port"))?;
            match c.ports.get(&port) {
                None => {
                    r.error(
                        pn,
                        &format!("{path}/port"),
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
                        &format!("{path}/port"),
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
                max_wait: count(r, "max_wait", DEFAULT_ATTEMPTS),
            })
        }
        "http" => {
            r.unknown_keys(m, path, keys::CHECK_HTTP);
            let pn = required(r, "port", "a named port or a port number")?;
            let name = pyfmt::key_text(&pn.value);
            let port = match c.ports.get(&name) {
                Some(p) if p.external.protocol == Protocol::Udp => {
                    r.error(
                        pn,
                        &format!("{path}/port"),
                        format!(
                            "port `{name}` of `{}` is udp; an http check needs a TCP port",
                            c.name
                        ),
                    );
                    return None;
                }
                Some(_) => HttpPort::Named(name),
                None => match &pn.value {
                    Value::Int(n) if (1..=65535).contains(n) => HttpPort::Number(*n as u16),
                    _ => {
                        r.error(pn, &format!("{path}/port"), format!("port `{name}` is not defined by `{}`; expected one of its named ports or a port number", c.name));
                        return None;
                    }
                },
            };
            let text = |r: &mut Reader, key: &str| {
                get_set(m, key).and_then(|n| r.string(n, &format!("{path}/{key}")))
            };
            let mut req_path = text(r, "path").unwrap_or_else(|| "/".into());
            if !req_path.starts_with('/') {
                req_path.insert(0, '/');
            }
            let method = text(r, "method")
                .unwrap_or_else(|| "GET".into())
                .to_uppercase();
            let options = http_options(
                r,
                get_set(m, "requests_options"),
                &format!("{path}/requests_options"),
            );
            Some(Check::Http {
                port,
                host: text(r, "host"),
                path: req_path,
                scheme: text(r, "scheme").unwrap_or_else(|| "http".into()),
                method,
                match_regex: text(r, "match_regex"),
                max_wait: count(r, "max_wait", DEFAULT_HTTP_MAX_WAIT),
                options: Box::new(options),
            })
        }
        "exec" => {
            r.unknown_keys(m, path, keys::CHECK_EXEC);
            let command = command(r)?;
            let envfrom = match get_set(m, "envfrom") {
                None => EnvFrom::Env,
                Some(n) => match n.as_str() {
                    Some("env") => EnvFrom::Env,
                    Some("stdin") => EnvFrom::Stdin,
                    _ => {
                        r.error(
                            n,
                            &format!("{path}/envfrom"),
                            format!("unknown envfrom {}; expected env or stdin", show(n)),
                        );
                        return None;
                    }
                },
            };
            Some(Check::Exec {
                command,
                attempts: count(r, "attempts", DEFAULT_ATTEMPTS),
                envfrom,
            })
        }
        "healthy" => {
            r.unknown_keys(m, path, keys::CHECK_HEALTHY);
            Some(Check::Healthy {
                max_wait: count(r, "max_wait", 300),
            })
        }
        "rexec" => {
            r.unknown_keys(m, path, keys::CHECK_REXEC);
            let command = command(r)?;
            Some(Check::Rexec {
                command,
                attempts: count(r, "attempts", DEFAULT_ATTEMPTS),
            })
        }
        _ => {
            r.unknown_keys(m, path, keys::CHECK_SLEEP);
            let n = required(r, "wait", "seconds to wait")?;
            Some(Check::Sleep {
                wait: r.seconds(n, &format!("{path}/wait"))?,
            })
        }
    }
}

fn http_options(r: &mut Reader, node: Option<&Node>, path: &str) -> HttpOptions {
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
        out.verify = r.boolean(n, &format!("{path}/verify")).unwrap_or(true);
    }
    if let Some(n) = get_set(m, "timeout") {
        out.timeout = r.seconds(n, &format!("{path}/timeout"));
    }
    if let Some(n) = get_set(m, "headers") {
        for (k, v) in r.map(n, &format!("{path}/headers")).unwrap_or(&[]) {
            if let (Some(k), Some(v)) = (
                r.key(k, &format!("{path}/headers")),
                pyfmt::env_string(&v.value),
            ) {
                out.headers.insert(k, v);
            }
        }
    }
    if let Some(n) = get_set(m, "auth") {
        let parts = r.string_list(n, &format!("{path}/auth"));
        match parts.as_slice() {
            [user, pass] => out.auth = Some((user.clone(), pass.clone())),
            _ => r.expected(n, &format!("{path}/auth"), "[user, password]"),
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
