//! The engine calls the plays make, one method each, bounded by the ship's
//! timeout (a stop gets the container's grace period on top). Every call
//! waits for a permit of the fleet's call pool, when it has one.

use std::time::Duration;

use bollard::container::LogOutput;
use bollard::exec::{CreateExecOptions, StartExecOptions};
use bollard::models::{
    ContainerCreateBody, ContainerInspectResponse, ContainerSummary, CreateImageInfo, ImageInspect,
};
use bollard::query_parameters::{
    CreateContainerOptions, CreateImageOptions, KillContainerOptions, ListContainersOptions,
    LogsOptions, RemoveContainerOptions, StopContainerOptions,
};
use futures_util::{Stream, StreamExt};

use crate::{Engine, EngineError};

/// One line of a container's output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    pub stderr: bool,
    pub text: String,
}

/// How an exec inside a container ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExecOutcome {
    pub exit_code: i64,
}

/// Progress of an image pull, summed over its layers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PullProgress {
    /// Bytes downloaded so far (layers still downloading or done).
    pub current: u64,
    /// Total bytes of the layers whose size is known.
    pub total: u64,
    /// The engine's latest status text.
    pub status: String,
}

impl Engine {
    /// The container named `name`, or `None` when there is none.
    pub async fn inspect_container(
        &self,
        name: &str,
    ) -> Result<Option<ContainerInspectResponse>, EngineError> {
        let action = format!("inspect container {name}");
        let path = self.segment(&action, name)?;
        let call = || self.docker.inspect_container(&path, None);
        match self.bounded(&action, call, self.timeout).await {
            // Every field of the answer is optional to the client library,
            // so `{}` parses; without a state the container's cannot be
            // told, and taking it for stopped would act on a guess.
            Ok(found) if found.state.is_none() => Err(EngineError::Protocol {
                ship: self.ship.clone(),
                action,
                reason: "unexpected reply: the container's description has no `State`".into(),
            }),
            Ok(found) => Ok(Some(found)),
            Err(EngineError::Refused { status: 404, .. }) => Ok(None),
            Err(other) => Err(other),
        }
    }

    /// The container named `name` with only its state and restart count
    /// read (`state`, `restart_count`; every other field `None`), or `None`
    /// when there is none: what a confirm, a watch or a health check needs,
    /// without building the container's whole description.
    pub async fn inspect_container_state(
        &self,
        name: &str,
    ) -> Result<Option<ContainerInspectResponse>, EngineError> {
        let Some(raw) = &self.raw else {
            return self.inspect_container(name).await;
        };
        let action = format!("inspect container {name}");
        let path = format!("/containers/{}/json", self.segment(&action, name)?);
        let call = || raw.get::<crate::raw::Inspected>(&self.api_version, &path);
        match self.bounded(&action, call, self.timeout).await {
            Ok(found) if found.has_no_state() => Err(EngineError::Protocol {
                ship: self.ship.clone(),
                action,
                reason: "unexpected reply: the container's description has no `State`".into(),
            }),
            Ok(found) => Ok(Some(found.into())),
            Err(EngineError::Refused { status: 404, .. }) => Ok(None),
            Err(other) => Err(other),
        }
    }

    /// The image `name` as the engine has it, or `None` when it lacks it.
    pub async fn inspect_image(&self, name: &str) -> Result<Option<ImageInspect>, EngineError> {
        let action = format!("inspect image {name}");
        let path = self.image_path(&action, name)?;
        match self
            .bounded(&action, || self.docker.inspect_image(&path), self.timeout)
            .await
        {
            Ok(found) => Ok(Some(found)),
            Err(EngineError::Refused { status: 404, .. }) => Ok(None),
            Err(other) => Err(other),
        }
    }

