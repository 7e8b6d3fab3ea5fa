//! Monitoring while a test runs: every source (a ServerAgent-protocol agent or in-process local
//! sampling) runs as its own task and sends [`Event`]s to the runner, which hands the values to
//! the monitoring criteria and to the optional CSV log. A source that cannot be reached is a
//! warning and an [`Event::Unavailable`], never a reason to stop or hang the test.

mod client;
mod local;
mod log;

use std::path::Path;
use std::time::Instant;

use tokio::sync::{mpsc, watch};
use tokio::task::JoinSet;

use crate::plan::monitoring::{MonitorSource, SourceKind};

/// Figures of one source at one moment.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    /// Source name (what criteria write before the `/`).
    pub source: String,
    /// Seconds since the test started.
    pub ts: f64,
    /// Metric values in the order they were asked for.
    pub values: Vec<(String, f64)>,
}

/// What sources report.
#[derive(Clone, Debug, PartialEq)]
pub enum Event {
    /// New figures.
    Sample(Sample),
    /// The source cannot deliver (not reachable, gone, or refused the request).
    Unavailable {
        /// Source name.
        source: String,
        /// Why, for warnings and JUnit.
        reason: String,
    },
}

/// The running sources of one test.
pub struct Monitors {
    tasks: JoinSet<()>,
    stop: watch::Sender<bool>,
}

impl Monitors {
    /// Starts every source; events go to `tx`. CSV logs go to `dir`.
    pub fn start(sources: &[MonitorSource], started: Instant, dir: &Path, tx: mpsc::UnboundedSender<Event>) -> Self {
        let (stop, stop_rx) = watch::channel(false);
        let mut tasks = JoinSet::new();
        for source in sources {
            let log = source.logging.then(|| log::Log::create(&dir.join(source.log_file_name()), &source.metrics));
            let log = log.transpose().unwrap_or_else(|e| {
                crate::errln!("warning: cannot write the monitoring log of `{}`: {e}", source.label);
                None
            });
            let ctx = Context { source: source.clone(), started, tx: tx.clone(), stop: stop_rx.clone(), log };
            match &source.kind {
                SourceKind::ServerAgent { address } => tasks.spawn(client::run(address.clone(), ctx)),
                SourceKind::Local { .. } => tasks.spawn(local::run(ctx)),
            };
        }
        Monitors { tasks, stop }
    }

    /// Stops every source (agents are told `exit`) and waits for them.
    pub async fn stop(mut self) {
        let _ = self.stop.send(true);
        while self.tasks.join_next().await.is_some() {}
    }
}

/// What a source task needs.
struct Context {
    source: MonitorSource,
    started: Instant,
    tx: mpsc::UnboundedSender<Event>,
    stop: watch::Receiver<bool>,
    log: Option<log::Log>,
}

impl Context {
    /// Sends values read now, and logs them.
    fn emit(&mut self, values: Vec<f64>) {
        let ts = self.started.elapsed().as_secs_f64();
        if let Some(log) = &mut self.log {
            if let Err(e) = log.write(&values) {
                crate::errln!("warning: monitoring log of `{}`: {e}", self.source.label);
                self.log = None;
            }
        }
        let values = self.source.metrics.iter().cloned().zip(values).collect();
        let _ = self.tx.send(Event::Sample(Sample { source: self.source.label.clone(), ts, values }));
    }

    /// Reports the source as unavailable, with a warning on the console.
    fn unavailable(&self, reason: String) {
        crate::errln!("warning: monitoring source `{}`: {reason}; the test goes on without it", self.source.label);
        let _ = self.tx.send(Event::Unavailable { source: self.source.label.clone(), reason });
    }

    /// Resolves when the test asks the sources to stop.
    async fn stopped(&mut self) {
        let _ = self.stop.wait_for(|s| *s).await;
    }
}
