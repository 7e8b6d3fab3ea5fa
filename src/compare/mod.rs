//! Regression verdicts against a baseline: the runs of a test (a [`Baseline`], from files or a
//! stored run) and the runs being judged, compared label by label and metric by metric, with the
//! spread between runs taken into account and the requests of different runs never pooled as one
//! sample.
//!
//! This stage reads finished figures only (a run's totals, baseline files), after criteria and
//! beside the reports; it never imports the engine. `stats` holds the test, `metric` what is read
//! from each run, `baseline` the file people commit.

pub mod baseline;
pub mod diff_percent;
pub mod import;
pub mod metric;
pub mod stats;

use serde::{Deserialize, Serialize};

pub use baseline::{Baseline, LabelRun, Provenance, RunFigures};
pub use metric::Metric;
pub use stats::{Direction, Noise, Scale, Verdict, DEFAULT_MIN_EFFECT, DEFAULT_SESSION_NOISE};

/// What to compare and how large a change must be.
#[derive(Clone, Debug, PartialEq)]
pub struct Options {
    pub metrics: Vec<Metric>,
    /// A ratio: 0.05 is 5 %.
    pub min_effect: f64,
    /// Between-session noise added to every ratio comparison (a CV: 0.02 is 2 %).
    pub session_noise: f64,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            metrics: Metric::DEFAULT.to_vec(),
            min_effect: DEFAULT_MIN_EFFECT,
            session_noise: DEFAULT_SESSION_NOISE,
        }
    }
}

/// How one label × metric came out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RowVerdict {
    Regression,
    Improvement,
    Unchanged,
    /// The label is in the candidate, not in the baseline.
    New,
    /// The label is in the baseline, not in the candidate.
    Missing,
    /// A side has no value for the metric (no successful response to time).
    NoData,
}

impl RowVerdict {
    pub fn word(self) -> &'static str {
        match self {
            RowVerdict::Regression => "regression",
            RowVerdict::Improvement => "improvement",
            RowVerdict::Unchanged => "unchanged",
            RowVerdict::New => "new label",
            RowVerdict::Missing => "missing label",
            RowVerdict::NoData => "no data",
        }
    }
}

/// One label × metric of a comparison.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Row {
    /// `""` is the overall figures.
    pub label: String,
    pub metric: Metric,
    /// The typical run of each side (see [`stats::Comparison`]).
    pub baseline: Option<f64>,
    pub candidate: Option<f64>,
    /// A ratio minus one (0.17 is +17 %), or points for the fail rate.
    pub change: Option<f64>,
    /// The change's 95 % confidence interval.
    pub ci: Option<(f64, f64)>,
    /// The lowest and highest of the baseline's runs (the band charts draw).
    #[serde(default)]
    pub baseline_range: Option<(f64, f64)>,
    pub verdict: RowVerdict,
    /// The spread came from the runs, not from the default noise model.
    pub measured_noise: bool,
    /// Why a row has no verdict (too few requests per run for a tail percentile).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub why: Option<String>,
}

impl Row {
    /// A row with no figures to judge: a label one side lacks, or a metric without values.
    fn without_verdict(
        label: &str,
        metric: Metric,
        verdict: RowVerdict,
        baseline_range: Option<(f64, f64)>,
        why: Option<String>,
    ) -> Self {
        Row {
            label: label.to_string(),
            metric,
            baseline: None,
            candidate: None,
            change: None,
            ci: None,
            baseline_range,
            verdict,
            measured_noise: true,
            why,
        }
    }

    /// The label as tables show it.
    pub fn label_name(&self) -> &str {
        if self.label.is_empty() {
            "ALL"
        } else {
            &self.label
        }
    }

    /// The testcase name: `p95 of predict`.
    pub fn name(&self) -> String {
        format!("{} of {}", self.metric.name(), self.label_name())
    }

