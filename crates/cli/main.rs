//! The `maestro` binary: parses the command line, loads the environment and
//! prints. The work is done by the `maestro-config` and `maestro-plays` crates.

mod args;
mod commands;
mod output;
mod plays;
mod render;

use std::process::ExitCode;

/// Loading a large environment allocates millions of small strings; mimalloc
/// does that markedly faster than glibc's allocator. Built without
/// transparent huge pages (feature `no_thp`): with them its arenas are
/// resident in 2 MiB pages (loading 2,000 containers: 41 MiB instead of
/// 26 MiB, in the same time).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::Parser;

/// From now on freed memory goes back to the system at once. mimalloc
/// otherwise keeps it for a while, which suits loading a file (allocations
/// only) but not a play over thousands of containers, which allocates and
/// frees per engine call: measured on the simulated fleet, 200 ships and
/// 2,000 containers, `status` peaks at 87 MiB instead of 114 MiB, `stop` at
/// 67 MiB instead of 87 MiB, in the same time. Called before a play begins.
pub(crate) fn return_freed_memory_at_once() {
    // The option's number in mimalloc 3's `mi_option_e` (include/mimalloc.h),
    // which libmimalloc-sys builds but does not name.
    const PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;
    // SAFETY: a plain setter of one of mimalloc's global options, which
    // mimalloc reads afresh each time it considers purging.
    unsafe { libmimalloc_sys::mi_option_set(PURGE_DELAY, 0) }
}

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
