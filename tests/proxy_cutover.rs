//! The proxy's cutover on the real engine: Caddy (maestro-test/caddy:1) in
//! front of a versioned web app (maestro-test/web:1) on a user network, its
//! config applied with the proxy crate through the engine API only. While a
//! load generator (`hey`) runs through the proxy, version 2 starts beside
//! version 1, is probed from the proxy container, the config switches to it,
//! version 1 drains and stops: no request may fail. And a slow request in
//! flight when the switch happens completes.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use maestro_engine::Engine;
use maestro_proxy::{render, Admin, Health, Listen, ProxyConfig, Route, Upstream};

use crate::util::{workspace_root, TestCommand};

const CADDY_IMAGE: &str = "maestro-test/caddy:1";
const WEB_IMAGE: &str = "maestro-test/web:1";
const APP_PORT: u16 = 8080;

/// Builds the proxy test images (once per test process, one process at a
/// time: `scripts/testbed-engine --proxy`, quick when they are there).
pub(crate) fn images() {
    static DONE: OnceLock<()> = OnceLock::new();
    DONE.get_or_init(|| {
        let lock = std::env::temp_dir().join("maestro-proxy-images.lock");
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock)
            .unwrap_or_else(|e| panic!("cannot open {}: {e}", lock.display()));
        file.lock().expect("a lock on the image build");
        TestCommand::new(workspace_root().join("scripts/testbed-engine"))
            .arg("--proxy")
            .timeout(Duration::from_secs(300))
            .run()
            .assert_success();
    });
}