    /// Containers (running or not) carrying every `label=value` filter given
    /// (every container when none is). Of each only the fields maestro
    /// reads are filled: `id`, `names`, `image`, `image_id`, `labels`,
    /// `state`, `status` and the IP address of each of its networks; the
    /// same holds for the other lists below.
    pub async fn list_containers(
        &self,
        labels: &[String],
    ) -> Result<Vec<ContainerSummary>, EngineError> {
        if labels.is_empty() {
            return self.list_filtered(None).await;
        }
        self.list_filtered(Some(("label", labels.to_vec()))).await
    }

    /// The containers named exactly as one of `names` (running or not): one
    /// call, each name an anchored pattern of the engine's `name` filter. The
    /// leading `/` is optional: Docker matches the pattern against `/NAME`,
    /// Podman against `NAME`.
    pub async fn list_containers_named(
        &self,
        names: &[&str],
    ) -> Result<Vec<ContainerSummary>, EngineError> {
        let patterns = names
            .iter()
            .map(|n| format!("^/?{}$", n.replace('.', "\\.")))
            .collect();
        self.list_filtered(Some(("name", patterns))).await
    }

    /// The containers (running or not) that `key=value` keeps.
    pub(crate) async fn list_containers_filtered(
        &self,
        key: &str,
        value: &str,
    ) -> Result<Vec<ContainerSummary>, EngineError> {
        self.list_filtered(Some((key, vec![value.to_owned()])))
            .await
    }

    /// Every container (running or not), or those the one filter keeps.
    async fn list_filtered(
        &self,
        filter: Option<(&str, Vec<String>)>,
    ) -> Result<Vec<ContainerSummary>, EngineError> {
        if let Some(raw) = &self.raw {
            let mut path = String::from("/containers/json?all=true");
            if let Some((key, values)) = &filter {
                let filters = serde_json::json!({ *key: values }).to_string();
                path.push_str("&filters=");
                path.push_str(&crate::raw::query_value(&filters));
            }
            let call = || raw.get::<Vec<crate::raw::Listed>>(&self.api_version, &path);
            let list = self.bounded("list containers", call, self.timeout).await?;
            return Ok(list.into_iter().map(ContainerSummary::from).collect());
        }
        let options = ListContainersOptions {
            all: true,
            filters: filter
                .map(|(key, values)| std::collections::HashMap::from([(key.to_owned(), values)])),
            ..Default::default()
        };
        self.bounded(
            "list containers",
            || self.docker.list_containers(Some(options)),
            self.timeout,
        )
        .await
    }

    /// Creates container `name`; its id.
    pub async fn create_container(
        &self,
        name: &str,
        body: ContainerCreateBody,
    ) -> Result<String, EngineError> {
        self.create_container_for(name, body, None).await
    }

    /// Creates container `name` for `platform` (`linux/arm64`; `None`: the
    /// engine's own); its id.
    pub async fn create_container_for(
        &self,
        name: &str,
        body: ContainerCreateBody,
        platform: Option<&str>,
    ) -> Result<String, EngineError> {
        let action = format!("create container {name}");
        let options = CreateContainerOptions {
            name: Some(name.to_owned()),
            platform: platform.unwrap_or_default().to_owned(),
        };
        let legacy_mac = crate::legacy::needs_top_level_mac(&self.api_version)
            && crate::legacy::endpoint_mac(&body).is_some();
        let docker = if legacy_mac {
            let prefix = format!("/v{}", self.api_version);
            self.docker.clone().with_request_modifier(move |request| {
                crate::with_version_prefix(crate::legacy::with_top_level_mac(request), &prefix)
            })
        } else {
            self.docker.clone()
        };
        let created = self
            .bounded(
                &action,
                || docker.create_container(Some(options), body),
                self.timeout,
            )
            .await?;
        Ok(created.id)
    }

