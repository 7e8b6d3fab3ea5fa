//! `POST /v1/completions`: an OpenAI-compatible completion endpoint that streams made-up tokens,
//! so suites can measure time to first token and the gaps between tokens against delays they
//! choose. The body is OpenAI's (`model`, `prompt`, `max_tokens`, `stream`) plus two demo fields,
//! `first_token_ms` and `token_delay_ms`, also accepted in the query string (which wins).
//!
//! With `stream: true` the answer is `text/event-stream`: one `data: {...}` event per token, then
//! one with `finish_reason: "length"` and the `usage`, then `data: [DONE]`, each event written
//! (and flushed) as it is due. `?format=ndjson` streams the same objects one JSON per line
//! (`application/x-ndjson`, no `[DONE]`). Without `stream` the whole completion is one JSON.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hyper::body::Bytes;
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::time::Instant;

use crate::control::MAX_MS;
use crate::http::{self, Request, Response};

/// Delay before the first token unless the request sets `first_token_ms`.
const FIRST_TOKEN_MS: u64 = 10;
/// Gap between tokens unless the request sets `token_delay_ms`.
const TOKEN_DELAY_MS: u64 = 5;
/// Tokens unless the request sets `max_tokens`.
const MAX_TOKENS: u64 = 16;
/// Most tokens one request may ask for.
const TOKEN_LIMIT: u64 = 100_000;

/// The request body (every field optional; unknown fields are ignored as OpenAI servers do).
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Body {
    model: Option<String>,
    prompt: Option<Value>,
    max_tokens: Option<u64>,
    stream: bool,
    first_token_ms: Option<u64>,
    token_delay_ms: Option<u64>,
}

/// How the tokens are framed on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Server-sent events: `data: <json>` and a blank line; `data: [DONE]` last.
    Sse,
    /// One JSON object per line.
    Ndjson,
}

/// One completion to answer, checked.
#[derive(Debug)]
struct Completion {
    model: String,
    prompt_tokens: u64,
    tokens: u64,
    first_token: Duration,
    token_delay: Duration,
    stream: Option<Format>,
}

/// Answers `POST /v1/completions`.
pub async fn handle(req: Request) -> Response {
    if req.method() != "POST" {
        return crate::control::method_not_allowed();
    }
    let c = match Completion::read(&req) {
        Ok(c) => c,
        Err(message) => return http::error(400, "invalid_request_error", &message),
    };
    let id = format!("cmpl-{:x}", fastrand::u64(..));
    match c.stream {
        None => {
            let start = Instant::now();
            sleep_until(start + c.first_token + c.token_delay * (c.tokens.saturating_sub(1) as u32)).await;
            let text: String = (0..c.tokens).map(token).collect();
            let mut body = chunk(&id, &c.model, &text, Some("length"));
            body["usage"] = usage(c.prompt_tokens, c.tokens);
            http::json(200, &body)
        }
        Some(format) => {
            let ctype = match format {
                Format::Sse => "text/event-stream",
                Format::Ndjson => "application/x-ndjson",
            };
            let (resp, tx) = http::streamed(200, ctype);
            tokio::spawn(async move {
                // Deadlines from the request's arrival, so the gaps do not add up the timer's slack.
                let start = Instant::now();
                for i in 0..c.tokens {
                    sleep_until(start + c.first_token + c.token_delay * i as u32).await;
                    if tx.send(frame(format, &chunk(&id, &c.model, &token(i), None))).await.is_err() {
                        return; // the client went away
                    }
                }
                let mut last = chunk(&id, &c.model, "", Some("length"));
                last["usage"] = usage(c.prompt_tokens, c.tokens);
                let _ = tx.send(frame(format, &last)).await;
                if format == Format::Sse {
                    let _ = tx.send(Bytes::from_static(b"data: [DONE]\n\n")).await;
                }
            });
            resp
        }
    }
}

impl Completion {
    fn read(req: &Request) -> Result<Completion, String> {
        let body: Body = if req.body().is_empty() {
            Body::default()
        } else {
            serde_json::from_slice(req.body()).map_err(|e| format!("the body is not a completion request: {e}"))?
        };
        let query = http::query(req);
        let param = |name: &str| -> Result<Option<u64>, String> {
            match query.iter().find(|(k, _)| k == name) {
                None => Ok(None),
                Some((_, v)) => v.parse().map(Some).map_err(|_| format!("`{name}` must be a whole number, not `{v}`")),
            }
        };
        let ms = |name: &str, from_body: Option<u64>, default: u64| -> Result<Duration, String> {
            let v = param(name)?.or(from_body).unwrap_or(default);
            if v > MAX_MS {
                return Err(format!("`{name}` must be at most {MAX_MS}"));
            }
            Ok(Duration::from_millis(v))
        };
        let tokens = param("max_tokens")?.or(body.max_tokens).unwrap_or(MAX_TOKENS);
        if !(1..=TOKEN_LIMIT).contains(&tokens) {
            return Err(format!("`max_tokens` must be 1..={TOKEN_LIMIT}"));
        }
        let stream = match http::query_param(req, "format").as_deref() {
            None | Some("sse") => body.stream.then_some(Format::Sse),
            Some("ndjson") => Some(Format::Ndjson),
            Some(other) => return Err(format!("`format` is `sse` or `ndjson`, not `{other}`")),
        };
        let prompt_tokens = match &body.prompt {
            Some(Value::String(s)) => s.split_whitespace().count() as u64,
            Some(Value::Array(a)) => a.len() as u64,
            _ => 0,
        };
        Ok(Completion {
            model: body.model.unwrap_or_else(|| "demo".into()),
            prompt_tokens,
            tokens,
            first_token: ms("first_token_ms", body.first_token_ms, FIRST_TOKEN_MS)?,
            token_delay: ms("token_delay_ms", body.token_delay_ms, TOKEN_DELAY_MS)?,
            stream,
        })
    }
}

