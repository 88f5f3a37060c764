//! Observing the fleet once: per ship, one list of its containers (running
//! or not, by name — containers MaestroNG made carry no maestro label — or,
//! for orphans or past [`BY_NAME`] containers, all of them)
//! and one inspect of each image the play's containers use, all ships in
//! parallel, into an immutable [`Snapshot`]. Only what a decision really
//! needs beyond that is inspected (a container whose spec hash does not
//! match, for `up`; a restarting one, for `status`), in a second round.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use futures_util::future::join_all;
use maestro_config::Container;
use maestro_engine::models::{ContainerInspectResponse, ContainerSummary, ImageInspect};
use maestro_engine::{Engine, EngineError};

use crate::labels::{LABEL_ENVIRONMENT, LABEL_ONEOFF, LABEL_PROXY, LABEL_SPEC_HASH};
use crate::observe::fleet::Fleet;

/// A container's state as the engine's list gives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SeenState {
    Running,
    /// Exited (with that status) and about to be started again by its
    /// restart policy.
    Restarting {
        exit_code: i64,
    },
    Paused,
    /// Created or exited, with the exit status the engine gave (0 when it
    /// never ran).
    Stopped {
        exit_code: i64,
        /// Created, never started (the engine's state `created`).
        never_started: bool,
    },
    /// Being removed, or dead: neither running nor usable.
    Gone,
}

/// One container of a ship's list, kept small (a fleet's lists are held
/// for the whole play).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seen {
    pub id: String,
    pub state: SeenState,
    /// The engine's own words (`Up 3 minutes`, `Exited (1) 2 hours ago`).
    pub status: String,
    /// The image as the container was created from it, and its id.
    pub image: Option<String>,
    pub image_id: Option<String>,
    /// maestro's spec hash label, when maestro made it.
    pub spec_hash: Option<String>,
    /// maestro's environment label, when maestro made it.
    pub environment: Option<String>,
    /// A one-off container (`maestro run`, a deploy hook) or the
    /// environment's proxy: never an instance, never an orphan.
    pub one_off: bool,
}

impl Seen {
    pub fn running(&self) -> bool {
        matches!(
            self.state,
            SeenState::Running | SeenState::Restarting { .. } | SeenState::Paused
        )
    }

    /// How long it has been up or down (`3m`, as [`crate::timefmt`]
    /// writes durations), read off the engine's words (`Up 3 minutes`),
    /// when its status says.
    pub fn since(&self) -> Option<String> {
        self.since_words().as_deref().and_then(short_from_words)
    }

    /// How long it has been up at least, read off the engine's words
    /// (`Up 3 minutes`: 180 s; `Up About a minute`: 60 s); `None` when it
    /// is not up or the words say no duration.
    pub fn up_for_at_least(&self) -> Option<std::time::Duration> {
        if !self.status.trim().starts_with("Up ") {
            return None;
        }
        let words = self.since_words()?;
        let (count, unit) = count_and_unit(&words)?;
        let seconds = match unit {
            "second" => 1,
            "minute" => 60,
            "hour" => 3_600,
            "day" => 86_400,
            "week" => 604_800,
            "month" => 2_592_000,
            "year" => 31_536_000,
            _ => return None,
        };
        Some(std::time::Duration::from_secs(
            count.saturating_mul(seconds),
        ))
    }

    fn since_words(&self) -> Option<String> {
        let text = self.status.trim();
        let rest = if let Some(up) = text.strip_prefix("Up ") {
            // `Up 3 minutes (healthy)`, `Up 2 hours (Paused)`.
            up.split(" (").next().unwrap_or(up)
        } else if let Some(exited) = text.strip_prefix("Exited (") {
            let after = exited.split_once(") ").map(|(_, t)| t).unwrap_or("");
            after.strip_suffix(" ago").unwrap_or(after)
        } else {
            return None;
        };
        let rest = rest.trim();
        (!rest.is_empty()).then(|| rest.to_lowercase())
    }

