//! Host ports that two containers of one play would both publish on one
//! ship: found from the file alone, before anything is created, instead of
//! by the engine when the second container starts.

use std::fmt;

use maestro_config::{Container, PortMapping, Protocol};

/// Two published ports of a play that want the same host address and port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortClash {
    pub ship: String,
    /// `(container, port name)` of each side, in the play's order.
    pub first: (String, String),
    pub second: (String, String),
    /// `0.0.0.0:8080/tcp`, as the later one asks for it.
    pub address: String,
}

impl fmt::Display for PortClash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let side = |(container, port): &(String, String)| format!("{container} (port `{port}`)");
        let both = if self.first.0 == self.second.0 {
            format!(
                "{} publishes host port {} twice (ports `{}` and `{}`)",
                self.first.0, self.address, self.first.1, self.second.1
            )
        } else {
            format!(
                "{} and {} both publish host port {}",
                side(&self.first),
                side(&self.second),
                self.address
            )
        };
        write!(
            f,
            "ship {}: {both}; only one can have it: give one another external port or address, or put them on different ships",
            self.ship
        )
    }
}

/// The first clash among the host ports `containers` publish, if any.
pub fn port_clash(containers: &[&Container]) -> Option<PortClash> {
    let mut seen: Vec<(&Container, &str, &PortMapping)> = Vec::new();
    for c in containers {
        if c.network_mode.as_deref() == Some("host") {
            continue;
        }
        for (name, port) in &c.ports {
            if let Some((other, other_name, _)) = seen
                .iter()
                .find(|(o, _, p)| o.ship == c.ship && overlap(p, port))
            {
                return Some(PortClash {
                    ship: c.ship.clone(),
                    first: (other.name.clone(), (*other_name).to_owned()),
                    second: (c.name.clone(), name.clone()),
                    address: format!(
                        "{}:{}/{}",
                        port.external_ip,
                        port.external.number(),
                        protocol(port.external.protocol)
                    ),
                });
            }
            seen.push((c, name, port));
        }
    }
    None
}

fn protocol(p: Protocol) -> &'static str {
    match p {
        Protocol::Tcp => "tcp",
        Protocol::Udp => "udp",
    }
}

/// Same protocol, overlapping port numbers, and the same address (or one
/// of them all addresses).
fn overlap(a: &PortMapping, b: &PortMapping) -> bool {
    let any = |ip: &str| matches!(ip, "" | "0.0.0.0" | "::" | "[::]");
    let range = |p: &PortMapping| {
        (
            p.external.first,
            p.external.last.unwrap_or(p.external.first),
        )
    };
    let ((a1, a2), (b1, b2)) = (range(a), range(b));
    a.external.protocol == b.external.protocol
        && a1 <= b2
        && b1 <= a2
        && (a.external_ip == b.external_ip || any(&a.external_ip) || any(&b.external_ip))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(text: &str) -> maestro_config::Environment {
        let src = maestro_config::Source {
            name: "t.yaml".into(),
            base_dir: ".".into(),
            text: text.into(),
        };
        maestro_config::load(&src, &Default::default()).expect("a valid file")
    }

    const FILE: &str = "name: t
ships:
  s1: {ip: 10.0.0.1}
  s2: {ip: 10.0.0.2}
services:
  web:
    image: nginx
    ports: {http: '80:8080'}
    instances:
      web-1: {ship: s1}
      web-2: {ship: s2}
      web-3: {ship: s1}
  api:
    image: nginx
    instances:
      api-1: {ship: s1, ports: {dns: '53/udp:8080/udp', admin: {exposed: 9000, external: [10.0.0.1, 9000]}}}
      api-2: {ship: s1, ports: {admin: {exposed: 9000, external: [127.0.0.1, 9000]}, range: '7000-7002:7000-7002'}}
      api-3: {ship: s1, ports: {one: '7002'}}
";

    #[test]
    fn two_containers_on_one_ship_with_one_host_port_clash() {
        let env = env(FILE);
        let pick = |names: &[&str]| -> Vec<&Container> {
            names.iter().map(|n| &env.containers[*n]).collect()
        };
        let clash = port_clash(&pick(&["web-1", "web-2", "web-3"])).expect("a clash");
        assert_eq!(
            clash.to_string(),
            "ship s1: web-1 (port `http`) and web-3 (port `http`) both publish host port 0.0.0.0:8080/tcp; only one can have it: give one another external port or address, or put them on different ships"
        );
        // Other ships, other protocols and other addresses do not clash.
        assert_eq!(port_clash(&pick(&["web-1", "web-2"])), None);
        assert_eq!(port_clash(&pick(&["web-1", "api-1", "api-2"])), None);
        // Overlapping ranges do.
        let clash = port_clash(&pick(&["api-2", "api-3"])).expect("a clash");
        assert_eq!(clash.first.0, "api-2");
        assert_eq!(clash.second, ("api-3".into(), "one".into()));
    }
}
