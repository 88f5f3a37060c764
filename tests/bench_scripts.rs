//! The benchmark scripts still run: `scripts/bench-ssh --quick` (5 ships,
//! each its own sshd on 127.0.0.1 in front of the local engine; the Docker
//! CLI, the system ssh and maestro's `status` over `ssh://` endpoints, 3 runs)
//! exits 0 and prints every row of its table with figures; `scripts/bench-deploy
//! --quick` (one ship, the local engine of the test bed: a web service rolled
//! from version 1 to 2 under `hey`, behind the proxy and without it) exits 0
//! and prints its table, the proxy's row without a failed request. Only that
//! they measure: no figure is compared with a time.

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

/// `scripts/bench-deploy --quick`: the header, one row per mode for one ship,
/// each with a deploy time and requests served; none failed behind the proxy.
#[test]
fn bench_deploy_quick_measures_both_modes() {
    crate::testbed::testbed();
    let out = TestCommand::new(workspace_root().join("scripts").join("bench-deploy"))
        .args(["--quick", "--maestro", env!("CARGO_BIN_EXE_maestro")])
        .current_dir(workspace_root())
        .timeout(Duration::from_secs(300))
        .run();
    out.assert_success();
    let stdout = out.stdout();
    let rows: Vec<Vec<&str>> = stdout
        .lines()
        .filter(|l| l.starts_with('|'))
        .map(|l| l.split('|').map(str::trim).collect())
        .collect();
    // | ships | mode | deploy wall time (s) | requests served | requests failed | load (req/s) |
    assert_eq!(
        rows.first().map(|r| r[1..7].to_vec()),
        Some(vec![
            "ships",
            "mode",
            "deploy wall time (s)",
            "requests served",
            "requests failed",
            "load (req/s)"
        ]),
        "no header\n{}",
        out.report()
    );
    assert_eq!(rows.len(), 4, "header, rule and 2 rows\n{}", out.report());
    for (row, mode) in rows[2..].iter().zip(["proxy", "no proxy"]) {
        assert_eq!(row.len(), 8, "{row:?}\n{}", out.report());
        assert_eq!((row[1], row[2]), ("1", mode), "{row:?}\n{}", out.report());
        let number = |i: usize| {
            row[i]
                .parse::<f64>()
                .unwrap_or_else(|_| panic!("{row:?}: column {i} is no number\n{}", out.report()))
        };
        assert!(number(3) > 0.0, "{row:?}: no deploy time");
        assert!(number(4) > 0.0, "{row:?}: no request served");
        number(5);
        assert!(number(6) > 0.0, "{row:?}: no load");
        if mode == "proxy" {
            assert_eq!(
                row[5],
                "0",
                "a request failed behind the proxy\n{}",
                out.report()
            );
        }
    }
}
