//! From the located element tree ([`super::xml`]) to the typed model ([`super::model`]):
//! disabled elements are skipped with their children, listeners are set aside (one info line),
//! and every unsupported element, bad value or bad `${…}` is an error; all of them are
//! collected, not just the first.

use std::collections::HashSet;

use crate::config::{Diagnostic, Sources, Span};

use super::model::*;
use super::template;
use super::xml::{Element, ElementProp, Prop, PropValue, Props, ScalarKind};

/// Listener classes: they only watch results, so a run without them sends the same load.
const LISTENERS: &[&str] = &[
    "ResultCollector",
    "BackendListener",
    "Summariser",
    "ResultSaver",
    "kg.apc.jmeter.vizualizers.CorrectedResultCollector",
    "kg.apc.jmeter.perfmon.PerfMonCollector",
    "kg.apc.jmeter.listener.GraphsGeneratorListener",
];

/// Every element class this reader understands (for did-you-mean).
pub const SUPPORTED: &[&str] = &[
    "TestPlan",
    "Arguments",
    "ConfigTestElement",
    "HeaderManager",
    "CookieManager",
    "CSVDataSet",
    "AuthManager",
    "ThreadGroup",
    "SetupThreadGroup",
    "PostThreadGroup",
    "HTTPSamplerProxy",
    "TestAction",
    "LoopController",
    "OnceOnlyController",
    "TransactionController",
    "RandomOrderController",
    "RandomController",
    "InterleaveControl",
    "IfController",
    "WhileController",
    "GenericController",
    "ConstantTimer",
    "UniformRandomTimer",
    "GaussianRandomTimer",
    "SyncTimer",
    "ConstantThroughputTimer",
    "RegexExtractor",
    "JSONPostProcessor",
    "BoundaryExtractor",
    "ResponseAssertion",
    "DurationAssertion",
    "JSONPathAssertion",
];

/// A listener that was left out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ignored {
    /// Its class.
    pub testclass: String,
    /// Its name.
    pub name: String,
    /// Its tag.
    pub span: Span,
}

