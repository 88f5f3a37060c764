//! `status`'s view of the proxy: after a proxied container's state, whether
//! its ship's proxy routes to it; under the table, a line per ship's proxy
//! and what it routes to; the same in `--json`.

use std::io::Write;

use maestro_plays::observe::proxy::{RoutedUpstream, Routes};
use maestro_plays::observe::status::{ContainerState, ProxyStatus, Routing};
use serde_json::{json, Value};

use crate::render::Palette;

/// What follows a container's state in `status`'s table: `, routed`,
/// `, not routed`, `, routing unknown`; nothing when its service is not
/// behind the proxy.
pub fn routing_suffix(routing: Routing, palette: Palette) -> String {
    match routing {
        Routing::NotProxied => String::new(),
        Routing::Routed => format!(", {}", palette.green("routed")),
        Routing::NotRouted => format!(", {}", palette.yellow("not routed")),
        Routing::Unknown => format!(", {}", palette.yellow("routing unknown")),
    }
}

/// `--json`'s `routed` of a container: `true`, `false`, or `null` (not
/// behind the proxy, or its proxy could not be read).
pub fn routed_json(routing: Routing) -> Option<bool> {
    match routing {
        Routing::Routed => Some(true),
        Routing::NotRouted => Some(false),
        Routing::NotProxied | Routing::Unknown => None,
    }
}

/// The lines of each ship's proxy, after a blank line (nothing without
/// proxies): `proxy NAME on SHIP: STATE`, then what it routes to.
pub fn write_proxies(
    out: &mut impl Write,
    proxies: &[ProxyStatus],
    ship_label: impl Fn(&str) -> String,
    palette: Palette,
) {
    if proxies.is_empty() {
        return;
    }
    let _ = writeln!(out);
    for p in proxies {
        for line in proxy_lines(p, &ship_label(&p.ship), palette) {
            let _ = writeln!(out, "{line}");
        }
    }
}

/// One proxy's lines.
fn proxy_lines(p: &ProxyStatus, ship: &str, palette: Palette) -> Vec<String> {
    let mut lines = vec![format!(
        "  proxy {} on {ship}: {}",
        p.name,
        state_text(&p.state, palette)
    )];
    match &p.routes {
        Routes::Read(upstreams) if upstreams.is_empty() => {
            lines.push("    routes nothing".into());
        }
        Routes::Read(upstreams) => {
            lines.extend(
                upstreams
                    .iter()
                    .map(|u| format!("    routes to {}", upstream(u))),
            );
        }
        Routes::NotRunning => {
            lines.push("    routes nothing (it does not run: `maestro up` starts it)".into());
        }
        Routes::Unknown(why) => {
            lines.push(format!("    routes: {} ({why})", palette.yellow("unknown")));
        }
    }
    lines
}

/// `web-1 (172.20.0.3:8080)`, with the requests in flight and the failed
/// ones when there are; an address no container has, as it is.
fn upstream(u: &RoutedUpstream) -> String {
    let mut notes = vec![u.address.clone()];
    if u.requests > 0 {
        notes.push(format!("{} in flight", u.requests));
    }
    if u.fails > 0 {
        notes.push(format!("{} failed", u.fails));
    }
    match &u.container {
        Some(name) => format!("{name} ({})", notes.join(", ")),
        None => {
            notes.push("no container of the environment has this address".into());
            let address = notes.remove(0);
            format!("{address} ({})", notes.join(", "))
        }
    }
}

/// The proxy's state in words (as a container's, without an image).
fn state_text(state: &ContainerState, palette: Palette) -> String {
    match state {
        ContainerState::Running { since, .. } => palette.green(&match since {
            Some(s) => format!("running for {s}"),
            None => "running".into(),
        }),
        ContainerState::Stopped {
            since,
            exit_code,
            never_started,
            ..
        } => palette.red(&match (since, never_started) {
            (_, true) => "down (created, never started)".to_owned(),
            (Some(s), false) => format!("down for {s} (exit status {exit_code})"),
            (None, false) => format!("down (exit status {exit_code})"),
        }),
        ContainerState::Restarting { exit_code, .. } => {
            palette.red(&format!("restarting (exit status {exit_code})"))
        }
        ContainerState::Absent => palette.red("missing"),
        ContainerState::HostDown(_) => palette.red("host down"),
        ContainerState::Error(e) => palette.red(&format!("error: {e}")),
        ContainerState::Untrusted(_) => palette.red("host key refused"),
    }
}

