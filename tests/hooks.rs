//! Deploy hooks end to end (issue 29 item 3), on the local engine: `up`
//! onto a new image runs the service's `pre_deploy` hook in a one-off
//! container of the new image, and the marker it writes to a volume exists
//! before the first new container was created (the engine's own event
//! times); `post_deploy` runs after the last new container started; `plan`
//! lists both; the audit trail hears of them; a failing `pre_deploy` stops
//! the rollout with its output shown and leaves every old container
//! running (same ids), and no hook container behind.
//!
//! Containers are named `hk-<test>-…` (hooks' one-offs `web-hook-XXXXXX`,
//! found by their environment's label), removed by guards.

use std::path::PathBuf;

use crate::engine_support::{
    assert_code, build_image, container_id, events, first_event, head, instance, line_of, local,
    maestro, now_nanos, q, running, service, RemoveImages, IDLE, IMAGE,
};
use crate::testbed::{docker, testbed, Cleanup};
use crate::util::Dir;

/// The environment `hk-NAME`: `web` (two instances on the local engine,
/// each with the host folder `data` as `/data`) running `image`, with
/// `hooks` (YAML flow mapping) and a log auditor writing `audit.log`.
fn file(dir: &Dir, name: &str, image: &str, hooks: &str) -> PathBuf {
    let data = dir.join("data");
    std::fs::create_dir_all(&data).expect("the data folder");
    let volume = format!("volumes: {{/data: {}}}", q(&data.display().to_string()));
    let n = |s: &str| format!("hk-{name}-{s}");
    let mut text = head(&format!("hk-{name}"), &[("local", testbed().local_ship())]);
    text += &service(
        "web",
        image,
        &[&format!("hooks: {hooks}")],
        &[
            instance(&n("web-1"), "local", IDLE, &volume),
            instance(&n("web-2"), "local", IDLE, &volume),
        ],
    );
    text += &format!(
        "audit:\n  - {{type: log, file: {}}}\n",
        q(&dir.join("audit.log").display().to_string())
    );
    dir.write("maestro.yaml", text)
}

fn names(name: &str) -> [String; 2] {
    [format!("hk-{name}-web-1"), format!("hk-{name}-web-2")]
}

/// The containers (running or not) labelled as environment `env`'s.
fn of_environment(env: &str) -> Vec<String> {
    let filter = format!("label=io.maestro.environment={env}");
    docker(
        &local(),
        &["ps", "-a", "--filter", &filter, "--format", "{{.Names}}"],
    )
    .lines()
    .map(str::to_owned)
    .collect()
}

/// A second image of the box (another id), removed at the end.
fn second_image(tag: &str) -> RemoveImages {
    let guard = RemoveImages::new(&[tag]);
    build_image(
        &local(),
        tag,
        &format!("FROM {IMAGE}\nLABEL hooks-test={tag}\n"),
    );
    guard
}

const PRE: &str = "sh -c 'echo migrated > /data/pre; echo migration done'";
const POST: &str = "sh -c 'echo notified > /data/post'";

