//! Container options MaestroNG never had, under the Compose file format's
//! names and value forms: `entrypoint`, `tmpfs`, `read_only`, `init`,
//! `stop_signal`, `stop_grace_period`, `shm_size`, `sysctls`, `devices`,
//! `gpus`, `healthcheck`, `pid`, `ipc`, `group_add`, `pids_limit`, `cpuset`,
//! `mac_address`, `platform`. Each may be set on the service (for every
//! instance) or on the instance (which wins, key by key); each bad value
//! gives one located error naming the key and the expected form.

use indexmap::IndexMap;

use crate::model::{ContainerOptions, Device, GpuRequest, Healthcheck};
use crate::reader::{get_set, show, Child, Item, KeyPath, Reader};
use crate::yaml::{Node, Value};

/// Where a key is read from: the instance's entries, else the service's.
pub(crate) struct Sources<'n, 'p> {
    pub service: &'n [(Node, Node)],
    pub service_path: &'p KeyPath<'p>,
    pub instance: &'n [(Node, Node)],
    pub instance_path: &'p KeyPath<'p>,
}

impl<'n, 'p> Sources<'n, 'p> {
    /// The node of `key` and its path, the instance's first.
    fn get<'k>(&self, key: &'k str) -> Option<(&'n Node, Child<'p, 'k>)> {
        if let Some(n) = get_set(self.instance, key) {
            return Some((n, Child(self.instance_path, key)));
        }
        get_set(self.service, key).map(|n| (n, Child(self.service_path, key)))
    }
}

/// Reads every option; `stop_timeout` is MaestroNG's (seconds, when given)
/// for the check that `stop_grace_period` agrees with it.
pub(crate) fn build(
    r: &mut Reader,
    s: &Sources,
    stop_timeout: Option<u32>,
) -> (ContainerOptions, Option<u32>) {
    let mut o = ContainerOptions::default();
    if let Some((n, p)) = s.get("entrypoint") {
        o.entrypoint = crate::reader::command(r, n, &p);
    }
    if let Some((n, p)) = s.get("tmpfs") {
        o.tmpfs = tmpfs(r, n, &p);
    }
    o.read_only = flag(r, s, "read_only").unwrap_or(false);
    o.init = flag(r, s, "init");
    if let Some((n, p)) = s.get("stop_signal") {
        o.stop_signal = signal(r, n, &p);
    }
    let grace = s.get("stop_grace_period").and_then(|(n, p)| {
        let secs = duration(r, n, &p)?;
        let whole = u32::try_from(secs.div_ceil(1_000_000_000)).unwrap_or(u32::MAX);
        if let Some(t) = stop_timeout.filter(|t| *t != whole) {
            r.error(n, &p, format!(
                "`stop_grace_period` ({whole}s) disagrees with `stop_timeout` ({t}s); expected only one of them, or both the same"
            ));
            return None;
        }
        Some(whole)
    });
    o.stop_grace_period = grace;
    if let Some((n, p)) = s.get("shm_size") {
        o.shm_size = bytes(r, n, &p);
    }
    if let Some((n, p)) = s.get("sysctls") {
        o.sysctls = key_values(r, n, &p);
    }
    if let Some((n, p)) = s.get("devices") {
        o.devices = devices(r, n, &p);
    }
    if let Some((n, p)) = s.get("gpus") {
        o.gpus = gpus(r, n, &p);
    }
    if let Some((n, p)) = s.get("healthcheck") {
        o.healthcheck = healthcheck(r, n, &p);
    }
    modes_and_limits(r, s, &mut o);
    (o, grace)
}

/// `pid`, `ipc`, `group_add`, `pids_limit`, `cpuset`, `mac_address`, `platform`.
fn modes_and_limits(r: &mut Reader, s: &Sources, o: &mut ContainerOptions) {
    if let Some((n, p)) = s.get("pid") {
        o.pid = mode(r, n, &p, &["host"], "host or container:NAME");
    }
    if let Some((n, p)) = s.get("ipc") {
        o.ipc = mode(
            r,
            n,
            &p,
            &["host", "private", "shareable", "none"],
            "host, private, shareable, none or container:NAME",
        );
    }
    if let Some((n, p)) = s.get("group_add") {
        o.group_add = r.string_list(n, &p);
    }
    if let Some((n, p)) = s.get("pids_limit") {
        o.pids_limit = r.integer(n, &p, -1, i64::MAX as i128).map(|v| v as i64);
    }
    if let Some((n, p)) = s.get("cpuset") {
        o.cpuset = checked(r, n, &p, is_cpuset, "CPUs as \"0-3\" or \"0,2\"");
    }
    if let Some((n, p)) = s.get("mac_address") {
        o.mac_address = checked(r, n, &p, is_mac, "a MAC address as \"02:42:ac:11:00:02\"");
    }
    if let Some((n, p)) = s.get("platform") {
        o.platform = checked(r, n, &p, is_platform, "a platform as \"linux/amd64\"");
    }
}

