//! Test-only servers for maestro.
//!
//! * [`front`]: an engine front, an HTTP proxy in front of a real Docker engine that
//!   answers as another Docker version (now: Docker Engine 29, API 1.52, minimum API
//!   1.44), so API version negotiation can be tested against a "current" engine.
//! * [`fault`]: a fault proxy in front of a real engine that refuses, delays,
//!   answers 500, returns malformed JSON or cuts a stream, on cue.
//! * [`flaky`]: answers 503 to the first N requests, then passes through.
//! * [`route`]: the pure rules of a front: what to do with each request, how to
//!   rewrite a `/version` reply.
//!
//! The binary `maestro-testkit docker29-front` serves the same front from a shell.

pub mod fault;
pub mod flaky;
pub mod front;
pub mod route;

pub use fault::{Backend, Cues, Fault, FaultProxy, Rule};
pub use front::{spawn_docker29_front, spawn_front, Docker29Front, FrontHandle};
pub use route::{decide, Decision, Persona, ResponseEdit};
