//! The simulated fleet's servers: one HTTP/1.1 listener per ship (hyper, keep-
//! alive, upgrades), each request delayed by the ship's latency, then routed
//! ([`super::api`]) and carried out on the ship's [`Engine`] under its lock.
//! Calls that take time on a real engine take it here too: a stop waits for
//! the grace period of a process that ignores SIGTERM, a wait for the exit,
//! a followed log for new lines until the container stops.
//!
//! Fault knobs, per ship and changeable at any time ([`SimHandle::set_fault`]):
//! `refuse` closes the listener (connections are refused; open ones are
//! closed), `500` answers every request with a server error after the
//! latency, `hang` reads requests and never answers.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Channel, Empty, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{
    HeaderValue, CONNECTION, CONTENT_LENGTH, CONTENT_TYPE, TRANSFER_ENCODING, UPGRADE,
};
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::watch;

use super::api::{self, Call, Routed};
use super::engine::{ApiError, Engine, Identity, LogOptions, Pullable, StopOutcome};
use crate::route::compare_versions;

/// The body type of every response.
type Body = BoxBody<Bytes, hyper::Error>;

/// The largest request body read (a create request is a few kilobytes).
const MAX_BODY: usize = 16 << 20;

/// What a ship does with connections and requests besides serving them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Serves normally.
    None,
    /// Refuses connections (the listener is closed).
    Refuse,
    /// Answers every request `500 {"message": "simulated engine fault"}`.
    Error500,
    /// Reads requests and never answers.
    Hang,
}

impl Fault {
    /// `none`, `refuse`, `500`, `hang`.
    pub fn name(self) -> &'static str {
        match self {
            Fault::None => "none",
            Fault::Refuse => "refuse",
            Fault::Error500 => "500",
            Fault::Hang => "hang",
        }
    }
}

impl std::str::FromStr for Fault {
    type Err = String;

    fn from_str(text: &str) -> Result<Fault, String> {
        match text {
            "none" | "ok" => Ok(Fault::None),
            "refuse" => Ok(Fault::Refuse),
            "500" | "error" => Ok(Fault::Error500),
            "hang" => Ok(Fault::Hang),
            other => Err(format!("unknown fault `{other}` (none, refuse, 500, hang)")),
        }
    }
}

/// Where the ships listen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// Ship i on `host`, port `base_port + i` (port 0: each picks a free port).
    Ports,
    /// Ship i on address `host + i` (127.0.0.1, 127.0.0.2, …), port `base_port`.
    Addresses,
}

/// How to build a simulated fleet.
#[derive(Debug, Clone)]
pub struct SimConfig {
    /// How many ships (engines).
    pub ships: usize,
    pub host: IpAddr,
    pub base_port: u16,
    pub layout: Layout,
    /// Added to every call (before it is carried out).
    pub latency: Duration,
    /// Images every ship has at the start.
    pub images: Vec<String>,
    pub pullable: Pullable,
    pub engine_version: String,
    pub api_version: String,
    pub min_api_version: String,
    /// Faults from the start: (ship index, fault).
    pub faults: Vec<(usize, Fault)>,
    /// Print one line per request on stderr.
    pub log_requests: bool,
}

impl Default for SimConfig {
    fn default() -> SimConfig {
        SimConfig {
            ships: 1,
            host: IpAddr::V4(Ipv4Addr::LOCALHOST),
            base_port: 0,
            layout: Layout::Ports,
            latency: Duration::ZERO,
            images: vec!["maestro-test/box:1".into()],
            pullable: Pullable::Any,
            engine_version: "27.3.1".into(),
            api_version: "1.47".into(),
            min_api_version: "1.24".into(),
            faults: Vec::new(),
            log_requests: false,
        }
    }
}

/// One ship: its engine, fault, latency and call counts.
pub(crate) struct Ship {
    pub index: usize,
    pub addr: SocketAddr,
    pub identity: Identity,
    engine: Mutex<Engine>,
    /// The engine's change counter, for waiters.
    changes: watch::Sender<u64>,
    pub fault: watch::Sender<Fault>,
    latency_us: AtomicU64,
    calls: Mutex<BTreeMap<&'static str, u64>>,
    /// Connections accepted so far.
    connections: AtomicU64,
}

