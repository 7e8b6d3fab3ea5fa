//! `suite run --monit`: a `monitoring-agent` started for the whole run on the address the suites
//! use, with the frontend found as `modules.monitoring-agent` in the global config says, and
//! stopped at the end (what the MMS runner did with its Python agent).
//!
//! ```yaml
//! modules:
//!   monitoring-agent:
//!     address: 127.0.0.1:9009          # where suites' server-agent entries connect
//!     frontend-match: 'demo-target .*--port 18080'   # or frontend-pid-file / frontend-pid
//!     worker-match: ''                 # optional regex on worker command lines
//! ```

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde::Deserialize;

use crate::config::{from_node, Loaded};

/// `modules.monitoring-agent` as written (the name is how errors say where the key is).
#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case", rename = "`modules.monitoring-agent`")]
struct AgentConfig {
    #[serde(default = "default_address")]
    address: String,
    #[serde(default)]
    frontend_pid: String,
    #[serde(default)]
    frontend_pid_file: String,
    #[serde(default)]
    frontend_match: String,
    #[serde(default)]
    worker_match: String,
    /// Taurus's module class; accepted and ignored.
    #[serde(default, rename = "class")]
    _class: Option<String>,
}

fn default_address() -> String {
    "127.0.0.1:9009".to_string()
}

/// Settings of the run's agent, read from the global config.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AgentSettings {
    /// `host:port` to bind.
    pub address: String,
    /// Extra agent flags (`--frontend-match`, ...), as pairs.
    pub flags: Vec<(String, String)>,
}

impl AgentSettings {
    /// Reads `modules.monitoring-agent` of a merged config; `None` when it is absent. An error is
    /// rendered like every config error: pointing into the file that set the value at fault.
    pub fn from_config(loaded: &Loaded) -> Result<Option<Self>, String> {
        let Some(node) = loaded.root.get("modules").and_then(|m| m.get("monitoring-agent")) else { return Ok(None) };
        let config: AgentConfig = from_node(node).map_err(|d| loaded.render(&d))?;
        let flags = [
            ("--frontend-pid", config.frontend_pid),
            ("--frontend-pid-file", config.frontend_pid_file),
            ("--frontend-match", config.frontend_match),
            ("--worker-match", config.worker_match),
        ];
        let flags = flags.into_iter().filter(|(_, v)| !v.is_empty()).map(|(k, v)| (k.to_string(), v)).collect();
        Ok(Some(AgentSettings { address: config.address, flags }))
    }
}

/// A running agent; stopped on drop.
pub struct Agent {
    child: Child,
    /// The address it listens on.
    pub address: String,
}

impl Agent {
    /// Starts the `monitoring-agent` built beside `suite` and waits until it listens.
    pub fn start(settings: &AgentSettings, log: &Path) -> Result<Agent, String> {
        let exe = sibling("monitoring-agent");
        let log_file = std::fs::File::create(log).map_err(|e| format!("cannot create `{}`: {e}", log.display()))?;
        let mut child = Command::new(&exe)
            .arg("--bind")
            .arg(&settings.address)
            .args(settings.flags.iter().flat_map(|(k, v)| [k.as_str(), v.as_str()]))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log_file)
            .spawn()
            .map_err(|e| format!("cannot start `{}`: {e}", exe.display()))?;
        let stdout = child.stdout.take().ok_or("no stdout from monitoring-agent")?;
        // The agent prints one line once it listens; a bind failure ends it instead.
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        match rx.recv_timeout(Duration::from_secs(10)) {
            Ok(line) if line.contains("listening") => Ok(Agent { child, address: settings.address.clone() }),
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                Err(format!("monitoring-agent did not start on {} (see `{}`)", settings.address, log.display()))
            }
        }
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        for _ in 0..50 {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A binary built beside the running `suite`, else found on `PATH`.
fn sibling(name: &str) -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|d| d.join(name)))
        .filter(|p| p.is_file())
        .unwrap_or_else(|| PathBuf::from(name))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{load, LoadOptions};

    #[test]
    fn settings_from_global_config() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("g.yaml");
        std::fs::write(&file, "modules:\n  monitoring-agent:\n    address: 127.0.0.1:9100\n    frontend-match: demo\n    worker-match: ''\n").unwrap();
        let loaded = load(&LoadOptions { files: vec![file.clone()], ..Default::default() }).unwrap();
        let s = AgentSettings::from_config(&loaded).unwrap().unwrap();
        assert_eq!(s.address, "127.0.0.1:9100");
        assert_eq!(s.flags, vec![("--frontend-match".to_string(), "demo".to_string())]);
        std::fs::write(&file, "modules:\n  monitoring-agent:\n    adress: x\n").unwrap();
        let loaded = load(&LoadOptions { files: vec![file], ..Default::default() }).unwrap();
        assert!(AgentSettings::from_config(&loaded).unwrap_err().contains("adress"));
    }
}
