//! `maestro exec THING -- COMMAND…`: the terminal side. In one container,
//! maestro's stdin goes to the command and its output comes back as it is
//! written; when maestro runs on a terminal, the command gets a TTY of the
//! same size (kept up to date) and maestro's terminal is raw while it runs
//! (keys go to the command as typed). maestro exits with the command's
//! status. In several containers (a service's instances), each output line
//! is prefixed with its container's name and maestro fails naming those
//! where the command failed.

use std::io::{IsTerminal, Write};

use futures_util::Stream;
use maestro_config::{Container, Environment};
use maestro_engine::{ExecOutput, ExecRequest, LogLine};
use maestro_plays::Fleet;

use crate::output::Failure;
use crate::render::Palette;

/// Runs `command` in the containers of `thing`.
pub fn exec(
    env: &Environment,
    containers: &[&Container],
    command: &[String],
    concurrency: Option<u32>,
) -> Result<(), Failure> {
    match containers {
        [] => Err(Failure::Failed(
            "there is no container to run the command in".into(),
        )),
        [one] => exec_single(env, one, command),
        many => exec_many(env, many, command, concurrency),
    }
}

fn exec_single(env: &Environment, c: &Container, command: &[String]) -> Result<(), Failure> {
    let tty = std::io::stdin().is_terminal() && std::io::stdout().is_terminal();
    let request = ExecRequest {
        command: command.to_vec(),
        tty,
        stdin: true,
        size: if tty { terminal::size() } else { None },
    };
    let fleet = Fleet::new(env);
    let runtime = crate::runtime()?;
    let raw = if tty { terminal::Raw::enable() } else { None };
    let result = runtime.block_on(async {
        let resizes: std::pin::Pin<Box<dyn Stream<Item = (u16, u16)>>> = if tty {
            Box::pin(terminal::resizes())
        } else {
            Box::pin(futures_util::stream::pending())
        };
        maestro_plays::direct::exec::exec_one(
            &fleet,
            c,
            &request,
            Some(tokio::io::stdin()),
            resizes,
            write_output,
        )
        .await
    });
    drop(raw);
    // The read of stdin may still wait on a blocking thread: not for it.
    runtime.shutdown_background();
    match result {
        Ok(0) => Ok(()),
        Ok(code) => Err(Failure::Status(exit_status(code))),
        Err(e) => Err(Failure::Failed(e.to_string())),
    }
}

/// The command's exit status as maestro's (1 when it has none that fits).
pub(crate) fn exit_status(code: i64) -> u8 {
    match u8::try_from(code) {
        Ok(0) | Err(_) => 1,
        Ok(code) => code,
    }
}

/// Writes a piece of the command's output where it belongs; `false` once
/// stdout (or stderr) is closed.
pub(crate) fn write_output(chunk: ExecOutput) -> bool {
    match chunk {
        ExecOutput::Stdout(bytes) => {
            let mut out = std::io::stdout().lock();
            out.write_all(&bytes).and_then(|_| out.flush()).is_ok()
        }
        ExecOutput::Stderr(bytes) => {
            let mut err = std::io::stderr().lock();
            err.write_all(&bytes).and_then(|_| err.flush()).is_ok()
        }
    }
}

fn exec_many(
    env: &Environment,
    containers: &[&Container],
    command: &[String],
    concurrency: Option<u32>,
) -> Result<(), Failure> {
    let fleet = Fleet::new(env);
    let runtime = crate::runtime()?;
    let prefix = Prefixes::new(containers);
    let at_once = concurrency.map_or(1, |n| n.max(1) as usize);
    let results = runtime.block_on(maestro_plays::direct::exec::exec_each(
        &fleet,
        containers,
        command,
        at_once,
        |i, line| {
            prefix.print(i, line);
        },
    ));
    let failed: Vec<String> = containers
        .iter()
        .zip(&results)
        .filter_map(|(c, result)| match result {
            Ok(0) => None,
            Ok(code) => Some(format!("{} (exit status {code})", c.name)),
            Err(e) => Some(format!("{} ({e})", c.name)),
        })
        .collect();
    if failed.is_empty() {
        return Ok(());
    }
    Err(Failure::Failed(format!(
        "`{}` failed in {} of {} containers: {}",
        shown(command),
        failed.len(),
        containers.len(),
        failed.join("; ")
    )))
}

