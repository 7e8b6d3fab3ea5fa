//! Test aids for load generators: logs of what the server received (`GET /echo-log` returns the
//! `/echo` requests, oldest first, as a JSON array of the same objects `/echo` answers with;
//! `GET /grpc-log` the gRPC calls) and `/redirect?to=PATH[&status=CODE]`, which answers with a redirect.

use std::collections::VecDeque;
use std::sync::Mutex;

use hyper::header::{HeaderValue, LOCATION, SET_COOKIE};

use crate::http::{self, Request, Response};

/// Most entries a log keeps; older ones are dropped first.
const KEEP: usize = 10_000;

/// The last [`KEEP`] requests of one kind received so far, each a JSON object.
#[derive(Default)]
pub struct JsonLog {
    entries: Mutex<VecDeque<String>>,
}

impl JsonLog {
    /// Keeps one entry (a JSON object).
    pub fn record(&self, json: &[u8]) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() == KEEP {
            entries.pop_front();
        }
        entries.push_back(String::from_utf8_lossy(json).into_owned());
    }

    /// `GET /echo-log`, `GET /grpc-log`: the entries, oldest first, as a JSON array.
    pub fn response(&self) -> Response {
        let entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let body = format!("[{}]", entries.iter().map(String::as_str).collect::<Vec<_>>().join(","));
        http::response(200, "application/json", body)
    }
}

/// `/redirect?to=PATH[&status=CODE]`: a redirect (302 unless told otherwise) to `PATH`.
pub fn redirect(req: &Request) -> Response {
    let to = http::query_param(req, "to").unwrap_or_else(|| "/echo".to_string());
    let status = http::query_param(req, "status").and_then(|s| s.parse().ok()).filter(|s| (300..400).contains(s));
    let mut response = http::text(status.unwrap_or(302), format!("see {to}\n"));
    if let Ok(location) = HeaderValue::try_from(to) {
        response.headers_mut().insert(LOCATION, location);
    }
    set_cookies(req, response)
}

/// `/cookie?set=...`: 200 with one `Set-Cookie` per `set` parameter (also on `/redirect`).
pub fn cookie(req: &Request) -> Response {
    set_cookies(req, http::text(200, "ok\n"))
}

fn set_cookies(req: &Request, mut response: Response) -> Response {
    let cookies = http::query(req).into_iter().filter(|(k, _)| k == "set");
    for cookie in cookies.filter_map(|(_, v)| HeaderValue::try_from(v).ok()) {
        response.headers_mut().append(SET_COOKIE, cookie);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_keeps_answers_in_order() {
        let log = JsonLog::default();
        log.record(br#"{"a":1}"#);
        log.record(br#"{"b":2}"#);
        assert_eq!(log.response().body().to_vec(), br#"[{"a":1},{"b":2}]"#.to_vec());
    }
}
