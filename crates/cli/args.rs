//! The command line, defined once: MaestroNG 0.8.3's commands and flags.

use std::path::PathBuf;

use clap::{ArgAction, Args, Parser, Subcommand};

/// Orchestrate Docker containers across many hosts, as described by a
/// MaestroNG environment file.
#[derive(Debug, Parser)]
#[command(name = "maestro", disable_version_flag = true, version)]
pub struct Cli {
    /// Read the environment description from FILE (- for stdin; default
    /// ./maestro.yaml, else ./compose.yaml or ./docker-compose.yml). Several
    /// Compose files are merged in order; of maestro files the last is read.
    #[arg(
        short = 'f',
        long = "file",
        value_name = "FILE",
        action = ArgAction::Append,
        global = true
    )]
    pub files: Vec<PathBuf>,

    /// Print the version and exit.
    #[arg(short = 'v', long = "version", action = ArgAction::Version)]
    pub version: Option<bool>,

    #[command(subcommand)]
    pub command: Command,
}

/// Containers or services to act on.
#[derive(Debug, Args, Clone)]
pub struct Things {
    /// Container(s) or service(s) to act on.
    #[arg(value_name = "thing")]
    pub things: Vec<String>,
}

/// Options of commands that act on many containers.
#[derive(Debug, Args, Clone)]
pub struct Play {
    /// At most N containers acted on at once (default: all that are ready;
    /// `status`: 256).
    #[arg(short = 'c', long = "concurrency", value_name = "LIMIT", value_parser = clap::value_parser!(u32).range(1..))]
    pub concurrency: Option<u32>,
    /// Also act on dependencies (or dependents, for stop-like commands).
    #[arg(short = 'd', long = "with-dependencies")]
    pub with_dependencies: bool,
    /// Ignore dependency order.
    #[arg(short = 'i', long = "ignore-dependencies")]
    pub ignore_dependencies: bool,
    /// Keep only containers whose name matches GLOB.
    #[arg(short = 'C', long = "container-filter", value_name = "GLOB")]
    pub container_filter: Option<String>,
    /// Keep only containers whose ship name matches GLOB.
    #[arg(short = 'S', long = "ship-filter", value_name = "GLOB")]
    pub ship_filter: Option<String>,
    /// Print one JSON document instead of the table (schema in docs/json.md).
    #[arg(long = "json")]
    pub json: bool,
}

/// `-s`/`-a` of stop-like commands.
#[derive(Debug, Args, Clone)]
pub struct Expand {
    /// Allow service names (expanded to their containers).
    #[arg(short = 's', long = "expand-services")]
    pub expand_services: bool,
    /// No things means all containers (implies -s).
    #[arg(short = 'a', long = "all")]
    pub all: bool,
}

/// `-r`/`--reuse` of start-like commands.
#[derive(Debug, Args, Clone)]
pub struct Refresh {
    /// Pull the image even if the ship has it.
    #[arg(short = 'r', long = "refresh-images", conflicts_with = "reuse")]
    pub refresh_images: bool,
    /// Keep an existing stopped container instead of recreating it.
    #[arg(long = "reuse")]
    pub reuse: bool,
}

/// A rolling `restart`, `up` (and `plan` of one).
#[derive(Debug, Args, Clone, Default)]
pub struct Rolling {
    /// Take each service's containers this many (e.g. 2) or this share of
    /// them (e.g. 50%) at a time, each batch past its `running` checks
    /// before the next; services one after the other, in dependency order.
    #[arg(long = "batch", value_name = "N|N%")]
    pub batch: Option<maestro_plays::decide::rollout::BatchSize>,
    /// Take each service's containers one ship at a time (split by --batch
    /// when given too).
    #[arg(long = "per-ship")]
    pub per_ship: bool,
    /// What a failed container does to the rollout: `pause` stops there,
    /// `rollback` puts back the containers it already replaced (default:
    /// each service's `deploy.update_config.failure_action`).
    #[arg(long = "failure-action", value_name = "pause|rollback", value_parser = failure_action)]
    pub failure_action: Option<maestro_config::FailureAction>,
}

impl Rolling {
    pub fn rollout(&self) -> maestro_plays::decide::rollout::Rollout {
        maestro_plays::decide::rollout::Rollout {
            batch: self.batch,
            per_ship: self.per_ship,
            failure_action: self.failure_action,
        }
    }
}

