//! Load profiles: when each virtual user starts, how fast requests may go, and when the execution
//! ends, with Taurus's rules (`duration = ramp-up + hold-for`; `iterations` missing means infinite
//! when there is a duration, else one).
//!
//! Two models share one rate schedule ([`RateProfile`], Taurus's Throughput Shaping Timer plan):
//! the closed model (`concurrency` users, `throughput` caps their request rate) and the open
//! model (`arrival-rate: true`: requests go out on the schedule, with users added up to `max-vus`).

use std::sync::Arc;
use std::time::Duration;

use super::segment;

/// A load profile for one execution.
#[derive(Clone, Debug, PartialEq)]
pub struct Load {
    /// Virtual users at full load (closed model), or users started at once (open model).
    pub concurrency: u32,
    /// Time to reach full load.
    pub ramp_up: Duration,
    /// Time to stay at full load after the ramp-up.
    pub hold_for: Duration,
    /// Iterations per virtual user; `None` = until the duration ends.
    pub iterations: Option<u64>,
    /// Stepped ramp-up: users (and the rate) rise in this many equal steps (0 = linear).
    pub steps: u32,
    /// Requests per second for the whole execution: a cap (closed model) or the arrival rate (open model).
    pub throughput: Option<f64>,
    /// Wait before this execution starts.
    pub delay: Duration,
    /// Open model (`arrival-rate: true`): the most virtual users it may run at once.
    pub max_vus: Option<u32>,
    /// This machine's share of the load (`--segment`); None runs all of it.
    pub segment: Option<Arc<segment::Segment>>,
}

impl Load {
    /// Ramp-up plus hold-for; zero means "run by iterations only".
    pub fn duration(&self) -> Duration {
        self.ramp_up + self.hold_for
    }

    /// Whether requests follow the arrival schedule whether or not the server keeps up.
    pub fn is_open(&self) -> bool {
        self.max_vus.is_some()
    }

