//! The simulated fleet over real sockets, with a plain HTTP/1.1 client: the
//! latency of a ship, API version checks, a wait whose head comes at once
//! and whose status comes at the exit, a followed log that ends with the
//! container, the fault knobs (refuse, 500, hang) and their healing, the
//! control API, and the `sim-engine` command.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use maestro_testkit::sim::{Fault, SimConfig, SimFleet};
use serde_json::{json, Value};

/// A response: status, headers (lower-case names), body (de-chunked).
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Sends one request (connection closed after it) and reads the head.
fn send(
    addr: SocketAddr,
    method: &str,
    target: &str,
    body: Option<&Value>,
) -> BufReader<TcpStream> {
    let mut tcp = TcpStream::connect(addr).expect("connects");
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let mut request = format!("{method} {target} HTTP/1.1\r\nHost: sim\r\nConnection: close\r\n");
    if !body.is_empty() {
        request.push_str(&format!(
            "Content-Type: application/json\r\nContent-Length: {}\r\n",
            body.len()
        ));
    }
    request.push_str("\r\n");
    request.push_str(&body);
    tcp.write_all(request.as_bytes())
        .expect("the request goes out");
    BufReader::new(tcp)
}

/// Reads a response head from `reader`.
fn head(reader: &mut BufReader<TcpStream>) -> (u16, Vec<(String, String)>) {
    let mut line = String::new();
    reader.read_line(&mut line).expect("a status line");
    let status = line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("bad status line {line:?}"));
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).expect("a header line");
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
        }
    }
    (status, headers)
}

/// Reads the body (chunked or to the end).
fn body(reader: &mut BufReader<TcpStream>, headers: &[(String, String)]) -> Vec<u8> {
    let chunked = headers
        .iter()
        .any(|(n, v)| n == "transfer-encoding" && v.contains("chunked"));
    let mut out = Vec::new();
    if !chunked {
        reader.read_to_end(&mut out).expect("the body");
        return out;
    }
    loop {
        let mut size = String::new();
        reader.read_line(&mut size).expect("a chunk size");
        let size = usize::from_str_radix(size.trim(), 16).expect("a hex chunk size");
        if size == 0 {
            return out;
        }
        let mut chunk = vec![0; size + 2];
        reader.read_exact(&mut chunk).expect("a chunk");
        out.extend_from_slice(&chunk[..size]);
    }
}

fn call(addr: SocketAddr, method: &str, target: &str, json_body: Option<Value>) -> Reply {
    let mut reader = send(addr, method, target, json_body.as_ref());
    let (status, headers) = head(&mut reader);
    let body = body(&mut reader, &headers);
    Reply {
        status,
        headers,
        body,
    }
}

fn create_and_start(addr: SocketAddr, name: &str, script: &str) {
    let created = call(
        addr,
        "POST",
        &format!("/v1.47/containers/create?name={name}"),
        Some(json!({"Image": "maestro-test/box:1", "Cmd": ["sh", "-c", script]})),
    );
    assert_eq!(
        created.status,
        201,
        "{}",
        String::from_utf8_lossy(&created.body)
    );
    let started = call(
        addr,
        "POST",
        &format!("/v1.47/containers/{name}/start"),
        None,
    );
    assert_eq!(started.status, 204);
}

/// Ship 0 answers after its latency (2 s), ship 1 has none: a request sent
/// to ship 0 first is answered after the one sent to ship 1 next.
#[test]
fn each_call_takes_the_ships_latency() {
    let sim = SimFleet::start(SimConfig {
        ships: 2,
        latency: Duration::from_secs(2),
        ..SimConfig::default()
    })
    .unwrap();
    sim.set_latency(1, Duration::ZERO);
    let (answered, order) = mpsc::channel();
    let mut slow = send(sim.addr(0).unwrap(), "GET", "/_ping", None);
    let slow_answered = answered.clone();
    let slow = std::thread::spawn(move || {
        let (status, headers) = head(&mut slow);
        let reply = body(&mut slow, &headers);
        let _ = slow_answered.send("ship 0");
        (status, reply)
    });
    let reply = call(sim.addr(1).unwrap(), "GET", "/_ping", None);
    let _ = answered.send("ship 1");
    assert_eq!(reply.body, b"OK");
    assert_eq!(reply.header("api-version"), Some("1.47"));
    let (status, slow_body) = slow.join().expect("the reader of ship 0's answer");
    assert_eq!(status, 200);
    assert_eq!(slow_body, b"OK");
    let order: Vec<&str> = order.try_iter().collect();
    assert_eq!(order, ["ship 1", "ship 0"], "the order of the answers");
    assert_eq!(sim.stats().by_call.get("ping"), Some(&2));
}

