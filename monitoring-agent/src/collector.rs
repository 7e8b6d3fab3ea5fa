//! Sampling: refresh only what the requested metrics need, then compute their values.
//!
//! Sources: sysinfo for total CPU use, RAM and network counters; `statvfs` (through `nix`) for filesystem usage,
//! because sysinfo's `Disks` has no `f_bfree` and so cannot give psutil's `used` (on a disk with reserved blocks
//! `total − available` is off by the reserve); `/proc` for everything per process, disk I/O and TCP states
//! (see `procfs`). Each source keeps the time of its last refresh: a source refreshed less than
//! [`MIN_REFRESH`] ago is reused, so several clients polling at once cost one read, and rates (`disk-read`,
//! `bytes-recv`, …) are computed between two real refreshes.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::metric::{Agg, HostMetric, Metric, ProcMetric, Scope, SystemMetric};
use crate::procfs::{self, DiskIo};
use crate::tree::{Proc, ProcNeeds, Tree};

pub use crate::tree::{mms_pid_file, python_temp_dir, Frontend, Selector, MMS_PID_FILE_NAME, MMS_WORKER_PATTERN};

/// A source refreshed more recently than this is reused rather than read again.
pub const MIN_REFRESH: Duration = Duration::from_millis(100);

/// sysinfo computes total CPU from the difference of two `/proc/stat` reads; closer than this, it is noise.
const MIN_CPU_REFRESH: Duration = sysinfo::MINIMUM_CPU_UPDATE_INTERVAL;

/// What one `sample` call must refresh.
#[derive(Clone, Copy, Debug, Default)]
struct Needs {
    procs: bool,
    proc: ProcNeeds,
    cpu: bool,
    mem: bool,
    disk_root: bool,
    disk_cwd: bool,
    disk_io: bool,
    net: bool,
    tcp: bool,
}

impl Needs {
    fn of(metrics: &[Metric]) -> Needs {
        let mut n = Needs::default();
        for m in metrics {
            let pm = match m {
                Metric::Frontend(p) | Metric::Aggregate(_, _, p) => Some(*p),
                _ => None,
            };
            match m {
                Metric::Frontend(_)
                | Metric::Aggregate(..)
                | Metric::TotalProcesses
                | Metric::TotalWorkers
                | Metric::Orphans
                | Metric::Zombies => n.procs = true,
                Metric::System(SystemMetric::DiskUsed) => n.disk_root = true,
                Metric::System(SystemMetric::MemoryPercent) | Metric::Host(HostMetric::Mem) => n.mem = true,
                Metric::System(_) | Metric::Host(HostMetric::DiskRead | HostMetric::DiskWrite) => n.disk_io = true,
                Metric::Host(HostMetric::Cpu) => n.cpu = true,
                Metric::Host(HostMetric::DiskSpace) => n.disk_cwd = true,
                Metric::Host(HostMetric::BytesRecv | HostMetric::BytesSent) => n.net = true,
                Metric::Host(HostMetric::ConnAll) => n.tcp = true,
            }
            match pm {
                Some(ProcMetric::IoReadCount | ProcMetric::IoWriteCount)
                | Some(ProcMetric::IoReadBytes | ProcMetric::IoWriteBytes) => n.proc.io = true,
                Some(ProcMetric::FileDescriptors) => n.proc.fds = true,
                Some(ProcMetric::MemoryRss | ProcMetric::MemoryVms) => n.proc.mem = true,
                // memory_percent also divides by total RAM.
                Some(ProcMetric::MemoryPercent) => {
                    n.proc.mem = true;
                    n.mem = true;
                }
                _ => {}
            }
        }
        n
    }
}

/// A value and when it was read.
#[derive(Debug, Default)]
struct Timed<T> {
    value: T,
    at: Option<Instant>,
}

impl<T> Timed<T> {
    fn stale(&self, now: Instant, min: Duration) -> bool {
        self.at.is_none_or(|at| now.duration_since(at) >= min)
    }
}

/// A cumulative counter pair and its per-second rate between the last two reads.
#[derive(Debug, Default)]
struct Rate {
    last: Option<(u64, u64, Instant)>,
    per_sec: (f64, f64),
}

impl Rate {
    fn update(&mut self, a: u64, b: u64, now: Instant) {
        if let Some((pa, pb, at)) = self.last {
            let secs = now.duration_since(at).as_secs_f64();
            if secs > 0.0 {
                self.per_sec = (a.saturating_sub(pa) as f64 / secs, b.saturating_sub(pb) as f64 / secs);
            }
        }
        self.last = Some((a, b, now));
    }
}

