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

use crate::config::{Node, NodeKind};

/// Settings of the run's agent, read from the global config.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AgentSettings {
    /// `host:port` to bind.
    pub address: String,
    /// Extra agent flags (`--frontend-match`, ...), as pairs.
    pub flags: Vec<(String, String)>,
}

impl AgentSettings {
    /// Reads `modules.monitoring-agent` of a merged config; `None` when it is absent.
    pub fn from_config(root: &Node) -> Result<Option<Self>, String> {
        let Some(node) = root.get("modules").and_then(|m| m.get("monitoring-agent")) else { return Ok(None) };
        let NodeKind::Map(map) = &node.kind else {
            return Err("`modules.monitoring-agent` must be a mapping".to_string());
        };
        let mut settings = AgentSettings { address: "127.0.0.1:9009".to_string(), flags: Vec::new() };
        for (key, (_, value)) in map {
            let text = value
                .scalar_text()
                .map(|t| t.into_owned())
                .ok_or_else(|| format!("`modules.monitoring-agent.{key}` must be a single value"))?;
            match key.as_str() {
                "address" => settings.address = text,
                "frontend-pid" | "frontend-pid-file" | "frontend-match" | "worker-match" => {
                    if !text.is_empty() {
                        settings.flags.push((format!("--{key}"), text));
                    }
                }
                "class" => {}
                other => {
                    return Err(format!(
                        "unknown key `{other}` in `modules.monitoring-agent` (known: address, frontend-pid, frontend-pid-file, frontend-match, worker-match)"
                    ))
                }
            }
        }
        Ok(Some(settings))
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
        let s = AgentSettings::from_config(&loaded.root).unwrap().unwrap();
        assert_eq!(s.address, "127.0.0.1:9100");
        assert_eq!(s.flags, vec![("--frontend-match".to_string(), "demo".to_string())]);
        std::fs::write(&file, "modules:\n  monitoring-agent:\n    adress: x\n").unwrap();
        let loaded = load(&LoadOptions { files: vec![file], ..Default::default() }).unwrap();
        assert!(AgentSettings::from_config(&loaded.root).unwrap_err().contains("adress"));
    }
}
