//! One label's key performance indicators over a span of time (one second, or the whole test so far),
//! named as Taurus names them: hits, succ, fail, avg-rt, avg-lt, avg-ct, stdev-rt, percentiles, rc codes, bytes.
//!
//! Response times are Taurus's: from the moment the request was sent. Open-model runs
//! (`arrival-rate`) also keep *corrected* response times, measured from the moment the request
//! was scheduled (`elapsed + lag`), so a stalled server shows in the figures instead of merely
//! slowing the senders down (coordinated omission). Without lag the two are the same. They
//! also keep the lag itself (send lateness) as a histogram, for lateness percentiles.
//!
//! [`KpiSet::record`] runs once per request: a successful sample whose response code the set has
//! seen before allocates nothing.

use std::collections::BTreeMap;

use super::hist::{Hist, MAX_VALUE as MAX_TRACKED_US};
use super::rc::{Code, RcCounts};
use super::stream::StreamKpis;
use crate::sample::{ErrorKind, Sample};

/// Aggregated figures for one label over one window. All times are kept in microseconds and
/// reported in seconds, as Taurus reports them.
#[derive(Clone, Debug)]
pub struct KpiSet {
    /// Samples recorded.
    pub hits: u64,
    /// Samples that succeeded (HTTP status below 400 and no error).
    pub succ: u64,
    /// Samples that failed.
    pub fail: u64,
    /// Sum of response times, µs.
    pub sum_rt_us: u64,
    /// Sum of squared response times, µs² (as f64: it overflows u64 quickly).
    pub sum_sq_rt_us: f64,
    /// Sum of latencies (time to first byte), µs.
    pub sum_lt_us: u64,
    /// Sum of connect times, µs.
    pub sum_ct_us: u64,
    /// Response bytes received (headers and body).
    pub bytes: u64,
    /// Highest number of active virtual users seen in the window.
    pub concurrency: u64,
    /// Response codes: the HTTP status, or the error kind for requests that got no response
    /// (spelled `"200"`, `"ConnectionReset"` by [`RcCounts::to_map`]).
    pub rc: RcCounts,
    /// Error messages with their counts.
    pub errors: BTreeMap<String, u64>,
    /// The response code of each error message (of the first sample that had it), for reports
    /// that show a message with its status code (Taurus's `sample-labels` JUnit, the HTML report).
    pub error_codes: BTreeMap<String, String>,
    /// Response times, µs, 3 significant digits (up to one hour; slower samples are clamped).
    pub hist: Hist,
    /// Sum of send lags (how late requests went out after their scheduled time), µs.
    pub sum_lag_us: u64,
    /// Sum of squared corrected response times, µs².
    pub sum_sq_crt_us: f64,
    /// Corrected response times (`elapsed + lag`), µs; `None` while no sample was late (then
    /// they equal `hist`, and closed-model runs never pay for a second histogram).
    pub hist_corrected: Option<Hist>,
    /// Send lags, µs; created with `hist_corrected` (on-time samples count as 0), so closed-model
    /// runs never pay for it. `None` alongside a `hist_corrected` means the lags are unknown (a
    /// `seconds.jsonl` written before lags were kept).
    pub hist_lag: Option<Hist>,
    /// Failed samples by [`ErrorKind`] (indexed by [`ErrorKind::index`]).
    pub error_kinds: [u64; ErrorKind::ALL.len()],
    /// Streamed responses' figures; `None` until a streamed sample arrives, so other tests never
    /// pay for them.
    pub stream: Option<Box<StreamKpis>>,
}

impl Default for KpiSet {
    fn default() -> Self {
        Self {
            hits: 0,
            succ: 0,
            fail: 0,
            sum_rt_us: 0,
            sum_sq_rt_us: 0.0,
            sum_lt_us: 0,
            sum_ct_us: 0,
            bytes: 0,
            concurrency: 0,
            rc: RcCounts::default(),
            errors: BTreeMap::new(),
            error_codes: BTreeMap::new(),
            hist: Hist::default(),
            sum_lag_us: 0,
            sum_sq_crt_us: 0.0,
            hist_corrected: None,
            hist_lag: None,
            error_kinds: [0; ErrorKind::ALL.len()],
            stream: None,
        }
    }
}

