//! The proxy's operations of a plan, run on one container's ship: the
//! ship's proxy made or started (once per ship in a play), the running
//! container renamed aside to keep serving, the proxy's health check of the
//! new one, the proxy's routes written (each proxied instance of the ship
//! at the address its container has now), the drain, the previous one
//! stopped — and, when the new one fails before the switch, put back.
//! Route writes on one ship never overlap.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use maestro_engine::{Engine, EngineError};
use maestro_proxy::{Admin, Health, ProxyConfig, ProxyError, Route, Tls, Upstream};
use tokio::sync::OnceCell;

use crate::act::failure::Failure;
use crate::act::ops::{is_running, Ctx};
use crate::decide::plan::ProxyRequest;

/// What a play's proxy operations share, by ship: whether its proxy was
/// made ready, and the lock of its route writes.
#[derive(Default)]
pub(crate) struct Ships {
    ready: Mutex<HashMap<String, Arc<Ready>>>,
    writes: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
}

impl Ships {
    fn ready_cell(&self, ship: &str) -> Arc<Ready> {
        let mut map = self.ready.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(ship.to_owned()).or_default().clone()
    }

    fn write_lock(&self, ship: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut map = self.writes.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(ship.to_owned()).or_default().clone()
    }
}

/// Whether a ship's proxy was made ready, once that was tried.
type Ready = OnceCell<Result<(), Failure>>;

/// How often the proxy is asked whether its admin API answers, and for how
/// long, after its container started.
const ADMIN_TRIES: u32 = 50;
const ADMIN_PAUSE: Duration = Duration::from_millis(200);

/// Makes the ship's proxy ready: its network and container made when
/// missing, started when stopped, and (when it was made or started) its
/// routes written. Once per ship in a play; the others wait for that one.
pub(crate) async fn ensure(
    ctx: &Ctx<'_>,
    ships: &Ships,
    request: &ProxyRequest,
) -> Result<(), Failure> {
    let cell = ships.ready_cell(&request.ship);
    let result = cell
        .get_or_init(|| async {
            (ctx.progress)("making the ship's proxy ready");
            make_ready(&ctx.engine, request).await
        })
        .await;
    result.clone()
}

async fn make_ready(engine: &Engine, request: &ProxyRequest) -> Result<(), Failure> {
    let network = &request.network.name;
    if engine.networks_named(&[network.as_str()]).await?.is_empty() {
        engine.create_network(request.network.clone()).await?;
    }
    let started = match engine.inspect_container_state(&request.name).await? {
        None => {
            engine
                .create_container(&request.name, request.body.clone())
                .await?;
            engine.start_container(&request.name).await?;
            true
        }
        Some(found) if !is_running(&found) => {
            engine.start_container(&request.name).await?;
            true
        }
        Some(_) => false,
    };
    if started {
        write_routes(engine, request, true).await?;
    }
    Ok(())
}

/// Renames the running container `NAME.previous` (removing the one kept
/// before), where it goes on serving through the proxy.
pub(crate) async fn keep_serving(ctx: &Ctx<'_>) -> Result<(), Failure> {
    let name = &ctx.container.name;
    let kept = crate::previous::kept_name(name);
    (ctx.progress)("renaming the running container aside");
    if let Err(error) = ctx.engine.remove_container(&kept, false, true).await {
        if !matches!(error, EngineError::Refused { status: 404, .. }) {
            return Err(Failure::KeptNotRemoved { kept, error });
        }
    }
    ctx.engine.rename_container(name, &kept).await?;
    Ok(())
}