impl Ship {
    /// The engine, locked. A poisoned lock (a panic elsewhere) is taken over.
    pub fn engine(&self) -> MutexGuard<'_, Engine> {
        self.engine.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs `f` on the engine, then tells waiters if anything changed.
    fn with_engine<T>(&self, f: impl FnOnce(&mut Engine) -> T) -> T {
        let mut engine = self.engine();
        let before = engine.generation();
        let out = f(&mut engine);
        let after = engine.generation();
        drop(engine);
        if after != before {
            self.changes.send_replace(after);
        }
        out
    }

    pub fn latency(&self) -> Duration {
        Duration::from_micros(self.latency_us.load(Ordering::Relaxed))
    }

    pub fn set_latency(&self, latency: Duration) {
        let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        self.latency_us.store(micros, Ordering::Relaxed);
    }

    fn count(&self, label: &'static str) {
        let mut calls = self.calls.lock().unwrap_or_else(|e| e.into_inner());
        *calls.entry(label).or_default() += 1;
    }

    pub fn calls(&self) -> BTreeMap<&'static str, u64> {
        self.calls.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn reset_calls(&self) {
        self.calls.lock().unwrap_or_else(|e| e.into_inner()).clear();
        self.connections.store(0, Ordering::Relaxed);
    }

    /// Connections accepted since the last reset.
    pub fn connections(&self) -> u64 {
        self.connections.load(Ordering::Relaxed)
    }
}

/// What every task of a fleet shares.
pub(crate) struct Fleet {
    pub ships: Vec<Arc<Ship>>,
    log_requests: bool,
}

/// Resolves when the fleet is shut down (the handle dropped its sender).
type Stop = watch::Receiver<()>;

/// A running simulated fleet inside the caller's tokio runtime; dropping it
/// stops every ship and connection.
pub struct SimHandle {
    pub(crate) fleet: Arc<Fleet>,
    stop: watch::Sender<()>,
}

impl std::fmt::Debug for SimHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimHandle")
            .field("ships", &self.fleet.ships.len())
            .finish()
    }
}

/// Call counts of a fleet.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stats {
    /// Requests by call (`container inspect` → n), all ships together.
    pub by_call: BTreeMap<String, u64>,
    /// Requests by ship.
    pub by_ship: Vec<u64>,
    /// Connections accepted, all ships together.
    pub connections: u64,
}

impl Stats {
    pub fn total(&self) -> u64 {
        self.by_ship.iter().sum()
    }
}

/// Containers of a fleet by state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Census {
    pub created: usize,
    pub running: usize,
    pub exited: usize,
}

impl Census {
    pub fn total(&self) -> usize {
        self.created + self.running + self.exited
    }
}

impl SimHandle {
    /// How many ships.
    pub fn len(&self) -> usize {
        self.fleet.ships.len()
    }

    pub fn is_empty(&self) -> bool {
        self.fleet.ships.is_empty()
    }

    /// The address ship `index` listens on.
    pub fn addr(&self, index: usize) -> Option<SocketAddr> {
        self.fleet.ships.get(index).map(|s| s.addr)
    }

    /// Every ship's address, in order.
    pub fn addrs(&self) -> Vec<SocketAddr> {
        self.fleet.ships.iter().map(|s| s.addr).collect()
    }

    /// Sets ship `index`'s fault; `false` when there is no such ship.
    pub fn set_fault(&self, index: usize, fault: Fault) -> bool {
        match self.fleet.ships.get(index) {
            Some(ship) => {
                ship.fault.send_replace(fault);
                true
            }
            None => false,
        }
    }

    /// Ship `index`'s fault.
    pub fn fault(&self, index: usize) -> Option<Fault> {
        self.fleet.ships.get(index).map(|s| *s.fault.borrow())
    }

    /// Sets ship `index`'s latency per call; `false` when there is no such ship.
    pub fn set_latency(&self, index: usize, latency: Duration) -> bool {
        match self.fleet.ships.get(index) {
            Some(ship) => {
                ship.set_latency(latency);
                true
            }
            None => false,
        }
    }

