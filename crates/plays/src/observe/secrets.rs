//! The values of the secrets a play's containers receive, read on the
//! operator's machine from where the file says (a file, a variable of this
//! process, a command's output), once per play, the commands at the same
//! time; and each value's digest, which is all of it that ever leaves
//! maestro besides the value itself (in a label, for drift). A value is
//! never printed: its `Debug` is `***`, and errors name the secret, never
//! its value.

use std::collections::{BTreeSet, HashMap};
use std::fmt;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use maestro_config::{Container, Environment, SecretDef, SecretFrom};
use tokio::io::AsyncReadExt;

/// The most a secret may hold (a command's output, a file).
pub const MAX_SECRET_BYTES: usize = 1 << 20;
/// The most of a failing command's standard error shown.
const MAX_STDERR_SHOWN: usize = 2000;

/// A secret's value. Never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretValue(Arc<[u8]>);

impl SecretValue {
    pub fn new(bytes: Vec<u8>) -> SecretValue {
        SecretValue(bytes.into())
    }
    /// The clear bytes, for the one place that sends them (the engine).
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// One resolved secret: its value and the value's digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    pub value: SecretValue,
    /// [`digest`] of the value.
    pub digest: String,
}

/// The secrets a play resolved, by name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SecretValues {
    pub by_name: HashMap<String, Resolved>,
}

impl SecretValues {
    pub fn get(&self, name: &str) -> Option<&Resolved> {
        self.by_name.get(name)
    }
}

/// Why a secret has no value.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SecretError {
    #[error("secret {name}: cannot read {path}: {reason}; check `secrets/{name}/file`")]
    File {
        name: String,
        path: String,
        reason: String,
    },
    #[error("secret {name}: {path} holds more than 1 MiB; a secret must be smaller")]
    FileTooLarge { name: String, path: String },
    #[error("secret {name}: the variable {var} is not set in maestro's environment; set it, or change `secrets/{name}/environment`")]
    Unset { name: String, var: String },
    #[error("secret {name}: cannot run its command ({program}): {reason}")]
    Spawn {
        name: String,
        program: String,
        reason: String,
    },
    #[error("secret {name}: its command did not finish within {seconds}s (it was killed); raise `secrets/{name}/timeout` or fix the command")]
    Timeout { name: String, seconds: f64 },
    #[error("secret {name}: its command printed more than 1 MiB; a secret must be smaller")]
    OutputTooLarge { name: String },
    #[error("secret {name}: its command failed ({status}){}", stderr_part(.stderr))]
    Failed {
        name: String,
        status: String,
        /// Its standard error, the value (its output so far) removed.
        stderr: String,
    },
    #[error("secret {name}: its command printed nothing; a secret needs a value")]
    Empty { name: String },
    #[error("secret {name}: no such secret in the file's `secrets`")]
    Undefined { name: String },
}

fn stderr_part(stderr: &str) -> String {
    let text = stderr.trim();
    if text.is_empty() {
        String::new()
    } else {
        format!(": {text}")
    }
}

/// The names of the secrets `containers` receive, sorted.
pub fn used_by(containers: &[&Container]) -> BTreeSet<String> {
    containers
        .iter()
        .flat_map(|c| c.options.secrets.iter().map(|s| s.source.clone()))
        .collect()
}

/// Reads the secrets `containers` receive (every command at the same time);
/// the first failure, in name order, when one has no value.
pub async fn resolve(
    env: &Environment,
    containers: &[&Container],
) -> Result<SecretValues, SecretError> {
    let names = used_by(containers);
    let reads = names.iter().map(|name| async move {
        let def = env
            .secrets
            .get(name)
            .ok_or_else(|| SecretError::Undefined { name: name.clone() })?;
        let value = read(def).await?;
        protect(&value);
        let digest = digest(&env.name, name, value.expose());
        Ok::<_, SecretError>((name.clone(), Resolved { value, digest }))
    });
    let mut by_name = HashMap::new();
    for result in futures_util::future::join_all(reads).await {
        let (name, resolved) = result?;
        by_name.insert(name, resolved);
    }
    Ok(SecretValues { by_name })
}

/// Has the debug trace (and every text scrubbed like it: audit messages,
/// engine errors) hide the value, and each of its lines.
fn protect(value: &SecretValue) {
    let text = String::from_utf8_lossy(value.expose());
    crate::trace::protect(text.trim());
    for line in text.lines() {
        crate::trace::protect(line.trim());
    }
}

