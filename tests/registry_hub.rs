//! Docker Hub images get credentials (commands.md "Registries and
//! credentials"), end to end through `maestro pull`, with no internet:
//!
//! - against a stand-in engine on a local port that records what it is
//!   sent: the pull of a Docker Hub image carries, in `X-Registry-Auth`, the
//!   credentials of the Docker client configuration's `credsStore` helper,
//!   asked for `https://index.docker.io/v1/`, with that server address; and
//!   the environment file's entry for Docker Hub comes before it;
//! - against the test bed's local engine: the pull of
//!   `maestro-test/nonexistent` fails (the engine cannot reach Docker Hub),
//!   but the helper was asked for `https://index.docker.io/v1/`, once.
//!
//! Each run gets an empty `HOME` and its own `DOCKER_CONFIG`, so the user's
//! own Docker configuration never plays a part.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;

use crate::testbed::testbed;
use crate::util::{Dir, Output, TestCommand};

const HUB_SERVER: &str = "https://index.docker.io/v1/";

/// One request the stand-in engine received.
#[derive(Debug, Clone)]
struct Seen {
    line: String,
    registry_auth: Option<String>,
    body: String,
}

/// A stand-in engine on 127.0.0.1: `_ping` and `version` as an engine
/// answers them, an empty container list, a login and a pull that succeed
/// at once, 404 for anything else; it keeps every request line, body and
/// `X-Registry-Auth`.
struct StandIn {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl StandIn {
    fn start() -> StandIn {
        let listener = TcpListener::bind(("127.0.0.1", 0)).expect("bind a local port");
        let addr = listener.local_addr().expect("its address");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let kept = seen.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let kept = kept.clone();
                std::thread::spawn(move || {
                    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
                    let Ok(mut writer) = stream.try_clone() else {
                        return;
                    };
                    let mut reader = BufReader::new(stream);
                    // One request per connection: every answer closes it.
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 {
                        return;
                    }
                    let mut length = 0usize;
                    let mut registry_auth = None;
                    loop {
                        let mut h = String::new();
                        if reader.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
                            break;
                        }
                        if let Some((name, value)) = h.trim_end().split_once(':') {
                            if name.eq_ignore_ascii_case("content-length") {
                                length = value.trim().parse().unwrap_or(0);
                            }
                            if name.eq_ignore_ascii_case("x-registry-auth") {
                                registry_auth = Some(value.trim().to_owned());
                            }
                        }
                    }
                    let mut body = vec![0u8; length];
                    let _ = reader.read_exact(&mut body);
                    let line = line.trim_end().to_owned();
                    let (status, answer) = answer(&line);
                    if let Ok(mut list) = kept.lock() {
                        list.push(Seen {
                            line,
                            registry_auth,
                            body: String::from_utf8_lossy(&body).into_owned(),
                        });
                    }
                    let _ = write!(
                        writer,
                        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nApi-Version: 1.41\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{answer}",
                        answer.len()
                    );
                });
            }
        });
        StandIn { addr, seen }
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// The decoded `X-Registry-Auth` of each pull.
    fn pull_auths(&self) -> Vec<Value> {
        self.seen()
            .into_iter()
            .filter(|s| s.line.contains("/images/create"))
            .map(|s| {
                let header = s
                    .registry_auth
                    .unwrap_or_else(|| panic!("the pull {} came without X-Registry-Auth", s.line));
                serde_json::from_slice(&base64_decode(&header)).unwrap_or_else(|e| {
                    panic!("X-Registry-Auth of {} is not base64 of JSON: {e}", s.line)
                })
            })
            .collect()
    }

    /// The bodies of the logins (`POST /auth`), parsed.
    fn logins(&self) -> Vec<Value> {
        self.seen()
            .into_iter()
            .filter(|s| s.line.contains("/auth "))
            .map(|s| {
                serde_json::from_str(&s.body)
                    .unwrap_or_else(|e| panic!("the login body is not JSON: {e}"))
            })
            .collect()
    }
}

