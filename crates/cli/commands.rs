//! Running a command: the environment loaded (unless the command needs
//! none), then the command sent by family (reports, plays in dependency
//! order, plays in reverse, the commands that run no play) to the short
//! function that does it.

use std::borrow::Cow;
use std::io::Read;
use std::path::Path;

use maestro_config::{Container, Environment, LoadError, Source};
use std::time::Duration;

use maestro_plays::decide::proxy;
use maestro_plays::{select, Direction, PlayKind, PlayOptions, Selection};

use crate::args::{Cli, Command, Expand, Play, Things, COMMANDS};
use crate::output::{self, Failure};
use crate::plays;
use crate::source::{self, Description};

impl From<LoadError> for Failure {
    fn from(e: LoadError) -> Self {
        Failure::Environment(e.errors)
    }
}

/// Whose variables a command reads: none for those that read no
/// container's (they skip computing them), those its `exec` checks pass
/// for plays that create nothing, every one's otherwise.
fn environments_read_by(command: &Command) -> maestro_config::Environments {
    match command {
        Command::Status { .. }
        | Command::Logs { .. }
        | Command::Lock { .. }
        | Command::Deptree { .. }
        | Command::Exec { .. } => maestro_config::Environments::None,
        Command::Stop { .. }
        | Command::Kill { .. }
        | Command::Clean { .. }
        | Command::Pull { .. }
        | Command::Rollback { .. } => maestro_config::Environments::ExecChecks,
        _ => maestro_config::Environments::All,
    }
}

pub fn run(cli: Cli) -> Result<(), Failure> {
    match &cli.command {
        Command::Completions { shell } => {
            let mut command = <Cli as clap::CommandFactory>::command();
            let mut script = Vec::new();
            clap_complete::generate(*shell, &mut command, "maestro", &mut script);
            return output::print(&String::from_utf8_lossy(&script));
        }
        Command::Manpage { dir } => {
            let command = <Cli as clap::CommandFactory>::command();
            return match dir {
                None => {
                    let mut page = Vec::new();
                    clap_mangen::Man::new(command)
                        .render(&mut page)
                        .map_err(|e| {
                            Failure::Failed(format!("cannot write the manual page: {e}"))
                        })?;
                    output::print(&String::from_utf8_lossy(&page))
                }
                Some(dir) => write_manpages(command, dir),
            };
        }
        Command::Init {
            from,
            only,
            name,
            force,
        } => {
            let ask = crate::init::Init {
                from,
                only: only.as_deref(),
                name: name.as_deref(),
                force: *force,
            };
            let file = cli
                .files
                .last()
                .cloned()
                .unwrap_or_else(|| source::DEFAULT_FILE.into());
            return crate::init::init(&file, &ask);
        }
        _ => {}
    }
    let cwd = std::env::current_dir().unwrap_or_else(|_| ".".into());
    if let Command::Complete { tokens } = &cli.command {
        // Completion must not fail noisily: without a readable environment it
        // still completes command names.
        let env = source::choose(&cli.files, &cwd, false)
            .ok()
            .and_then(|d| load_quietly(&d));
        return complete(env.as_ref(), tokens);
    }
    let description = source::choose(&cli.files, &cwd, true).map_err(Failure::Failed)?;
    let needs = maestro_config::Needs {
        environments: environments_read_by(&cli.command),
    };
    let env = match &description {
        Description::Maestro(file) => maestro_environment(file, &cli.command, needs)?,
        Description::Compose(files) => match compose_environment(files, &cli.command, needs)? {
            Some(env) => env,
            None => return Ok(()),
        },
    };
    maestro_plays::trace::protect_environment(&env);
    maestro_plays::trace::debug(format!(
        "environment {} from {}: {} ships, {} containers, {} registries, {} auditors",
        env.name,
        env.source,
        env.ships.len(),
        env.containers.len(),
        env.registries.len(),
        env.audit.len()
    ));
    let result = dispatch(&env, cli.command);
    // The process ends right after; freeing a large model would only cost time.
    std::mem::forget(env);
    result
}

