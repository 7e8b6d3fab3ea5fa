//! Planning scenarios: settings, requests, logic blocks, bodies and think times (response checks
//! are in `checks.rs`, CSV files in `data.rs`). Everything that can be checked before the load
//! starts is checked (files exist, every `${name}` is set somewhere), and every error points at
//! the value in the user's file. JMeter-only features are named in a clear error.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use http::{HeaderName, HeaderValue};

use super::{did_you_mean_or, kind_name, scalar_text, Builder};
use crate::config::de::{from_node, Spanned};
use crate::config::diagnostic::suggest;
use crate::config::duration::parse_secs;
use crate::config::model::{Request, Root, Scenario};
use crate::config::source::Span;
use crate::config::{Map, Node, NodeKind};
use crate::criteria::Spec;
use crate::plan::checks::{Assertion, Source, Subject};
use crate::plan::data::DataSource;
use crate::plan::scenario::{
    Action, ActionKind, BasicAuth, Body, Chunk, Cookie, RequestPlan, ScenarioPlan, Step, Template, ThinkTime, Timeouts,
    Transaction, Value,
};

/// Timeout of requests that set none (Taurus's documented default).
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// Multipart boundary of `upload-files` bodies (fixed, so bodies can be built once).
const BOUNDARY: &str = "----suite-form-boundary-5b8f2d9c71e4a036";

/// Request keys that open logic blocks (Taurus's hierarchic request parser).
const LOGIC_BLOCKS: &[&str] = &[
    "transaction",
    "include-scenario",
    "if",
    "loop",
    "while",
    "foreach",
    "once",
    "action",
    "set-variables",
    "setup",
    "teardown",
];

/// Scenario-level settings that requests inherit (an included scenario inherits the including one's).
#[derive(Clone)]
pub(super) struct Defaults {
    address: Option<String>,
    headers: Vec<(String, String)>,
    think_time: Option<ThinkTime>,
    timeouts: Timeouts,
    keepalive: bool,
    follow_redirects: bool,
    force_parent_sample: bool,
}

impl Default for Defaults {
    fn default() -> Self {
        Defaults {
            address: None,
            headers: Vec::new(),
            think_time: None,
            timeouts: Timeouts { connect: DEFAULT_TIMEOUT, read: DEFAULT_TIMEOUT },
            keepalive: true,
            follow_redirects: true,
            force_parent_sample: false,
        }
    }
}

/// What planning one scenario collects across its steps and the scenarios it includes.
#[derive(Default)]
pub(super) struct Scope {
    /// Variables something sets: `variables`, CSV columns, extractors, `set-variables`.
    pub(super) defined: HashSet<String>,
    /// Extractors with `match-no: -1` also set `<name>_<n>`, `<name>_matchNr` and `<name>_ALL`.
    pub(super) defined_families: Vec<String>,
    /// Every `${name}` used, with the place of the placeholder.
    pub(super) used: Vec<(String, Span)>,
    /// Scenarios being planned, outermost first (to catch include loops).
    path: Vec<String>,
    once_blocks: usize,
    variables: Vec<(String, Template)>,
    pub(super) data_sources: Vec<Arc<DataSource>>,
    tls_verify: bool,
    /// `cookies:` of the scenario and the scenarios it includes.
    cookies: Vec<Cookie>,
    /// `authorization:` entries of the scenario and the scenarios it includes.
    auth: Vec<BasicAuth>,
    /// A data source could not be read, so its column names are unknown.
    pub(super) incomplete: bool,
}

