//! Which credentials and retry policy go with an image (commands.md,
//! "Registries and credentials"). An image's registry is the host its name
//! starts with (`host[:port]/repo:tag`), or Docker Hub (`docker.io`) for
//! names without one (`busybox`, `team/app`) and for the names Docker Hub
//! goes by (`docker.io/…`, `index.docker.io/…`, `registry-1.docker.io/…`).
//! Its credentials: the environment's `registries` entry named after the
//! registry, else one whose `registry` URL has its host (with or without
//! port); else the user's Docker client configuration:
//! `$DOCKER_CONFIG/config.json` (default `~/.docker/config.json`) with its
//! `credHelpers`, `credsStore` and `auths`, then the older `~/.dockercfg`.
//! Docker Hub's credentials are filed under `https://index.docker.io/v1/`
//! there, as the Docker CLI files them, and that is also the server address
//! the engine gets for Docker Hub. Also how to read a refusal: the statuses
//! `retry.when` is matched against ([`statuses`]) and whether it was about
//! credentials ([`refused_credentials`]).
//!
//! The parsing and matching are pure; reading the files and running
//! `docker-credential-<name> get` happen at the edge ([`client_files`],
//! [`CredentialCache::resolve`]). Secrets are held as [`Secret`]s and never
//! formatted: the `Debug` of every type here masks them.

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
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

/// The name Docker Hub goes by as a registry (what [`registry_name`] gives).
pub const HUB: &str = "docker.io";

/// The key Docker clients file Docker Hub's credentials under (in `auths`,
/// `credHelpers`, and on a credential helper's stdin), and the server
/// address engines expect in a login or pull for Docker Hub.
pub const HUB_SERVER: &str = "https://index.docker.io/v1/";

/// The host names Docker Hub goes by.
const HUB_HOSTS: [&str; 3] = ["docker.io", "index.docker.io", "registry-1.docker.io"];

/// The registry host written in an image's name (`host[:port]`), or `None`
/// when the name has none (`busybox`, `team/app`: Docker Hub).
pub fn registry_host(image: &str) -> Option<&str> {
    let (first, _) = image.split_once('/')?;
    (first.contains('.') || first.contains(':') || first == "localhost").then_some(first)
}

/// Whether `host` is one of the names Docker Hub goes by.
pub fn is_hub(host: &str) -> bool {
    HUB_HOSTS.iter().any(|h| h.eq_ignore_ascii_case(host))
}

/// The registry an image comes from: the host in its name, or [`HUB`] for
/// Docker Hub, however its name spells it (`busybox`, `library/busybox`,
/// `team/app:1`, `docker.io/team/app`, `index.docker.io/…`,
/// `registry-1.docker.io/…`). Credentials are looked up, and cached, per
/// registry name.
pub fn registry_name(image: &str) -> &str {
    match registry_host(image) {
        Some(host) if !is_hub(host) => host,
        _ => HUB,
    }
}

/// The server address credentials for `registry` (a [`registry_name`]) are
/// filed under and sent to the engine with: [`HUB_SERVER`] for Docker Hub,
/// else the registry's `host[:port]`.
pub fn server_address(registry: &str) -> &str {
    if is_hub(registry) {
        HUB_SERVER
    } else {
        registry
    }
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

/// One name per registry: Docker Hub's names become [`HUB`].
fn normalize(host: &str) -> &str {
    if is_hub(host) {
        HUB
    } else {
        host
    }
}

/// Whether the host of a `registries` entry's URL is `registry`'s.
fn same_registry(url_host: &str, registry: &str) -> bool {
    if registry == HUB {
        is_hub(url_host) || is_hub(bare(url_host))
    } else {
        url_host == registry || bare(url_host) == bare(registry)
    }
}

/// The `registries` entry for `image`, if any: the one named as the
/// image's registry host is written (`127.0.0.1:5000`, `docker.io`), else,
/// for Docker Hub images, one named by any name Docker Hub goes by; else
/// the first whose `registry` URL has the registry's host, with or without
/// port (for Docker Hub: any of its host names, so `registry:
/// https://index.docker.io/v1/` serves `busybox`).
pub fn registry_for<'e>(env: &'e Environment, image: &str) -> Option<&'e Registry> {
    let registry = registry_name(image);
    if let Some(found) = registry_host(image).and_then(|h| env.registries.get(h)) {
        return Some(found);
    }
    if registry == HUB {
        if let Some(found) = HUB_HOSTS.iter().find_map(|h| env.registries.get(*h)) {
            return Some(found);
        }
    }
    env.registries.values().find(|r| {
        let h = url_host(&r.registry);
        !h.is_empty() && same_registry(h, registry)
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
    /// The server address they are for: the registry's `host[:port]`, or
    /// `https://index.docker.io/v1/` for Docker Hub.
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

/// Why a Docker client configuration file (`config.json`, `.dockercfg`)
/// cannot be used; `Display` is the clause after `FILE was skipped: `.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ConfigFileError {
    /// Reading it failed (other than its absence).
    #[error("cannot be read: {0}")]
    Unreadable(Arc<std::io::Error>),
    #[error("it is not valid JSON (line {line}, column {column})")]
    NotJson { line: usize, column: usize },
    #[error("it is not a JSON object")]
    NotObject,
    #[error("its `auths` is not an object")]
    AuthsNotObject,
    #[error("its `credHelpers` is not an object")]
    HelpersNotObject,
    /// The `credHelpers` entry for this host.
    #[error("its `credHelpers` entry for `{0}` is not a string")]
    HelperNotText(String),
    /// The `auths` entry under this key.
    #[error("the entry for `{0}` is not an object")]
    EntryNotObject(String),
    /// The `auth` of the entry under this key.
    #[error("the `auth` of `{0}` is not base64 of `user:password`")]
    BadAuth(String),
    /// A `credHelpers` or `credsStore` name that cannot be part of a program name.
    #[error(
        "the credential helper name `{0}` is not a plain name (letters, digits, `-`, `_`, `.`)"
    )]
    BadHelperName(String),
}

