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
mod completions;
mod control;
mod frontend;
mod grpc;
mod http;
mod pool;
mod record;
mod wait;
mod work;
mod worker;

use std::future::Future;
use std::process::ExitCode;
use tokio::runtime;

fn main() -> ExitCode {
    let mode = match cli::parse(std::env::args_os().skip(1)) {
        Ok(mode) => mode,
        Err(e) => e.exit(),
    };
    let result = match mode {
        cli::Mode::Frontend(cfg) => block_on(runtime::Builder::new_multi_thread(), frontend::run(cfg)),
        // A worker runs one inference at a time: one thread serves its connections.
        cli::Mode::Worker(opts) => block_on(runtime::Builder::new_current_thread(), async {
            worker::run(opts).await.map_err(|e| format!("worker: {e}"))
        }),
        cli::Mode::WaitReady(opts) => block_on(runtime::Builder::new_current_thread(), wait::run(&opts)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(msg) => {
            eprintln!("demo-target: {msg}");
            ExitCode::FAILURE
        }
    }
}

/// Runs `task` to completion on a runtime built by `builder`.
fn block_on(mut builder: runtime::Builder, task: impl Future<Output = Result<(), String>>) -> Result<(), String> {
    let rt = builder.enable_all().build().map_err(|e| format!("cannot start the runtime: {e}"))?;
    rt.block_on(task)
}