/// Networks and volumes over HTTP, as maestro's client calls them: list by
/// an anchored name, create, a container on one, connect, the refusals of
/// a removal while in use, and the statistics by call.
#[test]
fn networks_and_volumes_are_served() {
    let sim = SimFleet::start(SimConfig::default()).unwrap();
    let addr = sim.addr(0).unwrap();
    let none = call(
        addr,
        "GET",
        "/v1.47/networks?filters=%7B%22name%22%3A%5B%22%5Efront%24%22%5D%7D",
        None,
    );
    assert_eq!(none.status, 200);
    assert_eq!(none.json(), json!([]));
    let created = call(
        addr,
        "POST",
        "/v1.47/networks/create",
        Some(json!({"Name": "front", "Labels": {"env": "t"}, "CheckDuplicate": true})),
    );
    assert_eq!(created.status, 201);
    let id = created.json()["Id"].as_str().unwrap().to_owned();
    let twice = call(
        addr,
        "POST",
        "/v1.47/networks/create",
        Some(json!({"Name": "front"})),
    );
    assert_eq!(twice.status, 409);
    assert_eq!(
        twice.json()["message"],
        "network with name front already exists"
    );
    let listed = call(
        addr,
        "GET",
        "/v1.47/networks?filters=%7B%22name%22%3A%5B%22%5Efront%24%22%5D%7D",
        None,
    );
    assert_eq!(listed.json()[0]["Id"], id.as_str());
    assert_eq!(listed.json()[0]["Labels"], json!({"env": "t"}));

    let container = call(
        addr,
        "POST",
        "/v1.47/containers/create?name=web",
        Some(
            json!({"Image": "maestro-test/box:1", "Cmd": ["sh", "-c", "sleep 3600"],
                    "HostConfig": {"NetworkMode": "front", "Binds": ["data:/data"]}}),
        ),
    );
    assert_eq!(container.status, 201);
    let connected = call(
        addr,
        "POST",
        "/v1.47/networks/bridge/connect",
        Some(json!({"Container": "web", "EndpointConfig": {"Aliases": ["w"]}})),
    );
    assert_eq!(connected.status, 200);
    let missing = call(
        addr,
        "POST",
        "/v1.47/networks/front/connect",
        Some(json!({"Container": "nope"})),
    );
    assert_eq!(missing.status, 404);
    assert_eq!(missing.json()["message"], "No such container: nope");
    assert_eq!(
        call(addr, "POST", "/v1.47/containers/web/start", None).status,
        204
    );
    let doc = call(addr, "GET", "/v1.47/containers/web/json", None).json();
    assert_eq!(
        doc["NetworkSettings"]["Networks"]["front"]["NetworkID"],
        id.as_str()
    );
    assert_eq!(
        doc["NetworkSettings"]["Networks"]["bridge"]["Aliases"],
        json!(["w"])
    );
    let busy = call(addr, "DELETE", "/v1.47/networks/front", None);
    assert_eq!(busy.status, 403);
    let users = call(
        addr,
        "GET",
        "/v1.47/containers/json?all=true&filters=%7B%22network%22%3A%5B%22front%22%5D%7D",
        None,
    );
    assert_eq!(users.json()[0]["Names"], json!(["/web"]));

    // The named volume was made with the container.
    let volumes = call(
        addr,
        "GET",
        "/v1.47/volumes?filters=%7B%22name%22%3A%5B%22data%22%5D%7D",
        None,
    );
    assert_eq!(volumes.status, 200);
    assert_eq!(volumes.json()["Volumes"][0]["Name"], "data");
    let made = call(
        addr,
        "POST",
        "/v1.47/volumes/create",
        Some(json!({"Name": "spare", "Labels": {"env": "t"}})),
    );
    assert_eq!(made.status, 201);
    assert_eq!(made.json()["Labels"], json!({"env": "t"}));
    let in_use = call(addr, "DELETE", "/v1.47/volumes/data?force=false", None);
    assert_eq!(in_use.status, 409);
    assert!(in_use.json()["message"]
        .as_str()
        .unwrap()
        .starts_with("remove data: volume is in use - ["));
    assert_eq!(
        call(addr, "GET", "/v1.47/volumes/spare", None).json()["Name"],
        "spare"
    );
    assert_eq!(
        call(addr, "DELETE", "/v1.47/volumes/spare?force=false", None).status,
        204
    );
    assert_eq!(
        call(addr, "DELETE", "/v1.47/volumes/spare?force=false", None).status,
        404
    );
    assert_eq!(
        call(addr, "DELETE", "/v1.47/containers/web?force=true", None).status,
        204
    );
    assert_eq!(
        call(addr, "DELETE", "/v1.47/networks/front", None).status,
        204
    );
    assert_eq!(call(addr, "GET", "/v1.47/networks/front", None).status, 404);
    let bad = call(
        addr,
        "POST",
        "/v1.47/networks/create",
        Some(json!({"Name": ["x"]})),
    );
    assert_eq!(bad.status, 400);

    let stats = sim.stats().by_call;
    let count = |label: &str| stats.get(label).copied().unwrap_or(0);
    assert_eq!(count("network list"), 2);
    assert_eq!(count("network create"), 3);
    assert_eq!(count("network connect"), 2);
    assert_eq!(count("network remove"), 2);
    assert_eq!(count("network inspect"), 1);
    assert_eq!(count("volume list"), 1);
    assert_eq!(count("volume create"), 1);
    assert_eq!(count("volume inspect"), 1);
    assert_eq!(count("volume remove"), 3);
}

