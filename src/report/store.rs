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

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use hdrhistogram::serialization::{Deserializer, Serializer as _, V2DeflateSerializer};
use hdrhistogram::Histogram;
use serde::{Deserialize, Serialize};

use super::timeline::{MonitorSeries, Monitoring, TimelineBuilder};
use super::{Completion, CriterionRow, Error, RunReport, TestReport};
use crate::aggregate::{KpiSet, LabelSets, Second, OVERALL};
use crate::outcome::Outcome;

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

/// Writes a whole file through a temporary name, so readers never see half of it.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.tmp"));
    std::fs::write(&tmp, bytes).map_err(|e| Error::io(&tmp, e))?;
    std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T, Error> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    serde_json::from_str(&text).map_err(|source| Error::Json { path: path.to_path_buf(), source })
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

/// One label's aggregate in `seconds.jsonl`: everything a [`KpiSet`] holds.
#[derive(Serialize, Deserialize)]
struct SetRecord {
    hits: u64,
    succ: u64,
    fail: u64,
    sum_rt_us: u64,
    sum_sq_rt_us: f64,
    sum_lt_us: u64,
    sum_ct_us: u64,
    bytes: u64,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    rc: BTreeMap<String, u64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    errors: Vec<ErrorRecord>,
    /// Failed samples per error kind (in `ErrorKind::ALL` order), when any failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    error_kinds: Option<Vec<u64>>,
    /// Response times in µs: HdrHistogram V2 encoding, deflated, base64.
    hist: String,
    /// Send lag and corrected response times (open model), when any sample was late.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    corrected: Option<CorrectedRecord>,
}

/// The coordinated-omission figures of a set whose samples were sent late.
#[derive(Serialize, Deserialize)]
struct CorrectedRecord {
    sum_lag_us: u64,
    sum_sq_crt_us: f64,
    /// Corrected response times in µs, encoded like `hist`.
    hist: String,
    /// Send lags in µs, encoded like `hist` (absent in files written before lags were kept).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    lag: Option<String>,
}

#[derive(Serialize, Deserialize)]
struct ErrorRecord {
    message: String,
    rc: String,
    count: u64,
}

/// One closed second in `seconds.jsonl`. The overall figures are not stored: they are the merge of
/// the labels' and are rebuilt on reading.
#[derive(Serialize, Deserialize)]
struct SecondRecord {
    ts: u64,
    unix_ts: u64,
    vus: u64,
    labels: BTreeMap<String, SetRecord>,
}

fn encode_hist(hist: &Histogram<u64>) -> Result<String, Error> {
    let mut bytes = Vec::new();
    V2DeflateSerializer::new().serialize(hist, &mut bytes).map_err(|e| Error::Histogram(format!("{e:?}")))?;
    Ok(base64::engine::general_purpose::STANDARD.encode(bytes))
}

/// A stored histogram, added into one with the KPI bounds (not assigned: a file written with
/// other bounds still merges with the live ones).
fn decode_hist(text: &str) -> Result<Histogram<u64>, String> {
    let bytes = base64::engine::general_purpose::STANDARD.decode(text).map_err(|e| e.to_string())?;
    let stored: Histogram<u64> =
        Deserializer::new().deserialize(&mut std::io::Cursor::new(bytes)).map_err(|e| format!("{e:?}"))?;
    let mut h = crate::aggregate::kpi::new_histogram();
    h.add(stored).map_err(|e| format!("{e:?}"))?;
    Ok(h)
}

