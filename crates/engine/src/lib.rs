//! One connection to one ship's Docker engine: the transport the ship asks
//! for (unix socket, TCP, TLS, SSH tunnel), the API version (negotiated unless
//! the ship pins one), and the engine calls the plays make, each bounded by the
//! ship's `timeout` and each failing with an [`EngineError`] that reads as a
//! sentence. Knows nothing of plays, terminals or environment files beyond
//! the [`Ship`] it connects to.

mod attach;
mod calls;
mod capped;
mod error;
mod exec;
mod import;
mod legacy;
mod logs_from;
mod objects;
mod path;
mod raw;
mod ssh;
mod tls;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use bollard::{BollardRequest, ClientVersion, Docker};
use maestro_config::{ApiVersion, Ship};

pub use bollard::auth::DockerCredentials;
pub use bollard::models;
pub use calls::{ExecOutcome, FileToPut, LogLine, PullProgress};
pub use error::EngineError;
pub use exec::{ExecOutput, ExecRequest, ExecSession, ExecStream};
pub use logs_from::{parse_rfc3339, LogsFrom, StampedLine};
pub use objects::Labels;

/// The newest API version maestro speaks (that of its Docker API models).
pub const NEWEST_API_VERSION: &str = "1.53";
/// The oldest API version maestro's requests are valid for.
pub const OLDEST_API_VERSION: &str = "1.24";

/// bollard's own request timeout; ours (the ship's) is applied around each call.
pub(crate) const BOLLARD_TIMEOUT_SECS: u64 = 24 * 3600;

/// A live connection to one ship's engine.
pub struct Engine {
    ship: String,
    docker: Docker,
    timeout: Duration,
    api_version: String,
    engine_version: String,
    address: String,
    /// Shared by the engines of one fleet: a permit per call in flight.
    calls: Option<Arc<tokio::sync::Semaphore>>,
    /// The SSH connection that carries this engine's calls, if any.
    _ssh: Option<Arc<ssh::Session>>,
    /// The answers of this engine cut at a cap.
    oversized: capped::Oversized,
    /// The connection pool for calls whose answers are read into only the
    /// fields maestro looks at.
    raw: Option<raw::Raw>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("ship", &self.ship)
            .field("address", &self.address)
            .field("api_version", &self.api_version)
            .finish()
    }
}

impl Engine {
    /// Connects to `ship`'s engine and settles the API version. Bounded by the
    /// ship's timeout, and its SSH timeout before that when it is reached over SSH.
    pub async fn connect(ship: &Ship) -> Result<Engine, EngineError> {
        let timeout = ship_timeout(ship);
        let unpinned = &ClientVersion {
            major_version: 1,
            minor_version: 53,
        };
        let (docker, address, session) = if let Some((wanted, far)) = ssh::wanted(ship) {
            let address = ssh::address(ship, &wanted, &far);
            let session = ssh::open(ship, &wanted, far, &address).await?;
            let connector = ssh::Connector {
                session: session.clone(),
            };
            let docker = if ship.tls || ship.tls_verify {
                tls::over(ship, connector, "localhost", ship.docker_port, unpinned)?
            } else {
                pooled(ship, connector, &address, "http://localhost", unpinned)?
            };
            (docker, address, Some(session))
        } else if let Some(path) = &ship.socket_path {
            let address = format!("unix://{path}");
            if !std::path::Path::new(path).exists() {
                return Err(EngineError::Unreachable {
                    ship: ship.name.clone(),
                    address,
                    reason: "no such socket on this machine; check the ship's `socket_path`".into(),
                });
            }
            let connector = UnixConnector(Arc::from(path.as_str()));
            let docker = pooled(ship, connector, &address, "http://localhost", unpinned)?;
            (docker, address, None)
        } else if ship.tls || ship.tls_verify {
            let docker = tls::connect(ship, &ship.endpoint, ship.docker_port, unpinned)?;
            (
                docker,
                format!("https://{}:{}", ship.endpoint, ship.docker_port),
                None,
            )
        } else {
            let address = format!("tcp://{}:{}", ship.endpoint, ship.docker_port);
            (http(ship, &address, unpinned)?, address, None)
        };
        let (oversized, raw) = match LAST_BUILT.with(|last| last.borrow_mut().take()) {
            Some((oversized, raw)) => (oversized, Some(raw)),
            None => (capped::Oversized::default(), None),
        };
        let mut engine = Engine {
            ship: ship.name.clone(),
            docker,
            timeout,
            api_version: String::new(),
            engine_version: String::new(),
            address,
            calls: None,
            _ssh: session,
            oversized,
            raw,
        };
        engine.settle_version(&ship.api_version).await?;
        Ok(engine)
    }

