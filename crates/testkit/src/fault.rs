//! A fault proxy: an HTTP/1.1 server on TCP in front of a real Docker engine (its
//! unix socket or a TCP address) that forwards every request untouched, except the
//! ones a test has cued a fault for. A cue ([`Rule`]) names a method and a path
//! pattern, lets the first `after` matching requests through, then applies its
//! [`Fault`] (at most `times` times):
//!
//! * [`Fault::Refuse`]: close the connection without an answer;
//! * [`Fault::Delay`]: wait, then forward (the engine acts late), unless the
//!   client has closed the connection meanwhile: hyper then drops the request and
//!   nothing reaches the engine (a client that times out leaves no late action);
//! * [`Fault::Late`]: wait, then forward even if the client has hung up (the
//!   engine acts after the client gave up on it);
//! * [`Fault::ServerError`]: answer 500 with a Docker-style `{"message": …}` body,
//!   without forwarding ([`Fault::Status`]: any other status);
//! * [`Fault::Malformed`]: forward, then answer with the engine's status and a
//!   truncated copy of its body (invalid JSON; the engine did act);
//! * [`Fault::CutStream`]: forward, pass the first bytes of the body on, then cut
//!   the connection midway;
//! * [`Fault::Stall`]: forward, pass the first bytes of the body on, then send
//!   nothing more while keeping the connection open (a link gone silent);
//! * [`Fault::Rewrite`]: forward, then answer with the engine's status and a body
//!   of the test's choosing, well-formed JSON of the wrong shape (`{"Id": 5}`,
//!   `[]`, `{}`: the engine did act, its answer is not what Docker sends);
//! * [`Fault::Reply`]: answer with any status and raw body, without forwarding.
//!
//! [`FaultProxy::start_raw`] (or [`spawn_raw_fault_proxy`]) is the same proxy at
//! the TCP level, for engines reached over TLS or through an SSH tunnel, whose
//! bytes it cannot read: each accepted connection counts as one request
//! `CONNECT /tcp`, and [`Fault::Refuse`], [`Fault::Delay`] (and `Late`),
//! [`Fault::CutStream`] and [`Fault::Stall`] apply to it (counting the bytes from
//! the engine to the client); any other fault closes it like `Refuse`.
//!
//! Cues live in a shared [`Cues`] handle the test keeps and changes at run time;
//! every request the proxy sees is logged there with the fault it got, if any.
//! [`FaultProxy`] runs the proxy on a thread of its own (for tests that are not
//! async); [`spawn_fault_proxy`] inside the caller's tokio runtime.
//!
//! Paths are matched without their query and without Docker's `/vX.Y` version
//! prefix. In a pattern `*` stands for any run of characters other than `/`, and
//! `**` for any run of characters at all: `/containers/*/start`, `/images/create`,
//! `/**`.

use std::error::Error as StdError;
use std::fmt;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::thread;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::{Body as HttpBody, Frame, Incoming};
use hyper::header::{HeaderValue, CONTENT_LENGTH, CONTENT_TYPE, HOST, TRANSFER_ENCODING};
use hyper::service::service_fn;
use hyper::upgrade::OnUpgrade;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream, UnixStream};
use tokio::sync::{oneshot, watch};

/// Any error a response body of the proxy may end with.
pub type BoxError = Box<dyn StdError + Send + Sync>;

/// The body type of every response the proxy sends.
type Body = BoxBody<Bytes, BoxError>;

/// Resolves when the proxy is shut down.
type Stop = watch::Receiver<()>;

/// Where the real engine is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backend {
    /// A unix socket, e.g. `/var/run/docker.sock`.
    Unix(PathBuf),
    /// A plain TCP address.
    Tcp(SocketAddr),
}

/// What a cued request gets instead of a plain forward.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// The connection is closed without an answer.
    Refuse,
    /// The request is held this long, then forwarded (not if the client hung up).
    Delay(Duration),
    /// The request is forwarded after this long even if the client has hung up
    /// meanwhile: the engine acts late, after the client gave up on it.
    Late(Duration),
    /// `500 Internal Server Error` with `{"message": MESSAGE}`; not forwarded.
    ServerError(String),
    /// Any status with `{"message": MESSAGE}` (404, 409, 503, …); not forwarded.
    Status(u16, String),
    /// Forwarded; the answer keeps the engine's status but its body is cut to half
    /// its length (at least one byte short), so it is not valid JSON.
    Malformed,
    /// Forwarded; the first `after_bytes` bytes of the body are passed on, then the
    /// connection is cut (no end of the chunked body, or a short fixed-size one).
    CutStream {
        /// How many body bytes get through before the cut.
        after_bytes: usize,
    },
    /// Forwarded; the first `after_bytes` bytes of the body are passed on, then
    /// nothing more: the connection stays open and silent (a day; the proxy's
    /// stop ends it sooner).
    Stall {
        /// How many body bytes get through before the silence.
        after_bytes: usize,
    },
    /// Forwarded; the answer keeps the engine's status (and headers but for the
    /// length) with this body instead of the engine's: typically valid JSON of
    /// the wrong shape.
    Rewrite(String),
    /// This status and this raw body (`application/json`); not forwarded.
    Reply(u16, String),
}

impl Fault {
    /// A short name for logs.
    pub fn name(&self) -> &'static str {
        match self {
            Fault::Refuse => "refuse",
            Fault::Delay(_) => "delay",
            Fault::Late(_) => "late",
            Fault::ServerError(_) => "500",
            Fault::Status(..) => "status",
            Fault::Malformed => "malformed",
            Fault::CutStream { .. } => "cut",
            Fault::Stall { .. } => "stall",
            Fault::Rewrite(_) => "rewrite",
            Fault::Reply(..) => "reply",
        }
    }
}

/// One cue: which requests, from which one on, how often, what fault.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    method: Option<String>,
    pattern: String,
    after: usize,
    times: Option<usize>,
    sticky: bool,
    fault: Fault,
}

