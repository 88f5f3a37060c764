//! A one-off container (`maestro run`, later the deploy hooks), pure: which
//! instance's configuration it takes, its name, and its creation request —
//! the instance's, as `up` would send it, with the command given, no
//! published host ports, no restart policy, no hostname, no network aliases,
//! addresses or MAC address of the instance's, and labels that say it is a
//! one-off of the service (never an instance, never an orphan).

use maestro_config::{Container, Environment};
use maestro_engine::models::{EndpointSettings, RestartPolicy, RestartPolicyNameEnum};

use crate::decide::plan::CreateRequest;
use crate::labels::{LABEL_INSTANCE, LABEL_ONEOFF, LABEL_SERVICE, LABEL_SPEC_HASH};

/// Why no instance's configuration can be taken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PickError {
    /// The file has no service of that name.
    #[error("there is no service {service} in the environment{}", hint(.instance_of))]
    NoService {
        service: String,
        /// The service, when the name given is one of its instances.
        instance_of: Option<String>,
    },
    /// The service has no instance on the ship asked for.
    #[error(
        "service {service} has no instance on ship {ship}; it has instances on: {}",
        .ships.join(", ")
    )]
    NotOnShip {
        service: String,
        ship: String,
        /// The ships that have an instance of the service.
        ships: Vec<String>,
    },
    /// The service has no instance at all.
    #[error("service {0} has no instance to take the configuration of")]
    NoInstance(String),
}

fn hint(instance_of: &Option<String>) -> String {
    instance_of
        .as_ref()
        .map(|s| format!(" (that is an instance of service {s}; name the service)"))
        .unwrap_or_default()
}

/// The instance of `service` whose configuration a one-off takes: the
/// first (in the file's order) on `ship` when given, else the first.
pub fn pick_instance<'e>(
    env: &'e Environment,
    service: &str,
    ship: Option<&str>,
) -> Result<&'e Container, PickError> {
    if !env.services.contains_key(service) {
        return Err(PickError::NoService {
            service: service.to_owned(),
            instance_of: env.containers.get(service).map(|c| c.service.clone()),
        });
    }
    let mut instances = env.containers.values().filter(|c| c.service == service);
    let Some(ship) = ship else {
        return instances
            .next()
            .ok_or_else(|| PickError::NoInstance(service.to_owned()));
    };
    let all: Vec<&Container> = instances.by_ref().collect();
    if let Some(c) = all.iter().find(|c| c.ship == ship) {
        return Ok(c);
    }
    if all.is_empty() {
        return Err(PickError::NoInstance(service.to_owned()));
    }
    let mut ships: Vec<String> = all.iter().map(|c| c.ship.clone()).collect();
    ships.sort();
    ships.dedup();
    Err(PickError::NotOnShip {
        service: service.to_owned(),
        ship: ship.to_owned(),
        ships,
    })
}

/// `SERVICE-WHAT-XXXXXX` (`web-run-0a1b2c`, `web-hook-…`): a one-off's
/// name, `suffix`'s low 24 bits as six hex digits.
pub fn one_off_name(service: &str, what: &str, suffix: u32) -> String {
    format!("{service}-{what}-{:06x}", suffix & 0x00ff_ffff)
}

/// `request` for the one-off named `name` (its host name follows).
pub fn named(mut request: CreateRequest, name: &str) -> CreateRequest {
    request.body.hostname = hostname(name);
    request
}

