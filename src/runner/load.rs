//! The load phase of one test: the engine runs while buffered samples are folded into the
//! aggregates, seconds close and are streamed and judged, and monitoring events reach the criteria.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant, UNIX_EPOCH};

use tokio::sync::mpsc;

use super::Interrupt;
use crate::aggregate::{Aggregator, LabelSets, Second, OVERALL};
use crate::config::mask::Secrets;
use crate::criteria::Criteria;
use crate::engine::{self, stop::Phase};
use crate::monitoring::{Event, Monitors};
use crate::plan::Plan;
use crate::report::live::{Live, Sink};
use crate::report::{console, Streams, TestArtifacts, TestReport};
use crate::sample::Labels;

/// How long requests in flight may finish after the load is told to stop.
const STOP_GRACE: Duration = Duration::from_secs(5);
/// How often buffered samples are folded into the aggregates (bounds their memory: at 100k
/// requests a second, 5,000 samples).
const DRAIN_EVERY: Duration = Duration::from_millis(50);
/// How often a progress line is printed when stdout is not a terminal (a terminal gets a live line).
const PROGRESS_EVERY: u64 = 5;

/// Where closed seconds and monitoring events go: the streams, the criteria, the progress line,
/// the live metrics.
struct Observer<'a> {
    ctx: engine::Context,
    criteria: &'a mut Criteria,
    streams: Streams,
    live: Sink,
    progress: console::Progress,
    name: &'a str,
    total_secs: Option<u64>,
}

impl Observer<'_> {
    fn second(&mut self, second: &Second, cumulative: &LabelSets) {
        let vus = second.users;
        self.streams.second(second, vus);
        self.live.second(second, cumulative);
        // A second is judged when it closes: window [ts, ts + 1) at ts + 1 s into the test.
        if let Some(stop) = self.criteria.observe(second.ts + 1, &second.current, cumulative) {
            self.ctx.stop.advance_because(Phase::Stopping, format!("criterion {}", stop.describe()));
        }
        let (name, total_secs) = (self.name, self.total_secs);
        self.progress.second(second.ts + 1, || {
            let empty = Default::default();
            let cur = second.current.get(OVERALL).unwrap_or(&empty);
            let cum = cumulative.get(OVERALL).unwrap_or(&empty);
            console::progress(name, second.ts + 1, total_secs, vus, cur, cum)
        });
    }

    /// Streams a monitoring event and hands it to the criteria; returns why the test should stop,
    /// if it should.
    fn monitoring(&mut self, event: Event, elapsed_secs: f64) -> Option<String> {
        self.streams.monitoring(&event, elapsed_secs);
        match event {
            Event::Sample(sample) => {
                let stop = self.criteria.observe_monitoring(sample.ts, &sample.source, &sample.values);
                stop.map(|s| format!("criterion {}", s.describe()))
            }
            Event::Unavailable { source, reason } => {
                self.criteria.source_unavailable(&source, &reason);
                None
            }
        }
    }
}

