//! `exec`: a command run inside containers on their ships. In one container
//! interactively (its input and output passed through as they come, a TTY's
//! size kept up to date, the command's exit status returned); in several,
//! one after the other or a few at once, without input, their output cut
//! into lines for the caller to tell apart. The caller owns the terminal.

use std::fmt;

use futures_util::{Stream, StreamExt};
use maestro_config::Container;
use maestro_engine::{EngineError, ExecOutput, ExecRequest, LogLine};
use tokio::io::{AsyncRead, AsyncWriteExt};

use crate::observe::fleet::Fleet;

/// Why a command could not be run (its own failure is an exit status).
#[derive(Debug, Clone, PartialEq)]
pub enum ExecError {
    /// The container does not exist on its ship.
    Missing {
        name: String,
        ship: String,
        /// The command that starts it ([`super::start_command`]).
        start: String,
    },
    /// The container exists but does not run (or is paused, or restarting).
    NotRunning {
        name: String,
        ship: String,
        message: String,
        start: String,
    },
    Engine(EngineError),
}

impl fmt::Display for ExecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExecError::Missing { name, ship, start } => write!(
                f,
                "{name} does not exist on ship {ship}; start it first with `{start}`"
            ),
            ExecError::NotRunning {
                name,
                ship,
                message,
                start,
            } => {
                let message = message.trim();
                // "Container ID is not running" says nothing more; "… is
                // paused" or "… is restarting" does.
                let why = if message.is_empty() || message.ends_with("is not running") {
                    String::new()
                } else {
                    format!(" (the engine says: {message})")
                };
                write!(
                    f,
                    "{name} is not running on ship {ship}{why}; start it first with `{start}`"
                )
            }
            ExecError::Engine(e) => write!(f, "{e}"),
        }
    }
}

impl ExecError {
    /// The engine's refusals that mean the container is missing or stopped.
    fn of(c: &Container, e: EngineError) -> ExecError {
        match e {
            EngineError::Refused { status: 404, .. } => ExecError::Missing {
                name: c.name.clone(),
                ship: c.ship.clone(),
                start: super::start_command(c),
            },
            EngineError::Refused {
                status: 409,
                message,
                ..
            } => ExecError::NotRunning {
                name: c.name.clone(),
                ship: c.ship.clone(),
                message,
                start: super::start_command(c),
            },
            other => ExecError::Engine(other),
        }
    }
}

/// Runs `request` in `c`: `input` (when given) goes to the command's stdin,
/// end-of-file included; each new terminal size from `resizes` goes to its
/// TTY; its output goes to `out` as it comes (`out` returning `false` stops
/// reading it). The command's exit status.
pub async fn exec_one(
    fleet: &Fleet,
    c: &Container,
    request: &ExecRequest,
    input: Option<impl AsyncRead + Unpin>,
    resizes: impl Stream<Item = (u16, u16)> + Unpin,
    mut out: impl FnMut(ExecOutput) -> bool,
) -> Result<i64, ExecError> {
    let engine = fleet.engine(&c.ship).await.map_err(ExecError::Engine)?;
    let session = engine
        .exec_attached(&c.name, request)
        .await
        .map_err(|e| ExecError::of(c, e))?;
    let id = session.id;
    let mut output = session.output;
    let mut writer = session.input;
    let pump = async {
        if let Some(mut reader) = input {
            let _ = tokio::io::copy(&mut reader, &mut writer).await;
            let _ = writer.shutdown().await;
        }
        std::future::pending::<()>().await
    };
    tokio::pin!(pump);
    let mut resizes = resizes.chain(futures_util::stream::pending());
    loop {
        tokio::select! {
            item = output.next() => match item {
                None => break,
                Some(Ok(chunk)) => {
                    if !out(chunk) {
                        break;
                    }
                }
                Some(Err(e)) => return Err(ExecError::Engine(e)),
            },
            Some((rows, cols)) = resizes.next() => {
                // Best effort: a terminal of the wrong size still works.
                let _ = engine.exec_resize(&id, rows, cols).await;
            }
            _ = &mut pump => {}
        }
    }
    engine
        .exec_exit_code(&id)
        .await
        .map_err(|e| ExecError::of(c, e))
}

/// Runs `command` in each of `containers`, at most `concurrency` at once
/// (one after the other with 1), without input or TTY; every line of output
/// goes to `sink` with the container's index. Each container's exit status,
/// in the order given.
pub async fn exec_each(
    fleet: &Fleet,
    containers: &[&Container],
    command: &[String],
    concurrency: usize,
    sink: impl Fn(usize, &LogLine),
) -> Vec<Result<i64, ExecError>> {
    let slots = crate::slots(Some(concurrency));
    let request = ExecRequest {
        command: command.to_vec(),
        ..Default::default()
    };
    let runs = containers.iter().enumerate().map(|(i, c)| {
        let (slots, request, sink) = (&slots, &request, &sink);
        async move {
            let _slot = slots.acquire().await.ok();
            let mut lines = Lines::default();
            let status = exec_one(
                fleet,
                c,
                request,
                None::<tokio::io::Empty>,
                futures_util::stream::pending(),
                |chunk| {
                    lines.push(chunk, |line| sink(i, line));
                    true
                },
            )
            .await;
            lines.finish(|line| sink(i, line));
            status
        }
    });
    futures_util::future::join_all(runs).await
}

/// Output cut into lines, stdout and stderr apart; a line is given once its
/// end comes (or at the end of the output).
#[derive(Default)]
struct Lines {
    stdout: Vec<u8>,
    stderr: Vec<u8>,
}

impl Lines {
    fn push(&mut self, chunk: ExecOutput, mut give: impl FnMut(&LogLine)) {
        let (stderr, bytes) = match chunk {
            ExecOutput::Stdout(b) => (false, b),
            ExecOutput::Stderr(b) => (true, b),
        };
        let buffer = if stderr {
            &mut self.stderr
        } else {
            &mut self.stdout
        };
        buffer.extend_from_slice(&bytes);
        while let Some(end) = buffer.iter().position(|b| *b == b'\n') {
            let rest = buffer.split_off(end + 1);
            let line = std::mem::replace(buffer, rest);
            give(&line_of(stderr, &line));
        }
    }

    fn finish(&mut self, mut give: impl FnMut(&LogLine)) {
        for (stderr, buffer) in [(false, &mut self.stdout), (true, &mut self.stderr)] {
            if !buffer.is_empty() {
                give(&line_of(stderr, buffer));
                buffer.clear();
            }
        }
    }
}

fn line_of(stderr: bool, bytes: &[u8]) -> LogLine {
    let text = String::from_utf8_lossy(bytes);
    let text = text.strip_suffix('\n').unwrap_or(&text);
    let text = text.strip_suffix('\r').unwrap_or(text);
    LogLine {
        stderr,
        text: text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_is_cut_into_lines_per_stream() {
        let mut lines = Lines::default();
        let mut got = Vec::new();
        lines.push(ExecOutput::Stdout(b"a\nb".to_vec()), |l| {
            got.push(l.clone())
        });
        lines.push(ExecOutput::Stderr(b"e1\r\n".to_vec()), |l| {
            got.push(l.clone())
        });
        lines.push(ExecOutput::Stdout(b"c\nd".to_vec()), |l| {
            got.push(l.clone())
        });
        lines.finish(|l| got.push(l.clone()));
        let text: Vec<(bool, &str)> = got.iter().map(|l| (l.stderr, l.text.as_str())).collect();
        assert_eq!(
            text,
            [(false, "a"), (true, "e1"), (false, "bc"), (false, "d")]
        );
    }
}
