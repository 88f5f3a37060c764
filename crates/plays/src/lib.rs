//! Plans and runs operations over the containers of an environment: which
//! containers a command acts on (selection), the creation request of each
//! (spec), lifecycle checks, and the plays over the ships' engines: one
//! snapshot of what the engines have (snapshot), a pure decision that
//! yields a plan of single operations (reconcile, plan), and one executor
//! that runs any plan (execute, ops). Status and orphans read the same
//! snapshot (status, converge).

pub mod audit;
pub mod checks;
pub mod clash;
pub mod converge;
pub mod drift;
pub mod exec;
pub mod execute;
pub mod failure;
pub mod fleet;
pub mod init;
pub mod labels;
pub mod lock;
pub mod logs;
pub mod logs_merged;
pub mod objects;
mod ops;
pub mod options;
pub mod plan;
pub mod play;
pub mod previous;
pub mod reconcile;
pub mod registry;
pub mod rollout;
pub mod run;
pub mod selection;
pub mod session;
pub mod snapshot;
pub mod spec;
pub mod status;
pub mod timefmt;
pub mod trace;

pub use execute::PlayReport;
pub use fleet::Fleet;
pub use play::{AbortReason, Finished, Observer, Outcome, PlayKind, PlayOptions};
pub use run::{prepare, run_play};
pub use selection::{select, Direction, SelectError, Selection};

/// At most `concurrency` at once (`None`: no bound).
pub(crate) fn slots(concurrency: Option<usize>) -> tokio::sync::Semaphore {
    tokio::sync::Semaphore::new(
        concurrency
            .unwrap_or(tokio::sync::Semaphore::MAX_PERMITS)
            .clamp(1, tokio::sync::Semaphore::MAX_PERMITS),
    )
}
