//! Secrets, with the Compose file format's names: the top-level `secrets:`
//! (where each value comes from on the operator's machine: a `file`, an
//! `environment` variable, or maestro's `command`, also accepted under
//! `x-maestro`), and a service's or an instance's `secrets:` (which of them
//! its containers receive, as files or, with maestro's `as_env`, as
//! variables). No value is read here: the plays read them when they create
//! containers. Each bad entry gives one located error.

use std::collections::BTreeSet;
use std::path::Path;

use indexmap::IndexMap;

use crate::error::Mark;
use crate::keys::{SECRET, SECRET_MOUNT, SECRET_MOUNT_X_MAESTRO, SECRET_X_MAESTRO};
use crate::model::{SecretDef, SecretFrom, SecretMount};
use crate::reader::{get_set, show, unknown, KeyPath, Reader};
use crate::yaml::{Node, Value};

/// Compose's keys of a secret that only Swarm's secret store reads.
const SWARM_ONLY: &[&str] = &["external", "name"];
/// The keys naming where a value comes from, as messages list them.
const SOURCES: &str = "`file`, `environment` or `command`";
/// Seconds a `command` may take by default, and at most.
pub const DEFAULT_TIMEOUT: f64 = 30.0;
const MAX_TIMEOUT: f64 = 3600.0;
/// Where secret files go in a container.
pub const SECRETS_DIR: &str = "/run/secrets";
/// A secret file's mode by default.
pub const DEFAULT_MODE: u32 = 0o444;
/// The longest secret name.
const MAX_NAME: usize = 64;

/// The top-level `secrets:`: the valid ones, and every name declared
/// (valid or not, so that a bad entry is not also reported as unknown
/// wherever a container names it).
#[derive(Debug, Default)]
pub(crate) struct Declared {
    pub(crate) secrets: IndexMap<String, SecretDef>,
    pub(crate) names: BTreeSet<String>,
}

/// Reads the top-level `secrets:` map; `file` paths are taken from
/// `base_dir` (the environment file's directory).
pub(crate) fn definitions(r: &mut Reader, node: Option<&Node>, base_dir: &Path) -> Declared {
    let mut out = Declared::default();
    let Some(node) = node else { return out };
    for (k, v) in r.map(node, &"secrets").unwrap_or(&[]) {
        let Some(name) = r.key(k, &"secrets") else {
            continue;
        };
        out.names.insert(name.clone());
        if !is_secret_name(&name) {
            r.error(k, &"secrets", format!(
                "`{name}` is not a secret name; expected at most {MAX_NAME} letters, digits, `_`, `-` or `.`, not starting with `.`"
            ));
            continue;
        }
        let path = format_args!("secrets/{name}");
        if let Some(from) = definition(r, v, &path, base_dir) {
            out.secrets.insert(name.clone(), SecretDef { name, from });
        }
    }
    out
}

/// A name for a secret: letters, digits, `_`, `-`, `.`, not starting with
/// `.`, at most 64 characters.
pub fn is_secret_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= MAX_NAME
        && !s.starts_with('.')
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

/// A name for an environment variable: letters, digits and `_`, not
/// starting with a digit.
pub fn is_variable_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// One entry of the top-level `secrets:` at `path`: where its value comes from.
fn definition(r: &mut Reader, v: &Node, path: &KeyPath, base_dir: &Path) -> Option<SecretFrom> {
    let entries = r.map(v, path)?;
    r.unknown_keys_of(entries, path, &[SECRET, SWARM_ONLY]);
    let mut swarm = false;
    for (k, _) in entries {
        if let Some(key) = k.as_str().filter(|key| SWARM_ONLY.contains(key)) {
            swarm = true;
            r.error(k, path, format!(
                "`{key}` is for Swarm's secret store, which maestro does not have; maestro makes a secret from {SOURCES}"
            ));
        }
    }
    let x = x_maestro(r, entries, path, SECRET_X_MAESTRO);
    let command = addition(r, (entries, x), path, "command");
    let timeout = addition(r, (entries, x), path, "timeout");
    let file = get_set(entries, "file");
    let environment = get_set(entries, "environment");
    let given: Vec<String> = [
        ("file", file.is_some()),
        ("environment", environment.is_some()),
        ("command", command.is_some()),
    ]
    .into_iter()
    .filter(|(_, set)| *set)
    .map(|(k, _)| format!("`{k}`"))
    .collect();
    if given.len() != 1 {
        if !swarm {
            let found = if given.is_empty() {
                "none".to_owned()
            } else {
                given.join(" and ")
            };
            r.error(v, path, format!(
                "expected exactly one of {SOURCES} (where the secret's value comes from), found {found}"
            ));
        }
        return None;
    }
    if let (Some((n, p)), None) = (&timeout, &command) {
        r.error(
            n,
            p,
            "`timeout` bounds a secret's `command`; expected it only beside `command`",
        );
    }
    source_of(r, path, base_dir, (file, environment, command, timeout))
}