impl ConfigFileError {
    fn json(e: &serde_json::Error) -> ConfigFileError {
        ConfigFileError::NotJson {
            line: e.line(),
            column: e.column(),
        }
    }
}

/// Why a credential helper (`docker-credential-<name> get`) gave no
/// credentials; `Display` names the program. A helper that has none for
/// the server is not an error.
#[derive(Debug, thiserror::Error)]
pub enum HelperError {
    #[error("the credential helper {program} is not installed (not on PATH)")]
    NotInstalled { program: String },
    #[error("the credential helper {program} cannot be run: {error}")]
    CannotRun {
        program: String,
        error: std::io::Error,
    },
    /// Waiting for it failed.
    #[error("the credential helper {program} failed: {error}")]
    Wait {
        program: String,
        error: std::io::Error,
    },
    #[error("the credential helper {program} did not answer within {seconds} s")]
    Timeout { program: String, seconds: u64 },
    /// It exited unsuccessfully; `said`: the first line of its output
    /// (secrets scrubbed), if any.
    #[error("the credential helper {program} failed ({status}){}", said_text(.said))]
    Failed {
        program: String,
        status: std::process::ExitStatus,
        said: Option<String>,
    },
    /// Its reply is not a JSON object (never quoted: it may hold the secret).
    #[error("{program} answered something other than a JSON object")]
    BadReply { program: String },
}

/// `: what it said`, or nothing.
fn said_text(said: &Option<String>) -> String {
    said.as_ref().map(|s| format!(": {s}")).unwrap_or_default()
}

/// One `auths` entry: `auth` (base64 of `user:password`) or
/// `username`/`password`, and `identitytoken`.
fn auth_entry(key: &str, value: &Value) -> Result<AuthEntry, ConfigFileError> {
    let Some(map) = value.as_object() else {
        return Err(ConfigFileError::EntryNotObject(key.to_owned()));
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
            .ok_or_else(|| ConfigFileError::BadAuth(key.to_owned()))?;
        let (user, password) = decoded
            .split_once(':')
            .ok_or_else(|| ConfigFileError::BadAuth(key.to_owned()))?;
        entry.username = Some(user.to_owned());
        entry.password = Some(Secret::new(password.trim_end_matches('\0').to_owned()));
    }
    Ok(entry)
}

fn auths(
    object: &serde_json::Map<String, Value>,
) -> Result<Vec<(String, AuthEntry)>, ConfigFileError> {
    object
        .iter()
        .map(|(key, value)| Ok((key.clone(), auth_entry(key, value)?)))
        .collect()
}

/// Parses a `config.json` (`auths`, `credsStore`, `credHelpers`).
pub fn parse_config_json(text: &str) -> Result<ClientConfig, ConfigFileError> {
    let root: Value = serde_json::from_str(text).map_err(|e| ConfigFileError::json(&e))?;
    let Some(root) = root.as_object() else {
        return Err(ConfigFileError::NotObject);
    };
    let mut config = ClientConfig::default();
    match root.get("auths") {
        None | Some(Value::Null) => {}
        Some(Value::Object(map)) => config.auths = auths(map)?,
        Some(_) => return Err(ConfigFileError::AuthsNotObject),
    }
    config.creds_store = text_field(root, "credsStore");
    match root.get("credHelpers") {
        None | Some(Value::Null) => {}
        Some(Value::Object(map)) => {
            for (host, helper) in map {
                let helper = helper
                    .as_str()
                    .ok_or_else(|| ConfigFileError::HelperNotText(host.clone()))?;
                config.cred_helpers.push((host.clone(), helper.to_owned()));
            }
        }
        Some(_) => return Err(ConfigFileError::HelpersNotObject),
    }
    Ok(config)
}

/// Parses the older `~/.dockercfg`: server → `{auth, email}` at the top level.
pub fn parse_dockercfg(text: &str) -> Result<ClientConfig, ConfigFileError> {
    let root: Value = serde_json::from_str(text).map_err(|e| ConfigFileError::json(&e))?;
    let Some(root) = root.as_object() else {
        return Err(ConfigFileError::NotObject);
    };
    Ok(ClientConfig {
        auths: auths(root)?,
        ..Default::default()
    })
}

