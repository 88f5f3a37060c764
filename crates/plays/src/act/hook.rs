//! A deploy hook, run as an operation of a plan: its command in a one-off
//! container of the service's new configuration on the container's ship
//! (named `SERVICE-hook-XXXXXX`, removed afterwards), which must exit 0.

use crate::act::failure::Failure;
use crate::act::ops::Ctx;
use crate::decide::plan::HookRun;

/// How many of a failed hook's last output lines its failure shows.
const HOOK_LINES_ON_FAILURE: usize = 20;

/// Runs a deploy hook; its output lines are told as progress, and a
/// failure shows the last of them.
pub(crate) async fn run(ctx: &Ctx<'_>, run: &HookRun) -> Result<(), Failure> {
    let phase = run.phase.name();
    let command = shell_words(&run.command);
    (ctx.progress)(&format!("running the {phase} hook {command}"));
    let not_run = |error| Failure::HookNotRun {
        phase,
        command: command.clone(),
        error: Box::new(error),
    };
    let name = crate::act::oneoff::free_name(ctx.env, &ctx.engine, &run.service, "hook")
        .await?
        .ok_or_else(|| Failure::NoFreeName(run.service.clone()))?;
    let request = crate::decide::oneoff::named(run.request.clone(), &name);
    let one = crate::act::oneoff::OneOff {
        engine: &ctx.engine,
        name: &name,
        request: &request,
        grace: ctx.container.stop_timeout,
        keep: false,
    };
    let mut lines = Lines::default();
    let ran = crate::act::oneoff::run_one_off(
        &one,
        |chunk| {
            for line in lines.take(chunk) {
                (ctx.progress)(&format!("{phase} hook: {line}"));
            }
        },
        std::future::pending(),
    )
    .await;
    let status = ran.map_err(not_run)?;
    if status != 0 {
        return Err(Failure::HookFailed {
            phase,
            command,
            status,
            lines: lines.last(HOOK_LINES_ON_FAILURE),
        });
    }
    Ok(())
}

/// A command as a shell would read it (`sh -c 'migrate --all'`).
fn shell_words(command: &[String]) -> String {
    command
        .iter()
        .map(|w| {
            let plain = !w.is_empty()
                && w.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_./=:,@%+".contains(&b));
            if plain {
                w.clone()
            } else {
                format!("'{}'", w.replace('\'', "'\\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// A one-off's output cut into lines (both streams), the last ones kept.
#[derive(Default)]
struct Lines {
    partial: Vec<u8>,
    kept: std::collections::VecDeque<String>,
}

impl Lines {
    /// The whole lines `chunk` completes (each also kept).
    fn take(&mut self, chunk: maestro_engine::ExecOutput) -> Vec<String> {
        let bytes = match chunk {
            maestro_engine::ExecOutput::Stdout(b) | maestro_engine::ExecOutput::Stderr(b) => b,
        };
        self.partial.extend_from_slice(&bytes);
        let mut out = Vec::new();
        while let Some(at) = self.partial.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.partial.drain(..=at).collect();
            let text = String::from_utf8_lossy(&line).trim_end().to_owned();
            self.keep(text.clone());
            out.push(text);
        }
        out
    }

    fn keep(&mut self, line: String) {
        if self.kept.len() == HOOK_LINES_ON_FAILURE {
            self.kept.pop_front();
        }
        self.kept.push_back(line);
    }

    /// The last `n` lines, an unfinished one included.
    fn last(mut self, n: usize) -> Vec<String> {
        if !self.partial.is_empty() {
            let rest = String::from_utf8_lossy(&self.partial).trim_end().to_owned();
            self.keep(rest);
        }
        let skip = self.kept.len().saturating_sub(n);
        self.kept.into_iter().skip(skip).collect()
    }
}
