//! Pacing requests to an execution's rate schedule, in the two load models.
//!
//! * Closed model with `throughput`: a cap. Each request takes the next free slot, but never one
//!   in the past: users that fell behind (a slow server) do not burst to catch up, so the rate
//!   never goes above the schedule, as with JMeter's Throughput Shaping Timer.
//! * Open model (`arrival-rate: true`): request `k` is due at the schedule's `k`-th arrival,
//!   however late the users are. A dispatcher wakes at each arrival on a [`PreciseTimer`] and
//!   hands it to a free user, adding users (up to `max-vus`) when none is free; a request sent
//!   late records how late it went ([`Sample::lag_us`](crate::sample::Sample::lag_us)), so latency can
//!   be measured from the intended send time (coordinated omission, as wrk2 corrects it).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{oneshot, Notify};
use tokio::task::JoinSet;
use tokio::time::sleep_until;

use super::clock::PreciseTimer;
use super::execution::{self, Execution};
use super::stop::Phase;
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
        /// Users waiting for an arrival.
        free: Mutex<Free>,
        /// Wakes the dispatcher when a user becomes free.
        freed: Notify,
    },
}

/// The users of an open-model execution that wait for their next arrival.
#[derive(Default)]
pub struct Free {
    waiting: VecDeque<oneshot::Sender<u64>>,
    /// The dispatcher is done: no more arrivals.
    closed: bool,
}

impl Pacer {
    /// The pacing a load profile asks for.
    pub fn new(load: &Load) -> Self {
        match (load.rate_profile(), load.is_open()) {
            (None, _) => Pacer::Free,
            (Some(profile), false) => Pacer::Cap { profile, next_us: AtomicU64::new(0) },
            (Some(profile), true) => Pacer::Arrivals { profile, free: Mutex::default(), freed: Notify::new() },
        }
    }

    /// Takes the slot of a user's next request in the closed model; `now` is seconds from the
    /// execution's start. (Open-model users get theirs from [`Pacer::next_arrival`].)
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
            Pacer::Arrivals { .. } => None,
        }
    }

    /// Open model: waits until the dispatcher hands this user an arrival; None when there will
    /// be no more.
    pub async fn next_arrival(&self) -> Option<u64> {
        let Pacer::Arrivals { free, freed, .. } = self else { return None };
        let (tx, rx) = oneshot::channel();
        {
            let mut free = lock(free);
            if free.closed {
                return None;
            }
            free.waiting.push_back(tx);
        }
        freed.notify_one();
        rx.await.ok()
    }

    /// The slot of arrival `k` (open model), for a user the controller started to take it.
    pub fn arrival(&self, k: u64) -> Option<Slot> {
        match self {
            Pacer::Arrivals { profile, .. } => Some(Slot { at: profile.time_of(k as f64), scheduled: true }),
            _ => None,
        }
    }
}

/// Runs an open-model execution: starts its first users, then at each arrival's time hands it
/// to a free user, or starts a new one if none is free (up to `max-vus`); returns when every
/// user has finished.
pub async fn arrivals(exec: Arc<Execution>, ctx: Context) {
    let Pacer::Arrivals { profile, free, freed } = &exec.pacer else { return };
    let load = &exec.load;
    // With `--segment`, this machine's share of the users (at least one, if it holds arrivals).
    let max = (load.held_below(u64::from(load.max_vus.unwrap_or(1).max(1))) as u32).max(1);
    let begin = ctx.started + load.delay;
    let duration = load.duration();
    let deadline = begin + duration;
    let timer = PreciseTimer::new();
    let mut users = JoinSet::new();
    let mut started = 0u32;
    // Arrival numbers as in the unsplit schedule; with `--segment`, only the ones this machine holds.
    let mut k = load.next_arrival(0);
    let mut at_cap_since = None;
    tokio::select! {
        _ = sleep_until(begin.into()) => {}
        _ = ctx.stop.reached(Phase::Stopping) => k = u64::MAX,
    }
    if k == 0 {
        for _ in 0..(load.held_below(u64::from(load.concurrency)) as u32).min(max) {
            execution::spawn(&mut users, started, &exec, &ctx, None);
            started += 1;
        }
    }
    'arrivals: while k != u64::MAX && !exec.is_exhausted() {
        let due = begin + Duration::from_secs_f64(profile.time_of(k as f64));
        if due >= deadline {
            break;
        }
        tokio::select! {
            _ = timer.sleep_until(due) => {}
            _ = ctx.stop.reached(Phase::Stopping) => break,
        }
        // Hand out every arrival that is due now (several when the dispatcher itself ran late).
        loop {
            let taker = lock(free).waiting.pop_front();
            match taker {
                Some(user) => {
                    if user.send(k).is_err() {
                        continue; // that user has stopped; try the next
                    }
                }
                None if exec.alive() < max => {
                    execution::spawn(&mut users, started, &exec, &ctx, Some(k));
                    started += 1;
                }
                None => {
                    // Every user is busy: the arrival waits (and goes out late) until one is free.
                    at_cap_since.get_or_insert(k);
                    tokio::select! {
                        _ = freed.notified() => continue,
                        _ = sleep_until(deadline.into()) => break 'arrivals,
                        _ = ctx.stop.reached(Phase::Stopping) => break 'arrivals,
                    }
                }
            }
            k = load.next_arrival(k + 1);
            let next = begin + Duration::from_secs_f64(profile.time_of(k as f64));
            if next > Instant::now() || next >= deadline {
                break;
            }
        }
    }
    // No more arrivals: users waiting for one stop, and users finishing a request see `closed`.
    {
        let mut free = lock(free);
        free.closed = true;
        free.waiting.clear();
    }
    while users.join_next().await.is_some() {}
    let all = profile.count_at(duration.as_secs_f64()).ceil() as u64;
    let scheduled = load.held_below(all);
    let taken = load.held_below(k.min(all));
    if ctx.stop.phase() == Phase::Running && taken < scheduled && !exec.is_exhausted() {
        crate::errln!(
            "warning: execution {}: {} of {} scheduled requests were not sent: all {max} virtual users (`max-vus`) were busy",
            exec.number + 1,
            scheduled - taken,
            scheduled
        );
    } else if at_cap_since.is_some() {
        crate::errln!(
            "note: execution {}: all {max} virtual users (`max-vus`) were busy at times; late requests count in the corrected latencies",
            exec.number + 1
        );
    }
}

fn lock(free: &Mutex<Free>) -> std::sync::MutexGuard<'_, Free> {
    free.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
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
            segment: None,
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

    #[tokio::test]
    async fn arrivals_are_handed_to_waiting_users() {
        let p = Arc::new(Pacer::new(&load(4.0, true)));
        assert_eq!(p.claim(9.0), None, "open-model users do not claim slots");
        assert_eq!(p.arrival(8).map(|s| s.at), Some(2.0));
        let waiter = tokio::spawn({
            let p = p.clone();
            async move { p.next_arrival().await }
        });
        let Pacer::Arrivals { free, freed, .. } = &*p else { unreachable!() };
        freed.notified().await;
        lock(free).waiting.pop_front().unwrap().send(7).unwrap();
        assert_eq!(waiter.await.unwrap(), Some(7));
        lock(free).closed = true;
        assert_eq!(p.next_arrival().await, None);
        assert!(matches!(Pacer::new(&Load { throughput: None, ..load(1.0, false) }), Pacer::Free));
    }
}
