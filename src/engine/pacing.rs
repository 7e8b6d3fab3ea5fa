//! Pacing requests to an execution's rate schedule, in the two load models.
//!
//! * Closed model with `throughput`: a cap. Each request takes the next free slot, but never one
//!   in the past: users that fell behind (a slow server) do not burst to catch up, so the rate
//!   never goes above the schedule, as with JMeter's Throughput Shaping Timer.
//! * Open model (`arrival-rate: true`): request `k` is due at the schedule's `k`-th arrival,
//!   however late the users are. A controller adds users (up to `max-vus`) whenever an arrival
//!   is due and no user is free to take it; a request sent late records how late it went
//!   ([`Sample::lag_us`](super::Sample::lag_us)), so latency can be measured from the intended
//!   send time (coordinated omission, as wrk2 corrects it).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio::time::sleep_until;

use super::stop::Phase;
use super::vu::{self, Execution};
use super::Context;
use crate::plan::load::{Load, RateProfile};

/// When a user's request may go.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Slot {
    /// Seconds from the execution's start.
    pub at: f64,
    /// Whether the time is a fixed arrival (late sends count as lag) rather than a cap.
    pub scheduled: bool,
}

/// The pacing state of one execution.
pub enum Pacer {
    /// No `throughput`: users go as fast as responses come back.
    Free,
    /// Closed model: `throughput` caps the rate.
    Cap {
        /// The rate schedule.
        profile: RateProfile,
        /// Earliest time of the next request, µs from the execution's start.
        next_us: AtomicU64,
    },
    /// Open model: requests go on the schedule.
    Arrivals {
        /// The rate schedule.
        profile: RateProfile,
        /// Index of the next arrival no user has taken yet.
        next: AtomicU64,
        /// Wakes the controller when a user takes an arrival.
        taken: Notify,
    },
}

impl Pacer {
    /// The pacing a load profile asks for.
    pub fn new(load: &Load) -> Self {
        match (load.rate_profile(), load.is_open()) {
            (None, _) => Pacer::Free,
            (Some(profile), false) => Pacer::Cap { profile, next_us: AtomicU64::new(0) },
            (Some(profile), true) => Pacer::Arrivals { profile, next: AtomicU64::new(0), taken: Notify::new() },
        }
    }

    /// Takes the slot of a user's next request; `now` is seconds from the execution's start.
    pub fn claim(&self, now: f64) -> Option<Slot> {
        match self {
            Pacer::Free => None,
            Pacer::Cap { profile, next_us } => {
                let mut current = next_us.load(Ordering::Acquire);
                loop {
                    let at = (current as f64 / 1e6).max(now);
                    let next = ((profile.next_after(at) * 1e6) as u64).max(current + 1);
                    match next_us.compare_exchange_weak(current, next, Ordering::AcqRel, Ordering::Acquire) {
                        Ok(_) => return Some(Slot { at, scheduled: false }),
                        Err(actual) => current = actual,
                    }
                }
            }
            Pacer::Arrivals { profile, next, taken } => {
                let k = next.fetch_add(1, Ordering::AcqRel);
                taken.notify_one();
                Some(Slot { at: profile.time_of(k as f64), scheduled: true })
            }
        }
    }

    /// The slot of arrival `k` (open model), for a user the controller started to take it.
    pub fn arrival(&self, k: u64) -> Option<Slot> {
        match self {
            Pacer::Arrivals { profile, .. } => Some(Slot { at: profile.time_of(k as f64), scheduled: true }),
            _ => None,
        }
    }
}