    /// Creates container `name` for `platform` from a request serialized
    /// beforehand: `body` (the JSON object) is made only once the call may
    /// go, so that the containers waiting for the fleet's call pool hold no
    /// request (a container's variables are most of it). For engines before
    /// API 1.44 the MAC address of its endpoints is also put at its top, as
    /// [`Engine::create_container_for`] does. Its id.
    pub async fn create_container_json(
        &self,
        name: &str,
        platform: Option<&str>,
        body: impl FnOnce() -> Vec<u8>,
    ) -> Result<String, EngineError> {
        let action = format!("create container {name}");
        let Some(raw) = &self.raw else {
            let typed = serde_json::from_slice(&body()).map_err(|e| EngineError::Config {
                ship: self.ship.clone(),
                message: format!("cannot {action}: its request is not valid: {e}"),
            })?;
            // Boxed: the typed request and the library's call are kilobytes.
            return Box::pin(self.create_container_for(name, typed, platform)).await;
        };
        let mut path = format!("/containers/create?name={}", crate::raw::query_value(name));
        if let Some(platform) = platform.filter(|p| !p.is_empty()) {
            path.push_str("&platform=");
            path.push_str(&crate::raw::query_value(platform));
        }
        let legacy_mac = crate::legacy::needs_top_level_mac(&self.api_version);
        let call = move || async move {
            let mut body = body();
            if let Some(moved) = legacy_mac
                .then(|| crate::legacy::mac_at_top(&body))
                .flatten()
            {
                body = moved;
            }
            raw.post_json::<crate::raw::Created>(&self.api_version, &path, body)
                .await
        };
        let created = self.bounded(&action, call, self.timeout).await?;
        Ok(created.id)
    }