/// `pause` or `rollback`.
fn failure_action(text: &str) -> Result<maestro_config::FailureAction, String> {
    match text {
        "pause" => Ok(maestro_config::FailureAction::Pause),
        "rollback" => Ok(maestro_config::FailureAction::Rollback),
        other => Err(format!(
            "unknown failure action {other:?}; expected pause or rollback"
        )),
    }
}

/// Whether a replaced container is kept for `rollback`.
#[derive(Debug, Args, Clone, Default)]
pub struct Keeping {
    /// Remove a replaced container instead of keeping it, stopped, as
    /// NAME.previous for `maestro rollback`.
    #[arg(long = "no-keep")]
    pub no_keep: bool,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Display container status.
    Status {
        #[command(flatten)]
        things: Things,
        #[command(flatten)]
        play: Play,
        /// Show image ids and port states too.
        #[arg(short = 'F', long = "full")]
        full: bool,
        /// Show ship addresses instead of ship names.
        #[arg(short = 'H', long = "show-hosts")]
        show_hosts: bool,
    },
    /// Pull container images from their registries.
    Pull {
        #[command(flatten)]
        things: Things,
        #[command(flatten)]
        play: Play,
    },
    /// Start services and containers.
    Start {
        #[command(flatten)]
        things: Things,
        #[command(flatten)]
        play: Play,
        #[command(flatten)]
        refresh: Refresh,
        /// Converge like `up`: recreate only containers that differ from the file.
        #[arg(long = "converge")]
        converge: bool,
    },
    /// Stop services and containers.
    Stop {
        #[command(flatten)]
        things: Things,
        #[command(flatten)]
        play: Play,
        #[command(flatten)]
        expand: Expand,
    },
    /// Kill services and containers.
    Kill {
        #[command(flatten)]
        things: Things,
        #[command(flatten)]
        play: Play,
        #[command(flatten)]
        expand: Expand,
    },
    /// Restart services and containers.
    Restart {
        #[command(flatten)]
        things: Things,
        #[command(flatten)]
        play: Play,
        #[command(flatten)]
        expand: Expand,
        #[command(flatten)]
        refresh: Refresh,
        /// Seconds to wait between containers.
        #[arg(long = "step-delay", value_name = "SECONDS", default_value_t = 0)]
        step_delay: u32,
        /// Seconds to wait between stopping and starting each container.
        #[arg(long = "stop-start-delay", value_name = "SECONDS", default_value_t = 0)]
        stop_start_delay: u32,
        /// Only restart containers whose image changed.
        #[arg(long = "only-if-changed")]
        only_if_changed: bool,
        #[command(flatten)]
        rolling: Rolling,
        #[command(flatten)]
        keeping: Keeping,
    },
    /// Show what `up` would change: create, recreate (and why), start, or nothing.
    /// Exits 0 when nothing would change, 3 when something would, 1 when it cannot tell.
    Plan {
        #[command(flatten)]
        things: Things,
        #[command(flatten)]
        play: Play,
        #[command(flatten)]
        rolling: Rolling,
        #[command(flatten)]
        keeping: Keeping,
    },
    /// Converge: create missing containers, recreate those that differ from the
    /// file, start stopped ones, in dependency order; leave the others alone.
    Up {
        #[command(flatten)]
        things: Things,
        #[command(flatten)]
        play: Play,
        /// Pull images even when present.
        #[arg(short = 'r', long = "refresh-images")]
        refresh_images: bool,
        /// Seconds to wait between containers.
        #[arg(long = "step-delay", value_name = "SECONDS", default_value_t = 0)]
        step_delay: u32,
        /// Also stop and remove containers of this environment that the file no longer has.
        #[arg(long = "remove-orphans")]
        remove_orphans: bool,
        #[command(flatten)]
        rolling: Rolling,
        #[command(flatten)]
        keeping: Keeping,
    },
    /// Write a commented starter environment file (the file -f names,
    /// maestro.yaml by default; - for stdout), or with --from one that
    /// describes the containers running on those ships, for `plan` and `up`
    /// to take over as they are.
    Init {
        /// Describe the running containers of these ships: `local` (the
        /// engine the Docker CLI would use) or an engine address
        /// (tcp://HOST:PORT, ssh://[USER@]HOST[:PORT], unix:///PATH).
        #[arg(long = "from", value_name = "SHIP", num_args = 1..)]
        from: Vec<String>,
        /// With --from: only the containers whose name matches GLOB.
        #[arg(long = "only", value_name = "GLOB", requires = "from")]
        only: Option<String>,
        /// The environment's name (default: the folder's name).
        #[arg(long = "name", value_name = "NAME")]
        name: Option<String>,
        /// Overwrite the file if it exists.
        #[arg(long = "force")]
        force: bool,
    },
    /// Print a shell completion script (bash, zsh or fish) on stdout.
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff) on stdout, or with --dir write a page for
    /// maestro and one for each command there (e.g. /usr/local/share/man/man1).
    Manpage {
        /// Write maestro.1 and maestro-COMMAND.1 into this directory.
        #[arg(long = "dir", value_name = "DIR")]
        dir: Option<std::path::PathBuf>,
    },
    /// Remove stopped containers (never a named volume or a network).
    Clean {
        #[command(flatten)]
        things: Things,
        #[command(flatten)]
        play: Play,
        /// Also remove the networks this environment declared and maestro
        /// created, on the ships of the containers, unless one is in use.
        #[arg(long = "networks")]
        networks: bool,
        /// Also remove the named volumes this environment declared and
        /// maestro created, on the ships of the containers, unless one is in use.
        #[arg(long = "volumes")]
        volumes: bool,
        /// Also remove the previous containers kept for `rollback` (NAME.previous).
        #[arg(long = "previous")]
        previous: bool,
    },
    /// Put back the previous containers kept when `up` or `restart` replaced
    /// them (stop the new, start the old, run its checks; no pull), in
    /// dependency order, restarting the dependents of those rolled back.
    Rollback {
        #[command(flatten)]
        things: Things,
        #[command(flatten)]
        play: Play,
    },
    /// Show the logs of one container, or of several (a service's instances)
    /// merged, each line prefixed with its container's name; `proxy@SHIP` is
    /// the environment's proxy on SHIP.
    Logs {
        #[command(flatten)]
        things: Things,
        /// Follow the log as it grows (through restarts, on every ship).
        #[arg(short = 'F', long = "follow")]
        follow: bool,
        /// Only the last LINES lines (of each container).
        #[arg(short = 'n', value_name = "LINES")]
        lines: Option<u64>,
        /// Only the lines since WHEN: a duration back from now (90s, 10m,
        /// 1h30m, 2d), a time (2026-12-03T17:00:00Z) or seconds since the epoch.
        #[arg(long = "since", value_name = "WHEN")]
        since: Option<String>,
    },
    /// Run a command inside a container on its ship (with a terminal and
    /// input when maestro has a terminal; exits with the command's status),
    /// or in every instance of a service, each output line prefixed with the
    /// container's name.
    Exec {
        /// The container or service to run the command in (`proxy@SHIP`: the
        /// environment's proxy on SHIP).
        #[arg(value_name = "thing")]
        thing: String,
        /// Run in at most N containers at once (default 1: one after the other).
        #[arg(short = 'c', long = "concurrency", value_name = "N", value_parser = clap::value_parser!(u32).range(1..))]
        concurrency: Option<u32>,
        /// The command and its arguments, after `--`.
        #[arg(last = true, required = true, value_name = "COMMAND")]
        command: Vec<String>,
    },
    /// Run a command in a one-off container with a service's configuration
    /// (an instance's: image, variables, volumes, networks), without its
    /// published ports; its output as it comes, then it is removed. Exits
    /// with the command's status. Takes no deploy lock.
    Run {
        /// The service whose configuration the container takes.
        #[arg(value_name = "SERVICE")]
        service: String,
        /// Take the configuration of the service's instance on SHIP (and run there).
        #[arg(long = "ship", value_name = "SHIP")]
        ship: Option<String>,
        /// Keep the container (stopped) instead of removing it.
        #[arg(long = "keep")]
        keep: bool,
        /// The command and its arguments, after `--`.
        #[arg(last = true, required = true, value_name = "COMMAND")]
        command: Vec<String>,
    },
    /// The environment's deploy lock, kept on its first ship: who holds it,
    /// take it until released (e.g. for a migration), release it.
    Lock {
        #[command(subcommand)]
        action: LockAction,
    },
    /// Display the service dependency tree.
    Deptree {
        #[command(flatten)]
        things: Things,
        /// Show dependencies recursively (possibly repeated).
        #[arg(short = 'r', long = "recursive")]
        recursive: bool,
    },
    /// Print the fully resolved environment as JSON.
    Dump {
        #[command(flatten)]
        things: Things,
        /// Also print the parsed configuration (on stderr).
        #[arg(short = 'c', long = "config")]
        config: bool,
    },
    /// Print a Compose file's normalized model as JSON, as `docker compose
    /// config --format json` does.
    Config,
    /// Shell completion helper: prints the words that complete the last token.
    Complete {
        /// The command line typed so far.
        tokens: Vec<String>,
    },
}

