//! `maestro lock status|acquire|release` (each lock and release told to the
//! audit trail), and the lock every play that changes state takes before it
//! begins and releases when it ends (in the debug trace: the auditors hear
//! of the play itself, as before). The lock itself is `maestro_plays::session::lock`.

use maestro_config::{Container, Environment};
use maestro_plays::session::audit::{self, Trail};
use maestro_plays::session::lock::{self, Holder};
use maestro_plays::Fleet;

use crate::args::LockAction;
use crate::output::Failure;

/// Set (to anything but empty) to play without the lock, e.g. when the
/// lock's ship is down and a deploy cannot wait.
pub const NO_LOCK: &str = "MAESTRO_NO_LOCK";

/// The command line from the command on (`start -c 2 web`), for the lock.
pub fn command_line(command: &str) -> String {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let from = args.iter().position(|a| a == command).unwrap_or(0);
    args[from..].join(" ")
}

/// Whether the operator asked to play without the lock.
pub fn no_lock_asked() -> bool {
    std::env::var_os(NO_LOCK).is_some_and(|v| !v.is_empty())
}

fn audit_level() -> maestro_config::AuditLevel {
    maestro_config::AuditLevel::Info
}

/// One warning per failing auditor (those with `ignore_errors` only in the trace).
pub fn warn_audit(errors: &[audit::AuditError]) {
    for e in errors {
        if !e.ignored {
            eprintln!("WARNING: {e}");
        }
    }
}

/// `maestro lock ACTION`.
pub fn command(env: &Environment, action: &LockAction) -> Result<(), Failure> {
    let Some((ship, name)) = lock::place(env) else {
        return Err(Failure::Failed(format!(
            "environment {} has no ships, so no deploy lock",
            env.name
        )));
    };
    let fleet = Fleet::new(env);
    let runtime = crate::runtime()?;
    let trail = Trail::new(env);
    let all: Vec<&Container> = env.containers.values().collect();
    let failed = |e: lock::LockError| Failure::Failed(e.to_string());
    match action {
        LockAction::Status => {
            match runtime.block_on(lock::current(&fleet, env)).map_err(failed)? {
                None => println!(
                    "The deploy lock of environment {} is free (it lives on ship {ship} as container {name}).",
                    env.name
                ),
                Some((_, holder)) => {
                    println!(
                        "The deploy lock of environment {} is held by {}.",
                        env.name,
                        holder.describe()
                    );
                    println!("{}", liveness(&holder));
                }
            }
            Ok(())
        }
        LockAction::Acquire { message } => {
            let me = Holder::me("lock acquire", message, false);
            runtime
                .block_on(lock::acquire(&fleet, env, &me))
                .map_err(failed)?;
            warn_audit(&runtime.block_on(trail.action(audit_level(), &all, "lock")));
            println!(
                "The deploy lock of environment {} is yours until `maestro lock release`.",
                env.name
            );
            Ok(())
        }
        LockAction::Release { force } => {
            let me = Holder::me("lock release", "", false);
            let mine = (!force).then_some(&me);
            match runtime
                .block_on(lock::release(&fleet, env, mine))
                .map_err(failed)?
            {
                None => println!("The deploy lock of environment {} was not held.", env.name),
                Some(holder) => {
                    warn_audit(&runtime.block_on(trail.action(audit_level(), &all, "unlock")));
                    println!(
                        "Released the deploy lock of environment {} (held by {}).",
                        env.name,
                        holder.describe()
                    );
                }
            }
            Ok(())
        }
    }
}

/// Whether the holder's run still runs, as far as this machine can tell.
fn liveness(holder: &Holder) -> String {
    match holder.pid {
        None => "It is held until released: `maestro lock release` (by its holder) or `maestro lock release --force`.".into(),
        Some(pid) if holder.is_dead() => format!(
            "Its run (process {pid} on {}) is no longer running: `maestro lock release --force` clears it.",
            holder.host
        ),
        Some(pid) => format!(
            "Its run is process {pid} on {}; it is released when that run ends.",
            holder.host
        ),
    }
}
