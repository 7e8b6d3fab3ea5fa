//! Optional `--http ADDR`: `GET /metrics` answers the Prometheus text exposition (format 0.0.4) of every
//! catalogue metric, so the same figures can be scraped without a ServerAgent client.
//!
//! Names are prefixed `mms_` and `-`/`:` become `_` (`disk-space` → `mms_disk_space`); each `# HELP` line carries
//! the unit. Everything is a gauge: even the cumulative times are aggregated (`min`, `avg`), so they can go down.
//! The HTTP side is the smallest that works: one request per connection, head capped at 8 KiB and 5 s, at most
//! 16 connections at once; anything but `GET`/`HEAD /metrics` gets 404 or 405.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::time;

use crate::collector::SharedCollector;
use crate::metric::Metric;
use crate::protocol;

/// Prefix of every exported name.
pub const PREFIX: &str = "mms_";
const MAX_HEAD: usize = 8192;
const MAX_CONNECTIONS: usize = 16;
const IO_TIMEOUT: Duration = Duration::from_secs(5);

/// The exported name of `metric`, e.g. `mms_sum_workers_memory_rss`.
pub fn prom_name(metric: &Metric) -> String {
    format!("{PREFIX}{}", metric.name().replace(['-', ':'], "_"))
}

/// The text exposition of `values` (in the order of `metrics`).
pub fn render(metrics: &[Metric], values: &[f64]) -> String {
    let mut out = String::with_capacity(metrics.len() * 120);
    for (metric, value) in metrics.iter().zip(values) {
        let name = prom_name(metric);
        out.push_str(&format!("# HELP {name} {} ({})\n# TYPE {name} gauge\n{name} ", metric.name(), metric.unit()));
        let value = if value.is_finite() { *value } else { 0.0 };
        if metric.is_integer() {
            out.push_str(&format!("{}", value.round() as i64));
        } else {
            protocol::push_py_float(&mut out, value);
        }
        out.push('\n');
    }
    out
}

/// Serves `/metrics` on `listener` until `shutdown` completes.
pub async fn serve(
    listener: TcpListener,
    collector: SharedCollector,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            () = &mut shutdown => return Ok(()),
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(conn) => conn,
                    Err(e) => {
                        crate::server::log(&format!("http accept failed: {e}"));
                        time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                let Ok(permit) = slots.clone().try_acquire_owned() else {
                    crate::server::log(&format!("http {peer} refused: {MAX_CONNECTIONS} requests in flight"));
                    tokio::spawn(respond(stream, "503 Service Unavailable", "busy\n".to_string()));
                    continue;
                };
                let collector = collector.clone();
                tokio::spawn(async move {
                    if let Err(e) = handle(stream, collector).await {
                        crate::server::log(&format!("http {peer} error: {e}"));
                    }
                    drop(permit);
                });
            }
        }
    }
}

async fn handle(mut stream: TcpStream, collector: SharedCollector) -> std::io::Result<()> {
    let head = match time::timeout(IO_TIMEOUT, read_head(&mut stream)).await {
        Ok(head) => head?,
        Err(_) => return Err(std::io::Error::new(std::io::ErrorKind::TimedOut, "request head not received in 5s")),
    };
    let request_line = head.lines().next().unwrap_or_default();
    let mut parts = request_line.split_whitespace();
    let (method, target) = (parts.next().unwrap_or_default(), parts.next().unwrap_or_default());
    let path = target.split('?').next().unwrap_or_default();
    let (status, body) = match (method, path) {
        ("GET" | "HEAD", "/metrics") => {
            let metrics = Metric::all();
            let values = collector.sample(&metrics);
            ("200 OK", render(&metrics, &values))
        }
        ("GET" | "HEAD", _) => ("404 Not Found", "only /metrics is served here\n".to_string()),
        _ => ("405 Method Not Allowed", "only GET /metrics\n".to_string()),
    };
    let body = if method == "HEAD" { String::new() } else { body };
    respond(stream, status, body).await;
    Ok(())
}

/// Reads until the blank line ending the request head, at most [`MAX_HEAD`] bytes.
async fn read_head(stream: &mut TcpStream) -> std::io::Result<String> {
    let mut head = Vec::with_capacity(512);
    let mut chunk = [0u8; 1024];
    loop {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&chunk[..n]);
        if head.windows(4).any(|w| w == b"\r\n\r\n") || head.windows(2).any(|w| w == b"\n\n") {
            break;
        }
        if head.len() > MAX_HEAD {
            return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, "request head over 8 KiB"));
        }
    }
    Ok(String::from_utf8_lossy(&head).into_owned())
}

async fn respond(mut stream: TcpStream, status: &str, body: String) {
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = time::timeout(IO_TIMEOUT, stream.write_all(response.as_bytes())).await;
    let _ = time::timeout(IO_TIMEOUT, stream.shutdown()).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_help_lines() {
        let metrics: Vec<Metric> =
            ["disk-space", "sum_workers_memory_rss"].iter().filter_map(|n| Metric::parse(n).ok()).collect();
        let text = render(&metrics, &[15.4, 1024.0]);
        assert_eq!(
            text,
            "# HELP mms_disk_space disk-space (percent of filesystem)\n# TYPE mms_disk_space gauge\nmms_disk_space 15.4\n\
             # HELP mms_sum_workers_memory_rss sum_workers_memory_rss (bytes)\n\
             # TYPE mms_sum_workers_memory_rss gauge\nmms_sum_workers_memory_rss 1024\n"
        );
    }
}
