//! Stopping the load in two steps: first no new requests ("stop"), then, after a grace period,
//! requests still in flight are abandoned and recorded as aborted ("abort").

use std::sync::{Arc, Mutex};

use tokio::sync::watch;

/// How far stopping has gone.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Phase {
    /// Load goes on.
    Running,
    /// Send no new requests.
    Stopping,
    /// Abandon requests in flight.
    Aborting,
}

/// A cloneable stop switch shared by the runner and every virtual user.
#[derive(Clone, Debug)]
pub struct Stop {
    tx: watch::Sender<Phase>,
    /// Why the load stopped early, when a scenario asked for it (`action: stop`).
    reason: Arc<Mutex<Option<String>>>,
}

impl Default for Stop {
    fn default() -> Self {
        Self::new()
    }
}

impl Stop {
    /// A switch in the running phase.
    pub fn new() -> Self {
        Stop { tx: watch::channel(Phase::Running).0, reason: Arc::default() }
    }

    /// Moves to `phase` and records why, unless a reason was recorded before.
    pub fn advance_because(&self, phase: Phase, reason: String) {
        self.reason.lock().unwrap_or_else(|p| p.into_inner()).get_or_insert(reason);
        self.advance(phase);
    }

    /// The first reason given to [`Stop::advance_because`].
    pub fn reason(&self) -> Option<String> {
        self.reason.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Moves to `phase` unless already further along.
    pub fn advance(&self, phase: Phase) {
        self.tx.send_if_modified(|p| {
            let later = phase > *p;
            if later {
                *p = phase;
            }
            later
        });
    }

    /// The current phase.
    pub fn phase(&self) -> Phase {
        *self.tx.borrow()
    }

    /// Resolves once the phase is at least `phase`.
    pub async fn reached(&self, phase: Phase) {
        let mut rx = self.tx.subscribe();
        // The sender lives in `self`, so the channel cannot close while we wait.
        let _ = rx.wait_for(|p| *p >= phase).await;
    }
}
