//! The load step: every file the build needs, read before it, so that the
//! build itself is pure (the YAML tree and these contents in, the model
//! out). Those files are the env files that services and instances name
//! (`envfile`) and, for a file without `ships`, what the Docker CLI would
//! say of its engine (`DOCKER_HOST`, the current context and its store).
//! A read that fails is kept as its error, for the build to report where
//! the file is named.

use std::collections::HashMap;
use std::path::Path;

use crate::docker_host::{self, DockerHost, DockerHostError};
use crate::envfile::{self, EnvFileError};
use crate::reader::{get, get_set, name_text};
use crate::yaml::{Node, Value};

/// An env file's variables, in file order.
pub(crate) type EnvVars = Vec<(String, String)>;

/// What the load step read.
#[derive(Debug, Default)]
pub(crate) struct Reads {
    /// Each env file named in the document, by its path as written there
    /// (relative to the description's directory): its variables, or why it
    /// cannot be used.
    env_files: HashMap<String, Result<EnvVars, EnvFileError>>,
    /// The engine the Docker CLI would use: looked up for a file without
    /// `ships` only.
    docker_host: Option<Result<DockerHost, DockerHostError>>,
}

impl Reads {
    /// Reads what the document `root` needs; env files are found relative to
    /// `base_dir`. Every env file the build may look at is read, and maybe
    /// a few it will not (those of a service or an instance it refuses
    /// before reaching them).
    pub(crate) fn load(root: &Node, base_dir: &Path) -> Reads {
        let mut reads = Reads::default();
        let Value::Map(top) = &root.value else {
            return reads;
        };
        if get(top, "ships").is_none() {
            reads.docker_host = Some(docker_host::from_process());
        }
        for (_, service) in entries(get_set(top, "services")) {
            let service = entries(Some(service));
            reads.env_files_in(get_set(service, "envfile"), base_dir);
            for (_, instance) in entries(get(service, "instances")) {
                reads.env_files_in(get_set(entries(Some(instance)), "envfile"), base_dir);
            }
        }
        reads
    }

    /// The env files an `envfile` value names: one, a list of them (nested
    /// lists too); inline mappings among them name none.
    fn env_files_in(&mut self, node: Option<&Node>, base_dir: &Path) {
        let Some(node) = node else { return };
        match &node.value {
            Value::Seq(items) => {
                for item in items {
                    self.env_files_in(Some(item), base_dir);
                }
            }
            Value::Map(_) | Value::Null => {}
            _ => {
                if let Some(name) = name_text(node) {
                    self.env_files
                        .entry(name)
                        .or_insert_with_key(|name| envfile::read(&base_dir.join(name)));
                }
            }
        }
    }

    /// The env file named `name` in the document, as read; `None` when the
    /// load step did not read it.
    pub(crate) fn env_file(&self, name: &str) -> Option<&Result<EnvVars, EnvFileError>> {
        self.env_files.get(name)
    }

    /// The engine the Docker CLI would use; `None` when the load step did not
    /// look it up (the file has `ships`).
    pub(crate) fn docker_host(&self) -> Option<&Result<DockerHost, DockerHostError>> {
        self.docker_host.as_ref()
    }
}

/// The entries of a mapping node; anything else has none.
fn entries(node: Option<&Node>) -> &[(Node, Node)] {
    node.and_then(Node::as_map).unwrap_or(&[])
}
