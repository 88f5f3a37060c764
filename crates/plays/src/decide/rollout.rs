//! Rolling updates (`restart` and `up` with `--batch N`, `--batch N%` or
//! `--per-ship`): each service's containers in the play are split into
//! batches taken one after the other — every container of a batch done with
//! (started and past its `running` checks) before the next batch's first
//! operation — and the services one after the other in dependency order,
//! so a rollout never has more than one batch of one service down. Pure:
//! the batches and the waits they add to a plan.

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::str::FromStr;

use maestro_config::{Container, Environment};

/// How many containers of a service one batch holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BatchSize {
    /// This many (at least 1).
    Count(usize),
    /// This share of the service's containers in the play, rounded up (1 to
    /// 100).
    Percent(u8),
}

impl BatchSize {
    /// The number of containers in a batch of a service of `members`.
    fn of(self, members: usize) -> usize {
        match self {
            BatchSize::Count(n) => n.max(1),
            BatchSize::Percent(p) => (members * usize::from(p)).div_ceil(100).max(1),
        }
    }
}

impl fmt::Display for BatchSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BatchSize::Count(n) => write!(f, "{n}"),
            BatchSize::Percent(p) => write!(f, "{p}%"),
        }
    }
}

/// Why a `--batch` value was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadBatchSize(pub String);

impl fmt::Display for BadBatchSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:?} is not a batch size: give a number of containers (e.g. 2) or a share of each service (e.g. 50%)",
            self.0
        )
    }
}

impl std::error::Error for BadBatchSize {}

impl FromStr for BatchSize {
    type Err = BadBatchSize;

    fn from_str(text: &str) -> Result<BatchSize, BadBatchSize> {
        let bad = || BadBatchSize(text.to_owned());
        let trimmed = text.trim();
        if let Some(share) = trimmed.strip_suffix('%') {
            match share.trim().parse::<u8>() {
                Ok(p) if (1..=100).contains(&p) => Ok(BatchSize::Percent(p)),
                _ => Err(bad()),
            }
        } else {
            match trimmed.parse::<usize>() {
                Ok(n) if n >= 1 => Ok(BatchSize::Count(n)),
                _ => Err(bad()),
            }
        }
    }
}

/// How a `restart` or `up` rolls over a service's containers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Rollout {
    /// At most this many of a service's containers at a time.
    pub batch: Option<BatchSize>,
    /// One ship's containers of a service at a time (split further by
    /// `batch` when both are given).
    pub per_ship: bool,
    /// What a failure does (`--failure-action`; unset: each service's
    /// `failure_action`).
    pub failure_action: Option<maestro_config::FailureAction>,
}

impl Rollout {
    /// Whether the play rolls (batches), or acts on everything at once.
    pub fn rolls(&self) -> bool {
        self.batch.is_some() || self.per_ship
    }

    /// Whether a play over `containers` rolls: told to, or one of their
    /// services has a `deploy.update_config.parallelism`.
    pub fn rolls_over(&self, env: &Environment, containers: &[&Container]) -> bool {
        self.rolls()
            || containers.iter().any(|c| {
                env.services
                    .get(&c.service)
                    .is_some_and(|s| s.update.parallelism.is_some())
            })
    }
}

