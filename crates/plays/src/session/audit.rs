//! The audit trail (environment-file.md §8): who did what, told to every
//! auditor of the environment's `audit` list.
//!
//! A play is announced before it acts ([`Trail::action`]: `alice is starting
//! web-1, web-2.`) and reported when it ends ([`Trail::success`], `Start of
//! web-1, web-2 succeeded.`, or [`Trail::error`], `Failed to start web-1!
//! (message: …)`); auditors at `level: debug` also hear of each container
//! ([`Relay`], [`deliver`]). What each auditor type does:
//!
//! * `log`: appends `TIMESTAMP LEVEL: message` lines to its file;
//! * `http`: sends its payload (strings may use `{what}`, `{action}`, `{who}`,
//!   `{message}`) when an action starts;
//! * `exec`: when a play succeeds, runs its script (args may use `{action}`,
//!   `{what}`, `{who}`) with a JSON map container → `{ship, service}` on stdin;
//! * `slack`: posts the start, success and failure messages to its channel
//!   (`endpoint`, default Slack's `chat.postMessage`, so it can be tested);
//! * `hipchat`: nothing (the service is gone; loading the file warns).
//!
//! Each failure is an [`AuditError`]; the caller decides: a failing
//! announcement stops the play before it acts, unless the auditor has
//! `ignore_errors: true`. Every text sent or written is scrubbed of the
//! environment's secrets first, and no error quotes a token.

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use maestro_config::{AuditKind, AuditLevel, Auditor, Container, Environment, Secret};
use serde_json::{json, Value};
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;

use crate::act::outcome::{Observer, Outcome};
use crate::trace;

/// Slack's API method for posting a message.
pub const SLACK_ENDPOINT: &str = "https://slack.com/api/chat.postMessage";

/// How long an `exec` auditor's script may run.
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(120);

/// How long a Slack post may take.
const SLACK_TIMEOUT: Duration = Duration::from_secs(10);

/// From this many containers on, chat messages say `N containers`.
const COMPACT_LIMIT: usize = 5;

/// What happened, as told to the auditors.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Event {
    /// The action is about to begin.
    Action,
    /// It succeeded.
    Success,
    /// It failed, with the reason.
    Error(String),
}

/// One auditor that failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditError {
    /// Its position in the `audit` list.
    pub index: usize,
    /// Its type (`log`, `http`…).
    pub kind: &'static str,
    /// Why, as a sentence fragment (secrets scrubbed).
    pub reason: String,
    /// Whether the auditor has `ignore_errors: true`.
    pub ignored: bool,
}

impl std::fmt::Display for AuditError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the {} auditor (audit[{}]) failed: {}",
            self.kind, self.index, self.reason
        )
    }
}

/// Why one auditor could not be told; `Display` is the sentence fragment
/// an [`AuditError`] carries (scrubbed there).
#[derive(Debug, thiserror::Error)]
enum AuditFailure {
    /// The HTTP client the `http` and `slack` auditors share.
    #[error("{0}")]
    Client(#[from] ClientError),
    #[error("cannot open the log file {file}: {error}")]
    LogOpen { file: String, error: std::io::Error },
    #[error("cannot write to the log file {file}: {error}")]
    LogWrite { file: String, error: std::io::Error },
    #[error("invalid HTTP method `{0}`")]
    BadMethod(String),
    /// `at`: the endpoint as [`shown`]; `reason`: the HTTP client's error, readable.
    #[error("{method} {at}: {reason}")]
    HttpSend {
        method: reqwest::Method,
        at: String,
        reason: String,
    },
    #[error("{method} {at} answered {}", status_text(*.status))]
    HttpStatus {
        method: reqwest::Method,
        at: String,
        status: reqwest::StatusCode,
    },
    #[error("cannot post to Slack at {at}: {reason}")]
    SlackSend { at: String, reason: String },
    #[error("Slack at {at} answered {}", status_text(*.status))]
    SlackStatus {
        at: String,
        status: reqwest::StatusCode,
    },
    /// Slack answered `ok: false`, with its `error`.
    #[error("Slack refused the message to {channel}: {why}")]
    SlackRefused { channel: String, why: String },
    #[error("cannot run {script}: {error}")]
    ScriptSpawn {
        script: String,
        error: std::io::Error,
    },
    #[error("{script} ended with {status}")]
    ScriptStatus {
        script: String,
        status: std::process::ExitStatus,
    },
    #[error("waiting for {script} failed: {error}")]
    ScriptWait {
        script: String,
        error: std::io::Error,
    },
    #[error("{script} did not finish within {seconds} s")]
    ScriptTimeout { script: String, seconds: u64 },
}

/// Why the auditors' HTTP client could not be made (kept for the play:
/// every later auditor that needs it fails the same way).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
enum ClientError {
    #[error("cannot set up TLS certificate verification: {0}")]
    Verifier(rustls::Error),
    #[error("cannot set up TLS: {0}")]
    Tls(rustls::Error),
    /// The HTTP client's error, readable.
    #[error("cannot set up an HTTP client: {0}")]
    Build(String),
}

/// The type name of an auditor.
pub fn kind_name(kind: &AuditKind) -> &'static str {
    match kind {
        AuditKind::Log { .. } => "log",
        AuditKind::Http { .. } => "http",
        AuditKind::Exec { .. } => "exec",
        AuditKind::Slack { .. } => "slack",
        AuditKind::Hipchat { .. } => "hipchat",
    }
}