/// Where the value comes from, given the one source that is set.
type Given<'n> = (
    Option<&'n Node>,
    Option<&'n Node>,
    Option<(&'n Node, String)>,
    Option<(&'n Node, String)>,
);

fn source_of(r: &mut Reader, path: &KeyPath, base_dir: &Path, given: Given) -> Option<SecretFrom> {
    let (file, environment, command, timeout) = given;
    if let Some(n) = file {
        let text = r.name(n, &format_args!("{path}/file"), "the path of a file")?;
        return Some(SecretFrom::File(base_dir.join(text)));
    }
    if let Some(n) = environment {
        return variable(r, n, &format_args!("{path}/environment")).map(SecretFrom::Environment);
    }
    let (n, p) = command?;
    let argv = command_argv(r, n, &p);
    let timeout = match timeout {
        Some((n, p)) => timeout_seconds(r, n, &p),
        None => Some(DEFAULT_TIMEOUT),
    };
    Some(SecretFrom::Command {
        argv: argv?,
        timeout: timeout?,
    })
}

/// The entries of `x-maestro` in a mapping (where a Compose file keeps
/// maestro's additions), their unknown keys warned about.
fn x_maestro<'n>(
    r: &mut Reader,
    entries: &'n [(Node, Node)],
    path: &KeyPath,
    known: &[&str],
) -> &'n [(Node, Node)] {
    let Some(n) = get_set(entries, "x-maestro") else {
        return &[];
    };
    let at = format_args!("{path}/x-maestro");
    let m = r.map(n, &at).unwrap_or(&[]);
    r.unknown_keys(m, &at, known);
    m
}

/// The entries of a mapping.
type Entries<'n> = &'n [(Node, Node)];

/// maestro's addition `key`, set in the mapping or under its `x-maestro`:
/// its node and path. Set in both places, an error (and the mapping's is used).
fn addition<'n>(
    r: &mut Reader,
    (entries, x): (Entries<'n>, Entries<'n>),
    path: &KeyPath,
    key: &str,
) -> Option<(&'n Node, String)> {
    match (get_set(entries, key), get_set(x, key)) {
        (Some(plain), Some(extended)) => {
            r.error(
                extended,
                &format_args!("{path}/x-maestro/{key}"),
                format!("`{key}` is also set at `{path}/{key}`; expected it in one place"),
            );
            Some((plain, format!("{path}/{key}")))
        }
        (Some(plain), None) => Some((plain, format!("{path}/{key}"))),
        (None, Some(extended)) => Some((extended, format!("{path}/x-maestro/{key}"))),
        (None, None) => None,
    }
}

fn variable(r: &mut Reader, n: &Node, p: &KeyPath) -> Option<String> {
    let text = r.string(n, p)?;
    if is_variable_name(&text) {
        Some(text)
    } else {
        r.expected(
            n,
            p,
            "a variable name (letters, digits and `_`, not starting with a digit)",
        );
        None
    }
}

/// `command`: a string runs as `sh -c STRING`; a list is the argv.
fn command_argv(r: &mut Reader, n: &Node, p: &KeyPath) -> Option<Vec<String>> {
    match &n.value {
        Value::Str(s) if !s.trim().is_empty() => {
            Some(vec!["sh".to_owned(), "-c".to_owned(), s.clone()])
        }
        Value::Seq(items) if !items.is_empty() => Some(r.string_list(n, p)),
        _ => {
            r.expected(
                n,
                p,
                "a command string (run with `sh -c`) or a non-empty list of arguments",
            );
            None
        }
    }
}

