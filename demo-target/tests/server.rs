//! End-to-end test of the real `demo-target` binary: starts a frontend with
//! two workers on an ephemeral 127.0.0.1 port and talks to it with a plain
//! std `TcpStream` HTTP client (no extra dependencies).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

/// Kills the frontend if the test fails half-way, so nothing is left behind.
struct Frontend {
    child: Child,
    pid: u32,
    port: u16,
    mgmt_port: u16,
}

impl Drop for Frontend {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start() -> Frontend {
    start_with(&[])
}

fn start_with(extra: &[&str]) -> Frontend {
    // Tests run in parallel: each frontend gets its own folder.
    static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("demo-target-it-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let port_file = dir.join("port");
    let mut child = Command::new(env!("CARGO_BIN_EXE_demo-target"))
        .args(["--port", "0", "--management-port", "0", "--workers", "2", "--work-ms", "5"])
        .arg("--port-file")
        .arg(&port_file)
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start demo-target");

    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    stdout.read_line(&mut line).unwrap();
    // "demo-target listening on 127.0.0.1:PORT (frontend pid P, N workers)"
    let rest = line
        .trim()
        .strip_prefix("demo-target listening on 127.0.0.1:")
        .unwrap_or_else(|| panic!("unexpected startup line {line:?}"));
    let (port, rest) = rest.split_once(' ').unwrap();
    let port: u16 = port.parse().unwrap();
    let pid: u32 = rest
        .strip_prefix("(frontend pid ")
        .and_then(|r| r.strip_suffix(", 2 workers)"))
        .unwrap_or_else(|| panic!("unexpected startup line {line:?}"))
        .parse()
        .unwrap();
    assert_eq!(pid, child.id());
    assert_eq!(std::fs::read_to_string(&port_file).unwrap().trim(), port.to_string());

    // The management address is announced on stderr (stdout has exactly one line).
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mgmt_port = loop {
        let mut l = String::new();
        assert!(stderr.read_line(&mut l).unwrap() > 0, "frontend exited early");
        if let Some(p) = l.trim().strip_prefix("demo-target management API listening on 127.0.0.1:") {
            break p.parse().unwrap();
        }
    };
    // Keep draining both pipes so the server never blocks on a full pipe.
    thread::spawn(move || std::io::copy(&mut stdout, &mut std::io::sink()));
    thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));
    let _ = std::fs::remove_dir_all(&dir);
    Frontend { child, pid, port, mgmt_port }
}

/// A keep-alive HTTP/1.1 client connection.
struct Client {
    reader: BufReader<TcpStream>,
}

struct Resp {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Resp {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

impl Client {
    fn connect(port: u16) -> Client {
        let stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        Client { reader: BufReader::new(stream) }
    }

    fn send_raw(&mut self, raw: &[u8]) {
        self.reader.get_mut().write_all(raw).unwrap();
    }

    fn request(&mut self, method: &str, path: &str, headers: &[(&str, &str)], body: &str) -> Resp {
        let mut req = format!("{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {}\r\n", body.len());
        for (k, v) in headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        req.push_str("\r\n");
        req.push_str(body);
        self.send_raw(req.as_bytes());
        self.read_response()
    }

