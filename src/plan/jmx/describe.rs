//! A human-readable account of a JMeter plan, for `suite validate plan.jmx`: the thread groups in
//! the order they run (setUp, main, tearDown), under each its samplers (`label  METHOD url`)
//! nested in their controllers with the timers, assertions and extractors written at each level,
//! and at the end a table of every element class found: how many, and whether it runs or is
//! ignored (listeners). Unsupported elements never get here: loading fails on them.
//!
//! Values are shown as written in the plan (`${__P(threads,10)}`), not evaluated: this says what
//! the file holds, whatever the properties of a run.

use std::fmt::Write as _;

use super::model::*;
use super::JmxPlan;

/// Why listeners are left out, as the coverage table says it.
const LISTENER_REASON: &str = "ignored: a listener only watches results; suite writes its own reports";

/// The thread groups of `plan` in the order JMeter starts them: setUp groups, the others, then
/// tearDown groups, each kind in file order.
pub fn run_order(plan: &JmxPlan) -> Vec<&Node> {
    let top = plan.roots.iter().flat_map(|r| std::iter::once(r).chain(r.children.iter()));
    let mut groups: Vec<&Node> = top.filter(|n| matches!(n.kind, Kind::ThreadGroup(_))).collect();
    groups.sort_by_key(|n| match &n.kind {
        Kind::ThreadGroup(g) => match g.kind {
            GroupKind::Setup => 0,
            GroupKind::Normal => 1,
            GroupKind::TearDown => 2,
        },
        _ => 1,
    });
    groups
}

/// The elements every thread group sees: the children of the plan's roots that are not thread
/// groups.
pub fn plan_level(plan: &JmxPlan) -> Vec<&Node> {
    plan.roots.iter().flat_map(|r| r.children.iter()).filter(|n| !matches!(n.kind, Kind::ThreadGroup(_))).collect()
}

/// One row of the coverage table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Coverage {
    /// The element's `testclass`.
    pub testclass: String,
    /// How many the plan holds (enabled ones).
    pub count: usize,
    /// `runs`, or `ignored: <why>`.
    pub status: String,
}

/// Every element class in `plan`, in order of first appearance, listeners last.
pub fn coverage(plan: &JmxPlan) -> Vec<Coverage> {
    let mut rows: Vec<Coverage> = Vec::new();
    let mut add = |testclass: &str, status: String| match rows.iter_mut().find(|r| r.testclass == testclass) {
        Some(row) => row.count += 1,
        None => rows.push(Coverage { testclass: testclass.to_string(), count: 1, status }),
    };
    for node in plan.walk() {
        let status = match &node.kind {
            Kind::HttpDefaults(_) => "runs (HTTP Request Defaults)".to_string(),
            _ => "runs".to_string(),
        };
        add(&node.meta.testclass, status);
    }
    for listener in &plan.listeners {
        add(&listener.testclass, LISTENER_REASON.to_string());
    }
    rows
}

/// The account of `plan`, ending with a newline.
pub fn describe(plan: &JmxPlan) -> String {
    let mut out = String::new();
    let name = plan.test_plan().map(|n| n.meta.name.value.as_str()).unwrap_or_default();
    let version = plan.jmeter_version.as_deref().map(|v| format!(", saved by JMeter {v}")).unwrap_or_default();
    let _ = writeln!(out, "JMeter plan \"{}\" ({}{version})", shown(name), plan.path.display());
    if let Some(Kind::TestPlan(tp)) = plan.test_plan().map(|n| &n.kind) {
        if tp.serialize_threadgroups {
            out.push_str("thread groups run one after another (Run Thread Groups consecutively)\n");
        }
        if !tp.variables.is_empty() {
            let _ = writeln!(out, "  variables {}", arguments(&tp.variables));
        }
    }
    let shared = plan_level(plan);
    if !shared.is_empty() {
        out.push_str("for every thread group:\n");
        for node in shared {
            element(node, 1, &mut out);
        }
    }
    let groups = run_order(plan);
    if groups.is_empty() {
        out.push_str("\nno thread group: the plan sends nothing\n");
    }
    for group in groups {
        out.push('\n');
        element(group, 0, &mut out);
    }
    out.push('\n');
    let rows: Vec<[String; 3]> =
        coverage(plan).into_iter().map(|c| [c.testclass, c.count.to_string(), c.status]).collect();
    out.push_str(&table(["element", "count", "status"], &rows));
    out
}

