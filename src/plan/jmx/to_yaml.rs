//! `suite jmx2yaml`: a JMeter plan written as the equivalent Taurus YAML (`execution` and
//! `scenarios`), for teams leaving JMX.
//!
//! Each enabled thread group becomes one execution and one scenario named after it (setUp and
//! tearDown groups too, with a comment: Taurus YAML has no such ordering). JMeter's scoping is
//! resolved: what applies to every sampler of a thread group (plan and group level) goes to the
//! scenario (`default-address`, `timeout`, `headers`, `think-time`, `variables`, `store-cookie`,
//! `cookies`, `authorization`, `data-sources`), what applies below goes to each request it
//! reaches. `${__P(…)}` takes the value given with `-J` or its default (one with neither is an
//! error naming it).
//!
//! What Taurus YAML cannot say as the plan does (random-order, random and interleave
//! controllers, sync and constant-throughput timers, per-request functions such as `__counter`,
//! …) is written as the closest thing, with a `# suite jmx2yaml: …` comment on the line above
//! and a warning per element: nothing is dropped silently.

mod checks;
mod requests;
mod steps;
mod text;
mod tree;

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use indexmap::IndexMap;

use super::describe::{plan_level, run_order};
use super::model::*;
use super::JmxPlan;
use crate::config::{Diagnostic, Sources, Span};
use text::{Note, Texts};
use tree::{Map, Seq, Value};

pub use text::From as PropertyFrom;

/// What the conversion needs besides the plan.
#[derive(Clone, Debug, Default)]
pub struct Options {
    /// JMeter properties (`-J name=value`), the values of `${__P(name)}`.
    pub properties: HashMap<String, String>,
    /// The plan's folder as seen from the YAML's folder, to which relative file paths (CSV
    /// files, uploads) are rebased; `None` when the YAML goes beside the plan.
    pub file_base: Option<PathBuf>,
}

/// The YAML and what could not be said exactly.
#[derive(Clone, Debug)]
pub struct Converted {
    /// The Taurus YAML document.
    pub yaml: String,
    /// One warning per element written approximately or left out, at the element.
    pub warnings: Vec<Diagnostic>,
}

/// The first words of every comment that marks an approximation.
pub const MARK: &str = "suite jmx2yaml:";

/// `plan` as Taurus YAML; every missing property (and function that cannot be computed) is an
/// error.
pub fn to_yaml(plan: &JmxPlan, sources: &Sources, options: &Options) -> Result<Converted, Vec<Diagnostic>> {
    let mut c = Converter {
        texts: Texts::new(sources, &options.properties),
        constants: IndexMap::new(),
        file_base: options.file_base.as_deref(),
        warnings: Vec::new(),
        warned: HashSet::new(),
    };
    let yaml = c.document(plan);
    if !c.texts.errors.is_empty() {
        return Err(c.texts.errors);
    }
    let mut warnings = c.warnings;
    warnings.sort_by_key(|w| w.span.map(|s| (s.source, s.offset)));
    Ok(Converted { yaml, warnings })
}

struct Converter<'a> {
    texts: Texts<'a>,
    /// The plan's variables whose values are plain text: JMeter has them before any thread
    /// starts, so numbers, labels and names that use them are filled in.
    constants: IndexMap<String, String>,
    file_base: Option<&'a Path>,
    warnings: Vec<Diagnostic>,
    /// (place, message) of the warnings given, so an element shared by several
    /// scenarios or requests is warned about once.
    warned: HashSet<(Span, String)>,
}

/// Comment lines for the YAML line below them.
type Comments = Vec<String>;

/// `Class "name"`, the way messages name an element.
fn who(node: &Node) -> String {
    format!("{} \"{}\"", node.meta.testclass, node.meta.name.value)
}

/// Steps (samplers, actions, controllers) are run in order; everything else shapes them.
fn is_step(node: &Node) -> bool {
    matches!(node.kind, Kind::Http(_) | Kind::TestAction(_) | Kind::Controller(_))
}

/// What the scenario of one thread group sees: its name, the thread group, the elements that
/// apply to all its samplers, and the values written at scenario level (a request repeats a
/// value only where it differs).
struct Scenario<'a> {
    name: String,
    group: &'a Node,
    /// Plan-level then group-level elements that are not steps.
    level: Vec<&'a Node>,
    /// `(protocol, domain, port)` of `default-address`.
    origin: Option<(String, String, String)>,
    /// `timeout` / `connect-timeout` texts.
    timeouts: (Option<String>, Option<String>),
    think_time: Option<String>,
    /// The variables something in the plan sets (its variables, CSV columns, extractors), and
    /// the extractor names whose `<name>_…` family is set too; `None` when a CSV file names its
    /// columns in its first line, which is not read here.
    defined: Option<(HashSet<String>, Vec<String>)>,
}

impl<'a> Scenario<'a> {
    /// The plan-level elements and every element of the thread group, each once.
    fn everywhere(&self) -> Vec<&'a Node> {
        let below = descendants(&self.group.children);
        let plan_level = self.level.iter().copied().filter(|n| !below.iter().any(|b| std::ptr::eq(*b, *n)));
        plan_level.chain(below.iter().copied()).collect()
    }
}

impl<'a> Converter<'a> {
    /// Notes `message` as a comment line and warns once at `span`.
    fn note(&mut self, comments: &mut Comments, span: Span, message: String) {
        comments.push(format!("{MARK} {message}"));
        self.warn(span, message);
    }

    fn warn(&mut self, span: Span, message: String) {
        if self.warned.insert((span, message.clone())) {
            self.warnings.push(Diagnostic::warning(span, message));
        }
    }

    /// The notes a rendered text gave, as comments and warnings.
    fn absorb(&mut self, notes: Vec<Note>, comments: &mut Comments) {
        for (span, message) in notes {
            if !comments.iter().any(|c| c.ends_with(&message)) {
                self.note(comments, span, message);
            }
        }
    }

    /// A plan string as YAML text; its notes go to `comments`.
    fn text(&mut self, t: &Text, comments: &mut Comments) -> String {
        let mut notes = Vec::new();
        let s = self.texts.render(t, &mut notes);
        self.absorb(notes, comments);
        s
    }

