//! HTTP for one virtual user: one connection of its own (kept alive unless told otherwise),
//! connect and read timeouts, redirects, and errors sorted into a few kinds.
//!
//! Why not reqwest: its per-request machinery (pool, layers, boxed futures) cost three times
//! wrk's CPU per request and ~30 KB per idle user; hyper driven directly still reached only
//! 0.89× wrk before any sample was recorded (docs/benchmarks.md, "HTTP client"). So plain
//! HTTP/1.1, the hot path, is written and read here with `httparse`; HTTPS goes through
//! tokio-rustls and HTTP/2 through hyper, where per-request cost matters less than correctness.

mod conn;
pub mod cookies;
#[cfg(test)]
mod fuzz;
mod stream;
pub mod wire;

use std::borrow::Cow;
use std::time::{Instant, SystemTime};

use bytes::Bytes;
use http::{HeaderName, HeaderValue, Method};
use http_body_util::Full;
use url::Url;

use self::conn::{micros, Conn, Exchange, Origin};
use self::cookies::{Cookie, Jar};
use crate::plan::scenario::{HttpVersion, StreamPlan, Timeouts};
use crate::sample::{ErrorKind, StreamTimes};

/// Most redirects followed for one request.
const MAX_REDIRECTS: usize = 10;

/// How a virtual user's client behaves.
#[derive(Clone, Copy, Debug)]
pub struct ClientOptions {
    /// Keep the connection open between requests.
    pub keepalive: bool,
    /// Check server certificates against the system's roots.
    pub tls_verify: bool,
}

/// What the caller wants kept from a response besides its size and timings.
#[derive(Clone, Copy, Debug, Default)]
pub struct Want<'a> {
    /// The most body bytes to keep (0: none); the rest is only counted.
    pub body: usize,
    /// The status line and headers as text.
    pub headers: bool,
    /// The final URL.
    pub url: bool,
    /// The body's events and their times (a streamed response).
    pub stream: Option<&'a StreamPlan>,
}

/// A request, with its placeholders already filled in.
pub struct Request<'a> {
    pub method: Method,
    /// Absolute http(s) URL (borrowed from the plan when it has no placeholders).
    pub url: Cow<'a, Url>,
    /// Headers as the scenario gives them; `Host`, `Accept` and `Content-Length` are added
    /// unless present.
    pub headers: &'a [(HeaderName, HeaderValue)],
    pub body: Option<Bytes>,
    /// Which HTTP versions it may speak.
    pub version: HttpVersion,
}

/// Why a request got no usable response.
#[derive(Debug, Clone)]
pub struct Failure {
    /// The class it is counted under.
    pub kind: ErrorKind,
    /// What went wrong, for the sample's message.
    pub message: String,
}

impl Failure {
    /// A failure of `kind`.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Failure { kind, message: message.into() }
    }

    /// An I/O error: refused, timed out, reset, TLS (rustls errors travel inside io errors), other.
    pub fn io(e: &std::io::Error) -> Self {
        use std::io::ErrorKind as Io;
        if let Some(tls) = e.get_ref().and_then(|inner| inner.downcast_ref::<rustls::Error>()) {
            return Failure::new(ErrorKind::Tls, format!("TLS: {tls}"));
        }
        let kind = match e.kind() {
            Io::ConnectionRefused => ErrorKind::ConnectRefused,
            Io::TimedOut => ErrorKind::Timeout,
            Io::ConnectionReset | Io::ConnectionAborted | Io::BrokenPipe | Io::UnexpectedEof => ErrorKind::Reset,
            _ => ErrorKind::Transport,
        };
        Failure::new(kind, e.to_string())
    }

    /// An error with causes (hyper's): the innermost io or TLS error decides the kind.
    pub fn chain(error: &(dyn std::error::Error + 'static)) -> Self {
        let mut current = Some(error);
        let mut last = error.to_string();
        while let Some(e) = current {
            if let Some(io) = e.downcast_ref::<std::io::Error>() {
                return Failure::io(io);
            }
            if let Some(tls) = e.downcast_ref::<rustls::Error>() {
                return Failure::new(ErrorKind::Tls, format!("TLS: {tls}"));
            }
            last = e.to_string();
            current = e.source();
        }
        let kind =
            if last.contains("closed") || last.contains("reset") { ErrorKind::Reset } else { ErrorKind::Transport };
        Failure::new(kind, last)
    }
}

