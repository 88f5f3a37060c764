//! A service's deploy `hooks`: the commands `up` runs around the
//! replacement of the service's containers (`pre_deploy` before the first,
//! `post_deploy` after the last), each a string split as `command` is, or a
//! list of arguments. Hooks are the service's: an instance's are refused,
//! as are its `proxy` and `deploy`, the service's too.
//! A leaf: imports no other module of the build.

use crate::model::Hooks;
use crate::pyfmt;
use crate::reader::{get_set, KeyPath, Reader};
use crate::yaml::{Node, Value};

/// The service's `hooks` (none when unset); `path` is the service's.
pub(super) fn hooks(r: &mut Reader, entries: &[(Node, Node)], path: &KeyPath) -> Hooks {
    let mut hooks = Hooks::default();
    let Some(node) = get_set(entries, "hooks") else {
        return hooks;
    };
    let at = format_args!("{path}/hooks");
    for (k, v) in r.map(node, &at).unwrap_or(&[]) {
        let key = pyfmt::key_text(&k.value);
        let slot = match key.as_str() {
            "pre_deploy" => &mut hooks.pre_deploy,
            "post_deploy" => &mut hooks.post_deploy,
            _ => {
                r.error(
                    k,
                    &at,
                    format!("unknown hook `{key}`; expected `pre_deploy` or `post_deploy`"),
                );
                continue;
            }
        };
        *slot = commands(r, v, &format_args!("{at}/{key}"));
    }
    hooks
}

/// A list of commands, each a string (split as a shell would) or a list.
fn commands(r: &mut Reader, node: &Node, path: &KeyPath) -> Vec<Vec<String>> {
    let items = match &node.value {
        Value::Null => return Vec::new(),
        Value::Seq(items) => items,
        _ => {
            r.expected(
                node,
                path,
                "a list of commands, each a string or a list of arguments",
            );
            return Vec::new();
        }
    };
    let mut out = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let ip = format_args!("{path}[{i}]");
        match crate::reader::command(r, item, &ip) {
            Some(argv) if argv.is_empty() => r.expected(
                item,
                &ip,
                "a command string or a non-empty list of arguments",
            ),
            Some(argv) => out.push(argv),
            None => {}
        }
    }
    out
}

/// The keys that are a service's only, and how messages say they are.
const SERVICE_ONLY: &[(&str, &str, &str)] = &[
    ("hooks", "belong", "them"),
    ("proxy", "belongs", "it"),
    ("deploy", "belongs", "it"),
];

/// An instance's `hooks`, `proxy` or `deploy` (at `path`, the instance's),
/// refused: they belong to its service.
pub(super) fn refuse_on_instance(
    r: &mut Reader,
    entries: &[(Node, Node)],
    path: &KeyPath,
    service: &str,
) {
    for (k, _) in entries {
        let found = SERVICE_ONLY
            .iter()
            .find(|(key, ..)| k.as_str() == Some(key));
        let Some((key, verb, them)) = found else {
            continue;
        };
        r.error(k, path, format!(
            "`{key}` {verb} to the service, not to one of its instances; expected {them} under `services/{service}/{key}`"
        ));
    }
}

#[cfg(test)]
mod tests {
    use crate::build::tests::load;

    fn errors(text: &str) -> Vec<String> {
        load(text)
            .err()
            .map(|e| e.errors.iter().map(ToString::to_string).collect())
            .unwrap_or_default()
    }

    #[test]
    fn each_hook_is_a_list_of_strings_or_argument_lists() {
        let env = load(
            "name: t
ships: {s1: {ip: 10.0.0.1}}
services:
  web:
    image: nginx
    hooks:
      pre_deploy: ['./manage.py migrate --noinput', [sh, -c, 'echo \"a b\"']]
      post_deploy: ['curl -fsS \"http://hooks.example/deployed?x=1\"']
    instances: {web-1: {ship: s1}}
  db:
    image: pg
    instances: {db-1: {ship: s1}}
",
        )
        .expect("valid");
        let hooks = &env.services["web"].hooks;
        assert_eq!(
            hooks.pre_deploy,
            [
                vec!["./manage.py", "migrate", "--noinput"],
                vec!["sh", "-c", "echo \"a b\""],
            ]
        );
        assert_eq!(
            hooks.post_deploy,
            [vec!["curl", "-fsS", "http://hooks.example/deployed?x=1"]]
        );
        assert!(env.services["db"].hooks.is_empty());
        assert!(env.warnings.is_empty(), "{:?}", env.warnings);
    }

    #[test]
    fn an_empty_or_null_hook_is_none() {
        let env = load(
            "name: t
ships: {s1: {ip: 10.0.0.1}}
services:
  web:
    image: nginx
    hooks: {pre_deploy: [], post_deploy: null}
    instances: {web-1: {ship: s1}}
",
        )
        .expect("valid");
        assert!(env.services["web"].hooks.is_empty());
    }

    #[test]
    fn bad_hooks_are_located_errors() {
        let file = "name: t
ships: {s1: {ip: 10.0.0.1}}
services:
  web:
    image: nginx
    hooks: {pre_deploy: ['', []], after: [x], post_deploy: migrate}
    instances: {web-1: {ship: s1, hooks: {pre_deploy: [x]}}}
";
        assert_eq!(
            errors(file),
            [
                "t.yaml:6:26: services/web/hooks/pre_deploy[0]: expected a command string or a non-empty list of arguments, found a string \"\"",
                "t.yaml:6:30: services/web/hooks/pre_deploy[1]: expected a command string or a non-empty list of arguments, found a list",
                "t.yaml:6:35: services/web/hooks: unknown hook `after`; expected `pre_deploy` or `post_deploy`",
                "t.yaml:6:60: services/web/hooks/post_deploy: expected a list of commands, each a string or a list of arguments, found a string \"migrate\"",
                "t.yaml:7:35: services/web/instances/web-1: `hooks` belong to the service, not to one of its instances; expected them under `services/web/hooks`",
            ]
        );
    }
}