/// The local user's name: `LOGNAME`, `USER`, `LNAME`, `USERNAME`, else the
/// password database's name for this process's user.
pub fn local_user() -> String {
    for var in ["LOGNAME", "USER", "LNAME", "USERNAME"] {
        if let Ok(name) = std::env::var(var) {
            if !name.is_empty() {
                return name;
            }
        }
    }
    user_from_passwd().unwrap_or_else(|| "unknown".into())
}

fn user_from_passwd() -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let uid = std::fs::metadata("/proc/self").ok()?.uid();
    let passwd = std::fs::read_to_string("/etc/passwd").ok()?;
    passwd.lines().find_map(|line| {
        let mut fields = line.split(':');
        let name = fields.next()?;
        let id: u32 = fields.nth(1)?.parse().ok()?;
        (id == uid).then(|| name.to_owned())
    })
}

/// `web-1, web-2`.
pub fn names(what: &[&Container]) -> String {
    what.iter()
        .map(|c| c.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The names, or `7 containers` from five containers on.
pub fn compact(what: &[&Container]) -> String {
    if what.len() < COMPACT_LIMIT {
        names(what)
    } else {
        format!("{} containers", what.len())
    }
}

/// `starting`, `stopping`, `converging` (for `up`).
fn verb(action: &str) -> String {
    match action {
        "stop" => "stopping".into(),
        other if other.starts_with("run ") => format!("running {}", &other[4..]),
        "up" => "converging".into(),
        "lock" => "taking the deploy lock for".into(),
        "unlock" => "releasing the deploy lock for".into(),
        other => format!("{other}ing"),
    }
}

fn title(action: &str) -> String {
    let mut chars = action.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// The sentence for an event: `alice is starting web-1.`, `Start of web-1
/// succeeded.`, `Failed to start web-1! (message: …)`.
fn sentence(event: &Event, who: &str, what: &str, action: &str) -> String {
    match event {
        Event::Action => format!("{who} is {} {what}.", verb(action)),
        // `Run the pre_deploy hook `migrate` for web-1 succeeded.`
        Event::Success if action.ends_with(" for") => {
            format!("{} {what} succeeded.", title(action))
        }
        Event::Success => format!("{} of {what} succeeded.", title(action)),
        Event::Error(message) if message.is_empty() => format!("Failed to {action} {what}!"),
        Event::Error(message) => format!("Failed to {action} {what}! (message: {message})"),
    }
}

/// Python's `str.format` with the named values: `{name}` is replaced,
/// `{{`/`}}` are braces, anything else stays as written.
pub fn format_template(template: &str, values: &[(&str, &str)]) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(at) = rest.find(['{', '}']) {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        if tail.starts_with("{{") || tail.starts_with("}}") {
            out.push_str(&tail[..1]);
            rest = &tail[2..];
            continue;
        }
        if let Some(end) = tail.find('}').filter(|_| tail.starts_with('{')) {
            let name = &tail[1..end];
            if let Some((_, value)) = values.iter().find(|(n, _)| *n == name) {
                out.push_str(value);
                rest = &tail[end + 1..];
                continue;
            }
        }
        out.push_str(&tail[..1]);
        rest = &tail[1..];
    }
    out.push_str(rest);
    out
}

/// The `http` auditor's payload: every string formatted, empty strings,
/// lists and maps left out (as MaestroNG does).
pub fn render_payload(payload: &Value, values: &[(&str, &str)]) -> Value {
    fn render(value: &Value, values: &[(&str, &str)]) -> Option<Value> {
        match value {
            Value::String(s) => {
                let text = trace::scrub(&format_template(s, values));
                (!text.is_empty()).then_some(Value::String(text))
            }
            Value::Array(items) => {
                let items: Vec<Value> = items.iter().filter_map(|v| render(v, values)).collect();
                (!items.is_empty()).then_some(Value::Array(items))
            }
            Value::Object(map) => {
                let map: serde_json::Map<String, Value> = map
                    .iter()
                    .filter_map(|(k, v)| Some((k.clone(), render(v, values)?)))
                    .collect();
                (!map.is_empty()).then_some(Value::Object(map))
            }
            Value::Null => None,
            other => Some(other.clone()),
        }
    }
    render(payload, values).unwrap_or_else(|| json!({}))
}

/// The Slack message of an event: an attachment coloured by outcome, with
/// the full list of containers when the text only counts them.
pub fn slack_message(
    channel: &str,
    name: Option<&str>,
    icon: Option<&str>,
    text: &str,
    event_error: Option<&str>,
    what: &[&Container],
    color: &str,
) -> Value {
    let mut fields = Vec::new();
    if let Some(message) = event_error {
        fields.push(json!({"title": "Error", "value": trace::scrub(message), "short": true}));
    }
    if what.len() >= COMPACT_LIMIT {
        fields.push(json!({"title": "Targets", "value": names(what)}));
    }
    let mut body = json!({
        "channel": channel,
        "username": name.unwrap_or("maestro"),
        "text": "",
        "attachments": [{
            "fallback": text,
            "text": text,
            "color": color,
            "fields": fields,
        }],
    });
    if let (Some(icon), Some(map)) = (icon, body.as_object_mut()) {
        map.insert("icon_url".into(), json!(icon));
    }
    body
}

/// The `exec` auditor's stdin: container → `{ship: ip, service}`.
pub fn exec_input(env: &Environment, what: &[&Container]) -> Value {
    let map: serde_json::Map<String, Value> = what
        .iter()
        .map(|c| {
            let ip = env.ships.get(&c.ship).map(|s| s.ip.as_str()).unwrap_or("");
            (c.name.clone(), json!({"ship": ip, "service": c.service}))
        })
        .collect();
    Value::Object(map)
}

/// `2026-11-24 16:14:55,123` in local time (Python logging's `asctime`).
fn timestamp() -> String {
    chrono::Local::now()
        .format("%Y-%m-%d %H:%M:%S,%3f")
        .to_string()
}

/// The innermost cause of an HTTP client error, readable.
fn http_reason(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        return "timed out".into();
    }
    let mut innermost: &(dyn std::error::Error + 'static) = e;
    while let Some(source) = innermost.source() {
        innermost = source;
    }
    let text = innermost.to_string();
    let text = match text.rfind(" (os error ") {
        Some(i) if text.ends_with(')') => text[..i].to_owned(),
        _ => text,
    };
    let mut chars = text.chars();
    match chars.next() {
        Some(first) if chars.clone().next().is_some_and(char::is_lowercase) => {
            first.to_lowercase().chain(chars).collect()
        }
        _ => text,
    }
}

fn http_client() -> Result<reqwest::Client, ClientError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier =
        rustls_platform_verifier::Verifier::new(provider.clone()).map_err(ClientError::Verifier)?;
    let tls = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(ClientError::Tls)?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls)
        .build()
        .map_err(|e| ClientError::Build(http_reason(&e.without_url())))
}

