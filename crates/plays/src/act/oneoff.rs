//! Running one one-off container (`maestro run`, later the deploy hooks)
//! to its end, as a primitive: created from its request, joined to its
//! further networks, its files delivered, attached to, started, its output
//! passed on as it comes, waited for, and removed with its anonymous
//! volumes (unless kept) — and, when interrupted, stopped and removed.
//! Also what comes before: the image pulled and the networks and volumes
//! made when its ship lacks them.

use std::future::Future;

use futures_util::StreamExt;
use maestro_config::{Container, Environment};
use maestro_engine::{Engine, EngineError, ExecOutput};

use crate::decide::plan::CreateRequest;
use crate::observe::objects::ShipObjects;

/// One one-off container to run.
pub struct OneOff<'a> {
    pub engine: &'a Engine,
    /// Its name (`SERVICE-run-XXXXXX`), free on the engine.
    pub name: &'a str,
    /// Its request, `Env` included (see `decide::oneoff::one_off_request`).
    pub request: &'a CreateRequest,
    /// Seconds a stop on interrupt gives it before SIGKILL.
    pub grace: u32,
    /// Leave it (stopped) on the engine instead of removing it.
    pub keep: bool,
}

/// Why a one-off did not run to its end (its command's own failure is an
/// exit status).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum OneOffError {
    /// It could not be created (nothing is left behind).
    #[error("cannot create {name}: {error}")]
    Create { name: String, error: EngineError },
    /// Created, it could not be started, followed or waited for; it was
    /// then stopped and removed, unless `cleanup` says why not.
    #[error("{name} did not run to its end: {error}{}", left(.name, .cleanup))]
    Run {
        name: String,
        error: EngineError,
        cleanup: Option<EngineError>,
    },
    /// Interrupted: it was stopped (and removed unless kept), unless
    /// `cleanup` says why not.
    #[error("interrupted: {name} was stopped{}{}", if *.kept { " and kept" } else { " and removed" }, left(.name, .cleanup))]
    Interrupted {
        name: String,
        kept: bool,
        cleanup: Option<EngineError>,
    },
    /// Its command ended with `exit_code`, but it could not be removed.
    #[error("{name} exited with status {exit_code} but could not be removed (remove it with `docker rm -v {name}`): {error}")]
    NotRemoved {
        name: String,
        exit_code: i64,
        error: EngineError,
    },
}

fn left(name: &str, cleanup: &Option<EngineError>) -> String {
    cleanup
        .as_ref()
        .map(|e| format!("; it may be left behind (remove it with `docker rm -fv {name}`): {e}"))
        .unwrap_or_default()
}

/// Runs `one` to its end: creates it, delivers its files, attaches to it,
/// starts it, passes each piece of its output to `sink` as it comes, waits
/// for it to stop and removes it with its anonymous volumes (unless kept).
/// When `interrupt` resolves first, stops it (its grace period) and removes
/// it (unless kept). The command's exit status.
pub async fn run_one_off(
    one: &OneOff<'_>,
    sink: impl FnMut(ExecOutput),
    interrupt: impl Future<Output = ()>,
) -> Result<i64, OneOffError> {
    create(one).await?;
    let ran = {
        let run = attach_start_wait(one, sink);
        tokio::pin!(run);
        tokio::pin!(interrupt);
        tokio::select! {
            done = &mut run => Some(done),
            () = &mut interrupt => None,
        }
    };
    let name = one.name.to_owned();
    match ran {
        Some(Ok(exit_code)) => match dispose(one).await {
            Ok(()) => Ok(exit_code),
            Err(error) => Err(OneOffError::NotRemoved {
                name,
                exit_code,
                error,
            }),
        },
        Some(Err(error)) => Err(OneOffError::Run {
            name,
            error,
            cleanup: stop_and_dispose(one).await.err(),
        }),
        None => Err(OneOffError::Interrupted {
            name,
            kept: one.keep,
            cleanup: stop_and_dispose(one).await.err(),
        }),
    }
}