/// The timer's slack: tokio's timer rounds a deadline up to its millisecond ticks and may wake
/// up to two of them late.
const SLACK: Duration = Duration::from_millis(2);

/// Waits until `deadline` within a fraction of a millisecond (tokio's timer alone is up to two
/// late): the timer up to [`SLACK`] before it, then a thread's sleep (the kernel's timers are
/// precise to tens of microseconds) on the blocking pool, so the server's delays are the ones
/// the tests hold the measured times against.
async fn sleep_until(deadline: Instant) {
    tokio::time::sleep_until(deadline.checked_sub(SLACK).unwrap_or(deadline)).await;
    let left = deadline.saturating_duration_since(Instant::now());
    if !left.is_zero() {
        let _ = tokio::task::spawn_blocking(move || std::thread::sleep(left)).await;
    }
}

/// The text of token `i`.
fn token(i: u64) -> String {
    format!("tok{i} ")
}

/// One `text_completion` object with one choice.
fn chunk(id: &str, model: &str, text: &str, finish_reason: Option<&str>) -> Value {
    let created = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    json!({
        "id": id,
        "object": "text_completion",
        "created": created,
        "model": model,
        "choices": [{ "index": 0, "text": text, "logprobs": null, "finish_reason": finish_reason }],
    })
}

fn usage(prompt: u64, completion: u64) -> Value {
    json!({ "prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion })
}

/// One event on the wire: `data: <json>` and a blank line, or a JSON line.
pub fn frame(format: Format, value: &Value) -> Bytes {
    let json = value.to_string();
    Bytes::from(match format {
        Format::Sse => format!("data: {json}\n\n"),
        Format::Ndjson => format!("{json}\n"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(target: &str, body: &str) -> Request {
        hyper::Request::builder().method("POST").uri(target).body(body.to_string().into()).unwrap()
    }

    #[test]
    fn events_are_framed_one_per_blank_line_or_line() {
        let v = chunk("cmpl-1", "m", "tok0 ", None);
        let sse = frame(Format::Sse, &v);
        let text = std::str::from_utf8(&sse).unwrap();
        assert!(text.starts_with("data: {") && text.ends_with("}\n\n"), "{text}");
        assert_eq!(text.matches('\n').count(), 2, "the JSON has no newline of its own");
        let json: Value = serde_json::from_str(&text["data: ".len()..]).unwrap();
        assert_eq!(json["choices"][0]["text"], "tok0 ");
        assert_eq!(json["choices"][0]["finish_reason"], Value::Null);
        assert_eq!(json["object"], "text_completion");
        let line = frame(Format::Ndjson, &v);
        assert_eq!(line.iter().filter(|b| **b == b'\n').count(), 1);
        assert_eq!(serde_json::from_slice::<Value>(&line).unwrap(), v);
    }

    #[test]
    fn requests_read_body_and_query() {
        let c = Completion::read(&req(
            "/v1/completions?token_delay_ms=7",
            r#"{"model":"m","prompt":"a b c","max_tokens":3,"stream":true,"first_token_ms":50,"token_delay_ms":1}"#,
        ))
        .unwrap();
        assert_eq!((c.model.as_str(), c.prompt_tokens, c.tokens), ("m", 3, 3));
        assert_eq!((c.first_token, c.token_delay), (Duration::from_millis(50), Duration::from_millis(7)));
        assert_eq!(c.stream, Some(Format::Sse));
        let c = Completion::read(&req("/v1/completions?format=ndjson", "")).unwrap();
        assert_eq!((c.stream, c.tokens), (Some(Format::Ndjson), MAX_TOKENS));
        assert_eq!(Completion::read(&req("/v1/completions", r#"{"stream":false}"#)).unwrap().stream, None);
        for bad in ["/v1/completions?max_tokens=0", "/v1/completions?first_token_ms=x", "/v1/completions?format=xml"] {
            assert!(Completion::read(&req(bad, "")).is_err(), "{bad}");
        }
        assert!(Completion::read(&req("/v1/completions", "{")).is_err());
    }
}
