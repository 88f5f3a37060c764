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
pub fn clap_error(e: clap::Error, args: &[String]) -> ExitCode {
    if !e.use_stderr() {
        let _ = e.print();
        return ExitCode::SUCCESS;
    }
    if e.kind() == clap::error::ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
        // `maestro` alone: a short usage on stderr, as a usage error (the
        // whole help is `--help`'s); `maestro lock` alone: that command's help.
        let text = if args.iter().any(|a| crate::args::is_command(a)) {
            e.render().to_string()
        } else {
            crate::args::short_usage()
        };
        let _ = write!(io::stderr().lock(), "{text}");
        return ExitCode::from(2);
    }
    let text = e.render().to_string();
    let text = text.strip_prefix("error: ").unwrap_or(&text);
    let text = match exec_hint(&e, args) {
        Some(hint) => match text.split_once('\n') {
            Some((first, rest)) => format!("{first}; {hint}\n{rest}"),
            None => format!("{text}; {hint}"),
        },
        None => text.to_owned(),
    };
    let _ = write!(io::stderr().lock(), "ERROR: {text}");
    ExitCode::from(2)
}

/// For `maestro exec THING CMD…` (or `run`) without `--` (the command taken for
/// unexpected arguments, or missing): where the command goes.
fn exec_hint(e: &clap::Error, args: &[String]) -> Option<String> {
    use clap::error::ErrorKind;
    if !matches!(
        e.kind(),
        ErrorKind::UnknownArgument | ErrorKind::MissingRequiredArgument
    ) || args.iter().any(|a| a == "--")
    {
        return None;
    }
    let at = args.iter().position(|a| a == "exec" || a == "run")?;
    let verb = &args[at];
    let rest = &args[at + 1..];
    // The first word that is not an option (nor an option's value) is the thing.
    let mut words = Vec::new();
    let mut iter = rest.iter();
    while let Some(a) = iter.next() {
        if matches!(
            a.as_str(),
            "-c" | "--concurrency" | "-f" | "--file" | "--ship"
        ) {
            iter.next();
        } else if !a.starts_with('-') {
            words.push(a);
        }
    }
    let mut words = words.into_iter();
    let thing = words.next()?;
    let command: Vec<&str> = words.map(String::as_str).collect();
    let example = if command.is_empty() {
        "hostname".to_owned()
    } else {
        command.join(" ")
    };
    Some(format!(
        "put the command after `--`: maestro {verb} {thing} -- {example}"
    ))
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
