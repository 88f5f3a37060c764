//! User-defined networks and named volumes (issue 18 items 1 and 2), end to
//! end on the test bed's engines:
//!
//! - two services on a network reach each other by alias; the network has
//!   the driver, labels and subnet of the file (engine inspect); a network
//!   declared `external` is used, never created nor removed; one of the
//!   same name made by hand is used and never removed; `clean --networks`
//!   keeps a network in use and removes it once unused; a network and a
//!   volume are made on each ship that needs them, and removed from each;
//! - data in a named volume survives a recreate and `clean`; `clean
//!   --volumes` keeps it while a container uses it and removes it after.
//!
//! Containers are named `net-…` / `vol-…`, networks and volumes likewise;
//! guards remove them all, made before anything starts.

use std::process::Command;

use crate::engine_support::{assert_code, container_id, local, maestro, IMAGE};
use crate::testbed::{docker, inspect, testbed, Cleanup};
use crate::util::{Dir, Output};

/// Removes the named networks and volumes from the local engine when made
/// and when dropped.
struct Objects {
    networks: Vec<&'static str>,
    volumes: Vec<&'static str>,
}

impl Objects {
    fn new(networks: &[&'static str], volumes: &[&'static str]) -> Objects {
        let o = Objects {
            networks: networks.to_vec(),
            volumes: volumes.to_vec(),
        };
        o.remove();
        o
    }

    fn remove(&self) {
        let host = local();
        for n in &self.networks {
            let _ = Command::new("docker")
                .args(["-H", &host, "network", "rm", n])
                .output();
        }
        for v in &self.volumes {
            let _ = Command::new("docker")
                .args(["-H", &host, "volume", "rm", v])
                .output();
        }
    }
}

impl Drop for Objects {
    fn drop(&mut self) {
        self.remove();
    }
}

/// `docker inspect` of a network or volume, or `None` when there is none.
fn inspect_object(kind: &str, name: &str) -> Option<serde_json::Value> {
    inspect_object_on(&local(), kind, name)
}

fn inspect_object_on(host: &str, kind: &str, name: &str) -> Option<serde_json::Value> {
    let out = Command::new("docker")
        .args(["-H", host, kind, "inspect", name])
        .output()
        .expect("the docker CLI runs");
    if !out.status.success() {
        return None;
    }
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).ok()?;
    list.get(0).cloned()
}

fn assert_said(out: &Output, needle: &str) {
    assert!(
        out.stdout().contains(needle),
        "expected {needle:?}\n{}",
        out.report()
    );
}

/// net-front's subnet is outside the engine's default address pools
/// (172.17-31.0.0/16, 192.168.0.0/16), from which networks other tests make
/// at the same time take theirs: a subnet there was refused, now and then,
/// as overlapping one of them.
const NETWORKS: &str = "
networks:
  net-front:
    driver: bridge
    labels: {team: net-a}
    ipam: {config: [{subnet: 10.199.250.0/24}]}
  net-outside: {external: true}
  net-byhand: {}
services:
  srv:
    image: IMAGE
    networks: {net-front: {aliases: [db-alias]}}
    instances:
      net-srv-1: {ship: local, stop_timeout: 1, command: [sleep, '300']}
  cli:
    image: IMAGE
    networks: [net-front, net-outside, net-byhand]
    instances:
      net-cli-1: {ship: local, stop_timeout: 1, command: [sleep, '300']}
";

