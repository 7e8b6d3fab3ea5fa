//! The TCP server: an accept loop capped by a semaphore, and one task per client that frames commands by line,
//! answers them and streams value lines on its own interval.
//!
//! Safety by default, because the agent listens on a port anyone on the host (or network, with `--bind`) can reach:
//! lines are capped ([`Limits::max_line_len`]; longer → error line and disconnect), clients are capped (extra
//! connections get an error line and are closed), metric lists are capped, every write has a timeout so a client
//! that never reads is dropped instead of holding anything, a client that is idle without streaming is dropped,
//! `shutdown` is refused unless allowed, and nothing a client sends is ever run (`exec:`/`tail:` specs are refused
//! in [`crate::metric`]). Each client has its own task and state, so a slow or hostile one cannot stall the others;
//! the only shared thing is the collector, locked just for the synchronous sample. The replies to all commands of
//! one read go out in one write, so a flood of tiny commands costs the agent one syscall per 4 KiB, not per line.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch, Semaphore};
use tokio::task::JoinSet;
use tokio::time::{self, MissedTickBehavior};

use crate::collector::{Collector, Selector, SharedCollector};
use crate::metric::Metric;
use crate::protocol::{self, Command};

/// Caps that keep one client from exhausting the agent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Clients served at once; extra connections get an error line and are closed.
    pub max_clients: usize,
    /// Longest command line in bytes; a longer one gets an error line and the client is dropped.
    pub max_line_len: usize,
    /// Most metrics in one `metrics:`/`metrics-single:` command (the whole catalogue has 135).
    pub max_metrics: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_clients: 64, max_line_len: 4096, max_metrics: 200 }
    }
}

/// Everything [`serve`] needs besides the listener and the collector.
#[derive(Clone, Copy, Debug)]
pub struct Options {
    /// Connection and input caps.
    pub limits: Limits,
    /// Honour a client's `shutdown` command (off by default: any client could stop monitoring).
    pub allow_shutdown: bool,
    /// A write that does not complete in this time drops the client (it is not reading).
    pub write_timeout: Duration,
    /// A client that neither streams nor sends a command for this long is dropped (it holds a slot for nothing).
    pub idle_timeout: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            limits: Limits::default(),
            allow_shutdown: false,
            write_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(120),
        }
    }
}

/// Replies to one read's commands are written together; past this size they are written early, so a flood of
/// commands costs one write per chunk instead of one per line, and a client's pending replies stay bounded.
const FLUSH_AT: usize = 16 * 1024;

/// Errors logged per client; a client sending garbage in a loop must not flood the agent's log.
const MAX_LOGGED_ERRORS: u32 = 20;

/// How long a stopping agent waits for its clients to finish before dropping them.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(2);

/// A collector not sampled for this long is treated as cold: CPU percentages and rates need two samples, so a
/// `metrics-single` on a cold collector samples twice [`WARM_UP`] apart.
const COLD_AFTER: Duration = Duration::from_secs(5);
const WARM_UP: Duration = Duration::from_millis(250);

/// Serves ServerAgent clients on `listener` with a new collector for `selector` until `shutdown` completes.
pub async fn run(
    listener: TcpListener,
    selector: Selector,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let collector = SharedCollector::new(Collector::new(selector));
    serve(listener, collector, Options { limits, ..Options::default() }, shutdown).await
}

