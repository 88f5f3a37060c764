//! The audit trail end to end (environment-file.md §8), against the local
//! engine: each auditor type against a local file, script or endpoint, its
//! line or payload checked (`log`, `http`, `exec`, `slack` with a local
//! `endpoint`, `hipchat` warning once); `level: debug` also hearing of each
//! container; a failing auditor stopping the play before it acts, unless it
//! has `ignore_errors: true`.
//!
//! Who acts is the local user: every run gets `LOGNAME`/`USER` =
//! `auditor-alice`. Containers are named `au-<test>-…` and removed by a
//! [`Cleanup`] guard.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::testbed::{inspect, testbed, Cleanup};
use crate::util::{Dir, Output, TestCommand};

const IMAGE: &str = "maestro-test/box:1";
const WHO: &str = "auditor-alice";

/// Does nothing until stopped; exits at once on SIGTERM.
const IDLE: &str = r#"["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"]"#;

/// One request a [`FakeServer`] received.
#[derive(Debug, Clone)]
pub struct Request {
    pub line: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("the body is not JSON ({e}): {}", self.body))
    }
}

/// A local HTTP endpoint that answers every request with `status` and
/// `body` and keeps what it received.
pub struct FakeServer {
    pub addr: SocketAddr,
    requests: Arc<Mutex<Vec<Request>>>,
}

impl FakeServer {
    pub fn start(status: &'static str, answer: &'static str) -> FakeServer {
        let listener = TcpListener::bind(("127.0.0.1", 0)).expect("bind a local port");
        let addr = listener.local_addr().expect("its address");
        let requests = Arc::new(Mutex::new(Vec::new()));
        let kept = requests.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
                let mut reader = BufReader::new(stream);
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 {
                    continue;
                }
                let mut headers = Vec::new();
                loop {
                    let mut h = String::new();
                    if reader.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
                        break;
                    }
                    if let Some((n, v)) = h.trim_end().split_once(':') {
                        headers.push((n.trim().to_owned(), v.trim().to_owned()));
                    }
                }
                let length = headers
                    .iter()
                    .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
                    .and_then(|(_, v)| v.parse().ok())
                    .unwrap_or(0usize);
                let mut body = vec![0u8; length];
                let _ = reader.read_exact(&mut body);
                if let Ok(mut list) = kept.lock() {
                    list.push(Request {
                        line: line.trim_end().to_owned(),
                        headers,
                        body: String::from_utf8_lossy(&body).into_owned(),
                    });
                }
                let reply = format!(
                    "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{answer}",
                    answer.len()
                );
                let _ = reader.into_inner().write_all(reply.as_bytes());
            }
        });
        FakeServer { addr, requests }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub fn requests(&self) -> Vec<Request> {
        self.requests.lock().map(|l| l.clone()).unwrap_or_default()
    }
}

/// An environment file: service `box` (instances `names`, idle) and, when
/// `bad` is given, an omitted service `bad` whose container exits at once;
/// `audit` is the YAML of the `audit` list.
fn env_file(
    dir: &Dir,
    env_name: &str,
    names: &[&str],
    bad: Option<&str>,
    audit: &str,
) -> std::path::PathBuf {
    let mut text = format!(
        "name: {env_name}\nships:\n  local: {}\naudit:\n{audit}services:\n  box:\n    image: {IMAGE}\n    instances:\n",
        testbed().local_ship()
    );
    for name in names {
        text.push_str(&format!(
            "      {name}: {{ship: local, stop_timeout: 1, command: {IDLE}}}\n"
        ));
    }
    if let Some(bad) = bad {
        text.push_str(&format!(
            "  bad:\n    image: {IMAGE}\n    omit: true\n    instances:\n      {bad}: {{ship: local, command: [\"sh\", \"-c\", \"exit 3\"]}}\n"
        ));
    }
    dir.write("maestro.yaml", text)
}

