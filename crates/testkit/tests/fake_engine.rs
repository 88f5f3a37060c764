//! The Docker 29 front against an in-process fake engine on a unix socket: the
//! proxy's mechanics (keep-alive, rewriting, streaming without buffering, chunked
//! uploads, upgrades with half-close, shutdown, the binary) without needing Docker.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::channel::Channel;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::{Frame, Incoming};
use hyper::client::conn::http1::SendRequest;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use maestro_testkit::{spawn_docker29_front, Docker29Front, FrontHandle};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UnixListener};
use tokio::sync::Notify;
use tokio::time::timeout;

type TestBody = BoxBody<Bytes, Infallible>;

const STEP: Duration = Duration::from_secs(5);

fn full(bytes: impl Into<Bytes>) -> TestBody {
    Full::new(bytes.into()).boxed()
}

fn empty() -> TestBody {
    Empty::new().boxed()
}

/// A fake 20.10 engine: `/_ping`, `/version`, `/stream` (one chunk, then another when
/// released), `POST /upload` (reports what it got), `POST /exec/x/start` (upgrades,
/// then echoes upper-cased until EOF and says `BYE`), and an echo of the request
/// target for anything else.
struct FakeEngine {
    socket: PathBuf,
    release: Arc<Notify>,
}

impl Drop for FakeEngine {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.socket);
    }
}

fn socket_path(what: &str) -> PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    std::env::temp_dir().join(format!(
        "maestro-testkit-{what}-{}-{}.sock",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ))
}

/// Starts the fake engine on the current runtime.
fn fake_engine() -> FakeEngine {
    let socket = socket_path("fake");
    let _ = std::fs::remove_file(&socket);
    let listener = UnixListener::bind(&socket).unwrap();
    let release = Arc::new(Notify::new());
    let shared = release.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let release = shared.clone();
            tokio::spawn(async move {
                let service = service_fn(move |req| fake_reply(req, release.clone()));
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .with_upgrades()
                    .await;
            });
        }
    });
    FakeEngine { socket, release }
}

async fn fake_reply(
    mut req: Request<Incoming>,
    release: Arc<Notify>,
) -> Result<Response<TestBody>, Infallible> {
    let target = req
        .uri()
        .path_and_query()
        .map_or("/", |t| t.as_str())
        .to_owned();
    let path = req.uri().path().to_owned();
    let mut response = match (req.method().as_str(), path.as_str()) {
        (_, "/_ping") => Response::new(full("OK")),
        ("GET", "/version") => Response::new(full(
            json!({
                "Platform": {"Name": ""},
                "Components": [{"Name": "Engine", "Version": "20.10.24",
                    "Details": {"ApiVersion": "1.41", "MinAPIVersion": "1.12"}}],
                "Version": "20.10.24", "ApiVersion": "1.41", "MinAPIVersion": "1.12",
                "Os": "linux"
            })
            .to_string(),
        )),
        ("GET", "/stream") => {
            let (mut sender, body) = Channel::<Bytes>::new(1);
            tokio::spawn(async move {
                let _ = sender.send_data(Bytes::from("one\n")).await;
                release.notified().await;
                let _ = sender.send_data(Bytes::from("two\n")).await;
            });
            Response::new(body.boxed())
        }
        ("POST", "/upload") => {
            let chunked = req.headers().contains_key("transfer-encoding");
            let body = req.into_body().collect().await.map(|b| b.to_bytes());
            let text = body.map(|b| String::from_utf8_lossy(&b).into_owned());
            Response::new(full(
                json!({"chunked": chunked, "body": text.unwrap_or_default()}).to_string(),
            ))
        }
        ("POST", "/exec/x/start") => {
            let upgrade = hyper::upgrade::on(&mut req);
            tokio::spawn(async move {
                let Ok(upgraded) = upgrade.await else { return };
                let mut io = TokioIo::new(upgraded);
                let mut buf = [0u8; 1024];
                loop {
                    match io.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            let upper = buf[..n].to_ascii_uppercase();
                            if io.write_all(&upper).await.is_err() {
                                return;
                            }
                        }
                    }
                }
                let _ = io.write_all(b"BYE").await;
                let _ = io.shutdown().await;
            });
            let mut response = Response::new(empty());
            *response.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
            let headers = response.headers_mut();
            headers.insert("connection", "Upgrade".parse().unwrap());
            headers.insert("upgrade", "tcp".parse().unwrap());
            headers.insert(
                "content-type",
                "application/vnd.docker.raw-stream".parse().unwrap(),
            );
            return Ok(response);
        }
        _ => {
            let host = req
                .headers()
                .get("host")
                .and_then(|h| h.to_str().ok())
                .unwrap_or("")
                .to_owned();
            Response::new(full(json!({"target": target, "host": host}).to_string()))
        }
    };
    let headers = response.headers_mut();
    headers.insert("api-version", "1.41".parse().unwrap());
    headers.insert("server", "Docker/20.10.24 (linux)".parse().unwrap());
    Ok(response)
}

