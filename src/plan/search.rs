//! A capacity search (`search:` in an open-model execution): the highest arrival rate at which
//! the test's criteria still pass, found by probing rates in short stages.
//!
//! ```yaml
//! execution:
//! - arrival-rate: true
//!   max-vus: 200
//!   scenario: infer
//!   search:
//!     throughput: [50, 2000]   # the rates searched between, requests/s
//!     precision: 5%            # stop when the bracket is this narrow
//!     probe: 10s               # each probe's load
//!     cool-down: 2s            # the pause after each probe
//!     min-capacity: 300        # optional: the test fails below this
//!     retries: 1               # a failed rate is probed again before it counts (default 1)
//! ```

use std::time::Duration;

/// What the runner searches with.
#[derive(Clone, Debug, PartialEq)]
pub struct Search {
    /// Index of the searched execution in [`crate::plan::Plan::executions`].
    pub execution: usize,
    /// The rates searched between, requests per second (`low < high`).
    pub low: f64,
    pub high: f64,
    /// The bracket's width, as a share of its lower end, at which the search stops.
    pub precision: f64,
    /// Load time of each probe.
    pub probe: Duration,
    /// Pause after each probe (the server settles; the probe's last second closes).
    pub cool_down: Duration,
    /// The most probes run.
    pub max_probes: u32,
    /// The capacity the test requires, requests per second.
    pub required: Option<f64>,
    /// How many more times a failed rate is probed before it counts as failed (a stall on a
    /// shared machine fails one probe, not a rate): it fails only when every attempt fails.
    pub retries: u32,
}

/// The keys of `search`.
pub const KEYS: [&str; 7] = ["throughput", "precision", "probe", "cool-down", "max-probes", "min-capacity", "retries"];
/// Defaults.
pub const PRECISION: f64 = 0.05;
pub const PROBE: Duration = Duration::from_secs(10);
pub const COOL_DOWN: Duration = Duration::from_secs(2);
pub const MAX_PROBES: u32 = 20;
/// Bounds: a shorter pause could not close the probe's last second before the next starts.
pub const MIN_COOL_DOWN: Duration = Duration::from_secs(1);
pub const MIN_PROBE: Duration = Duration::from_secs(1);
pub const MAX_PROBES_LIMIT: u32 = 100;
pub const RETRIES: u32 = 1;
pub const MAX_RETRIES: u32 = 5;

/// The next rate to probe, or `None` when the search is done: doubling from `low` until a
/// rate fails (or `high` passes), then halving the bracket until it is within `precision`.
pub fn next_rate(search: &Search, passed: Option<f64>, failed: Option<f64>) -> Option<f64> {
    match (passed, failed) {
        (None, None) => Some(search.low),
        // Even the lowest rate fails: there is no capacity to find.
        (None, Some(_)) => None,
        (Some(p), None) if p >= search.high => None,
        (Some(p), None) => Some(round_rate((p * 2.0).min(search.high))),
        (Some(p), Some(f)) => {
            let mid = round_rate((p + f) / 2.0);
            ((f - p) / p > search.precision && mid > p && mid < f).then_some(mid)
        }
    }
}

/// Rates are probed at whole requests per second from 20 up, tenths below.
pub fn round_rate(rate: f64) -> f64 {
    if rate >= 20.0 {
        rate.round()
    } else {
        (rate * 10.0).round() / 10.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn search(low: f64, high: f64) -> Search {
        Search {
            execution: 0,
            low,
            high,
            precision: 0.05,
            probe: PROBE,
            cool_down: COOL_DOWN,
            max_probes: MAX_PROBES,
            required: None,
            retries: RETRIES,
        }
    }

    /// The rates probed when the true capacity is `knee`.
    fn walk(s: &Search, knee: f64) -> (Vec<f64>, Option<f64>) {
        let (mut passed, mut failed, mut probed) = (None, None, Vec::new());
        while let Some(rate) = next_rate(s, passed, failed) {
            probed.push(rate);
            if rate <= knee {
                passed = Some(rate);
            } else {
                failed = Some(rate);
            }
            assert!(probed.len() < 40);
        }
        (probed, passed)
    }

    #[test]
    fn doubles_then_bisects_to_the_precision() {
        let s = search(50.0, 2000.0);
        let (probed, found) = walk(&s, 700.0);
        assert_eq!(&probed[..5], [50.0, 100.0, 200.0, 400.0, 800.0]);
        let found = found.unwrap();
        assert!((700.0 / 1.05..=700.0).contains(&found), "{found} {probed:?}");
        assert!(probed.len() <= 10, "{probed:?}");
    }

    #[test]
    fn the_ends_of_the_range() {
        let s = search(50.0, 2000.0);
        assert_eq!(walk(&s, 10.0), (vec![50.0], None));
        let (probed, found) = walk(&s, 5000.0);
        assert_eq!(found, Some(2000.0));
        assert_eq!(probed.last(), Some(&2000.0));
        let small = search(1.0, 10.0);
        let (_, found) = walk(&small, 3.3);
        assert!((3.3 / 1.05..=3.3).contains(&found.unwrap()), "{found:?}");
    }
}
