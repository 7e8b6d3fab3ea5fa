//! The figures a comparison reads from each run of a label, and which way each is worse.

use serde::{Deserialize, Serialize};

use super::stats::{Direction, Noise, Scale, MIN_FAIL_POINTS};

/// One per-run figure of a label.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Metric {
    #[serde(rename = "p50")]
    P50,
    #[serde(rename = "p90")]
    P90,
    #[serde(rename = "p95")]
    P95,
    #[serde(rename = "p99")]
    P99,
    #[serde(rename = "avg-rt")]
    AvgRt,
    #[serde(rename = "throughput")]
    Throughput,
    #[serde(rename = "fail")]
    FailPct,
    #[serde(rename = "hits")]
    Hits,
}

impl Metric {
    /// Every metric, in report order.
    pub const ALL: [Metric; 8] = [
        Metric::P50,
        Metric::P90,
        Metric::P95,
        Metric::P99,
        Metric::AvgRt,
        Metric::Throughput,
        Metric::FailPct,
        Metric::Hits,
    ];

    /// What a comparison reads unless told otherwise.
    pub const DEFAULT: [Metric; 6] =
        [Metric::P50, Metric::P95, Metric::P99, Metric::AvgRt, Metric::Throughput, Metric::FailPct];

    /// The name users write (`--metrics p95,throughput`), the passfail subject's where there is one.
    pub fn name(self) -> &'static str {
        match self {
            Metric::P50 => "p50",
            Metric::P90 => "p90",
            Metric::P95 => "p95",
            Metric::P99 => "p99",
            Metric::AvgRt => "avg-rt",
            Metric::Throughput => "throughput",
            Metric::FailPct => "fail",
            Metric::Hits => "hits",
        }
    }

    /// Reads a name; also the spellings people use elsewhere (`rps`, `fail%`, `avg`, `median`).
    pub fn parse(text: &str) -> Option<Metric> {
        let t = text.trim().to_ascii_lowercase();
        let t = t.as_str();
        Metric::ALL.into_iter().find(|m| m.name() == t).or(match t {
            "rps" | "tput" => Some(Metric::Throughput),
            "fail%" | "fail-pct" | "error-rate" | "errors" => Some(Metric::FailPct),
            "avg" | "mean" | "avg_rt" => Some(Metric::AvgRt),
            "median" => Some(Metric::P50),
            _ => None,
        })
    }

    /// Which way is worse: slower, fewer requests, more failures.
    pub fn direction(self) -> Direction {
        match self {
            Metric::Throughput | Metric::Hits => Direction::LowerIsWorse,
            _ => Direction::HigherIsWorse,
        }
    }

    /// The fewest requests a run needs for its value to be compared: a percentile needs ten
    /// requests beyond it (a p99 of 400 requests is its 4th-slowest one, not a p99).
    pub fn min_hits(self) -> u64 {
        let beyond = |level: f64| (10.0 / (1.0 - level / 100.0)).round() as u64;
        match self {
            Metric::P50 => beyond(50.0),
            Metric::P90 => beyond(90.0),
            Metric::P95 => beyond(95.0),
            Metric::P99 => beyond(99.0),
            _ => 1,
        }
    }

    /// Whether it is compared as a ratio (`+17 %`); the fail rate, often zero, is compared in
    /// percentage points instead.
    pub fn is_ratio(self) -> bool {
        self != Metric::FailPct
    }

    /// How its change is measured, with `min_effect` (a ratio) and the between-session noise
    /// `session` for ratio metrics; the fail rate needs [`MIN_FAIL_POINTS`] percentage points.
    pub fn scale(self, min_effect: f64, session: f64) -> Scale {
        if self.is_ratio() {
            Scale::Ratio { min_effect, session }
        } else {
            Scale::Points { min_effect: MIN_FAIL_POINTS }
        }
    }

    /// The noise assumed when neither side has two runs: the between-run spread measured on a
    /// 2-core machine (8 runs of 8 s: rps 2.7 %, p50 2.2 %, p95 7.6 %, p99 4.8 %), rounded up
    /// for noisier machines.
    pub fn default_noise(self) -> Noise {
        let spread = match self {
            Metric::P50 | Metric::AvgRt | Metric::Throughput | Metric::Hits => 0.05,
            Metric::P90 => 0.08,
            Metric::P95 => 0.10,
            Metric::P99 => 0.12,
            // Percentage points.
            Metric::FailPct => 1.0,
        };
        Noise { spread }
    }

    /// A value as text in its unit (`7.62 ms`, `412.3/s`, `0.50 %`).
    pub fn format(self, value: f64) -> String {
        match self {
            Metric::Throughput => format!("{}/s", sig(value)),
            Metric::FailPct => format!("{value:.2} %"),
            Metric::Hits => format!("{value:.0}"),
            _ => format!("{} ms", sig(value)),
        }
    }

    /// A change as text: `+17 %` for ratios, `+1.20 pp` for the fail rate.
    pub fn format_change(self, change: f64) -> String {
        if self.is_ratio() {
            let pct = change * 100.0;
            if pct.abs() < 9.95 {
                format!("{pct:+.1} %")
            } else {
                format!("{pct:+.0} %")
            }
        } else {
            format!("{change:+.2} pp")
        }
    }
}

/// Three significant digits, no exponent.
fn sig(v: f64) -> String {
    let a = v.abs();
    if a >= 100.0 || a == 0.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else if a >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_aliases_read() {
        for m in Metric::ALL {
            assert_eq!(Metric::parse(m.name()), Some(m));
        }
        assert_eq!(Metric::parse("RPS"), Some(Metric::Throughput));
        assert_eq!(Metric::parse("fail%"), Some(Metric::FailPct));
        assert_eq!(Metric::parse("p42"), None);
    }

    #[test]
    fn values_and_changes_read_in_their_units() {
        assert_eq!(Metric::P95.format(7.624), "7.62 ms");
        assert_eq!(Metric::Throughput.format(412.34), "412/s");
        assert_eq!(Metric::FailPct.format(0.5), "0.50 %");
        assert_eq!(Metric::P95.format_change(0.171), "+17 %");
        assert_eq!(Metric::P95.format_change(-0.031), "-3.1 %");
        assert_eq!(Metric::FailPct.format_change(1.2), "+1.20 pp");
    }
}
