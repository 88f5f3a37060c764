//! The `maestro` binary: parses the command line, loads the environment and
//! prints. The work is done by the `maestro-config` and `maestro-plays` crates.

mod args;
mod commands;
mod output;
mod plays;
mod render;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = match args::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return output::clap_error(e),
    };
    match commands::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => output::failure(failure),
    }
}
