//! Executions another load tool runs (`executor: k6`, `executor: locust`): the tool found before
//! the test, the script, the environment. The tool's requests come back as samples (see
//! `executors/`), so criteria, monitoring and reports see no difference from the native engine.

use std::path::PathBuf;

/// Which tool.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ToolKind {
    /// Grafana k6: `k6 run` with its JSON output streamed.
    K6,
    /// Locust, headless, with suite's hook module reporting each request.
    Locust,
}

impl ToolKind {
    /// The executor's name in Taurus YAML, and the tool's command.
    pub fn name(self) -> &'static str {
        match self {
            ToolKind::K6 => "k6",
            ToolKind::Locust => "locust",
        }
    }

    /// How to install it, for the error when it is missing.
    pub fn install_hint(self) -> &'static str {
        match self {
            ToolKind::K6 => "install k6 (https://grafana.com/docs/k6/latest/set-up/install-k6/) so that `k6` is on PATH, or set `modules.k6.path`",
            ToolKind::Locust => "`pip install locust` (in a virtualenv) so that `locust` is on PATH, or set `modules.locust.path`",
        }
    }
}

/// One execution run by a tool.
#[derive(Clone, Debug)]
pub struct ToolPlan {
    /// Which tool.
    pub kind: ToolKind,
    /// The scenario's name (for messages).
    pub name: String,
    /// The tool's executable.
    pub binary: PathBuf,
    /// Its version, as it printed it.
    pub version: String,
    /// The script (a file, or for Locust a folder of them).
    pub script: PathBuf,
    /// Where requests go when the script does not say (the scenario's `default-address`).
    pub host: Option<String>,
    /// `settings.env` after substitution, added to the tool's environment (which inherits suite's).
    pub env: Vec<(String, String)>,
    /// Whether the execution sets the load (users, duration, iterations); without any, the
    /// script's own options run (k6's `options`, as Taurus leaves them when it is given nothing).
    pub load_given: bool,
}