impl SetRecord {
    fn new(set: &KpiSet) -> Result<Self, Error> {
        Ok(SetRecord {
            hits: set.hits,
            succ: set.succ,
            fail: set.fail,
            sum_rt_us: set.sum_rt_us,
            sum_sq_rt_us: set.sum_sq_rt_us,
            sum_lt_us: set.sum_lt_us,
            sum_ct_us: set.sum_ct_us,
            bytes: set.bytes,
            rc: set.rc.to_map(),
            errors: set
                .errors
                .iter()
                .map(|(message, count)| ErrorRecord {
                    message: message.clone(),
                    rc: set.error_codes.get(message).cloned().unwrap_or_default(),
                    count: *count,
                })
                .collect(),
            error_kinds: (set.fail > 0).then(|| set.error_kinds.to_vec()),
            hist: encode_hist(&set.hist)?,
            corrected: match &set.hist_corrected {
                Some(h) => Some(CorrectedRecord {
                    sum_lag_us: set.sum_lag_us,
                    sum_sq_crt_us: set.sum_sq_crt_us,
                    hist: encode_hist(h)?,
                    lag: set.hist_lag.as_ref().map(encode_hist).transpose()?,
                }),
                None => None,
            },
        })
    }

    fn into_set(self, vus: u64) -> Result<KpiSet, String> {
        let mut set = KpiSet { hist: decode_hist(&self.hist)?, ..KpiSet::default() };
        set.hits = self.hits;
        set.succ = self.succ;
        set.fail = self.fail;
        set.sum_rt_us = self.sum_rt_us;
        set.sum_sq_rt_us = self.sum_sq_rt_us;
        set.sum_lt_us = self.sum_lt_us;
        set.sum_ct_us = self.sum_ct_us;
        set.bytes = self.bytes;
        set.concurrency = vus;
        set.rc = self.rc.into_iter().collect();
        for (mine, stored) in set.error_kinds.iter_mut().zip(self.error_kinds.unwrap_or_default()) {
            *mine = stored;
        }
        // Without late samples corrected times equal response times: the sums say so too.
        set.sum_sq_crt_us = set.sum_sq_rt_us;
        if let Some(c) = self.corrected {
            set.hist_corrected = Some(decode_hist(&c.hist)?);
            if let Some(lag) = &c.lag {
                set.hist_lag = Some(decode_hist(lag)?);
            }
            set.sum_lag_us = c.sum_lag_us;
            set.sum_sq_crt_us = c.sum_sq_crt_us;
        }
        for e in self.errors {
            set.error_codes.insert(e.message.clone(), e.rc);
            set.errors.insert(e.message, e.count);
        }
        Ok(set)
    }
}

/// Streams closed seconds to `seconds.jsonl`.
pub struct SecondsLog(Lines);

impl SecondsLog {
    /// Creates (truncates) the file.
    pub fn create(path: &Path) -> Result<Self, Error> {
        Lines::create(path).map(SecondsLog)
    }

    /// Appends one closed second; `vus` is the number of active virtual users when it closed.
    pub fn write(&mut self, second: &Second, vus: u64) -> Result<(), Error> {
        let mut labels = BTreeMap::new();
        for (label, set) in second.current.iter().filter(|(l, _)| !l.is_empty()) {
            labels.insert(label.clone(), SetRecord::new(set)?);
        }
        self.0.write(&SecondRecord { ts: second.ts, unix_ts: second.unix_ts, vus, labels })
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
    };
    write_atomic(&run_dir.join(RUN_FILE), &serde_json::to_vec_pretty(&record)?)
}

fn outcome_from_word(word: &str) -> Outcome {
    match word {
        "passed" => Outcome::Passed,
        "failed" => Outcome::CriteriaFailed,
        "interrupted" => Outcome::Interrupted,
        _ => Outcome::Error,
    }
}

