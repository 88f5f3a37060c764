//! The complete Caddy JSON config of a ship's proxy (Caddy's native config,
//! loaded whole through its admin API: what is not in it is gone).
//!
//! - `admin.listen`: the admin API on the container's own loopback only.
//! - `apps.http.grace_period`: the longest drain time of the routes, so a
//!   reload lets in-flight requests finish (and is not held up for ever).
//! - `apps.http.servers.http` (and `https` when a route has TLS): one route
//!   per service, most specific first (hosts before none, longer path
//!   prefixes before shorter), each a `reverse_proxy` with round-robin load
//!   balancing over its upstreams, retries for a while when an upstream
//!   cannot be reached (`try_duration`: a request that arrives while
//!   upstreams are switched waits for one, it does not fail), active health
//!   checks and passive ones; then a 404 for anything no route matches
//!   (Caddy's own answer would be an empty 200).
//! - `apps.tls.certificates.load_files`: the routes' certificates, each
//!   tagged with its service and chosen by the route's host names (SNI).
//!   Automatic HTTPS is off: certificates come from files only.

use std::cmp::Reverse;
use std::time::Duration;

use serde_json::{json, Map, Value};

use crate::admin::ADMIN_ADDRESS;
use crate::{ProxyConfig, ProxyError, Route};

/// How long between two tries at an upstream while none answers.
const TRY_INTERVAL: Duration = Duration::from_millis(100);
/// How long Caddy waits for a connection to an upstream.
const DIAL_TIMEOUT: Duration = Duration::from_secs(2);

/// The Caddy config of `config` (checked first).
pub fn render(config: &ProxyConfig) -> Result<Value, ProxyError> {
    config.check()?;
    let mut routes: Vec<&Route> = config.routes.iter().collect();
    routes.sort_by_key(|r| {
        (
            r.hosts.is_empty(),
            Reverse(
                r.path_prefix
                    .as_deref()
                    .map_or(0, |p| p.trim_end_matches('/').len()),
            ),
        )
    });
    let plain: Vec<Value> = routes
        .iter()
        .filter(|r| r.tls.is_none())
        .map(|r| route(r))
        .collect();
    let secure: Vec<&&Route> = routes.iter().filter(|r| r.tls.is_some()).collect();

    let mut servers = Map::new();
    servers.insert(
        "http".into(),
        server(config.listen.http, plain, Value::Null),
    );
    if !secure.is_empty() {
        let policies: Vec<Value> = secure
            .iter()
            .map(|r| {
                json!({
                    "match": {"sni": r.hosts},
                    "certificate_selection": {"any_tag": [tag(r)]},
                })
            })
            .collect();
        servers.insert(
            "https".into(),
            server(
                config.listen.https,
                secure.iter().map(|r| route(r)).collect(),
                Value::Array(policies),
            ),
        );
    }
    let mut http = json!({ "servers": servers });
    let grace = config.grace_period();
    if !grace.is_zero() {
        http["grace_period"] = duration(grace);
    }
    let mut apps = json!({ "http": http });
    if !secure.is_empty() {
        let files: Vec<Value> = secure
            .iter()
            .filter_map(|r| {
                r.tls.as_ref().map(
                    |tls| json!({"certificate": tls.certificate, "key": tls.key, "tags": [tag(r)]}),
                )
            })
            .collect();
        apps["tls"] = json!({ "certificates": { "load_files": files } });
    }
    Ok(json!({
        "admin": { "listen": ADMIN_ADDRESS },
        "apps": apps,
    }))
}

/// One server: its routes, then the 404 for the rest.
fn server(port: u16, mut routes: Vec<Value>, tls_policies: Value) -> Value {
    routes.push(json!({
        "handle": [{
            "handler": "static_response",
            "status_code": 404,
            "body": "no route\n",
        }],
    }));
    let mut server = json!({
        "listen": [format!(":{port}")],
        "routes": routes,
        "automatic_https": {"disable": true},
    });
    if !tls_policies.is_null() {
        server["tls_connection_policies"] = tls_policies;
    }
    server
}

