//! What the proxy is asked to do: the routes of a ship's services, where it
//! listens inside its container, and the checks that keep a bad route out of
//! Caddy's hands (it would refuse the whole config).

use std::time::Duration;

use crate::ProxyError;

/// A ship's proxy: its routes and where it listens inside its container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProxyConfig {
    pub listen: Listen,
    pub routes: Vec<Route>,
}

/// The ports the proxy listens on inside its container (publishing them is
/// the container's business).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Listen {
    pub http: u16,
    pub https: u16,
}

impl Default for Listen {
    fn default() -> Listen {
        Listen {
            http: 80,
            https: 443,
        }
    }
}

/// One service's way in: requests for its hosts (any host when none) and
/// path prefix (any path when none) go to its upstreams.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// The service's name (the route's `@id` in Caddy's config).
    pub service: String,
    pub hosts: Vec<String>,
    /// `/api`: `/api` and everything under `/api/`.
    pub path_prefix: Option<String>,
    pub upstreams: Vec<Upstream>,
    pub health: Health,
    /// How long an upstream may take to send its response headers.
    pub response_timeout: Duration,
    /// How long in-flight requests are given when the proxy's config is
    /// replaced (and, for maestro, before a replaced container is stopped).
    pub drain_timeout: Duration,
    pub tls: Option<Tls>,
}

/// Where Caddy connects: `container-name:port` on a network the proxy shares
/// with the container.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Upstream {
    pub dial: String,
}

impl Upstream {
    pub fn new(container: &str, port: u16) -> Upstream {
        Upstream {
            dial: format!("{container}:{port}"),
        }
    }
}

/// The active health check: `GET path` every `interval`, failed after
/// `timeout` or on a status outside 2xx/3xx.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Health {
    pub path: String,
    pub interval: Duration,
    pub timeout: Duration,
}

/// A certificate and its key, PEM files at these paths inside the proxy
/// container (mounted there).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tls {
    pub certificate: String,
    pub key: String,
}

impl ProxyConfig {
    /// Every route's problems, the first one as the error: a name used twice,
    /// a path that is not absolute, an upstream that is not `host:port`, a
    /// TLS route without hosts (its certificate is chosen by name).
    pub fn check(&self) -> Result<(), ProxyError> {
        let mut seen = std::collections::BTreeSet::new();
        for route in &self.routes {
            let problem = |problem: String| ProxyError::Route {
                service: route.service.clone(),
                problem,
            };
            if route.service.is_empty() {
                return Err(problem("the service has no name".into()));
            }
            if !seen.insert(route.service.as_str()) {
                return Err(problem("a second route for the same service".into()));
            }
            if let Some(prefix) = &route.path_prefix {
                if !prefix.starts_with('/') || prefix.contains(['*', ' ']) {
                    return Err(problem(format!(
                        "path prefix `{prefix}` is not an absolute path (`/…`, no `*` or spaces)"
                    )));
                }
            }
            if !route.health.path.starts_with('/') {
                return Err(problem(format!(
                    "health path `{}` is not an absolute path (`/…`)",
                    route.health.path
                )));
            }
            if route.health.interval.is_zero() || route.health.timeout.is_zero() {
                return Err(problem(
                    "the health check's interval and timeout must be above 0".into(),
                ));
            }
            for host in &route.hosts {
                if host.is_empty() || host.contains(|c: char| c.is_whitespace() || c == '/') {
                    return Err(problem(format!("`{host}` is not a host name")));
                }
            }
            for upstream in &route.upstreams {
                let port = upstream
                    .dial
                    .rsplit_once(':')
                    .map(|(host, port)| (host, port.parse::<u16>()));
                if !matches!(port, Some((host, Ok(p))) if !host.is_empty() && p > 0) {
                    return Err(problem(format!(
                        "upstream `{}` is not `container:port`",
                        upstream.dial
                    )));
                }
            }
            if route.tls.is_some() && route.hosts.is_empty() {
                return Err(problem(
                    "a route with TLS needs its host names (the certificate is chosen by them)"
                        .into(),
                ));
            }
        }
        Ok(())
    }

    /// The longest drain time of the routes: how long Caddy gives in-flight
    /// requests when its config is replaced (its `grace_period`).
    pub fn grace_period(&self) -> Duration {
        self.routes
            .iter()
            .map(|r| r.drain_timeout)
            .max()
            .unwrap_or(Duration::ZERO)
    }
}
