//! The Docker 29 front in front of the real local engine (/var/run/docker.sock),
//! driven by the `docker` CLI: version negotiation, the refusal of a too-old
//! client, `docker run` (create/attach/start/wait), `docker exec` (hijack),
//! `docker logs -f` and `docker events` (streams). The engine and the test image
//! come from the test bed (`scripts/testbed`, which `scripts/test` runs first);
//! each test fails, saying so, when the engine does not answer or the image is
//! missing.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use maestro_testkit::Docker29Front;

const ENGINE: &str = "/var/run/docker.sock";
const IMAGE: &str = "maestro-test/box:1";

/// Whether the engine answers `GET /_ping` on its socket.
fn engine_answers() -> bool {
    let ping = || -> std::io::Result<bool> {
        let mut socket = UnixStream::connect(ENGINE)?;
        socket.set_read_timeout(Some(Duration::from_secs(5)))?;
        socket.set_write_timeout(Some(Duration::from_secs(5)))?;
        socket.write_all(b"GET /_ping HTTP/1.0\r\nHost: docker\r\n\r\n")?;
        let mut reply = String::new();
        socket.read_to_string(&mut reply)?;
        Ok(reply.starts_with("HTTP/1.") && reply.ends_with("OK"))
    };
    ping().unwrap_or(false)
}

/// A front before the local engine. Fails, naming the fix, when the engine
/// does not answer or the test image is missing.
fn front() -> Docker29Front {
    assert!(
        engine_answers(),
        "the Docker engine at {ENGINE} does not answer `GET /_ping`: \
         start the test bed with scripts/testbed (scripts/test does it first)"
    );
    let image = engine_docker()
        .args(["image", "inspect", "--format", "{{.Id}}", IMAGE])
        .output()
        .expect("the docker CLI runs");
    assert!(
        image.status.success(),
        "the test image {IMAGE} is missing: run scripts/testbed ({})",
        String::from_utf8_lossy(&image.stderr)
    );
    Docker29Front::start(ENGINE).expect("the front starts")
}

/// The `docker` CLI talking to the engine directly (for set-up and clean-up).
fn engine_docker() -> Command {
    let mut command = Command::new("docker");
    command
        .env("DOCKER_HOST", format!("unix://{ENGINE}"))
        .env_remove("DOCKER_API_VERSION")
        .env_remove("DOCKER_CONTEXT")
        .env_remove("DOCKER_TLS_VERIFY")
        .env_remove("DOCKER_CERT_PATH")
        .stdin(Stdio::null());
    command
}

/// The `docker` CLI talking to the engine through `front`.
fn front_docker(front: &Docker29Front) -> Command {
    let mut command = engine_docker();
    command.env("DOCKER_HOST", front.docker_host());
    command
}

