//! The proxy in `up`'s plan, pure. A ship that hosts a service with
//! `proxy:` runs one proxy container of the environment (`ENV-proxy`, on
//! the network `ENV-proxy` it shares with the proxied containers), made
//! before the first of them needs it. A proxied container that `up`
//! replaces while it runs is cut over start-first: the old one is renamed
//! `NAME.previous` and keeps serving, the new one is created beside it,
//! started and checked, must pass the proxy's health check, then the proxy
//! sends requests to it, the old one's in-flight requests are given the
//! drain time, and the old one is stopped (kept for `rollback`). When the
//! new one fails before the switch, it is removed and the old one takes its
//! name back: the proxy never routed to it.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use maestro_config::{Container, Environment, ProxyRoute, UpdateOrder};
use maestro_engine::models::{
    ContainerCreateBody, EndpointSettings, HostConfig, NetworkCreateRequest, PortBinding,
    RestartPolicy, RestartPolicyNameEnum,
};

use crate::decide::plan::{Op, ProxiedService, ProxyRequest, Step};
use crate::labels::{LABEL_ENVIRONMENT, LABEL_PROXY};

/// `ENV-proxy`: the proxy container's and its network's name.
pub fn proxy_name(env: &Environment) -> String {
    crate::labels::proxy_name(&env.name)
}

/// Whether `c`'s service is behind the proxy.
pub fn route_of<'e>(env: &'e Environment, c: &Container) -> Option<&'e ProxyRoute> {
    env.services.get(&c.service)?.proxy.as_ref()
}

/// The proxy request of each ship that hosts a proxied service.
pub fn requests(env: &Environment) -> HashMap<String, Arc<ProxyRequest>> {
    let mut by_ship: HashMap<String, Vec<ProxiedService>> = HashMap::new();
    for service in env.services.values() {
        let Some(route) = &service.proxy else {
            continue;
        };
        for name in &service.instances {
            let Some(c) = env.containers.get(name) else {
                continue;
            };
            let list = by_ship.entry(c.ship.clone()).or_default();
            match list.iter_mut().find(|p| p.service == service.name) {
                Some(p) => p.instances.push(name.clone()),
                None => list.push(ProxiedService {
                    service: service.name.clone(),
                    route: route.clone(),
                    instances: vec![name.clone()],
                    start_first: service.update.order != Some(UpdateOrder::StopFirst),
                }),
            }
        }
    }
    by_ship
        .into_iter()
        .map(|(ship, services)| {
            let request = ProxyRequest {
                name: proxy_name(env),
                network: network(env),
                body: body(env),
                ship: ship.clone(),
                services,
            };
            (ship, Arc::new(request))
        })
        .collect()
}

fn labels(env: &Environment) -> HashMap<String, String> {
    HashMap::from([
        (LABEL_ENVIRONMENT.to_owned(), env.name.clone()),
        (LABEL_PROXY.to_owned(), "true".to_owned()),
    ])
}

fn network(env: &Environment) -> NetworkCreateRequest {
    NetworkCreateRequest {
        name: proxy_name(env),
        driver: Some("bridge".into()),
        labels: Some(labels(env)),
        ..Default::default()
    }
}

