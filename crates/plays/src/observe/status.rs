//! `status`: what each selected container's engine says about it, read off
//! one snapshot (a list per ship, all ships at once), an unreachable ship
//! reported as `host down` within its own timeout without holding up the
//! others. With `full`, the image and whether each named TCP port accepts
//! connections. For a selected container of a service behind the proxy,
//! its ship's proxy too: its state, what it routes to, and whether each
//! such container is routed (see [`crate::observe::proxy`]).

use std::collections::BTreeSet;
use std::time::Duration;

use futures_util::future::join_all;
use maestro_config::{Container, Environment, Protocol};

use crate::observe::fleet::Fleet;
use crate::observe::proxy::{self, Routes, Wanted};
use crate::observe::snapshot::{self, Seen, SeenState, Snapshot, Wants};

/// A container's state as its engine reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContainerState {
    Running {
        id: String,
        since: Option<String>,
    },
    Stopped {
        id: String,
        since: Option<String>,
        exit_code: i64,
        /// Created but never started (the engine says `Created`): it has
        /// no exit status of its own.
        never_started: bool,
    },
    /// It exited and its restart policy is about to start it again (a crash
    /// loop when it keeps doing so).
    Restarting {
        id: String,
        exit_code: i64,
        restarts: i64,
    },
    Absent,
    /// The ship's engine could not be reached within its timeout.
    HostDown(String),
    /// The engine answered with an error.
    Error(String),
    /// The ship's SSH host key is not trusted: nothing was asked of it.
    Untrusted(String),
}

impl ContainerState {
    /// `host down` when the ship is out of reach, else the engine's error.
    fn from_error(e: &maestro_engine::EngineError) -> ContainerState {
        if matches!(e, maestro_engine::EngineError::HostKey { .. }) {
            ContainerState::Untrusted(e.to_string())
        } else if e.is_host_down() {
            ContainerState::HostDown(e.to_string())
        } else {
            ContainerState::Error(e.to_string())
        }
    }
}

/// A named port and whether it accepts TCP connections (`None`: not checked).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortProbe {
    pub name: String,
    pub external: String,
    pub open: Option<bool>,
}

/// One line of `status`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusRow {
    pub state: ContainerState,
    /// The image the container runs (as created), with `full`.
    pub image: Option<String>,
    /// The image id (short), with `full`.
    pub image_id: Option<String>,
    /// With `full`: the named ports.
    pub ports: Vec<PortProbe>,
    /// Whether its ship's proxy sends it requests.
    pub routing: Routing,
}

/// Whether a container's ship's proxy sends it requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Routing {
    /// Its service has no `proxy:`.
    NotProxied,
    Routed,
    NotRouted,
    /// The proxy's routes could not be read (its line says why).
    Unknown,
}

/// A ship's proxy, as `status` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyStatus {
    pub ship: String,
    /// `ENV-proxy`.
    pub name: String,
    pub state: ContainerState,
    pub routes: Routes,
}

/// What `status` saw: a row per container, in the order given, and the
/// proxy of each ship hosting one of them behind the proxy (by ship).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    pub rows: Vec<StatusRow>,
    pub proxies: Vec<ProxyStatus>,
}

/// How many ports `status -F` probes at once when `-c` does not say.
pub const DEFAULT_CONCURRENCY: usize = 256;