/// `--json`'s `proxies`.
pub fn proxies_json(proxies: &[ProxyStatus]) -> Value {
    let list: Vec<Value> = proxies
        .iter()
        .map(|p| {
            let (state, id, since, exit_code, error) = crate::render::state_fields(&p.state);
            let (routes, routes_error) = match &p.routes {
                Routes::Read(upstreams) => (
                    Value::Array(
                        upstreams
                            .iter()
                            .map(|u| {
                                json!({
                                    "address": u.address,
                                    "container": u.container,
                                    "requests": u.requests,
                                    "fails": u.fails,
                                })
                            })
                            .collect(),
                    ),
                    None,
                ),
                Routes::NotRunning => (json!([]), None),
                Routes::Unknown(why) => (Value::Null, Some(why.clone())),
            };
            json!({
                "name": p.name,
                "ship": p.ship,
                "state": state,
                "id": id,
                "since": since,
                "exit_code": exit_code,
                "error": error,
                "routes": routes,
                "routes_error": routes_error,
            })
        })
        .collect();
    Value::Array(list)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn palette() -> Palette {
        Palette::plain()
    }

    fn proxy(state: ContainerState, routes: Routes) -> ProxyStatus {
        ProxyStatus {
            ship: "local".into(),
            name: "shop-proxy".into(),
            state,
            routes,
        }
    }

    fn running() -> ContainerState {
        ContainerState::Running {
            id: "0123456789ab".into(),
            since: Some("3m".into()),
        }
    }

    fn routed(address: &str, container: Option<&str>, requests: u64, fails: u64) -> RoutedUpstream {
        RoutedUpstream {
            address: address.into(),
            container: container.map(str::to_owned),
            requests,
            fails,
        }
    }

    fn text(proxies: &[ProxyStatus]) -> String {
        let mut out = Vec::new();
        write_proxies(&mut out, proxies, |s| s.to_owned(), palette());
        String::from_utf8(out).expect("utf-8")
    }

    #[test]
    fn a_running_proxy_lists_what_it_routes_to() {
        let p = proxy(
            running(),
            Routes::Read(vec![
                routed("172.20.0.3:8080", Some("web-1"), 0, 0),
                routed("172.20.0.4:8080", Some("web-2"), 2, 1),
                routed("172.20.0.9:8080", None, 0, 0),
            ]),
        );
        assert_eq!(
            text(&[p]),
            "\n  proxy shop-proxy on local: running for 3m\n    routes to web-1 (172.20.0.3:8080)\n    routes to web-2 (172.20.0.4:8080, 2 in flight, 1 failed)\n    routes to 172.20.0.9:8080 (no container of the environment has this address)\n"
        );
    }

    #[test]
    fn a_proxy_down_or_unreadable_is_shown_so() {
        let down = proxy(
            ContainerState::Stopped {
                id: "0123456789ab".into(),
                since: Some("1h".into()),
                exit_code: 0,
                never_started: false,
            },
            Routes::NotRunning,
        );
        let missing = proxy(ContainerState::Absent, Routes::NotRunning);
        let unread = proxy(running(), Routes::Unknown("wget failed".into()));
        let empty = proxy(running(), Routes::Read(Vec::new()));
        assert_eq!(
            text(&[down, missing, unread, empty]),
            "\n  proxy shop-proxy on local: down for 1h (exit status 0)\n    routes nothing (it does not run: `maestro up` starts it)\n  proxy shop-proxy on local: missing\n    routes nothing (it does not run: `maestro up` starts it)\n  proxy shop-proxy on local: running for 3m\n    routes: unknown (wget failed)\n  proxy shop-proxy on local: running for 3m\n    routes nothing\n"
        );
        assert_eq!(text(&[]), "");
    }

    #[test]
    fn a_containers_routing_follows_its_state() {
        assert_eq!(routing_suffix(Routing::Routed, palette()), ", routed");
        assert_eq!(
            routing_suffix(Routing::NotRouted, palette()),
            ", not routed"
        );
        assert_eq!(
            routing_suffix(Routing::Unknown, palette()),
            ", routing unknown"
        );
        assert_eq!(routing_suffix(Routing::NotProxied, palette()), "");
        assert_eq!(routed_json(Routing::Routed), Some(true));
        assert_eq!(routed_json(Routing::NotRouted), Some(false));
        assert_eq!(routed_json(Routing::Unknown), None);
    }

    #[test]
    fn the_json_has_the_routes_or_why_not() {
        let read = proxy(
            running(),
            Routes::Read(vec![routed("172.20.0.3:8080", Some("web-1"), 1, 0)]),
        );
        let unread = proxy(running(), Routes::Unknown("wget failed".into()));
        let missing = proxy(ContainerState::Absent, Routes::NotRunning);
        let out = proxies_json(&[read, unread, missing]);
        assert_eq!(
            out[0],
            json!({"name": "shop-proxy", "ship": "local", "state": "running",
                   "id": "0123456789ab", "since": "3m", "exit_code": null, "error": null,
                   "routes": [{"address": "172.20.0.3:8080", "container": "web-1",
                               "requests": 1, "fails": 0}],
                   "routes_error": null})
        );
        assert_eq!(out[1]["routes"], Value::Null);
        assert_eq!(out[1]["routes_error"], "wget failed");
        assert_eq!(out[2]["state"], "absent");
        assert_eq!(out[2]["routes"], json!([]));
    }
}