/// Runs `command` on `env`, by family: reports, plays taken in dependency
/// order, plays taken in reverse, and the commands that run no play.
fn dispatch(env: &Environment, command: Command) -> Result<(), Failure> {
    match command {
        Command::Deptree { .. }
        | Command::Config
        | Command::Dump { .. }
        | Command::Complete { .. }
        | Command::Status { .. } => report(env, command),
        Command::Pull { .. }
        | Command::Start { .. }
        | Command::Plan { .. }
        | Command::Up { .. }
        | Command::Clean { .. } => forward_play(env, command),
        Command::Rollback { .. }
        | Command::Stop { .. }
        | Command::Kill { .. }
        | Command::Restart { .. } => reverse_play(env, command),
        Command::Logs { .. }
        | Command::Lock { .. }
        | Command::Exec { .. }
        | Command::Run { .. } => tools(env, command),
        // Run before the environment is loaded.
        Command::Completions { .. } | Command::Manpage { .. } | Command::Init { .. } => Ok(()),
    }
}

/// `deptree`, `dump` and `status`: what the file says, or what runs.
fn report(env: &Environment, command: Command) -> Result<(), Failure> {
    match command {
        Command::Deptree { things, recursive } => deptree(env, &things.things, recursive),
        Command::Dump { things, config: _ } => dump(env, &things.things),
        Command::Status {
            things,
            play,
            full,
            show_hosts,
        } => {
            let containers = selection(env, "status", &things, &play, None, Direction::Forward)?;
            plays::status(
                env,
                &containers,
                full,
                show_hosts,
                concurrency(&play),
                play.json,
            )
        }
        // `complete` is answered before the environment is loaded; the
        // others are not reports.
        _ => Ok(()),
    }
}

/// `pull`, `start`, `plan`, `up` and `clean`: plays over the selection in
/// dependency order.
fn forward_play(env: &Environment, command: Command) -> Result<(), Failure> {
    match command {
        Command::Pull { things, play } => {
            let containers = selection(env, "pull", &things, &play, None, Direction::Forward)?;
            plays::play(env, &containers, PlayKind::Pull, options(&play), play.json)
        }
        Command::Start {
            things,
            play,
            refresh,
            converge,
        } => {
            let containers = selection(env, "start", &things, &play, None, Direction::Forward)?;
            let mut opts = options(&play);
            opts.refresh_images = refresh.refresh_images;
            opts.reuse = refresh.reuse;
            if converge {
                let whole = things.things.is_empty();
                return plays::up(env, &containers, whole, opts, false, play.json);
            }
            plays::play(env, &containers, PlayKind::Start, opts, play.json)
        }
        Command::Plan {
            things,
            play,
            rolling,
            keeping,
        } => {
            let containers = selection(env, "plan", &things, &play, None, Direction::Forward)?;
            let whole = things.things.is_empty();
            let mut opts = options(&play);
            opts.rollout = rolling.rollout();
            opts.keep_previous = !keeping.no_keep;
            plays::plan(env, &containers, whole, concurrency(&play), opts, play.json)
        }
        Command::Up {
            things,
            play,
            refresh_images,
            step_delay,
            remove_orphans,
            rolling,
            keeping,
        } => {
            let containers = selection(env, "up", &things, &play, None, Direction::Forward)?;
            let mut opts = options(&play);
            opts.rollout = rolling.rollout();
            opts.keep_previous = !keeping.no_keep;
            opts.refresh_images = refresh_images;
            opts.step_delay = Duration::from_secs(u64::from(step_delay));
            let whole = things.things.is_empty();
            plays::up(env, &containers, whole, opts, remove_orphans, play.json)
        }
        Command::Clean {
            things,
            play,
            networks,
            volumes,
            previous,
        } => {
            let containers = selection(env, "clean", &things, &play, None, Direction::Forward)?;
            let mut opts = options(&play);
            opts.clean_previous = previous;
            if networks || volumes {
                let what = (networks, volumes);
                return plays::clean_objects(env, &containers, opts, what, play.json);
            }
            plays::play(env, &containers, PlayKind::Clean, opts, play.json)
        }
        // Not a forward play: `dispatch` sends it elsewhere.
        _ => Ok(()),
    }
}

