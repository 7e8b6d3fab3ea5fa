//! Metric names: the MMS/TorchServe grammar (126 names + `zombies`), Taurus's local names, and a few PerfMon
//! spec aliases, each with its unit and whether it is an integer.
//!
//! The grammar is the one of MMS `agents/metrics/__init__.py` (`AVAILABLE_METRICS`):
//!
//! ```text
//! metric := system | misc | "frontend_" pm | agg "_" scope "_" pm
//! system := "system_" ("disk_used" | "memory_percent" | "read_count" | "write_count" | "read_bytes" | "write_bytes")
//! misc   := "total_processes" | "total_workers" | "orphans" | "zombies"
//! agg    := "sum" | "avg" | "min" | "max"      scope := "workers" | "all"
//! pm     := "cpu_percent" | "cpu_user_time" | … | "file_descriptors" | "threads"   (13 names, see ProcMetric)
//! ```
//!
//! Parsing is a pure function over the name, so the agent and the suite's config validation agree on it.

use std::fmt;

/// One per-process figure, as psutil's `Process.as_dict()` gave it to the MMS agent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ProcMetric {
    /// CPU use since the previous poll of that process; 100 = one full core.
    CpuPercent,
    /// Cumulative user-mode CPU time.
    CpuUserTime,
    /// Cumulative kernel-mode CPU time.
    CpuSystemTime,
    /// Cumulative time blocked on block I/O (`delayacct_blkio_ticks`).
    CpuIowaitTime,
    /// RSS as a share of total RAM.
    MemoryPercent,
    /// Resident set size.
    MemoryRss,
    /// Virtual memory size.
    MemoryVms,
    /// Read syscalls (`syscr`).
    IoReadCount,
    /// Write syscalls (`syscw`).
    IoWriteCount,
    /// Bytes fetched from storage (`read_bytes`).
    IoReadBytes,
    /// Bytes sent to storage (`write_bytes`).
    IoWriteBytes,
    /// Open file descriptors.
    FileDescriptors,
    /// Threads.
    Threads,
}

impl ProcMetric {
    /// All 13, in MMS list order.
    pub const ALL: [ProcMetric; 13] = [
        ProcMetric::CpuPercent,
        ProcMetric::CpuUserTime,
        ProcMetric::CpuSystemTime,
        ProcMetric::CpuIowaitTime,
        ProcMetric::MemoryPercent,
        ProcMetric::MemoryRss,
        ProcMetric::MemoryVms,
        ProcMetric::IoReadCount,
        ProcMetric::IoWriteCount,
        ProcMetric::IoReadBytes,
        ProcMetric::IoWriteBytes,
        ProcMetric::FileDescriptors,
        ProcMetric::Threads,
    ];

    /// The name used inside metric names, e.g. `memory_rss`.
    pub fn name(self) -> &'static str {
        match self {
            ProcMetric::CpuPercent => "cpu_percent",
            ProcMetric::CpuUserTime => "cpu_user_time",
            ProcMetric::CpuSystemTime => "cpu_system_time",
            ProcMetric::CpuIowaitTime => "cpu_iowait_time",
            ProcMetric::MemoryPercent => "memory_percent",
            ProcMetric::MemoryRss => "memory_rss",
            ProcMetric::MemoryVms => "memory_vms",
            ProcMetric::IoReadCount => "io_read_count",
            ProcMetric::IoWriteCount => "io_write_count",
            ProcMetric::IoReadBytes => "io_read_bytes",
            ProcMetric::IoWriteBytes => "io_write_bytes",
            ProcMetric::FileDescriptors => "file_descriptors",
            ProcMetric::Threads => "threads",
        }
    }

    fn unit(self) -> &'static str {
        match self {
            ProcMetric::CpuPercent => "percent of one core",
            ProcMetric::CpuUserTime | ProcMetric::CpuSystemTime | ProcMetric::CpuIowaitTime => "seconds",
            ProcMetric::MemoryPercent => "percent of RAM",
            ProcMetric::MemoryRss | ProcMetric::MemoryVms | ProcMetric::IoReadBytes | ProcMetric::IoWriteBytes => {
                "bytes"
            }
            ProcMetric::IoReadCount | ProcMetric::IoWriteCount => "syscalls",
            ProcMetric::FileDescriptors => "file descriptors",
            ProcMetric::Threads => "threads",
        }
    }

    /// psutil returned an `int` for these, so the wire shows `123` rather than `123.0`.
    fn is_integer(self) -> bool {
        !matches!(
            self,
            ProcMetric::CpuPercent
                | ProcMetric::CpuUserTime
                | ProcMetric::CpuSystemTime
                | ProcMetric::CpuIowaitTime
                | ProcMetric::MemoryPercent
        )
    }
}

