//! Interruptions in the middle of a play, end to end on the test bed's
//! engines: Ctrl-C (SIGINT) during `start`, at one point and at twenty points
//! of a ten-container start picked by a seeded schedule, and twice (quit at
//! once); ship2's link cut while `start` is in flight and while `status`
//! runs; the SSH session of an `ssh_tunnel` ship dropped (and its link cut)
//! during a play.
//!
//! After each fault: the exit status and the message; no hang past the
//! timeouts (every run is bounded); each container's line in the report is
//! consistent with the engine (`aborted (untouched)`: absent; `started`:
//! running; nothing on the engine the report does not account for); `maestro
//! status` agrees with the engine; a bystander container outside the play
//! kept its id, state, start time and restart count; and re-running `start`
//! converges (exit 0, every container running).
//!
//! Containers are named `ei-<test>-…` and removed by a [`Cleanup`] guard
//! made before anything starts. Tests that touch ship2 hold `use_ships()`;
//! those that cut its link or kill its SSH sessions hold `cut_ships()`.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::engine_support::{
    assert_code, error_line, error_lines, head, instance, line_of, local, maestro, maestro_within,
    now_nanos, running, service, ship2, IDLE, IMAGE,
};
use crate::testbed::{cut_ships, docker, inspect, testbed, testbed_script, Cleanup, Heal};
use crate::util::{Dir, Output};

#[test]
fn sigint_stops_launching_and_reports_each_container() {
    let bed = testbed();
    let dir = Dir::new();
    // A chain a <- b <- c <- d; each container holds its start for 3 s in a
    // running check, so the interrupt lands while `a` is in flight.
    let mut yaml = head("ir", &[("local", bed.local_ship())]);
    let names = ["ir-a-1", "ir-b-1", "ir-c-1", "ir-d-1"];
    let mut previous: Option<&str> = None;
    for (service, name) in ["a", "b", "c", "d"].iter().zip(names) {
        yaml.push_str(&format!(
            "  {service}:\n    image: {IMAGE}\n{}    lifecycle: {{running: [{{type: sleep, wait: 3}}]}}\n    instances:\n      {name}: {{ship: local, command: sleep 600, stop_timeout: 1}}\n",
            previous.map(|p| format!("    requires: [{p}]\n")).unwrap_or_default()
        ));
        previous = Some(service);
    }
    dir.write("maestro.yaml", &yaml);
    let _cleanup = Cleanup::new(&names);

    let mut child = Command::new(env!("CARGO_BIN_EXE_maestro"))
        .args(["-f", "maestro.yaml", "start"])
        .current_dir(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("maestro starts");
    // Wait until `a` exists on the engine, i.e. its start is under way.
    let began = Instant::now();
    while inspect(&bed.local_host(), "ir-a-1").is_none() {
        assert!(
            began.elapsed() < Duration::from_secs(30),
            "ir-a-1 never appeared"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let kill = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(kill.success());
    let interrupted = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait works") {
            break status;
        }
        assert!(
            interrupted.elapsed() < Duration::from_secs(30),
            "maestro did not end after SIGINT"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let output = child.wait_with_output().expect("maestro's output");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let report = format!("--- stdout\n{stdout}--- stderr\n{stderr}");

    assert_eq!(status.code(), Some(1), "{report}");
    assert!(stderr.contains("Interrupted"), "{report}");
    assert!(stderr.contains("start interrupted"), "{report}");
    // `a` was in flight: it finished its start (its check passed) and runs.
    let a_line = stdout.lines().find(|l| l.contains("ir-a-1")).unwrap_or("");
    assert!(a_line.contains("started"), "{report}");
    let a = inspect(&bed.local_host(), "ir-a-1").expect("ir-a-1 exists");
    assert_eq!(a["State"]["Running"], true, "{report}");
    // The others never began: reported as untouched, and absent on the engine.
    for name in &names[1..] {
        let line = stdout.lines().find(|l| l.contains(name)).unwrap_or("");
        assert!(line.contains("aborted (untouched)"), "{name}: {report}");
        assert!(
            inspect(&bed.local_host(), name).is_none(),
            "{name} was created: {report}"
        );
    }
}

// ------------------------------------------------------------------ helpers

/// A `maestro -f FILE ARGS…` process running in the background (in the
/// file's directory, without colours or the caller's Docker settings), its
/// output collected as it comes. Killed when dropped unfinished, so a
/// failing test leaves no maestro behind.
struct Running {
    child: Child,
    command: String,
    started: Instant,
    stdout: Option<JoinHandle<Vec<u8>>>,
    stderr: Option<JoinHandle<Vec<u8>>>,
    done: bool,
}

fn collect<R: Read + Send + 'static>(mut source: R) -> JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut buffer = Vec::new();
        let _ = source.read_to_end(&mut buffer);
        buffer
    })
}

fn spawn_maestro(file: &Path, args: &[&str]) -> Running {
    let mut command = Command::new(env!("CARGO_BIN_EXE_maestro"));
    command.env("HOME", crate::testbed::ssh_home());
    let mut child = command
        .env_remove("SSH_AUTH_SOCK")
        .arg("-f")
        .arg(file)
        .args(args)
        .current_dir(file.parent().expect("the file is in a directory"))
        .env("NO_COLOR", "1")
        .env_remove("DOCKER_CONTEXT")
        .env_remove("DOCKER_HOST")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("maestro starts");
    let stdout = collect(child.stdout.take().expect("stdout is piped"));
    let stderr = collect(child.stderr.take().expect("stderr is piped"));
    Running {
        child,
        command: format!("maestro -f {} {}", file.display(), args.join(" ")),
        started: Instant::now(),
        stdout: Some(stdout),
        stderr: Some(stderr),
        done: false,
    }
}