/// Samples the host and the selected model-server processes. Blocking but cheap (a few hundred µs for 50 processes).
#[derive(Debug)]
pub struct Collector {
    tree: Tree,
    page_size: u64,
    /// sysinfo's handle for CPU and memory; `None` where sysinfo does not support the platform.
    system: Option<sysinfo::System>,
    networks: Option<sysinfo::Networks>,
    procs: Timed<ProcNeeds>,
    /// Process extras asked for so far: once a client wants fd counts, every refresh reads them, so two clients with
    /// different lists do not make each other's refreshes incomplete.
    sticky: ProcNeeds,
    cpu: Timed<f64>,
    mem: Timed<(f64, u64)>,
    disk_root: Timed<u64>,
    disk_cwd: Timed<f64>,
    disk_io: Timed<DiskIo>,
    disk_rate: Rate,
    net: Timed<()>,
    net_rate: Rate,
    tcp: Timed<u64>,
    last_sample: Option<Instant>,
}

impl Collector {
    /// A collector for `selector`. Nothing is read until the first [`Collector::sample`].
    pub fn new(selector: Selector) -> Self {
        let (clk_tck, page_size) = procfs::clock_ticks_and_page_size();
        Collector {
            tree: Tree::new(selector, clk_tck),
            page_size,
            system: sysinfo::System::new().ok(),
            networks: None,
            procs: Timed::default(),
            sticky: ProcNeeds::default(),
            cpu: Timed::default(),
            mem: Timed::default(),
            disk_root: Timed::default(),
            disk_cwd: Timed::default(),
            disk_io: Timed::default(),
            disk_rate: Rate::default(),
            net: Timed::default(),
            net_rate: Rate::default(),
            tcp: Timed::default(),
            last_sample: None,
        }
    }

    /// How often all of `/proc` is scanned for new descendants (default 5 s; known processes are re-read every
    /// sample regardless).
    pub fn with_rescan_interval(mut self, every: Duration) -> Self {
        self.tree.set_rescan(every);
        self
    }

    /// Time since the last [`Collector::sample`], `None` before the first. Rates and CPU percentages need two
    /// samples, so a caller whose collector is cold can sample once, wait, and sample again.
    pub fn last_sample_age(&self) -> Option<Duration> {
        self.last_sample.map(|t| t.elapsed())
    }

    /// A new problem finding the frontend (pid file empty or naming a process that is not running, pid 1
    /// refused, ...) or the news that it was found after one; each is given once, for the caller to log.
    pub fn take_warning(&mut self) -> Option<String> {
        self.tree.take_warning()
    }

    /// Refreshes what `metrics` need, then returns their values in order. Never fails: what cannot be read is 0.
    pub fn sample(&mut self, metrics: &[Metric]) -> Vec<f64> {
        let needs = Needs::of(metrics);
        self.refresh(needs);
        self.last_sample = Some(Instant::now());
        metrics.iter().map(|m| self.value(*m)).map(|v| if v.is_finite() { v } else { 0.0 }).collect()
    }

    fn refresh(&mut self, needs: Needs) {
        let now = Instant::now();
        if needs.mem && self.mem.stale(now, MIN_REFRESH) {
            if let Some(sys) = &mut self.system {
                sys.refresh_memory_specifics(sysinfo::MemoryRefreshKind::nothing().with_ram());
                let total = sys.total_memory();
                let pct = if total > 0 { sys.used_memory() as f64 / total as f64 * 100.0 } else { 0.0 };
                self.mem = Timed { value: (round1(pct), total), at: Some(now) };
            }
        }
        if needs.procs {
            self.sticky.mem |= needs.proc.mem;
            self.sticky.io |= needs.proc.io;
            self.sticky.fds |= needs.proc.fds;
            let had = self.procs.value;
            let covered = (had.mem || !self.sticky.mem) && (had.io || !self.sticky.io) && (had.fds || !self.sticky.fds);
            if self.procs.stale(now, MIN_REFRESH) || !covered {
                self.tree.refresh(self.sticky);
                self.procs = Timed { value: self.sticky, at: Some(now) };
            }
        }
        if needs.cpu && self.cpu.stale(now, MIN_CPU_REFRESH) {
            if let Some(sys) = &mut self.system {
                sys.refresh_cpu_usage();
                self.cpu = Timed { value: round1(f64::from(sys.global_cpu_usage())), at: Some(now) };
            }
        }
        if needs.disk_root && self.disk_root.stale(now, MIN_REFRESH) {
            let used = fs_usage(std::path::Path::new("/")).map_or(0, |u| u.used);
            self.disk_root = Timed { value: used, at: Some(now) };
        }
        if needs.disk_cwd && self.disk_cwd.stale(now, MIN_REFRESH) {
            let pct = std::env::current_dir().ok().and_then(|d| fs_usage(&d)).map_or(0.0, |u| u.percent);
            self.disk_cwd = Timed { value: pct, at: Some(now) };
        }
        if needs.disk_io && self.disk_io.stale(now, MIN_REFRESH) {
            let io = self.tree.reader().disk_io().unwrap_or_default();
            self.disk_rate.update(io.read_bytes, io.write_bytes, now);
            self.disk_io = Timed { value: io, at: Some(now) };
        }
        if needs.net && self.net.stale(now, MIN_REFRESH) {
            if self.networks.is_none() {
                self.networks = sysinfo::Networks::new().ok();
            }
            let Some(networks) = self.networks.as_mut() else { return };
            networks.refresh(true);
            let (rx, tx) = networks.values().fold((0u64, 0u64), |(rx, tx), n| {
                (rx.wrapping_add(n.total_received()), tx.wrapping_add(n.total_transmitted()))
            });
            self.net_rate.update(rx, tx, now);
            self.net = Timed { value: (), at: Some(now) };
        }
        if needs.tcp && self.tcp.stale(now, MIN_REFRESH) {
            let n = self.tree.reader().tcp_established();
            self.tcp = Timed { value: n, at: Some(now) };
        }
    }

