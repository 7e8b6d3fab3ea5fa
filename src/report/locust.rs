//! Locust's CSV results, for teams that keep Locust stats files as baselines: every test writes
//! `<test>_stats.csv` and `<test>_stats_history.csv` in its folder, in the column layout of the
//! files `locust --csv <test>` writes (Locust 2.x's layout, checked against Locust 2.47.0's output).
//!
//! - `<test>_stats.csv`: one row per label (sorted by name, as Locust sorts its entries), then
//!   the `Aggregated` row. Written when the test ends, from its cumulative [`KpiSet`]s, and again
//!   by `suite report` from the folder.
//! - `<test>_stats_history.csv`: what `locust --csv` writes without `--csv-full-history`: one
//!   `Aggregated` row per interval. Locust's interval is its CSV writer's tick; here it is one row
//!   per closed second, streamed as the test runs (from the same sets as `seconds.jsonl`), and
//!   rewritten whole by `suite report` from `seconds.jsonl`. Per-label seconds are in `kpi.csv`.
//!
//! The figures, as Locust computes and prints them:
//! - Response times are milliseconds. Average, min and max are floats printed as Python prints a
//!   float (`1.5395154576788237`, `21.0`); min and max are those of suite's HDR histogram, as
//!   `summary.json` gives them (the ends of their buckets: exact below 2.048 ms, within 0.1 %
//!   above, so a 3 ms maximum shows as `3.001`).
//! - Percentiles (and the median) are Locust's: response times rounded as Locust rounds them
//!   (to 1 ms below 100 ms, 10 ms below 1 s, 100 ms below 10 s, 1 s above; halves to even), the
//!   value at rank `int(n × p)` of the sorted times, written as integers. The values rounded are
//!   the middles of suite's HDR buckets. The median is kept between min and max, which then
//!   shows as the float (Locust does the same). A row without requests has `N/A` percentiles.
//! - `Requests/s` and `Failures/s` of `_stats.csv` are counts over the test's load time (Locust
//!   divides by the time from its start to its last request). In the history they are Locust's
//!   *current* rates, `%f` with 6 decimals: the mean per second over the last 10 closed seconds
//!   (fewer at the start); the history's percentiles are cumulative, as Locust's default history.
//! - `Average Content Size` is the mean bytes received per request: suite counts headers and
//!   body, Locust the body only.
//! - `Type` is Locust's request type, the HTTP method. Samples and labels carry no method in
//!   suite (a label may name requests of several methods), so it is written empty, as Locust
//!   writes it for its `Aggregated` row; nothing is made up. `User Count` is the second's highest
//!   number of active virtual users; `Timestamp` the Unix second at which the row's second ended.
//!
//! Rows are CSV as Python's `csv` module writes them: quoted only when needed, CRLF line ends.
//! Labels are the masked labels every report shows (secrets are masked where labels are made).

use std::collections::VecDeque;
use std::fs::File;
use std::io::{BufWriter, Write as _};
use std::path::Path;

use super::{store, Error, TestReport};
use crate::aggregate::{Hist, KpiSet, LabelSets, OVERALL};
use crate::criteria::python_float;

/// The header row of `_stats.csv`, as Locust 2.47 writes it.
pub const STATS_HEADER: &str = "Type,Name,Request Count,Failure Count,Median Response Time,Average Response Time,\
Min Response Time,Max Response Time,Average Content Size,Requests/s,Failures/s,\
50%,66%,75%,80%,90%,95%,98%,99%,99.9%,99.99%,100%";

/// The header row of `_stats_history.csv`, as Locust 2.47 writes it.
pub const HISTORY_HEADER: &str = "Timestamp,User Count,Type,Name,Requests/s,Failures/s,\
50%,66%,75%,80%,90%,95%,98%,99%,99.9%,99.99%,100%,\
Total Request Count,Total Failure Count,Total Median Response Time,Total Average Response Time,\
Total Min Response Time,Total Max Response Time,Total Average Content Size";

