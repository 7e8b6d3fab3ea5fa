//! Test aids for load generators: a log of the `/echo` requests the server received
//! (`GET /echo-log` returns them, oldest first, as a JSON array of the same objects `/echo`
//! answers with) and `/redirect?to=PATH[&status=CODE]`, which answers with a redirect.

use std::collections::VecDeque;
use std::sync::Mutex;

use crate::http::{Request, Response};

/// Most requests kept; older ones are dropped first.
const KEEP: usize = 10_000;

/// The `/echo` requests received so far.
#[derive(Default)]
pub struct EchoLog {
    entries: Mutex<VecDeque<String>>,
}

impl EchoLog {
    /// Keeps one `/echo` answer (a JSON object).
    pub fn record(&self, json: &[u8]) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() == KEEP {
            entries.pop_front();
        }
        entries.push_back(String::from_utf8_lossy(json).into_owned());
    }

    /// `GET /echo-log`.
    pub fn response(&self) -> Response {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let body = format!("[{}]", entries.iter().map(String::as_str).collect::<Vec<_>>().join(","));
        Response::json(200, body)
    }
}

/// `/redirect?to=PATH[&status=CODE]`: a redirect (302 unless told otherwise) to `PATH`.
pub fn redirect(req: &Request) -> Response {
    let to = req.query_param("to").unwrap_or_else(|| "/echo".to_string());
    let status = req.query_param("status").and_then(|s| s.parse().ok()).filter(|s| (300..400).contains(s));
    set_cookies(req, Response::text(status.unwrap_or(302), format!("see {to}\n")).with_header("Location", &to))
}

/// `/cookie?set=...`: 200 with one `Set-Cookie` per `set` parameter (also on `/redirect`).
pub fn cookie(req: &Request) -> Response {
    set_cookies(req, Response::text(200, "ok\n"))
}

fn set_cookies(req: &Request, mut response: Response) -> Response {
    for (k, v) in req.query_pairs() {
        if k == "set" {
            response = response.with_header("Set-Cookie", &v);
        }
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_keeps_answers_in_order() {
        let log = EchoLog::default();
        log.record(br#"{"a":1}"#);
        log.record(br#"{"b":2}"#);
        assert_eq!(log.response().body, br#"[{"a":1},{"b":2}]"#.to_vec());
    }
}
