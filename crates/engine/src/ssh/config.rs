//! What the user's SSH setup says about one host: `~/.ssh/config` (read
//! with a maintained parser: `Host` patterns, `Include`, `HostName`, `User`,
//! `Port`, `IdentityFile`, `ProxyJump`, `ConnectTimeout`, and the host key
//! options `UserKnownHostsFile`, `GlobalKnownHostsFile`,
//! `StrictHostKeyChecking`, `HostKeyAlias`, `IdentitiesOnly`,
//! `IdentityAgent`), merged with what the ship itself says.

use std::path::{Path, PathBuf};
use std::time::Duration;

use ssh2_config::{HostParams, ParseRule, SshConfig};

/// How an unknown host key is treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Strict {
    /// Refused (`StrictHostKeyChecking yes`/`ask`, the default).
    Yes,
    /// Trusted and recorded (`accept-new`, or `no`/`off`; a changed key is
    /// refused either way).
    AcceptNew,
}

/// One SSH hop, fully resolved.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Hop {
    /// The name as written (an alias, or a host), for messages.
    pub alias: String,
    pub host: String,
    pub port: u16,
    pub user: String,
    pub identity_files: Vec<PathBuf>,
    pub identities_only: bool,
    /// `None`: no agent (`IdentityAgent none`); else its socket.
    pub agent: Option<PathBuf>,
    pub known_hosts: Vec<PathBuf>,
    pub strict: Strict,
    /// The name host keys are looked up by (`HostKeyAlias`, else the host).
    pub key_name: String,
    pub connect_timeout: Option<Duration>,
}

/// What a ship asks for, before the SSH config is applied.
#[derive(Debug, Clone, Default)]
pub(crate) struct Wanted {
    pub alias: String,
    pub user: Option<String>,
    pub port: Option<u16>,
    pub identity_file: Option<PathBuf>,
    pub accept_new: bool,
}

/// The user's SSH config, or none.
pub(crate) struct UserConfig {
    config: Option<SshConfig>,
    home: Option<PathBuf>,
    user: String,
    agent_env: Option<PathBuf>,
}

impl UserConfig {
    /// Reads `~/.ssh/config` (`$HOME`), if there is one.
    pub fn load() -> Result<UserConfig, String> {
        let home = std::env::var_os("HOME")
            .filter(|h| !h.is_empty())
            .map(PathBuf::from);
        let user = std::env::var("USER")
            .or_else(|_| std::env::var("LOGNAME"))
            .unwrap_or_else(|_| "root".into());
        let agent_env = std::env::var_os("SSH_AUTH_SOCK")
            .filter(|s| !s.is_empty())
            .map(PathBuf::from);
        let config = match &home {
            Some(h) => read(&h.join(".ssh").join("config"), h)?,
            None => None,
        };
        Ok(UserConfig {
            config,
            home,
            user,
            agent_env,
        })
    }

    #[cfg(test)]
    pub fn from_text(text: &str, home: &Path) -> UserConfig {
        let config = parse(text, home).expect("a config");
        UserConfig {
            config: Some(config),
            home: Some(home.to_owned()),
            user: "me".into(),
            agent_env: Some(PathBuf::from("/tmp/agent.sock")),
        }
    }

    pub fn home(&self) -> Option<&Path> {
        self.home.as_deref()
    }

    /// The hops to reach `wanted`, the first one first (bastions from
    /// `ProxyJump`, then the host itself).
    pub fn route(&self, wanted: &Wanted) -> Result<Vec<Hop>, String> {
        let params = self.params(&wanted.alias);
        let mut hops = Vec::new();
        if let Some(jumps) = &params.proxy_jump {
            let jumps: Vec<&String> = jumps.iter().filter(|j| !j.is_empty()).collect();
            if !(jumps.len() == 1 && jumps[0].eq_ignore_ascii_case("none")) {
                for jump in jumps {
                    let jump_wanted = parse_jump(jump)?;
                    // A bastion's own ProxyJump is not followed (no loops).
                    hops.push(self.hop(&jump_wanted, &self.params(&jump_wanted.alias)));
                }
            }
        }
        hops.push(self.hop(wanted, &params));
        Ok(hops)
    }

    fn params(&self, alias: &str) -> HostParams {
        match &self.config {
            Some(c) => c.query(alias),
            None => HostParams::new(&Default::default()),
        }
    }

