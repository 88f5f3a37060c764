//! Plans and runs operations over the containers of an environment, in
//! three steps that the folders show:
//!
//! - [`observe`]: one snapshot of what the engines have (a list per ship,
//!   the inspects a decision needs, the networks and volumes);
//! - [`decide`]: a pure reconcile of the file's model and the snapshot into
//!   a plan of single engine operations, each with its cause and what it
//!   waits for;
//! - [`act`]: one executor that runs exactly that plan and reports each
//!   container's outcome.
//!
//! [`session`] wraps a play in what a state-changing command needs (lock,
//! auditors, after-steps); [`direct`] holds the commands that talk to one
//! engine without a plan (`logs`, `exec`, `init --from`). The leaves below
//! (labels, names of kept containers, the debug trace, time formats) are
//! imported by all and import nothing of the crate. No group imports one
//! after it in this order: leaves, observe, decide, act, direct, session
//! (checked by `scripts/check-cycles`).

pub mod act;
pub mod decide;
pub mod direct;
pub mod labels;
pub mod observe;
pub mod previous;
pub mod session;
pub mod timefmt;
pub mod trace;

pub use act::execute::PlayReport;
pub use act::outcome::{AbortReason, Observer, Outcome};
pub use decide::play::{Finished, PlayKind, PlayOptions};
pub use decide::selection::{select, Direction, SelectError, Selection};
pub use observe::fleet::Fleet;
pub use session::run::{prepare, run_play};

/// At most `concurrency` at once (`None`: no bound).
pub(crate) fn slots(concurrency: Option<usize>) -> tokio::sync::Semaphore {
    tokio::sync::Semaphore::new(
        concurrency
            .unwrap_or(tokio::sync::Semaphore::MAX_PERMITS)
            .clamp(1, tokio::sync::Semaphore::MAX_PERMITS),
    )
}
