//! A bound on what an engine may send: every connection to an engine is
//! wrapped in [`CappedIo`], which watches the bytes of each answer as they
//! are read and fails the read (so the call) once an answer read whole is
//! larger than [`ANSWER_CAP`], or once one message of a streamed answer is
//! larger than its cap: a log frame [`ANSWER_CAP`], a pull's progress line
//! (a JSON value) or a line of a TTY's logs [`LINE_CAP`]. The client
//! library reads answers itself and keeps a whole answer, or a whole message
//! of a stream, in memory before it hands it over: without this a hostile or
//! broken engine could make maestro allocate without end. Lines get the
//! smaller cap because the library looks for their end afresh in all it
//! holds each time more comes, so a line sent in small pieces costs time
//! in the square of its length.
//!
//! Which answers are streams is told by the request line the connection
//! carries (HTTP/1.1, one request at a time): a container's logs, an exec's
//! or attach's output (frames, or lines for a TTY), a pull, push, build,
//! events or stats (JSON values one after another). Every other answer is
//! read whole: the cap counts all of it. For a stream the answer's body is
//! followed through its framing (`Content-Length` or chunked) and only the
//! message being received counts.

use std::error::Error as StdError;
use std::fmt;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use hyper::rt::{Read, ReadBuf, ReadBufCursor, Write};
use hyper_util::client::legacy::connect::{Connected, Connection};

/// The most an engine may send in an answer read whole (inspect, list,
/// version, info…), and in one message of a streamed answer. Generous:
/// the inspect of a container with 10,000 environment variables of 100
/// bytes is 1 MiB, a list of 20,000 containers about 40 MiB.
pub(crate) const ANSWER_CAP: u64 = 64 * 1024 * 1024;

/// The most an engine may send in one JSON value of a stream (a pull's
/// progress line is under 1 KiB) or one line of a TTY's logs.
pub(crate) const LINE_CAP: u64 = 1024 * 1024;

/// An answer (or one message of a streamed answer) over the cap.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct TooLarge {
    /// One message of a streamed answer, rather than a whole answer.
    pub streamed: bool,
    pub cap: u64,
}

impl TooLarge {
    /// The cap in MiB, for messages.
    pub fn mib(&self) -> u64 {
        self.cap / (1024 * 1024)
    }
}

impl fmt::Display for TooLarge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.streamed {
            write!(
                f,
                "one message of the engine's streamed answer is larger than {} MiB",
                self.mib()
            )
        } else {
            write!(f, "the engine's answer is larger than {} MiB", self.mib())
        }
    }
}

impl StdError for TooLarge {}

/// The [`TooLarge`] somewhere in an error's chain (through the I/O errors
/// that carry it), if any.
pub(crate) fn too_large(error: &(dyn StdError + 'static)) -> Option<TooLarge> {
    fn search(error: &(dyn StdError + 'static), depth: usize) -> Option<TooLarge> {
        if depth > 16 {
            return None;
        }
        if let Some(found) = error.downcast_ref::<TooLarge>() {
            return Some(*found);
        }
        if let Some(inner) = error
            .downcast_ref::<io::Error>()
            .and_then(|io| io.get_ref())
        {
            if let Some(found) = search(inner, depth + 1) {
                return Some(found);
            }
        }
        error.source().and_then(|next| search(next, depth + 1))
    }
    search(error, 0)
}

/// The answers of one engine's connections that passed a cap: how many, and
/// the latest. The client library turns a failed read of a streamed answer
/// into text (the I/O error's cause is lost on the way), so a call reading
/// a stream learns that it was cut at the cap from here: it notes the count
/// before and looks again when its stream fails.
#[derive(Debug, Clone, Default)]
pub(crate) struct Oversized(std::sync::Arc<std::sync::Mutex<(u64, Option<TooLarge>)>>);

impl Oversized {
    fn record(&self, too_large: TooLarge) {
        let mut seen = self.0.lock().unwrap_or_else(|e| e.into_inner());
        seen.0 += 1;
        seen.1 = Some(too_large);
    }

    /// How many answers passed a cap so far.
    pub fn count(&self) -> u64 {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).0
    }

    /// The latest answer over a cap, if one was cut after `count` was `before`.
    pub fn since(&self, before: u64) -> Option<TooLarge> {
        let seen = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if seen.0 > before {
            seen.1
        } else {
            None
        }
    }
}

/// A connector whose connections are [`CappedIo`], recording in `.1` the
/// answers cut at a cap.
#[derive(Clone)]
pub(crate) struct Capped<C>(pub C, pub Oversized);

impl<C> tower_service::Service<hyper::Uri> for Capped<C>
where
    C: tower_service::Service<hyper::Uri>,
    C::Future: Unpin,
{
    type Response = CappedIo<C::Response>;
    type Error = C::Error;
    type Future = Connecting<C::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, uri: hyper::Uri) -> Self::Future {
        Connecting {
            inner: self.0.call(uri),
            oversized: self.1.clone(),
        }
    }
}

