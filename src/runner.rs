//! The runner drives each test file through every stage: load and merge its config, plan it,
//! start its services, run the engine while aggregating samples and judging criteria every
//! second, stop everything, and write the reports. It is the only module that knows all stages.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context as _;
use tokio::sync::{mpsc, watch};

use crate::aggregate::{Aggregator, LabelSets, Second, OVERALL};
use crate::cli::{ReportArgs, RunArgs, ValidateArgs};
use crate::config::{self, LoadOptions, Loaded};
use crate::criteria::Criteria;
use crate::discover::{self, TestFile};
use crate::engine::{self, stop::Phase, Stop};
use crate::monitoring::{Event, Monitors};
use crate::outcome::Outcome;
use crate::plan::{self, Plan, Stage};
use crate::report::{self, console, CriterionRow, CriterionStatus, RunArtifacts, Streams, TestArtifacts, TestReport};
use crate::services::agent::{Agent, AgentSettings};
use crate::services::Shell;

/// How long requests in flight may finish after the load is told to stop.
const STOP_GRACE: Duration = Duration::from_secs(5);
/// How often buffered samples are folded into the aggregates (bounds their memory: at 100k
/// requests a second, 5,000 samples).
const DRAIN_EVERY: Duration = Duration::from_millis(50);
/// How often a progress line is printed when stdout is not a terminal (a terminal gets a live line).
const PROGRESS_EVERY: u64 = 5;

/// Watches for Ctrl-C and SIGTERM; the first asks for a graceful stop, the second aborts.
#[derive(Clone)]
struct Interrupt {
    rx: watch::Receiver<u32>,
}

impl Interrupt {
    fn install() -> Self {
        let (tx, rx) = watch::channel(0u32);
        tokio::spawn(async move {
            let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
            loop {
                let term_fut = async {
                    match term.as_mut() {
                        Some(t) => {
                            t.recv().await;
                        }
                        None => std::future::pending::<()>().await,
                    }
                };
                tokio::select! {
                    r = tokio::signal::ctrl_c() => if r.is_err() { std::future::pending::<()>().await },
                    _ = term_fut => {}
                }
                let n = *tx.borrow() + 1;
                eprintln!(
                    "\n{}",
                    if n == 1 {
                        "interrupted: stopping the load and writing reports (again to abort requests in flight)"
                    } else {
                        "interrupted again: aborting requests in flight"
                    }
                );
                let _ = tx.send(n);
            }
        });
        Interrupt { rx }
    }

    fn count(&self) -> u32 {
        *self.rx.borrow()
    }

    async fn at_least(&self, n: u32) {
        let mut rx = self.rx.clone();
        let _ = rx.wait_for(|c| *c >= n).await;
    }
}

/// `suite run`: every matching test file in turn, then the run's reports. Returns the run's outcome.
pub async fn run(args: RunArgs) -> anyhow::Result<Outcome> {
    let interrupt = Interrupt::install();
    let global = match &args.global_config {
        Some(path) => {
            anyhow::ensure!(path.is_file(), "global config `{}` does not exist", path.display());
            Some(path.clone())
        }
        None => [PathBuf::from("global_config.yaml"), args.test_dir.join("global_config.yaml")]
            .into_iter()
            .find(|p| p.is_file()),
    };
    let skip: Vec<PathBuf> = global.iter().cloned().collect();
    let tests = discover::find(&args.test_dir, &args.pattern, args.exclude_pattern.as_deref(), &skip)
        .with_context(|| format!("cannot look for tests in `{}`", args.test_dir.display()))?;
    if tests.is_empty() {
        anyhow::bail!(
            "no test files in `{}` match `{}`{} (patterns match file names like `x_criteria.yaml`, paths below the test dir, and MMS folder names)",
            args.test_dir.display(),
            args.pattern,
            args.exclude_pattern.as_ref().map(|x| format!(" without `{x}`")).unwrap_or_default()
        );
    }
    let mut run = RunArtifacts::create(&args.artifacts_dir, args.env_name.as_deref())
        .map_err(|e| anyhow::anyhow!("cannot create the run folder {e}"))?;
    let run_dir = run.dir().to_path_buf();
    println!("suite {}: {} test(s), artifacts in {}", env!("CARGO_PKG_VERSION"), tests.len(), run_dir.display());

    let settings = match agent_settings(&args, global.as_deref(), &run_dir) {
        Ok(settings) => settings,
        Err(rendered) => {
            eprint!("{rendered}");
            return Ok(Outcome::Error);
        }
    };
    let _agent = start_agent(&args, settings, &run_dir)?;
    run.begin(tests.iter().map(|t| (t.name.as_str(), t.path.as_path())));
    for test in &tests {
        if interrupt.count() > 0 {
            run.not_run(&test.name, &test.path, "not run: the run was interrupted");
            continue;
        }
        let mut files: Vec<PathBuf> = global.iter().cloned().collect();
        files.push(test.path.clone());
        if let Some(env) = &args.env_name {
            match discover::environment_file(&test.path, env) {
                Some(f) => files.push(f),
                None => {
                    eprintln!("note: {} has no `environments/{env}.yaml`; running it without one", test.path.display())
                }
            }
        }
        let result = run_test(test, files, &args.overrides, &run.test(&test.name), &interrupt).await;
        print!("{}", console::test_summary(run.finished(result)));
        run.write_reports().map_err(|e| anyhow::anyhow!("cannot write {e}"))?;
    }
    let outcome = run.report().outcome();
    run.end(outcome.code()).map_err(|e| anyhow::anyhow!("cannot write {e}"))?;
    print!("{}", console::run_summary(run.report()));
    println!("JUnit: {}", run_dir.join("junit.xml").display());
    println!("Report: {}", run_dir.join("report.html").display());
    Ok(outcome)
}

