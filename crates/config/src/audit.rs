//! The audit trail configuration (§8): who is told what, and whether a failing
//! auditor may stop a play.

use indexmap::IndexMap;

use crate::keys;
use crate::model::{AuditKind, AuditLevel, Auditor, Secret};
use crate::pyfmt;
use crate::reader::{get_set, show, KeyPath, Reader};
use crate::yaml::{Node, Value};

const TYPES: &[&str] = &["log", "http", "exec", "slack", "hipchat"];

/// The file's `audit` list.
pub fn build(r: &mut Reader, node: Option<&Node>) -> Vec<Auditor> {
    let Some(node) = node else { return Vec::new() };
    let items = match &node.value {
        Value::Seq(items) => items.as_slice(),
        _ => {
            r.expected(node, &"audit", "a list of auditors");
            return Vec::new();
        }
    };
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        if let Some(auditor) = auditor(r, item, &format_args!("audit[{i}]")) {
            out.push(auditor);
        }
    }
    out
}

/// One auditor of the list, at `path`.
fn auditor(r: &mut Reader, item: &Node, path: &KeyPath) -> Option<Auditor> {
    let Value::Map(m) = &item.value else {
        r.expected(item, path, "an auditor like {type: log, file: PATH}");
        return None;
    };
    let kind = auditor_type(r, item, m, path)?;
    let level = level(r, m, path);
    let ignore_errors = get_set(m, "ignore_errors")
        .and_then(|n| r.boolean(n, &format_args!("{path}/ignore_errors")))
        .unwrap_or(false);
    let given = AuditorKeys {
        m,
        item,
        path,
        kind,
    };
    let built = match kind {
        "log" => {
            r.unknown_keys(m, path, &given.known(keys::AUDIT_LOG));
            given
                .required(r, "file", "the log file")
                .map(|file| AuditKind::Log { file })
        }
        "http" => http_auditor(r, &given),
        "exec" => exec_auditor(r, &given),
        "slack" => slack_auditor(r, &given),
        _ => hipchat_auditor(r, &given),
    };
    built.map(|kind| Auditor {
        kind,
        level,
        ignore_errors,
    })
}

/// The auditor's `type`, one of [`TYPES`].
fn auditor_type<'m>(
    r: &mut Reader,
    item: &Node,
    m: &'m [(Node, Node)],
    path: &KeyPath,
) -> Option<&'m str> {
    match get_set(m, "type").and_then(|t| t.as_str()) {
        Some(k) if TYPES.contains(&k) => Some(k),
        _ => {
            match get_set(m, "type") {
                Some(t) => r.error(
                    t,
                    &format_args!("{path}/type"),
                    format!(
                        "unknown auditor type {}; expected one of: {}",
                        show(t),
                        TYPES.join(", ")
                    ),
                ),
                None => r.error(
                    item,
                    path,
                    format!("missing required key `type` (one of: {})", TYPES.join(", ")),
                ),
            }
            None
        }
    }
}

/// The auditor's `level`: info (the default) or debug.
fn level(r: &mut Reader, m: &[(Node, Node)], path: &KeyPath) -> AuditLevel {
    match get_set(m, "level") {
        None => AuditLevel::Info,
        Some(n) => match n.as_str() {
            Some("info") => AuditLevel::Info,
            Some("debug") => AuditLevel::Debug,
            _ => {
                r.error(
                    n,
                    &format_args!("{path}/level"),
                    format!("unknown audit level {}; expected info or debug", show(n)),
                );
                AuditLevel::Info
            }
        },
    }
}

/// One auditor's keys (`m`, of the auditor at `item`), with its path and type.
struct AuditorKeys<'a> {
    m: &'a [(Node, Node)],
    item: &'a Node,
    path: &'a KeyPath<'a>,
    kind: &'a str,
}

