//! The plays end to end against Podman's Docker-compatible API (Debian's
//! podman 4.3, a rootful `podman system service` on a unix socket, brought up
//! by `scripts/testbed-podman`, which `scripts/test` runs): `status`,
//! `start` (the environment read inside the container), `stop`, `restart`,
//! `kill`, `clean`, `logs`, `plan`/`up` with a recreate on a changed env,
//! `pull` from the test bed's registry, lifecycle checks (tcp, http, exec,
//! rexec; `healthy` as Podman without systemd has it) and published ports.
//! Where Podman differs from Docker the test asserts what Podman does, as
//! docs/podman.md describes it.
//!
//! Every container is named `pm-<test>-…` and removed from Podman by a
//! [`PodmanCleanup`] guard made before anything starts.

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

use crate::engine_support::{
    argv, assert_code, assert_line, build_image, free_port, head, instance, line_of, maestro,
    service, IDLE, IMAGE,
};
use crate::testbed::{docker, env_inside, inspect, testbed};
use crate::util::{Dir, Output};

/// Where `scripts/testbed-podman` writes its variables.
const PODMAN_ENV_FILE: &str = "/var/lib/maestro-testbed/podman.env";

/// The socket of the Podman service; panics with the fix when it is not up.
fn podman_socket() -> &'static str {
    static SOCKET: OnceLock<String> = OnceLock::new();
    SOCKET.get_or_init(|| {
        let text = std::fs::read_to_string(PODMAN_ENV_FILE).unwrap_or_else(|e| {
            panic!("the test bed's Podman is not up ({PODMAN_ENV_FILE}: {e}); run scripts/testbed-podman (scripts/test does it)")
        });
        let socket = text
            .lines()
            .filter_map(|l| l.split_once('='))
            .find(|(k, _)| k.trim() == "TESTBED_PODMAN_SOCKET")
            .map(|(_, v)| v.trim().to_owned())
            .unwrap_or_else(|| {
                panic!("{PODMAN_ENV_FILE} has no TESTBED_PODMAN_SOCKET; re-run scripts/testbed-podman")
            });
        assert!(
            std::path::Path::new(&socket).exists(),
            "the Podman socket {socket} is missing; run scripts/testbed-podman (scripts/test does it)"
        );
        socket
    })
}

/// `docker -H` address of the Podman service.
fn podman() -> String {
    format!("unix://{}", podman_socket())
}

/// The ship spec of the Podman service (the ship's address is the local
/// engine's host address, where Podman publishes ports too).
fn podman_ship() -> String {
    format!(
        "{{ip: {}, socket_path: {}, timeout: 30}}",
        testbed().var("TESTBED_LOCAL_IP"),
        podman_socket()
    )
}

/// Removes the named containers from Podman when made and when dropped.
struct PodmanCleanup(Vec<String>);

impl PodmanCleanup {
    fn new(names: &[&str]) -> PodmanCleanup {
        let guard = PodmanCleanup(names.iter().map(|n| n.to_string()).collect());
        guard.remove();
        guard
    }

    fn remove(&self) {
        let _ = Command::new("docker")
            .args(["-H", &podman(), "rm", "-f", "-v"])
            .args(&self.0)
            .env_remove("DOCKER_CONTEXT")
            .output();
    }
}

impl Drop for PodmanCleanup {
    fn drop(&mut self) {
        self.remove();
    }
}

/// Writes `maestro.yaml` with the Podman ship and `services` into `dir`.
fn env_file(dir: &Dir, name: &str, services: &str) -> PathBuf {
    let mut text = head(name, &[("pod", podman_ship())]);
    text.push_str(services);
    dir.write("maestro.yaml", &text)
}

/// `State` of a container on Podman (panics when it does not exist).
fn state(name: &str) -> serde_json::Value {
    inspect(&podman(), name)
        .map(|c| c["State"].clone())
        .unwrap_or_else(|| panic!("{name} does not exist on Podman"))
}

fn is_running(name: &str) -> bool {
    inspect(&podman(), name)
        .and_then(|c| c["State"]["Running"].as_bool())
        .unwrap_or(false)
}

