//! Per-second figures thinned out for charts. A series keeps at most [`MAX_POINTS`] points, so an
//! hour-long test draws as quickly and weighs as little as a minute-long one. Each point covers a
//! span of seconds and holds that span's exact figures (percentiles from the span's merged
//! histograms, not averages of per-second percentiles) plus the lowest and highest single second,
//! so a one-second spike still shows as an envelope after thinning.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::aggregate::{KpiSet, LabelSets, OVERALL};

/// Most points a chart series has.
pub const MAX_POINTS: u64 = 1000;
/// At most this many labels get their own line in a chart (the busiest); tables list them all.
/// The timeline keeps per-label points for these alone, so its size does not grow with the
/// number of labels.
pub const MAX_CHART_LABELS: usize = 8;

/// The busiest labels of `totals` (up to [`MAX_CHART_LABELS`]) in name order, and how many more
/// there are.
pub fn chart_labels(totals: &LabelSets) -> (Vec<String>, usize) {
    let mut labels: Vec<(&String, u64)> =
        totals.iter().filter(|(l, _)| !l.is_empty()).map(|(l, s)| (l, s.hits)).collect();
    let all = labels.len();
    labels.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
    labels.truncate(MAX_CHART_LABELS);
    labels.sort_by(|a, b| a.0.cmp(b.0));
    (labels.into_iter().map(|(l, _)| l.clone()).collect(), all.saturating_sub(MAX_CHART_LABELS))
}

/// A test's load figures over time, thinned for charts.
#[derive(Clone, Debug, Default)]
pub struct Timeline {
    /// Seconds each point covers.
    pub bucket_secs: u64,
    /// Points in time order.
    pub points: Vec<Point>,
}

/// The figures of one span of seconds.
#[derive(Clone, Debug, Default)]
pub struct Point {
    /// First second of the span, counted from the start of the load.
    pub ts: u64,
    /// Seconds the span covers (the last span may be shorter).
    pub secs: u64,
    /// Highest number of active virtual users seen in the span.
    pub vus: u64,
    /// Figures per label; `""` is the overall figures.
    pub labels: BTreeMap<String, LabelPoint>,
}

/// One label's figures over one span.
#[derive(Clone, Debug, Default)]
pub struct LabelPoint {
    /// Samples in the span.
    pub hits: u64,
    /// Failed samples in the span.
    pub fail: u64,
    /// Samples per second over the span.
    pub rps: f64,
    /// Lowest single-second rate in the span (0 if a second had no samples of this label).
    pub rps_min: f64,
    /// Highest single-second rate in the span.
    pub rps_max: f64,
    /// Failed samples per second over the span.
    pub errors_per_sec: f64,
    /// Mean response time, seconds.
    pub avg: Option<f64>,
    /// Response-time percentiles of the whole span, seconds.
    pub p50: Option<f64>,
    /// 90th percentile.
    pub p90: Option<f64>,
    /// 95th percentile.
    pub p95: Option<f64>,
    /// 99th percentile.
    pub p99: Option<f64>,
    /// Slowest response.
    pub max: Option<f64>,
    /// Lowest single-second p99 in the span.
    pub p99_min: Option<f64>,
    /// Highest single-second p99 in the span.
    pub p99_max: Option<f64>,
}

/// Builds a [`Timeline`] from closed seconds pushed in order.
pub struct TimelineBuilder {
    bucket_secs: u64,
    /// The labels kept besides the overall figures (`None`: all).
    only: Option<BTreeSet<String>>,
    open: Option<Bucket>,
    points: Vec<Point>,
}

struct Bucket {
    index: u64,
    last_ts: u64,
    vus: u64,
    labels: BTreeMap<String, BucketLabel>,
}

struct BucketLabel {
    set: KpiSet,
    seconds_seen: u64,
    rps_min: f64,
    rps_max: f64,
    p99_min: Option<f64>,
    p99_max: Option<f64>,
}

impl TimelineBuilder {
    /// A builder for a test of about `total_secs` seconds (it decides the span of each point).
    pub fn new(total_secs: u64) -> Self {
        TimelineBuilder {
            bucket_secs: total_secs.div_ceil(MAX_POINTS).max(1),
            only: None,
            open: None,
            points: Vec::new(),
        }
    }