impl KpiSet {
    /// Adds one sample.
    pub fn record(&mut self, sample: &Sample) {
        let lag = sample.lag_us;
        if lag > 0 && self.hist_corrected.is_none() {
            // Until now every sample was on time: corrected times equalled response times, lags were 0.
            self.hist_corrected = Some(self.hist.clone());
            let mut lags = Hist::default();
            lags.record_n(0, self.hits);
            self.hist_lag = Some(lags);
        }
        self.hits += 1;
        let rt = sample.elapsed_us;
        self.sum_rt_us += rt;
        self.sum_sq_rt_us += (rt as f64) * (rt as f64);
        let crt = rt.saturating_add(lag);
        self.sum_lag_us += lag;
        self.sum_sq_crt_us += (crt as f64) * (crt as f64);
        if let Some(h) = &mut self.hist_corrected {
            h.record(crt.clamp(1, MAX_TRACKED_US));
        }
        if let Some(h) = &mut self.hist_lag {
            h.record(lag);
        }
        self.sum_lt_us += sample.ttfb_us;
        self.sum_ct_us += sample.connect_us;
        self.bytes += sample.bytes;
        self.hist.record(rt.clamp(1, MAX_TRACKED_US));
        self.rc.record(sample);
        if let Some(times) = &sample.stream {
            self.stream.get_or_insert_default().record(times);
        }
        match sample.error_kind {
            None => self.succ += 1,
            Some(kind) => {
                self.fail += 1;
                self.error_kinds[kind.index()] += 1;
            }
        }
        if let Some(message) = &sample.error {
            // A message seen before costs a lookup; only a new one is copied.
            match self.errors.get_mut(&**message) {
                Some(n) => *n += 1,
                None => {
                    // `errors` and `error_codes` have the same keys: a new message is new to both.
                    self.errors.insert(message.to_string(), 1);
                    self.error_codes.insert(message.to_string(), Code::of(sample).text().into_owned());
                }
            }
        }
    }

    /// Folds another set into this one (used for the overall label and for cumulative totals).
    pub fn merge(&mut self, other: &KpiSet) {
        self.merge_lag(other);
        self.hits += other.hits;
        self.succ += other.succ;
        self.fail += other.fail;
        self.sum_rt_us += other.sum_rt_us;
        self.sum_sq_rt_us += other.sum_sq_rt_us;
        self.sum_lt_us += other.sum_lt_us;
        self.sum_ct_us += other.sum_ct_us;
        self.bytes += other.bytes;
        self.concurrency = self.concurrency.max(other.concurrency);
        self.rc.merge(&other.rc);
        for (message, count) in &other.errors {
            *self.errors.entry(message.clone()).or_default() += count;
        }
        for (message, rc) in &other.error_codes {
            self.error_codes.entry(message.clone()).or_insert_with(|| rc.clone());
        }
        self.sum_lag_us += other.sum_lag_us;
        self.sum_sq_crt_us += other.sum_sq_crt_us;
        for (mine, theirs) in self.error_kinds.iter_mut().zip(other.error_kinds) {
            *mine += theirs;
        }
        match (&mut self.hist_corrected, &other.hist_corrected) {
            (Some(mine), theirs) => mine.add(theirs.as_ref().unwrap_or(&other.hist)),
            (None, Some(theirs)) => {
                let mut h = self.hist.clone();
                h.add(theirs);
                self.hist_corrected = Some(h);
            }
            (None, None) => {}
        }
        self.hist.add(&other.hist);
        if let Some(theirs) = &other.stream {
            self.stream.get_or_insert_default().merge(theirs);
        }
    }

    /// Merges the lag histograms; runs before `hits` and `hist_corrected` change. A side without
    /// late samples adds its hits as zero lags; a side whose lags are unknown makes them unknown.
    fn merge_lag(&mut self, other: &KpiSet) {
        if self.hist_lag.is_none() && other.hist_lag.is_none() {
            return;
        }
        if !(self.lags_known() && other.lags_known()) {
            self.hist_lag = None;
            return;
        }
        let mine = self.hist_lag.get_or_insert_with(|| {
            let mut h = Hist::default();
            h.record_n(0, self.hits);
            h
        });
        match &other.hist_lag {
            Some(theirs) => mine.add(theirs),
            None => mine.record_n(0, other.hits),
        }
    }