/// Writes `node` as one line at `depth`, then its children one level deeper.
fn element(node: &Node, depth: usize, out: &mut String) {
    let pad = "  ".repeat(depth);
    let name = shown(&node.meta.name.value);
    let line = match &node.kind {
        Kind::ThreadGroup(g) => group(g, &name),
        Kind::Http(h) => sampler(h, &name),
        Kind::TestAction(a) => format!("{name}  {}", action(a)),
        Kind::Controller(c) => {
            let (what, details) = controller(c);
            format!("{what} \"{name}\"{details}")
        }
        Kind::Timer(t) => format!("timer {}", timer(t)),
        Kind::Assertion(a) => format!("assert {}", assertion(a)),
        Kind::Extractor(e) => format!("extract {}", extractor(e)),
        Kind::Arguments(args) => format!("variables {}", arguments(args)),
        Kind::HttpDefaults(h) => format!("defaults {}", defaults(h)),
        Kind::Headers(h) => {
            let list: Vec<String> =
                h.iter().map(|(k, v)| format!("{}: {}", shown(&k.value), shown(&v.value))).collect();
            format!("headers {}", list.join(", "))
        }
        Kind::Cookies(c) => cookies(c),
        Kind::CsvDataSet(csv) => data_set(csv),
        Kind::Auth(list) => {
            let list: Vec<String> =
                list.iter().map(|a| format!("{} as {}", shown(&a.url.value), shown(&a.username.value))).collect();
            format!("authorization (Basic) {}", list.join(", "))
        }
        Kind::TestPlan(_) => format!("test plan \"{name}\""),
    };
    let _ = writeln!(out, "{pad}{line}");
    for child in &node.children {
        element(child, depth + 1, out);
    }
}

fn group(g: &ThreadGroup, name: &str) -> String {
    let kind = match g.kind {
        GroupKind::Setup => "setUp thread group",
        GroupKind::Normal => "thread group",
        GroupKind::TearDown => "tearDown thread group",
    };
    let users = match g.num_threads.value.trim() {
        "1" => "1 user".to_string(),
        n => format!("{} users", shown(n)),
    };
    let mut parts = vec![users, format!("ramp-up {}", seconds(&g.ramp_time))];
    let loops = g.loops.value.trim();
    parts.push(match loops {
        _ if g.continue_forever || loops == "-1" => "forever".to_string(),
        "1" => "1 loop".to_string(),
        n => format!("{} loops", shown(n)),
    });
    if g.scheduler {
        let mut s = format!("scheduler: for {}", seconds(&g.duration));
        if !g.delay.value.trim().is_empty() && g.delay.value.trim() != "0" {
            let _ = write!(s, " after a {} delay", seconds(&g.delay));
        }
        parts.push(s);
    }
    let on_error = match g.on_error {
        OnError::Continue => "continue",
        OnError::StartNextLoop => "start next loop",
        OnError::StopThread => "stop the thread",
        OnError::StopTest => "stop the test",
        OnError::StopTestNow => "stop the test now",
    };
    parts.push(format!("on sample error: {on_error}"));
    format!("{kind} \"{name}\": {}", parts.join(", "))
}

