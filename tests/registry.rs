//! Images from a private registry, end to end (commands.md "Registries and
//! credentials", `pull`, `start -r`, `restart`): the test bed's registry
//! (127.0.0.1:5000, basic authentication, holding maestro-test/box:1) and
//! the local engine.
//!
//! A pull without credentials fails with one line naming the registry and
//! saying credentials are missing or wrong; pulls succeed with credentials
//! from the environment file (from an environment variable), from a
//! `config.json`'s `auths` (base64 `auth` and username/password), from the
//! older `~/.dockercfg`, and from a `credHelpers` helper script; behind a
//! front answering 503 to its first requests, `retry` decides; `restart -r`
//! pulls before it stops the container; and no command at the highest
//! verbosity (`MAESTRO_LOG=debug`) shows the registry password or an audit
//! token anywhere: stdout, stderr, the audit log.
//!
//! Each run of maestro gets an empty `HOME` and no `DOCKER_CONFIG` unless
//! the test gives it one, so the user's own Docker configuration never
//! plays a part.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use maestro_testkit::flaky::FlakyProxy;

use crate::audit::FakeServer;
use crate::engine_support::error_lines;
use crate::testbed::{docker, inspect, testbed, Cleanup};
use crate::util::{Dir, Output, TestCommand};

const REPO: &str = "maestro-test/box:1";

/// Does nothing until stopped; exits at once on SIGTERM.
const IDLE: &str = r#"["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"]"#;

/// The test bed's registry: host, user, password.
struct Registry {
    host: String,
    user: String,
    password: String,
}

fn registry() -> Registry {
    let bed = testbed();
    Registry {
        host: bed.var("TESTBED_REGISTRY").to_owned(),
        user: bed.var("TESTBED_REGISTRY_USER").to_owned(),
        password: bed.var("TESTBED_REGISTRY_PASSWORD").to_owned(),
    }
}

fn local_ship() -> String {
    testbed().local_ship()
}

/// An environment file with one service of `image` and one instance
/// `name`; `registries` is the YAML of the `registries` map (or empty).
fn env_file(dir: &Dir, name: &str, image: &str, registries: &str) -> std::path::PathBuf {
    let registries = if registries.is_empty() {
        String::new()
    } else {
        format!("registries:\n{registries}")
    };
    dir.write(
        "maestro.yaml",
        format!(
            "name: {name}\n{registries}ships:\n  local: {ship}\nservices:\n  box:\n    image: {image}\n    instances:\n      {name}-1: {{ship: local, stop_timeout: 1, command: {IDLE}}}\n",
            ship = local_ship()
        ),
    )
}

/// `maestro -f FILE ARGS…` with an empty HOME and no DOCKER_CONFIG (unless
/// `env` sets them), colour off.
fn maestro(dir: &Dir, file: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let home = dir.join("home");
    std::fs::create_dir_all(&home).expect("home directory");
    let mut command = TestCommand::maestro();
    command
        .current_dir(dir.path())
        .arg("-f")
        .arg(file)
        .args(args)
        .env("NO_COLOR", "1")
        .env("HOME", &home)
        .env_remove("DOCKER_CONFIG")
        .env_remove("DOCKER_CONTEXT")
        .env_remove("DOCKER_HOST")
        .env_remove("MAESTRO_LOG")
        .timeout(Duration::from_secs(120));
    for (key, value) in env {
        command.env(key, value);
    }
    command.run()
}

fn b64(text: &str) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let bytes = text.as_bytes();
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, b)| acc | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Asserts the run failed with exactly one ERROR line that names `host` and
/// says the credentials are missing or wrong.
fn assert_credentials_refused(out: &Output, host: &str) {
    assert_eq!(out.code(), Some(1), "{}", out.report());
    let errors = error_lines(out);
    assert_eq!(errors.len(), 1, "one ERROR line expected\n{}", out.report());
    let line = &errors[0];
    assert!(
        line.contains(&format!("registry {host}"))
            && line.contains("credentials are missing or wrong"),
        "the error does not name the registry and the credentials: {line}"
    );
}

