//! The gRPC API (`--grpc-port`): KServe v2's `inference.GRPCInferenceService` (the Open Inference
//! Protocol, `proto/grpc_predict_v2.proto`) and demo-target's own server-streaming
//! `demo.v1.Stream` (`proto/demo_stream.proto`), served by tonic over plaintext HTTP/2.
//!
//! `ModelInfer` and `Generate` run through the same worker pool as `/predictions`
//! ([`Frontend::forward_prediction`]), so `--work-ms`, `--work-kind`, the workers and the
//! `/control` settings apply to them alike; a forced HTTP status becomes the gRPC status a model
//! server would answer with ([`code_for`]). Every call is recorded, as it arrived, for
//! `GET /grpc-log` on the HTTP port: its path, its metadata and the fields of its request.

use crate::control::MAX_MS;
use crate::frontend::Frontend;
use hyper::body::Bytes;
use indexmap::IndexMap;
use prost::Message as _;
use serde::Deserialize;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::metadata::KeyAndValueRef;
use tonic::transport::server::TcpIncoming;
use tonic::{Code, Request, Response, Status};

/// The code generated from `proto/` at build time (`build.rs`).
// The generated clients are for the tests, which include the same files.
#[allow(dead_code, clippy::all)]
pub mod proto {
    /// KServe v2 (`package inference`).
    pub mod inference {
        tonic::include_proto!("inference");
    }
    /// demo-target's streaming service (`package demo.v1`).
    pub mod demo {
        tonic::include_proto!("demo.v1");
    }
}

use proto::demo::stream_server::{Stream, StreamServer};
use proto::demo::{GenerateRequest, Token};
use proto::inference::grpc_inference_service_server::{GrpcInferenceService, GrpcInferenceServiceServer};
use proto::inference::infer_parameter::ParameterChoice;
use proto::inference::model_infer_response::InferOutputTensor;
use proto::inference::model_metadata_response::TensorMetadata;
use proto::inference::*;

/// Largest message decoded or encoded, the HTTP API's body cap (`docs/limits.md`); a larger
/// request is refused with OUT_OF_RANGE (tonic's code for it) before it reaches a handler.
pub const MAX_MESSAGE: usize = crate::http::MAX_BODY;
/// Most tokens one `Generate` call may ask for.
pub const MAX_TOKENS: u32 = 10_000;
/// Typed values, and bytes of each raw input, `/grpc-log` shows of a tensor (its first ones).
const LOG_VALUES: usize = 16;
/// Characters of a `Generate` prompt `/grpc-log` shows (its start).
const LOG_PROMPT: usize = 1_000;
/// The one version every model has (as `GET /models/{name}` says).
const MODEL_VERSION: &str = "1.0";
/// The words `Generate` makes its tokens of.
const WORDS: [&str; 16] = [
    "the", "model", "server", "answers", "with", "a", "token", "at", "time", "and", "load", "tests", "measure", "each",
    "gap", "between",
];

/// Serves the gRPC API on `listener` until the process exits.
pub async fn serve(listener: TcpListener, frontend: Arc<Frontend>) {
    let api = Api(frontend);
    let inference = GrpcInferenceServiceServer::new(api.clone())
        .max_decoding_message_size(MAX_MESSAGE)
        .max_encoding_message_size(MAX_MESSAGE);
    let stream = StreamServer::new(api).max_decoding_message_size(MAX_MESSAGE).max_encoding_message_size(MAX_MESSAGE);
    let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
    let server = tonic::transport::Server::builder().add_service(inference).add_service(stream);
    if let Err(e) = server.serve_with_incoming(incoming).await {
        log!("demo-target: the gRPC server stopped: {e}");
    }
}

/// The handlers of both services, over the frontend's state.
#[derive(Clone)]
struct Api(Arc<Frontend>);

impl Api {
    /// Keeps one call for `/grpc-log`: `{method, metadata, request}`.
    fn record<T>(&self, method: &str, req: &Request<T>, fields: Value) {
        let path = format!("/{method}");
        let entry = json!({ "method": path, "metadata": metadata(req), "request": fields });
        self.0.record_call(&path, &serde_json::to_vec(&entry).expect("plain data serializes"));
    }

    /// NOT_FOUND unless `model` is registered.
    fn registered(&self, model: &str) -> Result<(), Status> {
        if self.0.is_registered(model) {
            Ok(())
        } else {
            Err(Status::not_found(format!("model `{model}` is not registered")))
        }
    }