/// How per-process values are combined.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Agg {
    /// Sum.
    Sum,
    /// Arithmetic mean (always a float).
    Avg,
    /// Minimum.
    Min,
    /// Maximum.
    Max,
}

impl Agg {
    const ALL: [Agg; 4] = [Agg::Sum, Agg::Avg, Agg::Min, Agg::Max];

    fn name(self) -> &'static str {
        match self {
            Agg::Sum => "sum",
            Agg::Avg => "avg",
            Agg::Min => "min",
            Agg::Max => "max",
        }
    }
}

/// Which processes an aggregate covers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Scope {
    /// The worker processes only.
    Workers,
    /// The frontend and the workers.
    All,
}

impl Scope {
    const ALL: [Scope; 2] = [Scope::Workers, Scope::All];

    fn name(self) -> &'static str {
        match self {
            Scope::Workers => "workers",
            Scope::All => "all",
        }
    }
}

/// Host-wide figures under the `system_` prefix (MMS names, psutil units: cumulative since boot).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SystemMetric {
    /// Used bytes of the filesystem holding `/` (`f_blocks − f_bfree`, as psutil).
    DiskUsed,
    /// RAM in use, percent (`(total − available) / total`).
    MemoryPercent,
    /// Completed reads on whole disks since boot.
    ReadCount,
    /// Completed writes on whole disks since boot.
    WriteCount,
    /// Bytes read from whole disks since boot.
    ReadBytes,
    /// Bytes written to whole disks since boot.
    WriteBytes,
}

impl SystemMetric {
    const ALL: [SystemMetric; 6] = [
        SystemMetric::DiskUsed,
        SystemMetric::MemoryPercent,
        SystemMetric::ReadCount,
        SystemMetric::WriteCount,
        SystemMetric::ReadBytes,
        SystemMetric::WriteBytes,
    ];

    fn name(self) -> &'static str {
        match self {
            SystemMetric::DiskUsed => "system_disk_used",
            SystemMetric::MemoryPercent => "system_memory_percent",
            SystemMetric::ReadCount => "system_read_count",
            SystemMetric::WriteCount => "system_write_count",
            SystemMetric::ReadBytes => "system_read_bytes",
            SystemMetric::WriteBytes => "system_write_bytes",
        }
    }
}

/// Taurus `LocalClient` names (`bzt.modules.monitoring`), so one agent serves both vocabularies.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HostMetric {
    /// Total CPU use, 0..100 over all cores.
    Cpu,
    /// RAM in use, percent.
    Mem,
    /// Percent used of the filesystem holding the agent's current directory.
    DiskSpace,
    /// Disk bytes read per second since the previous poll.
    DiskRead,
    /// Disk bytes written per second since the previous poll.
    DiskWrite,
    /// Network bytes received per second since the previous poll (all interfaces, loopback included).
    BytesRecv,
    /// Network bytes sent per second since the previous poll.
    BytesSent,
    /// Established TCP connections (IPv4 + IPv6 sockets).
    ConnAll,
}

impl HostMetric {
    const ALL: [HostMetric; 8] = [
        HostMetric::Cpu,
        HostMetric::Mem,
        HostMetric::DiskSpace,
        HostMetric::DiskRead,
        HostMetric::DiskWrite,
        HostMetric::BytesRecv,
        HostMetric::BytesSent,
        HostMetric::ConnAll,
    ];

    fn name(self) -> &'static str {
        match self {
            HostMetric::Cpu => "cpu",
            HostMetric::Mem => "mem",
            HostMetric::DiskSpace => "disk-space",
            HostMetric::DiskRead => "disk-read",
            HostMetric::DiskWrite => "disk-write",
            HostMetric::BytesRecv => "bytes-recv",
            HostMetric::BytesSent => "bytes-sent",
            HostMetric::ConnAll => "conn-all",
        }
    }
}

