//! Public key authentication as `ssh` does it: the keys ssh-agent holds
//! (only those of the `IdentityFile`s under `IdentitiesOnly yes`), then the
//! identity files themselves. A key protected by a passphrase is used only
//! through the agent; maestro never asks for a passphrase.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use russh::client::Handle;
use russh::keys::agent::client::AgentClient;
use russh::keys::ssh_key::{HashAlg, PublicKey};
use russh::keys::{load_public_key, load_secret_key, PrivateKeyWithHashAlg};

use super::config::Hop;
use super::{Checker, Failure};
use crate::error::root_cause;

/// Authenticates `handle` as `hop.user`, or says why it could not.
pub(super) async fn authenticate(handle: &mut Handle<Checker>, hop: &Hop) -> Result<(), Failure> {
    let rsa_hash = handle
        .best_supported_rsa_hash()
        .await
        .map_err(|e| Failure::Other(root_cause(&e)))?
        .flatten();
    let file_keys: Vec<(PathBuf, Option<PublicKey>)> = hop
        .identity_files
        .iter()
        .filter(|p| p.exists())
        .map(|p| (p.clone(), public_of(p)))
        .collect();
    let mut tried = Tried::default();
    if let Some(sock) = &hop.agent {
        if offer_agent_keys(handle, hop, sock, &file_keys, rsa_hash, &mut tried).await {
            return Ok(());
        }
    }
    if offer_file_keys(handle, hop, &file_keys, rsa_hash, &mut tried).await? {
        return Ok(());
    }
    Err(Failure::Other(refusal(hop, &tried)))
}

/// The keys offered so far, and why others could not be, for the message
/// when the server accepts none.
#[derive(Default)]
struct Tried {
    /// The agent's keys offered.
    agent_keys: Vec<PublicKey>,
    /// The identity files offered.
    files: Vec<String>,
    /// The identity files left out: protected by a passphrase.
    encrypted: Vec<PathBuf>,
    /// What else went wrong on the way (no agent, an unreadable key).
    notes: Vec<String>,
}

/// Offers the keys of the agent at `sock` (under `IdentitiesOnly`, only
/// those of the identity files); true when the server accepted one.
async fn offer_agent_keys(
    handle: &mut Handle<Checker>,
    hop: &Hop,
    sock: &Path,
    file_keys: &[(PathBuf, Option<PublicKey>)],
    rsa_hash: Option<HashAlg>,
    tried: &mut Tried,
) -> bool {
    let mut agent = match AgentClient::connect_uds(sock).await {
        Ok(agent) => agent,
        Err(e) => {
            tried.notes.push(format!(
                "no ssh-agent answers at {} ({})",
                sock.display(),
                root_cause(&e)
            ));
            return false;
        }
    };
    let identities = match agent.request_identities().await {
        Ok(identities) => identities,
        Err(e) => {
            tried.notes.push(format!(
                "the agent at {} would not list its keys ({})",
                sock.display(),
                root_cause(&e)
            ));
            return false;
        }
    };
    for identity in identities {
        let key = identity.public_key().into_owned();
        if hop.identities_only && !file_keys.iter().any(|(_, k)| k.as_ref() == Some(&key)) {
            continue;
        }
        let hash = key.algorithm().is_rsa().then_some(rsa_hash).flatten();
        let result = handle
            .authenticate_publickey_with(hop.user.clone(), key.clone(), hash, &mut agent)
            .await;
        tried.agent_keys.push(key);
        if result.is_ok_and(|outcome| outcome.success()) {
            return true;
        }
    }
    false
}

/// Offers the identity files the agent did not already offer; true when the
/// server accepted one.
async fn offer_file_keys(
    handle: &mut Handle<Checker>,
    hop: &Hop,
    file_keys: &[(PathBuf, Option<PublicKey>)],
    rsa_hash: Option<HashAlg>,
    tried: &mut Tried,
) -> Result<bool, Failure> {
    for (path, public) in file_keys {
        if public
            .as_ref()
            .is_some_and(|k| tried.agent_keys.contains(k))
        {
            continue; // the agent offered it already
        }
        let key = match load_secret_key(path, None) {
            Ok(key) => key,
            Err(russh::keys::Error::KeyIsEncrypted) => {
                tried.encrypted.push(path.clone());
                continue;
            }
            Err(e) => {
                tried.notes.push(format!(
                    "cannot use the key {}: {}",
                    path.display(),
                    root_cause(&e)
                ));
                continue;
            }
        };
        tried.files.push(path.display().to_string());
        let hash = key.algorithm().is_rsa().then_some(rsa_hash).flatten();
        let outcome = handle
            .authenticate_publickey(
                hop.user.clone(),
                PrivateKeyWithHashAlg::new(Arc::new(key), hash),
            )
            .await
            .map_err(|e| Failure::Other(root_cause(&e)))?;
        if outcome.success() {
            return Ok(true);
        }
    }
    Ok(false)
}

/// The public half of an identity file: `FILE.pub`, else derived from an
/// unencrypted key.
fn public_of(path: &Path) -> Option<PublicKey> {
    let mut pub_path = path.as_os_str().to_owned();
    pub_path.push(".pub");
    if let Ok(key) = load_public_key(PathBuf::from(pub_path)) {
        return Some(key);
    }
    load_secret_key(path, None)
        .ok()
        .map(|k| k.public_key().clone())
}

/// The message when the server accepted no key: what was offered, and what
/// to do.
fn refusal(hop: &Hop, tried: &Tried) -> String {
    let agent_keys = tried.agent_keys.len();
    let (files, encrypted, notes) = (&tried.files, &tried.encrypted, &tried.notes);
    let who = format!("{}@{}:{}", hop.user, hop.host, hop.port);
    let mut text = if agent_keys == 0 && files.is_empty() && !encrypted.is_empty() {
        let first = encrypted[0].display();
        format!(
            "{who}: the key {first} is protected by a passphrase and no ssh-agent holds it; add it to the agent with `ssh-add {first}` (with SSH_AUTH_SOCK set) and run again"
        )
    } else if agent_keys == 0 && files.is_empty() {
        let agent = match &hop.agent {
            Some(sock) => format!("the agent at {} holds no key", sock.display()),
            None => "no ssh-agent (SSH_AUTH_SOCK is not set)".to_owned(),
        };
        format!(
            "{who}: no SSH key to offer: {agent}, and none of {} exists; add a key to ssh-agent (`ssh-add KEY`) or name one with IdentityFile in ~/.ssh/config",
            hop.identity_files
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        )
    } else {
        let mut tried = Vec::new();
        if agent_keys > 0 {
            tried.push(format!("{agent_keys} key(s) of the agent"));
        }
        tried.extend(files.iter().cloned());
        format!(
            "{who}: the server refused every key offered ({}); authorise one of them for user {} on the host",
            tried.join(", "),
            hop.user
        )
    };
    if !encrypted.is_empty() && (agent_keys > 0 || !files.is_empty()) {
        text.push_str(&format!(
            "; {} is protected by a passphrase: add it with `ssh-add`",
            encrypted[0].display()
        ));
    }
    for note in notes {
        text.push_str("; ");
        text.push_str(note);
    }
    text
}
