//! The engine the Docker CLI would talk to, for a file without `ships`: the
//! one ship `local` then reaches `DOCKER_HOST` (with `DOCKER_TLS_VERIFY` and
//! `DOCKER_CERT_PATH`), else the current Docker context (`DOCKER_CONTEXT`, or
//! `currentContext` in the client's `config.json`, looked up in its context
//! store), else the local socket. The rules are pure over an environment
//! and a file reader; [`from_process`] gives them the real ones.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// The local engine's socket, where nothing else is said.
pub const LOCAL_SOCKET: &str = "unix:///var/run/docker.sock";

/// An engine address and its TLS material, and where they came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DockerHost {
    /// `unix://…`, `tcp://…` or `ssh://…`.
    pub url: String,
    pub tls_verify: bool,
    /// `ca.pem`, `cert.pem`, `key.pem` (each only if present).
    pub tls_ca_cert: Option<PathBuf>,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// For messages: `DOCKER_HOST`, `Docker context "prod"`, `the local socket`.
    pub origin: String,
}

/// Why the Docker CLI's choice of engine cannot be made.
#[derive(Debug, thiserror::Error)]
pub enum DockerHostError {
    #[error("{from} names the Docker context \"{name}\", but neither DOCKER_CONFIG nor HOME says where the context store is")]
    NoContextStore { from: String, name: String },
    #[error("{from} names the Docker context \"{name}\", which is not in the context store ({} is missing); run `docker context ls`, or set DOCKER_HOST", .meta.display())]
    NotInStore {
        from: String,
        name: String,
        meta: PathBuf,
    },
    #[error("{}: not a Docker context ({source})", .meta.display())]
    NotAContext {
        meta: PathBuf,
        source: serde_json::Error,
    },
    #[error("the Docker context \"{name}\" ({}) has no docker endpoint Host", .meta.display())]
    NoEndpointHost { name: String, meta: PathBuf },
}

/// What the rules may look at.
pub trait Surroundings {
    fn var(&self, name: &str) -> Option<String>;
    fn read(&self, path: &Path) -> Option<String>;
    fn exists(&self, path: &Path) -> bool;
}

struct Process;

impl Surroundings for Process {
    fn var(&self, name: &str) -> Option<String> {
        std::env::var(name).ok().filter(|v| !v.is_empty())
    }
    fn read(&self, path: &Path) -> Option<String> {
        // Client configuration files are small; the cap keeps a FIFO or a
        // huge file from stalling the load.
        let bytes = crate::read_capped(path, 4 * 1024 * 1024).ok()?;
        String::from_utf8(bytes).ok()
    }
    fn exists(&self, path: &Path) -> bool {
        path.is_file()
    }
}

/// [`resolve`] with this process's environment and files.
pub fn from_process() -> Result<DockerHost, DockerHostError> {
    resolve(&Process)
}

/// The Docker CLI's choice of engine, or why it cannot be made.
pub fn resolve(s: &dyn Surroundings) -> Result<DockerHost, DockerHostError> {
    let home = s.var("HOME").map(PathBuf::from);
    let config_dir = match s.var("DOCKER_CONFIG") {
        Some(dir) => Some(PathBuf::from(dir)),
        None => home.as_ref().map(|h| h.join(".docker")),
    };
    if let Some(url) = s.var("DOCKER_HOST") {
        let tls_verify = s.var("DOCKER_TLS_VERIFY").is_some();
        let cert_dir = s
            .var("DOCKER_CERT_PATH")
            .map(PathBuf::from)
            .or_else(|| config_dir.clone());
        let mut host = DockerHost {
            url,
            tls_verify,
            tls_ca_cert: None,
            tls_cert: None,
            tls_key: None,
            origin: "DOCKER_HOST".into(),
        };
        if tls_verify || s.var("DOCKER_CERT_PATH").is_some() {
            if let Some(dir) = cert_dir {
                tls_files(s, &dir, &mut host);
            }
        }
        return Ok(host);
    }
    let context = match s.var("DOCKER_CONTEXT") {
        Some(name) => Some((name, "DOCKER_CONTEXT")),
        None => config_dir
            .as_ref()
            .and_then(|dir| s.read(&dir.join("config.json")))
            .and_then(|text| current_context(&text))
            .map(|name| (name, "currentContext")),
    };
    match context {
        Some((name, _)) if name == "default" => Ok(local()),
        Some((name, from)) => {
            let Some(dir) = config_dir else {
                return Err(DockerHostError::NoContextStore {
                    from: from.to_owned(),
                    name,
                });
            };
            context_host(s, &dir, &name, from)
        }
        None => Ok(local()),
    }
}