async fn front_for(fake: &FakeEngine) -> FrontHandle {
    spawn_docker29_front(SocketAddr::from(([127, 0, 0, 1], 0)), fake.socket.clone())
        .await
        .unwrap()
}

/// One keep-alive client connection to `addr`.
async fn connect(addr: SocketAddr) -> SendRequest<TestBody> {
    let tcp = TcpStream::connect(addr).await.unwrap();
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
        .await
        .unwrap();
    tokio::spawn(connection.with_upgrades());
    sender
}

fn request(method: &str, target: &str, body: TestBody) -> Request<TestBody> {
    Request::builder()
        .method(method)
        .uri(target)
        .header("host", "front.test")
        .body(body)
        .unwrap()
}

async fn send(
    client: &mut SendRequest<TestBody>,
    method: &str,
    target: &str,
) -> (Response<()>, Bytes) {
    client.ready().await.unwrap();
    let response = timeout(STEP, client.send_request(request(method, target, empty())))
        .await
        .unwrap()
        .unwrap();
    let (head, body) = response.into_parts();
    let bytes = timeout(STEP, body.collect())
        .await
        .unwrap()
        .unwrap()
        .to_bytes();
    (Response::from_parts(head, ()), bytes)
}

fn header<'a>(response: &'a Response<()>, name: &str) -> &'a str {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

fn json_of(bytes: &Bytes) -> Value {
    serde_json::from_slice(bytes).unwrap()
}

#[tokio::test]
async fn every_request_of_a_keep_alive_connection_is_rewritten() {
    let fake = fake_engine();
    let front = front_for(&fake).await;
    let mut client = connect(front.addr()).await;

    let (response, body) = send(&mut client, "GET", "/v1.41/containers/json").await;
    assert_eq!(response.status(), 400);
    assert_eq!(header(&response, "content-type"), "application/json");
    assert_eq!(header(&response, "api-version"), "1.52");
    assert_eq!(
        body,
        "{\"message\":\"client version 1.41 is too old. Minimum supported API version is \
         1.44, please upgrade your client to a newer version\"}\n"
    );

    let (response, body) = send(&mut client, "HEAD", "/_ping").await;
    assert_eq!(response.status(), 200);
    assert_eq!(header(&response, "api-version"), "1.52");
    assert_eq!(header(&response, "server"), "Docker/29.0.0 (linux)");
    assert!(body.is_empty());

    let (response, body) = send(&mut client, "GET", "/v1.50/version").await;
    assert_eq!(response.status(), 200);
    let version = json_of(&body);
    assert_eq!(version["Version"], "29.0.0");
    assert_eq!(version["ApiVersion"], "1.52");
    assert_eq!(version["MinAPIVersion"], "1.44");
    assert_eq!(version["Components"][0]["Version"], "29.0.0");
    assert_eq!(version["Components"][0]["Details"]["ApiVersion"], "1.52");
    assert_eq!(version["Components"][0]["Details"]["MinAPIVersion"], "1.44");
    assert_eq!(version["Os"], "linux");
    assert_eq!(
        header(&response, "content-length"),
        body.len().to_string().as_str()
    );

    let (response, body) = send(&mut client, "GET", "/v1.44/containers/json?all=1").await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        json_of(&body),
        json!({"target": "/containers/json?all=1", "host": "front.test"})
    );

    let (response, body) = send(&mut client, "GET", "/v1.53/info").await;
    assert_eq!(response.status(), 400);
    assert_eq!(
        body,
        "{\"message\":\"client version 1.53 is too new. Maximum supported API version is \
         1.52\"}\n"
    );

    let (response, body) = send(&mut client, "GET", "/info").await;
    assert_eq!(response.status(), 200);
    assert_eq!(json_of(&body)["target"], "/info");
    assert_eq!(header(&response, "api-version"), "1.52");
}