/// What `maestro lock` does.
#[derive(Debug, Subcommand, Clone)]
pub enum LockAction {
    /// Show who holds the deploy lock, since when, for what (or that it is free).
    Status,
    /// Take the deploy lock until `maestro lock release`: plays that change
    /// state are refused meanwhile, with MESSAGE.
    Acquire {
        /// Why it is held, shown to whoever is refused.
        #[arg(short = 'm', long = "message", value_name = "MESSAGE", required = true)]
        message: String,
    },
    /// Release the deploy lock you hold.
    Release {
        /// Release it whoever holds it (the lock of a run that died).
        #[arg(long = "force")]
        force: bool,
    },
}

/// The commands, for completion.
pub const COMMANDS: &[&str] = &[
    "status",
    "start",
    "stop",
    "kill",
    "restart",
    "pull",
    "clean",
    "logs",
    "exec",
    "run",
    "lock",
    "deptree",
    "dump",
    "config",
    "complete",
    "plan",
    "up",
    "completions",
    "manpage",
    "init",
];

/// What `maestro` alone prints: the usage line, the commands' names, and
/// where the rest is.
pub fn short_usage() -> String {
    use clap::CommandFactory;
    let names: Vec<String> = Cli::command()
        .get_subcommands()
        .filter(|c| !c.is_hide_set())
        .map(|c| c.get_name().to_owned())
        .filter(|n| n != "help")
        .collect();
    format!(
        "Usage: maestro [-f FILE] COMMAND [options] [thing ...]\n\nCommands: {}\n\nRun `maestro --help` for the options, `maestro COMMAND --help` for a command's.\n",
        names.join(", ")
    )
}

