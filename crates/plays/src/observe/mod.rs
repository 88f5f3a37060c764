//! Observe: what the engines have, read once per play — each ship's engine
//! (its client, connected on first use), one list of containers per ship
//! and the inspects a decision needs (the snapshot), the networks and
//! volumes the play needs, and the `status` rows read off the snapshot
//! (with, for a service behind the proxy, what each ship's proxy routes to);
//! and, on the operator's side, the values of the secrets a play's
//! containers receive.
//!
//! May import: the crate's leaves (labels, previous, trace, timefmt). Never
//! decide, act, direct or session: what is seen does not depend on what
//! will be done with it.

pub mod fleet;
pub mod objects;
pub mod proxy;
pub mod secrets;
pub mod snapshot;
pub mod status;
