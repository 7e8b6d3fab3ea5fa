//! Load profiles: when each virtual user starts and when the execution ends, with Taurus's
//! rules (`duration = ramp-up + hold-for`; `iterations` missing means infinite when there is a
//! duration, else one).

use std::time::Duration;

/// A closed-model load profile for one execution.
#[derive(Clone, Debug, PartialEq)]
pub struct Load {
    /// Virtual users at full load.
    pub concurrency: u32,
    /// Time to reach full load.
    pub ramp_up: Duration,
    /// Time to stay at full load after the ramp-up.
    pub hold_for: Duration,
    /// Iterations per virtual user; `None` = until the duration ends.
    pub iterations: Option<u64>,
    /// Stepped ramp-up: users start in this many equal groups (0 = linear).
    pub steps: u32,
    /// Request rate cap for the whole execution, requests per second.
    pub throughput: Option<f64>,
    /// Wait before this execution starts.
    pub delay: Duration,
}

impl Load {
    /// Ramp-up plus hold-for; zero means "run by iterations only".
    pub fn duration(&self) -> Duration {
        self.ramp_up + self.hold_for
    }

    /// When virtual user `index` (0-based) starts, relative to the execution's start.
    pub fn start_offset(&self, index: u32) -> Duration {
        if self.ramp_up.is_zero() || self.concurrency == 0 {
            return Duration::ZERO;
        }
        let n = self.concurrency as f64;
        let ramp = self.ramp_up.as_secs_f64();
        let secs = if self.steps > 0 {
            // Users start in `steps` equal groups; group k starts at ramp * k / steps.
            let steps = self.steps.min(self.concurrency) as f64;
            let group = ((index as f64) * steps / n).floor();
            ramp * group / steps
        } else {
            ramp * (index as f64) / n
        };
        Duration::from_secs_f64(secs)
    }

    /// Seconds from the execution's start until request number `k` (0-based) may be sent under
    /// the `throughput` cap: the rate grows linearly over the ramp-up, then stays flat.
    pub fn throughput_slot(&self, k: u64) -> Option<f64> {
        let rate = self.throughput?;
        if rate <= 0.0 {
            return None;
        }
        let k = k as f64;
        let ramp = self.ramp_up.as_secs_f64();
        // Requests allowed by time t: rate*t²/(2*ramp) during the ramp, then rate*ramp/2 + rate*(t-ramp).
        let at_ramp_end = rate * ramp / 2.0;
        Some(if ramp > 0.0 && k < at_ramp_end {
            (2.0 * ramp * k / rate).sqrt()
        } else {
            ramp + (k - at_ramp_end) / rate
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(concurrency: u32, ramp: u64, steps: u32) -> Load {
        Load {
            concurrency,
            ramp_up: Duration::from_secs(ramp),
            hold_for: Duration::from_secs(10),
            iterations: None,
            steps,
            throughput: None,
            delay: Duration::ZERO,
        }
    }

    #[test]
    fn linear_ramp_spreads_starts() {
        let l = load(4, 4, 0);
        let starts: Vec<u64> = (0..4).map(|i| l.start_offset(i).as_secs()).collect();
        assert_eq!(starts, vec![0, 1, 2, 3]);
    }

    #[test]
    fn steps_start_groups_together() {
        let l = load(6, 9, 3);
        let starts: Vec<u64> = (0..6).map(|i| l.start_offset(i).as_secs()).collect();
        assert_eq!(starts, vec![0, 0, 3, 3, 6, 6]);
    }

    #[test]
    fn throughput_slots_follow_the_ramp() {
        let mut l = load(10, 10, 0);
        l.throughput = Some(10.0);
        // 50 requests fit into the 10 s ramp (area of the triangle), the rest at 10/s.
        assert!((l.throughput_slot(50).unwrap() - 10.0).abs() < 1e-9);
        assert!((l.throughput_slot(60).unwrap() - 11.0).abs() < 1e-9);
        assert!(l.throughput_slot(0).unwrap() == 0.0);
        l.ramp_up = Duration::ZERO;
        assert!((l.throughput_slot(25).unwrap() - 2.5).abs() < 1e-9);
    }
}