#[test]
fn services_on_a_network_reach_each_other_by_alias_and_clean_removes_only_its_own_unused_network() {
    let _containers = Cleanup::new(&["net-srv-1", "net-cli-1"]);
    let _objects = Objects::new(&["net-front", "net-outside", "net-byhand"], &[]);
    let host = local();
    docker(&host, &["network", "create", "net-outside"]);
    docker(&host, &["network", "create", "net-byhand"]);
    let dir = Dir::new();
    let text = format!(
        "name: net-env\nships:\n  local: {}\n{}",
        testbed().local_ship(),
        NETWORKS.replace("IMAGE", crate::engine_support::IMAGE)
    );
    let file = dir.write("maestro.yaml", text);
    // The plan creates the missing network first, once per container that needs it.
    let out = maestro(&file, &["plan", "--json"]);
    assert_code(&out, 3);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON document");
    for row in doc["containers"].as_array().expect("containers") {
        let ops = &row["operations"];
        assert_eq!(ops[0]["op"], "create network net-front", "{row}");
        assert_eq!(ops[0]["cause"], "missing on the ship", "{row}");
        assert!(
            !ops.to_string().contains("net-outside"),
            "an external network is created: {row}"
        );
        assert!(
            !ops.to_string().contains("net-byhand"),
            "an existing network is created: {row}"
        );
    }
    assert_code(&maestro(&file, &["up"]), 0);

    let net = inspect_object("network", "net-front").expect("net-front was created");
    assert_eq!(net["Driver"], "bridge");
    assert_eq!(net["Labels"]["team"], "net-a");
    assert_eq!(net["Labels"]["io.maestro.environment"], "net-env");
    assert_eq!(net["IPAM"]["Config"][0]["Subnet"], "10.199.250.0/24");
    // The networks made by hand are still unlabelled: used, not made.
    let outside = inspect_object("network", "net-outside").expect("net-outside exists");
    assert!(
        outside["Labels"].get("io.maestro.environment").is_none(),
        "{outside}"
    );

    let ping = docker(
        &host,
        &[
            "exec",
            "net-cli-1",
            "ping",
            "-c",
            "1",
            "-W",
            "5",
            "db-alias",
        ],
    );
    assert!(ping.contains("1 packets received"), "{ping}");
    let cli = inspect(&host, "net-cli-1").expect("net-cli-1 exists");
    let attached = &cli["NetworkSettings"]["Networks"];
    for name in ["net-front", "net-outside", "net-byhand"] {
        assert!(
            attached.get(name).is_some(),
            "net-cli-1 is not on {name}: {attached}"
        );
    }
    let srv = inspect(&host, "net-srv-1").expect("net-srv-1 exists");
    let aliases = srv["NetworkSettings"]["Networks"]["net-front"]["Aliases"].to_string();
    assert!(aliases.contains("db-alias"), "{aliases}");

    assert_code(&maestro(&file, &["plan"]), 0);
    // Another alias: the container's networks changed.
    let changed = dir.write(
        "changed.yaml",
        std::fs::read_to_string(&file)
            .expect("the file")
            .replace("[db-alias]", "[db-alias, db2]"),
    );
    let out = maestro(&changed, &["plan"]);
    assert_code(&out, 3);
    let line = crate::engine_support::line_of(&out, "net-srv-1");
    assert!(
        line.trim_end().ends_with("recreate (networks changed)"),
        "{line}"
    );

    // In use: kept. Then stopped and removed: removed, the others kept.
    let out = maestro(&file, &["clean", "--networks"]);
    assert_code(&out, 0);
    assert_said(&out, "network net-front on ship local: kept (in use by");
    assert!(inspect_object("network", "net-front").is_some());
    assert_code(&maestro(&file, &["stop", "-a"]), 0);
    let out = maestro(&file, &["clean", "--networks"]);
    assert_code(&out, 0);
    assert_said(&out, "network net-front on ship local: removed");
    assert_said(
        &out,
        "network net-byhand on ship local: kept (not made by this environment)",
    );
    assert!(
        inspect_object("network", "net-front").is_none(),
        "net-front is left"
    );
    assert!(
        inspect_object("network", "net-outside").is_some(),
        "external removed"
    );
    assert!(
        inspect_object("network", "net-byhand").is_some(),
        "hand-made removed"
    );
    assert!(!out.stdout().contains("net-outside"), "{}", out.report());
}

