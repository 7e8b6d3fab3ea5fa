//! The `for` / `within` / `over` timeframe logic over `(timestamp, value)` points, exactly as
//! Taurus's `FailCriterion.process_criteria_logic` runs it:
//!
//! * `for`: the condition must hold on every point; a streak starts at the first true point and
//!   is counted by timestamp difference (`end - start + 1`), so points that never arrive (seconds
//!   without data for the label) are skipped, not resets. A false point resets the streak.
//! * `within`: the aggregate of the points in `(now - window, now]` is compared, and a true
//!   aggregate triggers at once, even on a partial window.
//! * `over`: the same aggregate, but it triggers only once the buffer spans the full window.
//!
//! The aggregate is a sum for sample counts and an average otherwise (including an average of
//! per-second percentages). Once triggered, a window stays triggered. Timestamps are floats so
//! monitoring samples fit too: one sample counts as one second.

use std::collections::VecDeque;

use super::spec::{Condition, Logic};

/// The moment a window triggered.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Trigger {
    /// Timestamp of the point that triggered.
    pub ts: f64,
    /// The compared value at that point (the aggregate for `within`/`over`).
    pub value: f64,
}

/// Running state of one windowed criterion.
#[derive(Clone, Debug)]
pub struct Window {
    logic: Logic,
    window: f64,
    sums: bool,
    condition: Condition,
    threshold: f64,
    /// Points inside the current window, oldest first (`within`/`over` only).
    buffer: VecDeque<(f64, f64)>,
    /// Start of the current streak; `None` after a reset (Taurus's `sys.maxsize`).
    start: Option<f64>,
    end: f64,
    /// Length of the latest streak, kept across resets for reports.
    last_counting: f64,
    trigger: Option<Trigger>,
    /// The compared value that came closest to (or went furthest past) the threshold.
    peak: Option<f64>,
}

impl Window {
    /// A fresh window. `sums` selects a sum rather than an average for `within`/`over`.
    pub fn new(logic: Logic, window_secs: f64, sums: bool, condition: Condition, threshold: f64) -> Self {
        Window {
            logic,
            window: window_secs,
            sums,
            condition,
            threshold,
            buffer: VecDeque::new(),
            start: None,
            end: 0.0,
            last_counting: 0.0,
            trigger: None,
            peak: None,
        }
    }

    /// Feeds one point; returns `true` when this point is the one that triggered the window.
    pub fn feed(&mut self, ts: f64, value: f64) -> bool {
        let compared = match self.logic {
            Logic::For => value,
            Logic::Within | Logic::Over => self.aggregate(ts, value),
        };
        self.track_peak(compared);
        let state = self.condition.holds(compared, self.threshold);
        let fires = match self.logic {
            Logic::For => {
                if state {
                    self.start = Some(self.start.map_or(ts, |s| s.min(ts)));
                    self.end = ts;
                } else {
                    self.reset();
                }
                self.counting().is_some_and(|c| c >= self.window)
            }
            Logic::Within => {
                if state {
                    self.start = Some(ts - self.window + 1.0);
                    self.end = ts;
                }
                state
            }
            Logic::Over => {
                if state {
                    let oldest = self.buffer.iter().map(|p| p.0).fold(ts, f64::min);
                    self.start = Some(oldest);
                    self.end = ts;
                }
                state && self.counting().is_some_and(|c| c >= self.window)
            }
        };
        if fires && self.trigger.is_none() {
            self.trigger = Some(Trigger { ts, value: compared });
            return true;
        }
        false
    }

    /// When and at what value the window triggered.
    pub fn trigger(&self) -> Option<Trigger> {
        self.trigger
    }

    /// The compared value that came closest to the threshold (the maximum for `>`/`>=`, the
    /// minimum for `<`/`<=`, the nearest for `=`).
    pub fn peak(&self) -> Option<f64> {
        self.peak
    }