fn local() -> DockerHost {
    DockerHost {
        url: LOCAL_SOCKET.into(),
        tls_verify: false,
        tls_ca_cert: None,
        tls_cert: None,
        tls_key: None,
        origin: "the local socket".into(),
    }
}

fn current_context(config_json: &str) -> Option<String> {
    let value: serde_json::Value = serde_json::from_str(config_json).ok()?;
    value
        .get("currentContext")?
        .as_str()
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
}

/// A context's store entries are kept under the SHA-256 of its name.
fn context_host(
    s: &dyn Surroundings,
    config_dir: &Path,
    name: &str,
    from: &str,
) -> Result<DockerHost, DockerHostError> {
    let id = hex(&Sha256::digest(name.as_bytes()));
    let meta_path = config_dir
        .join("contexts")
        .join("meta")
        .join(&id)
        .join("meta.json");
    let Some(text) = s.read(&meta_path) else {
        return Err(DockerHostError::NotInStore {
            from: from.to_owned(),
            name: name.to_owned(),
            meta: meta_path,
        });
    };
    let meta: serde_json::Value = match serde_json::from_str(&text) {
        Ok(meta) => meta,
        Err(source) => {
            return Err(DockerHostError::NotAContext {
                meta: meta_path,
                source,
            })
        }
    };
    let docker = meta.get("Endpoints").and_then(|e| e.get("docker"));
    let Some(url) = docker
        .and_then(|d| d.get("Host"))
        .and_then(|h| h.as_str())
        .filter(|h| !h.is_empty())
    else {
        return Err(DockerHostError::NoEndpointHost {
            name: name.to_owned(),
            meta: meta_path,
        });
    };
    let skip_verify = docker
        .and_then(|d| d.get("SkipTLSVerify"))
        .and_then(|v| v.as_bool())
        .unwrap_or(false);
    let mut host = DockerHost {
        url: url.to_owned(),
        tls_verify: false,
        tls_ca_cert: None,
        tls_cert: None,
        tls_key: None,
        origin: format!("Docker context \"{name}\""),
    };
    let tls_dir = config_dir
        .join("contexts")
        .join("tls")
        .join(&id)
        .join("docker");
    tls_files(s, &tls_dir, &mut host);
    host.tls_verify = host.tls_ca_cert.is_some() && !skip_verify;
    Ok(host)
}

