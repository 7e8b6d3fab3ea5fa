//! The frontend's worker processes: spawning them (re-exec of this binary in
//! `--worker` mode), picking one per request (least busy, round-robin among
//! equals), forwarding requests over pooled keep-alive loopback connections,
//! noticing dead workers and respawning them, and scaling the count at run
//! time.

use crate::http::{self, BoxError, Response};
use crate::worker::{PORT_LINE_PREFIX, REGISTERED_HEADER, WORK_MS_HEADER};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use std::io;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::TcpStream;
use tokio::process::{Child, Command};
use tokio::time::{sleep, timeout, Instant};

/// Upper bound on the worker count (`--workers`, `min_worker`).
pub const MAX_WORKERS: usize = 128;
/// How long connecting to a worker may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Idle connections kept per worker.
const MAX_IDLE_CONNS: usize = 256;
/// How often the monitor looks for workers that exited.
const MONITOR_EVERY: Duration = Duration::from_millis(200);
/// How long a scaled-down worker may finish its in-flight requests.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// How to start a worker process.
#[derive(Debug, Clone)]
pub struct WorkerSpec {
    pub exe: PathBuf,
    pub work_ms: f64,
    /// `--work-kind wait` for the workers.
    pub wait: bool,
    pub models: Vec<String>,
    /// `--worker-script`: the worker's first argument is `--worker-script=NAME`.
    pub script: Option<String>,
}

/// A running worker process.
pub struct Worker {
    pub id: u32,
    pub pid: u32,
    port: u16,
    /// `None` once the process has been reaped.
    child: Mutex<Option<Child>>,
    idle: Mutex<Vec<http::Client>>,
    inflight: AtomicUsize,
}

impl Worker {
    /// Sends one request over a pooled (or new) connection.
    async fn call(&self, target: &str, body: Bytes, work_ms: f64) -> Result<Response, BoxError> {
        let pooled = lock(&self.idle).pop();
        let mut conn = match pooled {
            Some(c) => c,
            None => timeout(CONNECT_TIMEOUT, http::connect((Ipv4Addr::LOCALHOST, self.port))).await??,
        };
        conn.ready().await?;
        let req = hyper::Request::post(target)
            .header(hyper::header::HOST, "127.0.0.1")
            .header(WORK_MS_HEADER, work_ms.to_string())
            .header(REGISTERED_HEADER, "1")
            .body(Full::new(body))?;
        let (head, body) = conn.send_request(req).await?.into_parts();
        let body = body.collect().await?.to_bytes();
        if !conn.is_closed() {
            let mut idle = lock(&self.idle);
            if idle.len() < MAX_IDLE_CONNS {
                idle.push(conn);
            }
        }
        Ok(Response::from_parts(head, body))
    }

    /// `Some(exit description)` if the process is gone.
    fn exited(&self) -> Option<String> {
        match lock(&self.child).as_mut() {
            None => Some("already reaped".into()),
            Some(child) => match child.try_wait() {
                Ok(Some(status)) => Some(status.to_string()),
                Ok(None) => None,
                Err(e) => Some(format!("wait failed: {e}")),
            },
        }
    }

    /// Closes its stdin (the worker exits on EOF), kills it to be sure, and reaps it.
    async fn stop(&self) {
        lock(&self.idle).clear();
        let child = lock(&self.child).take();
        if let Some(mut child) = child {
            drop(child.stdin.take());
            let _ = child.kill().await;
        }
    }

    pub fn inflight(&self) -> usize {
        self.inflight.load(Ordering::Relaxed)
    }
}

/// Decrements a worker's in-flight count when the request is done.
struct InflightGuard(Arc<Worker>);

