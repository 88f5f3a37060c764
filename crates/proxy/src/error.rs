//! What can go wrong between maestro and a ship's proxy, each a sentence.

use maestro_engine::EngineError;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ProxyError {
    /// An engine call failed (the proxy container missing, the ship down…).
    #[error(transparent)]
    Engine(#[from] EngineError),
    /// A route that Caddy would refuse (and with it the whole config).
    #[error("the proxy route of service {service}: {problem}")]
    Route { service: String, problem: String },
    /// Caddy refused the config (it keeps the one it had).
    #[error("the proxy {container} on {ship} refused its new configuration: {message}")]
    Rejected {
        ship: String,
        container: String,
        message: String,
    },
    /// A command run in the proxy container failed.
    #[error(
        "`{command}` failed in the proxy {container} on {ship} (exit status {code}): {message}"
    )]
    Command {
        ship: String,
        container: String,
        command: String,
        code: i64,
        message: String,
    },
    /// A command run in the proxy container did not end in time.
    #[error("`{command}` in the proxy {container} on {ship} did not finish within {seconds:.0} s")]
    Timeout {
        ship: String,
        container: String,
        command: String,
        seconds: f64,
    },
    /// The admin API answered something that is not what it documents.
    #[error("the proxy {container} on {ship} answered {what} with unexpected text: {reason}")]
    Reply {
        ship: String,
        container: String,
        what: String,
        reason: String,
    },
}
