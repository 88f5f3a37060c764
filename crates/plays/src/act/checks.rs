//! Lifecycle checks (spec §7): `tcp`, `http`, `exec`, `rexec` and `sleep`,
//! run for one container in one lifecycle state. The engine is reached only
//! through [`CheckTarget`], so checks can be tested without one.
//!
//! Checks that retry start an attempt once a second: the next attempt starts
//! one second after the previous one started (at once when an attempt took
//! longer). Every future here is cancel-safe: dropping it stops the check and
//! kills any command it started.
//!
//! Nothing waits without end. A `tcp` attempt is bounded by one second, an
//! `http` one by its `timeout` (5 s without), and both checks by their
//! `max_wait`. An `exec` or `rexec` check (MaestroNG has no time setting for
//! them) is given its attempts' worth of seconds, `attempts` × 1 s, and at
//! least [`EXEC_WINDOW_FLOOR`]: an attempt still running when that window
//! closes is given up (a local command is killed, with any process it
//! started in its process group) and the check fails saying how long the
//! attempt ran and which attempt it was.

use std::fmt;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::process::{ExitStatus, Stdio};
use std::sync::Arc;
use std::time::Duration;

use futures_util::stream::{FuturesUnordered, StreamExt};
use maestro_config::{Check, Container, EnvFrom, HttpOptions, HttpPort, Protocol, Ship};
use maestro_engine::EngineError;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{sleep_until, timeout, Instant};

use crate::decide::windows::{exec_window, seconds, EXEC_WINDOW_FLOOR, PACE};

/// What checks need from the engine for one container.
pub trait CheckTarget: Send + Sync {
    /// Runs `command` (no shell) inside the container through the engine's
    /// exec API and returns its exit code; `Err` when the engine cannot run it.
    fn exec_in_container<'a>(
        &'a self,
        command: &'a [String],
    ) -> Pin<Box<dyn Future<Output = Result<i64, TargetError>> + Send + 'a>>;

    /// The container's Docker health: `None` when its image has no
    /// HEALTHCHECK; else the status (`starting`, `healthy`, `unhealthy`) and
    /// the output of its latest probes.
    fn health(
        &self,
    ) -> Pin<Box<dyn Future<Output = Result<Option<Health>, TargetError>> + Send + '_>> {
        Box::pin(async { Err(TargetError::NoHealth) })
    }
}

/// Why a [`CheckTarget`] could not run a command or tell the container's
/// health; `Display` is a readable sentence fragment (a check's last error).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TargetError {
    /// The engine's error, said without the leading `ship X: `.
    #[error("{}", .0.detail())]
    Engine(#[from] EngineError),
    /// The container is gone.
    #[error("{0} no longer exists")]
    Gone(String),
    /// The target cannot report health.
    #[error("this engine does not report container health")]
    NoHealth,
}

/// Why a URL does not parse (the `url` crate's error, which reqwest does
/// not re-export by name).
type UrlError = <reqwest::Url as std::str::FromStr>::Err;

/// Why a check could not even begin (a port or option that cannot be used);
/// `Display` is the check failure's reason.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
enum Unusable {
    #[error("`{container}` has no port named `{port}`")]
    NoPort { container: String, port: String },
    #[error("port `{port}` of `{container}` is {protocol}, not tcp")]
    NotTcp {
        port: String,
        container: String,
        protocol: &'static str,
    },
    #[error("invalid URL: {0}")]
    Url(UrlError),
    #[error("unsupported scheme `{0}`; expected http or https")]
    Scheme(String),
    #[error("invalid HTTP method `{0}`")]
    Method(String),
    #[error("invalid header name `{0}`")]
    HeaderName(String),
    #[error("invalid value for header `{0}`")]
    HeaderValue(String),
    #[error("invalid match_regex `{pattern}`: {error}")]
    Regex {
        pattern: String,
        error: regex::Error,
    },
    #[error("cannot set up TLS: {0}")]
    Tls(rustls::Error),
    #[error("cannot set up TLS certificate verification: {0}")]
    Verifier(rustls::Error),
    /// The HTTP client's error, readable.
    #[error("cannot set up an HTTP client: {0}")]
    Client(String),
}

/// A container's health as its engine reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Health {
    pub status: String,
    /// The output of the latest probes, oldest first.
    pub log: Vec<String>,
}

/// Why a lifecycle state's checks did not pass; `Display` is one readable
/// sentence naming the check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckFailure {
    /// The check, with the address it talked to when it has one, e.g.
    /// `tcp check on port http (10.0.0.1:8080)`.
    pub check: String,
    /// What went wrong, e.g. `no connection accepted after 5 attempts (last
    /// error: connection refused)`.
    pub reason: String,
}

impl fmt::Display for CheckFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} failed: {}", self.check, self.reason)
    }
}

impl std::error::Error for CheckFailure {}

fn failure(check: impl Into<String>, reason: impl Into<String>) -> CheckFailure {
    CheckFailure {
        check: check.into(),
        reason: reason.into(),
    }
}

/// The bound on one tcp connection attempt.
const TCP_CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// The bound on one http request when `requests_options` sets no `timeout`.
const HTTP_DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long an `exec` check's stderr is still read once the command exited
/// (a background process it started may hold the pipe open).
const STDERR_GRACE: Duration = Duration::from_millis(200);
/// At most this much of an `exec` check's stderr is kept (its tail).
const STDERR_KEEP: usize = 64 * 1024;
/// At most this many characters of an `exec` check's last stderr line go
/// into its failure.
const LINE_KEEP: usize = 300;

/// A one-line description of a check for progress output, e.g. `tcp check on
/// port http`.
pub fn describe(check: &Check) -> String {
    match check {
        Check::Tcp { port, .. } => format!("tcp check on port {port}"),
        Check::Http {
            port, method, path, ..
        } => format!(
            "http check {method} {path} on port {}",
            http_port_label(port)
        ),
        Check::Exec { command, .. } => format!("exec check `{}`", shell_join(command)),
        Check::Rexec { command, .. } => format!("rexec check `{}`", shell_join(command)),
        Check::Sleep { wait } => format!("sleep {wait} s"),
        Check::Healthy { .. } => "healthy check".to_owned(),
    }
}

/// Runs all `checks` (one lifecycle state's list) concurrently for
/// `container` on `ship`. `Ok` when all pass; on the first failure returns
/// it, dropping (cancelling) the checks still running.
pub async fn run_checks(
    checks: &[Check],
    container: &Container,
    ship: &Ship,
    target: &dyn CheckTarget,
) -> Result<(), CheckFailure> {
    let mut running: FuturesUnordered<_> = checks
        .iter()
        .map(|check| run_check(check, container, ship, target))
        .collect();
    while let Some(result) = running.next().await {
        result?;
    }
    Ok(())
}

