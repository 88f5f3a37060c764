//! `maestro logs` of several containers end to end (issue 19 item 4): a
//! service's instances on two ships, their lines merged and each prefixed
//! with the container's name; `-n` per container and `--since`; `-F`
//! following both ships through a restart of the service; a single
//! container's output left as it was (no prefix).
//!
//! Containers are named `mlogs-…`, the environments `mlogs…`.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::engine_support::{assert_code, error_line, head, instance, maestro, service, IMAGE};
use crate::testbed::{docker, testbed, use_ships, Cleanup};
use crate::util::Dir;

/// Says `boot NAME`, three numbered lines, then ticks until stopped.
fn talker(name: &str) -> Vec<String> {
    let script = format!(
        "echo boot {name}; for i in 1 2 3; do echo {name} line$i; done; trap 'exit 0' TERM; while :; do echo {name} tick; sleep 0.3 & wait; done"
    );
    vec!["sh".into(), "-c".into(), script]
}

/// The environment: service `talk` with one instance on the local engine
/// and one on ship2 (over TCP); named after the first container, so that
/// tests running at once do not share (and race for) one deploy lock.
fn environment(dir: &Dir, names: &[&str; 2]) -> std::path::PathBuf {
    let bed = testbed();
    let mut text = head(
        names[0].trim_end_matches("-1"),
        &[("local", bed.local_ship()), ("ship2", bed.ship2_tcp())],
    );
    let a = talker(names[0]);
    let b = talker(names[1]);
    let a: Vec<&str> = a.iter().map(String::as_str).collect();
    let b: Vec<&str> = b.iter().map(String::as_str).collect();
    text.push_str(&service(
        "talk",
        IMAGE,
        &[],
        &[
            instance(names[0], "local", &a, ""),
            instance(names[1], "ship2", &b, ""),
        ],
    ));
    dir.write("maestro.yaml", text)
}

