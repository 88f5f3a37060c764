//! The errors of the guest functions.
//!
//! Every message starts with the text MaestroNG's `guestutils` gives for the
//! same case (where it has one of its own), so scripts and people who know
//! those messages recognise them; a detail saying which variable was looked
//! at may follow.

use thiserror::Error;

/// Why a guest function could not answer.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum GuestError {
    /// `SERVICE_NAME` is missing or empty.
    #[error("Service name was not defined")]
    ServiceNameUndefined,

    /// `CONTAINER_NAME` is missing or empty.
    #[error("Container name was not defined")]
    ContainerNameUndefined,

    /// `CONTAINER_HOST_ADDRESS` is missing or empty.
    #[error("Container host address was not defined")]
    HostAddressUndefined,

    /// `<S>_<C>_HOST` is missing.
    #[error("No host defined for container {container} of service {service} ({var} is not set)")]
    NoHost {
        service: String,
        container: String,
        /// The variable looked up.
        var: String,
    },

    /// `<S>_<C>_<P>_PORT` is missing (and there is no usable default) or is
    /// not a number.
    #[error("No port {port} defined for container {container} of service {service} ({})", problem(var, value.as_deref()))]
    NoPort {
        service: String,
        container: String,
        port: String,
        /// The variable looked up.
        var: String,
        /// Its value, when it is set but not a number.
        value: Option<String>,
    },

    /// `<S>_<C>_<P>_INTERNAL_PORT` is missing (and there is no usable
    /// default) or is not a number.
    #[error("No internal port {port} defined for container {container} of service {service} ({})", problem(var, value.as_deref()))]
    NoInternalPort {
        service: String,
        container: String,
        port: String,
        /// The variable looked up.
        var: String,
        /// Its value, when it is set but not a number.
        value: Option<String>,
    },

    /// `get_node_list` found fewer nodes than its `minimum`.
    #[error(
        "No or not enough {service} nodes configured ({found} found, at least {minimum} needed)"
    )]
    NotEnoughNodes {
        service: String,
        found: usize,
        minimum: i64,
    },

    /// A host name could not be resolved to an IPv4 address.
    #[error("Cannot resolve {name:?} to an IPv4 address: {reason}")]
    Resolve { name: String, reason: String },

    /// The network interface does not exist.
    #[error("No network interface {interface}")]
    NoInterface { interface: String },

    /// The network interface exists but has no IPv4 address.
    #[error("No IPv4 address on network interface {interface}")]
    NoInterfaceAddress { interface: String },

    /// The system would not list the network interfaces.
    #[error("Cannot list the network interfaces: {reason}")]
    Interfaces { reason: String },
}

fn problem(var: &str, value: Option<&str>) -> String {
    match value {
        Some(value) => format!("{var}={value:?} is not a number"),
        None => format!("{var} is not set"),
    }
}

/// Result of a guest function.
pub type Result<T, E = GuestError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_start_with_maestrong_text() {
        let e = GuestError::NoPort {
            service: "zk".into(),
            container: "zk-1".into(),
            port: "peer".into(),
            var: "ZK_ZK_1_PEER_PORT".into(),
            value: Some("1-3".into()),
        };
        assert_eq!(
            e.to_string(),
            "No port peer defined for container zk-1 of service zk (ZK_ZK_1_PEER_PORT=\"1-3\" is not a number)"
        );
        let e = GuestError::NotEnoughNodes {
            service: "zk".into(),
            found: 1,
            minimum: 3,
        };
        assert!(e
            .to_string()
            .starts_with("No or not enough zk nodes configured"));
        assert_eq!(
            GuestError::ServiceNameUndefined.to_string(),
            "Service name was not defined"
        );
    }
}
