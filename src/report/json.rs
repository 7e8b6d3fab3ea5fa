//! `summary.json`: the run's results for scripts, in the layout `docs/summary.schema.json`
//! describes. [`SCHEMA_VERSION`] changes when a field is renamed, removed or changes meaning; new
//! fields may appear within a version. Times are seconds (as in Taurus), rates per second, shares
//! in percent; a figure that does not exist (a percentile without samples) is `null`, never 0.
//! Verdicts are words (`passed`, `failed`, ...), and the one boolean that decides CI,
//! `fails_run`, is true exactly when the criterion makes the run fail.

use std::collections::BTreeMap;

use indexmap::IndexMap;
use serde::Serialize;

use super::timeline::MonitorSeries;
use super::{Completion, CriterionRow, CriterionStatus, Error, Export, RunReport, TestReport};
use crate::aggregate::{KpiSet, OVERALL};
use crate::compare::TestComparison;

/// Version of the layout; see the module docs for when it changes.
pub const SCHEMA_VERSION: u32 = 1;

/// Percentile levels given for every label.
const LEVELS: [(&str, f64); 5] = [("p50", 50.0), ("p90", 90.0), ("p95", 95.0), ("p99", 99.0), ("p99_9", 99.9)];

/// The `summary.json` exporter.
pub struct JsonSummary;

impl Export for JsonSummary {
    fn file_name(&self) -> &'static str {
        "summary.json"
    }

    fn render(&self, run: &RunReport) -> Result<Vec<u8>, Error> {
        let mut bytes = serde_json::to_vec_pretty(&summary(run))?;
        bytes.push(b'\n');
        Ok(bytes)
    }
}

#[derive(Serialize)]
struct Summary<'a> {
    schema_version: u32,
    tool: Tool,
    run: Run,
    tests: Vec<Test<'a>>,
    /// Tests compared with a baseline (`--baseline`).
    comparisons: &'a [TestComparison],
}

#[derive(Serialize)]
struct Tool {
    name: &'static str,
    version: String,
}

#[derive(Serialize)]
struct Run {
    id: String,
    env: Option<String>,
    git_sha: Option<String>,
    started_unix: u64,
    started_utc: String,
    /// `passed`, `failed`, `error`, `interrupted`, or `incomplete` while running or after a kill.
    state: String,
    exit_code: Option<u8>,
    complete: bool,
    counts: BTreeMap<String, usize>,
    /// The share of a split run this run is; `null` otherwise.
    segment: Option<super::SegmentInfo>,
}

#[derive(Serialize)]
struct Test<'a> {
    name: String,
    /// The test's name without the repeat (`api` for `api@2`).
    test: String,
    /// `[k, n]`: the k-th of n runs of the test (`--repeat n`); `null` when it ran once.
    repeat: Option<(u32, u32)>,
    /// The matrix cell this run is; `null` for a test without a matrix.
    cell: Option<Cell>,
    /// What a capacity search found (every probe and the knee); `null` without a search.
    capacity: Option<&'a super::capacity::Capacity>,
    file: String,
    /// `passed`, `failed`, `error`, `interrupted`, `incomplete` or `not_run`.
    state: String,
    complete: bool,
    error: Option<String>,
    started_unix: u64,
    duration_secs: f64,
    load_secs: f64,
    requests_sent: u64,
    stopped_by: Option<String>,
    criteria: Vec<Criterion>,
    labels: Vec<Label>,
    overall: Option<Label>,
    monitoring: &'a [MonitorSeries],
    monitoring_unavailable: Vec<Unavailable>,
    notes: Vec<String>,
}

#[derive(Serialize)]
struct Cell {
    /// `vus=4,model=bert`.
    name: String,
    /// The test file's name the cell is of.
    of: String,
    /// Parameter values, in the matrix's order: numbers where the value is one.
    parameters: IndexMap<String, serde_json::Value>,
}

