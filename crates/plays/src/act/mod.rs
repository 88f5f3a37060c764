//! Act: the one executor, which runs exactly a plan's operations over the
//! fleet (execute), the operations themselves (ops: pulls with the
//! registries' credentials, lifecycle checks, creations of containers,
//! networks and volumes), how each container's part ends (outcome) and why
//! an operation failed (failure), typed until printed; one one-off
//! container run to its end (oneoff: `maestro run`, and the deploy hooks,
//! which a plan runs as operations: hook).
//!
//! May import: the leaves, observe (the fleet) and decide (the plan it
//! runs). Never direct or session.

pub mod checks;
pub mod execute;
pub mod failure;
pub mod hook;
pub mod objects;
pub mod oneoff;
pub mod ops;
pub mod outcome;
pub mod proxy;
pub mod registry;
