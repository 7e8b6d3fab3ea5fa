//! The `monitoring-agent` binary: parse flags, bind, print the address, serve until SIGTERM/SIGINT.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use monitoring_agent::collector::{Collector, Frontend, Selector, SharedCollector};
use monitoring_agent::server::{self, Limits, Options};
use monitoring_agent::{metric, prometheus};
use regex::Regex;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// Serves model-server process metrics (MMS/TorchServe names) and host metrics (Taurus local names) over the
/// PerfMon ServerAgent protocol, as Taurus's `services: [{module: monitoring, server-agent: […]}]` expects.
///
/// The frontend is found by pid, pid file or command-line regex (by default, as MMS: the pid in
/// `$TMPDIR/.model_server.pid`, workers running `model_service_worker.py`); its descendants are the workers. Protocol: send
/// `test` (→ `Yep`), `interval:1`, then `metrics:cpu<TAB>total_workers` to receive one TAB-terminated line of values
/// per interval. `--list-metrics` prints every name with its unit.
#[derive(Debug, Parser)]
#[command(name = "monitoring-agent", version, about, long_about)]
struct Cli {
    /// Address to listen on for ServerAgent clients. Loopback by default; use e.g. 0.0.0.0:9009 to accept remote
    /// clients (the agent has no authentication, so it warns on any address that is not loopback).
    #[arg(long, value_name = "ADDR", default_value = monitoring_agent::DEFAULT_BIND)]
    bind: String,

    /// The frontend's pid.
    #[arg(long, value_name = "PID", group = "frontend")]
    frontend_pid: Option<u32>,

    /// A file holding the frontend's pid; re-read when the pid it names is gone, so a restarted server is found
    /// again. Default, when no frontend option is given: `$TMPDIR/.model_server.pid` (TMPDIR as Python's
    /// `tempfile.gettempdir()` finds it, /tmp by default), which `multi-model-server --start` and
    /// `torchserve --start` write; workers are then only the descendants whose command line contains
    /// `model_service_worker.py` (unless --worker-match is given). A missing file is warned once and the frontend
    /// reported absent until it appears.
    #[arg(long, value_name = "FILE", group = "frontend")]
    frontend_pid_file: Option<PathBuf>,

    /// A regex matched against every process's full command line (arguments joined by spaces); the oldest match is
    /// the frontend. The agent and its ancestors never match.
    #[arg(long, value_name = "REGEX", group = "frontend", value_parser = parse_regex)]
    frontend_match: Option<Regex>,

    /// Count only descendants whose command line matches this regex as workers (default: all descendants, or
    /// `model_service_worker\.py` when the frontend is the default pid file).
    #[arg(long, value_name = "REGEX", value_parser = parse_regex)]
    worker_match: Option<Regex>,

    /// Also serve Prometheus text at http://ADDR/metrics.
    #[arg(long, value_name = "ADDR")]
    http: Option<String>,

    /// Most ServerAgent clients served at once (at least 1); extra connections get an error line and are closed.
    #[arg(long, value_name = "N", default_value_t = Limits::default().max_clients, value_parser = parse_max_clients)]
    max_clients: usize,

    /// Let pid 1 be the frontend (a model server running as a container's init). Refused by default: on a host
    /// every process descends from pid 1, so all of them would count as workers.
    #[arg(long)]
    allow_pid_1: bool,

    /// Let a client stop the agent with `shutdown` (refused by default).
    #[arg(long)]
    allow_shutdown: bool,

    /// Seconds between full scans of /proc for new worker processes (known processes are read at every poll).
    #[arg(long, value_name = "SECONDS", default_value_t = 5.0)]
    rescan: f64,

    /// Print every metric name with its unit, then exit.
    #[arg(long)]
    list_metrics: bool,
}

fn parse_regex(s: &str) -> Result<Regex, String> {
    Regex::new(s).map_err(|e| e.to_string())
}

