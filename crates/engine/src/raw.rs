//! Answers read into only the fields maestro looks at. The client library
//! parses every answer into its full typed model: a container's inspect
//! (its whole configuration, every environment variable included) to learn
//! its state. The calls here send the same request through the same
//! connection (the same pool, cap and timeout) and parse the answer into a
//! small shape, the rest of the JSON skipped without being built; errors
//! are the client library's own, so they read as before.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use bollard::errors::Error;
use bollard::models::{ContainerInspectResponse, ContainerState};
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
        let uri = if version.is_empty() {
            format!("{}{path}", self.base)
        } else {
            format!("{}/v{version}{path}", self.base)
        };
        let request = hyper::Request::get(uri)
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .body(bollard::body_full(hyper::body::Bytes::new()))?;
        let response = (self.send)(request).await?;
        let status = response.status();
        let bytes = response.into_body().collect().await?.to_bytes();
        if !status.is_success() && status != hyper::StatusCode::NOT_MODIFIED {
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
            return Err(Error::DockerResponseServerError {
                status_code: status.as_u16(),
                message,
            });
        }
        serde_json::from_slice::<T>(&bytes).map_err(|e| {
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
}

#[derive(Deserialize)]
struct ServerMessage {
    message: String,
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
