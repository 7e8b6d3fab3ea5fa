//! Finding the frontend and keeping track of its descendants between polls.
//!
//! Scanning all of `/proc` costs one `stat` read per process on the host (hundreds on a real server), so it is
//! done only every `rescan` period (default 5 s), when the frontend changes, or when a tracked process died (a
//! restarted worker likely appeared). Every other poll re-reads only the pids already known, through `/proc` files
//! held open between polls. `/proc/<pid>/task/<tid>/children` would be cheaper but only exists on kernels built
//! with `CONFIG_PROC_CHILDREN` (not the one this was measured on), so the scan is the portable way to see new
//! children.
//!
//! A pid alone does not identify a process across pid reuse; `(pid, start time)` does, so both are kept.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use regex::Regex;

use crate::procfs::{Files, Reader, Stat};

/// How the frontend (the model server's main process) is found.
#[derive(Clone, Debug)]
pub enum Frontend {
    /// No frontend: process metrics are all 0.
    None,
    /// This pid, whatever process holds it.
    Pid(u32),
    /// The pid written in this file (MMS and TorchServe write `$TMPDIR/.model_server.pid`); re-read when the pid it
    /// named is gone, and at each rescan.
    PidFile(PathBuf),
    /// The oldest process whose full command line (arguments joined by spaces) matches; the agent itself and its
    /// ancestors are never matched, since their command lines usually contain the pattern.
    Match(Regex),
}

/// Which processes the agent reports on.
#[derive(Clone, Debug)]
pub struct Selector {
    /// How to find the frontend.
    pub frontend: Frontend,
    /// Only descendants whose command line matches count as workers (all descendants when `None`).
    pub worker_match: Option<Regex>,
    /// Let pid 1 be the frontend. Off by default: on a host, every process descends from init, so all of them
    /// would count as workers; in a container the model server may really be pid 1.
    pub allow_pid_1: bool,
}

/// The pid file's name in the temp folder: MMS's `multi-model-server --start` and TorchServe's `torchserve --start`
/// both write `os.path.join(tempfile.gettempdir(), ".model_server.pid")`.
pub const MMS_PID_FILE_NAME: &str = ".model_server.pid";

/// What MMS's monitoring plugin required of a worker's command line: MMS's and TorchServe's `WorkerLifeCycle`
/// start `python …/model_service_worker.py …`.
pub const MMS_WORKER_PATTERN: &str = r"model_service_worker\.py";

/// Where MMS and TorchServe write the frontend's pid: `$TMPDIR/.model_server.pid`, the temp folder found as
/// Python's `tempfile.gettempdir()` finds it (see [`python_temp_dir`]).
pub fn mms_pid_file() -> PathBuf {
    python_temp_dir().join(MMS_PID_FILE_NAME)
}

/// Python's `tempfile.gettempdir()` on a POSIX host: the first of `$TMPDIR`, `$TEMP`, `$TMP`, `/tmp`, `/var/tmp`,
/// `/usr/tmp` that is a folder (Python also insists it can create a file there; a launcher that wrote its pid file
/// could), else the current folder; made absolute.
pub fn python_temp_dir() -> PathBuf {
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    temp_dir_from(|var| std::env::var_os(var), cwd)
}

fn temp_dir_from(var: impl Fn(&str) -> Option<std::ffi::OsString>, cwd: PathBuf) -> PathBuf {
    let from_env = ["TMPDIR", "TEMP", "TMP"].into_iter().filter_map(var).filter(|v| !v.is_empty()).map(PathBuf::from);
    let fixed = ["/tmp", "/var/tmp", "/usr/tmp"].iter().map(PathBuf::from);
    // `cwd.join` keeps an absolute path as it is.
    from_env.chain(fixed).map(|d| cwd.join(d)).find(|d| d.is_dir()).unwrap_or(cwd)
}

impl Selector {
    /// What MMS's `ServerLocalClient` watched when no frontend is given: the pid in [`mms_pid_file`], with workers
    /// the descendants whose command line runs `model_service_worker.py` unless `worker_match` says otherwise.
    pub fn mms_default(worker_match: Option<Regex>, allow_pid_1: bool) -> Selector {
        let worker_match = worker_match.or_else(|| Regex::new(MMS_WORKER_PATTERN).ok());
        Selector { frontend: Frontend::PidFile(mms_pid_file()), worker_match, allow_pid_1 }
    }
}

/// Largest pid file read (a pid is a few bytes).
const PID_FILE_CAP: u64 = 4096;

