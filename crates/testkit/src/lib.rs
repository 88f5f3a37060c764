//! Test-only servers for maestro.
//!
//! * [`front`]: an engine front, an HTTP proxy in front of a real Docker engine that
//!   answers as another Docker version (now: Docker Engine 29, API 1.52, minimum API
//!   1.44), so API version negotiation can be tested against a "current" engine.
//! * [`route`]: the pure rules of a front: what to do with each request, how to
//!   rewrite a `/version` reply.
//!
//! The binary `maestro-testkit docker29-front` serves the same front from a shell.

pub mod flaky;
pub mod front;
pub mod route;

pub use front::{spawn_docker29_front, spawn_front, Docker29Front, FrontHandle};
pub use route::{decide, Decision, Persona, ResponseEdit};
