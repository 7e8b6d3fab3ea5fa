//! A planned gRPC call: the method found in a descriptor pool compiled at plan time (from
//! `.proto` files by protox, or a protoset), its request already encoded when it has no
//! `${name}` placeholders, and what the engine needs to send it and judge the response.
//!
//! gRPC status codes travel in [`crate::sample::Sample::status`] above HTTP's range (see
//! [`crate::sample::GRPC_STATUS`]), so reports and criteria spell them `OK`, `UNAVAILABLE`, ...

use std::time::Duration;

use bytes::{Buf, BufMut, Bytes};
use http::{HeaderName, HeaderValue};
use prost::Message as _;
use prost_reflect::{DynamicMessage, MessageDescriptor};
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::Status;

use super::checks::{Assertion, Extractor};
use super::scenario::{Template, ThinkTime, Value};

/// Most bytes of one response message the engine decodes (and checks see as JSON).
pub const MAX_MESSAGE: usize = 16 * 1024 * 1024;

/// One gRPC call of a scenario.
#[derive(Debug)]
pub struct GrpcPlan {
    /// Index into the plan's label table.
    pub label: u32,
    /// Which channel set of the execution the call uses (one per call in the scenario).
    pub channels: usize,
    /// Where the channels go: `http://host:port` (h2c) or `https://host:port` (TLS, ALPN h2).
    pub address: http::Uri,
    /// Over TLS (`grpcs://`).
    pub tls: bool,
    /// How many channels the execution's users share, used in turn.
    pub connections: usize,
    /// `/package.Service/Method`.
    pub path: http::uri::PathAndQuery,
    /// The request message type.
    pub input: MessageDescriptor,
    /// The response message type.
    pub output: MessageDescriptor,
    /// The server sends a stream of messages.
    pub server_streaming: bool,
    /// The client sends a stream of messages (`body` is a list of them).
    pub client_streaming: bool,
    /// Metadata sent with the call.
    pub metadata: Vec<(HeaderName, Value<HeaderValue>)>,
    /// The request messages (one, or a client stream's in order): each encoded once, or
    /// canonical JSON rendered and encoded per call.
    pub body: Vec<Value<Bytes>>,
    /// Deadline of the call (sent as `grpc-timeout` and enforced here).
    pub timeout: Duration,
    /// Pause before sending.
    pub think_time: Option<ThinkTime>,
    /// Checks on the response in canonical JSON.
    pub assertions: Vec<Assertion>,
    /// Values taken from the response into user variables.
    pub extractors: Vec<Extractor>,
}

impl GrpcPlan {
    /// The request encoded from canonical JSON `text`, or why it does not fit the message (the
    /// field path at fault).
    pub fn encode(&self, text: &str) -> Result<Bytes, String> {
        encode(&self.input, text)
    }

    /// A response message as canonical JSON text, for checks.
    pub fn decode(&self, bytes: &[u8]) -> Result<String, String> {
        let message = DynamicMessage::decode(self.output.clone(), bytes)
            .map_err(|e| format!("the response is not a `{}`: {e}", self.output.full_name()))?;
        serde_json::to_string(&message).map_err(|e| e.to_string())
    }
}

/// Encodes canonical JSON `text` as a `message`; the error names the field path at fault.
pub fn encode(message: &MessageDescriptor, text: &str) -> Result<Bytes, String> {
    let mut de = serde_json::Deserializer::from_str(text);
    let msg = DynamicMessage::deserialize(message.clone(), &mut de).map_err(|e| e.to_string())?;
    de.end().map_err(|e| e.to_string())?;
    Ok(Bytes::from(msg.encode_to_vec()))
}

/// A body that is `${name}` placeholders and JSON, kept for rendering per call.
pub fn body(text: &str, message: &MessageDescriptor) -> Result<Value<Bytes>, String> {
    let template = Template::parse(text);
    if template.is_literal() {
        return encode(message, text).map(Value::Fixed);
    }
    Ok(Value::Template(template))
}

/// Sends pre-encoded messages and hands back received ones undecoded.
#[derive(Clone, Copy, Debug, Default)]
pub struct BytesCodec;

impl Codec for BytesCodec {
    type Encode = Bytes;
    type Decode = Bytes;
    type Encoder = BytesCodec;
    type Decoder = BytesCodec;

    fn encoder(&mut self) -> Self::Encoder {
        BytesCodec
    }

    fn decoder(&mut self) -> Self::Decoder {
        BytesCodec
    }
}

impl Encoder for BytesCodec {
    type Item = Bytes;
    type Error = Status;

    fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put(item);
        Ok(())
    }
}

impl Decoder for BytesCodec {
    type Item = Bytes;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Bytes>, Status> {
        Ok(Some(src.copy_to_bytes(src.remaining())))
    }
}