/// One tracked process with its latest counters.
#[derive(Debug)]
pub(crate) struct Proc {
    pub pid: u32,
    pub stat: Stat,
    /// Whether it counts as a worker: its command line matched `worker_match` (or there is no filter).
    pub is_worker: bool,
    /// psutil-style CPU percent since the previous read of this process (0 on first sight).
    pub cpu_percent: f64,
    pub io: Option<crate::procfs::Io>,
    pub statm: Option<crate::procfs::Statm>,
    pub fds: Option<u64>,
    /// `(utime + stime, when)` at the previous read.
    prev_cpu: Option<(u64, Instant)>,
    /// `/proc` files kept open between polls.
    files: Files,
}

impl Proc {
    fn new(pid: u32, stat: Stat) -> Self {
        Proc {
            pid,
            stat,
            is_worker: false,
            cpu_percent: 0.0,
            io: None,
            statm: None,
            fds: None,
            prev_cpu: None,
            files: Files::default(),
        }
    }
}

/// What a refresh must read besides `stat`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct ProcNeeds {
    /// `statm` (RSS, VMS).
    pub mem: bool,
    pub io: bool,
    pub fds: bool,
}

/// The frontend and everything known to descend from it.
#[derive(Debug)]
pub(crate) struct Tree {
    selector: Selector,
    reader: Reader,
    clk_tck: f64,
    rescan: Duration,
    pub frontend: Option<Proc>,
    /// Descendants seen at least once and still alive (workers, non-matching intermediates and zombies).
    pub known: HashMap<u32, Proc>,
    last_scan: Option<Instant>,
    force_scan: bool,
    /// Pids the agent must never pick as frontend: itself and its ancestors.
    excluded: HashSet<u32>,
    /// Why there is no frontend, as last warned (each problem is warned once, not at every poll).
    problem: Option<String>,
    /// A warning not yet taken by [`Tree::take_warning`].
    warning: Option<String>,
}

impl Tree {
    pub fn new(selector: Selector, clk_tck: u64) -> Self {
        Tree {
            selector,
            reader: Reader::default(),
            clk_tck: clk_tck.max(1) as f64,
            rescan: Duration::from_secs(5),
            frontend: None,
            known: HashMap::new(),
            last_scan: None,
            force_scan: true,
            excluded: HashSet::new(),
            problem: None,
            warning: None,
        }
    }

    pub fn set_rescan(&mut self, every: Duration) {
        self.rescan = every.max(Duration::from_millis(100));
    }

    pub fn clk_tck(&self) -> f64 {
        self.clk_tck
    }

    pub fn reader(&mut self) -> &mut Reader {
        &mut self.reader
    }

    /// A new problem finding the frontend (or the news that it was found after one), once.
    pub fn take_warning(&mut self) -> Option<String> {
        self.warning.take()
    }

    /// Brings the frontend and the known descendants up to date and reads what `needs` asks for.
    pub fn refresh(&mut self, needs: ProcNeeds) {
        let now = Instant::now();
        let scan_due = self.force_scan || self.last_scan.is_none_or(|t| now.duration_since(t) >= self.rescan);
        self.refresh_frontend(scan_due);
        let Some(front_pid) = self.frontend.as_ref().map(|f| f.pid) else {
            self.known.clear();
            return;
        };
        if scan_due {
            self.scan_descendants(front_pid);
            self.last_scan = Some(now);
            self.force_scan = false;
        } else {
            self.refresh_known();
        }
        let clk_tck = self.clk_tck;
        if let Some(front) = self.frontend.as_mut() {
            read_extras(&mut self.reader, front, needs, clk_tck, now);
        }
        for p in self.known.values_mut().filter(|p| p.is_worker && !p.stat.is_zombie()) {
            read_extras(&mut self.reader, p, needs, clk_tck, now);
        }
    }

