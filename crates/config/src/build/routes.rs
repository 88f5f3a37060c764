//! The cross-checks of the proxy and the rollout, once every instance is
//! read: a proxied service's `app_port` (a port name resolved in every
//! instance), which none of its instances publishes on the ship, nor takes
//! off the networks (`net`); no two proxied services with the same hosts and
//! path prefix on one ship; and `order: start-first` only where the new
//! container can run beside the old one (behind the proxy, or without host
//! ports). Imports only `drafts` and `proxy`.

use std::collections::{BTreeSet, HashMap, HashSet};

use super::drafts::{ContainerDraft, ServiceDraft};
use super::proxy::{AppPort, ProxyDraft};
use crate::model::{PortMapping, Protocol, ProxyRoute, UpdateOrder};
use crate::pyfmt;
use crate::reader::Reader;
use crate::yaml::Node;

/// The containers of a service.
type Members<'a, 'n> = Vec<&'a ContainerDraft<'n>>;

/// Checks every service's proxy and rollout; gives each proxied service's
/// route, its `app_port` resolved.
pub(super) fn check(
    r: &mut Reader,
    drafts: &[ServiceDraft],
    containers: &[ContainerDraft],
) -> HashMap<String, ProxyRoute> {
    let mut members: HashMap<&str, Members> = HashMap::new();
    for c in containers {
        members
            .entry(c.container.service.as_str())
            .or_default()
            .push(c);
    }
    let mut routes = HashMap::new();
    for d in drafts {
        let mine = members
            .get(d.name.as_str())
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        match &d.proxy {
            Some(p) => {
                let Some(port) = app_port(r, d, p, mine) else {
                    continue;
                };
                unpublished(r, d, p, port, mine);
                on_networks(r, mine);
                start_first(r, d, mine);
                let route = ProxyRoute {
                    app_port: port,
                    ..p.route.clone()
                };
                routes.insert(d.name.clone(), route);
            }
            None => start_first(r, d, mine),
        }
    }
    distinct_routes(r, drafts, &members, &routes);
    routes
}

fn instance_path(c: &ContainerDraft) -> String {
    format!(
        "services/{}/instances/{}",
        c.container.service, c.container.name
    )
}

/// The container port of `app_port`: its number, or the port its name has
/// in every instance (one tcp port, the same in all).
fn app_port(
    r: &mut Reader,
    d: &ServiceDraft,
    p: &ProxyDraft,
    mine: &[&ContainerDraft],
) -> Option<u16> {
    let name = match &p.app_port {
        AppPort::Number(n) => return Some(*n),
        AppPort::Name(name) => name,
    };
    let at = format_args!("services/{}/proxy/app_port", d.name);
    let n = p.app_port_node;
    if mine.is_empty() {
        r.error(n, &at, format!(
            "port `{name}` cannot be looked up: the service has no instances; expected a port number"
        ));
        return None;
    }
    let mut found: Option<(u16, &str)> = None;
    for c in mine {
        let me = &c.container;
        let Some(m) = me.ports.get(name) else {
            let known: Vec<&str> = me.ports.keys().map(String::as_str).collect();
            let has = match known.as_slice() {
                [] => "it has none".to_owned(),
                some => format!("it has {}", some.join(", ")),
            };
            r.error(n, &at, format!(
                "`{}` has no port `{name}` ({has}); expected a name of every instance's `ports`, or a port number",
                me.name
            ));
            return None;
        };
        if m.exposed.protocol != Protocol::Tcp || m.exposed.last.is_some() {
            r.error(
                n,
                &at,
                format!(
                    "port `{name}` of `{}` is {}; expected one tcp port",
                    me.name, m.exposed
                ),
            );
            return None;
        }
        match found {
            Some((port, other)) if port != m.exposed.first => {
                r.error(n, &at, format!(
                    "port `{name}` is {port} in `{other}` but {} in `{}`; expected the same container port in every instance",
                    m.exposed.first, me.name
                ));
                return None;
            }
            Some(_) => {}
            None => found = Some((m.exposed.first, &me.name)),
        }
    }
    found.map(|(port, _)| port)
}

