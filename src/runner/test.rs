//! One test file, start to end: its config loaded and planned, its services started, the load
//! phase, its services stopped, its criteria judged, and its files written.

use std::path::PathBuf;
use std::time::Instant;

use super::load;
use super::Interrupt;
use crate::compare::{diff_percent, Baseline};
use crate::config::mask::Secrets;
use crate::criteria::Criteria;
use crate::criteria::Kind;
use crate::discover::TestFile;
use crate::outcome::Outcome;
use crate::plan::{Plan, Stage};
use crate::report::live::Live;
use crate::report::{self, CriterionRow, CriterionStatus, TestArtifacts, TestReport};
use crate::services::Shell;

/// What a test's runs left: one report per repeat, and the monitoring criteria MMS compares
/// with the previous run (`diff_percent`).
pub(super) struct Ran {
    pub reports: Vec<TestReport>,
    pub diff_checks: Vec<diff_percent::Check>,
}

/// Runs one test file once per folder in `outs` (its repeats, back to back, inside one start and
/// stop of its services) and writes each run's files to its folder. `baseline` gives the values
/// of baseline-relative criteria; `live` gets each closed second. Returns one report per folder,
/// in order.
pub(super) async fn run(
    test: &TestFile,
    files: Vec<PathBuf>,
    overrides: &[String],
    outs: &[TestArtifacts],
    interrupt: &Interrupt,
    baseline: Option<&Baseline>,
    live: &Live,
) -> Ran {
    let of = outs.len() as u32;
    let mut diff_checks = Vec::new();
    let mut reports: Vec<TestReport> = Vec::with_capacity(outs.len());
    let mut shell: Option<Shell> = None;
    let mut stopped = false;
    let mut error: Option<String> = None;
    for (index, out) in outs.iter().enumerate() {
        let started = Instant::now();
        let mut report = TestReport::new(out.name(), &test.path, report::run_id::unix_now());
        report.repeat = (of > 1).then_some((index as u32 + 1, of));
        if error.is_some() || interrupt.count() > 0 {
            let why = if interrupt.count() > 0 {
                "not run: the run was interrupted"
            } else {
                "not run: an earlier repeat of this test could not run"
            };
            let mut skipped = TestReport::not_run(out.name(), &test.path, report::run_id::unix_now(), why);
            skipped.repeat = report.repeat;
            reports.push(skipped);
            continue;
        }
        if index == 0 {
            crate::outln!("\n-- {} ({})", test.name, test.path.display());
        } else {
            crate::outln!("\n-- {} (repeat {} of {of})", test.name, index + 1);
        }
        // Each repeat is planned again with its own folder, so paths under it are its own.
        let (plan, secrets) = match plan(&mut report, files.clone(), overrides, out, baseline) {
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
        if shell.is_none() {
            let mut started_shell = Shell::new(plan.shell.clone(), plan.env.clone(), out.dir());
            run_error = start_services(&mut started_shell, interrupt).await;
            shell = Some(started_shell);
        }
        let mut criteria = Criteria::new(plan.criteria.clone());
        if run_error.is_none() && interrupt.count() == 0 {
            run_error = load::run(&plan, &secrets, &mut criteria, out, interrupt, live, &mut report).await.err();
        }
        let last = index + 1 == outs.len() || run_error.is_some() || interrupt.count() > 0;
        if let (true, Some(sh)) = (last, shell.as_mut()) {
            stopped = true;
            if let Some(e) = stop_services(sh, interrupt).await {
                run_error.get_or_insert(e);
            }
        }
        if let Some(by) = &report.stopped_by {
            crate::outln!("stopped early by {by}");
        }
        error = run_error.clone();
        judge(&mut report, criteria, run_error, interrupt.count() > 0, &secrets);
        report.duration_secs = started.elapsed().as_secs_f64();
        out.write(&report, plan.final_stats_csv.as_deref(), &plan.junit);
        reports.push(report);
    }
    // A repeat that could not be planned left the services running.
    if let (false, Some(sh)) = (stopped, shell.as_mut()) {
        if let Some(e) = stop_services(sh, interrupt).await {
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
    out: &TestArtifacts,
    baseline: Option<&Baseline>,
) -> Result<(Plan, Secrets), String> {
    out.create().map_err(|e| format!("cannot create `{}`: {e}", out.dir().display()))?;
    out.running(report);
    let mut loaded = super::load(files, overrides, out.dir()).inspect_err(|text| crate::err!("{text}"))?;
    for warning in &loaded.warnings {
        crate::err!("{}", loaded.render(warning));
    }
    out.effective(&loaded.effective_yaml());
    let mut plan = super::build_plan(&mut loaded)?;
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

/// Judges the criteria on the whole test and sets the test's outcome.
fn judge(report: &mut TestReport, mut criteria: Criteria, error: Option<String>, interrupted: bool, secrets: &Secrets) {
    let verdicts = criteria.finish(&report.totals);
    report.criteria = verdicts.iter().map(CriterionRow::from_verdict).collect();
    mask_criteria(report, secrets);
    let error = error.map(|e| secrets.masked(&e));
    report.outcome = if interrupted {
        Outcome::Interrupted
    } else if error.is_some() || report.criteria.iter().any(|c| c.status == CriterionStatus::Error) {
        Outcome::Error
    } else if report.criteria.iter().any(|c| c.status == CriterionStatus::Failed) {
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