#[tokio::test]
async fn headers_go_out_in_gos_canonical_case() {
    let fake = fake_engine();
    let front = front_for(&fake).await;
    let mut tcp = TcpStream::connect(front.addr()).await.unwrap();
    tcp.write_all(b"GET /_ping HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut raw = Vec::new();
    timeout(STEP, tcp.read_to_end(&mut raw))
        .await
        .unwrap()
        .unwrap();
    let raw = String::from_utf8_lossy(&raw);
    assert!(raw.starts_with("HTTP/1.1 200 OK\r\n"), "{raw}");
    assert!(raw.contains("\r\nApi-Version: 1.52\r\n"), "{raw}");
    assert!(raw.contains("\r\nOstype: linux\r\n"), "{raw}");
    assert!(raw.ends_with("\r\n\r\nOK"), "{raw}");
}

#[tokio::test]
async fn streams_are_passed_on_without_buffering() {
    let fake = fake_engine();
    let front = front_for(&fake).await;
    let mut client = connect(front.addr()).await;
    let response = timeout(
        STEP,
        client.send_request(request("GET", "/v1.52/stream", empty())),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(response.status(), 200);
    let mut body = response.into_body();
    // The second chunk is only sent once the first has arrived here.
    let first = next_data(&mut body).await;
    assert_eq!(first, "one\n");
    fake.release.notify_one();
    let second = next_data(&mut body).await;
    assert_eq!(second, "two\n");
    let end = timeout(STEP, body.frame()).await.unwrap();
    assert!(end.is_none(), "the stream ends when the backend's does");
}

async fn next_data(body: &mut Incoming) -> Bytes {
    loop {
        let frame: Frame<Bytes> = timeout(STEP, body.frame())
            .await
            .expect("a chunk in time (is the front buffering?)")
            .expect("a chunk, not the end")
            .unwrap();
        if let Ok(data) = frame.into_data() {
            if !data.is_empty() {
                return data;
            }
        }
    }
}

#[tokio::test]
async fn chunked_request_bodies_are_forwarded() {
    let fake = fake_engine();
    let front = front_for(&fake).await;
    let mut client = connect(front.addr()).await;
    let (mut sender, body) = Channel::<Bytes>::new(2);
    tokio::spawn(async move {
        sender.send_data(Bytes::from("hello ")).await.unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;
        sender.send_data(Bytes::from("world")).await.unwrap();
    });
    let response = timeout(
        STEP,
        client.send_request(request("POST", "/v1.47/upload", body.boxed())),
    )
    .await
    .unwrap()
    .unwrap();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(
        json_of(&bytes),
        json!({"chunked": true, "body": "hello world"})
    );
}

#[tokio::test]
async fn upgrades_become_a_raw_tunnel_with_half_close() {
    let fake = fake_engine();
    let front = front_for(&fake).await;
    let mut tcp = TcpStream::connect(front.addr()).await.unwrap();
    let body = r#"{"Detach":false,"Tty":false}"#;
    let head = format!(
        "POST /v1.52/exec/x/start HTTP/1.1\r\nHost: front\r\nConnection: Upgrade\r\n\
         Upgrade: tcp\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    tcp.write_all(head.as_bytes()).await.unwrap();

    // Read the 101 head, byte by byte, so no tunnel byte is taken with it.
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8; 1];
        timeout(STEP, tcp.read_exact(&mut byte))
            .await
            .unwrap()
            .unwrap();
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head);
    assert!(head.starts_with("HTTP/1.1 101 "), "{head}");
    assert!(head.contains("Upgrade: tcp\r\n"), "{head}");
    assert!(head.contains("Api-Version: 1.52\r\n"), "{head}");

    tcp.write_all(b"hello").await.unwrap();
    let mut echo = [0u8; 5];
    timeout(STEP, tcp.read_exact(&mut echo))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&echo, b"HELLO");

    // Our half-close reaches the backend, whose last words still reach us.
    tcp.shutdown().await.unwrap();
    let mut rest = Vec::new();
    timeout(STEP, tcp.read_to_end(&mut rest))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(rest, b"BYE");
}