/// The settings of the run's monitoring agent (`--monit`), if one is wanted; on failure the
/// rendered config errors.
fn agent_settings(args: &RunArgs, global: Option<&Path>, run_dir: &Path) -> Result<Option<AgentSettings>, String> {
    match global {
        Some(g) if !args.no_monit => {
            let loaded = load(vec![g.to_path_buf()], &[], run_dir)?;
            AgentSettings::from_config(&loaded)
        }
        _ => Ok(None),
    }
}

/// Starts the run's monitoring agent, if one is configured; it stops when dropped.
fn start_agent(args: &RunArgs, settings: Option<AgentSettings>, run_dir: &Path) -> anyhow::Result<Option<Agent>> {
    match settings {
        Some(s) => {
            let agent = Agent::start(&s, &run_dir.join("monitoring-agent.log")).map_err(anyhow::Error::msg)?;
            println!("monitoring-agent listening on {} for this run", agent.address);
            Ok(Some(agent))
        }
        None if args.monit && !args.no_monit => anyhow::bail!(
            "--monit needs a `modules.monitoring-agent` section in the global config (address and how to find the frontend)"
        ),
        None => Ok(None),
    }
}

/// Loads the merged config of one test; on failure the rendered errors.
fn load(files: Vec<PathBuf>, overrides: &[String], dir: &Path) -> Result<Loaded, String> {
    let dir_text = dir.display().to_string();
    let opts = LoadOptions {
        files,
        overrides: overrides.to_vec(),
        env: vec![("TAURUS_ARTIFACTS_DIR".to_string(), dir_text.clone()), ("BASEDIR".to_string(), dir_text)],
    };
    config::load(&opts).map_err(|diags| config::render_all(&opts, &diags))
}

