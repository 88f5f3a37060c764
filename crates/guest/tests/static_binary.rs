//! The `maestro-guest` executable is static and runs on nothing: built by
//! `scripts/build-guest`, `file` must call it statically linked, it must be
//! small, and it must work as the only file of a `FROM scratch` image on the
//! local Docker engine (no shared libraries, no name service switch).
//!
//! Needs a Docker engine (`docker info`; the test bed's, from `scripts/testbed`,
//! which `scripts/test` runs first): without one the test fails, saying so.

mod common;

use common::workspace_root;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

const MAX_SIZE: u64 = 8 * 1024 * 1024;

fn run(command: &mut Command) -> Output {
    let output = command
        .output()
        .unwrap_or_else(|e| panic!("cannot run {command:?}: {e}"));
    assert!(
        output.status.success(),
        "{command:?} failed: {}\n--- stdout\n{}\n--- stderr\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// A directory removed when dropped.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// An image removed when dropped.
struct Image(String);

impl Drop for Image {
    fn drop(&mut self) {
        let _ = Command::new("docker")
            .args(["image", "rm", "-f", &self.0])
            .output();
    }
}

fn build_static() -> PathBuf {
    let root = workspace_root();
    let output = run(Command::new(root.join("scripts").join("build-guest")).current_dir(&root));
    let printed = stdout(&output);
    let path = PathBuf::from(printed.lines().next().expect("build-guest prints the path"));
    assert!(
        path.ends_with("target/x86_64-unknown-linux-gnu/release/maestro-guest"),
        "{printed}"
    );
    assert!(path.is_file(), "{} is missing", path.display());
    path
}

#[test]
fn static_and_runs_from_scratch() {
    let binary = build_static();

    let file = stdout(&run(Command::new("file").arg(&binary)));
    assert!(
        file.contains("statically linked") || file.contains("static-pie linked"),
        "`file` does not call it static: {file}"
    );
    let size = std::fs::metadata(&binary).unwrap().len();
    assert!(size < MAX_SIZE, "{} is {size} bytes", binary.display());

    // it runs here too
    let out = run(Command::new(&binary)
        .arg("get-service-name")
        .env("SERVICE_NAME", "host-side"));
    assert_eq!(stdout(&out), "host-side\n");

    let info = Command::new("docker").arg("info").output();
    assert!(
        info.as_ref().is_ok_and(|o| o.status.success()),
        "no Docker engine answers `docker info`: start the test bed with scripts/testbed \
         (scripts/test does it first)"
    );

    let context =
        TempDir(std::env::temp_dir().join(format!("maestro-guest-static-{}", std::process::id())));
    std::fs::create_dir_all(&context.0).unwrap();
    std::fs::copy(&binary, context.0.join("maestro-guest")).unwrap();
    std::fs::write(
        context.0.join("Dockerfile"),
        "FROM scratch\nCOPY maestro-guest /maestro-guest\n",
    )
    .unwrap();
    let image = Image(format!("maestro-test/guest-static:{}", std::process::id()));
    let legacy = Command::new("docker")
        .args(["build", "-q", "-t", &image.0])
        .arg(&context.0)
        .env("DOCKER_BUILDKIT", "0")
        .output()
        .unwrap();
    if !legacy.status.success() {
        // engines whose legacy builder is gone
        run(Command::new("docker")
            .args(["build", "-q", "-t", &image.0])
            .arg(&context.0));
    }

    let docker_run = |env: &[&str], args: &[&str]| {
        let mut command = Command::new("docker");
        command.args(["run", "--rm", "-i"]);
        for e in env {
            command.args(["-e", e]);
        }
        command.arg(&image.0).arg("/maestro-guest").args(args);
        command
    };

    let out = run(&mut docker_run(&["SERVICE_NAME=x"], &["get-service-name"]));
    assert_eq!(stdout(&out), "x\n");

    let out = run(&mut docker_run(&[], &["get-container-internal-address"]));
    let address = stdout(&out);
    assert!(
        address.trim().parse::<std::net::Ipv4Addr>().is_ok(),
        "not an address: {address:?}"
    );

    let out = run(&mut docker_run(
        &["CONTAINER_HOST_ADDRESS=127.1"],
        &["get-container-host-address", "--ip"],
    ));
    assert_eq!(stdout(&out), "127.0.0.1\n");

    // a template, from stdin
    let mut child = docker_run(
        &[
            "SERVICE_NAME=zk",
            "ZK_INSTANCES=zk-1,zk-2",
            "ZK_ZK_1_HOST=10.0.0.1",
            "ZK_ZK_1_PEER_PORT=2888",
            "ZK_ZK_2_HOST=10.0.0.2",
            "ZK_ZK_2_PEER_PORT=2889",
        ],
        &["render", "-"],
    )
    .stdin(Stdio::piped())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"{% for n in get_node_list(get_service_name(), ports=['peer']) %}{{ n }}\n{% endfor %}")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout(&out), "10.0.0.1:2888\n10.0.0.2:2889\n");

    // errors: message on stderr, exit status 1
    let out = docker_run(&[], &["get-service-name"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "maestro-guest: Service name was not defined\n"
    );
}
