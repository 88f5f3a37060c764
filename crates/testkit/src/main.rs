//! The `maestro-testkit` command: runs the crate's test servers from a shell.
//!
//! `maestro-testkit docker29-front [--listen ADDR] [--backend SOCKET]` serves an
//! engine front that answers as Docker Engine 29, prints `listening on ADDR`, and
//! serves until killed.
//!
//! `maestro-testkit sim-engine --ships N --base-port P [--latency-ms MS] …` serves a
//! simulated fleet of N engines (see `maestro_testkit::sim`), prints where each
//! ship listens, then `ready`, and serves until killed.

use std::io::Write;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use maestro_testkit::sim::{Fault, Layout, Pullable, SimConfig};

/// The simulator allocates a JSON tree per answer; mimalloc (the allocator
/// maestro uses too) halves what glibc's costs it, leaving more of a shared
/// machine's CPU to the tool under measurement.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const USAGE: &str = "usage: maestro-testkit docker29-front [--listen ADDR] [--backend SOCKET]
  --listen ADDR     TCP address to listen on (default 127.0.0.1:23750; port 0 picks one)
  --backend SOCKET  the real engine's unix socket (default /var/run/docker.sock)

usage: maestro-testkit sim-engine [OPTIONS]
  --ships N              how many simulated engines (default 1)
  --host IP              address of the ships (default 127.0.0.1)
  --base-port P          ship i listens on port P+i (default 30000; 0: free ports)
  --layout ports|addresses
                         addresses: ship i on address IP+i (127.0.0.1, .2, ...), port P
  --latency-ms MS        delay of every call, in milliseconds (default 0)
  --image REF            an image every ship has (repeatable; default maestro-test/box:1)
  --pullable any|none|REF,REF...
                         what pulls succeed for (default any)
  --api-version V        newest API version served (default 1.47)
  --min-api-version V    oldest API version accepted (default 1.24)
  --engine-version V     engine version reported (default 27.3.1)
  --fault SHIPS=KIND     a fault from the start: KIND refuse, 500 or hang; SHIPS an
                         index, a range 3-7, or all (repeatable)
  --control ADDR         serve the control API (faults, latency, stats) on ADDR
  --log-requests         one line per request on stderr
  --addresses-file FILE  write each ship's address (host:port), one a line";

#[derive(Debug, PartialEq)]
struct FrontArgs {
    listen: SocketAddr,
    backend: PathBuf,
}

/// A command of the binary.
#[derive(Debug)]
enum Command {
    Front(FrontArgs),
    Sim(SimArgs),
}

/// `sim-engine`'s options.
#[derive(Debug)]
struct SimArgs {
    config: SimConfig,
    control: Option<SocketAddr>,
    addresses_file: Option<PathBuf>,
}

/// Options as `--name value` or `--name=value`, one at a time.
struct Options<'a> {
    args: std::slice::Iter<'a, String>,
}

impl<'a> Options<'a> {
    /// The next option's name and a way to get its value.
    fn next(&mut self) -> Option<(String, Option<String>)> {
        let arg = self.args.next()?;
        Some(match arg.split_once('=') {
            Some((name, value)) if name.starts_with("--") => {
                (name.to_owned(), Some(value.to_owned()))
            }
            _ => (arg.clone(), None),
        })
    }

    fn value(&mut self, name: &str, inline: Option<String>) -> Result<String, String> {
        inline
            .or_else(|| self.args.next().cloned())
            .ok_or_else(|| format!("{name} needs a value"))
    }
}

fn parse(args: &[String]) -> Result<Command, String> {
    let mut args = args.iter();
    let command = match args.next().map(String::as_str) {
        Some(command @ ("docker29-front" | "sim-engine")) => command,
        Some(other) => return Err(format!("unknown command: {other}")),
        None => return Err("a command is needed".into()),
    };
    let mut options = Options { args };
    if command == "sim-engine" {
        return parse_sim(&mut options).map(Command::Sim);
    }
    let mut front = FrontArgs {
        listen: SocketAddr::from(([127, 0, 0, 1], 23750)),
        backend: PathBuf::from("/var/run/docker.sock"),
    };
    while let Some((name, inline)) = options.next() {
        match name.as_str() {
            "--listen" => {
                let text = options.value(&name, inline)?;
                front.listen = text
                    .parse()
                    .map_err(|err| format!("--listen {text}: {err}"))?;
            }
            "--backend" => front.backend = PathBuf::from(options.value(&name, inline)?),
            other => return Err(format!("unknown option: {other}")),
        }
    }
    Ok(Command::Front(front))
}

