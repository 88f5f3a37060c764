//! The command line without an engine: dump, deptree, complete, help, version, exit statuses.

use std::io::{BufRead, BufReader, Read};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::util::{Dir, Output, TestCommand};

/// db <- web <- lb, plus an unrelated service; services are declared out of
/// dependency order and out of alphabetical order on purpose. Holds secrets
/// that `dump` must never print.
const SHOP: &str = r#"name: shop
registries:
  private:
    registry: https://registry.example.com
    username: deploy
    password: s3cr3t-registry-pw
ships:
  vm1: {ip: 10.0.0.1}
  vm2: {ip: 10.0.0.2}
services:
  lb:
    image: haproxy
    requires: [web]
    instances:
      lb-1: {ship: vm1, ports: {http: 80}}
  web:
    image: registry.example.com/web:1.2
    requires: [db]
    instances:
      web-1: {ship: vm1, ports: {http: 8080}}
      web-2: {ship: vm2, ports: {http: 8080}}
  db:
    image: postgres:16
    instances:
      db-1: {ship: vm2, ports: {pg: 5432}}
  metrics:
    image: prom/prometheus
    instances:
      metrics-1: {ship: vm1}
audit:
  - type: slack
    channel: ops
    token: xoxb-slack-token-123
"#;

const SECRETS: &[&str] = &["s3cr3t-registry-pw", "xoxb-slack-token-123"];

/// Five services: e requires b and d, b requires a, d requires a and c.
const TREE: &str = r#"name: tree
ships:
  vm1: {ip: 10.0.0.1}
services:
  e:
    image: e
    requires: [b, d]
    instances: {e-1: {ship: vm1}}
  d:
    image: d
    requires: [c, a]
    instances: {d-1: {ship: vm1}}
  c:
    image: c
    instances: {c-1: {ship: vm1}}
  b:
    image: b
    requires: [a]
    instances: {b-1: {ship: vm1}}
  a:
    image: a
    instances: {a-1: {ship: vm1}}
"#;

/// A scratch directory holding `maestro.yaml` with `text`.
fn env_dir(text: &str) -> Dir {
    let dir = Dir::new();
    dir.write("maestro.yaml", text);
    dir
}

/// `maestro ARGS` run in `dir` (so `./maestro.yaml` is found).
fn maestro_in(dir: &Dir, args: &[&str]) -> Output {
    TestCommand::maestro()
        .current_dir(dir.path())
        .args(args)
        .run()
}

fn assert_code(out: &Output, code: i32) {
    assert_eq!(
        out.code(),
        Some(code),
        "unexpected exit status\n{}",
        out.report()
    );
}

/// Exit status 2, one `ERROR:` sentence first on stderr, nothing on stdout.
fn assert_usage_error(out: &Output) {
    assert_code(out, 2);
    assert!(
        out.stderr().starts_with("ERROR: "),
        "a usage error starts with `ERROR: `\n{}",
        out.report()
    );
    assert!(out.stdout.is_empty(), "nothing on stdout\n{}", out.report());
}

fn json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("stdout is not one JSON document ({e})\n{}", out.report()))
}

/// The container names of a dump, in the order printed (checked on the text
/// too, so the result does not depend on serde_json's map ordering).
fn container_order(out: &Output) -> Vec<String> {
    let doc = json(out);
    let names: Vec<String> = doc["containers"]
        .as_object()
        .unwrap_or_else(|| panic!("`containers` is a map\n{}", out.report()))
        .keys()
        .cloned()
        .collect();
    let text = out.stdout();
    let start = text.find("\"containers\"").expect("containers key");
    let positions: Vec<usize> = names
        .iter()
        .map(|n| {
            start
                + text[start..]
                    .find(&format!("\"{n}\": {{"))
                    .unwrap_or_else(|| panic!("{n} in the containers text"))
        })
        .collect();
    assert!(
        positions.windows(2).all(|w| w[0] < w[1]),
        "container order in the text differs from the parsed order {names:?}"
    );
    names
}