/// One secret's value, from its source.
async fn read(def: &SecretDef) -> Result<SecretValue, SecretError> {
    let name = def.name.clone();
    match &def.from {
        SecretFrom::File(path) => {
            let shown = path.display().to_string();
            let bytes = tokio::fs::read(path).await.map_err(|e| SecretError::File {
                name: name.clone(),
                path: shown.clone(),
                reason: e.to_string(),
            })?;
            if bytes.len() > MAX_SECRET_BYTES {
                return Err(SecretError::FileTooLarge { name, path: shown });
            }
            Ok(SecretValue::new(bytes))
        }
        SecretFrom::Environment(var) => match std::env::var_os(var) {
            Some(value) => Ok(SecretValue::new(value.into_encoded_bytes())),
            None => Err(SecretError::Unset {
                name,
                var: var.clone(),
            }),
        },
        SecretFrom::Command { argv, timeout } => run(&name, argv, *timeout).await,
    }
}

/// A command's standard output (one final newline taken off), within
/// `timeout` seconds and [`MAX_SECRET_BYTES`].
async fn run(name: &str, argv: &[String], timeout: f64) -> Result<SecretValue, SecretError> {
    let program = argv.first().cloned().unwrap_or_default();
    let mut child = tokio::process::Command::new(&program)
        .args(argv.iter().skip(1))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| SecretError::Spawn {
            name: name.to_owned(),
            program: program.clone(),
            reason: e.to_string(),
        })?;
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    let work = async {
        let (out, err) = tokio::join!(capped(stdout), capped(stderr));
        let status = child.wait().await;
        (out, err, status)
    };
    let limit = Duration::from_secs_f64(timeout.max(0.001));
    let Ok((out, err, status)) = tokio::time::timeout(limit, work).await else {
        return Err(SecretError::Timeout {
            name: name.to_owned(),
            seconds: timeout,
        });
    };
    let (mut out, too_much) = out;
    if too_much {
        return Err(SecretError::OutputTooLarge {
            name: name.to_owned(),
        });
    }
    let status = status.map_err(|e| SecretError::Spawn {
        name: name.to_owned(),
        program,
        reason: e.to_string(),
    })?;
    if !status.success() {
        let shown = redacted(&err.0, &out);
        return Err(SecretError::Failed {
            name: name.to_owned(),
            status: status.to_string(),
            stderr: shown,
        });
    }
    if out.last() == Some(&b'\n') {
        out.pop();
        if out.last() == Some(&b'\r') {
            out.pop();
        }
    }
    if out.is_empty() {
        return Err(SecretError::Empty {
            name: name.to_owned(),
        });
    }
    Ok(SecretValue::new(out))
}

/// Everything a pipe gives, up to [`MAX_SECRET_BYTES`] (and whether it
/// gave more).
async fn capped<R: tokio::io::AsyncRead + Unpin>(pipe: Option<R>) -> (Vec<u8>, bool) {
    let Some(pipe) = pipe else {
        return (Vec::new(), false);
    };
    let mut out = Vec::new();
    let limit = MAX_SECRET_BYTES as u64 + 1;
    // A pipe that breaks keeps what it gave; the exit status tells the rest.
    let _ = pipe.take(limit).read_to_end(&mut out).await;
    let too_much = out.len() > MAX_SECRET_BYTES;
    (out, too_much)
}

/// A failing command's standard error for people: at most
/// [`MAX_STDERR_SHOWN`] bytes, every line of what it printed on its
/// standard output (a value, or part of one) replaced by `***`.
fn redacted(stderr: &[u8], stdout: &[u8]) -> String {
    let mut text = String::from_utf8_lossy(stderr).into_owned();
    let printed = String::from_utf8_lossy(stdout);
    let mut parts: Vec<&str> = printed
        .lines()
        .map(str::trim)
        .filter(|l| l.len() >= 3)
        .collect();
    parts.sort_by_key(|p| std::cmp::Reverse(p.len()));
    for part in parts {
        text = text.replace(part, "***");
    }
    if text.len() > MAX_STDERR_SHOWN {
        let mut cut = MAX_STDERR_SHOWN;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        text.truncate(cut);
        text.push('…');
    }
    text
}

