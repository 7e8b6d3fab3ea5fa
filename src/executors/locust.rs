//! Locust: `locust --headless` runs the user's locustfile (a file, or a folder of them) beside a
//! small hook module suite ships (`locust_hook.py`, written to `<test>/locust/suite_hook.py` at
//! start and loaded first: `-f suite_hook.py,<script>`). The hook listens to Locust's `request`
//! event and writes one tab-separated line per request to the stdout pipe suite reads, as it
//! fires; it first moves Locust's own stdout (its summary, the script's prints) to stderr, so
//! nothing else mixes in. It also writes the user count every second and one line per
//! exception a task raised.
//!
//! The load: `concurrency` → `-u` users, `ramp-up` → `-r` (users / ramp-up seconds; without a
//! ramp-up all users start at once), `ramp-up` + `hold-for` → `-t` (whole seconds, rounded up).
//! `iterations` is per user, as for suite's engine: Locust 2.x has no iteration limit of its own
//! (`-i` belongs to the locust-plugins package, and counts task runs of all users together), so
//! the hook counts each user's task runs and stops the user after N (`StopUser`); once every
//! user has stopped Locust quits. Without a duration and without `iterations`, each user runs
//! one task (Taurus's rule of one iteration; Taurus counts requests, and runs 10 s, its B15).
//! The scenario's `default-address` is `--host`. `settings.env` and suite's environment reach
//! the script, so `MODEL=…` picks a model as in a Wikimedia-style layout; Locust runs in the
//! script's folder. Its own CSV (`--csv`) and log (`--logfile`) are in `<test>/locust/`.
//!
//! Exit codes: `--exit-code-on-error 0`, so failed requests (which make Locust exit 1 by
//! default) are no error here: suite's criteria decide. Any other exit (1: the locustfile could
//! not be found or imported, 2: an exception in Locust's own greenlets) is a test error.

use nix::sys::signal::Signal;
use tokio::process::Command;

use super::{transport_kind, Tool};
use crate::engine::Context;
use crate::plan::tool::ToolPlan;
use crate::plan::Load;
use crate::sample::{ErrorKind, Sample};

/// The hook module, as Locust loads it.
const HOOK: &str = include_str!("locust_hook.py");
/// The folder of the test's artifacts Locust's own files go to.
const OWN_DIR: &str = "locust";

#[derive(Default)]
pub(super) struct Locust {
    users: Option<u64>,
    /// Exceptions the locustfile's tasks raised, and the first one's text.
    exceptions: u64,
    first_exception: Option<String>,
}

impl Tool for Locust {
    fn command(&self, plan: &ToolPlan, load: &Load, ctx: &Context) -> Result<Command, String> {
        let dir = std::path::absolute(ctx.dir.join(OWN_DIR)).unwrap_or_else(|_| ctx.dir.join(OWN_DIR));
        std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create `{}`: {e}", dir.display()))?;
        let hook = dir.join("suite_hook.py");
        std::fs::write(&hook, HOOK).map_err(|e| format!("cannot write `{}`: {e}", hook.display()))?;
        let mut cmd = Command::new(&plan.binary);
        let mut files = hook.into_os_string();
        files.push(",");
        files.push(&plan.script);
        cmd.arg("-f").arg(files).args(["--headless", "--only-summary", "--exit-code-on-error", "0"]);
        cmd.arg("--csv").arg(dir.join("locust")).arg("--logfile").arg(dir.join("locust.log"));
        if let Some(host) = &plan.host {
            cmd.arg("--host").arg(host);
        }
        let (args, iterations) = load_args(load);
        cmd.args(args);
        match iterations {
            Some(n) => cmd.env("SUITE_LOCUST_ITERATIONS", n.to_string()),
            None => cmd.env_remove("SUITE_LOCUST_ITERATIONS"),
        };
        let cwd = if plan.script.is_dir() { Some(plan.script.as_path()) } else { plan.script.parent() };
        if let Some(cwd) = cwd {
            cmd.current_dir(cwd);
        }
        Ok(cmd)
    }

    fn line(&mut self, line: &str, ctx: &Context, out: &mut Vec<Sample>) {
        let Some(rest) = line.strip_prefix("suite:") else { return };
        let mut fields = rest.splitn(8, '\t');
        match fields.next() {
            Some("R") => {
                let mut num = || fields.next().and_then(|f| f.parse::<u64>().ok());
                let (Some(start_us), Some(elapsed_us), Some(bytes), Some(status)) = (num(), num(), num(), num()) else {
                    return;
                };
                let _method = fields.next();
                let Some(name) = fields.next() else { return };
                let error = fields.next().unwrap_or_default();
                out.push(sample(ctx, name, start_us, elapsed_us, bytes, status, error));
            }
            Some("U") => self.users = fields.next().and_then(|f| f.parse().ok()).or(self.users),
            Some("X") => {
                self.exceptions += 1;
                if self.first_exception.is_none() {
                    self.first_exception = fields.next().map(|t| t.chars().take(300).collect());
                }
            }
            _ => {}
        }
    }

    fn finish(&mut self, _ctx: &Context, _out: &mut Vec<Sample>) {}

    fn exit(&self, code: Option<i32>, signalled: bool) -> Result<Option<String>, String> {
        let note = (self.exceptions > 0).then(|| {
            format!(
                "the locustfile's tasks raised {} exception(s), first: {} (see locust/locust_exceptions.csv)",
                self.exceptions,
                self.first_exception.as_deref().unwrap_or_default()
            )
        });
        match code {
            Some(0) => Ok(note),
            _ if signalled => Ok(note),
            Some(c) => Err(format!("locust exited with code {c}")),
            None => Err("locust was killed by a signal".into()),
        }
    }