impl Rule {
    /// A rule that gives `fault` to every request (any method, any path).
    pub fn new(fault: Fault) -> Rule {
        Rule {
            method: None,
            pattern: "/**".into(),
            after: 0,
            times: None,
            sticky: false,
            fault,
        }
    }

    /// Only requests with this method (case-insensitive).
    pub fn method(mut self, method: &str) -> Rule {
        self.method = Some(method.to_ascii_uppercase());
        self
    }

    /// Only requests whose path matches `pattern` (see the module documentation).
    pub fn path(mut self, pattern: &str) -> Rule {
        self.pattern = pattern.to_owned();
        self
    }

    /// Let the first `n` matching requests through untouched.
    pub fn after(mut self, n: usize) -> Rule {
        self.after = n;
        self
    }

    /// Give the fault at most `n` times, then let requests through again.
    pub fn times(mut self, n: usize) -> Rule {
        self.times = Some(n);
        self
    }

    /// Once the rule has fired, it fires on every later request, matching or not
    /// (and whatever `times` says): the engine is gone from that request on.
    pub fn sticky(mut self) -> Rule {
        self.sticky = true;
        self
    }

    /// The fault this rule gives.
    pub fn fault(&self) -> &Fault {
        &self.fault
    }

    /// Whether a request with `method` and `target` (path and query, with or without
    /// a version prefix) is one this rule is about (whatever its counters say).
    pub fn matches(&self, method: &str, target: &str) -> bool {
        if let Some(wanted) = &self.method {
            if !wanted.eq_ignore_ascii_case(method) {
                return false;
            }
        }
        glob(self.pattern.as_bytes(), unversioned(target).as_bytes())
    }
}

/// `target` without its query and without a leading `/vX.Y` version segment.
pub fn unversioned(target: &str) -> &str {
    let path = target.split_once('?').map_or(target, |(path, _)| path);
    let Some(rest) = path.strip_prefix("/v") else {
        return path;
    };
    let (segment, tail) = match rest.find('/') {
        Some(at) => (&rest[..at], &rest[at..]),
        None => (rest, ""),
    };
    let is_version = segment
        .split_once('.')
        .is_some_and(|(major, minor)| is_number(major) && is_number(minor));
    if is_version {
        if tail.is_empty() {
            "/"
        } else {
            tail
        }
    } else {
        path
    }
}

fn is_number(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit())
}

/// `*` matches any run of bytes other than `/`, `**` any run of bytes at all.
fn glob(pattern: &[u8], text: &[u8]) -> bool {
    match pattern {
        [] => text.is_empty(),
        [b'*', b'*', rest @ ..] => (0..=text.len()).any(|skip| glob(rest, &text[skip..])),
        [b'*', rest @ ..] => {
            let segment = text.iter().position(|&b| b == b'/').unwrap_or(text.len());
            (0..=segment).any(|skip| glob(rest, &text[skip..]))
        }
        [first, rest @ ..] => text.first() == Some(first) && glob(rest, &text[1..]),
    }
}

/// One request the proxy saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    /// The request method.
    pub method: String,
    /// The path and query as sent.
    pub target: String,
    /// The fault it got ([`Fault::name`]), if any.
    pub fault: Option<&'static str>,
}

#[derive(Debug)]
struct Armed {
    rule: Rule,
    matched: usize,
    fired: usize,
}

#[derive(Debug, Default)]
struct State {
    rules: Vec<Armed>,
    log: Vec<Seen>,
}

/// The cues of a proxy, shared between it and the test (clone freely).
#[derive(Debug, Clone, Default)]
pub struct Cues {
    state: Arc<Mutex<State>>,
}

impl Cues {
    /// No cues: everything is forwarded.
    pub fn new() -> Cues {
        Cues::default()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A test that panicked while holding the lock leaves consistent data.
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Adds a cue (after the ones already there; the first armed one wins).
    pub fn add(&self, rule: Rule) -> &Cues {
        self.lock().rules.push(Armed {
            rule,
            matched: 0,
            fired: 0,
        });
        self
    }

    /// Replaces every cue with `rule`.
    pub fn set(&self, rule: Rule) -> &Cues {
        self.clear();
        self.add(rule)
    }

    /// Removes every cue: from now on everything is forwarded.
    pub fn clear(&self) {
        self.lock().rules.clear();
    }

    /// Every request seen so far, oldest first.
    pub fn log(&self) -> Vec<Seen> {
        self.lock().log.clone()
    }

    /// How many requests got a fault so far.
    pub fn fired(&self) -> usize {
        self.lock().log.iter().filter(|s| s.fault.is_some()).count()
    }

    /// Decides (and logs) what the request `method target` gets: every rule that
    /// matches counts it; the first one past its `after` and under its `times` (or
    /// sticky and fired already) gives its fault.
    pub fn decide(&self, method: &str, target: &str) -> Option<Fault> {
        let mut state = self.lock();
        let mut chosen = None;
        for armed in state.rules.iter_mut() {
            if armed.rule.sticky && armed.fired > 0 {
                if chosen.is_none() {
                    armed.fired += 1;
                    chosen = Some(armed.rule.fault.clone());
                }
                continue;
            }
            if !armed.rule.matches(method, target) {
                continue;
            }
            armed.matched += 1;
            let due = armed.matched > armed.rule.after
                && armed.rule.times.is_none_or(|times| armed.fired < times);
            if chosen.is_none() && due {
                armed.fired += 1;
                chosen = Some(armed.rule.fault.clone());
            }
        }
        state.log.push(Seen {
            method: method.to_owned(),
            target: target.to_owned(),
            fault: chosen.as_ref().map(Fault::name),
        });
        chosen
    }
}

/// What every task of one proxy shares.
struct Shared {
    backend: Backend,
    cues: Cues,
}

/// A running proxy inside the caller's tokio runtime; dropping it stops it.
#[derive(Debug)]
pub struct FaultHandle {
    addr: SocketAddr,
    _stop: watch::Sender<()>,
}

impl FaultHandle {
    /// The address the proxy listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
}

/// Starts a proxy on `listen` in front of `backend`, obeying `cues`. Must be called
/// inside a tokio runtime.
pub async fn spawn_fault_proxy(
    listen: SocketAddr,
    backend: Backend,
    cues: Cues,
) -> io::Result<FaultHandle> {
    let listener = TcpListener::bind(listen).await?;
    let addr = listener.local_addr()?;
    let (stop_tx, stop_rx) = watch::channel(());
    let shared = Arc::new(Shared { backend, cues });
    tokio::spawn(crate::accept_until_stopped(
        listener,
        stop_rx,
        move |tcp, stop| serve_connection(tcp, shared.clone(), stop),
    ));
    Ok(FaultHandle {
        addr,
        _stop: stop_tx,
    })
}

/// Starts a TCP-level proxy on `listen` in front of `backend`, obeying `cues`
/// (each connection is one request `CONNECT /tcp`; see the module
/// documentation). Must be called inside a tokio runtime.
pub async fn spawn_raw_fault_proxy(
    listen: SocketAddr,
    backend: Backend,
    cues: Cues,
) -> io::Result<FaultHandle> {
    let listener = TcpListener::bind(listen).await?;
    let addr = listener.local_addr()?;
    let (stop_tx, stop_rx) = watch::channel(());
    let shared = Arc::new(Shared { backend, cues });
    tokio::spawn(crate::accept_until_stopped(
        listener,
        stop_rx,
        move |tcp, stop| raw_connection(tcp, shared.clone(), stop),
    ));
    Ok(FaultHandle {
        addr,
        _stop: stop_tx,
    })
}

/// What happens to the bytes from the engine on a raw connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Limit {
    /// All of them pass.
    None,
    /// This many pass, then the connection is closed.
    Cut(usize),
    /// This many pass, then nothing more (either way), the connection kept open.
    Stall(usize),
}

