//! SSH to a ship, in process (russh), the way `ssh` itself would go: the
//! user's `~/.ssh/config` ([`config`]), host keys checked against the
//! known_hosts files ([`known_hosts`]), keys from ssh-agent, the config's
//! `IdentityFile`s and the default identities, bastions through
//! `ProxyJump`. One SSH connection per ship carries all of its engine
//! calls, each HTTP connection a channel of its own: to the engine's unix
//! socket on the far side (`ssh://` endpoints) or to its TCP port there
//! (`ssh_tunnel`). Nothing listens on this machine.

mod auth;
mod config;
mod known_hosts;

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use hyper_util::client::legacy::connect::{Connected, Connection};
use hyper_util::rt::TokioIo;
use maestro_config::Ship;
use russh::client::{self, Handle, Msg};
use russh::keys::ssh_key::{HashAlg, PublicKey};
use russh::keys::PublicKeyOrCertificate;
use russh::ChannelStream;

use crate::error::{root_cause, seconds_text, EngineError};
use config::{Hop, Strict, UserConfig, Wanted};
use known_hosts::{HostsFile, Verdict};

/// Where the ship's channels go on the far side.
#[derive(Debug, Clone)]
pub(crate) enum FarEnd {
    /// The engine's unix socket.
    Socket(String),
    /// `127.0.0.1:port` as seen from the ship (MaestroNG's `ssh_tunnel`).
    Port(u16),
}

/// An open SSH connection to a ship (through its bastions).
pub(crate) struct Session {
    handle: Handle<Checker>,
    far: FarEnd,
    /// The bastions' sessions, kept open while this one lives.
    _hops: Vec<Handle<Checker>>,
}

impl Session {
    /// A new channel to the far end.
    async fn channel(&self) -> Result<ChannelStream<Msg>, russh::Error> {
        let channel = match &self.far {
            FarEnd::Socket(path) => {
                self.handle
                    .channel_open_direct_streamlocal(path.clone())
                    .await?
            }
            FarEnd::Port(port) => {
                self.handle
                    .channel_open_direct_tcpip("127.0.0.1", u32::from(*port), "127.0.0.1", 0)
                    .await?
            }
        };
        Ok(channel.into_stream())
    }
}

/// What a ship asks of SSH, from its `ssh://` endpoint or its `ssh_tunnel`.
pub(crate) fn wanted(ship: &Ship) -> Option<(Wanted, FarEnd)> {
    if let Some(e) = &ship.ssh {
        let socket = ship
            .socket_path
            .clone()
            .unwrap_or_else(|| maestro_config::DEFAULT_REMOTE_SOCKET.to_owned());
        let wanted = Wanted {
            alias: e.host.clone(),
            user: e.user.clone(),
            port: e.port,
            identity_file: None,
            accept_new: ship.ssh_accept_new_host_keys,
        };
        return Some((wanted, FarEnd::Socket(socket)));
    }
    let tunnel = ship.ssh_tunnel.as_ref()?;
    let wanted = Wanted {
        alias: ship.endpoint.clone(),
        user: Some(tunnel.user.clone()),
        port: Some(tunnel.port),
        identity_file: Some(PathBuf::from(&tunnel.key)),
        accept_new: ship.ssh_accept_new_host_keys,
    };
    Some((wanted, FarEnd::Port(ship.docker_port)))
}

/// How the ship is reached, for messages.
pub(crate) fn address(ship: &Ship, wanted: &Wanted, far: &FarEnd) -> String {
    let user = wanted
        .user
        .as_deref()
        .map(|u| format!("{u}@"))
        .unwrap_or_default();
    let port = wanted.port.map(|p| format!(":{p}")).unwrap_or_default();
    match far {
        FarEnd::Socket(path) => format!("ssh://{user}{}{port} (socket {path})", wanted.alias),
        FarEnd::Port(p) => format!(
            "ssh://{user}{}{port} (to port {p} on the ship)",
            ship.endpoint
        ),
    }
}

