//! Executions: the load profile of each `execution` entry and the scenario it runs.

use std::sync::Arc;
use std::time::Duration;

use super::limits::{Capacity, Users, MAX_STEPS, MAX_VUS};
use super::{code_list, Builder};
use crate::config::de::Spanned;
use crate::config::diagnostic::suggest;
use crate::config::model::{Execution, Root, Scenario};
use crate::config::source::Span;
use crate::config::value::TimeValue;
use crate::config::{Node, NodeKind};
use crate::criteria::Spec;
use crate::plan::scenario::ScenarioPlan;
use crate::plan::tool::ToolKind;
use crate::plan::{Driver, ExecutionPlan, Load};

/// Most virtual users an `arrival-rate` execution runs when `max-vus` is not given.
const DEFAULT_MAX_VUS: u32 = 100;

/// Why virtual users are limited (the limit itself is in `limits`).
const VUS_WHY: &str = "each virtual user holds memory and a connection: a million is about 8 GB; \
                       spread more over several machines";

/// Why steps are limited.
const STEPS_WHY: &str = "each step is one stair of the rate schedule; \
                         more stairs than that are a linear ramp-up (leave `steps` out)";

/// Executors whose HTTP `requests:` scenarios `suite` runs natively with the same meaning.
const NATIVE_EXECUTORS: &[&str] = &["jmeter", "apiritif", "suite"];