impl Running {
    fn finished(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(Some(_)))
    }

    /// Sends SIGINT (what Ctrl-C sends).
    fn interrupt(&self) {
        let status = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -INT {} failed", self.child.id());
    }

    /// Waits for the end, at most `limit` from now; a process still running
    /// then is a hang: killed, and the test fails with what it printed.
    /// Returns the output and the time from the spawn to the end.
    fn wait(mut self, limit: Duration) -> (Output, Duration) {
        let deadline = Instant::now() + limit;
        let status = loop {
            if let Some(status) = self.child.try_wait().expect("waiting works") {
                break Some(status);
            }
            if Instant::now() >= deadline {
                break None;
            }
            std::thread::sleep(Duration::from_millis(10));
        };
        let took = self.started.elapsed();
        let hung = status.is_none();
        if hung {
            let _ = self.child.kill();
        }
        let status = match status {
            Some(status) => status,
            None => self.child.wait().expect("waiting works"),
        };
        self.done = true;
        let out = Output {
            command: self.command.clone(),
            status,
            stdout: self
                .stdout
                .take()
                .map(|h| h.join().unwrap_or_default())
                .unwrap_or_default(),
            stderr: self
                .stderr
                .take()
                .map(|h| h.join().unwrap_or_default())
                .unwrap_or_default(),
        };
        assert!(
            !hung,
            "HANG: `{}` still ran {took:?} after its start ({limit:?} after the wait began); killed\n{}",
            self.command,
            out.report()
        );
        (out, took)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if !self.done {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The engine's `create` and `start` events of environment `env_name` (by
/// maestro's label), from now on, as `(action, container name)`, streamed
/// by `docker events` (from a `--since` taken before anything runs, so no
/// event is missed however late the stream opens).
struct Events {
    child: Child,
    lines: mpsc::Receiver<(String, String)>,
}

fn watch_events(host: &str, env_name: &str) -> Events {
    let now = now_nanos();
    let since = format!("{}.{:09}", now / 1_000_000_000, now % 1_000_000_000);
    let mut child = Command::new("docker")
        .args(["-H", host, "events", "--since", &since])
        .args(["--filter", "type=container"])
        .args([
            "--filter",
            &format!("label=io.maestro.environment={env_name}"),
        ])
        .args(["--filter", "event=create", "--filter", "event=start"])
        .args(["--format", "{{.Action}} {{.Actor.Attributes.name}}"])
        .env_remove("DOCKER_CONTEXT")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("docker events runs");
    let stdout = child.stdout.take().expect("stdout is piped");
    let (send, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { return };
            if let Some((action, name)) = line.trim().split_once(' ') {
                if send.send((action.to_owned(), name.to_owned())).is_err() {
                    return;
                }
            }
        }
    });
    Events { child, lines }
}

impl Events {
    /// The next event, waiting at most `limit`.
    fn next(&self, limit: Duration) -> Option<(String, String)> {
        self.lines.recv_timeout(limit).ok()
    }

    /// Waits (at most `limit`) until `action` happened to `name`; the
    /// events seen meanwhile are returned.
    fn until(&self, action: &str, name: &str, limit: Duration) -> Vec<(String, String)> {
        let deadline = Instant::now() + limit;
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.next(left) {
                Some(event) => {
                    let hit = event.0 == action && event.1 == name;
                    seen.push(event);
                    if hit {
                        return seen;
                    }
                }
                None => panic!("no `{action}` event for {name} within {limit:?}; saw {seen:?}"),
            }
        }
    }
}

impl Drop for Events {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A container outside the play, made with the `docker` CLI; nothing maestro
/// does may touch it.
struct Bystander {
    host: String,
    name: String,
    before: String,
}

/// Id, state, start time and restart count of a container.
fn fingerprint(host: &str, name: &str) -> String {
    docker(
        host,
        &[
            "inspect",
            "-f",
            "{{.Id}} {{.State.Status}} {{.State.StartedAt}} {{.RestartCount}}",
            name,
        ],
    )
    .trim()
    .to_owned()
}

impl Bystander {
    /// Runs `name` on `host` (a [`Cleanup`] guard must name it).
    fn new(host: &str, name: &str) -> Bystander {
        docker(host, &["run", "-d", "--name", name, IMAGE, "sleep", "3600"]);
        Bystander {
            host: host.to_owned(),
            name: name.to_owned(),
            before: fingerprint(host, name),
        }
    }

    fn assert_untouched(&self, context: &str) {
        let now = fingerprint(&self.host, &self.name);
        assert_eq!(
            now, self.before,
            "the bystander {} (outside the play) was touched ({context})",
            self.name
        );
        assert!(self.before.contains(" running "), "{}", self.before);
    }
}

/// What the report of a play says about a container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Said {
    Started,
    Untouched,
    Failed,
    Up,
}

/// Reads the line of `name` in a `start` report (one line per container).
fn said(out: &Output, name: &str) -> Said {
    let line = line_of(out, name);
    if line.contains("aborted (untouched)") {
        Said::Untouched
    } else if line.contains("failed:") {
        Said::Failed
    } else if line.contains("started (") {
        Said::Started
    } else if line.contains(" up ") || line.contains(" up for ") {
        Said::Up
    } else {
        panic!(
            "unexpected report line for {name}: {line:?}\n{}",
            out.report()
        )
    }
}

/// The containers on `host` whose name contains `fragment`: name → state
/// (`running`, `created`, `exited`, …).
fn engine_containers(host: &str, fragment: &str) -> BTreeMap<String, String> {
    docker(
        host,
        &[
            "ps",
            "-a",
            "--no-trunc",
            "--filter",
            &format!("name={fragment}"),
            "--format",
            "{{.Names}}\t{{.State}}",
        ],
    )
    .lines()
    .filter_map(|l| l.split_once('\t'))
    .map(|(n, s)| (n.to_owned(), s.to_owned()))
    .collect()
}

