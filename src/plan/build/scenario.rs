//! Planning scenarios: settings that requests inherit, cookies, authorization, think times and
//! the check that every `${name}` is set somewhere (requests are in `requests.rs`, logic blocks in
//! `blocks.rs`, response checks in `checks.rs`, CSV files in `data.rs`). JMeter-only features are
//! named in a clear error.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use http::HeaderValue;

use super::limits::{DEFAULT_BODY_SEEN, MAX_BODY_SEEN};
use super::{did_you_mean_or, Builder};
use crate::config::de::Spanned;
use crate::config::model::{CookieEntry, Root, Scenario};
use crate::config::source::Span;
use crate::config::value::{ByteSize, TimeValue};
use crate::config::{Node, NodeKind};
use crate::criteria::Spec;
use crate::plan::data::DataSource;
use crate::plan::scenario::{BasicAuth, Cookie, HttpVersion, ScenarioPlan, Step, Template, ThinkTime, Timeouts};

/// Timeout of requests that set none (Taurus's documented default).
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// Scenario-level settings that requests inherit (an included scenario inherits the including one's).
#[derive(Clone)]
pub(super) struct Defaults {
    pub(super) address: Option<String>,
    pub(super) headers: Vec<(String, String)>,
    pub(super) think_time: Option<ThinkTime>,
    pub(super) timeouts: Timeouts,
    pub(super) keepalive: bool,
    pub(super) follow_redirects: bool,
    pub(super) force_parent_sample: bool,
    /// The most of a response body checks see (`max-body-seen`).
    pub(super) body_seen: usize,
    /// Which HTTP versions requests may speak (`http-version`).
    pub(super) http_version: HttpVersion,
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
            body_seen: DEFAULT_BODY_SEEN,
            http_version: HttpVersion::Auto,
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
    pub(super) path: Vec<String>,
    pub(super) once_blocks: usize,
    /// gRPC calls planned so far (each gets its own channel set).
    pub(super) grpc_calls: usize,
    pub(super) variables: Vec<(String, Template)>,
    pub(super) data_sources: Vec<Arc<DataSource>>,
    pub(super) tls_verify: bool,
    /// `cookies:` of the scenario and the scenarios it includes.
    pub(super) cookies: Vec<Cookie>,
    /// `authorization:` entries of the scenario and the scenarios it includes.
    pub(super) auth: Vec<BasicAuth>,
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
            interleave_blocks: 0,
            rendezvous: 0,
            pacers: 0,
            grpc_calls: scope.grpc_calls,
            on_error: Default::default(),
            clear_cookies_each_iteration: false,
            first_thread_num: 1,
            functions: Default::default(),
        })
    }

    /// The steps of one scenario (the top one or an included one), after its own settings.
    pub(super) fn scenario_steps(
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
                script.value.scalar_text().map(|s| format!("`script: {s}`")).unwrap_or_else(|| "`script:`".into());
            // A `.jmx` plan or an `executor: k6`/`locust` execution never gets here: this is a
            // script with no executor that runs it (or one included into a `requests:` scenario).
            self.error_help(
                script.span,
                format!("{what} needs an executor that runs it"),
                "a JMeter plan (`.jmx`) runs as it is; for a k6 or Locust script set `executor: k6` or \
                 `executor: locust` on the execution; or describe the requests under `requests:`",
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
            // A name set again (by an included scenario) moves to the end with its new value. The
            // names of one mapping are unique, so one pass drops the old entries: linear, where a
            // removal per name was quadratic in the number of variables.
            scope.variables.retain(|(name, _)| !vars.value.contains_key(name));
            for (k, v) in &vars.value {
                self.uses(&v.value, v.span, scope);
                scope.defined.insert(k.clone());
                scope.variables.push((k.clone(), Template::parse(&v.value)));
            }
        }
        let cookies: Vec<CookieEntry> = sc.cookies.as_ref().and_then(|c| self.read(c)).unwrap_or_default();
        scope.cookies.extend(cookies.into_iter().map(|c| Cookie {
            name: c.name,
            value: c.value,
            domain: c.domain.trim_start_matches('.').to_ascii_lowercase(),
            host_only: false,
            path: c.path.filter(|p| p.starts_with('/')).unwrap_or_else(|| "/".into()),
            secure: c.secure,
            expires: None,
        }));
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
    pub(super) fn scenario_defaults(&mut self, sc: &Scenario, outer: &Defaults, scope: &mut Scope) -> Defaults {
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
            d.think_time = self.think_time(t);
        }
        d.timeouts = self.timeouts(&sc.timeout, &sc.connect_timeout, &sc.read_timeout, d.timeouts);
        if let Some(k) = &sc.keepalive {
            d.keepalive = k.value;
        }
        if let Some(f) = &sc.follow_redirects {
            d.follow_redirects = f.value;
        }
        if let Some(f) = &sc.force_parent_sample {
            d.force_parent_sample = f.value;
        }
        if let Some(v) = &sc.tls_verify {
            scope.tls_verify &= v.value;
        }
        d.body_seen = self.body_seen(&sc.max_body_seen, d.body_seen);
        if let Some(v) = sc.http_version.as_ref().and_then(|v| self.http_version(v)) {
            d.http_version = v;
        }
        d
    }

    /// `max-body-seen`, within its limit, or the inherited value.
    pub(super) fn body_seen(&mut self, size: &Option<Spanned<ByteSize>>, inherited: usize) -> usize {
        match size {
            Some(s) if s.0 > MAX_BODY_SEEN => {
                self.error_help(
                    s.span,
                    format!("`max-body-seen` is at most {MAX_BODY_SEEN} bytes (1GB), found {}", s.0),
                    "every virtual user may hold that much of a response at once; see docs/limits.md",
                );
                inherited
            }
            Some(s) => usize::try_from(s.0).unwrap_or(usize::MAX),
            None => inherited,
        }
    }

    pub(super) fn timeouts(
        &mut self,
        timeout: &Option<Spanned<TimeValue>>,
        connect: &Option<Spanned<TimeValue>>,
        read: &Option<Spanned<TimeValue>>,
        inherited: Timeouts,
    ) -> Timeouts {
        // Taurus's `timeout` is JMeter's connect and response timeout at once.
        let both = timeout.as_ref().map(|t| t.0).filter(|t| !t.is_zero());
        let mut out = both.map_or(inherited, |t| Timeouts { connect: t, read: t });
        if let Some(c) = connect {
            out.connect = c.0;
        }
        if let Some(r) = read {
            out.read = r.0;
        }
        out
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
                let found = node.value.describe();
                self.error_help(node.span, format!("`authorization` must be a list, found {found}"), HELP);
                return;
            }
        };
        for item in list {
            let NodeKind::Map(m) = &item.kind else {
                self.error_help(
                    item.span,
                    format!("an authorization must be a mapping, found {}", item.describe()),
                    HELP,
                );
                continue;
            };
            self.block_keys(m, "authorization", &["url", "name", "password", "domain", "realm", "mechanism"]);
            let text = |key: &str| m.get(key).and_then(|(_, v)| v.scalar_text()).map(String::from);
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
        let mut defined: Option<Vec<&str>> = None;
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
            let defined = defined.get_or_insert_with(|| scope.defined.iter().map(String::as_str).collect());
            let help = did_you_mean_or(name, defined.iter().copied(), || {
                "set it in the scenario's `variables:`, a `data-sources` CSV column, an `extract-*` of a request or `set-variables`; `${NAME}` from `settings.env` or the OS environment is filled in when the file is read".to_string()
            });
            self.error_help(*span, format!("variable `{name}` is never set"), help);
        }
    }

    /// A think time: a time value, or `uniform(mean, dev)`, `gaussian(mean, dev)`, `poisson(mean, offset)`.
    pub(super) fn think_time(&mut self, text: &Spanned<String>) -> Option<ThinkTime> {
        let t = text.trim();
        let Some((func, args)) = t.strip_suffix(')').and_then(|t| t.split_once('(')) else {
            return match TimeValue::parse(t) {
                Ok(time) => Some(ThinkTime::Constant(time.0)),
                Err(e) => {
                    self.error(text.span, format!("`think-time`: {e}"));
                    None
                }
            };
        };
        let func = func.trim();
        let known = ["uniform", "gaussian", "poisson"];
        if !known.contains(&func) {
            let help = did_you_mean_or(func, &known, || {
                "use a time such as `500ms`, or `uniform(mean, dev)`, `gaussian(mean, dev)`, `poisson(mean, offset)`"
                    .to_string()
            });
            self.error_help(text.span, format!("unknown think-time distribution `{func}`"), help);
            return None;
        }
        let times: Vec<f64> =
            args.split(',').filter_map(|a| TimeValue::parse(a.trim()).ok()).map(|t| t.0.as_secs_f64()).collect();
        let [a, b] = times[..] else {
            self.error_help(
                text.span,
                format!("`{t}` needs two times, e.g. `{func}(1s, 200ms)`"),
                "the first is the mean, the second the deviation (uniform, gaussian) or the offset (poisson)",
            );
            return None;
        };
        match func {
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
                    text.span,
                    format!("in `{t}` the second time must not exceed the first (the pause would be negative)"),
                );
                None
            }
        }
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
}