async fn run_test(
    test: &TestFile,
    files: Vec<PathBuf>,
    overrides: &[String],
    out: &TestArtifacts,
    interrupt: &Interrupt,
) -> TestReport {
    let started = Instant::now();
    let mut report = TestReport::new(&test.name, &test.path, report::run_id::unix_now());
    println!("\n-- {} ({})", test.name, test.path.display());
    if let Err(e) = out.create() {
        return fail(report, format!("cannot create `{}`: {e}", out.dir().display()), started);
    }
    out.running(&report);
    let loaded = match load(files, overrides, out.dir()) {
        Ok(l) => l,
        Err(text) => {
            eprint!("{text}");
            return fail(report, text, started);
        }
    };
    for warning in &loaded.warnings {
        eprint!("{}", loaded.render(warning));
    }
    out.effective(&loaded.effective_yaml());
    let plan = match plan::build(&loaded) {
        Ok(p) => p,
        Err(diags) => {
            eprint!("{}", diags.iter().map(|d| loaded.render(d)).collect::<String>());
            let errors: String = diags.iter().filter(|d| d.is_error()).map(|d| loaded.render(d)).collect();
            return fail(report, errors, started);
        }
    };
    for w in &plan.warnings {
        eprint!("{}", loaded.render(w));
    }
    report::junit::note_reporters(&mut report, &plan.junit);
    report.criteria = plan.criteria.iter().map(CriterionRow::pending).collect();
    out.running(&report);
    let mut shell = Shell::new(plan.shell.clone(), plan.env.clone(), out.dir());
    let mut error = None;
    for stage in [Stage::Prepare, Stage::Startup] {
        if error.is_some() || interrupt.count() > 0 {
            break;
        }
        tokio::select! {
            r = shell.run_stage(stage) => if let Err(e) = r { error = Some(e.to_string()) },
            _ = interrupt.at_least(1) => {}
        }
    }
    let mut criteria = Criteria::new(plan.criteria.clone());
    let mut stopped_by: Option<String> = None;
    if error.is_none() && interrupt.count() == 0 {
        match load_phase(&plan, &mut criteria, out, interrupt, &test.name).await {
            Ok(phase) => {
                report.totals = phase.totals;
                report.sent = phase.sent;
                report.load_secs = phase.load_secs;
                stopped_by = phase.stopped_by;
                if phase.sent != phase.recorded {
                    error = Some(format!("{} requests were sent but {} samples recorded", phase.sent, phase.recorded));
                }
            }
            Err(e) => error = Some(format!("{e:#}")),
        }
    }
    for stage in [Stage::Shutdown] {
        if let Err(e) = shell.run_stage(stage).await {
            error.get_or_insert(e.to_string());
        }
    }
    shell.stop_background().await;
    if let Err(e) = shell.run_stage(Stage::PostProcess).await {
        error.get_or_insert(e.to_string());
    }
    if let Some(by) = &stopped_by {
        println!("stopped early by {by}");
    }

    let verdicts = criteria.finish(&report.totals);
    report.criteria = verdicts.iter().map(CriterionRow::from_verdict).collect();
    report.stopped_by = stopped_by;
    report.outcome = if interrupt.count() > 0 {
        Outcome::Interrupted
    } else if error.is_some() || report.criteria.iter().any(|c| c.status == CriterionStatus::Error) {
        Outcome::Error
    } else if report.criteria.iter().any(|c| c.status == CriterionStatus::Failed) {
        Outcome::CriteriaFailed
    } else {
        Outcome::Passed
    };
    report.error = error;
    report.duration_secs = started.elapsed().as_secs_f64();
    out.write(&report, plan.final_stats_csv.as_deref(), &plan.junit);
    report
}

fn fail(mut report: TestReport, error: String, started: Instant) -> TestReport {
    report.outcome = Outcome::Error;
    report.error = Some(error);
    report.duration_secs = started.elapsed().as_secs_f64();
    report
}

/// What the load phase measured.
struct Measured {
    totals: crate::aggregate::LabelSets,
    sent: u64,
    recorded: u64,
    stopped_by: Option<String>,
    /// How long the load ran, seconds.
    load_secs: f64,
}

