//! Sub-millisecond sleeps for the open model's schedule.
//!
//! tokio's timer wheel has 1 ms ticks and rounds deadlines up, so an arrival due at 10.3 ms
//! would leave at 11 ms or later: a send lateness of up to a millisecond on every request. A
//! timerfd is an hrtimer (precise to the kernel's timer slack, ~50 µs) that tokio's reactor
//! watches like any socket. One per open-model execution; if it cannot be created the
//! execution falls back to tokio's timer and says so.
//!
//! Gaps shorter than `SPIN` are not slept at all: the task yields until the time comes. At
//! high rates (above ~5,000 arrivals a second) putting the thread to sleep and waking it for
//! every arrival costs more CPU than the requests themselves (on a VM each wake-up is a trip
//! through the hypervisor) and made the thread late for the next arrival; yielding keeps
//! serving sockets and timers between checks of the clock.

use std::io;
use std::os::fd::{AsFd, AsRawFd, RawFd};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::time::TimeSpec;
use nix::sys::timerfd::{ClockId, Expiration, TimerFd, TimerFlags, TimerSetTimeFlags};
use tokio::io::unix::AsyncFd;

/// Waits shorter than this are spent yielding instead of sleeping.
const SPIN: Duration = Duration::from_micros(200);

/// A timer precise to well under a millisecond.
pub struct PreciseTimer {
    fd: Option<AsyncFd<Fd>>,
}

/// `AsyncFd` wants `AsRawFd`; nix's timer only offers `AsFd`.
struct Fd(TimerFd);

impl AsRawFd for Fd {
    fn as_raw_fd(&self) -> RawFd {
        self.0.as_fd().as_raw_fd()
    }
}

impl PreciseTimer {
    /// A timer on the monotonic clock (the one `Instant` reads).
    pub fn new() -> Self {
        // `AsyncFd::new` is deprecated because a borrowed raw fd could be closed while tokio
        // watches it; `Fd` owns the timer, so it lives exactly as long as the registration
        // (the replacement, `register`, is `unsafe`, which this crate does not allow).
        #[allow(deprecated)]
        let fd = TimerFd::new(ClockId::CLOCK_MONOTONIC, TimerFlags::TFD_NONBLOCK | TimerFlags::TFD_CLOEXEC)
            .map_err(io::Error::from)
            .and_then(|t| AsyncFd::new(Fd(t)));
        let fd = fd.map_err(|e| crate::errln!("warning: no precise timer ({e}); arrivals may leave up to 1 ms late"));
        PreciseTimer { fd: fd.ok() }
    }

    /// Sleeps until `until`.
    pub async fn sleep_until(&self, until: Instant) {
        let Some(fd) = &self.fd else {
            return tokio::time::sleep_until(until.into()).await;
        };
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return;
        }
        if left < SPIN {
            while Instant::now() < until {
                tokio::task::yield_now().await;
            }
            return;
        }
        // A zero expiration would disarm the timer; `left` is at least 1 ns here.
        if fd.get_ref().0.set(Expiration::OneShot(TimeSpec::from_duration(left)), TimerSetTimeFlags::empty()).is_err() {
            return tokio::time::sleep_until(until.into()).await;
        }
        loop {
            let Ok(mut guard) = fd.readable().await else {
                return tokio::time::sleep_until(until.into()).await;
            };
            // Reading the expiration count re-arms readiness; EAGAIN means a stale wake-up.
            match guard.get_inner().0.wait() {
                Err(Errno::EAGAIN) => guard.clear_ready(),
                _ => {
                    guard.clear_ready();
                    if Instant::now() >= until {
                        return;
                    }
                }
            }
        }
    }
}

impl Default for PreciseTimer {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn wakes_within_a_fraction_of_a_millisecond() {
        let timer = PreciseTimer::new();
        assert!(timer.fd.is_some());
        let mut late = Vec::new();
        for i in 0..50u64 {
            let due = Instant::now() + Duration::from_micros(300 + 37 * i);
            timer.sleep_until(due).await;
            let now = Instant::now();
            assert!(now >= due, "woke early");
            late.push(now - due);
        }
        late.sort();
        // tokio's own timer would be ~0.5 ms late on average here; a loaded CI machine gets slack.
        assert!(late[25] < Duration::from_micros(400), "median lateness {:?}", late[25]);
    }
}
