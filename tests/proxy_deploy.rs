//! Zero-downtime deploys end to end (issue 28), on the local engine and
//! ship2: a service behind maestro's proxy, one instance on each ship,
//! under continuous load from `hey` through both ships' proxies: `up` onto
//! a new image answers every request (none failed, none non-2xx) and every
//! response after it comes from the new version; `rollback` and `restart`
//! too, a 3-s request in flight at the switch completing; a new image whose
//! health check fails (the service with `failure_action: rollback`) is
//! refused before the proxy sends it anything: `up` exits 1, the old
//! containers serve throughout, with their ids. TLS from files. Printed beside it: the
//! same rollout without the proxy (`restart --batch 1` of containers
//! publishing the port themselves) and its failed requests.
//!
//! Containers are named `pd-<test>-…`; the proxies `pd-<test>-proxy`.

use std::time::Duration;

use crate::engine_support::{
    assert_code, container_id, free_port, head, instance, local, maestro, q, service, ship2,
};
use crate::proxy_cutover::{get_from, hey_at, images, Load};
use crate::testbed::{docker, testbed, use_ships, Cleanup};
use crate::util::Dir;

const CADDY_IMAGE: &str = "maestro-test/caddy:1";
const WEB_IMAGE: &str = "maestro-test/web:1";

/// `maestro-test/web:pdN`: the web app saying `version N`, on both ships;
/// `healthy: false` makes its health path answer 404.
fn version_image(n: u32, healthy: bool) -> String {
    images();
    on_ship2(WEB_IMAGE);
    let tag = format!("maestro-test/web:pd{n}");
    let unhealthy = if healthy { "" } else { "RUN rm /www/health\n" };
    let dockerfile = format!("FROM {WEB_IMAGE}\nENV VERSION={n}\n{unhealthy}");
    for host in [local(), ship2()] {
        crate::engine_support::build_image(&host, &tag, &dockerfile);
    }
    tag
}

/// Loads `image` from the local engine into ship2 when it lacks it.
fn on_ship2(image: &str) {
    let has = std::process::Command::new("docker")
        .args(["-H", &ship2(), "image", "inspect", image])
        .output()
        .is_ok_and(|o| o.status.success());
    if !has {
        let status = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!(
                "docker -H {} save {image} | docker -H {} load -q",
                local(),
                ship2()
            ))
            .status()
            .expect("sh runs");
        assert!(status.success(), "could not load {image} into ship2");
    }
}

/// The environment `pd-NAME`: web (web-1 on the local engine, web-2 on
/// ship2) running `image` behind the proxy, whose HTTP port is `port`.
fn file(dir: &Dir, name: &str, image: &str, port: u16) -> std::path::PathBuf {
    let n = |s: &str| format!("pd-{name}-{s}");
    let mut text = head(
        &format!("pd-{name}"),
        &[
            ("local", testbed().local_ship()),
            ("ship2", testbed().ship2_tcp()),
        ],
    );
    text += &service(
        "web",
        image,
        &[
            "proxy: {app_port: 8080, healthcheck: {path: /health, interval: 200ms, timeout: 1s}, drain_timeout: 5s, deploy_timeout: 5s}",
            "deploy: {update_config: {failure_action: rollback}}",
        ],
        &[
            instance(&n("web-1"), "local", &["/start"], ""),
            instance(&n("web-2"), "ship2", &["/start"], ""),
        ],
    );
    text += &format!(
        "proxy: {{image: {}, http_port: {port}, https_port: {}}}\n",
        q(CADDY_IMAGE),
        free_port()
    );
    dir.write("maestro.yaml", text)
}

/// The same service without the proxy (`pd-NAME`): each instance
/// publishes its port on its ship's `port` itself.
fn bare_file(dir: &Dir, name: &str, image: &str, port: u16) -> std::path::PathBuf {
    let n = |s: &str| format!("pd-{name}-{s}");
    let mut text = head(
        &format!("pd-{name}"),
        &[
            ("local", testbed().local_ship()),
            ("ship2", testbed().ship2_tcp()),
        ],
    );
    let published = format!("ports: {{http: \"8080:{port}\"}}");
    text += &service(
        "web",
        image,
        &["lifecycle: {running: [{type: tcp, port: http, max_wait: 10}]}"],
        &[
            instance(&n("web-1"), "local", &["/start"], &published),
            instance(&n("web-2"), "ship2", &["/start"], &published),
        ],
    );
    dir.write("bare.yaml", text)
}

/// The failed requests of `loads` (errors and non-2xx), printed.
fn failed(what: &str, loads: Vec<std::thread::JoinHandle<Load>>) -> u64 {
    joined(what, loads)
        .iter()
        .map(|l| l.failures() + l.non_2xx())
        .sum()
}

