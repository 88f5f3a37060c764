//! The `maestro-guest` command line: one sub-command per guest function, and
//! `render`.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use clap::{Parser, Subcommand};
use thiserror::Error;

use crate::render::{process_vars, render_str, RenderError};
use crate::{parse_python_int, GuestError, ProcessEnv};

const ABOUT: &str = "Read the environment maestro gives a container: its names, its host, its \
ports and those of its peers and dependencies; render configuration templates from it.";

const AFTER_HELP: &str = "\
Output goes to stdout; on an error, a message goes to stderr and the exit status is 1.
The sub-commands are MaestroNG's guestutils functions (update_os_env exists only in
templates and the Rust library: a command cannot change its caller's environment).

Examples:
  maestro-guest get-port client --default 2181
  maestro-guest get-node-list zookeeper --ports peer,leader_election --minimum 3
  maestro-guest get-node-list kafka --ports broker --separator ,
  maestro-guest render /etc/zk/zoo.cfg.j2 -o /etc/zk/zoo.cfg";

const RENDER_HELP: &str = "\
Templates use Jinja2 syntax. Every function is callable, with Python's positional and
keyword arguments, and the environment is `env`:

  {% for node in get_node_list('zookeeper', ports=['peer', 'leader_election']) %}
  server.{{ loop.index }}={{ node }}
  {% endfor %}
  clientPort={{ get_port('client', default=2181) }}
  myid={{ env.ZK_ID | default(1) }}

Functions: get_environment_name(), get_service_name(), get_container_name(),
get_container_host_address(as_ip_address=false), get_container_internal_address(),
get_port(name, default=none), get_specific_host(service, container),
get_specific_port(service, container, port, default=none),
get_specific_exposed_port(service, container, port, default=none),
get_node_list(service, ports=[], minimum=1), update_os_env(map).

A missing variable (`{{ env.NOT_SET }}`, `{{ typo }}`) is an error: test it with
`is defined`, or give `| default(...)` or `env.get('NAME', 'fallback')`. An error
names the template's line and column. The template's trailing newline is kept.
With -o, the text is rendered in memory, written to a temporary file next to FILE
and renamed over it: FILE is never left half-written.";

#[derive(Debug, Parser)]
#[command(name = "maestro-guest", version, about = ABOUT, after_help = AFTER_HELP)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// MAESTRO_ENVIRONMENT_NAME, `local` when it is not set
    GetEnvironmentName,
    /// SERVICE_NAME: the container's service
    GetServiceName,
    /// CONTAINER_NAME: the container's name
    GetContainerName,
    /// CONTAINER_HOST_ADDRESS: the address of the container's host (ship)
    GetContainerHostAddress {
        /// Resolve it to an IPv4 address (IPv4 literal, /etc/hosts, then DNS
        /// with /etc/resolv.conf)
        #[arg(long = "ip", visible_alias = "as-ip-address")]
        as_ip_address: bool,
    },
    /// The container's own IPv4 address on eth0
    GetContainerInternalAddress,
    /// The container's own exposed (internal) port NAME:
    /// <SERVICE>_<CONTAINER>_<NAME>_INTERNAL_PORT
    GetPort {
        /// The port's name, as in the environment description
        name: String,
        /// Printed when the port is not defined
        #[arg(long, value_name = "N", allow_hyphen_values = true)]
        default: Option<String>,
    },
    /// The host address of a container of a service: <SERVICE>_<CONTAINER>_HOST
    GetSpecificHost { service: String, container: String },
    /// The external port of a container: <SERVICE>_<CONTAINER>_<PORT>_PORT
    GetSpecificPort {
        service: String,
        container: String,
        port: String,
        /// Printed when the port is not defined
        #[arg(long, value_name = "N", allow_hyphen_values = true)]
        default: Option<String>,
    },
    /// The exposed (internal) port of a container:
    /// <SERVICE>_<CONTAINER>_<PORT>_INTERNAL_PORT
    GetSpecificExposedPort {
        service: String,
        container: String,
        port: String,
        /// Printed when the port is not defined
        #[arg(long, value_name = "N", allow_hyphen_values = true)]
        default: Option<String>,
    },
    /// The nodes of a service, one per line: host[:port...] for each instance
    /// in <SERVICE>_INSTANCES
    GetNodeList {
        service: String,
        /// Port names to append to each host, in order (comma-separated or
        /// repeated): `--ports peer,election` gives host:2888:3888
        #[arg(long, value_name = "NAMES", value_delimiter = ',')]
        ports: Vec<String>,
        /// Fail when there are fewer nodes than this
        #[arg(
            long,
            value_name = "N",
            default_value_t = 1,
            allow_hyphen_values = true
        )]
        minimum: i64,
        /// Print the nodes on one line, separated by SEP (e.g. `--separator ,`)
        /// instead of one per line
        #[arg(long, short = 's', value_name = "SEP")]
        separator: Option<String>,
    },
    /// Render a Jinja2 template with these functions and the environment
    #[command(after_help = RENDER_HELP)]
    Render {
        /// The template file (`-` for standard input)
        template: PathBuf,
        /// Write the result to FILE (atomically) instead of standard output
        #[arg(short, long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
}

