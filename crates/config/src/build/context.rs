//! The build context: what the services and their instances are read
//! against (the sections read before them and the files the load step
//! read). A leaf: imports no other module of the build.

use std::path::Path;

use indexmap::IndexMap;

use crate::model::{Network, Ship};
use crate::reads::Reads;
use crate::secrets::Against;

/// What the services and their instances are read against: the sections
/// read before them and the files the load step read.
pub(super) struct Context<'a> {
    /// The environment's `name` (every container's `MAESTRO_ENVIRONMENT_NAME`).
    pub(super) env_name: &'a str,
    pub(super) ships: &'a IndexMap<String, Ship>,
    pub(super) networks: &'a IndexMap<String, Network>,
    /// The top-level `secrets` (and the document's text) that containers'
    /// `secrets` are read against.
    pub(super) secrets: Against<'a>,
    pub(super) schema: u8,
    /// The environment file's directory (relative paths are taken from it).
    pub(super) base_dir: &'a Path,
    pub(super) reads: &'a Reads,
}