fn tls_files(s: &dyn Surroundings, dir: &Path, host: &mut DockerHost) {
    let pick = |file: &str| Some(dir.join(file)).filter(|p| s.exists(p));
    host.tls_ca_cert = pick("ca.pem");
    host.tls_cert = pick("cert.pem");
    host.tls_key = pick("key.pem");
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[derive(Default)]
    struct Fake {
        vars: HashMap<String, String>,
        files: HashMap<PathBuf, String>,
    }

    impl Fake {
        fn var(mut self, k: &str, v: &str) -> Fake {
            self.vars.insert(k.into(), v.into());
            self
        }
        fn file(mut self, p: &str, text: &str) -> Fake {
            self.files.insert(PathBuf::from(p), text.into());
            self
        }
    }

    impl Surroundings for Fake {
        fn var(&self, name: &str) -> Option<String> {
            self.vars.get(name).cloned()
        }
        fn read(&self, path: &Path) -> Option<String> {
            self.files.get(path).cloned()
        }
        fn exists(&self, path: &Path) -> bool {
            self.files.contains_key(path)
        }
    }

    fn id(name: &str) -> String {
        hex(&Sha256::digest(name.as_bytes()))
    }

    #[test]
    fn nothing_said_means_the_local_socket() {
        let host = resolve(&Fake::default().var("HOME", "/home/u")).unwrap();
        assert_eq!(host.url, LOCAL_SOCKET);
        assert!(!host.tls_verify);
    }

    #[test]
    fn docker_host_wins_with_its_tls_settings() {
        let fake = Fake::default()
            .var("HOME", "/home/u")
            .var("DOCKER_HOST", "tcp://10.0.0.2:2376")
            .var("DOCKER_TLS_VERIFY", "1")
            .var("DOCKER_CERT_PATH", "/certs")
            .var("DOCKER_CONTEXT", "prod")
            .file("/certs/ca.pem", "x")
            .file("/certs/cert.pem", "x")
            .file("/certs/key.pem", "x");
        let host = resolve(&fake).unwrap();
        assert_eq!(host.url, "tcp://10.0.0.2:2376");
        assert!(host.tls_verify);
        assert_eq!(host.tls_ca_cert, Some(PathBuf::from("/certs/ca.pem")));
        assert_eq!(host.origin, "DOCKER_HOST");
        // Without DOCKER_CERT_PATH the certificates are looked for in ~/.docker.
        let fake = Fake::default()
            .var("HOME", "/home/u")
            .var("DOCKER_HOST", "tcp://h:2376")
            .var("DOCKER_TLS_VERIFY", "1")
            .file("/home/u/.docker/ca.pem", "x");
        let host = resolve(&fake).unwrap();
        assert_eq!(
            host.tls_ca_cert,
            Some(PathBuf::from("/home/u/.docker/ca.pem"))
        );
    }

    #[test]
    fn the_current_context_is_read_from_the_store() {
        let meta = format!("/cfg/contexts/meta/{}/meta.json", id("prod"));
        let ca = format!("/cfg/contexts/tls/{}/docker/ca.pem", id("prod"));
        let fake = Fake::default()
            .var("DOCKER_CONFIG", "/cfg")
            .file("/cfg/config.json", r#"{"auths": {}, "currentContext": "prod"}"#)
            .file(
                &meta,
                r#"{"Name":"prod","Metadata":{},"Endpoints":{"docker":{"Host":"ssh://deploy@prod1","SkipTLSVerify":false}}}"#,
            );
        let host = resolve(&fake).unwrap();
        assert_eq!(host.url, "ssh://deploy@prod1");
        assert_eq!(host.origin, "Docker context \"prod\"");
        assert!(!host.tls_verify);
        // DOCKER_CONTEXT names one over the config's; TLS material from the store.
        let fake = fake
            .var("DOCKER_CONTEXT", "prod")
            .file("/cfg/config.json", r#"{"currentContext": "other"}"#)
            .file(&ca, "x");
        let host = resolve(&fake).unwrap();
        assert_eq!(host.url, "ssh://deploy@prod1");
        assert!(host.tls_verify);
        assert_eq!(host.tls_ca_cert, Some(PathBuf::from(ca)));
    }

    #[test]
    fn the_default_context_is_the_local_socket() {
        let fake = Fake::default()
            .var("DOCKER_CONFIG", "/cfg")
            .file("/cfg/config.json", r#"{"currentContext": "default"}"#);
        assert_eq!(resolve(&fake).unwrap().url, LOCAL_SOCKET);
    }

    #[test]
    fn a_missing_context_says_so() {
        let fake = Fake::default()
            .var("DOCKER_CONFIG", "/cfg")
            .var("DOCKER_CONTEXT", "gone");
        let err = resolve(&fake).unwrap_err().to_string();
        assert!(err.contains("\"gone\""), "{err}");
        assert!(err.contains("docker context ls"), "{err}");
    }

    #[test]
    fn context_ids_are_sha256_of_the_name() {
        assert_eq!(
            id("default"),
            "37a8eec1ce19687d132fe29051dca629d164e2c4958ba141d5f4133a33f0688f"
        );
    }
}