/// Like [`run`], with a collector shared with others (e.g. the Prometheus endpoint) and all options. Returns when
/// `shutdown` completes or, with `allow_shutdown`, a client sends `shutdown`; clients are then told to stop and
/// given 2 s to do so.
pub async fn serve(
    listener: TcpListener,
    collector: SharedCollector,
    options: Options,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let max_clients = options.limits.max_clients.max(1);
    let slots = Arc::new(Semaphore::new(max_clients));
    // `true` tells every client task to finish.
    let (stop_tx, stop_rx) = watch::channel(false);
    // A client's allowed `shutdown` command.
    let (shutdown_req_tx, mut shutdown_req_rx) = mpsc::channel::<()>(1);
    let mut clients = JoinSet::new();
    tokio::pin!(shutdown);

    loop {
        tokio::select! {
            () = &mut shutdown => break,
            _ = shutdown_req_rx.recv() => break,
            // Reap finished client tasks so the set does not grow.
            Some(_) = clients.join_next(), if !clients.is_empty() => {}
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(conn) => conn,
                    Err(e) => {
                        // Out of descriptors and similar: back off instead of spinning on the error.
                        log(&format!("accept failed: {e}"));
                        time::sleep(Duration::from_millis(100)).await;
                        continue;
                    }
                };
                // Lines are small and latency matters more than packet count.
                let _ = stream.set_nodelay(true);
                match slots.clone().try_acquire_owned() {
                    Ok(permit) => {
                        log(&format!("{peer} connected ({}/{max_clients} clients)", max_clients - slots.available_permits()));
                        let client = Client::new(stream, peer, collector.clone(), options, stop_rx.clone(), shutdown_req_tx.clone());
                        clients.spawn(async move {
                            let reason = client.run().await;
                            drop(permit);
                            log(&format!("{peer} disconnected: {reason}"));
                        });
                    }
                    Err(_) => {
                        log(&format!("{peer} refused: already {max_clients} clients"));
                        tokio::spawn(refuse(stream, max_clients));
                    }
                }
            }
        }
    }
    drop(listener);
    let _ = stop_tx.send(true);
    let drained = time::timeout(DRAIN_TIMEOUT, async { while clients.join_next().await.is_some() {} }).await;
    if drained.is_err() {
        log(&format!("{} clients did not finish in {DRAIN_TIMEOUT:?}; dropping them", clients.len()));
        clients.abort_all();
    }
    Ok(())
}

/// Tells an over-the-cap connection why it is closed, without letting it hold the accept loop.
async fn refuse(mut stream: TcpStream, max_clients: usize) {
    let line = protocol::error_line(&format!("too many clients (the agent serves {max_clients}); try again later"));
    let _ = time::timeout(Duration::from_secs(1), stream.write_all(line.as_bytes())).await;
    let _ = time::timeout(Duration::from_secs(1), stream.shutdown()).await;
}

/// Why a client's task ended (logged on disconnect).
#[derive(Debug)]
enum Reason {
    Closed,
    Exit,
    Shutdown,
    Stopping,
    LineTooLong(usize),
    WriteTimeout(Duration),
    Idle(Duration),
    Io(std::io::Error),
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Reason::Closed => write!(f, "connection closed by client"),
            Reason::Exit => write!(f, "`exit`"),
            Reason::Shutdown => write!(f, "`shutdown` accepted, agent stopping"),
            Reason::Stopping => write!(f, "agent stopping"),
            Reason::LineTooLong(max) => write!(f, "line longer than {max} bytes"),
            Reason::WriteTimeout(t) => write!(f, "not reading (a write did not complete in {t:?})"),
            Reason::Idle(t) => write!(f, "idle for {t:?} without streaming"),
            Reason::Io(e) => write!(f, "{e}"),
        }
    }
}

/// One connection's state.
struct Client {
    reader: tokio::net::tcp::OwnedReadHalf,
    writer: OwnedWriteHalf,
    peer: SocketAddr,
    collector: SharedCollector,
    options: Options,
    stop: watch::Receiver<bool>,
    shutdown_req: mpsc::Sender<()>,
    /// Seconds between value lines (`interval:`), 1 until the client says otherwise.
    interval: Duration,
    /// The metrics being streamed, with the ticker that paces them.
    streaming: Option<(Vec<Metric>, time::Interval)>,
    /// Replies not yet written (see [`FLUSH_AT`]).
    out: String,
    /// Errors logged so far (see [`MAX_LOGGED_ERRORS`]).
    errors_logged: u32,
}

impl Client {
    fn new(
        stream: TcpStream,
        peer: SocketAddr,
        collector: SharedCollector,
        options: Options,
        stop: watch::Receiver<bool>,
        shutdown_req: mpsc::Sender<()>,
    ) -> Self {
        let (reader, writer) = stream.into_split();
        Client {
            reader,
            writer,
            peer,
            collector,
            options,
            stop,
            shutdown_req,
            interval: Duration::from_secs(1),
            streaming: None,
            out: String::new(),
            errors_logged: 0,
        }
    }