fn answer(line: &str) -> (&'static str, &'static str) {
    let path = line.split(' ').nth(1).unwrap_or("");
    let path = path.split('?').next().unwrap_or(path);
    if path.ends_with("/_ping") {
        ("200 OK", "OK")
    } else if path.ends_with("/version") {
        (
            "200 OK",
            r#"{"Version":"20.10.24","ApiVersion":"1.41","MinAPIVersion":"1.12","Os":"linux","Arch":"amd64"}"#,
        )
    } else if path.ends_with("/auth") {
        ("200 OK", r#"{"Status":"Login Succeeded"}"#)
    } else if path.ends_with("/containers/json") {
        ("200 OK", "[]")
    } else if path.ends_with("/images/create") {
        (
            "200 OK",
            "{\"status\":\"Pulling from team/private\"}\n{\"status\":\"Status: Downloaded newer image for team/private:1\"}\n",
        )
    } else {
        ("404 Not Found", r#"{"message":"page not found"}"#)
    }
}

/// Standard or URL-safe base64, padded or not.
fn base64_decode(text: &str) -> Vec<u8> {
    let value = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            _ => return None,
        } as u32)
    };
    let digits: Vec<u32> = text.bytes().filter_map(value).collect();
    let mut out = Vec::new();
    for chunk in digits.chunks(4) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, d)| acc | (d << (18 - 6 * i)));
        for i in 0..chunk.len().saturating_sub(1) {
            out.push((n >> (16 - 8 * i)) as u8);
        }
    }
    out
}