/// One connection of the TCP-level proxy: the fault its cues give it, then the
/// bytes pumped both ways.
async fn raw_connection(client: TcpStream, shared: Arc<Shared>, mut stop: Stop) {
    let _ = client.set_nodelay(true);
    let limit = match shared.cues.decide("CONNECT", "/tcp") {
        None => Limit::None,
        Some(Fault::Delay(delay)) | Some(Fault::Late(delay)) => {
            tokio::select! {
                _ = tokio::time::sleep(delay) => Limit::None,
                _ = stop.changed() => return,
            }
        }
        Some(Fault::CutStream { after_bytes }) => Limit::Cut(after_bytes),
        Some(Fault::Stall { after_bytes }) => Limit::Stall(after_bytes),
        // Refuse, and the faults that need to read HTTP: closed unanswered.
        Some(_) => return,
    };
    let Ok(backend) = connect(&shared.backend).await else {
        return;
    };
    pump(client, backend, limit, stop).await;
}

/// Copies bytes both ways until either side ends, the `limit` is reached, or the
/// proxy stops.
async fn pump(client: TcpStream, backend: Box<dyn Stream>, limit: Limit, mut stop: Stop) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (mut client_read, mut client_write) = client.into_split();
    let (mut backend_read, mut backend_write) = tokio::io::split(backend);
    let mut left = match limit {
        Limit::None => None,
        Limit::Cut(n) | Limit::Stall(n) => Some(n),
    };
    let mut up = vec![0u8; 16 * 1024];
    let mut down = vec![0u8; 16 * 1024];
    let mut client_done = false;
    while left != Some(0) {
        tokio::select! {
            read = client_read.read(&mut up), if !client_done => match read {
                Ok(0) | Err(_) => {
                    client_done = true;
                    let _ = backend_write.shutdown().await;
                }
                Ok(n) => {
                    if backend_write.write_all(&up[..n]).await.is_err() {
                        return;
                    }
                }
            },
            read = backend_read.read(&mut down) => match read {
                Ok(0) | Err(_) => {
                    let _ = client_write.shutdown().await;
                    return;
                }
                Ok(n) => {
                    let n = left.map_or(n, |left| n.min(left));
                    if client_write.write_all(&down[..n]).await.is_err() {
                        return;
                    }
                    if let Some(left) = left.as_mut() {
                        *left -= n;
                    }
                }
            },
            _ = stop.changed() => return,
        }
    }
    drop(backend_read);
    drop(backend_write);
    if limit == Limit::None {
        return;
    }
    if let Limit::Cut(_) = limit {
        // Let the bytes passed on reach the client, then close.
        let _ = client_write.flush().await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        return;
    }
    // Stalled: read (and drop) what the client sends until it hangs up.
    loop {
        tokio::select! {
            read = client_read.read(&mut up) => match read {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            },
            _ = stop.changed() => return,
        }
    }
}

/// The error a service returns to make hyper drop the connection unanswered.
#[derive(Debug)]
struct Refused;

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("connection refused by a cue")
    }
}

impl StdError for Refused {}

async fn serve_connection(tcp: TcpStream, shared: Arc<Shared>, stop: Stop) {
    let _ = tcp.set_nodelay(true);
    let service_stop = stop.clone();
    let service = service_fn(move |req| {
        let shared = shared.clone();
        let stop = service_stop.clone();
        async move { handle(shared, stop, req).await }
    });
    let connection = hyper::server::conn::http1::Builder::new()
        .title_case_headers(true)
        .serve_connection(TokioIo::new(tcp), service)
        .with_upgrades();
    let mut stopped = stop;
    tokio::select! {
        _ = connection => {}
        _ = stopped.changed() => {}
    }
}

