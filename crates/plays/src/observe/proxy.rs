//! The environment's proxy as `status` sees it: which ships' proxies to
//! look at (those hosting a selected container of a service with
//! `proxy:`; none, and nothing more is asked of any engine), and what each
//! routes to — Caddy's upstreams (`IP:port`, read through its admin API)
//! mapped back to the containers that have those addresses on the proxy's
//! network (read off the same list of containers `status` makes).

use std::collections::{BTreeSet, HashMap};

use maestro_config::{Container, Environment};
use maestro_engine::Engine;
use maestro_proxy::{Admin, ProxyError, UpstreamStatus};

/// What `status` lists beyond its own containers to see the proxy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wanted {
    /// `ENV-proxy`: the proxy container's name, and its network's.
    pub name: String,
    /// The ships whose proxy is looked at.
    pub ships: BTreeSet<String>,
    /// By ship: the proxy and every proxied container there (with its kept
    /// previous one, which serves during a cutover), so that each upstream
    /// can be named.
    pub also: HashMap<String, Vec<String>>,
}

/// Whether `c`'s service is behind the proxy.
pub fn proxied(env: &Environment, c: &Container) -> bool {
    env.services
        .get(&c.service)
        .is_some_and(|s| s.proxy.is_some())
}

/// The proxies of the ships of `containers` that host a selected
/// container behind the proxy; `None` when no selected container is.
pub fn wanted(env: &Environment, containers: &[&Container]) -> Option<Wanted> {
    let proxied = |c: &Container| proxied(env, c);
    let ships: BTreeSet<String> = containers
        .iter()
        .filter(|c| proxied(c))
        .map(|c| c.ship.clone())
        .collect();
    if ships.is_empty() {
        return None;
    }
    let name = crate::labels::proxy_name(&env.name);
    let mut also: HashMap<String, Vec<String>> = ships
        .iter()
        .map(|ship| (ship.clone(), vec![name.clone()]))
        .collect();
    for c in env.containers.values().filter(|c| proxied(c)) {
        if let Some(list) = also.get_mut(&c.ship) {
            list.push(c.name.clone());
            list.push(crate::previous::kept_name(&c.name));
        }
    }
    Some(Wanted { name, ships, also })
}

/// One upstream of a proxy's running config.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoutedUpstream {
    /// `IP:port`, as Caddy has it.
    pub address: String,
    /// The container that has that IP on the proxy's network now (`None`:
    /// none that was listed).
    pub container: Option<String>,
    /// Requests in flight to it.
    pub requests: u64,
    /// Failed requests Caddy remembers (its passive health check).
    pub fails: u64,
}

/// What a ship's proxy routes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Routes {
    /// Its running config's upstreams.
    Read(Vec<RoutedUpstream>),
    /// The proxy does not run (missing, stopped, restarting): it routes
    /// nothing.
    NotRunning,
    /// Its ship, or its admin API, did not say (why).
    Unknown(String),
}

impl Routes {
    /// Whether the proxy sends requests to `name` (`None`: unknown).
    pub fn routes_to(&self, name: &str) -> Option<bool> {
        match self {
            Routes::Read(list) => Some(list.iter().any(|u| u.container.as_deref() == Some(name))),
            Routes::NotRunning => Some(false),
            Routes::Unknown(_) => None,
        }
    }
}

/// The upstreams of a running proxy, each named by the container whose
/// address on the proxy's network it is (`addresses`: container name → IP),
/// the named ones first, by name, then the others by address.
pub fn map_upstreams(
    upstreams: &[UpstreamStatus],
    addresses: &HashMap<String, String>,
) -> Vec<RoutedUpstream> {
    let by_ip: HashMap<&str, &str> = addresses
        .iter()
        .map(|(name, ip)| (ip.as_str(), name.as_str()))
        .collect();
    let mut mapped: Vec<RoutedUpstream> = upstreams
        .iter()
        .map(|u| RoutedUpstream {
            address: u.address.clone(),
            container: host_of(&u.address)
                .and_then(|ip| by_ip.get(ip))
                .map(|name| (*name).to_owned()),
            requests: u.num_requests,
            fails: u.fails,
        })
        .collect();
    // Caddy lists them in no set order: named ones first, by name.
    mapped.sort_by(|a, b| {
        (a.container.is_none(), &a.container, &a.address).cmp(&(
            b.container.is_none(),
            &b.container,
            &b.address,
        ))
    });
    mapped
}