/// Whether `m` publishes the tcp container port `port`.
fn publishes(m: &PortMapping, port: u16) -> bool {
    let e = m.exposed;
    e.protocol == Protocol::Tcp && (e.first..=e.last.unwrap_or(e.first)).contains(&port)
}

/// Where the port `pname` of `c` is written: the instance's entry, else its
/// service's; the node and its path.
fn port_entry<'n>(d: &ServiceDraft<'n>, c: &ContainerDraft<'n>, pname: &str) -> (&'n Node, String) {
    let own = c.node.get("ports").and_then(Node::as_map).unwrap_or(&[]);
    if let Some((_, n)) = own.iter().find(|(k, _)| pyfmt::key_text(&k.value) == pname) {
        return (n, format!("{}/ports/{pname}", instance_path(c)));
    }
    match d.ports.iter().find(|(name, _)| name == pname) {
        Some((_, n)) => (n, format!("services/{}/ports/{pname}", d.name)),
        None => (c.node, instance_path(c)),
    }
}

/// No instance of a proxied service publishes its `app_port` on the ship:
/// the proxy is the way in (and the new container could not bind the
/// same host port beside the old one).
fn unpublished(
    r: &mut Reader,
    d: &ServiceDraft,
    p: &ProxyDraft,
    port: u16,
    mine: &[&ContainerDraft],
) {
    let then = match &p.app_port {
        AppPort::Name(_) => format!(", then give `app_port: {port}`"),
        AppPort::Number(_) => String::new(),
    };
    let mut reported = HashSet::new();
    for c in mine {
        for (pname, m) in c.container.ports.iter().filter(|(_, m)| publishes(m, port)) {
            let (n, at) = port_entry(d, c, pname);
            if !reported.insert(at.clone()) {
                continue;
            }
            r.error(n, &at, format!(
                "publishes container port {port}, the proxy's `app_port`, on the ship's port {}; behind the proxy it must not be published (the proxy is the way in): remove this mapping from `ports`{then}",
                m.external.number()
            ));
        }
    }
}

/// No instance of a proxied service has a `net` taking it off the
/// networks, where the proxy reaches it by name.
fn on_networks(r: &mut Reader, mine: &[&ContainerDraft]) {
    for c in mine {
        let Some(mode) = c
            .container
            .network_mode
            .as_deref()
            .filter(|m| *m != "bridge")
        else {
            continue;
        };
        r.error(
            c.node.get("net").unwrap_or(c.node),
            &format_args!("{}/net", instance_path(c)),
            format!(
                "`net: {mode}` takes `{}` off the networks where the proxy reaches it by name; expected no `net` on a proxied service's instances",
                c.container.name
            ),
        );
    }
}

/// `order: start-first`: none of the instances may publish a host port,
/// which the new container could not bind beside the old one.
fn start_first(r: &mut Reader, d: &ServiceDraft, mine: &[&ContainerDraft]) {
    let Some(n) = d
        .order
        .filter(|_| d.update.order == Some(UpdateOrder::StartFirst))
    else {
        return;
    };
    let publishing = mine.iter().find_map(|c| {
        let m = c.container.ports.values().next()?;
        Some((&c.container.name, m.external.number()))
    });
    let instead = match d.proxy {
        Some(_) => "no host ports on its instances",
        None => "`proxy:` in front of the service",
    };
    if let Some((name, port)) = publishing {
        r.error(n, &format_args!("services/{}/deploy/update_config/order", d.name), format!(
            "`start-first` starts each new container beside the old one, which cannot bind the same host ports (`{name}` publishes {port}); expected {instead}, or `order: stop-first`"
        ));
    }
}

/// What a route answers for on a ship: its hosts (lower case, sorted) and
/// path prefix (without a trailing `/`; `/` alone is every path).
fn answers_for(route: &ProxyRoute) -> (BTreeSet<String>, String) {
    let hosts = route.hosts.iter().map(|h| h.to_ascii_lowercase()).collect();
    let prefix = route
        .path_prefix
        .as_deref()
        .map(|p| p.trim_end_matches('/'))
        .unwrap_or_default();
    (hosts, prefix.to_owned())
}