async fn handle(
    shared: Arc<Shared>,
    stop: Stop,
    req: Request<Incoming>,
) -> Result<Response<Body>, Refused> {
    let target = req
        .uri()
        .path_and_query()
        .map_or("/", |target| target.as_str())
        .to_owned();
    let fault = shared.cues.decide(req.method().as_str(), &target);
    let shared = &shared;
    let reply = match fault {
        None => forward(shared, stop, req, &target).await,
        Some(Fault::Late(delay)) => late(shared.clone(), stop, req, target.clone(), delay).await,
        Some(Fault::Status(status, message)) => Ok(json_reply(status, error_body(&message))),
        Some(Fault::Refuse) => return Err(Refused),
        Some(Fault::Delay(delay)) => {
            tokio::time::sleep(delay).await;
            forward(shared, stop, req, &target).await
        }
        Some(Fault::ServerError(message)) => Ok(json_reply(500, error_body(&message))),
        Some(Fault::Malformed) => match forward(shared, stop, req, &target).await {
            Ok(response) => malformed(response).await,
            Err(err) => Err(err),
        },
        Some(Fault::CutStream { after_bytes }) => {
            forward(shared, stop, req, &target).await.map(|response| {
                let (head, body) = response.into_parts();
                Response::from_parts(head, CutBody::new(body, after_bytes).boxed())
            })
        }
        Some(Fault::Stall { after_bytes }) => {
            forward(shared, stop, req, &target).await.map(|response| {
                let (head, body) = response.into_parts();
                Response::from_parts(head, CutBody::stall(body, after_bytes).boxed())
            })
        }
        Some(Fault::Rewrite(body)) => forward(shared, stop, req, &target)
            .await
            .map(|response| rewrite(response, body)),
        Some(Fault::Reply(status, body)) => Ok(json_reply(status, body)),
    };
    Ok(reply.unwrap_or_else(|err| {
        json_reply(
            502,
            error_body(&format!("fault proxy: backend failed: {err}")),
        )
    }))
}

/// Reads the request whole, then forwards it after `delay` on a task of its own,
/// which goes on if the client hangs up (and so this future is dropped).
async fn late(
    shared: Arc<Shared>,
    stop: Stop,
    req: Request<Incoming>,
    target: String,
    delay: Duration,
) -> Result<Response<Body>, BoxError> {
    let (head, body) = req.into_parts();
    let body = body.collect().await?.to_bytes();
    let req = Request::from_parts(head, Full::new(body));
    let (tx, rx) = oneshot::channel();
    tokio::spawn(async move {
        tokio::time::sleep(delay).await;
        let reply = forward(&shared, stop, req, &target).await;
        let _ = tx.send(reply);
    });
    rx.await
        .map_err(|_| -> BoxError { "the late request was dropped".into() })?
}

/// A Docker-style error body.
pub fn error_body(message: &str) -> String {
    let mut body = serde_json::json!({ "message": message }).to_string();
    body.push('\n');
    body
}

fn json_reply(status: u16, body: String) -> Response<Body> {
    let mut response = Response::new(full(Bytes::from(body)));
    *response.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

fn full(bytes: Bytes) -> Body {
    Full::new(bytes).map_err(|never| match never {}).boxed()
}

fn empty() -> Body {
    Empty::new().map_err(|never| match never {}).boxed()
}

/// The backend's answer with its body cut to half (at least one byte short).
async fn malformed(response: Response<Body>) -> Result<Response<Body>, BoxError> {
    let (mut head, body) = response.into_parts();
    let bytes = body.collect().await?.to_bytes();
    let cut = if bytes.len() < 2 {
        Bytes::from_static(b"{\"")
    } else {
        bytes.slice(..bytes.len() / 2)
    };
    head.headers.remove(CONTENT_LENGTH);
    head.headers.remove(TRANSFER_ENCODING);
    Ok(Response::from_parts(head, full(cut)))
}

/// The backend's answer with `body` instead of its own (the backend's body is
/// dropped unread: a stream is cut short).
fn rewrite(response: Response<Body>, body: String) -> Response<Body> {
    let (mut head, _theirs) = response.into_parts();
    head.headers.remove(CONTENT_LENGTH);
    head.headers.remove(TRANSFER_ENCODING);
    head.headers
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Response::from_parts(head, full(Bytes::from(body)))
}

/// A stream to the engine, whichever way it is reached.
trait Stream: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Stream for T {}

async fn connect(backend: &Backend) -> io::Result<Box<dyn Stream>> {
    Ok(match backend {
        Backend::Unix(path) => Box::new(UnixStream::connect(path).await?),
        Backend::Tcp(addr) => {
            let tcp = TcpStream::connect(addr).await?;
            let _ = tcp.set_nodelay(true);
            Box::new(tcp)
        }
    })
}

/// Forwards one request on a fresh backend connection; a `101` answer turns both
/// connections into a tunnel.
async fn forward<B>(
    shared: &Shared,
    stop: Stop,
    mut req: Request<B>,
    target: &str,
) -> Result<Response<Body>, BoxError>
where
    B: HttpBody<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    let client_upgrade = hyper::upgrade::on(&mut req);
    let (mut head, body) = req.into_parts();
    head.uri = hyper::Uri::try_from(target)?;
    head.version = hyper::Version::HTTP_11;
    if !head.headers.contains_key(HOST) {
        head.headers
            .insert(HOST, HeaderValue::from_static("docker"));
    }
    let backend = connect(&shared.backend).await?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(backend)).await?;
    let mut stopped = stop.clone();
    tokio::spawn(async move {
        tokio::select! {
            _ = connection.with_upgrades() => {}
            _ = stopped.changed() => {}
        }
    });
    let mut response = sender.send_request(Request::from_parts(head, body)).await?;
    if response.status() == StatusCode::SWITCHING_PROTOCOLS {
        let backend_upgrade = hyper::upgrade::on(&mut response);
        tokio::spawn(tunnel(client_upgrade, backend_upgrade, stop));
        let (head, _empty) = response.into_parts();
        return Ok(Response::from_parts(head, empty()));
    }
    let (head, body) = response.into_parts();
    Ok(Response::from_parts(
        head,
        body.map_err(|err| -> BoxError { Box::new(err) }).boxed(),
    ))
}