/// What came back for one request.
#[derive(Debug, Default)]
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
    /// The body, when asked for.
    pub body: Vec<u8>,
    /// Status line and headers, one per line, when asked for.
    pub headers: String,
    /// The URL that answered (after redirects), when asked for.
    pub url: String,
    /// A streamed response's event timings, when asked for.
    pub stream: Option<Box<StreamTimes>>,
}

/// A virtual user's HTTP client.
pub struct Client {
    opts: ClientOptions,
    conn: Option<Conn>,
    /// Cookies, unless the scenario turned them off (`store-cookie: false`).
    jar: Option<Jar>,
    /// The request head being written (kept to reuse its allocation).
    head: Vec<u8>,
}

impl Client {
    /// A client with no connection yet; `jar` keeps cookies between requests.
    pub fn new(opts: ClientOptions, jar: Option<Jar>) -> Self {
        Client { opts, conn: None, jar, head: Vec::new() }
    }

    /// Forgets the cookies kept so far and starts again from `initial`, as a new user would
    /// (nothing when the client keeps no cookies).
    pub fn reset_cookies(&mut self, initial: &[Cookie]) {
        if let Some(jar) = &mut self.jar {
            *jar = Jar::new(initial);
        }
    }

    /// Sends one request (following redirects if asked) and reads the whole response, never
    /// failing: errors become data.
    pub async fn send(
        &mut self,
        req: Request<'_>,
        follow_redirects: bool,
        timeouts: Timeouts,
        want: Want<'_>,
    ) -> Outcome {
        let start = Instant::now();
        let mut out = Outcome::default();
        let Request { mut method, mut url, headers, mut body, version } = req;
        let mut cross_origin = false;
        for hop in 0..=MAX_REDIRECTS {
            match self
                .once(&method, &url, version, headers, cross_origin, body.as_ref(), timeouts, want, start, &mut out)
                .await
            {
                Err(f) => {
                    out.error = Some((f.kind, f.message));
                    break;
                }
                Ok(location) => {
                    let next = location.filter(|_| follow_redirects && is_redirect(out.status) && hop < MAX_REDIRECTS);
                    let Some(next) = next.and_then(|l| url.join(&l).ok()) else { break };
                    // 303, and 301/302 after a POST, turn into a GET without a body (as browsers do).
                    if out.status == 303 && method != Method::HEAD || (out.status <= 302 && method == Method::POST) {
                        method = Method::GET;
                        body = None;
                    }
                    cross_origin |= !Origin::of(&url, version).is_some_and(|o| o.matches(&next, version));
                    url = Cow::Owned(next);
                    out.body.clear();
                    out.headers.clear();
                }
            }
        }
        out.elapsed_us = micros(start).max(1);
        if want.url {
            out.url = url.to_string();
        }
        out
    }

