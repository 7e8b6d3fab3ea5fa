//! Reports: one view model ([`TestReport`], [`RunReport`]) that every writer reads, and one file
//! per output format: JUnit XML, CSV, Locust's CSV, console, the HTML report and `summary.json`.
//!
//! Data flows one way: while a test runs, the runner streams its raw figures into the test's
//! folder ([`store`]); when it ends, the test is read back from that folder and every run-level
//! view is rendered from what was read. `suite report RUN_DIR` does the same reading, so a report
//! rebuilt later, even after the runner was killed, is the report the run would have written.

mod artifacts;
pub mod capacity;
pub mod console;
pub mod csv;
pub mod html;
pub mod json;
pub mod junit;
pub mod live;
pub mod locust;
pub mod markdown;
pub mod matrix;
pub mod mms_compare;
pub mod run_id;
pub mod store;
pub mod timeline;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::aggregate::{KpiSet, LabelSets, OVERALL};
use crate::compare::diff_percent::{DiffResult, DiffRow};
use crate::compare::TestComparison;
use crate::criteria::{self, Status, Unit, Verdict};
use crate::outcome::Outcome;

pub use artifacts::{repeat_names, RunArtifacts, Streams, TestArtifacts};
pub use run_id::utc_text;
pub use timeline::{Monitoring, Timeline};

/// Why a report could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be read or written.
    #[error("`{path}`: {cause}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What went wrong (named in the message, so not a `source` a chain would repeat).
        cause: std::io::Error,
    },
    /// A JSON file could not be read.
    #[error("`{path}`: {cause}")]
    Json {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        cause: serde_json::Error,
    },
    /// Nothing in the folder looks like a run.
    #[error("`{0}` is not a run folder: it has no `run.json` and no test folders with results")]
    NotARun(PathBuf),
    /// A histogram could not be encoded or decoded.
    #[error("histogram: {0}")]
    Histogram(String),
    /// The HTML template failed (a bug: templates are built in).
    #[error("HTML template: {0:#}")]
    Template(#[from] minijinja::Error),
    /// JSON could not be produced (a bug).
    #[error("JSON: {0}")]
    Serialize(#[from] serde_json::Error),
}

impl Error {
    pub(crate) fn io(path: &Path, source: std::io::Error) -> Self {
        Error::Io { path: path.to_path_buf(), cause: source }
    }
}

/// The verdict of one criterion, as reports show it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CriterionRow {
    /// The criterion as the user wrote it.
    pub name: String,
    /// Its verdict.
    pub status: CriterionStatus,
    /// One line: observed value, threshold, when it triggered.
    pub detail: String,
    /// Taurus's own message for it (`Failed: avg-rt>150ms for 10 sec`).
    pub taurus_message: String,
    /// The compared value (at the trigger when triggered), in [`CriterionRow::unit`].
    #[serde(default)]
    pub observed: Option<f64>,
    /// Threshold, in [`CriterionRow::unit`].
    #[serde(default)]
    pub threshold: f64,
    /// Unit of `observed` and `threshold`: `s`, `%`, `count`, `bytes` or `raw`.
    #[serde(default)]
    pub unit: String,
    /// When it triggered, seconds since the load started.
    #[serde(default)]
    pub triggered_at: Option<f64>,
    /// The comparison (`>`, `<=`, ...).
    #[serde(default)]
    pub condition: String,
    /// The subject as written (`avg-rt`, `p95`, `demo/cpu`).
    #[serde(default)]
    pub subject: String,
    /// The sample label it reads (`""` for the overall figures or a monitoring criterion).
    #[serde(default)]
    pub label: String,
    /// `for`, `within`, `over`, or `""` when judged once on the whole test.
    #[serde(default)]
    pub logic: String,
    /// Timeframe, seconds (0 when judged once on the whole test).
    #[serde(default)]
    pub timeframe_secs: f64,
    /// Whether triggering stops the test.
    #[serde(default)]
    pub stop: bool,
    /// Whether triggering fails the run.
    #[serde(default)]
    pub fail: bool,
    /// Whether this criterion stopped the test.
    #[serde(default)]
    pub stopped_test: bool,
}

