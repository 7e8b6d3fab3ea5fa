//! `http-version`: HTTP/2 in cleartext with prior knowledge (h2c) against a hyper server that
//! speaks only that, HTTP/1.1 against one that speaks only HTTP/1.1, one origin asked for both
//! versions, and a bad value found before any load.

use std::collections::{HashMap, HashSet};
use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::Value;
use tokio::net::{TcpListener, TcpStream};

use crate::util::artifacts::{self, summary, Row};
use crate::util::{Output, Project};

const LIMIT: Duration = Duration::from_secs(30);

/// What a test server speaks.
#[derive(Clone, Copy, PartialEq)]
enum Speaks {
    /// HTTP/2 with prior knowledge only.
    H2c,
    /// HTTP/1.1 only.
    H1,
    /// Either, told apart by the connection's first bytes (the HTTP/2 preface starts `PRI`).
    Both,
}

/// One request as the server saw it.
#[derive(Clone, Debug)]
struct Seen {
    version: http::Version,
    /// Which connection (1, 2, … in accept order) carried it.
    connection: usize,
    path: String,
    /// The `x-test` header.
    x_test: String,
    body: String,
}

/// A hyper server on 127.0.0.1 that records what it was sent.
struct Server {
    port: u16,
    seen: Arc<Mutex<Vec<Seen>>>,
    connections: Arc<AtomicUsize>,
    _runtime: tokio::runtime::Runtime,
}

impl Server {
    fn start(speaks: Speaks) -> Server {
        let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        let listener = runtime.block_on(TcpListener::bind("127.0.0.1:0")).unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let connections = Arc::new(AtomicUsize::new(0));
        let (s, c) = (seen.clone(), connections.clone());
        runtime.spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let connection = c.fetch_add(1, Ordering::SeqCst) + 1;
                tokio::spawn(serve(tcp, speaks, connection, s.clone()));
            }
        });
        Server { port, seen, connections, _runtime: runtime }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    fn connections(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

async fn serve(tcp: TcpStream, speaks: Speaks, connection: usize, seen: Arc<Mutex<Vec<Seen>>>) {
    // As real servers do: without it the server's small frames wait for the client's delayed ACK.
    let _ = tcp.set_nodelay(true);
    let h2 = match speaks {
        Speaks::H2c => true,
        Speaks::H1 => false,
        Speaks::Both => {
            let mut first = [0u8; 3];
            loop {
                match tcp.peek(&mut first).await {
                    Ok(n) if n >= 3 => break first == *b"PRI",
                    Ok(0) | Err(_) => return,
                    Ok(_) => tokio::time::sleep(Duration::from_millis(1)).await,
                }
            }
        }
    };
    let service = service_fn(move |request| answer(request, connection, seen.clone()));
    let io = TokioIo::new(tcp);
    // A client that speaks the wrong version ends the connection with an error: nothing to do.
    if h2 {
        let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new()).serve_connection(io, service).await;
    } else {
        let _ = hyper::server::conn::http1::Builder::new().serve_connection(io, service).await;
    }
}

/// `/sse`: three events and `[DONE]`; anything else: JSON with an id and the body echoed.
async fn answer(
    request: http::Request<Incoming>,
    connection: usize,
    seen: Arc<Mutex<Vec<Seen>>>,
) -> Result<http::Response<Full<Bytes>>, Infallible> {
    let (head, body) = request.into_parts();
    let body = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
    let body = String::from_utf8_lossy(&body).into_owned();
    let x_test = head.headers.get("x-test").map(|v| v.to_str().unwrap_or("").to_string()).unwrap_or_default();
    let path = head.uri.path().to_string();
    seen.lock().unwrap().push(Seen {
        version: head.version,
        connection,
        path: path.clone(),
        x_test,
        body: body.clone(),
    });
    let (content_type, text) = if path == "/sse" {
        let events = ["a", "b", "c"].map(|t| format!("data: {{\"t\": \"{t}\"}}\n\n")).concat();
        ("text/event-stream", format!("{events}data: [DONE]\n\n"))
    } else {
        ("application/json", serde_json::json!({"id": 42, "echo": body}).to_string())
    };
    Ok(http::Response::builder().header("content-type", content_type).body(Full::new(Bytes::from(text))).unwrap())
}

/// `final_stats.csv` of test `s`, as label → row.
fn final_stats(out: &Output) -> HashMap<String, Row> {
    artifacts::final_stats_by_label(&out.run_dir().join("s/final_stats.csv"))
}

/// The summary.json object of `label`.
fn label_of(out: &Output, label: &str) -> Value {
    let s = summary(&out.run_dir().join("summary.json"));
    let labels = s["tests"][0]["labels"].as_array().unwrap().clone();
    labels.into_iter().find(|l| l["label"] == label).unwrap_or_else(|| panic!("no `{label}` in {s}"))
}