    /// Whether every sample's lag is in `hist_lag` (or every sample was on time).
    fn lags_known(&self) -> bool {
        self.hist_lag.is_some() || self.hist_corrected.is_none()
    }

    fn mean_secs(&self, sum_us: u64) -> Option<f64> {
        (self.hits > 0).then(|| sum_us as f64 / self.hits as f64 / 1e6)
    }

    /// Average response time, seconds; `None` without samples.
    pub fn avg_rt(&self) -> Option<f64> {
        self.mean_secs(self.sum_rt_us)
    }

    /// Average latency (time to first byte), seconds.
    pub fn avg_lt(&self) -> Option<f64> {
        self.mean_secs(self.sum_lt_us)
    }

    /// Average connect time, seconds.
    pub fn avg_ct(&self) -> Option<f64> {
        self.mean_secs(self.sum_ct_us)
    }

    /// Population standard deviation of response times, seconds.
    pub fn stdev_rt(&self) -> Option<f64> {
        if self.hits == 0 {
            return None;
        }
        let n = self.hits as f64;
        let mean = self.sum_rt_us as f64 / n;
        let var = (self.sum_sq_rt_us / n - mean * mean).max(0.0);
        Some(var.sqrt() / 1e6)
    }

    /// Response-time percentile (`level` in 0..=100), seconds; computed from the histogram for any level.
    pub fn percentile(&self, level: f64) -> Option<f64> {
        (self.hits > 0).then(|| self.hist.value_at_quantile(level / 100.0) as f64 / 1e6)
    }

    /// Average corrected response time (from the scheduled send time), seconds.
    pub fn avg_rt_corrected(&self) -> Option<f64> {
        self.mean_secs(self.sum_rt_us + self.sum_lag_us)
    }

    /// Corrected response-time percentile (`level` in 0..=100), seconds.
    pub fn percentile_corrected(&self, level: f64) -> Option<f64> {
        let h = self.hist_corrected.as_ref().unwrap_or(&self.hist);
        (self.hits > 0).then(|| h.value_at_quantile(level / 100.0) as f64 / 1e6)
    }

    /// Highest corrected response time, seconds.
    pub fn max_rt_corrected(&self) -> Option<f64> {
        let h = self.hist_corrected.as_ref().unwrap_or(&self.hist);
        (self.hits > 0).then(|| h.max() as f64 / 1e6)
    }

    /// Population standard deviation of corrected response times, seconds.
    pub fn stdev_rt_corrected(&self) -> Option<f64> {
        if self.hits == 0 {
            return None;
        }
        let n = self.hits as f64;
        let mean = (self.sum_rt_us + self.sum_lag_us) as f64 / n;
        Some((self.sum_sq_crt_us / n - mean * mean).max(0.0).sqrt() / 1e6)
    }

    /// Average send lag (how late requests went out after their scheduled time), seconds.
    pub fn avg_lag(&self) -> Option<f64> {
        self.mean_secs(self.sum_lag_us)
    }

    /// Send-lag percentile (`level` in 0..=100), seconds: 0 when no sample was late, `None`
    /// without samples or when the lags are unknown.
    pub fn lag_percentile(&self, level: f64) -> Option<f64> {
        self.lag_figure(|h| h.value_at_quantile(level / 100.0))
    }

    /// Largest send lag, seconds, known and absent as for [`KpiSet::lag_percentile`].
    pub fn max_lag(&self) -> Option<f64> {
        self.lag_figure(Hist::max)
    }

    fn lag_figure(&self, read: impl FnOnce(&Hist) -> u64) -> Option<f64> {
        if self.hits == 0 {
            return None;
        }
        match (&self.hist_lag, &self.hist_corrected) {
            (Some(h), _) => Some(read(h) as f64 / 1e6),
            (None, None) => Some(0.0),
            (None, Some(_)) => None,
        }
    }