fn assert_running(name: &str, out: &Output) {
    assert!(
        is_running(name),
        "{name} does not run on Podman\n{}",
        out.report()
    );
}

fn assert_not_running(name: &str, out: &Output) {
    let found = state(name);
    assert_eq!(found["Running"], false, "{name}: {found}\n{}", out.report());
}

/// Serves `hello from $CONTAINER_NAME` on port 8080; exits at once on SIGTERM.
const SERVE: &[&str] = &[
    "sh",
    "-c",
    "trap 'exit 0' TERM; mkdir -p /www; echo \"hello from $CONTAINER_NAME\" > /www/index.html; httpd -f -p 8080 -h /www & wait",
];

/// The host address every published port of these tests is bound to: Podman
/// 4.3 (netavark 1.4) forwards nothing for an explicit host IP 0.0.0.0.
fn host_ip() -> &'static str {
    testbed().var("TESTBED_LOCAL_IP")
}

// ------------------------------------------------------------ the plays

#[test]
fn podman_status_start_stop_restart_kill_clean() {
    let names = ["pm-life-1", "pm-life-2"];
    let _cleanup = PodmanCleanup::new(&names);
    let dir = Dir::new();
    let services = service(
        "box",
        IMAGE,
        &["env: {PM_GREETING: hello from podman, PM_COUNT: 3}"],
        &[
            instance(names[0], "pod", IDLE, ""),
            instance(names[1], "pod", IDLE, ""),
        ],
    );
    let file = env_file(&dir, "pm-life", &services);

    // Nothing yet: both down, the ship reachable.
    let out = maestro(&file, &["status"]);
    assert_code(&out, 0);
    for name in names {
        assert_line(&out, name, "down");
        assert!(!out.stdout().contains("host down"), "{}", out.report());
    }

    // start: running, with maestro's environment inside.
    let out = maestro(&file, &["start"]);
    assert_code(&out, 0);
    for name in names {
        assert_running(name, &out);
        let env = env_inside(&podman(), name);
        assert_eq!(
            env.get("PM_GREETING").map(String::as_str),
            Some("hello from podman")
        );
        assert_eq!(env.get("PM_COUNT").map(String::as_str), Some("3"));
        assert_eq!(env.get("CONTAINER_NAME").map(String::as_str), Some(name));
        assert_eq!(
            env.get("BOX_INSTANCES").map(String::as_str),
            Some("pm-life-1,pm-life-2")
        );
        let found = inspect(&podman(), name).expect("the container exists");
        assert_eq!(
            found["Config"]["Labels"]["io.maestro.environment"],
            "pm-life"
        );
    }
    let out = maestro(&file, &["status"]);
    assert_code(&out, 0);
    for name in names {
        assert_line(&out, name, "running");
    }

    // restart: stopped, then started as a new container (as MaestroNG's
    // `start` recreates a stopped one), with the same environment.
    let id = inspect(&podman(), names[0]).expect("exists")["Id"].clone();
    let out = maestro(&file, &["restart", names[0]]);
    assert_code(&out, 0);
    assert_running(names[0], &out);
    let found = inspect(&podman(), names[0]).expect("exists");
    assert_ne!(found["Id"], id, "{}", out.report());
    assert_eq!(
        env_inside(&podman(), names[0])
            .get("PM_GREETING")
            .map(String::as_str),
        Some("hello from podman")
    );

    // stop: down on the engine and in status; exit 0 from the TERM trap.
    let out = maestro(&file, &["stop", names[0]]);
    assert_code(&out, 0);
    assert_not_running(names[0], &out);
    assert_eq!(state(names[0])["ExitCode"], 0);
    assert!(is_running(names[1]), "stop of one left the other running");
    let out = maestro(&file, &["status"]);
    assert_line(&out, names[0], "down");
    assert_line(&out, names[1], "running");

    // kill: SIGKILL, exit status 137.
    let out = maestro(&file, &["kill", names[1]]);
    assert_code(&out, 0);
    assert_not_running(names[1], &out);
    assert_eq!(state(names[1])["ExitCode"], 137);

    // clean: both stopped containers removed.
    let out = maestro(&file, &["clean"]);
    assert_code(&out, 0);
    for name in names {
        assert!(
            inspect(&podman(), name).is_none(),
            "{name} survived clean\n{}",
            out.report()
        );
    }
}

