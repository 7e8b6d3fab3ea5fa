//! The `shellexec` service: commands run through `sh -c` with the config's environment, output
//! kept in the test's artifacts, each in its own process group so that stopping a background
//! command also stops whatever it spawned (a server and its workers).
//!
//! Every group started is ended: background ones by [`Shell::stop_background`], a foreground one
//! when the stage's `stop` future fires (Ctrl-C) while it runs, and whatever is left (a stage
//! future dropped, a panic) by SIGKILL when its guard or the [`Shell`] is dropped.

use std::future::Future;
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
    background: Vec<Group>,
    counter: usize,
}

/// A command's process group; killed (SIGKILL) when dropped before it was reaped.
struct Group {
    command: String,
    child: Child,
    pid: Option<Pid>,
}

impl Group {
    fn new(command: &str, child: Child) -> Self {
        let pid = child.id().map(|id| Pid::from_raw(id as i32));
        Group { command: command.to_string(), child, pid }
    }

    /// Waits for the leader; the group is not killed on drop once it was reaped.
    async fn wait(&mut self) -> std::io::Result<std::process::ExitStatus> {
        let status = self.child.wait().await;
        if status.is_ok() {
            self.pid = None;
        }
        status
    }

    /// SIGTERM to the group, then SIGKILL after a grace period; everything of the group ends.
    async fn terminate(mut self, what: &str) {
        let Some(group) = self.pid.take() else { return };
        let _ = killpg(group, Signal::SIGTERM);
        if tokio::time::timeout(Duration::from_secs(5), self.child.wait()).await.is_err() {
            crate::errln!("warning: {what} command `{}` ignored SIGTERM; killing it", self.command);
            let _ = killpg(group, Signal::SIGKILL);
            let _ = self.child.wait().await;
        }
        // The leader may exit before its group; make sure nothing of the group survives.
        let _ = killpg(group, Signal::SIGKILL);
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        if let Some(group) = self.pid {
            let _ = killpg(group, Signal::SIGKILL);
        }
    }
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
    /// Stops at the first failing command that does not ignore failure, and when `stop` fires
    /// (Ctrl-C): the command running then is terminated with its whole process group.
    pub async fn run_stage(&mut self, stage: Stage, stop: impl Future<Output = ()>) -> Result<(), StageError> {
        tokio::pin!(stop);
        let tasks: Vec<ShellTask> = self.tasks.iter().filter(|t| t.stage == stage).cloned().collect();
        for task in tasks {
            self.counter += 1;
            let base = self.out_dir.join(format!("shellexec-{}-{}", stage.name(), self.counter));
            let (out_path, err_path) = (base.with_extension("out"), base.with_extension("err"));
            let error =
                |status, output| StageError { stage: stage.name(), command: task.command.clone(), status, output };
            let child = (self.spawn(&task, &out_path, &err_path))
                .map_err(|e| error(format!("could not start: {e}"), String::new()))?;
            let mut group = Group::new(&task.command, child);
            if task.background {
                self.background.push(group);
                continue;
            }
            let status = tokio::select! {
                status = group.wait() => status,
                () = &mut stop => {
                    group.terminate(stage.name()).await;
                    return Err(error("was stopped (interrupted)".to_string(), String::new()));
                }
            };
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
                    crate::errln!("warning: {} command `{}` {how} (ignore-failure is set)", stage.name(), task.command);
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
        for group in self.background.drain(..) {
            group.terminate("background").await;
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

    fn never() -> std::future::Pending<()> {
        std::future::pending()
    }

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
        shell.run_stage(Stage::Prepare, never()).await.unwrap();
        let out = std::fs::read_to_string(dir.path().join("shellexec-prepare-1.out")).unwrap();
        assert_eq!(out.trim(), "preparing hello");
        shell.run_stage(Stage::Startup, never()).await.unwrap();
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
        let err = shell.run_stage(Stage::PostProcess, never()).await.unwrap_err();
        assert_eq!(err.status, "exited with code 4");
        assert!(err.output.contains("boom"), "{}", err.output);
    }

    #[tokio::test]
    async fn a_stopped_foreground_command_ends_with_its_group() {
        let dir = tempfile::tempdir().unwrap();
        let pidfile = dir.path().join("grandchild.pid");
        let tasks = vec![task(Stage::Prepare, &format!("sleep 30 & echo $! > {}; wait", pidfile.display()), false)];
        let mut shell = Shell::new(tasks, vec![], dir.path());
        let stop = async {
            while std::fs::read_to_string(&pidfile).unwrap_or_default().trim().is_empty() {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        };
        let err = tokio::time::timeout(Duration::from_secs(10), shell.run_stage(Stage::Prepare, stop)).await;
        assert_eq!(err.unwrap().unwrap_err().status, "was stopped (interrupted)");
        let pid = std::fs::read_to_string(&pidfile).unwrap();
        let stat = || std::fs::read_to_string(format!("/proc/{}/stat", pid.trim())).unwrap_or_default();
        // A signal is delivered asynchronously: give the kill a moment to land.
        for _ in 0..100 {
            if stat().is_empty() || stat().contains(") Z ") {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("the command's child survived: {}", stat());
    }
}