fn run(mut command: Command) -> Output {
    command.output().expect("the docker CLI runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn assert_ok(what: &str, output: &Output) {
    assert!(
        output.status.success(),
        "{what}: {}\nstdout: {}\nstderr: {}",
        output.status,
        text(&output.stdout),
        text(&output.stderr)
    );
}

/// A container removed (through the engine directly) when dropped.
struct Container(String);

impl Container {
    fn name(tag: &str) -> Container {
        let name = format!("maestro-testkit-{tag}-{}", std::process::id());
        let _ = run({
            let mut rm = engine_docker();
            rm.args(["rm", "-f", &name]);
            rm
        });
        Container(name)
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        let mut rm = engine_docker();
        rm.args(["rm", "-f", &self.0])
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let _ = rm.status();
    }
}

/// Reads `child`'s stdout lines on a thread until `want` lines matched `keep`,
/// or the deadline passes; then kills the child.
fn read_lines_until(
    mut child: std::process::Child,
    keep: impl Fn(&str) -> bool,
    want: usize,
    deadline: Duration,
) -> Vec<String> {
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let start = Instant::now();
    let mut lines = Vec::new();
    while lines.len() < want {
        let left = deadline.saturating_sub(start.elapsed());
        match rx.recv_timeout(left) {
            Ok(line) if keep(&line) => lines.push(line),
            Ok(_) => {}
            Err(_) => break,
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    lines
}

#[test]
fn docker_version_sees_engine_29() {
    let front = front();
    let mut version = front_docker(&front);
    version.args([
        "version",
        "--format",
        "{{.Server.APIVersion}} {{.Server.Version}} {{.Server.MinAPIVersion}}",
    ]);
    let output = run(version);
    assert_ok("docker version", &output);
    assert_eq!(text(&output.stdout).trim(), "1.52 29.0.0 1.44");

    let mut only_api = front_docker(&front);
    only_api.args(["version", "--format", "{{.Server.APIVersion}}"]);
    let output = run(only_api);
    assert_ok("docker version", &output);
    assert_eq!(text(&output.stdout).trim(), "1.52");
}

#[test]
fn a_client_pinned_to_api_1_41_is_too_old() {
    let front = front();
    let mut ps = front_docker(&front);
    ps.env("DOCKER_API_VERSION", "1.41").arg("ps");
    let output = run(ps);
    assert!(!output.status.success(), "docker ps at API 1.41 succeeded");
    let stderr = text(&output.stderr);
    assert!(
        stderr.contains(
            "client version 1.41 is too old. Minimum supported API version is 1.44, \
             please upgrade your client to a newer version"
        ),
        "{stderr}"
    );
}

#[test]
fn docker_run_attaches_and_prints() {
    let front = front();
    let mut docker_run = front_docker(&front);
    docker_run.args(["run", "--rm", IMAGE, "echo", "hi"]);
    let output = run(docker_run);
    assert_ok("docker run", &output);
    assert_eq!(text(&output.stdout), "hi\n");
}

#[test]
fn docker_exec_is_hijacked_both_ways() {
    let front = front();
    let container = Container::name("exec");
    let mut start = front_docker(&front);
    start.args(["run", "-d", "--name", &container.0, IMAGE, "sleep", "120"]);
    assert_ok("docker run -d", &run(start));

    let mut exec = front_docker(&front);
    exec.args(["exec", &container.0, "echo", "hello"]);
    let output = run(exec);
    assert_ok("docker exec", &output);
    assert_eq!(text(&output.stdout), "hello\n");

    // Standard input goes through the tunnel too, and its end reaches `cat`.
    let mut exec_stdin = front_docker(&front);
    exec_stdin
        .args(["exec", "-i", &container.0, "cat"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = exec_stdin.spawn().expect("the docker CLI runs");
    child
        .stdin
        .take()
        .expect("piped stdin")
        .write_all(b"ping\n")
        .expect("write to docker exec");
    let output = child.wait_with_output().expect("docker exec -i ends");
    assert_ok("docker exec -i", &output);
    assert_eq!(text(&output.stdout), "ping\n");
}

#[test]
fn docker_logs_follow_streams() {
    let front = front();
    let container = Container::name("logs");
    let mut start = front_docker(&front);
    start.args([
        "run",
        "-d",
        "--name",
        &container.0,
        IMAGE,
        "sh",
        "-c",
        "i=0; while true; do echo line$i; i=$((i+1)); sleep 0.2; done",
    ]);
    assert_ok("docker run -d", &run(start));

    // The container never ends, so lines arrive only if the front streams them.
    let mut logs = front_docker(&front);
    logs.args(["logs", "-f", &container.0])
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let child = logs.spawn().expect("the docker CLI runs");
    let lines = read_lines_until(
        child,
        |line| line.starts_with("line"),
        5,
        Duration::from_secs(20),
    );
    assert_eq!(lines, ["line0", "line1", "line2", "line3", "line4"]);
}

#[test]
fn docker_events_streams() {
    let front = front();
    let label = format!("maestro-testkit-events={}", std::process::id());
    let mut events = front_docker(&front);
    events
        .args([
            "events",
            "--filter",
            &format!("label={label}"),
            "--format",
            "{{.Action}}",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let child = events.spawn().expect("the docker CLI runs");
    // Let the events request reach the engine before there is anything to see.
    std::thread::sleep(Duration::from_millis(500));
    let mut container = engine_docker();
    container.args(["run", "--rm", "--label", &label, IMAGE, "true"]);
    assert_ok("docker run", &run(container));
    let actions = read_lines_until(
        child,
        |action| action == "start" || action == "die",
        2,
        Duration::from_secs(20),
    );
    assert_eq!(actions, ["start", "die"]);
}
