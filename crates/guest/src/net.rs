//! The container's own address and host name resolution, without glibc's
//! name service switch (which needs shared libraries that a static binary in
//! a `FROM scratch` image does not have).

use std::ffi::CStr;
use std::net::Ipv4Addr;
use std::path::Path;

use crate::dns;
use crate::error::{GuestError, Result};

/// The first IPv4 address of a network interface, as the kernel lists them
/// (`getifaddrs`, which asks the kernel over netlink: no name service).
pub fn interface_ipv4(interface: &str) -> Result<Ipv4Addr> {
    let mut list: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills `list` with a linked list that we only read
    // and then free with freeifaddrs, exactly once.
    if unsafe { libc::getifaddrs(&mut list) } != 0 {
        return Err(GuestError::Interfaces {
            reason: std::io::Error::last_os_error().to_string(),
        });
    }
    let mut exists = false;
    let mut address = None;
    let mut cursor = list;
    while !cursor.is_null() {
        // SAFETY: `cursor` is a non-null node of the list getifaddrs made.
        let entry = unsafe { &*cursor };
        // SAFETY: ifa_name is a NUL-terminated string when not null.
        let name_matches = !entry.ifa_name.is_null()
            && unsafe { CStr::from_ptr(entry.ifa_name) }.to_bytes() == interface.as_bytes();
        if name_matches {
            exists = true;
            // SAFETY: ifa_addr, when not null, points to a sockaddr whose
            // family says how to read it; AF_INET means a sockaddr_in.
            unsafe {
                if address.is_none()
                    && !entry.ifa_addr.is_null()
                    && i32::from((*entry.ifa_addr).sa_family) == libc::AF_INET
                {
                    let sin = &*(entry.ifa_addr as *const libc::sockaddr_in);
                    address = Some(Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr)));
                }
            }
        }
        cursor = entry.ifa_next;
    }
    // SAFETY: `list` came from getifaddrs and is freed once.
    unsafe { libc::freeifaddrs(list) };
    match address {
        Some(address) => Ok(address),
        None if exists => Err(GuestError::NoInterfaceAddress {
            interface: interface.to_string(),
        }),
        None => Err(GuestError::NoInterface {
            interface: interface.to_string(),
        }),
    }
}

/// Resolves a host name to an IPv4 address the way `gethostbyname` would
/// with the usual `hosts: files dns`, without the name service switch:
/// an IPv4 literal (any form `inet_aton` accepts: `10.0.0.1`, `127.1`,
/// `0x7f.1`) is taken as is, then `/etc/hosts` is read, then the name servers
/// of `/etc/resolv.conf` are asked over UDP.
pub fn resolve_ipv4(name: &str) -> Result<Ipv4Addr> {
    resolve_ipv4_with(name, Path::new("/etc/hosts"), Path::new("/etc/resolv.conf"))
}

/// [`resolve_ipv4`] with the hosts file and resolver configuration given.
pub fn resolve_ipv4_with(name: &str, hosts: &Path, resolv_conf: &Path) -> Result<Ipv4Addr> {
    let fail = |reason: String| GuestError::Resolve {
        name: name.to_string(),
        reason,
    };
    if name.is_empty() {
        return Err(fail("empty name".into()));
    }
    if name == "<broadcast>" {
        return Ok(Ipv4Addr::BROADCAST);
    }
    if let Some(address) = parse_inet_aton(name) {
        return Ok(address);
    }
    if name.contains(':') {
        return Err(fail("an IPv6 address has no IPv4 address".into()));
    }
    if let Ok(text) = std::fs::read_to_string(hosts) {
        if let Some(address) = lookup_hosts(&text, name) {
            return Ok(address);
        }
    }
    let config = match std::fs::read_to_string(resolv_conf) {
        Ok(text) => dns::ResolverConfig::parse(&text),
        Err(_) => dns::ResolverConfig::default(),
    };
    // GuestError is Clone and Eq (callers compare it): the reason is kept as
    // its text, which an I/O error inside a DnsError could not be.
    dns::query_ipv4(name, &config).map_err(|e| fail(e.to_string()))
}

/// The first IPv4 address that a hosts file gives `name` (names and aliases
/// compared without regard to ASCII case).
pub fn lookup_hosts(text: &str, name: &str) -> Option<Ipv4Addr> {
    let wanted = name.strip_suffix('.').unwrap_or(name);
    text.lines()
        .filter_map(|line| {
            let line = line.split('#').next().unwrap_or("");
            let mut fields = line.split_ascii_whitespace();
            let address: Ipv4Addr = fields.next()?.parse().ok()?;
            fields
                .any(|field| field.eq_ignore_ascii_case(wanted))
                .then_some(address)
        })
        .next()
}