    /// Requests served so far.
    pub fn stats(&self) -> Stats {
        stats(&self.fleet)
    }

    /// Forgets the requests served so far.
    pub fn reset_stats(&self) {
        for ship in &self.fleet.ships {
            ship.reset_calls();
        }
    }

    /// Every ship's containers by state.
    pub fn census(&self) -> Census {
        census(&self.fleet)
    }

    /// Name, state (`created`, `running`, `exited`) and exit code of each
    /// container of ship `index`, by name.
    pub fn containers(&self, index: usize) -> Vec<(String, String, i64)> {
        let Some(ship) = self.fleet.ships.get(index) else {
            return Vec::new();
        };
        let now = SystemTime::now();
        ship.engine()
            .summary(now)
            .into_iter()
            .map(|(name, status, code)| (name, status.as_str().to_owned(), code))
            .collect()
    }

    /// Stops every ship; the same as dropping the handle.
    pub fn shutdown(self) {}

    pub(crate) fn stop_receiver(&self) -> Stop {
        self.stop.subscribe()
    }
}

pub(crate) fn stats(fleet: &Fleet) -> Stats {
    let mut out = Stats::default();
    for ship in &fleet.ships {
        let calls = ship.calls();
        out.by_ship.push(calls.values().sum());
        out.connections += ship.connections();
        for (label, n) in calls {
            *out.by_call.entry(label.to_owned()).or_default() += n;
        }
    }
    out
}

pub(crate) fn census(fleet: &Fleet) -> Census {
    let now = SystemTime::now();
    let mut out = Census::default();
    for ship in &fleet.ships {
        for (_, status, _) in ship.engine().summary(now) {
            match status {
                super::engine::Status::Created => out.created += 1,
                super::engine::Status::Running => out.running += 1,
                super::engine::Status::Exited => out.exited += 1,
            }
        }
    }
    out
}

/// The address of ship `index` under `config`.
fn ship_addr(config: &SimConfig, index: usize) -> io::Result<SocketAddr> {
    let too_many = || {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "too many ships for the address range",
        )
    };
    match config.layout {
        Layout::Ports => {
            let port = if config.base_port == 0 {
                0
            } else {
                u16::try_from(usize::from(config.base_port) + index).map_err(|_| too_many())?
            };
            Ok(SocketAddr::new(config.host, port))
        }
        Layout::Addresses => {
            let IpAddr::V4(v4) = config.host else {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "address layout needs an IPv4 host",
                ));
            };
            let base = u32::from(v4);
            let ip = base
                .checked_add(u32::try_from(index).map_err(|_| too_many())?)
                .ok_or_else(too_many)?;
            Ok(SocketAddr::new(
                IpAddr::V4(Ipv4Addr::from(ip)),
                config.base_port,
            ))
        }
    }
}

/// How many connections may wait to be accepted: what a real engine gets (Go
/// listens with the system's `somaxconn`, 4096 on current Linux), not the
/// 128 of Rust's standard library, which drops the SYNs of a client opening
/// hundreds of connections at once (each then waits a second to retry).
const BACKLOG: u32 = 4096;

/// A listener on `addr` (address reuse on, a real engine's backlog).
fn listen(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(BACKLOG)
}