/// Collects the model and the errors.
pub(crate) struct Reader<'a> {
    pub(crate) sources: &'a Sources,
    pub(crate) errors: Vec<Diagnostic>,
    pub(crate) listeners: Vec<Ignored>,
    /// Offsets of the values already parsed as templates.
    checked: HashSet<usize>,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(sources: &'a Sources) -> Self {
        Reader { sources, errors: Vec::new(), listeners: Vec::new(), checked: HashSet::new() }
    }

    /// The enabled, supported elements of `elements` with their children.
    pub(crate) fn nodes(&mut self, elements: &[Element]) -> Vec<Node> {
        elements.iter().filter(|e| e.enabled).filter_map(|e| self.node(e)).collect()
    }

    fn node(&mut self, e: &Element) -> Option<Node> {
        if is_listener(e) {
            self.listeners.push(Ignored { testclass: e.testclass.clone(), name: e.testname.clone(), span: e.span });
            return None;
        }
        let name = Fields { r: self, e, props: &e.props }.template(&e.testname, e.testname_span, "the name");
        let kind = self.kind(e);
        if kind.is_some() {
            // JMeter substitutes every string property, read by the model or not.
            let f = &mut Fields { r: self, e, props: &e.props };
            f.check_rest(&e.props.0);
        }
        // Children are read even under an unsupported element, so every problem is named.
        let children = self.nodes(&e.children);
        let meta = Meta { testclass: e.testclass.clone(), name, span: e.span };
        Some(Node { meta, kind: kind?, children })
    }

    fn kind(&mut self, e: &Element) -> Option<Kind> {
        let f = &mut Fields { r: self, e, props: &e.props };
        Some(match e.testclass.as_str() {
            "TestPlan" => {
                let variables = f.arguments("TestPlan.user_defined_variables");
                Kind::TestPlan(TestPlan {
                    variables,
                    serialize_threadgroups: f.bool("TestPlan.serialize_threadgroups", false),
                    teardown_on_shutdown: f.bool("TestPlan.tearDown_on_shutdown", false),
                    functional_mode: f.bool("TestPlan.functional_mode", false),
                })
            }
            "Arguments" => Kind::Arguments(f.argument_list("Arguments.arguments")),
            "ConfigTestElement" if is_http_defaults(e) => Kind::HttpDefaults(Box::new(f.http())),
            "HeaderManager" => Kind::Headers(
                f.elements("HeaderManager.headers")
                    .iter()
                    .map(|h| {
                        let g = &mut f.nested(&h.props);
                        (g.text("Header.name"), g.text("Header.value"))
                    })
                    .collect(),
            ),
            "CookieManager" => Kind::Cookies(Cookies {
                clear_each_iteration: f.bool("CookieManager.clearEachIteration", false),
                cookies: f
                    .named_elements("CookieManager.cookies")
                    .into_iter()
                    .map(|(name, c)| {
                        let g = &mut f.nested(&c.props);
                        Cookie {
                            name,
                            value: g.text("Cookie.value"),
                            domain: g.text("Cookie.domain"),
                            path: g.text("Cookie.path"),
                        }
                    })
                    .collect(),
            }),
            "CSVDataSet" => Kind::CsvDataSet(CsvDataSet {
                filename: f.text("filename"),
                encoding: f.text("fileEncoding"),
                variable_names: f.text("variableNames"),
                ignore_first_line: f.bool("ignoreFirstLine", false),
                delimiter: f.text("delimiter"),
                quoted: f.bool("quotedData", false),
                recycle: f.bool("recycle", true),
                stop_thread: f.bool("stopThread", false),
                share_mode: f.text("shareMode"),
            }),
            "AuthManager" => Kind::Auth(f.auth()),
            "ThreadGroup" | "SetupThreadGroup" | "PostThreadGroup" => Kind::ThreadGroup(f.thread_group()),
            "HTTPSamplerProxy" => Kind::Http(Box::new(f.http())),
            "TestAction" => Kind::TestAction(f.test_action()),
            "LoopController" => Kind::Controller(Controller::Loop {
                loops: f.text("LoopController.loops"),
                forever: f.bool("LoopController.continue_forever", false),
            }),
            "OnceOnlyController" => Kind::Controller(Controller::OnceOnly),
            "TransactionController" => Kind::Controller(Controller::Transaction {
                parent: f.bool("TransactionController.parent", false),
                include_timers: f.bool("TransactionController.includeTimers", true),
            }),
            "RandomOrderController" => Kind::Controller(Controller::RandomOrder),
            "RandomController" => Kind::Controller(Controller::Random {
                ignore_sub_controllers: f.int("InterleaveControl.style", 0) == 0,
            }),
            "InterleaveControl" => Kind::Controller(Controller::Interleave {
                ignore_sub_controllers: f.int("InterleaveControl.style", 0) == 0,
                across_threads: f.bool("InterleaveControl.accrossThreads", false),
            }),
            "IfController" => Kind::Controller(Controller::If {
                condition: f.raw("IfController.condition"),
                use_expression: f.bool("IfController.useExpression", false),
                evaluate_all: f.bool("IfController.evaluateAll", false),
            }),
            "WhileController" => Kind::Controller(Controller::While { condition: f.raw("WhileController.condition") }),
            "GenericController" => Kind::Controller(Controller::Generic),
            "ConstantTimer" => Kind::Timer(Timer::Constant { delay: f.text("ConstantTimer.delay") }),
            "UniformRandomTimer" => Kind::Timer(Timer::UniformRandom {
                delay: f.text("ConstantTimer.delay"),
                range: f.text("RandomTimer.range"),
            }),
            "GaussianRandomTimer" => Kind::Timer(Timer::Gaussian {
                delay: f.text("ConstantTimer.delay"),
                deviation: f.text("RandomTimer.range"),
            }),
            "SyncTimer" => {
                Kind::Timer(Timer::Sync { group_size: f.text("groupSize"), timeout_ms: f.text("timeoutInMs") })
            }
            "ConstantThroughputTimer" => Kind::Timer(Timer::ConstantThroughput {
                per_minute: f.text("throughput"),
                calc_mode: f.int("calcMode", 0),
            }),
            "RegexExtractor" => Kind::Extractor(Extractor::Regex {
                field: f.field("RegexExtractor.useHeaders")?,
                variable: f.text("RegexExtractor.refname"),
                regex: f.text("RegexExtractor.regex"),
                template: f.text("RegexExtractor.template"),
                default: f.text("RegexExtractor.default"),
                match_number: f.text("RegexExtractor.match_number"),
            }),
            "JSONPostProcessor" => Kind::Extractor(Extractor::Json {
                variables: f.text("JSONPostProcessor.referenceNames"),
                expressions: f.text("JSONPostProcessor.jsonPathExprs"),
                match_numbers: f.text("JSONPostProcessor.match_numbers"),
                defaults: f.text("JSONPostProcessor.defaultValues"),
                concat: f.bool("JSONPostProcessor.compute_concat", false),
            }),
            "BoundaryExtractor" => Kind::Extractor(Extractor::Boundary {
                field: f.field("BoundaryExtractor.useHeaders")?,
                variable: f.text("BoundaryExtractor.refname"),
                left: f.text("BoundaryExtractor.lboundary"),
                right: f.text("BoundaryExtractor.rboundary"),
                default: f.text("BoundaryExtractor.default"),
                match_number: f.text("BoundaryExtractor.match_number"),
            }),
            "ResponseAssertion" => Kind::Assertion(f.response_assertion()?),
            "DurationAssertion" => {
                Kind::Assertion(Assertion::Duration { max_ms: f.text("DurationAssertion.duration") })
            }
            "JSONPathAssertion" => Kind::Assertion(Assertion::JsonPath {
                path: f.text("JSON_PATH"),
                expected: f.text("EXPECTED_VALUE"),
                validate: f.bool("JSONVALIDATION", false),
                expect_null: f.bool("EXPECT_NULL", false),
                invert: f.bool("INVERT", false),
                regex: f.bool("ISREGEX", true),
            }),
            _ => {
                self.unsupported(e);
                return None;
            }
        })
    }

    fn unsupported(&mut self, e: &Element) {
        let what = match e.testclass.as_str() {
            c if c.starts_with("JSR223") || c.starts_with("BeanShell") => "scripts cannot run without a JVM",
            c if c.ends_with("Sampler") || c.ends_with("SamplerProxy") => {
                "only HTTP samplers (`HTTPSamplerProxy`) are supported"
            }
            "ConfigTestElement" => "only the \"HTTP Request Defaults\" kind of `ConfigTestElement` is supported",
            _ => "it is not one of the elements suite implements",
        };
        let mut d = Diagnostic::error(
            e.span,
            format!("unsupported JMeter element `{}` (\"{}\"): {what}", e.testclass, e.testname),
        );
        if let Some(help) = crate::config::suggestion(&e.testclass, SUPPORTED) {
            d = d.with_help(help);
        } else {
            d = d.with_help("disable it in the plan (enabled=\"false\") or remove it");
        }
        self.errors.push(d);
    }
}

