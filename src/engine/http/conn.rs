//! One connection of a virtual user and one request/response exchange on it.
//!
//! Plain HTTP/1.1 is the hot path and is driven by hand: the request goes out in one write, and
//! the response is read with `try_read` into a per-thread scratch buffer and fed to
//! [`wire::Reader`], so a user waiting on a slow server holds a socket and no buffer. HTTPS uses
//! tokio-rustls, and HTTP/2 (when the server picks `h2` in ALPN, or in cleartext with prior
//! knowledge for `http-version: 2`) goes through hyper's HTTP/2 client on that stream.

use std::cell::RefCell;
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use tokio::io::{AsyncReadExt, AsyncWriteExt, Interest};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use url::{Host, Url};

use super::stream::Events;
use super::wire::{self, Head, Progress, Reader};
use super::Failure;
use crate::plan::scenario::{HttpVersion, StreamPlan};
use crate::sample::{ErrorKind, StreamTimes};
use crate::tls;

/// Size of the per-thread read buffer (and of a TLS connection's own buffer).
const READ_BUF: usize = 64 * 1024;

thread_local! {
    /// Read buffer shared by every plain connection served by this thread.
    static SCRATCH: RefCell<Vec<u8>> = RefCell::new(vec![0; READ_BUF]);
}

/// Where a connection goes and what it may speak: requests to another origin, or with another
/// `http-version`, need another connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    tls: bool,
    host: String,
    port: u16,
    version: HttpVersion,
}

impl Origin {
    /// The origin of `url` for requests of `version`; None for URLs that are not http(s) with a host.
    pub fn of(url: &Url, version: HttpVersion) -> Option<Origin> {
        let tls = match url.scheme() {
            "http" => false,
            "https" => true,
            _ => return None,
        };
        Some(Origin { tls, host: url.host_str()?.to_string(), port: url.port_or_known_default()?, version })
    }

    /// Whether `url`, sent as `version`, has this origin (without allocating).
    pub fn matches(&self, url: &Url, version: HttpVersion) -> bool {
        version == self.version
            && (url.scheme() == "https") == self.tls
            && url.host_str() == Some(self.host.as_str())
            && url.port_or_known_default() == Some(self.port)
    }

    /// HTTP/2 in cleartext with prior knowledge.
    fn h2c(&self) -> bool {
        !self.tls && self.version == HttpVersion::Http2
    }
}

/// An open connection.
pub struct Conn {
    /// Where it goes.
    pub origin: Origin,
    /// Requests it has carried.
    pub served: u64,
    io: Io,
}

/// The protocol a connection speaks.
enum Io {
    /// HTTP/1.1 over TCP, read through the per-thread scratch buffer.
    Plain(TcpStream),
    /// HTTP/1.1 over TLS, with the connection's own read buffer (rustls reads through it).
    Tls(Box<TlsStream<TcpStream>>, Box<[u8]>),
    /// HTTP/2 over TLS, or over TCP with prior knowledge (h2c); hyper's connection task runs
    /// beside the user.
    H2(hyper::client::conn::http2::SendRequest<Full<Bytes>>),
}

/// What one exchange needs to know.
pub struct Exchange<'a> {
    /// The request head (HTTP/1.1), already written by the caller.
    pub head: &'a [u8],
    /// The request body.
    pub body: &'a [u8],
    /// The same request for HTTP/2.
    pub h2: &'a (dyn Fn() -> Result<http::Request<Full<Bytes>>, String> + Sync),
    /// HEAD request: the response has no body.
    pub head_request: bool,
    /// The most response body bytes to keep (0: none, no check reads it).
    pub want_body: usize,
    /// Keep the status line and headers as text (a check reads them).
    pub want_headers: bool,
    /// Longest wait for the whole response, from the request sent to its last byte (zero: none).
    pub read_timeout: Duration,
    /// Start of the whole sample, for time to first byte.
    pub start: Instant,
    /// How to cut a streamed response into events (requests with `stream` only).
    pub stream: Option<&'a StreamPlan>,
}