    /// Writes `files` into container `name` (created, not yet started:
    /// its root filesystem is writable then), each with its owner and mode,
    /// their directories made as needed. Only the engine's archive call
    /// carries the contents: no file on the ship's disk, nothing in the
    /// container's configuration.
    pub async fn put_files(&self, name: &str, files: &[FileToPut<'_>]) -> Result<(), EngineError> {
        let action = format!("write files into container {name}");
        let path = self.segment(&action, name)?;
        let archive = tar_of(files).map_err(|e| EngineError::Config {
            ship: self.ship.clone(),
            message: format!("cannot {action}: {e}"),
        })?;
        let options = bollard::query_parameters::UploadToContainerOptions {
            path: "/".into(),
            ..Default::default()
        };
        let body = bollard::body_full(archive.into());
        self.bounded(
            &action,
            || self.docker.upload_to_container(&path, Some(options), body),
            self.timeout,
        )
        .await
    }

    pub async fn start_container(&self, name: &str) -> Result<(), EngineError> {
        let action = format!("start container {name}");
        let path = self.segment(&action, name)?;
        if let Some(raw) = &self.raw {
            let path = format!("/containers/{path}/start");
            let call = || raw.post(&self.api_version, &path);
            return self.bounded(&action, call, self.timeout).await;
        }
        self.bounded(
            &action,
            || self.docker.start_container(&path, None),
            self.timeout,
        )
        .await
    }

    /// Stops `name`, giving it `grace` seconds before SIGKILL. An already
    /// stopped container is not an error.
    pub async fn stop_container(&self, name: &str, grace: u32) -> Result<(), EngineError> {
        let action = format!("stop container {name}");
        let path = self.segment(&action, name)?;
        let options = StopContainerOptions {
            t: Some(i32::try_from(grace).unwrap_or(i32::MAX)),
            signal: None,
        };
        // The engine answers once the container is down, which may take the
        // whole grace period: the bound is the ship's timeout on top of it.
        let limit = self.timeout + Duration::from_secs(u64::from(grace));
        // Through the call pool like every call, so a stop of thousands of
        // containers keeps a bounded number of connections open. A stop holds
        // its permit while the engine waits out the grace period; that cannot
        // deadlock (no call holds a permit while it waits for another), it
        // only makes the other calls queue when the whole pool is waiting out
        // grace periods. The wait for the permit is not counted in `limit`.
        let result = match &self.raw {
            Some(raw) => {
                let path = format!("/containers/{path}/stop?t={}", options.t.unwrap_or(0));
                self.bounded(&action, || raw.post(&self.api_version, &path), limit)
                    .await
            }
            None => {
                let call = || self.docker.stop_container(&path, Some(options));
                self.bounded(&action, call, limit).await
            }
        };
        match result {
            Err(EngineError::Refused { status: 304, .. }) => Ok(()),
            other => other,
        }
    }

    /// Sends SIGKILL to `name`.
    pub async fn kill_container(&self, name: &str) -> Result<(), EngineError> {
        let action = format!("kill container {name}");
        let path = self.segment(&action, name)?;
        let options = KillContainerOptions {
            signal: "SIGKILL".to_owned(),
        };
        match self
            .bounded(
                &action,
                || self.docker.kill_container(&path, Some(options)),
                self.timeout,
            )
            .await
        {
            // 409: not running (already dead); nothing to do.
            Err(EngineError::Refused { status: 409, .. }) => Ok(()),
            other => other,
        }
    }

    /// Removes `name` (with its anonymous volumes when `volumes`). A missing
    /// container is not an error.
    pub async fn remove_container(
        &self,
        name: &str,
        volumes: bool,
        force: bool,
    ) -> Result<(), EngineError> {
        let action = format!("remove container {name}");
        let path = self.segment(&action, name)?;
        let options = RemoveContainerOptions {
            v: volumes,
            force,
            link: false,
        };
        match self
            .bounded(
                &action,
                || self.docker.remove_container(&path, Some(options)),
                self.timeout,
            )
            .await
        {
            Err(EngineError::Refused { status: 404, .. }) => Ok(()),
            other => other,
        }
    }

    /// Renames container `name` to `to`; `false` when there is no `name`.
    pub async fn rename_container(&self, name: &str, to: &str) -> Result<bool, EngineError> {
        let action = format!("rename container {name} to {to}");
        let path = self.segment(&action, name)?;
        let options = bollard::query_parameters::RenameContainerOptions {
            name: to.to_owned(),
        };
        match self
            .bounded(
                &action,
                || self.docker.rename_container(&path, options),
                self.timeout,
            )
            .await
        {
            Ok(()) => Ok(true),
            Err(EngineError::Refused { status: 404, .. }) => Ok(false),
            Err(other) => Err(other),
        }
    }

    /// The last `tail` lines of `name`'s output (all with `None`).
    pub async fn logs(&self, name: &str, tail: Option<u64>) -> Result<Vec<LogLine>, EngineError> {
        match self.logs_until_cut(name, tail).await {
            (lines, None) => Ok(lines),
            (_, Some(error)) => Err(error),
        }
    }

    /// Like [`Engine::logs`], but keeps the lines that came before a failure:
    /// the lines, and what cut them short (if anything did).
    pub async fn logs_until_cut(
        &self,
        name: &str,
        tail: Option<u64>,
    ) -> (Vec<LogLine>, Option<EngineError>) {
        self.logs_until_cut_with(name, log_options(false, tail))
            .await
    }

    /// [`Engine::logs_until_cut`] with the engine's log options given whole.
    pub(crate) async fn logs_until_cut_with(
        &self,
        name: &str,
        options: LogsOptions,
    ) -> (Vec<LogLine>, Option<EngineError>) {
        let action = format!("read the logs of {name}");
        let path = match self.segment(&action, name) {
            Ok(path) => path,
            Err(e) => return (Vec::new(), Some(e)),
        };
        let mut lines = Vec::new();
        let mut received = false;
        let before = self.oversized.count();
        let collect = async {
            let mut stream = Box::pin(self.docker.logs(&path, Some(options)));
            while let Some(item) = stream.next().await {
                match item {
                    Ok(output) => {
                        received = true;
                        lines.extend(log_lines(output));
                    }
                    Err(e) => return Err(self.stream_error(&action, e, received, before)),
                }
            }
            Ok(())
        };
        let limit = self.timeout * 4;
        let error = match tokio::time::timeout(limit, collect).await {
            Ok(Ok(())) => None,
            Ok(Err(e)) => Some(e),
            Err(_) => Some(EngineError::Timeout {
                ship: self.ship.clone(),
                action,
                seconds: limit.as_secs_f64(),
            }),
        };
        (lines, error)
    }

    /// An error met while reading a streamed answer: before anything came it
    /// is like any call's; after, the engine was reached and the stream broke.
    /// `before`: the count of this engine's oversized answers when the
    /// stream began (a stream cut at a cap fails with a bare text).
    pub(crate) fn stream_error(
        &self,
        action: &str,
        error: bollard::errors::Error,
        received: bool,
        before: u64,
    ) -> EngineError {
        if let Some(too_large) = self.oversized.since(before) {
            return self.too_large(action, too_large);
        }
        // A body that fails to read (as opposed to a connection that fails to
        // open) means the engine answered and the answer broke off.
        let body_failed = matches!(
            error,
            bollard::errors::Error::IOError { .. }
                | bollard::errors::Error::HyperResponseError { .. }
        );
        let received = received || body_failed;
        let mapped = self.engine_error(action, error);
        match mapped {
            EngineError::Unreachable { reason, .. } | EngineError::Protocol { reason, .. }
                if received =>
            {
                EngineError::Cut {
                    ship: self.ship.clone(),
                    action: action.to_owned(),
                    reason,
                }
            }
            other => other,
        }
    }

    /// `name`'s output as it comes, from the last `tail` lines on (follow mode).
    pub fn follow_logs(
        &self,
        name: &str,
        tail: Option<u64>,
    ) -> impl Stream<Item = Result<LogLine, EngineError>> + Send + 'static {
        self.follow_logs_with(name, log_options(true, tail))
    }

