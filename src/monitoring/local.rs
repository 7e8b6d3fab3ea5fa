//! Local monitoring: the agent's own collector run in-process, so a suite can watch a server on
//! the same host without an agent (Taurus's `local`, MMS's `ServerLocalClient`).

use monitoring_agent::collector::{Collector, Frontend, Selector};
use monitoring_agent::metric::Metric;

use super::Context;
use crate::plan::monitoring::{LocalFrontend, SourceKind};

/// Samples every interval until stopped.
pub async fn run(mut ctx: Context) {
    let SourceKind::Local { frontend, worker_match } = &ctx.source.kind else { return };
    let worker_match = match worker_match.as_deref().map(regex::Regex::new).transpose() {
        Ok(w) => w,
        Err(e) => return ctx.unavailable(format!("bad worker-match: {e}")),
    };
    let selector = match frontend {
        // As MMS's plugin: the pid in `$TMPDIR/.model_server.pid` that `multi-model-server --start` and
        // `torchserve --start` write, workers running `model_service_worker.py` (unless `worker-match` is given).
        LocalFrontend::None => Selector::mms_default(worker_match, false),
        LocalFrontend::PidFile(p) => {
            Selector { frontend: Frontend::PidFile(p.clone()), worker_match, allow_pid_1: false }
        }
        // The planner checked that the regexes compile.
        LocalFrontend::Match(re) => match regex::Regex::new(re) {
            Ok(re) => Selector { frontend: Frontend::Match(re), worker_match, allow_pid_1: false },
            Err(e) => return ctx.unavailable(format!("bad frontend-match: {e}")),
        },
    };
    let metrics: Result<Vec<Metric>, _> = ctx.source.metrics.iter().map(|m| Metric::parse(m)).collect();
    let metrics = match metrics {
        Ok(m) => m,
        Err(e) => return ctx.unavailable(format!("{e}")),
    };
    let mut collector = Some(Collector::new(selector));
    let mut tick = tokio::time::interval(ctx.source.interval.max(std::time::Duration::from_millis(100)));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = ctx.stopped() => return,
        }
        let Some(mut c) = collector.take() else { return };
        let wanted = metrics.clone();
        // Reading /proc blocks; keep it off the runtime's worker threads.
        match tokio::task::spawn_blocking(move || {
            let values = c.sample(&wanted);
            let warning = c.take_warning();
            (c, values, warning)
        })
        .await
        {
            Ok((c, values, warning)) => {
                if let Some(w) = warning {
                    crate::errln!("warning: monitoring source `{}`: {w}", ctx.source.label);
                }
                collector = Some(c);
                ctx.emit(values);
            }
            Err(e) => return ctx.unavailable(format!("local sampling failed: {e}")),
        }
    }
}
