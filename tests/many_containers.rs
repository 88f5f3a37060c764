//! Thousands of containers on few ships, maestro started with the usual
//! soft limit of 1,024 open files: it raises that to the hard limit, and
//! every engine call, stops included, goes through the fleet's call pool, so
//! a flat `start` then `stop -a` of 5,000 containers on 5 simulated ships
//! work and every container ends as asked.

use std::time::Duration;

use maestro_testkit::sim::{SimConfig, SimFleet};

use crate::util::{Dir, TestCommand};

const SHIPS: usize = 5;
const CONTAINERS: usize = 5_000;
/// Exits at once on SIGTERM.
const IDLE: &str = "trap 'exit 0' TERM; sleep 3600 & wait";

/// The simulator runs in this process and serves one socket per connection
/// maestro opens: give it room of its own (maestro's limit is set apart).
fn raise_own_open_file_limit() {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit read or write one `rlimit` through a
    // valid pointer.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 && limit.rlim_cur < 16_384 {
            limit.rlim_cur = limit.rlim_max.min(65_536);
            libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
    }
}

fn environment(sim: &SimFleet) -> String {
    let mut text = String::from("name: many\nships:\n");
    for (i, addr) in sim.addrs().iter().enumerate() {
        text.push_str(&format!(
            "  s{i}: {{ip: 127.0.0.1, docker_port: {}, timeout: 600}}\n",
            addr.port()
        ));
    }
    text.push_str("services:\n  box:\n    image: maestro-test/box:1\n    instances:\n");
    let command = serde_json::json!(["sh", "-c", IDLE]);
    for i in 0..CONTAINERS {
        text.push_str(&format!(
            "      box-{i}: {{ship: s{}, stop_timeout: 1, command: {command}}}\n",
            i % SHIPS
        ));
    }
    text
}

/// `maestro -f FILE ARGS` started with a soft limit of 1,024 open files.
fn maestro_from_1024_files(dir: &Dir, args: &[&str]) -> crate::util::Output {
    TestCommand::new("prlimit")
        .current_dir(dir.path())
        .arg("--nofile=1024:")
        .arg(env!("CARGO_BIN_EXE_maestro"))
        .args(["-f", "maestro.yaml"])
        .args(args)
        .env("NO_COLOR", "1")
        .env_remove("DOCKER_HOST")
        .env_remove("DOCKER_CONTEXT")
        .timeout(Duration::from_secs(900))
        .run()
}

#[test]
fn five_thousand_containers_start_and_stop_from_a_soft_limit_of_1024_files() {
    raise_own_open_file_limit();
    let sim = SimFleet::start(SimConfig {
        ships: SHIPS,
        ..SimConfig::default()
    })
    .expect("the simulator starts");
    let dir = Dir::new();
    dir.write("maestro.yaml", environment(&sim));

    let out = maestro_from_1024_files(&dir, &["start"]);
    assert!(out.success(), "{}", out.report());
    let census = sim.census();
    assert_eq!(census.running, CONTAINERS, "{census:?}\n{}", out.report());

    let out = maestro_from_1024_files(&dir, &["stop", "-a"]);
    assert!(out.success(), "{}", out.report());
    let census = sim.census();
    assert_eq!(census.exited, CONTAINERS, "{census:?}\n{}", out.report());
    assert_eq!(census.total(), CONTAINERS, "{census:?}");
    assert!(
        !out.stderr().contains("ERROR"),
        "no container failed to stop:\n{}",
        out.report()
    );
}