/// The name of Locust's row of all requests.
pub const AGGREGATED: &str = "Aggregated";

/// Locust's reported percentiles (`PERCENTILES_TO_REPORT`), as fractions.
const PERCENTILES: [f64; 11] = [0.50, 0.66, 0.75, 0.80, 0.90, 0.95, 0.98, 0.99, 0.999, 0.9999, 1.0];

/// Seconds the history's current rates are averaged over (Locust's window is 10 s).
const RATE_WINDOW: usize = 10;

/// `<test>_stats.csv`.
pub fn stats_file(test: &str) -> String {
    format!("{test}_stats.csv")
}

/// `<test>_stats_history.csv`.
pub fn history_file(test: &str) -> String {
    format!("{test}_stats_history.csv")
}

fn writer(file: File) -> csv::Writer<BufWriter<File>> {
    csv::WriterBuilder::new().terminator(csv::Terminator::CRLF).from_writer(BufWriter::new(file))
}

/// A response time in µs rounded as Locust keeps it (`bucket_response_time`), in ms: to 1 ms
/// below 100 ms, 10 ms below 1 s, 100 ms below 10 s, 1 s above; a half goes to the even side
/// (Python's `round`). Whole µs in ms are exact at the halves, so integers give Python's result.
fn locust_ms(us: u64) -> u64 {
    let step = match us {
        0..100_000 => 1_000,
        100_000..1_000_000 => 10_000,
        1_000_000..10_000_000 => 100_000,
        _ => 1_000_000,
    };
    let (q, r) = (us / step, us % step);
    let up = r > step / 2 || (r == step / 2 && q % 2 == 1);
    (q + u64::from(up)) * step / 1_000
}

/// Response times as Locust holds them: `(rounded ms, count)`, slowest first.
struct Rounded(Vec<(u64, u64)>);

impl Rounded {
    fn new(hist: &Hist) -> Self {
        let mut out: Vec<(u64, u64)> = Vec::new();
        for (us, count) in hist.bucket_medians().into_iter().rev() {
            let ms = locust_ms(us);
            match out.last_mut() {
                Some((last, n)) if *last == ms => *n += count,
                _ => out.push((ms, count)),
            }
        }
        Rounded(out)
    }

    /// Locust's percentile of `n` requests (`calculate_response_time_percentile`): from the
    /// slowest down, the first time with at most `int(n × p)` requests below it; 0 without any.
    fn percentile(&self, n: u64, p: f64) -> u64 {
        let rank = (n as f64 * p) as u64;
        let mut processed = 0u64;
        for &(ms, count) in &self.0 {
            processed += count;
            if n.saturating_sub(processed) <= rank {
                return ms;
            }
        }
        0
    }
}

/// A float of ms from µs.
fn ms(us: f64) -> f64 {
    us / 1_000.0
}

/// The columns Locust derives from one entry's cumulative figures.
struct Figures {
    count: String,
    failures: String,
    median: String,
    average: String,
    min: String,
    max: String,
    content: String,
    percentiles: Vec<String>,
}

impl Figures {
    fn new(set: &KpiSet) -> Self {
        let n = set.hits;
        if n == 0 {
            // Locust's entry without requests: 0 and 0.0 where its code divides, N/A percentiles.
            return Figures {
                count: "0".into(),
                failures: set.fail.to_string(),
                median: "0".into(),
                average: "0.0".into(),
                min: "0".into(),
                max: "0".into(),
                content: "0".into(),
                percentiles: vec!["N/A".into(); PERCENTILES.len()],
            };
        }
        let rounded = Rounded::new(&set.hist);
        let (min, max) = (ms(set.hist.min() as f64), ms(set.hist.max() as f64));
        let median = rounded.percentile(n, 0.5) as f64;
        let median = if median > max {
            python_float(max)
        } else if median < min {
            python_float(min)
        } else {
            format!("{median}")
        };
        Figures {
            count: n.to_string(),
            failures: set.fail.to_string(),
            median,
            average: python_float(ms(set.sum_rt_us as f64) / n as f64),
            min: if min > 0.0 { python_float(min) } else { "0".into() },
            max: python_float(max),
            content: python_float(set.bytes as f64 / n as f64),
            percentiles: PERCENTILES.iter().map(|p| rounded.percentile(n, *p).to_string()).collect(),
        }
    }
}

