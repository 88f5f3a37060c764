//! The control API of a simulated fleet, a small HTTP/1.1 JSON server of its
//! own (never on a ship's address), for scripts that drive a fleet from
//! outside the process:
//!
//! | request | answer |
//! | --- | --- |
//! | `GET /ships` | each ship: index, address, fault, latency, containers, running |
//! | `GET /ships/{i}/containers` | name, state, exit code of each container |
//! | `POST /ships/{i\|all}/fault?kind=none\|refuse\|500\|hang` | the new fault |
//! | `POST /ships/{i\|all}/latency?ms=N` | the new latency |
//! | `GET /stats` | requests served (by call, by ship) and connections accepted |
//! | `POST /stats/reset` | forgets them |
//! | `GET /census` | containers of the fleet by state |

use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::sync::watch;

use super::api::Query;
use super::server::{census, stats, Fault, Fleet, SimHandle};

type Body = http_body_util::combinators::BoxBody<Bytes, Infallible>;

/// Serves the control API of `sim` on `listen` until the fleet stops; the
/// address it listens on.
pub async fn spawn_control(sim: &SimHandle, listen: SocketAddr) -> io::Result<SocketAddr> {
    let listener = TcpListener::bind(listen).await?;
    let addr = listener.local_addr()?;
    let fleet = sim.fleet.clone();
    let mut stop = sim.stop_receiver();
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = stop.changed() => return,
                accepted = listener.accept() => {
                    let Ok((tcp, _)) = accepted else {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        continue;
                    };
                    let fleet = fleet.clone();
                    let stop = stop.clone();
                    tokio::spawn(serve(tcp, fleet, stop));
                }
            }
        }
    });
    Ok(addr)
}

async fn serve(tcp: tokio::net::TcpStream, fleet: Arc<Fleet>, mut stop: watch::Receiver<()>) {
    let service = service_fn(move |req: Request<Incoming>| {
        let fleet = fleet.clone();
        async move {
            let target = req
                .uri()
                .path_and_query()
                .map_or("/", |t| t.as_str())
                .to_owned();
            let (status, value) = answer(&fleet, req.method().as_str(), &target);
            let mut text = value.to_string();
            text.push('\n');
            let mut response = Response::new(Full::new(Bytes::from(text)).boxed());
            *response.status_mut() =
                StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
            response
                .headers_mut()
                .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            Ok::<Response<Body>, Infallible>(response)
        }
    });
    let connection =
        hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(tcp), service);
    tokio::select! {
        _ = connection => {}
        _ = stop.changed() => {}
    }
}

/// The answer to one control request: status and JSON.
fn answer(fleet: &Fleet, method: &str, target: &str) -> (u16, Value) {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let query = Query::parse(query);
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    let bad = |message: String| (400, json!({ "message": message }));
    match (method, parts.as_slice()) {
        ("GET", ["ships"]) => {
            let now = SystemTime::now();
            let ships: Vec<Value> = fleet
                .ships
                .iter()
                .map(|ship| {
                    let (containers, running, _) = ship.engine().counts(now);
                    json!({
                        "index": ship.index,
                        "addr": ship.addr.to_string(),
                        "fault": ship.fault.borrow().name(),
                        "latency_ms": ship.latency().as_secs_f64() * 1000.0,
                        "containers": containers,
                        "running": running,
                    })
                })
                .collect();
            (200, Value::Array(ships))
        }
        ("GET", ["ships", index, "containers"]) => {
            match index.parse::<usize>().ok().and_then(|i| fleet.ships.get(i)) {
                Some(ship) => {
                    let list: Vec<Value> = ship
                    .engine()
                    .summary(SystemTime::now())
                    .into_iter()
                    .map(|(name, status, code)| json!({"name": name, "state": status.as_str(), "exit_code": code}))
                    .collect();
                    (200, Value::Array(list))
                }
                None => (404, json!({"message": format!("no ship {index}")})),
            }
        }
        ("POST", ["ships", index, what]) => {
            let ships: Vec<usize> = if *index == "all" {
                (0..fleet.ships.len()).collect()
            } else {
                match index.parse::<usize>() {
                    Ok(i) if i < fleet.ships.len() => vec![i],
                    _ => return (404, json!({"message": format!("no ship {index}")})),
                }
            };
            match *what {
                "fault" => match query.get("kind").unwrap_or("").parse::<Fault>() {
                    Ok(fault) => {
                        for i in &ships {
                            fleet.ships[*i].fault.send_replace(fault);
                        }
                        (200, json!({"ships": ships, "fault": fault.name()}))
                    }
                    Err(e) => bad(e),
                },
                "latency" => match query.get("ms").and_then(|ms| ms.parse::<f64>().ok()) {
                    Some(ms) if ms.is_finite() && ms >= 0.0 => {
                        for i in &ships {
                            fleet.ships[*i].set_latency(Duration::from_secs_f64(ms / 1000.0));
                        }
                        (200, json!({"ships": ships, "latency_ms": ms}))
                    }
                    _ => bad("latency wants ?ms=N (N >= 0)".into()),
                },
                other => (404, json!({"message": format!("no setting {other}")})),
            }
        }
        ("GET", ["stats"]) => {
            let stats = stats(fleet);
            (
                200,
                json!({"total": stats.total(), "connections": stats.connections, "by_call": stats.by_call, "by_ship": stats.by_ship}),
            )
        }
        ("POST", ["stats", "reset"]) => {
            for ship in &fleet.ships {
                ship.reset_calls();
            }
            (200, json!({"total": 0}))
        }
        ("GET", ["census"]) => {
            let c = census(fleet);
            (
                200,
                json!({"created": c.created, "running": c.running, "exited": c.exited, "total": c.total()}),
            )
        }
        _ => (404, json!({"message": "no such control request"})),
    }
}
