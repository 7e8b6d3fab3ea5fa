//! A rendezvous point (JMeter's `SyncTimer`): users arriving wait until `group` of them are
//! there, then the whole generation goes on together and the point starts a new generation.
//! With a timeout, a user that waited that long releases its generation (JMeter resets the
//! barrier, so the others waiting go on too). A test stop or the user's deadline releases it
//! alone, and its arrival no longer counts.

use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio::time::{sleep, sleep_until};

use super::stop::{Phase, Stop};

/// One rendezvous point, shared by the users of an execution.
pub(super) struct Rendezvous {
    state: Mutex<State>,
    /// The number of the last released generation.
    released: watch::Sender<u64>,
}

#[derive(Default)]
struct State {
    /// The generation now gathering.
    generation: u64,
    /// Users of that generation waiting.
    waiting: u32,
}

impl Default for Rendezvous {
    fn default() -> Self {
        Rendezvous { state: Mutex::default(), released: watch::channel(0).0 }
    }
}

impl Rendezvous {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Releases `generation` if it is still the one gathering.
    fn release(&self, s: &mut State, generation: u64) {
        if s.generation == generation {
            s.generation += 1;
            s.waiting = 0;
            self.released.send_replace(generation + 1);
        }
    }

    /// Waits until `group` users are here (or `timeout` passed); false when the test stopped
    /// or the `deadline` came first.
    pub(super) async fn meet(
        &self,
        group: u32,
        timeout: Option<Duration>,
        stop: &Stop,
        deadline: Option<Instant>,
    ) -> bool {
        let (generation, mut rx) = {
            let mut s = self.lock();
            s.waiting += 1;
            if s.waiting >= group {
                let g = s.generation;
                self.release(&mut s, g);
                return true;
            }
            // Subscribed under the lock: a release cannot slip in between.
            (s.generation, self.released.subscribe())
        };
        let mut leaving = Leaving { point: self, generation };
        let released = async {
            let _ = rx.wait_for(|g| *g > generation).await;
        };
        let timed_out = async {
            match timeout {
                Some(d) => sleep(d).await,
                None => std::future::pending().await,
            }
        };
        let past_deadline = async {
            match deadline {
                Some(d) => sleep_until(d.into()).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = released => {}
            _ = timed_out => self.release(&mut self.lock(), generation),
            _ = stop.reached(Phase::Stopping) => return false,
            _ = past_deadline => return false,
        }
        leaving.generation = u64::MAX;
        true
    }
}

/// Takes a user that leaves without being released out of its generation's count.
struct Leaving<'a> {
    point: &'a Rendezvous,
    generation: u64,
}

impl Drop for Leaving<'_> {
    fn drop(&mut self) {
        let mut s = self.point.lock();
        if s.generation == self.generation {
            s.waiting -= 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;

    async fn meet_all(
        point: Arc<Rendezvous>,
        stop: Stop,
        users: u32,
        group: u32,
        timeout: Option<Duration>,
    ) -> Vec<(bool, Instant)> {
        let start = Instant::now();
        let tasks: Vec<_> = (0..users)
            .map(|i| {
                let (point, stop) = (point.clone(), stop.clone());
                tokio::spawn(async move {
                    // Users arrive 20 ms apart.
                    sleep(Duration::from_millis(20) * i).await;
                    let met = point.meet(group, timeout, &stop, None).await;
                    (met, Instant::now())
                })
            })
            .collect();
        let mut out = Vec::new();
        for t in tasks {
            out.push(t.await.unwrap());
        }
        assert!(start.elapsed() < Duration::from_secs(2));
        out
    }

    fn spread(times: &[(bool, Instant)]) -> Duration {
        let first = times.iter().map(|t| t.1).min().unwrap();
        let last = times.iter().map(|t| t.1).max().unwrap();
        last - first
    }

    #[tokio::test]
    async fn a_full_group_goes_on_together_and_the_next_generation_gathers_anew() {
        let point = Arc::new(Rendezvous::default());
        let start = Instant::now();
        let out = meet_all(point.clone(), Stop::new(), 4, 4, None).await;
        assert!(out.iter().all(|o| o.0));
        // The last arrives after 60 ms; nobody goes before it, all within a few ms.
        assert!(out.iter().all(|o| o.1 - start >= Duration::from_millis(55)), "{out:?}");
        assert!(spread(&out) < Duration::from_millis(10), "{:?}", spread(&out));
        // Two generations of two: the first two go at ~20 ms, the next two at ~60 ms.
        let start = Instant::now();
        let out = meet_all(point, Stop::new(), 4, 2, None).await;
        let at: Vec<u128> = out.iter().map(|o| (o.1 - start).as_millis()).collect();
        assert!(at[0].abs_diff(at[1]) < 10 && at[2].abs_diff(at[3]) < 10, "{at:?}");
        assert!(at[2] >= at[1] + 30, "{at:?}");
    }

    #[tokio::test]
    async fn a_timeout_releases_a_short_group() {
        let point = Arc::new(Rendezvous::default());
        let start = Instant::now();
        let out = meet_all(point.clone(), Stop::new(), 2, 3, Some(Duration::from_millis(100))).await;
        assert!(out.iter().all(|o| o.0));
        // The first waited its 100 ms and took the second with it.
        assert!(spread(&out) < Duration::from_millis(10), "{:?}", spread(&out));
        let waited = out[0].1 - start;
        assert!(waited >= Duration::from_millis(95) && waited < Duration::from_millis(300), "{waited:?}");
        // The point starts over: a full group of one goes at once.
        let t = Instant::now();
        assert!(point.meet(1, None, &Stop::new(), None).await);
        assert!(t.elapsed() < Duration::from_millis(10));
    }

    #[tokio::test]
    async fn a_stop_or_deadline_releases_waiters_who_then_no_longer_count() {
        let point = Arc::new(Rendezvous::default());
        let stop = Stop::new();
        let stopper = stop.clone();
        tokio::spawn(async move {
            sleep(Duration::from_millis(50)).await;
            stopper.advance(Phase::Stopping);
        });
        let start = Instant::now();
        let out = meet_all(point.clone(), stop, 2, 3, None).await;
        assert!(out.iter().all(|o| !o.0), "{out:?}");
        assert!(start.elapsed() < Duration::from_millis(200));
        assert_eq!(point.lock().waiting, 0);

        // A user whose deadline passed leaves the point: a group of two then needs two more.
        let deadline = Some(Instant::now() + Duration::from_millis(30));
        assert!(!point.meet(2, None, &Stop::new(), deadline).await);
        let other = point.clone();
        let waiter = tokio::spawn(async move { other.meet(2, None, &Stop::new(), None).await });
        sleep(Duration::from_millis(30)).await;
        assert!(!waiter.is_finished(), "the user that left must not count");
        assert!(point.meet(2, None, &Stop::new(), None).await);
        assert!(waiter.await.unwrap());
    }
}