    fn hop(&self, wanted: &Wanted, p: &HostParams) -> Hop {
        let extra = |name: &str| -> Option<Vec<String>> { p.unsupported_fields.get(name).cloned() };
        let host = p.host_name.clone().unwrap_or_else(|| wanted.alias.clone());
        let port = wanted.port.or(p.port).unwrap_or(22);
        let user = wanted
            .user
            .clone()
            .or_else(|| p.user.clone())
            .unwrap_or_else(|| self.user.clone());
        let ssh_dir = self.home.as_ref().map(|h| h.join(".ssh"));
        let mut identity_files: Vec<PathBuf> = Vec::new();
        if let Some(file) = &wanted.identity_file {
            identity_files.push(self.expand(file, &host, &user));
        }
        match &p.identity_file {
            Some(files) => {
                identity_files.extend(files.iter().map(|f| self.expand(f, &host, &user)))
            }
            None if wanted.identity_file.is_none() => {
                if let Some(dir) = &ssh_dir {
                    for name in ["id_ed25519", "id_ecdsa", "id_rsa"] {
                        identity_files.push(dir.join(name));
                    }
                }
            }
            None => {}
        }
        let identities_only = extra("identitiesonly")
            .and_then(|v| v.first().map(|s| s.eq_ignore_ascii_case("yes")))
            .unwrap_or(false);
        let agent = match extra("identityagent").and_then(|v| v.first().cloned()) {
            Some(v) if v.eq_ignore_ascii_case("none") => None,
            Some(v) if v == "SSH_AUTH_SOCK" || v == "$SSH_AUTH_SOCK" => self.agent_env.clone(),
            Some(v) => Some(self.expand(Path::new(&v), &host, &user)),
            None => self.agent_env.clone(),
        };
        let files = |name: &str, default: Vec<PathBuf>| -> Vec<PathBuf> {
            match extra(name) {
                Some(list) => list
                    .iter()
                    .flat_map(|v| v.split_whitespace().map(str::to_owned).collect::<Vec<_>>())
                    .filter(|v| !v.eq_ignore_ascii_case("none"))
                    .map(|v| self.expand(Path::new(&v), &host, &user))
                    .collect(),
                None => default,
            }
        };
        let mut known_hosts = files(
            "userknownhostsfile",
            ssh_dir
                .iter()
                .flat_map(|d| [d.join("known_hosts"), d.join("known_hosts2")])
                .collect(),
        );
        known_hosts.extend(files(
            "globalknownhostsfile",
            vec![
                PathBuf::from("/etc/ssh/ssh_known_hosts"),
                PathBuf::from("/etc/ssh/ssh_known_hosts2"),
            ],
        ));
        let strict = match extra("stricthostkeychecking")
            .and_then(|v| v.first().map(|s| s.to_ascii_lowercase()))
            .as_deref()
        {
            Some("accept-new") | Some("no") | Some("off") => Strict::AcceptNew,
            _ if wanted.accept_new => Strict::AcceptNew,
            _ => Strict::Yes,
        };
        let key_name = extra("hostkeyalias")
            .and_then(|v| v.first().cloned())
            .unwrap_or_else(|| host.clone());
        Hop {
            alias: wanted.alias.clone(),
            host,
            port,
            user,
            identity_files,
            identities_only,
            agent,
            known_hosts,
            strict,
            key_name,
            connect_timeout: p.connect_timeout,
        }
    }

    /// `~/` and the `%d %h %u %r %%` tokens of ssh_config paths.
    fn expand(&self, path: &Path, host: &str, user: &str) -> PathBuf {
        let text = path.to_string_lossy();
        let home = self
            .home
            .as_ref()
            .map(|h| h.to_string_lossy().into_owned())
            .unwrap_or_default();
        let text = match text.strip_prefix("~/") {
            Some(rest) => format!("{home}/{rest}"),
            None => text.into_owned(),
        };
        let mut out = String::new();
        let mut chars = text.chars();
        while let Some(c) = chars.next() {
            if c != '%' {
                out.push(c);
                continue;
            }
            match chars.next() {
                Some('d') => out.push_str(&home),
                Some('h') => out.push_str(host),
                Some('r') => out.push_str(user),
                Some('u') => out.push_str(&self.user),
                Some('%') => out.push('%'),
                Some(other) => {
                    out.push('%');
                    out.push(other);
                }
                None => out.push('%'),
            }
        }
        PathBuf::from(out)
    }
}

fn read(path: &Path, home: &Path) -> Result<Option<SshConfig>, String> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
    };
    parse(&text, home)
        .map(Some)
        .map_err(|e| format!("{}: {e}", path.display()))
}

fn parse(text: &str, home: &Path) -> Result<SshConfig, ssh2_config::SshParserError> {
    // `Match` blocks are not evaluated: each becomes a block that matches
    // no host, so its options never leak into the block above it.
    let text: String = text
        .lines()
        .map(|line| {
            let word = line.split_whitespace().next().unwrap_or("");
            if word.eq_ignore_ascii_case("match") {
                "Host !*\n".to_owned()
            } else {
                format!("{line}\n")
            }
        })
        .collect();
    SshConfig::default().home_dir(home).parse(
        &mut text.as_bytes(),
        ParseRule::ALLOW_UNKNOWN_FIELDS | ParseRule::ALLOW_UNSUPPORTED_FIELDS,
    )
}