impl Drop for InflightGuard {
    fn drop(&mut self) {
        self.0.inflight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Why a request could not be forwarded.
#[derive(Debug)]
pub enum ForwardError {
    /// The pool is empty (scaled to zero, or respawning failed).
    NoWorkers,
    /// The worker failed mid-request (it died, or the connection broke).
    WorkerFailed { pid: u32, error: String },
}

/// The set of workers of one frontend.
pub struct Pool {
    spec: WorkerSpec,
    workers: RwLock<Vec<Arc<Worker>>>,
    /// Serializes changes to the worker list (respawn, scale).
    change: tokio::sync::Mutex<()>,
    next_id: AtomicU32,
    rr: AtomicUsize,
}

impl Pool {
    /// Starts `count` workers and the monitor task that respawns dead ones.
    pub async fn start(spec: WorkerSpec, count: usize) -> io::Result<Arc<Pool>> {
        let pool = Arc::new(Pool {
            spec,
            workers: RwLock::new(Vec::new()),
            change: tokio::sync::Mutex::new(()),
            next_id: AtomicU32::new(9000),
            rr: AtomicUsize::new(0),
        });
        pool.scale(count).await?;
        let weak = Arc::downgrade(&pool);
        tokio::spawn(async move {
            loop {
                sleep(MONITOR_EVERY).await;
                let Some(pool) = weak.upgrade() else { return };
                for w in pool.workers() {
                    if let Some(why) = w.exited() {
                        pool.respawn(&w, &why).await;
                    }
                }
            }
        });
        Ok(pool)
    }

    /// A snapshot of the current workers.
    pub fn workers(&self) -> Vec<Arc<Worker>> {
        self.workers.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    async fn spawn_worker(&self) -> io::Result<Arc<Worker>> {
        let mut command = Command::new(&self.spec.exe);
        if let Some(script) = &self.spec.script {
            command.arg(format!("--worker-script={script}"));
        }
        let mut child = command
            .arg("--worker")
            .arg("--work-ms")
            .arg(self.spec.work_ms.to_string())
            .arg("--work-kind")
            .arg(if self.spec.wait { "wait" } else { "burn" })
            .arg("--models")
            .arg(self.spec.models.join(","))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?;
        let mut line = String::new();
        if let Some(out) = child.stdout.take() {
            BufReader::new(out).read_line(&mut line).await?;
        }
        let port = line.trim().strip_prefix(PORT_LINE_PREFIX).and_then(|p| p.parse::<u16>().ok());
        let (Some(port), Some(pid)) = (port, child.id()) else {
            let _ = child.kill().await;
            return Err(io::Error::other(format!("worker did not announce its port (got {line:?})")));
        };
        Ok(Arc::new(Worker {
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            pid,
            port,
            child: Mutex::new(Some(child)),
            idle: Mutex::new(Vec::new()),
            inflight: AtomicUsize::new(0),
        }))
    }

    /// Least-busy worker, scanning from a rotating start so that equally
    /// busy workers take turns. Counts the request as in flight on it.
    fn pick(&self) -> Option<InflightGuard> {
        let workers = self.workers.read().unwrap_or_else(|e| e.into_inner());
        let n = workers.len();
        if n == 0 {
            return None;
        }
        let start = self.rr.fetch_add(1, Ordering::Relaxed) % n;
        let mut best = &workers[start];
        for i in 1..n {
            if best.inflight() == 0 {
                break;
            }
            let w = &workers[(start + i) % n];
            if w.inflight() < best.inflight() {
                best = w;
            }
        }
        best.inflight.fetch_add(1, Ordering::Relaxed);
        Some(InflightGuard(Arc::clone(best)))
    }

    /// Forwards an inference request to a worker. On failure, checks whether
    /// the worker died and, if so, replaces it before returning the error.
    /// The caller has checked that the model is registered.
    pub async fn forward(&self, target: &str, body: Bytes, work_ms: f64) -> Result<Response, ForwardError> {
        let guard = self.pick().ok_or(ForwardError::NoWorkers)?;
        let worker = Arc::clone(&guard.0);
        match worker.call(target, body, work_ms).await {
            Ok(resp) => Ok(resp),
            Err(e) => {
                self.handle_failure(&worker).await;
                Err(ForwardError::WorkerFailed { pid: worker.pid, error: e.to_string() })
            }
        }
    }

    fn is_current(&self, w: &Arc<Worker>) -> bool {
        self.workers.read().unwrap_or_else(|e| e.into_inner()).iter().any(|x| Arc::ptr_eq(x, w))
    }

    /// A forward failed: find out whether the worker is gone and replace it.
    async fn handle_failure(&self, w: &Arc<Worker>) {
        // A process killed by a signal closes its sockets a moment before it
        // becomes reapable, so give `try_wait` a short grace period.
        let deadline = Instant::now() + Duration::from_millis(500);
        while self.is_current(w) {
            if let Some(why) = w.exited() {
                self.respawn(w, &why).await;
                return;
            }
            if Instant::now() >= deadline {
                // Alive but not answering on its port: treat as broken.
                let connect = timeout(CONNECT_TIMEOUT, TcpStream::connect((Ipv4Addr::LOCALHOST, w.port)));
                if !matches!(connect.await, Ok(Ok(_))) {
                    self.respawn(w, "not accepting connections").await;
                }
                return;
            }
            sleep(Duration::from_millis(10)).await;
        }
    }

    /// Replaces worker `dead` (if it is still in the list) with a new one.
    async fn respawn(&self, dead: &Arc<Worker>, why: &str) {
        let _change = self.change.lock().await;
        let Some(idx) = self.workers().iter().position(|w| Arc::ptr_eq(w, dead)) else {
            return; // someone else replaced or removed it already
        };
        dead.stop().await;
        match self.spawn_worker().await {
            Ok(new) => {
                log!(
                    "demo-target: worker {} (pid {}) exited ({why}); respawned as worker {} (pid {})",
                    dead.id,
                    dead.pid,
                    new.id,
                    new.pid
                );
                self.workers.write().unwrap_or_else(|e| e.into_inner())[idx] = new;
            }
            // Leave the dead entry in place; the monitor retries on its next tick.
            Err(e) => log!("demo-target: worker {} exited ({why}); respawn failed: {e}", dead.id),
        }
    }

    /// Grows or shrinks the pool to `target` workers. New workers are ready
    /// when this returns; removed ones stop taking requests at once and exit
    /// after finishing what they have in flight.
    pub async fn scale(&self, target: usize) -> io::Result<()> {
        let _change = self.change.lock().await;
        let current = self.workers().len();
        for _ in current..target {
            let w = self.spawn_worker().await?;
            self.workers.write().unwrap_or_else(|e| e.into_inner()).push(w);
        }
        if target < current {
            let removed: Vec<Arc<Worker>> = {
                let mut ws = self.workers.write().unwrap_or_else(|e| e.into_inner());
                ws.split_off(target)
            };
            tokio::spawn(async move {
                let deadline = Instant::now() + DRAIN_TIMEOUT;
                for w in removed {
                    while w.inflight() > 0 && Instant::now() < deadline {
                        sleep(Duration::from_millis(5)).await;
                    }
                    w.stop().await;
                }
            });
        }
        Ok(())
    }
}