    /// Re-reads the frontend's `stat`; if it is gone (or its pid now belongs to another process), looks for it again.
    fn refresh_frontend(&mut self, scan_due: bool) {
        if let Some(front) = &mut self.frontend {
            let alive = match self.reader.stat_held(front.pid, &mut front.files) {
                Some(stat) if stat.start == front.stat.start && !stat.is_zombie() => {
                    front.stat = stat;
                    true
                }
                _ => false,
            };
            // A pid file rewritten while the old process lingers: follow the file (checked at each rescan).
            let superseded = alive
                && scan_due
                && match &self.selector.frontend {
                    Frontend::PidFile(path) => read_pid_file(path).is_ok_and(|pid| {
                        pid != front.pid
                            && (pid != 1 || self.selector.allow_pid_1)
                            && self.reader.stat(pid).is_some_and(|s| !s.is_zombie())
                    }),
                    _ => false,
                };
            if alive && !superseded {
                return;
            }
            self.frontend = None;
            self.known.clear();
            self.force_scan = true;
        }
        let (found, source) = match &self.selector.frontend {
            Frontend::None => return,
            Frontend::Pid(pid) => (Ok(*pid), "--frontend-pid".to_string()),
            Frontend::PidFile(path) => {
                let source = format!("frontend pid file `{}`", path.display());
                (read_pid_file(path), source)
            }
            Frontend::Match(re) => {
                let re = re.clone();
                let found = self.find_oldest_match(&re).ok_or_else(|| format!("no process matches `{re}`"));
                (found, format!("--frontend-match `{re}`"))
            }
        };
        let problem = match found {
            Ok(1) if !self.selector.allow_pid_1 => format!(
                "{source} names pid 1 (init), under which every process on the host would count as a worker; \
                 pass --allow-pid-1 if the model server really is pid 1 (in a container)"
            ),
            Ok(pid) => match self.reader.stat(pid).filter(|s| !s.is_zombie()) {
                Some(stat) => {
                    self.frontend = Some(Proc::new(pid, stat));
                    self.known.clear();
                    self.force_scan = true;
                    if self.problem.take().is_some() {
                        self.warning = Some(format!("frontend found: pid {pid}"));
                    }
                    return;
                }
                None => format!("{source} names pid {pid}, which is not running"),
            },
            Err(why) => why,
        };
        if self.problem.as_ref() != Some(&problem) {
            self.warning = Some(format!("{problem}; the frontend is reported absent (process metrics are 0)"));
            self.problem = Some(problem);
        }
    }

    fn find_oldest_match(&mut self, re: &Regex) -> Option<u32> {
        if self.excluded.is_empty() {
            // The agent and its ancestors (e.g. the `sh -c` that started it) carry the pattern in their own
            // command lines; they are never the frontend.
            let mut pid = std::process::id();
            while pid > 1 && self.excluded.insert(pid) {
                match self.reader.stat(pid) {
                    Some(s) => pid = s.ppid,
                    None => break,
                }
            }
        }
        let mut best: Option<(u64, u32)> = None;
        for pid in self.reader.pids() {
            if self.excluded.contains(&pid) || (pid == 1 && !self.selector.allow_pid_1) {
                continue;
            }
            let Some(cmd) = self.reader.cmdline(pid) else { continue };
            if cmd.is_empty() || !re.is_match(&cmd) {
                continue;
            }
            let Some(stat) = self.reader.stat(pid).filter(|s| !s.is_zombie()) else { continue };
            if best.is_none_or(|b| (stat.start, pid) < b) {
                best = Some((stat.start, pid));
            }
        }
        best.map(|(_, pid)| pid)
    }

    /// Reads every process's parent, adds new descendants of the frontend, and re-checks worker command lines.
    fn scan_descendants(&mut self, front_pid: u32) {
        let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
        let mut stats: HashMap<u32, Stat> = HashMap::new();
        for pid in self.reader.pids() {
            if let Some(stat) = self.reader.stat(pid) {
                children.entry(stat.ppid).or_default().push(pid);
                stats.insert(pid, stat);
            }
        }
        // Known processes that vanished or whose pid was reused are dropped.
        self.known.retain(|pid, p| stats.get(pid).is_some_and(|s| s.start == p.stat.start));
        for (pid, p) in self.known.iter_mut() {
            if let Some(s) = stats.get(pid) {
                p.stat = *s;
            }
        }
        // Breadth-first from the frontend and from every remembered process, so children of orphans count too.
        let mut queue: Vec<u32> = std::iter::once(front_pid).chain(self.known.keys().copied()).collect();
        let mut seen: HashSet<u32> = queue.iter().copied().collect();
        while let Some(parent) = queue.pop() {
            for child in children.get(&parent).into_iter().flatten() {
                if *child != front_pid && seen.insert(*child) {
                    queue.push(*child);
                    if let Some(stat) = stats.get(child) {
                        self.known.entry(*child).or_insert_with(|| Proc::new(*child, *stat));
                    }
                }
            }
        }
        // A child may still be a fork of its parent that has not exec'd yet, so negatives are re-checked each scan.
        for p in self.known.values_mut() {
            if p.stat.is_zombie() {
                p.is_worker = false;
            } else if !p.is_worker {
                p.is_worker = match &self.selector.worker_match {
                    None => true,
                    Some(re) => self.reader.cmdline(p.pid).is_some_and(|c| re.is_match(&c)),
                };
            }
        }
    }