#[derive(Serialize)]
struct Criterion {
    name: String,
    /// `passed`, `failed`, `notice`, `error` or `pending`.
    status: CriterionStatus,
    fails_run: bool,
    subject: String,
    label: String,
    condition: String,
    threshold: f64,
    observed: Option<f64>,
    unit: String,
    logic: Option<String>,
    timeframe_secs: f64,
    triggered_at_secs: Option<f64>,
    stop: bool,
    fail: bool,
    stopped_test: bool,
    detail: String,
    taurus_message: String,
}

#[derive(Serialize)]
struct Label {
    label: String,
    hits: u64,
    succ: u64,
    fail: u64,
    error_percent: f64,
    rps: f64,
    avg_rt: Option<f64>,
    avg_lt: Option<f64>,
    avg_ct: Option<f64>,
    stdev_rt: Option<f64>,
    min_rt: Option<f64>,
    max_rt: Option<f64>,
    percentiles: BTreeMap<&'static str, Option<f64>>,
    bytes: u64,
    concurrency: u64,
    rc: BTreeMap<String, u64>,
    errors: Vec<ErrorCount>,
    /// Response times from the scheduled send time (open model), when any sample went out late.
    corrected: Option<Corrected>,
    /// Streamed responses' figures (requests with `stream:`), when any sample was streamed.
    stream: Option<Stream>,
}

/// A label's streamed responses: times in seconds, counts, tokens per second.
#[derive(Serialize)]
struct Stream {
    /// Streamed samples that received at least one event.
    samples: u64,
    ttft_avg: Option<f64>,
    ttft_percentiles: BTreeMap<&'static str, Option<f64>>,
    itl_avg: Option<f64>,
    itl_percentiles: BTreeMap<&'static str, Option<f64>>,
    events: u64,
    events_per_sample: Option<f64>,
    /// `null` unless the requests say where their tokens are (`tokens-from`).
    tokens: Option<u64>,
    tokens_per_s: Option<f64>,
}

#[derive(Serialize)]
struct Corrected {
    avg_lag: Option<f64>,
    /// Send-lag percentiles, seconds (`null` when the run folder predates them).
    lag_percentiles: BTreeMap<&'static str, Option<f64>>,
    max_lag: Option<f64>,
    avg_rt: Option<f64>,
    stdev_rt: Option<f64>,
    max_rt: Option<f64>,
    percentiles: BTreeMap<&'static str, Option<f64>>,
}

#[derive(Serialize)]
struct ErrorCount {
    message: String,
    rc: String,
    count: u64,
}

#[derive(Serialize)]
struct Unavailable {
    source: String,
    reason: String,
}

/// The state word of a test in JSON (`not run` → `not_run`).
fn state_key(test: &TestReport) -> String {
    test.state().replace(' ', "_")
}

fn summary(run: &RunReport) -> Summary<'_> {
    let mut counts = BTreeMap::new();
    for key in ["passed", "failed", "error", "interrupted", "incomplete", "not_run"] {
        counts.insert(key.to_string(), 0);
    }
    for t in &run.tests {
        *counts.entry(state_key(t)).or_default() += 1;
    }
    counts.insert("total".into(), run.tests.len());
    Summary {
        schema_version: SCHEMA_VERSION,
        tool: Tool { name: "suite", version: run.tool_version.clone() },
        run: Run {
            id: run.run_id.clone(),
            env: run.env_name.clone(),
            git_sha: run.git_sha.clone(),
            started_unix: run.started_unix,
            started_utc: super::utc_text(run.started_unix),
            state: run.state().to_string(),
            exit_code: run.exit_code,
            complete: run.complete(),
            counts,
            segment: run.segment.clone(),
        },
        tests: run.tests.iter().map(test).collect(),
        comparisons: &run.comparisons,
    }
}

