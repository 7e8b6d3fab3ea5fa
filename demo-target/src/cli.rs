//! Command-line flags (clap derive) and the help text, which also documents
//! the HTTP API.

use crate::pool::MAX_WORKERS;
use crate::wait::WaitOpts;
use crate::work;
use crate::worker::WorkerOpts;
use clap::builder::RangedU64ValueParser;
use clap::{Args, Parser, Subcommand};
use std::ffi::OsString;
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;

const ABOUT: &str = "\
demo-target: a small MMS/TorchServe-like model server for demos and tests.

A frontend process listens for HTTP requests and forwards inference requests
to N worker processes (its children) that burn real CPU per request. Workers
exit when the frontend exits, even if it is killed with SIGKILL.";

const API: &str = "\
Once listening (and all workers are ready) it prints exactly one line to stdout:
    demo-target listening on 127.0.0.1:PORT (frontend pid P, N workers)

INFERENCE API (--port):
    GET  /ping                       200 {\"status\": \"Healthy\"}
    OPTIONS /                        A short OpenAPI description, as MMS's
    GET|POST|PUT /predictions/{model}[/{version}]
                                     Forwarded to the least busy worker, which burns
                                     work-ms of CPU hashing the body (with --work-cv,
                                     a log-normal draw around work-ms) and answers
                                     {\"model\":..,\"worker_pid\":..,\"result\":[..],
                                     \"work_ms\":..}.
                                     Unknown model: 404 ModelNotFoundException.
                                     Dead worker: 503, and it is respawned.
    GET  /sleep/{ms}                 Waits ms, then 200 ok
    GET  /status/{code}              Answers with that status code
    ANY  /echo[/...]                 The request as JSON: method, path, query,
                                     headers (lower-cased), body
    GET  /redirect?to=PATH[&status=3xx][&set=COOKIE]...
                                     Redirects to PATH (302 by default)
    GET  /cookie?set=COOKIE[&set=...]
                                     200, with one Set-Cookie header per `set`
    POST /control?delay_ms=N&status=S&work_ms=W
                                     Changes settings for later /predictions requests:
                                     added delay, forced status (0 = normal), CPU work
                                     (W may be fractional, e.g. 2.35)
    GET  /control                    Current settings as JSON
    POST /control/reset              Restores the defaults
    GET  /stats                      {\"requests\": N, \"by_path\": {path: N}}, counting
                                     everything except /stats and /control
    GET  /grpc-log                   The gRPC calls received, oldest first: [{\"method\":..,
                                     \"metadata\":{..},\"request\":{..}}] (the last 10,000)

GRPC API (--grpc-port), plaintext HTTP/2, messages up to 64 MiB:
    inference.GRPCInferenceService   KServe v2 (proto/grpc_predict_v2.proto): ServerLive,
                                     ServerReady, ServerMetadata, ModelReady, ModelMetadata
                                     and ModelInfer, which runs on a worker like /predictions
                                     (/control applies: a forced 503 is UNAVAILABLE). Unknown
                                     model: NOT_FOUND.
    demo.v1.Stream/Generate          Server streaming (proto/demo_stream.proto): runs the
                                     prompt on a worker, then sends max_tokens tokens
                                     token_delay_ms apart.

MANAGEMENT API (--management-port), enough of MMS's for the MMS corpus plans:
    GET  /ping                       200 {\"status\": \"Healthy\"}
    OPTIONS (any path)               A short OpenAPI description
    POST /models?url=U[&model_name=N][&initial_workers=K][&synchronous=true]
                                     Registers N (default: the file stem of U,
                                     .../squeezenet_v1.1.mar -> squeezenet_v1.1);
                                     nothing is downloaded. Parameters may also come
                                     in a form body. 200 {\"status\":\"Model \\\"N\\\" registered\"},
                                     409 ConflictStatusException if N exists
    GET  /models[?limit=L&next_page_token=T]
                                     {\"models\":[{\"modelName\":..,\"modelUrl\":..}]}, and
                                     \"nextPageToken\" when more follow
    GET  /models/{name}              Description: minWorkers, maxWorkers, modelUrl,
                                     \"workers\":[{\"id\",\"pid\",\"status\"}]
    PUT  /models/{name}?min_worker=K[&max_worker=M][&synchronous=true]
                                     Scales the worker pool to K: 200 \"Workers scaled\"
                                     once they are up if synchronous, else 202
                                     \"Processing worker updates...\" at once
    DELETE /models/{name}            Unregisters: 200 {\"status\":\"Model \\\"N\\\" unregistered\"};
                                     its predictions then answer 404
    Unknown model: 404 ModelNotFoundException. All models share one worker pool:
    scaling (or registering with initial_workers) any model sizes the pool for all,
    and every description lists the same workers.";

#[derive(Debug, Parser)]
#[command(name = "demo-target", version, about = ABOUT, after_help = API)]
#[command(args_conflicts_with_subcommands = true, disable_help_subcommand = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    frontend: Config,
    /// Run as a worker process (the frontend starts its workers so).
    #[arg(long, hide = true)]
    worker: bool,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Poll URL until it answers 200 (exit 0), or fail after the timeout (exit 1)
    WaitReady(WaitOpts),
}

/// Frontend configuration.
#[derive(Debug, Clone, PartialEq, Args)]
pub struct Config {
    /// Address to listen on
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1", value_parser = parse_bind)]
    pub bind: IpAddr,
    /// Inference API port; 0 picks a free one
    #[arg(long, default_value_t = 8080)]
    pub port: u16,
    /// Also serve the management API on PORT (0 picks a free one; its address is printed on stderr)
    #[arg(long, value_name = "PORT")]
    pub management_port: Option<u16>,
    /// Also serve the KServe v2 gRPC API (and demo.v1.Stream) on PORT, plaintext HTTP/2
    /// (0 picks a free one; its address is printed on stderr)
    #[arg(long, value_name = "PORT")]
    pub grpc_port: Option<u16>,
    /// Worker processes to start, 0..=128
    #[arg(long, value_name = "N", default_value_t = 2,
          value_parser = RangedU64ValueParser::<usize>::new().range(..=MAX_WORKERS as u64))]
    pub workers: usize,
    /// CPU time each inference burns, in milliseconds, 0..=600000; fractions allowed (2.35).
    /// With --work-cv it is the mean of the per-request work
    #[arg(long, value_name = "MS", default_value_t = 5.0, value_parser = work::parse_ms)]
    pub work_ms: f64,
    /// Spread of the per-request work, 0..=3: above 0 each inference's work is drawn from a
    /// log-normal distribution with mean --work-ms and this coefficient of variation
    /// (stdev/mean), so latencies get a realistic tail whose quantiles scale with --work-ms
    #[arg(long, value_name = "CV", default_value_t = 0.0, value_parser = work::parse_cv)]
    pub work_cv: f64,
    /// How a worker spends an inference's time: `burn` uses the CPU; `wait` holds the model
    /// without it, as a model waiting on an accelerator does (throughput then depends on the
    /// workers, not on the host's free cores)
    #[arg(long, value_name = "KIND", default_value = "burn", value_parser = ["burn", "wait"])]
    pub work_kind: String,
    /// Comma-separated model names registered at startup; '' starts with none,
    /// as MMS does (register them with POST /models)
    #[arg(long, value_name = "LIST", value_delimiter = ',', default_value = "squeezenet,resnet-18",
          value_parser = parse_model)]
    pub models: Vec<String>,
    /// Write the frontend pid to FILE
    #[arg(long, value_name = "FILE")]
    pub pid_file: Option<PathBuf>,
    /// Write the inference port to FILE (atomically, via rename)
    #[arg(long, value_name = "FILE")]
    pub port_file: Option<PathBuf>,
    /// Start each worker as `demo-target --worker-script=NAME --worker ...`, so the second word
    /// of its command line names NAME the way MMS's `python .../model_service_worker.py` does:
    /// MMS-style monitoring (ServerLocalClient, monitoring-agent's default) counts as workers
    /// only processes running `model_service_worker.py`
    #[arg(long, value_name = "NAME", value_parser = parse_script)]
    pub worker_script: Option<String>,
}

/// `--worker-script`: one word, so it stays one argument of the command line.
fn parse_script(text: &str) -> Result<String, String> {
    if text.is_empty() || text.contains(char::is_whitespace) {
        return Err(format!("invalid worker script name {text:?}: one word expected"));
    }
    Ok(text.to_string())
}

fn parse_bind(text: &str) -> Result<IpAddr, String> {
    match text {
        "localhost" => Ok(IpAddr::V4(Ipv4Addr::LOCALHOST)),
        _ => text.parse().map_err(|_| format!("invalid IP address {text:?}")),
    }
}

/// One model name of `--models` (empty names are dropped later).
fn parse_model(text: &str) -> Result<String, String> {
    let name = text.trim();
    if name.contains(['/', '?', '#', '%', ' ']) {
        return Err(format!("invalid model name {name:?}"));
    }
    Ok(name.to_string())
}

/// What the command line asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum Mode {
    Frontend(Config),
    /// Hidden: the frontend starts its workers with `--worker`.
    Worker(WorkerOpts),
    /// `wait-ready URL`: wait for a server to answer.
    WaitReady(WaitOpts),
}

/// Parses arguments (without the program name). `--help` and `--version`
/// come back as errors of their own kinds, which print the text and exit 0.
pub fn parse<I: IntoIterator<Item = T>, T: Into<OsString>>(args: I) -> Result<Mode, clap::Error> {
    let args = std::iter::once(OsString::from("demo-target")).chain(args.into_iter().map(Into::into));
    let cli = Cli::try_parse_from(args)?;
    if let Some(Command::WaitReady(opts)) = cli.command {
        return Ok(Mode::WaitReady(opts));
    }
    let mut cfg = cli.frontend;
    let mut models: Vec<String> = Vec::new();
    for m in cfg.models.drain(..).filter(|m| !m.is_empty()) {
        if !models.contains(&m) {
            models.push(m);
        }
    }
    cfg.models = models;
    Ok(if cli.worker {
        Mode::Worker(WorkerOpts { work_ms: cfg.work_ms, models: cfg.models, wait: cfg.work_kind == "wait" })
    } else {
        Mode::Frontend(cfg)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::error::ErrorKind;
    use clap::CommandFactory;

    fn parse_str(s: &str) -> Result<Mode, clap::Error> {
        parse(s.split_whitespace())
    }

    #[test]
    fn help_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn defaults() {
        let Mode::Frontend(cfg) = parse_str("").unwrap() else { panic!() };
        assert_eq!(cfg.port, 8080);
        assert_eq!(cfg.workers, 2);
        assert_eq!((cfg.work_ms, cfg.work_cv), (5.0, 0.0));
        assert_eq!(cfg.models, ["squeezenet", "resnet-18"]);
        assert_eq!(cfg.bind.to_string(), "127.0.0.1");
    }

    #[test]
    fn all_flags() {
        let m = parse_str(
            "--bind=127.0.0.2 --port 0 --management-port 0 --grpc-port 0 --workers=3 --work-ms 7.25 \
             --work-cv 0.4 --models a,b,a --pid-file /tmp/p --port-file /tmp/q --worker-script model_service_worker.py",
        )
        .unwrap();
        let Mode::Frontend(cfg) = m else { panic!() };
        assert_eq!(cfg.bind.to_string(), "127.0.0.2");
        assert_eq!((cfg.port, cfg.management_port, cfg.grpc_port, cfg.workers), (0, Some(0), Some(0), 3));
        assert_eq!((cfg.work_ms, cfg.work_cv), (7.25, 0.4));
        assert_eq!(cfg.models, ["a", "b"]);
        assert_eq!(cfg.pid_file, Some(PathBuf::from("/tmp/p")));
        assert_eq!(cfg.port_file, Some(PathBuf::from("/tmp/q")));
        assert_eq!(cfg.worker_script.as_deref(), Some("model_service_worker.py"));
    }

    #[test]
    fn worker_mode_and_help() {
        assert_eq!(
            parse_str("--worker-script=model_service_worker.py --worker --work-ms 1.5 --models m").unwrap(),
            Mode::Worker(WorkerOpts { work_ms: 1.5, models: vec!["m".into()], wait: false })
        );
        assert_eq!(parse_str("--port 1 -h").unwrap_err().kind(), ErrorKind::DisplayHelp);
    }

    #[test]
    fn no_models() {
        let Mode::Frontend(cfg) = parse(["--models", ""]).unwrap() else { panic!() };
        assert!(cfg.models.is_empty());
        let Mode::Frontend(cfg) = parse_str("--models ,").unwrap() else { panic!() };
        assert!(cfg.models.is_empty());
    }

    #[test]
    fn wait_ready() {
        let Mode::WaitReady(opts) = parse_str("wait-ready http://h/ping --timeout 250ms").unwrap() else { panic!() };
        assert_eq!((opts.url.as_str(), opts.timeout), ("http://h/ping", std::time::Duration::from_millis(250)));
    }

    #[test]
    fn errors() {
        for bad in [
            "--port",
            "--port 70000",
            "--port x",
            "--workers 1000",
            "--work-ms -1",
            "--work-ms 600001",
            "--work-ms NaN",
            "--work-cv 3.5",
            "--work-cv -0.1",
            "--bind nowhere",
            "--models a/b",
            "--worker-script",
            "--frobnicate",
            "positional",
        ] {
            assert!(parse_str(bad).is_err(), "{bad}");
        }
    }
}