    /// Seconds the condition has held, as Taurus prints it in `… for N sec`. After a reset Taurus
    /// prints a meaningless huge negative number (`0 - sys.maxsize + 1`); deliberate fix: the
    /// length of the latest streak instead.
    pub fn counting(&self) -> Option<f64> {
        self.start.map(|s| self.end - s + 1.0)
    }

    /// [`Window::counting`], or the latest streak's length after a reset.
    pub fn reported_counting(&self) -> f64 {
        self.counting().unwrap_or(self.last_counting)
    }

    fn reset(&mut self) {
        if let Some(c) = self.counting() {
            self.last_counting = c;
        }
        self.start = None;
        self.end = 0.0;
    }

    /// Adds the point to the buffer, drops points at or before `ts - window`, and returns the sum
    /// or average of what is left. Taurus drops the new point too when the window is zero or less
    /// and then divides by zero; deliberate fix: the newest point always stays.
    fn aggregate(&mut self, ts: f64, value: f64) -> f64 {
        match self.buffer.iter_mut().find(|p| p.0 == ts) {
            Some(point) => point.1 = value,
            None => self.buffer.push_back((ts, value)),
        }
        let cutoff = ts - self.window;
        while self.buffer.len() > 1 && self.buffer.front().is_some_and(|p| p.0 <= cutoff && p.0 != ts) {
            self.buffer.pop_front();
        }
        let sum: f64 = self.buffer.iter().map(|p| p.1).sum();
        if self.sums {
            sum
        } else {
            sum / self.buffer.len().max(1) as f64
        }
    }