/// Whether `word` is the name of one of maestro's commands.
pub fn is_command(word: &str) -> bool {
    use clap::CommandFactory;
    Cli::command().find_subcommand(word).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn definition_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn file_before_command_and_flags() {
        let cli = Cli::try_parse_from([
            "maestro",
            "-f",
            "x.yaml",
            "restart",
            "-c",
            "2",
            "--step-delay",
            "3",
            "-a",
        ])
        .unwrap();
        assert_eq!(cli.files, [PathBuf::from("x.yaml")]);
        match cli.command {
            Command::Restart {
                play,
                expand,
                step_delay,
                ..
            } => {
                assert_eq!(play.concurrency, Some(2));
                assert!(expand.all);
                assert_eq!(step_delay, 3);
            }
            other => panic!("parsed {other:?}"),
        }
    }

    #[test]
    fn exec_takes_its_command_after_the_separator() {
        let cli =
            Cli::try_parse_from(["maestro", "exec", "-c", "2", "web", "--", "ls", "-l"]).unwrap();
        match cli.command {
            Command::Exec {
                thing,
                concurrency,
                command,
            } => {
                assert_eq!(thing, "web");
                assert_eq!(concurrency, Some(2));
                assert_eq!(command, ["ls", "-l"]);
            }
            other => panic!("parsed {other:?}"),
        }
        assert!(Cli::try_parse_from(["maestro", "exec", "web"]).is_err());
        assert!(Cli::try_parse_from(["maestro", "exec", "web", "ls"]).is_err());
    }

    #[test]
    fn run_takes_a_service_its_flags_and_the_command_after_the_separator() {
        let cli = Cli::try_parse_from([
            "maestro", "run", "--ship", "vm2", "--keep", "web", "--", "sh", "-c", "id",
        ])
        .unwrap();
        match cli.command {
            Command::Run {
                service,
                ship,
                keep,
                command,
            } => {
                assert_eq!(service, "web");
                assert_eq!(ship.as_deref(), Some("vm2"));
                assert!(keep);
                assert_eq!(command, ["sh", "-c", "id"]);
            }
            other => panic!("parsed {other:?}"),
        }
        assert!(Cli::try_parse_from(["maestro", "run", "web"]).is_err());
        assert!(Cli::try_parse_from(["maestro", "run", "web", "--"]).is_err());
    }

    #[test]
    fn refresh_and_reuse_exclude_each_other() {
        assert!(Cli::try_parse_from(["maestro", "start", "-r", "--reuse"]).is_err());
    }
}