async fn tunnel(client: OnUpgrade, backend: OnUpgrade, mut stop: Stop) {
    let splice = async {
        let (client, backend) = tokio::try_join!(client, backend).map_err(io::Error::other)?;
        let mut client = TokioIo::new(client);
        let mut backend = TokioIo::new(backend);
        tokio::io::copy_bidirectional(&mut client, &mut backend).await
    };
    tokio::select! {
        _ = splice => {}
        _ = stop.changed() => {}
    }
}

/// Why a cut body ended.
#[derive(Debug)]
struct Cut;

impl fmt::Display for Cut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("stream cut by a cue")
    }
}

impl StdError for Cut {}

/// A body that passes `left` bytes on, waits a moment (so they are flushed to the
/// client), then fails, which makes hyper drop the connection; or, stalled, sends
/// nothing more (the proxy's stop ends the connection).
struct CutBody {
    inner: Body,
    left: usize,
    pause: Option<Pin<Box<tokio::time::Sleep>>>,
    /// How long the silence before the cut lasts.
    silence: Duration,
}

/// How long a stalled body stays silent: longer than any test.
const STALL: Duration = Duration::from_secs(24 * 3600);

impl CutBody {
    fn new(inner: Body, left: usize) -> CutBody {
        CutBody {
            inner,
            left,
            pause: None,
            silence: Duration::from_millis(100),
        }
    }

    fn stall(inner: Body, left: usize) -> CutBody {
        CutBody {
            silence: STALL,
            ..CutBody::new(inner, left)
        }
    }
}

impl HttpBody for CutBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        let silence = this.silence;
        if this.left == 0 {
            let pause = this
                .pause
                .get_or_insert_with(|| Box::pin(tokio::time::sleep(silence)));
            return match pause.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Some(Err(Box::new(Cut)))),
                Poll::Pending => Poll::Pending,
            };
        }
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(None) => {
                // The stream ended before the cut point: cut (or stall) it at
                // its end.
                this.left = 0;
                cx.waker().wake_by_ref();
                Poll::Pending
            }
            Poll::Ready(Some(Err(err))) => Poll::Ready(Some(Err(err))),
            Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                Ok(data) => {
                    let part = if data.len() >= this.left {
                        let part = data.slice(..this.left);
                        this.left = 0;
                        part
                    } else {
                        this.left -= data.len();
                        data
                    };
                    Poll::Ready(Some(Ok(Frame::data(part))))
                }
                Err(frame) => Poll::Ready(Some(Ok(frame))),
            },
        }
    }
}

/// A fault proxy on a thread and runtime of its own. Dropping it (or
/// [`FaultProxy::shutdown`]) stops the proxy and joins its thread.
#[derive(Debug)]
pub struct FaultProxy {
    addr: SocketAddr,
    cues: Cues,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<thread::JoinHandle<()>>,
}

impl FaultProxy {
    /// Starts a proxy on 127.0.0.1 (a free port) in front of `backend`, no cues.
    pub fn start(backend: Backend) -> io::Result<FaultProxy> {
        FaultProxy::start_on(SocketAddr::from(([127, 0, 0, 1], 0)), backend)
    }

    /// Starts a TCP-level proxy (see the module documentation) on 127.0.0.1 (a
    /// free port) in front of `backend`, no cues: for engines reached over TLS
    /// or SSH.
    pub fn start_raw(backend: Backend) -> io::Result<FaultProxy> {
        FaultProxy::start_with(SocketAddr::from(([127, 0, 0, 1], 0)), backend, true)
    }

    /// Starts a proxy on `listen` in front of `backend`, no cues.
    pub fn start_on(listen: SocketAddr, backend: Backend) -> io::Result<FaultProxy> {
        FaultProxy::start_with(listen, backend, false)
    }

    fn start_with(listen: SocketAddr, backend: Backend, raw: bool) -> io::Result<FaultProxy> {
        let cues = Cues::new();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?;
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let thread_cues = cues.clone();
        let thread = thread::Builder::new()
            .name("fault-proxy".into())
            .spawn(move || {
                runtime.block_on(async move {
                    let spawned = if raw {
                        spawn_raw_fault_proxy(listen, backend, thread_cues).await
                    } else {
                        spawn_fault_proxy(listen, backend, thread_cues).await
                    };
                    match spawned {
                        Ok(handle) => {
                            let _ = ready_tx.send(Ok(handle.addr()));
                            let _ = stop_rx.await;
                            drop(handle);
                        }
                        Err(err) => {
                            let _ = ready_tx.send(Err(err));
                        }
                    }
                });
                runtime.shutdown_timeout(Duration::from_secs(1));
            })?;
        let addr = match ready_rx.recv() {
            Ok(result) => result,
            Err(_) => Err(io::Error::other("the proxy's thread died while starting")),
        };
        match addr {
            Ok(addr) => Ok(FaultProxy {
                addr,
                cues,
                stop: Some(stop_tx),
                thread: Some(thread),
            }),
            Err(err) => {
                let _ = thread.join();
                Err(err)
            }
        }
    }

    /// The address the proxy listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The port the proxy listens on.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// The proxy's cues (a shared handle: changes apply to the next request).
    pub fn cues(&self) -> &Cues {
        &self.cues
    }

    /// Stops the proxy and waits for its thread; the same as dropping it.
    pub fn shutdown(self) {}
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::convert::Infallible;
    use std::sync::atomic::AtomicUsize;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[test]
    fn version_prefix_and_query_are_ignored() {
        assert_eq!(
            unversioned("/v1.41/containers/a/json"),
            "/containers/a/json"
        );
        assert_eq!(unversioned("/v1.52/_ping"), "/_ping");
        assert_eq!(unversioned("/v1.41"), "/");
        assert_eq!(
            unversioned("/containers/a/logs?follow=1"),
            "/containers/a/logs"
        );
        assert_eq!(
            unversioned("/v1.41/images/create?fromImage=x"),
            "/images/create"
        );
        assert_eq!(unversioned("/volumes/x"), "/volumes/x");
        assert_eq!(unversioned("/vx.1/a"), "/vx.1/a");
        assert_eq!(unversioned("/v1/a"), "/v1/a");
    }

