//! gRPC calls in scenarios against demo-target's KServe v2 API (`--grpc-port`): what the server
//! received (`/grpc-log`), what the samples recorded (gRPC status names as response codes in
//! `final_stats.csv` and `summary.json`), criteria on them, and bad input refused before load.

use std::collections::HashMap;
use std::time::Duration;

use crate::util::artifacts::{self, stat, Row};
use crate::util::{repo, DemoTarget, Output, Project};

const LIMIT: Duration = Duration::from_secs(60);

fn run(p: &Project, yaml: &str) -> Output {
    p.run_test(yaml, LIMIT)
}

/// `final_stats.csv` of test `s`, as label → row.
fn final_stats(out: &Output) -> HashMap<String, Row> {
    artifacts::final_stats_by_label(&out.run_dir().join("s/final_stats.csv"))
}

fn proto(name: &str) -> String {
    repo().join("demo-target/proto").join(name).display().to_string()
}

/// A KServe v2 `ModelInfer` suite: two users, five iterations each, two channels.
fn infer_suite(demo: &DemoTarget, criteria: &str) -> String {
    format!(
        r#"execution:
- concurrency: 2
  iterations: 5
  scenario: s
scenarios:
  s:
    variables:
      model: squeezenet
    requests:
    - url: {url}
      label: infer
      grpc:
        method: inference.GRPCInferenceService/ModelInfer
        proto: {proto}
        metadata:
          x-test-case: suite
        connections: 2
      body:
        model_name: ${{model}}
        id: req-1
        inputs:
        - name: input
          datatype: FP32
          shape: [1, 4]
          contents: {{fp32_contents: [0.5, 1.5, 2.5, 3.5]}}
      timeout: 5s
      assert-jsonpath:
      - jsonpath: $.modelName
        expected-value: squeezenet
      extract-jsonpath:
        version: $.modelVersion
    - url: {url}
      label: ready
      grpc:
        method: inference.GRPCInferenceService/ModelReady
        proto: {proto}
        metadata:
          x-version: ${{version}}
      body: '{{"name": "squeezenet"}}'
      assert:
      - contains: ['"ready":true']
        subject: body
reporting:
- module: passfail
  criteria: [{criteria}]
"#,
        url = demo.grpc_url(),
        proto = proto("grpc_predict_v2.proto"),
    )
}

#[test]
fn model_infer_calls_reach_the_server_and_record_ok() {
    let demo = DemoTarget::start_grpc(&["--workers", "1", "--work-ms", "1"]);
    let p = Project::new();
    let out = run(&p, &infer_suite(&demo, "'avg-rt of infer>10s', 'fail>0%'"));
    assert_eq!(out.code, 0, "{out}");

    let log = demo.grpc_log();
    let infers: Vec<_> = log.iter().filter(|c| c["method"] == "/inference.GRPCInferenceService/ModelInfer").collect();
    assert_eq!(infers.len(), 10, "{log:?}");
    let first = infers[0];
    assert_eq!(first["metadata"]["x-test-case"], "suite");
    assert!(first["metadata"]["grpc-timeout"].is_string(), "the deadline is sent: {first}");
    let r = &first["request"];
    assert_eq!((r["model_name"].as_str(), r["id"].as_str()), (Some("squeezenet"), Some("req-1")));
    let input = &r["inputs"][0];
    assert_eq!((input["datatype"].as_str(), &input["shape"]), (Some("FP32"), &serde_json::json!([1, 4])));
    assert_eq!(input["values"], serde_json::json!([0.5, 1.5, 2.5, 3.5]));
    // The version extracted from ModelInfer's JSON response went out as metadata.
    let ready: Vec<_> = log.iter().filter(|c| c["method"] == "/inference.GRPCInferenceService/ModelReady").collect();
    assert_eq!(ready.len(), 10);
    assert_eq!(ready[0]["metadata"]["x-version"], "1.0", "{}", ready[0]);

    let stats = final_stats(&out);
    assert_eq!((stat(&stats, "infer", "succ"), stat(&stats, "infer", "fail")), (10, 0), "{stats:?}");
    assert_eq!((stat(&stats, "infer", "rc_OK"), stat(&stats, "ready", "rc_OK")), (10, 10), "{stats:?}");
    let summary = artifacts::summary(&out.run_dir().join("summary.json"));
    assert_eq!(summary["tests"][0]["overall"]["rc"], serde_json::json!({ "OK": 20 }), "{summary}");
}