/// A connection being opened, to be wrapped in [`CappedIo`].
pub(crate) struct Connecting<F> {
    inner: F,
    oversized: Oversized,
}

impl<F, T, E> std::future::Future for Connecting<F>
where
    F: std::future::Future<Output = Result<T, E>> + Unpin,
{
    type Output = Result<CappedIo<T>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll(cx) {
            Poll::Ready(Ok(io)) => Poll::Ready(Ok(CappedIo::new(io, this.oversized.clone()))),
            Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
            Poll::Pending => Poll::Pending,
        }
    }
}

/// A connection to an engine that fails its reads once an answer passes the cap.
pub(crate) struct CappedIo<T> {
    inner: T,
    watch: Watch,
    oversized: Oversized,
}

impl<T> CappedIo<T> {
    fn new(inner: T, oversized: Oversized) -> CappedIo<T> {
        CappedIo {
            inner,
            watch: Watch::new(ANSWER_CAP, LINE_CAP),
            oversized,
        }
    }
}

impl<T: Connection> Connection for CappedIo<T> {
    fn connected(&self) -> Connected {
        self.inner.connected()
    }
}

impl<T: Read + Unpin> Read for CappedIo<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        mut buf: ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let n = {
            // SAFETY: the bytes handed out are only written by the inner
            // reader, which never de-initializes them (the contract of
            // `Read`); `advance` below covers only what it filled.
            let mut inner_buf = ReadBuf::uninit(unsafe { buf.as_mut() });
            match Pin::new(&mut this.inner).poll_read(cx, inner_buf.unfilled()) {
                Poll::Ready(Ok(())) => {}
                other => return other,
            }
            let filled = inner_buf.filled();
            if let Err(too_large) = this.watch.read(filled) {
                this.oversized.record(too_large);
                return Poll::Ready(Err(io::Error::other(too_large)));
            }
            filled.len()
        };
        // SAFETY: the inner reader initialized these `n` bytes.
        unsafe { buf.advance(n) };
        Poll::Ready(Ok(()))
    }
}

impl<T: Write + Unpin> Write for CappedIo<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let written = Pin::new(&mut this.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = written {
            this.watch.wrote(&buf[..n.min(buf.len())]);
        }
        written
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let written = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        if let Poll::Ready(Ok(mut n)) = written {
            for buf in bufs {
                if n == 0 {
                    break;
                }
                let part = n.min(buf.len());
                this.watch.wrote(&buf[..part]);
                n -= part;
            }
        }
        written
    }
}

/// How an answer is read by the client library.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// All at once.
    Whole,
    /// JSON values one after another (pull, push, build, events, stats).
    JsonValues,
    /// Docker's multiplexed frames, or lines for a TTY (logs, exec, attach).
    Frames,
}

/// What a request line asks for, by its path (without `/vX.Y` or query).
fn kind_of(request_line: &[u8]) -> Kind {
    let line = String::from_utf8_lossy(request_line);
    let target = line.split(' ').nth(1).unwrap_or("");
    let path = target.split('?').next().unwrap_or("");
    let path = crate::strip_version(path);
    let parts: Vec<&str> = path.trim_matches('/').split('/').collect();
    match parts.as_slice() {
        ["containers", _, "logs" | "attach"] | ["exec", _, "start"] => Kind::Frames,
        ["images", "create"]
        | ["images", "load"]
        | ["images", .., "push"]
        | ["build"]
        | ["events"]
        | ["containers", _, "stats"] => Kind::JsonValues,
        _ => Kind::Whole,
    }
}