    /// Keeps per-label points for `labels` alone (and the overall figures).
    pub fn only(mut self, labels: impl IntoIterator<Item = String>) -> Self {
        self.only = Some(labels.into_iter().collect());
        self
    }

    /// Adds one closed second: `ts` counted from the start of the load, `vus` active then, and its
    /// KPIs per label (with the overall `""` label).
    pub fn push(&mut self, ts: u64, vus: u64, current: &LabelSets) {
        let index = ts / self.bucket_secs;
        if self.open.as_ref().is_some_and(|b| b.index != index) {
            if let Some(done) = self.open.take() {
                self.points.push(done.finish(self.bucket_secs));
            }
        }
        let bucket = self.open.get_or_insert_with(|| Bucket { index, last_ts: ts, vus: 0, labels: BTreeMap::new() });
        bucket.last_ts = bucket.last_ts.max(ts);
        bucket.vus = bucket.vus.max(vus);
        let kept = |label: &String| label == OVERALL || self.only.as_ref().is_none_or(|only| only.contains(label));
        for (label, set) in current.iter().filter(|(label, _)| kept(label)) {
            let rps = set.hits as f64;
            let p99 = set.percentile(99.0);
            let entry = bucket.labels.entry(label.clone()).or_insert_with(|| BucketLabel {
                set: KpiSet::default(),
                seconds_seen: 0,
                rps_min: rps,
                rps_max: rps,
                p99_min: p99,
                p99_max: p99,
            });
            entry.set.merge(set);
            entry.seconds_seen += 1;
            entry.rps_min = entry.rps_min.min(rps);
            entry.rps_max = entry.rps_max.max(rps);
            entry.p99_min = min_opt(entry.p99_min, p99);
            entry.p99_max = max_opt(entry.p99_max, p99);
        }
    }

    /// The timeline of every second pushed.
    pub fn finish(mut self) -> Timeline {
        if let Some(done) = self.open.take() {
            self.points.push(done.finish(self.bucket_secs));
        }
        Timeline { bucket_secs: self.bucket_secs, points: self.points }
    }
}

impl Bucket {
    fn finish(self, bucket_secs: u64) -> Point {
        let start = self.index * bucket_secs;
        // The last span of a test ends at its last second, not at the span's nominal end.
        let secs = (self.last_ts + 1 - start).clamp(1, bucket_secs);
        let labels = self
            .labels
            .into_iter()
            .map(|(label, b)| {
                let set = &b.set;
                // A second without samples of this label is a second at 0 requests per second.
                let rps_min = if b.seconds_seen < secs { 0.0 } else { b.rps_min };
                let point = LabelPoint {
                    hits: set.hits,
                    fail: set.fail,
                    rps: set.hits as f64 / secs as f64,
                    rps_min,
                    rps_max: b.rps_max,
                    errors_per_sec: set.fail as f64 / secs as f64,
                    avg: set.avg_rt(),
                    p50: set.percentile(50.0),
                    p90: set.percentile(90.0),
                    p95: set.percentile(95.0),
                    p99: set.percentile(99.0),
                    max: set.min_max_rt().map(|(_, m)| m),
                    p99_min: b.p99_min,
                    p99_max: b.p99_max,
                };
                (label, point)
            })
            .collect();
        Point { ts: start, secs, vus: self.vus, labels }
    }
}

fn min_opt(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.min(y)),
        (x, y) => x.or(y),
    }
}

fn max_opt(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.max(y)),
        (x, y) => x.or(y),
    }
}

/// One monitored metric over time, thinned like the load figures (`summary.json` lists it
/// without its points).
#[derive(Clone, Debug, Default, Serialize)]
pub struct MonitorSeries {
    /// Source name (what criteria write before the `/`).
    pub source: String,
    /// Metric name.
    pub metric: String,
    /// Values received.
    pub samples: u64,
    /// Lowest value.
    pub min: Option<f64>,
    /// Mean of all values.
    pub mean: Option<f64>,
    /// Highest value.
    pub max: Option<f64>,
    /// The last value received.
    pub last: Option<f64>,
    /// Points in time order.
    #[serde(skip)]
    pub points: Vec<MonitorPoint>,
}

/// The values of one metric over one span.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct MonitorPoint {
    /// Start of the span, seconds since the load started.
    pub ts: f64,
    /// Mean of the span's values.
    pub mean: f64,
    /// Lowest value in the span.
    pub min: f64,
    /// Highest value in the span.
    pub max: f64,
}