fn is_listener(e: &Element) -> bool {
    LISTENERS.contains(&e.testclass.as_str())
        || (e.testclass.starts_with("kg.apc.")
            && (e.testclass.contains(".vizualizers.") || e.testclass.contains(".listener.")))
}

/// A `ConfigTestElement` is HTTP Request Defaults when its GUI says so or it holds HTTP fields.
fn is_http_defaults(e: &Element) -> bool {
    e.guiclass.as_deref() == Some("HttpDefaultsGui") || e.props.iter().any(|p| p.name.starts_with("HTTPSampler."))
}

/// Reads the properties of one element (or `elementProp`).
struct Fields<'r, 'a, 'e> {
    r: &'r mut Reader<'a>,
    e: &'e Element,
    props: &'e Props,
}

impl<'a, 'e> Fields<'_, 'a, 'e> {
    fn nested<'s>(&'s mut self, props: &'e Props) -> Fields<'s, 'a, 'e> {
        Fields { r: self.r, e: self.e, props }
    }

    fn error(&mut self, span: Span, message: String) {
        self.r.errors.push(Diagnostic::error(span, message));
    }

    /// A scalar property as text with its template; missing is empty, at the element's tag.
    fn text(&mut self, name: &str) -> Text {
        match self.props.get(name).map(|p| &p.value) {
            Some(PropValue::Scalar { text, text_span, .. }) => self.template(text, *text_span, &format!("`{name}`")),
            Some(_) => {
                let span = self.props.get(name).map_or(self.e.span, |p| p.span);
                self.error(span, format!("property `{name}` must be a single value"));
                self.template("", span, name)
            }
            None => self.template("", self.e.span, name),
        }
    }

    /// A scalar property kept as written, not parsed as a template: a condition, which the
    /// lowering parses as an expression (its `${__jexl3(…)}` is not a function we evaluate).
    fn raw(&mut self, name: &str) -> Text {
        match self.props.get(name).map(|p| &p.value) {
            Some(PropValue::Scalar { text, text_span, .. }) => {
                self.r.checked.insert(text_span.offset);
                Text { value: text.clone(), span: *text_span, template: template::Template::default() }
            }
            _ => self.text(name),
        }
    }

    /// `value` (written at `span`) as a template; `what` names it in errors (`the name`,
    /// `` `HTTPSampler.path` ``).
    fn template(&mut self, value: &str, span: Span, what: &str) -> Text {
        self.r.checked.insert(span.offset);
        let template = match template::parse(value) {
            Ok(t) => t,
            Err(errors) => {
                for e in errors {
                    let at = super::xml::value_span(self.r.sources, span, value, e.at.clone());
                    let message = format!("{}, in {what} of `{}` \"{}\"", e.message, self.e.testclass, self.e.testname);
                    let mut d = Diagnostic::error(at, message);
                    if let Some(help) = e.help {
                        d = d.with_help(help);
                    }
                    self.r.errors.push(d);
                }
                template::Template::default()
            }
        };
        Text { value: value.to_string(), span, template }
    }

    /// Parses the string properties not read as [`Text`] yet, for their errors.
    fn check_rest(&mut self, props: &[Prop]) {
        for p in props {
            match &p.value {
                PropValue::Scalar { kind: ScalarKind::String, text, text_span } => {
                    if !text.is_empty() && !self.r.checked.contains(&text_span.offset) {
                        self.template(text, *text_span, &format!("`{}`", p.name));
                    }
                }
                PropValue::Scalar { .. } => {}
                PropValue::Element(inner) => self.check_rest(&inner.props.0),
                PropValue::Collection(items) => self.check_rest(items),
            }
        }
    }

    /// A boolean (JMeter: `true` in any case is true, anything else false); `default` if missing.
    fn bool(&mut self, name: &str, default: bool) -> bool {
        match self.props.get(name).map(|p| &p.value) {
            Some(PropValue::Scalar { text, .. }) if !text.trim().is_empty() => text.trim().eq_ignore_ascii_case("true"),
            _ => default,
        }
    }

    /// An integer; a non-number is an error (JMeter reads these when loading).
    fn int(&mut self, name: &str, default: i64) -> i64 {
        match self.props.get(name).map(|p| &p.value) {
            Some(PropValue::Scalar { text, text_span, .. }) if !text.trim().is_empty() => {
                text.trim().parse().unwrap_or_else(|_| {
                    self.error(*text_span, format!("property `{name}` must be a whole number, not `{text}`"));
                    default
                })
            }
            _ => default,
        }
    }

    fn element_prop(&self, name: &str) -> Option<&'e ElementProp> {
        match self.props.get(name).map(|p| &p.value) {
            Some(PropValue::Element(e)) => Some(e),
            _ => None,
        }
    }

    fn collection(&self, name: &str) -> &'e [Prop] {
        match self.props.get(name).map(|p| &p.value) {
            Some(PropValue::Collection(items)) => items,
            _ => &[],
        }
    }

    /// The `elementProp`s of a `collectionProp`.
    fn elements(&self, name: &str) -> Vec<&'e ElementProp> {
        self.named_elements(name).into_iter().map(|(_, e)| e).collect()
    }

    fn named_elements(&self, name: &str) -> Vec<(String, &'e ElementProp)> {
        self.collection(name)
            .iter()
            .filter_map(|p| match &p.value {
                PropValue::Element(e) => Some((p.name.clone(), e)),
                _ => None,
            })
            .collect()
    }

    /// The arguments of the `Arguments` held by `elementProp` `name`.
    fn arguments(&mut self, name: &str) -> Vec<Argument> {
        match self.element_prop(name) {
            Some(args) => self.nested(&args.props).argument_list("Arguments.arguments"),
            None => Vec::new(),
        }
    }

    fn argument_list(&mut self, name: &str) -> Vec<Argument> {
        let items = self.elements(name);
        items
            .into_iter()
            .map(|a| {
                let g = &mut self.nested(&a.props);
                let content_type =
                    g.props.get("HTTPArgument.content_type").map(|_| g.text("HTTPArgument.content_type"));
                let value = g.text("Argument.value");
                // JMeter's `HTTPArgument.isUseEquals`: set, or implied by `=` metadata or a value.
                let metadata_equals = matches!(g.props.get("Argument.metadata").map(|p| &p.value),
                    Some(PropValue::Scalar { text, .. }) if text == "=");
                let use_equals = g.bool("HTTPArgument.use_equals", false) || metadata_equals || !value.is_empty();
                Argument {
                    name: g.text("Argument.name"),
                    value,
                    always_encode: g.bool("HTTPArgument.always_encode", false),
                    use_equals,
                    content_type,
                }
            })
            .collect()
    }

    fn http(&mut self) -> Http {
        let files = match self.element_prop("HTTPsampler.Files") {
            Some(files) => {
                let g = &mut self.nested(&files.props);
                g.elements("HTTPFileArgs.files")
                    .into_iter()
                    .map(|file| {
                        let h = &mut g.nested(&file.props);
                        FileArg {
                            path: h.text("File.path"),
                            param: h.text("File.paramname"),
                            mime_type: h.text("File.mimetype"),
                        }
                    })
                    .collect()
            }
            None => Vec::new(),
        };
        Http {
            domain: self.text("HTTPSampler.domain"),
            port: self.text("HTTPSampler.port"),
            protocol: self.text("HTTPSampler.protocol"),
            path: self.text("HTTPSampler.path"),
            method: self.text("HTTPSampler.method"),
            content_encoding: self.text("HTTPSampler.contentEncoding"),
            connect_timeout: self.text("HTTPSampler.connect_timeout"),
            response_timeout: self.text("HTTPSampler.response_timeout"),
            follow_redirects: self.bool("HTTPSampler.follow_redirects", false),
            auto_redirects: self.bool("HTTPSampler.auto_redirects", false),
            keep_alive: self.bool("HTTPSampler.use_keepalive", false),
            multipart: self.bool("HTTPSampler.DO_MULTIPART_POST", false),
            body_raw: self.bool("HTTPSampler.postBodyRaw", false),
            arguments: self.arguments("HTTPsampler.Arguments"),
            files,
            embedded_resources: self.bool("HTTPSampler.image_parser", false),
        }
    }

    fn thread_group(&mut self) -> ThreadGroup {
        let kind = match self.e.testclass.as_str() {
            "SetupThreadGroup" => GroupKind::Setup,
            "PostThreadGroup" => GroupKind::TearDown,
            _ => GroupKind::Normal,
        };
        let (loops, continue_forever) = match self.element_prop("ThreadGroup.main_controller") {
            Some(main) => {
                let g = &mut self.nested(&main.props);
                (g.text("LoopController.loops"), g.bool("LoopController.continue_forever", false))
            }
            None => (self.template("1", self.e.span, "the loop count"), false),
        };
        let on_error = match self.props.get("ThreadGroup.on_sample_error").map(|p| &p.value) {
            None => OnError::Continue,
            Some(PropValue::Scalar { text, text_span, .. }) => match text.as_str() {
                "" | "continue" => OnError::Continue,
                "startnextloop" => OnError::StartNextLoop,
                "stopthread" => OnError::StopThread,
                "stoptest" => OnError::StopTest,
                "stoptestnow" => OnError::StopTestNow,
                other => {
                    self.error(*text_span, format!("unknown `ThreadGroup.on_sample_error` `{other}`: expected `continue`, `startnextloop`, `stopthread`, `stoptest` or `stoptestnow`"));
                    OnError::Continue
                }
            },
            Some(_) => OnError::Continue,
        };
        ThreadGroup {
            kind,
            num_threads: self.text("ThreadGroup.num_threads"),
            ramp_time: self.text("ThreadGroup.ramp_time"),
            loops,
            continue_forever,
            scheduler: self.bool("ThreadGroup.scheduler", false),
            duration: self.text("ThreadGroup.duration"),
            delay: self.text("ThreadGroup.delay"),
            on_error,
            same_user: self.bool("ThreadGroup.same_user_on_next_iteration", true),
            delayed_start: self.bool("ThreadGroup.delayedStart", false),
        }
    }

    fn auth(&mut self) -> Vec<Authorization> {
        let mut out = Vec::new();
        for a in self.elements("AuthManager.auth_list") {
            let g = &mut self.nested(&a.props);
            let mechanism = g.text("Authorization.mechanism");
            if !matches!(mechanism.value.as_str(), "" | "BASIC" | "BASIC_DIGEST") {
                let span = mechanism.span;
                g.error(
                    span,
                    format!(
                        "unsupported authorization `{}` in \"{}\": only `BASIC` is supported",
                        mechanism.value, g.e.testname
                    ),
                );
                continue;
            }
            out.push(Authorization {
                url: g.text("Authorization.url"),
                username: g.text("Authorization.username"),
                password: g.text("Authorization.password"),
            });
        }
        out
    }

    fn test_action(&mut self) -> TestAction {
        let action = match self.int("ActionProcessor.action", 0) {
            0 => Action::Stop,
            1 => Action::Pause,
            2 => Action::StopNow,
            3 => Action::RestartNextLoop,
            4 => Action::StartNextIteration,
            5 => Action::BreakLoop,
            n => {
                let span = self.props.get("ActionProcessor.action").map_or(self.e.span, |p| p.span);
                self.error(span, format!("unknown `ActionProcessor.action` {n} in \"{}\"", self.e.testname));
                Action::Pause
            }
        };
        TestAction {
            action,
            all_threads: self.int("ActionProcessor.target", 0) == 2,
            duration: self.text("ActionProcessor.duration"),
        }
    }

    /// `*.useHeaders` of an extractor: `false` (body), `true` (headers), `request_headers`,
    /// `unescaped`, `as_document`, `URL`, `code`, `message`.
    fn field(&mut self, name: &str) -> Option<Field> {
        let text = self.text(name);
        Some(match text.value.as_str() {
            "" | "false" => Field::Body,
            "true" => Field::Headers,
            "request_headers" => Field::RequestHeaders,
            "unescaped" => Field::BodyUnescaped,
            "as_document" => Field::BodyAsDocument,
            "URL" => Field::Url,
            "code" => Field::Code,
            "message" => Field::Message,
            other => {
                self.error(text.span, format!("unknown `{name}` `{other}` in \"{}\"", self.e.testname));
                return None;
            }
        })
    }

    fn response_assertion(&mut self) -> Option<Assertion> {
        let field_text = self.text("Assertion.test_field");
        let field = match field_text.value.as_str() {
            "" | "Assertion.response_data" => Field::Body,
            "Assertion.response_data_as_document" => Field::BodyAsDocument,
            "Assertion.response_code" => Field::Code,
            "Assertion.response_message" => Field::Message,
            "Assertion.response_headers" => Field::Headers,
            "Assertion.request_headers" => Field::RequestHeaders,
            "Assertion.request_data" => Field::RequestData,
            "Assertion.sample_label" => Field::Label,
            "Assertion.url" => Field::Url,
            other => {
                self.error(
                    field_text.span,
                    format!("unknown `Assertion.test_field` `{other}` in \"{}\"", self.e.testname),
                );
                return None;
            }
        };
        // JMeter tests the bits in this order; none of them (a missing property) is "matches".
        let bits = self.int("Assertion.test_type", 0);
        let how = if bits & 2 != 0 {
            Match::Contains
        } else if bits & 8 != 0 {
            Match::Equals
        } else if bits & 16 != 0 {
            Match::Substring
        } else {
            Match::Matches
        };
        let items = self.collection("Asserion.test_strings");
        let patterns = items
            .iter()
            .filter_map(|p| match &p.value {
                PropValue::Scalar { text, text_span, .. } => Some((text.clone(), *text_span)),
                _ => None,
            })
            .collect::<Vec<_>>()
            .into_iter()
            .map(|(text, span)| self.template(&text, span, "a pattern"))
            .collect();
        Some(Assertion::Response {
            field,
            how,
            not: bits & 4 != 0,
            any: bits & 32 != 0,
            patterns,
            assume_success: self.bool("Assertion.assume_success", false),
            message: self.text("Assertion.custom_message"),
        })
    }
}
