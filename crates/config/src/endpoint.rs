//! A ship's `endpoint` as the Docker CLI writes an engine address
//! (`ssh://[user@]host[:port]`, `unix:///path`, `tcp://host[:port]`), or a
//! bare host name or address as MaestroNG has it. Pure text in, parts out.

use crate::model::SshEndpoint;

/// What an `endpoint` value names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// A host name or address (MaestroNG's form): TCP to `docker_port`, or
    /// the far end of an `ssh_tunnel`.
    Host(String),
    /// `ssh://[user@]host[:port]`.
    Ssh(SshEndpoint),
    /// `unix:///path`: a socket on this machine.
    Unix(String),
    /// `tcp://host[:port]`.
    Tcp { host: String, port: Option<u16> },
}

const FORMS: &str =
    "a host name, `ssh://[user@]host[:port]`, `unix:///path/to/docker.sock` or `tcp://host[:port]`";

/// Why an `endpoint` value is not one of the forms.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EndpointError {
    #[error("an empty endpoint is not {FORMS}")]
    Empty,
    #[error("`{0}` names no absolute socket path; write `unix:///var/run/docker.sock`")]
    NoSocketPath(String),
    #[error("`{url}`: the scheme `{scheme}://` is not one maestro speaks; expected {FORMS}")]
    UnknownScheme { url: String, scheme: String },
    #[error("`{0}`: an ssh:// endpoint has no path; the engine's socket on the far side is the ship's `socket_path`")]
    SshPath(String),
    #[error("`{0}`: the user before `@` is empty or carries a password; write `ssh://user@host`")]
    SshUser(String),
    /// The host and port part of a `tcp://` or `ssh://` address.
    #[error("`{url}`: {why}")]
    HostPort { url: String, why: HostPortError },
}

/// What is wrong with a `host[:port]` part.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HostPortError {
    #[error("an IPv6 address in `[` lacks its `]`")]
    UnclosedBracket,
    #[error("unexpected `{0}` after the address")]
    AfterAddress(String),
    #[error("no host name")]
    NoHost,
    #[error("the port `{0}` is not a number from 1 to 65535")]
    BadPort(String),
}

/// Reads an endpoint; the error says what was wrong and which forms exist.
pub fn parse(text: &str) -> Result<Endpoint, EndpointError> {
    let Some((scheme, rest)) = text.split_once("://") else {
        // MaestroNG took any host name as it was; so does maestro.
        if text.trim().is_empty() {
            return Err(EndpointError::Empty);
        }
        return Ok(Endpoint::Host(text.to_owned()));
    };
    let host_port_of = |part: &str| {
        host_port(part).map_err(|why| EndpointError::HostPort {
            url: text.to_owned(),
            why,
        })
    };
    match scheme {
        "ssh" => ssh(rest).map(Endpoint::Ssh),
        "unix" => {
            if rest.starts_with('/') && rest.len() > 1 {
                Ok(Endpoint::Unix(rest.to_owned()))
            } else {
                Err(EndpointError::NoSocketPath(text.to_owned()))
            }
        }
        "tcp" => {
            let rest = rest.strip_suffix('/').unwrap_or(rest);
            let (host, port) = host_port_of(rest)?;
            Ok(Endpoint::Tcp { host, port })
        }
        other => Err(EndpointError::UnknownScheme {
            url: text.to_owned(),
            scheme: other.to_owned(),
        }),
    }
}

fn ssh(rest: &str) -> Result<SshEndpoint, EndpointError> {
    let whole = format!("ssh://{rest}");
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    if rest.contains('/') || rest.contains('?') {
        return Err(EndpointError::SshPath(whole));
    }
    let (user, host_port_text) = match rest.rsplit_once('@') {
        Some((user, hp)) if !user.is_empty() && !user.contains(':') => (Some(user.to_owned()), hp),
        Some(_) => return Err(EndpointError::SshUser(whole)),
        None => (None, rest),
    };
    let (host, port) =
        host_port(host_port_text).map_err(|why| EndpointError::HostPort { url: whole, why })?;
    Ok(SshEndpoint { user, host, port })
}

