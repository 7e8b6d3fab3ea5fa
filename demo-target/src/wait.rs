//! `demo-target wait-ready URL`: polls an HTTP URL until it answers 200, so a suite's startup
//! stage can wait for a server it started in the background (no curl needed on the host).

use crate::http;
use http_body_util::Full;
use hyper::body::Bytes;
use hyper::header::HOST;
use hyper::Uri;
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

/// How long one attempt may take.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(2);

/// Polls every 100 ms until a GET of the URL answers 200 or the timeout passes.
pub async fn run(opts: &WaitOpts) -> Result<(), String> {
    let url: Uri = opts.url.parse().map_err(|e| format!("wait-ready: invalid URL {:?}: {e}", opts.url))?;
    if url.scheme_str() != Some("http") {
        return Err(format!("wait-ready: only http:// URLs are supported, got {:?}", opts.url));
    }
    let started = Instant::now();
    let mut last = String::from("no attempt");
    while started.elapsed() < opts.timeout {
        match tokio::time::timeout(ATTEMPT_TIMEOUT, probe(&url)).await {
            Ok(Ok(200)) => return Ok(()),
            Ok(Ok(status)) => last = format!("status {status}"),
            Ok(Err(e)) => last = e.to_string(),
            Err(_) => last = format!("no answer within {ATTEMPT_TIMEOUT:?}"),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(format!("wait-ready: {} not ready after {:?} (last: {last})", opts.url, opts.timeout))
}

/// The status of one GET of `url`.
async fn probe(url: &Uri) -> Result<u16, http::BoxError> {
    let authority = url.authority().ok_or("the URL has no host")?;
    let mut conn = http::connect((authority.host(), authority.port_u16().unwrap_or(80))).await?;
    let path = url.path_and_query().map_or("/", |p| p.as_str());
    let req = hyper::Request::get(path).header(HOST, authority.as_str()).body(Full::<Bytes>::default())?;
    Ok(conn.send_request(req).await?.status().as_u16())
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
    let v: f64 = num.parse().map_err(|_| format!("invalid time {text:?}"))?;
    if !v.is_finite() || v < 0.0 {
        return Err(format!("invalid time {text:?}"));
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

    #[tokio::test]
    async fn unreachable_url_times_out_with_a_reason() {
        let opts = WaitOpts { url: "http://127.0.0.1:9/ping".into(), timeout: Duration::from_millis(300) };
        let err = run(&opts).await.unwrap_err();
        assert!(err.contains("not ready"), "{err}");
    }
}
