//! Networks and volumes of a simulated engine: the predefined networks
//! (`bridge`, `host`, `none`), user networks (create, list, inspect,
//! connect, remove) with their IPv4 subnets and the endpoints of the
//! containers attached to them, and volumes (create, list, inspect, remove),
//! named volumes being made on the fly when a container mounts one.
//!
//! A container's attachments live with the container ([`Endpoint`]); which
//! containers a network has is derived from them, as the engine does.
//! Only a running container has an active endpoint (an address): a network
//! whose attached containers are all stopped may be removed, and those
//! containers then fail to start, as on a real engine.

use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{json, Map, Value};

use super::{json_error, stable_hex, strings, ApiError, Container, Engine};
use crate::sim::clock::rfc3339_nanos;

/// The networks every engine has from the start.
pub const PREDEFINED: [&str; 3] = ["bridge", "host", "none"];

/// The subnet of the default bridge.
const BRIDGE_SUBNET: (u32, u8) = (0xac11_0000, 16);

/// An IPv4 subnet of a network.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Subnet {
    base: u32,
    prefix: u8,
    gateway: u32,
    /// As requested (`IPRange`), shown back, not applied.
    ip_range: Option<String>,
}

impl Subnet {
    fn mask(&self) -> u32 {
        if self.prefix == 0 {
            0
        } else {
            u32::MAX << (32 - u32::from(self.prefix))
        }
    }

    fn contains(&self, ip: u32) -> bool {
        ip & self.mask() == self.base
    }

    fn overlaps(&self, other: &Subnet) -> bool {
        let mask = self.mask() & other.mask();
        self.base & mask == other.base & mask
    }

    fn broadcast(&self) -> u32 {
        self.base | !self.mask()
    }

    fn document(&self) -> Value {
        let mut doc = json!({
            "Subnet": format!("{}/{}", ipv4_text(self.base), self.prefix),
            "Gateway": ipv4_text(self.gateway),
        });
        if let (Some(range), Some(map)) = (&self.ip_range, doc.as_object_mut()) {
            map.insert("IPRange".into(), range.clone().into());
        }
        doc
    }
}

/// A network of the engine.
#[derive(Debug, Clone)]
pub(super) struct Network {
    pub(super) id: String,
    pub(super) name: String,
    driver: String,
    created: SystemTime,
    internal: bool,
    attachable: bool,
    ipv6: bool,
    options: Map<String, Value>,
    labels: Map<String, Value>,
    subnets: Vec<Subnet>,
    /// Whether the subnets were given at creation (a fixed address needs it).
    user_subnets: bool,
}

impl Network {
    /// `bridge`, `host` or `none`.
    pub(super) fn predefined(&self) -> bool {
        PREDEFINED.contains(&self.name.as_str())
    }
}

/// A container's attachment to a network (an entry of its
/// `NetworkSettings.Networks`).
#[derive(Debug, Clone)]
pub(super) struct Endpoint {
    /// The network's id when attached (a removed network keeps it).
    pub(super) network_id: String,
    /// The network's name: the key in `NetworkSettings.Networks`.
    pub(super) network: String,
    aliases: Vec<String>,
    /// `IPAMConfig` as requested.
    ipam_config: Value,
    /// The fixed address requested (`IPAMConfig.IPv4Address`).
    fixed_ip: Option<u32>,
    mac: Option<String>,
    driver_opts: Value,
    /// The address while the container runs, on a user network.
    pub(super) ip: Option<u32>,
}

/// A volume of the engine.
#[derive(Debug, Clone)]
pub(super) struct Volume {
    name: String,
    driver: String,
    created: SystemTime,
    /// `null` when none were given.
    labels: Value,
    options: Value,
}

/// The networks an engine starts with.
pub(super) fn predefined_networks(now: SystemTime) -> Vec<Network> {
    PREDEFINED
        .iter()
        .map(|name| {
            let bridge = *name == "bridge";
            Network {
                // The id every engine reported before networks were served.
                id: stable_hex(&format!("network {name}")),
                name: (*name).to_owned(),
                driver: if *name == "none" {
                    "null".into()
                } else {
                    (*name).into()
                },
                created: now,
                internal: false,
                attachable: false,
                ipv6: false,
                options: if bridge {
                    json!({
                        "com.docker.network.bridge.default_bridge": "true",
                        "com.docker.network.bridge.enable_icc": "true",
                        "com.docker.network.bridge.enable_ip_masquerade": "true",
                        "com.docker.network.bridge.host_binding_ipv4": "0.0.0.0",
                        "com.docker.network.bridge.name": "docker0",
                        "com.docker.network.driver.mtu": "1500"
                    })
                    .as_object()
                    .cloned()
                    .unwrap_or_default()
                } else {
                    Map::new()
                },
                labels: Map::new(),
                subnets: if bridge {
                    vec![Subnet {
                        base: BRIDGE_SUBNET.0,
                        prefix: BRIDGE_SUBNET.1,
                        gateway: BRIDGE_SUBNET.0 + 1,
                        ip_range: None,
                    }]
                } else {
                    Vec::new()
                },
                user_subnets: false,
            }
        })
        .collect()
}

fn not_found(name: &str) -> ApiError {
    ApiError::new(404, format!("network {name} not found"))
}

fn no_such_volume(name: &str) -> ApiError {
    ApiError::new(404, format!("get {name}: no such volume"))
}

/// What a network filter's `name` (or a volume's) keeps: Docker matches
/// each value exactly or as a regular expression anywhere in the name.
pub fn name_matches(patterns: &[String], name: &str) -> bool {
    patterns
        .iter()
        .any(|p| p == name || regex_search(p, name) == Some(true))
}

/// Labels against `label` filters (`key` or `key=value`, all must hold).
fn labels_match(filters: &[String], labels: &Map<String, Value>) -> bool {
    filters.iter().all(|f| match f.split_once('=') {
        Some((key, value)) => labels.get(key).and_then(Value::as_str) == Some(value),
        None => labels.contains_key(f.as_str()),
    })
}

/// A boolean filter value as Docker reads one (`true`, `1`, `false`, `0`).
fn filter_bool(key: &str, values: &[String]) -> Result<Option<bool>, ApiError> {
    match values.first().map(|v| v.to_ascii_lowercase()) {
        None => Ok(None),
        Some(v) if v == "true" || v == "1" => Ok(Some(true)),
        Some(v) if v == "false" || v == "0" => Ok(Some(false)),
        Some(v) => Err(ApiError::new(400, format!("invalid filter '{key}={v}'"))),
    }
}

/// The `filters` query parameter: `{"name": ["a"]}` or the old
/// `{"name": {"a": true}}`; only the `accepted` keys.
pub fn filter_map(
    text: &str,
    accepted: &[&str],
) -> Result<BTreeMap<String, Vec<String>>, ApiError> {
    let mut out = BTreeMap::new();
    if text.trim().is_empty() {
        return Ok(out);
    }
    let value: Value =
        serde_json::from_str(text).map_err(|e| ApiError::new(400, json_error(&e)))?;
    let Some(map) = value.as_object() else {
        return Err(ApiError::new(400, "invalid filter"));
    };
    for (key, values) in map {
        if !accepted.contains(&key.as_str()) {
            return Err(ApiError::new(400, format!("invalid filter '{key}'")));
        }
        let list: Vec<String> = match values {
            Value::Array(list) => list
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect(),
            Value::Object(map) => map.keys().cloned().collect(),
            _ => Vec::new(),
        };
        out.insert(key.clone(), list);
    }
    Ok(out)
}

// ------------------------------------------------------- request bodies

/// The JSON kind as Go's decoder names it in its errors.
fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn type_error(value: &Value, field: &str, go_type: &str) -> ApiError {
    ApiError::new(
        400,
        format!(
            "json: cannot unmarshal {} into Go struct field {field} of type {go_type}",
            kind(value)
        ),
    )
}

/// A request body as a JSON object (an empty body is an empty object).
fn object_body(body: &[u8], go_type: &str) -> Result<Map<String, Value>, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    let value: Value =
        serde_json::from_slice(body).map_err(|e| ApiError::new(400, json_error(&e)))?;
    match value {
        Value::Object(map) => Ok(map),
        Value::Null => Ok(Map::new()),
        other => Err(ApiError::new(
            400,
            format!(
                "json: cannot unmarshal {} into Go value of type {go_type}",
                kind(&other)
            ),
        )),
    }
}

/// A string member (absent or null: empty).
fn string_of(map: &Map<String, Value>, key: &str, owner: &str) -> Result<String, ApiError> {
    match map.get(key) {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(other) => Err(type_error(other, &format!("{owner}.{key}"), "string")),
    }
}

fn bool_of(map: &Map<String, Value>, key: &str, owner: &str) -> Result<bool, ApiError> {
    match map.get(key) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(other) => Err(type_error(other, &format!("{owner}.{key}"), "bool")),
    }
}