/// Each ship's proxy address.
fn proxies() -> [String; 2] {
    [
        testbed().var("TESTBED_LOCAL_IP").to_owned(),
        testbed().var("TESTBED_SHIP2_IP").to_owned(),
    ]
}

/// Waits until `GET /` through each proxy says `body`.
fn serves(port: u16, body: &str) {
    for host in proxies() {
        let mut last = Err(String::new());
        for _ in 0..100 {
            last = get_from(&host, port, "/");
            if matches!(&last, Ok((200, b)) if b == body) {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        assert!(
            matches!(&last, Ok((200, b)) if b == body),
            "{host}:{port} does not say {body:?}: {last:?}"
        );
    }
}

/// Removes the proxy network `NAME` from both engines when dropped (after
/// the containers' [`Cleanup`], declared after it).
struct ProxyNetwork(String);

impl Drop for ProxyNetwork {
    fn drop(&mut self) {
        for host in [local(), ship2()] {
            let _ = std::process::Command::new("docker")
                .args(["-H", &host, "network", "rm", &self.0])
                .output();
        }
    }
}

fn names(name: &str) -> Vec<String> {
    ["web-1", "web-2", "proxy"]
        .iter()
        .map(|s| format!("pd-{name}-{s}"))
        .collect()
}

#[test]
fn up_onto_a_new_image_behind_the_proxy_fails_no_request() {
    let _ships = use_ships();
    let _network = ProxyNetwork("pd-zero-proxy".into());
    let all = names("zero");
    let _cleanup = Cleanup::new(&all);
    on_ship2(CADDY_IMAGE);
    let (v1, v2) = (version_image(1, true), version_image(2, true));
    let dir = Dir::new();
    let port = free_port();
    let first = maestro(&file(&dir, "zero", &v1, port), &["up"]);
    assert_code(&first, 0);
    serves(port, "version 1");

    let seconds = 14;
    let loads: Vec<_> = proxies()
        .iter()
        .map(|h| hey_at(format!("http://{h}:{port}/"), seconds))
        .collect();
    std::thread::sleep(Duration::from_secs(2));
    let up = maestro(&file(&dir, "zero", &v2, port), &["up"]);
    assert_code(&up, 0);
    for host in proxies() {
        for _ in 0..20 {
            let got = get_from(&host, port, "/");
            assert_eq!(
                got,
                Ok((200, "version 2".to_owned())),
                "after the cutover, {host}"
            );
        }
    }
    let served = no_failures("up behind the proxy", loads);
    assert!(
        served >= 100 * (seconds - 2),
        "at least 100 requests/s: {served}"
    );

    // rollback goes back the same way, and a request in flight when the
    // proxy switches (it takes 3 s) is answered by the container it began
    // on, which is given the drain time.
    let loads: Vec<_> = proxies()
        .iter()
        .map(|h| hey_at(format!("http://{h}:{port}/"), 10))
        .collect();
    let host = proxies()[0].clone();
    let slow = std::thread::spawn(move || get_from(&host, port, "/cgi-bin/slow"));
    std::thread::sleep(Duration::from_millis(500));
    let back = maestro(&file(&dir, "zero", &v2, port), &["rollback"]);
    assert_code(&back, 0);
    assert_eq!(
        slow.join().expect("the slow request ran"),
        Ok((200, "slow version 2".to_owned())),
        "the request in flight at the switch completed"
    );
    serves(port, "version 1");
    no_failures("rollback behind the proxy", loads);

    // A restart behind the proxy is a cutover too.
    let loads: Vec<_> = proxies()
        .iter()
        .map(|h| hey_at(format!("http://{h}:{port}/"), 8))
        .collect();
    std::thread::sleep(Duration::from_millis(500));
    let restart = maestro(&file(&dir, "zero", &v1, port), &["restart", "-a"]);
    assert_code(&restart, 0);
    no_failures("restart behind the proxy", loads);

    // Beside it, the same service without the proxy, rolled one container
    // at a time (`restart --batch 1`) under the same load: what the proxy
    // spares its clients.
    let bare_names = names("bare");
    let _bare = Cleanup::new(&bare_names);
    let bare_port = free_port();
    let bare = bare_file(&dir, "bare", &v1, bare_port);
    assert_code(&maestro(&bare, &["up"]), 0);
    serves(bare_port, "version 1");
    let loads: Vec<_> = proxies()
        .iter()
        .map(|h| hey_at(format!("http://{h}:{bare_port}/"), 10))
        .collect();
    std::thread::sleep(Duration::from_secs(1));
    assert_code(&maestro(&bare, &["restart", "-a", "--batch", "1"]), 0);
    let lost = failed("restart --batch 1 without the proxy", loads);
    println!("without the proxy: {lost} failed requests; behind it: 0");
}

/// Joins `hey` runs, prints each one's figures and asserts that none
/// failed; the requests served in all.
fn no_failures(what: &str, loads: Vec<std::thread::JoinHandle<Load>>) -> u64 {
    let loads = joined(what, loads);
    for load in &loads {
        assert_eq!(load.failures(), 0, "{}", load.output);
        assert_eq!(load.non_2xx(), 0, "{}", load.output);
    }
    loads.iter().map(Load::responses).sum()
}

/// Joins `hey` runs and prints each one's figures.
fn joined(what: &str, loads: Vec<std::thread::JoinHandle<Load>>) -> Vec<Load> {
    let mut out = Vec::new();
    for (load, host) in loads.into_iter().zip(proxies()) {
        let load = load.join().expect("hey ran");
        println!(
            "{what}, {host}: {} requests at {:.0}/s, {} failed, {} non-2xx",
            load.responses(),
            load.rate,
            load.failures(),
            load.non_2xx()
        );
        out.push(load);
    }
    out
}

#[test]
fn a_new_image_failing_the_proxys_health_check_never_serves() {
    let _ships = use_ships();
    let _network = ProxyNetwork("pd-sick-proxy".into());
    let all = names("sick");
    let _cleanup = Cleanup::new(&all);
    on_ship2(CADDY_IMAGE);
    let (v1, sick) = (version_image(1, true), version_image(3, false));
    let dir = Dir::new();
    let port = free_port();
    assert_code(&maestro(&file(&dir, "sick", &v1, port), &["up"]), 0);
    serves(port, "version 1");
    let ids: Vec<String> = [(local(), &all[0]), (ship2(), &all[1])]
        .iter()
        .map(|(h, n)| container_id(h, n))
        .collect();

    let loads: Vec<_> = proxies()
        .iter()
        .map(|h| hey_at(format!("http://{h}:{port}/"), 8))
        .collect();
    let up = maestro(&file(&dir, "sick", &sick, port), &["up"]);
    assert_code(&up, 1);
    assert!(
        up.stderr()
            .contains("did not pass the proxy's health check (GET /health)")
            && up.stderr().contains("the previous container was put back"),
        "{}",
        up.report()
    );
    no_failures("a sick image behind the proxy", loads);
    serves(port, "version 1");
    let after: Vec<String> = [(local(), &all[0]), (ship2(), &all[1])]
        .iter()
        .map(|(h, n)| container_id(h, n))
        .collect();
    assert_eq!(ids, after, "the same containers serve");
    let _ = docker(&local(), &["ps"]);
}

/// TLS from files: the proxy serves a route over HTTPS with the
/// certificate and key the file names (read on the operator's machine,
/// written into the proxy), chosen by the route's host name.
#[test]
fn the_proxy_serves_a_route_over_tls_with_the_files_certificate() {
    let _network = ProxyNetwork("pd-tls-proxy".into());
    let all = vec!["pd-tls-web-1".to_owned(), "pd-tls-proxy".to_owned()];
    let _cleanup = Cleanup::new(&all);
    let v1 = version_image(1, true);
    let dir = Dir::new();
    let made = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=app.test",
            "-addext",
            "subjectAltName=DNS:app.test",
            "-keyout",
            "key.pem",
            "-out",
            "cert.pem",
        ])
        .current_dir(dir.path())
        .output()
        .expect("openssl runs");
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let (http, https) = (free_port(), free_port());
    let text = head("pd-tls", &[("local", testbed().local_ship())])
        + &service(
            "web",
            &v1,
            &["proxy: {host: app.test, app_port: 8080, healthcheck: {path: /health, interval: 200ms}, ssl: {certificate_pem: cert.pem, private_key_pem: key.pem}}"],
            &[instance("pd-tls-web-1", "local", &["/start"], "")],
        )
        + &format!(
            "proxy: {{image: {}, http_port: {http}, https_port: {https}}}\n",
            q(CADDY_IMAGE)
        );
    let file = dir.write("maestro.yaml", text);
    let up = maestro(&file, &["up"]);
    assert_code(&up, 0);
    let resolve = format!("app.test:{https}:127.0.0.1");
    let url = format!("https://app.test:{https}/");
    let mut last = String::new();
    for _ in 0..50 {
        let out = std::process::Command::new("curl")
            .args(["-sS", "--max-time", "5", "--cacert"])
            .arg(dir.join("cert.pem"))
            .args(["--resolve", &resolve, &url])
            .output()
            .expect("curl runs");
        last = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        if out.status.success() && last.trim() == "version 1" {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!(
        "https through the proxy with the file's certificate: {last}\n{}",
        up.report()
    );
}
