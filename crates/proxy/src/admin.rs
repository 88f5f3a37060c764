//! A running proxy container driven through Caddy's admin API, which listens
//! on the container's own loopback and is never published. maestro reaches
//! it with engine API calls only (so over every transport a ship can use:
//! unix socket, TCP, TLS, SSH):
//!
//! - apply: the config is written into the container with the archive API
//!   (`PUT /containers/{name}/archive`), then `caddy reload --config FILE`
//!   runs there by an exec; it POSTs the file to the admin API's `/load`,
//!   and its exit status and message say whether Caddy took it. Caddy starts
//!   the new config beside the old one and lets the old one's in-flight
//!   requests finish (up to the config's `grace_period`) before it stops it:
//!   no connection is dropped. A config equal to the running one is a no-op.
//! - read back: `wget -O - http://localhost:2019/…` by an exec (busybox's
//!   wget, in Caddy's Alpine images and in the test image), its output read.

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use maestro_engine::{Engine, ExecOutput, ExecRequest};
use serde::Deserialize;
use serde_json::Value;

use crate::{ProxyError, Upstream};

/// Where the admin API listens, inside the proxy container.
pub const ADMIN_ADDRESS: &str = "localhost:2019";
/// Where maestro writes the config in the proxy container (its directory
/// exists in Caddy's images).
pub const CONFIG_PATH: &str = "/etc/caddy/maestro.json";
/// The most output read from one command in the proxy container.
const OUTPUT_MAX: usize = 4 << 20;

/// One ship's proxy container.
pub struct Admin<'e> {
    engine: &'e Engine,
    container: String,
}

/// A config Caddy took.
#[derive(Debug, Clone, PartialEq)]
pub struct Applied {
    /// From the upload to Caddy's answer (its old config drained by then).
    pub took: Duration,
}

/// An upstream of the running config, as the admin API reports it
/// (`GET /reverse_proxy/upstreams`): Caddy lists every upstream of its
/// running config; an upstream no longer configured is gone from it.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct UpstreamStatus {
    /// `container:port`.
    pub address: String,
    /// Requests in flight to it now.
    pub num_requests: u64,
    /// Failed requests remembered by the passive health check.
    pub fails: u64,
}

/// What a command run in the proxy container said.
struct Ran {
    code: i64,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
}