fn parse_sim(options: &mut Options<'_>) -> Result<SimArgs, String> {
    let mut sim = SimArgs {
        config: SimConfig {
            base_port: 30000,
            ..SimConfig::default()
        },
        control: None,
        addresses_file: None,
    };
    let mut images: Vec<String> = Vec::new();
    let mut faults: Vec<(String, Fault)> = Vec::new();
    while let Some((name, inline)) = options.next() {
        if name == "--log-requests" {
            sim.config.log_requests = true;
            continue;
        }
        let value = options.value(&name, inline)?;
        let number = |what: &str| format!("{name} wants {what}, not `{value}`");
        match name.as_str() {
            "--ships" => {
                sim.config.ships = value.parse().map_err(|_| number("a count"))?;
            }
            "--host" => {
                sim.config.host = value
                    .parse::<IpAddr>()
                    .map_err(|_| number("an IP address"))?;
            }
            "--base-port" => {
                sim.config.base_port = value.parse().map_err(|_| number("a port"))?;
            }
            "--layout" => {
                sim.config.layout = match value.as_str() {
                    "ports" => Layout::Ports,
                    "addresses" => Layout::Addresses,
                    _ => return Err(number("ports or addresses")),
                };
            }
            "--latency-ms" => {
                let ms: f64 = value.parse().map_err(|_| number("milliseconds"))?;
                if !ms.is_finite() || !(0.0..=3_600_000.0).contains(&ms) {
                    return Err(number("milliseconds"));
                }
                sim.config.latency = Duration::from_secs_f64(ms / 1000.0);
            }
            "--image" => images.push(value),
            "--pullable" => {
                sim.config.pullable = match value.as_str() {
                    "any" => Pullable::Any,
                    "none" => Pullable::Nothing,
                    list => Pullable::Only(
                        list.split(',')
                            .filter(|r| !r.is_empty())
                            .map(str::to_owned)
                            .collect(),
                    ),
                };
            }
            "--api-version" => sim.config.api_version = value,
            "--min-api-version" => sim.config.min_api_version = value,
            "--engine-version" => sim.config.engine_version = value,
            "--fault" => {
                let (ships, kind) = value
                    .split_once('=')
                    .ok_or_else(|| number("SHIPS=KIND (e.g. 3=refuse)"))?;
                faults.push((ships.to_owned(), kind.parse()?));
            }
            "--control" => {
                sim.control = Some(
                    value
                        .parse()
                        .map_err(|_| number("an address (127.0.0.1:29999)"))?,
                );
            }
            "--addresses-file" => sim.addresses_file = Some(PathBuf::from(value)),
            other => return Err(format!("unknown option: {other}")),
        }
    }
    if sim.config.ships == 0 {
        return Err("--ships wants at least 1".into());
    }
    if !images.is_empty() {
        sim.config.images = images;
    }
    let ships = sim.config.ships;
    for (which, fault) in faults {
        let range = match which.as_str() {
            "all" => 0..ships,
            text => {
                let (from, to) = text.split_once('-').unwrap_or((text, text));
                let bad = || format!("--fault: `{text}` is not a ship index, a range or all");
                let from: usize = from.parse().map_err(|_| bad())?;
                let to: usize = to.parse().map_err(|_| bad())?;
                if from > to || to >= ships {
                    return Err(format!(
                        "--fault: ships {text} are not among the {ships} ships"
                    ));
                }
                from..to + 1
            }
        };
        sim.config.faults.extend(range.map(|i| (i, fault)));
    }
    Ok(sim)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|arg| arg == "-h" || arg == "--help") {
        println!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    let command = match parse(&args) {
        Ok(command) => command,
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
    match command {
        Command::Front(front) => runtime.block_on(serve_front(front)),
        Command::Sim(sim) => runtime.block_on(serve_sim(sim)),
    }
}

async fn serve_front(front: FrontArgs) -> ExitCode {
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
}

async fn serve_sim(sim: SimArgs) -> ExitCode {
    let handle = match maestro_testkit::sim::spawn_sim(sim.config).await {
        Ok(handle) => handle,
        Err(err) => {
            eprintln!("maestro-testkit: {err}");
            return ExitCode::FAILURE;
        }
    };
    let addrs = handle.addrs();
    if let Some(path) = &sim.addresses_file {
        let text: String = addrs.iter().map(|a| format!("{a}\n")).collect();
        if let Err(err) = std::fs::write(path, text) {
            eprintln!("maestro-testkit: cannot write {}: {err}", path.display());
            return ExitCode::FAILURE;
        }
    }
    let mut out = std::io::stdout().lock();
    match (addrs.first(), addrs.last()) {
        (Some(first), Some(last)) if addrs.len() > 1 => {
            let _ = writeln!(
                out,
                "listening on {first} .. {last} ({} ships)",
                addrs.len()
            );
        }
        (Some(first), _) => {
            let _ = writeln!(out, "listening on {first}");
        }
        _ => {}
    }
    if let Some(listen) = sim.control {
        match maestro_testkit::sim::spawn_control(&handle, listen).await {
            Ok(addr) => {
                let _ = writeln!(out, "control on {addr}");
            }
            Err(err) => {
                eprintln!("maestro-testkit: cannot serve the control API on {listen}: {err}");
                return ExitCode::FAILURE;
            }
        }
    }
    let _ = writeln!(out, "ready");
    let _ = out.flush();
    drop(out);
    std::future::pending::<()>().await;
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    fn front(list: &[&str]) -> Result<FrontArgs, String> {
        match parse(&args(list))? {
            Command::Front(front) => Ok(front),
            Command::Sim(_) => Err("not a front".into()),
        }
    }

    fn sim(list: &[&str]) -> Result<SimArgs, String> {
        let mut all = vec!["sim-engine"];
        all.extend_from_slice(list);
        match parse(&args(&all))? {
            Command::Sim(sim) => Ok(sim),
            Command::Front(_) => Err("not a sim".into()),
        }
    }

    #[test]
    fn parses_the_front_command() {
        assert_eq!(
            front(&["docker29-front"]),
            Ok(FrontArgs {
                listen: "127.0.0.1:23750".parse().unwrap(),
                backend: "/var/run/docker.sock".into(),
            })
        );
        assert_eq!(
            front(&[
                "docker29-front",
                "--listen",
                "127.0.0.1:0",
                "--backend=/tmp/d.sock"
            ]),
            Ok(FrontArgs {
                listen: "127.0.0.1:0".parse().unwrap(),
                backend: "/tmp/d.sock".into(),
            })
        );
        assert!(parse(&args(&[])).is_err());
        assert!(parse(&args(&["other"])).is_err());
        assert!(front(&["docker29-front", "--listen"]).is_err());
        assert!(front(&["docker29-front", "--listen", "nope"]).is_err());
        assert!(front(&["docker29-front", "--bogus", "1"]).is_err());
    }

    #[test]
    fn parses_the_sim_command() {
        let plain = sim(&[]).unwrap();
        assert_eq!(plain.config.ships, 1);
        assert_eq!(plain.config.base_port, 30000);
        assert_eq!(plain.config.latency, Duration::ZERO);
        assert_eq!(plain.config.images, vec!["maestro-test/box:1".to_owned()]);
        assert!(plain.control.is_none());

        let full = sim(&[
            "--ships",
            "200",
            "--base-port=31000",
            "--latency-ms",
            "20",
            "--image",
            "a:1",
            "--image",
            "b",
            "--pullable",
            "a:2,c",
            "--api-version",
            "1.45",
            "--fault",
            "3=refuse",
            "--fault",
            "5-6=500",
            "--control",
            "127.0.0.1:0",
            "--log-requests",
            "--layout",
            "addresses",
            "--host",
            "127.0.1.1",
        ])
        .unwrap();
        assert_eq!(full.config.ships, 200);
        assert_eq!(full.config.base_port, 31000);
        assert_eq!(full.config.latency, Duration::from_millis(20));
        assert_eq!(full.config.images, vec!["a:1".to_owned(), "b".to_owned()]);
        assert_eq!(
            full.config.pullable,
            Pullable::Only(vec!["a:2".into(), "c".into()])
        );
        assert_eq!(full.config.api_version, "1.45");
        assert_eq!(
            full.config.faults,
            vec![
                (3, Fault::Refuse),
                (5, Fault::Error500),
                (6, Fault::Error500)
            ]
        );
        assert!(full.config.log_requests);
        assert_eq!(full.config.layout, Layout::Addresses);
        assert_eq!(full.control, Some("127.0.0.1:0".parse().unwrap()));
        assert_eq!(
            sim(&["--ships", "4", "--fault", "all=hang"])
                .unwrap()
                .config
                .faults
                .len(),
            4
        );

        assert!(sim(&["--ships", "0"]).is_err());
        assert!(sim(&["--ships", "x"]).is_err());
        assert!(sim(&["--latency-ms", "-1"]).is_err());
        assert!(sim(&["--fault", "9=refuse"]).is_err());
        assert!(sim(&["--fault", "0=boom"]).is_err());
        assert!(sim(&["--fault", "refuse"]).is_err());
        assert!(sim(&["--layout", "grid"]).is_err());
        assert!(sim(&["--bogus", "1"]).is_err());
        assert!(sim(&["--ships"]).is_err());
    }
}
