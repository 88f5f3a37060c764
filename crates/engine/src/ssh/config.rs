//! What the user's SSH setup says about one host: `~/.ssh/config` (read
//! with a maintained parser: `Host` patterns, `Include`, `HostName`, `User`,
//! `Port`, `IdentityFile`, `ProxyJump`, `ConnectTimeout`, and the host key
//! options `UserKnownHostsFile`, `GlobalKnownHostsFile`,
//! `StrictHostKeyChecking`, `HostKeyAlias`, `IdentitiesOnly`,
//! `IdentityAgent`), merged with what the ship itself says.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ssh2_config::{HostParams, ParseRule, SshConfig, SshParserError};

/// Why `~/.ssh/config` cannot be used.
#[derive(Debug)]
pub(crate) enum ConfigFileError {
    /// It exists but cannot be read.
    Read {
        path: PathBuf,
        error: std::io::Error,
    },
    /// It (or a file it includes) is not a valid SSH config.
    Parse {
        path: PathBuf,
        error: SshParserError,
    },
}

impl fmt::Display for ConfigFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigFileError::Read { path, error } => {
                write!(f, "cannot read {}: {error}", path.display())
            }
            ConfigFileError::Parse { path, error } => write!(f, "{}: {error}", path.display()),
        }
    }
}

impl std::error::Error for ConfigFileError {}

/// A `ProxyJump` entry of the SSH config that is not `[user@]host[:port]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BadProxyJump {
    /// The entry as written.
    pub entry: String,
}

impl fmt::Display for BadProxyJump {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the SSH config's ProxyJump entry `{}` is not `[user@]host[:port]`",
            self.entry
        )
    }
}

impl std::error::Error for BadProxyJump {}

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
    pub fn load() -> Result<UserConfig, ConfigFileError> {
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
    pub fn route(&self, wanted: &Wanted) -> Result<Vec<Hop>, BadProxyJump> {
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
        let host = p.host_name.clone().unwrap_or_else(|| wanted.alias.clone());
        let port = wanted.port.or(p.port).unwrap_or(22);
        let user = wanted
            .user
            .clone()
            .or_else(|| p.user.clone())
            .unwrap_or_else(|| self.user.clone());
        let identity_files = self.identity_files(wanted, p, &host, &user);
        let identities_only =
            first_value(p, "identitiesonly").is_some_and(|v| v.eq_ignore_ascii_case("yes"));
        let agent = self.agent(p, &host, &user);
        let known_hosts = self.known_hosts(p, &host, &user);
        let strict = match first_value(p, "stricthostkeychecking")
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            Some("accept-new") | Some("no") | Some("off") => Strict::AcceptNew,
            _ if wanted.accept_new => Strict::AcceptNew,
            _ => Strict::Yes,
        };
        let key_name = first_value(p, "hostkeyalias").map_or_else(|| host.clone(), str::to_owned);
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

    /// The identity files to try: the ship's own first, then the config's
    /// `IdentityFile`s, or (with neither) the default ones of `~/.ssh`.
    fn identity_files(
        &self,
        wanted: &Wanted,
        p: &HostParams,
        host: &str,
        user: &str,
    ) -> Vec<PathBuf> {
        let mut identity_files: Vec<PathBuf> = Vec::new();
        if let Some(file) = &wanted.identity_file {
            identity_files.push(self.expand(file, host, user));
        }
        match &p.identity_file {
            Some(files) => identity_files.extend(files.iter().map(|f| self.expand(f, host, user))),
            None if wanted.identity_file.is_none() => {
                if let Some(dir) = self.ssh_dir() {
                    for name in ["id_ed25519", "id_ecdsa", "id_rsa"] {
                        identity_files.push(dir.join(name));
                    }
                }
            }
            None => {}
        }
        identity_files
    }

    /// The ssh-agent socket (`IdentityAgent`, else `$SSH_AUTH_SOCK`); `None`
    /// for no agent.
    fn agent(&self, p: &HostParams, host: &str, user: &str) -> Option<PathBuf> {
        match first_value(p, "identityagent") {
            Some(v) if v.eq_ignore_ascii_case("none") => None,
            Some(v) if v == "SSH_AUTH_SOCK" || v == "$SSH_AUTH_SOCK" => self.agent_env.clone(),
            Some(v) => Some(self.expand(Path::new(v), host, user)),
            None => self.agent_env.clone(),
        }
    }

    /// The known_hosts files: the user's (`UserKnownHostsFile`, else
    /// `~/.ssh/known_hosts` and `known_hosts2`), then the global ones
    /// (`GlobalKnownHostsFile`, else those of `/etc/ssh`).
    fn known_hosts(&self, p: &HostParams, host: &str, user: &str) -> Vec<PathBuf> {
        let mut known_hosts = self
            .listed_files(p, "userknownhostsfile", host, user)
            .unwrap_or_else(|| {
                self.ssh_dir()
                    .iter()
                    .flat_map(|d| [d.join("known_hosts"), d.join("known_hosts2")])
                    .collect()
            });
        known_hosts.extend(
            self.listed_files(p, "globalknownhostsfile", host, user)
                .unwrap_or_else(|| {
                    vec![
                        PathBuf::from("/etc/ssh/ssh_known_hosts"),
                        PathBuf::from("/etc/ssh/ssh_known_hosts2"),
                    ]
                }),
        );
        known_hosts
    }

    /// The files an option lists (space-separated, in one or more values;
    /// `none` left out), expanded; `None` when the option is not set.
    fn listed_files(
        &self,
        p: &HostParams,
        option: &str,
        host: &str,
        user: &str,
    ) -> Option<Vec<PathBuf>> {
        let values = p.unsupported_fields.get(option)?;
        Some(
            values
                .iter()
                .flat_map(|v| v.split_whitespace())
                .filter(|v| !v.eq_ignore_ascii_case("none"))
                .map(|v| self.expand(Path::new(v), host, user))
                .collect(),
        )
    }

    fn ssh_dir(&self) -> Option<PathBuf> {
        self.home.as_ref().map(|h| h.join(".ssh"))
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

/// The first value of an option maestro reads itself (one the parser keeps
/// as text, under its lower-case name).
fn first_value<'p>(p: &'p HostParams, option: &str) -> Option<&'p str> {
    p.unsupported_fields
        .get(option)
        .and_then(|values| values.first())
        .map(String::as_str)
}

fn read(path: &Path, home: &Path) -> Result<Option<SshConfig>, ConfigFileError> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(error) => {
            return Err(ConfigFileError::Read {
                path: path.to_owned(),
                error,
            })
        }
    };
    parse(&text, home)
        .map(Some)
        .map_err(|error| ConfigFileError::Parse {
            path: path.to_owned(),
            error,
        })
}

fn parse(text: &str, home: &Path) -> Result<SshConfig, SshParserError> {
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
fn parse_jump(text: &str) -> Result<Wanted, BadProxyJump> {
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
        Ok(_) | Err(_) => Err(BadProxyJump {
            entry: text.to_owned(),
        }),
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
        let err = c.route(&wanted("x")).unwrap_err().to_string();
        assert!(err.contains("a:b:c"), "{err}");
    }
}
