//! Inputs without an end: `-f /dev/zero`, a FIFO or standard input fed
//! forever, an `include`d template or an env file that never ends. Each is
//! refused with one clear error once the cap is passed, having read no more
//! than the cap. Each run goes through GNU time, whose wall time and peak
//! memory are printed with the test's output.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::util::{Dir, Output, TestCommand};

/// `maestro -f FILE dump` under GNU time (elapsed seconds and peak KiB are
/// printed, and kept in `time.txt`).
fn timed_dump(dir: &Dir, file: &str, label: &str) -> Output {
    let times = dir.join("time.txt");
    let out = TestCommand::new("/usr/bin/time")
        .current_dir(dir.path())
        .args(["-f", "%e s, peak %M KiB", "-o"])
        .arg(&times)
        .arg(env!("CARGO_BIN_EXE_maestro"))
        .args(["-f", file, "dump"])
        .env_remove("DOCKER_HOST")
        .env_remove("DOCKER_CONTEXT")
        .timeout(Duration::from_secs(60))
        .run();
    let measured = std::fs::read_to_string(&times).unwrap_or_default();
    println!(
        "{label}: {}",
        measured.lines().last().unwrap_or("(no timing)")
    );
    out
}

/// Exit 1 and exactly one `ERROR:` line containing every one of `words`.
fn assert_refused(out: &Output, words: &[&str]) {
    assert_eq!(out.code(), Some(1), "{}", out.report());
    let stderr = out.stderr();
    let errors: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("ERROR: "))
        .collect();
    assert_eq!(errors.len(), 1, "{}", out.report());
    for word in words {
        assert!(errors[0].contains(word), "no `{word}` in: {}", errors[0]);
    }
}

/// The peak memory GNU time measured, in KiB.
fn peak_kib(dir: &Dir) -> u64 {
    let text = std::fs::read_to_string(dir.join("time.txt")).unwrap_or_default();
    text.lines()
        .last()
        .and_then(|l| l.split("peak ").nth(1))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("GNU time gave no peak memory: {text:?}"))
}

/// Well above the 64 MiB cap plus the binary, well below what reading
/// without a cap would reach before the test's minute is up.
const PEAK_LIMIT_KIB: u64 = 400 * 1024;

#[test]
fn an_endless_device_as_the_file_is_refused() {
    let dir = Dir::new();
    let out = timed_dump(&dir, "/dev/zero", "-f /dev/zero");
    assert_refused(&out, &["/dev/zero", "larger than 64 MiB"]);
    assert!(peak_kib(&dir) < PEAK_LIMIT_KIB);
}

/// A FIFO whose writer never stops (`yes` into it).
#[test]
fn an_endless_fifo_as_the_file_is_refused() {
    let dir = Dir::new();
    let fifo = dir.join("endless.yaml");
    let made = Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo runs");
    assert!(made.success());
    let mut writer = Command::new("sh")
        .arg("-c")
        .arg(format!("exec yes > {}", fifo.display()))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("a writer starts");
    let out = timed_dump(&dir, "endless.yaml", "-f FIFO");
    let _ = writer.kill();
    let _ = writer.wait();
    assert_refused(&out, &["endless.yaml", "larger than 64 MiB"]);
    assert!(peak_kib(&dir) < PEAK_LIMIT_KIB);
}

#[test]
fn an_endless_include_is_refused_naming_it() {
    let dir = Dir::new();
    std::os::unix::fs::symlink("/dev/zero", dir.join("endless.j2")).expect("a symlink");
    dir.write(
        "maestro.yaml",
        "name: x\nservices: {}\n{% include 'endless.j2' %}\n",
    );
    let out = timed_dump(&dir, "maestro.yaml", "include of /dev/zero");
    assert_refused(
        &out,
        &["maestro.yaml:3", "endless.j2", "larger than 64 MiB"],
    );
    assert!(peak_kib(&dir) < PEAK_LIMIT_KIB);
}

#[test]
fn an_endless_envfile_is_refused_naming_it() {
    let dir = Dir::new();
    dir.write(
        "maestro.yaml",
        "name: x\nships: {a: {ip: 10.0.0.1}}\nservices:\n  s: {image: i, envfile: /dev/zero, instances: {s1: {ship: a}}}\n",
    );
    let out = timed_dump(&dir, "maestro.yaml", "envfile /dev/zero");
    assert_refused(
        &out,
        &[
            "maestro.yaml:4",
            "envfile",
            "/dev/zero",
            "larger than 16 MiB",
        ],
    );
    assert!(peak_kib(&dir) < PEAK_LIMIT_KIB);
}

/// `-f -` with a standard input that never ends.
#[test]
fn endless_standard_input_is_refused() {
    let dir = Dir::new();
    let times = dir.join("time.txt");
    let maestro = env!("CARGO_BIN_EXE_maestro");
    let out = TestCommand::new("sh")
        .current_dir(dir.path())
        .arg("-c")
        .arg(format!(
            "yes | /usr/bin/time -f '%e s, peak %M KiB' -o {} {maestro} -f - dump",
            times.display()
        ))
        .timeout(Duration::from_secs(60))
        .run();
    println!(
        "-f - fed by yes: {}",
        std::fs::read_to_string(Path::new(&times))
            .unwrap_or_default()
            .trim()
    );
    assert_refused(&out, &["<stdin>", "larger than 64 MiB"]);
    assert!(peak_kib(&dir) < PEAK_LIMIT_KIB);
}
