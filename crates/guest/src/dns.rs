//! A minimal DNS client: one `A` question over UDP to the name servers of
//! `/etc/resolv.conf`, with its search list, `ndots`, `timeout` and
//! `attempts`. Enough to resolve a ship's host name inside a container
//! without glibc's name service switch.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, UdpSocket};
use std::time::Duration;

use thiserror::Error;

/// Why no IPv4 address could be had from the name servers. Its text is the
/// reason part of [`GuestError::Resolve`](crate::GuestError::Resolve).
#[derive(Debug, Error)]
pub enum DnsError {
    /// Every name tried is unknown to the name servers, or has no IPv4
    /// address.
    #[error("no such host")]
    NoSuchHost,
    /// There was no name server to ask.
    #[error("no name server answered")]
    NoNameServer,
    /// The name cannot be put in a question.
    #[error(transparent)]
    InvalidName(#[from] InvalidName),
    /// A name server answered with a response code other than success or
    /// NXDOMAIN.
    #[error("name server {server} answered with code {rcode}")]
    ServerFailure { server: SocketAddr, rcode: u8 },
    /// A name server's answer could not be read.
    #[error("bad answer from name server {server}: {fault}")]
    Malformed {
        server: SocketAddr,
        fault: MalformedAnswer,
    },
    /// The question could not be sent, or no answer came in time.
    #[error("name server {server}: {error}")]
    Exchange {
        server: SocketAddr,
        error: std::io::Error,
    },
}

/// A name that is not a host name (empty, too long, an empty or too long
/// label).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("{name:?} is not a valid host name")]
pub struct InvalidName {
    pub name: String,
}

/// What is wrong with an answer's packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum MalformedAnswer {
    #[error("too short")]
    TooShort,
    #[error("wrong id")]
    WrongId,
    #[error("not a response")]
    NotAResponse,
    #[error("truncated record")]
    TruncatedRecord,
    #[error("truncated name")]
    TruncatedName,
    #[error("bad label")]
    BadLabel,
}

/// What `/etc/resolv.conf` says, with glibc's defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolverConfig {
    /// Name servers (at most three, as glibc uses).
    pub nameservers: Vec<SocketAddr>,
    /// Search domains (from the last `search` or `domain` line).
    pub search: Vec<String>,
    /// A name with at least this many dots is tried as is first.
    pub ndots: usize,
    /// How long to wait for each answer.
    pub timeout: Duration,
    /// How many rounds over the name servers.
    pub attempts: u32,
}

impl Default for ResolverConfig {
    fn default() -> Self {
        ResolverConfig {
            nameservers: vec![SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 53)],
            search: Vec::new(),
            ndots: 1,
            timeout: Duration::from_secs(5),
            attempts: 2,
        }
    }
}

impl ResolverConfig {
    /// Reads the text of a `resolv.conf`.
    pub fn parse(text: &str) -> ResolverConfig {
        let mut config = ResolverConfig {
            nameservers: Vec::new(),
            ..ResolverConfig::default()
        };
        for line in text.lines() {
            let line = line.split(['#', ';']).next().unwrap_or("");
            let mut fields = line.split_ascii_whitespace();
            match fields.next() {
                Some("nameserver") => {
                    let server = fields.next().and_then(|a| {
                        // a scoped IPv6 address (fe80::1%eth0) has no use here
                        let a = a.split('%').next().unwrap_or(a);
                        a.parse::<Ipv4Addr>()
                            .map(IpAddr::V4)
                            .or_else(|_| a.parse::<Ipv6Addr>().map(IpAddr::V6))
                            .ok()
                    });
                    if let Some(ip) = server {
                        if config.nameservers.len() < 3 {
                            config.nameservers.push(SocketAddr::new(ip, 53));
                        }
                    }
                }
                Some("search") | Some("domain") => {
                    config.search = fields
                        .map(|d| d.trim_end_matches('.').to_string())
                        .filter(|d| !d.is_empty())
                        .collect();
                }
                Some("options") => {
                    for option in fields {
                        let (key, value) = option.split_once(':').unwrap_or((option, ""));
                        let number = value.parse::<u64>().ok();
                        match (key, number) {
                            ("ndots", Some(n)) => config.ndots = n.min(15) as usize,
                            ("timeout", Some(n)) => {
                                config.timeout = Duration::from_secs(n.clamp(1, 30))
                            }
                            ("attempts", Some(n)) => config.attempts = n.clamp(1, 5) as u32,
                            _ => {}
                        }
                    }
                }
                _ => {}
            }
        }
        if config.nameservers.is_empty() {
            config.nameservers = ResolverConfig::default().nameservers;
        }
        config
    }

