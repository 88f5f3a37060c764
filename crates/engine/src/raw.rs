//! Engine calls sent without the client library's request and answer
//! models. The library parses every answer into its full typed model (a
//! container's inspect, its whole configuration and every environment
//! variable included, to learn its state; each entry of a ship's list with
//! its ports, mounts and network settings) and builds every request's
//! address through a URL parser (a fifth of the instructions of a stop).
//! The calls here send the same request through the same connection (the
//! same pool, cap and timeout) and parse the answer into a small shape, the
//! rest of the JSON skipped without being built; a start and a stop, which
//! answer nothing, are sent the same way. Errors are made as the library
//! makes them, so they read as before.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use bollard::errors::Error;
use bollard::models::{
    ContainerInspectResponse, ContainerState, ContainerSummary, ContainerSummaryNetworkSettings,
    ContainerSummaryStateEnum, EndpointSettings,
};
use bollard::BollardRequest;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::Response;
use serde::de::DeserializeOwned;
use serde::Deserialize;

/// What sends one request over the engine's connection pool.
pub(crate) type Send = Arc<
    dyn Fn(
            BollardRequest,
        )
            -> Pin<Box<dyn Future<Output = Result<Response<Incoming>, Error>> + std::marker::Send>>
        + std::marker::Send
        + Sync,
>;

/// The transport of one engine and where it is reached (`http://host:port`).
#[derive(Clone)]
pub(crate) struct Raw {
    pub send: Send,
    pub base: String,
}

impl Raw {
    /// `GET {base}/v{version}{path}` (`{base}{path}` while no version is
    /// pinned, as the client library sends it) parsed as `T`, failing as
    /// the client library's calls fail (an engine's refusal with its
    /// message, an answer of the wrong shape as a JSON data error).
    pub(crate) async fn get<T: DeserializeOwned>(
        &self,
        version: &str,
        path: &str,
    ) -> Result<T, Error> {
        let bytes = self
            .call(hyper::Method::GET, version, path, Vec::new())
            .await?;
        parsed(&bytes)
    }

    /// `POST {base}/v{version}{path}` without a body, its answer's body
    /// read and dropped (a start, a stop).
    pub(crate) async fn post(&self, version: &str, path: &str) -> Result<(), Error> {
        self.call(hyper::Method::POST, version, path, Vec::new())
            .await?;
        Ok(())
    }

    /// `POST {base}/v{version}{path}` with the JSON `body`; the answer parsed
    /// as `T` (a creation's id).
    pub(crate) async fn post_json<T: DeserializeOwned>(
        &self,
        version: &str,
        path: &str,
        body: Vec<u8>,
    ) -> Result<T, Error> {
        let bytes = self.call(hyper::Method::POST, version, path, body).await?;
        parsed(&bytes)
    }

    /// One request; the answer's body when its status is a success (or
    /// 304), the engine's refusal otherwise.
    async fn call(
        &self,
        method: hyper::Method,
        version: &str,
        path: &str,
        body: Vec<u8>,
    ) -> Result<hyper::body::Bytes, Error> {
        let uri = if version.is_empty() {
            format!("{}{path}", self.base)
        } else {
            format!("{}/v{version}{path}", self.base)
        };
        let request = hyper::Request::builder()
            .method(method)
            .uri(uri)
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .body(bollard::body_full(hyper::body::Bytes::from(body)))?;
        let response = (self.send)(request).await?;
        let status = response.status();
        let bytes = response.into_body().collect().await?.to_bytes();
        if status.is_success() || status == hyper::StatusCode::NOT_MODIFIED {
            return Ok(bytes);
        }
        let contents = String::from_utf8_lossy(&bytes).to_string();
        let message = if contents.is_empty() {
            String::new()
        } else {
            match serde_json::from_str::<ServerMessage>(&contents) {
                Ok(m) => m.message,
                Err(e) if e.is_data() || e.is_syntax() => contents,
                Err(e) => return Err(e.into()),
            }
        };
        Err(Error::DockerResponseServerError {
            status_code: status.as_u16(),
            message,
        })
    }
}

/// An answer parsed as `T`, an answer of the wrong shape failing as the
/// client library's calls fail (a JSON data error).
fn parsed<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, Error> {
    serde_json::from_slice::<T>(bytes).map_err(|e| {
        if e.is_data() || e.is_syntax() {
            Error::JsonDataError {
                message: e.to_string(),
                column: e.column(),
            }
        } else {
            e.into()
        }
    })
}

#[derive(Deserialize)]
struct ServerMessage {
    message: String,
}

/// The answer to a creation: the new container's id.
#[derive(Deserialize)]
pub(crate) struct Created {
    #[serde(rename = "Id")]
    pub id: String,
}

/// A container's inspect, the state alone: what a confirm, a watch and a
/// health check read.
#[derive(Deserialize)]
pub(crate) struct Inspected {
    #[serde(rename = "State")]
    state: Option<ContainerState>,
    #[serde(rename = "RestartCount")]
    restart_count: Option<i64>,
}

