//! HTTP for one virtual user: a client of its own (so keep-alive means one connection per user),
//! TLS with rustls and the `ring` provider (HTTP/2 when the server offers it in ALPN), connect
//! and read timeouts, connect-time measurement through a connector layer, and error
//! classification into a small set of kinds.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use tokio::time::sleep_until;

use super::sample::ErrorKind;
use crate::plan::scenario::Timeouts;

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
pub struct Want {
    /// The body bytes.
    pub body: bool,
    /// The status line and headers as text.
    pub headers: bool,
    /// The final URL.
    pub url: bool,
}

/// A virtual user's HTTP client.
pub struct Client {
    inner: reqwest::Client,
    /// Shared with the connector layer.
    connect: Arc<ConnectState>,
    /// Whether the request being sent follows redirects (read by the redirect policy).
    follow: Arc<AtomicBool>,
}

/// What the connector layer and the client tell each other about the current request.
#[derive(Default)]
struct ConnectState {
    /// Microseconds the last new connection took; 0 when none was opened.
    took_us: AtomicU64,
    /// Connect timeout of the current request, µs (0 = none).
    timeout_us: AtomicU64,
    /// Whether a connection is being opened right now.
    busy: AtomicBool,
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
}

impl Client {
    /// Builds a client; `keepalive: false` closes the connection after every request.
    pub fn new(opts: ClientOptions) -> Result<Self, String> {
        let connect = Arc::new(ConnectState::default());
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
            .pool_max_idle_per_host(if opts.keepalive { 1 } else { 0 })
            .connector_layer(ConnectTimer { state: connect.clone() })
            .tls_backend_preconfigured(tls_config(opts.tls_verify)?)
            .build()
            .map_err(|e| e.to_string())?;
        Ok(Client { inner, connect, follow })
    }

    /// Starts a request.
    pub fn request(&self, method: reqwest::Method, url: reqwest::Url) -> reqwest::RequestBuilder {
        self.inner.request(method, url)
    }

    /// Sends one request and reads the whole response, never failing: errors become data.
    pub async fn send(
        &self,
        request: reqwest::RequestBuilder,
        follow_redirects: bool,
        timeouts: Timeouts,
        want: Want,
    ) -> Outcome {
        self.follow.store(follow_redirects, Ordering::Relaxed);
        self.connect.took_us.store(0, Ordering::Relaxed);
        self.connect.timeout_us.store(timeouts.connect.as_micros() as u64, Ordering::Relaxed);
        let start = Instant::now();
        let mut out = Outcome::default();
        match self.until_headers(request.send(), start, timeouts).await {
            None => out.error = Some((ErrorKind::Timeout, format!("no response within {}", secs(timeouts.read)))),
            Some(Err(e)) => out.error = Some(classify(&e)),
            Some(Ok(mut response)) => {
                out.ttfb_us = micros(start);
                out.status = response.status().as_u16();
                out.bytes = header_bytes(&response);
                if want.headers {
                    out.headers = headers_text(&response);
                }
                if want.url {
                    out.url = response.url().to_string();
                }
                loop {
                    match limit(timeouts.read, response.chunk()).await {
                        None => {
                            let msg = format!("the response stalled for {} (read timeout)", secs(timeouts.read));
                            out.error = Some((ErrorKind::Timeout, msg));
                            break;
                        }
                        Some(Ok(Some(chunk))) => {
                            out.bytes += chunk.len() as u64;
                            if want.body {
                                out.body.extend_from_slice(&chunk);
                            }
                        }
                        Some(Ok(None)) => break,
                        Some(Err(e)) => {
                            out.error = Some(classify(&e));
                            break;
                        }
                    }
                }
            }
        }
        out.elapsed_us = micros(start).max(1);
        out.connect_us = self.connect.took_us.swap(0, Ordering::Relaxed);
        out
    }

    /// Waits for the response headers: the read timeout counts from when the connection is
    /// ready (a new connection has its own connect timeout in the connector layer).
    async fn until_headers<F: Future>(&self, fut: F, start: Instant, t: Timeouts) -> Option<F::Output> {
        if t.read.is_zero() {
            return Some(fut.await);
        }
        tokio::pin!(fut);
        let mut deadline = start + t.read;
        loop {
            tokio::select! {
                r = &mut fut => return Some(r),
                _ = sleep_until(deadline.into()) => {
                    let took = self.connect.took_us.load(Ordering::Relaxed);
                    let later = if self.connect.busy.load(Ordering::Relaxed) {
                        start + t.connect + t.read
                    } else {
                        start + Duration::from_micros(took) + t.read
                    };
                    if later <= deadline {
                        return None;
                    }
                    deadline = later;
                }
            }
        }
    }
}

/// Awaits `fut` for at most `d` (zero = no limit).
async fn limit<F: Future>(d: Duration, fut: F) -> Option<F::Output> {
    if d.is_zero() {
        Some(fut.await)
    } else {
        tokio::time::timeout(d, fut).await.ok()
    }
}

fn micros(since: Instant) -> u64 {
    since.elapsed().as_micros() as u64
}

fn secs(d: Duration) -> String {
    format!("{}s", (d.as_secs_f64() * 1000.0).round() / 1000.0)
}

/// Approximate size of the status line and headers as they were on the wire.
fn header_bytes(response: &reqwest::Response) -> u64 {
    let headers: usize = response.headers().iter().map(|(k, v)| k.as_str().len() + v.len() + 4).sum();
    (17 + headers + 2) as u64
}

