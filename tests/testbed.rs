//! The real engines the end-to-end tests drive, as set up by
//! `scripts/testbed` (which `scripts/test` runs first): the local engine, a
//! second engine in its own network namespace (ship2, plain TCP, and SSH
//! tunnels through it), a TLS engine (ship3). Also helpers to look at
//! containers through the `docker` CLI, and a guard that removes a test's
//! containers from every engine however the test ends.

#![allow(dead_code)]

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;

/// Where `scripts/testbed` writes its variables.
pub const ENV_FILE: &str = "/var/lib/maestro-testbed/env";

pub struct Testbed {
    vars: HashMap<String, String>,
}

/// The test bed; panics with the fix when it is not up.
pub fn testbed() -> &'static Testbed {
    static BED: OnceLock<Testbed> = OnceLock::new();
    BED.get_or_init(|| {
        let text = std::fs::read_to_string(ENV_FILE).unwrap_or_else(|e| {
            panic!("the test bed is not up ({ENV_FILE}: {e}); run scripts/testbed (scripts/test does it first)")
        });
        let vars = text
            .lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.trim().to_owned(), v.trim().trim_matches('"').to_owned()))
            .collect();
        Testbed { vars }
    })
}

/// The HOME maestro runs with in tests: its `~/.ssh/known_hosts` trusts the
/// test bed's sshd (at its address and behind fault proxies on 127.0.0.1),
/// and it holds no keys, config or Docker client settings of the caller's.
/// Panics with the fix when the test bed is not up: maestro is never run with
/// the caller's HOME instead.
pub fn ssh_home() -> &'static str {
    testbed().var("TESTBED_SSH_HOME")
}

impl Testbed {
    pub fn var(&self, key: &str) -> &str {
        self.vars
            .get(key)
            .map(String::as_str)
            .unwrap_or_else(|| panic!("{ENV_FILE} has no {key}; re-run scripts/testbed"))
    }

    /// The local engine over its unix socket, reachable by other ships at 10.77.0.1.
    pub fn local_ship(&self) -> String {
        format!(
            "{{ip: {}, socket_path: {}}}",
            self.var("TESTBED_LOCAL_IP"),
            self.var("TESTBED_LOCAL_SOCKET")
        )
    }

    /// ship2 over plain TCP.
    pub fn ship2_tcp(&self) -> String {
        format!(
            "{{ip: {}, docker_port: {}}}",
            self.var("TESTBED_SHIP2_IP"),
            self.var("TESTBED_SHIP2_PORT")
        )
    }

    /// ship2 through an SSH tunnel (sshd runs in ship2's namespace).
    pub fn ship2_ssh(&self) -> String {
        format!(
            "{{ip: {}, docker_port: {}, ssh_tunnel: {{user: {}, key: {}, port: {}}}}}",
            self.var("TESTBED_SHIP2_IP"),
            self.var("TESTBED_SHIP2_PORT"),
            self.var("TESTBED_SSH_USER"),
            self.var("TESTBED_SSH_KEY"),
            self.var("TESTBED_SSH_PORT")
        )
    }

    /// ship3: TLS with client certificates, verified against the test CA.
    pub fn ship3_tls(&self) -> String {
        format!(
            "{{ip: {}, docker_port: {}, tls: true, tls_verify: true, tls_ca_cert: {}, tls_cert: {}, tls_key: {}}}",
            self.var("TESTBED_SHIP3_IP"),
            self.var("TESTBED_SHIP3_TLS_PORT"),
            self.var("TESTBED_TLS_CA"),
            self.var("TESTBED_TLS_CERT"),
            self.var("TESTBED_TLS_KEY")
        )
    }

