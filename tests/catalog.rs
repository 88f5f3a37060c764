//! The catalog of malformed environment files and their exact errors.
//!
//! Every `tests/fixtures/malformed/NAME.yaml` is small and wrong in one way
//! (a few are wrong in several, to check that every problem is reported, in
//! file order). Its first lines say exactly what `maestro -f FILE dump` must
//! print on stderr, one `# expect: ` comment per line:
//!
//! ```text
//! # expect: ERROR: {file}:13:17: services/web/instances/web-1/ports/http: invalid port spec: ...
//! ```
//!
//! `{file}` stands for the path given with `-f`, `{dir}` for its directory
//! (errors in included templates name the included file). The exit status
//! must be 1 and nothing may be printed on stdout. A `# note:` line after the
//! expectations records what is still wrong with a message that the fixture
//! pins down as it is today.
//!
//! Inputs that cannot be kept as text fixtures (not UTF-8, a NUL byte, a
//! 70 MB file) are written by their tests into a scratch directory.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::util::{workspace_root, Dir, Output, TestCommand};

const EXPECT: &str = "# expect: ";

fn fixture_dir() -> PathBuf {
    workspace_root()
        .join("tests")
        .join("fixtures")
        .join("malformed")
}

/// The `# expect: ` lines at the top of a fixture, placeholders filled in.
fn expected_lines(text: &str, file: &Path) -> Vec<String> {
    let dir = file.parent().expect("a fixture has a directory");
    text.lines()
        .map_while(|line| line.strip_prefix(EXPECT))
        .map(|l| {
            l.replace("{file}", &file.display().to_string())
                .replace("{dir}", &dir.display().to_string())
        })
        .collect()
}

/// Runs `maestro -f FILE dump` from an empty directory (so nothing resolves
/// against the current directory by accident).
fn dump(file: &Path) -> Output {
    dump_within(file, Duration::from_secs(60))
}

/// [`dump`], killed (and the test failed) when it has not ended within `limit`.
fn dump_within(file: &Path, limit: Duration) -> Output {
    let cwd = Dir::new();
    // A file without `ships` takes its ship from these: none of the caller's.
    TestCommand::maestro()
        .current_dir(cwd.path())
        .env_remove("DOCKER_HOST")
        .env_remove("DOCKER_CONTEXT")
        .env("DOCKER_CONFIG", cwd.path())
        .arg("-f")
        .arg(file)
        .arg("dump")
        .timeout(limit)
        .run()
}

/// Exit status 1, empty stdout, stderr exactly `expected`.
fn assert_fails_with(out: &Output, expected: &[String]) {
    assert_eq!(
        out.code(),
        Some(1),
        "expected exit status 1 for a bad environment\n{}",
        out.report()
    );
    assert!(
        out.stdout.is_empty(),
        "nothing may be printed on stdout for a bad environment\n{}",
        out.report()
    );
    let stderr = out.stderr();
    let actual: Vec<&str> = stderr.lines().collect();
    assert_eq!(
        actual,
        expected.iter().map(String::as_str).collect::<Vec<_>>(),
        "stderr differs from the fixture's `# expect:` lines\n{}",
        out.report()
    );
    assert!(
        stderr.ends_with('\n'),
        "stderr must end with a newline\n{}",
        out.report()
    );
}

fn check_fixture(name: &str) {
    check_fixture_within(name, Duration::from_secs(60));
}

/// [`check_fixture`], the refusal given `limit`.
fn check_fixture_within(name: &str, limit: Duration) {
    let file = fixture_dir().join(format!("{name}.yaml"));
    let text = std::fs::read_to_string(&file)
        .unwrap_or_else(|e| panic!("cannot read fixture {}: {e}", file.display()));
    let expected = expected_lines(&text, &file);
    assert!(
        !expected.is_empty(),
        "{} has no `{EXPECT}` line at the top",
        file.display()
    );
    assert_fails_with(&dump_within(&file, limit), &expected);
}

