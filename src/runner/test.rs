//! One test file, start to end: its config loaded and planned, its services started, the load
//! phase, its services stopped, its criteria judged, and its files written.

use std::path::{Path, PathBuf};
use std::time::Instant;

use super::baseline::Found;
use super::cells::Expansion;
use super::load;
use super::search;
use super::split::Split;
use super::Interrupt;
use crate::compare::{diff_percent, Baseline};
use crate::config::mask::Secrets;
use crate::criteria::Kind;
use crate::criteria::{Criteria, Verdict};
use crate::discover::TestFile;
use crate::outcome::Outcome;
use crate::plan::{Plan, Stage};
use crate::report::live::Live;
use crate::report::{self, CriterionRow, CriterionStatus, RunArtifacts, TestArtifacts, TestReport};
use crate::services::Shell;

/// What a test's runs left: one report per repeat, and the monitoring criteria MMS compares
/// with the previous run (`diff_percent`).
pub(super) struct Ran {
    pub reports: Vec<TestReport>,
    pub diff_checks: Vec<diff_percent::Check>,
}

/// One run of a test: its folder, its matrix cell, which repeat it is, and the baseline its
/// relative criteria read.
pub(super) struct RunOf<'a> {
    pub out: TestArtifacts,
    pub cell: Vec<(String, String)>,
    pub repeat: Option<(u32, u32)>,
    pub baseline: Option<&'a Baseline>,
    /// The first run of a cell whose services differ from the previous cell's: they restart.
    pub fresh_services: bool,
}

impl RunOf<'_> {
    fn report(&self, file: &Path) -> TestReport {
        let mut report = TestReport::new(self.out.name(), file, report::run_id::unix_now());
        report.repeat = self.repeat;
        report.cell = self.cell.clone();
        report
    }

    /// The report of this run when it never started, and why.
    pub fn not_run(&self, file: &Path, why: &str) -> TestReport {
        let mut report = TestReport::not_run(self.out.name(), file, report::run_id::unix_now(), why);
        report.repeat = self.repeat;
        report.cell = self.cell.clone();
        report
    }
}

/// The runs of a test's units (the test, or each matrix cell), each unit's repeats in a row, with
/// the unit's baseline.
pub(super) fn runs_of<'a>(expansion: &Expansion, run: &RunArtifacts, baselines: &'a [Option<Found>]) -> Vec<RunOf<'a>> {
    let mut runs = Vec::new();
    for (u, (unit, found)) in expansion.units.iter().zip(baselines).enumerate() {
        let of = unit.runs.len() as u32;
        let baseline = match found {
            Some(Found::Baseline { baseline, .. }) => Some(baseline.as_ref()),
            _ => None,
        };
        for (k, name) in unit.runs.iter().enumerate() {
            let repeat = (of > 1).then_some((k as u32 + 1, of));
            let fresh_services = expansion.services_vary && u > 0 && k == 0;
            runs.push(RunOf { out: run.test(name), cell: unit.cell.clone(), repeat, baseline, fresh_services });
        }
    }
    runs
}

/// Every run of a test that cannot start (its matrix is wrong): each an error with `error`.
pub(super) fn broken(test: &TestFile, runs: &[RunOf], error: &str) -> Ran {
    crate::outln!("\n-- {} ({})", test.name, test.path.display());
    crate::err!("{error}");
    let reports = runs
        .iter()
        .map(|r| {
            let _ = r.out.create();
            let report = fail(r.report(&test.path), error.to_string(), Instant::now());
            r.out.write(&report, None, &[]);
            report
        })
        .collect();
    Ran { reports, diff_checks: Vec::new() }
}

