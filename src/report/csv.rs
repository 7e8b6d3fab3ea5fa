//! CSV outputs: `kpi.csv` (one row per label per second, streamed while the test runs; times in
//! seconds, streamed responses' figures empty for labels without them) and
//! `final_stats.csv` (Taurus's `final-stats` `dump-csv` layout, for the Jenkins Plot plugin).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use crate::aggregate::{KpiSet, LabelSets, Second, OVERALL};

/// A test's Taurus final-stats file, written when the test ends.
pub const FINAL_STATS_FILE: &str = "final_stats.csv";

/// Percentile levels of `final_stats.csv`, as Taurus tracks them by default.
pub const FINAL_PERCENTILES: [f64; 7] = [0.0, 50.0, 90.0, 95.0, 99.0, 99.9, 100.0];

/// Streams per-second KPIs to `kpi.csv`, flushed after every second so a killed run loses at most one.
pub struct KpiCsv {
    out: csv::Writer<BufWriter<File>>,
}

impl KpiCsv {
    /// Creates the file and writes its header.
    pub fn create(path: &Path) -> std::io::Result<Self> {
        let mut out = csv::Writer::from_writer(BufWriter::new(File::create(path)?));
        out.write_record(
            "ts,second,label,hits,succ,fail,avg_rt,avg_lt,avg_ct,stdev_rt,p50,p90,p95,p99,max_rt,bytes,concurrency,\
             avg_ttft,p50_ttft,p95_ttft,p99_ttft,avg_itl,p50_itl,p95_itl,p99_itl,events,tokens,tokens_per_s"
                .split(','),
        )?;
        out.flush()?;
        Ok(KpiCsv { out })
    }

    /// Appends one closed second.
    pub fn write(&mut self, second: &Second) -> std::io::Result<()> {
        for (label, set) in &second.current {
            let f = |v: Option<f64>| v.map(|x| format!("{x:.6}")).unwrap_or_default();
            let mut record = vec![second.unix_ts.to_string(), second.ts.to_string(), label.clone()];
            record.extend([set.hits, set.succ, set.fail].map(|n| n.to_string()));
            record.extend([set.avg_rt(), set.avg_lt(), set.avg_ct(), set.stdev_rt()].map(f));
            record.extend([50.0, 90.0, 95.0, 99.0].map(|p| f(set.percentile(p))));
            record.push(f(set.min_max_rt().map(|(_, max)| max)));
            record.extend([set.bytes, set.concurrency].map(|n| n.to_string()));
            // Streamed responses' figures (requests with `stream`); empty for the others.
            let stream = set.stream.as_deref();
            record.push(f(stream.and_then(|s| s.avg_ttft())));
            record.extend([50.0, 95.0, 99.0].map(|p| f(stream.and_then(|s| s.ttft_percentile(p)))));
            record.push(f(stream.and_then(|s| s.avg_itl())));
            record.extend([50.0, 95.0, 99.0].map(|p| f(stream.and_then(|s| s.itl_percentile(p)))));
            record.extend(
                [stream.map(|s| s.events), stream.map(|s| s.tokens)]
                    .map(|n| n.map(|n| n.to_string()).unwrap_or_default()),
            );
            record.push(f(stream.and_then(|s| s.tokens_per_s())));
            self.out.write_record(&record)?;
        }
        self.out.flush()
    }
}

/// Writes Taurus's final-stats CSV: `label`, the KPIs sorted by name, `perc_<level>`, `rc_<code>`;
/// floats with 5 decimals; one row per label, the overall row (empty label) last.
/// `throughput` is the sample count, as in Taurus (it is not a rate there either).
pub fn write_final_stats(path: &Path, totals: &LabelSets) -> std::io::Result<()> {
    let mut out = csv::Writer::from_writer(BufWriter::new(File::create(path)?));
    let empty = KpiSet::default();
    let overall = totals.get(OVERALL).unwrap_or(&empty);
    let codes: Vec<String> = overall.rc.to_map().into_keys().collect();
    let mut header: Vec<String> = "label,avg_ct,avg_lt,avg_rt,bytes,concurrency,fail,stdev_rt,succ,throughput"
        .split(',')
        .map(String::from)
        .collect();
    header.extend(FINAL_PERCENTILES.iter().map(|p| format!("perc_{p:.1}")));
    header.extend(codes.iter().map(|c| format!("rc_{c}")));
    out.write_record(&header)?;
    let rows = totals.iter().filter(|(l, _)| !l.is_empty()).chain(totals.get_key_value(OVERALL));
    for (label, set) in rows {
        let f = |v: Option<f64>| format!("{:.5}", v.unwrap_or(0.0));
        let mut record = vec![label.clone()];
        record.extend([set.avg_ct(), set.avg_lt(), set.avg_rt()].map(f));
        record.extend([set.bytes, set.concurrency, set.fail].map(|n| n.to_string()));
        record.push(f(set.stdev_rt()));
        record.extend([set.succ, set.hits].map(|n| n.to_string()));
        record.extend(FINAL_PERCENTILES.iter().map(|p| f(set.percentile(*p))));
        let rc = set.rc.to_map();
        record.extend(codes.iter().map(|c| rc.get(c).map(u64::to_string).unwrap_or_default()));
        out.write_record(&record)?;
    }
    out.flush()?;
    out.into_inner().map_err(|e| e.into_error())?.flush()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample::Sample;

    #[test]
    fn final_stats_has_taurus_columns() {
        let mut totals = LabelSets::new();
        let mut a = KpiSet::default();
        for (status, rt) in [(200, 1000), (200, 3000), (404, 2000)] {
            a.record(&Sample { ttfb_us: rt / 2, bytes: 10, ..Sample::fake(rt, status) });
        }
        let mut overall = KpiSet::default();
        overall.merge(&a);
        totals.insert("a, b".into(), a);
        totals.insert(OVERALL.into(), overall);
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("final_stats.csv");
        write_final_stats(&path, &totals).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "label,avg_ct,avg_lt,avg_rt,bytes,concurrency,fail,stdev_rt,succ,throughput,perc_0.0,perc_50.0,perc_90.0,perc_95.0,perc_99.0,perc_99.9,perc_100.0,rc_200,rc_404");
        assert!(
            lines[1].starts_with("\"a, b\",0.00000,0.00100,0.00200,30,0,1,0.00082,2,3,0.00100,0.00200,"),
            "{}",
            lines[1]
        );
        assert!(lines[2].starts_with(",0.00000"));
        assert!(lines[2].ends_with(",2,1"));
    }
}