#[test]
fn help_exits_0() {
    for args in [&["--help"][..], &["-h"], &["help"], &["dump", "--help"]] {
        let out = TestCommand::maestro().args(args).run();
        assert_code(&out, 0);
        assert!(
            out.stdout().contains("Usage: maestro"),
            "help shows the usage\n{}",
            out.report()
        );
        assert!(
            out.stderr.is_empty(),
            "help writes nothing on stderr\n{}",
            out.report()
        );
    }
    let out = TestCommand::maestro().arg("--help").run();
    for command in [
        "status", "start", "stop", "restart", "deptree", "dump", "complete",
    ] {
        assert!(out.stdout().contains(command), "--help lists `{command}`");
    }
}

#[test]
fn version_exits_0() {
    for flag in ["-v", "--version"] {
        let out = TestCommand::maestro().arg(flag).run();
        assert_code(&out, 0);
        assert_eq!(
            out.stdout(),
            format!("maestro {}\n", env!("CARGO_PKG_VERSION")),
            "{}",
            out.report()
        );
        assert!(out.stderr.is_empty(), "{}", out.report());
    }
}

#[test]
fn unknown_command_is_a_usage_error() {
    let dir = env_dir(SHOP);
    let out = maestro_in(&dir, &["frobnicate"]);
    assert_usage_error(&out);
    assert!(
        out.stderr().contains("frobnicate"),
        "names the command\n{}",
        out.report()
    );
}

#[test]
fn no_command_prints_usage_on_stderr_with_status_2() {
    let dir = env_dir(SHOP);
    let out = maestro_in(&dir, &[]);
    assert_eq!(out.code(), Some(2), "{}", out.report());
    assert!(out.stdout().is_empty(), "{}", out.report());
    assert!(out.stderr().contains("Usage: maestro"), "{}", out.report());
    assert!(
        !out.stderr().starts_with("ERROR: Orchestrate"),
        "{}",
        out.report()
    );
    // A short usage that points at the help, not the whole help.
    assert!(out.stderr().lines().count() <= 8, "{}", out.report());
    assert!(out.stderr().contains("maestro --help"), "{}", out.report());
    assert!(
        out.stderr()
            .contains("Commands: status, pull, start, stop, kill, restart"),
        "{}",
        out.report()
    );
    assert!(!out.stderr().contains("--file <FILE>"), "{}", out.report());
}

/// `exec` without `--` says where the command goes, with the user's own
/// words; the same without a command.
#[test]
fn exec_without_the_separator_says_to_put_the_command_after_it() {
    let dir = env_dir(SHOP);
    let out = maestro_in(&dir, &["exec", "web-1", "hostname"]);
    assert_usage_error(&out);
    let first = out.stderr().lines().next().unwrap_or_default().to_owned();
    assert!(
        first.ends_with("; put the command after `--`: maestro exec web-1 -- hostname"),
        "{}",
        out.report()
    );
    let out = maestro_in(&dir, &["exec", "-c", "2", "web"]);
    assert_usage_error(&out);
    assert!(
        out.stderr()
            .contains("put the command after `--`: maestro exec web -- hostname"),
        "{}",
        out.report()
    );
    // With the separator, no hint (the command runs, or fails otherwise).
    let out = maestro_in(&dir, &["exec", "web-1", "--"]);
    assert!(
        !out.stderr().contains("put the command"),
        "{}",
        out.report()
    );
}

#[test]
fn unknown_flag_is_a_usage_error() {
    let dir = env_dir(SHOP);
    assert_usage_error(&maestro_in(&dir, &["--frobnicate", "dump"]));
    let out = maestro_in(&dir, &["start", "--frobnicate"]);
    assert_usage_error(&out);
    assert!(
        out.stderr().contains("--frobnicate"),
        "names the flag\n{}",
        out.report()
    );
}

#[test]
fn refresh_and_reuse_exclude_each_other() {
    let dir = env_dir(SHOP);
    for args in [
        &["start", "-r", "--reuse"][..],
        &["restart", "--refresh-images", "--reuse", "-a"],
    ] {
        let out = maestro_in(&dir, args);
        assert_usage_error(&out);
        assert!(out.stderr().contains("--reuse"), "{}", out.report());
    }
}