    fn read_response(&mut self) -> Resp {
        let mut line = String::new();
        self.reader.read_line(&mut line).unwrap();
        let status: u16 = line.split(' ').nth(1).unwrap_or_else(|| panic!("bad status line {line:?}")).parse().unwrap();
        let mut headers = Vec::new();
        loop {
            let mut h = String::new();
            self.reader.read_line(&mut h).unwrap();
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            let (k, v) = h.split_once(':').unwrap();
            headers.push((k.to_string(), v.trim().to_string()));
        }
        let mut resp = Resp { status, headers, body: String::new() };
        let len: usize = resp.header("content-length").map_or(0, |v| v.parse().unwrap());
        let mut body = vec![0; len];
        self.reader.read_exact(&mut body).unwrap();
        resp.body = String::from_utf8(body).unwrap();
        resp
    }
}

fn get(port: u16, path: &str) -> Resp {
    Client::connect(port).request("GET", path, &[], "")
}

/// Extracts the unsigned integer after `"key":` in a JSON text.
fn json_u64s(json: &str, key: &str) -> Vec<u64> {
    let needle = format!("\"{key}\":");
    json.match_indices(&needle)
        .map(|(i, _)| {
            let digits: String =
                json[i + needle.len()..].trim_start().chars().take_while(char::is_ascii_digit).collect();
            digits.parse().unwrap()
        })
        .collect()
}

/// (state, ppid) from /proc/<pid>/stat, or None if the process is gone.
fn proc_stat(pid: u64) -> Option<(char, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // "pid (comm) S ppid ..." — comm may contain spaces, so split after the last ')'.
    let mut fields = stat[stat.rfind(')')? + 1..].split_whitespace();
    let state = fields.next()?.chars().next()?;
    let ppid = fields.next()?.parse().ok()?;
    Some((state, ppid))
}

fn alive(pid: u64) -> bool {
    matches!(proc_stat(pid), Some((state, _)) if state != 'Z' && state != 'X')
}

fn worker_pids(mgmt_port: u16) -> Vec<u64> {
    let r = get(mgmt_port, "/models/squeezenet");
    assert_eq!(r.status, 200, "{}", r.body);
    json_u64s(&r.body, "pid")
}

#[test]
fn frontend_workers_helpers_management_and_lifetime() {
    let mut fe = start();
    let port = fe.port;

    // /ping, twice over one keep-alive connection.
    let mut c = Client::connect(port);
    for _ in 0..2 {
        let r = c.request("GET", "/ping", &[], "");
        assert_eq!(r.status, 200);
        assert!(r.body.contains("Healthy"), "{}", r.body);
        assert_eq!(r.header("connection"), None, "HTTP/1.1 stays open by default");
    }

    // Pipelined requests on the same connection come back in order.
    c.send_raw(b"GET /status/201 HTTP/1.1\r\nHost: x\r\n\r\nGET /status/202 HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(c.read_response().status, 201);
    assert_eq!(c.read_response().status, 202);

    // Predictions are spread over both workers, which are children of the frontend.
    let mut pids = Vec::new();
    for i in 0..6 {
        let r = c.request("POST", "/predictions/squeezenet", &[], &format!("input {i}"));
        assert_eq!(r.status, 200, "{}", r.body);
        assert_eq!(r.header("content-type"), Some("application/json"));
        assert!(r.body.contains(r#""model":"squeezenet""#), "{}", r.body);
        assert!(r.body.contains(r#""result":["#), "{}", r.body);
        pids.push(json_u64s(&r.body, "worker_pid")[0]);
    }
    pids.sort_unstable();
    pids.dedup();
    assert_eq!(pids.len(), 2, "expected two distinct workers, got {pids:?}");
    for &pid in &pids {
        assert_ne!(pid, u64::from(fe.pid));
        assert_eq!(proc_stat(pid).map(|s| s.1), Some(u64::from(fe.pid)), "worker {pid} is not a child");
    }
    let r = get(port, "/predictions/resnet-18/1.0");
    assert_eq!(r.status, 200, "{}", r.body);
    let r = get(port, "/predictions/no-such-model");
    assert_eq!(r.status, 404);
    assert!(r.body.contains("ModelNotFoundException") && r.body.contains("Model not found: no-such-model"));
    assert_eq!(get(port, "/no/such/path").status, 404);

    // /echo reflects method, path, query, lower-cased headers and body.
    let r = c.request("PUT", "/echo/abc?x=1&y=two", &[("X-Custom-Header", "Value 1")], "payload");
    assert_eq!(r.status, 200);
    for part in [
        r#""method":"PUT""#,
        r#""path":"/echo/abc""#,
        r#""query":"x=1&y=two""#,
        r#""x-custom-header":"Value 1""#,
        r#""body":"payload""#,
    ] {
        assert!(r.body.contains(part), "{part} missing in {}", r.body);
    }
    // A chunked request body is decoded.
    c.send_raw(b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n");
    let r = c.read_response();
    assert!(r.body.contains(r#""body":"abcde""#), "{}", r.body);

    // Bad input gets a 400 and a closed connection, not a crash.
    let mut bad = Client::connect(port);
    bad.send_raw(b"NOT A VALID REQUEST LINE\r\n\r\n");
    let r = bad.read_response();
    assert_eq!(r.status, 400);
    assert_eq!(r.header("connection"), Some("close"));

    // /sleep and /control: an added delay applies to later predictions.
    let t = Instant::now();
    assert_eq!(get(port, "/sleep/100").body, "ok");
    assert!(t.elapsed() >= Duration::from_millis(100));
    let r = c.request("POST", "/control?delay_ms=300", &[], "");
    assert_eq!(r.status, 200);
    assert!(r.body.contains(r#""delay_ms":300"#), "{}", r.body);
    let t = Instant::now();
    assert_eq!(c.request("GET", "/predictions/squeezenet", &[], "").status, 200);
    assert!(t.elapsed() >= Duration::from_millis(300), "took {:?}", t.elapsed());
    assert_eq!(c.request("POST", "/control?status=503", &[], "").status, 200);
    assert_eq!(c.request("GET", "/predictions/squeezenet", &[], "").status, 503);
    let r = c.request("POST", "/control/reset", &[], "");
    assert!(r.body.contains(r#""delay_ms":0"#) && r.body.contains(r#""status":0"#), "{}", r.body);
    assert_eq!(c.request("GET", "/predictions/squeezenet", &[], "").status, 200);

    // /stats counts requests, but not /stats and /control themselves.
    let r = get(port, "/stats");
    assert!(r.body.contains(r#""/ping":2"#), "{}", r.body);
    assert!(!r.body.contains("/control") && !r.body.contains("\"/stats\""), "{}", r.body);

    // Management API: list, describe, scale up and down.
    let r = get(fe.mgmt_port, "/models");
    assert!(r.body.contains(r#"{"modelName":"squeezenet","modelUrl":"squeezenet.mar"}"#), "{}", r.body);
    assert_eq!(worker_pids(fe.mgmt_port).len(), 2);
    let mut m = Client::connect(fe.mgmt_port);
    let r = m.request("PUT", "/models/squeezenet?min_worker=3&synchronous=true", &[], "");
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body, r#"{"status":"Workers scaled"}"#);
    let three = worker_pids(fe.mgmt_port);
    assert_eq!(three.len(), 3, "{three:?}");
    assert!(three.iter().all(|&p| proc_stat(p).map(|s| s.1) == Some(u64::from(fe.pid))));
    assert_eq!(m.request("PUT", "/models/squeezenet?min_worker=1&synchronous=true", &[], "").status, 200);
    let one = worker_pids(fe.mgmt_port);
    assert_eq!(one.len(), 1);
    assert_eq!(m.request("PUT", "/models/nope?min_worker=1", &[], "").status, 404);
    let removed: Vec<u64> = three.iter().copied().filter(|p| !one.contains(p)).collect();
    let deadline = Instant::now() + Duration::from_secs(5);
    while removed.iter().any(|&p| alive(p)) && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(20));
    }
    assert!(removed.iter().all(|&p| !alive(p)), "scaled-down workers still running");

    // A worker that dies is noticed and replaced; the pool recovers.
    let victim = one[0];
    Command::new("kill").args(["-9", &victim.to_string()]).status().unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    let replacement = loop {
        let r = get(port, "/predictions/squeezenet");
        assert!(r.status == 200 || r.status == 503, "{} {}", r.status, r.body);
        if r.status == 200 {
            let pid = json_u64s(&r.body, "worker_pid")[0];
            if pid != victim {
                break pid;
            }
        }
        assert!(Instant::now() < deadline, "dead worker was not replaced");
        thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(worker_pids(fe.mgmt_port), [replacement]);

    // SIGKILL the frontend: every worker must be gone within 2 s.
    assert_eq!(m.request("PUT", "/models/squeezenet?min_worker=2&synchronous=true", &[], "").status, 200);
    let workers = worker_pids(fe.mgmt_port);
    assert_eq!(workers.len(), 2);
    assert!(workers.iter().all(|&p| alive(p)));
    fe.child.kill().unwrap(); // SIGKILL
    fe.child.wait().unwrap();
    let deadline = Instant::now() + Duration::from_secs(2);
    while workers.iter().any(|&p| alive(p)) && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(20));
    }
    let left: Vec<u64> = workers.iter().copied().filter(|&p| alive(p)).collect();
    assert!(left.is_empty(), "workers {left:?} outlived the frontend");
}

/// The MMS management calls the corpus plans make, in their order:
/// register → predict → scale (synchronous) → describe → unregister → 404.
#[test]
fn mms_management_lifecycle() {
    let fe = start();
    let mut m = Client::connect(fe.mgmt_port);

    let r = m.request("GET", "/ping", &[], "");
    assert_eq!((r.status, r.body.as_str()), (200, r#"{"status": "Healthy"}"#));
    let r = m.request("OPTIONS", "/", &[], "");
    assert_eq!(r.status, 200);
    assert!(r.body.contains(r#""openapi":"3.0.1""#), "{}", r.body);
    // The inference API describes itself as MMS's does (api_description.jmx asks both ports).
    let r = Client::connect(fe.port).request("OPTIONS", "/", &[], "");
    assert_eq!(r.status, 200);
    assert!(r.body.contains(r#""openapi":"3.0.1""#), "{}", r.body);

    // Not registered yet: inference and management both answer 404.
    assert_eq!(get(fe.port, "/predictions/squeezenet_v1.1").status, 404);
    let r = m.request("GET", "/models/squeezenet_v1.1", &[], "");
    assert_eq!(r.status, 404);
    assert_eq!(r.body, r#"{"code":404,"type":"ModelNotFoundException","message":"Model not found: squeezenet_v1.1"}"#);

    // Register: the name is the url's file stem; a second register conflicts.
    let url = "https://s3.amazonaws.com/model-server/model_archive_1.0/squeezenet_v1.1.mar";
    let r = m.request("POST", &format!("/models?url={url}"), &[], "");
    assert_eq!((r.status, r.body.as_str()), (200, r#"{"status":"Model \"squeezenet_v1.1\" registered"}"#));
    assert_eq!(r.header("content-type"), Some("application/json"));
    let r = m.request("POST", &format!("/models?url={url}"), &[], "");
    assert_eq!(r.status, 409, "{}", r.body);
    assert!(r.body.contains(r#""type":"ConflictStatusException""#), "{}", r.body);
    // model_name, initial_workers and synchronous, as register_unregister.jmx sends them.
    let r = m.request("POST", "/models?url=noop-1&model_name=noop-1&initial_workers=1&synchronous=true", &[], "");
    assert_eq!((r.status, r.body.as_str()), (200, r#"{"status":"Model \"noop-1\" registered"}"#));
    // Parameters in a form body work too; a missing url is a 400.
    let form = [("Content-Type", "application/x-www-form-urlencoded")];
    let r = m.request("POST", "/models", &form, "url=https%3A%2F%2Fh%2Fresnet-50.model");
    assert_eq!((r.status, r.body.as_str()), (200, r#"{"status":"Model \"resnet-50\" registered"}"#));
    assert_eq!(m.request("POST", "/models?model_name=x", &[], "").status, 400);

    // Listed in registration order, with pagination.
    let r = m.request("GET", "/models", &[], "");
    assert_eq!(r.status, 200);
    let names = ["squeezenet", "resnet-18", "squeezenet_v1.1", "noop-1", "resnet-50"];
    let mut at = 0;
    for n in names {
        let i = r.body[at..].find(&format!(r#""modelName":"{n}""#)).unwrap_or_else(|| panic!("{n}: {}", r.body));
        at += i;
    }
    assert!(r.body.contains(&format!(r#"{{"modelName":"squeezenet_v1.1","modelUrl":"{url}"}}"#)), "{}", r.body);
    assert!(!r.body.contains("nextPageToken"), "{}", r.body);
    let r = m.request("GET", "/models?limit=2&next_page_token=1", &[], "");
    assert!(r.body.starts_with(r#"{"models":[{"modelName":"resnet-18""#), "{}", r.body);
    assert!(r.body.ends_with(r#""nextPageToken":"3"}"#), "{}", r.body);

    // Predict on the newly registered model.
    let r = get(fe.port, "/predictions/squeezenet_v1.1");
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.body.contains(r#""model":"squeezenet_v1.1""#), "{}", r.body);

    // Scale synchronously: the workers are up when the call returns.
    let r = m.request("PUT", "/models/squeezenet_v1.1?min_worker=3&max_worker=4&synchronous=true", &[], "");
    assert_eq!((r.status, r.body.as_str()), (200, r#"{"status":"Workers scaled"}"#));
    let r = m.request("GET", "/models/squeezenet_v1.1", &[], "");
    assert_eq!(r.status, 200);
    for part in [
        r#""modelName":"squeezenet_v1.1""#,
        &format!(r#""modelUrl":"{url}""#),
        r#""minWorkers":3"#,
        r#""maxWorkers":4"#,
        r#""loadedAtStartup":false"#,
    ] {
        assert!(r.body.contains(part), "{part} missing in {}", r.body);
    }
    assert_eq!(json_u64s(&r.body, "pid").len(), 3, "{}", r.body);
    // Asynchronous scaling answers 202 at once, then the pool follows.
    let r = m.request("PUT", "/models/squeezenet_v1.1?min_worker=1", &[], "");
    assert_eq!((r.status, r.body.as_str()), (202, r#"{"status":"Processing worker updates..."}"#));
    let deadline = Instant::now() + Duration::from_secs(5);
    while worker_pids(fe.mgmt_port).len() != 1 {
        assert!(Instant::now() < deadline, "async scale-down did not happen");
        thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(m.request("PUT", "/models/nope?min_worker=1&synchronous=true", &[], "").status, 404);
    assert_eq!(m.request("PUT", "/models/squeezenet_v1.1?min_worker=x", &[], "").status, 400);

    // Unregister (the plans add ?min_worker=0, which is ignored); then 404s.
    let r = m.request("DELETE", "/models/squeezenet_v1.1?min_worker=0", &[], "");
    assert_eq!((r.status, r.body.as_str()), (200, r#"{"status":"Model \"squeezenet_v1.1\" unregistered"}"#));
    assert_eq!(m.request("DELETE", "/models/squeezenet_v1.1", &[], "").status, 404);
    let r = get(fe.port, "/predictions/squeezenet_v1.1");
    assert_eq!(r.status, 404);
    assert!(r.body.contains("Model not found: squeezenet_v1.1"), "{}", r.body);
    assert!(!m.request("GET", "/models", &[], "").body.contains("squeezenet_v1.1"));
    // The other models still predict on the shared pool.
    assert_eq!(get(fe.port, "/predictions/noop-1").status, 200);
}

/// `--worker-script model_service_worker.py`: each worker's second command-line word names the
/// script, as MMS's `python .../model_service_worker.py` does, so MMS-style monitoring (which
/// counts only such descendants) sees the workers; without it no worker matches.
#[test]
fn worker_script_names_the_workers_command_line() {
    let cmdline = |pid: u64| -> Vec<String> {
        let raw = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap();
        raw.split(|b| *b == 0).filter(|w| !w.is_empty()).map(|w| String::from_utf8_lossy(w).into_owned()).collect()
    };
    let fe = start_with(&["--worker-script", "model_service_worker.py"]);
    let workers = worker_pids(fe.mgmt_port);
    assert_eq!(workers.len(), 2);
    for pid in workers {
        let words = cmdline(pid);
        assert_eq!(words[1], "--worker-script=model_service_worker.py", "{words:?}");
    }
    let fe = start();
    for pid in worker_pids(fe.mgmt_port) {
        assert!(!cmdline(pid).join(" ").contains("model_service_worker.py"));
    }
}
