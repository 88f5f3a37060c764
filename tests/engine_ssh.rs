//! `ssh://` engine endpoints end to end: the local engine (its unix socket
//! only) reached through an OpenSSH server of each test's own
//! ([`maestro_testkit::sshd`]), maestro speaking SSH in-process and carrying
//! the engine API over stream-local forwarding to the socket.
//!
//! * a whole play (start, status, logs, logs -F, stop, clean) with a key only
//!   an ssh-agent holds; the same through one bastion and through two
//!   (`ProxyJump` in `~/.ssh/config`, the ship an alias of it);
//! * host keys: an unknown key refused with its `SHA256:` fingerprint, a
//!   changed one refused as changed, trusted once in known_hosts;
//!   `ssh_accept_new_host_keys` and `StrictHostKeyChecking accept-new` trust
//!   and record a new key, never a changed one; `ssh_tunnel` ships checked
//!   the same way;
//! * authentication: the agent, `IdentityFile` and `User` of the SSH config,
//!   the default identities (ed25519, ecdsa, rsa), an encrypted key without
//!   an agent (refused, saying `ssh-add`); `UserKnownHostsFile`;
//! * no TCP port listens for maestro while it follows logs or waits in a
//!   check over SSH; the SSH connection cut mid-start (a TCP-level fault
//!   proxy before sshd): exit 1 naming the ship, the re-run converges;
//! * a file without `ships` runs on ship `local`: `DOCKER_HOST=ssh://…`, a
//!   Docker context, else the local socket; `unix://` and `tcp://` endpoints.
//!
//! maestro runs with `HOME` set to the test's own [`SshHome`], `SSH_AUTH_SOCK`
//! set to the test's agent (or unset), `USER=root`, an empty `DOCKER_CONFIG`
//! and no `DOCKER_HOST`/`DOCKER_CONTEXT` unless a test says otherwise. Each
//! server logs the logins it accepted: a play that ran without one did not go
//! through SSH. Containers are named `es-TAG-N` and removed by a [`Cleanup`]
//! guard made before anything starts; no test publishes a port.

use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use maestro_testkit::sshd::{
    generate_key, listening_tcp_ports_of, Agent, Key, KeyKind, SshHome, Sshd, SshdOptions, TempDir,
};
use maestro_testkit::{Backend, Fault, FaultProxy, Rule};

use crate::engine_support::{
    assert_code, error_lines, head, instance, line_of_spaced, local, q, running, service, IDLE,
    IMAGE,
};
use crate::testbed::{docker, env_inside, inspect, testbed, Cleanup};
use crate::util::{Dir, Output, TestCommand};

/// The ship every environment file here names (distinctive, for the errors).
const SHIP: &str = "sshbox";

/// Prints `hello from NAME`, then `tickN` five times a second; exits at once
/// on SIGTERM.
const TICKER: &[&str] = &[
    "sh",
    "-c",
    "trap 'exit 0' TERM; echo \"hello from $CONTAINER_NAME\"; i=0; while :; do i=$((i+1)); echo tick$i; sleep 0.2 & wait; done",
];

// ------------------------------------------------------------- settings

/// The local engine's socket (the far end of every `ssh://` ship here).
fn socket() -> String {
    testbed().var("TESTBED_LOCAL_SOCKET").to_owned()
}

/// `ssh://root@127.0.0.1:PORT`.
fn root_at(port: u16) -> String {
    format!("ssh://root@127.0.0.1:{port}")
}

/// A ship at `endpoint` (ip 127.0.0.1, the local socket on the far side,
/// timeout 10 s), with `extra` keys.
fn ssh_ship(endpoint: &str, extra: &str) -> String {
    let extra = if extra.is_empty() {
        String::new()
    } else {
        format!(", {extra}")
    };
    format!(
        "{{ip: 127.0.0.1, endpoint: {}, socket_path: {}, timeout: 10{extra}}}",
        q(endpoint),
        q(&socket())
    )
}

/// `es-TAG-1` … `es-TAG-COUNT`.
fn names(tag: &str, count: usize) -> Vec<String> {
    (1..=count).map(|i| format!("es-{tag}-{i}")).collect()
}

/// Environment `es-TAG`: ship `sshbox` as given, service `app` (with
/// `extra` service lines) whose instances `names` run `command`.
fn environment(
    dir: &Dir,
    tag: &str,
    ship: &str,
    names: &[String],
    command: &[&str],
    extra: &[&str],
) -> PathBuf {
    let instances: Vec<String> = names
        .iter()
        .map(|n| instance(n, SHIP, command, ""))
        .collect();
    let text = head(&format!("es-{tag}"), &[(SHIP, ship.to_owned())])
        + &service("app", IMAGE, extra, &instances);
    dir.write("maestro.yaml", text)
}

/// Environment `es-TAG` without `ships`: its instances name no ship.
fn shipless_environment(dir: &Dir, tag: &str, names: &[String]) -> PathBuf {
    let mut text =
        format!("name: es-{tag}\nservices:\n  app:\n    image: {IMAGE}\n    instances:\n");
    for name in names {
        text.push_str(&format!(
            "      {name}: {{stop_timeout: 1, command: {}}}\n",
            crate::engine_support::argv(IDLE)
        ));
    }
    dir.write("maestro.yaml", text)
}

// ------------------------------------------------------------ SSH sides

/// A key that only an agent holds (its files are in a directory of their
/// own, not in any `$HOME/.ssh`).
struct Keyring {
    agent: Agent,
    key: Key,
    _dir: TempDir,
}

fn keyring() -> Keyring {
    let dir = TempDir::new("keys");
    let key = generate_key(&dir.join("agent_only"), KeyKind::Ed25519, None);
    let agent = Agent::start();
    agent.add(&key.private);
    Keyring {
        agent,
        key,
        _dir: dir,
    }
}

/// A server that lets `key` in.
fn sshd_for(key: &Key) -> Sshd {
    Sshd::start(SshdOptions::new().authorize(key))
}

/// How maestro is run: which `$HOME`, which agent (none: `SSH_AUTH_SOCK`
/// unset).
#[derive(Clone, Copy)]
struct Via<'a> {
    home: &'a SshHome,
    agent: Option<&'a Agent>,
}