/// Checks one container's report line against its engine: `started` (or
/// `up`) means running, `aborted (untouched)` absent; a failed one may be
/// anything, but must be reported as failed. Returns what was said.
fn assert_line_matches_engine(out: &Output, name: &str, host: &str, context: &str) -> Said {
    let said = said(out, name);
    let found = inspect(host, name);
    let state = found
        .as_ref()
        .and_then(|c| c["State"]["Status"].as_str().map(str::to_owned));
    match said {
        Said::Started | Said::Up => assert_eq!(
            state.as_deref(),
            Some("running"),
            "{name} is reported {said:?} but the engine has it {state:?} ({context})\n{}",
            out.report()
        ),
        Said::Untouched => assert!(
            found.is_none(),
            "{name} is reported `aborted (untouched)` but exists on the engine ({state:?}) ({context})\n{}",
            out.report()
        ),
        Said::Failed => {}
    }
    said
}

/// A re-run of `start` succeeds (within 60 s), every container in `placed`
/// (name, `docker -H` address) runs, and `status` agrees with the engines.
fn assert_rerun_converges(file: &Path, ships: &[(&str, String)], placed: &[(&str, String)]) {
    let rerun = spawn_maestro(file, &["start"])
        .wait(Duration::from_secs(60))
        .0;
    assert_code(&rerun, 0);
    for (name, h) in placed {
        assert!(
            running(h, name),
            "{name} not running after the re-run\n{}",
            rerun.report()
        );
    }
    assert_status_agrees(file, ships, &[], "after the re-run");
}

/// `maestro status --json`, its rows checked against each ship's engine
/// (`ships`: ship name → `docker -H` address): `running`, `stopped` and
/// `absent` as the engine has the container, the id its prefix. Rows of
/// ships in `down` must say `host down`. Returns name → state.
fn assert_status_agrees(
    file: &Path,
    ships: &[(&str, String)],
    down: &[&str],
    context: &str,
) -> BTreeMap<String, String> {
    // A status that hangs is killed after 20 s and fails the test.
    let out = maestro_within(file, &["status", "--json"], Duration::from_secs(20));
    assert_code(&out, 0);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("status --json is not JSON: {e}\n{}", out.report()));
    let mut states = BTreeMap::new();
    for row in doc["containers"].as_array().expect("containers") {
        let name = row["name"].as_str().expect("name");
        let ship = row["ship"].as_str().expect("ship");
        let state = row["state"].as_str().unwrap_or("?");
        states.insert(name.to_owned(), state.to_owned());
        if down.contains(&ship) {
            assert_eq!(
                state,
                "host down",
                "{name} on the cut ship {ship} ({context})\n{}",
                out.report()
            );
            continue;
        }
        let host = &ships
            .iter()
            .find(|(s, _)| *s == ship)
            .unwrap_or_else(|| panic!("no engine for ship {ship}"))
            .1;
        let found = inspect(host, name);
        let expected = match &found {
            None => "absent",
            Some(c) if c["State"]["Running"] == true => "running",
            Some(_) => "stopped",
        };
        assert_eq!(
            state,
            expected,
            "status says {name} is {state}, its engine has it {expected} ({context})\n{}",
            out.report()
        );
        if let Some(c) = &found {
            let id = c["Id"].as_str().unwrap_or("");
            let shown = row["id"].as_str().unwrap_or("-");
            assert!(
                id.starts_with(shown) && shown.len() >= 12,
                "status shows id {shown} for {name}, the engine {id} ({context})"
            );
        }
    }
    states
}

/// Removes containers from an engine (those absent are ignored).
fn remove(host: &str, names: &[String]) {
    let _ = Command::new("docker")
        .args(["-H", host, "rm", "-f", "-v"])
        .args(names)
        .env_remove("DOCKER_CONTEXT")
        .output();
}

/// A small, seeded pseudo-random generator (SplitMix64): the same seed, the
/// same schedule.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

// ------------------------------------ 1. SIGINT at twenty points of a start

/// The seed of the interruption schedule (override with
/// `MAESTRO_INTERRUPT_SEED=N` to try another).
const SEED: u64 = 20_240_009;

/// Ten containers in three chains of different paces joined by a last one:
/// a1 <- a2 <- a3 <- a4, b1 <- b2 <- b3, c1 <- c2 (running checks of 0.2,
/// 0.3 and 0.4 s), and d requiring a4, b3 and c2 (a 1 s check, so even the
/// last start event leaves d in flight). The chains interleave, so each of
/// the 20 create/start events of a start is a different moment: a different
/// set of containers done, in flight, and not begun.
const SCHEDULE_SERVICES: &[(&str, &[&str], &str)] = &[
    ("a1", &[], "0.2"),
    ("a2", &["a1"], "0.2"),
    ("a3", &["a2"], "0.2"),
    ("a4", &["a3"], "0.2"),
    ("b1", &[], "0.3"),
    ("b2", &["b1"], "0.3"),
    ("b3", &["b2"], "0.3"),
    ("c1", &[], "0.4"),
    ("c2", &["c1"], "0.4"),
    ("d", &["a4", "b3", "c2"], "1"),
];