/// Opens the SSH connection of `ship`, bounded by its SSH timeout.
pub(crate) async fn open(
    ship: &Ship,
    wanted: &Wanted,
    far: FarEnd,
    address: &str,
) -> Result<Arc<Session>, EngineError> {
    let failed = |reason: String| EngineError::Ssh {
        ship: ship.name.clone(),
        address: address.to_owned(),
        reason,
    };
    let user_config = UserConfig::load().map_err(|why| EngineError::Config {
        ship: ship.name.clone(),
        message: format!("cannot use the SSH config: {why}"),
    })?;
    let hops = user_config
        .route(wanted)
        .map_err(|why| EngineError::Config {
            ship: ship.name.clone(),
            message: why.to_string(),
        })?;
    let limit = ship
        .ssh_timeout
        .map(Duration::from_secs_f64)
        .or_else(|| hops.last().and_then(|h| h.connect_timeout))
        .unwrap_or_else(|| crate::ship_timeout(ship));
    let home = user_config.home().map(PathBuf::from);
    let connect = connect_hops(hops, home);
    let (handle, rest) = match tokio::time::timeout(limit, connect).await {
        Ok(result) => result.map_err(|e| e.into_engine_error(ship, address))?,
        Err(_) => {
            return Err(failed(format!(
                "no SSH connection within {}; check the host, or raise the ship's `ssh_timeout` (or ConnectTimeout in ~/.ssh/config)",
                seconds_text(limit.as_secs_f64())
            )))
        }
    };
    Ok(Arc::new(Session {
        handle,
        far,
        _hops: rest,
    }))
}

/// Why a connection could not be made.
#[derive(Debug)]
pub(crate) enum Failure {
    /// The host's key was refused (the message says why and what to do).
    HostKey(String),
    /// Anything else on the way: TCP, the SSH protocol, no key accepted.
    Other(String),
}

impl Failure {
    fn into_engine_error(self, ship: &Ship, address: &str) -> EngineError {
        match self {
            Failure::HostKey(text) => EngineError::HostKey {
                ship: ship.name.clone(),
                message: text,
            },
            Failure::Other(reason) => EngineError::Ssh {
                ship: ship.name.clone(),
                address: address.to_owned(),
                reason,
            },
        }
    }
}

/// Connects hop after hop, each through the one before; returns the last
/// session and the bastions'.
async fn connect_hops(
    hops: Vec<Hop>,
    home: Option<PathBuf>,
) -> Result<(Handle<Checker>, Vec<Handle<Checker>>), Failure> {
    let mut done: Vec<Handle<Checker>> = Vec::new();
    let count = hops.len();
    for (i, hop) in hops.into_iter().enumerate() {
        // How messages name this hop: the ship itself goes unsaid.
        let role = if i + 1 == count {
            String::new()
        } else {
            format!("through the bastion {}: ", hop.alias)
        };
        let handle = match done.last() {
            None => {
                let tcp = tokio::net::TcpStream::connect((hop.host.as_str(), hop.port))
                    .await
                    .map_err(|e| {
                        Failure::Other(format!(
                            "cannot connect to {}:{}: {}",
                            hop.host,
                            hop.port,
                            root_cause(&e)
                        ))
                    })?;
                let _ = tcp.set_nodelay(true);
                handshake(&hop, &role, home.as_deref(), tcp).await?
            }
            Some(before) => {
                let channel = before
                    .channel_open_direct_tcpip(
                        hop.host.clone(),
                        u32::from(hop.port),
                        "127.0.0.1",
                        0,
                    )
                    .await
                    .map_err(|e| {
                        Failure::Other(format!(
                            "the bastion could not reach {}:{}: {}",
                            hop.host,
                            hop.port,
                            root_cause(&e)
                        ))
                    })?;
                handshake(&hop, &role, home.as_deref(), channel.into_stream()).await?
            }
        };
        done.push(handle);
    }
    let last = done
        .pop()
        .ok_or_else(|| Failure::Other("no SSH hop".into()))?;
    Ok((last, done))
}

/// SSH over `stream` to `hop`: key exchange, host key check, authentication.
async fn handshake<S>(
    hop: &Hop,
    role: &str,
    home: Option<&std::path::Path>,
    stream: S,
) -> Result<Handle<Checker>, Failure>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let files = read_known_hosts(&hop.known_hosts);
    let name = known_hosts::lookup_name(&hop.key_name, hop.port);
    let preferred = preferred_host_keys(&files, &name);
    let config = Arc::new(client::Config {
        inactivity_timeout: None,
        keepalive_interval: Some(Duration::from_secs(15)),
        keepalive_max: 3,
        nodelay: true,
        preferred,
        ..Default::default()
    });
    let verdict = Arc::new(Mutex::new(None));
    let checker = Checker {
        files,
        name,
        host: hop.key_name.clone(),
        record_in: hop.known_hosts.first().cloned(),
        strict: hop.strict,
        refusal: verdict.clone(),
        role: role.to_owned(),
        home: home.map(PathBuf::from),
        port: hop.port,
    };
    let mut handle = match client::connect_stream(config, stream, checker).await {
        Ok(handle) => handle,
        Err(e) => {
            let refusal = verdict.lock().ok().and_then(|mut v| v.take());
            return Err(match refusal {
                Some(text) => Failure::HostKey(text),
                None => Failure::Other(format!(
                    "SSH with {}:{} failed: {}",
                    hop.host,
                    hop.port,
                    root_cause(&e)
                )),
            });
        }
    };
    auth::authenticate(&mut handle, hop).await?;
    Ok(handle)
}