/// `host`, `host:port`, `[v6]`, `[v6]:port`.
fn host_port(text: &str) -> Result<(String, Option<u16>), HostPortError> {
    let (host, port) = if let Some(inner) = text.strip_prefix('[') {
        let (host, after) = inner
            .split_once(']')
            .ok_or(HostPortError::UnclosedBracket)?;
        match after.strip_prefix(':') {
            Some(port) => (host, Some(port)),
            None if after.is_empty() => (host, None),
            None => return Err(HostPortError::AfterAddress(after.to_owned())),
        }
    } else {
        match text.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (text, None),
        }
    };
    if host.is_empty() || host.contains(char::is_whitespace) {
        return Err(HostPortError::NoHost);
    }
    let port = match port {
        None => None,
        Some(p) => match p.parse::<u16>() {
            Ok(n) if n > 0 => Some(n),
            _ => return Err(HostPortError::BadPort(p.to_owned())),
        },
    };
    Ok((host.to_owned(), port))
}

impl std::fmt::Display for SshEndpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ssh://")?;
        if let Some(user) = &self.user {
            write!(f, "{user}@")?;
        }
        if self.host.contains(':') {
            write!(f, "[{}]", self.host)?;
        } else {
            f.write_str(&self.host)?;
        }
        if let Some(port) = self.port {
            write!(f, ":{port}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ssh_of(user: Option<&str>, host: &str, port: Option<u16>) -> Endpoint {
        Endpoint::Ssh(SshEndpoint {
            user: user.map(str::to_owned),
            host: host.into(),
            port,
        })
    }

    #[test]
    fn docker_cli_forms_are_read() {
        assert_eq!(parse("10.0.0.2"), Ok(Endpoint::Host("10.0.0.2".into())));
        assert_eq!(
            parse("ssh://deploy@ship1:2222"),
            Ok(ssh_of(Some("deploy"), "ship1", Some(2222)))
        );
        assert_eq!(parse("ssh://ship1"), Ok(ssh_of(None, "ship1", None)));
        assert_eq!(parse("ssh://ship1/"), Ok(ssh_of(None, "ship1", None)));
        assert_eq!(
            parse("ssh://root@[fd00::2]:22"),
            Ok(ssh_of(Some("root"), "fd00::2", Some(22)))
        );
        assert_eq!(
            parse("unix:///run/docker.sock"),
            Ok(Endpoint::Unix("/run/docker.sock".into()))
        );
        assert_eq!(
            parse("tcp://10.0.0.2:2376"),
            Ok(Endpoint::Tcp {
                host: "10.0.0.2".into(),
                port: Some(2376)
            })
        );
        assert_eq!(
            parse("tcp://ship"),
            Ok(Endpoint::Tcp {
                host: "ship".into(),
                port: None
            })
        );
    }

    #[test]
    fn bad_forms_say_what_is_wrong() {
        let err = |t: &str| parse(t).expect_err(t).to_string();
        assert!(err("ssh://root@ship/var/run/docker.sock").contains("socket_path"));
        assert!(err("ssh://ship:0").contains("port"));
        assert!(err("ssh://ship:ssh").contains("port"));
        assert!(err("ssh://user:pw@ship").contains("password"));
        assert!(err("ssh://").contains("no host"));
        assert!(err("unix://docker.sock").contains("absolute"));
        assert!(err("http://ship:2375").contains("scheme"));
        assert!(err("npipe:////./pipe/docker").contains("scheme"));
        assert!(err(" ").contains("ssh://"));
        assert!(err("tcp://[::1").contains("]"));
    }

    #[test]
    fn ssh_endpoints_print_as_written() {
        for text in ["ssh://a@b:2", "ssh://b", "ssh://u@[fd00::1]:22"] {
            let Ok(Endpoint::Ssh(e)) = parse(text) else {
                panic!("{text}")
            };
            assert_eq!(e.to_string(), text);
        }
    }
}
