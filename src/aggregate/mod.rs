//! Aggregation: samples are folded into one [`KpiSet`] per label per second (by the time each
//! request finished, so a second can be closed as soon as it is over) and into cumulative totals.
//! Memory is fixed per label and second, whatever the request rate: samples are never kept.

pub mod hist;
pub mod kpi;
pub mod rc;
pub mod stream;

use std::borrow::Cow;
use std::collections::VecDeque;
use std::time::Duration;

pub use hist::Hist;
pub use kpi::{KpiSet, LabelSets, OVERALL};
pub use rc::{Code, RcCounts};
pub use stream::StreamKpis;

use std::sync::Arc;

use crate::config::mask::Secrets;
use crate::sample::{Labels, Sample};

/// One closed second of the test.
#[derive(Debug)]
pub struct Second {
    /// Seconds since the test started; the window is `[ts, ts + 1)`.
    pub ts: u64,
    /// Unix time of the window's start, seconds.
    pub unix_ts: u64,
    /// KPIs per label in this second (with the overall `""` label when any sample arrived).
    pub current: LabelSets,
    /// Highest number of active virtual users observed in this second (see
    /// [`Aggregator::observe_users`]); every set in `current` has it as its `concurrency`.
    pub users: u64,
}

/// Folds samples into per-second and cumulative KPIs.
pub struct Aggregator {
    /// The run's label table (it grows while external tools report new names).
    table: Arc<Labels>,
    /// The names known so far, secrets masked.
    labels: Vec<String>,
    /// Per label: not requests (a tool's checks or custom Trends), so left out of the overall
    /// set and of the samples counted.
    extra: Vec<bool>,
    start_us: u64,
    /// Open seconds in increasing order, each with one optional set per label index. Nearly
    /// every sample belongs to the newest, which is found first from the back.
    open: VecDeque<(u64, Vec<Option<KpiSet>>)>,
    /// Seconds before this one are closed.
    closed_until: u64,
    cumulative: LabelSets,
    recorded: u64,
    /// Active virtual users observed in seconds not yet closed, in increasing order of second:
    /// `(second, highest, last)`.
    users: VecDeque<(u64, u64, u64)>,
    /// The last observation of a closed second: it still holds in a second without one.
    users_then: u64,
    /// Masked in labels and error messages (a secret substituted into a URL is in both).
    secrets: Secrets,
}

impl Aggregator {
    /// An aggregator for `labels` (the plan's label table) of a test that started at `start_us` (Unix µs).
    pub fn new(labels: Vec<String>, start_us: u64) -> Self {
        Self::following(Arc::new(Labels::new(&labels)), start_us)
    }

    /// An aggregator reading label names from `table`, which may grow while the test runs.
    pub fn following(table: Arc<Labels>, start_us: u64) -> Self {
        let labels = table.names_from(0).iter().map(|n| n.to_string()).collect();
        let extra = table.extra_from(0);
        Aggregator {
            table,
            labels,
            extra,
            start_us,
            open: VecDeque::new(),
            closed_until: 0,
            cumulative: LabelSets::new(),
            recorded: 0,
            users: VecDeque::new(),
            users_then: 0,
            secrets: Secrets::default(),
        }
    }

    /// Masks `secrets` in every label now and in every error message as its second closes, so
    /// no figure keyed by them (files, console, criteria details) shows a secret.
    pub fn masking(mut self, secrets: &Secrets) -> Self {
        for label in &mut self.labels {
            *label = secrets.masked(label);
        }
        self.secrets = secrets.clone();
        self
    }

    /// A set's error messages with secrets masked (only sets with errors pay for a look).
    fn mask_errors(&self, set: &mut KpiSet) {
        if self.secrets.is_empty() || set.errors.keys().all(|m| matches!(self.secrets.mask(m), Cow::Borrowed(_))) {
            return;
        }
        let errors = std::mem::take(&mut set.errors);
        for (message, count) in errors {
            *set.errors.entry(self.secrets.masked(&message)).or_default() += count;
        }
        let codes = std::mem::take(&mut set.error_codes);
        for (message, code) in codes {
            set.error_codes.entry(self.secrets.masked(&message)).or_insert(code);
        }
    }

    /// Notes that `active` virtual users were running `elapsed` into the test. Each second's
    /// `concurrency` is the highest number observed in it (the runner looks every few tens of
    /// milliseconds), so a second that closes after the users stopped still shows who ran in it.
    pub fn observe_users(&mut self, elapsed: Duration, active: u64) {
        let second = elapsed.as_secs().max(self.closed_until);
        match self.users.back_mut() {
            Some((s, max, last)) if *s == second => {
                *max = (*max).max(active);
                *last = active;
            }
            // A clock never goes back: an observation is for the newest second or a later one.
            Some((s, _, _)) if *s > second => {}
            _ => self.users.push_back((second, active, active)),
        }
    }

    /// Highest number of active users observed in second `ts` (or the last observation before it,
    /// when none fell in it), and at least 1 when a request finished in it.
    fn users_in(&mut self, ts: u64, had_samples: bool) -> u64 {
        let mut users = self.users_then;
        while let Some(&(s, max, last)) = self.users.front() {
            if s > ts {
                break;
            }
            self.users.pop_front();
            users = if s == ts { max } else { last };
            self.users_then = last;
        }
        users.max(u64::from(had_samples))
    }

