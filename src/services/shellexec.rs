//! The `shellexec` service: commands run through `sh -c` with the config's environment, output
//! kept in the test's artifacts, each in its own process group so that stopping a background
//! command also stops whatever it spawned (a server and its workers).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use tokio::process::{Child, Command};

use crate::plan::{ShellTask, Stage};

/// A command of a stage that failed.
#[derive(Debug, thiserror::Error)]
#[error("{stage} command `{command}` {status}{output}")]
pub struct StageError {
    /// Stage name.
    pub stage: &'static str,
    /// The command line.
    pub command: String,
    /// How it ended.
    pub status: String,
    /// The end of its output (stderr, then stdout), prefixed with a newline when present.
    pub output: String,
}

/// Runs the shell tasks of one test.
pub struct Shell {
    tasks: Vec<ShellTask>,
    env: Vec<(String, String)>,
    out_dir: PathBuf,
    background: Vec<(String, Child)>,
    counter: usize,
}

impl Shell {
    /// `out_dir` receives one `.out` and one `.err` file per command.
    /// The folder of the running `suite` binary goes first on `PATH`, so the tools built with it
    /// (`demo-target`, `monitoring-agent`) are found by name.
    pub fn new(tasks: Vec<ShellTask>, env: Vec<(String, String)>, out_dir: &Path) -> Self {
        let mut full = Vec::new();
        if let Some(dir) = std::env::current_exe().ok().and_then(|e| e.parent().map(Path::to_path_buf)) {
            let path = std::env::var_os("PATH").unwrap_or_default();
            let mut dirs = vec![dir];
            dirs.extend(std::env::split_paths(&path));
            if let Ok(joined) = std::env::join_paths(dirs) {
                full.push(("PATH".to_string(), joined.to_string_lossy().into_owned()));
            }
        }
        full.extend(env);
        Shell { tasks, env: full, out_dir: out_dir.to_path_buf(), background: Vec::new(), counter: 0 }
    }

    /// Runs the stage's commands in order: background ones are started, the others awaited.
    /// Stops at the first failing command that does not ignore failure.
    pub async fn run_stage(&mut self, stage: Stage) -> Result<(), StageError> {
        let tasks: Vec<ShellTask> = self.tasks.iter().filter(|t| t.stage == stage).cloned().collect();
        for task in tasks {
            self.counter += 1;
            let base = self.out_dir.join(format!("shellexec-{}-{}", stage.name(), self.counter));
            let (out_path, err_path) = (base.with_extension("out"), base.with_extension("err"));
            let error =
                |status, output| StageError { stage: stage.name(), command: task.command.clone(), status, output };
            let mut child = (self.spawn(&task, &out_path, &err_path))
                .map_err(|e| error(format!("could not start: {e}"), String::new()))?;
            if task.background {
                self.background.push((task.command.clone(), child));
                continue;
            }
            let status = child.wait().await;
            let failed = match &status {
                Ok(s) if s.success() => None,
                Ok(s) => Some(match s.code() {
                    Some(code) => format!("exited with code {code}"),
                    None => "was killed by a signal".to_string(),
                }),
                Err(e) => Some(format!("could not be awaited: {e}")),
            };
            if let Some(how) = failed {
                if task.ignore_failure {
                    eprintln!("warning: {} command `{}` {how} (ignore-failure is set)", stage.name(), task.command);
                    continue;
                }
                return Err(error(how, tail(&err_path, &out_path)));
            }
        }
        Ok(())
    }

    fn spawn(&self, task: &ShellTask, out: &Path, err: &Path) -> std::io::Result<Child> {
        std::fs::create_dir_all(&self.out_dir)?;
        let mut cmd = Command::new("sh");
        cmd.arg("-c").arg(&task.command);
        cmd.envs(self.env.iter().cloned()).envs(task.env.iter().cloned());
        if let Some(cwd) = &task.cwd {
            cmd.current_dir(cwd);
        }
        cmd.stdin(Stdio::null())
            .stdout(std::fs::File::create(out)?)
            .stderr(std::fs::File::create(err)?)
            .process_group(0)
            .kill_on_drop(false);
        cmd.spawn()
    }

    /// Stops every background command and all it spawned: SIGTERM to its process group, then
    /// SIGKILL after a grace period.
    pub async fn stop_background(&mut self) {
        for (command, mut child) in self.background.drain(..) {
            let Some(pid) = child.id() else { continue };
            let group = Pid::from_raw(pid as i32);
            let _ = killpg(group, Signal::SIGTERM);
            if tokio::time::timeout(Duration::from_secs(5), child.wait()).await.is_err() {
                eprintln!("warning: background command `{command}` ignored SIGTERM; killing it");
                let _ = killpg(group, Signal::SIGKILL);
                let _ = child.wait().await;
            }
            // The leader may exit before its group; make sure nothing of the group survives.
            let _ = killpg(group, Signal::SIGKILL);
        }
    }
}

/// The last lines of a command's output, for error messages.
fn tail(err: &Path, out: &Path) -> String {
    let read = |p: &Path| std::fs::read_to_string(p).unwrap_or_default();
    let text = format!("{}{}", read(err), read(out));
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    if lines.is_empty() {
        return String::new();
    }
    let start = lines.len().saturating_sub(20);
    format!("; output:\n{}", lines[start..].join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(stage: Stage, command: &str, background: bool) -> ShellTask {
        ShellTask { stage, command: command.to_string(), background, ignore_failure: false, cwd: None, env: vec![] }
    }

    #[tokio::test]
    async fn failing_prepare_reports_its_output_and_background_groups_are_stopped() {
        let dir = tempfile::tempdir().unwrap();
        let pidfile = dir.path().join("grandchild.pid");
        let tasks = vec![
            task(Stage::Prepare, "echo preparing $GREETING", false),
            task(Stage::Startup, &format!("sleep 30 & echo $! > {}; wait", pidfile.display()), true),
            task(Stage::PostProcess, "echo boom >&2; exit 4", false),
        ];
        let mut shell = Shell::new(tasks, vec![("GREETING".into(), "hello".into())], dir.path());
        shell.run_stage(Stage::Prepare).await.unwrap();
        let out = std::fs::read_to_string(dir.path().join("shellexec-prepare-1.out")).unwrap();
        assert_eq!(out.trim(), "preparing hello");
        shell.run_stage(Stage::Startup).await.unwrap();
        let mut pid = String::new();
        for _ in 0..50 {
            pid = std::fs::read_to_string(&pidfile).unwrap_or_default();
            if !pid.trim().is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let grandchild = format!("/proc/{}", pid.trim());
        assert!(Path::new(&grandchild).exists());
        shell.stop_background().await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        let alive = std::fs::read_to_string(format!("{grandchild}/stat")).map(|s| !s.contains(") Z ")).unwrap_or(false);
        assert!(!alive, "the background command's child survived");
        let err = shell.run_stage(Stage::PostProcess).await.unwrap_err();
        assert_eq!(err.status, "exited with code 4");
        assert!(err.output.contains("boom"), "{}", err.output);
    }
}