#[test]
fn unavailable_server_fails_samples_with_its_code() {
    let demo = DemoTarget::start_grpc(&["--workers", "1", "--work-ms", "1"]);
    assert_eq!(demo.request("POST", "/control?status=503").0, 200);
    let p = Project::new();
    let out = run(&p, &infer_suite(&demo, "'rcUNAVAILABLE of infer>50%'"));
    assert_eq!(out.code, 3, "{out}");
    let stats = final_stats(&out);
    assert_eq!((stat(&stats, "infer", "fail"), stat(&stats, "infer", "rc_UNAVAILABLE")), (10, 10), "{stats:?}");
    // `/control` acts on inferences only: health calls still answer.
    assert_eq!(stat(&stats, "ready", "rc_OK"), 10, "{stats:?}");
}

#[test]
fn a_deadline_missed_is_deadline_exceeded() {
    let demo = DemoTarget::start_grpc(&["--workers", "1", "--work-ms", "1"]);
    assert_eq!(demo.request("POST", "/control?delay_ms=400").0, 200);
    let p = Project::new();
    let yaml = infer_suite(&demo, "'fail>0%'").replace("timeout: 5s", "timeout: 100ms");
    let out = run(&p, &yaml);
    assert_eq!(out.code, 3, "{out}");
    let stats = final_stats(&out);
    assert_eq!(stat(&stats, "infer", "rc_DEADLINE_EXCEEDED"), 10, "{stats:?}");
    let avg = stats["infer"]["avg_rt"].parse::<f64>().unwrap();
    assert!((0.09..0.3).contains(&avg), "the call ends at its deadline: {avg}");
}

#[test]
fn server_streaming_records_time_to_first_message_and_gaps() {
    let demo = DemoTarget::start_grpc(&["--workers", "1", "--work-ms", "1"]);
    let p = Project::new();
    let yaml = format!(
        r#"execution:
- concurrency: 1
  iterations: 2
  scenario: s
scenarios:
  s:
    requests:
    - url: {url}
      label: generate
      grpc:
        method: demo.v1.Stream/Generate
        proto: {proto}
      body: {{model: squeezenet, prompt: hi, maxTokens: 4, tokenDelayMs: 60}}
      assert-jsonpath:
      - jsonpath: $[3].index
        expected-value: 3
reporting:
- module: passfail
  criteria: ['p95-ttft of generate>500ms', 'avg-itl of generate>1s']
"#,
        url = demo.grpc_url(),
        proto = proto("demo_stream.proto"),
    );
    let out = run(&p, &yaml);
    assert_eq!(out.code, 0, "{out}");
    let stats = final_stats(&out);
    assert_eq!(stat(&stats, "generate", "rc_OK"), 2, "{stats:?}");
    let rt = stats["generate"]["avg_rt"].parse::<f64>().unwrap();
    // Three gaps of 60 ms after the first token.
    assert!(rt >= 0.18, "the call ends after its last message: {rt}s");
    // Each message is an event of the stream figures, as a streamed HTTP response's are.
    let summary = artifacts::summary(&out.run_dir().join("summary.json"));
    let s = &summary["tests"][0]["labels"][0]["stream"];
    assert_eq!((s["samples"].as_u64(), s["events"].as_u64()), (Some(2), Some(8)), "{s}");
    let ttft = s["ttft_percentiles"]["p50"].as_f64().unwrap();
    let itl = s["itl_percentiles"]["p50"].as_f64().unwrap();
    assert!(ttft < 0.1 && (0.05..0.1).contains(&itl), "first message at {ttft}s, gaps of {itl}s: {s}");
}