/// The environment maestro gets, as (key, value or `None` to remove).
fn maestro_env(via: Via) -> Vec<(&'static str, Option<String>)> {
    let docker_config = via.home.path().join(".docker");
    fs::create_dir_all(&docker_config).expect("an empty DOCKER_CONFIG directory");
    vec![
        ("NO_COLOR", Some("1".into())),
        ("HOME", Some(via.home.path().display().to_string())),
        ("USER", Some("root".into())),
        ("DOCKER_CONFIG", Some(docker_config.display().to_string())),
        ("DOCKER_HOST", None),
        ("DOCKER_CONTEXT", None),
        (
            "SSH_AUTH_SOCK",
            via.agent.map(|a| a.sock().display().to_string()),
        ),
    ]
}

/// `maestro -f FILE ARGS…` in the file's directory, given two minutes;
/// more `.env(…)` calls override the defaults.
fn maestro_cmd(file: &Path, via: Via, args: &[&str]) -> TestCommand {
    let mut command = TestCommand::maestro();
    command
        .arg("-f")
        .arg(file)
        .args(args)
        .current_dir(file.parent().expect("the file is in a directory"))
        .timeout(Duration::from_secs(120));
    for (key, value) in maestro_env(via) {
        match value {
            Some(value) => command.env(key, value),
            None => command.env_remove(key),
        };
    }
    command
}

fn run(file: &Path, via: Via, args: &[&str]) -> Output {
    maestro_cmd(file, via, args).run()
}

/// Runs maestro, asserts exit 0 and that `sshds` each accepted exactly one
/// new login for it (all engine calls of a run go over one SSH connection;
/// a bastion carries one login too).
fn run_over_ssh(file: &Path, via: Via, args: &[&str], sshds: &[&Sshd]) -> Output {
    let before: Vec<usize> = sshds.iter().map(|s| s.accepted_logins().len()).collect();
    let out = run(file, via, args);
    assert_code(&out, 0);
    for (sshd, before) in sshds.iter().zip(before) {
        let logins = sshd.accepted_logins();
        assert_eq!(
            logins.len(),
            before + 1,
            "`maestro {}` did not log in exactly once to the sshd on port {}\n{}\n--- sshd log ---\n{}",
            args.join(" "),
            sshd.port(),
            out.report(),
            sshd.log()
        );
    }
    out
}

/// Exit 1 and exactly one `ERROR: ` line, which names the ship; returns it.
fn assert_one_error(out: &Output, ship: &str) -> String {
    assert_code(out, 1);
    let errors = error_lines(out);
    assert_eq!(
        errors.len(),
        1,
        "expected exactly one ERROR line\n{}",
        out.report()
    );
    let error = errors[0].clone();
    assert!(error.starts_with("ERROR: "), "{error:?}\n{}", out.report());
    assert!(
        error.contains(ship),
        "the error does not name ship {ship}\n{}",
        out.report()
    );
    error
}

/// [`assert_one_error`], and the line says `fingerprint` (exactly) and
/// `words` (case-insensitive).
fn assert_host_key_refused(out: &Output, fingerprint: &str, words: &str) -> String {
    let error = assert_one_error(out, SHIP);
    assert!(
        error.contains(fingerprint),
        "the error does not give the host key's fingerprint {fingerprint}\n{}",
        out.report()
    );
    assert!(
        error.to_lowercase().contains(words),
        "the error does not say `{words}`\n{}",
        out.report()
    );
    error
}

// --------------------------------------------------------- engine state

/// `State.Status` of a container on the local engine (`running`, `exited`, …).
fn state(name: &str) -> String {
    inspect(&local(), name)
        .and_then(|c| c["State"]["Status"].as_str().map(str::to_owned))
        .unwrap_or_else(|| panic!("{name} does not exist on the local engine"))
}

fn assert_absent(names: &[String], context: &str) {
    for name in names {
        assert!(
            inspect(&local(), name).is_none(),
            "{name} exists on the local engine ({context})"
        );
    }
}

/// The line of `status` about `name` shows it running on ship `ship`.
fn assert_status_running(out: &Output, name: &str, ship: &str) {
    let line = line_of_spaced(out, name);
    assert!(
        line.contains("running for"),
        "{name} is not reported running: {line:?}\n{}",
        out.report()
    );
    assert!(
        line.split_whitespace().any(|w| w == ship),
        "{name}'s status line does not show ship {ship}: {line:?}\n{}",
        out.report()
    );
}

/// The line of `status` about `name` says it is down (its engine answered).
fn assert_status_down(out: &Output, name: &str) {
    let line = line_of_spaced(out, name);
    assert!(
        line.contains("down") && !line.contains("host down"),
        "{name} is not reported down on a reachable ship: {line:?}\n{}",
        out.report()
    );
}

/// The number in a `tickN` line.
fn tick(line: &str) -> Option<u64> {
    line.trim().rsplit_once("tick")?.1.parse().ok()
}

/// The highest tick a container has printed so far (per `docker logs`).
fn last_tick(name: &str) -> u64 {
    docker(&local(), &["logs", name])
        .lines()
        .filter_map(tick)
        .max()
        .unwrap_or(0)
}

