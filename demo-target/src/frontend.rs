//! The frontend process: binds the inference (and optional management)
//! listener, starts the worker pool, announces itself, and routes requests —
//! `/ping` and the test helpers are answered here, `/predictions/*` is
//! forwarded to a worker, and the management API lists and scales models.

use crate::control::{method_not_allowed, Control, Stats, MAX_MS};
use crate::http::{percent_decode, Request, Response};
use crate::json;
use crate::pool::{ForwardError, Pool, WorkerSpec, MAX_WORKERS};
use crate::record::EchoLog;
use crate::server;
use std::io::{self, Write};
use std::net::{IpAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

/// Keep-alive connections idle for this long are closed.
const IDLE_TIMEOUT: Duration = Duration::from_secs(120);

/// Frontend configuration, from the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub bind: IpAddr,
    pub port: u16,
    pub management_port: Option<u16>,
    pub workers: usize,
    pub work_ms: u64,
    pub models: Vec<String>,
    pub pid_file: Option<PathBuf>,
    pub port_file: Option<PathBuf>,
}

/// Runs the frontend; only returns on a startup error.
pub fn run(cfg: Config) -> Result<(), String> {
    let listener = TcpListener::bind((cfg.bind, cfg.port))
        .map_err(|e| format!("cannot listen on {}:{}: {e}", cfg.bind, cfg.port))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let management = match cfg.management_port {
        Some(port) => Some(
            TcpListener::bind((cfg.bind, port))
                .map_err(|e| format!("cannot listen on {}:{port} (management): {e}", cfg.bind))?,
        ),
        None => None,
    };

    let exe = std::env::current_exe().map_err(|e| format!("cannot find own executable: {e}"))?;
    let spec = WorkerSpec { exe, work_ms: cfg.work_ms, models: cfg.models.clone() };
    let pool = Pool::start(spec, cfg.workers).map_err(|e| format!("cannot start workers: {e}"))?;
    let frontend = Arc::new(Frontend {
        models: cfg.models.clone(),
        pool,
        control: Control::new(cfg.work_ms),
        stats: Stats::default(),
        echo_log: EchoLog::default(),
    });

    if let Some(listener) = management {
        let maddr = listener.local_addr().map_err(|e| e.to_string())?;
        let fe = Arc::clone(&frontend);
        let handler = move |req: &Request| fe.handle_management(req);
        server::spawn_server("management", listener, Arc::new(handler), Some(IDLE_TIMEOUT))
            .map_err(|e| e.to_string())?;
        // stdout carries exactly one line, so this one goes to stderr.
        log!("demo-target management API listening on {maddr}");
    }

    let pid = std::process::id();
    if let Some(path) = &cfg.pid_file {
        write_atomically(path, &pid.to_string())
            .map_err(|e| format!("cannot write pid file {}: {e}", path.display()))?;
    }
    if let Some(path) = &cfg.port_file {
        write_atomically(path, &addr.port().to_string())
            .map_err(|e| format!("cannot write port file {}: {e}", path.display()))?;
    }
    let mut out = io::stdout().lock();
    writeln!(out, "demo-target listening on {addr} (frontend pid {pid}, {} workers)", cfg.workers)
        .and_then(|()| out.flush())
        .map_err(|e| e.to_string())?;
    drop(out);

    let fe = Arc::clone(&frontend);
    let handler = move |req: &Request| fe.handle_inference(req);
    server::serve(listener, Arc::new(handler), Some(IDLE_TIMEOUT));
    Ok(())
}

/// Writes `contents` to a temp file beside `path`, then renames it over
/// `path`, so a reader sees either the old file or the complete new one.
pub fn write_atomically(path: &Path, contents: &str) -> io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(".tmp.{}", std::process::id()));
    let tmp = PathBuf::from(tmp);
    let res = std::fs::write(&tmp, format!("{contents}\n")).and_then(|()| std::fs::rename(&tmp, path));
    if res.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    res
}