/// A `ProxyJump` entry: `[user@]host[:port]` or `ssh://[user@]host[:port]`.
fn parse_jump(text: &str) -> Result<Wanted, String> {
    let url = if text.starts_with("ssh://") {
        text.to_owned()
    } else {
        format!("ssh://{text}")
    };
    match maestro_config::endpoint::parse(&url) {
        Ok(maestro_config::endpoint::Endpoint::Ssh(e)) => Ok(Wanted {
            alias: e.host,
            user: e.user,
            port: e.port,
            identity_file: None,
            accept_new: false,
        }),
        Ok(_) | Err(_) => Err(format!(
            "the SSH config's ProxyJump entry `{text}` is not `[user@]host[:port]`"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wanted(alias: &str) -> Wanted {
        Wanted {
            alias: alias.into(),
            ..Default::default()
        }
    }

    const CONFIG: &str = "
Host ship1 ship1-alias
    HostName 10.0.0.2
    User deploy
    Port 2222
    IdentityFile ~/.ssh/deploy_%h
    ProxyJump jump@bastion1:2200,bastion2
    ConnectTimeout 7
    UserKnownHostsFile ~/.ssh/fleet_hosts /etc/fleet_hosts
    StrictHostKeyChecking accept-new

Host bastion2
    HostName 10.0.9.9
    User hop

Match host ship1
    User leaked

Host *
    IdentityAgent none
";

    #[test]
    fn a_host_block_and_its_jumps() {
        let c = UserConfig::from_text(CONFIG, Path::new("/home/me"));
        let hops = c.route(&wanted("ship1-alias")).unwrap();
        assert_eq!(hops.len(), 3);
        let (b1, b2, ship) = (&hops[0], &hops[1], &hops[2]);
        assert_eq!(
            (b1.host.as_str(), b1.port, b1.user.as_str()),
            ("bastion1", 2200, "jump")
        );
        assert_eq!(
            (b2.host.as_str(), b2.port, b2.user.as_str()),
            ("10.0.9.9", 22, "hop")
        );
        assert_eq!(
            (ship.host.as_str(), ship.port, ship.user.as_str()),
            ("10.0.0.2", 2222, "deploy")
        );
        assert_eq!(
            ship.identity_files,
            vec![PathBuf::from("/home/me/.ssh/deploy_10.0.0.2")]
        );
        assert_eq!(ship.connect_timeout, Some(Duration::from_secs(7)));
        assert_eq!(ship.strict, Strict::AcceptNew);
        assert_eq!(ship.agent, None);
        assert_eq!(
            ship.known_hosts[..2],
            [
                PathBuf::from("/home/me/.ssh/fleet_hosts"),
                PathBuf::from("/etc/fleet_hosts")
            ]
        );
        // Bastions keep the default files and policy.
        assert_eq!(b2.strict, Strict::Yes);
        assert_eq!(
            b2.known_hosts[0],
            PathBuf::from("/home/me/.ssh/known_hosts")
        );
        assert_eq!(
            b2.identity_files[0],
            PathBuf::from("/home/me/.ssh/id_ed25519")
        );
    }

    #[test]
    fn the_ship_wins_over_the_config() {
        let c = UserConfig::from_text(CONFIG, Path::new("/home/me"));
        let hops = c
            .route(&Wanted {
                alias: "ship1".into(),
                user: Some("root".into()),
                port: Some(22),
                identity_file: Some(PathBuf::from("/keys/k")),
                accept_new: false,
            })
            .unwrap();
        let ship = hops.last().unwrap();
        assert_eq!((ship.user.as_str(), ship.port), ("root", 22));
        assert_eq!(ship.identity_files[0], PathBuf::from("/keys/k"));
    }

    #[test]
    fn unknown_hosts_get_defaults() {
        let c = UserConfig::from_text("", Path::new("/home/me"));
        let hops = c.route(&wanted("10.1.1.1")).unwrap();
        assert_eq!(hops.len(), 1);
        let hop = &hops[0];
        assert_eq!(
            (hop.host.as_str(), hop.port, hop.user.as_str()),
            ("10.1.1.1", 22, "me")
        );
        assert_eq!(hop.agent, Some(PathBuf::from("/tmp/agent.sock")));
        assert_eq!(hop.strict, Strict::Yes);
        assert_eq!(hop.key_name, "10.1.1.1");
    }

    #[test]
    fn bad_jumps_are_named() {
        let c = UserConfig::from_text("Host x\n  ProxyJump a:b:c\n", Path::new("/h"));
        let err = c.route(&wanted("x")).unwrap_err();
        assert!(err.contains("a:b:c"), "{err}");
    }
}