/// The status line and headers as JMeter shows them to assertions and extractors; names are
/// written in the usual Title-Case (HTTP/1 parsers lower-case them, HTTP/2 sends them so).
fn headers_text(response: &reqwest::Response) -> String {
    let status = response.status();
    let version = match response.version() {
        reqwest::Version::HTTP_2 => "HTTP/2",
        reqwest::Version::HTTP_10 => "HTTP/1.0",
        _ => "HTTP/1.1",
    };
    let mut text = format!("{version} {} {}\n", status.as_u16(), status.canonical_reason().unwrap_or(""));
    for (name, value) in response.headers() {
        let mut upper = true;
        for c in name.as_str().chars() {
            text.push(if upper { c.to_ascii_uppercase() } else { c });
            upper = c == '-';
        }
        text.push_str(": ");
        text.push_str(&String::from_utf8_lossy(value.as_bytes()));
        text.push('\n');
    }
    text
}

/// Sorts a transport error into a kind and a short message without the URL noise.
pub fn classify(error: &reqwest::Error) -> (ErrorKind, String) {
    let mut kind = None;
    let mut last = error.to_string();
    for e in causes(error) {
        last = e.to_string();
        if let Some(tls) = e.downcast_ref::<rustls::Error>() {
            return (ErrorKind::Tls, format!("TLS: {tls}"));
        }
        if let (None, Some(io)) = (kind, e.downcast_ref::<std::io::Error>()) {
            use std::io::ErrorKind as Io;
            kind = match io.kind() {
                Io::ConnectionRefused => Some(ErrorKind::ConnectRefused),
                Io::TimedOut => Some(ErrorKind::Timeout),
                Io::ConnectionReset | Io::ConnectionAborted | Io::BrokenPipe | Io::UnexpectedEof => {
                    Some(ErrorKind::Reset)
                }
                _ => None,
            };
        }
    }
    if error.is_timeout() {
        return (ErrorKind::Timeout, "timed out".to_string());
    }
    let kind = kind.unwrap_or(if last.contains("closed") || last.contains("reset") {
        ErrorKind::Reset
    } else {
        ErrorKind::Transport
    });
    (kind, last)
}

/// The causes of an error, outermost first. An `io::Error`'s `source()` skips the error it
/// wraps (and hyper wraps io errors in io errors), so wrapped errors are visited too.
fn causes<'e>(error: &'e reqwest::Error) -> impl Iterator<Item = &'e (dyn std::error::Error + 'static)> {
    let mut next: Option<&'e (dyn std::error::Error + 'static)> = std::error::Error::source(error);
    std::iter::from_fn(move || {
        let current = next?;
        next = match current.downcast_ref::<std::io::Error>().and_then(std::io::Error::get_ref) {
            Some(inner) => Some(inner as &(dyn std::error::Error + 'static)),
            None => current.source(),
        };
        Some(current)
    })
}

/// The rustls configuration shared by every client of the process: building it loads the
/// system's root certificates, which must not happen once per virtual user.
fn tls_config(verify: bool) -> Result<rustls::ClientConfig, String> {
    static VERIFYING: OnceLock<Result<rustls::ClientConfig, String>> = OnceLock::new();
    static TRUSTING: OnceLock<Result<rustls::ClientConfig, String>> = OnceLock::new();
    let cell = if verify { &VERIFYING } else { &TRUSTING };
    cell.get_or_init(|| build_tls_config(verify)).clone()
}

fn build_tls_config(verify: bool) -> Result<rustls::ClientConfig, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    // Code that asks rustls for the process default gets the same provider (already set is fine).
    let _ = CryptoProvider::install_default(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS set-up: {e}"))?;
    let verifier: Arc<dyn ServerCertVerifier> = match verify {
        false => Arc::new(AcceptAnyCertificate(provider)),
        // Without system roots plain HTTP must still work: HTTPS samples then fail with the reason.
        true => match rustls_platform_verifier::Verifier::new(provider.clone()) {
            Ok(v) => Arc::new(v),
            Err(e) => Arc::new(NoRoots { reason: format!("cannot verify certificates: {e}"), provider }),
        },
    };
    let mut config = builder.dangerous().with_custom_certificate_verifier(verifier).with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

/// `tls-verify: false`: any certificate is accepted (signatures are still checked, so the
/// handshake is real; only the chain of trust and the host name are not).
#[derive(Debug)]
struct AcceptAnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// The system's root certificates could not be loaded: every certificate is refused, with the reason.
#[derive(Debug)]
struct NoRoots {
    reason: String,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for NoRoots {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Err(rustls::Error::General(format!("{} (set `tls-verify: false` to skip verification)", self.reason)))
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}

/// Connector layer that times each new connection and enforces the connect timeout.
#[derive(Clone)]
struct ConnectTimer {
    state: Arc<ConnectState>,
}

impl<S> tower_layer::Layer<S> for ConnectTimer {
    type Service = Timed<S>;
    fn layer(&self, inner: S) -> Self::Service {
        Timed { inner, state: self.state.clone() }
    }
}

#[derive(Clone)]
struct Timed<S> {
    inner: S,
    state: Arc<ConnectState>,
}

impl<S, R> tower_service::Service<R> for Timed<S>
where
    S: tower_service::Service<R>,
    S::Future: Send + 'static,
    S::Error: From<std::io::Error>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: R) -> Self::Future {
        let start = Instant::now();
        let state = self.state.clone();
        let timeout = Duration::from_micros(state.timeout_us.load(Ordering::Relaxed));
        state.busy.store(true, Ordering::Relaxed);
        let fut = self.inner.call(req);
        Box::pin(async move {
            let result = match limit(timeout, fut).await {
                Some(r) => r,
                None => Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    format!("connect timed out after {}", secs(timeout)),
                )
                .into()),
            };
            state.took_us.store(micros(start).max(1), Ordering::Relaxed);
            state.busy.store(false, Ordering::Relaxed);
            result
        })
    }
}