impl CriterionRow {
    /// The row of a final verdict.
    pub fn from_verdict(v: &Verdict) -> Self {
        let spec = &v.spec;
        CriterionRow {
            name: v.name.clone(),
            status: match &v.status {
                Status::Passed => CriterionStatus::Passed,
                Status::Failed => CriterionStatus::Failed,
                Status::Notice => CriterionStatus::Notice,
                Status::Error(_) => CriterionStatus::Error,
            },
            detail: v.describe(),
            taurus_message: v.message.clone(),
            observed: v.observed.filter(|o| o.is_finite()),
            threshold: v.threshold,
            unit: unit_name(v.unit).to_string(),
            triggered_at: v.triggered_at,
            label: match &spec.kind {
                criteria::Kind::Kpi(_) => spec.label.clone(),
                criteria::Kind::Monitoring { .. } => String::new(),
            },
            stop: v.stop,
            fail: v.fail,
            stopped_test: v.stopped_test,
            ..CriterionRow::pending(spec)
        }
    }

    /// A criterion of a test that never reached its end: configured, never judged.
    pub fn pending(spec: &criteria::Spec) -> Self {
        CriterionRow {
            name: spec.text.clone(),
            status: CriterionStatus::Pending,
            detail: "not judged: the test did not reach its end".into(),
            taurus_message: String::new(),
            observed: None,
            threshold: spec.threshold,
            unit: unit_name(spec.unit()).to_string(),
            triggered_at: None,
            condition: spec.condition.to_string(),
            subject: spec.subject.clone(),
            label: spec.label.clone(),
            logic: if spec.is_cumulative() { String::new() } else { spec.logic.to_string() },
            timeframe_secs: spec.timeframe_secs.max(0.0),
            stop: spec.stop,
            fail: spec.fail,
            stopped_test: false,
        }
    }

    /// The observed value as text in its unit (`1.2 ms`), or `-`.
    pub fn observed_text(&self) -> String {
        self.observed.map(|v| criteria::format_value(v, unit_from_name(&self.unit))).unwrap_or_else(|| "-".into())
    }

    /// The threshold as text in its unit, with the comparison (`> 150 ms`).
    pub fn threshold_text(&self) -> String {
        format!("{} {}", self.condition, criteria::format_value(self.threshold, unit_from_name(&self.unit)))
            .trim()
            .to_string()
    }
}

/// Units as `test.json` spells them; anything else reads as `raw`.
const UNIT_NAMES: [(Unit, &str); 5] =
    [(Unit::Seconds, "s"), (Unit::Percent, "%"), (Unit::Count, "count"), (Unit::Bytes, "bytes"), (Unit::Raw, "raw")];

fn unit_name(unit: Unit) -> &'static str {
    UNIT_NAMES.iter().find(|(u, _)| *u == unit).map_or("raw", |(_, name)| name)
}

fn unit_from_name(name: &str) -> Unit {
    UNIT_NAMES.iter().find(|(_, n)| *n == name).map_or(Unit::Raw, |(u, _)| *u)
}

/// Verdict of one criterion.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CriterionStatus {
    /// Never triggered.
    Passed,
    /// Triggered and configured to fail the test.
    Failed,
    /// Triggered, but configured as non-failing.
    Notice,
    /// Could not be judged (no data for its label, source unavailable).
    Error,
    /// Not judged because the test never reached its end (the runner was killed).
    Pending,
}

impl CriterionStatus {
    /// Word used in reports.
    pub fn word(self) -> &'static str {
        match self {
            CriterionStatus::Passed => "passed",
            CriterionStatus::Failed => "failed",
            CriterionStatus::Notice => "notice",
            CriterionStatus::Error => "error",
            CriterionStatus::Pending => "not judged",
        }
    }
}

/// How far a test got.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Completion {
    /// It ran to its end (or stopped on a criterion, an error or Ctrl-C) and was judged.
    #[default]
    Finished,
    /// Its results are partial: the runner stopped (was killed) while it ran, so it has no verdicts.
    Incomplete,
    /// It never started.
    NotRun,
}

