//! Decide, pure: from the file's model and a snapshot to a plan — which
//! containers a command acts on (selection), each one's creation request
//! (spec, options), how it differs from what runs (drift), the plays and
//! their options (play), the rollout's batches, the networks and volumes to
//! make first (objects), a one-off container's request (oneoff), and the
//! plan itself (reconcile → plan): single engine operations with their
//! causes and what each waits for. No I/O.
//!
//! May import: the leaves and observe (the snapshot's types). Never act,
//! direct or session.

pub mod clash;
pub mod drift;
pub mod hooks;
pub mod objects;
pub mod oneoff;
pub mod options;
pub mod plan;
pub mod play;
pub mod proxy;
pub mod reconcile;
pub mod rollout;
pub mod selection;
pub mod spec;
pub mod windows;