    fn value(&self, metric: Metric) -> f64 {
        match metric {
            Metric::System(s) => match s {
                SystemMetric::DiskUsed => self.disk_root.value as f64,
                SystemMetric::MemoryPercent => self.mem.value.0,
                SystemMetric::ReadCount => self.disk_io.value.read_count as f64,
                SystemMetric::WriteCount => self.disk_io.value.write_count as f64,
                SystemMetric::ReadBytes => self.disk_io.value.read_bytes as f64,
                SystemMetric::WriteBytes => self.disk_io.value.write_bytes as f64,
            },
            Metric::Host(h) => match h {
                HostMetric::Cpu => self.cpu.value,
                HostMetric::Mem => self.mem.value.0,
                HostMetric::DiskSpace => self.disk_cwd.value,
                HostMetric::DiskRead => self.disk_rate.per_sec.0,
                HostMetric::DiskWrite => self.disk_rate.per_sec.1,
                HostMetric::BytesRecv => self.net_rate.per_sec.0,
                HostMetric::BytesSent => self.net_rate.per_sec.1,
                HostMetric::ConnAll => self.tcp.value as f64,
            },
            Metric::Frontend(p) => self.tree.frontend.as_ref().map_or(0.0, |f| self.proc_value(f, p)),
            Metric::Aggregate(agg, scope, p) => {
                let front = match scope {
                    Scope::All => self.tree.frontend.as_ref(),
                    Scope::Workers => None,
                };
                let values = front.into_iter().chain(self.tree.workers()).map(|proc| self.proc_value(proc, p));
                aggregate(agg, values)
            }
            Metric::TotalWorkers => self.total_workers() as f64,
            // Workers + frontend; MMS master said `len(workers) + 1` even with no frontend.
            Metric::TotalProcesses => match self.tree.frontend {
                Some(_) => (self.total_workers() + 1) as f64,
                None => 0.0,
            },
            Metric::Orphans => self.tree.orphans() as f64,
            Metric::Zombies => self.tree.zombies() as f64,
        }
    }

    fn total_workers(&self) -> usize {
        if self.tree.frontend.is_none() {
            return 0;
        }
        self.tree.workers().count()
    }

    fn proc_value(&self, p: &Proc, metric: ProcMetric) -> f64 {
        let hz = self.tree_clk_tck();
        let io = p.io.unwrap_or_default();
        // `statm` when it was read (exact); `stat` otherwise (can lag, see procfs::Statm).
        let (vms, rss) = match p.statm {
            Some(m) => (m.size_pages * self.page_size, m.resident_pages * self.page_size),
            None => (p.stat.vsize, p.stat.rss_pages * self.page_size),
        };
        match metric {
            ProcMetric::CpuPercent => p.cpu_percent,
            ProcMetric::CpuUserTime => p.stat.utime as f64 / hz,
            ProcMetric::CpuSystemTime => p.stat.stime as f64 / hz,
            ProcMetric::CpuIowaitTime => p.stat.iowait as f64 / hz,
            ProcMetric::MemoryPercent => {
                let total = self.mem.value.1;
                if total == 0 {
                    0.0
                } else {
                    rss as f64 / total as f64 * 100.0
                }
            }
            ProcMetric::MemoryRss => rss as f64,
            ProcMetric::MemoryVms => vms as f64,
            ProcMetric::IoReadCount => io.read_count as f64,
            ProcMetric::IoWriteCount => io.write_count as f64,
            ProcMetric::IoReadBytes => io.read_bytes as f64,
            ProcMetric::IoWriteBytes => io.write_bytes as f64,
            ProcMetric::FileDescriptors => p.fds.unwrap_or(0) as f64,
            ProcMetric::Threads => p.stat.threads as f64,
        }
    }