/// Starts a simulated fleet in the current tokio runtime: every ship is
/// listening when this returns.
pub async fn spawn_sim(config: SimConfig) -> io::Result<SimHandle> {
    let (stop_tx, stop_rx) = watch::channel(());
    let mut ships = Vec::with_capacity(config.ships);
    let mut listeners = Vec::with_capacity(config.ships);
    for index in 0..config.ships {
        let wanted = ship_addr(&config, index)?;
        let listener = listen(wanted).map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("ship {index} cannot listen on {wanted}: {e}"),
            )
        })?;
        let addr = listener.local_addr()?;
        let identity = Identity {
            engine_version: config.engine_version.clone(),
            api_version: config.api_version.clone(),
            min_api_version: config.min_api_version.clone(),
            name: format!("sim-{index:03}"),
        };
        let seed = (index as u64) << 32 ^ u64::from(addr.port());
        let engine = Engine::new(
            identity.clone(),
            &config.images,
            config.pullable.clone(),
            seed,
        );
        let fault = config
            .faults
            .iter()
            .rev()
            .find(|(i, _)| *i == index)
            .map_or(Fault::None, |(_, f)| *f);
        let ship = Arc::new(Ship {
            index,
            addr,
            identity,
            engine: Mutex::new(engine),
            changes: watch::channel(0).0,
            fault: watch::channel(fault).0,
            latency_us: AtomicU64::new(0),
            calls: Mutex::new(BTreeMap::new()),
            connections: AtomicU64::new(0),
        });
        ship.set_latency(config.latency);
        ships.push(ship);
        listeners.push(listener);
    }
    let fleet = Arc::new(Fleet {
        ships,
        log_requests: config.log_requests,
    });
    for (ship, listener) in fleet.ships.iter().zip(listeners) {
        tokio::spawn(ship_loop(
            ship.clone(),
            fleet.clone(),
            listener,
            stop_rx.clone(),
        ));
    }
    Ok(SimHandle {
        fleet,
        stop: stop_tx,
    })
}

/// Accepts a ship's connections while it does not refuse them; re-opens the
/// listener when a refusal ends.
async fn ship_loop(ship: Arc<Ship>, fleet: Arc<Fleet>, listener: TcpListener, mut stop: Stop) {
    let mut fault = ship.fault.subscribe();
    let mut listener = Some(listener);
    loop {
        if *fault.borrow_and_update() == Fault::Refuse {
            listener = None;
            tokio::select! {
                _ = stop.changed() => return,
                changed = fault.changed() => if changed.is_err() { return },
            }
            continue;
        }
        let Some(open) = listener.as_ref() else {
            match listen(ship.addr) {
                Ok(again) => listener = Some(again),
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
            continue;
        };
        tokio::select! {
            _ = stop.changed() => return,
            changed = fault.changed() => if changed.is_err() { return },
            accepted = open.accept() => match accepted {
                Ok((tcp, _)) => {
                    ship.connections.fetch_add(1, Ordering::Relaxed);
                    tokio::spawn(serve_connection(tcp, ship.clone(), fleet.clone(), stop.clone()));
                }
                // Out of file descriptors and the like: let it pass, then go on.
                Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            },
        }
    }
}

async fn serve_connection(tcp: TcpStream, ship: Arc<Ship>, fleet: Arc<Fleet>, mut stop: Stop) {
    let _ = tcp.set_nodelay(true);
    let service_ship = ship.clone();
    let service = service_fn(move |req| {
        let ship = service_ship.clone();
        let fleet = fleet.clone();
        async move { Ok::<_, Infallible>(handle(&ship, &fleet, req).await) }
    });
    let connection = hyper::server::conn::http1::Builder::new()
        .title_case_headers(true)
        .serve_connection(TokioIo::new(tcp), service)
        .with_upgrades();
    let mut fault = ship.fault.subscribe();
    tokio::select! {
        _ = connection => {}
        _ = stop.changed() => {}
        _ = fault.wait_for(|f| *f == Fault::Refuse) => {}
    }
}

async fn handle(ship: &Arc<Ship>, fleet: &Fleet, req: Request<Incoming>) -> Response<Body> {
    let began = Instant::now();
    let method = req.method().as_str().to_owned();
    let target = req
        .uri()
        .path_and_query()
        .map_or("/", |t| t.as_str())
        .to_owned();
    let fault = *ship.fault.borrow();
    if fault == Fault::Hang {
        ship.count("hung");
        std::future::pending::<()>().await;
    }
    let latency = ship.latency();
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let (label, mut response) = if fault == Fault::Error500 {
        (
            "fault",
            error_response(&ApiError::new(500, "simulated engine fault")),
        )
    } else {
        match api::route(&ship.identity, &method, &target) {
            Ok(routed) => {
                let label = routed.call.label();
                (label, execute(ship, routed, req).await)
            }
            Err(refusal) => ("bad version", error_response(&refusal)),
        }
    };
    ship.count(label);
    set_engine_headers(&ship.identity, &mut response);
    if fleet.log_requests {
        eprintln!(
            "sim ship {} {method} {target} -> {} ({label}, {:.1} ms)",
            ship.index,
            response.status().as_u16(),
            began.elapsed().as_secs_f64() * 1000.0
        );
    }
    response
}

/// The headers Docker's middleware puts on every response.
fn set_engine_headers(identity: &Identity, response: &mut Response<Body>) {
    let headers = response.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&identity.api_version) {
        headers.insert("api-version", v);
    }
    if let Ok(v) = HeaderValue::from_str(&format!("Docker/{} (linux)", identity.engine_version)) {
        headers.insert("server", v);
    }
    headers.insert("docker-experimental", HeaderValue::from_static("false"));
    headers.insert("ostype", HeaderValue::from_static("linux"));
}

fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed()
}

fn empty() -> Body {
    Empty::new().map_err(|never| match never {}).boxed()
}

fn status_of(code: u16) -> StatusCode {
    StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
}

fn json_response(status: u16, value: &Value) -> Response<Body> {
    let mut text = value.to_string();
    text.push('\n');
    let mut response = Response::new(full(text));
    *response.status_mut() = status_of(status);
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}

fn error_response(error: &ApiError) -> Response<Body> {
    json_response(
        error.status,
        &serde_json::json!({ "message": error.message }),
    )
}

fn empty_response(status: u16) -> Response<Body> {
    let mut response = Response::new(empty());
    *response.status_mut() = status_of(status);
    response
}

fn stream_type(version: Option<&str>, tty: bool) -> &'static str {
    let new = version.is_none_or(|v| compare_versions(v, "1.42") != std::cmp::Ordering::Less);
    if new && !tty {
        "application/vnd.docker.multiplexed-stream"
    } else {
        "application/vnd.docker.raw-stream"
    }
}

/// The request body, whole (bounded).
async fn read_body(body: Incoming) -> Result<Bytes, ApiError> {
    Limited::new(body, MAX_BODY)
        .collect()
        .await
        .map(|collected| collected.to_bytes())
        .map_err(|e| ApiError::new(400, format!("cannot read the request body: {e}")))
}