    /// From now on each call that is read whole (all but a pull and a log
    /// stream), stops included, holds a permit of `calls` while it is in
    /// flight. A fleet shares one such pool between its engines, so a play
    /// over thousands of containers keeps a bounded number of requests (and
    /// connections, and buffers) open at once instead of one per container.
    /// A stop holds its permit for as long as the engine waits out the
    /// container's grace period: with the pool full of such stops other
    /// calls queue, but nothing deadlocks, since no call waits for a permit
    /// while holding one.
    pub fn limit_calls(mut self, calls: Arc<tokio::sync::Semaphore>) -> Engine {
        self.calls = Some(calls);
        self
    }

    /// The ship's name.
    pub fn ship(&self) -> &str {
        &self.ship
    }

    /// How the engine is reached, for messages (`tcp://10.0.0.2:2375`).
    pub fn address(&self) -> &str {
        &self.address
    }

    /// The API version every request carries.
    pub fn api_version(&self) -> &str {
        &self.api_version
    }

    /// The engine's own version (`20.10.24`).
    pub fn engine_version(&self) -> &str {
        &self.engine_version
    }

    /// The bound on each engine call.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    async fn settle_version(&mut self, wanted: &ApiVersion) -> Result<(), EngineError> {
        match wanted {
            ApiVersion::Auto => {
                let version = self
                    .bounded(
                        "ask the engine its version",
                        || self.docker.version(),
                        self.timeout,
                    )
                    .await?;
                let server = version.api_version.clone().unwrap_or_default();
                let Some(server_v) = parse_version(&server) else {
                    return Err(EngineError::Protocol {
                        ship: self.ship.clone(),
                        action: "ask the engine its version".into(),
                        reason: format!("API version `{server}` is not of the form 1.41"),
                    });
                };
                let oldest = parse_version(OLDEST_API_VERSION).unwrap_or((1, 24));
                if server_v < oldest {
                    return Err(EngineError::Version {
                        ship: self.ship.clone(),
                        requested: OLDEST_API_VERSION.into(),
                        message: format!("the engine speaks API {server} at most; maestro needs {OLDEST_API_VERSION} or newer (Docker 1.12)"),
                    });
                }
                let newest = parse_version(NEWEST_API_VERSION).unwrap_or((1, 53));
                let chosen = if server_v > newest { newest } else { server_v };
                self.engine_version = version.version.unwrap_or_default();
                self.pin(format!("{}.{}", chosen.0, chosen.1));
                Ok(())
            }
            ApiVersion::Fixed(requested) => {
                self.pin(requested.clone());
                match self
                    .bounded(
                        "ask the engine its version",
                        || self.docker.version(),
                        self.timeout,
                    )
                    .await
                {
                    Ok(version) => {
                        self.engine_version = version.version.unwrap_or_default();
                        Ok(())
                    }
                    Err(EngineError::Refused {
                        status: 400,
                        message,
                        ..
                    }) => Err(EngineError::Version {
                        ship: self.ship.clone(),
                        requested: requested.clone(),
                        message,
                    }),
                    Err(other) => Err(other),
                }
            }
        }
    }

    /// From now on every request carries `/v{version}`.
    fn pin(&mut self, version: String) {
        let prefix: Arc<str> = Arc::from(format!("/v{version}"));
        self.api_version = version;
        self.docker = self
            .docker
            .clone()
            .with_request_modifier(move |request| with_version_prefix(request, &prefix));
    }

    /// Runs one short engine call, made by `call`, within `limit` once a
    /// call permit is free (the wait for the permit is not counted against
    /// the limit). The call is made and boxed only then: a play's thousands
    /// of containers waiting for a permit hold a closure each, not the
    /// state of an HTTP exchange (kilobytes).
    pub(crate) async fn bounded<T, F>(
        &self,
        action: &str,
        call: impl FnOnce() -> F,
        limit: Duration,
    ) -> Result<T, EngineError>
    where
        F: Future<Output = Result<T, bollard::errors::Error>>,
    {
        let _permit = match &self.calls {
            Some(calls) => calls.acquire().await.ok(),
            None => None,
        };
        self.timed(action, Box::pin(call()), limit).await
    }

    /// Runs one engine call within `limit`, turning its failure into an [`EngineError`].
    pub(crate) async fn timed<T>(
        &self,
        action: &str,
        call: impl Future<Output = Result<T, bollard::errors::Error>>,
        limit: Duration,
    ) -> Result<T, EngineError> {
        match tokio::time::timeout(limit, call).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(error)) => Err(self.engine_error(action, error)),
            Err(_) => Err(EngineError::Timeout {
                ship: self.ship.clone(),
                action: action.to_owned(),
                seconds: limit.as_secs_f64(),
            }),
        }
    }

    pub(crate) fn engine_error(&self, action: &str, error: bollard::errors::Error) -> EngineError {
        use bollard::errors::Error as B;
        if let Some(too_large) = capped::too_large(&error) {
            return self.too_large(action, too_large);
        }
        if head_too_large(&error) {
            return EngineError::Protocol {
                ship: self.ship.clone(),
                action: action.to_owned(),
                reason: format!(
                    "the answer's head is larger than the {} KiB maestro reads; is a proxy in front of the engine adding headers?",
                    READ_BUFFER / 1024
                ),
            };
        }
        match error {
            B::DockerResponseServerError {
                status_code,
                message,
            } => EngineError::Refused {
                ship: self.ship.clone(),
                action: action.to_owned(),
                status: status_code,
                message,
            },
            B::RequestTimeoutError => EngineError::Timeout {
                ship: self.ship.clone(),
                action: action.to_owned(),
                seconds: self.timeout.as_secs_f64(),
            },
            B::JsonDataError { .. } | B::JsonSerdeError { .. } | B::StrParseError { .. } => {
                EngineError::Protocol {
                    ship: self.ship.clone(),
                    action: action.to_owned(),
                    reason: error::root_cause(&error),
                }
            }
            // The answer's head came, then its body broke off (connection
            // failures before an answer are the client's, not this one).
            B::HyperResponseError { .. } => EngineError::Cut {
                ship: self.ship.clone(),
                action: action.to_owned(),
                reason: error::root_cause(&error),
            },
            B::DockerStreamError { error } => EngineError::Refused {
                ship: self.ship.clone(),
                action: action.to_owned(),
                status: 500,
                message: error,
            },
            other => EngineError::Unreachable {
                ship: self.ship.clone(),
                address: self.address.clone(),
                reason: error::root_cause(&other),
            },
        }
    }
}

