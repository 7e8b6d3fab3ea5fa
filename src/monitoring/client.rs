//! The ServerAgent client, speaking the PerfMon line protocol as Taurus does: `test` → `Yep`,
//! `interval:N`, `metrics:a<TAB>b`, then one TAB-terminated value line per interval, and `exit`.
//! Framing and value parsing come from `monitoring_agent::protocol`, the one definition the agent
//! and this client share.

use std::io;
use std::time::Duration;

use monitoring_agent::protocol;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::time::timeout;

use super::Context;

/// How long connecting and the `test`/`Yep` handshake may take.
const HANDSHAKE: Duration = Duration::from_secs(3);
/// Longest line accepted from an agent.
const MAX_LINE: usize = 64 * 1024;

/// Streams from the agent at `address` until stopped; any failure becomes an `Unavailable` event.
pub async fn run(address: String, mut ctx: Context) {
    let stream = match timeout(HANDSHAKE, TcpStream::connect(&address)).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => return ctx.unavailable(format!("cannot connect to agent at {address}: {e}")),
        Err(_) => return ctx.unavailable(format!("cannot connect to agent at {address}: timed out")),
    };
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read);
    let mut line = Vec::new();
    let greeting = async {
        write.write_all(protocol::GREETING.as_bytes()).await?;
        read_capped(&mut lines, &mut line).await
    };
    match timeout(HANDSHAKE, greeting).await {
        Ok(Ok(_)) if line == protocol::REPLY.as_bytes() => {}
        Ok(Ok(_)) => {
            let answer = String::from_utf8_lossy(&line);
            return ctx.unavailable(format!("{address} is not a ServerAgent: it answered {answer:?} to `test`"));
        }
        Ok(Err(e)) => return ctx.unavailable(format!("agent at {address}: {e}")),
        Err(_) => return ctx.unavailable(format!("agent at {address} did not answer `test` within {HANDSHAKE:?}")),
    }
    let asked = ctx.source.interval.as_secs_f64().min(protocol::MAX_INTERVAL_SECS as f64);
    let interval = protocol::interval_secs(asked).unwrap_or(1);
    let request = format!("interval:{interval}\nmetrics:{}\n", ctx.source.metrics.join("\t"));
    if let Err(e) = write.write_all(request.as_bytes()).await {
        return ctx.unavailable(format!("agent at {address}: {e}"));
    }
    // An agent that stops sending for this long is reported once; data that comes later still counts.
    let silence = Duration::from_secs(interval * 3 + 2);
    let mut reported_silence = false;
    loop {
        line.clear();
        let read = tokio::select! {
            r = timeout(silence, read_capped(&mut lines, &mut line)) => r,
            _ = ctx.stopped() => break,
        };
        match read {
            Err(_) => {
                if !reported_silence {
                    ctx.unavailable(format!("agent at {address} sent nothing for {}s", silence.as_secs()));
                    reported_silence = true;
                }
            }
            Ok(Ok(0)) => return ctx.unavailable(format!("agent at {address} closed the connection")),
            Ok(Ok(_)) => {
                let text = String::from_utf8_lossy(&line);
                let text = text.trim_end_matches(['\n', '\r']);
                let values = protocol::parse_values(text);
                let wanted = ctx.source.metrics.len();
                if values.len() < wanted || values[..wanted].iter().any(Option::is_none) {
                    return ctx.unavailable(format!("agent at {address} answered `{}`", text.trim()));
                }
                ctx.emit(values[..wanted].iter().map(|v| v.unwrap_or_default()).collect());
            }
            Ok(Err(e)) => return ctx.unavailable(format!("agent at {address}: {e}")),
        }
    }
    let _ = timeout(HANDSHAKE, write.write_all(b"exit\n")).await;
}

/// Reads one line (with its `\n`) into `line`, failing on lines longer than [`MAX_LINE`], so an
/// agent that never ends a line cannot exhaust memory, during the handshake or after it.
async fn read_capped(reader: &mut BufReader<tokio::net::tcp::OwnedReadHalf>, line: &mut Vec<u8>) -> io::Result<usize> {
    let mut total = 0;
    loop {
        let buf = reader.fill_buf().await?;
        if buf.is_empty() {
            return Ok(total);
        }
        let (chunk, done) = match buf.iter().position(|b| *b == b'\n') {
            Some(i) => (&buf[..=i], true),
            None => (buf, false),
        };
        let n = chunk.len();
        if total + n > MAX_LINE + 1 {
            let message = format!("it sent a line longer than {} KiB", MAX_LINE / 1024);
            return Err(io::Error::new(io::ErrorKind::InvalidData, message));
        }
        line.extend_from_slice(chunk);
        reader.consume(n);
        total += n;
        if done {
            return Ok(total);
        }
    }
}