#[test]
fn bad_grpc_input_is_refused_before_load() {
    let demo = DemoTarget::start_grpc(&["--workers", "1"]);
    let p = Project::new();
    p.file("t/protos/broken.proto", "syntax = \"proto3\";\npackage x;\nmessage A {\n  string a = 1\n}\n");
    let yaml = format!(
        r#"execution:
- concurrency: 1
  iterations: 1
  scenario: s
scenarios:
  s:
    requests:
    - url: {url}
      grpc: {{method: inference.GRPCInferenceService/ModelInfr, proto: {proto}}}
    - url: {url}
      grpc: {{method: inference.GRPCInferenceService/ModelInfer, proto: {proto}}}
      body:
        model_name: squeezenet
        inputs:
        - {{name: input, datatyp: FP32}}
    - url: {url}
      grpc: {{method: x.S/M, proto: protos/broken.proto}}
"#,
        url = demo.grpc_url(),
        proto = proto("grpc_predict_v2.proto"),
    );
    let out = run(&p, &yaml);
    assert_eq!(out.code, 1, "{out}");
    for expected in [
        "`inference.GRPCInferenceService` has no method `ModelInfr`",
        "did you mean `inference.GRPCInferenceService/ModelInfer`?",
        "`inputs[0].datatyp` is not a field of `inference.ModelInferRequest.InferInputTensor`",
        "did you mean `datatype`?",
        "the `.proto` does not compile: expected ';'",
        // The caret in the `.proto` itself, the YAML value that named it beside.
        "broken.proto:5:1",
        "compiled for this gRPC call",
    ] {
        assert!(out.stderr.contains(expected), "no `{expected}` in\n{out}");
    }
    assert!(out.stderr.contains("s.yaml:15:"), "the body error points at the key: {out}");
    assert!(demo.grpc_log().is_empty(), "no call before the errors are fixed");
}

/// A TLS front (ALPN `h2`, a self-signed certificate) that pipes each connection to `port`.
struct TlsProxy {
    port: u16,
    _runtime: tokio::runtime::Runtime,
}

impl TlsProxy {
    fn start(port: u16) -> TlsProxy {
        let acceptor = crate::util::tls_acceptor(&[b"h2"]);
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
        let front = listener.local_addr().unwrap().port();
        runtime.spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(tcp).await else { return };
                    let Ok(mut back) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await else { return };
                    let _ = tokio::io::copy_bidirectional(&mut tls, &mut back).await;
                });
            }
        });
        TlsProxy { port: front, _runtime: runtime }
    }
}

#[test]
fn grpcs_calls_go_over_tls() {
    let demo = DemoTarget::start_grpc(&["--workers", "1", "--work-ms", "1"]);
    let proxy = TlsProxy::start(demo.grpc_port);
    let p = Project::new();
    let suite = |verify: bool| {
        format!(
            r#"execution:
- concurrency: 1
  iterations: 3
  scenario: s
scenarios:
  s:
    tls-verify: {verify}
    requests:
    - url: grpcs://127.0.0.1:{port}
      label: live
      grpc: {{method: inference.GRPCInferenceService/ServerLive, proto: {proto}}}
"#,
            port = proxy.port,
            proto = proto("grpc_predict_v2.proto"),
        )
    };
    let out = run(&p, &suite(false));
    assert_eq!(out.code, 0, "{out}");
    let stats = final_stats(&out);
    assert_eq!(stat(&stats, "live", "rc_OK"), 3, "{stats:?}");
    assert_eq!(demo.grpc_log().len(), 3);

    // The self-signed certificate is not trusted when certificates are checked.
    let p = Project::new();
    let out = run(&p, &suite(true));
    let stats = final_stats(&out);
    assert_eq!((stat(&stats, "live", "fail"), stat(&stats, "live", "rc_UNAVAILABLE")), (3, 3), "{stats:?}");
    assert_eq!(demo.grpc_log().len(), 3);
    let summary = std::fs::read_to_string(out.run_dir().join("summary.json")).unwrap();
    assert!(summary.contains("certificate"), "the error says why: {summary}");
}

#[test]
fn a_protoset_names_the_schema() {
    let demo = DemoTarget::start_grpc(&["--workers", "1"]);
    let p = Project::new();
    // A FileDescriptorSet as `protoc --descriptor_set_out` writes it, made here by protox.
    let set = protox::compile([proto("grpc_predict_v2.proto")], [repo().join("demo-target/proto")]).unwrap();
    std::fs::create_dir_all(p.path().join("t")).unwrap();
    std::fs::write(p.path().join("t/kserve.pb"), prost::Message::encode_to_vec(&set)).unwrap();
    let yaml = format!(
        r#"execution:
- concurrency: 1
  iterations: 2
  scenario: s
scenarios:
  s:
    requests:
    - url: {url}
      grpc: {{method: inference.GRPCInferenceService/ModelMetadata, protoset: kserve.pb}}
      body: {{name: squeezenet}}
      extract-jsonpath: {{platform: $.platform}}
      assert-jsonpath: [{{jsonpath: '$.inputs[0].datatype', expected-value: FP32}}]
"#,
        url = demo.grpc_url(),
    );
    let out = run(&p, &yaml);
    assert_eq!(out.code, 0, "{out}");
    let stats = final_stats(&out);
    assert_eq!(stat(&stats, "inference.GRPCInferenceService/ModelMetadata", "rc_OK"), 2, "{stats:?}");
    assert_eq!(demo.grpc_log()[0]["request"]["name"], "squeezenet");
}