#[test]
fn concurrency_zero_is_a_usage_error() {
    let dir = env_dir(SHOP);
    for args in [
        &["start", "-c", "0"][..],
        &["status", "--concurrency", "0"],
        &["stop", "-a", "-c", "x"],
    ] {
        assert_usage_error(&maestro_in(&dir, args));
    }
}

/// `--batch` takes a count of at least 1 or a share from 1% to 100%;
/// anything else is a usage error naming the value and the two forms.
#[test]
fn a_bad_batch_size_is_a_usage_error_naming_the_forms() {
    let dir = env_dir(SHOP);
    for (args, value) in [
        (&["up", "--batch", "0"][..], "0"),
        (&["restart", "-a", "--batch", "150%"], "150%"),
        (&["plan", "--batch", "half"], "half"),
        (&["up", "--batch", "2.5"], "2.5"),
    ] {
        let out = maestro_in(&dir, args);
        assert_usage_error(&out);
        assert!(
            out.stderr()
                .contains(&format!("\"{value}\" is not a batch size"))
                && out.stderr().contains("(e.g. 2)")
                && out.stderr().contains("(e.g. 50%)"),
            "{}",
            out.report()
        );
    }
}

/// Exit 1 as MaestroNG (it checks this after parsing the arguments).
#[test]
fn stop_like_commands_need_things_or_all() {
    let dir = env_dir(SHOP);
    for command in ["stop", "kill", "restart"] {
        let out = maestro_in(&dir, &[command]);
        assert_code(&out, 1);
        assert_eq!(
            out.stderr(),
            format!(
                "ERROR: No services or containers specified for {command}, and --all not set.\n"
            ),
            "{}",
            out.report()
        );
        assert!(out.stdout.is_empty(), "{}", out.report());
    }
}

#[test]
fn dump_is_json_in_dependency_order() {
    let dir = env_dir(SHOP);
    let out = maestro_in(&dir, &["dump"]);
    assert_code(&out, 0);
    let doc = json(&out);
    assert_eq!(doc["name"], "shop");
    for key in ["ships", "services", "containers"] {
        assert!(doc[key].is_object(), "`{key}` is a map\n{}", out.report());
    }
    assert_eq!(
        doc["ships"].as_object().unwrap().keys().collect::<Vec<_>>(),
        ["vm1", "vm2"]
    );
    assert_eq!(
        doc["services"]["web"]["requires"],
        serde_json::json!(["db"])
    );
    assert_eq!(doc["containers"]["lb-1"]["ship"], "vm1");
    assert_eq!(doc["containers"]["web-2"]["env"]["DB_DB_1_PG_PORT"], "5432");

    let order = container_order(&out);
    let at = |name: &str| {
        order
            .iter()
            .position(|n| n == name)
            .unwrap_or_else(|| panic!("{name} is dumped: {order:?}"))
    };
    assert_eq!(order.len(), 5, "{order:?}");
    assert!(
        at("db-1") < at("web-1") && at("db-1") < at("web-2"),
        "{order:?}"
    );
    assert!(
        at("web-1") < at("lb-1") && at("web-2") < at("lb-1"),
        "{order:?}"
    );
}

/// Neither alphabetical nor file order is dependency order here.
#[test]
fn dump_chain_starts_with_the_database() {
    let dir = env_dir(
        "name: chain\nships:\n  vm1: {ip: 10.0.0.1}\nservices:\n  lb:\n    image: lb\n    requires: [web]\n    instances: {lb-1: {ship: vm1}}\n  web:\n    image: web\n    requires: [db]\n    instances: {web-1: {ship: vm1}, web-2: {ship: vm1}}\n  db:\n    image: db\n    instances: {db-1: {ship: vm1}}\n",
    );
    let out = maestro_in(&dir, &["dump"]);
    assert_code(&out, 0);
    assert_eq!(container_order(&out), ["db-1", "web-1", "web-2", "lb-1"]);
}

/// Fails unless none of `secrets` appears on stdout or stderr.
fn assert_no_secrets(out: &Output, secrets: &[&str]) {
    for secret in secrets {
        assert!(
            !out.stdout().contains(secret) && !out.stderr().contains(secret),
            "`{secret}` is printed by `{}`",
            out.report()
        );
    }
}