/// The algorithms to negotiate, with the host key types already known for
/// `name` offered first (as OpenSSH does), and host certificates accepted
/// when a `@cert-authority` line could vouch for the host.
fn preferred_host_keys(files: &[HostsFile], name: &str) -> russh::Preferred {
    use russh::keys::Algorithm;
    let mut preferred = russh::Preferred::DEFAULT.clone();
    let known = known_hosts::known_algorithms(files, name);
    if !known.is_empty() {
        let mut order: Vec<_> = known
            .iter()
            .flat_map(|a| match a {
                Algorithm::Rsa { .. } => vec![
                    Algorithm::Rsa {
                        hash: Some(HashAlg::Sha512),
                    },
                    Algorithm::Rsa {
                        hash: Some(HashAlg::Sha256),
                    },
                    Algorithm::Rsa { hash: None },
                ],
                other => vec![other.clone()],
            })
            .collect();
        for a in preferred.key.iter() {
            if !order.contains(a) {
                order.push(a.clone());
            }
        }
        preferred.key = order.into();
    }
    if known_hosts::has_authority(files, name) {
        preferred.host_key_certificates = preferred.key.clone();
    }
    preferred
}

fn read_known_hosts(paths: &[PathBuf]) -> Vec<HostsFile> {
    use std::io::Read;
    paths
        .iter()
        .filter_map(|path| {
            let file = std::fs::File::open(path).ok()?;
            let mut text = String::new();
            // known_hosts files are small; a bound keeps a FIFO or a huge
            // file from stalling the connection.
            file.take(16 * 1024 * 1024).read_to_string(&mut text).ok()?;
            Some(HostsFile {
                path: path.clone(),
                text,
            })
        })
        .collect()
}

/// Checks the host key a server presents; records the reason of a refusal.
pub(crate) struct Checker {
    files: Vec<HostsFile>,
    name: String,
    host: String,
    port: u16,
    record_in: Option<PathBuf>,
    strict: Strict,
    refusal: Arc<Mutex<Option<String>>>,
    role: String,
    home: Option<PathBuf>,
}

impl Checker {
    fn refuse(&self, text: String) -> Result<bool, russh::Error> {
        if let Ok(mut slot) = self.refusal.lock() {
            *slot = Some(text);
        }
        Ok(false)
    }

    fn judge(&self, key: &PublicKeyOrCertificate) -> (Verdict, PublicKey) {
        match key {
            PublicKeyOrCertificate::PublicKey { key, .. } => (
                known_hosts::check_key(&self.files, &self.name, key),
                key.clone(),
            ),
            PublicKeyOrCertificate::Certificate(cert) => {
                let now = std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_secs())
                    .unwrap_or(0);
                let verdict =
                    known_hosts::check_certificate(&self.files, &self.name, &self.host, cert, now);
                (verdict, PublicKey::new(cert.public_key().clone(), ""))
            }
        }
    }

    fn record(&self, key: &PublicKey) -> Result<(), RecordError> {
        use std::io::Write;
        let Some(path) = &self.record_in else {
            return Err(RecordError::NoFile);
        };
        let line = known_hosts::line_for(&self.name, key).ok_or(RecordError::Unwritable)?;
        let io = |at: &std::path::Path, error| RecordError::Io {
            path: at.to_owned(),
            error,
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
        }
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .map_err(|e| io(path, e))?;
        file.write_all(line.as_bytes()).map_err(|e| io(path, e))
    }
}

/// Why a new host key could not be recorded in the known_hosts file.
#[derive(Debug)]
enum RecordError {
    /// No known_hosts file is configured.
    NoFile,
    /// The key has no known_hosts line form.
    Unwritable,
    /// The file (or its folder) could not be created or written.
    Io {
        path: PathBuf,
        error: std::io::Error,
    },
}

impl std::fmt::Display for RecordError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RecordError::NoFile => f.write_str("no known_hosts file to record it in"),
            RecordError::Unwritable => f.write_str("the key cannot be written out"),
            RecordError::Io { path, error } => write!(f, "{}: {error}", path.display()),
        }
    }
}

