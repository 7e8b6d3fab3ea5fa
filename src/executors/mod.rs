//! Sample sources beside the engine: another load tool runs its own script (`executor: k6`,
//! `executor: locust`) and
//! every request it reports becomes a [`Sample`] in the same recorder the engine fills, while the
//! test runs, so criteria (with their timeframes and `stop`), monitoring, the console and every
//! report work as for the native engine.
//!
//! This module holds what every tool shares: the child process in a process group of its own,
//! its results read line by line from its stdout as it writes them, its stderr kept in the
//! test's folder (and its last lines for the error when it fails), a stop that reaches it
//! (`Stopping`: the tool's graceful stop signal; `Aborting`: SIGKILL to the group), and an
//! exit that was not asked for made a test error. Each tool's file says how to start it and
//! how to read one line.

mod k6;
mod locust;

use std::collections::VecDeque;
use std::process::Stdio;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, BufReader};
use tokio::process::Command;

use crate::engine::stop::Phase;
use crate::engine::Context;
use crate::plan::tool::{ToolKind, ToolPlan};
use crate::plan::Load;
use crate::sample::{ErrorKind, Sample};

/// Lines of the tool's stderr kept for the error message when it fails.
const STDERR_TAIL: usize = 20;
/// Longest results line read (a k6 point or a Locust request line is a few hundred bytes; a
/// runaway line is skipped).
const MAX_LINE: usize = 1 << 20;
/// Bytes read from the tool's results at a time.
const CHUNK: usize = 64 * 1024;

/// How one tool is driven.
trait Tool: Send {
    /// The command (the caller adds stdout/stderr pipes and the process group).
    fn command(&self, plan: &ToolPlan, load: &Load, ctx: &Context) -> Result<Command, String>;
    /// One line of the tool's results: the samples it completes.
    fn line(&mut self, line: &str, ctx: &Context, out: &mut Vec<Sample>);
    /// The end of the results: samples still held back.
    fn finish(&mut self, ctx: &Context, out: &mut Vec<Sample>);
    /// How the tool's exit status reads (`Ok` with a note to show, or an error).
    fn exit(&self, code: Option<i32>, signalled: bool) -> Result<Option<String>, String>;
    /// Virtual users the tool reported last (for the test's concurrency), if it reports them.
    fn users(&self) -> Option<u64>;
    /// The signal that makes the tool finish what is in flight, report it and exit.
    fn graceful_stop(&self) -> Signal {
        Signal::SIGINT
    }
}

/// Runs execution `number` with its tool; whatever goes wrong is noted in `ctx` (the samples
/// read so far stay recorded and judged).
pub async fn run(plan: Arc<ToolPlan>, load: Load, number: usize, ctx: Context) {
    if !load.delay.is_zero() {
        tokio::select! {
            _ = tokio::time::sleep_until((ctx.started + load.delay).into()) => {}
            _ = ctx.stop.reached(Phase::Stopping) => return,
        }
    }
    crate::errln!("{}: {} ({})", plan.kind.name(), plan.version, plan.binary.display());
    let mut tool: Box<dyn Tool> = match plan.kind {
        ToolKind::K6 => Box::new(k6::K6::default()),
        ToolKind::Locust => Box::new(locust::Locust::default()),
    };
    if let Err(e) = supervise(tool.as_mut(), &plan, &load, &ctx).await {
        ctx.error(format!("{} (execution {}, scenario `{}`): {e}", plan.kind.name(), number + 1, plan.name));
    }
}

async fn supervise(tool: &mut dyn Tool, plan: &ToolPlan, load: &Load, ctx: &Context) -> Result<(), String> {
    let name = plan.kind.name();
    let mut cmd = tool.command(plan, load, ctx)?;
    cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).process_group(0).kill_on_drop(true);
    cmd.envs(plan.env.iter().map(|(k, v)| (k, v)));
    let mut child = cmd.spawn().map_err(|e| format!("cannot start `{}`: {e}", plan.binary.display()))?;
    let group = child.id().map(|id| Pid::from_raw(id as i32));
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let stderr = child.stderr.take().ok_or("no stderr")?;
    let log_path = ctx.dir.join(format!("{name}.err"));
    let stderr_task = tokio::spawn(keep_stderr(stderr, log_path));

    // Read in chunks and cut lines here: one wake-up per chunk, not per line (k6 writes several
    // lines per request).
    let mut stdout = stdout;
    let mut lines = Lines::default();
    let mut chunk = vec![0u8; CHUNK];
    let mut samples = Vec::new();
    let mut signalled = false;
    let mut users_now = 0u64;
    loop {
        let read = tokio::select! {
            r = stdout.read(&mut chunk) => r,
            _ = ctx.stop.reached(Phase::Aborting), if signalled => {
                if let Some(g) = group {
                    let _ = killpg(g, Signal::SIGKILL);
                }
                break;
            }
            _ = ctx.stop.reached(Phase::Stopping), if !signalled => {
                // The tool's own graceful stop: it finishes what is in flight and reports it.
                if let Some(g) = group {
                    let _ = killpg(g, tool.graceful_stop());
                }
                signalled = true;
                continue;
            }
        };
        match read {
            Ok(0) => break,
            Ok(n) => {
                lines.feed(&chunk[..n], |line| tool.line(&String::from_utf8_lossy(line), ctx, &mut samples));
                record(&mut samples, ctx);
                if let Some(users) = tool.users() {
                    adjust_users(ctx, &mut users_now, users);
                }
            }
            Err(e) => return Err(format!("reading its results: {e}")),
        }
    }
    tool.finish(ctx, &mut samples);
    record(&mut samples, ctx);
    adjust_users(ctx, &mut users_now, 0);
    let status = child.wait().await.map_err(|e| e.to_string())?;
    let tail = stderr_task.await.unwrap_or_default();
    let signalled = signalled || ctx.stop.phase() != Phase::Running;
    match tool.exit(status.code(), signalled) {
        Ok(None) => Ok(()),
        Ok(Some(note)) => {
            crate::errln!("{name}: {note}");
            ctx.note(format!("{name}: {note}"));
            Ok(())
        }
        Err(why) => {
            let tail: Vec<String> = tail.into_iter().collect();
            Err(if tail.is_empty() { why } else { format!("{why}; its last words:\n{}", tail.join("\n")) })
        }
    }
}