/// A `map[string]string` member: `None` when absent or null.
fn string_map_of(
    map: &Map<String, Value>,
    key: &str,
    owner: &str,
) -> Result<Option<Map<String, Value>>, ApiError> {
    match map.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(m)) => {
            if let Some(bad) = m.values().find(|v| !v.is_string()) {
                return Err(type_error(bad, &format!("{owner}.{key}"), "string"));
            }
            Ok(Some(m.clone()))
        }
        Some(other) => Err(type_error(
            other,
            &format!("{owner}.{key}"),
            "map[string]string",
        )),
    }
}

fn string_list_of(
    map: &Map<String, Value>,
    key: &str,
    owner: &str,
) -> Result<Vec<String>, ApiError> {
    match map.get(key) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(list)) => list
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_owned)
                    .ok_or_else(|| type_error(v, &format!("{owner}.{key}"), "string"))
            })
            .collect(),
        Some(other) => Err(type_error(other, &format!("{owner}.{key}"), "[]string")),
    }
}

// ------------------------------------------------------------ addresses

pub(super) fn parse_ipv4(text: &str) -> Option<u32> {
    let mut out = 0u32;
    let mut parts = 0;
    for part in text.split('.') {
        if part.is_empty() || part.len() > 3 || !part.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let octet: u8 = part.parse().ok()?;
        out = out << 8 | u32::from(octet);
        parts += 1;
    }
    (parts == 4).then_some(out)
}

pub(super) fn ipv4_text(ip: u32) -> String {
    let [a, b, c, d] = ip.to_be_bytes();
    format!("{a}.{b}.{c}.{d}")
}

/// `a.b.c.d/n` as (base address, prefix), the base masked; `None` if not one.
fn parse_cidr(text: &str) -> Option<(u32, u8)> {
    let (ip, prefix) = text.split_once('/')?;
    let ip = parse_ipv4(ip)?;
    if prefix.is_empty() || !prefix.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let prefix: u8 = prefix.parse().ok().filter(|p| *p <= 32)?;
    let mask = if prefix == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(prefix))
    };
    Some((ip & mask, prefix))
}

/// The MAC address Docker derived from an IPv4 address (`02:42:` + address).
pub(super) fn mac_of(ip: u32) -> String {
    let [a, b, c, d] = ip.to_be_bytes();
    format!("02:42:{a:02x}:{b:02x}:{c:02x}:{d:02x}")
}

/// The subnets Docker picks from for a network created without one.
fn default_pools() -> impl Iterator<Item = (u32, u8)> {
    let big = (18u32..=31).map(|b| (0xac00_0000 | b << 16, 16u8));
    let small = (0u32..16).map(|i| (0xc0a8_0000 | (i * 16) << 8, 20u8));
    big.chain(small)
}

// --------------------------------------------------------------- engine

impl Engine {
    /// The network `name`: full id, name, or unique id prefix (404 otherwise).
    pub(super) fn find_network(&self, name: &str) -> Result<&Network, ApiError> {
        if let Some(n) = self.networks.iter().find(|n| n.id == name) {
            return Ok(n);
        }
        if let Some(n) = self.networks.iter().find(|n| n.name == name) {
            return Ok(n);
        }
        if !name.is_empty() && name.bytes().all(|b| b.is_ascii_hexdigit()) {
            let found: Vec<&Network> = self
                .networks
                .iter()
                .filter(|n| n.id.starts_with(name))
                .collect();
            match found.as_slice() {
                [] => {}
                [one] => return Ok(one),
                many => {
                    return Err(ApiError::new(
                        404,
                        format!(
                            "network {name} is ambiguous ({} matches found based on ID prefix)",
                            many.len()
                        ),
                    ))
                }
            }
        }
        Err(not_found(name))
    }

    /// The network an endpoint is on, if it still exists.
    pub(super) fn network_of(&self, endpoint: &Endpoint) -> Option<&Network> {
        self.networks.iter().find(|n| n.id == endpoint.network_id)
    }

    /// Whether the endpoint is on a user network (addresses from its subnet).
    pub(super) fn on_user_network(&self, endpoint: &Endpoint) -> Option<&Network> {
        self.network_of(endpoint).filter(|n| !n.predefined())
    }

    /// An endpoint on `network` from an `EndpointSettings` document.
    pub(super) fn endpoint(
        &self,
        network: &Network,
        settings: Option<&Value>,
    ) -> Result<Endpoint, ApiError> {
        let empty = Map::new();
        let settings = match settings {
            None | Some(Value::Null) => &empty,
            Some(Value::Object(map)) => map,
            Some(other) => {
                return Err(type_error(
                    other,
                    "NetworkingConfig.EndpointsConfig",
                    "network.EndpointSettings",
                ))
            }
        };
        let owner = "EndpointSettings";
        let aliases = string_list_of(settings, "Aliases", owner)?;
        let mac = Some(string_of(settings, "MacAddress", owner)?).filter(|m| !m.is_empty());
        let ipam_config = settings.get("IPAMConfig").cloned().unwrap_or(Value::Null);
        let fixed = match &ipam_config {
            Value::Null => String::new(),
            Value::Object(map) => string_of(map, "IPv4Address", "EndpointIPAMConfig")?,
            other => {
                return Err(type_error(
                    other,
                    "EndpointSettings.IPAMConfig",
                    "EndpointIPAMConfig",
                ))
            }
        };
        let fixed_ip = if fixed.is_empty() {
            None
        } else {
            let ip = parse_ipv4(&fixed)
                .ok_or_else(|| ApiError::new(400, format!("invalid IPv4 address: {fixed}")))?;
            if network.predefined() || !network.user_subnets {
                return Err(ApiError::new(
                    400,
                    "user specified IP address is supported only when connecting to networks with user configured subnets",
                ));
            }
            if !network.subnets.iter().any(|s| s.contains(ip)) {
                return Err(ApiError::new(
                    400,
                    format!("no configured subnet or ip-range contain the IP address {fixed}"),
                ));
            }
            Some(ip)
        };
        Ok(Endpoint {
            network_id: network.id.clone(),
            network: network.name.clone(),
            aliases,
            ipam_config,
            fixed_ip,
            mac,
            driver_opts: settings.get("DriverOpts").cloned().unwrap_or(Value::Null),
            ip: None,
        })
    }

    /// The endpoints of a container being created with network mode `mode`
    /// and `NetworkingConfig` `networking` (the mode's network first).
    pub(super) fn endpoints_at_create(
        &self,
        mode: &str,
        networking: Option<&Value>,
    ) -> Result<Vec<Endpoint>, ApiError> {
        let configs = match networking {
            None | Some(Value::Null) => None,
            Some(Value::Object(map)) => match map.get("EndpointsConfig") {
                None | Some(Value::Null) => None,
                Some(Value::Object(configs)) => Some(configs),
                Some(other) => {
                    return Err(type_error(
                        other,
                        "NetworkingConfig.EndpointsConfig",
                        "map[string]*network.EndpointSettings",
                    ))
                }
            },
            Some(other) => {
                return Err(type_error(
                    other,
                    "NetworkingConfig",
                    "network.NetworkingConfig",
                ))
            }
        };
        let empty = Map::new();
        let configs = configs.unwrap_or(&empty);
        let mut endpoints = Vec::new();
        let shared = mode.starts_with("container:");
        let primary_name = if mode == "default" { "bridge" } else { mode };
        if shared {
            // No network of its own: shown under the mode, as before.
            endpoints.push(Endpoint {
                network_id: stable_hex(&format!("network {mode}")),
                network: mode.to_owned(),
                aliases: Vec::new(),
                ipam_config: Value::Null,
                fixed_ip: None,
                mac: None,
                driver_opts: Value::Null,
                ip: None,
            });
        } else {
            let network = self.find_network(primary_name)?;
            let settings = configs
                .get(mode)
                .or_else(|| configs.get(primary_name))
                .or_else(|| configs.get(&network.name))
                .or_else(|| configs.get(&network.id));
            endpoints.push(self.endpoint(network, settings)?);
        }
        let primary_id = endpoints[0].network_id.clone();
        for (key, settings) in configs {
            if key == mode || key == primary_name {
                continue;
            }
            let network = self.find_network(key)?;
            if network.id == primary_id || endpoints.iter().any(|e| e.network_id == network.id) {
                continue;
            }
            if shared || matches!(primary_name, "host" | "none") || network.name == "none" {
                return Err(ApiError::new(
                    400,
                    "container sharing network namespace with another container or host cannot be connected to any other network",
                ));
            }
            endpoints.push(self.endpoint(network, Some(settings))?);
        }
        Ok(endpoints)
    }

    /// Gives each user-network endpoint of container `id` an address (at
    /// its start); `Err` when one of its networks is gone or full.
    pub(super) fn assign_addresses(&mut self, id: &str) -> Result<(), ApiError> {
        let Some(c) = self.containers.get(id) else {
            return Ok(());
        };
        let mut addresses = Vec::new();
        for (i, endpoint) in c.endpoints.iter().enumerate() {
            if endpoint.network.starts_with("container:") {
                continue;
            }
            let network = self
                .network_of(endpoint)
                .or_else(|| self.networks.iter().find(|n| n.name == endpoint.network))
                .ok_or_else(|| not_found(&endpoint.network))?;
            if network.predefined() {
                continue;
            }
            let ip = match endpoint.fixed_ip {
                Some(ip) => ip,
                None => self.free_address(network, id)?,
            };
            addresses.push((i, network.id.clone(), ip));
        }
        if let Some(c) = self.containers.get_mut(id) {
            for (i, network_id, ip) in addresses {
                if let Some(endpoint) = c.endpoints.get_mut(i) {
                    // A network re-made under the same name is joined anew.
                    endpoint.network_id = network_id;
                    endpoint.ip = Some(ip);
                }
            }
        }
        Ok(())
    }

