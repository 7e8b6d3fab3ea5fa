//! Command-line parsing (by hand, to stay dependency-free) and the help text.

use crate::control::MAX_MS;
use crate::frontend::Config;
use crate::pool::MAX_WORKERS;
use crate::worker::WorkerOpts;
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;

pub const HELP: &str = "\
demo-target: a small MMS/TorchServe-like model server for demos and tests.

A frontend process listens for HTTP requests and forwards inference requests
to N worker processes (its children) that burn real CPU per request. Workers
exit when the frontend exits, even if it is killed with SIGKILL.

USAGE:
    demo-target [OPTIONS]

OPTIONS:
    --bind ADDR              Address to listen on [default: 127.0.0.1]
    --port PORT              Inference API port; 0 picks a free one [default: 8080]
    --management-port PORT   Also serve the management API on PORT (0 picks a
                             free one; its address is printed on stderr)
    --workers N              Worker processes to start, 0..=128 [default: 2]
    --work-ms MS             CPU time each inference burns [default: 5]
    --models LIST            Comma-separated model names [default: squeezenet,resnet-18]
    --pid-file FILE          Write the frontend pid to FILE
    --port-file FILE         Write the inference port to FILE (atomically, via rename)
    -h, --help               Print this help

    demo-target wait-ready URL [--timeout 15s]
                             Poll URL until it answers 200 (exit 0), or fail
                             after the timeout (exit 1)
    -V, --version            Print the version

Once listening (and all workers are ready) it prints exactly one line to stdout:
    demo-target listening on 127.0.0.1:PORT (frontend pid P, N workers)