    #[test]
    fn star_stays_in_its_segment_and_double_star_does_not() {
        let start = Rule::new(Fault::Refuse).path("/containers/*/start");
        assert!(start.matches("POST", "/v1.41/containers/ft-a/start"));
        assert!(start.matches("POST", "/containers/ft-a/start?x=1"));
        assert!(!start.matches("POST", "/containers/a/b/start"));
        assert!(!start.matches("POST", "/containers/start"));
        assert!(!start.matches("POST", "/containers/ft-a/stop"));
        let all = Rule::new(Fault::Refuse);
        assert!(all.matches("GET", "/v1.41/_ping"));
        assert!(all.matches("DELETE", "/containers/a/b/c"));
        let json = Rule::new(Fault::Refuse).path("/containers/*/json");
        assert!(json.matches("GET", "/containers/ft-a/json"));
        assert!(!json.matches("GET", "/containers/json"));
        let prefix = Rule::new(Fault::Refuse).path("/containers/ft-*");
        assert!(prefix.matches("DELETE", "/containers/ft-a"));
        assert!(!prefix.matches("DELETE", "/containers/other"));
        assert!(Rule::new(Fault::Refuse)
            .path("/**/logs")
            .matches("GET", "/v1.41/containers/x/logs"));
    }

    #[test]
    fn method_is_matched_case_insensitively() {
        let rule = Rule::new(Fault::Malformed)
            .method("post")
            .path("/containers/create");
        assert!(rule.matches("POST", "/v1.41/containers/create?name=a"));
        assert!(!rule.matches("GET", "/v1.41/containers/create"));
    }

    #[test]
    fn after_lets_requests_through_and_times_limits_the_faults() {
        let cues = Cues::new();
        cues.add(
            Rule::new(Fault::ServerError("boom".into()))
                .method("GET")
                .path("/containers/*/json")
                .after(2)
                .times(2),
        );
        let got: Vec<Option<Fault>> = (0..6)
            .map(|_| cues.decide("GET", "/v1.41/containers/a/json"))
            .collect();
        let boom = Some(Fault::ServerError("boom".into()));
        assert_eq!(got, vec![None, None, boom.clone(), boom, None, None]);
        // Requests the rule is not about neither count nor fault.
        assert_eq!(cues.decide("POST", "/v1.41/containers/a/json"), None);
        assert_eq!(cues.fired(), 2);
        assert_eq!(cues.log().len(), 7);
        assert_eq!(cues.log()[2].fault, Some("500"));
    }

    #[test]
    fn first_due_rule_wins_and_every_matching_rule_counts() {
        let cues = Cues::new();
        cues.add(Rule::new(Fault::Refuse).path("/a").after(1));
        cues.add(Rule::new(Fault::Malformed).path("/**"));
        assert_eq!(cues.decide("GET", "/a"), Some(Fault::Malformed));
        assert_eq!(cues.decide("GET", "/a"), Some(Fault::Refuse));
        assert_eq!(cues.decide("GET", "/b"), Some(Fault::Malformed));
        cues.set(Rule::new(Fault::Delay(Duration::from_millis(5))).path("/b"));
        assert_eq!(cues.decide("GET", "/a"), None);
        assert_eq!(
            cues.decide("GET", "/b"),
            Some(Fault::Delay(Duration::from_millis(5)))
        );
        cues.clear();
        assert_eq!(cues.decide("GET", "/b"), None);
    }

    #[test]
    fn a_sticky_rule_keeps_firing_on_everything_once_fired() {
        let cues = Cues::new();
        cues.add(
            Rule::new(Fault::Refuse)
                .path("/containers/b/json")
                .times(1)
                .sticky(),
        );
        assert_eq!(cues.decide("GET", "/containers/a/json"), None);
        assert_eq!(cues.decide("POST", "/containers/a/start"), None);
        assert_eq!(
            cues.decide("GET", "/v1.41/containers/b/json"),
            Some(Fault::Refuse)
        );
        assert_eq!(
            cues.decide("GET", "/containers/a/json"),
            Some(Fault::Refuse)
        );
        assert_eq!(cues.decide("GET", "/_ping"), Some(Fault::Refuse));
        assert_eq!(cues.fired(), 3);
    }

    // ------------------------------------------------------ through the proxy