/// Why a command failed; printed after `maestro-guest: ` on stderr. (The
/// large errors are boxed, to keep the results that carry this one small.)
#[derive(Debug, Error)]
enum CliError {
    #[error(transparent)]
    Guest(Box<GuestError>),
    /// A `--default` that is not a number.
    #[error("--default {text:?} is not a number")]
    BadDefault { text: String },
    /// The template file (or stdin, named `<stdin>`) could not be read.
    #[error("{name}: cannot read the template: {error}")]
    ReadTemplate { name: String, error: std::io::Error },
    #[error(transparent)]
    Render(Box<RenderError>),
    /// The rendered text could not be written to stdout.
    #[error("cannot write the output: {0}")]
    WriteStdout(std::io::Error),
    /// The rendered text could not be written to the `--output` file.
    #[error("{}: cannot write: {error}", path.display())]
    WriteFile {
        path: PathBuf,
        error: std::io::Error,
    },
}

impl From<GuestError> for CliError {
    fn from(error: GuestError) -> Self {
        CliError::Guest(Box::new(error))
    }
}

impl From<RenderError> for CliError {
    fn from(error: RenderError) -> Self {
        CliError::Render(Box::new(error))
    }
}

/// Runs the command line; the process exit status.
pub fn main() -> i32 {
    let cli = Cli::parse();
    match run(cli.command) {
        Ok(text) => {
            let mut out = std::io::stdout().lock();
            match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
                Ok(()) => 0,
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => 0,
                Err(e) => {
                    eprintln!("maestro-guest: cannot write the output: {e}");
                    1
                }
            }
        }
        Err(error) => {
            eprintln!("maestro-guest: {error}");
            1
        }
    }
}

/// What to print.
fn run(command: Command) -> Result<String, CliError> {
    let env = &ProcessEnv;
    let line = |s: String| Ok(format!("{s}\n"));
    match command {
        Command::GetEnvironmentName => line(crate::get_environment_name(env)),
        Command::GetServiceName => line(crate::get_service_name(env)?),
        Command::GetContainerName => line(crate::get_container_name(env)?),
        Command::GetContainerHostAddress { as_ip_address } => {
            line(crate::get_container_host_address(env, as_ip_address)?)
        }
        Command::GetContainerInternalAddress => {
            line(crate::get_container_internal_address()?.to_string())
        }
        Command::GetPort { name, default } => {
            let default = default_port(default.as_deref())?;
            line(crate::get_port(env, &name, default)?.to_string())
        }
        Command::GetSpecificHost { service, container } => {
            line(crate::get_specific_host(env, &service, &container)?)
        }
        Command::GetSpecificPort {
            service,
            container,
            port,
            default,
        } => {
            let default = default_port(default.as_deref())?;
            let n = crate::get_specific_port(env, &service, &container, &port, default)?;
            line(n.to_string())
        }
        Command::GetSpecificExposedPort {
            service,
            container,
            port,
            default,
        } => {
            let default = default_port(default.as_deref())?;
            let n = crate::get_specific_exposed_port(env, &service, &container, &port, default)?;
            line(n.to_string())
        }
        Command::GetNodeList {
            service,
            ports,
            minimum,
            separator,
        } => {
            let ports: Vec<String> = ports.into_iter().filter(|p| !p.is_empty()).collect();
            let nodes = crate::get_node_list(env, &service, &ports, minimum)?;
            match separator {
                Some(sep) => line(nodes.join(&sep)),
                None => Ok(nodes.iter().map(|n| format!("{n}\n")).collect()),
            }
        }
        Command::Render { template, output } => {
            render_file(&template, output.as_deref())?;
            Ok(String::new())
        }
    }
}