/// Removes an image reference from the local engine when dropped.
struct Untag(String);

impl Drop for Untag {
    fn drop(&mut self) {
        let _ = Command::new("docker")
            .args(["-H", &testbed().local_host(), "rmi", &self.0])
            .output();
    }
}

// ------------------------------------------------------------ credentials

#[test]
fn pull_without_credentials_fails_naming_the_registry() {
    let reg = registry();
    let dir = Dir::new();
    let image = format!("{}/{REPO}", reg.host);
    let file = env_file(&dir, "rg-none", &image, "");
    let out = maestro(&dir, &file, &["pull"], &[]);
    assert_credentials_refused(&out, &reg.host);
    assert!(
        out.stderr().contains("none found"),
        "the error says where it looked: {}",
        out.report()
    );

    // Wrong credentials from the environment file: refused at login, as clearly.
    let registries = format!(
        "  testbed:\n    registry: http://{}\n    username: {}\n    password: not-the-password\n",
        reg.host, reg.user
    );
    let file = env_file(&dir, "rg-none", &image, &registries);
    let out = maestro(&dir, &file, &["pull"], &[]);
    assert_credentials_refused(&out, &reg.host);
    assert!(
        !out.stderr().contains("not-the-password") && !out.stdout().contains("not-the-password"),
        "{}",
        out.report()
    );
}

#[test]
fn pull_with_credentials_from_the_environment_file() {
    let reg = registry();
    let dir = Dir::new();
    let image = format!("{}/{REPO}", reg.host);
    // Matched by name (`host:port`), the password from an environment variable.
    let by_name = format!(
        "  \"{host}\":\n    registry: http://{host}\n    username: {user}\n    password: \"{{{{ env.RG_PASSWORD }}}}\"\n",
        host = reg.host,
        user = reg.user
    );
    let file = env_file(&dir, "rg-envfile", &image, &by_name);
    let out = maestro(&dir, &file, &["pull"], &[("RG_PASSWORD", &reg.password)]);
    out.assert_success();
    assert!(out.stdout().contains("pulled"), "{}", out.report());

    // Matched by the host of its URL, under another name.
    let by_url = format!(
        "  private:\n    registry: http://{}/\n    username: {}\n    password: \"{{{{ env.RG_PASSWORD }}}}\"\n",
        reg.host, reg.user
    );
    let file = env_file(&dir, "rg-envfile", &image, &by_url);
    maestro(&dir, &file, &["pull"], &[("RG_PASSWORD", &reg.password)]).assert_success();

    // `dump` shows the password as ***.
    let out = maestro(&dir, &file, &["dump"], &[("RG_PASSWORD", &reg.password)]);
    out.assert_success();
    assert!(!out.stdout().contains(&reg.password));
    assert!(out.stdout().contains("***"));
}