    /// A stand-in engine: `/json` answers a JSON object, `/stream` a chunked
    /// body of 20 chunks of 100 bytes; with the count of the requests to
    /// `/count` it received (its own: tests run at the same time).
    async fn fake_engine() -> (SocketAddr, Arc<AtomicUsize>) {
        let counted = Arc::new(AtomicUsize::new(0));
        let count = counted.clone();
        let listener = TcpListener::bind(("127.0.0.1", 0)).await.expect("bind");
        let addr = listener.local_addr().expect("address");
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let count = count.clone();
                let service = service_fn(move |req: Request<Incoming>| {
                    if req.uri().path() == "/count" {
                        count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    }
                    async move {
                        let body: BoxBody<Bytes, Infallible> =
                            if req.uri().path().ends_with("/stream") {
                                let (mut tx, body) =
                                    http_body_util::channel::Channel::<Bytes, Infallible>::new(4);
                                tokio::spawn(async move {
                                    for i in 0..20u8 {
                                        let chunk = Bytes::from(vec![b'a' + i % 26; 100]);
                                        if tx.send_data(chunk).await.is_err() {
                                            return;
                                        }
                                    }
                                });
                                body.map_err(|never| match never {}).boxed()
                            } else {
                                Full::new(Bytes::from_static(br#"{"Id":"0123456789","Name":"/x"}"#))
                                    .map_err(|never| match never {})
                                    .boxed()
                            };
                        Ok::<_, Infallible>(Response::new(body))
                    }
                });
                tokio::spawn(
                    hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(tcp), service),
                );
            }
        });
        (addr, counted)
    }

    /// Sends one raw request and reads until the proxy closes the connection.
    async fn exchange(addr: SocketAddr, method: &str, path: &str) -> String {
        let mut tcp = TcpStream::connect(addr)
            .await
            .expect("connect to the proxy");
        let request = format!("{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        tcp.write_all(request.as_bytes()).await.expect("write");
        let mut answer = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(10), tcp.read_to_end(&mut answer));
        match read.await {
            Ok(Ok(_)) | Ok(Err(_)) => String::from_utf8_lossy(&answer).into_owned(),
            Err(_) => panic!("the proxy did not close the connection within 10 s"),
        }
    }

    #[tokio::test]
    async fn each_fault_through_the_proxy() {
        let (engine, counted) = fake_engine().await;
        let cues = Cues::new();
        let proxy = spawn_fault_proxy(
            SocketAddr::from(([127, 0, 0, 1], 0)),
            Backend::Tcp(engine),
            cues.clone(),
        )
        .await
        .expect("the proxy starts");
        let addr = proxy.addr();

        // No cue: forwarded as is.
        let plain = exchange(addr, "GET", "/v1.41/containers/x/json").await;
        assert!(plain.starts_with("HTTP/1.1 200"), "{plain}");
        assert!(
            plain.ends_with(r#"{"Id":"0123456789","Name":"/x"}"#),
            "{plain}"
        );

        // 500 with a Docker-style message, only for the matching path.
        cues.set(Rule::new(Fault::ServerError("cued failure".into())).path("/containers/*/json"));
        let failed = exchange(addr, "GET", "/v1.41/containers/x/json").await;
        assert!(failed.starts_with("HTTP/1.1 500"), "{failed}");
        assert!(failed.contains(r#"{"message":"cued failure"}"#), "{failed}");
        let other = exchange(addr, "GET", "/v1.41/info/json").await;
        assert!(other.starts_with("HTTP/1.1 200"), "{other}");

        // Malformed: the engine's status, half its body.
        cues.set(Rule::new(Fault::Malformed));
        let malformed = exchange(addr, "GET", "/json").await;
        assert!(malformed.starts_with("HTTP/1.1 200"), "{malformed}");
        let body = malformed.split("\r\n\r\n").nth(1).expect("a body");
        assert_eq!(body, r#"{"Id":"01234567"#);
        assert!(serde_json::from_str::<serde_json::Value>(body).is_err());

        // Refuse: closed without a byte of answer.
        cues.set(Rule::new(Fault::Refuse).method("GET"));
        assert_eq!(exchange(addr, "GET", "/json").await, "");

        // Delay: answered, late.
        cues.set(Rule::new(Fault::Delay(Duration::from_millis(400))));
        let started = std::time::Instant::now();
        let late = exchange(addr, "GET", "/json").await;
        assert!(late.starts_with("HTTP/1.1 200"), "{late}");
        assert!(started.elapsed() >= Duration::from_millis(400));

        // Cut: 250 bytes of the 2,000 get through, then no end of the body.
        cues.set(Rule::new(Fault::CutStream { after_bytes: 250 }).path("/stream"));
        let cut = exchange(addr, "GET", "/stream").await;
        assert!(cut.starts_with("HTTP/1.1 200"), "{cut}");
        let body = cut.split_once("\r\n\r\n").map_or("", |(_, body)| body);
        let letters = body.bytes().filter(|b| b.is_ascii_lowercase()).count();
        assert!(cut.contains(&"c".repeat(50)), "{cut}");
        assert!(!body.contains('d'), "{cut}");
        assert!(
            !cut.ends_with("0\r\n\r\n"),
            "the chunked body was ended: {cut}"
        );
        assert_eq!(letters, 250, "{cut}");
        assert!((250..300).contains(&letters), "{letters} letters: {cut}");
        cues.clear();
        let whole = exchange(addr, "GET", "/stream").await;
        assert!(whole.ends_with("0\r\n\r\n"), "{whole}");
        assert!(whole.contains(&"t".repeat(100)), "{whole}");

        // Any status, not forwarded.
        cues.set(Rule::new(Fault::Status(409, "in use".into())).path("/count"));
        let conflict = exchange(addr, "POST", "/v1.41/count").await;
        assert!(conflict.starts_with("HTTP/1.1 409"), "{conflict}");
        assert!(conflict.contains(r#"{"message":"in use"}"#), "{conflict}");
        assert_eq!(counted.load(std::sync::atomic::Ordering::SeqCst), 0);

        // Late: the client hangs up at once; the engine still gets the request.
        cues.set(Rule::new(Fault::Late(Duration::from_millis(300))).path("/count"));
        let mut tcp = TcpStream::connect(addr).await.expect("connect");
        tcp.write_all(b"POST /count HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}")
            .await
            .expect("write");
        tokio::time::sleep(Duration::from_millis(50)).await;
        drop(tcp);
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while counted.load(std::sync::atomic::Ordering::SeqCst) == 0 {
            assert!(
                std::time::Instant::now() < deadline,
                "the late request never came"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }

        let faults: Vec<_> = cues.log().iter().filter_map(|s| s.fault).collect();
        assert_eq!(
            faults,
            [
                "500",
                "malformed",
                "refuse",
                "delay",
                "cut",
                "status",
                "late"
            ]
        );
    }

    /// Sends one raw request; what came back within `wait`, and whether the proxy
    /// closed the connection by then.
    async fn exchange_within(
        addr: SocketAddr,
        method: &str,
        path: &str,
        wait: Duration,
    ) -> (String, bool) {
        let mut tcp = TcpStream::connect(addr)
            .await
            .expect("connect to the proxy");
        let request = format!("{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        tcp.write_all(request.as_bytes()).await.expect("write");
        let mut answer = Vec::new();
        let mut buf = [0u8; 4096];
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            match tokio::time::timeout_at(deadline, tcp.read(&mut buf)).await {
                Ok(Ok(0)) | Ok(Err(_)) => {
                    return (String::from_utf8_lossy(&answer).into_owned(), true)
                }
                Ok(Ok(n)) => answer.extend_from_slice(&buf[..n]),
                Err(_) => return (String::from_utf8_lossy(&answer).into_owned(), false),
            }
        }
    }

    #[tokio::test]
    async fn rewrite_reply_and_stall_through_the_proxy() {
        let (engine, counted) = fake_engine().await;
        let cues = Cues::new();
        let proxy = spawn_fault_proxy(
            SocketAddr::from(([127, 0, 0, 1], 0)),
            Backend::Tcp(engine),
            cues.clone(),
        )
        .await
        .expect("the proxy starts");
        let addr = proxy.addr();

        // Rewrite: the engine's status, the cued body (valid JSON, wrong shape).
        cues.set(Rule::new(Fault::Rewrite(r#"{"Id": 5}"#.into())).path("/containers/*/json"));
        let rewritten = exchange(addr, "GET", "/v1.41/containers/x/json").await;
        assert!(rewritten.starts_with("HTTP/1.1 200"), "{rewritten}");
        let body = rewritten.split("\r\n\r\n").nth(1).expect("a body");
        assert_eq!(body, r#"{"Id": 5}"#);
        assert!(
            rewritten.to_ascii_lowercase().contains("content-length: 9"),
            "{rewritten}"
        );

        // Reply: any status and body, not forwarded.
        cues.set(Rule::new(Fault::Reply(200, "[]".into())).path("/count"));
        let replied = exchange(addr, "POST", "/count").await;
        assert!(replied.starts_with("HTTP/1.1 200"), "{replied}");
        assert!(replied.ends_with("\r\n\r\n[]"), "{replied}");
        assert_eq!(counted.load(std::sync::atomic::Ordering::SeqCst), 0);

        // Stall: 250 bytes of the body, then silence on an open connection.
        cues.set(Rule::new(Fault::Stall { after_bytes: 250 }).path("/stream"));
        let (stalled, closed) =
            exchange_within(addr, "GET", "/stream", Duration::from_millis(800)).await;
        assert!(!closed, "a stalled connection was closed: {stalled}");
        assert!(stalled.starts_with("HTTP/1.1 200"), "{stalled}");
        let body = stalled.split_once("\r\n\r\n").map_or("", |(_, body)| body);
        let letters = body.bytes().filter(|b| b.is_ascii_lowercase()).count();
        assert_eq!(letters, 250, "{stalled}");

        let faults: Vec<_> = cues.log().iter().filter_map(|s| s.fault).collect();
        assert_eq!(faults, ["rewrite", "reply", "stall"]);
    }

    #[tokio::test]
    async fn each_fault_through_the_raw_proxy() {
        let (engine, _) = fake_engine().await;
        let cues = Cues::new();
        let proxy = spawn_raw_fault_proxy(
            SocketAddr::from(([127, 0, 0, 1], 0)),
            Backend::Tcp(engine),
            cues.clone(),
        )
        .await
        .expect("the raw proxy starts");
        let addr = proxy.addr();

        // No cue: the bytes pass both ways.
        let plain = exchange(addr, "GET", "/json").await;
        assert!(plain.starts_with("HTTP/1.1 200"), "{plain}");
        assert!(
            plain.ends_with(r#"{"Id":"0123456789","Name":"/x"}"#),
            "{plain}"
        );

        // Refuse: closed without a byte.
        cues.set(Rule::new(Fault::Refuse));
        assert_eq!(exchange(addr, "GET", "/json").await, "");
        // An HTTP-level fault cannot apply: closed the same way.
        cues.set(Rule::new(Fault::ServerError("x".into())));
        assert_eq!(exchange(addr, "GET", "/json").await, "");

        // Cut: exactly 300 bytes (head included) of the stream, then closed.
        cues.set(Rule::new(Fault::CutStream { after_bytes: 300 }));
        let (cut, closed) = exchange_within(addr, "GET", "/stream", Duration::from_secs(10)).await;
        assert!(closed, "the cut connection stayed open: {cut}");
        assert_eq!(cut.len(), 300, "{cut}");
        assert!(cut.starts_with("HTTP/1.1 200"), "{cut}");

        // Stall: 200 bytes, then silence, the connection open.
        cues.set(Rule::new(Fault::Stall { after_bytes: 200 }));
        let (stalled, closed) =
            exchange_within(addr, "GET", "/stream", Duration::from_millis(800)).await;
        assert!(!closed, "the stalled connection was closed: {stalled}");
        assert_eq!(stalled.len(), 200, "{stalled}");

        // Delay: the backend is reached late.
        cues.set(Rule::new(Fault::Delay(Duration::from_millis(400))));
        let started = std::time::Instant::now();
        let late = exchange(addr, "GET", "/json").await;
        assert!(late.starts_with("HTTP/1.1 200"), "{late}");
        assert!(started.elapsed() >= Duration::from_millis(400));

        // Only the second connection on gets the fault.
        cues.set(Rule::new(Fault::Refuse).after(1));
        assert!(exchange(addr, "GET", "/json")
            .await
            .starts_with("HTTP/1.1 200"));
        assert_eq!(exchange(addr, "GET", "/json").await, "");

        let log = cues.log();
        assert!(
            log.iter()
                .all(|s| s.method == "CONNECT" && s.target == "/tcp"),
            "{log:?}"
        );
        let faults: Vec<_> = log.iter().filter_map(|s| s.fault).collect();
        assert_eq!(faults, ["refuse", "500", "cut", "stall", "delay", "refuse"]);
    }
}