    /// The lowest free address of `network` (not its gateway, nor one a
    /// running container other than `except` holds there).
    fn free_address(&self, network: &Network, except: &str) -> Result<u32, ApiError> {
        let used: HashSet<u32> = self
            .containers
            .values()
            .filter(|c| c.running() && c.id != except)
            .flat_map(|c| c.endpoints.iter())
            .filter(|e| e.network_id == network.id)
            .filter_map(|e| e.ip)
            .collect();
        for subnet in &network.subnets {
            let first = subnet.base.saturating_add(1);
            let last = subnet.broadcast().saturating_sub(1);
            if let Some(ip) = (first..=last).find(|ip| *ip != subnet.gateway && !used.contains(ip))
            {
                return Ok(ip);
            }
        }
        Err(ApiError::new(
            500,
            format!(
                "no available IPv4 addresses on this network's address pools: {} ({})",
                network.name, network.id
            ),
        ))
    }

    /// One entry of `NetworkSettings.Networks` of container `c`.
    pub(super) fn endpoint_document(&self, c: &Container, endpoint: &Endpoint) -> Value {
        let running = c.running();
        let user = self.on_user_network(endpoint);
        let (ip, gateway, prefix, mac, endpoint_id, dns) = match user {
            Some(network) => {
                let ip = endpoint.ip.filter(|_| running);
                let subnet = ip.and_then(|ip| network.subnets.iter().find(|s| s.contains(ip)));
                let mut dns = vec![Value::from(c.name.clone())];
                dns.extend(endpoint.aliases.iter().map(|a| Value::from(a.clone())));
                dns.push(Value::from(c.id.get(..12).unwrap_or(&c.id)));
                match ip {
                    Some(ip) => (
                        ipv4_text(ip),
                        subnet.map_or_else(String::new, |s| ipv4_text(s.gateway)),
                        subnet.map_or(0, |s| s.prefix),
                        endpoint.mac.clone().unwrap_or_else(|| mac_of(ip)),
                        stable_hex(&format!("endpoint {} {} {}", c.id, network.id, c.run)),
                        Value::Array(dns),
                    ),
                    None => (
                        String::new(),
                        String::new(),
                        0,
                        String::new(),
                        String::new(),
                        Value::Array(dns),
                    ),
                }
            }
            None => {
                // The predefined networks (and a removed one) show what the
                // single bridge always showed.
                let (ip, gateway, prefix, mac) = legacy_address(c);
                (ip, gateway, prefix, mac, String::new(), Value::Null)
            }
        };
        json!({
            "IPAMConfig": endpoint.ipam_config,
            "Links": null,
            "Aliases": if endpoint.aliases.is_empty() { Value::Null } else { json!(endpoint.aliases) },
            "MacAddress": mac,
            "NetworkID": endpoint.network_id,
            "EndpointID": endpoint_id,
            "Gateway": gateway,
            "IPAddress": ip,
            "IPPrefixLen": prefix,
            "IPv6Gateway": "",
            "GlobalIPv6Address": "",
            "GlobalIPv6PrefixLen": 0,
            "DriverOpts": endpoint.driver_opts,
            "DNSNames": dns,
        })
    }

    // ------------------------------------------------------------ networks

    /// `POST /networks/create`: `{"Id", "Warning"}` (201).
    pub fn network_create(&mut self, body: &[u8], now: SystemTime) -> Result<Value, ApiError> {
        let owner = "CreateRequest";
        let request = object_body(body, "network.CreateRequest")?;
        let name = string_of(&request, "Name", owner)?;
        if name.is_empty() {
            return Err(ApiError::new(400, "invalid name: "));
        }
        if PREDEFINED.contains(&name.as_str()) {
            return Err(ApiError::new(
                403,
                format!("{name} is a pre-defined network and cannot be created"),
            ));
        }
        if self.networks.iter().any(|n| n.name == name) {
            return Err(ApiError::new(
                409,
                format!("network with name {name} already exists"),
            ));
        }
        let driver = Some(string_of(&request, "Driver", owner)?)
            .filter(|d| !d.is_empty())
            .unwrap_or_else(|| "bridge".into());
        if !matches!(driver.as_str(), "bridge" | "macvlan" | "ipvlan") {
            return Err(ApiError::new(
                404,
                format!("could not find plugin {driver} in v1 plugin registry: plugin not found"),
            ));
        }
        let labels = string_map_of(&request, "Labels", owner)?.unwrap_or_default();
        let options = string_map_of(&request, "Options", owner)?.unwrap_or_default();
        let mut subnets = Vec::new();
        match request.get("IPAM") {
            None | Some(Value::Null) => {}
            Some(Value::Object(ipam)) => match ipam.get("Config") {
                None | Some(Value::Null) => {}
                Some(Value::Array(configs)) => {
                    for config in configs {
                        let Some(config) = config.as_object() else {
                            return Err(type_error(config, "IPAM.Config", "network.IPAMConfig"));
                        };
                        let text = string_of(config, "Subnet", "IPAMConfig")?;
                        if text.is_empty() {
                            continue;
                        }
                        let (base, prefix) = parse_cidr(&text).ok_or_else(|| {
                            ApiError::new(400, format!("invalid CIDR address: {text}"))
                        })?;
                        let gateway_text = string_of(config, "Gateway", "IPAMConfig")?;
                        let gateway = if gateway_text.is_empty() {
                            base.saturating_add(1)
                        } else {
                            parse_ipv4(&gateway_text).ok_or_else(|| {
                                ApiError::new(
                                    400,
                                    format!("invalid gateway address {gateway_text}"),
                                )
                            })?
                        };
                        let range = string_of(config, "IPRange", "IPAMConfig")?;
                        subnets.push(Subnet {
                            base,
                            prefix,
                            gateway,
                            ip_range: Some(range).filter(|r| !r.is_empty()),
                        });
                    }
                }
                Some(other) => {
                    return Err(type_error(other, "IPAM.Config", "[]network.IPAMConfig"))
                }
            },
            Some(other) => return Err(type_error(other, "CreateRequest.IPAM", "network.IPAM")),
        }
        let user_subnets = !subnets.is_empty();
        let taken: Vec<&Subnet> = self.networks.iter().flat_map(|n| &n.subnets).collect();
        if subnets.iter().any(|s| taken.iter().any(|t| t.overlaps(s))) {
            return Err(ApiError::new(
                403,
                "invalid pool request: Pool overlaps with other one on this address space",
            ));
        }
        if subnets.is_empty() {
            let pool = default_pools()
                .map(|(base, prefix)| Subnet {
                    base,
                    prefix,
                    gateway: base + 1,
                    ip_range: None,
                })
                .find(|s| !taken.iter().any(|t| t.overlaps(s)))
                .ok_or_else(|| {
                    ApiError::new(
                        400,
                        "all predefined address pools have been fully subnetted",
                    )
                })?;
            subnets.push(pool);
        }
        let id = self.ids.hex64();
        self.networks.push(Network {
            id: id.clone(),
            name,
            driver,
            created: now,
            internal: bool_of(&request, "Internal", owner)?,
            attachable: bool_of(&request, "Attachable", owner)?,
            ipv6: bool_of(&request, "EnableIPv6", owner)?,
            options,
            labels,
            subnets,
            user_subnets,
        });
        self.changed();
        Ok(json!({"Id": id, "Warning": ""}))
    }

    /// A network's document; `containers`: with its active endpoints (an
    /// inspect), else `{}` (a list, since API 1.28).
    fn network_document(&self, network: &Network, containers: bool) -> Value {
        let mut attached = Map::new();
        if containers {
            let mut list: Vec<&Container> =
                self.containers.values().filter(|c| c.running()).collect();
            list.sort_by(|a, b| a.id.cmp(&b.id));
            for c in list {
                for endpoint in c.endpoints.iter().filter(|e| e.network_id == network.id) {
                    let doc = self.endpoint_document(c, endpoint);
                    let ip = doc["IPAddress"].as_str().unwrap_or("");
                    attached.insert(
                        c.id.clone(),
                        json!({
                            "Name": c.name,
                            "EndpointID": doc["EndpointID"],
                            "MacAddress": doc["MacAddress"],
                            "IPv4Address": if ip.is_empty() { String::new() } else { format!("{ip}/{}", doc["IPPrefixLen"]) },
                            "IPv6Address": "",
                        }),
                    );
                }
            }
        }
        json!({
            "Name": network.name,
            "Id": network.id,
            "Created": rfc3339_nanos(network.created),
            "Scope": "local",
            "Driver": network.driver,
            "EnableIPv6": network.ipv6,
            "IPAM": {
                "Driver": "default",
                "Options": if network.predefined() { Value::Null } else { json!({}) },
                "Config": network.subnets.iter().map(Subnet::document).collect::<Vec<_>>(),
            },
            "Internal": network.internal,
            "Attachable": network.attachable,
            "Ingress": false,
            "ConfigFrom": {"Network": ""},
            "ConfigOnly": false,
            "Containers": attached,
            "Options": network.options,
            "Labels": network.labels,
        })
    }