fn maestro(dir: &Dir, file: &Path, args: &[&str]) -> Output {
    TestCommand::maestro()
        .current_dir(dir.path())
        .arg("-f")
        .arg(file)
        .args(args)
        .env("NO_COLOR", "1")
        .env("LOGNAME", WHO)
        .env("USER", WHO)
        .env_remove("MAESTRO_LOG")
        .env_remove("DOCKER_HOST")
        .env_remove("DOCKER_CONTEXT")
        .timeout(Duration::from_secs(120))
        .run()
}

/// The messages of a log auditor's file (`TIMESTAMP LEVEL: message`),
/// checking the timestamp's shape: `LEVEL: message` each.
fn log_messages(file: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(file)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", file.display()));
    text.lines()
        .map(|line| {
            // `2026-11-24 16:14:55,123 INFO: …`
            let stamp: Vec<char> = line.chars().take(24).collect();
            let shape = "dddd-dd-dd dd:dd:dd,ddd ";
            let fits = stamp.len() == 24
                && stamp.iter().zip(shape.chars()).all(|(c, s)| match s {
                    'd' => c.is_ascii_digit(),
                    other => *c == other,
                });
            let rest = line.get(24..).unwrap_or("");
            let level = ["INFO: ", "DEBUG: ", "ERROR: "]
                .iter()
                .any(|l| rest.starts_with(l));
            assert!(fits && level, "not a log line: {line:?}");
            rest.to_owned()
        })
        .collect()
}

fn exists(name: &str) -> bool {
    inspect(&testbed().local_host(), name).is_some()
}

#[test]
fn log_auditor_writes_a_line_per_event_and_debug_per_container() {
    let dir = Dir::new();
    let names = ["au-log-1", "au-log-2"];
    let _cleanup = Cleanup::new(&["au-log-1", "au-log-2", "au-log-bad-1"]);
    let info = dir.join("info.log");
    let debug = dir.join("debug.log");
    let audit = format!(
        "  - {{type: log, file: {}}}\n  - {{type: log, file: {}, level: debug}}\n",
        info.display(),
        debug.display()
    );
    let file = env_file(&dir, "au-log", &names, Some("au-log-bad-1"), &audit);
    maestro(&dir, &file, &["start"]).assert_success();
    maestro(&dir, &file, &["stop", "-a"]).assert_success();
    let out = maestro(&dir, &file, &["start", "au-log-bad-1"]);
    assert_eq!(out.code(), Some(1), "{}", out.report());

    let lines = log_messages(&info);
    assert_eq!(lines.len(), 6, "{lines:#?}");
    assert_eq!(
        lines[0],
        format!("INFO: {WHO} is starting au-log-1, au-log-2.")
    );
    assert_eq!(lines[1], "INFO: Start of au-log-1, au-log-2 succeeded.");
    assert_eq!(
        lines[2],
        format!("INFO: {WHO} is stopping au-log-1, au-log-2.")
    );
    assert_eq!(lines[3], "INFO: Stop of au-log-1, au-log-2 succeeded.");
    assert_eq!(lines[4], format!("INFO: {WHO} is starting au-log-bad-1."));
    assert!(
        lines[5].starts_with("ERROR: Failed to start au-log-bad-1! (message: au-log-bad-1: ")
            && lines[5].contains("exited with status 3"),
        "{}",
        lines[5]
    );

    let lines = log_messages(&debug);
    for expected in [
        format!("INFO: {WHO} is starting au-log-1, au-log-2."),
        format!("DEBUG: {WHO} is starting au-log-1."),
        format!("DEBUG: {WHO} is starting au-log-2."),
        "DEBUG: Start of au-log-1 succeeded.".to_owned(),
        "DEBUG: Start of au-log-2 succeeded.".to_owned(),
        "INFO: Start of au-log-1, au-log-2 succeeded.".to_owned(),
        format!("DEBUG: {WHO} is stopping au-log-2."),
        "DEBUG: Stop of au-log-1 succeeded.".to_owned(),
    ] {
        assert!(lines.contains(&expected), "no `{expected}` in {lines:#?}");
    }
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("ERROR: Failed to start au-log-bad-1! (message: ")),
        "{lines:#?}"
    );
    // The per-container lines of a play come between its start and end.
    let first = lines
        .iter()
        .position(|l| l.contains("is starting au-log-1, au-log-2"));
    let inner = lines
        .iter()
        .position(|l| l == "DEBUG: Start of au-log-1 succeeded.");
    let last = lines
        .iter()
        .position(|l| l == "INFO: Start of au-log-1, au-log-2 succeeded.");
    assert!(first < inner && inner < last, "{lines:#?}");
}

