//! The hosts: `ship_defaults` and `ships`, each ship's address, how its
//! engine is reached (`endpoint`, `docker_port`, `socket_path`, TLS, an SSH
//! tunnel) and its timeouts; or, for a file without `ships`, the one ship
//! `local` that the Docker CLI's own choice of engine describes.
//! A leaf: imports no other module of the build.

use indexmap::IndexMap;

use crate::docker_host::DockerHost;
use crate::endpoint::Endpoint;
use crate::keys::SHIP as SHIP_KEYS;
use crate::model::{ApiVersion, Ship, SshEndpoint, SshTunnel};
use crate::pyfmt;
use crate::reader::{get, get_set, KeyPath, Reader};
use crate::reads::Reads;
use crate::yaml::{Node, Value};

/// The name of the default ship of a file without `ships`.
pub const LOCAL_SHIP: &str = "local";

/// The ships of the file: its `ships` with `ship_defaults` applied, or the
/// one ship `local` when it has no `ships`.
pub(super) fn ships(
    r: &mut Reader,
    root: &Node,
    top: &[(Node, Node)],
    reads: &Reads,
) -> IndexMap<String, Ship> {
    let defaults: &[(Node, Node)] = match get_set(top, "ship_defaults") {
        Some(node) => {
            let entries = r.map(node, &"ship_defaults").unwrap_or(&[]);
            r.unknown_keys(entries, &"ship_defaults", SHIP_KEYS);
            entries
        }
        None => &[],
    };
    match get(top, "ships") {
        Some(node) => declared_ships(r, node, defaults),
        // No ships: one, `local`, the engine the Docker CLI would use.
        None => local_ship(r, root, defaults, reads),
    }
}

fn declared_ships(
    r: &mut Reader,
    node: &Node,
    defaults: &[(Node, Node)],
) -> IndexMap<String, Ship> {
    let mut out = IndexMap::new();
    for (key, value) in r.map(node, &"ships").unwrap_or(&[]) {
        let Some(name) = r.key(key, &"ships") else {
            continue;
        };
        let path = format_args!("ships/{name}");
        let Some(entries) = r.map(value, &path) else {
            continue;
        };
        r.unknown_keys(entries, &path, SHIP_KEYS);
        if let Some(ship) = ship(r, &name, key, entries, defaults) {
            out.insert(name, ship);
        }
    }
    out
}

/// The one ship of a file without `ships`: `local`, the engine the Docker
/// CLI would use (`DOCKER_HOST`, the current context, the local socket),
/// with `ship_defaults` applied. Its `ip` (what containers are told) is the
/// host of a `tcp://` or `ssh://` address, else 127.0.0.1.
fn local_ship(
    r: &mut Reader,
    root: &Node,
    defaults: &[(Node, Node)],
    reads: &Reads,
) -> IndexMap<String, Ship> {
    let mut out = IndexMap::new();
    let host = match reads.docker_host() {
        Some(Ok(host)) => host,
        Some(Err(why)) => {
            r.error(
                root,
                &"environment",
                format!(
                    "the file has no `ships`, and the default ship `local` cannot be set up: {why}"
                ),
            );
            return out;
        }
        // The load step looks the engine up for every file without `ships`.
        None => {
            r.error(
                root,
                &"environment",
                "the file has no `ships`, and the engine the Docker CLI would use was not looked up",
            );
            return out;
        }
    };
    let ip = match crate::endpoint::parse(&host.url) {
        Ok(Endpoint::Ssh(e)) => e.host,
        Ok(Endpoint::Tcp { host, .. }) => host,
        Ok(Endpoint::Unix(_)) => "127.0.0.1".to_owned(),
        Ok(Endpoint::Host(_)) | Err(_) => {
            r.error(
                root,
                &"environment",
                format!(
                    "the file has no `ships`, and {} says `{}`, which is not `unix:///path`, `tcp://host:port` or `ssh://[user@]host[:port]`; fix it or add `ships`",
                    host.origin, host.url
                ),
            );
            return out;
        }
    };
    let entries = local_entries(root, &ip, host);
    if let Some(mut ship) = ship(r, LOCAL_SHIP, root, &entries, defaults) {
        ship.origin = Some(host.origin.clone());
        out.insert(LOCAL_SHIP.to_owned(), ship);
    }
    out
}

