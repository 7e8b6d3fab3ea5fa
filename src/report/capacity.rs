//! What a capacity search found (`search:` on an open-model execution): every probe and the knee,
//! the highest arrival rate at which the test's criteria still passed.

use serde::{Deserialize, Serialize};

/// A capacity search's result, as reports show it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Capacity {
    /// The arrival rates searched between, requests per second.
    pub low: f64,
    pub high: f64,
    /// The bracket is narrowed until its width is at most this share of the knee (0.05 = 5 %).
    pub precision: f64,
    /// The highest rate whose probe passed every criterion; `None` when even `low` failed.
    pub knee: Option<f64>,
    /// The lowest rate that failed (the knee's upper bound); `None` when `high` passed.
    pub failed_at: Option<f64>,
    /// The capacity the test requires (`min-capacity`), if any.
    pub required: Option<f64>,
    /// Every probe, in the order run.
    pub probes: Vec<Probe>,
    /// Why the search ended before it was precise (Ctrl-C, an error), if it did.
    pub cut_short: Option<String>,
}

/// One probe: a short stage at one arrival rate, judged by the test's criteria.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Probe {
    /// The arrival rate asked for, requests per second.
    pub rate: f64,
    /// The rate measured (hits over the probe's seconds).
    pub achieved: f64,
    /// Seconds into the test the probe started, and how long it ran.
    pub start_secs: f64,
    pub secs: f64,
    pub hits: u64,
    pub fail: u64,
    /// Response times, milliseconds (`None` without samples).
    pub avg_ms: Option<f64>,
    pub p50_ms: Option<f64>,
    pub p90_ms: Option<f64>,
    pub p95_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    /// Whether every criterion passed at this rate.
    pub passed: bool,
    /// The criteria that failed (or could not be judged), as written.
    pub failed: Vec<String>,
}

impl Probe {
    /// Failed requests, percent of hits (0 without hits).
    pub fn fail_percent(&self) -> f64 {
        if self.hits == 0 {
            0.0
        } else {
            self.fail as f64 * 100.0 / self.hits as f64
        }
    }
}

impl Capacity {
    /// The probe at the knee, if one passed.
    pub fn knee_probe(&self) -> Option<&Probe> {
        let knee = self.knee?;
        self.probes.iter().filter(|p| p.passed && p.rate == knee).last()
    }

    /// Whether the search met its requirement: a knee, at least `required` when one is set.
    pub fn met(&self) -> bool {
        match (self.knee, self.required) {
            (None, _) => false,
            (Some(k), Some(r)) => k >= r,
            (Some(_), None) => true,
        }
    }
}