    /// [`Engine::follow_logs`] with the engine's log options given whole.
    pub(crate) fn follow_logs_with(
        &self,
        name: &str,
        options: LogsOptions,
    ) -> futures_util::stream::BoxStream<'static, Result<LogLine, EngineError>> {
        let action = format!("follow the logs of {name}");
        let path = match self.segment(&action, name) {
            Ok(path) => path,
            Err(e) => return futures_util::stream::once(async { Err(e) }).boxed(),
        };
        let ship = self.ship.clone();
        let address = self.address.clone();
        let oversized = self.oversized.clone();
        let before = oversized.count();
        let mut received = false;
        self.docker
            .logs(&path, Some(options))
            .flat_map(move |item| {
                let out: Vec<Result<LogLine, EngineError>> = match item {
                    Ok(output) => {
                        received = true;
                        log_lines(output).into_iter().map(Ok).collect()
                    }
                    Err(bollard::errors::Error::DockerResponseServerError {
                        status_code,
                        message,
                    }) => vec![Err(EngineError::Refused {
                        ship: ship.clone(),
                        action: action.clone(),
                        status: status_code,
                        message,
                    })],
                    Err(other)
                        if crate::capped::too_large(&other)
                            .or_else(|| oversized.since(before))
                            .is_some() =>
                    {
                        let too_large =
                            crate::capped::too_large(&other).or_else(|| oversized.since(before));
                        vec![Err(EngineError::TooLarge {
                            ship: ship.clone(),
                            action: action.clone(),
                            mib: too_large.map_or(0, |t| t.mib()),
                            streamed: too_large.is_some_and(|t| t.streamed),
                        })]
                    }
                    Err(other) if received => vec![Err(EngineError::Cut {
                        ship: ship.clone(),
                        action: action.clone(),
                        reason: crate::error::root_cause(&other),
                    })],
                    Err(other) => vec![Err(EngineError::Unreachable {
                        ship: ship.clone(),
                        address: address.clone(),
                        reason: crate::error::root_cause(&other),
                    })],
                };
                futures_util::stream::iter(out)
            })
            .boxed()
    }

    /// Runs `command` inside `name` (no shell) and waits for it to end. The
    /// exec is attached (its output read and dropped) until its streams close,
    /// as `docker exec` does: Podman's Docker API never marks a detached exec
    /// as ended (its inspect says `Running: true` for good).
    pub async fn exec(&self, name: &str, command: &[String]) -> Result<ExecOutcome, EngineError> {
        let action = format!("run `{}` in {name}", command.join(" "));
        let path = self.segment(&action, name)?;
        let options = CreateExecOptions::<String> {
            cmd: Some(command.to_vec()),
            attach_stdout: Some(true),
            attach_stderr: Some(true),
            ..Default::default()
        };
        let created = self
            .bounded(
                &action,
                || self.docker.create_exec(&path, options),
                self.timeout,
            )
            .await?;
        let id = self.segment(&action, &created.id)?;
        let start = StartExecOptions {
            detach: false,
            ..Default::default()
        };
        let started = self
            .bounded(
                &action,
                || self.docker.start_exec(&id, Some(start)),
                self.timeout,
            )
            .await?;
        if let bollard::exec::StartExecResults::Attached { mut output, .. } = started {
            // Until the command's streams close (its end); an error of the
            // stream ends the wait too, the inspect below tells the rest.
            while let Some(Ok(_)) = output.next().await {}
        }
        let mut pause = Duration::from_millis(20);
        loop {
            let state = self
                .bounded(&action, || self.docker.inspect_exec(&id), self.timeout)
                .await?;
            if state.running != Some(true) {
                return Ok(ExecOutcome {
                    exit_code: state.exit_code.unwrap_or(-1),
                });
            }
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_millis(250));
        }
    }

    /// Logs in to a registry through the engine (`POST /auth`): the engine
    /// checks `credentials` with the registry named by their
    /// `serveraddress`. Bounded like a pull (the ship's timeout, at least 60 s).
    pub async fn login(
        &self,
        credentials: &bollard::auth::DockerCredentials,
    ) -> Result<(), EngineError> {
        let server = credentials.serveraddress.clone().unwrap_or_default();
        let action = format!("log in to registry {server}");
        let body = serde_json::to_vec(credentials).map_err(|e| EngineError::Protocol {
            ship: self.ship.clone(),
            action: action.clone(),
            reason: format!("cannot encode the credentials: {e}"),
        })?;
        let body = hyper::body::Bytes::from(body);
        let path = format!("/v{}/auth", self.api_version);
        // bollard has no call for /auth: turn its ping into one (the version
        // prefix is part of the new path).
        let docker = self
            .docker
            .clone()
            .with_request_modifier(move |mut request| {
                *request.method_mut() = hyper::Method::POST;
                let mut parts = request.uri().clone().into_parts();
                if let Ok(new) = path.parse() {
                    parts.path_and_query = Some(new);
                    if let Ok(uri) = hyper::Uri::from_parts(parts) {
                        *request.uri_mut() = uri;
                    }
                }
                *request.body_mut() =
                    http_body_util::Either::Left(http_body_util::Full::new(body.clone()));
                request
            });
        let limit = self.timeout.max(Duration::from_secs(60));
        self.bounded(&action, || docker.ping(), limit)
            .await
            .map(|_| ())
    }

    /// Pulls `image` (tag `latest` when it names none), reporting progress.
    /// `credentials` go to the engine with the request. Each message from the
    /// engine must come within the idle bound (the ship's timeout, at least 60 s).
    pub async fn pull_image(
        &self,
        image: &str,
        credentials: Option<bollard::auth::DockerCredentials>,
        mut on_progress: impl FnMut(&PullProgress) + Send,
    ) -> Result<(), EngineError> {
        let action = format!("pull image {image}");
        let (repo, tag) = split_image(image);
        let options = CreateImageOptions {
            from_image: Some(repo.to_owned()),
            tag: tag.map(str::to_owned),
            ..Default::default()
        };
        let before = self.oversized.count();
        let mut stream = Box::pin(self.docker.create_image(Some(options), None, credentials));
        let idle = self.timeout.max(Duration::from_secs(60));
        let mut received = false;
        let mut layers: std::collections::HashMap<String, (u64, u64)> = Default::default();
        let mut progress = PullProgress::default();
        loop {
            let next = match tokio::time::timeout(idle, stream.next()).await {
                Ok(next) => next,
                Err(_) => {
                    return Err(EngineError::Timeout {
                        ship: self.ship.clone(),
                        action,
                        seconds: idle.as_secs_f64(),
                    })
                }
            };
            let Some(item) = next else { break };
            let info: CreateImageInfo =
                item.map_err(|e| self.stream_error(&action, e, received, before))?;
            received = true;
            if let Some(error) = info.error_detail.as_ref().and_then(|d| d.message.clone()) {
                return Err(EngineError::Refused {
                    ship: self.ship.clone(),
                    action,
                    status: 500,
                    message: error,
                });
            }
            if let (Some(id), Some(detail)) = (&info.id, &info.progress_detail) {
                let entry = layers.entry(id.clone()).or_default();
                if let Some(total) = detail.total.filter(|t| *t > 0) {
                    entry.1 = total as u64;
                }
                if let Some(current) = detail.current.filter(|c| *c >= 0) {
                    if info.status.as_deref() == Some("Downloading") {
                        entry.0 = current as u64;
                    }
                }
            }
            if let (Some(id), Some(status)) = (&info.id, &info.status) {
                if status == "Download complete" || status == "Pull complete" {
                    let entry = layers.entry(id.clone()).or_default();
                    entry.0 = entry.1;
                }
            }
            progress.current = layers.values().map(|l| l.0).sum();
            progress.total = layers.values().map(|l| l.1).sum();
            if let Some(status) = info.status {
                progress.status = status;
            }
            on_progress(&progress);
        }
        Ok(())
    }
}