    /// Adds a sample to the second in which it finished (or to the oldest open second if that one is closed).
    pub fn add(&mut self, sample: &Sample) {
        if sample.label as usize >= self.labels.len() {
            // A name an external tool reported since: take the new names (masked).
            let new = self.table.names_from(self.labels.len());
            self.extra.extend(self.table.extra_from(self.extra.len()));
            self.labels.extend(new.iter().map(|n| self.secrets.masked(n)));
            if sample.label as usize >= self.labels.len() {
                return;
            }
        }
        let end_us = sample.start_us.saturating_add(sample.elapsed_us);
        let second = (end_us.saturating_sub(self.start_us) / 1_000_000).max(self.closed_until);
        let index = match self.open.iter().rposition(|(s, _)| *s <= second) {
            Some(i) if self.open[i].0 == second => i,
            found => {
                let i = found.map_or(0, |i| i + 1);
                self.open.insert(i, (second, vec![None; self.labels.len()]));
                i
            }
        };
        let sets = &mut self.open[index].1;
        if sets.len() <= sample.label as usize {
            sets.resize(self.labels.len(), None);
        }
        let set = &mut sets[sample.label as usize];
        set.get_or_insert_with(KpiSet::default).record(sample);
        if !self.extra.get(sample.label as usize).copied().unwrap_or(false) {
            self.recorded += 1;
        }
    }

    /// Closes every second before `until` (seconds since start), returning them in order.
    pub fn close_before(&mut self, until: u64) -> Vec<Second> {
        let mut out = Vec::new();
        while self.closed_until < until {
            let ts = self.closed_until;
            let sets = match self.open.front() {
                Some((s, _)) if *s == ts => self.open.pop_front().map(|(_, sets)| sets).unwrap_or_default(),
                _ => Vec::new(),
            };
            out.push(self.close(ts, sets));
            self.closed_until += 1;
        }
        out
    }

    /// Closes everything still open (end of test).
    pub fn flush(&mut self) -> Vec<Second> {
        let last = self.open.back().map_or(self.closed_until, |(s, _)| s + 1);
        self.close_before(last)
    }

