//! The raw data of a run folder: what the runner streams while a test runs, what it writes when a
//! test ends, and how both are read back into a [`TestReport`] / [`RunReport`].
//!
//! Streams are JSON lines written with one `write` call per line and no buffering, so a killed
//! runner loses at most the line it was writing; readers skip an unfinished last line.
//!
//! - `run.json`: run metadata and the planned tests, written when the run starts and when it ends.
//! - `<test>/test.json`: test metadata and criteria verdicts; written as `"complete": false` when the
//!   test starts (with its criteria not judged yet) and replaced when it ends.
//! - `<test>/seconds.jsonl`: one line per closed second with every label's complete aggregate:
//!   counters, response codes, error messages and the HDR histogram (V2 encoding, deflated, base64 —
//!   the form of HdrHistogram's interval logs, about half the size of the plain one), so whole-
//!   test percentiles are merged exactly from it, not estimated from per-second percentiles.
//! - `<test>/monitoring.jsonl`: every monitoring sample, and every source that became unavailable.

mod seconds;

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use indexmap::IndexMap;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::timeline::{MonitorSeries, Monitoring};
use super::{Completion, CriterionRow, Error, RunReport, TestReport};
use crate::aggregate::OVERALL;
use crate::compare::diff_percent::DiffRow;
use crate::compare::TestComparison;
use crate::outcome::Outcome;

pub use seconds::{each_second, each_timed_second, SecondsLog};

/// Run metadata file in the run folder.
pub const RUN_FILE: &str = "run.json";
/// Test metadata file in a test folder.
pub const TEST_FILE: &str = "test.json";
/// Per-second aggregates of a test.
pub const SECONDS_FILE: &str = "seconds.jsonl";
/// Monitoring samples of a test.
pub const MONITORING_FILE: &str = "monitoring.jsonl";

/// Version of the files' layout, written into `run.json` and `test.json`.
const FORMAT: u32 = 1;

/// Writes a whole file through a temporary file in the same folder renamed over it, so readers
/// never see half of it, and a write that fails (a full disk) leaves the previous version, not an
/// empty file. The error names `path`.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    write_atomic_with(path, |tmp| std::fs::write(tmp, bytes))
}

/// [`write_atomic`] for a writer that takes a path: `write` fills the temporary file.
pub fn write_atomic_with(path: &Path, write: impl FnOnce(&Path) -> std::io::Result<()>) -> Result<(), Error> {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.{}.tmp", std::process::id()));
    // The data is synced before the rename: a file system that reports a full disk only at
    // write-back (NFS, some quotas) fails here, not after the old file was replaced.
    let written = write(&tmp).and_then(|()| File::open(&tmp)?.sync_data()).and_then(|()| std::fs::rename(&tmp, path));
    written.map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        Error::io(path, e)
    })
}

fn read_json<T: DeserializeOwned>(path: &Path) -> Result<T, Error> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    serde_json::from_str(&text).map_err(|cause| Error::Json { path: path.to_path_buf(), cause })
}

/// Reads a JSON-lines file one line at a time, handing each record and its line number to
/// `each`; returns the number of non-empty lines. Unreadable lines are noted and skipped, but a
/// killed runner may leave its last line unfinished: that one is dropped silently, everything
/// before it counts. Streamed, so a long test's file is never held in memory whole.
fn read_lines<T: DeserializeOwned>(
    path: &Path,
    notes: &mut Vec<String>,
    mut each: impl FnMut(usize, T),
) -> Result<usize, Error> {
    use std::io::BufRead as _;
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let mut count = 0;
    // A line that did not parse is reported only once another line follows it.
    let mut pending: Option<String> = None;
    for line in std::io::BufReader::new(file).lines() {
        let line = line.map_err(|e| Error::io(path, e))?;
        if line.trim().is_empty() {
            continue;
        }
        count += 1;
        notes.extend(pending.take());
        match serde_json::from_str(&line) {
            Ok(record) => each(count, record),
            Err(e) => pending = Some(format!("{}: line {count} is unreadable ({e}); skipped", path.display())),
        }
    }
    Ok(count)
}

/// Appends JSON lines to a file, one unbuffered write per line.
struct Lines {
    file: File,
    path: PathBuf,
}

impl Lines {
    fn create(path: &Path) -> Result<Self, Error> {
        let file = File::create(path).map_err(|e| Error::io(path, e))?;
        Ok(Lines { file, path: path.to_path_buf() })
    }