/// What a [`HandServer`] received in one call: its path and its messages.
type Call = (String, Vec<Vec<u8>>);

/// A gRPC server by hand on h2 (plaintext): each call is answered `OK` with the one message
/// `answer` makes of its path and the messages received.
struct HandServer {
    port: u16,
    received: std::sync::Arc<std::sync::Mutex<Vec<Call>>>,
    _runtime: tokio::runtime::Runtime,
}

impl HandServer {
    fn start(answer: fn(&str, &[Vec<u8>]) -> Vec<u8>) -> HandServer {
        use std::sync::{Arc, Mutex};
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
        let port = listener.local_addr().unwrap().port();
        let received = Arc::new(Mutex::new(Vec::new()));
        let seen = received.clone();
        runtime.spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let seen = seen.clone();
                tokio::spawn(async move {
                    let Ok(mut conn) = h2::server::handshake(tcp).await else { return };
                    while let Some(Ok((request, mut respond))) = conn.accept().await {
                        let seen = seen.clone();
                        tokio::spawn(async move {
                            let path = request.uri().path().to_string();
                            let mut body = request.into_body();
                            let mut bytes = Vec::new();
                            while let Some(Ok(chunk)) = body.data().await {
                                let _ = body.flow_control().release_capacity(chunk.len());
                                bytes.extend_from_slice(&chunk);
                            }
                            // gRPC frames: a flag byte, a 4-byte length, the message.
                            let (mut messages, mut rest) = (Vec::new(), &bytes[..]);
                            while rest.len() >= 5 {
                                let len = u32::from_be_bytes([rest[1], rest[2], rest[3], rest[4]]) as usize;
                                messages.push(rest[5..5 + len].to_vec());
                                rest = &rest[5 + len..];
                            }
                            let reply = answer(&path, &messages);
                            seen.lock().unwrap().push((path, messages));
                            let mut frame = vec![0];
                            frame.extend_from_slice(&(reply.len() as u32).to_be_bytes());
                            frame.extend_from_slice(&reply);
                            let head = http::Response::builder()
                                .status(200)
                                .header("content-type", "application/grpc")
                                .body(())
                                .unwrap();
                            let Ok(mut send) = respond.send_response(head, false) else { return };
                            let _ = send.send_data(bytes::Bytes::from(frame), false);
                            let mut trailers = http::HeaderMap::new();
                            trailers.insert("grpc-status", "0".parse().unwrap());
                            let _ = send.send_trailers(trailers);
                        });
                    }
                });
            }
        });
        HandServer { port, received, _runtime: runtime }
    }
}

#[test]
fn a_client_stream_sends_its_messages_in_order() {
    // Each call is answered with a `Chunk` of the texts of the chunks received, concatenated.
    let sink = HandServer::start(|_, messages| {
        let text: Vec<u8> = messages.iter().flat_map(|m| m[2..].to_vec()).collect();
        let mut reply = vec![10, text.len() as u8];
        reply.extend_from_slice(&text);
        reply
    });
    let p = Project::new();
    p.file(
        "t/up.proto",
        "syntax = \"proto3\";\npackage up;\nservice Up { rpc Send(stream Chunk) returns (Chunk); }\nmessage Chunk { string text = 1; }\n",
    );
    let yaml = format!(
        r#"execution:
- concurrency: 1
  iterations: 2
  scenario: s
scenarios:
  s:
    variables: {{last: c}}
    requests:
    - url: grpc://127.0.0.1:{port}
      label: up
      grpc: {{method: up.Up/Send, proto: up.proto}}
      body: [{{text: a}}, {{text: b}}, {{text: '${{last}}'}}]
      assert-jsonpath: [{{jsonpath: $.text, expected-value: abc}}]
"#,
        port = sink.port
    );
    let out = run(&p, &yaml);
    assert_eq!(out.code, 0, "{out}");
    let stats = final_stats(&out);
    assert_eq!((stat(&stats, "up", "rc_OK"), stat(&stats, "up", "fail")), (2, 0), "{stats:?}");
    let received = sink.received.lock().unwrap().clone();
    let one: Call = ("/up.Up/Send".to_string(), vec![vec![10, 1, b'a'], vec![10, 1, b'b'], vec![10, 1, b'c']]);
    assert_eq!(received, vec![one.clone(), one]);
}

