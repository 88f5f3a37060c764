//! Reads Compose files into a normalized model: the JSON that
//! `docker compose config --format json` (Compose v2) prints for them.
//!
//! One or several files are merged as Compose merges them, with the project's
//! `.env` (or explicit env files) and the process environment for
//! interpolation, `include`, `extends` and `profiles`. Keys maestro cannot
//! honour are refused with an error naming the file, line, column and key
//! path. `docs/compose.md` lists every key and every known difference from
//! Compose v2.
//!
//! ```no_run
//! let opts = maestro_compose::Options::for_files(["compose.yaml"]);
//! let project = maestro_compose::load(&opts)?;
//! println!("{}", project.to_json_pretty());
//! # Ok::<(), maestro_compose::ComposeError>(())
//! ```

mod convert;
mod dotenv;
pub mod error;
mod finalize;
pub mod interpolate;
mod load;
mod merge;
mod mounts;
mod ports;
mod resources;
mod service;
mod session;
pub mod yaml;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value as Json};

pub use error::{ComposeError, Loc, Mark, Warning};
pub use load::normalize_project_name;

/// What to load and how.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// The Compose files, merged in order; at least one.
    pub files: Vec<PathBuf>,
    /// Where relative paths and `.env` are found; the first file's directory
    /// when `None`.
    pub project_directory: Option<PathBuf>,
    /// Env files for interpolation instead of the project directory's `.env`.
    pub env_files: Vec<PathBuf>,
    /// The process environment; `std::env::vars()` when `None`. Its
    /// variables win over the env files'.
    pub environment: Option<BTreeMap<String, String>>,
    /// Active profiles (`*` activates all); `COMPOSE_PROFILES` when empty.
    pub profiles: Vec<String>,
    /// The project name, over `COMPOSE_PROJECT_NAME`, the top-level `name`
    /// and the directory's name.
    pub project_name: Option<String>,
}

impl Options {
    pub fn for_files<P: Into<PathBuf>>(files: impl IntoIterator<Item = P>) -> Self {
        Options {
            files: files.into_iter().map(Into::into).collect(),
            ..Options::default()
        }
    }
}

/// A loaded project.
#[derive(Debug, Clone)]
pub struct Project {
    pub name: String,
    /// The project directory, absolute.
    pub directory: PathBuf,
    /// The normalized model, keys sorted: the contract with its users.
    pub model: Json,
    /// Things read but not used; the project loaded all the same.
    pub warnings: Vec<Warning>,
    /// The files read, as the caller named them, in order.
    pub files: Vec<String>,
    /// Where each service was first defined (for messages about it).
    pub service_locs: BTreeMap<String, Loc>,
    /// Where each top-level `x-` key was written.
    pub extension_locs: BTreeMap<String, Loc>,
}

impl Project {
    /// The model as `docker compose config --format json` prints it: every
    /// `$` written `$$`, so that the output reads back as the same project
    /// (Compose v2 escapes its output so). [`Project::model`] keeps the values.
    pub fn config_json(&self) -> Json {
        escape_dollars(&self.model)
    }
    /// [`Project::config_json`], indented.
    pub fn to_json_pretty(&self) -> String {
        serde_json::to_string_pretty(&self.config_json()).unwrap_or_default()
    }
    /// The top-level `x-` keys.
    pub fn extensions(&self) -> Map<String, Json> {
        extensions_of(&self.model)
    }
    /// The `x-` keys of one service (`None` for an unknown service).
    pub fn service_extensions(&self, service: &str) -> Option<Map<String, Json>> {
        self.model.get("services")?.get(service).map(extensions_of)
    }
    /// The top-level `x-maestro`, where maestro's own additions live.
    pub fn x_maestro(&self) -> Option<&Json> {
        self.model.get("x-maestro")
    }
}

