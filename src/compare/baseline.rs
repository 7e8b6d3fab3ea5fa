//! A baseline: the figures of several runs of one test, in a file people commit and diff.
//!
//! One JSON file per test (`<dir>/<test>.baseline.json`): who made it (environment, git sha,
//! host, date), the runs it holds, and per label each run's hits, throughput, fail %, mean and
//! percentiles, with the run's HDR histogram (V2, deflated, base64) so later tools can read any
//! other percentile. A candidate being judged is the same thing: the runs of the test just made.
//! Runs are never pooled: each keeps its own figures, and the comparison works on the spread
//! between them.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::metric::Metric;
use crate::aggregate::{Hist, KpiSet, LabelSets};

/// The `schema` every baseline file carries; another one is refused.
pub const SCHEMA: &str = "suite-baseline/1";

/// File name of a test's baseline in a baseline folder.
pub fn file_name(test: &str) -> String {
    format!("{test}.baseline.json")
}

/// The figures of several runs of one test.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Baseline {
    /// Always [`SCHEMA`].
    pub schema: String,
    /// The test's name (its file stem).
    pub test: String,
    /// Environment profile the runs used (`--env-name`).
    #[serde(default)]
    pub env_name: Option<String>,
    /// Git short sha of the tree the runs were started in.
    #[serde(default)]
    pub git_sha: Option<String>,
    /// Host the runs ran on.
    #[serde(default)]
    pub host: Option<String>,
    /// When the baseline was made (UTC, `2026-12-05T08:00:00Z`).
    #[serde(default)]
    pub created: String,
    /// Where the figures came from: `suite`, `locust`, `k6` or `taurus`.
    pub source: String,
    /// The runs, in the order they ran.
    pub runs: Vec<RunInfo>,
    /// Per label (`""` is the overall figures), one entry per run the label was seen in.
    pub labels: BTreeMap<String, Vec<LabelRun>>,
}

/// One run of a baseline.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunInfo {
    /// The run folder's id (`20261205_080000`), or the imported file.
    pub run_id: String,
    /// The test folder in the run (`api@2` for a repeat).
    #[serde(default)]
    pub test_dir: String,
    /// When the run's test started (UTC).
    #[serde(default)]
    pub started: String,
    /// How long its load ran, seconds (rates are per this time).
    pub load_secs: f64,
}

/// One label's figures in one run. Times are milliseconds; `None` where the run has no value.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LabelRun {
    /// Index of the run in [`Baseline::runs`].
    pub run: usize,
    pub hits: u64,
    pub fail: u64,
    /// Requests per second over the run's load.
    pub throughput: Option<f64>,
    pub fail_pct: Option<f64>,
    pub avg_ms: Option<f64>,
    pub p50_ms: Option<f64>,
    pub p90_ms: Option<f64>,
    pub p95_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    /// Response times in µs: HdrHistogram V2, deflated, base64.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hdr: Option<String>,
}

impl LabelRun {
    /// The figures of one label's totals over `load_secs` of load, as run `run`.
    pub fn from_set(run: usize, set: &KpiSet, load_secs: f64) -> Self {
        let ms = |v: Option<f64>| v.map(|s| s * 1e3);
        LabelRun {
            run,
            hits: set.hits,
            fail: set.fail,
            throughput: (load_secs > 0.0).then(|| set.hits as f64 / load_secs),
            fail_pct: (set.hits > 0).then(|| set.fail as f64 * 100.0 / set.hits as f64),
            avg_ms: ms(set.avg_rt()),
            p50_ms: ms(set.percentile(50.0)),
            p90_ms: ms(set.percentile(90.0)),
            p95_ms: ms(set.percentile(95.0)),
            p99_ms: ms(set.percentile(99.0)),
            hdr: (set.hits > 0).then(|| set.hist.encode().ok()).flatten(),
        }
    }

    /// The run's value of a metric.
    pub fn value(&self, metric: Metric) -> Option<f64> {
        match metric {
            Metric::P50 => self.p50_ms,
            Metric::P90 => self.p90_ms,
            Metric::P95 => self.p95_ms,
            Metric::P99 => self.p99_ms,
            Metric::AvgRt => self.avg_ms,
            Metric::Throughput => self.throughput,
            Metric::FailPct => self.fail_pct,
            Metric::Hits => Some(self.hits as f64),
        }
    }

    /// The run's histogram, if it kept one that reads back.
    pub fn histogram(&self) -> Option<Hist> {
        self.hdr.as_deref().and_then(|t| Hist::decode(t).ok())
    }
}

/// One finished run of a test, as the runner or a run folder has it.
pub struct RunFigures<'a> {
    pub run_id: String,
    pub test_dir: String,
    /// When the test started (UTC text).
    pub started: String,
    pub load_secs: f64,
    pub totals: &'a LabelSets,
}

