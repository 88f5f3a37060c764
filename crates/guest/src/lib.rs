//! Guest helpers: what the code running inside a container started by maestro
//! (or MaestroNG) can learn from its environment: its service and container
//! names, its host's address, its own ports, and the hosts and ports of its
//! peers and dependencies.
//!
//! The same functions as MaestroNG's `maestro.guestutils` Python module, with
//! the same results for the same environment, but typed errors. Each function
//! reads from an [`Environment`] passed in (a `HashMap`, a `BTreeMap`, or
//! [`ProcessEnv`] for the process environment); the [`os`] module has the same
//! functions on the process environment.
//!
//! ```
//! use std::collections::HashMap;
//! let env: HashMap<String, String> = [
//!     ("ZK_INSTANCES", "zk-1,zk-2"),
//!     ("ZK_ZK_1_HOST", "10.0.0.1"),
//!     ("ZK_ZK_1_PEER_PORT", "2888"),
//!     ("ZK_ZK_2_HOST", "10.0.0.2"),
//!     ("ZK_ZK_2_PEER_PORT", "2889"),
//! ]
//! .into_iter()
//! .map(|(k, v)| (k.to_string(), v.to_string()))
//! .collect();
//! let nodes = maestro_guest::get_node_list(&env, "zk", &["peer"], 1).unwrap();
//! assert_eq!(nodes, ["10.0.0.1:2888", "10.0.0.2:2889"]);
//! ```

pub mod cli;
pub mod dns;
pub mod error;
pub mod net;
mod pyint;
pub mod render;

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::hash::BuildHasher;
use std::net::Ipv4Addr;

use maestro_config::naming;

pub use error::{GuestError, Result};
pub use pyint::parse_python_int;

/// The network interface whose address [`get_container_internal_address`]
/// returns.
pub const INTERNAL_INTERFACE: &str = "eth0";

/// Where the functions read variables from.
pub trait Environment {
    /// The value of a variable, `None` when it is not set.
    fn var(&self, name: &str) -> Option<Cow<'_, str>>;
}

impl<S: BuildHasher> Environment for HashMap<String, String, S> {
    fn var(&self, name: &str) -> Option<Cow<'_, str>> {
        self.get(name).map(|v| Cow::Borrowed(v.as_str()))
    }
}

impl Environment for BTreeMap<String, String> {
    fn var(&self, name: &str) -> Option<Cow<'_, str>> {
        self.get(name).map(|v| Cow::Borrowed(v.as_str()))
    }
}

impl<E: Environment + ?Sized> Environment for &E {
    fn var(&self, name: &str) -> Option<Cow<'_, str>> {
        (**self).var(name)
    }
}

/// The process environment (values that are not UTF-8 are read lossily).
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcessEnv;

impl Environment for ProcessEnv {
    fn var(&self, name: &str) -> Option<Cow<'_, str>> {
        std::env::var_os(name).map(|v| Cow::Owned(v.to_string_lossy().into_owned()))
    }
}

/// `MAESTRO_ENVIRONMENT_NAME`, or `local` when it is not set (an empty value
/// is returned as is).
pub fn get_environment_name(env: &impl Environment) -> String {
    env.var("MAESTRO_ENVIRONMENT_NAME")
        .map(Cow::into_owned)
        .unwrap_or_else(|| "local".to_string())
}

/// `SERVICE_NAME`; an error when it is missing or empty.
pub fn get_service_name(env: &impl Environment) -> Result<String> {
    non_empty(env, "SERVICE_NAME").ok_or(GuestError::ServiceNameUndefined)
}

/// `CONTAINER_NAME`; an error when it is missing or empty.
pub fn get_container_name(env: &impl Environment) -> Result<String> {
    non_empty(env, "CONTAINER_NAME").ok_or(GuestError::ContainerNameUndefined)
}

/// `CONTAINER_HOST_ADDRESS` (the address of the container's ship); an error
/// when it is missing or empty. With `as_ip_address`, resolved to an IPv4
/// address ([`net::resolve_ipv4`]: no name service switch needed).
pub fn get_container_host_address(env: &impl Environment, as_ip_address: bool) -> Result<String> {
    let address =
        non_empty(env, "CONTAINER_HOST_ADDRESS").ok_or(GuestError::HostAddressUndefined)?;
    if as_ip_address {
        Ok(net::resolve_ipv4(&address)?.to_string())
    } else {
        Ok(address)
    }
}