impl Engine {
    pub(crate) fn too_large(&self, action: &str, too_large: capped::TooLarge) -> EngineError {
        EngineError::TooLarge {
            ship: self.ship.clone(),
            action: action.to_owned(),
            mib: too_large.mib(),
            streamed: too_large.streamed,
        }
    }
}

/// Plain TCP with a pooled client: bollard's own HTTP constructor keeps no
/// idle connections, so every call would open a new one (measured on the
/// simulated fleet: 1.00 connection per request, 0.04 with the pool).
fn http(ship: &Ship, address: &str, version: &ClientVersion) -> Result<Docker, EngineError> {
    let mut connector = hyper_util::client::legacy::connect::HttpConnector::new();
    connector.set_nodelay(true);
    let base = format!("http://{}", address.trim_start_matches("tcp://"));
    pooled(ship, connector, address, &base, version)
}

/// What hyper's pooled client can open connections with: TCP, TLS over
/// either, the channels of an SSH connection.
pub(crate) trait Connects:
    tower_service::Service<
        hyper::Uri,
        Response: hyper_util::client::legacy::connect::Connection
                      + hyper::rt::Read
                      + hyper::rt::Write
                      + Unpin
                      + Send
                      + 'static,
        Future: Send + Unpin + 'static,
        Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    > + Clone
    + Send
    + Sync
    + 'static
{
}

impl<C> Connects for C
where
    C: tower_service::Service<hyper::Uri> + Clone + Send + Sync + 'static,
    C::Response: hyper_util::client::legacy::connect::Connection
        + hyper::rt::Read
        + hyper::rt::Write
        + Unpin
        + Send
        + 'static,
    C::Future: Send + Unpin + 'static,
    C::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
}

/// How many idle connections to one engine are kept for reuse. The calls in
/// flight are bounded by the fleet's call pool, but hyper's client opens a
/// connection for a call that finds none idle and, when another one frees
/// up first, still keeps the new one: without a bound, bursts of calls would
/// pile up idle sockets (a `start` of 1,000 simulated containers on 5 ships
/// held 1,477 open files). Past this many, a connection is closed when its
/// call ends.
const IDLE_CONNECTIONS: usize = 32;

/// The read buffer of each connection to an engine, fixed. hyper's own
/// starts at 8 KiB, grows when a read fills it and keeps it grown for the
/// life of the connection: after a container's description with its
/// variables (tens of kilobytes) every connection of a play over a thousand
/// ships held 16 to 32 KiB. Answers are read through it in pieces of this
/// size; an answer's head must fit (an engine's is a few hundred bytes).
const READ_BUFFER: usize = 4 * 1024;

/// Whether `error` is hyper's refusal of an answer whose head does not fit
/// in [`READ_BUFFER`].
fn head_too_large(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut current = Some(error);
    while let Some(e) = current {
        if e.downcast_ref::<hyper::Error>()
            .is_some_and(hyper::Error::is_parse_too_large)
        {
            return true;
        }
        current = e.source();
    }
    false
}