async fn execute(ship: &Arc<Ship>, routed: Routed, req: Request<Incoming>) -> Response<Body> {
    let version = routed.version.clone();
    let result = match routed.call {
        Call::Ping => {
            let mut response = Response::new(full("OK"));
            let headers = response.headers_mut();
            headers.insert(
                CONTENT_TYPE,
                HeaderValue::from_static("text/plain; charset=utf-8"),
            );
            headers.insert(
                "cache-control",
                HeaderValue::from_static("no-cache, no-store, must-revalidate"),
            );
            headers.insert("pragma", HeaderValue::from_static("no-cache"));
            headers.insert("builder-version", HeaderValue::from_static("2"));
            Ok(response)
        }
        Call::Version => Ok(json_response(200, &api::version_document(&ship.identity))),
        Call::Info => {
            let (containers, running, images) = ship.with_engine(|e| e.counts(SystemTime::now()));
            Ok(json_response(
                200,
                &api::info_document(&ship.identity, containers, running, images),
            ))
        }
        Call::ContainerList { all, filters } => api::filters(&filters).map(|filters| {
            let list = ship.with_engine(|e| e.list(all, &filters, SystemTime::now()));
            json_response(200, &list)
        }),
        Call::ContainerCreate { name } => match read_body(req.into_body()).await {
            Ok(body) => ship
                .with_engine(|e| e.create(name.as_deref(), &body, SystemTime::now()))
                .map(|reply| json_response(201, &reply)),
            Err(e) => Err(e),
        },
        Call::ContainerInspect { name } => ship
            .with_engine(|e| e.inspect(&name, SystemTime::now()))
            .map(|doc| json_response(200, &doc)),
        Call::ContainerStart { name } => start(ship, &name, version.as_deref(), req).await,
        Call::ContainerStop { name, grace } => stop(ship, &name, grace).await,
        Call::ContainerKill { name, signal } => ship
            .with_engine(|e| e.kill(&name, &signal, SystemTime::now()))
            .map(|()| empty_response(204)),
        Call::ContainerRemove { name, force } => ship
            .with_engine(|e| e.remove(&name, force, SystemTime::now()))
            .map(|()| empty_response(204)),
        Call::ContainerRename { name, to } => ship
            .with_engine(|e| e.rename(&name, &to, SystemTime::now()))
            .map(|()| empty_response(204)),
        Call::ContainerWait { name, condition } => wait(ship, &name, &condition).await,
        Call::ContainerLogs {
            name,
            options,
            follow,
        } => logs(ship, &name, options, follow, version.as_deref()).await,
        Call::ExecCreate { name } => match read_body(req.into_body()).await {
            Ok(body) => ship
                .with_engine(|e| e.exec_create(&name, &body, SystemTime::now()))
                .map(|reply| json_response(201, &reply)),
            Err(e) => Err(e),
        },
        Call::ExecStart { id } => exec_start(ship, &id, version.as_deref(), req).await,
        Call::ExecInspect { id } => ship
            .with_engine(|e| e.exec_inspect(&id, SystemTime::now()))
            .map(|doc| json_response(200, &doc)),
        Call::ImageInspect { name } => ship
            .engine()
            .inspect_image(&name)
            .map(|doc| json_response(200, &doc)),
        Call::ImageList { reference } => Ok(json_response(
            200,
            &ship.engine().list_images(reference.as_deref()),
        )),
        Call::ImagePull { from_image, tag } => ship
            .with_engine(|e| e.pull(&from_image, &tag, SystemTime::now()))
            .map(|messages| {
                let mut text = String::new();
                for message in messages {
                    text.push_str(&message.to_string());
                    text.push_str("\r\n");
                }
                let mut response = Response::new(full(text));
                response
                    .headers_mut()
                    .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
                response
            }),
        Call::NetworkList { filters } => ship
            .with_engine(|e| e.network_list(&filters, SystemTime::now()))
            .map(|list| json_response(200, &list)),
        Call::NetworkCreate => match read_body(req.into_body()).await {
            Ok(body) => ship
                .with_engine(|e| e.network_create(&body, SystemTime::now()))
                .map(|reply| json_response(201, &reply)),
            Err(e) => Err(e),
        },
        Call::NetworkInspect { id } => ship
            .with_engine(|e| e.network_inspect(&id, SystemTime::now()))
            .map(|doc| json_response(200, &doc)),
        Call::NetworkConnect { id } => match read_body(req.into_body()).await {
            Ok(body) => ship
                .with_engine(|e| e.network_connect(&id, &body, SystemTime::now()))
                .map(|()| empty_response(200)),
            Err(e) => Err(e),
        },
        Call::NetworkRemove { id } => ship
            .with_engine(|e| e.network_remove(&id, SystemTime::now()))
            .map(|()| empty_response(204)),
        Call::VolumeList { filters } => ship
            .with_engine(|e| e.volume_list(&filters, SystemTime::now()))
            .map(|list| json_response(200, &list)),
        Call::VolumeCreate => match read_body(req.into_body()).await {
            Ok(body) => ship
                .with_engine(|e| e.volume_create(&body, SystemTime::now()))
                .map(|doc| json_response(201, &doc)),
            Err(e) => Err(e),
        },
        Call::VolumeInspect { name } => ship
            .engine()
            .volume_inspect(&name)
            .map(|doc| json_response(200, &doc)),
        Call::VolumeRemove { name, force } => ship
            .with_engine(|e| e.volume_remove(&name, force, SystemTime::now()))
            .map(|()| empty_response(204)),
        Call::NotFound | Call::BadMethod => Err(ApiError::new(404, "page not found")),
    };
    result.unwrap_or_else(|error| error_response(&error))
}

