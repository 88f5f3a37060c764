//! The guest helpers end to end (issue 6): `maestro start` of the example
//! three-node service (examples/guest-cluster: one node on the local ship,
//! two on ship2), whose entrypoint renders each node's view of the cluster
//! with the static `maestro-guest`; the rendered file, read back through each
//! engine and over HTTP from the host, lists every peer with its ship's
//! address and published port.

use std::process::{Command, Stdio};

use crate::engine_support::{image_id_if_any, run_ok};
use crate::testbed::{docker, testbed, use_ships, Cleanup};
use crate::util::{workspace_root, TestCommand};

const IMAGE: &str = "maestro-test/guest-cluster:1";

/// Builds the example image on the local engine and copies it to ship2.
fn image_on_both_ships(ship2: &str) {
    run_ok(Command::new(workspace_root().join("scripts/build-guest")).arg("--image"));
    let local =
        image_id_if_any(&testbed().local_host(), IMAGE).expect("the image was built locally");
    if image_id_if_any(ship2, IMAGE).as_deref() != Some(local.as_str()) {
        let mut save = Command::new("docker")
            .args(["-H", &testbed().local_host(), "save", IMAGE])
            .stdout(Stdio::piped())
            .spawn()
            .expect("docker save runs");
        run_ok(
            Command::new("docker")
                .args(["-H", ship2, "load", "-q"])
                .stdin(save.stdout.take().expect("piped")),
        );
        assert!(save.wait().expect("docker save ends").success());
    }
}

#[test]
fn three_nodes_on_two_ships_render_the_whole_cluster() {
    let bed = testbed();
    let _ships = use_ships();
    let ship2 = bed.ship2_host();
    image_on_both_ships(&ship2);
    let nodes = ["node-1", "node-2", "node-3"];
    let _cleanup = Cleanup::new(&nodes);
    let file = workspace_root().join("examples/guest-cluster/maestro.yaml");

    let start = TestCommand::maestro()
        .arg("-f")
        .arg(&file)
        .arg("start")
        .run();
    start.assert_success();

    let local_ip = bed.var("TESTBED_LOCAL_IP");
    let ship2_ip = bed.var("TESTBED_SHIP2_IP");
    let expected_nodes = [
        format!("node.1={local_ip}:18091"),
        format!("node.2={ship2_ip}:18092"),
        format!("node.3={ship2_ip}:18093"),
    ];
    for (node, host, ip, port) in [
        ("node-1", bed.local_host(), local_ip, 18091),
        ("node-2", ship2.clone(), ship2_ip, 18092),
        ("node-3", ship2.clone(), ship2_ip, 18093),
    ] {
        let rendered = docker(&host, &["exec", node, "cat", "/etc/cluster/nodes.conf"]);
        for line in &expected_nodes {
            assert!(
                rendered.lines().any(|l| l.trim() == line),
                "{node}'s nodes.conf lacks `{line}`:\n{rendered}"
            );
        }
        assert!(
            rendered.lines().any(|l| l.trim() == format!("self={node}")),
            "{node}'s nodes.conf does not name itself:\n{rendered}"
        );
        // The same file, served by the node on its published port, from the host.
        let served = http_get(ip, port, "/nodes.conf");
        assert_eq!(
            served.trim(),
            rendered.trim(),
            "{node} serves what it rendered"
        );
    }

    let stop = TestCommand::maestro()
        .arg("-f")
        .arg(&file)
        .args(["stop", "-a"])
        .run();
    stop.assert_success();
    let clean = TestCommand::maestro()
        .arg("-f")
        .arg(&file)
        .arg("clean")
        .run();
    clean.assert_success();
    assert!(crate::testbed::inspect(&ship2, "node-2").is_none());
}

/// The body of `GET path` on `ip:port` (plain HTTP/1.0, no client needed).
fn http_get(ip: &str, port: u16, path: &str) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect((ip, port))
        .unwrap_or_else(|e| panic!("cannot connect to {ip}:{port}: {e}"));
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .expect("read timeout");
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {ip}\r\n\r\n").expect("request sent");
    let mut reply = String::new();
    stream.read_to_string(&mut reply).expect("reply read");
    match reply.split_once("\r\n\r\n") {
        Some((head, body)) => {
            assert!(
                head.starts_with("HTTP/1.") && head.contains(" 200 "),
                "{head}"
            );
            body.to_owned()
        }
        None => panic!("not an HTTP reply from {ip}:{port}: {reply}"),
    }
}
