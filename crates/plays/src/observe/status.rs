//! `status`: what each selected container's engine says about it, read off
//! one snapshot (a list per ship, all ships at once), an unreachable ship
//! reported as `host down` within its own timeout without holding up the
//! others. With `full`, the image and whether each named TCP port accepts
//! connections.

use std::collections::BTreeSet;
use std::time::Duration;

use futures_util::future::join_all;
use maestro_config::{Container, Environment, Protocol};

use crate::observe::fleet::Fleet;
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
}

/// How many ports `status -F` probes at once when `-c` does not say.
pub const DEFAULT_CONCURRENCY: usize = 256;

/// The status of each container, in the order given: one list of each
/// ship's containers, all ships at once (an inspect only for a container
/// that is restarting, for its restart count); with `full`, the named TCP
/// ports probed, at most `concurrency` containers at once
/// ([`DEFAULT_CONCURRENCY`] when `None`).
pub async fn status(
    env: &Environment,
    fleet: &Fleet,
    containers: &[&Container],
    full: bool,
    concurrency: Option<usize>,
) -> Vec<StatusRow> {
    let ships: BTreeSet<String> = containers.iter().map(|c| c.ship.clone()).collect();
    let mut snapshot = snapshot::observe(fleet, &ships, containers, &Wants::default()).await;
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
    join_all(containers.iter().map(|c| async {
        let mut row = row(c, snapshot);
        if full {
            let _permit = slots.acquire().await.ok();
            row.ports = Box::pin(probe(env, fleet, c, &row.state)).await;
        }
        row
    }))
    .await
}

/// A container's row, from the snapshot.
fn row(c: &Container, snapshot: &Snapshot) -> StatusRow {
    let mut row = StatusRow {
        state: ContainerState::Absent,
        image: None,
        image_id: None,
        ports: Vec::new(),
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
    let id: String = seen.id.chars().take(12).collect();
    row.state = match &seen.state {
        SeenState::Restarting { exit_code } => ContainerState::Restarting {
            id,
            // The list's, taken as it was restarting (the inspect after it
            // may find it running again, its exit status reset).
            exit_code: *exit_code,
            restarts: snapshot
                .inspected(c)
                .and_then(|f| f.restart_count)
                .unwrap_or(0),
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
    };
    row.image = seen.image.clone();
    row.image_id = seen
        .image_id
        .as_deref()
        .map(|id| id.trim_start_matches("sha256:").chars().take(12).collect());
    row
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