/// Start: since API 1.24 a host configuration in the body is refused (a
/// body of more than 7 bytes, or one of unknown length).
async fn start(
    ship: &Arc<Ship>,
    name: &str,
    version: Option<&str>,
    req: Request<Incoming>,
) -> Result<Response<Body>, ApiError> {
    let length = req
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let chunked = req.headers().contains_key(TRANSFER_ENCODING);
    let new_api = version.is_none_or(|v| compare_versions(v, "1.24") != std::cmp::Ordering::Less);
    if new_api && (length.is_some_and(|n| n > 7) || (length.is_none() && chunked)) {
        return Err(ApiError::new(
            400,
            "starting container with non-empty request body was deprecated since API v1.22 and removed in v1.24",
        ));
    }
    read_body(req.into_body()).await?;
    let started = ship.with_engine(|e| e.start(name, SystemTime::now()))?;
    Ok(empty_response(if started { 204 } else { 304 }))
}

/// How long to sleep until `at` (zero if it has passed).
fn until(at: SystemTime) -> Duration {
    at.duration_since(SystemTime::now())
        .unwrap_or(Duration::ZERO)
}

async fn stop(
    ship: &Arc<Ship>,
    name: &str,
    grace: Option<i64>,
) -> Result<Response<Body>, ApiError> {
    match ship.with_engine(|e| e.stop(name, grace, SystemTime::now()))? {
        StopOutcome::Stopped => Ok(empty_response(204)),
        StopOutcome::NotRunning => Ok(empty_response(304)),
        StopOutcome::Pending { id, run, deadline } => loop {
            let (done, wake, mut changes) = ship.with_engine(|e| {
                let done = e.finish_stop(&id, run, deadline, SystemTime::now());
                let wake = e.exits_at(&id).map_or(deadline, |at| at.min(deadline));
                (done, wake, ship.changes.subscribe())
            });
            if done? {
                return Ok(empty_response(204));
            }
            tokio::select! {
                _ = tokio::time::sleep(until(wake)) => {}
                _ = changes.changed() => {}
            }
        },
    }
}

/// Wait: like a real engine, the answer's head goes out at once (clients
/// such as `docker run` start the container only after it), the status when
/// the condition holds.
async fn wait(ship: &Arc<Ship>, name: &str, condition: &str) -> Result<Response<Body>, ApiError> {
    let began = ship.with_engine(|e| e.run_state(name, SystemTime::now()))?;
    // A bad condition is refused before anything is sent.
    let first = ship.with_engine(|e| e.wait(name, condition, began, SystemTime::now()))?;
    let (mut sender, body) = Channel::<Bytes, Infallible>::new(1);
    let ship = ship.clone();
    let name = name.to_owned();
    let condition = condition.to_owned();
    tokio::spawn(async move {
        let mut answer = Ok(first);
        loop {
            let reply = match answer {
                Ok(Some(reply)) => reply,
                Ok(None) => {
                    let (wake, mut changes) =
                        ship.with_engine(|e| (e.next_deadline(), ship.changes.subscribe()));
                    let sleep = wake.map_or(Duration::from_secs(3600), until);
                    tokio::select! {
                        _ = tokio::time::sleep(sleep) => {}
                        _ = changes.changed() => {}
                    }
                    answer =
                        ship.with_engine(|e| e.wait(&name, &condition, began, SystemTime::now()));
                    continue;
                }
                // Removed while waited for (not-running, next-exit).
                Err(error) => {
                    serde_json::json!({"Error": {"Message": error.message}, "StatusCode": -1})
                }
            };
            let mut text = reply.to_string();
            text.push('\n');
            let _ = sender.send_data(Bytes::from(text)).await;
            return;
        }
    });
    let mut response = Response::new(body.map_err(|never| match never {}).boxed());
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Ok(response)
}