#[test]
fn dump_never_prints_secrets() {
    let dir = env_dir(SHOP);
    for args in [
        &["dump"][..],
        &["dump", "-c"],
        &["dump", "web"],
        &["dump", "--config", "db"],
    ] {
        let out = maestro_in(&dir, args);
        assert_code(&out, 0);
        assert_no_secrets(&out, SECRETS);
    }
    let doc = json(&maestro_in(&dir, &["dump"]));
    assert_eq!(doc["registries"]["private"]["password"], "***");
    assert_eq!(doc["registries"]["private"]["username"], "deploy");
    assert_eq!(doc["audit"][0]["type"], "slack");
    assert_eq!(doc["audit"][0]["token"], "***");

    // The HipChat auditor is accepted (with a warning); its token is secret too.
    let dir = env_dir(
        "name: h\nships: {}\nservices: {}\naudit:\n  - {type: hipchat, room: ops, token: hipchat-token-456}\n",
    );
    for args in [&["dump"][..], &["dump", "-c"]] {
        let out = maestro_in(&dir, args);
        assert_code(&out, 0);
        assert_no_secrets(&out, &["hipchat-token-456"]);
        assert!(out.stderr().contains("WARNING: "), "{}", out.report());
    }
    assert_eq!(
        json(&maestro_in(&dir, &["dump"]))["audit"][0]["token"],
        "***"
    );
}

/// The password of an http check's `requests_options.auth` is a credential
/// as well: `dump` shows it as `***`, and so must `dump -c`.
#[test]
fn dump_masks_http_check_passwords() {
    let dir = env_dir(
        "name: c\nships: {vm1: {ip: 10.0.0.1}}\nservices:\n  web:\n    image: nginx\n    instances:\n      web-1:\n        ship: vm1\n        ports: {http: 8080}\n        lifecycle:\n          running:\n            - {type: http, port: http, requests_options: {auth: [monitor, http-check-pw-789]}}\n",
    );
    let out = maestro_in(&dir, &["dump"]);
    assert_code(&out, 0);
    assert_no_secrets(&out, &["http-check-pw-789"]);
    assert_eq!(
        json(&out)["containers"]["web-1"]["lifecycle"]["running"][0]["requests_options"]["auth"],
        serde_json::json!(["monitor", "***"])
    );
    let out = maestro_in(&dir, &["dump", "-c"]);
    assert_code(&out, 0);
    assert_no_secrets(&out, &["http-check-pw-789"]);
}

/// Credential headers of http checks and http auditors, and the path of a
/// webhook URL (its secret, for Slack's), are masked by `dump` and `dump -c`
/// alike; harmless headers and the webhook's host stay.
#[test]
fn dump_masks_headers_and_webhook_urls() {
    let dir = env_dir(
        r#"name: h
ships: {vm1: {ip: 10.0.0.1}}
services:
  web:
    image: nginx
    instances:
      web-1:
        ship: vm1
        ports: {http: 8080}
        lifecycle:
          running:
            - {type: http, port: http, requests_options: {headers: {Authorization: "Bearer check-bearer-1", X-Team: core}}}
audit:
  - type: http
    endpoint: https://hooks.example.com/services/T0/B0/webhook-path-2
    headers: {X-Api-Key: auditor-key-3, Content-Type: application/json}
  - {type: slack, channel: ops, token: slack-token-4, endpoint: "https://slack.example.com/api?t=slack-query-5"}
"#,
    );
    let secrets = [
        "check-bearer-1",
        "webhook-path-2",
        "auditor-key-3",
        "slack-token-4",
        "slack-query-5",
    ];
    for args in [&["dump"][..], &["dump", "-c"]] {
        let out = maestro_in(&dir, args);
        assert_code(&out, 0);
        assert_no_secrets(&out, &secrets);
        let shown = format!("{}{}", out.stdout(), out.stderr());
        for kept in ["https://hooks.example.com/***", "application/json", "core"] {
            assert!(
                shown.contains(kept),
                "`{kept}` is not shown\n{}",
                out.report()
            );
        }
    }
    let doc = json(&maestro_in(&dir, &["dump"]));
    assert_eq!(doc["audit"][0]["headers"]["X-Api-Key"], "***");
    assert_eq!(doc["audit"][1]["endpoint"], "https://slack.example.com/***");
}