thread_local! {
    /// The record of oversized answers and the transport of the client
    /// [`pooled`] built last on this thread, for [`Engine::connect`] to
    /// keep: `pooled` is also reached through the TLS set-up, which returns
    /// only the client. `connect` builds the client and takes this with no
    /// `await` between, so on the same thread.
    static LAST_BUILT: std::cell::RefCell<Option<(capped::Oversized, raw::Raw)>> =
        const { std::cell::RefCell::new(None) };
}

/// A pooled HTTP client over any connector (TCP, SSH channels), for bollard.
fn pooled(
    ship: &Ship,
    connector: impl Connects,
    address: &str,
    base: &str,
    version: &ClientVersion,
) -> Result<Docker, EngineError> {
    let oversized = capped::Oversized::default();
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .pool_max_idle_per_host(IDLE_CONNECTIONS)
        .http1_read_buf_exact_size(READ_BUFFER)
        .build(capped::Capped(connector, oversized.clone()));
    let send: raw::Send = Arc::new(move |request: BollardRequest| {
        let client = client.clone();
        Box::pin(async move {
            client
                .request(request)
                .await
                .map_err(bollard::errors::Error::from)
        })
    });
    let built = raw::Raw {
        send: send.clone(),
        base: base.trim_end_matches('/').to_owned(),
    };
    LAST_BUILT.with(|last| *last.borrow_mut() = Some((oversized, built)));
    let transport = move |request: BollardRequest| send(request);
    Docker::connect_with_custom_transport(
        transport,
        Some(base.to_owned()),
        BOLLARD_TIMEOUT_SECS,
        version,
    )
    .map_err(|e| EngineError::Unreachable {
        ship: ship.name.clone(),
        address: address.to_owned(),
        reason: error::root_cause(&e),
    })
}

/// Connections to an engine's unix socket, for the pooled client (bollard's
/// own unix client cannot be given the answer cap of [`capped`]).
#[derive(Clone)]
struct UnixConnector(Arc<str>);

impl tower_service::Service<hyper::Uri> for UnixConnector {
    type Response = hyper_util::rt::TokioIo<tokio::net::UnixStream>;
    type Error = std::io::Error;
    type Future = std::pin::Pin<
        Box<dyn Future<Output = Result<Self::Response, std::io::Error>> + Send + 'static>,
    >;

    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: hyper::Uri) -> Self::Future {
        let path = self.0.clone();
        Box::pin(async move {
            tokio::net::UnixStream::connect(&*path)
                .await
                .map(hyper_util::rt::TokioIo::new)
        })
    }
}

/// The ship's `timeout` as a duration (at least a millisecond).
pub fn ship_timeout(ship: &Ship) -> Duration {
    let secs = if ship.timeout.is_finite() && ship.timeout > 0.0 {
        ship.timeout.min(86_400.0)
    } else {
        5.0
    };
    Duration::from_secs_f64(secs.max(0.001))
}

/// `1.41` → `(1, 41)`.
fn parse_version(text: &str) -> Option<(u32, u32)> {
    let (major, minor) = text.trim().split_once('.')?;
    Some((major.parse().ok()?, minor.parse().ok()?))
}

/// Replaces any `/vX.Y` prefix of the request path with `prefix`.
fn with_version_prefix(mut request: BollardRequest, prefix: &str) -> BollardRequest {
    let uri = request.uri().clone();
    let path_and_query = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let rest = strip_version(path_and_query).to_owned();
    let mut parts = uri.clone().into_parts();
    if let Ok(new) = format!("{prefix}{rest}").parse() {
        parts.path_and_query = Some(new);
        if let Ok(uri) = hyper::Uri::from_parts(parts) {
            *request.uri_mut() = uri;
        }
    }
    request
}

/// `/v1.41/containers/json` → `/containers/json`; other paths unchanged.
pub(crate) fn strip_version(path: &str) -> &str {
    if let Some(rest) = path.strip_prefix("/v") {
        let end = rest.find('/').unwrap_or(rest.len());
        if parse_version(&rest[..end]).is_some() {
            return &rest[end..];
        }
    }
    path
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_prefixes_are_replaced() {
        assert_eq!(
            strip_version("/v1.41/containers/json?all=1"),
            "/containers/json?all=1"
        );
        assert_eq!(strip_version("/containers/json"), "/containers/json");
        assert_eq!(strip_version("/version"), "/version");
        assert_eq!(strip_version("/v1.44/version"), "/version");
        assert_eq!(strip_version("/volumes"), "/volumes");
    }

    #[test]
    fn versions_parse_and_order() {
        assert_eq!(parse_version("1.41"), Some((1, 41)));
        assert!(parse_version("1.9").unwrap() < parse_version("1.41").unwrap());
        assert_eq!(parse_version("x"), None);
    }
}
