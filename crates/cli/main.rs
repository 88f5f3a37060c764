//! The `maestro` binary: parses the command line, loads the environment and
//! prints. The work is done by the `maestro-config` and `maestro-plays` crates.

mod args;
mod commands;
mod exec;
mod init;
mod lock;
mod logs;
mod output;
mod plays;
mod proxy;
mod render;
mod run;
mod source;

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
/// otherwise keeps it for a while, which does not suit a play over
/// thousands of containers, which allocates and frees per engine call:
/// measured on the simulated fleet, 200 ships and 2,000 containers,
/// `status` peaks at 87 MiB instead of 114 MiB, `stop` at 67 MiB instead
/// of 87 MiB, in the same time. Nor loading a large file, which frees its
/// YAML tree as it builds the model: loading 10,000 containers peaks at
/// 69 MiB instead of 88 MiB, in the same instructions, and `start` on
/// 1,000 ships at 146 MiB instead of 155 MiB. Called first thing.
pub(crate) fn return_freed_memory_at_once() {
    // The option's number in mimalloc 3's `mi_option_e` (include/mimalloc.h),
    // which libmimalloc-sys builds but does not name.
    const PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;
    // SAFETY: a plain setter of one of mimalloc's global options, which
    // mimalloc reads afresh each time it considers purging.
    unsafe { libmimalloc_sys::mi_option_set(PURGE_DELAY, 0) }
}

/// Raises the soft limit on open files to the hard limit (or, when the hard
/// limit is unlimited, to the most the kernel allows one process), and
/// returns the soft limit in force afterwards. Many shells start programs
/// with a soft limit of 1024 although the hard one is far higher; a play
/// over thousands of containers holds a socket per engine call in flight
/// (at most the fleet's call pool, 512) plus the connections kept for
/// reuse, SSH channels and check probes, so the usual 1024 is too tight to
/// leave room. Best effort: when the limit cannot be raised the play runs
/// with the one it has.
#[cfg(unix)]
pub(crate) fn raise_open_file_limit() -> Option<libc::rlim_t> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one `rlimit` through a valid pointer.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return None;
    }
    let wanted = if limit.rlim_max == libc::RLIM_INFINITY {
        // An unlimited hard limit cannot be the soft one for open files:
        // the kernel caps it at fs.nr_open (macOS: OPEN_MAX).
        std::fs::read_to_string("/proc/sys/fs/nr_open")
            .ok()
            .and_then(|text| text.trim().parse::<libc::rlim_t>().ok())
            .unwrap_or(1 << 20)
    } else {
        limit.rlim_max
    };
    if limit.rlim_cur != libc::RLIM_INFINITY && limit.rlim_cur < wanted {
        let raised = libc::rlimit {
            rlim_cur: wanted,
            rlim_max: limit.rlim_max,
        };
        // SAFETY: setrlimit reads one `rlimit` through a valid pointer.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            limit.rlim_cur = wanted;
        }
    }
    Some(limit.rlim_cur)
}

#[cfg(not(unix))]
pub(crate) fn raise_open_file_limit() -> Option<u64> {
    None
}

/// One thread: the plays wait on engines, not on CPU, and a second worker
/// costs more in cross-thread wake-ups than it gains (measured on the
/// simulated fleet, 200 ships and 2,000 containers: `start` used 1.77 s of
/// CPU on two workers, 0.9 s on one).
pub(crate) fn runtime() -> Result<tokio::runtime::Runtime, output::Failure> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| output::Failure::Failed(format!("cannot start the async runtime: {e}")))
}

fn main() -> ExitCode {
    return_freed_memory_at_once();
    raise_open_file_limit();
    let cli = match args::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let args: Vec<String> = std::env::args().skip(1).collect();
            return output::clap_error(e, &args);
        }
    };
    match commands::run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => output::failure(failure),
    }
}

#[cfg(all(test, unix))]
mod tests {
    #[test]
    fn the_soft_open_file_limit_is_raised_to_the_hard_one() {
        let mut before = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: as in `raise_open_file_limit`.
        assert_eq!(
            unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut before) },
            0
        );
        // Lower the soft limit first (always allowed), so there is
        // something to raise.
        let lowered = libc::rlimit {
            rlim_cur: before.rlim_cur.min(256),
            rlim_max: before.rlim_max,
        };
        // SAFETY: as in `raise_open_file_limit`.
        assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lowered) }, 0);
        let now = super::raise_open_file_limit().expect("the limit can be read");
        let mut after = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: as in `raise_open_file_limit`.
        assert_eq!(
            unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut after) },
            0
        );
        assert_eq!(after.rlim_cur, now);
        assert_eq!(
            after.rlim_max, before.rlim_max,
            "the hard limit is left alone"
        );
        if before.rlim_max == libc::RLIM_INFINITY {
            assert!(now > 256, "raised from 256 to {now}");
        } else {
            assert_eq!(after.rlim_cur, before.rlim_max, "soft limit = hard limit");
        }
    }
}