fn docker(args: &[&str]) -> String {
    let out = Command::new("docker")
        .args(args)
        .env_remove("DOCKER_CONTEXT")
        .env_remove("DOCKER_HOST")
        .output()
        .expect("the docker CLI runs");
    assert!(
        out.status.success(),
        "docker {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// A test's containers and network, named with a unique prefix and removed
/// when dropped (however the test ends), and before, should a run with the
/// same names have left them.
struct Bed {
    prefix: String,
}

impl Bed {
    fn new(test: &str) -> Bed {
        images();
        let bed = Bed {
            prefix: format!("maestro-proxy-{}-{test}", std::process::id()),
        };
        bed.remove();
        docker(&["network", "create", &bed.network()]);
        bed
    }

    fn network(&self) -> String {
        format!("{}-net", self.prefix)
    }

    fn name(&self, what: &str) -> String {
        format!("{}-{what}", self.prefix)
    }

    /// Starts the proxy, its HTTP port published on 127.0.0.1; returns that port.
    fn proxy(&self) -> u16 {
        let name = self.name("caddy");
        docker(&[
            "run",
            "-d",
            "--name",
            &name,
            "--network",
            &self.network(),
            "-p",
            "127.0.0.1::80",
            CADDY_IMAGE,
        ]);
        let port = docker(&["port", &name, "80/tcp"]);
        port.lines()
            .next()
            .and_then(|l| l.rsplit_once(':'))
            .and_then(|(_, p)| p.parse().ok())
            .unwrap_or_else(|| panic!("no published port for {name}: {port}"))
    }

    /// Starts version `version` of the app; returns its upstream.
    fn app(&self, version: u32) -> Upstream {
        let name = self.name(&format!("v{version}"));
        docker(&[
            "run",
            "-d",
            "--name",
            &name,
            "--network",
            &self.network(),
            "-e",
            &format!("VERSION={version}"),
            WEB_IMAGE,
        ]);
        Upstream::new(&name, APP_PORT)
    }

    fn remove(&self) {
        let names = ["caddy", "v1", "v2"].map(|w| self.name(w));
        let _ = Command::new("docker")
            .args(["rm", "-f", "-v"])
            .args(&names)
            .output();
        let _ = Command::new("docker")
            .args(["network", "rm", &self.network()])
            .output();
    }
}

impl Drop for Bed {
    fn drop(&mut self) {
        self.remove();
    }
}

/// The local engine, through maestro's engine crate (its unix socket).
async fn engine() -> Engine {
    let text = "name: proxy\nships:\n  local: {ip: 127.0.0.1, socket_path: /var/run/docker.sock, timeout: 20}\nservices: {}\n";
    let source = maestro_config::Source {
        name: "proxy.yaml".into(),
        base_dir: std::env::temp_dir(),
        text: text.into(),
    };
    let env = maestro_config::load(&source, &Default::default()).expect("the environment loads");
    let ship = env.ships.get("local").expect("the local ship");
    Engine::connect(ship)
        .await
        .expect("the local engine answers")
}

fn route(upstreams: Vec<Upstream>, drain: Duration) -> ProxyConfig {
    ProxyConfig {
        listen: Listen::default(),
        routes: vec![Route {
            service: "web".into(),
            hosts: vec![],
            path_prefix: None,
            upstreams,
            health: Health {
                path: "/health".into(),
                interval: Duration::from_millis(500),
                timeout: Duration::from_secs(1),
            },
            response_timeout: Duration::from_secs(10),
            drain_timeout: drain,
            tls: None,
        }],
    }
}

async fn apply(admin: &Admin<'_>, config: &ProxyConfig) -> Duration {
    let json = render(config).expect("the config renders");
    admin
        .apply(&json, config.grace_period())
        .await
        .unwrap_or_else(|e| panic!("the proxy took no config: {e}"))
        .took
}

/// Waits for Caddy's admin API (the container has just started).
async fn admin_ready(admin: &Admin<'_>) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        match admin.running_config().await {
            Ok(_) => return,
            Err(e) if Instant::now() > deadline => panic!("the admin API never answered: {e}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

/// Waits until `upstream` answers its health path from inside the proxy.
async fn healthy(admin: &Admin<'_>, upstream: &Upstream) -> Duration {
    let started = Instant::now();
    loop {
        match admin
            .probe(upstream, "/health", Duration::from_secs(1))
            .await
        {
            Ok(true) => return started.elapsed(),
            Err(e) if started.elapsed() > Duration::from_secs(20) => panic!("probe: {e}"),
            _ if started.elapsed() > Duration::from_secs(20) => {
                panic!("{} never became healthy", upstream.dial)
            }
            _ => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

/// `GET path` over HTTP/1.0 (no chunks, the connection closed after):
/// the status and the body, or the error.
fn get(port: u16, path: &str) -> Result<(u16, String), String> {
    get_from("127.0.0.1", port, path)
}

/// [`get`] from `host`.
pub(crate) fn get_from(host: &str, port: u16, path: &str) -> Result<(u16, String), String> {
    let mut stream = TcpStream::connect((host, port)).map_err(|e| e.to_string())?;
    stream
        .set_read_timeout(Some(Duration::from_secs(15)))
        .map_err(|e| e.to_string())?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").map_err(|e| e.to_string())?;
    let mut text = String::new();
    stream
        .read_to_string(&mut text)
        .map_err(|e| e.to_string())?;
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("no status line in {text:?}"))?;
    let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    Ok((status, body.trim().to_owned()))
}

/// Waits until the proxy answers `/` with `body`.
fn answers(port: u16, body: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let got = get(port, "/");
        if matches!(&got, Ok((200, b)) if b == body) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "the proxy never said {body:?}: {got:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// What `hey` reported.
#[derive(Debug, Default)]
pub(crate) struct Load {
    pub(crate) statuses: Vec<(u16, u64)>,
    pub(crate) errors: Vec<(u64, String)>,
    pub(crate) rate: f64,
    pub(crate) output: String,
}

impl Load {
    pub(crate) fn responses(&self) -> u64 {
        self.statuses.iter().map(|(_, n)| n).sum()
    }
    pub(crate) fn failures(&self) -> u64 {
        self.errors.iter().map(|(n, _)| n).sum()
    }
    pub(crate) fn non_2xx(&self) -> u64 {
        self.statuses
            .iter()
            .filter(|(s, _)| !(200..300).contains(s))
            .map(|(_, n)| n)
            .sum()
    }
}

/// Reads hey's summary: `Requests/sec:`, the lines `[200]\tN responses`
/// under `Status code distribution:` and `[N]\tmessage` under `Error distribution:`.
fn parse_hey(output: &str) -> Load {
    let mut load = Load {
        output: output.to_owned(),
        ..Load::default()
    };
    let mut section = "";
    for line in output.lines() {
        let line = line.trim();
        if let Some(rate) = line.strip_prefix("Requests/sec:") {
            load.rate = rate.trim().parse().unwrap_or(0.0);
        } else if line.starts_with("Status code distribution:") {
            section = "status";
        } else if line.starts_with("Error distribution:") {
            section = "error";
        } else if let Some((bracket, rest)) = line.strip_prefix('[').and_then(|l| l.split_once(']'))
        {
            let Ok(n) = bracket.parse::<u64>() else {
                continue;
            };
            match section {
                "status" => {
                    let count = rest.split_whitespace().next().and_then(|c| c.parse().ok());
                    load.statuses.push((n as u16, count.unwrap_or(0)));
                }
                "error" => load.errors.push((n, rest.trim().to_owned())),
                _ => {}
            }
        } else if line.is_empty() || line.ends_with(':') {
            section = if line.is_empty() { section } else { "" };
        }
    }
    load
}

/// `hey -z SECONDS -q 50 -c 4 URL` (4 workers at 50 requests/s each).
fn hey(port: u16, seconds: u64) -> std::thread::JoinHandle<Load> {
    hey_at(format!("http://127.0.0.1:{port}/"), seconds)
}

/// [`hey`] against `url`.
pub(crate) fn hey_at(url: String, seconds: u64) -> std::thread::JoinHandle<Load> {
    std::thread::spawn(move || {
        let out = TestCommand::new("hey")
            .args(["-z", &format!("{seconds}s"), "-q", "50", "-c", "4", &url])
            .timeout(Duration::from_secs(seconds + 60))
            .run();
        out.assert_success();
        parse_hey(&out.stdout())
    })
}

/// One request after another until stopped: when each was sent and what came back.
type Samples = Arc<Mutex<Vec<(Instant, Result<(u16, String), String>)>>>;

fn sampler(port: u16, stop: Arc<AtomicBool>) -> (Samples, std::thread::JoinHandle<()>) {
    let samples: Samples = Arc::default();
    let into = samples.clone();
    let thread = std::thread::spawn(move || {
        while !stop.load(Ordering::SeqCst) {
            let sent = Instant::now();
            let got = get(port, "/");
            if let Ok(mut all) = into.lock() {
                all.push((sent, got));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    });
    (samples, thread)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cutover_under_load_fails_no_request() {
    let bed = Bed::new("cutover");
    let engine = engine().await;
    let v1 = bed.app(1);
    let port = bed.proxy();
    let admin = Admin::new(&engine, &bed.name("caddy"));
    admin_ready(&admin).await;
    healthy(&admin, &v1).await;
    let drain = Duration::from_secs(2);
    let first = apply(&admin, &route(vec![v1.clone()], drain)).await;
    answers(port, "version 1");

    let load_seconds = 8;
    let load = hey(port, load_seconds);
    let stop = Arc::new(AtomicBool::new(false));
    let (samples, sampling) = sampler(port, stop.clone());
    let started = Instant::now();
    tokio::time::sleep(Duration::from_millis(1500)).await;

    // Version 2 beside version 1; traffic moves once it answers.
    let v2 = bed.app(2);
    let ready = healthy(&admin, &v2).await;
    let switch = apply(&admin, &route(vec![v2.clone()], drain)).await;
    let switched = Instant::now();
    let upstreams = admin.upstreams().await.expect("the upstreams are read");
    tokio::time::sleep(drain).await;
    docker(&["stop", "-t", "5", &bed.name("v1")]);
    let stopped = started.elapsed();

    let load = load.join().expect("hey ran");
    stop.store(true, Ordering::SeqCst);
    sampling.join().expect("the sampler ran");
    let samples = samples.lock().expect("the samples").clone();

    let after: Vec<_> = samples
        .iter()
        .filter(|(sent, _)| *sent > switched)
        .collect();
    let before_v1 = samples
        .iter()
        .filter(|(_, got)| matches!(got, Ok((200, b)) if b == "version 1"))
        .count();
    println!(
        "proxy cutover: hey {} requests in {load_seconds} s ({:.1}/s), {} failed, {} non-2xx, statuses {:?}; \
         sampler {} requests ({} said version 1, {} sent after the switch); \
         first config applied in {first:?}, v2 healthy after {ready:?}, switch applied in {switch:?}, \
         v1 stopped at {stopped:?}",
        load.responses() + load.failures(),
        load.rate,
        load.failures(),
        load.non_2xx(),
        load.statuses,
        samples.len(),
        before_v1,
        after.len(),
    );
    assert!(
        load.responses() >= 100 * load_seconds,
        "too few requests\n{}",
        load.output
    );
    assert_eq!(
        load.failures(),
        0,
        "failed requests: {:?}\n{}",
        load.errors,
        load.output
    );
    assert_eq!(load.non_2xx(), 0, "non-2xx answers\n{}", load.output);
    let bad: Vec<_> = samples
        .iter()
        .filter(|(_, got)| !matches!(got, Ok((200, _))))
        .collect();
    assert!(bad.is_empty(), "sampled requests that failed: {bad:?}");
    assert!(before_v1 > 0, "no request reached version 1");
    assert!(!after.is_empty(), "no request after the switch");
    for (_, got) in &after {
        assert!(
            matches!(got, Ok((200, b)) if b == "version 2"),
            "a request after the switch: {got:?}"
        );
    }
    let addresses: Vec<&str> = upstreams.iter().map(|u| u.address.as_str()).collect();
    assert!(addresses.contains(&v2.dial.as_str()), "{upstreams:?}");
    assert!(!addresses.contains(&v1.dial.as_str()), "{upstreams:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_request_in_flight_at_the_switch_completes() {
    let bed = Bed::new("drain");
    let engine = engine().await;
    let v1 = bed.app(1);
    let port = bed.proxy();
    let admin = Admin::new(&engine, &bed.name("caddy"));
    admin_ready(&admin).await;
    healthy(&admin, &v1).await;
    let drain = Duration::from_secs(5);
    apply(&admin, &route(vec![v1.clone()], drain)).await;
    answers(port, "version 1");
    let v2 = bed.app(2);
    healthy(&admin, &v2).await;

    // A request that takes 3 s, sent before the switch.
    let sent = Instant::now();
    let slow = std::thread::spawn(move || (get(port, "/cgi-bin/slow"), sent.elapsed()));
    tokio::time::sleep(Duration::from_millis(500)).await;
    let switch = apply(&admin, &route(vec![v2.clone()], drain)).await;
    let (after, _) = (get(port, "/"), ());
    let (slow, took) = slow.join().expect("the slow request ran");
    docker(&["stop", "-t", "5", &bed.name("v1")]);
    println!(
        "proxy drain: the slow request answered {slow:?} after {took:?}; \
         the switch was applied in {switch:?}; a request after it: {after:?}"
    );
    assert_eq!(slow, Ok((200, "slow version 1".to_owned())));
    assert!(took >= Duration::from_millis(2900), "{took:?}");
    assert_eq!(after, Ok((200, "version 2".to_owned())));

    // A config Caddy refuses is an error saying why, and the running one stays.
    let bad = serde_json::json!({"apps": {"http": {"servers": {"http": {"listen": [":80"], "bogus": 1}}}}});
    let err = admin
        .apply(&bad, Duration::ZERO)
        .await
        .expect_err("Caddy refuses an unknown field");
    assert!(
        matches!(err, maestro_proxy::ProxyError::Rejected { .. })
            && err.to_string().contains("bogus"),
        "{err}"
    );
    assert_eq!(get(port, "/"), Ok((200, "version 2".to_owned())));
}