    fn users(&self) -> Option<u64> {
        self.users
    }

    /// SIGTERM runs Locust's `shutdown()` in a greenlet of its own. SIGINT raises
    /// KeyboardInterrupt in whichever greenlet runs at that moment: when that is the CSV writer,
    /// it swallows it and stops, and Locust's `_stats.csv` misses the last requests.
    fn graceful_stop(&self) -> Signal {
        Signal::SIGTERM
    }
}

/// A sample from one request line.
fn sample(ctx: &Context, name: &str, start_us: u64, elapsed_us: u64, bytes: u64, status: u64, error: &str) -> Sample {
    let status = u16::try_from(status).unwrap_or(0);
    let error_kind = match (error.is_empty(), status) {
        (true, _) => None,
        (false, 0) => Some(transport_kind(error)),
        (false, s) if s >= 400 => Some(ErrorKind::Status),
        // A response the script marked failed (`catch_response`, `response.failure(…)`).
        (false, _) => Some(ErrorKind::Assertion),
    };
    Sample {
        label: ctx.labels.intern(name),
        start_us,
        elapsed_us,
        connect_us: 0,
        ttfb_us: 0,
        status,
        error_kind,
        error: error_kind.map(|_| error.into()),
        bytes,
        lag_us: 0,
        stream: None,
    }
}

/// Locust's arguments for the execution's load, and the iterations per user the hook enforces.
fn load_args(load: &Load) -> (Vec<String>, Option<u64>) {
    let users = load.concurrency.max(1);
    let ramp = load.ramp_up.as_secs_f64();
    let rate = if ramp > 0.0 { f64::from(users) / ramp } else { f64::from(users) };
    let mut args = vec!["-u".to_string(), users.to_string(), "-r".to_string(), format!("{rate}")];
    let duration = load.duration();
    if !duration.is_zero() {
        let secs = duration.as_millis().div_ceil(1000);
        args.push("-t".into());
        args.push(format!("{secs}s"));
    }
    let iterations = match load.iterations {
        Some(n) if n > 0 => Some(n),
        _ if duration.is_zero() => Some(1),
        _ => None,
    };
    (args, iterations)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    use super::*;
    use crate::engine::Recorder;
    use crate::sample::Labels;

    fn load(c: u32, ramp: u64, hold: u64, it: Option<u64>) -> Load {
        Load {
            concurrency: c,
            ramp_up: Duration::from_millis(ramp),
            hold_for: Duration::from_millis(hold),
            iterations: it,
            steps: 0,
            throughput: None,
            delay: Duration::ZERO,
            max_vus: None,
            segment: None,
        }
    }

    #[test]
    fn the_load_becomes_locust_arguments() {
        let args = |l| load_args(&l);
        assert_eq!(
            args(load(5, 0, 10_000, None)),
            (["-u", "5", "-r", "5", "-t", "10s"].map(String::from).to_vec(), None)
        );
        assert_eq!(args(load(4, 2000, 1500, None)).0, ["-u", "4", "-r", "2", "-t", "4s"]);
        assert_eq!(args(load(3, 0, 0, Some(4))), (["-u", "3", "-r", "3"].map(String::from).to_vec(), Some(4)));
        assert_eq!(args(load(0, 0, 0, None)).1, Some(1), "one iteration per user without a duration");
        assert_eq!(args(load(2, 0, 5000, Some(7))).1, Some(7));
    }

    #[test]
    fn one_sample_per_request_line() {
        let ctx =
            Context::new(Arc::new(Recorder::new()), Instant::now(), Arc::new(Labels::new(&[])), std::env::temp_dir());
        let mut locust = Locust::default();
        let mut out = Vec::new();
        locust.line("suite:R\t1796451686500000\t12500\t21\t200\tGET\tping\t", &ctx, &mut out);
        locust.line(
            "suite:R\t1796451686600000\t2000\t11\t404\tGET\tmissing\t404 Client Error: Not Found for url: missing",
            &ctx,
            &mut out,
        );
        locust.line(
            "suite:R\t1796451686700000\t1000\t0\t0\tGET\tdown\tConnectionRefusedError(111, 'refused')",
            &ctx,
            &mut out,
        );
        locust.line("suite:R\t1796451686800000\t1000\t5\t200\tPOST\tchecked\twrong body", &ctx, &mut out);
        locust.line("Type     Name   # reqs", &ctx, &mut out);
        locust.line("suite:R\tbroken", &ctx, &mut out);
        assert_eq!(out.len(), 4);
        let s = &out[0];
        assert_eq!(
            (s.start_us, s.elapsed_us, s.bytes, s.status, s.error_kind),
            (1_796_451_686_500_000, 12_500, 21, 200, None)
        );
        assert_eq!(ctx.labels.names_from(0)[s.label as usize].as_ref(), "ping");
        assert_eq!(out[1].error_kind, Some(ErrorKind::Status));
        assert_eq!(out[1].error.as_deref(), Some("404 Client Error: Not Found for url: missing"));
        assert_eq!(out[2].error_kind, Some(ErrorKind::ConnectRefused));
        assert_eq!(out[3].error_kind, Some(ErrorKind::Assertion));
        locust.line("suite:U\t7", &ctx, &mut out);
        assert_eq!(locust.users(), Some(7));
        assert_eq!(locust.exit(Some(0), false), Ok(None));
        locust.line("suite:X\tValueError: boom", &ctx, &mut out);
        assert!(locust.exit(Some(0), false).unwrap().unwrap().contains("1 exception(s), first: ValueError: boom"));
        assert_eq!(locust.exit(Some(1), false), Err("locust exited with code 1".into()));
    }
}