    /// One prediction on a worker, as `POST /predictions/{model}[/{version}]` with `body` runs it.
    async fn predict(&self, model: &str, version: &str, body: Bytes) -> Result<Prediction, Status> {
        let mut target = format!("/predictions/{}", encode(model));
        if !version.is_empty() {
            target = format!("{target}/{}", encode(version));
        }
        let resp = self.0.forward_prediction(model, &target, body).await;
        let status = resp.status().as_u16();
        let parsed = (status == 200).then(|| serde_json::from_slice::<Prediction>(resp.body()).ok()).flatten();
        parsed.ok_or_else(|| {
            let message = serde_json::from_slice::<Value>(resp.body())
                .ok()
                .and_then(|v| v.get("message").and_then(Value::as_str).map(str::to_owned))
                .unwrap_or_else(|| String::from_utf8_lossy(resp.body()).into_owned());
            Status::new(code_for(status), format!("HTTP {status}: {message}"))
        })
    }
}

/// The part of a worker's answer (`worker.rs`) the gRPC API returns.
#[derive(Deserialize)]
struct Prediction {
    worker_pid: u32,
    result: Vec<Score>,
    work_ms: f64,
}

#[derive(Deserialize)]
struct Score {
    class: String,
    probability: f64,
}

/// A path segment, percent-encoded.
fn encode(segment: &str) -> String {
    percent_encoding::utf8_percent_encode(segment, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// The gRPC status for an HTTP status, the reverse of google.rpc.Code's HTTP mapping: what a model
/// server behind a gateway answers. A forced 2xx or 3xx (not a prediction) is UNKNOWN.
pub fn code_for(http_status: u16) -> Code {
    match http_status {
        400 | 413 | 422 => Code::InvalidArgument,
        401 => Code::Unauthenticated,
        403 => Code::PermissionDenied,
        404 => Code::NotFound,
        408 | 504 => Code::DeadlineExceeded,
        409 => Code::Aborted,
        429 => Code::ResourceExhausted,
        499 => Code::Cancelled,
        501 => Code::Unimplemented,
        502 | 503 => Code::Unavailable,
        400..=499 => Code::FailedPrecondition,
        500..=599 => Code::Internal,
        _ => Code::Unknown,
    }
}

/// A call's metadata as `{key: value}`: every entry, repeated keys joined with ", ", binary
/// (`-bin`) values in their base64 wire form.
fn metadata<T>(req: &Request<T>) -> IndexMap<String, String> {
    let mut map: IndexMap<String, String> = IndexMap::new();
    for entry in req.metadata().iter() {
        let (key, value) = match entry {
            KeyAndValueRef::Ascii(k, v) => (k.as_str(), String::from_utf8_lossy(v.as_encoded_bytes()).into_owned()),
            KeyAndValueRef::Binary(k, v) => (k.as_str(), String::from_utf8_lossy(v.as_encoded_bytes()).into_owned()),
        };
        map.entry(key.to_string()).and_modify(|v| *v += &format!(", {value}")).or_insert(value);
    }
    map
}

fn parameters_json(params: &HashMap<String, InferParameter>) -> Value {
    let mut sorted: Vec<_> = params.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(b.0));
    let map = sorted.into_iter().map(|(k, p)| {
        let value = match &p.parameter_choice {
            Some(ParameterChoice::BoolParam(b)) => json!(b),
            Some(ParameterChoice::Int64Param(i)) => json!(i),
            Some(ParameterChoice::StringParam(s)) => json!(s),
            None => Value::Null,
        };
        (k.clone(), value)
    });
    Value::Object(map.collect())
}

/// How many typed values `contents` holds (in whichever field), and the first [`LOG_VALUES`].
fn contents_json(c: &InferTensorContents) -> (usize, Vec<Value>) {
    fn head<T: Clone + Into<Value>>(values: &[T]) -> (usize, Vec<Value>) {
        (values.len(), values.iter().take(LOG_VALUES).cloned().map(Into::into).collect())
    }
    let bytes: Vec<String> = c.bytes_contents.iter().map(|b| String::from_utf8_lossy(b).into_owned()).collect();
    [
        head(&c.bool_contents),
        head(&c.int_contents),
        head(&c.int64_contents),
        head(&c.uint_contents),
        head(&c.uint64_contents),
        head(&c.fp32_contents),
        head(&c.fp64_contents),
        head(&bytes),
    ]
    .into_iter()
    .find(|(n, _)| *n > 0)
    .unwrap_or_default()
}

/// Lower-case hex.
fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The elements a shape holds (its dimensions' product; 0 for a negative dimension).
fn elements(shape: &[i64]) -> u64 {
    shape.iter().map(|&d| u64::try_from(d).unwrap_or(0)).fold(1, u64::saturating_mul)
}

/// Bytes one element of `datatype` takes in raw contents (`None`: BYTES or unknown).
fn element_size(datatype: &str) -> Option<u64> {
    Some(match datatype {
        "BOOL" | "INT8" | "UINT8" => 1,
        "INT16" | "UINT16" | "FP16" | "BF16" => 2,
        "INT32" | "UINT32" | "FP32" => 4,
        "INT64" | "UINT64" | "FP64" => 8,
        _ => return None,
    })
}

/// What `/grpc-log` shows of a `ModelInfer` request: every field but the tensor data, of which it
/// gives the sizes and the first values (typed contents) or bytes (raw contents, in hex).
fn infer_json(r: &ModelInferRequest) -> Value {
    let inputs: Vec<Value> = r
        .inputs
        .iter()
        .map(|t| {
            let (count, values) = t.contents.as_ref().map(contents_json).unwrap_or_default();
            json!({
                "name": t.name,
                "datatype": t.datatype,
                "shape": t.shape,
                "elements": elements(&t.shape),
                "contents": count,
                "values": values,
                "parameters": parameters_json(&t.parameters),
            })
        })
        .collect();
    let outputs: Vec<&str> = r.outputs.iter().map(|o| o.name.as_str()).collect();
    let raw: Vec<Value> = r
        .raw_input_contents
        .iter()
        .map(|b| json!({ "bytes": b.len(), "head": hex(&b[..b.len().min(LOG_VALUES)]) }))
        .collect();
    json!({
        "model_name": r.model_name,
        "model_version": r.model_version,
        "id": r.id,
        "parameters": parameters_json(&r.parameters),
        "inputs": inputs,
        "outputs": outputs,
        "raw_input_contents": raw,
    })
}

/// INVALID_ARGUMENT for raw contents that do not match the inputs (their count, or a tensor's
/// byte length for its shape and data type).
fn check_raw(r: &ModelInferRequest) -> Result<(), Status> {
    if r.raw_input_contents.is_empty() {
        return Ok(());
    }
    if r.raw_input_contents.len() != r.inputs.len() {
        return Err(Status::invalid_argument(format!(
            "{} raw_input_contents for {} inputs",
            r.raw_input_contents.len(),
            r.inputs.len()
        )));
    }
    for (t, raw) in r.inputs.iter().zip(&r.raw_input_contents) {
        if t.contents.is_some() {
            return Err(Status::invalid_argument(format!("input `{}` has both contents and raw contents", t.name)));
        }
        let expected = element_size(&t.datatype).map(|size| elements(&t.shape).saturating_mul(size));
        if let Some(expected) = expected.filter(|&n| n != raw.len() as u64) {
            return Err(Status::invalid_argument(format!(
                "input `{}` ({} {:?}) needs {expected} bytes of raw contents, got {}",
                t.name,
                t.datatype,
                t.shape,
                raw.len()
            )));
        }
    }
    Ok(())
}

fn tensor(name: &str, datatype: &str, shape: Vec<i64>) -> TensorMetadata {
    TensorMetadata { name: name.into(), datatype: datatype.into(), shape }
}

fn int64_param(v: i64) -> InferParameter {
    InferParameter { parameter_choice: Some(ParameterChoice::Int64Param(v)) }
}

fn string_param(v: String) -> InferParameter {
    InferParameter { parameter_choice: Some(ParameterChoice::StringParam(v)) }
}

#[tonic::async_trait]
impl GrpcInferenceService for Api {
    async fn server_live(&self, req: Request<ServerLiveRequest>) -> Result<Response<ServerLiveResponse>, Status> {
        self.record("inference.GRPCInferenceService/ServerLive", &req, json!({}));
        Ok(Response::new(ServerLiveResponse { live: true }))
    }

    /// Ready while the pool has a worker.
    async fn server_ready(&self, req: Request<ServerReadyRequest>) -> Result<Response<ServerReadyResponse>, Status> {
        self.record("inference.GRPCInferenceService/ServerReady", &req, json!({}));
        Ok(Response::new(ServerReadyResponse { ready: self.0.worker_count() > 0 }))
    }

    /// A registered model is ready (any version, as `/predictions` takes any).
    async fn model_ready(&self, req: Request<ModelReadyRequest>) -> Result<Response<ModelReadyResponse>, Status> {
        let r = req.get_ref();
        self.record("inference.GRPCInferenceService/ModelReady", &req, json!({ "name": r.name, "version": r.version }));
        self.registered(&r.name)?;
        Ok(Response::new(ModelReadyResponse { ready: true }))
    }

    async fn server_metadata(
        &self,
        req: Request<ServerMetadataRequest>,
    ) -> Result<Response<ServerMetadataResponse>, Status> {
        self.record("inference.GRPCInferenceService/ServerMetadata", &req, json!({}));
        Ok(Response::new(ServerMetadataResponse {
            name: "demo-target".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            extensions: Vec::new(),
        }))
    }

    /// Every model takes any bytes (an FP32 batch by convention) and answers five scores.
    async fn model_metadata(
        &self,
        req: Request<ModelMetadataRequest>,
    ) -> Result<Response<ModelMetadataResponse>, Status> {
        let r = req.get_ref();
        self.record(
            "inference.GRPCInferenceService/ModelMetadata",
            &req,
            json!({ "name": r.name, "version": r.version }),
        );
        self.registered(&r.name)?;
        Ok(Response::new(ModelMetadataResponse {
            name: r.name.clone(),
            versions: vec![MODEL_VERSION.into()],
            platform: "demo".into(),
            inputs: vec![tensor("input", "FP32", vec![-1, -1])],
            outputs: vec![tensor("scores", "FP32", vec![-1, 5]), tensor("classes", "INT64", vec![-1, 5])],
        }))
    }

    /// The worker hashes the raw input contents (or, without them, the encoded request) for
    /// `--work-ms`; its five scores come back as `scores` (FP32 [1, 5]) and `classes`
    /// (INT64 [1, 5]), the worker's pid and work as parameters.
    async fn model_infer(&self, req: Request<ModelInferRequest>) -> Result<Response<ModelInferResponse>, Status> {
        self.record("inference.GRPCInferenceService/ModelInfer", &req, infer_json(req.get_ref()));
        let r = req.into_inner();
        self.registered(&r.model_name)?;
        check_raw(&r)?;
        let body = if r.raw_input_contents.is_empty() { r.encode_to_vec() } else { r.raw_input_contents.concat() };
        let p = self.predict(&r.model_name, &r.model_version, body.into()).await?;
        let n = p.result.len() as i64;
        let scores = InferTensorContents {
            fp32_contents: p.result.iter().map(|s| s.probability as f32).collect(),
            ..Default::default()
        };
        let classes = InferTensorContents {
            int64_contents: p
                .result
                .iter()
                .map(|s| s.class.trim_start_matches("class_").parse().unwrap_or(-1))
                .collect(),
            ..Default::default()
        };
        let mut outputs = vec![
            InferOutputTensor {
                name: "scores".into(),
                datatype: "FP32".into(),
                shape: vec![1, n],
                parameters: HashMap::new(),
                contents: Some(scores),
            },
            InferOutputTensor {
                name: "classes".into(),
                datatype: "INT64".into(),
                shape: vec![1, n],
                parameters: HashMap::new(),
                contents: Some(classes),
            },
        ];
        if !r.outputs.is_empty() {
            outputs.retain(|o| r.outputs.iter().any(|want| want.name == o.name));
        }
        let parameters = HashMap::from([
            ("worker_pid".to_string(), int64_param(i64::from(p.worker_pid))),
            ("work_ms".to_string(), string_param(p.work_ms.to_string())),
        ]);
        let version = if r.model_version.is_empty() { MODEL_VERSION.into() } else { r.model_version };
        Ok(Response::new(ModelInferResponse {
            model_name: r.model_name,
            model_version: version,
            id: r.id,
            parameters,
            outputs,
            raw_output_contents: Vec::new(),
        }))
    }
}

/// A stream of tokens, or of the status that ended it.
type TokenStream = Pin<Box<dyn tokio_stream::Stream<Item = Result<Token, Status>> + Send>>;

#[tonic::async_trait]
impl Stream for Api {
    type GenerateStream = TokenStream;

    /// The prompt runs through a worker first (one prediction: its time is the time to the
    /// first token, and `/control` applies); then `max_tokens` tokens, `token_delay_ms` apart.
    async fn generate(&self, req: Request<GenerateRequest>) -> Result<Response<TokenStream>, Status> {
        let r = req.get_ref();
        let fields = json!({
            "model": r.model,
            "prompt": r.prompt.chars().take(LOG_PROMPT).collect::<String>(),
            "prompt_bytes": r.prompt.len(),
            "max_tokens": r.max_tokens,
            "token_delay_ms": r.token_delay_ms,
        });
        self.record("demo.v1.Stream/Generate", &req, fields);
        let r = req.into_inner();
        self.registered(&r.model)?;
        if r.max_tokens > MAX_TOKENS {
            return Err(Status::invalid_argument(format!("max_tokens must be at most {MAX_TOKENS}")));
        }
        if u64::from(r.token_delay_ms) > MAX_MS {
            return Err(Status::invalid_argument(format!("token_delay_ms must be at most {MAX_MS}")));
        }
        self.predict(&r.model, "", Bytes::from(r.prompt.clone())).await?;
        // The prompt picks where in the word list the answer starts.
        let seed = r.prompt.bytes().fold(0usize, |h, b| h.wrapping_mul(31).wrapping_add(usize::from(b)));
        let (tx, rx) = mpsc::channel(16);
        tokio::spawn(async move {
            for index in 0..r.max_tokens {
                if index > 0 && r.token_delay_ms > 0 {
                    tokio::time::sleep(Duration::from_millis(u64::from(r.token_delay_ms))).await;
                }
                let word = WORDS[seed.wrapping_add(index as usize * 7) % WORDS.len()];
                let text = if index == 0 { word.to_string() } else { format!(" {word}") };
                if tx.send(Ok(Token { index, text })).await.is_err() {
                    return; // the client went away
                }
            }
        });
        Ok(Response::new(Box::pin(ReceiverStream::new(rx))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proto::inference::model_infer_request::InferInputTensor;

    #[test]
    fn http_statuses_map_to_grpc_codes() {
        assert_eq!(code_for(503), Code::Unavailable);
        assert_eq!(code_for(404), Code::NotFound);
        assert_eq!(code_for(429), Code::ResourceExhausted);
        assert_eq!(code_for(418), Code::FailedPrecondition);
        assert_eq!(code_for(500), Code::Internal);
        assert_eq!(code_for(200), Code::Unknown);
    }

    fn input(datatype: &str, shape: Vec<i64>) -> InferInputTensor {
        InferInputTensor { name: "x".into(), datatype: datatype.into(), shape, ..Default::default() }
    }

    #[test]
    fn raw_contents_must_fit_their_inputs() {
        let mut r = ModelInferRequest {
            inputs: vec![input("FP32", vec![2, 3])],
            raw_input_contents: vec![vec![0; 24]],
            ..Default::default()
        };
        assert!(check_raw(&r).is_ok());
        r.raw_input_contents[0].pop();
        assert_eq!(check_raw(&r).unwrap_err().code(), Code::InvalidArgument);
        r.inputs[0].datatype = "BYTES".into();
        assert!(check_raw(&r).is_ok(), "BYTES tensors have no fixed size");
        r.raw_input_contents.push(Vec::new());
        assert_eq!(check_raw(&r).unwrap_err().code(), Code::InvalidArgument);
    }

    #[test]
    fn the_log_shows_sizes_and_the_first_values() {
        let r = ModelInferRequest {
            model_name: "m".into(),
            inputs: vec![input("FP32", vec![1, 4])],
            raw_input_contents: vec![vec![0; 16]],
            parameters: HashMap::from([("b".into(), int64_param(2)), ("a".into(), string_param("x".into()))]),
            ..Default::default()
        };
        let j = infer_json(&r);
        assert_eq!(j["inputs"][0]["elements"], 4);
        assert_eq!(j["raw_input_contents"], json!([{ "bytes": 16, "head": "00".repeat(16) }]));
        assert_eq!(serde_json::to_string(&j["parameters"]).unwrap(), r#"{"a":"x","b":2}"#);
        let many = InferTensorContents { int64_contents: (0..100).collect(), ..Default::default() };
        let (count, values) = contents_json(&many);
        assert_eq!((count, values.len(), &values[15]), (100, LOG_VALUES, &json!(15)));
        assert_eq!(contents_json(&InferTensorContents::default()), (0, Vec::new()));
    }
}