#[test]
fn up_runs_pre_deploy_before_the_first_new_container_and_post_deploy_after_the_last() {
    let tag = "maestro-test/box:hooks-order";
    let _image = second_image(tag);
    let web = names("order");
    let _cleanup = Cleanup::new(&web);
    let dir = Dir::new();
    let hooks = format!("{{pre_deploy: [{}], post_deploy: [{}]}}", q(PRE), q(POST));
    assert_code(&maestro(&file(&dir, "order", IMAGE, &hooks), &["up"]), 0);
    assert!(
        dir.join("data/pre").exists(),
        "the first up ran pre_deploy too"
    );
    std::fs::remove_file(dir.join("data/pre")).expect("remove the marker");
    std::fs::remove_file(dir.join("data/post")).expect("post_deploy ran");
    let old: Vec<String> = web.iter().map(|n| container_id(&local(), n)).collect();

    let changed = file(&dir, "order", tag, &hooks);
    let plan = maestro(&changed, &["plan"]);
    assert_code(&plan, 3);
    let first = line_of(&plan, &web[0]);
    assert!(
        first.contains(
            "; pre_deploy hook `sh -c echo migrated > /data/pre; echo migration done` first"
        ),
        "{first}"
    );
    let last = line_of(&plan, &web[1]);
    assert!(
        last.contains("post_deploy hook `sh -c echo notified > /data/post` after"),
        "{last}"
    );
    let json = maestro(&changed, &["plan", "--json"]);
    let doc: serde_json::Value = serde_json::from_slice(&json.stdout).expect("plan --json");
    let ops = doc["containers"][0]["operations"].to_string();
    assert!(ops.contains("\"op\":\"pre_deploy hook\""), "{ops}");
    assert!(ops.contains("\"command\":[\"sh\",\"-c\""), "{ops}");
    assert!(!dir.join("data/pre").exists(), "plan runs no hook");

    let since = now_nanos();
    let up = maestro(&changed, &["up"]);
    assert_code(&up, 0);
    assert!(dir.join("data/pre").exists() && dir.join("data/post").exists());
    let list = events(&local(), "hk-order", since);
    let hook_names: Vec<&str> = list
        .iter()
        .filter(|e| e.name.starts_with("web-hook-") && e.action == "create")
        .map(|e| e.name.as_str())
        .collect();
    assert_eq!(hook_names.len(), 2, "one one-off per hook: {list:#?}");
    let pre_done = first_event(&list, "die", hook_names[0]);
    let post_created = first_event(&list, "create", hook_names[1]);
    for n in &web {
        assert!(
            pre_done < first_event(&list, "create", n),
            "pre_deploy ended before {n} was created"
        );
        assert!(
            first_event(&list, "start", n) < post_created,
            "post_deploy began after {n} started"
        );
        assert!(running(&local(), n), "{n}");
    }
    let new: Vec<String> = web.iter().map(|n| container_id(&local(), n)).collect();
    assert_ne!(old, new, "both replaced");
    let left: Vec<String> = of_environment("hk-order")
        .into_iter()
        .filter(|n| n.starts_with("web-hook-"))
        .collect();
    assert_eq!(left, Vec::<String>::new(), "hook containers left behind");
    let audit = std::fs::read_to_string(dir.join("audit.log")).unwrap_or_default();
    assert!(
        audit.contains("Run the pre_deploy hook `sh -c echo migrated > /data/pre; echo migration done` for hk-order-web-1 succeeded."),
        "{audit}"
    );
    assert!(audit.contains("post_deploy hook"), "{audit}");
    assert_code(&maestro(&changed, &["plan"]), 0);
}

#[test]
fn a_failing_pre_deploy_hook_stops_the_rollout_before_anything_is_replaced() {
    let tag = "maestro-test/box:hooks-fail";
    let _image = second_image(tag);
    let web = names("fail");
    let _cleanup = Cleanup::new(&web);
    let dir = Dir::new();
    assert_code(&maestro(&file(&dir, "fail", IMAGE, "{}"), &["up"]), 0);
    let old: Vec<String> = web.iter().map(|n| container_id(&local(), n)).collect();

    let failing = q("sh -c 'echo migration failed: no database; exit 5'");
    let changed = file(&dir, "fail", tag, &format!("{{pre_deploy: [{failing}]}}"));
    let up = maestro(&changed, &["up"]);
    assert_code(&up, 1);
    let stderr = up.stderr();
    assert!(
        stderr.contains("the pre_deploy hook sh -c 'echo migration failed: no database; exit 5' exited with status 5")
            && stderr.contains("| migration failed: no database"),
        "{}",
        up.report()
    );
    for (n, id) in web.iter().zip(&old) {
        assert_eq!(&container_id(&local(), n), id, "{n} was replaced");
        assert!(running(&local(), n), "{n} is not running");
    }
    assert_eq!(
        of_environment("hk-fail").len(),
        2,
        "only the two old containers: {:?}",
        of_environment("hk-fail")
    );
}