/// For each of 20 points of a ten-container start (after the k-th create or
/// start event on the engine, k = 1…20, in an order and with an extra delay
/// of 0–120 ms drawn from a fixed seed), SIGINT lands while the start is in
/// flight; then: exit 1 with `start interrupted`; every container has a
/// line, `started` ones run, `aborted (untouched)` ones do not exist, nothing
/// else of the environment exists on the engine; no container started before
/// the containers it requires; the summary counts match; `status` agrees
/// with the engine; the bystander is untouched; re-running `start` exits 0
/// with all ten running. The ten are removed before the next point.
#[test]
fn sigint_at_twenty_points_of_a_ten_container_start() {
    let bed = testbed();
    let env_name = "ei-sched";
    let seed = std::env::var("MAESTRO_INTERRUPT_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(SEED);
    let names: Vec<String> = SCHEDULE_SERVICES
        .iter()
        .map(|(s, _, _)| format!("ei-sched-{s}"))
        .collect();
    let bystander_name = "ei-bystander-sched";
    let mut guarded = names.clone();
    guarded.push(bystander_name.to_owned());
    let _cleanup = Cleanup::new(&guarded);
    let dir = Dir::new();
    let mut text = head(env_name, &[("local", bed.local_ship())]);
    for (svc, requires, wait) in SCHEDULE_SERVICES {
        let mut extra = vec![format!(
            "lifecycle: {{running: [{{type: sleep, wait: {wait}}}]}}"
        )];
        if !requires.is_empty() {
            extra.push(format!("requires: [{}]", requires.join(", ")));
        }
        let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
        text.push_str(&service(
            svc,
            IMAGE,
            &extra,
            &[instance(&format!("ei-sched-{svc}"), "local", IDLE, "")],
        ));
    }
    let file = dir.write("maestro.yaml", text);
    let host = local();
    let bystander = Bystander::new(&host, bystander_name);
    let ships = [("local", host.clone())];

    // The schedule: every event index once, in a seeded order, each with a
    // seeded extra delay.
    let mut rng = SplitMix(seed);
    let mut points: Vec<(usize, u64)> = (1..=2 * names.len()).map(|k| (k, 0)).collect();
    for i in (1..points.len()).rev() {
        let j = rng.below(i as u64 + 1) as usize;
        points.swap(i, j);
    }
    for point in points.iter_mut() {
        point.1 = rng.below(121);
    }
    println!("seed {seed}: schedule (after event k, + ms) {points:?}");

    let whole = Instant::now();
    let mut summary = Vec::new();
    let mut outcomes = BTreeSet::new();
    for (round, &(k, extra_ms)) in points.iter().enumerate() {
        let context = format!(
            "seed {seed}, round {}/{} : SIGINT after event {k} + {extra_ms} ms",
            round + 1,
            points.len()
        );
        let events = watch_events(&host, env_name);
        let mut run = spawn_maestro(&file, &["start"]);
        let mut seen = Vec::new();
        for i in 1..=k {
            match events.next(Duration::from_secs(30)) {
                Some(event) => seen.push(event),
                None => panic!("event {i} of {k} never came; saw {seen:?} ({context})"),
            }
        }
        std::thread::sleep(Duration::from_millis(extra_ms));
        assert!(
            !run.finished(),
            "the start ended before the interrupt: the point is not inside ({context})"
        );
        run.interrupt();
        let interrupted = Instant::now();
        let (out, _) = run.wait(Duration::from_secs(30));
        let wind_down = interrupted.elapsed();
        drop(events);

        // The exit status and the message.
        let stderr = out.stderr();
        assert_eq!(out.code(), Some(1), "{context}\n{}", out.report());
        assert!(!stderr.contains("panicked"), "{context}\n{}", out.report());
        assert!(
            stderr.contains("Interrupted"),
            "{context}\n{}",
            out.report()
        );
        assert_eq!(
            error_line(&out),
            "ERROR: start interrupted; each container's state is shown above",
            "{context}"
        );
        // Each container's line against the engine.
        let mut started = BTreeSet::new();
        let mut untouched = 0;
        for name in &names {
            match assert_line_matches_engine(&out, name, &host, &context) {
                Said::Started => {
                    started.insert(name.clone());
                }
                Said::Untouched => untouched += 1,
                other => panic!(
                    "{name} reported {other:?} after an interrupt ({context})\n{}",
                    out.report()
                ),
            }
        }
        // Nothing of the environment on the engine but what was started.
        let present = engine_containers(&host, "ei-sched-");
        for (name, state) in &present {
            assert!(
                started.contains(name),
                "{name} exists on the engine ({state}) but the report does not say it was started ({context})\n{}",
                out.report()
            );
        }
        // A container started only after the containers it requires.
        for (svc, requires, _) in SCHEDULE_SERVICES {
            if started.contains(&format!("ei-sched-{svc}")) {
                for r in *requires {
                    assert!(
                        started.contains(&format!("ei-sched-{r}")),
                        "{svc} started but {r}, which it requires, did not ({context})\n{}",
                        out.report()
                    );
                }
            }
        }
        let counts = format!("start: {} done, {untouched} aborted in ", started.len());
        let counts = if untouched == 0 {
            format!("start: {} done in ", started.len())
        } else {
            counts
        };
        assert!(
            out.stdout().contains(&counts),
            "no `{counts}…` summary ({context})\n{}",
            out.report()
        );
        assert_status_agrees(&file, &ships, &[], &context);
        bystander.assert_untouched(&context);

        // The re-run converges.
        let rerun = maestro(&file, &["start"]);
        assert_eq!(rerun.code(), Some(0), "{context}\n{}", rerun.report());
        for name in &names {
            assert!(
                running(&host, name),
                "{name} not running after the re-run ({context})\n{}",
                rerun.report()
            );
            let again = said(&rerun, name);
            let expected = if started.contains(name) {
                Said::Up
            } else {
                Said::Started
            };
            assert_eq!(again, expected, "{name} in the re-run ({context})");
        }
        bystander.assert_untouched(&context);
        summary.push(format!(
            "event {k:>2} + {extra_ms:>3} ms: {:>2} started, {untouched:>2} untouched; ended {:.2} s after SIGINT",
            started.len(),
            wind_down.as_secs_f64()
        ));
        outcomes.insert(started);
        remove(&host, &names);
    }
    println!(
        "seed {seed}: 20 interrupted starts in {:.1} s\n{}",
        whole.elapsed().as_secs_f64(),
        summary.join("\n")
    );
    println!("{} distinct sets of started containers", outcomes.len());
}

/// A second Ctrl-C quits at once: SIGINT while `a` is in its 600 s running
/// check, then again 0.3 s later. maestro exits 130 (within 30 s, so not
/// waiting for the check), saying that containers in flight may be left
/// half-done; `a` (started before its check) runs, `b` (not begun) does not
/// exist; `status` agrees with the engine; the bystander is untouched; the
/// re-run finds `a` up, starts `b` and exits 0.
#[test]
fn second_sigint_quits_at_once_and_the_rerun_converges() {
    twice_interrupted("twice", |_| {});
}

/// As above, and the container left in flight by the second Ctrl-C is named
/// somewhere (stdout or stderr), so that a user knows which container may be
/// half-done.
#[test]
fn second_sigint_names_the_containers_left_in_flight() {
    twice_interrupted("twice2", |out| {
        let line = "  ei-twice2-a on ship local: running its `running` checks";
        assert!(
            out.stderr().lines().any(|l| l == line),
            "`{line}`: the container in flight at the second SIGINT and its step are not named\n{}",
            out.report()
        );
        assert!(
            !out.stderr().contains("ei-twice2-b on ship"),
            "b never began, so it was not in flight\n{}",
            out.report()
        );
    });
}

/// The scenario of the two tests above; `extra` checks the output of the
/// interrupted run.
fn twice_interrupted(tag: &str, extra: impl FnOnce(&Output)) {
    let bed = testbed();
    let env_name = format!("ei-{tag}");
    let (a, b) = (format!("ei-{tag}-a"), format!("ei-{tag}-b"));
    let names = [a.as_str(), b.as_str()];
    let bystander_name = format!("ei-bystander-{tag}");
    let _cleanup = Cleanup::new(&[names[0], names[1], bystander_name.as_str()]);
    let dir = Dir::new();
    let mut text = head(&env_name, &[("local", bed.local_ship())]);
    // a's running check lasts ten minutes: only a quit that does not wait
    // for it ends within the wait below.
    text.push_str(&one("a", names[0], "local", "600", &[]));
    text.push_str(&one("b", names[1], "local", "0.2", &["a"]));
    let file = dir.write("maestro.yaml", text);
    let host = local();
    let ships = [("local", host.clone())];
    let bystander = Bystander::new(&host, &bystander_name);

    let events = watch_events(&host, &env_name);
    let mut run = spawn_maestro(&file, &["start"]);
    events.until("start", names[0], Duration::from_secs(30));
    run.interrupt();
    std::thread::sleep(Duration::from_millis(300));
    assert!(!run.finished(), "maestro ended at the first SIGINT");
    run.interrupt();
    let second = Instant::now();
    // Given 30 s, not the 600 s left of a's check.
    let (out, _) = run.wait(Duration::from_secs(30));
    let after = second.elapsed();
    println!("ended {after:?} after the second SIGINT\n{}", out.report());
    assert_eq!(out.code(), Some(130), "{}", out.report());
    assert!(!out.stderr().contains("panicked"), "{}", out.report());
    assert!(
        out.stderr()
            .contains("Interrupted again: quitting; these containers were in flight and may be left half-done"),
        "{}",
        out.report()
    );
    extra(&out);
    assert!(running(&host, names[0]), "{}", out.report());
    assert!(inspect(&host, names[1]).is_none(), "{}", out.report());
    assert_status_agrees(&file, &ships, &[], "after two SIGINTs");
    bystander.assert_untouched("after two SIGINTs");

    // The re-run with a's check shortened to 0.2 s (a started longer ago
    // than that, so it is not checked again: with the ten-minute check it
    // would be, a's checks never having passed).
    let mut text = head(&env_name, &[("local", bed.local_ship())]);
    text.push_str(&one("a", names[0], "local", "0.2", &[]));
    text.push_str(&one("b", names[1], "local", "0.2", &["a"]));
    let file = dir.write("maestro.yaml", text);
    let rerun = maestro(&file, &["start"]);
    assert_code(&rerun, 0);
    assert_eq!(said(&rerun, names[0]), Said::Up, "{}", rerun.report());
    assert_eq!(said(&rerun, names[1]), Said::Started, "{}", rerun.report());
    assert!(running(&host, names[1]), "{}", rerun.report());
    bystander.assert_untouched("after the re-run");
}

// ------------------------------------------------ 2. ship2 cut mid-start

/// ship2 over plain TCP with a `timeout` (seconds).
fn ship2_tcp_timeout(timeout: u32) -> String {
    let bed = testbed();
    format!(
        "{{ip: {}, docker_port: {}, timeout: {timeout}}}",
        bed.var("TESTBED_SHIP2_IP"),
        bed.var("TESTBED_SHIP2_PORT")
    )
}

/// ship2 through an SSH tunnel with a `timeout` (seconds).
fn ship2_ssh_timeout(timeout: u32) -> String {
    let bed = testbed();
    format!(
        "{{ip: {}, docker_port: {}, timeout: {timeout}, ssh_tunnel: {{user: {}, key: {}, port: {}}}}}",
        bed.var("TESTBED_SHIP2_IP"),
        bed.var("TESTBED_SHIP2_PORT"),
        bed.var("TESTBED_SSH_USER"),
        bed.var("TESTBED_SSH_KEY"),
        bed.var("TESTBED_SSH_PORT")
    )
}

/// One single-instance service: `svc` runs `name` on `ship`, with a `sleep`
/// running check of `wait` seconds, requiring `requires`.
fn one(svc: &str, name: &str, ship: &str, wait: &str, requires: &[&str]) -> String {
    let mut extra = vec![format!(
        "lifecycle: {{running: [{{type: sleep, wait: {wait}}}]}}"
    )];
    if !requires.is_empty() {
        extra.push(format!("requires: [{}]", requires.join(", ")));
    }
    let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
    service(svc, IMAGE, &extra, &[instance(name, ship, IDLE, "")])
}

/// After a play that failed on one ship: exactly one `ERROR:` line, naming
/// `ship`; no panic; each container's line consistent with its engine (read
/// through the engines' unix sockets, which a cut does not reach); nothing
/// of the environment on an engine that the report calls untouched. Returns
/// what the report said of each container.
fn assert_failed_on_ship(
    out: &Output,
    ship: &str,
    placed: &[(&str, String)],
    fragment: &str,
    context: &str,
) -> BTreeMap<String, Said> {
    assert_code(out, 1);
    assert!(
        !out.stderr().contains("panicked") && !out.stderr().contains("RUST_BACKTRACE"),
        "{}",
        out.report()
    );
    let errors = error_lines(out);
    assert_eq!(
        errors.len(),
        1,
        "expected one ERROR line ({context})\n{}",
        out.report()
    );
    assert!(
        errors[0].contains(&format!("ship {ship}")),
        "the error does not name ship {ship} ({context}): {}\n{}",
        errors[0],
        out.report()
    );
    let mut said = BTreeMap::new();
    for (name, host) in placed {
        said.insert(
            name.to_string(),
            assert_line_matches_engine(out, name, host, context),
        );
    }
    let mut hosts: Vec<&String> = placed.iter().map(|(_, h)| h).collect();
    hosts.dedup();
    for host in hosts {
        for (name, state) in engine_containers(host, fragment) {
            let what = said.get(&name).copied();
            assert!(
                matches!(what, Some(Said::Started | Said::Failed | Said::Up)),
                "{name} exists on {host} ({state}) but the report says {what:?} ({context})\n{}",
                out.report()
            );
        }
    }
    assert!(
        said.values().any(|s| *s == Said::Failed),
        "no container reported failed ({context})\n{}",
        out.report()
    );
    said
}

/// ship2's link is cut while `start` is in flight on ship2 and on the local
/// ship (ship2's first container just created, the local one in its 4 s
/// running check). The run ends well within its bounds with exit 1 and one
/// ERROR line naming ship2; the local container in flight finished and runs;
/// every line agrees with the engines; `status` meanwhile says `host down`
/// for ship2's containers and the truth for the local ones; after the heal,
/// status agrees with both engines, the bystanders (one per engine) are
/// untouched, and re-running `start` converges.
#[test]
fn ship_cut_in_the_middle_of_start_fails_naming_it_and_recovers() {
    let _ships = cut_ships();
    let bed = testbed();
    let env_name = "ei-cut";
    let names = [
        "ei-cut-l1",
        "ei-cut-l2",
        "ei-cut-s1",
        "ei-cut-s2",
        "ei-cut-s3",
    ];
    let bystander_name = "ei-bystander-cut";
    let mut guarded: Vec<&str> = names.to_vec();
    guarded.push(bystander_name);
    let _cleanup = Cleanup::new(&guarded);
    let dir = Dir::new();
    let mut text = head(
        env_name,
        &[("local", bed.local_ship()), ("ship2", ship2_tcp_timeout(3))],
    );
    text.push_str(&one("l1", names[0], "local", "4", &[]));
    text.push_str(&one("l2", names[1], "local", "0.2", &["l1"]));
    text.push_str(&one("s1", names[2], "ship2", "1", &[]));
    text.push_str(&one("s2", names[3], "ship2", "0.2", &["s1"]));
    text.push_str(&one("s3", names[4], "ship2", "0.2", &["s2"]));
    let file = dir.write("maestro.yaml", text);
    let (host, host2) = (local(), ship2());
    let ships = [("local", host.clone()), ("ship2", host2.clone())];
    let placed: Vec<(&str, String)> = names
        .iter()
        .map(|n| {
            let h = if n.contains("-l") { &host } else { &host2 };
            (*n, h.clone())
        })
        .collect();
    let bystander = Bystander::new(&host, bystander_name);
    let bystander2 = Bystander::new(&host2, bystander_name);

    let local_events = watch_events(&host, env_name);
    let ship2_events = watch_events(&host2, env_name);
    let run = spawn_maestro(&file, &["start"]);
    local_events.until("create", names[0], Duration::from_secs(30));
    ship2_events.until("create", names[2], Duration::from_secs(30));
    let _heal = Heal("ship2");
    testbed_script(&["cut", "ship2"]);
    let cut = Instant::now();
    // Within the timeouts: the local check (4 s) and a few calls of 3 s; a
    // run still going 30 s after the cut is a hang.
    let (out, took) = run.wait(Duration::from_secs(30));
    let after_cut = cut.elapsed();
    println!(
        "start with ship2 cut mid-way: ended {after_cut:.2?} after the cut ({took:.2?} in all)\n{}",
        out.report()
    );
    let context = "ship2 cut mid-start";
    let said = assert_failed_on_ship(&out, "ship2", &placed, "ei-cut-", context);
    // The local container in flight finished its start.
    assert_eq!(said[names[0]], Said::Started, "{}", out.report());
    for (name, what) in &said {
        if *what == Said::Failed {
            assert!(
                name.contains("-s"),
                "{name} failed though its ship was not cut\n{}",
                out.report()
            );
            assert!(
                line_of(&out, name).contains("ship ship2"),
                "{}",
                out.report()
            );
        }
    }

    // While ship2 is still cut: host down there, the truth locally.
    assert_status_agrees(&file, &ships, &["ship2"], "ship2 still cut");
    testbed_script(&["heal", "ship2"]);
    assert_status_agrees(&file, &ships, &[], "ship2 healed");
    bystander.assert_untouched(context);
    bystander2.assert_untouched(context);

    assert_rerun_converges(&file, &ships, &placed);
    bystander.assert_untouched(context);
    bystander2.assert_untouched(context);
}

/// ship2's link is cut while `status -c 1` runs (one container at a time:
/// a local one, two running on ship2, then 150 never created there, so that
/// a status takes long enough to be cut), at three moments spread over an
/// uncut status (measured first). Each status ends within its bound (ship
/// timeout 2 s) with exit 0 and one row per container: the local one
/// `running`; ship2's as its engine has them (read through its unix socket)
/// or `host down`, and `host down` from the first on (a ship that stopped
/// answering is not asked again for each container); once healed, status
/// agrees with both engines again.
#[test]
fn ship_cut_while_status_runs_is_bounded() {
    let _ships = cut_ships();
    let bed = testbed();
    let env_name = "ei-scut";
    let mut names = vec![
        "ei-scut-l1".to_owned(),
        "ei-scut-s1".to_owned(),
        "ei-scut-s2".to_owned(),
    ];
    names.extend((1..=150).map(|i| format!("ei-scut-x{i:03}")));
    let _cleanup = Cleanup::new(&names);
    let dir = Dir::new();
    let mut text = head(
        env_name,
        &[("local", bed.local_ship()), ("ship2", ship2_tcp_timeout(2))],
    );
    text.push_str(&service(
        "l",
        IMAGE,
        &[],
        &[instance(&names[0], "local", IDLE, "")],
    ));
    let on2: Vec<String> = names[1..3]
        .iter()
        .map(|n| instance(n, "ship2", IDLE, ""))
        .collect();
    text.push_str(&service("s", IMAGE, &[], &on2));
    let never: Vec<String> = names[3..]
        .iter()
        .map(|n| instance(n, "ship2", IDLE, ""))
        .collect();
    text.push_str(&service("x", IMAGE, &[], &never));
    let file = dir.write("maestro.yaml", text);
    let (host, host2) = (local(), ship2());
    let ships = [("local", host.clone()), ("ship2", host2.clone())];
    let out = maestro(&file, &["start", "l", "s"]);
    assert_code(&out, 0);
    let args = ["status", "--json", "-c", "1"];

    // How long an uncut status takes (the fastest of three).
    let uncut = (0..3)
        .map(|_| {
            let (out, took) = spawn_maestro(&file, &args).wait(Duration::from_secs(30));
            assert_code(&out, 0);
            took
        })
        .min()
        .expect("three runs");
    println!("uncut status -c 1 of {} containers: {uncut:?}", names.len());

    let _heal = Heal("ship2");
    for fraction in [0.3, 0.5, 0.7] {
        let context = format!("cut {fraction} into a status of {uncut:?}");
        let mut run = spawn_maestro(&file, &args);
        std::thread::sleep(uncut.mul_f64(fraction));
        testbed_script(&["cut", "ship2"]);
        let inside = !run.finished();
        let (out, took) = run.wait(Duration::from_secs(60));
        assert_code(&out, 0);
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("not JSON: {e}\n{}", out.report()));
        let rows = doc["containers"].as_array().expect("containers");
        assert_eq!(rows.len(), names.len(), "{}", out.report());
        let mut counts: BTreeMap<String, usize> = BTreeMap::new();
        let mut down_seen = false;
        for row in rows {
            let name = row["name"].as_str().expect("name");
            let state = row["state"].as_str().expect("state");
            *counts
                .entry(format!("{}/{state}", row["ship"].as_str().unwrap_or("?")))
                .or_default() += 1;
            if row["ship"] == "local" {
                assert_eq!(state, "running", "{name} ({context})\n{}", out.report());
                continue;
            }
            if state == "host down" {
                down_seen = true;
                continue;
            }
            assert!(
                !down_seen,
                "{name} is {state} after an earlier container of ship2 was `host down` ({context})\n{}",
                out.report()
            );
            let expected = if running(&host2, name) {
                "running"
            } else {
                "absent"
            };
            assert_eq!(state, expected, "{name} ({context})\n{}", out.report());
        }
        println!("{context}: cut while status ran: {inside}; took {took:?}; {counts:?}");
        // A status asks each ship for one list: a cut lands before that
        // list (every container of ship2 `host down`) or after it (as its
        // engine has them), never between two of its containers.
        let ship2_rows: Vec<&str> = rows
            .iter()
            .filter(|r| r["ship"] == "ship2")
            .filter_map(|r| r["state"].as_str())
            .collect();
        assert!(
            ship2_rows.iter().all(|s| *s == "host down") || !down_seen,
            "ship2's containers are partly `host down` ({context})\n{}",
            out.report()
        );
        testbed_script(&["heal", "ship2"]);
        assert_status_agrees(&file, &ships, &[], &context);
    }
    // Cut before it asks: every container of ship2 `host down`, within the
    // wait above (the ship's timeout, 2 s, not one per container).
    testbed_script(&["cut", "ship2"]);
    let (out, _) = spawn_maestro(&file, &args).wait(Duration::from_secs(60));
    assert_code(&out, 0);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON: {e}\n{}", out.report()));
    for row in doc["containers"].as_array().expect("containers") {
        let want = if row["ship"] == "local" {
            "running"
        } else {
            "host down"
        };
        assert_eq!(row["state"], want, "{}", out.report());
    }
    testbed_script(&["heal", "ship2"]);
    assert_status_agrees(&file, &ships, &[], "healed after a cut");
}