/// `label  METHOD url`, with what the body holds.
fn sampler(h: &Http, label: &str) -> String {
    let method = if h.method.value.trim().is_empty() { "GET" } else { h.method.value.trim() };
    let mut line = format!("{label}  {} {}", shown(method), shown(&url(h)));
    let sends_body =
        h.body_raw || !matches!(method.to_ascii_uppercase().as_str(), "GET" | "HEAD" | "DELETE" | "OPTIONS");
    if h.body_raw {
        let body: String = h.arguments.iter().map(|a| a.value.value.as_str()).collect();
        let _ = write!(line, "  body {}", quoted(&body));
    } else if !h.arguments.is_empty() && sends_body {
        let names: Vec<String> = h.arguments.iter().map(|a| shown(&a.name.value)).collect();
        let _ = write!(line, "  form {}", names.join(", "));
    } else if !h.arguments.is_empty() {
        let query: Vec<String> = h.arguments.iter().map(|a| format!("{}={}", a.name.value, a.value.value)).collect();
        let _ = write!(line, "?{}", shown(&query.join("&")));
    }
    for f in &h.files {
        let param = if f.param.is_empty() { "the body".to_string() } else { shown(&f.param.value) };
        let _ = write!(line, "  file {} as {param}", shown(&f.path.value));
    }
    if h.multipart {
        line.push_str("  (multipart)");
    }
    if h.embedded_resources {
        line.push_str("  (embedded resources)");
    }
    line
}

/// The sampler's own URL fields: `[protocol://][domain][:port]path`; empty fields come from HTTP
/// Request Defaults.
fn url(h: &Http) -> String {
    let mut s = String::new();
    if !h.domain.is_empty() {
        let protocol = if h.protocol.is_empty() { "http" } else { h.protocol.value.as_str() };
        let _ = write!(s, "{protocol}://{}", h.domain.value);
    } else if !h.protocol.is_empty() {
        let _ = write!(s, "{}://", h.protocol.value);
    }
    if !h.port.is_empty() {
        let _ = write!(s, ":{}", h.port.value);
    }
    s.push_str(&h.path.value);
    if s.is_empty() {
        s.push('/');
    }
    s
}

fn defaults(h: &Http) -> String {
    let mut parts = vec![url(h)];
    if !h.connect_timeout.is_empty() {
        parts.push(format!("connect timeout {} ms", h.connect_timeout.value));
    }
    if !h.response_timeout.is_empty() {
        parts.push(format!("response timeout {} ms", h.response_timeout.value));
    }
    shown(&parts.join(", "))
}

fn action(a: &TestAction) -> String {
    let target = if a.all_threads { " (all threads)" } else { "" };
    let what = match a.action {
        Action::Pause => return format!("pause {} ms", shown(&a.duration.value)),
        Action::Stop => "stop",
        Action::StopNow => "stop now",
        Action::RestartNextLoop => "go to the next loop iteration",
        Action::StartNextIteration => "start the next iteration of the current loop",
        Action::BreakLoop => "break the current loop",
    };
    format!("{what}{target}")
}

/// What a controller does, and details after its name.
fn controller(c: &Controller) -> (String, String) {
    let plain = |what: &str| (what.to_string(), String::new());
    match c {
        // A nested loop's `continue_forever` only restarts it on its parent's next pass.
        Controller::Loop { loops, .. } if loops.value.trim() == "-1" => plain("loop forever"),
        Controller::Loop { loops, .. } => (format!("loop ×{}", shown(&loops.value)), String::new()),
        Controller::OnceOnly => plain("once"),
        Controller::Transaction { parent, include_timers } => {
            let mut details = String::new();
            if *parent {
                details.push_str(" (one parent sample)");
            }
            if !include_timers {
                details.push_str(" (timers not counted)");
            }
            ("transaction".to_string(), details)
        }
        Controller::RandomOrder => plain("random order"),
        Controller::Random { .. } => ("random".to_string(), " (one child per pass)".to_string()),
        Controller::Interleave { across_threads, .. } => {
            let across = if *across_threads { ", across threads" } else { "" };
            ("interleave".to_string(), format!(" (one child per pass{across})"))
        }
        Controller::If { condition, evaluate_all, .. } => {
            let each = if *evaluate_all { " (checked before each child)" } else { "" };
            (format!("if {}", shown(&condition.value)), each.to_string())
        }
        Controller::While { condition } if condition.is_empty() => plain("while the last sample succeeded"),
        Controller::While { condition } => (format!("while {}", shown(&condition.value)), String::new()),
        Controller::Generic => plain("simple controller"),
    }
}

