//! The plan: a test file's configuration validated and resolved into what the engine runs,
//! what the criteria judge and what the services and reports need. Nothing downstream reads
//! the raw configuration again.

mod build;
pub mod load;
pub mod monitoring;
pub mod scenario;
pub mod services;

use std::path::PathBuf;
use std::sync::Arc;

pub use build::build;
pub use load::Load;
pub use scenario::{RequestPlan, ScenarioPlan, Template};
pub use services::{ShellTask, Stage};

use crate::criteria::Spec;

/// Everything one test file asks for.
#[derive(Debug)]
pub struct Plan {
    /// Executions that run at the same time.
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
    /// Warnings found while planning (shown to the user, never fatal).
    pub warnings: Vec<crate::config::Diagnostic>,
}

/// One `execution` entry.
#[derive(Debug)]
pub struct ExecutionPlan {
    /// Load profile.
    pub load: Load,
    /// The scenario its virtual users loop over.
    pub scenario: Arc<ScenarioPlan>,
}
