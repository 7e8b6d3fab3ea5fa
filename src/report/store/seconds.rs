//! `seconds.jsonl`: one line per closed second with every label's complete aggregate.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::{read_lines, Lines};
use crate::aggregate::{Hist, KpiSet, LabelSets, Second, StreamKpis, OVERALL};
use crate::report::timeline::{chart_labels, TimelineBuilder};
use crate::report::{Error, TestReport};

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
    /// Streamed responses' figures, when any sample was streamed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    stream: Option<StreamRecord>,
}

/// The figures of a set's streamed samples ([`StreamKpis`]), histograms encoded like `hist`.
#[derive(Serialize, Deserialize)]
struct StreamRecord {
    samples: u64,
    sum_ttft_us: u64,
    ttft: String,
    gaps: u64,
    sum_itl_us: u64,
    itl: String,
    events: u64,
    tokens: u64,
    token_samples: u64,
    token_time_us: u64,
}

impl StreamRecord {
    fn new(k: &StreamKpis) -> Result<Self, Error> {
        Ok(StreamRecord {
            samples: k.samples,
            sum_ttft_us: k.sum_ttft_us,
            ttft: encode_hist(&k.ttft)?,
            gaps: k.gaps,
            sum_itl_us: k.sum_itl_us,
            itl: encode_hist(&k.itl)?,
            events: k.events,
            tokens: k.tokens,
            token_samples: k.token_samples,
            token_time_us: k.token_time_us,
        })
    }