/// The container's own IPv4 address on `eth0`.
pub fn get_container_internal_address() -> Result<Ipv4Addr> {
    net::interface_ipv4(INTERNAL_INTERFACE)
}

/// The container's own exposed (internal) port `name`:
/// [`get_specific_exposed_port`] of its own service and container.
pub fn get_port(env: &impl Environment, name: &str, default: Option<i64>) -> Result<i64> {
    let service = get_service_name(env)?;
    let container = get_container_name(env)?;
    get_specific_exposed_port(env, &service, &container, name, default)
}

/// `<S>_<C>_HOST`: the host address of container `container` of service
/// `service`.
pub fn get_specific_host(env: &impl Environment, service: &str, container: &str) -> Result<String> {
    let var = naming::host_var(service, container);
    match env.var(&var) {
        Some(host) => Ok(host.into_owned()),
        None => Err(GuestError::NoHost {
            service: service.to_string(),
            container: container.to_string(),
            var,
        }),
    }
}

/// `<S>_<C>_<P>_PORT`: the external port `port` of a container, as a number;
/// `default` when the variable is not set. An error when neither, or when the
/// value is not a number (a range such as `1234-1236`).
pub fn get_specific_port(
    env: &impl Environment,
    service: &str,
    container: &str,
    port: &str,
    default: Option<i64>,
) -> Result<i64> {
    let var = naming::port_var(service, container, port);
    read_port(env, var, default).map_err(|UnusablePort { var, value }| GuestError::NoPort {
        service: service.to_string(),
        container: container.to_string(),
        port: port.to_string(),
        var,
        value,
    })
}

/// `<S>_<C>_<P>_INTERNAL_PORT`: the exposed (internal) port `port` of a
/// container, as a number; `default` when the variable is not set. An error
/// when neither, or when the value is not a number.
pub fn get_specific_exposed_port(
    env: &impl Environment,
    service: &str,
    container: &str,
    port: &str,
    default: Option<i64>,
) -> Result<i64> {
    let var = naming::internal_port_var(service, container, port);
    read_port(env, var, default).map_err(|UnusablePort { var, value }| GuestError::NoInternalPort {
        service: service.to_string(),
        container: container.to_string(),
        port: port.to_string(),
        var,
        value,
    })
}

/// The nodes of `service`: for each name in `<S>_INSTANCES` (comma-separated,
/// in that order), its host followed by `:port` for each name in `ports`
/// (external ports), e.g. `10.0.0.1:2181:2888`. An error when a host or port
/// is missing, or when there are fewer than `minimum` nodes.
pub fn get_node_list<P: AsRef<str>>(
    env: &impl Environment,
    service: &str,
    ports: &[P],
    minimum: i64,
) -> Result<Vec<String>> {
    let mut nodes = Vec::new();
    for container in instance_names(env, service) {
        let mut node = get_specific_host(env, service, &container)?;
        for port in ports {
            let number = get_specific_port(env, service, &container, port.as_ref(), None)?;
            node.push(':');
            node.push_str(&number.to_string());
        }
        nodes.push(node);
    }
    if (nodes.len() as i64) < minimum {
        return Err(GuestError::NotEnoughNodes {
            service: service.to_string(),
            found: nodes.len(),
            minimum,
        });
    }
    Ok(nodes)
}

/// Adds `vars` to a map environment (later functions called on it see them).
pub fn update_env<K, V>(
    env: &mut impl Extend<(String, String)>,
    vars: impl IntoIterator<Item = (K, V)>,
) where
    K: Into<String>,
    V: Into<String>,
{
    env.extend(vars.into_iter().map(|(k, v)| (k.into(), v.into())));
}

/// The instance names of `service`: `<S>_INSTANCES` split on commas, as is
/// (an empty value is one instance with an empty name, as in MaestroNG); none
/// when the variable is not set.
pub fn instance_names(env: &impl Environment, service: &str) -> Vec<String> {
    match env.var(&naming::instances_var(service)) {
        Some(list) => list.split(',').map(str::to_string).collect(),
        None => Vec::new(),
    }
}

fn non_empty(env: &impl Environment, name: &str) -> Option<String> {
    env.var(name).filter(|v| !v.is_empty()).map(Cow::into_owned)
}

/// A port variable [`read_port`] could not take: the caller turns it into
/// the [`GuestError`] of its own kind of port.
struct UnusablePort {
    /// The variable looked up.
    var: String,
    /// Its value, when it is set but not a number (`None`: not set, and no
    /// default).
    value: Option<String>,
}