/// An endpoint as messages show it: scheme, host and port only, since the
/// path of a webhook URL is often its secret (`/services/T0/B0/XXXX`).
pub fn shown(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(u) => match (u.host_str(), u.port()) {
            (Some(host), Some(port)) => format!("{}://{host}:{port}/…", u.scheme()),
            (Some(host), None) => format!("{}://{host}/…", u.scheme()),
            _ => "the endpoint".into(),
        },
        Err(_) => "the endpoint (not a valid URL)".into(),
    }
}

fn status_text(status: reqwest::StatusCode) -> String {
    match status.canonical_reason() {
        Some(reason) => format!("{} {reason}", status.as_u16()),
        None => status.as_u16().to_string(),
    }
}

/// Everything the auditors need: the environment and who acts.
pub struct Trail<'e> {
    env: &'e Environment,
    who: String,
    client: OnceLock<Result<reqwest::Client, ClientError>>,
}

impl<'e> Trail<'e> {
    /// The trail of `env`, on behalf of the local user.
    pub fn new(env: &'e Environment) -> Trail<'e> {
        Trail::with_user(env, local_user())
    }

    /// The trail of `env` on behalf of `who`.
    pub fn with_user(env: &'e Environment, who: String) -> Trail<'e> {
        trace::protect_environment(env);
        Trail {
            env,
            who,
            client: OnceLock::new(),
        }
    }

    /// Whether the environment has no auditors.
    pub fn is_empty(&self) -> bool {
        self.env.audit.is_empty()
    }

    /// Whether some auditor wants each container's actions too.
    pub fn wants_debug(&self) -> bool {
        self.env.audit.iter().any(|a| a.level == AuditLevel::Debug)
    }

    /// Announces `action` on `what` before it begins.
    pub async fn action(
        &self,
        level: AuditLevel,
        what: &[&Container],
        action: &str,
    ) -> Vec<AuditError> {
        self.tell(level, what, action, &Event::Action).await
    }

    /// Reports that `action` on `what` succeeded.
    pub async fn success(
        &self,
        level: AuditLevel,
        what: &[&Container],
        action: &str,
    ) -> Vec<AuditError> {
        self.tell(level, what, action, &Event::Success).await
    }

    /// Reports that `action` on `what` failed, and why.
    pub async fn error(
        &self,
        level: AuditLevel,
        what: &[&Container],
        action: &str,
        message: &str,
    ) -> Vec<AuditError> {
        let message = trace::scrub(message.lines().next().unwrap_or("").trim());
        self.tell(level, what, action, &Event::Error(message)).await
    }

    async fn tell(
        &self,
        level: AuditLevel,
        what: &[&Container],
        action: &str,
        event: &Event,
    ) -> Vec<AuditError> {
        let mut errors = Vec::new();
        for (index, auditor) in self.env.audit.iter().enumerate() {
            // An auditor at `info` hears of plays only; at `debug`, of each container too.
            if level == AuditLevel::Debug && auditor.level == AuditLevel::Info {
                continue;
            }
            let kind = kind_name(&auditor.kind);
            let told = Told {
                level,
                what,
                action,
                event,
            };
            match self.one(auditor, told).await {
                Ok(Some(done)) => trace::debug(format!("audit[{index}] ({kind}): {done}")),
                Ok(None) => {}
                Err(reason) => {
                    let error = AuditError {
                        index,
                        kind,
                        reason: trace::scrub(&reason.to_string()),
                        ignored: auditor.ignore_errors,
                    };
                    trace::debug(format!("{error}"));
                    errors.push(error);
                }
            }
        }
        errors
    }

    fn client(&self) -> Result<&reqwest::Client, ClientError> {
        self.client
            .get_or_init(http_client)
            .as_ref()
            .map_err(Clone::clone)
    }

    /// Tells one auditor; what it did (for the trace), `None` when the event
    /// is not for it.
    async fn one(&self, auditor: &Auditor, told: Told<'_>) -> Result<Option<String>, AuditFailure> {
        match &auditor.kind {
            AuditKind::Log { file } => self.log(file, told).map(Some),
            AuditKind::Http {
                endpoint,
                method,
                headers,
                timeout,
                payload,
            } => {
                if *told.event != Event::Action {
                    return Ok(None);
                }
                self.http(told, endpoint, method, headers, *timeout, payload)
                    .await
                    .map(Some)
            }
            AuditKind::Exec { script, args } => {
                // Only a whole play's success runs the script.
                if *told.event != Event::Success || told.level != AuditLevel::Info {
                    return Ok(None);
                }
                self.exec(told, script, args).await.map(Some)
            }
            AuditKind::Slack {
                channel,
                token,
                name,
                icon,
                endpoint,
            } => {
                let to = SlackTo {
                    channel,
                    token,
                    name: name.as_deref(),
                    icon: icon.as_deref(),
                    endpoint: endpoint.as_deref(),
                };
                self.slack(told, &to).await.map(Some)
            }
            AuditKind::Hipchat { .. } => Ok(None),
        }
    }

    /// A `log` auditor: appends `TIMESTAMP LEVEL: message` to its file.
    fn log(&self, file: &str, told: Told<'_>) -> Result<String, AuditFailure> {
        let text = trace::scrub(&sentence(
            told.event,
            &self.who,
            &names(told.what),
            told.action,
        ));
        let tag = match (told.event, told.level) {
            (Event::Error(_), _) => "ERROR",
            (_, AuditLevel::Debug) => "DEBUG",
            (_, AuditLevel::Info) => "INFO",
        };
        let line = format!("{} {tag}: {text}\n", timestamp());
        let mut out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(file)
            .map_err(|error| AuditFailure::LogOpen {
                file: file.to_owned(),
                error,
            })?;
        out.write_all(line.as_bytes())
            .map_err(|error| AuditFailure::LogWrite {
                file: file.to_owned(),
                error,
            })?;
        Ok(format!("wrote to {file}: {text}"))
    }

    /// An `http` auditor: sends its payload, its placeholders filled in.
    async fn http(
        &self,
        told: Told<'_>,
        endpoint: &str,
        method: &str,
        headers: impl IntoIterator<Item = (&String, &String)>,
        timeout: f64,
        payload: &Value,
    ) -> Result<String, AuditFailure> {
        let full = names(told.what);
        let message = sentence(told.event, &self.who, &full, told.action);
        let values = [
            ("what", full.as_str()),
            ("action", told.action),
            ("who", self.who.as_str()),
            ("message", message.as_str()),
        ];
        let body = render_payload(payload, &values);
        let method = reqwest::Method::from_bytes(method.as_bytes())
            .map_err(|_| AuditFailure::BadMethod(method.to_owned()))?;
        let mut request = self
            .client()?
            .request(method.clone(), endpoint)
            .header("Content-Type", "application/json; charset=utf-8");
        for (name, value) in headers {
            request = request.header(name.as_str(), value.as_str());
        }
        let seconds = if timeout.is_finite() && timeout > 0.0 {
            timeout.min(3600.0)
        } else {
            3.0
        };
        let response = request
            .timeout(Duration::from_secs_f64(seconds))
            .body(body.to_string())
            .send()
            .await
            .map_err(|e| AuditFailure::HttpSend {
                method: method.clone(),
                at: shown(endpoint),
                reason: http_reason(&e.without_url()),
            })?;
        let status = response.status();
        if !status.is_success() {
            return Err(AuditFailure::HttpStatus {
                method,
                at: shown(endpoint),
                status,
            });
        }
        Ok(format!(
            "{method} {}: {}",
            shown(endpoint),
            status_text(status)
        ))
    }

    /// An `exec` auditor: runs its script, its arguments' placeholders
    /// filled in, with the containers' map on its stdin.
    async fn exec(
        &self,
        told: Told<'_>,
        script: &str,
        args: &[String],
    ) -> Result<String, AuditFailure> {
        let joined = told
            .what
            .iter()
            .map(|c| c.name.as_str())
            .collect::<Vec<_>>()
            .join(",");
        let values = [
            ("action", told.action),
            ("what", joined.as_str()),
            ("who", self.who.as_str()),
        ];
        let args: Vec<String> = args.iter().map(|a| format_template(a, &values)).collect();
        let input = exec_input(self.env, told.what).to_string();
        run_script(script, &args, &input).await?;
        Ok(format!("ran {script}"))
    }

    /// A `slack` auditor: posts the message to its channel.
    async fn slack(&self, told: Told<'_>, to: &SlackTo<'_>) -> Result<String, AuditFailure> {
        let text = trace::scrub(&sentence(
            told.event,
            &self.who,
            &compact(told.what),
            told.action,
        ));
        let (color, error) = match told.event {
            Event::Action => ("#1dc7d3", None),
            Event::Success => ("good", None),
            Event::Error(message) => ("danger", Some(message.as_str())),
        };
        let body = slack_message(to.channel, to.name, to.icon, &text, error, told.what, color);
        let url = to.endpoint.unwrap_or(SLACK_ENDPOINT);
        let response = self
            .client()?
            .post(url)
            .header("Content-Type", "application/json; charset=utf-8")
            .bearer_auth(to.token.expose())
            .timeout(SLACK_TIMEOUT)
            .body(body.to_string())
            .send()
            .await
            .map_err(|e| AuditFailure::SlackSend {
                at: shown(url),
                reason: http_reason(&e.without_url()),
            })?;
        let status = response.status();
        if !status.is_success() {
            return Err(AuditFailure::SlackStatus {
                at: shown(url),
                status,
            });
        }
        slack_accepted(response, to.channel).await?;
        Ok(format!("posted to {}: {text}", to.channel))
    }
}

/// What an auditor is told: an `event` of `action` on `what`, at `level`.
#[derive(Clone, Copy)]
struct Told<'a> {
    level: AuditLevel,
    what: &'a [&'a Container],
    action: &'a str,
    event: &'a Event,
}