/// Runs the engine while closing seconds, judging criteria and streaming `kpi.csv`, `seconds.jsonl`
/// and `monitoring.jsonl`.
async fn load_phase(
    plan: &Plan,
    criteria: &mut Criteria,
    out: &TestArtifacts,
    interrupt: &Interrupt,
    name: &str,
) -> anyhow::Result<Measured> {
    let recorder = Arc::new(engine::Recorder::new());
    let mut drained = Vec::new();
    let (monitor_tx, mut monitor_rx) = mpsc::unbounded_channel();
    let started = Instant::now();
    let monitors = Monitors::start(&plan.monitoring, started, out.dir(), monitor_tx);
    let started_wall = SystemTime::now();
    let start_us = started_wall.duration_since(UNIX_EPOCH).map(|d| d.as_micros() as u64).unwrap_or(0);
    let ctx = engine::Context {
        samples: recorder.clone(),
        stop: Stop::new(),
        active: Arc::new(AtomicU64::new(0)),
        sent: Arc::new(AtomicU64::new(0)),
        started,
        started_wall,
    };
    let total_secs =
        plan.executions.iter().map(|e| (e.load.delay + e.load.duration()).as_secs()).max().filter(|s| *s > 0);
    let mut agg = Aggregator::new(plan.labels.clone(), start_us);
    let mut streams = out.streams(!plan.monitoring.is_empty()).map_err(anyhow::Error::msg)?;
    let mut progress = console::Progress::new(PROGRESS_EVERY, total_secs);
    let executions = &plan.executions;
    let engine_ctx = ctx.clone();
    let engine = engine::run(executions, engine_ctx);
    tokio::pin!(engine);
    let mut engine_done = false;
    let mut next_close = 1u64;
    let mut stop_deadline: Option<Instant> = None;
    // Seconds close 100 ms after they end, so samples finishing at the edge are in.
    let tick_at = |k: u64| started + Duration::from_secs(k) + Duration::from_millis(100);

    let mut on_second = |second: &Second, agg_cum: &LabelSets, criteria: &mut Criteria, streams: &mut Streams| {
        let vus = second.current.get(OVERALL).map_or_else(|| ctx.active.load(Ordering::Relaxed), |s| s.concurrency);
        streams.second(second, vus);
        // A second is judged when it closes: window [ts, ts + 1) at ts + 1 s into the test.
        if let Some(stop) = criteria.observe(second.ts + 1, &second.current, agg_cum) {
            ctx.stop.advance_because(Phase::Stopping, format!("criterion {}", stop.describe()));
        }
        progress.second(second.ts + 1, || {
            let empty = Default::default();
            let cur = second.current.get(OVERALL).unwrap_or(&empty);
            let cum = agg_cum.get(OVERALL).unwrap_or(&empty);
            console::progress(name, second.ts + 1, total_secs, ctx.active.load(Ordering::Relaxed), cur, cum)
        });
    };

    let mut drain = |agg: &mut Aggregator| {
        recorder.drain(&mut drained);
        drained.drain(..).for_each(|s| agg.add(&s));
    };
    let mut drain_timer = tokio::time::interval(DRAIN_EVERY);
    drain_timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            biased;
            _ = &mut engine, if !engine_done => {
                engine_done = true;
            }
            _ = drain_timer.tick() => drain(&mut agg),
            _ = tokio::time::sleep_until(tick_at(next_close).into()) => {
                drain(&mut agg);
                let seconds = agg.close_before(next_close, ctx.active.load(Ordering::Relaxed));
                for s in &seconds {
                    on_second(s, agg.cumulative(), criteria, &mut streams);
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
                streams.monitoring(&event, started.elapsed().as_secs_f64());
                if let Some(stop) = on_monitoring(event, criteria) {
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
        if engine_done {
            break;
        }
    }
    // Every user has finished: what they recorded is all in the buffers now.
    drain(&mut agg);
    let load_secs = started.elapsed().as_secs_f64();
    monitors.stop().await;
    while let Ok(event) = monitor_rx.try_recv() {
        streams.monitoring(&event, started.elapsed().as_secs_f64());
        on_monitoring(event, criteria);
    }
    for s in agg.flush(0) {
        on_second(&s, agg.cumulative(), criteria, &mut streams);
    }
    progress.finish();
    Ok(Measured {
        totals: agg.cumulative().clone(),
        sent: ctx.sent.load(Ordering::Relaxed),
        recorded: agg.recorded(),
        // The first reason wins: a criterion (here) or a scenario's `action: stop` (engine).
        stopped_by: ctx.stop.reason(),
        load_secs,
    })
}

/// Hands a monitoring event to the criteria; returns why the test should stop, if it should.
fn on_monitoring(event: Event, criteria: &mut Criteria) -> Option<String> {
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

/// `suite report`: renders the run folder's report.html and summary.json again from its files.
pub fn render_reports(args: ReportArgs) -> Outcome {
    match report::rebuild(&args.run_dir) {
        Ok(run) => {
            for test in &run.tests {
                println!("{}: {}", test.name, test.state());
                for note in &test.notes {
                    eprintln!("warning: {}: {note}", test.name);
                }
            }
            println!("run {}: {}", run.run_id, run.state());
            println!("Report: {}", args.run_dir.join("report.html").display());
            println!("Summary: {}", args.run_dir.join("summary.json").display());
            Outcome::Passed
        }
        Err(e) => {
            eprintln!("error: cannot render the report of `{}`: {e}", args.run_dir.display());
            Outcome::Error
        }
    }
}

/// `suite validate`: load, merge and plan the files without sending load.
pub fn validate(args: ValidateArgs) -> Outcome {
    let mut files: Vec<PathBuf> = args.global_config.iter().cloned().collect();
    files.extend(args.files.iter().cloned());
    let opts = LoadOptions { files, overrides: args.overrides.clone(), env: Vec::new() };
    let loaded = match config::load(&opts) {
        Ok(l) => l,
        Err(diags) => {
            eprint!("{}", config::render_all(&opts, &diags));
            return Outcome::Error;
        }
    };
    for w in &loaded.warnings {
        eprint!("{}", loaded.render(w));
    }
    // The merged config is printed even when planning fails: it shows what the checks saw.
    if !args.quiet {
        print!("{}", loaded.effective_yaml());
    }
    match plan::build(&loaded) {
        Ok(plan) => {
            for w in &plan.warnings {
                eprint!("{}", loaded.render(w));
            }
            eprintln!(
                "ok: {} execution(s), {} criteria, {} label(s)",
                plan.executions.len(),
                plan.criteria.len(),
                plan.labels.len()
            );
            Outcome::Passed
        }
        Err(diags) => {
            for d in &diags {
                eprint!("{}", loaded.render(d));
            }
            Outcome::Error
        }
    }
}