/// Runs an open-model execution: starts its first users, then adds one whenever an arrival is
/// due and nobody took it, up to `max-vus`; returns when every user has finished.
pub async fn arrivals(exec: Arc<Execution>, ctx: Context) {
    let Pacer::Arrivals { profile, next, taken } = &exec.pacer else { return };
    let load = &exec.load;
    let max = load.max_vus.unwrap_or(1).max(1);
    let begin = ctx.started + load.delay;
    let duration = load.duration();
    let deadline = begin + duration;
    tokio::select! {
        _ = sleep_until(begin.into()) => {}
        _ = ctx.stop.reached(Phase::Stopping) => return,
    }
    let mut users = JoinSet::new();
    let mut started = 0u32;
    for _ in 0..load.concurrency.min(max) {
        users.spawn(vu::run(started, exec.clone(), ctx.clone(), None));
        started += 1;
    }
    let mut at_cap_since = None;
    loop {
        if exec.is_exhausted() {
            break;
        }
        let k = next.load(Ordering::Acquire);
        let due = begin + Duration::from_secs_f64(profile.time_of(k as f64));
        if due >= deadline {
            break;
        }
        tokio::select! {
            _ = sleep_until(due.into()) => {}
            _ = ctx.stop.reached(Phase::Stopping) => break,
        }
        if next.load(Ordering::Acquire) != k {
            continue;
        }
        // Arrival k is due and no user is free to take it.
        if exec.alive() < max {
            if next.compare_exchange(k, k + 1, Ordering::AcqRel, Ordering::Acquire).is_ok() {
                users.spawn(vu::run(started, exec.clone(), ctx.clone(), Some(k)));
                started += 1;
            }
            continue;
        }
        at_cap_since.get_or_insert(k);
        // Every user is busy: the arrival waits (and is sent late) until one is free.
        tokio::select! {
            _ = taken.notified() => {}
            _ = sleep_until(deadline.into()) => break,
            _ = ctx.stop.reached(Phase::Stopping) => break,
        }
    }
    while users.join_next().await.is_some() {}
    let scheduled = profile.count_at(duration.as_secs_f64()).ceil() as u64;
    let taken = next.load(Ordering::Acquire).min(scheduled);
    if ctx.stop.phase() == Phase::Running && taken < scheduled && !exec.is_exhausted() {
        eprintln!(
            "warning: execution {}: {} of {} scheduled requests were not sent: all {max} virtual users (`max-vus`) were busy",
            exec.number + 1,
            scheduled - taken,
            scheduled
        );
    } else if at_cap_since.is_some() {
        eprintln!(
            "note: execution {}: all {max} virtual users (`max-vus`) were busy at times; late requests count in the corrected latencies",
            exec.number + 1
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(rate: f64, open: bool) -> Load {
        Load {
            concurrency: 1,
            ramp_up: Duration::ZERO,
            hold_for: Duration::from_secs(10),
            iterations: None,
            steps: 0,
            throughput: Some(rate),
            delay: Duration::ZERO,
            max_vus: open.then_some(10),
        }
    }

    #[test]
    fn a_cap_never_hands_out_past_slots() {
        let p = Pacer::new(&load(10.0, false));
        assert_eq!(p.claim(0.0), Some(Slot { at: 0.0, scheduled: false }));
        let s = p.claim(0.0).unwrap();
        assert!((s.at - 0.1).abs() < 1e-6, "{s:?}");
        // A user that comes back late gets "now", and the next slot is one interval later.
        let s = p.claim(5.0).unwrap();
        assert!((s.at - 5.0).abs() < 1e-6, "{s:?}");
        let s = p.claim(5.0).unwrap();
        assert!((s.at - 5.1).abs() < 1e-6, "{s:?}");
    }

    #[test]
    fn arrivals_keep_their_schedule() {
        let p = Pacer::new(&load(4.0, true));
        let at: Vec<f64> = (0..3).map(|_| p.claim(9.0).unwrap().at).collect();
        assert_eq!(at, vec![0.0, 0.25, 0.5]);
        assert!(p.claim(0.0).unwrap().scheduled);
        assert_eq!(p.arrival(8).map(|s| s.at), Some(2.0));
        assert!(matches!(Pacer::new(&Load { throughput: None, ..load(1.0, false) }), Pacer::Free));
    }
}