INFERENCE API (--port):
    GET  /ping                       200 {\"status\": \"Healthy\"}
    GET|POST|PUT /predictions/{model}[/{version}]
                                     Forwarded to the least busy worker, which burns
                                     work-ms of CPU hashing the body and answers
                                     {\"model\":..,\"worker_pid\":..,\"result\":[..]}.
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
    GET  /control                    Current settings as JSON
    POST /control/reset              Restores the defaults
    GET  /stats                      {\"requests\": N, \"by_path\": {path: N}}, counting
                                     everything except /stats and /control

MANAGEMENT API (--management-port):
    GET  /ping                       200 {\"status\": \"Healthy\"}
    GET  /models                     {\"models\":[{\"modelName\":..,\"modelUrl\":..}]}
    GET  /models/{name}              Description with \"workers\":[{\"id\",\"pid\",\"status\"}]
    PUT  /models/{name}?min_worker=K Scales the worker pool (shared by all models) to K
";

/// What the command line asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    Frontend(Config),
    /// Hidden: the frontend starts its workers with `--worker`.
    Worker(WorkerOpts),
    /// `wait-ready URL`: wait for a server to answer.
    WaitReady(crate::wait::WaitOpts),
    Help,
    Version,
}

fn number<T: std::str::FromStr>(flag: &str, value: &str) -> Result<T, String> {
    value.parse().map_err(|_| format!("{flag}: invalid number {value:?}"))
}

/// Parses arguments (without the program name). Accepts `--flag value` and
/// `--flag=value`.
pub fn parse<I: IntoIterator<Item = String>>(args: I) -> Result<Mode, String> {
    let mut cfg = Config {
        bind: IpAddr::V4(Ipv4Addr::LOCALHOST),
        port: 8080,
        management_port: None,
        workers: 2,
        work_ms: 5,
        models: vec!["squeezenet".into(), "resnet-18".into()],
        pid_file: None,
        port_file: None,
    };
    let mut worker = false;
    let mut args = args.into_iter().peekable();
    if args.peek().map(String::as_str) == Some("wait-ready") {
        args.next();
        let mut url = None;
        let mut timeout = std::time::Duration::from_secs(15);
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "--timeout" => {
                    let v = args.next().ok_or("--timeout needs a value")?;
                    timeout = crate::wait::parse_timeout(&v)?;
                }
                _ if url.is_none() && !arg.starts_with('-') => url = Some(arg),
                _ => return Err(format!("wait-ready: unexpected argument {arg:?}")),
            }
        }
        let url = url.ok_or("wait-ready needs a URL")?;
        return Ok(Mode::WaitReady(crate::wait::WaitOpts { url, timeout }));
    }
    while let Some(arg) = args.next() {
        let (flag, inline) = match arg.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
            _ => (arg.clone(), None),
        };
        match flag.as_str() {
            "-h" | "--help" => return Ok(Mode::Help),
            "-V" | "--version" => return Ok(Mode::Version),
            "--worker" => {
                worker = true;
                continue;
            }
            _ => {}
        }
        let mut value = || -> Result<String, String> {
            match &inline {
                Some(v) => Ok(v.clone()),
                None => args.next().ok_or_else(|| format!("{flag} needs a value")),
            }
        };
        match flag.as_str() {
            "--bind" => {
                let v = value()?;
                cfg.bind = if v == "localhost" {
                    IpAddr::V4(Ipv4Addr::LOCALHOST)
                } else {
                    v.parse().map_err(|_| format!("--bind: invalid IP address {v:?}"))?
                };
            }
            "--port" => cfg.port = number(&flag, &value()?)?,
            "--management-port" => cfg.management_port = Some(number(&flag, &value()?)?),
            "--workers" => {
                cfg.workers = number(&flag, &value()?)?;
                if cfg.workers > MAX_WORKERS {
                    return Err(format!("--workers: at most {MAX_WORKERS}"));
                }
            }
            "--work-ms" => {
                cfg.work_ms = number(&flag, &value()?)?;
                if cfg.work_ms > MAX_MS {
                    return Err(format!("--work-ms: at most {MAX_MS}"));
                }
            }
            "--models" => {
                let v = value()?;
                let mut models: Vec<String> = Vec::new();
                for m in v.split(',').map(str::trim).filter(|m| !m.is_empty()) {
                    if m.contains(['/', '?', '#', '%', ' ']) {
                        return Err(format!("--models: invalid model name {m:?}"));
                    }
                    if !models.iter().any(|x| x == m) {
                        models.push(m.to_string());
                    }
                }
                if models.is_empty() {
                    return Err("--models: give at least one model name".into());
                }
                cfg.models = models;
            }
            "--pid-file" => cfg.pid_file = Some(PathBuf::from(value()?)),
            "--port-file" => cfg.port_file = Some(PathBuf::from(value()?)),
            _ => return Err(format!("unknown argument {arg:?} (see --help)")),
        }
    }
    Ok(if worker { Mode::Worker(WorkerOpts { work_ms: cfg.work_ms, models: cfg.models }) } else { Mode::Frontend(cfg) })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(s: &str) -> Result<Mode, String> {
        parse(s.split_whitespace().map(String::from))
    }

    #[test]
    fn defaults() {
        let Mode::Frontend(cfg) = parse_str("").unwrap() else { panic!() };
        assert_eq!(cfg.port, 8080);
        assert_eq!(cfg.workers, 2);
        assert_eq!(cfg.work_ms, 5);
        assert_eq!(cfg.models, ["squeezenet", "resnet-18"]);
        assert_eq!(cfg.bind.to_string(), "127.0.0.1");
    }

    #[test]
    fn all_flags() {
        let m = parse_str(
            "--bind=127.0.0.2 --port 0 --management-port 0 --workers=3 --work-ms 7 \
             --models a,b,a --pid-file /tmp/p --port-file /tmp/q",
        )
        .unwrap();
        let Mode::Frontend(cfg) = m else { panic!() };
        assert_eq!(cfg.bind.to_string(), "127.0.0.2");
        assert_eq!((cfg.port, cfg.management_port, cfg.workers, cfg.work_ms), (0, Some(0), 3, 7));
        assert_eq!(cfg.models, ["a", "b"]);
        assert_eq!(cfg.pid_file, Some(PathBuf::from("/tmp/p")));
        assert_eq!(cfg.port_file, Some(PathBuf::from("/tmp/q")));
    }

    #[test]
    fn worker_mode_and_help() {
        assert_eq!(
            parse_str("--worker --work-ms 1 --models m").unwrap(),
            Mode::Worker(WorkerOpts { work_ms: 1, models: vec!["m".into()] })
        );
        assert_eq!(parse_str("--port 1 -h").unwrap(), Mode::Help);
    }

    #[test]
    fn errors() {
        for bad in [
            "--port",
            "--port 70000",
            "--port x",
            "--workers 1000",
            "--bind nowhere",
            "--models ,",
            "--models a/b",
            "--frobnicate",
            "positional",
        ] {
            assert!(parse_str(bad).is_err(), "{bad}");
        }
    }
}
