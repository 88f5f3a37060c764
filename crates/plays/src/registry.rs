//! Which credentials and retry policy go with an image (commands.md,
//! "Registries and credentials"). For `host[:port]/repo:tag`: the
//! environment's `registries` entry named `host[:port]`, else one whose
//! `registry` URL has that host (with or without port); else the user's
//! Docker client configuration: `$DOCKER_CONFIG/config.json` (default
//! `~/.docker/config.json`) with its `credHelpers`, `credsStore` and `auths`,
//! then the older `~/.dockercfg`. Images without a registry host (Docker Hub)
//! need none. Also how to read a refusal: the statuses `retry.when` is
//! matched against ([`statuses`]) and whether it was about credentials
//! ([`refused_credentials`]).
//!
//! The parsing and matching are pure; reading the files and running
//! `docker-credential-<name> get` happen at the edge ([`client_files`],
//! [`resolve`]). Secrets are held as [`Secret`]s and never formatted: the
//! `Debug` of every type here masks them.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use base64::Engine as _;
use maestro_config::{Environment, Registry, Retry, Secret};
use maestro_engine::{DockerCredentials, EngineError};
use serde_json::Value;

use crate::trace;

/// How long a credential helper may take (it may ask a keyring).
const HELPER_TIMEOUT: Duration = Duration::from_secs(60);

/// The retry policy of a registry without a `registries` entry (or without
/// `retry`): three attempts, but on no status, so no retry.
const DEFAULT_ATTEMPTS: u32 = 3;

/// The registry host of an image (`host[:port]`), or `None` for Docker Hub
/// images (`busybox`, `team/app`).
pub fn registry_host(image: &str) -> Option<&str> {
    let (first, _) = image.split_once('/')?;
    (first.contains('.') || first.contains(':') || first == "localhost").then_some(first)
}

fn bare(host: &str) -> &str {
    host.split(':').next().unwrap_or(host)
}

fn url_host(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let rest = rest.split('/').next().unwrap_or(rest);
    // `user@host`: the host is after the last `@`.
    rest.rsplit('@').next().unwrap_or(rest)
}

/// The one name Docker Hub goes by in client configurations.
fn canonical(host: &str) -> &str {
    match host {
        "docker.io" | "registry-1.docker.io" | "index.docker.io" => "index.docker.io",
        other => other,
    }
}

/// The `registries` entry for `image`, if any.
pub fn registry_for<'e>(env: &'e Environment, image: &str) -> Option<&'e Registry> {
    let host = registry_host(image)?;
    if let Some(r) = env.registries.get(host) {
        return Some(r);
    }
    env.registries.values().find(|r| {
        let h = url_host(&r.registry);
        !h.is_empty() && (h == host || bare(h) == bare(host))
    })
}

/// The retry policy for logins and pulls of `image`.
pub fn retry_for(env: &Environment, image: &str) -> Retry {
    registry_for(env, image)
        .map(|r| r.retry.clone())
        .unwrap_or(Retry {
            attempts: DEFAULT_ATTEMPTS,
            when: Vec::new(),
        })
}

/// The HTTP statuses an engine error carries: the engine's own, and any the
/// registry answered as the engine reports it (`… failed with status: 503
/// Service Unavailable`). `retry.when` is matched against all of them.
pub fn statuses(error: &EngineError) -> Vec<u16> {
    static PATTERN: OnceLock<Option<regex::Regex>> = OnceLock::new();
    let pattern = PATTERN.get_or_init(|| {
        regex::Regex::new(r"(?i)\bstatus(?: code)?:?\s+([1-5]\d\d)\b|\b([1-5]\d\d) [A-Z][a-z]+")
            .ok()
    });
    let mut found: Vec<u16> = error.status().into_iter().collect();
    if let (Some(pattern), EngineError::Refused { message, .. }) = (pattern, error) {
        for caps in pattern.captures_iter(message) {
            if let Some(n) = caps
                .get(1)
                .or_else(|| caps.get(2))
                .and_then(|m| m.as_str().parse().ok())
            {
                found.push(n);
            }
        }
    }
    found
}

