//! The engine connection end to end (spec environment-file §3, ships): the
//! same small environment — one service, two instances, environment
//! variables, a published port each — started, statused, stopped and cleaned
//! through every transport (unix socket, plain TCP, TLS, SSH tunnel), checked
//! each time through the engine itself; clear failures for a TLS engine
//! checked against the wrong CA, an SSH key the server does not accept and
//! an engine nobody answers for; API version negotiation against the Debian
//! 20.10 engine (API 1.41) and against a front that answers as Docker 29
//! (API 1.52, minimum 1.44).
//!
//! Every container is named `tr-…` and removed by a [`Cleanup`] guard made
//! before anything starts; tests that touch ship2 or ship3 hold
//! [`use_ships`].

use std::collections::HashMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use maestro_testkit::Docker29Front;
use serde_json::Value;

use crate::engine_support::{
    assert_code, error_line, line_of_spaced, maestro_timed, maestro_within, run_ok, IMAGE,
};
use crate::testbed::{docker, env_inside, inspect, testbed, use_ships, Cleanup};
use crate::util::{Dir, Output};

/// Serves a page with busybox httpd on 8080; exits at once on SIGTERM.
const SERVE: &str = r#"["sh", "-c", "trap 'exit 0' TERM; mkdir -p /www; echo \"$GREETING from $CONTAINER_NAME\" > /www/index.html; httpd -f -p 8080 -h /www & wait"]"#;

/// Variables the image or the engine give every container (not maestro).
const ENGINE_VARS: &[&str] = &["PATH", "HOSTNAME", "HOME"];

/// Two different ports on this machine that nothing listens on right now
/// (for the local engine, which publishes ports on this machine).
fn free_ports() -> (u16, u16) {
    let bind = || TcpListener::bind(("0.0.0.0", 0)).expect("a free local port");
    let (a, b) = (bind(), bind());
    let port = |l: &TcpListener| l.local_addr().expect("a bound address").port();
    (port(&a), port(&b))
}

/// The two instance names of the environment tagged `tag`.
fn names(tag: &str) -> [String; 2] {
    [format!("tr-{tag}-1"), format!("tr-{tag}-2")]
}

/// The small environment: ship `dock` as given, service `web` with two
/// instances publishing 8080 on `ports.0` and `ports.1`.
fn environment(dir: &Dir, tag: &str, ship: &str, ports: (u16, u16)) -> PathBuf {
    let [one, two] = names(tag);
    dir.write(
        "maestro.yaml",
        format!(
            r#"name: tr-{tag}
ships:
  dock: {ship}
services:
  web:
    image: {IMAGE}
    env:
      GREETING: hello {tag}
      COUNT: 3
      ENABLED: yes
    instances:
      {one}:
        ship: dock
        command: {SERVE}
        stop_timeout: 2
        ports: {{http: "8080:{p1}"}}
        env: {{SLOT: one}}
      {two}:
        ship: dock
        command: {SERVE}
        stop_timeout: 2
        ports: {{http: "8080:{p2}"}}
        env: {{SLOT: two}}
"#,
            p1 = ports.0,
            p2 = ports.1,
        ),
    )
}

/// Each container's `env` as `maestro dump` resolves it.
fn dumped_env(file: &Path) -> HashMap<String, HashMap<String, String>> {
    let (out, _) = maestro_timed(file, &["dump"]);
    out.assert_success();
    let doc: Value = serde_json::from_str(&out.stdout())
        .unwrap_or_else(|e| panic!("dump is not JSON: {e}\n{}", out.report()));
    doc["containers"]
        .as_object()
        .expect("dump has containers")
        .iter()
        .map(|(name, c)| {
            let env = c["env"]
                .as_object()
                .expect("each container has env")
                .iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        v.as_str().expect("env values are strings").into(),
                    )
                })
                .collect();
            (name.clone(), env)
        })
        .collect()
}

