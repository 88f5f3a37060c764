//! The engine front's proxy: a TCP HTTP/1.1 server that carries out, request by
//! request, the [`Decision`]s of [`crate::route`] against a real engine reached over
//! its unix socket, and the handles that own a running front ([`FrontHandle`] inside
//! a caller's tokio runtime, [`Docker29Front`] on a thread of its own).
//!
//! Every request of a keep-alive connection is decided on its own. Each forwarded
//! request gets a fresh backend connection; bodies stream through frame by frame
//! (logs with follow, events and pull progress are never buffered), and a backend
//! `101 Switching Protocols` (exec start, attach) turns both connections into a raw
//! bidirectional tunnel. Only `/version` bodies are read whole, to be rewritten.

use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread;

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONTENT_LENGTH, CONTENT_TYPE, HOST, TRANSFER_ENCODING};
use hyper::service::service_fn;
use hyper::upgrade::OnUpgrade;
use hyper::{Request, Response, StatusCode, Uri};
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream, UnixStream};
use tokio::sync::{oneshot, watch};

use crate::route::{self, decide, Decision, Persona, ResponseEdit};

/// The body type of every response the front sends.
type Body = BoxBody<Bytes, hyper::Error>;

/// Resolves when the front is shut down: the owning handle dropped its sender.
type Stop = watch::Receiver<()>;

/// What every task of one front shares.
struct Shared {
    persona: Persona,
    backend: PathBuf,
}

/// A running front inside the caller's tokio runtime. Dropping it (or
/// [`FrontHandle::shutdown`]) stops listening and ends every connection and tunnel.
#[derive(Debug)]
pub struct FrontHandle {
    addr: SocketAddr,
    _stop: watch::Sender<()>,
}

impl FrontHandle {
    /// The address the front listens on (the real port when asked for port 0).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `tcp://ADDR`, ready for `DOCKER_HOST`.
    pub fn docker_host(&self) -> String {
        format!("tcp://{}", self.addr)
    }

    /// Stops the front; the same as dropping the handle.
    pub fn shutdown(self) {}
}

/// Starts a front that answers as Docker Engine 29 (API 1.52, minimum 1.44) on
/// `listen`, forwarding to the engine at `backend_socket`. Must be called inside a
/// tokio runtime; the front runs on it until the handle is dropped.
pub async fn spawn_docker29_front(
    listen: SocketAddr,
    backend_socket: PathBuf,
) -> io::Result<FrontHandle> {
    spawn_front(Persona::DOCKER_29, listen, backend_socket).await
}

/// Starts a front that answers as `persona`; see [`spawn_docker29_front`].
pub async fn spawn_front(
    persona: Persona,
    listen: SocketAddr,
    backend_socket: PathBuf,
) -> io::Result<FrontHandle> {
    let listener = TcpListener::bind(listen).await?;
    let addr = listener.local_addr()?;
    let (stop_tx, stop_rx) = watch::channel(());
    let shared = Arc::new(Shared {
        persona,
        backend: backend_socket,
    });
    tokio::spawn(crate::accept_until_stopped(
        listener,
        stop_rx,
        move |tcp, stop| serve_connection(tcp, shared.clone(), stop),
    ));
    Ok(FrontHandle {
        addr,
        _stop: stop_tx,
    })
}

async fn serve_connection(tcp: TcpStream, shared: Arc<Shared>, stop: Stop) {
    // Docker's CLI writes small frames (attach stdin); don't let Nagle hold them.
    let _ = tcp.set_nodelay(true);
    let service_stop = stop.clone();
    let service = service_fn(move |req| {
        let shared = shared.clone();
        let stop = service_stop.clone();
        async move { Ok::<_, Infallible>(handle(&shared, stop, req).await) }
    });
    let connection = hyper::server::conn::http1::Builder::new()
        // Go writes canonical header names (`Api-Version`, `Ostype`); so do we.
        .title_case_headers(true)
        .serve_connection(TokioIo::new(tcp), service)
        .with_upgrades();
    let mut stopped = stop;
    tokio::select! {
        _ = connection => {}
        _ = stopped.changed() => {}
    }
}

async fn handle(shared: &Shared, stop: Stop, req: Request<Incoming>) -> Response<Body> {
    let target = req
        .uri()
        .path_and_query()
        .map_or("/", |target| target.as_str())
        .to_owned();
    let mut response = match decide(&shared.persona, req.method().as_str(), &target) {
        Decision::Reply { status, body } => json_reply(status, body),
        Decision::Forward {
            path_and_query,
            edit,
        } => match forward(shared, stop, req, &path_and_query, edit).await {
            Ok(response) => response,
            Err(err) => json_reply(
                502,
                route::error_body(&format!("engine front: backend failed: {err}")),
            ),
        },
    };
    set_persona_headers(&shared.persona, &mut response);
    response
}

