//! The state of laying a project out: the project, the file messages name,
//! and the errors and warnings found, each located at the service (or
//! top-level key) it is about. A leaf.

use maestro_compose::{Loc, Project};
use serde_json::{Map, Value as Json};

use super::tree::At;
use crate::error::{ConfigError, Mark};

/// The keys by which a container shares another service's container
/// (`network_mode`, `pid`, `ipc` written `service:X`): on one ship.
pub(super) const SHARING_KEYS: [&str; 3] = ["network_mode", "pid", "ipc"];

/// The service whose container `svc` shares (`service:X`), with the key.
pub(super) fn shares_with(svc: &Map<String, Json>) -> Option<(&'static str, &str)> {
    SHARING_KEYS.into_iter().find_map(|k| {
        let other = svc.get(k)?.as_str()?.strip_prefix("service:")?;
        Some((k, other))
    })
}

pub(super) struct Mapper<'p> {
    pub project: &'p Project,
    /// The first Compose file, as the user named it.
    pub file: String,
    pub errors: Vec<ConfigError>,
    pub warnings: Vec<ConfigError>,
}

impl<'p> Mapper<'p> {
    pub fn new(project: &'p Project) -> Self {
        Mapper {
            project,
            file: project
                .files
                .first()
                .cloned()
                .unwrap_or_else(|| "compose.yaml".into()),
            errors: Vec::new(),
            warnings: Vec::new(),
        }
    }

    /// The service names, in the model's order.
    pub fn services(&self) -> Vec<String> {
        self.project
            .model
            .get("services")
            .and_then(Json::as_object)
            .map(|s| s.keys().cloned().collect())
            .unwrap_or_default()
    }

    pub fn service(&self, name: &str) -> Option<&'p Map<String, Json>> {
        self.project.model.get("services")?.get(name)?.as_object()
    }

    /// The name of a service's first container: its `container_name`, else
    /// `PROJECT-SERVICE-1`.
    pub fn first_instance(&self, name: &str) -> String {
        self.service(name)
            .and_then(|s| s.get("container_name"))
            .and_then(Json::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| format!("{}-{name}-1", self.project.name))
    }

    /// `service:X` of `network_mode`, `pid` or `ipc` as `container:` of
    /// X's first container; other values as they are.
    pub fn container_mode(&self, mode: &str) -> String {
        match mode.strip_prefix("service:") {
            Some(other) => format!("container:{}", self.first_instance(other)),
            None => mode.to_string(),
        }
    }

    fn loc(&self, service: Option<&str>, top: &str) -> (String, Option<Mark>) {
        let loc: Option<&Loc> = match service {
            Some(s) => self.project.service_locs.get(s),
            None => self.project.extension_locs.get(top),
        };
        match loc {
            Some(l) => (
                l.file.clone(),
                l.mark.map(|m| Mark {
                    line: m.line,
                    column: m.column,
                }),
            ),
            None => (self.file.clone(), None),
        }
    }

    /// Where a service is defined, for the nodes made of it.
    pub fn at_service(&self, service: &str) -> At {
        At(self
            .loc(Some(service), "")
            .1
            .unwrap_or(Mark { line: 1, column: 1 }))
    }

    /// Where a top-level `x-` key is written.
    pub fn at_top(&self, key: &str) -> At {
        At(self.loc(None, key).1.unwrap_or(Mark { line: 1, column: 1 }))
    }

    fn message(&self, service: Option<&str>, path: &str, message: &str) -> ConfigError {
        let top = path.split('/').next().unwrap_or("");
        let (file, mark) = self.loc(service, top);
        ConfigError {
            file,
            mark,
            message: format!("{path}: {message}"),
        }
    }

    /// An error about `path` (`services/web/x-maestro/ships[1]`) of `service`
    /// (`None`: a top-level key).
    pub fn error(&mut self, service: Option<&str>, path: &str, message: impl AsRef<str>) {
        let e = self.message(service, path, message.as_ref());
        self.errors.push(e);
    }

    pub fn warn(&mut self, service: Option<&str>, path: &str, message: impl AsRef<str>) {
        let e = self.message(service, path, message.as_ref());
        self.warnings.push(e);
    }
}