    /// A number of seconds or milliseconds written in the plan; empty is `None`, and text that is
    /// not a number is noted.
    fn number(&mut self, t: &Text, what: &str, node: &Node, comments: &mut Comments) -> Option<f64> {
        let s = self.resolved(t, comments);
        let s = s.trim();
        if s.is_empty() {
            return None;
        }
        match s.parse::<f64>() {
            Ok(n) if n.is_finite() => Some(n),
            _ => {
                self.note(
                    comments,
                    t.span,
                    format!("{what} `{s}` of {} is not a number before the run; left out", who(node)),
                );
                None
            }
        }
    }

    /// A plan string with the plan's constant variables filled in (for values that must be known
    /// before the run: numbers, labels, names).
    fn resolved(&mut self, t: &Text, comments: &mut Comments) -> String {
        let mut s = self.text(t, comments);
        if s.contains("${") {
            for (k, v) in &self.constants {
                s = s.replace(&format!("${{{k}}}"), v);
            }
        }
        s
    }

    /// A relative file path of the plan, as seen from the YAML's folder.
    fn file(&self, path: &str) -> String {
        match self.file_base {
            Some(base) if !path.is_empty() && !path.contains("${") && !Path::new(path).is_absolute() => {
                base.join(path).display().to_string()
            }
            _ => path.to_string(),
        }
    }

    fn document(&mut self, plan: &'a JmxPlan) -> String {
        let shared = plan_level(plan);
        let groups = run_order(plan);
        let serialize =
            matches!(plan.test_plan().map(|n| &n.kind), Some(Kind::TestPlan(tp)) if tp.serialize_threadgroups);
        let kinds =
            |k: GroupKind| groups.iter().filter(|g| matches!(&g.kind, Kind::ThreadGroup(t) if t.kind == k)).count();
        let (setups, normals, teardowns) =
            (kinds(GroupKind::Setup), kinds(GroupKind::Normal), kinds(GroupKind::TearDown));
        // One after another is exact when JMeter serializes the groups, or when the only main
        // group sits between the setUp and tearDown ones.
        let sequential = groups.len() > 1 && (serialize || (normals <= 1 && setups + teardowns > 0));

        let (variables, variable_notes) = self.variables(plan);
        self.constants =
            variables.iter().filter(|(_, v)| !v.contains("${")).map(|(k, v)| (k.clone(), v.clone())).collect();
        let mut header = vec![
            format!("Taurus YAML written by `suite jmx2yaml` from {}.", plan.path.display()),
            format!("Comments starting with `{MARK}` mark what Taurus YAML cannot say as the plan does."),
        ];
        for node in &shared {
            if is_step(node) {
                self.note(
                    &mut header,
                    node.meta.span,
                    format!("{} is outside any thread group: JMeter does not run it; left out", who(node)),
                );
            }
        }

        let mut executions = Seq::default();
        let mut scenarios = Map::default();
        let mut names = HashSet::new();
        for group in groups {
            let Kind::ThreadGroup(g) = &group.kind else { continue };
            let mut comments = Comments::new();
            let name = self.scenario_name(group, &mut names);
            let level: Vec<&Node> =
                shared.iter().copied().chain(group.children.iter()).filter(|n| !is_step(n)).collect();
            let mut sc =
                Scenario { name, group, level, origin: None, timeouts: (None, None), think_time: None, defined: None };
            let Some(scenario) = self.scenario(&mut sc, &variables, &variable_notes) else {
                let message = format!("{} sends no request; left out", who(group));
                self.note(&mut comments, group.meta.span, message);
                executions.comment(comments);
                continue;
            };
            let (exec_comments, exec) = self.execution(g, &sc, sequential);
            comments.extend(exec_comments);
            executions.push_noted(comments, exec);
            scenarios.put(&sc.name, scenario);
        }

        if !executions.has_values() {
            header.push(format!(
                "{MARK} the plan sends no request, so there is no execution (`suite validate` says so)."
            ));
        }
        let used: Vec<String> = self
            .texts
            .used
            .iter()
            .map(|(k, (v, from))| {
                let from = if *from == PropertyFrom::Given { "-J" } else { "default" };
                format!("{k}={v} ({from})")
            })
            .collect();
        if !used.is_empty() {
            header.push(format!("JMeter properties used: {}.", used.join(", ")));
        }
        let mut root = Map::default();
        root.put("execution", executions);
        root.put("scenarios", scenarios);
        if sequential {
            let why = if serialize {
                "the plan runs its thread groups one after another"
            } else {
                "JMeter runs setUp groups first and tearDown groups last"
            };
            let mut local = Map::default();
            local.put("sequential", true);
            let mut modules = Map::default();
            modules.put_noted(
                vec![format!("Executions run one after another, in the order above: {why}.")],
                "local",
                local,
            );
            root.put("modules", modules);
        }
        tree::print(&header, &root)
    }

    /// Every user-defined variable of the plan (JMeter reads them all at the start, wherever they
    /// are), later ones winning.
    fn variables(&mut self, plan: &'a JmxPlan) -> (IndexMap<String, String>, Comments) {
        let mut comments = Comments::new();
        let mut vars = IndexMap::new();
        let mut lists: Vec<&[Argument]> = Vec::new();
        for node in plan.walk() {
            match &node.kind {
                Kind::TestPlan(tp) => lists.push(&tp.variables),
                Kind::Arguments(args) => lists.push(args),
                _ => {}
            }
        }
        for arg in lists.into_iter().flatten() {
            let name = self.text(&arg.name, &mut comments);
            if name.is_empty() {
                continue;
            }
            let value = self.text(&arg.value, &mut comments);
            vars.shift_remove(&name);
            vars.insert(name, value);
        }
        (vars, comments)
    }

    /// The thread group's name with properties and plan variables filled in (a scenario name
    /// cannot hold `${…}`: Taurus would read it as an environment variable), made unique.
    fn scenario_name(&mut self, group: &Node, taken: &mut HashSet<String>) -> String {
        let name = self.resolved(&group.meta.name, &mut Comments::new());
        let name = name.replace("${", "").replace('}', "").trim().to_string();
        let base = if name.is_empty() { "thread group".to_string() } else { name };
        let mut name = base.clone();
        let mut n = 2;
        while !taken.insert(name.clone()) {
            name = format!("{base} ({n})");
            n += 1;
        }
        name
    }

