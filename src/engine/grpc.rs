//! gRPC calls over HTTP/2 with tonic: plaintext (h2c), or TLS through suite's rustls set-up
//! ([`crate::tls`]). The request messages go out as the bytes the plan encoded ([`BytesCodec`], so nothing
//! is encoded again per call) and responses come back as bytes, decoded to JSON only when a check
//! reads them. Every kind of call (unary, server, client or bidirectional streaming) is sent as a
//! stream of messages. An execution's users share `connections` channels per call, taken in turn.

use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::HeaderMap;
use tonic::metadata::MetadataMap;
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Status};

use crate::plan::grpc::{BytesCodec, GrpcPlan, MAX_MESSAGE};
use crate::plan::scenario::HttpVersion;
use crate::sample::{ErrorKind, StreamTimes};

/// The channels of one call of an execution, used in turn by its users.
pub struct Channels {
    list: Vec<Channel>,
    next: AtomicUsize,
}

impl Channels {
    /// `plan.connections` channels to `plan.address`, each connecting on its first call (and
    /// again after the connection drops); over TLS with the engine's rustls set-up (the
    /// scenario's `tls-verify`), or why that cannot be set up.
    pub fn new(plan: &GrpcPlan, tls_verify: bool) -> Result<Self, String> {
        let tls = if plan.tls { Some(crate::tls::config(tls_verify, HttpVersion::Auto)?) } else { None };
        let list = (0..plan.connections.max(1))
            .map(|_| {
                let endpoint = Endpoint::from(plan.address.clone()).connect_timeout(plan.timeout);
                match &tls {
                    Some(config) => endpoint.connect_with_connector_lazy(crate::tls::connector(config.clone())),
                    None => endpoint.connect_lazy(),
                }
            })
            .collect();
        Ok(Channels { list, next: AtomicUsize::new(0) })
    }

    /// The next channel in turn.
    pub fn pick(&self) -> Channel {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.list.len();
        self.list[i].clone()
    }
}

/// What one call came back with.
#[derive(Debug, Default)]
pub struct Outcome {
    /// The gRPC status code (0 is `OK`).
    pub code: u16,
    /// The status message of a call that did not end `OK`.
    pub message: Option<String>,
    /// The transport's failure under a status it made (connection refused, TLS), if any.
    pub kind: Option<ErrorKind>,
    /// Until the response headers, µs.
    pub ttfb_us: u64,
    /// Until the call ended (trailers read), µs.
    pub elapsed_us: u64,
    /// Message bytes received (with their 5-byte gRPC frames).
    pub bytes: u64,
    /// Messages received.
    pub messages: u64,
    /// The response messages checks read: the message of a unary call; the messages of a stream
    /// (up to [`MAX_MESSAGE`] bytes of them). Empty when `keep` was false.
    pub kept: Vec<Bytes>,
    /// A server stream's messages, timed as streamed HTTP responses' events are (each message an
    /// event: time to the first, gaps between them); `None` for other calls and failed streams.
    pub stream: Option<Box<StreamTimes>>,
}

/// Calls `plan`'s method on `channel` with the encoded `request` messages and `metadata`,
/// within the plan's deadline; keeps the response messages when `keep`.
pub async fn call(channel: Channel, plan: &GrpcPlan, request: Vec<Bytes>, metadata: HeaderMap, keep: bool) -> Outcome {
    let start = Instant::now();
    let mut out = Outcome::default();
    let result =
        tokio::time::timeout(plan.timeout, exchange(channel, plan, request, metadata, keep, start, &mut out)).await;
    out.elapsed_us = micros(start.elapsed());
    let deadline = || Status::deadline_exceeded(format!("no answer within the deadline of {:?}", plan.timeout));
    let status = match result {
        Ok(Ok(())) => return out,
        // tonic's own `grpc-timeout` timer cancels the call: past the deadline, that is its code.
        Ok(Err(status)) if status.code() == Code::Cancelled && start.elapsed() >= plan.timeout => deadline(),
        Ok(Err(status)) => status,
        Err(_) => deadline(),
    };
    out.code = status.code() as u16;
    let (kind, deepest) = cause(&status);
    out.kind = kind;
    let message = status.message();
    let message = if message.is_empty() { format!("{:?}", status.code()) } else { message.to_string() };
    out.message =
        Some(if deepest.is_empty() || message.contains(&deepest) { message } else { format!("{message}: {deepest}") });
    out
}

/// What lies under a status that the transport made (connection refused, a TLS handshake
/// refused): its class, and its deepest cause as text ("transport error" alone says nothing).
fn cause(status: &Status) -> (Option<ErrorKind>, String) {
    let mut kind = None;
    let mut deepest = String::new();
    let mut next: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(status);
    while let Some(e) = next {
        if let Some(io) = e.downcast_ref::<io::Error>() {
            if io.kind() == io::ErrorKind::ConnectionRefused {
                kind = Some(ErrorKind::ConnectRefused);
            }
            if io.get_ref().is_some_and(|inner| inner.is::<rustls::Error>()) {
                kind = Some(ErrorKind::Tls);
            }
        }
        if e.is::<rustls::Error>() {
            kind = Some(ErrorKind::Tls);
        }
        deepest = e.to_string();
        next = e.source();
    }
    (kind, deepest)
}

async fn exchange(
    channel: Channel,
    plan: &GrpcPlan,
    request: Vec<Bytes>,
    metadata: HeaderMap,
    keep: bool,
    start: Instant,
    out: &mut Outcome,
) -> Result<(), Status> {
    let mut client = tonic::client::Grpc::new(channel).max_decoding_message_size(MAX_MESSAGE);
    client.ready().await.map_err(|e| Status::unavailable(format!("cannot connect: {e}")))?;
    // Every kind of call goes out as a stream of messages (one for a unary call): the wire is the same.
    let mut req = tonic::Request::new(futures_util::stream::iter(request));
    *req.metadata_mut() = MetadataMap::from_headers(metadata);
    req.set_timeout(plan.timeout);
    let response = client.streaming(req, plan.path.clone(), BytesCodec).await?;
    out.ttfb_us = micros(start.elapsed());
    let mut stream = response.into_inner();
    let mut kept_bytes = 0usize;
    let mut times = StreamTimes::default();
    while let Some(message) = stream.message().await? {
        if plan.server_streaming {
            times.time(micros(start.elapsed()));
            times.events = times.events.saturating_add(1);
        }
        out.messages += 1;
        out.bytes += message.len() as u64 + 5;
        if keep && kept_bytes + message.len() <= MAX_MESSAGE {
            kept_bytes += message.len();
            out.kept.push(message);
        }
    }
    if out.messages == 0 && !plan.server_streaming {
        return Err(Status::internal("the server ended a unary call without a message"));
    }
    // As for streamed HTTP responses: a stream that sent nothing has no stream figures.
    if times.first_us.is_some() {
        out.stream = Some(Box::new(times));
    }
    Ok(())
}

fn micros(d: Duration) -> u64 {
    d.as_micros() as u64
}

/// Whether a status code ended the call without an answer in time.
pub fn is_deadline(code: u16) -> bool {
    code == Code::DeadlineExceeded as u16
}
