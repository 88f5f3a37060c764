//! maestro's debug trace: with `MAESTRO_LOG=debug` (or `trace`) in the
//! environment, the plays say on stderr what they do (`DEBUG: …` lines):
//! where credentials came from, logins, pull attempts and retries, each
//! container's steps, what every auditor was told. Every line is scrubbed of
//! the secrets maestro knows of (registry passwords, identity tokens, audit
//! tokens) before it is written, so no verbosity shows them.

use std::sync::{OnceLock, RwLock};

use maestro_config::{AuditKind, Environment};

/// Secrets shorter than this are not scrubbed from texts (a one-letter
/// "password" would blank out every word holding that letter).
const SHORTEST_SCRUBBED: usize = 4;

static SECRETS: RwLock<Vec<String>> = RwLock::new(Vec::new());

/// Whether the debug trace is on (`MAESTRO_LOG=debug` or `trace`).
pub fn enabled() -> bool {
    static ON: OnceLock<bool> = OnceLock::new();
    *ON.get_or_init(|| {
        std::env::var("MAESTRO_LOG")
            .map(|v| matches!(v.trim().to_ascii_lowercase().as_str(), "debug" | "trace"))
            .unwrap_or(false)
    })
}

/// Writes `DEBUG: text` on stderr when the trace is on, secrets scrubbed.
pub fn debug(text: impl AsRef<str>) {
    if enabled() {
        eprintln!("DEBUG: {}", scrub(text.as_ref()));
    }
}

/// Remembers `secret` so that [`scrub`] hides it from now on.
pub fn protect(secret: &str) {
    if secret.len() < SHORTEST_SCRUBBED {
        return;
    }
    if let Ok(mut list) = SECRETS.write() {
        if !list.iter().any(|s| s == secret) {
            list.push(secret.to_owned());
            // Longest first, so that a secret holding another is hidden whole.
            list.sort_by_key(|s| std::cmp::Reverse(s.len()));
        }
    }
}

/// Remembers every secret of the environment: registry passwords, audit
/// tokens and the values of webhook headers named like credentials.
pub fn protect_environment(env: &Environment) {
    for registry in env.registries.values() {
        if let Some(password) = &registry.password {
            protect(password.expose());
        }
    }
    for auditor in &env.audit {
        match &auditor.kind {
            AuditKind::Slack { token, .. } | AuditKind::Hipchat { token, .. } => {
                protect(token.expose())
            }
            // Webhook headers that carry credentials (`Authorization`, `X-Api-Key`…).
            AuditKind::Http { headers, .. } => {
                for (name, value) in headers {
                    let name = name.to_ascii_lowercase();
                    if ["auth", "token", "secret", "key", "password"]
                        .iter()
                        .any(|word| name.contains(word))
                    {
                        protect(value);
                    }
                }
            }
            AuditKind::Log { .. } | AuditKind::Exec { .. } => {}
        }
    }
}

/// `text` with every known secret replaced by `***`.
pub fn scrub(text: &str) -> String {
    let Ok(list) = SECRETS.read() else {
        return text.to_owned();
    };
    let mut out = text.to_owned();
    for secret in list.iter() {
        if out.contains(secret.as_str()) {
            out = out.replace(secret.as_str(), "***");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_secrets_are_scrubbed_longest_first() {
        protect("s3cret-part");
        protect("s3cret-part-and-more");
        protect("ab");
        assert_eq!(
            scrub("a s3cret-part-and-more and s3cret-part, ab"),
            "a *** and ***, ab"
        );
    }
}