fn parse_max_clients(s: &str) -> Result<usize, String> {
    match s.parse::<usize>() {
        Ok(0) => Err("must be at least 1 (0 would refuse every client)".to_string()),
        Ok(n) => Ok(n),
        Err(e) => Err(format!("{e}")),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if cli.list_metrics {
        return list_metrics();
    }
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

/// Prints the catalogue; a reader that goes away (`| head`) ends it quietly, as it does for `ls` or `grep`.
fn list_metrics() -> ExitCode {
    use std::io::Write as _;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let written = metric::catalogue().into_iter().try_for_each(|(name, unit)| writeln!(out, "{name:<32} {unit}"));
    match written.and_then(|()| out.flush()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: cannot print the metrics: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The agent has no authentication: say so when it is reachable from elsewhere.
fn warn_unless_loopback(addr: std::net::SocketAddr, what: &str) {
    if let Some(warning) = exposure_warning(addr, what) {
        eprintln!("monitoring-agent: {warning}");
    }
}

fn exposure_warning(addr: std::net::SocketAddr, what: &str) -> Option<String> {
    (!addr.ip().is_loopback()).then(|| {
        format!(
            "warning: {what} on {addr}, which is not a loopback address: anyone who can reach it can read this \
             host's process and system figures (there is no authentication)"
        )
    })
}

async fn run(cli: Cli) -> Result<(), String> {
    if cli.frontend_pid == Some(1) && !cli.allow_pid_1 {
        return Err("--frontend-pid 1 is init: every process on the host would count as a worker; pass \
                    --allow-pid-1 if the model server really is pid 1 (in a container)"
            .to_string());
    }
    if !(cli.rescan.is_finite() && cli.rescan > 0.0) {
        return Err(format!("--rescan must be a positive number of seconds, not {}", cli.rescan));
    }
    let frontend = match (cli.frontend_pid, cli.frontend_pid_file, cli.frontend_match) {
        (Some(pid), _, _) => Some(Frontend::Pid(pid)),
        (_, Some(path), _) => Some(Frontend::PidFile(path)),
        (_, _, Some(re)) => Some(Frontend::Match(re)),
        _ => None,
    };
    let selector = match frontend {
        Some(frontend) => Selector { frontend, worker_match: cli.worker_match, allow_pid_1: cli.allow_pid_1 },
        // As MMS's plugin: the launchers' pid file, workers running `model_service_worker.py`.
        None => Selector::mms_default(cli.worker_match, cli.allow_pid_1),
    };
    let collector =
        SharedCollector::new(Collector::new(selector).with_rescan_interval(Duration::from_secs_f64(cli.rescan)));

    let stop_signal = signal();
    let listener = TcpListener::bind(&cli.bind).await.map_err(|e| format!("cannot listen on `{}`: {e}", cli.bind))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let http = match &cli.http {
        Some(http) => Some(TcpListener::bind(http).await.map_err(|e| format!("cannot listen on `{http}`: {e}"))?),
        None => None,
    };
    // Tests and scripts read this line to learn the port (with `--bind 127.0.0.1:0`).
    println!("monitoring-agent listening on {addr}");
    warn_unless_loopback(addr, "listening");
    let (stop_tx, stop_rx) = watch::channel(false);
    let http_task = match http {
        Some(listener) => {
            let http_addr = listener.local_addr().map_err(|e| e.to_string())?;
            println!("monitoring-agent serving http://{http_addr}/metrics");
            warn_unless_loopback(http_addr, "serving /metrics");
            let mut stop = stop_rx.clone();
            let stopped = async move {
                let _ = stop.wait_for(|s| *s).await;
            };
            Some(tokio::spawn(prometheus::serve(listener, collector.clone(), stopped)))
        }
        None => None,
    };
    let options = Options {
        limits: Limits { max_clients: cli.max_clients, ..Limits::default() },
        allow_shutdown: cli.allow_shutdown,
        ..Options::default()
    };
    let served = server::serve(listener, collector, options, stop_signal).await;
    let _ = stop_tx.send(true);
    if let Some(task) = http_task {
        let _ = task.await;
    }
    eprintln!("monitoring-agent: stopped");
    served.map_err(|e| e.to_string())
}

/// Completes on SIGTERM or SIGINT (Ctrl-C). The handlers are installed by this call, not when the future is
/// first polled: a signal arriving right after the address line is printed must stop the agent gracefully, not
/// kill it.
fn signal() -> impl std::future::Future<Output = ()> {
    use tokio::signal::unix::{signal, SignalKind};
    let term = signal(SignalKind::terminate());
    let int = signal(SignalKind::interrupt());
    async move {
        match (term, int) {
            (Ok(mut term), Ok(mut int)) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = int.recv() => {}
                }
            }
            _ => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_address_but_loopback_is_warned_about() {
        for addr in ["0.0.0.0:9009", "[::]:9009", "192.0.2.1:9009"] {
            let warning = exposure_warning(addr.parse().unwrap(), "listening").unwrap_or_default();
            assert!(warning.contains("not a loopback address"), "{addr}: {warning}");
        }
        for addr in ["127.0.0.1:9009", "127.1.2.3:0", "[::1]:9009"] {
            assert_eq!(exposure_warning(addr.parse().unwrap(), "listening"), None, "{addr}");
        }
    }
}
