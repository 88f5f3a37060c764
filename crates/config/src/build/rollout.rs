//! A service's `deploy` (Compose's): its `update_config` (how `up` and
//! `restart` roll it out: `parallelism`, `delay`, `order`,
//! `failure_action`, `monitor`); Compose's other keys of `deploy` are
//! warned about as ignored for now.
//! A leaf: imports no other module of the build.

use crate::keys::{DEPLOY, DEPLOY_IGNORED, UPDATE_CONFIG};
use crate::model::{FailureAction, UpdateConfig, UpdateOrder};
use crate::pyfmt;
use crate::reader::{get_set, show, KeyPath, Reader};
use crate::yaml::Node;

/// The service's `deploy.update_config` (the defaults when unset), and
/// where its `order` is written (for the cross-checks).
pub(super) fn update_config<'n>(
    r: &mut Reader,
    entries: &'n [(Node, Node)],
    path: &KeyPath,
) -> (UpdateConfig, Option<&'n Node>) {
    let mut out = UpdateConfig::default();
    let Some(node) = get_set(entries, "deploy") else {
        return (out, None);
    };
    let at = format_args!("{path}/deploy");
    let deploy = r.map(node, &at).unwrap_or(&[]);
    for (k, _) in deploy {
        let key = pyfmt::key_text(&k.value);
        if DEPLOY_IGNORED.contains(&key.as_str()) {
            r.warn(
                k,
                &at,
                format!(
                    "`{key}` is ignored for now: maestro reads only `update_config` under `deploy`"
                ),
            );
        } else if !DEPLOY.contains(&key.as_str()) {
            r.warn(k, &at, format!("unknown key `{key}` is ignored"));
        }
    }
    let Some(node) = get_set(deploy, "update_config") else {
        return (out, None);
    };
    let at = format_args!("{at}/update_config");
    let m = r.map(node, &at).unwrap_or(&[]);
    r.unknown_keys(m, &at, UPDATE_CONFIG);
    if let Some(n) = get_set(m, "parallelism") {
        let p = r.integer(n, &format_args!("{at}/parallelism"), 0, u32::MAX.into());
        // Compose's 0: all at once.
        out.parallelism = p.and_then(|p| u32::try_from(p).ok()).filter(|p| *p > 0);
    }
    out.delay = get_set(m, "delay").and_then(|n| wait(r, n, &format_args!("{at}/delay")));
    out.monitor = get_set(m, "monitor").and_then(|n| wait(r, n, &format_args!("{at}/monitor")));
    let order = get_set(m, "order");
    out.order = order.and_then(|n| update_order(r, n, &format_args!("{at}/order")));
    if let Some(n) = get_set(m, "failure_action") {
        out.failure_action =
            failure_action(r, n, &format_args!("{at}/failure_action")).unwrap_or_default();
    }
    (out, order)
}

/// `delay`, `monitor`: seconds as a number or a duration, 0 or more.
fn wait(r: &mut Reader, n: &Node, p: &KeyPath) -> Option<f64> {
    match crate::options::seconds_of(n) {
        Some(s) if s >= 0.0 => Some(s),
        _ => {
            r.expected(
                n,
                p,
                "a duration of 0 seconds or more, as 10, \"10s\" or \"1m30s\"",
            );
            None
        }
    }
}

fn update_order(r: &mut Reader, n: &Node, p: &KeyPath) -> Option<UpdateOrder> {
    match n.as_str() {
        Some("start-first") => Some(UpdateOrder::StartFirst),
        Some("stop-first") => Some(UpdateOrder::StopFirst),
        _ => {
            r.error(
                n,
                p,
                format!(
                    "unknown order {}; expected start-first or stop-first",
                    show(n)
                ),
            );
            None
        }
    }
}

