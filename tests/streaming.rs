//! Streamed responses against demo-target's `/v1/completions`: what the samples recorded (time to
//! first token, gaps between tokens, events, tokens) against the delays the server was told to
//! keep, the stream subjects in criteria, and the mistakes found before any load.

use std::time::Duration;

use serde_json::Value;

use crate::util::artifacts::{self, summary};
use crate::util::{DemoTarget, Output, Project};

const LIMIT: Duration = Duration::from_secs(60);

/// A completion request: 10 tokens, the first after 50 ms, then one every 20 ms.
fn request(url: &str, label: &str, query: &str, stream: &str, tokens_from: &str) -> String {
    format!(
        r#"    - url: '{url}/v1/completions?first_token_ms=50&token_delay_ms=20{query}'
      label: {label}
      method: POST
      headers: {{Content-Type: application/json}}
      body: '{{"model": "demo", "prompt": "hello", "max_tokens": 10, "stream": true}}'
      stream: {stream}
      tokens-from: '{tokens_from}'
"#
    )
}

/// Runs `t/llm.yaml`: two users, five iterations each, of `requests`, with `criteria`.
fn run(p: &Project, requests: &str, criteria: &[&str]) -> Output {
    let criteria: String = criteria.iter().map(|c| format!("  - {c}\n")).collect();
    let yaml = format!(
        "execution:\n- concurrency: 2\n  iterations: 5\n  scenario: llm\nscenarios:\n  llm:\n    requests:\n{requests}reporting:\n- module: passfail\n  criteria:\n{criteria}"
    );
    p.file("t/llm.yaml", &yaml);
    p.suite(&["run", "-t", "t"], LIMIT)
}

/// The `stream` object of `label` in the run's summary.json.
fn stream_of(out: &Output, label: &str) -> Value {
    let s = summary(&out.run_dir().join("summary.json"));
    let labels = s["tests"][0]["labels"].as_array().unwrap().clone();
    let l = labels.iter().find(|l| l["label"] == label).unwrap_or_else(|| panic!("no `{label}` in {labels:?}"));
    assert_eq!(l["fail"], 0, "{l}");
    l["stream"].clone()
}

fn secs(v: &Value) -> f64 {
    v.as_f64().unwrap_or_else(|| panic!("not a number: {v}"))
}

/// Ten requests of ten tokens each, timed as the server was told to send them.
fn assert_timed_as_configured(s: &Value, events_per_request: u64) {
    assert_eq!(s["samples"], 10, "{s}");
    assert_eq!(s["events"].as_u64(), Some(10 * events_per_request), "{s}");
    assert_eq!(s["tokens"], 100, "{s}");
    let ttft = secs(&s["ttft_percentiles"]["p50"]);
    assert!((0.050..0.060).contains(&ttft), "p50 time to first token {ttft}: {s}");
    let itl = secs(&s["itl_percentiles"]["p50"]);
    assert!((0.018..0.030).contains(&itl), "p50 inter-token latency {itl}: {s}");
    // Ten tokens in about 50 + 9 × 20 ms: 43 per second, less on a slow machine.
    let rate = secs(&s["tokens_per_s"]);
    assert!((25.0..=45.0).contains(&rate), "tokens per second {rate}: {s}");
}