/// start, status, stop, status, clean of the small environment, each step
/// checked through the engine at `host` (`docker -H host`); `ship_ip` is
/// the ship's `ip` as the containers should see it.
fn round_trip(tag: &str, ship: &str, ship_ip: &str, host: &str, ports: (u16, u16)) {
    let names = names(tag);
    let _cleanup = Cleanup::new(&names);
    let dir = Dir::new();
    let file = environment(&dir, tag, ship, ports);
    let dumped = dumped_env(&file);

    // start
    let (out, took) = maestro_timed(&file, &["start"]);
    out.assert_success();
    assert!(
        out.stdout().contains("start: 2 done in"),
        "no summary line\n{}",
        out.report()
    );
    for (name, port) in names.iter().zip([ports.0, ports.1]) {
        assert!(
            line_of_spaced(&out, name).contains("started"),
            "{name} not reported started\n{}",
            out.report()
        );
        let found = inspect(host, name).unwrap_or_else(|| panic!("{name} is not on {host}"));
        assert_eq!(found["State"]["Running"], true, "{name} runs");
        assert_eq!(
            found["HostConfig"]["PortBindings"]["8080/tcp"][0]["HostPort"],
            port.to_string(),
            "{name}'s port binding"
        );
        let inside = env_inside(host, name);
        let want = &dumped[name.as_str()];
        for (key, value) in want {
            assert_eq!(
                inside.get(key),
                Some(value),
                "{name}: {key} inside the container vs. dump"
            );
        }
        let extra: Vec<&String> = inside
            .keys()
            .filter(|k| !want.contains_key(*k) && !ENGINE_VARS.contains(&k.as_str()))
            .collect();
        assert!(extra.is_empty(), "{name}: variables not in dump: {extra:?}");
        // And what the environment file says, independently of dump.
        let slot = if name.ends_with("-1") { "one" } else { "two" };
        for (key, value) in [
            ("GREETING", format!("hello {tag}")),
            ("COUNT", "3".into()),
            ("ENABLED", "True".into()),
            ("SLOT", slot.into()),
            ("CONTAINER_NAME", name.clone()),
            ("SERVICE_NAME", "web".into()),
            ("MAESTRO_ENVIRONMENT_NAME", format!("tr-{tag}")),
            ("CONTAINER_HOST_ADDRESS", ship_ip.into()),
            ("DOCKER_IMAGE", IMAGE.into()),
        ] {
            assert_eq!(
                inside.get(key),
                Some(&value),
                "{name}: {key} inside the container"
            );
        }
    }
    eprintln!("{tag}: start took {took:?}");

    // status while running
    let (out, _) = maestro_timed(&file, &["status"]);
    out.assert_success();
    for name in &names {
        assert!(
            line_of_spaced(&out, name).contains("running for"),
            "{name} is not reported running\n{}",
            out.report()
        );
    }

    // stop
    let (out, _) = maestro_timed(&file, &["stop", "--all"]);
    out.assert_success();
    for name in &names {
        assert!(
            line_of_spaced(&out, name).contains("stopped"),
            "{name} not reported stopped\n{}",
            out.report()
        );
        let found = inspect(host, name).unwrap_or_else(|| panic!("{name} is gone after stop"));
        assert_eq!(found["State"]["Running"], false, "{name} still runs");
    }

    // status while stopped
    let (out, _) = maestro_timed(&file, &["status"]);
    out.assert_success();
    for name in &names {
        let line = line_of_spaced(&out, name);
        assert!(
            line.contains("down") && !line.contains("host down"),
            "{name} is not reported down\n{}",
            out.report()
        );
    }

    // clean
    let (out, _) = maestro_timed(&file, &["clean"]);
    out.assert_success();
    for name in &names {
        assert!(
            line_of_spaced(&out, name).contains("removed"),
            "{name} not reported removed\n{}",
            out.report()
        );
        assert!(
            inspect(host, name).is_none(),
            "{name} is still on the engine after clean"
        );
    }
}

/// Asserts a start that failed on the ship's connection: exit status 1, an
/// `ERROR:` line naming the ship and saying `needle` (case-insensitive), no
/// panic, and no container on `host`.
fn assert_connection_failure(out: &Output, ship: &str, needles: &[&str], host: &str, tag: &str) {
    assert_code(out, 1);
    let error = error_line(out);
    assert!(
        error.contains(&format!("ship {ship}")),
        "the error does not name ship {ship}\n{}",
        out.report()
    );
    let lower = error.to_lowercase();
    assert!(
        needles.iter().any(|n| lower.contains(&n.to_lowercase())),
        "the error says none of {needles:?}\n{}",
        out.report()
    );
    for name in names(tag) {
        assert!(
            inspect(host, &name).is_none(),
            "{name} exists on {host} although the start failed"
        );
    }
}

// ---------------------------------------------------------------- transports

#[test]
fn unix_socket_transport() {
    let bed = testbed();
    round_trip(
        "unix",
        &bed.local_ship(),
        bed.var("TESTBED_LOCAL_IP"),
        &bed.local_host(),
        free_ports(),
    );
}

#[test]
fn plain_tcp_transport() {
    let _ships = use_ships();
    let bed = testbed();
    round_trip(
        "tcp",
        &bed.ship2_tcp(),
        bed.var("TESTBED_SHIP2_IP"),
        &bed.ship2_host(),
        (28441, 28442),
    );
}

#[test]
fn tls_transport() {
    let _ships = use_ships();
    let bed = testbed();
    round_trip(
        "tls",
        &bed.ship3_tls(),
        bed.var("TESTBED_SHIP3_IP"),
        &bed.ship3_host(),
        (28461, 28462),
    );
}