/// The status of each container, in the order given: one list of each
/// ship's containers, all ships at once (an inspect only for a container
/// that is restarting, for its restart count); with `full`, the named TCP
/// ports probed, at most `concurrency` containers at once
/// ([`DEFAULT_CONCURRENCY`] when `None`). When a container of a service
/// behind the proxy is among them, its ship's proxy is listed in the same
/// list and, when it runs, asked for its upstreams (one command run in it);
/// otherwise nothing more is asked.
pub async fn status(
    env: &Environment,
    fleet: &Fleet,
    containers: &[&Container],
    full: bool,
    concurrency: Option<usize>,
) -> Status {
    let ships: BTreeSet<String> = containers.iter().map(|c| c.ship.clone()).collect();
    let wanted = proxy::wanted(env, containers);
    let wants = Wants {
        also: wanted.as_ref().map(|w| w.also.clone()).unwrap_or_default(),
        addresses_on: wanted.as_ref().map(|w| w.name.clone()),
        ..Wants::default()
    };
    let mut snapshot = snapshot::observe(fleet, &ships, containers, &wants).await;
    let restarting: Vec<(String, String)> = containers
        .iter()
        .filter(|c| {
            matches!(
                snapshot.seen(c),
                Ok(Some(Seen {
                    state: SeenState::Restarting { .. },
                    ..
                }))
            )
        })
        .map(|c| (c.ship.clone(), c.name.clone()))
        .collect();
    if !restarting.is_empty() {
        snapshot::inspect_more(fleet, &mut snapshot, &restarting).await;
    }
    let slots = crate::slots(concurrency.or(Some(DEFAULT_CONCURRENCY)));
    let snapshot = &snapshot;
    let rows = join_all(containers.iter().map(|c| async {
        let mut row = row(c, snapshot);
        if full {
            let _permit = slots.acquire().await.ok();
            row.ports = Box::pin(probe(env, fleet, c, &row.state)).await;
        }
        row
    }));
    let proxies = async {
        match &wanted {
            Some(wanted) => proxies(fleet, snapshot, wanted).await,
            None => Vec::new(),
        }
    };
    let (mut rows, proxies) = tokio::join!(rows, proxies);
    for (c, row) in containers.iter().zip(rows.iter_mut()) {
        if wanted.is_some() {
            row.routing = routing(env, c, &proxies);
        }
    }
    Status { rows, proxies }
}

/// Whether `c` is routed by its ship's proxy.
fn routing(env: &Environment, c: &Container, proxies: &[ProxyStatus]) -> Routing {
    if !proxy::proxied(env, c) {
        return Routing::NotProxied;
    }
    let known = proxies
        .iter()
        .find(|p| p.ship == c.ship)
        .and_then(|p| p.routes.routes_to(&c.name));
    match known {
        Some(true) => Routing::Routed,
        Some(false) => Routing::NotRouted,
        None => Routing::Unknown,
    }
}

/// Each wanted ship's proxy, all ships at once.
async fn proxies(fleet: &Fleet, snapshot: &Snapshot, wanted: &Wanted) -> Vec<ProxyStatus> {
    join_all(
        wanted
            .ships
            .iter()
            .map(|ship| proxy_status(fleet, snapshot, wanted, ship)),
    )
    .await
}

/// A ship's proxy: its state off the snapshot and, when it runs, its
/// upstreams named by the containers listed with it. A proxy that cannot
/// be read is shown so, never an error of `status`.
async fn proxy_status(
    fleet: &Fleet,
    snapshot: &Snapshot,
    wanted: &Wanted,
    ship: &str,
) -> ProxyStatus {
    let view = snapshot.ship(ship);
    let state = match view {
        Ok(view) => match view.containers.get(&wanted.name) {
            Some(seen) => state_of(seen, 0),
            None => ContainerState::Absent,
        },
        Err(e) => ContainerState::from_error(e),
    };
    let routes = match (&state, view) {
        (ContainerState::Running { .. }, Ok(view)) => {
            let read = match fleet.engine(ship).await {
                Ok(engine) => proxy::upstreams(&engine, &wanted.name)
                    .await
                    .map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            };
            match read {
                Ok(upstreams) => Routes::Read(proxy::map_upstreams(&upstreams, &view.addresses)),
                Err(e) => Routes::Unknown(e),
            }
        }
        (
            ContainerState::Absent
            | ContainerState::Stopped { .. }
            | ContainerState::Restarting { .. },
            _,
        ) => Routes::NotRunning,
        (_, Err(e)) => Routes::Unknown(e.to_string()),
        (_, Ok(_)) => Routes::Unknown("its state is not known".into()),
    };
    ProxyStatus {
        ship: ship.to_owned(),
        name: wanted.name.clone(),
        state,
        routes,
    }
}