/// The command as one would type it in a shell (arguments with spaces or
/// quotes in single quotes), for messages.
fn shown(command: &[String]) -> String {
    let word = |arg: &String| {
        let plain = !arg.is_empty()
            && arg
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c));
        if plain {
            arg.clone()
        } else {
            format!("'{}'", arg.replace('\'', "'\\''"))
        }
    };
    command.iter().map(word).collect::<Vec<_>>().join(" ")
}

/// The names that prefix the lines of several containers, aligned, each
/// in its colour on a terminal.
pub struct Prefixes {
    names: Vec<String>,
}

impl Prefixes {
    pub fn new(containers: &[&Container]) -> Prefixes {
        let width = containers.iter().map(|c| c.name.len()).max().unwrap_or(0);
        let palette = Palette::for_stdout();
        let names = containers
            .iter()
            .enumerate()
            .map(|(i, c)| palette.tint(i, &format!("{:<width$} |", c.name)))
            .collect();
        Prefixes { names }
    }

    /// Prints `line` of container `index`, prefixed (stderr lines on
    /// stderr); `false` once the output is closed.
    pub fn print(&self, index: usize, line: &LogLine) -> bool {
        let prefix = self.names.get(index).map_or("", String::as_str);
        if line.stderr {
            let mut err = std::io::stderr().lock();
            writeln!(err, "{prefix} {}", line.text).is_ok()
        } else {
            let mut out = std::io::stdout().lock();
            writeln!(out, "{prefix} {}", line.text)
                .and_then(|_| out.flush())
                .is_ok()
        }
    }
}

#[cfg(unix)]
mod terminal {
    //! maestro's own terminal: raw mode and its size.

    use futures_util::Stream;
    use rustix::termios::{tcgetattr, tcgetwinsize, tcsetattr, OptionalActions, Termios};

    /// The terminal's size (rows, columns), when stdout is one.
    pub fn size() -> Option<(u16, u16)> {
        let size = tcgetwinsize(std::io::stdout()).ok()?;
        (size.ws_row > 0 && size.ws_col > 0).then_some((size.ws_row, size.ws_col))
    }

    /// The terminal's new size each time it changes (SIGWINCH).
    pub fn resizes() -> impl Stream<Item = (u16, u16)> {
        use tokio::signal::unix::{signal, SignalKind};
        let changes = signal(SignalKind::window_change()).ok();
        futures_util::stream::unfold(changes, |changes| async move {
            let mut changes = changes?;
            loop {
                changes.recv().await?;
                if let Some(size) = size() {
                    return Some((size, Some(changes)));
                }
            }
        })
    }

    /// stdin in raw mode until dropped (then as it was).
    pub struct Raw(Termios);

    impl Raw {
        pub fn enable() -> Option<Raw> {
            let before = tcgetattr(std::io::stdin()).ok()?;
            let mut raw = before.clone();
            raw.make_raw();
            tcsetattr(std::io::stdin(), OptionalActions::Now, &raw).ok()?;
            Some(Raw(before))
        }
    }

    impl Drop for Raw {
        fn drop(&mut self) {
            let _ = tcsetattr(std::io::stdin(), OptionalActions::Now, &self.0);
        }
    }
}

#[cfg(not(unix))]
mod terminal {
    //! Without termios: no raw mode, no size.

    use futures_util::Stream;

    pub fn size() -> Option<(u16, u16)> {
        None
    }

    pub fn resizes() -> impl Stream<Item = (u16, u16)> {
        futures_util::stream::pending()
    }

    pub struct Raw;

    impl Raw {
        pub fn enable() -> Option<Raw> {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn exit_statuses_fit_a_byte() {
        assert_eq!(super::exit_status(3), 3);
        assert_eq!(super::exit_status(255), 255);
        assert_eq!(super::exit_status(-1), 1);
        assert_eq!(super::exit_status(256), 1);
    }

    #[test]
    fn commands_are_shown_as_typed() {
        let command: Vec<String> = ["sh", "-c", "echo it's $HOME", ""]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(super::shown(&command), "sh -c 'echo it'\\''s $HOME' ''");
    }
}
