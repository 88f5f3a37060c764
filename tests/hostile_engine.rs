//! An engine that answers without end: a `/version`, a container's inspect,
//! a pull's progress line or a log frame that never stops coming. maestro
//! reads no more than its cap of an answer read whole (64 MiB), or of one
//! message of a stream (a log frame 64 MiB, a progress line 1 MiB), then
//! fails with one error naming the ship and the call; an answer whose head does
//! not fit in the read buffer likewise. Each run goes through GNU time; its peak memory is printed and
//! must stay far below what reading on would take.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::time::Duration;

use crate::util::{Dir, Output, TestCommand};

/// What the hostile engine floods.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Flood {
    /// `/version`, chunked.
    Version,
    /// Every container call (inspect, list), with a `Content-Length` of 1 TiB.
    Containers,
    /// `/images/create`: one progress line that never ends, in chunks.
    Pull,
    /// A container's logs: one frame announcing 2 GiB.
    Logs,
    /// `/version` answered with a head of 6 KiB (a proxy's headers).
    Head,
}

/// Serves `flood` on a free port of 127.0.0.1, each connection on a thread
/// (they end when maestro hangs up); the port.
fn hostile_engine(flood: Flood) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a free port");
    let port = listener.local_addr().expect("a bound address").port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || {
                let _ = serve(stream, flood);
            });
        }
    });
    port
}

/// Answers the requests of one connection until it closes.
fn serve(stream: TcpStream, flood: Flood) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut out = stream;
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line)? == 0 {
            return Ok(());
        }
        let mut length = 0usize;
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header)? == 0 {
                return Ok(());
            }
            if header.trim().is_empty() {
                break;
            }
            if let Some((name, value)) = header.split_once(':') {
                if name.trim().eq_ignore_ascii_case("content-length") {
                    length = value.trim().parse().unwrap_or(0);
                }
            }
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body)?;
        let path = request_line.split(' ').nth(1).unwrap_or("/").to_owned();
        let path = path.split('?').next().unwrap_or("/");
        // Without a `/v1.43` prefix.
        let path = match path.strip_prefix("/v") {
            Some(rest) if rest.starts_with(|c: char| c.is_ascii_digit()) => {
                rest.find('/').map_or("/", |i| &rest[i..])
            }
            _ => path,
        };
        if path == "/_ping" {
            answer(&mut out, "200 OK", "text/plain", "OK")?;
        } else if path == "/version" && flood == Flood::Head {
            let padding = "p".repeat(6 * 1024);
            write!(
                out,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Padding: {padding}\r\nContent-Length: 2\r\n\r\n{{}}"
            )?;
        } else if path == "/version" && flood != Flood::Version {
            answer(
                &mut out,
                "200 OK",
                "application/json",
                r#"{"Version":"24.0.7","ApiVersion":"1.43","MinAPIVersion":"1.12","Os":"linux","Arch":"amd64"}"#,
            )?;
        } else if path == "/version" {
            out.write_all(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n",
            )?;
            let first = b"{\"Version\": \"24.";
            write!(out, "{:x}\r\n", first.len())?;
            out.write_all(first)?;
            out.write_all(b"\r\n")?;
            let chunk = vec![b'7'; 64 * 1024];
            loop {
                write!(out, "{:x}\r\n", chunk.len())?;
                out.write_all(&chunk)?;
                out.write_all(b"\r\n")?;
            }
        } else if path == "/containers/json" {
            // One container, made by someone else (no spec hash): `up`
            // inspects it whole to compare it with the file.
            answer(
                &mut out,
                "200 OK",
                "application/json",
                r#"[{"Id":"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef","Names":["/web-1"],"Image":"maestro-test/box:1","ImageID":"sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef","State":"running","Status":"Up 1 minute","Labels":{}}]"#,
            )?;
        } else if path.starts_with("/containers/") && flood == Flood::Containers {
            out.write_all(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 1099511627776\r\n\r\n{\"Id\": \"",
            )?;
            let chunk = vec![b'a'; 64 * 1024];
            loop {
                out.write_all(&chunk)?;
            }
        } else if path == "/images/create" && flood == Flood::Pull {
            out.write_all(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n",
            )?;
            let first = b"{\"status\":\"Pulling from library/box\"}\n{\"status\":\"";
            write!(out, "{:x}\r\n", first.len())?;
            out.write_all(first)?;
            out.write_all(b"\r\n")?;
            // Chunks, each ending in the line ends of the framing.
            let chunk = [b'x'; 16 * 1024];
            loop {
                write!(out, "{:x}\r\n", chunk.len())?;
                out.write_all(&chunk)?;
                out.write_all(b"\r\n")?;
            }
        } else if path.ends_with("/logs") && flood == Flood::Logs {
            out.write_all(
                b"HTTP/1.1 200 OK\r\nContent-Type: application/vnd.docker.raw-stream\r\n\r\n",
            )?;
            out.write_all(&[1, 0, 0, 0, 0x80, 0, 0, 0])?;
            let chunk = vec![b'l'; 64 * 1024];
            loop {
                out.write_all(&chunk)?;
            }
        } else if path.starts_with("/containers/web-1/json") && flood == Flood::Logs {
            answer(
                &mut out,
                "200 OK",
                "application/json",
                r#"{"Id":"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef","Name":"/web-1","State":{"Status":"running","Running":true,"Pid":1,"ExitCode":0,"StartedAt":"2024-01-01T00:00:00Z","FinishedAt":"0001-01-01T00:00:00Z"},"Config":{"Image":"maestro-test/box:1","Tty":false,"Labels":{}},"Image":"sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef","HostConfig":{},"NetworkSettings":{}}"#,
            )?;
        } else if path.starts_with("/containers/") && path.ends_with("/json") {
            answer(
                &mut out,
                "404 Not Found",
                "application/json",
                r#"{"message":"No such container"}"#,
            )?;
        } else if path.starts_with("/images/") && path.ends_with("/json") {
            answer(
                &mut out,
                "200 OK",
                "application/json",
                r#"{"Id":"sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef","RepoTags":["maestro-test/box:1"],"Config":{"Cmd":["/bin/sh"]}}"#,
            )?;
        } else {
            answer(
                &mut out,
                "500 Internal Server Error",
                "application/json",
                r#"{"message":"not served by this test"}"#,
            )?;
        }
    }
}