/// Who made a baseline: written into it.
#[derive(Clone, Debug, Default)]
pub struct Provenance {
    pub env_name: Option<String>,
    pub git_sha: Option<String>,
    pub host: Option<String>,
    pub created: String,
}

impl Provenance {
    /// This machine, now.
    pub fn here(env_name: Option<String>, git_sha: Option<String>, created: String) -> Self {
        Provenance { env_name, git_sha, host: host_name(), created }
    }
}

/// The host's name, from the kernel.
pub fn host_name() -> Option<String> {
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname").ok()?;
    Some(name.trim().to_string()).filter(|n| !n.is_empty())
}

impl Baseline {
    /// An empty baseline of `test` from `source`.
    pub fn new(test: &str, source: &str, provenance: Provenance) -> Self {
        Baseline {
            schema: SCHEMA.to_string(),
            test: test.to_string(),
            env_name: provenance.env_name,
            git_sha: provenance.git_sha,
            host: provenance.host,
            created: provenance.created,
            source: source.to_string(),
            runs: Vec::new(),
            labels: BTreeMap::new(),
        }
    }

    /// A baseline of the runs of one test, in the order given.
    pub fn from_runs(test: &str, provenance: Provenance, runs: &[RunFigures]) -> Self {
        let mut baseline = Baseline::new(test, "suite", provenance);
        for run in runs {
            baseline.push_run(run);
        }
        baseline
    }

    /// Adds one run.
    pub fn push_run(&mut self, run: &RunFigures) {
        let index = self.runs.len();
        self.runs.push(RunInfo {
            run_id: run.run_id.clone(),
            test_dir: run.test_dir.clone(),
            started: run.started.clone(),
            load_secs: run.load_secs,
        });
        for (label, set) in run.totals {
            self.labels.entry(label.clone()).or_default().push(LabelRun::from_set(index, set, run.load_secs));
        }
    }

    /// The per-run values of a label's metric (runs without a value left out).
    pub fn values(&self, label: &str, metric: Metric) -> Vec<f64> {
        self.labels.get(label).map(|runs| runs.iter().filter_map(|r| r.value(metric)).collect()).unwrap_or_default()
    }

    /// Reads a baseline file, checking that it is one (schema) and, when `test` is given, that
    /// it is that test's.
    pub fn load(path: &Path, test: Option<&str>) -> Result<Baseline, Error> {
        let bytes = crate::fsutil::read_regular(path, crate::fsutil::DATA_CAP)
            .map_err(|e| Error::Read(path.to_path_buf(), e.reason()))?;
        let text =
            String::from_utf8(bytes).map_err(|_| Error::Corrupt(path.to_path_buf(), "it is not UTF-8 text".into()))?;
        // The schema is checked before the rest, so a file of another version says so.
        let head: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| Error::Corrupt(path.to_path_buf(), e.to_string()))?;
        match head.get("schema").and_then(|s| s.as_str()) {
            Some(SCHEMA) => {}
            Some(other) => return Err(Error::Schema(path.to_path_buf(), other.to_string())),
            None => return Err(Error::Corrupt(path.to_path_buf(), "it has no `schema` field".into())),
        }
        let baseline: Baseline =
            serde_json::from_value(head).map_err(|e| Error::Corrupt(path.to_path_buf(), e.to_string()))?;
        if let Some(test) = test.filter(|t| *t != baseline.test) {
            return Err(Error::OtherTest { path: path.to_path_buf(), found: baseline.test, wanted: test.to_string() });
        }
        if let Some((label, bad)) = baseline
            .labels
            .iter()
            .find_map(|(l, runs)| runs.iter().find(|r| r.run >= baseline.runs.len()).map(|r| (l, r)))
        {
            return Err(Error::Corrupt(
                path.to_path_buf(),
                format!("label `{label}` names run {} of {}", bad.run, baseline.runs.len()),
            ));
        }
        Ok(baseline)
    }

    /// The file's text: pretty JSON, one field a line, so a change diffs well.
    pub fn to_text(&self) -> String {
        let mut text = serde_json::to_string_pretty(self).expect("a baseline serializes");
        text.push('\n');
        text
    }
}

/// Why a baseline could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read the baseline `{0}`: {1}")]
    Read(PathBuf, String),
    #[error("`{0}` is not a readable baseline: {1}")]
    Corrupt(PathBuf, String),
    #[error("`{0}` is a baseline of schema `{1}`; this suite reads `{SCHEMA}` (save the baseline again)")]
    Schema(PathBuf, String),
    #[error("`{path}` is the baseline of test `{found}`, not of `{wanted}`")]
    OtherTest { path: PathBuf, found: String, wanted: String },
    #[error("no baseline for test `{test}` in `{dir}` (expected `{file}`)")]
    Missing { dir: PathBuf, test: String, file: String },
}