#[test]
fn pull_with_credentials_from_the_docker_client_configuration() {
    let reg = registry();
    let dir = Dir::new();
    let image = format!("{}/{REPO}", reg.host);
    let file = env_file(&dir, "rg-auths", &image, "");
    let config_dir = dir.join("docker-config");
    let config_dir_text = config_dir.to_string_lossy().into_owned();

    // `auths` with base64 `auth`, in $DOCKER_CONFIG/config.json.
    dir.write(
        "docker-config/config.json",
        format!(
            r#"{{"auths": {{"{}": {{"auth": "{}"}}}}}}"#,
            reg.host,
            b64(&format!("{}:{}", reg.user, reg.password))
        ),
    );
    let out = maestro(
        &dir,
        &file,
        &["pull"],
        &[
            ("DOCKER_CONFIG", &config_dir_text),
            ("MAESTRO_LOG", "debug"),
        ],
    );
    out.assert_success();
    assert!(
        out.stderr().contains("config.json"),
        "the trace says where the credentials came from\n{}",
        out.report()
    );

    // `auths` with username/password, under a URL key.
    dir.write(
        "docker-config/config.json",
        format!(
            r#"{{"auths": {{"http://{}/v2/": {{"username": "{}", "password": "{}"}}}}}}"#,
            reg.host, reg.user, reg.password
        ),
    );
    maestro(
        &dir,
        &file,
        &["pull"],
        &[("DOCKER_CONFIG", &config_dir_text)],
    )
    .assert_success();

    // ~/.docker/config.json when DOCKER_CONFIG is not set.
    dir.write(
        "home/.docker/config.json",
        format!(
            r#"{{"auths": {{"{}": {{"auth": "{}"}}}}}}"#,
            reg.host,
            b64(&format!("{}:{}", reg.user, reg.password))
        ),
    );
    maestro(&dir, &file, &["pull"], &[]).assert_success();

    // The older ~/.dockercfg.
    std::fs::remove_file(dir.join("home/.docker/config.json")).expect("remove config.json");
    dir.write(
        "home/.dockercfg",
        format!(
            r#"{{"{}": {{"auth": "{}", "email": "ci@example.com"}}}}"#,
            reg.host,
            b64(&format!("{}:{}", reg.user, reg.password))
        ),
    );
    maestro(&dir, &file, &["pull"], &[]).assert_success();

    // A broken config.json is named, and the pull is refused without credentials.
    std::fs::remove_file(dir.join("home/.dockercfg")).expect("remove .dockercfg");
    dir.write("docker-config/config.json", "{ not json");
    let out = maestro(
        &dir,
        &file,
        &["pull"],
        &[("DOCKER_CONFIG", &config_dir_text)],
    );
    assert_credentials_refused(&out, &reg.host);
    assert!(
        out.stderr().contains("was skipped: it is not valid JSON"),
        "{}",
        out.report()
    );
}

