//! `demo-target`: a small MMS/TorchServe-like model server used by suite's
//! example suites and integration tests. This file is the thin entry point:
//! parse the command line, then run either the frontend or (hidden
//! `--worker` mode) a worker process.

/// Like `eprintln!`, but never panics when stderr is gone (a parent that
/// stopped reading our pipe): diagnostics must not take the server down.
macro_rules! log {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

mod cli;
mod control;
mod frontend;
mod http;
mod json;
mod pool;
mod record;
mod server;
mod wait;
mod worker;

use std::process::ExitCode;

fn main() -> ExitCode {
    let mode = match cli::parse(std::env::args().skip(1)) {
        Ok(mode) => mode,
        Err(msg) => {
            eprintln!("demo-target: {msg}");
            return ExitCode::from(2);
        }
    };
    let result = match mode {
        cli::Mode::Help => {
            print!("{}", cli::HELP);
            Ok(())
        }
        cli::Mode::Version => {
            println!("demo-target {}", env!("CARGO_PKG_VERSION"));
            Ok(())
        }
        cli::Mode::Worker(opts) => worker::run(opts).map_err(|e| format!("worker: {e}")),
        cli::Mode::Frontend(cfg) => frontend::run(cfg),
        cli::Mode::WaitReady(opts) => wait::run(&opts),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(msg) => {
            eprintln!("demo-target: {msg}");
            ExitCode::FAILURE
        }
    }
}