/// Runs one check to its end.
fn run_check<'a>(
    check: &'a Check,
    container: &'a Container,
    ship: &'a Ship,
    target: &'a dyn CheckTarget,
) -> Pin<Box<dyn Future<Output = Result<(), CheckFailure>> + Send + 'a>> {
    match check {
        Check::Tcp { port, max_wait } => Box::pin(tcp_check(port, *max_wait, container, ship)),
        Check::Http {
            port,
            host,
            path,
            scheme,
            method,
            match_regex,
            max_wait,
            options,
        } => Box::pin(http_check(
            HttpCheck {
                port,
                host: host.as_deref(),
                path,
                scheme,
                method,
                match_regex: match_regex.as_deref(),
                max_wait: *max_wait,
                options,
            },
            container,
            ship,
        )),
        Check::Exec {
            command,
            attempts,
            envfrom,
        } => Box::pin(exec_check(
            describe(check),
            command,
            (*attempts, exec_window(*attempts)),
            *envfrom,
            container,
        )),
        Check::Rexec { command, attempts } => Box::pin(rexec_check(
            describe(check),
            command,
            (*attempts, exec_window(*attempts)),
            target,
        )),
        Check::Sleep { wait } => Box::pin(async move {
            tokio::time::sleep(seconds(*wait).unwrap_or(Duration::ZERO)).await;
            Ok(())
        }),
        Check::Healthy { max_wait } => Box::pin(healthy_check(describe(check), *max_wait, target)),
    }
}

/// Polls the container's health once a second until `healthy`; `unhealthy`
/// fails at once, with the output of its latest probes.
async fn healthy_check(
    check: String,
    max_wait: u32,
    target: &dyn CheckTarget,
) -> Result<(), CheckFailure> {
    let with_log = |status: &str, log: &[String]| {
        let mut text = format!("the container is {status}");
        if let Some(last) = log.iter().rev().find(|l| !l.trim().is_empty()) {
            text.push_str(&format!("; its latest health check said: {}", last.trim()));
        }
        text
    };
    let deadline = Instant::now() + Duration::from_secs(u64::from(max_wait));
    loop {
        let next = Instant::now() + PACE;
        let last = match target.health().await {
            Ok(Some(health)) if health.status == "healthy" => return Ok(()),
            Ok(Some(health)) if health.status == "unhealthy" => {
                return Err(failure(check, with_log("unhealthy", &health.log)))
            }
            Ok(Some(health)) if health.status != "none" && !health.status.is_empty() => {
                with_log(&health.status, &health.log)
            }
            Ok(_) => return Err(failure(
                check,
                "the container has no HEALTHCHECK (its image defines none); use another check type",
            )),
            Err(e) => format!("last error: {e}"),
        };
        if next >= deadline {
            return Err(failure(
                check,
                format!("not healthy within {max_wait} s ({last})"),
            ));
        }
        sleep_until(next).await;
    }
}

/// Why an attempt did not pass.
enum Attempt {
    /// It could not be made, e.g. `connection refused`; worth another one.
    Error(String),
    /// It was made without success, e.g. `exit code 1`; worth another one.
    Unsuccessful(String),
    /// Another attempt cannot help; the text is the whole reason.
    Stop(String),
}

impl Attempt {
    /// `last error: connection refused` or `last: exit code 1`.
    fn last_text(&self) -> String {
        match self {
            Attempt::Error(e) => format!("last error: {e}"),
            Attempt::Unsuccessful(r) | Attempt::Stop(r) => format!("last: {r}"),
        }
    }
}

/// Makes up to `attempts` attempts (at least one), paced once a second, until
/// one passes or stops the check; `Err` carries the last attempt's error.
async fn paced<F, Fut>(attempts: u32, attempt: F) -> Result<(), Attempt>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(), Attempt>>,
{
    paced_within(attempts, None, attempt).await
}

/// Like [`paced`], but no attempt runs past `deadline`: one still running
/// then is dropped (which kills what it started) and stops the check, and
/// no attempt begins after it.
async fn paced_within<F, Fut>(
    attempts: u32,
    deadline: Option<Instant>,
    mut attempt: F,
) -> Result<(), Attempt>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<(), Attempt>>,
{
    let attempts = attempts.max(1);
    let mut last = Attempt::Error("no attempt made".to_string());
    let mut next = Instant::now();
    for n in 0..attempts {
        if n > 0 {
            if deadline.is_some_and(|d| next >= d) {
                break;
            }
            sleep_until(next).await;
        }
        let began = Instant::now();
        next = began + PACE;
        let outcome = match deadline {
            None => attempt().await,
            Some(deadline) => match tokio::time::timeout_at(deadline, attempt()).await {
                Ok(outcome) => outcome,
                Err(_) => {
                    return Err(Attempt::Stop(format!(
                        "did not finish within {} (attempt {} of {attempts}); an exec or \
                         rexec check is given 1 s per attempt and at least {}: raise its \
                         `attempts` if the command needs longer",
                        whole_secs_text(deadline.saturating_duration_since(began)),
                        n + 1,
                        whole_secs_text(EXEC_WINDOW_FLOOR),
                    )))
                }
            },
        };
        match outcome {
            Ok(()) => return Ok(()),
            Err(stop @ Attempt::Stop(_)) => return Err(stop),
            Err(retry) => last = retry,
        }
    }
    Err(last)
}

/// The failure of a paced check: a stop's reason as is, else `what` after
/// the attempts, with the last attempt's outcome.
fn paced_failure(check: String, attempts: u32, what: &str, error: Attempt) -> CheckFailure {
    match error {
        Attempt::Stop(reason) => failure(check, reason),
        last => failure(
            check,
            format!(
                "{what} after {} ({})",
                attempts_text(attempts),
                last.last_text()
            ),
        ),
    }
}

/// `n attempt(s)`.
fn attempts_text(n: u32) -> String {
    let n = n.max(1);
    if n == 1 {
        "1 attempt".to_string()
    } else {
        format!("{n} attempts")
    }
}

// ---------------------------------------------------------------- tcp

async fn tcp_check(
    port_name: &str,
    max_wait: u32,
    container: &Container,
    ship: &Ship,
) -> Result<(), CheckFailure> {
    let plain = format!("tcp check on port {port_name}");
    let port =
        tcp_port(container, port_name).map_err(|reason| failure(&plain, reason.to_string()))?;
    let address = host_port(&ship.ip, port);
    let host = ship.ip.as_str();
    paced(max_wait, || async move {
        match timeout(TCP_CONNECT_TIMEOUT, TcpStream::connect((host, port))).await {
            Ok(Ok(_stream)) => Ok(()),
            Ok(Err(e)) => Err(Attempt::Error(io_reason(&e))),
            Err(_) => Err(Attempt::Error(format!(
                "timed out after {}",
                secs_text(TCP_CONNECT_TIMEOUT)
            ))),
        }
    })
    .await
    .map_err(|last| {
        paced_failure(
            format!("{plain} ({address})"),
            max_wait,
            "no connection accepted",
            last,
        )
    })
}

/// The external (first) port of the container's TCP port `name`.
fn tcp_port(container: &Container, name: &str) -> Result<u16, Unusable> {
    match container.ports.get(name) {
        None => Err(Unusable::NoPort {
            container: container.name.clone(),
            port: name.to_owned(),
        }),
        Some(p) if p.external.protocol != Protocol::Tcp => Err(Unusable::NotTcp {
            port: name.to_owned(),
            container: container.name.clone(),
            protocol: p.external.protocol.as_str(),
        }),
        Some(p) => Ok(p.external.first),
    }
}

// ---------------------------------------------------------------- http