#[test]
fn pull_with_credentials_from_a_credential_helper() {
    let reg = registry();
    let dir = Dir::new();
    let image = format!("{}/{REPO}", reg.host);
    let file = env_file(&dir, "rg-helper", &image, "");
    let asked = dir.join("asked");
    let helper = dir.write(
        "bin/docker-credential-rgtest",
        format!(
            "#!/bin/sh\n\
             [ \"$1\" = get ] || exit 2\n\
             read -r server\n\
             printf '%s\\n' \"$server\" >> '{asked}'\n\
             if [ \"$server\" != '{host}' ]; then echo 'credentials not found in native keychain'; exit 1; fi\n\
             printf '{{\"ServerURL\": \"%s\", \"Username\": \"%s\", \"Secret\": \"%s\"}}\\n' \"$server\" '{user}' '{password}'\n",
            asked = asked.display(),
            host = reg.host,
            user = reg.user,
            password = reg.password
        ),
    );
    make_executable(&helper);
    dir.write(
        "docker-config/config.json",
        format!(
            r#"{{"auths": {{"{}": {{}}}}, "credHelpers": {{"{}": "rgtest"}}}}"#,
            reg.host, reg.host
        ),
    );
    let path = format!(
        "{}:{}",
        dir.join("bin").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let config_dir = dir.join("docker-config").to_string_lossy().into_owned();
    let out = maestro(
        &dir,
        &file,
        &["pull"],
        &[("DOCKER_CONFIG", &config_dir), ("PATH", &path)],
    );
    out.assert_success();
    let asked = std::fs::read_to_string(&asked).expect("the helper was run");
    assert_eq!(
        asked.trim(),
        reg.host,
        "the helper is asked for the registry host"
    );

    // `credsStore` names a helper for every registry.
    dir.write("docker-config/config.json", r#"{"credsStore": "rgtest"}"#);
    maestro(
        &dir,
        &file,
        &["pull"],
        &[("DOCKER_CONFIG", &config_dir), ("PATH", &path)],
    )
    .assert_success();

    // A helper that is not installed: named in the one-line error.
    dir.write(
        "docker-config/config.json",
        r#"{"credsStore": "rg-missing"}"#,
    );
    let out = maestro(&dir, &file, &["pull"], &[("DOCKER_CONFIG", &config_dir)]);
    assert_credentials_refused(&out, &reg.host);
    assert!(
        out.stderr()
            .contains("docker-credential-rg-missing is not installed"),
        "{}",
        out.report()
    );
}

fn make_executable(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
}

// ------------------------------------------------------------------ retry

#[test]
fn retry_decides_whether_a_flaky_registry_is_waited_for() {
    let reg = registry();
    let upstream: SocketAddr = reg.host.parse().expect("the registry is an address");
    // A failed login costs the front two requests (the engine pings the
    // registry, then tries the login): four 503s make two failed attempts.
    const FAILURES: usize = 4;

    let case = |attempts: u32| {
        let proxy = FlakyProxy::start(upstream, FAILURES).expect("the flaky front starts");
        let image = format!("{}/{REPO}", proxy.host());
        let _untag = Untag(image.clone());
        let dir = Dir::new();
        let registries = format!(
            "  flaky:\n    registry: http://{}\n    username: {}\n    password: \"{{{{ env.RG_PASSWORD }}}}\"\n    retry: {{attempts: {attempts}, when: [503]}}\n",
            proxy.host(),
            reg.user
        );
        let file = env_file(&dir, "rg-retry", &image, &registries);
        let out = maestro(&dir, &file, &["pull"], &[("RG_PASSWORD", &reg.password)]);
        (out, proxy.log(), proxy.host())
    };

    // More attempts than failing requests: succeeds.
    let (out, log, _) = case(FAILURES as u32 + 1);
    assert!(out.success(), "front's log: {log:?}\n{}", out.report());
    assert_eq!(
        log.iter().filter(|l| l.starts_with("503")).count(),
        FAILURES,
        "{log:?}"
    );

    // Fewer: fails, saying what the registry answered and how often it was tried.
    let (out, log, host) = case(2);
    assert_eq!(
        out.code(),
        Some(1),
        "front's log: {log:?}\n{}",
        out.report()
    );
    let errors = error_lines(&out);
    assert_eq!(errors.len(), 1, "{}", out.report());
    assert!(
        errors[0].contains(&host)
            && errors[0].contains("503")
            && errors[0].contains("after 2 attempts"),
        "{}",
        errors[0]
    );
}

#[test]
fn without_retry_a_flaky_registry_fails_at_once() {
    let reg = registry();
    let upstream: SocketAddr = reg.host.parse().expect("the registry is an address");
    let proxy = FlakyProxy::start(upstream, 2).expect("the flaky front starts");
    let image = format!("{}/{REPO}", proxy.host());
    let _untag = Untag(image.clone());
    let dir = Dir::new();
    // `attempts` without `when`: no status is retried.
    let registries = format!(
        "  flaky:\n    registry: http://{}\n    username: {}\n    password: \"{{{{ env.RG_PASSWORD }}}}\"\n    retry: {{attempts: 5}}\n",
        proxy.host(),
        reg.user
    );
    let file = env_file(&dir, "rg-noretry", &image, &registries);
    let out = maestro(&dir, &file, &["pull"], &[("RG_PASSWORD", &reg.password)]);
    assert_eq!(out.code(), Some(1), "{}", out.report());
    assert!(out.stderr().contains("503"), "{}", out.report());
    assert!(!out.stderr().contains("attempts"), "{}", out.report());
    // The sentence says what failed once (it used to repeat its own head:
    // `could not log in to registry X: could not log in to registry X: …`).
    let errors = error_lines(&out);
    assert_eq!(errors.len(), 1, "{}", out.report());
    assert_eq!(
        errors[0].matches("log in to registry").count(),
        1,
        "{}",
        out.report()
    );
    assert!(
        errors[0].contains(&format!("could not log in to registry {}: ", proxy.host())),
        "{}",
        out.report()
    );
}

// ------------------------------------------------------ restart and start -r

/// The local engine's image `pull` events and container events of `name`
/// since `since` (seconds), as (nanoseconds, what) in order.
fn events_since(since: u64, name: &str, image: &str) -> Vec<(i128, String)> {
    let until = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() + 1)
        .unwrap_or(0);
    let text = docker(
        &testbed().local_host(),
        &[
            "events",
            "--since",
            &since.to_string(),
            "--until",
            &until.to_string(),
            "--format",
            "{{json .}}",
        ],
    );
    let mut list: Vec<(i128, String)> = text
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|v| {
            let kind = v["Type"].as_str()?.to_owned();
            let action = v["Action"].as_str()?.to_owned();
            let actor = v["Actor"]["ID"].as_str().unwrap_or("").to_owned();
            let who = v["Actor"]["Attributes"]["name"]
                .as_str()
                .unwrap_or("")
                .to_owned();
            let t = v["timeNano"].as_i64().map(i128::from)?;
            match kind.as_str() {
                "image" if action == "pull" && actor == image => Some((t, "pull".to_owned())),
                "container" if who == name => Some((t, action)),
                _ => None,
            }
        })
        .collect();
    list.sort_by_key(|e| e.0);
    list
}