    /// The virtual users this machine runs (closed model): their numbers in the unsplit test,
    /// so each starts when it would there.
    pub fn users(&self) -> impl Iterator<Item = u32> + '_ {
        (0..self.concurrency).filter(|&u| self.segment.as_ref().is_none_or(|s| s.holds(u64::from(u))))
    }

    /// How many of the first `n` users (or arrivals, or rows) are this machine's.
    pub fn held_below(&self, n: u64) -> u64 {
        self.segment.as_ref().map_or(n, |s| s.held_below(n))
    }

    /// The first arrival at or after `k` that is this machine's (open model).
    pub fn next_arrival(&self, k: u64) -> u64 {
        self.segment.as_ref().map_or(k, |s| s.next_held(k))
    }

    /// The number, in the unsplit test, of the `m`-th data row (0-based) this machine takes.
    /// Rows go with users in the closed model (each round of the N users takes N rows, this
    /// machine's users the positions of their own numbers) and with arrivals in the open model,
    /// so with a fixed number of iterations the segments' rows are exactly the unsplit test's.
    pub fn row_position(&self, m: u64) -> u64 {
        let Some(s) = &self.segment else { return m };
        if self.is_open() {
            return s.nth(m);
        }
        let n = u64::from(self.concurrency.max(1));
        let mine = s.held_below(n).max(1);
        m / mine * n + s.nth(m % mine)
    }

    /// When virtual user `index` (0-based) starts, relative to the execution's start.
    pub fn start_offset(&self, index: u32) -> Duration {
        if self.ramp_up.is_zero() || self.concurrency == 0 || self.is_open() {
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

    /// The request-rate schedule, if `throughput` is set.
    pub fn rate_profile(&self) -> Option<RateProfile> {
        let rate = self.throughput.filter(|r| *r > 0.0 && r.is_finite())?;
        // A closed model's cap is shared: each machine keeps its share of the rate. Open-model
        // arrivals keep the whole schedule, each machine sending the arrivals it holds.
        let rate = match &self.segment {
            Some(s) if !self.is_open() => rate * s.share(),
            _ => rate,
        };
        Some(RateProfile::new(rate, self.ramp_up.as_secs_f64(), self.steps, self.duration().as_secs_f64()))
    }
}

/// A piecewise-linear request rate over time, as Taurus hands it to JMeter's Throughput Shaping
/// Timer: during the ramp-up one line from `max(1, throughput / duration)` up to `throughput`, or
/// with `steps` that many flat stairs of `throughput * i / steps`; then `throughput` for ever.
#[derive(Clone, Debug, PartialEq)]
pub struct RateProfile {
    segments: Vec<Segment>,
}

/// One piece of the schedule: the rate goes linearly from `r0` to `r1` over `[start, start + len)`.
#[derive(Clone, Debug, PartialEq)]
struct Segment {
    start: f64,
    len: f64,
    r0: f64,
    r1: f64,
    /// Requests scheduled before `start`.
    before: f64,
}

impl Segment {
    fn count(&self) -> f64 {
        (self.r0 + self.r1) * self.len / 2.0
    }
}

impl RateProfile {
    /// The schedule of `rate` requests per second after a `ramp` (seconds) in `steps` stairs
    /// (0 = linear) in an execution of `duration` seconds.
    pub fn new(rate: f64, ramp: f64, steps: u32, duration: f64) -> Self {
        let mut segments = Vec::new();
        let mut push = |len: f64, r0: f64, r1: f64| {
            let (start, before) =
                segments.last().map_or((0.0, 0.0), |s: &Segment| (s.start + s.len, s.before + s.count()));
            segments.push(Segment { start, len, r0, r1, before });
        };
        if ramp > 0.0 {
            if steps > 0 {
                let n = steps as f64;
                for i in 1..=steps {
                    let r = rate * i as f64 / n;
                    push(ramp / n, r, r);
                }
            } else {
                // Taurus starts the ramp at max(1, throughput / duration), never above the target.
                let start = (rate / duration.max(f64::MIN_POSITIVE)).max(1.0).min(rate);
                push(ramp, start, rate);
            }
        }
        push(f64::INFINITY, rate, rate);
        RateProfile { segments }
    }

    /// Requests scheduled in `[0, t)`.
    pub fn count_at(&self, t: f64) -> f64 {
        let t = t.max(0.0);
        let seg = self.segment_at_time(t);
        let tau = (t - seg.start).min(seg.len);
        seg.before + seg.r0 * tau + (seg.r1 - seg.r0) * tau * tau / (2.0 * seg.len)
    }

    /// When request number `k` (0-based; fractional counts allowed) is due, seconds from the start.
    pub fn time_of(&self, k: f64) -> f64 {
        let k = k.max(0.0);
        // Segments are in order of `before` (and of `start`): a binary search, as steps may be many.
        let seg = &self.segments[self.segments.partition_point(|s| s.before <= k).saturating_sub(1)];
        let c = k - seg.before;
        let slope = (seg.r1 - seg.r0) / seg.len;
        let tau = if slope.abs() < 1e-12 {
            c / seg.r0
        } else {
            // c = r0 τ + slope τ² / 2, solved for τ ≥ 0.
            (-seg.r0 + (seg.r0 * seg.r0 + 2.0 * slope * c).max(0.0).sqrt()) / slope
        };
        seg.start + tau
    }

    /// When the request after one sent at `t` may go: one request's worth of schedule later.
    pub fn next_after(&self, t: f64) -> f64 {
        self.time_of(self.count_at(t) + 1.0)
    }

    fn segment_at_time(&self, t: f64) -> &Segment {
        &self.segments[self.segments.partition_point(|s| s.start <= t).saturating_sub(1)]
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
            max_vus: None,
            segment: None,
        }
    }

    #[test]
    fn segments_take_their_users_arrivals_and_rows_of_the_unsplit_test() {
        use crate::plan::segment::Segment;
        let split = |i: u64, open: bool| Load {
            segment: Some(Arc::new(Segment::parse(&format!("{i}/3"), None).unwrap())),
            max_vus: open.then_some(8),
            throughput: Some(30.0),
            ..load(10, 0, 0)
        };
        let users: Vec<Vec<u32>> = (1..=3).map(|i| split(i, false).users().collect()).collect();
        assert_eq!(users, vec![vec![0, 3, 6, 9], vec![1, 4, 7], vec![2, 5, 8]]);
        // 10 users × 3 iterations: 30 rows, each taken by exactly one segment.
        let mut rows: Vec<u64> = Vec::new();
        for (i, mine) in (1..=3).zip([4u64, 3, 3]) {
            rows.extend((0..mine * 3).map(|m| split(i, false).row_position(m)));
        }
        rows.sort_unstable();
        assert_eq!(rows, (0..30).collect::<Vec<_>>());
        // Open model: arrivals striped; a closed model's cap shared by rate.
        assert_eq!(split(2, true).next_arrival(0), 1);
        assert_eq!(split(2, true).next_arrival(2), 4);
        assert_eq!(split(2, true).held_below(8), 3);
        let cap = split(1, false).rate_profile().unwrap();
        assert!(close(cap.count_at(10.0), 100.0), "{}", cap.count_at(10.0));
    }

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-6
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
    fn open_model_users_start_at_once() {
        let mut l = load(6, 9, 3);
        l.max_vus = Some(10);
        assert_eq!(l.start_offset(5), Duration::ZERO);
    }

    #[test]
    fn linear_ramp_starts_at_taurus_floor() {
        // 10/s after a 10 s ramp in a 20 s test: the line starts at max(1, 10/20) = 1/s.
        let mut l = load(10, 10, 0);
        l.throughput = Some(10.0);
        let p = l.rate_profile().unwrap();
        assert!(close(p.count_at(10.0), 55.0));
        assert!(close(p.time_of(55.0), 10.0));
        assert!(close(p.time_of(65.0), 11.0));
        assert!(close(p.time_of(0.0), 0.0));
        // Inverse of the quadratic part.
        for k in [1.0, 7.5, 20.0, 54.0] {
            assert!(close(p.count_at(p.time_of(k)), k), "{k}");
        }
        assert!(close(p.next_after(10.0), 10.1));
    }

    #[test]
    fn steps_are_stairs_of_the_rate() {
        // 30/s in 3 steps over 9 s: 10/s, 20/s, 30/s for 3 s each.
        let p = RateProfile::new(30.0, 9.0, 3, 19.0);
        assert!(close(p.count_at(3.0), 30.0));
        assert!(close(p.count_at(6.0), 90.0));
        assert!(close(p.count_at(9.0), 180.0));
        assert!(close(p.count_at(10.0), 210.0));
        assert!(close(p.time_of(45.0), 3.75));
        assert!(close(p.next_after(0.0), 0.1));
    }

    #[test]
    fn flat_rate_without_ramp() {
        let p = RateProfile::new(4.0, 0.0, 0, 10.0);
        assert!(close(p.time_of(10.0), 2.5));
        assert!(close(p.count_at(2.5), 10.0));
    }

    #[test]
    fn a_rate_below_one_ramps_from_itself() {
        let p = RateProfile::new(0.5, 10.0, 0, 20.0);
        assert!(close(p.count_at(10.0), 5.0));
    }
}