#[test]
fn data_in_a_named_volume_survives_a_recreate_and_clean_and_clean_volumes_removes_it_when_unused() {
    let _containers = Cleanup::new(&["vol-1"]);
    let _objects = Objects::new(&[], &["vol-data"]);
    let host = local();
    let dir = Dir::new();
    let file_for = |value: &str| {
        let text = format!(
            "name: vol-env\nships:\n  local: {}\nvolumes:\n  vol-data: {{labels: {{team: vol-a}}}}\nservices:\n  box:\n    image: {IMAGE}\n    instances:\n      vol-1: {{ship: local, stop_timeout: 1, command: [sleep, '300'], volumes: {{/data: vol-data}}, env: {{V: '{value}'}}}}\n",
            testbed().local_ship()
        );
        dir.write("maestro.yaml", text)
    };
    let file = file_for("1");
    let out = maestro(&file, &["plan", "--json"]);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("one JSON document");
    assert_eq!(
        doc["containers"][0]["operations"][0]["op"], "create volume vol-data",
        "{doc}"
    );
    assert_code(&maestro(&file, &["up"]), 0);
    let volume = inspect_object("volume", "vol-data").expect("vol-data was created");
    assert_eq!(volume["Labels"]["team"], "vol-a");
    assert_eq!(volume["Labels"]["io.maestro.environment"], "vol-env");
    docker(&host, &["exec", "vol-1", "sh", "-c", "echo kept > /data/f"]);

    let before = container_id(&host, "vol-1");
    let file = file_for("2");
    assert_code(&maestro(&file, &["up"]), 0);
    assert_ne!(
        container_id(&host, "vol-1"),
        before,
        "vol-1 was not recreated"
    );
    assert_eq!(
        docker(&host, &["exec", "vol-1", "cat", "/data/f"]).trim(),
        "kept"
    );

    // In use (by vol-1, and by the replaced one kept for a rollback): kept
    // by --volumes.
    let out = maestro(&file, &["clean", "--volumes"]);
    assert_code(&out, 0);
    assert_said(
        &out,
        "volume vol-data on ship local: kept (in use by vol-1, vol-1.previous)",
    );
    // A plain clean removes the container, never the volume.
    assert_code(&maestro(&file, &["stop", "-a"]), 0);
    let out = maestro(&file, &["clean"]);
    assert_code(&out, 0);
    assert!(inspect(&host, "vol-1").is_none(), "vol-1 was not removed");
    assert!(
        inspect_object("volume", "vol-data").is_some(),
        "clean removed the volume"
    );
    assert_code(&maestro(&file, &["up"]), 0);
    assert_eq!(
        docker(&host, &["exec", "vol-1", "cat", "/data/f"]).trim(),
        "kept"
    );

    assert_code(&maestro(&file, &["stop", "-a"]), 0);
    let out = maestro(&file, &["clean", "--previous", "--volumes"]);
    assert_code(&out, 0);
    assert_said(&out, "volume vol-data on ship local: removed");
    assert!(
        inspect_object("volume", "vol-data").is_none(),
        "vol-data is left"
    );
}

#[test]
fn a_network_and_a_volume_are_made_on_each_ship_that_needs_them() {
    let _ships = crate::testbed::use_ships();
    let _containers = Cleanup::new(&["net-two-1", "net-two-2"]);
    let _objects = Objects::new(&["net-two"], &["vol-two"]);
    let t = testbed();
    let dir = Dir::new();
    let text = format!(
        "name: net-two-env\nships:\n  local: {}\n  ship2: {}\nnetworks:\n  net-two: {{labels: {{team: two}}}}\nvolumes:\n  vol-two: {{}}\nservices:\n  two:\n    image: {IMAGE}\n    networks: [net-two]\n    instances:\n      net-two-1: {{ship: local, stop_timeout: 1, command: [sleep, '300'], volumes: {{/v: vol-two}}}}\n      net-two-2: {{ship: ship2, stop_timeout: 1, command: [sleep, '300'], volumes: {{/v: vol-two}}}}\n",
        t.local_ship(),
        t.ship2_tcp()
    );
    let file = dir.write("maestro.yaml", text);
    assert_code(&maestro(&file, &["up"]), 0);
    for host in [t.local_host(), t.ship2_host()] {
        let net = inspect_object_on(&host, "network", "net-two")
            .unwrap_or_else(|| panic!("net-two is missing on {host}"));
        assert_eq!(
            net["Labels"]["io.maestro.environment"], "net-two-env",
            "{host}"
        );
        assert!(
            inspect_object_on(&host, "volume", "vol-two").is_some(),
            "vol-two is missing on {host}"
        );
    }
    assert_code(&maestro(&file, &["stop", "-a"]), 0);
    let out = maestro(&file, &["clean", "--networks", "--volumes"]);
    assert_code(&out, 0);
    for ship in ["local", "ship2"] {
        assert_said(&out, &format!("network net-two on ship {ship}: removed"));
        assert_said(&out, &format!("volume vol-two on ship {ship}: removed"));
    }
    for host in [t.local_host(), t.ship2_host()] {
        assert!(
            inspect_object_on(&host, "network", "net-two").is_none(),
            "{host}"
        );
        assert!(
            inspect_object_on(&host, "volume", "vol-two").is_none(),
            "{host}"
        );
    }
}