    fn into_kpis(self) -> Result<StreamKpis, String> {
        Ok(StreamKpis {
            samples: self.samples,
            sum_ttft_us: self.sum_ttft_us,
            ttft: Hist::decode(&self.ttft)?,
            gaps: self.gaps,
            sum_itl_us: self.sum_itl_us,
            itl: Hist::decode(&self.itl)?,
            events: self.events,
            tokens: self.tokens,
            token_samples: self.token_samples,
            token_time_us: self.token_time_us,
        })
    }
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

fn encode_hist(hist: &Hist) -> Result<String, Error> {
    hist.encode().map_err(Error::Histogram)
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
                .error_list()
                .map(|(message, rc, count)| ErrorRecord { message: message.into(), rc: rc.into(), count })
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
            stream: set.stream.as_deref().map(StreamRecord::new).transpose()?,
        })
    }

    fn into_set(self, vus: u64) -> Result<KpiSet, String> {
        let mut set = KpiSet { hist: Hist::decode(&self.hist)?, ..KpiSet::default() };
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
            set.hist_corrected = Some(Hist::decode(&c.hist)?);
            if let Some(lag) = &c.lag {
                set.hist_lag = Some(Hist::decode(lag)?);
            }
            set.sum_lag_us = c.sum_lag_us;
            set.sum_sq_crt_us = c.sum_sq_crt_us;
        }
        if let Some(stream) = self.stream {
            set.stream = Some(Box::new(stream.into_kpis()?));
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

/// Reads `seconds.jsonl` into the test's totals and timeline; returns the Unix time of the last
/// second. Two passes over the file, one line at a time: the totals first, which decide the
/// labels the charts draw, then the timeline for those alone, so neither pass holds more than a
/// second of the file and the timeline does not grow with the number of labels.
pub(super) fn read(path: &Path, test: &mut TestReport) -> Result<Option<u64>, Error> {
    let mut last_unix = None;
    let mut seconds = 0u64;
    let mut bad = Vec::new();
    let lines = read_lines(path, &mut test.notes, |line, record: SecondRecord| {
        for (label, set) in second_sets(path, line, record, &mut bad) {
            test.totals.entry(label).or_default().merge(&set);
        }
        seconds += 1;
    })?;
    test.notes.extend(bad);
    let mut timeline = TimelineBuilder::new(lines as u64).only(chart_labels(&test.totals).0);
    read_lines(path, &mut Vec::new(), |line, record: SecondRecord| {
        let (ts, unix_ts, vus) = (record.ts, record.unix_ts, record.vus);
        timeline.push(ts, vus, &second_sets(path, line, record, &mut Vec::new()));
        last_unix = Some(unix_ts);
    })?;
    // A test that did not finish has no measured load time: the seconds recorded stand for it.
    if test.load_secs <= 0.0 {
        test.load_secs = seconds as f64;
    }
    test.timeline = timeline.finish();
    Ok(last_unix)
}

/// Hands every second of `seconds.jsonl` to `each`, in file order: the Unix time it started, its
/// active virtual users and its figures per label (the overall figures under `""`). Unreadable
/// lines and histograms are skipped, as when the test is read.
pub fn each_second(path: &Path, mut each: impl FnMut(u64, u64, &LabelSets)) -> Result<(), Error> {
    each_timed_second(path, |second| each(second.unix_ts, second.users, &second.current))
}

/// [`each_second`] with each second whole: its number since the test started too.
pub fn each_timed_second(path: &Path, mut each: impl FnMut(Second)) -> Result<(), Error> {
    read_lines(path, &mut Vec::new(), |line, record: SecondRecord| {
        let (ts, unix_ts, users) = (record.ts, record.unix_ts, record.vus);
        each(Second { ts, unix_ts, users, current: second_sets(path, line, record, &mut Vec::new()) });
    })
    .map(|_| ())
}

/// One line's figures per label, with the overall figures under `""`; a bad histogram is noted.
fn second_sets(path: &Path, line: usize, record: SecondRecord, notes: &mut Vec<String>) -> LabelSets {
    let mut current = LabelSets::new();
    let mut overall = KpiSet::default();
    for (label, set) in record.labels {
        match set.into_set(record.vus) {
            Ok(set) => {
                overall.merge(&set);
                current.insert(label, set);
            }
            Err(e) => {
                notes.push(format!("{}: line {line}, label `{label}`: bad histogram ({e}); skipped", path.display()))
            }
        }
    }
    if overall.hits > 0 {
        overall.concurrency = record.vus;
        current.insert(OVERALL.to_string(), overall);
    }
    current
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::io::Write as _;

    use super::*;
    use crate::report::store::{load_test, Completion, SECONDS_FILE};
    use crate::sample::Sample;

    fn sample(label: u32, rt_us: u64, status: u16) -> Sample {
        let error = (status >= 400).then(|| format!("{status} Not Found").into());
        Sample { label, connect_us: 10, ttfb_us: rt_us / 2, error, bytes: 100, ..Sample::fake(rt_us, status) }
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
        Second { ts, unix_ts: 1_700_000_000 + ts, current, users: 3 }
    }
    /// 100 labels over 20 seconds: the totals keep every label, the timeline only the labels the
    /// charts draw (the busiest, by hits) and the overall figures, so its size does not grow with
    /// the number of labels.
    #[test]
    fn the_timeline_keeps_only_the_labels_the_charts_draw() {
        use crate::report::timeline::MAX_CHART_LABELS;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(SECONDS_FILE);
        let mut log = SecondsLog::create(&path).unwrap();
        let names: Vec<String> = (0..100).map(|i| format!("l{i:03}")).collect();
        for ts in 0..20u64 {
            // Label i gets i + 1 samples a second: the busiest are the last eight.
            let samples: Vec<(&str, u64, u16)> =
                names.iter().enumerate().flat_map(|(i, n)| (0..=i).map(move |_| (n.as_str(), 1000, 200))).collect();
            log.write(&second(ts, &samples), 3).unwrap();
        }
        let test = load_test(dir.path(), "t", Path::new("t.yaml")).unwrap();
        assert_eq!(test.totals.len(), 101, "every label and the overall figures");
        let busiest: BTreeSet<&str> = names[100 - MAX_CHART_LABELS..].iter().map(String::as_str).collect();
        assert_eq!(test.timeline.points.len(), 20);
        for point in &test.timeline.points {
            let kept: BTreeSet<&str> = point.labels.keys().map(String::as_str).filter(|l| !l.is_empty()).collect();
            assert_eq!(kept, busiest);
            assert_eq!(point.labels[OVERALL].hits, 5050);
        }
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
    fn stream_figures_round_trip_and_only_streamed_labels_have_them() {
        use crate::sample::StreamTimes;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(SECONDS_FILE);
        let mut log = SecondsLog::create(&path).unwrap();
        let mut want = KpiSet::default();
        for ts in 0..3u64 {
            let mut s = second(ts, &[("plain", 1000, 200)]);
            let mut set = KpiSet::default();
            for i in 0..40u64 {
                let times = StreamTimes {
                    first_us: Some(50_000 + i * 10 + ts),
                    last_us: 250_000,
                    gaps_us: vec![20_000 + i as u32; 10],
                    events: 11,
                    tokens: Some(10),
                };
                set.record(&Sample { stream: Some(Box::new(times)), ..Sample::fake(260_000, 200) });
            }
            want.merge(&set);
            s.current.insert("streamed".into(), set);
            log.write(&s, 2).unwrap();
        }
        let test = load_test(dir.path(), "t", Path::new("t.yaml")).unwrap();
        assert!(test.notes.is_empty(), "{:?}", test.notes);
        assert_eq!(test.totals["streamed"].stream, want.stream);
        assert!(test.totals["plain"].stream.is_none());
        let overall = test.totals[OVERALL].stream.as_deref().unwrap();
        assert_eq!((overall.samples, overall.events, overall.tokens), (120, 1320, 1200));
        assert!((overall.tokens_per_s().unwrap() - 40.0).abs() < 1e-9);
        for line in std::fs::read_to_string(&path).unwrap().lines() {
            let v: serde_json::Value = serde_json::from_str(line).unwrap();
            assert!(v["labels"]["plain"].get("stream").is_none() && v["labels"]["streamed"]["stream"].is_object());
        }
    }
}
