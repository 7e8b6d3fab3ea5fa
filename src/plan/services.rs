//! Shell commands of the `shellexec` service, resolved per lifecycle stage.

use std::path::PathBuf;

/// When a shell task runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    /// Before load starts; a failure fails the test.
    Prepare,
    /// Just before load starts.
    Startup,
    /// Just after load ends.
    Shutdown,
    /// After everything else.
    PostProcess,
}

impl Stage {
    /// The name used in config and in artifact file names.
    pub fn name(self) -> &'static str {
        match self {
            Stage::Prepare => "prepare",
            Stage::Startup => "startup",
            Stage::Shutdown => "shutdown",
            Stage::PostProcess => "post-process",
        }
    }
}

/// One command.
#[derive(Clone, Debug)]
pub struct ShellTask {
    /// Lifecycle stage.
    pub stage: Stage,
    /// Shell command line (run with `sh -c`).
    pub command: String,
    /// Keep running in the background until the test ends.
    pub background: bool,
    /// Do not fail the test when the command exits non-zero.
    pub ignore_failure: bool,
    /// Working directory (default: the current one).
    pub cwd: Option<PathBuf>,
    /// Extra environment for this command.
    pub env: Vec<(String, String)>,
}
