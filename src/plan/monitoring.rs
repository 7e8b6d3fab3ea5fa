//! Monitoring sources of a test, resolved from Taurus's `services: - module: monitoring`
//! (`local` and `server-agent` entries) and MMS's `server_local_monitoring` / `ServerLocalClient`.

use std::path::PathBuf;
use std::time::Duration;

/// Where a source's figures come from.
#[derive(Clone, Debug, PartialEq)]
pub enum SourceKind {
    /// A PerfMon ServerAgent-protocol agent at `host:port`.
    ServerAgent {
        /// `host:port`.
        address: String,
    },
    /// Sampled in-process on this host.
    Local {
        /// How to find the server's frontend process, if process metrics are asked for.
        frontend: LocalFrontend,
        /// Regex on worker command lines.
        worker_match: Option<String>,
    },
}

/// How local monitoring finds the frontend.
#[derive(Clone, Debug, Default, PartialEq)]
pub enum LocalFrontend {
    /// No frontend: process metrics read as 0.
    #[default]
    None,
    /// A pid file (re-read when the pid in it is gone).
    PidFile(PathBuf),
    /// A regex on the command line.
    Match(String),
}

/// One monitoring source.
#[derive(Clone, Debug, PartialEq)]
pub struct MonitorSource {
    /// Name criteria use before the `/` (`label`, else `host:port`, `local` or `ServerLocalClient`).
    pub label: String,
    /// Agent or local.
    pub kind: SourceKind,
    /// Sampling interval.
    pub interval: Duration,
    /// Write the values to a CSV in the test's artifacts.
    pub logging: bool,
    /// Metric names, in the order asked for.
    pub metrics: Vec<String>,
}

impl MonitorSource {
    /// File name of this source's CSV log (Taurus's names).
    pub fn log_file_name(&self) -> String {
        match &self.kind {
            SourceKind::ServerAgent { address } => {
                let (host, port) = address.rsplit_once(':').unwrap_or((address.as_str(), "4444"));
                format!("SAlogs_{host}_{port}.csv")
            }
            SourceKind::Local { .. } if self.label == "local" => "local_monitoring_logs.csv".to_string(),
            SourceKind::Local { .. } => format!("{}_monitoring_logs.csv", self.label),
        }
    }
}