/// The batches of a rollout over `containers` (indices into it), in the
/// order they are taken: services in dependency order, then each service's
/// containers in file order, grouped by ship (in the file's ship order)
/// with `per_ship`, cut into pieces of the batch size (`--batch`, else the
/// service's `parallelism`).
pub fn batches(env: &Environment, containers: &[&Container], rollout: &Rollout) -> Vec<Vec<usize>> {
    let mut by_service: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, c) in containers.iter().enumerate() {
        by_service.entry(c.service.as_str()).or_default().push(i);
    }
    let file_order = |i: &usize| {
        env.containers
            .get_index_of(&containers[*i].name)
            .unwrap_or(usize::MAX)
    };
    let ship_order = |i: &usize| {
        env.ships
            .get_index_of(&containers[*i].ship)
            .unwrap_or(usize::MAX)
    };
    let order = service_order(env, by_service.keys().copied());
    let mut out = Vec::new();
    for service in order {
        let mut members = by_service.remove(service).unwrap_or_default();
        members.sort_by_key(file_order);
        // `--batch`, else the service's `deploy.update_config.parallelism`.
        let parallelism = env
            .services
            .get(service)
            .and_then(|s| s.update.parallelism)
            .map(|n| n as usize);
        let size = match (rollout.batch, parallelism) {
            (Some(b), _) => b.of(members.len()),
            (None, Some(n)) => n.max(1),
            (None, None) => members.len().max(1),
        };
        let mut groups: Vec<Vec<usize>> = Vec::new();
        if rollout.per_ship {
            members.sort_by_key(|i| (ship_order(i), file_order(i)));
            for i in members {
                match groups.last_mut() {
                    Some(g) if containers[g[0]].ship == containers[i].ship => g.push(i),
                    _ => groups.push(vec![i]),
                }
            }
        } else {
            groups.push(members);
        }
        for group in groups {
            out.extend(group.chunks(size).map(<[usize]>::to_vec));
        }
    }
    out
}

/// For each of `n` containers, those it waits for before its first
/// operation: every container of the batch before its own. Also the number
/// (from 1) of its batch, for the plan.
pub fn waits(batches: &[Vec<usize>], n: usize) -> (Vec<Vec<usize>>, Vec<Option<usize>>) {
    let mut waits = vec![Vec::new(); n];
    let mut numbers = vec![None; n];
    for (k, batch) in batches.iter().enumerate() {
        for &i in batch {
            numbers[i] = Some(k + 1);
            if k > 0 {
                waits[i] = batches[k - 1].clone();
            }
        }
    }
    (waits, numbers)
}

/// Where a container's batch stands: its number in the play (batches are
/// numbered across the whole play, in the order they run) and among its
/// service's batches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchPlace {
    pub number: usize,
    pub of: usize,
    pub in_service: usize,
    pub of_service: usize,
}

/// The [`BatchPlace`] of each container, from the batch numbers of
/// [`waits`] and each container's service.
pub fn places(numbers: &[Option<usize>], services: &[&str]) -> Vec<Option<BatchPlace>> {
    let of = numbers.iter().flatten().copied().max().unwrap_or(0);
    let mut per_service: std::collections::HashMap<&str, std::collections::BTreeSet<usize>> =
        std::collections::HashMap::new();
    for (n, s) in numbers.iter().zip(services) {
        if let Some(n) = n {
            per_service.entry(s).or_default().insert(*n);
        }
    }
    numbers
        .iter()
        .zip(services)
        .map(|(n, s)| {
            let n = (*n)?;
            let own = per_service.get(s)?;
            Some(BatchPlace {
                number: n,
                of,
                in_service: own.range(..=n).count(),
                of_service: own.len(),
            })
        })
        .collect()
}

/// Services in the order `up` takes them, one after the other: a service
/// after every service it requires (more requirements, later), then by name.
pub fn service_order<'a>(
    env: &Environment,
    services: impl IntoIterator<Item = &'a str>,
) -> Vec<&'a str> {
    let mut list: Vec<&str> = services
        .into_iter()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    // A service's requirements include each of its requirements' own, so
    // their number orders every service after those it requires.
    list.sort_by_key(|s| (env.graph.requires(s).len(), *s));
    list
}

#[cfg(test)]
mod tests {
    use maestro_config::{load, Source};

    use super::*;

    const FILE: &str = "
name: t
ships: {a: {ip: 10.0.0.1}, b: {ip: 10.0.0.2}}
services:
  db:
    image: box:1
    instances: {db-1: {ship: b}, db-2: {ship: a}}
  web:
    image: box:1
    requires: [db]
    instances: {web-1: {ship: a}, web-2: {ship: b}, web-3: {ship: a}, web-4: {ship: b}, web-5: {ship: a}}
";