/// A port variable as a number, else `default`.
fn read_port(
    env: &impl Environment,
    var: String,
    default: Option<i64>,
) -> std::result::Result<i64, UnusablePort> {
    match env.var(&var) {
        Some(value) => match parse_python_int(&value) {
            Some(n) => Ok(n),
            None => {
                let value = Some(value.into_owned());
                Err(UnusablePort { var, value })
            }
        },
        None => default.ok_or(UnusablePort { var, value: None }),
    }
}

/// The same functions, on the process environment.
pub mod os {
    use super::*;

    /// [`get_environment_name`](super::get_environment_name) of the process.
    pub fn get_environment_name() -> String {
        super::get_environment_name(&ProcessEnv)
    }

    /// [`get_service_name`](super::get_service_name) of the process.
    pub fn get_service_name() -> Result<String> {
        super::get_service_name(&ProcessEnv)
    }

    /// [`get_container_name`](super::get_container_name) of the process.
    pub fn get_container_name() -> Result<String> {
        super::get_container_name(&ProcessEnv)
    }

    /// [`get_container_host_address`](super::get_container_host_address) of
    /// the process.
    pub fn get_container_host_address(as_ip_address: bool) -> Result<String> {
        super::get_container_host_address(&ProcessEnv, as_ip_address)
    }

    /// [`get_container_internal_address`](super::get_container_internal_address).
    pub fn get_container_internal_address() -> Result<Ipv4Addr> {
        super::get_container_internal_address()
    }

    /// [`get_port`](super::get_port) of the process.
    pub fn get_port(name: &str, default: Option<i64>) -> Result<i64> {
        super::get_port(&ProcessEnv, name, default)
    }

    /// [`get_specific_host`](super::get_specific_host) of the process.
    pub fn get_specific_host(service: &str, container: &str) -> Result<String> {
        super::get_specific_host(&ProcessEnv, service, container)
    }

    /// [`get_specific_port`](super::get_specific_port) of the process.
    pub fn get_specific_port(
        service: &str,
        container: &str,
        port: &str,
        default: Option<i64>,
    ) -> Result<i64> {
        super::get_specific_port(&ProcessEnv, service, container, port, default)
    }

    /// [`get_specific_exposed_port`](super::get_specific_exposed_port) of the
    /// process.
    pub fn get_specific_exposed_port(
        service: &str,
        container: &str,
        port: &str,
        default: Option<i64>,
    ) -> Result<i64> {
        super::get_specific_exposed_port(&ProcessEnv, service, container, port, default)
    }

    /// [`get_node_list`](super::get_node_list) of the process.
    pub fn get_node_list<P: AsRef<str>>(
        service: &str,
        ports: &[P],
        minimum: i64,
    ) -> Result<Vec<String>> {
        super::get_node_list(&ProcessEnv, service, ports, minimum)
    }