    /// Error messages with the response code of their first sample (`""` if unknown) and their
    /// count, in message order.
    pub fn error_list(&self) -> impl Iterator<Item = (&str, &str, u64)> + '_ {
        self.errors.iter().map(|(m, n)| (m.as_str(), self.error_codes.get(m).map_or("", String::as_str), *n))
    }

    /// [`KpiSet::error_list`], most frequent first.
    pub fn errors_by_count(&self) -> Vec<(&str, &str, u64)> {
        let mut errors: Vec<_> = self.error_list().collect();
        errors.sort_by_key(|e| std::cmp::Reverse(e.2));
        errors
    }

    /// Failed samples of one kind.
    pub fn failures_of(&self, kind: ErrorKind) -> u64 {
        self.error_kinds[kind.index()]
    }

    /// Fastest and slowest response, seconds.
    pub fn min_max_rt(&self) -> Option<(f64, f64)> {
        (self.hits > 0).then(|| (self.hist.min() as f64 / 1e6, self.hist.max() as f64 / 1e6))
    }

    /// Samples whose response code matches a Taurus `rc` pattern (`fnmatch` with `?` and `*`).
    pub fn rc_matching(&self, pattern: &str) -> u64 {
        self.rc.iter().filter(|(code, _)| fnmatch(pattern, &code.text())).map(|(_, n)| n).sum()
    }
}

/// Shell-style match with `?` (one character) and `*` (any run), as Python's `fnmatch` does for rc patterns.
pub fn fnmatch(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let (mut star, mut mark) = (None, 0);
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some(pi);
            mark = ti;
            pi += 1;
        } else if let Some(s) = star {
            pi = s + 1;
            mark += 1;
            ti = mark;
        } else {
            return false;
        }
    }
    while pi < p.len() && p[pi] == '*' {
        pi += 1;
    }
    pi == p.len()
}

/// KPIs of every label in one window; the empty label `""` holds the overall figures.
pub type LabelSets = BTreeMap<String, KpiSet>;

