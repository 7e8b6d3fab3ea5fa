//! Turning a loaded config into a [`Plan`]: every check that can be made before load starts is
//! made here, and every error points at the value in the user's file. Taurus features that
//! `suite` does not run are named in a clear error, never skipped silently.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use indexmap::IndexMap;

use super::monitoring::{LocalFrontend, MonitorSource, SourceKind};
use super::scenario::ScenarioPlan;
use super::services::{ShellTask, Stage};
use super::{ExecutionPlan, JunitReporter, JunitSource, Load, Plan};
use crate::config::de::{from_node, Spanned};
use crate::config::diagnostic::{suggest, Diagnostic};
use crate::config::duration::parse_secs;
use crate::config::model::{Execution, Root, Scenario};
use crate::config::source::Span;
use crate::config::Loaded;
use crate::config::{Node, NodeKind};
use crate::criteria::{self, DictForm, Kind, Spec};

mod checks;
mod data;
mod requests;

/// Most virtual users an `arrival-rate` execution runs when `max-vus` is not given.
const DEFAULT_MAX_VUS: u32 = 100;

/// Executors whose HTTP `requests:` scenarios `suite` runs natively with the same meaning.
const NATIVE_EXECUTORS: &[&str] = &["jmeter", "apiritif", "suite"];

/// Top-level sections of a Taurus config.
const TOP_LEVEL: &[&str] = &[
    "execution",
    "scenarios",
    "services",
    "reporting",
    "modules",
    "settings",
    "provisioning",
    "included-configs",
    "cli-aliases",
    "cli",
    "version",
    "install-id",
];

/// Plans a loaded config, or returns every error found.
pub fn build(loaded: &Loaded) -> Result<Plan, Vec<Diagnostic>> {
    let mut b =
        Builder { loaded, diags: Vec::new(), labels: IndexMap::new(), warnings: Vec::new(), scenarios: HashMap::new() };
    let root: Root = from_node(&b.known_top_level()).map_err(|d| vec![d])?;
    let env = b.settings_env(&root);
    let mut criteria = Vec::new();
    let executions = b.executions(&root, &mut criteria);
    let mut final_stats_csv = None;
    let mut junit = Vec::new();
    for entry in &root.reporting {
        b.reporter(entry, &mut criteria, &mut final_stats_csv, &mut junit);
    }
    let (shell, monitoring) = b.services(&root);
    b.check_monitoring_criteria(&mut criteria, &monitoring);
    let criteria = criteria.into_iter().map(|(spec, _)| spec).collect();
    // A scenario included several times (or by several executions) reports each error once.
    let mut seen = std::collections::HashSet::new();
    b.diags.retain(|d| seen.insert((d.span, d.message.clone())));
    if b.diags.is_empty() {
        Ok(Plan {
            executions,
            labels: b.labels.keys().cloned().collect(),
            criteria,
            shell,
            monitoring,
            env,
            final_stats_csv,
            junit,
            warnings: b.warnings,
        })
    } else {
        let mut all = b.warnings;
        all.extend(b.diags);
        Err(all)
    }
}

struct Builder<'a> {
    loaded: &'a Loaded,
    diags: Vec<Diagnostic>,
    labels: IndexMap<String, u32>,
    warnings: Vec<Diagnostic>,
    /// Scenarios already planned, by name (several executions may share one).
    scenarios: HashMap<String, Arc<ScenarioPlan>>,
}

fn kind_name(node: &Node) -> &'static str {
    match node.kind {
        NodeKind::Null => "nothing",
        NodeKind::Bool(_) => "a boolean",
        NodeKind::Int(_) => "an integer",
        NodeKind::Float(_) => "a number",
        NodeKind::Str(_) => "a string",
        NodeKind::Seq(_) => "a list",
        NodeKind::Map(_) => "a mapping",
    }
}

fn scalar_text(node: &Node) -> Option<String> {
    match &node.kind {
        NodeKind::Str(s) => Some(s.clone()),
        NodeKind::Int(i) => Some(i.to_string()),
        NodeKind::Float(f) => Some(f.to_string()),
        NodeKind::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn map_get<'n>(node: &'n Node, key: &str) -> Option<&'n Node> {
    match &node.kind {
        NodeKind::Map(m) => m.get(key).map(|(_, v)| v),
        _ => None,
    }
}