    /// Adds `vars` to the process environment. Like every change of the
    /// process environment, call it only while no other thread reads or
    /// changes the environment.
    pub fn update_os_env<K, V>(vars: impl IntoIterator<Item = (K, V)>)
    where
        K: AsRef<str>,
        V: AsRef<str>,
    {
        for (k, v) in vars {
            std::env::set_var(k.as_ref(), v.as_ref());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn zk() -> BTreeMap<String, String> {
        env(&[
            ("MAESTRO_ENVIRONMENT_NAME", "prod"),
            ("SERVICE_NAME", "zk"),
            ("CONTAINER_NAME", "zk-1"),
            ("CONTAINER_HOST_ADDRESS", "192.0.2.1"),
            ("ZK_INSTANCES", "zk-1,zk-2"),
            ("ZK_ZK_1_HOST", "192.0.2.1"),
            ("ZK_ZK_1_CLIENT_PORT", "2181"),
            ("ZK_ZK_1_PEER_PORT", "2888"),
            ("ZK_ZK_1_PEER_INTERNAL_PORT", "12888"),
            ("ZK_ZK_2_HOST", "192.0.2.2"),
            ("ZK_ZK_2_CLIENT_PORT", "2182"),
            ("ZK_ZK_2_PEER_PORT", "1234-1236"),
        ])
    }

    #[test]
    fn names() {
        assert_eq!(get_environment_name(&env(&[])), "local");
        assert_eq!(
            get_environment_name(&env(&[("MAESTRO_ENVIRONMENT_NAME", "")])),
            ""
        );
        assert_eq!(get_environment_name(&zk()), "prod");
        assert_eq!(get_service_name(&zk()).unwrap(), "zk");
        assert_eq!(
            get_service_name(&env(&[("SERVICE_NAME", "")])),
            Err(GuestError::ServiceNameUndefined)
        );
        assert_eq!(get_container_name(&zk()).unwrap(), "zk-1");
        assert_eq!(
            get_container_name(&env(&[])),
            Err(GuestError::ContainerNameUndefined)
        );
    }

    #[test]
    fn host_address() {
        assert_eq!(
            get_container_host_address(&zk(), false).unwrap(),
            "192.0.2.1"
        );
        assert_eq!(
            get_container_host_address(&zk(), true).unwrap(),
            "192.0.2.1"
        );
        let e = env(&[("CONTAINER_HOST_ADDRESS", "127.1")]);
        assert_eq!(get_container_host_address(&e, true).unwrap(), "127.0.0.1");
        assert_eq!(get_container_host_address(&e, false).unwrap(), "127.1");
        for as_ip in [false, true] {
            assert_eq!(
                get_container_host_address(&env(&[]), as_ip),
                Err(GuestError::HostAddressUndefined)
            );
        }
    }

    #[test]
    fn ports() {
        let e = zk();
        assert_eq!(get_port(&e, "peer", None).unwrap(), 12888);
        assert_eq!(get_port(&e, "client", Some(7)).unwrap(), 7);
        assert!(matches!(
            get_port(&e, "client", None),
            Err(GuestError::NoInternalPort { var, value: None, .. }) if var == "ZK_ZK_1_CLIENT_INTERNAL_PORT"
        ));
        assert_eq!(
            get_port(&env(&[("CONTAINER_NAME", "x")]), "peer", Some(1)),
            Err(GuestError::ServiceNameUndefined)
        );
        assert_eq!(
            get_specific_port(&e, "zk", "zk-2", "client", None).unwrap(),
            2182
        );
        assert!(matches!(
            get_specific_port(&e, "zk", "zk-2", "peer", Some(5)),
            Err(GuestError::NoPort { value: Some(v), .. }) if v == "1234-1236"
        ));
        assert_eq!(
            get_specific_port(&e, "zk", "zk-3", "peer", Some(5)).unwrap(),
            5
        );
        assert_eq!(
            get_specific_exposed_port(&e, "zk", "zk-1", "peer", None).unwrap(),
            12888
        );
    }

    #[test]
    fn hosts_and_nodes() {
        let e = zk();
        assert_eq!(get_specific_host(&e, "zk", "zk-2").unwrap(), "192.0.2.2");
        assert!(matches!(
            get_specific_host(&e, "zk", "zk-9"),
            Err(GuestError::NoHost { var, .. }) if var == "ZK_ZK_9_HOST"
        ));
        assert_eq!(
            get_node_list(&e, "zk", &["client"], 2).unwrap(),
            ["192.0.2.1:2181", "192.0.2.2:2182"]
        );
        assert_eq!(
            get_node_list::<&str>(&e, "zk", &[], 1).unwrap(),
            ["192.0.2.1", "192.0.2.2"]
        );
        assert!(matches!(
            get_node_list(&e, "zk", &["client"], 3),
            Err(GuestError::NotEnoughNodes {
                found: 2,
                minimum: 3,
                ..
            })
        ));
        assert!(matches!(
            get_node_list(&e, "zk", &["peer"], 1),
            Err(GuestError::NoPort { .. })
        ));
        assert_eq!(
            get_node_list::<&str>(&e, "kafka", &[], 0).unwrap(),
            Vec::<String>::new()
        );
        assert!(matches!(
            get_node_list::<&str>(&e, "kafka", &[], 1),
            Err(GuestError::NotEnoughNodes { found: 0, .. })
        ));
        // an empty list is one instance with an empty name, as in MaestroNG
        let e = env(&[("X_INSTANCES", ""), ("X__HOST", "h")]);
        assert_eq!(get_node_list::<&str>(&e, "x", &[], 1).unwrap(), ["h"]);
    }

    #[test]
    fn update() {
        let mut e = env(&[]);
        update_env(&mut e, [("SERVICE_NAME", "web")]);
        assert_eq!(get_service_name(&e).unwrap(), "web");
        let mut h: HashMap<String, String> = HashMap::new();
        update_env(&mut h, vec![("A".to_string(), "1".to_string())]);
        assert_eq!(h.var("A").as_deref(), Some("1"));
    }
}
