//! Faults of the engine, end to end (issue 9; the table is RELIABILITY.md):
//! maestro drives the local engine through a [`FaultProxy`] (ship `{ip:
//! 127.0.0.1, docker_port: PROXY, timeout: 2}`) that, on cue, answers 500 (or
//! 404, 409), returns malformed JSON or well-formed JSON of the wrong shape,
//! cuts a stream, stalls it, answers late, acts late or refuses connections: on
//! create, start, inspect, pull, logs, stop, kill, remove, exec, `/version`,
//! the container list; during `start`, `restart` (also rolling), `up` (also
//! `--remove-orphans`), `plan`, `clean`, `status`, `logs [-F]`, `pull`. Also
//! two ships failing together, a ship failing in the middle of a dependency
//! chain across ships (one of them ship2's TCP engine), faults under TLS (ship3)
//! and SSH tunnels (ship2) through the proxy's TCP-level mode, and a soak of
//! random faults. After each fault: exit status 1 with one readable `ERROR:`
//! line naming the ship or the container, no panic, a run that ends within its
//! bound (the command's own time limit: a run still going then is killed and
//! fails the test; no test compares a measured duration); `maestro
//! status` (without faults) agrees with the engine; a bystander container outside
//! the play is untouched; re-running the command without the fault converges.
//! Also hostile input files (100 MB, alias bomb, deep nesting, template bombs,
//! binary junk) refused within 2 s (the command's time limit) and 200 MiB
//! (measured with GNU time).
//!
//! Tests marked `#[ignore = "bug: …"]` assert the right behaviour where maestro
//! does not have it yet (RELIABILITY.md, findings).
//!
//! Tests named `…_says_it_was_cut…`/`…_prints_what_came…` assert the right
//! behaviour the suite found missing; they now pass.
//!
//! Every container is named `ft-…` and removed by a [`Cleanup`] guard made first;
//! each test has its own bystander (`ft-bystander-TAG`), as tests run in parallel.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use maestro_testkit::{unversioned, Backend, Fault, FaultProxy, Rule};

use crate::engine_support::{events_without_exec, last_event, now_nanos, secs};
use crate::testbed::{docker, inspect, testbed, use_ships, Cleanup, ShipLock};
use crate::util::{workspace_root, Dir, Output, TestCommand};

const IMAGE: &str = "maestro-test/box:1";

/// Idles; exits at once on SIGTERM.
const IDLE: &str = r#"["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"]"#;

/// Writes 3,000 numbered lines (about 30 kB), then idles.
const CHATTY: &str = r#"["sh", "-c", "i=0; while [ $i -lt 3000 ]; do i=$((i+1)); echo line-$i-of-the-chatty-box; done; trap 'exit 0' TERM; sleep 3600 & wait"]"#;

/// [`CHATTY`] with 20,000 lines.
const CHATTIER: &str = r#"["sh", "-c", "i=0; while [ $i -lt 20000 ]; do i=$((i+1)); echo line-$i-of-the-chatty-box; done; trap 'exit 0' TERM; sleep 3600 & wait"]"#;

/// How long any faulted command may take, with a 2 s ship timeout (generous).
const BOUND: Duration = Duration::from_secs(40);

fn local_host() -> String {
    testbed().local_host()
}

/// A ship of a test: a fault proxy in front of an engine, the ship's mapping in
/// the environment file, and the engine's address for the `docker` CLI.
struct ShipSetup {
    proxy: FaultProxy,
    yaml: String,
    host: String,
    /// Held while the ship is one of the test bed's other engines (ship2, ship3).
    lock: Option<ShipLock>,
}

impl ShipSetup {
    /// The local engine, through an HTTP fault proxy.
    fn local() -> ShipSetup {
        let proxy = FaultProxy::start(Backend::Unix(testbed().var("TESTBED_LOCAL_SOCKET").into()))
            .expect("the fault proxy starts");
        ShipSetup {
            yaml: format!(
                "{{ip: 127.0.0.1, docker_port: {}, timeout: 2}}",
                proxy.port()
            ),
            proxy,
            host: local_host(),
            lock: None,
        }
    }

    /// ship2's engine over plain TCP (10.77.0.2:2375), through an HTTP fault proxy.
    fn ship2_tcp() -> ShipSetup {
        let lock = use_ships();
        let bed = testbed();
        let engine = format!(
            "{}:{}",
            bed.var("TESTBED_SHIP2_IP"),
            bed.var("TESTBED_SHIP2_PORT")
        );
        let proxy = FaultProxy::start(Backend::Tcp(engine.parse().expect("ship2's address")))
            .expect("the fault proxy starts");
        ShipSetup {
            yaml: format!(
                "{{ip: 127.0.0.1, docker_port: {}, timeout: 2}}",
                proxy.port()
            ),
            proxy,
            host: bed.ship2_host(),
            lock: Some(lock),
        }
    }

    /// ship3's TLS engine (client certificate, verified against the test CA, whose
    /// certificate names 127.0.0.1 too), through a TCP-level fault proxy.
    fn ship3_tls() -> ShipSetup {
        let lock = use_ships();
        let bed = testbed();
        let engine = format!(
            "{}:{}",
            bed.var("TESTBED_SHIP3_IP"),
            bed.var("TESTBED_SHIP3_TLS_PORT")
        );
        let proxy = FaultProxy::start_raw(Backend::Tcp(engine.parse().expect("ship3's address")))
            .expect("the raw fault proxy starts");
        ShipSetup {
            yaml: format!(
                "{{ip: 127.0.0.1, docker_port: {}, timeout: 2, tls: true, tls_verify: true, tls_ca_cert: {}, tls_cert: {}, tls_key: {}}}",
                proxy.port(),
                bed.var("TESTBED_TLS_CA"),
                bed.var("TESTBED_TLS_CERT"),
                bed.var("TESTBED_TLS_KEY")
            ),
            proxy,
            host: bed.ship3_host(),
            lock: Some(lock),
        }
    }

    /// ship2's engine through an SSH tunnel, with a TCP-level fault proxy in front
    /// of its SSH server: the tunnel's one connection goes through the proxy, and
    /// the SSH server forwards to `127.0.0.1:2375` inside ship2.
    fn ship2_ssh() -> ShipSetup {
        let lock = use_ships();
        let bed = testbed();
        let sshd = format!(
            "{}:{}",
            bed.var("TESTBED_SSH_HOST"),
            bed.var("TESTBED_SSH_PORT")
        );
        let proxy = FaultProxy::start_raw(Backend::Tcp(sshd.parse().expect("sshd's address")))
            .expect("the raw fault proxy starts");
        ShipSetup {
            yaml: format!(
                "{{ip: 127.0.0.1, docker_port: {}, timeout: 2, ssh_tunnel: {{user: {}, key: {}, port: {}}}}}",
                bed.var("TESTBED_SHIP2_PORT"),
                bed.var("TESTBED_SSH_USER"),
                bed.var("TESTBED_SSH_KEY"),
                proxy.port()
            ),
            proxy,
            host: bed.ship2_host(),
            lock: Some(lock),
        }
    }
}

/// One fault scenario: a proxy in front of an engine (the local one unless
/// told), an environment of `instances` (name, extra instance keys) in service
/// `app` on the proxied ship, a bystander container on the same engine, and the
/// guard that removes them all.
struct Case {
    tag: String,
    names: Vec<String>,
    bystander: String,
    before: Snapshot,
    proxy: FaultProxy,
    /// The engine behind ship `dock`, for the `docker` CLI.
    host: String,
    /// The proxy of ship `dock2`, where service `b` goes, when there are two ships.
    proxy2: Option<FaultProxy>,
    /// The engine behind ship `dock2`.
    host2: String,
    file: PathBuf,
    _dir: Dir,
    _cleanup: Cleanup,
    _locks: Vec<ShipLock>,
}

/// What must not change about the bystander.
#[derive(Debug, PartialEq)]
struct Snapshot {
    id: String,
    running: bool,
    started_at: String,
    restarts: u64,
}

