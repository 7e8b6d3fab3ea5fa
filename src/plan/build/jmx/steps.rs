//! A thread group's tree to scenario steps, with JMeter's scoping: the config elements, timers,
//! assertions and post-processors of a level apply to every sampler at that level and below
//! (a sampler's own children are the innermost level). Timers run before their sampler, in
//! scope order (outer first); assertions and extractors after it.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use http::HeaderValue;

use super::groups::on_error;
use super::Lower;
use crate::plan::data::{self, CsvOptions, DataSource};
use crate::plan::jmx::condition::{self, ConditionError};
use crate::plan::jmx::model::{Action as JmxAction, Controller, CsvDataSet, Http, ThreadGroup, Timer};
use crate::plan::jmx::{xml, Kind, Node, Text};
use crate::plan::scenario::{
    Action, ActionKind, BasicAuth, Condition, Cookie, ScenarioPlan, Step, ThinkTime, Transaction, WhileCondition,
};

/// What applies at a point of the tree, outer levels first.
#[derive(Clone, Default)]
pub(super) struct Scope<'p> {
    pub(super) defaults: Vec<&'p Http>,
    pub(super) headers: Vec<&'p [(Text, Text)]>,
    pub(super) timers: Vec<&'p Node>,
    pub(super) checks: Vec<&'p Node>,
}

impl<'p> Scope<'p> {
    /// This scope with the elements of one more level.
    pub(super) fn with(&self, level: &'p [Node]) -> Scope<'p> {
        let mut s = self.clone();
        for n in level {
            match &n.kind {
                Kind::HttpDefaults(d) => s.defaults.push(d),
                Kind::Headers(h) => s.headers.push(h),
                Kind::Timer(_) => s.timers.push(n),
                Kind::Extractor(_) | Kind::Assertion(_) => s.checks.push(n),
                _ => {}
            }
        }
        s
    }
}

/// What one thread group's steps need counted and collected.
#[derive(Default)]
pub(super) struct Group {
    pub(super) once_blocks: usize,
    pub(super) interleave_blocks: usize,
    /// Timer elements with a state (SyncTimer, ConstantThroughputTimer), by their place.
    pub(super) rendezvous: HashMap<usize, usize>,
    pub(super) pacers: HashMap<usize, usize>,
    /// Users of the group (a SyncTimer's group size 0 means all of them).
    pub(super) users: u32,
    pub(super) keepalive: bool,
}

impl Lower<'_, '_> {
    /// The scenario one thread group runs.
    pub(super) fn thread_group(
        &mut self,
        test_plan: &Node,
        node: &Node,
        tg: &ThreadGroup,
        users: u32,
    ) -> Option<ScenarioPlan> {
        let errors_before = self.b.diags.len();
        let plan_scope = Scope::default().with(&test_plan.children);
        let mut group = Group { users, keepalive: false, ..Group::default() };
        let steps = self.steps(&node.children, &plan_scope, &mut group);
        // Elements of the whole group: cookies, credentials and CSV files, wherever they are.
        let mut nodes: Vec<&Node> =
            test_plan.children.iter().filter(|n| !matches!(n.kind, Kind::ThreadGroup(_))).collect();
        walk(&node.children, &mut nodes);
        let mut store_cookies = false;
        let mut clear_each_iteration = !tg.same_user;
        let mut cookies = Vec::new();
        let mut auth = Vec::new();
        let mut data_sources = Vec::new();
        for n in nodes {
            match &n.kind {
                Kind::Cookies(c) => {
                    store_cookies = true;
                    clear_each_iteration |= c.clear_each_iteration;
                    for cookie in &c.cookies {
                        let value = self.start_value(&cookie.value);
                        let domain = self.start_value(&cookie.domain);
                        let path = self.start_value(&cookie.path);
                        cookies.push(Cookie {
                            name: cookie.name.clone(),
                            value,
                            domain: domain.trim_start_matches('.').to_ascii_lowercase(),
                            host_only: false,
                            path: if path.starts_with('/') { path } else { "/".into() },
                            secure: false,
                            expires: None,
                        });
                    }
                }
                Kind::Auth(entries) => {
                    for a in entries {
                        let url_prefix = self.start_value(&a.url);
                        let credentials =
                            format!("{}:{}", self.start_value(&a.username), self.start_value(&a.password));
                        let encoded = base64::engine::general_purpose::STANDARD.encode(credentials);
                        match HeaderValue::from_str(&format!("Basic {encoded}")) {
                            Ok(header) => auth.push(BasicAuth { url_prefix, header }),
                            Err(_) => self.error(n.meta.span, "these credentials do not fit in an HTTP header"),
                        }
                    }
                }
                Kind::CsvDataSet(csv) => {
                    if let Some(ds) = self.csv(n, csv) {
                        data_sources.push(Arc::new(ds));
                    }
                }
                _ => {}
            }
        }
        if self.b.diags.len() > errors_before {
            return None;
        }
        let name = self.start_value(&node.meta.name);
        Some(ScenarioPlan {
            name: format!("{} / {name}", self.scenario),
            steps,
            keepalive: group.keepalive,
            tls_verify: true,
            store_cookies,
            cookies,
            auth,
            variables: self.variables.iter().map(|(k, v)| (k.clone(), crate::plan::Template::literal(v))).collect(),
            data_sources,
            once_blocks: group.once_blocks,
            interleave_blocks: group.interleave_blocks,
            rendezvous: group.rendezvous.len(),
            pacers: group.pacers.len(),
            grpc_calls: 0,
            on_error: on_error(tg.on_error),
            clear_cookies_each_iteration: clear_each_iteration,
            first_thread_num: 1,
            functions: self.functions.clone(),
        })
    }