/// The ship `local` as if written in the file (at its top): its `ip`, the
/// engine's address and TLS material.
fn local_entries(root: &Node, ip: &str, host: &DockerHost) -> Vec<(Node, Node)> {
    let text = |v: &str| Node {
        value: Value::Str(v.to_owned()),
        mark: root.mark,
    };
    let mut entries = vec![(text("ip"), text(ip)), (text("endpoint"), text(&host.url))];
    if host.tls_verify {
        entries.push((
            text("tls_verify"),
            Node {
                value: Value::Bool(true),
                mark: root.mark,
            },
        ));
    }
    for (k, v) in [
        ("tls_ca_cert", &host.tls_ca_cert),
        ("tls_cert", &host.tls_cert),
        ("tls_key", &host.tls_key),
    ] {
        if let Some(p) = v {
            entries.push((text(k), text(&p.display().to_string())));
        }
    }
    entries
}

/// A ship's keys, each from the ship's own entries, else from
/// `ship_defaults` (its path names where it came from).
struct ShipKeys<'n> {
    entries: &'n [(Node, Node)],
    defaults: &'n [(Node, Node)],
    path: String,
}

impl<'n> ShipKeys<'n> {
    fn pick(&self, k: &str) -> Option<(&'n Node, String)> {
        get_set(self.entries, k)
            .map(|n| (n, format!("{}/{k}", self.path)))
            .or_else(|| get_set(self.defaults, k).map(|n| (n, format!("ship_defaults/{k}"))))
    }

    fn flag(&self, r: &mut Reader, k: &str) -> bool {
        self.pick(k)
            .and_then(|(n, p)| r.boolean(n, &p))
            .unwrap_or(false)
    }

    fn text(&self, r: &mut Reader, k: &str) -> Option<String> {
        self.pick(k).and_then(|(n, p)| r.string(n, &p))
    }
}

/// How a ship's engine is reached, as `endpoint` may change it.
struct Reach {
    endpoint: String,
    docker_port: u16,
    socket_path: Option<String>,
    ssh: Option<SshEndpoint>,
}

/// What the other keys of the ship say, for the checks of its `endpoint`.
struct Said {
    tls: bool,
    tls_verify: bool,
    ssh_tunnel: bool,
    docker_port: bool,
}

fn ship(
    r: &mut Reader,
    name: &str,
    key: &Node,
    entries: &[(Node, Node)],
    defaults: &[(Node, Node)],
) -> Option<Ship> {
    let path = format!("ships/{name}");
    let keys = ShipKeys {
        entries,
        defaults,
        path: path.clone(),
    };
    let ip = ip(r, key, entries, &path);
    let tls = keys.flag(r, "tls");
    let tls_verify = keys.flag(r, "tls_verify");
    let docker_port_node = keys.pick("docker_port");
    let docker_port = match &docker_port_node {
        Some((n, p)) => r.integer(n, p, 1, 65535).unwrap_or(0) as u16,
        None if tls => 2376,
        None => 2375,
    };
    let socket_path = keys.text(r, "socket_path");
    let ssh_tunnel = keys
        .pick("ssh_tunnel")
        .and_then(|(n, p)| ssh_tunnel(r, n, &p));
    let mut reach = Reach {
        endpoint: ip.clone(),
        docker_port,
        socket_path,
        ssh: None,
    };
    if let Some(n) = get_set(entries, "endpoint") {
        let said = Said {
            tls,
            tls_verify,
            ssh_tunnel: ssh_tunnel.is_some(),
            docker_port: docker_port_node.is_some(),
        };
        endpoint(r, n, &format_args!("{path}/endpoint"), &said, &mut reach);
    }
    let api_version = match keys.pick("api_version") {
        None => ApiVersion::Auto,
        Some((n, p)) => api_version(r, n, &p),
    };
    let timeout = keys
        .pick("timeout")
        .and_then(|(n, p)| r.seconds(n, &p))
        .unwrap_or(5.0);
    let ssh_timeout = keys.pick("ssh_timeout").and_then(|(n, p)| r.seconds(n, &p));
    let tls_ca_cert = keys.text(r, "tls_ca_cert");
    if tls_ca_cert.is_some() && !tls_verify && reach.ssh.is_none() {
        warn_unverified_ca(r, name, &keys);
    }
    Some(Ship {
        name: name.to_owned(),
        ip,
        endpoint: reach.endpoint,
        docker_port: reach.docker_port,
        socket_path: reach.socket_path,
        api_version,
        timeout,
        ssh_tunnel,
        tls,
        tls_verify,
        tls_ca_cert,
        tls_cert: keys.text(r, "tls_cert"),
        tls_key: keys.text(r, "tls_key"),
        ssl_version: keys.text(r, "ssl_version"),
        ssh: reach.ssh,
        ssh_accept_new_host_keys: keys.flag(r, "ssh_accept_new_host_keys"),
        ssh_timeout,
        origin: None,
    })
}

