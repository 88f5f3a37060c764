//! The engine calls on networks and named volumes: list by name, create,
//! connect a container, whether any container uses one, remove. Each is
//! bounded by the ship's timeout, like the container calls.

use std::collections::HashMap;

use bollard::models::{
    EndpointSettings, NetworkConnectRequest, NetworkCreateRequest, VolumeCreateRequest,
};
use bollard::query_parameters::{ListNetworksOptions, ListVolumesOptions, RemoveVolumeOptions};

use crate::{Engine, EngineError};

/// Labels of an engine object.
pub type Labels = HashMap<String, String>;

impl Engine {
    /// The networks named exactly as one of `names`, with their labels.
    pub async fn networks_named(
        &self,
        names: &[&str],
    ) -> Result<HashMap<String, Labels>, EngineError> {
        let patterns: Vec<String> = names
            .iter()
            .map(|n| format!("^{}$", n.replace('.', "\\.")))
            .collect();
        let options = ListNetworksOptions {
            filters: Some(HashMap::from([("name".to_owned(), patterns)])),
        };
        let list = self
            .bounded(
                "list networks",
                || self.docker.list_networks(Some(options)),
                self.timeout,
            )
            .await?;
        Ok(list
            .into_iter()
            .filter_map(|n| Some((n.name?, n.labels.unwrap_or_default())))
            .filter(|(name, _)| names.contains(&name.as_str()))
            .collect())
    }

    /// The volumes named exactly as one of `names`, with their labels.
    pub async fn volumes_named(
        &self,
        names: &[&str],
    ) -> Result<HashMap<String, Labels>, EngineError> {
        let options = ListVolumesOptions {
            filters: Some(HashMap::from([(
                "name".to_owned(),
                names.iter().map(|n| (*n).to_owned()).collect(),
            )])),
        };
        let list = self
            .bounded(
                "list volumes",
                || self.docker.list_volumes(Some(options)),
                self.timeout,
            )
            .await?;
        Ok(list
            .volumes
            .unwrap_or_default()
            .into_iter()
            .filter(|v| names.contains(&v.name.as_str()))
            .map(|v| (v.name, v.labels))
            .collect())
    }

    pub async fn create_network(&self, request: NetworkCreateRequest) -> Result<(), EngineError> {
        let action = format!("create network {}", request.name);
        self.bounded(
            &action,
            || self.docker.create_network(request),
            self.timeout,
        )
        .await
        .map(|_| ())
    }

    pub async fn create_volume(&self, request: VolumeCreateRequest) -> Result<(), EngineError> {
        let action = format!("create volume {}", request.name.as_deref().unwrap_or(""));
        self.bounded(&action, || self.docker.create_volume(request), self.timeout)
            .await
            .map(|_| ())
    }

    /// Connects container `name` to `network`, with its endpoint settings.
    pub async fn connect_network(
        &self,
        network: &str,
        name: &str,
        endpoint: EndpointSettings,
    ) -> Result<(), EngineError> {
        let action = format!("connect container {name} to network {network}");
        let path = self.segment(&action, network)?;
        let request = NetworkConnectRequest {
            container: name.to_owned(),
            endpoint_config: Some(endpoint),
        };
        self.bounded(
            &action,
            || self.docker.connect_network(&path, request),
            self.timeout,
        )
        .await
    }

    /// The containers (running or not) that use the network or volume
    /// (`kind`: `network` or `volume`), by name.
    pub async fn users_of(&self, kind: &str, name: &str) -> Result<Vec<String>, EngineError> {
        let list = self.list_containers_filtered(kind, name).await?;
        Ok(list
            .into_iter()
            .filter_map(|c| c.names.and_then(|n| n.first().cloned()))
            .map(|n| n.trim_start_matches('/').to_owned())
            .collect())
    }

    pub async fn remove_network(&self, name: &str) -> Result<(), EngineError> {
        let action = format!("remove network {name}");
        let path = self.segment(&action, name)?;
        self.bounded(&action, || self.docker.remove_network(&path), self.timeout)
            .await
    }

    pub async fn remove_volume(&self, name: &str) -> Result<(), EngineError> {
        let action = format!("remove volume {name}");
        let path = self.segment(&action, name)?;
        let call = || {
            self.docker
                .remove_volume(&path, Some(RemoveVolumeOptions { force: false }))
        };
        self.bounded(&action, call, self.timeout).await
    }
}