/// Where and as whom a `slack` auditor posts.
struct SlackTo<'a> {
    channel: &'a str,
    token: &'a Secret,
    name: Option<&'a str>,
    icon: Option<&'a str>,
    endpoint: Option<&'a str>,
}

/// Slack answers a refused message with success and `"ok": false`, and the
/// reason in `error`; an answer that is not JSON is taken as accepted.
async fn slack_accepted(response: reqwest::Response, channel: &str) -> Result<(), AuditFailure> {
    let reply: Value = match response.text().await {
        Ok(text) => serde_json::from_str(&text).unwrap_or(Value::Null),
        Err(_) => Value::Null,
    };
    if reply.get("ok") == Some(&Value::Bool(false)) {
        let why = reply
            .get("error")
            .and_then(Value::as_str)
            .unwrap_or("no reason given");
        return Err(AuditFailure::SlackRefused {
            channel: channel.to_owned(),
            why: why.to_owned(),
        });
    }
    Ok(())
}

/// Runs an `exec` auditor's script with `input` on its stdin; its output
/// goes to stderr (stdout holds maestro's own output).
async fn run_script(script: &str, args: &[String], input: &str) -> Result<(), AuditFailure> {
    let mut child = tokio::process::Command::new(script)
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::from(std::io::stderr()))
        .stderr(std::process::Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .map_err(|error| AuditFailure::ScriptSpawn {
            script: script.to_owned(),
            error,
        })?;
    if let Some(mut stdin) = child.stdin.take() {
        // A script that does not read its input is not an error.
        let _ = stdin.write_all(input.as_bytes()).await;
        let _ = stdin.shutdown().await;
    }
    match tokio::time::timeout(SCRIPT_TIMEOUT, child.wait()).await {
        Ok(Ok(status)) if status.success() => Ok(()),
        Ok(Ok(status)) => Err(AuditFailure::ScriptStatus {
            script: script.to_owned(),
            status,
        }),
        Ok(Err(error)) => Err(AuditFailure::ScriptWait {
            script: script.to_owned(),
            error,
        }),
        Err(_) => Err(AuditFailure::ScriptTimeout {
            script: script.to_owned(),
            seconds: SCRIPT_TIMEOUT.as_secs(),
        }),
    }
}