/// A count per second over `secs`, as Locust's `total_rps` prints it (0.0 without time).
fn per_sec(count: u64, secs: f64) -> String {
    python_float(if secs > 0.0 { count as f64 / secs } else { 0.0 })
}

/// One `_stats.csv` row.
fn stats_row(name: &str, set: &KpiSet, load_secs: f64) -> Vec<String> {
    let f = Figures::new(set);
    let mut row = vec![String::new(), name.to_string(), f.count, f.failures, f.median, f.average, f.min, f.max];
    row.extend([f.content, per_sec(set.hits, load_secs), per_sec(set.fail, load_secs)]);
    row.extend(f.percentiles);
    row
}

/// Writes `_stats.csv`: a row per label of `totals` (`""` holds the overall figures), then the
/// `Aggregated` row; rates per `load_secs`.
pub fn write_stats(path: &Path, totals: &LabelSets, load_secs: f64) -> std::io::Result<()> {
    let mut out = writer(File::create(path)?);
    out.write_record(STATS_HEADER.split(','))?;
    for (label, set) in totals.iter().filter(|(l, _)| !l.is_empty()) {
        out.write_record(stats_row(label, set, load_secs))?;
    }
    let empty = KpiSet::default();
    out.write_record(stats_row(AGGREGATED, totals.get(OVERALL).unwrap_or(&empty), load_secs))?;
    out.flush()?;
    out.into_inner().map_err(|e| e.into_error())?.flush()
}

/// `_stats_history.csv`, a row per closed second: keeps the overall cumulative figures and the
/// last seconds' counts for the current rates.
pub struct History {
    out: csv::Writer<BufWriter<File>>,
    total: KpiSet,
    /// `(requests, failures)` of the last [`RATE_WINDOW`] seconds, oldest first.
    recent: VecDeque<(u64, u64)>,
}

impl History {
    /// Creates the file with its header.
    pub fn create(path: &Path) -> std::io::Result<Self> {
        let mut out = writer(File::create(path)?);
        out.write_record(HISTORY_HEADER.split(','))?;
        out.flush()?;
        Ok(History { out, total: KpiSet::default(), recent: VecDeque::with_capacity(RATE_WINDOW) })
    }

    /// Appends the row of the second that started at `unix_ts`, with `users` active virtual
    /// users and `current` its sets (the overall figures under `""`), and flushes it.
    pub fn second(&mut self, unix_ts: u64, users: u64, current: &LabelSets) -> std::io::Result<()> {
        let (hits, fail) = current.get(OVERALL).map_or((0, 0), |s| (s.hits, s.fail));
        if let Some(set) = current.get(OVERALL) {
            self.total.merge(set);
        }
        if self.recent.len() == RATE_WINDOW {
            self.recent.pop_front();
        }
        self.recent.push_back((hits, fail));
        let secs = self.recent.len() as f64;
        let rate =
            |pick: fn(&(u64, u64)) -> u64| format!("{:.6}", self.recent.iter().map(pick).sum::<u64>() as f64 / secs);
        let f = Figures::new(&self.total);
        let mut row = vec![(unix_ts + 1).to_string(), users.to_string(), String::new(), AGGREGATED.to_string()];
        row.extend([rate(|r| r.0), rate(|r| r.1)]);
        row.extend(f.percentiles);
        row.extend([f.count, f.failures, f.median, f.average, f.min, f.max, f.content]);
        self.out.write_record(&row)?;
        self.out.flush()
    }
}