fn test(t: &TestReport) -> Test<'_> {
    Test {
        name: t.name.clone(),
        test: t.base_name().to_string(),
        repeat: t.repeat,
        cell: (!t.cell.is_empty()).then(|| Cell {
            name: super::matrix::cell_name(&t.cell),
            of: t.test_name().to_string(),
            parameters: t.cell.iter().map(|(k, v)| (k.clone(), super::matrix::typed(v))).collect(),
        }),
        capacity: t.capacity.as_ref(),
        file: t.file.display().to_string(),
        state: state_key(t),
        complete: t.completion == Completion::Finished,
        error: t.error.clone(),
        started_unix: t.started_unix,
        duration_secs: t.duration_secs,
        load_secs: t.load_secs,
        requests_sent: t.sent,
        stopped_by: t.stopped_by.clone(),
        criteria: t.criteria.iter().map(criterion).collect(),
        labels: t.totals.iter().filter(|(l, _)| !l.is_empty()).map(|(l, s)| label(t, l, s)).collect(),
        overall: t.totals.get(OVERALL).map(|s| label(t, OVERALL, s)),
        monitoring: &t.monitoring.series,
        monitoring_unavailable: t
            .monitoring
            .unavailable
            .iter()
            .map(|(source, reason)| Unavailable { source: source.clone(), reason: reason.clone() })
            .collect(),
        notes: t.notes.clone(),
    }
}

/// Whether a verdict makes the run fail (as [`crate::criteria::Verdict::fails_run`] decides).
pub fn fails_run(c: &CriterionRow) -> bool {
    match c.status {
        CriterionStatus::Failed => true,
        CriterionStatus::Error => c.fail,
        CriterionStatus::Passed | CriterionStatus::Notice | CriterionStatus::Pending => false,
    }
}

fn criterion(c: &CriterionRow) -> Criterion {
    Criterion {
        name: c.name.clone(),
        status: c.status,
        fails_run: fails_run(c),
        subject: c.subject.clone(),
        label: c.label.clone(),
        condition: c.condition.clone(),
        threshold: c.threshold,
        observed: c.observed,
        unit: c.unit.clone(),
        logic: (!c.logic.is_empty()).then(|| c.logic.clone()),
        timeframe_secs: c.timeframe_secs,
        triggered_at_secs: c.triggered_at,
        stop: c.stop,
        fail: c.fail,
        stopped_test: c.stopped_test,
        detail: c.detail.clone(),
        taurus_message: c.taurus_message.clone(),
    }
}

