//! MMS's previous-run comparison (`tests/performance/runs/compare.py` in awslabs/multi-model-server):
//! each monitoring criterion with a `diff_percent` compares the mean, max and min of its metric
//! in the current run with the previous run of the same environment, and fails when they differ
//! by `diff_percent` or more (`|v2 - v1| / ((v2 + v1) / 2) * 100`).
//!
//! This file reproduces MMS's rules, names and messages; the caller reads the figures (the
//! per-metric aggregates of each run's monitoring log) and writes the outputs
//! (`report::mms_compare` for `comparison_result.csv`). It imports neither `report` nor `engine`.
//!
//! MMS facts this follows (file:line in `tests/performance/` of multi-model-server):
//! * `runs/compare.py:54-55`: `compare_artifacts(current dir, previous dir, current run name,
//!   previous run name)`, so run1 is the **current** run and run2 the **previous** one.
//! * `runs/taurus/reader.py:44-55`: the criteria are the dict-form `passfail` criteria of the
//!   current run whose `class` contains `monitoring` (case-sensitive) and whose `diff_percent` is
//!   truthy; the metric is the part of `subject` after its last `/`.
//! * `runs/compare.py:142,166-182`: aggregates in the order mean, max, min; the CSV metric is
//!   `<agg>_<metric>`, the testcase `<agg>_<metric>: diff_percent < <dp>`.
//! * `runs/compare.py:105-132`: the judgement and its messages.
//! * `runs/compare.py:152-160`: a test without a monitoring log in either run gets one row,
//!   `metrics_log_file_availability`, `NA` figures, result `pass` in the CSV and `skip` in JUnit.

use serde::{Deserialize, Deserializer, Serialize};

pub use crate::criteria::python_float;

/// The aggregates MMS compares, in its order (`runs/compare.py:142`).
pub const AGGREGATES: [&str; 3] = ["mean", "max", "min"];

/// The metric (and testcase) name of the row for a test whose monitoring log is missing.
pub const AVAILABILITY: &str = "metrics_log_file_availability";

/// One metric to compare: a monitoring criterion with a `diff_percent`.
#[derive(Clone, Debug, PartialEq)]
pub struct Check {
    /// The criterion's subject as written (`ServerLocalClient/sum_workers_memory_rss`).
    pub subject: String,
    /// The part of the subject after its last `/` (the whole subject without one).
    pub metric: String,
    /// The largest change that passes, in percent (exclusive).
    pub diff_percent: f64,
}

/// The checks among criteria given as `(class, subject, diff_percent)`, in their order: MMS
/// keeps a criterion when its `class` contains `monitoring` (case-sensitive, as Python's `in`)
/// and its `diff_percent` is truthy (present and not 0; NaN is truthy in Python, so it stays and
/// fails every comparison). String-form criteria have no class: the caller passes only dict-form ones.
pub fn checks<'a>(criteria: impl IntoIterator<Item = (&'a str, &'a str, Option<f64>)>) -> Vec<Check> {
    criteria
        .into_iter()
        .filter(|(class, _, _)| class.contains("monitoring"))
        .filter_map(|(_, subject, dp)| {
            let diff_percent = dp.filter(|d| *d != 0.0)?;
            let metric = subject.rsplit_once('/').map_or(subject, |(_, m)| m);
            Some(Check { subject: subject.to_string(), metric: metric.to_string(), diff_percent })
        })
        .collect()
}

/// A metric's aggregates over one run's monitoring log; `None` when pandas gives none (the
/// column is not numeric).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Figures {
    pub mean: Option<f64>,
    pub min: Option<f64>,
    pub max: Option<f64>,
}

impl Figures {
    /// The aggregate by MMS's name (`mean`, `max`, `min`).
    pub fn get(&self, agg: &str) -> Option<f64> {
        match agg {
            "mean" => self.mean,
            "max" => self.max,
            "min" => self.min,
            _ => None,
        }
    }
}

/// The figures of a metric in one run's monitoring log, `None` when the log has no such column.
pub type Lookup<'a> = &'a dyn Fn(&str) -> Option<Figures>;