fn default_port(text: Option<&str>) -> Result<Option<i64>, CliError> {
    match text {
        None => Ok(None),
        Some(text) => parse_python_int(text)
            .map(Some)
            .ok_or_else(|| CliError::BadDefault {
                text: text.to_string(),
            }),
    }
}

/// Renders `template` to `output` (atomically) or to stdout.
fn render_file(template: &Path, output: Option<&Path>) -> Result<(), CliError> {
    let (name, source) = read_template(template)?;
    let text = render_str(&name, &source, process_vars())?;
    match output {
        None => {
            let mut out = std::io::stdout().lock();
            out.write_all(text.as_bytes())
                .and_then(|()| out.flush())
                .map_err(CliError::WriteStdout)
        }
        Some(path) => {
            write_atomically(path, text.as_bytes()).map_err(|error| CliError::WriteFile {
                path: path.to_path_buf(),
                error,
            })
        }
    }
}

/// The name (for messages) and text of a template file, or of stdin for `-`.
fn read_template(template: &Path) -> Result<(String, String), CliError> {
    let (name, read) = if template == Path::new("-") {
        let mut source = String::new();
        let read = std::io::stdin().read_to_string(&mut source).map(|_| source);
        ("<stdin>".to_string(), read)
    } else {
        let name = template.display().to_string();
        (name, std::fs::read_to_string(template))
    };
    match read {
        Ok(source) => Ok((name, source)),
        Err(error) => Err(CliError::ReadTemplate { name, error }),
    }
}

/// Writes `bytes` to a temporary file in `path`'s directory, then renames it
/// over `path`: readers see the old file or the whole new one. The new file
/// keeps the permissions of the file it replaces.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let file_name = path
        .file_name()
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a file name"))?;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let mut temp_name = std::ffi::OsString::from(".");
    temp_name.push(file_name);
    temp_name.push(format!(".{}.tmp", std::process::id()));
    let temp = dir.join(temp_name);
    let result = (|| {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&temp)?;
        if let Ok(meta) = std::fs::metadata(path) {
            file.set_permissions(meta.permissions())?;
        }
        file.write_all(bytes)?;
        file.sync_all()?;
        drop(file);
        std::fs::rename(&temp, path)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn parses_node_list_options() {
        let cli = Cli::try_parse_from([
            "maestro-guest",
            "get-node-list",
            "zk",
            "--ports",
            "peer,election",
            "--ports",
            "client",
            "--minimum",
            "3",
            "-s",
            ",",
        ])
        .unwrap();
        match cli.command {
            Command::GetNodeList {
                service,
                ports,
                minimum,
                separator,
            } => {
                assert_eq!(service, "zk");
                assert_eq!(ports, ["peer", "election", "client"]);
                assert_eq!(minimum, 3);
                assert_eq!(separator.as_deref(), Some(","));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn atomic_write_replaces_and_cleans_up() {
        let dir = std::env::temp_dir().join(format!("maestro-guest-cli-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("out.conf");
        write_atomically(&path, b"one\n").unwrap();
        write_atomically(&path, b"two\n").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "two\n");
        let names: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, [std::ffi::OsString::from("out.conf")]);
        assert!(write_atomically(&dir.join("missing/x"), b"").is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