/// A protobuf length-delimited field: its tag, its length as a varint, its bytes.
fn field(tag: u8, bytes: &[u8]) -> Vec<u8> {
    let mut out = vec![tag << 3 | 2];
    let mut n = bytes.len();
    while n >= 0x80 {
        out.push((n as u8 & 0x7f) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
    out.extend_from_slice(bytes);
    out
}

#[test]
fn reflection_reads_the_schema_from_the_server() {
    // Reflection answers carry the KServe file (compiled here); any other call answers `{}`.
    let server = HandServer::start(|path, _| {
        if path != "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo" {
            return Vec::new();
        }
        let set = protox::compile([proto("grpc_predict_v2.proto")], [repo().join("demo-target/proto")]).unwrap();
        let file = prost::Message::encode_to_vec(&set.file[0]);
        field(4, &field(1, &file))
    });
    let p = Project::new();
    let yaml = format!(
        r#"execution:
- concurrency: 1
  iterations: 2
  scenario: s
scenarios:
  s:
    requests:
    - url: grpc://127.0.0.1:{port}
      label: live
      grpc: {{method: inference.GRPCInferenceService/ServerLive, reflection: true}}
    - url: grpc://127.0.0.1:{port}
      label: ready
      grpc: {{method: inference.GRPCInferenceService/ServerReady, reflection: true}}
"#,
        port = server.port
    );
    let out = run(&p, &yaml);
    assert_eq!(out.code, 0, "{out}");
    let stats = final_stats(&out);
    assert_eq!((stat(&stats, "live", "rc_OK"), stat(&stats, "ready", "rc_OK")), (2, 2), "{stats:?}");
    let received = server.received.lock().unwrap().clone();
    let asked: Vec<&Call> = received.iter().filter(|(path, _)| path.contains("Reflection")).collect();
    // Asked once for the service (both calls share it), before any load.
    assert_eq!(asked.len(), 1, "{received:?}");
    assert_eq!(asked[0].1, vec![field(4, b"inference.GRPCInferenceService")]);
    assert!(received[0].0.contains("Reflection"), "{received:?}");

    // Over TLS, as the calls go: the scenario's `tls-verify` decides whether the certificate must
    // be trusted, for reflection too.
    let proxy = TlsProxy::start(server.port);
    let tls_yaml = |verify: bool| {
        yaml.replace("grpc://127.0.0.1", "grpcs://127.0.0.1")
            .replace(&format!(":{}", server.port), &format!(":{}", proxy.port))
            .replace("  s:\n    requests:", &format!("  s:\n    tls-verify: {verify}\n    requests:"))
    };
    let p = Project::new();
    let out = run(&p, &tls_yaml(false));
    assert_eq!(out.code, 0, "{out}");
    let stats = final_stats(&out);
    assert_eq!((stat(&stats, "live", "rc_OK"), stat(&stats, "ready", "rc_OK")), (2, 2), "{stats:?}");
    let asked = server.received.lock().unwrap().iter().filter(|(path, _)| path.contains("Reflection")).count();
    assert_eq!(asked, 2, "asked again, through the TLS front");
    let p = Project::new();
    let out = run(&p, &tls_yaml(true));
    assert_eq!(out.code, 1, "{out}");
    assert!(out.stderr.contains("cannot read the schema of `inference.GRPCInferenceService`"), "{out}");
    assert!(out.stderr.contains("certificate"), "says why: {out}");
}

#[test]
fn a_server_without_reflection_is_an_error_before_load() {
    let demo = DemoTarget::start_grpc(&["--workers", "1"]);
    let p = Project::new();
    let yaml = format!(
        "execution:\n- iterations: 1\n  scenario: s\nscenarios:\n  s:\n    requests:\n    - url: {url}\n      grpc: {{method: inference.GRPCInferenceService/ServerLive, reflection: true}}\n",
        url = demo.grpc_url()
    );
    let out = run(&p, &yaml);
    assert_eq!(out.code, 1, "{out}");
    let expected = "cannot read the schema of `inference.GRPCInferenceService` from";
    assert!(out.stderr.contains(expected) && out.stderr.contains("does not offer server reflection"), "{out}");
    assert!(demo.grpc_log().is_empty(), "no call made");
}