/// Waits until the engine has `needle` in the container's logs.
fn await_log(host: &str, name: &str, needle: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !docker(host, &["logs", name]).contains(needle) {
        assert!(Instant::now() < deadline, "{name} never wrote {needle:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn logs_of_a_service_print_every_instance_prefixed() {
    let _ships = use_ships();
    let names = ["mlogs-svc-1", "mlogs-svc-2"];
    let _cleanup = Cleanup::new(&names);
    let dir = Dir::new();
    let file = environment(&dir, &names);
    maestro(&file, &["start"]).assert_success();
    let bed = testbed();
    await_log(&bed.local_host(), names[0], "line3");
    await_log(&bed.ship2_host(), names[1], "line3");

    let out = maestro(&file, &["logs", "talk"]);
    out.assert_success();
    let stdout = out.stdout();
    for name in names {
        for i in 1..=3 {
            let wanted = format!("{name} | {name} line{i}");
            assert!(
                stdout.lines().any(|l| l == wanted),
                "no {wanted:?}\n{}",
                out.report()
            );
        }
        // Each container's lines in their order.
        let own: Vec<&str> = stdout
            .lines()
            .filter(|l| l.starts_with(&format!("{name} | {name} line")))
            .collect();
        assert_eq!(own.len(), 3, "{}", out.report());
        assert!(own.windows(2).all(|w| w[0] < w[1]), "{own:?}");
    }
    assert!(
        stdout
            .lines()
            .all(|l| names.iter().any(|n| l.starts_with(&format!("{n} | ")))),
        "an unprefixed line\n{}",
        out.report()
    );

    // -n counts per container.
    let out = maestro(&file, &["logs", "-n", "1", "talk"]);
    out.assert_success();
    let lines: Vec<String> = out.stdout().lines().map(str::to_owned).collect();
    assert_eq!(lines.len(), 2, "{}", out.report());
    for name in names {
        assert_eq!(
            lines
                .iter()
                .filter(|l| l.starts_with(&format!("{name} | ")))
                .count(),
            1,
            "{}",
            out.report()
        );
    }

    // --since: an hour back shows the first lines, a time to come none.
    let out = maestro(&file, &["logs", "--since", "1h", "talk"]);
    out.assert_success();
    assert!(
        out.stdout().contains(&format!("{} | boot", names[1])),
        "{}",
        out.report()
    );
    let out = maestro(
        &file,
        &["logs", "--since", "4000000000", names[0], names[1]],
    );
    out.assert_success();
    assert_eq!(out.stdout(), "", "{}", out.report());
    let out = maestro(&file, &["logs", "--since", "yesterday", "talk"]);
    assert_code(&out, 2);
    assert!(
        error_line(&out).contains("--since yesterday"),
        "{}",
        out.report()
    );

    // One container: MaestroNG's plain lines.
    let out = maestro(&file, &["logs", "-n", "1", names[0]]);
    out.assert_success();
    assert_eq!(
        out.stdout(),
        format!("{} tick\n", names[0]),
        "{}",
        out.report()
    );
}

/// A running `maestro logs -F`, its stdout lines read as they come.
struct Follow {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Follow {
    fn spawn(file: &std::path::Path, args: &[&str]) -> Follow {
        let mut child = Command::new(env!("CARGO_BIN_EXE_maestro"))
            .arg("-f")
            .arg(file)
            .args(args)
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("maestro logs -F runs");
        let stdout = child.stdout.take().expect("piped");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Follow {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Reads lines until `done` says the lines seen so far are enough
    /// (within the test's limit of 30 s).
    fn until(&mut self, what: &str, done: impl Fn(&[String]) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !done(&self.seen) {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => self.seen.push(line),
                Err(_) => panic!("logs -F: never saw {what}; got {:#?}", self.seen),
            }
        }
    }
}

impl Drop for Follow {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn count(lines: &[String], wanted: &str) -> usize {
    lines.iter().filter(|l| *l == wanted).count()
}

#[test]
fn logs_follow_of_a_service_across_two_ships_keeps_on_through_a_restart() {
    let _ships = use_ships();
    let names = ["mlogs-fol-1", "mlogs-fol-2"];
    let _cleanup = Cleanup::new(&names);
    let dir = Dir::new();
    let file = environment(&dir, &names);
    maestro(&file, &["start"]).assert_success();

    let mut follow = Follow::spawn(&file, &["logs", "-F", "talk"]);
    let boots: Vec<String> = names.iter().map(|n| format!("{n} | boot {n}")).collect();
    let ticks: Vec<String> = names.iter().map(|n| format!("{n} | {n} tick")).collect();
    follow.until("both containers' first lines and ticks", |seen| {
        boots.iter().all(|b| count(seen, b) == 1) && ticks.iter().all(|t| count(seen, t) >= 2)
    });

    // A restart of the service (same containers, engine restart) on both
    // ships, then a replacement (stop, clean, start: new containers).
    let bed = testbed();
    docker(&bed.local_host(), &["restart", "-t", "1", names[0]]);
    docker(&bed.ship2_host(), &["restart", "-t", "1", names[1]]);
    follow.until(
        "each container's boot line again after its restart",
        |seen| boots.iter().all(|b| count(seen, b) == 2),
    );
    // Only new lines after a restart: the numbered lines twice, not three times.
    for name in names {
        let line1 = format!("{name} | {name} line1");
        follow.until("the numbered lines of the second run", |seen| {
            count(seen, &line1) >= 2
        });
        assert_eq!(count(&follow.seen, &line1), 2, "{:#?}", follow.seen);
    }
    maestro(&file, &["stop", "-s", "talk"]).assert_success();
    maestro(&file, &["clean"]).assert_success();
    maestro(&file, &["start"]).assert_success();
    follow.until("each new container's boot line", |seen| {
        boots.iter().all(|b| count(seen, b) == 3)
    });
    let from = follow.seen.len();
    follow.until("ticks of both new containers", |seen| {
        ticks.iter().all(|t| count(&seen[from..], t) >= 1)
    });
}