/// One side of a comparison: the run's name (MMS's run folder name) and its monitoring figures
/// per metric, or `None` when the test has no monitoring log in that run.
#[derive(Clone, Copy)]
pub struct Run<'a> {
    pub name: &'a str,
    /// `None`: the test has no monitoring log in this run.
    pub monitoring: Option<Lookup<'a>>,
}

/// How one row came out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DiffResult {
    Pass,
    Fail,
    Error,
    /// A monitoring log is missing (MMS writes `pass` in the CSV, `skipped` in JUnit).
    Skip,
}

impl DiffResult {
    /// MMS's word in JUnit terms: `pass`, `fail`, `error`, `skip` (`runs/compare.py:69-72`).
    pub fn word(self) -> &'static str {
        match self {
            DiffResult::Pass => "pass",
            DiffResult::Fail => "fail",
            DiffResult::Error => "error",
            DiffResult::Skip => "skip",
        }
    }

    /// The `result` column of `comparison_result.csv`: a skip is written `pass` there
    /// (`runs/compare.py:157-158`).
    pub fn csv_word(self) -> &'static str {
        match self {
            DiffResult::Skip => "pass",
            other => other.word(),
        }
    }
}

/// One row of MMS's comparison: one testcase of the comparison JUnit suite and one line of
/// `comparison_result.csv`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DiffRow {
    /// The test (MMS's suite folder name; the JUnit testsuite name).
    pub test: String,
    /// The current run's name.
    pub run1: String,
    /// The previous run's name.
    pub run2: String,
    /// `<agg>_<metric>` (`mean_sum_workers_memory_rss`), or [`AVAILABILITY`].
    pub metric: String,
    /// The current run's aggregate.
    pub value1: Option<f64>,
    /// The previous run's aggregate.
    pub value2: Option<f64>,
    /// The difference in percent; `None` when MMS writes `NA` (an error, a division by zero, a skip).
    pub percentage_diff: Option<f64>,
    /// The criterion's `diff_percent`; NaN (`null` in JSON) on a skip row.
    #[serde(deserialize_with = "nan_if_null")]
    pub expected_diff: f64,
    pub result: DiffResult,
    /// MMS's message: `passed`, `""` for equal values, or the failure or error text.
    pub message: String,
}

fn nan_if_null<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(d)?.unwrap_or(f64::NAN))
}

impl DiffRow {
    /// MMS's JUnit testcase name: `mean_cpu: diff_percent < 30` (`runs/compare.py:181`), or
    /// `metrics_log_file_availability` (`runs/compare.py:159`).
    pub fn testcase_name(&self) -> String {
        if self.result == DiffResult::Skip {
            self.metric.clone()
        } else {
            format!("{}: diff_percent < {}", self.metric, number_text(self.expected_diff))
        }
    }

    /// The JUnit result's message: none for a pass (MMS's `lambda x: None`, `runs/compare.py:69`),
    /// the message for a failure, an error or a skip.
    pub fn junit_message(&self) -> Option<&str> {
        (self.result != DiffResult::Pass).then_some(self.message.as_str())
    }

    /// Whether the two values were equal, the row MMS records with an integer `0` difference.
    pub fn equal_values(&self) -> bool {
        self.result == DiffResult::Pass && self.value1.is_some() && self.value1 == self.value2
    }
}

/// MMS's JUnit testsuite `hostname` for a comparison: the current run's name twice, as MMS
/// writes it (`runs/compare.py:150`: `run_name1 + " and " + run_name1`).
pub fn junit_hostname(run1: &str) -> String {
    format!("{run1} and {run1}")
}

