//! What the end-to-end tests against the test bed's engines share: the box
//! image and its idle command; environment-file text (YAML quoting, ships,
//! `head`/`service`/`instance` blocks); running `maestro -f FILE …` and
//! reading its output (exit status, `ERROR:` line, a container's line);
//! looking containers, images and events up on an engine (with the RFC 3339
//! times it reports, in nanoseconds); building and removing test images; and
//! running a helper program that must succeed.

use std::cell::RefCell;
use std::net::TcpListener;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;

use crate::testbed::{docker, inspect, testbed};
use crate::util::{Dir, Output, TestCommand};

/// The image the engine tests run (busybox with a shell).
pub const IMAGE: &str = "maestro-test/box:1";

/// Does nothing until stopped; exits at once on SIGTERM.
pub const IDLE: &[&str] = &["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"];

// ------------------------------------------------------- environment files

/// A string as a YAML scalar (a JSON string is a valid YAML double-quoted
/// scalar). The environment file is a Jinja template too: no `{{`, `{%`, `{#`.
pub fn q(text: &str) -> String {
    assert!(
        !text.contains("{{") && !text.contains("{%") && !text.contains("{#"),
        "text for the environment file would be read as Jinja: {text}"
    );
    serde_json::to_string(text).expect("a string serializes")
}

/// An argument vector as a YAML flow list.
pub fn argv(args: &[&str]) -> String {
    let items: Vec<String> = args.iter().map(|a| q(a)).collect();
    format!("[{}]", items.join(", "))
}

/// A port on this machine that nothing listens on right now (the local
/// engine publishes ports on this machine).
pub fn free_port() -> u16 {
    TcpListener::bind(("0.0.0.0", 0))
        .and_then(|l| l.local_addr())
        .expect("a free local port")
        .port()
}

/// The local engine's `docker -H` address.
pub fn local() -> String {
    testbed().local_host()
}

/// Ship2's `docker -H` address.
pub fn ship2() -> String {
    testbed().ship2_host()
}

/// The head of an environment file: its name and ships (name → YAML flow map).
pub fn head(name: &str, ships: &[(&str, String)]) -> String {
    let mut text = format!("name: {name}\nships:\n");
    for (ship, spec) in ships {
        text.push_str(&format!("  {ship}: {spec}\n"));
    }
    text.push_str("services:\n");
    text
}

/// One instance line (`      NAME: {ship: …, stop_timeout: 1, command: …, EXTRA}`).
pub fn instance(name: &str, ship: &str, command: &[&str], extra: &str) -> String {
    let extra = if extra.is_empty() {
        String::new()
    } else {
        format!(", {extra}")
    };
    format!(
        "      {name}: {{ship: {ship}, stop_timeout: 1, command: {}{extra}}}\n",
        argv(command)
    )
}

/// A service block: `image`, then `extra` lines (already indented), then the
/// instances (from [`instance`]).
pub fn service(name: &str, image: &str, extra: &[&str], instances: &[String]) -> String {
    let mut text = format!("  {name}:\n    image: {image}\n");
    for line in extra {
        text.push_str(&format!("    {line}\n"));
    }
    text.push_str("    instances:\n");
    for i in instances {
        text.push_str(i);
    }
    text
}

// ------------------------------------------------------ running maestro

/// `maestro -f FILE ARGS…` without colours, without the caller's
/// `DOCKER_HOST`/`DOCKER_CONTEXT`, given two minutes.
fn maestro_command(file: &Path, args: &[&str]) -> TestCommand {
    let mut command = TestCommand::maestro();
    command
        .arg("-f")
        .arg(file)
        .args(args)
        .env("NO_COLOR", "1")
        .env_remove("DOCKER_CONTEXT")
        .env_remove("DOCKER_HOST")
        .env_remove("SSH_AUTH_SOCK")
        .timeout(Duration::from_secs(120));
    command.env("HOME", crate::testbed::ssh_home());
    command
}

