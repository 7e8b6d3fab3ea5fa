//! What the virtual users of one execution share: its load, scenario and pacer, the cursors of
//! its data sources, the shared state of JMeter controllers and timers (interleave cursors,
//! rendezvous points, pacing schedules), and how many users run.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use tokio::task::JoinSet;

use super::grpc::Channels;
use super::pacing::Pacer;
use super::rendezvous::Rendezvous;
use super::{vu, Context};
use crate::plan::data::DataSource;
use crate::plan::grpc::GrpcPlan;
use crate::plan::{Load, ScenarioPlan};

/// What the users of one execution share.
pub struct Execution {
    /// Load profile.
    pub load: Load,
    /// What the users run.
    pub scenario: Arc<ScenarioPlan>,
    /// Rate schedule state.
    pub pacer: Pacer,
    /// Position of the execution in the config (0-based), for messages.
    pub number: usize,
    /// One cursor per data source of the scenario.
    rows: Vec<Rows>,
    /// A data source without `loop` ran out: users stop at their next iteration.
    exhausted: AtomicBool,
    /// Users running now.
    alive: AtomicU32,
    /// Interleave cursors of blocks with `across_users`, one per interleave block.
    interleave: Box<[AtomicUsize]>,
    /// One barrier per rendezvous point.
    rendezvous: Box<[Rendezvous]>,
    /// Shared pacing schedules: the next free slot of each pacing point.
    pace: Box<[Mutex<Option<Instant>>]>,
    /// The channels of each gRPC call of the scenario, made on its first use (tonic's channels
    /// start a task, so they need the runtime).
    grpc: Box<[OnceLock<Result<Channels, String>>]>,
}

/// A data source's rows, handed out in turn to the users of an execution.
struct Rows {
    source: Arc<DataSource>,
    next: AtomicU64,
    /// Shuffled row order (`random-order`), else empty.
    order: Vec<usize>,
}

impl Rows {
    /// The next row; with `--segment`, the next of the rows this machine takes ([`Load::row_position`]).
    fn take(&self, load: &Load) -> Option<&[String]> {
        let len = self.source.rows.len();
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let n = load.row_position(n) as usize;
        if n >= len && !self.source.recycle {
            return None;
        }
        let i = n % len;
        let i = if self.order.is_empty() { i } else { self.order[i] };
        Some(&self.source.rows[i])
    }
}

impl Execution {
    /// Shared state for execution number `number`, whose users run `scenario` under `load`.
    pub fn new(load: &Load, scenario: &Arc<ScenarioPlan>, number: usize) -> Self {
        let rows = scenario
            .data_sources
            .iter()
            .map(|source| {
                let mut order = Vec::new();
                if source.random_order {
                    order = (0..source.rows.len()).collect();
                    match &load.segment {
                        // Every machine shuffles the same way, so their rows still make the whole.
                        Some(_) => fastrand::Rng::with_seed(order.len() as u64).shuffle(&mut order),
                        None => fastrand::shuffle(&mut order),
                    }
                }
                Rows { source: source.clone(), next: AtomicU64::new(0), order }
            })
            .collect();
        Execution {
            load: load.clone(),
            scenario: scenario.clone(),
            pacer: Pacer::new(load),
            number,
            rows,
            exhausted: AtomicBool::new(false),
            alive: AtomicU32::new(0),
            interleave: (0..scenario.interleave_blocks).map(|_| AtomicUsize::new(0)).collect(),
            rendezvous: (0..scenario.rendezvous).map(|_| Rendezvous::default()).collect(),
            pace: (0..scenario.pacers).map(|_| Mutex::new(None)).collect(),
            grpc: (0..scenario.grpc_calls).map(|_| OnceLock::new()).collect(),
        }
    }

    /// The channels of gRPC call `plan`, shared by the execution's users, or why TLS could not
    /// be set up for them.
    pub(super) fn grpc_channels(&self, plan: &GrpcPlan) -> Result<&Channels, &str> {
        let channels = self.grpc[plan.channels].get_or_init(|| Channels::new(plan, self.scenario.tls_verify));
        channels.as_ref().map_err(String::as_str)
    }

    /// The next child (of `len`) of shared interleave block `index`.
    pub(super) fn next_interleaved(&self, index: usize, len: usize) -> usize {
        self.interleave[index].fetch_add(1, Ordering::Relaxed) % len
    }

    /// Rendezvous point `index`.
    pub(super) fn rendezvous(&self, index: usize) -> &Rendezvous {
        &self.rendezvous[index]
    }

    /// Takes the next slot of shared pacing point `index`: the schedule's next slot, or now if
    /// that has passed; the one after is `interval` later.
    pub(super) fn pace_slot(&self, index: usize, interval: Duration) -> Instant {
        let mut next = self.pace[index].lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        let slot = next.map_or(now, |n| n.max(now));
        *next = Some(slot + interval);
        slot
    }

    /// Whether a data source without `loop` has run out.
    pub fn is_exhausted(&self) -> bool {
        self.exhausted.load(Ordering::Relaxed)
    }

    /// Users running now.
    pub fn alive(&self) -> u32 {
        self.alive.load(Ordering::Relaxed)
    }

    /// Takes the next row of each data source and hands its variables to `set`; false when one
    /// ran out (and from then on for every user).
    pub(super) fn next_rows(&self, mut set: impl FnMut(&str, &str)) -> bool {
        if self.is_exhausted() {
            return false;
        }
        for rows in &self.rows {
            let Some(row) = rows.take(&self.load) else {
                self.exhausted.store(true, Ordering::Relaxed);
                return false;
            };
            for (name, value) in rows.source.names.iter().zip(row) {
                set(name, value);
            }
        }
        true
    }
}

/// Starts user `index` on `tasks`. It counts as alive from now, not from its first poll, so an
/// open-model dispatcher that spawns several users in a row never goes past `max-vus`.
/// `first_arrival` is the arrival an open-model dispatcher started it for.
pub fn spawn(tasks: &mut JoinSet<()>, index: u32, exec: &Arc<Execution>, ctx: &Context, first_arrival: Option<u64>) {
    exec.alive.fetch_add(1, Ordering::Relaxed);
    let alive = Alive(exec.clone());
    let (exec, ctx) = (exec.clone(), ctx.clone());
    tasks.spawn(async move {
        let _alive = alive;
        vu::run(index, exec, ctx, first_arrival).await
    });
}

/// Counts a user out when its task ends, however it ends.
struct Alive(Arc<Execution>);

impl Drop for Alive {
    fn drop(&mut self) {
        self.0.alive.fetch_sub(1, Ordering::Relaxed);
    }
}