/// `rollback`, `stop`, `kill` and `restart`: plays over the selection in
/// reverse dependency order (dependents first).
fn reverse_play(env: &Environment, command: Command) -> Result<(), Failure> {
    match command {
        Command::Rollback { things, play } => {
            let containers = selection(env, "rollback", &things, &play, None, Direction::Reverse)?;
            plays::play(
                env,
                &containers,
                PlayKind::Rollback,
                options(&play),
                play.json,
            )
        }
        Command::Stop {
            things,
            play,
            expand,
        } => {
            let containers = selection(
                env,
                "stop",
                &things,
                &play,
                Some(&expand),
                Direction::Reverse,
            )?;
            plays::play(env, &containers, PlayKind::Stop, options(&play), play.json)
        }
        Command::Kill {
            things,
            play,
            expand,
        } => {
            let containers = selection(
                env,
                "kill",
                &things,
                &play,
                Some(&expand),
                Direction::Reverse,
            )?;
            plays::play(env, &containers, PlayKind::Kill, options(&play), play.json)
        }
        Command::Restart {
            things,
            play,
            expand,
            refresh,
            step_delay,
            stop_start_delay,
            only_if_changed,
            rolling,
            keeping,
        } => {
            let containers = selection(
                env,
                "restart",
                &things,
                &play,
                Some(&expand),
                Direction::Reverse,
            )?;
            let mut opts = options(&play);
            opts.refresh_images = refresh.refresh_images;
            opts.reuse = refresh.reuse;
            opts.step_delay = Duration::from_secs(u64::from(step_delay));
            opts.stop_start_delay = Duration::from_secs(u64::from(stop_start_delay));
            opts.only_if_changed = only_if_changed;
            opts.rollout = rolling.rollout();
            opts.keep_previous = !keeping.no_keep;
            plays::play(env, &containers, PlayKind::Restart, opts, play.json)
        }
        // Not a reverse play: `dispatch` sends it elsewhere.
        _ => Ok(()),
    }
}

/// `logs`, `lock`, `exec` and `run`: the commands that run no play.
fn tools(env: &Environment, command: Command) -> Result<(), Failure> {
    match command {
        Command::Logs {
            things,
            follow,
            lines,
            since,
        } => {
            if things.things.is_empty() {
                return Err(Failure::Usage(
                    "logs needs the containers or services to show, e.g. `maestro logs web-1` (a service shows all its instances)".into(),
                ));
            }
            let targets = targets(env, &things.things)?;
            let containers: Vec<&Container> = targets.iter().map(|c| c.as_ref()).collect();
            if let ([one], None) = (containers.as_slice(), &since) {
                return plays::logs(env, one, follow, lines);
            }
            let asked = crate::logs::Asked {
                follow,
                lines,
                since: since.as_deref(),
            };
            crate::logs::logs_merged(env, &containers, &asked)
        }
        Command::Lock { action } => crate::lock::command(env, &action),
        Command::Exec {
            thing,
            concurrency,
            command,
        } => {
            let targets = targets(env, std::slice::from_ref(&thing))?;
            let containers: Vec<&Container> = targets.iter().map(|c| c.as_ref()).collect();
            crate::exec::exec(env, &containers, &command, concurrency)
        }
        Command::Run {
            service,
            ship,
            keep,
            command,
        } => {
            let ask = maestro_plays::direct::run::RunAsk {
                service: &service,
                ship: ship.as_deref(),
                keep,
                command: &command,
            };
            crate::run::run(env, &ask)
        }
        // Runs a play: `dispatch` sends it elsewhere.
        _ => Ok(()),
    }
}

/// What `logs` and `exec` reach: each ship's proxy that `things` name as
/// `proxy@SHIP` (first), then the containers the others name.
fn targets<'e>(
    env: &'e Environment,
    things: &[String],
) -> Result<Vec<Cow<'e, Container>>, Failure> {
    let (proxies, others): (Vec<String>, Vec<String>) = things
        .iter()
        .cloned()
        .partition(|t| proxy::proxy_thing(t).is_some());
    let mut out: Vec<Cow<'e, Container>> = Vec::new();
    for ship in proxies.iter().filter_map(|t| proxy::proxy_thing(t)) {
        let found =
            proxy::proxy_container(env, ship).map_err(|e| Failure::Failed(e.to_string()))?;
        if !out.iter().any(|c| c.ship == found.ship) {
            out.push(Cow::Owned(found));
        }
    }
    if !others.is_empty() {
        out.extend(named(env, &others)?.into_iter().map(Cow::Borrowed));
    }
    Ok(out)
}