    /// The steps of one level.
    pub(super) fn steps(&mut self, nodes: &[Node], outer: &Scope<'_>, group: &mut Group) -> Vec<Step> {
        let scope = outer.with(nodes);
        let mut out = Vec::new();
        for n in nodes {
            match &n.kind {
                Kind::Http(http) => self.sampler(n, http, &scope, group, &mut out),
                Kind::TestAction(a) => {
                    let inner = scope.with(&n.children);
                    self.timers(&inner, group, &mut out);
                    let pause = self.start_int(&a.duration, "`ActionProcessor.duration`", &n.meta).unwrap_or(0);
                    let kind = match a.action {
                        JmxAction::Pause => ActionKind::Pause,
                        JmxAction::Stop => ActionKind::Stop,
                        JmxAction::StopNow => ActionKind::StopNow,
                        JmxAction::RestartNextLoop => ActionKind::Continue,
                        JmxAction::StartNextIteration => ActionKind::NextLoopPass,
                        JmxAction::BreakLoop => ActionKind::BreakLoop,
                    };
                    let pause = Duration::from_millis(pause.max(0).unsigned_abs());
                    out.push(Step::Action(Action { kind, all_users: a.all_threads, pause }));
                }
                Kind::Controller(c) => {
                    if let Some(step) = self.controller(n, c, &scope, group) {
                        out.push(step);
                    }
                }
                Kind::ThreadGroup(_) | Kind::TestPlan(_) => {
                    self.error(n.meta.span, format!("`{}` cannot be inside a thread group", n.meta.testclass));
                }
                // Applied through the scope, or collected for the whole group.
                Kind::Arguments(_)
                | Kind::HttpDefaults(_)
                | Kind::Headers(_)
                | Kind::Cookies(_)
                | Kind::CsvDataSet(_)
                | Kind::Auth(_)
                | Kind::Timer(_)
                | Kind::Extractor(_)
                | Kind::Assertion(_) => {}
            }
        }
        out
    }

    fn controller(&mut self, n: &Node, c: &Controller, scope: &Scope<'_>, group: &mut Group) -> Option<Step> {
        Some(match c {
            // Only `loops = -1` is infinite: a nested loop is saved with `continue_forever` true,
            // which means "run again when the parent comes back" (JMeter's LoopController).
            Controller::Loop { loops, .. } => {
                let count = self.start_int(loops, "`LoopController.loops`", &n.meta);
                let count = if count.is_some_and(|c| c < 0) { None } else { Some(count.unwrap_or(1).unsigned_abs()) };
                Step::Loop { count, steps: self.steps(&n.children, scope, group) }
            }
            Controller::OnceOnly => {
                let index = group.once_blocks;
                group.once_blocks += 1;
                Step::Once { index, steps: self.steps(&n.children, scope, group) }
            }
            Controller::Transaction { parent, include_timers } => {
                let name = self.start_value(&n.meta.name);
                let label = self.b.label(&name);
                Step::Transaction(Transaction {
                    label,
                    steps: self.steps(&n.children, scope, group),
                    parent_only: *parent,
                    include_timers: *include_timers,
                })
            }
            Controller::RandomOrder => Step::RandomOrder(self.children_as_units(n, scope, group)),
            Controller::Random { .. } => Step::Random(self.children_as_units(n, scope, group)),
            Controller::Interleave { across_threads, .. } => {
                let index = group.interleave_blocks;
                group.interleave_blocks += 1;
                let steps = self.children_as_units(n, scope, group);
                Step::Interleave { index, across_users: *across_threads, steps }
            }
            Controller::If { condition, use_expression, evaluate_all } => {
                let condition = self.condition(condition, *use_expression, n)?;
                Step::If { condition, each_step: *evaluate_all, steps: self.steps(&n.children, scope, group) }
            }
            Controller::While { condition } => {
                let trimmed = condition.value.trim();
                let condition = if trimmed.is_empty() {
                    WhileCondition::BodyOk
                } else if trimmed == "LAST" {
                    WhileCondition::LastOk
                } else {
                    WhileCondition::Until(self.condition(condition, true, n)?)
                };
                Step::While { condition, steps: self.steps(&n.children, scope, group) }
            }
            Controller::Generic => Step::Loop { count: Some(1), steps: self.steps(&n.children, scope, group) },
        })
    }