#[test]
fn dump_things_keeps_dependencies_only() {
    let dir = env_dir(SHOP);
    let out = maestro_in(&dir, &["dump", "web"]);
    assert_code(&out, 0);
    assert_eq!(container_order(&out), ["db-1", "web-1", "web-2"]);

    // A container name selects its service's dependencies too.
    let out = maestro_in(&dir, &["dump", "lb-1"]);
    assert_code(&out, 0);
    assert_eq!(container_order(&out), ["db-1", "web-1", "web-2", "lb-1"]);

    let out = maestro_in(&dir, &["dump", "metrics"]);
    assert_code(&out, 0);
    assert_eq!(container_order(&out), ["metrics-1"]);

    let out = maestro_in(&dir, &["dump", "nope"]);
    assert_code(&out, 1);
    assert_eq!(
        out.stderr(),
        "ERROR: nope is neither a service nor a container\n"
    );
}

#[test]
fn file_from_stdin() {
    let dir = env_dir(SHOP);
    let from_file = maestro_in(&dir, &["dump"]);
    assert_code(&from_file, 0);

    let empty = Dir::new();
    let out = TestCommand::maestro()
        .current_dir(empty.path())
        .args(["-f", "-", "dump"])
        .stdin(SHOP)
        .run();
    assert_code(&out, 0);
    assert_eq!(json(&out), json(&from_file));
    assert!(out.stderr.is_empty(), "{}", out.report());

    // Relative paths of a description read from stdin resolve against the
    // current directory.
    let cwd = Dir::new();
    cwd.write("app.env", "GREETING=hello from stdin\n");
    let out = TestCommand::maestro()
        .current_dir(cwd.path())
        .args(["-f", "-", "dump"])
        .stdin("name: s\nships: {vm1: {ip: 10.0.0.1}}\nservices:\n  app:\n    image: app\n    envfile: app.env\n    instances: {app-1: {ship: vm1}}\n")
        .run();
    assert_code(&out, 0);
    assert_eq!(
        json(&out)["containers"]["app-1"]["env"]["GREETING"],
        "hello from stdin"
    );

    // Errors name `<stdin>`.
    let out = TestCommand::maestro()
        .current_dir(cwd.path())
        .args(["-f", "-", "dump"])
        .stdin("name: s\nships: {}\nservices: {}\nname: t\n")
        .run();
    assert_code(&out, 1);
    assert_eq!(
        out.stderr(),
        "ERROR: <stdin>:4:1: duplicate key `name` (first defined at line 1, column 1); expected each key once per mapping\n"
    );
}

#[test]
fn missing_file() {
    let dir = Dir::new();
    let out = maestro_in(&dir, &["-f", "nowhere.yaml", "dump"]);
    assert_code(&out, 1);
    assert_eq!(
        out.stderr(),
        "ERROR: nowhere.yaml: no such file; expected an environment file (use -f FILE, default ./maestro.yaml)\n"
    );
    assert!(out.stdout.is_empty());

    // The default is ./maestro.yaml.
    let out = maestro_in(&dir, &["deptree"]);
    assert_code(&out, 1);
    assert_eq!(
        out.stderr(),
        "ERROR: maestro.yaml: no such file; expected an environment file (use -f FILE, default ./maestro.yaml)\n"
    );

    // A directory is not an environment file.
    let out = maestro_in(&dir, &["-f", ".", "dump"]);
    assert_code(&out, 1);
    assert_eq!(
        out.stderr(),
        "ERROR: .: is a directory; expected an environment file (use -f FILE)\n"
    );
}

#[test]
fn default_file_is_found_in_the_current_directory() {
    let dir = env_dir(TREE);
    let out = maestro_in(&dir, &["dump"]);
    assert_code(&out, 0);
    assert_eq!(json(&out)["name"], "tree");
}