/// The ship's `ip` (empty, with the error, when it has none).
fn ip(r: &mut Reader, key: &Node, entries: &[(Node, Node)], path: &KeyPath) -> String {
    match get_set(entries, "ip") {
        Some(n) => r
            .name(n, &format_args!("{path}/ip"), "an address or host name")
            .unwrap_or_default(),
        None => {
            r.error(
                key,
                path,
                "missing required key `ip` (the address containers use to reach this host)",
            );
            String::new()
        }
    }
}

/// Applies the ship's `endpoint` (node `n`, at `p`) to `reach`, checking it
/// against what the ship's other keys say.
fn endpoint(r: &mut Reader, n: &Node, p: &KeyPath, said: &Said, reach: &mut Reach) {
    let given = r.name(n, p, "an address, host name or engine URL");
    match given.as_deref().map(crate::endpoint::parse) {
        None => {}
        Some(Err(why)) => r.error(n, p, why.to_string()),
        Some(Ok(Endpoint::Host(host))) => reach.endpoint = host,
        Some(Ok(Endpoint::Ssh(e))) => {
            if said.ssh_tunnel {
                r.error(n, p, "an `ssh://` endpoint and `ssh_tunnel` both say how to reach the engine over SSH; keep one (`ssh://` reaches its unix socket, `ssh_tunnel` its TCP port)");
            }
            if said.tls || said.tls_verify {
                r.error(n, p, "an `ssh://` endpoint reaches the engine's unix socket, which speaks no TLS; remove `tls`/`tls_verify` (SSH already encrypts and authenticates)");
            }
            reach.endpoint = e.host.clone();
            reach.ssh = Some(e);
        }
        Some(Ok(Endpoint::Unix(socket))) => {
            if let Some(other) = reach.socket_path.as_ref().filter(|s| **s != socket) {
                r.error(
                    n,
                    p,
                    format!(
                        "`unix://{socket}` and `socket_path: {other}` name two sockets; keep one"
                    ),
                );
            }
            reach.endpoint = "localhost".to_owned();
            reach.socket_path = Some(socket);
        }
        Some(Ok(Endpoint::Tcp { host, port })) => {
            let docker_port = reach.docker_port;
            if let (Some(port), true) = (port, said.docker_port) {
                if port != docker_port {
                    r.error(n, p, format!("the endpoint's port {port} and `docker_port: {docker_port}` differ; keep one"));
                }
            }
            if let Some(port) = port {
                reach.docker_port = port;
            }
            reach.endpoint = host;
        }
    }
}

/// `tls_ca_cert` without `tls_verify` checks nothing (MaestroNG's meaning):
/// said, at the `tls_ca_cert` that applies.
fn warn_unverified_ca(r: &mut Reader, name: &str, keys: &ShipKeys) {
    if let Some((n, _)) = keys.pick("tls_ca_cert") {
        r.warn(
            n,
            &format_args!("{}/tls_ca_cert", keys.path),
            format!("ship {name} has `tls_ca_cert` but not `tls_verify`, so its engine's certificate is not checked (MaestroNG's meaning); add `tls_verify: true` to check it"),
        );
    }
}