fn check_fixture_list(listed: &[&str]) {
    let mut on_disk: Vec<String> = std::fs::read_dir(fixture_dir())
        .expect("tests/fixtures/malformed exists")
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.is_file() && p.extension().is_some_and(|x| x == "yaml"))
        .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    on_disk.sort();
    let mut tested: Vec<String> = listed.iter().map(|s| s.to_string()).collect();
    tested.sort();
    let untested: Vec<&String> = on_disk.iter().filter(|n| !tested.contains(n)).collect();
    let missing: Vec<&String> = tested.iter().filter(|n| !on_disk.contains(n)).collect();
    assert!(
        untested.is_empty(),
        "fixtures without a test in tests/catalog.rs: {untested:?}"
    );
    assert!(
        missing.is_empty(),
        "tests in tests/catalog.rs without a fixture: {missing:?}"
    );
    let mut dedup = tested.clone();
    dedup.dedup();
    assert_eq!(dedup, tested, "a fixture is listed twice");
    assert!(
        tested.len() >= 45,
        "the catalog should keep at least 45 fixtures, has {}",
        tested.len()
    );
}

macro_rules! catalog {
    ($($test:ident => $name:literal,)*) => {
        $(
            #[test]
            fn $test() {
                check_fixture($name);
            }
        )*

        /// Every fixture file has a test above, and every test its fixture.
        #[test]
        fn every_fixture_has_a_test() {
            check_fixture_list(&[$($name),*]);
        }
    };
}