#[test]
fn restart_pulls_the_new_image_before_stopping_the_old_container() {
    let reg = registry();
    let dir = Dir::new();
    let image = format!("{}/{REPO}", reg.host);
    let registries = format!(
        "  testbed:\n    registry: http://{}\n    username: {}\n    password: \"{{{{ env.RG_PASSWORD }}}}\"\n",
        reg.host, reg.user
    );
    let name = "rg-restart-1";
    let _cleanup = Cleanup::new(&[name]);
    let file = env_file(&dir, "rg-restart", &image, &registries);
    let env = [("RG_PASSWORD", reg.password.as_str())];

    // start -r pulls (with the credentials) even when the image is there.
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    maestro(&dir, &file, &["start", "-r"], &env).assert_success();
    assert!(inspect(&testbed().local_host(), name).is_some());
    let events = events_since(since, name, &image);
    let pull = events.iter().position(|e| e.1 == "pull");
    let create = events.iter().position(|e| e.1 == "create");
    assert!(
        matches!((pull, create), (Some(p), Some(c)) if p < c),
        "start -r pulls, then creates: {events:?}"
    );

    // restart -r: the pull comes before the stop, and only once.
    std::thread::sleep(Duration::from_secs(1));
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let out = maestro(&dir, &file, &["restart", "-r", name], &env);
    out.assert_success();
    let events = events_since(since, name, &image);
    let pulls: Vec<usize> = events
        .iter()
        .enumerate()
        .filter(|(_, e)| e.1 == "pull")
        .map(|(i, _)| i)
        .collect();
    let stop = events
        .iter()
        .position(|e| e.1 == "kill" || e.1 == "die" || e.1 == "stop");
    let start = events.iter().rposition(|e| e.1 == "start");
    assert_eq!(pulls.len(), 1, "one pull: {events:?}");
    assert!(
        matches!(stop, Some(s) if pulls[0] < s),
        "the pull comes before the stop: {events:?}"
    );
    assert!(
        matches!((stop, start), (Some(s), Some(t)) if s < t),
        "{events:?}"
    );
}

// ------------------------------------------------------------------ secrets