impl AuditorKeys<'_> {
    /// The string `key`, if given.
    fn text(&self, r: &mut Reader, key: &str) -> Option<String> {
        get_set(self.m, key).and_then(|n| r.string(n, &format_args!("{}/{key}", self.path)))
    }

    /// The string `key`, which this type of auditor needs (`what` says why).
    fn required(&self, r: &mut Reader, key: &str, what: &str) -> Option<String> {
        match get_set(self.m, key) {
            Some(n) => r.string(n, &format_args!("{}/{key}", self.path)),
            None => {
                r.error(
                    self.item,
                    self.path,
                    format!(
                        "missing required key `{key}` ({what}) for {} {} auditor",
                        crate::lifecycle::article(self.kind),
                        self.kind
                    ),
                );
                None
            }
        }
    }

    /// The keys every auditor takes, and `extra`.
    fn known(&self, extra: &[&'static str]) -> Vec<&'static str> {
        keys::AUDIT_COMMON.iter().chain(extra).copied().collect()
    }
}

/// `http`: a request (POST or GET) to `endpoint`, with headers and a payload.
fn http_auditor(r: &mut Reader, given: &AuditorKeys) -> Option<AuditKind> {
    let (m, path) = (given.m, given.path);
    r.unknown_keys(m, &path, &given.known(keys::AUDIT_HTTP));
    let endpoint = given.required(r, "endpoint", "the URL to call");
    let method = given
        .text(r, "method")
        .unwrap_or_else(|| "POST".into())
        .to_uppercase();
    if method != "POST" && method != "GET" {
        let at = get_set(m, "method").unwrap_or(given.item);
        r.error(
            at,
            &format_args!("{path}/method"),
            format!("unknown HTTP method `{method}`; expected POST or GET"),
        );
    }
    let mut headers = IndexMap::new();
    if let Some(n) = get_set(m, "headers") {
        for (k, v) in r.map(n, &format_args!("{path}/headers")).unwrap_or(&[]) {
            if let (Some(k), Some(v)) = (
                r.key(k, &format_args!("{path}/headers")),
                pyfmt::env_string(&v.value),
            ) {
                headers.insert(k, v);
            }
        }
    }
    let timeout = get_set(m, "timeout")
        .and_then(|n| r.seconds(n, &format_args!("{path}/timeout")))
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

/// `exec`: a script run with `args` (a list, or split like a shell would).
fn exec_auditor(r: &mut Reader, given: &AuditorKeys) -> Option<AuditKind> {
    let (m, path) = (given.m, given.path);
    r.unknown_keys(m, &path, &given.known(keys::AUDIT_EXEC));
    let script = given.required(r, "script", "the script to run");
    let args = match get_set(m, "args") {
        Some(
            n @ Node {
                value: Value::Str(s),
                ..
            },
        ) => shlex::split(s).unwrap_or_else(|| {
            r.error(
                n,
                &format_args!("{path}/args"),
                "cannot split the arguments like a shell would (unclosed quote)",
            );
            Vec::new()
        }),
        Some(n) => r.string_list(n, &format_args!("{path}/args")),
        None => Vec::new(),
    };
    script.map(|script| AuditKind::Exec { script, args })
}

/// `slack`: a message to a channel.
fn slack_auditor(r: &mut Reader, given: &AuditorKeys) -> Option<AuditKind> {
    r.unknown_keys(given.m, given.path, &given.known(keys::AUDIT_SLACK));
    let channel = given.required(r, "channel", "the channel to post to");
    let token = given.required(r, "token", "the bot token");
    match (channel, token) {
        (Some(channel), Some(token)) => Some(AuditKind::Slack {
            channel,
            token: Secret::new(token),
            name: given.text(r, "name"),
            icon: given.text(r, "icon"),
            endpoint: given.text(r, "endpoint"),
        }),
        _ => None,
    }
}

/// `hipchat`: accepted, with a warning, for a service that no longer exists.
fn hipchat_auditor(r: &mut Reader, given: &AuditorKeys) -> Option<AuditKind> {
    r.unknown_keys(given.m, given.path, &given.known(keys::AUDIT_HIPCHAT));
    let room = given.required(r, "room", "the room to post to");
    let token = given.required(r, "token", "the API token");
    r.warn(
        given.item,
        given.path,
        "HipChat was shut down in 2019: this auditor is accepted but does nothing",
    );
    match (room, token) {
        (Some(room), Some(token)) => Some(AuditKind::Hipchat {
            room,
            token: Secret::new(token),
            name: given.text(r, "name"),
        }),
        _ => None,
    }
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