    /// The children of a controller that picks among them (random, interleave): each child
    /// sampler or controller is one unit, with the level's timers and checks applied.
    fn children_as_units(&mut self, n: &Node, outer: &Scope<'_>, group: &mut Group) -> Vec<Step> {
        let scope = outer.with(&n.children);
        let mut units = Vec::new();
        for child in &n.children {
            let mut steps = Vec::new();
            match &child.kind {
                Kind::Http(http) => self.sampler(child, http, &scope, group, &mut steps),
                Kind::Controller(_) | Kind::TestAction(_) => {
                    // One element: lowered as a level of its own, in this scope.
                    let lone = std::slice::from_ref(child);
                    steps = self.steps(lone, &scope, group);
                }
                _ => continue,
            }
            units.push(match steps.len() {
                1 => steps.remove(0),
                _ => Step::Loop { count: Some(1), steps },
            });
        }
        units
    }

    /// An If or While condition.
    fn condition(&mut self, text: &Text, use_expression: bool, n: &Node) -> Option<Condition> {
        let trimmed = text.value.trim();
        let function = ["${__jexl3(", "${__jexl2(", "${__groovy("].iter().any(|f| trimmed.starts_with(f));
        if use_expression && !function {
            // A variable expression: the text, filled in, reads `true` or `false`.
            return match crate::plan::jmx::template::parse(&text.value) {
                Ok(t) => {
                    let parsed = Text { template: t, ..text.clone() };
                    Some(Condition::Text(self.template(&parsed)))
                }
                Err(errors) => {
                    for e in errors {
                        let at = xml::value_span(&self.b.loaded.sources, text.span, &text.value, e.at);
                        self.error(at, format!("{}, in the condition of `{}`", e.message, n.meta.testclass));
                    }
                    None
                }
            };
        }
        let mut failed = Vec::new();
        let mut to_template = |s: &str, at: std::ops::Range<usize>| match crate::plan::jmx::template::parse(s) {
            Ok(t) => match self.fold_condition(&t) {
                Ok(t) => Ok(t),
                Err(message) => Err(ConditionError { at, message }),
            },
            Err(errors) => {
                failed.extend(errors);
                Err(ConditionError { at, message: "this string is not a valid JMeter template".into() })
            }
        };
        let parsed = condition::parse(&text.value, &mut to_template);
        for e in failed {
            self.error(text.span, format!("{}, in the condition of `{}`", e.message, n.meta.testclass));
        }
        match parsed {
            Ok(expr) => Some(Condition::Expr(Arc::new(expr))),
            Err(e) => {
                let at = xml::value_span(&self.b.loaded.sources, text.span, &text.value, e.at);
                self.error_help(
                    at,
                    format!("cannot evaluate the condition `{}` of `{}` \"{}\": {}", text.value.trim(), n.meta.testclass, n.meta.name.value, e.message),
                    "suite evaluates comparisons of variables and literals (`\"${status}\" == \"ok\"`, `${n} < 10`, `&&`, `||`, `!`), as `${__jexl3(…)}` or plain; rewrite the condition in that form",
                );
                None
            }
        }
    }

    fn fold_condition(&self, t: &crate::plan::jmx::template::Template) -> Result<crate::plan::Template, String> {
        self.fold(t).map_err(|e| e.message)
    }

