//! Fuzz harness for the HTTP/1.1 response reader ([`super::wire::Reader`]), run by `cargo test` for a few
//! seconds and for as long as `FUZZ_SECS` says (`FUZZ_SECS=600 cargo test --lib engine::http::fuzz -- --nocapture`).
//!
//! Inputs are responses assembled from realistic pieces (status lines, framing headers, chunk lines, bodies,
//! trailers) with random bytes and mutations mixed in, fed in pieces cut at random points. Whatever the bytes,
//! the reader must not panic, must never count more response bytes (or body bytes) than it was fed, and must
//! read the same response however the bytes were cut (inputs stay far below its 4 KiB line and 256 KiB head
//! caps, where the cut could matter).

use std::time::{Duration, Instant};

use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestError, TestRunner};

use super::wire::{Head, Progress, Reader};

/// The budget: `FUZZ_SECS` seconds, else 3.
fn budget() -> Duration {
    let secs = std::env::var("FUZZ_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(3.0);
    Duration::from_secs_f64(secs)
}

/// Pieces responses are made of; `Raw` brings arbitrary bytes.
fn piece() -> impl Strategy<Value = Vec<u8>> {
    let fixed: Vec<&'static [u8]> = vec![
        b"HTTP/1.1 200 OK\r\n",
        b"HTTP/1.0 200 OK\r\n",
        b"HTTP/1.1 100 Continue\r\n\r\n",
        b"HTTP/1.1 204 No Content\r\n",
        b"HTTP/1.1 304 Not Modified\r\n",
        b"HTTP/1.1 101 Switching Protocols\r\n",
        b"Transfer-Encoding: chunked\r\n",
        b"Transfer-Encoding: gzip, chunked\r\n",
        b"Connection: close\r\n",
        b"Connection: keep-alive\r\n",
        b"Location: /next\r\n",
        b"Set-Cookie: a=b; Path=/\r\n",
        b"\r\n",
        b"\n",
        b"0\r\n",
        b"5;ext=1\r\n",
        b"hello",
        b"X-T: 1\r\n",
        b"ffffffffffffffff\r\n",
    ];
    prop_oneof![
        4 => proptest::sample::select(fixed).prop_map(<[u8]>::to_vec),
        1 => (0u64..40).prop_map(|n| format!("Content-Length: {n}\r\n").into_bytes()),
        1 => (0u64..40).prop_map(|n| format!("{n:x}\r\n").into_bytes()),
        1 => proptest::collection::vec(any::<u8>(), 0..24),
    ]
}

/// A response: pieces, then a few byte mutations (position, new byte).
fn response() -> impl Strategy<Value = Vec<u8>> {
    (proptest::collection::vec(piece(), 0..16), proptest::collection::vec((any::<usize>(), any::<u8>()), 0..4))
        .prop_map(|(pieces, mutations)| {
            let mut bytes = pieces.concat();
            for (at, b) in mutations {
                if !bytes.is_empty() {
                    let at = at % bytes.len();
                    bytes[at] = b;
                }
            }
            bytes
        })
}

/// What reading gave: the outcome, the head's status, the body and the bytes counted.
#[derive(Debug, PartialEq)]
struct Read {
    outcome: Result<Progress, String>,
    status: u16,
    body: Vec<u8>,
    bytes: u64,
}

/// Feeds `wire` cut at `cuts` (positions, sorted and clamped here), then the end of the stream if the reader
/// still wants more; checks the counts after every step. Once the response is complete the rest is fed in one
/// piece (only to learn whether the connection stays reusable).
fn read(wire: &[u8], cuts: &[usize], head_request: bool) -> Result<Read, TestCaseError> {
    let mut points: Vec<usize> = cuts.iter().map(|c| c % (wire.len() + 1)).collect();
    points.push(wire.len());
    points.sort_unstable();
    let mut r = Reader::new(head_request, usize::MAX, true);
    let (mut head, mut body) = (Head::default(), Vec::new());
    let mut fed = 0;
    let mut outcome = Ok(Progress::More);
    for &end in &points {
        if end < fed {
            continue;
        }
        outcome = r.feed(&wire[fed..end], &mut head, &mut body).map_err(|e| e.to_string());
        fed = end;
        prop_assert!(r.bytes <= fed as u64, "counted {} bytes of {fed} fed", r.bytes);
        prop_assert!(body.len() <= fed, "a body of {} bytes from {fed} fed", body.len());
        if let Ok(Progress::Done { .. }) = outcome {
            // Bytes after a complete response, as one more read would bring them: the connection is not reused.
            if fed < wire.len() {
                outcome = r.feed(&wire[fed..], &mut head, &mut body).map_err(|e| e.to_string());
            }
            break;
        }
        if outcome.is_err() {
            break;
        }
    }
    if outcome == Ok(Progress::More) {
        outcome = r.eof().map_err(|e| e.to_string());
    }
    prop_assert!(r.bytes <= wire.len() as u64);
    Ok(Read { outcome, status: head.status, body, bytes: r.bytes })
}

/// Runs `test` on inputs from `strategy` until the budget is spent; returns the executions.
fn fuzz<S: Strategy>(strategy: S, test: impl Fn(S::Value) -> Result<(), TestCaseError>) -> u64 {
    let started = Instant::now();
    let mut executions = 0u64;
    while executions == 0 || started.elapsed() < budget() {
        let config = Config { cases: 512, failure_persistence: None, ..Config::default() };
        match TestRunner::new(config).run(&strategy, &test) {
            Ok(()) => executions += 512,
            Err(TestError::Fail(why, input)) => panic!("{why}\nminimal input: {input:?}"),
            Err(TestError::Abort(why)) => panic!("aborted: {why}"),
        }
    }
    eprintln!("wire reader fuzz: {executions} executions in {:.1}s", started.elapsed().as_secs_f64());
    executions
}

#[test]
fn the_reader_never_panics_never_overcounts_and_ignores_the_cuts() {
    let input = (response(), proptest::collection::vec(any::<usize>(), 0..8), any::<bool>());
    fuzz(input, |(wire, cuts, head_request)| {
        let whole = read(&wire, &[], head_request)?;
        let cut = read(&wire, &cuts, head_request)?;
        // Errors may be found at a different byte, but a response is one or the other either way.
        prop_assert_eq!(whole.outcome.is_ok(), cut.outcome.is_ok(), "whole {:?} vs cut {:?}", whole, cut);
        if whole.outcome.is_ok() {
            prop_assert_eq!(whole, cut);
        }
        Ok(())
    });
}