/// A container's turn in a play, for the auditors at `level: debug`; a
/// deploy hook, for every auditor.
#[derive(Debug, Clone)]
pub enum Step {
    Begin(usize),
    Finish(usize, Outcome),
    /// A hook ran as an operation of the container: its phase, its command
    /// (as a shell reads it) and why it failed.
    Hook {
        index: usize,
        phase: &'static str,
        command: String,
        failure: Option<String>,
    },
}

/// An [`Observer`] that passes everything on to `inner`, hands each
/// container's begin and end to the auditors (through a channel, see
/// [`deliver`]), and, with the debug trace on, writes each container's steps
/// to stderr (a pull's percentage only every 25 %).
pub struct Relay<'a> {
    inner: &'a dyn Observer,
    names: Vec<String>,
    sender: Mutex<Option<mpsc::UnboundedSender<Step>>>,
    /// Whether the containers' turns are sent (some auditor is at `debug`).
    turns: bool,
    last: Mutex<Vec<(String, u64)>>,
}

impl<'a> Relay<'a> {
    /// Relays to `inner`; `sender`, when given, gets the hooks, and with
    /// `turns` each container's turn.
    pub fn new(
        inner: &'a dyn Observer,
        containers: &[&Container],
        sender: Option<mpsc::UnboundedSender<Step>>,
        turns: bool,
    ) -> Relay<'a> {
        Relay {
            inner,
            names: containers.iter().map(|c| c.name.clone()).collect(),
            sender: Mutex::new(sender),
            turns,
            last: Mutex::new(vec![(String::new(), u64::MAX); containers.len()]),
        }
    }

    /// No more steps: lets [`deliver`] finish.
    pub fn close(&self) {
        if let Ok(mut sender) = self.sender.lock() {
            sender.take();
        }
    }

    fn send(&self, step: Step) {
        if let Ok(sender) = self.sender.lock() {
            if let Some(sender) = sender.as_ref() {
                let _ = sender.send(step);
            }
        }
    }
}