fn flag(r: &mut Reader, s: &Sources, key: &str) -> Option<bool> {
    let (n, p) = s.get(key)?;
    r.boolean(n, &p)
}

/// A string that `ok` accepts, else a located error naming `expected`.
fn checked(
    r: &mut Reader,
    n: &Node,
    p: &KeyPath,
    ok: fn(&str) -> bool,
    expected: &str,
) -> Option<String> {
    let text = r.string(n, p)?;
    if ok(&text) {
        Some(text)
    } else {
        r.expected(n, p, expected);
        None
    }
}

fn is_cpuset(s: &str) -> bool {
    !s.is_empty()
        && s.split(',').all(|part| {
            let mut ends = part.splitn(2, '-');
            ends.all(|e| !e.is_empty() && e.chars().all(|c| c.is_ascii_digit()))
        })
}

fn is_mac(s: &str) -> bool {
    let parts: Vec<&str> = s.split(':').collect();
    parts.len() == 6
        && parts
            .iter()
            .all(|p| p.len() == 2 && p.chars().all(|c| c.is_ascii_hexdigit()))
}

fn is_platform(s: &str) -> bool {
    let parts: Vec<&str> = s.split('/').collect();
    (2..=3).contains(&parts.len())
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        })
}

/// `host`, one of `plain`, or `container:NAME` (Compose's `service:NAME`
/// is not a form: maestro's containers are named).
fn mode(r: &mut Reader, n: &Node, p: &KeyPath, plain: &[&str], expected: &str) -> Option<String> {
    let text = r.string(n, p)?;
    let ok = plain.contains(&text.as_str())
        || text
            .strip_prefix("container:")
            .is_some_and(|c| !c.is_empty());
    if ok {
        Some(text)
    } else {
        r.error(
            n,
            p,
            format!("unknown mode {}; expected {expected}", show(n)),
        );
        None
    }
}

/// A size: bytes, or a number with a b, k, m or g suffix.
fn bytes(r: &mut Reader, n: &Node, p: &KeyPath) -> Option<u64> {
    let expected = "bytes, or a number with a k, m or g suffix (e.g. 64m)";
    match &n.value {
        Value::Int(i) if *i >= 0 && *i <= i64::MAX as i128 => Some(*i as u64),
        Value::Str(s) => match crate::reader::parse_bytes(s) {
            Ok(b) => Some(b.max(0) as u64),
            Err(why) => {
                r.error(n, p, format!("{why}; expected {expected}"));
                None
            }
        },
        _ => {
            r.expected(n, p, expected);
            None
        }
    }
}

/// A Compose duration (`1m30s`, `10s`, `500ms`, `1h`; a bare number is
/// seconds), in nanoseconds.
pub(crate) fn duration(r: &mut Reader, n: &Node, p: &KeyPath) -> Option<u64> {
    let expected = "a duration as \"1m30s\", \"10s\" or \"500ms\"";
    let parsed = match &n.value {
        Value::Int(i) if *i >= 0 => u64::try_from(*i)
            .ok()
            .and_then(|s| s.checked_mul(1_000_000_000)),
        Value::Str(s) => parse_duration(s),
        _ => None,
    };
    if parsed.is_none() {
        r.expected(n, p, expected);
    }
    parsed
}

/// Seconds written as a number (`30`, `2.5`, `"30"`) or a duration
/// (`"30s"`, `"500ms"`, `"1m30s"`); `None` for anything else. Not checked
/// for a range: each key says its own.
pub(crate) fn seconds_of(n: &Node) -> Option<f64> {
    match &n.value {
        Value::Int(i) => Some(*i as f64),
        Value::Float(f) => Some(*f),
        Value::Str(s) => s
            .trim()
            .parse::<f64>()
            .ok()
            .or_else(|| parse_duration(s).map(|ns| ns as f64 / 1e9)),
        _ => None,
    }
    .filter(|s| s.is_finite())
}