    /// `GET /networks?filters=…`.
    pub fn network_list(&mut self, filters: &str, now: SystemTime) -> Result<Value, ApiError> {
        self.settle(now);
        let filters = filter_map(
            filters,
            &["dangling", "driver", "id", "label", "name", "scope", "type"],
        )?;
        let get = |key: &str| filters.get(key).map(Vec::as_slice).unwrap_or(&[]);
        for kind in get("type") {
            if kind != "custom" && kind != "builtin" {
                return Err(ApiError::new(
                    400,
                    format!("invalid filter: 'type'='{kind}'"),
                ));
            }
        }
        let dangling = filter_bool("dangling", get("dangling"))?;
        // Every network here is of the local scope.
        let local = get("scope").is_empty() || get("scope").iter().any(|s| s == "local");
        let used: HashSet<&str> = self
            .containers
            .values()
            .flat_map(|c| c.endpoints.iter().map(|e| e.network_id.as_str()))
            .collect();
        let mut list: Vec<&Network> = self
            .networks
            .iter()
            .filter(|n| get("name").is_empty() || name_matches(get("name"), &n.name))
            .filter(|n| get("id").is_empty() || name_matches(get("id"), &n.id))
            .filter(|n| get("driver").is_empty() || get("driver").contains(&n.driver))
            .filter(|_| local)
            .filter(|n| labels_match(get("label"), &n.labels))
            .filter(|n| {
                get("type").is_empty()
                    || get("type")
                        .iter()
                        .any(|t| (t == "builtin") == n.predefined())
            })
            .filter(|n| {
                dangling.is_none_or(|d| d == (!n.predefined() && !used.contains(n.id.as_str())))
            })
            .collect();
        list.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(Value::Array(
            list.into_iter()
                .map(|n| self.network_document(n, false))
                .collect(),
        ))
    }

    /// `GET /networks/{id}`.
    pub fn network_inspect(&mut self, name: &str, now: SystemTime) -> Result<Value, ApiError> {
        self.settle(now);
        let network = self.find_network(name)?;
        Ok(self.network_document(network, true))
    }

    /// `POST /networks/{id}/connect` with `{"Container", "EndpointConfig"}`.
    pub fn network_connect(
        &mut self,
        name: &str,
        body: &[u8],
        now: SystemTime,
    ) -> Result<(), ApiError> {
        let request = object_body(body, "network.ConnectOptions")?;
        let container = string_of(&request, "Container", "ConnectOptions")?;
        if container.is_empty() {
            return Err(ApiError::new(
                400,
                "invalid container name or ID: value is empty",
            ));
        }
        let id = self.settled(&container, now)?;
        let network = self.find_network(name)?;
        let Some(c) = self.containers.get(&id) else {
            return Err(ApiError::no_such_container(&container));
        };
        let mode = c.host_config["NetworkMode"].as_str().unwrap_or("bridge");
        if network.name == "host" || mode == "host" {
            return Err(ApiError::new(
                400,
                "container cannot be disconnected from host network or connected to host network",
            ));
        }
        if network.name == "none" || mode == "none" {
            return Err(ApiError::new(
                400,
                "container cannot be connected to multiple networks with one of the networks in private (none) mode",
            ));
        }
        if mode.starts_with("container:") {
            return Err(ApiError::new(
                400,
                "container sharing network namespace with another container or host cannot be connected to any other network",
            ));
        }
        if c.endpoints
            .iter()
            .any(|e| e.network_id == network.id || e.network == network.name)
        {
            return Err(ApiError::new(
                403,
                format!(
                    "endpoint with name {} already exists in network {}",
                    c.name, network.name
                ),
            ));
        }
        let endpoint = self.endpoint(network, request.get("EndpointConfig"))?;
        let network = network.clone();
        let running = c.running();
        let ip = match (running, network.predefined(), endpoint.fixed_ip) {
            (true, false, Some(ip)) => Some(ip),
            (true, false, None) => Some(self.free_address(&network, &id)?),
            _ => None,
        };
        if let Some(c) = self.containers.get_mut(&id) {
            c.endpoints.push(Endpoint { ip, ..endpoint });
        }
        self.changed();
        Ok(())
    }

    /// `DELETE /networks/{id}`.
    pub fn network_remove(&mut self, name: &str, now: SystemTime) -> Result<(), ApiError> {
        self.settle(now);
        let network = self.find_network(name)?;
        if network.predefined() {
            return Err(ApiError::new(
                403,
                format!(
                    "{} is a pre-defined network and cannot be removed",
                    network.name
                ),
            ));
        }
        let active = self
            .containers
            .values()
            .any(|c| c.running() && c.endpoints.iter().any(|e| e.network_id == network.id));
        if active {
            return Err(ApiError::new(
                403,
                format!(
                    "error while removing network: network {} id {} has active endpoints",
                    network.name, network.id
                ),
            ));
        }
        let id = network.id.clone();
        self.networks.retain(|n| n.id != id);
        self.changed();
        Ok(())
    }

    // ------------------------------------------------------------- volumes

    fn volume_document(&self, volume: &Volume) -> Value {
        json!({
            "CreatedAt": rfc3339_nanos(whole_seconds(volume.created)),
            "Driver": volume.driver,
            "Labels": volume.labels,
            "Mountpoint": format!("/var/lib/docker/volumes/{}/_data", volume.name),
            "Name": volume.name,
            "Options": volume.options,
            "Scope": "local",
        })
    }

    /// The ids of the containers (any state) that mount volume `name`.
    fn volume_users(&self, name: &str) -> Vec<String> {
        let mut users: Vec<&Container> = self
            .containers
            .values()
            .filter(|c| {
                c.mounts
                    .iter()
                    .any(|m| m["Type"] == "volume" && m["Name"].as_str() == Some(name))
            })
            .collect();
        users.sort_by(|a, b| a.created.cmp(&b.created).then(a.id.cmp(&b.id)));
        users.into_iter().map(|c| c.id.clone()).collect()
    }

    /// Makes the local volume `name` unless it exists (a container's named
    /// volume); `Err` for a name a local volume cannot have.
    pub(super) fn ensure_volume(&mut self, name: &str, now: SystemTime) -> Result<(), ApiError> {
        if self.volumes.contains_key(name) {
            return Ok(());
        }
        check_volume_name(name)?;
        self.volumes.insert(
            name.to_owned(),
            Volume {
                name: name.to_owned(),
                driver: "local".into(),
                created: now,
                labels: Value::Null,
                options: Value::Null,
            },
        );
        self.changed();
        Ok(())
    }

    /// `POST /volumes/create`: the volume (201), the existing one when the
    /// name is taken by a volume of the same driver.
    pub fn volume_create(&mut self, body: &[u8], now: SystemTime) -> Result<Value, ApiError> {
        let owner = "CreateOptions";
        let request = object_body(body, "volume.CreateOptions")?;
        let mut name = string_of(&request, "Name", owner)?;
        let driver = Some(string_of(&request, "Driver", owner)?)
            .filter(|d| !d.is_empty())
            .unwrap_or_else(|| "local".into());
        let labels = string_map_of(&request, "Labels", owner)?;
        let options = string_map_of(&request, "DriverOpts", owner)?;
        if driver != "local" {
            return Err(ApiError::new(
                404,
                format!("error looking up volume plugin {driver}: plugin \"{driver}\" not found"),
            ));
        }
        if name.is_empty() {
            name = self.ids.hex64();
        }
        if let Some(existing) = self.volumes.get(&name) {
            if existing.driver != driver {
                return Err(ApiError::new(
                    409,
                    format!("create {name}: volume name must be unique"),
                ));
            }
            return Ok(self.volume_document(existing));
        }
        check_volume_name(&name)?;
        let volume = Volume {
            name: name.clone(),
            driver,
            created: now,
            labels: labels.map_or(Value::Null, Value::Object),
            options: options.map_or(Value::Null, Value::Object),
        };
        let doc = self.volume_document(&volume);
        self.volumes.insert(name, volume);
        self.changed();
        Ok(doc)
    }