    fn write<T: Serialize>(&mut self, value: &T) -> Result<(), Error> {
        let mut line = serde_json::to_vec(value)?;
        line.push(b'\n');
        self.file.write_all(&line).map_err(|e| Error::io(&self.path, e))
    }
}

/// One line of `monitoring.jsonl`.
#[derive(Serialize, Deserialize)]
struct MonitorRecord {
    /// Seconds since the load started.
    ts: f64,
    source: String,
    /// Metric values in the order asked for; `null` for a value that is not a number.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    values: Vec<(String, Option<f64>)>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    unavailable: Option<String>,
}

/// Hands every event of a `monitoring.jsonl` to `each`, in file order, with the seconds since
/// the load started (unreadable lines are skipped, as when the test is read).
pub fn each_monitoring(path: &Path, mut each: impl FnMut(f64, crate::monitoring::Event)) -> Result<(), Error> {
    use crate::monitoring::{Event, Sample};
    read_lines(path, &mut Vec::new(), |_, record: MonitorRecord| {
        let event = match record.unavailable {
            Some(reason) => Event::Unavailable { source: record.source, reason },
            None => {
                let values = record.values.into_iter().map(|(m, v)| (m, v.unwrap_or(f64::NAN))).collect();
                Event::Sample(Sample { source: record.source, ts: record.ts, values })
            }
        };
        each(record.ts, event);
    })
    .map(|_| ())
}

/// Streams monitoring events to `monitoring.jsonl`.
pub struct MonitoringLog(Lines);

impl MonitoringLog {
    /// Creates (truncates) the file.
    pub fn create(path: &Path) -> Result<Self, Error> {
        Lines::create(path).map(MonitoringLog)
    }

    /// Appends one source's values at `ts` (seconds since the load started).
    pub fn sample(&mut self, ts: f64, source: &str, values: &[(String, f64)]) -> Result<(), Error> {
        let values = values.iter().map(|(m, v)| (m.clone(), v.is_finite().then_some(*v))).collect();
        self.0.write(&MonitorRecord { ts, source: source.to_string(), values, unavailable: None })
    }

    /// Records that a source became unavailable.
    pub fn unavailable(&mut self, ts: f64, source: &str, reason: &str) -> Result<(), Error> {
        let record =
            MonitorRecord { ts, source: source.to_string(), values: Vec::new(), unavailable: Some(reason.to_string()) };
        self.0.write(&record)
    }
}

/// Reads `monitoring.jsonl` into one series per source and metric.
fn read_monitoring(path: &Path, notes: &mut Vec<String>) -> Result<Monitoring, Error> {
    let mut order: Vec<(String, String)> = Vec::new();
    let mut values: BTreeMap<(String, String), Vec<(f64, f64)>> = BTreeMap::new();
    let mut unavailable: Vec<(String, String)> = Vec::new();
    read_lines(path, notes, |_, record: MonitorRecord| {
        if let Some(reason) = record.unavailable {
            if !unavailable.iter().any(|(s, _)| *s == record.source) {
                unavailable.push((record.source.clone(), reason));
            }
        }
        for (metric, value) in record.values {
            let key = (record.source.clone(), metric);
            if !values.contains_key(&key) {
                order.push(key.clone());
            }
            values.entry(key).or_default().push((record.ts, value.unwrap_or(f64::NAN)));
        }
    })?;
    let series = order
        .into_iter()
        .map(|key| {
            let v = values.get(&key).map(Vec::as_slice).unwrap_or_default();
            MonitorSeries::from_values(&key.0, &key.1, v)
        })
        .collect();
    Ok(Monitoring { series, unavailable })
}

/// `test.json`.
#[derive(Serialize, Deserialize)]
struct TestRecord {
    format: u32,
    name: String,
    file: String,
    /// False while the test runs: a folder whose `test.json` still says so was left by a killed runner.
    complete: bool,
    outcome: String,
    error: Option<String>,
    started_unix: u64,
    duration_secs: f64,
    #[serde(default)]
    load_secs: f64,
    sent: u64,
    stopped_by: Option<String>,
    criteria: Vec<CriterionRow>,
    /// Whether the run's `junit.xml` carries the test's `sample-labels` suite.
    #[serde(default)]
    sample_labels: bool,
    /// What the test wants said beside its verdict (an external tool's own thresholds failing).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    notes: Vec<String>,
    /// Which run of the test this is and of how many (`--repeat`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    repeat: Option<(u32, u32)>,
    /// The matrix cell this run is: parameter names and values, in the matrix's order.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    cell: IndexMap<String, String>,
    /// What a capacity search found.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    capacity: Option<crate::report::capacity::Capacity>,
}