/// `1h2m3.5s` → nanoseconds; `None` for anything else.
pub(crate) fn parse_duration(text: &str) -> Option<u64> {
    let t = text.trim();
    if t.is_empty() {
        return None;
    }
    if let Ok(secs) = t.parse::<u64>() {
        return secs.checked_mul(1_000_000_000);
    }
    let mut total: f64 = 0.0;
    let mut rest = t;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let number: f64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "h" => 3600e9,
            "m" => 60e9,
            "s" => 1e9,
            "ms" => 1e6,
            "us" | "µs" => 1e3,
            "ns" => 1.0,
            _ => return None,
        };
        rest = &rest[unit_len..];
        total += number * scale;
    }
    (total.is_finite() && total < u64::MAX as f64).then_some(total.round() as u64)
}

/// `SIGTERM`, `SIGUSR1`, `TERM` or a signal number.
fn signal(r: &mut Reader, n: &Node, p: &KeyPath) -> Option<String> {
    let text = r.string(n, p)?;
    let named = text.len() > 1
        && text
            .chars()
            .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '+' || c == '-');
    let number = text.parse::<u8>().is_ok_and(|s| (1..=64).contains(&s));
    if named || number {
        Some(text)
    } else {
        r.error(
            n,
            p,
            format!(
                "unknown signal {}; expected a signal name as SIGTERM or SIGUSR1, or its number",
                show(n)
            ),
        );
        None
    }
}

/// `tmpfs: /run`, or a list of `PATH[:OPTIONS]` (options as `mount -o`).
fn tmpfs(r: &mut Reader, n: &Node, p: &KeyPath) -> IndexMap<String, String> {
    let mut out = IndexMap::new();
    let items: Vec<&Node> = match &n.value {
        Value::Seq(items) => items.iter().collect(),
        _ => vec![n],
    };
    for (i, item) in items.into_iter().enumerate() {
        let ip = Item(p, matches!(n.value, Value::Seq(_)).then_some(i));
        let Some(text) = r.string(item, &ip) else {
            continue;
        };
        let (path, opts) = text.split_once(':').unwrap_or((&text, ""));
        if !path.starts_with('/') {
            r.error(item, &ip, format!(
                "tmpfs mount point `{path}` is not an absolute path; expected PATH or PATH:OPTIONS as \"/run:size=64m\""
            ));
            continue;
        }
        out.insert(path.to_owned(), opts.to_owned());
    }
    out
}

/// A mapping `key: value`, or a list of `key=value` (sysctls).
fn key_values(r: &mut Reader, n: &Node, p: &KeyPath) -> IndexMap<String, String> {
    let mut out = IndexMap::new();
    match &n.value {
        Value::Map(entries) => {
            for (k, v) in entries {
                if let Some(key) = r.key(k, p) {
                    let value = crate::pyfmt::env_string(&v.value).unwrap_or_default();
                    out.insert(key, value);
                }
            }
        }
        Value::Seq(items) => {
            for (i, item) in items.iter().enumerate() {
                let ip = format_args!("{p}[{i}]");
                let Some(text) = r.string(item, &ip) else {
                    continue;
                };
                match text.split_once('=') {
                    Some((k, v)) if !k.is_empty() => {
                        out.insert(k.to_owned(), v.to_owned());
                    }
                    _ => r.expected(item, &ip, "KEY=VALUE"),
                }
            }
        }
        _ => r.expected(n, p, "a mapping of KEY: VALUE or a list of KEY=VALUE"),
    }
    out
}

/// `devices: ["/dev/fuse", "/dev/sda:/dev/xvda:rwm"]`.
fn devices(r: &mut Reader, n: &Node, p: &KeyPath) -> Vec<Device> {
    let mut out = Vec::new();
    for (i, text) in r.string_list(n, p).into_iter().enumerate() {
        let ip = format_args!("{p}[{i}]");
        let at = match &n.value {
            Value::Seq(items) => items.get(i).unwrap_or(n),
            _ => n,
        };
        let parts: Vec<&str> = text.split(':').collect();
        let host = parts[0];
        let container = parts.get(1).copied().unwrap_or(host);
        let permissions = parts.get(2).copied().unwrap_or("rwm");
        let ok = parts.len() <= 3
            && host.starts_with('/')
            && container.starts_with('/')
            && !permissions.is_empty()
            && permissions.chars().all(|c| "rwm".contains(c));
        if !ok {
            r.error(at, &ip, format!(
                "invalid device {}; expected HOST_PATH[:CONTAINER_PATH[:PERMISSIONS]] as \"/dev/fuse\" or \"/dev/sda:/dev/xvda:rw\" (permissions of r, w, m)",
                show(at)
            ));
            continue;
        }
        out.push(Device {
            host: host.to_owned(),
            container: container.to_owned(),
            permissions: permissions.to_owned(),
        });
    }
    out
}

