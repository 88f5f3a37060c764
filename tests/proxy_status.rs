//! Seeing what the proxy does, end to end on the local engine: after `up`
//! of a service behind the proxy with two instances, `status` says each is
//! routed and shows the ship's proxy with the containers it routes to (and
//! `--json` the same as fields); `logs proxy@local` shows Caddy's own log
//! lines; `exec proxy@local -- caddy version` runs in it. An instance
//! stopped behind maestro's back is `not routed` until `up` starts it and
//! routes it again; a stopped proxy is shown down, not an error.
//!
//! Containers are named `ps-<test>-…`; the proxy and its network
//! `ps-<test>-proxy`.

use serde_json::Value;

use crate::engine_support::{
    assert_code, error_line, free_port, head, instance, line_of, local, maestro, q, service,
};
use crate::proxy_cutover::images;
use crate::testbed::{docker, testbed, Cleanup};
use crate::util::Dir;

const CADDY_IMAGE: &str = "maestro-test/caddy:1";
const WEB_IMAGE: &str = "maestro-test/web:1";

/// Removes the named networks from the local engine when dropped (and
/// when made, in case an earlier run left them): declared before the
/// containers' [`Cleanup`], so dropped after it.
struct Networks(Vec<String>);

impl Networks {
    fn new(names: &[&str]) -> Networks {
        let networks = Networks(names.iter().map(|n| n.to_string()).collect());
        networks.remove();
        networks
    }

    fn remove(&self) {
        let _ = std::process::Command::new("docker")
            .args(["-H", &local(), "network", "rm"])
            .args(&self.0)
            .output();
    }
}

impl Drop for Networks {
    fn drop(&mut self) {
        self.remove();
    }
}

/// The environment `ps-NAME`: web (web-1 and web-2 on the local engine)
/// behind the proxy.
fn file(dir: &Dir, name: &str) -> std::path::PathBuf {
    let n = |s: &str| format!("ps-{name}-{s}");
    let mut text = head(&format!("ps-{name}"), &[("local", testbed().local_ship())]);
    text += &service(
        "web",
        WEB_IMAGE,
        &["proxy: {app_port: 8080, healthcheck: {path: /health, interval: 200ms, timeout: 1s}, drain_timeout: 1s, deploy_timeout: 10s}"],
        &[
            instance(&n("web-1"), "local", &["/start"], ""),
            instance(&n("web-2"), "local", &["/start"], ""),
        ],
    );
    text += &format!(
        "proxy: {{image: {}, http_port: {}, https_port: {}}}\n",
        q(CADDY_IMAGE),
        free_port(),
        free_port()
    );
    dir.write("maestro.yaml", text)
}

fn status_json(file: &std::path::Path) -> Value {
    let out = maestro(file, &["status", "--json"]);
    assert_code(&out, 0);
    serde_json::from_str(&out.stdout()).expect("status --json is JSON")
}

#[test]
fn status_logs_and_exec_show_the_proxy() {
    images();
    let (web1, web2, proxy) = ("ps-see-web-1", "ps-see-web-2", "ps-see-proxy");
    let _networks = Networks::new(&[proxy]);
    let _cleanup = Cleanup::new(&[web1, web2, proxy]);
    let dir = Dir::new();
    let file = file(&dir, "see");
    assert_code(&maestro(&file, &["up"]), 0);

    let status = maestro(&file, &["status"]);
    assert_code(&status, 0);
    for name in [web1, web2] {
        let line = line_of(&status, name);
        assert!(line.ends_with(", routed"), "{}", status.report());
    }
    let text = status.stdout();
    assert!(
        text.contains(&format!("\n  proxy {proxy} on local: running")),
        "{}",
        status.report()
    );
    for name in [web1, web2] {
        assert!(
            text.contains(&format!("    routes to {name} (")),
            "{}",
            status.report()
        );
    }

    let json = status_json(&file);
    for c in json["containers"].as_array().expect("containers") {
        assert_eq!(c["routed"], true, "{json}");
    }
    let proxies = json["proxies"].as_array().expect("proxies");
    assert_eq!(proxies.len(), 1, "{json}");
    let p = &proxies[0];
    assert_eq!(
        (&p["name"], &p["ship"], &p["state"]),
        (
            &Value::from(proxy),
            &Value::from("local"),
            &Value::from("running")
        ),
        "{json}"
    );
    assert_eq!(p["routes_error"], Value::Null, "{json}");
    let mut routed: Vec<&str> = p["routes"]
        .as_array()
        .expect("routes")
        .iter()
        .filter_map(|r| r["container"].as_str())
        .collect();
    routed.sort();
    assert_eq!(routed, [web1, web2], "{json}");
    assert!(
        p["routes"][0]["address"]
            .as_str()
            .is_some_and(|a| a.ends_with(":8080")),
        "{json}"
    );

    // Caddy logs JSON lines to stderr; `logs` shows them.
    let logs = maestro(&file, &["logs", "-n", "50", "proxy@local"]);
    assert_code(&logs, 0);
    assert!(
        logs.stdout().lines().any(|l| l.starts_with("{\"level\":")),
        "{}",
        logs.report()
    );
    let exec = maestro(&file, &["exec", "proxy@local", "--", "caddy", "version"]);
    assert_code(&exec, 0);
    // Debian's caddy says `2.6.2`, upstream's `v2.…`.
    assert!(
        exec.stdout().trim_start_matches('v').starts_with("2."),
        "{}",
        exec.report()
    );
    let nowhere = maestro(&file, &["logs", "proxy@nowhere"]);
    assert_code(&nowhere, 1);
    assert!(
        error_line(&nowhere).contains("proxy@nowhere: there is no ship nowhere"),
        "{}",
        nowhere.report()
    );

    // Stopped behind maestro's back: not routed (the proxy still has its
    // old address, which no container has now) until `up` starts it.
    docker(&local(), &["stop", "-t", "1", web2]);
    let status = maestro(&file, &["status"]);
    assert_code(&status, 0);
    assert!(
        line_of(&status, web2).ends_with(", not routed"),
        "{}",
        status.report()
    );
    assert!(
        line_of(&status, web1).ends_with(", routed"),
        "{}",
        status.report()
    );
    assert!(
        status
            .stdout()
            .contains("(no container of the environment has this address)"),
        "{}",
        status.report()
    );
    assert_code(&maestro(&file, &["up"]), 0);
    let json = status_json(&file);
    for c in json["containers"].as_array().expect("containers") {
        assert_eq!(c["routed"], true, "{json}");
    }

    // A stopped proxy is shown down; its containers are not routed; no
    // command can run in it.
    docker(&local(), &["stop", "-t", "1", proxy]);
    let status = maestro(&file, &["status"]);
    assert_code(&status, 0);
    assert!(
        line_of(&status, web1).ends_with(", not routed"),
        "{}",
        status.report()
    );
    assert!(
        status
            .stdout()
            .contains(&format!("  proxy {proxy} on local: down for"))
            && status
                .stdout()
                .contains("    routes nothing (it does not run: `maestro up` starts it)"),
        "{}",
        status.report()
    );
    let json = status_json(&file);
    assert_eq!(json["proxies"][0]["state"], "stopped", "{json}");
    assert_eq!(
        json["proxies"][0]["routes"],
        serde_json::json!([]),
        "{json}"
    );
    let exec = maestro(&file, &["exec", "proxy@local", "--", "caddy", "version"]);
    assert_code(&exec, 1);
    assert!(
        error_line(&exec).contains(&format!(
            "{proxy} is not running on ship local; start it first with `maestro up`"
        )),
        "{}",
        exec.report()
    );
}