    /// One execution: the thread group's load.
    fn execution(&mut self, g: &ThreadGroup, sc: &Scenario<'a>, sequential: bool) -> (Comments, Map) {
        let node = sc.group;
        let mut comments = Comments::new();
        let mut exec = Map::default();
        match g.kind {
            GroupKind::Normal => {}
            GroupKind::Setup | GroupKind::TearDown => {
                let (kind, when) = if g.kind == GroupKind::Setup { ("setUp", "before") } else { ("tearDown", "after") };
                let message = if sequential {
                    format!(
                        "{} is a {kind} thread group: Taurus YAML has no setUp/tearDown ordering, only executions; here `modules.local.sequential` runs them in the plan's order",
                        who(node)
                    )
                } else {
                    format!(
                        "{} is a {kind} thread group: Taurus YAML has no setUp/tearDown ordering, so this execution starts with the others; suite runs it {when} them only from the .jmx",
                        who(node)
                    )
                };
                self.note(&mut comments, node.meta.span, message);
            }
        }
        let threads = self.resolved(&g.num_threads, &mut comments);
        let users = match threads.trim().parse::<i64>() {
            Ok(n) => Some(n),
            Err(_) => {
                let message =
                    format!("the number of threads `{threads}` of {} is not a number before the run", who(node));
                self.note(&mut comments, g.num_threads.span, message);
                exec.put("concurrency", threads.trim());
                None
            }
        };
        if let Some(n) = users {
            exec.put("concurrency", n);
        }
        let ramp = self.number(&g.ramp_time, "the ramp-up", node, &mut comments).unwrap_or(0.0);
        if ramp > 0.0 {
            exec.put("ramp-up", secs_text(ramp));
        }
        let loops = self.resolved(&g.loops, &mut comments);
        let forever = g.continue_forever || loops.trim() == "-1";
        let duration = if g.scheduler {
            self.number(&g.duration, "the duration", node, &mut comments).filter(|d| *d > 0.0)
        } else {
            None
        };
        if let Some(d) = duration {
            if d < ramp {
                let message =
                    format!("{} stops after {d}s, before its {ramp}s ramp-up ends; Taurus ramps up fully", who(node));
                self.note(&mut comments, g.duration.span, message);
            }
            exec.put("hold-for", secs_text((d - ramp).max(0.0)));
        }
        if !forever {
            match loops.trim().parse::<i64>() {
                Ok(n) if n > 0 => exec.put("iterations", n),
                _ => {
                    let message =
                        format!("the loop count `{loops}` of {} is not a positive number; left out", who(node));
                    self.note(&mut comments, g.loops.span, message);
                }
            }
        } else if duration.is_none() {
            let message = format!(
                "{} loops until the test is stopped; Taurus YAML without `hold-for` or `iterations` runs one iteration: add `hold-for`",
                who(node)
            );
            self.note(&mut comments, g.loops.span, message);
        }
        if let Some(rate) = self.throughput(sc, users, &mut comments) {
            exec.put("throughput", rate);
        }
        if g.scheduler {
            if let Some(delay) = self.number(&g.delay, "the start-up delay", node, &mut comments).filter(|d| *d > 0.0) {
                exec.put("delay", secs_text(delay));
            }
        }
        let on_error = match g.on_error {
            OnError::Continue => None,
            OnError::StartNextLoop => Some("starts the next loop"),
            OnError::StopThread => Some("stops the thread"),
            OnError::StopTest => Some("stops the test"),
            OnError::StopTestNow => Some("stops the test at once"),
        };
        if let Some(what) = on_error {
            let message = format!(
                "when a sample fails, {} {what}; Taurus YAML has no such setting: failures do not change the flow",
                who(node)
            );
            self.note(&mut comments, node.meta.span, message);
        }
        if !g.same_user {
            let message = format!(
                "{} starts each iteration as a new user (cookies cleared); Taurus keeps the user across iterations",
                who(node)
            );
            self.note(&mut comments, node.meta.span, message);
        }
        exec.put("scenario", sc.name.as_str());
        (comments, exec)
    }

    /// `throughput` from the first constant throughput timer that applies to the group.
    fn throughput(&mut self, sc: &Scenario<'a>, users: Option<i64>, comments: &mut Comments) -> Option<Value> {
        let mut timers = Vec::new();
        for node in sc.everywhere() {
            if let Kind::Timer(Timer::ConstantThroughput { per_minute, calc_mode }) = &node.kind {
                timers.push((node, per_minute, *calc_mode));
            }
        }
        let (&(node, per_minute, calc_mode), rest) = timers.split_first()?;
        let per_minute = self.number(per_minute, "the throughput", node, comments)?;
        let per_second = per_minute / 60.0;
        let (rate, how) = match calc_mode {
            0 => match users {
                Some(n) => (per_second * n as f64, "its rate per thread times the threads"),
                None => (per_second, "its rate per thread (the thread count is not known)"),
            },
            2 | 4 => (per_second, "its rate for the thread group"),
            _ => (per_second, "its rate for all active threads of the test, here for this execution alone"),
        };
        let mut message =
            format!("{} paces samplers; written as the execution's `throughput` cap from {how}", who(node));
        if !rest.is_empty() {
            message.push_str(&format!(" ({} more left out)", rest.len()));
        }
        self.note(comments, node.meta.span, message);
        let rounded = (rate * 1000.0).round() / 1000.0;
        Some(if rounded.fract() == 0.0 { Value::Int(rounded as i64) } else { Value::Float(rounded) })
    }