impl Builder<'_> {
    pub(super) fn scenario(
        &mut self,
        name: &str,
        sc: &Scenario,
        span: Span,
        root: &Root,
        criteria: &mut Vec<(Spec, Span)>,
    ) -> Option<ScenarioPlan> {
        let mut scope = Scope { tls_verify: true, ..Scope::default() };
        if let Some(c) = &sc.criteria {
            criteria.extend(self.criteria_node(c));
        }
        let defaults = self.scenario_defaults(sc, &Defaults::default(), &mut scope);
        let steps = self.scenario_steps(name, sc, span, &defaults, root, &mut scope)?;
        self.check_variables(&scope);
        Some(ScenarioPlan {
            name: name.to_string(),
            steps,
            keepalive: defaults.keepalive,
            tls_verify: scope.tls_verify,
            // Taurus keeps cookies unless `store-cookie: false`.
            store_cookies: sc.store_cookie.as_ref().is_none_or(|s| s.value),
            cookies: scope.cookies,
            auth: scope.auth,
            variables: scope.variables,
            data_sources: scope.data_sources,
            once_blocks: scope.once_blocks,
        })
    }

    /// The steps of one scenario (the top one or an included one), after its own settings.
    fn scenario_steps(
        &mut self,
        name: &str,
        sc: &Scenario,
        span: Span,
        d: &Defaults,
        root: &Root,
        scope: &mut Scope,
    ) -> Option<Vec<Step>> {
        if let Some(script) = &sc.script {
            let what =
                scalar_text(&script.value).map(|s| format!("`script: {s}`")).unwrap_or_else(|| "`script:`".into());
            self.unsupported(
                script.span,
                &format!("{what} (an existing JMeter plan or tool script)"),
                "suite runs HTTP `requests:` scenarios natively; describe the requests under `requests:`",
            );
            return None;
        }
        for (key, value, help) in [
            ("properties", &sc.properties, "JMeter properties have no meaning outside JMeter; use `variables:`"),
            ("content-encoding", &sc.content_encoding, "send the body already encoded"),
            ("random-source-ip", &sc.random_source_ip, "not available"),
            ("retrieve-resources-regex", &sc.retrieve_resources_regex, "embedded resources are not downloaded"),
            ("env", &sc.env, "use `settings.env`"),
            ("modifications", &sc.modifications, "JMX modifications need a JMeter `script:`"),
        ] {
            if let Some(v) = value {
                self.unsupported(v.span, &format!("scenario `{key}`"), help);
            }
        }
        if let Some(r) = &sc.retrieve_resources {
            if r.value {
                self.warn(
                    r.span,
                    "`retrieve-resources: true`: suite does not download embedded resources of HTML pages",
                );
            }
        }
        if let Some(vars) = &sc.variables {
            for (k, v) in &vars.value {
                self.uses(&v.value, v.span, scope);
                scope.defined.insert(k.clone());
                scope.variables.retain(|(name, _)| name != k);
                scope.variables.push((k.clone(), Template::parse(&v.value)));
            }
        }
        if let Some(c) = &sc.cookies {
            self.cookies(c, scope);
        }
        if let Some(a) = &sc.authorization {
            self.authorization(a, scope);
        }
        if let Some(ds) = &sc.data_sources {
            self.data_sources(ds, scope);
        }
        let Some(requests) = &sc.requests else {
            self.error_help(
                span,
                format!("scenario `{name}` has no `requests`"),
                "add `requests: [http://127.0.0.1:8080/ping]`",
            );
            return None;
        };
        if requests.value.is_empty() {
            self.error(requests.span, format!("scenario `{name}` has an empty `requests` list"));
        }
        scope.path.push(name.to_string());
        let steps = self.steps(requests.value.iter().map(|r| &r.value), d, root, scope);
        scope.path.pop();
        Some(steps)
    }

    /// Scenario settings over the inherited ones.
    fn scenario_defaults(&mut self, sc: &Scenario, outer: &Defaults, scope: &mut Scope) -> Defaults {
        let mut d = outer.clone();
        if let Some(a) = &sc.default_address {
            self.uses(&a.value, a.span, scope);
            d.address = Some(a.value.trim_end_matches('/').to_string());
        }
        if let Some(h) = &sc.headers {
            for (k, v) in &h.value {
                self.uses(&v.value, v.span, scope);
                d.headers.retain(|(name, _)| !name.eq_ignore_ascii_case(k));
                d.headers.push((k.clone(), v.value.clone()));
            }
        }
        if let Some(t) = &sc.think_time {
            d.think_time = self.think_time(&t.value);
        }
        d.timeouts = self.timeouts(&sc.timeout, &sc.connect_timeout, &sc.read_timeout, d.timeouts);
        if let Some(k) = &sc.keepalive {
            d.keepalive = k.value;
        }
        if let Some(f) = &sc.follow_redirects {
            d.follow_redirects = f.value;
        }
        if let Some(f) = &sc.force_parent_sample {
            d.force_parent_sample = self.flag(&f.value, "force-parent-sample").unwrap_or(d.force_parent_sample);
        }
        if let Some(v) = &sc.tls_verify {
            scope.tls_verify &= v.value;
        }
        d
    }

    fn timeouts(
        &mut self,
        timeout: &Option<Spanned<Node>>,
        connect: &Option<Spanned<Node>>,
        read: &Option<Spanned<Node>>,
        inherited: Timeouts,
    ) -> Timeouts {
        // Taurus's `timeout` is JMeter's connect and response timeout at once.
        let both = timeout.as_ref().and_then(|t| self.secs(&t.value, "timeout")).filter(|t| !t.is_zero());
        let mut out = both.map_or(inherited, |t| Timeouts { connect: t, read: t });
        if let Some(c) = connect.as_ref().and_then(|t| self.secs(&t.value, "connect-timeout")) {
            out.connect = c;
        }
        if let Some(r) = read.as_ref().and_then(|t| self.secs(&t.value, "read-timeout")) {
            out.read = r;
        }
        out
    }

    /// `cookies: [{name, value, domain, path, secure}]`: cookies every user starts with.
    fn cookies(&mut self, node: &Spanned<Node>, scope: &mut Scope) {
        let items = match &node.value.kind {
            NodeKind::Seq(items) => items,
            NodeKind::Null => return,
            _ => {
                let found = kind_name(&node.value);
                let help = "write `cookies: [{name: sid, value: abc, domain: example.com}]`";
                self.error_help(node.span, format!("`cookies` must be a list, found {found}"), help);
                return;
            }
        };
        for item in items {
            let NodeKind::Map(m) = &item.kind else {
                self.error(item.span, format!("a cookie must be a mapping, found {}", kind_name(item)));
                continue;
            };
            self.block_keys(m, "cookies", &["name", "value", "domain", "path", "secure"]);
            let text = |key: &str| m.get(key).and_then(|(_, v)| scalar_text(v));
            let (Some(name), Some(domain)) = (text("name"), text("domain")) else {
                let help = "write `{name: sid, value: abc, domain: example.com}`";
                self.error_help(item.span, "a cookie needs a `name` and a `domain`", help);
                continue;
            };
            let secure = m.get("secure").and_then(|(_, v)| self.flag(v, "secure")).unwrap_or(false);
            scope.cookies.push(Cookie {
                name,
                value: text("value").unwrap_or_default(),
                domain: domain.trim_start_matches('.').to_ascii_lowercase(),
                host_only: false,
                path: text("path").filter(|p| p.starts_with('/')).unwrap_or_else(|| "/".into()),
                secure,
                expires: None,
            });
        }
    }

    /// `authorization:` (JMeter's HTTP authorization manager): a list of `{url, name, password,
    /// mechanism}`, or `{clear, list}`. Basic credentials go with every request whose URL starts
    /// with the entry's `url` (all requests without one), sent up front as JMeter does.
    fn authorization(&mut self, node: &Spanned<Node>, scope: &mut Scope) {
        const HELP: &str = "write `authorization: [{url: http://host/, name: user, password: secret}]`";
        let list = match &node.value.kind {
            NodeKind::Seq(items) => items.iter().collect::<Vec<_>>(),
            NodeKind::Map(m) if m.get("list").is_some() => {
                self.block_keys(m, "authorization", &["clear", "list"]);
                match &m["list"].1.kind {
                    NodeKind::Seq(items) => items.iter().collect(),
                    _ => {
                        self.error_help(m["list"].1.span, "`authorization.list` must be a list", HELP);
                        return;
                    }
                }
            }
            NodeKind::Map(_) => vec![&node.value],
            NodeKind::Null => return,
            _ => {
                let found = kind_name(&node.value);
                self.error_help(node.span, format!("`authorization` must be a list, found {found}"), HELP);
                return;
            }
        };
        for item in list {
            let NodeKind::Map(m) = &item.kind else {
                self.error_help(
                    item.span,
                    format!("an authorization must be a mapping, found {}", kind_name(item)),
                    HELP,
                );
                continue;
            };
            self.block_keys(m, "authorization", &["url", "name", "password", "domain", "realm", "mechanism"]);
            let text = |key: &str| m.get(key).and_then(|(_, v)| scalar_text(v));
            if let Some(mech) = text("mechanism").filter(|m| !m.eq_ignore_ascii_case("basic")) {
                let span = m["mechanism"].1.span;
                self.unsupported(span, &format!("`mechanism: {mech}`"), "only `basic` authorization is supported");
                continue;
            }
            let Some(name) = text("name") else {
                self.error_help(item.span, "this authorization has no `name`", HELP);
                continue;
            };
            let credentials = format!("{name}:{}", text("password").unwrap_or_default());
            let encoded = base64::engine::general_purpose::STANDARD.encode(credentials);
            let Ok(header) = HeaderValue::from_str(&format!("Basic {encoded}")) else { continue };
            scope.auth.push(BasicAuth { url_prefix: text("url").unwrap_or_default(), header });
        }
    }

    pub(super) fn flag(&mut self, node: &Node, what: &str) -> Option<bool> {
        match node.kind {
            NodeKind::Bool(b) => Some(b),
            NodeKind::Null => None,
            _ => {
                self.error(node.span, format!("`{what}` must be `true` or `false`, found {}", kind_name(node)));
                None
            }
        }
    }

    /// Plans a list of requests and blocks.
    fn steps<'n>(
        &mut self,
        items: impl Iterator<Item = &'n Node>,
        d: &Defaults,
        root: &Root,
        scope: &mut Scope,
    ) -> Vec<Step> {
        let mut out = Vec::new();
        for item in items {
            self.step(item, d, root, scope, &mut out);
        }
        out
    }

    fn step(&mut self, node: &Node, d: &Defaults, root: &Root, scope: &mut Scope, out: &mut Vec<Step>) {
        let NodeKind::Map(m) = &node.kind else {
            if let Some(r) = self.request(node, d, scope) {
                out.push(Step::Request(Box::new(r)));
            }
            return;
        };
        let Some(block) = LOGIC_BLOCKS.iter().find(|b| m.contains_key(**b)) else {
            if let Some(r) = self.request(node, d, scope) {
                out.push(Step::Request(Box::new(r)));
            }
            return;
        };
        let (key_span, value) = &m[*block];
        match *block {
            "transaction" => {
                self.block_keys(m, "transaction", &["transaction", "do", "force-parent-sample", "include-timers"]);
                let Some(name) = scalar_text(value).filter(|n| !n.is_empty()) else {
                    self.error(value.span, "`transaction` must be the transaction's name");
                    return;
                };
                let Some(body) = self.block_body(m, node.span, "transaction", d, root, scope) else { return };
                let parent_only = match m.get("force-parent-sample") {
                    Some((_, v)) => self.flag(v, "force-parent-sample").unwrap_or(d.force_parent_sample),
                    None => d.force_parent_sample,
                };
                let include_timers =
                    m.get("include-timers").and_then(|(_, v)| self.flag(v, "include-timers")).unwrap_or(false);
                let label = self.label(&name);
                out.push(Step::Transaction(Transaction { label, steps: body, parent_only, include_timers }));
            }
            "include-scenario" => {
                self.block_keys(m, "include-scenario", &["include-scenario"]);
                let Some(name) = scalar_text(value) else {
                    self.error(value.span, "`include-scenario` must be the name of a scenario");
                    return;
                };
                out.extend(self.include(&name, value.span, d, root, scope));
            }
            "loop" => {
                self.block_keys(m, "loop", &["loop", "do"]);
                let count = match &value.kind {
                    NodeKind::Int(n) if *n >= 0 => Some(*n as u64),
                    NodeKind::Str(s) if s == "forever" => None,
                    _ => {
                        self.error_help(
                            value.span,
                            format!("`loop` must be a number of repetitions or `forever`, found {}", kind_name(value)),
                            "write e.g. `loop: 10` or `loop: forever`",
                        );
                        return;
                    }
                };
                let Some(body) = self.block_body(m, node.span, "loop", d, root, scope) else { return };
                if count.is_none() && !sends_requests(&body) {
                    self.error(*key_span, "this `loop: forever` sends no request: it would never end");
                    return;
                }
                out.push(Step::Loop { count, steps: body });
            }
            "once" => {
                self.block_keys(m, "once", &["once"]);
                let NodeKind::Seq(items) = &value.kind else {
                    self.error(value.span, format!("`once` must be a list of requests, found {}", kind_name(value)));
                    return;
                };
                let body = self.steps(items.iter(), d, root, scope);
                let index = scope.once_blocks;
                scope.once_blocks += 1;
                out.push(Step::Once { index, steps: body });
            }
            "set-variables" => {
                self.block_keys(m, "set-variables", &["set-variables"]);
                let NodeKind::Map(vars) = &value.kind else {
                    self.error(
                        value.span,
                        format!("`set-variables` must be a mapping of names to values, found {}", kind_name(value)),
                    );
                    return;
                };
                let mut set = Vec::new();
                for (name, (_, v)) in vars {
                    let Some(text) = scalar_text(v) else {
                        self.error(v.span, format!("`{name}` must be a text value, found {}", kind_name(v)));
                        continue;
                    };
                    self.uses(&text, v.span, scope);
                    scope.defined.insert(name.clone());
                    set.push((name.clone(), Template::parse(&text)));
                }
                out.push(Step::SetVariables(set));
            }
            "if" | "while" => self.unsupported(
                *key_span,
                &format!("the `{block}` block (its condition is a JMeter expression)"),
                "list the requests without the condition, or split the variants into separate scenarios",
            ),
            "foreach" => self.unsupported(
                *key_span,
                "the `foreach` block (it walks JMeter variable collections)",
                "use a `data-sources` CSV file with one row per value",
            ),
            "action" => {
                self.block_keys(m, "action", &["action", "target", "pause-duration"]);
                let kind = match scalar_text(value).as_deref() {
                    Some("pause") => ActionKind::Pause,
                    Some("stop") => ActionKind::Stop,
                    Some("stop-now") => ActionKind::StopNow,
                    Some("continue") => ActionKind::Continue,
                    other => {
                        let found = other.map_or_else(|| kind_name(value).to_string(), |t| format!("`{t}`"));
                        let message =
                            format!("`action` must be `pause`, `stop`, `stop-now` or `continue`, found {found}");
                        self.error(value.span, message);
                        return;
                    }
                };
                let all_users = match m.get("target").map(|(_, t)| (t, scalar_text(t))) {
                    None => false,
                    Some((_, Some(t))) if t == "current-thread" => false,
                    Some((_, Some(t))) if t == "all-threads" => true,
                    Some((t, _)) => {
                        self.error(t.span, "`target` must be `current-thread` or `all-threads`");
                        return;
                    }
                };
                let pause = m.get("pause-duration").and_then(|(_, v)| self.secs(v, "pause-duration"));
                if kind == ActionKind::Pause && pause.is_none() {
                    self.error_help(node.span, "a `pause` action needs a `pause-duration`", "add `pause-duration: 1s`");
                    return;
                }
                out.push(Step::Action(Action { kind, all_users, pause: pause.unwrap_or_default() }));
            }
            _ => self.unsupported(
                *key_span,
                &format!("the `{block}` block (Apiritif only)"),
                "put set-up requests in a `once` block",
            ),
        }
    }

    /// Rejects keys a block does not take.
    pub(super) fn block_keys(&mut self, m: &Map, block: &str, allowed: &[&str]) {
        for (key, (span, _)) in m {
            if !allowed.contains(&key.as_str()) {
                let help = did_you_mean_or(key, allowed, || format!("a `{block}` block takes: {}", allowed.join(", ")));
                self.error_help(*span, format!("unknown key `{key}` in a `{block}` block"), help);
            }
        }
    }

    /// The `do:` list of a block.
    fn block_body(
        &mut self,
        m: &Map,
        span: Span,
        block: &str,
        d: &Defaults,
        root: &Root,
        scope: &mut Scope,
    ) -> Option<Vec<Step>> {
        match m.get("do") {
            Some((_, Node { kind: NodeKind::Seq(items), .. })) => Some(self.steps(items.iter(), d, root, scope)),
            Some((_, other)) => {
                self.error(other.span, format!("`do` must be a list of requests, found {}", kind_name(other)));
                None
            }
            None => {
                self.error_help(span, format!("this `{block}` block has no `do`"), "add `do: [<requests>]`");
                None
            }
        }
    }

    /// `include-scenario`: the other scenario's steps, planned with its own settings over ours.
    fn include(&mut self, name: &str, span: Span, outer: &Defaults, root: &Root, scope: &mut Scope) -> Vec<Step> {
        if scope.path.iter().any(|p| p == name) {
            let chain = scope.path.iter().map(String::as_str).chain([name]).collect::<Vec<_>>().join(" → ");
            self.error(span, format!("`include-scenario` loops: {chain}"));
            return Vec::new();
        }
        let Some(sc) = root.scenarios.get(name) else {
            let names: Vec<&str> = root.scenarios.keys().map(String::as_str).collect();
            let help = suggest(name, &names).map_or_else(
                || {
                    format!(
                        "scenarios defined: {}",
                        names.iter().map(|n| format!("`{n}`")).collect::<Vec<_>>().join(", ")
                    )
                },
                |s| format!("did you mean `{s}`?"),
            );
            self.error_help(span, format!("unknown scenario `{name}` in `include-scenario`"), help);
            return Vec::new();
        };
        let d = self.scenario_defaults(&sc.value, outer, scope);
        self.scenario_steps(name, &sc.value, sc.span, &d, root, scope).unwrap_or_default()
    }

    /// Records the `${name}` placeholders of `text` (and rejects JMeter functions in it).
    pub(super) fn uses(&mut self, text: &str, span: Span, scope: &mut Scope) {
        self.check_jmeter_functions(text, span);
        for name in Template::parse(text).vars() {
            let needle = format!("${{{name}}}");
            let at = text.find(&needle).map_or(span, |i| self.loaded.sources.inner_span(span, text, i, needle.len()));
            scope.used.push((name.to_string(), at));
        }
    }

    /// Every `${name}` must be set by something, or it would be sent as written.
    fn check_variables(&mut self, scope: &Scope) {
        if scope.incomplete {
            return;
        }
        let mut seen = HashSet::new();
        for (name, span) in &scope.used {
            if scope.defined.contains(name) || !seen.insert((name.clone(), *span)) {
                continue;
            }
            let family = scope.defined_families.iter().any(|f| {
                name.strip_prefix(f.as_str()).and_then(|rest| rest.strip_prefix('_')).is_some_and(|rest| {
                    rest == "matchNr" || rest == "ALL" || (!rest.is_empty() && rest.chars().all(|c| c.is_ascii_digit()))
                })
            });
            if family {
                continue;
            }
            let defined: Vec<&str> = scope.defined.iter().map(String::as_str).collect();
            let help = did_you_mean_or(name, &defined, || {
                "set it in the scenario's `variables:`, a `data-sources` CSV column, an `extract-*` of a request or `set-variables`; `${NAME}` from `settings.env` or the OS environment is filled in when the file is read".to_string()
            });
            self.error_help(*span, format!("variable `{name}` is never set"), help);
        }
    }

    pub(super) fn think_time(&mut self, node: &Node) -> Option<ThinkTime> {
        if let NodeKind::Str(s) = &node.kind {
            let t = s.trim();
            if let Some((func, args)) = t.strip_suffix(')').and_then(|t| t.split_once('(')) {
                let func = func.trim();
                let args: Vec<&str> = args.split(',').map(str::trim).collect();
                let known = ["uniform", "gaussian", "poisson"];
                if !known.contains(&func) {
                    let help = did_you_mean_or(func, &known, || {
                        "use a time such as `500ms`, or `uniform(mean, dev)`, `gaussian(mean, dev)`, `poisson(mean, offset)`".to_string()
                    });
                    self.error_help(node.span, format!("unknown think-time distribution `{func}`"), help);
                    return None;
                }
                let secs: Vec<f64> =
                    args.iter().filter_map(|a| parse_secs(a).ok()).filter(|v| v.is_finite() && *v >= 0.0).collect();
                let [a, b] = secs[..] else {
                    self.error_help(
                        node.span,
                        format!("`{t}` needs two times, e.g. `{func}(1s, 200ms)`"),
                        "the first is the mean, the second the deviation (uniform, gaussian) or the offset (poisson)",
                    );
                    return None;
                };
                return match func {
                    "uniform" if b <= a => Some(ThinkTime::Uniform {
                        min: Duration::from_secs_f64(a - b),
                        range: Duration::from_secs_f64(2.0 * b),
                    }),
                    "gaussian" => {
                        Some(ThinkTime::Gaussian { mean: Duration::from_secs_f64(a), dev: Duration::from_secs_f64(b) })
                    }
                    "poisson" if b <= a => {
                        Some(ThinkTime::Poisson { lambda_ms: (a - b) * 1000.0, offset: Duration::from_secs_f64(b) })
                    }
                    _ => {
                        self.error(
                            node.span,
                            format!("in `{t}` the second time must not exceed the first (the pause would be negative)"),
                        );
                        None
                    }
                };
            }
        }
        self.secs(node, "think-time").map(ThinkTime::Constant)
    }

    pub(super) fn check_jmeter_functions(&mut self, text: &str, span: Span) {
        if let Some(pos) = text.find("${__") {
            let end = text[pos..].find('}').map_or(text.len(), |e| pos + e + 1);
            let func = &text[pos..end];
            let at = self.loaded.sources.inner_span(span, text, pos, end - pos);
            self.unsupported(
                at,
                &format!("the JMeter function `{func}`"),
                "use `${NAME}` from `settings.env` or the OS environment, or scenario `variables:`",
            );
        }
    }

    fn request(&mut self, node: &Node, d: &Defaults, scope: &mut Scope) -> Option<RequestPlan> {
        let req: Request = match &node.kind {
            NodeKind::Str(url) => {
                Request { url: Spanned { value: url.clone(), span: node.span }, ..Default::default() }
            }
            NodeKind::Map(_) => match from_node::<Request>(node) {
                Ok(r) => r,
                Err(diag) => {
                    self.diags.push(diag);
                    return None;
                }
            },
            _ => {
                self.error(
                    node.span,
                    format!("a request must be a URL or a mapping with `url`, found {}", kind_name(node)),
                );
                return None;
            }
        };
        for (key, value, help) in [
            ("assert-xpath", &req.assert_xpath, "suite has no XML parser; assert on the body with a regex in `assert`"),
            ("extract-xpath", &req.extract_xpath, "use `extract-regexp` or `extract-boundary`"),
            ("extract-css-jquery", &req.extract_css_jquery, "use `extract-regexp` or `extract-boundary`"),
            ("jsr223", &req.jsr223, "JSR223 scripts run inside JMeter; use extractors and `set-variables`"),
            ("content-encoding", &req.content_encoding, "send the body already encoded"),
        ] {
            if let Some(v) = value {
                self.unsupported(v.span, &format!("request `{key}`"), help);
            }
        }
        let url_text = req.url.value.trim().to_string();
        self.uses(&url_text, req.url.span, scope);
        let url = if url_text.starts_with("http://") || url_text.starts_with("https://") || url_text.starts_with("${") {
            url_text.clone()
        } else if let Some(base) = &d.address {
            format!("{base}/{}", url_text.trim_start_matches('/'))
        } else {
            self.error_help(
                req.url.span,
                format!("`{url_text}` is not an absolute URL and the scenario has no `default-address`"),
                "write `http://host:port/path`, or set `default-address: http://host:port` in the scenario",
            );
            return None;
        };
        let url_t = Template::parse(&url);
        let url = if url_t.is_literal() {
            match url::Url::parse(&url) {
                Ok(u) if matches!(u.scheme(), "http" | "https") => Value::Fixed(u),
                Ok(u) => {
                    self.error(req.url.span, format!("`{url}`: scheme `{}` is not HTTP or HTTPS", u.scheme()));
                    return None;
                }
                Err(e) => {
                    self.error(req.url.span, format!("`{url}` is not a valid URL: {e}"));
                    return None;
                }
            }
        } else {
            Value::Template(url_t)
        };
        let label_text = req.label.as_ref().map(|l| l.value.clone()).unwrap_or_else(|| url_text.clone());
        let label = self.label(&label_text);
        let method_text = req.method.as_ref().map(|m| m.value.clone()).unwrap_or_else(|| "GET".to_string());
        let method = if method_text.contains("${") {
            if let Some(m) = &req.method {
                self.uses(&m.value, m.span, scope);
            }
            Value::Template(Template::parse(&method_text))
        } else {
            let upper = method_text.to_ascii_uppercase();
            match http::Method::from_bytes(upper.as_bytes()) {
                Ok(m) => Value::Fixed(m),
                Err(_) => {
                    self.error(
                        req.method.as_ref().map_or(node.span, |m| m.span),
                        format!("`{method_text}` is not an HTTP method"),
                    );
                    return None;
                }
            }
        };

        // Request headers override scenario headers, names compared without case.
        let mut headers: Vec<(String, String)> = d.headers.clone();
        if let Some(h) = &req.headers {
            for (k, v) in &h.value {
                self.uses(&v.value, v.span, scope);
                headers.retain(|(name, _)| !name.eq_ignore_ascii_case(k));
                headers.push((k.clone(), v.value.clone()));
            }
        }
        let content_type =
            headers.iter().find(|(k, _)| k.eq_ignore_ascii_case("content-type")).map(|(_, v)| v.to_ascii_lowercase());
        let mut body = None;
        if let Some(b) = &req.body {
            if req.body_file.is_some() {
                self.warn(b.span, "both `body` and `body-file` are set; `body` wins (as in Taurus)");
            }
            if req.upload_files.is_none() {
                let text = match &b.value.kind {
                    NodeKind::Null => None,
                    NodeKind::Map(m) => {
                        let nested = m.values().any(|(_, v)| matches!(v.kind, NodeKind::Map(_) | NodeKind::Seq(_)));
                        if nested || content_type.as_deref().is_some_and(|c| c.contains("json")) {
                            Some(serde_json::to_string(&super::to_json(&b.value)).unwrap_or_default())
                        } else {
                            if content_type.is_none() {
                                headers.push((
                                    "Content-Type".to_string(),
                                    "application/x-www-form-urlencoded".to_string(),
                                ));
                            }
                            Some(super::form_encode(
                                m.iter().map(|(k, (_, v))| (k.as_str(), scalar_text(v).unwrap_or_default())),
                            ))
                        }
                    }
                    NodeKind::Seq(_) => Some(serde_json::to_string(&super::to_json(&b.value)).unwrap_or_default()),
                    _ => scalar_text(&b.value),
                };
                if let Some(text) = text {
                    self.uses(&text, b.span, scope);
                    body = Some(text_body(text));
                }
            }
        } else if let Some(file) = &req.body_file {
            if req.upload_files.is_none() {
                let bytes = self.read_file(&file.value, file.span, "body-file")?;
                body = Some(match String::from_utf8(bytes) {
                    Ok(text) => {
                        self.uses(&text, file.span, scope);
                        text_body(text)
                    }
                    // Binary files go out byte for byte.
                    Err(e) => Body::Fixed(Bytes::from(e.into_bytes())),
                });
            }
        }
        if let Some(files) = &req.upload_files {
            body = Some(self.multipart(files, req.body.as_ref(), &req.method, scope)?);
            headers.retain(|(k, _)| !k.eq_ignore_ascii_case("content-type"));
            headers.push(("Content-Type".to_string(), format!("multipart/form-data; boundary={BOUNDARY}")));
        }
        if !d.keepalive || req.keepalive.as_ref().is_some_and(|k| !k.value) {
            headers.retain(|(k, _)| !k.eq_ignore_ascii_case("connection"));
            headers.push(("Connection".to_string(), "close".to_string()));
        }
        let mut parsed_headers = Vec::with_capacity(headers.len());
        for (name, value) in &headers {
            let span = req.headers.as_ref().map_or(node.span, |h| h.span);
            let Ok(header_name) = HeaderName::from_bytes(name.as_bytes()) else {
                self.error(span, format!("`{name}` is not a valid HTTP header name"));
                continue;
            };
            let t = Template::parse(value);
            let v = if t.is_literal() {
                match HeaderValue::from_str(value) {
                    Ok(v) => Value::Fixed(v),
                    Err(_) => {
                        self.error(span, format!("header `{name}: {value}` is not a valid HTTP header value"));
                        continue;
                    }
                }
            } else {
                Value::Template(t)
            };
            parsed_headers.push((header_name, v));
        }
        let think_time = match &req.think_time {
            Some(t) => self.think_time(&t.value),
            None => d.think_time,
        };
        let timeouts = self.timeouts(&req.timeout, &req.connect_timeout, &req.read_timeout, d.timeouts);
        let mut assertions = Vec::new();
        if let Some(a) = &req.assert {
            self.assertions(a, scope, &mut assertions);
        }
        if let Some(a) = &req.assert_jsonpath {
            self.jsonpath_assertions(a, &mut assertions);
        }
        let mut extractors = Vec::new();
        for (kind, node) in [
            ("extract-regexp", &req.extract_regexp),
            ("extract-jsonpath", &req.extract_jsonpath),
            ("extract-boundary", &req.extract_boundary),
        ] {
            if let Some(n) = node {
                self.extractors(kind, n, scope, &mut extractors);
            }
        }
        let reads = |s: Subject| {
            assertions.iter().any(|a| match a {
                Assertion::Contains { subject, .. } => *subject == s,
                Assertion::JsonPath { .. } => s == Subject::Body,
            }) || extractors.iter().any(|e| e.source == Source::Response(s))
        };
        let (needs_body, needs_headers, needs_url) =
            (reads(Subject::Body), reads(Subject::Headers), reads(Subject::Url));
        Some(RequestPlan {
            label,
            method,
            url,
            headers: parsed_headers,
            body,
            think_time,
            timeouts,
            follow_redirects: req.follow_redirects.as_ref().map_or(d.follow_redirects, |f| f.value),
            assertions,
            extractors,
            needs_body,
            needs_headers,
            needs_url,
        })
    }

    /// Reads a file named in the config, or reports why it cannot.
    pub(super) fn read_file(&mut self, text: &str, span: Span, what: &str) -> Option<Vec<u8>> {
        let path = self.resolve_path(text, span);
        match std::fs::read(&path) {
            Ok(bytes) => Some(bytes),
            Err(e) => {
                self.error_help(
                    span,
                    format!("cannot read {what} `{text}`: {e}"),
                    format!("looked for `{}`; relative paths start at the folder of the file that names them, then the current folder", path.display()),
                );
                None
            }
        }
    }

    /// `upload-files`: a multipart/form-data body of the `body` fields and the files.
    fn multipart(
        &mut self,
        files: &Spanned<Node>,
        fields: Option<&Spanned<Node>>,
        method: &Option<Spanned<String>>,
        scope: &mut Scope,
    ) -> Option<Body> {
        if let Some(m) = method {
            if !m.value.contains("${") && !matches!(m.value.to_ascii_uppercase().as_str(), "POST" | "PUT" | "PATCH") {
                self.error(m.span, format!("`upload-files` needs method POST, PUT or PATCH, not `{}`", m.value));
                return None;
            }
        } else {
            self.error_help(files.span, "`upload-files` needs a method with a body", "add `method: POST`");
            return None;
        }
        let mut chunks = Vec::new();
        let mut lit = String::new();
        if let Some(f) = fields {
            match &f.value.kind {
                NodeKind::Map(m) => {
                    for (name, (_, v)) in m {
                        let text = scalar_text(v).unwrap_or_default();
                        self.uses(&text, v.span, scope);
                        lit.push_str(&format!(
                            "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{}\"\r\n\r\n",
                            quote_field(name)
                        ));
                        chunks.push(Chunk::Fixed(Bytes::from(std::mem::take(&mut lit))));
                        chunks.push(Chunk::Template(Template::parse(&text)));
                        lit.push_str("\r\n");
                    }
                }
                NodeKind::Null => {}
                _ => {
                    self.error(f.span, "with `upload-files`, `body` must be a mapping of form fields");
                    return None;
                }
            }
        }
        let items: Vec<&Node> = match &files.value.kind {
            NodeKind::Seq(items) => items.iter().collect(),
            _ => {
                self.error(files.span, format!("`upload-files` must be a list, found {}", kind_name(&files.value)));
                return None;
            }
        };
        for item in items {
            let NodeKind::Map(m) = &item.kind else {
                self.error(item.span, "an `upload-files` entry must be a mapping with `param` and `path`");
                continue;
            };
            self.block_keys(m, "upload-files", &["param", "path", "mime-type"]);
            let text = |key: &str| m.get(key).and_then(|(_, v)| scalar_text(v));
            let (Some(param), Some(path)) = (text("param"), text("path")) else {
                self.error_help(
                    item.span,
                    "this `upload-files` entry needs `param` and `path`",
                    "e.g. `{param: file, path: data.bin}`",
                );
                continue;
            };
            let path_span = m["path"].1.span;
            if path.contains("${") {
                self.error(path_span, "an upload path cannot use variables: the file is read before the test");
                continue;
            }
            let Some(bytes) = self.read_file(&path, path_span, "upload file") else { continue };
            let file_name = Path::new(&path).file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            let mime = text("mime-type").unwrap_or_else(|| guess_mime(&file_name).to_string());
            lit.push_str(&format!(
                "--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{}\"; filename=\"{}\"\r\nContent-Type: {mime}\r\n\r\n",
                quote_field(&param),
                quote_field(&file_name)
            ));
            chunks.push(Chunk::Fixed(Bytes::from(std::mem::take(&mut lit))));
            chunks.push(Chunk::Fixed(Bytes::from(bytes)));
            lit.push_str("\r\n");
        }
        lit.push_str(&format!("--{BOUNDARY}--\r\n"));
        chunks.push(Chunk::Fixed(Bytes::from(lit)));
        Some(Body::Parts(chunks))
    }

    /// A path named in a config file: relative to that file's folder if it exists there, else to the current folder.
    pub(super) fn resolve_path(&self, text: &str, span: Span) -> PathBuf {
        let path = Path::new(text);
        if path.is_absolute() {
            return path.to_path_buf();
        }
        let beside = self.loaded.sources.get(span.source).path().and_then(Path::parent).map(|dir| dir.join(path));
        match beside {
            Some(p) if p.exists() => p,
            _ => path.to_path_buf(),
        }
    }
}

