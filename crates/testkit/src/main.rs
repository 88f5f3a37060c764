//! The `maestro-testkit` command: runs the crate's test servers from a shell.
//!
//! `maestro-testkit docker29-front [--listen ADDR] [--backend SOCKET]` serves an
//! engine front that answers as Docker Engine 29, prints `listening on ADDR`, and
//! serves until killed.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

const USAGE: &str = "usage: maestro-testkit docker29-front [--listen ADDR] [--backend SOCKET]
  --listen ADDR     TCP address to listen on (default 127.0.0.1:23750; port 0 picks one)
  --backend SOCKET  the real engine's unix socket (default /var/run/docker.sock)";

#[derive(Debug, PartialEq)]
struct FrontArgs {
    listen: SocketAddr,
    backend: PathBuf,
}

fn parse(args: &[String]) -> Result<FrontArgs, String> {
    let mut args = args.iter();
    match args.next().map(String::as_str) {
        Some("docker29-front") => {}
        Some(other) => return Err(format!("unknown command: {other}")),
        None => return Err("a command is needed".into()),
    }
    let mut front = FrontArgs {
        listen: SocketAddr::from(([127, 0, 0, 1], 23750)),
        backend: PathBuf::from("/var/run/docker.sock"),
    };
    while let Some(arg) = args.next() {
        let (name, inline) = match arg.split_once('=') {
            Some((name, value)) => (name, Some(value.to_owned())),
            None => (arg.as_str(), None),
        };
        let mut value = || {
            inline
                .clone()
                .or_else(|| args.next().cloned())
                .ok_or_else(|| format!("{name} needs a value"))
        };
        match name {
            "--listen" => {
                let text = value()?;
                front.listen = text
                    .parse()
                    .map_err(|err| format!("--listen {text}: {err}"))?;
            }
            "--backend" => front.backend = PathBuf::from(value()?),
            other => return Err(format!("unknown option: {other}")),
        }
    }
    Ok(front)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|arg| arg == "-h" || arg == "--help") {
        println!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    let front = match parse(&args) {
        Ok(front) => front,
        Err(err) => {
            eprintln!("maestro-testkit: {err}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("maestro-testkit: cannot start a runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async {
        match maestro_testkit::spawn_docker29_front(front.listen, front.backend).await {
            Ok(handle) => {
                println!("listening on {}", handle.addr());
                let _ = std::io::stdout().flush();
                std::future::pending::<()>().await;
                ExitCode::SUCCESS
            }
            Err(err) => {
                eprintln!("maestro-testkit: cannot listen on {}: {err}", front.listen);
                ExitCode::FAILURE
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn parses_the_front_command() {
        assert_eq!(
            parse(&args(&["docker29-front"])),
            Ok(FrontArgs {
                listen: "127.0.0.1:23750".parse().unwrap(),
                backend: "/var/run/docker.sock".into(),
            })
        );
        assert_eq!(
            parse(&args(&[
                "docker29-front",
                "--listen",
                "127.0.0.1:0",
                "--backend=/tmp/d.sock"
            ])),
            Ok(FrontArgs {
                listen: "127.0.0.1:0".parse().unwrap(),
                backend: "/tmp/d.sock".into(),
            })
        );
        assert!(parse(&args(&[])).is_err());
        assert!(parse(&args(&["other"])).is_err());
        assert!(parse(&args(&["docker29-front", "--listen"])).is_err());
        assert!(parse(&args(&["docker29-front", "--listen", "nope"])).is_err());
        assert!(parse(&args(&["docker29-front", "--bogus", "1"])).is_err());
    }
}
