//! Compose projects laid out as environments.

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::*;

/// Loads `text` as `compose.yaml` in a fresh directory; no process
/// environment.
fn load(text: &str) -> Result<Environment, LoadError> {
    let dir = std::env::temp_dir().join(format!(
        "maestro-compose-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join("compose.yaml");
    std::fs::write(&file, text).expect("write");
    let opts = Options {
        files: vec![file],
        environment: Some(BTreeMap::from([(
            "HOME".to_string(),
            "/home/u".to_string(),
        )])),
        ..Options::default()
    };
    let out = super::load(&opts, Needs::default()).map(|c| c.environment);
    let _ = std::fs::remove_dir_all(&dir);
    out
}

static COUNTER: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

fn errors(r: Result<Environment, LoadError>) -> String {
    match r {
        Ok(_) => "loaded".into(),
        Err(e) => e.to_string(),
    }
}

const APP: &str = "name: shop
x-maestro:
  ships:
    vm1: {ip: 10.0.0.1}
    vm2: {ip: 10.0.0.2}
services:
  db:
    image: postgres:16
    ports: ['5432:5432']
    volumes: [pgdata:/var/lib/postgresql/data]
    healthcheck: {test: [CMD, pg_isready], interval: 2s}
    x-maestro: {ships: [vm1]}
  web:
    image: shop/web:1
    depends_on: {db: {condition: service_healthy}}
    environment: {MODE: prod, UNSET:}
    deploy:
      replicas: 3
      update_config: {parallelism: 1, order: start-first}
    x-maestro: {ships: [vm1, vm2]}
volumes:
  pgdata:
";

#[test]
fn replicas_are_instances_spread_over_their_ships() {
    let env = load(APP).expect("loads");
    assert_eq!(env.name, "shop");
    let web: Vec<(&str, &str)> = env
        .containers
        .values()
        .filter(|c| c.service == "web")
        .map(|c| (c.name.as_str(), c.ship.as_str()))
        .collect();
    assert_eq!(
        web,
        [
            ("shop-web-1", "vm1"),
            ("shop-web-2", "vm2"),
            ("shop-web-3", "vm1")
        ]
    );
    assert_eq!(env.containers["shop-db-1"].ship, "vm1");
}

#[test]
fn each_replica_gets_its_dependencies_addresses_and_its_own_variables() {
    let env = load(APP).expect("loads");
    let vars = env.containers["shop-web-2"].env.resolved();
    assert_eq!(
        vars.get("DB_SHOP_DB_1_HOST").copied().flatten(),
        Some("10.0.0.1")
    );
    assert_eq!(
        vars.get("DB_SHOP_DB_1_5432_PORT").copied().flatten(),
        Some("5432")
    );
    assert_eq!(vars.get("MODE").copied().flatten(), Some("prod"));
    assert!(!vars.contains_key("UNSET"), "an unset variable stays out");
    assert_eq!(
        vars.get("CONTAINER_HOST_ADDRESS").copied().flatten(),
        Some("10.0.0.2")
    );
}

#[test]
fn a_service_healthy_dependency_gets_a_healthy_check_and_orders_the_start() {
    let env = load(APP).expect("loads");
    let db = &env.containers["shop-db-1"];
    assert!(
        db.lifecycle
            .running
            .iter()
            .any(|c| matches!(c, crate::Check::Healthy { .. })),
        "{:?}",
        db.lifecycle.running
    );
    assert!(env.containers["shop-web-1"].lifecycle.running.is_empty());
    assert!(env.graph.deptree(&["web".to_string()], true).contains("db"));
}

#[test]
fn compose_labels_name_the_project_service_and_replica() {
    let env = load(APP).expect("loads");
    let labels = &env.containers["shop-web-3"].labels;
    let get = |k: &str| labels.get(k).map(String::as_str);
    assert_eq!(get("com.docker.compose.project"), Some("shop"));
    assert_eq!(get("com.docker.compose.service"), Some("web"));
    assert_eq!(get("com.docker.compose.container-number"), Some("3"));
    assert_eq!(get("com.docker.compose.oneoff"), Some("False"));
}

#[test]
fn swarm_hostname_constraints_place_replicas() {
    let text = APP.replace(
        "    x-maestro: {ships: [vm1]}\n",
        "    deploy: {placement: {constraints: ['node.hostname == vm2', 'node.role == worker']}}\n",
    );
    let env = load(&text).expect("loads");
    assert_eq!(env.containers["shop-db-1"].ship, "vm2");
    assert!(env
        .warnings
        .iter()
        .any(|w| w.message.contains("node.role == worker")));
}

#[test]
fn a_replica_placed_on_an_unknown_ship_is_a_located_error() {
    let text = APP.replace("ships: [vm1, vm2]}", "ships: [vm1, vm9]}");
    let e = errors(load(&text));
    assert!(e.contains("compose.yaml:13:3: services/web: replica 2 is placed on the unknown ship `vm9`; the ships are vm1, vm2"), "{e}");
}

#[test]
fn without_ships_every_replica_runs_on_the_default_ship() {
    let env = load("services:\n  web: {image: nginx, deploy: {replicas: 2}}\n").expect("loads");
    let ships: Vec<&str> = env.containers.values().map(|c| c.ship.as_str()).collect();
    assert_eq!(ships, ["local", "local"]);
}

#[test]
fn a_container_name_with_replicas_is_refused() {
    let e = errors(load(
        "services:\n  web: {image: nginx, container_name: w, deploy: {replicas: 2}}\n",
    ));
    assert!(
        e.contains("services/web/container_name: a container name is one container's"),
        "{e}"
    );
}

#[test]
fn unknown_x_maestro_keys_are_located_errors() {
    let e = errors(load(
        "x-maestro: {shps: {}}\nservices:\n  web: {image: nginx}\n",
    ));
    assert!(
        e.contains("compose.yaml:1:1: x-maestro/shps: unknown key `shps`"),
        "{e}"
    );
}

#[test]
fn keys_maestro_does_not_read_are_warned_about() {
    let env = load("services:\n  web: {image: nginx, tty: true, ports: ['80']}\n").expect("loads");
    let w: Vec<String> = env.warnings.iter().map(ToString::to_string).collect();
    assert!(
        w.iter().any(|w| w.contains("services/web/tty: is ignored")),
        "{w:?}"
    );
    assert!(
        w.iter()
            .any(|w| w.contains("services/web/ports[0]: container port 80 has no published port")),
        "{w:?}"
    );
}

#[test]
fn files_are_told_apart_by_name_then_content() {
    let dir = std::env::temp_dir().join(format!("maestro-detect-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let is_compose_file = |p: &std::path::Path| file_kind(p) == FileKind::Compose;
    let write = |n: &str, t: &str| {
        let p: PathBuf = dir.join(n);
        std::fs::write(&p, t).expect("write");
        p
    };
    assert!(is_compose_file(&write("compose.yaml", "services: {}")));
    assert!(is_compose_file(&write("docker-compose.prod.yml", "")));
    assert!(is_compose_file(&write(
        "app.yaml",
        "services:\n  web: {image: nginx}\n"
    )));
    assert!(!is_compose_file(&write(
        "maestro.yaml",
        "name: x\nservices:\n  web: {image: nginx, instances: {w1: {}}}\n"
    )));
    assert!(!is_compose_file(&write(
        "t.yaml",
        "name: x\nships: {}\nservices:\n  web: {image: nginx}\n"
    )));
    assert_eq!(
        file_kind(&write(
            "ships.yaml",
            "x-maestro: {ships: {vm1: {ip: 10.0.0.1}}}\n"
        )),
        FileKind::Either
    );
    assert_eq!(
        file_kind(&write("inc.yaml", "include: [a.yaml]\n")),
        FileKind::Compose
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn secrets_and_configs_are_delivered_as_files() {
    let env = load(
        "services:
  app:
    image: app
    secrets: [db_pw, {source: api, target: key, uid: '103', mode: 0400}]
    configs: [{source: conf, mode: 0444}]
secrets:
  db_pw: {environment: DB_PW}
  api: {file: ./api.txt}
configs:
  conf: {content: 'a=1'}
",
    )
    .expect("loads");
    let c = env.containers.values().next().expect("one container");
    let mounts: Vec<(&str, &str, u32, u32)> = c
        .options
        .secrets
        .iter()
        .map(|s| (s.source.as_str(), s.target.as_str(), s.uid, s.mode))
        .collect();
    assert_eq!(
        mounts,
        [
            ("db_pw", "/run/secrets/db_pw", 0, 0o444),
            ("api", "/run/secrets/key", 103, 0o400),
            ("config.conf", "/conf", 0, 0o444),
        ]
    );
    assert!(matches!(
        &env.secrets["config.conf"].from,
        crate::SecretFrom::Command { argv, .. } if argv == &["printf", "%s", "a=1"]
    ));
}

const TWO_SHIPS: &str = "x-maestro:
  ships:
    vm1: {ip: 10.0.0.1}
    vm2: {ip: 10.0.0.2}
";

#[test]
fn a_service_sharing_anothers_container_runs_on_its_ship_by_its_name() {
    let text = format!(
        "name: p
{TWO_SHIPS}services:
  db: {{image: pg, container_name: mydb, x-maestro: {{ships: [vm2]}}}}
  side: {{image: box, network_mode: 'service:db', deploy: {{replicas: 2}}}}
  tool: {{image: box, pid: 'service:db', ipc: 'service:db'}}
"
    );
    let env = load(&text).expect("loads");
    for name in ["p-side-1", "p-side-2", "p-tool-1"] {
        assert_eq!(env.containers[name].ship, "vm2", "{name}");
    }
    assert_eq!(
        env.containers["p-side-2"].network_mode.as_deref(),
        Some("container:mydb")
    );
    assert_eq!(
        env.containers["p-tool-1"].options.pid.as_deref(),
        Some("container:mydb")
    );
    let placed = text.replace(
        "deploy: {replicas: 2}}",
        "deploy: {replicas: 2}, x-maestro: {ships: [vm1, vm2]}}",
    );
    let e = errors(load(&placed));
    assert!(
        e.contains("services/side/network_mode: replica 1 is placed on `vm1`, but it shares the container of `db`, which runs on `vm2`"),
        "{e}"
    );
}

#[test]
fn what_maestro_leaves_out_of_deploy_mounts_hosts_and_logging_is_named() {
    let env = load(
        "services:
  web:
    image: nginx
    extra_hosts: ['multi=1.2.3.4', 'multi=5.6.7.8']
    logging: {options: {max-size: 1m}}
    volumes: [{type: volume, source: data, target: /d, volume: {subpath: sub}}]
    deploy:
      resources: {limits: {cpus: '0.5', memory: 64m}, reservations: {memory: 32m}}
      placement: {preferences: [{spread: node.labels.zone}]}
volumes: {data: {}}
",
    )
    .expect("loads");
    let w: Vec<String> = env.warnings.iter().map(ToString::to_string).collect();
    for expected in [
        "services/web/extra_hosts: `multi` has several addresses",
        "services/web/logging: `options` without `driver` are ignored",
        "services/web/volumes[0]: `volume.subpath` is not supported",
        "services/web/deploy/resources/limits/cpus: is ignored",
        "services/web/deploy/resources/reservations: is ignored",
        "services/web/deploy/placement/preferences: is ignored",
    ] {
        assert!(w.iter().any(|w| w.contains(expected)), "{expected}: {w:#?}");
    }
    let c = env.containers.values().next().expect("one container");
    assert_eq!(c.extra_hosts["multi"], "1.2.3.4");
    assert_eq!(c.limits.memory, Some(64 * 1024 * 1024));
}

#[test]
fn an_error_in_an_overrides_service_names_the_override() {
    let dir = std::env::temp_dir().join(format!("maestro-override-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    std::fs::write(dir.join("compose.yaml"), "services:\n  web: {image: box}\n").expect("write");
    std::fs::write(
        dir.join("compose.override.yaml"),
        "\n\nservices:\n  tool: {image: box, pid: bogus}\n",
    )
    .expect("write");
    let opts = Options {
        files: vec!["compose.yaml".into(), "compose.override.yaml".into()],
        project_directory: Some(dir.clone()),
        environment: Some(BTreeMap::new()),
        ..Options::default()
    };
    let opts = Options {
        files: opts.files.iter().map(|f| dir.join(f)).collect(),
        ..opts
    };
    let e = super::load(&opts, Needs::default())
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        e.contains("compose.override.yaml:4:3: services/tool/"),
        "{e}"
    );
}