/// `pulling image x 45% (…)` → (`pulling image x`, Some(45)).
fn split_percent(text: &str) -> (&str, Option<u64>) {
    let Some(at) = text.find('%') else {
        return (text, None);
    };
    let head = &text[..at];
    let start = head
        .rfind(|c: char| !c.is_ascii_digit())
        .map_or(0, |i| i + 1);
    match head[start..].parse() {
        Ok(pct) => (head[..start].trim_end(), Some(pct)),
        Err(_) => (text, None),
    }
}

impl Observer for Relay<'_> {
    fn begin(&self, index: usize) {
        self.inner.begin(index);
        if self.turns {
            self.send(Step::Begin(index));
        }
    }

    fn progress(&self, index: usize, text: &str) {
        self.inner.progress(index, text);
        if !trace::enabled() {
            return;
        }
        let (step, pct) = split_percent(text);
        let bucket = pct.map_or(u64::MAX - 1, |p| p / 25);
        let show = match self.last.lock() {
            Ok(mut last) => match last.get_mut(index) {
                Some(slot) if slot.0 == step && slot.1 == bucket => false,
                Some(slot) => {
                    *slot = (step.to_owned(), bucket);
                    true
                }
                None => true,
            },
            Err(_) => true,
        };
        if show {
            let name = self.names.get(index).map_or("?", String::as_str);
            trace::debug(format!("{name}: {text}"));
        }
    }

    fn finish(&self, index: usize, outcome: &Outcome, elapsed: Duration) {
        self.inner.finish(index, outcome, elapsed);
        if trace::enabled() {
            let name = self.names.get(index).map_or("?", String::as_str);
            let text = match outcome {
                Outcome::Done(done) => done.text.clone(),
                Outcome::Failed(why) => format!("failed: {}", why.headline()),
                Outcome::Aborted { left, .. } => format!("aborted ({left})"),
            };
            trace::debug(format!("{name}: {text}"));
        }
        if self.turns {
            self.send(Step::Finish(index, outcome.clone()));
        }
    }

    fn hook(&self, index: usize, hook: &crate::decide::plan::HookRun, failure: Option<&str>) {
        self.inner.hook(index, hook, failure);
        self.send(Step::Hook {
            index,
            phase: hook.phase.name(),
            command: hook.command.join(" "),
            failure: failure.map(str::to_owned),
        });
    }
}