/// Writes a test's `test.json`; `complete` is false when the test is starting.
pub fn write_test(dir: &Path, test: &TestReport, complete: bool) -> Result<(), Error> {
    let record = TestRecord {
        format: FORMAT,
        name: test.name.clone(),
        file: test.file.display().to_string(),
        complete,
        outcome: test.outcome.word().to_string(),
        error: test.error.clone(),
        started_unix: test.started_unix,
        duration_secs: test.duration_secs,
        load_secs: test.load_secs,
        sent: test.sent,
        stopped_by: test.stopped_by.clone(),
        criteria: test.criteria.clone(),
        sample_labels: test.sample_labels,
        notes: test.notes.clone(),
        repeat: test.repeat,
        cell: test.cell.iter().cloned().collect(),
        capacity: test.capacity.clone(),
    };
    write_atomic(&dir.join(TEST_FILE), &serde_json::to_vec_pretty(&record)?)
}

/// A planned test in `run.json`.
#[derive(Clone, Serialize, Deserialize)]
pub struct PlannedTest {
    /// Test name (its folder in the run folder).
    pub name: String,
    /// The test file.
    pub file: String,
}

/// `run.json`.
#[derive(Serialize, Deserialize)]
struct RunRecord {
    format: u32,
    run_id: String,
    env_name: Option<String>,
    git_sha: Option<String>,
    tool_version: String,
    started_unix: u64,
    tests: Vec<PlannedTest>,
    /// Set when the run ends.
    exit_code: Option<u8>,
    /// The share of a split run this run is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    segment: Option<crate::report::SegmentInfo>,
}

/// Writes `run.json`: at the start with the planned tests, again at the end with the exit code.
pub fn write_run(run_dir: &Path, run: &RunReport, planned: &[PlannedTest]) -> Result<(), Error> {
    let record = RunRecord {
        format: FORMAT,
        run_id: run.run_id.clone(),
        env_name: run.env_name.clone(),
        git_sha: run.git_sha.clone(),
        tool_version: run.tool_version.clone(),
        started_unix: run.started_unix,
        tests: planned.to_vec(),
        exit_code: run.exit_code,
        segment: run.segment.clone(),
    };
    write_atomic(&run_dir.join(RUN_FILE), &serde_json::to_vec_pretty(&record)?)
}

/// The outcome `test.json` names by its word; anything else reads as an error.
fn outcome_from_word(word: &str) -> Outcome {
    let known = [Outcome::Passed, Outcome::CriteriaFailed, Outcome::Interrupted];
    known.into_iter().find(|o| o.word() == word).unwrap_or(Outcome::Error)
}

/// Reads one test folder back. A folder without `test.json`, or whose `test.json` says the test
/// was still running, gives an incomplete test: its figures, and no verdicts.
pub fn load_test(dir: &Path, name: &str, file: &Path) -> Result<TestReport, Error> {
    let mut test = TestReport::new(name, file, 0);
    let test_file = dir.join(TEST_FILE);
    let record = test_file.is_file().then(|| read_json::<TestRecord>(&test_file)).transpose();
    let record = record.unwrap_or_else(|e| {
        test.notes.push(format!("{e}; the test is shown as incomplete"));
        None
    });
    match record {
        Some(r) => {
            test.file = PathBuf::from(r.file);
            test.outcome = outcome_from_word(&r.outcome);
            test.error = r.error;
            test.started_unix = r.started_unix;
            test.duration_secs = r.duration_secs;
            test.load_secs = r.load_secs;
            test.sent = r.sent;
            test.stopped_by = r.stopped_by;
            test.criteria = r.criteria;
            test.sample_labels = r.sample_labels;
            test.notes.extend(r.notes);
            test.repeat = r.repeat;
            test.cell = r.cell.into_iter().collect();
            test.capacity = r.capacity;
            if !r.complete {
                test.completion = Completion::Incomplete;
            }
        }
        None => test.completion = Completion::Incomplete,
    }
    let mut last_unix = None;
    let seconds = dir.join(SECONDS_FILE);
    if seconds.is_file() {
        last_unix = seconds::read(&seconds, &mut test)?;
    }
    let monitoring = dir.join(MONITORING_FILE);
    if monitoring.is_file() {
        test.monitoring = read_monitoring(&monitoring, &mut test.notes)?;
    }
    if test.completion == Completion::Incomplete {
        test.outcome = Outcome::Interrupted;
        test.error.get_or_insert_with(|| {
            "the runner stopped while this test ran (killed?): its figures are complete up to the last \
             second written, and its criteria were never judged"
                .to_string()
        });
        // Pending rows keep the configured criteria visible; nothing is claimed about them.
        test.sent = test.sent.max(test.totals.get(OVERALL).map_or(0, |t| t.hits));
        if let (Some(last), true) = (last_unix, test.started_unix > 0) {
            test.duration_secs = (last + 1).saturating_sub(test.started_unix) as f64;
        }
    }
    Ok(test)
}

