//! Services: `shellexec` tasks by lifecycle stage, and which modules are monitoring.

use std::path::PathBuf;

use super::{did_you_mean_or, Builder};
use crate::config::model::{Root, Shellexec, ShellexecTask};
use crate::config::{Node, NodeKind};
use crate::plan::monitoring::MonitorSource;
use crate::plan::services::{ShellTask, Stage};

impl Builder<'_> {
    pub(super) fn services(&mut self, root: &Root) -> (Vec<ShellTask>, Vec<MonitorSource>) {
        let mut tasks = Vec::new();
        let mut sources = Vec::new();
        for entry in &root.services {
            let Some((module, settings)) = self.module_entry(entry, "services") else { continue };
            match module.as_str() {
                "shellexec" => settings.into_iter().for_each(|node| self.shellexec(node, &mut tasks)),
                "passfail" => self.error_help(
                    entry.span,
                    "`passfail` is listed under `services`",
                    "move it to `reporting:` (Taurus stopped accepting it as a service and fails with AssertionError)",
                ),
                m if is_monitoring_module(m, root) => {
                    settings.into_iter().for_each(|node| self.monitoring(node, &mut sources))
                }
                other => {
                    let help = did_you_mean_or(other, &["shellexec", "monitoring"], || {
                        "suite knows `shellexec` and `monitoring`".into()
                    });
                    self.error_help(entry.span, format!("unknown service `{other}`"), help);
                }
            }
        }
        (tasks, sources)
    }

    fn shellexec(&mut self, node: &Node, tasks: &mut Vec<ShellTask>) {
        let Some(shellexec) = self.read::<Shellexec>(node) else { return };
        if let Some(check) = &shellexec.check {
            let help = "run the command in `startup` with `background: true`";
            self.unsupported(check.span, "the shellexec `check` stage", help);
        }
        let env: Vec<(String, String)> = shellexec.env.into_iter().filter_map(|(k, v)| Some((k, v?))).collect();
        let cwd = shellexec.default_cwd.map(PathBuf::from);
        for (stage, items) in [
            (Stage::Prepare, &shellexec.prepare),
            (Stage::Startup, &shellexec.startup),
            (Stage::Shutdown, &shellexec.shutdown),
            (Stage::PostProcess, &shellexec.post_process),
        ] {
            for item in &items.0 {
                tasks.extend(self.shell_task(item, stage, &env, cwd.as_ref()));
            }
        }
    }

    /// A task: a command, or a mapping with `command`.
    fn shell_task(
        &mut self,
        node: &Node,
        stage: Stage,
        env: &[(String, String)],
        cwd: Option<&PathBuf>,
    ) -> Option<ShellTask> {
        let task = match &node.kind {
            NodeKind::Str(command) => ShellexecTask { command: command.clone(), ..Default::default() },
            NodeKind::Map(_) => self.read::<ShellexecTask>(node)?,
            _ => {
                let found = node.describe();
                let message =
                    format!("a shellexec task must be a command string or a mapping with `command`, found {found}");
                self.error(node.span, message);
                return None;
            }
        };
        if task.command.trim().is_empty() {
            self.error(node.span, "this shellexec task has no `command`");
            return None;
        }
        let mut env = env.to_vec();
        env.extend(task.env.into_iter().filter_map(|(k, v)| Some((k, v?))));
        Some(ShellTask {
            stage,
            command: task.command,
            background: task.background,
            ignore_failure: task.ignore_failure,
            cwd: task.cwd.map(PathBuf::from).or_else(|| cwd.cloned()),
            env,
        })
    }
}

/// Whether a services module is monitoring: Taurus's `monitoring`, or a module whose class
/// (`modules.<name>.class`) is a monitoring plugin such as MMS's `metrics_monitoring_inproc.Monitor`.
fn is_monitoring_module(module: &str, root: &Root) -> bool {
    if module == "monitoring" || module == "server_local_monitoring" {
        return true;
    }
    let class =
        root.modules.get(module).and_then(|m| m.get("class").and_then(Node::scalar_text).or_else(|| m.scalar_text()));
    class.is_some_and(|c| c.to_ascii_lowercase().contains("monitor"))
}