/// `DOCKER_CONFIG` with `credsStore: hubtest`, and `bin/` holding
/// `docker-credential-hubtest`: it appends the server it is asked for to
/// `asked`, and answers `hubuser`/`hub-secret-pw` for Docker Hub only.
fn client_with_store(dir: &Dir) -> (PathBuf, PathBuf, String) {
    use std::os::unix::fs::PermissionsExt;
    let asked = dir.join("asked");
    let helper = dir.write(
        "bin/docker-credential-hubtest",
        format!(
            "#!/bin/sh\n\
             [ \"$1\" = get ] || exit 2\n\
             read -r server\n\
             printf '%s\\n' \"$server\" >> '{asked}'\n\
             if [ \"$server\" != '{HUB_SERVER}' ]; then echo 'credentials not found in native keychain'; exit 1; fi\n\
             printf '{{\"ServerURL\": \"%s\", \"Username\": \"hubuser\", \"Secret\": \"hub-secret-pw\"}}\\n' \"$server\"\n",
            asked = asked.display()
        ),
    );
    std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    dir.write("docker-config/config.json", r#"{"credsStore": "hubtest"}"#);
    let path = format!(
        "{}:{}",
        dir.join("bin").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    (dir.join("docker-config"), asked, path)
}

/// `maestro -f FILE pull` with an empty HOME, the given DOCKER_CONFIG and
/// PATH, at the highest verbosity.
fn pull(dir: &Dir, file: &Path, config: &Path, path: &str) -> Output {
    let home = dir.join("home");
    std::fs::create_dir_all(&home).expect("home directory");
    TestCommand::maestro()
        .current_dir(dir.path())
        .arg("-f")
        .arg(file)
        .arg("pull")
        .env("NO_COLOR", "1")
        .env("HOME", &home)
        .env("DOCKER_CONFIG", config)
        .env("PATH", path)
        .env("MAESTRO_LOG", "debug")
        .env_remove("DOCKER_CONTEXT")
        .env_remove("DOCKER_HOST")
        .timeout(Duration::from_secs(120))
        .run()
}

fn assert_secret_hidden(out: &Output, secret: &str) {
    assert!(
        !out.stdout().contains(secret) && !out.stderr().contains(secret),
        "the password shows in the output\n{}",
        out.report()
    );
}

#[test]
fn hub_images_are_pulled_with_the_credential_store_s_credentials() {
    let engine = StandIn::start();
    let dir = Dir::new();
    let (config, asked, path) = client_with_store(&dir);
    let file = dir.write(
        "maestro.yaml",
        format!(
            "name: hubcreds\n\
             ships:\n  fake: {{ip: 127.0.0.1, docker_port: {port}, api_version: '1.41', timeout: 10}}\n\
             services:\n\
             \x20 a: {{image: 'team/private:1', instances: {{hub-a-1: {{ship: fake}}}}}}\n\
             \x20 b: {{image: 'docker.io/team/other:2', instances: {{hub-b-1: {{ship: fake}}}}}}\n",
            port = engine.addr.port()
        ),
    );
    let out = pull(&dir, &file, &config, &path);
    out.assert_success();
    assert_secret_hidden(&out, "hub-secret-pw");
    let auths = engine.pull_auths();
    assert_eq!(auths.len(), 2, "two pulls expected: {:?}", engine.seen());
    for auth in &auths {
        assert_eq!(auth["username"], "hubuser", "{auth}");
        assert_eq!(auth["password"], "hub-secret-pw", "{auth}");
        assert_eq!(auth["serveraddress"], HUB_SERVER, "{auth}");
    }
    // `docker.io/…` names its registry: maestro logs in through the engine
    // first, with Docker Hub's server address.
    let logins = engine.logins();
    assert_eq!(logins.len(), 1, "one login expected: {:?}", engine.seen());
    assert_eq!(logins[0]["username"], "hubuser", "{}", logins[0]);
    assert_eq!(logins[0]["serveraddress"], HUB_SERVER, "{}", logins[0]);
    assert_eq!(
        std::fs::read_to_string(&asked).expect("the helper was run"),
        format!("{HUB_SERVER}\n"),
        "the helper is asked once, for Docker Hub's server address"
    );
}

#[test]
fn the_environment_file_s_hub_entry_comes_before_the_docker_configuration() {
    let engine = StandIn::start();
    let dir = Dir::new();
    let (config, asked, path) = client_with_store(&dir);
    let file = dir.write(
        "maestro.yaml",
        format!(
            "name: hubentry\n\
             registries:\n  hub: {{registry: 'https://index.docker.io/v1/', username: fileuser, password: file-secret-pw}}\n\
             ships:\n  fake: {{ip: 127.0.0.1, docker_port: {port}, api_version: '1.41', timeout: 10}}\n\
             services:\n\
             \x20 a: {{image: busybox, instances: {{hub-a-1: {{ship: fake}}}}}}\n",
            port = engine.addr.port()
        ),
    );
    let out = pull(&dir, &file, &config, &path);
    out.assert_success();
    assert_secret_hidden(&out, "file-secret-pw");
    let auths = engine.pull_auths();
    assert_eq!(auths.len(), 1, "one pull expected: {:?}", engine.seen());
    assert_eq!(auths[0]["username"], "fileuser", "{}", auths[0]);
    assert_eq!(auths[0]["serveraddress"], HUB_SERVER, "{}", auths[0]);
    assert!(
        !asked.exists(),
        "the helper is not asked when the environment file has the credentials"
    );
}

#[test]
fn a_real_engine_pull_of_a_hub_image_asks_the_helper_for_docker_hub() {
    let bed = testbed();
    let dir = Dir::new();
    let (config, asked, path) = client_with_store(&dir);
    let file = dir.write(
        "maestro.yaml",
        format!(
            "name: hubreal\n\
             ships:\n  local: {ship}\n\
             services:\n\
             \x20 a: {{image: 'maestro-test/nonexistent:1', instances: {{hub-real-1: {{ship: local}}}}}}\n",
            ship = bed.local_ship()
        ),
    );
    let out = pull(&dir, &file, &config, &path);
    assert_eq!(
        out.code(),
        Some(1),
        "the pull cannot succeed\n{}",
        out.report()
    );
    assert!(
        out.stderr().contains("maestro-test/nonexistent"),
        "the error names the image\n{}",
        out.report()
    );
    assert_secret_hidden(&out, "hub-secret-pw");
    assert_eq!(
        std::fs::read_to_string(&asked).expect("the helper was run"),
        format!("{HUB_SERVER}\n"),
        "the helper is asked once, for Docker Hub's server address"
    );
}