/// The label under which overall figures are kept, as in Taurus.
pub const OVERALL: &str = "";

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(elapsed_ms: u64, lag_ms: u64, error_kind: Option<ErrorKind>) -> Sample {
        let status = if error_kind.is_some() { 0 } else { 200 };
        Sample { error_kind, lag_us: lag_ms * 1000, ..Sample::fake(elapsed_ms * 1000, status) }
    }

    #[test]
    fn corrected_times_add_the_lag_and_merge() {
        let mut early = KpiSet::default();
        for _ in 0..3 {
            early.record(&sample(100, 0, None));
        }
        assert!(early.hist_corrected.is_none());
        assert_eq!(early.avg_rt_corrected(), early.avg_rt());
        assert_eq!(early.percentile_corrected(99.0), early.percentile(99.0));
        let mut late = KpiSet::default();
        late.record(&sample(100, 0, None));
        late.record(&sample(100, 900, Some(ErrorKind::Timeout)));
        assert!((late.avg_rt().unwrap() - 0.1).abs() < 1e-9);
        assert!((late.avg_rt_corrected().unwrap() - 0.55).abs() < 1e-9);
        assert!((late.avg_lag().unwrap() - 0.45).abs() < 1e-9);
        assert!((late.percentile_corrected(100.0).unwrap() - 1.0).abs() < 0.001);
        assert!((late.stdev_rt_corrected().unwrap() - 0.45).abs() < 1e-6);
        assert_eq!(late.failures_of(ErrorKind::Timeout), 1);
        // Merging a late set into one without lag keeps the earlier samples as they were.
        early.merge(&late);
        assert_eq!(early.hits, 5);
        let corrected = early.hist_corrected.as_ref().unwrap();
        assert_eq!(corrected.len(), 5);
        assert!((early.percentile_corrected(100.0).unwrap() - 1.0).abs() < 0.001);
        assert!((early.percentile(100.0).unwrap() - 0.1).abs() < 0.001);
        let mut other = KpiSet::default();
        other.merge(&early);
        other.merge(&KpiSet::default());
        assert_eq!(other.hist_corrected.as_ref().unwrap().len(), 5);
        assert_eq!(other.failures_of(ErrorKind::Timeout), 1);
    }

    #[test]
    fn lags_are_kept_only_once_a_sample_is_late() {
        let mut set = KpiSet::default();
        set.record(&sample(10, 0, None));
        assert!(set.hist_lag.is_none(), "closed model and on-time samples pay nothing");
        assert_eq!((set.lag_percentile(99.0), set.max_lag()), (Some(0.0), Some(0.0)));
        set.record(&sample(10, 0, None));
        set.record(&sample(10, 40, None));
        set.record(&sample(10, 0, None));
        // The two samples before the first late one count as on time.
        assert_eq!(set.hist_lag.as_ref().map(Hist::len), Some(4));
        assert_eq!(set.lag_percentile(75.0), Some(0.0));
        assert!((set.lag_percentile(100.0).unwrap() - 0.04).abs() < 0.0001);
        assert!((set.max_lag().unwrap() - 0.04).abs() < 0.0001);
        assert_eq!(KpiSet::default().lag_percentile(50.0), None);

        // Merging: an on-time side adds zeros, whichever side it is on.
        let mut on_time = KpiSet::default();
        on_time.record(&sample(10, 0, None));
        let mut merged = on_time.clone();
        merged.merge(&set);
        let mut other_way = set.clone();
        other_way.merge(&on_time);
        for m in [&merged, &other_way] {
            assert_eq!(m.hist_lag.as_ref().map(Hist::len), Some(5));
            assert_eq!(m.hist_lag, merged.hist_lag);
            assert!((m.max_lag().unwrap() - 0.04).abs() < 0.0001);
        }
        let mut nothing_late = on_time.clone();
        nothing_late.merge(&on_time);
        assert!(nothing_late.hist_lag.is_none());

        // A set whose lags are unknown (read from an older file) makes the merge unknown too.
        let mut unknown = set.clone();
        unknown.hist_lag = None;
        assert_eq!(unknown.lag_percentile(99.0), None);
        for (mut a, b) in [(unknown.clone(), &set), (set.clone(), &unknown), (on_time.clone(), &unknown)] {
            a.merge(b);
            assert_eq!((a.lag_percentile(99.0), a.max_lag()), (None, None));
            assert!(a.avg_lag().unwrap() > 0.0, "the mean is still known");
        }
    }

    #[test]
    fn response_codes_and_messages_are_counted_per_sample() {
        let mut set = KpiSet::default();
        let mut failed = sample(10, 0, Some(ErrorKind::Reset));
        failed.error = Some("connection reset".into());
        let mut not_found = sample(10, 0, Some(ErrorKind::Status));
        not_found.status = 404;
        not_found.error = Some("404 Not Found".into());
        for s in [&failed, &not_found, &sample(10, 0, None), &failed, &not_found, &not_found] {
            set.record(s);
        }
        let rc: Vec<(String, u64)> = set.rc.to_map().into_iter().collect();
        assert_eq!(rc, [("200".into(), 1), ("404".into(), 3), ("ConnectionReset".into(), 2)]);
        assert_eq!((set.succ, set.fail, set.failures_of(ErrorKind::Status)), (1, 5, 3));
        assert_eq!(set.errors["404 Not Found"], 3);
        assert_eq!(set.error_codes["404 Not Found"], "404");
        assert_eq!(set.error_codes["connection reset"], "ConnectionReset");
        assert_eq!((set.rc_matching("4??"), set.rc_matching("Conn*"), set.rc_matching("5*")), (3, 2, 0));
        let mut twice = set.clone();
        twice.merge(&set);
        assert_eq!(twice.rc.get("404"), Some(6));
        assert_eq!(twice.errors["connection reset"], 4);
    }

    #[test]
    fn fnmatch_follows_python() {
        assert!(fnmatch("4??", "404"));
        assert!(fnmatch("4*", "4"));
        assert!(!fnmatch("4??", "40"));
        assert!(fnmatch("*", ""));
        assert!(!fnmatch("5??", "404"));
    }
}