/// An auditor without `ignore_errors` failed to hear of a play about to
/// act: the play does not begin.
#[derive(Debug, Clone)]
pub struct Refused(pub AuditError);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}; nothing was done (give the auditor `ignore_errors: true` to act even when it fails)",
            self.0
        )
    }
}

/// Tells the auditors `action` is about to act on `containers`; a failing
/// auditor without `ignore_errors` stops it here, before anything is done.
pub async fn announce(
    trail: &Trail<'_>,
    containers: &[&Container],
    action: &str,
) -> Result<(), Refused> {
    if trail.is_empty() || containers.is_empty() {
        return Ok(());
    }
    let errors = trail.action(AuditLevel::Info, containers, action).await;
    match errors.into_iter().find(|e| !e.ignored) {
        Some(stop) => Err(Refused(stop)),
        None => Ok(()),
    }
}

/// Runs the play with each container's steps relayed to `observer`, the
/// debug trace and the `debug` auditors; the report and the auditors'
/// failures.
#[allow(clippy::too_many_arguments)]
pub async fn run_relayed(
    env: &Environment,
    fleet: &crate::Fleet,
    containers: &[&Container],
    kind: crate::PlayKind,
    options: &crate::PlayOptions,
    observer: &dyn Observer,
    trail: &Trail<'_>,
    interrupt: impl std::future::Future<Output = ()>,
) -> (crate::PlayReport, Vec<AuditError>) {
    let (sender, steps) = mpsc::unbounded_channel();
    let relay = Relay::new(
        observer,
        containers,
        (!trail.is_empty()).then_some(sender),
        trail.wants_debug(),
    );
    let play = async {
        let report =
            crate::run_play(env, fleet, containers, kind, options, &relay, interrupt).await;
        relay.close();
        report
    };
    tokio::join!(play, deliver(trail, containers, kind.name(), steps))
}

/// Tells the auditors how the play ended (`after`: what failed after the
/// play itself, e.g. removing orphans); their failures.
pub async fn conclude(
    trail: &Trail<'_>,
    containers: &[&Container],
    action: &str,
    report: &crate::PlayReport,
    after: Option<&str>,
) -> Vec<AuditError> {
    if trail.is_empty() || containers.is_empty() {
        return Vec::new();
    }
    let first_failure = report
        .outcomes
        .iter()
        .zip(containers)
        .find_map(|(o, c)| match o {
            Outcome::Failed(why) => Some(format!("{}: {}", c.name, why.headline())),
            _ => None,
        });
    let failure = if report.interrupted {
        Some("interrupted".to_owned())
    } else if first_failure.is_some() {
        first_failure
    } else if !report.succeeded() {
        Some("aborted".to_owned())
    } else {
        after.map(str::to_owned)
    };
    match &failure {
        None => trail.success(AuditLevel::Info, containers, action).await,
        Some(why) => trail.error(AuditLevel::Info, containers, action, why).await,
    }
}