    /// One line: `p95 of predict: 8.90 ms vs 7.60 ms, +17 % (95 % CI +11…+23 %): regression`.
    pub fn message(&self) -> String {
        match self.verdict {
            RowVerdict::New => return format!("label {}: only in the candidate (new)", self.label_name()),
            RowVerdict::Missing => {
                return format!("label {}: only in the baseline (missing from the candidate)", self.label_name())
            }
            _ => {}
        }
        if let Some(why) = &self.why {
            return format!("{}: {why}", self.name());
        }
        let m = self.metric;
        let value = |v: Option<f64>| v.map_or("-".to_string(), |v| m.format(v));
        let mut text = format!("{}: {} vs {}", self.name(), value(self.candidate), value(self.baseline));
        if let Some(change) = self.change {
            text += &format!(", {}", m.format_change(change));
        }
        if let Some((lo, hi)) = self.ci {
            let (lo, hi) = (m.format_change(lo), m.format_change(hi));
            let hi = hi.trim_end_matches(" %").trim_end_matches(" pp");
            let unit = if m.is_ratio() { " %" } else { " pp" };
            text += &format!(" (95 % CI {}…{hi}{unit})", lo.trim_end_matches(unit));
        }
        text += &format!(": {}", self.verdict.word());
        if !self.measured_noise
            && matches!(self.verdict, RowVerdict::Regression | RowVerdict::Improvement | RowVerdict::Unchanged)
        {
            text += " (default noise model: too few runs to measure it)";
        }
        text
    }
}

/// A test compared with its baseline.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TestComparison {
    /// The test's name.
    pub test: String,
    /// Where the baseline came from (a file, a run folder).
    pub baseline_from: String,
    pub baseline_runs: usize,
    pub candidate_runs: usize,
    /// The minimum effect used (a ratio).
    pub min_effect: f64,
    /// What the reader should know (a default noise model used, labels that appeared).
    #[serde(default)]
    pub notes: Vec<String>,
    pub rows: Vec<Row>,
}

impl TestComparison {
    /// Rows that regressed.
    pub fn regressions(&self) -> impl Iterator<Item = &Row> {
        self.rows.iter().filter(|r| r.verdict == RowVerdict::Regression)
    }

    /// A test that has nothing to compare, and why.
    pub fn not_compared(test: &str, baseline_from: &str, baseline_runs: usize, why: &str) -> Self {
        TestComparison {
            test: test.to_string(),
            baseline_from: baseline_from.to_string(),
            baseline_runs,
            candidate_runs: 0,
            min_effect: DEFAULT_MIN_EFFECT,
            notes: vec![why.to_string()],
            rows: Vec::new(),
        }
    }

    /// Whether any metric regressed.
    pub fn regressed(&self) -> bool {
        self.regressions().next().is_some()
    }
}

/// Compares the candidate's runs with the baseline's, label by label (the overall figures last)
/// and metric by metric. Labels only one side has get one row saying so.
pub fn compare_test(
    baseline: &Baseline,
    baseline_from: &str,
    candidate: &Baseline,
    options: &Options,
) -> TestComparison {
    let mut rows = Vec::new();
    let mut labels: Vec<&String> = baseline.labels.keys().chain(candidate.labels.keys()).collect();
    labels.sort_by_key(|l| (l.is_empty(), l.as_str()));
    labels.dedup();
    let mut notes = Vec::new();
    for label in labels {
        let (in_base, in_cand) = (baseline.labels.contains_key(label), candidate.labels.contains_key(label));
        if !(in_base && in_cand) {
            let metric = options.metrics.first().copied().unwrap_or(Metric::P95);
            let verdict = if in_cand { RowVerdict::New } else { RowVerdict::Missing };
            rows.push(Row::without_verdict(label, metric, verdict, None, None));
            continue;
        }
        // The fewest requests the label had in a run of either side (0: not known, an import).
        let fewest = [baseline, candidate]
            .iter()
            .filter_map(|side| side.labels.get(label).and_then(|runs| runs.iter().map(|r| r.hits).min()))
            .min()
            .unwrap_or(0);
        for &metric in &options.metrics {
            let (a, b) = (baseline.values(label, metric), candidate.values(label, metric));
            if fewest > 0 && fewest < metric.min_hits() {
                let why = format!(
                    "too few requests per run to estimate it (fewest {fewest}, needs {}): run longer or faster",
                    metric.min_hits()
                );
                rows.push(Row::without_verdict(label, metric, RowVerdict::NoData, range(&a), Some(why)));
                continue;
            }
            let found = stats::compare(
                &a,
                &b,
                metric.direction(),
                metric.scale(options.min_effect, options.session_noise),
                metric.default_noise(),
            );
            rows.push(match found {
                Some(c) => Row {
                    label: label.clone(),
                    metric,
                    baseline: Some(c.baseline),
                    candidate: Some(c.candidate),
                    change: Some(c.change),
                    ci: Some(c.ci),
                    baseline_range: range(&a),
                    verdict: match c.verdict {
                        Verdict::Regression => RowVerdict::Regression,
                        Verdict::Improvement => RowVerdict::Improvement,
                        Verdict::Unchanged => RowVerdict::Unchanged,
                    },
                    measured_noise: c.measured_noise,
                    why: None,
                },
                None => Row::without_verdict(label, metric, RowVerdict::NoData, range(&a), None),
            });
        }
    }
    let one_side = |side: &str, other: &str| {
        format!("the {side} has one run: its spread between runs is taken to be the {other}'s")
    };
    if baseline.runs.len() < 2 && candidate.runs.len() >= 2 {
        notes.push(one_side("baseline", "candidate"));
    } else if candidate.runs.len() < 2 && baseline.runs.len() >= 2 {
        notes.push(one_side("candidate", "baseline"));
    } else if baseline.runs.len() < 2 && candidate.runs.len() < 2 {
        notes.push(
            "neither side has two runs: the spread between runs is the default noise model's (see the README), \
             not measured; run with --repeat to measure it"
                .to_string(),
        );
    }
    TestComparison {
        test: candidate.test.clone(),
        baseline_from: baseline_from.to_string(),
        baseline_runs: baseline.runs.len(),
        candidate_runs: candidate.runs.len(),
        min_effect: options.min_effect,
        notes,
        rows,
    }
}