    /// `GET /volumes?filters=…`: `{"Volumes": […], "Warnings": []}`.
    pub fn volume_list(&mut self, filters: &str, now: SystemTime) -> Result<Value, ApiError> {
        self.settle(now);
        let filters = filter_map(filters, &["dangling", "driver", "label", "label!", "name"])?;
        let get = |key: &str| filters.get(key).map(Vec::as_slice).unwrap_or(&[]);
        let dangling = filter_bool("dangling", get("dangling"))?;
        let used: HashSet<&str> = self
            .containers
            .values()
            .flat_map(|c| c.mounts.iter())
            .filter(|m| m["Type"] == "volume")
            .filter_map(|m| m["Name"].as_str())
            .collect();
        let empty = Map::new();
        let list: Vec<Value> = self
            .volumes
            .values()
            .filter(|v| get("name").is_empty() || name_matches(get("name"), &v.name))
            .filter(|v| get("driver").is_empty() || get("driver").contains(&v.driver))
            .filter(|v| labels_match(get("label"), v.labels.as_object().unwrap_or(&empty)))
            .filter(|v| {
                get("label!").is_empty()
                    || !labels_match(get("label!"), v.labels.as_object().unwrap_or(&empty))
            })
            .filter(|v| dangling.is_none_or(|d| d != used.contains(v.name.as_str())))
            .map(|v| self.volume_document(v))
            .collect();
        Ok(json!({"Volumes": list, "Warnings": []}))
    }

    /// `GET /volumes/{name}`.
    pub fn volume_inspect(&self, name: &str) -> Result<Value, ApiError> {
        self.volumes
            .get(name)
            .map(|v| self.volume_document(v))
            .ok_or_else(|| no_such_volume(name))
    }

    /// `DELETE /volumes/{name}?force=…` (`force`: a missing volume is no error).
    pub fn volume_remove(
        &mut self,
        name: &str,
        force: bool,
        now: SystemTime,
    ) -> Result<(), ApiError> {
        self.settle(now);
        if !self.volumes.contains_key(name) {
            return if force {
                Ok(())
            } else {
                Err(no_such_volume(name))
            };
        }
        let users = self.volume_users(name);
        if !users.is_empty() {
            return Err(ApiError::new(
                409,
                format!("remove {name}: volume is in use - [{}]", users.join(", ")),
            ));
        }
        self.volumes.remove(name);
        self.changed();
        Ok(())
    }
}

/// A local volume's name: `[a-zA-Z0-9][a-zA-Z0-9_.-]+`.
pub(super) fn check_volume_name(name: &str) -> Result<(), ApiError> {
    if super::valid_name(name) {
        return Ok(());
    }
    Err(ApiError::new(
        400,
        format!(
            "create {name}: \"{name}\" includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path"
        ),
    ))
}

fn whole_seconds(at: SystemTime) -> SystemTime {
    let secs = at.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    UNIX_EPOCH + Duration::from_secs(secs)
}

/// The address a container shows on a predefined network: the one of the
/// single bridge (`172.17.x.y`) while it runs.
pub(super) fn legacy_address(c: &Container) -> (String, String, u8, String) {
    if !c.running() {
        return (String::new(), String::new(), 0, String::new());
    }
    let mac = {
        let mut parts = c.ip.split('.').skip(2);
        let a: u8 = parts.next().and_then(|x| x.parse().ok()).unwrap_or(0);
        let b: u8 = parts.next().and_then(|x| x.parse().ok()).unwrap_or(0);
        format!("02:42:ac:11:{a:02x}:{b:02x}")
    };
    (
        c.ip.clone(),
        ipv4_text(BRIDGE_SUBNET.0 + 1),
        BRIDGE_SUBNET.1,
        mac,
    )
}

/// Which mounts of a container a `volume` filter value names (a volume's
/// name, a bind's source, or a destination).
pub(super) fn mounts_volume(c: &Container, value: &str) -> bool {
    c.mounts.iter().any(|m| {
        m["Destination"].as_str() == Some(value)
            || match m["Name"].as_str() {
                Some(name) if !name.is_empty() => name == value,
                _ => m["Source"].as_str() == Some(value),
            }
    })
}

/// Whether a container is on the network a `network` filter value names
/// (its name, or a prefix of its id).
pub(super) fn on_network(c: &Container, value: &str) -> bool {
    c.endpoints
        .iter()
        .any(|e| e.network == value || (!value.is_empty() && e.network_id.starts_with(value)))
}

/// Named volumes a container's `Binds` and `Mounts` use.
pub(super) fn named_volumes(host_config: &Value) -> Vec<String> {
    let mut out = Vec::new();
    for bind in strings(&host_config["Binds"]) {
        let parts: Vec<&str> = bind.split(':').collect();
        if let [source, _, ..] = parts.as_slice() {
            if !source.starts_with('/') && !source.is_empty() {
                out.push((*source).to_owned());
            }
        }
    }
    for mount in host_config["Mounts"].as_array().into_iter().flatten() {
        if mount["Type"] == "volume" {
            if let Some(source) = mount["Source"].as_str().filter(|s| !s.is_empty()) {
                out.push(source.to_owned());
            }
        }
    }
    out
}

// ------------------------------------------------------ regular expressions

/// One element of a pattern: what one character may be.
#[derive(Debug, Clone)]
enum Atom {
    Any,
    Char(char),
    /// `[…]`: ranges, negated or not.
    Class(bool, Vec<(char, char)>),
}

impl Atom {
    fn matches(&self, ch: char) -> bool {
        match self {
            Atom::Any => ch != '\n',
            Atom::Char(c) => *c == ch,
            Atom::Class(negated, ranges) => {
                ranges.iter().any(|(lo, hi)| (*lo..=*hi).contains(&ch)) != *negated
            }
        }
    }
}

/// An atom with its repetition (`*`, `+`, `?`, or once).
#[derive(Debug, Clone)]
struct Piece {
    atom: Atom,
    min: usize,
    max: Option<usize>,
}

/// A pattern: anchors and pieces.
struct Pattern {
    start: bool,
    end: bool,
    pieces: Vec<Piece>,
}

fn class_escape(ch: char) -> Option<Atom> {
    let digits = vec![('0', '9')];
    let word = vec![('0', '9'), ('a', 'z'), ('A', 'Z'), ('_', '_')];
    let space = vec![(' ', ' '), ('\t', '\r')];
    Some(match ch {
        'd' => Atom::Class(false, digits),
        'D' => Atom::Class(true, digits),
        'w' => Atom::Class(false, word),
        'W' => Atom::Class(true, word),
        's' => Atom::Class(false, space),
        'S' => Atom::Class(true, space),
        _ => return None,
    })
}

/// The part of Go's regular expressions that name filters use: literals,
/// `.`, escapes, `[…]` classes, `*` `+` `?`, `^` and `$` anchors. `None`
/// for anything else (groups, alternation, counted repetition).
fn compile(pattern: &str) -> Option<Pattern> {
    let chars: Vec<char> = pattern.chars().collect();
    let mut i = 0;
    let start = chars.first() == Some(&'^');
    if start {
        i = 1;
    }
    let mut end = false;
    let mut pieces: Vec<Piece> = Vec::new();
    while i < chars.len() {
        let ch = chars[i];
        i += 1;
        let atom = match ch {
            '$' if i == chars.len() => {
                end = true;
                break;
            }
            '.' => Atom::Any,
            '\\' => {
                let next = *chars.get(i)?;
                i += 1;
                if next.is_ascii_alphanumeric() {
                    class_escape(next)?
                } else {
                    Atom::Char(next)
                }
            }
            '[' => {
                let negated = chars.get(i) == Some(&'^');
                if negated {
                    i += 1;
                }
                let mut ranges = Vec::new();
                let mut first = true;
                loop {
                    let c = *chars.get(i)?;
                    i += 1;
                    if c == ']' && !first {
                        break;
                    }
                    first = false;
                    let lo = if c == '\\' {
                        let e = *chars.get(i)?;
                        i += 1;
                        if e.is_ascii_alphanumeric() {
                            return None;
                        }
                        e
                    } else {
                        c
                    };
                    if chars.get(i) == Some(&'-') && chars.get(i + 1).is_some_and(|c| *c != ']') {
                        let hi = *chars.get(i + 1)?;
                        i += 2;
                        if hi < lo {
                            return None;
                        }
                        ranges.push((lo, hi));
                    } else {
                        ranges.push((lo, lo));
                    }
                }
                Atom::Class(negated, ranges)
            }
            '*' | '+' | '?' | '(' | ')' | '|' | '{' | '}' | '^' | '$' => return None,
            other => Atom::Char(other),
        };
        let (min, max) = match chars.get(i) {
            Some('*') => (0, None),
            Some('+') => (1, None),
            Some('?') => (0, Some(1)),
            _ => (1, Some(1)),
        };
        if max != Some(1) || min == 0 {
            i += 1;
        }
        pieces.push(Piece { atom, min, max });
    }
    Some(Pattern { start, end, pieces })
}

fn match_here(pieces: &[Piece], text: &[char], end: bool) -> bool {
    let Some((piece, rest)) = pieces.split_first() else {
        return !end || text.is_empty();
    };
    let mut n = 0;
    while n < text.len() && piece.max.is_none_or(|m| n < m) && piece.atom.matches(text[n]) {
        n += 1;
    }
    (piece.min..=n)
        .rev()
        .any(|k| match_here(rest, &text[k..], end))
}

/// Whether `pattern` matches anywhere in `text` (Go's `regexp.MatchString`);
/// `None` for a pattern outside what [`compile`] knows.
pub fn regex_search(pattern: &str, text: &str) -> Option<bool> {
    let pattern = compile(pattern)?;
    let text: Vec<char> = text.chars().collect();
    if pattern.start {
        return Some(match_here(&pattern.pieces, &text, pattern.end));
    }
    Some((0..=text.len()).any(|i| match_here(&pattern.pieces, &text[i..], pattern.end)))
}