/// The containers `things` name (services expanded), in dependency order.
fn named<'e>(env: &'e Environment, things: &[String]) -> Result<Vec<&'e Container>, Failure> {
    let sel = Selection {
        things: things.to_vec(),
        expand_services: true,
        ..Default::default()
    };
    select(env, &sel, Direction::Forward).map_err(|e| Failure::Failed(e.to_string()))
}

fn concurrency(play: &Play) -> Option<usize> {
    play.concurrency.map(|n| n.max(1) as usize)
}

fn options(play: &Play) -> PlayOptions {
    PlayOptions {
        concurrency: concurrency(play),
        ignore_dependencies: play.ignore_dependencies,
        ..Default::default()
    }
}

fn load_quietly(description: &Description) -> Option<Environment> {
    match description {
        Description::Maestro(file) => {
            let source = Source::from_file(file).ok()?;
            maestro_config::load(&source, &maestro_config::process_env()).ok()
        }
        Description::Compose(files) => {
            let opts = maestro_compose::Options::for_files(files.iter().cloned());
            let needs = maestro_config::Needs {
                environments: maestro_config::Environments::None,
            };
            Some(
                maestro_config::compose::load(&opts, needs)
                    .ok()?
                    .environment,
            )
        }
    }
}

/// A maestro file's environment (`dump -c` printing its parsed document).
fn maestro_environment(
    file: &Path,
    command: &Command,
    needs: maestro_config::Needs,
) -> Result<Environment, Failure> {
    let source = read_source(file)?;
    if let Command::Config = command {
        return Err(Failure::Failed(format!(
            "{}: `config` prints a Compose file's model, and this is a maestro file; use `maestro dump` for its environment",
            file.display()
        )));
    }
    if let Command::Dump { config: true, .. } = command {
        let root = maestro_config::parse_document(&source, &maestro_config::process_env())?;
        let text = serde_json::to_string_pretty(&maestro_config::dump::document(&root))
            .map_err(|e| Failure::Failed(format!("cannot write JSON: {e}")))?;
        eprintln!("{text}\n");
    }
    load(&source, needs)
}

/// A Compose project's environment; `None` once `config` has printed the
/// project's model (it needs no environment).
fn compose_environment(
    files: &[std::path::PathBuf],
    command: &Command,
    needs: maestro_config::Needs,
) -> Result<Option<Environment>, Failure> {
    let opts = maestro_compose::Options::for_files(files.iter().cloned());
    let project = maestro_compose::load(&opts).map_err(maestro_config::compose::from_compose)?;
    match command {
        Command::Config => {
            output::warnings(&maestro_config::compose::project_warnings(&project));
            return output::print(&format!("{}\n", project.to_json_pretty())).map(|()| None);
        }
        Command::Dump { config: true, .. } => eprintln!("{}\n", project.to_json_pretty()),
        _ => {}
    }
    let env = maestro_config::compose::environment(&project, needs)?;
    output::warnings(&env.warnings);
    Ok(Some(env))
}

/// Reads the description from a file, or from stdin for `-`.
fn read_source(file: &Path) -> Result<Source, Failure> {
    Ok(if file == Path::new("-") {
        let mut bytes = Vec::new();
        std::io::stdin()
            .take(maestro_config::MAX_FILE_BYTES as u64 + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| {
                Failure::Failed(format!(
                    "cannot read the environment from standard input: {e}"
                ))
            })?;
        let cwd = std::env::current_dir().unwrap_or_else(|_| ".".into());
        Source::from_bytes("<stdin>".into(), cwd, bytes)?
    } else {
        Source::from_file(file)?
    })
}

/// Loads the environment; warnings go to stderr.
fn load(source: &Source, needs: maestro_config::Needs) -> Result<Environment, Failure> {
    let env = maestro_config::load_with(source, &maestro_config::process_env(), needs)?;
    output::warnings(&env.warnings);
    Ok(env)
}