/// `timeout`: seconds, or a duration as `30s`; more than 0, at most 3600.
fn timeout_seconds(r: &mut Reader, n: &Node, p: &KeyPath) -> Option<f64> {
    match crate::options::seconds_of(n) {
        Some(s) if s > 0.0 && s <= MAX_TIMEOUT => Some(s),
        _ => {
            r.expected(
                n,
                p,
                "a timeout of more than 0 and at most 3600 seconds, as 30 or \"30s\"",
            );
            None
        }
    }
}

/// What a container's `secrets:` are read against: the declared secrets,
/// and the document's text (to tell how an integer `mode` was written).
pub(crate) struct Against<'a> {
    pub(crate) declared: &'a Declared,
    pub(crate) text: &'a str,
}

/// A secret a container receives, and where it is written in the file.
#[derive(Debug, Clone)]
pub(crate) struct Mount<'n> {
    pub(crate) mount: SecretMount,
    pub(crate) node: &'n Node,
    pub(crate) path: String,
}

/// A service's or an instance's `secrets:`: each item a secret's name or a
/// mapping with `source`; no target nor variable twice.
pub(crate) fn mounts<'n>(
    r: &mut Reader,
    node: &'n Node,
    path: &KeyPath,
    against: &Against,
) -> Vec<Mount<'n>> {
    let items: &[Node] = match &node.value {
        Value::Seq(items) => items,
        _ => {
            r.expected(
                node,
                path,
                "a list of secret names or of mappings with `source`",
            );
            return Vec::new();
        }
    };
    let mut out: Vec<Mount> = Vec::new();
    for (i, item) in items.iter().enumerate() {
        let ip = format!("{path}[{i}]");
        let Some(mount) = mount(r, item, &ip, against) else {
            continue;
        };
        if let Some(why) = clash(&out, &mount) {
            r.error(item, &ip, why);
            continue;
        }
        out.push(Mount {
            mount,
            node: item,
            path: ip,
        });
    }
    out
}

/// Why `m` cannot go beside the `earlier` ones: the same file, or the same variable.
fn clash(earlier: &[Mount], m: &SecretMount) -> Option<String> {
    earlier.iter().find_map(|e| match (&e.mount.as_env, &m.as_env) {
        (Some(a), Some(b)) if a == b => Some(format!(
            "variable `{b}` is already given secret `{}` at {}; expected a different `as_env` for each secret",
            e.mount.source, e.path
        )),
        (None, None) if e.mount.target == m.target => Some(format!(
            "`{}` is already the target of secret `{}` at {}; expected each secret file at its own path",
            m.target, e.mount.source, e.path
        )),
        _ => None,
    })
}

fn mount(r: &mut Reader, item: &Node, ip: &KeyPath, against: &Against) -> Option<SecretMount> {
    match &item.value {
        Value::Str(_) | Value::Int(_) => {
            let source = source(r, item, ip, &against.declared.names)?;
            Some(SecretMount {
                target: format!("{SECRETS_DIR}/{source}"),
                source,
                uid: 0,
                gid: 0,
                mode: DEFAULT_MODE,
                as_env: None,
            })
        }
        Value::Map(entries) => long_form(r, item, entries, ip, against),
        _ => {
            r.expected(item, ip, "a secret's name or a mapping with `source`");
            None
        }
    }
}

/// The name of a declared secret, else a located error (with the close names).
fn source(r: &mut Reader, n: &Node, p: &KeyPath, names: &BTreeSet<String>) -> Option<String> {
    let name = r.name(n, p, "a secret's name")?;
    if names.contains(&name) {
        return Some(name);
    }
    let known: BTreeSet<&str> = names.iter().map(String::as_str).collect();
    let close = crate::suggest::did_you_mean(&name, known.iter().copied());
    let message = if close.is_empty() {
        unknown("secret", &name, &known).replace(
            "no secrets are defined",
            "no secrets are declared under the top-level `secrets`",
        )
    } else {
        format!("unknown secret `{name}`{close}")
    };
    r.error(n, p, message);
    None
}