    fn tree_clk_tck(&self) -> f64 {
        self.tree.clk_tck()
    }
}

/// `sum`/`avg`/`min`/`max`; 0 over an empty set (MMS aggregated `[0]` then).
fn aggregate(agg: Agg, values: impl Iterator<Item = f64>) -> f64 {
    let (mut n, mut sum, mut min, mut max) = (0usize, 0.0, f64::INFINITY, f64::NEG_INFINITY);
    for v in values {
        n += 1;
        sum += v;
        min = min.min(v);
        max = max.max(v);
    }
    if n == 0 {
        return 0.0;
    }
    match agg {
        Agg::Sum => sum,
        Agg::Avg => sum / n as f64,
        Agg::Min => min,
        Agg::Max => max,
    }
}

fn round1(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

/// psutil's `disk_usage`: `used = (f_blocks − f_bfree) × f_frsize`, `percent = used / (used + avail)`, one decimal.
struct FsUsage {
    used: u64,
    percent: f64,
}

fn fs_usage(path: &std::path::Path) -> Option<FsUsage> {
    let st = nix::sys::statvfs::statvfs(path).ok()?;
    let frsize = st.fragment_size() as u64;
    let used = (st.blocks() as u64).saturating_sub(st.blocks_free() as u64).saturating_mul(frsize);
    let avail = (st.blocks_available() as u64).saturating_mul(frsize);
    let percent = if used + avail > 0 { round1(used as f64 / (used + avail) as f64 * 100.0) } else { 0.0 };
    Some(FsUsage { used, percent })
}

/// A collector shared by the agent's clients and the Prometheus endpoint.
///
/// The lock is held only for the blocking `sample` (no `.await` inside), so a `std` mutex is right here.
#[derive(Clone, Debug)]
pub struct SharedCollector(Arc<Mutex<Collector>>);

impl SharedCollector {
    /// Wraps a collector.
    pub fn new(collector: Collector) -> Self {
        SharedCollector(Arc::new(Mutex::new(collector)))
    }

    /// [`Collector::sample`] under the lock; a frontend warning it raised goes to the log.
    pub fn sample(&self, metrics: &[Metric]) -> Vec<f64> {
        let mut collector = self.lock();
        let values = collector.sample(metrics);
        if let Some(warning) = collector.take_warning() {
            crate::server::log(&format!("warning: {warning}"));
        }
        values
    }

    /// [`Collector::last_sample_age`] under the lock.
    pub fn last_sample_age(&self) -> Option<Duration> {
        self.lock().last_sample_age()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Collector> {
        // A panic while sampling cannot leave the collector inconsistent in a way that matters (values are
        // recomputed on the next refresh), so a poisoned lock is simply taken over.
        self.0.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aggregates_over_empty_sets_are_zero() {
        for agg in [Agg::Sum, Agg::Avg, Agg::Min, Agg::Max] {
            assert_eq!(aggregate(agg, std::iter::empty()), 0.0);
        }
        assert_eq!(aggregate(Agg::Avg, [1.0, 2.0].into_iter()), 1.5);
        assert_eq!(aggregate(Agg::Min, [3.0, 2.0].into_iter()), 2.0);
    }

    #[test]
    fn no_frontend_means_zero_processes() {
        let mut c = Collector::new(Selector { frontend: Frontend::None, worker_match: None, allow_pid_1: false });
        let metrics: Vec<Metric> = ["total_processes", "total_workers", "sum_all_memory_rss", "frontend_threads"]
            .iter()
            .filter_map(|n| Metric::parse(n).ok())
            .collect();
        assert_eq!(c.sample(&metrics), vec![0.0; 4]);
    }

    #[test]
    fn own_process_as_frontend() {
        let me = std::process::id();
        let mut c = Collector::new(Selector { frontend: Frontend::Pid(me), worker_match: None, allow_pid_1: false });
        let metrics: Vec<Metric> = ["total_processes", "frontend_threads", "frontend_memory_rss", "mem", "disk-space"]
            .iter()
            .filter_map(|n| Metric::parse(n).ok())
            .collect();
        let v = c.sample(&metrics);
        assert_eq!(v[0], 1.0);
        assert!(v[1] >= 1.0 && v[2] > 0.0 && v[3] > 0.0 && v[4] > 0.0, "{v:?}");
    }
}