/// `gpus: all`, `gpus: 2`, or a list of device requests as Compose's
/// `deploy.resources.reservations.devices` writes them.
fn gpus(r: &mut Reader, n: &Node, p: &KeyPath) -> Vec<GpuRequest> {
    let gpu = |count: i64| GpuRequest {
        driver: None,
        count: Some(count),
        device_ids: Vec::new(),
        capabilities: vec!["gpu".into()],
        options: IndexMap::new(),
    };
    match &n.value {
        Value::Str(s) if s == "all" => vec![gpu(-1)],
        Value::Int(i) if *i > 0 && *i <= i64::MAX as i128 => vec![gpu(*i as i64)],
        Value::Seq(items) => items
            .iter()
            .enumerate()
            .filter_map(|(i, item)| gpu_request(r, item, &format_args!("{p}[{i}]")))
            .collect(),
        _ => {
            r.expected(n, p, "all, a number of GPUs, or a list of {driver, count, device_ids, capabilities, options}");
            Vec::new()
        }
    }
}

fn gpu_request(r: &mut Reader, n: &Node, p: &KeyPath) -> Option<GpuRequest> {
    let Value::Map(m) = &n.value else {
        r.expected(
            n,
            p,
            "a mapping of driver, count, device_ids, capabilities, options",
        );
        return None;
    };
    r.unknown_keys(m, p, crate::keys::GPU);
    let count = match get_set(m, "count") {
        Some(c) if c.as_str() == Some("all") => Some(-1),
        Some(c) => Some(r.integer(c, &format_args!("{p}/count"), 1, i64::MAX as i128)? as i64),
        None => None,
    };
    let device_ids = get_set(m, "device_ids")
        .map(|d| r.string_list(d, &format_args!("{p}/device_ids")))
        .unwrap_or_default();
    if count.is_some() && !device_ids.is_empty() {
        r.error(
            n,
            p,
            "both `count` and `device_ids` are set; expected one of them",
        );
        return None;
    }
    let capabilities = get_set(m, "capabilities")
        .map(|c| r.string_list(c, &format_args!("{p}/capabilities")))
        .unwrap_or_else(|| vec!["gpu".into()]);
    Some(GpuRequest {
        driver: get_set(m, "driver").and_then(|d| r.string(d, &format_args!("{p}/driver"))),
        count: count.or((device_ids.is_empty()).then_some(-1)),
        device_ids,
        capabilities,
        options: get_set(m, "options")
            .map(|o| key_values(r, o, &format_args!("{p}/options")))
            .unwrap_or_default(),
    })
}

/// `healthcheck: {test, interval, timeout, retries, start_period, disable}`.
fn healthcheck(r: &mut Reader, n: &Node, p: &KeyPath) -> Option<Healthcheck> {
    let m = r.map(n, p)?;
    r.unknown_keys(m, p, crate::keys::HEALTHCHECK);
    let disable = get_set(m, "disable")
        .and_then(|d| r.boolean(d, &format_args!("{p}/disable")))
        .unwrap_or(false);
    let test_node = get_set(m, "test");
    if disable {
        if let Some(t) = test_node {
            r.error(
                t,
                &format_args!("{p}/test"),
                "`test` is set while `disable: true`; expected one of them",
            );
            return None;
        }
        return Some(Healthcheck {
            test: vec!["NONE".into()],
            ..Healthcheck::default()
        });
    }
    let test = match test_node {
        None => Some(Vec::new()),
        Some(t) => health_test(r, t, &format_args!("{p}/test")),
    };
    let time = |r: &mut Reader, k: &str| {
        get_set(m, k).and_then(|v| duration(r, v, &format_args!("{p}/{k}")))
    };
    let check = Healthcheck {
        test: Vec::new(),
        interval: time(r, "interval"),
        timeout: time(r, "timeout"),
        start_period: time(r, "start_period"),
        retries: get_set(m, "retries")
            .and_then(|v| r.integer(v, &format_args!("{p}/retries"), 0, i64::MAX as i128))
            .map(|v| v as i64),
    };
    test.map(|test| Healthcheck { test, ..check })
}

