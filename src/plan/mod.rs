//! The plan: a test file's configuration validated and resolved into what the engine runs,
//! what the criteria judge and what the services and reports need. Nothing downstream reads
//! the raw configuration again.

pub mod body_template;
mod build;
pub mod checks;
pub mod data;
pub mod grpc;
pub mod jmx;
pub mod load;
pub mod matrix;
pub mod monitoring;
pub mod scenario;
pub mod search;
pub mod segment;
pub mod services;
pub mod tool;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

pub use build::{build, judging, Judging};
pub use load::Load;
pub use scenario::{RequestPlan, ScenarioPlan, Step, Template};
pub use services::{ShellTask, Stage};

use crate::criteria::Spec;

/// Everything one test file asks for.
#[derive(Debug)]
pub struct Plan {
    /// What runs, with when each runs (see [`ExecutionPlan::track`]).
    pub executions: Vec<ExecutionPlan>,
    /// Label names; samples refer to them by index.
    pub labels: Vec<String>,
    /// Pass/fail criteria, in the order they were configured.
    pub criteria: Vec<Spec>,
    /// Monitoring sources.
    pub monitoring: Vec<monitoring::MonitorSource>,
    /// Shell commands by lifecycle stage.
    pub shell: Vec<ShellTask>,
    /// Environment for shell commands (`settings.env`, after substitution).
    pub env: Vec<(String, String)>,
    /// Where `final-stats` wants its `dump-csv` copy, if anywhere.
    pub final_stats_csv: Option<PathBuf>,
    /// The `junit-xml` reporters, in the order configured.
    pub junit: Vec<JunitReporter>,
    /// The `prometheus` reporters: where each closed second is sent with remote write.
    pub remote_write: Vec<RemoteWrite>,
    /// Warnings found while planning (shown to the user, never fatal).
    pub warnings: Vec<crate::config::Diagnostic>,
    /// Information lines (listeners left out of a JMeter plan, ...).
    pub notes: Vec<String>,
    /// The JMeter plans the executions run, as read (for `suite validate` to show).
    pub scripts: Vec<Arc<jmx::JmxPlan>>,
    /// A capacity search over one execution's arrival rate, if the test asks for one.
    pub search: Option<search::Search>,
}

/// One `junit-xml` reporter: which view it writes, and where.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct JunitReporter {
    /// What the test cases are.
    pub data_source: JunitSource,
    /// `filename`, if given (relative paths are relative to the current folder, as in Taurus).
    pub filename: Option<PathBuf>,
}

/// A `prometheus` reporter: each closed second's figures go to `url` with Prometheus remote
/// write 1.0 while the test runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemoteWrite {
    /// The receiver, an `http://` URL (e.g. `http://127.0.0.1:9090/api/v1/write`).
    pub url: url::Url,
    /// How long one request may take before its samples are dropped.
    pub timeout: Duration,
    /// Labels added to every series (`labels:`), valid Prometheus names, sorted by name.
    pub labels: Vec<(String, String)>,
}

/// The `data-source` of a `junit-xml` reporter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JunitSource {
    /// One test case per criterion.
    PassFail,
    /// One test case per sample label, failed when the label had errors (Taurus's default).
    SampleLabels,
}

/// One group of virtual users: an `execution` entry, or one thread group of a JMeter plan.
#[derive(Debug)]
pub struct ExecutionPlan {
    /// Load profile.
    pub load: Load,
    /// What sends the requests.
    pub driver: Driver,
    /// Tracks run at the same time; within a track, stages run one after another (each starts
    /// when every user of the one before has finished) and the executions of one stage run
    /// together. Each `execution` entry is a track of its own, or with
    /// `modules.local.sequential` every entry is one stage of track 0; a JMeter plan's setUp
    /// thread groups are a stage before its main groups and its tearDown groups one after
    /// (`serialize_threadgroups` makes each main group a stage).
    pub track: u32,
    /// The stage within the track.
    pub stage: u32,
    /// Runs even when the test was stopped before its stage began (a JMeter plan's tearDown
    /// groups, with `tearDown_on_shutdown` as JMeter saves it by default).
    pub after_stop: bool,
}

/// What sends an execution's requests.
#[derive(Debug)]
pub enum Driver {
    /// suite's engine: virtual users loop over the scenario.
    Scenario(Arc<ScenarioPlan>),
    /// Another load tool runs its script (`executor: k6`, `executor: locust`).
    Tool(Arc<tool::ToolPlan>),
}

impl ExecutionPlan {
    /// The scenario suite's engine runs, if it is suite's engine that sends.
    pub fn scenario(&self) -> Option<&Arc<ScenarioPlan>> {
        match &self.driver {
            Driver::Scenario(s) => Some(s),
            Driver::Tool(_) => None,
        }
    }

    /// The scenario's name.
    pub fn name(&self) -> &str {
        match &self.driver {
            Driver::Scenario(s) => &s.name,
            Driver::Tool(t) => &t.name,
        }
    }
}

impl Plan {
    /// Makes the plan this machine's share of the load (`--segment`): each execution's users,
    /// arrivals and data rows striped as [`segment`] says; k6 gets the same share through its
    /// own execution segments. A capacity search (adaptive, per machine) and Locust (no way to
    /// give it a share) cannot be split.
    pub fn split(&mut self, share: &Arc<segment::Segment>) -> Result<(), String> {
        if self.search.is_some() {
            return Err(format!(
                "a capacity search cannot run in segments (--segment {share}): each probe's verdict needs every machine's figures at once"
            ));
        }
        for e in &mut self.executions {
            if let Driver::Tool(t) = &e.driver {
                if t.kind == tool::ToolKind::Locust {
                    return Err(format!(
                        "execution `{}` runs Locust, which cannot be given a share of its load (--segment {share}); run it with Locust's own master and workers",
                        t.name
                    ));
                }
            }
            e.load.segment = Some(share.clone());
        }
        Ok(())
    }

    /// How long the load is planned to take, if every execution has a duration: the longest
    /// track, each track the sum of its stages' longest execution.
    pub fn planned_secs(&self) -> Option<u64> {
        let mut tracks: std::collections::BTreeMap<u32, std::collections::BTreeMap<u32, u64>> = Default::default();
        for e in &self.executions {
            let secs = (e.load.delay + e.load.duration()).as_secs();
            let stage = tracks.entry(e.track).or_default().entry(e.stage).or_default();
            *stage = (*stage).max(secs);
        }
        tracks.values().map(|stages| stages.values().sum::<u64>()).max().filter(|s| *s > 0)
    }
}
