//! `demo-target wait-ready URL`: polls an HTTP URL until it answers 200, so a suite's startup
//! stage can wait for a server it started in the background (no curl needed on the host).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// Options of `wait-ready`.
#[derive(Debug, Clone, PartialEq, Eq, clap::Args)]
pub struct WaitOpts {
    /// `http://host:port/path`
    pub url: String,
    /// Give up after this long (`10s`, `500ms` or seconds)
    #[arg(long, default_value = "15s", value_parser = parse_timeout)]
    pub timeout: Duration,
}

/// Polls every 100 ms until a GET of the URL answers 200 or the timeout passes.
pub fn run(opts: &WaitOpts) -> Result<(), String> {
    let rest = opts
        .url
        .strip_prefix("http://")
        .ok_or_else(|| format!("wait-ready: only http:// URLs are supported, got {:?}", opts.url))?;
    let (authority, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let started = Instant::now();
    let mut last = String::from("no attempt");
    while started.elapsed() < opts.timeout {
        match probe(authority, path) {
            Ok(200) => return Ok(()),
            Ok(status) => last = format!("status {status}"),
            Err(e) => last = e,
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Err(format!("wait-ready: {} not ready after {:?} (last: {last})", opts.url, opts.timeout))
}

fn probe(authority: &str, path: &str) -> Result<u16, String> {
    let mut stream = TcpStream::connect(authority).map_err(|e| e.to_string())?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).map_err(|e| e.to_string())?;
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {authority}\r\nConnection: close\r\n\r\n")
        .map_err(|e| e.to_string())?;
    let mut head = [0u8; 32];
    let n = stream.read(&mut head).map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&head[..n]);
    text.split_whitespace().nth(1).and_then(|s| s.parse().ok()).ok_or_else(|| format!("bad response {text:?}"))
}

/// Parses `10s`, `500ms` or a bare number of seconds.
pub fn parse_timeout(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    let (num, scale) = if let Some(n) = t.strip_suffix("ms") {
        (n, 0.001)
    } else if let Some(n) = t.strip_suffix('s') {
        (n, 1.0)
    } else {
        (t, 1.0)
    };
    let v: f64 = num.parse().map_err(|_| format!("--timeout: invalid time {text:?}"))?;
    if !v.is_finite() || v < 0.0 {
        return Err(format!("--timeout: invalid time {text:?}"));
    }
    Ok(Duration::from_secs_f64(v * scale))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts() {
        assert_eq!(parse_timeout("15s").unwrap(), Duration::from_secs(15));
        assert_eq!(parse_timeout("250ms").unwrap(), Duration::from_millis(250));
        assert_eq!(parse_timeout("2").unwrap(), Duration::from_secs(2));
        assert!(parse_timeout("x").is_err());
    }

    #[test]
    fn unreachable_url_times_out_with_a_reason() {
        let err =
            run(&WaitOpts { url: "http://127.0.0.1:9/ping".into(), timeout: Duration::from_millis(300) }).unwrap_err();
        assert!(err.contains("not ready"), "{err}");
    }
}