/// One metric a client can ask for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Metric {
    /// `system_*`.
    System(SystemMetric),
    /// `frontend_<pm>`: the frontend's own value (0 when it is absent).
    Frontend(ProcMetric),
    /// `<agg>_<scope>_<pm>` (0 over an empty set).
    Aggregate(Agg, Scope, ProcMetric),
    /// Workers plus the frontend; 0 when the frontend is absent.
    TotalProcesses,
    /// Worker processes (MMS master said `n − 1`; this is `n`, as TorchServe fixed it).
    TotalWorkers,
    /// Workers whose parent is no longer the frontend or another tracked descendant.
    Orphans,
    /// Descendants that have exited but were not reaped yet.
    Zombies,
    /// A Taurus local name.
    Host(HostMetric),
}

/// A name that is not in the catalogue, or a PerfMon spec the agent refuses to run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UnknownMetric {
    /// Not a known name; carries the closest known name, if one is close.
    #[error("unknown metric `{name}`{} (known: {KNOWN_SUMMARY}; `monitoring-agent --list-metrics` prints all)",
        .suggestion.as_ref().map(|s| format!(", did you mean `{s}`?")).unwrap_or_default())]
    Unknown {
        /// The name as sent.
        name: String,
        /// The closest catalogue name.
        suggestion: Option<String>,
    },
    /// `exec:`/`tail:`/`jmx:` specs: PerfMon would run a command or read a file for the client; this agent never does.
    #[error("refused metric `{name}`: this agent never runs commands or reads files named by a client")]
    Refused {
        /// The spec as sent.
        name: String,
    },
}

/// One line summarising the grammar, for error messages (the full list has 135 names).
const KNOWN_SUMMARY: &str = "cpu, mem, disk-space, disk-read, disk-write, bytes-recv, bytes-sent, conn-all, \
    system_{disk_used,memory_percent,read_count,write_count,read_bytes,write_bytes}, \
    total_processes, total_workers, orphans, zombies, frontend_<pm>, {sum,avg,min,max}_{workers,all}_<pm> \
    with pm in cpu_percent, cpu_user_time, cpu_system_time, cpu_iowait_time, memory_percent, memory_rss, memory_vms, \
    io_read_count, io_write_count, io_read_bytes, io_write_bytes, file_descriptors, threads";

/// PerfMon ServerAgent specs that a stock Taurus `server-agent` config sends, mapped to our names.
const ALIASES: [(&str, HostMetric); 8] = [
    ("cpu:combined", HostMetric::Cpu),
    ("memory", HostMetric::Mem),
    ("memory:usedperc", HostMetric::Mem),
    ("disks:readbytes", HostMetric::DiskRead),
    ("disks:writebytes", HostMetric::DiskWrite),
    ("network:bytesrecv", HostMetric::BytesRecv),
    ("network:bytessent", HostMetric::BytesSent),
    ("tcp:estab", HostMetric::ConnAll),
];

impl Metric {
    /// Parses a catalogue name or a PerfMon alias (surrounding whitespace ignored).
    pub fn parse(name: &str) -> Result<Metric, UnknownMetric> {
        let name = name.trim();
        if let Some(m) = Self::parse_exact(name) {
            return Ok(m);
        }
        if let Some((_, host)) = ALIASES.iter().find(|(alias, _)| *alias == name) {
            return Ok(Metric::Host(*host));
        }
        let kind = name.split(':').next().unwrap_or_default();
        if matches!(kind, "exec" | "tail" | "jmx") {
            return Err(UnknownMetric::Refused { name: truncate(name, 80) });
        }
        Err(UnknownMetric::Unknown { name: truncate(name, 80), suggestion: suggest(name) })
    }