/// The long form: `{source, target, uid, gid, mode, as_env}`.
fn long_form(
    r: &mut Reader,
    item: &Node,
    entries: &[(Node, Node)],
    ip: &KeyPath,
    against: &Against,
) -> Option<SecretMount> {
    r.unknown_keys(entries, ip, SECRET_MOUNT);
    let x = x_maestro(r, entries, ip, SECRET_MOUNT_X_MAESTRO);
    let as_env = addition(r, (entries, x), ip, "as_env").map(|(n, p)| variable(r, n, &p));
    let Some(source_node) = get_set(entries, "source") else {
        r.error(
            item,
            ip,
            "missing required key `source` (the name of a top-level secret)",
        );
        return None;
    };
    let source = source(
        r,
        source_node,
        &format_args!("{ip}/source"),
        &against.declared.names,
    );
    let file_keys: Vec<String> = ["target", "uid", "gid", "mode"]
        .into_iter()
        .filter(|k| get_set(entries, k).is_some())
        .map(|k| format!("`{k}`"))
        .collect();
    if as_env.is_some() && !file_keys.is_empty() {
        r.error(
            item,
            ip,
            format!(
                "`as_env` gives the secret as a variable, not a file; expected no {} beside it",
                file_keys.join(", ")
            ),
        );
        return None;
    }
    let at = |k: &str| format!("{ip}/{k}");
    let id = |r: &mut Reader, k: &str| match get_set(entries, k) {
        Some(n) => r.integer(n, &at(k), 0, u32::MAX as i128).map(|v| v as u32),
        None => Some(0),
    };
    let uid = id(r, "uid");
    let gid = id(r, "gid");
    let mode = match get_set(entries, "mode") {
        Some(n) => mode(r, n, &at("mode"), against.text),
        None => Some(DEFAULT_MODE),
    };
    let source = source?;
    let target = match get_set(entries, "target") {
        Some(n) => target(r, n, &at("target")),
        None => Some(format!("{SECRETS_DIR}/{source}")),
    };
    let as_env = match as_env {
        Some(None) => return None,
        Some(Some(var)) => Some(var),
        None => None,
    };
    Some(SecretMount {
        target: target?,
        uid: uid?,
        gid: gid?,
        mode: mode?,
        as_env,
        source,
    })
}

/// `target`: an absolute path, or one under `/run/secrets`; no `..`, not a
/// directory.
fn target(r: &mut Reader, n: &Node, p: &KeyPath) -> Option<String> {
    let text = r.name(n, p, "a path in the container")?;
    let full = if text.starts_with('/') {
        text
    } else {
        format!("{SECRETS_DIR}/{text}")
    };
    if full.ends_with('/') || full.split('/').any(|part| part == "..") {
        r.error(n, p, format!(
            "invalid secret target {}; expected the path of a file, without `..` and not ending in `/` (absolute, or relative to {SECRETS_DIR})",
            show(n)
        ));
        return None;
    }
    Some(full)
}

/// `mode`: octal, at most 0777. YAML 1.1 reads `0440` as octal already; a
/// number written without the leading zero (`440`) has its digits read as
/// octal digits; a string may be `"0440"` or `"0o440"`.
fn mode(r: &mut Reader, n: &Node, p: &KeyPath, text: &str) -> Option<u32> {
    let value = match &n.value {
        Value::Int(i) if written_octal(text, n.mark) => Some(*i),
        Value::Int(i) => octal(&i.to_string()),
        Value::Str(s) => {
            let s = s.trim();
            octal(
                s.strip_prefix("0o")
                    .or_else(|| s.strip_prefix("0O"))
                    .unwrap_or(s),
            )
        }
        _ => None,
    };
    match value {
        Some(v) if (0..=0o777).contains(&v) => u32::try_from(v).ok(),
        _ => {
            r.expected(
                n,
                p,
                "a file mode in octal, at most 0777 (as 0440, or \"0o440\")",
            );
            None
        }
    }
}

/// Octal digits as a number.
fn octal(digits: &str) -> Option<i128> {
    if digits.is_empty() || !digits.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
        return None;
    }
    i128::from_str_radix(digits, 8).ok()
}

/// Whether the plain scalar at `mark` in `text` is written as YAML 1.1's
/// octal form (a leading zero, then digits).
fn written_octal(text: &str, mark: Mark) -> bool {
    let Some(written) = written_at(text, mark) else {
        return false;
    };
    let digits = written.strip_prefix('+').unwrap_or(written);
    digits.len() > 1
        && digits.starts_with('0')
        && digits.bytes().all(|b| b.is_ascii_digit() || b == b'_')
}

/// The plain scalar written at `mark` (line and column from 1) of `text`.
fn written_at(text: &str, mark: Mark) -> Option<&str> {
    let line = text.lines().nth(mark.line.checked_sub(1)?)?;
    let start = line.char_indices().nth(mark.column.checked_sub(1)?)?.0;
    let rest = &line[start..];
    let end = rest
        .find(|c: char| c.is_whitespace() || matches!(c, ',' | ']' | '}' | '#'))
        .unwrap_or(rest.len());
    Some(&rest[..end])
}

