//! A flaky HTTP front for a registry (or any HTTP server): the first `N`
//! HTTP requests are answered `503 Service Unavailable`, every later
//! connection is passed through to the upstream server untouched. For
//! testing `retry: {attempts, when}` of registries against a real engine.
//!
//! A connection that opens with a TLS handshake is closed without counting
//! (engines try HTTPS first with registries they reach over plain HTTP).
//! Plain threads and blocking sockets: no runtime is needed by the test.

use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

/// The largest request head read before giving up on a connection.
const MAX_HEAD: usize = 64 * 1024;

/// A running flaky front; stops when dropped.
pub struct FlakyProxy {
    addr: SocketAddr,
    state: Arc<State>,
    thread: Option<thread::JoinHandle<()>>,
}

struct State {
    failures: usize,
    upstream: SocketAddr,
    seen: AtomicUsize,
    stop: AtomicBool,
    lines: Mutex<Vec<String>>,
}

impl FlakyProxy {
    /// Listens on 127.0.0.1 (a free port) in front of `upstream`, refusing
    /// the first `failures` requests with 503.
    pub fn start(upstream: SocketAddr, failures: usize) -> io::Result<FlakyProxy> {
        let listener = TcpListener::bind(("127.0.0.1", 0))?;
        let addr = listener.local_addr()?;
        let state = Arc::new(State {
            failures,
            upstream,
            seen: AtomicUsize::new(0),
            stop: AtomicBool::new(false),
            lines: Mutex::new(Vec::new()),
        });
        let shared = state.clone();
        let thread = thread::Builder::new()
            .name("flaky-proxy".into())
            .spawn(move || {
                for stream in listener.incoming() {
                    if shared.stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    let state = shared.clone();
                    let _ = thread::Builder::new()
                        .name("flaky-conn".into())
                        .spawn(move || {
                            let _ = serve(&state, stream);
                        });
                }
            })?;
        Ok(FlakyProxy {
            addr,
            state,
            thread: Some(thread),
        })
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `127.0.0.1:PORT`, as a registry host for image names.
    pub fn host(&self) -> String {
        self.addr.to_string()
    }

    /// How many HTTP requests it has seen (refused or passed on).
    pub fn requests(&self) -> usize {
        self.state.seen.load(Ordering::SeqCst)
    }

    /// The request lines seen, in order, each with what was done
    /// (`503 GET /v2/`, `pass HEAD /v2/…`).
    pub fn log(&self) -> Vec<String> {
        self.state
            .lines
            .lock()
            .map(|l| l.clone())
            .unwrap_or_default()
    }
}

impl Drop for FlakyProxy {
    fn drop(&mut self) {
        self.state.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop up.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Reads the request head (up to the blank line); `None` for a TLS
/// handshake or a connection closed early.
fn read_head(stream: &mut TcpStream) -> io::Result<Option<Vec<u8>>> {
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = stream.read(&mut buf)?;
        if n == 0 {
            return Ok(None);
        }
        head.extend_from_slice(&buf[..n]);
        if head.first() == Some(&0x16) {
            return Ok(None);
        }
        if head.windows(4).any(|w| w == b"\r\n\r\n") {
            return Ok(Some(head));
        }
        if head.len() > MAX_HEAD {
            return Ok(None);
        }
    }
}

fn serve(state: &State, mut client: TcpStream) -> io::Result<()> {
    client.set_read_timeout(Some(Duration::from_secs(30)))?;
    let Some(head) = read_head(&mut client)? else {
        let _ = client.shutdown(Shutdown::Both);
        return Ok(());
    };
    let line = String::from_utf8_lossy(&head)
        .lines()
        .next()
        .unwrap_or("")
        .trim_end_matches(" HTTP/1.1")
        .to_owned();
    let n = state.seen.fetch_add(1, Ordering::SeqCst);
    if n < state.failures {
        if let Ok(mut lines) = state.lines.lock() {
            lines.push(format!("503 {line}"));
        }
        client.write_all(
            b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\nContent-Length: 20\r\nConnection: close\r\n\r\nservice unavailable\n",
        )?;
        let _ = client.shutdown(Shutdown::Both);
        return Ok(());
    }
    if let Ok(mut lines) = state.lines.lock() {
        lines.push(format!("pass {line}"));
    }
    client.set_read_timeout(None)?;
    let mut upstream = TcpStream::connect_timeout(&state.upstream, Duration::from_secs(5))?;
    upstream.write_all(&head)?;
    let mut from_upstream = upstream.try_clone()?;
    let mut to_client = client.try_clone()?;
    let back = thread::spawn(move || {
        let _ = io::copy(&mut from_upstream, &mut to_client);
        let _ = to_client.shutdown(Shutdown::Write);
    });
    let _ = io::copy(&mut client, &mut upstream);
    let _ = upstream.shutdown(Shutdown::Write);
    let _ = back.join();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An upstream that answers every connection's first request with 200.
    fn upstream() -> SocketAddr {
        let listener = TcpListener::bind(("127.0.0.1", 0)).unwrap();
        let addr = listener.local_addr().unwrap();
        thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let mut stream = stream;
                let _ = read_head(&mut stream);
                let _ = stream.write_all(
                    b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok",
                );
            }
        });
        addr
    }

    fn get(addr: SocketAddr) -> String {
        let mut s = TcpStream::connect(addr).unwrap();
        s.write_all(b"GET /v2/ HTTP/1.1\r\nHost: x\r\n\r\n")
            .unwrap();
        let mut out = String::new();
        let _ = s.read_to_string(&mut out);
        out
    }

    #[test]
    fn refuses_the_first_requests_then_passes_through() {
        let proxy = FlakyProxy::start(upstream(), 2).unwrap();
        // A TLS hello is not counted.
        let mut tls = TcpStream::connect(proxy.addr()).unwrap();
        tls.write_all(&[0x16, 3, 1, 0, 5]).unwrap();
        let mut sink = Vec::new();
        let _ = tls.read_to_end(&mut sink);
        assert!(get(proxy.addr()).starts_with("HTTP/1.1 503"));
        assert!(get(proxy.addr()).starts_with("HTTP/1.1 503"));
        assert!(get(proxy.addr()).starts_with("HTTP/1.1 200"));
        assert_eq!(proxy.requests(), 3);
        assert_eq!(
            proxy.log(),
            ["503 GET /v2/", "503 GET /v2/", "pass GET /v2/"]
        );
    }
}