/// Reads a whole run folder back: `run.json` for the run and its planned tests (or, without it, the
/// test folders found), and every test folder.
pub fn load_run(run_dir: &Path) -> Result<RunReport, Error> {
    let run_file = run_dir.join(RUN_FILE);
    let record = if run_file.is_file() { Some(read_json::<RunRecord>(&run_file)?) } else { None };
    let folder_name = std::fs::canonicalize(run_dir)
        .ok()
        .and_then(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| run_dir.display().to_string());
    let planned = match &record {
        Some(r) => r.tests.clone(),
        None => {
            let found = found_tests(run_dir)?;
            if found.is_empty() {
                return Err(Error::NotARun(run_dir.to_path_buf()));
            }
            found
        }
    };
    let mut run = RunReport {
        run_id: record.as_ref().map(|r| r.run_id.clone()).unwrap_or(folder_name),
        env_name: record.as_ref().and_then(|r| r.env_name.clone()),
        git_sha: record.as_ref().and_then(|r| r.git_sha.clone()),
        tool_version: record.as_ref().map(|r| r.tool_version.clone()).unwrap_or_else(|| "unknown".into()),
        started_unix: record.as_ref().map_or(0, |r| r.started_unix),
        exit_code: record.as_ref().and_then(|r| r.exit_code),
        tests: Vec::new(),
        comparisons: Vec::new(),
        diff_percent: Vec::new(),
        segment: record.as_ref().and_then(|r| r.segment.clone()),
    };
    for p in &planned {
        let dir = run_dir.join(&p.name);
        let file = PathBuf::from(&p.file);
        let has_results = dir.join(TEST_FILE).is_file() || dir.join(SECONDS_FILE).is_file();
        let test = if has_results {
            load_test(&dir, &p.name, &file)?
        } else {
            TestReport::not_run(&p.name, &file, 0, "not run: the run ended before this test started")
        };
        run.tests.push(test);
    }
    if run.started_unix == 0 {
        run.started_unix = run.tests.iter().map(|t| t.started_unix).filter(|s| *s > 0).min().unwrap_or(0);
    }
    run.comparisons = read_comparisons(run_dir, &run.tests)?;
    let diffs = run_dir.join(COMPARISONS_DIR).join(DIFF_PERCENT_FILE);
    if diffs.is_file() {
        run.diff_percent = read_json(&diffs)?;
    }
    Ok(run)
}

/// What a run folder's `run.json` says of the run, without reading its tests.
pub struct RunHead {
    pub env_name: Option<String>,
    /// Set once the run ended.
    pub exit_code: Option<u8>,
    /// The share of a split run it is.
    pub segment: Option<crate::report::SegmentInfo>,
    /// The tests it runs, in order.
    pub tests: Vec<PlannedTest>,
}

/// Reads a run folder's `run.json` alone (cheap enough to poll while the run goes on).
pub fn run_head(run_dir: &Path) -> Result<RunHead, Error> {
    let record: RunRecord = read_json(&run_dir.join(RUN_FILE))?;
    Ok(RunHead { env_name: record.env_name, exit_code: record.exit_code, segment: record.segment, tests: record.tests })
}

/// Whether a test folder's `test.json` says the test ended (and was judged).
pub fn test_ended(dir: &Path) -> bool {
    read_json::<TestRecord>(&dir.join(TEST_FILE)).is_ok_and(|r| r.complete)
}

/// The environment name and start time a run folder's `run.json` records, if it reads.
pub fn run_env(run_dir: &Path) -> Option<(Option<String>, u64)> {
    let record: RunRecord = read_json(&run_dir.join(RUN_FILE)).ok()?;
    Some((record.env_name, record.started_unix))
}

/// Folder of a run's comparisons with baselines, one `<test>.json` each.
pub const COMPARISONS_DIR: &str = "comparisons";