/// Waits until the proxy's health check of the new container passes,
/// asked from the proxy container (the way Caddy reaches it).
pub(crate) async fn healthy(ctx: &Ctx<'_>, request: &ProxyRequest) -> Result<(), Failure> {
    let c = ctx.container;
    let Some(service) = request.services.iter().find(|s| s.service == c.service) else {
        return Ok(());
    };
    let health = &service.route.healthcheck;
    (ctx.progress)(&format!(
        "waiting for the proxy's check GET {}",
        health.path
    ));
    let within = Duration::from_secs_f64(service.route.deploy_timeout);
    let deadline = tokio::time::Instant::now() + within;
    let admin = Admin::new(&ctx.engine, &request.name);
    let interval = Duration::from_secs_f64(health.interval.max(0.05));
    let timeout = Duration::from_secs_f64(health.timeout.max(0.05));
    loop {
        if let Some(address) = address(&ctx.engine, &c.name, &request.network.name).await? {
            let upstream = Upstream::new(&address, service.route.app_port);
            if admin
                .probe(&upstream, &health.path, timeout)
                .await
                .map_err(|e| proxy_failure(&request.ship, e))?
            {
                return Ok(());
            }
        }
        if tokio::time::Instant::now() + interval > deadline {
            return Err(Failure::ProxyUnhealthy {
                name: c.name.clone(),
                path: health.path.clone(),
                seconds: service.route.deploy_timeout,
            });
        }
        tokio::time::sleep(interval).await;
    }
}

/// The container's address on the proxy's network, while it runs.
async fn address(engine: &Engine, name: &str, network: &str) -> Result<Option<String>, Failure> {
    let Some(found) = engine.inspect_container(name).await? else {
        return Ok(None);
    };
    if !is_running(&found) {
        return Ok(None);
    }
    Ok(found
        .network_settings
        .and_then(|n| n.networks)
        .and_then(|mut n| n.remove(network))
        .and_then(|e| e.ip_address)
        .filter(|ip| !ip.is_empty()))
}

/// Writes the ship's routes: each proxied instance at the address its
/// container has now (running ones only).
pub(crate) async fn route(
    ctx: &Ctx<'_>,
    ships: &Ships,
    request: &ProxyRequest,
) -> Result<(), Failure> {
    (ctx.progress)("switching the proxy to the new container");
    let lock = ships.write_lock(&request.ship);
    let _held = lock.lock().await;
    write_routes(&ctx.engine, request, false).await
}

/// Renders and applies the routes of `request`'s ship; `fresh`: the proxy
/// just started, and its admin API may take a moment to answer.
async fn write_routes(engine: &Engine, request: &ProxyRequest, fresh: bool) -> Result<(), Failure> {
    put_certificates(engine, request).await?;
    let config = config(engine, request).await?;
    let grace = config.grace_period();
    let json = maestro_proxy::render(&config).map_err(|e| proxy_failure(&request.ship, e))?;
    let admin = Admin::new(engine, &request.name);
    let tries = if fresh { ADMIN_TRIES } else { 1 };
    let mut last = None;
    for _ in 0..tries {
        match admin.apply(&json, grace).await {
            Ok(_) => return Ok(()),
            Err(e) => last = Some(e),
        }
        tokio::time::sleep(ADMIN_PAUSE).await;
    }
    match last {
        Some(e) => Err(proxy_failure(&request.ship, e)),
        None => Ok(()),
    }
}

/// The routes of the ship as its containers run now.
async fn config(engine: &Engine, request: &ProxyRequest) -> Result<ProxyConfig, Failure> {
    let mut routes = Vec::new();
    for service in &request.services {
        let mut upstreams = Vec::new();
        for instance in &service.instances {
            if let Some(ip) = address(engine, instance, &request.network.name).await? {
                upstreams.push(Upstream::new(&ip, service.route.app_port));
            }
        }
        let r = &service.route;
        routes.push(Route {
            service: service.service.clone(),
            hosts: r.hosts.clone(),
            path_prefix: r.path_prefix.clone(),
            upstreams,
            health: Health {
                path: r.healthcheck.path.clone(),
                interval: Duration::from_secs_f64(r.healthcheck.interval),
                timeout: Duration::from_secs_f64(r.healthcheck.timeout),
            },
            response_timeout: Duration::from_secs_f64(r.response_timeout),
            drain_timeout: Duration::from_secs_f64(r.drain_timeout),
            tls: r.tls.as_ref().map(|_| {
                let (certificate, key) = certificate_paths(&service.service);
                Tls { certificate, key }
            }),
        });
    }
    Ok(ProxyConfig {
        listen: Default::default(),
        routes,
    })
}