/// Everything reports need about one test file.
#[derive(Debug)]
pub struct TestReport {
    /// Test name (file stem).
    pub name: String,
    /// The test file.
    pub file: PathBuf,
    /// How it ended.
    pub outcome: Outcome,
    /// Why it could not run or broke, if it did.
    pub error: Option<String>,
    /// Unix time the test started, seconds.
    pub started_unix: u64,
    /// Wall time it took, seconds.
    pub duration_secs: f64,
    /// Criteria verdicts, in configured order.
    pub criteria: Vec<CriterionRow>,
    /// Cumulative KPIs per label (`""` = overall).
    pub totals: LabelSets,
    /// Requests sent.
    pub sent: u64,
    /// How far it got.
    pub completion: Completion,
    /// The criterion that stopped the test early, with what it saw.
    pub stopped_by: Option<String>,
    /// How long the load ran, seconds (for a test that did not finish, the seconds recorded);
    /// rates are per this time.
    pub load_secs: f64,
    /// Load figures over time, for charts.
    pub timeline: Timeline,
    /// Monitoring series.
    pub monitoring: Monitoring,
    /// Problems met while reading the test's files back (shown in the reports).
    pub notes: Vec<String>,
    /// Whether a `junit-xml` reporter asked for the `sample-labels` view.
    pub sample_labels: bool,
    /// Which run of the test this is and of how many (`--repeat`), when it ran more than once.
    pub repeat: Option<(u32, u32)>,
    /// The matrix cell this run is (`matrix:` parameter names and values, in the matrix's
    /// order); empty for a test without a matrix.
    pub cell: Vec<(String, String)>,
    /// What a capacity search found (`search:`), when the test ran one.
    pub capacity: Option<capacity::Capacity>,
}

impl TestReport {
    /// A test that has not produced anything yet.
    pub fn new(name: &str, file: &Path, started_unix: u64) -> Self {
        TestReport {
            name: name.to_string(),
            file: file.to_path_buf(),
            outcome: Outcome::Passed,
            error: None,
            started_unix,
            duration_secs: 0.0,
            criteria: Vec::new(),
            totals: LabelSets::new(),
            sent: 0,
            completion: Completion::Finished,
            stopped_by: None,
            load_secs: 0.0,
            timeline: Timeline::default(),
            monitoring: Monitoring::default(),
            notes: Vec::new(),
            sample_labels: false,
            repeat: None,
            cell: Vec::new(),
            capacity: None,
        }
    }

    /// The test's name without the repeat (`api` for `api@2`): what baselines and comparisons
    /// are keyed by.
    pub fn base_name(&self) -> &str {
        match self.repeat {
            Some((k, _)) => self.name.strip_suffix(&format!("@{k}")).unwrap_or(&self.name),
            None => &self.name,
        }
    }

    /// The test file's name, without the matrix cell and the repeat (`api` for `api[vus=8]@2`).
    pub fn test_name(&self) -> &str {
        let base = self.base_name();
        match self.cell.is_empty() {
            true => base,
            false => base.split_once('[').map_or(base, |(test, _)| test),
        }
    }

    /// A test that never started, and why.
    pub fn not_run(name: &str, file: &Path, started_unix: u64, why: &str) -> Self {
        let mut test = TestReport::new(name, file, started_unix);
        test.completion = Completion::NotRun;
        test.outcome = Outcome::Interrupted;
        test.error = Some(why.to_string());
        test
    }

    /// The word for how it ended: the outcome, or `incomplete` / `not run`.
    pub fn state(&self) -> &'static str {
        match self.completion {
            Completion::Finished => self.outcome.word(),
            Completion::Incomplete => "incomplete",
            Completion::NotRun => "not run",
        }
    }

    /// Requests per second over the recorded load (0 without load).
    pub fn rate(&self, set: &KpiSet) -> f64 {
        if self.load_secs > 0.0 {
            set.hits as f64 / self.load_secs
        } else {
            0.0
        }
    }

    /// Labels in report order: named labels sorted, then the overall figures.
    pub fn labels(&self) -> impl Iterator<Item = (&String, &KpiSet)> {
        self.totals.iter().filter(|(l, _)| !l.is_empty()).chain(self.totals.get_key_value(OVERALL))
    }
}