/// Runs `maestro -f FILE ARGS…` in the file's directory.
pub fn maestro(file: &Path, args: &[&str]) -> Output {
    maestro_command(file, args)
        .current_dir(file.parent().expect("the file is in a directory"))
        .run()
}

/// Runs `maestro -f FILE ARGS…` in the file's directory, given `limit`: a
/// run still going then is killed and fails the test, saying so.
pub fn maestro_within(file: &Path, args: &[&str], limit: Duration) -> Output {
    maestro_command(file, args)
        .current_dir(file.parent().expect("the file is in a directory"))
        .timeout(limit)
        .run()
}

/// Runs `maestro -f FILE ARGS…` (in this process's directory) and returns
/// its output and how long it took (for messages only).
pub fn maestro_timed(file: &Path, args: &[&str]) -> (Output, Duration) {
    let started = Instant::now();
    let out = maestro_command(file, args).run();
    (out, started.elapsed())
}

/// Asserts the exit status (and that nothing panicked).
pub fn assert_code(out: &Output, code: i32) {
    assert_eq!(
        out.code(),
        Some(code),
        "expected exit status {code}\n{}",
        out.report()
    );
    assert!(!out.stderr().contains("panicked"), "{}", out.report());
}

/// The first `ERROR: ` line on stderr.
pub fn error_line(out: &Output) -> String {
    out.stderr()
        .lines()
        .find(|l| l.starts_with("ERROR: "))
        .map(str::to_owned)
        .unwrap_or_else(|| panic!("no `ERROR: ` line on stderr\n{}", out.report()))
}

/// Every `ERROR:` line on stderr.
pub fn error_lines(out: &Output) -> Vec<String> {
    out.stderr()
        .lines()
        .filter(|l| l.starts_with("ERROR:"))
        .map(str::to_owned)
        .collect()
}

/// The first line of stdout that `matches`.
fn line_where(out: &Output, container: &str, matches: impl Fn(&str) -> bool) -> String {
    out.stdout()
        .lines()
        .find(|l| matches(l))
        .map(str::to_owned)
        .unwrap_or_else(|| panic!("no line for {container}\n{}", out.report()))
}

/// The line of a command's table output about `container` (a
/// whitespace-separated field equal to the name).
pub fn line_of(out: &Output, container: &str) -> String {
    line_where(out, container, |l| {
        l.split_whitespace().any(|w| w == container)
    })
}

/// The first line of stdout with ` CONTAINER ` in it (the name between two
/// spaces).
pub fn line_of_spaced(out: &Output, container: &str) -> String {
    let needle = format!(" {container} ");
    line_where(out, container, |l| l.contains(&needle))
}

/// Asserts that the line about `container` (see [`line_of`]) says `needle`.
pub fn assert_line(out: &Output, container: &str, needle: &str) {
    let line = line_of(out, container);
    assert!(
        line.contains(needle),
        "the line for {container} does not say `{needle}`: {line:?}\n{}",
        out.report()
    );
}

// ------------------------------------------------------- engine look-ups

/// Whether a container of that name exists on the engine.
pub fn exists(host: &str, name: &str) -> bool {
    inspect(host, name).is_some()
}

/// Whether the container exists and runs.
pub fn running(host: &str, name: &str) -> bool {
    inspect(host, name)
        .and_then(|c| c["State"]["Running"].as_bool())
        .unwrap_or(false)
}

/// Asserts, through the engine, that the container exists and does not run
/// (what a failed `running` check leaves: stopped, so that the next start
/// checks it again).
pub fn assert_stopped(host: &str, name: &str, out: &Output) {
    let found = inspect(host, name)
        .unwrap_or_else(|| panic!("{name} does not exist on {host}\n{}", out.report()));
    assert_eq!(
        found["State"]["Running"],
        false,
        "{name} still runs on {host}: {}\n{}",
        found["State"],
        out.report()
    );
    assert_eq!(
        found["State"]["Restarting"],
        false,
        "{name} restarts on {host}: {}\n{}",
        found["State"],
        out.report()
    );
}

