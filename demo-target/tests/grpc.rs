//! End-to-end tests of the gRPC API: the real `demo-target` binary with `--grpc-port 0`, called
//! with the tonic clients generated from the same protos (`build.rs`), and its `/grpc-log` and
//! `/control` read and set over plain HTTP/1.1.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;
use tonic::transport::Channel;
use tonic::{Code, Request};

// Generated code: its enums' names are the proto's.
#[allow(clippy::all)]
mod inference {
    tonic::include_proto!("inference");
}
#[allow(clippy::all)]
mod demo {
    tonic::include_proto!("demo.v1");
}

use demo::stream_client::StreamClient;
use demo::GenerateRequest;
use inference::grpc_inference_service_client::GrpcInferenceServiceClient;
use inference::model_infer_request::InferInputTensor;
use inference::*;

/// A running frontend; killed (with its workers) on drop.
struct Server {
    child: Child,
    port: u16,
    grpc_port: u16,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    fn start(extra: &[&str]) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_demo-target"))
            .args(["--port", "0", "--grpc-port", "0", "--workers", "1", "--work-ms", "1"])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start demo-target");
        let mut stderr = BufReader::new(child.stderr.take().unwrap());
        // The gRPC address is announced on stderr before the one stdout line.
        let grpc_port = loop {
            let mut l = String::new();
            assert!(stderr.read_line(&mut l).unwrap() > 0, "frontend exited early");
            if let Some(p) = l.trim().strip_prefix("demo-target gRPC API listening on 127.0.0.1:") {
                break p.parse().unwrap();
            }
        };
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        let port = line
            .trim()
            .strip_prefix("demo-target listening on 127.0.0.1:")
            .and_then(|r| r.split(' ').next())
            .unwrap_or_else(|| panic!("unexpected startup line {line:?}"))
            .parse()
            .unwrap();
        thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
        thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));
        Server { child, port, grpc_port }
    }

    async fn channel(&self) -> Channel {
        Channel::from_shared(format!("http://127.0.0.1:{}", self.grpc_port)).unwrap().connect().await.unwrap()
    }

    async fn inference(&self) -> GrpcInferenceServiceClient<Channel> {
        GrpcInferenceServiceClient::new(self.channel().await).max_decoding_message_size(64 << 20)
    }

    /// One HTTP/1.1 request on its own connection; the status and the body.
    fn http(&self, method: &str, path: &str) -> (u16, String) {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        write!(s, "{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").unwrap();
        let mut raw = String::new();
        s.read_to_string(&mut raw).unwrap();
        let (head, body) = raw.split_once("\r\n\r\n").unwrap();
        (head[9..12].parse().unwrap(), body.to_string())
    }

    fn grpc_log(&self) -> Vec<Value> {
        let (status, body) = self.http("GET", "/grpc-log");
        assert_eq!(status, 200);
        serde_json::from_str::<Value>(&body).unwrap().as_array().unwrap().clone()
    }
}

fn fp32_input(name: &str, shape: Vec<i64>, values: Vec<f32>) -> InferInputTensor {
    InferInputTensor {
        name: name.into(),
        datatype: "FP32".into(),
        shape,
        contents: Some(InferTensorContents { fp32_contents: values, ..Default::default() }),
        ..Default::default()
    }
}