fn route(r: &Route) -> Value {
    let mut matcher = Map::new();
    if !r.hosts.is_empty() {
        matcher.insert("host".into(), json!(r.hosts));
    }
    if let Some(prefix) = r.path_prefix.as_deref().map(|p| p.trim_end_matches('/')) {
        if !prefix.is_empty() {
            matcher.insert("path".into(), json!([prefix, format!("{prefix}/*")]));
        }
    }
    let upstreams: Vec<Value> = r
        .upstreams
        .iter()
        .map(|u| json!({"dial": u.dial}))
        .collect();
    // Long enough for the active check to see an upstream come back.
    let try_for = (r.health.interval * 2 + r.health.timeout).max(Duration::from_secs(1));
    let mut out = json!({
        "@id": format!("maestro.route.{}", r.service),
        "handle": [{
            "handler": "reverse_proxy",
            "upstreams": upstreams,
            "load_balancing": {
                "selection_policy": {"policy": "round_robin"},
                "try_duration": duration(try_for),
                "try_interval": duration(TRY_INTERVAL),
            },
            "health_checks": {
                "active": {
                    "uri": r.health.path,
                    "interval": duration(r.health.interval),
                    "timeout": duration(r.health.timeout),
                },
                "passive": {
                    "fail_duration": duration(r.health.interval * 2),
                    "max_fails": 1,
                },
            },
            "transport": {
                "protocol": "http",
                "dial_timeout": duration(DIAL_TIMEOUT),
                "response_header_timeout": duration(r.response_timeout),
            },
        }],
        "terminal": true,
    });
    if !matcher.is_empty() {
        out["match"] = json!([matcher]);
    }
    out
}

/// The tag of a route's certificate.
fn tag(r: &Route) -> String {
    format!("maestro.{}", r.service)
}

