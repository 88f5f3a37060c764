//! `maestro logs` of several containers (or of one with `--since`): their
//! lines merged, each prefixed with its container's name (coloured on a
//! terminal) when there are several; followed on every ship with `-F`. One
//! container without `--since` keeps MaestroNG's plain output
//! (`plays::logs`).

use maestro_config::{Container, Environment};
use maestro_engine::{LogLine, LogsFrom};
use maestro_plays::Fleet;

use crate::exec::Prefixes;
use crate::output::Failure;

/// What the command line asked of `logs`.
pub struct Asked<'a> {
    pub follow: bool,
    pub lines: Option<u64>,
    pub since: Option<&'a str>,
}

/// `logs` of `containers`, merged.
pub fn logs_merged(
    env: &Environment,
    containers: &[&Container],
    asked: &Asked<'_>,
) -> Result<(), Failure> {
    let since = match asked.since {
        Some(text) => Some(
            maestro_plays::timefmt::parse_since(text, maestro_plays::timefmt::now())
                .map_err(|e| Failure::Usage(e.to_string()))?,
        ),
        None => None,
    };
    let from = LogsFrom {
        tail: asked.lines,
        since,
    };
    let fleet = Fleet::new(env);
    let runtime = crate::runtime()?;
    let prefixes = (containers.len() > 1).then(|| Prefixes::new(containers));
    let print = |index: usize, line: &LogLine| match &prefixes {
        Some(prefixes) => prefixes.print(index, line),
        None => plain(line),
    };
    let mut errors: Vec<String> = Vec::new();
    if asked.follow {
        runtime.block_on(maestro_plays::direct::logs_merged::follow_merged(
            &fleet,
            containers,
            from,
            print,
            |index, e| {
                let name = containers.get(index).map_or("?", |c| c.name.as_str());
                eprintln!("WARNING: stopped following {name}: {e}");
                errors.push(format!("{name}: {e}"));
            },
        ));
    } else {
        let failed = runtime.block_on(maestro_plays::direct::logs_merged::tail_merged(
            &fleet, containers, from, print,
        ));
        errors.extend(failed.into_iter().map(|(_, e)| e.to_string()));
    }
    match errors.as_slice() {
        [] => Ok(()),
        [one] if !asked.follow => Err(Failure::Failed(one.clone())),
        _ => Err(Failure::Failed(format!(
            "could not read the logs of {} of {} containers: {}",
            errors.len(),
            containers.len(),
            errors.join("; ")
        ))),
    }
}

/// One line as `logs` of one container prints it.
fn plain(line: &LogLine) -> bool {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}", line.text)
        .and_then(|_| out.flush())
        .is_ok()
}