/// The whole run.
#[derive(Debug)]
pub struct RunReport {
    /// Run folder name.
    pub run_id: String,
    /// Environment profile, if one was given.
    pub env_name: Option<String>,
    /// Git short sha of the working tree, if the run was started in one.
    pub git_sha: Option<String>,
    /// Version of `suite` that ran the tests.
    pub tool_version: String,
    /// Unix time the run started, seconds.
    pub started_unix: u64,
    /// Exit code, once the run has ended; `None` while it runs or when it was killed.
    pub exit_code: Option<u8>,
    /// Tests in the order they ran (each repeat of a test is one).
    pub tests: Vec<TestReport>,
    /// Tests compared with a baseline (`--baseline`), in the order they ran.
    pub comparisons: Vec<TestComparison>,
    /// MMS's `diff_percent` rows: monitoring criteria compared with the previous run.
    pub diff_percent: Vec<DiffRow>,
    /// The share of a split run this run is (`--segment`).
    pub segment: Option<SegmentInfo>,
}

/// What a segment of a split run records, so that `suite merge` can check its segments belong
/// together.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SegmentInfo {
    /// Which segment, 1-based.
    pub index: usize,
    /// Segments in the sequence.
    pub count: usize,
    /// As `--segment` reads: `2/3`, or `1/4:1/2 of 0,1/4,1/2,1`.
    pub share: String,
    /// The sequence's points (`0,1/3,2/3,1`).
    pub sequence: String,
    /// A digest of what ran: the test files' contents, overrides and environment name.
    pub suite: String,
    /// `--start-at`, as given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_at: Option<String>,
}

impl RunReport {
    /// The run's outcome: the worst of its tests' (no tests: error); a regression against a
    /// baseline fails it like a criterion.
    pub fn outcome(&self) -> Outcome {
        let tests = self.tests.iter().map(|t| t.outcome).reduce(Outcome::worst).unwrap_or(Outcome::Error);
        let regressed = self.comparisons.iter().any(TestComparison::regressed)
            || self.diff_percent.iter().any(|r| matches!(r.result, DiffResult::Fail | DiffResult::Error));
        tests.worst(if regressed { Outcome::CriteriaFailed } else { Outcome::Passed })
    }

    /// The comparison of the test named `base_name` (without its repeat), if it was compared.
    pub fn comparison(&self, base_name: &str) -> Option<&TestComparison> {
        self.comparisons.iter().find(|c| c.test == base_name)
    }

    /// Whether the run ended and every test in it was judged.
    pub fn complete(&self) -> bool {
        self.exit_code.is_some() && self.tests.iter().all(|t| t.completion == Completion::Finished)
    }

    /// The word for the run: its outcome, or `incomplete` when it did not end.
    pub fn state(&self) -> &'static str {
        if self.exit_code.is_none() || self.tests.iter().any(|t| t.completion == Completion::Incomplete) {
            "incomplete"
        } else {
            self.outcome().word()
        }
    }
}

/// A label as tables show it: the overall figures are `ALL`.
pub fn label_name(label: &str) -> String {
    if label.is_empty() { "ALL" } else { label }.to_string()
}

/// One file made from the whole run (hyperfine's exporter pattern): a pure function from the view
/// model to bytes; where the bytes go is decided in [`write_views`].
pub trait Export {
    /// File name in the run folder.
    fn file_name(&self) -> &'static str;
    /// The file's contents.
    fn render(&self, run: &RunReport) -> Result<Vec<u8>, Error>;
    /// Whether the run has anything for this file (`matrix.csv` only with a matrix).
    fn wanted(&self, _run: &RunReport) -> bool {
        true
    }
}

/// The views `suite report` re-renders: the HTML report, `summary.json` and `matrix.csv`.
pub fn views() -> [&'static dyn Export; 3] {
    [&html::HtmlReport, &json::JsonSummary, &matrix::MatrixCsv]
}

/// Renders every view into the run folder (each file replaced whole, never left half-written).
pub fn write_views(run_dir: &Path, run: &RunReport) -> Result<(), Error> {
    for view in views().into_iter().filter(|v| v.wanted(run)) {
        let bytes = view.render(run)?;
        store::write_atomic(&run_dir.join(view.file_name()), &bytes)?;
    }
    Ok(())
}

/// `suite report`: reads the run folder and renders the views again, and each test's files made
/// from its figures alone (Locust's CSV).
pub fn rebuild(run_dir: &Path) -> Result<RunReport, Error> {
    let run = store::load_run(run_dir)?;
    for test in run.tests.iter().filter(|t| t.completion != Completion::NotRun) {
        locust::rebuild(&run_dir.join(&test.name), test)?;
    }
    write_views(run_dir, &run)?;
    Ok(run)
}
