//! The figures of streamed responses (requests with `stream`): time to first token, the gaps
//! between tokens (inter-token latency), events, tokens and tokens per second. A [`KpiSet`] holds
//! them only once a streamed sample arrived, so other tests pay one empty `Option` per set.
//!
//! Tokens per second is the label's total tokens over the total time its streamed requests took
//! to deliver them, each from the request's start to its last timed event (so it includes the
//! time to first token: the rate a client sees, not only the server's decoding speed).
//!
//! [`KpiSet`]: super::KpiSet

use super::hist::{Hist, MAX_VALUE};
use crate::sample::StreamTimes;

/// Streamed responses' figures over one window.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StreamKpis {
    /// Streamed samples that received at least one event.
    pub samples: u64,
    /// Sum of times to first token (first timed event), µs.
    pub sum_ttft_us: u64,
    /// Times to first token, µs.
    pub ttft: Hist,
    /// Gaps between timed events recorded.
    pub gaps: u64,
    /// Sum of those gaps, µs.
    pub sum_itl_us: u64,
    /// Gaps between timed events (inter-token latency), µs.
    pub itl: Hist,
    /// Events received.
    pub events: u64,
    /// Tokens received (samples of requests with `tokens-from` only).
    pub tokens: u64,
    /// Samples whose tokens were counted.
    pub token_samples: u64,
    /// Sum, over the samples whose tokens were counted, of the time from the request's start to
    /// its last timed event, µs.
    pub token_time_us: u64,
}

impl StreamKpis {
    /// Adds one streamed sample's timings.
    pub fn record(&mut self, t: &StreamTimes) {
        self.events += u64::from(t.events);
        if let Some(first) = t.first_us {
            self.samples += 1;
            self.sum_ttft_us += first;
            self.ttft.record(first.clamp(1, MAX_VALUE));
        }
        for &gap in &t.gaps_us {
            self.itl.record(u64::from(gap).max(1));
            self.sum_itl_us += u64::from(gap);
        }
        self.gaps += t.gaps_us.len() as u64;
        if let Some(tokens) = t.tokens {
            self.tokens += tokens;
            self.token_samples += 1;
            self.token_time_us += t.last_us;
        }
    }

    /// Folds another window's figures into these.
    pub fn merge(&mut self, other: &StreamKpis) {
        self.samples += other.samples;
        self.sum_ttft_us += other.sum_ttft_us;
        self.ttft.add(&other.ttft);
        self.gaps += other.gaps;
        self.sum_itl_us += other.sum_itl_us;
        self.itl.add(&other.itl);
        self.events += other.events;
        self.tokens += other.tokens;
        self.token_samples += other.token_samples;
        self.token_time_us += other.token_time_us;
    }

    /// Average time to first token, seconds.
    pub fn avg_ttft(&self) -> Option<f64> {
        (self.samples > 0).then(|| self.sum_ttft_us as f64 / self.samples as f64 / 1e6)
    }

    /// Time-to-first-token percentile (`level` in 0..=100), seconds.
    pub fn ttft_percentile(&self, level: f64) -> Option<f64> {
        (self.samples > 0).then(|| self.ttft.value_at_quantile(level / 100.0) as f64 / 1e6)
    }

    /// Average gap between tokens, seconds.
    pub fn avg_itl(&self) -> Option<f64> {
        (self.gaps > 0).then(|| self.sum_itl_us as f64 / self.gaps as f64 / 1e6)
    }

    /// Inter-token latency percentile (`level` in 0..=100), seconds.
    pub fn itl_percentile(&self, level: f64) -> Option<f64> {
        (self.gaps > 0).then(|| self.itl.value_at_quantile(level / 100.0) as f64 / 1e6)
    }

    /// Tokens per second (see the module's text); `None` when no tokens were counted.
    pub fn tokens_per_s(&self) -> Option<f64> {
        (self.token_samples > 0 && self.token_time_us > 0).then(|| self.tokens as f64 * 1e6 / self.token_time_us as f64)
    }

    /// Average events per streamed sample.
    pub fn events_per_sample(&self) -> Option<f64> {
        (self.samples > 0).then(|| self.events as f64 / self.samples as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn times(first_ms: u64, gaps_ms: &[u32], tokens: Option<u64>) -> StreamTimes {
        let last = first_ms * 1000 + gaps_ms.iter().map(|g| u64::from(*g) * 1000).sum::<u64>();
        StreamTimes {
            first_us: Some(first_ms * 1000),
            last_us: last,
            gaps_us: gaps_ms.iter().map(|g| g * 1000).collect(),
            events: gaps_ms.len() as u32 + 1,
            tokens,
        }
    }

    #[test]
    fn figures_and_merge() {
        let mut a = StreamKpis::default();
        a.record(&times(50, &[20, 20, 20], Some(4)));
        let mut b = StreamKpis::default();
        b.record(&times(150, &[40], Some(2)));
        b.record(&StreamTimes { events: 0, ..StreamTimes::default() });
        a.merge(&b);
        assert_eq!((a.samples, a.events, a.tokens, a.gaps), (2, 6, 6, 4));
        assert!((a.avg_ttft().unwrap() - 0.1).abs() < 1e-9);
        assert!((a.ttft_percentile(100.0).unwrap() - 0.15).abs() < 0.001);
        assert!((a.avg_itl().unwrap() - 0.025).abs() < 1e-9);
        assert!((a.itl_percentile(50.0).unwrap() - 0.02).abs() < 0.0001);
        // 6 tokens over 110 ms + 190 ms.
        assert!((a.tokens_per_s().unwrap() - 20.0).abs() < 1e-9);
        assert_eq!(a.events_per_sample(), Some(3.0));
        let none = StreamKpis::default();
        assert_eq!((none.avg_ttft(), none.itl_percentile(99.0), none.tokens_per_s()), (None, None, None));
    }
}