    /// One exchange (a hop of a redirect chain); returns the `Location` of the response.
    #[allow(clippy::too_many_arguments)]
    async fn once(
        &mut self,
        method: &Method,
        url: &Url,
        version: HttpVersion,
        headers: &[(HeaderName, HeaderValue)],
        cross_origin: bool,
        body: Option<&Bytes>,
        timeouts: Timeouts,
        want: Want<'_>,
        start: Instant,
        out: &mut Outcome,
    ) -> Result<Option<String>, Failure> {
        // Credentials do not follow a redirect to another origin.
        let sent = |name: &HeaderName| {
            !(cross_origin && (name == http::header::AUTHORIZATION || name == http::header::COOKIE))
        };
        // The jar's cookies join a `Cookie` header the scenario set (one header, RFC 6265 5.4).
        let jar_cookies =
            self.jar.as_mut().filter(|jar| !jar.is_empty()).and_then(|jar| jar.header_for(url, SystemTime::now()));
        let cookie = jar_cookies.map(|jar| {
            let own = headers.iter().find(|(n, _)| n == http::header::COOKIE && sent(n));
            match own {
                Some((_, v)) => format!("{}; {jar}", String::from_utf8_lossy(v.as_bytes())),
                None => jar,
            }
        });
        let sent = |name: &HeaderName| sent(name) && !(cookie.is_some() && name == http::header::COOKIE);
        self.head.clear();
        let target = &url[url::Position::BeforePath..url::Position::AfterQuery];
        let host = &url[url::Position::BeforeHost..url::Position::BeforePath];
        let with_length = body.map(|b| b.len()).or(needs_length(method).then_some(0));
        let pairs = headers
            .iter()
            .filter(|(n, _)| sent(n))
            .map(|(n, v)| (n.as_str(), v.as_bytes()))
            .chain(cookie.as_deref().map(|c| ("Cookie", c.as_bytes())));
        wire::write_head(&mut self.head, method.as_str(), target, host, pairs, with_length);
        let body_bytes: &[u8] = body.map_or(&[], |b| b);
        let h2 = || -> Result<http::Request<Full<Bytes>>, String> {
            let mut builder = http::Request::builder().method(method.clone()).uri(url.as_str());
            for (name, value) in headers.iter().filter(|(n, _)| sent(n) && *n != http::header::HOST) {
                builder = builder.header(name, value);
            }
            if let Some(c) = &cookie {
                builder = builder.header(http::header::COOKIE, c.as_str());
            }
            if !headers.iter().any(|(n, _)| n == http::header::USER_AGENT) {
                builder = builder.header(http::header::USER_AGENT, wire::USER_AGENT);
            }
            builder.body(Full::new(body.cloned().unwrap_or_default())).map_err(|e| e.to_string())
        };
        let exchange = Exchange {
            head: &self.head,
            body: body_bytes,
            h2: &h2,
            head_request: *method == Method::HEAD,
            want_body: want.body,
            want_headers: want.headers,
            read_timeout: timeouts.read,
            start,
            stream: want.stream,
        };
        // A kept-alive connection the server closed meanwhile fails before any byte comes back:
        // that request is sent again once on a new connection.
        let mut retried = false;
        let answer = loop {
            if self.conn.as_ref().is_some_and(|c| !c.origin.matches(url, version) || c.is_closed()) {
                self.conn = None;
            }
            let conn = match &mut self.conn {
                Some(c) => c,
                None => {
                    // Only a new connection needs the origin as its own (owned) value.
                    let Some(origin) = Origin::of(url, version) else {
                        let message = format!("cannot send to `{url}`: only http and https URLs");
                        return Err(Failure::new(ErrorKind::Transport, message));
                    };
                    let begun = Instant::now();
                    let opened = Conn::open(url, origin, self.opts.tls_verify, timeouts.connect).await;
                    out.connect_us += micros(begun).max(1);
                    self.conn.insert(opened?)
                }
            };
            let reused = conn.served > 0;
            match conn.exchange(&exchange).await {
                Ok(answer) => break answer,
                Err((failure, answered)) => {
                    self.conn = None;
                    let stale = reused && !answered && matches!(failure.kind, ErrorKind::Reset);
                    if stale && !retried {
                        retried = true;
                        continue;
                    }
                    return Err(failure);
                }
            }
        };
        if !answer.reuse || !self.opts.keepalive {
            self.conn = None;
        }
        if let Some(jar) = &mut self.jar {
            let now = SystemTime::now();
            for header in &answer.head.set_cookie {
                jar.store(url, header, now);
            }
        }
        out.status = answer.head.status;
        out.ttfb_us = answer.ttfb_us;
        out.bytes += answer.bytes;
        out.body = answer.body;
        out.headers = answer.head.text;
        out.stream = answer.stream;
        Ok(answer.head.location)
    }
}

/// Methods whose requests carry a length even without a body (servers may insist on it).
fn needs_length(method: &Method) -> bool {
    matches!(*method, Method::POST | Method::PUT | Method::PATCH)
}

fn is_redirect(status: u16) -> bool {
    matches!(status, 301 | 302 | 303 | 307 | 308)
}