#[test]
fn deptree_exact() {
    let dir = env_dir(TREE);
    let out = maestro_in(&dir, &["deptree"]);
    assert_code(&out, 0);
    assert_eq!(
        out.stdout(),
        "a\n\
         \n\
         b\n \\- a\n\
         \n\
         c\n\
         \n\
         d\n +- a\n \\- c\n\
         \n\
         e\n +- b\n |  \\- a\n \\- d\n   \\- c\n",
        "{}",
        out.report()
    );
    assert!(out.stderr.is_empty(), "{}", out.report());

    // Things: services sorted by name, containers stand for their service.
    let out = maestro_in(&dir, &["deptree", "e-1", "b"]);
    assert_code(&out, 0);
    assert_eq!(
        out.stdout(),
        "b\n \\- a\n\ne\n +- b\n |  \\- a\n \\- d\n   \\- c\n"
    );
}

#[test]
fn deptree_recursive() {
    let dir = env_dir(TREE);
    let out = maestro_in(&dir, &["deptree", "-r", "e"]);
    assert_code(&out, 0);
    assert_eq!(
        out.stdout(),
        "e\n +- b\n |  \\- a\n \\- d\n   +- a\n   \\- c\n",
        "{}",
        out.report()
    );
    let out = maestro_in(&dir, &["deptree", "--recursive", "d"]);
    assert_code(&out, 0);
    assert_eq!(out.stdout(), "d\n +- a\n \\- c\n");
}

#[test]
fn deptree_unknown_thing() {
    let dir = env_dir(TREE);
    let out = maestro_in(&dir, &["deptree", "a", "zz-top"]);
    assert_code(&out, 1);
    assert_eq!(
        out.stderr(),
        "ERROR: zz-top is neither a service nor a container\n"
    );
    assert!(out.stdout.is_empty(), "{}", out.report());
}

/// A mistyped name says which names are close, before any engine is asked.
#[test]
fn unknown_things_suggest_close_names() {
    let dir = env_dir(SHOP);
    for (args, expected) in [
        (
            &["status", "wbe"][..],
            "wbe is neither a service nor a container; did you mean web?",
        ),
        (
            &["start", "web-3"],
            "web-3 is neither a service nor a container; did you mean web-1 or web-2?",
        ),
        (
            &["dump", "db1"],
            "db1 is neither a service nor a container; did you mean db or db-1?",
        ),
        (
            &["deptree", "lb-2"],
            "lb-2 is neither a service nor a container; did you mean lb-1?",
        ),
        (
            &["status", "zz-top"],
            "zz-top is neither a service nor a container",
        ),
    ] {
        let out = maestro_in(&dir, args);
        assert_code(&out, 1);
        assert_eq!(
            out.stderr(),
            format!("ERROR: {expected}\n"),
            "{}",
            out.report()
        );
        assert!(out.stdout.is_empty(), "{}", out.report());
    }
}

#[test]
fn complete_commands_and_names() {
    let dir = env_dir(SHOP);
    let out = maestro_in(&dir, &["complete", "maestro", "st"]);
    assert_code(&out, 0);
    let mut words: Vec<String> = out.stdout().split_whitespace().map(String::from).collect();
    words.sort();
    assert_eq!(words, ["start", "status", "stop"], "{}", out.report());

    for args in [
        &["complete", "maestro", "start", "w"][..],
        &["complete", "maestro start w"],
        // Flags in the line typed so far are skipped.
        &["complete", "maestro start --reuse -c 2 w"],
    ] {
        let out = maestro_in(&dir, args);
        assert_code(&out, 0);
        let mut words: Vec<String> = out.stdout().split_whitespace().map(String::from).collect();
        words.sort();
        assert_eq!(words, ["web", "web-1", "web-2"], "{}", out.report());
    }

    let out = maestro_in(&dir, &["complete", "maestro", "stop", "me"]);
    assert_code(&out, 0);
    assert_eq!(out.stdout().trim(), "metrics metrics-1");

    // Without a readable environment, commands still complete.
    let empty = Dir::new();
    let out = maestro_in(&empty, &["complete", "maestro", "de"]);
    assert_code(&out, 0);
    assert_eq!(out.stdout().trim(), "deptree");
    assert!(out.stderr.is_empty(), "{}", out.report());
}