// -------------------------------------- 3. SSH tunnel dropped during a play

/// The pids of every process below `pid`.
fn descendants(pid: u32) -> Vec<u32> {
    let table = String::from_utf8(
        Command::new("ps")
            .args(["-e", "-o", "pid=,ppid="])
            .output()
            .expect("ps runs")
            .stdout,
    )
    .expect("ps prints text");
    let pairs: Vec<(u32, u32)> = table
        .lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace().map(|w| w.parse::<u32>());
            Some((f.next()?.ok()?, f.next()?.ok()?))
        })
        .collect();
    let mut found = Vec::new();
    let mut frontier = vec![pid];
    while let Some(parent) = frontier.pop() {
        for &(child, _) in pairs.iter().filter(|(_, p)| *p == parent) {
            found.push(child);
            frontier.push(child);
        }
    }
    found
}

/// Kills (SIGKILL) the per-connection processes of the test bed's sshd on
/// ship2 (the children of its listener, whose pid `scripts/testbed` keeps
/// in /run/sshd-ship2.pid); the listener itself keeps running. Returns how
/// many were killed. Only for tests holding `cut_ships()`: no other test
/// has a session open then.
fn drop_ssh_sessions() -> usize {
    let listener: u32 = std::fs::read_to_string("/run/sshd-ship2.pid")
        .expect("the test bed's sshd pid file")
        .trim()
        .parse()
        .expect("a pid");
    let sessions = descendants(listener);
    for pid in &sessions {
        let _ = Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .status();
    }
    sessions.len()
}

