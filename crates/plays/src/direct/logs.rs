//! `logs`: a container's output, its last lines or followed — and, when it
//! is followed, through its restarts and replacements (a new container of
//! the same name is followed from its start). The lines go to a sink the
//! caller gives (the command line prints them); the sink returning `false`
//! ends it (the reader went away).

use std::fmt;
use std::time::Duration;

use futures_util::StreamExt;
use maestro_config::Container;
use maestro_engine::{Engine, EngineError, LogLine};

use crate::observe::fleet::Fleet;

/// How often a followed container that is not running is looked at again.
const POLL: Duration = Duration::from_millis(500);

/// Why the logs could not be read.
#[derive(Debug, Clone, PartialEq)]
pub enum LogsError {
    /// The container does not exist on its ship.
    Missing {
        name: String,
        ship: String,
        /// Whether it is the environment's proxy (made by `up`).
        proxy: bool,
    },
    Engine(EngineError),
}

impl fmt::Display for LogsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LogsError::Missing {
                name,
                ship,
                proxy: false,
            } => {
                write!(f, "{name} does not exist on ship {ship}; start it first")
            }
            LogsError::Missing {
                name,
                ship,
                proxy: true,
            } => write!(
                f,
                "the proxy {name} does not exist on ship {ship}; `maestro up` makes it"
            ),
            LogsError::Engine(e) => write!(f, "{e}"),
        }
    }
}

impl LogsError {
    /// `c` does not exist on its ship.
    pub fn missing(c: &Container) -> LogsError {
        LogsError::Missing {
            name: c.name.clone(),
            ship: c.ship.clone(),
            proxy: super::is_proxy(c),
        }
    }
}

impl From<EngineError> for LogsError {
    fn from(e: EngineError) -> LogsError {
        LogsError::Engine(e)
    }
}

async fn engine_with(fleet: &Fleet, c: &Container) -> Result<std::sync::Arc<Engine>, LogsError> {
    let engine = fleet.engine(&c.ship).await?;
    if engine.inspect_container(&c.name).await?.is_none() {
        return Err(LogsError::missing(c));
    }
    Ok(engine)
}

/// The last `lines` lines (all with `None`) of `c`, each given to `sink`;
/// an answer cut midway gives the lines read, then the error.
pub async fn tail(
    fleet: &Fleet,
    c: &Container,
    lines: Option<u64>,
    mut sink: impl FnMut(&LogLine) -> bool,
) -> Result<(), LogsError> {
    let engine = engine_with(fleet, c).await?;
    let (lines, error) = engine.logs_until_cut(&c.name, lines).await;
    for line in &lines {
        if !sink(line) {
            break;
        }
    }
    match error {
        Some(e) => Err(e.into()),
        None => Ok(()),
    }
}

/// Follows `c` from its last `lines` lines: when it ends, waits for it (or
/// a new container of its name) to run again and carries on with only new
/// output. Ends when `sink` returns `false`, or on an engine error.
pub async fn follow(
    fleet: &Fleet,
    c: &Container,
    lines: Option<u64>,
    mut sink: impl FnMut(&LogLine) -> bool,
) -> Result<(), LogsError> {
    let engine = engine_with(fleet, c).await?;
    let name = c.name.as_str();
    let mut tail = lines;
    let mut seen_id: Option<String> = None;
    loop {
        let found = engine.inspect_container(name).await?;
        let id = found.as_ref().and_then(|f| f.id.clone());
        let running = found
            .as_ref()
            .and_then(|f| f.state.as_ref())
            .and_then(|s| s.running)
            .unwrap_or(false);
        let fresh = id.is_some() && id != seen_id;
        if !(running || fresh) {
            tokio::time::sleep(POLL).await;
            continue;
        }
        let mut stream = Box::pin(engine.follow_logs(name, tail));
        while let Some(item) = stream.next().await {
            if !sink(&item?) {
                return Ok(());
            }
        }
        seen_id = id;
        // From now on only new output, once it runs again.
        tail = Some(0);
        loop {
            tokio::time::sleep(POLL).await;
            let again = engine.inspect_container(name).await?;
            if again
                .and_then(|f| f.state)
                .and_then(|s| s.running)
                .unwrap_or(false)
            {
                break;
            }
        }
    }
}
