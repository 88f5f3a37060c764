//! Reading a MaestroNG environment description: the Jinja2 template, YAML 1.1
//! with source marks, the validated model and each container's computed
//! environment. Pure: text in, model out; the only I/O is reading the files
//! the description names (includes, while rendering; env files and the
//! Docker CLI's engine for a file without ships, in the load step that
//! runs before the model is built).

pub mod audit;
mod build;
pub mod compose;
pub mod docker_host;
pub mod dump;
mod dump_extras;
pub mod endpoint;
mod envfile;
pub mod error;
pub mod graph;
pub mod keys;
mod lifecycle;
pub mod model;
pub mod naming;
pub mod objects;
mod options;
mod ports;
pub mod pyfmt;
mod reader;
mod reads;
pub mod secrets;
pub mod suggest;
pub mod template;
pub mod value;
pub mod yaml;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub use error::{ConfigError, LoadError, Mark};
pub use model::*;

/// Largest environment file accepted, in bytes.
pub const MAX_FILE_BYTES: usize = 64 * 1024 * 1024;

/// Where the description comes from.
#[derive(Debug, Clone)]
pub struct Source {
    /// The name used in messages (`maestro.yaml`, `<stdin>`).
    pub name: String,
    /// Base for includes and env files.
    pub base_dir: PathBuf,
    pub text: String,
}

impl Source {
    /// Reads a file; `-` is handled by the caller (it reads stdin into a `Source`).
    pub fn from_file(path: &Path) -> Result<Source, LoadError> {
        let name = path.display().to_string();
        let meta =
            std::fs::metadata(path).map_err(|e| ConfigError::in_file(&name, read_problem(&e)))?;
        if meta.is_dir() {
            return Err(ConfigError::in_file(
                &name,
                "is a directory; expected an environment file (use -f FILE)",
            )
            .into());
        }
        if meta.len() as usize > MAX_FILE_BYTES {
            return Err(too_large(&name).into());
        }
        // Capped while reading: a device (`/dev/zero`) or a pipe says
        // nothing of its size beforehand.
        let bytes = match read_capped(path, MAX_FILE_BYTES as u64) {
            Ok(bytes) => bytes,
            Err(Capped::TooLarge) => return Err(too_large(&name).into()),
            Err(Capped::Io(e)) => return Err(ConfigError::in_file(&name, read_problem(&e)).into()),
        };
        let base_dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        Source::from_bytes(name, base_dir, bytes)
    }

    /// Wraps bytes read elsewhere (stdin), checking size and encoding.
    pub fn from_bytes(
        name: String,
        base_dir: PathBuf,
        bytes: Vec<u8>,
    ) -> Result<Source, LoadError> {
        if bytes.len() > MAX_FILE_BYTES {
            return Err(too_large(&name).into());
        }
        match String::from_utf8(bytes) {
            Ok(text) => Ok(Source {
                name,
                base_dir,
                text,
            }),
            Err(e) => {
                let at = e.utf8_error().valid_up_to();
                let before = &e.as_bytes()[..at];
                let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
                let column = at
                    - before
                        .iter()
                        .rposition(|&b| b == b'\n')
                        .map(|i| i + 1)
                        .unwrap_or(0)
                    + 1;
                Err(ConfigError::at(
                    &name,
                    Mark { line, column },
                    "the file is not UTF-8 text; expected a UTF-8 YAML file",
                )
                .into())
            }
        }
    }
}

/// Why [`read_capped`] gave up.
#[derive(Debug)]
pub(crate) enum Capped {
    Io(std::io::Error),
    /// More than the limit: reading stopped there.
    TooLarge,
}

/// The bytes of `path`, reading at most `limit` of them: a file that has
/// more (however its size is reported, or not) is refused as soon as the
/// limit is passed.
pub(crate) fn read_capped(path: &Path, limit: u64) -> Result<Vec<u8>, Capped> {
    use std::io::Read;
    let file = std::fs::File::open(path).map_err(Capped::Io)?;
    let mut bytes = Vec::new();
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(Capped::Io)?;
    if bytes.len() as u64 > limit {
        return Err(Capped::TooLarge);
    }
    Ok(bytes)
}

fn too_large(name: &str) -> ConfigError {
    ConfigError::in_file(
        name,
        format!(
            "the file is larger than {} MiB; expected an environment description",
            MAX_FILE_BYTES / 1024 / 1024
        ),
    )
}

fn read_problem(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => {
            "no such file; expected an environment file (use -f FILE, default ./maestro.yaml)"
                .into()
        }
        std::io::ErrorKind::PermissionDenied => {
            "permission denied while reading the environment file".into()
        }
        _ => format!("cannot read the environment file: {e}"),
    }
}

/// Renders and parses the description into its YAML tree, without building
/// the model (for `dump --config`).
pub fn parse_document(
    source: &Source,
    env: &BTreeMap<String, String>,
) -> Result<yaml::Node, LoadError> {
    let rendered = render(source, env)?;
    Ok(yaml::parse(&rendered, &source.name)?)
}

/// The description's text once rendered: what the YAML is read from.
fn render(source: &Source, env: &BTreeMap<String, String>) -> Result<String, LoadError> {
    check_text(source)?;
    Ok(template::render(
        &source.text,
        &source.name,
        &source.base_dir,
        env,
    )?)
}

/// Renders, parses and builds the environment. `env` is the process
/// environment given to the template.
pub fn load(source: &Source, env: &BTreeMap<String, String>) -> Result<Environment, LoadError> {
    load_with(source, env, Needs::default())
}

/// What a command needs of the environment beyond its model.
#[derive(Debug, Clone, Copy)]
pub struct Needs {
    /// Which containers' environments (their variables and the link
    /// variables) are computed; the others' `Container::env` is empty,
    /// everything else is loaded and checked the same.
    pub environments: Environments,
}

/// Whose environments a command reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Environments {
    /// Every container's (creation requests, `dump`).
    #[default]
    All,
    /// Only those of containers with an `exec` check, which passes the
    /// container's variables (plays that create nothing: stop, kill…).
    ExecChecks,
    /// None (`status`, `logs`, `deptree`…).
    None,
}

impl Default for Needs {
    fn default() -> Needs {
        Needs {
            environments: Environments::All,
        }
    }
}

/// [`load`], computing only what `needs` says.
pub fn load_with(
    source: &Source,
    env: &BTreeMap<String, String>,
    needs: Needs,
) -> Result<Environment, LoadError> {
    let rendered = render(source, env)?;
    let root = yaml::parse(&rendered, &source.name)?;
    let reads = reads::Reads::load(&root, &source.base_dir);
    build::build(
        (&root, &rendered),
        &source.name,
        &source.base_dir,
        &reads,
        needs.environments,
    )
}

fn check_text(source: &Source) -> Result<(), LoadError> {
    if source.text.contains('\0') {
        let at = source.text.find('\0').unwrap_or(0);
        let before = &source.text[..at];
        let line = before.matches('\n').count() + 1;
        let column = before.len() - before.rfind('\n').map(|i| i + 1).unwrap_or(0) + 1;
        return Err(ConfigError::at(
            &source.name,
            Mark { line, column },
            "the file contains a NUL byte; expected YAML text",
        )
        .into());
    }
    Ok(())
}

/// The current process environment, for [`load`].
pub fn process_env() -> BTreeMap<String, String> {
    std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .collect()
}
