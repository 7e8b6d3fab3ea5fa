//! The HTTP layer shared by the frontend and the workers, on hyper: an accept
//! loop that serves every connection on its own task, and the request and
//! response types the handlers see (bodies already read into memory; a
//! response body is whole, or [`streamed`] piece by piece from a channel).

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Body, Bytes, Frame, Incoming, SizeHint};
use hyper::client::conn::http1 as http1_client;
use hyper::header::{HeaderValue, CONNECTION, CONTENT_TYPE, SERVER};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::StatusCode;
use hyper_util::rt::{TokioIo, TokioTimer};
use serde::Serialize;
use tokio::net::{TcpListener, TcpStream, ToSocketAddrs};
use tokio::sync::mpsc;

/// Largest request body we accept (Content-Length or decoded chunked).
pub const MAX_BODY: usize = 64 * 1024 * 1024;

/// A request whose body has been read.
pub type Request = hyper::Request<Bytes>;
/// A response with its whole body.
pub type Response = hyper::Response<Bytes>;

/// Why a client call failed.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A keep-alive client connection.
pub type Client = http1_client::SendRequest<Full<Bytes>>;

/// Opens a client connection to `addr`; a task drives it until either side drops it.
pub async fn connect(addr: impl ToSocketAddrs) -> Result<Client, BoxError> {
    let stream = TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let (conn, driver) = http1_client::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(driver);
    Ok(conn)
}

/// Accepts connections forever, serving each on its own task with `handler`.
/// `idle_timeout` closes connections that send no request head for that long.
///
/// A connection costs one descriptor (the socket), so 10,000 clients fit in a
/// 20,000-descriptor limit.
pub async fn serve<H, F>(listener: TcpListener, idle_timeout: Option<Duration>, handler: H)
where
    H: Fn(Request) -> F + Send + Sync + 'static,
    F: Future<Output = Response> + Send + 'static,
{
    let handler = Arc::new(handler);
    let mut http = http1::Builder::new();
    // Title-Case names and no Date header: the response bytes suites and tests were written against.
    http.timer(TokioTimer::new()).header_read_timeout(idle_timeout).title_case_headers(true).auto_date_header(false);
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(e) => {
                // EMFILE and friends: wait for descriptors to free up.
                log!("demo-target: accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let handler = Arc::clone(&handler);
        let service = service_fn(move |req| read_then_handle(Arc::clone(&handler), req));
        let conn = http.serve_connection(TokioIo::new(stream), service);
        tokio::spawn(async move {
            // Broken or timed-out connections just end; hyper answers malformed requests itself.
            let _ = conn.await;
        });
    }
}

/// Reads the whole request body (at most [`MAX_BODY`]), then calls the handler.
async fn read_then_handle<H, F>(
    handler: Arc<H>,
    req: hyper::Request<Incoming>,
) -> Result<hyper::Response<Out>, Infallible>
where
    H: Fn(Request) -> F,
    F: Future<Output = Response>,
{
    let (head, body) = req.into_parts();
    let mut resp = match Limited::new(body, MAX_BODY).collect().await {
        Ok(body) => handler(Request::from_parts(head, body.to_bytes())).await,
        Err(e) => {
            let too_large = e.is::<http_body_util::LengthLimitError>();
            let status = if too_large { 413 } else { 400 };
            let mut resp = text(status, format!("{e}\n"));
            resp.headers_mut().insert(CONNECTION, HeaderValue::from_static("close"));
            resp
        }
    };
    let pieces = resp.extensions_mut().remove::<Pieces>().and_then(|p| p.0.lock().ok()?.take());
    Ok(match pieces {
        Some(rx) => resp.map(|_| Out::Pieces(rx)),
        None => resp.map(|body| Out::Whole(Full::new(body))),
    })
}

/// The receiving end of a [`streamed`] response, carried in the response's extensions until
/// [`read_then_handle`] turns it into the body (extensions must be `Clone`, hence the wrapper).
#[derive(Clone)]
struct Pieces(Arc<Mutex<Option<mpsc::Receiver<Bytes>>>>);

/// A response whose body is written as it is produced: every piece sent on the returned channel
/// goes out at once as one chunk (`Transfer-Encoding: chunked`); dropping the sender ends it.
pub fn streamed(status: u16, content_type: &str) -> (Response, mpsc::Sender<Bytes>) {
    let (tx, rx) = mpsc::channel(16);
    let mut resp = response(status, content_type, Bytes::new());
    resp.extensions_mut().insert(Pieces(Arc::new(Mutex::new(Some(rx)))));
    (resp, tx)
}

/// A response body as hyper sends it: whole (with its length), or pieces from a channel.
enum Out {
    Whole(Full<Bytes>),
    Pieces(mpsc::Receiver<Bytes>),
}

impl Body for Out {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match self.get_mut() {
            Out::Whole(full) => Pin::new(full).poll_frame(cx),
            Out::Pieces(rx) => rx.poll_recv(cx).map(|piece| piece.map(|b| Ok(Frame::data(b)))),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Out::Whole(full) => full.is_end_stream(),
            Out::Pieces(_) => false,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Out::Whole(full) => full.size_hint(),
            Out::Pieces(_) => SizeHint::default(),
        }
    }
}