fn timer(t: &Timer) -> String {
    match t {
        Timer::Constant { delay } => format!("constant {} ms", shown(&delay.value)),
        Timer::UniformRandom { delay, range } => {
            format!("uniform {} ms + up to {} ms", shown(&delay.value), shown(&range.value))
        }
        Timer::Gaussian { delay, deviation } => {
            format!("gaussian {} ms ± {} ms", shown(&delay.value), shown(&deviation.value))
        }
        Timer::Sync { group_size, timeout_ms } => {
            let size = match group_size.value.trim() {
                "" | "0" => "all users of the group".to_string(),
                n => format!("{} users", shown(n)),
            };
            let timeout = match timeout_ms.value.trim() {
                "" | "0" => String::new(),
                t => format!(", at most {} ms", shown(t)),
            };
            format!("sync: wait for {size}{timeout}")
        }
        Timer::ConstantThroughput { per_minute, calc_mode } => {
            let over = match calc_mode {
                0 => "each thread",
                1 => "all active threads",
                2 => "all active threads of the group",
                3 => "all active threads, shared",
                _ => "all active threads of the group, shared",
            };
            format!("constant throughput {}/min ({over})", shown(&per_minute.value))
        }
    }
}

/// Where an assertion or extractor looks, in words.
pub(crate) fn field_name(f: Field) -> &'static str {
    match f {
        Field::Body => "body",
        Field::BodyUnescaped => "unescaped body",
        Field::BodyAsDocument => "body as a document",
        Field::Headers => "response headers",
        Field::RequestHeaders => "request headers",
        Field::Url => "URL",
        Field::Code => "response code",
        Field::Message => "response message",
        Field::Label => "sample label",
        Field::RequestData => "request data",
    }
}

fn assertion(a: &Assertion) -> String {
    match a {
        Assertion::Response { field, how, not, any, patterns, assume_success, .. } => {
            let verb = match (how, not) {
                (Match::Matches, false) => "matches",
                (Match::Matches, true) => "does not match",
                (Match::Contains, false) => "contains",
                (Match::Contains, true) => "does not contain",
                (Match::Equals, false) => "equals",
                (Match::Equals, true) => "does not equal",
                (Match::Substring, false) => "contains the text",
                (Match::Substring, true) => "does not contain the text",
            };
            let joiner = if *any { " or " } else { " and " };
            let list: Vec<String> = patterns.iter().map(|p| quoted(&p.value)).collect();
            let assume = if *assume_success { " (status ignored)" } else { "" };
            format!("{} {verb} {}{assume}", field_name(*field), list.join(joiner))
        }
        Assertion::Duration { max_ms } => format!("duration ≤ {} ms", shown(&max_ms.value)),
        Assertion::JsonPath { path, expected, validate, expect_null, invert, regex } => {
            let mut s = format!("json {}", shown(&path.value));
            if *validate && *expect_null {
                s.push_str(" is null");
            } else if *validate {
                let verb = if *regex { "matches" } else { "equals" };
                let _ = write!(s, " {verb} {}", quoted(&expected.value));
            } else {
                s.push_str(" exists");
            }
            if *invert {
                s.push_str(" (inverted)");
            }
            s
        }
    }
}

fn extractor(e: &Extractor) -> String {
    match e {
        Extractor::Regex { field, variable, regex, template, default, match_number } => {
            let from = if *field == Field::Body { String::new() } else { format!(" from {}", field_name(*field)) };
            format!(
                "regex {} = {} → {}{from} (match {}, default {})",
                shown(&variable.value),
                quoted(&regex.value),
                shown(&template.value),
                number_or(&match_number.value, "0"),
                quoted(&default.value)
            )
        }
        Extractor::Json { variables, expressions, defaults, .. } => {
            format!(
                "json {} = {} (default {})",
                shown(&variables.value),
                shown(&expressions.value),
                quoted(&defaults.value)
            )
        }
        Extractor::Boundary { field, variable, left, right, default, match_number } => {
            let from = if *field == Field::Body { String::new() } else { format!(" from {}", field_name(*field)) };
            format!(
                "boundary {} = between {} and {}{from} (match {}, default {})",
                shown(&variable.value),
                quoted(&left.value),
                quoted(&right.value),
                number_or(&match_number.value, "0"),
                quoted(&default.value)
            )
        }
    }
}