fn api_version(r: &mut Reader, n: &Node, p: &KeyPath) -> ApiVersion {
    match &n.value {
        Value::Str(s) if s == "auto" => ApiVersion::Auto,
        Value::Str(s) if is_api_version(s) => ApiVersion::Fixed(s.clone()),
        Value::Float(f) => {
            let text = pyfmt::float_repr(*f);
            // 1.4 in YAML means 1.40: pad a one-digit minor version.
            let text = match text.split_once('.') {
                Some((major, minor)) if minor.len() == 1 => format!("{major}.{minor}0"),
                _ => text,
            };
            ApiVersion::Fixed(text)
        }
        _ => {
            r.expected(n, p, "an API version like \"1.41\" or \"auto\"");
            ApiVersion::Auto
        }
    }
}

fn ssh_tunnel(r: &mut Reader, n: &Node, p: &KeyPath) -> Option<SshTunnel> {
    let e = r.map(n, p)?;
    r.unknown_keys(e, p, crate::keys::SSH_TUNNEL);
    let user = match get_set(e, "user") {
        Some(u) => r.name(u, &format_args!("{p}/user"), "a user name"),
        None => {
            r.error(n, p, "missing required key `user` (the SSH user)");
            None
        }
    };
    let key = match get_set(e, "key") {
        Some(k) => r.name(
            k,
            &format_args!("{p}/key"),
            "the path of a private key file",
        ),
        None => {
            r.error(
                n,
                p,
                "missing required key `key` (the path of the SSH private key)",
            );
            None
        }
    };
    let port = get_set(e, "port")
        .and_then(|pn| r.integer(pn, &format_args!("{p}/port"), 1, 65535))
        .unwrap_or(22) as u16;
    Some(SshTunnel {
        user: user?,
        key: key?,
        port,
    })
}

fn is_api_version(s: &str) -> bool {
    match s.split_once('.') {
        Some((a, b)) => {
            !a.is_empty()
                && !b.is_empty()
                && a.bytes().all(|c| c.is_ascii_digit())
                && b.bytes().all(|c| c.is_ascii_digit())
        }
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use crate::build::tests::load;

    #[test]
    fn endpoints_in_the_docker_cli_forms() {
        let env = load(
            "name: t
ship_defaults: {ssh_timeout: 7}
ships:
  a: {ip: 10.0.0.1, endpoint: \"ssh://deploy@a:2222\", socket_path: /run/docker.sock}
  b: {ip: 10.0.0.2, endpoint: \"tcp://b:2376\"}
  c: {ip: 10.0.0.3, endpoint: \"unix:///run/c.sock\", ssh_accept_new_host_keys: true}
  d: {ip: 10.0.0.4, endpoint: d.example}
services: {}
",
        )
        .expect("a valid file");
        let a = &env.ships["a"];
        let ssh = a.ssh.as_ref().expect("an ssh endpoint");
        assert_eq!(
            (ssh.user.as_deref(), ssh.host.as_str(), ssh.port),
            (Some("deploy"), "a", Some(2222))
        );
        assert_eq!(a.socket_path.as_deref(), Some("/run/docker.sock"));
        assert_eq!(a.ssh_timeout, Some(7.0));
        assert_eq!(a.ip, "10.0.0.1");
        let b = &env.ships["b"];
        assert_eq!(
            (b.endpoint.as_str(), b.docker_port, b.ssh.is_none()),
            ("b", 2376, true)
        );
        let c = &env.ships["c"];
        assert_eq!(c.socket_path.as_deref(), Some("/run/c.sock"));
        assert!(c.ssh_accept_new_host_keys);
        assert!(!a.ssh_accept_new_host_keys);
        assert_eq!(env.ships["d"].endpoint, "d.example");
        assert!(env.warnings.is_empty(), "{:?}", env.warnings);
    }

    #[test]
    fn an_unverified_ca_warns_naming_the_ship() {
        let env = load(
            "name: t
ships:
  s1: {ip: 10.0.0.1, tls: true, tls_ca_cert: /ca.pem}
  s2: {ip: 10.0.0.2, tls: true, tls_verify: true, tls_ca_cert: /ca.pem}
services: {}
",
        )
        .expect("a valid file");
        assert_eq!(env.warnings.len(), 1, "{:?}", env.warnings);
        let text = env.warnings[0].to_string();
        assert!(text.contains("ship s1"), "{text}");
        assert!(text.contains("tls_verify: true"), "{text}");
        assert!(text.starts_with("t.yaml:3:"), "{text}");
    }
}