    fn parse_exact(name: &str) -> Option<Metric> {
        match name {
            "total_processes" => return Some(Metric::TotalProcesses),
            "total_workers" => return Some(Metric::TotalWorkers),
            "orphans" => return Some(Metric::Orphans),
            "zombies" => return Some(Metric::Zombies),
            _ => {}
        }
        if let Some(s) = SystemMetric::ALL.iter().find(|s| s.name() == name) {
            return Some(Metric::System(*s));
        }
        if let Some(h) = HostMetric::ALL.iter().find(|h| h.name() == name) {
            return Some(Metric::Host(*h));
        }
        let pm = |s: &str| ProcMetric::ALL.iter().copied().find(|p| p.name() == s);
        if let Some(rest) = name.strip_prefix("frontend_") {
            return pm(rest).map(Metric::Frontend);
        }
        let (agg, rest) = name.split_once('_')?;
        let agg = Agg::ALL.iter().copied().find(|a| a.name() == agg)?;
        let (scope, rest) = rest.split_once('_')?;
        let scope = Scope::ALL.iter().copied().find(|s| s.name() == scope)?;
        pm(rest).map(|p| Metric::Aggregate(agg, scope, p))
    }

    /// The canonical name (aliases come back as the Taurus local name they map to).
    pub fn name(&self) -> String {
        match self {
            Metric::System(s) => s.name().to_string(),
            Metric::Frontend(p) => format!("frontend_{}", p.name()),
            Metric::Aggregate(a, s, p) => format!("{}_{}_{}", a.name(), s.name(), p.name()),
            Metric::TotalProcesses => "total_processes".to_string(),
            Metric::TotalWorkers => "total_workers".to_string(),
            Metric::Orphans => "orphans".to_string(),
            Metric::Zombies => "zombies".to_string(),
            Metric::Host(h) => h.name().to_string(),
        }
    }

    /// The unit of the value, as documented in the README table.
    pub fn unit(&self) -> &'static str {
        match self {
            Metric::System(SystemMetric::DiskUsed) => "bytes",
            Metric::System(SystemMetric::MemoryPercent) => "percent of RAM",
            Metric::System(SystemMetric::ReadCount | SystemMetric::WriteCount) => "operations since boot",
            Metric::System(SystemMetric::ReadBytes | SystemMetric::WriteBytes) => "bytes since boot",
            Metric::Frontend(p) | Metric::Aggregate(_, _, p) => p.unit(),
            Metric::TotalProcesses | Metric::TotalWorkers | Metric::Orphans | Metric::Zombies => "processes",
            Metric::Host(HostMetric::Cpu) => "percent of all cores",
            Metric::Host(HostMetric::Mem) => "percent of RAM",
            Metric::Host(HostMetric::DiskSpace) => "percent of filesystem",
            Metric::Host(
                HostMetric::DiskRead | HostMetric::DiskWrite | HostMetric::BytesRecv | HostMetric::BytesSent,
            ) => "bytes/s",
            Metric::Host(HostMetric::ConnAll) => "connections",
        }
    }

    /// Whether the value is printed as an integer (psutil gave an `int`); averages are always floats.
    pub fn is_integer(&self) -> bool {
        match self {
            Metric::System(s) => *s != SystemMetric::MemoryPercent,
            Metric::Frontend(p) => p.is_integer(),
            Metric::Aggregate(a, _, p) => *a != Agg::Avg && p.is_integer(),
            Metric::TotalProcesses | Metric::TotalWorkers | Metric::Orphans | Metric::Zombies => true,
            Metric::Host(h) => *h == HostMetric::ConnAll,
        }
    }

    /// Every catalogue metric in catalogue order: the MMS list (6 system, 3 misc, then per process metric
    /// `frontend`, `{sum,avg,min,max}_workers`, `{sum,avg,min,max}_all`), `zombies`, then the 8 Taurus local names.
    pub fn all() -> Vec<Metric> {
        let mut all = Vec::with_capacity(135);
        all.extend(SystemMetric::ALL.iter().map(|s| Metric::System(*s)));
        all.extend([Metric::TotalProcesses, Metric::TotalWorkers, Metric::Orphans]);
        for p in ProcMetric::ALL {
            all.push(Metric::Frontend(p));
            for scope in Scope::ALL {
                all.extend(Agg::ALL.iter().map(|a| Metric::Aggregate(*a, scope, p)));
            }
        }
        all.push(Metric::Zombies);
        all.extend(HostMetric::ALL.iter().map(|h| Metric::Host(*h)));
        all
    }
}

impl fmt::Display for Metric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