#[test]
fn http_auditor_sends_its_payload_when_an_action_starts() {
    let dir = Dir::new();
    let server = FakeServer::start("200 OK", "{}");
    let _cleanup = Cleanup::new(&["au-http-1"]);
    let audit = format!(
        "  - type: http\n    endpoint: {}\n    headers: {{X-Team: ops}}\n    payload:\n      text: '{{message}}'\n      who: '{{who}}'\n      what: '{{what}}'\n      action: '{{action}}'\n      fields: ['{{action}} by {{who}}', '']\n      empty: ''\n      count: 2\n",
        server.url("/hook")
    );
    let file = env_file(&dir, "au-http", &["au-http-1"], None, &audit);
    maestro(&dir, &file, &["start"]).assert_success();
    let requests = server.requests();
    assert_eq!(
        requests.len(),
        1,
        "one call, when the action starts: {requests:#?}"
    );
    let r = &requests[0];
    assert_eq!(r.line, "POST /hook HTTP/1.1");
    assert_eq!(r.header("X-Team"), Some("ops"));
    assert!(r
        .header("Content-Type")
        .is_some_and(|v| v.starts_with("application/json")));
    assert_eq!(
        r.json(),
        serde_json::json!({
            "text": format!("{WHO} is starting au-http-1."),
            "who": WHO,
            "what": "au-http-1",
            "action": "start",
            "fields": [format!("start by {WHO}")],
            "count": 2,
        })
    );

    // GET works too.
    let file = env_file(
        &dir,
        "au-http",
        &["au-http-1"],
        None,
        &format!(
            "  - {{type: http, method: GET, endpoint: '{}', payload: {{a: '{{action}}'}}}}\n",
            server.url("/get")
        ),
    );
    maestro(&dir, &file, &["stop", "-a"]).assert_success();
    let requests = server.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[1].line, "GET /get HTTP/1.1");
    assert_eq!(requests[1].json(), serde_json::json!({"a": "stop"}));
}

#[test]
fn exec_auditor_runs_its_script_when_a_play_succeeds() {
    let dir = Dir::new();
    let _cleanup = Cleanup::new(&["au-exec-1", "au-exec-2", "au-exec-bad-1"]);
    let out_file = dir.join("exec.out");
    let script = dir.write(
        "audit.sh",
        format!(
            "#!/bin/sh\nprintf 'args:%s\\n' \"$*\" >> '{0}'\nprintf 'stdin:' >> '{0}'\ncat >> '{0}'\nprintf '\\n' >> '{0}'\n",
            out_file.display()
        ),
    );
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    let audit = format!(
        "  - {{type: exec, script: {}, args: '--did {{action}} --on {{what}}'}}\n",
        script.display()
    );
    let file = env_file(
        &dir,
        "au-exec",
        &["au-exec-1", "au-exec-2"],
        Some("au-exec-bad-1"),
        &audit,
    );
    maestro(&dir, &file, &["start"]).assert_success();
    let text = std::fs::read_to_string(&out_file).expect("the script ran");
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some("args:--did start --on au-exec-1,au-exec-2")
    );
    let stdin = lines
        .next()
        .and_then(|l| l.strip_prefix("stdin:"))
        .expect("stdin line");
    let ip = testbed().var("TESTBED_LOCAL_IP");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(stdin).expect("JSON on stdin"),
        serde_json::json!({
            "au-exec-1": {"ship": ip, "service": "box"},
            "au-exec-2": {"ship": ip, "service": "box"},
        })
    );
    // Not on failure.
    let out = maestro(&dir, &file, &["start", "au-exec-bad-1"]);
    assert_eq!(out.code(), Some(1));
    let again = std::fs::read_to_string(&out_file).expect("still there");
    assert_eq!(again, text, "the script does not run when the play fails");
}

