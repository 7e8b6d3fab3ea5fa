//! The frontend process: binds the inference (and optional management)
//! listener, starts the worker pool, announces itself, and routes requests —
//! `/ping`, the test helpers and the streamed `/v1/completions` are answered
//! here, `/predictions/*` is forwarded to a worker, and the management API
//! lists and scales models.

use crate::cli::Config;
use crate::control::{method_not_allowed, Control, Stats, MAX_MS};
use crate::http::{self, percent_decode, Request, Response};
use crate::pool::{ForwardError, Pool, WorkerSpec, MAX_WORKERS};
use crate::record::JsonLog;
use crate::work::Spread;
use hyper::body::Bytes;
use hyper::header::CONTENT_TYPE;
use indexmap::IndexMap;
use serde::Serialize;
use serde_json::json;
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

/// Keep-alive connections idle for this long are closed.
const IDLE_TIMEOUT: Duration = Duration::from_secs(120);

/// Runs the frontend; only returns on a startup error.
pub async fn run(cfg: Config) -> Result<(), String> {
    let listener = TcpListener::bind((cfg.bind, cfg.port))
        .await
        .map_err(|e| format!("cannot listen on {}:{}: {e}", cfg.bind, cfg.port))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let management = match cfg.management_port {
        Some(port) => Some(
            TcpListener::bind((cfg.bind, port))
                .await
                .map_err(|e| format!("cannot listen on {}:{port} (management): {e}", cfg.bind))?,
        ),
        None => None,
    };
    let grpc = match cfg.grpc_port {
        Some(port) => Some(
            TcpListener::bind((cfg.bind, port))
                .await
                .map_err(|e| format!("cannot listen on {}:{port} (gRPC): {e}", cfg.bind))?,
        ),
        None => None,
    };

    let exe = std::env::current_exe().map_err(|e| format!("cannot find own executable: {e}"))?;
    let spec = WorkerSpec {
        exe,
        work_ms: cfg.work_ms,
        wait: cfg.work_kind == "wait",
        models: cfg.models.clone(),
        script: cfg.worker_script.clone(),
    };
    let pool = Pool::start(spec, cfg.workers).await.map_err(|e| format!("cannot start workers: {e}"))?;
    let frontend = Arc::new(Frontend {
        models: std::sync::Mutex::new(
            cfg.models
                .iter()
                .map(|m| {
                    let model = Model {
                        url: format!("{m}.mar"),
                        min_workers: cfg.workers,
                        max_workers: cfg.workers,
                        at_startup: true,
                    };
                    (m.clone(), model)
                })
                .collect(),
        ),
        pool,
        control: Control::new(cfg.work_ms),
        spread: Spread::new(cfg.work_cv),
        stats: Stats::default(),
        echo_log: JsonLog::default(),
        grpc_log: JsonLog::default(),
    });

    if let Some(listener) = management {
        let maddr = listener.local_addr().map_err(|e| e.to_string())?;
        let fe = Arc::clone(&frontend);
        tokio::spawn(http::serve(listener, Some(IDLE_TIMEOUT), move |req| Arc::clone(&fe).management(req)));
        // stdout carries exactly one line, so this one goes to stderr.
        log!("demo-target management API listening on {maddr}");
    }
    if let Some(listener) = grpc {
        let gaddr = listener.local_addr().map_err(|e| e.to_string())?;
        tokio::spawn(crate::grpc::serve(listener, Arc::clone(&frontend)));
        log!("demo-target gRPC API listening on {gaddr}");
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

    http::serve(listener, Some(IDLE_TIMEOUT), move |req| Arc::clone(&frontend).inference(req)).await;
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

fn not_found() -> Response {
    http::error(404, "ResourceNotFoundException", "Requested resource is not found, please refer to API document.")
}

fn bad_request(msg: &str) -> Response {
    http::error(400, "BadRequestException", msg)
}

/// Shared state of the frontend's request handlers.
pub struct Frontend {
    /// Registered models, in registration order.
    models: std::sync::Mutex<IndexMap<String, Model>>,
    pool: Arc<Pool>,
    control: Control,
    /// `--work-cv`: how each request's work is drawn around `work_ms`.
    spread: Spread,
    stats: Stats,
    echo_log: JsonLog,
    /// The gRPC calls received (`GET /grpc-log`).
    grpc_log: JsonLog,
}

impl Frontend {
    /// Routes a request on the inference port.
    pub async fn inference(self: Arc<Self>, req: Request) -> Response {
        let path = req.uri().path();
        let is_meta = path == "/stats" || path == "/control" || path.starts_with("/control/");
        if !is_meta {
            self.stats.record(path);
        }
        let method = req.method().as_str();
        if path == "/ping" {
            return match method {
                "GET" | "HEAD" | "POST" => http::healthy(),
                _ => method_not_allowed(),
            };
        }
        // MMS's inference API describes itself too (`OPTIONS /`, which api_description.jmx sends).
        if method == "OPTIONS" && path == "/" {
            return api_description();
        }
        if let Some(rest) = path.strip_prefix("/predictions/") {
            return match method {
                "GET" | "POST" | "PUT" => self.predict(rest.to_string(), req).await,
                _ => method_not_allowed(),
            };
        }
        if path == "/echo" || path.starts_with("/echo/") {
            let answer = echo(&req);
            self.echo_log.record(answer.body());
            return answer;
        }
        if path == "/v1/completions" {
            return crate::completions::handle(req).await;
        }
        if path == "/echo-log" {
            return self.echo_log.response();
        }
        if path == "/grpc-log" {
            return self.grpc_log.response();
        }
        if path == "/redirect" {
            return crate::record::redirect(&req);
        }
        if path == "/cookie" {
            return crate::record::cookie(&req);
        }
        if let Some(ms) = path.strip_prefix("/sleep/") {
            return match ms.parse::<u64>() {
                Ok(ms) if ms <= MAX_MS => {
                    tokio::time::sleep(Duration::from_millis(ms)).await;
                    http::text(200, "ok")
                }
                _ => bad_request(&format!("sleep takes milliseconds 0..={MAX_MS}")),
            };
        }
        if let Some(code) = path.strip_prefix("/status/") {
            return match code.parse::<u16>() {
                Ok(code) if (200..=599).contains(&code) => http::text(code, format!("status {code}\n")),
                _ => bad_request("status takes a code in 200..=599"),
            };
        }
        if is_meta && path != "/stats" {
            return self.control.handle(&req);
        }
        if path == "/stats" {
            return match method {
                "GET" | "HEAD" => http::response(200, "application/json", self.stats.to_json()),
                _ => method_not_allowed(),
            };
        }
        not_found()
    }

    /// The model named by `{model}[/{version}]`, or the 404 to answer.
    fn known_model(&self, rest: &str) -> Result<String, Box<Response>> {
        let segments: Vec<&str> = rest.split('/').collect();
        if segments.len() > 2 || segments.iter().any(|s| s.is_empty()) {
            return Err(Box::new(not_found()));
        }
        let model = percent_decode(segments[0]);
        if !self.registry().contains_key(&model) {
            return Err(Box::new(model_not_found(&model)));
        }
        Ok(model)
    }

    /// `/predictions/{model}[/{version}]`: validate, then forward to a worker.
    async fn predict(&self, rest: String, req: Request) -> Response {
        let model = match self.known_model(&rest) {
            Ok(m) => m,
            Err(response) => return *response,
        };
        let target = req.uri().path().to_string();
        self.forward_prediction(&model, &target, req.into_body()).await
    }

    /// One prediction on a worker with the `/control` settings applied (forced status, CPU work,
    /// added delay). `target` is `/predictions/{model}[/{version}]` and `model` is registered.
    /// The HTTP API answers with this response as it is; the gRPC API translates it.
    pub async fn forward_prediction(&self, model: &str, target: &str, body: Bytes) -> Response {
        let settings = self.control.get();
        let resp = if settings.status != 0 {
            http::error(settings.status, "ForcedStatus", "status forced by /control")
        } else {
            let work_ms = self.spread.draw(settings.work_ms, &mut fastrand::Rng::new());
            match self.pool.forward(target, body, work_ms).await {
                Ok(r) => {
                    let ctype = r.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(str::to_owned);
                    let ctype = ctype.unwrap_or_else(|| "application/json".into());
                    http::response(r.status().as_u16(), &ctype, r.into_body())
                }
                Err(ForwardError::NoWorkers) => http::error(
                    503,
                    "ServiceUnavailableException",
                    &format!("No worker is available to serve request: {model}"),
                ),
                Err(ForwardError::WorkerFailed { pid, error }) => http::error(
                    503,
                    "ServiceUnavailableException",
                    &format!("Worker (pid {pid}) died while handling the request: {error}"),
                ),
            }
        };
        if settings.delay_ms > 0 {
            tokio::time::sleep(Duration::from_millis(settings.delay_ms)).await;
        }
        resp
    }

    /// Whether `model` is registered.
    pub fn is_registered(&self, model: &str) -> bool {
        self.registry().contains_key(model)
    }

    /// How many workers the pool has now.
    pub fn worker_count(&self) -> usize {
        self.pool.workers().len()
    }

    /// Counts a gRPC call under its path in `/stats` and keeps its entry for `/grpc-log`.
    pub fn record_call(&self, path: &str, entry: &[u8]) {
        self.stats.record(path);
        self.grpc_log.record(entry);
    }

    /// Routes a request on the management port.
    pub async fn management(self: Arc<Self>, req: Request) -> Response {
        let path = req.uri().path().trim_end_matches('/');
        let method = req.method().as_str();
        if path == "/ping" {
            return http::healthy();
        }
        if method == "OPTIONS" {
            return api_description();
        }
        if path == "/models" {
            return match method {
                "GET" | "HEAD" => self.list(&req),
                "POST" => self.register(&req).await,
                _ => method_not_allowed(),
            };
        }
        let Some(rest) = path.strip_prefix("/models/") else {
            return not_found();
        };
        let model = match self.known_model(rest) {
            Ok(m) => m,
            Err(response) => return *response,
        };
        match method {
            "GET" | "HEAD" => match self.describe(&model) {
                Some(d) => http::json(200, &d),
                None => model_not_found(&model),
            },
            "PUT" => self.scale(&model, &req).await,
            "DELETE" => self.unregister(&model),
            _ => method_not_allowed(),
        }
    }

    /// `GET /models[?limit=N&next_page_token=T]`: registered models in
    /// registration order; `nextPageToken` appears when more follow.
    fn list(&self, req: &Request) -> Response {
        let params = http::query(req);
        let param = |name: &str| params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
        let limit = match param("limit").map(str::parse::<usize>) {
            None => 100,
            Some(Ok(n)) if n > 0 => n,
            Some(_) => return bad_request("Parameter limit must be a positive integer."),
        };
        let start = param("next_page_token").and_then(|t| t.parse::<usize>().ok()).unwrap_or(0);
        let models = self.registry();
        let page: Vec<_> = models
            .iter()
            .skip(start)
            .take(limit)
            .map(|(name, m)| Listed { model_name: name, model_url: m.url.clone() })
            .collect();
        let mut body = json!({ "models": page });
        if start.saturating_add(limit) < models.len() {
            body["nextPageToken"] = json!((start + limit).to_string());
        }
        http::json(200, &body)
    }

    /// `POST /models?url=X[&model_name=N][&initial_workers=K][&synchronous=true]`:
    /// registers a model. Nothing is downloaded: the url only names the model
    /// (its file stem, as MMS does, unless `model_name` is given). Other MMS
    /// parameters (batch_size, handler, ...) are accepted and ignored.
    async fn register(&self, req: &Request) -> Response {
        let mut params = http::query(req);
        let is_form = req
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
        if is_form {
            params.extend(http::query_pairs(&String::from_utf8_lossy(req.body())));
        }
        let param = |name: &str| params.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
        let Some(url) = param("url").filter(|u| !u.is_empty()) else {
            return bad_request("Parameter url is required.");
        };
        let name = param("model_name").filter(|n| !n.is_empty()).unwrap_or_else(|| model_name_from_url(&url));
        if name.is_empty() || name.contains(['/', '?', '#', '%']) {
            return bad_request(&format!("Invalid model name: {name}"));
        }
        let workers = match param("initial_workers").map(|w| w.parse::<usize>()) {
            None => 0,
            Some(Ok(n)) if n <= MAX_WORKERS => n,
            Some(_) => return bad_request(&format!("initial_workers must be an integer 0..={MAX_WORKERS}")),
        };
        let synchronous = param("synchronous").is_some_and(|s| s.eq_ignore_ascii_case("true"));
        {
            let mut models = self.registry();
            if models.contains_key(&name) {
                return http::error(409, "ConflictStatusException", &format!("Model {name} is already registered."));
            }
            models.insert(name.clone(), Model { url, min_workers: workers, max_workers: workers, at_startup: false });
        }
        if workers > 0 {
            if let Err(resp) = self.resize(workers, synchronous).await {
                return *resp;
            }
        }
        http::json(200, &json!({ "status": format!("Model \"{name}\" registered") }))
    }

    /// `DELETE /models/{name}`: unregisters the model (the shared worker pool
    /// keeps running for the other models).
    fn unregister(&self, model: &str) -> Response {
        match self.registry().shift_remove(model) {
            Some(_) => http::json(200, &json!({ "status": format!("Model \"{model}\" unregistered") })),
            None => model_not_found(model),
        }
    }

    /// The registry, locked.
    fn registry(&self) -> std::sync::MutexGuard<'_, IndexMap<String, Model>> {
        self.models.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The model description (an object, as MMS answers). All models
    /// share one worker pool, so each lists the same workers.
    fn describe(&self, model: &str) -> Option<serde_json::Value> {
        let m = self.registry().get(model)?.clone();
        let workers = self.pool.workers();
        let list: Vec<_> = workers
            .iter()
            .map(|w| json!({ "id": w.id, "pid": w.pid, "status": "READY", "inflight": w.inflight() }))
            .collect();
        Some(json!({
            "modelName": model,
            "modelVersion": "1.0",
            "modelUrl": m.url,
            "runtime": "rust",
            "minWorkers": m.min_workers,
            "maxWorkers": m.max_workers,
            "batchSize": 1,
            "maxBatchDelay": 100,
            "loadedAtStartup": m.at_startup,
            "workers": list,
        }))
    }

    /// `PUT /models/{name}?min_worker=K[&max_worker=M][&synchronous=true]`:
    /// scales the (shared) pool to K workers. Synchronous calls answer 200
    /// once the workers are up; others answer 202 at once, as MMS does.
    async fn scale(&self, model: &str, req: &Request) -> Response {
        let params = http::query(req);
        let param = |name: &str| params.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
        let count = match param("min_worker").map(str::parse::<usize>) {
            None => self.registry().get(model).map_or(1, |m| m.min_workers.max(1)),
            Some(Ok(n)) if n <= MAX_WORKERS => n,
            Some(_) => return bad_request(&format!("min_worker must be an integer 0..={MAX_WORKERS}")),
        };
        let max = match param("max_worker").map(str::parse::<usize>) {
            None => count,
            Some(Ok(n)) if n >= count => n,
            Some(_) => return bad_request("max_worker must be an integer no smaller than min_worker"),
        };
        let synchronous = param("synchronous").is_some_and(|s| s.eq_ignore_ascii_case("true"));
        match self.registry().get_mut(model) {
            Some(m) => (m.min_workers, m.max_workers) = (count, max),
            None => return model_not_found(model),
        }
        match self.resize(count, synchronous).await {
            Ok(()) if synchronous => http::json(200, &json!({ "status": "Workers scaled" })),
            Ok(()) => http::json(202, &json!({ "status": "Processing worker updates..." })),
            Err(resp) => *resp,
        }
    }

    /// Resizes the shared pool; in the background unless `synchronous`.
    async fn resize(&self, count: usize, synchronous: bool) -> Result<(), Box<Response>> {
        if !synchronous {
            let pool = Arc::clone(&self.pool);
            tokio::spawn(async move {
                if let Err(e) = pool.scale(count).await {
                    log!("demo-target: failed to start workers: {e}");
                }
            });
            return Ok(());
        }
        self.pool.scale(count).await.map_err(|e| {
            Box::new(http::error(500, "InternalServerException", &format!("Failed to start workers: {e}")))
        })
    }
}

/// A registered model.
#[derive(Clone)]
struct Model {
    url: String,
    min_workers: usize,
    max_workers: usize,
    at_startup: bool,
}

/// MMS's default model name: the url's last path segment without its
/// extension (`.../squeezenet_v1.1.mar` → `squeezenet_v1.1`).
fn model_name_from_url(url: &str) -> String {
    let path = url.split(['?', '#']).next().unwrap_or_default().trim_end_matches('/');
    let file = path.rsplit('/').next().unwrap_or_default();
    match file.rsplit_once('.') {
        Some((stem, _)) if !stem.is_empty() => stem.to_string(),
        _ => file.to_string(),
    }
}

fn model_not_found(model: &str) -> Response {
    http::error(404, "ModelNotFoundException", &format!("Model not found: {model}"))
}

/// `OPTIONS` (MMS's API description): a small OpenAPI document.
fn api_description() -> Response {
    http::json(
        200,
        &json!({
            "openapi": "3.0.1",
            "info": { "title": "demo-target Model Server APIs", "version": env!("CARGO_PKG_VERSION") },
            "paths": {
                "/ping": {}, "/predictions/{model_name}": {}, "/models": {}, "/models/{model_name}": {}
            }
        }),
    )
}

/// One entry of `GET /models`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Listed<'a> {
    model_name: &'a str,
    model_url: String,
}

/// `ANY /echo[...]`: the request as JSON, for tests that inspect what a
/// load generator actually sent.
fn echo(req: &Request) -> Response {
    #[derive(Serialize)]
    struct Echo<'a> {
        method: &'a str,
        path: &'a str,
        query: &'a str,
        headers: IndexMap<&'a str, String>,
        body: std::borrow::Cow<'a, str>,
    }
    // Names come lower-cased; repeated headers are joined with ", ".
    let mut headers: IndexMap<&str, String> = IndexMap::new();
    for (name, value) in req.headers() {
        let value = String::from_utf8_lossy(value.as_bytes());
        headers.entry(name.as_str()).and_modify(|v| *v += &format!(", {value}")).or_insert_with(|| value.into());
    }
    http::json(
        200,
        &Echo {
            method: req.method().as_str(),
            path: req.uri().path(),
            query: req.uri().query().unwrap_or_default(),
            headers,
            body: String::from_utf8_lossy(req.body()),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(method: &str, target: &str, headers: &[(&str, &str)], body: &str) -> Request {
        let mut req = hyper::Request::builder().method(method).uri(target);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        req.body(body.to_string().into()).unwrap()
    }

    #[test]
    fn echo_lowercases_and_merges_headers() {
        let r = echo(&req("PUT", "/echo/x?a=1", &[("X-A", "1"), ("x-a", "2"), ("Host", "h")], "hi\""));
        let body = String::from_utf8(r.into_body().to_vec()).unwrap();
        assert_eq!(
            body,
            r#"{"method":"PUT","path":"/echo/x","query":"a=1","headers":{"x-a":"1, 2","host":"h"},"body":"hi\""}"#
        );
    }

    #[test]
    fn model_name_is_the_url_file_stem() {
        for (url, name) in [
            ("https://s3.amazonaws.com/model-server/model_archive_1.0/squeezenet_v1.1.mar", "squeezenet_v1.1"),
            ("https://h/models/resnet-18/resnet-18.model?x=1.2", "resnet-18"),
            ("noop.model", "noop"),
            ("squeezenet-3", "squeezenet-3"),
            ("file:///m/.hidden", ".hidden"),
        ] {
            assert_eq!(model_name_from_url(url), name, "{url}");
        }
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
