//! Commands that talk to one engine without a plan: `logs` (one container,
//! or merged across containers), `exec`, `run` (a one-off container of a
//! service), and `init --from` (an environment file written from what the
//! ships run).
//!
//! `logs` and `exec` also reach a ship's proxy, named `proxy@SHIP` on the
//! command line ([`crate::decide::proxy::proxy_container`]).
//!
//! May import: the leaves, observe, decide and act. Never session.

pub mod exec;
pub mod init;
pub mod logs;
pub mod logs_merged;
pub mod run;

use maestro_config::Container;

/// Whether `c` is the environment's proxy (as
/// [`crate::decide::proxy::proxy_container`] gives it).
pub fn is_proxy(c: &Container) -> bool {
    c.labels.contains_key(crate::labels::LABEL_PROXY)
}

/// The command that starts `c`: `maestro start NAME`, or `maestro up` for
/// the proxy (which `up` makes and starts).
pub fn start_command(c: &Container) -> String {
    if is_proxy(c) {
        "maestro up".to_owned()
    } else {
        format!("maestro start {}", c.name)
    }
}