/// The digest of a secret's value that maestro stores (in a label) to
/// tell when it changed: Argon2id, a deliberately slow and memory-hard
/// function, salted with the environment's and the secret's names, so that
/// even a short password cannot be found from it by trying candidates.
pub fn digest(env_name: &str, secret: &str, value: &[u8]) -> String {
    use sha2::Digest;
    let mut salt_input = sha2::Sha256::new();
    salt_input.update(b"maestro secret digest\0");
    salt_input.update(env_name.as_bytes());
    salt_input.update(b"\0");
    salt_input.update(secret.as_bytes());
    let salt = salt_input.finalize();
    let params = argon2::Params::new(19 * 1024, 2, 1, Some(16)).ok();
    let mut out = [0u8; 16];
    let hashed = params.and_then(|p| {
        argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, p)
            .hash_password_into(value, &salt[..16], &mut out)
            .ok()
    });
    if hashed.is_none() {
        // Fixed, valid parameters: this does not happen; a digest that
        // never matches makes the container be recreated, never kept.
        return "unknown".into();
    }
    out.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn def(from: SecretFrom) -> SecretDef {
        SecretDef {
            name: "pw".into(),
            from,
        }
    }

    fn command(script: &str) -> SecretFrom {
        SecretFrom::Command {
            argv: vec!["sh".into(), "-c".into(), script.into()],
            timeout: 5.0,
        }
    }

    #[tokio::test]
    async fn a_commands_output_is_the_value_without_its_final_newline() {
        let v = read(&def(command("echo s3cret"))).await.expect("ran");
        assert_eq!(v.expose(), b"s3cret");
        assert_eq!(format!("{v:?}"), "***");
    }

    #[tokio::test]
    async fn a_failing_commands_error_shows_its_stderr_without_the_value() {
        let e = read(&def(command(
            "echo hunter2-value; echo 'bad token hunter2-value' >&2; exit 4",
        )))
        .await
        .expect_err("fails");
        let text = e.to_string();
        assert!(!text.contains("hunter2"), "{text}");
        assert!(text.contains("bad token ***"), "{text}");
        assert!(
            text.starts_with("secret pw: its command failed (exit status: 4)"),
            "{text}"
        );
    }

    #[tokio::test]
    async fn a_command_is_bounded_in_time_and_size() {
        let slow = SecretFrom::Command {
            argv: vec!["sh".into(), "-c".into(), "sleep 5".into()],
            timeout: 0.2,
        };
        let e = read(&def(slow)).await.expect_err("too slow");
        assert!(matches!(e, SecretError::Timeout { .. }), "{e}");
        let big = read(&def(command("head -c 1100000 /dev/zero"))).await;
        assert!(
            matches!(big, Err(SecretError::OutputTooLarge { .. })),
            "{big:?}"
        );
        let none = read(&def(command("true"))).await;
        assert!(matches!(none, Err(SecretError::Empty { .. })), "{none:?}");
    }

    #[tokio::test]
    async fn files_and_variables_are_read_and_their_absence_named() {
        let dir = std::env::temp_dir().join(format!("maestro-secret-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let file = dir.join("pw.txt");
        std::fs::write(&file, b"from-file\n").expect("write");
        let v = read(&def(SecretFrom::File(file.clone())))
            .await
            .expect("read");
        assert_eq!(v.expose(), b"from-file\n", "a file is taken as it is");
        let missing = read(&def(SecretFrom::File(dir.join("nope")))).await;
        let text = missing.expect_err("missing").to_string();
        assert!(text.starts_with("secret pw: cannot read "), "{text}");
        let unset = read(&def(SecretFrom::Environment(
            "MAESTRO_TEST_SURELY_UNSET_VAR".into(),
        )))
        .await;
        assert_eq!(
            unset.expect_err("unset").to_string(),
            "secret pw: the variable MAESTRO_TEST_SURELY_UNSET_VAR is not set in maestro's environment; set it, or change `secrets/pw/environment`"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn the_digest_depends_on_the_value_the_environment_and_the_name() {
        let d = digest("prod", "pw", b"hunter2");
        assert_eq!(d.len(), 32);
        assert_eq!(d, digest("prod", "pw", b"hunter2"));
        assert_ne!(d, digest("prod", "pw", b"hunter3"));
        assert_ne!(d, digest("stage", "pw", b"hunter2"));
        assert_ne!(d, digest("prod", "pw2", b"hunter2"));
        assert!(!d.contains("hunter2"));
    }

    /// The commands of different secrets run at the same time: each of
    /// these two waits for the other to have begun, so run one after the
    /// other the first would time out.
    #[tokio::test]
    async fn the_commands_of_different_secrets_run_at_the_same_time() {
        let dir = std::env::temp_dir().join(format!("maestro-secrets-both-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let wait_for = |me: &str, other: &str| {
            format!(
                "touch {d}/{me}; i=0; while [ ! -f {d}/{other} ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i+1)); done; [ -f {d}/{other} ] && echo {me}-value",
                d = dir.display()
            )
        };
        let text = format!(
            "name: t
ships: {{s1: {{ip: 10.0.0.1}}}}
secrets:
  a: {{command: {a:?}, timeout: 20}}
  b: {{command: {b:?}, timeout: 20}}
services:
  web: {{image: nginx, secrets: [a, b], instances: {{web-1: {{ship: s1}}}}}}
",
            a = wait_for("a", "b"),
            b = wait_for("b", "a"),
        );
        let source = maestro_config::Source {
            name: "t.yaml".into(),
            base_dir: dir.clone(),
            text,
        };
        let env = maestro_config::load(&source, &Default::default()).expect("valid");
        let containers: Vec<&Container> = env.containers.values().collect();
        let values = resolve(&env, &containers).await.expect("both read");
        let a = values.get("a").map(|r| r.value.expose().to_vec());
        assert_eq!(a.as_deref(), Some(&b"a-value"[..]));
        let b = values.get("b").map(|r| r.value.expose().to_vec());
        assert_eq!(b.as_deref(), Some(&b"b-value"[..]));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