    /// The scenario of a thread group; `None` when it sends nothing.
    fn scenario(
        &mut self,
        sc: &mut Scenario<'a>,
        variables: &IndexMap<String, String>,
        variable_notes: &Comments,
    ) -> Option<Map> {
        let mut out = Map::default();
        let level = sc.level.clone();
        let everywhere = sc.everywhere();
        sc.defined = defined_variables(variables, &everywhere);

        // Defaults, headers and timers of the scenario's level; requests repeat only what differs.
        let defaults: Vec<&Http> = level
            .iter()
            .filter_map(|n| match &n.kind {
                Kind::HttpDefaults(h) => Some(&**h),
                _ => None,
            })
            .collect();
        let mut comments = Comments::new();
        let origin = self.origin(&no_fields(), &defaults, &mut comments);
        if let Some((protocol, domain, port)) = &origin {
            let port = if port.is_empty() { String::new() } else { format!(":{port}") };
            out.put_noted(std::mem::take(&mut comments), "default-address", format!("{protocol}://{domain}{port}"));
        }
        sc.origin = origin;
        sc.timeouts = self.timeouts(&no_fields(), &defaults, &mut comments);
        put_timeouts(&mut out, std::mem::take(&mut comments), &sc.timeouts);

        let headers = self.headers(&level, &mut comments);
        if !headers.is_empty() {
            out.put_noted(std::mem::take(&mut comments), "headers", headers);
        }
        let timers: Vec<&Node> = level.iter().copied().filter(|n| matches!(n.kind, Kind::Timer(_))).collect();
        sc.think_time = self.think_time(&timers, &mut comments);
        if let Some(t) = &sc.think_time {
            out.put_noted(std::mem::take(&mut comments), "think-time", t.as_str());
        }

        // The requests, with the variables functions set while rendering them.
        let mut requests = Seq::default();
        self.steps(&sc.group.children, &steps::Scope::new(&level), sc, &mut requests);
        if !requests.has_values() {
            return None;
        }
        let mut vars = Map::default();
        for (k, v) in variables.iter().chain(self.texts.stored.iter()) {
            vars.put(k, v.as_str());
        }
        self.texts.stored.clear();
        let mut settings = Map::default();
        if !vars.is_empty() {
            settings.put_noted(variable_notes.clone(), "variables", vars);
        }
        settings.0.append(&mut out.0);
        self.scenario_wide(sc, &everywhere, &mut settings);
        for entry in &mut settings.0 {
            self.check_variables(sc.group, &entry.value, sc, &mut entry.comments);
        }
        settings.put("requests", requests);
        Some(settings)
    }

    /// Notes every `${name}` in `value` that nothing in the plan sets: JMeter sends it as
    /// written, suite's YAML rejects it.
    fn check_variables(&mut self, node: &Node, value: &Value, sc: &Scenario<'a>, comments: &mut Comments) {
        let Some((defined, families)) = &sc.defined else { return };
        let mut names = Vec::new();
        placeholders(value, &mut names);
        for name in names {
            let set = defined.contains(&name)
                || self.texts.stored.contains_key(&name)
                || families.iter().any(|f| name.strip_prefix(f.as_str()).is_some_and(|r| r.starts_with('_')))
                || name.starts_with("JMeterThread.");
            if !set {
                let message = format!(
                    "`${{{name}}}` in {} is set by nothing in the plan (variables, CSV columns, extractors): JMeter sends it as written; `suite validate` rejects it",
                    who(node)
                );
                self.note(comments, node.meta.span, message);
            }
        }
    }