/// A string (run by the shell: `CMD-SHELL`), or a list starting with
/// `CMD`, `CMD-SHELL` or `NONE`.
fn health_test(r: &mut Reader, n: &Node, p: &KeyPath) -> Option<Vec<String>> {
    match &n.value {
        Value::Str(s) if !s.trim().is_empty() => Some(vec!["CMD-SHELL".into(), s.clone()]),
        Value::Seq(_) => {
            let list = r.string_list(n, p);
            match list.first().map(String::as_str) {
                Some("CMD" | "CMD-SHELL") if list.len() > 1 => Some(list),
                Some("NONE") if list.len() == 1 => Some(list),
                _ => {
                    r.error(n, p, "a test list must start with CMD or CMD-SHELL and a command, or be [NONE]; expected e.g. [CMD, wget, -q, localhost]");
                    None
                }
            }
        }
        _ => {
            r.expected(
                n,
                p,
                "a shell command, or a list starting with CMD or CMD-SHELL",
            );
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::parse_duration;

    fn load(text: &str) -> Result<crate::Environment, crate::LoadError> {
        let source = crate::Source {
            name: "t.yaml".into(),
            base_dir: std::path::PathBuf::from("."),
            text: text.into(),
        };
        crate::load(&source, &Default::default())
    }

    const FILE: &str = "
name: t
ships: {a: {ip: 10.0.0.1}}
networks: {front: {}}
services:
  web:
    image: box:1
    read_only: true
    tmpfs: /run
    networks: {front: {aliases: [www]}}
    instances:
      web-1: {ship: a, tmpfs: ['/cache:size=1m'], stop_timeout: 90, stop_grace_period: 1m30s}
      web-2: {ship: a, networks: [front]}
";

    #[test]
    fn an_instance_wins_key_by_key_over_its_service() {
        let env = load(FILE).expect("valid");
        let one = &env.containers["web-1"];
        assert!(one.options.read_only, "the service's read_only");
        assert_eq!(
            one.options.tmpfs.get("/cache").map(String::as_str),
            Some("size=1m")
        );
        assert!(
            !one.options.tmpfs.contains_key("/run"),
            "the instance's tmpfs replaces the service's"
        );
        assert_eq!(one.options.networks[0].aliases, ["www"]);
        assert_eq!(
            one.stop_timeout, 90,
            "stop_grace_period agreeing with stop_timeout"
        );
        assert_eq!(one.options.stop_grace_period, Some(90));
        let two = &env.containers["web-2"];
        assert_eq!(two.options.tmpfs.get("/run").map(String::as_str), Some(""));
        assert!(two.options.networks[0].aliases.is_empty());
        assert_eq!(two.stop_timeout, 10);
    }

    #[test]
    fn dump_shows_the_options_networks_and_volumes_only_when_set() {
        let env = load(FILE).expect("valid");
        let all: Vec<&crate::Container> = env.containers.values().collect();
        let doc = serde_json::to_value(crate::dump::environment(&env, &all)).expect("json");
        let one = &doc["containers"]["web-1"]["options"];
        assert_eq!(one["tmpfs"], serde_json::json!({"/cache": "size=1m"}));
        assert_eq!(one["read_only"], true);
        assert_eq!(one["networks"][0]["aliases"], serde_json::json!(["www"]));
        assert!(
            one.get("pid").is_none(),
            "unset options are left out: {one}"
        );
        assert!(doc["networks"]["front"].is_object());
        assert!(doc.get("volumes").is_none());
    }

    #[test]
    fn a_file_without_the_new_keys_has_no_options() {
        let env = load("name: t\nships: {a: {ip: 1.2.3.4}}\nservices:\n  s:\n    image: b\n    instances: {s-1: {ship: a}}\n").expect("valid");
        assert_eq!(
            *env.containers["s-1"].options,
            crate::ContainerOptions::default()
        );
        assert!(env.networks.is_empty() && env.volumes.is_empty());
        assert!(env.warnings.is_empty(), "{:?}", env.warnings);
    }

    #[test]
    fn durations_in_the_compose_forms() {
        assert_eq!(parse_duration("10s"), Some(10_000_000_000));
        assert_eq!(parse_duration("1m30s"), Some(90_000_000_000));
        assert_eq!(parse_duration("500ms"), Some(500_000_000));
        assert_eq!(parse_duration("1h"), Some(3_600_000_000_000));
        assert_eq!(parse_duration("1.5s"), Some(1_500_000_000));
        assert_eq!(parse_duration("7"), Some(7_000_000_000));
        assert_eq!(parse_duration("10 s"), None);
        assert_eq!(parse_duration("10x"), None);
        assert_eq!(parse_duration("s"), None);
    }
}
