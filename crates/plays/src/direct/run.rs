//! `run`: a one-off container with a service's configuration, like
//! `docker compose run`. The instance whose configuration it takes is
//! picked (decide), the one-off named `SERVICE-run-XXXXXX` (a name its
//! engine has no container of), its image pulled and its networks and
//! volumes made when the ship lacks them, then it runs to its end (act).
//! No deploy lock is taken, and nothing of the environment's instances is
//! touched: a play may run meanwhile.

use maestro_config::Environment;
use maestro_engine::{EngineError, ExecOutput};

use crate::act::failure::Failure;
use crate::act::oneoff::{OneOff, OneOffError};
use crate::decide::oneoff::{one_off_request, pick_instance, PickError};
use crate::observe::fleet::Fleet;

/// What `maestro run` is asked.
#[derive(Debug, Clone, Copy)]
pub struct RunAsk<'a> {
    pub service: &'a str,
    /// Take the configuration of the service's instance on this ship.
    pub ship: Option<&'a str>,
    /// Leave the one-off (stopped) instead of removing it.
    pub keep: bool,
    /// The command and its arguments (not empty).
    pub command: &'a [String],
}

/// Why the one-off did not run to its end (its command's own failure is
/// an exit status).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RunError {
    /// No command was given.
    #[error("give the command to run after `--`, e.g. `maestro run {0} -- sh -c 'echo hello'`")]
    NoCommand(String),
    /// No instance's configuration to take.
    #[error("{0}")]
    Pick(#[from] PickError),
    /// The ship's engine could not be reached, or refused a call before the
    /// one-off was created.
    #[error("{0}")]
    Engine(#[from] EngineError),
    /// The image could not be pulled.
    #[error("{image} is not on ship {ship} and could not be pulled ({failure}); run `maestro pull {service}` to see why")]
    Pull {
        service: String,
        image: String,
        ship: String,
        failure: Box<Failure>,
    },
    /// The networks or volumes it uses could not be made.
    #[error("cannot create the networks and volumes the one-off uses on ship {ship}: {error}")]
    Objects { ship: String, error: EngineError },
    /// Each name tried is taken on the engine.
    #[error("cannot find a free name for a one-off of {0} (each one tried is taken)")]
    NoName(String),
    #[error("{0}")]
    OneOff(#[from] OneOffError),
    /// A secret the one-off receives could not be read (nothing was made).
    #[error("{0}")]
    Secret(#[from] crate::observe::secrets::SecretError),
}

/// What a run tells as it goes (before the command's own output).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunEvent {
    /// The one-off's name and ship, and the instance whose configuration
    /// it takes.
    Named {
        name: String,
        ship: String,
        instance: String,
    },
    /// The image is being pulled (the pull's own words).
    Pulling(String),
}

/// Runs `ask.command` in a one-off container of `ask.service`: `events`
/// hears what happens before it runs, `sink` gets its output as it comes,
/// `interrupt` (Ctrl-C) stops and removes it. The command's exit status.
pub async fn run(
    env: &Environment,
    fleet: &Fleet,
    ask: &RunAsk<'_>,
    events: impl Fn(RunEvent) + Send + Sync,
    sink: impl FnMut(ExecOutput),
    interrupt: impl std::future::Future<Output = ()>,
) -> Result<i64, RunError> {
    if ask.command.is_empty() {
        return Err(RunError::NoCommand(ask.service.to_owned()));
    }
    let container = pick_instance(env, ask.service, ask.ship)?;
    let secrets = crate::observe::secrets::resolve(env, &[container]).await?;
    let engine = fleet.engine(&container.ship).await?;
    let name = crate::act::oneoff::free_name(env, &engine, ask.service, "run")
        .await?
        .ok_or_else(|| RunError::NoName(ask.service.to_owned()))?;
    events(RunEvent::Named {
        name: name.clone(),
        ship: container.ship.clone(),
        instance: container.name.clone(),
    });
    let pulled = crate::act::ops::ensure_image(env, container, engine.clone(), |text| {
        events(RunEvent::Pulling(text.to_owned()))
    })
    .await;
    if let Err(failure) = pulled {
        return Err(RunError::Pull {
            service: ask.service.to_owned(),
            image: container.image.clone(),
            ship: container.ship.clone(),
            failure: Box::new(failure),
        });
    }
    crate::act::oneoff::ensure_objects(env, container, &engine)
        .await
        .map_err(|error| RunError::Objects {
            ship: container.ship.clone(),
            error,
        })?;
    let request = one_off_request(env, container, &secrets, &name, ask.command);
    let one = OneOff {
        engine: &engine,
        name: &name,
        request: &request,
        grace: container.stop_timeout,
        keep: ask.keep,
    };
    Ok(crate::act::oneoff::run_one_off(&one, sink, interrupt).await?)
}