fn failure_action(r: &mut Reader, n: &Node, p: &KeyPath) -> Option<FailureAction> {
    match n.as_str() {
        Some("pause") => Some(FailureAction::Pause),
        Some("rollback") => Some(FailureAction::Rollback),
        Some("continue") => {
            r.error(n, p, "`continue` is not one of maestro's failure actions: a failed rollout stops there (`pause`) or puts back the containers it replaced (`rollback`)");
            None
        }
        _ => {
            r.error(
                n,
                p,
                format!(
                    "unknown failure action {}; expected pause or rollback",
                    show(n)
                ),
            );
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::build::tests::load;
    use crate::model::{FailureAction, UpdateConfig, UpdateOrder};

    fn file(deploy: &str) -> String {
        format!(
            "name: t
ships: {{s1: {{ip: 10.0.0.1}}}}
services:
  web:
    image: nginx
    deploy: {deploy}
    instances: {{web-1: {{ship: s1}}}}
"
        )
    }

    fn update_of(deploy: &str) -> UpdateConfig {
        let env = load(&file(deploy)).expect("valid");
        assert!(env.warnings.is_empty(), "{:?}", env.warnings);
        env.services["web"].update.clone()
    }

    fn messages(list: &[crate::ConfigError]) -> Vec<String> {
        list.iter().map(ToString::to_string).collect()
    }

    #[test]
    fn every_key_and_the_defaults() {
        assert_eq!(
            update_of(
                "{update_config: {parallelism: 2, delay: 10s, order: start-first, failure_action: rollback, monitor: '1.5'}}"
            ),
            UpdateConfig {
                parallelism: Some(2),
                delay: Some(10.0),
                order: Some(UpdateOrder::StartFirst),
                failure_action: FailureAction::Rollback,
                monitor: Some(1.5),
            }
        );
        assert_eq!(
            update_of("{update_config: {parallelism: 0, delay: 0, order: stop-first, failure_action: pause}}"),
            UpdateConfig {
                parallelism: None,
                delay: Some(0.0),
                order: Some(UpdateOrder::StopFirst),
                ..UpdateConfig::default()
            },
            "Compose's parallelism 0: all at once"
        );
        assert_eq!(update_of("{}"), UpdateConfig::default());
        assert_eq!(update_of("null"), UpdateConfig::default());
        assert_eq!(update_of("{update_config: null}"), UpdateConfig::default());
        assert_eq!(UpdateConfig::default().failure_action, FailureAction::Pause);
    }

    #[test]
    fn composes_other_keys_are_warned_about_one_by_one() {
        let env = load(&file(
            "{replicas: 2, resources: {limits: {cpus: '0.5'}}, endpoint_mode: vip, x: 1, update_config: {max_failure_ratio: 0.1}}",
        ))
        .expect("valid");
        assert_eq!(
            messages(&env.warnings),
            [
                "t.yaml:6:14: services/web/deploy: `replicas` is ignored for now: maestro reads only `update_config` under `deploy`",
                "t.yaml:6:27: services/web/deploy: `resources` is ignored for now: maestro reads only `update_config` under `deploy`",
                "t.yaml:6:63: services/web/deploy: `endpoint_mode` is ignored for now: maestro reads only `update_config` under `deploy`",
                "t.yaml:6:83: services/web/deploy: unknown key `x` is ignored",
                "t.yaml:6:105: services/web/deploy/update_config: unknown key `max_failure_ratio` is ignored",
            ]
        );
    }

    #[test]
    fn bad_values_are_located_errors() {
        let errors = load(&file(
            "{update_config: {parallelism: -1, delay: soon, order: first, failure_action: continue, monitor: -1}}",
        ))
        .expect_err("invalid")
        .errors;
        assert_eq!(
            messages(&errors),
            [
                "t.yaml:6:43: services/web/deploy/update_config/parallelism: expected a whole number from 0 to 4294967295, found an integer -1",
                "t.yaml:6:54: services/web/deploy/update_config/delay: expected a duration of 0 seconds or more, as 10, \"10s\" or \"1m30s\", found a string \"soon\"",
                "t.yaml:6:67: services/web/deploy/update_config/order: unknown order \"first\"; expected start-first or stop-first",
                "t.yaml:6:90: services/web/deploy/update_config/failure_action: `continue` is not one of maestro's failure actions: a failed rollout stops there (`pause`) or puts back the containers it replaced (`rollback`)",
                "t.yaml:6:109: services/web/deploy/update_config/monitor: expected a duration of 0 seconds or more, as 10, \"10s\" or \"1m30s\", found an integer -1",
            ]
        );
        let errors = load(&file("{update_config: {failure_action: stop}}"))
            .expect_err("invalid")
            .errors;
        assert_eq!(
            messages(&errors),
            ["t.yaml:6:46: services/web/deploy/update_config/failure_action: unknown failure action \"stop\"; expected pause or rollback"]
        );
    }
}