/// A container's id (panics when it does not exist).
pub fn container_id(host: &str, name: &str) -> String {
    inspect(host, name)
        .and_then(|c| c["Id"].as_str().map(str::to_owned))
        .unwrap_or_else(|| panic!("{name} does not exist on {host}"))
}

/// The id of an image on an engine (panics when it is not there).
pub fn image_id(host: &str, image: &str) -> String {
    docker(host, &["image", "inspect", "-f", "{{.Id}}", image])
        .trim()
        .to_owned()
}

/// The id of an image on an engine, `None` when it is not there.
pub fn image_id_if_any(host: &str, image: &str) -> Option<String> {
    let out = Command::new("docker")
        .args(["-H", host, "image", "inspect", "-f", "{{.Id}}", image])
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// `State.StartedAt` of a container, in nanoseconds since the epoch.
pub fn started_at(host: &str, name: &str) -> i128 {
    state_time(host, name, "StartedAt")
}

/// `State.FinishedAt` of a container, in nanoseconds since the epoch.
pub fn finished_at(host: &str, name: &str) -> i128 {
    state_time(host, name, "FinishedAt")
}

/// `State.FIELD` of a container (an RFC 3339 time), in nanoseconds since the
/// epoch.
fn state_time(host: &str, name: &str, field: &str) -> i128 {
    let found = inspect(host, name).unwrap_or_else(|| panic!("{name} does not exist on {host}"));
    let text = found["State"][field]
        .as_str()
        .unwrap_or_else(|| panic!("{name} has no State.{field}"));
    rfc3339_nanos(text).unwrap_or_else(|| panic!("{name}: State.{field} {text:?} is not RFC 3339"))
}

// ------------------------------------------------------------------ times

/// Days from 1970-01-01 to a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Parses `2024-05-01T12:34:56.123456789Z` (or with a `±HH:MM` offset) into
/// nanoseconds since the epoch.
pub fn rfc3339_nanos(text: &str) -> Option<i128> {
    let b = text.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> { text.get(r)?.parse().ok() };
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, s) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let mut rest = &text[19..];
    let mut nanos: i128 = 0;
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        let mut value: i128 = 0;
        for (i, c) in frac[..digits].bytes().enumerate() {
            if i < 9 {
                value = value * 10 + i128::from(c - b'0');
            }
        }
        for _ in digits..9 {
            value *= 10;
        }
        nanos = value;
        rest = &frac[digits..];
    }
    let offset_secs: i64 = match rest {
        "Z" | "z" => 0,
        _ if rest.len() == 6 && (rest.starts_with('+') || rest.starts_with('-')) => {
            let oh: i64 = rest.get(1..3)?.parse().ok()?;
            let om: i64 = rest.get(4..6)?.parse().ok()?;
            let sign = if rest.starts_with('-') { -1 } else { 1 };
            sign * (oh * 3600 + om * 60)
        }
        _ => return None,
    };
    let secs = days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + s - offset_secs;
    Some(i128::from(secs) * 1_000_000_000 + nanos)
}

/// Now, in nanoseconds since the epoch.
pub fn now_nanos() -> i128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("the clock is after 1970")
        .as_nanos() as i128
}

/// Seconds between two nanosecond timestamps, for messages.
pub fn secs(nanos: i128) -> f64 {
    nanos as f64 / 1e9
}

// ----------------------------------------------------------------- events

/// A container event reported by the engine.
#[derive(Debug, Clone)]
pub struct Event {
    pub action: String,
    pub name: String,
    pub nanos: i128,
}