/// Compares one test of the current run with the previous run: a skip row when either side has
/// no monitoring log, otherwise one row per check × aggregate (mean, max, min), in order.
pub fn compare(test: &str, current: Run<'_>, previous: Run<'_>, checks: &[Check]) -> Vec<DiffRow> {
    let row = |metric: String, result: DiffResult, message: String| DiffRow {
        test: test.to_string(),
        run1: current.name.to_string(),
        run2: previous.name.to_string(),
        metric,
        value1: None,
        value2: None,
        percentage_diff: None,
        expected_diff: f64::NAN,
        result,
        message,
    };
    let (Some(figures1), Some(figures2)) = (current.monitoring, previous.monitoring) else {
        let message = format!("Metrics monitoring logs are not captured for {test} in either of the runs.");
        return vec![row(AVAILABILITY.to_string(), DiffResult::Skip, message)];
    };
    let mut rows = Vec::with_capacity(checks.len() * AGGREGATES.len());
    for check in checks {
        let (f1, f2) = (figures1(&check.metric), figures2(&check.metric));
        for agg in AGGREGATES {
            let value1 = f1.and_then(|f| f.get(agg));
            let value2 = f2.and_then(|f| f.get(agg));
            let (diff, result, message) = judge(value1, value2, check.diff_percent, current.name, previous.name);
            rows.push(DiffRow {
                value1,
                value2,
                percentage_diff: diff,
                expected_diff: check.diff_percent,
                ..row(format!("{agg}_{}", check.metric), result, message)
            });
        }
    }
    rows
}

/// MMS's `compare_values` (`runs/compare.py:105-132`).
pub fn judge(
    value1: Option<f64>,
    value2: Option<f64>,
    diff_percent: f64,
    run1: &str,
    run2: &str,
) -> (Option<f64>, DiffResult, String) {
    let (v1, v2) = match (value1.filter(|v| !v.is_nan()), value2.filter(|v| !v.is_nan())) {
        (Some(v1), Some(v2)) => (v1, v2),
        _ => {
            let message = format!(
                "Either of the value can not be determined. The run1 value is '{}' and run2 value is {}.",
                value_text(value1),
                value_text(value2)
            );
            return (None, DiffResult::Error, message);
        }
    };
    if v2 == v1 {
        return (Some(0.0), DiffResult::Pass, String::new());
    }
    let mid = (v2 + v1) / 2.0;
    if mid == 0.0 {
        // Python raises ZeroDivisionError, which MMS logs and passes with `NA`.
        let message = format!(
            "error while calculating the diff for val1={} and val2={}.Error is: float division by zero",
            python_float(v1),
            python_float(v2)
        );
        return (None, DiffResult::Pass, message);
    }
    let diff = (v2 - v1).abs() / mid * 100.0;
    if diff < diff_percent {
        (Some(diff), DiffResult::Pass, "passed".to_string())
    } else {
        let message = format!(
            "The diff_percent criteria has failed. The expected diff_percent is '{}' and actual diff percent is '{}' \
             and the '{run1}' run value is '{}' and '{run2}' run value is '{}'. ",
            number_text(diff_percent),
            python_float(diff),
            python_float(v1),
            python_float(v2)
        );
        (Some(diff), DiffResult::Fail, message)
    }
}

/// Python's `str()` of an aggregate MMS holds as `float` or `None`.
fn value_text(v: Option<f64>) -> String {
    v.map_or_else(|| "None".to_string(), python_float)
}

/// Python's `str()` of a `diff_percent` as YAML reads it: a whole number is a YAML int (`30`, as
/// every MMS test writes it), anything else a float (`30.5`). A `30.0` written in YAML prints as
/// `30` here where Python prints `30.0`: the number alone cannot tell them apart.
pub fn number_text(v: f64) -> String {
    if is_int(v) {
        format!("{v:.0}")
    } else {
        python_float(v)
    }
}