#[test]
fn warnings_go_to_stderr_and_keep_exit_status() {
    let dir = env_dir(
        "name: w\nships:\n  vm1: {ip: 10.0.0.1}\nservices:\n  web:\n    image: nginx\n    instances:\n      web-1: {ship: vm1, colour: blue}\n",
    );
    let out = maestro_in(&dir, &["dump"]);
    assert_code(&out, 0);
    assert_eq!(
        out.stderr(),
        "WARNING: maestro.yaml:8:26: services/web/instances/web-1: unknown key `colour` is ignored\n"
    );
    assert_eq!(json(&out)["containers"]["web-1"]["image"], "nginx");

    let out = maestro_in(&dir, &["deptree"]);
    assert_code(&out, 0);
    assert_eq!(out.stdout(), "web\n");
    assert!(out.stderr().starts_with("WARNING: "), "{}", out.report());
}

/// `lxc_conf` and `ssl_version` (MaestroNG passed them on; today's engines
/// have no use for them) are accepted with one located warning each.
#[test]
fn obsolete_keys_warn_and_keep_exit_status() {
    let dir = env_dir(
        "name: o\nships:\n  vm1: {ip: 10.0.0.1, ssl_version: TLSv1_2}\nservices:\n  web:\n    image: nginx\n    instances:\n      web-1: {ship: vm1, lxc_conf: {lxc.utsname: web}}\n      web-2: {ship: vm1, lxc_conf: {lxc.utsname: web}}\n",
    );
    let out = maestro_in(&dir, &["dump"]);
    assert_code(&out, 0);
    assert_eq!(
        out.stderr(),
        "WARNING: maestro.yaml:3:23: ships/vm1: `ssl_version` is ignored: the TLS version to an engine is negotiated (1.2 or 1.3, what engines speak today)\n\
         WARNING: maestro.yaml:8:26: services/web/instances/web-1: `lxc_conf` is ignored: it configured Docker's LXC execution driver, which Docker 1.10 removed (also set in 1 other place)\n",
        "{}",
        out.report()
    );
    assert_eq!(json(&out)["containers"]["web-2"]["image"], "nginx");
}

/// An environment whose dump is far larger than a pipe buffer.
fn big_env() -> String {
    let mut text = String::from("name: big\nships:\n  vm1: {ip: 10.0.0.1}\nservices:\n  web:\n    image: nginx\n    instances:\n");
    for i in 0..400 {
        text.push_str(&format!(
            "      web-{i}: {{ship: vm1, ports: {{http: {}}}}}\n",
            10000 + i
        ));
    }
    text
}

/// `maestro dump | head -1`: the reader goes away early; no error, status 0.
#[test]
fn closed_stdout_is_not_an_error() {
    let dir = env_dir(&big_env());
    let mut child = Command::new(env!("CARGO_BIN_EXE_maestro"))
        .current_dir(dir.path())
        .arg("dump")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("maestro runs");
    let mut first = String::new();
    {
        let mut reader = BufReader::new(child.stdout.take().expect("piped"));
        reader.read_line(&mut first).expect("one line");
    } // stdout closed here, long before maestro has written everything
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .expect("piped")
        .read_to_string(&mut stderr)
        .expect("stderr");
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "maestro did not exit after its reader left"
        );
        std::thread::sleep(Duration::from_millis(10));
    };
    assert_eq!(first, "{\n");
    assert_eq!(stderr, "", "nothing on stderr for a closed stdout");
    assert!(status.success(), "exit status {status} for a closed stdout");

    // And through a real shell pipeline.
    let out = TestCommand::new("sh")
        .current_dir(dir.path())
        .args([
            "-c",
            r#""$0" dump | head -1"#,
            env!("CARGO_BIN_EXE_maestro"),
        ])
        .run();
    assert_code(&out, 0);
    assert_eq!(out.stdout(), "{\n");
    assert_eq!(out.stderr(), "", "{}", out.report());
}