fn deptree(env: &Environment, things: &[String], recursive: bool) -> Result<(), Failure> {
    let mut services = Vec::new();
    if things.is_empty() {
        services.extend(
            env.services
                .values()
                .filter(|s| !s.omit)
                .map(|s| s.name.clone()),
        );
    }
    for thing in things {
        if let Some(c) = env.containers.get(thing) {
            services.push(c.service.clone());
        } else if env.services.contains_key(thing) {
            services.push(thing.clone());
        } else {
            return Err(Failure::Failed(
                maestro_plays::SelectError::unknown(env, thing).to_string(),
            ));
        }
    }
    output::print(&env.graph.deptree(&services, recursive))
}

fn dump(env: &Environment, things: &[String]) -> Result<(), Failure> {
    let sel = Selection {
        things: things.to_vec(),
        expand_services: true,
        with_dependencies: true,
        include_omitted: true,
        ..Default::default()
    };
    let containers =
        select(env, &sel, Direction::Forward).map_err(|e| Failure::Failed(e.to_string()))?;
    output::print_json(&maestro_config::dump::environment(env, &containers))
}

/// Prints the words completing the last token: commands in the first
/// position, service and container names after.
fn complete(env: Option<&Environment>, tokens: &[String]) -> Result<(), Failure> {
    let words: Vec<&str> = tokens.iter().flat_map(|t| t.split(' ')).collect();
    // A trailing space means a new, empty word is being completed.
    let mut args: Vec<&str> = words
        .iter()
        .copied()
        .filter(|w| !w.starts_with('-'))
        .collect();
    if words.last() == Some(&"") && args.last() != Some(&"") {
        args.push("");
    }
    let prefix = args.last().copied().unwrap_or("");
    let choices: Vec<&str> = if args.len() <= 2 {
        COMMANDS.to_vec()
    } else {
        let mut names: Vec<&str> = env
            .iter()
            .flat_map(|e| e.services.keys().chain(e.containers.keys()))
            .map(String::as_str)
            .collect();
        names.sort();
        names.dedup();
        names
    };
    let matching: Vec<&str> = choices
        .into_iter()
        .filter(|c| c.starts_with(prefix))
        .collect();
    output::print(&format!("{}\n", matching.join(" ")))
}

/// The selection rules of MaestroNG's command line.
fn selection<'e>(
    env: &'e Environment,
    command: &str,
    things: &Things,
    play: &Play,
    expand: Option<&Expand>,
    direction: Direction,
) -> Result<Vec<&'e Container>, Failure> {
    let all = expand.is_some_and(|e| e.all);
    if expand.is_some() && !all && things.things.is_empty() {
        // Exit 1, as MaestroNG (its own check, after parsing the arguments).
        return Err(Failure::Failed(format!(
            "No services or containers specified for {command}, and --all not set."
        )));
    }
    let expand_services = match expand {
        Some(e) => e.expand_services || e.all,
        None => true,
    };
    let sel = Selection {
        things: things.things.clone(),
        expand_services,
        with_dependencies: play.with_dependencies
            || (things.things.is_empty() && !play.ignore_dependencies),
        include_omitted: command == "status",
        container_filter: play.container_filter.clone(),
        ship_filter: play.ship_filter.clone(),
    };
    select(env, &sel, direction).map_err(|e| Failure::Failed(e.to_string()))
}

/// `maestro.1` and `maestro-COMMAND.1` for each command, into `dir`.
fn write_manpages(command: clap::Command, dir: &Path) -> Result<(), Failure> {
    let write = |name: String, cmd: clap::Command| -> Result<(), Failure> {
        let path = dir.join(format!("{name}.1"));
        let mut page = Vec::new();
        clap_mangen::Man::new(cmd.name(name.clone()))
            .render(&mut page)
            .and_then(|_| std::fs::write(&path, &page))
            .map_err(|e| Failure::Failed(format!("cannot write {}: {e}", path.display())))
    };
    std::fs::create_dir_all(dir)
        .map_err(|e| Failure::Failed(format!("cannot create {}: {e}", dir.display())))?;
    for sub in command.get_subcommands() {
        write(format!("maestro-{}", sub.get_name()), sub.clone())?;
    }
    write("maestro".into(), command)?;
    println!("manual pages written to {}", dir.display());
    Ok(())
}
