//! Port specs (§5.1): `25`, `"53/udp"`, `"25:2525"`, ranges, and the
//! `{exposed, external: [ip, port]}` form.

use crate::model::{PortMapping, PortSpec, Protocol};
use crate::reader::{get, show, KeyPath, Reader};
use crate::yaml::{Node, Value};

const EXPECTED: &str = "expected a port like 8080, \"53/udp\", \"25:2525\" (exposed:external), \"1234-1236\" or {exposed: 25, external: 2525}";

/// What is wrong with a port spec (the message goes on with [`EXPECTED`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PortError {
    #[error("unknown protocol `{0}` (expected tcp or udp)")]
    UnknownProtocol(String),
    #[error("`{0}` is not a port number")]
    NotANumber(String),
    #[error("port {0} is out of range (1 to 65535)")]
    OutOfRange(String),
    #[error("range {0} runs backwards")]
    Backwards(String),
    /// A value that is neither a number nor a string, as shown in messages.
    #[error("{0} is not a port")]
    NotAPort(String),
    #[error(
        "protocols differ between {exposed} and {external}; both sides must be tcp or both udp"
    )]
    ProtocolsDiffer {
        exposed: PortSpec,
        external: PortSpec,
    },
    #[error("range {exposed} needs an external range of the same length, found {external}")]
    RangeLengths {
        exposed: PortSpec,
        external: PortSpec,
    },
    #[error("{shown} has {parts} parts separated by `:`, at most 2 are allowed")]
    TooManyParts { shown: String, parts: usize },
    #[error("external address {0} is not an address")]
    ExternalNotAddress(String),
    #[error("external as a list must be [address, port]")]
    ExternalList,
    #[error("the mapping form needs both `exposed` and `external`")]
    MappingNeedsBoth,
    #[error("{0} is not a port spec")]
    NotASpec(String),
}

/// Parses one side: `8080`, `8080/udp`, `1234-1236/tcp`.
pub fn parse_side(text: &str) -> Result<PortSpec, PortError> {
    let (numbers, protocol) = match text.split_once('/') {
        Some((n, "tcp")) => (n, Protocol::Tcp),
        Some((n, "udp")) => (n, Protocol::Udp),
        Some((_, other)) => return Err(PortError::UnknownProtocol(other.to_owned())),
        None => (text, Protocol::Tcp),
    };
    let (first, last) = match numbers.split_once('-') {
        Some((a, b)) => {
            let (a, b) = (port_number(a)?, port_number(b)?);
            if b < a {
                return Err(PortError::Backwards(numbers.to_owned()));
            }
            (a, Some(b))
        }
        None => (port_number(numbers)?, None),
    };
    Ok(PortSpec {
        first,
        last,
        protocol,
    })
}

/// One port number, 1 to 65535.
fn port_number(s: &str) -> Result<u16, PortError> {
    if s.is_empty() || !s.bytes().all(|c| c.is_ascii_digit()) {
        return Err(PortError::NotANumber(s.to_owned()));
    }
    match s.parse::<u32>() {
        Ok(n) if (1..=65535).contains(&n) => Ok(n as u16),
        _ => Err(PortError::OutOfRange(s.to_owned())),
    }
}

fn side_of(node: &Node) -> Result<PortSpec, PortError> {
    match &node.value {
        Value::Int(i) => parse_side(&i.to_string()),
        Value::Str(s) => parse_side(s),
        _ => Err(PortError::NotAPort(show(node))),
    }
}

fn check_pair(exposed: PortSpec, external: PortSpec) -> Result<(), PortError> {
    if exposed.protocol != external.protocol {
        return Err(PortError::ProtocolsDiffer { exposed, external });
    }
    let len = |p: PortSpec| p.last.map(|l| l - p.first + 1).unwrap_or(1);
    if exposed.last.is_some() && len(exposed) != len(external) {
        return Err(PortError::RangeLengths { exposed, external });
    }
    Ok(())
}

/// The exposed side, the external address and the external side.
type Sides = (PortSpec, String, PortSpec);

const ANY_ADDRESS: &str = "0.0.0.0";

/// Parses a named port of a container. `path` names it in messages.
pub fn parse(r: &mut Reader, node: &Node, path: &KeyPath) -> Option<PortMapping> {
    let result = match &node.value {
        Value::Int(_) => side_of(node).map(|p| (p, ANY_ADDRESS.to_string(), p)),
        Value::Str(s) => string_form(node, s),
        Value::Map(entries) => mapping_form(entries),
        _ => Err(PortError::NotASpec(show(node))),
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

/// `"8080"`, `"25:2525"` (exposed:external).
fn string_form(node: &Node, s: &str) -> Result<Sides, PortError> {
    let parts: Vec<&str> = s.split(':').collect();
    match parts.as_slice() {
        [one] => parse_side(one).map(|p| (p, ANY_ADDRESS.to_string(), p)),
        [exposed, external] => parse_side(exposed).and_then(|e| {
            let x = parse_side(external)?;
            check_pair(e, x)?;
            Ok((e, ANY_ADDRESS.to_string(), x))
        }),
        _ => Err(PortError::TooManyParts {
            shown: show(node),
            parts: parts.len(),
        }),
    }
}

/// `{exposed: 25, external: 2525}` or `{exposed: 25, external: [ip, 2525]}`.
fn mapping_form(entries: &[(Node, Node)]) -> Result<Sides, PortError> {
    let (Some(exposed), Some(external)) = (get(entries, "exposed"), get(entries, "external"))
    else {
        return Err(PortError::MappingNeedsBoth);
    };
    let e = side_of(exposed)?;
    let (ip, x) = match &external.value {
        Value::Seq(items) if items.len() == 2 => {
            let ip = match &items[0].value {
                Value::Str(s) => s.clone(),
                _ => return Err(PortError::ExternalNotAddress(show(&items[0]))),
            };
            (ip, side_of(&items[1])?)
        }
        Value::Seq(_) => return Err(PortError::ExternalList),
        _ => (ANY_ADDRESS.to_string(), side_of(external)?),
    };
    check_pair(e, x)?;
    Ok((e, ip, x))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml::parse as yaml;

    fn port(src: &str) -> Result<String, String> {
        let doc = yaml(src, "t").unwrap();
        let mut r = Reader::new("t");
        match parse(&mut r, &doc, &"p") {
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
