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
use crate::plan::{ExecutionPlan, Plan};
use crate::report::live::{Live, Sink};
use crate::report::{console, Streams, TestArtifacts, TestReport};
use crate::sample::{Labels, Sample};

/// How long requests in flight may finish after the load is told to stop.
const STOP_GRACE: Duration = Duration::from_secs(5);
/// How often buffered samples are folded into the aggregates (bounds their memory: at 100k
/// requests a second, 5,000 samples).
const DRAIN_EVERY: Duration = Duration::from_millis(50);
/// How often a progress line is printed when stdout is not a terminal (a terminal gets a live line).
const PROGRESS_EVERY: u64 = 5;

/// Where closed seconds and monitoring events go: the streams, the criteria, the progress line,
/// the live metrics.
struct Observer {
    streams: Streams,
    live: Sink,
    progress: console::Progress,
    name: String,
    total_secs: Option<u64>,
}

impl Observer {
    /// Streams a closed second and judges it; `cumulative` is what the criteria judge the second
    /// with (the test's figures so far, or a probe's). A criterion that asks to stop stops `ctx`.
    fn second(
        &mut self,
        second: &Second,
        cumulative: &LabelSets,
        test_cumulative: &LabelSets,
        criteria: &mut Criteria,
        ctx: &engine::Context,
    ) {
        let vus = second.users;
        self.streams.second(second, vus);
        self.live.second(second, test_cumulative);
        // A second is judged when it closes: window [ts, ts + 1) at ts + 1 s into the test.
        if let Some(stop) = criteria.observe(second.ts + 1, &second.current, cumulative) {
            ctx.stop.advance_because(Phase::Stopping, format!("criterion {}", stop.describe()));
        }
        let (name, total_secs) = (&self.name, self.total_secs);
        self.progress.second(second.ts + 1, || {
            let empty = Default::default();
            let cur = second.current.get(OVERALL).unwrap_or(&empty);
            let cum = test_cumulative.get(OVERALL).unwrap_or(&empty);
            console::progress(name, second.ts + 1, total_secs, vus, cur, cum)
        });
    }

    /// Streams a monitoring event and hands it to the criteria; returns why the test should stop,
    /// if it should.
    fn monitoring(&mut self, event: Event, elapsed_secs: f64, criteria: &mut Criteria) -> Option<String> {
        self.streams.monitoring(&event, elapsed_secs);
        match event {
            Event::Sample(sample) => {
                let stop = criteria.observe_monitoring(sample.ts, &sample.source, &sample.values);
                stop.map(|s| format!("criterion {}", s.describe()))
            }
            Event::Unavailable { source, reason } => {
                criteria.source_unavailable(&source, &reason);
                None
            }
        }
    }
}

/// Runs the engine while closing seconds, judging criteria and streaming `kpi.csv`, `seconds.jsonl`
/// and `monitoring.jsonl`; what it measured goes into `report`.
pub(super) async fn run(
    plan: &Plan,
    secrets: &Secrets,
    criteria: &mut Criteria,
    out: &TestArtifacts,
    interrupt: &Interrupt,
    live: &Live,
    report: &mut TestReport,
) -> Result<(), String> {
    let mut session = Session::start(plan, secrets, out, live, report, plan.planned_secs())?;
    let ctx = session.ctx.clone();
    session.phase(&plan.executions, &ctx, criteria, None, interrupt).await;
    session.finish(criteria, report).await
}

/// One test's load: the clock, the aggregates and the streams, through one phase (a test) or
/// several (a capacity search's probes), each with its own engine run.
pub(super) struct Session {
    /// The test's context; a phase may run on a copy with a stop of its own.
    pub ctx: engine::Context,
    pub started: Instant,
    recorder: Arc<engine::Recorder>,
    /// The samples of one drain (kept to reuse its memory).
    drained: Vec<Sample>,
    agg: Aggregator,
    observer: Observer,
    monitors: Option<Monitors>,
    monitor_rx: mpsc::UnboundedReceiver<Event>,
    /// The next second to close.
    next_close: u64,
    secrets: Secrets,
}

impl Session {
    /// Opens the test's streams and starts its monitoring: the test's clock starts now.
    pub fn start(
        plan: &Plan,
        secrets: &Secrets,
        out: &TestArtifacts,
        live: &Live,
        report: &TestReport,
        total_secs: Option<u64>,
    ) -> Result<Self, String> {
        let streams = out.streams(!plan.monitoring.is_empty())?;
        let recorder = Arc::new(engine::Recorder::new());
        let (monitor_tx, monitor_rx) = mpsc::unbounded_channel();
        let started = Instant::now();
        let monitors = Monitors::start(&plan.monitoring, started, out.dir(), monitor_tx);
        let labels = Arc::new(Labels::new(&plan.labels));
        let ctx = engine::Context::new(recorder.clone(), started, labels.clone(), out.dir().to_path_buf());
        let start_us = ctx.started_wall.duration_since(UNIX_EPOCH).map(|d| d.as_micros() as u64).unwrap_or(0);
        let progress = console::Progress::new(PROGRESS_EVERY, total_secs);
        let live = live.test(&plan.remote_write, report.test_name(), &report.cell);
        // A segment of a split run says which in its progress lines.
        let name = match plan.executions.iter().find_map(|e| e.load.segment.as_ref()) {
            Some(segment) => format!("{} [segment {segment}]", report.name),
            None => report.name.clone(),
        };
        let observer = Observer { streams, live, progress, name, total_secs };
        let agg = Aggregator::following(labels, start_us).masking(secrets);
        Ok(Session {
            ctx,
            started,
            recorder,
            drained: Vec::new(),
            agg,
            observer,
            monitors: Some(monitors),
            monitor_rx,
            next_close: 1,
            secrets: secrets.clone(),
        })
    }