/// The fields of an `http` check.
struct HttpCheck<'a> {
    port: &'a HttpPort,
    host: Option<&'a str>,
    path: &'a str,
    scheme: &'a str,
    method: &'a str,
    match_regex: Option<&'a str>,
    max_wait: u32,
    options: &'a HttpOptions,
}

fn http_port_label(port: &HttpPort) -> String {
    match port {
        HttpPort::Named(name) => name.clone(),
        HttpPort::Number(n) => n.to_string(),
    }
}

async fn http_check(
    c: HttpCheck<'_>,
    container: &Container,
    ship: &Ship,
) -> Result<(), CheckFailure> {
    let plain = format!(
        "http check {} {} on port {}",
        c.method,
        c.path,
        http_port_label(c.port)
    );
    let port = match c.port {
        HttpPort::Named(name) => {
            tcp_port(container, name).map_err(|reason| failure(&plain, reason.to_string()))?
        }
        HttpPort::Number(n) => *n,
    };
    let host = c.host.unwrap_or(&ship.ip);
    let url_text = format!("{}://{}{}", c.scheme, host_port(host, port), c.path);
    let check = format!("http check {} {url_text}", c.method);
    let prepared =
        prepare_http(&c, &url_text).map_err(|reason| failure(&check, reason.to_string()))?;

    let deadline = Instant::now() + Duration::from_secs(u64::from(c.max_wait.max(1)));
    let per_request = c
        .options
        .timeout
        .and_then(seconds)
        .filter(|d| !d.is_zero())
        .unwrap_or(HTTP_DEFAULT_TIMEOUT);
    let mut last;
    loop {
        let started = Instant::now();
        let bound = per_request.min(deadline.saturating_duration_since(started));
        match timeout(bound, prepared.attempt()).await {
            Ok(Ok(())) => return Ok(()),
            Ok(Err(e)) => last = e,
            Err(_) => last = Attempt::Error(format!("timed out after {}", secs_text(bound))),
        }
        // The next attempt needs some of max_wait left.
        let next = (started + PACE).max(Instant::now());
        if next >= deadline {
            break;
        }
        sleep_until(next).await;
    }
    Err(failure(
        check,
        format!(
            "no successful response within {} s ({})",
            c.max_wait.max(1),
            last.last_text()
        ),
    ))
}

/// An `http` check ready to send: client, request parts and regex.
struct PreparedHttp {
    client: reqwest::Client,
    method: reqwest::Method,
    url: reqwest::Url,
    headers: HeaderMap,
    auth: Option<(String, String)>,
    regex: Option<regex::Regex>,
    regex_text: String,
}

fn prepare_http(c: &HttpCheck<'_>, url_text: &str) -> Result<PreparedHttp, Unusable> {
    let url = reqwest::Url::parse(url_text).map_err(Unusable::Url)?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(Unusable::Scheme(c.scheme.to_owned()));
    }
    let method = reqwest::Method::from_bytes(c.method.as_bytes())
        .map_err(|_| Unusable::Method(c.method.to_owned()))?;
    let mut headers = HeaderMap::new();
    for (name, value) in &c.options.headers {
        let name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| Unusable::HeaderName(name.clone()))?;
        let value =
            HeaderValue::from_str(value).map_err(|_| Unusable::HeaderValue(name.to_string()))?;
        headers.append(name, value);
    }
    let regex = c
        .match_regex
        .map(|pattern| {
            regex::RegexBuilder::new(pattern)
                .dot_matches_new_line(true)
                .build()
                .map_err(|error| Unusable::Regex {
                    pattern: pattern.to_owned(),
                    error,
                })
        })
        .transpose()?;
    let client = reqwest::Client::builder()
        .tls_backend_preconfigured(tls_config(c.options.verify)?)
        .build()
        .map_err(|e| Unusable::Client(error_chain_reason(&e)))?;
    Ok(PreparedHttp {
        client,
        method,
        url,
        headers,
        auth: c.options.auth.clone(),
        regex,
        regex_text: c.match_regex.unwrap_or_default().to_string(),
    })
}

impl PreparedHttp {
    /// One request.
    async fn attempt(&self) -> Result<(), Attempt> {
        let mut request = self
            .client
            .request(self.method.clone(), self.url.clone())
            .headers(self.headers.clone());
        if let Some((user, pass)) = &self.auth {
            request = request.basic_auth(user, Some(pass));
        }
        let response = request
            .send()
            .await
            .map_err(|e| Attempt::Error(error_chain_reason(&e)))?;
        let status = response.status();
        match &self.regex {
            None if status == reqwest::StatusCode::OK => Ok(()),
            None => Err(Attempt::Unsuccessful(format!(
                "status {}",
                status_text(status)
            ))),
            Some(regex) => {
                let body = response
                    .text()
                    .await
                    .map_err(|e| Attempt::Error(error_chain_reason(&e)))?;
                if regex.is_match(&body) {
                    Ok(())
                } else {
                    Err(Attempt::Unsuccessful(format!(
                        "status {}, body not matching `{}`",
                        status_text(status),
                        self.regex_text
                    )))
                }
            }
        }
    }
}

fn status_text(status: reqwest::StatusCode) -> String {
    match status.canonical_reason() {
        Some(reason) => format!("{} {reason}", status.as_u16()),
        None => status.as_u16().to_string(),
    }
}

/// A rustls client configuration on the ring provider: the platform's
/// certificate verifier, or none at all with `verify: false`.
fn tls_config(verify: bool) -> Result<rustls::ClientConfig, Unusable> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(Unusable::Tls)?;
    let config = if verify {
        let verifier =
            rustls_platform_verifier::Verifier::new(provider).map_err(Unusable::Verifier)?;
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier))
            .with_no_client_auth()
    } else {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate(provider)))
            .with_no_client_auth()
    };
    Ok(config)
}