/// A container's row, from the snapshot.
fn row(c: &Container, snapshot: &Snapshot) -> StatusRow {
    let mut row = StatusRow {
        state: ContainerState::Absent,
        image: None,
        image_id: None,
        ports: Vec::new(),
        routing: Routing::NotProxied,
    };
    let seen = match snapshot.seen(c) {
        // A one-off (`maestro run`) under an instance's name is not it.
        Ok(Some(seen)) if seen.one_off => return row,
        Ok(Some(seen)) => seen,
        Ok(None) => return row,
        Err(e) => {
            row.state = ContainerState::from_error(e);
            return row;
        }
    };
    let restarts = snapshot
        .inspected(c)
        .and_then(|f| f.restart_count)
        .unwrap_or(0);
    row.state = state_of(seen, restarts);
    row.image = seen.image.clone();
    row.image_id = seen
        .image_id
        .as_deref()
        .map(|id| id.trim_start_matches("sha256:").chars().take(12).collect());
    row
}

/// A listed container's state (`restarts`: how often it was restarted,
/// when it was inspected).
fn state_of(seen: &Seen, restarts: i64) -> ContainerState {
    let id: String = seen.id.chars().take(12).collect();
    match &seen.state {
        SeenState::Restarting { exit_code } => ContainerState::Restarting {
            id,
            // The list's, taken as it was restarting (the inspect after it
            // may find it running again, its exit status reset).
            exit_code: *exit_code,
            restarts,
        },
        SeenState::Running | SeenState::Paused => ContainerState::Running {
            id,
            since: seen.since(),
        },
        SeenState::Stopped {
            exit_code,
            never_started,
        } => ContainerState::Stopped {
            id,
            since: seen.since(),
            exit_code: *exit_code,
            never_started: *never_started,
        },
        SeenState::Gone => ContainerState::Stopped {
            id,
            since: None,
            exit_code: 0,
            never_started: false,
        },
    }
}

/// Whether each named port of `c` accepts TCP connections (UDP: not checked).
async fn probe(
    env: &Environment,
    fleet: &Fleet,
    c: &Container,
    state: &ContainerState,
) -> Vec<PortProbe> {
    let running = matches!(state, ContainerState::Running { .. });
    let ip = env.ships.get(&c.ship).map(|s| s.ip.as_str()).unwrap_or("");
    let limit = match fleet.engine(&c.ship).await {
        Ok(engine) => engine.timeout().min(Duration::from_secs(2)),
        Err(_) => Duration::from_secs(2),
    };
    join_all(c.ports.iter().map(|(name, port)| async move {
        let open = match port.external.protocol {
            Protocol::Udp => None,
            Protocol::Tcp if !running => Some(false),
            Protocol::Tcp => Some(
                tokio::time::timeout(
                    limit,
                    tokio::net::TcpStream::connect((ip, port.external.first)),
                )
                .await
                .map(|r| r.is_ok())
                .unwrap_or(false),
            ),
        };
        PortProbe {
            name: name.clone(),
            external: port.external.to_string(),
            open,
        }
    }))
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observe::snapshot::ShipView;

    fn env() -> Environment {
        let source = maestro_config::Source {
            name: "t.yaml".into(),
            base_dir: ".".into(),
            text: "
name: t
ships: {a: {ip: 10.0.0.1}}
services:
  web: {image: box, instances: {web-1: {ship: a}, web-2: {ship: a}}}
"
            .into(),
        };
        maestro_config::load(&source, &Default::default()).expect("valid")
    }

    fn seen(one_off: bool) -> Seen {
        Seen {
            id: "0123456789abcdef".into(),
            state: SeenState::Running,
            status: "Up 3 minutes".into(),
            image: Some("box".into()),
            image_id: None,
            spec_hash: None,
            environment: Some("t".into()),
            one_off,
        }
    }

    #[test]
    fn a_one_off_is_not_shown_as_an_instance() {
        let env = env();
        let mut view = ShipView::default();
        view.containers.insert("web-1".into(), seen(false));
        view.containers.insert("web-2".into(), seen(true));
        let snapshot = Snapshot {
            ships: std::collections::HashMap::from([("a".to_owned(), Ok(view))]),
            objects: Default::default(),
        };
        let one = row(&env.containers["web-1"], &snapshot);
        assert!(
            matches!(one.state, ContainerState::Running { .. }),
            "{one:?}"
        );
        let two = row(&env.containers["web-2"], &snapshot);
        assert_eq!(two.state, ContainerState::Absent);
    }
}
