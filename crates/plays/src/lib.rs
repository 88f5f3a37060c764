//! Plans and runs operations over the containers of an environment: which
//! containers a command acts on (selection), the creation request of each
//! (spec), lifecycle checks, and the plays themselves over the ships'
//! engines (fleet, play, actions, status).

mod actions;
pub mod audit;
pub mod checks;
pub mod converge;
pub mod drift;
pub mod fleet;
pub mod play;
pub mod registry;
pub mod selection;
pub mod spec;
pub mod status;
pub mod timefmt;
pub mod trace;

pub use fleet::Fleet;
pub use play::{
    run_play, AbortReason, Finished, Observer, Outcome, PlayKind, PlayOptions, PlayReport,
};
pub use selection::{select, Direction, SelectError, Selection};

/// At most `concurrency` at once (`None`: no bound).
pub(crate) fn slots(concurrency: Option<usize>) -> tokio::sync::Semaphore {
    tokio::sync::Semaphore::new(
        concurrency
            .unwrap_or(tokio::sync::Semaphore::MAX_PERMITS)
            .clamp(1, tokio::sync::Semaphore::MAX_PERMITS),
    )
}