#[test]
fn versions_are_checked_like_a_real_engine() {
    let sim = SimFleet::start(SimConfig::default()).unwrap();
    let addr = sim.addr(0).unwrap();
    let version = call(addr, "GET", "/version", None).json();
    assert_eq!(version["ApiVersion"], "1.47");
    assert_eq!(version["MinAPIVersion"], "1.24");
    let old = call(addr, "GET", "/v1.12/containers/json", None);
    assert_eq!(old.status, 400);
    assert!(old.json()["message"]
        .as_str()
        .unwrap()
        .contains("client version 1.12 is too old"));
    let missing = call(addr, "GET", "/v1.47/containers/nope/json", None);
    assert_eq!(missing.status, 404);
    assert_eq!(
        missing.json(),
        json!({"message": "No such container: nope"})
    );
    assert_eq!(call(addr, "GET", "/v1.47/what", None).status, 404);
    // Since 1.24 a start with a host configuration in its body is refused.
    create_and_start(addr, "body-check", "trap 'exit 0' TERM; sleep 3600 & wait");
    let refused = call(
        addr,
        "POST",
        "/v1.47/containers/body-check/start",
        Some(json!({"Binds": ["/a:/b"]})),
    );
    assert_eq!(refused.status, 400);
}

/// The container runs until it is stopped (SIGTERM makes it exit 4): the
/// wait's head comes while it still runs, its status only after the stop.
#[test]
fn a_wait_answers_its_head_at_once_and_its_status_at_the_exit() {
    let sim = SimFleet::start(SimConfig::default()).unwrap();
    let addr = sim.addr(0).unwrap();
    create_and_start(addr, "short", "trap 'exit 4' TERM; sleep 3600 & wait");
    let mut reader = send(addr, "POST", "/v1.47/containers/short/wait", None);
    let (status, headers) = head(&mut reader);
    assert_eq!(status, 200);
    let inspected = call(addr, "GET", "/v1.47/containers/short/json", None).json();
    assert_eq!(
        inspected["State"]["Running"], true,
        "the head came after the exit: {}",
        inspected["State"]
    );
    let stopped = call(addr, "POST", "/v1.47/containers/short/stop?t=5", None);
    assert_eq!(
        stopped.status,
        204,
        "{}",
        String::from_utf8_lossy(&stopped.body)
    );
    let done = body(&mut reader, &headers);
    let done: Value = serde_json::from_slice(&done).unwrap();
    assert_eq!(done, json!({"Error": null, "StatusCode": 4}));
    let inspected = call(addr, "GET", "/v1.47/containers/short/json", None).json();
    assert_eq!(inspected["State"]["Status"], "exited");
    assert_eq!(inspected["State"]["ExitCode"], 4);
}

#[test]
fn a_followed_log_ends_with_the_container() {
    let sim = SimFleet::start(SimConfig::default()).unwrap();
    let addr = sim.addr(0).unwrap();
    create_and_start(
        addr,
        "talker",
        "echo one; sleep 0.3; echo two >&2; sleep 0.2; exit 0",
    );
    let reply = call(
        addr,
        "GET",
        "/v1.47/containers/talker/logs?stdout=1&stderr=1&follow=1",
        None,
    );
    // The log ended with the container, not before: it has exited by now.
    let inspected = call(addr, "GET", "/v1.47/containers/talker/json", None).json();
    assert_eq!(
        inspected["State"]["Status"], "exited",
        "the followed log ended while the container ran: {}",
        inspected["State"]
    );
    assert_eq!(
        reply.header("content-type"),
        Some("application/vnd.docker.multiplexed-stream")
    );
    assert_eq!(
        reply.body,
        b"\x01\x00\x00\x00\x00\x00\x00\x04one\n\x02\x00\x00\x00\x00\x00\x00\x04two\n"
    );
}