    fn track_peak(&mut self, compared: f64) {
        if !compared.is_finite() {
            return;
        }
        self.peak = Some(match (self.peak, self.condition) {
            (None, _) => compared,
            (Some(p), Condition::Gt | Condition::Ge) => p.max(compared),
            (Some(p), Condition::Lt | Condition::Le) => p.min(compared),
            (Some(p), Condition::Eq) => {
                if (compared - self.threshold).abs() < (p - self.threshold).abs() {
                    compared
                } else {
                    p
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `points` and returns, per point, whether the window was triggered after it: the
    /// `*` marks of the simulated sequences in the Taurus reference (section 2.4).
    fn run(logic: Logic, window: f64, sums: bool, threshold: f64, points: &[(f64, f64)]) -> Vec<bool> {
        let mut w = Window::new(logic, window, sums, Condition::Gt, threshold);
        points
            .iter()
            .map(|&(ts, v)| {
                w.feed(ts, v);
                w.trigger().is_some()
            })
            .collect()
    }

    #[test]
    fn for_needs_an_unbroken_streak() {
        // avg-rt>1s for 3s   1:2.0 2:2.0 3:0.5 4:2.0 5:2.0 6:2.0* 7:2.0*
        let pts = [(1.0, 2.0), (2.0, 2.0), (3.0, 0.5), (4.0, 2.0), (5.0, 2.0), (6.0, 2.0), (7.0, 2.0)];
        assert_eq!(run(Logic::For, 3.0, false, 1.0, &pts), [false, false, false, false, false, true, true]);
    }

    #[test]
    fn for_counts_gaps_as_elapsed_time() {
        // avg-rt>1s for 3s   1:2.0 2:2.0 5:2.0*
        let pts = [(1.0, 2.0), (2.0, 2.0), (5.0, 2.0)];
        assert_eq!(run(Logic::For, 3.0, false, 1.0, &pts), [false, false, true]);
    }

    #[test]
    fn within_averages_the_window() {
        // avg-rt>1s within 3s   1:0.1 2:0.1 3:3.5*   (avg 1.23)
        let pts = [(1.0, 0.1), (2.0, 0.1), (3.0, 3.5)];
        assert_eq!(run(Logic::Within, 3.0, false, 1.0, &pts), [false, false, true]);
    }

    #[test]
    fn over_needs_a_full_window() {
        // avg-rt>1s over 3s   1:3.5 2:0.1 3:0.1* 4:0.1*
        let pts = [(1.0, 3.5), (2.0, 0.1), (3.0, 0.1), (4.0, 0.1)];
        assert_eq!(run(Logic::Over, 3.0, false, 1.0, &pts), [false, false, true, true]);
    }

    #[test]
    fn within_triggers_on_a_partial_window() {
        // avg-rt>1s within 3s   1:3.5*
        assert_eq!(run(Logic::Within, 3.0, false, 1.0, &[(1.0, 3.5), (2.0, 0.1)]), [true, true]);
    }

    #[test]
    fn within_sums_counts() {
        // hits>10 within 3s   1:4 2:4 3:4* 4:1*   (sum 12)
        let pts = [(1.0, 4.0), (2.0, 4.0), (3.0, 4.0), (4.0, 1.0)];
        assert_eq!(run(Logic::Within, 3.0, true, 10.0, &pts), [false, false, true, true]);
    }

    #[test]
    fn for_does_not_sum() {
        // hits>10 for 3s   1:4 2:4 3:4 4:1   (never)
        let pts = [(1.0, 4.0), (2.0, 4.0), (3.0, 4.0), (4.0, 1.0)];
        assert_eq!(run(Logic::For, 3.0, true, 10.0, &pts), [false; 4]);
    }

    #[test]
    fn one_second_suffices_for_1s() {
        // avg-rt>1s for 1s   1:2.0*
        assert_eq!(run(Logic::For, 1.0, false, 1.0, &[(1.0, 2.0)]), [true]);
    }

    #[test]
    fn window_drops_old_points() {
        // After the window slides past the big value, within no longer sees it.
        let mut w = Window::new(Logic::Within, 2.0, false, Condition::Gt, 1.0);
        w.feed(1.0, 5.0);
        w.feed(2.0, 0.0);
        assert!(w.trigger().is_some());
        let mut w = Window::new(Logic::Within, 2.0, true, Condition::Gt, 10.0);
        for ts in 1..=10 {
            w.feed(ts as f64, 6.0);
        }
        // Each window of 2 s sums to 12 > 10 from the second point on.
        assert_eq!(w.trigger().map(|t| t.ts), Some(2.0));
        assert_eq!(w.trigger().map(|t| t.value), Some(12.0));
    }

    #[test]
    fn monitoring_samples_two_seconds_apart_count_three() {
        // target/cpu>52 for 2s with samples every 2 s: counting is 2 + 1 = 3 at the second one.
        let mut w = Window::new(Logic::For, 2.0, false, Condition::Gt, 52.0);
        assert!(!w.feed(1000.25, 60.0));
        assert!(w.feed(1002.25, 70.0));
        assert_eq!(w.reported_counting(), 3.0);
    }

    #[test]
    fn stays_triggered_and_reports_the_last_streak() {
        let mut w = Window::new(Logic::For, 2.0, false, Condition::Gt, 1.0);
        for (ts, v) in [(1.0, 2.0), (2.0, 2.0), (3.0, 2.0), (4.0, 0.0)] {
            w.feed(ts, v);
        }
        assert_eq!(w.trigger().map(|t| t.ts), Some(2.0));
        assert_eq!(w.counting(), None);
        assert_eq!(w.reported_counting(), 3.0);
        assert_eq!(w.peak(), Some(2.0));
    }

    #[test]
    fn zero_window_judges_each_point() {
        // Monitoring criteria without a timeframe trigger on the first true sample.
        let mut w = Window::new(Logic::For, 0.0, false, Condition::Gt, 1.0);
        assert!(!w.feed(1.0, 0.5));
        assert!(w.feed(2.0, 1.5));
        let mut w = Window::new(Logic::Within, 0.0, false, Condition::Gt, 1.0);
        assert!(w.feed(1.0, 1.5));
    }

    #[test]
    fn peak_follows_the_condition() {
        let mut w = Window::new(Logic::For, 5.0, false, Condition::Lt, 1.0);
        for (ts, v) in [(1.0, 3.0), (2.0, 2.0), (3.0, 4.0)] {
            w.feed(ts, v);
        }
        assert_eq!(w.peak(), Some(2.0));
    }
}
