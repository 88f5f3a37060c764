//! The drafts the section readers make of each service and instance, which
//! the cross-checks read and the finish turns into the model. Imports only
//! `env` (a draft's raw variables) and `proxy` (a service's route).

use super::env::RawEnv;
use super::proxy::ProxyDraft;
use crate::model::{Container, Hooks, UpdateConfig};
use crate::secrets::Mount;
use crate::yaml::Node;

/// The parts of a service needed while its instances are built.
pub(super) struct ServiceDraft<'n> {
    pub(super) name: String,
    pub(super) node: &'n Node,
    pub(super) image: Option<String>,
    pub(super) env: RawEnv,
    pub(super) ports: Vec<(String, &'n Node)>,
    pub(super) limits: Vec<(String, &'n Node)>,
    pub(super) lifecycle: Option<&'n Node>,
    pub(super) requires: Vec<(String, &'n Node)>,
    pub(super) wants_info: Vec<(String, &'n Node)>,
    pub(super) omit: bool,
    pub(super) hooks: Hooks,
    /// The service's `secrets`, when set (an instance's replace them).
    pub(super) secrets: Option<Vec<Mount<'n>>>,
    /// The service's `proxy`, when set.
    pub(super) proxy: Option<ProxyDraft<'n>>,
    /// `deploy.update_config`, and where its `order` is written.
    pub(super) update: UpdateConfig,
    pub(super) order: Option<&'n Node>,
}

/// An instance before cross-checks and environment computation.
pub(super) struct ContainerDraft<'n> {
    pub(super) container: Container,
    pub(super) node: &'n Node,
    /// The instance's own variables (its service's are laid under them
    /// when its environment is computed).
    pub(super) env: RawEnv,
    pub(super) volumes_from_nodes: Vec<&'n Node>,
    pub(super) link_nodes: Vec<(&'n Node, String)>,
    pub(super) lifecycle_nodes: Vec<(&'n Node, String)>,
}
