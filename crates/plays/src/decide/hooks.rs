//! Deploy hooks in `up`'s plan, pure: a service's `pre_deploy` commands run
//! before the first of its containers that `up` creates or replaces (after
//! that container's image pull, before anything of it is stopped), its
//! `post_deploy` commands after the last of them passed its checks — each
//! an operation of that container, a one-off container of the service's new
//! configuration on its ship. A service that `up` leaves alone runs none.

use std::sync::Arc;

use maestro_config::{Container, Environment};

use crate::decide::plan::{creates, Entry, HookPhase, HookRun, Op, Step, Work};
use crate::observe::secrets::SecretValues;

/// Adds the hooks of each service with containers to create or replace to
/// `entries` (one per container of `containers`, in selection order); for
/// each such service, the indexes of those containers, in order.
pub(crate) fn place(
    env: &Environment,
    containers: &[&Container],
    secrets: &SecretValues,
    entries: &mut [Entry],
) -> Vec<Vec<usize>> {
    let mut hooked = Vec::new();
    for service in env.services.values().filter(|s| !s.hooks.is_empty()) {
        let changed: Vec<usize> = (0..containers.len())
            .filter(|&i| containers[i].service == service.name)
            .filter(|&i| matches!(&entries[i], Entry::Work(w) if creates(&w.ops)))
            .collect();
        let (Some(&first), Some(&last)) = (changed.first(), changed.last()) else {
            continue;
        };
        let hooks = &service.hooks;
        let runs = |phase, commands: &[Vec<String>], c: &Container| -> Vec<Op> {
            commands
                .iter()
                .map(|command| hook_op(env, c, secrets, phase, command))
                .collect()
        };
        let pre = runs(HookPhase::PreDeploy, &hooks.pre_deploy, containers[first]);
        let post = runs(HookPhase::PostDeploy, &hooks.post_deploy, containers[last]);
        if let Entry::Work(work) = &mut entries[first] {
            insert_before_changes(work, pre);
        }
        if let Entry::Work(work) = &mut entries[last] {
            work.ops.extend(post);
        }
        hooked.push(changed);
    }
    hooked
}

/// Makes each hooked service's changed containers (from [`place`]) wait,
/// in their second part, for the first (its `pre_deploy` hooks done), and
/// its last for all the others (so that `post_deploy` runs after every
/// one) — whatever else orders them (`-i` orders nothing).
pub(crate) fn order(hooked: &[Vec<usize>], second_waits: &mut [Vec<usize>]) {
    for changed in hooked {
        let (Some(&first), Some(&last)) = (changed.first(), changed.last()) else {
            continue;
        };
        for &i in &changed[1..] {
            if !second_waits[i].contains(&first) {
                second_waits[i].push(first);
            }
        }
        for &i in &changed[..changed.len() - 1] {
            if i != first && !second_waits[last].contains(&i) {
                second_waits[last].push(i);
            }
        }
    }
}

/// The operation running `command` as a `phase` hook, in a one-off of
/// `c`'s configuration (the one `up` creates `c` with).
fn hook_op(
    env: &Environment,
    c: &Container,
    secrets: &SecretValues,
    phase: HookPhase,
    command: &[String],
) -> Op {
    let request = crate::decide::oneoff::one_off_request(env, c, secrets, &c.name, command);
    let cause = match phase {
        HookPhase::PreDeploy => format!("before {}'s containers are replaced", c.service),
        HookPhase::PostDeploy => format!("after {}'s containers passed their checks", c.service),
    };
    let run = HookRun {
        service: c.service.clone(),
        phase,
        command: command.to_vec(),
        request,
    };
    Op::new(Step::Hook(Arc::new(run)), cause)
}

/// Puts `ops` after the container's pull and the networks and volumes it
/// needs (the hook runs the new image, on them), before its first other
/// operation.
fn insert_before_changes(work: &mut Work, ops: Vec<Op>) {
    let at = work
        .ops
        .iter()
        .position(|op| {
            !matches!(
                op.step,
                Step::Pull | Step::CreateNetwork(_) | Step::CreateVolume(_)
            )
        })
        .unwrap_or(work.ops.len());
    if at < work.split {
        work.split += ops.len();
    }
    work.ops.splice(at..at, ops);
}
