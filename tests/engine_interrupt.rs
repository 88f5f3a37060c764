//! Ctrl-C during a play: no new container begins, the ones in flight finish,
//! and the report says what state each container was left in.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::engine_support::{head, IMAGE};
use crate::testbed::{inspect, testbed, Cleanup};
use crate::util::Dir;

#[test]
fn sigint_stops_launching_and_reports_each_container() {
    let bed = testbed();
    let dir = Dir::new();
    // A chain a <- b <- c <- d; each container holds its start for 3 s in a
    // running check, so the interrupt lands while `a` is in flight.
    let mut yaml = head("ir", &[("local", bed.local_ship())]);
    let names = ["ir-a-1", "ir-b-1", "ir-c-1", "ir-d-1"];
    let mut previous: Option<&str> = None;
    for (service, name) in ["a", "b", "c", "d"].iter().zip(names) {
        yaml.push_str(&format!(
            "  {service}:\n    image: {IMAGE}\n{}    lifecycle: {{running: [{{type: sleep, wait: 3}}]}}\n    instances:\n      {name}: {{ship: local, command: sleep 600, stop_timeout: 1}}\n",
            previous.map(|p| format!("    requires: [{p}]\n")).unwrap_or_default()
        ));
        previous = Some(service);
    }
    dir.write("maestro.yaml", &yaml);
    let _cleanup = Cleanup::new(&names);

    let mut child = Command::new(env!("CARGO_BIN_EXE_maestro"))
        .args(["-f", "maestro.yaml", "start"])
        .current_dir(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("maestro starts");
    // Wait until `a` exists on the engine, i.e. its start is under way.
    let began = Instant::now();
    while inspect(&bed.local_host(), "ir-a-1").is_none() {
        assert!(
            began.elapsed() < Duration::from_secs(30),
            "ir-a-1 never appeared"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let kill = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(kill.success());
    let interrupted = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait works") {
            break status;
        }
        assert!(
            interrupted.elapsed() < Duration::from_secs(30),
            "maestro did not end after SIGINT"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let output = child.wait_with_output().expect("maestro's output");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let report = format!("--- stdout\n{stdout}--- stderr\n{stderr}");

    assert_eq!(status.code(), Some(1), "{report}");
    assert!(stderr.contains("Interrupted"), "{report}");
    assert!(stderr.contains("start interrupted"), "{report}");
    // `a` was in flight: it finished its start (its check passed) and runs.
    let a_line = stdout.lines().find(|l| l.contains("ir-a-1")).unwrap_or("");
    assert!(a_line.contains("started"), "{report}");
    let a = inspect(&bed.local_host(), "ir-a-1").expect("ir-a-1 exists");
    assert_eq!(a["State"]["Running"], true, "{report}");
    // The others never began: reported as untouched, and absent on the engine.
    for name in &names[1..] {
        let line = stdout.lines().find(|l| l.contains(name)).unwrap_or("");
        assert!(line.contains("aborted (untouched)"), "{name}: {report}");
        assert!(
            inspect(&bed.local_host(), name).is_none(),
            "{name} was created: {report}"
        );
    }
}