impl Inspected {
    /// Every field of the answer is optional, so `{}` parses; without a
    /// state the container's cannot be told.
    pub(crate) fn has_no_state(&self) -> bool {
        self.state.is_none()
    }
}

impl From<Inspected> for ContainerInspectResponse {
    fn from(found: Inspected) -> ContainerInspectResponse {
        ContainerInspectResponse {
            state: found.state,
            restart_count: found.restart_count,
            ..Default::default()
        }
    }
}

/// One entry of a ship's container list, the fields maestro reads.
#[derive(Deserialize)]
pub(crate) struct Listed {
    #[serde(rename = "Id")]
    id: Option<String>,
    #[serde(rename = "Names")]
    names: Option<Vec<String>>,
    #[serde(rename = "Image")]
    image: Option<String>,
    #[serde(rename = "ImageID")]
    image_id: Option<String>,
    #[serde(rename = "Labels")]
    labels: Option<HashMap<String, String>>,
    #[serde(rename = "State")]
    state: Option<ContainerSummaryStateEnum>,
    #[serde(rename = "Status")]
    status: Option<String>,
    #[serde(rename = "NetworkSettings")]
    network_settings: Option<ListedNetworks>,
}

#[derive(Deserialize)]
struct ListedNetworks {
    #[serde(rename = "Networks")]
    networks: Option<HashMap<String, ListedEndpoint>>,
}

#[derive(Deserialize)]
struct ListedEndpoint {
    #[serde(rename = "IPAddress")]
    ip_address: Option<String>,
}

impl From<Listed> for ContainerSummary {
    fn from(listed: Listed) -> ContainerSummary {
        ContainerSummary {
            id: listed.id,
            names: listed.names,
            image: listed.image,
            image_id: listed.image_id,
            labels: listed.labels,
            state: listed.state,
            status: listed.status,
            network_settings: listed.network_settings.map(|settings| {
                ContainerSummaryNetworkSettings {
                    networks: settings.networks.map(|networks| {
                        networks
                            .into_iter()
                            .map(|(name, endpoint)| {
                                let endpoint = EndpointSettings {
                                    ip_address: endpoint.ip_address,
                                    ..Default::default()
                                };
                                (name, endpoint)
                            })
                            .collect()
                    }),
                }
            }),
            ..Default::default()
        }
    }
}

/// `text` as one value of a query string (RFC 3986's unreserved bytes kept,
/// every other byte percent-encoded).
pub(crate) fn query_value(text: &str) -> String {
    crate::path::escaped(text, crate::path::unreserved).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_list_entry_keeps_the_fields_read() {
        let text = r#"{"Id":"abc","Names":["/web"],"Image":"nginx","ImageID":"sha256:1",
            "Labels":{"a":"b"},"State":"running","Status":"Up 3 seconds",
            "Ports":[{"PrivatePort":80,"Type":"tcp"}],"Mounts":[],
            "NetworkSettings":{"Networks":{"net":{"IPAddress":"10.0.0.2","Gateway":"10.0.0.1"}}}}"#;
        let full: ContainerSummary = serde_json::from_str(text).unwrap();
        let slim: ContainerSummary = serde_json::from_str::<Listed>(text).unwrap().into();
        assert_eq!(slim.id, full.id);
        assert_eq!(slim.names, full.names);
        assert_eq!(slim.image, full.image);
        assert_eq!(slim.image_id, full.image_id);
        assert_eq!(slim.labels, full.labels);
        assert_eq!(slim.state, full.state);
        assert_eq!(slim.status, full.status);
        let ip = |s: &ContainerSummary| {
            s.network_settings
                .as_ref()
                .unwrap()
                .networks
                .as_ref()
                .unwrap()["net"]
                .ip_address
                .clone()
        };
        assert_eq!(ip(&slim), ip(&full));
        assert_eq!(slim.ports, None);
    }

    #[test]
    fn an_inspect_keeps_the_state_and_restart_count() {
        let text = r#"{"Id":"abc","Name":"/web","RestartCount":2,
            "State":{"Status":"running","Running":true,"Restarting":false,"ExitCode":0,
                     "Health":{"Status":"healthy","Log":[{"Output":"ok"}]}},
            "Config":{"Env":["A=1","B=\"x\\n\""],"Labels":{"a":"b"}}}"#;
        let full: ContainerInspectResponse = serde_json::from_str(text).unwrap();
        let slim: ContainerInspectResponse =
            serde_json::from_str::<Inspected>(text).unwrap().into();
        assert_eq!(slim.state, full.state);
        assert_eq!(slim.restart_count, full.restart_count);
        assert_eq!(slim.config, None);
    }

    #[test]
    fn query_values_are_percent_encoded() {
        assert_eq!(
            query_value(r#"{"name":["^/?a\\.b$"]}"#),
            "%7B%22name%22%3A%5B%22%5E%2F%3Fa%5C%5C.b%24%22%5D%7D"
        );
    }
}