/// No two proxied services answer for the same hosts and path prefix on
/// one ship (the proxy could not tell which one a request is for).
fn distinct_routes(
    r: &mut Reader,
    drafts: &[ServiceDraft],
    members: &HashMap<&str, Members>,
    routes: &HashMap<String, ProxyRoute>,
) {
    // (ship, hosts, prefix) → the first service answering for them there.
    let mut taken: HashMap<(&str, BTreeSet<String>, String), &str> = HashMap::new();
    let mut reported: HashSet<(&str, &str)> = HashSet::new();
    for d in drafts {
        let (Some(route), Some(p)) = (routes.get(&d.name), &d.proxy) else {
            continue;
        };
        let (hosts, prefix) = answers_for(route);
        let ships: BTreeSet<&str> = members
            .get(d.name.as_str())
            .into_iter()
            .flatten()
            .map(|c| c.container.ship.as_str())
            .collect();
        for ship in ships {
            let key = (ship, hosts.clone(), prefix.clone());
            let Some(other) = taken.get(&key).copied() else {
                taken.insert(key, &d.name);
                continue;
            };
            if !reported.insert((other, &d.name)) {
                continue;
            }
            let hosts_text = match route.hosts.as_slice() {
                [] => "any host".to_owned(),
                some => some.join(", "),
            };
            let path_text = match prefix.as_str() {
                "" => "every path".to_owned(),
                p => format!("path prefix {p}"),
            };
            r.error(p.node, &format_args!("services/{}/proxy", d.name), format!(
                "services `{other}` and `{}` both answer for {hosts_text} and {path_text} on ship `{ship}`; expected the proxied services of a ship to differ in `hosts` or `path_prefix`",
                d.name
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::build::tests::load;

    fn errors(text: &str) -> Vec<String> {
        load(text)
            .err()
            .map(|e| e.errors.iter().map(ToString::to_string).collect())
            .unwrap_or_default()
    }

    const SHIPS: &str = "name: t\nships: {s1: {ip: 10.0.0.1}, s2: {ip: 10.0.0.2}}\nservices:\n";

    #[test]
    fn a_port_name_must_be_in_every_instance() {
        let env = load(&format!(
            "{SHIPS}  web:
    image: nginx
    proxy: {{app_port: http}}
    ports: {{dns: '53/udp'}}
    instances:
      web-1: {{ship: s1, ports: {{http: {{exposed: 3000, external: [127.0.0.1, 3000]}}}}}}
      web-2: {{ship: s2}}
"
        ));
        let errors: Vec<String> = env
            .err()
            .map(|e| e.errors.iter().map(ToString::to_string).collect())
            .unwrap_or_default();
        assert_eq!(
            errors,
            ["t.yaml:6:23: services/web/proxy/app_port: `web-2` has no port `http` (it has dns); expected a name of every instance's `ports`, or a port number"]
        );
    }

    #[test]
    fn proxied_services_may_share_a_ship_when_their_routes_differ() {
        let env = load(&format!(
            "{SHIPS}  web:
    image: nginx
    proxy: {{host: app.example, app_port: 3000}}
    ports: {{metrics: 9100}}
    instances: {{web-1: {{ship: s1}}, web-2: {{ship: s2}}}}
  api:
    image: api
    proxy: {{host: app.example, path_prefix: /api, app_port: 3000}}
    instances: {{api-1: {{ship: s1}}}}
  other:
    image: nginx
    proxy: {{host: other.example, app_port: 3000}}
    instances: {{other-1: {{ship: s1, net: bridge}}}}
  same-as-web:
    image: nginx
    proxy: {{host: App.Example, app_port: 3000}}
    instances: {{s-1: {{ship: s2}}}}
  worker:
    image: w
    deploy: {{update_config: {{order: start-first}}}}
    instances: {{worker-1: {{ship: s1}}}}
"
        ));
        assert_eq!(
            env.err().map(|e| e.errors.iter().map(ToString::to_string).collect::<Vec<_>>()),
            Some(vec!["t.yaml:19:12: services/same-as-web/proxy: services `web` and `same-as-web` both answer for App.Example and every path on ship `s2`; expected the proxied services of a ship to differ in `hosts` or `path_prefix`".to_owned()]),
            "host names compare without case; everything else may share the ship"
        );
    }

    #[test]
    fn a_proxied_service_s_route_is_in_the_model() {
        let env = load(&format!(
            "{SHIPS}  web:
    image: nginx
    proxy: {{app_port: http}}
    ports: {{http: '3000/tcp:3000/tcp'}}
    instances: {{web-1: {{ship: s1, ports: {{http: {{exposed: 3000, external: 8000}}}}}}}}
"
        ));
        // Every `ports` entry publishes: a port name is published too.
        assert_eq!(
            env.err().map(|e| e.errors.iter().map(ToString::to_string).collect::<Vec<_>>()),
            Some(vec!["t.yaml:8:49: services/web/instances/web-1/ports/http: publishes container port 3000, the proxy's `app_port`, on the ship's port 8000; behind the proxy it must not be published (the proxy is the way in): remove this mapping from `ports`, then give `app_port: 3000`".to_owned()])
        );
        let env = load(&format!(
            "{SHIPS}  web:
    image: nginx
    proxy: {{app_port: 3000}}
    ports: {{admin: 9000}}
    instances: {{web-1: {{ship: s1}}, web-2: {{ship: s2}}}}
"
        ))
        .expect("valid");
        assert_eq!(
            env.services["web"].proxy.as_ref().map(|r| r.app_port),
            Some(3000)
        );
    }

    #[test]
    fn cross_checks_are_located_errors() {
        let file = format!(
            "{SHIPS}  web:
    image: nginx
    proxy: {{app_port: 8080}}
    ports: {{http: 8080}}
    instances:
      web-1: {{ship: s1}}
      web-2: {{ship: s1, net: host}}
  api:
    image: api
    proxy: {{app_port: 8080}}
    instances: {{api-1: {{ship: s1, ports: {{range: '8000-8100:9000-9100'}}}}}}
  named:
    image: x
    proxy: {{app_port: p}}
    instances:
      named-1: {{ship: s1, ports: {{p: '1000:1000'}}}}
      named-2: {{ship: s2, ports: {{p: '1001:1000'}}}}
      named-3: {{ship: s2, ports: {{p: '1000/udp'}}}}
  empty:
    image: x
    proxy: {{app_port: p}}
    instances: {{}}
  db:
    image: pg
    deploy: {{update_config: {{order: start-first}}}}
    instances: {{db-1: {{ship: s1, ports: {{pg: 5432}}}}}}
  proxied:
    image: x
    proxy: {{host: x.example, app_port: 80}}
    deploy: {{update_config: {{order: start-first}}}}
    instances: {{proxied-1: {{ship: s2, ports: {{metrics: 9100}}}}}}
"
        );
        assert_eq!(
            errors(&file),
            [
                "t.yaml:7:19: services/web/ports/http: publishes container port 8080, the proxy's `app_port`, on the ship's port 8080; behind the proxy it must not be published (the proxy is the way in): remove this mapping from `ports`",
                "t.yaml:10:30: services/web/instances/web-2/net: `net: host` takes `web-2` off the networks where the proxy reaches it by name; expected no `net` on a proxied service's instances",
                "t.yaml:13:12: services/api/proxy: services `web` and `api` both answer for any host and every path on ship `s1`; expected the proxied services of a ship to differ in `hosts` or `path_prefix`",
                "t.yaml:14:50: services/api/instances/api-1/ports/range: publishes container port 8080, the proxy's `app_port`, on the ship's port 9000-9100; behind the proxy it must not be published (the proxy is the way in): remove this mapping from `ports`",
                "t.yaml:17:23: services/named/proxy/app_port: port `p` is 1000 in `named-1` but 1001 in `named-2`; expected the same container port in every instance",
                "t.yaml:24:23: services/empty/proxy/app_port: port `p` cannot be looked up: the service has no instances; expected a port number",
                "t.yaml:28:37: services/db/deploy/update_config/order: `start-first` starts each new container beside the old one, which cannot bind the same host ports (`db-1` publishes 5432); expected `proxy:` in front of the service, or `order: stop-first`",
                "t.yaml:33:37: services/proxied/deploy/update_config/order: `start-first` starts each new container beside the old one, which cannot bind the same host ports (`proxied-1` publishes 9100); expected no host ports on its instances, or `order: stop-first`",
            ]
        );
    }
}