impl Exchange<'_> {
    /// The reader for this exchange's response.
    fn reader(&self) -> Reader {
        let mut reader = Reader::new(self.head_request, self.want_body, self.want_headers);
        reader.events = self.events();
        reader
    }

    /// A splitter for a streamed response's events.
    fn events(&self) -> Option<Box<Events>> {
        self.stream.map(|plan| Box::new(Events::new(plan, self.start)))
    }
}

/// What came back from one exchange.
#[derive(Default)]
pub struct Answer {
    /// Status, `Location`, `Set-Cookie` and, when asked for, the head as text.
    pub head: Head,
    /// The body, when asked for.
    pub body: Vec<u8>,
    /// Response bytes as received.
    pub bytes: u64,
    /// From the sample's start to the complete response head.
    pub ttfb_us: u64,
    /// The connection can carry another request.
    pub reuse: bool,
    /// A streamed response's event timings.
    pub stream: Option<Box<StreamTimes>>,
}

impl Conn {
    /// Opens a connection to `url`'s origin within `timeout` (zero: none).
    pub async fn open(url: &Url, origin: Origin, tls_verify: bool, timeout: Duration) -> Result<Conn, Failure> {
        // Boxed: TLS and HTTP/2 handshakes are large futures, and a user opens connections
        // rarely; inline they would make every idle user's task as big as the largest one.
        let stage = AtomicU8::new(0);
        let io = match limit(timeout, Box::pin(connect(url, &origin, tls_verify, &stage))).await {
            Some(r) => r?,
            None => {
                // Say which step stalled: a TLS handshake that never completes is not a refused connect.
                let step = STAGES[stage.load(Ordering::Relaxed) as usize];
                return Err(Failure::new(ErrorKind::Timeout, format!("{step} timed out after {}", secs(timeout))));
            }
        };
        Ok(Conn { origin, served: 0, io })
    }

    /// Whether the connection is known to be unusable.
    pub fn is_closed(&self) -> bool {
        match &self.io {
            Io::H2(send) => send.is_closed(),
            _ => false,
        }
    }

    /// Sends the request and reads the response. A failure says whether any response byte came
    /// (the caller retries a request that met a stale kept-alive connection).
    pub async fn exchange(&mut self, x: &Exchange<'_>) -> Result<Answer, (Failure, bool)> {
        let answer = match &mut self.io {
            Io::Plain(stream) => plain(stream, x).await?,
            // Boxed for the same reason as the handshakes: only plain HTTP is the hot path.
            Io::Tls(stream, buf) => Box::pin(tls_h1(stream, buf, x)).await?,
            Io::H2(send) => Box::pin(h2(send, x)).await.map_err(|(failure, answered)| {
                // A server that does not speak h2c answers the preface in HTTP/1.1, or closes:
                // hyper then only knows the frames were wrong.
                let first_h2c = self.origin.h2c() && self.served == 0 && failure.kind != ErrorKind::Timeout;
                (if first_h2c { not_h2c(&failure) } else { failure }, answered)
            })?,
        };
        self.served += 1;
        Ok(answer)
    }
}

/// The steps of opening a connection, as `connect` reaches them (for the time-out message).
const STAGES: [&str; 3] = ["connect", "TLS handshake", "HTTP/2 handshake"];