    /// The fully qualified names to ask for, in order.
    pub fn candidates(&self, name: &str) -> Vec<String> {
        if let Some(absolute) = name.strip_suffix('.') {
            return vec![absolute.to_string()];
        }
        let searched = self.search.iter().map(|domain| format!("{name}.{domain}"));
        if name.matches('.').count() >= self.ndots {
            std::iter::once(name.to_string()).chain(searched).collect()
        } else {
            searched.chain(std::iter::once(name.to_string())).collect()
        }
    }
}

/// Asks the name servers for an IPv4 address of `name`. The error is the
/// problem with the last name tried that was not simply unknown.
pub fn query_ipv4(name: &str, config: &ResolverConfig) -> Result<Ipv4Addr, DnsError> {
    let mut last_problem = None;
    for candidate in config.candidates(name) {
        match query_candidate(&candidate, config) {
            Ok(Some(address)) => return Ok(address),
            Ok(None) => {}
            Err(problem) => last_problem = Some(problem),
        }
    }
    Err(last_problem.unwrap_or(DnsError::NoSuchHost))
}

/// `Ok(None)`: the name servers say there is no such name or no IPv4
/// address for it.
fn query_candidate(name: &str, config: &ResolverConfig) -> Result<Option<Ipv4Addr>, DnsError> {
    let id = query_id(name);
    let query = encode_query(id, name)?;
    let mut last_problem = DnsError::NoNameServer;
    for _ in 0..config.attempts.max(1) {
        for &server in &config.nameservers {
            let answer = match exchange(&query, server, config.timeout) {
                Ok(answer) => answer,
                Err(error) => {
                    last_problem = DnsError::Exchange { server, error };
                    continue;
                }
            };
            match decode_answer(id, &answer) {
                Ok(Answer::Address(address)) => return Ok(Some(address)),
                Ok(Answer::NotFound) => return Ok(None),
                Ok(Answer::ServerFailure(rcode)) => {
                    last_problem = DnsError::ServerFailure { server, rcode }
                }
                Err(fault) => last_problem = DnsError::Malformed { server, fault },
            }
        }
    }
    Err(last_problem)
}

fn exchange(query: &[u8], server: SocketAddr, timeout: Duration) -> std::io::Result<Vec<u8>> {
    let local: SocketAddr = match server {
        SocketAddr::V4(_) => (Ipv4Addr::UNSPECIFIED, 0).into(),
        SocketAddr::V6(_) => (Ipv6Addr::UNSPECIFIED, 0).into(),
    };
    let socket = UdpSocket::bind(local)?;
    socket.connect(server)?;
    socket.set_read_timeout(Some(timeout))?;
    socket.send(query)?;
    let mut buffer = vec![0u8; 1500];
    let deadline = std::time::Instant::now() + timeout;
    loop {
        let n = socket.recv(&mut buffer).map_err(|e| {
            if matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ) {
                std::io::Error::new(std::io::ErrorKind::TimedOut, "no answer in time")
            } else {
                e
            }
        })?;
        // ignore stray datagrams that cannot be our answer
        if n >= 2 && buffer[..2] == query[..2] {
            buffer.truncate(n);
            return Ok(buffer);
        }
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "no answer in time",
            ));
        }
        socket.set_read_timeout(Some(left))?;
    }
}