/// The proxy container: the image's own command (Caddy with its admin API
/// on the container's loopback), HTTP and HTTPS published, restarted with
/// the engine, on the proxy network.
fn body(env: &Environment) -> ContainerCreateBody {
    let published = |host: u16| {
        Some(vec![PortBinding {
            host_ip: None,
            host_port: Some(host.to_string()),
        }])
    };
    let bindings = HashMap::from([
        ("80/tcp".to_owned(), published(env.proxy.http_port)),
        ("443/tcp".to_owned(), published(env.proxy.https_port)),
    ]);
    ContainerCreateBody {
        image: Some(env.proxy.image.clone()),
        labels: Some(labels(env)),
        exposed_ports: Some(vec!["80/tcp".to_owned(), "443/tcp".to_owned()]),
        host_config: Some(HostConfig {
            port_bindings: Some(bindings),
            network_mode: Some(proxy_name(env)),
            restart_policy: Some(RestartPolicy {
                name: Some(RestartPolicyNameEnum::UNLESS_STOPPED),
                maximum_retry_count: None,
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// The network a proxied container joins after its creation, to be
/// reached by the proxy.
pub fn connect(env: &Environment) -> (String, EndpointSettings) {
    (proxy_name(env), EndpointSettings::default())
}

/// The cutover of a running proxied container onto a new one (after any
/// pull): `prepare` are the operations before the creation (the proxy made,
/// the old one renamed), `then` those after its start and checks.
pub struct Cutover {
    pub before: Vec<Op>,
    pub after: Vec<Op>,
}

/// The operations of a start-first replacement of a running container
/// behind the proxy, `why` it is replaced; `start` (create, start, confirm,
/// checks) goes between `before` and `after`, each of its operations given
/// [`put_back`] as its failure's follow-up.
pub fn cutover(request: &Arc<ProxyRequest>, route: &ProxyRoute, why: &str) -> Cutover {
    let drain = Duration::from_secs_f64(route.drain_timeout);
    Cutover {
        before: vec![
            ensure(request),
            Op::new(
                Step::KeepServingAsPrevious,
                format!("{why}; it serves until its successor passed the proxy's health check"),
            ),
        ],
        after: vec![
            healthy(request, route).on_failure(put_back()),
            routed(request),
            Op::new(
                Step::Drain(drain),
                "the previous container finishes its requests",
            ),
            Op::new(Step::StopPrevious, "drained; kept for a rollback"),
        ],
    }
}

/// The ship's proxy made ready.
fn ensure(request: &Arc<ProxyRequest>) -> Op {
    Op::new(
        Step::EnsureProxy(request.clone()),
        "the proxy serves the ship",
    )
}

/// The proxy's health check of the new container.
fn healthy(request: &Arc<ProxyRequest>, route: &ProxyRoute) -> Op {
    Op::new(
        Step::ProxyHealthy(request.clone()),
        format!("the proxy checks GET {}", route.healthcheck.path),
    )
}

/// The proxy's routes written, the container among them.
fn routed(request: &Arc<ProxyRequest>) -> Op {
    Op::new(
        Step::ProxyRoute(request.clone()),
        "healthy: the proxy sends requests to it",
    )
}

/// What a failure before the switch leads to: the new container removed,
/// the old one (still serving) given its name back.
pub fn put_back() -> Vec<Op> {
    vec![Op::new(
        Step::PutPreviousBack,
        "the new container failed before the proxy sent it anything",
    )]
}

/// The operations that bring a proxied container that is not being
/// replaced while it runs (created, started) behind the proxy once it
/// started and passed its checks: the proxy made first, then its health
/// check, then its routes.
pub fn join(request: &Arc<ProxyRequest>, route: &ProxyRoute) -> (Op, Vec<Op>) {
    (
        ensure(request),
        vec![healthy(request, route), routed(request)],
    )
}

/// How `logs` and `exec` name a ship's proxy: `proxy@SHIP` (no service or
/// container name has an `@`).
pub const PROXY_THING_PREFIX: &str = "proxy@";

/// The ship of a thing that names a proxy (`proxy@SHIP`), else `None`.
pub fn proxy_thing(thing: &str) -> Option<&str> {
    thing.strip_prefix(PROXY_THING_PREFIX)
}

/// Why `proxy@SHIP` names no proxy.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProxyThingError {
    #[error("{thing}: environment {environment} has no proxy (no service has `proxy:`)")]
    NoProxy { thing: String, environment: String },
    #[error("{thing}: there is no ship {ship} in environment {environment}{did_you_mean}")]
    NoShip {
        thing: String,
        ship: String,
        environment: String,
        /// `; did you mean …?`, or nothing.
        did_you_mean: String,
    },
    #[error("{thing}: ship {ship} has no proxy (no instance of a service with `proxy:` is on it); the ships with one: {ships}")]
    NotOnShip {
        thing: String,
        ship: String,
        /// The ships that have a proxy, comma-separated.
        ships: String,
    },
}

/// The proxy container of `ship` as `logs` and `exec` take a container:
/// its name (`ENV-proxy`), ship, image and labels are the proxy's (the
/// labels mark it as the proxy); the rest is a proxied instance's of that
/// ship and means nothing — only for commands that reach a container by
/// its name on its ship.
pub fn proxy_container(env: &Environment, ship: &str) -> Result<Container, ProxyThingError> {
    let thing = format!("{PROXY_THING_PREFIX}{ship}");
    let proxied: Vec<&Container> = env
        .containers
        .values()
        .filter(|c| route_of(env, c).is_some())
        .collect();
    if proxied.is_empty() {
        return Err(ProxyThingError::NoProxy {
            thing,
            environment: env.name.clone(),
        });
    }
    if !env.ships.contains_key(ship) {
        return Err(ProxyThingError::NoShip {
            thing,
            ship: ship.to_owned(),
            environment: env.name.clone(),
            did_you_mean: maestro_config::suggest::did_you_mean(
                ship,
                env.ships.keys().map(String::as_str),
            ),
        });
    }
    let Some(instance) = proxied.iter().find(|c| c.ship == ship) else {
        let ships: std::collections::BTreeSet<&str> =
            proxied.iter().map(|c| c.ship.as_str()).collect();
        return Err(ProxyThingError::NotOnShip {
            thing,
            ship: ship.to_owned(),
            ships: ships.into_iter().collect::<Vec<_>>().join(", "),
        });
    };
    let mut proxy = (*instance).clone();
    proxy.name = proxy_name(env);
    proxy.service = proxy_name(env);
    proxy.image = env.proxy.image.clone();
    let mut marks: Vec<(String, String)> = labels(env).into_iter().collect();
    marks.sort();
    proxy.labels = marks.into_iter().collect();
    Ok(proxy)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(text: &str) -> Environment {
        let source = maestro_config::Source {
            name: "t.yaml".into(),
            base_dir: ".".into(),
            text: text.into(),
        };
        maestro_config::load(&source, &Default::default()).expect("valid")
    }

    const PROXIED: &str = "
name: t
ships: {a: {ip: 10.0.0.1}, b: {ip: 10.0.0.2}, c: {ip: 10.0.0.3}}
services:
  web:
    image: box
    proxy: {app_port: 8080}
    instances: {web-1: {ship: a}, web-2: {ship: b}}
  db: {image: box, instances: {db-1: {ship: c}}}
";

    #[test]
    fn proxy_at_ship_names_the_ships_proxy() {
        let env = env(PROXIED);
        assert_eq!(proxy_thing("proxy@a"), Some("a"));
        assert_eq!(proxy_thing("web-1"), None);
        let proxy = proxy_container(&env, "b").expect("a proxy");
        assert_eq!((proxy.name.as_str(), proxy.ship.as_str()), ("t-proxy", "b"));
        assert_eq!(proxy.image, env.proxy.image);
        assert!(crate::direct::is_proxy(&proxy));
        assert!(!crate::direct::is_proxy(&env.containers["web-2"]));
        assert_eq!(crate::direct::start_command(&proxy), "maestro up");
    }

    #[test]
    fn proxy_at_ship_says_why_there_is_none() {
        let env_ = env(PROXIED);
        let err = |ship: &str| {
            proxy_container(&env_, ship)
                .expect_err("no proxy")
                .to_string()
        };
        assert_eq!(
            err("c"),
            "proxy@c: ship c has no proxy (no instance of a service with `proxy:` is on it); the ships with one: a, b"
        );
        assert_eq!(
            err("bb"),
            "proxy@bb: there is no ship bb in environment t; did you mean b?"
        );
        let plain = env("
name: t
ships: {a: {ip: 10.0.0.1}}
services: {db: {image: box, instances: {db-1: {ship: a}}}}
");
        assert_eq!(
            proxy_container(&plain, "a")
                .expect_err("no proxy")
                .to_string(),
            "proxy@a: environment t has no proxy (no service has `proxy:`)"
        );
    }
}