/// Every catalogue name with its unit, in catalogue order (see [`Metric::all`]).
pub fn catalogue() -> Vec<(String, &'static str)> {
    Metric::all().into_iter().map(|m| (m.name(), m.unit())).collect()
}

/// Names longer than this are cut in error messages so a hostile client cannot make us echo kilobytes.
fn truncate(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

/// The closest catalogue name by edit distance, when it is close enough to be a typo.
fn suggest(name: &str) -> Option<String> {
    if name.is_empty() || name.len() > 64 {
        return None;
    }
    let best = Metric::all()
        .into_iter()
        .map(|m| m.name())
        .chain(ALIASES.iter().map(|(a, _)| a.to_string()))
        .map(|candidate| (strsim::levenshtein(name, &candidate), candidate))
        .min_by_key(|(d, _)| *d)?;
    // About one edit per three characters: `avg_workers_iowait_time` finds its name, `foo` does not find `cpu`.
    (best.0 <= (name.len() / 3).max(1)).then_some(best.1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalogue_has_the_mms_names_plus_zombies_plus_taurus_local_names() {
        let names: Vec<String> = catalogue().into_iter().map(|(n, _)| n).collect();
        assert_eq!(names.len(), 126 + 1 + 8);
        assert_eq!(
            &names[..9],
            [
                "system_disk_used",
                "system_memory_percent",
                "system_read_count",
                "system_write_count",
                "system_read_bytes",
                "system_write_bytes",
                "total_processes",
                "total_workers",
                "orphans"
            ]
        );
        assert_eq!(
            &names[9..18],
            [
                "frontend_cpu_percent",
                "sum_workers_cpu_percent",
                "avg_workers_cpu_percent",
                "min_workers_cpu_percent",
                "max_workers_cpu_percent",
                "sum_all_cpu_percent",
                "avg_all_cpu_percent",
                "min_all_cpu_percent",
                "max_all_cpu_percent"
            ]
        );
        assert_eq!(names[125], "max_all_threads");
        assert_eq!(names[126], "zombies");
        let unique: std::collections::HashSet<&String> = names.iter().collect();
        assert_eq!(unique.len(), names.len());
    }

    #[test]
    fn every_name_round_trips() {
        for m in Metric::all() {
            assert_eq!(Metric::parse(&m.name()), Ok(m), "{m}");
        }
    }

    #[test]
    fn aliases_map_to_local_names() {
        assert_eq!(Metric::parse("memory:usedperc").map(|m| m.name()), Ok("mem".to_string()));
        assert_eq!(Metric::parse("tcp:estab").map(|m| m.name()), Ok("conn-all".to_string()));
        assert_eq!(Metric::parse(" disks:readbytes ").map(|m| m.name()), Ok("disk-read".to_string()));
    }

    #[test]
    fn readme_typos_are_rejected_with_a_suggestion() {
        let err = Metric::parse("avg_workers_iowait_time").unwrap_err();
        assert!(err.to_string().contains("did you mean `avg_workers_cpu_iowait_time`?"), "{err}");
        assert!(Metric::parse("system_write_byte").unwrap_err().to_string().contains("`system_write_bytes`"));
        assert!(Metric::parse("sum_cpu_percent").is_err());
        assert!(Metric::parse("frontend_").is_err());
        assert!(Metric::parse("sum_workers_").is_err());
        assert!(Metric::parse("").is_err());
    }

    #[test]
    fn exec_and_tail_are_refused() {
        assert!(matches!(Metric::parse("exec:/bin/sh:-c:rm -rf /"), Err(UnknownMetric::Refused { .. })));
        assert!(matches!(Metric::parse("tail:/etc/shadow"), Err(UnknownMetric::Refused { .. })));
    }

    #[test]
    fn integer_kinds_follow_psutil() {
        let int = |n: &str| Metric::parse(n).map(|m| m.is_integer()).unwrap_or_default();
        assert!(int("sum_workers_memory_rss"));
        assert!(!int("avg_workers_memory_rss"));
        assert!(!int("frontend_cpu_percent"));
        assert!(int("total_workers"));
        assert!(int("system_read_bytes"));
        assert!(!int("system_memory_percent"));
        assert!(!int("cpu"));
        assert!(int("conn-all"));
    }
}