/// Writes a test's comparison with its baseline.
pub fn write_comparison(run_dir: &Path, comparison: &TestComparison) -> Result<(), Error> {
    let dir = run_dir.join(COMPARISONS_DIR);
    std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
    write_atomic(&dir.join(format!("{}.json", comparison.test)), &serde_json::to_vec_pretty(comparison)?)
}

/// MMS's `diff_percent` rows of the run, in `comparisons/`.
pub const DIFF_PERCENT_FILE: &str = "diff_percent.json";

/// Writes the run's `diff_percent` rows (all of them, replacing the file).
pub fn write_diff_percent(run_dir: &Path, rows: &[DiffRow]) -> Result<(), Error> {
    let dir = run_dir.join(COMPARISONS_DIR);
    std::fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
    write_atomic(&dir.join(DIFF_PERCENT_FILE), &serde_json::to_vec_pretty(rows)?)
}

/// The run's comparisons, in the order its tests ran.
fn read_comparisons(run_dir: &Path, tests: &[TestReport]) -> Result<Vec<TestComparison>, Error> {
    let dir = run_dir.join(COMPARISONS_DIR);
    let mut found = Vec::new();
    for test in tests {
        let path = dir.join(format!("{}.json", test.base_name()));
        if found.iter().any(|c: &TestComparison| c.test == test.base_name()) || !path.is_file() {
            continue;
        }
        found.push(read_json(&path)?);
    }
    Ok(found)
}

/// Test folders of a run folder without `run.json`, in the order they started.
fn found_tests(run_dir: &Path) -> Result<Vec<PlannedTest>, Error> {
    let entries = std::fs::read_dir(run_dir).map_err(|e| Error::io(run_dir, e))?;
    let mut found: Vec<(u64, PlannedTest)> = Vec::new();
    for entry in entries.filter_map(Result::ok) {
        let dir = entry.path();
        if !(dir.join(TEST_FILE).is_file() || dir.join(SECONDS_FILE).is_file()) {
            continue;
        }
        let name = entry.file_name().to_string_lossy().into_owned();
        let record = read_json::<TestRecord>(&dir.join(TEST_FILE)).ok();
        let started = record.as_ref().map_or(u64::MAX, |r| r.started_unix);
        let file = record.map(|r| r.file).unwrap_or_default();
        found.push((started, PlannedTest { name, file }));
    }
    found.sort_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.name.cmp(&b.1.name)));
    Ok(found.into_iter().map(|(_, p)| p).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_folder_without_run_json_is_found_from_its_tests() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(load_run(dir.path()), Err(Error::NotARun(_))));
        let t = dir.path().join("t1");
        std::fs::create_dir(&t).unwrap();
        let mut report = TestReport::new("t1", Path::new("suites/t1.yaml"), 100);
        report.outcome = Outcome::CriteriaFailed;
        write_test(&t, &report, true).unwrap();
        let run = load_run(dir.path()).unwrap();
        assert_eq!(run.tests.len(), 1);
        assert_eq!(run.tests[0].outcome, Outcome::CriteriaFailed);
        assert_eq!(run.tests[0].completion, Completion::Finished);
        assert_eq!(run.exit_code, None);
    }

    #[test]
    fn a_failed_write_keeps_the_previous_file_and_leaves_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("junit.xml");
        write_atomic(&path, b"<first/>").unwrap();
        let failed = write_atomic_with(&path, |tmp| {
            std::fs::write(tmp, b"<sec")?;
            Err(std::io::Error::from(std::io::ErrorKind::StorageFull))
        });
        assert!(matches!(failed, Err(Error::Io { path: p, .. }) if p == path));
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "<first/>");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1, "the temporary file is removed");
    }

    #[test]
    fn monitoring_round_trips_with_unavailable_sources() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(MONITORING_FILE);
        let mut log = MonitoringLog::create(&path).unwrap();
        log.sample(1.0, "demo", &[("cpu".into(), 10.0), ("mem".into(), f64::NAN)]).unwrap();
        log.sample(2.0, "demo", &[("cpu".into(), 30.0), ("mem".into(), 5.0)]).unwrap();
        log.unavailable(2.5, "other", "cannot connect").unwrap();
        let mut notes = Vec::new();
        let m = read_monitoring(&path, &mut notes).unwrap();
        assert_eq!(m.series.len(), 2);
        assert_eq!((m.series[0].metric.as_str(), m.series[0].mean), ("cpu", Some(20.0)));
        assert_eq!(m.series[1].samples, 1);
        assert_eq!(m.unavailable, vec![("other".to_string(), "cannot connect".to_string())]);
    }
}