/// A duration as Caddy reads it: `1500ms`, or nanoseconds when finer.
fn duration(d: Duration) -> Value {
    if d.subsec_nanos().is_multiple_of(1_000_000) {
        Value::String(format!("{}ms", d.as_millis()))
    } else {
        Value::String(format!("{}ns", d.as_nanos()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Health, Listen, Tls, Upstream};

    fn web(service: &str, hosts: &[&str], prefix: Option<&str>) -> Route {
        Route {
            service: service.into(),
            hosts: hosts.iter().map(|h| h.to_string()).collect(),
            path_prefix: prefix.map(str::to_owned),
            upstreams: vec![Upstream::new(&format!("{service}-1"), 8080)],
            health: Health {
                path: "/health".into(),
                interval: Duration::from_millis(500),
                timeout: Duration::from_secs(1),
            },
            response_timeout: Duration::from_secs(30),
            drain_timeout: Duration::from_secs(5),
            tls: None,
        }
    }

    fn config(routes: Vec<Route>) -> ProxyConfig {
        ProxyConfig {
            listen: Listen::default(),
            routes,
        }
    }

    #[test]
    fn a_route_becomes_a_reverse_proxy_with_health_checks_and_retries() {
        let mut r = web("app", &["app.example"], Some("/api/"));
        r.upstreams.push(Upstream::new("app-2", 8080));
        let out = render(&config(vec![r])).expect("renders");
        assert_eq!(out["admin"]["listen"], "localhost:2019");
        assert_eq!(out["apps"]["http"]["grace_period"], "5000ms");
        let server = &out["apps"]["http"]["servers"]["http"];
        assert_eq!(server["listen"], json!([":80"]));
        let route = &server["routes"][0];
        assert_eq!(route["@id"], "maestro.route.app");
        assert_eq!(
            route["match"],
            json!([{"host": ["app.example"], "path": ["/api", "/api/*"]}])
        );
        let proxy = &route["handle"][0];
        assert_eq!(proxy["handler"], "reverse_proxy");
        assert_eq!(
            proxy["upstreams"],
            json!([{"dial": "app-1:8080"}, {"dial": "app-2:8080"}])
        );
        assert_eq!(proxy["load_balancing"]["try_duration"], "2000ms");
        assert_eq!(proxy["health_checks"]["active"]["uri"], "/health");
        assert_eq!(proxy["health_checks"]["active"]["interval"], "500ms");
        assert_eq!(proxy["health_checks"]["passive"]["fail_duration"], "1000ms");
        assert_eq!(proxy["transport"]["response_header_timeout"], "30000ms");
        // Then the 404 for the rest; no HTTPS server without TLS routes.
        assert_eq!(server["routes"][1]["handle"][0]["status_code"], 404);
        assert!(out["apps"]["http"]["servers"].get("https").is_none());
        assert!(out["apps"].get("tls").is_none());
    }

    #[test]
    fn specific_routes_come_first() {
        let out = render(&config(vec![
            web("any", &[], None),
            web("short", &["a.example"], Some("/a")),
            web("root", &["a.example"], None),
            web("long", &["a.example"], Some("/a/b")),
        ]))
        .expect("renders");
        let ids: Vec<&str> = out["apps"]["http"]["servers"]["http"]["routes"]
            .as_array()
            .expect("routes")
            .iter()
            .filter_map(|r| r["@id"].as_str())
            .collect();
        assert_eq!(
            ids,
            [
                "maestro.route.long",
                "maestro.route.short",
                "maestro.route.root",
                "maestro.route.any"
            ]
        );
        // No matcher at all for a route of any host and path.
        assert!(out["apps"]["http"]["servers"]["http"]["routes"][3]
            .get("match")
            .is_none());
    }

    #[test]
    fn a_tls_route_is_served_over_https_with_its_certificate() {
        let mut r = web("secure", &["s.example"], None);
        r.tls = Some(Tls {
            certificate: "/certs/s.pem".into(),
            key: "/certs/s.key".into(),
        });
        let out = render(&config(vec![r, web("plain", &[], None)])).expect("renders");
        let https = &out["apps"]["http"]["servers"]["https"];
        assert_eq!(https["listen"], json!([":443"]));
        assert_eq!(https["routes"][0]["@id"], "maestro.route.secure");
        assert_eq!(
            https["tls_connection_policies"],
            json!([{"match": {"sni": ["s.example"]}, "certificate_selection": {"any_tag": ["maestro.secure"]}}])
        );
        assert_eq!(
            out["apps"]["tls"]["certificates"]["load_files"],
            json!([{"certificate": "/certs/s.pem", "key": "/certs/s.key", "tags": ["maestro.secure"]}])
        );
        // The plain server has only the plain route (and the 404).
        let plain = &out["apps"]["http"]["servers"]["http"]["routes"];
        assert_eq!(plain[0]["@id"], "maestro.route.plain");
        assert_eq!(plain.as_array().map(Vec::len), Some(2));
    }

    #[test]
    fn bad_routes_are_refused_before_caddy_sees_them() {
        let cases: Vec<(Route, &str)> = vec![
            (web("a", &[], Some("api")), "path prefix"),
            (
                Route {
                    upstreams: vec![Upstream {
                        dial: "nohost".into(),
                    }],
                    ..web("a", &[], None)
                },
                "container:port",
            ),
            (
                Route {
                    health: Health {
                        path: "health".into(),
                        ..web("a", &[], None).health
                    },
                    ..web("a", &[], None)
                },
                "health path",
            ),
            (
                Route {
                    tls: Some(Tls {
                        certificate: "c".into(),
                        key: "k".into(),
                    }),
                    ..web("a", &[], None)
                },
                "host names",
            ),
        ];
        for (route, needle) in cases {
            let err = render(&config(vec![route]))
                .expect_err("refused")
                .to_string();
            assert!(err.contains(needle), "{err}");
        }
        let err = render(&config(vec![web("a", &[], None), web("a", &[], None)]))
            .expect_err("refused")
            .to_string();
        assert!(err.contains("second route"), "{err}");
    }

    #[test]
    fn durations_are_milliseconds_or_nanoseconds() {
        assert_eq!(duration(Duration::from_secs(3)), "3000ms");
        assert_eq!(duration(Duration::from_micros(1500)), "1500000ns");
    }
}