    /// The container of one list entry; `None` when the entry lacks its
    /// name, id or state (an answer of the wrong shape: taking the
    /// container for absent would act on a guess).
    fn from_summary(summary: &ContainerSummary) -> Option<(String, Seen)> {
        let name = summary
            .names
            .as_ref()?
            .iter()
            // A linked container is also listed under `/other/alias`.
            .find(|n| n.trim_start_matches('/').find('/').is_none())?
            .trim_start_matches('/')
            .to_owned();
        if summary.id.as_deref().unwrap_or_default().is_empty() || summary.state.is_none() {
            return None;
        }
        let status = summary.status.clone().unwrap_or_default();
        let state = match summary.state.map(|s| s.to_string()).as_deref() {
            Some("running") => SeenState::Running,
            Some("restarting") => SeenState::Restarting {
                exit_code: exit_code_in(&status).unwrap_or(0),
            },
            Some("paused") => SeenState::Paused,
            Some("removing") | Some("dead") => SeenState::Gone,
            other => SeenState::Stopped {
                exit_code: exit_code_in(&status).unwrap_or(0),
                never_started: other == Some("created"),
            },
        };
        let label = |key: &str| summary.labels.as_ref().and_then(|l| l.get(key)).cloned();
        Some((
            name,
            Seen {
                id: summary.id.clone().unwrap_or_default(),
                state,
                status,
                image: summary.image.clone(),
                image_id: summary.image_id.clone(),
                spec_hash: label(LABEL_SPEC_HASH),
                environment: label(LABEL_ENVIRONMENT),
                // The environment's proxy is nobody's instance either.
                one_off: label(LABEL_ONEOFF).is_some() || label(LABEL_PROXY).is_some(),
            },
        ))
    }
}

/// The engine's human duration (`less than a second`, `about a minute`,
/// `3 hours`, `2 weeks`) as maestro writes durations (`0s`, `1m`, `3h`, `14d`).
fn short_from_words(words: &str) -> Option<String> {
    let words = words.trim().to_lowercase();
    let (count, unit) = count_and_unit(&words)?;
    Some(match unit {
        "second" => format!("{count}s"),
        "minute" => format!("{count}m"),
        "hour" => format!("{count}h"),
        "day" => format!("{count}d"),
        "week" => format!("{}d", count * 7),
        "month" => format!("{}d", count * 30),
        "year" => format!("{}d", count * 365),
        _ => return None,
    })
}

/// `3 hours` → (3, `hour`); `about a minute` → (1, `minute`); `less than
/// a second` → (0, `second`). `words` is lower-case.
fn count_and_unit(words: &str) -> Option<(u64, &str)> {
    if words == "less than a second" {
        return Some((0, "second"));
    }
    let (count, unit) = match words.split_once(' ')? {
        ("about", rest) => (1, rest.trim_start_matches("an ").trim_start_matches("a ")),
        ("a" | "an", rest) => (1, rest),
        (n, rest) => (n.parse::<u64>().ok()?, rest),
    };
    Some((count, unit.trim_end_matches('s')))
}

/// `Exited (137) 5 minutes ago`, `Restarting (1) 2 seconds ago`: 137, 1.
fn exit_code_in(status: &str) -> Option<i64> {
    let (_, after) = status.split_once('(')?;
    let (code, _) = after.split_once(')')?;
    code.trim().parse().ok()
}

/// What one ship's engine has.
#[derive(Debug, Clone, Default)]
pub struct ShipView {
    /// Every container of the ship, by name.
    pub containers: HashMap<String, Seen>,
    /// Each image the play needs, as the ship has it (`None`: missing).
    pub images: HashMap<String, Option<Arc<ImageInspect>>>,
    /// Containers inspected because a decision needs their whole description.
    pub inspected: HashMap<String, Arc<ContainerInspectResponse>>,
    /// With [`Wants::addresses_on`]: each listed container's IP address on
    /// that network, by name (running ones: a stopped container has none).
    pub addresses: HashMap<String, String>,
}

/// What every ship the play touches has, taken once; an unreachable ship
/// holds its error.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    pub ships: HashMap<String, Result<ShipView, EngineError>>,
    /// The networks and volumes the play's containers need, per ship.
    pub objects: crate::observe::objects::Objects,
}

/// What to observe beyond the play's own containers.
#[derive(Debug, Clone, Default)]
pub struct Wants {
    /// Inspect the images the containers use, per ship.
    pub images: bool,
    /// List every container of each ship (for orphans), not only those
    /// named in the play.
    pub everything: bool,
    /// Each container's kept previous one too (`NAME.previous`).
    pub previous: bool,
    /// More containers to list, by ship (the environment's proxy and its
    /// other proxied containers, for `status`), in the same list.
    pub also: HashMap<String, Vec<String>>,
    /// Read each listed container's IP address on this network (the
    /// proxy's) off the list: no more calls.
    pub addresses_on: Option<String>,
}

