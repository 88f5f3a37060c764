//! Faults of the engine, end to end (issue 9; the table is RELIABILITY.md):
//! maestro drives the local engine through a [`FaultProxy`] (ship `{ip:
//! 127.0.0.1, docker_port: PROXY, timeout: 2}`) that, on cue, answers 500 (or
//! 404, 409), returns malformed JSON, cuts a stream, answers late, acts late or
//! refuses connections: on create, start, inspect, pull, logs, stop, kill,
//! remove, exec, `/version`; during `start`, `restart`, `up`, `clean`, `status`,
//! `logs [-F]`, `pull`. After each fault: exit status 1 with one readable `ERROR:`
//! line naming the ship or the container, no panic, a bounded run time; `maestro
//! status` (without faults) agrees with the engine; a bystander container outside
//! the play is untouched; re-running the command without the fault converges.
//! Also hostile input files (100 MB, alias bomb, deep nesting, template bombs,
//! binary junk) refused within 2 s and 200 MiB, measured with GNU time.
//!
//! Tests named `…_says_it_was_cut…`/`…_prints_what_came…` assert the right
//! behaviour the suite found missing; they now pass.
//!
//! Every container is named `ft-…` and removed by a [`Cleanup`] guard made first;
//! each test has its own bystander (`ft-bystander-TAG`), as tests run in parallel.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use maestro_testkit::{Backend, Fault, FaultProxy, Rule};

use crate::testbed::{docker, inspect, testbed, Cleanup};
use crate::util::{workspace_root, Dir, Output, TestCommand};

const IMAGE: &str = "maestro-test/box:1";

/// Idles; exits at once on SIGTERM.
const IDLE: &str = r#"["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"]"#;

/// Writes 3,000 numbered lines (about 30 kB), then idles.
const CHATTY: &str = r#"["sh", "-c", "i=0; while [ $i -lt 3000 ]; do i=$((i+1)); echo line-$i-of-the-chatty-box; done; trap 'exit 0' TERM; sleep 3600 & wait"]"#;

/// How long any faulted command may take, with a 2 s ship timeout (generous).
const BOUND: Duration = Duration::from_secs(40);

fn local_host() -> String {
    testbed().local_host()
}

/// One fault scenario: a proxy in front of the local engine, an environment of
/// `instances` (name, extra instance keys) in service `app` on the proxied ship,
/// a bystander container, and the guard that removes them all.
struct Case {
    tag: String,
    names: Vec<String>,
    bystander: String,
    before: Snapshot,
    proxy: FaultProxy,
    /// The proxy of ship `dock2`, where service `b` goes, when there are two ships.
    proxy2: Option<FaultProxy>,
    file: PathBuf,
    _dir: Dir,
    _cleanup: Cleanup,
}

/// What must not change about the bystander.
#[derive(Debug, PartialEq)]
struct Snapshot {
    id: String,
    running: bool,
    started_at: String,
    restarts: u64,
}