/// The lowest and highest finite value.
fn range(values: &[f64]) -> Option<(f64, f64)> {
    let finite = values.iter().copied().filter(|v| v.is_finite());
    finite.fold(None, |acc, v| match acc {
        None => Some((v, v)),
        Some((lo, hi)) => Some((lo.min(v), hi.max(v))),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A baseline of `runs` runs of label `api`, each with `hits` requests and this p95/p99.
    fn runs(test: &str, hits: u64, p95: &[f64]) -> Baseline {
        let mut b = Baseline::new(test, "suite", Provenance::default());
        for (i, &p) in p95.iter().enumerate() {
            b.runs.push(baseline::RunInfo {
                run_id: format!("r{i}"),
                test_dir: test.into(),
                started: String::new(),
                load_secs: 2.0,
            });
            b.labels.entry("api".into()).or_default().push(LabelRun {
                run: i,
                hits,
                fail: 0,
                throughput: Some(hits as f64 / 2.0),
                fail_pct: Some(0.0),
                avg_ms: Some(p / 2.0),
                p50_ms: Some(p / 2.0),
                p90_ms: Some(p * 0.9),
                p95_ms: Some(p),
                p99_ms: Some(p * 1.5),
                hdr: None,
            });
        }
        b
    }

    #[test]
    fn tail_percentiles_need_enough_requests_per_run() {
        let options = Options { metrics: vec![Metric::P95, Metric::P99], ..Options::default() };
        let base = runs("t", 400, &[10.0, 10.2, 9.9, 10.1, 10.0]);
        let cand = runs("t", 400, &[12.5, 12.4, 12.6]);
        let c = compare_test(&base, "b", &cand, &options);
        let p95 = c.rows.iter().find(|r| r.metric == Metric::P95).unwrap();
        assert_eq!(p95.verdict, RowVerdict::Regression, "{p95:?}");
        let p99 = c.rows.iter().find(|r| r.metric == Metric::P99).unwrap();
        assert_eq!(p99.verdict, RowVerdict::NoData);
        assert_eq!(
            p99.message(),
            "p99 of api: too few requests per run to estimate it (fewest 400, needs 1000): run longer or faster"
        );
        // With enough requests it is compared.
        let c = compare_test(&runs("t", 1000, &[10.0, 10.1]), "b", &runs("t", 5000, &[10.0, 10.1]), &options);
        assert!(c.rows.iter().all(|r| r.verdict == RowVerdict::Unchanged), "{c:?}");
    }

    #[test]
    fn labels_on_one_side_only_are_reported() {
        let mut cand = runs("t", 500, &[10.0, 10.0]);
        let moved = cand.labels.remove("api").unwrap();
        cand.labels.insert("new".into(), moved);
        let c = compare_test(&runs("t", 500, &[10.0, 10.0]), "b", &cand, &Options::default());
        let verdicts: Vec<(String, RowVerdict)> = c.rows.iter().map(|r| (r.label.clone(), r.verdict)).collect();
        assert_eq!(verdicts, vec![("api".into(), RowVerdict::Missing), ("new".into(), RowVerdict::New)]);
        assert_eq!(c.rows[1].message(), "label new: only in the candidate (new)");
        assert!(!c.regressed());
    }
}