/// A play on a ship reached through `ssh_tunnel` (`sshship`, timeout 3 s)
/// and on the local ship: ship2's first container in its 3 s running check,
/// the local one in its 4 s check; then `how` breaks the tunnel. The run
/// ends within its bounds, exit 1, with one ERROR line naming `sshship`
/// (no panic, no hang); the lines agree with the engines; `status` (a new
/// tunnel) agrees with them; the bystander on ship2 is untouched; the re-run
/// converges.
fn ssh_tunnel_broken_mid_start(
    tag: &str,
    how: &str,
    break_it: impl FnOnce(),
    repair: impl FnOnce(),
) {
    let bed = testbed();
    let env_name = format!("ei-{tag}");
    let names: Vec<String> = ["l1", "s1", "s2"]
        .iter()
        .map(|n| format!("ei-{tag}-{n}"))
        .collect();
    let bystander_name = format!("ei-bystander-{tag}");
    let mut guarded = names.clone();
    guarded.push(bystander_name.clone());
    let _cleanup = Cleanup::new(&guarded);
    let dir = Dir::new();
    let mut text = head(
        &env_name,
        &[
            ("local", bed.local_ship()),
            ("sshship", ship2_ssh_timeout(3)),
        ],
    );
    text.push_str(&one("l1", &names[0], "local", "4", &[]));
    text.push_str(&one("s1", &names[1], "sshship", "3", &[]));
    text.push_str(&one("s2", &names[2], "sshship", "0.2", &["s1"]));
    let file = dir.write("maestro.yaml", text);
    let (host, host2) = (local(), ship2());
    let ships = [("local", host.clone()), ("sshship", host2.clone())];
    let placed: Vec<(&str, String)> = vec![
        (names[0].as_str(), host.clone()),
        (names[1].as_str(), host2.clone()),
        (names[2].as_str(), host2.clone()),
    ];
    let bystander = Bystander::new(&host2, &bystander_name);

    let ship2_events = watch_events(&host2, &env_name);
    let run = spawn_maestro(&file, &["start"]);
    ship2_events.until("start", &names[1], Duration::from_secs(30));
    std::thread::sleep(Duration::from_millis(300));
    break_it();
    let broken = Instant::now();
    // Within the ship's timeout (3 s) and the local check (4 s); a run still
    // going 30 s after the break is a hang.
    let (out, took) = run.wait(Duration::from_secs(30));
    let after = broken.elapsed();
    println!(
        "start with the SSH tunnel {how}: ended {after:.2?} after it ({took:.2?} in all)\n{}",
        out.report()
    );
    let context = format!("SSH tunnel {how} mid-start");
    let said = assert_failed_on_ship(&out, "sshship", &placed, &format!("ei-{tag}-"), &context);
    assert_eq!(said[names[0].as_str()], Said::Started, "{}", out.report());
    assert_ne!(said[names[2].as_str()], Said::Started, "{}", out.report());

    repair();
    assert_status_agrees(&file, &ships, &[], &context);
    bystander.assert_untouched(&context);
    assert_rerun_converges(&file, &ships, &placed);
    bystander.assert_untouched(&context);
}