catalog! {
    alias_bomb => "alias-bomb",
    audit_http_bad_method => "audit-http-bad-method",
    audit_log_without_file => "audit-log-without-file",
    audit_unknown_type => "audit-unknown-type",
    bad_api_version => "bad-api-version",
    bad_docker_port => "bad-docker-port",
    bind_also_container_volume => "bind-also-container-volume",
    command_unclosed_quote => "command-unclosed-quote",
    cycle_through_volumes_from => "cycle-through-volumes-from",
    endpoint_forms => "endpoint-forms",
    duplicate_instance_across_services => "duplicate-instance-across-services",
    duplicate_instance_within_service => "duplicate-instance-within-service",
    duplicate_key_nested => "duplicate-key-nested",
    duplicate_key_top => "duplicate-key-top",
    empty_file => "empty-file",
    envfile_bad_line => "envfile-bad-line",
    envfile_missing => "envfile-missing",
    extra_hosts_unknown_ship => "extra-hosts-unknown-ship",
    instance_missing_ship => "instance-missing-ship",
    instance_not_mapping => "instance-not-mapping",
    instance_unknown_ship => "instance-unknown-ship",
    jinja_include_bad => "jinja-include-bad",
    jinja_include_missing => "jinja-include-missing",
    jinja_syntax => "jinja-syntax",
    jinja_undefined => "jinja-undefined",
    labels_scalar => "labels-scalar",
    lifecycle_bad_envfrom => "lifecycle-bad-envfrom",
    lifecycle_exec_without_command => "lifecycle-exec-without-command",
    lifecycle_http_udp_port => "lifecycle-http-udp-port",
    lifecycle_missing_type => "lifecycle-missing-type",
    lifecycle_sleep_without_wait => "lifecycle-sleep-without-wait",
    lifecycle_tcp_udp_port => "lifecycle-tcp-udp-port",
    lifecycle_tcp_unknown_port => "lifecycle-tcp-unknown-port",
    lifecycle_unknown_state => "lifecycle-unknown-state",
    lifecycle_unknown_type => "lifecycle-unknown-type",
    limits_bad_suffix => "limits-bad-suffix",
    limits_fraction => "limits-fraction",
    links_other_ship => "links-other-ship",
    links_unknown => "links-unknown",
    missing_image => "missing-image",
    missing_instances => "missing-instances",
    missing_name => "missing-name",
    networks_bad_ipv4_address => "networks-bad-ipv4-address",
    networks_bad_subnet => "networks-bad-subnet",
    networks_external_with_driver => "networks-external-with-driver",
    networks_scalar => "networks-scalar",
    networks_bad_name => "networks-bad-name",
    dns_not_an_address => "dns-not-an-address",
    limits_negative_memory => "limits-negative-memory",
    instance_name_path => "instance-name-path",
    networks_unknown => "networks-unknown",
    networks_with_net => "networks-with-net",
    volumes_bad_name => "volumes-bad-name",
    volumes_external_with_labels => "volumes-external-with-labels",
    no_ships_unknown_ship => "no-ships-unknown-ship",
    name_not_string => "name-not-string",
    net_bad => "net-bad",
    net_container_unknown => "net-container-unknown",
    options_cpuset_bad => "options-cpuset-bad",
    options_device_bad => "options-device-bad",
    options_gpu_count_and_ids => "options-gpu-count-and-ids",
    options_gpus_bad => "options-gpus-bad",
    options_healthcheck_disable_and_test => "options-healthcheck-disable-and-test",
    options_healthcheck_test_bad => "options-healthcheck-test-bad",
    options_ipc_bad => "options-ipc-bad",
    options_mac_bad => "options-mac-bad",
    options_pid_bad => "options-pid-bad",
    options_pids_limit_bad => "options-pids-limit-bad",
    options_platform_bad => "options-platform-bad",
    options_read_only_bad => "options-read-only-bad",
    options_shm_size_bad => "options-shm-size-bad",
    options_stop_grace_bad => "options-stop-grace-bad",
    options_stop_grace_disagrees => "options-stop-grace-disagrees",
    options_stop_signal_bad => "options-stop-signal-bad",
    options_sysctls_scalar => "options-sysctls-scalar",
    options_tmpfs_relative => "options-tmpfs-relative",
    port_dict_without_external => "port-dict-without-external",
    port_mismatched_protocols => "port-mismatched-protocols",
    port_non_numeric => "port-non-numeric",
    port_out_of_range => "port-out-of-range",
    port_sctp => "port-sctp",
    port_three_parts => "port-three-parts",
    registry_bad_retry => "registry-bad-retry",
    requires_cycle => "requires-cycle",
    requires_self => "requires-self",
    requires_unknown => "requires-unknown",
    restart_bad_name => "restart-bad-name",
    restart_bad_retries => "restart-bad-retries",
    restart_yes => "restart-yes",
    schema_3 => "schema-3",
    second_document => "second-document",
    several_errors => "several-errors",
    ship_without_ip => "ship-without-ip",
    ships_not_mapping => "ships-not-mapping",
    ssh_tunnel_missing_key => "ssh-tunnel-missing-key",
    ssh_tunnel_missing_user => "ssh-tunnel-missing-user",
    top_level_list => "top-level-list",
    ulimit_bad => "ulimit-bad",
    unknown_ship_provider => "unknown-ship-provider",
    volume_bad_mode => "volume-bad-mode",
    volume_bound_twice => "volume-bound-twice",
    volume_dict_without_target => "volume-dict-without-target",
    volumes_from_other_ship => "volumes-from-other-ship",
    volumes_from_shared_target => "volumes-from-shared-target",
    volumes_from_unknown => "volumes-from-unknown",
    wants_info_unknown => "wants-info-unknown",
    yaml_bad_indentation => "yaml-bad-indentation",
    yaml_merge_scalar => "yaml-merge-scalar",
    yaml_python_tag => "yaml-python-tag",
    yaml_tab => "yaml-tab",
    yaml_unclosed_quote_at_end => "yaml-unclosed-quote-at-end",
    yaml_unclosed_quote => "yaml-unclosed-quote",
    yaml_unknown_anchor => "yaml-unknown-anchor",
    hooks_not_a_list => "hooks-not-a-list",
    hooks_on_instance => "hooks-on-instance",
    hooks_unknown_hook => "hooks-unknown-hook",
    secrets_as_env_also_in_env => "secrets-as-env-also-in-env",
    secrets_as_env_with_target => "secrets-as-env-with-target",
    secrets_bad_mode => "secrets-bad-mode",
    secrets_bad_name => "secrets-bad-name",
    secrets_command_twice => "secrets-command-twice",
    secrets_external => "secrets-external",
    secrets_mount_without_source => "secrets-mount-without-source",
    secrets_no_source => "secrets-no-source",
    secrets_read_only => "secrets-read-only",
    secrets_same_as_env => "secrets-same-as-env",
    secrets_same_target => "secrets-same-target",
    secrets_target_dotdot => "secrets-target-dotdot",
    secrets_timeout_too_long => "secrets-timeout-too-long",
    secrets_two_sources => "secrets-two-sources",
    secrets_undeclared => "secrets-undeclared",
    secrets_unknown_source => "secrets-unknown-source",
    deploy_bad_order => "deploy-bad-order",
    deploy_bad_parallelism => "deploy-bad-parallelism",
    deploy_failure_continue => "deploy-failure-continue",
    deploy_start_first_host_ports => "deploy-start-first-host-ports",
    proxy_app_port_differs => "proxy-app-port-differs",
    proxy_app_port_published => "proxy-app-port-published",
    proxy_app_port_unknown => "proxy-app-port-unknown",
    proxy_bad_host => "proxy-bad-host",
    proxy_drain_timeout_too_long => "proxy-drain-timeout-too-long",
    proxy_healthcheck_bad => "proxy-healthcheck-bad",
    proxy_host_and_hosts => "proxy-host-and-hosts",
    proxy_missing_app_port => "proxy-missing-app-port",
    proxy_net_host => "proxy-net-host",
    proxy_on_instance => "proxy-on-instance",
    proxy_path_prefix_relative => "proxy-path-prefix-relative",
    proxy_same_route => "proxy-same-route",
    proxy_settings_same_ports => "proxy-settings-same-ports",
    proxy_ssl_true => "proxy-ssl-true",
    proxy_ssl_without_hosts => "proxy-ssl-without-hosts",
    proxy_true => "proxy-true",
}

