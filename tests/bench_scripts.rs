//! The benchmark scripts still run: `scripts/bench-ssh --quick` (5 ships,
//! each its own sshd on 127.0.0.1 in front of the local engine; the Docker
//! CLI, the system ssh and maestro's `status` over `ssh://` endpoints, 3 runs)
//! exits 0 and prints every row of its table with figures. Only that it
//! measures: no figure is compared with a time.

use std::time::Duration;

use crate::util::{workspace_root, TestCommand};

/// The rows `--quick` prints, by the start of their label.
const ROWS: &[&str] = &[
    "| docker CLI `ps`, 1 ship ",
    "| docker CLI `ps`, 5 ships one after another ",
    "| docker CLI `ps`, 5 ships in parallel ",
    "| system ssh connect (`true`), 1 ship ",
    "| system ssh connect (`true`), 5 ships in parallel ",
    "| system ssh connect (`true`, curve25519 kex), 5 ships in parallel ",
    "| system ssh stream (dial-stdio + 1 GET), 5 ships in parallel ",
    "| maestro `status`, 1 ship ",
    "| maestro `status`, 5 ships ",
];

#[test]
fn bench_ssh_quick_measures_every_row() {
    let out = TestCommand::new(workspace_root().join("scripts").join("bench-ssh"))
        .args(["--quick", "--maestro", env!("CARGO_BIN_EXE_maestro")])
        .current_dir(workspace_root())
        .timeout(Duration::from_secs(300))
        .run();
    out.assert_success();
    let stdout = out.stdout();
    for row in ROWS {
        let line = stdout
            .lines()
            .find(|l| l.starts_with(row))
            .unwrap_or_else(|| panic!("no row {row:?}\n{}", out.report()));
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        // | what | ships | median | min | max | per ship | CPU | peak RSS |
        assert!(
            cells.len() == 10 && (cells[3].ends_with(" ms") || cells[3].ends_with(" s")),
            "row {row:?} has no median time: {line:?}\n{}",
            out.report()
        );
        assert!(
            cells[8].ends_with(" MiB"),
            "row {row:?} has no peak RSS: {line:?}\n{}",
            out.report()
        );
    }
    for line in [
        "maestro per ship: ",
        "goal: maestro `status` of all 5 ships < 2.0 x",
    ] {
        assert!(
            stdout.lines().any(|l| l.starts_with(line)),
            "no line {line:?}\n{}",
            out.report()
        );
    }
}