#[test]
fn slack_auditor_posts_start_success_and_failure_to_its_endpoint() {
    let dir = Dir::new();
    let slack = FakeServer::start("200 OK", r#"{"ok": true}"#);
    let _cleanup = Cleanup::new(&["au-slack-1", "au-slack-bad-1"]);
    let token = "xoxb-au-slack-token";
    let audit = format!(
        "  - {{type: slack, channel: '#deploys', token: {token}, name: deploybot, icon: 'http://x/i.png', endpoint: '{}'}}\n",
        slack.url("/api/chat.postMessage")
    );
    let file = env_file(
        &dir,
        "au-slack",
        &["au-slack-1"],
        Some("au-slack-bad-1"),
        &audit,
    );
    maestro(&dir, &file, &["start"]).assert_success();
    let out = maestro(&dir, &file, &["start", "au-slack-bad-1"]);
    assert_eq!(out.code(), Some(1));
    let posts = slack.requests();
    assert_eq!(posts.len(), 4, "{posts:#?}");
    for post in &posts {
        assert_eq!(post.line, "POST /api/chat.postMessage HTTP/1.1");
        assert_eq!(
            post.header("Authorization"),
            Some(format!("Bearer {token}").as_str())
        );
        let body = post.json();
        assert_eq!(body["channel"], "#deploys");
        assert_eq!(body["username"], "deploybot");
        assert_eq!(body["icon_url"], "http://x/i.png");
        assert!(!post.body.contains(token));
    }
    let text = |i: usize| {
        posts[i].json()["attachments"][0]["text"]
            .as_str()
            .unwrap_or("")
            .to_owned()
    };
    let color = |i: usize| {
        posts[i].json()["attachments"][0]["color"]
            .as_str()
            .unwrap_or("")
            .to_owned()
    };
    assert_eq!(text(0), format!("{WHO} is starting au-slack-1."));
    assert_eq!(text(1), "Start of au-slack-1 succeeded.");
    assert_eq!(color(1), "good");
    assert_eq!(text(2), format!("{WHO} is starting au-slack-bad-1."));
    assert!(
        text(3).starts_with("Failed to start au-slack-bad-1! (message: "),
        "{}",
        text(3)
    );
    assert_eq!(color(3), "danger");
    assert_eq!(
        posts[3].json()["attachments"][0]["fields"][0]["title"],
        "Error"
    );

    // Five containers and more are counted, and listed in a field.
    let many = [
        "au-slack-m1",
        "au-slack-m2",
        "au-slack-m3",
        "au-slack-m4",
        "au-slack-m5",
    ];
    let file = env_file(&dir, "au-slack", &many, None, &audit);
    maestro(&dir, &file, &["clean"]).assert_success();
    let posts = slack.requests();
    let body = posts[4].json();
    assert_eq!(
        body["attachments"][0]["text"],
        format!("{WHO} is cleaning 5 containers.")
    );
    assert_eq!(body["attachments"][0]["fields"][0]["title"], "Targets");
    assert_eq!(
        body["attachments"][0]["fields"][0]["value"],
        many.join(", ")
    );
}

#[test]
fn hipchat_auditor_is_accepted_and_warns_once() {
    let dir = Dir::new();
    let audit = "  - {type: hipchat, room: ops, token: hc-au-token}\n";
    let file = env_file(&dir, "au-hipchat", &["au-hipchat-1"], None, audit);
    let out = maestro(&dir, &file, &["clean"]);
    out.assert_success();
    let warnings: Vec<&str> = out
        .stderr()
        .lines()
        .filter(|l| l.contains("HipChat"))
        .map(|_| "")
        .collect();
    assert_eq!(warnings.len(), 1, "{}", out.report());
    assert!(!out.stderr().contains("hc-au-token"));
}

#[test]
fn failing_auditor_stops_the_play_before_it_acts_unless_errors_are_ignored() {
    let dir = Dir::new();
    let _cleanup = Cleanup::new(&["au-fail-1"]);
    let missing = dir.join("no-such-dir/audit.log");
    // A log file that cannot be written.
    let audit = format!("  - {{type: log, file: {}}}\n", missing.display());
    let file = env_file(&dir, "au-fail", &["au-fail-1"], None, &audit);
    let out = maestro(&dir, &file, &["start"]);
    assert_eq!(out.code(), Some(1), "{}", out.report());
    let errors: Vec<String> = out
        .stderr()
        .lines()
        .filter(|l| l.starts_with("ERROR:"))
        .map(str::to_owned)
        .collect();
    assert_eq!(errors.len(), 1, "{}", out.report());
    assert!(
        errors[0].contains("the log auditor (audit[0]) failed")
            && errors[0].contains("nothing was done"),
        "{}",
        errors[0]
    );
    assert!(!exists("au-fail-1"), "the play stopped before acting");

    // A Slack that refuses: the same, naming Slack's reason.
    let slack = FakeServer::start("200 OK", r#"{"ok": false, "error": "invalid_auth"}"#);
    let audit = format!(
        "  - {{type: slack, channel: '#x', token: bad-token, endpoint: '{}'}}\n",
        slack.url("/api/chat.postMessage")
    );
    let file = env_file(&dir, "au-fail", &["au-fail-1"], None, &audit);
    let out = maestro(&dir, &file, &["start"]);
    assert_eq!(out.code(), Some(1), "{}", out.report());
    assert!(out.stderr().contains("invalid_auth"), "{}", out.report());
    assert!(!exists("au-fail-1"));

    // With ignore_errors, the failing auditors do not stop it (nor an
    // unreachable webhook), and the working one still hears of it.
    let good = dir.join("good.log");
    let audit = format!(
        "  - {{type: log, file: {}, ignore_errors: true}}\n  - {{type: http, endpoint: 'http://127.0.0.1:9/x', ignore_errors: true}}\n  - {{type: slack, channel: '#x', token: bad-token, endpoint: '{}', ignore_errors: true}}\n  - {{type: log, file: {}}}\n",
        missing.display(),
        slack.url("/api/chat.postMessage"),
        good.display()
    );
    let file = env_file(&dir, "au-fail", &["au-fail-1"], None, &audit);
    let out = maestro(&dir, &file, &["start"]);
    out.assert_success();
    assert!(exists("au-fail-1"));
    assert!(
        !out.stderr().contains("WARNING: the"),
        "ignored failures stay quiet: {}",
        out.report()
    );
    let lines = log_messages(&good);
    assert_eq!(
        lines,
        [
            format!("INFO: {WHO} is starting au-fail-1."),
            "INFO: Start of au-fail-1 succeeded.".to_owned()
        ]
    );
    // A webhook that cannot be reached, without ignore_errors: stopped.
    let audit = "  - {type: http, endpoint: 'http://127.0.0.1:9/x', timeout: 2}\n";
    let file = env_file(&dir, "au-fail", &["au-fail-1"], None, audit);
    let out = maestro(&dir, &file, &["stop", "-a"]);
    assert_eq!(out.code(), Some(1), "{}", out.report());
    assert!(
        out.stderr().contains("the http auditor (audit[0]) failed"),
        "{}",
        out.report()
    );
    let running = inspect(&testbed().local_host(), "au-fail-1")
        .and_then(|v| v["State"]["Running"].as_bool())
        .unwrap_or(false);
    assert!(running, "the stop was not begun");
}