#[test]
fn ssh_tunnel_transport() {
    let _ships = use_ships();
    let bed = testbed();
    round_trip(
        "ssh",
        &bed.ship2_ssh(),
        bed.var("TESTBED_SHIP2_IP"),
        &bed.ship2_host(),
        (28451, 28452),
    );
}

// ---------------------------------------------------------------- failures

/// ship3 with its TLS settings, but `ca` as the CA to verify against.
fn ship3_with_ca(ca: &Path) -> String {
    let bed = testbed();
    format!(
        "{{ip: {}, docker_port: {}, tls: true, tls_verify: true, tls_ca_cert: {}, tls_cert: {}, tls_key: {}}}",
        bed.var("TESTBED_SHIP3_IP"),
        bed.var("TESTBED_SHIP3_TLS_PORT"),
        ca.display(),
        bed.var("TESTBED_TLS_CERT"),
        bed.var("TESTBED_TLS_KEY")
    )
}

#[test]
fn tls_with_a_wrong_ca_fails_naming_the_ship() {
    let _ships = use_ships();
    let bed = testbed();
    let tag = "badca";
    let _cleanup = Cleanup::new(&names(tag));
    let dir = Dir::new();
    // A CA of our own, which did not sign the engine's certificate.
    let wrong_ca = dir.join("wrong-ca.pem");
    let wrong_key = dir.join("wrong-ca-key.pem");
    run_ok(Command::new("openssl").args([
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "1",
        "-subj",
        "/CN=not the test bed CA",
        "-keyout",
        wrong_key.to_str().expect("utf-8 path"),
        "-out",
        wrong_ca.to_str().expect("utf-8 path"),
    ]));
    // And the client certificate itself, which is no CA at all.
    let client_cert = PathBuf::from(bed.var("TESTBED_TLS_CERT"));
    for ca in [&wrong_ca, &client_cert] {
        let file = environment(&dir, tag, &ship3_with_ca(ca), (28471, 28472));
        let out = maestro_within(&file, &["start"], Duration::from_secs(30));
        assert_connection_failure(&out, "dock", &["certificate"], &bed.ship3_host(), tag);
    }
}

#[test]
fn ssh_key_not_authorized_fails_clearly() {
    let _ships = use_ships();
    let bed = testbed();
    let tag = "badkey";
    let _cleanup = Cleanup::new(&names(tag));
    let dir = Dir::new();
    let key = dir.join("id_ed25519");
    run_ok(Command::new("ssh-keygen").args([
        "-q",
        "-t",
        "ed25519",
        "-N",
        "",
        "-C",
        "not authorized",
        "-f",
        key.to_str().expect("utf-8 path"),
    ]));
    let ship = format!(
        "{{ip: {}, docker_port: {}, timeout: 5, ssh_tunnel: {{user: {}, key: {}, port: {}}}}}",
        bed.var("TESTBED_SHIP2_IP"),
        bed.var("TESTBED_SHIP2_PORT"),
        bed.var("TESTBED_SSH_USER"),
        key.display(),
        bed.var("TESTBED_SSH_PORT")
    );
    let file = environment(&dir, tag, &ship, (28481, 28482));
    let out = maestro_within(&file, &["start"], Duration::from_secs(30));
    assert_connection_failure(&out, "dock", &["ssh"], &bed.ship2_host(), tag);
    let error = out.stderr().to_lowercase();
    assert!(
        [
            "refused",
            "denied",
            "authenticat",
            "not accepted",
            "rejected"
        ]
        .iter()
        .any(|w| error.contains(w)),
        "the error does not say the key was refused\n{}",
        out.report()
    );
    assert!(
        out.stderr().contains(&key.display().to_string()),
        "the error does not name the key\n{}",
        out.report()
    );
}

#[test]
fn unreachable_ship_fails_naming_it() {
    let _ships = use_ships();
    let bed = testbed();
    let tag = "gone";
    let _cleanup = Cleanup::new(&names(tag));
    let dir = Dir::new();
    let ship = format!(
        "{{ip: {}, docker_port: 2399, timeout: 2}}",
        bed.var("TESTBED_SHIP2_IP")
    );
    let file = environment(&dir, tag, &ship, (28491, 28492));
    let out = maestro_within(&file, &["start"], Duration::from_secs(30));
    assert_connection_failure(
        &out,
        "dock",
        &["2399", "cannot reach", "unreachable", "refused"],
        &bed.ship2_host(),
        tag,
    );

    // status says so, for each container of the ship.
    let out = maestro_within(&file, &["status"], Duration::from_secs(30));
    for name in names(tag) {
        assert!(
            line_of_spaced(&out, &name).contains("host down"),
            "{name} is not reported on a host down\n{}",
            out.report()
        );
    }
}