#[test]
fn faults_come_and_go() {
    let sim = SimFleet::start(SimConfig {
        ships: 3,
        ..SimConfig::default()
    })
    .unwrap();
    let addr = sim.addr(0).unwrap();
    sim.set_fault(0, Fault::Refuse);
    std::thread::sleep(Duration::from_millis(100));
    assert!(
        TcpStream::connect(addr).is_err(),
        "a refusing ship takes no connection"
    );
    sim.set_fault(0, Fault::None);
    let mut answered = false;
    for _ in 0..50 {
        if TcpStream::connect(addr).is_ok() {
            answered = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(answered, "a healed ship listens again");
    assert_eq!(call(addr, "GET", "/_ping", None).status, 200);

    sim.set_fault(1, Fault::Error500);
    let failed = call(sim.addr(1).unwrap(), "GET", "/v1.47/containers/json", None);
    assert_eq!(failed.status, 500);
    assert_eq!(failed.json(), json!({"message": "simulated engine fault"}));

    sim.set_fault(2, Fault::Hang);
    let mut reader = send(sim.addr(2).unwrap(), "GET", "/_ping", None);
    reader
        .get_ref()
        .set_read_timeout(Some(Duration::from_millis(300)))
        .unwrap();
    let mut byte = [0u8; 1];
    assert!(
        reader.read(&mut byte).is_err(),
        "a hanging ship never answers"
    );
    assert_eq!(sim.fault(2), Some(Fault::Hang));
}

#[test]
fn the_command_serves_a_fleet_and_its_control_api() {
    let dir = std::env::temp_dir().join(format!("maestro-sim-cmd-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let addresses = dir.join("addresses");
    let mut child = Command::new(env!("CARGO_BIN_EXE_maestro-testkit"))
        .args([
            "sim-engine",
            "--ships",
            "3",
            "--base-port",
            "0",
            "--latency-ms",
            "1",
        ])
        .args([
            "--control",
            "127.0.0.1:0",
            "--fault",
            "2=500",
            "--addresses-file",
        ])
        .arg(&addresses)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("maestro-testkit runs");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut control = None;
    for line in lines.by_ref() {
        let line = line.unwrap();
        if let Some(addr) = line.strip_prefix("control on ") {
            control = Some(addr.parse::<SocketAddr>().unwrap());
        }
        if line == "ready" {
            break;
        }
    }
    let control = control.expect("the control address is printed");
    let ships: Vec<SocketAddr> = std::fs::read_to_string(&addresses)
        .unwrap()
        .lines()
        .map(|l| l.parse().unwrap())
        .collect();
    assert_eq!(ships.len(), 3);

    create_and_start(ships[0], "c1", "trap 'exit 0' TERM; sleep 3600 & wait");
    assert_eq!(call(ships[2], "GET", "/_ping", None).status, 500);
    let census = call(control, "GET", "/census", None).json();
    assert_eq!(census["running"], 1);
    let listed = call(control, "GET", "/ships", None).json();
    assert_eq!(listed[2]["fault"], "500");
    assert_eq!(listed[0]["running"], 1);
    let healed = call(control, "POST", "/ships/2/fault?kind=none", None);
    assert_eq!(healed.status, 200);
    assert_eq!(call(ships[2], "GET", "/_ping", None).status, 200);
    assert_eq!(
        call(control, "POST", "/ships/all/latency?ms=0", None).status,
        200
    );
    let containers = call(control, "GET", "/ships/0/containers", None).json();
    assert_eq!(
        containers,
        json!([{"name": "c1", "state": "running", "exit_code": 0}])
    );
    let stats = call(control, "GET", "/stats", None).json();
    assert!(stats["total"].as_u64().unwrap() >= 4, "{stats}");
    assert_eq!(
        call(control, "POST", "/ships/9/fault?kind=none", None).status,
        404
    );
    assert_eq!(
        call(control, "POST", "/ships/0/fault?kind=boom", None).status,
        400
    );

    let _ = child.kill();
    let _ = child.wait();
    let _ = std::fs::remove_dir_all(&dir);
}