impl Builder<'_> {
    /// The root without keys Taurus would ignore: each gets a warning (a typo of a known key
    /// says which), since YAML anchors are often kept in extra top-level keys.
    fn known_top_level(&mut self) -> Node {
        let mut root = self.loaded.root.clone();
        if let NodeKind::Map(map) = &mut root.kind {
            let unknown: Vec<(String, Span)> = map
                .iter()
                .filter(|(k, _)| !TOP_LEVEL.contains(&k.as_str()))
                .map(|(k, (span, _))| (k.clone(), *span))
                .collect();
            for (key, span) in unknown {
                map.shift_remove(&key);
                let hint = suggest(&key, TOP_LEVEL).map(|s| format!(" (did you mean `{s}`?)")).unwrap_or_default();
                self.warn(span, format!("top-level key `{key}` is not used by suite{hint}"));
            }
        }
        root
    }

    fn error(&mut self, span: Span, message: impl Into<String>) {
        self.diags.push(Diagnostic::error(span, message));
    }

    fn error_help(&mut self, span: Span, message: impl Into<String>, help: impl Into<String>) {
        self.diags.push(Diagnostic::error(span, message).with_help(help));
    }

    /// A Taurus feature `suite` does not run: named, located, never skipped.
    fn unsupported(&mut self, span: Span, what: &str, help: &str) {
        self.error_help(span, format!("{what} is not supported by suite"), help);
    }

    fn warn(&mut self, span: Span, message: impl Into<String>) {
        self.warnings.push(Diagnostic::warning(span, message));
    }

    fn label(&mut self, name: &str) -> u32 {
        let next = self.labels.len() as u32;
        *self.labels.entry(name.to_string()).or_insert(next)
    }

    fn settings_env(&mut self, root: &Root) -> Vec<(String, String)> {
        let mut env = Vec::new();
        let Some(settings) = &root.settings else { return env };
        if let Some(vars) = map_get(&settings.value, "env") {
            match &vars.kind {
                NodeKind::Map(m) => {
                    for (name, (_, value)) in m {
                        match &value.kind {
                            NodeKind::Null => {}
                            _ => match scalar_text(value) {
                                Some(text) => env.push((name.clone(), text)),
                                None => self.error(
                                    value.span,
                                    format!("`settings.env.{name}` must be a string, found {}", kind_name(value)),
                                ),
                            },
                        }
                    }
                }
                NodeKind::Null => {}
                _ => self.error(
                    vars.span,
                    format!("`settings.env` must be a mapping of names to values, found {}", kind_name(vars)),
                ),
            }
        }
        env
    }

    /// A time value (`10s`, `1m30s`, a number of seconds).
    fn secs(&mut self, node: &Node, what: &str) -> Option<Duration> {
        let secs = match &node.kind {
            NodeKind::Int(i) => *i as f64,
            NodeKind::Float(f) => *f,
            NodeKind::Str(s) => match parse_secs(s) {
                Ok(v) => v,
                Err(e) => {
                    self.error(node.span, format!("`{what}`: {e}"));
                    return None;
                }
            },
            NodeKind::Null => return None,
            _ => {
                self.error(node.span, format!("`{what}` must be a time value like `30s`, found {}", kind_name(node)));
                return None;
            }
        };
        if !secs.is_finite() || secs < 0.0 {
            self.error(node.span, format!("`{what}` must be a finite, non-negative time"));
            return None;
        }
        Some(Duration::from_secs_f64(secs))
    }

    fn count(&mut self, node: &Node, what: &str) -> Option<u64> {
        match &node.kind {
            NodeKind::Int(i) if *i >= 0 => Some(*i as u64),
            NodeKind::Null => None,
            _ => {
                self.error(
                    node.span,
                    format!("`{what}` must be a whole number of at least 0, found {}", kind_name(node)),
                );
                None
            }
        }
    }

    fn number(&mut self, node: &Node, what: &str) -> Option<f64> {
        match &node.kind {
            NodeKind::Int(i) if *i >= 0 => Some(*i as f64),
            NodeKind::Float(f) if *f >= 0.0 && f.is_finite() => Some(*f),
            NodeKind::Null => None,
            _ => {
                self.error(node.span, format!("`{what}` must be a non-negative number, found {}", kind_name(node)));
                None
            }
        }
    }

    fn executions(&mut self, root: &Root, criteria: &mut Vec<(Spec, Span)>) -> Vec<ExecutionPlan> {
        let Some(exec) = &root.execution else {
            self.error_help(
                self.loaded.root.span,
                "the test has no `execution`",
                "add `execution: [{concurrency: 1, hold-for: 10s, scenario: <name>}]`",
            );
            return Vec::new();
        };
        let items: Vec<&Node> = match &exec.value.kind {
            NodeKind::Seq(items) => items.iter().collect(),
            NodeKind::Map(_) => vec![&exec.value],
            _ => {
                self.error(
                    exec.span,
                    format!("`execution` must be a list of executions (or one), found {}", kind_name(&exec.value)),
                );
                return Vec::new();
            }
        };
        if items.is_empty() {
            self.error(exec.span, "`execution` is empty: nothing to run");
        }
        let mut out = Vec::new();
        for item in items {
            match from_node::<Execution>(item) {
                Ok(e) => {
                    if let Some(plan) = self.execution(e, item, root, criteria) {
                        out.push(plan);
                    }
                }
                Err(d) => self.diags.push(d),
            }
        }
        out
    }

    fn execution(
        &mut self,
        e: Execution,
        node: &Node,
        root: &Root,
        criteria: &mut Vec<(Spec, Span)>,
    ) -> Option<ExecutionPlan> {
        if let Some(executor) = &e.executor {
            if !NATIVE_EXECUTORS.contains(&executor.value.as_str()) {
                self.unsupported(
                    executor.span,
                    &format!("executor `{}`", executor.value),
                    "suite runs HTTP `requests:` scenarios natively; `jmeter` and `apiritif` executors with `requests:` are accepted",
                );
            }
        }
        let concurrency = match &e.concurrency {
            None => 1,
            Some(c) => {
                let node = map_get(&c.value, "local").unwrap_or(&c.value);
                match &node.kind {
                    NodeKind::Int(n) if *n >= 0 && *n <= u32::MAX as i64 => *n as u32,
                    _ => {
                        self.error(
                            node.span,
                            format!("`concurrency` must be a whole number of virtual users, found {}", kind_name(node)),
                        );
                        1
                    }
                }
            }
        };
        let ramp_up = e.ramp_up.as_ref().and_then(|n| self.secs(&n.value, "ramp-up")).unwrap_or_default();
        let hold_for = e.hold_for.as_ref().and_then(|n| self.secs(&n.value, "hold-for")).unwrap_or_default();
        let delay = e.delay.as_ref().and_then(|n| self.secs(&n.value, "delay")).unwrap_or_default();
        let iterations = e.iterations.as_ref().and_then(|n| self.count(&n.value, "iterations"));
        let steps = e.steps.as_ref().and_then(|n| self.count(&n.value, "steps")).unwrap_or(0) as u32;
        let throughput = e.throughput.as_ref().and_then(|n| self.number(&n.value, "throughput")).filter(|t| *t > 0.0);
        if steps > 0 && ramp_up.is_zero() {
            if let Some(s) = &e.steps {
                self.warn(s.span, "`steps` needs `ramp-up`; ignored without one");
            }
        }
        let max_vus = self.arrival_rate(&e, concurrency, throughput, ramp_up + hold_for);
        if let (Some(t), true, None) = (&e.throughput, ramp_up.is_zero() && hold_for.is_zero(), max_vus) {
            self.warn(t.span, "`throughput` needs `ramp-up` and/or `hold-for` (as in Taurus); the rate cap still applies to the iterations");
        }
        if let Some(s) = &e.start_at {
            self.unsupported(s.span, "`start-at`", "use `delay:` or start `suite` at the wanted time");
        }
        for (key, value) in [
            ("locations", &e.locations),
            ("locations-weighted", &e.locations_weighted),
            ("files", &e.files),
            ("write-xml-jtl", &e.write_xml_jtl),
            ("properties", &e.properties),
            ("system-properties", &e.system_properties),
            ("env", &e.env),
        ] {
            if let Some(v) = value {
                self.warn(v.span, format!("`{key}` is for cloud or JMeter runs and has no effect in suite"));
            }
        }
        if let Some(c) = &e.criteria {
            criteria.extend(self.criteria_node(c));
        }
        let scenario = match &e.scenario {
            None => {
                self.error_help(
                    node.span,
                    "this execution has no `scenario`",
                    "add `scenario: <name of a scenario under scenarios:>`",
                );
                None
            }
            Some(s) => match &s.value.kind {
                NodeKind::Str(name) => self.named_scenario(name, s.span, root, criteria),
                NodeKind::Map(_) => {
                    let name = format!("autogenerated_{}_{}", s.span.line, s.span.col);
                    match from_node::<Scenario>(&s.value) {
                        Ok(sc) => self.scenario(&name, &sc, s.span, root, criteria).map(Arc::new),
                        Err(d) => {
                            self.diags.push(d);
                            None
                        }
                    }
                }
                _ => {
                    self.error(
                        s.span,
                        format!(
                            "`scenario` must be a scenario name or an inline scenario, found {}",
                            kind_name(&s.value)
                        ),
                    );
                    None
                }
            },
        }?;
        let load = Load { concurrency, ramp_up, hold_for, iterations, steps, throughput, delay, max_vus };
        Some(ExecutionPlan { load, scenario })
    }

    /// `arrival-rate: true` (suite's open model) and its `max-vus` cap: `Some(cap)` when open.
    fn arrival_rate(
        &mut self,
        e: &Execution,
        concurrency: u32,
        throughput: Option<f64>,
        duration: Duration,
    ) -> Option<u32> {
        let open = e.arrival_rate.as_ref().filter(|a| a.value);
        let Some(flag) = open else {
            if let Some(m) = &e.max_vus {
                self.error_help(
                    m.span,
                    "`max-vus` is only used with `arrival-rate: true`",
                    "add `arrival-rate: true`, or remove `max-vus`",
                );
            }
            return None;
        };
        if throughput.is_none() {
            self.error_help(
                flag.span,
                "`arrival-rate: true` needs `throughput`, the requests per second to send",
                "add e.g. `throughput: 50`",
            );
        }
        if duration.is_zero() {
            self.error_help(
                flag.span,
                "`arrival-rate: true` needs `ramp-up` and/or `hold-for`: the schedule is a rate over time",
                "add e.g. `hold-for: 1m`",
            );
        }
        if let Some(i) = &e.iterations {
            self.error_help(
                i.span,
                "`iterations` has no meaning with `arrival-rate: true`: users come and go with the schedule",
                "remove `iterations`; the execution ends after `ramp-up` + `hold-for`",
            );
        }
        // Enough users for any rate at sub-second response times; more only when asked for.
        let default = concurrency.max(DEFAULT_MAX_VUS);
        let cap = match &e.max_vus {
            None => default,
            Some(m) => match &m.value.kind {
                NodeKind::Int(n) if *n >= 1 && *n <= u32::MAX as i64 => *n as u32,
                _ => {
                    self.error(
                        m.span,
                        format!("`max-vus` must be a whole number of at least 1, found {}", kind_name(&m.value)),
                    );
                    default
                }
            },
        };
        if concurrency > cap {
            if let Some(c) = &e.concurrency {
                self.error(c.span, format!("`concurrency` ({concurrency}) is above `max-vus` ({cap})"));
            }
        }
        Some(cap)
    }

    fn named_scenario(
        &mut self,
        name: &str,
        span: Span,
        root: &Root,
        criteria: &mut Vec<(Spec, Span)>,
    ) -> Option<Arc<ScenarioPlan>> {
        if let Some(plan) = self.scenarios.get(name) {
            return Some(plan.clone());
        }
        let Some(sc) = root.scenarios.get(name) else {
            let names: Vec<&str> = root.scenarios.keys().map(String::as_str).collect();
            let help = match suggest(name, &names) {
                Some(s) => format!("did you mean `{s}`?"),
                None if names.is_empty() => "there is no `scenarios:` section".to_string(),
                None => format!(
                    "scenarios defined: {}",
                    names.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ")
                ),
            };
            self.error_help(span, format!("unknown scenario `{name}`"), help);
            return None;
        };
        let plan = Arc::new(self.scenario(name, &sc.value, sc.span, root, criteria)?);
        self.scenarios.insert(name.to_string(), plan.clone());
        Some(plan)
    }

    fn reporter(
        &mut self,
        entry: &Spanned<Node>,
        criteria: &mut Vec<(Spec, Span)>,
        final_stats: &mut Option<PathBuf>,
        junit: &mut Vec<JunitReporter>,
    ) {
        let (module, node) = match &entry.value.kind {
            NodeKind::Str(name) => (name.clone(), None),
            NodeKind::Map(_) => match map_get(&entry.value, "module").and_then(scalar_text) {
                Some(m) => (m, Some(&entry.value)),
                None => {
                    self.error(
                        entry.span,
                        "a reporting entry needs `module:` (e.g. `passfail`, `junit-xml`, `final-stats`)",
                    );
                    return;
                }
            },
            _ => {
                self.error(
                    entry.span,
                    format!("a reporting entry must be a module name or a mapping, found {}", kind_name(&entry.value)),
                );
                return;
            }
        };
        let keys: &[&str] = match module.as_str() {
            "passfail" => &["criteria"],
            "junit-xml" => &["filename", "data-source"],
            "final-stats" => {
                &["summary", "percentiles", "summary-labels", "failed-labels", "test-duration", "dump-xml", "dump-csv"]
            }
            "console" => &["disable", "screen", "dummy-cols", "dummy-rows"],
            "blazemeter" | "influxdb-reporter" => {
                self.warn(
                    entry.span,
                    format!("reporter `{module}` sends results to a remote service; suite works offline and skips it"),
                );
                return;
            }
            other => {
                let known = ["passfail", "junit-xml", "final-stats", "console", "blazemeter"];
                let help = did_you_mean_or(other, &known, || {
                    "suite knows passfail, junit-xml, final-stats and console".into()
                });
                self.error_help(entry.span, format!("unknown reporter `{other}`"), help);
                return;
            }
        };
        // Taurus's default data source is `sample-labels`; a bare `- junit-xml` entry means it too.
        let junit_index = (module == "junit-xml").then(|| {
            junit.push(JunitReporter { data_source: JunitSource::SampleLabels, filename: None });
            junit.len() - 1
        });
        let Some(node) = node else { return };
        let NodeKind::Map(map) = &node.kind else { return };
        for (key, (key_span, value)) in map {
            if key == "module" || key == "run-at" {
                continue;
            }
            if !keys.contains(&key.as_str()) {
                let help = did_you_mean_or(key, keys, || format!("`{module}` takes: {}", keys.join(", ")));
                self.error_help(*key_span, format!("unknown key `{key}` in the `{module}` reporter"), help);
                continue;
            }
            match (module.as_str(), key.as_str()) {
                ("passfail", "criteria") => {
                    let spanned = Spanned { value: value.clone(), span: value.span };
                    criteria.extend(self.criteria_node(&spanned));
                }
                ("junit-xml", "data-source") => {
                    let ds = scalar_text(value).unwrap_or_default();
                    let source = match ds.as_str() {
                        "pass-fail" => Some(JunitSource::PassFail),
                        "sample-labels" => Some(JunitSource::SampleLabels),
                        _ => {
                            self.error_help(
                                value.span,
                                format!("unknown junit-xml `data-source: {ds}`"),
                                "use `pass-fail` or `sample-labels`",
                            );
                            None
                        }
                    };
                    if let (Some(source), Some(i)) = (source, junit_index) {
                        junit[i].data_source = source;
                    }
                }
                ("junit-xml", "filename") => match scalar_text(value).filter(|p| !p.trim().is_empty()) {
                    Some(p) => {
                        if let Some(i) = junit_index {
                            junit[i].filename = Some(PathBuf::from(p));
                        }
                    }
                    None => self.error(value.span, "`filename` must be a file path"),
                },
                ("final-stats", "dump-csv") => match scalar_text(value) {
                    Some(p) => *final_stats = Some(PathBuf::from(p)),
                    None => self.error(value.span, "`dump-csv` must be a file path"),
                },
                ("final-stats", "dump-xml") => self.unsupported(
                    value.span,
                    "`dump-xml`",
                    "use `dump-csv`; the run's junit.xml and final_stats.csv carry the same figures",
                ),
                _ => {}
            }
        }
    }

    /// A `criteria` value: a list of strings and dicts, or a mapping of message to criterion.
    fn criteria_node(&mut self, node: &Spanned<Node>) -> Vec<(Spec, Span)> {
        let mut out = Vec::new();
        match &node.value.kind {
            NodeKind::Null => {}
            NodeKind::Seq(items) => {
                for item in items {
                    if let Some(spec) = self.criterion(item, None) {
                        out.push((spec, item.span));
                    }
                }
            }
            NodeKind::Map(m) => {
                for (message, (_, item)) in m {
                    if let Some(spec) = self.criterion(item, Some(message.clone())) {
                        out.push((spec, item.span));
                    }
                }
            }
            _ => self.error(node.span, format!("`criteria` must be a list, found {}", kind_name(&node.value))),
        }
        out
    }

    fn criterion(&mut self, node: &Node, message: Option<String>) -> Option<Spec> {
        match &node.kind {
            NodeKind::Str(text) => match criteria::parse_short(text) {
                Ok(mut spec) => {
                    if message.is_some() {
                        spec.message = message;
                    }
                    Some(spec)
                }
                Err(e) => {
                    let span = self.loaded.sources.inner_span(node.span, text, e.span.start, e.span.len().max(1));
                    let mut d = Diagnostic::error(span, format!("invalid criterion: {}", e.message));
                    if let Some(h) = e.help {
                        d = d.with_help(h);
                    }
                    self.diags.push(d);
                    None
                }
            },
            NodeKind::Map(m) => {
                // `- My msg: rc404>10` in a YAML list is a one-key mapping, not a string (Taurus fails on it too).
                if m.len() == 1 && message.is_none() {
                    let (k, (_, v)) = m.iter().next()?;
                    if matches!(v.kind, NodeKind::Str(_)) && !["subject", "class", "label"].contains(&k.as_str()) {
                        self.error_help(
                            node.span,
                            format!("`{k}: ...` is a YAML mapping here, not a criterion string"),
                            format!("quote the whole criterion: `- '{k}: {}'`", scalar_text(v).unwrap_or_default()),
                        );
                        return None;
                    }
                }
                let dict: DictForm = match from_node(node) {
                    Ok(d) => d,
                    Err(d) => {
                        self.diags.push(d);
                        return None;
                    }
                };
                match criteria::from_dict(dict) {
                    Ok(mut spec) => {
                        if message.is_some() {
                            spec.message = message;
                        }
                        Some(spec)
                    }
                    Err(e) => {
                        // The dict form's errors name the field at fault: point at its value.
                        let span = e.field.and_then(|f| m.get(f)).map_or(node.span, |(_, v)| v.span);
                        let mut d = Diagnostic::error(span, format!("invalid criterion: {}", e.message));
                        if let Some(h) = e.help {
                            d = d.with_help(h);
                        }
                        self.diags.push(d);
                        None
                    }
                }
            }
            _ => {
                self.error(node.span, format!("a criterion must be a string or a mapping, found {}", kind_name(node)));
                None
            }
        }
    }

    fn services(&mut self, root: &Root) -> (Vec<ShellTask>, Vec<MonitorSource>) {
        let mut tasks = Vec::new();
        let mut sources = Vec::new();
        for entry in &root.services {
            let module = match &entry.value.kind {
                NodeKind::Str(name) => name.clone(),
                NodeKind::Map(_) => match map_get(&entry.value, "module").and_then(scalar_text) {
                    Some(m) => m,
                    None => {
                        self.error(entry.span, "a services entry needs `module:` (e.g. `shellexec`)");
                        continue;
                    }
                },
                _ => {
                    self.error(
                        entry.span,
                        format!("a services entry must be a mapping, found {}", kind_name(&entry.value)),
                    );
                    continue;
                }
            };
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

    /// A monitoring service entry: `local`, `server-agent` and MMS's `ServerLocalClient` lists.
    fn monitoring(&mut self, node: &Node, sources: &mut Vec<MonitorSource>) {
        let NodeKind::Map(map) = &node.kind else { return };
        for (key, (key_span, value)) in map {
            let local_label = match key.as_str() {
                "module" | "run-at" => continue,
                "local" => Some("local"),
                "ServerLocalClient" => Some("ServerLocalClient"),
                "server-agent" => None,
                "graphite" => {
                    self.unsupported(
                        *key_span,
                        "graphite monitoring",
                        "run `monitoring-agent` on the host and use `server-agent`",
                    );
                    continue;
                }
                other => {
                    let kinds = ["local", "server-agent", "ServerLocalClient"];
                    let help = did_you_mean_or(other, &kinds, || format!("monitoring takes: {}", kinds.join(", ")));
                    self.error_help(*key_span, format!("unknown monitoring client `{other}`"), help);
                    continue;
                }
            };
            let items = one_or_many(value);
            for item in items {
                let source = match local_label {
                    Some(label) => self.local_source(item, label),
                    None => self.agent_source(item),
                };
                if let Some(source) = source {
                    if sources.iter().any(|s: &MonitorSource| s.label == source.label) {
                        self.error_help(
                            item.span,
                            format!("two monitoring sources are named `{}`", source.label),
                            "give each a different `label:`",
                        );
                    }
                    sources.push(source);
                }
            }
        }
    }

    /// Keys shared by local and agent entries: interval, logging, metrics.
    fn source_common(&mut self, map: &crate::config::Map, span: Span, allowed: &[&str]) -> Option<SourceCommon> {
        for (key, (key_span, _)) in map {
            if !allowed.contains(&key.as_str()) {
                let help = did_you_mean_or(key, allowed, || format!("an entry takes: {}", allowed.join(", ")));
                self.error_help(*key_span, format!("unknown key `{key}` in a monitoring entry"), help);
            }
        }
        let interval =
            map.get("interval").and_then(|(_, v)| self.secs(v, "interval")).unwrap_or(Duration::from_secs(1));
        let logging = map.get("logging").is_some_and(|(_, v)| matches!(v.kind, NodeKind::Bool(true)));
        let metrics: Vec<(String, Span)> = match map.get("metrics").map(|(_, v)| v) {
            Some(Node { kind: NodeKind::Seq(items), .. }) => {
                items.iter().filter_map(|i| scalar_text(i).map(|t| (t, i.span))).collect()
            }
            Some(other) => {
                self.error(other.span, "`metrics` must be a list of metric names");
                return None;
            }
            None => Vec::new(),
        };
        if metrics.is_empty() {
            self.error_help(
                span,
                "this monitoring entry asks for no `metrics`",
                "add e.g. `metrics: [cpu, mem, sum_workers_memory_rss]`",
            );
            return None;
        }
        Some((interval, logging, metrics))
    }

    fn local_source(&mut self, node: &Node, default_label: &str) -> Option<MonitorSource> {
        let NodeKind::Map(map) = &node.kind else {
            self.error(node.span, format!("a monitoring entry must be a mapping, found {}", kind_name(node)));
            return None;
        };
        let allowed =
            ["interval", "logging", "metrics", "label", "frontend-pid-file", "frontend-match", "worker-match"];
        let (interval, logging, metrics) = self.source_common(map, node.span, &allowed)?;
        let known: Vec<String> = monitoring_agent::metric::catalogue().into_iter().map(|(name, _)| name).collect();
        let known_refs: Vec<&str> = known.iter().map(String::as_str).collect();
        for (metric, span) in &metrics {
            if monitoring_agent::metric::Metric::parse(metric).is_err() {
                let help =
                    did_you_mean_or(metric, &known_refs, || "`monitoring-agent --list-metrics` lists them".into());
                self.error_help(*span, format!("unknown metric `{metric}`"), help);
            }
        }
        let text = |key: &str| map.get(key).and_then(|(_, v)| scalar_text(v));
        let mut frontend = LocalFrontend::None;
        if let Some(file) = text("frontend-pid-file") {
            frontend = LocalFrontend::PidFile(PathBuf::from(file));
        }
        for key in ["frontend-match", "worker-match"] {
            if let (Some(re), Some((_, v))) = (text(key), map.get(key)) {
                if let Err(e) = regex::Regex::new(&re) {
                    self.error(v.span, format!("`{key}` is not a valid regex: {e}"));
                }
            }
        }
        if let Some(re) = text("frontend-match") {
            frontend = LocalFrontend::Match(re);
        }
        Some(MonitorSource {
            label: text("label").unwrap_or_else(|| default_label.to_string()),
            kind: SourceKind::Local { frontend, worker_match: text("worker-match") },
            interval,
            logging,
            metrics: metrics.into_iter().map(|(m, _)| m).collect(),
        })
    }

    fn agent_source(&mut self, node: &Node) -> Option<MonitorSource> {
        let NodeKind::Map(map) = &node.kind else {
            self.error(node.span, format!("a server-agent entry must be a mapping, found {}", kind_name(node)));
            return None;
        };
        let (interval, logging, metrics) =
            self.source_common(map, node.span, &["address", "label", "interval", "logging", "metrics"])?;
        let Some(address) = map.get("address").and_then(|(_, v)| scalar_text(v)) else {
            self.error_help(node.span, "this server-agent entry has no `address`", "add `address: 127.0.0.1:9009`");
            return None;
        };
        // Taurus's default ServerAgent port.
        let address = if address.contains(':') { address } else { format!("{address}:4444") };
        let label = map.get("label").and_then(|(_, v)| scalar_text(v)).unwrap_or_else(|| address.clone());
        Some(MonitorSource {
            label,
            kind: SourceKind::ServerAgent { address },
            interval,
            logging,
            metrics: metrics.into_iter().map(|(m, _)| m).collect(),
        })
    }

    /// Monitoring criteria must name a configured source (by label or, as in Taurus, by agent
    /// address) and one of its metrics; the source is then named by its label.
    fn check_monitoring_criteria(&mut self, criteria: &mut [(Spec, Span)], sources: &[MonitorSource]) {
        for (spec, span) in criteria {
            let Kind::Monitoring { source, metric } = &mut spec.kind else { continue };
            let found = sources.iter().find(|s| {
                &s.label == source || matches!(&s.kind, SourceKind::ServerAgent { address } if address == source)
            });
            match found {
                None => {
                    let names: Vec<&str> = sources.iter().map(|s| s.label.as_str()).collect();
                    let help = if names.is_empty() {
                        "configure it under `services: - module: monitoring`".to_string()
                    } else {
                        format!(
                            "monitoring sources: {}",
                            names.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ")
                        )
                    };
                    self.error_help(*span, format!("no monitoring source `{source}` for this criterion"), help);
                }
                Some(s) if !s.metrics.contains(metric) => {
                    self.error_help(
                        *span,
                        format!("monitoring source `{source}` does not collect `{metric}`"),
                        format!("add `{metric}` to its `metrics:`"),
                    );
                }
                Some(s) => *source = s.label.clone(),
            }
        }
    }

    fn shellexec(&mut self, node: &Node, tasks: &mut Vec<ShellTask>) {
        let NodeKind::Map(map) = &node.kind else { return };
        let mut env = Vec::new();
        if let Some(e) = map_get(node, "env") {
            if let NodeKind::Map(vars) = &e.kind {
                env.extend(vars.iter().filter_map(|(k, (_, v))| scalar_text(v).map(|t| (k.clone(), t))));
            } else {
                self.error(e.span, "shellexec `env` must be a mapping");
            }
        }
        let default_cwd = map_get(node, "default-cwd").and_then(scalar_text).map(PathBuf::from);
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
                        "command" => task.command = scalar_text(value).unwrap_or_default(),
                        "background" => task.background = matches!(value.kind, NodeKind::Bool(true)),
                        "ignore-failure" => task.ignore_failure = matches!(value.kind, NodeKind::Bool(true)),
                        "cwd" => task.cwd = scalar_text(value).map(PathBuf::from),
                        "env" => {
                            if let NodeKind::Map(vars) = &value.kind {
                                task.env.extend(
                                    vars.iter().filter_map(|(k, (_, v))| scalar_text(v).map(|t| (k.clone(), t))),
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
                        kind_name(node)
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

/// A list, or a single item standing for a list of one; nothing is an empty list.
pub(super) fn one_or_many(node: &Node) -> Vec<&Node> {
    match &node.kind {
        NodeKind::Seq(items) => items.iter().collect(),
        NodeKind::Null => Vec::new(),
        _ => vec![node],
    }
}

/// "did you mean `x`?" when a known word is close, else `fallback()`.
pub(super) fn did_you_mean_or(word: &str, known: &[&str], fallback: impl FnOnce() -> String) -> String {
    suggest(word, known).map(|s| format!("did you mean `{s}`?")).unwrap_or_else(fallback)
}

/// What local and agent monitoring entries share: interval, logging, metrics with their places.
type SourceCommon = (Duration, bool, Vec<(String, Span)>);

/// Whether a services module is monitoring: Taurus's `monitoring`, or a module whose class
/// (`modules.<name>.class`) is a monitoring plugin such as MMS's `metrics_monitoring_inproc.Monitor`.
fn is_monitoring_module(module: &str, root: &Root) -> bool {
    if module == "monitoring" || module == "server_local_monitoring" {
        return true;
    }
    let class = root
        .modules
        .get(module)
        .and_then(|m| map_get(&m.value, "class").and_then(scalar_text).or_else(|| scalar_text(&m.value)));
    class.is_some_and(|c| c.to_ascii_lowercase().contains("monitor"))
}

/// A request body mapping as JSON.
fn to_json(node: &Node) -> serde_json::Value {
    use serde_json::Value;
    match &node.kind {
        NodeKind::Null => Value::Null,
        NodeKind::Bool(b) => Value::Bool(*b),
        NodeKind::Int(i) => Value::from(*i),
        NodeKind::Float(f) => serde_json::Number::from_f64(*f).map(Value::Number).unwrap_or(Value::Null),
        NodeKind::Str(s) => Value::String(s.clone()),
        NodeKind::Seq(items) => Value::Array(items.iter().map(to_json).collect()),
        NodeKind::Map(m) => Value::Object(m.iter().map(|(k, (_, v))| (k.clone(), to_json(v))).collect()),
    }
}

/// `application/x-www-form-urlencoded` text of form fields. `${name}` placeholders are kept
/// unescaped so variables still fill them.
fn form_encode<'a>(fields: impl Iterator<Item = (&'a str, String)>) -> String {
    fn enc(s: &str) -> String {
        let mut out = String::new();
        let mut rest = s;
        while !rest.is_empty() {
            if rest.starts_with("${") {
                if let Some(end) = rest.find('}') {
                    out.push_str(&rest[..=end]);
                    rest = &rest[end + 1..];
                    continue;
                }
            }
            let c = rest.chars().next().unwrap_or_default();
            match c {
                'A'..='Z' | 'a'..='z' | '0'..='9' | '-' | '_' | '.' | '*' => out.push(c),
                ' ' => out.push('+'),
                _ => {
                    let mut buf = [0u8; 4];
                    for b in c.encode_utf8(&mut buf).bytes() {
                        out.push_str(&format!("%{b:02X}"));
                    }
                }
            }
            rest = &rest[c.len_utf8()..];
        }
        out
    }
    fields.map(|(k, v)| format!("{}={}", enc(k), enc(&v))).collect::<Vec<_>>().join("&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_encoding_keeps_placeholders() {
        let s = form_encode([("name", "a b&c".to_string()), ("user", "${user}!".to_string())].into_iter());
        assert_eq!(s, "name=a+b%26c&user=${user}%21");
    }
}
