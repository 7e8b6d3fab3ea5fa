//! A streamed response cut into events as its body arrives, each timed when its last byte came:
//! server-sent events end at a blank line (their `data:` lines joined; `data: [DONE]` ends the
//! stream and is no event), NDJSON events are lines, and in `chunked` mode every HTTP chunk (an
//! HTTP/2 DATA frame) is one. With `tokens-from`, each event's JSON is read for its tokens (see
//! [`StreamPlan::tokens_from`]).
//!
//! The splitter is fed the decoded body by the wire reader (or the HTTP/2 loop); it keeps the
//! event being read, never the body.

use std::sync::Arc;
use std::time::Instant;

use serde_json::Value;
use serde_json_path::JsonPath;

use crate::plan::scenario::{StreamMode, StreamPlan};
use crate::sample::StreamTimes;

/// Longest event kept for reading its tokens; the rest of a longer one is dropped (it still
/// counts as an event, and its tokens are what its JSON prefix cannot give: none).
const MAX_EVENT: usize = 1024 * 1024;

/// Cuts one response's body into events and times them.
#[derive(Debug)]
pub struct Events {
    mode: StreamMode,
    tokens_from: Option<Arc<JsonPath>>,
    start: Instant,
    /// The current line (SSE, NDJSON) or chunk (chunked) so far.
    line: Vec<u8>,
    /// SSE: the `data` of the event being read, lines joined by `\n`.
    data: Vec<u8>,
    /// SSE: the event being read has a `data` line.
    has_data: bool,
    /// SSE: `[DONE]` came; later bytes are not read.
    done: bool,
    /// When the last body bytes came, µs.
    seen_us: u64,
    events: u32,
    /// Every event.
    all: StreamTimes,
    /// The events that carried a token (with `tokens-from` only).
    with_tokens: Option<StreamTimes>,
    /// Events that carried a token.
    counted: u64,
    /// The last token count an event gave as a number.
    reported: Option<u64>,
}

impl Events {
    /// A splitter for a response to a request that started at `start`.
    pub fn new(plan: &StreamPlan, start: Instant) -> Self {
        Events {
            mode: plan.mode,
            tokens_from: plan.tokens_from.clone(),
            start,
            line: Vec::new(),
            data: Vec::new(),
            has_data: false,
            done: false,
            seen_us: 0,
            events: 0,
            all: StreamTimes::default(),
            with_tokens: plan.tokens_from.as_ref().map(|_| StreamTimes::default()),
            counted: 0,
            reported: None,
        }
    }

    fn now_us(&self) -> u64 {
        self.start.elapsed().as_micros() as u64
    }

    /// Body bytes as they arrive.
    pub fn body(&mut self, data: &[u8]) {
        if self.done || data.is_empty() {
            return;
        }
        let now = self.now_us();
        self.body_at(data, now);
    }

    /// An HTTP chunk (or HTTP/2 frame) is complete: in `chunked` mode, an event.
    pub fn chunk_end(&mut self) {
        if self.mode == StreamMode::Chunked {
            let now = self.now_us();
            self.chunk_end_at(now);
        }
    }

    fn body_at(&mut self, mut data: &[u8], at_us: u64) {
        self.seen_us = at_us;
        if self.mode == StreamMode::Chunked {
            keep(&mut self.line, data);
            return;
        }
        while !data.is_empty() && !self.done {
            let Some(nl) = data.iter().position(|b| *b == b'\n') else {
                keep(&mut self.line, data);
                return;
            };
            keep(&mut self.line, &data[..nl]);
            data = &data[nl + 1..];
            let mut line = std::mem::take(&mut self.line);
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            match self.mode {
                StreamMode::Sse => self.sse_line(&line, at_us),
                _ => {
                    if !line.trim_ascii().is_empty() {
                        self.event(&line, at_us);
                    }
                }
            }
            line.clear();
            self.line = line;
        }
    }

    fn chunk_end_at(&mut self, at_us: u64) {
        let chunk = std::mem::take(&mut self.line);
        self.event(&chunk, at_us);
    }

    /// One SSE line: a field, a comment, or the blank line that ends an event.
    fn sse_line(&mut self, line: &[u8], at_us: u64) {
        if line.is_empty() {
            if self.has_data {
                let data = std::mem::take(&mut self.data);
                self.has_data = false;
                if data.trim_ascii() == b"[DONE]" {
                    self.done = true;
                } else {
                    self.event(&data, at_us);
                }
            }
            return;
        }
        let (field, value) = match line.iter().position(|b| *b == b':') {
            Some(0) => return, // a comment
            Some(i) => (&line[..i], &line[i + 1..]),
            None => (line, &[][..]),
        };
        if field == b"data" {
            let value = value.strip_prefix(b" ").unwrap_or(value);
            if self.has_data {
                keep(&mut self.data, b"\n");
            }
            keep(&mut self.data, value);
            self.has_data = true;
        }
    }

    /// A complete event with its payload.
    fn event(&mut self, payload: &[u8], at_us: u64) {
        self.events = self.events.saturating_add(1);
        self.all.time(at_us);
        let Some(path) = &self.tokens_from else { return };
        let Ok(json) = serde_json::from_slice::<Value>(payload) else { return };
        let mut carries = false;
        for node in path.query(&json).iter() {
            match node {
                Value::Number(n) => self.reported = n.as_u64().or(self.reported),
                Value::Null | Value::Bool(false) => {}
                Value::String(s) => carries |= !s.is_empty(),
                Value::Array(a) => carries |= !a.is_empty(),
                Value::Object(o) => carries |= !o.is_empty(),
                Value::Bool(true) => carries = true,
            }
        }
        if carries {
            self.counted += 1;
            if let Some(t) = &mut self.with_tokens {
                t.time(at_us);
            }
        }
    }