/// Up to this many containers of a ship are listed by name (the ship's
/// other containers, however many, are not sent); more, and the whole list.
const BY_NAME: usize = 100;

impl Snapshot {
    /// The view of `ship`, or its error.
    pub fn ship(&self, ship: &str) -> Result<&ShipView, &EngineError> {
        match self.ships.get(ship) {
            Some(Ok(view)) => Ok(view),
            Some(Err(e)) => Err(e),
            None => Err(&NOT_OBSERVED),
        }
    }

    /// The container `c` as its ship has it (`Ok(None)`: absent).
    pub fn seen(&self, c: &Container) -> Result<Option<&Seen>, &EngineError> {
        Ok(self.ship(&c.ship)?.containers.get(&c.name))
    }

    /// The container's kept previous one (`NAME.previous`), when the play
    /// looked for it and its ship has it.
    pub fn previous(&self, c: &Container) -> Result<Option<&Seen>, &EngineError> {
        let kept = crate::previous::kept_name(&c.name);
        Ok(self.ship(&c.ship)?.containers.get(&kept))
    }

    /// The image of `c` on its ship (`Ok(None)`: missing).
    pub fn image(&self, c: &Container) -> Result<Option<&ImageInspect>, &EngineError> {
        let view = self.ship(&c.ship)?;
        Ok(view.images.get(&c.image).and_then(|i| i.as_deref()))
    }

    /// The whole description of `c`, when it was inspected.
    pub fn inspected(&self, c: &Container) -> Option<&ContainerInspectResponse> {
        self.ship(&c.ship)
            .ok()?
            .inspected
            .get(&c.name)
            .map(|i| i.as_ref())
    }
}

/// A ship the snapshot did not look at (a bug of the caller, said plainly).
static NOT_OBSERVED: EngineError = EngineError::Config {
    ship: String::new(),
    message: String::new(),
};

/// Lists the containers of each ship in `ships` (and, with `wants.images`,
/// inspects the images `containers` use on their ships), all at once.
pub async fn observe(
    fleet: &Fleet,
    ships: &BTreeSet<String>,
    containers: &[&Container],
    wants: &Wants,
) -> Snapshot {
    let mut images: HashMap<&str, BTreeSet<&str>> = HashMap::new();
    let mut names: HashMap<&str, Vec<String>> = HashMap::new();
    for c in containers {
        if wants.images {
            images
                .entry(c.ship.as_str())
                .or_default()
                .insert(c.image.as_str());
        }
        let list = names.entry(c.ship.as_str()).or_default();
        list.push(c.name.clone());
        if wants.previous {
            list.push(crate::previous::kept_name(&c.name));
        }
    }
    for (ship, more) in &wants.also {
        let list = names.entry(ship.as_str()).or_default();
        for name in more {
            if !list.contains(name) {
                list.push(name.clone());
            }
        }
    }
    let network = wants.addresses_on.as_deref();
    let views = join_all(ships.iter().map(|ship| {
        let wanted = images.get(ship.as_str()).cloned().unwrap_or_default();
        let named = match names.get(ship.as_str()) {
            Some(list) if !wants.everything && list.len() <= BY_NAME => {
                Some(list.iter().map(String::as_str).collect::<Vec<&str>>())
            }
            _ => None,
        };
        async move {
            let view = Box::pin(observe_ship(fleet, ship, named, wanted, network)).await;
            (ship.clone(), view)
        }
    }))
    .await;
    Snapshot {
        ships: views.into_iter().collect(),
        objects: Default::default(),
    }
}