fn arguments(args: &[Argument]) -> String {
    let list: Vec<String> = args.iter().map(|a| format!("{}={}", a.name.value, a.value.value)).collect();
    shown(&list.join(", "))
}

fn cookies(c: &Cookies) -> String {
    let mut s = "cookies kept per user".to_string();
    if c.clear_each_iteration {
        s.push_str(", cleared each iteration");
    }
    if !c.cookies.is_empty() {
        let names: Vec<&str> = c.cookies.iter().map(|c| c.name.as_str()).collect();
        let _ = write!(s, "; set up front: {}", shown(&names.join(", ")));
    }
    s
}

fn data_set(csv: &CsvDataSet) -> String {
    let names = if csv.variable_names.is_empty() {
        "names from its first line".to_string()
    } else {
        shown(&csv.variable_names.value)
    };
    let mut extras = Vec::new();
    if !csv.delimiter.is_empty() && csv.delimiter.value != "," {
        extras.push(format!("delimiter {}", quoted(&csv.delimiter.value)));
    }
    if csv.ignore_first_line && !csv.variable_names.is_empty() {
        extras.push("first line skipped".to_string());
    }
    if csv.quoted {
        extras.push("quoted".to_string());
    }
    extras.push(match (csv.recycle, csv.stop_thread) {
        (true, _) => "recycled".to_string(),
        (false, true) => "the thread stops at the end".to_string(),
        (false, false) => "<EOF> at the end".to_string(),
    });
    let share = match csv.share_mode.value.as_str() {
        "" | "shareMode.all" => "shared by all threads",
        "shareMode.group" => "one per thread group",
        "shareMode.thread" => "one per thread",
        _ => "shared by threads with the same mode",
    };
    extras.push(share.to_string());
    format!("CSV {} → {names} ({})", shown(&csv.filename.value), extras.join(", "))
}

/// Seconds as written, with the unit (`5 s`; text that is not a number stays as written).
fn seconds(t: &Text) -> String {
    match t.value.trim() {
        "" => "0 s".to_string(),
        v => format!("{} s", shown(v)),
    }
}

fn number_or(text: &str, empty: &str) -> String {
    if text.trim().is_empty() {
        empty.to_string()
    } else {
        shown(text.trim())
    }
}

/// `text` in double quotes, made safe for a terminal.
fn quoted(text: &str) -> String {
    format!("\"{}\"", shown(text))
}

/// `text` with control characters written as escapes (`\r`, `\u{1b}`), so a name from the plan
/// cannot move the terminal's cursor or split a line.
pub(crate) fn shown(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() || matches!(c, '\u{fffe}' | '\u{ffff}') => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}