async fn logs(
    ship: &Arc<Ship>,
    name: &str,
    options: LogOptions,
    follow: bool,
    version: Option<&str>,
) -> Result<Response<Body>, ApiError> {
    let first = ship.with_engine(|e| e.logs(name, &options, None, SystemTime::now()))?;
    let tty = ship.with_engine(|e| e.inspect(name, SystemTime::now()))?["Config"]["Tty"].as_bool()
        == Some(true);
    let content_type = HeaderValue::from_static(stream_type(version, tty));
    if !follow || !first.running {
        let mut response = Response::new(full(first.bytes));
        response.headers_mut().insert(CONTENT_TYPE, content_type);
        return Ok(response);
    }
    let (mut sender, body) = Channel::<Bytes, Infallible>::new(16);
    let ship = ship.clone();
    let name = name.to_owned();
    tokio::spawn(async move {
        let mut chunk = first;
        loop {
            if !chunk.bytes.is_empty() && sender.send_data(Bytes::from(chunk.bytes)).await.is_err()
            {
                return;
            }
            if !chunk.running {
                return;
            }
            let mut changes = ship.changes.subscribe();
            let wake = ship.with_engine(|e| e.next_deadline());
            let wake = match (wake, chunk.next_line_at) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            tokio::select! {
                _ = tokio::time::sleep(wake.map_or(Duration::from_secs(3600), until)) => {}
                _ = changes.changed() => {}
            }
            let position = chunk.position;
            match ship.with_engine(|e| e.logs(&name, &options, Some(position), SystemTime::now())) {
                Ok(next) => chunk = next,
                // Removed while followed: the stream ends.
                Err(_) => return,
            }
        }
    });
    let mut response = Response::new(body.map_err(|never| match never {}).boxed());
    response.headers_mut().insert(CONTENT_TYPE, content_type);
    Ok(response)
}

async fn exec_start(
    ship: &Arc<Ship>,
    id: &str,
    version: Option<&str>,
    mut req: Request<Incoming>,
) -> Result<Response<Body>, ApiError> {
    let upgrade_wanted = req.headers().contains_key(UPGRADE);
    let on_upgrade = hyper::upgrade::on(&mut req);
    let body = read_body(req.into_body()).await?;
    let request: Value = if body.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&body)
            .map_err(|e| ApiError::new(400, format!("invalid JSON: {e}")))?
    };
    let detach = request["Detach"].as_bool().unwrap_or(false);
    let tty = request["Tty"].as_bool().unwrap_or(false);
    let output = ship.with_engine(|e| e.exec_start(id, SystemTime::now()))?;
    if detach {
        return Ok(empty_response(200));
    }
    if upgrade_wanted {
        tokio::spawn(async move {
            if let Ok(upgraded) = on_upgrade.await {
                let mut io = TokioIo::new(upgraded);
                let _ = io.write_all(&output).await;
                let _ = io.shutdown().await;
            }
        });
        let mut response = empty_response(101);
        let headers = response.headers_mut();
        headers.insert(CONNECTION, HeaderValue::from_static("Upgrade"));
        headers.insert(UPGRADE, HeaderValue::from_static("tcp"));
        headers.insert(
            CONTENT_TYPE,
            HeaderValue::from_static(stream_type(version, tty)),
        );
        return Ok(response);
    }
    let mut response = Response::new(full(output));
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static(stream_type(version, tty)),
    );
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn faults_parse() {
        assert_eq!("refuse".parse(), Ok(Fault::Refuse));
        assert_eq!("500".parse(), Ok(Fault::Error500));
        assert_eq!("hang".parse(), Ok(Fault::Hang));
        assert_eq!("none".parse(), Ok(Fault::None));
        assert!("boom".parse::<Fault>().is_err());
        assert_eq!(Fault::Error500.name(), "500");
    }

    #[test]
    fn ships_are_laid_out_on_ports_or_addresses() {
        let mut config = SimConfig {
            base_port: 30000,
            ..SimConfig::default()
        };
        assert_eq!(
            ship_addr(&config, 5).unwrap(),
            "127.0.0.1:30005".parse().unwrap()
        );
        config.layout = Layout::Addresses;
        config.base_port = 2375;
        assert_eq!(
            ship_addr(&config, 5).unwrap(),
            "127.0.0.6:2375".parse().unwrap()
        );
        config.layout = Layout::Ports;
        config.base_port = 65535;
        assert!(ship_addr(&config, 1).is_err());
    }
}