/// The host of `host:port` (`[v6]:port` too).
fn host_of(address: &str) -> Option<&str> {
    let (host, _) = address.rsplit_once(':')?;
    Some(host.trim_start_matches('[').trim_end_matches(']'))
}

/// Reads the upstreams of the running proxy `name` (one command run in it).
pub async fn upstreams(engine: &Engine, name: &str) -> Result<Vec<UpstreamStatus>, ProxyError> {
    Admin::new(engine, name).upstreams().await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn upstream(address: &str, requests: u64, fails: u64) -> UpstreamStatus {
        UpstreamStatus {
            address: address.into(),
            num_requests: requests,
            fails,
        }
    }

    #[test]
    fn upstreams_are_named_by_their_containers_address() {
        let addresses = HashMap::from([
            ("web-1".to_owned(), "172.20.0.3".to_owned()),
            ("web-2.previous".to_owned(), "172.20.0.4".to_owned()),
            ("t-proxy".to_owned(), "172.20.0.2".to_owned()),
        ]);
        let mapped = map_upstreams(
            &[
                upstream("[fd00::3]:8080", 0, 0),
                upstream("172.20.0.9:8080", 0, 0),
                upstream("172.20.0.4:8080", 0, 1),
                upstream("172.20.0.3:8080", 2, 0),
            ],
            &addresses,
        );
        let names: Vec<Option<&str>> = mapped.iter().map(|u| u.container.as_deref()).collect();
        assert_eq!(names, [Some("web-1"), Some("web-2.previous"), None, None]);
        assert_eq!((mapped[0].requests, mapped[1].fails), (2, 1));
        assert_eq!(mapped[2].address, "172.20.0.9:8080");
        assert_eq!(mapped[3].address, "[fd00::3]:8080");
    }

    #[test]
    fn an_ipv6_upstream_is_named_too() {
        let addresses = HashMap::from([("web-1".to_owned(), "fd00::3".to_owned())]);
        let mapped = map_upstreams(&[upstream("[fd00::3]:8080", 0, 0)], &addresses);
        assert_eq!(mapped[0].container.as_deref(), Some("web-1"));
    }

    #[test]
    fn routing_is_known_only_when_the_proxy_was_read_or_does_not_run() {
        let read = Routes::Read(map_upstreams(
            &[upstream("10.0.0.3:80", 0, 0)],
            &HashMap::from([("web-1".to_owned(), "10.0.0.3".to_owned())]),
        ));
        assert_eq!(read.routes_to("web-1"), Some(true));
        assert_eq!(read.routes_to("web-2"), Some(false));
        assert_eq!(Routes::NotRunning.routes_to("web-1"), Some(false));
        assert_eq!(Routes::Unknown("down".into()).routes_to("web-1"), None);
    }

    #[test]
    fn only_ships_of_selected_proxied_containers_are_looked_at() {
        let source = maestro_config::Source {
            name: "t.yaml".into(),
            base_dir: ".".into(),
            text: "
name: t
ships: {a: {ip: 10.0.0.1}, b: {ip: 10.0.0.2}}
services:
  web:
    image: box
    proxy: {app_port: 8080}
    instances: {web-1: {ship: a}, web-2: {ship: b}, web-3: {ship: a}}
  db: {image: box, instances: {db-1: {ship: a}}}
"
            .into(),
        };
        let env = maestro_config::load(&source, &Default::default()).expect("valid");
        let c = |name: &str| &env.containers[name];
        assert_eq!(wanted(&env, &[c("db-1")]), None);
        let w = wanted(&env, &[c("db-1"), c("web-1")]).expect("a proxy");
        assert_eq!(w.name, "t-proxy");
        assert_eq!(w.ships, BTreeSet::from(["a".to_owned()]));
        let mut on_a = w.also["a"].clone();
        on_a.sort();
        assert_eq!(
            on_a,
            [
                "t-proxy",
                "web-1",
                "web-1.previous",
                "web-3",
                "web-3.previous"
            ]
        );
        assert!(!w.also.contains_key("b"));
    }
}