/// Aligned columns: text left-aligned, the count right-aligned (as the console report's tables).
fn table(headers: [&str; 3], rows: &[[String; 3]]) -> String {
    let mut widths = headers.map(|h| h.chars().count());
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: [&str; 3]| {
        let pad = |i: usize| " ".repeat(widths[i] - cells[i].chars().count());
        let s = format!("{}{}  {}{}  {}", cells[0], pad(0), pad(1), cells[1], cells[2]);
        s.trim_end().to_string() + "\n"
    };
    let mut out = line(headers);
    for row in rows {
        out.push_str(&line([&row[0], &row[1], &row[2]]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Sources;
    use crate::plan::jmx;
    use std::path::Path;

    /// Reads a plan written in the test.
    pub(crate) fn plan(text: &str) -> JmxPlan {
        let mut sources = Sources::new();
        let id = sources.add_pseudo("t.jmx", text);
        jmx::read_source(&sources, id, Path::new("t.jmx"))
            .unwrap_or_else(|e| panic!("{}", e.iter().map(|d| d.render(&sources)).collect::<String>()))
    }

    const PLAN: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<jmeterTestPlan version="1.2" properties="5.0" jmeter="5.6">
  <hashTree>
    <TestPlan testclass="TestPlan" testname="Shop">
      <boolProp name="TestPlan.serialize_threadgroups">true</boolProp>
    </TestPlan>
    <hashTree>
      <ConfigTestElement guiclass="HttpDefaultsGui" testclass="ConfigTestElement" testname="Defaults">
        <stringProp name="HTTPSampler.domain">${__P(host,localhost)}</stringProp>
        <stringProp name="HTTPSampler.port">8080</stringProp>
      </ConfigTestElement>
      <hashTree/>
      <PostThreadGroup testclass="PostThreadGroup" testname="cleanup">
        <stringProp name="ThreadGroup.num_threads">1</stringProp>
        <stringProp name="ThreadGroup.ramp_time">0</stringProp>
      </PostThreadGroup>
      <hashTree>
        <HTTPSamplerProxy testclass="HTTPSamplerProxy" testname="logout">
          <stringProp name="HTTPSampler.path">/logout</stringProp>
          <stringProp name="HTTPSampler.method">DELETE</stringProp>
        </HTTPSamplerProxy>
        <hashTree/>
      </hashTree>
      <ThreadGroup testclass="ThreadGroup" testname="buyers">
        <stringProp name="ThreadGroup.on_sample_error">stoptest</stringProp>
        <elementProp name="ThreadGroup.main_controller" elementType="LoopController">
          <stringProp name="LoopController.loops">-1</stringProp>
        </elementProp>
        <stringProp name="ThreadGroup.num_threads">${__P(users,5)}</stringProp>
        <stringProp name="ThreadGroup.ramp_time">10</stringProp>
        <boolProp name="ThreadGroup.scheduler">true</boolProp>
        <stringProp name="ThreadGroup.duration">60</stringProp>
      </ThreadGroup>
      <hashTree>
        <ConstantTimer testclass="ConstantTimer" testname="think">
          <stringProp name="ConstantTimer.delay">300</stringProp>
        </ConstantTimer>
        <hashTree/>
        <LoopController testclass="LoopController" testname="browse">
          <stringProp name="LoopController.loops">3</stringProp>
        </LoopController>
        <hashTree>
          <HTTPSamplerProxy testclass="HTTPSamplerProxy" testname="item">
            <stringProp name="HTTPSampler.path">/items/${id}</stringProp>
          </HTTPSamplerProxy>
          <hashTree>
            <ResponseAssertion testclass="ResponseAssertion" testname="ok">
              <collectionProp name="Asserion.test_strings"><stringProp name="1">200</stringProp></collectionProp>
              <stringProp name="Assertion.test_field">Assertion.response_code</stringProp>
              <intProp name="Assertion.test_type">8</intProp>
            </ResponseAssertion>
            <hashTree/>
          </hashTree>
        </hashTree>
        <IfController testclass="IfController" testname="has cart">
          <stringProp name="IfController.condition">${__jexl3("${cart}" != "")}</stringProp>
        </IfController>
        <hashTree>
          <HTTPSamplerProxy testclass="HTTPSamplerProxy" testname="pay">
            <stringProp name="HTTPSampler.path">/pay</stringProp>
            <stringProp name="HTTPSampler.method">POST</stringProp>
            <boolProp name="HTTPSampler.postBodyRaw">true</boolProp>
            <elementProp name="HTTPsampler.Arguments" elementType="Arguments">
              <collectionProp name="Arguments.arguments">
                <elementProp name="" elementType="HTTPArgument">
                  <stringProp name="Argument.value">{"cart": "${cart}"}</stringProp>
                </elementProp>
              </collectionProp>
            </elementProp>
          </HTTPSamplerProxy>
          <hashTree>
            <RegexExtractor testclass="RegexExtractor" testname="receipt">
              <stringProp name="RegexExtractor.refname">receipt</stringProp>
              <stringProp name="RegexExtractor.regex">id=(\d+)</stringProp>
              <stringProp name="RegexExtractor.template">$1$</stringProp>
              <stringProp name="RegexExtractor.match_number">1</stringProp>
            </RegexExtractor>
            <hashTree/>
          </hashTree>
        </hashTree>
      </hashTree>
      <SetupThreadGroup testclass="SetupThreadGroup" testname="prepare">
        <stringProp name="ThreadGroup.num_threads">1</stringProp>
      </SetupThreadGroup>
      <hashTree>
        <TestAction testclass="TestAction" testname="settle">
          <intProp name="ActionProcessor.action">1</intProp>
          <stringProp name="ActionProcessor.duration">500</stringProp>
        </TestAction>
        <hashTree/>
      </hashTree>
      <ResultCollector testclass="ResultCollector" testname="Summary Report"/>
      <hashTree/>
    </hashTree>
  </hashTree>
</jmeterTestPlan>
"#;

    #[test]
    fn thread_groups_come_in_run_order_with_their_nested_samplers() {
        let text = describe(&plan(PLAN));
        let expected = r#"JMeter plan "Shop" (t.jmx, saved by JMeter 5.6)
thread groups run one after another (Run Thread Groups consecutively)
for every thread group:
  defaults http://${__P(host,localhost)}:8080

setUp thread group "prepare": 1 user, ramp-up 0 s, 1 loop, on sample error: continue
  settle  pause 500 ms

thread group "buyers": ${__P(users,5)} users, ramp-up 10 s, forever, scheduler: for 60 s, on sample error: stop the test
  timer constant 300 ms
  loop ×3 "browse"
    item  GET /items/${id}
      assert response code equals "200"
  if ${__jexl3("${cart}" != "")} "has cart"
    pay  POST /pay  body "{"cart": "${cart}"}"
      extract regex receipt = "id=(\d+)" → $1$ (match 1, default "")

tearDown thread group "cleanup": 1 user, ramp-up 0 s, 1 loop, on sample error: continue
  logout  DELETE /logout

"#;
        assert!(text.starts_with(expected), "{text}");
    }

    #[test]
    fn the_coverage_table_counts_every_class_and_says_why_listeners_are_ignored() {
        let text = describe(&plan(PLAN));
        let table = text.rsplit("\n\n").next().unwrap();
        let expected = "\
element            count  status
TestPlan               1  runs
ConfigTestElement      1  runs (HTTP Request Defaults)
PostThreadGroup        1  runs
HTTPSamplerProxy       3  runs
ThreadGroup            1  runs
ConstantTimer          1  runs
LoopController         1  runs
ResponseAssertion      1  runs
IfController           1  runs
RegexExtractor         1  runs
SetupThreadGroup       1  runs
TestAction             1  runs
ResultCollector        1  ignored: a listener only watches results; suite writes its own reports
";
        assert_eq!(table, expected);
        let rows = coverage(&plan(PLAN));
        assert_eq!(rows.iter().map(|r| r.count).sum::<usize>(), 15);
    }

    #[test]
    fn names_from_the_plan_cannot_reach_the_terminal_as_control_characters() {
        let text = PLAN.replace("testname=\"item\"", "testname=\"it&#27;[2Jem\"");
        let out = describe(&plan(&text));
        assert!(!out.contains('\u{1b}'), "{out:?}");
        assert!(out.contains("it\\u{1b}[2Jem  GET /items/${id}"), "{out}");
        assert_eq!(shown("a\r\nb\t"), "a\\r\\nb\\t");
    }

    #[test]
    fn a_plan_without_thread_groups_says_so() {
        let text = r#"<jmeterTestPlan><hashTree><TestPlan testclass="TestPlan" testname="empty"/><hashTree/></hashTree></jmeterTestPlan>"#;
        let out = describe(&plan(text));
        assert!(out.contains("no thread group: the plan sends nothing"), "{out}");
        assert!(out.ends_with("element   count  status\nTestPlan      1  runs\n"), "{out}");
    }
}