/// Creates the container and joins it to its further networks (removing
/// it again when that fails).
async fn create(one: &OneOff<'_>) -> Result<(), OneOffError> {
    let failed = |error| OneOffError::Create {
        name: one.name.to_owned(),
        error,
    };
    one.engine
        .create_container_for(
            one.name,
            one.request.body.clone(),
            one.request.platform.as_deref(),
        )
        .await
        .map_err(failed)?;
    let joined =
        crate::act::objects::connect_rest(one.engine, one.name, &one.request.connect).await;
    if let Err(error) = joined {
        let _ = one.engine.remove_container(one.name, true, true).await;
        return Err(failed(error));
    }
    Ok(())
}

/// Writes the secrets it receives as files into the created container,
/// before it starts.
async fn deliver_files(one: &OneOff<'_>) -> Result<(), EngineError> {
    let files = one.request.files();
    if files.is_empty() {
        return Ok(());
    }
    one.engine.put_files(one.name, &files).await
}

/// Its files delivered, attached to, started, its output passed on until
/// it ends, then its exit status.
async fn attach_start_wait(
    one: &OneOff<'_>,
    mut sink: impl FnMut(ExecOutput),
) -> Result<i64, EngineError> {
    deliver_files(one).await?;
    let mut output = one.engine.attach_output(one.name).await?;
    one.engine.start_container(one.name).await?;
    while let Some(chunk) = output.next().await {
        sink(chunk?);
    }
    one.engine.wait_container(one.name).await
}

/// Removes it with its anonymous volumes, unless kept.
async fn dispose(one: &OneOff<'_>) -> Result<(), EngineError> {
    if one.keep {
        return Ok(());
    }
    one.engine.remove_container(one.name, true, true).await
}

/// Stops it (its grace period), then [`dispose`]s of it.
async fn stop_and_dispose(one: &OneOff<'_>) -> Result<(), EngineError> {
    let stopped = one.engine.stop_container(one.name, one.grace).await;
    match (stopped, one.keep) {
        (Err(e), true) => Err(e),
        // A forced removal stops it too.
        _ => dispose(one).await,
    }
}

/// Creates the declared networks and named volumes `container` uses that
/// `engine`'s ship lacks (one made meanwhile by someone else is fine).
pub async fn ensure_objects(
    env: &Environment,
    container: &Container,
    engine: &Engine,
) -> Result<(), EngineError> {
    let (networks, volumes) = crate::observe::objects::needs(env, container);
    if networks.is_empty() && volumes.is_empty() {
        return Ok(());
    }
    let network_names: Vec<&str> = networks
        .iter()
        .map(|k| env.networks[*k].name.as_str())
        .collect();
    let volume_names: Vec<&str> = volumes
        .iter()
        .map(|k| env.volumes[*k].name.as_str())
        .collect();
    let have = ShipObjects {
        networks: engine.networks_named(&network_names).await?,
        volumes: engine.volumes_named(&volume_names).await?,
    };
    let missing = crate::decide::objects::missing(env, container, &have);
    for network in missing.networks {
        match engine.create_network(network.request).await {
            Err(EngineError::Refused { status: 409, .. }) | Ok(()) => {}
            Err(e) => return Err(e),
        }
    }
    for volume in missing.volumes {
        engine.create_volume(volume.request).await?;
    }
    Ok(())
}

/// How many random names are tried before giving up.
const NAME_TRIES: usize = 8;

/// A one-off name (`SERVICE-WHAT-XXXXXX`) that no container on `engine`
/// has, nor any instance of the file; `None` when each one tried is taken.
pub async fn free_name(
    env: &Environment,
    engine: &Engine,
    service: &str,
    what: &str,
) -> Result<Option<String>, EngineError> {
    for _ in 0..NAME_TRIES {
        let name = crate::decide::oneoff::one_off_name(service, what, random_suffix());
        if env.containers.contains_key(&name) {
            continue;
        }
        if engine.list_containers_named(&[&name]).await?.is_empty() {
            return Ok(Some(name));
        }
    }
    Ok(None)
}

/// 32 random bits: the process's hasher keys (drawn from the system's
/// randomness, new ones for each hasher) over the time and process id.
fn random_suffix() -> u32 {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default();
    hasher.write_u128(now);
    hasher.write_u32(std::process::id());
    let bits = hasher.finish();
    (bits ^ (bits >> 32)) as u32
}

#[cfg(test)]
mod tests {
    #[test]
    fn suffixes_differ() {
        let a: std::collections::BTreeSet<u32> = (0..64).map(|_| super::random_suffix()).collect();
        assert!(a.len() > 60, "{a:?}");
    }
}
