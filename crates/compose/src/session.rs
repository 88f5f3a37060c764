//! What one load keeps while it reads files: the project's environment, the
//! warnings, and the names services refer to (checked once all files are
//! merged). A leaf of the crate.

use std::collections::BTreeMap;

use crate::error::{Loc, Warning};

/// What a service names that must be declared elsewhere in the project.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RefKind {
    Network,
    Volume,
    Secret,
    Config,
    /// `depends_on`, `links`, `volumes_from`, `network_mode: service:…`.
    Service,
}

impl RefKind {
    pub fn noun(self) -> &'static str {
        match self {
            RefKind::Network => "network",
            RefKind::Volume => "volume",
            RefKind::Secret => "secret",
            RefKind::Config => "config",
            RefKind::Service => "service",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Ref {
    pub service: String,
    pub kind: RefKind,
    pub name: String,
    /// `depends_on` with `required: false` may name a missing service.
    pub required: bool,
    pub loc: Loc,
}

#[derive(Debug, Default)]
pub struct Session {
    /// Variables for interpolation: the env files', the process's over them.
    pub env: BTreeMap<String, String>,
    pub warnings: Vec<Warning>,
    pub refs: Vec<Ref>,
}

impl Session {
    pub fn lookup(&self, name: &str) -> Option<String> {
        self.env.get(name).cloned()
    }
    pub fn warn(&mut self, loc: Loc, message: impl Into<String>) {
        self.warnings.push(Warning {
            loc,
            message: message.into(),
        });
    }
    pub fn refer(&mut self, service: &str, kind: RefKind, name: &str, loc: Loc) {
        self.refs.push(Ref {
            service: service.to_string(),
            kind,
            name: name.to_string(),
            required: true,
            loc,
        });
    }
}