impl<'e> Admin<'e> {
    pub fn new(engine: &'e Engine, container: &str) -> Admin<'e> {
        Admin {
            engine,
            container: container.to_owned(),
        }
    }

    /// Makes `config` (from [`crate::render`]) the proxy's config. Given the
    /// ship's timeout plus `grace` (the config's grace period: Caddy answers
    /// once the old config's in-flight requests are done).
    pub async fn apply(&self, config: &Value, grace: Duration) -> Result<Applied, ProxyError> {
        let started = Instant::now();
        let text = serde_json::to_vec_pretty(config).map_err(|e| ProxyError::Reply {
            ship: self.engine.ship().to_owned(),
            container: self.container.clone(),
            what: "the config to send".into(),
            reason: e.to_string(),
        })?;
        let file = maestro_engine::FileToPut {
            path: CONFIG_PATH,
            uid: 0,
            gid: 0,
            mode: 0o600,
            contents: &text,
        };
        self.engine.put_files(&self.container, &[file]).await?;
        let command = [
            "caddy",
            "reload",
            "--config",
            CONFIG_PATH,
            "--address",
            ADMIN_ADDRESS,
        ];
        let ran = self.run(&command, self.engine.timeout() + grace).await?;
        if ran.code != 0 {
            return Err(ProxyError::Rejected {
                ship: self.engine.ship().to_owned(),
                container: self.container.clone(),
                message: last_words(&ran),
            });
        }
        Ok(Applied {
            took: started.elapsed(),
        })
    }

    /// The upstreams of the running config.
    pub async fn upstreams(&self) -> Result<Vec<UpstreamStatus>, ProxyError> {
        let text = self.get("/reverse_proxy/upstreams").await?;
        serde_json::from_slice(&text).map_err(|e| self.reply("the upstreams", e))
    }

    /// The running config, as Caddy exports it (`GET /config/`).
    pub async fn running_config(&self) -> Result<Value, ProxyError> {
        let text = self.get("/config/").await?;
        serde_json::from_slice(&text).map_err(|e| self.reply("the running config", e))
    }

    /// Whether `upstream` answers `GET path` with a 2xx within `timeout`,
    /// asked from inside the proxy container: the network path Caddy's own
    /// requests take (a new container is checked before it gets traffic).
    pub async fn probe(
        &self,
        upstream: &Upstream,
        path: &str,
        timeout: Duration,
    ) -> Result<bool, ProxyError> {
        let url = format!("http://{}{path}", upstream.dial);
        let seconds = timeout.as_secs().max(1).to_string();
        // `timeout`, not wget's `-T`: Debian's static busybox crashes on `-T`.
        let command = ["timeout", &seconds, "wget", "-q", "-O", "/dev/null", &url];
        let ran = self.run(&command, self.engine.timeout() + timeout).await?;
        Ok(ran.code == 0)
    }

    /// `GET path` of the admin API.
    async fn get(&self, path: &str) -> Result<Vec<u8>, ProxyError> {
        let url = format!("http://{ADMIN_ADDRESS}{path}");
        let command = ["wget", "-q", "-O", "-", &url];
        let ran = self.run(&command, self.engine.timeout()).await?;
        if ran.code != 0 {
            return Err(ProxyError::Command {
                ship: self.engine.ship().to_owned(),
                container: self.container.clone(),
                command: command.join(" "),
                code: ran.code,
                message: last_words(&ran),
            });
        }
        Ok(ran.stdout)
    }

    /// Runs `command` in the proxy container, its output read (up to
    /// [`OUTPUT_MAX`] of each stream), given `limit` in all.
    async fn run(&self, command: &[&str], limit: Duration) -> Result<Ran, ProxyError> {
        let request = ExecRequest {
            command: command.iter().map(|s| s.to_string()).collect(),
            ..Default::default()
        };
        let work = async {
            let mut session = self.engine.exec_attached(&self.container, &request).await?;
            let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
            while let Some(piece) = session.output.next().await {
                let (into, bytes) = match piece? {
                    ExecOutput::Stdout(b) => (&mut stdout, b),
                    ExecOutput::Stderr(b) => (&mut stderr, b),
                };
                let room = OUTPUT_MAX.saturating_sub(into.len());
                into.extend_from_slice(&bytes[..bytes.len().min(room)]);
            }
            let code = self.engine.exec_exit_code(&session.id).await?;
            Ok::<Ran, ProxyError>(Ran {
                code,
                stdout,
                stderr,
            })
        };
        match tokio::time::timeout(limit, work).await {
            Ok(ran) => ran,
            Err(_) => Err(ProxyError::Timeout {
                ship: self.engine.ship().to_owned(),
                container: self.container.clone(),
                command: command.join(" "),
                seconds: limit.as_secs_f64(),
            }),
        }
    }

    fn reply(&self, what: &str, e: serde_json::Error) -> ProxyError {
        ProxyError::Reply {
            ship: self.engine.ship().to_owned(),
            container: self.container.clone(),
            what: what.into(),
            reason: e.to_string(),
        }
    }
}

/// The last non-empty line of a command's stderr (else stdout): Caddy's
/// `Error: …` line.
fn last_words(ran: &Ran) -> String {
    let pick = |bytes: &[u8]| {
        String::from_utf8_lossy(bytes)
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .map(|l| l.trim().to_owned())
    };
    pick(&ran.stderr)
        .or_else(|| pick(&ran.stdout))
        .unwrap_or_else(|| "no message".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_upstreams_reply_is_read() {
        let text = r#"[{"address":"web-1:8080","healthy":false,"num_requests":2,"fails":0}]"#;
        let read: Vec<UpstreamStatus> = serde_json::from_str(text).expect("parses");
        assert_eq!(
            read,
            [UpstreamStatus {
                address: "web-1:8080".into(),
                num_requests: 2,
                fails: 0
            }]
        );
    }

    #[test]
    fn the_last_words_are_the_error_line() {
        let ran = Ran {
            code: 1,
            stdout: b"".to_vec(),
            stderr: b"{\"level\":\"info\"}\nError: sending configuration: HTTP 400\n\n".to_vec(),
        };
        assert_eq!(last_words(&ran), "Error: sending configuration: HTTP 400");
    }
}