fn query_id(name: &str) -> u16 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let mut h: u32 = nanos ^ std::process::id().rotate_left(16);
    for b in name.bytes() {
        h = h.rotate_left(5) ^ u32::from(b);
    }
    (h ^ (h >> 16)) as u16
}

/// A recursive `A`/`IN` question for `name`.
pub fn encode_query(id: u16, name: &str) -> Result<Vec<u8>, InvalidName> {
    let mut packet = Vec::with_capacity(18 + name.len());
    packet.extend_from_slice(&id.to_be_bytes());
    packet.extend_from_slice(&[0x01, 0x00]); // RD
    packet.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, 0]); // QD=1
    let invalid = || InvalidName {
        name: name.to_string(),
    };
    if name.is_empty() || name.len() > 253 {
        return Err(invalid());
    }
    for label in name.split('.') {
        if label.is_empty() || label.len() > 63 {
            return Err(invalid());
        }
        packet.push(label.len() as u8);
        packet.extend_from_slice(label.as_bytes());
    }
    packet.push(0);
    packet.extend_from_slice(&[0, 1, 0, 1]); // A, IN
    Ok(packet)
}

/// What an answer says.
#[derive(Debug, PartialEq, Eq)]
pub enum Answer {
    Address(Ipv4Addr),
    /// NXDOMAIN, or no `A` record.
    NotFound,
    /// Any other response code.
    ServerFailure(u8),
}

/// Reads an answer to the question with `id`: the first `A`/`IN` record.
pub fn decode_answer(id: u16, packet: &[u8]) -> Result<Answer, MalformedAnswer> {
    let header = packet.get(..12).ok_or(MalformedAnswer::TooShort)?;
    if u16::from_be_bytes([header[0], header[1]]) != id {
        return Err(MalformedAnswer::WrongId);
    }
    if header[2] & 0x80 == 0 {
        return Err(MalformedAnswer::NotAResponse);
    }
    let rcode = header[3] & 0x0f;
    match rcode {
        0 => {}
        3 => return Ok(Answer::NotFound),
        other => return Ok(Answer::ServerFailure(other)),
    }
    let questions = u16::from_be_bytes([header[4], header[5]]);
    let answers = u16::from_be_bytes([header[6], header[7]]);
    let mut at = 12;
    for _ in 0..questions {
        at = skip_name(packet, at)? + 4;
    }
    for _ in 0..answers {
        at = skip_name(packet, at)?;
        let fixed = packet
            .get(at..at + 10)
            .ok_or(MalformedAnswer::TruncatedRecord)?;
        let kind = u16::from_be_bytes([fixed[0], fixed[1]]);
        let class = u16::from_be_bytes([fixed[2], fixed[3]]);
        let length = usize::from(u16::from_be_bytes([fixed[8], fixed[9]]));
        at += 10;
        let data = packet
            .get(at..at + length)
            .ok_or(MalformedAnswer::TruncatedRecord)?;
        if kind == 1 && class == 1 && length == 4 {
            return Ok(Answer::Address(Ipv4Addr::new(
                data[0], data[1], data[2], data[3],
            )));
        }
        at += length;
    }
    Ok(Answer::NotFound)
}

