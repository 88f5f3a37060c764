//! `logs` of several containers (a service's instances, or several things):
//! their lines merged — read whole, in the order the engines took them down;
//! followed, as they come — each given to the caller with the index of its
//! container. A followed container is followed across ships and through its
//! restarts and replacements: after a restart only the lines after the last
//! one given, from a new container of its name all its lines; one that does
//! not exist yet is waited for. A container that cannot be read does not
//! stop the others: its error goes to the caller, with its index.

use std::time::Duration;

use futures_util::stream::FuturesUnordered;
use futures_util::StreamExt;
use maestro_config::Container;
use maestro_engine::{LogLine, LogsFrom, StampedLine};
use tokio::sync::mpsc;

use crate::direct::logs::LogsError;
use crate::observe::fleet::Fleet;

/// How often a followed container that is not running is looked at again.
const POLL: Duration = Duration::from_millis(500);

/// Lines passed from the followers to the caller, at most this many waiting.
const BACKLOG: usize = 1024;

/// The lines `from` asks for of each of `containers` (`tail` counts per
/// container), merged by the engines' timestamps, each given to `sink` with
/// its container's index until `sink` returns `false`. The containers that
/// could not be read, with why (their lines read before a failure are given).
pub async fn tail_merged(
    fleet: &Fleet,
    containers: &[&Container],
    from: LogsFrom,
    mut sink: impl FnMut(usize, &LogLine) -> bool,
) -> Vec<(usize, LogsError)> {
    let reads = containers.iter().map(|c| read_stamped(fleet, c, from));
    let results = futures_util::future::join_all(reads).await;
    let mut errors = Vec::new();
    let mut merged: Vec<(i128, usize, StampedLine)> = Vec::new();
    for (index, (lines, error)) in results.into_iter().enumerate() {
        merged.extend(lines.into_iter().map(|l| (l.nanos, index, l)));
        if let Some(e) = error {
            errors.push((index, e));
        }
    }
    // Stable: lines of one container with the same time keep their order.
    merged.sort_by_key(|(nanos, index, _)| (*nanos, *index));
    for (_, index, stamped) in &merged {
        if !sink(*index, &stamped.line) {
            break;
        }
    }
    errors
}

async fn read_stamped(
    fleet: &Fleet,
    c: &Container,
    from: LogsFrom,
) -> (Vec<StampedLine>, Option<LogsError>) {
    let engine = match fleet.engine(&c.ship).await {
        Ok(engine) => engine,
        Err(e) => return (Vec::new(), Some(e.into())),
    };
    match engine.inspect_container(&c.name).await {
        Ok(Some(_)) => {}
        Ok(None) => {
            return (Vec::new(), Some(LogsError::missing(c)));
        }
        Err(e) => return (Vec::new(), Some(e.into())),
    }
    let (lines, error) = engine.logs_stamped(&c.name, from).await;
    (lines, error.map(LogsError::from))
}

/// Follows every one of `containers` from `from` on, each line given to
/// `sink` with its container's index as it comes; a container that can no
/// longer be followed goes to `failed` (the others go on). Ends when `sink`
/// returns `false`, or once every container has failed.
pub async fn follow_merged(
    fleet: &Fleet,
    containers: &[&Container],
    from: LogsFrom,
    mut sink: impl FnMut(usize, &LogLine) -> bool,
    mut failed: impl FnMut(usize, &LogsError),
) {
    let (tx, mut rx) = mpsc::channel::<(usize, LogLine)>(BACKLOG);
    let mut followers: FuturesUnordered<_> = containers
        .iter()
        .enumerate()
        .map(|(index, c)| {
            let tx = tx.clone();
            async move { (index, follow_one(fleet, c, from, index, tx).await) }
        })
        .collect();
    drop(tx);
    loop {
        tokio::select! {
            Some((index, line)) = rx.recv() => {
                if !sink(index, &line) {
                    return;
                }
            }
            Some((index, result)) = followers.next() => {
                if let Err(e) = result {
                    failed(index, &e);
                }
            }
            else => return,
        }
    }
}

/// What a follower knows of the container it follows.
#[derive(Default)]
struct Followed {
    /// The id of the container whose logs were read last.
    id: Option<String>,
    /// The time of the last line given (nanoseconds since the epoch).
    last: Option<i128>,
}

/// Follows `c` for ever (until the receiver goes away, or an engine error).
async fn follow_one(
    fleet: &Fleet,
    c: &Container,
    first: LogsFrom,
    index: usize,
    tx: mpsc::Sender<(usize, LogLine)>,
) -> Result<(), LogsError> {
    let engine = fleet.engine(&c.ship).await?;
    let mut followed = Followed::default();
    loop {
        let found = engine.inspect_container(&c.name).await?;
        let Some((id, running, started)) = found.and_then(|f| {
            let state = f.state?;
            Some((f.id?, state.running.unwrap_or(false), state.started_at))
        }) else {
            tokio::time::sleep(POLL).await;
            continue;
        };
        let same = followed.id.as_deref() == Some(id.as_str());
        if same && !running {
            tokio::time::sleep(POLL).await;
            continue;
        }
        // Lines at or before `cutoff` were given already.
        let (from, cutoff) = match (&followed.id, same) {
            (None, _) => (first, None),
            (Some(_), true) => {
                let started = started
                    .as_deref()
                    .and_then(maestro_engine::parse_rfc3339)
                    .map(|n| n - 1);
                let cutoff = followed.last.or(started);
                let since = cutoff.map(|n| i64::try_from(n / 1_000_000_000).unwrap_or(0));
                (LogsFrom { tail: None, since }, cutoff)
            }
            (Some(_), false) => (LogsFrom::default(), None),
        };
        let mut stream = Box::pin(engine.follow_stamped(&c.name, from));
        while let Some(item) = stream.next().await {
            let stamped = item?;
            if cutoff.is_some_and(|cut| stamped.nanos <= cut) {
                continue;
            }
            followed.last = Some(stamped.nanos);
            if tx.send((index, stamped.line)).await.is_err() {
                return Ok(());
            }
        }
        followed.id = Some(id);
    }
}
