//! Worker process mode (`demo-target --worker`, hidden): the process that
//! does the actual "inference". It listens on an ephemeral 127.0.0.1 port,
//! announces that port on stdout for the frontend, and burns real CPU per
//! request. Like an MMS/TorchServe Python worker it runs one inference at a
//! time; concurrency comes from having several workers.
//!
//! Lifetime: the frontend holds the write end of our stdin. When the
//! frontend exits for any reason (even SIGKILL) the pipe closes, our stdin
//! reads EOF, and we exit — so workers never outlive their frontend.

use crate::http::{self, Request, Response};
use serde::Serialize;
use std::hint::black_box;
use std::io::{self, Read, Write};
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::sync::Mutex;

/// Prefix of the single stdout line a worker prints: `<prefix><port>`.
pub const PORT_LINE_PREFIX: &str = "demo-target-worker-port ";
/// Header through which the frontend passes the current CPU work per request.
pub const WORK_MS_HEADER: &str = "X-Demo-Work-Ms";
/// Set by the frontend on forwarded requests: it has checked that the model is
/// registered (models registered at run time are unknown to `--models`).
pub const REGISTERED_HEADER: &str = "X-Demo-Registered";

/// Options of a worker process.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkerOpts {
    /// CPU work per request when the frontend does not say otherwise.
    pub work_ms: f64,
    pub models: Vec<String>,
    /// Spend the work waiting (holding the model) rather than burning CPU.
    pub wait: bool,
}

/// Runs a worker process until its stdin closes.
pub async fn run(opts: WorkerOpts) -> io::Result<()> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
    let port = listener.local_addr()?.port();

    std::thread::Builder::new().name("stdin-watch".into()).spawn(|| {
        let mut buf = [0u8; 256];
        loop {
            match io::stdin().lock().read(&mut buf) {
                Ok(0) => std::process::exit(0),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => std::process::exit(0),
            }
        }
    })?;

    let mut out = io::stdout().lock();
    writeln!(out, "{PORT_LINE_PREFIX}{port}")?;
    out.flush()?;
    drop(out);

    let worker = Arc::new(Worker { opts, model_lock: Mutex::new(()) });
    // No idle timeout: the frontend keeps pooled connections open and
    // relies on them staying usable while this worker lives.
    http::serve(listener, None, move |req| Arc::clone(&worker).handle(req)).await;
    Ok(())
}

struct Worker {
    opts: WorkerOpts,
    /// One inference at a time per worker, like a single-threaded model runtime.
    model_lock: Mutex<()>,
}

/// The answer to a prediction.
#[derive(Serialize)]
struct Prediction {
    model: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    version: Option<String>,
    worker_pid: u32,
    result: Vec<Score>,
    work_ms: f64,
    rounds: u64,
}

#[derive(Serialize)]
struct Score {
    class: String,
    probability: f64,
}

impl Worker {
    async fn handle(self: Arc<Self>, req: Request) -> Response {
        let path = req.uri().path();
        if path == "/ping" {
            return http::healthy();
        }
        let Some(rest) = path.strip_prefix("/predictions/") else {
            return http::error(404, "ResourceNotFoundException", "Unknown worker path");
        };
        let mut parts = rest.split('/');
        let model = http::percent_decode(parts.next().unwrap_or_default());
        let version = parts.next().map(http::percent_decode);
        let registered = req.headers().contains_key(REGISTERED_HEADER);
        if !registered && !self.opts.models.contains(&model) {
            return http::error(404, "ModelNotFoundException", &format!("Model not found: {model}"));
        }
        let header = req.headers().get(WORK_MS_HEADER).and_then(|v| v.to_str().ok());
        let work_ms = header.and_then(|v| crate::work::parse_ms(v).ok()).unwrap_or(self.opts.work_ms);

        let (scores, rounds) = {
            let _busy = self.model_lock.lock().await;
            let input = req.into_body();
            let mut work = Duration::from_secs_f64(work_ms / 1000.0);
            if self.opts.wait {
                tokio::time::sleep(work).await;
                work = Duration::ZERO;
            }
            tokio::task::spawn_blocking(move || infer(&input, work)).await.expect("inference does not panic")
        };
        let result = scores
            .into_iter()
            // Six decimals, as the scores have always been printed.
            .map(|(class, p)| Score { class: format!("class_{class}"), probability: (p * 1e6).round() / 1e6 })
            .collect();
        let worker_pid = std::process::id();
        http::json(200, &Prediction { model, version, worker_pid, result, work_ms, rounds })
    }
}

