//! Every label maestro puts on the engines' objects, in one leaf module
//! (it imports nothing of the crate): what marks a container, network or
//! volume as an environment's, its spec hash, a one-off container's mark,
//! and the deploy lock's; and the name of the environment's proxy.

/// Labels maestro sets for itself start so (`io.maestro.environment`…).
pub const MAESTRO_LABEL_PREFIX: &str = "io.maestro.";
/// The environment a container (network, volume) belongs to.
pub const LABEL_ENVIRONMENT: &str = "io.maestro.environment";
/// The container's service.
pub const LABEL_SERVICE: &str = "io.maestro.service";
/// The instance.
pub const LABEL_INSTANCE: &str = "io.maestro.instance";
/// The SHA-256 of the creation request (without this label).
pub const LABEL_SPEC_HASH: &str = "io.maestro.spec-hash";
/// The secrets a container receives: each one's name, where it goes and
/// the digest of its value (never the value), as JSON.
pub const LABEL_SECRETS: &str = "io.maestro.secrets";
/// The environment's proxy container and network (`true`): never an
/// instance nor an orphan.
pub const LABEL_PROXY: &str = "io.maestro.proxy";

/// `ENV-proxy`: the name of the proxy container of `environment` (on each
/// ship that hosts a proxied service) and of its network.
pub fn proxy_name(environment: &str) -> String {
    format!("{environment}-proxy")
}
/// The networks a container joins, in order (the first is its mode).
pub const LABEL_NETWORKS: &str = "io.maestro.networks";
/// A one-off container (`maestro run`, a deploy hook): `true`. Such a
/// container carries the environment and service labels but no instance
/// label nor spec hash, and is never taken for an instance or an orphan.
pub const LABEL_ONEOFF: &str = "io.maestro.oneoff";
/// The platform the container was created for (`platform:`).
pub const LABEL_PLATFORM: &str = "io.maestro.platform";
/// The deploy lock: the environment it locks.
pub const LOCK_ENVIRONMENT: &str = "io.maestro.lock";
/// The lock's holder (`user@host`).
pub const LOCK_HOLDER: &str = "io.maestro.lock.holder";
/// The machine of the lock's holder.
pub const LOCK_HOST: &str = "io.maestro.lock.host";
/// The process id of a play's run holding the lock (empty for `lock acquire`).
pub const LOCK_PID: &str = "io.maestro.lock.pid";
/// Since when (seconds since the epoch).
pub const LOCK_SINCE: &str = "io.maestro.lock.since";
/// The command line that took it.
pub const LOCK_COMMAND: &str = "io.maestro.lock.command";
/// The holder's message.
pub const LOCK_MESSAGE: &str = "io.maestro.lock.message";