/// Waits (bounded) until `docker logs` of `name` says `needle`.
fn await_log(name: &str, needle: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !docker(&local(), &["logs", name]).contains(needle) {
        assert!(Instant::now() < deadline, "{name} never printed {needle:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

// ------------------------------------------------- a maestro in flight

/// A maestro running in the background, its stdout lines handed over as
/// they come (stderr to a file, for messages). Killed when dropped.
struct Spawned {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
    stderr: PathBuf,
    _dir: TempDir,
}

fn spawn(file: &Path, via: Via, args: &[&str]) -> Spawned {
    let dir = TempDir::new("spawned");
    let stderr = dir.join("stderr");
    let mut command = Command::new(env!("CARGO_BIN_EXE_maestro"));
    command
        .arg("-f")
        .arg(file)
        .args(args)
        .current_dir(file.parent().expect("the file is in a directory"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(fs::File::create(&stderr).expect("a stderr file"));
    for (key, value) in maestro_env(via) {
        match value {
            Some(value) => command.env(key, value),
            None => command.env_remove(key),
        };
    }
    let mut child = command.spawn().expect("maestro starts");
    let stdout = child.stdout.take().expect("stdout is piped");
    let (tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    Spawned {
        child,
        lines,
        seen: Vec::new(),
        stderr,
        _dir: dir,
    }
}

impl Spawned {
    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn finished(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(Some(_)))
    }

    fn report(&self) -> String {
        format!(
            "--- stdout so far ---\n{}\n--- stderr ---\n{}",
            self.seen.join("\n"),
            fs::read_to_string(&self.stderr).unwrap_or_default()
        )
    }

    /// The next stdout line that `wanted`, within 20 s.
    fn line_where(&mut self, what: &str, wanted: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if wanted(&line) {
                        return line;
                    }
                }
                Err(_) => panic!("no {what} within 20 s\n{}", self.report()),
            }
        }
    }

    /// Waits for the end (bounded); the exit code.
    fn wait(&mut self) -> Option<i32> {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            if let Some(status) = self.child.try_wait().expect("waiting works") {
                return status.code();
            }
            assert!(
                Instant::now() < deadline,
                "maestro did not end within 120 s\n{}",
                self.report()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Asserts that neither maestro nor any process it started listens on a
/// TCP port (the engine API goes through the SSH connection itself).
fn assert_listens_on_nothing(run: &Spawned, context: &str) {
    let listening = listening_tcp_ports_of(run.pid());
    assert!(
        listening.is_empty(),
        "maestro (pid {}) or a child of it listens on TCP {context}: {listening:?}\n{}",
        run.pid(),
        run.report()
    );
}

// ============================================================ the play

/// start, status, stop, status, clean of `names` over `sshds` (the target
/// last), each run logging in once to each of them; checked on the engine.
fn play_round(file: &Path, via: Via, names: &[String], sshds: &[&Sshd]) {
    run_over_ssh(file, via, &["start"], sshds);
    for name in names {
        assert!(running(&local(), name), "{name} does not run after start");
        let inside = env_inside(&local(), name);
        assert_eq!(
            inside.get("CONTAINER_HOST_ADDRESS").map(String::as_str),
            Some("127.0.0.1"),
            "{name}: the ship's ip inside the container"
        );
    }
    let out = run_over_ssh(file, via, &["status"], sshds);
    for name in names {
        assert_status_running(&out, name, SHIP);
    }
    run_over_ssh(file, via, &["stop", "--all"], sshds);
    for name in names {
        assert_eq!(state(name), "exited", "{name} after stop");
    }
    let out = run_over_ssh(file, via, &["status"], sshds);
    for name in names {
        assert_status_down(&out, name);
    }
    run_over_ssh(file, via, &["clean"], sshds);
    assert_absent(names, "after clean");
}

/// The whole play over `ssh://root@127.0.0.1:PORT`, the key only in the
/// agent: start (running, the ship's ip inside), status, logs, logs -F (a
/// line printed after it began), stop (exited), status (down), clean (gone).
#[test]
fn ssh_endpoint_with_a_key_only_in_the_agent_plays_start_status_logs_stop_clean() {
    let names = names("play", 1);
    let _cleanup = Cleanup::new(&names);
    let keys = keyring();
    let sshd = sshd_for(&keys.key);
    let home = SshHome::new();
    home.write_known_hosts(&sshd.known_hosts_lines());
    assert_eq!(
        home.ssh_files(),
        ["known_hosts"],
        "no key file in $HOME/.ssh"
    );
    let via = Via {
        home: &home,
        agent: Some(&keys.agent),
    };
    let dir = Dir::new();
    let file = environment(
        &dir,
        "play",
        &ssh_ship(&root_at(sshd.port()), ""),
        &names,
        TICKER,
        &[],
    );
    let name = names[0].as_str();

    run_over_ssh(&file, via, &["start"], &[&sshd]);
    assert!(running(&local(), name), "{name} does not run after start");
    assert!(
        sshd.accepted_logins()[0].contains(&keys.key.fingerprint),
        "the login was not with the agent's key: {:?}",
        sshd.accepted_logins()
    );
    let inside = env_inside(&local(), name);
    assert_eq!(
        inside.get("CONTAINER_HOST_ADDRESS").map(String::as_str),
        Some("127.0.0.1")
    );

    let out = run_over_ssh(&file, via, &["status"], &[&sshd]);
    assert_status_running(&out, name, SHIP);

    await_log(name, "tick3");
    let out = run_over_ssh(&file, via, &["logs", name], &[&sshd]);
    let stdout = out.stdout();
    assert!(
        stdout.contains(&format!("hello from {name}")) && stdout.contains("tick3"),
        "logs lack the container's lines\n{}",
        out.report()
    );

    let seen = last_tick(name);
    let mut follow = spawn(&file, via, &["logs", "-F", name]);
    let later = follow.line_where(&format!("a tick after tick{seen}"), |l| {
        tick(l).is_some_and(|n| n > seen + 2)
    });
    assert!(!follow.finished(), "logs -F ended\n{}", follow.report());
    assert!(
        follow.seen.iter().any(|l| l.contains("hello from")),
        "logs -F did not begin with the past lines (got {later:?})\n{}",
        follow.report()
    );
    drop(follow);

    run_over_ssh(&file, via, &["stop", "--all"], &[&sshd]);
    assert_eq!(state(name), "exited");
    let out = run_over_ssh(&file, via, &["status"], &[&sshd]);
    assert_status_down(&out, name);
    run_over_ssh(&file, via, &["clean"], &[&sshd]);
    assert_absent(&names, "after clean");
}

/// `endpoint: ssh://shipalias`, an alias of `~/.ssh/config` with HostName,
/// Port, User and `ProxyJump root@127.0.0.1:BASTION`: the play runs, each
/// step logging in to the bastion and to the target.
#[test]
fn ssh_endpoint_through_a_bastion_by_an_alias_of_the_ssh_config() {
    let names = names("jump1", 2);
    let _cleanup = Cleanup::new(&names);
    let keys = keyring();
    let target = sshd_for(&keys.key);
    let bastion = sshd_for(&keys.key);
    let home = SshHome::new();
    home.write_known_hosts(&(target.known_hosts_lines() + &bastion.known_hosts_lines()));
    home.write_config(&format!(
        "Host shipalias\n  HostName 127.0.0.1\n  Port {}\n  User root\n  ProxyJump root@127.0.0.1:{}\n",
        target.port(),
        bastion.port()
    ));
    let via = Via {
        home: &home,
        agent: Some(&keys.agent),
    };
    let dir = Dir::new();
    let file = environment(
        &dir,
        "jump1",
        &ssh_ship("ssh://shipalias", ""),
        &names,
        IDLE,
        &[],
    );
    play_round(&file, via, &names, &[&bastion, &target]);
}

/// `ProxyJump a,b`: two bastions in a row, then the target.
#[test]
fn ssh_endpoint_through_two_bastions() {
    let names = names("jump2", 2);
    let _cleanup = Cleanup::new(&names);
    let keys = keyring();
    let target = sshd_for(&keys.key);
    let first = sshd_for(&keys.key);
    let second = sshd_for(&keys.key);
    let home = SshHome::new();
    home.write_known_hosts(
        &(target.known_hosts_lines() + &first.known_hosts_lines() + &second.known_hosts_lines()),
    );
    home.write_config(&format!(
        "Host shipalias\n  HostName 127.0.0.1\n  Port {}\n  User root\n  ProxyJump root@127.0.0.1:{},root@127.0.0.1:{}\n",
        target.port(),
        first.port(),
        second.port()
    ));
    let via = Via {
        home: &home,
        agent: Some(&keys.agent),
    };
    let dir = Dir::new();
    let file = environment(
        &dir,
        "jump2",
        &ssh_ship("ssh://shipalias", ""),
        &names,
        IDLE,
        &[],
    );
    play_round(&file, via, &names, &[&first, &second, &target]);
}

// ============================================================ host keys

/// No known_hosts: refused before logging in, one ERROR line naming the
/// ship with the key's fingerprint and "not known"; nothing created,
/// nothing recorded. Once the key is in known_hosts, the play runs.
#[test]
fn unknown_host_key_is_refused_with_its_fingerprint_until_trusted() {
    let names = names("unknown", 1);
    let _cleanup = Cleanup::new(&names);
    let keys = keyring();
    let sshd = sshd_for(&keys.key);
    let home = SshHome::new();
    let via = Via {
        home: &home,
        agent: Some(&keys.agent),
    };
    let dir = Dir::new();
    let file = environment(
        &dir,
        "unknown",
        &ssh_ship(&root_at(sshd.port()), ""),
        &names,
        IDLE,
        &[],
    );

    for args in [&["start"][..], &["status"][..]] {
        let out = run(&file, via, args);
        assert_host_key_refused(&out, &sshd.fingerprint(), "not known");
        assert_absent(&names, "after a refused host key");
        assert!(
            sshd.accepted_logins().is_empty(),
            "maestro logged in to a server it does not know\n{}",
            sshd.log()
        );
        assert_eq!(home.known_hosts(), "", "known_hosts was written");
    }

    home.add_known_host(&sshd.host_key_line(&sshd.host_pattern()));
    run_over_ssh(&file, via, &["start"], &[&sshd]);
    assert!(running(&local(), &names[0]));
}

/// The server's key changes between two runs: the second is refused with
/// one ERROR line naming the ship, saying "changed" with the new key's
/// fingerprint, the container untouched; with the new key trusted, it runs.
#[test]
fn changed_host_key_is_refused_with_the_new_fingerprint() {
    let names = names("changed", 1);
    let _cleanup = Cleanup::new(&names);
    let keys = keyring();
    let mut sshd = sshd_for(&keys.key);
    let home = SshHome::new();
    home.write_known_hosts(&sshd.known_hosts_lines());
    let via = Via {
        home: &home,
        agent: Some(&keys.agent),
    };
    let dir = Dir::new();
    let file = environment(
        &dir,
        "changed",
        &ssh_ship(&root_at(sshd.port()), ""),
        &names,
        IDLE,
        &[],
    );
    run_over_ssh(&file, via, &["start"], &[&sshd]);
    let before = inspect(&local(), &names[0]).expect("the container exists");

    let old = sshd.fingerprint();
    sshd.restart_with_new_host_key();
    assert_ne!(sshd.fingerprint(), old);
    let known = home.known_hosts();
    let out = run(&file, via, &["stop", "--all"]);
    let error = assert_host_key_refused(&out, &sshd.fingerprint(), "changed");
    assert!(
        sshd.accepted_logins().is_empty(),
        "maestro logged in to a server whose key changed\n{}",
        sshd.log()
    );
    assert_eq!(
        home.known_hosts(),
        known,
        "known_hosts was changed ({error})"
    );
    let after = inspect(&local(), &names[0]).expect("the container exists");
    assert_eq!(after["Id"], before["Id"]);
    assert_eq!(after["State"]["StartedAt"], before["State"]["StartedAt"]);
    assert_eq!(after["State"]["Running"], true, "the container was stopped");

    home.write_known_hosts(&sshd.known_hosts_lines());
    run_over_ssh(&file, via, &["stop", "--all"], &[&sshd]);
    assert_eq!(state(&names[0]), "exited");
}

/// Whether known_hosts (hashed or not) holds `key` for `[127.0.0.1]:PORT`
/// (`ssh-keygen -F` finds hashed entries too).
fn known_hosts_has(home: &SshHome, sshd: &Sshd) -> bool {
    let out = Command::new("ssh-keygen")
        .arg("-F")
        .arg(sshd.host_pattern())
        .arg("-f")
        .arg(home.known_hosts_path())
        .output()
        .expect("ssh-keygen runs");
    let base64 = sshd
        .host_key()
        .public_line
        .split(' ')
        .nth(1)
        .expect("a key line has its key")
        .to_owned();
    out.status.success() && String::from_utf8_lossy(&out.stdout).contains(&base64)
}

/// An unknown key trusted by `accept-new` (ship setting or SSH config):
/// the play runs, the key lands in `~/.ssh/known_hosts` (absent before),
/// and a later run without `accept-new` runs too.
fn accept_new_trusts_and_records(tag: &str, ship_extra: &str, config: &str) {
    let names = names(tag, 1);
    let _cleanup = Cleanup::new(&names);
    let keys = keyring();
    let sshd = sshd_for(&keys.key);
    let home = SshHome::new();
    if !config.is_empty() {
        home.write_config(config);
    }
    assert!(!home.known_hosts_path().exists());
    let via = Via {
        home: &home,
        agent: Some(&keys.agent),
    };
    let dir = Dir::new();
    let endpoint = root_at(sshd.port());
    let file = environment(
        &dir,
        tag,
        &ssh_ship(&endpoint, ship_extra),
        &names,
        IDLE,
        &[],
    );
    let out = run_over_ssh(&file, via, &["start"], &[&sshd]);
    assert!(running(&local(), &names[0]), "{}", out.report());
    assert!(
        known_hosts_has(&home, &sshd),
        "the new key was not recorded for {} in known_hosts: {:?}\n{}",
        sshd.host_pattern(),
        home.known_hosts(),
        out.report()
    );

    // Without accept-new: the recorded key is known.
    let _ = fs::remove_file(home.config_path());
    let file = environment(&dir, tag, &ssh_ship(&endpoint, ""), &names, IDLE, &[]);
    let out = run_over_ssh(&file, via, &["status"], &[&sshd]);
    assert_status_running(&out, &names[0], SHIP);
}

#[test]
fn accept_new_host_keys_ship_setting_trusts_and_records_an_unknown_key() {
    accept_new_trusts_and_records("acceptship", "ssh_accept_new_host_keys: true", "");
}

#[test]
fn strict_host_key_checking_accept_new_in_the_ssh_config_trusts_and_records_an_unknown_key() {
    accept_new_trusts_and_records(
        "acceptcfg",
        "",
        "Host 127.0.0.1\n  StrictHostKeyChecking accept-new\n",
    );
}

/// known_hosts holds another ed25519 key for the server; the ship setting
/// and the SSH config both say accept-new: refused as changed, with the
/// server's fingerprint; known_hosts untouched; nothing created.
#[test]
fn accept_new_never_accepts_a_changed_key() {
    let names = names("acceptchg", 1);
    let _cleanup = Cleanup::new(&names);
    let keys = keyring();
    let sshd = sshd_for(&keys.key);
    let home = SshHome::new();
    let other = TempDir::new("otherkey");
    let impostor = generate_key(&other.join("key"), KeyKind::Ed25519, None);
    home.write_known_hosts(&format!(
        "{}\n",
        impostor.known_hosts_line(&sshd.host_pattern())
    ));
    home.write_config("Host *\n  StrictHostKeyChecking accept-new\n");
    let known = home.known_hosts();
    let via = Via {
        home: &home,
        agent: Some(&keys.agent),
    };
    let dir = Dir::new();
    let ship = ssh_ship(&root_at(sshd.port()), "ssh_accept_new_host_keys: true");
    let file = environment(&dir, "acceptchg", &ship, &names, IDLE, &[]);
    let out = run(&file, via, &["start"]);
    assert_host_key_refused(&out, &sshd.fingerprint(), "changed");
    assert_eq!(home.known_hosts(), known, "known_hosts was changed");
    assert!(sshd.accepted_logins().is_empty(), "{}", sshd.log());
    assert_absent(&names, "after a changed host key");
}

/// An `ssh_tunnel` ship at a server whose key is not in known_hosts: refused
/// the same way (fingerprint, "not known"), before any login.
#[test]
fn ssh_tunnel_ship_with_an_unknown_host_key_is_refused() {
    let names = names("tunnelkey", 1);
    let _cleanup = Cleanup::new(&names);
    let home = SshHome::new();
    let key = home.generate_key("tunnel_key", KeyKind::Ed25519, None);
    let sshd = sshd_for(&key);
    let via = Via {
        home: &home,
        agent: None,
    };
    let dir = Dir::new();
    let ship = format!(
        "{{ip: 127.0.0.1, docker_port: 2375, timeout: 5, ssh_tunnel: {{user: root, key: {}, port: {}}}}}",
        q(&key.private.display().to_string()),
        sshd.port()
    );
    let file = environment(&dir, "tunnelkey", &ship, &names, IDLE, &[]);
    let out = run(&file, via, &["start"]);
    assert_host_key_refused(&out, &sshd.fingerprint(), "not known");
    assert!(sshd.accepted_logins().is_empty(), "{}", sshd.log());
    assert_eq!(home.known_hosts(), "", "known_hosts was written");
    assert_absent(&names, "after a refused host key");
}

// ============================================================ auth

/// `~/.ssh/id_ed25519` encrypted with a passphrase, no agent: refused with
/// one ERROR line naming the ship and telling to `ssh-add` it; nothing
/// created. With the key in an agent, the same play runs.
#[test]
fn encrypted_key_without_an_agent_asks_for_ssh_add_then_works_from_the_agent() {
    let names = names("passkey", 1);
    let _cleanup = Cleanup::new(&names);
    let home = SshHome::new();
    let key = home.generate_key("id_ed25519", KeyKind::Ed25519, Some("open sesame"));
    let sshd = sshd_for(&key);
    home.write_known_hosts(&sshd.known_hosts_lines());
    let dir = Dir::new();
    let file = environment(
        &dir,
        "passkey",
        &ssh_ship(&root_at(sshd.port()), ""),
        &names,
        IDLE,
        &[],
    );
    let no_agent = Via {
        home: &home,
        agent: None,
    };
    let out = run(&file, no_agent, &["start"]);
    let error = assert_one_error(&out, SHIP);
    assert!(
        error.contains("ssh-add"),
        "the error does not tell to add the key to the agent\n{}",
        out.report()
    );
    assert!(sshd.accepted_logins().is_empty(), "{}", sshd.log());
    assert_absent(&names, "after the key could not be used");

    let agent = Agent::start();
    agent.add_encrypted(&key.private, "open sesame");
    let with_agent = Via {
        home: &home,
        agent: Some(&agent),
    };
    run_over_ssh(&file, with_agent, &["start"], &[&sshd]);
    assert!(running(&local(), &names[0]));
}

/// No agent, no config: each of `~/.ssh/id_ed25519`, `id_ecdsa`, `id_rsa`
/// alone logs in (the login is with that key), and `status` reaches the
/// engine.
#[test]
fn default_identities_ed25519_ecdsa_and_rsa_each_log_in() {
    let names = names("defaultid", 1);
    let _cleanup = Cleanup::new(&names);
    for kind in [KeyKind::Ed25519, KeyKind::Ecdsa, KeyKind::Rsa] {
        let home = SshHome::new();
        let key = home.generate_key(kind.default_identity(), kind, None);
        let sshd = sshd_for(&key);
        home.write_known_hosts(&sshd.known_hosts_lines());
        let via = Via {
            home: &home,
            agent: None,
        };
        let dir = Dir::new();
        let file = environment(
            &dir,
            "defaultid",
            &ssh_ship(&root_at(sshd.port()), ""),
            &names,
            IDLE,
            &[],
        );
        let out = run_over_ssh(&file, via, &["status"], &[&sshd]);
        assert_status_down(&out, &names[0]);
        let login = &sshd.accepted_logins()[0];
        assert!(
            login.contains(&key.fingerprint),
            "{kind:?}: the login was not with {}: {login}",
            kind.default_identity()
        );
    }
}

/// `endpoint: ssh://boxhost` (no user, no port) with `Host boxhost`,
/// HostName, Port, `User root` (over `USER=nobody`), `IdentityFile
/// ~/.ssh/deploy_key` and ConnectTimeout; then `ssh://127.0.0.1:PORT` with
/// no User anywhere: `$USER` (root) and the config's IdentityFile for
/// `Host 127.0.0.1`.
#[test]
fn identity_file_and_user_come_from_the_ssh_config_else_user_from_the_environment() {
    let names = names("idfile", 1);
    let _cleanup = Cleanup::new(&names);
    let home = SshHome::new();
    let key = home.generate_key("deploy_key", KeyKind::Ed25519, None);
    let sshd = sshd_for(&key);
    home.write_known_hosts(&sshd.known_hosts_lines());
    home.write_config(&format!(
        "Host boxhost\n  HostName 127.0.0.1\n  Port {}\n  User root\n  IdentityFile ~/.ssh/deploy_key\n  ConnectTimeout 5\n",
        sshd.port()
    ));
    let via = Via {
        home: &home,
        agent: None,
    };
    let dir = Dir::new();
    let file = environment(
        &dir,
        "idfile",
        &ssh_ship("ssh://boxhost", ""),
        &names,
        IDLE,
        &[],
    );
    let before = sshd.accepted_logins().len();
    let out = maestro_cmd(&file, via, &["start"])
        .env("USER", "nobody")
        .run();
    assert_code(&out, 0);
    assert!(running(&local(), &names[0]), "{}", out.report());
    let logins = sshd.accepted_logins();
    assert_eq!(logins.len(), before + 1, "{}", sshd.log());
    assert!(
        logins[before].contains("for root") && logins[before].contains(&key.fingerprint),
        "{logins:?}"
    );

    home.write_config("Host 127.0.0.1\n  IdentityFile ~/.ssh/deploy_key\n");
    let endpoint = format!("ssh://127.0.0.1:{}", sshd.port());
    let file = environment(&dir, "idfile", &ssh_ship(&endpoint, ""), &names, IDLE, &[]);
    let out = run_over_ssh(&file, via, &["status"], &[&sshd]);
    assert_status_running(&out, &names[0], SHIP);
}

/// `UserKnownHostsFile` of the SSH config is where the keys are looked up
/// (no `~/.ssh/known_hosts` at all).
#[test]
fn user_known_hosts_file_from_the_ssh_config_is_read() {
    let names = names("ukhf", 1);
    let _cleanup = Cleanup::new(&names);
    let keys = keyring();
    let sshd = sshd_for(&keys.key);
    let home = SshHome::new();
    let elsewhere = home.path().join("trusted_hosts");
    fs::write(&elsewhere, sshd.known_hosts_lines()).expect("the hosts file is written");
    home.write_config("Host *\n  UserKnownHostsFile ~/trusted_hosts\n");
    assert!(!home.known_hosts_path().exists());
    let via = Via {
        home: &home,
        agent: Some(&keys.agent),
    };
    let dir = Dir::new();
    let file = environment(
        &dir,
        "ukhf",
        &ssh_ship(&root_at(sshd.port()), ""),
        &names,
        IDLE,
        &[],
    );
    let out = run_over_ssh(&file, via, &["status"], &[&sshd]);
    assert_status_down(&out, &names[0]);
}

// ============================================================ no listener

/// While `logs -F` follows a container over SSH, maestro and its children
/// listen on no TCP port: checked after each of five new lines (and the
/// check itself finds sshd's port, so it does see listeners).
#[test]
fn no_tcp_port_listens_while_logs_follow_over_ssh() {
    let names = names("nolisten", 1);
    let _cleanup = Cleanup::new(&names);
    let keys = keyring();
    let sshd = sshd_for(&keys.key);
    assert!(
        listening_tcp_ports_of(sshd.pid())
            .iter()
            .any(|l| l.port == sshd.port()),
        "the listener check does not see sshd's own port {}",
        sshd.port()
    );
    let home = SshHome::new();
    home.write_known_hosts(&sshd.known_hosts_lines());
    let via = Via {
        home: &home,
        agent: Some(&keys.agent),
    };
    let dir = Dir::new();
    let file = environment(
        &dir,
        "nolisten",
        &ssh_ship(&root_at(sshd.port()), ""),
        &names,
        TICKER,
        &[],
    );
    run_over_ssh(&file, via, &["start"], &[&sshd]);
    let name = names[0].as_str();
    await_log(name, "tick1");

    let mut seen = last_tick(name);
    let mut follow = spawn(&file, via, &["logs", "-F", name]);
    for round in 0..5 {
        let line = follow.line_where(&format!("a tick after tick{seen}"), |l| {
            tick(l).is_some_and(|n| n > seen)
        });
        seen = tick(&line).expect("a tick line");
        assert!(!follow.finished(), "logs -F ended\n{}", follow.report());
        assert_listens_on_nothing(&follow, &format!("while following logs (round {round})"));
    }
    assert_eq!(
        sshd.accepted_logins().len(),
        2,
        "start and logs -F: one login each\n{}",
        sshd.log()
    );
}

/// While `start` waits in a 3 s running check over SSH, maestro and its
/// children listen on no TCP port (checked over and over until it ends).
#[test]
fn no_tcp_port_listens_during_a_start_with_a_slow_check_over_ssh() {
    let names = names("slowcheck", 1);
    let _cleanup = Cleanup::new(&names);
    let keys = keyring();
    let sshd = sshd_for(&keys.key);
    let home = SshHome::new();
    home.write_known_hosts(&sshd.known_hosts_lines());
    let via = Via {
        home: &home,
        agent: Some(&keys.agent),
    };
    let dir = Dir::new();
    let file = environment(
        &dir,
        "slowcheck",
        &ssh_ship(&root_at(sshd.port()), ""),
        &names,
        IDLE,
        &["lifecycle: {running: [{type: sleep, wait: 3}]}"],
    );
    let mut start = spawn(&file, via, &["start"]);
    let deadline = Instant::now() + Duration::from_secs(30);
    while inspect(&local(), &names[0]).is_none() {
        assert!(
            !start.finished() && Instant::now() < deadline,
            "{} was never created\n{}",
            names[0],
            start.report()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let mut checks = 0;
    while !start.finished() {
        assert_listens_on_nothing(&start, &format!("during start (check {checks})"));
        checks += 1;
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(start.wait(), Some(0), "{}", start.report());
    assert!(
        checks >= 3,
        "start ended before the listeners were checked three times ({checks})\n{}",
        start.report()
    );
    assert!(running(&local(), &names[0]));
}

// ============================================================ a cut

/// Environment `es-TAG`: a chain of services `s1 <- s2 <- …` (each requires
/// the one before), one instance each (`names`), on ship `sshbox`: started
/// one after the other, so a cut lands between two of them.
fn chain_environment(dir: &Dir, tag: &str, ship: &str, names: &[String]) -> PathBuf {
    let mut text = head(&format!("es-{tag}"), &[(SHIP, ship.to_owned())]);
    for (i, name) in names.iter().enumerate() {
        let requires = format!("requires: [s{i}]");
        let extra: &[&str] = if i == 0 { &[] } else { &[requires.as_str()] };
        text.push_str(&service(
            &format!("s{}", i + 1),
            IMAGE,
            extra,
            &[instance(name, SHIP, IDLE, "")],
        ));
    }
    dir.write("maestro.yaml", text)
}

/// A chain of six containers started over one SSH connection that a
/// TCP-level proxy before sshd cuts after 20,000 bytes from the server
/// (past the handshake and the first container, short of the last: the
/// ship's list names only these six, and each container's create, start
/// and confirm bring some 6 kB back): exit 1, one ERROR line naming
/// the ship; the first container was made, the last never; with the proxy
/// healed the re-run converges (all six running, status agrees).
#[test]
fn ssh_connection_cut_mid_start_fails_naming_the_ship_and_the_rerun_converges() {
    let names = names("cut", 6);
    let _cleanup = Cleanup::new(&names);
    let keys = keyring();
    let sshd = sshd_for(&keys.key);
    let proxy =
        FaultProxy::start_raw(Backend::Tcp(sshd.addr())).expect("the raw fault proxy starts");
    let home = SshHome::new();
    home.write_known_hosts(&format!(
        "{}\n",
        sshd.host_key_line(&format!("[127.0.0.1]:{}", proxy.port()))
    ));
    let via = Via {
        home: &home,
        agent: Some(&keys.agent),
    };
    let dir = Dir::new();
    let file = chain_environment(&dir, "cut", &ssh_ship(&root_at(proxy.port()), ""), &names);
    proxy.cues().add(
        Rule::new(Fault::CutStream {
            after_bytes: 20_000,
        })
        .times(1),
    );

    let out = run(&file, via, &["start"]);
    let error = assert_one_error(&out, SHIP);
    assert_eq!(
        proxy.cues().fired(),
        1,
        "the cut did not happen\n{}",
        out.report()
    );
    assert_eq!(
        sshd.accepted_logins().len(),
        1,
        "one login before the cut\n{}",
        sshd.log()
    );
    let made: Vec<&String> = names
        .iter()
        .filter(|n| inspect(&local(), n).is_some())
        .collect();
    println!("cut mid-start: {error}; made before the cut: {made:?}");
    assert!(
        made.contains(&&names[0]),
        "the cut came before the first container was made\n{}",
        out.report()
    );
    assert!(
        !made.contains(&&names[5]),
        "the last container was made: the cut came too late\n{}",
        out.report()
    );

    proxy.cues().clear();
    run_over_ssh(&file, via, &["start"], &[&sshd]);
    for name in &names {
        assert!(
            running(&local(), name),
            "{name} does not run after the re-run"
        );
    }
    let out = run_over_ssh(&file, via, &["status"], &[&sshd]);
    for name in &names {
        assert_status_running(&out, name, SHIP);
    }
}

// ====================================================== the local ship

/// start, status (ship `local`), stop, clean of a file without `ships` under the
/// environment `extra` gives maestro; `sshd`, when given, saw one login per
/// run (the play went through it).
fn shipless_round(tag: &str, via: Via, extra: &[(&str, String)], sshd: Option<&Sshd>) {
    let names = names(tag, 1);
    let _cleanup = Cleanup::new(&names);
    let dir = Dir::new();
    let file = shipless_environment(&dir, tag, &names);
    let step = |args: &[&str]| -> Output {
        let before = sshd.map(|s| s.accepted_logins().len());
        let mut command = maestro_cmd(&file, via, args);
        for (key, value) in extra {
            command.env(key, value);
        }
        let out = command.run();
        assert_code(&out, 0);
        if let (Some(sshd), Some(before)) = (sshd, before) {
            assert_eq!(
                sshd.accepted_logins().len(),
                before + 1,
                "`maestro {}` did not go through the sshd on port {}\n{}\n--- sshd log ---\n{}",
                args.join(" "),
                sshd.port(),
                out.report(),
                sshd.log()
            );
        }
        out
    };
    step(&["start"]);
    assert!(running(&local(), &names[0]), "{} does not run", names[0]);
    let out = step(&["status"]);
    assert_status_running(&out, &names[0], "local");
    step(&["stop", "--all"]);
    assert_eq!(state(&names[0]), "exited", "{} after stop", names[0]);
    step(&["clean"]);
    assert_absent(&names, "after clean");
}

/// `DOCKER_HOST=ssh://root@127.0.0.1:PORT` drives a file without `ships`.
#[test]
fn docker_host_ssh_drives_a_file_without_ships_on_ship_local() {
    let keys = keyring();
    let sshd = sshd_for(&keys.key);
    let home = SshHome::new();
    home.write_known_hosts(&sshd.known_hosts_lines());
    let via = Via {
        home: &home,
        agent: Some(&keys.agent),
    };
    shipless_round(
        "dockerhost",
        via,
        &[("DOCKER_HOST", root_at(sshd.port()))],
        Some(&sshd),
    );
}

/// The lowercase hex SHA-256 of `text` (`sha256sum`), as the Docker CLI
/// names a context's directory.
fn sha256_hex(text: &str) -> String {
    let mut child = Command::new("sha256sum")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("sha256sum runs");
    child
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(text.as_bytes())
        .expect("sha256sum reads");
    let out = child.wait_with_output().expect("sha256sum ends");
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .next()
        .expect("a digest")
        .to_owned()
}

/// Writes a Docker context `name` with engine address `host` into `config`.
fn write_context(config: &Path, name: &str, host: &str) {
    let dir = config.join("contexts/meta").join(sha256_hex(name));
    fs::create_dir_all(&dir).expect("the context directory");
    let meta = serde_json::json!({
        "Name": name,
        "Metadata": {},
        "Endpoints": {"docker": {"Host": host, "SkipTLSVerify": false}},
    });
    fs::write(dir.join("meta.json"), meta.to_string()).expect("meta.json is written");
}

/// A Docker context drives a file without `ships`: first as
/// `currentContext` of `$DOCKER_CONFIG/config.json`, then by
/// `DOCKER_CONTEXT`, which wins over a `currentContext` that leads nowhere.
#[test]
fn docker_context_drives_a_file_without_ships_on_ship_local() {
    let keys = keyring();
    let sshd = sshd_for(&keys.key);
    let home = SshHome::new();
    home.write_known_hosts(&sshd.known_hosts_lines());
    let via = Via {
        home: &home,
        agent: Some(&keys.agent),
    };
    let config = TempDir::new("dockercfg");
    write_context(config.path(), "es-good", &root_at(sshd.port()));
    // Nothing listens there: a play that used it would fail.
    write_context(config.path(), "es-nowhere", "tcp://127.0.0.1:9");
    let docker_config = config.path().display().to_string();

    fs::write(
        config.join("config.json"),
        r#"{"currentContext": "es-good"}"#,
    )
    .expect("config.json is written");
    shipless_round(
        "ctxcurrent",
        via,
        &[("DOCKER_CONFIG", docker_config.clone())],
        Some(&sshd),
    );

    fs::write(
        config.join("config.json"),
        r#"{"currentContext": "es-nowhere"}"#,
    )
    .expect("config.json is written");
    shipless_round(
        "ctxenv",
        via,
        &[
            ("DOCKER_CONFIG", docker_config),
            ("DOCKER_CONTEXT", "es-good".into()),
        ],
        Some(&sshd),
    );
}

/// No `DOCKER_HOST`, an empty `DOCKER_CONFIG`, nothing in `$HOME`: the
/// local socket.
#[test]
fn without_docker_host_or_context_a_file_without_ships_uses_the_local_socket() {
    let home = SshHome::new();
    let via = Via {
        home: &home,
        agent: None,
    };
    shipless_round("localsock", via, &[], None);
}

/// `endpoint: unix:///var/run/docker.sock` and `endpoint:
/// tcp://127.0.0.1:PORT` (a plain HTTP proxy before the local socket, which
/// sees the calls) both reach the engine.
#[test]
fn unix_and_tcp_endpoint_forms_reach_the_engine() {
    let names = ["es-forms-unix".to_owned(), "es-forms-tcp".to_owned()];
    let _cleanup = Cleanup::new(&names);
    let proxy = FaultProxy::start(Backend::Unix(socket().into())).expect("the proxy starts");
    let home = SshHome::new();
    let via = Via {
        home: &home,
        agent: None,
    };
    let dir = Dir::new();
    let text = head(
        "es-forms",
        &[
            (
                "unixship",
                format!(
                    "{{ip: 127.0.0.1, endpoint: {}}}",
                    q(&format!("unix://{}", socket()))
                ),
            ),
            (
                "tcpship",
                format!(
                    "{{ip: 127.0.0.1, endpoint: {}}}",
                    q(&format!("tcp://127.0.0.1:{}", proxy.port()))
                ),
            ),
        ],
    ) + &service(
        "app",
        IMAGE,
        &[],
        &[
            instance(&names[0], "unixship", IDLE, ""),
            instance(&names[1], "tcpship", IDLE, ""),
        ],
    );
    let file = dir.write("maestro.yaml", text);
    let out = run(&file, via, &["start"]);
    assert_code(&out, 0);
    for name in &names {
        assert!(
            running(&local(), name),
            "{name} does not run\n{}",
            out.report()
        );
    }
    assert!(
        proxy
            .cues()
            .log()
            .iter()
            .any(|seen| seen.target.contains("/containers/")),
        "the tcp:// ship's calls did not reach the proxy: {:?}",
        proxy.cues().log()
    );
    let out = run(&file, via, &["status"]);
    assert_code(&out, 0);
    assert_status_running(&out, &names[0], "unixship");
    assert_status_running(&out, &names[1], "tcpship");
    let out = run(&file, via, &["stop", "--all"]);
    assert_code(&out, 0);
    for name in &names {
        assert_eq!(state(name), "exited", "{name} after stop\n{}", out.report());
    }
    let out = run(&file, via, &["clean"]);
    assert_code(&out, 0);
    assert_absent(&names, "after clean");
}