/// The longest request line kept to tell an answer's kind.
const REQUEST_LINE_KEEP: usize = 8 * 1024;
/// The longest answer head (status line and headers) followed. hyper
/// refuses heads far smaller (about 400 KiB).
const HEAD_KEEP: usize = 1024 * 1024;

/// The state of one connection's current request and answer.
struct Watch {
    cap: u64,
    line_cap: u64,
    /// Bytes of the answer have been read since the request was written.
    answering: bool,
    /// The request line so far (up to its end).
    request_line: Vec<u8>,
    kind: Kind,
    /// Bytes read of the answer so far.
    read: u64,
    framing: Framing,
    message: Message,
}

impl Watch {
    fn new(cap: u64, line_cap: u64) -> Watch {
        Watch {
            cap,
            line_cap,
            answering: false,
            request_line: Vec::new(),
            kind: Kind::Whole,
            read: 0,
            framing: Framing::Head(Vec::new()),
            message: Message::None,
        }
    }

    /// Bytes of a request were written: the first after an answer begin a new one.
    fn wrote(&mut self, bytes: &[u8]) {
        if self.answering {
            *self = Watch::new(self.cap, self.line_cap);
        }
        if !self.request_line.ends_with(b"\n") && self.request_line.len() < REQUEST_LINE_KEEP {
            let room = REQUEST_LINE_KEEP - self.request_line.len();
            let end = bytes
                .iter()
                .position(|b| *b == b'\n')
                .map_or(bytes.len(), |i| i + 1);
            self.request_line.extend_from_slice(&bytes[..end.min(room)]);
        }
    }

    /// Bytes of the answer were read.
    fn read(&mut self, bytes: &[u8]) -> Result<(), TooLarge> {
        if bytes.is_empty() {
            return Ok(());
        }
        if !self.answering {
            self.answering = true;
            self.kind = kind_of(&self.request_line);
            self.message = match self.kind {
                Kind::Whole => Message::None,
                Kind::JsonValues => Message::Json(Json::default()),
                Kind::Frames => Message::Frames(Frames::default()),
            };
        }
        self.read = self.read.saturating_add(bytes.len() as u64);
        let whole = TooLarge {
            streamed: false,
            cap: self.cap,
        };
        match self.kind {
            Kind::Whole if self.read > self.cap => Err(whole),
            Kind::Whole => Ok(()),
            Kind::JsonValues | Kind::Frames => {
                let caps = (self.cap, self.line_cap);
                let message = &mut self.message;
                let mut over = None;
                self.framing
                    .feed(bytes, &mut |data| {
                        if over.is_none() {
                            over = message.feed(data, caps);
                        }
                    })
                    .map_err(|()| whole)?;
                match over {
                    Some(cap) => Err(TooLarge {
                        streamed: true,
                        cap,
                    }),
                    None => Ok(()),
                }
            }
        }
    }
}

/// Where in an answer's HTTP framing the bytes read are.
#[derive(Debug)]
enum Framing {
    /// The status line and headers so far.
    Head(Vec<u8>),
    /// Body bytes left (`Content-Length`).
    Length(u64),
    /// A chunk's size line so far.
    ChunkSize(Vec<u8>),
    /// Bytes of the current chunk left.
    ChunkData(u64),
    /// The line end after a chunk's data.
    ChunkEnd,
    /// The trailers after the last chunk; the length of the current line.
    Trailers(usize),
    /// Everything up to the end of the connection is body.
    UntilClose,
    /// The answer ended; nothing more is body.
    Done,
}