#[test]
fn secrets_never_show_at_any_verbosity() {
    let reg = registry();
    let dir = Dir::new();
    let image = format!("{}/{REPO}", reg.host);
    let token = format!("xoxb-rg-audit-token-{}", std::process::id());
    let slack = FakeServer::start("200 OK", r#"{"ok": true}"#);
    let name = "rg-secret";
    let _cleanup = Cleanup::new(&[format!("{name}-1"), format!("{name}-bad-1")]);
    let log = dir.join("audit.log");
    let registries = format!(
        "  testbed:\n    registry: http://{}\n    username: {}\n    password: \"{{{{ env.RG_PASSWORD }}}}\"\n    retry: {{attempts: 2, when: [500]}}\n",
        reg.host, reg.user
    );
    let audit = format!(
        "audit:\n  - {{type: log, file: {log}, level: debug}}\n  - {{type: slack, channel: '#ops', token: \"{{{{ env.RG_TOKEN }}}}\", endpoint: 'http://{slack}/api/chat.postMessage', level: debug}}\n  - {{type: http, endpoint: 'http://127.0.0.1:9/nowhere', ignore_errors: true, payload: {{text: '{{message}}'}}}}\n",
        log = log.display(),
        slack = slack.addr
    );
    let file = dir.write(
        "maestro.yaml",
        format!(
            "name: {name}\nregistries:\n{registries}ships:\n  local: {ship}\n{audit}services:\n  box:\n    image: {image}\n    instances:\n      {name}-1: {{ship: local, stop_timeout: 1, command: {IDLE}}}\n  bad:\n    image: {image}\n    omit: true\n    instances:\n      {name}-bad-1: {{ship: local, stop_timeout: 1, command: [\"sh\", \"-c\", \"exit 3\"]}}\n",
            ship = local_ship(),
        ),
    );
    let env = [
        ("RG_PASSWORD", reg.password.as_str()),
        ("RG_TOKEN", token.as_str()),
        ("MAESTRO_LOG", "debug"),
    ];
    let runs: &[&[&str]] = &[
        &["dump"],
        &["dump", "-c"],
        &["deptree"],
        &["complete", "maestro", "st"],
        &["status"],
        &["status", "-F", "--json"],
        &["pull"],
        &["start", "-r"],
        &["status", "-F"],
        &["logs", "rg-secret-1"],
        &["restart", "-r", "-a"],
        &["plan"],
        &["up", "-r"],
        &["stop", "-a"],
        &["kill", "-a"],
        &["clean"],
        // failing ones
        &["start", "rg-secret-bad-1"],
        &["start", "--json", "rg-secret-bad-1"],
        &["logs", "rg-secret-bad-1"],
        &["logs", "nobody"],
        &["clean", "bad"],
        &["stop", "nobody"],
    ];
    let mut failures = 0;
    for args in runs {
        let out = maestro(&dir, &file, args, &env);
        if !out.success() {
            failures += 1;
        }
        for secret in [&reg.password, &token] {
            assert!(
                !out.stdout().contains(secret.as_str()) && !out.stderr().contains(secret.as_str()),
                "`maestro {}` shows a secret (exit {:?})",
                args.join(" "),
                out.code()
            );
        }
        // (`complete` never loads the environment noisily: it has no trace.)
        assert!(
            args[0] == "complete" || out.stderr().contains("DEBUG:"),
            "`maestro {}` runs with the debug trace\n{}",
            args.join(" "),
            out.report()
        );
    }
    assert!(failures >= 4, "some runs fail as intended");

    // A pull with wrong credentials (another registry entry, the same secret elsewhere).
    let wrong = dir.write(
        "wrong.yaml",
        format!(
            "name: {name}\nregistries:\n  testbed:\n    registry: http://{}\n    username: nobody-{}\n    password: \"{{{{ env.RG_PASSWORD }}}}\"\nships:\n  local: {}\n{audit}services:\n  box:\n    image: {image}\n    instances:\n      {name}-1: {{ship: local}}\n",
            reg.host,
            std::process::id(),
            local_ship()
        ),
    );
    let out = maestro(&dir, &wrong, &["pull"], &env);
    assert_eq!(out.code(), Some(1), "{}", out.report());
    for secret in [&reg.password, &token] {
        assert!(!out.stdout().contains(secret.as_str()) && !out.stderr().contains(secret.as_str()));
    }

    let trail = std::fs::read_to_string(&log).expect("the audit log is written");
    assert!(trail.contains("is starting"), "{trail}");
    assert!(trail.contains("DEBUG: "), "{trail}");
    assert!(trail.contains("ERROR: Failed to start"), "{trail}");
    for secret in [&reg.password, &token] {
        assert!(
            !trail.contains(secret.as_str()),
            "the audit log shows a secret"
        );
    }
    // Slack got the token, as it should, in its Authorization header only.
    let requests = slack.requests();
    assert!(!requests.is_empty());
    for request in &requests {
        assert_eq!(
            request.header("Authorization"),
            Some(format!("Bearer {token}").as_str())
        );
        assert!(!request.body.contains(&token) && !request.body.contains(&reg.password));
    }
}