#[test]
fn sse_completions_record_time_to_first_token_and_gaps() {
    let demo = DemoTarget::start(&["--workers", "0"]);
    let p = Project::new();
    let requests = request(&demo.url(), "sse", "", "sse", "$.choices[0].text");
    let out = run(&p, &requests, &["p95-ttft of sse>500ms", "p99-itl of sse>1s", "tokens-per-s of sse<1"]);
    assert_eq!(out.code, 0, "{out}");
    // Ten token events and the last one with the usage ([DONE] is no event).
    let s = stream_of(&out, "sse");
    assert_timed_as_configured(&s, 11);
    assert!(out.stdout.contains("ttft p95"), "a stream table: {out}");
    // kpi.csv has the figures per second: the tokens add up, every time to first token is timed.
    let rows = artifacts::csv_rows(&out.run_dir().join("llm/kpi.csv"));
    let sse: Vec<_> = rows.iter().filter(|r| r["label"] == "sse").collect();
    let tokens: u64 = sse.iter().map(|r| r["tokens"].parse::<u64>().unwrap()).sum();
    assert_eq!(tokens, 100, "{sse:?}");
    for r in &sse {
        let ttft: f64 = r["p50_ttft"].parse().unwrap();
        assert!((0.050..0.060).contains(&ttft), "{r:?}");
    }
    let all_timed = rows.iter().all(|r| !r["avg_ttft"].is_empty() && !r["p99_itl"].is_empty());
    assert!(all_timed, "every second of a streamed label has its figures: {rows:?}");
    // `suite report` rebuilds the figures from the run folder alone (seconds.jsonl).
    let summary_file = out.run_dir().join("summary.json");
    std::fs::remove_file(&summary_file).unwrap();
    let again = p.suite(&["report", out.run_dir().to_str().unwrap()], LIMIT);
    assert_eq!(again.code, 0, "{again}");
    assert_eq!(stream_of(&out, "sse"), s, "after `suite report`");

    // The same run judged on a time to first token it cannot meet fails the run.
    let p = Project::new();
    let out = run(&p, &requests, &["p95-ttft of sse>40ms", "avg-itl>5s"]);
    assert_eq!(out.code, 3, "{out}");
    let junit = out.junit();
    assert!(junit.case("p95-ttft of sse>40ms").is_some_and(|c| c.failed), "{junit}");
    assert!(junit.case("avg-itl>5s").is_some_and(|c| !c.failed), "{junit}");
}

#[test]
fn ndjson_and_chunked_streams_and_token_counts_from_a_number() {
    let demo = DemoTarget::start(&["--workers", "0"]);
    let p = Project::new();
    let url = demo.url();
    let mut requests = request(&url, "lines", "&format=ndjson", "ndjson", "$.choices[0].text");
    requests += &request(&url, "chunks", "&format=ndjson", "chunked", "$.choices[0].text");
    requests += &request(&url, "usage", "", "sse", "$.usage.completion_tokens");
    requests += &format!("    - url: '{url}/ping'\n      label: plain\n");
    let out = run(&p, &requests, &["p99-ttft of plain>1ms"]);
    // A stream subject on a label without streamed responses cannot be judged (as a label
    // without samples): the criterion is an error, and so is the run.
    assert_eq!(out.code, 1, "{out}");
    assert!(out.stdout.contains("no streamed responses with label `plain`"), "{out}");
    assert_timed_as_configured(&stream_of(&out, "lines"), 11);
    assert_timed_as_configured(&stream_of(&out, "chunks"), 11);
    assert_eq!(stream_of(&out, "plain"), Value::Null);
    let rows = artifacts::csv_rows(&out.run_dir().join("llm/kpi.csv"));
    let plain: Vec<_> = rows.iter().filter(|r| r["label"] == "plain").collect();
    assert!(!plain.is_empty() && plain.iter().all(|r| r["avg_ttft"].is_empty() && r["tokens"].is_empty()), "{plain:?}");
    // The count comes from the last event's usage; without token events every event is timed.
    let usage = stream_of(&out, "usage");
    assert_eq!((usage["events"].as_u64(), usage["tokens"].as_u64()), (Some(110), Some(100)), "{usage}");
    let ttft = secs(&usage["ttft_percentiles"]["p50"]);
    assert!((0.050..0.060).contains(&ttft), "{usage}");
}

#[test]
fn bad_stream_and_tokens_from_are_errors_before_any_load() {
    let p = Project::new();
    p.file(
        "t/bad.yaml",
        r#"execution:
- iterations: 1
  scenario:
    requests:
    - url: http://127.0.0.1:9/v1/completions
      stream: sse2
    - url: http://127.0.0.1:9/v1/completions
      stream: sse
      tokens-from: '$.choices[0'
"#,
    );
    let out = p.suite(&["run", "-t", "t"], LIMIT);
    assert_eq!(out.code, 1, "{out}");
    assert!(
        out.stderr.contains("error: `stream` is `sse`, `chunked` or `ndjson`, not `sse2`\n  --> t/bad.yaml:6:15"),
        "{out}"
    );
    assert!(out.stderr.contains("did you mean `sse`?"), "{out}");
    assert!(out.stderr.contains("is not a valid JSONPath") && out.stderr.contains("t/bad.yaml:9:20"), "{out}");
}

