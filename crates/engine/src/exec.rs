//! An interactive exec session inside a container (what `maestro exec`
//! runs): the command created with or without a TTY, started over a hijacked
//! connection (an HTTP upgrade on whatever transport the ship uses: unix
//! socket, TCP, TLS, SSH), its output as it comes (stdout and stderr told
//! apart without a TTY), its input as a writer, the TTY's size, and the
//! command's exit status once its output ends.

use std::pin::Pin;
use std::time::Duration;

use bollard::container::LogOutput;
use bollard::exec::{CreateExecOptions, ResizeExecOptions, StartExecOptions, StartExecResults};
use futures_util::{Stream, StreamExt};
use tokio::io::AsyncWrite;

use crate::{Engine, EngineError};

/// What to run and how.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExecRequest {
    /// The command and its arguments (no shell).
    pub command: Vec<String>,
    /// Give the command a terminal (its output then comes as one stream).
    pub tty: bool,
    /// Pass input on to the command's stdin.
    pub stdin: bool,
    /// The terminal's size (rows, columns), with `tty`.
    pub size: Option<(u16, u16)>,
}

/// A piece of the command's output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExecOutput {
    /// Standard output (everything, with a TTY).
    Stdout(Vec<u8>),
    /// Standard error (never with a TTY).
    Stderr(Vec<u8>),
}

/// The command's output, as it comes.
pub type ExecStream = Pin<Box<dyn Stream<Item = Result<ExecOutput, EngineError>> + Send>>;

/// A started exec: its output, its input, and its id for the exit status.
pub struct ExecSession {
    /// The exec's id on the engine.
    pub id: String,
    /// What the command writes; ends when the command ends.
    pub output: ExecStream,
    /// The command's stdin (shut it down to send end-of-file).
    pub input: Pin<Box<dyn AsyncWrite + Send>>,
}

impl Engine {
    /// Creates and starts `request` in container `name`, attached. A missing
    /// container is a 404 refusal, a stopped one a 409 (the caller names them).
    pub async fn exec_attached(
        &self,
        name: &str,
        request: &ExecRequest,
    ) -> Result<ExecSession, EngineError> {
        let action = format!("run `{}` in {name}", request.command.join(" "));
        let path = self.segment(&action, name)?;
        let options = CreateExecOptions::<String> {
            cmd: Some(request.command.clone()),
            attach_stdin: Some(request.stdin),
            attach_stdout: Some(true),
            attach_stderr: Some(true),
            tty: Some(request.tty),
            ..Default::default()
        };
        let created = self
            .bounded(
                &action,
                || self.docker.create_exec(&path, options),
                self.timeout,
            )
            .await?;
        let id = self.segment(&action, &created.id)?.into_owned();
        let start = StartExecOptions {
            detach: false,
            tty: request.tty,
            output_capacity: None,
        };
        let started = self
            .bounded(
                &action,
                || self.docker.start_exec(&id, Some(start)),
                self.timeout,
            )
            .await?;
        let StartExecResults::Attached { output, input } = started else {
            return Err(EngineError::Protocol {
                ship: self.ship.clone(),
                action,
                reason: "the engine started the command detached".into(),
            });
        };
        if let (true, Some((rows, cols))) = (request.tty, request.size) {
            // Best effort: a terminal of the wrong size still works.
            let _ = self.exec_resize(&created.id, rows, cols).await;
        }
        let ship = self.ship.clone();
        let output = output.map(move |item| match item {
            Ok(LogOutput::StdErr { message }) => Ok(ExecOutput::Stderr(message.to_vec())),
            Ok(
                LogOutput::StdOut { message }
                | LogOutput::Console { message }
                | LogOutput::StdIn { message },
            ) => Ok(ExecOutput::Stdout(message.to_vec())),
            Err(e) => Err(EngineError::Cut {
                ship: ship.clone(),
                action: action.clone(),
                reason: crate::error::root_cause(&e),
            }),
        });
        Ok(ExecSession {
            id: created.id,
            output: Box::pin(output),
            input,
        })
    }

    /// Tells the exec's TTY its new size.
    pub async fn exec_resize(&self, id: &str, rows: u16, cols: u16) -> Result<(), EngineError> {
        let action = "resize the command's terminal";
        let id = self.segment(action, id)?;
        let options = ResizeExecOptions {
            height: rows,
            width: cols,
        };
        self.bounded(
            action,
            || self.docker.resize_exec(&id, options),
            self.timeout,
        )
        .await
    }

    /// The exit status of exec `id`, waiting (briefly) for it to be known
    /// once its output has ended.
    pub async fn exec_exit_code(&self, id: &str) -> Result<i64, EngineError> {
        let action = "ask the exit status of the command";
        let id = self.segment(action, id)?;
        let mut pause = Duration::from_millis(10);
        let deadline = tokio::time::Instant::now() + self.timeout;
        loop {
            let state = self
                .bounded(action, || self.docker.inspect_exec(&id), self.timeout)
                .await?;
            if state.running != Some(true) {
                return Ok(state.exit_code.unwrap_or(-1));
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(EngineError::Timeout {
                    ship: self.ship.clone(),
                    action: format!("{action} (its output ended, but it still runs)"),
                    seconds: self.timeout.as_secs_f64(),
                });
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(200));
        }
    }
}