/// The checks of a container's secrets against its other settings: an
/// `as_env` variable its own variables also set (`is_set`), and files in a
/// container with a read-only root filesystem.
pub(crate) fn check_container(
    r: &mut Reader,
    mounts: &[Mount],
    container: &str,
    is_set: impl Fn(&str) -> bool,
    read_only: bool,
) {
    for m in mounts {
        if let Some(var) = m.mount.as_env.as_deref().filter(|v| is_set(v)) {
            r.error(m.node, &m.path, format!(
                "`{var}` (the secret's `as_env`) is also one of `{container}`'s own variables (`env`, `envfile` or one maestro sets), which would make its value ambiguous; expected another variable name"
            ));
        }
    }
    let file = mounts.iter().find(|m| m.mount.as_env.is_none());
    if let (true, Some(m)) = (read_only, file) {
        r.error(m.node, &m.path, format!(
            "secret `{}` is a file, but `{container}` has `read_only: true`; secret files are written into the container before it starts, which needs a writable root filesystem; expected `as_env: VAR` for this secret, or no `read_only`",
            m.mount.source
        ));
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    fn load(text: &str) -> Result<crate::Environment, crate::LoadError> {
        let source = crate::Source {
            name: "t.yaml".into(),
            base_dir: PathBuf::from("/srv/env"),
            text: text.into(),
        };
        crate::load(&source, &Default::default())
    }

    fn errors(text: &str) -> Vec<String> {
        load(text)
            .err()
            .map(|e| e.errors.iter().map(ToString::to_string).collect())
            .unwrap_or_default()
    }

    const HEAD: &str = "name: t\nships: {s1: {ip: 10.0.0.1}}\n";

    /// A file of `HEAD`, the top-level `secrets` and one service `web`
    /// (its other keys `service`), with one instance (its keys `instance`).
    fn file(secrets: &str, service: &str, instance: &str) -> String {
        format!(
            "{HEAD}secrets:\n{secrets}services:\n  web:\n    image: nginx\n{service}    instances:\n      web-1: {{ship: s1{instance}}}\n"
        )
    }

    const DECLARED: &str = "  db_password: {file: ./secrets/db.txt}
  api_key: {environment: API_KEY}
  token: {command: vault read -field=token secret/app}
";

    fn mounts_of(service: &str, instance: &str) -> Vec<SecretMount> {
        let env = load(&file(DECLARED, service, instance)).expect("valid");
        assert!(env.warnings.is_empty(), "{:?}", env.warnings);
        env.containers["web-1"].options.secrets.clone()
    }

    fn file_mount(source: &str, target: &str, mode: u32) -> SecretMount {
        SecretMount {
            source: source.into(),
            target: target.into(),
            uid: 0,
            gid: 0,
            mode,
            as_env: None,
        }
    }

    #[test]
    fn each_source_kind_and_the_command_defaults() {
        let env = load(&file(
            "  a: {file: ./secrets/a.txt}
  b: {file: /etc/maestro/b}
  c: {environment: C_VALUE}
  d: {command: 'pass show d | head -1'}
  e: {command: [vault, read, -field=v, e], timeout: 5}
  f: {command: x, timeout: 1m30s}
  g: {x-maestro: {command: [get, g], timeout: '2.5'}}
  h: {environment: H, x-maestro: {}}
",
            "",
            "",
        ))
        .expect("valid");
        assert!(env.warnings.is_empty(), "{:?}", env.warnings);
        let from = |k: &str| env.secrets[k].from.clone();
        assert_eq!(env.secrets["a"].name, "a");
        assert_eq!(
            from("a"),
            SecretFrom::File(PathBuf::from("/srv/env/./secrets/a.txt"))
        );
        assert_eq!(from("b"), SecretFrom::File(PathBuf::from("/etc/maestro/b")));
        assert_eq!(from("c"), SecretFrom::Environment("C_VALUE".into()));
        let command = |argv: &[&str], timeout: f64| SecretFrom::Command {
            argv: argv.iter().map(|s| s.to_string()).collect(),
            timeout,
        };
        assert_eq!(
            from("d"),
            command(&["sh", "-c", "pass show d | head -1"], 30.0)
        );
        assert_eq!(from("e"), command(&["vault", "read", "-field=v", "e"], 5.0));
        assert_eq!(from("f"), command(&["sh", "-c", "x"], 90.0));
        assert_eq!(from("g"), command(&["get", "g"], 2.5));
        assert_eq!(from("h"), SecretFrom::Environment("H".into()));
        assert_eq!(
            env.secrets.keys().collect::<Vec<_>>(),
            ["a", "b", "c", "d", "e", "f", "g", "h"]
        );
    }

    #[test]
    fn the_short_form_is_a_file_under_run_secrets() {
        assert_eq!(
            mounts_of("    secrets: [db_password, api_key]\n", ""),
            [
                file_mount("db_password", "/run/secrets/db_password", 0o444),
                file_mount("api_key", "/run/secrets/api_key", 0o444),
            ]
        );
    }

    #[test]
    fn the_long_form_with_its_defaults() {
        let mounts = mounts_of(
            "    secrets:
      - {source: db_password}
      - {source: api_key, target: app/key, uid: '1000', gid: 33, mode: 0440}
      - {source: token, target: /etc/app/token, mode: 400}
      - {source: db_password, target: pw, mode: '0o640'}
      - {source: api_key, target: k2, mode: '0600'}
",
            "",
        );
        let mut key = file_mount("api_key", "/run/secrets/app/key", 0o440);
        key.uid = 1000;
        key.gid = 33;
        assert_eq!(
            mounts,
            [
                file_mount("db_password", "/run/secrets/db_password", 0o444),
                key,
                file_mount("token", "/etc/app/token", 0o400),
                file_mount("db_password", "/run/secrets/pw", 0o640),
                file_mount("api_key", "/run/secrets/k2", 0o600),
            ]
        );
    }

    /// YAML 1.1 reads `0644` as octal (420); written `644`, its digits are
    /// octal digits: both are 0o644.
    #[test]
    fn a_mode_written_with_or_without_its_leading_zero() {
        for written in ["0644", "644", "'644'", "'0644'", "'0o644'", "+0644"] {
            let mounts = mounts_of(
                &format!("    secrets: [{{source: token, mode: {written}}}]\n"),
                "",
            );
            assert_eq!(mounts[0].mode, 0o644, "{written}");
        }
        assert_eq!(
            mounts_of("    secrets:\n      - source: token\n        mode: 0\n", "")[0].mode,
            0
        );
    }

    #[test]
    fn as_env_makes_a_variable_in_either_place() {
        let mounts = mounts_of(
            "    secrets:
      - {source: api_key, as_env: API_KEY_VALUE}
      - {source: token, x-maestro: {as_env: TOKEN}}
      - db_password
",
            "",
        );
        let var = |source: &str, var: &str| SecretMount {
            as_env: Some(var.into()),
            ..file_mount(source, &format!("/run/secrets/{source}"), 0o444)
        };
        assert_eq!(
            mounts,
            [
                var("api_key", "API_KEY_VALUE"),
                var("token", "TOKEN"),
                file_mount("db_password", "/run/secrets/db_password", 0o444),
            ]
        );
    }

    #[test]
    fn an_instance_list_replaces_the_service_list() {
        let mounts = mounts_of(
            "    secrets: [db_password, api_key]\n",
            ", secrets: [token]",
        );
        assert_eq!(mounts, [file_mount("token", "/run/secrets/token", 0o444)]);
        assert!(mounts_of("", "").is_empty());
        assert!(mounts_of("    secrets: []\n", "").is_empty());
    }

    /// Under `read_only`, variables only; a name the container's own
    /// variables do not set.
    #[test]
    fn as_env_in_a_read_only_container() {
        let mounts = mounts_of(
            "    read_only: true\n    env: {OTHER: 1}\n    secrets: [{source: api_key, as_env: API_KEY}]\n",
            "",
        );
        assert_eq!(mounts[0].as_env.as_deref(), Some("API_KEY"));
    }

    #[test]
    fn dump_shows_sources_and_mounts_never_values() {
        let env = load(&file(
            DECLARED,
            "    secrets: [db_password, {source: api_key, as_env: KEY}, {source: token, mode: 0400, uid: 7}]\n    hooks: {pre_deploy: [migrate]}\n",
            "",
        ))
        .expect("valid");
        let all: Vec<&crate::Container> = env.containers.values().collect();
        let doc = serde_json::to_value(crate::dump::environment(&env, &all)).expect("json");
        assert_eq!(
            doc["secrets"],
            serde_json::json!({
                "db_password": {"file": "/srv/env/./secrets/db.txt"},
                "api_key": {"environment": "API_KEY"},
                "token": {"command": ["sh", "-c", "vault read -field=token secret/app"], "timeout": 30.0},
            })
        );
        assert_eq!(
            doc["containers"]["web-1"]["options"]["secrets"],
            serde_json::json!([
                {"source": "db_password", "target": "/run/secrets/db_password", "uid": 0, "gid": 0, "mode": "0444"},
                {"source": "api_key", "as_env": "KEY"},
                {"source": "token", "target": "/run/secrets/token", "uid": 7, "gid": 0, "mode": "0400"},
            ])
        );
        assert_eq!(
            doc["services"]["web"]["hooks"],
            serde_json::json!({"pre_deploy": [["migrate"]], "post_deploy": []})
        );
        let plain = load(&format!(
            "{HEAD}services:\n  s: {{image: b, instances: {{s-1: {{ship: s1}}}}}}\n"
        ))
        .expect("valid");
        let all: Vec<&crate::Container> = plain.containers.values().collect();
        let doc = serde_json::to_value(crate::dump::environment(&plain, &all)).expect("json");
        assert!(doc.get("secrets").is_none());
        assert!(doc["services"]["s"].get("hooks").is_none());
        assert!(doc["containers"]["s-1"].get("options").is_none());
    }

    #[test]
    fn names() {
        for good in ["a", "db_password", "api-key.v2", "A1", &"x".repeat(64)] {
            assert!(is_secret_name(good), "{good}");
        }
        for bad in ["", ".hidden", "a/b", "a b", "é", &"x".repeat(65)] {
            assert!(!is_secret_name(bad), "{bad}");
        }
        for good in ["A", "_x", "API_KEY2", "lower"] {
            assert!(is_variable_name(good), "{good}");
        }
        for bad in ["", "1A", "A-B", "A=B", "A B"] {
            assert!(!is_variable_name(bad), "{bad}");
        }
    }

    #[test]
    fn unknown_keys_are_warned_about() {
        let env = load(&file(
            "  a: {file: a.txt, labels: {x: y}, x-maestro: {retries: 2}}\n",
            "    secrets: [{source: a, owner: root, x-maestro: {as_file: true}}]\n",
            "",
        ))
        .expect("valid");
        let warnings: Vec<String> = env.warnings.iter().map(ToString::to_string).collect();
        assert_eq!(
            warnings,
            [
                "t.yaml:4:20: secrets/a: unknown key `labels` is ignored",
                "t.yaml:4:48: secrets/a/x-maestro: unknown key `retries` is ignored",
                "t.yaml:8:27: services/web/secrets[0]: unknown key `owner` is ignored",
                "t.yaml:8:52: services/web/secrets[0]/x-maestro: unknown key `as_file` is ignored",
            ]
        );
    }

    #[test]
    fn bad_definitions_are_located_errors() {
        let text = file(
            "  .hidden: {file: x}
  none: {}
  two: {file: a, environment: B}
  swarm: {external: true, name: corp}
  both: {command: a, x-maestro: {command: b}}
  lone_timeout: {environment: V, timeout: 5}
  slow: {command: a, timeout: 2h}
  zero: {command: a, timeout: 0}
  empty: {command: []}
  var: {environment: 9LIVES}
",
            "",
            "",
        );
        assert_eq!(
            errors(&text),
            [
                "t.yaml:4:3: secrets: `.hidden` is not a secret name; expected at most 64 letters, digits, `_`, `-` or `.`, not starting with `.`",
                "t.yaml:5:9: secrets/none: expected exactly one of `file`, `environment` or `command` (where the secret's value comes from), found none",
                "t.yaml:6:8: secrets/two: expected exactly one of `file`, `environment` or `command` (where the secret's value comes from), found `file` and `environment`",
                "t.yaml:7:11: secrets/swarm: `external` is for Swarm's secret store, which maestro does not have; maestro makes a secret from `file`, `environment` or `command`",
                "t.yaml:7:27: secrets/swarm: `name` is for Swarm's secret store, which maestro does not have; maestro makes a secret from `file`, `environment` or `command`",
                "t.yaml:8:43: secrets/both/x-maestro/command: `command` is also set at `secrets/both/command`; expected it in one place",
                "t.yaml:9:43: secrets/lone_timeout/timeout: `timeout` bounds a secret's `command`; expected it only beside `command`",
                "t.yaml:10:31: secrets/slow/timeout: expected a timeout of more than 0 and at most 3600 seconds, as 30 or \"30s\", found a string \"2h\"",
                "t.yaml:11:31: secrets/zero/timeout: expected a timeout of more than 0 and at most 3600 seconds, as 30 or \"30s\", found an integer 0",
                "t.yaml:12:20: secrets/empty/command: expected a command string (run with `sh -c`) or a non-empty list of arguments, found a list",
                "t.yaml:13:22: secrets/var/environment: expected a variable name (letters, digits and `_`, not starting with a digit), found a string \"9LIVES\"",
            ]
        );
    }

    #[test]
    fn bad_mounts_are_located_errors() {
        let text = file(
            DECLARED,
            "    read_only: true
    env: {TAKEN: x}
    secrets:
      - db_pasword
      - {target: /x}
      - {source: api_key, as_env: KEY, mode: 0400}
      - {source: api_key, as_env: TAKEN}
      - {source: api_key, target: ../etc/passwd}
      - {source: api_key, target: /run/secrets/}
      - {source: api_key, mode: 0800}
      - {source: api_key, mode: 1777}
      - {source: api_key, mode: 888}
      - {source: api_key, uid: -1, gid: root}
      - {source: token, as_env: T, x-maestro: {as_env: T2}}
      - {source: token, x-maestro: {as_env: T}}
      - {source: db_password, target: /run/secrets/token}
      - {source: token}
      - [token]
",
            "",
        );
        assert_eq!(
            errors(&text),
            [
                "t.yaml:13:9: services/web/secrets[0]: unknown secret `db_pasword`; did you mean db_password?",
                "t.yaml:14:9: services/web/secrets[1]: missing required key `source` (the name of a top-level secret)",
                "t.yaml:15:9: services/web/secrets[2]: `as_env` gives the secret as a variable, not a file; expected no `mode` beside it",
                "t.yaml:16:9: services/web/secrets[3]: `TAKEN` (the secret's `as_env`) is also one of `web-1`'s own variables (`env`, `envfile` or one maestro sets), which would make its value ambiguous; expected another variable name",
                "t.yaml:17:35: services/web/secrets[4]/target: invalid secret target \"../etc/passwd\"; expected the path of a file, without `..` and not ending in `/` (absolute, or relative to /run/secrets)",
                "t.yaml:18:35: services/web/secrets[5]/target: invalid secret target \"/run/secrets/\"; expected the path of a file, without `..` and not ending in `/` (absolute, or relative to /run/secrets)",
                "t.yaml:19:33: services/web/secrets[6]/mode: expected a file mode in octal, at most 0777 (as 0440, or \"0o440\"), found a string \"0800\"",
                "t.yaml:20:33: services/web/secrets[7]/mode: expected a file mode in octal, at most 0777 (as 0440, or \"0o440\"), found an integer 1777",
                "t.yaml:21:33: services/web/secrets[8]/mode: expected a file mode in octal, at most 0777 (as 0440, or \"0o440\"), found an integer 888",
                "t.yaml:22:32: services/web/secrets[9]/uid: expected a whole number from 0 to 4294967295, found an integer -1",
                "t.yaml:22:41: services/web/secrets[9]/gid: expected a whole number from 0 to 4294967295, found a string \"root\"",
                "t.yaml:23:56: services/web/secrets[10]/x-maestro/as_env: `as_env` is also set at `services/web/secrets[10]/as_env`; expected it in one place",
                "t.yaml:24:9: services/web/secrets[11]: variable `T` is already given secret `token` at services/web/secrets[10]; expected a different `as_env` for each secret",
                "t.yaml:25:9: services/web/secrets[12]: secret `db_password` is a file, but `web-1` has `read_only: true`; secret files are written into the container before it starts, which needs a writable root filesystem; expected `as_env: VAR` for this secret, or no `read_only`",
                "t.yaml:26:9: services/web/secrets[13]: `/run/secrets/token` is already the target of secret `db_password` at services/web/secrets[12]; expected each secret file at its own path",
                "t.yaml:27:9: services/web/secrets[14]: expected a secret's name or a mapping with `source`, found a list",
            ]
        );
    }
}