/// Runs the engine while closing seconds, judging criteria and streaming `kpi.csv`, `seconds.jsonl`
/// and `monitoring.jsonl`, and handing each closed second to `live`; what it measured goes into
/// `report`.
pub(super) async fn run(
    plan: &Plan,
    secrets: &Secrets,
    criteria: &mut Criteria,
    out: &TestArtifacts,
    interrupt: &Interrupt,
    live: &Live,
    report: &mut TestReport,
) -> Result<(), String> {
    let streams = out.streams(!plan.monitoring.is_empty())?;
    let recorder = Arc::new(engine::Recorder::new());
    let (monitor_tx, mut monitor_rx) = mpsc::unbounded_channel();
    let started = Instant::now();
    let monitors = Monitors::start(&plan.monitoring, started, out.dir(), monitor_tx);
    let labels = Arc::new(Labels::new(&plan.labels));
    let ctx = engine::Context::new(recorder.clone(), started, labels.clone(), out.dir().to_path_buf());
    let start_us = ctx.started_wall.duration_since(UNIX_EPOCH).map(|d| d.as_micros() as u64).unwrap_or(0);
    let total_secs = plan.planned_secs();
    let progress = console::Progress::new(PROGRESS_EVERY, total_secs);
    let live = live.test(&plan.remote_write, report.test_name(), &report.cell);
    let mut observer = Observer { ctx: ctx.clone(), criteria, streams, live, progress, name: &report.name, total_secs };
    let mut agg = Aggregator::following(labels, start_us).masking(secrets);
    let engine = engine::run(&plan.executions, ctx.clone());
    tokio::pin!(engine);
    let mut next_close = 1u64;
    let mut stop_deadline: Option<Instant> = None;
    // Seconds close 100 ms after they end, so samples finishing at the edge are in.
    let tick_at = |k: u64| started + Duration::from_secs(k) + Duration::from_millis(100);
    let mut drained = Vec::new();
    let mut drain = |agg: &mut Aggregator| {
        // Users first: a second's concurrency is the most users seen in it, samples or not.
        agg.observe_users(started.elapsed(), ctx.active.load(Ordering::Relaxed));
        recorder.drain(&mut drained);
        drained.drain(..).for_each(|s| agg.add(&s));
    };
    let mut drain_timer = tokio::time::interval(DRAIN_EVERY);
    drain_timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            biased;
            _ = &mut engine => break,
            _ = drain_timer.tick() => drain(&mut agg),
            _ = tokio::time::sleep_until(tick_at(next_close).into()) => {
                drain(&mut agg);
                for s in &agg.close_before(next_close) {
                    observer.second(s, agg.cumulative());
                }
                next_close += 1;
                if stop_deadline.is_none() && ctx.stop.phase() != Phase::Running {
                    stop_deadline = Some(Instant::now() + STOP_GRACE);
                }
                if stop_deadline.is_some_and(|d| Instant::now() >= d) {
                    ctx.stop.advance(Phase::Aborting);
                }
            }
            Some(event) = monitor_rx.recv() => {
                if let Some(stop) = observer.monitoring(event, started.elapsed().as_secs_f64()) {
                    ctx.stop.advance_because(Phase::Stopping, stop);
                }
            }
            _ = interrupt.at_least(1), if ctx.stop.phase() == Phase::Running => {
                ctx.stop.advance(Phase::Stopping);
            }
            _ = interrupt.at_least(2), if ctx.stop.phase() < Phase::Aborting => {
                ctx.stop.advance(Phase::Aborting);
            }
        }
    }
    // Every user has finished: what they recorded is all in the buffers now.
    drain(&mut agg);
    report.load_secs = started.elapsed().as_secs_f64();
    monitors.stop().await;
    while let Ok(event) = monitor_rx.try_recv() {
        observer.monitoring(event, started.elapsed().as_secs_f64());
    }
    for s in agg.flush() {
        observer.second(&s, agg.cumulative());
    }
    observer.progress.finish();
    // A receiver that was down or slow is one warning at the end, never a slower test.
    for warning in observer.live.finish().await {
        let warning = secrets.masked(&warning);
        crate::errln!("warning: {}: {warning}", report.name);
        report.notes.push(warning);
    }
    report.totals = agg.cumulative().clone();
    report.sent = ctx.sent.load(Ordering::Relaxed);
    // The first reason wins: a criterion (here) or a scenario's `action: stop` (engine).
    report.stopped_by = ctx.stop.reason().map(|r| secrets.masked(&r));
    report.notes.extend(std::mem::take(&mut *ctx.notes.lock().unwrap_or_else(|e| e.into_inner())));
    let tool_errors = std::mem::take(&mut *ctx.errors.lock().unwrap_or_else(|e| e.into_inner()));
    if !tool_errors.is_empty() {
        return Err(tool_errors.join("\n"));
    }
    match agg.recorded() {
        recorded if recorded == report.sent => Ok(()),
        recorded => Err(format!("{} requests were sent but {recorded} samples recorded", report.sent)),
    }
}
