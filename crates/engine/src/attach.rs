//! A one-off container's output and end: attached to before it starts
//! (over a hijacked connection, as `docker run` does, so nothing it writes
//! is missed whatever its logging driver), its stdout and stderr told apart
//! as they come, and its exit status once it stops.

use bollard::container::LogOutput;
use bollard::query_parameters::{AttachContainerOptions, WaitContainerOptions};
use futures_util::StreamExt;

use crate::exec::{ExecOutput, ExecStream};
use crate::{Engine, EngineError};

impl Engine {
    /// Attaches to container `name`'s stdout and stderr (no input): what it
    /// writes from now on, as it comes; the stream ends when it stops.
    /// Attach before starting it to get all of its output.
    pub async fn attach_output(&self, name: &str) -> Result<ExecStream, EngineError> {
        let action = format!("attach to container {name}");
        let path = self.segment(&action, name)?;
        let options = AttachContainerOptions {
            stream: true,
            stdout: true,
            stderr: true,
            ..Default::default()
        };
        let attached = self
            .bounded(
                &action,
                || self.docker.attach_container(&path, Some(options)),
                self.timeout,
            )
            .await?;
        let ship = self.ship.clone();
        let output = attached.output.map(move |item| match item {
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
        Ok(Box::pin(output))
    }

    /// Waits until container `name` is not running (at once when it is
    /// not) and gives its exit status. Not bounded by the ship's timeout:
    /// the container runs as long as its command does.
    pub async fn wait_container(&self, name: &str) -> Result<i64, EngineError> {
        let action = format!("wait for container {name} to stop");
        let path = self.segment(&action, name)?;
        let options = WaitContainerOptions {
            condition: "not-running".to_owned(),
        };
        let mut answers = Box::pin(self.docker.wait_container(&path, Some(options)));
        match answers.next().await {
            Some(Ok(answer)) => Ok(answer.status_code),
            // The client library gives a non-zero status as an error.
            Some(Err(bollard::errors::Error::DockerContainerWaitError { code, .. })) => Ok(code),
            Some(Err(e)) => Err(self.engine_error(&action, e)),
            None => Err(EngineError::Protocol {
                ship: self.ship.clone(),
                action,
                reason: "the engine ended the wait without an exit status".into(),
            }),
        }
    }
}