/// The SSH session of the tunnel is killed on the server (the connection
/// closes at once).
#[test]
fn ssh_session_dropped_during_start_fails_naming_the_ship_and_recovers() {
    let _ships = cut_ships();
    ssh_tunnel_broken_mid_start(
        "sshkill",
        "dropped by the server",
        || {
            let killed = drop_ssh_sessions();
            assert!(killed > 0, "no SSH session to drop");
        },
        || {},
    );
}

/// The tunnel's link is cut (the connection goes silent).
#[test]
fn ssh_tunnel_link_cut_during_start_fails_naming_the_ship_and_recovers() {
    let _ships = cut_ships();
    let _heal = Heal("ship2");
    ssh_tunnel_broken_mid_start(
        "sshcut",
        "cut off",
        || testbed_script(&["cut", "ship2"]),
        || testbed_script(&["heal", "ship2"]),
    );
}

/// Ctrl-C during `up --remove-orphans`: the play stops launching, and the
/// orphans are not removed afterwards (no new work begins after an
/// interrupt); the re-run removes them.
#[test]
fn sigint_during_up_leaves_the_orphans_alone() {
    let bed = testbed();
    let env_name = "ei-uporph";
    let (a, b, c) = ("ei-uporph-a", "ei-uporph-b", "ei-uporph-c");
    let _cleanup = Cleanup::new(&[a, b, c]);
    let dir = Dir::new();
    let host = local();
    let mut first = head(env_name, &[("local", bed.local_ship())]);
    first.push_str(&one("a", a, "local", "0.1", &[]));
    first.push_str(&one("b", b, "local", "0.1", &[]));
    let file = dir.write("maestro.yaml", first);
    let out = crate::engine_support::maestro(&file, &["start"]);
    assert_code(&out, 0);
    // The file now lacks `b` (an orphan) and adds `c`, whose start holds
    // for 3 s in its running check: the interrupt lands then.
    let mut second = head(env_name, &[("local", bed.local_ship())]);
    second.push_str(&one("a", a, "local", "0.1", &[]));
    second.push_str(&one("c", c, "local", "3", &["a"]));
    let file = dir.write("maestro.yaml", second);
    let b_before = fingerprint(&host, b);

    let events = watch_events(&host, env_name);
    let run = spawn_maestro(&file, &["up", "--remove-orphans"]);
    events.until("start", c, Duration::from_secs(30));
    run.interrupt();
    let (out, _) = run.wait(Duration::from_secs(30));
    assert_eq!(out.code(), Some(1), "{}", out.report());
    assert!(out.stderr().contains("up interrupted"), "{}", out.report());
    assert!(!out.stderr().contains("panicked"), "{}", out.report());
    assert_eq!(
        fingerprint(&host, b),
        b_before,
        "the orphan was touched after the interrupt\n{}",
        out.report()
    );
    assert!(running(&host, b), "{}", out.report());

    let rerun = crate::engine_support::maestro(&file, &["up", "--remove-orphans"]);
    assert_code(&rerun, 0);
    assert!(inspect(&host, b).is_none(), "{}", rerun.report());
    assert!(running(&host, a) && running(&host, c), "{}", rerun.report());
}