/// The request that creates the one-off `name` of `container`'s service,
/// running `command` (with the image's entrypoint, or the file's, as for
/// the instance): everything `up` sends for `container`, its variables
/// rendered (link variables included), but:
///
/// - the command is `command`;
/// - no host port is published (the instance's are in use), the exposed
///   ports stay;
/// - restart policy `no`; its own name as hostname (when it is a valid
///   one), not the instance's;
/// - on its networks, no alias, fixed address or MAC address of the
///   instance's (they are the instance's);
/// - labels: the environment and service stay, the instance and spec hash
///   go, and [`LABEL_ONEOFF`] says what it is;
/// - the secrets the instance receives, from `secrets`, as the instance's.
pub fn one_off_request(
    env: &Environment,
    container: &Container,
    secrets: &crate::observe::secrets::SecretValues,
    name: &str,
    command: &[String],
) -> CreateRequest {
    let mut request = crate::decide::spec::create_request(env, container, secrets);
    request.body = request.with_env(container);
    let body = &mut request.body;
    body.cmd = Some(command.to_vec());
    body.hostname = hostname(name);
    if let Some(host) = body.host_config.as_mut() {
        host.port_bindings = None;
        host.publish_all_ports = None;
        host.restart_policy = Some(RestartPolicy {
            name: Some(RestartPolicyNameEnum::NO),
            maximum_retry_count: None,
        });
        host.auto_remove = None;
    }
    if let Some(endpoints) = body
        .networking_config
        .as_mut()
        .and_then(|n| n.endpoints_config.as_mut())
    {
        endpoints.values_mut().for_each(not_the_instances);
    }
    for (_, endpoint) in &mut request.connect {
        not_the_instances(endpoint);
    }
    let labels = request.body.labels.get_or_insert_with(Default::default);
    labels.remove(LABEL_INSTANCE);
    labels.remove(LABEL_SPEC_HASH);
    labels.insert(LABEL_SERVICE.into(), container.service.clone());
    labels.insert(LABEL_ONEOFF.into(), "true".into());
    request
}

/// The one-off's name as its hostname when it is a valid one (at most 63
/// letters, digits and dashes); else none (the engine gives its id).
fn hostname(name: &str) -> Option<String> {
    let valid = !name.is_empty()
        && name.len() <= 63
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !name.starts_with('-');
    valid.then(|| name.to_owned())
}