    async fn run(mut self) -> Reason {
        let max_line = self.options.limits.max_line_len;
        let mut pending: Vec<u8> = Vec::with_capacity(256);
        let mut chunk = vec![0u8; 4096];
        let mut last_command = Instant::now();
        loop {
            let idle_deadline = time::Instant::from_std(last_command + self.options.idle_timeout);
            let streaming = self.streaming.is_some();
            tokio::select! {
                _ = self.stop.changed() => return Reason::Stopping,
                read = self.reader.read(&mut chunk) => {
                    let n = match read {
                        Ok(0) => return Reason::Closed,
                        Ok(n) => n,
                        Err(e) => return Reason::Io(e),
                    };
                    pending.extend_from_slice(&chunk[..n]);
                    // Commands are framed by lines, not by reads: one packet may hold several, or half of one.
                    while let Some(end) = pending.iter().position(|b| *b == b'\n') {
                        if end > max_line {
                            return self.too_long().await;
                        }
                        let line: Vec<u8> = pending.drain(..=end).collect();
                        last_command = Instant::now();
                        if let Err(reason) = self.handle_line(&line[..end]).await {
                            // `test\nexit\n` still gets its `Yep`.
                            let _ = self.flush().await;
                            return reason;
                        }
                    }
                    if pending.len() > max_line {
                        return self.too_long().await;
                    }
                    if let Err(reason) = self.flush().await {
                        return reason;
                    }
                }
                _ = tick(&mut self.streaming) => {
                    if let Err(reason) = self.stream_line().await {
                        return reason;
                    }
                }
                () = time::sleep_until(idle_deadline), if !streaming => return Reason::Idle(self.options.idle_timeout),
            }
        }
    }

    async fn too_long(&mut self) -> Reason {
        let max = self.options.limits.max_line_len;
        self.error(&format!("line longer than {max} bytes; closing")).await;
        let _ = self.flush().await;
        Reason::LineTooLong(max)
    }

    async fn handle_line(&mut self, raw: &[u8]) -> Result<(), Reason> {
        let Ok(line) = std::str::from_utf8(raw) else {
            self.error("command is not UTF-8 text").await;
            return Ok(());
        };
        if line.trim().is_empty() {
            // Blank lines are noise, not errors: answering each would turn a flood of `\n` into a flood of replies.
            return Ok(());
        }
        match protocol::parse_command(line) {
            Command::Test => self.reply(protocol::REPLY).await,
            Command::Interval(secs) => match protocol::interval_secs(secs) {
                Some(secs) => {
                    self.interval = Duration::from_secs(secs);
                    if let Some((_, ticker)) = &mut self.streaming {
                        *ticker = ticker_for(self.interval);
                    }
                    Ok(())
                }
                None => {
                    let max = protocol::MAX_INTERVAL_SECS;
                    self.error(&format!(
                        "invalid interval in `{}`: expected seconds, over 0 and at most {max}",
                        shown(line)
                    ))
                    .await;
                    Ok(())
                }
            },
            Command::Metrics(names) => {
                if let Some(metrics) = self.parse_metrics(&names).await {
                    // Prime CPU percentages and rates so the first line, one interval from now, is meaningful.
                    self.collector.sample(&metrics);
                    self.streaming = Some((metrics, ticker_for(self.interval)));
                }
                Ok(())
            }
            Command::MetricsSingle(names) => {
                let Some(metrics) = self.parse_metrics(&names).await else { return Ok(()) };
                if self.collector.last_sample_age().is_none_or(|age| age > COLD_AFTER) {
                    self.collector.sample(&metrics);
                    time::sleep(WARM_UP).await;
                }
                let values = self.collector.sample(&metrics);
                self.reply(&protocol::format_values(&values, &metrics)).await
            }
            Command::Exit => Err(Reason::Exit),
            Command::Shutdown if self.options.allow_shutdown => {
                log(&format!("{} sent `shutdown`; stopping the agent", self.peer));
                let _ = self.shutdown_req.try_send(());
                Err(Reason::Shutdown)
            }
            Command::Shutdown => {
                self.error("`shutdown` refused: the agent was not started with --allow-shutdown").await;
                Ok(())
            }
            Command::Unknown(line) => {
                self.error(&format!(
                    "unknown command `{}` (commands: test, interval:N, metrics:a\\tb, metrics-single:a\\tb, exit)",
                    shown(&line)
                ))
                .await;
                Ok(())
            }
        }
    }