/// Reads one test folder back. A folder without `test.json`, or whose `test.json` says the test
/// was still running, gives an incomplete test: its figures, and no verdicts.
pub fn load_test(dir: &Path, name: &str, file: &Path) -> Result<TestReport, Error> {
    let mut test = TestReport::new(name, file, 0);
    let test_file = dir.join(TEST_FILE);
    let record = if test_file.is_file() {
        match read_json::<TestRecord>(&test_file) {
            Ok(r) => Some(r),
            Err(e) => {
                test.notes.push(format!("{e}; the test is shown as incomplete"));
                None
            }
        }
    } else {
        None
    };
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
            if !r.complete {
                test.completion = Completion::Incomplete;
            }
        }
        None => test.completion = Completion::Incomplete,
    }
    let mut last_unix = None;
    let seconds = dir.join(SECONDS_FILE);
    if seconds.is_file() {
        last_unix = read_seconds(&seconds, &mut test)?;
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

/// Reads `seconds.jsonl` into the test's totals and timeline; returns the Unix time of the last second.
fn read_seconds(path: &Path, test: &mut TestReport) -> Result<Option<u64>, Error> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let mut timeline = TimelineBuilder::new(lines.len() as u64);
    let mut last_unix = None;
    let mut seconds = 0u64;
    for (i, line) in lines.iter().enumerate() {
        let record: SecondRecord = match serde_json::from_str(line) {
            Ok(r) => r,
            // A killed runner may leave its last line unfinished: everything before it counts.
            Err(_) if i + 1 == lines.len() => break,
            Err(e) => {
                test.notes.push(format!("{}: line {} is unreadable ({e}); skipped", path.display(), i + 1));
                continue;
            }
        };
        let mut current = LabelSets::new();
        let mut overall = KpiSet::default();
        for (label, set) in record.labels {
            match set.into_set(record.vus) {
                Ok(set) => {
                    overall.merge(&set);
                    current.insert(label, set);
                }
                Err(e) => test.notes.push(format!(
                    "{}: line {}, label `{label}`: bad histogram ({e}); skipped",
                    path.display(),
                    i + 1
                )),
            }
        }
        if overall.hits > 0 {
            overall.concurrency = record.vus;
            current.insert(OVERALL.to_string(), overall);
        }
        for (label, set) in &current {
            test.totals.entry(label.clone()).or_default().merge(set);
        }
        timeline.push(record.ts, record.vus, &current);
        last_unix = Some(record.unix_ts);
        seconds += 1;
    }
    // A test that did not finish has no measured load time: the seconds recorded stand for it.
    if test.load_secs <= 0.0 {
        test.load_secs = seconds as f64;
    }
    test.timeline = timeline.finish();
    Ok(last_unix)
}