pub(crate) fn log_options(follow: bool, tail: Option<u64>) -> LogsOptions {
    LogsOptions {
        follow,
        stdout: true,
        stderr: true,
        tail: tail.map_or_else(|| "all".to_owned(), |n| n.to_string()),
        ..Default::default()
    }
}

fn log_lines(output: LogOutput) -> Vec<LogLine> {
    let (stderr, bytes) = match output {
        LogOutput::StdErr { message } => (true, message),
        LogOutput::StdOut { message }
        | LogOutput::Console { message }
        | LogOutput::StdIn { message } => (false, message),
    };
    String::from_utf8_lossy(&bytes)
        .lines()
        .map(|line| LogLine {
            stderr,
            text: line.to_owned(),
        })
        .collect()
}

/// `host:5000/team/app:2` → (`host:5000/team/app`, `2`); a digest or no tag → no tag.
pub(crate) fn split_image(image: &str) -> (&str, Option<&str>) {
    if image.contains('@') {
        return (image, None);
    }
    match image.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') && !tag.is_empty() => (repo, Some(tag)),
        _ => (image, Some("latest")),
    }
}

/// A file [`Engine::put_files`] writes into a container.
pub struct FileToPut<'a> {
    /// Its absolute path in the container.
    pub path: &'a str,
    pub uid: u32,
    pub gid: u32,
    pub mode: u32,
    pub contents: &'a [u8],
}

/// A tar archive of `files`, their paths relative to `/`.
fn tar_of(files: &[FileToPut<'_>]) -> std::io::Result<Vec<u8>> {
    let mut archive = tar::Builder::new(Vec::new());
    for f in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(f.contents.len() as u64);
        header.set_mode(f.mode);
        header.set_uid(u64::from(f.uid));
        header.set_gid(u64::from(f.gid));
        header.set_entry_type(tar::EntryType::Regular);
        archive.append_data(&mut header, f.path.trim_start_matches('/'), f.contents)?;
    }
    archive.into_inner()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_split_into_repository_and_tag() {
        assert_eq!(split_image("busybox"), ("busybox", Some("latest")));
        assert_eq!(split_image("a/b:1"), ("a/b", Some("1")));
        assert_eq!(split_image("h:5000/a/b"), ("h:5000/a/b", Some("latest")));
        assert_eq!(split_image("h:5000/a/b:2"), ("h:5000/a/b", Some("2")));
        assert_eq!(split_image("a@sha256:00"), ("a@sha256:00", None));
    }
}