/// `verify: false`: any certificate for any name is accepted (signatures are
/// still checked, so the handshake itself stays sound).
#[derive(Debug)]
struct AcceptAnyCertificate(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// The most telling part of an error chain: a timeout, the innermost I/O
/// error (worded like [`io_reason`]) or the innermost error's message.
fn error_chain_reason(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        return "timed out".to_string();
    }
    let mut innermost: &(dyn std::error::Error + 'static) = e;
    let mut io_error = None;
    while let Some(source) = innermost.source() {
        innermost = source;
        if let Some(io) = source.downcast_ref::<io::Error>() {
            io_error = Some(io);
        }
    }
    match io_error {
        Some(io) if io.get_ref().is_none() => io_reason(io),
        _ => innermost.to_string(),
    }
}

// ---------------------------------------------------------------- exec

/// `(attempts, window)`: `window` bounds the whole check.
async fn exec_check(
    check: String,
    command: &[String],
    (attempts, window): (u32, Duration),
    envfrom: EnvFrom,
    container: &Container,
) -> Result<(), CheckFailure> {
    let Some((program, args)) = command.split_first() else {
        return Err(failure(check, "the command is empty"));
    };
    let env: Vec<(&str, &str)> = container
        .env
        .resolved()
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| (k, v)))
        .collect();
    let stdin_json = match envfrom {
        EnvFrom::Env => None,
        EnvFrom::Stdin => {
            let map: serde_json::Map<String, serde_json::Value> = env
                .iter()
                .map(|(k, v)| ((*k).to_string(), serde_json::Value::from(*v)))
                .collect();
            Some(serde_json::Value::Object(map).to_string())
        }
    };
    let deadline = Instant::now() + window;
    paced_within(attempts, Some(deadline), || {
        let mut cmd = tokio::process::Command::new(program);
        cmd.args(args)
            .kill_on_drop(true)
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        // Its own process group, so that a command given up on goes with
        // whatever it started (`sh -c '…'` and its children).
        #[cfg(unix)]
        cmd.process_group(0);
        if stdin_json.is_some() {
            cmd.stdin(Stdio::piped());
        } else {
            cmd.stdin(Stdio::null()).envs(env.iter().copied());
        }
        let stdin_json = stdin_json.as_deref();
        async move {
            match run_command(cmd, stdin_json).await {
                Ok((status, _)) if status.success() => Ok(()),
                Ok((status, stderr)) => {
                    let mut text = exit_text(status);
                    if let Some(line) = last_line(&stderr) {
                        text.push_str(&format!("; stderr: {line}"));
                    }
                    Err(Attempt::Unsuccessful(text))
                }
                Err(e) => {
                    let text = format!("cannot run `{program}`: {}", io_reason(&e));
                    match e.kind() {
                        // Retrying cannot help.
                        io::ErrorKind::NotFound
                        | io::ErrorKind::PermissionDenied
                        | io::ErrorKind::InvalidInput => Err(Attempt::Stop(text)),
                        _ => Err(Attempt::Error(text)),
                    }
                }
            }
        }
    })
    .await
    .map_err(|last| paced_failure(check, attempts, "no success", last))
}

/// Runs a prepared command to its end, feeding `stdin` when given, and
/// returns its status and the tail of its stderr.
async fn run_command(
    mut cmd: tokio::process::Command,
    stdin: Option<&str>,
) -> io::Result<(ExitStatus, Vec<u8>)> {
    let mut child = cmd.spawn()?;
    let mut group = ProcessGroup(child.id());
    let child_stdin = child.stdin.take();
    let child_stderr = child.stderr.take();
    let mut stderr = Vec::new();
    let status = {
        let feed = async {
            if let (Some(mut pipe), Some(text)) = (child_stdin, stdin) {
                // A command that exits without reading its input is fine.
                let _ = pipe.write_all(text.as_bytes()).await;
            }
        };
        let io = async { tokio::join!(feed, read_tail(child_stderr, &mut stderr)) };
        let wait = child.wait();
        tokio::pin!(io, wait);
        let mut io_done = false;
        let status = loop {
            tokio::select! {
                _ = &mut io, if !io_done => io_done = true,
                status = &mut wait => break status?,
            }
        };
        group.exited();
        if !io_done {
            let _ = timeout(STDERR_GRACE, &mut io).await;
        }
        status
    };
    Ok((status, stderr))
}

/// The process group led by a check's command (its pid), killed when this is
/// dropped before the command exited: when the attempt is given up or
/// cancelled. Once the command exited, what it left running in the
/// background is left alone, as MaestroNG leaves it.
struct ProcessGroup(Option<u32>);

impl ProcessGroup {
    /// The command exited: nothing to kill any more.
    fn exited(&mut self) {
        self.0 = None;
    }
}

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        #[cfg(unix)]
        if let Some(pid) = self.0.and_then(|pid| libc::pid_t::try_from(pid).ok()) {
            // SAFETY: killpg only sends a signal; a group that no longer
            // exists makes it fail with ESRCH, which is fine.
            unsafe {
                libc::killpg(pid, libc::SIGKILL);
            }
        }
    }
}

/// Reads `pipe` to its end into `out`, keeping only its last
/// [`STDERR_KEEP`] bytes.
async fn read_tail<R: AsyncRead + Unpin>(pipe: Option<R>, out: &mut Vec<u8>) {
    let Some(mut pipe) = pipe else { return };
    let mut buf = [0u8; 4096];
    loop {
        match pipe.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => {
                out.extend_from_slice(&buf[..n]);
                if out.len() > 2 * STDERR_KEEP {
                    out.drain(..out.len() - STDERR_KEEP);
                }
            }
        }
    }
}

fn exit_text(status: ExitStatus) -> String {
    if let Some(code) = status.code() {
        return format!("exit status {code}");
    }
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(signal) = status.signal() {
            return format!("killed by signal {signal}");
        }
    }
    status.to_string()
}

/// The last non-blank line of some output, trimmed and cut to
/// [`LINE_KEEP`] characters.
fn last_line(output: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(output);
    let line = text.lines().map(str::trim).rfind(|l| !l.is_empty())?;
    if line.chars().count() > LINE_KEEP {
        let cut: String = line.chars().take(LINE_KEEP).collect();
        Some(format!("{cut}…"))
    } else {
        Some(line.to_string())
    }
}

// ---------------------------------------------------------------- rexec

/// `(attempts, window)`: `window` bounds the whole check.
async fn rexec_check(
    check: String,
    command: &[String],
    (attempts, window): (u32, Duration),
    target: &dyn CheckTarget,
) -> Result<(), CheckFailure> {
    let deadline = Instant::now() + window;
    paced_within(attempts, Some(deadline), || async {
        match target.exec_in_container(command).await {
            Ok(0) => Ok(()),
            Ok(code) => Err(Attempt::Unsuccessful(format!("exit code {code}"))),
            Err(e) => Err(Attempt::Error(e.to_string())),
        }
    })
    .await
    .map_err(|last| paced_failure(check, attempts, "no success", last))
}

// ---------------------------------------------------------------- helpers

/// A duration for messages, in whole seconds, rounded up: `10 s`.
fn whole_secs_text(d: Duration) -> String {
    let secs = d.as_secs() + u64::from(d.subsec_nanos() > 0);
    format!("{secs} s")
}

/// A duration for messages, to a tenth of a second: `1 s`, `0.5 s`.
fn secs_text(d: Duration) -> String {
    format!("{} s", (d.as_secs_f64() * 10.0).round() / 10.0)
}