async fn observe_ship(
    fleet: &Fleet,
    ship: &str,
    named: Option<Vec<&str>>,
    images: BTreeSet<&str>,
    network: Option<&str>,
) -> Result<ShipView, EngineError> {
    let engine = fleet.engine(ship).await?;
    let list = async {
        match &named {
            Some(names) => engine.list_containers_named(names).await,
            None => engine.list_containers(&[]).await,
        }
    };
    let (list, found) = tokio::join!(
        list,
        join_all(images.iter().map(|image| {
            let engine = engine.clone();
            async move { (image.to_string(), engine.inspect_image(image).await) }
        }))
    );
    let list = list?;
    let mut containers: HashMap<String, Seen> =
        list.iter().filter_map(Seen::from_summary).collect();
    if containers.len() < list.len() {
        return Err(EngineError::Protocol {
            ship: ship.to_owned(),
            action: "list containers".into(),
            reason: "unexpected reply: a container in the list has no name, id or state".into(),
        });
    }
    // An engine whose name filter is looser than Docker's (a substring)
    // may list more: only the names asked for count.
    if let Some(names) = &named {
        containers.retain(|name, _| names.contains(&name.as_str()));
    }
    let addresses = match network {
        Some(network) => list
            .iter()
            .filter_map(|summary| address_on(summary, network))
            .filter(|(name, _)| containers.contains_key(name))
            .collect(),
        None => HashMap::new(),
    };
    let mut view = ShipView {
        containers,
        addresses,
        ..ShipView::default()
    };
    for (image, result) in found {
        view.images.insert(image, result?.map(Arc::new));
    }
    Ok(view)
}

/// A listed container's name and its IP address on `network`, when it
/// has one there.
fn address_on(summary: &ContainerSummary, network: &str) -> Option<(String, String)> {
    let (name, _) = Seen::from_summary(summary)?;
    let ip = summary
        .network_settings
        .as_ref()?
        .networks
        .as_ref()?
        .get(network)?
        .ip_address
        .clone()
        .filter(|ip| !ip.is_empty())?;
    Some((name, ip))
}

/// Inspects, on each ship, the containers named in `wanted` (ship, name)
/// that the snapshot has, adding their descriptions; a failure makes the
/// ship's view an error (a decision could not be taken there).
pub async fn inspect_more(fleet: &Fleet, snapshot: &mut Snapshot, wanted: &[(String, String)]) {
    let mut by_ship: HashMap<&str, Vec<&str>> = HashMap::new();
    for (ship, name) in wanted {
        by_ship
            .entry(ship.as_str())
            .or_default()
            .push(name.as_str());
    }
    let found = join_all(by_ship.into_iter().map(|(ship, names)| async move {
        let engine: Result<Arc<Engine>, EngineError> = fleet.engine(ship).await;
        let engine = match engine {
            Ok(engine) => engine,
            Err(e) => return (ship.to_owned(), Err(e)),
        };
        let answers = join_all(names.iter().map(|name| {
            let engine = engine.clone();
            async move { (name.to_string(), engine.inspect_container(name).await) }
        }))
        .await;
        (ship.to_owned(), Ok(answers))
    }))
    .await;
    for (ship, answers) in found {
        let Some(slot) = snapshot.ships.get_mut(&ship) else {
            continue;
        };
        let answers = match answers {
            Ok(answers) => answers,
            Err(e) => {
                *slot = Err(e);
                continue;
            }
        };
        for (name, answer) in answers {
            match (answer, slot.as_mut()) {
                (Ok(Some(found)), Ok(view)) => {
                    view.inspected.insert(name, Arc::new(found));
                }
                // Removed since it was listed: absent now.
                (Ok(None), Ok(view)) => {
                    view.containers.remove(&name);
                }
                (Err(e), Ok(_)) => *slot = Err(e),
                (_, Err(_)) => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seen(status: &str) -> Seen {
        Seen {
            id: "abc".into(),
            state: SeenState::Running,
            status: status.into(),
            image: None,
            image_id: None,
            spec_hash: None,
            environment: None,
            one_off: false,
        }
    }

    #[test]
    fn since_reads_the_engines_words() {
        assert_eq!(seen("Up 3 minutes").since().as_deref(), Some("3m"));
        assert_eq!(
            seen("Up About an hour (healthy)").since().as_deref(),
            Some("1h")
        );
        assert_eq!(seen("Up Less than a second").since().as_deref(), Some("0s"));
        assert_eq!(seen("Up 1 second").since().as_deref(), Some("1s"));
        assert_eq!(seen("Up 2 weeks (Paused)").since().as_deref(), Some("14d"));
        assert_eq!(
            seen("Exited (137) 5 seconds ago").since().as_deref(),
            Some("5s")
        );
        assert_eq!(seen("Created").since(), None);
        assert_eq!(seen("").since(), None);
    }

    #[test]
    fn exit_codes_come_from_the_status() {
        assert_eq!(exit_code_in("Exited (137) 5 seconds ago"), Some(137));
        assert_eq!(exit_code_in("Restarting (1) 2 seconds ago"), Some(1));
        assert_eq!(exit_code_in("Created"), None);
    }
}