/// Whether a `diff_percent` is taken as a YAML int (see [`number_text`]).
pub fn is_int(v: f64) -> bool {
    v.is_finite() && v.fract() == 0.0 && v.abs() < 1e16
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cpu(mean: f64, min: f64, max: f64) -> Figures {
        Figures { mean: Some(mean), min: Some(min), max: Some(max) }
    }

    fn check(dp: f64) -> Vec<Check> {
        checks([("bzt.modules.monitoring.MonitoringCriteria", "ServerLocalClient/cpu", Some(dp))])
    }

    #[test]
    fn the_formula_is_symmetric() {
        let (a, _, _) = judge(Some(10.0), Some(14.0), 50.0, "cur", "prev");
        let (b, _, _) = judge(Some(14.0), Some(10.0), 50.0, "cur", "prev");
        let expected = 4.0 / 12.0 * 100.0;
        assert_eq!(a, Some(expected));
        assert_eq!(b, Some(expected));
    }

    #[test]
    fn equal_values_pass_with_zero_and_no_message() {
        assert_eq!(judge(Some(7.5), Some(7.5), 30.0, "a", "b"), (Some(0.0), DiffResult::Pass, String::new()));
        assert_eq!(judge(Some(0.0), Some(0.0), 30.0, "a", "b"), (Some(0.0), DiffResult::Pass, String::new()));
        assert_eq!(judge(Some(10.0), Some(12.0), 30.0, "a", "b").1, DiffResult::Pass);
        assert_eq!(judge(Some(10.0), Some(12.0), 30.0, "a", "b").2, "passed");
    }

    #[test]
    fn forty_percent_fails_thirty_with_mmss_message() {
        // |18 - 12| / 15 * 100 = 40.
        let (diff, result, message) = judge(Some(12.0), Some(18.0), 30.0, "cur__abc__2", "cur__abc__1");
        assert_eq!(diff, Some(40.0));
        assert_eq!(result, DiffResult::Fail);
        assert_eq!(
            message,
            "The diff_percent criteria has failed. The expected diff_percent is '30' and actual diff percent is \
             '40.0' and the 'cur__abc__2' run value is '12.0' and 'cur__abc__1' run value is '18.0'. "
        );
        // The limit itself fails (`diff < diff_percent` passes).
        assert_eq!(judge(Some(12.0), Some(18.0), 40.0, "a", "b").1, DiffResult::Fail);
        assert!(judge(Some(12.0), Some(18.0), 40.5, "a", "b").2.starts_with("passed"));
        assert!(judge(Some(12.0), Some(18.0), 12.5, "a", "b").2.contains("is '12.5' and"));
    }

    #[test]
    fn nan_or_missing_is_an_error() {
        assert_eq!(
            judge(None, Some(12.5), 30.0, "a", "b"),
            (
                None,
                DiffResult::Error,
                "Either of the value can not be determined. The run1 value is 'None' and run2 value is 12.5."
                    .to_string()
            )
        );
        let (diff, result, message) = judge(Some(1.0), Some(f64::NAN), 30.0, "a", "b");
        assert_eq!((diff, result), (None, DiffResult::Error));
        assert!(message.ends_with("The run1 value is '1.0' and run2 value is nan."), "{message}");
    }

    #[test]
    fn a_zero_midpoint_passes_with_na() {
        let (diff, result, message) = judge(Some(-1.0), Some(1.0), 30.0, "a", "b");
        assert_eq!((diff, result), (None, DiffResult::Pass));
        assert_eq!(
            message,
            "error while calculating the diff for val1=-1.0 and val2=1.0.Error is: float division by zero"
        );
        // One side zero: 200 %.
        assert_eq!(judge(Some(0.0), Some(3.0), 30.0, "a", "b").0, Some(200.0));
    }

    #[test]
    fn selection_follows_mms() {
        let found = checks([
            ("bzt.modules.monitoring.MonitoringCriteria", "ServerLocalClient/sum_workers_memory_rss", Some(30.0)),
            ("bzt.modules.monitoring.MonitoringCriteria", "ServerLocalClient/cpu", Some(0.0)),
            ("bzt.modules.monitoring.MonitoringCriteria", "ServerLocalClient/mem", None),
            ("bzt.modules.passfail.DataCriterion", "avg-rt", Some(10.0)),
            ("bzt.modules.Monitoring.X", "a/b", Some(10.0)),
            ("monitoring", "a/b/total", Some(12.5)),
            ("monitoring", "plain", Some(-5.0)),
        ]);
        assert_eq!(
            found,
            vec![
                Check {
                    subject: "ServerLocalClient/sum_workers_memory_rss".into(),
                    metric: "sum_workers_memory_rss".into(),
                    diff_percent: 30.0
                },
                Check { subject: "a/b/total".into(), metric: "total".into(), diff_percent: 12.5 },
                Check { subject: "plain".into(), metric: "plain".into(), diff_percent: -5.0 },
            ]
        );
    }

    #[test]
    fn rows_are_current_then_previous_mean_max_min() {
        let current = |m: &str| (m == "cpu").then(|| cpu(12.0, 10.0, 20.0));
        let previous = |m: &str| (m == "cpu").then(|| cpu(18.0, 10.0, 21.0));
        let rows = compare(
            "inference",
            Run { name: "cur", monitoring: Some(&current) },
            Run { name: "prev", monitoring: Some(&previous) },
            &check(30.0),
        );
        let names: Vec<_> = rows.iter().map(|r| r.testcase_name()).collect();
        assert_eq!(names, ["mean_cpu: diff_percent < 30", "max_cpu: diff_percent < 30", "min_cpu: diff_percent < 30"]);
        let r = &rows[0];
        assert_eq!((r.run1.as_str(), r.run2.as_str(), r.test.as_str()), ("cur", "prev", "inference"));
        assert_eq!((r.metric.as_str(), r.value1, r.value2), ("mean_cpu", Some(12.0), Some(18.0)));
        assert_eq!((r.result, r.percentage_diff, r.expected_diff), (DiffResult::Fail, Some(40.0), 30.0));
        assert!(r.message.contains("the 'cur' run value is '12.0' and 'prev' run value is '18.0'"));
        assert_eq!(r.junit_message(), Some(r.message.as_str()));
        assert_eq!(rows[1].result, DiffResult::Pass);
        assert_eq!(rows[1].junit_message(), None);
        assert!(rows[2].equal_values());
        assert_eq!(rows[2].message, "");

        // A metric the log lacks: an error for each aggregate.
        let missing = compare(
            "inference",
            Run { name: "cur", monitoring: Some(&current) },
            Run { name: "prev", monitoring: Some(&previous) },
            &checks([("monitoring", "x/gpu", Some(5.5))]),
        );
        assert_eq!(missing.len(), 3);
        assert!(missing.iter().all(|r| r.result == DiffResult::Error && r.percentage_diff.is_none()));
        assert_eq!(missing[0].testcase_name(), "mean_gpu: diff_percent < 5.5");
    }

    #[test]
    fn missing_monitoring_is_one_skip_row() {
        let current = |_: &str| Some(cpu(1.0, 1.0, 1.0));
        for (a, b) in [(true, false), (false, true), (false, false)] {
            let rows = compare(
                "health_check",
                Run { name: "cur", monitoring: a.then_some(&current as Lookup) },
                Run { name: "prev", monitoring: b.then_some(&current as Lookup) },
                &check(30.0),
            );
            assert_eq!(rows.len(), 1);
            let r = &rows[0];
            assert_eq!((r.result, r.result.csv_word()), (DiffResult::Skip, "pass"));
            assert_eq!(r.testcase_name(), "metrics_log_file_availability");
            assert_eq!(r.message, "Metrics monitoring logs are not captured for health_check in either of the runs.");
            assert_eq!(r.junit_message(), Some(r.message.as_str()));
            assert!(r.expected_diff.is_nan() && r.value1.is_none() && r.percentage_diff.is_none());
        }
    }

    #[test]
    fn rows_round_trip_through_json() {
        let none = |_: &str| None;
        let mut rows = compare("t", Run { name: "a", monitoring: None }, Run { name: "b", monitoring: None }, &[]);
        rows.extend(compare(
            "t",
            Run { name: "a", monitoring: Some(&none) },
            Run { name: "b", monitoring: Some(&none) },
            &check(30.0),
        ));
        let json = serde_json::to_string(&rows).unwrap();
        assert!(json.contains(r#""expected_diff":null,"result":"skip""#), "{json}");
        let back: Vec<DiffRow> = serde_json::from_str(&json).unwrap();
        assert!(back[0].expected_diff.is_nan());
        assert_eq!(back[1..], rows[1..]);
    }

    #[test]
    fn numbers_print_as_python() {
        assert_eq!(number_text(30.0), "30");
        assert_eq!(number_text(30.5), "30.5");
        assert_eq!(python_float(40.0), "40.0");
        assert_eq!(python_float(1e-5), "1e-05");
        assert_eq!(python_float(1e16), "1e+16");
        assert_eq!(python_float(33.333333333333336), "33.333333333333336");
    }
}