/// What a client configuration says to do for one registry host.
#[derive(Debug, Clone, PartialEq)]
pub enum Plan {
    /// Ask this helper (`docker-credential-<name>`) for `server` (the
    /// registry's [`server_address`]); when it has nothing, use the
    /// `fallback` from `auths`, if any.
    Helper {
        program: String,
        server: String,
        fallback: Option<Credentials>,
    },
    /// These credentials, from `auths`.
    Use(Credentials),
    /// The configuration has nothing for the host.
    Nothing,
}

/// A helper name must be a plain word: it becomes part of a program name.
fn helper_program(name: &str) -> Result<String, ConfigFileError> {
    if !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && !name.starts_with('.')
    {
        Ok(format!("docker-credential-{name}"))
    } else {
        Err(ConfigFileError::BadHelperName(name.to_owned()))
    }
}

impl ClientConfig {
    /// The plan for `registry` (a host, or any name Docker Hub goes by), as
    /// the Docker CLI reads its configuration: the `credHelpers` entry for
    /// the registry's server address ([`server_address`]: the host, or
    /// `https://index.docker.io/v1/` for Docker Hub), else `credsStore`,
    /// else the `auths` entry for that address. Like the Python client
    /// MaestroNG used, keys naming the same registry another way also count
    /// (`https://reg.example.com/v1/` for `reg.example.com`; `docker.io`,
    /// `index.docker.io`, `https://index.docker.io/v1` for Docker Hub), after
    /// the exact key; and when the helper has nothing, a usable `auths` entry
    /// is the fallback. `source` is where `auths` entries come from.
    pub fn plan(&self, registry: &str, source: &Source) -> Result<Plan, ConfigFileError> {
        let registry = normalize(registry);
        let server = server_address(registry);
        let names_it = |key: &str| normalize(key_host(key)) == registry;
        let usable = || self.auths.iter().filter(|(_, entry)| entry.is_usable());
        let fallback = usable()
            .find(|(key, _)| key == server)
            .or_else(|| usable().find(|(key, _)| names_it(key)))
            .map(|(_, entry)| Credentials::new(server, entry.clone(), source.clone()));
        let helper = self
            .cred_helpers
            .iter()
            .find(|(key, _)| key == server)
            .or_else(|| self.cred_helpers.iter().find(|(key, _)| names_it(key)))
            .map(|(_, name)| name.as_str())
            .or(self.creds_store.as_deref());
        Ok(match (helper, fallback) {
            (Some(name), fallback) => Plan::Helper {
                program: helper_program(name)?,
                server: server.to_owned(),
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
) -> Result<Option<Credentials>, HelperError> {
    // The reply holds the secret: never quote it in a message.
    let bad_reply = || HelperError::BadReply {
        program: program.to_owned(),
    };
    let value: Value = serde_json::from_str(reply.trim()).map_err(|_| bad_reply())?;
    let Some(map) = value.as_object() else {
        return Err(bad_reply());
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
    pub config: Option<(PathBuf, Result<String, ConfigFileError>)>,
    pub dockercfg: Option<(PathBuf, Result<String, ConfigFileError>)>,
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

fn read_optional(path: Option<PathBuf>) -> Option<(PathBuf, Result<String, ConfigFileError>)> {
    let path = path?;
    match std::fs::read_to_string(&path) {
        Ok(text) => Some((path, Ok(text))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(e) => Some((path, Err(ConfigFileError::Unreadable(Arc::new(e))))),
    }
}

/// Reads the client configuration files named by this process's environment.
pub fn client_files() -> ClientFiles {
    ClientSetup::from_process().files()
}

/// Where lookups find the Docker client's configuration files
/// (`DOCKER_CONFIG`, `HOME`) and its credential helpers (`PATH`; `None`
/// runs them from this process's own `PATH`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct ClientSetup {
    docker_config: Option<String>,
    home: Option<String>,
    path: Option<OsString>,
}

impl ClientSetup {
    fn from_process() -> ClientSetup {
        ClientSetup {
            docker_config: std::env::var("DOCKER_CONFIG").ok(),
            home: std::env::var("HOME").ok(),
            path: None,
        }
    }

    fn paths(&self) -> (Option<PathBuf>, Option<PathBuf>) {
        client_paths(self.docker_config.as_deref(), self.home.as_deref())
    }

    fn files(&self) -> ClientFiles {
        let (config, dockercfg) = self.paths();
        ClientFiles {
            config: read_optional(config),
            dockercfg: read_optional(dockercfg),
        }
    }
}

/// Why a login or a pull through a ship's engine failed. `said` is what
/// the engine or registry said (its first line, credentials scrubbed);
/// `attempts` how many were made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PullFailure {
    /// The registry refused the credentials at the login.
    #[error("registry {host} refused {who} from {from}{}: credentials are missing or wrong (the registry said: {said})", attempts_text(*.attempts))]
    LoginRefused {
        host: String,
        who: String,
        from: String,
        attempts: u32,
        said: String,
    },
    /// The login failed otherwise.
    #[error("could not log in to registry {host}{}: {said}", attempts_text(*.attempts))]
    Login {
        host: String,
        attempts: u32,
        said: String,
    },
    /// The registry refused to give the image (credentials missing or wrong);
    /// `sent`: whether credentials were sent, `found`: what was found or
    /// where it looked.
    #[error("registry {host} refused to give {image}{}: credentials are missing or wrong ({}{found}; the registry said: {said})", attempts_text(*.attempts), if *.sent { "sent " } else { "" })]
    ImageRefused {
        host: String,
        image: String,
        attempts: u32,
        sent: bool,
        found: String,
        said: String,
    },
    /// The pull failed otherwise.
    #[error("ship {ship}: could not pull image {image}{}: {said}", attempts_text(*.attempts))]
    Pull {
        ship: String,
        image: String,
        attempts: u32,
        said: String,
    },
}

/// ` after N attempts` when there were several.
fn attempts_text(n: u32) -> String {
    if n > 1 {
        format!(" after {n} attempts")
    } else {
        String::new()
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

/// What the environment file says for `image`'s registry, if it has
/// credentials.
fn from_environment(env: &Environment, image: &str) -> Option<Credentials> {
    let entry = registry_for(env, image)?;
    let found = AuthEntry {
        username: entry.username.clone().filter(|u| !u.is_empty()),
        password: entry.password.clone(),
        identity_token: None,
        email: entry.email.clone(),
    };
    found.username.as_ref()?;
    Some(Credentials::new(
        server_address(registry_name(image)),
        found,
        Source::EnvironmentFile {
            entry: entry.name.clone(),
        },
    ))
}

/// The pure part of a lookup in the client configuration: the plan for
/// `registry` (see [`ClientConfig::plan`]) from the files, and the problems
/// met (a file that cannot be read or parsed is skipped, with a problem).
pub fn plan_from_files(files: &ClientFiles, registry: &str) -> (Plan, Vec<String>, Vec<String>) {
    let mut looked = Vec::new();
    let mut problems = Vec::new();
    let mut consider = |entry: &Option<(PathBuf, Result<String, ConfigFileError>)>,
                        legacy: bool|
     -> Option<Plan> {
        let (path, text) = entry.as_ref()?;
        looked.push(path.display().to_string());
        let parsed = match text {
            Ok(t) if legacy => parse_dockercfg(t),
            Ok(t) => parse_config_json(t),
            Err(e) => Err(e.clone()),
        };
        let source = if legacy {
            Source::DockerCfg { file: path.clone() }
        } else {
            Source::Auths { file: path.clone() }
        };
        match parsed.and_then(|config| config.plan(registry, &source)) {
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

/// Runs `program get` with `server` on its stdin (a registry's
/// [`server_address`]); its credentials, or `None` when it has none for
/// the server.
pub async fn run_helper(program: &str, server: &str) -> Result<Option<Credentials>, HelperError> {
    run_helper_on(program, server, None).await
}

/// [`run_helper`], finding `program` on `path` when given.
async fn run_helper_on(
    program: &str,
    server: &str,
    path: Option<&OsStr>,
) -> Result<Option<Credentials>, HelperError> {
    use tokio::io::AsyncWriteExt;
    let mut command = tokio::process::Command::new(program);
    if let Some(path) = path {
        // The child's PATH is also where the program is looked for.
        command.env("PATH", path);
    }
    let mut child = command
        .arg("get")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|error| match error.kind() {
            std::io::ErrorKind::NotFound => HelperError::NotInstalled {
                program: program.to_owned(),
            },
            _ => HelperError::CannotRun {
                program: program.to_owned(),
                error,
            },
        })?;
    if let Some(mut stdin) = child.stdin.take() {
        // A helper that exits without reading is judged by its reply below.
        let _ = stdin.write_all(server.as_bytes()).await;
        let _ = stdin.shutdown().await;
    }
    let output = match tokio::time::timeout(HELPER_TIMEOUT, child.wait_with_output()).await {
        Ok(Ok(output)) => output,
        Ok(Err(error)) => {
            return Err(HelperError::Wait {
                program: program.to_owned(),
                error,
            })
        }
        Err(_) => {
            return Err(HelperError::Timeout {
                program: program.to_owned(),
                seconds: HELPER_TIMEOUT.as_secs(),
            })
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
            .map(trace::scrub);
        return Err(HelperError::Failed {
            program: program.to_owned(),
            status: output.status,
            said,
        });
    }
    parse_helper_reply(&stdout, server, program)
}

/// One play's credential lookups: each registry ([`registry_name`]) is
/// looked up at most once, whatever the number of its images and
/// containers, and lookups of different registries (their credential
/// helpers) run in parallel; two lookups of one registry at once wait for
/// the same helper run. Make one per play and share it (`&self` is enough:
/// it is `Send + Sync`).
pub struct CredentialCache {
    setup: ClientSetup,
    found: Mutex<HashMap<String, Arc<tokio::sync::OnceCell<Resolution>>>>,
}

impl fmt::Debug for CredentialCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let registries: Vec<String> = match self.found.lock() {
            Ok(found) => found.keys().cloned().collect(),
            Err(poisoned) => poisoned.get_ref().keys().cloned().collect(),
        };
        f.debug_struct("CredentialCache")
            .field("setup", &self.setup)
            .field("registries", &registries)
            .finish()
    }
}

impl Default for CredentialCache {
    /// [`CredentialCache::new`].
    fn default() -> CredentialCache {
        CredentialCache::new()
    }
}

impl CredentialCache {
    /// A cache that reads the configuration named by this process's
    /// `DOCKER_CONFIG` and `HOME` (as they are now) and runs credential
    /// helpers from its `PATH`.
    pub fn new() -> CredentialCache {
        CredentialCache::with_setup(ClientSetup::from_process())
    }

    fn with_setup(setup: ClientSetup) -> CredentialCache {
        CredentialCache {
            setup,
            found: Mutex::default(),
        }
    }

    /// The credentials for `image`: looked up on the first call for its
    /// registry, then the same [`Resolution`] for every image of that
    /// registry.
    pub async fn resolve(&self, env: &Environment, image: &str) -> Resolution {
        trace::protect_environment(env);
        let registry = registry_name(image);
        let cell = {
            // Held only to find or add the registry's cell, never across a lookup.
            let mut found = self.found.lock().unwrap_or_else(|p| p.into_inner());
            found.entry(registry.to_owned()).or_default().clone()
        };
        cell.get_or_init(|| async {
            let found = resolve_uncached(env, image, registry, &self.setup).await;
            trace::debug(format!(
                "credentials for registry {registry}: {}",
                found.describe()
            ));
            found
        })
        .await
        .clone()
    }
}

async fn resolve_uncached(
    env: &Environment,
    image: &str,
    registry: &str,
    setup: &ClientSetup,
) -> Resolution {
    let mut looked = vec!["the environment file's `registries`".to_owned()];
    if let Some(found) = from_environment(env, image) {
        return Resolution {
            credentials: Some(found),
            looked,
            problems: Vec::new(),
        };
    }
    let files = setup.files();
    let (plan, files_looked, mut problems) = plan_from_files(&files, registry);
    if files_looked.is_empty() {
        looked.push(match setup.paths().0 {
            Some(path) => format!(
                "a Docker client configuration (there is no {})",
                path.display()
            ),
            None => "a Docker client configuration (neither DOCKER_CONFIG nor HOME is set)".into(),
        });
    } else {
        looked.extend(files_looked);
    }
    let credentials = match plan {
        Plan::Nothing => None,
        Plan::Use(found) => Some(found),
        Plan::Helper {
            program,
            server,
            fallback,
        } => {
            looked.push(program.clone());
            match run_helper_on(&program, &server, setup.path.as_deref()).await {
                Ok(Some(found)) => Some(found),
                Ok(None) => fallback,
                Err(e) => {
                    problems.push(e.to_string());
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
            Plan::Helper {
                program, fallback, ..
            } => {
                assert_eq!(program, "docker-credential-special");
                assert!(fallback.is_some());
            }
            other => panic!("{other:?}"),
        }
        match config.plan("h:2", &source()).unwrap() {
            Plan::Helper {
                program, fallback, ..
            } => {
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
            .to_string()
            .contains("not valid JSON"));
        assert!(parse_config_json("[]")
            .unwrap_err()
            .to_string()
            .contains("not a JSON object"));
        let e = parse_config_json(r#"{"auths": {"h": {"auth": "!!"}}}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("not base64"), "{e}");
        let e = parse_config_json(&format!(
            r#"{{"auths": {{"h": {{"auth": "{}"}}}}}}"#,
            b64("nocolon")
        ))
        .unwrap_err()
        .to_string();
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
        let e = parse_helper_reply("secret-in-garbage", "h", "docker-credential-x")
            .unwrap_err()
            .to_string();
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

    // ------------------------------------------------------- Docker Hub

    #[test]
    fn hub_images_are_named_every_way_the_cli_names_them() {
        for image in [
            "busybox",
            "busybox:1.36",
            "library/busybox",
            "team/app:1",
            "docker.io/team/app",
            "docker.io/library/busybox:latest",
            "index.docker.io/team/app",
            "registry-1.docker.io/team/app@sha256:abc",
        ] {
            assert_eq!(registry_name(image), HUB, "{image}");
            assert_eq!(server_address(registry_name(image)), HUB_SERVER, "{image}");
        }
        for (image, registry) in [
            ("127.0.0.1:5000/team/box:1", "127.0.0.1:5000"),
            ("reg.example.com/app", "reg.example.com"),
            ("localhost/app", "localhost"),
            ("docker.example.com/app", "docker.example.com"),
        ] {
            assert_eq!(registry_name(image), registry, "{image}");
            assert_eq!(server_address(registry), registry, "{image}");
        }
    }

    fn entry(user: &str) -> String {
        format!(r#"{{"auth": "{}"}}"#, b64(&format!("{user}:pw")))
    }

    fn used(config: &ClientConfig, registry: &str) -> Option<(String, String)> {
        match config.plan(registry, &source()) {
            Ok(Plan::Use(found)) => Some((found.server.clone(), found.username?)),
            Ok(Plan::Nothing) => None,
            other => panic!("{registry}: {other:?}"),
        }
    }

    #[test]
    fn hub_auths_are_found_under_every_key_the_clients_write() {
        for key in [
            "https://index.docker.io/v1/",
            "https://index.docker.io/v1",
            "index.docker.io",
            "docker.io",
            "registry-1.docker.io",
        ] {
            let text = format!(r#"{{"auths": {{"{key}": {}}}}}"#, entry("hubuser"));
            let config = parse_config_json(&text).unwrap();
            for registry in [HUB, "index.docker.io", "registry-1.docker.io"] {
                assert_eq!(
                    used(&config, registry),
                    Some((HUB_SERVER.to_owned(), "hubuser".to_owned())),
                    "key {key}, registry {registry}"
                );
            }
            assert_eq!(used(&config, "reg.example.com"), None, "key {key}");
        }
        // The key the Docker CLI writes wins, wherever it is in the file.
        let text = format!(
            r#"{{"auths": {{"docker.io": {}, "https://index.docker.io/v1/": {}}}}}"#,
            entry("other"),
            entry("cli")
        );
        let config = parse_config_json(&text).unwrap();
        assert_eq!(
            used(&config, HUB),
            Some((HUB_SERVER.to_owned(), "cli".to_owned()))
        );
        // Other registries' entries are not Docker Hub's.
        let text = format!(
            r#"{{"auths": {{"docker.example.com": {}, "https://reg.example.com/v1/": {}}}}}"#,
            entry("a"),
            entry("b")
        );
        let config = parse_config_json(&text).unwrap();
        assert_eq!(used(&config, HUB), None);
        assert_eq!(
            used(&config, "reg.example.com"),
            Some(("reg.example.com".to_owned(), "b".to_owned()))
        );
    }

    fn helper_for(config: &str, registry: &str) -> (String, String, bool) {
        match parse_config_json(config).unwrap().plan(registry, &source()) {
            Ok(Plan::Helper {
                program,
                server,
                fallback,
            }) => (program, server, fallback.is_some()),
            other => panic!("{registry}: {other:?}"),
        }
    }

    #[test]
    fn hub_helpers_are_chosen_in_the_cli_order() {
        let hub = |program: &str, fallback: bool| {
            (
                format!("docker-credential-{program}"),
                HUB_SERVER.to_owned(),
                fallback,
            )
        };
        // `credsStore` is asked for `https://index.docker.io/v1/`.
        assert_eq!(
            helper_for(r#"{"credsStore": "store"}"#, HUB),
            hub("store", false)
        );
        // `credHelpers` under the CLI's key comes before `credsStore`.
        assert_eq!(
            helper_for(
                r#"{"credsStore": "store", "credHelpers": {"https://index.docker.io/v1/": "hub"}}"#,
                HUB
            ),
            hub("hub", false)
        );
        // Under another of Docker Hub's names (as the Python client read
        // it) when the CLI's key is absent; the CLI's key wins over it.
        assert_eq!(
            helper_for(
                r#"{"credsStore": "store", "credHelpers": {"docker.io": "py"}}"#,
                "index.docker.io"
            ),
            hub("py", false)
        );
        assert_eq!(
            helper_for(
                r#"{"credHelpers": {"docker.io": "py", "https://index.docker.io/v1/": "hub"}}"#,
                HUB
            ),
            hub("hub", false)
        );
        // Another registry's helper is not Docker Hub's.
        assert_eq!(
            helper_for(
                r#"{"credsStore": "store", "credHelpers": {"reg.example.com": "other"}}"#,
                HUB
            ),
            hub("store", false)
        );
        // `auths` is the fallback when the helper has nothing.
        let text = format!(
            r#"{{"credsStore": "store", "auths": {{"https://index.docker.io/v1/": {}}}}}"#,
            entry("u")
        );
        assert_eq!(helper_for(&text, HUB), hub("store", true));
        // For other registries the helper is asked for the host.
        assert_eq!(
            helper_for(
                r#"{"credHelpers": {"https://reg.example.com/v1/": "loose", "reg.example.com": "exact"}}"#,
                "reg.example.com"
            ),
            (
                "docker-credential-exact".to_owned(),
                "reg.example.com".to_owned(),
                false
            )
        );
    }

    fn env(text: &str) -> Environment {
        let src = maestro_config::Source {
            name: "t.yaml".into(),
            base_dir: ".".into(),
            text: text.into(),
        };
        maestro_config::load(&src, &Default::default()).expect("valid environment")
    }

    fn env_with(registries: &str) -> Environment {
        env(&format!(
            "name: t\nregistries:\n{registries}ships: {{a: {{ip: 10.0.0.1}}}}\nservices:\n  s: {{image: busybox, instances: {{s-1: {{ship: a}}}}}}\n"
        ))
    }

    fn entry_name(env: &Environment, image: &str) -> Option<String> {
        registry_for(env, image).map(|r| r.name.clone())
    }

    #[test]
    fn environment_entries_serve_hub_images() {
        let by_url = env_with(
            "  hub: {registry: 'https://index.docker.io/v1/', username: hubuser, password: pw}\n  private: {registry: 'https://reg.example.com', username: u, password: p}\n",
        );
        for image in [
            "busybox",
            "team/app:1",
            "docker.io/team/app",
            "index.docker.io/x/y",
        ] {
            assert_eq!(
                entry_name(&by_url, image).as_deref(),
                Some("hub"),
                "{image}"
            );
        }
        assert_eq!(
            entry_name(&by_url, "reg.example.com/app").as_deref(),
            Some("private")
        );
        assert_eq!(entry_name(&by_url, "other.example.com/app"), None);
        let found = from_environment(&by_url, "busybox").expect("credentials");
        assert_eq!(found.docker().serveraddress.as_deref(), Some(HUB_SERVER));
        assert_eq!(found.docker().username.as_deref(), Some("hubuser"));
        assert_eq!(
            found.source,
            Source::EnvironmentFile {
                entry: "hub".into()
            }
        );
        // An entry named as the image writes its registry comes first; then
        // one named by any of Docker Hub's names; then one by URL.
        let by_name = env_with(
            "  hub: {registry: 'https://index.docker.io/v1/', username: a, password: p}\n  index.docker.io: {username: b, password: p}\n  docker.io: {username: c, password: p}\n",
        );
        assert_eq!(
            entry_name(&by_name, "index.docker.io/x/y").as_deref(),
            Some("index.docker.io")
        );
        assert_eq!(
            entry_name(&by_name, "busybox").as_deref(),
            Some("docker.io")
        );
        // A Docker Hub entry is not another registry's.
        let only_hub = env_with("  docker.io: {username: c, password: p}\n");
        assert_eq!(entry_name(&only_hub, "docker.example.com/app"), None);
        assert_eq!(entry_name(&only_hub, "localhost/app"), None);
    }

    // ------------------------------------------- lookups, helpers, caching

    /// A scratch directory: `config/` (DOCKER_CONFIG), `home/` (HOME) and
    /// `bin/` (the helpers' PATH, before the system's); removed when dropped.
    struct Scratch(PathBuf);

    impl Scratch {
        fn new(name: &str) -> Scratch {
            static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
            let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let dir = std::env::temp_dir().join(format!(
                "maestro-registry-{}-{name}-{n}",
                std::process::id()
            ));
            for sub in ["config", "home", "bin"] {
                std::fs::create_dir_all(dir.join(sub)).expect("scratch directory");
            }
            Scratch(dir)
        }

        fn join(&self, name: &str) -> PathBuf {
            self.0.join(name)
        }

        fn config(&self, text: &str) {
            std::fs::write(self.join("config/config.json"), text).expect("config.json");
        }

        /// `bin/docker-credential-<name>`: a shell script given `body`
        /// after `read -r server` (the server asked for).
        fn helper(&self, name: &str, body: &str) {
            use std::os::unix::fs::PermissionsExt;
            let path = self.join(&format!("bin/docker-credential-{name}"));
            std::fs::write(
                &path,
                format!("#!/bin/sh\n[ \"$1\" = get ] || exit 2\nread -r server\n{body}\n"),
            )
            .expect("helper script");
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        }

        fn cache(&self) -> CredentialCache {
            let text = |name: &str| Some(self.join(name).to_string_lossy().into_owned());
            let mut path = self.join("bin").into_os_string();
            path.push(":/usr/bin:/bin");
            CredentialCache::with_setup(ClientSetup {
                docker_config: text("config"),
                home: text("home"),
                path: Some(path),
            })
        }

        fn read(&self, name: &str) -> String {
            std::fs::read_to_string(self.join(name)).unwrap_or_default()
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    /// Shell: append the server asked for to `log`, then answer with `user`
    /// when it is `wanted`, else say there is nothing.
    fn answering(dir: &Scratch, log: &str, wanted: &str, user: &str) -> String {
        format!(
            "printf '%s\\n' \"$server\" >> '{log}'\n\
             if [ \"$server\" != '{wanted}' ]; then echo 'credentials not found in native keychain'; exit 1; fi\n\
             printf '{{\"ServerURL\": \"%s\", \"Username\": \"{user}\", \"Secret\": \"helper-pw\"}}\\n' \"$server\"",
            log = dir.join(log).display()
        )
    }

    fn user_of(found: &Resolution) -> Option<String> {
        found.credentials.as_ref().and_then(|c| c.username.clone())
    }

    #[tokio::test]
    async fn hub_images_ask_the_store_for_the_index_server_once() {
        let dir = Scratch::new("hub-store");
        dir.config(r#"{"credsStore": "fake"}"#);
        dir.helper("fake", &answering(&dir, "asked", HUB_SERVER, "hubuser"));
        let cache = dir.cache();
        let env = env_with("");
        let found = cache.resolve(&env, "team/private:1").await;
        assert_eq!(user_of(&found).as_deref(), Some("hubuser"), "{found:?}");
        let docker = found.credentials.as_ref().map(Credentials::docker);
        assert_eq!(
            docker.as_ref().and_then(|d| d.serveraddress.as_deref()),
            Some(HUB_SERVER)
        );
        assert_eq!(
            docker.as_ref().and_then(|d| d.password.as_deref()),
            Some("helper-pw")
        );
        for image in ["busybox", "docker.io/team/app", "registry-1.docker.io/x/y"] {
            let again = cache.resolve(&env, image).await;
            assert_eq!(user_of(&again).as_deref(), Some("hubuser"), "{image}");
        }
        assert_eq!(dir.read("asked"), format!("{HUB_SERVER}\n"));
    }

    #[tokio::test]
    async fn a_hub_cred_helper_comes_before_the_store_and_the_store_before_auths() {
        let dir = Scratch::new("hub-helpers");
        dir.config(&format!(
            r#"{{"credsStore": "store", "credHelpers": {{"https://index.docker.io/v1/": "hub"}},
                "auths": {{"https://index.docker.io/v1/": {}}}}}"#,
            entry("fromauths")
        ));
        dir.helper(
            "hub",
            &answering(&dir, "hub-asked", HUB_SERVER, "fromhelper"),
        );
        dir.helper(
            "store",
            &answering(&dir, "store-asked", HUB_SERVER, "fromstore"),
        );
        let found = dir.cache().resolve(&env_with(""), "busybox").await;
        assert_eq!(user_of(&found).as_deref(), Some("fromhelper"));
        assert_eq!(dir.read("store-asked"), "");

        // Without `credHelpers`, the store; when it has nothing, `auths`.
        dir.config(&format!(
            r#"{{"credsStore": "store", "auths": {{"https://index.docker.io/v1/": {}}}}}"#,
            entry("fromauths")
        ));
        let found = dir.cache().resolve(&env_with(""), "busybox").await;
        assert_eq!(user_of(&found).as_deref(), Some("fromstore"));
        dir.helper("store", &answering(&dir, "store-asked", "nothing", "x"));
        let found = dir.cache().resolve(&env_with(""), "busybox").await;
        assert_eq!(user_of(&found).as_deref(), Some("fromauths"));
        assert_eq!(
            found.credentials.map(|c| c.source),
            Some(Source::Auths {
                file: dir.join("config/config.json")
            })
        );

        // The environment file's entry comes before them all.
        let env = env_with("  hub: {registry: docker.io, username: fromfile, password: p}\n");
        let found = dir.cache().resolve(&env, "busybox").await;
        assert_eq!(user_of(&found).as_deref(), Some("fromfile"));
    }

    #[tokio::test]
    async fn a_missing_hub_helper_is_a_problem_not_a_failure() {
        let dir = Scratch::new("hub-missing");
        dir.config(r#"{"credsStore": "not-there"}"#);
        let found = dir.cache().resolve(&env_with(""), "busybox").await;
        assert!(found.credentials.is_none());
        assert!(
            found
                .describe()
                .contains("docker-credential-not-there is not installed"),
            "{}",
            found.describe()
        );
    }

    #[test]
    fn a_cache_can_be_shared_between_tasks() {
        fn shared<T: Send + Sync>(_: &T) {}
        fn sent<F: std::future::Future + Send>(_: &F) {}
        let cache = CredentialCache::new();
        shared(&cache);
        let env = env_with("");
        sent(&cache.resolve(&env, "busybox"));
    }

    #[tokio::test]
    async fn one_registry_runs_its_helper_once_for_lookups_at_once() {
        let dir = Scratch::new("once");
        dir.config(r#"{"credsStore": "counted"}"#);
        // Slow enough that the lookups overlap.
        dir.helper(
            "counted",
            &format!(
                "sleep 0.3\n{}",
                answering(&dir, "runs", HUB_SERVER, "counted")
            ),
        );
        let cache = dir.cache();
        let env = env_with("");
        let (a, b, c) = tokio::join!(
            cache.resolve(&env, "busybox"),
            cache.resolve(&env, "team/app"),
            cache.resolve(&env, "docker.io/library/busybox"),
        );
        for found in [&a, &b, &c] {
            assert_eq!(user_of(found).as_deref(), Some("counted"), "{found:?}");
        }
        assert_eq!(dir.read("runs").lines().count(), 1, "{}", dir.read("runs"));
    }

    #[tokio::test]
    async fn different_registries_run_their_helpers_at_once() {
        let dir = Scratch::new("parallel");
        dir.config(r#"{"credHelpers": {"a.example.com": "a", "b.example.com": "b"}}"#);
        // Each helper leaves a mark and answers only once the other's mark
        // is there: run one after the other, the first gives up (after at
        // most 30 s) and its lookup fails.
        for (me, other) in [("a", "b"), ("b", "a")] {
            dir.helper(
                me,
                &format!(
                    "touch '{mine}'\n\
                     n=0\n\
                     while [ ! -e '{theirs}' ]; do\n\
                       n=$((n + 1)); [ $n -le 300 ] || {{ echo 'gave up waiting for the other helper' >&2; exit 3; }}\n\
                       sleep 0.1\n\
                     done\n\
                     printf '{{\"Username\": \"{me}-user\", \"Secret\": \"s\"}}\\n'",
                    mine = dir.join(&format!("mark-{me}")).display(),
                    theirs = dir.join(&format!("mark-{other}")).display(),
                ),
            );
        }
        let cache = dir.cache();
        let env = env_with("");
        let (a, b) = tokio::join!(
            cache.resolve(&env, "a.example.com/app"),
            cache.resolve(&env, "b.example.com/app"),
        );
        assert_eq!(user_of(&a).as_deref(), Some("a-user"), "{}", a.describe());
        assert_eq!(user_of(&b).as_deref(), Some("b-user"), "{}", b.describe());
        assert_eq!(
            a.credentials.map(|c| c.server),
            Some("a.example.com".to_owned())
        );
    }
}