#[test]
fn podman_plan_up_and_a_changed_env_recreates() {
    let names = ["pm-conv-1"];
    let _cleanup = PodmanCleanup::new(&names);
    let dir = Dir::new();
    let write = |color: &str| {
        let services = service(
            "app",
            IMAGE,
            &[&format!("env: {{COLOR: {color}}}")],
            &[instance(names[0], "pod", IDLE, "")],
        );
        env_file(&dir, "pm-conv", &services)
    };
    let file = write("blue");
    let out = maestro(&file, &["plan"]);
    assert_code(&out, 3);
    assert_line(&out, names[0], "create");

    let out = maestro(&file, &["up"]);
    assert_code(&out, 0);
    assert_running(names[0], &out);
    let first = inspect(&podman(), names[0]).expect("exists")["Id"].clone();

    // Converged: nothing to do, whatever Podman adds to the container.
    let out = maestro(&file, &["plan"]);
    assert_code(&out, 0);
    assert_line(&out, names[0], "none");

    let file = write("green");
    let out = maestro(&file, &["plan"]);
    assert_code(&out, 3);
    assert_line(&out, names[0], "recreate (env COLOR changed)");
    let out = maestro(&file, &["up"]);
    assert_code(&out, 0);
    let found = inspect(&podman(), names[0]).expect("exists");
    assert_ne!(found["Id"], first, "up recreated the container");
    assert_eq!(
        env_inside(&podman(), names[0])
            .get("COLOR")
            .map(String::as_str),
        Some("green")
    );
    let out = maestro(&file, &["plan"]);
    assert_code(&out, 0);
}

