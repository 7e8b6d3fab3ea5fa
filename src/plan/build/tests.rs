//! Planning whole test files written as YAML: limits, costs and what the plan keeps.

use std::path::Path;
use std::time::{Duration, Instant};

use crate::config::source::Sources;
use crate::config::yaml::parse_config;
use crate::config::Loaded;
use crate::plan::{build, Plan};

/// Plans `yaml` as the file `t.yaml`; errors come back one per line (`t.yaml:3:16: error: …`).
pub(super) fn plan(yaml: &str) -> Result<Plan, Vec<String>> {
    let mut sources = Sources::new();
    let id = sources.add_file(Path::new("t.yaml"), yaml.to_string());
    let root = parse_config(&sources, id).unwrap().docs.remove(0);
    let mut loaded = Loaded { root, sources, warnings: Vec::new(), files: Vec::new(), unset: Vec::new() };
    build(&mut loaded).map_err(|diags| diags.iter().map(|d| loaded.one_line(d)).collect())
}

/// The errors of planning `yaml`, which must fail.
pub(super) fn errors(yaml: &str) -> Vec<String> {
    plan(yaml).err().unwrap_or_else(|| panic!("planned without errors:\n{yaml}"))
}

/// A scenario `s` with `n` variables and one request that uses the last one.
fn with_variables(n: usize) -> String {
    let mut yaml = String::from("execution:\n- iterations: 1\n  scenario: s\nscenarios:\n  s:\n    variables:\n");
    for i in 0..n {
        yaml.push_str(&format!("      v{i}: x{i}\n"));
    }
    yaml.push_str(&format!("    requests:\n    - http://127.0.0.1:9/${{v{}}}\n", n - 1));
    yaml
}

#[test]
fn variables_cost_grows_linearly_with_their_count() {
    let time = |n: usize| {
        let yaml = with_variables(n);
        let start = Instant::now();
        let planned = plan(&yaml).unwrap();
        assert_eq!(planned.executions[0].scenario().unwrap().variables.len(), n);
        start.elapsed()
    };
    let (small, big) = (time(4_000), time(40_000));
    // Ten times the variables may cost ten times the time, not a hundred (loose for a shared machine).
    assert!(big < Duration::from_secs(2) || big < small * 20, "4,000 variables: {small:?}; 40,000: {big:?}");
}

const SCENARIO: &str = "scenarios:\n  s:\n    requests:\n    - http://127.0.0.1:9/\n";

#[test]
fn numbers_no_run_can_afford_are_refused_with_the_limit_and_why() {
    let e = errors(&format!("execution:\n- concurrency: 10000000\n  hold-for: 1m\n  scenario: s\n{SCENARIO}"));
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(e[0].starts_with("t.yaml:2:16: error: `concurrency` is at most 1000000, found 10000000"), "{e:?}");
    let e = errors(&format!(
        "execution:\n- concurrency: 5\n  ramp-up: 1m\n  steps: 99999999999\n  scenario: s\n{SCENARIO}"
    ));
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(e[0].starts_with("t.yaml:4:10: error: `steps` is at most 10000, found 99999999999"), "{e:?}");
    let e = errors(&format!(
        "execution:\n- throughput: 10\n  hold-for: 1m\n  arrival-rate: true\n  max-vus: 2000000\n  scenario: s\n{SCENARIO}"
    ));
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(e[0].starts_with("t.yaml:5:12: error: `max-vus` is at most 1000000, found 2000000"), "{e:?}");
    let planned =
        plan(&format!("execution:\n- concurrency: 5\n  ramp-up: 1m\n  steps: 10000\n  scenario: s\n{SCENARIO}"));
    assert_eq!(planned.unwrap().executions[0].load.steps, 10_000);
}