fn answer(out: &mut TcpStream, status: &str, kind: &str, body: &str) -> std::io::Result<()> {
    write!(
        out,
        "HTTP/1.1 {status}\r\nContent-Type: {kind}\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

fn environment(dir: &Dir, port: u16) -> std::path::PathBuf {
    dir.write(
        "maestro.yaml",
        format!(
            "name: hostile\nships:\n  dock: {{ip: 127.0.0.1, docker_port: {port}, timeout: 30}}\n\
             services:\n  web:\n    image: maestro-test/box:1\n    instances:\n      web-1: {{ship: dock}}\n"
        ),
    )
}

/// `maestro -f FILE ARGS` under GNU time; the output and the peak memory in KiB.
fn timed(dir: &Dir, file: &Path, args: &[&str], label: &str) -> (Output, u64) {
    let times = dir.join("time.txt");
    let out = TestCommand::new("/usr/bin/time")
        .current_dir(dir.path())
        .args(["-f", "%e s, peak %M KiB", "-o"])
        .arg(&times)
        .arg(env!("CARGO_BIN_EXE_maestro"))
        .arg("-f")
        .arg(file)
        .args(args)
        .env("NO_COLOR", "1")
        // The hostile answers are for the plays' own calls, not the lock's.
        .env("MAESTRO_NO_LOCK", "1")
        .env_remove("DOCKER_HOST")
        .env_remove("DOCKER_CONTEXT")
        .timeout(Duration::from_secs(120))
        .run();
    let measured = std::fs::read_to_string(&times).unwrap_or_default();
    let last = measured.lines().last().unwrap_or("(no timing)").to_owned();
    println!("{label}: {last}");
    let peak = last
        .split("peak ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| {
            panic!(
                "GNU time gave no peak memory: {measured:?}\n{}",
                out.report()
            )
        });
    (out, peak)
}

/// Twice the cap, plus the binary and its runtime: reading on would pass it
/// within a second.
const PEAK_KIB: u64 = 320 * 1024;

/// Exit 1, every word in one `ERROR:` line, memory bounded.
fn assert_refused(out: &Output, peak: u64, words: &[&str]) {
    assert_eq!(out.code(), Some(1), "{}", out.report());
    let stderr = out.stderr();
    let error = stderr
        .lines()
        .find(|l| l.starts_with("ERROR: "))
        .unwrap_or_else(|| panic!("no ERROR line:\n{}", out.report()));
    for word in words {
        assert!(error.contains(word), "no `{word}` in: {error}");
    }
    assert!(peak < PEAK_KIB, "peak memory {peak} KiB");
}

#[test]
fn an_endless_version_answer_is_refused_at_the_cap() {
    let port = hostile_engine(Flood::Version);
    let dir = Dir::new();
    let file = environment(&dir, port);
    let (out, peak) = timed(&dir, &file, &["start"], "endless /version");
    assert_refused(
        &out,
        peak,
        &[
            "ship dock: the engine's answer to `ask the engine its version` is larger than 64 MiB",
            "check that the ship's address leads to a Docker engine",
        ],
    );
}

#[test]
fn an_endless_inspect_answer_is_refused_at_the_cap() {
    let port = hostile_engine(Flood::Containers);
    let dir = Dir::new();
    let file = environment(&dir, port);
    let (out, peak) = timed(&dir, &file, &["up"], "endless inspect");
    assert_refused(
        &out,
        peak,
        &["ship dock: the engine's answer to `inspect container web-1` is larger than 64 MiB"],
    );
}

#[test]
fn an_endless_pull_progress_line_is_refused_at_the_cap() {
    let port = hostile_engine(Flood::Pull);
    let dir = Dir::new();
    let file = environment(&dir, port);
    let (out, peak) = timed(&dir, &file, &["pull"], "endless pull line");
    assert_refused(
        &out,
        peak,
        &[
            "ship dock: could not pull image maestro-test/box:1: ",
            "one message of the engine's answer to `pull image maestro-test/box:1` is larger than 1 MiB",
        ],
    );
}

#[test]
fn an_endless_log_frame_is_refused_at_its_header() {
    let port = hostile_engine(Flood::Logs);
    let dir = Dir::new();
    let file = environment(&dir, port);
    let (out, peak) = timed(&dir, &file, &["logs", "web-1"], "2 GiB log frame");
    assert_refused(
        &out,
        peak,
        &["ship dock: one message of the engine's answer to `read the logs of web-1` is larger than 64 MiB"],
    );
}

/// An answer whose head does not fit in the connection's read buffer (a
/// proxy adding headers) fails the call with one sentence that says so.
#[test]
fn an_answer_with_a_head_over_the_read_buffer_is_named() {
    let port = hostile_engine(Flood::Head);
    let dir = Dir::new();
    let file = environment(&dir, port);
    let (out, peak) = timed(&dir, &file, &["start"], "6 KiB head");
    assert_refused(
        &out,
        peak,
        &[
            "ship dock: could not ask the engine its version",
            "the answer's head is larger than the 4 KiB maestro reads",
        ],
    );
}