/// Whether steps send at least one request (so a `forever` loop makes progress).
fn sends_requests(steps: &[Step]) -> bool {
    steps.iter().any(|s| match s {
        Step::Request(_) => true,
        Step::Transaction(t) => sends_requests(&t.steps),
        Step::Loop { steps, .. } | Step::Once { steps, .. } => sends_requests(steps),
        Step::SetVariables(_) => false,
        // Not a request, but it waits or leaves the loop: no busy loop either.
        Step::Action(a) => a.kind != ActionKind::Pause || !a.pause.is_zero(),
    })
}

/// A text body: fixed bytes unless it has placeholders.
fn text_body(text: String) -> Body {
    let t = Template::parse(&text);
    if t.is_literal() {
        Body::Fixed(Bytes::from(text))
    } else {
        Body::Template(t)
    }
}

/// A form field or file name inside a quoted header parameter.
fn quote_field(name: &str) -> String {
    name.replace('\\', "\\\\").replace('"', "\\\"").replace(['\r', '\n'], " ")
}

/// The MIME type of common upload files by extension (JMeter guesses too).
fn guess_mime(file_name: &str) -> &'static str {
    let ext = file_name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase()).unwrap_or_default();
    let table: HashMap<&str, &str> = HashMap::from([
        ("json", "application/json"),
        ("txt", "text/plain"),
        ("csv", "text/csv"),
        ("xml", "application/xml"),
        ("html", "text/html"),
        ("htm", "text/html"),
        ("png", "image/png"),
        ("jpg", "image/jpeg"),
        ("jpeg", "image/jpeg"),
        ("gif", "image/gif"),
        ("pdf", "application/pdf"),
        ("zip", "application/zip"),
        ("gz", "application/gzip"),
    ]);
    table.get(ext.as_str()).copied().unwrap_or("application/octet-stream")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mime_types_by_extension() {
        assert_eq!(guess_mime("a.JSON"), "application/json");
        assert_eq!(guess_mime("image.jpeg"), "image/jpeg");
        assert_eq!(guess_mime("blob"), "application/octet-stream");
    }

    #[test]
    fn field_names_are_quoted() {
        assert_eq!(quote_field("a\"b\nc"), "a\\\"b c");
    }
}
