//! HTTP for one virtual user: a client of its own (so keep-alive means one connection per user),
//! connect-time measurement through a connector layer, and error classification.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use super::sample::ErrorKind;

/// A virtual user's HTTP client.
pub struct Client {
    inner: reqwest::Client,
    /// Microseconds the last new connection took; swapped to 0 when read.
    connect_us: Arc<AtomicU64>,
    /// Whether the request being sent follows redirects (read by the redirect policy).
    follow: Arc<AtomicBool>,
}

/// What came back for one request.
pub struct Outcome {
    /// HTTP status, 0 without a response.
    pub status: u16,
    /// Time to response headers, µs.
    pub ttfb_us: u64,
    /// Full time including the body, µs.
    pub elapsed_us: u64,
    /// Connect time, µs (0 when a connection was reused).
    pub connect_us: u64,
    /// Response size (status line, headers and body).
    pub bytes: u64,
    /// Transport failure, if any.
    pub error: Option<(ErrorKind, String)>,
}

impl Client {
    /// Builds a client; `keepalive: false` closes the connection after every request.
    pub fn new(keepalive: bool) -> Result<Self, reqwest::Error> {
        let connect_us = Arc::new(AtomicU64::new(0));
        let follow = Arc::new(AtomicBool::new(true));
        let policy_follow = follow.clone();
        let policy = reqwest::redirect::Policy::custom(move |attempt| {
            if policy_follow.load(Ordering::Relaxed) && attempt.previous().len() < 10 {
                attempt.follow()
            } else {
                attempt.stop()
            }
        });
        let inner = reqwest::Client::builder()
            .no_proxy()
            .tcp_nodelay(true)
            .redirect(policy)
            .pool_max_idle_per_host(if keepalive { 1 } else { 0 })
            .connector_layer(ConnectTimer { slot: connect_us.clone() })
            .build()?;
        Ok(Client { inner, connect_us, follow })
    }

    /// Sends one request and reads the whole response, never failing: errors become data.
    pub async fn send(&self, request: reqwest::RequestBuilder, follow_redirects: bool) -> Outcome {
        self.follow.store(follow_redirects, Ordering::Relaxed);
        self.connect_us.store(0, Ordering::Relaxed);
        let start = Instant::now();
        let mut out = Outcome { status: 0, ttfb_us: 0, elapsed_us: 0, connect_us: 0, bytes: 0, error: None };
        match request.send().await {
            Ok(mut response) => {
                out.ttfb_us = micros(start);
                out.status = response.status().as_u16();
                out.bytes = header_bytes(&response);
                loop {
                    match response.chunk().await {
                        Ok(Some(chunk)) => out.bytes += chunk.len() as u64,
                        Ok(None) => break,
                        Err(e) => {
                            out.error = Some(classify(&e));
                            break;
                        }
                    }
                }
            }
            Err(e) => out.error = Some(classify(&e)),
        }
        out.elapsed_us = micros(start).max(1);
        out.connect_us = self.connect_us.swap(0, Ordering::Relaxed);
        out
    }

    /// The underlying client, for building requests.
    pub fn request(&self, method: reqwest::Method, url: &str) -> reqwest::RequestBuilder {
        self.inner.request(method, url)
    }
}

fn micros(since: Instant) -> u64 {
    since.elapsed().as_micros() as u64
}

/// Approximate size of the status line and headers as they were on the wire.
fn header_bytes(response: &reqwest::Response) -> u64 {
    let headers: usize = response.headers().iter().map(|(k, v)| k.as_str().len() + v.len() + 4).sum();
    (17 + headers + 2) as u64
}

/// Sorts a transport error into a kind and a short message without the URL noise.
pub fn classify(error: &reqwest::Error) -> (ErrorKind, String) {
    let io = root_io_error(error);
    if error.is_timeout() {
        return (ErrorKind::Timeout, "timed out".to_string());
    }
    if let Some(io) = io {
        use std::io::ErrorKind as Io;
        let kind = match io.kind() {
            Io::ConnectionRefused => ErrorKind::ConnectRefused,
            Io::TimedOut => ErrorKind::Timeout,
            Io::ConnectionReset | Io::ConnectionAborted | Io::BrokenPipe | Io::UnexpectedEof => ErrorKind::Reset,
            _ => ErrorKind::Transport,
        };
        return (kind, io.to_string());
    }
    let mut message = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(s) = source {
        message = s.to_string();
        source = s.source();
    }
    let kind =
        if message.contains("closed") || message.contains("reset") { ErrorKind::Reset } else { ErrorKind::Transport };
    (kind, message)
}

fn root_io_error(error: &reqwest::Error) -> Option<&std::io::Error> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(error);
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            return Some(io);
        }
        source = s.source();
    }
    None
}

/// Connector layer that stores how long each new connection took.
#[derive(Clone)]
struct ConnectTimer {
    slot: Arc<AtomicU64>,
}

impl<S> tower_layer::Layer<S> for ConnectTimer {
    type Service = Timed<S>;
    fn layer(&self, inner: S) -> Self::Service {
        Timed { inner, slot: self.slot.clone() }
    }
}

#[derive(Clone)]
struct Timed<S> {
    inner: S,
    slot: Arc<AtomicU64>,
}

impl<S, R> tower_service::Service<R> for Timed<S>
where
    S: tower_service::Service<R>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: R) -> Self::Future {
        let start = Instant::now();
        let slot = self.slot.clone();
        let fut = self.inner.call(req);
        Box::pin(async move {
            let result = fut.await;
            slot.store(micros(start), Ordering::Relaxed);
            result
        })
    }
}