/// A reply the front makes itself, as Docker's error responses look.
fn json_reply(status: u16, body: String) -> Response<Body> {
    let mut response = Response::new(full(Bytes::from(body)));
    *response.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

/// The headers Docker's version middleware puts on every response.
fn set_persona_headers(persona: &Persona, response: &mut Response<Body>) {
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(persona.api_version) {
        headers.insert("api-version", value);
    }
    if let Ok(value) = HeaderValue::from_str(&persona.server_header()) {
        headers.insert("server", value);
    }
    headers.insert("ostype", HeaderValue::from_static("linux"));
}

fn full(bytes: Bytes) -> Body {
    Full::new(bytes).map_err(|never| match never {}).boxed()
}

fn empty() -> Body {
    Empty::new().map_err(|never| match never {}).boxed()
}

/// Why forwarding a request failed (reported to the client as a 502).
#[derive(Debug)]
enum ForwardError {
    Connect(io::Error),
    Http(hyper::Error),
    Target(hyper::http::uri::InvalidUri),
}

impl std::fmt::Display for ForwardError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ForwardError::Connect(err) => write!(f, "cannot connect: {err}"),
            ForwardError::Http(err) => write!(f, "{err}"),
            ForwardError::Target(err) => write!(f, "bad request target: {err}"),
        }
    }
}

async fn forward(
    shared: &Shared,
    stop: Stop,
    mut req: Request<Incoming>,
    path_and_query: &str,
    edit: ResponseEdit,
) -> Result<Response<Body>, ForwardError> {
    // Taken before the request moves on; it resolves only if we answer 101.
    let client_upgrade = hyper::upgrade::on(&mut req);
    let (mut head, body) = req.into_parts();
    head.uri = Uri::try_from(path_and_query).map_err(ForwardError::Target)?;
    head.version = hyper::Version::HTTP_11;
    if !head.headers.contains_key(HOST) {
        // Go's HTTP/1.1 server refuses a request without Host.
        head.headers
            .insert(HOST, HeaderValue::from_static("docker"));
    }

    let backend = connect_backend(&shared.backend)
        .await
        .map_err(ForwardError::Connect)?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(backend))
        .await
        .map_err(ForwardError::Http)?;
    let mut stopped = stop.clone();
    tokio::spawn(async move {
        tokio::select! {
            _ = connection.with_upgrades() => {}
            _ = stopped.changed() => {}
        }
    });
    let mut response = sender
        .send_request(Request::from_parts(head, body))
        .await
        .map_err(ForwardError::Http)?;

    if response.status() == StatusCode::SWITCHING_PROTOCOLS {
        let backend_upgrade = hyper::upgrade::on(&mut response);
        tokio::spawn(tunnel(client_upgrade, backend_upgrade, stop));
        let (head, _empty) = response.into_parts();
        return Ok(Response::from_parts(head, empty()));
    }

    let (mut head, body) = response.into_parts();
    let body = match edit {
        ResponseEdit::Headers => body.boxed(),
        ResponseEdit::VersionJson if head.status == StatusCode::OK => {
            let bytes = body.collect().await.map_err(ForwardError::Http)?.to_bytes();
            let bytes = match serde_json::from_slice(&bytes) {
                Ok(mut json) => {
                    route::rewrite_version_json(&shared.persona, &mut json);
                    // Newline-terminated, as Go's JSON encoder writes it.
                    Bytes::from(format!("{json}\n"))
                }
                Err(_) => bytes,
            };
            head.headers.remove(CONTENT_LENGTH);
            head.headers.remove(TRANSFER_ENCODING);
            full(bytes)
        }
        ResponseEdit::VersionJson => body.boxed(),
    };
    Ok(Response::from_parts(head, body))
}

async fn connect_backend(path: &Path) -> io::Result<UnixStream> {
    UnixStream::connect(path).await
}

/// Splices an upgraded client connection to the upgraded backend connection until
/// both directions are done (half-closes are passed on) or the front stops.
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

/// A Docker 29 front on a thread and runtime of its own, for tests that are not
/// async. Dropping it (or [`Docker29Front::shutdown`]) stops the front and joins
/// its thread.
#[derive(Debug)]
pub struct Docker29Front {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<thread::JoinHandle<()>>,
}

impl Docker29Front {
    /// Starts a front on 127.0.0.1 (a free port) in front of the engine at `backend`.
    pub fn start(backend: impl Into<PathBuf>) -> io::Result<Docker29Front> {
        Docker29Front::start_on(SocketAddr::from(([127, 0, 0, 1], 0)), backend)
    }

    /// Starts a front on `listen` in front of the engine at `backend`.
    pub fn start_on(listen: SocketAddr, backend: impl Into<PathBuf>) -> io::Result<Docker29Front> {
        let backend = backend.into();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let thread = thread::Builder::new()
            .name("docker29-front".into())
            .spawn(move || {
                runtime.block_on(async move {
                    match spawn_docker29_front(listen, backend).await {
                        Ok(handle) => {
                            let _ = ready_tx.send(Ok(handle.addr()));
                            // Either a stop message or the owner's drop ends it.
                            let _ = stop_rx.await;
                            drop(handle);
                        }
                        Err(err) => {
                            let _ = ready_tx.send(Err(err));
                        }
                    }
                });
            })?;
        let addr = match ready_rx.recv() {
            Ok(result) => result,
            Err(_) => Err(io::Error::other("the front's thread died while starting")),
        };
        match addr {
            Ok(addr) => Ok(Docker29Front {
                addr,
                stop: Some(stop_tx),
                thread: Some(thread),
            }),
            Err(err) => {
                let _ = thread.join();
                Err(err)
            }
        }
    }

    /// The address the front listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `tcp://ADDR`, ready for `DOCKER_HOST`.
    pub fn docker_host(&self) -> String {
        format!("tcp://{}", self.addr)
    }

    /// Stops the front and waits for its thread; the same as dropping it.
    pub fn shutdown(self) {}
}

impl Drop for Docker29Front {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