#[test]
fn podman_logs() {
    let name = "pm-logs-1";
    let _cleanup = PodmanCleanup::new(&[name]);
    let dir = Dir::new();
    let command = [
        "sh",
        "-c",
        "for i in 1 2 3; do echo out-line-$i; echo err-line-$i >&2; done; trap 'exit 0' TERM; sleep 3600 & wait",
    ];
    let services = service("talk", IMAGE, &[], &[instance(name, "pod", &command, "")]);
    let file = env_file(&dir, "pm-logs", &services);
    let out = maestro(&file, &["start"]);
    assert_code(&out, 0);
    // The lines are written at once; wait until the engine has them.
    let mut seen = String::new();
    for _ in 0..50 {
        seen = docker(&podman(), &["logs", name]);
        if seen.contains("out-line-3") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert!(seen.contains("out-line-3"), "the engine's logs: {seen:?}");
    let out = maestro(&file, &["logs", name]);
    assert_code(&out, 0);
    let all = format!("{}{}", out.stdout(), out.stderr());
    for i in 1..=3 {
        assert!(all.contains(&format!("out-line-{i}")), "{}", out.report());
        assert!(all.contains(&format!("err-line-{i}")), "{}", out.report());
    }
    // Every line whole, in order, stdout's lines on stdout.
    let stdout = out.stdout();
    let outs: Vec<&str> = stdout.lines().filter(|l| l.contains("out-line-")).collect();
    assert_eq!(
        outs,
        ["out-line-1", "out-line-2", "out-line-3"],
        "{}",
        out.report()
    );
}

#[test]
fn podman_lifecycle_checks_and_published_ports() {
    let names = ["pm-ck-web", "pm-ck-exec"];
    let _cleanup = PodmanCleanup::new(&names);
    let dir = Dir::new();
    let port = free_port();
    let web = service(
        "web",
        IMAGE,
        &[
            &format!(
                "ports: {{web: {{exposed: 8080, external: [{}, {port}]}}}}",
                host_ip()
            ),
            r#"lifecycle: {running: [{type: tcp, port: web, max_wait: 30}, {type: http, port: web, path: /index.html, match_regex: "^hello from pm-ck-web", max_wait: 30}]}"#,
        ],
        &[instance(names[0], "pod", SERVE, "")],
    );
    // rexec runs inside the container, exec on this machine with the
    // container's environment.
    let inside = argv(&["test", "-f", "/tmp/ready"]);
    let here = argv(&["sh", "-c", "test -n \"$WEB_PM_CK_WEB_WEB_PORT\""]);
    let exec = service(
        "worker",
        IMAGE,
        &[
            "requires: [web]",
            &format!(
                "lifecycle: {{running: [{{type: rexec, command: {inside}, attempts: 30}}, {{type: exec, command: {here}, attempts: 5}}]}}"
            ),
        ],
        &[instance(
            names[1],
            "pod",
            &["sh", "-c", "sleep 1; touch /tmp/ready; trap 'exit 0' TERM; sleep 3600 & wait"],
            "",
        )],
    );
    let file = env_file(&dir, "pm-ck", &format!("{web}{exec}"));
    let out = maestro(&file, &["start"]);
    assert_code(&out, 0);
    assert_line(&out, names[0], "started");
    assert_line(&out, names[1], "started");

    // The port is published by Podman and serves the page from this machine.
    let found = inspect(&podman(), names[0]).expect("exists");
    assert_eq!(
        found["HostConfig"]["PortBindings"]["8080/tcp"][0]["HostPort"],
        port.to_string()
    );
    let page = http_get(host_ip(), port, "/index.html", 10);
    assert!(page.contains("hello from pm-ck-web"), "{page:?}");
    // The rexec check saw the file made inside the container.
    let ready = docker(&podman(), &["exec", names[1], "ls", "/tmp/ready"]);
    assert_eq!(ready.trim(), "/tmp/ready");
}

#[test]
fn podman_ports_on_all_addresses_are_held_but_not_forwarded() {
    // Docker forwards `ports: {web: "8080:PORT"}` (host IP 0.0.0.0). Debian's
    // Podman 4.3 records the binding and conmon holds the port open (a TCP
    // connect succeeds, so a `tcp` check passes), but netavark 1.4 writes its
    // DNAT rule for destination 0.0.0.0/32 only, which no packet has: nothing
    // from the container ever answers.
    let name = "pm-ports-1";
    let _cleanup = PodmanCleanup::new(&[name]);
    let dir = Dir::new();
    let port = free_port();
    let services = service(
        "web",
        IMAGE,
        &[
            &format!("ports: {{web: \"8080:{port}\"}}"),
            "lifecycle: {running: [{type: tcp, port: web, max_wait: 10}]}",
        ],
        &[instance(name, "pod", SERVE, "")],
    );
    let file = env_file(&dir, "pm-ports", &services);
    let out = maestro(&file, &["start"]);
    assert_code(&out, 0);
    let found = inspect(&podman(), name).expect("exists");
    let binding = &found["HostConfig"]["PortBindings"]["8080/tcp"][0];
    assert_eq!(binding["HostIp"], "0.0.0.0", "{found:#}");
    assert_eq!(binding["HostPort"], port.to_string(), "{found:#}");
    // The server runs (its page is served at the container's own address)...
    let address = found["NetworkSettings"]["IPAddress"]
        .as_str()
        .filter(|a| !a.is_empty())
        .unwrap_or_else(|| panic!("no IPAddress: {found:#}"))
        .to_owned();
    let direct = http_get(&address, 8080, "/index.html", 10);
    assert!(direct.contains("hello from pm-ports-1"), "{direct:?}");
    // ...but through the published port nothing of it comes back.
    let page = http_get(host_ip(), port, "/index.html", 3);
    assert!(
        !page.contains("hello from"),
        "port {port} on 0.0.0.0 is forwarded on Podman now: docs/podman.md should say so"
    );
}

#[test]
fn podman_healthy_check_waits_for_a_health_status_podman_never_sets() {
    // The `healthy` check waits for State.Health.Status `healthy`; Podman runs
    // health checks from systemd timers, and without systemd (the test bed, most
    // containers) the status stays `starting`: the check fails at its limit.
    let name = "pm-health-1";
    let tag = "maestro-test/pm-health:1";
    let _cleanup = PodmanCleanup::new(&[name]);
    let _image = PodmanImage::new(tag);
    build_image(
        &podman(),
        tag,
        &format!("FROM {IMAGE}\nHEALTHCHECK --interval=1s --retries=1 CMD true\n"),
    );
    let dir = Dir::new();
    let services = service(
        "hc",
        tag,
        &["lifecycle: {running: [{type: healthy, max_wait: 3}]}"],
        &[instance(name, "pod", IDLE, "")],
    );
    let file = env_file(&dir, "pm-health", &services);
    let out = maestro(&file, &["start"]);
    let found = inspect(&podman(), name).expect("exists");
    assert_eq!(
        found["State"]["Health"]["Status"],
        "starting",
        "{found:#}\n{}",
        out.report()
    );
    assert_code(&out, 1);
    assert!(line_of(&out, name).contains("failed"), "{}", out.report());
}

#[test]
fn podman_pull_from_the_registry_with_credentials() {
    let bed = testbed();
    let address = bed.var("TESTBED_REGISTRY");
    let port = address.rsplit(':').next().expect("host:port");
    let name = "pm-pull-1";
    let _cleanup = PodmanCleanup::new(&[name]);
    let registries = |host: &str| {
        format!(
            "registries:\n  testbed:\n    registry: http://{host}\n    username: {}\n    password: \"{}\"\n",
            bed.var("TESTBED_REGISTRY_USER"),
            bed.var("TESTBED_REGISTRY_PASSWORD")
        )
    };
    let dir = Dir::new();
    let write = |host: &str| {
        let image = format!("{host}/maestro-test/box:1");
        let mut text = format!(
            "{}{}",
            registries(host),
            head("pm-pull", &[("pod", podman_ship())])
        );
        text.push_str(&service(
            "pulled",
            &image,
            &[],
            &[instance(name, "pod", IDLE, "")],
        ));
        (dir.write("maestro.yaml", &text), image)
    };

    // Podman's login (POST /auth) speaks HTTPS to every registry but
    // `localhost`: the registry at 127.0.0.1 is refused, with Podman's reason.
    let (file, image) = write(address);
    let _image = PodmanImage::new(&image);
    let out = maestro(&file, &["pull"]);
    assert_code(&out, 1);
    assert!(
        out.stdout().contains("could not log in to registry")
            && out
                .stdout()
                .contains("server gave HTTP response to HTTPS client"),
        "{}",
        out.report()
    );

    // The same registry as localhost: logged in, pulled, started.
    let (file, image) = write(&format!("localhost:{port}"));
    let _image = PodmanImage::new(&image);
    let out = maestro(&file, &["pull"]);
    assert_code(&out, 0);
    assert!(out.stdout().contains("pulled"), "{}", out.report());
    let id = docker(&podman(), &["image", "inspect", "-f", "{{.Id}}", &image]);
    assert!(!id.trim().is_empty());
    let out = maestro(&file, &["start"]);
    assert_code(&out, 0);
    assert_running(name, &out);
    let found = inspect(&podman(), name).expect("exists");
    assert_eq!(found["Config"]["Image"], image, "{found:#}");
}

/// An image removed from Podman when made and when dropped.
struct PodmanImage(String);

impl PodmanImage {
    fn new(reference: &str) -> PodmanImage {
        let image = PodmanImage(reference.to_owned());
        image.remove();
        image
    }

    fn remove(&self) {
        let _ = Command::new("docker")
            .args(["-H", &podman(), "rmi", "-f", &self.0])
            .env_remove("DOCKER_CONTEXT")
            .output();
    }
}

impl Drop for PodmanImage {
    fn drop(&mut self) {
        self.remove();
    }
}

/// `GET path` on `ip:port`; the whole answer (headers and body), or what
/// came within `secs` seconds of silence.
fn http_get(ip: &str, port: u16, path: &str, secs: u64) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect((ip, port))
        .unwrap_or_else(|e| panic!("cannot connect to {ip}:{port}: {e}"));
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(secs)))
        .expect("a read timeout");
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {ip}\r\n\r\n").expect("the request is sent");
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer
}