/// Where a service's certificate and key are in the proxy container.
fn certificate_paths(service: &str) -> (String, String) {
    (
        format!("{CERTIFICATES}/{service}.crt"),
        format!("{CERTIFICATES}/{service}.key"),
    )
}

/// The folder of the certificates in the proxy container.
const CERTIFICATES: &str = "/etc/caddy/maestro-tls";

/// Reads each TLS route's certificate and key on the operator's machine
/// and writes them into the proxy container (the key readable by root
/// only), before the routes that name them.
async fn put_certificates(engine: &Engine, request: &ProxyRequest) -> Result<(), Failure> {
    for service in &request.services {
        let Some(tls) = &service.route.tls else {
            continue;
        };
        let read = |path: &std::path::Path| {
            std::fs::read(path).map_err(|e| Failure::ProxyCertificate {
                service: service.service.clone(),
                path: path.display().to_string(),
                reason: e.to_string(),
            })
        };
        let (certificate, key) = (read(&tls.certificate)?, read(&tls.private_key)?);
        let (certificate_at, key_at) = certificate_paths(&service.service);
        let file = |path, mode, contents| maestro_engine::FileToPut {
            path,
            uid: 0,
            gid: 0,
            mode,
            contents,
        };
        engine
            .put_files(
                &request.name,
                &[
                    file(&certificate_at, 0o644, &certificate),
                    file(&key_at, 0o600, &key),
                ],
            )
            .await?;
    }
    Ok(())
}

/// Gives the previous container's in-flight requests `time`.
pub(crate) async fn drain(ctx: &Ctx<'_>, time: Duration) {
    (ctx.progress)(&format!(
        "giving the previous container {} to finish its requests",
        crate::timefmt::short_duration(time.as_secs_f64())
    ));
    tokio::time::sleep(time).await;
}

/// Stops the previous container (kept for a rollback).
pub(crate) async fn stop_previous(ctx: &Ctx<'_>) -> Result<(), Failure> {
    let kept = crate::previous::kept_name(&ctx.container.name);
    (ctx.progress)("stopping the previous container");
    ctx.engine
        .stop_container(&kept, ctx.container.stop_timeout)
        .await?;
    Ok(())
}

/// After a failure before the switch: the new container removed, the
/// previous one (still serving) given its name back; `failure` said so.
pub(crate) async fn put_back(ctx: &Ctx<'_>, failure: Failure) -> Failure {
    let name = &ctx.container.name;
    let kept = crate::previous::kept_name(name);
    (ctx.progress)("putting the previous container back");
    let removed = match ctx.engine.remove_container(name, true, true).await {
        Err(EngineError::Refused { status: 404, .. }) => Ok(()),
        other => other,
    };
    let renamed = match removed {
        Ok(()) => ctx.engine.rename_container(&kept, name).await.map(|_| ()),
        Err(e) => Err(e),
    };
    match renamed {
        Ok(()) => Failure::PutBack {
            failure: Box::new(failure),
        },
        Err(error) => Failure::NotPutBack {
            failure: Box::new(failure),
            error,
        },
    }
}

/// After a failure of a rollback before the switch: the container brought
/// back stopped, and the names traded back (the one that served keeps its
/// name, the other is kept again); `failure` said so.
pub(crate) async fn swap_back(ctx: &Ctx<'_>, failure: Failure) -> Failure {
    let name = &ctx.container.name;
    (ctx.progress)("giving the serving container its name back");
    let stopped = ctx
        .engine
        .stop_container(name, ctx.container.stop_timeout)
        .await;
    let swapped = match stopped {
        Ok(()) => crate::act::ops::swap(ctx).await,
        Err(e) => Err(Failure::Engine(e)),
    };
    match swapped {
        Ok(()) => Failure::PutBack {
            failure: Box::new(failure),
        },
        Err(Failure::Engine(error)) => Failure::NotPutBack {
            failure: Box::new(failure),
            error,
        },
        Err(other) => other,
    }
}

fn proxy_failure(ship: &str, error: ProxyError) -> Failure {
    Failure::Proxy {
        ship: ship.to_owned(),
        error: Box::new(error),
    }
}