    fn env() -> Environment {
        let source = Source {
            name: "t.yaml".into(),
            base_dir: ".".into(),
            text: FILE.into(),
        };
        load(&source, &Default::default()).expect("the test file loads")
    }

    /// The batches by container name, for `containers` given in reverse file order.
    fn named(rollout: Rollout) -> Vec<Vec<String>> {
        let env = env();
        let all: Vec<&Container> = env.containers.values().rev().collect();
        batches(&env, &all, &rollout)
            .into_iter()
            .map(|b| b.into_iter().map(|i| all[i].name.clone()).collect())
            .collect()
    }

    #[test]
    fn a_batch_is_placed_in_the_play_and_in_its_service() {
        let numbers = [Some(1), Some(2), Some(3), None];
        let services = ["db", "web", "web", "cache"];
        let place = |number, in_service, of_service| {
            Some(BatchPlace {
                number,
                of: 3,
                in_service,
                of_service,
            })
        };
        assert_eq!(
            places(&numbers, &services),
            [place(1, 1, 1), place(2, 1, 2), place(3, 2, 2), None]
        );
    }

    fn names(batches: &[&[&str]]) -> Vec<Vec<String>> {
        batches
            .iter()
            .map(|b| b.iter().map(|s| s.to_string()).collect())
            .collect()
    }

    #[test]
    fn batch_sizes_parse_as_counts_and_shares() {
        assert_eq!("2".parse(), Ok(BatchSize::Count(2)));
        assert_eq!("50%".parse(), Ok(BatchSize::Percent(50)));
        assert_eq!(" 100% ".parse(), Ok(BatchSize::Percent(100)));
        for bad in ["0", "0%", "101%", "-1", "half", "", "%", "2.5"] {
            let error = bad.parse::<BatchSize>().expect_err(bad);
            assert!(error.to_string().contains("e.g. 50%"), "{error}");
        }
    }

    #[test]
    fn a_share_is_of_each_service_rounded_up() {
        let half = Rollout {
            batch: Some(BatchSize::Percent(50)),
            per_ship: false,
            failure_action: None,
        };
        assert_eq!(
            named(half),
            names(&[
                &["db-1"],
                &["db-2"],
                &["web-1", "web-2", "web-3"],
                &["web-4", "web-5"],
            ])
        );
    }

    #[test]
    fn a_count_cuts_each_service_in_file_order() {
        let two = Rollout {
            batch: Some(BatchSize::Count(2)),
            per_ship: false,
            failure_action: None,
        };
        assert_eq!(
            named(two),
            names(&[
                &["db-1", "db-2"],
                &["web-1", "web-2"],
                &["web-3", "web-4"],
                &["web-5"],
            ])
        );
    }

    #[test]
    fn per_ship_takes_one_ship_at_a_time_in_the_files_ship_order() {
        let per_ship = Rollout {
            batch: None,
            per_ship: true,
            failure_action: None,
        };
        assert_eq!(
            named(per_ship),
            names(&[
                &["db-2"],
                &["db-1"],
                &["web-1", "web-3", "web-5"],
                &["web-2", "web-4"],
            ])
        );
        let both = Rollout {
            batch: Some(BatchSize::Count(2)),
            per_ship: true,
            failure_action: None,
        };
        assert_eq!(
            named(both),
            names(&[
                &["db-2"],
                &["db-1"],
                &["web-1", "web-3"],
                &["web-5"],
                &["web-2", "web-4"],
            ])
        );
    }

    #[test]
    fn each_batch_waits_for_the_one_before() {
        let (waits, numbers) = waits(&[vec![2], vec![0, 3], vec![1]], 4);
        assert_eq!(waits, vec![vec![2], vec![0, 3], vec![], vec![2]]);
        assert_eq!(numbers, vec![Some(2), Some(3), Some(1), Some(2)]);
    }
}