#[cfg(test)]
mod tests {
    use super::super::tests::{create, engine, t, IDLE};
    use super::super::Filters;
    use super::*;

    fn names(list: &Value) -> Vec<&str> {
        list.as_array()
            .unwrap()
            .iter()
            .map(|n| n["Name"].as_str().unwrap())
            .collect()
    }

    fn filters(value: Value) -> String {
        value.to_string()
    }

    fn make_network(e: &mut Engine, body: Value) -> String {
        let reply = e.network_create(body.to_string().as_bytes(), t(0)).unwrap();
        assert_eq!(reply["Warning"], "");
        reply["Id"].as_str().unwrap().to_owned()
    }

    fn idle(image_extra: Value) -> Value {
        let mut body = json!({"Image": "maestro-test/box:1", "Cmd": ["sh", "-c", IDLE]});
        if let (Some(into), Some(from)) = (body.as_object_mut(), image_extra.as_object()) {
            for (k, v) in from {
                into.insert(k.clone(), v.clone());
            }
        }
        body
    }

    #[test]
    fn the_predefined_networks_exist_from_the_start() {
        let mut e = engine();
        let list = e.network_list("", t(0)).unwrap();
        assert_eq!(names(&list), ["bridge", "host", "none"]);
        let bridge = &list[0];
        assert_eq!(bridge["Driver"], "bridge");
        assert_eq!(bridge["Scope"], "local");
        assert_eq!(bridge["IPAM"]["Config"][0]["Subnet"], "172.17.0.0/16");
        assert_eq!(bridge["Containers"], json!({}));
        assert_eq!(list[2]["Driver"], "null");
        // A container on the default bridge names the bridge's id.
        create(&mut e, "web", idle(json!({})));
        let doc = e.inspect("web", t(1)).unwrap();
        assert_eq!(
            doc["NetworkSettings"]["Networks"]["bridge"]["NetworkID"],
            bridge["Id"]
        );
        // Running, it shows the single bridge's address as before.
        e.start("web", t(1)).unwrap();
        let doc = e.inspect("web", t(1)).unwrap();
        let settings = &doc["NetworkSettings"];
        let entry = &settings["Networks"]["bridge"];
        assert!(settings["IPAddress"]
            .as_str()
            .unwrap()
            .starts_with("172.17."));
        assert_eq!(entry["IPAddress"], settings["IPAddress"]);
        assert_eq!(entry["MacAddress"], settings["MacAddress"]);
        assert_eq!(entry["Gateway"], "172.17.0.1");
        assert_eq!(entry["IPPrefixLen"], 16);
        assert_eq!(entry["EndpointID"], "");
        assert_eq!(entry["DNSNames"], Value::Null);
        assert_eq!(
            e.network_inspect("bridge", t(1)).unwrap()["Containers"]
                .as_object()
                .unwrap()
                .len(),
            1
        );
        assert_eq!(
            e.network_remove("bridge", t(2)).unwrap_err(),
            ApiError::new(403, "bridge is a pre-defined network and cannot be removed")
        );
        assert_eq!(
            e.network_create(br#"{"Name":"host"}"#, t(2)).unwrap_err(),
            ApiError::new(403, "host is a pre-defined network and cannot be created")
        );
    }

    #[test]
    fn networks_are_created_listed_and_filtered_by_name_like_docker() {
        let mut e = engine();
        let id = make_network(
            &mut e,
            json!({"Name": "front", "Labels": {"env": "t", "k": "1"}, "Attachable": true,
                   "IPAM": {"Config": [{"Subnet": "10.5.0.0/24", "Gateway": "10.5.0.254"}]}}),
        );
        assert_eq!(id.len(), 64);
        make_network(&mut e, json!({"Name": "front-2", "Driver": "bridge"}));
        make_network(&mut e, json!({"Name": "app.net", "Internal": true}));

        // maestro anchors its names (`^front$`): only that one; a bare name
        // is a substring, as Docker's regular expression match makes it.
        let exact = e
            .network_list(&filters(json!({"name": ["^front$"]})), t(1))
            .unwrap();
        assert_eq!(names(&exact), ["front"]);
        let front = &exact[0];
        assert_eq!(front["Id"], id.as_str());
        assert_eq!(front["Driver"], "bridge");
        assert_eq!(front["Labels"], json!({"env": "t", "k": "1"}));
        assert_eq!(front["Attachable"], true);
        assert_eq!(front["Internal"], false);
        assert_eq!(
            front["IPAM"]["Config"],
            json!([{"Subnet": "10.5.0.0/24", "Gateway": "10.5.0.254"}])
        );
        let loose = e
            .network_list(&filters(json!({"name": ["front"]})), t(1))
            .unwrap();
        assert_eq!(names(&loose), ["front", "front-2"]);
        let dotted = e
            .network_list(&filters(json!({"name": ["^app\\.net$", "^front$"]})), t(1))
            .unwrap();
        assert_eq!(names(&dotted), ["app.net", "front"]);
        assert_eq!(dotted[0]["Internal"], true);
        // Without IPAM, a subnet of Docker's default pools.
        let auto = e
            .network_list(&filters(json!({"name": {"front-2": true}})), t(1))
            .unwrap();
        assert_eq!(auto[0]["IPAM"]["Config"][0]["Subnet"], "172.18.0.0/16");
        assert_eq!(auto[0]["IPAM"]["Config"][0]["Gateway"], "172.18.0.1");
        // Other filters.
        let by_label = e
            .network_list(&filters(json!({"label": ["env=t"]})), t(1))
            .unwrap();
        assert_eq!(names(&by_label), ["front"]);
        let custom = e
            .network_list(&filters(json!({"type": ["custom"]})), t(1))
            .unwrap();
        assert_eq!(names(&custom), ["app.net", "front", "front-2"]);
        let by_id = e
            .network_list(&filters(json!({"id": [&id[..10]]})), t(1))
            .unwrap();
        assert_eq!(names(&by_id), ["front"]);
        assert_eq!(
            e.network_list(&filters(json!({"bogus": ["x"]})), t(1))
                .unwrap_err(),
            ApiError::new(400, "invalid filter 'bogus'")
        );
        assert_eq!(e.network_list("{", t(1)).unwrap_err().status, 400);
        // By id, name or id prefix.
        assert_eq!(e.network_inspect(&id, t(2)).unwrap()["Name"], "front");
        assert_eq!(e.network_inspect(&id[..12], t(2)).unwrap()["Name"], "front");
        assert_eq!(
            e.network_inspect("nope", t(2)).unwrap_err(),
            ApiError::new(404, "network nope not found")
        );
    }

    #[test]
    fn network_creations_are_refused_like_docker() {
        let mut e = engine();
        make_network(
            &mut e,
            json!({"Name": "front", "IPAM": {"Config": [{"Subnet": "10.5.0.0/16"}]}}),
        );
        assert_eq!(
            e.network_create(br#"{"Name":"front"}"#, t(1)).unwrap_err(),
            ApiError::new(409, "network with name front already exists")
        );
        assert_eq!(
            e.network_create(br#"{"Driver":"bridge"}"#, t(1))
                .unwrap_err()
                .status,
            400
        );
        assert_eq!(
            e.network_create(br#"{"Name":"x","Labels":["a"]}"#, t(1))
                .unwrap_err(),
            ApiError::new(
                400,
                "json: cannot unmarshal array into Go struct field CreateRequest.Labels of type map[string]string"
            )
        );
        assert_eq!(
            e.network_create(br#"{"Name":"x","#, t(1)).unwrap_err(),
            ApiError::new(400, "unexpected EOF")
        );
        assert_eq!(e.network_create(br#"["x"]"#, t(1)).unwrap_err().status, 400);
        assert_eq!(
            e.network_create(br#"{"Name":"x","Driver":"weave"}"#, t(1))
                .unwrap_err()
                .status,
            404
        );
        let overlap = br#"{"Name":"x","IPAM":{"Config":[{"Subnet":"10.5.3.0/24"}]}}"#;
        assert_eq!(e.network_create(overlap, t(1)).unwrap_err().status, 403);
        let bad = br#"{"Name":"x","IPAM":{"Config":[{"Subnet":"10.5.3.0"}]}}"#;
        assert_eq!(
            e.network_create(bad, t(1)).unwrap_err(),
            ApiError::new(400, "invalid CIDR address: 10.5.3.0")
        );
        // Nothing of the refusals was made.
        assert_eq!(
            names(&e.network_list("", t(2)).unwrap()),
            ["bridge", "front", "host", "none"]
        );
    }

    #[test]
    fn a_container_joins_its_network_mode_and_endpoints_at_creation() {
        let mut e = engine();
        let front = make_network(
            &mut e,
            json!({"Name": "front", "IPAM": {"Config": [{"Subnet": "10.5.0.0/24"}]}}),
        );
        make_network(&mut e, json!({"Name": "back"}));
        let body = idle(json!({
            "HostConfig": {"NetworkMode": "front"},
            "NetworkingConfig": {"EndpointsConfig": {
                "front": {"Aliases": ["web", "www"], "IPAMConfig": {"IPv4Address": "10.5.0.7"}},
                "back": {}
            }}
        }));
        let id = create(&mut e, "web-1", body);
        let doc = e.inspect("web-1", t(1)).unwrap();
        let networks = &doc["NetworkSettings"]["Networks"];
        // Sorted: the map keeps insertion order where serde_json's
        // `preserve_order` is on (the workspace's build), not alone.
        let mut keys: Vec<_> = networks.as_object().unwrap().keys().collect();
        keys.sort();
        assert_eq!(keys, ["back", "front"]);
        assert_eq!(networks["front"]["NetworkID"], front.as_str());
        assert_eq!(networks["front"]["Aliases"], json!(["web", "www"]));
        assert_eq!(
            networks["front"]["IPAddress"], "",
            "no address before a start"
        );
        e.start("web-1", t(2)).unwrap();
        let doc = e.inspect("web-1", t(3)).unwrap();
        let networks = &doc["NetworkSettings"]["Networks"];
        assert_eq!(networks["front"]["IPAddress"], "10.5.0.7");
        assert_eq!(networks["front"]["Gateway"], "10.5.0.1");
        assert_eq!(networks["front"]["IPPrefixLen"], 24);
        assert_eq!(networks["front"]["MacAddress"], "02:42:0a:05:00:07");
        assert_eq!(
            networks["front"]["DNSNames"],
            json!(["web-1", "web", "www", &id[..12]])
        );
        assert_eq!(networks["back"]["IPAddress"], "172.18.0.2");
        // Only the default bridge's address is at the top.
        assert_eq!(doc["NetworkSettings"]["IPAddress"], "");
        assert_eq!(doc["HostConfig"]["NetworkMode"], "front");
        // The network shows its running container.
        let inspected = e.network_inspect("front", t(4)).unwrap();
        assert_eq!(inspected["Containers"][&id]["Name"], "web-1");
        assert_eq!(inspected["Containers"][&id]["IPv4Address"], "10.5.0.7/24");
        // The next container gets the next free address.
        create(
            &mut e,
            "web-2",
            idle(json!({"HostConfig": {"NetworkMode": "back"}})),
        );
        e.start("web-2", t(5)).unwrap();
        assert_eq!(
            e.inspect("web-2", t(6)).unwrap()["NetworkSettings"]["Networks"]["back"]["IPAddress"],
            "172.18.0.3"
        );
        // The container list shows its networks.
        let list = e.list(true, &Filters::default(), t(7));
        let web1 = list
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["Names"] == json!(["/web-1"]))
            .unwrap();
        assert_eq!(web1["HostConfig"]["NetworkMode"], "front");
        assert_eq!(
            web1["NetworkSettings"]["Networks"]["front"]["IPAddress"],
            "10.5.0.7"
        );
    }

    #[test]
    fn a_container_on_a_missing_network_is_refused() {
        let mut e = engine();
        assert_eq!(
            e.create(
                Some("a1"),
                idle(json!({"HostConfig": {"NetworkMode": "nope"}}))
                    .to_string()
                    .as_bytes(),
                t(0)
            )
            .unwrap_err(),
            ApiError::new(404, "network nope not found")
        );
        let endpoints = idle(json!({"NetworkingConfig": {"EndpointsConfig": {"gone": {}}}}));
        assert_eq!(
            e.create(Some("a1"), endpoints.to_string().as_bytes(), t(0))
                .unwrap_err(),
            ApiError::new(404, "network gone not found")
        );
        let fixed = idle(json!({"NetworkingConfig": {"EndpointsConfig": {
            "bridge": {"IPAMConfig": {"IPv4Address": "172.17.0.9"}}}}}));
        assert_eq!(
            e.create(Some("a1"), fixed.to_string().as_bytes(), t(0))
                .unwrap_err()
                .status,
            400
        );
        let bad = idle(json!({"NetworkingConfig": {"EndpointsConfig": ["x"]}}));
        assert_eq!(
            e.create(Some("a1"), bad.to_string().as_bytes(), t(0))
                .unwrap_err()
                .status,
            400
        );
        assert!(e.inspect("a1", t(1)).is_err(), "nothing was created");
        // maestro's MAC address for the network mode's endpoint is taken.
        let mac = idle(json!({"HostConfig": {"NetworkMode": "host"},
            "NetworkingConfig": {"EndpointsConfig": {"host": {"MacAddress": "02:42:ac:11:00:99"}}}}));
        assert!(e
            .create(Some("a2"), mac.to_string().as_bytes(), t(0))
            .is_ok());
    }

    #[test]
    fn connect_attaches_a_container_and_inspect_shows_it() {
        let mut e = engine();
        make_network(&mut e, json!({"Name": "back"}));
        let id = create(&mut e, "api", idle(json!({})));
        let connect = |alias: &str| {
            json!({"Container": "api", "EndpointConfig": {"Aliases": [alias]}}).to_string()
        };
        assert_eq!(
            e.network_connect("back", br#"{"Container":"nope"}"#, t(1))
                .unwrap_err(),
            ApiError::new(404, "No such container: nope")
        );
        assert_eq!(
            e.network_connect("gone", connect("a").as_bytes(), t(1))
                .unwrap_err(),
            ApiError::new(404, "network gone not found")
        );
        assert_eq!(
            e.network_connect("back", b"{\"Container\":", t(1))
                .unwrap_err()
                .status,
            400
        );
        assert_eq!(
            e.network_connect("back", br#"{"Container":5}"#, t(1))
                .unwrap_err()
                .status,
            400
        );
        e.network_connect("back", connect("api-alias").as_bytes(), t(1))
            .unwrap();
        assert_eq!(
            e.network_connect("back", connect("again").as_bytes(), t(2))
                .unwrap_err(),
            ApiError::new(403, "endpoint with name api already exists in network back")
        );
        assert_eq!(
            e.network_connect("host", connect("h").as_bytes(), t(2))
                .unwrap_err()
                .status,
            400
        );
        let doc = e.inspect("api", t(3)).unwrap();
        let networks = &doc["NetworkSettings"]["Networks"];
        assert_eq!(networks["back"]["Aliases"], json!(["api-alias"]));
        assert!(networks["bridge"].is_object(), "still on the bridge");
        // Stopped: attached, no endpoint on the network yet.
        assert_eq!(
            e.network_inspect("back", t(3)).unwrap()["Containers"],
            json!({})
        );
        e.start("api", t(4)).unwrap();
        let doc = e.inspect("api", t(5)).unwrap();
        assert_eq!(
            doc["NetworkSettings"]["Networks"]["back"]["IPAddress"],
            "172.18.0.2"
        );
        assert!(doc["NetworkSettings"]["IPAddress"]
            .as_str()
            .unwrap()
            .starts_with("172.17."));
        let back = e.network_inspect("back", t(5)).unwrap();
        assert_eq!(back["Containers"][&id]["IPv4Address"], "172.18.0.2/16");
        // Connected while running: an address at once.
        make_network(&mut e, json!({"Name": "side"}));
        e.network_connect("side", connect("s").as_bytes(), t(6))
            .unwrap();
        assert_eq!(
            e.inspect("api", t(7)).unwrap()["NetworkSettings"]["Networks"]["side"]["IPAddress"],
            "172.19.0.2"
        );
    }

    #[test]
    fn a_network_with_running_containers_is_not_removed() {
        let mut e = engine();
        let id = make_network(&mut e, json!({"Name": "front"}));
        create(
            &mut e,
            "web",
            idle(json!({"HostConfig": {"NetworkMode": "front"}})),
        );
        e.start("web", t(1)).unwrap();
        assert_eq!(
            e.network_remove("front", t(2)).unwrap_err(),
            ApiError::new(
                403,
                format!("error while removing network: network front id {id} has active endpoints")
            )
        );
        // Which containers use it, as maestro asks before a removal.
        let users = e.list(
            true,
            &Filters::parse(r#"{"network":["front"]}"#).unwrap(),
            t(2),
        );
        assert_eq!(users[0]["Names"], json!(["/web"]));
        let by_id = e.list(
            true,
            &Filters::parse(&format!(r#"{{"network":["{}"]}}"#, &id[..12])).unwrap(),
            t(2),
        );
        assert_eq!(by_id.as_array().unwrap().len(), 1);
        let bridge = e.list(
            true,
            &Filters::parse(r#"{"network":["bridge"]}"#).unwrap(),
            t(2),
        );
        assert_eq!(bridge, json!([]));
        // Stopped, its container no longer holds an endpoint: Docker removes
        // the network, and the container cannot start again.
        e.stop("web", None, t(3)).unwrap();
        assert_eq!(e.network_remove("front", t(4)), Ok(()));
        assert_eq!(
            e.network_remove("front", t(5)).unwrap_err(),
            ApiError::new(404, "network front not found")
        );
        assert_eq!(
            e.start("web", t(6)).unwrap_err(),
            ApiError::new(404, "network front not found")
        );
        // Made again under the same name, the network takes it back.
        make_network(&mut e, json!({"Name": "front"}));
        assert_eq!(e.start("web", t(7)), Ok(true));
        // A network nobody uses goes at once.
        make_network(&mut e, json!({"Name": "spare"}));
        assert_eq!(e.network_remove("spare", t(8)), Ok(()));
    }

    #[test]
    fn volumes_are_created_listed_and_inspected() {
        let mut e = engine();
        let doc = e
            .volume_create(
                br#"{"Name":"data","Labels":{"env":"t"},"DriverOpts":{"type":"tmpfs"}}"#,
                t(1500),
            )
            .unwrap();
        assert_eq!(doc["Name"], "data");
        assert_eq!(doc["Driver"], "local");
        assert_eq!(doc["Scope"], "local");
        assert_eq!(doc["Labels"], json!({"env": "t"}));
        assert_eq!(doc["Options"], json!({"type": "tmpfs"}));
        assert_eq!(doc["Mountpoint"], "/var/lib/docker/volumes/data/_data");
        assert_eq!(doc["CreatedAt"], rfc3339_nanos(t(1000)));
        // Creating it again gives it back as it is.
        let again = e.volume_create(br#"{"Name":"data"}"#, t(2000)).unwrap();
        assert_eq!(again, doc);
        e.volume_create(br#"{"Name":"mydata-2"}"#, t(2)).unwrap();
        e.volume_create(br#"{"Name":"other"}"#, t(2)).unwrap();
        let anonymous = e.volume_create(b"", t(3)).unwrap();
        assert_eq!(anonymous["Name"].as_str().unwrap().len(), 64);
        assert_eq!(anonymous["Labels"], Value::Null);

        let list = e.volume_list("", t(9)).unwrap();
        assert_eq!(list["Volumes"].as_array().unwrap().len(), 4);
        assert_eq!(list["Warnings"], json!([]));
        // maestro sends bare names: Docker matches them anywhere in a name.
        let named = e
            .volume_list(&filters(json!({"name": ["data"]})), t(9))
            .unwrap();
        assert_eq!(names(&named["Volumes"]), ["data", "mydata-2"]);
        let exact = e
            .volume_list(&filters(json!({"name": ["^data$"]})), t(9))
            .unwrap();
        assert_eq!(names(&exact["Volumes"]), ["data"]);
        let labelled = e
            .volume_list(&filters(json!({"label": ["env=t"]})), t(9))
            .unwrap();
        assert_eq!(names(&labelled["Volumes"]), ["data"]);
        let unlabelled = e
            .volume_list(&filters(json!({"label!": ["env"], "name": ["data"]})), t(9))
            .unwrap();
        assert_eq!(names(&unlabelled["Volumes"]), ["mydata-2"]);
        assert_eq!(
            e.volume_list(&filters(json!({"bogus": ["x"]})), t(9))
                .unwrap_err(),
            ApiError::new(400, "invalid filter 'bogus'")
        );
        assert_eq!(e.volume_inspect("data").unwrap(), doc);
        assert_eq!(
            e.volume_inspect("nope").unwrap_err(),
            ApiError::new(404, "get nope: no such volume")
        );
    }

    #[test]
    fn volume_creations_are_refused_like_docker() {
        let mut e = engine();
        assert_eq!(
            e.volume_create(br#"{"Name":"a b"}"#, t(0))
                .unwrap_err()
                .status,
            400
        );
        assert_eq!(
            e.volume_create(br#"{"Name":"x","Driver":"nfs-plugin"}"#, t(0))
                .unwrap_err(),
            ApiError::new(
                404,
                "error looking up volume plugin nfs-plugin: plugin \"nfs-plugin\" not found"
            )
        );
        assert_eq!(
            e.volume_create(br#"{"Name":"x","Labels":{"a":1}}"#, t(0))
                .unwrap_err()
                .status,
            400
        );
        assert_eq!(e.volume_create(b"{\"Name\"", t(0)).unwrap_err().status, 400);
        assert_eq!(e.volume_list("", t(9)).unwrap()["Volumes"], json!([]));
    }

    #[test]
    fn a_volume_in_use_is_not_removed() {
        let mut e = engine();
        e.volume_create(br#"{"Name":"data"}"#, t(0)).unwrap();
        let body = idle(json!({"HostConfig": {"Binds": ["data:/d", "/srv:/srv:ro", "made:/m"]}}));
        let id = create(&mut e, "db", body);
        // A named volume the engine lacks is made with the container.
        assert_eq!(e.volume_inspect("made").unwrap()["Driver"], "local");
        assert_eq!(
            e.volume_remove("data", false, t(9)).unwrap_err(),
            ApiError::new(409, format!("remove data: volume is in use - [{id}]"))
        );
        // Which containers use it, as maestro asks before a removal.
        for value in ["data", "/srv", "/m"] {
            let filter = Filters::parse(&filters(json!({"volume": [value]}))).unwrap();
            let users = e.list(true, &filter, t(1));
            assert_eq!(users[0]["Names"], json!(["/db"]), "{value}");
        }
        let filter = Filters::parse(&filters(json!({"volume": ["other"]}))).unwrap();
        assert_eq!(e.list(true, &filter, t(1)), json!([]));
        let dangling = e
            .volume_list(&filters(json!({"dangling": ["true"]})), t(9))
            .unwrap();
        assert_eq!(dangling["Volumes"], json!([]));
        // The mount API names volumes too.
        e.volume_create(br#"{"Name":"logs"}"#, t(1)).unwrap();
        let mounts = idle(
            json!({"HostConfig": {"Mounts": [{"Type": "volume", "Source": "logs", "Target": "/logs"}]}}),
        );
        let other = create(&mut e, "shipper", mounts);
        assert_eq!(
            e.volume_remove("logs", false, t(9)).unwrap_err(),
            ApiError::new(409, format!("remove logs: volume is in use - [{other}]"))
        );
        let doc = e.inspect("shipper", t(2)).unwrap();
        assert_eq!(doc["Mounts"][0]["Name"], "logs");
        assert_eq!(doc["Mounts"][0]["Destination"], "/logs");

        e.remove("db", false, t(3)).unwrap();
        assert_eq!(e.volume_remove("data", false, t(9)), Ok(()));
        assert_eq!(
            e.volume_remove("data", false, t(9)).unwrap_err(),
            ApiError::new(404, "get data: no such volume")
        );
        assert_eq!(e.volume_remove("data", true, t(9)), Ok(()));
        // A bind of a name no volume may have is refused.
        let bad = idle(json!({"HostConfig": {"Binds": ["./rel:/x"]}}));
        assert_eq!(
            e.create(Some("bad"), bad.to_string().as_bytes(), t(4))
                .unwrap_err()
                .status,
            400
        );
    }

    #[test]
    fn name_filters_match_like_go_regular_expressions() {
        assert_eq!(regex_search("^front$", "front"), Some(true));
        assert_eq!(regex_search("^front$", "front-2"), Some(false));
        assert_eq!(regex_search("front", "my-front-2"), Some(true));
        assert_eq!(regex_search("^app\\.net$", "app.net"), Some(true));
        assert_eq!(regex_search("^app\\.net$", "appxnet"), Some(false));
        assert_eq!(regex_search("^app.net$", "appxnet"), Some(true));
        assert_eq!(regex_search("^we+b-[0-9]*$", "weeeb-12"), Some(true));
        assert_eq!(regex_search("^we+b-[0-9]*$", "wb-12"), Some(false));
        assert_eq!(regex_search("x?y$", "aay"), Some(true));
        assert_eq!(regex_search("^[^a-c]\\d$", "d1"), Some(true));
        assert_eq!(regex_search("^[^a-c]\\d$", "b1"), Some(false));
        assert_eq!(regex_search("(a|b)", "a"), None);
        assert_eq!(regex_search("a[", "a"), None);
        // An exact value matches even when it is no expression.
        assert!(name_matches(&["a(".to_owned()], "a("));
        assert!(!name_matches(&["a(".to_owned()], "a(b"));
        assert!(name_matches(&["data".to_owned()], "mydata"));
    }

    #[test]
    fn cidrs_and_addresses_parse() {
        assert_eq!(parse_cidr("10.1.2.3/16"), Some((0x0a01_0000, 16)));
        assert_eq!(parse_cidr("10.1.2.3/33"), None);
        assert_eq!(parse_cidr("10.1.2/8"), None);
        assert_eq!(parse_ipv4("256.1.1.1"), None);
        assert_eq!(ipv4_text(0xac12_0002), "172.18.0.2");
        assert_eq!(mac_of(0xac12_0002), "02:42:ac:12:00:02");
        let a = Subnet {
            base: 0x0a00_0000,
            prefix: 8,
            gateway: 0x0a00_0001,
            ip_range: None,
        };
        let b = Subnet {
            base: 0x0a05_0000,
            prefix: 16,
            gateway: 0x0a05_0001,
            ip_range: None,
        };
        assert!(a.overlaps(&b) && b.overlaps(&a));
        assert!(b.contains(0x0a05_0102));
        assert!(!b.contains(0x0a06_0102));
    }
}