#[tokio::test]
async fn an_unreachable_backend_is_a_502() {
    let front = spawn_docker29_front(SocketAddr::from(([127, 0, 0, 1], 0)), socket_path("absent"))
        .await
        .unwrap();
    let mut client = connect(front.addr()).await;
    let (response, body) = send(&mut client, "GET", "/_ping").await;
    assert_eq!(response.status(), 502);
    let message = json_of(&body)["message"].as_str().unwrap().to_owned();
    assert!(message.contains("cannot connect"), "{message}");
    // The refusal of a too-old client needs no backend.
    let (response, _) = send(&mut client, "GET", "/v1.24/_ping").await;
    assert_eq!(response.status(), 400);
}

#[tokio::test]
async fn dropping_the_handle_stops_the_front() {
    let fake = fake_engine();
    let front = front_for(&fake).await;
    let addr = front.addr();
    let mut open = TcpStream::connect(addr).await.unwrap();
    // A stream in progress, cut by the shutdown.
    open.write_all(b"GET /stream HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 256];
    let n = timeout(STEP, open.read(&mut buf)).await.unwrap().unwrap();
    assert!(n > 0);
    front.shutdown();
    let mut rest = Vec::new();
    let ended = timeout(STEP, open.read_to_end(&mut rest)).await;
    assert!(ended.is_ok(), "the open connection is closed");
    assert!(TcpStream::connect(addr).await.is_err(), "nothing listens");
}

#[test]
fn the_blocking_front_serves_and_stops_on_drop() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let fake = runtime.block_on(async { fake_engine() });
    let front = Docker29Front::start(&fake.socket).unwrap();
    let addr = front.addr();
    assert_eq!(front.docker_host(), format!("tcp://{addr}"));
    let (response, _) = runtime.block_on(async {
        let mut client = connect(addr).await;
        send(&mut client, "HEAD", "/_ping").await
    });
    assert_eq!(header(&response, "api-version"), "1.52");
    drop(front);
    assert!(std::net::TcpStream::connect(addr).is_err());
}

#[test]
fn the_binary_prints_its_address_and_serves() {
    use std::io::BufRead;
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let fake = runtime.block_on(async { fake_engine() });
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_maestro-testkit"))
        .args(["docker29-front", "--listen", "127.0.0.1:0", "--backend"])
        .arg(&fake.socket)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut line = String::new();
    std::io::BufReader::new(stdout)
        .read_line(&mut line)
        .unwrap();
    let served = line
        .trim()
        .strip_prefix("listening on ")
        .and_then(|addr| addr.parse::<SocketAddr>().ok())
        .map(|addr| {
            runtime.block_on(async {
                let mut client = connect(addr).await;
                send(&mut client, "GET", "/version").await
            })
        });
    let _ = child.kill();
    let _ = child.wait();
    let (response, body) = served.unwrap_or_else(|| panic!("first line: {line:?}"));
    assert_eq!(response.status(), 200);
    assert_eq!(json_of(&body)["ApiVersion"], "1.52");
}