/// `host:port`, with an IPv6 address in brackets.
fn host_port(host: &str, port: u16) -> String {
    if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// A short lower-case wording of common connection errors.
fn io_reason(e: &io::Error) -> String {
    let text = match e.kind() {
        io::ErrorKind::ConnectionRefused => "connection refused",
        io::ErrorKind::ConnectionReset => "connection reset",
        io::ErrorKind::ConnectionAborted => "connection aborted",
        io::ErrorKind::TimedOut => "timed out",
        io::ErrorKind::HostUnreachable => "host unreachable",
        io::ErrorKind::NetworkUnreachable => "network unreachable",
        io::ErrorKind::AddrNotAvailable => "address not available",
        io::ErrorKind::NotFound if e.raw_os_error().is_some() => "no such file or directory",
        io::ErrorKind::PermissionDenied if e.raw_os_error().is_some() => "permission denied",
        _ => return e.to_string(),
    };
    text.to_string()
}

/// A command line as a shell would read it back, for messages.
fn shell_join(argv: &[String]) -> String {
    argv.iter()
        .map(|arg| {
            let plain = !arg.is_empty()
                && arg
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_-+=:,./@%".contains(c));
            if plain {
                arg.clone()
            } else {
                format!("'{}'", arg.replace('\'', r#"'"'"'"#))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use maestro_config::{
        ApiVersion, ContainerEnv, HttpOptions, Lifecycle, Limits, PortMapping, PortSpec,
        RestartPolicy,
    };
    use std::collections::VecDeque;
    use std::net::SocketAddr;
    use std::sync::Mutex;
    use tokio::io::{AsyncRead, AsyncWrite};
    use tokio::net::TcpListener;

    fn ship() -> Ship {
        Ship {
            name: "local".into(),
            ip: "127.0.0.1".into(),
            endpoint: "127.0.0.1".into(),
            docker_port: 2375,
            socket_path: None,
            api_version: ApiVersion::Auto,
            timeout: 10.0,
            ssh_tunnel: None,
            tls: false,
            tls_verify: false,
            tls_ca_cert: None,
            tls_cert: None,
            tls_key: None,
            ssl_version: None,
            ssh: None,
            ssh_accept_new_host_keys: false,
            ssh_timeout: None,
            origin: None,
        }
    }

    fn tcp(port: u16) -> PortSpec {
        PortSpec {
            first: port,
            last: None,
            protocol: Protocol::Tcp,
        }
    }

    /// `web-1` with the given named TCP ports (exposed 80, published on the
    /// given number) and environment.
    fn container(ports: &[(&str, u16)], env: &[(&str, Option<&str>)]) -> Container {
        Container {
            name: "web-1".into(),
            service: "web".into(),
            ship: "local".into(),
            image: "nginx".into(),
            env: ContainerEnv {
                own: env
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.map(str::to_string)))
                    .collect(),
                links: vec![Arc::new(vec![("LINKED".into(), "yes".into())])],
            },
            ports: ports
                .iter()
                .map(|(name, port)| {
                    (
                        name.to_string(),
                        PortMapping {
                            exposed: tcp(80),
                            external_ip: "0.0.0.0".into(),
                            external: tcp(*port),
                        },
                    )
                })
                .collect(),
            volumes: vec![],
            container_volumes: vec![],
            volumes_from: vec![],
            links: Default::default(),
            command: None,
            workdir: None,
            username: None,
            privileged: false,
            cap_add: vec![],
            cap_drop: vec![],
            security_opt: vec![],
            extra_hosts: Default::default(),
            network_mode: None,
            hostname: Some("web-1".into()),
            dns: vec![],
            restart: RestartPolicy {
                name: "no".into(),
                retries: 0,
            },
            stop_timeout: 10,
            limits: Limits::default(),
            ulimits: vec![],
            log_config: None,
            labels: Default::default(),
            lifecycle: Lifecycle::default(),
            options: Default::default(),
        }
    }

    fn web() -> Container {
        container(&[], &[("CONTAINER_NAME", Some("web-1")), ("EMPTY", None)])
    }

    /// An engine error that says `message` (after the ship).
    fn engine_error(message: &str) -> TargetError {
        TargetError::Engine(EngineError::Config {
            ship: "local".into(),
            message: message.into(),
        })
    }

    /// A target whose execs return the queued results, then exit code 1.
    #[derive(Default)]
    struct FakeTarget {
        results: Mutex<VecDeque<Result<i64, TargetError>>>,
        calls: Mutex<Vec<Vec<String>>>,
    }

    impl FakeTarget {
        fn with(results: Vec<Result<i64, TargetError>>) -> Self {
            FakeTarget {
                results: Mutex::new(results.into()),
                calls: Mutex::default(),
            }
        }
        fn calls(&self) -> Vec<Vec<String>> {
            self.calls.lock().unwrap().clone()
        }
    }

    impl CheckTarget for FakeTarget {
        fn exec_in_container<'a>(
            &'a self,
            command: &'a [String],
        ) -> Pin<Box<dyn Future<Output = Result<i64, TargetError>> + Send + 'a>> {
            self.calls.lock().unwrap().push(command.to_vec());
            let result = self.results.lock().unwrap().pop_front().unwrap_or(Ok(1));
            Box::pin(async move { result })
        }
    }

    async fn run(check: Check, container: &Container) -> Result<(), CheckFailure> {
        run_checks(&[check], container, &ship(), &FakeTarget::default()).await
    }

    /// A port nothing listens on.
    async fn refused_port() -> u16 {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        listener.local_addr().unwrap().port()
    }

    fn argv(args: &[&str]) -> Vec<String> {
        args.iter().map(|s| s.to_string()).collect()
    }

    // ------------------------------------------------------------ tcp

    #[tokio::test]
    async fn tcp_passes_when_the_port_accepts() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let c = container(&[("http", port)], &[]);
        let check = Check::Tcp {
            port: "http".into(),
            max_wait: 2,
        };
        assert_eq!(describe(&check), "tcp check on port http");
        run(check, &c).await.unwrap();
    }

    #[tokio::test]
    async fn tcp_fails_on_a_refused_port() {
        let port = refused_port().await;
        let c = container(&[("http", port)], &[]);
        let err = run(
            Check::Tcp {
                port: "http".into(),
                max_wait: 2,
            },
            &c,
        )
        .await
        .unwrap_err();
        assert_eq!(
            err.check,
            format!("tcp check on port http (127.0.0.1:{port})")
        );
        assert_eq!(
            err.reason,
            "no connection accepted after 2 attempts (last error: connection refused)"
        );
        assert_eq!(
            err.to_string(),
            format!(
                "tcp check on port http (127.0.0.1:{port}) failed: no connection accepted \
                 after 2 attempts (last error: connection refused)"
            )
        );
    }

    #[tokio::test]
    async fn tcp_passes_when_the_port_opens_later() {
        let port = refused_port().await;
        let c = container(&[("http", port)], &[]);
        let opener = tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(500)).await;
            let listener = TcpListener::bind(("127.0.0.1", port)).await.unwrap();
            tokio::time::sleep(Duration::from_secs(5)).await;
            drop(listener);
        });
        run(
            Check::Tcp {
                port: "http".into(),
                max_wait: 3,
            },
            &c,
        )
        .await
        .unwrap();
        opener.abort();
    }

    #[tokio::test]
    async fn tcp_fails_without_panicking_on_a_bad_port() {
        let mut c = container(&[], &[]);
        let err = run(
            Check::Tcp {
                port: "http".into(),
                max_wait: 1,
            },
            &c,
        )
        .await
        .unwrap_err();
        assert_eq!(err.reason, "`web-1` has no port named `http`");
        c.ports.insert(
            "dns".into(),
            PortMapping {
                exposed: tcp(53),
                external_ip: "0.0.0.0".into(),
                external: PortSpec {
                    first: 53,
                    last: None,
                    protocol: Protocol::Udp,
                },
            },
        );
        let err = run(
            Check::Tcp {
                port: "dns".into(),
                max_wait: 1,
            },
            &c,
        )
        .await
        .unwrap_err();
        assert_eq!(err.reason, "port `dns` of `web-1` is udp, not tcp");
    }

    // ------------------------------------------------------------ http

    /// Serves HTTP/1.1 on 127.0.0.1: each request's head goes to `answer`,
    /// which returns the status line and body.
    async fn http_server(answer: fn(&str) -> (&'static str, &'static str)) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve_one(stream, answer));
            }
        });
        addr
    }

    async fn serve_one<S: AsyncRead + AsyncWrite + Unpin>(
        mut stream: S,
        answer: fn(&str) -> (&'static str, &'static str),
    ) {
        let mut head = Vec::new();
        let mut buf = [0u8; 1024];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => head.extend_from_slice(&buf[..n]),
            }
        }
        let (status, body) = answer(&String::from_utf8_lossy(&head).to_ascii_lowercase());
        let response = format!(
            "HTTP/1.1 {status}\r\ncontent-type: text/plain\r\ncontent-length: {}\r\n\
             connection: close\r\n\r\n{body}",
            body.len()
        );
        let _ = stream.write_all(response.as_bytes()).await;
        let _ = stream.shutdown().await;
    }

    fn http(port: HttpPort, match_regex: Option<&str>, options: HttpOptions) -> Check {
        Check::Http {
            port,
            host: None,
            path: "/health".into(),
            scheme: "http".into(),
            method: "GET".into(),
            match_regex: match_regex.map(str::to_string),
            max_wait: 1,
            options: Box::new(options),
        }
    }

    fn options() -> HttpOptions {
        HttpOptions {
            verify: true,
            timeout: None,
            headers: Default::default(),
            auth: None,
        }
    }

    #[tokio::test]
    async fn http_passes_on_a_matching_body_through_a_named_port() {
        let addr = http_server(|_| ("200 OK", "all\nready")).await;
        let c = container(&[("web", addr.port())], &[]);
        let check = http(HttpPort::Named("web".into()), Some("all.re.dy"), options());
        assert_eq!(describe(&check), "http check GET /health on port web");
        run(check, &c).await.unwrap();
    }

    #[tokio::test]
    async fn http_passes_on_status_200_without_a_regex() {
        let addr = http_server(|head| {
            if head.starts_with("get /health http/1.1") {
                ("200 OK", "")
            } else {
                ("404 Not Found", "")
            }
        })
        .await;
        run(http(HttpPort::Number(addr.port()), None, options()), &web())
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn http_fails_on_503() {
        let addr = http_server(|_| ("503 Service Unavailable", "starting")).await;
        let err = run(http(HttpPort::Number(addr.port()), None, options()), &web())
            .await
            .unwrap_err();
        assert_eq!(
            err.check,
            format!("http check GET http://127.0.0.1:{}/health", addr.port())
        );
        assert_eq!(
            err.reason,
            "no successful response within 1 s (last: status 503 Service Unavailable)"
        );
    }

    #[tokio::test]
    async fn http_fails_when_the_body_does_not_match() {
        let addr = http_server(|_| ("200 OK", "starting")).await;
        let err = run(
            http(HttpPort::Number(addr.port()), Some("re.dy"), options()),
            &web(),
        )
        .await
        .unwrap_err();
        assert_eq!(
            err.reason,
            "no successful response within 1 s (last: status 200 OK, body not matching `re.dy`)"
        );
    }

    #[tokio::test]
    async fn http_matches_the_body_whatever_the_status() {
        let addr = http_server(|_| ("503 Service Unavailable", "ready")).await;
        run(
            http(HttpPort::Number(addr.port()), Some("re.dy"), options()),
            &web(),
        )
        .await
        .unwrap();
    }

    #[tokio::test]
    async fn http_retries_once_a_second_within_max_wait() {
        static REQUESTS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let addr = http_server(|_| {
            REQUESTS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            ("503 Service Unavailable", "")
        })
        .await;
        let mut check = http(HttpPort::Number(addr.port()), None, options());
        if let Check::Http { max_wait, .. } = &mut check {
            *max_wait = 2;
        }
        let err = run(check, &web()).await.unwrap_err();
        assert_eq!(
            err.reason,
            "no successful response within 2 s (last: status 503 Service Unavailable)"
        );
        // One request a second within the 2 s: two.
        assert_eq!(REQUESTS.load(std::sync::atomic::Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn http_fails_on_a_refused_port() {
        let port = refused_port().await;
        let err = run(http(HttpPort::Number(port), None, options()), &web())
            .await
            .unwrap_err();
        assert_eq!(
            err.reason,
            "no successful response within 1 s (last error: connection refused)"
        );
    }

    #[tokio::test]
    async fn http_sends_the_headers() {
        let addr = http_server(|head| {
            if head.contains("\r\nx-token: secret\r\n") {
                ("200 OK", "")
            } else {
                ("403 Forbidden", "")
            }
        })
        .await;
        let port = HttpPort::Number(addr.port());
        let err = run(http(port.clone(), None, options()), &web())
            .await
            .unwrap_err();
        assert!(err.reason.contains("403 Forbidden"), "{err}");
        let mut with_header = options();
        with_header
            .headers
            .insert("X-Token".into(), "secret".into());
        run(http(port, None, with_header), &web()).await.unwrap();
    }

    #[tokio::test]
    async fn http_sends_basic_auth() {
        // user:pass
        let addr = http_server(|head| {
            if head.contains("\r\nauthorization: basic dxnlcjpwyxnz\r\n") {
                ("200 OK", "")
            } else {
                ("401 Unauthorized", "")
            }
        })
        .await;
        let port = HttpPort::Number(addr.port());
        let err = run(http(port.clone(), None, options()), &web())
            .await
            .unwrap_err();
        assert!(err.reason.contains("401 Unauthorized"), "{err}");
        let mut with_auth = options();
        with_auth.auth = Some(("user".into(), "pass".into()));
        run(http(port, None, with_auth), &web()).await.unwrap();
    }

    #[tokio::test]
    async fn http_times_out_within_max_wait() {
        // Accepts and never answers.
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let mut opts = options();
        opts.timeout = Some(30.0);
        // Bounded by `max_wait` (1 s), not by the request's 30 s timeout.
        let err = timeout(
            Duration::from_secs(20),
            run(http(HttpPort::Number(port), None, opts), &web()),
        )
        .await
        .expect("the check ends with its max_wait, long before the 30 s timeout")
        .unwrap_err();
        assert_eq!(
            err.reason,
            "no successful response within 1 s (last error: timed out after 1 s)"
        );
        drop(listener);
    }

    #[tokio::test]
    async fn http_rejects_a_bad_regex_at_once() {
        let addr = http_server(|_| ("200 OK", "ready")).await;
        let err = run(
            http(HttpPort::Number(addr.port()), Some("(?=ready)"), options()),
            &web(),
        )
        .await
        .unwrap_err();
        assert!(
            err.reason.starts_with("invalid match_regex `(?=ready)`"),
            "{err}"
        );
    }

    /// An HTTPS server with a self-signed certificate for `localhost`.
    async fn https_server() -> SocketAddr {
        let key = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
        let cert = key.cert.der().clone();
        let private = rustls::pki_types::PrivateKeyDer::Pkcs8(
            rustls::pki_types::PrivatePkcs8KeyDer::from(key.signing_key.serialize_der()),
        );
        let config = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert], private)
        .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    if let Ok(tls) = acceptor.accept(stream).await {
                        serve_one(tls, |_| ("200 OK", "ready")).await;
                    }
                });
            }
        });
        addr
    }

    #[tokio::test]
    async fn https_with_verify_false_accepts_a_self_signed_certificate() {
        let addr = https_server().await;
        let check = |verify: bool| Check::Http {
            port: HttpPort::Number(addr.port()),
            host: Some("localhost".into()),
            path: "/".into(),
            scheme: "https".into(),
            method: "GET".into(),
            match_regex: Some("re.dy".into()),
            max_wait: 1,
            options: Box::new(HttpOptions {
                verify,
                ..options()
            }),
        };
        run(check(false), &web()).await.unwrap();
        let err = run(check(true), &web()).await.unwrap_err();
        assert_eq!(
            err.check,
            format!("http check GET https://localhost:{}/", addr.port())
        );
        assert!(err.reason.contains("last error:"), "{err}");
        assert!(err.reason.to_lowercase().contains("certificate"), "{err}");
    }

    // ------------------------------------------------------------ exec

    fn exec(command: &[&str], attempts: u32, envfrom: EnvFrom) -> Check {
        Check::Exec {
            command: argv(command),
            attempts,
            envfrom,
        }
    }

    #[tokio::test]
    async fn exec_passes_with_the_container_environment() {
        let check = exec(
            &[
                "sh",
                "-c",
                "test \"$CONTAINER_NAME\" = web-1 && test \"$LINKED\" = yes \
                 && test -z \"${EMPTY+set}\" && test -n \"$PATH\"",
            ],
            1,
            EnvFrom::Env,
        );
        run(check, &web()).await.unwrap();
    }

    #[tokio::test]
    async fn exec_fails_with_the_exit_status_and_last_stderr_line() {
        let check = exec(
            &[
                "sh",
                "-c",
                "echo first >&2; echo \"not $CONTAINER_NAME\" >&2; echo; exit 3",
            ],
            2,
            EnvFrom::Env,
        );
        let err = run(check, &web()).await.unwrap_err();
        assert_eq!(
            err.to_string(),
            "exec check `sh -c 'echo first >&2; echo \"not $CONTAINER_NAME\" >&2; echo; exit 3'` \
             failed: no success after 2 attempts (last: exit status 3; stderr: not web-1)"
        );
    }

    #[tokio::test]
    async fn exec_stops_at_once_when_the_command_does_not_exist() {
        let err = run(
            exec(&["/nonexistent/check-script"], 100, EnvFrom::Env),
            &web(),
        )
        .await
        .unwrap_err();
        assert_eq!(
            err.reason,
            "cannot run `/nonexistent/check-script`: no such file or directory"
        );
    }

    #[tokio::test]
    async fn exec_envfrom_stdin_writes_the_environment_as_json() {
        run(
            exec(
                &["sh", "-c", "grep -q '\"CONTAINER_NAME\"' "],
                1,
                EnvFrom::Stdin,
            ),
            &web(),
        )
        .await
        .unwrap();
        // The container's variables are not added to the environment then
        // (which may hold its own CONTAINER_NAME), and the object holds
        // exactly the variables with a value.
        run(
            exec(
                &[
                    "sh",
                    "-c",
                    "test \"$CONTAINER_NAME\" != web-1 && test \"$LINKED\" != yes && \
                     test \"$(cat)\" = '{\"CONTAINER_NAME\":\"web-1\",\"LINKED\":\"yes\"}'",
                ],
                1,
                EnvFrom::Stdin,
            ),
            &web(),
        )
        .await
        .unwrap();
        let err = run(
            exec(&["sh", "-c", "grep -q '\"OTHER\"'"], 1, EnvFrom::Stdin),
            &web(),
        )
        .await
        .unwrap_err();
        assert_eq!(
            err.reason,
            "no success after 1 attempt (last: exit status 1)"
        );
    }

    #[tokio::test]
    async fn exec_does_not_wait_for_background_processes_holding_stderr() {
        timeout(
            Duration::from_secs(20),
            run(
                exec(&["sh", "-c", "sleep 120 & exit 0"], 1, EnvFrom::Env),
                &web(),
            ),
        )
        .await
        .expect("the check does not wait for the 120 s background sleep")
        .unwrap();
    }

    #[tokio::test]
    async fn a_cancelled_exec_check_kills_its_command() {
        let dir = std::env::temp_dir().join(format!("maestro-checks-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let pid_file = dir.join("pid");
        let script = format!("echo $$ > {}; exec sleep 30", pid_file.display());
        let check = exec(&["sh", "-c", &script], 1, EnvFrom::Env);
        let c = web();
        let mut running = Box::pin(run(check, &c));
        let pid = loop {
            tokio::select! {
                result = &mut running => panic!("the check ended: {result:?}"),
                _ = tokio::time::sleep(Duration::from_millis(20)) => {}
            }
            match std::fs::read_to_string(&pid_file) {
                Ok(pid) if pid.ends_with('\n') => break pid,
                _ => {}
            }
        };
        drop(running);
        let status = format!("/proc/{}/stat", pid.trim());
        // Killed at once; reaped soon after.
        let mut gone = false;
        for _ in 0..50 {
            match std::fs::read_to_string(&status) {
                Err(_) => gone = true,
                Ok(stat) => gone = stat.contains(") Z "),
            }
            if gone {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(gone, "the command survived its cancelled check");
    }

    // ------------------------------------------------------------ rexec

    #[tokio::test]
    async fn rexec_passes_on_the_second_attempt() {
        let target = FakeTarget::with(vec![Err(engine_error("engine hiccup")), Ok(0)]);
        let check = Check::Rexec {
            command: argv(&["pg_isready"]),
            attempts: 3,
        };
        assert_eq!(describe(&check), "rexec check `pg_isready`");
        let started = std::time::Instant::now();
        run_checks(&[check], &web(), &ship(), &target)
            .await
            .unwrap();
        assert!(started.elapsed() >= Duration::from_millis(900));
        assert_eq!(target.calls(), vec![argv(&["pg_isready"]); 2]);
    }

    #[tokio::test]
    async fn rexec_fails_after_its_attempts() {
        let target = FakeTarget::with(vec![Err(engine_error("engine hiccup")), Ok(2)]);
        let check = Check::Rexec {
            command: argv(&["pg_isready", "-q"]),
            attempts: 2,
        };
        let err = run_checks(&[check], &web(), &ship(), &target)
            .await
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "rexec check `pg_isready -q` failed: no success after 2 attempts (last: exit code 2)"
        );
        assert_eq!(target.calls().len(), 2);

        let target = FakeTarget::with(vec![Err(engine_error("no such container"))]);
        let check = Check::Rexec {
            command: argv(&["true"]),
            attempts: 1,
        };
        let err = run_checks(&[check], &web(), &ship(), &target)
            .await
            .unwrap_err();
        assert_eq!(
            err.reason,
            "no success after 1 attempt (last error: no such container)"
        );
    }

    /// A target whose every exec takes `each` (or never ends), then exits 1.
    struct SlowTarget {
        each: Option<Duration>,
        calls: Mutex<u32>,
    }

    impl CheckTarget for SlowTarget {
        fn exec_in_container<'a>(
            &'a self,
            _command: &'a [String],
        ) -> Pin<Box<dyn Future<Output = Result<i64, TargetError>> + Send + 'a>> {
            *self.calls.lock().unwrap() += 1;
            let each = self.each;
            Box::pin(async move {
                match each {
                    Some(each) => tokio::time::sleep(each).await,
                    None => std::future::pending::<()>().await,
                }
                Ok(1)
            })
        }
    }

    fn rexec(command: &[&str], attempts: u32) -> Check {
        Check::Rexec {
            command: argv(command),
            attempts,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_hung_rexec_attempt_fails_the_check_when_its_window_closes() {
        let target = SlowTarget {
            each: None,
            calls: Mutex::new(0),
        };
        let err = run_checks(&[rexec(&["sleep", "3600"], 3)], &web(), &ship(), &target)
            .await
            .unwrap_err();
        // Three attempts are less than the floor: the window is 10 s.
        assert_eq!(
            err.to_string(),
            "rexec check `sleep 3600` failed: did not finish within 10 s (attempt 1 of 3); \
             an exec or rexec check is given 1 s per attempt and at least 10 s: raise its \
             `attempts` if the command needs longer"
        );
        assert_eq!(*target.calls.lock().unwrap(), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn slow_rexec_attempts_end_with_the_window_of_their_attempts() {
        // 20 attempts: a window of 20 s. Each attempt takes 3 s (and fails),
        // so the 7th begins at 18 s and is given up at 20 s.
        let target = SlowTarget {
            each: Some(Duration::from_secs(3)),
            calls: Mutex::new(0),
        };
        let err = run_checks(&[rexec(&["pg_isready"], 20)], &web(), &ship(), &target)
            .await
            .unwrap_err();
        assert!(
            err.reason
                .starts_with("did not finish within 2 s (attempt 7 of 20);"),
            "{err}"
        );
        assert_eq!(*target.calls.lock().unwrap(), 7);
    }

    #[tokio::test(start_paused = true)]
    async fn the_default_window_of_exec_checks_is_their_attempts() {
        assert_eq!(exec_window(180), Duration::from_secs(180));
        assert_eq!(exec_window(1), EXEC_WINDOW_FLOOR);
        assert_eq!(exec_window(0), EXEC_WINDOW_FLOOR);
        // A hung attempt with many attempts left is given the whole window.
        let target = SlowTarget {
            each: None,
            calls: Mutex::new(0),
        };
        let err = run_checks(&[rexec(&["true"], 30)], &web(), &ship(), &target)
            .await
            .unwrap_err();
        assert!(
            err.reason
                .starts_with("did not finish within 30 s (attempt 1 of 30);"),
            "{err}"
        );
    }

    /// True once `pid` has exited (gone, or a zombie left to be reaped).
    async fn ended(pid: &str) -> bool {
        let status = format!("/proc/{}/stat", pid.trim());
        for _ in 0..100 {
            match std::fs::read_to_string(&status) {
                Err(_) => return true,
                Ok(stat) if stat.contains(") Z ") => return true,
                Ok(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        }
        false
    }

    #[tokio::test]
    async fn a_hung_exec_attempt_is_killed_with_its_children_when_its_window_closes() {
        let dir = std::env::temp_dir().join(format!("maestro-hung-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let pids = dir.join("pids");
        // The shell waits for a child of its own: both must go.
        let script = format!("sleep 3600 & echo $$ $! > {}; wait", pids.display());
        let command = argv(&["sh", "-c", &script]);
        let err = exec_check(
            "exec check `hung`".to_owned(),
            &command,
            (2, Duration::from_secs(5)),
            EnvFrom::Env,
            &web(),
        )
        .await
        .unwrap_err();
        assert!(
            err.to_string().starts_with(
                "exec check `hung` failed: did not finish within 5 s (attempt 1 of 2);"
            ),
            "{err}"
        );
        let written = std::fs::read_to_string(&pids).unwrap_or_default();
        std::fs::remove_dir_all(&dir).unwrap();
        let both: Vec<&str> = written.split_whitespace().collect();
        assert_eq!(
            both.len(),
            2,
            "the shell wrote its pid and its child's: {written:?}"
        );
        for pid in both {
            assert!(ended(pid).await, "process {pid} outlived its check");
        }
    }

    // ------------------------------------------------------------ sleep

    #[tokio::test]
    async fn sleep_waits_and_passes() {
        let check = Check::Sleep { wait: 0.2 };
        assert_eq!(describe(&check), "sleep 0.2 s");
        let started = std::time::Instant::now();
        run(check, &web()).await.unwrap();
        assert!(started.elapsed() >= Duration::from_millis(200));
        // Nonsense never panics.
        run(Check::Sleep { wait: -1.0 }, &web()).await.unwrap();
        run(Check::Sleep { wait: f64::NAN }, &web()).await.unwrap();
    }

    // ------------------------------------------------------------ run_checks

    #[tokio::test]
    async fn no_checks_pass() {
        run_checks(&[], &web(), &ship(), &FakeTarget::default())
            .await
            .unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn checks_run_concurrently() {
        // On the paused clock: four sleeps of 0.3 s at once take 0.3 s of
        // the clock, one after the other 1.2 s.
        let started = tokio::time::Instant::now();
        let checks = vec![Check::Sleep { wait: 0.3 }; 4];
        run_checks(&checks, &web(), &ship(), &FakeTarget::default())
            .await
            .unwrap();
        assert_eq!(started.elapsed(), Duration::from_millis(300));
    }

    #[tokio::test]
    async fn the_first_failure_is_returned_and_the_others_dropped() {
        let port = refused_port().await;
        let c = container(&[("http", port)], &[]);
        let checks = [
            Check::Sleep { wait: 30.0 },
            Check::Tcp {
                port: "http".into(),
                max_wait: 1,
            },
            Check::Sleep { wait: 0.1 },
        ];
        // The 30 s sleep is dropped when the tcp check fails.
        let err = timeout(
            Duration::from_secs(15),
            run_checks(&checks, &c, &ship(), &FakeTarget::default()),
        )
        .await
        .expect("the failure ends the checks without waiting for the 30 s sleep")
        .unwrap_err();
        assert_eq!(
            err.check,
            format!("tcp check on port http (127.0.0.1:{port})")
        );
    }

    #[tokio::test]
    async fn a_long_check_can_be_cancelled() {
        let port = refused_port().await;
        let c = container(&[("http", port)], &[]);
        let checks = [Check::Tcp {
            port: "http".into(),
            max_wait: 300,
        }];
        let target = FakeTarget::default();
        let s = ship();
        let future = run_checks(&checks, &c, &s, &target);
        fn assert_send<T: Send>(_: &T) {}
        assert_send(&future);
        assert!(timeout(Duration::from_millis(200), future).await.is_err());
    }

    #[test]
    fn commands_are_shown_as_a_shell_would_read_them() {
        assert_eq!(
            shell_join(&argv(&["sh", "-c", "echo 'hi' there", ""])),
            r#"sh -c 'echo '"'"'hi'"'"' there' ''"#
        );
        assert_eq!(host_port("::1", 80), "[::1]:80");
        assert_eq!(host_port("10.0.0.1", 80), "10.0.0.1:80");
    }
}