fn snapshot(name: &str) -> Snapshot {
    let c = inspect(&local_host(), name).unwrap_or_else(|| panic!("{name} does not exist"));
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
        Case::build(tag, IMAGE, "", services, false)
    }

    /// Services on two ships, each behind its own proxy: service `b` on `dock2`,
    /// the others on `dock`.
    fn two_ships(tag: &str, services: &[(&str, usize, &str, &str)]) -> Case {
        Case::build(tag, IMAGE, "", services, true)
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
            false,
        )
    }

    fn build(
        tag: &str,
        image: &str,
        preamble: &str,
        services: &[(&str, usize, &str, &str)],
        second_ship: bool,
    ) -> Case {
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
            &local_host(),
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
        let before = snapshot(&bystander);
        let proxy = FaultProxy::start(Backend::Unix(testbed().var("TESTBED_LOCAL_SOCKET").into()))
            .expect("the fault proxy starts");
        let mut text = format!(
            "name: ft-{tag}\n{preamble}ships:\n  dock: {{ip: 127.0.0.1, docker_port: {}, timeout: 2}}\n",
            proxy.port()
        );
        let proxy2 = second_ship.then(|| {
            FaultProxy::start(Backend::Unix(testbed().var("TESTBED_LOCAL_SOCKET").into()))
                .expect("the second fault proxy starts")
        });
        if let Some(proxy2) = &proxy2 {
            text.push_str(&format!(
                "  dock2: {{ip: 127.0.0.1, docker_port: {}, timeout: 2}}\n",
                proxy2.port()
            ));
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
        Case {
            tag: tag.to_owned(),
            names,
            bystander,
            before,
            proxy,
            proxy2,
            file,
            _dir: dir,
            _cleanup: cleanup,
        }
    }

    fn cue(&self, rule: Rule) {
        self.proxy.cues().set(rule);
    }

    /// Runs maestro on the environment; returns its output and run time.
    fn maestro(&self, args: &[&str]) -> (Output, Duration) {
        let started = Instant::now();
        let out = TestCommand::maestro()
            .arg("-f")
            .arg(&self.file)
            .args(args)
            .env("NO_COLOR", "1")
            .env_remove("DOCKER_HOST")
            .env_remove("DOCKER_CONTEXT")
            .env_remove("RUST_BACKTRACE")
            .timeout(Duration::from_secs(120))
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
        let (out, took) = self.maestro(args);
        assert!(took < BOUND, "{args:?} took {took:?}\n{}", out.report());
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
        let fired =
            self.proxy.cues().fired() + self.proxy2.as_ref().map_or(0, |p| p.cues().fired());
        assert!(
            fired > 0,
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
        let error = errors[0];
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
        error.to_owned()
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
            snapshot(&self.bystander),
            self.before,
            "the bystander {} was touched",
            self.bystander
        );
        let (out, took) = self.maestro(args);
        out.assert_success();
        assert!(took < BOUND, "{args:?} took {took:?}");
        if matches!(args[0], "start" | "restart" | "up") {
            for name in &self.names {
                assert!(self.running(name), "{name} does not run after the re-run");
            }
            self.status_agrees();
        }
        assert_eq!(
            snapshot(&self.bystander),
            self.before,
            "the bystander {} was touched",
            self.bystander
        );
    }

    fn running(&self, name: &str) -> bool {
        inspect(&local_host(), name)
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
            match inspect(&local_host(), name) {
                None => assert!(
                    line.ends_with(" down") || line.contains("  down"),
                    "{name} does not exist but status says {line:?}"
                ),
                Some(c) if c["State"]["Running"].as_bool() == Some(true) => assert!(
                    line.contains("running"),
                    "{name} runs but status says {line:?}"
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
    let about: Vec<&str> = case.names.iter().map(String::as_str).collect();
    case.fails(&["start"], &about, &[CUED]);
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
    let about: Vec<&str> = case.names.iter().map(String::as_str).collect();
    case.fails(&["start"], &about, &[CUED]);
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
    let about: Vec<&str> = case.names.iter().map(String::as_str).collect();
    case.fails(&["start"], &about, &[CUED]);
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
    let about: Vec<&str> = case.names.iter().map(String::as_str).collect();
    case.fails(&["pull"], &about, &[CUED]);
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
    let about: Vec<&str> = case.names.iter().map(String::as_str).collect();
    case.fails(
        &["start"],
        &about,
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
    let about: Vec<&str> = case.names.iter().map(String::as_str).collect();
    case.fails(
        &["start"],
        &about,
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
    let about: Vec<&str> = case.names.iter().map(String::as_str).collect();
    case.fails(&["start"], &about, &["within 2 s", "timed out", "timeout"]);
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

#[test]
fn engine_500_on_stop_fails_the_stop_and_recovers() {
    let case = Case::new("t500", 2, IDLE);
    case.maestro(&["start"]).0.assert_success();
    case.cue(
        Rule::new(server_error())
            .method("POST")
            .path("/containers/*/stop"),
    );
    let about: Vec<&str> = case.names.iter().map(String::as_str).collect();
    case.fails(&["stop", "-a"], &about, &[CUED]);
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
    let about: Vec<&str> = case.names.iter().map(String::as_str).collect();
    case.fails(
        &["pull"],
        &about,
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
    let about: Vec<&str> = case.names.iter().map(String::as_str).collect();
    let error = case.fails(
        &["pull"],
        &about,
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
    let about: Vec<&str> = case.names.iter().map(String::as_str).collect();
    case.fails(
        &["start"],
        &about,
        &["closed", "connection", "cannot reach"],
    );
    let (out, took) = case.maestro(&["status"]);
    assert!(took < BOUND, "status took {took:?}");
    assert!(!out.stderr().contains("panicked"), "{}", out.report());
    assert!(out.stdout().contains("host down"), "{}", out.report());
    case.recovers(&["start"]);
}

#[test]
fn malformed_version_reply_fails_naming_the_ship() {
    let case = Case::new("vmal", 1, IDLE);
    case.cue(Rule::new(Fault::Malformed).path("/version"));
    let about: Vec<&str> = case.names.iter().map(String::as_str).collect();
    case.fails(
        &["start"],
        &about,
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
            .path("/containers/*/json"),
    );
    let (out, took) = case.maestro(&["status"]);
    assert!(took < BOUND, "status took {took:?}");
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
            .path("/containers/*/json"),
    );
    let (out, took) = case.maestro(&["status"]);
    assert!(
        took < Duration::from_secs(15),
        "status took {took:?}\n{}",
        out.report()
    );
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
    let about: Vec<&str> = case.names.iter().map(String::as_str).collect();
    case.fails(&["start"], &about, &[CUED, "exec"]);
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
    let about: Vec<&str> = case.names.iter().map(String::as_str).collect();
    case.fails(&["start"], &about, &["within 2 s", "timed out", "timeout"]);
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
    let about: Vec<&str> = case.names.iter().map(String::as_str).collect();
    case.fails(&["start"], &about, &["already in use"]);
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
    let about: Vec<&str> = case.names.iter().map(String::as_str).collect();
    case.fails(&["start"], &about, &["no such container"]);
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
    let about: Vec<&str> = case.names.iter().map(String::as_str).collect();
    case.fails(&["restart", "-a"], &about, &[CUED]);
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
    let about: Vec<&str> = case.names.iter().map(String::as_str).collect();
    case.fails(&["kill", "-a"], &about, &[CUED]);
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
    let about: Vec<&str> = case.names.iter().map(String::as_str).collect();
    case.fails(&["clean"], &about, &[CUED]);
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
    let about: Vec<&str> = case.names.iter().map(String::as_str).collect();
    case.fails(&["up"], &about, &[CUED]);
    case.recovers(&["up"]);
}

// ----------------------------------------------------------- hostile files

/// Peak resident memory (KiB) and wall time of `maestro -f FILE dump`, measured
/// with GNU time.
fn dump_measured(dir: &Path, file: &Path) -> (Output, u64, Duration) {
    let started = Instant::now();
    let out = TestCommand::new("/usr/bin/time")
        .current_dir(dir)
        .args(["-f", "maxrss-kib=%M"])
        .arg(env!("CARGO_BIN_EXE_maestro"))
        .arg("-f")
        .arg(file)
        .arg("dump")
        .timeout(Duration::from_secs(150))
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

fn assert_refused_cheaply(out: &Output, kib: u64, took: Duration, needle: &str) {
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
    assert!(took < Duration::from_secs(2), "refusing took {took:?}");
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
    let (out, kib, took) = dump_measured(dir.path(), &file);
    println!("100 MB file: {took:?}, {kib} KiB");
    assert_refused_cheaply(&out, kib, took, "larger than 64 MiB");
}

#[test]
fn alias_bomb_is_refused_within_2_s_and_200_mib() {
    let dir = Dir::new();
    let file = workspace_root().join("tests/fixtures/malformed/alias-bomb.yaml");
    let (out, kib, took) = dump_measured(dir.path(), &file);
    println!("alias bomb: {took:?}, {kib} KiB");
    assert_refused_cheaply(&out, kib, took, "alias");
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
    let (out, kib, took) = dump_measured(dir.path(), &file);
    println!("{name}: {took:?}, {kib} KiB\n{}", out.report());
    assert_refused_cheaply(&out, kib, took, needle);
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
/// template fuel: cleanly, in bounded time and memory. Measured: 4.4 s in a
/// release build, ~40 s of CPU in a debug build, hence ignored by default; the
/// 2 s target the other hostile files meet is not met (see RELIABILITY.md).
#[test]
#[ignore = "costs ~40 s of CPU in a debug build; run by hand"]
fn template_cpu_bomb_runs_out_of_fuel() {
    let dir = Dir::new();
    let file = hostile(
        &dir,
        "spin.yaml",
        b"{% for a in range(100000) %}{% for b in range(100000) %}{% endfor %}{% endfor %}\n",
    );
    let (out, kib, took) = dump_measured(dir.path(), &file);
    println!("spin: {took:?}, {kib} KiB\n{}", out.report());
    assert!(!out.stderr().contains("panicked"), "{}", out.report());
    assert!(out.stderr().contains("ran out of fuel"), "{}", out.report());
    assert!(kib < 200 * 1024, "{} MiB", kib / 1024);
    assert!(took < Duration::from_secs(120), "took {took:?}");
}