    /// Cookies, authorization and data sets: Taurus has them per scenario, JMeter anywhere.
    fn scenario_wide(&mut self, sc: &Scenario<'a>, everywhere: &[&'a Node], out: &mut Map) {
        let inside = |n: &Node| !sc.level.iter().any(|l| std::ptr::eq(*l, n));
        let placed = |c: &mut Self, comments: &mut Comments, n: &Node, key: &str| {
            if inside(n) {
                let message =
                    format!("{} sits inside a controller; Taurus `{key}` apply to the whole scenario", who(n));
                c.note(comments, n.meta.span, message);
            }
        };

        let mut comments = Comments::new();
        let managers: Vec<(&Node, &Cookies)> = everywhere
            .iter()
            .filter_map(|n| match &n.kind {
                Kind::Cookies(c) => Some((*n, c)),
                _ => None,
            })
            .collect();
        if managers.is_empty() {
            comments.push("The plan has no cookie manager: JMeter sends back no cookies.".to_string());
            out.put_noted(comments, "store-cookie", false);
        } else {
            let mut list = Seq::default();
            for (node, manager) in managers {
                placed(self, &mut comments, node, "cookies");
                if manager.clear_each_iteration {
                    let message =
                        format!("{} clears cookies each iteration; Taurus keeps them for the whole test", who(node));
                    self.note(&mut comments, node.meta.span, message);
                }
                for cookie in &manager.cookies {
                    let mut c = Map::default();
                    c.put("name", cookie.name.as_str());
                    c.put("value", self.text(&cookie.value, &mut comments));
                    c.put("domain", self.text(&cookie.domain, &mut comments));
                    let path = self.text(&cookie.path, &mut comments);
                    if !path.is_empty() {
                        c.put("path", path);
                    }
                    list.push_noted(Vec::new(), c);
                }
            }
            out.put_noted(comments, "store-cookie", true);
            if !list.0.is_empty() {
                out.put("cookies", list);
            }
        }

        let mut comments = Comments::new();
        let mut list = Seq::default();
        for node in everywhere {
            let Kind::Auth(entries) = &node.kind else { continue };
            placed(self, &mut comments, node, "authorization");
            for a in entries {
                let mut m = Map::default();
                m.put("url", self.text(&a.url, &mut comments));
                m.put("name", self.text(&a.username, &mut comments));
                m.put("password", self.text(&a.password, &mut comments));
                list.push_noted(Vec::new(), m);
            }
        }
        if !list.0.is_empty() {
            out.put_noted(comments, "authorization", list);
        }

        let mut comments = Comments::new();
        let mut list = Seq::default();
        for node in everywhere {
            let Kind::CsvDataSet(csv) = &node.kind else { continue };
            placed(self, &mut comments, node, "data-sources");
            let source = self.data_source(node, csv, &mut comments);
            list.push_noted(Vec::new(), source);
        }
        if !list.0.is_empty() {
            out.put_noted(comments, "data-sources", list);
        }
    }

    fn data_source(&mut self, node: &Node, csv: &CsvDataSet, comments: &mut Comments) -> Map {
        let mut m = Map::default();
        let path = self.text(&csv.filename, comments);
        m.put("path", self.file(&path));
        let delimiter = self.text(&csv.delimiter, comments);
        match delimiter.as_str() {
            "" | "," => {}
            "\\t" | "\t" => m.put("delimiter", "tab"),
            d => m.put("delimiter", d),
        }
        if csv.quoted {
            m.put("quoted", true);
        }
        if !csv.recycle {
            m.put("loop", false);
            if !csv.stop_thread {
                let message = format!(
                    "at the end of the file {} gives `<EOF>` and goes on; Taurus `loop: false` stops the user",
                    who(node)
                );
                self.note(comments, node.meta.span, message);
            }
        }
        let names = self.text(&csv.variable_names, comments);
        if !names.trim().is_empty() {
            m.put("variable-names", names.trim());
            if csv.ignore_first_line {
                let message = format!(
                    "{} skips the file's first line; Taurus reads it as data when `variable-names` is given",
                    who(node)
                );
                self.note(comments, node.meta.span, message);
            }
        }
        let encoding = self.text(&csv.encoding, comments);
        if !encoding.is_empty() && !encoding.eq_ignore_ascii_case("utf-8") && !encoding.eq_ignore_ascii_case("utf8") {
            m.put("encoding", encoding.as_str());
            let message = format!("{} is read as {encoding}; suite reads data files as UTF-8 only", who(node));
            self.note(comments, csv.encoding.span, message);
        }
        match csv.share_mode.value.as_str() {
            "" | "shareMode.all" => {}
            mode => {
                let message = format!(
                    "{} is shared by `{mode}`; Taurus shares a data source's rows between all users of the execution",
                    who(node)
                );
                self.note(comments, csv.share_mode.span, message);
            }
        }
        m
    }

    /// The headers of header managers among `nodes`, later ones winning (names without case).
    fn headers(&mut self, nodes: &[&Node], comments: &mut Comments) -> Map {
        let mut headers: IndexMap<String, String> = IndexMap::new();
        for node in nodes {
            let Kind::Headers(list) = &node.kind else { continue };
            let mut seen = HashSet::new();
            for (name, value) in list {
                let name = self.text(name, comments);
                let value = self.text(value, comments);
                if !seen.insert(name.to_ascii_lowercase()) {
                    let message = format!(
                        "{} sends header `{name}` twice; Taurus headers are a mapping: the last value is kept",
                        who(node)
                    );
                    self.note(comments, node.meta.span, message);
                }
                headers.retain(|k, _| !k.eq_ignore_ascii_case(&name));
                headers.insert(name, value);
            }
        }
        let mut m = Map::default();
        for (k, v) in headers {
            m.put(&k, v);
        }
        m
    }

    /// `(protocol, domain, port)` of a sampler's fields over the defaults (innermost last);
    /// `None` without a domain.
    fn origin(&mut self, own: &Http, defaults: &[&Http], comments: &mut Comments) -> Option<(String, String, String)> {
        let domain = self.field(own, defaults, |h| &h.domain, comments);
        if domain.is_empty() {
            return None;
        }
        let port = self.field(own, defaults, |h| &h.port, comments);
        let mut protocol = self.field(own, defaults, |h| &h.protocol, comments).to_ascii_lowercase();
        if protocol.is_empty() {
            // JMeter's default, which also guesses HTTPS from its port.
            protocol = if port == "443" { "https" } else { "http" }.to_string();
        }
        Some((protocol, domain, port))
    }

    /// A field of a sampler, or of the innermost defaults that set it.
    fn field(&mut self, own: &Http, defaults: &[&Http], get: fn(&Http) -> &Text, comments: &mut Comments) -> String {
        let t = std::iter::once(own).chain(defaults.iter().rev().copied()).map(get).find(|t| !t.is_empty());
        match t {
            Some(t) => self.text(t, comments).trim().to_string(),
            None => String::new(),
        }
    }

    /// `timeout` (the response timeout) and `connect-timeout` (suite's, when it differs).
    fn timeouts(
        &mut self,
        own: &Http,
        defaults: &[&Http],
        comments: &mut Comments,
    ) -> (Option<String>, Option<String>) {
        let mut ms = |c: &mut Self, get: fn(&Http) -> &Text| {
            let text = c.field(own, defaults, get, comments);
            match text.parse::<f64>() {
                Ok(n) if n > 0.0 => Some(ms_text(n)),
                Ok(_) => None,
                Err(_) if text.is_empty() => None,
                Err(_) => {
                    comments.push(format!("{MARK} timeout `{text}` is not a number before the run; left out"));
                    None
                }
            }
        };
        let response = ms(self, |h| &h.response_timeout);
        let connect = ms(self, |h| &h.connect_timeout);
        let connect = connect.filter(|c| response.as_ref() != Some(c));
        (response, connect)
    }
}

fn put_timeouts(out: &mut Map, comments: Comments, (response, connect): &(Option<String>, Option<String>)) {
    let mut comments = Some(comments);
    if let Some(r) = response {
        out.put_noted(comments.take().unwrap_or_default(), "timeout", r.as_str());
    }
    if let Some(c) = connect {
        let mut lines = comments.take().unwrap_or_default();
        lines.push("`connect-timeout` is suite's key; Taurus has one `timeout` for connecting and reading.".into());
        out.put_noted(lines, "connect-timeout", c.as_str());
    }
}

/// See [`Scenario::defined`].
fn defined_variables(
    variables: &IndexMap<String, String>,
    everywhere: &[&Node],
) -> Option<(HashSet<String>, Vec<String>)> {
    let mut defined: HashSet<String> = variables.keys().cloned().collect();
    let mut families = Vec::new();
    let split = |t: &Text, sep: char| {
        t.value.split(sep).map(|n| n.trim().to_string()).filter(|n| !n.is_empty()).collect::<Vec<_>>()
    };
    for node in everywhere {
        match &node.kind {
            Kind::CsvDataSet(csv) if csv.variable_names.value.trim().is_empty() => return None,
            Kind::CsvDataSet(csv) => defined.extend(split(&csv.variable_names, ',')),
            Kind::Extractor(Extractor::Regex { variable, .. } | Extractor::Boundary { variable, .. }) => {
                defined.insert(variable.value.trim().to_string());
                families.push(variable.value.trim().to_string());
            }
            Kind::Extractor(Extractor::Json { variables, .. }) => {
                for name in split(variables, ';') {
                    defined.insert(name.clone());
                    families.push(name);
                }
            }
            _ => {}
        }
    }
    Some((defined, families))
}

