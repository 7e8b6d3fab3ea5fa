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
        self.probes.iter().rfind(|p| p.passed && p.rate == knee)
    }

    /// `capacity: 560 requests/s (p95 88.00ms, 0.00% errors); 590 failed`: the search's answer.
    pub fn summary(&self) -> String {
        let c = self;
        let mut line = match (c.knee_probe(), c.failed_at) {
            (None, _) => format!("capacity: below {} requests/s: the criteria fail even there", rate_text(c.low)),
            (Some(k), None) => format!(
                "capacity: at least {} requests/s, the top of the range (p95 {}, {:.2}% errors)",
                rate_text(k.rate),
                super::console::ms(k.p95_ms.map(|v| v / 1000.0)),
                k.fail_percent()
            ),
            (Some(k), Some(f)) => format!(
                "capacity: {} requests/s (p95 {}, {:.2}% errors); {} failed",
                rate_text(k.rate),
                super::console::ms(k.p95_ms.map(|v| v / 1000.0)),
                k.fail_percent(),
                rate_text(f)
            ),
        };
        if let Some(r) = c.required {
            line += &format!("; required {}: {}", rate_text(r), if c.met() { "met" } else { "NOT met" });
        }
        if let Some(why) = &c.cut_short {
            line += &format!(" (search cut short: {why})");
        }
        line
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

/// A rate as probed: whole from 20 up, one decimal below.
pub fn rate_text(rate: f64) -> String {
    if rate >= 20.0 || rate.fract() == 0.0 {
        format!("{rate:.0}")
    } else {
        format!("{rate:.1}")
    }
}