/// Whether the registry turned the request down for want of (right) credentials.
pub fn refused_credentials(error: &EngineError) -> bool {
    let EngineError::Refused { message, .. } = error else {
        return false;
    };
    let m = message.to_ascii_lowercase();
    [
        "no basic auth credentials",
        "unauthorized",
        "authentication required",
        "access denied",
        "denied: ",
        "incorrect username or password",
    ]
    .iter()
    .any(|needle| m.contains(needle))
}

/// The status of `error` that `retry` retries on, if any.
pub fn retry_status(error: &EngineError, retry: &Retry) -> Option<u16> {
    statuses(error).into_iter().find(|s| retry.when.contains(s))
}

/// Where credentials were found, for messages (never the secret itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A `registries` entry of the environment file, by name.
    EnvironmentFile { entry: String },
    /// The `auths` of a Docker client `config.json`.
    Auths { file: PathBuf },
    /// A credential helper (`credHelpers` or `credsStore`), by program.
    Helper { program: String },
    /// The older `~/.dockercfg`.
    DockerCfg { file: PathBuf },
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::EnvironmentFile { entry } => {
                write!(f, "the environment file's `registries` entry `{entry}`")
            }
            Source::Auths { file } => write!(f, "`auths` in {}", file.display()),
            Source::Helper { program } => write!(f, "the credential helper {program}"),
            Source::DockerCfg { file } => write!(f, "{}", file.display()),
        }
    }
}

/// Credentials for one registry, and where they came from.
#[derive(Clone, PartialEq)]
pub struct Credentials {
    /// The registry host they are for (`host[:port]`).
    pub server: String,
    pub username: Option<String>,
    password: Option<Secret>,
    identity_token: Option<Secret>,
    pub email: Option<String>,
    pub source: Source,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("server", &self.server)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .field(
                "identity_token",
                &self.identity_token.as_ref().map(|_| "***"),
            )
            .field("source", &self.source)
            .finish()
    }
}

impl Credentials {
    fn new(server: &str, entry: AuthEntry, source: Source) -> Credentials {
        for secret in [&entry.password, &entry.identity_token]
            .into_iter()
            .flatten()
        {
            trace::protect(secret.expose());
        }
        Credentials {
            server: server.to_owned(),
            username: entry.username,
            password: entry.password,
            identity_token: entry.identity_token,
            email: entry.email,
            source,
        }
    }

    /// What the engine gets with a login or a pull.
    pub fn docker(&self) -> DockerCredentials {
        DockerCredentials {
            username: self.username.clone(),
            password: self.password.as_ref().map(|p| p.expose().to_owned()),
            email: self.email.clone(),
            serveraddress: Some(self.server.clone()),
            identitytoken: self.identity_token.as_ref().map(|t| t.expose().to_owned()),
            ..Default::default()
        }
    }

    /// Who logs in, for messages: `user alice`, or `an identity token`.
    pub fn who(&self) -> String {
        match (&self.username, &self.identity_token) {
            (_, Some(_)) => "an identity token".into(),
            (Some(user), None) => format!("user {user}"),
            (None, None) => "no user name".into(),
        }
    }

    /// Whether there is anything to log in with.
    pub fn can_log_in(&self) -> bool {
        self.identity_token.is_some() || (self.username.is_some() && self.password.is_some())
    }
}

/// One `auths` entry, decoded.
#[derive(Clone, Default, PartialEq)]
struct AuthEntry {
    username: Option<String>,
    password: Option<Secret>,
    identity_token: Option<Secret>,
    email: Option<String>,
}

impl fmt::Debug for AuthEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthEntry")
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "***"))
            .field(
                "identity_token",
                &self.identity_token.as_ref().map(|_| "***"),
            )
            .finish()
    }
}

impl AuthEntry {
    fn is_usable(&self) -> bool {
        self.identity_token.is_some() || self.username.is_some()
    }
}

/// What a Docker client configuration file holds, parsed.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ClientConfig {
    /// `auths`: server key (`https://host/v1/`, `host:5000`…) → entry.
    auths: Vec<(String, AuthEntry)>,
    /// `credsStore`: the helper for every registry.
    pub creds_store: Option<String>,
    /// `credHelpers`: registry host → helper.
    pub cred_helpers: Vec<(String, String)>,
}

