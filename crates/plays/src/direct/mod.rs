//! Commands that talk to one engine without a plan: `logs` (one container,
//! or merged across containers), `exec`, `run` (a one-off container of a
//! service), and `init --from` (an environment file written from what the
//! ships run).
//!
//! May import: the leaves, observe, decide and act. Never session.

pub mod exec;
pub mod init;
pub mod logs;
pub mod logs_merged;
pub mod run;
