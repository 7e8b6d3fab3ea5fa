//! Limits that keep a run from exhausting the machine by surprise: a number too large for any
//! run is refused outright, and the virtual users of all executions together must fit in the
//! memory available and in the process's open-file limit. Each error says what the limit is and
//! why; docs/limits.md lists them all.

use super::Builder;
use crate::config::source::Span;
use crate::plan::{ExecutionPlan, Step};

/// Most virtual users one execution may run (`concurrency`, `max-vus`).
pub(super) const MAX_VUS: u64 = 1_000_000;

/// Most stairs of a stepped ramp-up: a schedule of more steps is a linear ramp in all but cost.
pub(super) const MAX_STEPS: u64 = 10_000;

/// Most of a response body checks may see (`max-body-seen`): each user may hold that much.
pub(super) const MAX_BODY_SEEN: u64 = 1 << 30;

/// What checks see of a body when `max-body-seen` is not set: more than most API responses, and
/// 10,000 users holding it at once still fit in a large machine.
pub(super) const DEFAULT_BODY_SEEN: usize = 4 << 20;

/// Memory one virtual user holds with a plain HTTP connection (its task, variables, connection
/// and buffers: 10,000 users measured at 48 MB for the whole process), rounded up.
const VU_BYTES_PLAIN: u64 = 8 * 1024;

/// Memory one virtual user holds with a TLS connection (rustls keeps its own record buffers).
const VU_BYTES_TLS: u64 = 64 * 1024;

/// Files the process keeps open besides the users' connections: reports, logs, monitoring.
const FILES_RESERVED: u64 = 64;

/// What the machine allows the process, when it can be read.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Capacity {
    /// `MemAvailable` of /proc/meminfo, bytes.
    pub(super) memory: Option<u64>,
    /// Soft and hard `RLIMIT_NOFILE` (`ulimit -n`), from /proc/self/limits.
    pub(super) files: Option<(u64, u64)>,
}

impl Capacity {
    /// This machine's capacity; unknown parts (another OS) are not checked.
    pub(super) fn of_this_machine() -> Self {
        let memory = std::fs::read_to_string("/proc/meminfo").ok().and_then(|text| {
            let line = text.lines().find(|l| l.starts_with("MemAvailable:"))?;
            let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
            Some(kb * 1024)
        });
        let files = std::fs::read_to_string("/proc/self/limits").ok().and_then(|text| {
            let line = text.lines().find(|l| l.starts_with("Max open files"))?;
            let mut numbers = line["Max open files".len()..].split_whitespace().map(|n| match n {
                "unlimited" => Some(u64::MAX),
                n => n.parse().ok(),
            });
            Some((numbers.next()??, numbers.next()??))
        });
        Capacity { memory, files }
    }
}

/// The users one execution runs at once and what each costs, with the span that set their number.
pub(super) struct Users {
    pub(super) count: u64,
    pub(super) bytes_each: u64,
    pub(super) span: Span,
}

impl Users {
    pub(super) fn of(plan: &ExecutionPlan, span: Span) -> Self {
        let count = u64::from(plan.load.max_vus.unwrap_or(plan.load.concurrency));
        // A tool's users live in the tool's process, not in suite's.
        let bytes_each = match plan.scenario() {
            Some(s) if uses_tls(&s.steps) => VU_BYTES_TLS,
            Some(_) => VU_BYTES_PLAIN,
            None => 0,
        };
        Users { count, bytes_each, span }
    }
}

/// Whether any request of the steps goes to an `https` URL known at plan time.
fn uses_tls(steps: &[Step]) -> bool {
    steps.iter().any(|step| match step {
        Step::Request(r) => matches!(&r.url, crate::plan::scenario::Value::Fixed(u) if u.scheme() == "https"),
        _ => uses_tls(step.children()),
    })
}

impl Builder<'_> {
    /// Executions run at the same time: their users together must fit in memory and in the
    /// open-file limit (each user keeps one connection open).
    pub(super) fn check_capacity(&mut self, users: &[Users], capacity: Capacity) {
        let Some(largest) = users.iter().max_by_key(|u| u.count) else { return };
        let span = largest.span;
        let count: u64 = users.iter().map(|u| u.count).sum();
        let bytes: u64 = users.iter().map(|u| u.count * u.bytes_each).sum();
        let what = match users.len() {
            1 => format!("{count} virtual users"),
            n => format!("{count} virtual users in {n} executions at once"),
        };
        if let Some(available) = capacity.memory.filter(|a| bytes > *a) {
            self.error_help(
                span,
                format!(
                    "{what} need about {} of memory, and {} is available",
                    human_bytes(bytes),
                    human_bytes(available)
                ),
                "lower `concurrency` (or `max-vus`), or run on a machine with more memory; see docs/limits.md",
            );
        }
        if let Some((soft, hard)) = capacity.files {
            let needed = count.saturating_add(FILES_RESERVED);
            if needed > soft {
                let help = if needed <= hard {
                    format!("raise the limit first (`ulimit -n {needed}`; the hard limit is {hard}), or lower `concurrency`")
                } else {
                    format!("the hard limit is {hard}: lower `concurrency`, or have the administrator raise `nofile`")
                };
                self.error_help(
                    span,
                    format!("{what} keep a connection each, and this process may open {soft} files (`ulimit -n`)"),
                    help,
                );
            }
        }
    }
}

/// `512 KB`, `7.6 GB`: enough to compare two amounts.
fn human_bytes(bytes: u64) -> String {
    let units = ["bytes", "KB", "MB", "GB", "TB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < units.len() {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} bytes")
    } else {
        format!("{value:.1} {}", units[unit])
    }
}