/// Reads `monitoring.jsonl` into one series per source and metric.
fn read_monitoring(path: &Path, notes: &mut Vec<String>) -> Result<Monitoring, Error> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let mut order: Vec<(String, String)> = Vec::new();
    let mut values: BTreeMap<(String, String), Vec<(f64, f64)>> = BTreeMap::new();
    let mut unavailable: Vec<(String, String)> = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let record: MonitorRecord = match serde_json::from_str(line) {
            Ok(r) => r,
            Err(_) if i + 1 == lines.len() => break,
            Err(e) => {
                notes.push(format!("{}: line {} is unreadable ({e}); skipped", path.display(), i + 1));
                continue;
            }
        };
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
    }
    let series = order
        .into_iter()
        .map(|key| {
            let v = values.get(&key).map(Vec::as_slice).unwrap_or_default();
            MonitorSeries::from_values(&key.0, &key.1, v)
        })
        .collect();
    Ok(Monitoring { series, unavailable })
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
    Ok(run)
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
    use crate::sample::{ErrorKind, Sample};

    fn sample(label: u32, rt_us: u64, status: u16) -> Sample {
        Sample {
            label,
            start_us: 0,
            elapsed_us: rt_us,
            connect_us: 10,
            ttfb_us: rt_us / 2,
            status,
            error_kind: (status >= 400).then_some(ErrorKind::Status),
            error: (status >= 400).then(|| format!("{status} Not Found").into()),
            bytes: 100,
            lag_us: 0,
        }
    }

    fn second(ts: u64, samples: &[(&str, u64, u16)]) -> Second {
        let mut current = LabelSets::new();
        let mut overall = KpiSet::default();
        for (label, rt, status) in samples {
            let mut s = sample(0, *rt, *status);
            // One late sample in odd seconds: the corrected figures must survive too.
            if *status == 404 && ts % 2 == 1 {
                s.lag_us = 70_000;
            }
            current.entry(label.to_string()).or_default().record(&s);
            overall.record(&s);
        }
        current.insert(OVERALL.into(), overall);
        Second { ts, unix_ts: 1_700_000_000 + ts, current }
    }

    #[test]
    fn seconds_round_trip_exactly_and_a_torn_last_line_is_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(SECONDS_FILE);
        let mut log = SecondsLog::create(&path).unwrap();
        let mut expected = LabelSets::new();
        for ts in 0..5u64 {
            let s = second(ts, &[("a", 1000 + ts * 7919, 200), ("a", 250_000, 404), ("b <&>", 3000, 200)]);
            log.write(&s, 3).unwrap();
            for (label, set) in &s.current {
                expected.entry(label.clone()).or_default().merge(set);
            }
        }
        // A runner killed in the middle of a line.
        std::fs::OpenOptions::new().append(true).open(&path).unwrap().write_all(b"{\"ts\":5,\"unix").unwrap();
        let test = load_test(dir.path(), "t", Path::new("t.yaml")).unwrap();
        assert_eq!(test.completion, Completion::Incomplete);
        assert_eq!(test.load_secs, 5.0);
        assert!(test.notes.is_empty(), "{:?}", test.notes);
        for (label, want) in &expected {
            let got = &test.totals[label];
            assert_eq!(
                (got.hits, got.fail, got.sum_rt_us, got.bytes),
                (want.hits, want.fail, want.sum_rt_us, want.bytes)
            );
            assert_eq!(got.hist, want.hist, "label {label}");
            assert_eq!(got.percentile(99.9), want.percentile(99.9));
            assert_eq!(got.stdev_rt(), want.stdev_rt());
            assert_eq!(got.errors, want.errors);
            assert_eq!(got.error_kinds, want.error_kinds);
            assert_eq!((got.sum_lag_us, got.sum_sq_crt_us), (want.sum_lag_us, want.sum_sq_crt_us));
            assert_eq!(got.hist_corrected, want.hist_corrected, "label {label}");
            assert_eq!(got.percentile_corrected(99.0), want.percentile_corrected(99.0));
            assert_eq!(got.hist_lag, want.hist_lag, "label {label}");
            assert_eq!(got.lag_percentile(99.0), want.lag_percentile(99.0));
            assert_eq!(got.max_lag(), want.max_lag());
            assert_eq!(got.rc, want.rc);
            assert_eq!(got.concurrency, 3);
        }
        assert_eq!(test.totals["a"].error_codes["404 Not Found"], "404");
        assert_eq!(test.timeline.points.len(), 5);
        // Label `a`: ten samples, two of them (404s of odd seconds) sent 70 ms late.
        let a = &test.totals["a"];
        assert!(a.hist_lag.is_some());
        assert_eq!(a.lag_percentile(50.0), Some(0.0));
        assert!((a.max_lag().unwrap() - 0.07).abs() < 0.0001, "{:?}", a.max_lag());
        assert_eq!(test.totals["b <&>"].lag_percentile(99.0), Some(0.0), "never late: lags are 0");
    }

    #[test]
    fn lags_of_a_file_written_before_they_were_kept_are_unknown_not_zero() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(SECONDS_FILE);
        let mut log = SecondsLog::create(&path).unwrap();
        log.write(&second(0, &[("a", 1000, 200)]), 1).unwrap();
        log.write(&second(1, &[("a", 1000, 200), ("a", 2000, 404)]), 1).unwrap();
        // Drop the lag histogram, as an older suite wrote the file.
        let text = std::fs::read_to_string(&path).unwrap();
        let old: Vec<String> = text
            .lines()
            .map(|l| {
                let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
                if let Some(c) = v["labels"]["a"]["corrected"].as_object_mut() {
                    assert!(c.remove("lag").is_some());
                }
                v.to_string()
            })
            .collect();
        std::fs::write(&path, old.join("\n") + "\n").unwrap();
        let test = load_test(dir.path(), "t", Path::new("t.yaml")).unwrap();
        let a = &test.totals["a"];
        assert_eq!((a.hits, a.lag_percentile(99.0), a.max_lag()), (3, None, None));
        assert!((a.avg_lag().unwrap() - 0.07 / 3.0).abs() < 1e-9, "the mean is still known");
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
}