impl client::Handler for Checker {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        presented: &PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        let (verdict, key) = self.judge(presented);
        let kind = key_type(&key);
        let fingerprint = key.fingerprint(HashAlg::Sha256);
        let shown_name = &self.name;
        let files = || {
            self.record_in
                .as_deref()
                .map(|p| known_hosts::shown(p, self.home.as_deref()))
                .unwrap_or_else(|| "~/.ssh/known_hosts".into())
        };
        let keyscan = if self.port == 22 {
            format!("ssh-keyscan -t {} {}", kind.to_ascii_lowercase(), self.host)
        } else {
            format!(
                "ssh-keyscan -p {} -t {} {}",
                self.port,
                kind.to_ascii_lowercase(),
                self.host
            )
        };
        match verdict {
            Verdict::Known => Ok(true),
            Verdict::Unknown { .. } if self.strict == Strict::AcceptNew => match self.record(&key) {
                Ok(()) => Ok(true),
                Err(why) => self.refuse(format!(
                    "the SSH host key of {shown_name} ({kind} {fingerprint}) is new and would be trusted, but cannot be recorded: {why}"
                )),
            },
            Verdict::Unknown { other_types } => {
                let also = if other_types.is_empty() {
                    String::new()
                } else {
                    format!(" (only a {} key is known for it)", other_types.join(", "))
                };
                self.refuse(format!(
                    "{}the SSH host key of {shown_name} is not known{also}: it presented the {kind} key {fingerprint}; if that is the host's key, trust it with `{keyscan} >> {}` (or set `ssh_accept_new_host_keys: true` on the ship, or `StrictHostKeyChecking accept-new` in ~/.ssh/config)",
                    self.role,
                    files()
                ))
            }
            Verdict::Changed { place } => self.refuse(format!(
                "{}the SSH host key of {shown_name} has CHANGED, someone may be intercepting the connection (a man-in-the-middle attack): it presented the {kind} key {fingerprint}, but {} records another; if the host was really re-installed, remove the old key with `ssh-keygen -R '{shown_name}'` and trust the new one",
                self.role,
                known_hosts::shown(&place.path, self.home.as_deref()).to_owned() + &format!(":{}", place.line)
            )),
            Verdict::Revoked { place } => self.refuse(format!(
                "{}the SSH host key of {shown_name} ({kind} {fingerprint}) is marked @revoked in {}:{}; the connection is refused",
                self.role,
                known_hosts::shown(&place.path, self.home.as_deref()),
                place.line
            )),
            Verdict::BadCertificate { reason } => self.refuse(format!(
                "{}the SSH host {shown_name} ({kind} {fingerprint}) is refused: {reason}",
                self.role
            )),
        }
    }
}

/// `ED25519`, `RSA`, `ECDSA`: as `ssh-keygen -l` names key types.
fn key_type(key: &PublicKey) -> String {
    use russh::keys::Algorithm as A;
    match key.algorithm() {
        A::Ed25519 => "ED25519".into(),
        A::Rsa { .. } => "RSA".into(),
        A::Ecdsa { .. } => "ECDSA".into(),
        other => other.as_str().to_ascii_uppercase(),
    }
}

/// Opens a channel per HTTP connection, for hyper's pooled client.
#[derive(Clone)]
pub(crate) struct Connector {
    pub session: Arc<Session>,
}

/// One channel, as an HTTP connection.
pub(crate) struct ChannelConnection(TokioIo<ChannelStream<Msg>>);

impl Connection for ChannelConnection {
    fn connected(&self) -> Connected {
        Connected::new()
    }
}

impl hyper::rt::Read for ChannelConnection {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: hyper::rt::ReadBufCursor<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl hyper::rt::Write for ChannelConnection {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

impl tower_service::Service<hyper::Uri> for Connector {
    type Response = ChannelConnection;
    type Error = std::io::Error;
    type Future = Pin<Box<dyn Future<Output = Result<ChannelConnection, std::io::Error>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _uri: hyper::Uri) -> Self::Future {
        let session = self.session.clone();
        Box::pin(async move {
            let stream = session.channel().await.map_err(|e| {
                let why = match &session.far {
                    FarEnd::Socket(path) => format!(
                        "the SSH server could not connect to the socket {path} on the ship ({}): the engine does not listen there (set the ship's `socket_path`), the user may not use it, or the server forbids it (`AllowStreamLocalForwarding` in its sshd_config)",
                        root_cause(&e)
                    ),
                    FarEnd::Port(port) => format!(
                        "the SSH server could not connect to 127.0.0.1:{port} on the ship ({}): the engine does not listen there (set `docker_port`), or the server forbids it (`AllowTcpForwarding` in its sshd_config)",
                        root_cause(&e)
                    ),
                };
                std::io::Error::new(std::io::ErrorKind::ConnectionRefused, why)
            })?;
            Ok(ChannelConnection(TokioIo::new(stream)))
        })
    }
}
