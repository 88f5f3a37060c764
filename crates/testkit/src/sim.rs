//! A simulated Docker engine fleet, for tests and benchmarks only: one
//! process serves many ships, each an honest HTTP/1.1 server on its own port
//! (or 127.0.0.x address) speaking the part of the Engine API that maestro's
//! and MaestroNG's plays use, with real container state in memory, a
//! latency per call, and fault knobs.
//!
//! * [`engine`]: one engine's state and the rules of each call (no I/O);
//! * [`process`]: what a container's command does (exit, output, SIGTERM);
//! * [`api`]: routing, version checks, fixed documents (no I/O);
//! * [`server`]: the listeners, latency, faults and call statistics;
//! * [`control`]: a JSON control API for scripts (faults, latency, stats);
//! * [`clock`]: time as engines write it.
//!
//! The calls served: `/_ping`, `/version`, `/info`; containers: list (label,
//! name, id, status, network, volume filters), create, inspect, start, stop,
//! kill, remove, wait, logs (with follow), exec create/start/inspect; images:
//! inspect, list, pull (`/images/create`); networks: list (name, id, label,
//! driver, scope, type, dangling filters), create, inspect, connect, remove;
//! volumes: list (name, label, label!, driver, dangling filters), create,
//! inspect, remove. Any API version from the minimum (1.24) to the newest
//! (1.47) is accepted, unversioned paths too.
//!
//! # Known deviations from a real engine
//!
//! Checked by `tests/sim_engine.rs`, which runs the same plays against the
//! local engine and a simulated ship and compares what maestro reports:
//!
//! * processes are simulated from the command (see [`process`]): a shell
//!   script's `echo`, `sleep`, `exit`, `trap … TERM`, `wait` are followed;
//!   any other program runs until stopped. Nothing is executed, nothing
//!   listens on published ports, exec output is only what `echo` prints;
//! * restart policies are recorded, never applied (a container that exits
//!   stays exited); health checks are never run;
//! * `NetworkMode` defaults to `bridge` (Docker 20.10 wrote `default`);
//!   every running container gets a 172.17.x.y address on the default
//!   bridge (shown as well for `host` and `none`); on a user network it
//!   gets the lowest free address of the network's subnet (or its fixed
//!   one). Name filters (`^name$` and the like) are Go regular expressions
//!   without groups, alternation or counted repetition: such a pattern
//!   only matches a name equal to it. Network disconnect and prune, volume
//!   prune, IPv6 addresses, anonymous volumes in the volume list, `attach`
//!   and the events stream are not served (so `docker run` without `-d`
//!   does not work against it);
//! * a pull takes no time beyond the call's latency and succeeds for any
//!   reference allowed by [`Pullable`] (every ship derives the same image id
//!   from the reference); images have the configuration of a minimal image
//!   (`Cmd ["/bin/sh"]`, a `PATH` variable);
//! * a non-detached exec start sends the exec's output and ends, after an
//!   upgrade when the client asks for one (no stdin);
//! * a call costs the configured latency and the simulator's own CPU time,
//!   not an engine's work: a create takes as long as an inspect.

pub mod api;
pub mod clock;
pub mod control;
pub mod engine;
pub mod process;
pub mod server;

use std::io;
use std::net::SocketAddr;
use std::thread;
use std::time::Duration;

use tokio::sync::oneshot;

pub use control::spawn_control;
pub use engine::Pullable;
pub use server::{spawn_sim, Census, Fault, Layout, SimConfig, SimHandle, Stats};

/// A simulated fleet on a thread and runtime of its own, for tests that are
/// not async. Dropping it (or [`SimFleet::shutdown`]) stops every ship and
/// joins the thread.
pub struct SimFleet {
    handle: SimHandle,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<thread::JoinHandle<()>>,
}

impl std::fmt::Debug for SimFleet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimFleet")
            .field("handle", &self.handle)
            .finish()
    }
}

impl SimFleet {
    /// Starts a fleet as `config` says; every ship listens when this returns.
    pub fn start(config: SimConfig) -> io::Result<SimFleet> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()?;
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let thread = thread::Builder::new()
            .name("sim-fleet".into())
            .spawn(move || {
                runtime.block_on(async move {
                    match spawn_sim(config).await {
                        Ok(handle) => {
                            let _ = ready_tx.send(Ok(handle));
                            let _ = stop_rx.await;
                        }
                        Err(err) => {
                            let _ = ready_tx.send(Err(err));
                        }
                    }
                });
                // Whatever is still running (hung requests) goes with the runtime.
                runtime.shutdown_timeout(Duration::from_millis(100));
            })?;
        let handle = match ready_rx.recv() {
            Ok(result) => result,
            Err(_) => Err(io::Error::other("the fleet's thread died while starting")),
        };
        match handle {
            Ok(handle) => Ok(SimFleet {
                handle,
                stop: Some(stop_tx),
                thread: Some(thread),
            }),
            Err(err) => {
                let _ = thread.join();
                Err(err)
            }
        }
    }

    /// The running fleet: addresses, faults, latency, statistics.
    pub fn handle(&self) -> &SimHandle {
        &self.handle
    }

    /// The address of ship `index`.
    pub fn addr(&self, index: usize) -> Option<SocketAddr> {
        self.handle().addr(index)
    }

    /// `tcp://ADDR` of ship `index`, ready for `DOCKER_HOST`.
    pub fn docker_host(&self, index: usize) -> Option<String> {
        self.addr(index).map(|a| format!("tcp://{a}"))
    }

    /// Stops the fleet and waits for its thread; the same as dropping it.
    pub fn shutdown(self) {}
}

impl std::ops::Deref for SimFleet {
    type Target = SimHandle;

    fn deref(&self) -> &SimHandle {
        self.handle()
    }
}

impl Drop for SimFleet {
    fn drop(&mut self) {
        // The runtime's shutdown ends every task of the fleet.
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