    /// `docker -H …` arguments for each engine, by ship kind.
    pub fn local_host(&self) -> String {
        format!("unix://{}", self.var("TESTBED_LOCAL_SOCKET"))
    }
    pub fn ship2_host(&self) -> String {
        format!("unix://{}", self.var("TESTBED_SHIP2_SOCKET"))
    }
    pub fn ship3_host(&self) -> String {
        format!("unix://{}", self.var("TESTBED_SHIP3_SOCKET"))
    }
    pub fn all_hosts(&self) -> Vec<String> {
        vec![self.local_host(), self.ship2_host(), self.ship3_host()]
    }
}

/// Runs `docker -H host args…`; stdout on success, panics with stderr otherwise.
pub fn docker(host: &str, args: &[&str]) -> String {
    let out = Command::new("docker")
        .arg("-H")
        .arg(host)
        .args(args)
        .env_remove("DOCKER_CONTEXT")
        .output()
        .expect("the docker CLI runs");
    assert!(
        out.status.success(),
        "docker -H {host} {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `docker inspect` of one container as JSON, or `None` when it does not exist.
pub fn inspect(host: &str, name: &str) -> Option<serde_json::Value> {
    let out = Command::new("docker")
        .args(["-H", host, "inspect", "--type", "container", name])
        .output()
        .expect("the docker CLI runs");
    if !out.status.success() {
        return None;
    }
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
    list.get(0).cloned()
}

/// The environment of a running container, read inside it with `env`.
pub fn env_inside(host: &str, name: &str) -> HashMap<String, String> {
    docker(host, &["exec", name, "env"])
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
}

/// Removes the named containers (and their kept previous ones) from every
/// test-bed engine when dropped
/// (and when created, in case an earlier run left them behind).
pub struct Cleanup {
    names: Vec<String>,
}

impl Cleanup {
    pub fn new<S: AsRef<str>>(names: &[S]) -> Cleanup {
        // With each container, the previous one `up` or `restart` may have
        // kept for a rollback.
        let cleanup = Cleanup {
            names: names
                .iter()
                .flat_map(|n| [n.as_ref().to_owned(), format!("{}.previous", n.as_ref())])
                .collect(),
        };
        cleanup.remove_all();
        cleanup
    }

    fn remove_all(&self) {
        if !Path::new(ENV_FILE).exists() {
            return;
        }
        for host in testbed().all_hosts() {
            let _ = Command::new("docker")
                .args(["-H", &host, "rm", "-f", "-v"])
                .args(&self.names)
                .output();
        }
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        self.remove_all();
    }
}

/// A hold on ship2 (and ship3): tests that use it hold it shared; a test
/// that cuts a ship's link off holds it exclusively, so no other test sees
/// the cut. Released when dropped.
pub struct ShipLock(#[allow(dead_code)] std::fs::File);

fn ship_lock(exclusive: bool) -> ShipLock {
    let path = std::env::temp_dir().join("maestro-testbed-ships.lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .unwrap_or_else(|e| panic!("cannot open {}: {e}", path.display()));
    if exclusive {
        file.lock().expect("exclusive lock on the ships");
    } else {
        file.lock_shared().expect("shared lock on the ships");
    }
    ShipLock(file)
}

/// Hold this while a test uses ship2 or ship3.
pub fn use_ships() -> ShipLock {
    ship_lock(false)
}

/// Hold this while a test cuts a ship off (`scripts/testbed cut ship2`).
pub fn cut_ships() -> ShipLock {
    ship_lock(true)
}

/// Runs `scripts/testbed ARGS` (e.g. `cut ship2`, `heal ship2`).
pub fn testbed_script(args: &[&str]) {
    let script = crate::util::workspace_root().join("scripts/testbed");
    let out = Command::new(&script)
        .args(args)
        .output()
        .expect("scripts/testbed runs");
    assert!(
        out.status.success(),
        "scripts/testbed {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Heals the ship when dropped, so a failing cut test leaves no cut behind.
pub struct Heal(pub &'static str);

impl Drop for Heal {
    fn drop(&mut self) {
        testbed_script(&["heal", self.0]);
    }
}