async fn connect(url: &Url, origin: &Origin, tls_verify: bool, stage: &AtomicU8) -> Result<Io, Failure> {
    let addrs: Vec<SocketAddr> = match url.host() {
        Some(Host::Ipv4(ip)) => vec![SocketAddr::new(ip.into(), origin.port)],
        Some(Host::Ipv6(ip)) => vec![SocketAddr::new(ip.into(), origin.port)],
        _ => tokio::net::lookup_host((origin.host.as_str(), origin.port))
            .await
            .map_err(|e| Failure::new(ErrorKind::Transport, format!("cannot resolve `{}`: {e}", origin.host)))?
            .collect(),
    };
    let mut last = None;
    let mut stream = None;
    for addr in addrs {
        match TcpStream::connect(addr).await {
            Ok(s) => {
                stream = Some(s);
                break;
            }
            Err(e) => last = Some(e),
        }
    }
    let Some(stream) = stream else {
        return Err(match last {
            Some(e) => Failure::io(&e),
            None => Failure::new(ErrorKind::Transport, format!("`{}` has no address", origin.host)),
        });
    };
    let _ = stream.set_nodelay(true);
    if origin.h2c() {
        stage.store(2, Ordering::Relaxed);
        return h2_handshake(stream).await;
    }
    if !origin.tls {
        return Ok(Io::Plain(stream));
    }
    let config = tls::config(tls_verify, origin.version).map_err(|e| Failure::new(ErrorKind::Tls, e))?;
    let name = rustls::pki_types::ServerName::try_from(origin.host.trim_matches(|c| c == '[' || c == ']').to_string())
        .map_err(|e| Failure::new(ErrorKind::Tls, format!("TLS: invalid server name `{}`: {e}", origin.host)))?;
    stage.store(1, Ordering::Relaxed);
    let stream = tokio_rustls::TlsConnector::from(config).connect(name, stream).await.map_err(|e| {
        let mut failure = Failure::io(&e);
        // A server refuses a handshake whose ALPN offers nothing it speaks: say what was offered.
        let offered = match origin.version {
            HttpVersion::Http2 => " (`http-version: 2` offers only `h2` in ALPN)",
            HttpVersion::Http1 => " (`http-version: 1.1` offers only `http/1.1` in ALPN)",
            HttpVersion::Auto => "",
        };
        let no_protocol = rustls::Error::AlertReceived(rustls::AlertDescription::NoApplicationProtocol);
        if e.get_ref().and_then(|inner| inner.downcast_ref::<rustls::Error>()) == Some(&no_protocol) {
            failure.message.push_str(offered);
        }
        failure
    })?;
    let alpn = stream.get_ref().1.alpn_protocol();
    if alpn == Some(b"h2") {
        stage.store(2, Ordering::Relaxed);
        return h2_handshake(stream).await;
    }
    if origin.version == HttpVersion::Http2 {
        let picked = alpn.map_or("no protocol".to_string(), |p| format!("`{}`", String::from_utf8_lossy(p)));
        let message = format!("the server did not pick HTTP/2 in ALPN ({picked}); `http-version: 2` needs `h2`");
        return Err(Failure::new(ErrorKind::Transport, message));
    }
    Ok(Io::Tls(Box::new(stream), vec![0; 16 * 1024].into_boxed_slice()))
}

/// Starts HTTP/2 on `stream` (TLS after ALPN `h2`, or TCP with prior knowledge).
async fn h2_handshake<T>(stream: T) -> Result<Io, Failure>
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (send, conn) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(stream),
    )
    .await
    .map_err(|e| Failure::chain(&e))?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(Io::H2(send))
}

/// The failure of the first exchange on an h2c connection: most likely a server that does not
/// speak HTTP/2 in cleartext.
fn not_h2c(failure: &Failure) -> Failure {
    let message = format!(
        "no HTTP/2 response to prior knowledge (h2c, `http-version: 2`); does the server speak HTTP/2 \
         without TLS? ({})",
        failure.message
    );
    Failure::new(ErrorKind::Transport, message)
}

/// HTTP/1.1 over plain TCP.
async fn plain(stream: &mut TcpStream, x: &Exchange<'_>) -> Result<Answer, (Failure, bool)> {
    write_plain(stream, x.head).await.map_err(|e| (Failure::io(&e), false))?;
    if !x.body.is_empty() {
        write_plain(stream, x.body).await.map_err(|e| (Failure::io(&e), false))?;
    }
    let mut reader = x.reader();
    let mut answer = Answer::default();
    // One timer for the whole response, not one per read: a body that never ends cannot hold the
    // user however steadily its bytes come, and a response read in one piece costs one timer.
    match limit(x.read_timeout, read_plain(stream, x, &mut reader, &mut answer)).await {
        Some(Ok(reuse)) => {
            answer.reuse = reuse;
            answer.stream = reader.events.take().map(|e| Box::new(e.finish()));
            Ok(answer)
        }
        Some(Err(e)) => Err(e),
        None => Err((read_timeout(&reader, x.read_timeout), true)),
    }
}

