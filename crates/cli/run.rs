//! `maestro run SERVICE [--ship SHIP] [--keep] -- COMMAND…`: the terminal
//! side. The one-off's stdout goes to stdout and its stderr to stderr as
//! they come; a pull says what it does on stderr; maestro exits with the
//! command's status. The first Ctrl-C stops and removes the one-off, a
//! second one quits at once (exit 130).

use maestro_config::Environment;
use maestro_plays::act::oneoff::OneOffError;
use maestro_plays::direct::run::{RunAsk, RunError, RunEvent};
use maestro_plays::Fleet;

use crate::output::Failure;

/// The exit status of a run ended by Ctrl-C (128 + SIGINT), as a shell's.
const INTERRUPTED: u8 = 130;

/// Runs `ask` on `env`.
pub fn run(env: &Environment, ask: &RunAsk<'_>) -> Result<(), Failure> {
    let fleet = Fleet::new(env);
    let runtime = crate::runtime()?;
    let last = std::sync::Mutex::new(String::new());
    let result = runtime.block_on(maestro_plays::direct::run::run(
        env,
        &fleet,
        ask,
        |event| tell(&last, event),
        |chunk| {
            crate::exec::write_output(chunk);
        },
        interrupted(),
    ));
    match result {
        Ok(0) => Ok(()),
        Ok(code) => Err(Failure::Status(crate::exec::exit_status(code))),
        Err(RunError::OneOff(e @ OneOffError::NotRemoved { exit_code, .. })) => {
            eprintln!("WARNING: {e}");
            match exit_code {
                0 => Ok(()),
                code => Err(Failure::Status(crate::exec::exit_status(code))),
            }
        }
        Err(RunError::OneOff(e @ OneOffError::Interrupted { .. })) => {
            eprintln!("{e}");
            Err(Failure::Status(INTERRUPTED))
        }
        Err(e) => Err(Failure::Failed(e.to_string())),
    }
}

/// What happens before the command runs, on stderr: the pull's steps
/// (each once, without its percentages); the one-off's name in the debug
/// trace.
fn tell(last: &std::sync::Mutex<String>, event: RunEvent) {
    match event {
        RunEvent::Named {
            name,
            ship,
            instance,
        } => maestro_plays::trace::debug(format!(
            "one-off {name} on ship {ship}, with the configuration of {instance}"
        )),
        RunEvent::Pulling(text) => {
            if text.contains('%') {
                return;
            }
            let Ok(mut last) = last.lock() else { return };
            if *last != text {
                eprintln!("{text}");
                *last = text;
            }
        }
    }
}

/// Resolves at the first Ctrl-C (the one-off is then stopped and
/// removed); a second one ends the process at once.
async fn interrupted() {
    if tokio::signal::ctrl_c().await.is_err() {
        return std::future::pending().await;
    }
    eprintln!("\nInterrupted: stopping the one-off container (Ctrl-C again to quit now).");
    tokio::spawn(async {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("Interrupted again: quitting; the one-off container may be left behind.");
            std::process::exit(i32::from(INTERRUPTED));
        }
    });
}