    /// The timings once the response is complete (a last event without its blank line or newline
    /// counts too).
    pub fn finish(mut self) -> StreamTimes {
        if !self.done {
            let now = self.seen_us;
            match self.mode {
                StreamMode::Sse => {
                    if !self.line.is_empty() {
                        let line = std::mem::take(&mut self.line);
                        self.sse_line(&line, now);
                    }
                    self.sse_line(b"", now);
                }
                StreamMode::Ndjson if !self.line.trim_ascii().is_empty() => {
                    let line = std::mem::take(&mut self.line);
                    self.event(&line, now);
                }
                _ => {}
            }
        }
        let tokens = self.tokens_from.as_ref().map(|_| self.reported.unwrap_or(self.counted));
        let track = match self.with_tokens {
            Some(t) if t.first_us.is_some() => t,
            _ => self.all,
        };
        StreamTimes { events: self.events, tokens, ..track }
    }
}

/// Appends `data` to `buf` up to [`MAX_EVENT`].
fn keep(buf: &mut Vec<u8>, data: &[u8]) {
    let room = MAX_EVENT.saturating_sub(buf.len());
    buf.extend_from_slice(&data[..data.len().min(room)]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::checks::compile_jsonpath;
    use crate::sample::MAX_GAPS;

    fn events(mode: StreamMode, tokens_from: Option<&str>) -> Events {
        let plan = StreamPlan { mode, tokens_from: tokens_from.map(|p| Arc::new(compile_jsonpath(p).unwrap())) };
        Events::new(&plan, Instant::now())
    }

    fn completion(text: &str) -> String {
        format!(r#"{{"choices":[{{"index":0,"text":"{text}","finish_reason":null}}]}}"#)
    }

    #[test]
    fn sse_events_end_at_blank_lines_in_any_split() {
        let mut wire = String::from(": keep-alive\n\n");
        for i in 0..3 {
            wire += &format!("data: {}\r\n\r\n", completion(&format!("tok{i} ")));
        }
        wire += &format!("event: x\ndata: {}\n\n", completion(""));
        wire += "data: [DONE]\n\ndata: after\n\n";
        for step in [1, 2, 7, wire.len()] {
            let mut e = events(StreamMode::Sse, Some("$.choices[0].text"));
            for (i, piece) in wire.as_bytes().chunks(step).enumerate() {
                e.body_at(piece, 1000 * (i as u64 + 1));
            }
            let t = e.finish();
            assert_eq!((t.events, t.tokens), (4, Some(3)), "step {step}");
            assert_eq!(t.gaps_us.len(), 2, "gaps between the three token events, step {step}");
            assert!(t.first_us.unwrap() < t.last_us || step == wire.len(), "step {step}");
        }
    }

    #[test]
    fn sse_data_lines_are_joined_and_a_last_event_without_blank_line_counts() {
        let mut e = events(StreamMode::Sse, Some("$.n"));
        e.body_at(b"data: {\"n\":\ndata: 5}\n\ndata: {\"n\": 7}", 10);
        let t = e.finish();
        assert_eq!((t.events, t.tokens, t.first_us, t.last_us), (2, Some(7), Some(10), 10));
    }

    #[test]
    fn numbers_give_the_count_and_timing_falls_back_to_every_event() {
        let mut e = events(StreamMode::Ndjson, Some("$.usage.completion_tokens"));
        e.body_at(format!("{}\n{}\n", completion("a"), completion("b")).as_bytes(), 100);
        e.body_at(b"{\"usage\":{\"completion_tokens\":42}}\n", 350);
        let t = e.finish();
        assert_eq!((t.events, t.tokens, t.first_us, t.last_us), (3, Some(42), Some(100), 350));
        assert_eq!(t.gaps_us, [0, 250]);
    }

    #[test]
    fn ndjson_lines_and_chunks_are_events_without_tokens_unless_asked() {
        let mut e = events(StreamMode::Ndjson, None);
        e.body_at(b"{}\n\n{}\r\n{", 5);
        e.body_at(b"}", 9);
        let t = e.finish();
        assert_eq!((t.events, t.tokens, t.gaps_us.as_slice()), (3, None, &[0, 4][..]));
        let mut e = events(StreamMode::Chunked, Some("$.choices[0].text"));
        e.body_at(completion("x").as_bytes(), 1);
        e.chunk_end_at(20);
        e.body_at(b"not json", 30);
        e.chunk_end_at(30);
        e.body_at(completion("y").as_bytes(), 55);
        e.chunk_end_at(55);
        let t = e.finish();
        assert_eq!((t.events, t.tokens, t.first_us, t.gaps_us.as_slice()), (3, Some(2), Some(20), &[35][..]));
    }

    #[test]
    fn gaps_are_capped() {
        let mut e = events(StreamMode::Ndjson, None);
        for i in 0..(MAX_GAPS as u64 + 10) {
            e.body_at(b"{}\n", i);
        }
        let t = e.finish();
        assert_eq!((t.events as usize, t.gaps_us.len()), (MAX_GAPS + 10, MAX_GAPS));
    }
}