/// Reads one response into `answer`; returns whether the connection can be reused.
async fn read_plain(
    stream: &TcpStream,
    x: &Exchange<'_>,
    reader: &mut Reader,
    answer: &mut Answer,
) -> Result<bool, (Failure, bool)> {
    loop {
        // Readiness first: after a complete response the socket's readiness was cleared (below),
        // so a read before the reply comes would only cost a syscall to learn "would block".
        stream.readable().await.map_err(|e| (Failure::io(&e), reader.bytes > 0))?;
        let step = SCRATCH.with_borrow_mut(|buf| match stream.try_read(buf) {
            Ok(0) => Ok(Some((reader.eof(), false))),
            Ok(n) => Ok(Some((reader.feed(&buf[..n], &mut answer.head, &mut answer.body), n < buf.len()))),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok(None),
            Err(e) => Err(e),
        });
        match step {
            Ok(Some((progress, drained))) => {
                if let Some(done) = advance(reader, progress, answer, x)? {
                    if drained {
                        // A short read emptied the receive queue: clear the readiness without
                        // another read. Anything arriving later raises a new event, so no
                        // wake-up is lost.
                        let _ = stream.try_io(Interest::READABLE, || Err::<(), _>(io::ErrorKind::WouldBlock.into()));
                    }
                    return Ok(done);
                }
                // `readable` does not count against tokio's cooperative budget: while a server
                // keeps the socket readable this loop would never yield, and neither the
                // deadline nor a stop could end it. A response that needs another read pays
                // for it here (a counter, no timer).
                tokio::task::consume_budget().await;
            }
            Ok(None) => {} // readiness was stale; try_read cleared it
            Err(e) => return Err((Failure::io(&e), reader.bytes > 0)),
        }
    }
}

/// HTTP/1.1 over TLS.
async fn tls_h1(
    stream: &mut TlsStream<TcpStream>,
    buf: &mut [u8],
    x: &Exchange<'_>,
) -> Result<Answer, (Failure, bool)> {
    let write = async {
        stream.write_all(x.head).await?;
        stream.write_all(x.body).await?;
        stream.flush().await
    };
    write.await.map_err(|e| (Failure::io(&e), false))?;
    let mut reader = x.reader();
    let mut answer = Answer::default();
    let read = async {
        loop {
            let progress = match stream.read(buf).await {
                Err(e) => return Err((Failure::io(&e), reader.bytes > 0)),
                Ok(0) => reader.eof(),
                Ok(n) => reader.feed(&buf[..n], &mut answer.head, &mut answer.body),
            };
            if let Some(done) = advance(&reader, progress, &mut answer, x)? {
                return Ok(done);
            }
        }
    };
    match limit(x.read_timeout, read).await {
        Some(Ok(reuse)) => {
            answer.reuse = reuse;
            answer.stream = reader.events.take().map(|e| Box::new(e.finish()));
            Ok(answer)
        }
        Some(Err(e)) => Err(e),
        None => Err((read_timeout(&reader, x.read_timeout), true)),
    }
}

/// Notes the time to first byte and turns the reader's progress into "done (reuse?)" or "more".
fn advance(
    reader: &Reader,
    progress: Result<Progress, wire::WireError>,
    answer: &mut Answer,
    x: &Exchange<'_>,
) -> Result<Option<bool>, (Failure, bool)> {
    if reader.head_done && answer.ttfb_us == 0 {
        answer.ttfb_us = micros(x.start).max(1);
    }
    answer.bytes = reader.bytes;
    match progress {
        Ok(Progress::More) => Ok(None),
        Ok(Progress::Done { reuse }) => Ok(Some(reuse)),
        Err(e) => {
            // A connection the server closed early is a reset; anything else is a protocol error.
            let kind = match e {
                wire::WireError::Closed(_) => ErrorKind::Reset,
                wire::WireError::Invalid(_) => ErrorKind::Transport,
            };
            Err((Failure::new(kind, e.to_string()), reader.bytes > 0))
        }
    }
}

