//! Services: `shellexec` tasks by lifecycle stage, and which modules are monitoring.

use std::path::PathBuf;

use super::{did_you_mean_or, one_or_many, Builder};
use crate::config::model::Root;
use crate::config::{Node, NodeKind};
use crate::plan::monitoring::MonitorSource;
use crate::plan::services::{ShellTask, Stage};

impl Builder<'_> {
    pub(super) fn services(&mut self, root: &Root) -> (Vec<ShellTask>, Vec<MonitorSource>) {
        let mut tasks = Vec::new();
        let mut sources = Vec::new();
        for entry in &root.services {
            let Some((module, _)) = self.module_entry(entry, "services") else { continue };
            match module.as_str() {
                "shellexec" => self.shellexec(&entry.value, &mut tasks),
                "passfail" => self.error_help(
                    entry.span,
                    "`passfail` is listed under `services`",
                    "move it to `reporting:` (Taurus stopped accepting it as a service and fails with AssertionError)",
                ),
                m if is_monitoring_module(m, root) => self.monitoring(&entry.value, &mut sources),
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
        let NodeKind::Map(map) = &node.kind else { return };
        let mut env = Vec::new();
        if let Some(e) = node.get("env") {
            if let NodeKind::Map(vars) = &e.kind {
                env.extend(vars.iter().filter_map(|(k, (_, v))| Some((k.clone(), v.scalar_text()?.into_owned()))));
            } else {
                self.error(e.span, "shellexec `env` must be a mapping");
            }
        }
        let default_cwd = node.get("default-cwd").and_then(Node::scalar_text).map(|p| PathBuf::from(&*p));
        for (key, (key_span, value)) in map {
            let stage = match key.as_str() {
                "module" | "env" | "default-cwd" | "artifacts-dir" | "run-at" => continue,
                "prepare" => Stage::Prepare,
                "startup" => Stage::Startup,
                "shutdown" => Stage::Shutdown,
                "post-process" => Stage::PostProcess,
                "check" => {
                    self.unsupported(
                        *key_span,
                        "the shellexec `check` stage",
                        "run the command in `startup` with `background: true`",
                    );
                    continue;
                }
                other => {
                    let keys = ["prepare", "startup", "shutdown", "post-process", "env", "default-cwd"];
                    let help = did_you_mean_or(other, &keys, || format!("shellexec takes: {}", keys.join(", ")));
                    self.error_help(*key_span, format!("unknown key `{other}` in shellexec"), help);
                    continue;
                }
            };
            let items = one_or_many(value);
            for item in items {
                if let Some(task) = self.shell_task(item, stage, &env, default_cwd.as_ref()) {
                    tasks.push(task);
                }
            }
        }
    }

    fn shell_task(
        &mut self,
        node: &Node,
        stage: Stage,
        env: &[(String, String)],
        cwd: Option<&PathBuf>,
    ) -> Option<ShellTask> {
        let mut task = ShellTask {
            stage,
            command: String::new(),
            background: false,
            ignore_failure: false,
            cwd: cwd.cloned(),
            env: env.to_vec(),
        };
        match &node.kind {
            NodeKind::Str(cmd) => task.command = cmd.clone(),
            NodeKind::Map(m) => {
                for (key, (key_span, value)) in m {
                    match key.as_str() {
                        "command" => task.command = value.scalar_text().unwrap_or_default().into_owned(),
                        "background" => task.background = matches!(value.kind, NodeKind::Bool(true)),
                        "ignore-failure" => task.ignore_failure = matches!(value.kind, NodeKind::Bool(true)),
                        "cwd" => task.cwd = value.scalar_text().map(|p| PathBuf::from(&*p)),
                        "env" => {
                            if let NodeKind::Map(vars) = &value.kind {
                                task.env.extend(
                                    vars.iter()
                                        .filter_map(|(k, (_, v))| Some((k.clone(), v.scalar_text()?.into_owned()))),
                                );
                            }
                        }
                        "out" | "err" | "run-at" => {}
                        other => {
                            let keys = ["command", "background", "ignore-failure", "cwd", "env", "out", "err"];
                            let help = did_you_mean_or(other, &keys, || format!("a task takes: {}", keys.join(", ")));
                            self.error_help(*key_span, format!("unknown key `{other}` in a shellexec task"), help);
                        }
                    }
                }
            }
            _ => {
                self.error(
                    node.span,
                    format!(
                        "a shellexec task must be a command string or a mapping with `command`, found {}",
                        node.describe()
                    ),
                );
                return None;
            }
        }
        if task.command.trim().is_empty() {
            self.error(node.span, "this shellexec task has no `command`");
            return None;
        }
        Some(task)
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