/// The offset just after the (possibly compressed) name at `at`.
fn skip_name(packet: &[u8], mut at: usize) -> Result<usize, MalformedAnswer> {
    loop {
        let length = *packet.get(at).ok_or(MalformedAnswer::TruncatedName)?;
        match length {
            0 => return Ok(at + 1),
            l if l & 0xc0 == 0xc0 => return Ok(at + 2),
            l if l & 0xc0 == 0 => at += 1 + usize::from(l),
            _ => return Err(MalformedAnswer::BadLabel),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_resolv_conf() {
        let c = ResolverConfig::parse(
            "# generated\nnameserver 10.0.0.2\nnameserver fe80::1%eth0\nsearch a.example b.example.\noptions ndots:2 timeout:1 attempts:3 rotate\nnameserver bogus\n",
        );
        assert_eq!(
            c.nameservers,
            vec![
                "10.0.0.2:53".parse().unwrap(),
                "[fe80::1]:53".parse().unwrap()
            ]
        );
        assert_eq!(c.search, vec!["a.example", "b.example"]);
        assert_eq!(c.ndots, 2);
        assert_eq!(c.timeout, Duration::from_secs(1));
        assert_eq!(c.attempts, 3);
        assert_eq!(
            ResolverConfig::parse("").nameservers,
            ResolverConfig::default().nameservers
        );
    }

    #[test]
    fn candidates_follow_ndots() {
        let c = ResolverConfig {
            search: vec!["corp".into()],
            ..ResolverConfig::default()
        };
        assert_eq!(c.candidates("db"), vec!["db.corp", "db"]);
        assert_eq!(c.candidates("db.x"), vec!["db.x", "db.x.corp"]);
        assert_eq!(c.candidates("db.x."), vec!["db.x"]);
    }

    /// A name server on the loopback interface that answers every question
    /// with the given response code and records.
    fn fake_server(rcode: u8, addresses: Vec<[u8; 4]>, questions: usize) -> SocketAddr {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        let address = socket.local_addr().unwrap();
        socket
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        std::thread::spawn(move || {
            for _ in 0..questions {
                let mut buffer = [0u8; 512];
                let Ok((n, peer)) = socket.recv_from(&mut buffer) else {
                    return;
                };
                let query = &buffer[..n];
                let mut answer = query.to_vec();
                answer[2] = 0x81; // QR, RD
                answer[3] = 0x80 | rcode; // RA
                answer[7] = addresses.len() as u8 + 1;
                // a CNAME first, then the addresses, names compressed
                answer.extend_from_slice(&[0xc0, 12, 0, 5, 0, 1, 0, 0, 0, 60, 0, 2, 0xc0, 12]);
                for a in &addresses {
                    answer.extend_from_slice(&[0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4]);
                    answer.extend_from_slice(a);
                }
                socket.send_to(&answer, peer).unwrap();
            }
        });
        address
    }

    #[test]
    fn asks_a_name_server() {
        let server = fake_server(0, vec![[10, 77, 0, 2], [10, 77, 0, 3]], 1);
        let config = ResolverConfig {
            nameservers: vec![server],
            timeout: Duration::from_secs(5),
            attempts: 1,
            ..ResolverConfig::default()
        };
        assert_eq!(
            query_ipv4("ship2.example", &config).map_err(|e| e.to_string()),
            Ok(Ipv4Addr::new(10, 77, 0, 2))
        );
    }

    #[test]
    fn no_such_name() {
        let server = fake_server(3, vec![], 2);
        let config = ResolverConfig {
            nameservers: vec![server],
            search: vec!["corp".into()],
            attempts: 1,
            ..ResolverConfig::default()
        };
        assert_eq!(
            query_ipv4("nowhere", &config).map_err(|e| e.to_string()),
            Err("no such host".into())
        );
    }

    #[test]
    fn silent_name_server_times_out() {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        let config = ResolverConfig {
            nameservers: vec![socket.local_addr().unwrap()],
            timeout: Duration::from_millis(200),
            attempts: 1,
            ..ResolverConfig::default()
        };
        let err = query_ipv4("db.example", &config).unwrap_err().to_string();
        assert!(err.contains("no answer in time"), "{err}");
    }

    #[test]
    fn encodes_and_rejects_names() {
        let q = encode_query(0x1234, "a.bc").unwrap();
        assert_eq!(
            q,
            [0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, b'a', 2, b'b', b'c', 0, 0, 1, 0, 1]
        );
        assert!(encode_query(1, "a..b").is_err());
        assert!(encode_query(1, &"x".repeat(64)).is_err());
        assert_eq!(
            decode_answer(1, &[0; 5]).map_err(|e| e.to_string()),
            Err("too short".into())
        );
    }
}