impl Framing {
    /// Follows `bytes` through the framing, handing body data to `body`.
    /// `Err` when the head is too large to be an answer's.
    fn feed(&mut self, mut bytes: &[u8], body: &mut dyn FnMut(&[u8])) -> Result<(), ()> {
        while !bytes.is_empty() {
            match self {
                Framing::Head(head) => {
                    let before = head.len();
                    head.extend_from_slice(bytes);
                    match find(head, b"\r\n\r\n") {
                        Some(end) => {
                            let used = end + 4 - before;
                            let next = head_framing(&head[..end]);
                            *self = next;
                            bytes = &bytes[used..];
                        }
                        None if head.len() > HEAD_KEEP => return Err(()),
                        None => return Ok(()),
                    }
                }
                Framing::Length(left) | Framing::ChunkData(left) => {
                    let take = usize::try_from(*left)
                        .unwrap_or(usize::MAX)
                        .min(bytes.len());
                    body(&bytes[..take]);
                    *left -= take as u64;
                    bytes = &bytes[take..];
                    if *left == 0 {
                        *self = match self {
                            Framing::Length(_) => Framing::Done,
                            _ => Framing::ChunkEnd,
                        };
                    }
                }
                Framing::ChunkSize(line) => match bytes.iter().position(|b| *b == b'\n') {
                    Some(i) => {
                        line.extend_from_slice(&bytes[..i]);
                        bytes = &bytes[i + 1..];
                        *self = match chunk_size(line) {
                            0 => Framing::Trailers(0),
                            size => Framing::ChunkData(size),
                        };
                    }
                    None if line.len() > 1024 => return Err(()),
                    None => {
                        line.extend_from_slice(bytes);
                        return Ok(());
                    }
                },
                Framing::ChunkEnd => match bytes.iter().position(|b| *b == b'\n') {
                    Some(i) => {
                        bytes = &bytes[i + 1..];
                        *self = Framing::ChunkSize(Vec::new());
                    }
                    None => return Ok(()),
                },
                Framing::Trailers(line) => {
                    let b = bytes[0];
                    bytes = &bytes[1..];
                    match b {
                        b'\n' if *line == 0 => *self = Framing::Done,
                        b'\n' => *line = 0,
                        b'\r' => {}
                        _ => *line += 1,
                    }
                }
                Framing::UntilClose => {
                    body(bytes);
                    return Ok(());
                }
                Framing::Done => return Ok(()),
            }
        }
        Ok(())
    }
}

/// The size a chunk's size line gives (its hexadecimal digits; extensions
/// after them left out).
fn chunk_size(line: &[u8]) -> u64 {
    let text = String::from_utf8_lossy(line);
    let digits: String = text
        .trim_start()
        .chars()
        .take_while(char::is_ascii_hexdigit)
        .collect();
    // hyper refuses a size it cannot read: the answer fails anyway.
    u64::from_str_radix(&digits, 16).unwrap_or(0)
}