/// An engine address that accepts connections but never answers: every
/// call is bounded by the ship's `timeout`, nothing hangs.
#[test]
fn silent_engine_is_given_up_after_the_ship_timeout() {
    let bed = testbed();
    let tag = "silent";
    let _cleanup = Cleanup::new(&names(tag));
    // The kernel completes connections into the backlog; nobody reads them.
    let silent = TcpListener::bind(("127.0.0.1", 0)).expect("a local listener");
    let port = silent.local_addr().expect("a bound address").port();
    let dir = Dir::new();
    let ship = format!("{{ip: 127.0.0.1, docker_port: {port}, timeout: 2}}");
    let file = environment(&dir, tag, &ship, free_ports());
    let out = maestro_within(&file, &["start"], Duration::from_secs(15));
    assert_connection_failure(&out, "dock", &["within 2 s"], &bed.local_host(), tag);

    let out = maestro_within(&file, &["status"], Duration::from_secs(15));
    for name in names(tag) {
        assert!(
            line_of_spaced(&out, &name).contains("host down"),
            "{name} is not reported on a host down\n{}",
            out.report()
        );
    }
    drop(silent);
}

// ---------------------------------------------------------------- API versions

/// The local engine is the Debian 20.10 one: API 1.41 at most.
fn assert_local_engine_is_api_1_41() {
    let version = docker(
        &testbed().local_host(),
        &["version", "--format", "{{.Server.APIVersion}}"],
    );
    assert_eq!(
        version.trim(),
        "1.41",
        "the local engine is not the API 1.41 engine these tests are about"
    );
}

/// The local ship with extra keys.
fn local_ship_with(extra: &str) -> String {
    let bed = testbed();
    format!(
        "{{ip: {}, socket_path: {}, {extra}}}",
        bed.var("TESTBED_LOCAL_IP"),
        bed.var("TESTBED_LOCAL_SOCKET")
    )
}

/// (a) No `api_version`: maestro negotiates 1.41 with the 20.10 engine (a
/// request for anything newer would be refused as too new).
#[test]
fn negotiates_with_the_api_1_41_engine() {
    assert_local_engine_is_api_1_41();
    let bed = testbed();
    round_trip(
        "neg41",
        &local_ship_with("timeout: 10"),
        bed.var("TESTBED_LOCAL_IP"),
        &bed.local_host(),
        free_ports(),
    );
}

/// (b) No `api_version`, through a front answering as Docker 29: it
/// refuses every versioned path older than 1.44, so success proves a
/// negotiated version of at least 1.44.
#[test]
fn negotiates_with_a_docker_29_engine() {
    let bed = testbed();
    let front = Docker29Front::start(bed.var("TESTBED_LOCAL_SOCKET")).expect("the front starts");
    let port = front.addr().port();
    round_trip(
        "neg29",
        &format!("{{ip: 127.0.0.1, endpoint: 127.0.0.1, docker_port: {port}}}"),
        "127.0.0.1",
        &bed.local_host(),
        free_ports(),
    );
    drop(front);
}

/// (c) `api_version: 1.41` pinned against the Docker 29 front: refused, with
/// the engine's own words, exit 1.
#[test]
fn pinned_old_api_version_is_refused_by_docker_29_with_its_reason() {
    let bed = testbed();
    let tag = "pin29";
    let _cleanup = Cleanup::new(&names(tag));
    let front = Docker29Front::start(bed.var("TESTBED_LOCAL_SOCKET")).expect("the front starts");
    let port = front.addr().port();
    let dir = Dir::new();
    let ship =
        format!("{{ip: 127.0.0.1, endpoint: 127.0.0.1, docker_port: {port}, api_version: 1.41}}");
    let file = environment(&dir, tag, &ship, free_ports());
    let out = maestro_within(&file, &["start"], Duration::from_secs(30));
    assert_connection_failure(&out, "dock", &["API version 1.41"], &bed.local_host(), tag);
    let stderr = out.stderr();
    assert!(
        stderr.contains("API version 1.41"),
        "the error does not name the version asked for\n{}",
        out.report()
    );
    assert!(
        stderr.contains("client version 1.41 is too old")
            && stderr.contains("Minimum supported API version is 1.44"),
        "the error does not give the engine's reason\n{}",
        out.report()
    );
    drop(front);
}

/// (d) `api_version: "1.41"` pinned on the 20.10 engine: works.
#[test]
fn pinned_api_version_works_on_the_api_1_41_engine() {
    assert_local_engine_is_api_1_41();
    let bed = testbed();
    round_trip(
        "pin41",
        &local_ship_with(r#"api_version: "1.41""#),
        bed.var("TESTBED_LOCAL_IP"),
        &bed.local_host(),
        free_ports(),
    );
}
