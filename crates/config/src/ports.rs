//! Port specs (§5.1): `25`, `"53/udp"`, `"25:2525"`, ranges, and the
//! `{exposed, external: [ip, port]}` form.

use crate::model::{PortMapping, PortSpec, Protocol};
use crate::reader::{get, show, Reader};
use crate::yaml::{Node, Value};

const EXPECTED: &str = "expected a port like 8080, \"53/udp\", \"25:2525\" (exposed:external), \"1234-1236\" or {exposed: 25, external: 2525}";

/// Parses one side: `8080`, `8080/udp`, `1234-1236/tcp`.
pub fn parse_side(text: &str) -> Result<PortSpec, String> {
    let (numbers, protocol) = match text.split_once('/') {
        Some((n, "tcp")) => (n, Protocol::Tcp),
        Some((n, "udp")) => (n, Protocol::Udp),
        Some((_, other)) => {
            return Err(format!("unknown protocol `{other}` (expected tcp or udp)"))
        }
        None => (text, Protocol::Tcp),
    };
    let number = |s: &str| -> Result<u16, String> {
        if s.is_empty() || !s.bytes().all(|c| c.is_ascii_digit()) {
            return Err(format!("`{s}` is not a port number"));
        }
        match s.parse::<u32>() {
            Ok(n) if (1..=65535).contains(&n) => Ok(n as u16),
            _ => Err(format!("port {s} is out of range (1 to 65535)")),
        }
    };
    let (first, last) = match numbers.split_once('-') {
        Some((a, b)) => {
            let (a, b) = (number(a)?, number(b)?);
            if b < a {
                return Err(format!("range {numbers} runs backwards"));
            }
            (a, Some(b))
        }
        None => (number(numbers)?, None),
    };
    Ok(PortSpec {
        first,
        last,
        protocol,
    })
}

fn side_of(node: &Node) -> Result<PortSpec, String> {
    match &node.value {
        Value::Int(i) => parse_side(&i.to_string()),
        Value::Str(s) => parse_side(s),
        _ => Err(format!("{} is not a port", show(node))),
    }
}

fn check_pair(exposed: PortSpec, external: PortSpec) -> Result<(), String> {
    if exposed.protocol != external.protocol {
        return Err(format!(
            "protocols differ between {exposed} and {external}; both sides must be tcp or both udp"
        ));
    }
    let len = |p: PortSpec| p.last.map(|l| l - p.first + 1).unwrap_or(1);
    if exposed.last.is_some() && len(exposed) != len(external) {
        return Err(format!(
            "range {exposed} needs an external range of the same length, found {external}"
        ));
    }
    Ok(())
}

/// Parses a named port of a container. `path` names it in messages.
pub fn parse(r: &mut Reader, node: &Node, path: &str) -> Option<PortMapping> {
    let result = match &node.value {
        Value::Int(_) => side_of(node).map(|p| (p, "0.0.0.0".to_string(), p)),
        Value::Str(s) => {
            let parts: Vec<&str> = s.split(':').collect();
            match parts.as_slice() {
                [one] => parse_side(one).map(|p| (p, "0.0.0.0".to_string(), p)),
                [exposed, external] => parse_side(exposed).and_then(|e| {
                    let x = parse_side(external)?;
                    check_pair(e, x)?;
                    Ok((e, "0.0.0.0".to_string(), x))
                }),
                _ => Err(format!(
                    "{} has {} parts separated by `:`, at most 2 are allowed",
                    show(node),
                    parts.len()
                )),
            }
        }
        Value::Map(entries) => match (get(entries, "exposed"), get(entries, "external")) {
            (Some(exposed), Some(external)) => side_of(exposed).and_then(|e| {
                let (ip, x) = match &external.value {
                    Value::Seq(items) if items.len() == 2 => {
                        let ip = match &items[0].value {
                            Value::Str(s) => s.clone(),
                            _ => {
                                return Err(format!(
                                    "external address {} is not an address",
                                    show(&items[0])
                                ))
                            }
                        };
                        (ip, side_of(&items[1])?)
                    }
                    Value::Seq(_) => {
                        return Err("external as a list must be [address, port]".to_string());
                    }
                    _ => ("0.0.0.0".to_string(), side_of(external)?),
                };
                check_pair(e, x)?;
                Ok((e, ip, x))
            }),
            _ => Err("the mapping form needs both `exposed` and `external`".to_string()),
        },
        _ => Err(format!("{} is not a port spec", show(node))),
    };
    match result {
        Ok((exposed, external_ip, external)) => Some(PortMapping {
            exposed,
            external_ip,
            external,
        }),
        Err(why) => {
            r.error(node, path, format!("invalid port spec: {why}; {EXPECTED}"));
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml::parse as yaml;

    fn port(src: &str) -> Result<String, String> {
        let doc = yaml(src, "t").unwrap();
        let mut r = Reader::new("t");
        match parse(&mut r, &doc, "p") {
            Some(m) => Ok(format!("{} -> {}:{}", m.exposed, m.external_ip, m.external)),
            None => Err(r.errors[0].message.clone()),
        }
    }

    #[test]
    fn all_forms() {
        assert_eq!(port("25").unwrap(), "25/tcp -> 0.0.0.0:25/tcp");
        assert_eq!(port("'53/udp'").unwrap(), "53/udp -> 0.0.0.0:53/udp");
        assert_eq!(port("'25:2525'").unwrap(), "25/tcp -> 0.0.0.0:2525/tcp");
        assert_eq!(
            port("'53/udp:5353/udp'").unwrap(),
            "53/udp -> 0.0.0.0:5353/udp"
        );
        assert_eq!(
            port("{exposed: 25, external: 2525}").unwrap(),
            "25/tcp -> 0.0.0.0:2525/tcp"
        );
        assert_eq!(
            port("{exposed: 53/udp, external: [192.168.10.2, 5353/udp]}").unwrap(),
            "53/udp -> 192.168.10.2:5353/udp"
        );
        assert_eq!(
            port("'1234-1236:1234-1236'").unwrap(),
            "1234-1236/tcp -> 0.0.0.0:1234-1236/tcp"
        );
        assert_eq!(
            port("'1234:1234-1236'").unwrap(),
            "1234/tcp -> 0.0.0.0:1234-1236/tcp"
        );
        // YAML 1.1: an unquoted 22:22 is the base-60 integer 1342.
        assert_eq!(port("22:22").unwrap(), "1342/tcp -> 0.0.0.0:1342/tcp");
    }

    #[test]
    fn bad_forms() {
        assert!(port("'1:2:3'").unwrap_err().contains("3 parts"));
        assert!(port("'53/udp:53/tcp'")
            .unwrap_err()
            .contains("protocols differ"));
        assert!(port("'80/sctp'")
            .unwrap_err()
            .contains("unknown protocol `sctp`"));
        assert!(port("'http'")
            .unwrap_err()
            .contains("`http` is not a port number"));
        assert!(port("70000").unwrap_err().contains("out of range"));
        assert!(port("{exposed: 25}").unwrap_err().contains("needs both"));
    }
}