/// Tells the `debug` auditors of each container's steps as they come from a
/// [`Relay`], until it is closed; the failures, in order.
pub async fn deliver(
    trail: &Trail<'_>,
    containers: &[&Container],
    action: &str,
    mut steps: mpsc::UnboundedReceiver<Step>,
) -> Vec<AuditError> {
    let mut errors = Vec::new();
    while let Some(step) = steps.recv().await {
        let (index, failed) = match &step {
            Step::Begin(i) => (*i, None),
            Step::Finish(i, outcome) => (*i, Some(outcome)),
            Step::Hook {
                index,
                phase,
                command,
                failure,
            } => {
                let Some(container) = containers.get(*index) else {
                    continue;
                };
                errors.extend(tell_hook(trail, container, phase, command, failure).await);
                continue;
            }
        };
        let Some(container) = containers.get(index) else {
            continue;
        };
        let what = [*container];
        let got = match failed {
            None => trail.action(AuditLevel::Debug, &what, action).await,
            Some(Outcome::Done(_)) => trail.success(AuditLevel::Debug, &what, action).await,
            Some(Outcome::Failed(why)) => {
                trail
                    .error(AuditLevel::Debug, &what, action, &why.to_string())
                    .await
            }
            Some(Outcome::Aborted { left, .. }) => {
                let why = format!("aborted ({left})");
                trail.error(AuditLevel::Debug, &what, action, &why).await
            }
        };
        errors.extend(got);
    }
    errors
}

/// Tells every auditor that a deploy hook ran on `container`'s ship
/// (`web-1`), and how it ended.
async fn tell_hook(
    trail: &Trail<'_>,
    container: &Container,
    phase: &str,
    command: &str,
    failure: &Option<String>,
) -> Vec<AuditError> {
    let what = [container];
    let action = format!("run the {phase} hook `{command}` for");
    let mut errors = trail.action(AuditLevel::Info, &what, &action).await;
    errors.extend(match failure {
        None => trail.success(AuditLevel::Info, &what, &action).await,
        Some(why) => trail.error(AuditLevel::Info, &what, &action, why).await,
    });
    errors
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_format_like_python() {
        let values = [("what", "web-1, web-2"), ("action", "start")];
        assert_eq!(
            format_template("{action} of {what}", &values),
            "start of web-1, web-2"
        );
        assert_eq!(format_template("{{what}} {x} }{", &values), "{what} {x} }{");
        assert_eq!(format_template("", &values), "");
    }

    #[test]
    fn payloads_drop_empty_values() {
        let payload = json!({
            "text": "{who} did {action}",
            "empty": "",
            "list": ["{what}", ""],
            "nested": {"gone": ""},
            "n": 3,
        });
        let out = render_payload(
            &payload,
            &[("who", "al"), ("action", "stop"), ("what", "a")],
        );
        assert_eq!(out, json!({"text": "al did stop", "list": ["a"], "n": 3}));
        assert_eq!(render_payload(&json!({}), &[]), json!({}));
    }

    #[test]
    fn sentences_read_as_the_spec_says() {
        assert_eq!(
            sentence(&Event::Action, "alice", "web-1, web-2", "start"),
            "alice is starting web-1, web-2."
        );
        assert_eq!(
            sentence(&Event::Action, "alice", "web-1", "stop"),
            "alice is stopping web-1."
        );
        assert_eq!(
            sentence(&Event::Success, "alice", "web-1, web-2", "start"),
            "Start of web-1, web-2 succeeded."
        );
        assert_eq!(
            sentence(&Event::Error("boom".into()), "alice", "web-1", "start"),
            "Failed to start web-1! (message: boom)"
        );
    }

    #[test]
    fn endpoints_are_shown_without_their_path() {
        assert_eq!(
            shown("https://hooks.slack.com/services/T0/B0/XXXX?x=1"),
            "https://hooks.slack.com/…"
        );
        assert_eq!(shown("http://127.0.0.1:9/x"), "http://127.0.0.1:9/…");
        assert_eq!(shown("nope"), "the endpoint (not a valid URL)");
    }

    #[test]
    fn percentages_split_off_progress() {
        assert_eq!(
            split_percent("pulling image a:1 45% (1.0 of 2.0 MB)"),
            ("pulling image a:1", Some(45))
        );
        assert_eq!(
            split_percent("creating container"),
            ("creating container", None)
        );
    }
}