#[test]
fn h2c_requests_share_one_connection_per_user_and_are_checked_and_streamed() {
    let server = Server::start(Speaks::H2c);
    let p = Project::new();
    let yaml = format!(
        r#"execution:
- concurrency: 2
  iterations: 3
  scenario: s
scenarios:
  s:
    http-version: 2
    headers: {{X-Test: h2c}}
    requests:
    - url: {url}/item
      label: create
      method: POST
      body: hello
      assert: ['"echo":"hello"']
      extract-jsonpath: {{id: $.id}}
    - url: {url}/item/${{id}}
      label: read
      assert:
      - contains: ['HTTP/2 200']
        subject: headers
    - url: {url}/sse
      label: sse
      stream: sse
      tokens-from: $.t
"#,
        url = server.url()
    );
    let out = p.run_test(&yaml, LIMIT);
    assert_eq!(out.code, 0, "{out}");
    let stats = final_stats(&out);
    for label in ["create", "read", "sse"] {
        assert_eq!(
            (artifacts::stat(&stats, label, "rc_200"), artifacts::stat(&stats, label, "fail")),
            (6, 0),
            "{label}: {stats:?}"
        );
    }
    let seen = server.seen();
    assert_eq!(seen.len(), 18, "{seen:?}");
    assert!(seen.iter().all(|r| r.version == http::Version::HTTP_2 && r.x_test == "h2c"), "{seen:?}");
    // The extractor read the body of the first response; the second request used what it found.
    let paths = |p: &str| seen.iter().filter(|r| r.path == p).count();
    assert_eq!((paths("/item"), paths("/item/42"), paths("/sse")), (6, 6, 6), "{seen:?}");
    assert!(seen.iter().filter(|r| r.path == "/item").all(|r| r.body == "hello"), "{seen:?}");
    // One connection per virtual user, each carrying that user's nine requests.
    assert_eq!(server.connections(), 2);
    let per_connection = |c: usize| seen.iter().filter(|r| r.connection == c).count();
    assert_eq!((per_connection(1), per_connection(2)), (9, 9));
    // Three events a response, `[DONE]` is none; one token each.
    let stream = &label_of(&out, "sse")["stream"];
    assert_eq!(
        (stream["samples"].as_u64(), stream["events"].as_u64(), stream["tokens"].as_u64()),
        (Some(6), Some(18), Some(18)),
        "{stream}"
    );
}

#[test]
fn http_version_picks_the_protocol_and_the_connection() {
    let h1 = Server::start(Speaks::H1);
    let both = Server::start(Speaks::Both);
    let p = Project::new();
    let yaml = format!(
        r#"execution:
- iterations: 2
  scenario: s
scenarios:
  s:
    timeout: 5s
    requests:
    - url: {h1}/default
      label: default
    - url: {h1}/one
      label: one
      http-version: 1.1
    - url: {h1}/two
      label: two
      http-version: "2"
    - url: {both}/two
      label: both-2
      http-version: 2
    - url: {both}/one
      label: both-1
      http-version: '1.1'
"#,
        h1 = h1.url(),
        both = both.url()
    );
    let out = p.run_test(&yaml, LIMIT);
    assert_eq!(out.code, 0, "{out}");
    // A server that does not speak h2c fails the sample at once, saying why.
    assert!(out.elapsed < Duration::from_secs(15), "{out}");
    let stats = final_stats(&out);
    for label in ["default", "one", "both-2", "both-1"] {
        assert_eq!(
            (artifacts::stat(&stats, label, "rc_200"), artifacts::stat(&stats, label, "fail")),
            (2, 0),
            "{label}: {stats:?}"
        );
    }
    assert_eq!(
        (artifacts::stat(&stats, "two", "rc_TransportError"), artifacts::stat(&stats, "two", "fail")),
        (2, 2),
        "{stats:?}"
    );
    let errors = &label_of(&out, "two")["errors"];
    let message = errors[0]["message"].as_str().unwrap_or_default();
    assert!(
        message.starts_with(
            "no HTTP/2 response to prior knowledge (h2c, `http-version: 2`); does the server speak HTTP/2 without TLS?"
        ),
        "{errors}"
    );
    let seen = h1.seen();
    assert!(seen.iter().all(|r| r.version == http::Version::HTTP_11), "{seen:?}");
    let paths: HashSet<&str> = seen.iter().map(|r| r.path.as_str()).collect();
    assert_eq!(paths, HashSet::from(["/default", "/one"]), "{seen:?}");
    // One origin asked for both versions: each request on a connection of its own version,
    // never an h2c request on an HTTP/1.1 connection or back.
    let seen = both.seen();
    assert_eq!(seen.len(), 4, "{seen:?}");
    for r in &seen {
        let version = if r.path == "/two" { http::Version::HTTP_2 } else { http::Version::HTTP_11 };
        assert_eq!(r.version, version, "{seen:?}");
    }
    let connections: HashSet<usize> = seen.iter().map(|r| r.connection).collect();
    assert_eq!(connections.len(), 4, "{seen:?}");
}

#[test]
fn a_bad_http_version_is_an_error_before_any_load() {
    let server = Server::start(Speaks::H1);
    let p = Project::new();
    let yaml = format!(
        "execution:\n- iterations: 1\n  scenario: s\nscenarios:\n  s:\n    http-version: 3\n    requests:\n    - url: {url}/x\n      http-version: aut\n",
        url = server.url()
    );
    let out = p.run_test(&yaml, LIMIT);
    assert_eq!(out.code, 1, "{out}");
    assert!(
        out.stderr.contains("error: `http-version` is `1.1`, `2` or `auto`, not `3`\n  --> t/s.yaml:6:19"),
        "{out}"
    );
    assert!(out.stderr.contains("suite speaks HTTP/1.1 and HTTP/2: write `1.1`, `2` or `auto`"), "{out}");
    assert!(out.stderr.contains("not `aut`\n  --> t/s.yaml:9:21"), "{out}");
    assert!(out.stderr.contains("did you mean `auto`?"), "{out}");
    assert!(server.seen().is_empty() && server.connections() == 0);
}