/// Runs one test file once per run in `runs` (its matrix cells and repeats, back to back) and
/// writes each run's files to its folder. Its services start once before the first run and stop
/// after the last; when they use a parameter of the matrix, each cell starts its own. `live`
/// gets each closed second. Returns one report per run, in order.
pub(super) async fn run(
    test: &TestFile,
    files: Vec<PathBuf>,
    overrides: &[String],
    runs: &[RunOf<'_>],
    interrupt: &Interrupt,
    live: &Live,
    split: &Split,
) -> Ran {
    let mut diff_checks = Vec::new();
    let mut reports: Vec<TestReport> = Vec::with_capacity(runs.len());
    let mut shell: Option<Shell> = None;
    let mut error: Option<String> = None;
    for (index, this) in runs.iter().enumerate() {
        let out = &this.out;
        let started = Instant::now();
        let mut report = this.report(&test.path);
        if error.is_some() || interrupt.count() > 0 {
            let why = if interrupt.count() > 0 {
                "not run: the run was interrupted"
            } else {
                "not run: an earlier run of this test could not run"
            };
            reports.push(this.not_run(&test.path, why));
            continue;
        }
        match (index, this.repeat, this.cell.is_empty()) {
            (0, _, true) => crate::outln!("\n-- {} ({})", test.name, test.path.display()),
            (_, Some((k, of)), true) => crate::outln!("\n-- {} (repeat {k} of {of})", test.name),
            (_, repeat, false) => crate::outln!(
                "\n-- {} ({}{})",
                out.name(),
                test.path.display(),
                repeat.map(|(k, of)| format!(", repeat {k} of {of}")).unwrap_or_default()
            ),
            _ => {}
        }
        // Each run is planned again with its own folder and cell, so paths under it are its own.
        let (mut plan, secrets) = match plan(&mut report, files.clone(), overrides, this, split) {
            Ok(planned) => planned,
            Err(e) => {
                error = Some(e.clone());
                reports.push(fail(report, e, started));
                continue;
            }
        };
        if index == 0 {
            diff_checks = diff_percent_checks(&plan);
        }
        out.running(&report);
        let mut run_error = None;
        if let Some(mut old) = shell.take_if(|_| this.fresh_services) {
            run_error = stop_services(&mut old, interrupt).await;
        }
        if shell.is_none() && run_error.is_none() {
            let mut started_shell = Shell::new(plan.shell.clone(), plan.env.clone(), out.dir());
            run_error = start_services(&mut started_shell, interrupt).await;
            shell = Some(started_shell);
        }
        let mut criteria = Criteria::new(plan.criteria.clone());
        let mut searched = None;
        if run_error.is_none() && interrupt.count() == 0 {
            run_error = match plan.search.clone() {
                Some(s) => {
                    let (result, found) = search::run(&mut plan, &s, &secrets, out, interrupt, live, &mut report).await;
                    searched = Some(found);
                    result.err()
                }
                None => {
                    split.wait_for_start(interrupt.at_least(1)).await;
                    load::run(&plan, &secrets, &mut criteria, out, interrupt, live, &mut report).await.err()
                }
            };
        }
        let last = index + 1 == runs.len() || run_error.is_some() || interrupt.count() > 0;
        if let Some(mut sh) = shell.take_if(|_| last) {
            if let Some(e) = stop_services(&mut sh, interrupt).await {
                run_error.get_or_insert(e);
            }
        }
        if let Some(by) = &report.stopped_by {
            crate::outln!("stopped early by {by}");
        }
        error = run_error.clone();
        let verdicts = match searched {
            Some(found) => {
                crate::out!("{}", report::console::capacity(&found.capacity));
                report.capacity = Some(found.capacity);
                found.verdicts
            }
            None => criteria.finish(&report.totals),
        };
        judge(&mut report, &verdicts, run_error, interrupt.count() > 0, &secrets);
        report.duration_secs = started.elapsed().as_secs_f64();
        out.write(&report, plan.final_stats_csv.as_deref(), &plan.junit);
        reports.push(report);
    }
    // A run that could not be planned left the services running.
    if let Some(mut sh) = shell {
        if let Some(e) = stop_services(&mut sh, interrupt).await {
            crate::errln!("warning: {}: stopping its services: {e}", test.name);
        }
    }
    Ran { reports, diff_checks }
}

/// The monitoring criteria with MMS's `diff_percent` (dict form, a monitoring class).
fn diff_percent_checks(plan: &Plan) -> Vec<diff_percent::Check> {
    diff_percent::checks(plan.criteria.iter().filter_map(|s| match s.kind {
        Kind::Monitoring { .. } => {
            Some(("bzt.modules.monitoring.MonitoringCriteria", s.subject.as_str(), s.diff_percent))
        }
        Kind::Kpi(_) => None,
    }))
}

/// Creates the test's folder, loads and plans its config, and notes its criteria as not judged
/// yet; the plan and the config's secrets (masked in everything written), or on failure the
/// rendered errors (also printed).
fn plan(
    report: &mut TestReport,
    files: Vec<PathBuf>,
    overrides: &[String],
    this: &RunOf,
    split: &Split,
) -> Result<(Plan, Secrets), String> {
    let (out, baseline) = (&this.out, this.baseline);
    out.create().map_err(|e| format!("cannot create `{}`: {e}", out.dir().display()))?;
    out.running(report);
    let mut loaded = super::load(files, overrides, out.dir(), &this.cell).inspect_err(|text| crate::err!("{text}"))?;
    for warning in &loaded.warnings {
        crate::err!("{}", loaded.render(warning));
    }
    out.effective(&loaded.effective_yaml());
    let mut plan = super::build_plan(&mut loaded)?;
    if let Some(segment) = &split.segment {
        plan.split(segment).inspect_err(|e| crate::errln!("error: {e}"))?;
    }
    super::baseline::resolve_criteria(&mut plan.criteria, baseline, &mut report.notes);
    report::junit::note_reporters(report, &plan.junit);
    let secrets = Secrets::collect(&loaded.root);
    // Labels are masked where they are made (the aggregator): a criterion names them the same way.
    for spec in &mut plan.criteria {
        for text in [&mut spec.label, &mut spec.text] {
            *text = secrets.masked(text);
        }
        spec.message = spec.message.as_deref().map(|m| secrets.masked(m));
    }
    // Pending rows are built from the masked specs: nothing left to mask in them.
    report.criteria = plan.criteria.iter().map(CriterionRow::pending).collect();
    Ok((plan, secrets))
}

/// Runs `prepare` and `startup` until one fails or Ctrl-C (which ends the command running then);
/// the first error.
async fn start_services(shell: &mut Shell, interrupt: &Interrupt) -> Option<String> {
    for stage in [Stage::Prepare, Stage::Startup] {
        if interrupt.count() > 0 {
            break;
        }
        if let Err(e) = shell.run_stage(stage, interrupt.at_least(1)).await {
            return Some(e.to_string());
        }
    }
    None
}

/// Runs `shutdown`, stops the background commands and runs `post-process`; the first error. They
/// run after a first Ctrl-C too; a second one ends the command running.
async fn stop_services(shell: &mut Shell, interrupt: &Interrupt) -> Option<String> {
    let mut error = shell.run_stage(Stage::Shutdown, interrupt.at_least(2)).await.err().map(|e| e.to_string());
    shell.stop_background().await;
    if let Err(e) = shell.run_stage(Stage::PostProcess, interrupt.at_least(2)).await {
        error.get_or_insert(e.to_string());
    }
    error
}

/// Sets the test's verdicts and outcome (a capacity search below its requirement fails it).
pub(super) fn judge(
    report: &mut TestReport,
    verdicts: &[Verdict],
    error: Option<String>,
    interrupted: bool,
    secrets: &Secrets,
) {
    report.criteria = verdicts.iter().map(CriterionRow::from_verdict).collect();
    mask_criteria(report, secrets);
    let error = error.map(|e| secrets.masked(&e));
    report.outcome = if interrupted {
        Outcome::Interrupted
    } else if error.is_some() || report.criteria.iter().any(|c| c.status == CriterionStatus::Error) {
        Outcome::Error
    } else if report.criteria.iter().any(|c| c.status == CriterionStatus::Failed)
        || report.capacity.as_ref().is_some_and(|c| !c.met())
    {
        Outcome::CriteriaFailed
    } else {
        Outcome::Passed
    };
    report.error = error;
}

/// Criteria name labels, which may hold a secret substituted into a URL.
fn mask_criteria(report: &mut TestReport, secrets: &Secrets) {
    for row in &mut report.criteria {
        for text in [&mut row.name, &mut row.detail, &mut row.taurus_message] {
            *text = secrets.masked(text);
        }
    }
}

fn fail(mut report: TestReport, error: String, started: Instant) -> TestReport {
    report.outcome = Outcome::Error;
    report.error = Some(error);
    report.duration_secs = started.elapsed().as_secs_f64();
    report
}
