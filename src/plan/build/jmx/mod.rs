//! JMeter plans (`scenarios.X.script: plan.jmx`) lowered to the same plan YAML scenarios build,
//! with Taurus's rules around an existing plan (taurus-executors.md §1):
//!
//! - properties: `modules.jmeter.properties`, then `scenarios.X.properties` (the scenario wins),
//!   feed `${__P(…)}`/`${__property(…)}`, folded to text here; one that is not set and has no
//!   default is an error;
//! - the enabled top-level thread groups become executions: setUp groups one stage before the
//!   main groups, tearDown groups one stage after (`serialize_threadgroups`: each main group a
//!   stage of its own);
//! - the execution's `concurrency`, `ramp-up`, `hold-for`, `iterations`, `throughput` and `steps`
//!   rebuild the main `ThreadGroup`s (`groups.rs`); setUp and tearDown groups keep their own;
//! - `scenario.variables` and `scenario.headers` are added at plan level, after the plan's own.
//!
//! JMeter's scoping (config elements, timers, assertions and post-processors apply to the
//! samplers of their level and below) is resolved in `steps.rs`; samplers in `http.rs`, response
//! checks in `checks.rs`, templates and plan-time values in `text.rs`.

mod checks;
mod groups;
mod http;
mod steps;
mod text;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::Builder;
use crate::config::de::Spanned;
use crate::config::model::{Execution, Root, Scenario};
use crate::config::source::Span;
use crate::config::{Diagnostic, Loaded, Node, NodeKind};
use crate::plan::jmx::{self, JmxPlan};
use crate::plan::scenario::Functions;
use crate::plan::ExecutionPlan;

/// The JMeter plans the scenarios name, read before planning (reading registers each file in
/// the sources, so its errors render with file:line:col like YAML errors).
#[derive(Default)]
pub(super) struct Plans {
    /// By the path as resolved.
    by_path: HashMap<PathBuf, Result<Arc<JmxPlan>, Vec<Diagnostic>>>,
}

impl Plans {
    /// The plans that were read without error, in path order.
    pub(super) fn used(&self) -> Vec<Arc<JmxPlan>> {
        let mut plans: Vec<Arc<JmxPlan>> = self.by_path.values().filter_map(|p| p.as_ref().ok().cloned()).collect();
        plans.sort_by(|a, b| a.path.cmp(&b.path));
        plans
    }
}

/// Whether `script:` names a JMeter plan.
pub(super) fn is_jmx(script: &str) -> bool {
    Path::new(script).extension().is_some_and(|e| e.eq_ignore_ascii_case("jmx"))
}

impl Plans {
    /// Reads every `.jmx` that a `scenarios.X.script` names.
    pub(super) fn read(loaded: &mut Loaded) -> Plans {
        let mut plans = Plans::default();
        let Some(NodeKind::Map(scenarios)) = loaded.root.get("scenarios").map(|n| &n.kind) else { return plans };
        let mut wanted = Vec::new();
        for (_, (_, sc)) in scenarios {
            if let Some(script) = sc.get("script") {
                if let Some(text) = script.scalar_text().filter(|t| is_jmx(t)) {
                    wanted.push((resolve(loaded, &text, script.span), script.span));
                }
            }
        }
        for (path, span) in wanted {
            if let std::collections::hash_map::Entry::Vacant(slot) = plans.by_path.entry(path.clone()) {
                let plan = jmx::load(&path, &mut loaded.sources).map(Arc::new).map_err(|errors| {
                    // A plan that cannot be read is an error at the `script:` that names it.
                    let help = format!(
                        "looked for `{}`; a relative path starts at the folder of the file that names it, then the current folder",
                        path.display()
                    );
                    errors
                        .into_iter()
                        .map(|d| if d.span.is_none() { Diagnostic::error(span, d.message).with_help(help.clone()) } else { d })
                        .collect()
                });
                slot.insert(plan);
            }
        }
        plans
    }
}

/// A `script:` path: beside the file that names it if it is there, else from the current folder.
fn resolve(loaded: &Loaded, text: &str, span: Span) -> PathBuf {
    let path = Path::new(text);
    if path.is_absolute() {
        return path.to_path_buf();
    }
    let beside = loaded.sources.get(span.source).path().and_then(Path::parent).map(|d| d.join(path));
    match beside {
        Some(p) if p.exists() => p,
        _ => path.to_path_buf(),
    }
}