#[tokio::test]
async fn health_and_metadata() {
    let server = Server::start(&[]);
    let mut c = server.inference().await;
    assert!(c.server_live(ServerLiveRequest {}).await.unwrap().into_inner().live);
    assert!(c.server_ready(ServerReadyRequest {}).await.unwrap().into_inner().ready);
    let meta = c.server_metadata(ServerMetadataRequest {}).await.unwrap().into_inner();
    assert_eq!(meta.name, "demo-target");

    let ready = c.model_ready(ModelReadyRequest { name: "squeezenet".into(), version: String::new() }).await;
    assert!(ready.unwrap().into_inner().ready);
    let missing = c.model_ready(ModelReadyRequest { name: "nope".into(), version: String::new() }).await.unwrap_err();
    assert_eq!(missing.code(), Code::NotFound);
    assert!(missing.message().contains("nope"), "{}", missing.message());

    let m = c.model_metadata(ModelMetadataRequest { name: "resnet-18".into(), version: String::new() }).await;
    let m = m.unwrap().into_inner();
    assert_eq!(
        (m.name.as_str(), m.platform.as_str(), m.versions.as_slice()),
        ("resnet-18", "demo", &["1.0".into()][..])
    );
    assert_eq!(m.inputs[0].datatype, "FP32");
    assert_eq!(m.outputs.iter().map(|t| t.name.as_str()).collect::<Vec<_>>(), ["scores", "classes"]);
    let err = c.model_metadata(ModelMetadataRequest { name: "nope".into(), version: String::new() }).await;
    assert_eq!(err.unwrap_err().code(), Code::NotFound);

    let log = server.grpc_log();
    let methods: Vec<&str> = log.iter().map(|e| e["method"].as_str().unwrap()).collect();
    assert_eq!(
        methods,
        [
            "/inference.GRPCInferenceService/ServerLive",
            "/inference.GRPCInferenceService/ServerReady",
            "/inference.GRPCInferenceService/ServerMetadata",
            "/inference.GRPCInferenceService/ModelReady",
            "/inference.GRPCInferenceService/ModelReady",
            "/inference.GRPCInferenceService/ModelMetadata",
            "/inference.GRPCInferenceService/ModelMetadata",
        ]
    );
    assert_eq!(log[4]["request"], serde_json::json!({ "name": "nope", "version": "" }));
    let (_, stats) = server.http("GET", "/stats");
    assert!(stats.contains(r#""/inference.GRPCInferenceService/ModelReady":2"#), "{stats}");
}

#[tokio::test]
async fn model_infer_runs_on_a_worker_and_is_logged() {
    let server = Server::start(&[]);
    let mut c = server.inference().await;

    // A small typed FP32 tensor, with metadata and parameters to find in the log.
    let mut req = Request::new(ModelInferRequest {
        model_name: "squeezenet".into(),
        id: "req-1".into(),
        inputs: vec![fp32_input("input", vec![1, 4], vec![0.5, 1.5, 2.5, 3.5])],
        parameters: [(
            "temperature".to_string(),
            InferParameter {
                parameter_choice: Some(inference::infer_parameter::ParameterChoice::StringParam("0.7".into())),
            },
        )]
        .into(),
        ..Default::default()
    });
    req.metadata_mut().insert("x-test-case", "small".parse().unwrap());
    let resp = c.model_infer(req).await.unwrap().into_inner();
    assert_eq!(
        (resp.model_name.as_str(), resp.model_version.as_str(), resp.id.as_str()),
        ("squeezenet", "1.0", "req-1")
    );
    let scores = &resp.outputs[0];
    assert_eq!(
        (scores.name.as_str(), scores.datatype.as_str(), scores.shape.as_slice()),
        ("scores", "FP32", &[1, 5][..])
    );
    let values = &scores.contents.as_ref().unwrap().fp32_contents;
    assert_eq!(values.len(), 5);
    assert!((values.iter().sum::<f32>() - 1.0).abs() < 1e-3, "{values:?}");
    assert_eq!(resp.outputs[1].contents.as_ref().unwrap().int64_contents.len(), 5);
    assert!(resp.parameters.contains_key("worker_pid"));

    // 1 MB of raw contents, asking for one output only.
    let raw = vec![7u8; 1 << 20];
    let mut input = fp32_input("input", vec![1, 1 << 18], Vec::new());
    input.contents = None;
    let req = ModelInferRequest {
        model_name: "resnet-18".into(),
        model_version: "2".into(),
        inputs: vec![input],
        outputs: vec![model_infer_request::InferRequestedOutputTensor { name: "scores".into(), ..Default::default() }],
        raw_input_contents: vec![raw],
        ..Default::default()
    };
    let resp = c.model_infer(req).await.unwrap().into_inner();
    assert_eq!(resp.model_version, "2");
    assert_eq!(resp.outputs.iter().map(|o| o.name.as_str()).collect::<Vec<_>>(), ["scores"]);
    assert_eq!(resp.outputs[0].shape, [1, 5]);

    // Raw contents of the wrong size, and an unknown model.
    let bad = ModelInferRequest {
        model_name: "squeezenet".into(),
        inputs: vec![fp32_input("input", vec![1, 4], Vec::new())],
        raw_input_contents: vec![vec![0; 15]],
        ..Default::default()
    };
    assert_eq!(c.model_infer(bad).await.unwrap_err().code(), Code::InvalidArgument);
    let unknown = ModelInferRequest { model_name: "nope".into(), ..Default::default() };
    let err = c.model_infer(unknown).await.unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    assert!(err.message().contains("nope"));

    let log = server.grpc_log();
    assert_eq!(log.len(), 4);
    let small = &log[0];
    assert_eq!(small["method"], "/inference.GRPCInferenceService/ModelInfer");
    assert_eq!(small["metadata"]["x-test-case"], "small");
    assert_eq!(small["metadata"]["content-type"], "application/grpc");
    let r = &small["request"];
    assert_eq!((r["model_name"].as_str(), r["id"].as_str()), (Some("squeezenet"), Some("req-1")));
    assert_eq!(r["parameters"], serde_json::json!({ "temperature": "0.7" }));
    assert_eq!(
        r["inputs"][0],
        serde_json::json!({
            "name": "input", "datatype": "FP32", "shape": [1, 4], "elements": 4, "contents": 4,
        "values": [0.5, 1.5, 2.5, 3.5], "parameters": {}
        })
    );
    let big = &log[1]["request"];
    assert_eq!(big["raw_input_contents"], serde_json::json!([{ "bytes": 1 << 20, "head": "07".repeat(16) }]));
    assert_eq!((big["model_version"].as_str(), big["outputs"][0].as_str()), (Some("2"), Some("scores")));
    assert_eq!(big["inputs"][0]["elements"], 1 << 18);
}

#[tokio::test]
async fn control_settings_apply_to_grpc_inferences() {
    let server = Server::start(&[]);
    let mut c = server.inference().await;
    let infer = || ModelInferRequest { model_name: "squeezenet".into(), ..Default::default() };

    assert_eq!(server.http("POST", "/control?status=503").0, 200);
    let err = c.model_infer(infer()).await.unwrap_err();
    assert_eq!(err.code(), Code::Unavailable);
    assert!(err.message().contains("503"), "{}", err.message());
    let mut stream = StreamClient::new(server.channel().await);
    let gen = GenerateRequest { model: "squeezenet".into(), prompt: "hi".into(), max_tokens: 1, token_delay_ms: 0 };
    assert_eq!(stream.generate(gen).await.unwrap_err().code(), Code::Unavailable);

    assert_eq!(server.http("POST", "/control?status=0&delay_ms=150").0, 200);
    let t = Instant::now();
    c.model_infer(infer()).await.unwrap();
    assert!(t.elapsed() >= Duration::from_millis(150), "{:?}", t.elapsed());
}

#[tokio::test]
async fn generate_streams_max_tokens_tokens_token_delay_apart() {
    let server = Server::start(&[]);
    let mut c = StreamClient::new(server.channel().await);
    let req = GenerateRequest { model: "squeezenet".into(), prompt: "hello".into(), max_tokens: 5, token_delay_ms: 40 };
    let mut stream = c.generate(req).await.unwrap().into_inner();
    let mut arrivals = Vec::new();
    let mut tokens = Vec::new();
    while let Some(token) = stream.message().await.unwrap() {
        arrivals.push(Instant::now());
        tokens.push(token);
    }
    assert_eq!(tokens.iter().map(|t| t.index).collect::<Vec<_>>(), [0, 1, 2, 3, 4]);
    assert!(tokens.iter().all(|t| !t.text.trim().is_empty()));
    for gap in arrivals.windows(2).map(|w| w[1] - w[0]) {
        assert!(gap >= Duration::from_millis(30) && gap < Duration::from_millis(400), "{gap:?}");
    }

    let unknown = GenerateRequest { model: "nope".into(), ..Default::default() };
    assert_eq!(c.generate(unknown).await.unwrap_err().code(), Code::NotFound);
    let too_many = GenerateRequest { model: "squeezenet".into(), max_tokens: 10_001, ..Default::default() };
    assert_eq!(c.generate(too_many).await.unwrap_err().code(), Code::InvalidArgument);

    let log = server.grpc_log();
    assert_eq!(log[0]["method"], "/demo.v1.Stream/Generate");
    assert_eq!(
        log[0]["request"],
        serde_json::json!({ "model": "squeezenet", "prompt": "hello", "prompt_bytes": 5, "max_tokens": 5, "token_delay_ms": 40 })
    );
}

#[tokio::test]
async fn messages_over_64_mib_are_refused() {
    let server = Server::start(&[]);
    let mut c = server.inference().await;
    let req = ModelInferRequest {
        model_name: "squeezenet".into(),
        inputs: vec![InferInputTensor { name: "input".into(), datatype: "BYTES".into(), ..Default::default() }],
        raw_input_contents: vec![vec![0; 64 << 20]],
        ..Default::default()
    };
    let err = c.model_infer(req).await.unwrap_err();
    assert_eq!(err.code(), Code::OutOfRange, "{err:?}");
    assert!(err.message().contains("too large"), "{}", err.message());
    assert!(server.grpc_log().is_empty(), "a refused message reaches no handler");
}