/// The `${name}` variables of every string in `value`, each once, in order.
fn placeholders(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Str(s) => {
            let Ok(t) = super::template::parse(s) else { return };
            for segment in t.segments {
                if let super::template::Segment::Var { name, .. } = segment {
                    if !out.contains(&name) {
                        out.push(name);
                    }
                }
            }
        }
        Value::Map(m) => m.0.iter().for_each(|e| placeholders(&e.value, out)),
        Value::Seq(items) => items.0.iter().filter_map(|i| i.value.as_ref()).for_each(|v| placeholders(v, out)),
        Value::Int(_) | Value::Float(_) | Value::Bool(_) => {}
    }
}

/// Every node below `nodes`, depth first.
fn descendants(nodes: &[Node]) -> Vec<&Node> {
    let mut out = Vec::new();
    for n in nodes {
        out.push(n);
        out.extend(descendants(&n.children));
    }
    out
}

/// Seconds as a Taurus time: `5s`, `1.5s`.
fn secs_text(secs: f64) -> String {
    format!("{}s", trim_number(secs))
}

/// Milliseconds as a Taurus time: whole seconds as `2s`, else `1050ms`, `0.5ms`.
fn ms_text(ms: f64) -> String {
    if ms == 0.0 {
        "0s".to_string()
    } else if ms % 1000.0 == 0.0 {
        format!("{}s", trim_number(ms / 1000.0))
    } else {
        format!("{}ms", trim_number(ms))
    }
}