/// The smallest valid environment, for the generated cases below.
const VALID_PREFIX: &str = "name: demo\nships:\n  vm1: {ip: 10.0.0.1}\nservices: {}\n";

#[test]
fn not_utf8() {
    let dir = Dir::new();
    // Latin-1 "café": 0xE9 is not valid UTF-8 on its own.
    let mut bytes = VALID_PREFIX.as_bytes().to_vec();
    bytes.extend_from_slice(b"x: caf\xe9\n");
    let file = dir.write("latin1.yaml", bytes);
    let expected = vec![format!(
        "ERROR: {}:5:7: the file is not UTF-8 text; expected a UTF-8 YAML file",
        file.display()
    )];
    assert_fails_with(&dump(&file), &expected);
}

#[test]
fn not_utf8_on_stdin() {
    // `TestCommand::stdin` takes text, so go through a file and `sh`.
    let dir = Dir::new();
    let mut bytes = VALID_PREFIX.as_bytes().to_vec();
    bytes.extend_from_slice(b"x: \xff\xfe\n");
    let file = dir.write("bad.yaml", bytes);
    let out = TestCommand::new("sh")
        .current_dir(dir.path())
        .arg("-c")
        .arg(r#""$0" -f - dump < "$1""#)
        .arg(env!("CARGO_BIN_EXE_maestro"))
        .arg(&file)
        .run();
    let expected = vec![
        "ERROR: <stdin>:5:4: the file is not UTF-8 text; expected a UTF-8 YAML file".to_string(),
    ];
    assert_fails_with(&out, &expected);
}

#[test]
fn nul_byte() {
    let dir = Dir::new();
    let file = dir.write("nul.yaml", format!("{VALID_PREFIX}x: \"before\0after\"\n"));
    let expected = vec![format!(
        "ERROR: {}:5:11: the file contains a NUL byte; expected YAML text",
        file.display()
    )];
    assert_fails_with(&dump(&file), &expected);
}

/// A 70 MB file (valid YAML: comments) is refused at once, from a file and
/// from stdin, with the size message.
#[test]
fn too_large() {
    let dir = Dir::new();
    let mut text = String::with_capacity(70_000_100);
    text.push_str(VALID_PREFIX);
    let padding = "# padding to make this environment file far too large\n";
    while text.len() < 70_000_000 {
        text.push_str(padding);
    }
    let file = dir.write("huge.yaml", &text);

    // Each refusal is given 10 s (reading the whole file and parsing it
    // would take longer); one still going then is killed and fails.
    let limit = Duration::from_secs(10);
    let expected = vec![format!(
        "ERROR: {}: the file is larger than 64 MiB; expected an environment description",
        file.display()
    )];
    assert_fails_with(&dump_within(&file, limit), &expected);

    let out = TestCommand::maestro()
        .current_dir(dir.path())
        .args(["-f", "-", "dump"])
        .stdin(&text)
        .timeout(limit)
        .run();
    let expected = vec![
        "ERROR: <stdin>: the file is larger than 64 MiB; expected an environment description"
            .to_string(),
    ];
    assert_fails_with(&out, &expected);
}

/// The billion-laughs fixture must fail fast, not after expanding it.
#[test]
fn alias_bomb_fails_fast() {
    // Refused (with the fixture's error) within 10 s, or killed and failed.
    check_fixture_within("alias-bomb", Duration::from_secs(10));
}