/// Hands samples to the recorder, requests counted as sent (a tool's request is known only
/// once done; its other figures are not requests).
fn record(samples: &mut Vec<Sample>, ctx: &Context) {
    for s in samples.drain(..) {
        if !ctx.labels.is_extra(s.label) {
            ctx.sent.fetch_add(1, Ordering::Relaxed);
        }
        ctx.samples.record(s);
    }
}

/// Moves the test's count of active users by the change in the tool's.
fn adjust_users(ctx: &Context, now: &mut u64, users: u64) {
    if users > *now {
        ctx.active.fetch_add(users - *now, Ordering::Relaxed);
    } else {
        ctx.active.fetch_sub(*now - users, Ordering::Relaxed);
    }
    *now = users;
}

/// Cuts a stream into lines; a line longer than [`MAX_LINE`] is skipped (its first bytes are
/// not a line of results), so a runaway line costs no more memory than that.
#[derive(Default)]
struct Lines {
    partial: Vec<u8>,
    skipping: bool,
}

impl Lines {
    /// Hands each complete line of `bytes` (after what came before) to `each`, without its end.
    fn feed(&mut self, mut bytes: &[u8], mut each: impl FnMut(&[u8])) {
        while let Some(pos) = memchr::memchr(b'\n', bytes) {
            let (line, rest) = (&bytes[..pos], &bytes[pos + 1..]);
            if self.skipping {
                self.skipping = false;
            } else if self.partial.is_empty() {
                each(trim_cr(line));
            } else {
                self.partial.extend_from_slice(line);
                each(trim_cr(&std::mem::take(&mut self.partial)));
            }
            bytes = rest;
        }
        if !self.skipping {
            self.partial.extend_from_slice(bytes);
            if self.partial.len() > MAX_LINE {
                self.partial = Vec::new();
                self.skipping = true;
            }
        }
    }
}

fn trim_cr(line: &[u8]) -> &[u8] {
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// Copies the tool's stderr to `path`, returning its last lines.
async fn keep_stderr<R: AsyncRead + Unpin>(stderr: R, path: std::path::PathBuf) -> VecDeque<String> {
    use tokio::io::AsyncWriteExt;
    let mut file = tokio::fs::File::create(&path).await.ok();
    let mut lines = BufReader::new(stderr).lines();
    let mut tail = VecDeque::with_capacity(STDERR_TAIL);
    while let Ok(Some(line)) = lines.next_line().await {
        if let Some(f) = file.as_mut() {
            let _ = f.write_all(line.as_bytes()).await;
            let _ = f.write_all(b"\n").await;
        }
        if tail.len() == STDERR_TAIL {
            tail.pop_front();
        }
        tail.push_back(line);
    }
    tail
}

/// The kind of a tool's request error, from its message.
pub(crate) fn transport_kind(error: &str) -> ErrorKind {
    let e = error.to_ascii_lowercase();
    if e.contains("refused") {
        ErrorKind::ConnectRefused
    } else if e.contains("timeout") || e.contains("deadline") {
        ErrorKind::Timeout
    } else if e.contains("reset") || e.contains("eof") {
        ErrorKind::Reset
    } else if e.contains("tls") || e.contains("x509") || e.contains("certificate") {
        ErrorKind::Tls
    } else {
        ErrorKind::Transport
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_cut_across_chunks_and_runaway_lines_skipped() {
        let mut lines = Lines::default();
        let mut got = Vec::new();
        lines.feed(b"a\nb", |l| got.push(l.to_vec()));
        lines.feed(b"c\r\n\nd", |l| got.push(l.to_vec()));
        assert_eq!(got, [b"a".to_vec(), b"bc".to_vec(), b"".to_vec()]);
        let long = vec![b'x'; MAX_LINE + 10];
        lines.feed(&long, |l| got.push(l.to_vec()));
        lines.feed(b"tail\nok\n", |l| got.push(l.to_vec()));
        assert_eq!(got.last().unwrap(), b"ok");
        assert_eq!(got.len(), 4, "the runaway line is skipped whole");
    }
}
