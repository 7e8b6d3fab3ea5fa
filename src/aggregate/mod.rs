//! Aggregation: samples are folded into one [`KpiSet`] per label per second (by the time each
//! request finished, so a second can be closed as soon as it is over) and into cumulative totals.
//! Memory is fixed per label and second, whatever the request rate: samples are never kept.

pub mod kpi;

use std::collections::BTreeMap;

pub use kpi::{KpiSet, LabelSets, OVERALL};

use crate::engine::Sample;

/// One closed second of the test.
#[derive(Debug)]
pub struct Second {
    /// Seconds since the test started; the window is `[ts, ts + 1)`.
    pub ts: u64,
    /// Unix time of the window's start, seconds.
    pub unix_ts: u64,
    /// KPIs per label in this second (with the overall `""` label when any sample arrived).
    pub current: LabelSets,
}

/// Folds samples into per-second and cumulative KPIs.
pub struct Aggregator {
    labels: Vec<String>,
    start_us: u64,
    /// Open seconds by index; each holds one optional set per label index.
    open: BTreeMap<u64, Vec<Option<KpiSet>>>,
    /// Seconds before this one are closed.
    closed_until: u64,
    cumulative: LabelSets,
    recorded: u64,
}

impl Aggregator {
    /// An aggregator for `labels` (the plan's label table) of a test that started at `start_us` (Unix µs).
    pub fn new(labels: Vec<String>, start_us: u64) -> Self {
        Aggregator {
            labels,
            start_us,
            open: BTreeMap::new(),
            closed_until: 0,
            cumulative: LabelSets::new(),
            recorded: 0,
        }
    }

    /// Adds a sample to the second in which it finished (or to the oldest open second if that one is closed).
    pub fn add(&mut self, sample: &Sample) {
        let end_us = sample.start_us + sample.elapsed_us;
        let second = (end_us.saturating_sub(self.start_us) / 1_000_000).max(self.closed_until);
        let n = self.labels.len();
        let slot = self.open.entry(second).or_insert_with(|| vec![None; n]);
        if let Some(entry) = slot.get_mut(sample.label as usize) {
            entry.get_or_insert_with(KpiSet::default).record(sample);
            self.recorded += 1;
        }
    }

    /// Closes every second before `until` (seconds since start), returning them in order.
    /// `concurrency` is the number of active virtual users now.
    pub fn close_before(&mut self, until: u64, concurrency: u64) -> Vec<Second> {
        let mut out = Vec::new();
        while self.closed_until < until {
            let ts = self.closed_until;
            let sets = self.open.remove(&ts).unwrap_or_default();
            out.push(self.close(ts, sets, concurrency));
            self.closed_until += 1;
        }
        out
    }

    /// Closes everything still open (end of test).
    pub fn flush(&mut self, concurrency: u64) -> Vec<Second> {
        let last = self.open.keys().next_back().map_or(self.closed_until, |k| k + 1);
        self.close_before(last, concurrency)
    }

    fn close(&mut self, ts: u64, sets: Vec<Option<KpiSet>>, concurrency: u64) -> Second {
        let mut current = LabelSets::new();
        let mut overall = KpiSet::default();
        for (index, set) in sets.into_iter().enumerate() {
            if let Some(mut set) = set {
                set.concurrency = concurrency;
                overall.merge(&set);
                current.insert(self.labels[index].clone(), set);
            }
        }
        if overall.hits > 0 {
            overall.concurrency = concurrency;
            current.insert(OVERALL.to_string(), overall);
        }
        for (label, set) in &current {
            self.cumulative.entry(label.clone()).or_default().merge(set);
        }
        Second { ts, unix_ts: self.start_us / 1_000_000 + ts, current }
    }

    /// Cumulative KPIs of every closed second.
    pub fn cumulative(&self) -> &LabelSets {
        &self.cumulative
    }

    /// Samples recorded so far (open and closed seconds).
    pub fn recorded(&self) -> u64 {
        self.recorded
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(label: u32, start_us: u64, elapsed_us: u64, status: u16) -> Sample {
        Sample {
            label,
            start_us,
            elapsed_us,
            connect_us: 0,
            ttfb_us: elapsed_us / 2,
            status,
            error_kind: (status >= 400).then_some(crate::engine::ErrorKind::Status),
            error: (status >= 400).then(|| "404 Not Found".into()),
            bytes: 100,
            lag_us: 0,
        }
    }

    #[test]
    fn samples_land_in_the_second_they_finish() {
        let start = 1_000_000_000;
        let mut agg = Aggregator::new(vec!["a".into(), "b".into()], start);
        agg.add(&sample(0, start + 100_000, 200_000, 200));
        agg.add(&sample(1, start + 900_000, 200_000, 404));
        agg.add(&sample(0, start + 2_100_000, 100_000, 200));
        let seconds = agg.close_before(2, 3);
        assert_eq!(seconds.len(), 2);
        assert_eq!(seconds[0].current["a"].hits, 1);
        assert!(!seconds[0].current.contains_key("b"));
        assert_eq!(seconds[1].current["b"].fail, 1);
        assert_eq!(seconds[1].current[OVERALL].hits, 1);
        assert_eq!(seconds[1].current[OVERALL].concurrency, 3);
        // A late sample for a closed second goes to the oldest open one, never lost.
        agg.add(&sample(0, start + 100_000, 100_000, 200));
        let rest = agg.flush(0);
        assert_eq!(rest.len(), 1);
        assert_eq!(rest[0].current["a"].hits, 2);
        assert_eq!(agg.recorded(), 4);
        assert_eq!(agg.cumulative()[OVERALL].hits, 4);
        assert_eq!(agg.cumulative()["b"].rc["404"], 1);
    }
}