#[test]
fn users_of_all_executions_must_fit_in_memory_and_the_open_file_limit() {
    use super::limits::{Capacity, Users};
    let yaml = format!(
        "execution:\n- concurrency: 3000\n  hold-for: 1m\n  scenario: s\n- concurrency: 1000\n  hold-for: 1m\n  scenario: s\n{SCENARIO}"
    );
    let mut sources = Sources::new();
    let id = sources.add_file(Path::new("t.yaml"), yaml);
    let root = parse_config(&sources, id).unwrap().docs.remove(0);
    let mut loaded = Loaded { root, sources, warnings: Vec::new(), files: Vec::new(), unset: Vec::new() };
    let planned = build(&mut loaded).unwrap();
    let check = |capacity: Capacity| {
        let mut b = super::Builder::new(&loaded, Default::default(), Default::default());
        let span = |line| crate::config::source::Span { line, col: 16, ..loaded.root.span };
        let users: Vec<Users> = planned.executions.iter().zip([2, 5]).map(|(e, l)| Users::of(e, span(l))).collect();
        b.check_capacity(&users, capacity);
        b.diags
            .iter()
            .map(|d| {
                format!(
                    "{}:{}: {} help: {}",
                    d.span.unwrap().line,
                    d.span.unwrap().col,
                    d.message,
                    d.help.clone().unwrap_or_default()
                )
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(check(Capacity { memory: Some(1 << 30), files: Some((20_000, 20_000)) }), Vec::<String>::new());
    assert_eq!(
        check(Capacity { memory: Some(16 << 20), files: None }),
        ["2:16: 4000 virtual users in 2 executions at once need about 31.2 MB of memory, and 16.0 MB is available help: lower `concurrency` (or `max-vus`), or run on a machine with more memory; see docs/limits.md"]
    );
    assert_eq!(
        check(Capacity { memory: None, files: Some((1024, 8192)) }),
        ["2:16: 4000 virtual users in 2 executions at once keep a connection each, and this process may open 1024 files (`ulimit -n`) help: raise the limit first (`ulimit -n 4064`; the hard limit is 8192), or lower `concurrency`"]
    );
    assert_eq!(
        check(Capacity { memory: None, files: Some((1024, 2048)) })[0].split(" help: ").nth(1),
        Some("the hard limit is 2048: lower `concurrency`, or have the administrator raise `nofile`")
    );
}

#[test]
fn a_url_of_another_scheme_is_named_as_unsupported() {
    let scenario = |url: &str| format!("execution:\n- scenario: s\nscenarios:\n  s:\n    requests:\n    - {url}\n");
    let e = errors(&scenario("ftp://127.0.0.1/file"));
    assert_eq!(e, ["t.yaml:6:7: error: the scheme `ftp` of `ftp://127.0.0.1/file` is not supported: suite sends HTTP and HTTPS only"]);
    let with_address = "execution:\n- scenario: s\nscenarios:\n  s:\n    default-address: http://127.0.0.1\n    requests:\n    - ws://127.0.0.1/x\n";
    assert_eq!(
        errors(with_address),
        ["t.yaml:7:7: error: the scheme `ws` of `ws://127.0.0.1/x` is not supported: suite sends HTTP and HTTPS only"]
    );
    assert!(plan(&scenario("HTTP://127.0.0.1/x")).is_ok());
}

#[test]
fn concurrency_past_any_integer_type_gets_the_plan_limit() {
    let e = errors(&format!("execution:\n- concurrency: 4294967296\n  scenario: s\n{SCENARIO}"));
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(e[0].starts_with("t.yaml:2:16: error: `concurrency` is at most 1000000, found 4294967296"), "{e:?}");
    let e = errors(&format!("execution:\n- concurrency: 1e3\n  scenario: s\n{SCENARIO}"));
    assert!(e[0].ends_with("found `1e3`, which is a string in YAML 1.1; write 1000"), "{e:?}");
}

#[test]
fn http_version_is_read_once_per_request_as_a_number_or_a_string() {
    use crate::plan::scenario::HttpVersion;
    let yaml = "execution:\n- scenario: s\nscenarios:\n  s:\n    http-version: 2\n    requests:\n    - http://127.0.0.1:9/a\n    - url: http://127.0.0.1:9/b\n      http-version: 1.1\n    - url: http://127.0.0.1:9/c\n      http-version: auto\n    - url: http://127.0.0.1:9/d\n      http-version: '1.1'\n  t:\n    requests: [http://127.0.0.1:9/e]\n";
    let versions = |planned: &Plan, index: usize| -> Vec<HttpVersion> {
        let scenario = planned.executions[index].scenario().unwrap();
        scenario
            .steps
            .iter()
            .map(|s| match s {
                crate::plan::Step::Request(r) => r.http_version,
                _ => unreachable!(),
            })
            .collect()
    };
    let planned = plan(yaml).unwrap();
    use HttpVersion::{Auto, Http1, Http2};
    assert_eq!(versions(&planned, 0), [Http2, Http1, Auto, Http1]);
    let other = plan(&yaml.replace("- scenario: s", "- scenario: t")).unwrap();
    assert_eq!(versions(&other, 0), [Auto], "the default");
    let quoted = plan(&yaml.replace("http-version: 2", "http-version: \"2\"")).unwrap();
    assert_eq!(versions(&quoted, 0)[0], Http2);

    let e = errors(&yaml.replace("http-version: 2", "http-version: 3"));
    assert_eq!(e, ["t.yaml:5:19: error: `http-version` is `1.1`, `2` or `auto`, not `3`"]);
    let e = errors(&yaml.replace("http-version: auto", "http-version: atuo"));
    assert_eq!(e, ["t.yaml:11:21: error: `http-version` is `1.1`, `2` or `auto`, not `atuo`"]);
    let e = errors(&yaml.replace("http-version: auto", "http-version: [2]"));
    assert_eq!(e, ["t.yaml:11:21: error: `http-version` is `1.1`, `2` or `auto`, not a list"]);
    let e = errors(&yaml.replace("http-version: auto", "http-version: true"));
    assert_eq!(e, ["t.yaml:11:21: error: `http-version` is `1.1`, `2` or `auto`, not a boolean"]);
    let e = errors(&yaml.replace("http-version: auto", "http-versoin: auto"));
    assert_eq!(e, ["t.yaml:11:7: error: unknown key `http-versoin` in a request"]);
}

#[test]
fn checks_see_up_to_max_body_seen_of_a_body() {
    let yaml = "execution:\n- scenario: s\nscenarios:\n  s:\n    max-body-seen: 64KB\n    requests:\n    - url: http://127.0.0.1:9/a\n      assert: [ok]\n    - url: http://127.0.0.1:9/b\n      max-body-seen: 100\n      extract-regexp: {v: {regexp: 'id=(\\d+)'}}\n    - url: http://127.0.0.1:9/c\n      assert: [{contains: [200], subject: http-code}]\n    - http://127.0.0.1:9/d\n";
    let planned = plan(yaml).unwrap();
    let limits: Vec<usize> = planned.executions[0]
        .scenario()
        .unwrap()
        .steps
        .iter()
        .map(|s| match s {
            crate::plan::Step::Request(r) => r.body_limit,
            _ => unreachable!(),
        })
        .collect();
    assert_eq!(limits, [64 << 10, 100, 0, 0]);
    let default = "execution:\n- scenario: s\nscenarios:\n  s:\n    requests:\n    - url: http://127.0.0.1:9/a\n      assert: [ok]\n";
    let planned = plan(default).unwrap();
    let Some(crate::plan::Step::Request(r)) = planned.executions[0].scenario().unwrap().steps.first() else {
        unreachable!()
    };
    assert_eq!(r.body_limit, 4 << 20);
    let e = errors(
        "execution:\n- scenario: s\nscenarios:\n  s:\n    max-body-seen: 2GB\n    requests: [http://127.0.0.1:9/]\n",
    );
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(
        e[0].starts_with("t.yaml:5:20: error: `max-body-seen` is at most 1073741824 bytes (1GB), found 2147483648"),
        "{e:?}"
    );
}

#[test]
fn every_bad_field_of_an_execution_a_scenario_and_a_request_is_reported() {
    let yaml = "execution:\n- concurrency: ten\n  hold-for: forever\n  iterations: -1\n  scenario: s\nscenarios:\n  s:\n    timeout: soon\n    keepalive: maybe\n    think_time: 1s\n    requests:\n    - url: http://127.0.0.1:9/\n      follow-redirects: sometimes\n      read-timeout: later\n";
    let e = errors(yaml);
    let at: Vec<&str> = e.iter().map(|e| e.split(": error").next().unwrap()).collect();
    assert_eq!(
        at,
        [
            "t.yaml:8:14",
            "t.yaml:9:16",
            "t.yaml:10:5",
            "t.yaml:2:16",
            "t.yaml:3:13",
            "t.yaml:4:15",
            "t.yaml:13:25",
            "t.yaml:14:21"
        ],
        "{e:#?}"
    );
    assert!(e[2].contains("unknown key `think_time` in a scenario"), "{e:#?}");
    assert!(e[3].contains("`concurrency`: expected a whole number of virtual users"), "{e:#?}");
    // A bad required value is reported once, not again as missing.
    let e = errors("execution:\n- scenario: s\nscenarios:\n  s:\n    requests:\n    - url: [a]\n      method: 5\n");
    assert_eq!(e.len(), 1, "{e:#?}");
    assert!(e[0].starts_with("t.yaml:6:12: error: expected a string, found a list"), "{e:#?}");
}

#[test]
fn a_tool_script_without_its_executor_says_which_executor_runs_it() {
    let errors = errors("execution:\n- concurrency: 1\n  scenario: s\nscenarios:\n  s:\n    script: test.js\n");
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(
        errors[0].starts_with("t.yaml:6:13: error: `script: test.js` needs an executor that runs it"),
        "{errors:?}"
    );
}

/// A test with the reporter `prometheus` written as `settings` (indented under `- module: prometheus`).
fn with_prometheus(settings: &str) -> String {
    format!("execution:\n- iterations: 1\n  scenario: s\n{SCENARIO}reporting:\n- module: prometheus\n{settings}")
}

#[test]
fn a_prometheus_reporter_plans_its_url_timeout_and_sorted_labels() {
    let planned =
        plan(&with_prometheus("  remote-write: http://127.0.0.1:9090/api/v1/write\n  labels: {team: a, env: ci}\n"))
            .unwrap();
    let rw = &planned.remote_write[0];
    assert_eq!(rw.url.as_str(), "http://127.0.0.1:9090/api/v1/write");
    assert_eq!(rw.timeout, Duration::from_secs(2));
    assert_eq!(rw.labels, [("env".to_string(), "ci".to_string()), ("team".to_string(), "a".to_string())]);
    let planned = plan(&with_prometheus("  remote-write: http://h:1/w\n  timeout: 500ms\n")).unwrap();
    assert_eq!(planned.remote_write[0].timeout, Duration::from_millis(500));
}

#[test]
fn a_wrong_prometheus_reporter_is_an_error_at_the_value() {
    let e = errors(&with_prometheus("  labels: {env: ci}\n"));
    assert!(e[0].starts_with("t.yaml:9:3: error: the `prometheus` reporter needs `remote-write`"), "{e:?}");
    let e = errors(&with_prometheus("  remote-writ: http://h/w\n"));
    assert_eq!(e.len(), 1, "a misspelt key is one error (with a did-you-mean): {e:?}");
    assert!(e[0].starts_with("t.yaml:10:3: error: unknown key `remote-writ` in the `prometheus` reporter"), "{e:?}");
    let e = errors(&with_prometheus("  remote-write: ftp://h/w\n"));
    assert!(e[0].starts_with("t.yaml:10:17: error: `remote-write` must be an http:// URL, found `ftp:`"), "{e:?}");
    let e = errors(&with_prometheus("  remote-write: https://h/w\n"));
    assert!(e[0].starts_with("t.yaml:10:17: error: `remote-write` over https is not supported"), "{e:?}");
    let e = errors(&with_prometheus("  remote-write: not a url\n"));
    assert!(e[0].starts_with("t.yaml:10:17: error: `remote-write` is not a URL"), "{e:?}");
    let e = errors(&with_prometheus("  remote-write: http://h/w\n  timeout: 0s\n"));
    assert!(e[0].starts_with("t.yaml:11:12: error: `timeout` must be more than 0"), "{e:?}");
    let e = errors(&with_prometheus("  remote-write: http://h/w\n  labels: {test: x, 9a: y, ok: [1]}\n"));
    assert_eq!(e.len(), 3, "{e:?}");
    assert!(e[0].starts_with("t.yaml:11:12: error: `test` is set on every series by suite"), "{e:?}");
    assert!(e[1].contains("error: `9a` is not a Prometheus label name"), "{e:?}");
    assert!(e[2].contains("error: label `ok` must be text, found a list"), "{e:?}");
}

/// A scenario of one gRPC call to demo-target's KServe v2 API, with `extra` lines under it.
fn grpc_call(method: &str, extra: &str) -> String {
    let proto = concat!(env!("CARGO_MANIFEST_DIR"), "/demo-target/proto/grpc_predict_v2.proto");
    format!(
        "execution:\n- iterations: 1\n  scenario: s\nscenarios:\n  s:\n    variables: {{m: squeezenet}}\n    requests:\n    - url: grpc://127.0.0.1:9\n      grpc: {{method: {method}, proto: {proto}}}\n{extra}"
    )
}

fn grpc_step(planned: &Plan) -> &crate::plan::grpc::GrpcPlan {
    match planned.executions[0].scenario().unwrap().steps.first() {
        Some(crate::plan::Step::Grpc(g)) => g,
        other => panic!("not a gRPC call: {other:?}"),
    }
}

#[test]
fn a_grpc_body_without_placeholders_is_encoded_once() {
    let planned =
        plan(&grpc_call("inference.GRPCInferenceService/ModelReady", "      body: {name: squeezenet}\n")).unwrap();
    let g = grpc_step(&planned);
    assert_eq!(g.path.as_str(), "/inference.GRPCInferenceService/ModelReady");
    assert_eq!(g.address, "http://127.0.0.1:9/");
    assert!(!g.server_streaming && !g.tls);
    let [crate::plan::scenario::Value::Fixed(bytes)] = g.body.as_slice() else {
        panic!("encoded per call: {:?}", g.body)
    };
    let decoded = prost_reflect::DynamicMessage::decode(g.input.clone(), bytes.clone()).unwrap();
    assert_eq!(serde_json::to_string(&decoded).unwrap(), r#"{"name":"squeezenet"}"#);

    let planned =
        plan(&grpc_call("inference.GRPCInferenceService/ModelReady", "      body: {name: '${m}'}\n")).unwrap();
    let g = grpc_step(&planned);
    let [crate::plan::scenario::Value::Template(_)] = g.body.as_slice() else {
        panic!("a placeholder must be filled per call")
    };
    assert_eq!(g.encode(r#"{"name":"x"}"#).unwrap().len(), 3);
}

#[test]
fn grpc_errors_name_the_method_and_the_field() {
    let e = errors(&grpc_call("inference.GRPCInferenceService/ServerRedy", ""));
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(e[0].contains("has no method `ServerRedy`"), "{e:?}");
    let e = errors(&grpc_call("inference.GRPCInferenceService/ModelReady", "      body: {nmae: x}\n"));
    assert!(
        e[0].starts_with("t.yaml:10:14: error: the body does not fit `inference.ModelReadyRequest`: `nmae`"),
        "{e:?}"
    );
    // A body with placeholders is filled per call, but its field names are checked now.
    let e = errors(&grpc_call("inference.GRPCInferenceService/ModelReady", "      body: {naem: '${m}'}\n"));
    assert!(
        e[0].starts_with("t.yaml:10:14: error: the body does not fit `inference.ModelReadyRequest`: `naem`"),
        "{e:?}"
    );
    let e = errors(&grpc_call("inference.GRPCInferenceService/ModelReady", "      body: '{\"name\": 5'\n"));
    assert!(e[0].contains("the body is not JSON"), "{e:?}");
    let e = errors(&grpc_call("inference.GRPCInferenceService/ModelReady", "      read-timeout: 1s\n"));
    assert!(e[0].contains("`read-timeout` does not apply to a gRPC call"), "{e:?}");
    let e =
        errors(&grpc_call("inference.GRPCInferenceService/ModelReady", "").replace("proto:", "connections: 0, proto:"));
    assert!(e[0].contains("`connections` is 1 to 1024, found 0"), "{e:?}");
    let e = errors(&grpc_call("inference.GRPCInferenceService/ModelReady", "").replace("grpc://", "h2c://"));
    assert!(e[0].contains("the scheme of a gRPC address is `grpc://`, found `h2c://`"), "{e:?}");
}

#[test]
fn a_client_stream_body_is_a_list_of_messages_each_encoded_once() {
    let dir = tempfile::tempdir().unwrap();
    let proto = dir.path().join("up.proto");
    std::fs::write(
        &proto,
        "syntax = \"proto3\";\npackage up;\nservice Up { rpc Send(stream Chunk) returns (Chunk); }\nmessage Chunk { string text = 1; }\n",
    )
    .unwrap();
    let yaml = |body: &str| {
        format!(
            "execution:\n- iterations: 1\n  scenario: s\nscenarios:\n  s:\n    requests:\n    - url: grpc://127.0.0.1:9\n      grpc: {{method: up.Up/Send, proto: {}}}\n      body: {body}\n",
            proto.display()
        )
    };
    let planned = plan(&yaml("[{text: a}, {text: b}]")).unwrap();
    let g = grpc_step(&planned);
    assert!(g.client_streaming && !g.server_streaming);
    let encoded: Vec<&[u8]> = g
        .body
        .iter()
        .map(|m| match m {
            crate::plan::scenario::Value::Fixed(b) => b.as_ref(),
            other => panic!("encoded per call: {other:?}"),
        })
        .collect();
    assert_eq!(encoded, [&[10, 1, b'a'][..], &[10, 1, b'b'][..]]);
    let e = errors(&yaml("[{text: a}, {txt: b}]"));
    assert!(e[0].contains("t.yaml:9:26: error: the body does not fit `up.Chunk`: `[1].txt` is not a field"), "{e:?}");
    let e = errors(&yaml("{text: a}"));
    assert!(e[0].contains("`up.Chunk` takes a stream of messages: the body must be a list of them"), "{e:?}");
}

#[test]
fn streamed_requests_plan_their_mode_and_token_path() {
    let yaml = |keys: &str| {
        format!("execution:\n- iterations: 1\n  scenario: s\nscenarios:\n  s:\n    requests:\n    - url: http://127.0.0.1:9/\n{keys}")
    };
    let planned = plan(&yaml("      stream: ndjson\n      tokens-from: $.choices[0].text\n")).unwrap();
    let crate::plan::scenario::Step::Request(r) = &planned.executions[0].scenario().unwrap().steps[0] else {
        panic!("a request step")
    };
    let stream = r.stream.as_deref().unwrap();
    assert_eq!(stream.mode, crate::plan::scenario::StreamMode::Ndjson);
    assert!(stream.tokens_from.is_some());
    let e = errors(&yaml("      tokens-from: $.n\n"));
    assert!(e[0].starts_with("t.yaml:8:20: error: `tokens-from` reads streamed events"), "{e:?}");
    let e = errors(&yaml("      stream: SSE\n"));
    assert!(e[0].starts_with("t.yaml:8:15: error: `stream` is `sse`, `chunked` or `ndjson`, not `SSE`"), "{e:?}");
}