/// Over HTTP/2 (hyper's client, not the hand-written HTTP/1.1 reader) the same events are cut:
/// SSE by blank lines, `chunked` by DATA frames.
#[test]
fn http2_streams_are_cut_into_the_same_events() {
    let server = h2_stream::Server::start();
    let p = Project::new();
    let requests = format!(
        "    - url: https://127.0.0.1:{port}/sse\n      label: h2-sse\n      stream: sse\n      tokens-from: $.text\n    - url: https://127.0.0.1:{port}/frames\n      label: h2-frames\n      stream: chunked\n      tokens-from: $.text\n",
        port = server.port
    );
    let yaml = format!(
        "execution:\n- concurrency: 1\n  iterations: 3\n  scenario: s\nscenarios:\n  s:\n    tls-verify: false\n    requests:\n{requests}"
    );
    p.file("t/h2.yaml", &yaml);
    let out = p.suite(&["run", "-t", "t"], LIMIT);
    assert_eq!(out.code, 0, "{out}");
    for label in ["h2-sse", "h2-frames"] {
        let s = stream_of(&out, label);
        assert_eq!(
            (s["samples"].as_u64(), s["events"].as_u64(), s["tokens"].as_u64()),
            (Some(3), Some(12), Some(12)),
            "{label}: {s}"
        );
        let ttft = secs(&s["ttft_percentiles"]["p50"]);
        assert!((0.030..0.045).contains(&ttft), "{label}: time to first token {ttft}: {s}");
        let itl = secs(&s["itl_percentiles"]["p50"]);
        assert!((0.008..0.020).contains(&itl), "{label}: inter-token latency {itl}: {s}");
    }
}

/// A TLS server speaking HTTP/2 only that answers every request with four events, the first
/// after 30 ms, then 10 ms apart, each in its own DATA frame (`/sse`: as server-sent events).
mod h2_stream {
    use std::time::Duration;

    use tokio::net::TcpListener;

    pub struct Server {
        pub port: u16,
        _runtime: tokio::runtime::Runtime,
    }

    impl Server {
        pub fn start() -> Server {
            let acceptor = crate::util::tls_acceptor(&[b"h2"]);
            let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
            let listener = runtime.block_on(TcpListener::bind("127.0.0.1:0")).unwrap();
            let port = listener.local_addr().unwrap().port();
            runtime.spawn(async move {
                while let Ok((tcp, _)) = listener.accept().await {
                    let acceptor = acceptor.clone();
                    // Without it Nagle holds a small DATA frame until the client acknowledges the last.
                    let _ = tcp.set_nodelay(true);
                    tokio::spawn(async move {
                        let Ok(stream) = acceptor.accept(tcp).await else { return };
                        let Ok(mut conn) = h2::server::handshake(stream).await else { return };
                        while let Some(Ok((request, mut respond))) = conn.accept().await {
                            tokio::spawn(async move {
                                let sse = request.uri().path() == "/sse";
                                let response = http::Response::builder().status(200).body(()).unwrap();
                                let Ok(mut send) = respond.send_response(response, false) else { return };
                                let start = tokio::time::Instant::now();
                                for i in 0..4u64 {
                                    tokio::time::sleep_until(start + Duration::from_millis(30 + 10 * i)).await;
                                    let json = format!("{{\"text\":\"t{i}\"}}");
                                    let event = if sse { format!("data: {json}\n\n") } else { json };
                                    let _ = send.send_data(bytes::Bytes::from(event), false);
                                }
                                let _ = send.send_data(bytes::Bytes::new(), true);
                            });
                        }
                    });
                }
            });
            Server { port, _runtime: runtime }
        }
    }
}