    /// Re-reads `stat` of the known workers and zombies; a death forces a scan on the next poll.
    fn refresh_known(&mut self) {
        let reader = &mut self.reader;
        let mut died = false;
        self.known.retain(|pid, p| {
            if !p.is_worker && !p.stat.is_zombie() {
                // Non-worker intermediates only matter for the tree; the next scan refreshes them.
                return true;
            }
            match reader.stat_held(*pid, &mut p.files) {
                Some(stat) if stat.start == p.stat.start => {
                    if stat.is_zombie() {
                        p.is_worker = false;
                    }
                    p.stat = stat;
                    true
                }
                _ => {
                    died = true;
                    false
                }
            }
        });
        if died {
            self.force_scan = true;
        }
    }

    /// Live worker processes.
    pub fn workers(&self) -> impl Iterator<Item = &Proc> {
        self.known.values().filter(|p| p.is_worker && !p.stat.is_zombie())
    }

    /// Descendants that exited and were not reaped.
    pub fn zombies(&self) -> usize {
        self.known.values().filter(|p| p.stat.is_zombie()).count()
    }

    /// Workers whose parent is neither the frontend nor another tracked descendant: re-parented to init or to a
    /// subreaper (MMS counted `ppid == 1`, which misses subreapers).
    pub fn orphans(&self) -> usize {
        let Some(front) = &self.frontend else { return 0 };
        self.workers().filter(|p| p.stat.ppid != front.pid && !self.known.contains_key(&p.stat.ppid)).count()
    }
}

/// CPU percent from the tick delta, and the optional io/fd reads.
fn read_extras(reader: &mut Reader, p: &mut Proc, needs: ProcNeeds, clk_tck: f64, now: Instant) {
    let ticks = p.stat.utime + p.stat.stime;
    p.cpu_percent = match p.prev_cpu {
        Some((prev, at)) if now > at => {
            let secs = now.duration_since(at).as_secs_f64();
            let pct = ticks.saturating_sub(prev) as f64 / clk_tck / secs * 100.0;
            // psutil rounds to one decimal.
            (pct * 10.0).round() / 10.0
        }
        // Same instant (two samples in one refresh) keeps the last value; first sight is 0, as psutil.
        Some(_) => p.cpu_percent,
        None => 0.0,
    };
    p.prev_cpu = Some((ticks, now));
    if needs.mem {
        p.statm = reader.statm_held(p.pid, &mut p.files);
    }
    if needs.io {
        p.io = reader.io_held(p.pid, &mut p.files);
    }
    if needs.fds {
        p.fds = reader.fd_count(p.pid);
    }
}

/// The first word of the file as a pid, or why there is none ("frontend pid file `x` …").
fn read_pid_file(path: &std::path::Path) -> Result<u32, String> {
    let bytes = crate::fsutil::read_regular(path, PID_FILE_CAP).map_err(|e| format!("frontend pid file {e}"))?;
    let text = String::from_utf8_lossy(&bytes);
    let why = match text.split_whitespace().next() {
        None => "holds no pid".to_string(),
        Some(word) => match word.parse::<u32>() {
            Ok(pid) if pid > 0 => return Ok(pid),
            _ => format!("holds `{}`, not a pid", word.escape_debug().take(32).collect::<String>()),
        },
    };
    Err(format!("frontend pid file `{}` {why}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsString;

    #[test]
    fn temp_dir_is_found_as_python_finds_it() {
        let dir = std::env::temp_dir();
        assert!(dir.is_absolute() && dir.is_dir());
        let cwd = PathBuf::from("/nowhere");
        let only = |name: &'static str, value: PathBuf| move |var: &str| (var == name).then(|| OsString::from(&value));
        assert_eq!(temp_dir_from(only("TMPDIR", dir.clone()), cwd.clone()), dir);
        assert_eq!(temp_dir_from(only("TEMP", dir.clone()), cwd.clone()), dir);
        assert_eq!(temp_dir_from(only("TMP", dir.clone()), cwd.clone()), dir);
        // Unset, empty or not a folder: the fixed list, /tmp first.
        assert_eq!(temp_dir_from(|_| None, cwd.clone()), PathBuf::from("/tmp"));
        assert_eq!(temp_dir_from(only("TMPDIR", PathBuf::new()), cwd.clone()), PathBuf::from("/tmp"));
        let missing = dir.join("no-such-folder-for-this-test");
        assert_eq!(temp_dir_from(only("TMPDIR", missing), cwd.clone()), PathBuf::from("/tmp"));
        // A relative folder is taken from the current folder and made absolute (Python's `abspath`).
        if let (Some(parent), Some(name)) = (dir.parent(), dir.file_name()) {
            let found = temp_dir_from(only("TMPDIR", PathBuf::from(name)), parent.to_path_buf());
            assert_eq!(found, parent.join(name));
        }
        assert_eq!(mms_pid_file().file_name().and_then(|n| n.to_str()), Some(".model_server.pid"));
    }
}