    /// Parses a metric list; on any problem sends one error line and returns `None` (nothing is streamed, since
    /// Taurus maps values by position and a partial line would shift them).
    async fn parse_metrics(&mut self, names: &[String]) -> Option<Vec<Metric>> {
        let max = self.options.limits.max_metrics;
        if names.is_empty() {
            self.error("no metrics named; expected `metrics:name1\\tname2…`").await;
            return None;
        }
        if names.len() > max {
            self.error(&format!("{} metrics requested; at most {max} per command", names.len())).await;
            return None;
        }
        let mut metrics = Vec::with_capacity(names.len());
        for name in names {
            match Metric::parse(name) {
                Ok(m) => metrics.push(m),
                Err(e) => {
                    self.error(&e.to_string()).await;
                    return None;
                }
            }
        }
        Some(metrics)
    }

    async fn stream_line(&mut self) -> Result<(), Reason> {
        let Some((metrics, _)) = &self.streaming else { return Ok(()) };
        let values = self.collector.sample(metrics);
        let line = protocol::format_values(&values, metrics);
        self.out.push_str(&line);
        self.flush().await
    }

    /// Queues an error line and logs it (up to [`MAX_LOGGED_ERRORS`] per client). A failure to send is left to the
    /// next write or read to notice.
    async fn error(&mut self, message: &str) {
        self.errors_logged += 1;
        if self.errors_logged <= MAX_LOGGED_ERRORS {
            log(&format!("{} error: {message}", self.peer));
        } else if self.errors_logged == MAX_LOGGED_ERRORS + 1 {
            log(&format!("{} error: more errors from this client are not logged", self.peer));
        }
        let _ = self.reply(&protocol::error_line(message)).await;
    }

    /// Queues a reply; writes the queue once it passes [`FLUSH_AT`].
    async fn reply(&mut self, text: &str) -> Result<(), Reason> {
        self.out.push_str(text);
        if self.out.len() >= FLUSH_AT {
            self.flush().await?;
        }
        Ok(())
    }

    /// Writes the queued replies, within the write timeout.
    async fn flush(&mut self) -> Result<(), Reason> {
        if self.out.is_empty() {
            return Ok(());
        }
        let timeout = self.options.write_timeout;
        let written = time::timeout(timeout, self.writer.write_all(self.out.as_bytes())).await;
        self.out.clear();
        match written {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(Reason::Io(e)),
            Err(_) => Err(Reason::WriteTimeout(timeout)),
        }
    }
}

/// The first tick is one interval away; a late tick (the collector was slow) delays the next rather than bursting.
fn ticker_for(period: Duration) -> time::Interval {
    let mut ticker = time::interval_at(time::Instant::now() + period, period);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    ticker
}

/// Completes at the next tick when streaming; never otherwise.
async fn tick(streaming: &mut Option<(Vec<Metric>, time::Interval)>) {
    match streaming {
        Some((_, ticker)) => {
            ticker.tick().await;
        }
        None => std::future::pending().await,
    }
}

/// A client's text as echoed in an error: control characters escaped, cut at 64 characters.
fn shown(text: &str) -> String {
    let escaped: String = text.escape_debug().collect();
    match escaped.char_indices().nth(64) {
        Some((i, _)) => format!("{}…", &escaped[..i]),
        None => escaped,
    }
}

/// One line on stderr per connect, disconnect and error.
pub(crate) fn log(message: &str) {
    eprintln!("monitoring-agent: {message}");
}