fn snapshot(host: &str, name: &str) -> Snapshot {
    let c = inspect(host, name).unwrap_or_else(|| panic!("{name} does not exist"));
    Snapshot {
        id: c["Id"].as_str().unwrap_or_default().to_owned(),
        running: c["State"]["Running"].as_bool().unwrap_or(false),
        started_at: c["State"]["StartedAt"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        restarts: c["RestartCount"].as_u64().unwrap_or(0),
    }
}

impl Case {
    /// `count` instances `ft-TAG-1…` running `command`; `extra` is YAML put in
    /// the service (e.g. `requires` or `lifecycle`), none when empty.
    fn new(tag: &str, count: usize, command: &str) -> Case {
        Case::with_services(tag, &[("app", count, command, "")])
    }

    /// Several services: (service, instances, command, extra service keys).
    fn with_services(tag: &str, services: &[(&str, usize, &str, &str)]) -> Case {
        Case::build(tag, IMAGE, "", services, ShipSetup::local(), None)
    }

    /// Services on two ships, each behind its own proxy in front of the local
    /// engine: service `b` on `dock2`, the others on `dock`.
    fn two_ships(tag: &str, services: &[(&str, usize, &str, &str)]) -> Case {
        Case::build(
            tag,
            IMAGE,
            "",
            services,
            ShipSetup::local(),
            Some(ShipSetup::local()),
        )
    }

    /// Services on ships set up as told: service `b` on `dock2` (when given),
    /// the others on `dock`.
    fn on_ships(
        tag: &str,
        services: &[(&str, usize, &str, &str)],
        dock: ShipSetup,
        dock2: Option<ShipSetup>,
    ) -> Case {
        Case::build(tag, IMAGE, "", services, dock, dock2)
    }

    /// One instance of the test image as pushed to the test bed's registry (with
    /// its login), so that a pull really pulls.
    fn from_registry(tag: &str) -> Case {
        let bed = testbed();
        let registry = format!(
            "registries:\n  bed:\n    registry: http://{}\n    username: {}\n    password: {}\n",
            bed.var("TESTBED_REGISTRY"),
            bed.var("TESTBED_REGISTRY_USER"),
            bed.var("TESTBED_REGISTRY_PASSWORD")
        );
        Case::build(
            tag,
            bed.var("TESTBED_REGISTRY_IMAGE"),
            &registry,
            &[("app", 1, IDLE, "")],
            ShipSetup::local(),
            None,
        )
    }

    fn build(
        tag: &str,
        image: &str,
        preamble: &str,
        services: &[(&str, usize, &str, &str)],
        dock: ShipSetup,
        dock2: Option<ShipSetup>,
    ) -> Case {
        let second_ship = dock2.is_some();
        let mut names = Vec::new();
        let bystander = format!("ft-bystander-{tag}");
        let mut all: Vec<String> = Vec::new();
        for (service, count, _, _) in services {
            for i in 1..=*count {
                let name = format!("ft-{tag}-{service}-{i}");
                names.push(name.clone());
                all.push(name);
            }
        }
        all.push(bystander.clone());
        let cleanup = Cleanup::new(&all);
        docker(
            &dock.host,
            &[
                "run",
                "-d",
                "--name",
                &bystander,
                IMAGE,
                "sh",
                "-c",
                "trap 'exit 0' TERM; sleep 3600 & wait",
            ],
        );
        let before = snapshot(&dock.host, &bystander);
        let mut text = format!("name: ft-{tag}\n{preamble}ships:\n  dock: {}\n", dock.yaml);
        if let Some(dock2) = &dock2 {
            text.push_str(&format!("  dock2: {}\n", dock2.yaml));
        }
        text.push_str("services:\n");
        for (service, count, command, extra) in services {
            text.push_str(&format!("  {service}:\n    image: {image}\n"));
            for line in extra.lines().filter(|l| !l.trim().is_empty()) {
                text.push_str(&format!("    {line}\n"));
            }
            text.push_str("    instances:\n");
            let ship = if second_ship && *service == "b" {
                "dock2"
            } else {
                "dock"
            };
            for i in 1..=*count {
                text.push_str(&format!(
                    "      ft-{tag}-{service}-{i}: {{ship: {ship}, stop_timeout: 2, command: {command}}}\n"
                ));
            }
        }
        let dir = Dir::new();
        let file = dir.write("maestro.yaml", text);
        let mut locks: Vec<ShipLock> = dock.lock.into_iter().collect();
        let (proxy2, host2) = match dock2 {
            Some(dock2) => {
                locks.extend(dock2.lock);
                (Some(dock2.proxy), dock2.host)
            }
            None => (None, dock.host.clone()),
        };
        Case {
            tag: tag.to_owned(),
            names,
            bystander,
            before,
            proxy: dock.proxy,
            host: dock.host,
            proxy2,
            host2,
            file,
            _dir: dir,
            _cleanup: cleanup,
            _locks: locks,
        }
    }

    /// The `docker` CLI address of the engine that has container `name`.
    fn host_of(&self, name: &str) -> &str {
        if self.proxy2.is_some() && name.starts_with(&format!("ft-{}-b-", self.tag)) {
            &self.host2
        } else {
            &self.host
        }
    }

    /// The container as its engine has it, `None` when it does not exist.
    fn inspect(&self, name: &str) -> Option<serde_json::Value> {
        inspect(self.host_of(name), name)
    }

    /// The second ship's proxy.
    fn proxy2(&self) -> &FaultProxy {
        self.proxy2.as_ref().expect("a case with two ships")
    }

    fn cue(&self, rule: Rule) {
        self.proxy.cues().set(rule);
    }

    /// Runs maestro on the environment (given two minutes); returns its
    /// output and run time (for messages).
    fn maestro(&self, args: &[&str]) -> (Output, Duration) {
        self.maestro_on(&self.file, args)
    }

    /// [`Case::maestro`] given `limit`: a run still going then is killed and
    /// fails the test.
    fn maestro_within(&self, limit: Duration, args: &[&str]) -> (Output, Duration) {
        self.maestro_on_within(&self.file, limit, args)
    }

    /// Runs maestro on another environment file (e.g. the case's, with a
    /// container left out).
    fn maestro_on(&self, file: &Path, args: &[&str]) -> (Output, Duration) {
        self.maestro_on_within(file, Duration::from_secs(120), args)
    }

    /// [`Case::maestro_on`] given `limit`.
    fn maestro_on_within(&self, file: &Path, limit: Duration, args: &[&str]) -> (Output, Duration) {
        let started = Instant::now();
        let mut command = TestCommand::maestro();
        command.env("HOME", crate::testbed::ssh_home());
        let out = command
            .arg("-f")
            .arg(file)
            .args(args)
            .env("NO_COLOR", "1")
            // The faults are cued on the plays' own calls (a create, an
            // inspect), which the deploy lock's calls would take first; the
            // lock has its own tests (tests/lock.rs).
            .env("MAESTRO_NO_LOCK", "1")
            .env_remove("DOCKER_HOST")
            .env_remove("DOCKER_CONTEXT")
            .env_remove("RUST_BACKTRACE")
            .env_remove("SSH_AUTH_SOCK")
            .timeout(limit)
            .run();
        let took = started.elapsed();
        println!(
            "[{}] maestro {args:?} took {took:?}\n{}",
            self.tag,
            out.report()
        );
        (out, took)
    }

    /// Runs `args` with the cued fault active and checks the failure: exit 1,
    /// within [`BOUND`], exactly one `ERROR:` line that names the ship or one of
    /// `about` and says one of `needles`; no panic or backtrace. Returns the error.
    fn fails(&self, args: &[&str], about: &[&str], needles: &[&str]) -> String {
        self.fails_within(BOUND, args, about, needles).0
    }

    /// [`Case::fails`] within `bound`, also returning the output and run time.
    fn fails_within(
        &self,
        bound: Duration,
        args: &[&str],
        about: &[&str],
        needles: &[&str],
    ) -> (String, Output, Duration) {
        self.fails_on(&self.file, bound, args, about, needles)
    }

    /// [`Case::fails_within`] on another environment file.
    fn fails_on(
        &self,
        file: &Path,
        bound: Duration,
        args: &[&str],
        about: &[&str],
        needles: &[&str],
    ) -> (String, Output, Duration) {
        let (error, out, took) = self.fails_plainly(file, bound, args);
        assert!(
            error.contains("ship dock") || about.iter().any(|name| error.contains(name)),
            "the error names neither ship dock nor any of {about:?}\n{}",
            out.report()
        );
        let lower = error.to_lowercase();
        assert!(
            needles.iter().any(|n| lower.contains(&n.to_lowercase())),
            "the error says none of {needles:?}\n{}",
            out.report()
        );
        (error, out, took)
    }

    /// Runs `args` on `file` with the cued fault active and checks: exit 1,
    /// within `bound`, the fault fired, no panic or backtrace, exactly one
    /// `ERROR:` line (returned, whatever it says).
    fn fails_plainly(
        &self,
        file: &Path,
        bound: Duration,
        args: &[&str],
    ) -> (String, Output, Duration) {
        let (out, took) = self.maestro_on_within(file, bound, args);
        let stderr = out.stderr();
        assert!(
            !stderr.contains("panicked") && !stderr.contains("stack backtrace"),
            "maestro panicked\n{}",
            out.report()
        );
        assert_eq!(
            out.code(),
            Some(1),
            "expected exit status 1\n{}",
            out.report()
        );
        assert!(
            self.fired() > 0,
            "the cued fault never fired: {:?}\n{}",
            self.proxy.cues().log(),
            out.report()
        );
        let errors: Vec<&str> = stderr
            .lines()
            .filter(|l| l.starts_with("ERROR: "))
            .collect();
        assert_eq!(
            errors.len(),
            1,
            "expected one `ERROR:` line\n{}",
            out.report()
        );
        (errors[0].to_owned(), out, took)
    }

    /// Without faults: `maestro status` agrees with the engine about each
    /// container, the bystander is unchanged, and re-running `args` converges
    /// (exit 0; with `start`, every container runs).
    fn recovers(&self, args: &[&str]) {
        self.proxy.cues().clear();
        if let Some(proxy2) = &self.proxy2 {
            proxy2.cues().clear();
        }
        self.status_agrees();
        assert_eq!(
            snapshot(&self.host, &self.bystander),
            self.before,
            "the bystander {} was touched",
            self.bystander
        );
        let (out, _) = self.maestro_within(BOUND, args);
        out.assert_success();
        if matches!(args[0], "start" | "restart" | "up") {
            for name in &self.names {
                assert!(self.running(name), "{name} does not run after the re-run");
            }
            self.status_agrees();
        }
        assert_eq!(
            snapshot(&self.host, &self.bystander),
            self.before,
            "the bystander {} was touched",
            self.bystander
        );
    }

    fn running(&self, name: &str) -> bool {
        self.inspect(name)
            .and_then(|c| c["State"]["Running"].as_bool())
            .unwrap_or(false)
    }

    /// `maestro status` says, for each container, what the engine says.
    fn status_agrees(&self) {
        let (out, _) = self.maestro(&["status"]);
        assert!(!out.stderr().contains("panicked"), "{}", out.report());
        for name in &self.names {
            let needle = format!(" {name} ");
            let line = out
                .stdout()
                .lines()
                .find(|l| l.contains(&needle))
                .map(str::to_owned)
                .unwrap_or_else(|| panic!("status has no line for {name}\n{}", out.report()));
            match self.inspect(name) {
                None => assert!(
                    line.ends_with(" down") || line.contains("  down"),
                    "{name} does not exist but status says {line:?}"
                ),
                Some(c) if c["State"]["Running"].as_bool() == Some(true) => assert!(
                    line.contains("running"),
                    "{name} runs but status says {line:?}"
                ),
                // Created, never started: no exit status of its own.
                Some(c) if c["State"]["Status"] == "created" => assert!(
                    line.contains("down (created, never started)"),
                    "{name} was never started but status says {line:?}"
                ),
                Some(c) => {
                    let code = c["State"]["ExitCode"].as_i64().unwrap_or(-1);
                    assert!(
                        line.contains(&format!("exit status {code}")),
                        "{name} is stopped (exit {code}) but status says {line:?}"
                    );
                }
            }
        }
    }
}

/// Why a cued 500 says it failed, so the message can be looked for.
const CUED: &str = "cued engine failure (ft)";

fn server_error() -> Fault {
    Fault::ServerError(CUED.into())
}

// ---------------------------------------------------------------- engine 500

#[test]
fn engine_500_on_create_fails_the_start_and_recovers() {
    let case = Case::new("c500", 2, IDLE);
    case.cue(
        Rule::new(server_error())
            .method("POST")
            .path("/containers/create"),
    );
    case.fails(&["start"], &about(&case), &[CUED]);
    for name in &case.names {
        assert!(inspect(&local_host(), name).is_none(), "{name} was created");
    }
    case.recovers(&["start"]);
}

#[test]
fn engine_500_on_start_fails_the_start_and_recovers() {
    let case = Case::new("s500", 2, IDLE);
    case.cue(
        Rule::new(server_error())
            .method("POST")
            .path("/containers/*/start"),
    );
    case.fails(&["start"], &about(&case), &[CUED]);
    for name in &case.names {
        assert!(!case.running(name), "{name} runs although its start failed");
    }
    case.recovers(&["start"]);
}

#[test]
fn engine_500_on_inspect_fails_the_start_and_recovers() {
    let case = Case::new("i500", 2, IDLE);
    case.cue(
        Rule::new(server_error())
            .method("GET")
            .path("/containers/*/json"),
    );
    case.fails(&["start"], &about(&case), &[CUED]);
    // The containers are read off the ship's list; what failed is the
    // inspect after each start: both were created.
    for name in &case.names {
        assert!(case.inspect(name).is_some(), "{name} was not created");
    }
    case.recovers(&["start"]);
}

#[test]
fn engine_500_on_image_pull_fails_the_pull_and_recovers() {
    let case = Case::new("p500", 1, IDLE);
    case.cue(
        Rule::new(server_error())
            .method("POST")
            .path("/images/create"),
    );
    case.fails(&["pull"], &about(&case), &[CUED]);
    // The image is only on the local engine: a real pull would go to Docker Hub,
    // so recovery is checked with `start` (the image is there).
    case.recovers(&["start"]);
}

#[test]
fn engine_500_on_logs_fails_logs_and_recovers() {
    let case = Case::new("l500", 1, CHATTY);
    case.maestro(&["start"]).0.assert_success();
    case.cue(
        Rule::new(server_error())
            .method("GET")
            .path("/containers/*/logs"),
    );
    let name = case.names[0].clone();
    case.fails(&["logs", &name], &[&name], &[CUED]);
    case.recovers(&["logs", &name]);
}

// ------------------------------------------------------------ malformed JSON

#[test]
fn malformed_inspect_fails_the_start_and_recovers() {
    let case = Case::new("imal", 2, IDLE);
    // The containers exist (stopped), so inspect answers 200 with a body to cut.
    case.maestro(&["start"]).0.assert_success();
    case.maestro(&["stop", "-a"]).0.assert_success();
    case.cue(
        Rule::new(Fault::Malformed)
            .method("GET")
            .path("/containers/*/json"),
    );
    case.fails(
        &["start"],
        &about(&case),
        &["json", "invalid", "malformed", "parse", "decode", "eof"],
    );
    case.recovers(&["start"]);
}

#[test]
fn malformed_create_answer_fails_the_start_and_recovers() {
    let case = Case::new("cmal", 1, IDLE);
    case.cue(
        Rule::new(Fault::Malformed)
            .method("POST")
            .path("/containers/create"),
    );
    case.fails(
        &["start"],
        &about(&case),
        &["json", "invalid", "malformed", "parse", "decode", "eof"],
    );
    case.recovers(&["start"]);
}

// --------------------------------------------------------------- stream cut

/// A container with 3,000 lines of logs, written, and the cue that cuts its log
/// stream after 4,000 bytes.
fn cut_logs_case(tag: &str) -> (Case, String) {
    let case = Case::new(tag, 1, CHATTY);
    case.maestro(&["start"]).0.assert_success();
    let name = case.names[0].clone();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !docker(&local_host(), &["logs", &name]).contains("line-3000-") {
        assert!(
            Instant::now() < deadline,
            "{name} never wrote its 3,000 lines"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    case.cue(
        Rule::new(Fault::CutStream { after_bytes: 4000 })
            .method("GET")
            .path("/containers/*/logs"),
    );
    (case, name)
}

#[test]
fn logs_stream_cut_midway_fails_and_recovers() {
    let (case, name) = cut_logs_case("lcut");
    case.fails(
        &["logs", &name],
        &[&name],
        &[
            "cut",
            "closed",
            "incomplete",
            "connection",
            "eof",
            "stream",
            "body",
        ],
    );
    case.recovers(&["logs", &name]);
    let (out, _) = case.maestro(&["logs", &name]);
    assert!(out.stdout().contains("line-3000-of"), "{}", out.report());
}

/// What a cut log stream should look like: the lines received before the cut are
/// printed, and the error says the stream broke off, not that the engine cannot be
/// reached (it was: the first 4,000 bytes came from it).
#[test]
fn logs_stream_cut_midway_prints_what_came_and_says_it_was_cut() {
    let (case, name) = cut_logs_case("lcut2");
    let error = case.fails(
        &["logs", &name],
        &[&name],
        &[
            "cut",
            "closed",
            "incomplete",
            "ended",
            "broke",
            "interrupted",
        ],
    );
    assert!(
        !error.contains("cannot reach"),
        "a stream cut midway is reported as an unreachable engine: {error}"
    );
    // The cue still holds: look at what the same command printed.
    let (out, _) = case.maestro(&["logs", &name]);
    assert!(
        out.stdout().contains("line-1-of-the-chatty-box"),
        "the lines received before the cut were not printed\n{}",
        out.report()
    );
}

// ------------------------------------------------------ slow, refusing engine

#[test]
fn engine_slower_than_the_ship_timeout_on_start() {
    let case = Case::new("slow", 1, IDLE);
    let delay = Duration::from_secs(8);
    case.cue(
        Rule::new(Fault::Delay(delay))
            .method("POST")
            .path("/containers/*/start"),
    );
    let started = Instant::now();
    case.fails(
        &["start"],
        &about(&case),
        &["within 2 s", "timed out", "timeout"],
    );
    // The late start still reaches the engine; let it land before comparing.
    let settle = delay + Duration::from_secs(2);
    if let Some(left) = settle.checked_sub(started.elapsed()) {
        std::thread::sleep(left);
    }
    case.recovers(&["start"]);
}

#[test]
fn refused_connections_mid_play() {
    // `back` requires `front`: once `front` is up, maestro creates `back`, and from
    // that request on the ship refuses every connection.
    let case = Case::with_services(
        "refuse",
        &[
            ("front", 1, IDLE, ""),
            ("back", 1, IDLE, "requires: [front]"),
        ],
    );
    case.cue(
        Rule::new(Fault::Refuse)
            .method("POST")
            .path("/containers/create")
            .after(1)
            .sticky(),
    );
    let error = case.fails(
        &["start"],
        &["ft-refuse-back-1"],
        &["refused", "closed", "connection", "reset", "cannot reach"],
    );
    assert!(
        !error.contains("ft-refuse-front-1"),
        "the error blames the container that started: {error}"
    );
    assert!(case.running("ft-refuse-front-1"), "front did not start");
    assert!(
        inspect(&local_host(), "ft-refuse-back-1").is_none(),
        "back was created through a refused connection"
    );
    case.recovers(&["start"]);
}

/// The requests the proxy saw for `name` (its path segment), in order, as
/// `METHOD path`.
fn requests_about(case: &Case, name: &str) -> Vec<(usize, String)> {
    case.proxy
        .cues()
        .log()
        .iter()
        .enumerate()
        .filter(|(_, seen)| {
            seen.target.contains(&format!("/{name}/")) || seen.target.contains(&format!("={name}"))
        })
        .map(|(at, seen)| (at, format!("{} {}", seen.method, unversioned(&seen.target))))
        .collect()
}

/// `app` requires `base`, whose `running` check passes on its second attempt
/// (a second later): the play looks at every container once, in one list
/// before anything is done, and app is created only once base is done with.
#[test]
fn a_dependent_is_seen_before_the_play_acts_and_acts_after_its_dependency() {
    let case = Case::with_services(
        "ahead",
        &[
            (
                "base",
                1,
                IDLE,
                "lifecycle: {running: [{type: rexec, command: \"sh -c 'test -e /tmp/seen || { touch /tmp/seen; exit 1; }'\", attempts: 5}]}",
            ),
            ("app", 1, IDLE, "requires: [base]"),
        ],
    );
    case.maestro(&["start"]).0.assert_success();
    assert!(case.running("ft-ahead-base-1") && case.running("ft-ahead-app-1"));
    let base = requests_about(&case, "ft-ahead-base-1");
    let app = requests_about(&case, "ft-ahead-app-1");
    let first = |list: &[(usize, String)], what: &str| {
        list.iter()
            .find(|(_, r)| r.starts_with(what))
            .map(|(at, _)| *at)
            .unwrap_or_else(|| panic!("no {what:?} in {list:#?}"))
    };
    let last = |list: &[(usize, String)], what: &str| {
        list.iter()
            .rev()
            .find(|(_, r)| r.starts_with(what))
            .map(|(at, _)| *at)
            .unwrap_or_else(|| panic!("no {what:?} in {list:#?}"))
    };
    let base_execs = base
        .iter()
        .filter(|(_, r)| r.starts_with("POST /containers/ft-ahead-base-1/exec"))
        .count();
    assert!(base_execs >= 2, "the check passed at once: {base:#?}");
    let list = case
        .proxy
        .cues()
        .log()
        .iter()
        .position(|seen| {
            seen.method == "GET" && unversioned(&seen.target).starts_with("/containers/json")
        })
        .expect("the play lists the ship's containers");
    let base_started = first(&base, "POST /containers/ft-ahead-base-1/start");
    let base_last_exec = last(&base, "POST /containers/ft-ahead-base-1/exec");
    assert!(
        list < base_started,
        "the containers were not listed before the play acted:\nbase {base:#?}\napp {app:#?}"
    );
    let app_create = first(&app, "POST /containers/create");
    assert!(
        !app.iter()
            .any(|(at, r)| *at < app_create && r.starts_with("GET /containers/ft-ahead-app-1/json")),
        "app was inspected one by one instead of read off the list: {app:#?}"
    );
    assert!(
        base_last_exec < app_create,
        "app was created before base passed its check:\nbase {base:#?}\napp {app:#?}"
    );
}

/// `app` requires `base`, whose `running` check never passes: app, seen in
/// the ship's list before the play acted, is aborted untouched (never created).
#[test]
fn a_dependent_is_left_untouched_when_its_dependency_fails() {
    let case = Case::with_services(
        "ahfail",
        &[
            (
                "base",
                1,
                IDLE,
                "lifecycle: {running: [{type: rexec, command: \"false\", attempts: 2}]}",
            ),
            ("app", 1, IDLE, "requires: [base]"),
        ],
    );
    let (out, _) = case.maestro(&["start"]);
    assert_eq!(out.code(), Some(1), "{}", out.report());
    let line = out
        .stdout()
        .lines()
        .find(|l| l.contains(" ft-ahfail-app-1 "))
        .map(str::to_owned)
        .unwrap_or_else(|| panic!("no line for app\n{}", out.report()));
    assert!(
        line.contains("aborted (untouched)"),
        "{line:?}\n{}",
        out.report()
    );
    let app = requests_about(&case, "ft-ahfail-app-1");
    assert!(
        app.iter().all(|(_, r)| r.starts_with("GET ")),
        "app was acted on: {app:#?}"
    );
    assert!(inspect(&local_host(), "ft-ahfail-app-1").is_none());
    // base failed its running check: kept, stopped.
    let base = case.inspect("ft-ahfail-base-1").expect("base is kept");
    assert_eq!(base["State"]["Running"], false, "{}", base["State"]);
    case.recovers(&["status"]);
}

#[test]
fn engine_500_on_stop_fails_the_stop_and_recovers() {
    let case = Case::new("t500", 2, IDLE);
    case.maestro(&["start"]).0.assert_success();
    case.cue(
        Rule::new(server_error())
            .method("POST")
            .path("/containers/*/stop"),
    );
    case.fails(&["stop", "-a"], &about(&case), &[CUED]);
    for name in &case.names {
        assert!(
            case.running(name),
            "{name} was stopped although the stop failed"
        );
    }
    case.recovers(&["stop", "-a"]);
    for name in &case.names {
        assert!(!case.running(name), "{name} still runs after the re-run");
    }
}

#[test]
fn pull_stream_cut_midway_fails_and_recovers() {
    let case = Case::from_registry("pcut");
    case.cue(
        Rule::new(Fault::CutStream { after_bytes: 40 })
            .method("POST")
            .path("/images/create"),
    );
    case.fails(
        &["pull"],
        &about(&case),
        &[
            "cut",
            "closed",
            "incomplete",
            "connection",
            "eof",
            "stream",
            "body",
        ],
    );
    case.recovers(&["pull"]);
}

/// What a cut pull should say: that the pull broke off, on which ship; not that
/// the engine cannot be reached (it was: its first progress bytes came through).
#[test]
fn pull_stream_cut_midway_says_it_was_cut_on_which_ship() {
    let case = Case::from_registry("pcut2");
    case.cue(
        Rule::new(Fault::CutStream { after_bytes: 40 })
            .method("POST")
            .path("/images/create"),
    );
    let error = case.fails(
        &["pull"],
        &about(&case),
        &[
            "cut",
            "closed",
            "incomplete",
            "ended",
            "broke",
            "interrupted",
        ],
    );
    assert!(
        !error.contains("cannot reach"),
        "a stream cut midway is reported as an unreachable engine: {error}"
    );
    assert!(
        error.contains("ship dock"),
        "the error does not name the ship: {error}"
    );
}

#[test]
fn engine_refusing_every_connection_is_a_host_down() {
    let case = Case::new("rall", 1, IDLE);
    case.cue(Rule::new(Fault::Refuse));
    case.fails(
        &["start"],
        &about(&case),
        &["closed", "connection", "cannot reach"],
    );
    let (out, _) = case.maestro_within(BOUND, &["status"]);
    assert!(!out.stderr().contains("panicked"), "{}", out.report());
    assert!(out.stdout().contains("host down"), "{}", out.report());
    case.recovers(&["start"]);
}

#[test]
fn malformed_version_reply_fails_naming_the_ship() {
    let case = Case::new("vmal", 1, IDLE);
    case.cue(Rule::new(Fault::Malformed).path("/version"));
    case.fails(
        &["start"],
        &about(&case),
        &[
            "json",
            "invalid",
            "malformed",
            "parse",
            "decode",
            "eof",
            "version",
        ],
    );
    case.recovers(&["start"]);
}

#[test]
fn status_with_engine_500_on_inspect_reports_each_container() {
    let case = Case::new("st500", 2, IDLE);
    case.maestro(&["start"]).0.assert_success();
    case.cue(
        Rule::new(server_error())
            .method("GET")
            .path("/containers/**json"),
    );
    let (out, _) = case.maestro_within(BOUND, &["status"]);
    assert!(!out.stderr().contains("panicked"), "{}", out.report());
    for name in &case.names {
        let line = out
            .stdout()
            .lines()
            .find(|l| l.contains(&format!(" {name} ")))
            .map(str::to_owned)
            .unwrap_or_else(|| panic!("no line for {name}\n{}", out.report()));
        assert!(
            line.contains(CUED) && !line.contains("running"),
            "{name}: {line:?}\n{}",
            out.report()
        );
    }
    // Like MaestroNG's, `status` exits 0 whatever it finds (a `host down` too).
    assert_eq!(out.code(), Some(0), "{}", out.report());
    case.recovers(&["status"]);
}

#[test]
fn status_with_an_engine_slower_than_the_timeout_is_bounded() {
    let case = Case::new("stslow", 2, IDLE);
    case.maestro(&["start"]).0.assert_success();
    case.cue(
        Rule::new(Fault::Delay(Duration::from_secs(20)))
            .method("GET")
            .path("/containers/**json"),
    );
    // Each inspect is held 20 s; status is given 15 s.
    let (out, _) = case.maestro_within(Duration::from_secs(15), &["status"]);
    assert!(!out.stderr().contains("panicked"), "{}", out.report());
    for name in &case.names {
        let line = out
            .stdout()
            .lines()
            .find(|l| l.contains(&format!(" {name} ")))
            .map(str::to_owned)
            .unwrap_or_else(|| panic!("no line for {name}\n{}", out.report()));
        assert!(
            !line.contains("running"),
            "{name}: {line:?}\n{}",
            out.report()
        );
    }
    case.recovers(&["status"]);
}

#[test]
fn one_ship_refusing_does_not_hold_up_the_other() {
    let case = Case::two_ships("two", &[("a", 2, IDLE, ""), ("b", 1, IDLE, "")]);
    case.proxy2
        .as_ref()
        .expect("two ships")
        .cues()
        .set(Rule::new(Fault::Refuse));
    let error = case.fails(
        &["start"],
        &["ft-two-b-1"],
        &["closed", "connection", "cannot reach"],
    );
    assert!(
        error.contains("ship dock2"),
        "the error does not name ship dock2: {error}"
    );
    for name in ["ft-two-a-1", "ft-two-a-2"] {
        assert!(
            case.running(name),
            "{name} on the healthy ship did not start"
        );
    }
    assert!(inspect(&local_host(), "ft-two-b-1").is_none());
    case.recovers(&["start"]);
}

#[test]
fn engine_500_on_exec_fails_the_rexec_check_and_recovers() {
    let case = Case::with_services(
        "x500",
        &[(
            "app",
            1,
            IDLE,
            "lifecycle: {running: [{type: rexec, command: \"true\", attempts: 2}]}",
        )],
    );
    case.cue(
        Rule::new(server_error())
            .method("POST")
            .path("/containers/*/exec"),
    );
    case.fails(&["start"], &about(&case), &[CUED, "exec"]);
    // Its running check failed: the container is kept, stopped.
    let found = case.inspect(&case.names[0]).expect("the container is kept");
    assert_eq!(found["State"]["Running"], false, "{}", found["State"]);
    case.recovers(&["start"]);
}

#[test]
fn followed_log_stream_cut_midway_ends_with_an_error() {
    let (case, name) = cut_logs_case("fcut");
    case.fails(
        &["logs", "-F", &name],
        &[&name],
        &[
            "cut",
            "closed",
            "incomplete",
            "connection",
            "eof",
            "stream",
            "body",
        ],
    );
    case.recovers(&["logs", &name]);
}

/// The engine gets the start after maestro gave up on it (the proxy holds it 5 s,
/// the ship's timeout is 2 s) and starts the container anyway: status then says
/// it runs, and a re-run is content.
#[test]
fn engine_acting_after_the_timeout_on_start() {
    let case = Case::new("late", 1, IDLE);
    let delay = Duration::from_secs(5);
    case.cue(
        Rule::new(Fault::Late(delay))
            .method("POST")
            .path("/containers/*/start"),
    );
    let started = Instant::now();
    case.fails(
        &["start"],
        &about(&case),
        &["within 2 s", "timed out", "timeout"],
    );
    let name = case.names[0].clone();
    let deadline = started + delay + Duration::from_secs(10);
    while !case.running(&name) {
        assert!(
            Instant::now() < deadline,
            "the late start never reached the engine"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    case.recovers(&["start"]);
}

#[test]
fn engine_409_on_create_fails_the_start_and_recovers() {
    let case = Case::new("c409", 1, IDLE);
    let message = format!(
        "Conflict. The container name \"/{}\" is already in use by container \"0123abcd\". You have to remove (or rename) that container to be able to reuse that name.",
        case.names[0]
    );
    case.cue(
        Rule::new(Fault::Status(409, message))
            .method("POST")
            .path("/containers/create"),
    );
    case.fails(&["start"], &about(&case), &["already in use"]);
    case.recovers(&["start"]);
}

#[test]
fn engine_404_on_start_fails_the_start_and_recovers() {
    let case = Case::new("s404", 1, IDLE);
    let message = format!("No such container: {}", case.names[0]);
    case.cue(
        Rule::new(Fault::Status(404, message))
            .method("POST")
            .path("/containers/*/start"),
    );
    case.fails(&["start"], &about(&case), &["no such container"]);
    case.recovers(&["start"]);
}

#[test]
fn engine_500_on_start_during_restart_fails_it_and_recovers() {
    let case = Case::new("r500", 2, IDLE);
    case.maestro(&["start"]).0.assert_success();
    case.cue(
        Rule::new(server_error())
            .method("POST")
            .path("/containers/*/start"),
    );
    case.fails(&["restart", "-a"], &about(&case), &[CUED]);
    case.recovers(&["restart", "-a"]);
}

#[test]
fn engine_500_on_kill_fails_the_kill_and_recovers() {
    let case = Case::new("k500", 2, IDLE);
    case.maestro(&["start"]).0.assert_success();
    case.cue(
        Rule::new(server_error())
            .method("POST")
            .path("/containers/*/kill"),
    );
    case.fails(&["kill", "-a"], &about(&case), &[CUED]);
    for name in &case.names {
        assert!(
            case.running(name),
            "{name} was killed although the kill failed"
        );
    }
    case.recovers(&["kill", "-a"]);
    for name in &case.names {
        assert!(!case.running(name), "{name} still runs after the re-run");
    }
}

#[test]
fn engine_500_on_remove_fails_the_clean_and_recovers() {
    let case = Case::new("d500", 2, IDLE);
    case.maestro(&["start"]).0.assert_success();
    case.maestro(&["stop", "-a"]).0.assert_success();
    case.cue(
        Rule::new(server_error())
            .method("DELETE")
            .path("/containers/*"),
    );
    case.fails(&["clean"], &about(&case), &[CUED]);
    for name in &case.names {
        assert!(
            inspect(&local_host(), name).is_some(),
            "{name} is gone although its removal failed"
        );
    }
    case.recovers(&["clean"]);
    for name in &case.names {
        assert!(
            inspect(&local_host(), name).is_none(),
            "{name} is still there after the re-run"
        );
    }
}

#[test]
fn engine_500_on_create_fails_up_and_recovers() {
    let case = Case::new("u500", 2, IDLE);
    case.cue(
        Rule::new(server_error())
            .method("POST")
            .path("/containers/create"),
    );
    case.fails(&["up"], &about(&case), &[CUED]);
    case.recovers(&["up"]);
}

// ------------------------------------------------------ helpers for reports

/// The line of `stdout` about container `name` (a table row).
fn line_of(out: &Output, name: &str) -> String {
    let needle = format!(" {name} ");
    out.stdout()
        .lines()
        .find(|l| l.contains(&needle))
        .map(str::to_owned)
        .unwrap_or_else(|| panic!("no line for {name}\n{}", out.report()))
}

/// The `--json` document maestro printed.
fn json_of(out: &Output) -> serde_json::Value {
    serde_json::from_str(&out.stdout())
        .unwrap_or_else(|e| panic!("stdout is not one JSON document ({e})\n{}", out.report()))
}

/// The entry of `doc["containers"]` about container `name`.
fn entry<'a>(doc: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    doc["containers"]
        .as_array()
        .and_then(|list| list.iter().find(|c| c["name"] == name))
        .unwrap_or_else(|| panic!("no entry for {name} in {doc:#}"))
}

/// The names of `case`'s containers, as `&str`.
fn about(case: &Case) -> Vec<&str> {
    case.names.iter().map(String::as_str).collect()
}

impl Case {
    /// Waits (at most `within`) until `done` holds of container `name` as its
    /// engine has it (`None`: absent).
    fn wait_until(
        &self,
        name: &str,
        within: Duration,
        what: &str,
        done: impl Fn(Option<&serde_json::Value>) -> bool,
    ) {
        let deadline = Instant::now() + within;
        while !done(self.inspect(name).as_ref()) {
            assert!(Instant::now() < deadline, "{name}: {what} did not happen");
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// How many requests got a fault on either proxy.
    fn fired(&self) -> usize {
        self.proxy.cues().fired() + self.proxy2.as_ref().map_or(0, |p| p.cues().fired())
    }
}

/// Whether an inspected container runs.
fn runs(c: Option<&serde_json::Value>) -> bool {
    c.and_then(|c| c["State"]["Running"].as_bool()) == Some(true)
}

// --------------------------------------------------------------------- plan

/// Every connection closed during `plan`: exit 1 (neither 0, nothing to do, nor
/// 3, changes), each row `unknown: ship dock: cannot reach …`, in text and JSON;
/// the one `ERROR:` line says how many containers could not be compared.
#[test]
fn plan_with_the_engine_cut_off_fails_naming_the_ship() {
    let case = Case::new("plcut", 2, IDLE);
    case.maestro(&["up"]).0.assert_success();
    case.cue(Rule::new(Fault::Refuse));
    let (error, out, _) = case.fails_plainly(&case.file, BOUND, &["plan"]);
    assert!(
        error.contains("2 containers could not be compared"),
        "{error}"
    );
    for name in &case.names {
        let line = line_of(&out, name);
        assert!(
            line.contains("unknown: ship dock: cannot reach"),
            "{name}: {line:?}\n{}",
            out.report()
        );
    }
    assert!(!out.stdout().contains("nothing to do"), "{}", out.report());
    let (out, _) = case.maestro_within(BOUND, &["plan", "--json"]);
    assert_eq!(out.code(), Some(1), "{}", out.report());
    let doc = json_of(&out);
    for name in &case.names {
        let e = entry(&doc, name);
        assert_eq!(e["action"], "unknown", "{e}");
        assert!(
            e["error"].as_str().is_some_and(|t| t.contains("ship dock")),
            "{e}"
        );
    }
    case.recovers(&["plan"]);
}

/// What the failed `plan` above should also say: its `ERROR:` line, alone on
/// stderr when stdout goes to a file or a pipe, names neither the ship nor the
/// reason (every play's says `first: NAME: ship S: reason`), and its summary
/// claims `changes to apply` when it could compare nothing.
#[test]
fn plan_with_the_engine_cut_off_says_which_ship_and_why() {
    let case = Case::new("plcut2", 2, IDLE);
    case.maestro(&["up"]).0.assert_success();
    case.cue(Rule::new(Fault::Refuse));
    let (error, out, _) = case.fails_within(BOUND, &["plan"], &[], &["cannot reach"]);
    assert!(error.contains("ship dock"), "{error}");
    assert!(
        !out.stdout().contains("changes to apply"),
        "{}",
        out.report()
    );
}

/// The ship's container list slower than its timeout during `plan`: the
/// run is bounded by the timeout, every row says why it could not be
/// compared, and `plan` fails (it cannot tell) instead of saying `none`.
#[test]
fn plan_with_a_list_slower_than_the_timeout_is_bounded() {
    let case = Case::new("plslow", 2, IDLE);
    case.maestro(&["up"]).0.assert_success();
    case.cue(
        Rule::new(Fault::Delay(Duration::from_secs(20)))
            .method("GET")
            .path("/containers/json"),
    );
    let (error, out, took) = case.fails_plainly(&case.file, Duration::from_secs(10), &["plan"]);
    println!("plan with a slow list took {took:?}");
    assert!(
        error.contains("2 containers could not be compared"),
        "{error}"
    );
    for name in &case.names {
        let line = line_of(&out, name);
        assert!(
            line.contains("unknown: ship dock: the Docker engine did not answer within 2 s while trying to list containers"),
            "{line:?}\n{}",
            out.report()
        );
    }
    case.recovers(&["plan"]);
}

/// When the engine cannot list the environment's containers, `plan` cannot tell
/// whether there are orphans: it must not say `nothing to do` and exit 0.
#[test]
fn plan_that_cannot_look_for_orphans_does_not_say_nothing_to_do() {
    let case = Case::new("plorph", 1, IDLE);
    case.maestro(&["up"]).0.assert_success();
    case.cue(
        Rule::new(server_error())
            .method("GET")
            .path("/containers/json"),
    );
    let (_, out, _) = case.fails_within(BOUND, &["plan"], &about(&case), &[CUED, "orphan"]);
    assert!(!out.stdout().contains("nothing to do"), "{}", out.report());
    case.recovers(&["plan"]);
}

// ----------------------------------------------------------------------- up

/// An environment of `app` (one instance) and `old` (one instance, required by
/// nothing), brought up, and the file without `old`: `old`'s container is then
/// an orphan, and `app`'s container does not drift (its link variables do not
/// name `old`).
fn orphan_case(tag: &str) -> (Case, PathBuf) {
    let case = Case::with_services(tag, &[("app", 1, IDLE, ""), ("old", 1, IDLE, "")]);
    case.maestro(&["up"]).0.assert_success();
    let text = std::fs::read_to_string(&case.file).expect("the environment file");
    let mut kept = String::new();
    let mut skipping = false;
    for line in text.lines() {
        if line == "  old:" {
            skipping = true;
            continue;
        }
        if skipping && line.starts_with("    ") {
            continue;
        }
        skipping = false;
        kept.push_str(line);
        kept.push('\n');
    }
    let reduced = case._dir.write("without-old.yaml", kept);
    (case, reduced)
}

/// `up --remove-orphans`, the engine answering 500 to the orphan's removal: exit
/// 1 naming the orphan and the ship; the orphan is left stopped (its stop went
/// through), the other container and the bystander (no environment label)
/// untouched; the re-run removes it.
#[test]
fn up_remove_orphans_with_engine_500_on_remove_fails_and_recovers() {
    let (mut case, reduced) = orphan_case("orph");
    let orphan = format!("ft-{}-old-1", case.tag);
    let kept = format!("ft-{}-app-1", case.tag);
    let kept_before = snapshot(&case.host, &kept);
    case.cue(
        Rule::new(server_error())
            .method("DELETE")
            .path("/containers/*"),
    );
    let (error, out, _) = case.fails_on(
        &reduced,
        BOUND,
        &["up", "--remove-orphans"],
        &[&orphan],
        &[CUED],
    );
    assert!(
        error.contains(&format!("could not remove orphans: {orphan}: ship dock")),
        "the error names neither the orphan nor its ship: {error}"
    );
    assert!(!out.stdout().contains("removed"), "{}", out.report());
    let left = case.inspect(&orphan).expect("the orphan is still there");
    assert!(!runs(Some(&left)), "the orphan still runs");
    assert_eq!(
        snapshot(&case.host, &kept),
        kept_before,
        "{kept} was touched"
    );
    // Status (with the whole file) agrees: the orphan is down.
    case.proxy.cues().clear();
    case.status_agrees();
    case.names.retain(|n| *n != orphan);
    let (out, _) = case.maestro_on(&reduced, &["up", "--remove-orphans"]);
    out.assert_success();
    assert!(
        case.inspect(&orphan).is_none(),
        "the re-run left the orphan"
    );
    assert_eq!(
        snapshot(&case.host, &kept),
        kept_before,
        "{kept} was touched"
    );
    assert_eq!(snapshot(&case.host, &case.bystander), case.before);
}

/// `up --remove-orphans` when the engine cannot list the environment's
/// containers: the orphans asked to be removed are not; that is a failure (exit
/// 1 naming the ship), not a warning after which `up` exits 0.
#[test]
fn up_remove_orphans_that_cannot_list_them_fails() {
    let (case, reduced) = orphan_case("orphls");
    let orphan = format!("ft-{}-old-1", case.tag);
    case.cue(
        Rule::new(server_error())
            .method("GET")
            .path("/containers/json"),
    );
    case.fails_on(
        &reduced,
        BOUND,
        &["up", "--remove-orphans"],
        &[&orphan],
        &[CUED, "orphan"],
    );
    assert!(case.running(&orphan), "the orphan was touched");
}

/// `up -c 1` recreating three drifted containers, the second create answered
/// 500: the first is recreated, the second is gone (removed before the create,
/// as a recreate does) and reported failed, the third is reported aborted and
/// keeps running its old container; the re-run converges.
#[test]
fn engine_500_on_create_during_an_up_recreate_aborts_the_rest_and_recovers() {
    let case = Case::with_services("urec", &[("app", 3, IDLE, "env: {GREETING: one}")]);
    case.maestro(&["up"]).0.assert_success();
    let before: Vec<Snapshot> = case.names.iter().map(|n| snapshot(&case.host, n)).collect();
    let text = std::fs::read_to_string(&case.file).expect("the file");
    std::fs::write(&case.file, text.replace("GREETING: one", "GREETING: two")).expect("write");
    case.cue(
        Rule::new(server_error())
            .method("POST")
            .path("/containers/create")
            .after(1),
    );
    let (_, out, _) =
        case.fails_within(BOUND, &["up", "-c", "1", "--json"], &about(&case), &[CUED]);
    let doc = json_of(&out);
    let mut actions: Vec<&str> = case
        .names
        .iter()
        .map(|n| entry(&doc, n)["action"].as_str().unwrap_or("?"))
        .collect();
    actions.sort_unstable();
    assert_eq!(actions, ["aborted", "failed", "recreated"], "{doc:#}");
    for (name, before) in case.names.iter().zip(&before) {
        let e = entry(&doc, name);
        match e["action"].as_str() {
            Some("recreated") => assert!(case.running(name), "{name}"),
            Some("failed") => assert!(case.inspect(name).is_none(), "{name} is there"),
            _ => {
                assert_eq!(e["detail"], "untouched", "{e}");
                assert_eq!(&snapshot(&case.host, name), before, "{name} was touched");
            }
        }
    }
    case.recovers(&["up"]);
}

// ---------------------------------------------------------- rolling restart

/// A rolling restart (`-c 1 --step-delay 1`) whose second create is answered
/// 500: one container restarted, one failed (removed before its create, so
/// absent), the third reported aborted, untouched and still running.
#[test]
fn rolling_restart_with_engine_500_on_create_leaves_the_rest_running() {
    let case = Case::new("roll", 3, IDLE);
    case.maestro(&["start"]).0.assert_success();
    let before: Vec<Snapshot> = case.names.iter().map(|n| snapshot(&case.host, n)).collect();
    case.cue(
        Rule::new(server_error())
            .method("POST")
            .path("/containers/create")
            .after(1),
    );
    let args = ["restart", "-a", "-c", "1", "--step-delay", "1", "--json"];
    let since = now_nanos();
    let (_, out, _) = case.fails_within(BOUND, &args, &about(&case), &[CUED]);
    let doc = json_of(&out);
    // The step delay, as the engine saw it: the failed container's first
    // event comes a second or more after the restarted one's start.
    let list = events_without_exec(&case.host, "ft-roll", since);
    let of = |action: &str| {
        case.names
            .iter()
            .find(|n| entry(&doc, n)["action"] == action)
            .unwrap_or_else(|| panic!("no container {action}\n{doc:#}"))
    };
    let (restarted, failed) = (of("restarted"), of("failed"));
    let restarted_at = last_event(&list, "start", restarted);
    let failed_from = list
        .iter()
        .find(|e| &e.name == failed)
        .map(|e| e.nanos)
        .unwrap_or_else(|| panic!("no event for {failed} in {list:#?}"));
    assert!(
        failed_from - restarted_at >= 1_000_000_000,
        "{failed} was touched {:.3} s after {restarted} started: the step delay was not waited\n{list:#?}",
        secs(failed_from - restarted_at)
    );
    let mut seen = Vec::new();
    for (name, before) in case.names.iter().zip(&before) {
        let e = entry(&doc, name);
        let action = e["action"].as_str().unwrap_or("?").to_owned();
        match action.as_str() {
            "restarted" => {
                assert_eq!(e["state"], "running", "{e}");
                let now = snapshot(&case.host, name);
                assert!(now.running && now.id != before.id, "{name}: {now:?}");
            }
            "failed" => {
                assert!(e["error"].as_str().is_some_and(|t| t.contains(CUED)), "{e}");
                assert!(case.inspect(name).is_none(), "{name} is still there");
            }
            "aborted" => {
                assert_eq!(e["detail"], "untouched", "{e}");
                assert_eq!(&snapshot(&case.host, name), before, "{name} was touched");
            }
            other => panic!("{name}: unexpected action {other}\n{doc:#}"),
        }
        seen.push(action);
    }
    seen.sort();
    assert_eq!(seen, ["aborted", "failed", "restarted"], "{doc:#}");
    case.recovers(&["restart", "-a", "-c", "1", "--step-delay", "1"]);
}

/// A rolling restart whose second stop is held longer than the ship's timeout
/// plus the grace period (2 + 2 s): that container fails with a timeout naming
/// the ship and the action, the held stop never reaches the engine (so it keeps
/// running), the third is aborted untouched.
#[test]
fn rolling_restart_with_a_stop_slower_than_the_timeout() {
    let case = Case::new("rollslow", 3, IDLE);
    case.maestro(&["start"]).0.assert_success();
    let before: Vec<Snapshot> = case.names.iter().map(|n| snapshot(&case.host, n)).collect();
    let delay = Duration::from_secs(8);
    case.cue(
        Rule::new(Fault::Delay(delay))
            .method("POST")
            .path("/containers/*/stop")
            .after(1),
    );
    let started = Instant::now();
    let args = ["restart", "-a", "-c", "1", "--step-delay", "1", "--json"];
    let (error, out, took) = case.fails_within(
        Duration::from_secs(15),
        &args,
        &about(&case),
        &["within 4 s"],
    );
    assert!(
        error.contains("ship dock") && error.contains("stop container"),
        "{error}"
    );
    println!("rolling restart with a slow stop took {took:?}");
    // Let the held stop's time pass: had it reached the engine, it would have
    // stopped the container by then.
    if let Some(left) = (delay + Duration::from_secs(1)).checked_sub(started.elapsed()) {
        std::thread::sleep(left);
    }
    let doc = json_of(&out);
    let mut seen = Vec::new();
    for (name, before) in case.names.iter().zip(&before) {
        let e = entry(&doc, name);
        let action = e["action"].as_str().unwrap_or("?").to_owned();
        match action.as_str() {
            "restarted" => assert!(case.running(name), "{name}"),
            "failed" | "aborted" => {
                assert_eq!(&snapshot(&case.host, name), before, "{name} was touched");
            }
            other => panic!("{name}: unexpected action {other}\n{doc:#}"),
        }
        seen.push(action);
    }
    seen.sort();
    assert_eq!(seen, ["aborted", "failed", "restarted"], "{doc:#}");
    case.recovers(&["restart", "-a", "-c", "1", "--step-delay", "1"]);
}

// ------------------------------------------ slower than the timeout, or late

/// The engine stops the container after maestro gave up waiting (held 10 s; the
/// bound of a stop is the ship's timeout plus the grace period, 2 + 2 s): the
/// run ends before the held stop is let through (it is given only the delay).
#[test]
fn engine_acting_after_the_timeout_on_stop() {
    let case = Case::new("stlate", 1, IDLE);
    case.maestro(&["start"]).0.assert_success();
    let delay = Duration::from_secs(10);
    case.cue(
        Rule::new(Fault::Late(delay))
            .method("POST")
            .path("/containers/*/stop"),
    );
    let started = Instant::now();
    let (error, _, _) = case.fails_within(delay, &["stop", "-a"], &about(&case), &["within 4 s"]);
    assert!(error.contains("stop container"), "{error}");
    case.wait_until(
        &case.names[0],
        delay + Duration::from_secs(10) - started.elapsed().min(delay),
        "the late stop",
        |c| !runs(c),
    );
    case.recovers(&["stop", "-a"]);
}

/// A kill held longer than the ship's timeout (8 s): given up after 2 s naming
/// the ship and the action (the run is given only the delay); the held kill
/// never reaches the engine (the container runs, and status says so); the
/// re-run kills it.
#[test]
fn engine_slower_than_the_timeout_on_kill() {
    let case = Case::new("kslow", 1, IDLE);
    case.maestro(&["start"]).0.assert_success();
    let before = snapshot(&case.host, &case.names[0]);
    let delay = Duration::from_secs(8);
    case.cue(
        Rule::new(Fault::Delay(delay))
            .method("POST")
            .path("/containers/*/kill"),
    );
    let started = Instant::now();
    let (error, _, _) = case.fails_within(delay, &["kill", "-a"], &about(&case), &["within 2 s"]);
    assert!(error.contains("kill container"), "{error}");
    if let Some(left) = (delay + Duration::from_secs(1)).checked_sub(started.elapsed()) {
        std::thread::sleep(left);
    }
    assert_eq!(
        snapshot(&case.host, &case.names[0]),
        before,
        "the held kill reached the engine"
    );
    case.recovers(&["kill", "-a"]);
    assert!(!case.running(&case.names[0]));
}

/// The engine removes the container after maestro gave up (held 8 s, timeout 2
/// s): `clean` fails naming the ship and the action, within the delay; then
/// status says absent, like the engine, and the re-run has nothing left to do.
#[test]
fn engine_acting_after_the_timeout_on_remove() {
    let case = Case::new("rmlate", 1, IDLE);
    case.maestro(&["start"]).0.assert_success();
    case.maestro(&["stop", "-a"]).0.assert_success();
    let delay = Duration::from_secs(8);
    case.cue(
        Rule::new(Fault::Late(delay))
            .method("DELETE")
            .path("/containers/*"),
    );
    let (error, _, _) = case.fails_within(delay, &["clean"], &about(&case), &["within 2 s"]);
    assert!(error.contains("remove container"), "{error}");
    case.wait_until(
        &case.names[0],
        Duration::from_secs(15),
        "the late removal",
        |c| c.is_none(),
    );
    case.recovers(&["clean"]);
}

/// The engine creates the container after maestro gave up (held 8 s, timeout 2
/// s) during `up`: the error names the ship and the action, within the delay;
/// status then shows
/// the created, never started container as the engine has it; the re-run
/// starts it.
#[test]
fn engine_acting_after_the_timeout_on_create_during_up() {
    let case = Case::new("crlate", 1, IDLE);
    let delay = Duration::from_secs(8);
    case.cue(
        Rule::new(Fault::Late(delay))
            .method("POST")
            .path("/containers/create"),
    );
    let (error, _, _) = case.fails_within(delay, &["up"], &about(&case), &["within 2 s"]);
    assert!(error.contains("create container"), "{error}");
    case.wait_until(
        &case.names[0],
        Duration::from_secs(15),
        "the late create",
        |c| c.is_some(),
    );
    assert!(!case.running(&case.names[0]));
    case.recovers(&["up"]);
}

/// A pull whose progress stream goes silent after its first bytes (the
/// connection stays open): given up after the pull's idle bound (the ship's
/// timeout, but at least 60 s), naming the ship and the image.
#[test]
fn pull_stream_going_silent_is_given_up_after_the_idle_bound() {
    let case = Case::from_registry("pstall");
    case.cue(
        Rule::new(Fault::Stall { after_bytes: 40 })
            .method("POST")
            .path("/images/create"),
    );
    // The error names the idle bound it waited out (`within 60 s`).
    let (error, _, _) = case.fails_within(
        Duration::from_secs(90),
        &["pull"],
        &about(&case),
        &["within 60 s"],
    );
    assert!(
        error.contains("ship dock") && error.contains("pull image"),
        "{error}"
    );
    case.recovers(&["pull"]);
}

// ---------------------------------------------------------- several ships

/// Both ships (each its own proxy in front of the local engine) hold every
/// start longer than their timeout, with `-c 4`: the four containers wait out
/// their timeouts together (one timeout, not four one after another): every
/// one is reported failed, none aborted (a failure aborts the containers not
/// yet begun, so all four were in flight when the first gave up), each proxy
/// saw both its starts; the error names a ship; the re-run converges.
#[test]
fn two_ships_slower_than_the_timeout_together_are_waited_for_together() {
    let case = Case::two_ships("twoslow", &[("a", 2, IDLE, ""), ("b", 2, IDLE, "")]);
    let delay = Duration::from_secs(8);
    let rule = Rule::new(Fault::Delay(delay))
        .method("POST")
        .path("/containers/*/start");
    case.cue(rule.clone());
    case.proxy2().cues().set(rule);
    let started = Instant::now();
    let (_, out, took) = case.fails_within(
        BOUND,
        &["start", "-c", "4", "--json"],
        &about(&case),
        &["within 2 s"],
    );
    println!("both ships slow: {took:?}");
    assert!(
        case.proxy.cues().fired() > 0 && case.proxy2().cues().fired() > 0,
        "the fault did not fire on both ships"
    );
    for (ship, proxy) in [("dock", &case.proxy), ("dock2", case.proxy2())] {
        let starts: Vec<String> = proxy
            .cues()
            .log()
            .iter()
            .filter(|seen| {
                seen.method == "POST"
                    && unversioned(&seen.target)
                        .split('?')
                        .next()
                        .is_some_and(|path| path.ends_with("/start"))
            })
            .map(|seen| seen.target.clone())
            .collect();
        assert_eq!(starts.len(), 2, "the starts ship {ship} saw: {starts:?}");
    }
    let doc = json_of(&out);
    for name in &case.names {
        let e = entry(&doc, name);
        assert_eq!(e["action"], "failed", "{e}");
        let ship = if name.contains("-b-") {
            "dock2"
        } else {
            "dock"
        };
        assert!(
            e["error"]
                .as_str()
                .is_some_and(|t| t.contains(&format!("ship {ship}:")) && t.contains("within 2 s")),
            "{e}"
        );
    }
    if let Some(left) = (delay + Duration::from_secs(1)).checked_sub(started.elapsed()) {
        std::thread::sleep(left);
    }
    case.recovers(&["start", "-c", "4"]);
}

/// `a` (ship dock, the local engine) <- `b` (ship dock2: ship2's TCP engine,
/// through its own proxy) <- `c` (dock): ship2 closes every connection. `a`
/// starts, `b` fails naming ship dock2, `c` on the other ship is reported
/// aborted and untouched (never created; named only in the ship's one list
/// taken before the play acted).
#[test]
fn a_ship_failing_in_the_middle_of_a_chain_across_ships_aborts_the_rest() {
    let case = Case::on_ships(
        "chain",
        &[
            ("a", 1, IDLE, ""),
            ("b", 1, IDLE, "requires: [a]"),
            ("c", 1, IDLE, "requires: [b]"),
        ],
        ShipSetup::local(),
        Some(ShipSetup::ship2_tcp()),
    );
    case.proxy2().cues().set(Rule::new(Fault::Refuse));
    let (error, out, _) = case.fails_within(
        BOUND,
        &["start", "--json"],
        &["ft-chain-b-1"],
        &["cannot reach", "closed", "connection"],
    );
    assert!(error.contains("ship dock2"), "{error}");
    let doc = json_of(&out);
    assert_eq!(entry(&doc, "ft-chain-a-1")["action"], "started", "{doc:#}");
    assert_eq!(entry(&doc, "ft-chain-b-1")["action"], "failed", "{doc:#}");
    let c = entry(&doc, "ft-chain-c-1");
    assert_eq!(c["action"], "aborted", "{doc:#}");
    assert_eq!(c["detail"], "untouched", "{doc:#}");
    assert!(case.running("ft-chain-a-1"));
    assert!(case.inspect("ft-chain-b-1").is_none());
    assert!(case.inspect("ft-chain-c-1").is_none());
    assert!(
        !case
            .proxy
            .cues()
            .log()
            .iter()
            .filter(|s| !unversioned(&s.target).starts_with("/containers/json"))
            .any(|s| s.target.contains("ft-chain-c-1")),
        "ship dock was asked about c beyond the one list before the play acted: {:?}",
        case.proxy.cues().log()
    );
    case.recovers(&["start"]);
}

// ----------------------------------------------- wrong but well-formed JSON

/// Inspect answered with valid JSON of the wrong shape (a number for the id, an
/// array, `null`, a string, a string for the state): a protocol error naming the
/// ship and the action, never a panic; nothing is done to the container.
#[test]
fn inspect_answering_json_of_the_wrong_shape_fails_naming_the_ship() {
    let case = Case::new("ishape", 1, IDLE);
    case.maestro(&["start"]).0.assert_success();
    case.maestro(&["stop", "-a"]).0.assert_success();
    let before = snapshot(&case.host, &case.names[0]);
    for body in [
        r#"{"Id": 5}"#,
        "[]",
        "null",
        r#""running""#,
        r#"{"Id": "abc", "State": "running"}"#,
    ] {
        case.cue(
            Rule::new(Fault::Rewrite(body.into()))
                .method("GET")
                .path("/containers/**json"),
        );
        let fired = case.fired();
        // An empty list is a valid answer: the container is taken for
        // absent, and the engine refuses to create a second one of its name.
        let said: &[&str] = if body == "[]" {
            &["already in use", "Conflict"]
        } else {
            &["unexpected reply", "invalid type", "expected"]
        };
        let error = case.fails(&["start"], &about(&case), said);
        assert!(case.fired() > fired, "{body}: the rewrite did not fire");
        assert!(
            error.contains("ship dock")
                && (error.contains("list containers")
                    || error.contains("inspect container")
                    || error.contains("create container")),
            "{body}: {error}"
        );
        assert_eq!(snapshot(&case.host, &case.names[0]), before, "{body}");
    }
    case.recovers(&["start"]);
}

/// Inspect answered `{}`: valid JSON, and every field of Docker's answer is
/// optional to the client library, but it says nothing about the container.
/// Neither `status` nor `stop` may take it for a stopped container (it runs):
/// status must not say `down`, and `stop` must fail with a protocol error
/// naming the ship instead of reporting it stopped with exit 0.
#[test]
fn inspect_answering_an_empty_object_is_not_taken_for_a_stopped_container() {
    let case = Case::new("iempty", 1, IDLE);
    case.maestro(&["start"]).0.assert_success();
    case.cue(
        Rule::new(Fault::Rewrite("{}".into()))
            .method("GET")
            .path("/containers/**json"),
    );
    let (out, _) = case.maestro(&["status"]);
    let line = line_of(&out, &case.names[0]);
    assert!(
        !line.contains("down"),
        "a running container shown down: {line:?}"
    );
    let error = case.fails(
        &["stop", "-a"],
        &about(&case),
        &["unexpected reply", "state", "expected"],
    );
    assert!(error.contains("ship dock"), "{error}");
    assert!(case.running(&case.names[0]));
    case.recovers(&["stop", "-a"]);
}

/// An inspect answer cut midway (100 bytes of the body, then the connection
/// closed): the error should say the answer broke off, as it does for logs and
/// pulls (finding 1), not that the engine cannot be reached: it answered.
#[test]
fn inspect_answer_cut_midway_says_it_broke_off() {
    let case = Case::new("icut", 1, IDLE);
    case.maestro(&["start"]).0.assert_success();
    case.maestro(&["stop", "-a"]).0.assert_success();
    case.cue(
        Rule::new(Fault::CutStream { after_bytes: 100 })
            .method("GET")
            .path("/containers/**json"),
    );
    let error = case.fails(
        &["start"],
        &about(&case),
        &["broke off", "cut", "incomplete"],
    );
    assert!(!error.contains("cannot reach"), "{error}");
    case.recovers(&["start"]);
}

/// Create answered with valid JSON without an id (`{}`), or with a number for
/// it: a protocol error naming the ship; the engine did create the container,
/// status shows it as the engine has it, and the re-run replaces and starts it.
#[test]
fn create_answering_json_of_the_wrong_shape_fails_and_recovers() {
    for (tag, body) in [
        ("cshape1", "{}"),
        ("cshape2", r#"{"Id": 5, "Warnings": []}"#),
    ] {
        let case = Case::new(tag, 1, IDLE);
        case.cue(
            Rule::new(Fault::Rewrite(body.into()))
                .method("POST")
                .path("/containers/create"),
        );
        let error = case.fails(
            &["start"],
            &about(&case),
            &["unexpected reply", "missing field", "invalid type"],
        );
        assert!(
            error.contains("ship dock") && error.contains("create container"),
            "{body}: {error}"
        );
        assert!(case.inspect(&case.names[0]).is_some(), "not created");
        case.recovers(&["start"]);
    }
}

/// `/version` answered with valid JSON of the wrong shape (`{}`, no API
/// version; a number for it; an array): a protocol error naming the ship.
#[test]
fn version_answering_json_of_the_wrong_shape_fails_naming_the_ship() {
    let case = Case::new("vshape", 1, IDLE);
    for body in ["{}", r#"{"ApiVersion": 1.41}"#, "[]"] {
        case.cue(Rule::new(Fault::Reply(200, body.into())).path("/version"));
        let fired = case.fired();
        let error = case.fails(
            &["start"],
            &about(&case),
            &[
                "unexpected reply",
                "api version",
                "invalid type",
                "expected",
            ],
        );
        assert!(case.fired() > fired, "{body}: the reply did not fire");
        assert!(
            error.contains("ship dock") && error.contains("version"),
            "{body}: {error}"
        );
        assert!(case.inspect(&case.names[0]).is_none());
    }
    case.recovers(&["start"]);
}

/// `status` with inspect answered `{"Id": 5}`: each row says the protocol error
/// on that ship; exit 0 (status always exits 0).
#[test]
fn status_with_inspect_of_the_wrong_shape_reports_each_container() {
    let case = Case::new("stshape", 2, IDLE);
    case.maestro(&["start"]).0.assert_success();
    case.cue(
        Rule::new(Fault::Rewrite(r#"{"Id": 5}"#.into()))
            .method("GET")
            .path("/containers/**json"),
    );
    let (out, _) = case.maestro_within(BOUND, &["status"]);
    assert!(!out.stderr().contains("panicked"), "{}", out.report());
    assert_eq!(out.code(), Some(0), "{}", out.report());
    for name in &case.names {
        let line = line_of(&out, name);
        assert!(
            line.contains("ship dock")
                && line.contains("unexpected reply")
                && !line.contains("running"),
            "{name}: {line:?}"
        );
    }
    case.recovers(&["status"]);
}

// ------------------------------------------------- through TLS and SSH ships

/// The logs of a chatty container on a ship set up as `ship`, every connection
/// cut after `after_bytes` from the engine (past the handshake, inside the
/// logs): the lines that came are printed, exit 1 naming the container with
/// one of `needles`; without the cut the logs come whole.
fn logs_cut_midway(tag: &str, ship: ShipSetup, after_bytes: usize, needles: &[&str]) {
    logs_cut_midway_of(tag, ship, (CHATTY, 3000), after_bytes, needles);
}

/// [`logs_cut_midway`] with a container of its own (`command`, writing `lines`
/// numbered lines).
fn logs_cut_midway_of(
    tag: &str,
    ship: ShipSetup,
    (command, lines): (&str, usize),
    after_bytes: usize,
    needles: &[&str],
) {
    let last = format!("line-{lines}-of");
    let case = Case::on_ships(tag, &[("app", 1, command, "")], ship, None);
    case.maestro(&["start"]).0.assert_success();
    let name = case.names[0].clone();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !docker(&case.host, &["logs", &name]).contains(&last) {
        assert!(Instant::now() < deadline, "{name} never wrote its lines");
        std::thread::sleep(Duration::from_millis(100));
    }
    case.cue(Rule::new(Fault::CutStream { after_bytes }));
    let (_, out, _) = case.fails_within(BOUND, &["logs", &name], &[&name], needles);
    assert!(
        out.stdout().contains("line-1-of-the-chatty-box"),
        "the lines that came were not printed\n{}",
        out.report()
    );
    assert!(!out.stdout().contains(&last), "{}", out.report());
    case.recovers(&["logs", &name]);
    let (out, _) = case.maestro(&["logs", &name]);
    assert!(out.stdout().contains(&last), "{}", out.report());
}

/// ship3's TLS engine, every connection cut after 12,000 bytes from the engine.
#[test]
fn tls_connection_cut_midway_through_the_logs() {
    logs_cut_midway(
        "tlscut",
        ShipSetup::ship3_tls(),
        12_000,
        &["broke off", "cut", "closed", "connection", "eof"],
    );
}

/// ship3's TLS engine going silent in the middle of the TLS handshake (100
/// bytes of the server's hello, then nothing, the connection open): `start`
/// gives up within the ship's timeout, naming the ship; nothing is created.
#[test]
fn tls_handshake_going_silent_is_given_up_after_the_timeout() {
    let case = Case::on_ships(
        "tlsstall",
        &[("app", 1, IDLE, "")],
        ShipSetup::ship3_tls(),
        None,
    );
    case.cue(Rule::new(Fault::Stall { after_bytes: 100 }));
    let (_, _, took) = case.fails_within(
        Duration::from_secs(10),
        &["start"],
        &about(&case),
        &["within 2 s", "timed out", "timeout"],
    );
    println!("TLS stall: {took:?}");
    assert!(case.inspect(&case.names[0]).is_none());
    case.recovers(&["start"]);
}

/// ship2 through an SSH tunnel whose connection is cut (TCP, under SSH) after
/// 120,000 bytes from the server, inside the logs of a chatty container. Under
/// SSH the bytes come in packets of up to 32 KiB that are only readable whole:
/// the cut must leave the handshake, the answers before the logs and at least
/// one whole packet of the logs behind it, so the container writes 20,000
/// lines (over 700,000 bytes) and the cut still falls well before their end.
#[test]
fn ssh_tunnel_cut_midway_through_the_logs() {
    logs_cut_midway_of(
        "sshcut",
        ShipSetup::ship2_ssh(),
        (CHATTIER, 20_000),
        120_000,
        &["broke off", "cut", "closed", "connection", "eof", "ssh"],
    );
}

/// ship2 through an SSH tunnel whose server never answers (the proxy holds the
/// connection 20 s before reaching sshd): `start` gives up within the ship's
/// timeout naming the ship and SSH; status says `host down`, quickly.
#[test]
fn ssh_server_not_answering_is_given_up_after_the_timeout() {
    let case = Case::on_ships(
        "sshslow",
        &[("app", 1, IDLE, "")],
        ShipSetup::ship2_ssh(),
        None,
    );
    case.cue(Rule::new(Fault::Delay(Duration::from_secs(20))));
    let (error, _, took) =
        case.fails_within(Duration::from_secs(10), &["start"], &about(&case), &["ssh"]);
    println!("SSH silent: {took:?}: {error}");
    // The proxy holds the connection 20 s; status is given 10 s.
    let (out, _) = case.maestro_within(Duration::from_secs(10), &["status"]);
    assert!(out.stdout().contains("host down"), "{}", out.report());
    case.recovers(&["start"]);
}

// ------------------------------------------------ checks around stop and exec

/// A `pre-stop` rexec check whose exec the engine answers 500: `stop` fails
/// naming the check, before stopping anything (the container runs on); the
/// re-run stops it.
#[test]
fn engine_500_on_exec_fails_the_pre_stop_check_and_recovers() {
    let case = Case::with_services(
        "px500",
        &[(
            "app",
            1,
            IDLE,
            "lifecycle: {pre-stop: [{type: rexec, command: \"true\", attempts: 2}]}",
        )],
    );
    case.maestro(&["start"]).0.assert_success();
    let before = snapshot(&case.host, &case.names[0]);
    case.cue(
        Rule::new(server_error())
            .method("POST")
            .path("/containers/*/exec"),
    );
    let error = case.fails(&["stop", "-a"], &about(&case), &[CUED]);
    assert!(error.contains("pre-stop"), "{error}");
    assert_eq!(
        snapshot(&case.host, &case.names[0]),
        before,
        "the container was touched"
    );
    case.recovers(&["stop", "-a"]);
    assert!(!case.running(&case.names[0]));
}

/// A `running` rexec check whose exec's status (`GET /exec/{id}/json`, polled
/// until it ends; execs run detached, so there is no exec stream to cut) meets
/// closed connections: the check fails after its attempts naming the ship, the
/// container is stopped (so that the next start checks it again); the re-run
/// starts and checks it.
#[test]
fn exec_status_cut_off_during_a_rexec_check_fails_it_and_recovers() {
    let case = Case::with_services(
        "xcut",
        &[(
            "app",
            1,
            IDLE,
            "lifecycle: {running: [{type: rexec, command: \"true\", attempts: 2}]}",
        )],
    );
    case.cue(Rule::new(Fault::Refuse).method("GET").path("/exec/*/json"));
    let error = case.fails(&["start"], &about(&case), &["cannot reach", "closed"]);
    assert!(error.contains("rexec"), "{error}");
    // Its running check failed: the container is kept, stopped.
    let found = case.inspect(&case.names[0]).expect("the container is kept");
    assert_eq!(found["State"]["Running"], false, "{}", found["State"]);
    case.recovers(&["start"]);
}

// -------------------------------------------------------------------- soak

/// Repeated runs under random faults (fixed seed). Each round puts the
/// containers (a small dependency chain) where one of start, stop, kill,
/// restart, up, clean has work to do, cues one fault drawn from 500, 404, 409,
/// closed connections (a few times, or sticky: the engine gone), malformed or
/// cut answers, answers slower than the timeout, on one of the engine calls
/// that command makes (after 0 to 2 good ones), and runs the command. Every run
/// ends in bounded time with exit 0 or 1 (1: one `ERROR:` line), never a
/// panic; then, without faults, status agrees with the engine, the bystander is
/// untouched, and the same command converges.
#[test]
fn soak_under_random_faults_every_run_ends_cleanly_and_converges() {
    let case = Case::with_services(
        "soak",
        &[
            ("front", 1, IDLE, ""),
            ("back", 2, IDLE, "requires: [front]"),
        ],
    );
    let inspect = ("GET", "/containers/**json");
    let version = ("GET", "/version");
    let image = ("GET", "/images/**");
    let create = ("POST", "/containers/create");
    let start = ("POST", "/containers/*/start");
    let stop = ("POST", "/containers/*/stop");
    let kill = ("POST", "/containers/*/kill");
    let remove = ("DELETE", "/containers/*");
    // (command, what to run first so that it has work, the calls it makes)
    type Round<'a> = (&'a [&'a str], &'a [&'a [&'a str]], Vec<(&'a str, &'a str)>);
    let plays: [Round; 6] = [
        (
            &["start"],
            &[&["stop", "-a"], &["clean"]],
            vec![inspect, version, image, create, start],
        ),
        (&["stop", "-a"], &[&["start"]], vec![inspect, version, stop]),
        (&["kill", "-a"], &[&["start"]], vec![inspect, version, kill]),
        (
            &["restart", "-a", "-c", "1"],
            &[&["start"]],
            vec![inspect, version, image, stop, remove, create, start],
        ),
        (
            &["up"],
            &[&["stop", "-a"]],
            vec![inspect, version, image, start],
        ),
        (
            &["clean"],
            &[&["start"], &["stop", "-a"]],
            vec![inspect, version, remove],
        ),
    ];
    let mut state: u64 = 0x5eed_0009_dead_beef;
    let mut next = move |n: usize| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state % n as u64) as usize
    };
    let rounds = 14;
    let (mut failed_runs, mut fired_rounds) = (0, 0);
    for round in 0..rounds {
        let (command, setup, calls) = &plays[next(plays.len())];
        let (method, path) = calls[next(calls.len())];
        let fault = match next(7) {
            0 => server_error(),
            1 => Fault::Status(404, "No such container: cued (ft)".into()),
            2 => Fault::Status(409, "Conflict: cued (ft)".into()),
            3 => Fault::Refuse,
            4 => Fault::Malformed,
            5 => Fault::CutStream { after_bytes: 10 },
            _ => Fault::Delay(Duration::from_secs(3)),
        };
        let mut rule = Rule::new(fault).method(method).path(path).after(next(3));
        rule = if next(4) == 0 {
            rule.sticky()
        } else {
            rule.times(1 + next(2))
        };
        println!("soak round {round}: {command:?} with {rule:?}");
        for args in setup.iter() {
            case.maestro(args).0.assert_success();
        }
        let fired = case.fired();
        case.cue(rule);
        let (out, _) = case.maestro_within(BOUND, command);
        let stderr = out.stderr();
        assert!(
            !stderr.contains("panicked") && !stderr.contains("stack backtrace"),
            "round {round}: maestro panicked\n{}",
            out.report()
        );
        match out.code() {
            Some(0) => {}
            Some(1) => {
                failed_runs += 1;
                let errors = stderr.lines().filter(|l| l.starts_with("ERROR: ")).count();
                assert_eq!(errors, 1, "round {round}\n{}", out.report());
            }
            other => panic!("round {round}: exit {other:?}\n{}", out.report()),
        }
        if case.fired() > fired {
            fired_rounds += 1;
        }
        // Let a held request's time pass before looking.
        std::thread::sleep(Duration::from_millis(1500));
        case.recovers(command);
    }
    println!(
        "soak: the fault fired in {fired_rounds} rounds of {rounds}, {failed_runs} runs failed"
    );
    assert!(
        fired_rounds * 2 >= rounds,
        "the faults fired in {fired_rounds} rounds only"
    );
    assert!(failed_runs > 0, "no fault made any run fail");
}

// ----------------------------------------------------------- hostile files

/// Peak resident memory (KiB) of `maestro -f FILE dump`, measured with GNU
/// time, and its wall time (for messages); a run still going after `limit` is
/// killed and fails the test.
fn dump_measured(dir: &Path, file: &Path, limit: Duration) -> (Output, u64, Duration) {
    let started = Instant::now();
    let out = TestCommand::new("/usr/bin/time")
        .current_dir(dir)
        .args(["-f", "maxrss-kib=%M"])
        .arg(env!("CARGO_BIN_EXE_maestro"))
        .arg("-f")
        .arg(file)
        .arg("dump")
        .timeout(limit)
        .run();
    let took = started.elapsed();
    let stderr = out.stderr();
    let kib = stderr
        .lines()
        .filter_map(|l| l.strip_prefix("maxrss-kib="))
        .filter_map(|v| v.trim().parse::<u64>().ok())
        .next_back()
        .unwrap_or_else(|| panic!("no GNU time line\n{}", out.report()));
    (out, kib, took)
}

/// How long a hostile file may take to be refused: the limit of its `dump`.
const REFUSAL_LIMIT: Duration = Duration::from_secs(2);

/// A refusal (within [`REFUSAL_LIMIT`], or the run was killed and failed) that
/// says `needle` and used less than 200 MiB.
fn assert_refused_cheaply(out: &Output, kib: u64, needle: &str) {
    assert!(!out.stderr().contains("panicked"), "{}", out.report());
    assert!(
        out.stderr().contains("exited with non-zero status 1") || out.code() == Some(1),
        "expected maestro to exit with status 1\n{}",
        out.report()
    );
    assert!(
        out.stderr()
            .lines()
            .any(|l| l.starts_with("ERROR: ") && l.contains(needle)),
        "no `ERROR:` line saying {needle:?}\n{}",
        out.report()
    );
    assert!(
        kib < 200 * 1024,
        "refusing took {} MiB of memory",
        kib / 1024
    );
}

#[test]
fn hundred_megabyte_file_is_refused_within_2_s_and_200_mib() {
    let dir = Dir::new();
    let mut text = String::with_capacity(100_000_100);
    text.push_str("name: demo\nships:\n  vm1: {ip: 10.0.0.1}\nservices: {}\n");
    let padding = "# padding to make this environment file far too large....\n";
    while text.len() < 100_000_000 {
        text.push_str(padding);
    }
    let file = dir.write("huge.yaml", &text);
    drop(text);
    let (out, kib, took) = dump_measured(dir.path(), &file, REFUSAL_LIMIT);
    println!("100 MB file: {took:?}, {kib} KiB");
    assert_refused_cheaply(&out, kib, "larger than 64 MiB");
}

#[test]
fn alias_bomb_is_refused_within_2_s_and_200_mib() {
    let dir = Dir::new();
    let file = workspace_root().join("tests/fixtures/malformed/alias-bomb.yaml");
    let (out, kib, took) = dump_measured(dir.path(), &file, REFUSAL_LIMIT);
    println!("alias bomb: {took:?}, {kib} KiB");
    assert_refused_cheaply(&out, kib, "alias");
}

/// Writes `text` as an environment file after the smallest valid head.
fn hostile(dir: &Dir, name: &str, body: &[u8]) -> PathBuf {
    let mut bytes = b"name: demo\nships:\n  vm1: {ip: 10.0.0.1}\nservices: {}\n".to_vec();
    bytes.extend_from_slice(body);
    dir.write(name, bytes)
}

fn refused_cheaply(name: &str, body: &[u8], needle: &str) {
    let dir = Dir::new();
    let file = hostile(&dir, name, body);
    let (out, kib, took) = dump_measured(dir.path(), &file, REFUSAL_LIMIT);
    println!("{name}: {took:?}, {kib} KiB\n{}", out.report());
    assert_refused_cheaply(&out, kib, needle);
}

#[test]
fn deep_flow_nesting_is_refused_within_2_s_and_200_mib() {
    let depth = 100_000;
    let body = format!("x: {}{}\n", "[".repeat(depth), "]".repeat(depth));
    refused_cheaply("flow.yaml", body.as_bytes(), "recursion limit");
}

#[test]
fn deep_block_nesting_is_refused_within_2_s_and_200_mib() {
    let mut body = String::from("x:\n");
    for level in 1..3000 {
        body.push_str(&"  ".repeat(level));
        body.push_str("- \n");
    }
    refused_cheaply("block.yaml", body.as_bytes(), "nesting deeper than 256");
}

#[test]
fn deep_template_nesting_is_refused_within_2_s_and_200_mib() {
    let body = format!(
        "{}x: 1\n{}",
        "{% if true %}".repeat(20_000),
        "{% endif %}".repeat(20_000)
    );
    refused_cheaply("jinja.yaml", body.as_bytes(), "recursion");
}

#[test]
fn template_output_bombs_are_refused_within_2_s_and_200_mib() {
    refused_cheaply(
        "range.yaml",
        b"x: \"{% for i in range(100000000) %}abcdefgh{% endfor %}\"\n",
        "too many elements",
    );
    refused_cheaply(
        "repeat.yaml",
        b"x: \"{{ 'x' * 1000000000 }}\"\n",
        "too large",
    );
}

#[test]
fn binary_junk_is_refused_within_2_s_and_200_mib() {
    // 1 MiB of xorshift noise: every byte value, no structure.
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let junk: Vec<u8> = (0..1 << 20)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect();
    refused_cheaply("junk.yaml", &junk, "");
}

/// A template that only spins (10^10 empty loop turns) is stopped by the
/// template fuel: cleanly, in bounded time and memory (the test binary is a
/// debug build, about ten times slower than a release build, where it is
/// stopped after about 1.1 s; see RELIABILITY.md).
#[test]
fn template_cpu_bomb_runs_out_of_fuel() {
    let dir = Dir::new();
    let file = hostile(
        &dir,
        "spin.yaml",
        b"{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}\n",
    );
    // Given two minutes, or killed and failed.
    let (out, kib, took) = dump_measured(dir.path(), &file, Duration::from_secs(120));
    println!("spin: {took:?}, {kib} KiB\n{}", out.report());
    assert!(!out.stderr().contains("panicked"), "{}", out.report());
    assert!(out.stderr().contains("ran out of fuel"), "{}", out.report());
    assert!(kib < 200 * 1024, "{} MiB", kib / 1024);
}
