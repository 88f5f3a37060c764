//! Everything the binary writes to the terminal: results on stdout, `ERROR:`
//! and `WARNING:` lines on stderr. A closed stdout (`maestro dump | head`) is
//! not an error.

use std::io::{self, Write};
use std::process::ExitCode;

use maestro_config::ConfigError;

/// Why a command failed, which decides the exit status.
#[derive(Debug)]
pub enum Failure {
    /// Bad command line: exit 2.
    Usage(String),
    /// Bad environment description: exit 1, one line per problem.
    Environment(Vec<ConfigError>),
    /// A play or lookup failed: exit 1.
    Failed(String),
    /// Nothing went wrong, but the exit status tells something (`plan`: 3
    /// when there are changes); nothing more to print.
    Status(u8),
}

pub fn failure(f: Failure) -> ExitCode {
    let stderr = io::stderr();
    let mut err = stderr.lock();
    match f {
        Failure::Usage(msg) => {
            let _ = writeln!(err, "ERROR: {msg}");
            ExitCode::from(2)
        }
        Failure::Environment(errors) => {
            for e in errors {
                let _ = writeln!(err, "ERROR: {e}");
            }
            ExitCode::from(1)
        }
        Failure::Failed(msg) => {
            let _ = writeln!(err, "ERROR: {msg}");
            ExitCode::from(1)
        }
        Failure::Status(code) => ExitCode::from(code),
    }
}

/// Help and version go to stdout with status 0; usage errors become one
/// `ERROR:` sentence plus clap's usage hint, with status 2.
pub fn clap_error(e: clap::Error) -> ExitCode {
    if !e.use_stderr() {
        let _ = e.print();
        return ExitCode::SUCCESS;
    }
    if e.kind() == clap::error::ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
        // `maestro` alone: the help, on stderr, as a usage error.
        let _ = write!(io::stderr().lock(), "{}", e.render());
        return ExitCode::from(2);
    }
    let text = e.render().to_string();
    let text = text.strip_prefix("error: ").unwrap_or(&text);
    let _ = write!(io::stderr().lock(), "ERROR: {text}");
    ExitCode::from(2)
}

pub fn warnings(list: &[ConfigError]) {
    let stderr = io::stderr();
    let mut err = stderr.lock();
    for w in list {
        let _ = writeln!(err, "WARNING: {w}");
    }
}

/// Writes `text` to stdout; a closed pipe ends quietly.
pub fn print(text: &str) -> Result<(), Failure> {
    let stdout = io::stdout();
    let mut out = stdout.lock();
    match out.write_all(text.as_bytes()).and_then(|_| out.flush()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(Failure::Failed(format!(
            "cannot write to standard output: {e}"
        ))),
    }
}

/// Streams `value` as pretty JSON (and a newline) to stdout; a closed pipe
/// ends quietly.
pub fn print_json(value: &impl serde::Serialize) -> Result<(), Failure> {
    let stdout = io::stdout();
    let mut out = io::BufWriter::with_capacity(1 << 16, stdout.lock());
    let written = serde_json::to_writer_pretty(&mut out, value)
        .map_err(io::Error::from)
        .and_then(|_| out.write_all(b"\n"))
        .and_then(|_| out.flush());
    match written {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(Failure::Failed(format!(
            "cannot write to standard output: {e}"
        ))),
    }
}