/// The framing of the body that follows an answer's head.
fn head_framing(head: &[u8]) -> Framing {
    let text = String::from_utf8_lossy(head);
    let mut lines = text.split("\r\n");
    let status: u16 = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    match status {
        // Another head follows (`100 Continue`).
        100..=199 if status != 101 => return Framing::Head(Vec::new()),
        // An upgraded connection: a raw stream to the end.
        101 => return Framing::UntilClose,
        204 | 304 => return Framing::Done,
        _ => {}
    }
    let mut chunked = false;
    let mut length = None;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let name = name.trim();
        let value = value.trim();
        if name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = value
                .rsplit(',')
                .next()
                .is_some_and(|last| last.trim().eq_ignore_ascii_case("chunked"));
        } else if name.eq_ignore_ascii_case("content-length") {
            length = value.parse::<u64>().ok();
        }
    }
    match (chunked, length) {
        (true, _) => Framing::ChunkSize(Vec::new()),
        (false, Some(0)) => Framing::Done,
        (false, Some(n)) => Framing::Length(n),
        (false, None) => Framing::UntilClose,
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The message of a streamed answer being received, as the client library
/// cuts the stream into messages.
#[derive(Debug)]
enum Message {
    None,
    Json(Json),
    Frames(Frames),
}

impl Message {
    /// Follows body `data`; the cap the current message passed, if it did.
    /// `caps`: of a frame, of a line or JSON value.
    fn feed(&mut self, data: &[u8], (frame_cap, line_cap): (u64, u64)) -> Option<u64> {
        let (over, cap) = match self {
            Message::None => (false, 0),
            Message::Json(json) => (json.feed(data, line_cap), line_cap),
            Message::Frames(frames) => match frames.feed(data, frame_cap, line_cap) {
                Some(cap) => (true, cap),
                None => (false, 0),
            },
        };
        over.then_some(cap)
    }
}

/// JSON values one after another: the client library keeps everything up
/// to a line end that follows a complete value.
#[derive(Debug, Default)]
struct Json {
    depth: u64,
    in_string: bool,
    escaped: bool,
    since: u64,
}

impl Json {
    fn feed(&mut self, data: &[u8], cap: u64) -> bool {
        for &b in data {
            self.since += 1;
            if self.in_string {
                if self.escaped {
                    self.escaped = false;
                } else if b == b'\\' {
                    self.escaped = true;
                } else if b == b'"' {
                    self.in_string = false;
                }
            } else {
                match b {
                    b'"' => self.in_string = true,
                    b'{' | b'[' => self.depth += 1,
                    b'}' | b']' => self.depth = self.depth.saturating_sub(1),
                    b'\n' if self.depth == 0 => self.since = 0,
                    _ => {}
                }
            }
            if self.since > cap {
                return true;
            }
        }
        false
    }
}

/// Docker's multiplexed frames (an 8-byte header whose last 4 bytes are the
/// payload's length) or, when a message starts with a byte above 2, a line
/// of a TTY's output: what the client library keeps whole.
#[derive(Debug)]
enum Frames {
    Header { got: usize, bytes: [u8; 8] },
    Payload(u64),
    Line(u64),
}

impl Default for Frames {
    fn default() -> Frames {
        Frames::Header {
            got: 0,
            bytes: [0; 8],
        }
    }
}

impl Frames {
    /// The cap passed, if one was: `frame_cap` by a frame's announced
    /// length, `line_cap` by a line.
    fn feed(&mut self, mut data: &[u8], frame_cap: u64, line_cap: u64) -> Option<u64> {
        while !data.is_empty() {
            match self {
                Frames::Header { got: 0, .. } if data[0] > 2 => *self = Frames::Line(0),
                Frames::Header { got, bytes } => {
                    let take = (8 - *got).min(data.len());
                    bytes[*got..*got + take].copy_from_slice(&data[..take]);
                    *got += take;
                    data = &data[take..];
                    if *got == 8 {
                        let length =
                            u64::from(u32::from_be_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]));
                        if length > frame_cap {
                            return Some(frame_cap);
                        }
                        *self = if length == 0 {
                            Frames::default()
                        } else {
                            Frames::Payload(length)
                        };
                    }
                }
                Frames::Payload(left) => {
                    let take = usize::try_from(*left).unwrap_or(usize::MAX).min(data.len());
                    *left -= take as u64;
                    data = &data[take..];
                    if *left == 0 {
                        *self = Frames::default();
                    }
                }
                Frames::Line(since) => match data.iter().position(|b| *b == b'\n') {
                    Some(i) => {
                        if *since + i as u64 > line_cap {
                            return Some(line_cap);
                        }
                        data = &data[i + 1..];
                        *self = Frames::default();
                    }
                    None => {
                        *since += data.len() as u64;
                        return (*since > line_cap).then_some(line_cap);
                    }
                },
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn watch(cap: u64, request: &str) -> Watch {
        let mut watch = Watch::new(cap, cap);
        watch.wrote(request.as_bytes());
        watch
    }

    #[test]
    fn answers_are_told_apart_by_their_request_line() {
        let kind = |line: &str| kind_of(line.as_bytes());
        assert_eq!(
            kind("GET /v1.44/containers/web/json HTTP/1.1\r\n"),
            Kind::Whole
        );
        assert_eq!(kind("GET /version HTTP/1.1\r\n"), Kind::Whole);
        assert_eq!(
            kind("GET /v1.44/containers/json?all=1 HTTP/1.1\r\n"),
            Kind::Whole
        );
        assert_eq!(
            kind("GET /v1.44/containers/web/logs?follow=1 HTTP/1.1\r\n"),
            Kind::Frames
        );
        assert_eq!(
            kind("POST /v1.44/images/create?fromImage=a HTTP/1.1\r\n"),
            Kind::JsonValues
        );
        assert_eq!(
            kind("POST /images/h:5000/team/app/push HTTP/1.1\r\n"),
            Kind::JsonValues
        );
        assert_eq!(
            kind("POST /v1.44/exec/abc/start HTTP/1.1\r\n"),
            Kind::Frames
        );
        assert_eq!(kind(""), Kind::Whole);
    }

    #[test]
    fn a_whole_answer_over_the_cap_is_refused() {
        let mut w = watch(
            100,
            "GET /v1.44/containers/web/json HTTP/1.1\r\nHost: x\r\n\r\n",
        );
        assert_eq!(w.read(&[b'x'; 60]), Ok(()));
        assert_eq!(
            w.read(&[b'x'; 60]),
            Err(TooLarge {
                streamed: false,
                cap: 100
            })
        );
        // The next request on the connection starts afresh.
        w.wrote(b"GET /version HTTP/1.1\r\n\r\n");
        assert_eq!(w.read(&[b'x'; 90]), Ok(()));
    }

    #[test]
    fn a_stream_is_bounded_per_message_not_in_all() {
        let mut w = watch(100, "POST /images/create?fromImage=a HTTP/1.1\r\n\r\n");
        let head = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
        assert_eq!(w.read(head.as_bytes()), Ok(()));
        let line = format!("{}\n", serde_json::json!({"status": "x".repeat(60)}));
        for _ in 0..50 {
            let chunk = format!("{:x}\r\n{line}\r\n", line.len());
            assert_eq!(w.read(chunk.as_bytes()), Ok(()));
        }
        // One line without end, in many small chunks: refused at the cap.
        let mut result = Ok(());
        for _ in 0..50 {
            result = w.read(b"3\r\nabc\r\n");
            if result.is_err() {
                break;
            }
        }
        assert_eq!(
            result,
            Err(TooLarge {
                streamed: true,
                cap: 100
            })
        );
    }

    #[test]
    fn line_ends_inside_an_unfinished_json_value_do_not_end_a_message() {
        let mut json = Json::default();
        assert!(!json.feed(b"{\"a\": \"", 100));
        for _ in 0..50 {
            if json.feed(b"xx\n\n", 100) {
                return;
            }
        }
        panic!("a string that never closes is never a whole message");
    }

    #[test]
    fn a_frame_announcing_more_than_the_cap_is_refused_at_its_header() {
        let mut w = watch(1000, "GET /v1.44/containers/web/logs HTTP/1.1\r\n\r\n");
        assert_eq!(
            w.read(b"HTTP/1.1 200 OK\r\nContent-Type: application/vnd.docker.raw-stream\r\n\r\n"),
            Ok(())
        );
        let mut frame = vec![1, 0, 0, 0, 0, 0, 0, 5];
        frame.extend_from_slice(b"hello");
        for _ in 0..500 {
            assert_eq!(w.read(&frame), Ok(()));
        }
        assert_eq!(
            w.read(&[1, 0, 0, 0, 0, 0x10, 0, 0]),
            Err(TooLarge {
                streamed: true,
                cap: 1000
            })
        );

        // A TTY's output: lines.
        let mut frames = Frames::default();
        assert_eq!(frames.feed(b"a line\nanother\n", 1000, 10), None);
        assert_eq!(frames.feed(b"0123456", 1000, 10), None);
        assert_eq!(frames.feed(b"0123456", 1000, 10), Some(10));
    }

    #[test]
    fn content_length_bodies_and_interim_heads_are_followed() {
        let mut w = watch(10, "GET /v1.44/containers/web/logs HTTP/1.1\r\n\r\n");
        let body = "0123456789\n0123456789\n";
        let answer = format!(
            "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        assert_eq!(w.read(answer.as_bytes()), Ok(()));
        assert!(matches!(w.framing, Framing::Done));
    }

    #[test]
    fn the_cap_is_found_through_io_errors() {
        let cap = TooLarge {
            streamed: false,
            cap: ANSWER_CAP,
        };
        let io = io::Error::other(cap);
        let wrapped = io::Error::other(io);
        assert_eq!(too_large(&wrapped), Some(cap));
        assert_eq!(too_large(&io::Error::other("other")), None);
        assert_eq!(cap.to_string(), "the engine's answer is larger than 64 MiB");
    }
}
