//! Reports: one view model ([`TestReport`], [`RunReport`]) that every writer reads, and one file
//! per output format (JUnit XML, CSV, console).

pub mod console;
pub mod csv;
pub mod junit;

use std::path::PathBuf;

use crate::aggregate::LabelSets;
use crate::outcome::Outcome;

/// The verdict of one criterion, as reports show it.
#[derive(Clone, Debug)]
pub struct CriterionRow {
    /// The criterion as the user wrote it.
    pub name: String,
    /// Its verdict.
    pub status: CriterionStatus,
    /// One line: observed value, threshold, when it triggered.
    pub detail: String,
    /// Taurus's own message for it (`Failed: avg-rt>150ms for 10 sec`).
    pub taurus_message: String,
}

/// Verdict of one criterion.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CriterionStatus {
    /// Never triggered.
    Passed,
    /// Triggered and configured to fail the test.
    Failed,
    /// Triggered, but configured as non-failing.
    Notice,
    /// Could not be judged (no data for its label, source unavailable).
    Error,
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
}

/// The whole run.
#[derive(Debug)]
pub struct RunReport {
    /// Run folder name.
    pub run_id: String,
    /// Environment profile, if one was given.
    pub env_name: Option<String>,
    /// Tests in the order they ran.
    pub tests: Vec<TestReport>,
}

impl RunReport {
    /// The run's outcome: the worst of its tests' (no tests: error).
    pub fn outcome(&self) -> Outcome {
        self.tests.iter().map(|t| t.outcome).reduce(Outcome::worst).unwrap_or(Outcome::Error)
    }
}