/// `suite report`'s Locust files of one test read back from `dir`, for the tests the runner
/// writes them for: `_stats.csv` from its totals when the test streamed seconds or reached its
/// end (it has `final_stats.csv`, written at the same time), and `_stats_history.csv` again from
/// `seconds.jsonl`. A test that failed before it could run has neither, as in the run.
pub fn rebuild(dir: &Path, test: &TestReport) -> Result<(), Error> {
    let seconds = dir.join(store::SECONDS_FILE);
    if !(seconds.is_file() || dir.join(super::csv::FINAL_STATS_FILE).is_file()) {
        return Ok(());
    }
    let stats = dir.join(stats_file(&test.name));
    store::write_atomic_with(&stats, |tmp| write_stats(tmp, &test.totals, test.load_secs))?;
    if !seconds.is_file() {
        return Ok(());
    }
    let history = dir.join(history_file(&test.name));
    let mut read = Ok(());
    let written = store::write_atomic_with(&history, |tmp| {
        let mut log = History::create(tmp)?;
        let mut written = Ok(());
        read = store::each_second(&seconds, |unix_ts, users, current| {
            if written.is_ok() {
                written = log.second(unix_ts, users, current);
            }
        });
        match &read {
            Ok(()) => written,
            Err(e) => Err(std::io::Error::other(e.to_string())),
        }
    });
    read?;
    written
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample::Sample;

    /// The header rows Locust 2.47.0 wrote (`locust --headless --csv res --csv-full-history`
    /// against demo-target; the same with `--csv` alone).
    const LOCUST_STATS_HEADER: &str = "Type,Name,Request Count,Failure Count,Median Response Time,Average Response Time,Min Response Time,Max Response Time,Average Content Size,Requests/s,Failures/s,50%,66%,75%,80%,90%,95%,98%,99%,99.9%,99.99%,100%";
    const LOCUST_HISTORY_HEADER: &str = "Timestamp,User Count,Type,Name,Requests/s,Failures/s,50%,66%,75%,80%,90%,95%,98%,99%,99.9%,99.99%,100%,Total Request Count,Total Failure Count,Total Median Response Time,Total Average Response Time,Total Min Response Time,Total Max Response Time,Total Average Content Size";

    fn set(samples: &[(u64, u16, u64)]) -> KpiSet {
        let mut set = KpiSet::default();
        for &(rt_us, status, bytes) in samples {
            set.record(&Sample { bytes, ..Sample::fake(rt_us, status) });
        }
        set
    }

    fn totals(labels: &[(&str, KpiSet)]) -> LabelSets {
        let mut totals = LabelSets::new();
        let mut overall = KpiSet::default();
        for (label, set) in labels {
            overall.merge(set);
            totals.insert(label.to_string(), set.clone());
        }
        if overall.hits > 0 {
            totals.insert(OVERALL.into(), overall);
        }
        totals
    }

    fn read(path: &Path) -> String {
        std::fs::read_to_string(path).unwrap()
    }

    #[test]
    fn floats_print_as_python_prints_them() {
        for (v, text) in [
            (21.0, "21.0"),
            (0.0, "0.0"),
            (1.5395154576788237, "1.5395154576788237"),
            (35.376479804138704, "35.376479804138704"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (0.000015, "1.5e-05"),
            (1e16, "1e+16"),
            (123456789012345.6, "123456789012345.6"),
            (300.958904109589, "300.958904109589"),
        ] {
            assert_eq!(python_float(v), text, "{v}");
        }
    }

    #[test]
    fn times_are_rounded_as_locust_rounds_them() {
        for (us, ms) in [
            (0, 0),
            (499, 0),
            (500, 0),
            (1_500, 2),
            (2_500, 2),
            (2_501, 3),
            (99_499, 99),
            (99_500, 100),
            (99_999, 100),
            (104_999, 100),
            (105_000, 100),
            (115_000, 120),
            (147_000, 150),
            (3_432_000, 3_400),
            (58_760_000, 59_000),
        ] {
            assert_eq!(locust_ms(us), ms, "{us} µs");
        }
    }

    /// Percentiles by Locust's rule (rank `int(n × p)` from below, of the rounded times): ten
    /// requests of 1..=10 ms give 6 ms as the median (Locust's `calculate_response_time_percentile`
    /// of {1:1, …, 10:1}, 10, 0.5), and the median stays within min and max.
    #[test]
    fn percentiles_follow_locusts_rank_and_rounding() {
        let ten = set(&(1..=10).map(|i| (i * 1000, 200, 10)).collect::<Vec<_>>());
        let f = Figures::new(&ten);
        assert_eq!(f.median, "6");
        assert_eq!(f.percentiles, ["6", "7", "8", "9", "10", "10", "10", "10", "10", "10", "10"]);
        assert_eq!((f.min.as_str(), f.max.as_str(), f.average.as_str()), ("1.0", "10.007", "5.5"));
        assert_eq!(f.content, "10.0");
        // Every response 0.4 ms: rounded to 0, so the median shows the minimum, as a float.
        let fast = Figures::new(&set(&[(400, 200, 0); 3]));
        assert_eq!((fast.median.as_str(), fast.percentiles[0].as_str()), ("0.4", "0"));
        // Many values: the histogram is HDR, the percentiles are still Locust's.
        let many = set(&(0..1000).map(|i| (1000 + i * 200, 200, 0)).collect::<Vec<_>>());
        let f = Figures::new(&many);
        // The 501st of 1.0, 1.2, ..., 200.8 ms is 101 ms, the 901st 181 ms: Locust keeps them as
        // 100 and 180 ms; the slowest, 200.8 ms, as 200 ms.
        assert_eq!((f.percentiles[0].as_str(), f.percentiles[4].as_str()), ("100", "180"));
        assert_eq!((f.median.as_str(), f.percentiles[10].as_str()), ("100", "200"));
    }

    #[test]
    fn stats_csv_has_locusts_header_rows_and_aggregated_row() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(stats_file("t"));
        let a = set(&[(1000, 200, 21), (3000, 200, 21), (2000, 404, 11)]);
        let b = set(&[(8_000, 200, 300)]);
        write_stats(&path, &totals(&[("zeta, \"q\"", a), ("/ping", b)]), 2.0).unwrap();
        let text = read(&path);
        assert_eq!(STATS_HEADER, LOCUST_STATS_HEADER);
        let lines: Vec<&str> = text.split("\r\n").collect();
        assert_eq!(lines[0], LOCUST_STATS_HEADER);
        assert_eq!(lines[1], ",/ping,1,0,8,8.0,8.0,8.003,300.0,0.5,0.0,8,8,8,8,8,8,8,8,8,8,8");
        assert_eq!(
            lines[2],
            ",\"zeta, \"\"q\"\"\",3,1,2,2.0,1.0,3.001,17.666666666666668,1.5,0.5,2,2,3,3,3,3,3,3,3,3,3"
        );
        assert_eq!(lines[3], ",Aggregated,4,1,3,3.5,1.0,8.003,88.25,2.0,0.5,3,3,8,8,8,8,8,8,8,8,8");
        assert_eq!((lines.len(), lines[4]), (5, ""), "CRLF after every row");
    }

    #[test]
    fn a_test_without_requests_has_an_aggregated_row_of_zeros_and_na() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(stats_file("t"));
        write_stats(&path, &LabelSets::new(), 0.0).unwrap();
        let text = read(&path);
        // Locust's own row for an entry without requests.
        assert_eq!(
            text,
            format!("{LOCUST_STATS_HEADER}\r\n,Aggregated,0,0,0,0.0,0,0,0,0.0,0.0,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A\r\n")
        );
    }

    #[test]
    fn history_has_a_row_per_second_with_current_rates_and_cumulative_figures() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(history_file("t"));
        let mut log = History::create(&path).unwrap();
        log.second(1_700_000_000, 0, &LabelSets::new()).unwrap();
        log.second(1_700_000_001, 2, &totals(&[("a", set(&[(1000, 200, 10), (3000, 500, 10)]))])).unwrap();
        log.second(1_700_000_002, 2, &totals(&[("a", set(&[(2000, 200, 10)]))])).unwrap();
        let text = read(&path);
        let lines: Vec<&str> = text.split("\r\n").collect();
        assert_eq!(HISTORY_HEADER, LOCUST_HISTORY_HEADER);
        assert_eq!(lines[0], LOCUST_HISTORY_HEADER);
        // Locust's first row, before any request.
        assert_eq!(
            lines[1],
            "1700000001,0,,Aggregated,0.000000,0.000000,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,N/A,0,0,0,0.0,0,0,0"
        );
        assert_eq!(
            lines[2],
            "1700000002,2,,Aggregated,1.000000,0.500000,3,3,3,3,3,3,3,3,3,3,3,2,1,3,2.0,1.0,3.001,10.0"
        );
        assert_eq!(
            lines[3],
            "1700000003,2,,Aggregated,1.000000,0.333333,2,2,3,3,3,3,3,3,3,3,3,3,1,2,2.0,1.0,3.001,10.0"
        );
        assert_eq!(lines.len(), 5);
    }

    /// `suite report` writes the history the run streamed, from `seconds.jsonl` alone, and the
    /// stats from the totals read back.
    #[test]
    fn the_rebuilt_files_are_the_streamed_ones() {
        use crate::aggregate::Second;
        let dir = tempfile::tempdir().unwrap();
        let mut seconds = store::SecondsLog::create(&dir.path().join(store::SECONDS_FILE)).unwrap();
        let mut history = History::create(&dir.path().join(history_file("t"))).unwrap();
        let mut total = LabelSets::new();
        for ts in 0..4u64 {
            let rts: Vec<(u64, u16, u64)> =
                (0..40 * ts).map(|i| (900 + i * 777, 200 + 300 * (i % 5 == 0) as u16, 7)).collect();
            let current = if ts == 2 {
                LabelSets::new()
            } else {
                totals(&[("a", set(&rts)), ("b", set(&rts[..3.min(rts.len())]))])
            };
            for (label, set) in &current {
                total.entry(label.clone()).or_default().merge(set);
            }
            let second = Second { ts, unix_ts: 1_700_000_000 + ts, current, users: 3 };
            seconds.write(&second, 3).unwrap();
            history.second(second.unix_ts, 3, &second.current).unwrap();
        }
        drop(history);
        write_stats(&dir.path().join(stats_file("t")), &total, 4.0).unwrap();
        let streamed = [read(&dir.path().join(stats_file("t"))), read(&dir.path().join(history_file("t")))];
        let mut test = store::load_test(dir.path(), "t", Path::new("t.yaml")).unwrap();
        test.load_secs = 4.0;
        rebuild(dir.path(), &test).unwrap();
        let rebuilt = [read(&dir.path().join(stats_file("t"))), read(&dir.path().join(history_file("t")))];
        assert_eq!(rebuilt, streamed);
        assert_eq!(rebuilt[1].lines().count(), 5, "{}", rebuilt[1]);
    }

    /// Ten seconds back at most: the rate of the eleventh second forgets the first.
    #[test]
    fn history_rates_are_over_the_last_ten_seconds() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(history_file("t"));
        let mut log = History::create(&path).unwrap();
        log.second(0, 1, &totals(&[("a", set(&[(1000, 200, 0); 11]))])).unwrap();
        for ts in 1..11 {
            log.second(ts, 1, &totals(&[("a", set(&[(1000, 200, 0)]))])).unwrap();
        }
        let text = read(&path);
        let rates: Vec<&str> = text.lines().skip(1).map(|l| l.split(',').nth(4).unwrap()).collect();
        assert_eq!(rates[0], "11.000000");
        assert_eq!(rates[9], "2.000000");
        assert_eq!(rates[10], "1.000000");
    }
}