    /// The timers in scope, as steps before a sampler.
    pub(super) fn timers(&mut self, scope: &Scope<'_>, group: &mut Group, out: &mut Vec<Step>) {
        for n in scope.timers.clone() {
            let Kind::Timer(t) = &n.kind else { continue };
            let ms = |lower: &mut Self, text: &Text, what: &str| {
                Duration::from_millis(lower.start_int(text, what, &n.meta).unwrap_or(0).max(0).unsigned_abs())
            };
            match t {
                Timer::Constant { delay } => {
                    let d = ms(self, delay, "`ConstantTimer.delay`");
                    out.push(Step::Think(ThinkTime::Constant(d)));
                }
                Timer::UniformRandom { delay, range } => {
                    let min = ms(self, delay, "`ConstantTimer.delay`");
                    let range = ms(self, range, "`RandomTimer.range`");
                    out.push(Step::Think(ThinkTime::Uniform { min, range }));
                }
                Timer::Gaussian { delay, deviation } => {
                    let mean = ms(self, delay, "`ConstantTimer.delay`");
                    let dev = ms(self, deviation, "`RandomTimer.range`");
                    out.push(Step::Think(ThinkTime::Gaussian { mean, dev }));
                }
                Timer::Sync { group_size, timeout_ms } => {
                    let size = self.start_int(group_size, "`groupSize`", &n.meta).unwrap_or(0);
                    let timeout = ms(self, timeout_ms, "`timeoutInMs`");
                    let next = group.rendezvous.len();
                    let index = *group.rendezvous.entry(n.meta.span.offset).or_insert(next);
                    let size = if size <= 0 { group.users } else { u32::try_from(size).unwrap_or(u32::MAX) };
                    out.push(Step::Rendezvous {
                        index,
                        group: size.max(1),
                        timeout: (!timeout.is_zero()).then_some(timeout),
                    });
                }
                Timer::ConstantThroughput { per_minute, calc_mode } => {
                    let value = self.start_value(per_minute);
                    let Ok(rate) = value.trim().parse::<f64>() else {
                        self.error(per_minute.span, format!("`throughput` of `ConstantThroughputTimer` must be a number of samples per minute, found `{value}`"));
                        continue;
                    };
                    if rate <= 0.0 || !rate.is_finite() {
                        continue;
                    }
                    let next = group.pacers.len();
                    let index = *group.pacers.entry(n.meta.span.offset).or_insert(next);
                    out.push(Step::Pace {
                        index,
                        interval: Duration::from_secs_f64(60.0 / rate),
                        shared: *calc_mode != 0,
                    });
                }
            }
        }
    }

    /// A `CSVDataSet`, read now.
    fn csv(&mut self, n: &Node, csv: &CsvDataSet) -> Option<DataSource> {
        let file = self.start_value(&csv.filename);
        if file.trim().is_empty() {
            self.error(n.meta.span, "this `CSVDataSet` names no file");
            return None;
        }
        let encoding = self.start_value(&csv.encoding);
        if !encoding.is_empty() && !matches!(encoding.to_ascii_lowercase().as_str(), "utf-8" | "utf8") {
            self.error(
                csv.encoding.span,
                format!("CSV encoding `{encoding}` is not supported; files are read as UTF-8"),
            );
        }
        let delimiter = self.start_value(&csv.delimiter);
        // Taurus fills an empty delimiter with `,`.
        let delimiter = if delimiter.is_empty() { Some(b',') } else { data::parse_delimiter(&delimiter) };
        let Some(delimiter) = delimiter else {
            self.error(csv.delimiter.span, "`delimiter` must be one character (or `\\t`)");
            return None;
        };
        let names_text = self.start_value(&csv.variable_names);
        let names = (!names_text.trim().is_empty())
            .then(|| names_text.split(',').map(|s| s.trim().to_string()).collect::<Vec<_>>());
        let bytes = self.b.read_file(&file, csv.filename.span, "CSV data set")?;
        let Ok(content) = String::from_utf8(bytes) else {
            self.error(csv.filename.span, format!("CSV data set `{file}` is not UTF-8 text"));
            return None;
        };
        let mut content = content.as_str();
        if csv.ignore_first_line && names.is_some() {
            content = content.split_once('\n').map_or("", |(_, rest)| rest);
        }
        match data::parse(content, &CsvOptions { delimiter: Some(delimiter), quoted: csv.quoted, names }) {
            Ok((names, rows)) => {
                Some(DataSource { name: file, names, rows, recycle: csv.recycle, random_order: false })
            }
            Err(e) => {
                self.error(csv.filename.span, format!("bad CSV in `{file}` line {}: {}", e.line, e.message));
                None
            }
        }
    }
}

/// Every node below `nodes`, depth first.
fn walk<'p>(nodes: &'p [Node], out: &mut Vec<&'p Node>) {
    for n in nodes {
        out.push(n);
        walk(&n.children, out);
    }
}