/// A response with the `Server` header and, unless the status forbids a body
/// (204, 304), the body and its content type.
pub fn response(status: u16, content_type: &str, body: impl Into<Bytes>) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut resp = hyper::Response::new(Bytes::new());
    *resp.status_mut() = status;
    resp.headers_mut().insert(SERVER, HeaderValue::from_static("demo-target"));
    if status != StatusCode::NO_CONTENT && status != StatusCode::NOT_MODIFIED {
        if let Ok(ctype) = HeaderValue::from_str(content_type) {
            resp.headers_mut().insert(CONTENT_TYPE, ctype);
        }
        *resp.body_mut() = body.into();
    }
    resp
}

/// A JSON response.
pub fn json(status: u16, value: &impl Serialize) -> Response {
    let body = serde_json::to_vec(value).expect("plain data serializes");
    response(status, "application/json", body)
}

/// A plain-text response.
pub fn text(status: u16, body: impl Into<Bytes>) -> Response {
    response(status, "text/plain; charset=utf-8", body)
}

/// The MMS/TorchServe error body: `{"code": N, "type": "...", "message": "..."}`.
pub fn error(status: u16, kind: &str, message: &str) -> Response {
    #[derive(Serialize)]
    struct Error<'a> {
        code: u16,
        #[serde(rename = "type")]
        kind: &'a str,
        message: &'a str,
    }
    json(status, &Error { code: status, kind, message })
}

/// `GET /ping`: `{"status": "Healthy"}`.
pub fn healthy() -> Response {
    response(200, "application/json", r#"{"status": "Healthy"}"#)
}

/// Decoded `(name, value)` pairs of an `a=1&b=two` query string or form body.
pub fn query_pairs(query: &str) -> Vec<(String, String)> {
    form_urlencoded::parse(query.as_bytes()).into_owned().collect()
}

/// The request's decoded query parameters.
pub fn query(req: &Request) -> Vec<(String, String)> {
    query_pairs(req.uri().query().unwrap_or_default())
}

/// Decoded value of the first query parameter called `name`.
pub fn query_param(req: &Request, name: &str) -> Option<String> {
    query(req).into_iter().find(|(k, _)| k == name).map(|(_, v)| v)
}

/// Decodes `%XX` escapes in a path segment (lossy UTF-8).
pub fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s).decode_utf8_lossy().into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_body_statuses_drop_body_and_type() {
        let r = text(204, "ignored");
        assert!(r.body().is_empty() && r.headers().get(CONTENT_TYPE).is_none());
        assert_eq!(r.headers()[SERVER], "demo-target");
        let r = error(404, "X", "m\"");
        assert_eq!(r.body().as_ref(), br#"{"code":404,"type":"X","message":"m\""}"#);
    }

    #[test]
    fn percent_decoding() {
        assert_eq!(
            query_pairs("a=1&&b&c=%41+x"),
            [("a", "1"), ("b", ""), ("c", "A x")].map(|(k, v)| (k.into(), v.into()))
        );
        assert_eq!(percent_decode("a%2Fb%zz"), "a/b%zz");
    }
}