fn trim_number(n: f64) -> String {
    let s = format!("{:.3}", n);
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// A sampler with no field set, for the scenario level.
fn no_fields() -> Http {
    let t = || Text { value: String::new(), span: Span::default(), template: Default::default() };
    Http {
        domain: t(),
        port: t(),
        protocol: t(),
        path: t(),
        method: t(),
        content_encoding: t(),
        connect_timeout: t(),
        response_timeout: t(),
        follow_redirects: false,
        auto_redirects: false,
        keep_alive: false,
        multipart: false,
        body_raw: false,
        arguments: Vec::new(),
        files: Vec::new(),
        embedded_resources: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::jmx;

    /// A plan of `plan_level` elements and `groups` (XML with their hash trees).
    fn xml(plan_level: &str, groups: &str) -> String {
        format!(
            r#"<?xml version="1.0" encoding="UTF-8"?>
<jmeterTestPlan version="1.2" jmeter="5.6">
  <hashTree>
    <TestPlan testclass="TestPlan" testname="t"/>
    <hashTree>
{plan_level}
{groups}
    </hashTree>
  </hashTree>
</jmeterTestPlan>
"#
        )
    }

    fn group(name: &str, props: &str, body: &str) -> String {
        let threads = match props.contains("num_threads") {
            true => "",
            false => r#"<stringProp name="ThreadGroup.num_threads">1</stringProp>"#,
        };
        format!(
            r#"<ThreadGroup testclass="ThreadGroup" testname="{name}">
  <elementProp name="ThreadGroup.main_controller" elementType="LoopController">
    <stringProp name="LoopController.loops">1</stringProp>
  </elementProp>
  {threads}
  {props}
</ThreadGroup>
<hashTree>
{body}
</hashTree>"#
        )
    }

    fn sampler(name: &str, path: &str, props: &str, children: &str) -> String {
        format!(
            r#"<HTTPSamplerProxy testclass="HTTPSamplerProxy" testname="{name}">
  <stringProp name="HTTPSampler.path">{path}</stringProp>
  <boolProp name="HTTPSampler.follow_redirects">true</boolProp>
  <boolProp name="HTTPSampler.use_keepalive">true</boolProp>
  {props}
</HTTPSamplerProxy>
<hashTree>{children}</hashTree>"#
        )
    }

    const DEFAULTS: &str = r#"<ConfigTestElement guiclass="HttpDefaultsGui" testclass="ConfigTestElement" testname="server">
  <stringProp name="HTTPSampler.domain">${__P(host,localhost)}</stringProp>
  <stringProp name="HTTPSampler.port">8080</stringProp>
</ConfigTestElement>
<hashTree/>"#;

    fn convert(text: &str, props: &[(&str, &str)]) -> (Sources, Result<Converted, Vec<Diagnostic>>) {
        let mut sources = Sources::new();
        let id = sources.add_pseudo("t.jmx", text.to_string());
        let plan = jmx::read_source(&sources, id, Path::new("t.jmx"))
            .unwrap_or_else(|e| panic!("{}", e.iter().map(|d| d.render(&sources)).collect::<String>()));
        let properties = props.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let out = to_yaml(&plan, &sources, &Options { properties, file_base: None });
        (sources, out)
    }

    fn yaml(text: &str, props: &[(&str, &str)]) -> Converted {
        let (sources, out) = convert(text, props);
        let out = out.unwrap_or_else(|e| panic!("{}", e.iter().map(|d| d.render(&sources)).collect::<String>()));
        // Valid YAML, and read back as written by the config loader too.
        let _: serde_yaml::Value = serde_yaml::from_str(&out.yaml).unwrap_or_else(|e| panic!("{e}\n{}", out.yaml));
        let mut s = Sources::new();
        let id = s.add_pseudo("out.yaml", out.yaml.clone());
        crate::config::yaml::parse_config(&s, id).unwrap_or_else(|e| panic!("{}\n{}", e.render(&s), out.yaml));
        out
    }

    /// The lines of `text` from the one starting with `from` (trimmed) up to the next line
    /// indented as much or less.
    fn section<'t>(text: &'t str, from: &str) -> Vec<&'t str> {
        let indent = |l: &str| l.len() - l.trim_start().len();
        let mut lines = text.lines().skip_while(|l| !l.trim_start().starts_with(from));
        let Some(first) = lines.next() else { panic!("no `{from}` in\n{text}") };
        std::iter::once(first).chain(lines.take_while(|l| indent(l) > indent(first))).collect()
    }

    #[test]
    fn a_thread_group_becomes_an_execution_and_a_scenario_with_its_requests() {
        let headers = r#"<HeaderManager testclass="HeaderManager" testname="h">
  <collectionProp name="HeaderManager.headers">
    <elementProp name="" elementType="Header"><stringProp name="Header.name">Accept</stringProp><stringProp name="Header.value">text/plain</stringProp></elementProp>
  </collectionProp>
</HeaderManager><hashTree/>"#;
        let args = r#"<elementProp name="HTTPsampler.Arguments" elementType="Arguments"><collectionProp name="Arguments.arguments">
  <elementProp name="q" elementType="HTTPArgument"><boolProp name="HTTPArgument.always_encode">true</boolProp><stringProp name="Argument.name">q</stringProp><stringProp name="Argument.value">a b</stringProp></elementProp>
  <elementProp name="n" elementType="HTTPArgument"><stringProp name="Argument.name">n</stringProp><stringProp name="Argument.value">${__P(n,1)}</stringProp></elementProp>
</collectionProp></elementProp>"#;
        let body = format!(
            "{}\n{}",
            sampler("search", "/find", args, ""),
            sampler("send", "/form", &format!("{args}<stringProp name=\"HTTPSampler.method\">post</stringProp>"), "")
        );
        let props = r#"<stringProp name="ThreadGroup.num_threads">${__P(users,3)}</stringProp>
<stringProp name="ThreadGroup.ramp_time">10</stringProp>"#;
        let text = xml(&format!("{DEFAULTS}\n{headers}"), &group("readers", props, &body));
        let out = yaml(&text, &[("users", "7"), ("host", "example.test")]);
        assert!(out.warnings.is_empty(), "{:?}", out.warnings);
        let expected = "\
execution:
- concurrency: 7
  ramp-up: 10s
  iterations: 1
  scenario: readers
scenarios:
  readers:
    default-address: http://example.test:8080
    headers:
      Accept: text/plain
    # The plan has no cookie manager: JMeter sends back no cookies.
    store-cookie: false
    requests:
    - label: search
      url: /find?q=a+b&n=1
      method: GET
    - label: send
      url: /form
      method: POST
      body:
        q: a b
        n: '1'
";
        let body = out.yaml.split_once("execution:\n").map(|(_, b)| format!("execution:\n{b}")).unwrap();
        assert_eq!(body, expected);
        assert!(
            out.yaml.contains("# JMeter properties used: host=example.test (-J), n=1 (default), users=7 (-J).\n"),
            "{}",
            out.yaml
        );
    }

    #[test]
    fn a_property_with_neither_value_nor_default_is_an_error_naming_it() {
        let text = xml(DEFAULTS, &group("g", "", &sampler("up", "/in/${__P(input_file)}", "", "")));
        let (sources, out) = convert(&text, &[]);
        let errors = out.unwrap_err();
        assert_eq!(errors.len(), 1);
        let rendered = errors[0].render(&sources);
        assert!(
            rendered.contains("property `input_file` is not set and `${__P(input_file)}` has no default"),
            "{rendered}"
        );
        assert!(rendered.contains("-J input_file=VALUE"), "{rendered}");
        assert!(yaml(&text, &[("input_file", "x.bin")]).yaml.contains("url: /in/x.bin\n"));
    }

    #[test]
    fn scoping_puts_shared_elements_on_the_scenario_and_the_rest_on_each_request() {
        let timer = |ms: u32| {
            format!(
                r#"<ConstantTimer testclass="ConstantTimer" testname="t{ms}"><stringProp name="ConstantTimer.delay">{ms}</stringProp></ConstantTimer><hashTree/>"#
            )
        };
        let assertion = r#"<ResponseAssertion testclass="ResponseAssertion" testname="ok">
  <collectionProp name="Asserion.test_strings"><stringProp name="1">OK (fine)</stringProp></collectionProp>
  <intProp name="Assertion.test_type">8</intProp>
</ResponseAssertion><hashTree/>"#;
        let header = r#"<HeaderManager testclass="HeaderManager" testname="inner">
  <collectionProp name="HeaderManager.headers">
    <elementProp name="" elementType="Header"><stringProp name="Header.name">X-Step</stringProp><stringProp name="Header.value">2</stringProp></elementProp>
  </collectionProp>
</HeaderManager><hashTree/>"#;
        let looped = format!(
            r#"<LoopController testclass="LoopController" testname="twice">
  <boolProp name="LoopController.continue_forever">true</boolProp>
  <stringProp name="LoopController.loops">2</stringProp>
</LoopController>
<hashTree>{header}{}{}</hashTree>"#,
            sampler("inner", "/b", "", &timer(500)),
            sampler("plain", "/c", "", "")
        );
        let body = format!("{}{assertion}{}{looped}", timer(100), sampler("outer", "/a", "", ""));
        let out = yaml(&xml(DEFAULTS, &group("g", "", &body)), &[]);
        let text = &out.yaml;
        assert!(text.contains("    think-time: 100ms\n"), "{text}");
        // Only the request with its own timer repeats the sum; the header goes where it applies.
        assert_eq!(text.matches("think-time:").count(), 2, "{text}");
        assert!(section(text, "- label: inner").contains(&"        think-time: 600ms"), "{text}");
        assert_eq!(text.matches("X-Step: '2'").count(), 2, "{text}");
        assert!(!section(text, "- label: outer").iter().any(|l| l.contains("X-Step")), "{text}");
        // The group's assertion reaches every request; "equals" is an anchored, escaped regex.
        assert_eq!(text.matches("- ^OK \\(fine\\)$").count(), 3, "{text}");
        // A nested loop's `continue_forever` is not "infinite".
        assert!(text.contains("- loop: 2\n"), "{text}");
    }

    #[test]
    fn what_taurus_yaml_cannot_say_is_commented_above_it_and_warned_once() {
        let random = format!(
            r#"<RandomController testclass="RandomController" testname="pick"/>
<hashTree>{}{}</hashTree>"#,
            sampler("one", "/1?n=${__counter(TRUE,)}", "", ""),
            sampler("two", "/2", "", "")
        );
        let sync = r#"<SyncTimer testclass="SyncTimer" testname="meet"><stringProp name="groupSize">3</stringProp></SyncTimer><hashTree/>"#;
        let slow = r#"<DurationAssertion testclass="DurationAssertion" testname="quick"><stringProp name="DurationAssertion.duration">200</stringProp></DurationAssertion><hashTree/>"#;
        let body = format!("{random}{}", sampler("three", "/3", "", &format!("{sync}{slow}")));
        let out = yaml(&xml(DEFAULTS, &group("g", "", &body)), &[]);
        let text = &out.yaml;
        let above = |line: &str| {
            let lines: Vec<&str> = text.lines().collect();
            let at = lines.iter().position(|l| l.trim_start() == line).unwrap_or_else(|| panic!("no {line}\n{text}"));
            lines[..at].iter().rev().take_while(|l| l.trim_start().starts_with('#')).copied().collect::<Vec<_>>()
        };
        let one = above("- label: one");
        assert!(one.iter().any(|l| l.contains("# suite jmx2yaml: RandomController \"pick\" runs ONE of its children")));
        assert!(one.iter().any(|l| l.contains("`${__counter(TRUE,)}` (__counter) gives a new value each time")));
        assert!(text.contains("url: /1?n=${__counter(TRUE,)}\n"), "{text}");
        let three = above("- label: three");
        assert!(three.iter().any(|l| l.contains("SyncTimer \"meet\" holds 3 threads")), "{three:?}");
        assert!(three.iter().any(|l| l.contains("DurationAssertion \"quick\" fails samples slower than 200 ms")));
        let warned: Vec<&str> = out.warnings.iter().map(|w| w.message.split(' ').next().unwrap_or("")).collect();
        assert_eq!(warned, ["RandomController", "`${__counter(TRUE,)}`", "SyncTimer", "DurationAssertion"]);
        assert!(out.warnings.iter().all(|w| !w.is_error() && w.span.is_some_and(|s| s.line > 0)));
    }

    #[test]
    fn the_scheduler_gives_hold_for_and_a_forever_loop_without_it_is_noted() {
        let timed = r#"<stringProp name="ThreadGroup.ramp_time">5</stringProp>
<boolProp name="ThreadGroup.scheduler">true</boolProp>
<stringProp name="ThreadGroup.duration">65</stringProp>
<stringProp name="ThreadGroup.delay">3</stringProp>"#;
        let forever = |p: &str| {
            group("g", p, &sampler("s", "/", "", ""))
                .replace(">1</stringProp>\n  </elementProp>", ">-1</stringProp>\n  </elementProp>")
        };
        let out = yaml(&xml(DEFAULTS, &forever(timed)), &[]);
        assert!(
            out.yaml.contains("- concurrency: 1\n  ramp-up: 5s\n  hold-for: 60s\n  delay: 3s\n  scenario: g\n"),
            "{}",
            out.yaml
        );
        let out = yaml(&xml(DEFAULTS, &forever("")), &[]);
        assert!(
            out.yaml.contains(
                "loops until the test is stopped; Taurus YAML without `hold-for` or `iterations` runs one iteration"
            ),
            "{}",
            out.yaml
        );
        assert_eq!(out.warnings.len(), 1);
    }

    #[test]
    fn setup_and_teardown_groups_run_in_order_when_one_main_group_is_between_them() {
        let setup = group("prepare", "", &sampler("s", "/s", "", ""))
            .replace("ThreadGroup testclass=\"ThreadGroup\"", "SetupThreadGroup testclass=\"SetupThreadGroup\"")
            .replace("</ThreadGroup>", "</SetupThreadGroup>");
        let main = group("main", "", &sampler("m", "/m", "", ""));
        let out = yaml(&xml(DEFAULTS, &format!("{main}{setup}")), &[]);
        let text = &out.yaml;
        assert!(text.find("scenario: prepare").unwrap() < text.find("scenario: main").unwrap(), "{text}");
        assert!(text.contains("# suite jmx2yaml: SetupThreadGroup \"prepare\" is a setUp thread group: Taurus YAML has no setUp/tearDown ordering"));
        assert!(text.ends_with("modules:\n  # Executions run one after another, in the order above: JMeter runs setUp groups first and tearDown groups last.\n  local:\n    sequential: true\n"), "{text}");
    }

    #[test]
    fn bodies_files_and_extractors_take_taurus_forms() {
        let raw = r#"<boolProp name="HTTPSampler.postBodyRaw">true</boolProp><stringProp name="HTTPSampler.method">POST</stringProp>
<elementProp name="HTTPsampler.Arguments" elementType="Arguments"><collectionProp name="Arguments.arguments">
  <elementProp name="" elementType="HTTPArgument"><stringProp name="Argument.value">line 1
line 2
</stringProp></elementProp>
</collectionProp></elementProp>"#;
        let file = r#"<stringProp name="HTTPSampler.method">PUT</stringProp>
<elementProp name="HTTPsampler.Files" elementType="HTTPFileArgs"><collectionProp name="HTTPFileArgs.files">
  <elementProp name="a" elementType="HTTPFileArg"><stringProp name="File.path">data/a.json</stringProp><stringProp name="File.mimetype">application/json</stringProp></elementProp>
</collectionProp></elementProp>"#;
        let regex = r#"<RegexExtractor testclass="RegexExtractor" testname="r">
  <stringProp name="RegexExtractor.useHeaders">code</stringProp>
  <stringProp name="RegexExtractor.refname">status</stringProp>
  <stringProp name="RegexExtractor.regex">(\d+)</stringProp>
  <stringProp name="RegexExtractor.template">$1$</stringProp>
</RegexExtractor><hashTree/>"#;
        let body = format!("{}{}", sampler("raw", "/r", raw, regex), sampler("file", "/f", file, ""));
        let mut sources = Sources::new();
        let id = sources.add_pseudo("t.jmx", xml(DEFAULTS, &group("g", "", &body)));
        let plan = jmx::read_source(&sources, id, Path::new("t.jmx")).unwrap();
        let options = Options { properties: HashMap::new(), file_base: Some(PathBuf::from("../plans")) };
        let out = to_yaml(&plan, &sources, &options).unwrap();
        let text = &out.yaml;
        assert!(text.contains("      body: |\n        line 1\n        line 2\n"), "{text}");
        // A lone file without a parameter name is the body; relative paths are rebased.
        assert!(
            text.contains(
                "      headers:\n        Content-Type: application/json\n      body-file: '../plans/data/a.json'\n"
            ),
            "{text}"
        );
        // JMeter reads an empty match number as 0 (random) and an empty default as "".
        assert!(text.contains("        status:\n          regexp: (\\d+)\n          template: $1$\n          match-no: 0\n          default: ''\n          subject: http-code\n"), "{text}");
    }

    #[test]
    fn time_values_are_taurus_times() {
        assert_eq!(
            (ms_text(0.0), ms_text(2000.0), ms_text(1050.0), ms_text(0.5)),
            ("0s".into(), "2s".into(), "1050ms".into(), "0.5ms".into())
        );
        assert_eq!(secs_text(1.25), "1.25s");
    }
}