/// An IPv4 address in any form glibc's `inet_aton` accepts exactly (1 to 4
/// parts, each decimal, octal with a leading `0` or hexadecimal with `0x`;
/// the last part fills the remaining bytes).
pub fn parse_inet_aton(text: &str) -> Option<Ipv4Addr> {
    let parts: Vec<&str> = text.split('.').collect();
    if parts.len() > 4 {
        return None;
    }
    let mut values = Vec::with_capacity(parts.len());
    for part in &parts {
        values.push(parse_aton_part(part)?);
    }
    let (last, leading) = values.split_last()?;
    let mut address: u32 = 0;
    for (i, value) in leading.iter().enumerate() {
        if *value > 0xff {
            return None;
        }
        address |= value << (24 - 8 * i);
    }
    let last_bits = 32 - 8 * leading.len() as u32;
    if last_bits < 32 && *last >= (1u32 << last_bits) {
        return None;
    }
    Some(Ipv4Addr::from(address | last))
}

fn parse_aton_part(part: &str) -> Option<u32> {
    let (digits, radix) =
        if let Some(hex) = part.strip_prefix("0x").or_else(|| part.strip_prefix("0X")) {
            (hex, 16)
        } else if part.len() > 1 && part.starts_with('0') {
            (&part[1..], 8)
        } else {
            (part, 10)
        };
    if part.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    if digits.is_empty() {
        // "0x" alone is 0 for inet_aton
        return Some(0);
    }
    u32::from_str_radix(digits, radix).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aton_forms() {
        let a = |s: &str| parse_inet_aton(s).map(|a| a.to_string());
        assert_eq!(a("10.0.0.1").as_deref(), Some("10.0.0.1"));
        assert_eq!(a("127.1").as_deref(), Some("127.0.0.1"));
        assert_eq!(a("0x7f.1").as_deref(), Some("127.0.0.1"));
        assert_eq!(a("010.0.0.1").as_deref(), Some("8.0.0.1"));
        assert_eq!(a("1.2.65535").as_deref(), Some("1.2.255.255"));
        assert_eq!(a("16909060").as_deref(), Some("1.2.3.4"));
        assert_eq!(a("4294967295").as_deref(), Some("255.255.255.255"));
        for bad in [
            "",
            "1.2.3.4.5",
            "256.1.1.1",
            "1.2.3.256",
            "1.2.65536",
            "4294967296",
            "09.1.1.1",
            "1..2",
            "1.2.3.",
            "host",
            "1.2.3.4 ",
            "-1.2.3.4",
        ] {
            assert_eq!(a(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn hosts_file() {
        let text = "# comment\n127.0.0.1 localhost\n::1 ip6-localhost db\n10.1.2.3  db.example DB # the db\n10.9.9.9 db\n";
        let l = |n: &str| lookup_hosts(text, n).map(|a| a.to_string());
        assert_eq!(l("localhost").as_deref(), Some("127.0.0.1"));
        assert_eq!(l("db").as_deref(), Some("10.1.2.3"));
        assert_eq!(l("DB.example.").as_deref(), Some("10.1.2.3"));
        assert_eq!(l("ip6-localhost"), None);
        assert_eq!(l("comment"), None);
        assert_eq!(l("the"), None);
    }

    #[test]
    fn resolves_literals_and_hosts_without_dns() {
        let dir = std::env::temp_dir().join(format!("maestro-guest-net-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let hosts = dir.join("hosts");
        std::fs::write(&hosts, "10.7.0.1 ship1\n").unwrap();
        let conf = dir.join("resolv.conf"); // missing: no name server is asked
        let r = |n: &str| resolve_ipv4_with(n, &hosts, &conf);
        assert_eq!(r("ship1").unwrap(), Ipv4Addr::new(10, 7, 0, 1));
        assert_eq!(r("192.0.2.9").unwrap(), Ipv4Addr::new(192, 0, 2, 9));
        assert_eq!(r("<broadcast>").unwrap(), Ipv4Addr::BROADCAST);
        assert!(matches!(r("::1"), Err(GuestError::Resolve { .. })));
        assert!(matches!(r(""), Err(GuestError::Resolve { .. })));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn loopback_interface() {
        assert_eq!(interface_ipv4("lo").unwrap(), Ipv4Addr::LOCALHOST);
        assert_eq!(
            interface_ipv4("no-such-if0"),
            Err(GuestError::NoInterface {
                interface: "no-such-if0".into()
            })
        );
    }
}