/// Monitoring of one test: metric series and the sources that could not deliver.
#[derive(Clone, Debug, Default)]
pub struct Monitoring {
    /// One series per source and metric, in the order they first reported.
    pub series: Vec<MonitorSeries>,
    /// Sources that were unreachable or went silent, with the first reason given.
    pub unavailable: Vec<(String, String)>,
}

impl MonitorSeries {
    /// A series from `(ts, value)` pairs in time order; NaN values count as missing.
    pub fn from_values(source: &str, metric: &str, values: &[(f64, f64)]) -> Self {
        let finite: Vec<(f64, f64)> = values.iter().copied().filter(|(_, v)| v.is_finite()).collect();
        let mut series = MonitorSeries {
            source: source.to_string(),
            metric: metric.to_string(),
            samples: finite.len() as u64,
            ..Default::default()
        };
        if finite.is_empty() {
            return series;
        }
        series.min = finite.iter().map(|(_, v)| *v).reduce(f64::min);
        series.max = finite.iter().map(|(_, v)| *v).reduce(f64::max);
        series.mean = Some(finite.iter().map(|(_, v)| *v).sum::<f64>() / finite.len() as f64);
        series.last = finite.last().map(|(_, v)| *v);
        let per_point = (finite.len() as u64).div_ceil(MAX_POINTS).max(1) as usize;
        series.points = finite
            .chunks(per_point)
            .map(|chunk| {
                let n = chunk.len() as f64;
                MonitorPoint {
                    ts: chunk[0].0,
                    mean: chunk.iter().map(|(_, v)| *v).sum::<f64>() / n,
                    min: chunk.iter().map(|(_, v)| *v).fold(f64::INFINITY, f64::min),
                    max: chunk.iter().map(|(_, v)| *v).fold(f64::NEG_INFINITY, f64::max),
                }
            })
            .collect();
        series
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample::Sample;

    fn second(hits: u64, rt_us: u64) -> LabelSets {
        let mut set = KpiSet::default();
        for _ in 0..hits {
            set.record(&Sample { bytes: 1, ..Sample::fake(rt_us, 200) });
        }
        let mut sets = LabelSets::new();
        sets.insert("a".into(), set);
        sets
    }

    #[test]
    fn short_tests_keep_every_second() {
        let mut b = TimelineBuilder::new(3);
        for ts in 0..3 {
            b.push(ts, 2, &second(ts + 1, 1000));
        }
        let t = b.finish();
        assert_eq!(t.bucket_secs, 1);
        assert_eq!(t.points.len(), 3);
        assert_eq!(t.points[2].labels["a"].rps, 3.0);
        assert_eq!(t.points[2].vus, 2);
    }

    #[test]
    fn long_tests_are_thinned_with_an_envelope() {
        let mut b = TimelineBuilder::new(2500);
        for ts in 0..2500 {
            // One slow second in every span of three.
            let rt = if ts % 3 == 1 { 500_000 } else { 1000 };
            b.push(ts, 1, &second(if ts % 3 == 2 { 0 } else { 10 }, rt));
        }
        let t = b.finish();
        assert_eq!(t.bucket_secs, 3);
        assert!(t.points.len() as u64 <= MAX_POINTS);
        let p = &t.points[0].labels["a"];
        assert_eq!((p.rps_min, p.rps_max), (0.0, 10.0));
        assert!(p.p99_max.unwrap() > 0.4 && p.p99_min.unwrap() < 0.01, "{p:?}");
        // The span's p99 comes from the merged histogram: half its samples are slow.
        assert!(p.p99.unwrap() > 0.4);
        // The last span ends with the test.
        let last = t.points.last().unwrap();
        assert_eq!(last.ts + last.secs, 2500);
    }

    #[test]
    fn monitoring_is_thinned_and_summarised() {
        let values: Vec<(f64, f64)> = (0..3000).map(|i| (i as f64, (i % 10) as f64)).collect();
        let s = MonitorSeries::from_values("demo", "cpu", &values);
        assert_eq!(s.samples, 3000);
        assert_eq!((s.min, s.max, s.last), (Some(0.0), Some(9.0), Some(9.0)));
        assert!(s.points.len() as u64 <= MAX_POINTS);
        assert_eq!((s.points[0].min, s.points[0].max), (0.0, 2.0));
    }
}