impl Builder<'_> {
    /// The executions of an `execution` entry whose scenario is a JMeter plan.
    pub(super) fn jmx_executions(
        &mut self,
        e: &Execution,
        name: &str,
        sc: &Spanned<Scenario>,
        script: &Spanned<Node>,
        root: &Root,
    ) -> Vec<(ExecutionPlan, Span)> {
        let text = script.value.scalar_text().unwrap_or_default().into_owned();
        let path = resolve(self.loaded, &text, script.span);
        let plan = match self.jmx.by_path.get(&path) {
            Some(Ok(plan)) => plan.clone(),
            Some(Err(errors)) => {
                // Several executions may run one plan: its errors are said once (duplicates go).
                let errors = errors.clone();
                self.diags.extend(errors);
                return Vec::new();
            }
            None => {
                self.error(script.span, format!("cannot read JMeter plan `{text}`"));
                return Vec::new();
            }
        };
        self.jmx_extras(&sc.value);
        if let Some(note) = plan.listeners_note() {
            self.notes.push(note);
        }
        let properties = self.jmeter_properties(root, &sc.value);
        let mut lower = Lower::new(self, &plan, name, properties);
        lower.taurus_additions(&sc.value);
        lower.executions(e, script.span)
    }

    /// Scenario keys Taurus does not apply to an existing plan (taurus-executors.md §1.2): each
    /// one is a warning, so nobody believes it took effect.
    fn jmx_extras(&mut self, sc: &Scenario) {
        let ignored: [(&str, Option<Span>); 9] = [
            ("requests", sc.requests.as_ref().map(|r| r.span)),
            ("default-address", sc.default_address.as_ref().map(|r| r.span)),
            ("think-time", sc.think_time.as_ref().map(|r| r.span)),
            ("timeout", sc.timeout.as_ref().map(|r| r.span)),
            ("keepalive", sc.keepalive.as_ref().map(|r| r.span)),
            ("data-sources", sc.data_sources.as_ref().map(|r| r.span)),
            ("follow-redirects", sc.follow_redirects.as_ref().map(|r| r.span)),
            ("cookies", sc.cookies.as_ref().map(|r| r.span)),
            ("authorization", sc.authorization.as_ref().map(|r| r.span)),
        ];
        for (key, span) in ignored {
            if let Some(span) = span {
                self.warn(
                    span,
                    format!("`{key}` does not apply to a JMeter `script:` (as in Taurus); the plan's own elements do"),
                );
            }
        }
        if let Some(m) = &sc.modifications {
            self.unsupported(m.span, "`modifications` of a JMeter plan", "edit the plan, or disable elements in it");
        }
    }

    /// `modules.jmeter.properties`, then `scenarios.X.properties` on top (the scenario wins).
    fn jmeter_properties(&mut self, root: &Root, sc: &Scenario) -> HashMap<String, String> {
        let mut out = HashMap::new();
        let module = root.modules.get("jmeter").and_then(|m| m.get("properties").cloned());
        for node in module.iter().chain(sc.properties.as_ref().map(|p| &p.value)) {
            match &node.kind {
                NodeKind::Map(map) => {
                    for (key, (_, value)) in map {
                        match value.scalar_text() {
                            Some(v) => {
                                out.insert(key.clone(), v.into_owned());
                            }
                            None if matches!(value.kind, NodeKind::Null) => {
                                out.insert(key.clone(), String::new());
                            }
                            None => self.error(
                                value.span,
                                format!("JMeter property `{key}` must be a single value, found {}", value.describe()),
                            ),
                        }
                    }
                }
                NodeKind::Null => {}
                _ => self.error(
                    node.span,
                    format!("JMeter `properties` must be a mapping of names to values, found {}", node.describe()),
                ),
            }
        }
        out
    }
}

/// One plan being lowered for one `execution` entry.
pub(super) struct Lower<'b, 'a> {
    b: &'b mut Builder<'a>,
    plan: Arc<JmxPlan>,
    /// The scenario's name under `scenarios:`.
    scenario: String,
    /// JMeter functions' shared state: the properties, the global counters.
    functions: Arc<Functions>,
    /// User-defined variables as JMeter evaluates them at the start: once, for every user.
    variables: Vec<(String, String)>,
    /// `scenario.headers` (Taurus adds them as a plan-level header manager).
    taurus_headers: Vec<(String, String)>,
}

impl<'b, 'a> Lower<'b, 'a> {
    fn new(b: &'b mut Builder<'a>, plan: &Arc<JmxPlan>, scenario: &str, properties: HashMap<String, String>) -> Self {
        let mut lower = Lower {
            b,
            plan: plan.clone(),
            scenario: scenario.to_string(),
            functions: Arc::new(Functions::new(properties)),
            variables: Vec::new(),
            taurus_headers: Vec::new(),
        };
        lower.user_defined_variables();
        lower
    }

    /// `scenario.variables` and `scenario.headers`, added after the plan's own (Taurus §1.2 b, c).
    fn taurus_additions(&mut self, sc: &Scenario) {
        if let Some(vars) = &sc.variables {
            for (name, value) in &vars.value {
                let text = self.yaml_text(&value.value, value.span);
                self.variables.retain(|(n, _)| n != name);
                self.variables.push((name.clone(), text));
            }
        }
        if let Some(headers) = &sc.headers {
            for (name, value) in &headers.value {
                let text = self.yaml_text(&value.value, value.span);
                self.taurus_headers.push((name.clone(), text));
            }
        }
    }

    fn error(&mut self, span: Span, message: impl Into<String>) {
        self.b.error(span, message);
    }

    fn error_help(&mut self, span: Span, message: impl Into<String>, help: impl Into<String>) {
        self.b.error_help(span, message, help);
    }

    fn warn(&mut self, span: Span, message: impl Into<String>) {
        self.b.warn(span, message);
    }
}