/// The host a configuration key names: `https://reg.example.com/v1/` →
/// `reg.example.com`, `127.0.0.1:5000` → itself.
pub fn key_host(key: &str) -> &str {
    let rest = key.split_once("://").map_or(key, |(_, r)| r);
    rest.split('/').next().unwrap_or(rest)
}

fn text_field(map: &serde_json::Map<String, Value>, key: &str) -> Option<String> {
    map.get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// One `auths` entry: `auth` (base64 of `user:password`) or
/// `username`/`password`, and `identitytoken`.
fn auth_entry(key: &str, value: &Value) -> Result<AuthEntry, String> {
    let Some(map) = value.as_object() else {
        return Err(format!("the entry for `{key}` is not an object"));
    };
    let mut entry = AuthEntry {
        username: text_field(map, "username"),
        password: text_field(map, "password").map(Secret::new),
        identity_token: text_field(map, "identitytoken").map(Secret::new),
        email: text_field(map, "email"),
    };
    if let Some(auth) = text_field(map, "auth") {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(auth.trim())
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .ok_or_else(|| format!("the `auth` of `{key}` is not base64 of `user:password`"))?;
        let (user, password) = decoded
            .split_once(':')
            .ok_or_else(|| format!("the `auth` of `{key}` is not base64 of `user:password`"))?;
        entry.username = Some(user.to_owned());
        entry.password = Some(Secret::new(password.trim_end_matches('\0').to_owned()));
    }
    Ok(entry)
}

fn auths(object: &serde_json::Map<String, Value>) -> Result<Vec<(String, AuthEntry)>, String> {
    object
        .iter()
        .map(|(key, value)| Ok((key.clone(), auth_entry(key, value)?)))
        .collect()
}

/// Parses a `config.json` (`auths`, `credsStore`, `credHelpers`).
pub fn parse_config_json(text: &str) -> Result<ClientConfig, String> {
    let root: Value = serde_json::from_str(text).map_err(|e| {
        format!(
            "it is not valid JSON (line {}, column {})",
            e.line(),
            e.column()
        )
    })?;
    let Some(root) = root.as_object() else {
        return Err("it is not a JSON object".into());
    };
    let mut config = ClientConfig::default();
    match root.get("auths") {
        None | Some(Value::Null) => {}
        Some(Value::Object(map)) => config.auths = auths(map)?,
        Some(_) => return Err("its `auths` is not an object".into()),
    }
    config.creds_store = text_field(root, "credsStore");
    match root.get("credHelpers") {
        None | Some(Value::Null) => {}
        Some(Value::Object(map)) => {
            for (host, helper) in map {
                let helper = helper.as_str().ok_or_else(|| {
                    format!("its `credHelpers` entry for `{host}` is not a string")
                })?;
                config.cred_helpers.push((host.clone(), helper.to_owned()));
            }
        }
        Some(_) => return Err("its `credHelpers` is not an object".into()),
    }
    Ok(config)
}

/// Parses the older `~/.dockercfg`: server → `{auth, email}` at the top level.
pub fn parse_dockercfg(text: &str) -> Result<ClientConfig, String> {
    let root: Value = serde_json::from_str(text).map_err(|e| {
        format!(
            "it is not valid JSON (line {}, column {})",
            e.line(),
            e.column()
        )
    })?;
    let Some(root) = root.as_object() else {
        return Err("it is not a JSON object".into());
    };
    Ok(ClientConfig {
        auths: auths(root)?,
        ..Default::default()
    })
}

/// What a client configuration says to do for one registry host.
#[derive(Debug, Clone, PartialEq)]
pub enum Plan {
    /// Ask this helper (`docker-credential-<name>`); when it has nothing,
    /// use the `fallback` from `auths`, if any.
    Helper {
        program: String,
        fallback: Option<Credentials>,
    },
    /// These credentials, from `auths`.
    Use(Credentials),
    /// The configuration has nothing for the host.
    Nothing,
}

/// A helper name must be a plain word: it becomes part of a program name.
fn helper_program(name: &str) -> Result<String, String> {
    if !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && !name.starts_with('.')
    {
        Ok(format!("docker-credential-{name}"))
    } else {
        Err(format!(
            "the credential helper name `{name}` is not a plain name (letters, digits, `-`, `_`, `.`)"
        ))
    }
}

impl ClientConfig {
    /// The plan for `host`: its `credHelpers` entry, else `credsStore`, else
    /// its `auths` entry. `source` is where `auths` entries come from.
    pub fn plan(&self, host: &str, source: &Source) -> Result<Plan, String> {
        let host = canonical(host);
        let fallback = self
            .auths
            .iter()
            .find(|(key, entry)| canonical(key_host(key)) == host && entry.is_usable())
            .map(|(_, entry)| Credentials::new(host, entry.clone(), source.clone()));
        let helper = self
            .cred_helpers
            .iter()
            .find(|(key, _)| canonical(key_host(key)) == host)
            .map(|(_, name)| name.as_str())
            .or(self.creds_store.as_deref());
        Ok(match (helper, fallback) {
            (Some(name), fallback) => Plan::Helper {
                program: helper_program(name)?,
                fallback,
            },
            (None, Some(found)) => Plan::Use(found),
            (None, None) => Plan::Nothing,
        })
    }
}

/// Reads a helper's reply to `get`: `{"ServerURL", "Username", "Secret"}`;
/// the user name `<token>` means the secret is an identity token.
pub fn parse_helper_reply(
    reply: &str,
    host: &str,
    program: &str,
) -> Result<Option<Credentials>, String> {
    // The reply holds the secret: never quote it in a message.
    let value: Value = serde_json::from_str(reply.trim())
        .map_err(|_| format!("{program} answered something other than a JSON object"))?;
    let Some(map) = value.as_object() else {
        return Err(format!(
            "{program} answered something other than a JSON object"
        ));
    };
    let username = text_field(map, "Username");
    let Some(secret) = text_field(map, "Secret") else {
        return Ok(None);
    };
    let entry = if username.as_deref() == Some("<token>") {
        AuthEntry {
            identity_token: Some(Secret::new(secret)),
            ..Default::default()
        }
    } else {
        AuthEntry {
            username,
            password: Some(Secret::new(secret)),
            ..Default::default()
        }
    };
    Ok(Some(Credentials::new(
        host,
        entry,
        Source::Helper {
            program: program.to_owned(),
        },
    )))
}

/// The user's Docker client configuration files, as read from disk: each
/// path with its text, or why it could not be read. A missing file is `None`.
#[derive(Debug, Clone, Default)]
pub struct ClientFiles {
    pub config: Option<(PathBuf, Result<String, String>)>,
    pub dockercfg: Option<(PathBuf, Result<String, String>)>,
}

/// `config.json` in `$DOCKER_CONFIG`, else in `~/.docker`; `~/.dockercfg`.
pub fn client_paths(
    docker_config: Option<&str>,
    home: Option<&str>,
) -> (Option<PathBuf>, Option<PathBuf>) {
    let home = home.filter(|h| !h.is_empty()).map(PathBuf::from);
    let config = match docker_config.filter(|d| !d.is_empty()) {
        Some(dir) => Some(Path::new(dir).join("config.json")),
        None => home.as_ref().map(|h| h.join(".docker").join("config.json")),
    };
    (config, home.map(|h| h.join(".dockercfg")))
}

fn read_optional(path: Option<PathBuf>) -> Option<(PathBuf, Result<String, String>)> {
    let path = path?;
    match std::fs::read_to_string(&path) {
        Ok(text) => Some((path, Ok(text))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => Some((path, Err(format!("cannot be read: {e}")))),
    }
}

/// Reads the client configuration files named by this process's environment.
pub fn client_files() -> ClientFiles {
    let docker_config = std::env::var("DOCKER_CONFIG").ok();
    let home = std::env::var("HOME").ok();
    let (config, dockercfg) = client_paths(docker_config.as_deref(), home.as_deref());
    ClientFiles {
        config: read_optional(config),
        dockercfg: read_optional(dockercfg),
    }
}

/// The outcome of a credential lookup for one registry host.
#[derive(Debug, Clone, Default)]
pub struct Resolution {
    /// What was found, if anything.
    pub credentials: Option<Credentials>,
    /// Where it looked, for a message when nothing was found.
    pub looked: Vec<String>,
    /// Problems met on the way (a broken file, a failing helper).
    pub problems: Vec<String>,
}

impl Resolution {
    /// One clause for messages: what was found, or where nothing was.
    pub fn describe(&self) -> String {
        let mut text = match &self.credentials {
            Some(c) => format!("{} from {}", c.who(), c.source),
            None => match self.looked.split_last() {
                Some((last, [])) => format!("none found in {last}"),
                Some((last, rest)) => format!("none found in {} or {last}", rest.join(", ")),
                None => "none found".to_owned(),
            },
        };
        for problem in &self.problems {
            text.push_str("; ");
            text.push_str(problem);
        }
        text
    }
}

/// What the environment file says for `host`, if it has credentials.
fn from_environment(env: &Environment, image: &str) -> Option<Credentials> {
    let host = registry_host(image)?;
    let entry = registry_for(env, image)?;
    let found = AuthEntry {
        username: entry.username.clone().filter(|u| !u.is_empty()),
        password: entry.password.clone(),
        identity_token: None,
        email: entry.email.clone(),
    };
    found.username.as_ref()?;
    Some(Credentials::new(
        host,
        found,
        Source::EnvironmentFile {
            entry: entry.name.clone(),
        },
    ))
}

/// The pure part of a lookup in the client configuration: the plan for
/// `host` from the files, and the problems met (a file that cannot be read
/// or parsed is skipped, with a problem).
pub fn plan_from_files(files: &ClientFiles, host: &str) -> (Plan, Vec<String>, Vec<String>) {
    let mut looked = Vec::new();
    let mut problems = Vec::new();
    let mut consider =
        |entry: &Option<(PathBuf, Result<String, String>)>, legacy: bool| -> Option<Plan> {
            let (path, text) = entry.as_ref()?;
            looked.push(path.display().to_string());
            let parsed = text.clone().and_then(|t| {
                if legacy {
                    parse_dockercfg(&t)
                } else {
                    parse_config_json(&t)
                }
            });
            let source = if legacy {
                Source::DockerCfg { file: path.clone() }
            } else {
                Source::Auths { file: path.clone() }
            };
            match parsed.and_then(|config| config.plan(host, &source)) {
                Ok(Plan::Nothing) => None,
                Ok(plan) => Some(plan),
                Err(e) => {
                    problems.push(format!("{} was skipped: {e}", path.display()));
                    None
                }
            }
        };
    let plan = consider(&files.config, false)
        .or_else(|| consider(&files.dockercfg, true))
        .unwrap_or(Plan::Nothing);
    (plan, looked, problems)
}

/// Runs `program get` with `host` on its stdin; its credentials, or `None`
/// when it has none for the host.
pub async fn run_helper(program: &str, host: &str) -> Result<Option<Credentials>, String> {
    use tokio::io::AsyncWriteExt;
    let mut child = tokio::process::Command::new(program)
        .arg("get")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => {
                format!("the credential helper {program} is not installed (not on PATH)")
            }
            _ => format!("the credential helper {program} cannot be run: {e}"),
        })?;
    if let Some(mut stdin) = child.stdin.take() {
        // A helper that exits without reading is judged by its reply below.
        let _ = stdin.write_all(host.as_bytes()).await;
        let _ = stdin.shutdown().await;
    }
    let output = match tokio::time::timeout(HELPER_TIMEOUT, child.wait_with_output()).await {
        Ok(Ok(output)) => output,
        Ok(Err(e)) => return Err(format!("the credential helper {program} failed: {e}")),
        Err(_) => {
            return Err(format!(
                "the credential helper {program} did not answer within {} s",
                HELPER_TIMEOUT.as_secs()
            ))
        }
    };
    let stdout = String::from_utf8_lossy(&output.stdout);
    if !output.status.success() {
        // Helpers say "credentials not found in native keychain" on stdout.
        if stdout
            .to_ascii_lowercase()
            .contains("credentials not found")
        {
            return Ok(None);
        }
        let stderr = String::from_utf8_lossy(&output.stderr);
        let said = stderr
            .lines()
            .chain(stdout.lines())
            .map(str::trim)
            .find(|l| !l.is_empty())
            .map(|l| format!(": {}", trace::scrub(l)))
            .unwrap_or_default();
        return Err(format!(
            "the credential helper {program} failed ({}){said}",
            output.status
        ));
    }
    parse_helper_reply(&stdout, host, program)
}