fn healthy() -> Response {
    Response::json(200, r#"{"status": "Healthy"}"#)
}

fn not_found() -> Response {
    Response::json(
        404,
        json::error(404, "ResourceNotFoundException", "Requested resource is not found, please refer to API document."),
    )
}

fn bad_request(msg: &str) -> Response {
    Response::json(400, json::error(400, "BadRequestException", msg))
}

fn model_not_found(name: &str) -> Response {
    Response::json(404, json::error(404, "ModelNotFoundException", &format!("Model not found: {name}")))
}

/// Shared state of the frontend's request handlers.
pub struct Frontend {
    models: Vec<String>,
    pool: Arc<Pool>,
    control: Control,
    stats: Stats,
    echo_log: EchoLog,
}

impl Frontend {
    /// Routes a request on the inference port.
    pub fn handle_inference(&self, req: &Request) -> Response {
        let path = req.path.as_str();
        let is_meta = path == "/stats" || path == "/control" || path.starts_with("/control/");
        if !is_meta {
            self.stats.record(path);
        }
        let method = req.method.as_str();
        if path == "/ping" {
            return match method {
                "GET" | "HEAD" | "POST" => healthy(),
                _ => method_not_allowed(),
            };
        }
        if let Some(rest) = path.strip_prefix("/predictions/") {
            return match method {
                "GET" | "POST" | "PUT" => self.predict(rest, req),
                _ => method_not_allowed(),
            };
        }
        if path == "/echo" || path.starts_with("/echo/") {
            let answer = echo(req);
            self.echo_log.record(&answer.body);
            return answer;
        }
        if path == "/echo-log" {
            return self.echo_log.response();
        }
        if path == "/redirect" {
            return crate::record::redirect(req);
        }
        if path == "/cookie" {
            return crate::record::cookie(req);
        }
        if let Some(ms) = path.strip_prefix("/sleep/") {
            return match ms.parse::<u64>() {
                Ok(ms) if ms <= MAX_MS => {
                    thread::sleep(Duration::from_millis(ms));
                    Response::text(200, "ok")
                }
                _ => bad_request(&format!("sleep takes milliseconds 0..={MAX_MS}")),
            };
        }
        if let Some(code) = path.strip_prefix("/status/") {
            return match code.parse::<u16>() {
                Ok(code) if (200..=599).contains(&code) => Response::text(code, format!("status {code}\n")),
                _ => bad_request("status takes a code in 200..=599"),
            };
        }
        if is_meta && path != "/stats" {
            return self.control.handle(req);
        }
        if path == "/stats" {
            return match method {
                "GET" | "HEAD" => Response::json(200, self.stats.to_json()),
                _ => method_not_allowed(),
            };
        }
        not_found()
    }

    /// The model named by `{model}[/{version}]`, or the 404 to answer.
    fn known_model(&self, rest: &str) -> Result<String, Response> {
        let segments: Vec<&str> = rest.split('/').collect();
        if segments.len() > 2 || segments.iter().any(|s| s.is_empty()) {
            return Err(not_found());
        }
        let model = percent_decode(segments[0]);
        if !self.models.contains(&model) {
            return Err(model_not_found(&model));
        }
        Ok(model)
    }

    /// `/predictions/{model}[/{version}]`: validate, apply `/control`
    /// settings, forward to a worker.
    fn predict(&self, rest: &str, req: &Request) -> Response {
        let model = match self.known_model(rest) {
            Ok(m) => m,
            Err(response) => return response,
        };
        let settings = self.control.get();
        let resp = if settings.status != 0 {
            Response::json(settings.status, json::error(settings.status, "ForcedStatus", "status forced by /control"))
        } else {
            match self.pool.forward(&req.path, &req.body, settings.work_ms) {
                Ok(r) => {
                    let ctype = r.header("content-type").unwrap_or("application/json").to_string();
                    Response::new(r.status, &ctype, r.body)
                }
                Err(ForwardError::NoWorkers) => Response::json(
                    503,
                    json::error(
                        503,
                        "ServiceUnavailableException",
                        &format!("No worker is available to serve request: {model}"),
                    ),
                ),
                Err(ForwardError::WorkerFailed { pid, error }) => Response::json(
                    503,
                    json::error(
                        503,
                        "ServiceUnavailableException",
                        &format!("Worker (pid {pid}) died while handling the request: {error}"),
                    ),
                ),
            }
        };
        if settings.delay_ms > 0 {
            thread::sleep(Duration::from_millis(settings.delay_ms));
        }
        resp
    }

    /// Routes a request on the management port.
    pub fn handle_management(&self, req: &Request) -> Response {
        let path = req.path.trim_end_matches('/');
        let method = req.method.as_str();
        if path == "/ping" {
            return healthy();
        }
        if path == "/models" {
            return match method {
                "GET" | "HEAD" => {
                    let models =
                        json::array(self.models.iter().map(|m| {
                            json::Object::new().str("modelName", m).str("modelUrl", &format!("{m}.mar")).build()
                        }));
                    Response::json(200, json::Object::new().raw("models", models).build())
                }
                _ => method_not_allowed(),
            };
        }
        let Some(rest) = path.strip_prefix("/models/") else {
            return not_found();
        };
        let model = match self.known_model(rest) {
            Ok(m) => m,
            Err(response) => return response,
        };
        match method {
            "GET" | "HEAD" => Response::json(200, self.describe(&model)),
            "PUT" => self.scale(&model, req),
            _ => method_not_allowed(),
        }
    }

    /// The model description. All models share one worker pool, so each
    /// lists the same workers.
    fn describe(&self, model: &str) -> String {
        let workers = self.pool.workers();
        let list = json::array(workers.iter().map(|w| {
            json::Object::new()
                .num("id", w.id)
                .num("pid", w.pid)
                .str("status", "READY")
                .num("inflight", w.inflight())
                .build()
        }));
        json::Object::new()
            .str("modelName", model)
            .str("modelVersion", "1.0")
            .str("modelUrl", &format!("{model}.mar"))
            .str("runtime", "rust")
            .num("minWorkers", workers.len())
            .num("maxWorkers", workers.len())
            .num("batchSize", 1)
            .num("maxBatchDelay", 100)
            .raw("loadedAtStartup", "true")
            .raw("workers", list)
            .build()
    }

    /// `PUT /models/{name}?min_worker=K`: scale the (shared) pool to K workers.
    fn scale(&self, model: &str, req: &Request) -> Response {
        let Some(raw) = req.query_param("min_worker") else {
            return bad_request("min_worker is required");
        };
        let count = match raw.parse::<usize>() {
            Ok(n) if n <= MAX_WORKERS => n,
            _ => return bad_request(&format!("min_worker must be an integer 0..={MAX_WORKERS}")),
        };
        match self.pool.scale(count) {
            Ok(()) => Response::json(
                200,
                json::Object::new().str("status", &format!("Workers scaled to {count} for model: {model}")).build(),
            ),
            Err(e) => Response::json(
                500,
                json::error(500, "InternalServerException", &format!("Failed to start workers: {e}")),
            ),
        }
    }
}

/// `ANY /echo[...]`: the request as JSON, for tests that inspect what a
/// load generator actually sent.
fn echo(req: &Request) -> Response {
    // Lower-cased names; repeated headers are joined with ", ".
    let mut merged: Vec<(String, String)> = Vec::new();
    for (k, v) in &req.headers {
        let k = k.to_ascii_lowercase();
        match merged.iter_mut().find(|(name, _)| *name == k) {
            Some((_, existing)) => {
                existing.push_str(", ");
                existing.push_str(v);
            }
            None => merged.push((k, v.clone())),
        }
    }
    let mut headers = json::Object::new();
    for (k, v) in &merged {
        headers = headers.str(k, v);
    }
    let body = json::Object::new()
        .str("method", &req.method)
        .str("path", &req.path)
        .str("query", &req.query)
        .raw("headers", headers.build())
        .str("body", &String::from_utf8_lossy(&req.body))
        .build();
    Response::json(200, body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::http::Version;

    fn req(method: &str, target: &str, headers: &[(&str, &str)], body: &str) -> Request {
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        Request {
            method: method.into(),
            path: path.into(),
            query: query.into(),
            version: Version::Http11,
            headers: headers.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn echo_lowercases_and_merges_headers() {
        let r = echo(&req("PUT", "/echo/x?a=1", &[("X-A", "1"), ("x-a", "2"), ("Host", "h")], "hi\""));
        let body = String::from_utf8(r.body).unwrap();
        assert_eq!(
            body,
            r#"{"method":"PUT","path":"/echo/x","query":"a=1","headers":{"x-a":"1, 2","host":"h"},"body":"hi\""}"#
        );
    }

    #[test]
    fn atomic_write_replaces_file() {
        let dir = std::env::temp_dir().join(format!("demo-target-unit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("port");
        write_atomically(&f, "1").unwrap();
        write_atomically(&f, "8080").unwrap();
        assert_eq!(std::fs::read_to_string(&f).unwrap(), "8080\n");
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 1, "no temp file left behind");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