fn label(t: &TestReport, name: &str, s: &KpiSet) -> Label {
    let errors = s.errors_by_count().into_iter();
    let errors =
        errors.map(|(message, rc, count)| ErrorCount { message: message.into(), rc: rc.into(), count }).collect();
    Label {
        label: name.to_string(),
        hits: s.hits,
        succ: s.succ,
        fail: s.fail,
        error_percent: if s.hits == 0 { 0.0 } else { 100.0 * s.fail as f64 / s.hits as f64 },
        rps: t.rate(s),
        avg_rt: s.avg_rt(),
        avg_lt: s.avg_lt(),
        avg_ct: s.avg_ct(),
        stdev_rt: s.stdev_rt(),
        min_rt: s.min_max_rt().map(|(m, _)| m),
        max_rt: s.min_max_rt().map(|(_, m)| m),
        percentiles: LEVELS.iter().map(|(k, p)| (*k, s.percentile(*p))).collect(),
        bytes: s.bytes,
        concurrency: s.concurrency,
        rc: s.rc.to_map(),
        errors,
        corrected: s.hist_corrected.is_some().then(|| Corrected {
            avg_lag: s.avg_lag(),
            lag_percentiles: LEVELS.iter().map(|(k, p)| (*k, s.lag_percentile(*p))).collect(),
            max_lag: s.max_lag(),
            avg_rt: s.avg_rt_corrected(),
            stdev_rt: s.stdev_rt_corrected(),
            max_rt: s.max_rt_corrected(),
            percentiles: LEVELS.iter().map(|(k, p)| (*k, s.percentile_corrected(*p))).collect(),
        }),
        stream: s.stream.as_deref().map(|k| Stream {
            samples: k.samples,
            ttft_avg: k.avg_ttft(),
            ttft_percentiles: LEVELS.iter().map(|(name, p)| (*name, k.ttft_percentile(*p))).collect(),
            itl_avg: k.avg_itl(),
            itl_percentiles: LEVELS.iter().map(|(name, p)| (*name, k.itl_percentile(*p))).collect(),
            events: k.events,
            events_per_sample: k.events_per_sample(),
            tokens: (k.token_samples > 0).then_some(k.tokens),
            tokens_per_s: k.tokens_per_s(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::sample::Sample;

    fn set(lags_us: &[u64]) -> KpiSet {
        let mut set = KpiSet::default();
        for lag_us in lags_us {
            set.record(&Sample { bytes: 1, lag_us: *lag_us, ..Sample::fake(10_000, 200) });
        }
        set
    }

    /// summary.json of a passed run with one test.
    fn render_one(t: TestReport) -> serde_json::Value {
        let run = RunReport {
            run_id: "r".into(),
            env_name: None,
            git_sha: None,
            tool_version: "0".into(),
            started_unix: 1,
            exit_code: Some(0),
            tests: vec![t],
            comparisons: Vec::new(),
            diff_percent: Vec::new(),
            segment: None,
        };
        serde_json::from_slice(&JsonSummary.render(&run).unwrap()).unwrap()
    }

    #[test]
    fn corrected_figures_appear_only_with_late_samples() {
        let mut t = TestReport::new("t", Path::new("t.yaml"), 1);
        t.totals.insert("on-time".into(), set(&[0, 0]));
        t.totals.insert("late".into(), set(&[0, 990_000]));
        t.load_secs = 2.0;
        let v = render_one(t);
        let labels = &v["tests"][0]["labels"];
        assert_eq!(labels[0]["label"], "late");
        let corrected = &labels[0]["corrected"];
        assert!((corrected["avg_lag"].as_f64().unwrap() - 0.495).abs() < 1e-9, "{corrected}");
        assert_eq!(corrected["lag_percentiles"]["p50"], 0.0, "the on-time sample counts as 0");
        let p99 = corrected["lag_percentiles"]["p99"].as_f64().unwrap();
        assert!((p99 - 0.99).abs() < 0.001, "{corrected}");
        assert!((corrected["max_lag"].as_f64().unwrap() - 0.99).abs() < 0.001, "{corrected}");
        assert!(corrected["percentiles"]["p99"].as_f64().unwrap() > 0.99);
        assert!(labels[0]["percentiles"]["p99"].as_f64().unwrap() < 0.011, "uncorrected stays as measured");
        assert!(labels[1]["corrected"].is_null());
        assert_eq!(labels[1]["rps"], 1.0);
        assert_eq!(v["run"]["state"], "passed");
    }

    /// Every field of a label and of its corrected figures is in `docs/summary.schema.json` (the
    /// integration tests validate whole files, but their runs send nothing late).
    #[test]
    fn the_schema_knows_every_label_and_corrected_field() {
        let schema: serde_json::Value = serde_json::from_str(include_str!("../../docs/summary.schema.json")).unwrap();
        let mut t = TestReport::new("t", Path::new("t.yaml"), 1);
        t.totals.insert("late".into(), set(&[0, 20_000]));
        let v = render_one(t);
        let label = &v["tests"][0]["labels"][0];
        let check = |value: &serde_json::Value, def: &serde_json::Value| {
            let keys = value.as_object().unwrap();
            for key in keys.keys() {
                assert!(def["properties"].get(key).is_some(), "`{key}` is not in the schema");
            }
            for key in def["required"].as_array().unwrap() {
                assert!(keys.contains_key(key.as_str().unwrap()), "required `{key}` is missing");
            }
        };
        check(label, &schema["$defs"]["label"]);
        let corrected = &label["corrected"];
        check(corrected, &schema["$defs"]["corrected"]);
        let lag = &schema["$defs"]["corrected"]["properties"]["lag_percentiles"];
        for key in lag["required"].as_array().unwrap() {
            assert!(corrected["lag_percentiles"][key.as_str().unwrap()].is_number(), "{corrected}");
        }
        assert!(corrected["max_lag"].is_number());
    }
}