/// Finds the credentials for `image` (see the module's documentation), at
/// most once per registry host and process: helpers are not asked again
/// for every container.
pub async fn resolve(env: &Environment, image: &str) -> Resolution {
    trace::protect_environment(env);
    let Some(host) = registry_host(image) else {
        return Resolution::default();
    };
    static CACHE: OnceLock<tokio::sync::Mutex<HashMap<String, Resolution>>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    let mut cache = cache.lock().await;
    if let Some(found) = cache.get(host) {
        return found.clone();
    }
    let found = resolve_uncached(env, image, host).await;
    trace::debug(format!(
        "credentials for registry {host}: {}",
        found.describe()
    ));
    cache.insert(host.to_owned(), found.clone());
    found
}

async fn resolve_uncached(env: &Environment, image: &str, host: &str) -> Resolution {
    let mut looked = vec!["the environment file's `registries`".to_owned()];
    if let Some(found) = from_environment(env, image) {
        return Resolution {
            credentials: Some(found),
            looked,
            problems: Vec::new(),
        };
    }
    let files = client_files();
    let (plan, files_looked, mut problems) = plan_from_files(&files, host);
    if files_looked.is_empty() {
        let docker_config = std::env::var("DOCKER_CONFIG").ok();
        let home = std::env::var("HOME").ok();
        looked.push(
            match client_paths(docker_config.as_deref(), home.as_deref()).0 {
                Some(path) => format!(
                    "a Docker client configuration (there is no {})",
                    path.display()
                ),
                None => {
                    "a Docker client configuration (neither DOCKER_CONFIG nor HOME is set)".into()
                }
            },
        );
    } else {
        looked.extend(files_looked);
    }
    let credentials = match plan {
        Plan::Nothing => None,
        Plan::Use(found) => Some(found),
        Plan::Helper { program, fallback } => {
            looked.push(program.clone());
            match run_helper(&program, host).await {
                Ok(Some(found)) => Some(found),
                Ok(None) => fallback,
                Err(e) => {
                    problems.push(e);
                    fallback
                }
            }
        }
    };
    Resolution {
        credentials,
        looked,
        problems,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(message: &str) -> EngineError {
        EngineError::Refused {
            ship: "s".into(),
            action: "pull image x".into(),
            status: 500,
            message: message.into(),
        }
    }

    #[test]
    fn statuses_come_from_the_engine_and_the_registry() {
        let e =
            refused("login attempt to http://h:1/v2/ failed with status: 503 Service Unavailable");
        assert_eq!(statuses(&e), vec![500, 503]);
        let e = refused("received unexpected HTTP status: 502 Bad Gateway");
        assert_eq!(statuses(&e), vec![500, 502]);
        let e = refused("manifest for h/x:1 not found: manifest unknown");
        assert_eq!(statuses(&e), vec![500]);
        let retry = Retry {
            attempts: 3,
            when: vec![503],
        };
        assert_eq!(
            retry_status(
                &refused("failed with status: 503 Service Unavailable"),
                &retry
            ),
            Some(503)
        );
        assert_eq!(retry_status(&refused("unauthorized"), &retry), None);
    }

    #[test]
    fn credential_refusals_are_recognised() {
        for message in [
            "Head \"http://h/v2/x/manifests/1\": no basic auth credentials",
            "unauthorized: authentication required",
            "login attempt to http://h/v2/ failed with status: 401 Unauthorized",
            "pull access denied for x, repository does not exist or may require 'docker login'",
        ] {
            assert!(refused_credentials(&refused(message)), "{message}");
        }
        for message in [
            "manifest for h/x:1 not found: manifest unknown",
            "Get \"http://h/v2/\": dial tcp h: connect: connection refused",
            "digest sha256:401abc mismatch",
        ] {
            assert!(!refused_credentials(&refused(message)), "{message}");
        }
    }

    fn b64(text: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(text)
    }

    fn source() -> Source {
        Source::Auths {
            file: PathBuf::from("/c/config.json"),
        }
    }

    #[test]
    fn registry_hosts_are_told_from_hub_names() {
        assert_eq!(registry_host("busybox"), None);
        assert_eq!(registry_host("team/app:1"), None);
        assert_eq!(
            registry_host("127.0.0.1:5000/team/box:1"),
            Some("127.0.0.1:5000")
        );
        assert_eq!(
            registry_host("reg.example.com/app"),
            Some("reg.example.com")
        );
        assert_eq!(registry_host("localhost/app"), Some("localhost"));
        assert_eq!(
            url_host("https://reg.example.com:5000/v2/"),
            "reg.example.com:5000"
        );
        assert_eq!(url_host("https://u@reg.example.com/"), "reg.example.com");
    }

    #[test]
    fn configuration_keys_name_hosts() {
        assert_eq!(key_host("https://index.docker.io/v1/"), "index.docker.io");
        assert_eq!(key_host("127.0.0.1:5000"), "127.0.0.1:5000");
        assert_eq!(key_host("http://reg.example.com:80"), "reg.example.com:80");
    }

    #[test]
    fn auths_decode_base64_and_plain_fields() {
        let text = format!(
            r#"{{"auths": {{
                "127.0.0.1:5000": {{"auth": "{}"}},
                "https://reg.example.com/v1/": {{"username": "bob", "password": "pw2"}},
                "tok.example.com": {{"identitytoken": "tkn"}}
            }}}}"#,
            b64("alice:s3:cret")
        );
        let config = parse_config_json(&text).unwrap();
        let Plan::Use(found) = config.plan("127.0.0.1:5000", &source()).unwrap() else {
            panic!("no plan for 127.0.0.1:5000");
        };
        let docker = found.docker();
        assert_eq!(docker.username.as_deref(), Some("alice"));
        assert_eq!(docker.password.as_deref(), Some("s3:cret"));
        assert_eq!(docker.serveraddress.as_deref(), Some("127.0.0.1:5000"));
        assert_eq!(found.source, source());
        let Plan::Use(found) = config.plan("reg.example.com", &source()).unwrap() else {
            panic!("no plan for reg.example.com");
        };
        assert_eq!(found.docker().password.as_deref(), Some("pw2"));
        let Plan::Use(found) = config.plan("tok.example.com", &source()).unwrap() else {
            panic!("no plan for tok.example.com");
        };
        assert_eq!(found.docker().identitytoken.as_deref(), Some("tkn"));
        assert_eq!(found.who(), "an identity token");
        assert_eq!(
            config.plan("other.example.com", &source()).unwrap(),
            Plan::Nothing
        );
    }

    #[test]
    fn secrets_never_show_in_debug_output() {
        let text = format!(
            r#"{{"auths": {{"h:1": {{"auth": "{}"}}}}}}"#,
            b64("u:hidden-pw")
        );
        let config = parse_config_json(&text).unwrap();
        let plan = config.plan("h:1", &source()).unwrap();
        let shown = format!("{config:?} {plan:?}");
        assert!(!shown.contains("hidden-pw"), "{shown}");
        assert!(shown.contains("***"));
    }

    #[test]
    fn helpers_come_before_auths_and_store() {
        let text = format!(
            r#"{{"auths": {{"h:1": {{"auth": "{}"}}, "h:2": {{}}}},
                "credsStore": "store", "credHelpers": {{"h:1": "special"}}}}"#,
            b64("u:p")
        );
        let config = parse_config_json(&text).unwrap();
        match config.plan("h:1", &source()).unwrap() {
            Plan::Helper { program, fallback } => {
                assert_eq!(program, "docker-credential-special");
                assert!(fallback.is_some());
            }
            other => panic!("{other:?}"),
        }
        match config.plan("h:2", &source()).unwrap() {
            Plan::Helper { program, fallback } => {
                assert_eq!(program, "docker-credential-store");
                assert!(fallback.is_none(), "an empty entry is only a marker");
            }
            other => panic!("{other:?}"),
        }
        let bad = parse_config_json(r#"{"credHelpers": {"h:1": "../../bin/sh"}}"#).unwrap();
        assert!(bad.plan("h:1", &source()).is_err());
    }

    #[test]
    fn broken_configurations_are_sentences() {
        assert!(parse_config_json("{")
            .unwrap_err()
            .contains("not valid JSON"));
        assert!(parse_config_json("[]")
            .unwrap_err()
            .contains("not a JSON object"));
        let e = parse_config_json(r#"{"auths": {"h": {"auth": "!!"}}}"#).unwrap_err();
        assert!(e.contains("not base64"), "{e}");
        let e = parse_config_json(&format!(
            r#"{{"auths": {{"h": {{"auth": "{}"}}}}}}"#,
            b64("nocolon")
        ))
        .unwrap_err();
        assert!(e.contains("user:password"), "{e}");
    }

    #[test]
    fn the_older_dockercfg_is_read() {
        let text = format!(
            r#"{{"https://h:5/": {{"auth": "{}", "email": "e@x"}}}}"#,
            b64("a:b")
        );
        let config = parse_dockercfg(&text).unwrap();
        let Plan::Use(found) = config.plan("h:5", &source()).unwrap() else {
            panic!("no plan");
        };
        assert_eq!(found.docker().email.as_deref(), Some("e@x"));
    }

    #[test]
    fn helper_replies_give_passwords_or_identity_tokens() {
        let found = parse_helper_reply(
            r#"{"ServerURL": "h:1", "Username": "u", "Secret": "p"}"#,
            "h:1",
            "docker-credential-x",
        )
        .unwrap()
        .unwrap();
        assert_eq!(found.docker().password.as_deref(), Some("p"));
        assert_eq!(
            found.source,
            Source::Helper {
                program: "docker-credential-x".into()
            }
        );
        let token = parse_helper_reply(
            r#"{"Username": "<token>", "Secret": "t"}"#,
            "h:1",
            "docker-credential-x",
        )
        .unwrap()
        .unwrap();
        assert_eq!(token.docker().identitytoken.as_deref(), Some("t"));
        assert_eq!(token.docker().username, None);
        let e = parse_helper_reply("secret-in-garbage", "h", "docker-credential-x").unwrap_err();
        assert!(!e.contains("secret-in-garbage"), "{e}");
    }

    #[test]
    fn paths_follow_docker_config_and_home() {
        let (c, d) = client_paths(Some("/dc"), Some("/home/a"));
        assert_eq!(c, Some(PathBuf::from("/dc/config.json")));
        assert_eq!(d, Some(PathBuf::from("/home/a/.dockercfg")));
        let (c, _) = client_paths(None, Some("/home/a"));
        assert_eq!(c, Some(PathBuf::from("/home/a/.docker/config.json")));
        assert_eq!(client_paths(Some(""), None), (None, None));
    }

    #[test]
    fn files_are_planned_in_order_and_problems_kept() {
        let files = ClientFiles {
            config: Some((PathBuf::from("/c/config.json"), Ok("{oops".into()))),
            dockercfg: Some((
                PathBuf::from("/h/.dockercfg"),
                Ok(format!(r#"{{"h:1": {{"auth": "{}"}}}}"#, b64("a:b"))),
            )),
        };
        let (plan, looked, problems) = plan_from_files(&files, "h:1");
        assert!(
            matches!(plan, Plan::Use(ref c) if c.source == Source::DockerCfg { file: PathBuf::from("/h/.dockercfg") })
        );
        assert_eq!(looked, vec!["/c/config.json", "/h/.dockercfg"]);
        assert_eq!(problems.len(), 1);
        assert!(problems[0].starts_with("/c/config.json was skipped"));
    }
}
