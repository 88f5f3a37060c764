//! The guest-cluster example (`examples/guest-cluster`): the environment each
//! of its containers receives (computed by maestro-config from the example's
//! `maestro.yaml`) renders, through the image's template, a configuration that
//! lists every node of the service with its host address and external port.
//! (The end-to-end run with `maestro start` on two ships lives with the
//! engine's tests.)

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn example_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("..")
        .join("examples")
        .join("guest-cluster")
}

#[test]
fn every_node_lists_all_peers() {
    let dir = example_dir();
    let source = maestro_config::Source::from_file(&dir.join("maestro.yaml")).unwrap();
    let environment = maestro_config::load(&source, &BTreeMap::new()).unwrap();
    let template_path = dir.join("nodes.conf.j2");
    let template = std::fs::read_to_string(&template_path).unwrap();

    let expected_nodes = "node.1=10.77.0.1:18091\nnode.2=10.77.0.2:18092\nnode.3=10.77.0.2:18093\n";
    assert_eq!(environment.containers.len(), 3);
    for (name, container) in &environment.containers {
        let env: BTreeMap<String, String> = container
            .env
            .resolved()
            .into_iter()
            .filter_map(|(k, v)| Some((k.to_string(), v?.to_string())))
            .collect();
        let host = &environment.ships[&container.ship].ip;
        let text = maestro_guest::render::render_str("nodes.conf.j2", &template, env.clone())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(
            text,
            format!(
                "# cluster cluster of environment guest-cluster\nself={name}\nhost={host}\n{expected_nodes}"
            ),
            "{name}"
        );
        // the entrypoint's port
        assert_eq!(maestro_guest::get_port(&env, "http", Some(8080)), Ok(8080));
    }
}

#[test]
fn too_small_a_cluster_fails_with_position() {
    let template = std::fs::read_to_string(example_dir().join("nodes.conf.j2")).unwrap();
    let env: BTreeMap<String, String> = [
        ("SERVICE_NAME", "cluster"),
        ("CONTAINER_NAME", "node-1"),
        ("CONTAINER_HOST_ADDRESS", "10.77.0.1"),
        ("CLUSTER_SIZE", "3"),
        ("CLUSTER_INSTANCES", "node-1"),
        ("CLUSTER_NODE_1_HOST", "10.77.0.1"),
        ("CLUSTER_NODE_1_HTTP_PORT", "18091"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let err = maestro_guest::render::render_str("nodes.conf.j2", &template, env).unwrap_err();
    assert!(err.line.is_some() && err.column.is_some(), "{err}");
    assert!(
        err.message
            .contains("No or not enough cluster nodes configured"),
        "{err}"
    );
}
