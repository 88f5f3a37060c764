//! The `maestro` binary: parses the command line, loads the environment and
//! prints. The work is done by the `maestro-config` and `maestro-plays` crates.

mod args;
mod commands;
mod output;
mod plays;
mod render;

use std::process::ExitCode;

/// Loading a large environment allocates millions of small strings; mimalloc
/// does that markedly faster than glibc's allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
