//! Test-only servers for maestro.
//!
//! * [`front`]: an engine front, an HTTP proxy in front of a real Docker engine that
//!   answers as another Docker version (now: Docker Engine 29, API 1.52, minimum API
//!   1.44), so API version negotiation can be tested against a "current" engine.
//! * [`route`]: the pure rules of a front: what to do with each request, how to
//!   rewrite a `/version` reply.
//! * [`sim`]: a simulated fleet of Docker engines (many ships in one process,
//!   in-memory containers, latency and fault knobs) for tests and benchmarks.
//!
//! The binary `maestro-testkit docker29-front` serves the same front from a shell;
//! `maestro-testkit sim-engine` serves a simulated fleet.

#![recursion_limit = "256"]

pub mod fault;
pub mod flaky;
pub mod front;
pub mod route;
pub mod sim;
pub mod sshd;

pub use fault::{unversioned, Backend, Cues, Fault, FaultProxy, Rule};
pub use front::{spawn_docker29_front, spawn_front, Docker29Front, FrontHandle};
pub use route::{decide, Decision, Persona, ResponseEdit};

/// Accepts connections on `listener` until `stop` changes (or its sender is
/// gone), handing each to `serve` on a task of its own, with a receiver of
/// `stop` for its own shutdown. A failed accept (out of file descriptors and
/// the like) is let pass after a short pause.
pub(crate) async fn accept_until_stopped<F, Fut>(
    listener: tokio::net::TcpListener,
    stop: tokio::sync::watch::Receiver<()>,
    serve: F,
) where
    F: Fn(tokio::net::TcpStream, tokio::sync::watch::Receiver<()>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let mut stopped = stop.clone();
    loop {
        tokio::select! {
            _ = stopped.changed() => return,
            accepted = listener.accept() => match accepted {
                Ok((tcp, _peer)) => {
                    tokio::spawn(serve(tcp, stop.clone()));
                }
                Err(_) => tokio::time::sleep(std::time::Duration::from_millis(20)).await,
            },
        }
    }
}