impl Builder<'_> {
    pub(super) fn executions(&mut self, root: &Root, criteria: &mut Vec<(Spec, Span)>) -> Vec<ExecutionPlan> {
        let Some(exec) = &root.execution else {
            self.error_help(
                self.loaded.root.span,
                "the test has no `execution`",
                "add `execution: [{concurrency: 1, hold-for: 10s, scenario: <name>}]`",
            );
            return Vec::new();
        };
        let items = &exec.value.0;
        if items.is_empty() {
            self.error(exec.span, "`execution` is empty: nothing to run");
        }
        // `modules.local.sequential` (Taurus): executions run one after another.
        let sequential = match root.modules.get("local").and_then(|local| local.get("sequential")) {
            Some(node) => crate::config::de::from_node::<bool>(node).map_err(|d| self.diags.push(d)).unwrap_or(false),
            None => false,
        };
        let mut out = Vec::new();
        let mut users = Vec::new();
        let mut over_limit = false;
        // Sequential: every entry's stages follow the stages of the entries before it on one track.
        let mut next_stage = 0;
        for (track, item) in items.iter().enumerate() {
            if let Some(e) = self.read::<Execution>(item) {
                let above = |n: Option<u64>| n.is_some_and(|n| n > MAX_VUS);
                over_limit |= above(e.concurrency.as_ref().map(|c| c.0)) || above(e.max_vus.as_ref().map(|m| m.0));
                let search = e.search.clone();
                let plans = self.execution(e, item, root, criteria);
                if let Some(node) = &search {
                    if items.len() > 1 {
                        self.error_help(
                            node.span,
                            "a capacity search runs one execution: this test has several",
                            "move the others to a test of their own",
                        );
                    } else {
                        self.search = self.search(node, &plans, out.len()).map(|s| (s, node.span));
                    }
                }
                let stages = plans.iter().map(|(p, _)| p.stage + 1).max().unwrap_or(0);
                for (mut plan, span) in plans {
                    if sequential {
                        plan.track = 0;
                        plan.stage += next_stage;
                    } else {
                        plan.track = u32::try_from(track).unwrap_or(u32::MAX);
                    }
                    users.push(Users::of(&plan, span));
                    out.push(plan);
                }
                next_stage += stages;
            }
        }
        // Above the fixed limit the error is said already; the machine's limits would only repeat it.
        if !over_limit {
            self.check_capacity(&users, Capacity::of_this_machine());
        }
        out
    }

    /// The plans of one `execution` entry (several for a JMeter plan: one per thread group),
    /// on track 0 with their stages counted from 0.
    fn execution(
        &mut self,
        e: Execution,
        node: &Node,
        root: &Root,
        criteria: &mut Vec<(Spec, Span)>,
    ) -> Vec<(ExecutionPlan, Span)> {
        let mut tool = None;
        if let Some(executor) = &e.executor {
            match executor.value.as_str() {
                "k6" => tool = Some((ToolKind::K6, executor.span)),
                "locust" => tool = Some((ToolKind::Locust, executor.span)),
                name if NATIVE_EXECUTORS.contains(&name) => {}
                name => self.unsupported(
                    executor.span,
                    &format!("executor `{name}`"),
                    "suite runs HTTP `requests:` scenarios and JMeter plans natively, k6 scripts with `executor: k6` and locustfiles with `executor: locust`",
                ),
            }
        }
        let concurrency = e.concurrency.as_ref().map_or(1, |c| u32::try_from(c.0.min(MAX_VUS)).unwrap_or(0));
        let time = |t: &Option<Spanned<TimeValue>>| t.as_ref().map(|t| t.0).unwrap_or_default();
        let (ramp_up, hold_for, delay) = (time(&e.ramp_up), time(&e.hold_for), time(&e.delay));
        let iterations = e.iterations.as_ref().map(|n| n.0);
        self.check_limit("concurrency", e.concurrency.as_ref().map(|c| (c.0, c.span)), MAX_VUS, VUS_WHY);
        self.check_limit("steps", e.steps.as_ref().map(|n| (n.0, n.span)), MAX_STEPS, STEPS_WHY);
        let steps = e.steps.as_ref().map_or(0, |n| u32::try_from(n.0.min(MAX_STEPS)).unwrap_or(0));
        let throughput = e.throughput.as_ref().map(|t| t.0).filter(|t| *t > 0.0);
        if steps > 0 && ramp_up.is_zero() {
            if let Some(s) = &e.steps {
                self.warn(s.span, "`steps` needs `ramp-up`; ignored without one");
            }
        }
        if let Some((kind, span)) = tool {
            self.execution_extras(&e);
            if let Some(c) = &e.criteria {
                criteria.extend(self.criteria_node(c));
            }
            let load = Load {
                concurrency,
                ramp_up,
                hold_for,
                iterations,
                steps,
                throughput: None,
                delay,
                max_vus: None,
                segment: None,
            };
            return self.tool_execution(&e, kind, span, node, root, load);
        }
        if let Some((name, sc, script)) = self.jmx_scenario(&e, root) {
            if let Some(a) = e.arrival_rate.as_ref().filter(|a| a.value) {
                self.unsupported(
                    a.span,
                    "`arrival-rate` with a JMeter plan",
                    "thread groups are a closed model; `throughput` caps their rate",
                );
            }
            self.execution_extras(&e);
            if let Some(c) = &e.criteria {
                criteria.extend(self.criteria_node(c));
            }
            if let Some(c) = &sc.value.criteria {
                criteria.extend(self.criteria_node(c));
            }
            return self.jmx_executions(&e, &name, sc, script, root);
        }
        let max_vus = self.arrival_rate(&e, concurrency, throughput, ramp_up + hold_for);
        if let (Some(t), true, None) = (&e.throughput, ramp_up.is_zero() && hold_for.is_zero(), max_vus) {
            self.warn(t.span, "`throughput` needs `ramp-up` and/or `hold-for` (as in Taurus); the rate cap still applies to the iterations");
        }
        self.execution_extras(&e);
        if let Some(c) = &e.criteria {
            criteria.extend(self.criteria_node(c));
        }
        let Some(scenario) = self.execution_scenario(&e, node, root, criteria) else { return Vec::new() };
        let load =
            Load { concurrency, ramp_up, hold_for, iterations, steps, throughput, delay, max_vus, segment: None };
        // The span of the value that sets how many users run at once, for errors about them.
        let users = match max_vus {
            Some(_) => e.max_vus.as_ref().map(|m| m.span).or(e.arrival_rate.as_ref().map(|a| a.span)),
            None => e.concurrency.as_ref().map(|c| c.span),
        };
        vec![(
            ExecutionPlan { load, driver: Driver::Scenario(scenario), track: 0, stage: 0, after_stop: false },
            users.unwrap_or(node.span),
        )]
    }

    /// The scenario of an execution when it is a JMeter plan (`script: x.jmx`), by name.
    fn jmx_scenario<'r>(
        &self,
        e: &Execution,
        root: &'r Root,
    ) -> Option<(String, &'r Spanned<Scenario>, &'r Spanned<Node>)> {
        let NodeKind::Str(name) = &e.scenario.as_ref()?.value.kind else { return None };
        let sc = root.scenarios.get(name)?;
        let script = sc.value.script.as_ref()?;
        let text = script.value.scalar_text()?;
        super::jmx::is_jmx(&text).then(|| (name.clone(), sc, script))
    }

    /// Keys `suite` names but does not run: `start-at`, and cloud or JMeter settings.
    fn execution_extras(&mut self, e: &Execution) {
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
    }

    /// The scenario an execution runs: a name under `scenarios:`, or an inline scenario.
    fn execution_scenario(
        &mut self,
        e: &Execution,
        node: &Node,
        root: &Root,
        criteria: &mut Vec<(Spec, Span)>,
    ) -> Option<Arc<ScenarioPlan>> {
        match &e.scenario {
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
                    let sc = self.read::<Scenario>(&s.value)?;
                    self.scenario(&name, &sc, s.span, root, criteria).map(Arc::new)
                }
                _ => {
                    self.error(
                        s.span,
                        format!(
                            "`scenario` must be a scenario name or an inline scenario, found {}",
                            s.value.describe()
                        ),
                    );
                    None
                }
            },
        }
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
        // A capacity search sets the rate and the time of each probe itself.
        let searched = e.search.is_some();
        if throughput.is_none() && !searched {
            self.error_help(
                flag.span,
                "`arrival-rate: true` needs `throughput`, the requests per second to send",
                "add e.g. `throughput: 50`",
            );
        }
        if duration.is_zero() && !searched {
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
            Some(m) if m.0 > MAX_VUS => {
                self.check_limit("max-vus", Some((m.0, m.span)), MAX_VUS, VUS_WHY);
                default
            }
            Some(m) => match u32::try_from(m.0).ok().filter(|n| *n >= 1) {
                Some(n) => n,
                None => {
                    self.error(m.span, format!("`max-vus` must be a whole number of at least 1, found `{}`", m.0));
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

    /// Refuses a number above its fixed limit, saying what the limit is and why.
    fn check_limit(&mut self, key: &str, value: Option<(u64, Span)>, limit: u64, why: &str) {
        if let Some((n, span)) = value.filter(|(n, _)| *n > limit) {
            self.error_help(
                span,
                format!("`{key}` is at most {limit}, found {n}"),
                format!("{why}; see docs/limits.md"),
            );
        }
    }

    /// The scenario `name` under `scenarios:`, or an error (`place` says where it was named).
    pub(super) fn scenario_named<'r>(
        &mut self,
        name: &str,
        span: Span,
        root: &'r Root,
        place: &str,
    ) -> Option<&'r Spanned<Scenario>> {
        let found = root.scenarios.get(name);
        if found.is_none() {
            let names: Vec<&str> = root.scenarios.keys().map(String::as_str).collect();
            let help = match suggest(name, &names) {
                Some(s) => format!("did you mean `{s}`?"),
                None if names.is_empty() => "there is no `scenarios:` section".to_string(),
                None => format!("scenarios defined: {}", code_list(&names)),
            };
            self.error_help(span, format!("unknown scenario `{name}`{place}"), help);
        }
        found
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
        let sc = self.scenario_named(name, span, root, "")?;
        let plan = Arc::new(self.scenario(name, &sc.value, sc.span, root, criteria)?);
        self.scenarios.insert(name.to_string(), plan.clone());
        Some(plan)
    }
}