fn escape_dollars(v: &Json) -> Json {
    match v {
        Json::String(s) => Json::String(s.replace('$', "$$")),
        Json::Array(items) => Json::Array(items.iter().map(escape_dollars).collect()),
        Json::Object(m) => Json::Object(
            m.iter()
                .map(|(k, v)| (k.replace('$', "$$"), escape_dollars(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

fn extensions_of(v: &Json) -> Map<String, Json> {
    v.as_object()
        .map(|m| {
            m.iter()
                .filter(|(k, _)| k.starts_with("x-"))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        })
        .unwrap_or_default()
}

/// Loads the project `opts` describes.
pub fn load(opts: &Options) -> Result<Project, ComposeError> {
    let Some(first) = opts.files.first() else {
        return Err(ComposeError::in_file(
            "<none>",
            "no Compose file given; expected at least one",
        ));
    };
    let cwd = std::env::current_dir().unwrap_or_default();
    let dir = match &opts.project_directory {
        Some(d) => cwd.join(d),
        None => cwd
            .join(first)
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| cwd.clone()),
    };
    let dir = PathBuf::from(convert::absolute(&dir, ".", None));
    let process: BTreeMap<String, String> = opts
        .environment
        .clone()
        .unwrap_or_else(|| std::env::vars().collect());
    let session = session::Session {
        env: project_env(&dir, &opts.env_files, &process)?,
        ..session::Session::default()
    };
    let mut loader = load::Loader::new(session, dir.clone());
    let mut model = load::Model::default();
    for file in &opts.files {
        let display = file.to_string_lossy().into_owned();
        let abs = cwd.join(file);
        model.merge(loader.file(&abs, &display, &dir)?);
    }
    let mut session = loader.session;
    let name = project_name(opts, &session.env, &model, &dir);
    if name.is_empty() {
        return Err(ComposeError::in_file(
            &first.to_string_lossy(),
            "the project name is empty; set a top-level `name`",
        ));
    }
    let profiles = active_profiles(opts, &session.env);
    let service_locs = model.service_locs.clone();
    let extension_locs = model.extension_locs.clone();
    let model = finalize::finalize(&mut session, model, &name, &profiles)?;
    Ok(Project {
        name,
        directory: dir,
        model,
        warnings: session.warnings,
        files: opts
            .files
            .iter()
            .map(|f| f.to_string_lossy().into_owned())
            .collect(),
        service_locs,
        extension_locs,
    })
}

/// The project's name: `-p`, else `COMPOSE_PROJECT_NAME`, else the file's
/// `name`, else the project directory's name, normalized.
fn project_name(
    opts: &Options,
    env: &BTreeMap<String, String>,
    model: &load::Model,
    dir: &Path,
) -> String {
    match (
        &opts.project_name,
        env.get("COMPOSE_PROJECT_NAME"),
        &model.name,
    ) {
        (Some(n), _, _) => n.clone(),
        (None, Some(n), _) if !n.is_empty() => n.clone(),
        (None, _, Some((n, _))) => n.clone(),
        _ => normalize_project_name(
            &dir.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
        ),
    }
}

/// The profiles asked for: `--profile`, else `COMPOSE_PROFILES`.
fn active_profiles(opts: &Options, env: &BTreeMap<String, String>) -> Vec<String> {
    if !opts.profiles.is_empty() {
        return opts.profiles.clone();
    }
    env.get("COMPOSE_PROFILES")
        .map(|p| {
            p.split(',')
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// The env files' variables with the process's over them.
fn project_env(
    dir: &Path,
    env_files: &[PathBuf],
    process: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>, ComposeError> {
    let files: Vec<PathBuf> = if env_files.is_empty() {
        let dotenv = dir.join(".env");
        if dotenv.is_file() {
            vec![dotenv]
        } else {
            Vec::new()
        }
    } else {
        env_files.iter().map(|f| dir.join(f)).collect()
    };
    let mut env = BTreeMap::new();
    for f in files {
        let display = f
            .strip_prefix(dir)
            .unwrap_or(&f)
            .to_string_lossy()
            .into_owned();
        let text = std::fs::read_to_string(&f).map_err(|e| {
            ComposeError::in_file(&display, format!("cannot read the env file: {e}"))
        })?;
        let known = env.clone();
        for (k, v) in dotenv::parse(&text, &display, &|n| {
            process.get(n).or_else(|| known.get(n)).cloned()
        })? {
            if let Some(v) = v.or_else(|| process.get(&k).cloned()) {
                env.insert(k, v);
            }
        }
    }
    env.extend(process.iter().map(|(k, v)| (k.clone(), v.clone())));
    Ok(env)
}