/// An endpoint without what belongs to the instance: its aliases (the
/// service's traffic is not the one-off's), fixed address, MAC address.
fn not_the_instances(endpoint: &mut EndpointSettings) {
    endpoint.aliases = None;
    endpoint.ipam_config = None;
    endpoint.mac_address = None;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::labels::LABEL_ENVIRONMENT;

    fn load(yaml: &str) -> Environment {
        let source = maestro_config::Source {
            name: "t.yaml".into(),
            base_dir: ".".into(),
            text: yaml.into(),
        };
        match maestro_config::load(&source, &Default::default()) {
            Ok(env) => env,
            Err(errors) => panic!("{errors:?}"),
        }
    }

    const ENV: &str = r#"
name: demo
ships:
  vm1: {ip: 10.0.0.1}
  vm2: {ip: 10.0.0.2}
  vm3: {ip: 10.0.0.3}
networks: {front: {ipam: {config: [{subnet: 10.9.0.0/16}]}}, back: {}}
services:
  db:
    image: box:1
    ports: {pg: "5432:15432"}
    instances:
      db-1: {ship: vm1}
  web:
    image: box:1
    requires: [db]
    env: {A: 1}
    entrypoint: [/bin/entry]
    networks:
      front: {aliases: [www], ipv4_address: 10.9.0.5}
      back: {aliases: [api]}
    instances:
      web-1:
        ship: vm2
        ports: {http: "80:8080"}
        restart: always
        username: nobody
        workdir: /srv
        volumes: {/data: /data}
        command: sh -c 'serve'
        labels: {team: a}
      web-2: {ship: vm3}
"#;

    fn command() -> Vec<String> {
        ["sh", "-c", "echo hi"].map(String::from).to_vec()
    }

    #[test]
    fn the_request_is_the_instances_with_the_command_and_without_its_ports() {
        let env = load(ENV);
        let c = &env.containers["web-1"];
        let request = one_off_request(&env, c, &Default::default(), "web-run-00abcd", &command());
        let body = &request.body;
        let instance = crate::decide::spec::create_body(&env, c);
        assert_eq!(body.image, instance.image);
        assert_eq!(body.cmd, Some(command()));
        assert_eq!(body.entrypoint, instance.entrypoint);
        assert!(body.entrypoint.is_some());
        assert_eq!(body.user.as_deref(), Some("nobody"));
        assert_eq!(body.working_dir.as_deref(), Some("/srv"));
        assert_eq!(body.hostname.as_deref(), Some("web-run-00abcd"));
        assert_eq!(hostname("a_b"), None);
        let env_list = body.env.clone().unwrap_or_default();
        assert_eq!(env_list, instance.env.clone().unwrap_or_default());
        assert!(env_list.iter().any(|v| v == "A=1"), "{env_list:?}");
        assert!(
            env_list.iter().any(|v| v == "DB_DB_1_HOST=10.0.0.1"),
            "link variables are kept: {env_list:?}"
        );
        let host = body.host_config.as_ref().expect("host config");
        assert_eq!(host.port_bindings, None, "no host port is published");
        assert!(instance
            .host_config
            .as_ref()
            .and_then(|h| h.port_bindings.as_ref())
            .is_some());
        assert_eq!(body.exposed_ports, instance.exposed_ports);
        assert_eq!(
            host.restart_policy.as_ref().and_then(|r| r.name),
            Some(RestartPolicyNameEnum::NO)
        );
        assert_eq!(host.binds, instance.host_config.as_ref().unwrap().binds);
    }

    #[test]
    fn its_labels_say_one_off_of_the_service_not_instance() {
        let env = load(ENV);
        let c = &env.containers["web-1"];
        let request = one_off_request(&env, c, &Default::default(), "web-run-00abcd", &command());
        let labels = request.body.labels.as_ref().expect("labels");
        assert_eq!(labels[LABEL_ENVIRONMENT], "demo");
        assert_eq!(labels[LABEL_SERVICE], "web");
        assert_eq!(labels[LABEL_ONEOFF], "true");
        assert_eq!(labels["team"], "a");
        assert!(!labels.contains_key(LABEL_INSTANCE), "{labels:?}");
        assert!(!labels.contains_key(LABEL_SPEC_HASH), "{labels:?}");
        assert_eq!(request.spec_hash(), None);
    }

    #[test]
    fn it_joins_the_instances_networks_without_its_aliases_or_address() {
        let env = load(ENV);
        let c = &env.containers["web-1"];
        let request = one_off_request(&env, c, &Default::default(), "web-run-00abcd", &command());
        let host = request.body.host_config.as_ref().expect("host config");
        assert_eq!(host.network_mode.as_deref(), Some("front"));
        let endpoints = request
            .body
            .networking_config
            .as_ref()
            .and_then(|n| n.endpoints_config.as_ref())
            .expect("endpoints");
        let front = &endpoints["front"];
        assert_eq!(front.aliases, None);
        assert_eq!(front.ipam_config, None);
        assert_eq!(request.connect.len(), 1);
        assert_eq!(request.connect[0].0, "back");
        assert_eq!(request.connect[0].1.aliases, None);
    }

    #[test]
    fn names_are_the_service_run_and_six_hex_digits() {
        assert_eq!(one_off_name("web", "run", 0xabc), "web-run-000abc");
        assert_eq!(one_off_name("web", "run", 0xffff_ffff), "web-run-ffffff");
    }

    #[test]
    fn the_instance_is_the_first_or_the_first_on_the_ship() {
        let env = load(ENV);
        assert_eq!(pick_instance(&env, "web", None).unwrap().name, "web-1");
        assert_eq!(
            pick_instance(&env, "web", Some("vm3")).unwrap().name,
            "web-2"
        );
        let err = pick_instance(&env, "web", Some("vm1")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "service web has no instance on ship vm1; it has instances on: vm2, vm3"
        );
        let err = pick_instance(&env, "web-1", None).unwrap_err();
        assert!(err.to_string().contains("instance of service web"), "{err}");
        assert!(matches!(
            pick_instance(&env, "nope", None),
            Err(PickError::NoService { .. })
        ));
    }
}
