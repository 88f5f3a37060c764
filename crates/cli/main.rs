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

/// mimalloc keeps freed memory committed for a while and commits its arena
/// eagerly; for a short-lived tool that frees as it goes (a play over
/// thousands of containers) that doubles the peak resident memory (measured
/// on the simulated fleet, 200 ships and 2,000 containers: `status` 110 MiB
/// against 64 MiB) for no speed gained. Set from the ELF initialisers, before
/// the Rust runtime allocates its first byte (the arena is sized then).
#[used]
#[link_section = ".init_array"]
static RETURN_FREED_MEMORY_AT_ONCE: extern "C" fn() = return_freed_memory_at_once;

extern "C" fn return_freed_memory_at_once() {
    // The two options' numbers in mimalloc 3's `mi_option_e` (include/mimalloc.h),
    // which libmimalloc-sys builds but does not name.
    const ARENA_EAGER_COMMIT: libmimalloc_sys::mi_option_t = 4;
    const PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;
    // SAFETY: plain setters of mimalloc's global options, valid at any time.
    unsafe {
        libmimalloc_sys::mi_option_set(PURGE_DELAY, 0);
        libmimalloc_sys::mi_option_set(ARENA_EAGER_COMMIT, 0);
    }
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