/// The fake model: hashes and mixes the input over and over until `work`
/// wall time has passed (and at least one full pass over the input is
/// done), then turns the final state into five (class, probability) pairs,
/// most likely first. Returns those and the number of mixing rounds.
pub fn infer(input: &[u8], work: Duration) -> (Vec<(u64, f64)>, u64) {
    const SEED: &[u8] = b"demo-target empty input";
    const BLOCK: usize = 1024;
    let data = if input.is_empty() { SEED } else { input };
    let start = Instant::now();
    let mut s: [u64; 4] = [0xcbf2_9ce4_8422_2325, 0x9e37_79b9_7f4a_7c15, 0x243f_6a88_85a3_08d3, 0x1319_8a2e_0370_7344];
    let mut offset = 0;
    let mut full_pass = false;
    let mut rounds = 0u64;
    loop {
        // FNV-1a over one block of the input...
        let end = (offset + BLOCK).min(data.len());
        for &b in &data[offset..end] {
            s[0] = (s[0] ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3);
        }
        if end == data.len() {
            offset = 0;
            full_pass = true;
        } else {
            offset = end;
        }
        // ...then a few rounds of xorshift/multiply mixing across the state.
        for i in 0..64 {
            let a = s[i % 4];
            let b = s[(i + 1) % 4];
            s[(i + 2) % 4] ^= a.rotate_left(23).wrapping_add(b).wrapping_mul(0xff51_afd7_ed55_8ccd);
            s[i % 4] = a ^ (a >> 29);
        }
        s = black_box(s);
        rounds += 1;
        if full_pass && start.elapsed() >= work {
            break;
        }
    }
    // Five classes out of 1000 with scores that sum to 1.
    let mut raw: Vec<(u64, f64)> = (0..5)
        .map(|i| {
            let h = s[i % 4].rotate_left(13 * i as u32) ^ s[(i + 1) % 4];
            (h % 1000, (h >> 11) as f64 / (1u64 << 53) as f64 + 0.01)
        })
        .collect();
    let total: f64 = raw.iter().map(|(_, w)| w).sum();
    for (_, w) in &mut raw {
        *w /= total;
    }
    raw.sort_by(|a, b| b.1.total_cmp(&a.1));
    (raw, rounds)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn infer_burns_at_least_the_requested_time() {
        let t = Instant::now();
        let (scores, rounds) = infer(b"hello", Duration::from_millis(20));
        assert!(t.elapsed() >= Duration::from_millis(20));
        assert!(rounds > 1);
        assert_eq!(scores.len(), 5);
        let sum: f64 = scores.iter().map(|s| s.1).sum();
        assert!((sum - 1.0).abs() < 1e-9);
        assert!(scores.windows(2).all(|w| w[0].1 >= w[1].1));
    }

    #[test]
    fn zero_work_still_reads_the_whole_input() {
        let big = vec![7u8; 10_000];
        let (_, rounds) = infer(&big, Duration::ZERO);
        assert_eq!(rounds, 10); // ten 1 KiB blocks, then stop
    }

    #[tokio::test]
    async fn worker_rejects_unknown_models() {
        let w = Arc::new(Worker {
            opts: WorkerOpts { work_ms: 0.0, models: vec!["squeezenet".into()], wait: false },
            model_lock: Mutex::new(()),
        });
        let req = |path: &str| hyper::Request::post(path).body("x".into()).unwrap();
        assert_eq!(Arc::clone(&w).handle(req("/predictions/nope")).await.status(), 404);
        let mut vouched = req("/predictions/nope");
        vouched.headers_mut().insert(REGISTERED_HEADER, hyper::header::HeaderValue::from_static("1"));
        assert_eq!(Arc::clone(&w).handle(vouched).await.status(), 200);
        let ok = Arc::clone(&w).handle(req("/predictions/squeezenet/2.0")).await;
        assert_eq!(ok.status(), 200);
        let body = String::from_utf8(ok.into_body().to_vec()).unwrap();
        assert!(body.contains(r#""model":"squeezenet","version":"2.0","worker_pid":"#), "{body}");
        assert!(body.contains(r#""work_ms":0.0,"#), "{body}");
        // The frontend's per-request work, fractional milliseconds.
        let mut timed = req("/predictions/squeezenet");
        timed.headers_mut().insert(WORK_MS_HEADER, hyper::header::HeaderValue::from_static("2.35"));
        let t = Instant::now();
        let body = String::from_utf8(w.handle(timed).await.into_body().to_vec()).unwrap();
        assert!(t.elapsed() >= Duration::from_micros(2350), "{:?}", t.elapsed());
        assert!(body.contains(r#""work_ms":2.35,"#), "{body}");
    }
}