    fn close(&mut self, ts: u64, sets: Vec<Option<KpiSet>>) -> Second {
        let concurrency = self.users_in(ts, sets.iter().any(Option::is_some));
        let mut current = LabelSets::new();
        let mut overall = KpiSet::default();
        for (index, set) in sets.into_iter().enumerate() {
            if let Some(mut set) = set {
                set.concurrency = concurrency;
                self.mask_errors(&mut set);
                if !self.extra.get(index).copied().unwrap_or(false) {
                    overall.merge(&set);
                }
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
        Second { ts, unix_ts: self.start_us / 1_000_000 + ts, current, users: concurrency }
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
        let error = (status >= 400).then(|| "404 Not Found".into());
        Sample { label, start_us, ttfb_us: elapsed_us / 2, error, bytes: 100, ..Sample::fake(elapsed_us, status) }
    }

    #[test]
    fn samples_land_in_the_second_they_finish() {
        let start = 1_000_000_000;
        let mut agg = Aggregator::new(vec!["a".into(), "b".into()], start);
        agg.add(&sample(0, start + 100_000, 200_000, 200));
        agg.add(&sample(1, start + 900_000, 200_000, 404));
        agg.add(&sample(0, start + 2_100_000, 100_000, 200));
        agg.observe_users(Duration::from_millis(1500), 3);
        let seconds = agg.close_before(2);
        assert_eq!(seconds.len(), 2);
        assert_eq!(seconds[0].current["a"].hits, 1);
        assert!(!seconds[0].current.contains_key("b"));
        assert_eq!(seconds[1].current["b"].fail, 1);
        assert_eq!(seconds[1].current[OVERALL].hits, 1);
        assert_eq!(seconds[1].current[OVERALL].concurrency, 3);
        // A late sample for a closed second goes to the oldest open one, never lost.
        agg.add(&sample(0, start + 100_000, 100_000, 200));
        let rest = agg.flush();
        assert_eq!(rest.len(), 1);
        assert_eq!(rest[0].current["a"].hits, 2);
        assert_eq!(agg.recorded(), 4);
        assert_eq!(agg.cumulative()[OVERALL].hits, 4);
        assert_eq!(agg.cumulative()["b"].rc.get("404"), Some(1));
    }

    #[test]
    fn seconds_arriving_out_of_order_close_in_order() {
        let start = 1_000_000_000;
        let mut agg = Aggregator::new(vec!["a".into()], start);
        for second in [3u64, 1, 3, 0, 2, 1, 5] {
            agg.add(&sample(0, start + second * 1_000_000, 1000, 200));
        }
        // A label outside the table is ignored, not a panic.
        agg.add(&sample(7, start, 1000, 200));
        let first = agg.close_before(2);
        assert_eq!(first.iter().map(|s| (s.ts, s.current["a"].hits)).collect::<Vec<_>>(), [(0, 1), (1, 2)]);
        // A sample for a closed second goes to the oldest open one.
        agg.add(&sample(0, start, 1000, 200));
        let rest = agg.close_before(6);
        let hits: Vec<(u64, u64)> = rest.iter().map(|s| (s.ts, s.current.get("a").map_or(0, |k| k.hits))).collect();
        assert_eq!(hits, [(2, 2), (3, 2), (4, 0), (5, 1)]);
        assert_eq!(agg.recorded(), 8);
        assert!(agg.flush().is_empty());
    }

    #[test]
    fn secrets_are_masked_in_labels_and_error_messages() {
        let start = 1_000_000_000;
        let secrets = Secrets::from_values(["hunter2".to_string()]);
        let mut agg = Aggregator::new(vec!["/login?pw=hunter2".into(), "/plain".into()], start).masking(&secrets);
        let mut failed = sample(0, start, 1000, 404);
        failed.error = Some("cannot send to `http://h/login?pw=hunter2`".into());
        agg.add(&failed);
        agg.add(&failed);
        agg.add(&sample(1, start, 1000, 200));
        let closed = agg.flush();
        let set = &closed[0].current["/login?pw=***"];
        assert_eq!(set.errors.get("cannot send to `http://h/login?pw=***`"), Some(&2), "{:?}", set.errors);
        assert_eq!(set.error_codes.len(), 1);
        assert!(closed[0].current.contains_key("/plain"));
        assert!(!agg.cumulative().keys().any(|l| l.contains("hunter2")));
    }

    #[test]
    fn concurrency_is_the_most_users_observed_in_the_second() {
        let start = 1_000_000_000;
        let mut agg = Aggregator::new(vec!["a".into()], start);
        let at = Duration::from_millis;
        for (ms, users) in [(0, 0), (50, 4), (100, 5), (900, 2), (1100, 2), (2200, 7), (2950, 0)] {
            agg.observe_users(at(ms), users);
        }
        for second in [0, 1, 2, 3] {
            agg.add(&sample(0, start + second * 1_000_000, 1000, 200));
        }
        // Closed after every user stopped (the last second of a test, a short test closed at the
        // end): each second still shows who ran in it.
        let closed: Vec<u64> = agg.flush().iter().map(|s| s.current[OVERALL].concurrency).collect();
        assert!(agg.close_before(4).is_empty());
        // Second 3 had no observation: the last one (0) holds, but a request finished in it.
        assert_eq!(closed, [5, 2, 7, 1]);
        assert_eq!(agg.cumulative()["a"].concurrency, 7);
        // A second without samples or observations shows the last observation.
        agg.observe_users(at(4100), 3);
        agg.add(&sample(0, start + 6_000_000, 1000, 200));
        let later: Vec<(u64, u64)> = agg.flush().iter().map(|s| (s.ts, s.users)).collect();
        assert_eq!(later, [(4, 3), (5, 3), (6, 3)]);
    }

    /// Cost of folding one sample, in ns: `cargo test --release --lib aggregate::tests::bench -- --ignored --nocapture`.
    #[test]
    #[ignore = "timing, run by hand in release"]
    fn bench_record_and_add() {
        use std::hint::black_box;
        use std::time::Instant;
        const N: u64 = 1_000_000;
        let start = 1_000_000_000;
        let ok: Vec<Sample> = (0..1024u64).map(|i| sample(0, start, 500 + i * 37 % 50_000, 200)).collect();
        let mut failed = ok.clone();
        for s in failed.iter_mut().step_by(10) {
            *s = sample(0, start, s.elapsed_us, 404);
        }
        let mut late = ok.clone();
        for (i, s) in late.iter_mut().enumerate() {
            s.lag_us = (i as u64 * 13) % 2000;
        }
        // Best of several rounds: the machine is shared, the minimum is the least disturbed.
        let best = |f: &mut dyn FnMut() -> f64| (0..15).map(|_| f()).fold(f64::INFINITY, f64::min);
        for (name, samples) in [("2xx", &ok), ("10% 404", &failed), ("2xx late", &late)] {
            let record = best(&mut || {
                let mut set = KpiSet::default();
                let t = Instant::now();
                for i in 0..N {
                    set.record(black_box(&samples[(i % 1024) as usize]));
                }
                black_box(&set);
                t.elapsed().as_nanos() as f64 / N as f64
            });
            let add = best(&mut || {
                let mut agg = Aggregator::new(vec!["a".into()], start);
                let t = Instant::now();
                for i in 0..N {
                    // 100k samples per second of test time, seconds closed as they go by.
                    let mut s = samples[(i % 1024) as usize].clone();
                    s.start_us = start + i * 10;
                    agg.add(black_box(&s));
                    if i % 100_000 == 99_999 {
                        black_box(agg.close_before(i / 100_000));
                    }
                }
                t.elapsed().as_nanos() as f64 / N as f64
            });
            println!("{name}: KpiSet::record {record:.1} ns/sample, Aggregator::add (incl. clone, closing) {add:.1} ns/sample");
        }
    }
}
