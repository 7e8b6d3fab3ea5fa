//! Run-time knobs and counters for tests: the `/control` settings that shape
//! later inference requests (added delay, forced status, CPU work) and the
//! `/stats` request counters.

use crate::http::{self, Request, Response};
use serde::Serialize;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// Largest accepted delay or work time, so a typo cannot wedge the server for days.
pub const MAX_MS: u64 = 600_000;

/// Settings applied to every `/predictions/*` request.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Settings {
    /// Wall-clock delay added before answering.
    pub delay_ms: u64,
    /// Forced response status; 0 means "answer normally".
    pub status: u16,
    /// CPU work the worker does per request (milliseconds, fractions allowed; the
    /// mean when `--work-cv` spreads it).
    pub work_ms: f64,
}

/// The current settings plus the defaults that `/control/reset` restores.
pub struct Control {
    defaults: Settings,
    current: Mutex<Settings>,
}

impl Control {
    pub fn new(work_ms: f64) -> Self {
        let defaults = Settings { delay_ms: 0, status: 0, work_ms };
        Control { defaults, current: Mutex::new(defaults) }
    }

    pub fn get(&self) -> Settings {
        *self.current.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn reset(&self) -> Settings {
        let mut cur = self.current.lock().unwrap_or_else(|e| e.into_inner());
        *cur = self.defaults;
        *cur
    }

    /// Applies the query parameters present in `query_pairs` (others stay as
    /// they are). Validates everything before changing anything.
    pub fn update(&self, query_pairs: &[(String, String)]) -> Result<Settings, String> {
        let mut cur = self.current.lock().unwrap_or_else(|e| e.into_inner());
        let mut next = *cur;
        for (key, value) in query_pairs {
            let num = || -> Result<u64, String> {
                value.parse::<u64>().map_err(|_| format!("{key} must be a non-negative integer, got {value:?}"))
            };
            match key.as_str() {
                "delay_ms" => next.delay_ms = bounded(key, num()?)?,
                "work_ms" => next.work_ms = crate::work::parse_ms(value).map_err(|e| format!("{key} {e}"))?,
                "status" => {
                    let s = num()?;
                    if s != 0 && !(200..=599).contains(&s) {
                        return Err(format!("status must be 0 or 200..=599, got {s}"));
                    }
                    next.status = s as u16;
                }
                other => return Err(format!("unknown setting {other:?} (use delay_ms, status, work_ms)")),
            }
        }
        *cur = next;
        Ok(next)
    }

    /// Serves `GET /control`, `POST /control?...` and `POST /control/reset`.
    pub fn handle(&self, req: &Request) -> Response {
        match (req.method().as_str(), req.uri().path()) {
            ("GET" | "HEAD", "/control") => http::json(200, &self.get()),
            ("POST" | "PUT", "/control") => {
                // Settings may come in the query string or as a form body.
                let mut pairs = http::query(req);
                pairs.extend(http::query_pairs(String::from_utf8_lossy(req.body()).trim()));
                match self.update(&pairs) {
                    Ok(s) => http::json(200, &s),
                    Err(msg) => http::error(400, "BadRequestException", &msg),
                }
            }
            ("POST" | "PUT", "/control/reset") => http::json(200, &self.reset()),
            (_, "/control" | "/control/reset") => method_not_allowed(),
            _ => http::error(404, "ResourceNotFoundException", "Unknown control path"),
        }
    }
}

fn bounded(key: &str, v: u64) -> Result<u64, String> {
    if v > MAX_MS {
        Err(format!("{key} must be at most {MAX_MS}"))
    } else {
        Ok(v)
    }
}

pub fn method_not_allowed() -> Response {
    http::error(405, "MethodNotAllowedException", "Requested method is not allowed")
}

/// Request counters behind `GET /stats`.
#[derive(Default)]
pub struct Stats {
    total: AtomicU64,
    by_path: Mutex<BTreeMap<String, u64>>,
}

/// The `GET /stats` body.
#[derive(Serialize)]
struct StatsJson<'a> {
    requests: u64,
    by_path: &'a BTreeMap<String, u64>,
}

/// Distinct paths tracked; beyond this, new paths are lumped under `"(other)"`
/// so that a scan of random URLs cannot grow memory without bound.
const MAX_PATHS: usize = 10_000;

impl Stats {
    pub fn record(&self, path: &str) {
        self.total.fetch_add(1, Ordering::Relaxed);
        let mut map = self.by_path.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = map.get_mut(path) {
            *n += 1;
        } else if map.len() < MAX_PATHS {
            map.insert(path.to_string(), 1);
        } else {
            *map.entry("(other)".to_string()).or_insert(0) += 1;
        }
    }

    pub fn to_json(&self) -> String {
        let by_path = self.by_path.lock().unwrap_or_else(|e| e.into_inner());
        let stats = StatsJson { requests: self.total.load(Ordering::Relaxed), by_path: &by_path };
        serde_json::to_string(&stats).expect("plain data serializes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(s: &str) -> Vec<(String, String)> {
        http::query_pairs(s)
    }

    #[test]
    fn partial_updates_and_reset() {
        let c = Control::new(5.0);
        let s = c.update(&pairs("delay_ms=20")).unwrap();
        assert_eq!((s.delay_ms, s.status, s.work_ms), (20, 0, 5.0));
        let s = c.update(&pairs("status=503&work_ms=1")).unwrap();
        assert_eq!((s.delay_ms, s.status, s.work_ms), (20, 503, 1.0));
        let s = c.update(&pairs("work_ms=2.35")).unwrap();
        assert_eq!(s.work_ms, 2.35);
        assert!(c.update(&pairs("work_ms=-0.5")).is_err());
        assert!(c.update(&pairs("work_ms=600000.1")).is_err());
        assert!(c.update(&pairs("status=42")).is_err());
        assert!(c.update(&pairs("delay_ms=-1")).is_err());
        assert!(c.update(&pairs("bogus=1")).is_err());
        assert!(c.update(&pairs("delay_ms=1&status=1")).is_err());
        assert_eq!(c.get().delay_ms, 20, "failed update must not change anything");
        assert_eq!(c.reset(), Settings { delay_ms: 0, status: 0, work_ms: 5.0 });
    }

    #[test]
    fn stats_json() {
        let s = Stats::default();
        s.record("/ping");
        s.record("/ping");
        s.record("/a\"b");
        assert_eq!(s.to_json(), r#"{"requests":3,"by_path":{"/a\"b":1,"/ping":2}}"#);
    }
}
