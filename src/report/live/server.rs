//! The `--metrics-addr` scrape endpoint: HTTP/1.1 on exactly the address given, `GET /metrics`
//! answering the live figures as OpenMetrics text, 404 elsewhere. It lives as long as its
//! [`Endpoint`]; connections are capped and each may last a bounded time (mini-redis's shape).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;

use super::openmetrics::CONTENT_TYPE;
use super::Registry;

/// Connections served at once; a scraper needs one.
const MAX_CONNECTIONS: usize = 16;
/// How long one connection may stay open (a scrape takes milliseconds).
const CONNECTION_LIMIT: Duration = Duration::from_secs(60);

/// The listening endpoint; dropping it stops listening.
pub struct Endpoint {
    /// The address it listens on.
    pub addr: SocketAddr,
    accept: JoinHandle<()>,
}

impl Endpoint {
    pub(super) async fn start(addr: SocketAddr, registry: Arc<Registry>) -> Result<Endpoint, String> {
        let listener = TcpListener::bind(addr).await.map_err(|e| format!("cannot listen on {addr}: {}", reason(&e)))?;
        let addr = listener.local_addr().unwrap_or(addr);
        Ok(Endpoint { addr, accept: tokio::spawn(accept(listener, registry)) })
    }
}

impl Drop for Endpoint {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

/// An I/O error in words, without the OS error number.
fn reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::AddrInUse => "the address is in use".to_string(),
        std::io::ErrorKind::AddrNotAvailable => "the address is not one of this machine's".to_string(),
        std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
        _ => e.to_string(),
    }
}

async fn accept(listener: TcpListener, registry: Arc<Registry>) {
    let permits = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            // Out of file descriptors, most likely: wait for some to be freed.
            Err(_) => {
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(permit) = permits.clone().try_acquire_owned() else { continue };
        let registry = registry.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request| {
                let response = respond(&registry, &request);
                async move { Ok::<_, Infallible>(response) }
            });
            let connection = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), service);
            let _ = tokio::time::timeout(CONNECTION_LIMIT, connection).await;
            drop(permit);
        });
    }
}

fn respond<B>(registry: &Registry, request: &Request<B>) -> Response<Full<Bytes>> {
    let (status, content_type, body) = match (request.method(), request.uri().path()) {
        (&Method::GET, "/metrics") => (StatusCode::OK, CONTENT_TYPE, registry.render()),
        (_, "/metrics") => (StatusCode::METHOD_NOT_ALLOWED, "text/plain", "use GET\n".to_string()),
        _ => (StatusCode::NOT_FOUND, "text/plain", "suite serves /metrics\n".to_string()),
    };
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    if let Ok(value) = content_type.parse() {
        response.headers_mut().insert(hyper::header::CONTENT_TYPE, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_address_in_use_is_a_clear_error() {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = taken.local_addr().unwrap();
        let err = Endpoint::start(addr, Arc::default()).await.err().unwrap();
        assert_eq!(err, format!("cannot listen on {addr}: the address is in use"));
    }
}
