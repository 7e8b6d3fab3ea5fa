//! The load engine: virtual users walk their scenario and hand every finished request to the
//! aggregator as a [`Sample`](crate::sample::Sample). Executions run at the same time, as in Taurus; each runs the
//! closed model (a fixed number of users, `throughput` as a cap) or the open model
//! (`arrival-rate`: requests on a schedule, users added as needed, see [`pacing`]).

pub mod checks;
pub mod clock;
mod execution;
pub mod grpc;
pub mod http;
pub mod pacing;
pub mod recorder;
mod rendezvous;
pub mod stop;
mod think;
mod vu;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

pub use recorder::Recorder;
pub use stop::Stop;

use crate::plan::{Driver, ExecutionPlan};
use crate::sample::Labels;

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
    /// The run's label names; external tools add the names they report.
    pub labels: Arc<Labels>,
    /// The test's artifacts folder, where external tools keep their own output.
    pub dir: PathBuf,
    /// What went wrong with an external tool (it crashed, could not start); the test is an error.
    pub errors: Arc<Mutex<Vec<String>>>,
    /// What an external tool wants said that is not an error (its own thresholds failed).
    pub notes: Arc<Mutex<Vec<String>>>,
}

impl Context {
    /// The context of a load that starts now (`started` was read just before), with the plan's
    /// `labels` and the test's artifacts folder `dir`.
    pub fn new(samples: Arc<Recorder>, started: Instant, labels: Arc<Labels>, dir: PathBuf) -> Self {
        let (active, sent) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
        Context {
            samples,
            stop: Stop::new(),
            active,
            sent,
            started,
            started_wall: SystemTime::now(),
            labels,
            dir,
            errors: Arc::default(),
            notes: Arc::default(),
        }
    }

    /// Notes what went wrong with an external tool.
    pub fn error(&self, message: String) {
        self.errors.lock().unwrap_or_else(|e| e.into_inner()).push(message);
    }

    /// Notes something an external tool said that the reports should show.
    pub fn note(&self, message: String) {
        self.notes.lock().unwrap_or_else(|e| e.into_inner()).push(message);
    }
}

/// Runs every execution to its end (or until stopped) and returns when all virtual users are done.
/// Tracks run at the same time; the stages of a track one after another, each starting when
/// every user of the one before has finished, with its `delay`, ramp-up and hold-for counted
/// from then (see [`ExecutionPlan::track`]); once the test is told to stop, no stage starts but
/// clean-up stages ([`ExecutionPlan::after_stop`]).
pub async fn run(executions: &[ExecutionPlan], ctx: Context) {
    // Track → stage → the numbered executions of that stage.
    type Stages<'e> = BTreeMap<u32, Vec<(usize, &'e ExecutionPlan)>>;
    let mut tracks: BTreeMap<u32, Stages> = BTreeMap::new();
    for (number, e) in executions.iter().enumerate() {
        tracks.entry(e.track).or_default().entry(e.stage).or_default().push((number, e));
    }
    if tracks.values().all(|stages| stages.len() <= 1) {
        // Everything at once: one group, whose time being up stops the load.
        return run_together(executions.iter().enumerate(), Duration::ZERO, true, &ctx).await;
    }
    // Only a lone track knows that its last stage ends the test.
    let alone = tracks.len() == 1;
    let runs = tracks.into_values().map(|stages| {
        let ctx = ctx.clone();
        async move {
            let count = stages.len();
            for (i, (_, group)) in stages.into_iter().enumerate() {
                let last = alone && i + 1 == count;
                if ctx.stop.phase() == stop::Phase::Running {
                    run_together(group.into_iter(), ctx.started.elapsed(), last, &ctx).await;
                } else if group.iter().all(|(_, e)| e.after_stop) {
                    // Clean-up after a stop (JMeter's tearDown on shutdown): on a stop switch of
                    // its own, so it can send; abandoned with the test (the runner's grace period
                    // after a stop, or a second Ctrl-C).
                    let cleanup = Context { stop: Stop::new(), ..ctx.clone() };
                    let run = run_together(group.into_iter(), ctx.started.elapsed(), last, &cleanup);
                    tokio::pin!(run);
                    tokio::select! {
                        _ = &mut run => {}
                        _ = ctx.stop.reached(stop::Phase::Aborting) => {
                            cleanup.stop.advance(stop::Phase::Aborting);
                            run.await;
                        }
                    }
                }
            }
        }
    });
    futures_util::future::join_all(runs).await;
}

/// Runs `executions` (numbered) at the same time, starting `offset` into the test. When they
/// are the `last` to run, their time being up stops the test's load; an earlier group of a
/// sequential test lets its requests in flight finish (within their read timeout) first.
async fn run_together<'a>(
    executions: impl Iterator<Item = (usize, &'a ExecutionPlan)>,
    offset: Duration,
    last: bool,
    ctx: &Context,
) {
    let mut tasks = tokio::task::JoinSet::new();
    // When the last execution's time is up; None if any runs by iterations alone (it ends when
    // its users do).
    let mut end = Some(ctx.started);
    let mut native = false;
    for (number, exec) in executions {
        let scenario = match &exec.driver {
            Driver::Scenario(scenario) => scenario,
            Driver::Tool(tool) => {
                // A tool ends by itself (its own duration or iterations); a stop reaches it too.
                let mut load = exec.load.clone();
                load.delay += offset;
                tasks.spawn(crate::executors::run(tool.clone(), load, number, ctx.clone()));
                continue;
            }
        };
        native = true;
        let mut shared = execution::Execution::new(&exec.load, scenario, number);
        shared.load.delay += offset;
        let duration = shared.load.duration();
        end = end.zip((!duration.is_zero()).then(|| ctx.started + shared.load.delay + duration)).map(|(a, b)| a.max(b));
        let shared = Arc::new(shared);
        if exec.load.is_open() {
            tasks.spawn(pacing::arrivals(shared, ctx.clone()));
        } else {
            for index in exec.load.users() {
                execution::spawn(&mut tasks, index, &shared, ctx, None);
            }
        }
    }
    let all_done = async { while tasks.join_next().await.is_some() {} };
    tokio::pin!(all_done);
    let Some(end) = end.filter(|_| last && native) else { return all_done.await };
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