    /// Runs `executions` on `ctx` until they end (or are stopped), closing seconds as they pass.
    /// `own`: the phase's own cumulative figures, which its criteria then judge (else the test's).
    pub async fn phase(
        &mut self,
        executions: &[ExecutionPlan],
        ctx: &engine::Context,
        criteria: &mut Criteria,
        mut own: Option<&mut LabelSets>,
        interrupt: &Interrupt,
    ) {
        let started = self.started;
        let engine = engine::run(executions, ctx.clone());
        tokio::pin!(engine);
        let mut stop_deadline: Option<Instant> = None;
        // Seconds close 100 ms after they end, so samples finishing at the edge are in.
        let tick_at = |k: u64| started + Duration::from_secs(k) + Duration::from_millis(100);
        let mut drain_timer = tokio::time::interval(DRAIN_EVERY);
        drain_timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                biased;
                _ = &mut engine => break,
                _ = drain_timer.tick() => self.drain(ctx),
                _ = tokio::time::sleep_until(tick_at(self.next_close).into()) => {
                    self.drain(ctx);
                    let until = self.next_close;
                    self.close(Some(until), ctx, criteria, own.as_deref_mut());
                    self.next_close += 1;
                    if stop_deadline.is_none() && ctx.stop.phase() != Phase::Running {
                        stop_deadline = Some(Instant::now() + STOP_GRACE);
                    }
                    if stop_deadline.is_some_and(|d| Instant::now() >= d) {
                        ctx.stop.advance(Phase::Aborting);
                    }
                }
                Some(event) = self.monitor_rx.recv() => {
                    let elapsed = started.elapsed().as_secs_f64();
                    if let Some(stop) = self.observer.monitoring(event, elapsed, criteria) {
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
        self.drain(ctx);
    }

    /// Closes seconds while nothing runs (a pause after a probe, which closes the probe's last
    /// second), until `until` has passed or Ctrl-C; `criteria` and `own` as in [`Session::phase`].
    pub async fn idle(
        &mut self,
        until: Instant,
        ctx: &engine::Context,
        criteria: &mut Criteria,
        mut own: Option<&mut LabelSets>,
        interrupt: &Interrupt,
    ) {
        loop {
            let next = self.started + Duration::from_secs(self.next_close) + Duration::from_millis(100);
            tokio::select! {
                _ = tokio::time::sleep_until(until.into()) => return,
                _ = interrupt.at_least(1) => return,
                _ = tokio::time::sleep_until(next.into()) => {
                    self.drain(ctx);
                    let close = self.next_close;
                    self.close(Some(close), ctx, criteria, own.as_deref_mut());
                    self.next_close += 1;
                }
            }
        }
    }

    /// Folds the buffered samples into the aggregates.
    fn drain(&mut self, ctx: &engine::Context) {
        // Users first: a second's concurrency is the most users seen in it, samples or not.
        self.agg.observe_users(self.started.elapsed(), ctx.active.load(Ordering::Relaxed));
        self.recorder.drain(&mut self.drained);
        for sample in self.drained.drain(..) {
            self.agg.add(&sample);
        }
    }

    /// Closes the seconds before `until` (every open second with `None`) and hands each to the
    /// observer; seconds also go into `own` when a phase keeps its own figures.
    fn close(
        &mut self,
        until: Option<u64>,
        ctx: &engine::Context,
        criteria: &mut Criteria,
        mut own: Option<&mut LabelSets>,
    ) {
        let seconds = match until {
            Some(k) => self.agg.close_before(k),
            None => self.agg.flush(),
        };
        for s in &seconds {
            if let Some(own) = own.as_deref_mut() {
                for (label, set) in &s.current {
                    own.entry(label.clone()).or_default().merge(set);
                }
            }
            let test = self.agg.cumulative();
            let cumulative = own.as_deref().unwrap_or(test);
            self.observer.second(s, cumulative, test, criteria, ctx);
        }
    }

    /// Seconds since the test started.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Stops monitoring, closes the last seconds and puts what was measured into `report`; an
    /// error when an external tool failed or a request was not recorded.
    pub async fn finish(mut self, criteria: &mut Criteria, report: &mut TestReport) -> Result<(), String> {
        let ctx = self.ctx.clone();
        self.drain(&ctx);
        report.load_secs = self.started.elapsed().as_secs_f64();
        if let Some(monitors) = self.monitors.take() {
            monitors.stop().await;
        }
        while let Ok(event) = self.monitor_rx.try_recv() {
            self.observer.monitoring(event, self.started.elapsed().as_secs_f64(), criteria);
        }
        self.close(None, &ctx, criteria, None);
        self.observer.progress.finish();
        // A receiver that was down or slow is one warning at the end, never a slower test.
        for warning in self.observer.live.finish().await {
            let warning = self.secrets.masked(&warning);
            crate::errln!("warning: {}: {warning}", report.name);
            report.notes.push(warning);
        }
        report.totals = self.agg.cumulative().clone();
        report.sent = ctx.sent.load(Ordering::Relaxed);
        // The first reason wins: a criterion (here) or a scenario's `action: stop` (engine).
        report.stopped_by = ctx.stop.reason().map(|r| self.secrets.masked(&r));
        report.notes.extend(std::mem::take(&mut *ctx.notes.lock().unwrap_or_else(|e| e.into_inner())));
        let tool_errors = std::mem::take(&mut *ctx.errors.lock().unwrap_or_else(|e| e.into_inner()));
        if !tool_errors.is_empty() {
            return Err(tool_errors.join("\n"));
        }
        match self.agg.recorded() {
            recorded if recorded == report.sent => Ok(()),
            recorded => Err(format!("{} requests were sent but {recorded} samples recorded", report.sent)),
        }
    }
}
