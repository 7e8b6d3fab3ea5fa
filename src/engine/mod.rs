//! The load engine: virtual users walk their scenario and hand every finished request to the
//! aggregator as a [`Sample`](crate::sample::Sample). Executions run at the same time, as in Taurus; each runs the
//! closed model (a fixed number of users, `throughput` as a cap) or the open model
//! (`arrival-rate`: requests on a schedule, users added as needed, see [`pacing`]).

pub mod checks;
pub mod clock;
mod execution;
pub mod http;
pub mod pacing;
pub mod recorder;
pub mod stop;
mod think;
mod vu;

use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

pub use recorder::Recorder;
pub use stop::Stop;

use crate::plan::ExecutionPlan;

/// Shared state of one run of the engine.
#[derive(Clone)]
pub struct Context {
    /// Where samples go.
    pub samples: Arc<Recorder>,
    /// Stop requests (end of test, criterion, Ctrl-C).
    pub stop: Stop,
    /// Virtual users currently running, across executions.
    pub active: Arc<AtomicU64>,
    /// Requests sent; must equal samples recorded.
    pub sent: Arc<AtomicU64>,
    /// Monotonic start of the test.
    pub started: Instant,
    /// Wall-clock start of the test (for sample timestamps).
    pub started_wall: SystemTime,
}

impl Context {
    /// The context of a load that starts now: `started` was read just before.
    pub fn new(samples: Arc<Recorder>, started: Instant) -> Self {
        let (active, sent) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
        Context { samples, stop: Stop::new(), active, sent, started, started_wall: SystemTime::now() }
    }
}

/// Runs every execution to its end (or until stopped) and returns when all virtual users are done.
pub async fn run(executions: &[ExecutionPlan], ctx: Context) {
    let mut tasks = tokio::task::JoinSet::new();
    for (number, exec) in executions.iter().enumerate() {
        let shared = Arc::new(execution::Execution::new(exec, number));
        if exec.load.is_open() {
            tasks.spawn(pacing::arrivals(shared, ctx.clone()));
        } else {
            for index in 0..exec.load.concurrency {
                execution::spawn(&mut tasks, index, &shared, &ctx, None);
            }
        }
    }
    let all_done = async { while tasks.join_next().await.is_some() {} };
    tokio::pin!(all_done);
    let Some(end) = load_end(executions, ctx.started) else { return all_done.await };
    tokio::select! {
        _ = &mut all_done => return,
        _ = tokio::time::sleep_until(end.into()) => {}
    }
    // Time is up: users send nothing more, and a request still in flight (a server that never
    // finishes its body, with a long or no read timeout) gets the runner's stop grace period and
    // is then abandoned, as on Ctrl-C, rather than holding the test forever.
    ctx.stop.advance(stop::Phase::Stopping);
    all_done.await
}

/// When the last execution's time is up; None if any execution runs by iterations alone (it
/// ends when its users do).
fn load_end(executions: &[ExecutionPlan], started: Instant) -> Option<Instant> {
    executions
        .iter()
        .map(|e| (!e.load.duration().is_zero()).then(|| started + e.load.delay + e.load.duration()))
        .try_fold(started, |end, e| e.map(|e| end.max(e)))
}
