//! The audit trail configuration (§8): who is told what, and whether a failing
//! auditor may stop a play.

use indexmap::IndexMap;

use crate::keys;
use crate::model::{AuditKind, AuditLevel, Auditor, Secret};
use crate::pyfmt;
use crate::reader::{get_set, show, Reader};
use crate::yaml::{Node, Value};

const TYPES: &[&str] = &["log", "http", "exec", "slack", "hipchat"];

pub fn build(r: &mut Reader, node: Option<&Node>) -> Vec<Auditor> {
    let Some(node) = node else { return Vec::new() };
    let items = match &node.value {
        Value::Seq(items) => items.as_slice(),
        _ => {
            r.expected(node, "audit", "a list of auditors");
            return Vec::new();
        }
    };
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let path = format!("audit[{i}]");
        let Value::Map(m) = &item.value else {
            r.expected(item, &path, "an auditor like {type: log, file: PATH}");
            continue;
        };
        let m = m.as_slice();
        let kind = match get_set(m, "type").and_then(|t| t.as_str()) {
            Some(k) if TYPES.contains(&k) => k,
            _ => {
                match get_set(m, "type") {
                    Some(t) => r.error(
                        t,
                        &format!("{path}/type"),
                        format!(
                            "unknown auditor type {}; expected one of: {}",
                            show(t),
                            TYPES.join(", ")
                        ),
                    ),
                    None => r.error(
                        item,
                        &path,
                        format!("missing required key `type` (one of: {})", TYPES.join(", ")),
                    ),
                }
                continue;
            }
        };
        let level = match get_set(m, "level") {
            None => AuditLevel::Info,
            Some(n) => match n.as_str() {
                Some("info") => AuditLevel::Info,
                Some("debug") => AuditLevel::Debug,
                _ => {
                    r.error(
                        n,
                        &format!("{path}/level"),
                        format!("unknown audit level {}; expected info or debug", show(n)),
                    );
                    AuditLevel::Info
                }
            },
        };
        let ignore_errors = get_set(m, "ignore_errors")
            .and_then(|n| r.boolean(n, &format!("{path}/ignore_errors")))
            .unwrap_or(false);
        let text = |r: &mut Reader, key: &str| {
            get_set(m, key).and_then(|n| r.string(n, &format!("{path}/{key}")))
        };
        let required = |r: &mut Reader, key: &str, what: &str| -> Option<String> {
            match get_set(m, key) {
                Some(n) => r.string(n, &format!("{path}/{key}")),
                None => {
                    r.error(
                        item,
                        &path,
                        format!(
                            "missing required key `{key}` ({what}) for {} {kind} auditor",
                            crate::lifecycle::article(kind)
                        ),
                    );
                    None
                }
            }
        };
        let known = |extra: &[&'static str]| -> Vec<&'static str> {
            keys::AUDIT_COMMON.iter().chain(extra).copied().collect()
        };
        let built = match kind {
            "log" => {
                r.unknown_keys(m, &path, &known(keys::AUDIT_LOG));
                required(r, "file", "the log file").map(|file| AuditKind::Log { file })
            }
            "http" => {
                r.unknown_keys(m, &path, &known(keys::AUDIT_HTTP));
                let endpoint = required(r, "endpoint", "the URL to call");
                let method = text(r, "method")
                    .unwrap_or_else(|| "POST".into())
                    .to_uppercase();
                if method != "POST" && method != "GET" {
                    let at = get_set(m, "method").unwrap_or(item);
                    r.error(
                        at,
                        &format!("{path}/method"),
                        format!("unknown HTTP method `{method}`; expected POST or GET"),
                    );
                }
                let mut headers = IndexMap::new();
                if let Some(n) = get_set(m, "headers") {
                    for (k, v) in r.map(n, &format!("{path}/headers")).unwrap_or(&[]) {
                        if let (Some(k), Some(v)) = (
                            r.key(k, &format!("{path}/headers")),
                            pyfmt::env_string(&v.value),
                        ) {
                            headers.insert(k, v);
                        }
                    }
                }
                let timeout = get_set(m, "timeout")
                    .and_then(|n| r.seconds(n, &format!("{path}/timeout")))
                    .unwrap_or(3.0);
                let payload = get_set(m, "payload")
                    .map(to_json)
                    .unwrap_or(serde_json::Value::Object(Default::default()));
                endpoint.map(|endpoint| AuditKind::Http {
                    endpoint,
                    method,
                    headers,
                    timeout,
                    payload,
                })
            }
            "exec" => {
                r.unknown_keys(m, &path, &known(keys::AUDIT_EXEC));
                let script = required(r, "script", "the script to run");
                let args = match get_set(m, "args") {
                    Some(
                        n @ Node {
                            value: Value::Str(s),
                            ..
                        },
                    ) => shlex::split(s).unwrap_or_else(|| {
                        r.error(
                            n,
                            &format!("{path}/args"),
                            "cannot split the arguments like a shell would (unclosed quote)",
                        );
                        Vec::new()
                    }),
                    Some(n) => r.string_list(n, &format!("{path}/args")),
                    None => Vec::new(),
                };
                script.map(|script| AuditKind::Exec { script, args })
            }
            "slack" => {
                r.unknown_keys(m, &path, &known(keys::AUDIT_SLACK));
                let channel = required(r, "channel", "the channel to post to");
                let token = required(r, "token", "the bot token");
                match (channel, token) {
                    (Some(channel), Some(token)) => Some(AuditKind::Slack {
                        channel,
                        token: Secret::new(token),
                        name: text(r, "name"),
                        icon: text(r, "icon"),
                        endpoint: text(r, "endpoint"),
                    }),
                    _ => None,
                }
            }
            _ => {
                r.unknown_keys(m, &path, &known(keys::AUDIT_HIPCHAT));
                let room = required(r, "room", "the room to post to");
                let token = required(r, "token", "the API token");
                r.warn(
                    item,
                    &path,
                    "HipChat was shut down in 2019: this auditor is accepted but does nothing",
                );
                match (room, token) {
                    (Some(room), Some(token)) => Some(AuditKind::Hipchat {
                        room,
                        token: Secret::new(token),
                        name: text(r, "name"),
                    }),
                    _ => None,
                }
            }
        };
        if let Some(kind) = built {
            out.push(Auditor {
                kind,
                level,
                ignore_errors,
            });
        }
    }
    out
}

/// A YAML tree as JSON (for webhook payloads).
pub fn to_json(node: &Node) -> serde_json::Value {
    use serde_json::Value as J;
    match &node.value {
        Value::Null => J::Null,
        Value::Bool(b) => J::Bool(*b),
        Value::Int(i) => i64::try_from(*i)
            .map(J::from)
            .unwrap_or_else(|_| J::String(i.to_string())),
        Value::Float(f) => serde_json::Number::from_f64(*f)
            .map(J::Number)
            .unwrap_or(J::Null),
        Value::Str(s) | Value::Date(s) => J::String(s.clone()),
        Value::Seq(items) => J::Array(items.iter().map(to_json).collect()),
        Value::Map(entries) => J::Object(
            entries
                .iter()
                .map(|(k, v)| (pyfmt::key_text(&k.value), to_json(v)))
                .collect(),
        ),
    }
}