fn read_timeout(reader: &Reader, t: Duration) -> Failure {
    let message = if reader.has_head() {
        format!("the response did not complete within {} (read timeout)", secs(t))
    } else {
        format!("no response within {}", secs(t))
    };
    Failure::new(ErrorKind::Timeout, message)
}

/// Writes all of `data` (one `write` on the hot path).
async fn write_plain(stream: &TcpStream, mut data: &[u8]) -> io::Result<()> {
    while !data.is_empty() {
        match stream.try_write(data) {
            Ok(n) => data = &data[n..],
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => stream.writable().await?,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// HTTP/2 through hyper.
async fn h2(
    send: &mut hyper::client::conn::http2::SendRequest<Full<Bytes>>,
    x: &Exchange<'_>,
) -> Result<Answer, (Failure, bool)> {
    let request = (x.h2)().map_err(|e| (Failure::new(ErrorKind::Transport, e), false))?;
    send.ready().await.map_err(|e| (Failure::chain(&e), false))?;
    let mut answer = Answer { reuse: true, ..Answer::default() };
    let mut events = x.events();
    let exchange = async {
        let response = send.send_request(request).await.map_err(|e| (Failure::chain(&e), true))?;
        answer.ttfb_us = micros(x.start).max(1);
        let (parts, mut body) = response.into_parts();
        answer.head.status = parts.status.as_u16();
        answer.head.location =
            parts.headers.get(http::header::LOCATION).map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
        let header_bytes: usize = parts.headers.iter().map(|(k, v)| k.as_str().len() + v.len() + 4).sum();
        answer.bytes = (13 + header_bytes + 2) as u64;
        if x.want_headers {
            let reason = parts.status.canonical_reason().unwrap_or("");
            let mut text = format!("HTTP/2 {} {reason}\n", parts.status.as_u16());
            for (name, value) in &parts.headers {
                wire::push_title_case(&mut text, name.as_str());
                text.push_str(": ");
                text.push_str(&String::from_utf8_lossy(value.as_bytes()));
                text.push('\n');
            }
            answer.head.text = text;
        }
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| (Failure::chain(&e), true))?;
            if let Ok(data) = frame.into_data() {
                // An empty frame (one that only ends the stream) is no event.
                if let Some(events) = events.as_mut().filter(|_| !data.is_empty()) {
                    events.body(&data);
                    events.chunk_end();
                }
                answer.bytes += data.len() as u64;
                let room = x.want_body.saturating_sub(answer.body.len());
                answer.body.extend_from_slice(&data[..data.len().min(room)]);
            }
        }
        Ok(())
    };
    match limit(x.read_timeout, exchange).await {
        Some(Ok(())) => {
            answer.stream = events.map(|e| Box::new(e.finish()));
            Ok(answer)
        }
        Some(Err(e)) => Err(e),
        None => {
            let message = if answer.ttfb_us == 0 {
                format!("no response within {}", secs(x.read_timeout))
            } else {
                format!("the response did not complete within {} (read timeout)", secs(x.read_timeout))
            };
            Err((Failure::new(ErrorKind::Timeout, message), true))
        }
    }
}

/// Awaits `fut` for at most `d` (zero = no limit).
pub async fn limit<F: Future>(d: Duration, fut: F) -> Option<F::Output> {
    if d.is_zero() {
        Some(fut.await)
    } else {
        tokio::time::timeout(d, fut).await.ok()
    }
}

/// Microseconds since `since`.
pub fn micros(since: Instant) -> u64 {
    since.elapsed().as_micros() as u64
}

/// A duration for messages: `0.3s`.
pub fn secs(d: Duration) -> String {
    format!("{}s", (d.as_secs_f64() * 1000.0).round() / 1000.0)
}