/// The engine's container events for environment `env_name` (by maestro's
/// label) from `since` (nanoseconds since the epoch) until now, in order.
pub fn events(host: &str, env_name: &str, since: i128) -> Vec<Event> {
    let from = since / 1_000_000_000 - 1;
    let until = now_nanos();
    let until = format!("{}.{:09}", until / 1_000_000_000, until % 1_000_000_000);
    let label = format!("label=io.maestro.environment={env_name}");
    let text = docker(
        host,
        &[
            "events",
            "--since",
            &from.to_string(),
            "--until",
            &until,
            "--filter",
            "type=container",
            "--filter",
            &label,
            "--format",
            "{{json .}}",
        ],
    );
    let mut list: Vec<Event> = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap_or_else(|e| panic!("event {l:?}: {e}"));
            let action = v["Action"].as_str().or(v["status"].as_str()).unwrap_or("");
            Event {
                action: action.to_owned(),
                name: v["Actor"]["Attributes"]["name"]
                    .as_str()
                    .unwrap_or("")
                    .to_owned(),
                nanos: v["timeNano"].as_i64().map(i128::from).unwrap_or(0),
            }
        })
        .filter(|e| e.nanos >= since)
        .collect();
    list.sort_by_key(|e| e.nanos);
    list
}

/// [`events`] without the health checks' own `exec_*` events.
pub fn events_without_exec(host: &str, env_name: &str, since: i128) -> Vec<Event> {
    let mut list = events(host, env_name, since);
    list.retain(|e| !e.action.starts_with("exec_"));
    list
}

/// The time of the first `action` event of container `name` in `list`.
pub fn first_event(list: &[Event], action: &str, name: &str) -> i128 {
    event_time(list.iter(), list, action, name)
}

/// The time of the last `action` event of container `name` in `list`.
pub fn last_event(list: &[Event], action: &str, name: &str) -> i128 {
    event_time(list.iter().rev(), list, action, name)
}

/// The time of the first matching event of `list` in `order`.
fn event_time<'a>(
    mut order: impl Iterator<Item = &'a Event>,
    list: &[Event],
    action: &str,
    name: &str,
) -> i128 {
    order
        .find(|e| e.action == action && e.name == name)
        .map(|e| e.nanos)
        .unwrap_or_else(|| panic!("no `{action}` event for {name} in {list:#?}"))
}

// ----------------------------------------------------------------- images

/// Builds `dockerfile` on the engine at `host` (legacy builder) as `tag`;
/// returns the new image id.
pub fn build_image(host: &str, tag: &str, dockerfile: &str) -> String {
    let context = Dir::new();
    context.write("Dockerfile", dockerfile);
    run_ok(
        Command::new("docker")
            .args(["-H", host, "build", "-q", "-t", tag])
            .arg(context.path())
            .env("DOCKER_BUILDKIT", "0")
            .env_remove("DOCKER_CONTEXT"),
    );
    image_id(host, tag)
}

/// Image references removed from the local engine when dropped (declare it
/// before the [`Cleanup`](crate::testbed::Cleanup) guard, so that the
/// containers go first).
pub struct RemoveImages(RefCell<Vec<String>>);

impl RemoveImages {
    pub fn new(refs: &[&str]) -> RemoveImages {
        RemoveImages(RefCell::new(refs.iter().map(|r| r.to_string()).collect()))
    }

    pub fn add(&self, reference: &str) {
        self.0.borrow_mut().push(reference.to_owned());
    }
}

impl Drop for RemoveImages {
    fn drop(&mut self) {
        for reference in self.0.borrow().iter() {
            let _ = Command::new("docker")
                .args(["-H", &local(), "rmi", "-f", reference])
                .env_remove("DOCKER_CONTEXT")
                .output();
        }
    }
}

// --------------------------------------------------------------- programs

/// Runs a program to its end, panicking with its stderr when it fails;
/// returns what it printed.
pub fn run_ok(command: &mut Command) -> std::process::Output {
    let out = command
        .output()
        .unwrap_or_else(|e| panic!("cannot run {command:?}: {e}"));
    assert!(
        out.status.success(),
        "{command:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}
